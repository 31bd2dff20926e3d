package chatshipper

import (
	"context"
	"sync"
)

// ObserveReply tells the loop guard that an agent or the contact replied in a
// conversation now, which resets its consecutive-message count. The SDK already
// does this for messages it reads (listings, gets, populated conversations,
// webhook events).
func (c *Client) ObserveReply(conversationID string) {
	c.guard.reset(conversationID)
}

// observeMessages feeds messages the SDK has read to the loop guard.
func (c *Client) observeMessages(msgs []*Message) {
	if c.guard == nil {
		return
	}
	for _, m := range msgs {
		if m == nil || m.Conversation.ID == "" {
			continue
		}
		c.guard.observe(m.Conversation.ID, string(m.Role), m.User.ID, m.CreatedAt.Time)
	}
}

// observeConversations feeds the populated messages of conversations.
func (c *Client) observeConversations(convs []*Conversation) {
	if c.guard == nil {
		return
	}
	for _, conv := range convs {
		if conv == nil || conv.ID == "" {
			continue
		}
		for _, r := range conv.Messages {
			if m := r.Value; m != nil {
				c.guard.observe(conv.ID, string(m.Role), m.User.ID, m.CreatedAt.Time)
			}
		}
	}
}

// selfState caches the client's own user ID.
type selfState struct {
	mu sync.Mutex
	id string
}

// selfUserID returns the client's own user ID: the _id claim of its token
// (read without verifying), or "" when the token is not a readable JWT.
func (c *Client) selfUserID(ctx context.Context) string {
	c.self.mu.Lock()
	id := c.self.id
	c.self.mu.Unlock()
	if id != "" || c.tokens == nil {
		return id
	}
	if rs, ok := c.tokens.(*RefreshingTokenSource); ok {
		if u := rs.Current().User; u != "" {
			id = u
		}
	}
	if id == "" {
		tok, err := c.tokens.Token(ctx)
		if err != nil {
			return ""
		}
		id = UserIDFromToken(tok)
	}
	if id != "" {
		c.setSelf(id)
	}
	return id
}

func (c *Client) setSelf(id string) {
	c.self.mu.Lock()
	c.self.id = id
	c.self.mu.Unlock()
	c.guard.setSelf(id)
}

// SelfUserID returns the ID of the user the client's token belongs to: the
// token's _id claim (read without verifying the signature), or the user named
// by the login answer of a RefreshingTokenSource. It makes no request and
// caches the answer. It returns ErrSelfUnknown when neither tells, for example
// for a token that is not a JWT. The webhook package uses it so that a bot
// does not answer its own messages.
//
// ChatShipper API docs: https://developers.chatshipper.com/docs/api-authentication
func (c *Client) SelfUserID(ctx context.Context) (string, error) {
	if ctx == nil {
		return "", argError("ctx", "nil context")
	}
	if id := c.selfUserID(ctx); id != "" {
		return id, nil
	}
	if err := ctx.Err(); err != nil {
		return "", err
	}
	return "", ErrSelfUnknown
}

// ObserveMessages tells the loop guard about messages the caller saw outside
// the SDK's own reads (a webhook event, a queue), so that a reply from the
// contact or an agent resets the bot's consecutive-message count in its
// conversation. Messages from the client's own user, bot messages and nil
// entries change nothing.
func (c *Client) ObserveMessages(msgs ...*Message) { c.observeMessages(msgs) }
