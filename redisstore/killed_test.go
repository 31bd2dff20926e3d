package redisstore_test

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/redisstore"
	"github.com/redis/go-redis/v9"
)

// load runs 3 clients × 8 goroutines, each client with the limiter made by
// newLimiter on its own Redis connection, against srv until stop is closed.
// Errors from Wait are counted by kind; any other error fails the test.
type load struct {
	sent, unavailable atomic.Int64
	wg                sync.WaitGroup
	stop              chan struct{}
}

func startLoad(t *testing.T, srv *chatshippertest.Server, limiters []*redisstore.Limiter) *load {
	t.Helper()
	ld := &load{stop: make(chan struct{})}
	for _, l := range limiters {
		c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithLimiter(l),
			chatshipper.WithMaxRetries(0), chatshipper.WithHTTPClient(&http.Client{Timeout: 30 * time.Second}))
		if err != nil {
			t.Fatal(err)
		}
		for range 8 {
			ld.wg.Add(1)
			go func() {
				defer ld.wg.Done()
				for {
					select {
					case <-ld.stop:
						return
					default:
					}
					// A generous context: Wait must give up on a dead Redis
					// by itself, long before it.
					ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
					_, _, err := c.Users.Get(ctx, srv.Seed.BotUserID, nil)
					cancel()
					switch {
					case err == nil:
						ld.sent.Add(1)
					case errors.Is(err, redisstore.ErrUnavailable):
						ld.unavailable.Add(1)
						time.Sleep(20 * time.Millisecond)
					default:
						t.Errorf("request: %v", err)
						return
					}
				}
			}()
		}
	}
	return ld
}

func (ld *load) finish() { close(ld.stop); ld.wg.Wait() }

func limitersOn(t *testing.T, addr, name string, opts ...redisstore.Option) []*redisstore.Limiter {
	t.Helper()
	limiterInUse(t, newClient(t, addr), name)
	var ls []*redisstore.Limiter
	for range 3 {
		rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: 200 * time.Millisecond, MaxRetries: -1})
		t.Cleanup(func() { _ = rdb.Close() })
		l, err := redisstore.NewLimiter(rdb, name, opts...)
		if err != nil {
			t.Fatal(err)
		}
		// Connect before the run, so that no first dial counts as Redis trouble.
		if err := rdb.Ping(t.Context()).Err(); err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
	}
	return ls
}

// TestRedisKilledFailsClosed: without a fallback, killing Redis mid-run
// makes every Wait fail with ErrUnavailable within the call timeout (1 s
// here, not the caller's 10 s context), no request is sent without a grant, and the
// server's window holds throughout.
func TestRedisKilledFailsClosed(t *testing.T) {
	rs := startRedisServer(t)
	srv := chatshippertest.NewServer(t)
	ls := limitersOn(t, rs.addr(), uniqueName(t), redisstore.WithCallTimeout(time.Second))
	ld := startLoad(t, srv, ls)
	time.Sleep(1500 * time.Millisecond)
	rs.kill()
	before := ld.sent.Load()
	time.Sleep(1500 * time.Millisecond)
	ld.finish()
	if before == 0 {
		t.Fatal("no request was sent before Redis was killed")
	}
	if ld.unavailable.Load() == 0 {
		t.Error("no Wait reported ErrUnavailable after Redis was killed")
	}
	// Requests in flight at the kill may still complete; none starts later.
	if after := ld.sent.Load() - before; after > 24 {
		t.Errorf("%d requests were sent after Redis was killed, want at most the 24 in flight", after)
	}
	checkServerLog(t, srv)
}

// TestRedisKilledFallsBack: with WithFallback(6) in each of 3 processes,
// killing Redis mid-run keeps requests flowing at no more than 18 per window,
// and restarting it brings the limiters back to the shared window, with no
// 429 and no window over the limit in the server's log.
func TestRedisKilledFallsBack(t *testing.T) {
	rs := startRedisServer(t)
	srv := chatshippertest.NewServer(t)
	name := uniqueName(t)
	ls := limitersOn(t, rs.addr(), name, redisstore.WithFallback(6), redisstore.WithCallTimeout(time.Second))
	ld := startLoad(t, srv, ls)
	time.Sleep(1500 * time.Millisecond)
	rs.kill()
	atKill := ld.sent.Load()
	time.Sleep(6 * time.Second) // detection (2 call timeouts), a window and a call timeout of pause, grants
	atRestart := ld.sent.Load()
	rs.start()
	time.Sleep(3500 * time.Millisecond)
	ld.finish()
	if ld.unavailable.Load() != 0 {
		t.Errorf("%d requests failed with ErrUnavailable, want none with a fallback", ld.unavailable.Load())
	}
	if atRestart-atKill == 0 {
		t.Error("no request was sent while Redis was down")
	}
	if ld.sent.Load()-atRestart == 0 {
		t.Error("no request was sent after Redis came back")
	}
	// Back on Redis: the shared window holds the latest grants.
	rdb := newClient(t, rs.addr())
	if n := rdb.ZCard(t.Context(), "chatshipper:limit:{"+name+"}:grants").Val(); n == 0 {
		t.Error("no grant in Redis after it came back: the limiters did not return to it")
	}
	t.Logf("sent: %d before the kill, %d while down, %d after the restart", atKill, atRestart-atKill, ld.sent.Load()-atRestart)
	checkServerLog(t, srv)
}
