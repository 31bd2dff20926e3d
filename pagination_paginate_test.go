package chatshipper

// The offset-only pager the pagination tests drive directly: the walk engine
// (pagination_walk.go) without keys and without prefetch.

import (
	"context"
	"iter"
)

// paginate returns every item of a listing by offset, fetching a page only
// when the caller has consumed the previous one (the engine of walkPages
// without keys and without prefetch). fetch receives a copy of q with offset
// and limit set (limit always explicit: q's own or 200); q itself is never
// changed. The next page starts after the items received, or at the next
// link's offset when that is further on and the page was short (the server
// held back items of its window). Paging stops at an empty page, at X-Total,
// at a page without a next link that has first/prev links (the spec's last
// page), or, without X-Total or a next link, at a page shorter than the limit
// (or X-Per-Page when the server caps it lower); a next link that does not
// move forward ends it with an error. An error (from fetch, ctx or the query)
// is yielded once, with the zero T, and ends the sequence.
func paginate[T any](ctx context.Context, q *Query, fetch func(ctx context.Context, q *Query) ([]T, Pagination, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cfg := walkConfig{prefetch: 0, concurrency: 1}
		f := func(ctx context.Context, q *Query) ([]T, *Response, error) {
			items, p, err := fetch(ctx, q)
			return items, &Response{Pagination: p}, err
		}
		for p, err := range walkPages(ctx, q, cfg, f, nil) {
			if err != nil {
				yield(zero, err)
				return
			}
			for _, item := range p.items {
				if !yield(item, nil) {
					return
				}
			}
		}
	}
}
