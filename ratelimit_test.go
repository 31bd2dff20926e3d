package chatshipper

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var (
	_ Limiter = (*WindowLimiter)(nil)
	_ Pauser  = (*WindowLimiter)(nil)
)

// grantLog collects the times at which Wait returned nil.
type grantLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (g *grantLog) add(t time.Time) {
	g.mu.Lock()
	g.times = append(g.times, t)
	g.mu.Unlock()
}

func (g *grantLog) sorted() []time.Time {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := slices.Clone(g.times)
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return out
}

// requireAtMostNPerWindow checks that no half-open window [s, s+w) holds more
// than n of the times: once sorted, the (i+n)th is at least w after the ith.
func requireAtMostNPerWindow(t *testing.T, times []time.Time, n int, w time.Duration) {
	t.Helper()
	times = slices.Clone(times)
	slices.SortFunc(times, func(a, b time.Time) int { return a.Compare(b) })
	for i := 0; i+n < len(times); i++ {
		if gap := times[i+n].Sub(times[i]); gap < w {
			require.Failf(t, "window overfilled", "grants %d and %d are %v apart, want >= %v", i, i+n, gap, w)
		}
	}
}

// hammer runs workers goroutines that each call Wait perWorker times, sleeping
// a pseudo-random think time below maxThink (if > 0) before each call.
func hammer(t *testing.T, l *WindowLimiter, workers, perWorker int, maxThink time.Duration) *grantLog {
	t.Helper()
	var log grantLog
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(1, uint64(g)))
			for range perWorker {
				if maxThink > 0 {
					time.Sleep(time.Duration(rng.Int64N(int64(maxThink))))
				}
				if !assert.NoError(t, l.Wait(context.Background())) {
					return
				}
				log.add(time.Now())
			}
		})
	}
	wg.Wait()
	return &log
}

func TestWindowLimiterNeverMoreThanNInAnyWindow(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		n         int
		window    time.Duration
		workers   int
		perWorker int
		maxThink  time.Duration
	}{
		{"server default, hungry", DefaultRequestsPerSecond, time.Second + DefaultRateLimitMargin, 64, 20, 0},
		{"server default, jittered arrivals", 20, 1025 * time.Millisecond, 64, 20, 700 * time.Millisecond},
		{"one per window", 1, 100 * time.Millisecond, 64, 3, 0},
		{"odd sizes, jittered", 7, 333 * time.Millisecond, 64, 10, 50 * time.Millisecond},
		{"above exact threshold (merged records)", 2000, time.Second, 64, 100, 20 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := NewWindowLimiter(tt.n, tt.window)
				times := hammer(t, l, tt.workers, tt.perWorker, tt.maxThink).sorted()
				require.Len(t, times, tt.workers*tt.perWorker)
				requireAtMostNPerWindow(t, times, tt.n, tt.window)

				l.mu.Lock()
				defer l.mu.Unlock()
				assert.Zero(t, l.waiters.Len(), "queue drained")
				assert.False(t, l.armed, "timer stopped once nobody waits")
			})
		})
	}
}

func TestWindowLimiterSteadyStateThroughput(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		n       int
		window  time.Duration
		workers int
		windows int
	}{
		{"server default", 20, 1025 * time.Millisecond, 64, 32},
		{"one per window", 1, time.Second, 8, 16},
		{"merged records", 2000, time.Second, 64, 4},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				l := NewWindowLimiter(tt.n, tt.window)
				total := tt.n * tt.windows
				require.Zero(t, total%tt.workers, "test table: total must split evenly")
				times := hammer(t, l, tt.workers, total/tt.workers, 0).sorted()
				require.Len(t, times, total)
				// Hungry callers get exactly n slots at the start of each
				// window and none in between.
				for i, at := range times {
					want := start.Add(time.Duration(i/tt.n) * tt.window)
					if !at.Equal(want) {
						require.Failf(t, "grant time", "grant %d at %v, want %v", i, at.Sub(start), want.Sub(start))
					}
				}
			})
		})
	}
}

func TestWindowLimiterSteadyStatePacedCaller(t *testing.T) {
	t.Parallel()
	// One caller asking every 10 ms (faster than 20 per 1.025 s) gets exactly
	// 20 slots per window over a long run.
	synctest.Test(t, func(t *testing.T) {
		const n, w = 20, 1025 * time.Millisecond
		start := time.Now()
		l := NewWindowLimiter(n, w)
		var times []time.Time
		for time.Since(start) < 10*w {
			require.NoError(t, l.Wait(context.Background()))
			times = append(times, time.Now())
			time.Sleep(10 * time.Millisecond)
		}
		inFirstTen := 0
		for _, at := range times {
			if at.Before(start.Add(10 * w)) {
				inFirstTen++
			}
		}
		assert.Equal(t, 10*n, inFirstTen)
		requireAtMostNPerWindow(t, times, n, w)
	})
}

func TestWindowLimiterFIFO(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		n       int
		window  time.Duration
		waiters int
	}{
		{"one slot", 1, time.Second, 10},
		{"three slots", 3, time.Second, 10},
		{"merged records", 1500, time.Second, 4000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				l := NewWindowLimiter(tt.n, tt.window)
				for range tt.n {
					require.NoError(t, l.Wait(context.Background()))
				}
				got := make([]time.Duration, tt.waiters)
				var wg sync.WaitGroup
				for i := range tt.waiters {
					wg.Go(func() {
						assert.NoError(t, l.Wait(context.Background()))
						got[i] = time.Since(start)
					})
					synctest.Wait() // i is queued before i+1 arrives
				}
				wg.Wait()
				for i, at := range got {
					want := time.Duration(i/tt.n+1) * tt.window
					if at != want {
						require.Failf(t, "grant order", "waiter %d granted at %v, want %v", i, at, want)
					}
				}
			})
		})
	}
}

func TestWindowLimiterNewcomerDoesNotOvertakeQueue(t *testing.T) {
	t.Parallel()
	// When B arrives at the very instant A's slot frees, B's call and the
	// limiter's timer run in either order; repeat so both orders occur. A must
	// go first either way, and B waits for the next window.
	for _, arriveAt := range []time.Duration{500 * time.Millisecond, time.Second} {
		t.Run(arriveAt.String(), func(t *testing.T) {
			t.Parallel()
			for range 20 {
				synctest.Test(t, func(t *testing.T) {
					start := time.Now()
					l := NewWindowLimiter(1, time.Second)
					require.NoError(t, l.Wait(context.Background()))
					var a, b time.Duration
					var wg sync.WaitGroup
					wg.Go(func() {
						assert.NoError(t, l.Wait(context.Background()))
						a = time.Since(start)
					})
					synctest.Wait()
					wg.Go(func() {
						time.Sleep(arriveAt)
						assert.NoError(t, l.Wait(context.Background()))
						b = time.Since(start)
					})
					wg.Wait()
					assert.Equal(t, time.Second, a)
					assert.Equal(t, 2*time.Second, b)
				})
			}
		})
	}
}

func TestWindowLimiterCancel(t *testing.T) {
	t.Parallel()
	type waiterSpec struct {
		timeout time.Duration // 0: never
		wantAt  time.Duration // when Wait returns
		wantErr error
	}
	tests := []struct {
		name    string
		waiters []waiterSpec
	}{
		{"deadline of the only waiter", []waiterSpec{
			{timeout: 300 * time.Millisecond, wantAt: 300 * time.Millisecond, wantErr: context.DeadlineExceeded},
		}},
		{"first waiter gives its slot to the next", []waiterSpec{
			{timeout: 300 * time.Millisecond, wantAt: 300 * time.Millisecond, wantErr: context.DeadlineExceeded},
			{wantAt: time.Second},
			{wantAt: 2 * time.Second},
		}},
		{"middle waiter gives its slot to the next", []waiterSpec{
			{wantAt: time.Second},
			{timeout: 1500 * time.Millisecond, wantAt: 1500 * time.Millisecond, wantErr: context.DeadlineExceeded},
			{wantAt: 2 * time.Second},
		}},
		{"last waiter leaves", []waiterSpec{
			{wantAt: time.Second},
			{timeout: 200 * time.Millisecond, wantAt: 200 * time.Millisecond, wantErr: context.DeadlineExceeded},
		}},
		{"all leave", []waiterSpec{
			{timeout: 200 * time.Millisecond, wantAt: 200 * time.Millisecond, wantErr: context.DeadlineExceeded},
			{timeout: 100 * time.Millisecond, wantAt: 100 * time.Millisecond, wantErr: context.DeadlineExceeded},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				l := NewWindowLimiter(1, time.Second)
				require.NoError(t, l.Wait(context.Background()))
				var wg sync.WaitGroup
				for i, ws := range tt.waiters {
					wg.Go(func() {
						ctx := context.Background()
						if ws.timeout > 0 {
							var cancel context.CancelFunc
							ctx, cancel = context.WithTimeout(ctx, ws.timeout)
							defer cancel()
						}
						err := l.Wait(ctx)
						assert.Equal(t, ws.wantAt, time.Since(start), "waiter %d returned", i)
						if ws.wantErr == nil {
							assert.NoError(t, err, "waiter %d", i)
						} else {
							assert.ErrorIs(t, err, ws.wantErr, "waiter %d", i)
							assert.ErrorIs(t, err, ctx.Err(), "waiter %d returns ctx.Err()", i)
						}
					})
					synctest.Wait()
				}
				wg.Wait()
				// Nothing was lost: the window frees 1 s after the last grant.
				l.mu.Lock()
				assert.Zero(t, l.waiters.Len())
				assert.False(t, l.armed)
				l.mu.Unlock()
			})
		})
	}
}

func TestWindowLimiterCancelExplicit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := NewWindowLimiter(1, time.Second)
		require.NoError(t, l.Wait(context.Background()))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() { done <- l.Wait(ctx) }()
		time.Sleep(400 * time.Millisecond)
		cancel()
		err := <-done
		require.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 400*time.Millisecond, time.Since(start))
		// The cancelled waiter took nothing: the next slot is still at 1 s.
		require.NoError(t, l.Wait(context.Background()))
		assert.Equal(t, time.Second, time.Since(start))
	})
}

func TestWindowLimiterContextAlreadyDone(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := NewWindowLimiter(1, time.Second)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, l.Wait(ctx), context.Canceled)
		// No slot was taken by the refused call.
		require.NoError(t, l.Wait(context.Background()))
		assert.Equal(t, time.Duration(0), time.Since(start))
	})
}

func TestWindowLimiterPauseStopsEveryone(t *testing.T) {
	t.Parallel()
	// 64 goroutines keep asking; a 429 at 2.5 s pauses all of them for 30 s.
	synctest.Test(t, func(t *testing.T) {
		const n, w = 20, time.Second
		start := time.Now()
		l := NewWindowLimiter(n, w)
		var log *grantLog
		done := make(chan struct{})
		go func() {
			log = hammer(t, l, 64, 5, 0)
			close(done)
		}()
		time.Sleep(2500 * time.Millisecond)
		l.Pause(30 * time.Second)
		<-done

		times := log.sorted()
		require.Len(t, times, 320)
		for i, at := range times {
			var want time.Duration
			if k := i / n; k < 3 {
				want = time.Duration(k) * w // 0 s, 1 s, 2 s before the pause
			} else {
				want = 32500*time.Millisecond + time.Duration(k-3)*w
			}
			if got := at.Sub(start); got != want {
				require.Failf(t, "grant time", "grant %d at %v, want %v", i, got, want)
			}
		}
	})
}

func TestWindowLimiterPause(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		n      int
		taken  int                    // slots taken at start
		pauses func(l *WindowLimiter) // run at start
		later  func(l *WindowLimiter) // run at 500 ms, while the waiter sleeps
		wantAt time.Duration          // when the next Wait returns
	}{
		{name: "idle limiter waits out the pause", n: 5,
			pauses: func(l *WindowLimiter) { l.Pause(5 * time.Second) }, wantAt: 5 * time.Second},
		{name: "shorter pause does not shorten", n: 5,
			pauses: func(l *WindowLimiter) { l.Pause(30 * time.Second); l.Pause(time.Second) }, wantAt: 30 * time.Second},
		{name: "zero and negative pauses do nothing", n: 5,
			pauses: func(l *WindowLimiter) { l.Pause(0); l.Pause(-time.Hour) }, wantAt: 0},
		{name: "pause shorter than the window changes nothing", n: 1, taken: 1,
			pauses: func(l *WindowLimiter) { l.Pause(200 * time.Millisecond) }, wantAt: time.Second},
		{name: "pause delays a waiter already sleeping", n: 1, taken: 1,
			later: func(l *WindowLimiter) { l.Pause(3 * time.Second) }, wantAt: 3500 * time.Millisecond},
		{name: "later pause extends an earlier one", n: 1,
			pauses: func(l *WindowLimiter) { l.Pause(time.Second) },
			later:  func(l *WindowLimiter) { l.Pause(2 * time.Second) }, wantAt: 2500 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				l := NewWindowLimiter(tt.n, time.Second)
				for range tt.taken {
					require.NoError(t, l.Wait(context.Background()))
				}
				if tt.pauses != nil {
					tt.pauses(l)
				}
				done := make(chan error, 1)
				go func() { done <- l.Wait(context.Background()) }()
				if tt.later != nil {
					time.Sleep(500 * time.Millisecond)
					tt.later(l)
				}
				require.NoError(t, <-done)
				assert.Equal(t, tt.wantAt, time.Since(start))
			})
		})
	}
}

func TestWindowLimiterHugePause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := NewWindowLimiter(1, time.Second)
		l.Pause(math.MaxInt64) // must not overflow into the past
		ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
		defer cancel()
		require.ErrorIs(t, l.Wait(ctx), context.DeadlineExceeded)
		assert.Equal(t, time.Hour, time.Since(start))
	})
}

func TestNewWindowLimiterClamps(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		l        func() *WindowLimiter
		waits    int
		wantLast time.Duration // when the last of waits is granted
	}{
		{"n zero counts as one", func() *WindowLimiter { return NewWindowLimiter(0, time.Second) }, 3, 2 * time.Second},
		{"n negative counts as one", func() *WindowLimiter { return NewWindowLimiter(-7, time.Second) }, 3, 2 * time.Second},
		{"zero window never blocks", func() *WindowLimiter { return NewWindowLimiter(1, 0) }, 1000, 0},
		{"negative window never blocks", func() *WindowLimiter { return NewWindowLimiter(1, -time.Second) }, 1000, 0},
		{"zero value never blocks", func() *WindowLimiter { return new(WindowLimiter) }, 1000, 0},
		{"the client's default adds the margin", func() *WindowLimiter {
			return NewWindowLimiter(DefaultRequestsPerSecond, time.Second+DefaultRateLimitMargin)
		}, 41, 2050 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				l := tt.l()
				for range tt.waits {
					require.NoError(t, l.Wait(context.Background()))
				}
				assert.Equal(t, tt.wantLast, time.Since(start))
			})
		})
	}
}

func TestWindowLimiterZeroValuePause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		var l WindowLimiter
		l.Pause(3 * time.Second)
		require.NoError(t, l.Wait(context.Background()))
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

func TestWindowLimiterStress(t *testing.T) {
	t.Parallel()
	// Callers with random think times and random deadlines, and random pauses:
	// the window holds, every call returns, and nothing is left queued.
	for _, tc := range []struct {
		n     int
		think time.Duration
	}{{3, 30 * time.Millisecond}, {20, 30 * time.Millisecond}, {1100, 3 * time.Millisecond}} {
		n := tc.n
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				const w = 250 * time.Millisecond
				l := NewWindowLimiter(n, w)
				var log grantLog
				var cancelled atomic.Int64
				var wg sync.WaitGroup
				const workers, calls = 64, 40
				for g := range workers {
					wg.Go(func() {
						rng := rand.New(rand.NewPCG(7, uint64(g)))
						for range calls {
							time.Sleep(time.Duration(rng.Int64N(int64(tc.think))))
							ctx, cancel := context.WithTimeout(context.Background(), time.Duration(rng.Int64N(int64(2*w))))
							err := l.Wait(ctx)
							cancel()
							if err != nil {
								assert.ErrorIs(t, err, context.DeadlineExceeded)
								cancelled.Add(1)
								continue
							}
							log.add(time.Now())
						}
					})
				}
				wg.Go(func() {
					rng := rand.New(rand.NewPCG(9, 9))
					for range 5 {
						time.Sleep(time.Duration(rng.Int64N(int64(time.Second))))
						l.Pause(time.Duration(rng.Int64N(int64(w))))
					}
				})
				wg.Wait()
				times := log.sorted()
				assert.Equal(t, workers*calls, len(times)+int(cancelled.Load()))
				assert.NotZero(t, len(times))
				assert.NotZero(t, cancelled.Load())
				requireAtMostNPerWindow(t, times, n, w)
				l.mu.Lock()
				defer l.mu.Unlock()
				assert.Zero(t, l.waiters.Len())
				assert.False(t, l.armed)
			})
		})
	}
}

func TestWindowLimiterRecordsAreBounded(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		n          int
		maxRecords int
	}{
		{"exact: one record per grant, at most n", 20, 20},
		{"merged: about one record per window/1024", 1 << 20, exactGrants + 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				l := NewWindowLimiter(tt.n, time.Second)
				most := 0
				for range 5000 {
					require.NoError(t, l.Wait(context.Background()))
					l.mu.Lock()
					most = max(most, l.grants.len())
					l.mu.Unlock()
					time.Sleep(300 * time.Microsecond)
				}
				assert.LessOrEqual(t, most, tt.maxRecords)
			})
		})
	}
}

func BenchmarkWindowLimiterWaitFarFromLimit(b *testing.B) {
	l := NewWindowLimiter(math.MaxInt, time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := l.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkWindowLimiterWaitFarFromLimitParallel(b *testing.B) {
	l := NewWindowLimiter(math.MaxInt, time.Second)
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := l.Wait(ctx); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

var _ SlotLimiter = (*WindowLimiter)(nil)

// A slot taken with Acquire is in use until done and counts from done;
// done(false) gives it back at once; only the first done counts.
func TestWindowLimiterAcquire(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		n      int
		use    func(l *WindowLimiter) // at 0, after the first Acquire returned done
		wantAt time.Duration          // when a second Acquire is granted
	}{
		{"done after 300ms counts from then", 1, nil, 1300 * time.Millisecond},
		{"done(false) gives the slot back", 1, func(*WindowLimiter) {}, 0},
		{"Wait counts from the grant", 1, func(l *WindowLimiter) {
			require.NoError(t, l.Wait(context.Background()))
		}, time.Second},
		{"a free slot needs no done", 2, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				l := NewWindowLimiter(tt.n, time.Second)
				done, err := l.Acquire(context.Background())
				require.NoError(t, err)
				var wg sync.WaitGroup
				if tt.use != nil {
					done(false)
					done(true) // ignored: only the first call counts
					tt.use(l)
				} else {
					wg.Go(func() {
						time.Sleep(300 * time.Millisecond)
						done(true)
						done(true) // ignored
					})
				}
				done2, err := l.Acquire(context.Background())
				require.NoError(t, err)
				assert.Equal(t, tt.wantAt, time.Since(start))
				done2(true)
				wg.Wait()
				l.mu.Lock()
				defer l.mu.Unlock()
				assert.Zero(t, l.inFlight)
				assert.LessOrEqual(t, l.inUse, tt.n)
			})
		})
	}
}

// With every slot held, a waiter is served when a holder is done, a window
// later; a cancelled waiter takes nothing; the zero value never blocks.
func TestWindowLimiterAcquireAllHeld(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		l := NewWindowLimiter(2, time.Second)
		d1, err := l.Acquire(context.Background())
		require.NoError(t, err)
		d2, err := l.Acquire(context.Background())
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		got := make(chan time.Duration, 1)
		go func() {
			d, err := l.Acquire(ctx)
			assert.NoError(t, err)
			got <- time.Since(start)
			d(true)
		}()
		time.Sleep(3 * time.Second) // held for 3 s: nothing is granted meanwhile
		d2(true)
		d1(true)
		assert.Equal(t, 4*time.Second, <-got)

		short, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel2()
		for range 2 {
			_, err = l.Acquire(context.Background()) // fill the window, never done
			require.NoError(t, err)
		}
		_, err = l.Acquire(short)
		require.ErrorIs(t, err, context.DeadlineExceeded)

		var zero WindowLimiter
		d, err := zero.Acquire(context.Background())
		require.NoError(t, err)
		d(true)
	})
}

// delayServer is a transport standing in for the network and a server that
// counts requests: each request takes before to reach the server's count and
// after from there to its answer. It logs when the server counted.
type delayServer struct {
	delay func(i int) (before, after time.Duration)

	mu      sync.Mutex
	n       int
	counted []time.Time
	tokens  map[string]int // requests per Authorization header
}

func (s *delayServer) RoundTrip(r *http.Request) (*http.Response, error) {
	s.mu.Lock()
	i := s.n
	s.n++
	s.mu.Unlock()
	before, after := s.delay(i)
	time.Sleep(before)
	s.mu.Lock()
	s.counted = append(s.counted, time.Now())
	if s.tokens == nil {
		s.tokens = map[string]int{}
	}
	s.tokens[r.Header.Get("Authorization")]++
	s.mu.Unlock()
	time.Sleep(after)
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(`[]`)), Request: r}, nil
}

// fire makes total GET requests through the clients, with workers goroutines
// per client.
func fire(t *testing.T, clients []*Client, workers, total int) {
	t.Helper()
	var left atomic.Int64
	left.Store(int64(total))
	var wg sync.WaitGroup
	for _, c := range clients {
		for range workers {
			wg.Go(func() {
				for left.Add(-1) >= 0 {
					req, err := c.NewRequest(context.Background(), "GET", "users", nil)
					if !assert.NoError(t, err) {
						return
					}
					_, err = c.Do(req, nil)
					assert.NoError(t, err)
				}
			})
		}
	}
	wg.Wait()
}

// The limit holds where the server counts: however long a request takes to
// reach the server's count, and however long the answer takes, no second of
// the server's holds more than 20 requests. Before, a slot counted from its
// grant, so a window whose requests were delayed on the way (a loaded
// machine's scheduling) overlapped the next window at the server: 40 in one
// second in the first case.
func TestClientLimitHoldsAtTheServer(t *testing.T) {
	t.Parallel()
	rng := func(seed uint64) func(int) (time.Duration, time.Duration) {
		var mu sync.Mutex
		r := rand.New(rand.NewPCG(seed, seed))
		return func(int) (time.Duration, time.Duration) {
			mu.Lock()
			defer mu.Unlock()
			return time.Duration(r.Int64N(int64(300 * time.Millisecond))), time.Duration(r.Int64N(int64(300 * time.Millisecond)))
		}
	}
	tests := []struct {
		name  string
		delay func(i int) (before, after time.Duration)
	}{
		{"first window late to the server", func(i int) (time.Duration, time.Duration) {
			if i < 20 {
				return 100 * time.Millisecond, 0
			}
			return 0, 0
		}},
		{"every other window late", func(i int) (time.Duration, time.Duration) {
			if i/20%2 == 0 {
				return 400 * time.Millisecond, 0
			}
			return 0, 0
		}},
		{"slow answers", func(int) (time.Duration, time.Duration) { return 0, 800 * time.Millisecond }},
		{"random delays both ways", rng(1)},
		{"random delays both ways, another draw", rng(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := &delayServer{delay: tt.delay}
				c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: srv}))
				require.NoError(t, err)
				fire(t, []*Client{c}, 16, 200)
				require.Len(t, srv.counted, 200)
				requireAtMostNPerWindow(t, srv.counted, DefaultRequestsPerSecond, time.Second)
			})
		})
	}
}

// With answers that take no time, the client sends 20 requests at the start
// of each window of 1 s plus the margin: the hold costs no throughput.
func TestClientLimitThroughput(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		srv := &delayServer{delay: func(int) (time.Duration, time.Duration) { return 0, 0 }}
		c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: srv}))
		require.NoError(t, err)
		fire(t, []*Client{c}, 16, 200)
		require.Len(t, srv.counted, 200)
		for i, at := range srv.counted {
			want := time.Duration(i/20) * (time.Second + DefaultRateLimitMargin)
			if got := at.Sub(start); got != want {
				require.Failf(t, "request time", "request %d counted at %v, want %v", i, got, want)
			}
		}
	})
}

// withWindows makes a client take its shared window from r instead of the
// process's registry (or a private one in a synctest bubble).
func withWindows(r *windowRegistry) Option {
	return func(c *config) error {
		c.windows = r
		return nil
	}
}

// The server limits each IP address as well as each API key: two clients of
// one process with different keys share one window of 20 per second (before,
// each had only its own and together they sent 40), both get a fair share,
// and a 429's Retry-After pauses the other client too.
func TestClientsShareTheHostWindow(t *testing.T) {
	t.Parallel()
	t.Run("two keys, one address", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			srv := &delayServer{delay: func(int) (time.Duration, time.Duration) { return 0, 0 }}
			reg := new(windowRegistry)
			var clients []*Client
			for _, tok := range []string{"token-one", "token-two"} {
				c, err := NewClient(tok, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: srv}), withWindows(reg))
				require.NoError(t, err)
				clients = append(clients, c)
			}
			fire(t, clients, 16, 200)
			require.Len(t, srv.counted, 200)
			requireAtMostNPerWindow(t, srv.counted, DefaultRequestsPerSecond, time.Second)
			for i, at := range srv.counted {
				want := time.Duration(i/20) * (time.Second + DefaultRateLimitMargin)
				if got := at.Sub(start); got != want {
					require.Failf(t, "request time", "request %d counted at %v, want %v", i, got, want)
				}
			}
			assert.GreaterOrEqual(t, srv.tokens["Bearer token-one"], 80, "a fair share each: %v", srv.tokens)
			assert.GreaterOrEqual(t, srv.tokens["Bearer token-two"], 80, "a fair share each: %v", srv.tokens)
		})
	})
	t.Run("a 429 pauses every client of the host", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			start := time.Now()
			mt := httpmock.NewMockTransport()
			var log hitLog
			var first atomic.Bool
			mt.RegisterResponder("GET", testBase+"users", log.responder(func(int) (int, string) {
				if first.CompareAndSwap(false, true) {
					return 429, "10"
				}
				return 200, ""
			}))
			reg := new(windowRegistry)
			a, err := NewClient("token-one", WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}),
				withWindows(reg), WithMaxRetries(0))
			require.NoError(t, err)
			b, err := NewClient("token-two", WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), withWindows(reg))
			require.NoError(t, err)
			req, _ := a.NewRequest(context.Background(), "GET", "users", nil)
			_, err = a.Do(req, nil)
			require.ErrorIs(t, err, ErrRateLimited)
			req, _ = b.NewRequest(context.Background(), "GET", "users", nil)
			_, err = b.Do(req, nil)
			require.NoError(t, err)
			assert.Equal(t, []time.Duration{0, 10 * time.Second}, []time.Duration{log.times[0].Sub(start), log.times[1].Sub(start)})
		})
	})
}

// Which clients share a window: same scheme, host and port through the
// network (any *http.Transport), or the same other transport; the options
// turn it off or replace it.
func TestHostWindowSharing(t *testing.T) {
	t.Parallel()
	// Hosts of their own, so no other test's clients share these windows.
	const a, a443, aPort = "https://share-a.test/v2/", "https://SHARE-A.test:443/v2/", "https://share-a.test:8443/v2/"
	mockA, mockB := httpmock.NewMockTransport(), httpmock.NewMockTransport()
	custom := NewWindowLimiter(5, time.Second)
	ip := func(t *testing.T, opts ...Option) Limiter {
		t.Helper()
		c, err := NewClient(testToken, opts...)
		require.NoError(t, err)
		return c.ipLimiter
	}
	base := ip(t, WithBaseURL(a))
	require.NotNil(t, base)
	tests := []struct {
		name  string
		opts  []Option
		same  bool // the same window as base
		isNil bool
	}{
		{"same host", []Option{WithBaseURL(a)}, true, false},
		{"host case and default port", []Option{WithBaseURL(a443)}, true, false},
		{"another *http.Transport", []Option{WithBaseURL(a), WithHTTPClient(&http.Client{Transport: &http.Transport{}})}, true, false},
		{"own limit changed below 20", []Option{WithBaseURL(a), WithRateLimit(5)}, true, false},
		{"own window replaced", []Option{WithBaseURL(a), WithLimiter(custom)}, true, false},
		{"another port", []Option{WithBaseURL(aPort)}, false, false},
		{"own limit above 20", []Option{WithBaseURL(a), WithRateLimit(100)}, false, false},
		{"another margin", []Option{WithBaseURL(a), WithRateLimitMargin(0)}, false, false},
		{"a test double", []Option{WithBaseURL(a), WithHTTPClient(&http.Client{Transport: mockA})}, false, false},
		{"limits off", []Option{WithBaseURL(a), WithRateLimit(0)}, false, true},
		{"limits off, own limiter", []Option{WithBaseURL(a), WithRateLimit(0), WithLimiter(custom)}, false, true},
		{"shared window off", []Option{WithBaseURL(a), WithIPRateLimit(0)}, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := ip(t, tt.opts...)
			switch {
			case tt.isNil:
				assert.Nil(t, got)
			case tt.same:
				assert.Same(t, base, got)
			default:
				require.NotNil(t, got)
				assert.NotSame(t, base, got)
			}
		})
	}
	t.Run("the same test double shares, another does not", func(t *testing.T) {
		t.Parallel()
		a1 := ip(t, WithBaseURL(a), WithHTTPClient(&http.Client{Transport: mockA}))
		assert.Same(t, a1, ip(t, WithBaseURL(a), WithHTTPClient(&http.Client{Transport: mockA})))
		assert.NotSame(t, a1, ip(t, WithBaseURL(a), WithHTTPClient(&http.Client{Transport: mockB})))
	})
	t.Run("another scheme", func(t *testing.T) {
		t.Parallel()
		const https, http = "https://127.0.0.77:7/v2/", "http://127.0.0.77:7/v2/" // plain http: loopback only
		assert.Same(t, ip(t, WithBaseURL(https)), ip(t, WithBaseURL(https)))
		assert.NotSame(t, ip(t, WithBaseURL(https)), ip(t, WithBaseURL(http)))
	})
	t.Run("a window of the size asked", func(t *testing.T) {
		t.Parallel()
		w := ip(t, WithBaseURL(a), WithIPRateLimit(7)).(*WindowLimiter)
		assert.Equal(t, 7, w.n)
		assert.Equal(t, time.Second+DefaultRateLimitMargin, w.window)
		assert.Equal(t, 100, ip(t, WithBaseURL(a), WithRateLimit(100)).(*WindowLimiter).n)
	})
	t.Run("plugged in", func(t *testing.T) {
		t.Parallel()
		assert.Same(t, custom, ip(t, WithBaseURL(a), WithIPLimiter(custom)))
		assert.Same(t, custom, ip(t, WithBaseURL(a), WithRateLimit(0), WithIPLimiter(custom)))
		assert.Same(t, custom, ip(t, WithBaseURL(a), WithIPLimiter(custom), WithIPRateLimit(0)), "in any order")
		c, err := NewClient(testToken, WithLimiter(custom), WithRateLimit(0))
		require.NoError(t, err)
		assert.Same(t, custom, c.limiter, "in any order")
		assert.Nil(t, c.ipLimiter)
	})
	t.Run("inside a synctest bubble each client has its own", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			one, two := ip(t, WithBaseURL(a)), ip(t, WithBaseURL(a))
			require.NotNil(t, one)
			assert.NotSame(t, one, two)
			assert.NotSame(t, base, one)
		})
	})
	t.Run("bad arguments", func(t *testing.T) {
		t.Parallel()
		for _, opt := range []Option{WithIPRateLimit(-1), WithIPLimiter(nil)} {
			_, err := NewClient(testToken, opt)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
		}
	})
}

// roundTripperFunc is a transport that is a func: two cannot be told apart.
type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// A transport that is a func shares its window with nobody (and does not
// make NewClient panic on an uncomparable map key).
func TestHostWindowFuncTransport(t *testing.T) {
	t.Parallel()
	rt := roundTripperFunc(func(*http.Request) (*http.Response, error) { return nil, io.EOF })
	var got []Limiter
	for range 2 {
		c, err := NewClient(testToken, WithBaseURL("https://share-func.test/v2/"), WithHTTPClient(&http.Client{Transport: rt}))
		require.NoError(t, err)
		require.NotNil(t, c.ipLimiter)
		got = append(got, c.ipLimiter)
	}
	assert.NotSame(t, got[0], got[1])
}

// BenchmarkWindowLimiterAcquireContended: every goroutine takes the one slot
// and gives it back unused at once, so most callers queue and are handed the
// slot by the one before: the waiters' queue under load.
func BenchmarkWindowLimiterAcquireContended(b *testing.B) {
	l := NewWindowLimiter(1, time.Hour)
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(4)
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			done, err := l.Acquire(ctx)
			if err != nil {
				b.Error(err)
				return
			}
			done(false)
		}
	})
}

// A 429's Retry-After pausing the limiter is logged.
func TestLogLimiterPause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &captureHandler{}
		c, mt := newTestClient(t, WithLogger(slog.New(h)))
		mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(429, `{}`).HeaderSet(http.Header{"Retry-After": {"45"}}))
		req, err := c.NewRequest(context.Background(), "GET", "users", nil)
		require.NoError(t, err)
		_, err = c.Do(req, nil)
		require.ErrorIs(t, err, ErrRateLimited)
		recs := h.with("chatshipper: rate limiter paused for Retry-After")
		require.Len(t, recs, 1)
		assert.Equal(t, map[string]any{"retry_after": 45 * time.Second}, recs[0].attrs)
	})
}

// A wait for a rate-limit slot of 100 ms or more is logged with its length;
// shorter ones are not.
func TestLogLimiterWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &captureHandler{}
		c, mt := newTestClient(t, WithLogger(slog.New(h)), WithRateLimit(1))
		mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(200, `[]`))
		for range 2 {
			req, err := c.NewRequest(context.Background(), "GET", "users?email=jane%40example.com", nil)
			require.NoError(t, err)
			_, err = c.Do(req, nil)
			require.NoError(t, err)
		}
		recs := h.with("chatshipper: waited for rate limit")
		require.Len(t, recs, 1, "only the second request waited")
		assert.Equal(t, map[string]any{"method": "GET", "url": testBase + "users?email=REDACTED",
			"waited": time.Second + DefaultRateLimitMargin, "attempt": int64(1)}, recs[0].attrs)
		h.noSecrets(t, testToken, "jane")
	})
}
