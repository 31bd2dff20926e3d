package chatshipper

// TEMPORARY: stand-ins for query.go, pagination.go and ratelimit.go, which are
// being written on other branches. Deleted at merge.

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
)

type Query struct{ v url.Values }

func NewQuery() *Query { return &Query{v: url.Values{}} }
func (q *Query) Encode() (string, error) {
	if q == nil {
		return "", nil
	}
	return q.v.Encode(), nil
}
func (q *Query) set(k, v string) *Query {
	n := &Query{v: url.Values{}}
	for a, b := range q.v {
		n.v[a] = b
	}
	n.v.Set(k, v)
	return n
}
func (q *Query) validateMessages() error      { return nil }
func (q *Query) validateConversations() error { return nil }

type Pagination struct {
	Total, TotalPages, Page, PerPage                int
	RangeStart, RangeEnd                            int
	FirstOffset, PrevOffset, NextOffset, LastOffset int
}

func parsePagination(h http.Header) Pagination {
	p := Pagination{-1, -1, -1, -1, -1, -1, -1, -1, -1, -1}
	if v, err := strconv.Atoi(h.Get("X-Total")); err == nil {
		p.Total = v
	}
	return p
}

func paginate[T any](ctx context.Context, q *Query, fetch func(ctx context.Context, q *Query) ([]T, Pagination, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		items, _, err := fetch(ctx, q)
		if err != nil {
			var z T
			yield(z, err)
			return
		}
		for _, it := range items {
			if !yield(it, nil) {
				return
			}
		}
	}
}
