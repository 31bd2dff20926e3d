package webhook_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
)

const exampleBody = `{"id":"3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90","event":"message.create.contact.chat",` +
	`"data":{"conversation":{"id":"65f2c1d0e4b0a1b2c3d4e5f0","type":"contact"},` +
	`"message":{"id":"65f2c2a5e4b0a1b2c3d4e5f6","role":"contact","type":"chat","text":"Hello"}}}`

// A handler that answers contacts who say hello. Here one signed delivery is
// posted to it directly; in production it is served at the webhook's URL.
func ExampleNewHandler() {
	const secret = "example-secret"
	h, err := webhook.NewHandler(webhook.WithSecret(secret))
	if err != nil {
		fmt.Println(err)
		return
	}
	err = h.Handle("message.create.contact.chat", func(_ context.Context, e *webhook.Event) error {
		fmt.Printf("%s wrote %q in %s\n", e.Data.Message.Role, e.Data.Message.Text, e.ConversationID())
		return nil
	}, webhook.OnTextFold("hello"), webhook.MessageRole(chatshipper.RoleContact))
	if err != nil {
		fmt.Println(err)
		return
	}

	body := []byte(exampleBody)
	r := httptest.NewRequest(http.MethodPost, "/webhook", bytes.NewReader(body))
	r.Header.Set(webhook.SignatureHeader, webhook.Sign(body, secret))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	fmt.Println(w.Code)
	// Output:
	// contact wrote "Hello" in 65f2c1d0e4b0a1b2c3d4e5f0
	// 200
}

// A queue consumer or serverless function that received the raw body itself
// verifies and decodes it, then hands the event to the same handler.
func ExampleHandler_Dispatch() {
	const secret = "example-secret"
	h, err := webhook.NewHandler()
	if err != nil {
		fmt.Println(err)
		return
	}
	err = h.OnMessage(func(_ context.Context, e *webhook.Event) error {
		fmt.Println("handled", e.Name)
		return nil
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	body, header := []byte(exampleBody), webhook.Sign([]byte(exampleBody), secret) // as received
	if err := webhook.VerifySignature(body, header, secret); err != nil {
		fmt.Println(err)
		return
	}
	e, err := webhook.ParseEvent(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(h.Dispatch(context.Background(), e))
	fmt.Println(h.Dispatch(context.Background(), e)) // a duplicate: not handled again
	// Output:
	// handled message.create.contact.chat
	// <nil>
	// <nil>
}
