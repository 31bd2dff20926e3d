// Command quickstart walks a team conversation through its lifecycle: it
// creates the conversation with a /notify, sends messages, accepts it, sets
// meta data and leaves, printing the status and participants after each step.
//
// With no CHATSHIPPER_TOKEN it runs against the embedded fake server; with
// CHATSHIPPER_TOKEN (and optionally CHATSHIPPER_BASE_URL) against that account.
package main

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/examples/internal/setup"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run() error {
	env, err := setup.Connect()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer env.Close()
	c := env.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
		Name:     "Quickstart",
		Messages: []chatshipper.MessageInput{chatshipper.Chat("Hello from chatshipper-go"), chatshipper.Notify()},
	})
	if err != nil {
		return fmt.Errorf("creating the conversation: %w", err)
	}
	fmt.Printf("created conversation %s\n", conv.ID)
	if err := show(ctx, c, conv.ID, "after create + /notify"); err != nil {
		return err
	}

	if _, _, err := c.Conversations.Send(ctx, conv.ID,
		chatshipper.Chat("This conversation was opened by the quickstart."),
		chatshipper.Chat("An internal note").Backchannel()); err != nil {
		return fmt.Errorf("sending messages: %w", err)
	}
	if err := show(ctx, c, conv.ID, "after 2 messages"); err != nil {
		return err
	}

	steps := []struct {
		label string
		cmd   chatshipper.MessageInput
	}{
		{"/accept", chatshipper.Accept()},
		{"/set engagement high", chatshipper.SetMeta("engagement", "high")},
		{"/leave", chatshipper.Leave()},
	}
	for _, st := range steps {
		if err := step(ctx, c, conv.ID, st.label, st.cmd); err != nil {
			return err
		}
	}
	return nil
}

// step sends one slash command and shows the conversation after it.
func step(ctx context.Context, c *chatshipper.Client, id, label string, cmd chatshipper.MessageInput) error {
	if _, _, err := c.Conversations.Command(ctx, id, cmd); err != nil {
		return fmt.Errorf("sending %s: %w", label, err)
	}
	return show(ctx, c, id, "after "+label)
}

// show prints the conversation's status, participants and meta.
func show(ctx context.Context, c *chatshipper.Client, id, label string) error {
	conv, _, err := c.Conversations.Get(ctx, id, chatshipper.NewQuery().Populate("participants.user", "name"))
	if err != nil {
		return fmt.Errorf("reading the conversation %s: %w", id, err)
	}
	var parts []string
	for _, p := range conv.Participants {
		var flags []string
		for _, f := range []struct {
			on   bool
			name string
		}{{p.Active, "active"}, {p.Accepted, "accepted"}, {p.Inbox, "inbox"}} {
			if f.on {
				flags = append(flags, f.name)
			}
		}
		if len(flags) == 0 {
			flags = append(flags, "-")
		}
		parts = append(parts, fmt.Sprintf("%s (%s: %s)", p.Name, p.Role, strings.Join(flags, ",")))
	}
	line := fmt.Sprintf("%-28s status=%-7s participants=[%s]", label+":", conv.Status, strings.Join(parts, "; "))
	var keys []string
	meta := conv.Meta.Map()
	for k := range meta {
		if k != chatshipper.DeliveryKeyMeta { // the SDK's own exactly-once key
			keys = append(keys, k)
		}
	}
	if len(keys) > 0 {
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, fmt.Sprintf("%s=%v", k, meta[k]))
		}
		line += " meta={" + strings.Join(kv, " ") + "}"
	}
	fmt.Println(line)
	return nil
}
