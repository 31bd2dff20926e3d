package chatshipper

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSplitIDRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name               string
		lo, hi             string
		n, remaining, step int
		want               []idRange
	}{
		{"evenly spread ids: ranges of whole pages", docID(200), docID(10000), 8, 9800, 200, []idRange{
			{docID(200), docID(1400)}, {docID(1400), docID(2600)}, {docID(2600), docID(3800)}, {docID(3800), docID(5000)},
			{docID(5000), docID(6200)}, {docID(6200), docID(7400)}, {docID(7400), docID(8600)}, {docID(8600), ""},
		}},
		{"fewer pages than n", docID(30), docID(100), 8, 70, 30, []idRange{
			{docID(30), docID(60)}, {docID(60), docID(90)}, {docID(90), ""},
		}},
		{"a span narrower than the ranges", docID(30), docID(32), 8, 70, 10, []idRange{
			{docID(30), docID(31)}, {docID(31), ""},
		}},
		{"n of 1", docID(1), docID(1000), 1, 999, 10, []idRange{{docID(1), ""}}},
		{"ObjectIds a year apart", "5bb0277fd99faf11a3f4a37e", "5d912aff0000000000000000", 2, 1000, 100, []idRange{
			{"5bb0277fd99faf11a3f4a37e", "5ca0a93f6ccfd788d1fa51bf"}, {"5ca0a93f6ccfd788d1fa51bf", ""},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, splitIDRange(tt.lo, tt.hi, tt.n, tt.remaining, tt.step))
		})
	}
}

func TestIsObjectID(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{
		"5bb0277fd99faf11a3f4a37e":  true,
		"000000000000000000000001":  true,
		"5BB0277FD99FAF11A3F4A37E":  false, // the API writes them in lowercase
		"5bb0277fd99faf11a3f4a37":   false,
		"5bb0277fd99faf11a3f4a37e0": false,
		"5bb0277fd99faf11a3f4a37g":  false,
		"contact-000000000000001":   false,
		"":                          false,
	} {
		assert.Equal(t, want, isObjectID(id), id)
	}
}

// TestWalkConcurrentFallbackLogLine: a server whose ids or id comparisons do
// not allow ranges is walked by offset after the first page, in order, and
// the log says why, once.
func TestWalkConcurrentFallbackLogLine(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		srv    http.Handler
		reason string
	}{
		{"ignores id", &docServer{docProfile: docProfile{n: 30, keys: keysIgnored}},
			"the server does not page by id range: its first id " + docID(1) + " is not after " + docID(5) + ", the last id yielded"},
		{"id matches nothing", &docServer{docProfile: docProfile{n: 30, keys: keysNothing}},
			"the id ranges found nothing where 25 items were left"},
		{"id filter skips items", &docServer{docProfile: docProfile{n: 30, keys: keysLossy}},
			"the id ranges left out id " + docID(7) + ", which the page by offset holds"},
		{"grouped order", &docServer{docProfile: docProfile{n: 30, grouped: true}},
			"the server does not page by id range: item 2 (id " + docID(19) + ") is not after id " + docID(21)},
		{"id filter refused", &docServer{docProfile: docProfile{n: 30, keys: keysRejected}},
			"the server refused an id range (status 400)"},
		{"newest first", &docServer{docProfile: docProfile{n: 30, newestFirst: true}},
			"the server does not order by id: item 1 (id " + docID(29) + ") is not after id " + docID(30)},
		{"ids that are not ObjectIds", &namedIDServer{n: 30},
			`the id "contact-00005" is not an ObjectId (24 lowercase hex digits), so ids cannot be split into ranges`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rec := &captureHandler{}
			c := newHandlerClient(t, tt.srv, rec)
			var got []string
			for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(5), Concurrency(3)).Items() {
				require.NoError(t, err)
				got = append(got, contact.ID)
			}
			assert.Len(t, got, 30)
			for i := 1; i < len(got); i++ {
				assert.NotEqual(t, got[i-1], got[i])
			}
			logged := rec.with(msgWalkByOffset)
			require.Len(t, logged, 1)
			assert.Equal(t, slog.LevelWarn, logged[0].level)
			assert.Equal(t, map[string]any{"collection": "contacts", "page": int64(2), "reason": tt.reason}, logged[0].attrs)
		})
	}
}

// namedIDServer serves the contacts "contact-00001".. with offset, limit,
// X-Total and "id=>X" compared as text: ids that are not ObjectIds.
type namedIDServer struct{ n int }

func (s *namedIDServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var ids []string
	for i := 1; i <= s.n; i++ {
		id := fmt.Sprintf("contact-%05d", i)
		if after, ok := strings.CutPrefix(q.Get("id"), ">"); !ok || id > after {
			ids = append(ids, id)
		}
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	page := ids[min(offset, len(ids)):min(offset+limit, len(ids))]
	w.Header().Set("X-Total", strconv.Itoa(len(ids)))
	parts := make([]string, len(page))
	for i, id := range page {
		parts[i] = fmt.Sprintf(`{"id":%q}`, id)
	}
	_, _ = w.Write([]byte("[" + strings.Join(parts, ",") + "]"))
}

// rangeServer serves n contacts made up on request (id i is i in 24-digit
// hex) by offset, by "id=>X" and by "id=>X,<=Y", with X-Total, in id order
// or, with "sort=-id", newest first (any other sort is ignored). Every answer
// leaves latency after its request arrived, and a request that would be the
// 21st in any sliding second is answered 429 (Retry-After 1), counted on
// arrival like the API. Run it in a synctest bubble: the latency and the
// window are in the bubble's time.
type rangeServer struct {
	n       int
	latency time.Duration

	mu       sync.Mutex
	arrivals []time.Time
	requests int
	status   map[int]int
	queries  []url.Values
}

func (s *rangeServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	s.mu.Lock()
	s.requests++
	s.queries = append(s.queries, r.URL.Query())
	kept := s.arrivals[:0]
	for _, t := range s.arrivals {
		if now.Sub(t) < time.Second {
			kept = append(kept, t)
		}
	}
	s.arrivals = append(kept, now)
	limited := len(s.arrivals) > DefaultRequestsPerSecond
	s.mu.Unlock()
	time.Sleep(s.latency)
	code := http.StatusOK
	defer func() {
		s.mu.Lock()
		s.status[code]++
		s.mu.Unlock()
	}()
	if limited {
		code = http.StatusTooManyRequests
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":{"message":"Too many requests"}}`, code)
		return
	}
	q := r.URL.Query()
	first, last := 0, s.n // the items first+1..last match
	if v := q.Get("id"); v != "" {
		lower, upper, ranged := strings.Cut(v, ",")
		after, _ := strconv.ParseInt(strings.TrimPrefix(lower, ">"), 16, 64)
		first = min(int(after), s.n)
		if ranged {
			upTo, _ := strconv.ParseInt(strings.TrimPrefix(upper, "<="), 16, 64)
			last = max(min(int(upTo), s.n), first)
		}
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, err := strconv.Atoi(q.Get("limit"))
	if err != nil {
		limit = 200
	}
	start := min(first+offset, last)
	end := min(start+limit, last)
	w.Header().Set("X-Total", strconv.Itoa(last-first))
	parts := make([]string, 0, end-start)
	for i := start; i < end; i++ {
		id := i + 1
		if q.Get("sort") == "-id" { // newest first
			id = last + first - i
		}
		parts = append(parts, fmt.Sprintf(`{"id":"%024x"}`, id))
	}
	_, _ = w.Write([]byte("[" + strings.Join(parts, ",") + "]"))
}

// TestWalkConcurrentAtTheRateLimit: 10,000 items in pages of 200 behind
// 150 ms of latency, with the client's default limiter and a server that
// allows 20 requests in any sliding second. The rate limit allows the 50
// pages in 2.5 s; the walk by id ranges (Concurrency(8)) takes 51 requests
// (the first page and the last id at once, 49 pages by range) without a
// 429, and at most 1.2 times that bound in the bubble's time. The walk by
// offset (a sorted query) takes 50. The default walk, one page after the
// other by key, takes a round trip per page.
func TestWalkConcurrentAtTheRateLimit(t *testing.T) {
	t.Parallel()
	const n = 10000
	bound := n / 200 * time.Second / DefaultRequestsPerSecond
	for _, tc := range []struct {
		name     string
		opts     []WalkOption
		requests int
		atMost   time.Duration
	}{
		{"Concurrency(8)", []WalkOption{Concurrency(8)}, 51, bound * 12 / 10},
		{"sorted, Concurrency(8)", []WalkOption{Concurrency(8)}, 50, bound * 12 / 10},
		{"default walk", nil, 50, 50 * 160 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := &rangeServer{n: n, latency: 150 * time.Millisecond, status: map[int]int{}}
				c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: handlerTransport{srv}}))
				require.NoError(t, err)
				start := time.Now()
				seen := make(map[string]bool, n)
				var q *Query
				if strings.HasPrefix(tc.name, "sorted") {
					q = NewQuery().Sort("createdAt") // by offset
				}
				for contact, err := range c.Contacts.Walk(t.Context(), q, tc.opts...).Items() {
					require.NoError(t, err)
					require.False(t, seen[contact.ID], "%s twice", contact.ID)
					seen[contact.ID] = true
				}
				took := time.Since(start)
				assert.Len(t, seen, n)
				assert.Equal(t, map[int]int{200: tc.requests}, srv.status, "no 429")
				assert.LessOrEqual(t, took, tc.atMost)
				t.Logf("%s: %v in the bubble's time, %.2fx the bound of %v, %d requests", tc.name, took, float64(took)/float64(bound), bound, srv.requests)
			})
		})
	}
}

// The last id comes from "sort=-id" beside the first page; a server that
// ignores the sort (it answers with its first item) is asked for its last
// item by offset once the first page has told the total.
func TestWalkConcurrentLastID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		srv      http.Handler
		byOffset bool
	}{
		{"sorts by id", &rangeServer{n: 450, status: map[int]int{}}, false},
		{"ignores the sort", &docServer{docProfile: docProfile{n: 450}}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rec := &captureHandler{}
			var mu sync.Mutex
			var queries []url.Values
			c := newHandlerClient(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				mu.Lock()
				queries = append(queries, r.URL.Query())
				mu.Unlock()
				tc.srv.ServeHTTP(w, r)
			}), rec)
			seen := map[string]bool{}
			for contact, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(50), Concurrency(3)).Items() {
				require.NoError(t, err)
				require.False(t, seen[contact.ID])
				seen[contact.ID] = true
			}
			assert.Len(t, seen, 450)
			assert.Empty(t, rec.with(msgWalkByOffset))
			var sorted, offset int
			for _, q := range queries {
				if q.Get("sort") == "-id" && q.Get("limit") == "1" {
					sorted++
				}
				if q.Get("offset") == "449" && q.Get("limit") == "1" {
					offset++
				}
			}
			assert.Equal(t, 1, sorted)
			assert.Equal(t, map[bool]int{false: 0, true: 1}[tc.byOffset], offset)
		})
	}
}
