package chatshipper_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// A send whose connection drops after the server stored the message, and
// whose lookup then fails too, returns a *DeliveryUnknownError; one call
// settles it later.
func ExampleMessagesService_Resolve() {
	srv := chatshippertest.NewServer(nil)
	defer srv.Close()
	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL),
		chatshipper.WithMaxRetries(0), chatshipper.WithRetryWait(time.Millisecond, time.Second)) // short waits for the example
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "Orders"})
	if err != nil {
		log.Fatal(err)
	}
	srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/", Count: 1, Drop: chatshippertest.DropAfter})
	srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/messages", Count: 1, Status: 500})

	_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("Your order has shipped"))
	var unknown *chatshipper.DeliveryUnknownError
	if !errors.As(err, &unknown) {
		log.Fatal(err)
	}
	fmt.Println("outcome unknown:", errors.Is(err, chatshipper.ErrDeliveryUnknown))

	// Later: one entry per key, nil where nothing was stored.
	msgs, _, err := c.Messages.Resolve(ctx, unknown.ConversationID, unknown.Keys...)
	if err != nil {
		log.Fatal(err)
	}
	for i, m := range msgs {
		if m == nil {
			fmt.Println("not stored; send again with key", unknown.Keys[i])
			continue
		}
		fmt.Println("stored:", m.Text)
	}
	// Output:
	// outcome unknown: true
	// stored: Your order has shipped
}
