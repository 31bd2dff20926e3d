package chatshipper

import (
	"container/list"
	"context"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
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

// SlotLimiter is optionally implemented by a Limiter whose slot can last as
// long as the request: the client then calls Acquire instead of Wait, and
// calls done when the attempt has ended (its answer's headers arrived, or it
// failed). WindowLimiter implements it.
//
// This is how a client-side limit holds at the server whatever the delays. A
// server counts a request at some moment between its being sent and its
// answer; a limiter that only knows the grant cannot tell when that was, so a
// request that took long to leave or to be read counts at the server later
// than at the client, and two requests granted a window apart can reach the
// server less than a second apart. Counted from the end of the attempt
// instead, the next request of a window is granted a window after the
// server's count of the earlier one at the latest.
type SlotLimiter interface {
	Limiter
	// Acquire blocks like Wait until a slot is granted, or returns an error
	// for which errors.Is(err, ctx.Err()) holds. The granted slot is in use
	// until done is called, exactly once: done(true) when the attempt ended
	// after the request may have been sent, which counts the slot as taken at
	// that moment; done(false) when the request was never sent, which gives
	// the slot back. Later calls of done do nothing.
	Acquire(ctx context.Context) (done func(sent bool), err error)
}

// Defaults for the request limiter, from the server's documented limit of 20
// requests per second per API key and per IP address (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting).
const (
	// DefaultRequestsPerSecond is the server's documented request limit.
	DefaultRequestsPerSecond = 20
	// DefaultRateLimitMargin is added to the one-second window. The client
	// counts a request's slot from the end of its attempt (see SlotLimiter),
	// which is never before the server counted it, so the margin is not for
	// network jitter: it covers what the client cannot see, a server whose
	// second includes both of its ends and an attempt abandoned (timed out,
	// cancelled) whose request the server reads after the client gave up.
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
// A slot taken with Wait counts from its grant. A slot taken with Acquire
// (see SlotLimiter), as the client does, is in use from its grant until its
// done function is called and then counts from that moment for a window, so
// at most n slots are in use or counted at any time.
//
// It is safe for concurrent use and fair: callers are served in the order in
// which they called Wait or Acquire. A caller whose context ends before its
// slot was granted leaves the queue and takes nothing, so the callers behind
// it are served as early as if it had never called. Once granted, a slot is
// used: Wait returns nil even if the context ends at that same moment.
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

	grants   grantRing     // grant records inside the window, oldest first
	inUse    int           // slots held (inFlight) plus grants counted in grants
	inFlight int           // slots granted by Acquire whose done was not called yet
	resume   time.Duration // no grant before this offset (Pause)
	waiters  list.List     // FIFO of *waiter: callers waiting for a slot
	timer    *time.Timer   // fires when the first waiter may be served
	armed    bool          // timer is set to fire
}

// grantRecord stands for count grants, the last of which happened at offset at.
type grantRecord struct {
	start time.Duration // first grant in the record, for merging
	at    time.Duration // last grant; the record leaves the window at at+window
	count int
}

// waiter is one caller queued in Wait or Acquire.
type waiter struct {
	ready   chan struct{} // closed when granted
	granted bool
	hold    bool // Acquire: the slot is held until done
}

// never is the offset of a slot that only a done call can free.
const never = time.Duration(math.MaxInt64)

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
// once without taking a slot. The slot counts from the grant.
func (l *WindowLimiter) Wait(ctx context.Context) error {
	return l.wait(ctx, false)
}

// Acquire is Wait for a slot that is held until done is called and counts
// from that moment (see SlotLimiter). done(false) gives the slot back
// unused. Only the first call of done counts.
func (l *WindowLimiter) Acquire(ctx context.Context) (done func(sent bool), err error) {
	if err := l.wait(ctx, true); err != nil {
		return nil, err
	}
	s := &heldSlot{l: l}
	return s.done, nil
}

// heldSlot is a slot granted by Acquire.
type heldSlot struct {
	l      *WindowLimiter
	called atomic.Bool
}

func (s *heldSlot) done(sent bool) {
	if s.called.Swap(true) {
		return
	}
	l := s.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.window == 0 {
		return // nothing was counted
	}
	now := l.nowLocked()
	l.inFlight--
	if sent {
		l.recordLocked(now)
	} else {
		l.inUse--
	}
	if l.waiters.Len() > 0 {
		l.dispatchLocked(now)
	}
}

func (l *WindowLimiter) wait(ctx context.Context, hold bool) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	l.mu.Lock()
	now := l.nowLocked()
	if l.waiters.Len() == 0 && l.nextSlotLocked(now) <= now {
		l.grantLocked(now, hold)
		l.mu.Unlock()
		return nil
	}
	w := &waiter{ready: make(chan struct{}), hold: hold}
	e := l.waiters.PushBack(w)
	if l.waiters.Front() == e {
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
	wasFirst := l.waiters.Front() == e
	l.waiters.Remove(e)
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
	if l.waiters.Len() > 0 {
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
// offset at which a slot may be granted: never when every slot is held and
// only a done call can free one.
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
		// its oldest record leaves it, or a held slot is given back.
		at = never
		if l.grants.len() > 0 {
			at = l.grants.front().at + l.window
		}
	}
	return max(at, l.resume)
}

// grantLocked takes one slot at now: held until done (hold), else recorded.
func (l *WindowLimiter) grantLocked(now time.Duration, hold bool) {
	if l.window == 0 {
		return
	}
	l.inUse++
	if hold {
		l.inFlight++
		return
	}
	l.recordLocked(now)
}

// recordLocked records a slot counted in inUse as taken at now. Records are
// made at non-decreasing offsets (now is read under the lock), so the ring
// stays in time order.
func (l *WindowLimiter) recordLocked(now time.Duration) {
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
// timer for the next waiter, or stops it when nobody waits or only a done
// call can free a slot.
func (l *WindowLimiter) dispatchLocked(now time.Duration) {
	for l.waiters.Len() > 0 {
		at := l.nextSlotLocked(now)
		if at == never {
			break
		}
		if at > now {
			l.armed = true
			if l.timer == nil {
				l.timer = time.AfterFunc(at-now, l.onTimer)
			} else {
				l.timer.Reset(at - now)
			}
			return
		}
		w := l.waiters.Remove(l.waiters.Front()).(*waiter)
		l.grantLocked(now, w.hold)
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

// WithRateLimit sets the client's own request limit: at most n requests in
// any sliding window of one second plus a margin (WithRateLimitMargin),
// shared by every goroutine using the client; every attempt, retries
// included, takes a slot, and a slot counts from the end of its attempt (see
// SlotLimiter). The default is 20, the server's limit per API key.
//
// Besides its own window, a client takes a slot of a window it shares with
// the other clients of the process that talk to the same API host, since the
// server also limits each IP address (see WithIPRateLimit). WithRateLimit(0)
// turns both built-in windows off, for tests against a fake server or a
// server without limits; limiters plugged in with WithLimiter or
// WithIPLimiter still apply.
func WithRateLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return argError("WithRateLimit", "must not be negative, got %d", n)
		}
		c.rateLimit = n
		return nil
	}
}

// WithRateLimitMargin changes the margin added to the one-second windows
// (default DefaultRateLimitMargin, 25 ms; between 0 and 1 s).
func WithRateLimitMargin(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Second {
			return argError("WithRateLimitMargin", "must be between 0 and 1s, got %s", d)
		}
		c.rateMargin = d
		return nil
	}
}

// WithLimiter replaces the client's own window (WithRateLimit) with l, in
// whatever order the options come, for example a limiter shared between the
// processes using one API key (see the redisstore module). If l also
// implements Pauser, a 429 with Retry-After pauses it; if it implements
// SlotLimiter, its slots are held until the attempt ends. The window shared
// per API host (WithIPRateLimit) still applies, unless WithRateLimit(0)
// turned the built-in windows off.
func WithLimiter(l Limiter) Option {
	return func(c *config) error {
		if l == nil {
			return argError("WithLimiter", "nil Limiter (use WithRateLimit(0) to turn limiting off)")
		}
		c.limiter = l
		return nil
	}
}

// WithIPRateLimit sets the size of the window shared per API host: at most n
// requests in any sliding second plus the margin, counted together for every
// client of this process that talks to the same scheme, host and port with
// the same window size. The server limits each IP address to 20 requests per
// second whatever the API key
// (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting),
// so two clients with different keys in one process would otherwise send 40.
//
// The default is 20, or the client's own limit when WithRateLimit set it
// higher (a server with other limits). WithIPRateLimit(0) turns the shared
// window off, for clients whose requests leave through different addresses;
// WithRateLimit(0) turns it off too. To share it between processes leaving
// through one address, plug in a shared limiter with WithIPLimiter.
//
// Inside a testing/synctest bubble, where time is the bubble's own, each
// client has a window of its own instead, so that tests running in parallel
// never wait for each other.
func WithIPRateLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return argError("WithIPRateLimit", "must not be negative, got %d", n)
		}
		c.ipRateLimit = n
		return nil
	}
}

// WithIPLimiter replaces the window shared per API host (WithIPRateLimit)
// with l, for example a redisstore limiter named after the egress address
// that every process leaving through it shares. Like WithLimiter, it applies
// whatever WithRateLimit and WithIPRateLimit say and in whatever order,
// honours Pauser and SlotLimiter, and refuses nil.
func WithIPLimiter(l Limiter) Option {
	return func(c *config) error {
		if l == nil {
			return argError("WithIPLimiter", "nil Limiter (use WithIPRateLimit(0) to turn the shared window off)")
		}
		c.ipLimiter = l
		return nil
	}
}

// limiters returns the client's own limiter and the one shared per API host
// (either nil when off) for base, the client's API base URL.
func (c *config) limiters(base *url.URL) (own, ip Limiter) {
	window := time.Second + c.rateMargin
	switch {
	case c.limiter != nil:
		own = c.limiter
	case c.rateLimit > 0:
		own = NewWindowLimiter(c.rateLimit, window)
	}
	n := c.ipRateLimit
	if n < 0 {
		n = max(c.rateLimit, DefaultRequestsPerSecond)
	}
	switch {
	case c.ipLimiter != nil:
		ip = c.ipLimiter
	case c.rateLimit > 0 && n > 0:
		reg := c.windows
		switch {
		case reg != nil: // a test's own
		case inBubble():
			// A testing/synctest bubble has its own clock, and a limiter
			// used from two bubbles would mix them (and touch one bubble's
			// channels from another, which panics): a window of its own.
			reg = new(windowRegistry)
		default:
			reg = &processWindows
		}
		var rt http.RoundTripper
		if c.httpClient != nil {
			rt = c.httpClient.Transport
		}
		if rt == nil {
			rt = http.DefaultTransport
		}
		ip = reg.get(base, rt, n, window)
	}
	return own, ip
}

// limiterList returns the client's limiters in the order the transport takes
// them: its own, then the shared one.
func (c *Client) limiterList() []Limiter {
	var out []Limiter
	for _, l := range []Limiter{c.limiter, c.ipLimiter} {
		if l != nil {
			out = append(out, l)
		}
	}
	return out
}

// windowRegistry holds the windows shared per API host.
type windowRegistry struct {
	mu sync.Mutex
	m  map[windowKey]*WindowLimiter
}

// windowKey names a shared window: the API's origin (scheme, lower-case host
// and port, the default port written out), so that servers on different
// ports (test servers on loopback) never share one; the window's size; and
// the address of the transport when it is not an *http.Transport (0 when it
// is). An address, not the transport, so that the registry keeps no test
// double (and its canned answers) alive; an address reused after the
// transport was collected finds a window nobody uses any more.
type windowKey struct {
	origin string
	n      int
	window time.Duration
	via    uintptr
}

// processWindows is the registry of every client of the process. It keeps
// one small limiter per key for the life of the process.
var processWindows windowRegistry

// get returns the window for base's origin, the transport rt and the size,
// created on first use.
//
// Requests sent through an *http.Transport (the default is one) leave this
// host for the network, so they share a window by origin. Other transports
// (test doubles such as httpmock's or the fake's in-process transport,
// recorders, wrappers) may never reach a network, so a client using one
// shares the window only with clients using the same transport; a
// transport that is not a pointer (a func, a struct value) shares with
// nobody.
func (r *windowRegistry) get(base *url.URL, rt http.RoundTripper, n int, window time.Duration) *WindowLimiter {
	var via uintptr
	if _, network := rt.(*http.Transport); !network && rt != nil {
		switch v := reflect.ValueOf(rt); v.Kind() {
		case reflect.Pointer, reflect.Map, reflect.Chan, reflect.UnsafePointer:
			via = v.Pointer()
		default: // a func or a value: two of them cannot be told apart
			return NewWindowLimiter(n, window)
		}
	}
	port := base.Port()
	if port == "" {
		port = "443"
		if strings.EqualFold(base.Scheme, "http") {
			port = "80"
		}
	}
	k := windowKey{
		origin: strings.ToLower(base.Scheme) + "://" + net.JoinHostPort(strings.ToLower(base.Hostname()), port),
		n:      n, window: window, via: via,
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = make(map[windowKey]*WindowLimiter)
	}
	l := r.m[k]
	if l == nil {
		l = NewWindowLimiter(n, window)
		r.m[k] = l
	}
	return l
}

// inBubble reports whether the caller runs in a testing/synctest bubble,
// whose fake clock carries no monotonic reading, while the real clock always
// does on the platforms Go supports.
func inBubble() bool {
	now := time.Now()
	return now == now.Round(0) //nolint:staticcheck // QF1009: == on purpose, Round(0) strips only the monotonic reading
}

// pauseLimiter backs every goroutine off after a server 429 with Retry-After,
// for the whole Retry-After: a pause is never shorter than what the server
// asked, also when the call itself does not retry. Both limiters are paused:
// the answer does not say whether the API key's limit or the IP address's
// was reached.
func (c *Client) pauseLimiter(ctx context.Context, d time.Duration) {
	if d <= 0 {
		return
	}
	paused := false
	for _, l := range []Limiter{c.limiter, c.ipLimiter} {
		if p, ok := l.(Pauser); ok {
			p.Pause(d)
			paused = true
		}
	}
	if !paused {
		return
	}
	c.observePause(ctx, d)
	if c.logger != nil {
		c.logger.LogAttrs(ctx, slog.LevelDebug, "chatshipper: rate limiter paused for Retry-After",
			slog.Duration("retry_after", d))
	}
}
