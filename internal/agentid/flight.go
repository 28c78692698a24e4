package agentid

import (
	"context"
	"errors"
	"sync"
)

// Flight shares one call among the concurrent callers that ask for the same
// key: the first runs it, the others wait for its answer. It is the part
// of golang.org/x/sync/singleflight this module needs (that module is not
// one of its direct dependencies), with contexts: a waiter stops waiting
// when its own context ends, and when the leader's context ended first
// (the leader's answer is then a context error that is not the waiter's),
// the waiter asks again, up to maxFlightRetries times.
type Flight[T any] struct {
	mu      sync.Mutex
	calls   map[string]*flightCall[T]
	waiting int
}

type flightCall[T any] struct {
	done chan struct{}
	val  T
	err  error
}

const maxFlightRetries = 3

// errLeaderPanicked is what waiters get when the call they waited on
// panicked (the leader re-panics).
var errLeaderPanicked = errors.New("the shared token request failed unexpectedly")

// Do runs fn once for key among concurrent callers; shared reports that
// this caller got another caller's answer.
func (f *Flight[T]) Do(ctx context.Context, key string, fn func(context.Context) (T, error)) (val T, err error, shared bool) {
	for attempt := 0; ; attempt++ {
		f.mu.Lock()
		if f.calls == nil {
			f.calls = map[string]*flightCall[T]{}
		}
		if c, ok := f.calls[key]; ok {
			f.waiting++
			f.mu.Unlock()
			select {
			case <-c.done:
			case <-ctx.Done():
			}
			f.mu.Lock()
			f.waiting--
			f.mu.Unlock()
			if ctx.Err() != nil {
				var zero T
				return zero, ctx.Err(), true
			}
			if isContextError(c.err) && ctx.Err() == nil && attempt < maxFlightRetries {
				continue
			}
			return c.val, c.err, true
		}
		c := &flightCall[T]{done: make(chan struct{}), err: errLeaderPanicked}
		f.calls[key] = c
		f.mu.Unlock()
		func() {
			defer func() {
				f.mu.Lock()
				delete(f.calls, key)
				f.mu.Unlock()
				close(c.done)
			}()
			c.val, c.err = fn(ctx)
		}()
		return c.val, c.err, false
	}
}

// InFlight is how many distinct calls are running (at most one per key)
// and how many callers wait on them.
func (f *Flight[T]) InFlight() (calls, waiting int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls), f.waiting
}

func isContextError(err error) bool {
	return errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}
