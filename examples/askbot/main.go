// Command askbot is a bot written the way chipchat (the official Node SDK)
// users write theirs, with this SDK's webhook package: it greets a contact,
// asks their name, answers by name, and hands the conversation over to a
// person when the contact types "agent".
//
// It shows the conversation context (webhook.Handler.Conversation), ask and
// answer (Conversation.Ask with a registered answer, kept in the
// conversation's meta so any replica can take the answer), first-match
// routing, receive and send middleware, and replies that are sent once per
// event however often the event is delivered.
//
// With no CHATSHIPPER_TOKEN (or TOKEN) it runs a whole demo offline: it starts
// the embedded fake server, serves the bot on a loopback port, registers it as
// a webhook, plays a contact, prints what happened and exits.
//
// With a token it reads its configuration from the environment
// (webhook.NewBotFromEnv: CHATSHIPPER_TOKEN, CHATSHIPPER_WEBHOOK_SECRET,
// optionally CHATSHIPPER_BASE_URL, CHATSHIPPER_WEBHOOK_PATH and
// CHATSHIPPER_LISTEN_ADDR, or chipchat's names TOKEN, SECRET, APIHOST,
// WEBHOOK_PATH and PORT) and serves until interrupted; register its URL as a
// webhook service yourself. GET <path>/ping answers for health checks.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"os"
	"os/signal"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	if os.Getenv(webhook.EnvToken) != "" || os.Getenv("TOKEN") != "" {
		return serve()
	}
	return demo()
}

// stageHuman marks, in the conversation's meta, a conversation handed over.
const stageHuman = "human"

// wantsAgent matches a contact asking for a person.
var wantsAgent = regexp.MustCompile(`(?i)^\s*(agent|human|person)\W*$`)

// setUp registers the bot's behaviour on h; out receives a line per message
// the bot sends.
func setUp(h *webhook.Handler, out io.Writer) error {
	var mu sync.Mutex
	// Send middleware: every message the bot sends passes here.
	if err := h.UseSend(func(next webhook.SendFunc) webhook.SendFunc {
		return func(ctx context.Context, conv string, msgs []chatshipper.MessageInput) ([]*chatshipper.Message, error) {
			mu.Lock()
			for _, m := range msgs {
				text := m.Text
				for _, k := range slices.Sorted(maps.Keys(m.Meta)) {
					if m.Type == chatshipper.MessageTypeCommand && k != chatshipper.DeliveryKeyMeta { // a /set with a meta object
						text += fmt.Sprintf(" %s=%q", k, m.Meta[k])
					}
				}
				fmt.Fprintf(out, "  bot     %s\n", text)
			}
			mu.Unlock()
			return next(ctx, conv, msgs)
		}
	}); err != nil {
		return err
	}
	// Receive middleware: once a person has the conversation, the bot keeps
	// quiet. The meta is read from the event, without a request.
	if err := h.Use(func(next webhook.HandlerFunc) webhook.HandlerFunc {
		return func(ctx context.Context, e *webhook.Event) error {
			if c, err := h.Conversation(ctx, e); err == nil && c.MetaString("stage") == stageHuman {
				return nil
			}
			return next(ctx, e)
		}
	}); err != nil {
		return err
	}

	// The answer to "What's your name?", on whichever replica receives it.
	if err := h.RegisterAnswer("name", func(ctx context.Context, c *webhook.Conversation, m *chatshipper.Message) error {
		if wantsAgent.MatchString(m.Text) {
			return handOver(ctx, c)
		}
		name := strings.TrimSpace(m.Text)
		if err := c.Set(ctx, "name", name); err != nil {
			return err
		}
		_, err := c.Say(ctx, fmt.Sprintf("Nice to meet you, %s! Ask me anything, or type \"agent\" to talk to a person.", name))
		return err
	}); err != nil {
		return err
	}

	// With WithFirstMatchOnly, the first handler that accepts a message is
	// the only one to run: "agent" first, then everything else.
	contact := webhook.MessageRole(chatshipper.RoleContact)
	if err := h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		return handOver(ctx, c)
	}, contact, webhook.OnTextMatch(wantsAgent)); err != nil {
		return err
	}
	return h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		if name := c.MetaString("name"); name != "" {
			_, err := c.Say(ctx, fmt.Sprintf("Good question, %s. I am only a demo bot: type \"agent\" and a person will answer.", name))
			return err
		}
		if _, err := c.Accept(ctx); err != nil {
			return err
		}
		if _, err := c.Say(ctx, "Hi! I am Askbot."); err != nil {
			return err
		}
		_, err = c.Ask(ctx, "What is your name?", "name")
		return err
	}, contact)
}

// handOver says so, marks the conversation, leaves it and queues it for the
// organization's channels (leaving closes it, as the contact was answered;
// /notify queues it again).
func handOver(ctx context.Context, c *webhook.Conversation) error {
	text := "I am handing you over to a colleague."
	if name := c.MetaString("name"); name != "" {
		text = "Of course, " + name + ". I am handing you over to a colleague."
	}
	if _, err := c.Say(ctx, text); err != nil {
		return err
	}
	if err := c.Set(ctx, "stage", stageHuman); err != nil {
		return err
	}
	_, err := c.Send(ctx, chatshipper.Leave(), chatshipper.Notify())
	return err
}

// serve runs the bot for a real deployment.
func serve() error {
	bot, err := webhook.NewBotFromEnv(nil, webhook.WithFirstMatchOnly(true))
	if err != nil {
		return err
	}
	if err := setUp(bot.Handler, os.Stdout); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	fmt.Printf("askbot listening on %s%s (health: %s/ping)\n", bot.Addr, bot.Path, strings.TrimSuffix(bot.Path, "/"))
	return bot.ListenAndServe(ctx)
}

// demo runs the bot against the embedded fake server and plays a contact.
func demo() error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fake := chatshippertest.NewServer(nil)
	defer fake.Close()
	fmt.Printf("No CHATSHIPPER_TOKEN set: using the embedded fake ChatShipper server at %s\n", fake.URL)

	const secret = "askbot-demo-secret"
	client, err := chatshipper.NewClient(fake.Token, chatshipper.WithBaseURL(fake.URL))
	if err != nil {
		return err
	}
	h, err := webhook.NewHandler(webhook.WithSecret(secret), webhook.WithClient(client), webhook.WithFirstMatchOnly(true))
	if err != nil {
		return err
	}
	if err := setUp(h, os.Stdout); err != nil {
		return err
	}
	bot := &webhook.Bot{Client: client, Handler: h, Path: "/askbot"}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	serveCtx, stopServing := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- bot.Serve(serveCtx, ln) }()
	defer func() {
		stopServing()
		<-served
	}()
	url := "http://" + ln.Addr().String() + bot.Path

	svc, _, err := client.Services.CreateWebhook(ctx, &chatshipper.WebhookServiceCreate{
		Name: "askbot", URL: url, Secret: secret, Events: []string{"message.create.contact.*"},
	})
	if err != nil {
		return fmt.Errorf("registering the webhook: %w", err)
	}
	for { // the server verifies the URL with a challenge GET
		if doc, _ := fake.Get("services", svc.ID); doc["status"] == "active" {
			break
		}
		select {
		case <-ctx.Done():
			return errors.New("the webhook was never verified")
		case <-time.After(10 * time.Millisecond):
		}
	}
	fmt.Printf("askbot serves its webhook at %s (verified)\n\n", url)

	// The contact writes through an integration (here the admin's token).
	consumer, err := chatshipper.NewClient(fake.AdminToken, chatshipper.WithBaseURL(fake.URL))
	if err != nil {
		return err
	}
	var convID string
	for _, text := range []string{"Hi there!", "Jenny", "Do you ship to Norway?", "agent", "Hello? Anyone?"} {
		fmt.Printf("  contact %s\n", text)
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
		if err := fake.WaitDeliveries(ctx); err != nil { // the bot has handled the message
			return err
		}
	}

	conv, _, err := consumer.Conversations.Get(ctx, convID, nil)
	if err != nil {
		return err
	}
	fmt.Printf("\nconversation %s: status %s, name %q, stage %q (the bot stayed quiet after the hand-over)\n",
		conv.ID, conv.Status, conv.Meta.Get("name"), conv.Meta.Get("stage"))
	for _, d := range fake.WebhookDeliveries() {
		if !d.Delivered {
			return fmt.Errorf("event %s was not delivered (status %d)", d.Event, d.Status)
		}
	}
	return nil
}
