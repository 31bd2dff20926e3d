package redisstore

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/redis/go-redis/v9"
)

// acquireScript grants one slot to ticket or says how long to wait. All
// times are the Redis server's clock in microseconds, so the processes
// sharing the keys need no common clock of their own.
//
// KEYS: grants (ZSET member=grant, score=time), queue (ZSET member=ticket,
// score=arrival), leases (ZSET member=ticket, score=deadline), pause (string:
// time until which nothing is granted), hold (same, during a return from a
// fallback or after lost keys), marker (string: the time of the newest grant
// or release; it outlives the window by markerTTL).
// ARGV: n, window µs, ticket, grace µs, pacing µs (the least time between
// two grants), the newest marker this process saw (0 if none), marker TTL ms.
// Returns {1, 0, marker} when granted, else {0, wait µs, marker}.
//
// Lost keys: a FLUSHALL, an eviction or a restart (without persistence, or
// from a snapshot behind the last writes) forgets grants made in the last
// window, and a window that looks empty would grant n more at once. The
// marker holds the time of the newest grant in the grants set (or earlier)
// and tells: when it is missing (a name not used for markerTTL looks the
// same, and pays the same), when it is older than a marker this process saw,
// or when it names a grant inside the window while the grants are gone (an
// eviction of that key alone), the window is held as if full for one window
// (the hold key) before anything is granted, and the marker is set to a
// window ago, so that the hold is not renewed.
//
// Fairness: a ticket joins the queue at its first attempt and may take a
// slot only while its rank in the queue is below the number of free slots,
// so slots go to callers in the order they first asked, whichever process
// they are in. A ticket whose holder does not come back (a process that
// died) is dropped when its lease (the wait returned plus grace) ends.
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local n = tonumber(ARGV[1])
local window = tonumber(ARGV[2])
local ticket = ARGV[3]
local grace = tonumber(ARGV[4])
local function s(x) return string.format('%.0f', x) end

local marker = tonumber(redis.call('GET', KEYS[6]) or '')
local known = tonumber(ARGV[6])
if not marker or known > marker or (marker > now - window and redis.call('EXISTS', KEYS[1]) == 0) then
  local untilT = now + window
  local cur = tonumber(redis.call('GET', KEYS[5]) or '0') or 0
  if cur < untilT then redis.call('SET', KEYS[5], s(untilT), 'PX', math.floor(window / 1000) + 1) end
  -- Every grant made before now is covered by the hold: the marker claims
  -- no grant inside the window any more.
  marker = now - window
  redis.call('SET', KEYS[6], s(marker), 'PX', ARGV[7])
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(now - window))
local gone = redis.call('ZRANGEBYSCORE', KEYS[3], '-inf', s(now))
for _, m in ipairs(gone) do redis.call('ZREM', KEYS[2], m) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', s(now)) end

local blocked = 0
for _, k in ipairs({KEYS[4], KEYS[5]}) do
  local v = tonumber(redis.call('GET', k) or '0')
  if v and v > blocked then blocked = v end
end
local used = redis.call('ZCARD', KEYS[1])
local free = n - used
local pacing = tonumber(ARGV[5])
local last = nil
if used > 0 then
  last = tonumber(redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')[2])
  if last + pacing > blocked then blocked = last + pacing end
end

local rank = redis.call('ZRANK', KEYS[2], ticket)
if not rank then
  if free > 0 and blocked <= now and redis.call('ZCARD', KEYS[2]) == 0 then
    rank = 0
  else
    redis.call('ZADD', KEYS[2], s(now), ticket)
    rank = redis.call('ZRANK', KEYS[2], ticket)
  end
end

if rank < free and blocked <= now then
  redis.call('ZADD', KEYS[1], s(now), ticket)
  redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1)
  redis.call('ZREM', KEYS[2], ticket)
  redis.call('ZREM', KEYS[3], ticket)
  if now > marker then marker = now end
  redis.call('SET', KEYS[6], s(marker), 'PX', ARGV[7])
  return {1, 0, marker}
end

local wake = now + window
if rank < free then
  wake = now
else
  -- This ticket's grant is grant number used+rank from the oldest one
  -- in the window; it can come no earlier than a window after grant
  -- number k = used+rank-n, or two windows after grant k-n when grant k
  -- is still to come, and so on.
  local k = rank - free
  local add = window
  while k >= used and k - n >= 0 do
    k = k - n
    add = add + window
  end
  if k < used then
    local g = redis.call('ZRANGE', KEYS[1], k, k, 'WITHSCORES')
    wake = tonumber(g[2]) + add
  end
end
if wake < blocked then wake = blocked end
-- The tickets ahead take their grants at least pacing apart.
if last and wake < last + pacing * (rank + 1) then wake = last + pacing * (rank + 1) end
if wake <= now then wake = now + 1000 end

redis.call('ZADD', KEYS[3], s(wake + grace), ticket)
local ttl = math.floor((wake - now + grace) / 1000) + 1
for _, k in ipairs({KEYS[2], KEYS[3]}) do
  if redis.call('PTTL', k) < ttl then redis.call('PEXPIRE', k, ttl) end
end
return {0, wake - now, marker}
`)

// releaseScript ends a grant held during its request (Acquire): it moves
// the grant to now, so the window counts it from the end of the attempt. It
// changes nothing when the grant is gone (the attempt outlasted the window,
// or the keys were lost: then the marker must stay missing for
// acquireScript to notice).
// KEYS: grants, marker. ARGV: member, window µs, marker TTL ms. Returns the
// marker (0 when nothing changed).
var releaseScript = redis.NewScript(`
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local s = string.format('%.0f', now)
redis.call('ZADD', KEYS[1], s, ARGV[1])
redis.call('PEXPIRE', KEYS[1], math.floor(tonumber(ARGV[2]) / 1000) + 1)
local m = tonumber(redis.call('GET', KEYS[2]) or '')
if not m then return 0 end
if m < now then
  redis.call('SET', KEYS[2], s, 'PX', ARGV[3])
  return now
end
return m
`)

// leaveScript takes a ticket out of the queue (a caller whose context ended).
// KEYS: queue, leases. ARGV: ticket.
var leaveScript = redis.NewScript(`
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return 1
`)

// blockScript sets a pause or hold key to "now + d" unless it already
// blocks longer. KEYS: the key. ARGV: d µs. Returns the µs left.
var blockScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local untilT = now + tonumber(ARGV[1])
local cur = tonumber(redis.call('GET', KEYS[1]) or '0') or 0
if cur >= untilT then return cur - now end
redis.call('SET', KEYS[1], string.format('%.0f', untilT), 'PX', math.floor(tonumber(ARGV[1]) / 1000) + 1)
return untilT - now
`)

// recordScript records grants that a fallback limiter made, aged by how
// long ago they were made, so that the shared window counts them.
// The marker is set to the newest grant recorded, and with a hold (the
// return from a fallback, which holds the window itself) to at least a
// window ago, so that a Redis that came back empty is not taken for lost
// keys once more.
// KEYS: grants, hold, marker. ARGV: window µs, hold µs (0: leave the hold
// alone), marker TTL ms, then member/age µs pairs. Returns the µs the hold
// still lasts (0 if none).
var recordScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local window = tonumber(ARGV[1])
local hold = tonumber(ARGV[2])
local newest = 0
for i = 4, #ARGV - 1, 2 do
  local age = tonumber(ARGV[i + 1])
  if age < window then
    redis.call('ZADD', KEYS[1], string.format('%.0f', now - age), ARGV[i])
    if now - age > newest then newest = now - age end
  end
end
if #ARGV > 3 then redis.call('PEXPIRE', KEYS[1], math.floor(window / 1000) + 1) end
local m = tonumber(redis.call('GET', KEYS[3]) or '0') or 0
if hold > 0 and now - window > newest then newest = now - window end
if newest > m then redis.call('SET', KEYS[3], string.format('%.0f', newest), 'PX', ARGV[3]) end
local cur = tonumber(redis.call('GET', KEYS[2]) or '0') or 0
if hold > 0 and cur < now + hold then
  cur = now + hold
  redis.call('SET', KEYS[2], string.format('%.0f', cur), 'PX', math.floor(hold / 1000) + 1)
end
if cur <= now then return 0 end
return cur - now
`)

// Limiter is a sliding-window request limiter shared through Redis by every
// process that uses the same name: at most n slots in any window of the
// configured length, counted once for all of them. It implements
// [chatshipper.Limiter] and [chatshipper.Pauser]; plug it in with
// [chatshipper.WithLimiter].
//
// Each attempt is one atomic script run in Redis, timed by the Redis
// server's clock. Callers are served in the order they first asked, across
// processes. A Pause (the client calls it after a 429 with Retry-After) is
// stored in Redis, so every process backs off.
//
// When Redis is unavailable, Wait fails closed with an error matching
// [ErrUnavailable], unless [WithFallback] was given; see the package
// documentation. It is safe for concurrent use.
type Limiter struct {
	rdb         redis.Scripter
	keys        []string // grants, queue, leases, pause, hold, marker
	n           int
	window      time.Duration
	callTimeout time.Duration
	grace       time.Duration
	instance    string
	seq         atomic.Uint64
	marker      atomic.Int64 // the newest marker seen in Redis (µs, Redis clock); 0 before the first

	mu         sync.Mutex
	pauseUntil time.Time // local copy of the longest Pause

	// Fallback (nil without WithFallback).
	fallback  *chatshipper.WindowLimiter
	state     fbState
	nextProbe time.Time       // degraded: when to try Redis again
	holdUntil time.Time       // returning: when to use Redis alone again
	pending   []fallbackGrant // fallback grants not yet recorded in Redis

	failingSince time.Time // first of a run of failed Redis calls; zero after a success
	probing      bool      // a probe is running
}

type fbState int

const (
	stateRedis     fbState = iota // Redis decides
	stateDegraded                 // Redis failed: the fallback decides
	stateReturning                // Redis answers again: the fallback decides and Redis records
)

type fallbackGrant struct {
	member string
	at     time.Time
}

// NewLimiter returns a [Limiter] on rdb (a *redis.Client, *redis.ClusterClient
// or *redis.Ring) for the processes that share name. The name identifies
// whose limit this is, the API token's owner: use [TokenName], or a name of
// your own, but never the token itself (a JWT-like name is refused). Its keys
// share one cluster hash slot and all expire.
//
// Options: [WithLimit], [WithFallback], [WithCallTimeout], [WithKeyPrefix].
// Bad arguments return a [*chatshipper.ArgumentError] without any Redis call.
func NewLimiter(rdb redis.Scripter, name string, opts ...Option) (*Limiter, error) {
	if rdb == nil {
		return nil, argError("rdb", "nil Redis client")
	}
	if err := validName("name", name); err != nil {
		return nil, err
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.lease != DefaultLease || cfg.doneTTL != defaultConfig().doneTTL {
		return nil, argError("opts", "WithLease and WithDoneTTL apply to NewDeduper only")
	}
	if cfg.fallback > cfg.n {
		return nil, argError("WithFallback", "n (%d) must not exceed the shared limit (%d)", cfg.fallback, cfg.n)
	}
	base := cfg.prefix + ":limit:{" + name + "}:"
	l := &Limiter{
		rdb:         rdb,
		keys:        []string{base + "grants", base + "queue", base + "leases", base + "pause", base + "hold", base + "marker"},
		n:           cfg.n,
		window:      cfg.window,
		callTimeout: cfg.callTimeout,
		grace:       max(time.Second, 4*cfg.callTimeout),
		instance:    randomID(),
	}
	if cfg.fallback > 0 {
		l.fallback = chatshipper.NewWindowLimiter(cfg.fallback, cfg.window)
	}
	return l, nil
}

// pacing is the least time between two grants, window/(4n): a full window
// of grants is spread over a quarter window instead of going out in one
// burst, whose requests would reach the server spread by its queueing, which
// can squeeze more than n of them into one of the server's windows.
func (l *Limiter) pacing() time.Duration { return l.window / time.Duration(4*l.n) }

// probeInterval is how often a degraded limiter tries Redis again.
func (l *Limiter) probeInterval() time.Duration { return max(l.window/2, l.callTimeout) }

// markerTTL is how long the marker of a limiter's keys outlives its last
// grant: a name unused for longer waits one window before its first grant,
// like one whose keys were lost.
const markerTTL = 24 * time.Hour

// Wait blocks until a slot is granted, or until ctx ends; it then returns
// ctx.Err() and leaves the queue. When Redis is unavailable it returns an
// error matching [ErrUnavailable] after at most the call timeout, or, with
// [WithFallback], waits for the in-process fallback limiter instead. The
// slot counts from its grant.
func (l *Limiter) Wait(ctx context.Context) error {
	_, err := l.take(ctx, false)
	return err
}

// Acquire is Wait for a slot held during the request (see
// [chatshipper.SlotLimiter]; the client calls it instead of Wait): done(true)
// moves the grant in the shared window to the moment the attempt ended, so
// every process counts it from then; done(false) leaves it counted from its
// grant (a slot given back would look like lost keys). The update
// runs in the background, bounded by the call timeout; if it fails, the
// grant keeps counting from its grant. A slot whose attempt outlasts the
// window is not held past it (a process that died must not keep slots).
// While the fallback decides, its own limiter holds the slot.
func (l *Limiter) Acquire(ctx context.Context) (done func(sent bool), err error) {
	g, err := l.take(ctx, true)
	if err != nil {
		return nil, err
	}
	return g.done, nil
}

// grant is a slot granted by Acquire: a member of the shared window, or a
// slot of the fallback limiter.
type grant struct {
	l      *Limiter
	member string          // in the Redis window; "" when the fallback granted
	fbDone func(sent bool) // the fallback's, when it granted
	called atomic.Bool
}

func (g *grant) done(sent bool) {
	if g.called.Swap(true) {
		return
	}
	switch {
	case g.fbDone != nil:
		g.fbDone(sent)
	case sent:
		go g.l.release(g.member)
	}
}

// take waits for a slot; hold says the caller will end it with done.
func (l *Limiter) take(ctx context.Context, hold bool) (*grant, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	ticket := l.instance + ":" + strconv.FormatUint(l.seq.Add(1), 36)
	queued := false
	for {
		if err := l.sleepPause(ctx); err != nil {
			l.leave(ticket, queued)
			return nil, err
		}
		if l.fallback != nil {
			if deadline, ok := l.fallbackDeadline(); ok {
				fbDone, granted, err := l.waitFallback(ctx, deadline, hold)
				if err != nil {
					l.leave(ticket, queued)
					return nil, err
				}
				if granted {
					l.leave(ticket, queued)
					return &grant{l: l, fbDone: fbDone}, nil
				}
				continue // the hold ended: back to Redis
			}
		}
		granted, wait, err := l.acquire(ctx, ticket)
		if err != nil {
			if ctx.Err() != nil {
				l.leave(ticket, queued)
				return nil, ctx.Err()
			}
			if l.fallback != nil {
				if err := l.failed(ctx); err != nil {
					l.leave(ticket, queued)
					return nil, err
				}
				continue
			}
			return nil, &Error{Op: "limiter wait", Err: err}
		}
		l.mu.Lock()
		l.failingSince = time.Time{}
		l.mu.Unlock()
		if granted {
			return &grant{l: l, member: ticket}, nil
		}
		queued = true
		if err := sleepCtx(ctx, wait); err != nil {
			l.leave(ticket, queued)
			return nil, err
		}
	}
}

// acquire runs acquireScript once.
func (l *Limiter) acquire(ctx context.Context, ticket string) (bool, time.Duration, error) {
	cctx, cancel := context.WithTimeout(ctx, l.callTimeout)
	defer cancel()
	res, err := acquireScript.Run(cctx, l.rdb, l.keys,
		l.n, l.window.Microseconds(), ticket, l.grace.Microseconds(), l.pacing().Microseconds(),
		l.marker.Load(), markerTTL.Milliseconds()).Int64Slice()
	if err != nil {
		return false, 0, err
	}
	if len(res) != 3 {
		return false, 0, fmt.Errorf("unexpected script reply %v", res)
	}
	l.marker.Store(res[2])
	return res[0] == 1, time.Duration(res[1]) * time.Microsecond, nil
}

// release runs releaseScript for a grant held by Acquire whose request was
// sent.
func (l *Limiter) release(member string) {
	ctx, cancel := context.WithTimeout(context.Background(), l.callTimeout)
	defer cancel()
	m, err := releaseScript.Run(ctx, l.rdb, []string{l.keys[0], l.keys[5]}, member,
		l.window.Microseconds(), markerTTL.Milliseconds()).Int64()
	if err == nil && m > 0 {
		l.marker.Store(m)
	}
}

// leave takes a queued ticket out of the queue, in the background and
// bounded by the call timeout; if that fails the ticket's lease drops it.
func (l *Limiter) leave(ticket string, queued bool) {
	if !queued {
		return
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), l.callTimeout)
		defer cancel()
		_ = leaveScript.Run(ctx, l.rdb, l.keys[1:3], ticket).Err()
	}()
}

// Pause makes every process sharing the limiter grant nothing before d has
// elapsed from now; it never shortens a pause in force. The pause is kept
// in this process too, so it holds here even when Redis cannot be reached
// (the Redis write is bounded by the call timeout).
func (l *Limiter) Pause(d time.Duration) {
	if d <= 0 {
		return
	}
	l.mu.Lock()
	if until := time.Now().Add(d); until.After(l.pauseUntil) {
		l.pauseUntil = until
	}
	l.mu.Unlock()
	if l.fallback != nil {
		l.fallback.Pause(d)
	}
	ctx, cancel := context.WithTimeout(context.Background(), l.callTimeout)
	defer cancel()
	_ = blockScript.Run(ctx, l.rdb, l.keys[3:4], d.Microseconds()).Err()
}

// sleepPause waits out a pause recorded in this process.
func (l *Limiter) sleepPause(ctx context.Context) error {
	l.mu.Lock()
	d := time.Until(l.pauseUntil)
	l.mu.Unlock()
	if d <= 0 {
		return nil
	}
	return sleepCtx(ctx, d)
}

// fallbackDeadline reports whether this Wait goes to the fallback limiter,
// and until when: no deadline while degraded; while returning, a call
// timeout before the end of the hold, so that the last fallback grant is
// recorded in Redis before anyone takes a grant from Redis again. In the
// degraded state one caller per probe interval first tries Redis (a
// probe), without holding the lock during the call.
func (l *Limiter) fallbackDeadline() (time.Time, bool) {
	l.mu.Lock()
	now := time.Now()
	if l.state == stateDegraded && !l.probing && !now.Before(l.nextProbe) {
		l.nextProbe = now.Add(l.probeInterval())
		l.probing = true
		replay := slices.Clone(l.pending)
		l.mu.Unlock()
		l.probe(replay)
		l.mu.Lock()
		now = time.Now()
	}
	defer l.mu.Unlock()
	switch l.state {
	case stateDegraded:
		return time.Time{}, true
	case stateReturning:
		if stop := l.holdUntil.Add(-l.callTimeout); now.Before(stop) {
			return stop, true
		}
		if now.Before(l.holdUntil) {
			return time.Time{}, false // Redis holds this caller until the end
		}
		l.state = stateRedis
	}
	return time.Time{}, false
}

// probe tries Redis once after a failure: it records the fallback's grants
// of the last window (replay) and holds the shared window for every process
// (no Redis grant) until all of them have had time to notice that Redis is
// back and to record their own fallback grants. On success the limiter is
// returning, and fallback grants made during the probe are recorded too.
func (l *Limiter) probe(replay []fallbackGrant) {
	hold := l.probeInterval() + l.window + 2*l.callTimeout
	start := time.Now()
	left, err := l.record(replay, hold)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.probing = false
	if err != nil || l.state != stateDegraded {
		return
	}
	sent := make(map[string]bool, len(replay))
	for _, g := range replay {
		sent[g.member] = true
	}
	for _, g := range l.pending {
		if !sent[g.member] {
			l.recordAsyncLocked(g)
		}
	}
	l.pending = l.pending[:0]
	l.state = stateReturning
	l.holdUntil = start.Add(left)
}

// recordAsyncLocked records a fallback grant in Redis in the background, so
// that the request it allows is not delayed; if that fails the grant is kept
// for the next probe and the limiter degrades. Redis grants nobody while
// the hold lasts, and fallback grants stop a call timeout before its end, so
// the record lands before Redis decides again.
func (l *Limiter) recordAsyncLocked(g fallbackGrant) {
	go func() {
		start := time.Now()
		left, err := l.record([]fallbackGrant{g}, 0)
		l.mu.Lock()
		defer l.mu.Unlock()
		if err == nil {
			if l.state == stateReturning {
				l.holdUntil = start.Add(left)
			}
			return
		}
		l.pending = append(l.pending, g)
		l.degradeLocked()
	}()
}

// failed handles a failed Redis call with a fallback configured: the
// limiter degrades only once Redis has failed for two call timeouts in a
// row, so that one slow answer does not send a process to its fallback
// while the others go on with Redis; until then the caller retries after a
// short pause.
func (l *Limiter) failed(ctx context.Context) error {
	l.mu.Lock()
	now := time.Now()
	if l.failingSince.IsZero() {
		l.failingSince = now
	}
	if now.Sub(l.failingSince) >= 2*l.callTimeout {
		l.degradeLocked()
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	return sleepCtx(ctx, l.callTimeout/4)
}

// degradeLocked switches to the fallback after a failed Redis call. On
// entry from the Redis state the fallback grants nothing for one window plus
// the call timeout: the grants Redis made before it failed are unknown here,
// all of them were made before now, and a grant's reply is used only when it
// arrives within the call timeout.
func (l *Limiter) degradeLocked() {
	l.nextProbe = time.Now().Add(l.probeInterval())
	if l.state == stateRedis {
		l.fallback.Pause(l.window + l.callTimeout)
	}
	l.state = stateDegraded
}

// waitFallback takes a slot from the fallback limiter, giving up at deadline
// (before the end of a hold; zero for none), which returns false and no
// error. With hold the slot is the fallback's held slot, and its done
// function is returned. Out of the degraded state the grant is recorded in
// Redis in the background; in the degraded state it is kept for the next
// probe.
func (l *Limiter) waitFallback(ctx context.Context, deadline time.Time, hold bool) (func(bool), bool, error) {
	fctx := ctx
	if !deadline.IsZero() {
		var cancel context.CancelFunc
		fctx, cancel = context.WithDeadline(ctx, deadline)
		defer cancel()
	}
	var done func(bool)
	var err error
	if hold {
		done, err = l.fallback.Acquire(fctx)
	} else {
		err = l.fallback.Wait(fctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, ctx.Err()
		}
		return nil, false, nil
	}
	g := fallbackGrant{member: "fb:" + l.instance + ":" + strconv.FormatUint(l.seq.Add(1), 36), at: time.Now()}
	if done != nil {
		fbDone := done
		done = func(sent bool) {
			fbDone(sent)
			if sent {
				l.fallbackEnded(g.member)
			}
		}
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != stateDegraded {
		l.recordAsyncLocked(g)
		return done, true, nil
	}
	cut := time.Now().Add(-l.window)
	keep := l.pending[:0]
	for _, p := range l.pending {
		if p.at.After(cut) {
			keep = append(keep, p)
		}
	}
	l.pending = append(keep, g)
	return done, true, nil
}

// fallbackEnded moves a held fallback grant to now, the end of its request,
// like releaseScript for a grant from Redis: in the grants kept for the next
// probe, or else by recording it again in Redis (the same member, so the
// record made at the grant moves).
func (l *Limiter) fallbackEnded(member string) {
	g := fallbackGrant{member: member, at: time.Now()}
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := range l.pending {
		if l.pending[i].member == member {
			l.pending[i].at = g.at
			return
		}
	}
	if l.state == stateDegraded {
		l.pending = append(l.pending, g)
		return
	}
	l.recordAsyncLocked(g)
}

// record runs recordScript: grants made by the fallback, and a hold of the
// shared window when hold > 0. It returns how long the hold still lasts.
func (l *Limiter) record(grants []fallbackGrant, hold time.Duration) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), l.callTimeout)
	defer cancel()
	args := make([]any, 0, 3+2*len(grants))
	args = append(args, l.window.Microseconds(), hold.Microseconds(), markerTTL.Milliseconds())
	now := time.Now()
	for _, g := range grants {
		args = append(args, g.member, now.Sub(g.at).Microseconds())
	}
	left, err := recordScript.Run(ctx, l.rdb, []string{l.keys[0], l.keys[4], l.keys[5]}, args...).Int64()
	if err != nil {
		return 0, err
	}
	return time.Duration(left) * time.Microsecond, nil
}

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// randomID returns 16 random hex digits.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
