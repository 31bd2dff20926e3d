// Command paginate walks many conversations with ListIter and filters, and
// prints the totals the API sends in its list headers.
//
// Against the embedded fake server (no CHATSHIPPER_TOKEN) it first seeds -n
// conversations; against a real account it reads what is there.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/examples/internal/setup"
)

func main() {
	n := flag.Int("n", 1000, "conversations to seed in the fake server")
	pageSize := flag.Int("limit", 200, "page size")
	flag.Parse()
	if err := run(*n, *pageSize); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

func run(n, pageSize int) error {
	if n < 0 || pageSize < 1 {
		return errors.New("-n must be at least 0 and -limit at least 1")
	}
	env, err := setup.Connect()
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer env.Close()
	c := env.Client
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	if env.Fake != nil {
		seed(env, n)
		fmt.Printf("seeded %d conversations\n", n)
	}

	// One small page to read the totals from the headers.
	all := chatshipper.NewQuery().Limit(1)
	_, resp, err := c.Conversations.List(ctx, all)
	if err != nil {
		return fmt.Errorf("listing conversations: %w", err)
	}
	fmt.Printf("X-Total: %d conversations (X-Total-Pages %d at 1 per page)\n", resp.Total, resp.TotalPages)

	statuses := []chatshipper.ConversationStatus{chatshipper.StatusQueued, chatshipper.StatusActive, chatshipper.StatusClosed}
	for _, st := range statuses {
		q := chatshipper.NewQuery().Where("status", chatshipper.Eq(st)).Limit(pageSize)
		_, resp, err := c.Conversations.List(ctx, q)
		if err != nil {
			return fmt.Errorf("listing %s conversations: %w", st, err)
		}
		fmt.Printf("status=%-7s X-Total %4d, %d page(s) of %d\n", st, resp.Total, resp.TotalPages, pageSize)
	}

	// Walk every queued or active contact conversation, newest first.
	q := chatshipper.NewQuery().
		Where("status", chatshipper.In(chatshipper.StatusQueued, chatshipper.StatusActive)).
		Where("type", chatshipper.Eq(chatshipper.ConversationContact)).
		Select("name", "status", "createdAt").
		Sort("-createdAt").
		Limit(pageSize)
	count, first, last := 0, "", ""
	start := time.Now()
	for conv, err := range c.Conversations.ListIter(ctx, q) {
		if err != nil {
			return fmt.Errorf("iterating over open contact conversations: %w", err)
		}
		if count == 0 {
			first = conv.Name
		}
		last = conv.Name
		count++
	}
	fmt.Printf("ListIter: %d open contact conversations in %s (newest %q, oldest %q)\n",
		count, time.Since(start).Round(time.Millisecond), first, last)
	return nil
}

// seed stores n conversations in the fake server directly (the API would take
// n requests at 20 per second).
func seed(env *setup.Env, n int) {
	statuses := []string{"queued", "active", "closed"}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		ts := base.Add(time.Duration(i) * time.Minute).Format("2006-01-02T15:04:05.000Z")
		env.Fake.Put("conversations", map[string]any{
			"name": fmt.Sprintf("Conversation %04d", i), "type": "contact", "status": statuses[i%3],
			"organization": env.Fake.Seed.OrganizationID, "participants": []any{}, "messages": []any{},
			"createdAt": ts, "updatedAt": ts,
		})
	}
}
