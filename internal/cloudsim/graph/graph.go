// Package graph is cloudsim's Microsoft Graph: the Agent ID operations and
// the application, service principal, user and grant operations
// scripts/entra-setup.sh calls, under /graph/v1.0 and /graph/beta. It
// reads and writes the live tenant the token endpoint, the consent pages
// and the sidecar use, so an agent identity created here gets T1 and TR.
//
// Each operation checks what Graph documents for it (the permissions
// table in permissions.go cites the pages), before it reads its body or
// tells whether the object exists: a token for Graph, a delegated
// permission from the operation's table, per property where the docs
// split them, and the Agent ID known issue that a token carrying
// Directory.AccessAsUser.All or Directory.ReadWrite.All fails every Agent
// ID write; then, on the object, the signed-in user's ownership or a
// directory role where the docs require one. Microsoft's first-party
// applications are not the tenant's: Graph neither lists nor serves them
// as applications, only their service principals. Errors have Graph's
// shape. What it does not serve it refuses with Graph's BadRequest, never
// silently.
package graph

import (
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Path is where cloudsim serves Graph; GRAPH_URL is cloudsim's URL and
// this path, with no version, as https://graph.microsoft.com is.
const Path = "/graph"

// The Microsoft Graph resource, first-party in every tenant: a Graph
// token's aud is its appId or its identifier URI.
const (
	AppID    = tenant.GraphAppID
	Resource = tenant.GraphResource
)

// Options configure a Server.
type Options struct {
	Live *tenant.Live
	// Verify checks a token's signature with Entra's keys and returns its
	// payload.
	Verify func(token string) ([]byte, error)
	Logger *slog.Logger
	// Count records operations and refusals for cloudsim's stats.
	Count func(string)
}

// Server serves Graph over a live tenant.
type Server struct {
	live   *tenant.Live
	verify func(string) ([]byte, error)
	log    *slog.Logger
	count  func(string)
}

// New returns a Graph over o.Live.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	return &Server{live: o.Live, verify: o.Verify, log: o.Logger, count: o.Count}
}

// Register adds Graph's two versions to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(Path+"/v1.0/", s)
	mux.Handle(Path+"/beta/", s)
}

// apiError is a Graph error: its status, code and message.
type apiError struct {
	status        int
	code, message string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// Graph's error codes (Microsoft Graph error responses; the Agent ID
// error codes page).
func denied() *apiError {
	return &apiError{http.StatusForbidden, "Authorization_RequestDenied", "Insufficient privileges to complete the operation."}
}

func unauthenticated(message string) *apiError {
	return &apiError{http.StatusUnauthorized, "InvalidAuthenticationToken", message}
}

func notFound(id string) *apiError {
	return &apiError{http.StatusNotFound, "Request_ResourceNotFound",
		fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)}
}

func badRequest(format string, args ...any) *apiError {
	return &apiError{http.StatusBadRequest, "Request_BadRequest", fmt.Sprintf(format, args...)}
}

// call is one request: who makes it, what it names, and the directory
// snapshot it reads.
type call struct {
	route   string
	caller  *caller
	version string
	path    []string // the route's captures
	query   url.Values
	body    []byte
	// bodyErr is why the body could not be read. It is answered only when
	// an operation reads the body, which it does after checking the
	// caller's permission: authorization comes first.
	bodyErr *apiError
	dir     *tenant.Directory
	now     time.Time
}

// decode reads the JSON body into v.
func (c *call) decode(v any) *apiError {
	if c.bodyErr != nil {
		return c.bodyErr
	}
	if len(c.body) == 0 {
		return badRequest("The request body is empty; this operation needs a JSON object.")
	}
	if err := json.Unmarshal(c.body, v); err != nil {
		return badRequest("Unable to read JSON request payload: %v", err)
	}
	return nil
}

const maxBody = 1 << 20

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newGUID()
	rest, _ := strings.CutPrefix(r.URL.Path, Path+"/")
	version, rest, _ := strings.Cut(rest, "/")
	if version != "v1.0" && version != "beta" {
		s.fail(w, r, requestID, &apiError{http.StatusBadRequest, "BadRequest", "Invalid version: " + version})
		return
	}
	c, aerr := s.authenticate(r)
	if aerr != nil {
		s.fail(w, r, requestID, aerr)
		return
	}
	rt, captures := match(r.Method, rest)
	if rt == nil {
		segment, _, _ := strings.Cut(rest, "/")
		s.fail(w, r, requestID, &apiError{http.StatusBadRequest, "BadRequest", fmt.Sprintf("Resource not found for the segment '%s'.", segment)})
		return
	}
	cl := &call{route: rt.name, caller: c, version: version, path: captures, query: r.URL.Query(), dir: s.live.Load(), now: s.live.Now()}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		cl.bodyErr = badRequest("The request body is larger than cloudsim reads (1 MiB) or unreadable.")
	}
	cl.body = body
	status, result, aerr := rt.run(s, cl)
	if aerr != nil {
		s.fail(w, r, requestID, aerr)
		return
	}
	s.count("graph." + rt.name)
	s.log.Info("graph", "operation", rt.name, "user", c.user.UPN)
	w.Header().Set("request-id", requestID)
	if result == nil {
		w.WriteHeader(status)
		return
	}
	if m, ok := result.(map[string]any); ok {
		result = selectFields(m, r.URL.Query().Get("$select"))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(result)
}

// selectFields keeps what $select names, as Graph returns only those
// (and the @odata annotations), of an entity or of each in a collection.
func selectFields(m map[string]any, sel string) map[string]any {
	if sel == "" {
		return m
	}
	if items, ok := m["value"].([]map[string]any); ok {
		for i, item := range items {
			items[i] = selectFields(item, sel)
		}
		return m
	}
	keep := strings.Split(sel, ",")
	out := map[string]any{}
	selected := false
	for k, v := range m {
		if strings.HasPrefix(k, "@odata.") || slices.Contains(keep, k) {
			out[k] = v
			selected = selected || !strings.HasPrefix(k, "@odata.")
		}
	}
	if !selected && m["id"] != nil {
		// An object the caller may not read has none of the selected
		// properties: Graph returns it with its id and @odata.type.
		out["id"] = m["id"]
	}
	return out
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, requestID string, e *apiError) {
	s.count("graph.error." + e.code)
	s.log.Info("graph refused", "method", r.Method, "path", r.URL.Path, "code", e.code, "message", e.message)
	clientRequestID := r.Header.Get("client-request-id")
	if clientRequestID == "" {
		clientRequestID = requestID
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("request-id", requestID)
	w.WriteHeader(e.status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{
		"code": e.code, "message": e.message,
		"innerError": map[string]string{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": requestID, "client-request-id": clientRequestID},
	}})
}

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
