// Command forward moves a conversation from one agent to another with the
// documented /leave + /join pair (chatshipper.Forward).
//
// Against the embedded fake server (no CHATSHIPPER_TOKEN) the two agents are
// seeded users; against a real account pass -from and -to user IDs and
// optionally -conversation.
package main

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/examples/internal/setup"
)

func main() {
	from := flag.String("from", "", "user ID of the agent handing over")
	to := flag.String("to", "", "user ID of the agent taking over")
	convID := flag.String("conversation", "", "conversation to forward (default: a new one)")
	flag.Parse()

	env, err := setup.Connect()
	if err != nil {
		setup.Fail("connecting", err)
	}
	defer env.Close()
	c := env.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if env.Fake != nil {
		*from, *to = env.Fake.Seed.AgentUserIDs[0], env.Fake.Seed.AgentUserIDs[1]
	}
	if *from == "" || *to == "" {
		setup.Fail("arguments", fmt.Errorf("-from and -to are required with a real account"))
	}
	if *convID == "" {
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
			Name:     "Forwarding demo",
			Messages: []chatshipper.MessageInput{chatshipper.Chat("Can someone take this over?"), chatshipper.Accept().As(*from)},
		})
		if err != nil {
			setup.Fail("creating the conversation", err)
		}
		*convID = conv.ID
	}
	show(ctx, c, *convID, "before")
	msgs, _, err := c.Conversations.Send(ctx, *convID, chatshipper.Forward(*from, *to)...)
	if err != nil {
		setup.Fail("forwarding", err)
	}
	fmt.Printf("sent %q (user %s) and %q (user %s)\n", msgs[0].Text, msgs[0].User.ID, msgs[1].Text, msgs[1].User.ID)
	show(ctx, c, *convID, "after")
}

func show(ctx context.Context, c *chatshipper.Client, id, label string) {
	conv, _, err := c.Conversations.Get(ctx, id, nil)
	if err != nil {
		setup.Fail("reading the conversation", err)
	}
	var parts []string
	for _, p := range conv.Participants {
		state := "inactive"
		if p.Active {
			state = "active"
		}
		if p.Accepted {
			state += ",accepted"
		}
		parts = append(parts, fmt.Sprintf("%s %s", p.Name, state))
	}
	fmt.Printf("%-6s status=%s participants=[%s]\n", label+":", conv.Status, strings.Join(parts, "; "))
}
