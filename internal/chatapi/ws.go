package chatapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"

	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/httpserver"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// wsWriteTimeout bounds one write to a websocket.
const wsWriteTimeout = 10 * time.Second

// WebSocketLimits bound open websockets (WS_MAX_CONNECTIONS,
// WS_MAX_PER_CLIENT): a client that opens sockets and sends nothing would
// otherwise hold them all.
type WebSocketLimits struct {
	Total, PerClient int
	// Idle closes a socket that has not sent a valid turn for this long
	// (WS_IDLE_TIMEOUT).
	Idle time.Duration
}

// WebSocketDrain is how long a shutdown lets websocket turns in flight
// finish before their sockets close: the HTTP server's own drain, which
// runs beside it.
const WebSocketDrain = httpserver.ShutdownGrace

// sockets tracks open websockets, to bound them and so a shutdown can
// drain them: http.Server.Shutdown does not touch hijacked connections.
// Draining closes idle sockets at once, lets turns in flight finish and
// sends their final message, then closes their sockets with 1001; a turn
// that arrives while draining is not started, and its socket closes
// (the chat UI sends it again over POST, which the ingress sends to a
// replica that is not stopping).
type sockets struct {
	mu       sync.Mutex
	conns    map[*websocket.Conn]*socketState
	perPeer  map[string]int
	reserved int // slots granted before the upgrade finished
	draining bool
	drained  time.Time     // when draining began
	turns    int           // turns in flight, all sockets
	idle     chan struct{} // closed when draining and no turn is in flight
}

type socketState struct {
	client string // the client it counts against
	turns  int    // 0 or 1, briefly 2 as one turn's final message goes out and the next begins
}

// reserve takes a slot for client, or says why there is none.
func (s *sockets) reserve(client string, limits WebSocketLimits) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.perPeer == nil {
		s.perPeer = map[string]int{}
	}
	switch {
	case len(s.conns)+s.reserved >= limits.Total:
		return fmt.Sprintf("llm-agent holds its maximum of %d websockets (WS_MAX_CONNECTIONS)", limits.Total)
	case s.perPeer[client] >= limits.PerClient:
		return fmt.Sprintf("this client holds its maximum of %d websockets (WS_MAX_PER_CLIENT)", limits.PerClient)
	}
	s.reserved++
	s.perPeer[client]++
	return ""
}

// add turns a reservation into an open socket; release ends either.
func (s *sockets) add(c *websocket.Conn, client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*websocket.Conn]*socketState{}
	}
	s.reserved--
	s.conns[c] = &socketState{client: client}
}

// startTurn counts a turn on c, unless the server is draining.
func (s *sockets) startTurn(c *websocket.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.conns[c]
	if s.draining || !ok {
		return false
	}
	st.turns++
	s.turns++
	return true
}

// endTurn ends a turn on c; closeNow says the server is draining and c
// has no other turn: its socket should close.
func (s *sockets) endTurn(c *websocket.Conn) (closeNow bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.turns--
	st, ok := s.conns[c]
	if ok {
		st.turns--
	}
	if !s.draining {
		return false
	}
	if s.turns == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	return ok && st.turns == 0
}

// drain starts draining (once): idle sockets close now; the others when
// their turn ends.
func (s *sockets) drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.draining {
		return
	}
	s.draining, s.drained = true, time.Now()
	for c, st := range s.conns {
		if st.turns == 0 {
			goingAway(c)
		}
	}
	if s.turns > 0 {
		s.idle = make(chan struct{})
	}
}

// wait drains, then waits until the turns in flight end or grace has
// passed since draining began, and closes whatever is still open.
func (s *sockets) wait(grace time.Duration) {
	s.drain()
	s.mu.Lock()
	idle, left := s.idle, time.Until(s.drained.Add(grace))
	s.mu.Unlock()
	if idle != nil && left > 0 {
		timer := time.NewTimer(left)
		select {
		case <-idle:
		case <-timer.C:
		}
		timer.Stop()
	}
	s.closeAll()
}

// closeAll sends every open websocket a going-away close frame.
func (s *sockets) closeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		goingAway(c)
	}
}

// goingAway closes c with 1001. WriteControl and Close may run beside the
// socket's other writer.
func goingAway(c *websocket.Conn) {
	_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
	c.Close()
}

func (s *sockets) release(c *websocket.Conn, client string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c == nil {
		s.reserved--
	} else {
		delete(s.conns, c)
	}
	if s.perPeer[client]--; s.perPeer[client] <= 0 {
		delete(s.perPeer, client)
	}
}

// clientOf is who a socket counts against: the peer address, or, when
// proxy headers are trusted (behind an ingress every peer is the ingress),
// the address the ingress saw, which it appends last to X-Forwarded-For.
// The entries before it are the client's to write.
func (s *Server) clientOf(r *http.Request) string {
	if s.cfg.TrustProxyHeaders {
		if ip := forwarded(r, "X-Forwarded-For"); ip != "" {
			return ip
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// CloseSockets sends every open websocket a going-away close frame at
// once, turns in flight or not (Serve drains them first: DrainSockets).
func (s *Server) CloseSockets() { s.ws.closeAll() }

// DrainSockets lets the websocket turns in flight finish, up to grace,
// closing each socket with 1001 once its turn has sent its final message
// (and idle sockets at once), then closes the rest. Serve calls it as the
// server shuts down.
func (s *Server) DrainSockets(grace time.Duration) { s.ws.wait(grace) }

// wsMessage is what the server sends: a trace event, a piece of the model's
// text, the final answer, or an error.
type wsMessage struct {
	Type  string       `json:"type"` // trace, text, final, error
	Event *trace.Event `json:"event,omitempty"`
	Delta string       `json:"delta,omitempty"`
	*chatResponse
	Status int `json:"status,omitempty"`
}

// chatWS is GET /api/chat/ws: the same turn as POST /api/chat, with the
// user token in the message (browsers cannot set headers on a websocket),
// streaming trace events and model text as they happen. One turn at a time
// per socket.
func (s *Server) chatWS(w http.ResponseWriter, r *http.Request) {
	client := s.clientOf(r)
	if why := s.ws.reserve(client, s.cfg.WebSocketLimits); why != "" {
		s.log.Info("refused a websocket", "reason", why)
		writeJSON(w, http.StatusTooManyRequests, map[string]string{"error": "too_many_websockets", "message": why})
		return
	}
	up := websocket.Upgrader{CheckOrigin: s.originAllowed, HandshakeTimeout: 10 * time.Second}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		s.ws.release(nil, client)
		return // the upgrader has answered with the error
	}
	s.ws.add(conn, client)
	defer func() {
		s.ws.release(conn, client)
		conn.Close()
	}()
	conn.SetReadLimit(MaxBodyBytes)
	// The idle deadline is re-armed by a valid turn only: any message
	// would otherwise keep a socket forever.
	rearm := func() { _ = conn.SetReadDeadline(time.Now().Add(s.cfg.WebSocketLimits.Idle)) }
	rearm()
	var writeMu sync.Mutex
	send := func(m wsMessage) {
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.SetWriteDeadline(time.Now().Add(wsWriteTimeout))
		_ = conn.WriteJSON(m)
	}
	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var busy sync.Mutex
	closeWith := func(code int, text string) {
		writeMu.Lock()
		defer writeMu.Unlock()
		_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(code, text), time.Now().Add(time.Second))
	}
	for {
		kind, data, err := conn.ReadMessage()
		if err != nil {
			var closeErr *websocket.CloseError
			if !errors.As(err, &closeErr) && !errors.Is(err, websocket.ErrReadLimit) {
				s.log.Debug("websocket closed", "reason", err)
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				closeWith(websocket.CloseMessageTooBig, fmt.Sprintf("messages are limited to %d KiB", MaxBodyBytes>>10))
			}
			return
		}
		switch {
		case kind != websocket.TextMessage:
			closeWith(websocket.CloseUnsupportedData, "send turns as text frames of JSON")
			return
		case !utf8.Valid(data):
			// RFC 6455 section 8.1: a text frame that is not UTF-8 fails
			// the connection with 1007.
			closeWith(websocket.CloseInvalidFramePayloadData, "text frames must be UTF-8")
			return
		}
		if !busy.TryLock() {
			send(wsMessage{Type: "error", Status: http.StatusConflict, chatResponse: &chatResponse{Error: "a turn is already running on this socket; wait for its final message"}})
			continue
		}
		if !s.ws.startTurn(conn) {
			// Shutting down: the turn is not started, so the client may
			// send it again elsewhere.
			busy.Unlock()
			closeWith(websocket.CloseGoingAway, "server shutting down")
			return
		}
		go func() {
			last := s.wsTurn(ctx, data, s.consentRedirect(r), send, rearm)
			busy.Unlock() // before the final message, so the client may send the next at once
			send(last)
			if s.ws.endTurn(conn) {
				goingAway(conn)
			}
		}()
	}
}

// wsTurn runs one turn, streaming through send, and returns the final (or
// error) message.
func (s *Server) wsTurn(ctx context.Context, data []byte, consentRedirect string, send func(wsMessage), valid func()) wsMessage {
	var req chatRequest
	decodeErr := decodeStrict(data, &req, chatFields)
	// Browsers cannot set headers on a websocket: traceparent comes in
	// each turn message.
	ctx, span, turnID := s.beginTurn(ctx, req.Traceparent, "")
	defer span.End()
	rec := trace.New(func(e trace.Event) { send(wsMessage{Type: "trace", Event: &e}) })
	fail := func(e *agent.Error, mode, flow string) wsMessage {
		s.log.InfoContext(ctx, "turn failed", "status", e.Status, "error", e.Message)
		events := rec.Events()
		return wsMessage{Type: "error", Status: e.Status, chatResponse: &chatResponse{Response: e.Message, Error: e.Message, AgentType: mode,
			TokenFlow: flow, CorrelationID: turnID, Trace: events, Debug: events}}
	}
	if decodeErr != nil {
		return fail(&agent.Error{Status: http.StatusBadRequest, Message: "the message is not a valid turn: " + decodeErr.Error()}, "", "")
	}
	p, e := s.parse(ctx, req, "")
	if e != nil {
		return fail(e, string(p.turn.Mode), string(p.turn.Flow))
	}
	valid()
	if s.cfg.InvocationURL != "" {
		return s.wsRelay(ctx, p, req.UserToken, turnID, consentRedirect, send)
	}
	p.turn.CorrelationID = turnID
	p.turn.ConsentRedirectURI = consentRedirect
	p.turn.Stream = func(delta string) { send(wsMessage{Type: "text", Delta: delta}) }
	answer, consent, err := s.runTurn(ctx, p, rec)
	if err != nil {
		return fail(err, string(p.turn.Mode), string(p.turn.Flow))
	}
	events := rec.Events()
	return wsMessage{Type: "final", chatResponse: &chatResponse{Response: answer, Success: true, AgentType: string(p.turn.Mode),
		TokenFlow: string(p.turn.Flow), CorrelationID: turnID, ConsentRequired: consent, Trace: events, Debug: events}}
}

// wsRelay runs a websocket turn on the agent on AgentCore Runtime: its
// trace events and the model's text stream through as the runtime sends
// them.
func (s *Server) wsRelay(ctx context.Context, p parsed, token, turnID, consentRedirect string, send func(wsMessage)) wsMessage {
	tr := &relayTrace{start: time.Now(), live: func(e trace.Event) { send(wsMessage{Type: "trace", Event: &e}) }}
	out, ae := s.relayTurn(ctx, p, token, turnID, consentRedirect, tr, func(delta string) { send(wsMessage{Type: "text", Delta: delta}) })
	events := tr.Events()
	if ae != nil {
		s.log.InfoContext(ctx, "turn failed", "status", ae.Status, "error", ae.Message)
		return wsMessage{Type: "error", Status: ae.Status, chatResponse: &chatResponse{Response: ae.Message, Error: ae.Message, AgentType: string(p.turn.Mode),
			TokenFlow: string(p.turn.Flow), CorrelationID: turnID, Trace: events, Debug: events, Via: runtimeName}}
	}
	return wsMessage{Type: "final", chatResponse: &chatResponse{Response: out.answer, Success: true, AgentType: string(p.turn.Mode),
		TokenFlow: string(p.turn.Flow), CorrelationID: turnID, ConsentRequired: out.consent, Trace: events, Debug: events, Via: runtimeName}}
}
