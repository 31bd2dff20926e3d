package chatshipper

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"
)

// WithRateLimit sets the client-side request limit: at most n requests in any
// sliding window of one second (plus a 25 ms safety margin), shared by every
// goroutine using the client; every attempt, retries included, takes a slot.
// The default is 20, the server's limit per token. WithRateLimit(0) turns the
// limiter off.
func WithRateLimit(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return argError("WithRateLimit", "must not be negative, got %d", n)
		}
		c.rateLimit = n
		c.limiter = nil
		return nil
	}
}

// WithRateLimitMargin changes the safety margin added to the one-second window
// (default 25 ms), which keeps network jitter from putting one request too many
// into the server's second.
func WithRateLimitMargin(d time.Duration) Option {
	return func(c *config) error {
		if d < 0 || d > time.Second {
			return argError("WithRateLimitMargin", "must be between 0 and 1s, got %s", d)
		}
		c.rateMargin = d
		return nil
	}
}

// WithLimiter replaces the built-in limiter with l, for example a limiter
// shared between processes. If l also implements Pauser, a 429 with
// Retry-After pauses it.
func WithLimiter(l Limiter) Option {
	return func(c *config) error {
		if l == nil {
			return argError("WithLimiter", "nil Limiter (use WithRateLimit(0) to turn limiting off)")
		}
		c.limiter = l
		return nil
	}
}

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

// limiterTransport makes every attempt wait for a request slot.
type limiterTransport struct {
	limiter Limiter
	next    http.RoundTripper
}

func (t *limiterTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := t.limiter.Wait(req.Context()); err != nil {
		closeBody(req)
		return nil, err
	}
	return t.next.RoundTrip(req)
}

// timeoutTransport bounds one attempt, from sending the request to closing
// the response body, like http.Client.Timeout but under the limiter.
type timeoutTransport struct {
	timeout time.Duration
	next    http.RoundTripper
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timedOut := ctx.Err() != nil && req.Context().Err() == nil
		cancel()
		if timedOut {
			return nil, &AttemptTimeoutError{Limit: t.timeout, Err: err}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends an attempt's timeout when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// AttemptTimeoutError is the cause of a *TransportError when one attempt took
// longer than the per-attempt timeout (WithHTTPClient's Timeout, 60 s by
// default). It is a timeout (Timeout reports true) and unwraps to the
// transport's error, so errors.Is(err, context.DeadlineExceeded) holds, as
// for http.Client's own timeouts.
type AttemptTimeoutError struct {
	// Limit is the per-attempt timeout that was exceeded.
	Limit time.Duration
	// Err is the transport's error.
	Err error
}

// Error says how long the attempt was allowed.
func (e *AttemptTimeoutError) Error() string {
	return fmt.Sprintf("attempt timed out after %s: %v", e.Limit, e.Err)
}

// Unwrap returns the transport's error.
func (e *AttemptTimeoutError) Unwrap() error { return e.Err }

// Timeout reports true: this is a timeout.
func (e *AttemptTimeoutError) Timeout() bool { return true }

// pauseLimiter backs every goroutine off after a server 429 with Retry-After,
// for as long as the retry itself waits (Retry-After capped by the max wait).
func (c *Client) pauseLimiter(resp *http.Response) {
	p, ok := c.limiter.(Pauser)
	if !ok {
		return
	}
	if d, ok := parseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok && d > 0 {
		p.Pause(min(d, c.retry.RetryWaitMax))
	}
}

// LoopGuard returns the client's loop guard, or nil when it is off. Call its
// Reset method when you learn of an agent or contact reply the SDK did not see.
func (c *Client) LoopGuard() *LoopGuard { return c.guard }

// ObserveReply tells the loop guard that an agent or the contact replied in a
// conversation now, which resets its consecutive-message count. The SDK already
// does this for messages it reads (listings, gets, populated conversations,
// webhook events).
func (c *Client) ObserveReply(conversationID string) {
	c.guard.Reset(conversationID)
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
		if len(m.Meta) > 0 {
			meta, err := encodeJSON(m.Meta) // map keys are sorted: a canonical form
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
	return c.guard.Reserve(conversationID, keys)
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
	return NewLoopGuard(c.guardCfg).Reserve("(new conversation)", keys)
}

// recordSent records the initial messages of a created conversation.
func (c *Client) recordSent(conversationID string, msgs []MessageInput) {
	if c.guard == nil {
		return
	}
	if keys := loopKeys(msgs); len(keys) > 0 {
		_ = c.guard.Reserve(conversationID, keys)
	}
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
		c.guard.Observe(m.Conversation.ID, string(m.Role), m.User.ID, m.CreatedAt.Time)
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
				c.guard.Observe(conv.ID, string(m.Role), m.User.ID, m.CreatedAt.Time)
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
	c.guard.SetSelf(id)
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
