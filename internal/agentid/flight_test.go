package agentid

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// waitFor polls cond for up to 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for range 1000 {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within 10 s", what)
}

// Concurrent callers of one key share one call; another key runs its own.
func TestFlightSharesOneCall(t *testing.T) {
	var f Flight[int]
	var calls atomic.Int32
	release := make(chan struct{})
	fn := func(context.Context) (int, error) { calls.Add(1); <-release; return 42, nil }
	var wg sync.WaitGroup
	var shared atomic.Int32
	for range 8 {
		wg.Go(func() {
			v, err, s := f.Do(t.Context(), "k", fn)
			if v != 42 || err != nil {
				t.Errorf("%d %v", v, err)
			}
			if s {
				shared.Add(1)
			}
		})
	}
	waitFor(t, "7 callers waiting on the first", func() bool { c, w := f.InFlight(); return c == 1 && w == 7 })
	other, _, _ := f.Do(t.Context(), "other", func(context.Context) (int, error) { return 7, nil })
	close(release)
	wg.Wait()
	if calls.Load() != 1 || shared.Load() != 7 || other != 7 {
		t.Errorf("%d calls, %d shared, other %d; want 1, 7, 7", calls.Load(), shared.Load(), other)
	}
	if c, w := f.InFlight(); c != 0 || w != 0 {
		t.Errorf("%d calls and %d waiters left", c, w)
	}
}

// A waiter whose own context is alive does not inherit the leader's
// cancellation: it asks again. A waiter whose context ends stops waiting.
func TestFlightContexts(t *testing.T) {
	var f Flight[int]
	leaderCtx, cancelLeader := context.WithCancel(context.Background())
	started := make(chan struct{})
	go f.Do(leaderCtx, "k", func(ctx context.Context) (int, error) {
		close(started)
		<-ctx.Done()
		return 0, ctx.Err()
	})
	<-started
	done := make(chan int)
	go func() {
		v, err, _ := f.Do(t.Context(), "k", func(context.Context) (int, error) { return 5, nil })
		if err != nil {
			t.Error(err)
		}
		done <- v
	}()
	waitFor(t, "the waiter", func() bool { _, w := f.InFlight(); return w == 1 })
	cancelLeader()
	if v := <-done; v != 5 {
		t.Errorf("the waiter got %d, want its own call's 5", v)
	}

	block := make(chan struct{})
	defer close(block)
	go f.Do(context.Background(), "slow", func(context.Context) (int, error) { <-block; return 1, nil })
	waitFor(t, "the slow call", func() bool { c, _ := f.InFlight(); return c == 1 })
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err, _ := f.Do(ctx, "slow", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("a canceled waiter: %v", err)
	}
}
