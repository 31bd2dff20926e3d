// Command forward moves a conversation from one agent to another with the
// documented /leave + /join pair (chatshipper.Forward).
//
// Without -conversation it creates one conversation per starting status
// (queued, active, closed) and prints the status before and after each
// forward; with -conversation it forwards that one. Against the embedded fake
// server (no CHATSHIPPER_TOKEN) the two agents are seeded users; against a
// real account pass -from and -to user IDs.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/examples/internal/setup"
)

func main() {
	from := flag.String("from", "", "user ID of the agent handing over")
	to := flag.String("to", "", "user ID of the agent taking over")
	convID := flag.String("conversation", "", "conversation to forward (default: one new conversation per starting status)")
	flag.Parse()
	if err := run(*from, *to, *convID); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run(from, to, convID string) error {
	env, err := setup.Connect()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer env.Close()
	c := env.Client
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	if env.Fake != nil {
		from, to = env.Fake.Seed.AgentUserIDs[0], env.Fake.Seed.AgentUserIDs[1]
	}
	if from == "" || to == "" {
		return errors.New("arguments: -from and -to are required with a real account")
	}
	if convID != "" {
		return forward(ctx, c, convID, from, to)
	}
	// One new conversation per starting status; each starts with an answered
	// message (the bot's), so the /leave would close it when nobody else has
	// accepted, and the /join re-opens a closed conversation.
	starts := []struct {
		status string
		setup  []chatshipper.MessageInput
	}{
		{"queued", []chatshipper.MessageInput{chatshipper.Notify()}},
		{"active", []chatshipper.MessageInput{chatshipper.Accept().As(from)}},
		{"closed", []chatshipper.MessageInput{chatshipper.Accept().As(from), chatshipper.Leave().As(from)}},
	}
	for _, st := range starts {
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
			Name:     "Forwarding demo (" + st.status + ")",
			Messages: append([]chatshipper.MessageInput{chatshipper.Chat("Can someone take this over?")}, st.setup...),
		})
		if err != nil {
			return fmt.Errorf("creating the %s conversation: %w", st.status, err)
		}
		fmt.Printf("== starting status %s\n", st.status)
		if err := forward(ctx, c, conv.ID, from, to); err != nil {
			return err
		}
	}
	fmt.Println("(a conversation whose contact's last message is unanswered ends queued instead, unless another agent accepted it; see chatshipper.Forward)")
	return nil
}

// forward sends the /leave + /join pair and shows the conversation before and after.
func forward(ctx context.Context, c *chatshipper.Client, convID, from, to string) error {
	if err := show(ctx, c, convID, "before"); err != nil {
		return err
	}
	msgs, _, err := c.Conversations.Send(ctx, convID, chatshipper.Forward(from, to)...)
	if err != nil {
		return fmt.Errorf("forwarding: %w", err)
	}
	if len(msgs) == 2 {
		fmt.Printf("sent %q (user %s) and %q (user %s)\n", msgs[0].Text, msgs[0].User.ID, msgs[1].Text, msgs[1].User.ID)
	}
	return show(ctx, c, convID, "after")
}

func show(ctx context.Context, c *chatshipper.Client, id, label string) error {
	conv, _, err := c.Conversations.Get(ctx, id, nil)
	if err != nil {
		return fmt.Errorf("reading the conversation: %w", err)
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
	return nil
}
