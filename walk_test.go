package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// walkTransport serves n contacts by key (id=>X) or offset, with X-Total, in
// the calling goroutine (it starts none of its own). The request numbered
// block (1-based) waits for its context to end; the one numbered fail gets a
// 404.
type walkTransport struct {
	n, block, fail int

	mu        sync.Mutex
	calls     int
	started   chan struct{} // closed when the blocking request has arrived
	cancelled bool          // the blocking request saw its context end
}

func (tr *walkTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	tr.mu.Lock()
	tr.calls++
	call := tr.calls
	tr.mu.Unlock()
	if call == tr.block {
		close(tr.started)
		<-r.Context().Done()
		tr.mu.Lock()
		tr.cancelled = true
		tr.mu.Unlock()
		return nil, r.Context().Err()
	}
	if call == tr.fail {
		return walkResponse(r, 404, `{"error":{"message":"gone"}}`, -1), nil
	}
	q := r.URL.Query()
	first := 0
	if gt, ok := strings.CutPrefix(q.Get("id"), ">"); ok {
		after, _ := strconv.ParseInt(gt, 16, 64)
		first = min(int(after), tr.n)
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	limit, _ := strconv.Atoi(q.Get("limit"))
	start := min(first+offset, tr.n)
	end := min(start+limit, tr.n)
	parts := make([]string, 0, end-start)
	for i := start; i < end; i++ {
		parts = append(parts, fmt.Sprintf(`{"id":"%024x"}`, i+1))
	}
	return walkResponse(r, 200, "["+strings.Join(parts, ",")+"]", tr.n-first), nil
}

func walkResponse(r *http.Request, status int, body string, total int) *http.Response {
	h := http.Header{"Content-Type": {"application/json"}}
	if total >= 0 {
		h.Set("X-Total", strconv.Itoa(total))
	}
	return &http.Response{
		StatusCode: status, Status: http.StatusText(status), Header: h, Request: r,
		Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)),
	}
}

func newWalkClient(t *testing.T, tr *walkTransport) *Client {
	t.Helper()
	c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: tr}), WithRateLimit(0))
	require.NoError(t, err)
	return c
}

// TestWalkLeavesNoGoroutine runs each way of ending a walk early many times
// and checks that the loop returns only after everything the walk started
// has ended: the request in flight has seen its context cancelled by then,
// and no goroutine runs the walk's code any more.
func TestWalkLeavesNoGoroutine(t *testing.T) {
	const rounds = 20
	tests := []struct {
		name string
		opts []WalkOption
		run  func(t *testing.T, c *Client, tr *walkTransport)
	}{
		{"broken loop, next page in flight", nil, func(t *testing.T, c *Client, tr *walkTransport) {
			tr.block = 2
			for _, err := range c.Contacts.ListIter(t.Context(), NewQuery().Limit(10)) {
				require.NoError(t, err)
				<-tr.started // the page fetched ahead is on the wire
				break
			}
		}},
		{"broken loop, concurrent pages in flight", []WalkOption{Concurrency(4)}, func(t *testing.T, c *Client, tr *walkTransport) {
			tr.block = 3
			for _, err := range c.Contacts.Walk(t.Context(), NewQuery().Limit(10), Concurrency(4)).Items() {
				require.NoError(t, err)
				<-tr.started
				break
			}
		}},
		{"cancelled context", nil, func(t *testing.T, c *Client, tr *walkTransport) {
			tr.block = 2
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var errs []error
			items := 0
			for _, err := range c.Contacts.ListIter(ctx, NewQuery().Limit(10)) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				items++
				<-tr.started
				cancel()
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], context.Canceled)
			assert.LessOrEqual(t, items, 10)
		}},
		{"error mid-walk", nil, func(t *testing.T, c *Client, tr *walkTransport) {
			tr.fail = 3
			var errs []error
			items := 0
			for contact, err := range c.Contacts.ListIter(t.Context(), NewQuery().Limit(10)) {
				if err != nil {
					assert.Nil(t, contact)
					errs = append(errs, err)
					continue
				}
				items++
			}
			require.Len(t, errs, 1)
			assert.ErrorIs(t, errs[0], ErrNotFound)
			assert.Equal(t, 20, items)
			assert.Equal(t, 3, tr.calls)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// In a bubble, synctest.Wait lets goroutines that are on their
			// way out finish; a leaked one would stay blocked (and make
			// synctest.Test fail when the bubble ends).
			synctest.Test(t, func(t *testing.T) {
				for range rounds {
					tr := &walkTransport{n: 1000, started: make(chan struct{})}
					c := newWalkClient(t, tr)
					tt.run(t, c, tr)
					if tr.block > 0 {
						tr.mu.Lock()
						assert.True(t, tr.cancelled, "the request in flight was cancelled before the loop returned")
						tr.mu.Unlock()
					}
				}
				synctest.Wait()
				assert.Zero(t, walkGoroutines(), "goroutines left behind")
			})
		})
	}
}

// walkGoroutines counts the goroutines running the walk's code. The process's
// goroutine count is not used: the test runner's own goroutines come and go.
func walkGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	n := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, line := range strings.Split(g, "\n") {
			if strings.HasPrefix(line, "created by") {
				continue
			}
			if strings.Contains(line, "chatshipper.(*walkState") || strings.Contains(line, "chatshipper.walkPages") {
				n++
				break
			}
		}
	}
	return n
}

// TestWalkPrefetchBound checks that the walk fetches at most Prefetch pages
// ahead of the page the loop is on.
func TestWalkPrefetchBound(t *testing.T) {
	t.Parallel()
	for _, prefetch := range []int{0, 1, 3} {
		t.Run(strconv.Itoa(prefetch), func(t *testing.T) {
			t.Parallel()
			tr := &walkTransport{n: 1000}
			c := newWalkClient(t, tr)
			w := c.Contacts.Walk(t.Context(), NewQuery().Limit(10), Prefetch(prefetch))
			for p, err := range w.Pages() {
				require.NoError(t, err)
				// The fetcher may be one request further once this page is
				// released, never more than prefetch pages ahead now.
				tr.mu.Lock()
				calls := tr.calls
				tr.mu.Unlock()
				assert.LessOrEqual(t, calls, p.Number+prefetch)
				if p.Number == 5 {
					break
				}
			}
		})
	}
}

func TestWalkErrorsBeforeIO(t *testing.T) {
	t.Parallel()
	tr := &walkTransport{n: 10}
	c := newWalkClient(t, tr)
	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	for _, tt := range []struct {
		name string
		seq  func(func(*Page[Contact], error) bool)
		want error
	}{
		{"bad query", c.Contacts.Walk(t.Context(), NewQuery().Limit(0)).Pages(), ErrInvalidQuery},
		{"cancelled", c.Contacts.Walk(cancelled, nil).Pages(), context.Canceled},
		{"bad option", c.Contacts.Walk(t.Context(), nil, Prefetch(-1)).Pages(), ErrInvalidArgument},
	} {
		var errs []error
		for p, err := range tt.seq {
			assert.Nil(t, p)
			errs = append(errs, err)
		}
		require.Len(t, errs, 1, tt.name)
		assert.True(t, errors.Is(errs[0], tt.want), tt.name)
	}
	assert.Zero(t, tr.calls)
}
