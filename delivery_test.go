package chatshipper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// stripDeliveryKeys returns a request body without the delivery keys the
// client adds (and without a meta left empty by that), so tests of the wire
// format compare the body the caller built.
func stripDeliveryKeys(t *testing.T, body []byte) string {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(body, &v))
	var strip func(v any)
	strip = func(v any) {
		switch x := v.(type) {
		case []any:
			for _, e := range x {
				strip(e)
			}
		case map[string]any:
			if meta, ok := x["meta"].(map[string]any); ok {
				delete(meta, DeliveryKeyMeta)
				if len(meta) == 0 {
					delete(x, "meta")
				}
			}
			if msgs, ok := x["messages"].([]any); ok {
				strip(msgs)
			}
		}
	}
	strip(v)
	out, err := json.Marshal(v)
	require.NoError(t, err)
	return string(out)
}

// mockSend is a scripted message endpoint: each POST is answered by the next
// of posts (a status, and whether the server stored the batch), each GET
// lookup from what was stored; it keeps every body and query it saw.
type mockSend struct {
	mu      sync.Mutex
	posts   []mockPost
	stored  []map[string]any
	bodies  [][]map[string]any
	queries []url.Values
	nextID  int

	// perPage caps the lookup's pages whatever limit was asked for (0: no
	// cap beyond the limit).
	perPage int
	// pageHeaders says which paging headers lookups carry: "" all of
	// X-Total, X-Per-Page and Link; "total", "link" or "perpage" only that
	// one; "none" none of them.
	pageHeaders string
	// answer, when set, rewrites what a 2xx POST answers (the messages
	// stored, in the order sent).
	answer func([]map[string]any) []map[string]any
	// emptyBody, when set, answers a 2xx POST with no body at all.
	emptyBody bool
	// hold, when set, holds the next POST until it is closed.
	hold chan struct{}
	// lookupStatus, when set, answers every GET lookup with it.
	lookupStatus int
}

type mockPost struct {
	status int
	// store says which messages of the batch the server stores (nil: all
	// when the status is 2xx, none otherwise).
	store []bool
	// retryAfter is the Retry-After header of a non-2xx answer.
	retryAfter string
}

func (m *mockSend) register(mt *httpmock.MockTransport) {
	path := testBase + "conversations/" + convID + "/messages"
	mt.RegisterResponder(http.MethodPost, path, func(r *http.Request) (*http.Response, error) {
		m.mu.Lock()
		if h := m.hold; h != nil {
			m.hold = nil
			m.mu.Unlock()
			<-h
			m.mu.Lock()
		}
		defer m.mu.Unlock()
		b, _ := io.ReadAll(r.Body)
		var batch []map[string]any
		if len(b) > 0 && b[0] == '{' {
			var one map[string]any
			_ = json.Unmarshal(b, &one)
			batch = []map[string]any{one}
		} else {
			_ = json.Unmarshal(b, &batch)
		}
		m.bodies = append(m.bodies, batch)
		p := mockPost{status: 201}
		if len(m.posts) > 0 {
			p, m.posts = m.posts[0], m.posts[1:]
		}
		var out []map[string]any
		for i, msg := range batch {
			if p.store == nil && p.status < 300 || p.store != nil && p.store[i] {
				m.nextID++
				msg["id"] = fmt.Sprintf("5d60a7b7949e381ffa0e%04d", m.nextID)
				msg["conversation"] = convID
				m.stored = append(m.stored, msg)
				out = append(out, msg)
			}
		}
		if p.status >= 300 {
			resp := httpmock.NewStringResponse(p.status, `{"message":"fault"}`)
			if p.retryAfter != "" {
				resp.Header.Set("Retry-After", p.retryAfter)
			}
			return resp, nil
		}
		if m.answer != nil {
			out = m.answer(out)
		}
		var body []byte
		if m.emptyBody {
			return httpmock.NewBytesResponse(p.status, nil), nil
		}
		if len(out) == 1 && len(b) > 0 && b[0] == '{' {
			body, _ = json.Marshal(out[0])
		} else {
			body, _ = json.Marshal(out)
		}
		return httpmock.NewBytesResponse(p.status, body), nil
	})
	mt.RegisterResponder(http.MethodGet, testBase+"messages", func(r *http.Request) (*http.Response, error) {
		m.mu.Lock()
		defer m.mu.Unlock()
		q := r.URL.Query()
		m.queries = append(m.queries, q)
		if m.lookupStatus != 0 {
			return httpmock.NewStringResponse(m.lookupStatus, `{"message":"lookup fault"}`), nil
		}
		want := q.Get("meta." + DeliveryKeyMeta)
		keys := map[string]bool{}
		for _, k := range strings.Split(strings.Trim(want, "[]"), ",") {
			keys[k] = true
		}
		hits := []map[string]any{}
		for _, msg := range m.stored {
			if meta, ok := msg["meta"].(map[string]any); ok && keys[fmt.Sprint(meta[DeliveryKeyMeta])] {
				hits = append(hits, msg)
			}
		}
		out, h := mockPage(q, hits, m.perPage, m.pageHeaders)
		body, _ := json.Marshal(out)
		resp := httpmock.NewBytesResponse(200, body)
		maps.Copy(resp.Header, h)
		return resp, nil
	})
}

// mockPage answers a list query over hits as a server whose pages hold at
// most perPage items (0: as many as the limit asks, 200 by default), with the
// paging headers named by which (see mockSend.pageHeaders).
func mockPage[T any](q url.Values, hits []T, perPage int, which string) ([]T, http.Header) {
	limit := 200
	if l, err := strconv.Atoi(q.Get("limit")); err == nil && l > 0 {
		limit = l
	}
	if perPage > 0 {
		limit = min(limit, perPage)
	}
	offset, _ := strconv.Atoi(q.Get("offset"))
	start := min(offset, len(hits))
	end := min(start+limit, len(hits))
	h := http.Header{}
	if which == "" || which == "total" {
		h.Set("X-Total", strconv.Itoa(len(hits)))
	}
	if which == "" || which == "perpage" {
		h.Set("X-Per-Page", strconv.Itoa(limit))
	}
	if which == "" || which == "link" {
		var links []string
		link := func(off int, rel string) string {
			return fmt.Sprintf(`<%smessages?offset=%d&limit=%d>; rel="%s"`, testBase, off, limit, rel)
		}
		if offset > 0 {
			links = append(links, link(0, "first"), link(max(0, offset-limit), "prev"))
		}
		if end < len(hits) {
			links = append(links, link(offset+limit, "next"), link(((len(hits)-1)/limit)*limit, "last"))
		}
		if len(links) > 0 {
			h.Set("Link", strings.Join(links, ", "))
		}
	}
	return hits[start:end], h
}

func (m *mockSend) texts() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []string
	for _, msg := range m.stored {
		out = append(out, msg["text"].(string))
	}
	return out
}

func keyOf(msg map[string]any) string {
	meta, _ := msg["meta"].(map[string]any)
	k, _ := meta[DeliveryKeyMeta].(string)
	return k
}

func texts(batch []map[string]any) []string {
	var out []string
	for _, msg := range batch {
		out = append(out, msg["text"].(string))
	}
	return out
}

func chats(texts ...string) []MessageInput {
	var out []MessageInput
	for _, t := range texts {
		out = append(out, Chat(t))
	}
	return out
}

// TestDeliveryBatchResolvesPerMessage: after an ambiguous batch, only the
// messages the lookup did not find are sent again, in order, with their keys.
func TestDeliveryBatchResolvesPerMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		store      []bool   // what the failed attempt stored
		wantResend []string // the texts of the second POST
	}{
		{"nothing stored: all sent again", []bool{false, false, false, false}, []string{"a", "b", "c", "d"}},
		{"a prefix stored: the rest sent again", []bool{true, true, false, false}, []string{"c", "d"}},
		{"all stored: nothing sent again", []bool{true, true, true, true}, nil},
		{"a gap: only the missing sent again, in their order", []bool{true, false, true, false}, []string{"b", "d"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t)
				m := &mockSend{posts: []mockPost{{status: 502, store: tt.store}}}
				m.register(mt)
				got, _, err := c.Conversations.Send(context.Background(), convID, chats("a", "b", "c", "d")...)
				require.NoError(t, err)
				require.Len(t, got, 4)
				assert.ElementsMatch(t, []string{"a", "b", "c", "d"}, []string{got[0].Text, got[1].Text, got[2].Text, got[3].Text})
				assert.ElementsMatch(t, []string{"a", "b", "c", "d"}, m.texts(), "each stored exactly once")

				require.Len(t, m.queries, 1)
				q := m.queries[0]
				assert.Equal(t, convID, q.Get("conversation"))
				first := m.bodies[0]
				assert.Equal(t, "["+keyOf(first[0])+","+keyOf(first[1])+","+keyOf(first[2])+","+keyOf(first[3])+"]", q.Get("meta."+DeliveryKeyMeta))
				if tt.wantResend == nil {
					assert.Len(t, m.bodies, 1)
					return
				}
				require.Len(t, m.bodies, 2)
				assert.Equal(t, tt.wantResend, texts(m.bodies[1]))
				for _, msg := range m.bodies[1] {
					idx := strings.Index("abcd", msg["text"].(string))
					assert.Equal(t, keyOf(first[idx]), keyOf(msg), "sent again with the same key")
				}
			})
		})
	}
}

// TestDeliveryKeys: every message gets its own 128-bit hex key; the caller's
// meta map is never modified and a caller-set key is kept; bad caller keys
// are refused before any I/O; "/set" commands get none; with tracking off
// nothing is added.
func TestDeliveryKeys(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	m := &mockSend{}
	m.register(mt)
	ctx := context.Background()
	callerMeta := Meta{"intent": "greet"}
	_, _, err := c.Conversations.Send(ctx, convID, MessageInput{Text: "a", Meta: callerMeta}, Chat("b"),
		Chat("c").WithMeta(DeliveryKeyMeta, "order-42_a"), SetMeta("stage", "two"))
	require.NoError(t, err)
	assert.Equal(t, Meta{"intent": "greet"}, callerMeta, "the caller's map is not modified")
	batch := m.bodies[0]
	hex32 := regexp.MustCompile(`^[0-9a-f]{32}$`)
	assert.Regexp(t, hex32, keyOf(batch[0]))
	assert.Regexp(t, hex32, keyOf(batch[1]))
	assert.NotEqual(t, keyOf(batch[0]), keyOf(batch[1]))
	assert.Equal(t, "greet", batch[0]["meta"].(map[string]any)["intent"])
	assert.Equal(t, "order-42_a", keyOf(batch[2]), "the caller's own key is kept")
	assert.NotContains(t, batch[3], "meta", "a /set command carries no key")

	for _, bad := range []any{"", "has space", "a,b", strings.Repeat("x", 129), 42, "12345", "1e5", "true", "2020-01-01"} {
		_, _, err := c.Conversations.Send(ctx, convID, Chat("x").WithMeta(DeliveryKeyMeta, bad))
		var ae *ArgumentError
		require.ErrorAs(t, err, &ae, "%v", bad)
		assert.Equal(t, "messages[0].meta."+DeliveryKeyMeta, ae.Name)
	}
	_, _, err = c.Conversations.Send(ctx, convID, Chat("x").WithMeta(DeliveryKeyMeta, "k"), Chat("y").WithMeta(DeliveryKeyMeta, "k"))
	require.ErrorIs(t, err, ErrInvalidArgument)
	assert.Len(t, m.bodies, 1, "refused before any I/O")

	off, mt2 := newTestClient(t, WithDeliveryTracking(false))
	m2 := &mockSend{}
	m2.register(mt2)
	_, _, err = off.Conversations.Send(ctx, convID, Chat("plain"))
	require.NoError(t, err)
	assert.NotContains(t, m2.bodies[0][0], "meta")
}

// TestDeliveryKeyNeverNumeric: a generated key always has a letter and
// never reads as a number, so a lookup compares it as text.
func TestDeliveryKeyNeverNumeric(t *testing.T) {
	t.Parallel()
	for _, k := range []string{"12345678901234567890123456789012", "1234e567", "1e400", "-5"} {
		assert.False(t, validDeliveryKey(k), k)
	}
	for range 1000 {
		k := newDeliveryKey()
		require.True(t, validDeliveryKey(k), k)
		require.Len(t, k, 32)
	}
}

// TestDeliveryKeysDoNotChangeLoopGuard: the loop guard counts a message with
// a key as identical to the same message without one.
func TestDeliveryKeysDoNotChangeLoopGuard(t *testing.T) {
	t.Parallel()
	msgs := func() []MessageInput { return []MessageInput{Chat("hello"), Chat("x").WithMeta("a", 1)} }
	for _, rule := range []IdenticalBy{IdenticalByText, IdenticalByTextMeta, IdenticalByTypeTextMeta} {
		plain, err := loopBatch(msgs(), rule)
		require.NoError(t, err)
		keyed, _ := withDeliveryKeys(msgs())
		got, err := loopBatch(keyed, rule)
		require.NoError(t, err)
		assert.Equal(t, plain, got)
		other, _ := withDeliveryKeys(msgs())
		got2, err := loopBatch(other, rule)
		require.NoError(t, err)
		assert.Equal(t, got, got2)
	}
}

// TestDeliveryUnkeyedSetCommand: a "/set" command has no key, so an
// ambiguous outcome is placed by the keyed messages around it, or returned
// as unknown; it is never sent again blindly.
func TestDeliveryUnkeyedSetCommand(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		msgs        []MessageInput
		store       []bool
		wantErr     bool
		wantUnkeyed int
		wantResend  []string
		wantLookups int
	}{
		{"alone: unknown, no lookup", []MessageInput{SetMeta("k", "v")}, []bool{true}, true, 1, nil, 0},
		{"before a stored message: stored", []MessageInput{SetMeta("k", "v"), Chat("a")}, []bool{true, true}, false, 0, nil, 1},
		{"after a missing message: sent again", []MessageInput{Chat("a"), SetMeta("k", "v")}, []bool{false, false}, false, 0, []string{"a", "/set k v"}, 1},
		{"between stored and missing: unknown", []MessageInput{Chat("a"), SetMeta("k", "v"), Chat("b")}, []bool{true, true, false}, true, 1, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t)
				m := &mockSend{posts: []mockPost{{status: 502, store: tt.store}}}
				m.register(mt)
				_, _, err := c.Conversations.Send(context.Background(), convID, tt.msgs...)
				assert.Len(t, m.queries, tt.wantLookups)
				if tt.wantErr {
					var du *DeliveryUnknownError
					require.ErrorAs(t, err, &du)
					assert.Equal(t, tt.wantUnkeyed, du.Unkeyed)
					assert.NoError(t, du.LookupErr)
					assert.Len(t, m.bodies, 1, "not sent again")
					return
				}
				require.NoError(t, err)
				if tt.wantResend == nil {
					assert.Len(t, m.bodies, 1)
				} else {
					require.Len(t, m.bodies, 2)
					assert.Equal(t, tt.wantResend, texts(m.bodies[1]))
				}
			})
		})
	}
}

// TestDeliveryReplacesBlindRetries: with WithRetryNonIdempotent and tracking
// on, an ambiguous message POST is resolved by the lookup, not re-sent blindly.
func TestDeliveryReplacesBlindRetries(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRetryNonIdempotent(true))
		m := &mockSend{posts: []mockPost{{status: 502, store: []bool{true}}}}
		m.register(mt)
		got, _, err := c.Conversations.Send(context.Background(), convID, Chat("once"))
		require.NoError(t, err)
		require.Len(t, got, 1)
		assert.Len(t, m.bodies, 1)
		assert.Equal(t, []string{"once"}, m.texts())
	})
}

// TestDeliveryResolveRefusedBeforeIO: Resolve and ResolveCreate check their
// arguments before any I/O.
func TestDeliveryResolveRefusedBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	for _, call := range []func() error{
		func() error { _, _, err := c.Messages.Resolve(ctx, "bad", "k"); return err },
		func() error { _, _, err := c.Messages.Resolve(ctx, convID); return err },
		func() error { _, _, err := c.Messages.Resolve(ctx, convID, "a,b"); return err },
		func() error { _, _, err := c.Conversations.ResolveCreate(ctx, "", time.Now()); return err },
		func() error { _, _, err := c.Conversations.ResolveCreate(ctx, "k", time.Now(), "[x]"); return err },
	} {
		require.ErrorIs(t, call(), ErrInvalidArgument)
	}
	assert.Zero(t, mt.GetTotalCallCount())
}

// TestDeliveryLookupReadsEveryPage: a server whose pages are shorter than the
// batch (here 10 per page whatever the limit asks) makes the lookup read on
// until every key is answered or the pages run out, whichever paging headers
// it sends (X-Total, Link, X-Per-Page, or none: then until an empty page). A
// batch of 15 stored and answered 503 is found whole and not sent again; one
// of which 12 were stored has exactly its last 3 sent again.
func TestDeliveryLookupReadsEveryPage(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		headers     string
		stored      int
		wantOffsets []string // the offset of each lookup request after the 503
	}{
		{"", 15, []string{"", "10"}},
		{"total", 15, []string{"", "10"}},
		{"link", 15, []string{"", "10"}},
		{"perpage", 15, []string{"", "10"}},
		{"none", 15, []string{"", "10"}},
		{"", 12, []string{"", "10"}},
		{"total", 12, []string{"", "10"}},
		{"link", 12, []string{"", "10"}},
		{"perpage", 12, []string{"", "10"}},
		{"none", 12, []string{"", "10", "12"}},
	} {
		t.Run(fmt.Sprintf("headers %q, %d stored", tt.headers, tt.stored), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t)
				store := make([]bool, 15)
				for i := range tt.stored {
					store[i] = true
				}
				m := &mockSend{posts: []mockPost{{status: 503, store: store}}, perPage: 10, pageHeaders: tt.headers}
				m.register(mt)
				var in []string
				for i := range 15 {
					in = append(in, fmt.Sprintf("m%02d", i))
				}
				got, _, err := c.Conversations.Send(context.Background(), convID, chats(in...)...)
				require.NoError(t, err)
				require.Len(t, got, 15)
				for i, msg := range got {
					assert.Equal(t, in[i], msg.Text)
				}
				assert.Equal(t, in, m.texts(), "each stored once, in order")
				if tt.stored == 15 {
					assert.Len(t, m.bodies, 1, "found whole: not sent again")
				} else {
					require.Len(t, m.bodies, 2)
					assert.Equal(t, in[tt.stored:], texts(m.bodies[1]), "only the missing sent again")
				}
				var offsets []string
				for _, q := range m.queries {
					offsets = append(offsets, q.Get("offset"))
				}
				assert.Equal(t, tt.wantOffsets, offsets)

				// Resolve reads every page too.
				var keys []string
				for _, msg := range m.bodies[0] {
					keys = append(keys, keyOf(msg))
				}
				res, _, err := c.Messages.Resolve(context.Background(), convID, keys...)
				require.NoError(t, err)
				require.Len(t, res, 15)
				for i, msg := range res {
					require.NotNil(t, msg, "key %d reported missing", i)
					assert.Equal(t, in[i], msg.Text)
				}
			})
		})
	}
}

// TestDeliveryLookupRefusesPagesThatDoNotAdvance: a server that ignores the
// offset (the same page again) or the key filter (messages without one of
// the keys asked for) ends the lookup with ErrInvalidResponse: the send is
// then a *DeliveryUnknownError, never a loop or a message sent twice.
func TestDeliveryLookupRefusesPagesThatDoNotAdvance(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name  string
		reply func(keys []string) []map[string]any
	}{
		{"same page again", func(keys []string) []map[string]any {
			return []map[string]any{{"id": "5d60a7b7949e381ffa0e0001", "meta": map[string]any{DeliveryKeyMeta: keys[0]}}}
		}},
		{"filter ignored", func([]string) []map[string]any {
			return []map[string]any{{"id": "5d60a7b7949e381ffa0e0001", "meta": map[string]any{DeliveryKeyMeta: "someone-else"}}}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t)
				var posted []map[string]any
				mt.RegisterResponder(http.MethodPost, testBase+"conversations/"+convID+"/messages", func(r *http.Request) (*http.Response, error) {
					b, _ := io.ReadAll(r.Body)
					_ = json.Unmarshal(b, &posted)
					return httpmock.NewStringResponse(503, `{"message":"busy"}`), nil
				})
				gets := 0
				mt.RegisterResponder(http.MethodGet, testBase+"messages", func(*http.Request) (*http.Response, error) {
					gets++
					body, _ := json.Marshal(tt.reply([]string{keyOf(posted[0])}))
					resp := httpmock.NewBytesResponse(200, body)
					resp.Header.Set("X-Total", "1000")
					return resp, nil
				})
				_, _, err := c.Conversations.Send(context.Background(), convID, Chat("a"), Chat("b"))
				var du *DeliveryUnknownError
				require.ErrorAs(t, err, &du)
				require.ErrorIs(t, du.LookupErr, ErrInvalidResponse)
				assert.LessOrEqual(t, gets, 2)
				assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+testBase+"conversations/"+convID+"/messages"])
			})
		})
	}
}

// TestDeliveryCallerKeyLookedUpFirst: a key the caller sets is looked up
// before the first send (one GET for all of a batch's caller keys, none
// without them); a message whose key is stored is returned, not sent again,
// and only the others are sent, in order.
func TestDeliveryCallerKeyLookedUpFirst(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	m := &mockSend{}
	m.register(mt)
	ctx := context.Background()
	keyed := func(text, key string) MessageInput { return Chat(text).WithMeta(DeliveryKeyMeta, key) }

	first, _, err := c.Conversations.Send(ctx, convID, keyed("a", "order-1"))
	require.NoError(t, err)
	require.Len(t, first, 1)
	require.Len(t, m.queries, 1, "looked up before the first send")
	assert.Equal(t, "order-1", m.queries[0].Get("meta."+DeliveryKeyMeta))
	assert.Equal(t, convID, m.queries[0].Get("conversation"))

	again, _, err := c.Conversations.Send(ctx, convID, keyed("a", "order-1"))
	require.NoError(t, err)
	require.Len(t, again, 1)
	assert.Equal(t, first[0].ID, again[0].ID, "the stored message is returned")
	assert.Len(t, m.bodies, 1, "not sent again")
	assert.Len(t, m.queries, 2)

	batch, _, err := c.Conversations.Send(ctx, convID, keyed("a", "order-1"), Chat("b"), keyed("c", "order-2"))
	require.NoError(t, err)
	require.Len(t, m.queries, 3, "one lookup for the batch")
	assert.Equal(t, "[order-1,order-2]", m.queries[2].Get("meta."+DeliveryKeyMeta))
	require.Len(t, m.bodies, 2)
	assert.Equal(t, []string{"b", "c"}, texts(m.bodies[1]), "only the messages not stored are sent")
	require.Len(t, batch, 3)
	assert.Equal(t, []string{"a", "b", "c"}, []string{batch[0].Text, batch[1].Text, batch[2].Text})
	assert.Equal(t, first[0].ID, batch[0].ID)
	assert.Equal(t, []string{"a", "b", "c"}, m.texts(), "each stored once")

	_, _, err = c.Conversations.Send(ctx, convID, Chat("plain"))
	require.NoError(t, err)
	assert.Len(t, m.queries, 3, "no caller key: no lookup")
}

// TestDeliveryCallerKeyLookupFails: when the lookup before the first send
// fails, nothing is sent and its error is returned as it is (not a
// *DeliveryUnknownError: nothing is in doubt).
func TestDeliveryCallerKeyLookupFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithMaxRetries(0))
		mt.RegisterResponder(http.MethodGet, testBase+"messages", httpmock.NewStringResponder(400, `{"message":"bad"}`))
		_, _, err := c.Conversations.Send(context.Background(), convID, Chat("a").WithMeta(DeliveryKeyMeta, "order-1"))
		var er *ErrorResponse
		require.ErrorAs(t, err, &er)
		assert.Equal(t, 400, er.StatusCode)
		assert.NotErrorIs(t, err, ErrDeliveryUnknown)
		assert.Zero(t, mt.GetCallCountInfo()["POST "+testBase+"conversations/"+convID+"/messages"])
	})
}

// roundTripFunc adapts a function to http.RoundTripper.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestDeliveryNonNetworkErrorFailsAtOnce: a transport error that is not a
// known network failure (httpmock's "no responder", an error of the
// caller's own RoundTripper) fails the send at once: no wait, no lookup, not
// a *DeliveryUnknownError. A network failure after the request may have
// left (a reset, an EOF, a timeout) is still looked up.
func TestDeliveryNonNetworkErrorFailsAtOnce(t *testing.T) {
	t.Parallel()
	errMine := errors.New("my transport refuses")
	for _, tt := range []struct {
		name      string
		err       error // nil: no responder registered for the POST
		ambiguous bool
	}{
		{"httpmock no responder", nil, false},
		{"the caller's RoundTripper", errMine, false},
		{"connection reset", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}, true},
		{"EOF", io.EOF, true},
		{"unexpected EOF", fmt.Errorf("reading answer: %w", io.ErrUnexpectedEOF), true},
		{"timeout", context.DeadlineExceeded, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				mt := httpmock.NewMockTransport()
				gets := 0
				mt.RegisterResponder(http.MethodGet, testBase+"messages", func(*http.Request) (*http.Response, error) {
					gets++
					return httpmock.NewStringResponse(200, `[]`), nil
				})
				posts := 0
				rt := roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if r.Method == http.MethodPost {
						posts++
						if tt.err != nil {
							return nil, tt.err
						}
					}
					return mt.RoundTrip(r)
				})
				c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: rt}),
					WithRetryWait(time.Second, 30*time.Second), WithMaxRetries(0))
				require.NoError(t, err)
				start := time.Now()
				_, _, err = c.Conversations.Send(context.Background(), convID, Chat("x"))
				var te *TransportError
				require.ErrorAs(t, err, &te)
				if tt.ambiguous {
					assert.Equal(t, 1, gets, "looked up")
					return
				}
				if tt.err == nil {
					assert.ErrorIs(t, err, httpmock.NoResponderFound)
				} else {
					assert.ErrorIs(t, err, errMine)
				}
				assert.NotErrorIs(t, err, ErrDeliveryUnknown)
				assert.Zero(t, gets, "no lookup")
				assert.Equal(t, 1, posts)
				assert.Zero(t, time.Since(start), "no wait")
			})
		})
	}
}

// TestDeliveryCreateNonNetworkErrorFailsAtOnce: a create that meets a
// transport error other than a network failure fails at once too: no wait,
// no lookup.
func TestDeliveryCreateNonNetworkErrorFailsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t)
		mt.RegisterResponder(http.MethodGet, testBase+"conversations", httpmock.NewStringResponder(200, `[]`))
		start := time.Now()
		_, _, err := c.Conversations.Create(context.Background(), &ConversationCreate{Name: "x", Messages: chats("a")})
		var te *TransportError
		require.ErrorAs(t, err, &te)
		assert.ErrorIs(t, err, httpmock.NoResponderFound)
		assert.NotErrorIs(t, err, ErrDeliveryUnknown)
		assert.Zero(t, mt.GetCallCountInfo()["GET "+testBase+"conversations"], "no lookup")
		assert.Zero(t, time.Since(start), "no wait")
	})
}

// TestDeliveryAnswerInCallerOrder: a send returns its messages in the order
// the caller gave them, whatever order the server's answer lists them in
// (placed by delivery key); messages whose key the answer does not show
// keep the server's order in the positions left.
func TestDeliveryAnswerInCallerOrder(t *testing.T) {
	t.Parallel()
	reverse := func(out []map[string]any) []map[string]any {
		r := make([]map[string]any, 0, len(out))
		for i := len(out) - 1; i >= 0; i-- {
			r = append(r, out[i])
		}
		return r
	}
	stripMeta := func(out []map[string]any) []map[string]any {
		r := make([]map[string]any, len(out))
		for i, msg := range out {
			r[i] = maps.Clone(msg)
			delete(r[i], "meta")
		}
		return r
	}
	tests := []struct {
		name   string
		msgs   []MessageInput
		answer func([]map[string]any) []map[string]any
		want   []string
	}{
		{"in order", chats("a", "b", "c"), nil, []string{"a", "b", "c"}},
		{"reversed: caller's order", chats("a", "b", "c"), reverse, []string{"a", "b", "c"}},
		{"reversed, caller keys: caller's order",
			[]MessageInput{Chat("a").WithMeta(DeliveryKeyMeta, "k-a"), Chat("b"), Chat("c").WithMeta(DeliveryKeyMeta, "k-c")},
			reverse, []string{"a", "b", "c"}},
		{"reversed, a /set without key keeps the place left",
			[]MessageInput{Chat("a"), SetMeta("stage", "two"), Chat("c")},
			reverse, []string{"a", "/set stage two", "c"}},
		{"no keys in the answer: server's order", chats("a", "b", "c"),
			func(out []map[string]any) []map[string]any { return stripMeta(reverse(out)) }, []string{"c", "b", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			m := &mockSend{answer: tt.answer}
			m.register(mt)
			got, _, err := c.Conversations.Send(context.Background(), convID, tt.msgs...)
			require.NoError(t, err)
			var gotTexts []string
			for _, msg := range got {
				gotTexts = append(gotTexts, msg.Text)
			}
			assert.Equal(t, tt.want, gotTexts)
			assert.Len(t, m.bodies, 1, "one POST")
		})
	}
}

// sentKeys returns the delivery keys of a POST's batch, in order.
func sentKeys(batch []map[string]any) []string {
	var out []string
	for _, msg := range batch {
		out = append(out, keyOf(msg))
	}
	return out
}

// TestDeliveryPartlyStoredIsNeverAPlainError: a send whose outcome the
// lookup settles with part of it stored and the rest not sent again (a 500,
// never retried; a refusal, which is looked up too, as the docs do not say
// that a refused batch stored nothing) returns the stored messages and a
// *DeliveryUnknownError naming every key of the send, never the plain error
// that would invite sending the stored ones again; a send found stored whole
// succeeds, one found not stored at all gets the plain error.
func TestDeliveryPartlyStoredIsNeverAPlainError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		status  int
		store   []bool
		want    []string // the messages returned
		partly  bool     // a *DeliveryUnknownError
		lookups int
	}{
		{"500, a prefix stored", 500, []bool{true, true, false, false}, []string{"a", "b"}, true, 1},
		{"500, nothing stored", 500, []bool{false, false, false, false}, nil, false, 1},
		{"500, all stored", 500, []bool{true, true, true, true}, []string{"a", "b", "c", "d"}, false, 1},
		{"422, a prefix stored", 422, []bool{true, false, false, false}, []string{"a"}, true, 1},
		{"422, nothing stored", 422, nil, nil, false, 1},
		{"422, all stored", 422, []bool{true, true, true, true}, []string{"a", "b", "c", "d"}, false, 1},
		{"413, a gap stored", 413, []bool{false, true, false, true}, []string{"b", "d"}, true, 1},
		{"404, nothing stored: no lookup", 404, nil, nil, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t)
				m := &mockSend{posts: []mockPost{{status: tc.status, store: tc.store}}}
				m.register(mt)
				got, _, err := c.Conversations.Send(context.Background(), convID, chats("a", "b", "c", "d")...)
				var gotTexts []string
				for _, msg := range got {
					gotTexts = append(gotTexts, msg.Text)
				}
				assert.Equal(t, tc.want, gotTexts, "the stored messages, in order")
				require.Len(t, m.bodies, 1, "nothing sent again")
				assert.Len(t, m.queries, tc.lookups)
				switch {
				case len(tc.want) == 4:
					require.NoError(t, err)
				case tc.partly:
					var due *DeliveryUnknownError
					require.ErrorAs(t, err, &due)
					assert.Equal(t, convID, due.ConversationID)
					assert.Equal(t, sentKeys(m.bodies[0]), due.Keys, "every key of the send, in order")
					assert.Zero(t, due.Unkeyed)
					assert.NoError(t, due.LookupErr)
					var er *ErrorResponse
					require.ErrorAs(t, err, &er, "the send's error is its Err")
					assert.Equal(t, tc.status, er.StatusCode)
					found, _, rerr := c.Messages.Resolve(context.Background(), due.ConversationID, due.Keys...)
					require.NoError(t, rerr)
					for i, msg := range found {
						assert.Equal(t, tc.store[i], msg != nil, "Resolve tells message %d", i)
					}
				default:
					assert.NotErrorIs(t, err, ErrDeliveryUnknown, "nothing stored: the plain error")
					var er *ErrorResponse
					require.ErrorAs(t, err, &er)
					assert.Equal(t, tc.status, er.StatusCode)
				}
			})
		})
	}
}

// TestDeliveryShortAnswerIsChecked: a 2xx answer that lists fewer messages
// than were sent (or none) is never success with fewer messages: the
// messages it leaves out are looked up by their keys; found, they are
// returned as stored; not found, the send fails (ErrInvalidResponse; a
// *DeliveryUnknownError naming every key when part of it is stored) and
// nothing is sent again; when the lookup fails, a *DeliveryUnknownError
// names the keys left out. With delivery tracking off, the messages left out
// cannot be looked up: a *DeliveryUnknownError counts them in Unkeyed.
func TestDeliveryShortAnswerIsChecked(t *testing.T) {
	t.Parallel()
	firstTwo := func(out []map[string]any) []map[string]any { return out[:min(2, len(out))] }
	none := func([]map[string]any) []map[string]any { return []map[string]any{} }
	for _, tc := range []struct {
		name         string
		msgs         []MessageInput
		store        []bool
		answer       func([]map[string]any) []map[string]any
		emptyBody    bool
		lookupStatus int
		tracking     bool
		want         []string
		check        func(t *testing.T, err error, sent []string)
	}{
		{name: "all stored, two listed", msgs: chats("a", "b", "c", "d"), answer: firstTwo, tracking: true,
			want: []string{"a", "b", "c", "d"}},
		{name: "all stored, none listed", msgs: chats("a", "b", "c", "d"), answer: none, tracking: true,
			want: []string{"a", "b", "c", "d"}},
		{name: "one message, answered with nothing", msgs: chats("a"), answer: none, tracking: true,
			want: []string{"a"}},
		{name: "all stored, answered with an empty body", msgs: chats("a", "b"), emptyBody: true, tracking: true,
			want: []string{"a", "b"}},
		{name: "a /set not listed, the keyed all listed", msgs: []MessageInput{Chat("a"), SetMeta("k", "v")},
			answer: func(out []map[string]any) []map[string]any { return out[:1] }, tracking: true,
			want: []string{"a"}},
		{name: "two stored and listed", msgs: chats("a", "b", "c", "d"), store: []bool{true, true, false, false}, tracking: true,
			want: []string{"a", "b"}, check: func(t *testing.T, err error, sent []string) {
				var due *DeliveryUnknownError
				require.ErrorAs(t, err, &due)
				assert.Equal(t, sent, due.Keys, "every key of the send")
				assert.NoError(t, due.LookupErr)
				assert.ErrorIs(t, err, ErrInvalidResponse)
				assert.ErrorContains(t, err, "listing 2 of the 4 messages sent; 2 of them are not stored")
			}},
		{name: "none stored, none listed", msgs: chats("a", "b"), store: []bool{false, false}, tracking: true,
			check: func(t *testing.T, err error, _ []string) {
				assert.ErrorIs(t, err, ErrInvalidResponse)
				assert.NotErrorIs(t, err, ErrDeliveryUnknown, "known not stored: may be sent again")
			}},
		{name: "the lookup fails", msgs: chats("a", "b", "c"), answer: func(out []map[string]any) []map[string]any { return out[:1] },
			lookupStatus: 404, tracking: true, want: []string{"a"}, check: func(t *testing.T, err error, sent []string) {
				var due *DeliveryUnknownError
				require.ErrorAs(t, err, &due)
				assert.Equal(t, sent[1:], due.Keys, "the keys left out")
				assert.Error(t, due.LookupErr)
				assert.ErrorIs(t, err, ErrInvalidResponse)
			}},
		{name: "tracking off", msgs: chats("a", "b", "c"), answer: firstTwo,
			want: []string{"a", "b"}, check: func(t *testing.T, err error, _ []string) {
				var due *DeliveryUnknownError
				require.ErrorAs(t, err, &due)
				assert.Empty(t, due.Keys)
				assert.Equal(t, 1, due.Unkeyed)
				assert.ErrorIs(t, err, ErrInvalidResponse)
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t, WithDeliveryTracking(tc.tracking))
				m := &mockSend{posts: []mockPost{{status: 201, store: tc.store}}, answer: tc.answer, emptyBody: tc.emptyBody, lookupStatus: tc.lookupStatus}
				m.register(mt)
				got, _, err := c.Conversations.Send(context.Background(), convID, tc.msgs...)
				var gotTexts []string
				for _, msg := range got {
					gotTexts = append(gotTexts, msg.Text)
				}
				assert.Equal(t, tc.want, gotTexts)
				require.Len(t, m.bodies, 1, "nothing sent again")
				if tc.check == nil {
					require.NoError(t, err)
					return
				}
				require.Error(t, err)
				tc.check(t, err, sentKeys(m.bodies[0]))
			})
		})
	}
}

// heldBatch sends calls (each its texts) through a BatchSender in one
// request: a first message the server holds (m's first POST), then the
// calls, which wait for their turn together and go as m's second POST. It
// returns what each call got.
func heldBatch(t *testing.T, c *Client, m *mockSend, calls ...[]string) ([][]*Message, []error) {
	t.Helper()
	s, err := c.Conversations.NewBatchSender()
	require.NoError(t, err)
	ctx := context.Background()
	hold := make(chan struct{})
	m.mu.Lock()
	m.hold = hold
	m.mu.Unlock()
	first := s.Queue(ctx, convID, Chat("first"))
	synctest.Wait()
	ps := make([]*PendingSend, len(calls))
	for i, texts := range calls {
		ps[i] = s.Queue(ctx, convID, chats(texts...)...)
	}
	synctest.Wait()
	close(hold)
	_, err = first.Result()
	require.NoError(t, err)
	msgs := make([][]*Message, len(calls))
	errs := make([]error, len(calls))
	for i, p := range ps {
		msgs[i], errs[i] = p.Result()
	}
	require.NoError(t, s.Close(ctx))
	return msgs, errs
}

func msgTexts(msgs []*Message) []string {
	var out []string
	for _, m := range msgs {
		out = append(out, m.Text)
	}
	return out
}

// TestBatchSenderPartlyStoredCall: when the server stores part of a batch
// and the rest is not sent again (a 500; a 2xx that leaves messages out),
// each call is settled by the lookup: a call stored whole succeeds, a call
// stored in part gets a *DeliveryUnknownError naming its own keys (never the
// plain error, which would invite sending its stored messages again), a call
// not stored at all gets the plain error. A batch refused whole after
// storing part of it is looked up once; each call not stored whole goes
// again alone with only its missing messages. A lone call is treated the
// same: a refusal is looked up.
func TestBatchSenderPartlyStoredCall(t *testing.T) {
	t.Parallel()
	prefix := func(n, of int) []bool {
		out := make([]bool, of)
		for i := range n {
			out[i] = true
		}
		return out
	}
	calls := [][]string{{"a0", "a1"}, {"b0", "b1", "b2"}, {"c0"}, {"d0", "d1"}}
	for _, tc := range []struct {
		name   string
		calls  [][]string
		posts  []mockPost // after the held first one
		answer func([]map[string]any) []map[string]any
		// per call: nil error, "partly" (a *DeliveryUnknownError with its
		// keys), or the plain error expected ("500", "invalid")
		want      []string
		wantBack  [][]string // the messages each call got back
		wantPosts [][]string // every POST after the first
		lookups   int
	}{
		{name: "500 after storing 3 of 8", calls: calls, posts: []mockPost{{status: 500, store: prefix(3, 8)}},
			want: []string{"", "partly", "500", "500"}, wantBack: [][]string{{"a0", "a1"}, {"b0"}, nil, nil},
			wantPosts: [][]string{{"a0", "a1", "b0", "b1", "b2", "c0", "d0", "d1"}}, lookups: 1},
		{name: "201 after storing 3 of 8", calls: calls, posts: []mockPost{{status: 201, store: prefix(3, 8)}},
			want: []string{"", "partly", "invalid", "invalid"}, wantBack: [][]string{{"a0", "a1"}, {"b0"}, nil, nil},
			wantPosts: [][]string{{"a0", "a1", "b0", "b1", "b2", "c0", "d0", "d1"}}, lookups: 1},
		{name: "201 listing 3 of the 8 stored", calls: calls, posts: []mockPost{{status: 201}},
			answer: func(out []map[string]any) []map[string]any { return out[:min(3, len(out))] },
			want:   []string{"", "", "", ""}, wantBack: calls,
			wantPosts: [][]string{{"a0", "a1", "b0", "b1", "b2", "c0", "d0", "d1"}}, lookups: 1},
		{name: "422 after storing 3 of 8", calls: calls, posts: []mockPost{{status: 422, store: prefix(3, 8)}},
			want: []string{"", "", "", ""}, wantBack: calls,
			wantPosts: [][]string{{"a0", "a1", "b0", "b1", "b2", "c0", "d0", "d1"}, {"b1", "b2"}, {"c0"}, {"d0", "d1"}}, lookups: 1},
		{name: "lone call, 422 after storing it", calls: calls[:1], posts: []mockPost{{status: 422, store: prefix(2, 2)}},
			want: []string{""}, wantBack: calls[:1], wantPosts: [][]string{{"a0", "a1"}}, lookups: 1},
		{name: "lone call, 422 after storing a part", calls: calls[1:2], posts: []mockPost{{status: 422, store: prefix(1, 3)}},
			want: []string{"partly"}, wantBack: [][]string{{"b0"}}, wantPosts: [][]string{{"b0", "b1", "b2"}}, lookups: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t, WithRateLimit(0))
				m := &mockSend{posts: append([]mockPost{{status: 201}}, tc.posts...), answer: tc.answer}
				m.register(mt)
				got, errs := heldBatch(t, c, m, tc.calls...)
				var posts [][]string
				for _, b := range m.bodies[1:] {
					posts = append(posts, texts(b))
				}
				assert.Equal(t, tc.wantPosts, posts)
				assert.Len(t, m.queries, tc.lookups)
				batch := m.bodies[1]
				at := 0
				for i, want := range tc.want {
					keys := sentKeys(batch[at : at+len(tc.calls[i])])
					at += len(tc.calls[i])
					assert.Equal(t, tc.wantBack[i], msgTexts(got[i]), "call %d: its messages back", i)
					err := errs[i]
					var due *DeliveryUnknownError
					var er *ErrorResponse
					switch want {
					case "":
						assert.NoError(t, err, "call %d", i)
					case "partly":
						require.ErrorAs(t, err, &due, "call %d", i)
						assert.Equal(t, keys, due.Keys, "call %d: its own keys", i)
						assert.NoError(t, due.LookupErr)
					case "500":
						assert.NotErrorIs(t, err, ErrDeliveryUnknown, "call %d", i)
						require.ErrorAs(t, err, &er, "call %d", i)
						assert.Equal(t, 500, er.StatusCode)
					case "invalid":
						assert.NotErrorIs(t, err, ErrDeliveryUnknown, "call %d", i)
						assert.ErrorIs(t, err, ErrInvalidResponse, "call %d", i)
					}
				}
				var stored []string
				for _, s := range m.texts()[1:] {
					assert.NotContains(t, stored, s, "stored twice")
					stored = append(stored, s)
				}
			})
		})
	}
}
