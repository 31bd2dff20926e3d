package chatshipper

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// pagedConversations serves n conversations with the API's list headers and
// records every query it received. Conversation i has the id i+1 in hex, and
// "id=>X" keeps the ones after X, as the API does; X-Total counts what
// matches, before offset and limit.
func pagedConversations(n int, withTotal bool, queries *[]url.Values) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		q := r.URL.Query()
		*queries = append(*queries, q)
		first := 0 // the first conversation that matches
		if gt, ok := strings.CutPrefix(q.Get("id"), ">"); ok {
			after, err := strconv.ParseInt(gt, 16, 64)
			if err != nil {
				return httpmock.NewStringResponse(400, `{"error":{"message":"bad id"}}`), nil
			}
			first = min(int(after), n)
		}
		offset, _ := strconv.Atoi(q.Get("offset"))
		limit, err := strconv.Atoi(q.Get("limit"))
		if err != nil {
			limit = 200
		}
		start := min(first+offset, n)
		end := min(start+limit, n)
		var b strings.Builder
		b.WriteByte('[')
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			fmt.Fprintf(&b, `{"id":"%024x","name":"c%d"}`, i+1, i)
		}
		b.WriteByte(']')
		resp := httpmock.NewStringResponse(200, b.String())
		if withTotal {
			resp.Header.Set("X-Total", strconv.Itoa(n-first))
			resp.Header.Set("X-Per-Page", strconv.Itoa(limit))
		}
		return resp, nil
	}
}

func TestConversationsListIterRequestCounts(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 199, 200, 201, 1000} {
		for _, withTotal := range []bool{true, false} {
			t.Run(fmt.Sprintf("n=%d/total=%v", n, withTotal), func(t *testing.T) {
				t.Parallel()
				c, mt := newTestClient(t)
				var queries []url.Values
				mt.RegisterResponder("GET", testBase+"conversations", pagedConversations(n, withTotal, &queries))
				q := NewQuery().Where("status", In("queued", "active"))
				var names []string
				for conv, err := range c.Conversations.ListIter(context.Background(), q) {
					require.NoError(t, err)
					names = append(names, conv.Name)
				}
				require.Len(t, names, n)
				for i, name := range names {
					require.Equal(t, fmt.Sprintf("c%d", i), name, "in order, no duplicates")
				}
				// The walk pages by key: after page one, the items whose
				// id is greater than the last one seen ("id" below).
				// Without X-Total, a full last page needs one more (empty)
				// request; when that is the first page asked by key, its
				// empty answer is checked with the page at the next offset
				// (a server that ignores the key filter answers nothing).
				// A short last page without any paging header needs one
				// more too (the server may cap its pages and not say so):
				// by key, or, after the first page, by offset (an empty
				// first key page would need the offset check as well).
				var want []string
				for i := range max((n+199)/200, 1) {
					want = append(want, fmt.Sprintf("id=%d", i*200))
				}
				switch {
				case withTotal, n == 0:
				case n == 200:
					want = append(want, "id=200", "offset=200")
				case n%200 == 0:
					want = append(want, fmt.Sprintf("id=%d", n))
				case n < 200:
					want = append(want, fmt.Sprintf("offset=%d", n))
				default:
					want = append(want, fmt.Sprintf("id=%d", n))
				}
				require.Len(t, queries, len(want))
				for i, qv := range queries {
					w := url.Values{"status": {"[queued,active]"}, "limit": {"200"}}
					if after, ok := strings.CutPrefix(want[i], "id="); ok && after != "0" {
						k, _ := strconv.Atoi(after)
						w.Set("id", fmt.Sprintf(">%024x", k))
					}
					if off, ok := strings.CutPrefix(want[i], "offset="); ok {
						w.Set("offset", off)
					}
					assert.Equal(t, w, qv, "request %d", i+1)
				}
			})
		}
	}
}

func TestListIterBreakAndError(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	// httpmock lets a responder run on after its request was cancelled (the
	// page fetched ahead when the loop broke), so the responders and the
	// reads below share a lock.
	var mu sync.Mutex
	locked := func(next httpmock.Responder) httpmock.Responder {
		return func(r *http.Request) (*http.Response, error) {
			mu.Lock()
			defer mu.Unlock()
			return next(r)
		}
	}
	var queries []url.Values
	mt.RegisterResponder("GET", testBase+"conversations", locked(pagedConversations(1000, true, &queries)))
	count := 0
	for _, err := range c.Conversations.ListIter(context.Background(), NewQuery().Limit(50)) {
		require.NoError(t, err)
		count++
		if count == 5 {
			break
		}
	}
	assert.Equal(t, 5, count)
	// Breaking out stops fetching; the page fetched ahead may have gone out.
	mu.Lock()
	sent := len(queries)
	mu.Unlock()
	require.NotZero(t, sent)
	assert.LessOrEqual(t, sent, 2, "breaking out stops fetching")

	// An error on page 3 is yielded once, after the first two pages.
	calls := 0
	var later []url.Values
	mt.RegisterResponder("GET", testBase+"conversations", locked(func(r *http.Request) (*http.Response, error) {
		calls++
		if calls == 3 {
			return httpmock.NewStringResponse(404, `{"error":{"message":"gone"}}`), nil
		}
		return pagedConversations(1000, true, &later)(r)
	}))
	items, errs := 0, 0
	for _, err := range c.Conversations.ListIter(context.Background(), NewQuery().Limit(10)) {
		if err != nil {
			errs++
			assert.ErrorIs(t, err, ErrNotFound)
			continue
		}
		items++
	}
	assert.Equal(t, 20, items)
	assert.Equal(t, 1, errs)
	mu.Lock()
	assert.Equal(t, 3, calls)
	mu.Unlock()
}

func TestListSendsQueryAndReadsHeaders(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got recorded
	mt.RegisterResponder("GET", testBase+"users", func(r *http.Request) (*http.Response, error) {
		resp, err := record(&got, 200, string(readFixture(t, "spec/users_select.json")))(r)
		for k, v := range map[string]string{"X-Total": "9", "X-Total-Pages": "2", "X-Page": "2", "X-Per-Page": "5", "X-Range": "6-9",
			"Link": `<https://api.chatshipper.com.v2/users?offset=0&limit=5>; rel="first", <https://api.chatshipper.com/v2/users?offset=0&limit=5>; rel="prev"`} {
			resp.Header.Set(k, v)
		}
		return resp, err
	})
	req, err := c.NewRequest(context.Background(), "GET", "users?offset=5&limit=5&select=name,email", nil)
	require.NoError(t, err)
	var users []*User
	resp, err := c.Do(req, &users)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"offset": {"5"}, "limit": {"5"}, "select": {"name,email"}}, got.query)
	assert.Equal(t, Pagination{Total: 9, TotalPages: 2, Page: 2, PerPage: 5, RangeStart: 6, RangeEnd: 9,
		FirstOffset: 0, PrevOffset: 0, NextOffset: -1, LastOffset: -1}, resp.Pagination)
	assert.Len(t, users, 2)
}

func TestConversationsListAndGetWithQuery(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got recorded
	mt.RegisterResponder("GET", testBase+"conversations", record(&got, 200, `[]`))
	q := NewQuery().Where("meta.intent", Eq("greeting")).Where("type", Eq("contact")).Sort("-createdAt").Offset(10).Limit(10)
	_, _, err := c.Conversations.List(context.Background(), q)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"meta.intent": {"greeting"}, "type": {"contact"}, "sort": {"-createdAt"}, "offset": {"10"}, "limit": {"10"}}, got.query)

	mt.RegisterResponder("GET", testBase+"conversations/5a4fd7419feede6a19b18712", record(&got, 200, string(readFixture(t, "spec/conversation_select_populate.json"))))
	q = NewQuery().Select("status").Populate("messages", "type", "text").Populate("organization", "name").Populate("participants.user", "givenName", "familyName")
	conv, _, err := c.Conversations.Get(context.Background(), "5a4fd7419feede6a19b18712", q)
	require.NoError(t, err)
	assert.Equal(t, url.Values{"select": {"status"}, "populate": {"messages:type|text,organization:name,participants.user:givenName|familyName"}}, got.query)
	assert.Equal(t, "Acme, Inc", conv.Organization.Value.Name)
}

func TestMandatoryFiltersRefusedBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	_, _, err := c.Messages.List(ctx, NewQuery().Where("text", Regex("hello")))
	assert.ErrorIs(t, err, ErrInvalidQuery)
	_, _, err = c.Messages.List(ctx, nil)
	assert.ErrorIs(t, err, ErrInvalidQuery)
	for _, err := range c.Messages.ListIter(ctx, NewQuery().Limit(5)) {
		assert.ErrorIs(t, err, ErrInvalidQuery)
	}
	_, _, err = c.Conversations.List(ctx, NewQuery().Where("meta.intent", Eq("greeting")))
	assert.ErrorIs(t, err, ErrInvalidQuery)
	for _, err := range c.Conversations.ListIter(ctx, NewQuery().Where("meta.intent", Eq("greeting"))) {
		assert.ErrorIs(t, err, ErrInvalidQuery)
	}
	_, _, err = c.Conversations.List(ctx, NewQuery().Where("status", Eq("!closed")))
	assert.ErrorIs(t, err, ErrInvalidQuery)
	assert.Equal(t, 0, mt.GetTotalCallCount())

	// With a mandatory field the same listings go out.
	var got recorded
	mt.RegisterResponder("GET", testBase+"messages", record(&got, 200, `[]`))
	_, _, err = c.Messages.List(ctx, NewQuery().Where("conversation", Eq(convID)).Where("text", Regex("hello")))
	require.NoError(t, err)
	assert.Equal(t, url.Values{"conversation": {convID}, "text": {"~hello"}}, got.query)
}
