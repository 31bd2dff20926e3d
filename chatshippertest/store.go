package chatshippertest

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// doc is one stored resource: a decoded JSON object. Documents only ever hold
// JSON-shaped values (string, float64, bool, nil, []any, map[string]any) so the
// query engine can compare them without reflection.
type doc = map[string]any

// collectionNames lists every REST collection the fake serves (https://developers.chatshipper.com/docs/api-resource-sets).
var collectionNames = []string{
	"conversations", "messages", "contacts", "users", "organizations", "orggroups",
	"channels", "services", "forms", "workflows", "bots", "botinstances", "kbases",
	"kbitems", "articles", "files", "locations", "watemplates", "metrics", "points",
	"partners", "tests", "testresults", "links",
}

// isCollection reports whether c is one of the served collections.
func isCollection(c string) bool { return slices.Contains(collectionNames, c) }

// singular is the resource name used in error messages ("Conversation not found")
// and webhook payloads (data.conversation): every collection is a plain plural.
func singular(c string) string { return strings.TrimSuffix(c, "s") }

// notFoundMessage renders the API's 404 message for a collection.
func notFoundMessage(c string) string {
	s := singular(c)
	return strings.ToUpper(s[:1]) + s[1:] + " not found"
}

// store holds every collection; it is guarded by Server.mu.
type store struct {
	colls map[string]map[string]doc
}

func newStore() *store {
	st := &store{colls: make(map[string]map[string]doc, len(collectionNames))}
	for _, c := range collectionNames {
		st.colls[c] = map[string]doc{}
	}
	return st
}

// get returns the live document; callers that mutate it must go through a tx.
func (st *store) get(c, id string) (doc, bool) {
	d, ok := st.colls[c][id]
	return d, ok
}

// all returns the live documents of c ordered by id (the API's default order).
func (st *store) all(c string) []doc {
	m := st.colls[c]
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	out := make([]doc, len(ids))
	for i, id := range ids {
		out[i] = m[id]
	}
	return out
}

// tx groups the changes of one request so a failure half-way (a 422 on the third
// message of a batch, a loop limit) leaves no trace: the first write to each
// document snapshots it, and rollback restores the snapshots.
type tx struct {
	s       *Server
	now     time.Time // the server's clock
	real    time.Time // time.Now, for the limits' windows (instant)
	touched map[string]bool
	undo    []func()
	events  []pendingEvent
	changed []string // conversation ids whose state a command changed, in order
	after   []func() // run after commit, outside the lock
	// verified is set when a PATCH asking a webhook to become active passed
	// the challenge before the transaction started.
	verified bool
	// seeding is set while a seed file is stored: its messages do not
	// count toward the bot loop limits.
	seeding bool
	// idMark and rngMark are the id counter and the seeded generator as
	// the transaction found them: a rollback puts them back, so a request
	// that changed nothing consumed no ids, names, slugs or secrets either
	// (two servers with the same seed and the same successful requests
	// give the same ids, whatever failed in between).
	idMark  uint64
	rngMark rand.PCG
}

// pendingEvent is a webhook event to build once the transaction commits.
type pendingEvent struct {
	coll, id, action string
	actor            string
	snapshot         doc // for deletes: the document as it was
}

func (t *tx) get(c, id string) (doc, bool) { return t.s.store.get(c, id) }

// edit returns the live document for in-place modification after saving its
// current state for rollback.
func (t *tx) edit(c, id string) (doc, bool) {
	d, ok := t.s.store.get(c, id)
	if !ok {
		return nil, false
	}
	t.snapshot(c, id)
	return d, true
}

func (t *tx) snapshot(c, id string) {
	key := c + "/" + id
	if t.touched[key] {
		return
	}
	t.touched[key] = true
	prev, existed := t.s.store.colls[c][id]
	if existed {
		prev = cloneDoc(prev)
	}
	t.undo = append(t.undo, func() {
		if existed {
			t.s.store.colls[c][id] = prev
		} else {
			delete(t.s.store.colls[c], id)
		}
	})
}

// insert stores d (which must carry an id) as a new or replaced document.
func (t *tx) insert(c string, d doc) {
	id := d["id"].(string)
	t.snapshot(c, id)
	t.s.store.colls[c][id] = d
}

func (t *tx) remove(c, id string) {
	t.snapshot(c, id)
	delete(t.s.store.colls[c], id)
}

// onRollback registers an extra undo step for state kept outside the store.
func (t *tx) onRollback(f func()) { t.undo = append(t.undo, f) }

// emit queues a webhook event for delivery after commit.
func (t *tx) emit(coll, id, action, actor string) {
	t.events = append(t.events, pendingEvent{coll: coll, id: id, action: action, actor: actor})
}

// markChanged notes that a command changed conversation id, so one
// conversation.update event is sent for it when the request commits.
func (t *tx) markChanged(id string) {
	if !slices.Contains(t.changed, id) {
		t.changed = append(t.changed, id)
	}
}

func (t *tx) rollback() {
	for i := len(t.undo) - 1; i >= 0; i-- {
		t.undo[i]()
	}
	t.undo, t.events, t.changed = nil, nil, nil
	t.s.idCounter = t.idMark
	t.s.rngMu.Lock()
	*t.s.pcg = t.rngMark
	t.s.rngMu.Unlock()
}

// update runs fn under the server lock as one transaction: on error every change
// is undone, on success the collected webhook events are dispatched.
func (s *Server) update(fn func(t *tx) error) error {
	s.mu.Lock()
	now := s.instant()
	t := &tx{s: s, now: now.at, real: now.real, touched: map[string]bool{}, idMark: s.idCounter}
	s.rngMu.Lock()
	t.rngMark = *s.pcg
	s.rngMu.Unlock()
	committed := false
	defer func() {
		// On an error, and on a panic (which ServeHTTP turns into a 500),
		// nothing of the request stays and the lock is released.
		if !committed {
			t.rollback()
			s.mu.Unlock()
		}
	}()
	if err := fn(t); err != nil {
		return err
	}
	evs := s.buildEvents(t)
	committed = true
	s.mu.Unlock()
	s.hooks.enqueue(evs)
	for _, f := range t.after {
		f()
	}
	return nil
}

// newID returns a fresh 24-hex id. IDs grow monotonically so the default sort
// (by id) is creation order, and they are deterministic for a given seed.
// Callers hold s.mu.
func (s *Server) newID() string {
	s.idCounter++
	return fmt.Sprintf("%08x%016x", s.idPrefix, s.idCounter)
}

// isID reports whether v looks like a resource id (24 lowercase or uppercase hex).
func isID(v string) bool {
	if len(v) != 24 {
		return false
	}
	for i := 0; i < len(v); i++ {
		c := v[i]
		isHex := '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
		if !isHex {
			return false
		}
	}
	return true
}

// timeFormat is the API's timestamp layout: ISO 8601, UTC, milliseconds.
const timeFormat = "2006-01-02T15:04:05.000Z"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// cloneDoc deep-copies a document.
func cloneDoc(d doc) doc {
	if d == nil {
		return nil
	}
	return cloneValue(d).(doc)
}

// cloneValue deep-copies a JSON-shaped value.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		m := make(map[string]any, len(x))
		for k, e := range x {
			m[k] = cloneValue(e)
		}
		return m
	case []any:
		a := make([]any, len(x))
		for i, e := range x {
			a[i] = cloneValue(e)
		}
		return a
	default:
		return v
	}
}

// normalize turns arbitrary Go values (ints, []string, structs) into the
// JSON-shaped form documents use, by a JSON round trip.
func normalize(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// str returns d[k] when it is a string.
func str(d doc, k string) string {
	s, _ := d[k].(string)
	return s
}

// obj returns d[k] when it is an object.
func obj(d doc, k string) doc {
	m, _ := d[k].(map[string]any)
	return m
}

// arr returns d[k] when it is an array.
func arr(d doc, k string) []any {
	a, _ := d[k].([]any)
	return a
}

// strs converts a JSON array of strings; ok is false when v is not such an array.
func strs(v any) ([]string, bool) {
	a, ok := v.([]any)
	if !ok {
		return nil, false
	}
	out := make([]string, 0, len(a))
	for _, e := range a {
		s, ok := e.(string)
		if !ok {
			return nil, false
		}
		out = append(out, s)
	}
	return out, true
}

// anys converts strings to a JSON array.
func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
