package httpserver

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestListenNamesTheSettingWhenBusy(t *testing.T) {
	ln, err := Listen("weather-api", "LISTEN_ADDR", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, err = Listen("weather-api", "LISTEN_ADDR", ln.Addr().String())
	if err == nil || !strings.Contains(err.Error(), "already in use") || !strings.Contains(err.Error(), "LISTEN_ADDR") {
		t.Fatalf("err = %v, want it to say the port is in use and name LISTEN_ADDR", err)
	}
}

func TestLocalURL(t *testing.T) {
	for in, want := range map[string]string{
		":8080": "http://127.0.0.1:8080", "0.0.0.0:80": "http://127.0.0.1:80", "[::]:9": "http://127.0.0.1:9",
		"127.0.0.2:1": "http://127.0.0.2:1", "localhost:3000": "http://localhost:3000",
	} {
		if got, err := LocalURL("http", in); err != nil || got != want {
			t.Errorf("LocalURL(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := LocalURL("http", "8080"); err == nil {
		t.Error("a bare port was accepted")
	}
}

// The start line names the address really bound: every interface is said
// so, not shown as 127.0.0.1.
func TestListening(t *testing.T) {
	for in, want := range map[string]string{
		"127.0.0.1:3000": "http://127.0.0.1:3000",
		"localhost:3000": "http://localhost:3000",
		"[::]:3000":      "[::]:3000, every interface (http://127.0.0.1:3000 from this host)",
		"0.0.0.0:8443":   "0.0.0.0:8443, every interface (http://127.0.0.1:8443 from this host)",
		":8080":          ":8080, every interface (http://127.0.0.1:8080 from this host)",
	} {
		if got := Listening("http", in, ""); got != want {
			t.Errorf("Listening(%q) = %q, want %q", in, got, want)
		}
	}
	if got, want := Listening("http", ":8081", "/healthz"), ":8081, every interface (http://127.0.0.1:8081/healthz from this host)"; got != want {
		t.Errorf("with a path: %q, want %q", got, want)
	}
}

func TestServeProbeAndShutdown(t *testing.T) {
	ln, err := Listen("test", "ADDR", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	started, release := make(chan struct{}), make(chan struct{})
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) {})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		close(started)
		<-release
		io.WriteString(w, "finished")
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Serve(ctx, New(mux, slog.New(slog.DiscardHandler)), ln) }()

	addr := ln.Addr().String()
	if err := Probe(context.Background(), addr, "/health"); err != nil {
		t.Fatalf("probe: %v", err)
	}
	if err := Probe(context.Background(), addr, "/missing"); err == nil || !strings.Contains(err.Error(), "404") {
		t.Errorf("probe of a 404 = %v", err)
	}

	// A request in flight when the server stops still gets its answer.
	body := make(chan string, 1)
	go func() {
		resp, err := http.Get("http://" + addr + "/slow")
		if err != nil {
			body <- err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		body <- string(b)
	}()
	<-started
	cancel()
	time.Sleep(50 * time.Millisecond) // let Shutdown close the listener first
	close(release)
	if got := <-body; got != "finished" {
		t.Errorf("in-flight request got %q", got)
	}
	if err := <-done; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if err := Probe(context.Background(), addr, "/health"); err == nil {
		t.Error("the server still answers after shutdown")
	}
}
