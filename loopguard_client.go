package chatshipper

import (
	"net/http"
	"strings"
	"time"
)

// WithLoopGuard turns the bot loop guard on (the default) or off. The guard
// refuses, before any I/O, a send that would break the server's bot loop
// limits (8 identical messages per conversation in 3 minutes, 20 consecutive
// messages per conversation per hour without an agent or contact reply).
func WithLoopGuard(enabled bool) Option {
	return func(c *config) error {
		c.noLoopGuard = !enabled
		return nil
	}
}

// WithLoopGuardConfig sets the loop guard's limits (zero fields keep the
// server's defaults) and turns it on.
func WithLoopGuardConfig(cfg LoopGuardConfig) Option {
	return func(c *config) error {
		c.guardCfg = cfg
		c.noLoopGuard = false
		return nil
	}
}

// loopKeys identifies each message's content for the identical-message limit:
// same type, text and meta. Messages sent with the contact role are relayed
// consumer messages, not bot messages, and are not counted.
func loopKeys(msgs []MessageInput) []string {
	keys := make([]string, 0, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if m.Role == RoleContact {
			continue
		}
		typ := m.Type
		if typ == "" {
			typ = MessageTypeChat
		}
		var b strings.Builder
		b.WriteString(string(typ))
		b.WriteByte(0)
		b.WriteString(m.Text)
		b.WriteByte(0)
		if mm := withoutDeliveryKey(m.Meta); len(mm) > 0 {
			meta, err := encodeJSON(mm) // map keys are sorted: a canonical form
			if err == nil {
				b.Write(meta)
			}
		}
		keys = append(keys, b.String())
	}
	return keys
}

// reserveSend checks a batch against the loop guard and records it as sent.
func (c *Client) reserveSend(conversationID string, msgs []MessageInput) error {
	if c.guard == nil {
		return nil
	}
	keys := loopKeys(msgs)
	if len(keys) == 0 {
		return nil
	}
	return c.guard.reserve(conversationID, keys)
}

// checkNewBatch checks the initial messages of a conversation being created:
// the batch alone must fit the limits.
func (c *Client) checkNewBatch(msgs []MessageInput) error {
	if c.guard == nil {
		return nil
	}
	keys := loopKeys(msgs)
	if len(keys) == 0 {
		return nil
	}
	return newLoopGuard(c.guardCfg).reserve("(new conversation)", keys)
}

// recordSent records the initial messages of a created conversation.
func (c *Client) recordSent(conversationID string, msgs []MessageInput) {
	if c.guard == nil {
		return
	}
	if keys := loopKeys(msgs); len(keys) > 0 {
		_ = c.guard.reserve(conversationID, keys)
	}
}

// loopLimitFromServer maps a server 429 that names a bot loop limit.
func loopLimitFromServer(req *http.Request, er *ErrorResponse, retryAfter time.Duration) error {
	e := &LoopLimitError{FromServer: true, Message: er.Message}
	low := strings.ToLower(er.Message)
	switch {
	case strings.Contains(low, "identical"):
		e.Kind, e.Max, e.Window = LoopLimitIdentical, 8, 3*time.Minute
	case strings.Contains(low, "consecutive"):
		e.Kind, e.Max, e.Window = LoopLimitConsecutive, 20, time.Hour
	}
	if retryAfter > 0 {
		e.RetryAt = time.Now().Add(retryAfter)
	}
	if req != nil {
		// .../conversations/{id}/messages
		parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
		for i := 0; i+1 < len(parts); i++ {
			if parts[i] == "conversations" && IsValidID(parts[i+1]) {
				e.ConversationID = parts[i+1]
			}
		}
	}
	return e
}
