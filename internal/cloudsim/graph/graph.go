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
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/tenant"
)

// Path is where cloudsim serves Graph; GRAPH_URL is cloudsim's URL and
// this path, with no version, as https://graph.microsoft.com is.
const Path = tenant.LocalGraphPath

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
	// ReadAfterCreateMisses starts Graph with its replication lag on
	// (see Server.SetReadAfterCreateMisses).
	ReadAfterCreateMisses bool
}

// Server serves Graph over a live tenant.
type Server struct {
	live   *tenant.Live
	verify func(string) ([]byte, error)
	log    *slog.Logger
	count  func(string)
	lag    replicaLag
}

// New returns a Graph over o.Live.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Count == nil {
		o.Count = func(string) {}
	}
	s := &Server{live: o.Live, verify: o.Verify, log: o.Logger, count: o.Count}
	s.SetReadAfterCreateMisses(o.ReadAfterCreateMisses)
	return s
}

// Register adds Graph's two versions to mux, and the switch of its
// replication lag, FaultPath.
func (s *Server) Register(mux *http.ServeMux) {
	mux.Handle(Path+"/v1.0/", s)
	mux.Handle(Path+"/beta/", s)
	mux.HandleFunc("POST "+FaultPath, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("on") {
		case "true":
			s.SetReadAfterCreateMisses(true)
		case "false":
			s.SetReadAfterCreateMisses(false)
		default:
			http.Error(w, "on=true or on=false", http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
}

// FaultPath switches Graph's replication lag: POST ?on=true or ?on=false.
const FaultPath = "/_cloudsim/faults/graph-read-after-create"

// How long an object created through Graph stays unknown to a replica
// that has not seen it, at most (the first request naming it ends it).
const lagWindow = time.Minute

// replicaLag is Microsoft Entra's eventual consistency as Graph's clients
// meet it: "A successful write to Microsoft Entra does not guarantee that
// an immediate read will reflect that change ... it is normal for ... A
// newly created object to return a 'Not Found'" ("Designing for Eventual
// Consistency for Microsoft Entra", Microsoft Entra identity blog,
// 2026-03-24, devblogs.microsoft.com/identity/designing-for-eventual-
// consistency-for-microsoft-entra, read 2026-12-06). When on, the first
// request that names an object Graph created (by id or appId, in its
// path) within lagWindow answers 404 Request_ResourceNotFound, and a
// service principal for an application no request has named yet 400
// NoBackingApplicationObject; the next request finds it. The token
// endpoint's lag is the tenant's replication delay, apart.
type replicaLag struct {
	mu     sync.Mutex
	on     bool
	unseen map[string]*lagEntry // "app:<id or appId>", "sp:<id or appId>"
}

// lagEntry is one object's names; naming it by any of them ends the lag
// of all.
type lagEntry struct {
	keys    []string
	created time.Time
}

// SetReadAfterCreateMisses turns the replication lag on or off; off
// forgets what was unseen.
func (s *Server) SetReadAfterCreateMisses(on bool) {
	s.lag.mu.Lock()
	defer s.lag.mu.Unlock()
	s.lag.on, s.lag.unseen = on, map[string]*lagEntry{}
}

// created records an object Graph just created under its names.
func (s *Server) created(now time.Time, keys ...string) {
	s.lag.mu.Lock()
	defer s.lag.mu.Unlock()
	if !s.lag.on {
		return
	}
	e := &lagEntry{keys: keys, created: now}
	for _, k := range keys {
		s.lag.unseen[k] = e
	}
}

// missed reports whether this request is the first to name the object
// since it was created (and so misses it), ending its lag.
func (s *Server) missed(now time.Time, key string) bool {
	s.lag.mu.Lock()
	defer s.lag.mu.Unlock()
	e := s.lag.unseen[strings.ToLower(key)]
	if e == nil {
		return false
	}
	for _, k := range e.keys {
		delete(s.lag.unseen, k)
	}
	if now.Sub(e.created) > lagWindow {
		return false
	}
	s.count("graph.replica_miss")
	return true
}

// apiError is a Graph error: its status, code and message.
type apiError struct {
	status        int
	code, message string
	// details are Graph's error details, each a code (as
	// NoBackingApplicationObject) and a target.
	details [][2]string
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

// Graph's error codes (Microsoft Graph error responses; the Agent ID
// error codes page).
func denied() *apiError {
	return &apiError{status: http.StatusForbidden, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation."}
}

func unauthenticated(message string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: "InvalidAuthenticationToken", message: message}
}

func notFound(id string) *apiError {
	return &apiError{status: http.StatusNotFound, code: "Request_ResourceNotFound", message: fmt.Sprintf("Resource '%s' does not exist or one of its queried reference-property objects are not present.", id)}

}

func badRequest(format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, code: "Request_BadRequest", message: fmt.Sprintf(format, args...)}
}

// call is one request: who makes it, what it names, and the directory
// snapshot it reads.
type call struct {
	srv     *Server
	route   string
	caller  *caller
	version string
	path    []string // the route's captures
	query   url.Values
	// self is the request's URL without its query, as the client reached
	// it: what @odata.nextLink is built from.
	self string
	body []byte
	// bodyErr is why the body could not be read. It is answered only when
	// an operation reads the body, which it does after checking the
	// caller's permission: authorization comes first.
	bodyErr *apiError
	dir     *tenant.Directory
	now     time.Time
	// bodyTypes are the types the body's @odata.type may name: the
	// route's, or what an update found the object to be.
	bodyTypes []string
}

// decode reads the JSON body into v, after checking its @odata.type
// annotations.
func (c *call) decode(v any) *apiError {
	if c.bodyErr != nil {
		return c.bodyErr
	}
	if len(c.body) == 0 {
		return badRequest("The request body is empty; this operation needs a JSON object.")
	}
	if err := checkODataType(c.body, c.bodyTypes...); err != nil {
		return err
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
		s.fail(w, r, requestID, &apiError{status: http.StatusBadRequest, code: "BadRequest", message: "Invalid version: " + version})
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
		s.fail(w, r, requestID, &apiError{status: http.StatusBadRequest, code: "BadRequest", message: fmt.Sprintf("Resource not found for the segment '%s'.", segment)})
		return
	}
	cl := &call{srv: s, route: rt.name, caller: c, version: version, path: captures, query: r.URL.Query(), dir: s.live.Load(), now: s.live.Now(),
		self: "https://" + r.Host + r.URL.Path, bodyTypes: rt.bodyTypes}
	cl.body, cl.bodyErr = readBody(w, r)
	if strings.Contains(strings.ToLower(r.Header.Get("Content-Encoding")), "gzip") && cl.bodyErr == nil {
		s.count("graph.request_gzip")
	}
	status, result, aerr := rt.run(s, cl)
	if aerr != nil {
		s.fail(w, r, requestID, aerr)
		return
	}
	s.count("graph." + rt.name)
	s.log.Info("graph", "operation", rt.name, "caller", c.name())
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
	body := map[string]any{
		"code": e.code, "message": e.message,
		"innerError": map[string]string{"date": time.Now().UTC().Format("2006-01-02T15:04:05"), "request-id": requestID, "client-request-id": clientRequestID},
	}
	if len(e.details) > 0 {
		var details []map[string]string
		for _, d := range e.details {
			details = append(details, map[string]string{"code": d[0], "target": d[1], "message": e.message})
		}
		body["details"] = details
	}
	json.NewEncoder(w).Encode(map[string]any{"error": body})
}

func newGUID() string {
	b := make([]byte, 16)
	rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}
