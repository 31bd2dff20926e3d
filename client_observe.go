package chatshipper

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// ObserveReply tells the loop guard that an agent or the contact replied in a
// conversation now, which resets the bot's consecutive-message count there.
// The SDK already does this for messages it reads (listings, gets, populated
// conversations, webhook events) and for messages it sends with role agent or
// contact.
func (c *Client) ObserveReply(conversationID string) {
	c.observeReply(context.Background(), conversationID, time.Time{})
}

// observeReply records a reply at createdAt, a time on the server's clock
// (now when zero), placed on the client's clock (see serverClock.toClient).
func (c *Client) observeReply(ctx context.Context, conversationID string, createdAt time.Time) {
	if conversationID == "" || c.knownNotBot() {
		return
	}
	now := time.Now()
	if createdAt.IsZero() {
		createdAt = now
	} else {
		createdAt = c.clock.toClient(createdAt, now)
	}
	key := LoopGuardKey{Bot: c.selfUserID(ctx), Conversation: conversationID}
	_ = c.guard.store.Reset(context.WithoutCancel(ctx), key, createdAt, "")
}

// observe feeds one message the SDK has read to the loop guard: a message
// with role agent or contact, from any user (the bot's own messages sent with
// role agent included, as the server counts them), is a reply.
func (c *Client) observe(conversationID string, m *Message) {
	if m == nil || conversationID == "" || !isReply(m.Role) {
		return
	}
	c.observeReply(context.Background(), conversationID, m.CreatedAt.Time)
}

// observeMessages feeds messages the SDK has read to the loop guard.
func (c *Client) observeMessages(msgs []*Message) {
	if c.guard == nil {
		return
	}
	for _, m := range msgs {
		if m != nil {
			c.observe(m.Conversation.ID, m)
		}
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
			c.observe(conv.ID, r.Value)
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
// conversation (the client's own messages with those roles included: the
// server counts them as replies too). Bot messages and nil entries change
// nothing.
func (c *Client) ObserveMessages(msgs ...*Message) { c.observeMessages(msgs) }

// serverClock is what the client knows of the server's clock, from the Date
// header of the API's answers: the range the offset (server minus client)
// lay in at the last answer. The API's timestamps (a message's createdAt)
// are on the server's clock, while the loop guard counts on the client's.
type serverClock struct {
	mu     sync.Mutex
	known  bool
	lo, hi time.Duration
}

// observe takes the Date of an answer to a request sent at sent and
// received at received. The server stamped it at a moment of the client's
// clock between the two, at a time of its own between date and date plus
// the second Date truncates.
func (sc *serverClock) observe(date string, sent, received time.Time) {
	d, err := http.ParseTime(date)
	if err != nil {
		return
	}
	sc.mu.Lock()
	sc.known, sc.lo, sc.hi = true, d.Sub(received), d.Add(time.Second).Sub(sent)
	sc.mu.Unlock()
}

// toClient places t, a time on the server's clock, on the client's, at the
// earliest moment it can have been and never after now. When the last answer
// cannot tell the clocks apart (they agree within the Date's second and the
// round trip), or no answer was seen, t is taken as it is.
//
// Earliest, because the loop guard frees the messages counted at or before
// a reply: placed early, a reply frees fewer messages than it might (the bot
// is refused sooner), never more (which would let it run into the server's
// block).
func (sc *serverClock) toClient(t, now time.Time) time.Time {
	sc.mu.Lock()
	known, lo, hi := sc.known, sc.lo, sc.hi
	sc.mu.Unlock()
	if known && (lo > 0 || hi < 0) {
		t = t.Add(-hi)
	}
	if t.After(now) {
		t = now
	}
	return t
}
