package chatshipper

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoopGuardThroughSend(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRateLimit(0))
		path := testBase + "conversations/" + convID + "/messages"
		mt.RegisterResponder("POST", path, httpmock.NewStringResponder(201, `{"id":"5d60a7b7949e381ffa0ef481","text":"x"}`))
		ctx := context.Background()
		same := MessageInput{Text: "I've said this before..."}
		for i := range 8 {
			_, _, err := c.Conversations.Send(ctx, convID, same)
			require.NoError(t, err, "message %d", i+1)
		}
		_, _, err := c.Conversations.Send(ctx, convID, same)
		require.ErrorIs(t, err, ErrLoopLimit)
		var le *LoopLimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, LoopLimitIdentical, le.Kind)
		assert.Equal(t, convID, le.ConversationID)
		assert.False(t, le.FromServer)
		assert.Equal(t, time.Now().Add(3*time.Minute), le.RetryAt)
		assert.Equal(t, 8, mt.GetCallCountInfo()["POST "+path], "the 9th never reached the server")

		// Another conversation is independent; a different text is not identical.
		other := "590bd49f458b716046347f48"
		mt.RegisterResponder("POST", testBase+"conversations/"+other+"/messages", httpmock.NewStringResponder(201, `{"id":"5d60a7b7949e381ffa0ef481"}`))
		_, _, err = c.Conversations.Send(ctx, other, same)
		require.NoError(t, err)

		// After the window the message may go again.
		time.Sleep(3 * time.Minute)
		_, _, err = c.Conversations.Send(ctx, convID, same)
		require.NoError(t, err)
	})
}

func TestLoopGuardConsecutiveAndReset(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRateLimit(0))
		path := testBase + "conversations/" + convID + "/messages"
		mt.RegisterResponder("POST", path, httpmock.NewStringResponder(201, `{"id":"5d60a7b7949e381ffa0ef481"}`))
		ctx := context.Background()
		for i := range 20 {
			_, _, err := c.Conversations.Command(ctx, convID, MessageInput{Type: MessageTypeCommand, Text: fmt.Sprintf("/set someVar %d", i)})
			require.NoError(t, err, i)
		}
		_, _, err := c.Conversations.Command(ctx, convID, MessageInput{Type: MessageTypeCommand, Text: "/set someVar 21"})
		var le *LoopLimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, LoopLimitConsecutive, le.Kind)
		assert.Equal(t, 20, mt.GetCallCountInfo()["POST "+path])

		// A contact reply the SDK reads (listing messages) resets the count.
		time.Sleep(time.Second)
		mt.RegisterResponder("GET", testBase+"messages", httpmock.NewStringResponder(200,
			`[{"id":"5d60a7b7949e381ffa0ef490","conversation":"`+convID+`","role":"contact","text":"hello?","createdAt":"`+NewTimestamp(time.Now()).String()+`"}]`))
		_, _, err = c.Messages.List(ctx, NewQuery().Where("conversation", Eq(convID)))
		require.NoError(t, err)
		_, _, err = c.Conversations.Command(ctx, convID, MessageInput{Type: MessageTypeCommand, Text: "/set someVar 22"})
		require.NoError(t, err)

		// An explicit call resets too.
		for i := range 19 {
			_, _, err = c.Conversations.Send(ctx, convID, MessageInput{Text: fmt.Sprintf("m%d", i)})
			require.NoError(t, err)
		}
		_, _, err = c.Conversations.Send(ctx, convID, MessageInput{Text: "one too many"})
		require.ErrorIs(t, err, ErrLoopLimit)
		c.ObserveReply(convID)
		_, _, err = c.Conversations.Send(ctx, convID, MessageInput{Text: "one too many"})
		require.NoError(t, err)
	})
}

func TestLoopGuardCreateBatchAndOff(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithRateLimit(0))
	mt.RegisterResponder("POST", testBase+"conversations", httpmock.NewStringResponder(201, `{"id":"`+convID+`"}`))
	many := make([]MessageInput, 21)
	for i := range many {
		many[i] = MessageInput{Text: fmt.Sprintf("line %d", i)}
	}
	_, _, err := c.Conversations.Create(context.Background(), &ConversationCreate{Messages: many})
	require.ErrorIs(t, err, ErrLoopLimit)
	assert.Equal(t, 0, mt.GetTotalCallCount())

	// Consumer messages relayed with the contact role are not bot messages.
	for i := range many {
		many[i].Role = RoleContact
	}
	_, _, err = c.Conversations.Create(context.Background(), &ConversationCreate{Messages: many})
	require.NoError(t, err)

	// The created conversation's initial messages count.
	mt.RegisterResponder("POST", testBase+"conversations/"+convID+"/messages", httpmock.NewStringResponder(201, `{"id":"5d60a7b7949e381ffa0ef481"}`))
	seven := make([]MessageInput, 7)
	for i := range seven {
		seven[i] = MessageInput{Text: "same"}
	}
	_, _, err = c.Conversations.Create(context.Background(), &ConversationCreate{Messages: seven})
	require.NoError(t, err)
	_, _, err = c.Conversations.Send(context.Background(), convID, MessageInput{Text: "same"}, MessageInput{Text: "same"})
	require.ErrorIs(t, err, ErrLoopLimit)

	off, mt2 := newTestClient(t, WithLoopGuard(false), WithRateLimit(0))
	assert.Nil(t, off.guard)
	mt2.RegisterResponder("POST", testBase+"conversations", httpmock.NewStringResponder(201, `{"id":"`+convID+`"}`))
	for i := range many {
		many[i].Role = ""
	}
	_, _, err = off.Conversations.Create(context.Background(), &ConversationCreate{Messages: many})
	require.NoError(t, err)
}

func TestServerLoopLimitMapped(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithRateLimit(0))
	path := testBase + "conversations/" + convID + "/messages"
	resp := httpmock.NewStringResponse(429, `{"error":{"message":"Loop limit: more than 20 consecutive messages in an hour"}}`)
	resp.Header.Set("Retry-After", "600")
	mt.RegisterResponder("POST", path, httpmock.ResponderFromResponse(resp))
	_, _, err := c.Conversations.Send(context.Background(), convID, MessageInput{Text: "x"})
	var le *LoopLimitError
	require.ErrorAs(t, err, &le)
	assert.True(t, le.FromServer)
	assert.Equal(t, LoopLimitConsecutive, le.Kind)
	assert.Equal(t, convID, le.ConversationID)
	assert.Equal(t, "Loop limit: more than 20 consecutive messages in an hour", le.Message)
	assert.Equal(t, 1, mt.GetCallCountInfo()["POST "+path], "never retried")
}

// hitLog records the times requests reached the transport.
type hitLog struct {
	mu    sync.Mutex
	times []time.Time
}

func (g *hitLog) responder(status func(n int) (int, string)) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		g.mu.Lock()
		g.times = append(g.times, time.Now())
		n := len(g.times)
		g.mu.Unlock()
		code, ra := status(n)
		resp := httpmock.NewStringResponse(code, `[]`)
		if ra != "" {
			resp.Header.Set("Retry-After", ra)
		}
		return resp, nil
	}
}

func TestClientRateLimitAcrossGoroutines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t) // default: 20 per second
		var log hitLog
		mt.RegisterResponder("GET", testBase+"users", log.responder(func(int) (int, string) { return 200, "" }))
		var wg sync.WaitGroup
		for range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range 5 {
					req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
					_, err := c.Do(req, nil)
					assert.NoError(t, err)
				}
			}()
		}
		wg.Wait()
		assert.Len(t, log.times, 320)
		requireAtMostNPerWindow(t, log.times, 20, time.Second) // no sliding second holds more than 20 requests
	})
}

func TestClient429PausesAllGoroutines(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRateLimit(1000))
		var log hitLog
		var first atomic.Bool
		mt.RegisterResponder("GET", testBase+"users", log.responder(func(n int) (int, string) {
			if first.CompareAndSwap(false, true) {
				return 429, "10"
			}
			return 200, ""
		}))
		start := time.Now()
		req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
		go func() { _, _ = c.Do(req, nil) }()
		time.Sleep(time.Second) // the 429 has been answered; everyone is paused
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
				_, err := c.Do(req, nil)
				assert.NoError(t, err)
			}()
		}
		wg.Wait()
		synctest.Wait()
		require.Len(t, log.times, 10)
		for _, at := range log.times[1:] {
			assert.GreaterOrEqual(t, at.Sub(start), 10*time.Second, "no request before the Retry-After elapsed")
		}
	})
}

func TestCustomLimiter(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var calls atomic.Int32
		c, mt := newTestClient(t, WithLimiter(limiterFunc(func(ctx context.Context) error { calls.Add(1); return nil })))
		mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(503, ``))
		req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
		_, err := c.Do(req, nil)
		require.Error(t, err)
		assert.Equal(t, int32(4), calls.Load(), "every attempt, retries included, takes a slot")
	})
	_, err := NewClient(testToken, WithLimiter(nil))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = NewClient(testToken, WithRateLimit(-1))
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

type limiterFunc func(ctx context.Context) error

func (f limiterFunc) Wait(ctx context.Context) error { return f(ctx) }

// Waiting for a request slot does not count against the per-attempt timeout:
// 1,600 goroutines queue for 80 s at 20 requests per second, yet every request
// succeeds, though each attempt may take at most 60 s.
func TestLimiterWaitOutsideAttemptTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mt := httpmock.NewMockTransport()
		c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt, Timeout: 60 * time.Second}))
		require.NoError(t, err)
		mt.RegisterResponder("POST", testBase+"conversations", httpmock.NewStringResponder(201, `{}`))
		var wg sync.WaitGroup
		var failed atomic.Int32
		start := time.Now()
		for range 1600 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				req, _ := c.NewRequest(context.Background(), "POST", "conversations", map[string]string{"name": "x"})
				if _, err := c.Do(req, nil); err != nil {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		assert.Equal(t, int32(0), failed.Load())
		assert.Equal(t, 1600, mt.GetTotalCallCount())
		assert.Greater(t, time.Since(start), 60*time.Second, "the queue really was longer than the timeout")
	})
}

func TestAttemptTimeout(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mt := httpmock.NewMockTransport()
		c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt, Timeout: 5 * time.Second}),
			WithRetryWait(time.Second, time.Second))
		require.NoError(t, err)
		var calls atomic.Int32
		slowThenFast := func(r *http.Request) (*http.Response, error) {
			if calls.Add(1) == 1 {
				select { // slower than the attempt timeout
				case <-time.After(time.Minute):
				case <-r.Context().Done():
					return nil, r.Context().Err()
				}
			}
			return httpmock.NewStringResponse(200, `{}`), nil
		}
		mt.RegisterResponder("GET", testBase+"users", slowThenFast)
		start := time.Now()
		req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
		_, err = c.Do(req, nil)
		require.NoError(t, err, "a GET that timed out is retried")
		assert.Equal(t, 6*time.Second, time.Since(start), "5 s attempt timeout + 1 s backoff")

		calls.Store(0)
		mt.RegisterResponder("POST", testBase+"conversations", slowThenFast)
		req, _ = c.NewRequest(context.Background(), "POST", "conversations", map[string]string{"name": "x"})
		_, err = c.Do(req, nil)
		var te *TransportError
		require.ErrorAs(t, err, &te)
		var ate *AttemptTimeoutError
		require.ErrorAs(t, err, &ate)
		assert.Equal(t, 5*time.Second, ate.Limit)
		assert.True(t, ate.Timeout())
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.True(t, te.MayHaveReachedServer())
		assert.Equal(t, int32(1), calls.Load(), "a POST that timed out is not sent again")
	})
}

// jwtWith returns an unsigned-looking JWT carrying claims (the client reads
// claims without verifying them).
func jwtWith(claims string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"HS256","typ":"JWT"}`)) + "." + enc([]byte(claims)) + ".c2ln"
}

func TestTokenRole(t *testing.T) {
	t.Parallel()
	tests := []struct {
		claims string
		want   Role
		ok     bool
	}{
		{`{"_id":"x","scope":"bot"}`, RoleBot, true},
		{`{"scope":"viewer guest agent bot"}`, RoleBot, true},
		{`{"scope":"viewer guest agent bot admin"}`, RoleAdmin, true},
		{`{"scope":"guest agent"}`, RoleAgent, true},
		{`{"scope":"guest"}`, RoleGuest, true},
		{`{"scope":["guest","agent","bot"]}`, RoleBot, true},
		{`{"scope":"BOT"}`, RoleBot, true},
		{`{"role":"bot","scope":"viewer guest agent bot admin"}`, RoleBot, true},
		{`{"role":"admin","scope":"bot"}`, RoleAdmin, true},
		{`{"role":"owner","scope":"bot"}`, RoleBot, true},
		{`{"scope":"read write"}`, "", false},
		{`{"scope":42}`, "", false},
		{`{"_id":"x"}`, "", false},
		{`not json`, "", false},
	}
	for _, tt := range tests {
		got, ok := tokenRole(jwtWith(tt.claims))
		assert.Equal(t, tt.ok, ok, tt.claims)
		assert.Equal(t, tt.want, got, tt.claims)
	}
	_, ok := tokenRole("tok-CANARY-7f3a9c")
	assert.False(t, ok)
}

// A token that names no role: the user's record tells (one lookup, cached);
// a failed lookup leaves the guard on and is tried again a minute later.
func TestLoopGuardRoleFromUserRecord(t *testing.T) {
	t.Parallel()
	const userID = "5bb0277fd99faf11a3f4a37e"
	tests := []struct {
		name        string
		user        string
		wantGuarded bool
	}{
		{"bot in the selected organization", `{"id":"` + userID + `","organizations":[{"organization":"o1","role":"admin"},{"organization":"o2","role":"bot","selected":true}]}`, true},
		{"admin in the first organization", `{"id":"` + userID + `","organizations":[{"organization":"o1","role":"admin"},{"organization":"o2","role":"bot"}]}`, false},
		{"no organization, user role bot", `{"id":"` + userID + `","role":"bot"}`, true},
		{"no role at all: guarded", `{"id":"` + userID + `"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClientToken(t, jwtWith(`{"_id":"`+userID+`"}`), WithRateLimit(0))
				users := testBase + "users/" + userID
				fail := 2
				mt.RegisterResponder("GET", users, func(*http.Request) (*http.Response, error) {
					if fail > 0 {
						fail--
						return httpmock.NewStringResponse(503, `{"message":"busy"}`), nil
					}
					return httpmock.NewStringResponse(200, tt.user), nil
				})
				path := testBase + "conversations/" + convID + "/messages"
				mt.RegisterResponder("POST", path, httpmock.NewStringResponder(201, `{"id":"5d60a7b7949e381ffa0ef481"}`))
				ctx := context.Background()
				send := func() error {
					_, _, err := c.Conversations.Send(ctx, convID, Chat("same"))
					return err
				}
				refused := func(n int) int {
					r := 0
					for range n {
						if err := send(); err != nil {
							require.ErrorIs(t, err, ErrLoopLimit)
							r++
						}
					}
					return r
				}
				assert.Equal(t, 1, refused(9), "role unknown: the guard applies")
				assert.Equal(t, 1, mt.GetCallCountInfo()["GET "+users])
				time.Sleep(3 * time.Minute) // the identical window passes; the lookup is due again
				c.ObserveReply(convID)      // and the consecutive count starts again
				assert.Equal(t, 1, refused(9), "the second lookup fails too")
				assert.Equal(t, 2, mt.GetCallCountInfo()["GET "+users])
				time.Sleep(3 * time.Minute)
				c.ObserveReply(convID)
				want := 0
				if tt.wantGuarded {
					want = 1
				}
				assert.Equal(t, want, refused(9))
				refused(1)
				assert.Equal(t, 3, mt.GetCallCountInfo()["GET "+users], "answered once, then cached")
			})
		})
	}
}

// newTestClientToken is newTestClient with another token.
func newTestClientToken(t *testing.T, token string, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	all := append([]Option{
		WithBaseURL(testBase),
		WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryWait(time.Second, 30*time.Second),
		WithMaxRetries(0),
	}, opts...)
	c, err := NewClient(token, all...)
	require.NoError(t, err)
	return c, mt
}

// Concurrent first sends share one lookup of the user's role.
func TestLoopGuardRoleLookupOnce(t *testing.T) {
	t.Parallel()
	const userID = "5bb0277fd99faf11a3f4a37e"
	c, mt := newTestClientToken(t, jwtWith(`{"_id":"`+userID+`"}`), WithRateLimit(0))
	users := testBase + "users/" + userID
	mt.RegisterResponder("GET", users, httpmock.NewStringResponder(200, `{"id":"`+userID+`","role":"admin"}`))
	mt.RegisterResponder("POST", testBase+"conversations/"+convID+"/messages", httpmock.NewStringResponder(201, `{"id":"5d60a7b7949e381ffa0ef481"}`))
	var wg sync.WaitGroup
	for range 12 {
		wg.Go(func() {
			_, _, err := c.Conversations.Send(context.Background(), convID, Chat("same"))
			assert.NoError(t, err, "an admin is not guarded")
		})
	}
	wg.Wait()
	assert.Equal(t, 1, mt.GetCallCountInfo()["GET "+users])
}

// TestLoopGuardKeepsWhatTheLookupProvedStored: a batch of 3 answered 503
// after the server stored 2, whose third message is then refused 429 when
// sent again, leaves the 2 stored messages counted and releases only the
// third. Messages a caller-set key found already stored (sent by an earlier
// call) are not counted again.
func TestLoopGuardKeepsWhatTheLookupProvedStored(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRateLimit(0), WithLoopGuard(true), WithLoopGuardConfig(LoopGuardConfig{Consecutive: 4}))
		m := &mockSend{posts: []mockPost{
			{status: 503, store: []bool{true, true, false}},
			{status: 429, retryAfter: "3600"},
		}}
		m.register(mt)
		ctx := context.Background()
		_, _, err := c.Conversations.Send(ctx, convID, chats("a", "b", "c")...)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		require.Equal(t, []string{"a", "b"}, m.texts())

		// 2 counted of 4: a batch of 3 is refused before any I/O, one of 2 goes.
		_, _, err = c.Conversations.Send(ctx, convID, chats("d", "e", "f")...)
		require.ErrorIs(t, err, ErrLoopLimit)
		assert.Len(t, m.bodies, 2, "refused before any I/O")
		_, _, err = c.Conversations.Send(ctx, convID, chats("d", "e")...)
		require.NoError(t, err)
		assert.Equal(t, []string{"a", "b", "d", "e"}, m.texts())
	})
}

// TestLoopGuardNotCountedWhenFoundByCallerKey: a message whose caller-set
// key is already stored is not sent, so it is not counted again.
func TestLoopGuardNotCountedWhenFoundByCallerKey(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRateLimit(0), WithLoopGuard(true), WithLoopGuardConfig(LoopGuardConfig{Consecutive: 2}))
		m := &mockSend{}
		m.register(mt)
		ctx := context.Background()
		same := Chat("a").WithMeta(DeliveryKeyMeta, "event-1")
		for range 5 {
			_, _, err := c.Conversations.Send(ctx, convID, same)
			require.NoError(t, err)
		}
		assert.Equal(t, []string{"a"}, m.texts())
		_, _, err := c.Conversations.Send(ctx, convID, Chat("b"))
		require.NoError(t, err, "1 counted of 2")
		_, _, err = c.Conversations.Send(ctx, convID, Chat("c"))
		require.ErrorIs(t, err, ErrLoopLimit)
	})
}

// TestLoopGuardAtLimitReturnsStoredByCallerKey: with the guard's limits
// reached, sending again messages whose caller-set keys are already stored
// returns them, with no POST and no refusal: the caller keys are looked up
// before the guard reserves, and only what is to be sent is reserved. A new
// message is still refused, before its POST.
func TestLoopGuardAtLimitReturnsStoredByCallerKey(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  LoopGuardConfig
		msg  func(i int) MessageInput
	}{
		{"identical", LoopGuardConfig{Identical: 3}, func(i int) MessageInput {
			return Chat("same").WithMeta(DeliveryKeyMeta, fmt.Sprintf("k%d", i))
		}},
		{"consecutive", LoopGuardConfig{Consecutive: 3}, func(i int) MessageInput {
			return Chat(fmt.Sprintf("m%d", i)).WithMeta(DeliveryKeyMeta, fmt.Sprintf("k%d", i))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t, WithRateLimit(0), WithLoopGuard(true), WithLoopGuardConfig(tt.cfg))
				m := &mockSend{}
				m.register(mt)
				ctx := context.Background()
				for i := 1; i <= 3; i++ {
					_, _, err := c.Conversations.Send(ctx, convID, tt.msg(i))
					require.NoError(t, err)
				}
				require.Len(t, m.bodies, 3)
				// The same three again, one by one and as a batch: all stored.
				for i := 1; i <= 3; i++ {
					got, _, err := c.Conversations.Send(ctx, convID, tt.msg(i))
					require.NoError(t, err, "stored k%d is returned, not refused", i)
					require.Len(t, got, 1)
					assert.Equal(t, fmt.Sprintf("k%d", i), got[0].Meta.Get(DeliveryKeyMeta))
				}
				got, _, err := c.Conversations.Send(ctx, convID, tt.msg(1), tt.msg(2), tt.msg(3))
				require.NoError(t, err)
				assert.Len(t, got, 3)
				assert.Len(t, m.bodies, 3, "nothing sent again")
				// A fourth is refused by the guard before its POST; with a
				// stored one beside it, the batch is refused too.
				_, _, err = c.Conversations.Send(ctx, convID, tt.msg(4))
				require.ErrorIs(t, err, ErrLoopLimit)
				_, _, err = c.Conversations.Send(ctx, convID, tt.msg(1), tt.msg(4))
				require.ErrorIs(t, err, ErrLoopLimit)
				assert.Len(t, m.bodies, 3, "refused before the POST")
			})
		})
	}
}
