package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"sync"
)

// The partitioned walk: what Concurrency(n) does for a query that neither
// sorts nor filters on id. The first page comes by offset, as in every walk,
// and beside it one request asks for the greatest id ("sort=-id", limit 1;
// by offset, X-Total-1, once the first page is in, from a server that does
// not sort so). When the first page is in id order and its X-Total says more
// remain, the ids after it are split into up to n ranges, and each range is
// walked by key at once ("id=>a,<=b"; the last range is open: "id=>a").
// The first answer of every range is checked before any of them is yielded:
// ids in increasing order inside the range; when all are empty or their
// X-Totals add up to less than the first page left, the page at the walk's
// position by offset decides whether they miss items or the listing changed
// (keyDoubt). A server that fails the check (it ignores, refuses or
// mismatches id comparisons, or orders otherwise) is walked by offset from
// the second page on, as before; nothing but the first page has been
// yielded then.

// runPartitioned walks the listing after the first page in ranges of ids, up
// to n at once, and returns once every range has ended (or the walk's
// context has). It reports false, having yielded and started nothing, when
// the walk should go on page by page by key instead (the rest fits one range,
// or the listing shrank so that its last item could not be read).
func (s *walkState[E]) runPartitioned(ctx context.Context, first *walkPage[E], n int, probe *lastIDProbe, sem chan struct{}, order chan chan *walkPage[E], wg *sync.WaitGroup) bool {
	total := first.resp.Total
	remaining := total - first.advance // items after the first page's last id, when it began
	step := min(first.advance-first.pageOffset, s.limit)
	if pp := first.resp.PerPage; pp > 0 && pp < step {
		step = pp
	}
	if step <= 0 || remaining <= step || n < 2 {
		return false
	}
	lo := s.key
	if !isObjectID(lo) {
		s.toOffset(ctx, fmt.Sprintf("the id %q is not an ObjectId (24 lowercase hex digits), so ids cannot be split into ranges", lo))
		return s.runConcurrent(ctx, first, nil, sem, order, wg)
	}
	hi, err := probe.id(ctx, lo)
	if hi == "" && err == nil {
		hi, err = s.lastID(ctx, total)
	}
	switch {
	case err != nil:
		s.failWalk(ctx, sem, order, err)
		return true
	case hi == "":
		return false
	case !isObjectID(hi):
		s.toOffset(ctx, fmt.Sprintf("the id %q is not an ObjectId (24 lowercase hex digits), so ids cannot be split into ranges", hi))
		return s.runConcurrent(ctx, first, nil, sem, order, wg)
	case hi <= lo:
		s.toOffset(ctx, fmt.Sprintf("the last item's id %s is not after the first page's last id %s", hi, lo))
		return s.runConcurrent(ctx, first, nil, sem, order, wg)
	}
	ranges := splitIDRange(lo, hi, n, remaining, step)

	// The first page of every range, at once; each holds a page slot.
	answers := make([]rangeAnswer[E], len(ranges))
	var fw sync.WaitGroup
	for i := range ranges {
		fw.Go(func() {
			a := &answers[i]
			select {
			case sem <- struct{}{}:
				a.slot = true
			case <-ctx.Done():
				a.err = ctx.Err()
				return
			}
			a.items, a.resp, a.err = s.fetch(ctx, s.rangeQuery(ranges[i]))
		})
	}
	fw.Wait()
	release := func() {
		for i := range answers {
			if answers[i].slot {
				answers[i].slot = false
				<-sem
			}
		}
	}
	if ctx.Err() != nil {
		return true
	}
	reason, err := s.checkRanges(ranges, answers)
	var head *walkPage[E]
	if err == nil && reason == "" && rangesShort(answers, remaining) {
		// In doubt: the page at the walk's position, by offset, decides
		// whether the ranges miss items or the listing changed.
		head = &walkPage[E]{}
		head.items, head.resp, err = s.fetch(ctx, s.offsetQuery())
		if err == nil {
			reason, err = s.rangesMissed(ctx, ranges, answers, remaining, head.items, head.resp)
		}
	}
	if err != nil {
		release()
		s.failWalk(ctx, sem, order, err)
		return true
	}
	if reason != "" {
		release()
		s.toOffset(ctx, reason)
		return s.runConcurrent(ctx, first, head, sem, order, wg)
	}

	// The server pages by id range: hand the first pages on in range order,
	// then walk every range that has more, at once, each page handed on as
	// it comes.
	s.mode = modeKey
	var more []idRange
	for i := range answers {
		a := &answers[i]
		a.slot = false
		if len(a.items) == 0 {
			<-sem
			continue
		}
		s.handOn(ctx, order, &walkPage[E]{items: a.items, resp: a.resp, total: first.total, remaining: -1})
		if !s.lastPage(len(a.items), len(a.items), paginationOf(a.resp)) {
			r := ranges[i]
			r.after, _ = s.keyOrder(a.items, r.after) // checked above
			more = append(more, r)
		}
	}
	var rw sync.WaitGroup
	for _, r := range more {
		rw.Go(func() { s.walkRange(ctx, r, first.total, sem, order) })
	}
	rw.Wait()
	return true
}

// idRange is a range of ids a partitioned walk walks by key: the ids after
// after, up to and including upTo ("" for no upper bound).
type idRange struct{ after, upTo string }

// rangeAnswer is the first answer of a range.
type rangeAnswer[E any] struct {
	items []E
	resp  *Response
	err   error
	slot  bool // holds a page slot
}

// rangeQuery is the query of the next page of r.
func (s *walkState[E]) rangeQuery(r idRange) *Query {
	q := s.q.withoutOffset()
	if r.upTo == "" {
		return q.Where("id", Gt(r.after)).Limit(s.limit)
	}
	return q.Where("id", Between(Gt(r.after), Lte(r.upTo))).Limit(s.limit)
}

// lastIDProbe asks for the listing's greatest id ("sort=-id", limit 1)
// while the first page is on its way, so that a walk by id ranges needs no
// round trip of its own for it.
type lastIDProbe struct {
	done chan struct{}
	last string
	err  error
}

// probeLastID starts the probe; wg tracks its goroutine.
func (s *walkState[E]) probeLastID(ctx context.Context, wg *sync.WaitGroup) *lastIDProbe {
	p := &lastIDProbe{done: make(chan struct{})}
	wg.Go(func() {
		defer close(p.done)
		items, _, err := s.fetch(ctx, s.q.withoutOffset().Sort("-id").Limit(1))
		if err != nil {
			p.err = err
			return
		}
		if len(items) > 0 {
			p.last = s.idOf(items[0])
		}
	})
	return p
}

// id returns the probe's answer when it is an id after lo: a server that
// ignores the sort answers with its first item, one that refuses it with an
// error, and then "" sends the walk to ask by offset (lastID). A nil probe
// has no answer; an error is returned only when the walk's context ended.
func (p *lastIDProbe) id(ctx context.Context, lo string) (string, error) {
	if p == nil {
		return "", nil
	}
	select {
	case <-p.done:
	case <-ctx.Done():
		return "", ctx.Err()
	}
	if p.err != nil || p.last <= lo {
		return "", nil
	}
	return p.last, nil
}

// lastID reads the id of the listing's last item by offset (total-1 in the
// listing X-Total counted). When the listing has shrunk since, the answer's
// X-Total gives the new position, once; "" means no last item was found.
func (s *walkState[E]) lastID(ctx context.Context, total int) (string, error) {
	for try := 0; try < 2 && total > 0; try++ {
		items, resp, err := s.fetch(ctx, s.q.Offset(total-1).Limit(1))
		if err != nil {
			return "", err
		}
		if len(items) > 0 {
			return s.idOf(items[len(items)-1]), nil
		}
		pg := paginationOf(resp)
		if pg.Total < 0 || pg.Total >= total {
			break
		}
		total = pg.Total
	}
	return "", nil
}

// checkRanges checks the first answers of the ranges before any is yielded:
// the ids of each in increasing order and inside its range. It returns why
// the server does not page by id range (the walk goes on by offset), or the
// error that ends the walk.
func (s *walkState[E]) checkRanges(ranges []idRange, answers []rangeAnswer[E]) (string, error) {
	for _, a := range answers {
		if a.err == nil {
			continue
		}
		var er *ErrorResponse
		if errors.As(a.err, &er) && (er.StatusCode == http.StatusBadRequest || er.StatusCode == http.StatusUnprocessableEntity) {
			return fmt.Sprintf("the server refused an id range (status %d)", er.StatusCode), nil
		}
		return "", a.err
	}
	for i, a := range answers {
		last, reason := s.keyOrder(a.items, ranges[i].after)
		if reason != "" {
			return "the server does not page by id range: " + reason, nil
		}
		if up := ranges[i].upTo; up != "" && len(a.items) > 0 && last > up {
			return fmt.Sprintf("the server does not page by id range: id %s is after the range's end %s", last, up), nil
		}
	}
	return "", nil
}

// rangeCount is the sum of the X-Totals of the ranges' first answers
// (counted false when one has none), and whether any holds an item.
func rangeCount[E any](answers []rangeAnswer[E]) (sum int, counted, found bool) {
	counted = true
	for _, a := range answers {
		found = found || len(a.items) > 0
		if t := paginationOf(a.resp).Total; t >= 0 {
			sum += t
		} else {
			counted = false
		}
	}
	return sum, counted, found
}

// rangesShort reports whether the ranges' first answers are in doubt: all
// empty, or their X-Totals adding up to fewer items than the first page
// left. The ranges may miss items (an id filter that skips some, a server
// that orders by something else), or the listing changed since the first
// page (items deleted or moved out of the query).
func rangesShort[E any](answers []rangeAnswer[E], remaining int) bool {
	sum, counted, found := rangeCount(answers)
	return !found || counted && sum < remaining
}

// rangesMissed decides a doubt of rangesShort with the page at the walk's
// position by offset (items, resp), fetched after the ranges' first answers,
// as keyDoubt does for the default walk: it returns why the server does not
// page by id range, or "" when the shortfall is the listing changing. An
// item of the page by offset after the first page's last id is one the
// ranges left out when the first answer of its range should hold it (that
// answer was empty, or reached past the item) and does not.
func (s *walkState[E]) rangesMissed(ctx context.Context, ranges []idRange, answers []rangeAnswer[E], remaining int, items []E, resp *Response) (string, error) {
	_, _, found := rangeCount(answers)
	firstKey := ""
	for _, a := range answers {
		if len(a.items) > 0 {
			firstKey = s.idOf(a.items[0])
			break
		}
	}
	if !found && len(items) > 0 {
		return fmt.Sprintf("the id ranges found nothing where %d items were left", remaining), nil
	}
	return s.keyDoubt(ctx, items, resp, firstKey, "the id ranges", func(o []E) string {
		for i, r := range ranges {
			a := answers[i]
			upTo := r.upTo
			if len(a.items) > 0 {
				upTo, _ = s.keyOrder(a.items, r.after) // checked: the last id
			}
			if id := s.missedID(o, r.after, upTo, a.items); id != "" {
				return id
			}
		}
		return ""
	})
}

// walkRange walks the range r by key after its first page, handing each page
// on as it comes; a page out of id order or beyond the range ends the walk
// with an error, before any of its items is yielded.
func (s *walkState[E]) walkRange(ctx context.Context, r idRange, total int, sem chan struct{}, order chan chan *walkPage[E]) {
	for {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		items, resp, err := s.fetch(ctx, s.rangeQuery(r))
		if err != nil {
			s.handOn(ctx, order, &walkPage[E]{err: err, remaining: -1})
			return
		}
		last, reason := s.keyOrder(items, r.after)
		if reason == "" && r.upTo != "" && len(items) > 0 && last > r.upTo {
			reason = fmt.Sprintf("id %s is after the range's end %s", last, r.upTo)
		}
		if reason != "" {
			s.handOn(ctx, order, &walkPage[E]{err: fmt.Errorf("%w: a page of ids after %s: %s", errPageOrder, r.after, reason), remaining: -1})
			return
		}
		if len(items) == 0 {
			<-sem
			return
		}
		s.handOn(ctx, order, &walkPage[E]{items: items, resp: resp, total: total, remaining: -1})
		r.after = last
		if s.lastPage(len(items), len(items), paginationOf(resp)) {
			return
		}
	}
}

// handOn gives the consumer a page that holds a page slot, numbering it in
// the order pages are handed on.
func (s *walkState[E]) handOn(ctx context.Context, order chan chan *walkPage[E], p *walkPage[E]) {
	s.handMu.Lock()
	defer s.handMu.Unlock()
	s.number++
	p.number = s.number
	ch := make(chan *walkPage[E], 1)
	ch <- p
	select {
	case order <- ch:
	case <-ctx.Done():
	}
}

// failWalk ends the walk with err.
func (s *walkState[E]) failWalk(ctx context.Context, sem chan struct{}, order chan chan *walkPage[E], err error) {
	if ch, ok := put(ctx, sem, order); ok {
		ch <- &walkPage[E]{err: err, remaining: -1}
	}
}

// isObjectID reports whether id is a MongoDB ObjectId as the API writes
// them: 24 lowercase hexadecimal digits, the first 8 of which are its
// creation time in seconds (so ids grow with time, and compare as text in
// the same order as numbers).
func isObjectID(id string) bool {
	if len(id) != 24 {
		return false
	}
	for i := range len(id) {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// splitIDRange splits the ids after lo up to hi (ObjectIds, lo < hi),
// where remaining items were counted, into at most n ranges for pages of
// step items. Each range gets a whole number of pages' worth of the span, as
// if the ids were spread evenly, so that evenly spread ids fill every page
// but the last of the last range. The last range has no upper bound, so the
// walk reaches every item after lo whatever hi was.
func splitIDRange(lo, hi string, n, remaining, step int) []idRange {
	a, _ := new(big.Int).SetString(lo, 16)
	b, _ := new(big.Int).SetString(hi, 16)
	span := new(big.Int).Sub(b, a)
	pages := (remaining + step - 1) / step
	k := max(min(n, pages), 1)
	bounds := make([]string, 0, k)
	bounds = append(bounds, lo)
	for i := 1; i < k; i++ {
		// The first id of the range that starts at page i*pages/k.
		items := min(i*pages/k*step, remaining)
		x := new(big.Int).Mul(span, big.NewInt(int64(items)))
		x.Quo(x, big.NewInt(int64(remaining)))
		x.Add(x, a)
		if id := fmt.Sprintf("%024x", x); id > bounds[len(bounds)-1] {
			bounds = append(bounds, id)
		}
	}
	out := make([]idRange, len(bounds))
	for i := range bounds {
		out[i].after = bounds[i]
		if i+1 < len(bounds) {
			out[i].upTo = bounds[i+1]
		}
	}
	return out
}
