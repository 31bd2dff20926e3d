package chatshipper

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"time"
)

// Limiter makes a request wait for a slot before it is sent. The client calls
// Wait once per attempt (retries included), under the retry layer. Implement it
// to share one budget between processes; WindowLimiter is the in-process one.
type Limiter interface {
	// Wait blocks until the caller may send one request, or until ctx ends,
	// in which case it returns an error for which errors.Is(err, ctx.Err())
	// holds.
	Wait(ctx context.Context) error
}

// Pauser is optionally implemented by a Limiter. After a 429 answer with a
// Retry-After header the client calls Pause with the whole Retry-After (never
// shortened, also when the call itself does not retry), so that every
// goroutine sharing the limiter backs off, not only the one that was refused.
type Pauser interface {
	// Pause makes sure no slot is granted before d has elapsed from now. It
	// never shortens a pause already in force.
	Pause(d time.Duration)
}

// Defaults for the request limiter, from the server's documented limit of 20
// requests per second per API key and per IP address (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting).
const (
	// DefaultRequestsPerSecond is the server's documented request limit.
	DefaultRequestsPerSecond = 20
	// DefaultRateLimitMargin is added to the one-second window, so that
	// network jitter cannot squeeze 21 requests into the server's second.
	DefaultRateLimitMargin = 25 * time.Millisecond
)

// exactGrants is the largest n for which WindowLimiter records every grant time
// exactly; above it, grants closer together than window/exactGrants share one
// record, which bounds memory to about exactGrants records whatever n is.
const exactGrants = 1024

// WindowLimiter is a sliding-window request limiter: it grants at most n slots
// in any time window of length window, however the grants are spread, which a
// token bucket cannot promise (with a burst of n it lets 2n into one window).
//
// It is safe for concurrent use and fair: callers are served in the order in
// which they called Wait. A caller whose context ends before its slot was
// granted leaves the queue and takes nothing, so the callers behind it are
// served as early as if it had never called. Once granted, a slot is used: Wait
// returns nil even if the context ends at that same moment.
//
// Grant times are exact for n up to 1024. For larger n, grants made within
// window/1024 of each other share one record and all count as made at the last
// of them; this errs on the safe side (never more than n per window) and can
// delay a grant by at most window/1024.
//
// Create it with NewWindowLimiter; NewWindowLimiter(DefaultRequestsPerSecond,
// time.Second+DefaultRateLimitMargin) is the client's default. The zero value never makes
// anyone wait except during a Pause.
type WindowLimiter struct {
	mu     sync.Mutex
	n      int           // slots per window; 0 means no window (zero value)
	window time.Duration // 0 means no window
	merge  time.Duration // grants within merge of a record's first grant join that record
	base   time.Time     // origin of the monotonic offsets below

	grants grantRing     // grant records inside the window, oldest first
	inUse  int           // grants counted in grants
	resume time.Duration // no grant before this offset (Pause)
	first  *waiter       // FIFO of callers waiting for a slot
	last   *waiter
	timer  *time.Timer // fires when the first waiter may be served
	armed  bool        // timer is set to fire
}

// grantRecord stands for count grants, the last of which happened at offset at.
type grantRecord struct {
	start time.Duration // first grant in the record, for merging
	at    time.Duration // last grant; the record leaves the window at at+window
	count int
}

// waiter is one caller queued in Wait.
type waiter struct {
	prev, next *waiter
	ready      chan struct{} // closed when granted
	granted    bool
}

// NewWindowLimiter returns a limiter that grants at most n slots in any window
// of length window. An n below 1 counts as 1. A window of zero or less means no
// window: Wait never blocks, except during a Pause.
func NewWindowLimiter(n int, window time.Duration) *WindowLimiter {
	l := &WindowLimiter{n: max(n, 1), window: max(window, 0), base: time.Now()}
	if l.n > exactGrants {
		l.merge = l.window / exactGrants
	}
	return l
}

// Wait blocks until a slot is granted, or until ctx ends; then it returns
// ctx.Err() and gives up its place in the queue. A ctx already done returns at
// once without taking a slot.
func (l *WindowLimiter) Wait(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.nowLocked()
	if l.first == nil && l.nextSlotLocked(now) <= now {
		l.grantLocked(now)
		l.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{})}
	l.pushLocked(w)
	if l.first == w {
		l.dispatchLocked(now)
	}
	l.mu.Unlock()

	select {
	case <-w.ready:
		return nil
	case <-ctx.Done():
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if w.granted {
		// The slot was granted before the cancellation was seen; it is
		// already counted, so let the caller use it.
		return nil
	}
	wasFirst := l.first == w
	l.removeLocked(w)
	if wasFirst {
		// The next waiter may be served at the same time w would have
		// been; this re-arms the timer for it, or stops it.
		l.dispatchLocked(l.nowLocked())
	}
	return ctx.Err()
}

// Pause grants no slot before d has elapsed from now, also to callers already
// waiting. It only ever extends a pause; d <= 0 does nothing.
func (l *WindowLimiter) Pause(d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.nowLocked()
	until := now + d
	if d > math.MaxInt64-now {
		until = math.MaxInt64
	}
	if until <= l.resume {
		return
	}
	l.resume = until
	if l.first != nil {
		l.dispatchLocked(now)
	}
}

// nowLocked returns the monotonic time elapsed since l.base.
func (l *WindowLimiter) nowLocked() time.Duration {
	if l.base.IsZero() {
		l.base = time.Now() // zero value
	}
	return time.Since(l.base)
}

// nextSlotLocked drops the grants that left the window and returns the earliest
// offset at which a slot may be granted.
func (l *WindowLimiter) nextSlotLocked(now time.Duration) time.Duration {
	for l.grants.len() > 0 {
		r := l.grants.front()
		if r.at+l.window > now {
			break
		}
		l.inUse -= r.count
		l.grants.popFront()
	}
	at := now
	if l.window > 0 && l.inUse >= l.n {
		// inUse never exceeds n, so the window has room again as soon as
		// its oldest record leaves it.
		at = l.grants.front().at + l.window
	}
	return max(at, l.resume)
}

// grantLocked records one grant at now.
func (l *WindowLimiter) grantLocked(now time.Duration) {
	if l.window == 0 {
		return
	}
	l.inUse++
	if l.grants.len() > 0 {
		if r := l.grants.back(); now-r.start <= l.merge {
			r.at = now
			r.count++
			return
		}
	}
	l.grants.pushBack(grantRecord{start: now, at: now, count: 1})
}

// dispatchLocked serves the queue in order while slots are free, then arms the
// timer for the next waiter, or stops it when nobody waits.
func (l *WindowLimiter) dispatchLocked(now time.Duration) {
	for l.first != nil {
		at := l.nextSlotLocked(now)
		if at > now {
			l.armed = true
			if l.timer == nil {
				l.timer = time.AfterFunc(at-now, l.onTimer)
			} else {
				l.timer.Reset(at - now)
			}
			return
		}
		l.grantLocked(now)
		w := l.first
		l.removeLocked(w)
		w.granted = true
		close(w.ready)
	}
	if l.armed {
		l.timer.Stop()
		l.armed = false
	}
}

// onTimer runs when the first waiter's slot may have come. A late or stale
// firing is harmless: dispatchLocked re-checks everything.
func (l *WindowLimiter) onTimer() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.dispatchLocked(l.nowLocked())
}

func (l *WindowLimiter) pushLocked(w *waiter) {
	w.prev = l.last
	if l.last == nil {
		l.first = w
	} else {
		l.last.next = w
	}
	l.last = w
}

func (l *WindowLimiter) removeLocked(w *waiter) {
	if w.prev == nil {
		l.first = w.next
	} else {
		w.prev.next = w.next
	}
	if w.next == nil {
		l.last = w.prev
	} else {
		w.next.prev = w.prev
	}
	w.prev, w.next = nil, nil
}

// grantRing is a growable FIFO of grant records. It holds at most n records
// (exact mode) or about exactGrants+1 (merged mode), and only grows, so a
// limiter in steady state does not allocate.
type grantRing struct {
	buf  []grantRecord
	head int
	n    int
}

func (r *grantRing) len() int { return r.n }

func (r *grantRing) front() *grantRecord { return &r.buf[r.head] }

func (r *grantRing) back() *grantRecord { return &r.buf[(r.head+r.n-1)%len(r.buf)] }

func (r *grantRing) popFront() {
	r.buf[r.head] = grantRecord{}
	r.head = (r.head + 1) % len(r.buf)
	r.n--
}

func (r *grantRing) pushBack(g grantRecord) {
	if r.n == len(r.buf) {
		buf := make([]grantRecord, max(2*len(r.buf), 8))
		for i := range r.n {
			buf[i] = r.buf[(r.head+i)%len(r.buf)]
		}
		r.buf, r.head = buf, 0
	}
	r.buf[(r.head+r.n)%len(r.buf)] = g
	r.n++
}

// WithRateLimit sets the client-side request limit: at most n requests in any
// sliding window of one second (plus a 25 ms safety margin), shared by every
// goroutine using the client; every attempt, retries included, takes a slot.
// The default is 20, the server's limit per token. WithRateLimit(0) turns the
// limiter off.
func WithRateLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return argError("WithRateLimit", "must not be negative, got %d", n)
		}
		c.rateLimit = n
		c.limiter = nil
		return nil
	}
}

// WithRateLimitMargin changes the safety margin added to the one-second window
// (default 25 ms), which keeps network jitter from putting one request too many
// into the server's second.
func WithRateLimitMargin(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Second {
			return argError("WithRateLimitMargin", "must be between 0 and 1s, got %s", d)
		}
		c.rateMargin = d
		return nil
	}
}

// WithLimiter replaces the built-in limiter with l, for example a limiter
// shared between processes. If l also implements Pauser, a 429 with
// Retry-After pauses it.
func WithLimiter(l Limiter) Option {
	return func(c *config) error {
		if l == nil {
			return argError("WithLimiter", "nil Limiter (use WithRateLimit(0) to turn limiting off)")
		}
		c.limiter = l
		return nil
	}
}

// pauseLimiter backs every goroutine off after a server 429 with Retry-After,
// for the whole Retry-After: a pause is never shorter than what the server
// asked, also when the call itself does not retry.
func (c *Client) pauseLimiter(ctx context.Context, d time.Duration) {
	p, ok := c.limiter.(Pauser)
	if !ok || d <= 0 {
		return
	}
	p.Pause(d)
	c.observePause(ctx, d)
	if c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "chatshipper: rate limiter paused for Retry-After",
			slog.Duration("retry_after", d))
	}
}
