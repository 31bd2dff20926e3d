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
	"sort"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/examples/internal/setup"
)

func main() {
	env, err := setup.Connect()
	if err != nil {
		setup.Fail("connecting", err)
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
		setup.Fail("creating the conversation", err)
	}
	fmt.Printf("created conversation %s\n", conv.ID)
	show(ctx, c, conv.ID, "after create + /notify")

	if _, _, err := c.Conversations.Send(ctx, conv.ID,
		chatshipper.Chat("This conversation was opened by the quickstart."),
		chatshipper.Chat("An internal note").Backchannel()); err != nil {
		setup.Fail("sending messages", err)
	}
	show(ctx, c, conv.ID, "after 2 messages")

	step(ctx, c, conv.ID, "/accept", chatshipper.Accept())
	step(ctx, c, conv.ID, "/set engagement high", chatshipper.SetMeta("engagement", "high"))
	step(ctx, c, conv.ID, "/leave", chatshipper.Leave())
}

func step(ctx context.Context, c *chatshipper.Client, id, label string, cmd chatshipper.MessageInput) {
	if _, _, err := c.Conversations.Command(ctx, id, cmd); err != nil {
		setup.Fail(label, err)
	}
	show(ctx, c, id, "after "+label)
}

// show prints the conversation's status, participants and meta.
func show(ctx context.Context, c *chatshipper.Client, id, label string) {
	conv, _, err := c.Conversations.Get(ctx, id, chatshipper.NewQuery().Populate("participants.user", "name"))
	if err != nil {
		setup.Fail("reading the conversation", err)
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
	if len(conv.Meta) > 0 {
		keys := make([]string, 0, len(conv.Meta))
		for k := range conv.Meta {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var kv []string
		for _, k := range keys {
			kv = append(kv, fmt.Sprintf("%s=%v", k, conv.Meta[k]))
		}
		line += " meta={" + strings.Join(kv, " ") + "}"
	}
	fmt.Println(line)
}
