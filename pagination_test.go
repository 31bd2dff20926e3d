package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// paginationAbsent is what a response without any pagination header yields.
var paginationAbsent = Pagination{
	Total: -1, TotalPages: -1, Page: -1, PerPage: -1, RangeStart: -1, RangeEnd: -1,
	FirstOffset: -1, PrevOffset: -1, NextOffset: -1, LastOffset: -1,
}

func TestParsePagination(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		h    http.Header
		want func(p *Pagination)
	}{
		{
			name: "spec example",
			h: http.Header{
				"X-Total":       {"9"},
				"X-Total-Pages": {"2"},
				"X-Page":        {"2"},
				"X-Per-Page":    {"5"},
				"X-Range":       {"6-9"},
				"Link": {"<https://api.chatshipper.com.v2/users>; rel=\"first\",\n" +
					"      <https://api.chatshipper.com/v2/users>; rel=\"prev\""},
			},
			want: func(p *Pagination) {
				p.Total, p.TotalPages, p.Page, p.PerPage = 9, 2, 2, 5
				p.RangeStart, p.RangeEnd = 6, 9
				p.FirstOffset, p.PrevOffset = 0, 0
			},
		},
		{name: "no headers", h: http.Header{}, want: func(*Pagination) {}},
		{name: "nil header", h: nil, want: func(*Pagination) {}},
		{
			name: "malformed values",
			h: http.Header{
				"X-Total":       {"abc"},
				"X-Total-Pages": {"1.5"},
				"X-Page":        {"-1"},
				"X-Per-Page":    {""},
				"X-Range":       {"6-"},
			},
			want: func(*Pagination) {},
		},
		{
			name: "plus sign and overflow",
			h: http.Header{
				"X-Total":    {"+9"},
				"X-Page":     {"99999999999999999999999"},
				"X-Per-Page": {"0x10"},
				"X-Range":    {"9-6"},
			},
			want: func(*Pagination) {},
		},
		{
			name: "surrounding whitespace and zeros",
			h: http.Header{
				"X-Total":       {" 0 "},
				"X-Total-Pages": {"\t0"},
				"X-Page":        {"1"},
				"X-Per-Page":    {"200"},
				"X-Range":       {" 0-0 "},
			},
			want: func(p *Pagination) {
				p.Total, p.TotalPages, p.Page, p.PerPage = 0, 0, 1, 200
				p.RangeStart, p.RangeEnd = 0, 0
			},
		},
		{
			name: "first value of a repeated header wins",
			h:    http.Header{"X-Total": {"7", "8"}},
			want: func(p *Pagination) { p.Total = 7 },
		},
		{
			name: "all four links over two header values",
			h: http.Header{"Link": {
				`<https://api.chatshipper.com/v2/users?offset=0&limit=5>; rel="first", <https://api.chatshipper.com/v2/users?offset=5&limit=5>; rel="prev"`,
				`<https://api.chatshipper.com/v2/users?offset=15&limit=5>; rel="next", <https://api.chatshipper.com/v2/users?offset=45&limit=5>; rel="last"`,
			}},
			want: func(p *Pagination) { p.FirstOffset, p.PrevOffset, p.NextOffset, p.LastOffset = 0, 5, 15, 45 },
		},
		{
			name: "malformed link offsets",
			h: http.Header{"Link": {
				`<https://x/v2/users?offset=abc>; rel="next", <https://x/v2/users?offset=-5>; rel="last", <https://x/v2/users?offset=>; rel="first"`,
			}},
			want: func(*Pagination) {},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := paginationAbsent
			tt.want(&want)
			assert.Equal(t, want, parsePagination(tt.h))
		})
	}
}

func TestParsePageRange(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in         string
		start, end int
	}{
		{"6-9", 6, 9},
		{"0-0", 0, 0},
		{"1-200", 1, 200},
		{" 6-9 ", 6, 9},
		{"6 - 9", 6, 9},
		{"6-", -1, -1},
		{"-9", -1, -1},
		{"-1", -1, -1},
		{"9-6", -1, -1},
		{"abc", -1, -1},
		{"a-b", -1, -1},
		{"", -1, -1},
		{"-", -1, -1},
		{"6", -1, -1},
		{"6-9-10", -1, -1},
		{"+6-9", -1, -1},
		{"6--9", -1, -1},
		{"1-99999999999999999999999", -1, -1},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			start, end := parsePageRange(tt.in)
			assert.Equal(t, tt.start, start, "start")
			assert.Equal(t, tt.end, end, "end")
		})
	}
}

func TestParseLinkHeader(t *testing.T) {
	t.Parallel()
	q := func(s string) url.Values {
		v, err := url.ParseQuery(s)
		require.NoError(t, err)
		return v
	}
	tests := []struct {
		name   string
		values []string
		want   map[string]url.Values
	}{
		{"none", nil, map[string]url.Values{}},
		{
			"spec example, broken host, multi-line",
			[]string{"<https://api.chatshipper.com.v2/users>; rel=\"first\",\n      <https://api.chatshipper.com/v2/users>; rel=\"prev\""},
			map[string]url.Values{"first": {}, "prev": {}},
		},
		{
			"typical next and last",
			[]string{`<https://api.chatshipper.com/v2/users?offset=10&limit=5>; rel="next", <https://api.chatshipper.com/v2/users?offset=45&limit=5>; rel="last"`},
			map[string]url.Values{"next": q("offset=10&limit=5"), "last": q("offset=45&limit=5")},
		},
		{
			"several header values",
			[]string{`<https://x/v2/users?offset=5>; rel="prev"`, `<https://x/v2/users?offset=15>; rel="next"`},
			map[string]url.Values{"prev": q("offset=5"), "next": q("offset=15")},
		},
		{
			"several rels in one",
			[]string{`<https://x/v2/users?offset=10>; rel="next last"`},
			map[string]url.Values{"next": q("offset=10"), "last": q("offset=10")},
		},
		{
			"unquoted and upper-case rel",
			[]string{`<https://x/v2/users?offset=10>; REL=Next`},
			map[string]url.Values{"next": q("offset=10")},
		},
		{
			"whitespace everywhere, trailing comma",
			[]string{"  <https://x/v2/users?offset=3>  ;\t rel = \"next\"  ,  ", "\r\n"},
			map[string]url.Values{"next": q("offset=3")},
		},
		{
			"commas inside the target",
			[]string{`<https://x/v2/users?sort=name,-age&populate=a,b&offset=20>; rel="next", <https://x/v2/users?offset=0>; rel="first"`},
			map[string]url.Values{"next": q("sort=name,-age&populate=a,b&offset=20"), "first": q("offset=0")},
		},
		{
			"quoted parameter with comma, semicolon and escaped quote",
			[]string{`<https://x/v2/users?offset=1>; title="a, b; rel=\"prev\" <c>"; rel="next"`},
			map[string]url.Values{"next": q("offset=1")},
		},
		{
			"first rel parameter of a link wins",
			[]string{`<https://x?offset=1>; rel="next"; rel="prev"`},
			map[string]url.Values{"next": q("offset=1")},
		},
		{
			"first link of a relation wins",
			[]string{`<https://x?offset=1>; rel="next", <https://x?offset=2>; rel="next"`},
			map[string]url.Values{"next": q("offset=1")},
		},
		{
			"unparseable URL keeps its query",
			[]string{`<http://[::1/bad host?offset=40#frag>; rel="next"`},
			map[string]url.Values{"next": q("offset=40")},
		},
		{
			"relative target and encoded offset",
			[]string{`</v2/users?offset=%31%30>; rel=next`},
			map[string]url.Values{"next": q("offset=10")},
		},
		{
			"links without separating comma",
			[]string{`<a?offset=1>; rel=prev <b?offset=2>; rel=next`},
			map[string]url.Values{"prev": q("offset=1"), "next": q("offset=2")},
		},
		{
			"garbage is skipped",
			[]string{"garbage", "<unterminated", `<u?offset=1>`, `<u?offset=2>; rel=`, `<u?offset=3>; rel`, `;;;,,,<u?offset=4>; =x; rel="prev"`, `<u?offset=5>; rel="unterminated`},
			map[string]url.Values{"prev": q("offset=4")},
		},
		{
			"only first, prev, next and last are kept",
			[]string{`<u?offset=1>; rel="alternate next up", <u?offset=2>; rel="self"; rel="last", <u?offset=3>; rel="LAST first"`},
			map[string]url.Values{"next": q("offset=1"), "last": q("offset=3"), "first": q("offset=3")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, parseLinkHeader(tt.values))
		})
	}
}

// pageFakeLister serves the items 0..n-1 the way the API does, through real
// response headers read by parsePagination.
type pageFakeLister struct {
	n       int
	total   bool // send X-Total
	links   bool // send Link first/prev/next/last
	perPage int  // server-side page cap, 0 for none
	failAt  int  // fetch number (1-based) that fails, 0 for none
	err     error

	calls   []url.Values // the query of every fetch
	onFetch func(call int)
}

func (f *pageFakeLister) fetch(ctx context.Context, q *Query) ([]int, Pagination, error) {
	v, err := q.Values()
	if err != nil {
		return nil, Pagination{}, err
	}
	f.calls = append(f.calls, v)
	if f.onFetch != nil {
		f.onFetch(len(f.calls))
	}
	if len(f.calls) == f.failAt {
		return nil, Pagination{}, f.err
	}
	offset, _ := q.OffsetValue()
	limit, _ := q.LimitValue()
	if f.perPage > 0 && limit > f.perPage {
		limit = f.perPage
	}
	var items []int
	for i := offset; i < f.n && i < offset+limit; i++ {
		items = append(items, i)
	}
	h := http.Header{}
	if f.total {
		h.Set("X-Total", strconv.Itoa(f.n))
	}
	if f.perPage > 0 {
		h.Set("X-Per-Page", strconv.Itoa(f.perPage))
	}
	if f.links {
		link := func(off int, rel string) {
			h.Add("Link", fmt.Sprintf("<https://api.chatshipper.com/v2/users?offset=%d&limit=%d>; rel=%q", off, limit, rel))
		}
		if offset > 0 {
			link(0, "first")
			link(max(0, offset-limit), "prev")
		}
		if offset+limit < f.n {
			link(offset+limit, "next")
			link((f.n-1)/limit*limit, "last")
		}
	}
	return items, parsePagination(h), nil
}

func (f *pageFakeLister) offsets() []int {
	out := make([]int, len(f.calls))
	for i, v := range f.calls {
		out[i], _ = strconv.Atoi(v.Get("offset"))
	}
	return out
}

func collectPages[T any](t *testing.T, seq func(func(T, error) bool)) ([]T, []error) {
	t.Helper()
	var items []T
	var errs []error
	for item, err := range seq {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		items = append(items, item)
	}
	return items, errs
}

func pageSeqInts(from, to int) []int {
	var out []int
	for i := from; i < to; i++ {
		out = append(out, i)
	}
	return out
}

func TestPaginateCounts(t *testing.T) {
	t.Parallel()
	// Expected fetch counts with the default limit of 200. Without X-Total
	// a full page needs one more (empty) fetch, and so does a short page
	// that came with no paging header at all (a server may cap its pages
	// without saying so; links are sent only where there is one, so a
	// listing of one page has none).
	tests := []struct {
		n                      int
		withTotal, none, links int
	}{
		{0, 1, 1, 1},
		{1, 1, 2, 2},
		{199, 1, 2, 2},
		{200, 1, 2, 2},
		{201, 2, 3, 2},
		{1000, 5, 6, 5},
	}
	for _, tt := range tests {
		for _, mode := range []struct {
			name         string
			total, links bool
			want         int
		}{
			{"total", true, false, tt.withTotal},
			{"no headers", false, false, tt.none},
			{"links", false, true, tt.links},
			{"total and links", true, true, tt.withTotal},
		} {
			t.Run(fmt.Sprintf("%d items/%s", tt.n, mode.name), func(t *testing.T) {
				f := &pageFakeLister{n: tt.n, total: mode.total, links: mode.links}
				items, errs := collectPages(t, paginate(t.Context(), nil, f.fetch))
				require.Empty(t, errs)
				assert.Equal(t, pageSeqInts(0, tt.n), items, "every item once, in order")
				require.Len(t, f.calls, mode.want)
				for i, v := range f.calls {
					// Each page starts where the one before ended.
					assert.Equal(t, url.Values{"offset": {strconv.Itoa(min(200*i, tt.n))}, "limit": {"200"}}, v)
				}
			})
		}
	}
}

func TestPaginateCallerOffsetAndLimit(t *testing.T) {
	t.Parallel()
	q := NewQuery().Where("status", Eq("open")).Sort("-createdAt").Offset(3).Limit(7)
	before, err := q.Encode()
	require.NoError(t, err)

	f := &pageFakeLister{n: 20, total: true}
	items, errs := collectPages(t, paginate(t.Context(), q, f.fetch))
	require.Empty(t, errs)
	assert.Equal(t, pageSeqInts(3, 20), items)
	assert.Equal(t, []int{3, 10, 17}, f.offsets())
	for _, v := range f.calls {
		assert.Equal(t, "open", v.Get("status"))
		assert.Equal(t, "-createdAt", v.Get("sort"))
		assert.Equal(t, "7", v.Get("limit"))
	}

	after, err := q.Encode()
	require.NoError(t, err)
	assert.Equal(t, before, after, "caller's query changed")
	off, _ := q.OffsetValue()
	assert.Equal(t, 3, off)
}

func TestPaginateLeavesCallerQueryWithoutLimit(t *testing.T) {
	t.Parallel()
	q := NewQuery().Where("type", Eq("contact"))
	f := &pageFakeLister{n: 450, total: true}
	items, errs := collectPages(t, paginate(t.Context(), q, f.fetch))
	require.Empty(t, errs)
	assert.Len(t, items, 450)
	_, hasLimit := q.LimitValue()
	_, hasOffset := q.OffsetValue()
	assert.False(t, hasLimit)
	assert.False(t, hasOffset)
	assert.Equal(t, []url.Values{
		{"type": {"contact"}, "offset": {"0"}, "limit": {"200"}},
		{"type": {"contact"}, "offset": {"200"}, "limit": {"200"}},
		{"type": {"contact"}, "offset": {"400"}, "limit": {"200"}},
	}, f.calls)
}

func TestPaginateFollowsNextLink(t *testing.T) {
	t.Parallel()
	// After a short page, the server's next link decides where to go (the
	// server held back items of its window); after a full page, the next
	// page starts right after it, wherever the link points: following a link
	// further on would skip items the server holds, and one further back
	// would repeat items.
	tests := []struct {
		name    string
		limit   int
		page1   []string
		next    int
		offsets []int
	}{
		{"short page, link further on", 5, []string{"a", "b"}, 10, []int{0, 10}},
		{"full page, link further on", 2, []string{"a", "b"}, 10, []int{0, 2}},
		{"full page, link inside the page", 2, []string{"a", "b"}, 1, []int{0, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var offsets []int
			fetch := func(_ context.Context, q *Query) ([]string, Pagination, error) {
				off, _ := q.OffsetValue()
				offsets = append(offsets, off)
				h := http.Header{}
				if off == 0 {
					h.Set("Link", fmt.Sprintf(`<https://api.chatshipper.com.v2/x?offset=%d&limit=%d>; rel="next"`, tt.next, tt.limit))
					return tt.page1, parsePagination(h), nil
				}
				h.Set("Link", `<https://api.chatshipper.com/v2/x?limit=2>; rel="first", <https://api.chatshipper.com/v2/x?offset=0&limit=2>; rel="prev"`)
				return []string{"c", "d"}, parsePagination(h), nil
			}
			items, errs := collectPages(t, paginate(t.Context(), NewQuery().Limit(tt.limit), fetch))
			require.Empty(t, errs)
			assert.Equal(t, []string{"a", "b", "c", "d"}, items)
			assert.Equal(t, tt.offsets, offsets)
		})
	}
}

func TestPaginateServerPageCap(t *testing.T) {
	t.Parallel()
	// The server returns 100 per page whatever the limit, and says so.
	f := &pageFakeLister{n: 250, perPage: 100}
	items, errs := collectPages(t, paginate(t.Context(), nil, f.fetch))
	require.Empty(t, errs)
	assert.Equal(t, pageSeqInts(0, 250), items)
	assert.Equal(t, []int{0, 100, 200}, f.offsets())
}

func TestPaginateNextLinkMustAdvance(t *testing.T) {
	t.Parallel()
	for _, next := range []int{0, 5} {
		t.Run(strconv.Itoa(next), func(t *testing.T) {
			calls := 0
			fetch := func(_ context.Context, q *Query) ([]int, Pagination, error) {
				calls++
				p := paginationAbsent
				p.NextOffset = next
				return []int{1, 2}, p, nil
			}
			items, errs := collectPages(t, paginate(t.Context(), NewQuery().Offset(5).Limit(2), fetch))
			assert.Equal(t, []int{1, 2}, items)
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], errPageNoProgress)
			assert.EqualError(t, errs[0], fmt.Sprintf("chatshipper: invalid response: pagination does not advance: next offset %d after offset 5", next))
			assert.Equal(t, 1, calls)
		})
	}
}

func TestPaginateErrorOnPageThree(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	f := &pageFakeLister{n: 1000, total: true, failAt: 3, err: boom}
	var items []int
	var errs []error
	for item, err := range paginate(t.Context(), nil, f.fetch) {
		if err != nil {
			assert.Zero(t, item)
			errs = append(errs, err)
			continue
		}
		items = append(items, item)
	}
	assert.Equal(t, pageSeqInts(0, 400), items)
	require.Len(t, errs, 1)
	assert.Same(t, boom, errs[0])
	assert.Len(t, f.calls, 3)
}

func TestPaginateBreakStopsFetching(t *testing.T) {
	t.Parallel()
	f := &pageFakeLister{n: 1000, total: true}
	var got []int
	for item, err := range paginate(t.Context(), NewQuery().Limit(5), f.fetch) {
		require.NoError(t, err)
		got = append(got, item)
		if len(got) == 5 {
			break
		}
	}
	assert.Equal(t, []int{0, 1, 2, 3, 4}, got)
	assert.Len(t, f.calls, 1)
}

func TestPaginateContext(t *testing.T) {
	t.Parallel()
	t.Run("cancelled before the first fetch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		f := &pageFakeLister{n: 10, total: true}
		items, errs := collectPages(t, paginate(ctx, nil, f.fetch))
		assert.Empty(t, items)
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], context.Canceled)
		assert.Empty(t, f.calls)
	})
	t.Run("cancelled during the first fetch", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		f := &pageFakeLister{n: 10, total: true, onFetch: func(int) { cancel() }}
		items, errs := collectPages(t, paginate(ctx, NewQuery().Limit(4), f.fetch))
		assert.Equal(t, []int{0, 1, 2, 3}, items)
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], context.Canceled)
		assert.Len(t, f.calls, 1)
	})
}

func TestPaginateInvalidQuery(t *testing.T) {
	t.Parallel()
	f := &pageFakeLister{n: 10}
	q := NewQuery().Limit(0)
	items, errs := collectPages(t, paginate(t.Context(), q, f.fetch))
	assert.Empty(t, items)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], ErrInvalidQuery)
	assert.Same(t, q.Err(), errs[0])
	assert.Empty(t, f.calls)
}

func TestPaginateEmptyPageWithNextLinkStops(t *testing.T) {
	t.Parallel()
	calls := 0
	fetch := func(context.Context, *Query) ([]int, Pagination, error) {
		calls++
		p := paginationAbsent
		p.NextOffset, p.Total = 200, 1000
		return nil, p, nil
	}
	items, errs := collectPages(t, paginate(t.Context(), nil, fetch))
	assert.Empty(t, items)
	assert.Empty(t, errs)
	assert.Equal(t, 1, calls)
}

// hostileLinkHeader is a 32 KiB Link header naming 3,000 relations for one
// long target: the shape that took seconds when every relation re-parsed the
// target's query.
func hostileLinkHeader() string {
	var b strings.Builder
	b.WriteString("<https://x/v2/users?" + strings.Repeat("a=1&", 2000) + "offset=7>; rel=\"")
	for i := range 3000 {
		fmt.Fprintf(&b, "r%d ", i)
	}
	b.WriteString("next\"")
	return b.String()
}

func TestParseLinkHeaderHostileIsLinear(t *testing.T) { // not parallel: AllocsPerRun
	h := hostileLinkHeader()
	require.Greater(t, len(h), 24<<10)
	links := parseLinkHeader([]string{h})
	require.Len(t, links, 1)
	assert.Equal(t, "7", links["next"].Get("offset"))
	// The target's query is parsed once whatever the number of relations: the
	// allocations stay those of one url.ParseQuery of 2,001 pairs (re-parsing
	// per relation made it 3,001 times that).
	one := testing.AllocsPerRun(3, func() { linkTargetQuery("u?" + strings.Repeat("a=1&", 2000) + "offset=7") })
	all := testing.AllocsPerRun(3, func() { parseLinkHeader([]string{h}) })
	assert.Less(t, all, 2*one+100, "allocations of the hostile header vs one query parse")
}

func FuzzParseLinkHeader(f *testing.F) {
	// Seeds also live in testdata/fuzz/FuzzParseLinkHeader/.
	f.Add(`<https://api.chatshipper.com/v2/users?offset=10&limit=5>; rel="next"`)
	f.Add(hostileLinkHeader())
	f.Add(strings.Repeat(`<u?a=1>; rel="x y z"`, 500))
	f.Fuzz(func(t *testing.T, s string) {
		for _, values := range [][]string{{s}, strings.Split(s, "\n")} {
			// A time bound per input: linear parsing takes microseconds per
			// KiB; a super-linear one takes seconds on inputs of tens of KiB.
			// The bound is generous so a loaded machine cannot trip it.
			start := time.Now()
			links := parseLinkHeader(values)
			if d := time.Since(start); d > 200*time.Millisecond+time.Duration(len(s))*20*time.Microsecond {
				t.Fatalf("parsing %d bytes took %s", len(s), d)
			}
			require.LessOrEqual(t, len(links), 4)
			for rel := range links {
				require.Contains(t, []string{"first", "prev", "next", "last"}, rel)
				require.NotEmpty(t, rel)
				require.Equal(t, strings.ToLower(rel), rel)
				require.False(t, strings.ContainsAny(rel, " \t\r\n"), "rel %q", rel)
			}
			p := parsePagination(http.Header{"Link": values})
			for _, off := range []int{p.FirstOffset, p.PrevOffset, p.NextOffset, p.LastOffset} {
				require.GreaterOrEqual(t, off, -1)
			}
		}
	})
}

func FuzzParseRange(f *testing.F) {
	// Seeds also live in testdata/fuzz/FuzzParseRange/.
	f.Add("6-9")
	f.Fuzz(func(t *testing.T, s string) {
		start, end := parsePageRange(s)
		if start == -1 || end == -1 {
			require.Equal(t, -1, start)
			require.Equal(t, -1, end)
			return
		}
		require.GreaterOrEqual(t, start, 0)
		require.LessOrEqual(t, start, end)
		s2, e2 := parsePageRange(fmt.Sprintf("%d-%d", start, end))
		require.Equal(t, start, s2)
		require.Equal(t, end, e2)
	})
}

func TestListIterNilContext(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	//nolint:staticcheck // a nil context is the misuse under test
	_, _, listErr := c.Contacts.List(nil, nil)
	var listArg *ArgumentError
	require.ErrorAs(t, listErr, &listArg)
	n := 0
	//nolint:staticcheck // a nil context is the misuse under test
	for v, err := range c.Contacts.ListIter(nil, nil) {
		n++
		assert.Nil(t, v)
		var iterArg *ArgumentError
		require.ErrorAs(t, err, &iterArg)
		assert.Equal(t, listArg.Error(), iterArg.Error())
	}
	assert.Equal(t, 1, n)
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

// A hostile server's pages never yield garbage or loop: null items are an
// ErrInvalidResponse, and a server that ignores the offset (and sends no
// totals or links) ends the walk with one instead of repeating a page.
func TestHostilePages(t *testing.T) {
	t.Parallel()
	full := func(n int) string {
		var b strings.Builder
		b.WriteByte('[')
		for i := range n {
			if i > 0 {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"%024d"}`, i+1)
		}
		b.WriteByte(']')
		return b.String()
	}
	tests := []struct {
		name  string
		body  string
		query *Query
	}{
		{"null item, key walk", `[{"id":"000000000000000000000001"},null]`, nil},
		{"null item, sorted walk", `[null]`, NewQuery().Sort("name")},
		{"offset ignored, sorted walk", full(2), NewQuery().Sort("name").Limit(2)},
		{"key filter ignored, default walk", full(2), NewQuery().Limit(2)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			mt.RegisterNoResponder(httpmock.NewStringResponder(200, tt.body))
			n, errs := 0, 0
			for u, err := range c.Contacts.ListIter(context.Background(), tt.query) {
				n++
				require.Less(t, n, 100, "the walk does not end")
				if err != nil {
					errs++
					assert.Nil(t, u)
					assert.ErrorIs(t, err, ErrInvalidResponse)
					continue
				}
				assert.NotNil(t, u, "a nil item with a nil error")
			}
			assert.Equal(t, 1, errs)
		})
	}
	t.Run("List refuses a null item", func(t *testing.T) {
		t.Parallel()
		c, mt := newTestClient(t)
		mt.RegisterNoResponder(httpmock.NewStringResponder(200, `[null]`))
		items, _, err := c.Contacts.List(context.Background(), nil)
		assert.Nil(t, items)
		assert.ErrorIs(t, err, ErrInvalidResponse)
	})
}
