package chatapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crosscloud-agentid/agentid/internal/agent"
	"github.com/crosscloud-agentid/agentid/internal/trace"
)

// WebSocket limits.
const (
	wsIdleTimeout  = 5 * time.Minute
	wsWriteTimeout = 10 * time.Second
)

// sockets tracks open websockets so a shutdown can close them cleanly:
// http.Server.Shutdown does not touch hijacked connections.
type sockets struct {
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
}

func (s *sockets) add(c *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conns == nil {
		s.conns = map[*websocket.Conn]struct{}{}
	}
	s.conns[c] = struct{}{}
}

func (s *sockets) remove(c *websocket.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.conns, c)
}

// CloseSockets sends every open websocket a going-away close frame; wire
// it to http.Server.RegisterOnShutdown.
func (s *Server) CloseSockets() {
	s.ws.mu.Lock()
	defer s.ws.mu.Unlock()
	for c := range s.ws.conns {
		_ = c.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, "server shutting down"), time.Now().Add(time.Second))
		c.Close()
	}
}

// sameOrigin accepts a browser's Origin only when it is this page's own
// (the redirect URI's origin); clients that send none are not browsers.
func (s *Server) sameOrigin(r *http.Request) bool {
	origin := r.Header.Get("Origin")
	if origin == "" {
		return true
	}
	u, err := url.Parse(origin)
	return err == nil && u.Scheme+"://"+u.Host == s.redirectURI(r)
}

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
	up := websocket.Upgrader{CheckOrigin: s.sameOrigin, HandshakeTimeout: 10 * time.Second}
	conn, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // the upgrader has answered with the error
	}
	s.ws.add(conn)
	defer func() {
		s.ws.remove(conn)
		conn.Close()
	}()
	conn.SetReadLimit(MaxBodyBytes)
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
	for {
		_ = conn.SetReadDeadline(time.Now().Add(wsIdleTimeout))
		_, data, err := conn.ReadMessage()
		if err != nil {
			var closeErr *websocket.CloseError
			if !errors.As(err, &closeErr) && !errors.Is(err, websocket.ErrReadLimit) {
				s.log.Debug("websocket closed", "reason", err)
			}
			if errors.Is(err, websocket.ErrReadLimit) {
				writeMu.Lock()
				_ = conn.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseMessageTooBig, fmt.Sprintf("messages are limited to %d KiB", MaxBodyBytes>>10)), time.Now().Add(time.Second))
				writeMu.Unlock()
			}
			return
		}
		if !busy.TryLock() {
			send(wsMessage{Type: "error", Status: http.StatusConflict, chatResponse: &chatResponse{Error: "a turn is already running on this socket; wait for its final message"}})
			continue
		}
		go func() {
			last := s.wsTurn(ctx, data, s.consentRedirect(r), send)
			busy.Unlock() // before the final message, so the client may send the next at once
			send(last)
		}()
	}
}

// wsTurn runs one turn, streaming through send, and returns the final (or
// error) message.
func (s *Server) wsTurn(ctx context.Context, data []byte, consentRedirect string, send func(wsMessage)) wsMessage {
	correlation := newCorrelationID()
	rec := trace.New(func(e trace.Event) { send(wsMessage{Type: "trace", Event: &e}) })
	fail := func(e *agent.Error, mode, flow string) wsMessage {
		s.log.Info("turn failed", "correlation_id", correlation, "status", e.Status, "error", e.Message)
		events := rec.Events()
		return wsMessage{Type: "error", Status: e.Status, chatResponse: &chatResponse{Response: e.Message, Error: e.Message, AgentType: mode,
			TokenFlow: flow, CorrelationID: correlation, Trace: events, Debug: events}}
	}
	var req chatRequest
	if err := json.Unmarshal(data, &req); err != nil {
		return fail(&agent.Error{Status: http.StatusBadRequest, Message: "the message is not JSON: " + err.Error()}, "", "")
	}
	p, e := s.parse(ctx, req, "")
	if e != nil {
		return fail(e, string(p.turn.Mode), string(p.turn.Flow))
	}
	p.turn.CorrelationID = correlation
	p.turn.ConsentRedirectURI = consentRedirect
	p.turn.Stream = func(delta string) { send(wsMessage{Type: "text", Delta: delta}) }
	answer, consent, err := s.runTurn(ctx, p, rec)
	if err != nil {
		return fail(err, string(p.turn.Mode), string(p.turn.Flow))
	}
	events := rec.Events()
	return wsMessage{Type: "final", chatResponse: &chatResponse{Response: answer, Success: true, AgentType: string(p.turn.Mode),
		TokenFlow: string(p.turn.Flow), CorrelationID: correlation, ConsentRequired: consent, Trace: events, Debug: events}}
}
