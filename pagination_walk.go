package chatshipper

import (
	"context"
	"fmt"
	"iter"
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
	concurrency int // >1: the read-only walk by offset, that many pages at once
	err         error
}

// defaultPrefetch is how many pages a walk fetches ahead of the caller.
const defaultPrefetch = 1

// Prefetch sets how many pages a walk fetches ahead of the page the caller is
// working on (default 1; 0 fetches a page only when the caller needs it). The
// pages ahead wait in memory, so memory is bounded by n+1 pages. Breaking out
// of the loop cancels the requests in flight; a page fetched ahead and never
// used still counted against the rate limit.
func Prefetch(n int) WalkOption {
	return func(c *walkConfig) {
		if n < 0 {
			c.err = argError("Prefetch", "%d pages is negative", n)
			return
		}
		c.prefetch = n
	}
}

// Concurrency makes a read-only walk: once the first page has told the total
// (X-Total), it fetches the other pages by offset, up to n at once, all
// through the client's limiter and retries, and yields them in order. The
// offsets are fixed when the walk starts, so this is for listings that do not
// change during the walk: an item created, deleted or moved in or out of the
// query during the walk shifts the others and can make the walk skip or
// repeat items. Without X-Total in the first answer the walk goes on page by
// page. n must be at least 1; 1 means the default walk. Memory is bounded by
// n pages.
func Concurrency(n int) WalkOption {
	return func(c *walkConfig) {
		if n < 1 {
			c.err = argError("Concurrency", "%d is below 1", n)
			return
		}
		c.concurrency = n
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
// A walk without Concurrency and with a query that neither sorts nor filters
// on id pages by key: after a page it asks for the items whose id is greater
// than the last one seen (the API's default order is by id; see
// https://developers.chatshipper.com/docs/api-introduction). So every item
// that matched when the walk began and still matches when the walk reaches
// it is yielded exactly once, whatever the loop changes: items leaving or
// entering the query, deleted or created, do not shift the others. Items
// created during the walk that match are yielded too, at the end (a loop
// that creates a matching item for each one it sees never ends). A query's
// own Offset applies to the first page only.
//
// A query that sorts, or filters on id itself, is walked by offset: an item
// that leaves the query or is deleted during the walk shifts the ones after
// it back, and the walk skips as many of them; an item that enters the query
// before the walk's position makes it yield one item twice. Collect the IDs
// first, or filter so that the loop's changes do not move items out of the
// query, when such a walk must see everything.
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

// newWalk builds the Walk of a collection. observe, if non-nil, sees every
// page before the caller does (the loop guard learns of replies from it).
func newWalk[T any](ctx context.Context, c *Client, collection string, q *Query, opts []WalkOption, observe func([]*T)) *Walk[T] {
	cfg := newWalkConfig(opts)
	fetch := func(ctx context.Context, q *Query) ([]*T, *Response, error) {
		return listPage[T](ctx, c, collection, q)
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
	items               []E
	resp                *Response
	number, start       int
	total               int
	err                 error // yielded after items, if any
	last                bool  // no page follows
	pageOffset, advance int   // offset the request used; where the next starts
}

// walkPages is the paging engine. fetch gets a fresh query per page (the
// caller's q is never changed). idOf, when non-nil, reads an item's ID so the
// walk can page by key; with nil, or a query that sorts or filters on id, or
// with Concurrency, the walk pages by offset. Pages are fetched by one
// goroutine (several with Concurrency) at most cfg.prefetch pages ahead of
// the consumer; when the consumer stops, the walk's context is cancelled and
// walkPages returns only after every goroutine it started has ended.
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

		s := &walkState[E]{q: q, fetch: fetch, idOf: idOf}
		s.init()
		if cfg.concurrency > 1 {
			s.byKey = false
		}
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

		for ch := range order {
			var p *walkPage[E]
			select {
			case p = <-ch: // a page already there wins over a cancellation
			default:
				select {
				case p = <-ch:
				case <-ctx.Done():
					yield(nil, ctx.Err())
					return
				}
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

// walkState is the dispatcher's view of the walk.
type walkState[E any] struct {
	q     *Query
	fetch func(context.Context, *Query) ([]E, *Response, error)
	idOf  func(E) string

	byKey       bool
	limit       int
	firstOffset int // the caller's offset
	offset      int // offset of the next request (offset walk)
	key         string
	prevFirst   string // the first item's ID of the previous page (offset walk)
	number      int
	start       int // items in the pages fetched so far
}

func (s *walkState[E]) init() {
	s.limit = defaultPageLimit
	if l, ok := s.q.LimitValue(); ok {
		s.limit = l
	}
	s.firstOffset, _ = s.q.OffsetValue()
	s.offset = s.firstOffset
	s.byKey = s.idOf != nil && !s.q.sorted() && !s.q.Has("id") && !s.q.Has("_id")
}

// nextQuery is the query of the next sequential page.
func (s *walkState[E]) nextQuery() *Query {
	if s.byKey {
		if s.number == 0 {
			return s.q.Limit(s.limit)
		}
		return s.q.withoutOffset().Where("id", Gt(s.key)).Limit(s.limit)
	}
	return s.q.Offset(s.offset).Limit(s.limit)
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
// concurrency > 1 and a known total, the pages after the first are fetched by
// one goroutine each, at most concurrency at once.
func (s *walkState[E]) run(ctx context.Context, concurrency int, sem chan struct{}, order chan chan *walkPage[E], wg *sync.WaitGroup) {
	for {
		if ctx.Err() != nil {
			return
		}
		ch, ok := put(ctx, sem, order)
		if !ok {
			return
		}
		q := s.nextQuery()
		items, resp, err := s.fetch(ctx, q)
		if err != nil {
			ch <- &walkPage[E]{err: err}
			return
		}
		p := s.sequentialPage(items, resp)
		ch <- p
		if p.last || p.err != nil {
			return
		}
		if concurrency > 1 && s.number == 1 && p.resp != nil && p.resp.Total >= 0 {
			s.runConcurrent(ctx, p, sem, order, wg)
			return
		}
	}
}

// sequentialPage builds the page just fetched and moves the walk on.
func (s *walkState[E]) sequentialPage(items []E, resp *Response) *walkPage[E] {
	pg := paginationAbsentValue()
	if resp != nil {
		pg = resp.Pagination
	}
	s.number++
	reqOffset := s.offset
	if s.byKey && s.number > 1 {
		reqOffset = 0
	}
	p := &walkPage[E]{items: items, resp: resp, number: s.number, start: s.start, total: -1, pageOffset: reqOffset}
	if pg.Total >= 0 {
		p.total = s.start + max(pg.Total-reqOffset, 0)
		if !s.byKey {
			p.total = max(pg.Total-s.firstOffset, 0)
		}
	}
	s.start += len(items)
	if len(items) == 0 {
		p.last = true
		return p
	}
	next := reqOffset + len(items)
	if pg.NextOffset >= 0 {
		if pg.NextOffset <= reqOffset {
			p.err = fmt.Errorf("%w: next offset %d after offset %d", errPageNoProgress, pg.NextOffset, reqOffset)
			return p
		}
		if !s.byKey {
			next = pg.NextOffset
		}
	}
	p.advance = next
	switch {
	case pg.Total >= 0:
		p.last = next >= pg.Total
	case pg.NextOffset < 0 && (pg.FirstOffset >= 0 || pg.PrevOffset >= 0):
		// The spec omits "next" only on the last page; first/prev show
		// that the server does send links for this listing.
		p.last = true
	default:
		// A server that caps the page size says so in X-Per-Page; a page
		// is short only against what the server allows.
		pageSize := s.limit
		if pg.PerPage > 0 && pg.PerPage < pageSize {
			pageSize = pg.PerPage
		}
		p.last = len(items) < pageSize
	}
	if p.last {
		return p
	}
	if s.byKey {
		id := s.idOf(items[len(items)-1])
		if id == "" {
			p.err = fmt.Errorf("%w: the last item of page %d has no id", errPageNoProgress, s.number)
			return p
		}
		if s.key != "" && id <= s.key {
			p.err = fmt.Errorf("%w: page %d ends at id %s, not after %s", errPageNoProgress, s.number, id, s.key)
			return p
		}
		s.key = id
	} else {
		// A server that ignores the offset answers the same page again:
		// without totals or links nothing else would end the walk.
		if s.idOf != nil {
			first := s.idOf(items[0])
			if first != "" && first == s.prevFirst {
				p.err = fmt.Errorf("%w: page %d starts with the same item as the page before (offset ignored?)", errPageNoProgress, s.number)
				return p
			}
			s.prevFirst = first
		}
		s.offset = next
	}
	return p
}

// runConcurrent fetches the pages after the first by offset, up to cap(sem)
// at once, once the first page told the total.
func (s *walkState[E]) runConcurrent(ctx context.Context, first *walkPage[E], sem chan struct{}, order chan chan *walkPage[E], wg *sync.WaitGroup) {
	total := first.resp.Total
	step := first.advance - first.pageOffset
	if step <= 0 {
		return
	}
	if pp := first.resp.PerPage; pp > 0 && pp < step {
		step = pp
	}
	walkTotal := max(total-s.firstOffset, 0)
	number := 1
	for off := first.advance; off < total; off += step {
		ch, ok := put(ctx, sem, order)
		if !ok {
			return
		}
		number++
		last := off+step >= total
		q := s.q.Offset(off).Limit(s.limit)
		p := &walkPage[E]{number: number, start: off - s.firstOffset, total: walkTotal, last: last}
		wg.Add(1)
		go func() {
			defer wg.Done()
			items, resp, err := s.fetch(ctx, q)
			if err != nil {
				ch <- &walkPage[E]{err: err}
				return
			}
			p.items, p.resp = items, resp
			if len(items) == 0 {
				p.last = true // the listing shrank
			}
			ch <- p
		}()
	}
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
