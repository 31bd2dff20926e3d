package chatshippertest

import (
	"context"
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestNewClientWithoutLimits: with the server's limit off and the client from
// NewClient, requests take no (fake) time; either limit on makes them wait.
func TestNewClientWithoutLimits(t *testing.T) {
	t.Parallel()
	const creates = 40
	tests := []struct {
		name       string
		serverOpts []Option
		clientOpts []chatshipper.Option
		minElapsed time.Duration // fake time the creates take
		maxElapsed time.Duration
	}{
		{"both limits off", []Option{WithRateLimit(0)}, nil, 0, 0},
		{"client limiter on again", []Option{WithRateLimit(0)}, []chatshipper.Option{chatshipper.WithRateLimit(20)}, time.Second, time.Hour},
		{"server limit on", nil, nil, time.Second, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := NewInProcessServer(t, tt.serverOpts...)
				c, err := srv.NewClient(tt.clientOpts...)
				require.NoError(t, err)
				ctx := context.Background()
				start := time.Now()
				for i := range creates {
					_, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
						Name: fmt.Sprintf("Fast %d", i), Messages: []chatshipper.MessageInput{chatshipper.Chat("hi")}})
					require.NoError(t, err)
				}
				elapsed := time.Since(start)
				assert.GreaterOrEqual(t, elapsed, tt.minElapsed)
				assert.LessOrEqual(t, elapsed, tt.maxElapsed)
				assert.Len(t, srv.List("conversations"), creates)
			})
		})
	}
}

// TestNewClientDefaults: the client talks as the seeded bot to this server's
// URL; options given override the defaults (here: the token).
func TestNewClientDefaults(t *testing.T) {
	t.Parallel()
	srv := NewServer(t, WithRateLimit(0))
	c, err := srv.NewClient()
	require.NoError(t, err)
	assert.Equal(t, srv.URL, c.BaseURL().String())
	ctx := context.Background()
	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Messages: []chatshipper.MessageInput{chatshipper.Chat("hi")}})
	require.NoError(t, err)
	assert.Equal(t, srv.Seed.BotUserID, getDoc(t, srv, "messages", conv.Messages[0].ID)["user"])

	admin, err := srv.NewClient(chatshipper.WithTokenSource(chatshipper.StaticTokenSource(srv.AdminToken)))
	require.NoError(t, err)
	conv, _, err = admin.Conversations.Create(ctx, &chatshipper.ConversationCreate{Messages: []chatshipper.MessageInput{chatshipper.Chat("hi")}})
	require.NoError(t, err)
	assert.Equal(t, srv.Seed.AdminUserID, getDoc(t, srv, "messages", conv.Messages[0].ID)["user"])
}

// BenchmarkCreates120 makes 120 conversation creates over a loopback socket
// with both limits at their defaults and with both off (the numbers of the
// "fast tests" advice; run with -benchtime=1x).
func BenchmarkCreates120(b *testing.B) {
	for _, bc := range []struct {
		name       string
		serverOpts []Option
		clientOpts []chatshipper.Option
	}{
		{"defaults", nil, []chatshipper.Option{chatshipper.WithRateLimit(chatshipper.DefaultRequestsPerSecond)}},
		{"limits off", []Option{WithRateLimit(0)}, nil},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for b.Loop() {
				srv := NewServer(b, bc.serverOpts...)
				c, err := srv.NewClient(bc.clientOpts...)
				if err != nil {
					b.Fatal(err)
				}
				for i := range 120 {
					if _, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{
						Name: fmt.Sprintf("Bench %d", i), Messages: []chatshipper.MessageInput{chatshipper.Chat("hi")}}); err != nil {
						b.Fatal(err)
					}
				}
				srv.Close()
			}
		})
	}
}
