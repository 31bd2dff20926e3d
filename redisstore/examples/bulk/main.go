// Command bulk runs the bulk sender as several processes that share one
// API token and one Redis: each process sends its messages through a
// [redisstore.Limiter], so together they stay under the server's 20
// requests per second.
//
// Without CHATSHIPPER_TOKEN it starts the embedded fake ChatShipper server
// (which enforces 20 requests in any sliding second), spawns -procs child
// processes of itself against it, and checks the server's log: every
// request, the 429s, and the most requests seen in one sliding second.
//
//	go run ./examples/bulk -redis 127.0.0.1:6379 -procs 3 -m 60 -k 10
//
// With CHATSHIPPER_TOKEN (and optionally CHATSHIPPER_BASE_URL) set it is one
// such process against a real account: start it several times at once.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/redisstore"
	"github.com/redis/go-redis/v9"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

type flags struct {
	redisAddr string
	procs     int
	m, k, w   int
	window    time.Duration
	child     bool
}

func run() error {
	var f flags
	flag.StringVar(&f.redisAddr, "redis", "127.0.0.1:6379", "Redis address shared by the processes")
	flag.IntVar(&f.procs, "procs", 3, "processes to start (fake server mode)")
	flag.IntVar(&f.m, "m", 60, "messages each process sends")
	flag.IntVar(&f.k, "k", 10, "conversations each process spreads its messages over")
	flag.IntVar(&f.w, "w", 8, "concurrent workers per process")
	flag.DurationVar(&f.window, "window", time.Second+chatshipper.DefaultRateLimitMargin, "the limiter's window for 20 requests")
	flag.BoolVar(&f.child, "child", false, "run as one sending process (set by the parent)")
	flag.Parse()
	if f.procs < 1 || f.m < 1 || f.k < 1 || f.w < 1 {
		return errors.New("-procs, -m, -k and -w must be at least 1")
	}
	if f.child || os.Getenv("CHATSHIPPER_TOKEN") != "" {
		return send(f)
	}
	return parent(f)
}

// parent starts the fake server and the child processes, then checks the
// server's log.
func parent(f flags) error {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	fmt.Printf("fake ChatShipper server at %s (20 requests per sliding second); %d processes share Redis at %s\n",
		srv.URL, f.procs, f.redisAddr)
	self, err := os.Executable()
	if err != nil {
		return err
	}
	start := time.Now()
	var wg sync.WaitGroup
	errs := make([]error, f.procs)
	for i := range f.procs {
		args := []string{"-child", "-redis", f.redisAddr, "-m", strconv.Itoa(f.m), "-k", strconv.Itoa(f.k),
			"-w", strconv.Itoa(f.w), "-window", f.window.String()}
		cmd := exec.Command(self, args...) //nolint:gosec // this program itself, with its own flags
		cmd.Env = append(os.Environ(), "CHATSHIPPER_TOKEN="+srv.Token, "CHATSHIPPER_BASE_URL="+srv.URL)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		wg.Add(1)
		go func() { defer wg.Done(); errs[i] = cmd.Wait() }()
	}
	wg.Wait()
	elapsed := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("a process failed: %w", err)
	}

	var times []time.Time
	n429 := 0
	for _, r := range srv.Requests() {
		if r.Status == http.StatusTooManyRequests {
			n429++
		}
		times = append(times, r.Time)
	}
	most := mostInWindow(times, time.Second)
	fmt.Printf("server: %d requests in %s = %.1f requests/second, 429s: %d, most in one sliding second: %d\n",
		len(times), elapsed.Round(time.Millisecond), float64(len(times))/elapsed.Seconds(), n429, most)
	if n429 > 0 || most > chatshipper.DefaultRequestsPerSecond {
		return errors.New("the processes together exceeded the server's limit")
	}
	return nil
}

// mostInWindow returns the most times in any window of length w.
func mostInWindow(times []time.Time, w time.Duration) int {
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range times {
		for times[i].Sub(times[j]) >= w {
			j++
		}
		most = max(most, i-j+1)
	}
	return most
}

// send is one process: a client whose limiter is shared through Redis,
// sending f.m messages over f.k conversations with f.w workers.
func send(f flags) error {
	token := os.Getenv("CHATSHIPPER_TOKEN")
	rdb := redis.NewClient(&redis.Options{Addr: f.redisAddr})
	defer func() { _ = rdb.Close() }()
	// The limiter's name identifies the token's owner, never the token.
	lim, err := redisstore.NewLimiter(rdb, redisstore.TokenName(token),
		redisstore.WithLimit(chatshipper.DefaultRequestsPerSecond, f.window))
	if err != nil {
		return err
	}
	opts := []chatshipper.Option{chatshipper.WithLimiter(lim)}
	if base := os.Getenv("CHATSHIPPER_BASE_URL"); base != "" {
		opts = append(opts, chatshipper.WithBaseURL(base))
	}
	c, err := chatshipper.NewClient(token, opts...)
	if err != nil {
		return err
	}
	ctx := context.Background()
	convs := make([]string, f.k)
	for i := range convs {
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprintf("bulk %d from process %d", i, os.Getpid())})
		if err != nil {
			return fmt.Errorf("creating conversations: %w", err)
		}
		convs[i] = conv.ID
	}
	jobs := make(chan int)
	var sent, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	for range f.w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if _, _, err := c.Conversations.Send(ctx, convs[i%len(convs)], chatshipper.Chat(fmt.Sprintf("bulk message %d", i))); err != nil {
					failed.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				sent.Add(1)
			}
		}()
	}
	start := time.Now()
	for i := range f.m {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	fmt.Printf("process %d: %d messages sent in %s, %d errors\n", os.Getpid(), sent.Load(), time.Since(start).Round(time.Millisecond), failed.Load())
	return firstErr
}
