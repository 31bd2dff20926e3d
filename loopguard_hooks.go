package chatshipper

import (
	"context"
	"net/http"
	"time"
)

// Hooks between the services and the loop guard (ratelimit.go).

func (c *Client) observeMessages(msgs []*Message)                      {}
func (c *Client) observeConversations(cs []*Conversation)              {}
func (c *Client) recordSent(convID string, msgs []MessageInput)        {}
func (c *Client) reserveSend(convID string, msgs []MessageInput) error { return nil }

// loopLimitFromServer maps a server 429 that names a loop limit.
func loopLimitFromServer(req *http.Request, er *ErrorResponse, retryAfter time.Duration) error {
	e := &LoopLimitError{FromServer: true, Message: er.Message}
	if retryAfter > 0 {
		e.RetryAt = time.Now().Add(retryAfter)
	}
	return e
}

// selfUserID returns the client's own user ID (from the token's _id claim, or
// Users.Me), or "" when unknown.
func (c *Client) selfUserID(ctx context.Context) string { return "" }
