package chatshipper

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSelfUserID(t *testing.T) {
	t.Parallel()
	const me = "5b9e8d7c6b5a4f3e2d1c0b0a"
	t.Run("from the token's claims, without a request", func(t *testing.T) {
		t.Parallel()
		mt := httpmock.NewMockTransport()
		c, err := NewClient(makeJWT(map[string]any{"_id": me}), WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}))
		require.NoError(t, err)
		id, err := c.SelfUserID(context.Background())
		require.NoError(t, err)
		assert.Equal(t, me, id)
		assert.Zero(t, mt.GetTotalCallCount())
	})
	t.Run("from a refreshing source's login answer, without a request", func(t *testing.T) {
		t.Parallel()
		mt := httpmock.NewMockTransport()
		src, err := NewRefreshingTokenSource(RefreshConfig{
			Token:    Token{AccessToken: "opaque", RefreshToken: "r", User: me},
			ClientID: "bot@example.com",
			Options:  []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt})},
		})
		require.NoError(t, err)
		c, err := NewClient("", WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithTokenSource(src))
		require.NoError(t, err)
		id, err := c.SelfUserID(context.Background())
		require.NoError(t, err)
		assert.Equal(t, me, id)
		assert.Zero(t, mt.GetTotalCallCount())
	})
	t.Run("neither tells: ErrSelfUnknown without a request", func(t *testing.T) {
		t.Parallel()
		c, mt := newTestClient(t) // testToken is not a JWT
		id, err := c.SelfUserID(context.Background())
		assert.Empty(t, id)
		require.ErrorIs(t, err, ErrSelfUnknown)
		assert.NotContains(t, err.Error(), testToken)
		assert.Zero(t, mt.GetTotalCallCount())
	})
	t.Run("nil context", func(t *testing.T) {
		t.Parallel()
		c, mt := newTestClient(t)
		var noCtx context.Context
		_, err := c.SelfUserID(noCtx)
		require.ErrorIs(t, err, ErrInvalidArgument)
		assert.Zero(t, mt.GetTotalCallCount())
	})
}

// Messages seen elsewhere reset the loop guard's consecutive count as
// messages the SDK reads itself do.
func TestObserveMessagesResetsLoopGuard(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRateLimit(0))
		path := testBase + "conversations/" + convID + "/messages"
		mt.RegisterResponder("POST", path, httpmock.NewStringResponder(201, `{"id":"5d60a7b7949e381ffa0ef481"}`))
		ctx := context.Background()
		for i := range 20 {
			_, _, err := c.Conversations.Send(ctx, convID, MessageInput{Text: fmt.Sprintf("m%d", i)})
			require.NoError(t, err, i)
		}
		_, _, err := c.Conversations.Send(ctx, convID, MessageInput{Text: "one too many"})
		require.ErrorIs(t, err, ErrLoopLimit)

		time.Sleep(time.Second)
		c.ObserveMessages(nil, &Message{Role: RoleContact, Text: "no conversation: ignored"})
		_, _, err = c.Conversations.Send(ctx, convID, MessageInput{Text: "one too many"})
		require.ErrorIs(t, err, ErrLoopLimit, "nil and unattached messages change nothing")

		c.ObserveMessages(&Message{Conversation: NewRef[Conversation](convID), Role: RoleContact, Text: "hello?",
			CreatedAt: NewTimestamp(time.Now())})
		_, _, err = c.Conversations.Send(ctx, convID, MessageInput{Text: "now it goes"})
		require.NoError(t, err)
	})
}
