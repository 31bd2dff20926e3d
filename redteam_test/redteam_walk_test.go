package redteam_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/go-chatshipper/chatshipper"
)

type walkServer struct {
	name string
	h    func() *hostile
}

func walkServers() []walkServer {
	return []walkServer{
		{"default", func() *hostile { return &hostile{} }},
		{"cap7", func() *hostile { return &hostile{pageCap: 7} }},
		{"cap7-noheaders", func() *hostile { return &hostile{pageCap: 7, noHdrs: true} }},
		{"newest-first", func() *hostile { return &hostile{newest: true} }},
		{"newest-first-cap7-noheaders", func() *hostile { return &hostile{newest: true, pageCap: 7, noHdrs: true} }},
		{"id-ignored-noheaders", func() *hostile { return &hostile{idMode: 1, noHdrs: true} }},
		{"id-ignored-newest", func() *hostile { return &hostile{idMode: 1, newest: true} }},
		{"id-nothing-noheaders", func() *hostile { return &hostile{idMode: 2, noHdrs: true} }},
		{"id-nothing-cap7-noheaders", func() *hostile { return &hostile{idMode: 2, pageCap: 7, noHdrs: true} }},
		{"id-refused-cap7", func() *hostile { return &hostile{idMode: 3, pageCap: 7} }},
		{"id-refused-noheaders", func() *hostile { return &hostile{idMode: 3, noHdrs: true} }},
	}
}

type walkKind struct {
	name string
	run  func(c *chatshipper.Client, q *chatshipper.Query, each func(*chatshipper.Message)) error
}

func walkKinds() []walkKind {
	items := func(w *chatshipper.Walk[chatshipper.Message], each func(*chatshipper.Message)) error {
		for m, err := range w.Items() {
			if err != nil {
				return err
			}
			each(m)
		}
		return nil
	}
	return []walkKind{
		{"ListIter", func(c *chatshipper.Client, q *chatshipper.Query, each func(*chatshipper.Message)) error {
			for m, err := range c.Messages.ListIter(context.Background(), q) {
				if err != nil {
					return err
				}
				each(m)
			}
			return nil
		}},
		{"Prefetch0", func(c *chatshipper.Client, q *chatshipper.Query, each func(*chatshipper.Message)) error {
			return items(c.Messages.Walk(context.Background(), q, chatshipper.Prefetch(0)), each)
		}},
		{"Prefetch3", func(c *chatshipper.Client, q *chatshipper.Query, each func(*chatshipper.Message)) error {
			return items(c.Messages.Walk(context.Background(), q, chatshipper.Prefetch(3)), each)
		}},
		{"Pages", func(c *chatshipper.Client, q *chatshipper.Query, each func(*chatshipper.Message)) error {
			for p, err := range c.Messages.Walk(context.Background(), q).Pages() {
				if err != nil {
					return err
				}
				for _, m := range p.Items {
					each(m)
				}
			}
			return nil
		}},
		{"Concurrency3", func(c *chatshipper.Client, q *chatshipper.Query, each func(*chatshipper.Message)) error {
			return items(c.Messages.Walk(context.Background(), q, chatshipper.Concurrency(3)), each)
		}},
	}
}

func seedWalk(h *hostile, n int) {
	for i := 0; i < n; i++ {
		h.add(convA, fmt.Sprintf("w%02d", i))
	}
	h.add(convB, "other-conv")
}

// Static listing: every item exactly once, whatever the server. Query with and
// without a limit (the server default, 200, is longer than the cap).
func TestRedteamWalkStatic(t *testing.T) {
	for _, ws := range walkServers() {
		for _, wk := range walkKinds() {
			for _, lim := range []int{0, 10} {
				t.Run(fmt.Sprintf("%s/%s/limit%d", ws.name, wk.name, lim), func(t *testing.T) {
					h := newHostile(t, ws.h())
					seedWalk(h, 33)
					c := h.client(t)
					q := chatshipper.NewQuery().Where("conversation", chatshipper.Eq(convA))
					if lim > 0 {
						q = q.Limit(lim)
					}
					seen := map[string]int{}
					err := wk.run(c, q, func(m *chatshipper.Message) { seen[m.Text]++ })
					var problems []string
					for i := 0; i < 33; i++ {
						if n := seen[fmt.Sprintf("w%02d", i)]; n != 1 {
							problems = append(problems, fmt.Sprintf("w%02d x%d", i, n))
						}
					}
					if err != nil {
						// An error is acceptable (no silent truncation), duplicates are not.
						for k, n := range seen {
							if n > 1 {
								t.Errorf("%s yielded %d times before error %v", k, n, err)
							}
						}
						t.Logf("walk ended with error (allowed, not silent): %v", err)
						return
					}
					if len(problems) > 0 {
						t.Errorf("walk ended without error but: %s\nrequests:\n%s", strings.Join(problems, ", "), h.log())
					}
				})
			}
		}
	}
}

// Items added (and one removed) during the walk. Never an item twice; every
// original item that still exists yielded when the server pages by key;
// with additions only, every original yielded in any mode.
func TestRedteamWalkMutating(t *testing.T) {
	for _, ws := range walkServers() {
		for _, wk := range walkKinds()[:4] { // not Concurrency: documented as read-only
			for _, remove := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/%s/remove=%v", ws.name, wk.name, remove), func(t *testing.T) {
					h := newHostile(t, ws.h())
					seedWalk(h, 33)
					c := h.client(t)
					q := chatshipper.NewQuery().Where("conversation", chatshipper.Eq(convA)).Limit(10)
					seen := map[string]int{}
					n := 0
					err := wk.run(c, q, func(m *chatshipper.Message) {
						seen[m.Text]++
						n++
						if n%6 == 0 {
							h.add(convA, fmt.Sprintf("new%02d-a", n), fmt.Sprintf("new%02d-b", n))
							if remove {
								h.remove(fmt.Sprintf("w%02d", 32-n/6))
							}
						}
					})
					for k, c := range seen {
						if c > 1 {
							t.Errorf("%s yielded %d times", k, c)
						}
					}
					if err != nil {
						t.Logf("walk error: %v", err)
						return
					}
					if !remove {
						for i := 0; i < 33; i++ {
							if seen[fmt.Sprintf("w%02d", i)] != 1 {
								t.Errorf("w%02d yielded %d times (additions only)", i, seen[fmt.Sprintf("w%02d", i)])
							}
						}
					}
				})
			}
		}
	}
}
