// Package httpserver holds what every binary's HTTP server shares: timeouts,
// a listen error that names the setting to change, graceful shutdown, and
// the -healthcheck probe that distroless images use instead of curl.
package httpserver

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"syscall"
	"time"
)

// ShutdownGrace is how long in-flight requests get when the server stops.
const ShutdownGrace = 10 * time.Second

// New returns a server for h with timeouts that bound slow or idle clients.
// WriteTimeout is generous because some handlers wait on a model.
func New(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      3 * time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// Listen opens addr for what (a component name); a busy port is reported
// with the setting or flag that moves it.
func Listen(what, setting, addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("%s: %s is already in use; stop what holds it or pick another address with %s", what, addr, setting)
		}
		return nil, fmt.Errorf("%s: listen on %s: %w", what, addr, err)
	}
	return ln, nil
}

// Serve serves on ln until ctx ends, then shuts down gracefully.
func Serve(ctx context.Context, srv *http.Server, ln net.Listener) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), ShutdownGrace)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// LocalURL turns a listening address into a URL a local client can dial: a
// wildcard or empty host is reached through 127.0.0.1.
func LocalURL(scheme, listenAddr string) (string, error) {
	host, port, err := net.SplitHostPort(listenAddr)
	if err != nil {
		return "", fmt.Errorf("%q is not host:port: %w", listenAddr, err)
	}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	return scheme + "://" + net.JoinHostPort(host, port), nil
}

// Listening says where a server listens, for its start line: the URL (of
// path) when it is bound to one address, else the bound address, that it
// is every interface, and the URL this host reaches it at (a container
// logging "127.0.0.1" while bound to every interface misleads whoever
// reads it).
func Listening(scheme, addr, path string) string {
	local, err := LocalURL(scheme, addr)
	if err != nil {
		return scheme + "://" + addr + path
	}
	local += path
	if host, _, _ := net.SplitHostPort(addr); host != "" && !net.ParseIP(host).IsUnspecified() {
		return local
	}
	return addr + ", every interface (" + local + " from this host)"
}

// ListenerURL is LocalURL for an open listener.
func ListenerURL(scheme string, ln net.Listener) string {
	u, err := LocalURL(scheme, ln.Addr().String())
	if err != nil { // not a TCP listener; nothing in this module opens one
		return scheme + "://" + ln.Addr().String()
	}
	return u
}

// Probe is the -healthcheck mode: GET path on the server listening at
// listenAddr, and fail unless it answers 200 within a few seconds.
func Probe(ctx context.Context, listenAddr, path string) error {
	base, err := LocalURL("http", listenAddr)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: %s answered %s", base+path, resp.Status)
	}
	return nil
}
