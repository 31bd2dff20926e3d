package chatshipper_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// deliveryClient returns a client of srv with a 2 s attempt timeout and short
// retry waits.
func deliveryClient(t *testing.T, srv *chatshippertest.Server, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	hc := *srv.Client()
	hc.Timeout = 2 * time.Second
	opts = append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(&hc),
		chatshipper.WithRetryWait(100*time.Millisecond, 5*time.Second)}, opts...)
	c, err := chatshipper.NewClient(srv.Token, opts...)
	require.NoError(t, err)
	return c
}

// storedTexts returns the texts of the messages of conversation convID, in
// the conversation's order.
func storedTexts(srv *chatshippertest.Server, convID string) []string {
	conv, _ := srv.Get("conversations", convID)
	var out []string
	ids, _ := conv["messages"].([]any)
	for _, id := range ids {
		m, _ := srv.Get("messages", id.(string))
		out = append(out, m["text"].(string))
	}
	return out
}

// countRequests counts the recorded requests with method whose path has prefix and suffix.
func countRequests(srv *chatshippertest.Server, method, prefix, suffix string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == method && strings.HasPrefix(r.Path, prefix) && strings.HasSuffix(r.Path, suffix) {
			n++
		}
	}
	return n
}

// TestDeliveryAmbiguousOutcomesResolveToOneMessage: every outcome that may or
// may not have created the messages ends with each message stored exactly
// once and returned to the caller without an error; those that acted are
// found by the lookup and not sent again, those that did not are sent again.
func TestDeliveryAmbiguousOutcomesResolveToOneMessage(t *testing.T) {
	t.Parallel()
	faults := []struct {
		name  string
		fault chatshippertest.Fault
		acted bool // the faulty attempt stored the messages
	}{
		{"dropped before acting", chatshippertest.Fault{Drop: chatshippertest.DropBefore}, false},
		{"dropped after acting", chatshippertest.Fault{Drop: chatshippertest.DropAfter}, true},
		{"502 before acting", chatshippertest.Fault{Status: 502}, false},
		{"502 after acting", chatshippertest.Fault{Status: 502, After: true}, true},
		{"503 before acting", chatshippertest.Fault{Status: 503, RetryAfter: "2"}, false},
		{"504 after acting", chatshippertest.Fault{Status: 504, After: true}, true},
		{"500 after acting", chatshippertest.Fault{Status: 500, After: true}, true},
		{"attempt timeout before acting", chatshippertest.Fault{Delay: 3 * time.Second}, false},
		{"attempt timeout after acting", chatshippertest.Fault{Delay: 3 * time.Second, After: true}, true},
	}
	for _, batch := range []int{1, 3} {
		for _, tc := range faults {
			t.Run(fmt.Sprintf("%s/batch of %d", tc.name, batch), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					srv := chatshippertest.NewInProcessServer(t)
					c := deliveryClient(t, srv)
					ctx := context.Background()
					conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "ambiguous"})
					require.NoError(t, err)
					_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("before"))
					require.NoError(t, err)

					f := tc.fault
					f.Method, f.PathPrefix, f.Count = http.MethodPost, "/v2/conversations/"+conv.ID+"/messages", 1
					srv.InjectFault(f)
					srv.ResetRequests()
					var msgs []chatshipper.MessageInput
					var want []string
					for i := range batch {
						text := fmt.Sprintf("m%d", i)
						msgs = append(msgs, chatshipper.Chat(text))
						want = append(want, text)
					}
					got, _, err := c.Conversations.Send(ctx, conv.ID, msgs...)
					require.NoError(t, err)
					require.Len(t, got, batch)
					for i, m := range got {
						assert.Equal(t, want[i], m.Text)
						assert.NotEmpty(t, m.ID)
						assert.Len(t, m.Meta.Get(chatshipper.DeliveryKeyMeta), 32)
					}
					assert.Equal(t, append([]string{"before"}, want...), storedTexts(srv, conv.ID), "each message stored once, in order")

					posts := countRequests(srv, http.MethodPost, "/v2/conversations/", "/messages")
					lookups := countRequests(srv, http.MethodGet, "/v2/messages", "")
					assert.Equal(t, 1, lookups, "one lookup decides")
					if tc.acted {
						assert.Equal(t, 1, posts, "found by the lookup: not sent again")
					} else {
						assert.Equal(t, 2, posts, "not found: sent again once")
					}
				})
			})
		}
	}
}

// TestDeliveryKnownNotCreatedIsReturned: a 500 before acting is found not
// created and, as the retry policy never retries a 500, returned as it is.
func TestDeliveryKnownNotCreatedIsReturned(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c := deliveryClient(t, srv)
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "500"})
		require.NoError(t, err)
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Status: 500})
		got, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("x"))
		var er *chatshipper.ErrorResponse
		require.ErrorAs(t, err, &er)
		assert.Equal(t, 500, er.StatusCode)
		assert.Empty(t, got)
		assert.Empty(t, storedTexts(srv, conv.ID))
	})
}

// TestDeliveryRetryBudget: a fault that outlasts the retry budget is returned
// after WithMaxRetries sends again, with nothing stored.
func TestDeliveryRetryBudget(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c := deliveryClient(t, srv, chatshipper.WithMaxRetries(2))
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "budget"})
		require.NoError(t, err)
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Status: 503})
		srv.ResetRequests()
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("x"), chatshipper.Chat("y"))
		require.ErrorIs(t, err, chatshipper.ErrServer)
		assert.NotErrorIs(t, err, chatshipper.ErrDeliveryUnknown, "the lookup answered: known not created")
		assert.Equal(t, 3, countRequests(srv, http.MethodPost, "/v2/conversations/", "/messages"))
		assert.Equal(t, 3, countRequests(srv, http.MethodGet, "/v2/messages", ""))
		assert.Empty(t, storedTexts(srv, conv.ID))
	})
}

// TestDeliveryUnknownWhenLookupFails: when the lookup cannot be answered the
// caller gets a *DeliveryUnknownError with the keys, nothing is sent again,
// and Messages.Resolve answers later.
func TestDeliveryUnknownWhenLookupFails(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c := deliveryClient(t, srv)
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "unknown"})
		require.NoError(t, err)
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Drop: chatshippertest.DropAfter})
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Count: 1, Status: 500})
		srv.ResetRequests()
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("a"), chatshipper.Chat("b"))
		require.ErrorIs(t, err, chatshipper.ErrDeliveryUnknown)
		var du *chatshipper.DeliveryUnknownError
		require.ErrorAs(t, err, &du)
		assert.Equal(t, conv.ID, du.ConversationID)
		require.Len(t, du.Keys, 2)
		var te *chatshipper.TransportError
		assert.ErrorAs(t, err, &te, "the send's outcome is kept")
		assert.ErrorIs(t, err, chatshipper.ErrServer, "the lookup's error is kept")
		assert.Equal(t, 1, countRequests(srv, http.MethodPost, "/v2/conversations/", "/messages"), "not sent again")

		got, _, err := c.Messages.Resolve(ctx, du.ConversationID, du.Keys...)
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Equal(t, "a", got[0].Text)
		assert.Equal(t, "b", got[1].Text)

		missing, _, err := c.Messages.Resolve(ctx, conv.ID, "0123456789abcdef0123456789abcdef")
		require.NoError(t, err)
		assert.Equal(t, []*chatshipper.Message{nil}, missing)
	})
}

// TestDeliveryCancelledMidSendIsUnknown: a context that ends while the
// request may be on the server gives a *DeliveryUnknownError that still
// matches the context's error.
func TestDeliveryCancelledMidSendIsUnknown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c := deliveryClient(t, srv)
		conv, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{Name: "cancel"})
		require.NoError(t, err)
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, After: true, Delay: time.Second})
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		defer cancel()
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("x"))
		require.ErrorIs(t, err, chatshipper.ErrDeliveryUnknown)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		got, _, err := c.Messages.Resolve(context.Background(), conv.ID, err.(*chatshipper.DeliveryUnknownError).Keys...)
		require.NoError(t, err)
		require.NotNil(t, got[0], "it had been stored")
	})
}

// TestDeliveryConversationCreate: an ambiguous create is resolved by the key
// in the conversation's meta: one conversation with its initial messages.
func TestDeliveryConversationCreate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault chatshippertest.Fault
	}{
		{"dropped before acting", chatshippertest.Fault{Drop: chatshippertest.DropBefore}},
		{"dropped after acting", chatshippertest.Fault{Drop: chatshippertest.DropAfter}},
		{"502 after acting", chatshippertest.Fault{Status: 502, After: true}},
		{"503 before acting", chatshippertest.Fault{Status: 503}},
		{"attempt timeout after acting", chatshippertest.Fault{Delay: 3 * time.Second, After: true}},
		{"attempt timeout before acting", chatshippertest.Fault{Delay: 3 * time.Second}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t)
				c := deliveryClient(t, srv)
				f := tc.fault
				f.Method, f.PathPrefix, f.Count = http.MethodPost, "/v2/conversations", 1
				srv.InjectFault(f)
				before := len(srv.List("conversations"))
				conv, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{
					Name: "created once", Meta: chatshipper.Meta{"team": "a"},
					Messages: []chatshipper.MessageInput{chatshipper.Chat("one"), chatshipper.Chat("two")},
				})
				require.NoError(t, err)
				require.NotNil(t, conv)
				assert.Equal(t, "created once", conv.Name)
				assert.Equal(t, "a", conv.Meta.Get("team"))
				assert.Len(t, conv.Meta.Get(chatshipper.DeliveryKeyMeta), 32)
				assert.Len(t, srv.List("conversations"), before+1, "exactly one conversation")
				assert.Equal(t, []string{"one", "two"}, storedTexts(srv, conv.ID))
			})
		})
	}
}

// TestDeliveryCreateUnknownAndResolveCreate: a create whose lookup fails is
// a *DeliveryUnknownError that ResolveCreate answers later.
func TestDeliveryCreateUnknownAndResolveCreate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c := deliveryClient(t, srv)
		ctx := context.Background()
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations", Count: 1, Drop: chatshippertest.DropAfter})
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/conversations", Count: 1, Status: 500})
		_, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "later", Messages: []chatshipper.MessageInput{chatshipper.Chat("hi")}})
		var du *chatshipper.DeliveryUnknownError
		require.ErrorAs(t, err, &du)
		assert.Empty(t, du.ConversationID)
		require.NotEmpty(t, du.ConversationKey)
		require.Len(t, du.Keys, 1)
		conv, _, err := c.Conversations.ResolveCreate(ctx, du.ConversationKey, du.Since, du.Keys...)
		require.NoError(t, err)
		require.NotNil(t, conv)
		assert.Equal(t, "later", conv.Name)
		none, _, err := c.Conversations.ResolveCreate(ctx, "no-such-key", du.Since)
		require.NoError(t, err)
		assert.Nil(t, none)
		anyTime, _, err := c.Conversations.ResolveCreate(ctx, du.ConversationKey, time.Time{})
		require.NoError(t, err, "a zero since searches at any time")
		require.NotNil(t, anyTime)
		assert.Equal(t, conv.ID, anyTime.ID)
	})
}

// TestDeliveryTrackingOff: without tracking an ambiguous send is returned as
// before (no lookup, not sent again) and messages carry no key.
func TestDeliveryTrackingOff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c := deliveryClient(t, srv, chatshipper.WithDeliveryTracking(false))
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "off"})
		require.NoError(t, err)
		assert.NotContains(t, conv.Meta.Map(), chatshipper.DeliveryKeyMeta)
		got, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("plain"))
		require.NoError(t, err)
		assert.NotContains(t, got[0].Meta.Map(), chatshipper.DeliveryKeyMeta)

		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/", Count: 1, Status: 502, After: true})
		srv.ResetRequests()
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("ambiguous"))
		var er *chatshipper.ErrorResponse
		require.ErrorAs(t, err, &er)
		assert.Equal(t, 502, er.StatusCode)
		assert.False(t, errors.Is(err, chatshipper.ErrDeliveryUnknown))
		assert.Equal(t, 1, len(srv.Requests()), "no lookup, not sent again")
		assert.Equal(t, []string{"plain", "ambiguous"}, storedTexts(srv, conv.ID))
	})
}

// TestFaultInjectionExactlyOnce is the fault suite with delivery tracking on:
// 1,000 messages across 50 conversations from 8 goroutines (each conversation
// sent by one goroutine at a time, as singles and batches of 2 and 3), while
// the fake server answers 503, 429 with Retry-After, drops connections before
// and after acting, answers 502 after acting and answers too late (beyond
// the attempt timeout) before and after acting, and fails some lookups with
// 503. Every message must be stored exactly once and in order, the caller
// must see no error for these transient faults, the client must keep the
// server's rate limit, and no goroutine may be left.
func TestFaultInjectionExactlyOnce(t *testing.T) {
	baseline := runtime.NumGoroutine()
	runExactlyOnce(t, exactlyOnceSuite{
		conversations: 50,
		chunks:        []int{1, 3, 2, 1, 3, 2, 1, 3, 2, 1, 1}, // 20 messages per conversation
	})
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), baseline, "goroutines leaked")
}

// TestFaultInjectionExactlyOnceOtherServers is the fault suite against
// servers the API documentation allows but the fake does not play by
// default: pages capped at 10 or 50 items whatever limit is asked for (with
// their X-Total and Link headers, or with no paging headers at all), and a
// server clock 2 h behind or ahead of the client's (answers stamped with its
// Date). The 1,000 messages go to 10 conversations in batches of up to 60,
// so that lookups span several pages, and the conversations are created
// under the same faults, so that create lookups meet the skewed clock. The
// client's user is not a bot, so the loop limits stay out of the way of
// batches of 60.
func TestFaultInjectionExactlyOnceOtherServers(t *testing.T) {
	t.Parallel()
	chunks := []int{60, 11, 2, 15, 1, 11} // 100 messages per conversation
	for _, tc := range []struct {
		name string
		wrap func(*chatshippertest.Server) func(http.RoundTripper) http.RoundTripper
		opts []chatshippertest.Option
	}{
		{"pages of 10", capPages(10, false), nil},
		{"pages of 50", capPages(50, false), nil},
		{"pages of 10 without paging headers", capPages(10, true), nil},
		{"server clock 2h behind", stampDate(-2 * time.Hour), []chatshippertest.Option{skewClock(-2 * time.Hour)}},
		{"server clock 2h ahead", stampDate(2 * time.Hour), []chatshippertest.Option{skewClock(2 * time.Hour)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runExactlyOnce(t, exactlyOnceSuite{
				conversations: 10,
				chunks:        chunks,
				admin:         true,
				faultCreates:  true,
				wrap:          tc.wrap,
				serverOpts:    tc.opts,
			})
		})
	}
}

func capPages(n int, bare bool) func(*chatshippertest.Server) func(http.RoundTripper) http.RoundTripper {
	return func(*chatshippertest.Server) func(http.RoundTripper) http.RoundTripper {
		return func(rt http.RoundTripper) http.RoundTripper { return pageCapTransport{rt: rt, max: n, bare: bare} }
	}
}

func stampDate(skew time.Duration) func(*chatshippertest.Server) func(http.RoundTripper) http.RoundTripper {
	return func(*chatshippertest.Server) func(http.RoundTripper) http.RoundTripper {
		return func(rt http.RoundTripper) http.RoundTripper {
			return dateTransport{rt: rt, now: func() time.Time { return time.Now().Add(skew) }}
		}
	}
}

func skewClock(skew time.Duration) chatshippertest.Option {
	return chatshippertest.WithClock(func() time.Time { return time.Now().Add(skew) })
}

// exactlyOnceSuite describes one run of the delivery fault suite.
type exactlyOnceSuite struct {
	conversations int
	chunks        []int // the batches sent to each conversation, in order
	admin         bool  // send with the admin token (not a bot: no loop limits)
	faultCreates  bool  // create the conversations under the faults too
	// wrap, when set, wraps the client's transport to the server.
	wrap       func(*chatshippertest.Server) func(http.RoundTripper) http.RoundTripper
	serverOpts []chatshippertest.Option
	seed       int64 // the fake's seed (its faults' dice); 0 means 7
}

// runExactlyOnce runs the delivery fault suite s: every message must be
// stored exactly once and in order, every conversation created once, the
// caller must see no error for the transient faults, and the client must
// keep the server's rate limit.
func runExactlyOnce(t *testing.T, s exactlyOnceSuite) {
	t.Helper()
	perConv := 0
	for _, n := range s.chunks {
		perConv += n
	}
	synctest.Test(t, func(t *testing.T) {
		seed := s.seed
		if seed == 0 {
			seed = 7
		}
		srv := chatshippertest.NewInProcessServer(t, append([]chatshippertest.Option{chatshippertest.WithSeed(seed)}, s.serverOpts...)...)
		token := srv.Token
		if s.admin {
			token = srv.AdminToken
		}
		wrap := func(rt http.RoundTripper) http.RoundTripper { return rt }
		if s.wrap != nil {
			wrap = s.wrap(srv)
		}
		// About 13% of POST attempts meet a fault that stores nothing (503,
		// 429, dropped or too late before acting). With the default budget
		// of 3 retries, 4 such faults in a row (0.13^4 per batch, ~550
		// batches) end about one run in six with an error that did outlast
		// the budget; 6 retries make that about one run in 3,000, so a
		// failure here means a fault that should have been absorbed was not.
		c := wrappedClient(t, srv, token, wrap, chatshipper.WithMaxRetries(6))
		ctx := context.Background()

		// Faults are rolled in order, so each probability is conditional on
		// the ones before it not firing: overall 5%, 5%, 2%, 2%, 2%, 1%, 1%.
		prefix := "/v2/conversations/" // message posts only
		if s.faultCreates {
			prefix = "/v2/conversations" // and creates
		}
		post := func(p float64, f chatshippertest.Fault) chatshippertest.Fault {
			f.Method, f.PathPrefix, f.Probability = http.MethodPost, prefix, p
			return f
		}
		injectFaults := func() {
			srv.InjectFault(post(0.05, chatshippertest.Fault{Status: 503}))
			srv.InjectFault(post(0.05/0.95, chatshippertest.Fault{Status: 429, RetryAfter: "1"}))
			srv.InjectFault(post(0.02/0.90, chatshippertest.Fault{Drop: chatshippertest.DropBefore}))
			srv.InjectFault(post(0.02/0.88, chatshippertest.Fault{Drop: chatshippertest.DropAfter}))
			srv.InjectFault(post(0.02/0.86, chatshippertest.Fault{Status: 502, After: true}))
			srv.InjectFault(post(0.01/0.84, chatshippertest.Fault{Delay: 3 * time.Second}))
			srv.InjectFault(post(0.01/0.83, chatshippertest.Fault{Delay: 3 * time.Second, After: true}))
			srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Probability: 0.05, Status: 503})
			if s.faultCreates {
				srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/conversations", Probability: 0.05, Status: 503})
			}
		}
		if s.faultCreates {
			srv.ResetRequests()
			injectFaults()
		}
		before := len(srv.List("conversations"))
		convs := make([]string, s.conversations)
		for i := range convs {
			conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprint("exactly once ", i)})
			require.NoError(t, err)
			convs[i] = conv.ID
		}
		created := len(srv.List("conversations")) - before
		assert.Equal(t, s.conversations, created, "every conversation created once")
		if !s.faultCreates {
			srv.ResetRequests()
			injectFaults()
		}

		type outcome struct {
			texts []string
			err   error
		}
		results := make([][]outcome, s.conversations)
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for ci := range jobs {
					n := 0
					for _, size := range s.chunks {
						var msgs []chatshipper.MessageInput
						var texts []string
						for range size {
							text := fmt.Sprintf("c%02d m%03d", ci, n)
							n++
							msgs = append(msgs, chatshipper.Chat(text))
							texts = append(texts, text)
						}
						got, _, err := c.Conversations.Send(ctx, convs[ci], msgs...)
						if err == nil && len(got) != len(msgs) {
							err = fmt.Errorf("sent %d messages, got %d back", len(msgs), len(got))
						}
						results[ci] = append(results[ci], outcome{texts: texts, err: err})
					}
				}
			})
		}
		for i := range s.conversations {
			jobs <- i
		}
		close(jobs)
		wg.Wait()

		stored := map[string]int{}
		for _, m := range srv.List("messages") {
			if text, _ := m["text"].(string); text != "" {
				stored[text]++
			}
		}
		var sent, failed, unknown, lost, duplicated int
		kinds := map[string]int{}
		for ci, rs := range results {
			var want []string
			for _, r := range rs {
				if r.err != nil {
					failed += len(r.texts)
					kinds[errorKind(r.err)]++
					if errors.Is(r.err, chatshipper.ErrDeliveryUnknown) {
						unknown++
						continue
					}
					for _, text := range r.texts {
						assert.Zero(t, stored[text], "%q: an error other than ErrDeliveryUnknown must mean not stored", text)
					}
					continue
				}
				sent += len(r.texts)
				want = append(want, r.texts...)
			}
			for _, text := range want {
				switch {
				case stored[text] == 0:
					lost++
				case stored[text] > 1:
					duplicated++
				}
			}
			assert.Equal(t, want, storedTexts(srv, convs[ci]), "conversation %d: every message once, in order", ci)
		}
		assert.Zero(t, lost, "returned as sent but not stored")
		assert.Zero(t, duplicated, "stored more than once")
		assert.Equal(t, s.conversations*perConv, sent+failed)
		assert.Zero(t, failed, "transient faults must not reach the caller")

		// What the faults did, from the server's log.
		statuses := map[string]int{}
		var times []time.Time
		var posts, lookups, lookupPages int
		for _, r := range srv.Requests() {
			times = append(times, r.Time)
			switch {
			case r.Method == http.MethodPost && r.Path != "/v2/conversations":
				posts++
				statuses[fmt.Sprint(r.Status)]++
			case r.Method == http.MethodGet && r.Path == "/v2/messages":
				lookups++
				if r.Query.Get("offset") != "" {
					lookupPages++
				}
			}
		}
		t.Logf("messages %d: stored once %d, lost %d, duplicated %d, errors to the caller %d (delivery unknown %d) %v; "+
			"conversations %d created %d; message POSTs %d (answers by status, 0 = dropped or too late: %v), "+
			"lookup requests %d (of which pages after the first %d)",
			s.conversations*perConv, sent-lost-duplicated, lost, duplicated, failed, unknown, kinds,
			s.conversations, created, posts, statuses, lookups, lookupPages)
		chatshipper.RequireAtMostNPerWindow(t, times, 20, time.Second)
	})
}

// TestDeliveryCreateForExistingContact: when the server appends the initial
// messages to an existing contact's conversation (whose meta keeps its old
// key), an ambiguous create is found by the keys of its messages.
func TestDeliveryCreateForExistingContact(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault chatshippertest.Fault
	}{
		{"dropped after acting", chatshippertest.Fault{Drop: chatshippertest.DropAfter}},
		{"dropped before acting", chatshippertest.Fault{Drop: chatshippertest.DropBefore}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t)
				c := deliveryClient(t, srv)
				ctx := context.Background()
				contact := &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Email: "jane@example.com"}}
				first, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Contact: contact,
					Messages: []chatshipper.MessageInput{chatshipper.Chat("first")}})
				require.NoError(t, err)
				time.Sleep(time.Minute)

				f := tc.fault
				f.Method, f.PathPrefix, f.Count = http.MethodPost, "/v2/conversations", 1
				srv.InjectFault(f)
				again, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Contact: contact,
					Messages: []chatshipper.MessageInput{chatshipper.Chat("again")}})
				require.NoError(t, err)
				require.NotNil(t, again)
				assert.Equal(t, first.ID, again.ID, "the contact's own conversation")
				assert.Equal(t, []string{"first", "again"}, storedTexts(srv, first.ID), "stored once")
			})
		})
	}
}

// TestDeliveryRetryAfterBeyondLongestWait: a 503 whose Retry-After exceeds
// the longest retry wait is looked up at once and, found missing, returned
// (the retry policy would not send again either); found, it is success.
func TestDeliveryRetryAfterBeyondLongestWait(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		after bool
	}{{"not acted: returned", false}, {"acted: found", true}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t)
				c := deliveryClient(t, srv)
				ctx := context.Background()
				conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "retry-after"})
				require.NoError(t, err)
				srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1,
					Status: 503, RetryAfter: "60", After: tc.after})
				srv.ResetRequests()
				start := time.Now()
				_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("x"))
				assert.Less(t, time.Since(start), 5*time.Second, "the 60 s were not waited for")
				assert.Equal(t, 1, countRequests(srv, http.MethodPost, "/v2/conversations/", "/messages"), "not sent again")
				assert.Equal(t, 1, countRequests(srv, http.MethodGet, "/v2/messages", ""))
				if tc.after {
					require.NoError(t, err)
					assert.Equal(t, []string{"x"}, storedTexts(srv, conv.ID))
					return
				}
				require.ErrorIs(t, err, chatshipper.ErrServer)
				assert.NotErrorIs(t, err, chatshipper.ErrDeliveryUnknown)
				assert.Empty(t, storedTexts(srv, conv.ID))
			})
		})
	}
}

// dateTransport stamps every answer with a Date header read from now (the
// server's clock), as a real server does.
type dateTransport struct {
	rt  http.RoundTripper
	now func() time.Time
}

func (d dateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.rt.RoundTrip(r)
	if resp != nil {
		resp.Header.Set("Date", d.now().UTC().Format(http.TimeFormat))
	}
	return resp, err
}

// pageCapTransport makes srv a server whose pages hold at most max items
// whatever limit is asked for (the fake then answers X-Per-Page, X-Total and
// Link for the limit it applied); with bare, the answers carry none of those
// headers.
type pageCapTransport struct {
	rt   http.RoundTripper
	max  int
	bare bool
}

func (p pageCapTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodGet {
		q := r.URL.Query()
		if l, err := strconv.Atoi(q.Get("limit")); err != nil || l > p.max {
			q.Set("limit", strconv.Itoa(p.max))
			r = r.Clone(r.Context())
			r.URL.RawQuery = q.Encode()
		}
	}
	resp, err := p.rt.RoundTrip(r)
	if resp != nil && p.bare {
		for _, h := range []string{"X-Total", "X-Total-Pages", "X-Page", "X-Per-Page", "X-Range", "Link"} {
			resp.Header.Del(h)
		}
	}
	return resp, err
}

// wrappedClient is deliveryClient with srv's transport wrapped by wrap.
func wrappedClient(t *testing.T, srv *chatshippertest.Server, token string, wrap func(http.RoundTripper) http.RoundTripper, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	hc := &http.Client{Transport: wrap(srv.Client().Transport), Timeout: 2 * time.Second}
	opts = append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(hc),
		chatshipper.WithRetryWait(100*time.Millisecond, 5*time.Second)}, opts...)
	c, err := chatshipper.NewClient(token, opts...)
	require.NoError(t, err)
	return c
}

// TestDeliveryCreateUnderServerClockSkew: an ambiguous create is found by its
// key whatever the server's clock says (2 h behind or ahead of the client's):
// one conversation. When the server appended to an existing contact's
// conversation, its initial messages are found by the SDK's keys at any
// time, or by caller-set keys from the create's start as the server's Date
// tells it.
func TestDeliveryCreateUnderServerClockSkew(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{-2 * time.Hour, 2 * time.Hour} {
		for _, tc := range []struct {
			name    string
			contact bool
			key     string // a caller-set key on the initial message
		}{
			{"new conversation", false, ""},
			{"existing contact, SDK keys", true, ""},
			{"existing contact, caller keys", true, "event-7"},
		} {
			t.Run(fmt.Sprintf("server %v, %s", skew, tc.name), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					serverNow := func() time.Time { return time.Now().Add(skew) }
					srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithClock(serverNow))
					c := wrappedClient(t, srv, srv.Token, func(rt http.RoundTripper) http.RoundTripper {
						return dateTransport{rt: rt, now: serverNow}
					})
					ctx := context.Background()
					var contact *chatshipper.ContactCreate
					var first *chatshipper.Conversation
					if tc.contact {
						contact = &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Email: "jane@example.com"}}
						var err error
						first, _, err = c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Contact: contact,
							Messages: []chatshipper.MessageInput{chatshipper.Chat("first")}})
						require.NoError(t, err)
						time.Sleep(time.Minute)
					}
					before := len(srv.List("conversations"))
					srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations", Count: 1, Drop: chatshippertest.DropAfter})
					msg := chatshipper.Chat("hello")
					if tc.key != "" {
						msg = msg.WithMeta(chatshipper.DeliveryKeyMeta, tc.key)
					}
					conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "skewed", Contact: contact,
						Messages: []chatshipper.MessageInput{msg}})
					require.NoError(t, err)
					require.NotNil(t, conv)
					if tc.contact {
						assert.Equal(t, first.ID, conv.ID, "the contact's own conversation")
						assert.Equal(t, []string{"first", "hello"}, storedTexts(srv, first.ID), "stored once")
						assert.Len(t, srv.List("conversations"), before)
						return
					}
					assert.Len(t, srv.List("conversations"), before+1, "exactly one conversation")
					assert.Equal(t, []string{"hello"}, storedTexts(srv, conv.ID))
				})
			})
		}
	}
}

// TestDeliveryCallerKeyIsIdempotent: sending the same message with the same
// caller-set key again (a webhook handler run twice, another replica with its
// own client) stores it once and returns the stored message; so does
// creating a conversation with the same caller-set key. Each such call costs
// one lookup; a send without a caller key none.
func TestDeliveryCallerKeyIsIdempotent(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		replica1, replica2 := deliveryClient(t, srv), deliveryClient(t, srv)
		ctx := context.Background()
		create := func(c *chatshipper.Client) *chatshipper.Conversation {
			conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "order 7",
				Meta: chatshipper.Meta{chatshipper.DeliveryKeyMeta: "order-7"},
				Messages: []chatshipper.MessageInput{chatshipper.Chat("welcome"),
					chatshipper.Chat("details").WithMeta(chatshipper.DeliveryKeyMeta, "order-7-details")}})
			require.NoError(t, err)
			return conv
		}
		before := len(srv.List("conversations"))
		srv.ResetRequests()
		conv := create(replica1)
		assert.Equal(t, 1, countRequests(srv, http.MethodGet, "/v2/conversations", ""), "one lookup before the create")
		again := create(replica2)
		assert.Equal(t, conv.ID, again.ID)
		assert.Len(t, srv.List("conversations"), before+1, "one conversation")
		assert.Equal(t, 1, countRequests(srv, http.MethodPost, "/v2/conversations", ""), "created once")
		assert.Equal(t, []string{"welcome", "details"}, storedTexts(srv, conv.ID))

		send := func(c *chatshipper.Client) *chatshipper.Message {
			got, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("paid").WithMeta(chatshipper.DeliveryKeyMeta, "event-42"))
			require.NoError(t, err)
			require.Len(t, got, 1)
			return got[0]
		}
		srv.ResetRequests()
		m1 := send(replica1)
		m2 := send(replica1)
		m3 := send(replica2)
		assert.Equal(t, m1.ID, m2.ID)
		assert.Equal(t, m1.ID, m3.ID)
		assert.Equal(t, []string{"welcome", "details", "paid"}, storedTexts(srv, conv.ID))
		assert.Equal(t, 1, countRequests(srv, http.MethodPost, "/v2/conversations/", "/messages"))
		assert.Equal(t, 3, countRequests(srv, http.MethodGet, "/v2/messages", ""), "one lookup per send")

		srv.ResetRequests()
		_, _, err := replica1.Conversations.Send(ctx, conv.ID, chatshipper.Chat("no key"))
		require.NoError(t, err)
		assert.Equal(t, 0, countRequests(srv, http.MethodGet, "/v2/messages", ""), "no caller key: no lookup")
	})
}

// TestDeliveryCallerKeyCreateNotCountedTwice: a create whose caller-set key
// finds the conversation already there sends nothing, so the loop guard does
// not count its initial messages again.
func TestDeliveryCallerKeyCreateNotCountedTwice(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c := deliveryClient(t, srv, chatshipper.WithLoopGuard(true), chatshipper.WithLoopGuardConfig(chatshipper.LoopGuardConfig{Consecutive: 3}))
		ctx := context.Background()
		create := func() *chatshipper.Conversation {
			conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "ticket 9",
				Meta:     chatshipper.Meta{chatshipper.DeliveryKeyMeta: "ticket-9"},
				Messages: []chatshipper.MessageInput{chatshipper.Chat("one"), chatshipper.Chat("two")}})
			require.NoError(t, err)
			return conv
		}
		conv := create()
		assert.Equal(t, conv.ID, create().ID)
		_, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("three"))
		require.NoError(t, err, "2 counted of 3, not 4")
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("four"))
		require.ErrorIs(t, err, chatshipper.ErrLoopLimit)
		assert.Equal(t, []string{"one", "two", "three"}, storedTexts(srv, conv.ID))
	})
}

// noDateTransport removes the Date header of every answer.
type noDateTransport struct{ rt http.RoundTripper }

func (d noDateTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := d.rt.RoundTrip(r)
	if resp != nil {
		resp.Header.Del("Date")
	}
	return resp, err
}

// TestDeliveryCreateCallerKeysFoundElsewhere: the caller-set keys of a
// create's initial messages are unique within a conversation only, so after
// an ambiguous create that stored nothing, another conversation holding a
// message under the same key (stored the same instant) is never taken for
// the create's: without a contact the server cannot have appended to an
// existing conversation (the conversation's key decides alone), and with one
// the conversation found must be that contact's. A 503 or a drop before
// acting is sent again and makes the new conversation; a 500 is returned.
func TestDeliveryCreateCallerKeysFoundElsewhere(t *testing.T) {
	t.Parallel()
	jane := &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Email: "jane@example.com"}}
	bob := &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Email: "bob@example.com", Telephone: "+441134960999"}}
	welcome := chatshipper.Chat("welcome").WithMeta(chatshipper.DeliveryKeyMeta, "welcome-1")
	scenarios := []struct {
		name    string
		other   *chatshipper.ContactCreate // the contact of the conversation already holding the key (nil: none)
		contact *chatshipper.ContactCreate // the create's contact
	}{
		{"no contact; key in another conversation", nil, nil},
		{"contact; key in a conversation without contact", nil, jane},
		{"contact; key in another contact's conversation", bob, jane},
	}
	faults := []struct {
		name  string
		fault chatshippertest.Fault
		sent  bool // sent again: the create succeeds
	}{
		{"503", chatshippertest.Fault{Status: http.StatusServiceUnavailable}, true},
		{"dropped before acting", chatshippertest.Fault{Drop: chatshippertest.DropBefore}, true},
		{"500", chatshippertest.Fault{Status: http.StatusInternalServerError}, false},
	}
	for _, sc := range scenarios {
		for _, fc := range faults {
			t.Run(sc.name+"/"+fc.name, func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
					c := deliveryClient(t, srv, chatshipper.WithLoopGuard(false))
					ctx := context.Background()
					other, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "other", Contact: sc.other,
						Messages: []chatshipper.MessageInput{welcome}})
					require.NoError(t, err)
					before := len(srv.List("conversations"))

					f := fc.fault
					f.Method, f.PathPrefix, f.Count = http.MethodPost, "/v2/conversations", 1
					srv.InjectFault(f)
					conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "new", Contact: sc.contact,
						Messages: []chatshipper.MessageInput{welcome}})
					assert.Equal(t, []string{"welcome"}, storedTexts(srv, other.ID), "the other conversation untouched")
					if !fc.sent {
						require.ErrorIs(t, err, chatshipper.ErrServer)
						assert.NotErrorIs(t, err, chatshipper.ErrDeliveryUnknown)
						assert.Nil(t, conv)
						assert.Len(t, srv.List("conversations"), before, "nothing created")
						return
					}
					require.NoError(t, err)
					require.NotNil(t, conv)
					assert.NotEqual(t, other.ID, conv.ID, "not the other conversation")
					assert.Len(t, srv.List("conversations"), before+1, "one conversation created")
					assert.Equal(t, []string{"welcome"}, storedTexts(srv, conv.ID))
				})
			})
		}
	}
}

// TestDeliveryCreateCallerKeysWithoutDate: a server whose answers carry no
// Date gives no clock to place a message found by a caller-set key before or
// after the create, so a create found only that way is a
// *DeliveryUnknownError, never a guess; found nowhere, it was not created
// and is sent again.
func TestDeliveryCreateCallerKeysWithoutDate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		drop    chatshippertest.DropMode
		unknown bool
	}{
		{"dropped after acting: unknown", chatshippertest.DropAfter, true},
		{"dropped before acting: sent again", chatshippertest.DropBefore, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
				c := wrappedClient(t, srv, srv.Token, func(rt http.RoundTripper) http.RoundTripper { return noDateTransport{rt: rt} },
					chatshipper.WithLoopGuard(false))
				ctx := context.Background()
				jane := &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Email: "jane@example.com"}}
				first, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Contact: jane,
					Messages: []chatshipper.MessageInput{chatshipper.Chat("first")}})
				require.NoError(t, err)
				time.Sleep(time.Minute)

				srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations", Count: 1, Drop: tc.drop})
				conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Contact: jane,
					Messages: []chatshipper.MessageInput{chatshipper.Chat("hello").WithMeta(chatshipper.DeliveryKeyMeta, "hello-1")}})
				assert.Equal(t, []string{"first", "hello"}, storedTexts(srv, first.ID), "stored once")
				if !tc.unknown {
					require.NoError(t, err)
					assert.Equal(t, first.ID, conv.ID)
					return
				}
				var du *chatshipper.DeliveryUnknownError
				require.ErrorAs(t, err, &du)
				assert.ErrorIs(t, du.LookupErr, chatshipper.ErrInvalidResponse)
				assert.Equal(t, []string{"hello-1"}, du.Keys)
				assert.Nil(t, conv)
			})
		})
	}
}

// TestDeliveryCreateCallerKeysStoredBefore: a message under a caller-set key
// of the create's, stored before the create started (here a minute before,
// in the contact's own conversation), is not taken for the create's, on a
// server that filters by createdAt and on one that ignores the filter: the
// create that stored nothing is sent again (the server appends to the
// contact's conversation), and a 500 is returned as it is.
func TestDeliveryCreateCallerKeysStoredBefore(t *testing.T) {
	t.Parallel()
	for _, ignoreFilter := range []bool{false, true} {
		for _, status := range []int{http.StatusServiceUnavailable, http.StatusInternalServerError} {
			t.Run(fmt.Sprintf("ignore createdAt=%v/%d", ignoreFilter, status), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
					c := wrappedClient(t, srv, srv.Token, func(rt http.RoundTripper) http.RoundTripper {
						if !ignoreFilter {
							return rt
						}
						return roundTripFunc(func(r *http.Request) (*http.Response, error) {
							if r.Method == http.MethodGet && r.URL.Path == "/v2/messages" {
								q := r.URL.Query() // the createdAt filter made to exclude nothing
								q.Set("createdAt", ">=1970-01-01T00:00:00.000Z")
								r = r.Clone(r.Context())
								r.URL.RawQuery = q.Encode()
							}
							return rt.RoundTrip(r)
						})
					}, chatshipper.WithLoopGuard(false))
					ctx := context.Background()
					jane := &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Email: "jane@example.com"}}
					welcome := chatshipper.Chat("welcome").WithMeta(chatshipper.DeliveryKeyMeta, "welcome-1")
					first, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Contact: jane,
						Messages: []chatshipper.MessageInput{welcome}})
					require.NoError(t, err)
					time.Sleep(time.Minute)

					srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations", Count: 1, Status: status})
					conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Contact: jane,
						Messages: []chatshipper.MessageInput{welcome}})
					if status == http.StatusInternalServerError {
						require.ErrorIs(t, err, chatshipper.ErrServer)
						assert.Nil(t, conv)
						assert.Equal(t, []string{"welcome"}, storedTexts(srv, first.ID))
						return
					}
					require.NoError(t, err)
					assert.Equal(t, first.ID, conv.ID, "the contact's conversation, appended to")
					assert.Equal(t, []string{"welcome", "welcome"}, storedTexts(srv, first.ID), "sent again")
				})
			})
		}
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }
