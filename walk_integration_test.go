package chatshipper_test

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// putQueued stores n queued contact conversations and returns their IDs in
// creation order.
func putQueued(srv *chatshippertest.Server, n int) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = srv.Put("conversations", map[string]any{
			"organization": srv.Seed.OrganizationID, "type": "contact", "status": "queued",
			"name": fmt.Sprintf("billing %d", i), "category": "Billing",
		})
	}
	return ids
}

// putBatch stores n contacts with meta.batch set to batch.
func putBatch(srv *chatshippertest.Server, n int, batch string) []string {
	ids := make([]string, n)
	for i := range ids {
		ids[i] = srv.Put("contacts", map[string]any{
			"organization": srv.Seed.OrganizationID, "profile": map[string]any{"name": fmt.Sprintf("Walker %d", i)},
			"meta": map[string]any{"batch": batch},
		})
	}
	return ids
}

// requireEachOnce checks that every ID of want was seen exactly once.
func requireEachOnce(t *testing.T, want, seen []string) {
	t.Helper()
	count := map[string]int{}
	for _, id := range seen {
		count[id]++
	}
	for id, n := range count {
		require.Equal(t, 1, n, "item %s yielded %d times", id, n)
	}
	for _, id := range want {
		require.Equal(t, 1, count[id], "item %s missed", id)
	}
}

// The job of the issue: forward every queued billing conversation. Each one
// leaves status=queued when forwarded; the walk still visits all 120.
func TestWalkForwardEveryItem(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := t.Context()
	want := putQueued(srv, 120)
	q := chatshipper.NewQuery().Where("status", chatshipper.Eq("queued")).Where("category", chatshipper.Eq("Billing")).Limit(50)
	before, err := q.Encode()
	require.NoError(t, err)

	var seen []string
	for conv, err := range c.Conversations.ListIter(ctx, q) {
		require.NoError(t, err)
		seen = append(seen, conv.ID)
		_, _, err := c.Conversations.Command(ctx, conv.ID, chatshipper.Close())
		require.NoError(t, err)
	}
	requireEachOnce(t, want, seen)
	assert.Len(t, seen, 120)
	after, err := q.Encode()
	require.NoError(t, err)
	assert.Equal(t, before, after, "the caller's query is not changed")
	left, resp, err := c.Conversations.List(ctx, q)
	require.NoError(t, err)
	assert.Empty(t, left)
	assert.Equal(t, 0, resp.Total)
}

func TestWalkDeleteEveryItem(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := t.Context()
	want := putBatch(srv, 120, "delete")
	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("delete")).Limit(50)
	var seen []string
	for contact, err := range c.Contacts.ListIter(ctx, q) {
		require.NoError(t, err)
		seen = append(seen, contact.ID)
		_, err := c.Contacts.Delete(ctx, contact.ID)
		require.NoError(t, err)
	}
	requireEachOnce(t, want, seen)
	assert.Len(t, seen, 120)
}

func TestWalkCreateWhileWalking(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := t.Context()
	want := putBatch(srv, 120, "grow")
	original := map[string]bool{}
	for _, id := range want {
		original[id] = true
	}
	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("grow")).Limit(50)
	var seen, created []string
	for contact, err := range c.Contacts.ListIter(ctx, q) {
		require.NoError(t, err)
		seen = append(seen, contact.ID)
		if !original[contact.ID] {
			continue // created by this loop: comes after every original
		}
		// One matching item and one that does not match, per original.
		for _, batch := range []string{"grow", "other"} {
			nc, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{
				Organization: srv.Seed.OrganizationID,
				Profile:      chatshipper.ContactProfile{Name: "New " + contact.ID},
				Meta:         chatshipper.Meta{"batch": batch},
			})
			require.NoError(t, err)
			if batch == "grow" {
				created = append(created, nc.ID)
			}
		}
	}
	requireEachOnce(t, want, seen[:120])
	// The items created during the walk match too; they come last, once each.
	requireEachOnce(t, created, seen[120:])
	assert.Len(t, seen, 240)
}

// A sorted query cannot page by key: it goes by offset, and says so in the
// requests it makes.
func TestWalkSortedQueryPagesByOffset(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	want := putBatch(srv, 120, "sorted")
	srv.ResetRequests()
	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("sorted")).Sort("-createdAt").Limit(50)
	var seen []string
	for contact, err := range c.Contacts.ListIter(t.Context(), q) {
		require.NoError(t, err)
		seen = append(seen, contact.ID)
	}
	requireEachOnce(t, want, seen)
	var offsets []string
	for _, r := range srv.Requests() {
		assert.False(t, r.Query.Has("id"))
		offsets = append(offsets, r.Query.Get("offset"))
	}
	assert.Equal(t, []string{"0", "50", "100"}, offsets)
}

// The default walk asks for id>last after the first page, and reports its
// progress from X-Total without extra requests.
func TestWalkProgressAndPages(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	want := putBatch(srv, 120, "progress")
	srv.ResetRequests()
	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("progress")).Limit(50)

	w := c.Contacts.Walk(t.Context(), q)
	assert.Equal(t, -1, w.Total())
	var seen []string
	type progress struct{ page, count, total int }
	var got []progress
	for contact, err := range w.Items() {
		require.NoError(t, err)
		seen = append(seen, contact.ID)
		if n := len(seen); n == 1 || n == 50 || n == 51 || n == 120 {
			got = append(got, progress{w.Page(), w.Count(), w.Total()})
		}
	}
	requireEachOnce(t, want, seen)
	assert.Equal(t, []progress{{1, 1, 120}, {1, 50, 120}, {2, 51, 120}, {3, 120, 120}}, got)
	reqs := srv.Requests()
	require.Len(t, reqs, 3, "ceil(120/50) requests, no extra one for the total")
	assert.Equal(t, "", reqs[0].Query.Get("id"))
	assert.Equal(t, ">"+want[49], reqs[1].Query.Get("id"))
	assert.Equal(t, ">"+want[99], reqs[2].Query.Get("id"))

	type pageInfo struct{ number, start, total, items, xTotal int }
	var pages []pageInfo
	for p, err := range c.Contacts.Walk(t.Context(), q).Pages() {
		require.NoError(t, err)
		require.NotNil(t, p.Response)
		pages = append(pages, pageInfo{p.Number, p.Start, p.Total, len(p.Items), p.Response.Total})
	}
	// X-Total of a page by key counts the items from that page on.
	assert.Equal(t, []pageInfo{{1, 0, 120, 50, 120}, {2, 50, 120, 50, 70}, {3, 100, 120, 20, 20}}, pages)
}

// Concurrency(n) on a query that neither sorts nor filters on id walks the
// ids after the first page in ranges, each by key, at once: every item once,
// with one request for the last id (sort=-id, beside the first page) and the
// rest by id range, never by offset.
func TestWalkConcurrent(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	want := putBatch(srv, 1000, "concurrent")
	srv.ResetRequests()
	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("concurrent")).Limit(30)
	var seen []string
	w := c.Contacts.Walk(t.Context(), q, chatshipper.Concurrency(4))
	for contact, err := range w.Items() {
		require.NoError(t, err)
		seen = append(seen, contact.ID)
		require.Equal(t, 1000, w.Total())
	}
	assert.ElementsMatch(t, want, seen, "every item once")
	assert.Equal(t, want[:30], seen[:30], "the first page first")
	reqs := srv.Requests()
	// The first page and the last id at once, and 970 items in ranges of
	// 240, 240, 240 and 250 items (8, 8, 8 and 9 pages of 30).
	require.Len(t, reqs, 2+33)
	assert.ElementsMatch(t, []url.Values{
		{"meta.batch": {"concurrent"}, "limit": {"30"}},
		{"meta.batch": {"concurrent"}, "limit": {"1"}, "sort": {"-id"}},
	}, []url.Values{reqs[0].Query, reqs[1].Query})
	firsts := map[string]bool{}
	for _, r := range reqs[2:] {
		assert.False(t, r.Query.Has("offset"), "no request by offset after the last id")
		id := r.Query.Get("id")
		require.True(t, strings.HasPrefix(id, ">"), "by key: %s", id)
		lower, _, _ := strings.Cut(id[1:], ",")
		firsts[lower] = true
	}
	for _, lower := range []string{want[29], want[269], want[509], want[749]} {
		assert.True(t, firsts[lower], "a range starts after %s", lower)
	}
	// Within each range the ids come in increasing order.
	rangeOf := func(id string) int {
		switch {
		case id <= want[269]:
			return 0
		case id <= want[509]:
			return 1
		case id <= want[749]:
			return 2
		}
		return 3
	}
	last := map[int]string{}
	for _, id := range seen[30:] {
		r := rangeOf(id)
		assert.Greater(t, id, last[r])
		last[r] = id
	}
}

// A sorted query walked with Concurrency(n) fetches by offset and yields in
// order, as before.
func TestWalkConcurrentSortedByOffset(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	want := putBatch(srv, 1000, "concurrent")
	srv.ResetRequests()
	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("concurrent")).Sort("createdAt").Limit(30)
	var seen []string
	for contact, err := range c.Contacts.Walk(t.Context(), q, chatshipper.Concurrency(4)).Items() {
		require.NoError(t, err)
		seen = append(seen, contact.ID)
	}
	assert.Equal(t, want, seen, "every item once, in order")
	reqs := srv.Requests()
	require.Len(t, reqs, 34)
	offsets := map[string]bool{}
	for _, r := range reqs {
		assert.False(t, r.Query.Has("id"))
		offsets[r.Query.Get("offset")] = true
	}
	for off := 30; off < 1000; off += 30 {
		assert.True(t, offsets[fmt.Sprint(off)], "offset %d fetched", off)
	}
}

// The key walk's promises under Concurrency(n): the loop closes, deletes or
// adds items while the ranges are walked, and every original item is yielded
// exactly once.
func TestWalkConcurrentChangesWhileWalking(t *testing.T) {
	t.Parallel()
	for _, n := range []int{2, 4, 8} {
		t.Run(fmt.Sprintf("forward every item/n=%d", n), func(t *testing.T) {
			t.Parallel()
			c, srv := fakeClient(t)
			ctx := t.Context()
			want := putQueued(srv, 300)
			q := chatshipper.NewQuery().Where("status", chatshipper.Eq("queued")).Where("category", chatshipper.Eq("Billing")).Limit(20)
			var seen []string
			for conv, err := range c.Conversations.Walk(ctx, q, chatshipper.Concurrency(n)).Items() {
				require.NoError(t, err)
				seen = append(seen, conv.ID)
				_, _, err := c.Conversations.Command(ctx, conv.ID, chatshipper.Close())
				require.NoError(t, err)
			}
			requireEachOnce(t, want, seen)
			assert.Len(t, seen, 300)
			left, _, err := c.Conversations.List(ctx, q)
			require.NoError(t, err)
			assert.Empty(t, left)
		})
		t.Run(fmt.Sprintf("delete every item/n=%d", n), func(t *testing.T) {
			t.Parallel()
			c, srv := fakeClient(t)
			ctx := t.Context()
			want := putBatch(srv, 300, "delete")
			q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("delete")).Limit(20)
			var seen []string
			for contact, err := range c.Contacts.Walk(ctx, q, chatshipper.Concurrency(n)).Items() {
				require.NoError(t, err)
				seen = append(seen, contact.ID)
				_, err := c.Contacts.Delete(ctx, contact.ID)
				require.NoError(t, err)
			}
			requireEachOnce(t, want, seen)
			assert.Len(t, seen, 300)
		})
		t.Run(fmt.Sprintf("delete the items not seen yet/n=%d", n), func(t *testing.T) {
			t.Parallel()
			c, srv := fakeClient(t)
			ctx := t.Context()
			want := putBatch(srv, 300, "ahead")
			q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("ahead")).Limit(20)
			// Each item seen deletes the original whose index mirrors its
			// own, unless that one was seen already. Every item not deleted
			// is yielded once; a deleted one at most once (a page fetched
			// before the delete holds it as it was then).
			index := map[string]int{}
			for i, id := range want {
				index[id] = i
			}
			deleted := map[string]bool{}
			var seen []string
			for contact, err := range c.Contacts.Walk(ctx, q, chatshipper.Concurrency(n)).Items() {
				require.NoError(t, err)
				seen = append(seen, contact.ID)
				mirror := want[len(want)-1-index[contact.ID]]
				if !slices.Contains(seen, mirror) && !deleted[mirror] {
					_, err := c.Contacts.Delete(ctx, mirror)
					require.NoError(t, err)
					deleted[mirror] = true
				}
			}
			var kept []string
			for _, id := range want {
				if !deleted[id] {
					kept = append(kept, id)
				}
			}
			requireEachOnce(t, kept, seen) // and none twice
			assert.NotEmpty(t, deleted)
		})
		t.Run(fmt.Sprintf("create while walking/n=%d", n), func(t *testing.T) {
			t.Parallel()
			c, srv := fakeClient(t)
			ctx := t.Context()
			want := putBatch(srv, 300, "grow")
			original := map[string]bool{}
			for _, id := range want {
				original[id] = true
			}
			q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("grow")).Limit(20)
			var seen, createdSeen []string
			created := map[string]bool{}
			for contact, err := range c.Contacts.Walk(ctx, q, chatshipper.Concurrency(n)).Items() {
				require.NoError(t, err)
				if !original[contact.ID] {
					require.True(t, created[contact.ID], "%s neither original nor created by the loop", contact.ID)
					createdSeen = append(createdSeen, contact.ID)
					continue
				}
				seen = append(seen, contact.ID)
				for _, batch := range []string{"grow", "other"} {
					nc, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{
						Organization: srv.Seed.OrganizationID,
						Profile:      chatshipper.ContactProfile{Name: "New " + contact.ID},
						Meta:         chatshipper.Meta{"batch": batch},
					})
					require.NoError(t, err)
					if batch == "grow" {
						created[nc.ID] = true
					}
				}
			}
			requireEachOnce(t, want, seen)
			assert.Len(t, seen, 300)
			// Items created during the walk come in the last range, at most once.
			assert.Len(t, createdSeen, len(slices.Compact(slices.Sorted(slices.Values(createdSeen)))))
		})
	}
}

// TestWalkConcurrentProfiles walks the fake under the profiles that bear on
// paging, with Concurrency(3): every item once; a server that does not
// compare ids (ignored, matching nothing, refused) is walked by offset after
// the first page, in order, with one log line; one without X-Total goes by
// key page by page; the others by id ranges, without a log line.
func TestWalkConcurrentProfiles(t *testing.T) {
	t.Parallel()
	type how int
	const (
		byRanges how = iota
		byOffset
		byKey
	)
	tests := []struct {
		profile string
		how     how
	}{
		{"default", byRanges},
		{"page-cap-10", byRanges},
		{"page-cap-50", byRanges},
		{"no-link", byRanges},
		{"id-compare-ignored", byOffset},
		{"id-compare-unmatched", byOffset},
		{"id-compare-refused", byOffset},
		{"page-cap-10+id-compare-ignored", byOffset},
		{"no-total", byKey},
		{"no-paging-headers", byKey},
	}
	for _, tt := range tests {
		t.Run("profile="+tt.profile, func(t *testing.T) {
			t.Parallel()
			p, err := chatshippertest.ParseProfile(tt.profile)
			require.NoError(t, err)
			srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), p.Option)
			rec := &logRecorder{}
			c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(srv.Client()),
				chatshipper.WithRateLimit(0), chatshipper.WithLogger(slog.New(rec)))
			require.NoError(t, err)
			want := putBatch(srv, 450, "profile")
			srv.ResetRequests()
			q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("profile")).Limit(50)
			var seen []string
			for contact, err := range c.Contacts.Walk(t.Context(), q, chatshipper.Concurrency(3)).Items() {
				require.NoError(t, err)
				seen = append(seen, contact.ID)
			}
			var ranged, offsets int
			for _, r := range srv.Requests() {
				if strings.Contains(r.Query.Get("id"), ",") {
					ranged++
				}
				if r.Query.Has("offset") && r.Query.Get("limit") != "1" && r.Query.Get("offset") != "0" {
					offsets++
				}
			}
			switch tt.how {
			case byRanges:
				assert.ElementsMatch(t, want, seen, "every item once")
				assert.Empty(t, rec.messages())
				assert.Positive(t, ranged)
				assert.Zero(t, offsets)
			case byOffset:
				assert.Equal(t, want, seen, "every item once, in order")
				assert.Equal(t, []string{"chatshipper: walk pages by offset"}, rec.messages())
				assert.Positive(t, offsets)
			case byKey:
				assert.Equal(t, want, seen, "every item once, in order")
				assert.Empty(t, rec.messages())
				assert.Zero(t, ranged)
				assert.Zero(t, offsets)
			}
		})
	}
}

// logRecorder is a slog.Handler that keeps the messages logged at level
// warning and above.
type logRecorder struct {
	mu   sync.Mutex
	msgs []string
}

func (*logRecorder) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *logRecorder) Handle(_ context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.msgs = append(h.msgs, r.Message)
	return nil
}

func (h *logRecorder) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *logRecorder) WithGroup(string) slog.Handler      { return h }

func (h *logRecorder) messages() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return slices.Clone(h.msgs)
}

func TestWalkOptionErrors(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	for _, opt := range []chatshipper.WalkOption{chatshipper.Prefetch(-1), chatshipper.Concurrency(0)} {
		srv.ResetRequests()
		n := 0
		for item, err := range c.Contacts.Walk(context.Background(), nil, opt).Items() {
			n++
			assert.Nil(t, item)
			assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
		}
		assert.Equal(t, 1, n)
		assert.Empty(t, srv.Requests())
	}
}

// A walk by offset (a sorted query) does not yield an item twice when the
// loop makes an item enter the query before the walk's position: the item
// pushed from the end of one page to the start of the next is dropped.
func TestWalkSortedQueryInsertBeforePosition(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := t.Context()
	want := putBatch(srv, 120, "insert")
	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("insert")).Sort("profile.name").Limit(50)
	var seen []string
	for contact, err := range c.Contacts.Walk(ctx, q, chatshipper.Prefetch(0)).Items() {
		require.NoError(t, err)
		seen = append(seen, contact.ID)
		if len(seen) == 10 {
			// Sorts before every "Walker ...": the rest moves one place on.
			_, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{
				Organization: srv.Seed.OrganizationID,
				Profile:      chatshipper.ContactProfile{Name: "Aardvark"},
				Meta:         chatshipper.Meta{"batch": "insert"},
			})
			require.NoError(t, err)
		}
	}
	requireEachOnce(t, want, seen)
	assert.Len(t, seen, 120)
}
