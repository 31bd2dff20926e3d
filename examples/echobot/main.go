// Command echobot is a bot that listens to ChatShipper webhooks and, on each
// chat message a contact writes, replies in the conversation.
//
// With no CHATSHIPPER_TOKEN it runs a whole demo offline: it starts the
// embedded fake server, serves its webhook handler on a loopback port,
// registers itself as a webhook service (the fake server verifies it with the
// challenge GET), plays a consumer sending three messages, and prints the
// bot's replies as they arrive.
//
// With CHATSHIPPER_TOKEN set it serves the webhook on -addr (default :8080)
// for a real deployment; set CHATSHIPPER_WEBHOOK_SECRET to the webhook's
// secret, and register the URL as a webhook service yourself.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/examples/internal/setup"
	"github.com/go-chatshipper/chatshipper/webhook"
)

func main() {
	addr := flag.String("addr", ":8080", "listen address (with CHATSHIPPER_TOKEN)")
	flag.Parse()
	if err := run(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(addr string) error {
	env, err := setup.Connect()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer env.Close()
	c := env.Client

	secret := os.Getenv("CHATSHIPPER_WEBHOOK_SECRET")
	if env.Fake != nil {
		secret = "echobot-demo-secret"
	}
	if secret == "" {
		return errors.New("configuration: set CHATSHIPPER_WEBHOOK_SECRET to the webhook service's secret")
	}

	replies := make(chan string, 16)
	bot, err := newBot(c, secret, replies)
	if err != nil {
		return fmt.Errorf("building the webhook handler: %w", err)
	}

	if env.Fake == nil {
		return serve(bot, addr)
	}
	if err := demo(env, bot, secret, replies); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// newBot returns the webhook handler: it answers every contact chat message.
// The bot's own replies come back as events too; the handler drops them
// (webhook.WithClient tells it who "self" is), so the bot never answers itself.
func newBot(c *chatshipper.Client, secret string, replies chan<- string) (*webhook.Handler, error) {
	h, err := webhook.NewHandler(webhook.WithSecret(secret), webhook.WithClient(c))
	if err != nil {
		return nil, err
	}
	err = h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		text := "You said: " + e.Data.Message.Text
		// Bots reach the consumer with the agent role.
		if _, _, err := c.Conversations.Send(ctx, e.ConversationID(), chatshipper.Chat(text).WithRole(chatshipper.RoleAgent)); err != nil {
			return err // 500: the platform retries the delivery
		}
		select {
		case replies <- text:
		default:
		}
		return nil
	}, webhook.MessageRole(chatshipper.RoleContact))
	return h, err
}

func serve(h *webhook.Handler, addr string) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
		_ = h.Shutdown(shutdown)
	}()
	fmt.Printf("echobot listening on %s\n", addr)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving: %w", err)
	}
	return nil
}

// demo registers the bot with the fake server and plays a consumer.
func demo(env *setup.Env, bot *webhook.Handler, secret string, replies <-chan string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, fake := env.Client, env.Fake

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: bot, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	defer func() { _ = hs.Close() }()
	url := "http://" + ln.Addr().String() + "/webhook"

	svc, _, err := c.Services.CreateWebhook(ctx, &chatshipper.WebhookServiceCreate{
		Name: "echobot", URL: url, Secret: secret, Events: []string{"message.create.contact.*"},
	})
	if err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
	}
	fmt.Printf("registered webhook %s at %s (status %s)\n", svc.ID, url, svc.Status)
	for { // the server verifies the URL with a challenge GET
		doc, _ := fake.Get("services", svc.ID)
		if doc["status"] == "active" {
			fmt.Println("webhook verified: status active")
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("the webhook was never verified")
		case <-time.After(10 * time.Millisecond):
		}
	}

	// The consumer writes through an integration (here the admin's token).
	consumer, err := chatshipper.NewClient(fake.AdminToken, chatshipper.WithBaseURL(fake.URL))
	if err != nil {
		return err
	}
	var convID string
	for i, text := range []string{"Hi there!", "Do you ship to Norway?", "Thanks, bye"} {
		msg := chatshipper.Chat(text).WithRole(chatshipper.RoleContact)
		if convID == "" {
			conv, _, err := consumer.Conversations.Create(ctx, &chatshipper.ConversationCreate{
				Type:     chatshipper.ConversationContact,
				Contact:  &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Name: "Jenny Jones", Email: "jenny@example.com"}},
				Messages: []chatshipper.MessageInput{msg},
			})
			if err != nil {
				return err
			}
			convID = conv.ID
		} else if _, _, err := consumer.Conversations.Send(ctx, convID, msg); err != nil {
			return err
		}
		fmt.Printf("consumer %d: %s\n", i+1, text)
		select {
		case reply := <-replies:
			fmt.Printf("bot:        %s\n", reply)
		case <-ctx.Done():
			return errors.New("no reply from the bot")
		}
	}
	return bot.Shutdown(ctx)
}
