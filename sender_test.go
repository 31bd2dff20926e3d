package chatshipper_test

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"runtime"
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

// senderSetup is an in-process fake (with its 20 requests per second), a
// client of its admin (no bot loop limits unless a test asks for them), n
// conversations, and a BatchSender; the window of the conversation creates
// has passed and the request log is empty when it returns. Run it in a
// synctest bubble.
func senderSetup(t *testing.T, n int, srvOpts []chatshippertest.Option, opts ...chatshipper.Option) (*chatshippertest.Server, *chatshipper.Client, *chatshipper.BatchSender, []string) {
	t.Helper()
	srv := chatshippertest.NewInProcessServer(t, srvOpts...)
	hc := *srv.Client()
	hc.Timeout = 2 * time.Second
	opts = append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(&hc),
		chatshipper.WithRetryWait(100*time.Millisecond, 5*time.Second)}, opts...)
	c, err := chatshipper.NewClient(srv.AdminToken, opts...)
	require.NoError(t, err)
	convs := make([]string, n)
	for i := range convs {
		conv, _, err := c.Conversations.Create(t.Context(), &chatshipper.ConversationCreate{Name: fmt.Sprint("sender ", i)})
		require.NoError(t, err)
		convs[i] = conv.ID
	}
	s, err := c.Conversations.NewBatchSender()
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close(context.Background()) })
	time.Sleep(2 * time.Second)
	srv.ResetRequests()
	return srv, c, s, convs
}

// messagePosts returns, per conversation, how many messages each POST of its
// messages carried, in order.
func messagePosts(srv *chatshippertest.Server) map[string][]int {
	out := map[string][]int{}
	for _, r := range srv.Requests() {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.Path, "/messages") {
			continue
		}
		id := strings.TrimSuffix(strings.TrimPrefix(r.Path, "/v2/conversations/"), "/messages")
		n := 1
		if body := strings.TrimSpace(string(r.Body)); strings.HasPrefix(body, "[") {
			n = strings.Count(body, `"text"`)
		}
		out[id] = append(out[id], n)
	}
	return out
}

func texts(msgs []*chatshipper.Message) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Text
	}
	return out
}

func chats(format string, n int, args ...any) []chatshipper.MessageInput {
	out := make([]chatshipper.MessageInput, n)
	for i := range out {
		out[i] = chatshipper.Chat(fmt.Sprintf(format, append(args, i)...))
	}
	return out
}

// Under the limit every send goes at once, one request each, without
// waiting; nothing is held back for company.
func TestBatchSenderUnderTheLimitSendsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _, s, convs := senderSetup(t, 1, nil)
		start := time.Now()
		for i := range 5 {
			got, err := s.Send(t.Context(), convs[0], chatshipper.Chat(fmt.Sprint("m", i)))
			require.NoError(t, err)
			assert.Equal(t, []string{fmt.Sprint("m", i)}, texts(got))
		}
		assert.Zero(t, time.Since(start), "no wait in the bubble's time")
		assert.Equal(t, map[string][]int{convs[0]: {1, 1, 1, 1, 1}}, messagePosts(srv))
	})
}

// At the limit, the sends that arrive for a conversation while it waits for
// its turn go out together in one request; each caller gets its own
// messages, and each caller's messages are stored together, in order.
func TestBatchSenderCoalescesAtTheLimit(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _, s, convs := senderSetup(t, 21, nil)
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range 20 { // the window's 20 requests, one per conversation
			wg.Go(func() {
				_, err := s.Send(ctx, convs[i], chatshipper.Chat("warm"))
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		results := make([][]*chatshipper.Message, 10)
		for i := range results {
			wg.Go(func() {
				got, err := s.Send(ctx, convs[20], chats("caller %d m%d", 3, i)...)
				assert.NoError(t, err)
				results[i] = got
			})
		}
		wg.Wait()
		assert.Equal(t, []int{30}, messagePosts(srv)[convs[20]], "one request for the 10 callers")
		for i, got := range results {
			assert.Equal(t, []string{fmt.Sprintf("caller %d m0", i), fmt.Sprintf("caller %d m1", i), fmt.Sprintf("caller %d m2", i)}, texts(got))
		}
		stored := storedTexts(srv, convs[20])
		require.Len(t, stored, 30)
		for j := 0; j < 30; j += 3 {
			caller, _, _ := strings.Cut(stored[j], " m")
			assert.Equal(t, []string{caller + " m0", caller + " m1", caller + " m2"}, stored[j:j+3], "a caller's messages together, in order")
		}
		var times []time.Time
		for _, r := range srv.Requests() {
			times = append(times, r.Time)
			assert.NotEqual(t, http.StatusTooManyRequests, r.Status)
		}
		chatshipper.RequireAtMostNPerWindow(t, times, 20, time.Second)
	})
}

// Sends queued by one goroutine are stored in the order queued, per
// conversation, in batches of at most MaxBatch messages that keep each call
// whole; each PendingSend gets its own messages.
func TestBatchSenderOrderAndMaxBatch(t *testing.T) {
	t.Parallel()
	for _, max := range []int{chatshipper.DefaultMaxBatch, 7} {
		t.Run(fmt.Sprintf("MaxBatch(%d)", max), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv, c, _, convs := senderSetup(t, 23, nil)
				s, err := c.Conversations.NewBatchSender(chatshipper.MaxBatch(max))
				require.NoError(t, err)
				defer func() { require.NoError(t, s.Close(t.Context())) }()
				ctx := t.Context()
				var wg sync.WaitGroup
				for i := range 20 { // the window's 20 requests
					wg.Go(func() { _, _ = s.Send(ctx, convs[i], chatshipper.Chat("warm")) })
				}
				wg.Wait()
				// 40 calls of 1, 2 or 3 messages per conversation,
				// interleaved: 80 messages each.
				sizes := []int{1, 2, 3, 1, 2, 3, 1, 2, 3, 2}
				type queued struct {
					want []string
					p    *chatshipper.PendingSend
				}
				var all []queued
				mine := convs[20:]
				want := make([][]string, len(mine))
				for call := range 40 {
					for ci := range mine {
						msgs := chats("c%d call %02d m%d", sizes[call%10], ci, call)
						var w []string
						for _, m := range msgs {
							w = append(w, m.Text)
						}
						want[ci] = append(want[ci], w...)
						all = append(all, queued{w, s.Queue(ctx, mine[ci], msgs...)})
					}
				}
				for _, q := range all {
					got, err := q.p.Result()
					require.NoError(t, err)
					assert.Equal(t, q.want, texts(got))
				}
				// Greedy batches of whole calls.
				var batches []int
				n := 0
				for call := range 40 {
					if k := sizes[call%10]; n+k > max {
						batches, n = append(batches, n), k
					} else {
						n += k
					}
				}
				batches = append(batches, n)
				posts := messagePosts(srv)
				for ci, id := range mine {
					assert.Equal(t, want[ci], storedTexts(srv, id), "conversation %d in the order queued", ci)
					assert.Equal(t, batches, posts[id])
				}
			})
		})
	}
}

// Bad input is refused before anything is queued or sent.
func TestBatchSenderInputErrors(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c, s, convs := senderSetup(t, 1, nil)
		ctx := t.Context()
		for name, send := range map[string]func() error{
			"no message": func() error { _, err := s.Send(ctx, convs[0]); return err },
			"bad id":     func() error { _, err := s.Send(ctx, "nope", chatshipper.Chat("x")); return err },
			"empty text": func() error { _, err := s.Send(ctx, convs[0], chatshipper.MessageInput{}); return err },
			"more than a batch": func() error {
				_, err := s.Send(ctx, convs[0], chats("m%d", 51)...)
				return err
			},
			"nil create": func() error { _, err := s.Create(ctx, nil); return err },
			"big create": func() error {
				_, err := s.Create(ctx, &chatshipper.ConversationCreate{Messages: chats("m%d", 51)})
				return err
			},
			"queued, nil ctx": func() error {
				_, err := s.Queue(nil, convs[0], chatshipper.Chat("x")).Result() //nolint:staticcheck // the nil context is the test
				return err
			},
		} {
			assert.ErrorIs(t, send(), chatshipper.ErrInvalidArgument, name)
		}
		for _, n := range []int{0, -1, 201} {
			_, err := c.Conversations.NewBatchSender(chatshipper.MaxBatch(n))
			assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument, "MaxBatch(%d)", n)
		}
		_, err := c.Conversations.NewBatchSender(chatshipper.MaxBatch(200))
		assert.NoError(t, err)
		assert.Empty(t, srv.Requests())
	})
}

// The loop guard counts messages, call by call: a call that would break the
// limit gets its own *LoopLimitError and is not sent; the others of the
// batch are.
func TestBatchSenderLoopGuardPerCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c, _, convs := senderSetup(t, 21, nil, chatshipper.WithLoopGuard(true))
		s, err := c.Conversations.NewBatchSender()
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close(t.Context())) }()
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() { _, _ = s.Send(ctx, convs[i], chatshipper.Chat("warm")) })
		}
		wg.Wait()
		// Queued together in conversation 20: 12 messages fit the 20
		// consecutive messages, 10 more do not, 7 more do.
		a := s.Queue(ctx, convs[20], chats("a%d", 12)...)
		b := s.Queue(ctx, convs[20], chats("b%d", 10)...)
		d := s.Queue(ctx, convs[20], chats("d%d", 7)...)
		_, err = a.Result()
		require.NoError(t, err)
		_, err = b.Result()
		var le *chatshipper.LoopLimitError
		require.ErrorAs(t, err, &le)
		assert.Equal(t, chatshipper.LoopLimitConsecutive, le.Kind)
		got, err := d.Result()
		require.NoError(t, err)
		assert.Len(t, got, 7)
		assert.Equal(t, []int{19}, messagePosts(srv)[convs[20]])
		assert.Len(t, storedTexts(srv, convs[20]), 19)
	})
}

// A call whose messages are found stored under their caller-set keys is
// neither sent nor counted again: at the loop limit it still gets them.
func TestBatchSenderStoredCallerKeysNotRecounted(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, c, _, convs := senderSetup(t, 1, nil, chatshipper.WithLoopGuard(true))
		s, err := c.Conversations.NewBatchSender()
		require.NoError(t, err)
		defer func() { require.NoError(t, s.Close(t.Context())) }()
		ctx := t.Context()
		keyed := chatshipper.Chat("reply").WithMeta(chatshipper.DeliveryKeyMeta, "event-7-reply")
		first, err := s.Send(ctx, convs[0], append(chats("m%d", 19), keyed)...)
		require.NoError(t, err)
		_, err = s.Send(ctx, convs[0], chatshipper.Chat("one too many"))
		var le *chatshipper.LoopLimitError
		require.ErrorAs(t, err, &le, "20 consecutive messages: the guard refuses a 21st")
		srv.ResetRequests()
		again, err := s.Send(ctx, convs[0], keyed)
		require.NoError(t, err, "found stored: not counted again")
		require.Len(t, again, 1)
		assert.Equal(t, first[19].ID, again[0].ID)
		assert.Empty(t, messagePosts(srv), "not sent again")
	})
}

// After an ambiguous outcome the lookup settles the batch: each caller gets
// its own messages, each stored once. When the lookup fails, each caller
// gets a *DeliveryUnknownError naming only its own keys, and Resolve finds
// them.
func TestBatchSenderAmbiguousOutcomePerCaller(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		fault       chatshippertest.Fault
		lookupFails bool // and the error is a *DeliveryUnknownError per caller
		wantPosts   int
	}{
		{name: "502 after acting, found", fault: chatshippertest.Fault{Status: 502, After: true}, wantPosts: 1},
		{name: "dropped before acting, sent again", fault: chatshippertest.Fault{Drop: chatshippertest.DropBefore}, wantPosts: 2},
		{name: "dropped after acting, lookup fails", fault: chatshippertest.Fault{Drop: chatshippertest.DropAfter}, lookupFails: true, wantPosts: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv, c, s, convs := senderSetup(t, 21, nil)
				ctx := t.Context()
				var wg sync.WaitGroup
				for i := range 20 {
					wg.Go(func() { _, _ = s.Send(ctx, convs[i], chatshipper.Chat("warm")) })
				}
				wg.Wait()
				srv.ResetRequests()
				f := tc.fault
				f.Method, f.PathPrefix, f.Count = http.MethodPost, "/v2/conversations/"+convs[20], 1
				srv.InjectFault(f)
				if tc.lookupFails {
					srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Status: 404, Count: 1})
				}
				ps := []*chatshipper.PendingSend{
					s.Queue(ctx, convs[20], chats("a%d", 2)...),
					s.Queue(ctx, convs[20], chatshipper.Chat("b0"), chatshipper.SetMeta("step", "b")),
					s.Queue(ctx, convs[20], chats("d%d", 3)...),
				}
				want := [][]string{{"a0", "a1"}, {"b0", "/set step b"}, {"d0", "d1", "d2"}}
				var allKeys []string
				for i, p := range ps {
					got, err := p.Result()
					if !tc.lookupFails {
						require.NoError(t, err)
						if i == 1 {
							assert.Equal(t, want[i][:1], texts(got)[:1])
						} else {
							assert.Equal(t, want[i], texts(got))
						}
						continue
					}
					var due *chatshipper.DeliveryUnknownError
					require.ErrorAs(t, err, &due)
					assert.Equal(t, convs[20], due.ConversationID)
					wantKeys, wantUnkeyed := len(want[i]), 0
					if i == 1 {
						wantKeys, wantUnkeyed = 1, 1 // the /set command has no key
					}
					assert.Len(t, due.Keys, wantKeys, "only the caller's own keys")
					assert.Equal(t, wantUnkeyed, due.Unkeyed)
					allKeys = append(allKeys, due.Keys...)
				}
				if tc.lookupFails {
					found, _, err := c.Messages.Resolve(ctx, convs[20], allKeys...)
					require.NoError(t, err)
					var got []string
					for _, m := range found {
						require.NotNil(t, m)
						got = append(got, m.Text)
					}
					assert.Equal(t, []string{"a0", "a1", "b0", "d0", "d1", "d2"}, got, "Resolve finds each caller's keys")
				}
				assert.Equal(t, tc.wantPosts, len(messagePosts(srv)[convs[20]]))
				stored := storedTexts(srv, convs[20])
				assert.Equal(t, []string{"a0", "a1", "b0", "/set step b", "d0", "d1", "d2"}, stored, "each message once, in order")
			})
		})
	}
}

// A batch refused whole for one call's message is sent again call by call:
// the refusal reaches only that call, the others are stored.
func TestBatchSenderRefusalReachesOnlyItsCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _, s, convs := senderSetup(t, 21, nil)
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() { _, _ = s.Send(ctx, convs[i], chatshipper.Chat("warm")) })
		}
		wg.Wait()
		srv.ResetRequests()
		unknownUser := "5bb0277fd99faf11a3f4a37e"
		a := s.Queue(ctx, convs[20], chats("a%d", 2)...)
		b := s.Queue(ctx, convs[20], chatshipper.Chat("b0"), chatshipper.Chat("as nobody").As(unknownUser))
		d := s.Queue(ctx, convs[20], chatshipper.Chat("d0"))
		got, err := a.Result()
		require.NoError(t, err)
		assert.Equal(t, []string{"a0", "a1"}, texts(got))
		_, err = b.Result()
		var er *chatshipper.ErrorResponse
		require.ErrorAs(t, err, &er)
		assert.Equal(t, http.StatusUnprocessableEntity, er.StatusCode)
		got, err = d.Result()
		require.NoError(t, err)
		assert.Equal(t, []string{"d0"}, texts(got))
		assert.Equal(t, []int{5, 2, 2, 1}, messagePosts(srv)[convs[20]], "the batch, then one request per call")
		assert.Equal(t, []string{"a0", "a1", "d0"}, storedTexts(srv, convs[20]))
		assert.Equal(t, 2, countRequests(srv, http.MethodGet, "/v2/messages", ""),
			"the keys looked up after each refusal (the batch's, then b's alone), none before a call goes again")
	})
}

// A server that stored a batch and then refused it (422) gets nothing twice:
// each call's keys are looked up before it would go again, and each call
// gets its messages as stored.
func TestBatchSenderRefusedButStoredNotSentTwice(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _, s, convs := senderSetup(t, 21, nil)
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() { _, _ = s.Send(ctx, convs[i], chatshipper.Chat("warm")) })
		}
		wg.Wait()
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + convs[20],
			Count: 1, Status: http.StatusUnprocessableEntity, After: true})
		a := s.Queue(ctx, convs[20], chats("a%d", 2)...)
		b := s.Queue(ctx, convs[20], chatshipper.Chat("b0"))
		for _, p := range []*chatshipper.PendingSend{a, b} {
			_, err := p.Result()
			require.NoError(t, err)
		}
		got, _ := a.Result()
		assert.Equal(t, []string{"a0", "a1"}, texts(got))
		got, _ = b.Result()
		assert.Equal(t, []string{"b0"}, texts(got))
		assert.Equal(t, []string{"a0", "a1", "b0"}, storedTexts(srv, convs[20]), "each message once")
		assert.Equal(t, []int{3}, messagePosts(srv)[convs[20]], "found by the lookups: not sent again")
	})
}

// Two calls with the same caller-set key store it once: the later one
// waits for the next batch, whose lookup finds the first.
func TestBatchSenderCallerKeyOnceAcrossCalls(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _, s, convs := senderSetup(t, 21, nil)
		ctx := t.Context()
		var wg sync.WaitGroup
		for i := range 20 {
			wg.Go(func() { _, _ = s.Send(ctx, convs[i], chatshipper.Chat("warm")) })
		}
		wg.Wait()
		keyed := chatshipper.Chat("reply").WithMeta(chatshipper.DeliveryKeyMeta, "event-1-reply")
		first := s.Queue(ctx, convs[20], keyed)
		second := s.Queue(ctx, convs[20], keyed)
		other := s.Queue(ctx, convs[20], chatshipper.Chat("other"))
		m1, err := first.Result()
		require.NoError(t, err)
		m2, err := second.Result()
		require.NoError(t, err)
		_, err = other.Result()
		require.NoError(t, err)
		require.Len(t, m1, 1)
		require.Len(t, m2, 1)
		assert.Equal(t, m1[0].ID, m2[0].ID, "the second call gets the stored message")
		assert.Equal(t, []string{"reply", "other"}, storedTexts(srv, convs[20]))
	})
}

// A call whose context ends while it is queued is not sent; once its batch
// is in a request, it gets a *DeliveryUnknownError with its keys, which
// Resolve settles after Flush.
func TestBatchSenderContextEnds(t *testing.T) {
	t.Parallel()
	t.Run("while queued", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv, _, s, convs := senderSetup(t, 21, nil)
			ctx := t.Context()
			var wg sync.WaitGroup
			for i := range 20 {
				wg.Go(func() { _, _ = s.Send(ctx, convs[i], chatshipper.Chat("warm")) })
			}
			wg.Wait()
			cctx, cancel := context.WithCancel(ctx)
			a := s.Queue(ctx, convs[20], chatshipper.Chat("a"))
			b := s.Queue(cctx, convs[20], chatshipper.Chat("b"))
			d := s.Queue(ctx, convs[20], chatshipper.Chat("d"))
			cancel()
			_, err := b.Result()
			require.ErrorIs(t, err, context.Canceled)
			assert.NotErrorIs(t, err, chatshipper.ErrDeliveryUnknown)
			_, err = a.Result()
			require.NoError(t, err)
			_, err = d.Result()
			require.NoError(t, err)
			assert.Equal(t, []string{"a", "d"}, storedTexts(srv, convs[20]))
		})
	})
	t.Run("in flight", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv, c, s, convs := senderSetup(t, 1, nil)
			ctx := t.Context()
			// Other calls of the client fill the limiter's window: the
			// sender's request is put together at once and waits there.
			for range 20 {
				_, _, err := c.Conversations.Get(ctx, convs[0], nil)
				require.NoError(t, err)
			}
			cctx, cancel := context.WithCancel(ctx)
			p := s.Queue(cctx, convs[0], chatshipper.Chat("late"), chatshipper.SetMeta("k", "v"))
			synctest.Wait()
			cancel()
			_, err := p.Result()
			var due *chatshipper.DeliveryUnknownError
			require.ErrorAs(t, err, &due)
			assert.ErrorIs(t, err, context.Canceled)
			assert.Equal(t, convs[0], due.ConversationID)
			require.Len(t, due.Keys, 1)
			assert.Equal(t, 1, due.Unkeyed)
			require.NoError(t, s.Flush(ctx))
			found, _, err := c.Messages.Resolve(ctx, due.ConversationID, due.Keys...)
			require.NoError(t, err)
			require.Len(t, found, 1)
			require.NotNil(t, found[0], "the request went on and stored it")
			assert.Equal(t, []string{"late", "/set k v"}, storedTexts(srv, convs[0]))
		})
	})
}

// Close sends what is queued, then refuses; a Close whose context ends
// first leaves the queued sends unsent, with ErrSenderClosed.
func TestBatchSenderClose(t *testing.T) {
	t.Parallel()
	t.Run("flushes, then refuses", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv, _, s, convs := senderSetup(t, 21, nil)
			ctx := t.Context()
			var ps []*chatshipper.PendingSend
			for i := range 21 {
				ps = append(ps, s.Queue(ctx, convs[i], chatshipper.Chat("one")), s.Queue(ctx, convs[i], chatshipper.Chat("two")))
			}
			require.NoError(t, s.Close(ctx))
			for _, p := range ps {
				select {
				case <-p.Done():
				default:
					t.Fatal("Close returned before a send had its result")
				}
				_, err := p.Result()
				require.NoError(t, err)
			}
			for _, id := range convs {
				assert.Equal(t, []string{"one", "two"}, storedTexts(srv, id))
			}
			_, err := s.Send(ctx, convs[0], chatshipper.Chat("three"))
			assert.ErrorIs(t, err, chatshipper.ErrSenderClosed)
			_, err = s.Create(ctx, &chatshipper.ConversationCreate{Name: "late"})
			assert.ErrorIs(t, err, chatshipper.ErrSenderClosed)
			assert.NoError(t, s.Close(ctx), "a second Close")
		})
	})
	t.Run("gives up when its context ends", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv, _, s, convs := senderSetup(t, 25, nil)
			ctx := t.Context()
			var ps []*chatshipper.PendingSend
			for i := range 25 { // 20 go at once, 5 wait for the next second
				ps = append(ps, s.Queue(ctx, convs[i], chatshipper.Chat("m")))
			}
			cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
			defer cancel()
			assert.ErrorIs(t, s.Close(cctx), context.DeadlineExceeded)
			for i, p := range ps {
				_, err := p.Result()
				if i < 20 {
					assert.NoError(t, err)
					assert.Equal(t, []string{"m"}, storedTexts(srv, convs[i]))
					continue
				}
				assert.ErrorIs(t, err, chatshipper.ErrSenderClosed)
				assert.Empty(t, storedTexts(srv, convs[i]), "not sent")
			}
		})
	})
}

// Create takes its turn like a batch and carries its initial messages in
// one request.
func TestBatchSenderCreate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv, _, s, _ := senderSetup(t, 0, nil)
		ctx := t.Context()
		convs := make([]*chatshipper.Conversation, 30)
		var wg sync.WaitGroup
		for i := range convs {
			wg.Go(func() {
				conv, err := s.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprint("new ", i), Messages: chats("first %d m%d", 2, i)})
				assert.NoError(t, err)
				convs[i] = conv
			})
		}
		wg.Wait()
		for i, conv := range convs {
			require.NotNil(t, conv)
			assert.Equal(t, []string{fmt.Sprintf("first %d m0", i), fmt.Sprintf("first %d m1", i)}, storedTexts(srv, conv.ID))
		}
		assert.Len(t, srv.Requests(), 30, "one request per create")
		time.Sleep(2 * time.Second)
		for range 20 { // the window's 20 requests
			wg.Go(func() {
				_, err := s.Create(ctx, &chatshipper.ConversationCreate{Name: "filler"})
				assert.NoError(t, err)
			})
		}
		wg.Wait()
		cctx, cancel := context.WithCancel(ctx)
		done := make(chan error)
		go func() {
			_, err := s.Create(cctx, &chatshipper.ConversationCreate{Name: "cancelled"})
			done <- err
		}()
		synctest.Wait()
		cancel()
		assert.ErrorIs(t, <-done, context.Canceled)
		n := 0
		for _, conv := range srv.List("conversations") {
			if conv["name"] == "cancelled" {
				n++
			}
		}
		assert.Zero(t, n, "a create cancelled while queued is not sent")
	})
}

// With delivery tracking off, batches still go together and each caller gets
// its own messages; without a limiter there is no pacing, and what arrives
// while a conversation's request is in flight goes in its next request.
func TestBatchSenderOtherClients(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []chatshipper.Option
	}{
		{"tracking off", []chatshipper.Option{chatshipper.WithDeliveryTracking(false)}},
		{"no limiter", []chatshipper.Option{chatshipper.WithRateLimit(0)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv, _, _, convs := senderSetup(t, 2, []chatshippertest.Option{chatshippertest.WithRateLimit(0)})
				// The message POSTs wait until the test opens the gate.
				gate := make(chan struct{})
				hc := &http.Client{Timeout: 2 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
					if r.Method == http.MethodPost {
						<-gate
					}
					return srv.Client().Transport.RoundTrip(r)
				})}
				c, err := chatshipper.NewClient(srv.AdminToken, append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(hc)}, tc.opts...)...)
				require.NoError(t, err)
				s, err := c.Conversations.NewBatchSender()
				require.NoError(t, err)
				defer func() { require.NoError(t, s.Close(t.Context())) }()
				ctx := t.Context()
				var ps []*chatshipper.PendingSend
				for i := range 30 {
					ps = append(ps, s.Queue(ctx, convs[i%2], chats("m%d.%d", 2, i)...))
				}
				synctest.Wait()
				close(gate)
				for i, p := range ps {
					got, err := p.Result()
					require.NoError(t, err)
					assert.Equal(t, []string{fmt.Sprintf("m%d.0", i), fmt.Sprintf("m%d.1", i)}, texts(got))
				}
				posts := messagePosts(srv)
				for ci, id := range convs {
					var want []string
					for i := ci; i < 30; i += 2 {
						want = append(want, fmt.Sprintf("m%d.0", i), fmt.Sprintf("m%d.1", i))
					}
					assert.Equal(t, want, storedTexts(srv, id))
					assert.Equal(t, []int{2, 28}, posts[id], "the first at once, the rest, queued while it was in flight, together")
				}
			})
		})
	}
}

// TestBatchSenderFaultInjection is the delivery fault suite through the
// sender: 1,000 messages in 50 conversations, queued by 8 goroutines (each
// owning some conversations, queueing its calls of 1 to 3 messages in
// order without waiting), while message POSTs fail (503, 429, connections
// dropped before and after acting, 502 after acting, answers later than the
// attempt timeout before and after acting) and 5% of lookups answer 503.
// Every message must be stored exactly once, in the order queued, every
// call must get its own messages without an error, the client must keep
// the server's rate limit, and a batch must carry several calls. It runs
// against the fake's defaults and against pages capped at 10 (lookups over
// several pages).
func TestBatchSenderFaultInjection(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		srv  []chatshippertest.Option
		opts []chatshipper.BatchSenderOption
	}{
		{"default", nil, nil},
		{"pages of 10", []chatshippertest.Option{chatshippertest.WithPageCap(10)}, nil},
		{"batches of at most 3", nil, []chatshipper.BatchSenderOption{chatshipper.MaxBatch(3)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { runSenderFaults(t, tc.srv, tc.opts) })
		})
	}
}

// TestBatchSenderLeavesNoGoroutine: once Close has returned, nothing the
// sender started runs any more.
func TestBatchSenderLeavesNoGoroutine(t *testing.T) {
	baseline := runtime.NumGoroutine()
	synctest.Test(t, func(t *testing.T) { runSenderFaults(t, nil, nil) })
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), baseline, "goroutines leaked")
}

func runSenderFaults(t *testing.T, srvOpts []chatshippertest.Option, opts []chatshipper.BatchSenderOption) {
	const conversations, workers = 50, 8
	chunks := []int{1, 3, 2, 1, 3, 2, 1, 3, 2, 1, 1} // 20 messages per conversation
	srv := chatshippertest.NewInProcessServer(t, append([]chatshippertest.Option{chatshippertest.WithSeed(7)}, srvOpts...)...)
	// The bot's token: the server's and the client's loop limits apply (20
	// consecutive messages per conversation, exactly what each gets).
	c := wrappedClient(t, srv, srv.Token, func(rt http.RoundTripper) http.RoundTripper { return rt }, chatshipper.WithMaxRetries(6))
	ctx := context.Background()
	convs := make([]string, conversations)
	for i := range convs {
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprint("sender faults ", i)})
		require.NoError(t, err)
		convs[i] = conv.ID
	}
	s, err := c.Conversations.NewBatchSender(opts...)
	require.NoError(t, err)
	srv.ResetRequests()
	post := func(p float64, f chatshippertest.Fault) chatshippertest.Fault {
		f.Method, f.PathPrefix, f.Probability = http.MethodPost, "/v2/conversations/", p
		return f
	}
	srv.InjectFault(post(0.05, chatshippertest.Fault{Status: 503}))
	srv.InjectFault(post(0.05/0.95, chatshippertest.Fault{Status: 429, RetryAfter: "1"}))
	srv.InjectFault(post(0.02/0.90, chatshippertest.Fault{Drop: chatshippertest.DropBefore}))
	srv.InjectFault(post(0.02/0.88, chatshippertest.Fault{Drop: chatshippertest.DropAfter}))
	srv.InjectFault(post(0.02/0.86, chatshippertest.Fault{Status: 502, After: true}))
	srv.InjectFault(post(0.01/0.84, chatshippertest.Fault{Delay: 3 * time.Second}))
	srv.InjectFault(post(0.01/0.83, chatshippertest.Fault{Delay: 3 * time.Second, After: true}))
	srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Probability: 0.05, Status: 503})

	type call struct {
		texts []string
		p     *chatshipper.PendingSend
	}
	calls := make([][]call, conversations)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for ci := w; ci < conversations; ci += workers {
				n := 0
				for _, size := range chunks {
					var msgs []chatshipper.MessageInput
					var ts []string
					for range size {
						text := fmt.Sprintf("c%02d m%03d", ci, n)
						n++
						msgs = append(msgs, chatshipper.Chat(text))
						ts = append(ts, text)
					}
					calls[ci] = append(calls[ci], call{ts, s.Queue(ctx, convs[ci], msgs...)})
				}
			}
		})
	}
	wg.Wait()
	require.NoError(t, s.Close(ctx))

	stored := map[string]int{}
	for _, m := range srv.List("messages") {
		if text, _ := m["text"].(string); text != "" {
			stored[text]++
		}
	}
	var total, lost, duplicated, failed int
	kinds := map[string]int{}
	for ci, cs := range calls {
		var want []string
		for _, cl := range cs {
			got, err := cl.p.Result()
			total += len(cl.texts)
			if err != nil {
				failed += len(cl.texts)
				kinds[errorKind(err)]++
				continue
			}
			assert.Equal(t, cl.texts, texts(got), "each call gets its own messages")
			want = append(want, cl.texts...)
		}
		for _, text := range want {
			switch {
			case stored[text] == 0:
				lost++
			case stored[text] > 1:
				duplicated++
			}
		}
		assert.Equal(t, want, storedTexts(srv, convs[ci]), "conversation %d: every message once, in the order queued", ci)
	}
	assert.Equal(t, conversations*20, total)
	assert.Zero(t, lost, "returned as sent but not stored")
	assert.Zero(t, duplicated, "stored more than once")
	assert.Zero(t, failed, "transient faults must not reach the caller: %v", kinds)

	statuses := map[string]int{}
	var times []time.Time
	var posts, lookups, batched int
	for _, r := range srv.Requests() {
		times = append(times, r.Time)
		switch {
		case r.Method == http.MethodPost:
			posts++
			statuses[fmt.Sprint(r.Status)]++
			if strings.Count(string(r.Body), `"text"`) > 3 {
				batched++ // more than one call's worth
			}
		case r.Method == http.MethodGet && r.Path == "/v2/messages":
			lookups++
		}
	}
	if len(opts) == 0 {
		assert.Positive(t, batched, "batches carry several calls")
	}
	t.Logf("messages %d in %d calls: lost %d, duplicated %d, errors %d; message POSTs %d (of which carrying more than 3 messages %d; answers by status, 0 = dropped or too late: %v), lookups %d",
		total, conversations*len(chunks), lost, duplicated, failed, posts, batched, statuses, lookups)
	chatshipper.RequireAtMostNPerWindow(t, times, 20, time.Second)
}

// unencodable is a meta value whose MarshalJSON fails.
type unencodable struct{}

func (unencodable) MarshalJSON() ([]byte, error) { return nil, fmt.Errorf("cannot encode") }

// A message whose free-form values cannot be encoded as JSON is refused with
// an *ArgumentError naming the key before anything is queued or sent: the
// other calls of the batch it would have joined go as if it had not been
// made, and ConversationsService.Send and Create refuse it before any I/O
// too (the loop guard off, so nothing else encodes the meta first).
func TestBatchSenderUnencodableMetaRefusedBeforeQueue(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		msg      chatshipper.MessageInput
		wantName string
	}{
		{"func", chatshipper.Chat("x").WithMeta("ok", 1).WithMeta("f", func() {}), "messages[1].meta.f"},
		{"NaN", chatshipper.Chat("x").WithMeta("score", math.NaN()), "messages[1].meta.score"},
		{"infinity", chatshipper.Chat("x").WithMeta("score", math.Inf(1)), "messages[1].meta.score"},
		{"MarshalJSON fails", chatshipper.Chat("x").WithMeta("v", unencodable{}), "messages[1].meta.v"},
		{"nested", chatshipper.Chat("x").WithMeta("deep", map[string]any{"c": make(chan int)}), "messages[1].meta.deep"},
		{"action meta", chatshipper.MessageInput{Text: "x", Actions: []chatshipper.Action{{Type: chatshipper.ActionReply, Text: "a", Meta: chatshipper.Meta{"f": func() {}}}}},
			"messages[1].actions[0].meta.f"},
		{"result values", chatshipper.MessageInput{Text: "x", Type: chatshipper.MessageTypeReport, Results: []chatshipper.FormResult{{Name: "r", Values: chatshipper.Meta{"n": math.NaN()}}}},
			"messages[1].results[0].values.n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv, c, s, convs := senderSetup(t, 1, nil, chatshipper.WithLoopGuard(false))
				ctx := t.Context()
				before := s.Queue(ctx, convs[0], chatshipper.Chat("before"))
				bad := s.Queue(ctx, convs[0], chatshipper.Chat("fine"), tc.msg)
				select {
				case <-bad.Done():
				default:
					t.Fatal("the call was queued")
				}
				after := s.Queue(ctx, convs[0], chatshipper.Chat("after"))
				_, err := bad.Result()
				var ae *chatshipper.ArgumentError
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tc.wantName, ae.Name)
				for _, p := range []*chatshipper.PendingSend{before, after} {
					_, err := p.Result()
					require.NoError(t, err, "the other calls are not affected")
				}
				assert.Equal(t, []string{"before", "after"}, storedTexts(srv, convs[0]))

				srv.ResetRequests()
				_, _, err = c.Conversations.Send(ctx, convs[0], chatshipper.Chat("fine"), tc.msg)
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tc.wantName, ae.Name)
				_, _, err = c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Messages: []chatshipper.MessageInput{chatshipper.Chat("fine"), tc.msg}})
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, tc.wantName, ae.Name)
				_, err = s.Create(ctx, &chatshipper.ConversationCreate{Messages: []chatshipper.MessageInput{chatshipper.Chat("fine"), tc.msg}})
				assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
				_, _, err = c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Meta: chatshipper.Meta{"f": func() {}}})
				require.ErrorAs(t, err, &ae)
				assert.Equal(t, "conversation.meta.f", ae.Name)
				assert.Empty(t, srv.Requests(), "nothing sent")
			})
		})
	}
}
