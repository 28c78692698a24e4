package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRunServesUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	pr, pw := io.Pipe()
	dir := t.TempDir()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-identity-addr", "127.0.0.1:0", "-sidecar-addr", "127.0.0.1:0", "-dir", dir, "-san", "cloudsim, cloudsim.local"}, func(string) string { return "" }, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	ready := false
	deadline := time.After(20 * time.Second)
	for !ready {
		select {
		case <-deadline:
			t.Fatal("no ready line")
		default:
		}
		if !lines.Scan() {
			t.Fatalf("log ended before the ready line: %v", <-done)
		}
		ready = strings.Contains(lines.Text(), "cloudsim ready on https://127.0.0.1:")
	}
	go io.Copy(io.Discard, pr)
	if _, err := os.Stat(filepath.Join(dir, "cloudsim.env")); err != nil {
		t.Fatal(err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after cancel", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("did not stop after cancel")
	}
}

func TestRunRefusesMalformedTenantFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tenant.jsonc")
	os.WriteFile(path, []byte("{\n  \"tenant\": {\"id\": \"nope\"}\n}\n"), 0o644)
	err := run(t.Context(), []string{"-tenant", path, "-dir", t.TempDir()}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "tenant.jsonc:2: tenant.id") {
		t.Fatalf("err = %v, want the line and field", err)
	}
}

func TestHealthcheck(t *testing.T) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	var logs bytes.Buffer
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-identity-addr", "127.0.0.1:0", "-sidecar-addr", "", "-dir", dir}, func(string) string { return "" }, pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(io.TeeReader(pr, &logs))
	var addr string
	for addr == "" && lines.Scan() {
		if _, rest, ok := strings.Cut(lines.Text(), "cloudsim ready on https://"); ok {
			addr, _, _ = strings.Cut(rest, " ")
			addr = strings.TrimSuffix(addr, `"`)
		}
	}
	go io.Copy(io.Discard, pr)
	if err := run(context.Background(), []string{"-healthcheck", "-addr", addr, "-dir", dir}, func(string) string { return "" }, io.Discard); err != nil {
		t.Errorf("healthcheck of a running cloudsim: %v", err)
	}
	cancel()
	<-done
	if err := run(context.Background(), []string{"-healthcheck", "-addr", addr, "-dir", dir}, func(string) string { return "" }, io.Discard); err == nil {
		t.Error("healthcheck of a stopped cloudsim passed")
	}
}

// cloudsim reads LOG_LEVEL and LOG_FORMAT like every binary, and refuses
// a bad one by name before it starts.
func TestRunHonoursLogSettings(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	err := run(t.Context(), []string{"-dir", t.TempDir()}, env(map[string]string{"LOG_LEVEL": "loud"}), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "LOG_LEVEL") {
		t.Fatalf("LOG_LEVEL=loud: %v, want a settings error naming it", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0", "-identity-addr", "127.0.0.1:0", "-sidecar-addr", "", "-dir", t.TempDir()},
			env(map[string]string{"LOG_FORMAT": "json"}), pw)
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	if !lines.Scan() {
		t.Fatalf("no log line: %v", <-done)
	}
	var line map[string]any
	if err := json.Unmarshal(lines.Bytes(), &line); err != nil || line["msg"] == nil {
		t.Fatalf("LOG_FORMAT=json, first line %q: %v", lines.Text(), err)
	}
	go io.Copy(io.Discard, pr)
	cancel()
	<-done
}
