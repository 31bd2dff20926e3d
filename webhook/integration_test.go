package webhook_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// End to end: the fake server verifies the webhook with its challenge, then
// delivers signed events that the handler decodes and routes.
func TestIntegrationWebhookEndToEnd(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	bot, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0))
	require.NoError(t, err)
	integration, err := chatshipper.NewClient(srv.AdminToken, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0))
	require.NoError(t, err)
	ctx := context.Background()

	const secret = "e2e-webhook-secret"
	h, err := webhook.NewHandler(webhook.WithSecret(secret), webhook.WithClient(bot))
	require.NoError(t, err)
	events := make(chan *webhook.Event, 32)
	all := make(chan string, 64)
	require.NoError(t, h.Handle("message.create.contact.chat", func(_ context.Context, e *webhook.Event) error {
		events <- e
		return nil
	}))
	require.NoError(t, h.Handle("message.**", func(_ context.Context, e *webhook.Event) error {
		all <- e.Data.Message.Text
		return nil
	}))
	hs := httptest.NewServer(h)
	defer hs.Close()

	svc, _, err := bot.Services.CreateWebhook(ctx, &chatshipper.WebhookServiceCreate{
		Name: "e2e", URL: hs.URL + "/hook", Secret: secret, Events: []string{"message.create.contact.*"}})
	require.NoError(t, err)
	assert.Equal(t, chatshipper.ServiceUnverified, svc.Status)
	require.Eventually(t, func() bool {
		doc, _ := srv.Get("services", svc.ID)
		return doc["status"] == "active"
	}, 5*time.Second, 5*time.Millisecond, "the challenge GET verifies the webhook")

	// Fill the bot's loop guard for the conversation-to-be with 20 messages, so
	// that only a reset lets the 21st through.
	conv, _, err := integration.Conversations.Create(ctx, &chatshipper.ConversationCreate{
		Type:     chatshipper.ConversationContact,
		Contact:  &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Name: "Jenny", Email: "jenny@example.com"}},
		Messages: []chatshipper.MessageInput{chatshipper.Chat("first").WithRole(chatshipper.RoleContact)},
	})
	require.NoError(t, err)
	e := <-events
	assert.Equal(t, "message.create.contact.chat", e.Name)
	assert.Equal(t, conv.ID, e.ConversationID())
	require.NotNil(t, e.Data.Conversation)
	assert.Equal(t, conv.ID, e.Data.Conversation.ID)
	assert.Equal(t, chatshipper.ConversationContact, e.Data.Conversation.Type)
	require.NotNil(t, e.Data.Message)
	assert.Equal(t, "first", e.Data.Message.Text)
	assert.Equal(t, chatshipper.RoleContact, e.Data.Message.Role)
	assert.Equal(t, srv.Seed.OrganizationID, e.Organization)
	assert.NotEmpty(t, e.ID)

	// Bot messages (role bot): a message with role agent would be a reply.
	for i := range 20 {
		_, _, err := bot.Conversations.Send(ctx, conv.ID, chatshipper.Chat("reply "+string(rune('a'+i))))
		require.NoError(t, err)
	}
	_, _, err = bot.Conversations.Send(ctx, conv.ID, chatshipper.Chat("one too many"))
	require.ErrorIs(t, err, chatshipper.ErrLoopLimit)

	// The contact writes: the event reaches the bot and resets its count.
	_, _, err = integration.Conversations.Send(ctx, conv.ID, chatshipper.Chat("are you there?").WithRole(chatshipper.RoleContact))
	require.NoError(t, err)
	e = <-events
	assert.Equal(t, "are you there?", e.Data.Message.Text)
	_, _, err = bot.Conversations.Send(ctx, conv.ID, chatshipper.Chat("yes!"))
	require.NoError(t, err, "the contact's message seen in the webhook reset the loop guard")

	// The bot's own messages were delivered by the server but never dispatched.
	require.NoError(t, srv.WaitDeliveries(ctx))
	close(all)
	var seen []string
	for text := range all {
		seen = append(seen, text)
	}
	assert.Equal(t, []string{"first", "are you there?"}, seen, "only the contact's messages reach the handlers")
}
