package chatshipper

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The servers of these tests page only as the API documents
// (https://developers.chatshipper.com/docs/api-resource-sets): offset and
// limit, X-Total and the other X- headers, and Link first/prev/next/last.
// Whether "id=>X" compares ids, and in which order items come, is not
// documented; each profile answers one way.

// idFilterMode is how a docServer treats "id=>X".
type idFilterMode int

const (
	keysHonoured idFilterMode = iota // keeps the items whose id is greater than X
	keysIgnored                      // drops the parameter: every item matches
	keysNothing                      // matches no item (compares a string with an ObjectId)
	keysLossy                        // keeps the ids above X, but never those whose number divides by 7
	keysRejected                     // answers 400: the value is not an id
)

// docServer serves the contacts 1..n (id i is i in 24-digit hex) with the
// documented paging. It is an http.Handler run in the caller's goroutine
// (see handlerTransport), so a test needs no socket.
type docServer struct {
	docProfile

	mu      sync.Mutex
	queries []url.Values
}

// docProfile is what a docServer serves and how.
type docProfile struct {
	n            int
	keys         idFilterMode
	newestFirst  bool // the default order is by id, descending
	grouped      bool // the default order is by id modulo 3, then by id (honours "id=>X" all the same)
	pageCap      int  // the server answers at most this many items, whatever the limit (0: no cap)
	capAfter     int  // the cap applies from this request on (1-based; 0: from the first)
	noTotal      bool // no X-Total and X-Total-Pages
	noLink       bool // no Link header
	noPageHeader bool // no X-Per-Page, X-Page and X-Range
}

func docID(i int) string { return fmt.Sprintf("%024x", i) }

func docNumber(id string) int {
	n, _ := strconv.ParseInt(id, 16, 64)
	return int(n)
}

func (s *docServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	s.mu.Lock()
	s.queries = append(s.queries, q)
	call := len(s.queries)
	s.mu.Unlock()

	ids := make([]int, 0, s.n)
	for i := 1; i <= s.n; i++ {
		ids = append(ids, i)
	}
	if v := q.Get("id"); v != "" {
		// ">X", ">X,<=Y" (a range) or "<=Y".
		lower, upper, ranged := strings.Cut(v, ",")
		after, ok := strings.CutPrefix(lower, ">")
		upTo := ""
		if ranged {
			var okUp bool
			upTo, okUp = strings.CutPrefix(upper, "<=")
			ok = ok && okUp
		} else if y, only := strings.CutPrefix(lower, "<="); only {
			after, upTo, ok = "", y, true
		}
		if s.keys == keysRejected {
			http.Error(w, `{"error":{"message":"Cast to ObjectId failed for value \"`+v+`\" at path \"_id\""}}`, http.StatusBadRequest)
			return
		}
		if !ok {
			http.Error(w, `{"error":{"message":"unexpected id filter"}}`, http.StatusBadRequest)
			return
		}
		inRange := func(i int) bool { return docID(i) > after && (upTo == "" || docID(i) <= upTo) }
		kept := ids[:0]
		for _, i := range ids {
			switch s.keys {
			case keysHonoured:
				if inRange(i) {
					kept = append(kept, i)
				}
			case keysIgnored:
				kept = append(kept, i)
			case keysLossy:
				if inRange(i) && i%7 != 0 {
					kept = append(kept, i)
				}
			}
		}
		ids = kept
	}
	if s.newestFirst {
		for a, b := 0, len(ids)-1; a < b; a, b = a+1, b-1 {
			ids[a], ids[b] = ids[b], ids[a]
		}
	}
	if s.grouped {
		sort.SliceStable(ids, func(a, b int) bool { return ids[a]%3 < ids[b]%3 })
	}
	offset := 0
	if v := q.Get("offset"); v != "" {
		offset, _ = strconv.Atoi(v)
	}
	limit := 200
	if v := q.Get("limit"); v != "" {
		limit, _ = strconv.Atoi(v)
	}
	if s.pageCap > 0 && limit > s.pageCap && call >= s.capAfter {
		limit = s.pageCap
	}
	total := len(ids)
	start, end := min(offset, total), min(offset+limit, total)
	page := ids[start:end]

	h := w.Header()
	h.Set("Content-Type", "application/json")
	if !s.noTotal {
		h.Set("X-Total", strconv.Itoa(total))
		h.Set("X-Total-Pages", strconv.Itoa((total+limit-1)/limit))
	}
	if !s.noPageHeader {
		h.Set("X-Per-Page", strconv.Itoa(limit))
		h.Set("X-Page", strconv.Itoa(offset/limit+1))
		if len(page) > 0 {
			h.Set("X-Range", fmt.Sprintf("%d-%d", start+1, end))
		}
	}
	if !s.noLink {
		link := func(off int, rel string) {
			v := url.Values{}
			for k, vs := range q {
				v[k] = vs
			}
			v.Set("offset", strconv.Itoa(off))
			v.Set("limit", strconv.Itoa(limit))
			h.Add("Link", fmt.Sprintf("<https://api.test/v2/contacts?%s>; rel=%q", v.Encode(), rel))
		}
		if offset > 0 {
			link(0, "first")
			link(max(offset-limit, 0), "prev")
		}
		if end < total {
			link(offset+limit, "next")
			link((total-1)/limit*limit, "last")
		}
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, id := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q}`, docID(id))
	}
	b.WriteByte(']')
	_, _ = w.Write([]byte(b.String()))
}

func (s *docServer) requests() []url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]url.Values(nil), s.queries...)
}

// handlerTransport runs an http.Handler for each request, in the caller's
// goroutine.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, r)
	resp := rec.Result()
	resp.Request = r
	return resp, nil
}

// newHandlerClient returns a client without rate limit that sends every
// request to h and logs to log.
func newHandlerClient(t *testing.T, h http.Handler, log *captureHandler) *Client {
	t.Helper()
	c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: handlerTransport{h}}),
		WithRateLimit(0), WithLogger(slog.New(log)))
	require.NoError(t, err)
	return c
}

// msgWalkByOffset is the log line of a walk that gave up paging by key.
const msgWalkByOffset = "chatshipper: walk pages by offset"

// TestWalkDocumentedPagingServers walks servers that page only as the API
// documents, in every way the documentation leaves open: each walk must yield
// every item exactly once, in the server's order, without an error, and say
// in the log when it gave up paging by key.
func TestWalkDocumentedPagingServers(t *testing.T) {
	t.Parallel()
	type logs int
	const (
		logNever     logs = iota // the server pages by key: nothing to say
		logOnKeyStep             // once, when the walk needed a second page
		logAtMost1
	)
	profiles := []struct {
		name string
		srv  docProfile
		logs logs
	}{
		{"honours id", docProfile{}, logNever},
		{"ignores id", docProfile{keys: keysIgnored}, logOnKeyStep},
		{"id matches nothing", docProfile{keys: keysNothing}, logOnKeyStep},
		{"id filter skips items", docProfile{keys: keysLossy}, logAtMost1},
		{"id filter refused", docProfile{keys: keysRejected}, logOnKeyStep},
		{"no X-Total, no Link, id filter refused", docProfile{keys: keysRejected, noTotal: true, noLink: true}, logAtMost1},
		{"newest first", docProfile{newestFirst: true}, logOnKeyStep},
		{"newest first, ignores id", docProfile{newestFirst: true, keys: keysIgnored}, logOnKeyStep},
		{"grouped order", docProfile{grouped: true}, logAtMost1},
		{"newest first, id matches nothing", docProfile{newestFirst: true, keys: keysNothing}, logOnKeyStep},
		{"cap 10", docProfile{pageCap: 10}, logNever},
		{"cap 10, ignores id", docProfile{pageCap: 10, keys: keysIgnored}, logOnKeyStep},
		{"cap 10, id matches nothing", docProfile{pageCap: 10, keys: keysNothing}, logOnKeyStep},
		{"cap 10 from the second request", docProfile{pageCap: 10, capAfter: 2}, logNever},
		{"cap 10 from the second request, ignores id", docProfile{pageCap: 10, capAfter: 2, keys: keysIgnored}, logOnKeyStep},
		{"no X-Total, ignores id", docProfile{noTotal: true, keys: keysIgnored}, logOnKeyStep},
		{"no X-Total, id matches nothing", docProfile{noTotal: true, keys: keysNothing}, logOnKeyStep},
		{"no X-Total, cap 10, id matches nothing", docProfile{noTotal: true, pageCap: 10, keys: keysNothing}, logOnKeyStep},
		{"no Link, ignores id", docProfile{noLink: true, keys: keysIgnored}, logOnKeyStep},
		{"no Link, cap 10, id matches nothing", docProfile{noLink: true, pageCap: 10, keys: keysNothing}, logOnKeyStep},
		{"neither, ignores id", docProfile{noTotal: true, noLink: true, keys: keysIgnored}, logOnKeyStep},
		{"neither, id matches nothing", docProfile{noTotal: true, noLink: true, keys: keysNothing}, logAtMost1},
		{"neither, cap 10, id matches nothing", docProfile{noTotal: true, noLink: true, pageCap: 10, keys: keysNothing}, logAtMost1},
		{"no pagination header, honours id", docProfile{noTotal: true, noLink: true, noPageHeader: true}, logNever},
		{"no pagination header, ignores id", docProfile{noTotal: true, noLink: true, noPageHeader: true, keys: keysIgnored}, logOnKeyStep},
		{"no pagination header, id matches nothing", docProfile{noTotal: true, noLink: true, noPageHeader: true, keys: keysNothing}, logAtMost1},
		{"no pagination header, newest first", docProfile{noTotal: true, noLink: true, noPageHeader: true, newestFirst: true}, logOnKeyStep},
		// A server that caps its pages and sends no paging header: a short
		// page is confirmed as the last by one more request.
		{"no pagination header, cap 10, honours id", docProfile{noTotal: true, noLink: true, noPageHeader: true, pageCap: 10}, logNever},
		{"no pagination header, cap 10, ignores id", docProfile{noTotal: true, noLink: true, noPageHeader: true, pageCap: 10, keys: keysIgnored}, logAtMost1},
		{"no pagination header, cap 10, id matches nothing", docProfile{noTotal: true, noLink: true, noPageHeader: true, pageCap: 10, keys: keysNothing}, logAtMost1},
		{"no pagination header, cap 10, id refused", docProfile{noTotal: true, noLink: true, noPageHeader: true, pageCap: 10, keys: keysRejected}, logAtMost1},
		{"no pagination header, cap 10, newest first", docProfile{noTotal: true, noLink: true, noPageHeader: true, pageCap: 10, newestFirst: true}, logAtMost1},
		{"no pagination header, cap 10 from the second request", docProfile{noTotal: true, noLink: true, noPageHeader: true, pageCap: 10, capAfter: 2}, logNever},
	}
	walks := []struct {
		name string
		opts []WalkOption
	}{
		{"default", nil},
		{"no prefetch", []WalkOption{Prefetch(0)}},
		{"concurrency 3", []WalkOption{Concurrency(3)}},
	}
	for _, pr := range profiles {
		for _, w := range walks {
			for _, n := range []int{0, 1, 10, 11, 49, 50, 51, 200, 201, 450} {
				for _, limit := range []int{0, 50} {
					for _, offset := range []int{0, 7} {
						name := fmt.Sprintf("%s/%s/n=%d/limit=%d/offset=%d", pr.name, w.name, n, limit, offset)
						t.Run(name, func(t *testing.T) {
							t.Parallel()
							srv := &docServer{docProfile: pr.srv}
							srv.n = n
							rec := &captureHandler{}
							c := newHandlerClient(t, srv, rec)
							q := NewQuery()
							pageLen := 200
							if limit > 0 {
								q, pageLen = q.Limit(limit), limit
							}
							if offset > 0 {
								q = q.Offset(offset)
							}
							if srv.pageCap > 0 && srv.capAfter == 0 {
								pageLen = min(pageLen, srv.pageCap)
							}
							var want []string
							for i := 1; i <= n; i++ {
								want = append(want, docID(i))
							}
							if srv.newestFirst {
								for a, b := 0, len(want)-1; a < b; a, b = a+1, b-1 {
									want[a], want[b] = want[b], want[a]
								}
							}
							if srv.grouped {
								sort.SliceStable(want, func(a, b int) bool { return docNumber(want[a])%3 < docNumber(want[b])%3 })
							}
							want = want[min(offset, n):]

							var got []string
							for contact, err := range c.Contacts.Walk(t.Context(), q, w.opts...).Items() {
								require.NoError(t, err)
								got = append(got, contact.ID)
							}
							logged := rec.with(msgWalkByOffset)
							switch {
							case len(want) == 0:
								assert.Empty(t, got)
							case w.name == "concurrency 3" && len(logged) == 0:
								// By id ranges: pages of different ranges interleave.
								assert.ElementsMatch(t, want, got, "every item once")
							default:
								assert.Equal(t, want, got, "every item once, in the server's order")
							}
							reqs := srv.requests()
							smallest := min(pageLen, 10)
							extra := 3
							if w.name == "concurrency 3" {
								extra += 3 // the last id, and a short last page per range
							}
							assert.LessOrEqual(t, len(reqs), (len(want)+smallest-1)/smallest+extra, "requests")

							paged := len(want) > pageLen
							switch {
							case pr.logs == logNever:
								assert.Empty(t, logged)
							case pr.logs == logOnKeyStep && paged:
								require.Len(t, logged, 1)
								assert.Equal(t, slog.LevelWarn, logged[0].level)
								assert.Equal(t, "contacts", logged[0].attrs["collection"])
								assert.NotEmpty(t, logged[0].attrs["reason"])
							default:
								assert.LessOrEqual(t, len(logged), 1)
							}
						})
					}
				}
			}
		}
	}
}

// TestWalkByOffsetLogLine checks the one log line of a walk that gives up
// paging by key: its level, message and attributes, for each reason.
func TestWalkByOffsetLogLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		srv    docProfile
		reason string
	}{
		{"ignores id", docProfile{keys: keysIgnored},
			"the server does not page by id: its first id " + docID(1) + " is not after " + docID(5) + ", the last id yielded"},
		{"id matches nothing", docProfile{keys: keysNothing}, "the id filter found nothing where the offset did"},
		{"id filter skips items", docProfile{keys: keysLossy}, "the id filter left out id " + docID(7) + ", which the page by offset holds"},
		{"grouped order", docProfile{grouped: true},
			"the id filter counts 15 items up to id " + docID(15) + " (X-Total) where 5 came before it: the server orders by something else"},
		{"id filter refused", docProfile{keys: keysRejected}, "the server refused the id filter (status 400)"},
		{"newest first", docProfile{newestFirst: true},
			"the server does not order by id: item 1 (id " + docID(29) + ") is not after id " + docID(30)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := &docServer{docProfile: tt.srv}
			srv.n = 30
			rec := &captureHandler{}
			c := newHandlerClient(t, srv, rec)
			n := 0
			for _, err := range c.Contacts.ListIter(t.Context(), NewQuery().Limit(5)) {
				require.NoError(t, err)
				n++
			}
			assert.Equal(t, 30, n)
			logged := rec.with(msgWalkByOffset)
			require.Len(t, logged, 1)
			assert.Equal(t, slog.LevelWarn, logged[0].level)
			assert.Equal(t, map[string]any{"collection": "contacts", "page": int64(2), "reason": tt.reason}, logged[0].attrs)
		})
	}
}

// keyScriptServer serves the contacts 1..30 by key, 10 a page, with
// X-Total, and answers the third request with bad.
type keyScriptServer struct {
	bad []int

	mu    sync.Mutex
	calls int
}

func (s *keyScriptServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.calls++
	call := s.calls
	s.mu.Unlock()
	var ids []int
	for i := 1; i <= 30; i++ {
		if after, ok := strings.CutPrefix(r.URL.Query().Get("id"), ">"); !ok || docID(i) > after {
			ids = append(ids, i)
		}
	}
	w.Header().Set("X-Total", strconv.Itoa(len(ids)))
	page := ids[:min(10, len(ids))]
	if call == 3 {
		page = s.bad
	}
	parts := make([]string, len(page))
	for i, id := range page {
		parts[i] = fmt.Sprintf(`{"id":%q}`, docID(id))
	}
	_, _ = w.Write([]byte("[" + strings.Join(parts, ",") + "]"))
}

// A key page that would repeat an item, or whose ids are not in increasing
// order, is refused with an error before any of its items is yielded, once
// the server has shown that it pages by key.
func TestWalkRefusesKeyPageOutOfOrder(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		page []int
		want string
	}{
		{"repeated page end", []int{20, 21, 22},
			"its first id " + docID(20) + " is not after " + docID(20) + ", the last id yielded"},
		{"before the last key", []int{5, 21, 22},
			"its first id " + docID(5) + " is not after " + docID(20) + ", the last id yielded"},
		{"newest first", []int{30, 29, 28},
			"item 1 (id " + docID(29) + ") is not after id " + docID(30)},
		{"repeat inside the page", []int{21, 22, 22},
			"item 2 (id " + docID(22) + ") is not after id " + docID(22)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := newHandlerClient(t, &keyScriptServer{bad: tt.page}, &captureHandler{})
			var got []string
			var errs []error
			for contact, err := range c.Contacts.ListIter(t.Context(), NewQuery().Limit(10)) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				got = append(got, contact.ID)
			}
			var want []string
			for i := 1; i <= 20; i++ {
				want = append(want, docID(i))
			}
			assert.Equal(t, want, got, "pages 1 and 2, nothing of page 3")
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], ErrInvalidResponse)
			assert.EqualError(t, errs[0], "chatshipper: invalid response: page out of id order: page 3 (ids after "+docID(20)+"): "+tt.want)
		})
	}
}
