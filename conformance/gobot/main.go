// Command gobot is a bot written with this SDK's webhook package, for the
// conformance program in the folder above: it checks that a chipchat bot and
// a Go bot with the same user read each other's questions (the _asked<bot>
// marker in the conversation's meta).
//
// It is configured the way a chipchat bot is, from the environment
// (webhook.NewBotFromEnv with chipchat's names: TOKEN, APIHOST, SECRET,
// WEBHOOK_PATH, and CHATSHIPPER_LISTEN_ADDR or PORT), and prints one line of
// JSON on stdout, {"url": "<webhook URL>"}, once it listens. When a contact
// writes "go ask" it asks "What is your favorite color?" with the answer
// named "color"; the answer "color" replies "Go bot: <text> is a fine
// color." It runs until stdin is closed or it gets SIGINT or SIGTERM.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "gobot:", err)
		os.Exit(1)
	}
}

func run() error {
	bot, err := webhook.NewBotFromEnv(nil)
	if err != nil {
		return err
	}
	h := bot.Handler
	if err := h.RegisterAnswer("color", func(ctx context.Context, c *webhook.Conversation, m *chatshipper.Message) error {
		_, err := c.Say(ctx, "Go bot: "+m.Text+" is a fine color.")
		return err
	}); err != nil {
		return err
	}
	if err := h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		_, err = c.Ask(ctx, "What is your favorite color?", "color")
		return err
	}, webhook.MessageRole(chatshipper.RoleContact), webhook.OnTextFold("go ask")); err != nil {
		return err
	}

	ln, err := net.Listen("tcp", bot.Addr)
	if err != nil {
		return err
	}
	info, err := json.Marshal(map[string]string{"url": "http://" + ln.Addr().String() + bot.Path})
	if err != nil {
		return err
	}
	fmt.Println(string(info))

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		stop()
	}()
	return bot.Serve(ctx, ln)
}
