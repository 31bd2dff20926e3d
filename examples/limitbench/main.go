// Command limitbench measures the client's request limit where the server
// counts it: it runs the embedded fake server (which allows 20 requests per
// sliding second per API key and per IP address and answers 429 beyond),
// sends requests from two clients of this process with different API keys
// and default settings, as fast as their limiters allow, and prints from the
// server's log:
//
//   - the most requests that arrived in one sliding second (all arrivals,
//     429s included);
//   - the 429 answers;
//   - the accepted requests per second over the run, and the sustained rate
//     after the first window's burst (the requests after the first 20 over
//     the time from the first to the last).
//
// Each setting runs on a quiet machine and then with every core busy: busy
// goroutines in this process (-burn-goroutines) and busy child processes
// (-burn-procs) spinning for the whole run, so that the clients, the server
// and the Go runtime all wait for a CPU, as on a loaded machine.
//
// With -grant it also runs the limiter as it was before slots were held until
// the end of the attempt: the same windows, but counted from the grant.
//
//	go run ./examples/limitbench -d 30s -grant
//
// It never talks to a real account.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

type flags struct {
	d          time.Duration
	workers    int
	goroutines int
	procs      int
	grant      bool
	only       string
}

func run() error {
	var f flags
	flag.DurationVar(&f.d, "d", 20*time.Second, "length of each run")
	flag.IntVar(&f.workers, "w", 8, "goroutines per client")
	flag.IntVar(&f.goroutines, "burn-goroutines", 2*runtime.GOMAXPROCS(0), "busy goroutines in this process during the busy runs")
	flag.IntVar(&f.procs, "burn-procs", 2*runtime.NumCPU(), "busy child processes during the busy runs")
	flag.BoolVar(&f.grant, "grant", false, "also run the limiter counting slots from the grant (the behaviour before)")
	flag.StringVar(&f.only, "only", "", `run only "quiet" or "busy"`)
	burnFor := flag.Duration("burn-child", 0, "spin for this long and exit (set by the parent for its busy child processes)")
	flag.Parse()
	if *burnFor > 0 {
		spin(*burnFor)
		return nil
	}
	if f.d <= 0 || f.workers < 1 || f.goroutines < 0 || f.procs < 0 {
		return errors.New("-d and -w must be positive, -burn-goroutines and -burn-procs not negative")
	}
	fmt.Printf("%s, %d CPUs, GOMAXPROCS %d; 2 clients (2 API keys, one address) x %d goroutines, %s per run\n",
		runtime.Version(), runtime.NumCPU(), runtime.GOMAXPROCS(0), f.workers, f.d)
	modes := []string{"held"}
	if f.grant {
		modes = append(modes, "grant")
	}
	for _, mode := range modes {
		for _, busy := range []bool{false, true} {
			if f.only == "quiet" && busy || f.only == "busy" && !busy {
				continue
			}
			if err := measure(f, mode, busy); err != nil {
				return err
			}
		}
	}
	return nil
}

// spin keeps one CPU busy for d.
func spin(d time.Duration) {
	end := time.Now().Add(d)
	x := uint64(1)
	for time.Now().Before(end) {
		for range 100000 {
			x = x*6364136223846793005 + 1442695040888963407
		}
	}
	if x == 42 {
		fmt.Println(x)
	}
}

// grantOnly hides a WindowLimiter's Acquire, so its slots count from the
// grant: the limiter as it was before.
type grantOnly struct{ l *chatshipper.WindowLimiter }

func (g grantOnly) Wait(ctx context.Context) error { return g.l.Wait(ctx) }
func (g grantOnly) Pause(d time.Duration)          { g.l.Pause(d) }

func measure(f flags, mode string, busy bool) error {
	srv := chatshippertest.NewServer(nil) // 20 requests per sliding second per key and per address
	defer srv.Close()

	var stop func()
	if busy {
		var err error
		if stop, err = burn(f); err != nil {
			return err
		}
		time.Sleep(500 * time.Millisecond) // let the burners get going
	}

	var opts []chatshipper.Option
	if mode == "grant" {
		w := time.Second + chatshipper.DefaultRateLimitMargin
		shared := grantOnly{chatshipper.NewWindowLimiter(chatshipper.DefaultRequestsPerSecond, w)}
		opts = append(opts, chatshipper.WithIPLimiter(shared))
	}
	ctx, cancel := context.WithTimeout(context.Background(), f.d)
	defer cancel()
	var sent, failed atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	start := time.Now()
	for _, tok := range []string{srv.Token, srv.AdminToken} {
		o := append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL)}, opts...)
		if mode == "grant" {
			w := time.Second + chatshipper.DefaultRateLimitMargin
			o = append(o, chatshipper.WithLimiter(grantOnly{chatshipper.NewWindowLimiter(chatshipper.DefaultRequestsPerSecond, w)}))
		}
		c, err := chatshipper.NewClient(tok, o...)
		if err != nil {
			return err
		}
		for range f.workers {
			wg.Go(func() {
				for ctx.Err() == nil {
					_, _, err := c.Users.Get(ctx, srv.Seed.BotUserID, nil)
					switch {
					case err == nil:
						sent.Add(1)
					case ctx.Err() != nil:
					default:
						failed.Add(1)
						once.Do(func() { firstErr = err })
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)
	if stop != nil {
		stop()
	}

	var all []time.Time
	accepted, n429 := 0, 0
	for _, r := range srv.Requests() {
		all = append(all, r.Time)
		switch r.Status {
		case http.StatusTooManyRequests:
			n429++
		case http.StatusOK:
			accepted++
		}
	}
	load := "quiet"
	if busy {
		load = fmt.Sprintf("busy (%d goroutines, %d processes spinning)", f.goroutines, f.procs)
	}
	how := "held until the attempt ends (default)"
	if mode == "grant" {
		how = "counted from the grant (before)"
	}
	fmt.Printf("slots %s, %s:\n  server: %d requests, most in one sliding second: %d, 429s: %d, accepted %.2f/s (sustained %.2f/s); client errors: %d\n",
		how, load, len(all), mostInWindow(all, time.Second), n429, float64(accepted)/elapsed.Seconds(), sustained(all), failed.Load())
	if firstErr != nil && !strings.Contains(firstErr.Error(), "429") {
		fmt.Printf("  first error: %v\n", firstErr)
	}
	return nil
}

// burn starts the busy goroutines and child processes; stop ends them.
func burn(f flags) (stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	for range f.goroutines {
		wg.Go(func() {
			x := uint64(1)
			for {
				select {
				case <-done:
					if x == 42 {
						fmt.Println(x)
					}
					return
				default:
				}
				for range 100000 {
					x = x*6364136223846793005 + 1442695040888963407
				}
			}
		})
	}
	var cmds []*exec.Cmd
	for range f.procs {
		// Each child spins a little longer than the run and is killed
		// when it ends.
		cmd := exec.Command(self, "-burn-child", (f.d + 10*time.Second).String()) //nolint:gosec // this program itself
		cmd.Env = append(os.Environ(), "GOMAXPROCS=1")
		if err := cmd.Start(); err != nil {
			close(done)
			return nil, err
		}
		cmds = append(cmds, cmd)
	}
	return func() {
		close(done)
		wg.Wait()
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}, nil
}

// sustained is the rate after the first window's burst: the requests after
// the first 20 over the time from the first request to the last.
func sustained(times []time.Time) float64 {
	n := chatshipper.DefaultRequestsPerSecond
	if len(times) <= n {
		return 0
	}
	times = slices.Clone(times)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	return float64(len(times)-n) / times[len(times)-1].Sub(times[0]).Seconds()
}

// mostInWindow returns the most times in any half-open window of length w.
func mostInWindow(times []time.Time, w time.Duration) int {
	times = slices.Clone(times)
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
