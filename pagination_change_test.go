package chatshipper

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The walks of these tests run against a listing that their own loop (or
// another writer) changes while they run.

// changingServer serves the contacts whose numbers it holds (contact i has
// the id docID(i)), in id order, with offset, limit, X-Total and a next
// link, "id=>X", "id=>X,<=Y" and "id=<=Y" (compared as keys says) and
// "sort=-id". The listing changes between requests through add and remove.
// Its handler runs in the caller's goroutine (see handlerTransport), so in a
// synctest bubble its waits take no wall time.
type changingServer struct {
	keys idFilterMode // keysHonoured, keysIgnored or keysLossy
	// before, if set, runs before each request is served, outside the
	// server's lock (a test waits or sleeps there).
	before func(q url.Values)

	mu    sync.Mutex
	items []int // ascending
}

func newChangingServer(n int, keys idFilterMode) *changingServer {
	s := &changingServer{keys: keys}
	for i := 1; i <= n; i++ {
		s.items = append(s.items, 1000+i)
	}
	return s
}

// ids returns the ids of the items it holds now.
func (s *changingServer) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, len(s.items))
	for i, n := range s.items {
		out[i] = docID(n)
	}
	return out
}

// remove takes the item with id out of the listing (deleted, or moved out
// of the query); it reports whether it was there.
func (s *changingServer) remove(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := docNumber(id)
	i, found := slices.BinarySearch(s.items, n)
	if found {
		s.items = slices.Delete(s.items, i, i+1)
	}
	return found
}

// add puts the item number n into the listing (created, or moved into the
// query), in its place by id.
func (s *changingServer) add(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := slices.BinarySearch(s.items, n); !found {
		s.items = slices.Insert(s.items, i, n)
	}
}

func (s *changingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if s.before != nil {
		s.before(q)
	}
	s.mu.Lock()
	sel := slices.Clone(s.items)
	s.mu.Unlock()
	if v := q.Get("id"); v != "" && s.keys != keysIgnored {
		// ">X", ">X,<=Y" or "<=Y".
		lower, upper, _ := strings.Cut(v, ",")
		after, upTo := strings.TrimPrefix(lower, ">"), strings.TrimPrefix(upper, "<=")
		if y, only := strings.CutPrefix(lower, "<="); only {
			after, upTo = "", y
		}
		sel = slices.DeleteFunc(sel, func(n int) bool {
			id := docID(n)
			return id <= after || upTo != "" && id > upTo || s.keys == keysLossy && n%7 == 0
		})
	}
	if q.Get("sort") == "-id" {
		slices.Reverse(sel)
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit := 200
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	total := len(sel)
	start, end := min(offset, total), min(offset+limit, total)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Total", strconv.Itoa(total))
	if end < total {
		next := url.Values{}
		for k, vs := range q {
			next[k] = vs
		}
		next.Set("offset", strconv.Itoa(end))
		h.Set("Link", fmt.Sprintf("<https://api.test/v2/contacts?%s>; rel=\"next\"", next.Encode()))
	}
	parts := make([]string, 0, end-start)
	for _, n := range sel[start:end] {
		parts = append(parts, fmt.Sprintf(`{"id":%q}`, docID(n)))
	}
	_, _ = w.Write([]byte("[" + strings.Join(parts, ",") + "]"))
}

// walkOpts is the options of a walk with n pages at once (Prefetch(0) for
// n=1, so that the walk asks for its second page only when the loop needs
// it).
func walkOpts(n int) []WalkOption {
	if n == 1 {
		return []WalkOption{Prefetch(0)}
	}
	return []WalkOption{Concurrency(n)}
}

// A change ahead of the walk is not a server that cannot compare ids. On its
// first item the loop deletes an item it has not reached (and lets the walk
// ask by key only then); it moves every item it handles out of the query. The
// first answers by key then count fewer items than the first page left,
// because the listing shrank, not because the server skips items: the walk
// goes on by key, yields every other item exactly once and logs nothing.
func TestWalkChangeAheadKeepsPagingByKey(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 4, 8} {
		for _, del := range []int{9, 60, 119} {
			t.Run(fmt.Sprintf("n=%d/delete=%d", n, del), func(t *testing.T) {
				t.Parallel()
				srv := newChangingServer(120, keysHonoured)
				want := srv.ids()
				gate := make(chan struct{})
				srv.before = func(q url.Values) {
					if q.Has("id") {
						<-gate // the loop's first change comes first
					}
				}
				rec := &captureHandler{}
				c := newHandlerClient(t, srv, rec)
				seen := map[string]int{}
				first := true
				for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(8), walkOpts(n)...).Items() {
					require.NoError(t, err)
					seen[contact.ID]++
					if first {
						first = false
						require.True(t, srv.remove(want[del]))
						close(gate)
					}
					srv.remove(contact.ID) // moved out of the query
				}
				for i, id := range want {
					if i != del {
						assert.Equal(t, 1, seen[id], "item %d", i)
					}
				}
				assert.LessOrEqual(t, seen[want[del]], 1)
				assert.Empty(t, rec.with(msgWalkByOffset), "the walk went on by key")
			})
		}
	}
}

// A change that leaves the listing's count as it was is no evidence either:
// the loop deletes an item ahead on its first item, and another writer
// creates one just before the walk reads the page at its position by offset
// (after the first answers by key, which count one item short). X-Total is
// then what the first page said, yet the server compares ids: the walk goes
// on by key, yields every item but the deleted one exactly once (the new
// one too, at the end) and logs nothing.
func TestWalkBalancedChangeAheadKeepsPagingByKey(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 4} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			srv := newChangingServer(120, keysHonoured)
			want := srv.ids()
			gate := make(chan struct{})
			var keyAsked, created sync.Once
			var afterKey sync.WaitGroup
			afterKey.Add(1)
			srv.before = func(q url.Values) {
				switch {
				case q.Has("id"):
					<-gate
					keyAsked.Do(afterKey.Done)
				case q.Has("offset") && q.Get("offset") != "0":
					// The page at the walk's position, asked after the
					// answers by key: a new item comes first.
					afterKey.Wait()
					created.Do(func() { srv.add(5000) })
				}
			}
			rec := &captureHandler{}
			c := newHandlerClient(t, srv, rec)
			seen := map[string]int{}
			first := true
			for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(8), walkOpts(n)...).Items() {
				require.NoError(t, err)
				seen[contact.ID]++
				if first {
					first = false
					require.True(t, srv.remove(want[60]))
					close(gate)
				}
			}
			for i, id := range want {
				if i != 60 {
					assert.Equal(t, 1, seen[id], "item %d", i)
				}
			}
			assert.Equal(t, 1, seen[docID(5000)], "the item created during the walk")
			assert.Empty(t, rec.with(msgWalkByOffset), "the walk went on by key")
		})
	}
}

// The count of the first answers by key is taken for a change of the
// listing only where the pages show nothing missing: a server whose id
// filter skips items (it leaves out every seventh) is still found out when
// the loop changes the listing at the same time, by the page at the walk's
// position holding an item the answer by key left out. The walk then goes by
// offset, says so once, yields no item twice, and ends with
// ErrListingChanged as the listing shrinks under it.
func TestWalkChangeAheadLossyServerStillFoundOut(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 3} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			srv := newChangingServer(120, keysLossy)
			want := srv.ids()
			gate := make(chan struct{})
			srv.before = func(q url.Values) {
				if q.Has("id") {
					<-gate
				}
			}
			rec := &captureHandler{}
			c := newHandlerClient(t, srv, rec)
			seen := map[string]int{}
			first := true
			var walkErr error
			for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(8), walkOpts(n)...).Items() {
				if err != nil {
					walkErr = err
					break
				}
				seen[contact.ID]++
				if first {
					first = false
					require.True(t, srv.remove(want[60]))
					close(gate)
				}
				srv.remove(contact.ID)
			}
			for id, k := range seen {
				assert.Equal(t, 1, k, id)
			}
			logged := rec.with(msgWalkByOffset)
			require.Len(t, logged, 1)
			assert.Regexp(t, `^the id (filter|ranges) left out id [0-9a-f]{24}, which the page by offset holds$`, logged[0].attrs["reason"])
			require.ErrorIs(t, walkErr, ErrListingChanged)
			assert.ErrorIs(t, walkErr, ErrInvalidResponse)
		})
	}
}

// A walk that had to go by offset (the server ignores id comparisons) never
// skips an item silently. The loop moves every item it handles out of the
// query, which shifts the items after it back: the walk sees the listing
// shrink (X-Total) and ends with ErrListingChanged instead of going on with
// a gap; every item it yielded came once. Walked again until the query is
// empty, every item is yielded exactly once.
func TestWalkByOffsetFallbackEndsWhenListingShrinks(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []WalkOption
	}{
		{"default", nil},
		{"Prefetch(3)", []WalkOption{Prefetch(3)}},
		{"Concurrency(4)", []WalkOption{Concurrency(4)}},
		{"Concurrency(4), Prefetch(3)", []WalkOption{Concurrency(4), Prefetch(3)}},
	} {
		opts := tc.opts
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := newChangingServer(60, keysIgnored)
				srv.before = func(url.Values) { time.Sleep(5 * time.Millisecond) }
				want := srv.ids()
				c := newHandlerClient(t, srv, &captureHandler{})
				seen := map[string]int{}
				var errs []error
				for round := 0; round < 60 && len(srv.ids()) > 0; round++ {
					var walkErr error
					for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(8), opts...).Items() {
						if err != nil {
							walkErr = err
							break
						}
						seen[contact.ID]++
						time.Sleep(time.Millisecond)
						srv.remove(contact.ID)
					}
					if walkErr == nil {
						break
					}
					require.ErrorIs(t, walkErr, ErrListingChanged)
					require.ErrorIs(t, walkErr, ErrInvalidResponse)
					errs = append(errs, walkErr)
				}
				assert.NotEmpty(t, errs, "the listing shrank under a walk by offset")
				for _, id := range want {
					assert.Equal(t, 1, seen[id], id)
				}
				assert.Empty(t, srv.ids(), "walked again until the query was empty")
			})
		})
	}
}

// A walk by offset with Concurrency never yields an item twice, however far
// the listing shifts between its pages. A sorted query's pages at offsets
// 56 and 64 are answered late, after the loop has made 40 items enter the
// query before them: they come back holding items of pages yielded long
// before (not only of the page just before), which the walk drops.
func TestWalkByOffsetConcurrentNeverYieldsTwice(t *testing.T) {
	t.Parallel()
	for _, n := range []int{4, 9, 16} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := newChangingServer(120, keysHonoured)
				srv.before = func(q url.Values) {
					switch q.Get("offset") {
					case "56", "64":
						time.Sleep(500 * time.Millisecond)
					default:
						time.Sleep(5 * time.Millisecond)
					}
				}
				c := newHandlerClient(t, srv, &captureHandler{})
				seen := map[string]int{}
				entered := 0
				for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Sort("createdAt").Limit(8), Concurrency(n)).Items() {
					require.NoError(t, err)
					seen[contact.ID]++
					time.Sleep(time.Millisecond)
					if entered < 40 {
						entered++
						srv.add(entered) // enters the query before the walk's position
					}
				}
				for id, k := range seen {
					assert.Equal(t, 1, k, "%s yielded %d times", id, k)
				}
			})
		})
	}
}

// The red team's reproduction, on a server that ignores id comparisons: the
// walk by offset with Concurrency(9) or (16), the loop deleting every third
// item it handles, two pages answered late. No item is yielded twice; the
// walk may end with ErrListingChanged (it does here: the listing shrank).
func TestWalkByOffsetFallbackConcurrentDeletesNeverTwice(t *testing.T) {
	t.Parallel()
	for _, n := range []int{4, 9, 16} {
		t.Run(fmt.Sprintf("n=%d", n), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := newChangingServer(120, keysIgnored)
				srv.before = func(q url.Values) {
					switch q.Get("offset") {
					case "56", "64":
						time.Sleep(500 * time.Millisecond)
					default:
						time.Sleep(5 * time.Millisecond)
					}
				}
				c := newHandlerClient(t, srv, &captureHandler{})
				seen := map[string]int{}
				k := 0
				var walkErr error
				for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(8), Concurrency(n)).Items() {
					if err != nil {
						walkErr = err
						break
					}
					seen[contact.ID]++
					k++
					time.Sleep(time.Millisecond)
					if k%3 == 0 {
						srv.remove(contact.ID)
					}
				}
				for id, k := range seen {
					assert.Equal(t, 1, k, "%s yielded %d times", id, k)
				}
				require.ErrorIs(t, walkErr, ErrListingChanged)
			})
		})
	}
}

// Concurrency and Prefetch far above the pages there are: the walk sizes
// its buffers by the cap of 64 pages, not by n, so it neither panics
// (a channel of math.MaxInt) nor asks for terabytes (1<<40 pages), and
// yields every item once.
func TestWalkHugeConcurrency(t *testing.T) {
	t.Parallel()
	for _, n := range []int{65, 1 << 20, 1 << 40, math.MaxInt} {
		for _, opt := range []WalkOption{Concurrency(n), Prefetch(n)} {
			cfg := newWalkConfig([]WalkOption{opt})
			require.NoError(t, cfg.err)
			require.LessOrEqual(t, cfg.concurrency, maxWalkPages, "Concurrency(%d)", n)
			require.LessOrEqual(t, cfg.prefetch, maxWalkPages, "Prefetch(%d)", n)
		}
	}
	for _, n := range []int{1 << 40, math.MaxInt} {
		for _, opt := range []WalkOption{Concurrency(n), Prefetch(n)} {
			srv := newChangingServer(120, keysHonoured)
			want := srv.ids()
			c := newHandlerClient(t, srv, &captureHandler{})
			var got []string
			for contact, err := range c.Contacts.Walk(context.Background(), NewQuery().Limit(8), opt).Items() {
				require.NoError(t, err)
				got = append(got, contact.ID)
			}
			assert.ElementsMatch(t, want, got)
		}
	}
}
