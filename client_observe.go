package chatshipper

import (
	"context"
	"fmt"
	"net/http"
)

// The hooks a receiver of events outside the client (package webhook, a queue
// consumer) uses to keep the client's bot loop guard and own-user filter
// informed.

// SelfUserID returns the user ID of the token's own user: from the token's
// claims (or the login answer of a [RefreshingTokenSource]), else by one
// lookup of GET /v2/users/me, cached once it succeeds. It returns an error
// matching [ErrSelfUnknown] when neither tells.
//
// ChatShipper API docs: https://developers.chatshipper.com/docs/api-introduction
func (c *Client) SelfUserID(ctx context.Context) (string, error) {
	if ctx == nil {
		return "", argError("ctx", "nil context")
	}
	if id := c.selfUserID(ctx); id != "" {
		return id, nil
	}
	u, _, err := doJSON[User](ctx, c, http.MethodGet, "users/me", nil)
	if err != nil {
		return "", fmt.Errorf("%w: GET /v2/users/me: %w", ErrSelfUnknown, err)
	}
	if !IsValidID(u.ID) {
		return "", fmt.Errorf("%w: GET /v2/users/me answered no user ID", ErrSelfUnknown)
	}
	c.setSelf(u.ID)
	return u.ID, nil
}

// ObserveMessages tells the loop guard about messages the caller saw
// elsewhere (a webhook, a queue), so that a reply from a contact or agent
// resets the bot's consecutive-message count. Messages without a
// conversation reference and nil entries are ignored. It is safe for
// concurrent use and does nothing when the loop guard is off.
func (c *Client) ObserveMessages(msgs ...*Message) {
	c.observeMessages(msgs)
}
