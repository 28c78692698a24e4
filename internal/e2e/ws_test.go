package e2e_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
)

type wsMsg struct {
	Type   string         `json:"type"`
	Delta  string         `json:"delta"`
	Event  map[string]any `json:"event"`
	Status int            `json:"status"`
	Error  string         `json:"error"`
	Resp   string         `json:"response"`
	Trace  []any          `json:"trace"`
	// CorrelationID names the turn.
	CorrelationID string `json:"correlation_id"`
}

func dial(t *testing.T, url, origin string) (*websocket.Conn, *http.Response, error) {
	h := http.Header{}
	if origin != "" {
		h.Set("Origin", origin)
	}
	return websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/api/chat/ws", h)
}

// readTurn reads until the final or error message.
func readTurn(t *testing.T, c *websocket.Conn) (msgs []wsMsg, last wsMsg) {
	t.Helper()
	c.SetReadDeadline(time.Now().Add(20 * time.Second))
	for {
		var m wsMsg
		if err := c.ReadJSON(&m); err != nil {
			t.Fatalf("read: %v", err)
		}
		msgs = append(msgs, m)
		if m.Type == "final" || m.Type == "error" {
			return msgs, m
		}
	}
}

func TestWebSocketTurns(t *testing.T) {
	s := e2e.Start(t)
	url, api := s.AgentServer(nil)
	tc := cloudsimtest.NewTokens(s.Sim).User(t)
	c, _, err := dial(t, url, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for _, flow := range []string{"autonomous", "obo", "agent_user"} {
		c.WriteJSON(map[string]string{"message": "What's the weather in Nairobi?", "llm_mode": "bedrock", "token_flow": flow, "user_token": tc})
		msgs, last := readTurn(t, c)
		var text string
		traces := 0
		for _, m := range msgs {
			switch m.Type {
			case "text":
				text += m.Delta
			case "trace":
				traces++
			}
		}
		if last.Type != "final" || !strings.Contains(last.Resp, "Nairobi") || traces < 4 || !strings.Contains(text, "Nairobi") || len(last.Trace) != traces {
			t.Errorf("%s: final %+v, %d trace events streamed, text %q", flow, last, traces, text)
		}
	}
	// One turn at a time: a slow model keeps the first turn running while
	// the second message arrives.
	s.Sim.Bedrock.Delay(300 * time.Millisecond)
	c.WriteJSON(map[string]string{"message": "weather in Lima", "llm_mode": "bedrock"})
	c.WriteJSON(map[string]string{"message": "weather in Quito"})
	var busy bool
	for i := 0; i < 2; {
		var m wsMsg
		c.SetReadDeadline(time.Now().Add(20 * time.Second))
		if err := c.ReadJSON(&m); err != nil {
			t.Fatal(err)
		}
		if m.Type == "error" && m.Status == http.StatusConflict {
			busy = true
			i++
		}
		if m.Type == "final" {
			i++
		}
	}
	s.Sim.Bedrock.Delay(0)
	if !busy {
		t.Error("a second message during a turn was not refused")
	}
	// A bad message is an error message, not a dropped socket.
	c.WriteJSON(map[string]string{"message": ""})
	if _, last := readTurn(t, c); last.Type != "error" || last.Status != 400 {
		t.Errorf("empty message: %+v", last)
	}
	// Shutdown closes the socket with "going away".
	api.CloseSockets()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after shutdown: %v", err)
	}
}

func TestWebSocketRefusals(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(nil)
	if _, resp, err := dial(t, url, "http://evil.example"); err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("a foreign Origin: %v %v", err, resp)
	}
	c, _, err := dial(t, url, "")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte(`{"message":"`+strings.Repeat("a", 70<<10)+`"}`))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseMessageTooBig) {
		t.Errorf("an oversized message: %v", err)
	}
}
