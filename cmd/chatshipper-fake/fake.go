package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// fake holds the running chatshippertest server; a reset swaps in a new
// one built the same way, so nothing of the old one survives.
type fake struct {
	cfg     *config
	opts    []chatshippertest.Option
	profile string
	seed    *chatshippertest.SeedFile
	clk     *clock
	base    string // "http://127.0.0.1:8026"
	control http.Handler

	ctx    context.Context // ends when the command stops: ends the control API's long polls
	cancel context.CancelFunc

	resetMu sync.Mutex // one reset at a time
	cur     atomic.Pointer[instance]
}

// instance is one server and what its seed file stored.
type instance struct {
	srv    *chatshippertest.Server
	seeded *chatshippertest.SeedFileResult
}

// newFake reads the seed file and builds the options; the flags were
// checked by parseFlags (cfg comes from it). Nothing listens yet.
func newFake(cfg *config) (*fake, error) {
	p := cfg.prof
	clk := newClock(cfg.start, cfg.clockSkew, cfg.frozen)
	f := &fake{cfg: cfg, profile: p.String(), clk: clk}
	if cfg.seedFile != "" {
		data, err := os.ReadFile(cfg.seedFile) //nolint:gosec // G703: the file the user named on the command line, by design
		if err != nil {
			return nil, err
		}
		if f.seed, err = chatshippertest.ParseSeedFile(data); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.seedFile, err)
		}
	}
	f.opts = []chatshippertest.Option{
		chatshippertest.WithClock(clk.now),
		chatshippertest.WithSeed(cfg.randSeed),
		chatshippertest.WithRateLimit(cfg.rateLimit),
		chatshippertest.WithLoopLimits(cfg.identical, cfg.identWin, cfg.consecutive, cfg.consecWin),
		chatshippertest.WithTokenTTL(cfg.tokenTTL),
		chatshippertest.WithWebhookRetry(cfg.hookRetry, cfg.hookTries),
		p.Option, // last: a profile overrides the flags (per-ip-limit, clock skews)
	}
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.control = f.controlMux()
	return f, nil
}

// start builds the first server for the API at base and applies the seed
// file and the -fault flags. A seed file that does not fit the server (an
// unknown reference, an e-mail address in use) fails here, storing nothing.
func (f *fake) start(base string) error {
	f.base = base
	in, err := f.build()
	if err != nil {
		return err
	}
	f.cur.Store(in)
	return nil
}

func (f *fake) build() (*instance, error) {
	srv, err := newServer(f.opts)
	if err != nil {
		return nil, err
	}
	srv.URL = f.base + "/v2/" // the in-process server's URL, made the listener's
	in := &instance{srv: srv}
	if f.seed != nil {
		if in.seeded, err = srv.LoadSeedFile(f.seed); err != nil {
			srv.Close()
			return nil, fmt.Errorf("%s: %w", f.cfg.seedFile, err)
		}
	}
	for _, spec := range f.cfg.faults {
		if err := injectFault(srv, spec); err != nil {
			srv.Close()
			return nil, fmt.Errorf("-fault: %w", err)
		}
	}
	return in, nil
}

// newServer builds a server that listens on nothing (the command serves it);
// an option the package refuses is an error, not a panic.
func newServer(opts []chatshippertest.Option) (srv *chatshippertest.Server, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = fmt.Errorf("%v", v)
		}
	}()
	return chatshippertest.NewInProcessServer(nil, opts...), nil
}

// reset replaces the server with a fresh one and puts the clock back.
func (f *fake) reset() error {
	f.resetMu.Lock()
	defer f.resetMu.Unlock()
	f.clk.reset()
	in, err := f.build()
	if err != nil {
		return err
	}
	old := f.cur.Swap(in)
	old.srv.Close()
	return nil
}

// close stops the current server's webhook deliveries and Delay faults and
// ends the control API's long polls.
func (f *fake) close() {
	f.cancel()
	if in := f.cur.Load(); in != nil {
		in.srv.Close()
	}
}

// endPolls ends the control API's long polls, leaving the server running.
func (f *fake) endPolls() { f.cancel() }

// ServeHTTP serves the control API under /_fake/ and the fake API elsewhere.
func (f *fake) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_fake" || strings.HasPrefix(r.URL.Path, "/_fake/") {
		f.control.ServeHTTP(w, r)
		return
	}
	f.cur.Load().srv.ServeHTTP(w, r)
}

// clock is the fake's time: a base that runs with the wall clock unless
// frozen. The control API sets, advances and freezes it; reset restores it.
// It only says what time the fake shows (timestamps, tokens, the Date
// header, the loop limits' windows): the request-rate windows of the
// package count real time, whatever this clock does.
type clock struct {
	mu       sync.Mutex
	base     time.Time // the fake's time at wall
	wall     time.Time // when base was set (monotonic)
	frozen   bool
	start    time.Time // -clock-start; zero: now
	skew     time.Duration
	frozen0  bool
	fromWall bool // start from the wall clock (no -clock-start)
}

func newClock(start time.Time, skew time.Duration, frozen bool) *clock {
	c := &clock{start: start, skew: skew, frozen0: frozen, fromWall: start.IsZero()}
	c.reset()
	return c
}

// The clock stays within the years an ISO 8601 timestamp (and the Date
// header) can show, 0000 to 9999, with the last year kept free: the clock
// runs, and a token issued at its time expires up to 30 days later.
var (
	minClock = time.Date(0, time.January, 1, 0, 0, 0, 0, time.UTC)
	maxClock = time.Date(9999, time.January, 1, 0, 0, 0, 0, time.UTC) // excluded
)

// checkClockTime refuses a time the fake's clock may not show.
func checkClockTime(t time.Time) error {
	if t.Before(minClock) || !t.Before(maxClock) {
		return fmt.Errorf("%s is outside the years 0000 to 9998 the fake's clock may show (timestamps have four-digit years, and tokens issued in 9999 would expire in year 10000)",
			t.UTC().Format(time.RFC3339Nano))
	}
	return nil
}

func (c *clock) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wall = time.Now()
	c.base = c.start
	if c.fromWall {
		c.base = c.wall.Add(c.skew)
	}
	c.frozen = c.frozen0
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked()
}

func (c *clock) nowLocked() time.Time {
	if c.frozen {
		return c.base
	}
	return c.base.Add(time.Since(c.wall))
}

// set moves the clock to t and sets whether it stands still; a time the
// clock may not show (checkClockTime) is refused and changes nothing.
func (c *clock) set(t time.Time, frozen bool) error {
	if err := checkClockTime(t); err != nil {
		return err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.base, c.wall, c.frozen = t, time.Now(), frozen
	return nil
}

// state returns the time and whether the clock stands still.
func (c *clock) state() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nowLocked(), c.frozen
}
