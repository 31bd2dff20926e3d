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
