package refresher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	oteltrace "go.opentelemetry.io/otel/trace"

	"github.com/crosscloud-agentid/agentid/internal/atomicfile"
)

// Source gets a new token for the STS app: MSALSource in production.
type Source interface {
	Token(ctx context.Context) (string, error)
}

// Config says where the token goes and how eagerly it is refreshed.
type Config struct {
	Expect
	File     string
	FileMode os.FileMode
	// Fraction of a token's remaining lifetime after which it is refreshed
	// (0.5: halfway), with ±10% jitter so replicas spread out.
	Fraction float64
	// MinDelay and MaxBackoff bound the wait between attempts after a
	// transient failure, MinDelay and PermanentBackoff after a permanent one.
	MinDelay         time.Duration
	MaxBackoff       time.Duration
	PermanentBackoff time.Duration
	Now              func() time.Time
	// Tracer makes a span per attempt (nil: none).
	Tracer oteltrace.Tracer
	// Refreshes counts attempts by outcome (nil: none).
	Refreshes metric.Int64Counter
}

// Defaults fills what c leaves zero.
func (c *Config) defaults() {
	if c.FileMode == 0 {
		c.FileMode = 0o600
	}
	if c.Fraction <= 0 || c.Fraction >= 1 {
		c.Fraction = 0.5
	}
	if c.MinDelay <= 0 {
		c.MinDelay = time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 2 * time.Minute
	}
	if c.PermanentBackoff <= 0 {
		c.PermanentBackoff = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Observe registers gauges on meter: seconds until the file's token
// expires, and until the next attempt.
func (r *Refresher) Observe(meter metric.Meter) error {
	expiresIn, err := meter.Float64ObservableGauge("agentid.refresher.token.expires_in", metric.WithUnit("s"),
		metric.WithDescription("Seconds until the web identity token in the file expires"))
	if err != nil {
		return err
	}
	nextIn, err := meter.Float64ObservableGauge("agentid.refresher.next_refresh_in", metric.WithUnit("s"),
		metric.WithDescription("Seconds until the next refresh attempt"))
	if err != nil {
		return err
	}
	_, err = meter.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		r.mu.Lock()
		exp, next := r.expiresAt, r.nextAt
		r.mu.Unlock()
		now := r.cfg.Now()
		if !exp.IsZero() {
			o.ObserveFloat64(expiresIn, exp.Sub(now).Seconds())
		}
		if !next.IsZero() {
			o.ObserveFloat64(nextIn, next.Sub(now).Seconds())
		}
		return nil
	}, expiresIn, nextIn)
	return err
}

// Status is what /healthz reports.
type Status struct {
	LastSuccess *time.Time `json:"last_success"`
	ExpiresAt   *time.Time `json:"expires_at"`
	LastError   string     `json:"last_error,omitempty"`
	Healthy     bool       `json:"healthy"`
}

// Refresher writes and rewrites the token file.
type Refresher struct {
	cfg Config
	src Source
	log *slog.Logger

	mu          sync.Mutex
	lastSuccess time.Time
	expiresAt   time.Time // of the token in the file
	lastError   string
	nextAt      time.Time // of the next attempt, while Run waits for it
}

// New returns a Refresher; cfg's zero fields get defaults.
func New(cfg Config, src Source, log *slog.Logger) *Refresher {
	cfg.defaults()
	return &Refresher{cfg: cfg, src: src, log: log}
}

// Attempt gets a token, checks it and writes it, once, with no retry (Run
// and RunOnce retry). A write, once started, is finished even if ctx ends.
func (r *Refresher) Attempt(ctx context.Context) (Claims, error) {
	claims, err := r.tracedAttempt(ctx)
	if r.cfg.Refreshes != nil {
		outcome := "written"
		if err != nil {
			outcome = "transient"
			if Classify(err).Permanent {
				outcome = "permanent"
			}
		}
		r.cfg.Refreshes.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	}
	return claims, err
}

// tracedAttempt is attempt, in a span when tracing is on.
func (r *Refresher) tracedAttempt(ctx context.Context) (Claims, error) {
	if r.cfg.Tracer == nil {
		return r.attempt(ctx)
	}
	ctx, span := r.cfg.Tracer.Start(ctx, "refresh web identity token")
	defer span.End()
	claims, err := r.attempt(ctx)
	if err != nil {
		f := Classify(err)
		span.SetAttributes(attribute.Bool("agentid.refresh.permanent", f.Permanent))
		span.SetStatus(codes.Error, f.Summary)
		return claims, err
	}
	span.SetAttributes(attribute.String("agentid.token.aud", claims.Aud), attribute.String("agentid.token.exp", claims.Exp.UTC().Format(time.RFC3339)))
	return claims, nil
}

func (r *Refresher) attempt(ctx context.Context) (Claims, error) {
	token, err := r.src.Token(ctx)
	if err != nil {
		return Claims{}, r.failed(err)
	}
	claims, err := Check(token, r.cfg.Expect, r.cfg.Now())
	if err != nil {
		return claims, r.failed(err)
	}
	if err := os.MkdirAll(filepath.Dir(r.cfg.File), 0o755); err != nil {
		return claims, r.failed(&Failure{Permanent: true, Summary: "AWS_WEB_IDENTITY_TOKEN_FILE: " + err.Error(), Err: err})
	}
	if err := atomicfile.Write(r.cfg.File, []byte(token), r.cfg.FileMode); err != nil {
		// A directory there will not go away by itself: no point retrying.
		if fi, statErr := os.Stat(r.cfg.File); statErr == nil && fi.IsDir() {
			return claims, r.failed(&Failure{Permanent: true, Summary: "AWS_WEB_IDENTITY_TOKEN_FILE: " + r.cfg.File + " is a directory; name a file in it", Err: err})
		}
		return claims, r.failed(&Failure{Summary: "AWS_WEB_IDENTITY_TOKEN_FILE: " + err.Error(), Err: err})
	}
	r.mu.Lock()
	r.lastSuccess, r.expiresAt, r.lastError = r.cfg.Now(), claims.Exp, ""
	r.mu.Unlock()
	return claims, nil
}

func (r *Refresher) failed(err error) *Failure {
	f := Classify(err)
	r.mu.Lock()
	r.lastError = f.Summary
	r.mu.Unlock()
	return f
}

// Run refreshes until ctx ends, then returns nil.
func (r *Refresher) Run(ctx context.Context) error {
	failures := 0
	var lastPermanent string
	warnedExpiry := false
	for {
		claims, err := r.Attempt(ctx)
		// A token written just as ctx ends is still logged; a failure then
		// is the cancellation's own.
		if err != nil && ctx.Err() != nil {
			return nil
		}
		var delay time.Duration
		if err == nil {
			if failures > 0 {
				r.log.Info("token refresh recovered", "after_failures", failures)
			}
			failures, lastPermanent, warnedExpiry = 0, "", false
			delay = r.refreshDelay(claims.Exp)
			r.log.Info("wrote web identity token", append([]any{"file", r.cfg.File, "next_refresh_in", delay.Round(time.Millisecond).String()}, claims.LogArgs()...)...)
		} else {
			failures++
			f := Classify(err)
			delay = r.backoff(failures, f.Permanent)
			switch {
			case !f.Permanent:
				r.log.Warn("token refresh failed; retrying", "error", f.Summary, "attempt", failures, "retry_in", delay.Round(time.Millisecond).String())
			case f.cause() != lastPermanent:
				// Logged once per distinct cause, however often it is retried.
				r.log.Error("token refresh failed: "+f.Summary, "retry_in", delay.Round(time.Millisecond).String())
				lastPermanent = f.cause()
			}
			if exp := r.Status().ExpiresAt; exp != nil && !warnedExpiry && !r.cfg.Now().Add(delay).Before(*exp) {
				r.log.Error("the token file will hold an expired token before the next attempt; AWS calls will fail until a refresh succeeds",
					"file", r.cfg.File, "expires_at", exp.UTC().Format(time.RFC3339))
				warnedExpiry = true
			}
		}
		r.mu.Lock()
		r.nextAt = r.cfg.Now().Add(delay)
		r.mu.Unlock()
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// refreshDelay is Fraction of the remaining lifetime, ±10%.
func (r *Refresher) refreshDelay(exp time.Time) time.Duration {
	remaining := exp.Sub(r.cfg.Now())
	d := time.Duration(float64(remaining) * r.cfg.Fraction * (0.9 + 0.2*rand.Float64()))
	return max(d, r.cfg.MinDelay)
}

// backoff is exponential with full jitter, up to MaxBackoff for transient
// failures and PermanentBackoff for permanent ones. A permanent one starts
// fast too: right after setup, the STS app's new federated credential may
// not have reached every replica yet, and Entra refuses the managed
// identity's token as if it did not exist ("it might lead to failure for
// a couple of minutes", Azure workload identity FAQ); the first retries
// find it soon after it arrives, and a real misconfiguration soon settles
// at the slow pace.
func (r *Refresher) backoff(failures int, permanent bool) time.Duration {
	limit := r.cfg.MaxBackoff
	if permanent {
		limit = r.cfg.PermanentBackoff
	}
	ceiling := min(r.cfg.MinDelay<<min(failures-1, 20), limit)
	return min(r.cfg.MinDelay+time.Duration(rand.Int64N(int64(ceiling))), limit)
}

// Status reports the refresher's state.
func (r *Refresher) Status() Status {
	r.mu.Lock()
	defer r.mu.Unlock()
	s := Status{LastError: r.lastError}
	if !r.lastSuccess.IsZero() {
		ls, exp := r.lastSuccess, r.expiresAt
		s.LastSuccess, s.ExpiresAt = &ls, &exp
		s.Healthy = r.cfg.Now().Before(exp)
	}
	return s
}

// HealthHandler serves GET /healthz: 200 while the file holds an unexpired
// token, 503 otherwise, with the Status as JSON either way.
func (r *Refresher) HealthHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		s := r.Status()
		status := http.StatusOK
		if !s.Healthy {
			status = http.StatusServiceUnavailable
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(s)
	})
	return mux
}

// RunOnce writes one token for -once, retrying transient failures until
// ctx ends; a permanent failure returns at once.
func (r *Refresher) RunOnce(ctx context.Context) (Claims, error) {
	for attempt := 1; ; attempt++ {
		claims, err := r.Attempt(ctx)
		if err == nil {
			return claims, nil
		}
		f := Classify(err)
		if f.Permanent || ctx.Err() != nil {
			return claims, f
		}
		delay := r.backoff(attempt, false)
		r.log.Warn("token refresh failed; retrying", "error", f.Summary, "attempt", attempt, "retry_in", delay.Round(time.Millisecond).String())
		select {
		case <-ctx.Done():
			return claims, fmt.Errorf("gave up: %w", errors.Join(f, ctx.Err()))
		case <-time.After(delay):
		}
	}
}
