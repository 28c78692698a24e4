package entra

import (
	"crypto/subtle"
	"net/http"
	"strconv"
	"strings"
)

// ManagedIdentityAPIVersion is the App Service / Container Apps protocol
// version MSAL's AppService source speaks.
const ManagedIdentityAPIVersion = "2019-08-01"

// ManagedIdentityHandler serves the App Service / Container Apps managed
// identity endpoint (IDENTITY_ENDPOINT) on its own plain-HTTP loopback
// listener, as the platforms do. identityHeader is the IDENTITY_HEADER value
// every request must carry in X-IDENTITY-HEADER.
func (s *Server) ManagedIdentityHandler(identityHeader string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/msi/token", func(w http.ResponseWriter, r *http.Request) {
		s.stats.Add("msi.token")
		if r.Method != http.MethodGet {
			w.Header().Set("Allow", "GET")
			msiError(w, http.StatusMethodNotAllowed, "The managed identity endpoint only accepts GET.")
			return
		}
		got := r.Header.Get("X-IDENTITY-HEADER")
		if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(identityHeader)) != 1 {
			msiError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or does not match IDENTITY_HEADER.")
			return
		}
		q := r.URL.Query()
		if v := q.Get("api-version"); v != ManagedIdentityAPIVersion {
			msiError(w, http.StatusBadRequest, "api-version '"+v+"' is not supported; use "+ManagedIdentityAPIVersion+".")
			return
		}
		res := strings.TrimSuffix(q.Get("resource"), "/.default")
		if res == "" {
			msiError(w, http.StatusBadRequest, "The resource parameter is required.")
			return
		}
		mi := s.dir().ManagedIdentity
		selectors := 0
		for key, want := range map[string]string{"client_id": mi.ClientID, "principal_id": mi.ObjectID, "object_id": mi.ObjectID, "mi_res_id": mi.ResourceID} {
			if v := q.Get(key); v != "" {
				selectors++
				if !strings.EqualFold(v, want) {
					msiError(w, http.StatusBadRequest, "No User Assigned or Delegated Managed Identity found for specified ClientId/ResourceId/PrincipalId.")
					return
				}
			}
		}
		if selectors > 1 {
			msiError(w, http.StatusBadRequest, "Only one of client_id, principal_id, object_id and mi_res_id may be given.")
			return
		}
		tid := s.dir().Tenant.ID
		target, aerr := s.resolveResource(tid, res)
		if aerr != nil {
			msiError(w, http.StatusBadRequest, aerr.Error())
			return
		}
		now := s.now()
		sj := subject{clientID: mi.ClientID, clientAcr: "2", objectID: mi.ObjectID, managedID: &mi, tokenLife: s.tokenLifetime()}
		if target.app != nil {
			_, sj.roles = s.dir().Grant(mi.ClientID, target.appID)
		}
		at, err := s.keys.Sign(s.accessTokenClaims(tid, target, sj, now), target.version == 1)
		if err != nil {
			msiError(w, http.StatusInternalServerError, "could not sign the token")
			return
		}
		s.log.Info("managed identity token issued", "resource", res, "client_id", mi.ClientID)
		writeJSON(w, http.StatusOK, map[string]string{
			"access_token": at,
			"expires_on":   strconv.FormatInt(now.Add(sj.tokenLife).Unix(), 10),
			"resource":     res,
			"token_type":   "Bearer",
			"client_id":    mi.ClientID,
		})
	})
	return mux
}

func msiError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg})
}
