package chatshipper_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// dialSwitch is a transport that fails every attempt with a dial error while
// down is set: the request never leaves the machine.
type dialSwitch struct {
	next http.RoundTripper
	down atomic.Bool
}

func (d *dialSwitch) RoundTrip(r *http.Request) (*http.Response, error) {
	if d.down.Load() {
		if r.Body != nil {
			_ = r.Body.Close()
		}
		return nil, &net.OpError{Op: "dial", Net: "tcp", Err: errors.New("connection refused")}
	}
	return d.next.RoundTrip(r)
}

// loopClient returns a client of srv with token; its transport can be
// switched to failing dials.
func loopClient(t *testing.T, srv *chatshippertest.Server, token string, opts ...chatshipper.Option) (*chatshipper.Client, *dialSwitch) {
	t.Helper()
	ds := &dialSwitch{next: srv.Client().Transport}
	all := append([]chatshipper.Option{
		chatshipper.WithBaseURL(srv.URL),
		chatshipper.WithHTTPClient(&http.Client{Transport: ds}),
		chatshipper.WithRateLimit(0),
		chatshipper.WithMaxRetries(0),
		// These tests compare the guard with the server's counts on raw
		// outcomes (an unknown outcome counts), so they send without delivery
		// tracking, whose lookups would settle those outcomes. (Both the
		// fake and the guard leave delivery keys out of the identical count.)
		chatshipper.WithDeliveryTracking(false),
		// The fake's default reading of "identical" (type, text and meta);
		// the guard's own default, the text alone, is stricter.
		chatshipper.WithLoopGuardConfig(chatshipper.LoopGuardConfig{IdenticalBy: chatshipper.IdenticalByTypeTextMeta}),
	}, opts...)
	c, err := chatshipper.NewClient(token, all...)
	require.NoError(t, err)
	return c, ds
}

func newConversation(t *testing.T, c *chatshipper.Client) string {
	t.Helper()
	conv, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{Name: "loop"})
	require.NoError(t, err)
	return conv.ID
}

// Defect 1: the guard applied to every token, though the API's limits apply
// to messages created as a bot user.
func TestLoopGuardRegressionOnlyBotUsers(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
	ctx := context.Background()
	for _, tc := range []struct {
		name, token string
	}{{"agent", srv.AgentToken}, {"admin", srv.AdminToken}} {
		c, _ := loopClient(t, srv, tc.token)
		id := newConversation(t, c)
		for i := range 12 {
			_, _, err := c.Conversations.Send(ctx, id, chatshipper.Chat("I've said this before..."))
			require.NoError(t, err, "%s, message %d: the server accepts it", tc.name, i+1)
		}
	}
	// A bot token is guarded: the 9th identical message is refused before I/O.
	bot, _ := loopClient(t, srv, srv.Token)
	id := newConversation(t, bot)
	for range 8 {
		_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("I've said this before..."))
		require.NoError(t, err)
	}
	_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("I've said this before..."))
	var le *chatshipper.LoopLimitError
	require.ErrorAs(t, err, &le)
	assert.False(t, le.FromServer)
}

// Defect 2: a message the integration relays with role contact or agent did
// not reset the consecutive count, though the server takes it as a reply.
func TestLoopGuardRegressionRelayedReplyResets(t *testing.T) {
	t.Parallel()
	for _, role := range []chatshipper.Role{chatshipper.RoleContact, chatshipper.RoleAgent} {
		t.Run(string(role), func(t *testing.T) {
			t.Parallel()
			srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
			bot, _ := loopClient(t, srv, srv.Token)
			ctx := context.Background()
			id := newConversation(t, bot)
			for i := range 20 {
				_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat(fmt.Sprintf("step %d", i)))
				require.NoError(t, err)
			}
			_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("step 20"))
			require.ErrorIs(t, err, chatshipper.ErrLoopLimit)
			_, _, err = bot.Conversations.Send(ctx, id, chatshipper.Chat("relayed").WithRole(role))
			require.NoError(t, err)
			for i := range 20 {
				_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat(fmt.Sprintf("after %d", i)))
				require.NoError(t, err, "message %d after the reply", i+1)
			}
		})
	}
}

// Defect 3: a message was counted before it was sent and never uncounted, so
// sends that never left the machine or that the server refused used up the
// limit.
func TestLoopGuardRegressionFailedSendsDoNotCount(t *testing.T) {
	t.Parallel()
	t.Run("dial failures", func(t *testing.T) {
		t.Parallel()
		synctest.Test(t, func(t *testing.T) {
			srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
			bot, ds := loopClient(t, srv, srv.Token)
			ctx := context.Background()
			id := newConversation(t, bot)
			ds.down.Store(true)
			for range 20 {
				_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
				var te *chatshipper.TransportError
				require.ErrorAs(t, err, &te)
				require.False(t, te.MayHaveReachedServer())
			}
			ds.down.Store(false)
			for i := range 8 {
				_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
				require.NoError(t, err, "message %d once the network is back", i+1)
			}
		})
	})
	t.Run("token source failures", func(t *testing.T) {
		t.Parallel()
		srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
		ts := &flakyTokens{token: srv.Token}
		bot, _ := loopClient(t, srv, "", chatshipper.WithTokenSource(ts), chatshipper.WithLoopGuard(true))
		ctx := context.Background()
		id := newConversation(t, bot)
		ts.fail.Store(true)
		for range 20 {
			_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
			var te *chatshipper.TransportError
			require.ErrorAs(t, err, &te)
			require.False(t, te.MayHaveReachedServer(), "nothing was sent: %v", err)
		}
		ts.fail.Store(false)
		for i := range 8 {
			_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
			require.NoError(t, err, "message %d once the token source works again", i+1)
		}
	})
	t.Run("4xx answers", func(t *testing.T) {
		t.Parallel()
		srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
		bot, _ := loopClient(t, srv, srv.Token)
		ctx := context.Background()
		id := newConversation(t, bot)
		srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + id, Count: 5, Status: 422})
		for range 5 {
			_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
			var er *chatshipper.ErrorResponse
			require.ErrorAs(t, err, &er)
			require.Equal(t, 422, er.StatusCode)
		}
		for i := range 20 {
			_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat(fmt.Sprintf("m%d", i)))
			require.NoError(t, err, "message %d after 5 refused requests", i+1)
		}
	})
}

// Defect 4: a meta that could not be encoded was left out of the
// identical-message key, so the message counted as identical to one without
// meta; it must be refused as bad input, before it is counted.
func TestLoopGuardRegressionUnencodableMeta(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
	bot, _ := loopClient(t, srv, srv.Token)
	ctx := context.Background()
	id := newConversation(t, bot)
	for range 8 {
		_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("hi"))
		require.NoError(t, err)
	}
	bad := chatshipper.Chat("hi")
	bad.Meta = chatshipper.Meta{"when": make(chan int)}
	_, _, err := bot.Conversations.Send(ctx, id, bad)
	require.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
	require.NotErrorIs(t, err, chatshipper.ErrLoopLimit)
	var ae *chatshipper.ArgumentError
	require.ErrorAs(t, err, &ae)

	// Distinct encodable metas are distinct messages.
	for i := range 8 {
		m := chatshipper.Chat("hi")
		m.Meta = chatshipper.Meta{"n": i}
		_, _, err := bot.Conversations.Send(ctx, id, m)
		require.NoError(t, err)
	}
}

// userLookups counts GET /v2/users/{id} requests the server received.
func userLookups(srv *chatshippertest.Server, id string) int {
	n := 0
	for _, r := range srv.Requests() {
		if r.Method == http.MethodGet && r.Path == "/v2/users/"+id {
			n++
		}
	}
	return n
}

// sendIdentical sends n identical messages to a new conversation and returns
// how many the guard refused and how many the server refused.
func sendIdentical(t *testing.T, c *chatshipper.Client, n int) (guard, server int) {
	t.Helper()
	ctx := context.Background()
	id := newConversation(t, c)
	for range n {
		_, _, err := c.Conversations.Send(ctx, id, chatshipper.Chat("same"))
		var le *chatshipper.LoopLimitError
		if errors.As(err, &le) {
			if le.FromServer {
				server++
			} else {
				guard++
			}
			continue
		}
		require.NoError(t, err)
	}
	return guard, server
}

// The guard applies to bot users, learned from the token's highest scope, else
// from the user's record; WithLoopGuard forces it on or off.
func TestLoopGuardAppliesToBotUsers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		user        func(sd chatshippertest.Seed) string
		scope       string
		opts        []chatshipper.Option
		wantGuarded bool
	}{
		{"bot scope", func(sd chatshippertest.Seed) string { return sd.BotUserID }, "bot", nil, true},
		{"cumulative bot scope", func(sd chatshippertest.Seed) string { return sd.BotUserID }, "viewer guest agent bot", nil, true},
		{"cumulative admin scope: an admin, not a bot", func(sd chatshippertest.Seed) string { return sd.AdminUserID }, "viewer guest agent bot admin", nil, false},
		{"agent scope", func(sd chatshippertest.Seed) string { return sd.AgentUserIDs[0] }, "guest agent", nil, false},
		{"forced on for an admin", func(sd chatshippertest.Seed) string { return sd.AdminUserID }, "admin",
			[]chatshipper.Option{chatshipper.WithLoopGuard(true)}, true},
		{"forced off for a bot", func(sd chatshippertest.Seed) string { return sd.BotUserID }, "bot",
			[]chatshipper.Option{chatshipper.WithLoopGuard(false)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
			user := tt.user(srv.Seed)
			c, _ := loopClient(t, srv, srv.IssueToken(user, tt.scope, 0), tt.opts...)
			guard, server := sendIdentical(t, c, 10)
			switch {
			case tt.wantGuarded:
				assert.Equal(t, [2]int{2, 0}, [2]int{guard, server}, "the 9th and 10th are refused by the guard")
			case tt.scope == "bot":
				assert.Equal(t, [2]int{0, 2}, [2]int{guard, server}, "the server refuses them")
			default:
				assert.Equal(t, [2]int{0, 0}, [2]int{guard, server}, "not a bot: no limit")
			}
			assert.Zero(t, userLookups(srv, user), "the token tells")
		})
	}
}

// A reply sent in a batch whose outcome is unknown (5xx, lost answer) is not
// taken as made: the guard stays stricter than a server that did act.
func TestLoopGuardUnknownReplyIsNotAReset(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
	bot, _ := loopClient(t, srv, srv.Token)
	ctx := context.Background()
	id := newConversation(t, bot)
	for i := range 20 {
		_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat(fmt.Sprintf("m%d", i)))
		require.NoError(t, err)
	}
	srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + id, Count: 1, Status: 500, After: true})
	_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("relayed").WithRole(chatshipper.RoleContact))
	var er *chatshipper.ErrorResponse
	require.ErrorAs(t, err, &er)
	_, _, err = bot.Conversations.Send(ctx, id, chatshipper.Chat("next"))
	require.ErrorIs(t, err, chatshipper.ErrLoopLimit, "the guard does not know the reply was made")
	bot.ObserveReply(id)
	_, _, err = bot.Conversations.Send(ctx, id, chatshipper.Chat("next"))
	require.NoError(t, err)
}

// A 5xx or a lost answer keeps the count (the server may have stored the
// message); the guard then refuses what the server would.
func TestLoopGuardUnknownOutcomeCounts(t *testing.T) {
	t.Parallel()
	for _, f := range []chatshippertest.Fault{
		{Status: 500, After: true},
		{Status: 503},
		{Drop: chatshippertest.DropAfter},
		{Drop: chatshippertest.DropBefore},
	} {
		t.Run(fmt.Sprintf("status %d drop %d", f.Status, f.Drop), func(t *testing.T) {
			t.Parallel()
			srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
			bot, _ := loopClient(t, srv, srv.Token)
			ctx := context.Background()
			id := newConversation(t, bot)
			f.Method, f.PathPrefix, f.Count = "POST", "/v2/conversations/"+id, 1
			for range 7 {
				_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
				require.NoError(t, err)
			}
			srv.InjectFault(f)
			_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
			require.Error(t, err)
			require.NotErrorIs(t, err, chatshipper.ErrLoopLimit)
			_, _, err = bot.Conversations.Send(ctx, id, chatshipper.Chat("same"))
			require.ErrorIs(t, err, chatshipper.ErrLoopLimit, "the unknown one counts")
		})
	}
}

// Two clients of the same bot sharing a store count together.
func TestLoopGuardSharedStore(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
	store := chatshipper.NewLoopGuardMemoryStore(0)
	a, _ := loopClient(t, srv, srv.Token, chatshipper.WithLoopGuardStore(store))
	b, _ := loopClient(t, srv, srv.Token, chatshipper.WithLoopGuardStore(store))
	ctx := context.Background()
	id := newConversation(t, a)
	for i := range 8 {
		c := a
		if i%2 == 1 {
			c = b
		}
		_, _, err := c.Conversations.Send(ctx, id, chatshipper.Chat("same"))
		require.NoError(t, err)
	}
	_, _, err := b.Conversations.Send(ctx, id, chatshipper.Chat("same"))
	var le *chatshipper.LoopLimitError
	require.ErrorAs(t, err, &le)
	require.False(t, le.FromServer)

	_, err = chatshipper.NewClient("tok", chatshipper.WithLoopGuardStore(nil))
	require.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
}

// flakyTokens is a token source that fails while fail is set, as a refresh
// against an unreachable auth endpoint would.
type flakyTokens struct {
	token string
	fail  atomic.Bool
}

func (f *flakyTokens) Token(context.Context) (string, error) {
	if f.fail.Load() {
		return "", errors.New("refresh failed")
	}
	return f.token, nil
}

// A reply the guard reads from a server whose clock is off (here 2 h) is
// placed on the client's clock by the Date of the server's answers: heard
// late, as from a late webhook, it frees the bot's messages sent before it
// and no others. The bot sent 12 messages, the agent replied, the bot sent 5
// more and then heard of the reply: 15 more fit, the 16th is refused by the
// guard (before, a server ahead freed all 17, so the 16th reached the
// server and was blocked there; a server behind freed none, so the guard
// refused the 4th).
func TestLoopGuardRepliesOnTheServersClock(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{2 * time.Hour, -2 * time.Hour, 0} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), chatshippertest.WithClockSkew(skew))
				bot, _ := loopClient(t, srv, srv.Token)
				agent, _ := loopClient(t, srv, srv.AgentToken)
				ctx := context.Background()
				id := newConversation(t, bot)
				n := 0
				send := func() error {
					n++
					_, _, err := bot.Conversations.Send(ctx, id, chatshipper.Chat(fmt.Sprint("message ", n)))
					return err
				}
				for range 12 {
					require.NoError(t, send())
				}
				time.Sleep(5 * time.Second)
				reply, _, err := agent.Conversations.Send(ctx, id, chatshipper.Chat("An agent here"))
				require.NoError(t, err)
				time.Sleep(5 * time.Second)
				for range 5 {
					require.NoError(t, send())
				}
				bot.ObserveMessages(reply...)
				more := 0
				for {
					err := send()
					if err != nil {
						var le *chatshipper.LoopLimitError
						require.ErrorAs(t, err, &le)
						require.False(t, le.FromServer, "the guard let through a message the server blocked")
						break
					}
					more++
				}
				assert.Equal(t, 15, more, "20 consecutive messages after the reply")
			})
		})
	}
}

// The API does not say what makes two messages identical. By default the
// guard takes the same text for identical, the strictest reading, so that
// it refuses the ninth message with one text in 3 minutes whatever the
// server compares: a server comparing the text alone would otherwise block
// the bot for an hour on messages that differ in meta or type. Told the
// server's reading, the guard lets through what that server takes.
func TestLoopGuardIdenticalReadings(t *testing.T) {
	t.Parallel()
	nine := func() []chatshipper.MessageInput {
		var out []chatshipper.MessageInput
		for i := range 9 {
			m := chatshipper.Chat("Are you still there?").WithMeta("n", i)
			if i%2 == 1 {
				m = chatshipper.Card("Are you still there?").WithMeta("n", i)
			}
			out = append(out, m)
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		server chatshippertest.IdenticalBy
		guard  chatshipper.IdenticalBy
	}{
		{"text", chatshippertest.IdenticalByText, chatshipper.IdenticalByText},
		{"text and meta", chatshippertest.IdenticalByTextMeta, chatshipper.IdenticalByTextMeta},
		{"type, text and meta", chatshippertest.IdenticalByTypeTextMeta, chatshipper.IdenticalByTypeTextMeta},
	} {
		t.Run("server compares "+tc.name, func(t *testing.T) {
			t.Parallel()
			srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), chatshippertest.WithIdenticalBy(tc.server))
			ctx := context.Background()

			byDefault, _ := loopClient(t, srv, srv.Token, chatshipper.WithLoopGuardConfig(chatshipper.LoopGuardConfig{}))
			id := newConversation(t, byDefault)
			for i, m := range nine() {
				_, _, err := byDefault.Conversations.Send(ctx, id, m)
				if i < 8 {
					require.NoError(t, err)
					continue
				}
				var le *chatshipper.LoopLimitError
				require.ErrorAs(t, err, &le, "the ninth message with the same text")
				require.False(t, le.FromServer, "refused by the guard, before the server blocks the bot")
				assert.Equal(t, chatshipper.LoopLimitIdentical, le.Kind)
			}

			told, _ := loopClient(t, srv, srv.Token, chatshipper.WithLoopGuardConfig(chatshipper.LoopGuardConfig{IdenticalBy: tc.guard}))
			id = newConversation(t, told)
			for _, m := range nine() {
				_, _, err := told.Conversations.Send(ctx, id, m)
				if tc.server == chatshippertest.IdenticalByText && err != nil {
					var le *chatshipper.LoopLimitError
					require.ErrorAs(t, err, &le)
					require.False(t, le.FromServer)
					continue
				}
				require.NoError(t, err, "messages that differ for this server")
			}
		})
	}
}
