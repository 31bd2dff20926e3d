package webhook

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// DedupeState is what a [Deduper] knows of an event ID when a delivery of it
// begins.
type DedupeState int

const (
	// DedupeNew means the ID is not known (or was forgotten): the caller now
	// holds the claim, runs the handlers and then calls Finish.
	DedupeNew DedupeState = iota
	// DedupeRunning means another delivery of the same ID holds the claim and
	// has not finished yet.
	DedupeRunning
	// DedupeDone means a delivery of the same ID was handled successfully.
	DedupeDone
)

// String returns "new", "running" or "done".
func (s DedupeState) String() string {
	switch s {
	case DedupeNew:
		return "new"
	case DedupeRunning:
		return "running"
	case DedupeDone:
		return "done"
	}
	return fmt.Sprintf("DedupeState(%d)", int(s))
}

// DedupeClaim is what [Deduper.Begin] answers for one delivery of an event
// ID: how the ID stands, and when State is [DedupeNew] the claim this
// delivery now holds, which it settles with [Deduper.Finish].
type DedupeClaim struct {
	// ID is the event ID.
	ID string
	// State is DedupeNew when this delivery holds the claim and runs the
	// handlers, DedupeRunning or DedupeDone when it does not.
	State DedupeState
	// Token tells this claim from every other claim of the same ID: Finish
	// acts only while the ID is still held under it. Set when State is
	// DedupeNew, empty otherwise. Opaque; it is not a secret.
	Token string
}

// ErrClaimLost is returned (wrapped, match it with [errors.Is]) by
// [Deduper.Finish] when the ID is no longer held under the claim's token: the
// claim ended (its lease ran out, it was evicted) and another delivery of the
// event holds the ID now. Nothing was changed; the other delivery's outcome
// will be recorded.
var ErrClaimLost = errors.New("webhook: duplicate check: the claim ended and another delivery holds the event ID")

// Deduper remembers event IDs so that a repeated delivery of an event does
// not run the handlers again. The handler claims an ID with Begin before it
// runs the handlers and reports the outcome with Finish, passing the claim
// Begin returned: a success is remembered, a failure forgotten, so the
// platform's retry runs the event again. Events without an ID never reach
// the Deduper.
//
// Begin must be atomic: of concurrent Begin calls for one ID, at most one
// returns DedupeNew, also when the calls come from several replicas sharing
// one store. A shared store should hold a claim for a bounded time (a lease)
// so that a holder that dies before Finish frees the ID for a later
// delivery, and keep a finished ID for as long as the platform may retry
// (24 hours, [DedupeTTL]). A store that cannot answer returns an error: the
// delivery is then answered 503 (Dispatch returns the error), so the
// platform tries again later.
//
// Claims are owned: Finish changes the ID only while it is still held under
// the claim's token. A delivery slower than its lease may finish after a
// later delivery claimed the ID again; its Finish must then leave that claim
// alone (returning an error matching [ErrClaimLost]), or the next delivery
// would run the handlers a third time while the second still runs.
//
// The default is an in-memory [MemoryDeduper], which suits a single process.
// Implementations must be safe for concurrent use.
type Deduper interface {
	// Begin claims id, or tells how an earlier delivery of it stands.
	Begin(ctx context.Context, id string) (DedupeClaim, error)
	// Finish records the outcome of a claim Begin granted (State
	// DedupeNew): ok remembers the ID as done, !ok forgets it, in both cases
	// only while the ID is still held under claim.Token. When another claim
	// holds the ID now it changes nothing and returns an error matching
	// ErrClaimLost. The handler logs an error and carries on.
	Finish(ctx context.Context, claim DedupeClaim, ok bool) error
}

// MemoryDeduper is the in-memory [Deduper]: at most a fixed number of IDs,
// each kept for a fixed time, the oldest forgotten first. It never returns
// an error from Begin; Finish returns one only for a claim that is not the
// ID's current one. It is safe for concurrent use and may be shared by
// several handlers in one process.
type MemoryDeduper struct {
	mu         sync.Mutex
	max        int
	ttl        time.Duration
	ids        map[string]*dedupeEntry
	head, tail *dedupeEntry // the entries, oldest first
	seq        uint64       // the last claim token given out
}

type dedupeEntry struct {
	id         string
	at         time.Time
	state      DedupeState
	token      string // the claim's, while running
	prev, next *dedupeEntry
}

// NewMemoryDeduper returns a MemoryDeduper keeping at most size IDs, each for
// ttl. It returns a [*chatshipper.ArgumentError] when size or ttl is not
// positive.
func NewMemoryDeduper(size int, ttl time.Duration) (*MemoryDeduper, error) {
	if size < 1 {
		return nil, argError("size", "must be positive, got %d", size)
	}
	if ttl <= 0 {
		return nil, argError("ttl", "must be positive, got %s", ttl)
	}
	return &MemoryDeduper{max: size, ttl: ttl, ids: make(map[string]*dedupeEntry)}, nil
}

// Begin records id as running under a new claim and returns it (State
// DedupeNew), or returns the state of an earlier delivery of the same id.
func (d *MemoryDeduper) Begin(_ context.Context, id string) (DedupeClaim, error) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if e, ok := d.ids[id]; ok {
		return DedupeClaim{ID: id, State: e.state}, nil
	}
	var e *dedupeEntry
	for len(d.ids) >= d.max {
		e = d.head // nothing else refers to it once removed: it is reused
		d.remove(e)
	}
	if e == nil {
		e = new(dedupeEntry)
	}
	d.seq++
	var buf [16]byte
	token := string(strconv.AppendUint(append(buf[:0], 'm'), d.seq, 16)) // base 16: shifts, not divisions
	*e = dedupeEntry{id: id, at: now, state: DedupeRunning, token: token, prev: d.tail}
	if d.tail != nil {
		d.tail.next = e
	} else {
		d.head = e
	}
	d.tail = e
	d.ids[id] = e
	return DedupeClaim{ID: id, State: DedupeNew, Token: token}, nil
}

// Finish records the outcome of a claim begun with Begin: done when ok, else
// forgotten. An ID forgotten meanwhile (evicted, expired) or already done
// stays as it is; an ID claimed again by another delivery too, and then
// Finish returns an error matching [ErrClaimLost].
func (d *MemoryDeduper) Finish(_ context.Context, claim DedupeClaim, ok bool) error {
	if err := checkClaim(claim); err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	e, found := d.ids[claim.ID]
	if !found {
		return nil // evicted or expired meanwhile, and not claimed again
	}
	switch {
	case e.state == DedupeDone:
		return nil // another delivery succeeded
	case e.token != claim.Token:
		return fmt.Errorf("webhook: dedupe finish %q: %w", claim.ID, ErrClaimLost)
	case ok:
		e.state, e.token = DedupeDone, ""
	default:
		d.remove(e)
	}
	return nil
}

// checkClaim refuses a claim that Begin did not grant.
func checkClaim(c DedupeClaim) error {
	if c.State != DedupeNew || c.Token == "" || c.ID == "" {
		return argError("claim", "not a claim granted by Begin (state %s, token set: %t)", c.State, c.Token != "")
	}
	return nil
}

// Len returns how many IDs are remembered (running or done).
func (d *MemoryDeduper) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(time.Now())
	return len(d.ids)
}

func (d *MemoryDeduper) expire(now time.Time) {
	for e := d.head; e != nil; e = d.head {
		if now.Sub(e.at) < d.ttl {
			return
		}
		d.remove(e)
	}
}

func (d *MemoryDeduper) remove(e *dedupeEntry) {
	delete(d.ids, e.id)
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		d.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		d.tail = e.prev
	}
	e.prev, e.next = nil, nil
}
