package e2e_test

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/command"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/logging"
)

// stoppableAgent serves an llm-agent replica, built as its binary builds
// it, until ctx ends; the returned channel gets Serve's answer.
func stoppableAgent(t *testing.T, ctx context.Context, s *e2e.Stack, overrides map[string]string) (string, <-chan error) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	env := maps.Clone(s.Settings)
	env["LISTEN_ADDR"] = ln.Addr().String()
	maps.Copy(env, overrides)
	r := config.New(func(k string) string { return env[k] })
	settings := chatapi.LoadSettings(r)
	if err := r.Err(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(logging.Correlated(slog.NewTextHandler(s.Logs, &slog.HandlerOptions{Level: slog.LevelDebug}))).With("component", "llm-agent")
	api, err := chatapi.Build(context.Background(), settings, command.Deps{HTTPClient: cloudsimtest.Client(s.Sim), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- api.Serve(ctx, ln) }()
	return "http://" + ln.Addr().String(), done
}

// A rolling restart: llm-agent gets SIGTERM while a websocket turn runs
// (a slow model keeps it running). The turn completes and its final
// message arrives before the socket closes with 1001; an idle socket
// closes at once. The replica stops within its drain.
func TestRollingRestartKeepsSocketTurns(t *testing.T) {
	s := e2e.Start(t)
	// The signal the container runtime sends, caught as command.Main
	// catches it.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	url, served := stoppableAgent(t, ctx, s, nil)
	tc := cloudsimtest.NewTokens(s.Sim).User(t)

	busy, _, err := dial(t, url, url)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	idle, _, err := dial(t, url, url)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()

	s.Sim.Bedrock.Delay(time.Second) // each Converse call; a turn makes two
	defer s.Sim.Bedrock.Delay(0)
	busy.WriteJSON(map[string]string{"message": "What's the weather in Nairobi?", "llm_mode": "bedrock", "token_flow": "obo", "user_token": tc})
	busy.SetReadDeadline(time.Now().Add(20 * time.Second))
	var first wsMsg
	if err := busy.ReadJSON(&first); err != nil || first.Type != "trace" {
		t.Fatalf("the turn did not start: %+v %v", first, err)
	}

	if err := syscall.Kill(os.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	<-ctx.Done()

	// The idle socket closes at once with "going away".
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, _, err := idle.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("the idle socket: %v, want close 1001", err)
	}
	// The turn in flight completes: its final message, then 1001.
	var last wsMsg
	for last.Type != "final" && last.Type != "error" {
		if err := busy.ReadJSON(&last); err != nil {
			t.Fatalf("the turn in flight was cut: %v", err)
		}
	}
	if last.Type != "final" || !strings.Contains(last.Resp, "Nairobi") {
		t.Errorf("the turn in flight ended with %+v", last)
	}
	if _, _, err := busy.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseGoingAway) {
		t.Errorf("after its turn, the socket: %v, want close 1001", err)
	}
	select {
	case err := <-served:
		if err != nil {
			t.Errorf("llm-agent stopped with %v", err)
		}
	case <-time.After(2 * chatapi.WebSocketDrain):
		t.Error("llm-agent did not stop after its drain")
	}
}
