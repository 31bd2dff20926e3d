package chatshipper_test

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Login, then a refreshing token source: when the access token expires the
// client refreshes it ahead of time, and once more after a server 401, and
// hands the new tokens to OnRefresh. The fake server's clock is moved by hand.
func TestIntegrationLoginAndRefresh(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	srv := chatshippertest.NewServer(t, chatshippertest.WithClock(clock), chatshippertest.WithTokenTTL(time.Hour))
	ctx := context.Background()

	tok, err := chatshipper.Login(ctx, chatshipper.Credentials{Email: srv.Seed.AdminEmail, Password: srv.Seed.AdminPassword}, chatshipper.WithBaseURL(srv.URL))
	require.NoError(t, err)
	assert.Equal(t, srv.Seed.AdminUserID, tok.User)
	assert.Equal(t, srv.Seed.OrganizationID, tok.Organization)
	assert.NotEmpty(t, tok.RefreshToken)

	var refreshed []chatshipper.Token
	src, err := chatshipper.NewRefreshingTokenSource(chatshipper.RefreshConfig{
		Token:     *tok,
		Options:   []chatshipper.Option{chatshipper.WithBaseURL(srv.URL)},
		OnRefresh: func(t chatshipper.Token) { refreshed = append(refreshed, t) },
	})
	require.NoError(t, err)
	c, err := chatshipper.NewClient("", chatshipper.WithBaseURL(srv.URL), chatshipper.WithTokenSource(src))
	require.NoError(t, err)
	me, _, err := c.Users.Me(ctx)
	require.NoError(t, err)
	assert.Equal(t, srv.Seed.AdminUserID, me.ID)
	assert.Empty(t, refreshed)

	// The server's clock passes the token's expiry; the client's does not, so
	// only the server's 401 "jwt expired" tells the client to refresh.
	advance(2 * time.Hour)
	_, _, err = c.Conversations.List(ctx, nil)
	require.NoError(t, err)
	require.Len(t, refreshed, 1)
	assert.NotEqual(t, tok.AccessToken, refreshed[0].AccessToken)
	assert.Equal(t, refreshed[0].AccessToken, src.Current().AccessToken)

	// A wrong password is an ErrUnauthorized that does not carry the password.
	_, err = chatshipper.Login(ctx, chatshipper.Credentials{Email: srv.Seed.AdminEmail, Password: "wrong-CANARY-pw"}, chatshipper.WithBaseURL(srv.URL))
	require.ErrorIs(t, err, chatshipper.ErrUnauthorized)
	assert.NotContains(t, err.Error(), "wrong-CANARY-pw")
}

// The auth paths log nothing secret, even at debug level.
func TestIntegrationAuthLogsNoSecrets(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t)
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	ctx := context.Background()
	tok, err := chatshipper.Login(ctx, chatshipper.Credentials{Email: srv.Seed.AdminEmail, Password: srv.Seed.AdminPassword}, chatshipper.WithBaseURL(srv.URL), chatshipper.WithLogger(logger))
	require.NoError(t, err)
	_, err = chatshipper.Login(ctx, chatshipper.Credentials{Email: srv.Seed.AdminEmail, Password: "pw-CANARY-bad"}, chatshipper.WithBaseURL(srv.URL), chatshipper.WithLogger(logger))
	require.Error(t, err)
	src, err := chatshipper.NewRefreshingTokenSource(chatshipper.RefreshConfig{
		Token:   chatshipper.Token{AccessToken: "expired-CANARY", RefreshToken: "refresh-CANARY-bad", ClientID: srv.Seed.AdminEmail},
		Options: []chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithLogger(logger)}})
	require.NoError(t, err)
	c, err := chatshipper.NewClient("", chatshipper.WithBaseURL(srv.URL), chatshipper.WithTokenSource(src), chatshipper.WithLogger(logger))
	require.NoError(t, err)
	_, _, err = c.Conversations.List(ctx, nil)
	require.Error(t, err)
	logger.Info("token as a value", "token", *tok) // Token.LogValue redacts
	require.NotEmpty(t, logs.String())
	for _, secret := range []string{srv.Seed.AdminPassword, "pw-CANARY-bad", tok.AccessToken, tok.RefreshToken, "expired-CANARY", "refresh-CANARY-bad"} {
		assert.NotContains(t, logs.String(), secret)
		assert.NotContains(t, err.Error(), secret)
	}
}
