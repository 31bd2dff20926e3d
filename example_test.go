package chatshipper_test

import (
	"context"
	"errors"
	"fmt"
	"log"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// The examples run against chatshippertest, the embedded fake server, so they
// need no account and no network.

func Example() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()

	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
		Name:     "Announcement",
		Messages: []chatshipper.MessageInput{chatshipper.Chat("I'm getting married!"), chatshipper.Notify()},
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(conv.Name, conv.Status, len(conv.Messages), "messages")
	// Output: Announcement queued 2 messages
}

func ExampleConversationsService_Send() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	c, _ := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
	ctx := context.Background()

	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "Support"})
	if err != nil {
		log.Fatal(err)
	}
	// An ordered, mixed batch of a message and commands, in one request.
	msgs, _, err := c.Conversations.Send(ctx, conv.ID,
		chatshipper.Chat("Taking this one"),
		chatshipper.Accept(),
		chatshipper.SetMeta("engagement", "high"))
	if err != nil {
		log.Fatal(err)
	}
	for _, m := range msgs {
		fmt.Println(m.Type, m.Text)
	}
	conv, _, _ = c.Conversations.Get(ctx, conv.ID, nil)
	fmt.Println(conv.Status, conv.Meta.Get("engagement"))
	// Output:
	// chat Taking this one
	// command /accept
	// command /set engagement high
	// active high
}

func ExampleConversationsService_ListIter() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	for i := range 450 {
		srv.Put("conversations", map[string]any{"name": fmt.Sprint("c", i), "type": "contact", "status": "queued"})
	}
	c, _ := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))

	q := chatshipper.NewQuery().Where("status", chatshipper.Eq(chatshipper.StatusQueued)).Select("name")
	n := 0
	for _, err := range c.Conversations.ListIter(context.Background(), q) {
		if err != nil {
			log.Fatal(err)
		}
		n++
	}
	fmt.Println(n, "conversations in", len(srv.Requests()), "requests")
	// Output: 450 conversations in 3 requests
}

func ExampleNewQuery() {
	q := chatshipper.NewQuery().
		Where("status", chatshipper.In("queued", "active")).
		Where("meta.intent", chatshipper.Eq("greeting")).
		Populate("messages", "type", "text").
		Sort("-createdAt").
		Limit(50)
	s, err := q.Encode()
	fmt.Println(s, err)

	// A value the server would read as an operator is refused.
	_, err = chatshipper.NewQuery().Where("status", chatshipper.Eq("!closed")).Encode()
	fmt.Println(errors.Is(err, chatshipper.ErrInvalidQuery))
	// Output:
	// limit=50&meta.intent=greeting&populate=messages%3Atype%7Ctext&sort=-createdAt&status=%5Bqueued%2Cactive%5D <nil>
	// true
}

func ExampleLoopLimitError() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	c, _ := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
	ctx := context.Background()
	conv, _, _ := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "Loop"})

	for i := 1; i <= 9; i++ {
		_, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("I've said this before..."))
		var le *chatshipper.LoopLimitError
		if errors.As(err, &le) {
			fmt.Printf("message %d refused before sending: %s limit, max %d per %s\n", i, le.Kind, le.Max, le.Window)
		}
	}
	// Output: message 9 refused before sending: identical limit, max 8 per 3m0s
}

func ExampleErrorResponse() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	c, _ := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))

	_, _, err := c.Conversations.Get(context.Background(), "5bb0277fd99faf11a3f4a37e", nil)
	var er *chatshipper.ErrorResponse
	if errors.As(err, &er) {
		fmt.Println(er.StatusCode, er.Message, errors.Is(err, chatshipper.ErrNotFound))
	}
	// Output: 404 Conversation not found true
}
