package redisstore_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/redisstore"
	"github.com/redis/go-redis/v9"
)

// TestLimiterAfterKeyLoss: when the limiter's keys vanish right after a full
// window of grants, the next grants wait a whole window from the loss,
// whichever process asks first. Before, the empty keys looked like an empty
// window: 5 more grants at once, 10 in one window with a limit of 5.
func TestLimiterAfterKeyLoss(t *testing.T) {
	const n, window = 5, time.Second
	tests := []struct {
		name      string
		dedicated bool // on a redis-server of its own (FLUSHALL, restart)
		other     bool // a process that granted nothing asks after the loss
		lose      func(t *testing.T, rs *redisServer, rdb *redis.Client, name string)
	}{
		{name: "FLUSHALL", dedicated: true, lose: func(t *testing.T, _ *redisServer, rdb *redis.Client, _ string) {
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "FLUSHALL, another process asks first", dedicated: true, other: true, lose: func(t *testing.T, _ *redisServer, rdb *redis.Client, _ string) {
			if err := rdb.FlushAll(context.Background()).Err(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "restart without persistence", dedicated: true, lose: func(_ *testing.T, rs *redisServer, _ *redis.Client, _ string) {
			rs.kill()
			rs.start()
		}},
		{name: "the grants key evicted alone", lose: func(t *testing.T, _ *redisServer, rdb *redis.Client, name string) {
			if err := rdb.Del(context.Background(), "chatshipper:limit:{"+name+"}:grants").Err(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "every key evicted, another process asks first", other: true, lose: func(t *testing.T, _ *redisServer, rdb *redis.Client, name string) {
			keys, err := rdb.Keys(context.Background(), "chatshipper:limit:{"+name+"}:*").Result()
			if err != nil || len(keys) == 0 {
				t.Fatalf("keys: %v %v", keys, err)
			}
			if err := rdb.Del(context.Background(), keys...).Err(); err != nil {
				t.Fatal(err)
			}
		}},
		{name: "restored from an older snapshot", lose: func(t *testing.T, _ *redisServer, rdb *redis.Client, name string) {
			ctx := context.Background()
			base := "chatshipper:limit:{" + name + "}:"
			old := time.Now().Add(-time.Hour).UnixMicro()
			if err := rdb.Del(ctx, base+"grants").Err(); err != nil {
				t.Fatal(err)
			}
			if err := rdb.Set(ctx, base+"marker", old, time.Hour).Err(); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr := redisAddr(t)
			var rs *redisServer
			if tt.dedicated {
				rs = startRedisServer(t)
				addr = rs.addr()
			}
			rdb := newClient(t, addr)
			name := uniqueName(t)
			limiterInUse(t, rdb, name)
			newLimiter := func() *redisstore.Limiter {
				l, err := redisstore.NewLimiter(newClient(t, addr), name, redisstore.WithLimit(n, window),
					redisstore.WithCallTimeout(testCallTimeout))
				if err != nil {
					t.Fatal(err)
				}
				return l
			}
			a, b := newLimiter(), newLimiter()
			for range n {
				if err := a.Wait(t.Context()); err != nil {
					t.Fatal(err)
				}
			}
			tt.lose(t, rs, rdb, name)
			lost := time.Now()
			next := a
			if tt.other {
				next = b
			}
			var mu sync.Mutex
			var times []time.Time
			var wg sync.WaitGroup
			for range n {
				wg.Go(func() {
					ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
					defer cancel()
					if err := next.Wait(ctx); err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					times = append(times, time.Now())
					mu.Unlock()
				})
			}
			wg.Wait()
			for _, at := range times {
				if d := at.Sub(lost); d < window {
					t.Fatalf("a grant %s after the keys were lost; want none within the window (%s)", d.Round(time.Millisecond), window)
				}
			}
			if len(times) != n {
				t.Fatalf("%d of %d grants after the loss", len(times), n)
			}
		})
	}
}

// TestLimiterFirstUseHoldsAWindow: a name whose keys are all missing (never
// used, unused for a day, or lost) grants nothing for one window, and then
// as usual: the hold is not renewed by callers asking during it.
func TestLimiterFirstUseHoldsAWindow(t *testing.T) {
	addr := redisAddr(t)
	const window = 500 * time.Millisecond
	l, err := redisstore.NewLimiter(newClient(t, addr), uniqueName(t), redisstore.WithLimit(3, window))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	var mu sync.Mutex
	var times []time.Duration
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			if err := l.Wait(t.Context()); err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			times = append(times, time.Since(start))
			mu.Unlock()
		})
	}
	wg.Wait()
	for _, d := range times {
		if d < window {
			t.Fatalf("a grant %s after the first call, want none within the first window", d)
		}
	}
	t.Logf("grants at %v", times)
}

// TestLimiterAcquireCountsFromTheEnd: a slot taken with Acquire counts from
// the moment its done is called, so the next window's grant comes a window
// after the end of the slow request, not after its grant, in every process.
func TestLimiterAcquireCountsFromTheEnd(t *testing.T) {
	addr := redisAddr(t)
	name := uniqueName(t)
	limiterInUse(t, newClient(t, addr), name)
	const window, slow = 500 * time.Millisecond, 300 * time.Millisecond
	var ls []*redisstore.Limiter
	for range 2 {
		l, err := redisstore.NewLimiter(newClient(t, addr), name, redisstore.WithLimit(1, window),
			redisstore.WithCallTimeout(testCallTimeout))
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	var _ chatshipper.SlotLimiter = ls[0]
	done, err := ls[0].Acquire(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(slow) // the request takes its time
	ended := time.Now()
	done(true)
	done(true) // ignored
	if err := ls[1].Wait(t.Context()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(ended); d < window {
		t.Fatalf("the next grant came %s after the slow request ended, want at least the window (%s)", d.Round(time.Millisecond), window)
	}
}
