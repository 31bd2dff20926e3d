package redisstore_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// addrEnv names the Redis the tests use, e.g. 127.0.0.1:6390 (.ci/run
// starts one). Without it the tests that need Redis are skipped, except in
// CI (CI=true), where they fail.
const addrEnv = "CHATSHIPPER_REDIS_ADDR"

// redisAddr returns the test Redis address, skipping (or, in CI, failing)
// when none is configured.
func redisAddr(t testing.TB) string {
	t.Helper()
	addr := os.Getenv(addrEnv)
	if addr == "" {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s is not set: CI must run the Redis tests (.ci/run starts redis-server)", addrEnv)
		}
		t.Skipf("%s is not set: start redis-server (for example on 127.0.0.1:6390) and set it to run the Redis tests", addrEnv)
	}
	return addr
}

// newClient returns a go-redis client for addr, closed at the end of the test.
func newClient(t testing.TB, addr string) *redis.Client {
	t.Helper()
	rdb := redis.NewClient(&redis.Options{Addr: addr, DialTimeout: time.Second, PoolSize: 16})
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// testRedis returns a client of the test Redis after checking it answers.
func testRedis(t testing.TB) *redis.Client {
	t.Helper()
	rdb := newClient(t, redisAddr(t))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("Redis at %s does not answer: %v", os.Getenv(addrEnv), err)
	}
	return rdb
}

// uniqueName returns a key name no other test (or earlier run) uses.
func uniqueName(t testing.TB) string {
	return fmt.Sprintf("test-%s-%d", t.Name(), time.Now().UnixNano())
}

// redisServer is a redis-server process owned by one test.
type redisServer struct {
	t    testing.TB
	port int
	cmd  *exec.Cmd
}

// startRedisServer starts a dedicated redis-server on a free loopback port
// (skipped when the binary is missing, failing in CI).
func startRedisServer(t testing.TB) *redisServer {
	t.Helper()
	redisAddr(t) // same skip rule as the shared server
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Fatalf("redis-server not found: %v", err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	_ = l.Close()
	s := &redisServer{t: t, port: port}
	s.start()
	t.Cleanup(s.kill)
	return s
}

func (s *redisServer) addr() string { return "127.0.0.1:" + strconv.Itoa(s.port) }

func (s *redisServer) start() {
	s.t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--loglevel", "warning")
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr(), 100*time.Millisecond)
		if err == nil {
			_ = c.Close()
			return
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("redis-server on %s did not start: %v", s.addr(), err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill ends the server with SIGKILL, by its process ID, as a crash would.
func (s *redisServer) kill() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	_ = s.cmd.Wait()
	s.cmd = nil
}

// requireAtMostNPerWindow fails when more than n of the times fall in some
// window of length window (a time t leaves the window at t+window).
func requireAtMostNPerWindow(t testing.TB, times []time.Time, n int, window time.Duration) {
	t.Helper()
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	for i := n; i < len(ts); i++ {
		if d := ts[i].Sub(ts[i-n]); d < window {
			t.Fatalf("%d requests within %s (requests %d..%d, from %s to %s); at most %d allowed",
				n+1, d, i-n, i, ts[i-n].Format("15:04:05.000"), ts[i].Format("15:04:05.000"), n)
		}
	}
}

// limiterInUse makes name look like a limiter name in use before (its marker
// present, no grant inside the window), so that a test about something else
// does not wait out the one window that a first use holds (a first use
// cannot be told from lost keys).
func limiterInUse(t testing.TB, rdb *redis.Client, name string) {
	t.Helper()
	if err := rdb.Set(context.Background(), "chatshipper:limit:{"+name+"}:marker", "1", time.Hour).Err(); err != nil {
		t.Fatal(err)
	}
}
