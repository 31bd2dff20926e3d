package redisstore_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/redisstore"
	"github.com/redis/go-redis/v9"
)

// Interface checks.
var (
	_ chatshipper.Limiter = (*redisstore.Limiter)(nil)
	_ chatshipper.Pauser  = (*redisstore.Limiter)(nil)
)

func TestNewLimiterArguments(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	jwt := "eyJhbGciOiJIUzI1NiJ9.eyJfaWQiOiJ1MSJ9.c2ln"
	tests := []struct {
		name   string
		rdb    redis.Scripter
		key    string
		opts   []redisstore.Option
		wantOK bool
	}{
		{"ok", rdb, "user:1", nil, true},
		{"ok with options", rdb, "user:1", []redisstore.Option{redisstore.WithLimit(5, time.Second), redisstore.WithFallback(2), redisstore.WithCallTimeout(time.Second), redisstore.WithKeyPrefix("app")}, true},
		{"nil client", nil, "user:1", nil, false},
		{"empty name", rdb, "", nil, false},
		{"token as name", rdb, jwt, nil, false},
		{"braces", rdb, "a{b}", nil, false},
		{"zero limit", rdb, "n", []redisstore.Option{redisstore.WithLimit(0, time.Second)}, false},
		{"tiny window", rdb, "n", []redisstore.Option{redisstore.WithLimit(1, time.Microsecond)}, false},
		{"fallback over limit", rdb, "n", []redisstore.Option{redisstore.WithFallback(21)}, false},
		{"zero fallback", rdb, "n", []redisstore.Option{redisstore.WithFallback(0)}, false},
		{"zero timeout", rdb, "n", []redisstore.Option{redisstore.WithCallTimeout(0)}, false},
		{"bad prefix", rdb, "n", []redisstore.Option{redisstore.WithKeyPrefix("a b")}, false},
		{"dedupe option", rdb, "n", []redisstore.Option{redisstore.WithLease(time.Second)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			l, err := redisstore.NewLimiter(tt.rdb, tt.key, tt.opts...)
			if tt.wantOK {
				if err != nil || l == nil {
					t.Fatalf("NewLimiter = %v, %v; want a limiter", l, err)
				}
				return
			}
			var ae *chatshipper.ArgumentError
			if !errors.As(err, &ae) || !errors.Is(err, chatshipper.ErrInvalidArgument) {
				t.Fatalf("NewLimiter error = %v; want a *chatshipper.ArgumentError", err)
			}
		})
	}
}

func TestTokenName(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewInProcessServer(t)
	if got, want := redisstore.TokenName(srv.Token), "user:"+srv.Seed.BotUserID; got != want {
		t.Errorf("TokenName(JWT) = %q, want %q", got, want)
	}
	opaque := "an-opaque-api-key-0123456789"
	got := redisstore.TokenName(opaque)
	if len(got) != len("sha256:")+32 || got[:7] != "sha256:" || got == redisstore.TokenName(opaque+"x") {
		t.Errorf("TokenName(opaque) = %q, want sha256: and 32 hex digits, distinct per token", got)
	}
	if _, err := redisstore.NewLimiter(redis.NewClient(&redis.Options{}), got); err != nil {
		t.Errorf("NewLimiter(TokenName(...)) = %v", err)
	}
}

// testCallTimeout replaces the default call timeout where a test is about
// the limit, not about Redis trouble: under the race detector on a loaded
// machine a call can wait longer than 250 ms for a pooled connection.
const testCallTimeout = 2 * time.Second

// sharedRun sends requests through clients, one per limiter, with workers
// goroutines each, until total requests were answered; it returns the
// number each client sent and the elapsed time.
func sharedRun(t *testing.T, srv *chatshippertest.Server, limiters []chatshipper.Limiter, workers, total int) ([]int64, time.Duration) {
	t.Helper()
	ctx := t.Context()
	var left atomic.Int64
	left.Store(int64(total))
	counts := make([]int64, len(limiters))
	var wg sync.WaitGroup
	start := time.Now()
	for i, l := range limiters {
		c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithLimiter(l),
			chatshipper.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					if _, _, err := c.Users.Get(ctx, srv.Seed.BotUserID, nil); err != nil {
						t.Errorf("client %d: %v", i, err)
						return
					}
					atomic.AddInt64(&counts[i], 1)
				}
			}()
		}
	}
	wg.Wait()
	return counts, time.Since(start)
}

// checkServerLog asserts zero 429s and at most 20 requests in any sliding
// second of the fake server's log; it returns the accepted count.
func checkServerLog(t *testing.T, srv *chatshippertest.Server) int {
	t.Helper()
	var times []time.Time
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			t.Errorf("the server answered 429 at %s", r.Time.Format("15:04:05.000"))
		}
		times = append(times, r.Time)
	}
	requireAtMostNPerWindow(t, times, chatshipper.DefaultRequestsPerSecond, time.Second)
	return len(times)
}

// TestLimiterSharedAcrossClients is the test: 3 clients, each with
// its own Redis connection and limiter, × 8 goroutines against a server
// enforcing 20 requests per sliding second: no 429, at least 19 accepted
// requests per second, the window holds in the server's log, and every
// client gets a fair share.
func TestLimiterSharedAcrossClients(t *testing.T) {
	addr := redisAddr(t)
	srv := chatshippertest.NewServer(t) // enforces 20 requests per sliding second
	name := redisstore.TokenName(srv.Token) + "-" + uniqueName(t)
	limiterInUse(t, newClient(t, addr), name)
	var limiters []chatshipper.Limiter
	for range 3 {
		l, err := redisstore.NewLimiter(newClient(t, addr), name,
			redisstore.WithCallTimeout(testCallTimeout))
		if err != nil {
			t.Fatal(err)
		}
		limiters = append(limiters, l)
	}
	const total = 120
	counts, elapsed := sharedRun(t, srv, limiters, 8, total)
	accepted := checkServerLog(t, srv)
	if accepted != total {
		t.Errorf("server accepted %d requests, want %d", accepted, total)
	}
	rate := float64(accepted) / elapsed.Seconds()
	t.Logf("%d requests in %s = %.1f/s; per client %v", accepted, elapsed.Round(time.Millisecond), rate, counts)
	if rate < 19 {
		t.Errorf("%.1f accepted requests per second, want at least 19", rate)
	}
	for i, n := range counts {
		if n < total/4 {
			t.Errorf("client %d sent %d of %d requests, want at least a quarter (fair share a third): %v", i, n, total, counts)
		}
	}
}

func TestLimiterHonoursContext(t *testing.T) {
	rdb := testRedis(t)
	name := uniqueName(t)
	limiterInUse(t, rdb, name)
	l, err := redisstore.NewLimiter(rdb, name, redisstore.WithLimit(2, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := l.Wait(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait on a full window = %v, want context.DeadlineExceeded", err)
	}
	done, cancel2 := context.WithCancel(t.Context())
	cancel2()
	if err := l.Wait(done); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a done context = %v, want context.Canceled", err)
	}
	// The caller that gave up left the queue (in the background).
	queue := "chatshipper:limit:{" + name + "}:queue"
	waitFor(t, func() bool { return rdb.ZCard(t.Context(), queue).Val() == 0 }, "the queue to be empty")
	// Every key expires.
	for _, k := range []string{"grants", "queue", "leases", "marker"} {
		if ttl := rdb.PTTL(t.Context(), "chatshipper:limit:{"+name+"}:"+k).Val(); ttl == -1 {
			t.Errorf("key %s has no expiry", k)
		}
	}
}

func TestLimiterPauseIsShared(t *testing.T) {
	addr := redisAddr(t)
	name := uniqueName(t)
	a, err := redisstore.NewLimiter(newClient(t, addr), name)
	if err != nil {
		t.Fatal(err)
	}
	b, err := redisstore.NewLimiter(newClient(t, addr), name)
	if err != nil {
		t.Fatal(err)
	}
	a.Pause(5 * time.Second)
	a.Pause(time.Millisecond) // never shortens
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Wait in another process during a pause = %v, want context.DeadlineExceeded", err)
	}
	rdb := newClient(t, addr)
	if ttl := rdb.PTTL(t.Context(), "chatshipper:limit:{"+name+"}:pause").Val(); ttl < 4*time.Second {
		t.Fatalf("pause key TTL = %s, want about 5s (a shorter Pause must not shorten it)", ttl)
	}
}

// TestLimiterFairness: 3 limiters (processes) × 8 goroutines on a small
// window: each gets about a third of the grants, none starves.
func TestLimiterFairness(t *testing.T) {
	addr := redisAddr(t)
	name := uniqueName(t)
	limiterInUse(t, newClient(t, addr), name)
	const n, total = 10, 90
	var left atomic.Int64
	left.Store(total)
	var counts [3]atomic.Int64
	var wg sync.WaitGroup
	for i := range counts {
		l, err := redisstore.NewLimiter(newClient(t, addr), name, redisstore.WithLimit(n, 200*time.Millisecond),
			redisstore.WithCallTimeout(testCallTimeout))
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for left.Add(-1) >= 0 {
					if err := l.Wait(t.Context()); err != nil {
						t.Error(err)
						return
					}
					counts[i].Add(1)
				}
			}()
		}
	}
	wg.Wait()
	for i := range counts {
		if got := counts[i].Load(); got < total/4 || got > total/2 {
			t.Errorf("limiter %d got %d of %d grants, want about a third", i, got, total)
		}
	}
}

// TestLimiterFailsClosed: with Redis unreachable or silent, Wait returns an
// error matching ErrUnavailable within the call timeout, and the caller's
// context still bounds it.
func TestLimiterFailsClosed(t *testing.T) {
	t.Parallel()
	silent, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never answers
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	refused, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refusedAddr := refused.Addr().String()
	refused.Close()

	for _, tc := range []struct{ name, addr string }{{"refused", refusedAddr}, {"silent", silent.Addr().String()}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rdb := redis.NewClient(&redis.Options{Addr: tc.addr, MaxRetries: -1})
			defer rdb.Close()
			l, err := redisstore.NewLimiter(rdb, "down", redisstore.WithCallTimeout(100*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			err = l.Wait(t.Context())
			var re *redisstore.Error
			if !errors.Is(err, redisstore.ErrUnavailable) || !errors.As(err, &re) || re.Op != "limiter wait" {
				t.Fatalf("Wait = %v, want a *redisstore.Error matching ErrUnavailable", err)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait with a short context = %v, want context.DeadlineExceeded", err)
			}
			l.Pause(time.Hour) // must not block past the call timeout
			ctx, cancel = context.WithTimeout(t.Context(), 20*time.Millisecond)
			defer cancel()
			if err := l.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("Wait during a local pause = %v, want context.DeadlineExceeded", err)
			}
		})
	}
}

// waitFor polls cond until it holds, failing after 10 seconds.
func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestIPName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ ip, want string }{
		{"203.0.113.7", "ip:203.0.113.7"},
		{"::ffff:203.0.113.7", "ip:203.0.113.7"},
		{"2001:db8::1", "ip:2001:db8::1"},
	} {
		name := redisstore.IPName(netip.MustParseAddr(tc.ip))
		if name != tc.want {
			t.Errorf("IPName(%s) = %q, want %q", tc.ip, name, tc.want)
		}
		if _, err := redisstore.NewLimiter(redis.NewClient(&redis.Options{}), name); err != nil {
			t.Errorf("NewLimiter(IPName(%s)) = %v", tc.ip, err)
		}
	}
}

// TestIPLimiterSharedAcrossProcesses: two processes leaving through one
// address, each with its own API key and its own per-key limiter, share a
// limiter named after the address (WithIPLimiter replaces each process's
// in-process window): the server, which limits the address to 20 requests
// per sliding second, answers no 429 and sees no second over the limit.
// With the per-key limiters alone they would send up to 40.
func TestIPLimiterSharedAcrossProcesses(t *testing.T) {
	addr := redisAddr(t)
	srv := chatshippertest.NewServer(t)
	ipName := redisstore.IPName(netip.MustParseAddr("203.0.113.7")) + "-" + uniqueName(t)
	limiterInUse(t, newClient(t, addr), ipName)
	var left atomic.Int64
	left.Store(100)
	var wg sync.WaitGroup
	for _, tok := range []string{srv.Token, srv.AdminToken} {
		own := redisstore.TokenName(tok) + "-" + uniqueName(t)
		limiterInUse(t, newClient(t, addr), own)
		perKey, err := redisstore.NewLimiter(newClient(t, addr), own, redisstore.WithCallTimeout(testCallTimeout))
		if err != nil {
			t.Fatal(err)
		}
		perIP, err := redisstore.NewLimiter(newClient(t, addr), ipName, redisstore.WithCallTimeout(testCallTimeout))
		if err != nil {
			t.Fatal(err)
		}
		c, err := chatshipper.NewClient(tok, chatshipper.WithBaseURL(srv.URL), chatshipper.WithLimiter(perKey),
			chatshipper.WithIPLimiter(perIP))
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					if _, _, err := c.Users.Get(t.Context(), srv.Seed.BotUserID, nil); err != nil {
						t.Error(err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if accepted := checkServerLog(t, srv); accepted != 100 {
		t.Errorf("server accepted %d requests, want 100", accepted)
	}
}
