package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"log/slog"
	"net/http"
	"sync"
)

// Page is one page of a walk (see [Walk]): the items of one list request
// and the *Response that carried them, with the page's place in the walk.
type Page[T any] struct {
	// Items are the page's items, in the order the server sent them.
	Items []*T
	// Response is the answer the page came in; its Pagination holds the
	// list headers of this request (for a walk by key, X-Total there counts
	// the items from this page on, not the whole listing).
	Response *Response
	// Number is the page's 1-based position in the walk.
	Number int
	// Start is how many items the walk yielded before this page.
	Start int
	// Total is how many items the walk expects to yield in all, read from
	// X-Total without an extra request: Start plus the items the server
	// still counts from this page on. It is -1 when the server sent no
	// X-Total. It can change from page to page when the listing changes.
	Total int
}

// WalkOption tunes a walk started by Walk or Pages on a service (for
// example [ConversationsService.Walk]).
type WalkOption func(*walkConfig)

// walkConfig is what the WalkOptions set.
type walkConfig struct {
	prefetch    int // pages fetched ahead of the one the caller works on
	concurrency int // >1: that many pages at once (by id ranges, or by offset)
	err         error
	// logOffset, if set, is told when a walk that wanted to page by key
	// pages by offset instead, from page on, and why.
	logOffset func(ctx context.Context, page int, reason string)
}

// defaultPrefetch is how many pages a walk fetches ahead of the caller.
const defaultPrefetch = 1

// maxWalkPages caps Prefetch and Concurrency: a walk never has more pages in
// flight or waiting than this, whatever n it was given. 64 requests at once
// already exceed what the API's rate limit of 20 requests a second answers
// in a round trip of three seconds.
const maxWalkPages = 64

// Prefetch sets how many pages a walk fetches ahead of the page the caller is
// working on (default 1; 0 fetches a page only when the caller needs it; n
// above 64 counts as 64). The pages ahead wait in memory, so memory is
// bounded by n+1 pages. Breaking out of the loop cancels the requests in
// flight; a page fetched ahead and never used still counted against the rate
// limit.
func Prefetch(n int) WalkOption {
	return func(c *walkConfig) {
		if n < 0 {
			c.err = argError("Prefetch", "%d pages is negative", n)
			return
		}
		c.prefetch = min(n, maxWalkPages)
	}
}

// Concurrency makes a walk fetch up to n pages at once, all through the
// client's limiter and retries, so that it runs at the rate limit rather
// than at one round trip per page. n must be at least 1; 1 means the default
// walk. n above 64 counts as 64: the API's limit of 20 requests a second
// keeps no more than that busy unless a round trip takes over three
// seconds, and the walk's buffers are sized by the n it uses. Memory is
// bounded by n pages, plus, for a walk by offset, the id of each item it
// yielded (below).
//
// A query that neither sorts nor filters on id is walked by id ranges, with
// the promise of the default walk: every item that matched when the walk
// began and still matches when its range reaches it is yielded exactly once,
// whatever the loop changes. The first page comes by offset, as in every
// walk, and beside it one request more asks for the greatest id ("sort=-id",
// limit 1; from a server that does not sort so, the last item by offset,
// X-Total-1, once the first page is in). When the first page's ids are in
// increasing order and its X-Total says more remain, the ids after it are
// split into up to n ranges, each walked by key at once ("id=>a,<=b", the
// last one "id=>a", so items created during the walk come in the last
// range). A walk that turns out to fit one page has made that one request
// more. The ids of the API are ObjectIds,
// which begin with their creation time, so the ranges split the listing by
// age; they are cut as if the ids were evenly spread, and a range with more
// items than the others simply takes more pages.
//
// The order is not the listing's: the first page comes first, and after it
// the pages of the ranges as they arrive, interleaved; within a range, ids
// increase. (Holding pages back to restore the listing's order would make
// memory grow with the listing.) Walk without Concurrency when the order
// matters.
//
// Before any page of a range is yielded, the first answer of every range is
// checked: its ids in increasing order and inside the range. When all are
// empty, or their X-Totals add up to fewer items than the first page left,
// the page at the walk's position by offset decides, as for the default walk
// (see [Walk.Pages]): it shows the ranges missing items, or the ranges stand
// and the count moved with the listing. A server that
// ignores, refuses (400 or 422) or mismatches id comparisons, orders by
// something else, or has ids that are not ObjectIds (24 lowercase hex
// digits) is walked by offset from the second page on, and the client's
// logger (see [WithLogger]) gets one warning, "chatshipper: walk pages by
// offset", with the reason; such a walk never yields an item twice and ends
// with [ErrListingChanged] when a page's X-Total differs from the first
// page's (see [Walk.Pages]). Without X-Total in the first answer the walk
// goes on by key, page by page.
//
// A query that sorts, or filters on id itself, is walked by offset: once the
// first page has told the total, the other pages are fetched n at once and
// yielded in order. The offsets are fixed when the walk starts, so such a
// walk is for listings that do not change during it: an item created,
// deleted or moved in or out of the query shifts the others and can make the
// walk skip items. It never yields an item twice: it keeps the id of every
// item it yielded (one string per item, for the rest of the walk) and drops
// any item it meets again. Its pages are as long as the first one the server
// answered (it may answer fewer items than the limit, and say so in
// X-Per-Page), and a page that comes back shorter than that is completed with
// more requests before it is yielded, so a server that shortens its pages
// makes no gap.
func Concurrency(n int) WalkOption {
	return func(c *walkConfig) {
		if n < 1 {
			c.err = argError("Concurrency", "%d is below 1", n)
			return
		}
		c.concurrency = min(n, maxWalkPages)
	}
}

func newWalkConfig(opts []WalkOption) walkConfig {
	cfg := walkConfig{prefetch: defaultPrefetch, concurrency: 1}
	for _, o := range opts {
		if o != nil && cfg.err == nil {
			o(&cfg)
		}
	}
	return cfg
}

// Walk is one walk over the items of a list query, made by the Walk method
// of a service (for example [ConversationsService.Walk]). Range over [Walk.Items] for the
// items or [Walk.Pages] for whole pages; inside the loop, [Walk.Total],
// [Walk.Page] and [Walk.Count] tell the progress, read from the list headers
// without extra requests.
//
// Each range over Items or Pages walks the listing from the start again. A
// Walk is meant for one loop at a time: its progress accessors are not safe
// for concurrent use.
type Walk[T any] struct {
	pages func(yield func(*Page[T], error) bool)

	total, page, count int
}

// Items returns every item of the walk; see [Walk.Pages] for what the walk
// guarantees. An error is yielded once, as (nil, err), and ends the walk.
func (w *Walk[T]) Items() iter.Seq2[*T, error] {
	return func(yield func(*T, error) bool) {
		for p, err := range w.Pages() {
			if err != nil {
				yield(nil, err)
				return
			}
			for _, item := range p.Items {
				w.count++
				if !yield(item, nil) {
					return
				}
			}
		}
	}
}

// Pages returns the pages of the walk, each with its *Response. An error is
// yielded once, as (nil, err), and ends the walk; breaking out of the loop
// cancels the requests in flight and returns only when nothing of the walk
// runs any more.
//
// A walk with a query that neither sorts nor filters on id pages by key:
// after a page it asks for the items whose id is greater than the last one
// seen (the API orders lists by id by default; see
// https://developers.chatshipper.com/docs/api-resource-sets); with
// [Concurrency] it does so in ranges of ids at once. So every item
// that matched when the walk began and still matches when the walk reaches
// it is yielded exactly once, whatever the loop changes: items leaving or
// entering the query, deleted or created, do not shift the others. Items
// created during the walk that match are yielded too, at the end (a loop
// that creates a matching item for each one it sees never ends). A query's
// own Offset applies to the first page only.
//
// The API documents paging by offset and limit; that a list filter "id=>X"
// compares ids is not documented, so the walk checks it before relying on
// it. The first page is asked by offset, and the first page asked by key is
// checked against it: its ids must come in increasing order after the last
// one seen. When that answer is empty although the first page says more may
// remain, or its X-Total counts fewer items than the first page left, it is
// in doubt: the listing may have changed since the first page (items deleted
// or moved out of the query, by the loop or by anyone), or the key filter
// may miss items. One request by offset, for the page at the walk's
// position, decides: an empty answer gives way to it when it holds items.
// Otherwise the walk goes by offset when that page holds an item after the
// last id seen that the answer by key should have held and did not (when the
// listing shrank, the page as far back as the shrink can have moved the
// items is asked too), or an item whose id is not after the last id seen, or
// when the ids up to the last one seen ("id=<=X", one request more) count
// more items than came before the walk's position: on a server that orders
// by id they can only be fewer, however the listing changes, since items
// created later have greater ids. Else the walk goes on by key: the count
// moved with the listing. (The listing's own X-Total decides nothing: a loop
// that deletes one item and creates another leaves it as it was.)
// A server that ignores the key filter, refuses it (400 or 422), answers it
// with nothing, skips items with it, lists newest first or orders by
// something else is walked by offset from there on, following the next link
// (or counting items when there is none), and the client's logger (see
// [WithLogger]) gets one warning, "chatshipper: walk pages by offset", with
// the collection, the page and the reason. Once the server has answered a
// page by key as expected, a later page by key whose ids are not in
// increasing order after the last id yielded (a page end repeated, newest
// items first) is refused: the walk ends with an error matching
// [ErrInvalidResponse], and none of that page's items is yielded.
//
// A walk that goes by offset so, because the server does not page by key,
// never yields an item twice: it keeps the id of every item it yielded (one
// string per item, for the rest of the walk) and drops any item it meets
// again. Nor does it skip items unseen, as far as the list headers tell: a
// page whose X-Total is lower than the page before's (with [Concurrency],
// other than the first page's, since its offsets were fixed by that count)
// shows that items may have moved past the walk, and the walk ends with
// [ErrListingChanged], which matches [ErrInvalidResponse], before yielding
// any item of that page. Walk again until the query is empty: a loop that
// moves each item out of the query, or deletes it, gets a page or more
// further each time. Two blind spots remain: a change that removes and adds
// as many items between two pages leaves X-Total as it was, and a server
// that sends no X-Total tells nothing; there such a walk skips an item for
// each one that leaves the listing before its position, as a walk by offset
// does.
//
// A query that sorts, or filters on id itself, is walked by offset: an item
// that leaves the query or is deleted during the walk shifts the ones after
// it back, and the walk skips as many of them, without an error. An item
// that enters the query before the walk's position pushes the last item of a
// page onto the next; the walk drops an item it yielded on the page before,
// so it is not yielded twice unless the items are pushed more than a page on
// (with [Concurrency] the walk keeps every id it yielded, and never yields
// one twice). Collect the IDs first, or filter so that the loop's changes do
// not move items out of the query, when such a walk must see everything.
//
// A page shorter than the limit (or than the server's X-Per-Page, when it
// caps its pages lower) ends the walk unless X-Total or a next link says
// more remain. A short page that comes with none of X-Total, Link and
// X-Per-Page is never taken for the end, as a server may cap its pages
// below the limit without saying so: the walk asks for the next page, and
// ends when that one is empty. A server that sends no paging headers so
// costs one more request at the end of a walk.
//
// Pages fetched ahead (see [Prefetch]) hold the items as they were when
// fetched, a page or so before the caller reaches them.
func (w *Walk[T]) Pages() iter.Seq2[*Page[T], error] {
	return func(yield func(*Page[T], error) bool) {
		w.total, w.page, w.count = -1, 0, 0
		for p, err := range w.pages {
			if err != nil {
				yield(nil, err)
				return
			}
			w.total, w.page = p.Total, p.Number
			if !yield(p, nil) {
				return
			}
		}
	}
}

// Total returns how many items the walk expects to yield, from the X-Total
// header of the latest page (see [Page.Total]), or -1 before the first page
// or when the server sends no X-Total.
func (w *Walk[T]) Total() int { return w.total }

// Page returns the 1-based number of the page the walk is on, 0 before the
// first page.
func (w *Walk[T]) Page() int { return w.page }

// Count returns how many items [Walk.Items] has yielded so far in the
// current loop.
func (w *Walk[T]) Count() int { return w.count }

// newWalk builds the Walk of a collection. Its page requests are part of
// call, the observed call (observedWalk's; nil without an observer). observe,
// if non-nil, sees every page before the caller does (the loop guard learns of
// replies from it).
func newWalk[T any](ctx context.Context, c *Client, call *obsCall, collection string, q *Query, opts []WalkOption, observe func([]*T)) *Walk[T] {
	cfg := newWalkConfig(opts)
	if c.logger != nil {
		cfg.logOffset = func(ctx context.Context, page int, reason string) {
			c.logger.LogAttrs(ctx, slog.LevelWarn, "chatshipper: walk pages by offset",
				slog.String("collection", collection), slog.Int("page", page), slog.String("reason", reason))
		}
	}
	fetch := func(ctx context.Context, q *Query) ([]*T, *Response, error) {
		return listPage[T](ctx, c, call, collection, q)
	}
	var idOf func(*T) string
	if _, ok := any((*T)(nil)).(interface{ refID() string }); ok {
		idOf = func(item *T) string {
			if item == nil {
				return ""
			}
			return any(item).(interface{ refID() string }).refID()
		}
	}
	return &Walk[T]{total: -1, pages: func(yield func(*Page[T], error) bool) {
		for p, err := range walkPages(ctx, q, cfg, fetch, idOf) {
			if err != nil {
				yield(nil, err)
				return
			}
			if observe != nil {
				observe(p.items)
			}
			page := &Page[T]{Items: p.items, Response: p.resp, Number: p.number, Start: p.start, Total: p.total}
			if !yield(page, nil) {
				return
			}
		}
	}}
}

// errWalk is a walk that yields err and ends.
func errWalk[T any](err error) *Walk[T] {
	return &Walk[T]{total: -1, pages: func(yield func(*Page[T], error) bool) { yield(nil, err) }}
}

// walkPage is one page as the engine hands it on.
type walkPage[E any] struct {
	items  []E
	resp   *Response
	number int
	start  int // set by the consumer: items yielded before this page
	total  int // the walk's expected total (offset pages), or -1
	// remaining is X-Total of a page asked by key (the items from this
	// page on), or -1; the consumer adds the items yielded before it.
	remaining int
	err       error // yielded after items, if any
	last      bool  // no page follows
	// byOffset: the page was asked by offset, so it may repeat items of the
	// page before (the listing moved, or the server ignores the offset).
	byOffset            bool
	pageOffset, advance int // offset the request used; where the next starts
	// track: a page by offset of a walk that keeps the id of every item it
	// yielded (walkState.track), so that it drops any item yielded before,
	// not only those of the page before.
	track bool
	// fixedBy is, for a page of runConcurrent, the first page's X-Total,
	// which fixed the page's offset: the listing grew when the page's own
	// X-Total is greater. 0 for a sequential page, whose X-Total is set
	// against the page before's.
	fixedBy int
}

// walkPages is the paging engine. fetch gets a fresh query per page (the
// caller's q is never changed). idOf, when non-nil, reads an item's ID so the
// walk can page by key (with Concurrency, by id ranges at once:
// pagination_partition.go) and never yields an item of a page again on the
// page after it; with nil, or a query that sorts or filters on id, the walk
// pages by offset. Pages are fetched by one goroutine (several with
// Concurrency) at most cfg.prefetch pages ahead of the consumer; when the
// consumer stops, the walk's context is cancelled and walkPages returns only
// after every goroutine it started has ended.
func walkPages[E any](ctx context.Context, q *Query, cfg walkConfig, fetch func(context.Context, *Query) ([]E, *Response, error), idOf func(E) string) iter.Seq2[*walkPage[E], error] {
	return func(yield func(*walkPage[E], error) bool) {
		if err := cfg.err; err != nil {
			yield(nil, err)
			return
		}
		if err := q.Err(); err != nil {
			yield(nil, err)
			return
		}
		if err := ctx.Err(); err != nil {
			yield(nil, err)
			return
		}
		wctx, cancel := context.WithCancel(ctx)
		var wg sync.WaitGroup
		defer func() {
			cancel()
			wg.Wait()
		}()

		s := &walkState[E]{q: q, fetch: fetch, idOf: idOf, logOffset: cfg.logOffset}
		s.init()
		// A walk that may page by offset out of order with the listing's
		// changes (one that wants keys may have to fall back; any walk with
		// Concurrency) remembers every id it yields while it pages by offset.
		s.track = idOf != nil && (s.mode == modeUnverified || cfg.concurrency > 1)
		slots := cfg.prefetch + 1
		if cfg.concurrency > slots {
			slots = cfg.concurrency
		}
		// sem holds one token per page fetched and not yet consumed.
		sem := make(chan struct{}, slots)
		// order carries, in walk order, one channel per page.
		order := make(chan chan *walkPage[E], slots)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer close(order)
			s.run(wctx, cfg.concurrency, sem, order, &wg)
		}()

		var prevIDs []string // the ids of the page before, as yielded
		// seen holds the id of every item yielded, while the walk tracks
		// its pages by offset (walkPage.track); nil otherwise.
		var seen map[string]struct{}
		prevTotal := -1 // X-Total of the last page by offset
		yielded := 0
		for ch := range order {
			// Every channel in order gets its page: the fetch runs under
			// ctx, so a cancellation ends it at once, and a page fetched
			// before the cancellation is yielded (it was paid for).
			// Waiting here rather than racing ctx.Done makes that exact.
			p := <-ch
			own := paginationOf(p.resp).Total
			grewFrom := prevTotal
			if p.fixedBy > 0 {
				grewFrom = p.fixedBy
			}
			if p.byOffset && idOf != nil && len(p.items) > 0 && (len(prevIDs) > 0 || len(seen) > 0) {
				if p.track && seen != nil {
					p.items = dropIDs(p.items, seen, idOf)
				} else {
					p.items = dropRepeated(p.items, prevIDs, idOf)
				}
				// Only items yielded before, and no more items in the
				// listing than at the page before: the server ignores
				// the offset. (When the listing grew, items entered it
				// before the walk's position and pushed items yielded
				// before onto this page: the walk goes on.)
				if len(p.items) == 0 && p.err == nil && (own < 0 || own <= grewFrom) {
					p.err = fmt.Errorf("%w: page %d holds only items yielded before (offset ignored?)", errPageNoProgress, p.number)
				}
			}
			if p.byOffset {
				prevTotal = own
			}
			p.start = yielded
			if p.remaining >= 0 {
				p.total = yielded + p.remaining
			}
			yielded += len(p.items)
			if idOf != nil && len(p.items) > 0 {
				// Read before the caller can change the page's slice.
				prevIDs = prevIDs[:0]
				for _, it := range p.items {
					prevIDs = append(prevIDs, idOf(it))
				}
			}
			switch {
			case p.track:
				if seen == nil {
					seen = make(map[string]struct{}, len(prevIDs))
				}
				for _, id := range prevIDs {
					if id != "" {
						seen[id] = struct{}{}
					}
				}
			case !p.byOffset && len(p.items) > 0:
				// A walk that pages by key never pages by offset again.
				seen = nil
			}
			if len(p.items) > 0 || p.err == nil {
				if !yield(p, nil) {
					return
				}
			}
			if p.err != nil {
				yield(nil, p.err)
				return
			}
			<-sem
			if p.last {
				return
			}
		}
		// The dispatcher stopped without a last page: the context ended.
		if err := ctx.Err(); err != nil {
			yield(nil, err)
		}
	}
}

// dropRepeated returns items without those whose id is in prevIDs (an item
// shifted onto the next offset page by a change to the listing, or a page
// answered again by a server that ignores the offset). Items without an id
// are kept.
func dropRepeated[E any](items []E, prevIDs []string, idOf func(E) string) []E {
	seen := make(map[string]struct{}, len(prevIDs))
	for _, id := range prevIDs {
		if id != "" {
			seen[id] = struct{}{}
		}
	}
	return dropIDs(items, seen, idOf)
}

// dropIDs returns items without those whose id is in seen. Items without
// an id are kept.
func dropIDs[E any](items []E, seen map[string]struct{}, idOf func(E) string) []E {
	var kept []E
	for i, it := range items {
		if _, dup := seen[idOf(it)]; !dup {
			if kept != nil {
				kept = append(kept, it)
			}
			continue
		}
		if kept == nil {
			kept = append(make([]E, 0, len(items)-1), items[:i]...)
		}
	}
	if kept == nil {
		return items
	}
	return kept
}

// walkMode is how the walk asks for its pages.
type walkMode int

const (
	// modeOffset asks by offset and limit, as the API documents: a query
	// that sorts or filters on id, items without IDs, or a server found not
	// to page by key.
	modeOffset walkMode = iota
	// modeUnverified wants to page by key but has not seen the server
	// answer a key page yet: its first page came by offset, and the first
	// page asked by key is checked (firstKeyPage).
	modeUnverified
	// modeKey asks for the items whose id is greater than the last one
	// yielded (or, walking id ranges, inside a range); the server answered
	// the first such page (or every range's first page) as expected.
	modeKey
)

// walkState is the dispatcher's view of the walk.
type walkState[E any] struct {
	q         *Query
	fetch     func(context.Context, *Query) ([]E, *Response, error)
	idOf      func(E) string
	logOffset func(ctx context.Context, page int, reason string)

	mode        walkMode
	keyNext     bool // modeUnverified: the next page is the first asked by key
	limit       int
	firstOffset int    // the caller's offset
	offset      int    // offset of the next offset request
	key         string // the last (greatest) id yielded (modeUnverified, modeKey)
	prevTotal   int    // X-Total of the last offset page, or -1
	number      int
	// confirmAfter is, when the page before was short and came with no
	// paging header at all, its length: the walk asks for one more page to
	// confirm the end (0 otherwise).
	confirmAfter int
	// serverCap is the page length of a server seen capping its pages below
	// the limit without a paging header (0: not seen): a short page that
	// was followed by more items.
	serverCap int
	// track: the walk remembers the id of every item it yields while it
	// pages by offset, and drops any item it meets again (set in walkPages).
	track bool
	// fellBack: the walk wanted to page by key and the server could not, so
	// it pages by offset; a listing that shrinks under it ends it with
	// ErrListingChanged rather than let it skip items unseen.
	fellBack bool
	handMu   sync.Mutex // the partitioned walk's ranges hand pages on one at a time
}

func (s *walkState[E]) init() {
	s.limit = defaultPageLimit
	if l, ok := s.q.LimitValue(); ok {
		s.limit = l
	}
	s.firstOffset, _ = s.q.OffsetValue()
	s.offset = s.firstOffset
	s.prevTotal = -1
	s.mode = modeOffset
	if s.idOf != nil && !s.q.sorted() && !s.q.Has("id") && !s.q.Has("_id") {
		s.mode = modeUnverified
	}
}

// offsetQuery is the query of the next page by offset. The first page of a
// walk that wants keys keeps the caller's query as it is (offset included).
func (s *walkState[E]) offsetQuery() *Query {
	if s.number == 0 && s.mode != modeOffset {
		return s.q.Limit(s.limit)
	}
	return s.q.Offset(s.offset).Limit(s.limit)
}

// keyQuery is the query of the next page by key.
func (s *walkState[E]) keyQuery() *Query {
	return s.q.withoutOffset().Where("id", Gt(s.key)).Limit(s.limit)
}

// toOffset makes the walk page by offset from here on, and logs why.
func (s *walkState[E]) toOffset(ctx context.Context, reason string) {
	s.mode, s.keyNext, s.fellBack = modeOffset, false, true
	if s.logOffset != nil {
		s.logOffset(ctx, s.number+1, reason)
	}
}

// put hands a page to the consumer: it waits for a free slot, then queues
// the page's channel. It reports false when the walk's context ended.
func put[E any](ctx context.Context, sem chan struct{}, order chan chan *walkPage[E]) (chan *walkPage[E], bool) {
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, false
	}
	ch := make(chan *walkPage[E], 1)
	select {
	case order <- ch:
		return ch, true
	case <-ctx.Done():
		<-sem
		return nil, false
	}
}

// run fetches the pages. Sequential pages are fetched here one by one; with
// concurrency > 1 and a known total, the rest after the first page is
// fetched at most concurrency pages at once: by id ranges when the first
// page asks for a page by key next (runPartitioned), else by offset, one
// goroutine per page (runConcurrent).
func (s *walkState[E]) run(ctx context.Context, concurrency int, sem chan struct{}, order chan chan *walkPage[E], wg *sync.WaitGroup) {
	var last *lastIDProbe
	if concurrency > 1 && s.mode == modeUnverified {
		last = s.probeLastID(ctx, wg) // pagination_partition.go: beside the first page
	}
	for {
		if ctx.Err() != nil {
			return
		}
		ch, ok := put(ctx, sem, order)
		if !ok {
			return
		}
		p := s.nextPage(ctx)
		// The consumer owns p once it is sent (it may set p.err or trim
		// p.items): what decides here is read before, and the concurrent
		// walks read the first page from a copy.
		end := p.last || p.err != nil
		first := *p
		ch <- p
		if end {
			return
		}
		if concurrency > 1 && s.number == 1 && first.resp != nil && first.resp.Total >= 0 {
			// The rest at once: in ranges of ids, each by key, when the
			// first page asks for a page by key next; else by offset.
			if s.keyNext && s.runPartitioned(ctx, &first, concurrency, last, sem, order, wg) {
				return
			}
			if s.mode == modeOffset && s.runConcurrent(ctx, &first, nil, sem, order, wg) {
				return
			}
		}
	}
}

// nextPage fetches the next sequential page: by key, by offset, or, for the
// first key page, by key checked against a page by offset when its answer
// is in doubt.
func (s *walkState[E]) nextPage(ctx context.Context) *walkPage[E] {
	if s.mode == modeKey || s.keyNext {
		items, resp, err := s.fetch(ctx, s.keyQuery())
		if err != nil {
			var er *ErrorResponse
			if s.keyNext && errors.As(err, &er) && (er.StatusCode == http.StatusBadRequest || er.StatusCode == http.StatusUnprocessableEntity) {
				// A server that validates the id filter and refuses it.
				s.toOffset(ctx, fmt.Sprintf("the server refused the id filter (status %d)", er.StatusCode))
				return s.fetchOffsetPage(ctx)
			}
			return &walkPage[E]{err: err, remaining: -1}
		}
		if s.keyNext {
			return s.firstKeyPage(ctx, items, resp)
		}
		return s.keyPage(items, resp)
	}
	return s.fetchOffsetPage(ctx)
}

func (s *walkState[E]) fetchOffsetPage(ctx context.Context) *walkPage[E] {
	items, resp, err := s.fetch(ctx, s.offsetQuery())
	if err != nil {
		return &walkPage[E]{err: err, remaining: -1}
	}
	return s.offsetPage(ctx, items, resp)
}

// firstKeyPage decides, from the first answer to a key query, whether the
// server pages by key. Nothing of that answer has been yielded, so when it
// is in doubt the walk can still go on by offset without losing or repeating
// an item (as it does when the server refuses the key query with a 400 or
// 422, in nextPage):
//
//   - a page holding an id not after the last one yielded, or out of
//     increasing order, is dropped: the server ignores the key filter or
//     orders otherwise; the page at the next offset follows instead;
//   - an empty answer is checked with the page at the next offset: when that
//     holds items, the key filter missed them (or the server orders by
//     something else);
//   - an answer whose X-Total counts fewer items than the page before left
//     (X-Total minus the offset after it) is in doubt: the key filter may
//     skip items, the server may order by something else than the id, or
//     the listing changed since the page before (items deleted or moved out
//     of the query: the walk's own loop, or another writer). A count alone
//     never decides, since the listing may change between any two requests;
//     keyDoubt does, from what the pages hold.
func (s *walkState[E]) firstKeyPage(ctx context.Context, items []E, resp *Response) *walkPage[E] {
	s.keyNext = false
	pg := paginationOf(resp)
	if _, reason := s.keyOrder(items, s.key); reason != "" {
		s.toOffset(ctx, "the server does not page by id: "+reason)
		return s.fetchOffsetPage(ctx)
	}
	left := s.prevTotal - s.offset
	short := pg.Total >= 0 && s.prevTotal >= 0 && pg.Total < left
	if len(items) > 0 && !short {
		s.mode = modeKey
		return s.keyPage(items, resp)
	}
	oItems, oResp, err := s.fetch(ctx, s.offsetQuery())
	if err != nil {
		return &walkPage[E]{err: err, remaining: -1}
	}
	var reason string
	if len(items) == 0 {
		if len(oItems) > 0 {
			reason = "the id filter found nothing where the offset did"
		}
	} else {
		last, _ := s.keyOrder(items, s.key)
		reason, err = s.keyDoubt(ctx, oItems, oResp, s.idOf(items[0]), "the id filter",
			func(o []E) string { return s.missedID(o, s.key, last, items) })
		if err != nil {
			return &walkPage[E]{err: err, remaining: -1}
		}
	}
	if reason != "" {
		s.toOffset(ctx, reason)
		return s.offsetPage(ctx, oItems, oResp)
	}
	// The listing changed: the answer by key stands.
	s.mode = modeKey
	return s.keyPage(items, resp)
}

// keyDoubt decides whether answers by key that count fewer items than the
// first page left (the first page by key, or the first pages of the id
// ranges; what names them in the reason) miss items, or the listing changed
// since the first page. items and resp are the page at the walk's position
// by offset (s.offset, after the last id yielded, s.key), asked after the
// answers by key; firstKey is the first id those hold ("" for none), and
// missed returns the first id of a page by offset that they should hold and
// do not. It returns why the walk must go by offset, or "" when the answers
// by key stand. In that order:
//
//   - the page by offset holds an item the answers by key left out (and,
//     when the listing shrank since the first page and that page does not
//     reach back to firstKey, so does the page as far back as the shrink
//     can have shifted the items: witness);
//   - the page by offset holds an id not after the last id yielded: items
//     after the walk's position that the key filter excludes (the server
//     orders by something else, or items entered the query before the
//     position);
//   - the ids up to the last one yielded ("id=<=X", one request) count more
//     items (X-Total) than came before the walk's position: the same, for
//     items beyond the page by offset. On a server that orders by id they
//     can only be fewer, however the listing changed, since items created
//     later have greater ids; a server that refuses that filter, or sends
//     no X-Total for it, leaves the answers by key standing.
//
// The count of the listing itself is no evidence either way: a loop that
// deletes an item and creates another leaves it as it was.
func (s *walkState[E]) keyDoubt(ctx context.Context, items []E, resp *Response, firstKey, what string, missed func([]E) string) (string, error) {
	id, err := s.witness(ctx, items, resp, firstKey, missed)
	if err != nil {
		return "", err
	}
	if id != "" {
		return fmt.Sprintf("%s left out id %s, which the page by offset holds", what, id), nil
	}
	for i, it := range items {
		if id := s.idOf(it); id != "" && id <= s.key {
			return fmt.Sprintf("the item at offset %d (id %s) is not after the last id yielded, %s: the server orders by something else", s.offset+i, id, s.key), nil
		}
	}
	_, cResp, err := s.fetch(ctx, s.q.withoutOffset().Where("id", Lte(s.key)).Limit(1))
	if err != nil {
		var er *ErrorResponse
		if errors.As(err, &er) && (er.StatusCode == http.StatusBadRequest || er.StatusCode == http.StatusUnprocessableEntity) {
			return "", nil
		}
		return "", err
	}
	if c := paginationOf(cResp).Total; c > s.offset {
		return fmt.Sprintf("%s counts %d items up to id %s (X-Total) where %d came before it: the server orders by something else", what, c, s.key, s.offset), nil
	}
	return "", nil
}

// witness looks for an item the answers by key left out (missed returns its
// id, or "") in the page by offset at the walk's position (items, resp) and,
// when the listing shrank since the first page and that page does not reach
// back to firstKey (the first id the answers by key hold), in the page as far
// back as the shrink can have shifted the items: a listing that lost items
// before the walk's position moved the items after the key under earlier
// offsets.
func (s *walkState[E]) witness(ctx context.Context, items []E, resp *Response, firstKey string, missed func([]E) string) (string, error) {
	if id := missed(items); id != "" {
		return id, nil
	}
	now := paginationOf(resp).Total
	shrink := s.prevTotal - now
	if firstKey == "" || s.prevTotal < 0 || now < 0 || shrink <= 0 || s.offset == 0 {
		return "", nil
	}
	for _, it := range items {
		if s.idOf(it) <= firstKey {
			return "", nil
		}
	}
	items, _, err := s.fetch(ctx, s.q.Offset(max(s.offset-shrink, 0)).Limit(s.limit))
	if err != nil {
		return "", err
	}
	return missed(items), nil
}

// missedID returns the first id of the items of a page by offset (asked at
// the walk's position) that is after after and, unless upTo is "", not after
// upTo, and that is not among held (the answer by key for those ids): an
// item the key filter left out. It returns "" when there is none: the page
// by offset holds only items the answer by key holds too, items before the
// key (which entered the listing before the walk's position), or items
// beyond what the answer by key reached.
func (s *walkState[E]) missedID(offset []E, after, upTo string, held []E) string {
	var in map[string]struct{}
	for _, it := range offset {
		id := s.idOf(it)
		if id == "" || id <= after || upTo != "" && id > upTo {
			continue
		}
		if in == nil {
			in = make(map[string]struct{}, len(held))
			for _, h := range held {
				in[s.idOf(h)] = struct{}{}
			}
		}
		if _, ok := in[id]; !ok {
			return id
		}
	}
	return ""
}

// keyOrder checks that the ids of items are non-empty, increasing and after
// the key after; it returns the last id, or why they are not.
func (s *walkState[E]) keyOrder(items []E, after string) (last, reason string) {
	last = after
	for i, it := range items {
		id := s.idOf(it)
		switch {
		case id == "":
			return "", fmt.Sprintf("item %d has no id", i)
		case last != "" && id <= last && i == 0:
			return "", fmt.Sprintf("its first id %s is not after %s, the last id yielded", id, last)
		case last != "" && id <= last:
			return "", fmt.Sprintf("item %d (id %s) is not after id %s", i, id, last)
		}
		last = id
	}
	return last, ""
}

// lastPage reads the headers of a page of n items; pos is where the next
// page starts in the listing X-Total counts. X-Total decides, then the links
// (the API leaves "next" out only on the last page), then the page length: a
// page shorter than the limit, or than X-Per-Page when the server caps its
// pages lower, is the last. So a short page is not the end while X-Total or
// a next link says more remain. A short page that came with none of these
// headers (X-Total, Link, X-Per-Page) is not the end either: a server that
// caps its pages and says nothing cannot be told from one whose listing ends
// there, so the walk asks for one more page (confirmAfter), and ends when
// that one is empty.
func (s *walkState[E]) lastPage(n, pos int, pg Pagination) bool {
	switch {
	case n == 0:
		return true
	case pg.Total >= 0:
		return pos >= pg.Total
	case pg.NextOffset >= 0:
		return false
	case pg.FirstOffset >= 0 || pg.PrevOffset >= 0 || pg.LastOffset >= 0:
		return true
	case s.full(n, pg):
		return false
	case pg.PerPage > 0:
		return true
	}
	s.confirmAfter = n
	return false
}

// full reports whether a page of n items is as long as the server makes
// them: the limit, X-Per-Page when the server caps its pages lower, or the
// cap a server without paging headers was seen to apply.
func (s *walkState[E]) full(n int, pg Pagination) bool {
	size := s.limit
	if pg.PerPage > 0 {
		size = min(size, pg.PerPage)
	}
	if s.serverCap > 0 {
		size = min(size, s.serverCap)
	}
	return n >= size
}

// confirmed notes a page of n items that came after a short page without
// paging headers (see lastPage): when it holds items, the server caps its
// pages at the short page's length, and pages that long count as full.
func (s *walkState[E]) confirmed(n int) {
	if s.confirmAfter > 0 && n > 0 {
		s.serverCap = s.confirmAfter
	}
	s.confirmAfter = 0
}

// offsetPage builds the page just fetched by offset and moves the walk on.
func (s *walkState[E]) offsetPage(ctx context.Context, items []E, resp *Response) *walkPage[E] {
	pg := paginationOf(resp)
	s.number++
	reqOffset := s.offset
	p := &walkPage[E]{items: items, resp: resp, number: s.number, total: -1, remaining: -1, byOffset: true, pageOffset: reqOffset, track: s.track}
	s.confirmed(len(items))
	if pg.Total >= 0 {
		p.total = max(pg.Total-s.firstOffset, 0)
	}
	if s.fellBack && pg.Total >= 0 && s.prevTotal >= 0 && pg.Total < s.prevTotal {
		// Items before the walk's position may have left the listing and
		// shifted others past it: end rather than skip them unseen.
		p.items, p.last = nil, true
		p.err = fmt.Errorf("%w: page %d (offset %d) counts %d items (X-Total) where the page before counted %d; items may have been skipped, walk again",
			ErrListingChanged, s.number, reqOffset, pg.Total, s.prevTotal)
		return p
	}
	s.prevTotal = pg.Total
	if len(items) == 0 {
		p.last = true
		return p
	}
	// The next page starts after this one. A next link further on is
	// followed only after a short page (the server held back items of its
	// window); after a full page it would skip items.
	next := reqOffset + len(items)
	if pg.NextOffset >= 0 {
		if pg.NextOffset <= reqOffset {
			p.err = fmt.Errorf("%w: next offset %d after offset %d", errPageNoProgress, pg.NextOffset, reqOffset)
			return p
		}
		if pg.NextOffset > next && !s.full(len(items), pg) {
			next = pg.NextOffset
		}
	}
	p.advance, s.offset = next, next
	if s.lastPage(len(items), next, pg) {
		p.last = true
		return p
	}
	if s.mode == modeUnverified {
		// The next page is asked by key, if this one is in id order. A
		// page that confirms the end of a listing without paging headers
		// is asked by offset: an empty answer to a first key page would
		// take one more request to check.
		if last, reason := s.keyOrder(items, s.key); reason != "" {
			s.toOffset(ctx, "the server does not order by id: "+reason)
		} else {
			s.key, s.keyNext = last, s.confirmAfter == 0
		}
	}
	return p
}

// keyPage builds a page fetched by key. Its items must come in increasing id
// order, after the last one yielded: a page that does not is refused, with
// an error, before any of its items is yielded.
func (s *walkState[E]) keyPage(items []E, resp *Response) *walkPage[E] {
	pg := paginationOf(resp)
	s.number++
	p := &walkPage[E]{items: items, resp: resp, number: s.number, total: -1, remaining: pg.Total}
	s.confirmed(len(items))
	if len(items) == 0 {
		p.last = true
		return p
	}
	last, reason := s.keyOrder(items, s.key)
	if reason != "" {
		p.items = nil
		p.err = fmt.Errorf("%w: page %d (ids after %s): %s", errPageOrder, s.number, s.key, reason)
		return p
	}
	s.key = last
	p.last = s.lastPage(len(items), len(items), pg)
	return p
}

// runConcurrent fetches the pages after the first by offset, up to cap(sem)
// at once, once the first page told the total. Each page is asked for the
// first page's length (the server's page length: a page never overlaps the
// next), and a page that comes back short is completed with more requests
// at once, so a server that shortens its pages later on makes no gap. It
// reports false, having started nothing, when the first page tells no page
// length. head, if not nil, is an answer already fetched for the page at
// first.advance (the partitioned walk's check), used instead of asking again.
//
// A walk that fell back from paging by key (s.fellBack) ends with
// ErrListingChanged at the first page whose X-Total differs from the first
// page's: its offsets were fixed by that count, so a listing that changed
// either way may have shifted items past a page boundary unseen.
func (s *walkState[E]) runConcurrent(ctx context.Context, first, head *walkPage[E], sem chan struct{}, order chan chan *walkPage[E], wg *sync.WaitGroup) bool {
	total := first.resp.Total
	step := min(first.advance-first.pageOffset, s.limit)
	if pp := first.resp.PerPage; pp > 0 && pp < step {
		step = pp
	}
	if step <= 0 {
		return false
	}
	walkTotal := max(total-s.firstOffset, 0)
	number := 1
	for off := first.advance; off < total; off += step {
		ch, ok := put(ctx, sem, order)
		if !ok {
			return true
		}
		number++
		want := min(step, total-off)
		p := &walkPage[E]{number: number, total: walkTotal, remaining: -1, last: off+step >= total, byOffset: true, pageOffset: off, track: s.track, fixedBy: total}
		var pre *walkPage[E]
		if head != nil && off == first.advance {
			pre = head
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for len(p.items) < want {
				got := len(p.items)
				var items []E
				var resp *Response
				if pre != nil {
					items, resp, pre = pre.items, pre.resp, nil
				} else {
					var err error
					items, resp, err = s.fetch(ctx, s.q.Offset(off+got).Limit(step-got))
					if err != nil {
						ch <- &walkPage[E]{err: err, remaining: -1}
						return
					}
				}
				if t := paginationOf(resp).Total; s.fellBack && t >= 0 && t != total {
					ch <- &walkPage[E]{number: p.number, remaining: -1, err: fmt.Errorf(
						"%w: page %d (offset %d) counts %d items (X-Total) where the first page counted %d; items may have been skipped, walk again",
						ErrListingChanged, p.number, off+got, t, total)}
					return
				}
				if p.resp == nil {
					p.resp = resp
				}
				if len(items) == 0 {
					p.last = true // the listing shrank
					break
				}
				p.items = append(p.items, items[:min(len(items), step-got)]...)
			}
			ch <- p
		}()
	}
	return true
}

// paginationOf is the pagination of resp, all absent for a nil resp.
func paginationOf(resp *Response) Pagination {
	if resp == nil {
		return paginationAbsentValue()
	}
	return resp.Pagination
}

func paginationAbsentValue() Pagination {
	return Pagination{Total: -1, TotalPages: -1, Page: -1, PerPage: -1, RangeStart: -1, RangeEnd: -1,
		FirstOffset: -1, PrevOffset: -1, NextOffset: -1, LastOffset: -1}
}

// sorted reports whether the query sets a sort order.
func (q *Query) sorted() bool { return q != nil && len(q.sorts) > 0 }

// withoutOffset returns a copy of q without an offset.
func (q *Query) withoutOffset() *Query {
	c := q.clone()
	c.offset = nil
	return c
}
