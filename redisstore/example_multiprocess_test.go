package redisstore_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExampleBulkMultiProcess runs the example as separate processes: the
// parent starts the fake server (20 requests per sliding second) and 3
// child processes sharing one Redis and one token; it fails on any 429 or
// more than 20 requests in one sliding second of the server's log.
func TestExampleBulkMultiProcess(t *testing.T) {
	addr := redisAddr(t)
	bin := filepath.Join(t.TempDir(), "bulk")
	build := exec.Command("go", "build", "-o", bin, "./examples/bulk")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/bulk: %v\n%s", err, out)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	// The default window: each slot counts from the end of its request
	// (the client's Acquire), so the time from grant to arrival, however it
	// varies on a loaded machine, cannot squeeze a 21st request into the
	// server's second. The throughput is checked by
	// TestLimiterSharedAcrossClients.
	cmd := exec.CommandContext(ctx, bin, "-redis", addr, "-procs", "3", "-m", "30", "-k", "5")
	cmd.Env = withoutToken(os.Environ())
	out, err := cmd.CombinedOutput()
	t.Logf("%s", out)
	if err != nil {
		t.Fatalf("the example failed: %v", err)
	}
	if !strings.Contains(string(out), "429s: 0,") || strings.Count(string(out), "30 messages sent") != 3 {
		t.Fatalf("the example's output lacks 3 processes with 30 messages each and no 429")
	}
}

// withoutToken drops CHATSHIPPER_TOKEN and CHATSHIPPER_BASE_URL, so the
// example starts its fake server.
func withoutToken(env []string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, "CHATSHIPPER_TOKEN=") && !strings.HasPrefix(kv, "CHATSHIPPER_BASE_URL=") {
			out = append(out, kv)
		}
	}
	return out
}
