package webhook

import (
	"container/list"
	"context"
	"fmt"
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

// Deduper remembers event IDs so that a repeated delivery of an event does
// not run the handlers again. The handler claims an ID with Begin before it
// runs the handlers and reports the outcome with Finish: a success is
// remembered, a failure forgotten, so the platform's retry runs the event
// again. Events without an ID never reach the Deduper.
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
// The default is an in-memory [MemoryDeduper], which suits a single process.
// Implementations must be safe for concurrent use.
type Deduper interface {
	// Begin claims id, or tells how an earlier delivery of it stands.
	Begin(ctx context.Context, id string) (DedupeState, error)
	// Finish records the outcome of a claim Begin granted: ok remembers the
	// ID as done, !ok forgets it. The handler logs an error and carries on.
	Finish(ctx context.Context, id string, ok bool) error
}

// MemoryDeduper is the in-memory [Deduper]: at most a fixed number of IDs,
// each kept for a fixed time, the oldest forgotten first. It never returns
// an error. It is safe for concurrent use and may be shared by several
// handlers in one process.
type MemoryDeduper struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	ids   map[string]*list.Element
	order *list.List // of *dedupeEntry, oldest first
}

type dedupeEntry struct {
	id    string
	at    time.Time
	state DedupeState
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
	return &MemoryDeduper{max: size, ttl: ttl, ids: make(map[string]*list.Element), order: list.New()}, nil
}

// Begin records id as running and returns DedupeNew, or returns the state of
// an earlier delivery of the same id.
func (d *MemoryDeduper) Begin(_ context.Context, id string) (DedupeState, error) {
	now := time.Now()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.expire(now)
	if el, ok := d.ids[id]; ok {
		return el.Value.(*dedupeEntry).state, nil
	}
	for d.order.Len() >= d.max {
		d.remove(d.order.Front())
	}
	d.ids[id] = d.order.PushBack(&dedupeEntry{id: id, at: now, state: DedupeRunning})
	return DedupeNew, nil
}

// Finish records the outcome of a run begun with Begin: done when ok, else
// forgotten.
func (d *MemoryDeduper) Finish(_ context.Context, id string, ok bool) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	el, found := d.ids[id]
	if !found {
		return nil // evicted meanwhile
	}
	if ok {
		el.Value.(*dedupeEntry).state = DedupeDone
		return nil
	}
	d.remove(el)
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
	for el := d.order.Front(); el != nil; el = d.order.Front() {
		if now.Sub(el.Value.(*dedupeEntry).at) < d.ttl {
			return
		}
		d.remove(el)
	}
}

func (d *MemoryDeduper) remove(el *list.Element) {
	delete(d.ids, el.Value.(*dedupeEntry).id)
	d.order.Remove(el)
}
