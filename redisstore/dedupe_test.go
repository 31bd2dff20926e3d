package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/redisstore"
	"github.com/go-chatshipper/chatshipper/webhook"
	"github.com/go-chatshipper/chatshipper/webhook/dedupetest"
	"github.com/redis/go-redis/v9"
)

var _ webhook.Deduper = (*redisstore.Deduper)(nil)

func TestNewDeduperArguments(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	tests := []struct {
		name   string
		rdb    redis.Scripter
		key    string
		opts   []redisstore.Option
		wantOK bool
	}{
		{"ok", rdb, "hooks", nil, true},
		{"ok with options", rdb, "hooks", []redisstore.Option{redisstore.WithLease(time.Second), redisstore.WithDoneTTL(time.Hour), redisstore.WithCallTimeout(time.Second), redisstore.WithKeyPrefix("app")}, true},
		{"nil client", nil, "hooks", nil, false},
		{"empty name", rdb, "", nil, false},
		{"zero lease", rdb, "hooks", []redisstore.Option{redisstore.WithLease(0)}, false},
		{"zero done TTL", rdb, "hooks", []redisstore.Option{redisstore.WithDoneTTL(0)}, false},
		{"limiter option", rdb, "hooks", []redisstore.Option{redisstore.WithLimit(5, time.Second)}, false},
		{"fallback option", rdb, "hooks", []redisstore.Option{redisstore.WithFallback(5)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			d, err := redisstore.NewDeduper(tt.rdb, tt.key, tt.opts...)
			if tt.wantOK {
				if err != nil || d == nil {
					t.Fatalf("NewDeduper = %v, %v; want a deduper", d, err)
				}
				return
			}
			if !errors.Is(err, chatshipper.ErrInvalidArgument) {
				t.Fatalf("NewDeduper error = %v; want a *chatshipper.ArgumentError", err)
			}
		})
	}
}

// replica is one webhook handler sharing the Redis dedupe, counting how often
// each event ran; events whose ID is in failOnce fail on their first run.
type replica struct {
	h *webhook.Handler
}

func newReplica(t *testing.T, d webhook.Deduper, runs *sync.Map, failOnce *sync.Map) *replica {
	t.Helper()
	h, err := webhook.NewHandler(webhook.WithDeduper(d))
	if err != nil {
		t.Fatal(err)
	}
	err = h.Handle("**", func(_ context.Context, e *webhook.Event) error {
		n, _ := runs.LoadOrStore(e.ID, new(atomic.Int64))
		if n.(*atomic.Int64).Add(1) == 1 {
			if _, fail := failOnce.Load(e.ID); fail {
				return errors.New("handler failed")
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return &replica{h: h}
}

// TestDedupeTwoReplicas is the test: two handlers ("replicas") with
// their own Redis connections share the dedupe and receive the same delivery
// concurrently 1,000 times: each event's handler runs exactly once; a failed
// event runs again when the platform retries it, and then never again.
func TestDedupeTwoReplicas(t *testing.T) {
	addr := redisAddr(t)
	name := uniqueName(t)
	var runs, failOnce sync.Map
	var replicas [2]*replica
	for i := range replicas {
		// A generous call timeout: 64 deliveries at once queue for the
		// connection pool, and this test is about exactly-once, not timeouts.
		d, err := redisstore.NewDeduper(newClient(t, addr), name, redisstore.WithCallTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		replicas[i] = newReplica(t, d, &runs, &failOnce)
	}
	const events = 1000
	ev := func(prefix string, i int) *webhook.Event {
		return &webhook.Event{ID: fmt.Sprintf("%s-%04d", prefix, i), Name: "conversation.update"}
	}
	// deliver hands event i (i < n) to both replicas at the same moment and
	// returns how many Dispatch calls reported a handler failure.
	deliver := func(round, prefix string, n int) int64 {
		var failed atomic.Int64
		var wg sync.WaitGroup
		sem := make(chan struct{}, 64)
		for i := range n {
			start := make(chan struct{})
			for _, r := range replicas {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					<-start
					err := r.h.Dispatch(t.Context(), ev(prefix, i))
					switch {
					case err == nil, errors.Is(err, webhook.ErrInProgress):
					case err.Error() == "handler failed":
						failed.Add(1)
					default:
						t.Errorf("%s: Dispatch(%s) = %v", round, ev(prefix, i).ID, err)
					}
				}()
			}
			close(start)
		}
		wg.Wait()
		return failed.Load()
	}
	checkRuns := func(round, prefix string, n int, want int64) {
		t.Helper()
		for i := range n {
			if got := loadRuns(&runs, ev(prefix, i).ID); got != want {
				t.Fatalf("%s: %s ran %d times, want %d", round, ev(prefix, i).ID, got, want)
			}
		}
	}

	// 1,000 events, each delivered to both replicas at once: one run each.
	if f := deliver("concurrent delivery", "evt", events); f != 0 {
		t.Errorf("%d failures, want 0", f)
	}
	checkRuns("concurrent delivery", "evt", events, 1)
	deliver("repeated delivery", "evt", events)
	checkRuns("repeated delivery", "evt", events, 1)

	// 100 events whose handler fails the first time (one replica got them):
	// the platform's retry, again to both replicas at once, runs each once
	// more, and a further retry not at all.
	const failing = 100
	for i := range failing {
		failOnce.Store(ev("fail", i).ID, true)
		if err := replicas[i%2].h.Dispatch(t.Context(), ev("fail", i)); err == nil {
			t.Fatalf("Dispatch(%s) succeeded, want the handler's failure", ev("fail", i).ID)
		}
	}
	checkRuns("failed delivery", "fail", failing, 1)
	if f := deliver("retry", "fail", failing); f != 0 {
		t.Errorf("retry: %d failures, want 0", f)
	}
	checkRuns("retry", "fail", failing, 2)
	deliver("second retry", "fail", failing)
	checkRuns("second retry", "fail", failing, 2)
}

func loadRuns(m *sync.Map, id string) int64 {
	n, ok := m.Load(id)
	if !ok {
		return 0
	}
	return n.(*atomic.Int64).Load()
}

// TestDedupeLease: a claim whose holder died frees after its lease, and the
// dead holder's late Finish does not touch the new claim.
func TestDedupeLease(t *testing.T) {
	addr := redisAddr(t)
	name := uniqueName(t)
	a, err := redisstore.NewDeduper(newClient(t, addr), name, redisstore.WithLease(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	b, err := redisstore.NewDeduper(newClient(t, addr), name, redisstore.WithLease(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	held, err := a.Begin(ctx, "e1")
	if err != nil || held.State != webhook.DedupeNew {
		t.Fatalf("a.Begin = %+v, %v; want new", held, err)
	}
	if c, err := b.Begin(ctx, "e1"); err != nil || c.State != webhook.DedupeRunning {
		t.Fatalf("b.Begin while a holds the claim = %+v, %v; want running", c, err)
	}
	// a "dies": its lease ends, and the platform's retry is processed.
	var retry webhook.DedupeClaim
	waitFor(t, func() bool {
		retry, err = b.Begin(ctx, "e1")
		return err == nil && retry.State == webhook.DedupeNew
	}, "the dead holder's lease to end")
	if err := a.Finish(ctx, held, false); !errors.Is(err, redisstore.ErrLeaseLost) || !errors.Is(err, webhook.ErrClaimLost) {
		t.Fatalf("late Finish by the old holder = %v, want ErrLeaseLost (webhook.ErrClaimLost)", err)
	}
	if c, _ := a.Begin(ctx, "e1"); c.State != webhook.DedupeRunning {
		t.Fatalf("the new claim was disturbed: Begin = %v, want running", c.State)
	}
	if err := b.Finish(ctx, retry, true); err != nil {
		t.Fatal(err)
	}
	if c, _ := a.Begin(ctx, "e1"); c.State != webhook.DedupeDone {
		t.Fatalf("Begin after success = %v, want done", c.State)
	}
	rdb := newClient(t, addr)
	if ttl := rdb.PTTL(ctx, "chatshipper:dedupe:"+name+":e1").Val(); ttl < 23*time.Hour {
		t.Errorf("done key TTL = %s, want about 24h", ttl)
	}
}

// TestDedupeLateFinishSameProcess: one Deduper (one process) gets a slow
// delivery whose lease runs out and the platform's retry, which claims the
// ID again. The slow delivery's Finish, failed or not, must leave the
// retry's claim alone, so a third delivery is told the event is running.
// Before, the Deduper kept one claim per ID in the process and Finish took
// the newest, the retry's: the slow delivery deleted it and the third
// delivery ran at once.
func TestDedupeLateFinishSameProcess(t *testing.T) {
	addr := redisAddr(t)
	for _, ok := range []bool{false, true} {
		d, err := redisstore.NewDeduper(newClient(t, addr), uniqueName(t), redisstore.WithLease(100*time.Millisecond))
		if err != nil {
			t.Fatal(err)
		}
		ctx := t.Context()
		slow, err := d.Begin(ctx, "e1")
		if err != nil || slow.State != webhook.DedupeNew {
			t.Fatalf("first delivery: %+v, %v", slow, err)
		}
		var retry webhook.DedupeClaim
		waitFor(t, func() bool {
			retry, err = d.Begin(ctx, "e1")
			return err == nil && retry.State == webhook.DedupeNew
		}, "the slow delivery's lease to end")
		if err := d.Finish(ctx, slow, ok); !errors.Is(err, webhook.ErrClaimLost) {
			t.Fatalf("the slow delivery's Finish(ok %t) = %v, want webhook.ErrClaimLost", ok, err)
		}
		third, err := d.Begin(ctx, "e1")
		if err != nil || third.State != webhook.DedupeRunning {
			t.Fatalf("third delivery (slow Finish ok %t): %v, %v; want running", ok, third.State, err)
		}
		if err := d.Finish(ctx, retry, true); err != nil {
			t.Fatal(err)
		}
	}
}

// TestDeduperContract runs the contract checks of dedupetest against the
// Redis Deduper.
func TestDeduperContract(t *testing.T) {
	addr := redisAddr(t)
	rdb := newClient(t, addr)
	dedupetest.Run(t, func(t *testing.T) webhook.Deduper {
		d, err := redisstore.NewDeduper(rdb, uniqueName(t), redisstore.WithCallTimeout(5*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestDedupeUnavailable: a Redis that cannot answer makes Begin fail with
// ErrUnavailable, so the webhook handler answers 503 and nothing runs.
func TestDedupeUnavailable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	d, err := redisstore.NewDeduper(rdb, "hooks", redisstore.WithCallTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.Begin(t.Context(), "e1"); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Begin = %v, want ErrUnavailable", err)
	}
	claim := webhook.DedupeClaim{ID: "e1", State: webhook.DedupeNew, Token: "claim:0123"}
	if err := d.Finish(t.Context(), claim, true); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Finish = %v, want ErrUnavailable", err)
	}
	h, err := webhook.NewHandler(webhook.WithDeduper(d))
	if err != nil {
		t.Fatal(err)
	}
	ran := false
	_ = h.Handle("**", func(context.Context, *webhook.Event) error { ran = true; return nil })
	err = h.Dispatch(t.Context(), &webhook.Event{ID: "e1", Name: "conversation.update"})
	if !errors.Is(err, redisstore.ErrUnavailable) || ran {
		t.Fatalf("Dispatch = %v (handler ran: %v), want ErrUnavailable and no run", err, ran)
	}
}
