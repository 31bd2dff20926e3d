package chatshipper

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DeliveryKeyMeta is the meta key under which every message (and every
// conversation) the SDK creates carries its delivery key while delivery
// tracking is on ([WithDeliveryTracking]). The API has no idempotency keys, but
// every message has a free-form meta object and messages can be listed by
// conversation with a filter on any meta field
// (https://developers.chatshipper.com/docs/api-resource-sets), so after an
// outcome that may or may not have created a message the SDK looks the key up
// instead of guessing. The value is 32 lowercase hex digits (128 random bits).
// A value the caller sets under this key is kept and used as the message's
// key: it must be 1 to 128 letters, digits, '-' or '_', hold a letter, not
// read as a number or a boolean ("1e5", "true"), and be unique within the
// conversation.
//
// One kind of message gets no key: a "/set" command ([SetMeta],
// [SetMetaValues]), because the server merges a command's meta into the
// conversation's meta, where a key would stay.
const DeliveryKeyMeta = "chatshipperDeliveryKey"

// deliveryClockSkew is how far before the start of a conversation create its
// lookup reaches back, for clocks of client and server that disagree.
const deliveryClockSkew = time.Hour

// deliveryLookupChunk is how many keys one lookup request asks for.
const deliveryLookupChunk = 50

// ErrDeliveryUnknown matches a [*DeliveryUnknownError]: a send may or may not
// have created its messages and the SDK could not find out.
var ErrDeliveryUnknown = errors.New("chatshipper: delivery outcome unknown")

// WithDeliveryTracking turns exactly-once delivery of messages on (the
// default) or off. With it on, every message created by
// [ConversationsService.Send], Command and Create carries a key in its meta
// under [DeliveryKeyMeta] (a conversation created by Create carries one too),
// and a send whose outcome is ambiguous (the connection failed after the
// request may have left, a 500/502/503/504 answer, an attempt timeout) is
// resolved by looking the keys up before anything is sent again; only
// messages that were not created are sent again, with the same keys, within
// the retry budget ([WithMaxRetries]). With it off, such a send returns its
// error and is never sent again (unless [WithRetryNonIdempotent]).
func WithDeliveryTracking(enabled bool) Option {
	return func(c *config) error {
		c.noDeliveryTracking = !enabled
		return nil
	}
}

// DeliveryUnknownError is returned when a send (or a conversation create)
// may or may not have created its messages and the lookup that would have
// told could not be answered. Nothing was sent again. Resolve it later with
// [MessagesService.Resolve](ctx, ConversationID, Keys...), or for a create with
// [ConversationsService.ResolveCreate](ctx, ConversationKey, Since, Keys...).
// errors.Is(err, ErrDeliveryUnknown) holds, and so does errors.Is for the
// causes (for example context.Canceled).
type DeliveryUnknownError struct {
	// ConversationID is the conversation the messages were sent to (empty
	// for a create whose conversation is unknown).
	ConversationID string
	// Keys are the delivery keys of the messages whose outcome is unknown, in
	// the order they were sent. When the lookup answered but a "/set" command
	// (which carries no key) could not be placed, they are the keys found
	// missing (not stored; send them again with the same keys).
	Keys []string
	// Unkeyed is how many "/set" commands (sent without a key) have an
	// unknown outcome. Setting the same values again leaves the conversation
	// as it was, but the command may then appear twice in its messages.
	Unkeyed int
	// ConversationKey is, for a create, the delivery key of the conversation.
	ConversationKey string
	// Since is, for a create, the earliest creation time to search from.
	Since time.Time
	// Err is the outcome of the send that left the doubt.
	Err error
	// LookupErr is why the lookup failed.
	LookupErr error
}

// Error says which messages are in doubt and why.
func (e *DeliveryUnknownError) Error() string {
	var b strings.Builder
	b.WriteString("chatshipper: delivery unknown")
	if e.ConversationID != "" {
		fmt.Fprintf(&b, " for %d message(s) in conversation %s", len(e.Keys)+e.Unkeyed, e.ConversationID)
	} else if e.ConversationKey != "" {
		fmt.Fprintf(&b, " for conversation create with key %s", e.ConversationKey)
	}
	if e.Err != nil {
		fmt.Fprintf(&b, ": send: %v", e.Err)
	}
	if e.LookupErr != nil {
		fmt.Fprintf(&b, "; lookup: %v", e.LookupErr)
	}
	return b.String()
}

// Is matches ErrDeliveryUnknown.
func (e *DeliveryUnknownError) Is(target error) bool { return target == ErrDeliveryUnknown }

// Unwrap returns the send's outcome and the lookup's error.
func (e *DeliveryUnknownError) Unwrap() []error {
	var errs []error
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	if e.LookupErr != nil {
		errs = append(errs, e.LookupErr)
	}
	return errs
}

// deliveryCall travels in the context of a tracked POST: Do records its call
// state in it, and turns blind retries of the POST off (the lookup replaces them).
type deliveryCall struct{ st *callState }

type deliveryCallKey struct{}

// trackCall is Do's hook for tracked sends.
func trackCall(ctx context.Context, st *callState) {
	if d, ok := ctx.Value(deliveryCallKey{}).(*deliveryCall); ok {
		st.retryUnsafe = false
		d.st = st
	}
}

// newDeliveryKey returns 128 random bits as 32 hex digits, never a string a
// server could read as a number (such as all digits, or digits around one "e").
func newDeliveryKey() string {
	for {
		var b [16]byte
		_, _ = rand.Read(b[:]) // never fails (crypto/rand)
		if k := hex.EncodeToString(b[:]); validDeliveryKey(k) {
			return k
		}
	}
}

var deliveryKeyPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// validDeliveryKey reports whether k may be a delivery key: 1 to 128 letters,
// digits, '-' or '_', with at least one letter, and not a value a query
// could read as a number or a boolean (a lookup must compare it as text).
func validDeliveryKey(k string) bool {
	if !deliveryKeyPattern.MatchString(k) || !strings.ContainsFunc(k, func(r rune) bool { return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' }) {
		return false
	}
	if _, err := strconv.ParseFloat(k, 64); err == nil || errors.Is(err, strconv.ErrRange) {
		return false
	}
	switch strings.ToLower(k) {
	case "true", "false", "null", "undefined":
		return false
	}
	return true
}

const deliveryKeyRule = "must be 1 to 128 letters, digits, '-' or '_', with a letter, and not read as a number or boolean"

// checkDeliveryKey checks a caller-set key in meta.
func checkDeliveryKey(name string, meta Meta) error {
	v, ok := meta[DeliveryKeyMeta]
	if !ok {
		return nil
	}
	s, isStr := v.(string)
	if !isStr || !validDeliveryKey(s) {
		return argError(name+".meta."+DeliveryKeyMeta, deliveryKeyRule)
	}
	return nil
}

// checkDeliveryKeys checks the caller-set keys of a batch: each well formed,
// none used twice.
func checkDeliveryKeys(msgs []MessageInput) error {
	seen := map[string]bool{}
	for i := range msgs {
		name := "messages[" + itoa(i) + "]"
		if err := checkDeliveryKey(name, msgs[i].Meta); err != nil {
			return err
		}
		if k, ok := msgs[i].Meta[DeliveryKeyMeta].(string); ok {
			if seen[k] {
				return argError(name+".meta."+DeliveryKeyMeta, "key %q used twice in one batch", k)
			}
			seen[k] = true
		}
	}
	return nil
}

// withDeliveryKey returns meta with a delivery key (the caller's, or a new
// one), never modifying the caller's map.
func withDeliveryKey(meta Meta) (Meta, string) {
	if k, ok := meta[DeliveryKeyMeta].(string); ok && k != "" {
		return meta, k
	}
	k := newDeliveryKey()
	out := make(Meta, len(meta)+1)
	maps.Copy(out, meta)
	out[DeliveryKeyMeta] = k
	return out, k
}

// withDeliveryKeys returns copies of msgs that carry delivery keys, and the
// keys ("" for a "/set" command without a caller key: see DeliveryKeyMeta).
func withDeliveryKeys(msgs []MessageInput) ([]MessageInput, []string) {
	out := make([]MessageInput, len(msgs))
	keys := make([]string, len(msgs))
	for i, m := range msgs {
		if _, set := m.Meta[DeliveryKeyMeta]; set || !isSetCommand(m) {
			m.Meta, keys[i] = withDeliveryKey(m.Meta)
		}
		out[i] = m
	}
	return out, keys
}

// isSetCommand reports whether m is a "/set" command, whose meta the server
// merges into the conversation's meta.
func isSetCommand(m MessageInput) bool {
	if m.Type != MessageTypeCommand {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimSpace(m.Text), " ")
	return strings.EqualFold(name, "/set")
}

// nonEmpty returns the keys that are not "".
func nonEmpty(keys []string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		if k != "" {
			out = append(out, k)
		}
	}
	return out
}

// placement is what a lookup tells about the messages of one send.
type placement struct {
	stored      []*Message // found, in order (a "/set" placed as stored has no object and is left out)
	missing     []MessageInput
	missingKeys []string
	unknown     int // "/set" commands the keys cannot place
}

// place sorts the messages of a send by the lookup's answer. A batch is
// stored whole or in order, so what is stored is a prefix: a "/set" command
// (no key) before a message found was stored, one after a message not found
// was not, and one in between is unknown.
func place(msgs []MessageInput, keys []string, found map[string]*Message) placement {
	lastFound, firstMissing := -1, len(keys)
	for i, k := range keys {
		switch {
		case k == "":
		case found[k] != nil:
			lastFound = i
		case firstMissing == len(keys):
			firstMissing = i
		}
	}
	var p placement
	for i, k := range keys {
		switch {
		case k != "" && found[k] != nil:
			p.stored = append(p.stored, found[k])
		case k != "" || i > firstMissing:
			p.missing = append(p.missing, msgs[i])
			p.missingKeys = append(p.missingKeys, k)
		case i < lastFound:
			// stored, but without a key there is no object to return
		default:
			p.unknown++
		}
	}
	return p
}

// withoutDeliveryKey returns meta without the delivery key (nil when nothing
// else is left), so keys never make messages look different to the loop guard.
func withoutDeliveryKey(meta Meta) Meta {
	if _, ok := meta[DeliveryKeyMeta]; !ok {
		return meta
	}
	if len(meta) == 1 {
		return nil
	}
	out := maps.Clone(meta)
	delete(out, DeliveryKeyMeta)
	return out
}

// deliveryOutcome classifies a failed tracked POST: ambiguous when it may
// have created something, resendable when a message found missing may be
// sent again (a 500 is not retried by the retry policy, so it is not either).
func deliveryOutcome(err error, d *deliveryCall) (ambiguous, resendable bool) {
	var te *TransportError
	if errors.As(err, &te) {
		return te.MayHaveReachedServer(), true
	}
	var er *ErrorResponse
	if errors.As(err, &er) {
		switch er.StatusCode {
		case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true, true
		case http.StatusInternalServerError:
			return true, false
		}
		return false, false
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		// The caller's context ended; if an attempt had begun, the request
		// may have reached the server.
		return d.st != nil && d.st.attempts > 0, false
	}
	return false, false
}

// waitResend waits after an ambiguous outcome, before the lookup: the
// server's Retry-After, or the client's backoff, and at least floor (the
// delays the messages asked for, as a message with a delay may be stored
// only once its delay has passed). A Retry-After beyond the longest retry
// wait (WithRetryWait) is not waited for: the lookup runs at once and
// resend is false, as the retry policy would not send again either.
func (c *Client) waitResend(ctx context.Context, attempt int, err error, floor time.Duration) (resend bool, _ error) {
	var hresp *http.Response
	var er *ErrorResponse
	if errors.As(err, &er) {
		hresp = er.Response
	}
	d := backoff(c.waitMin, c.waitMax, attempt, hresp)
	resend = d <= c.waitMax
	if !resend {
		d = 0
	}
	d = max(d, floor)
	if d <= 0 {
		return resend, ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return resend, nil
	case <-ctx.Done():
		return resend, ctx.Err()
	}
}

// totalDelay is the sum of the delays msgs ask for (MessageInput.Delay).
func totalDelay(msgs []MessageInput) time.Duration {
	var d time.Duration
	for i := range msgs {
		d += time.Duration(msgs[i].Delay) * time.Millisecond
	}
	return d
}

// postMessages sends msgs in one POST: an object for one message, an array
// for a batch.
func (c *Client) postMessages(ctx context.Context, path string, msgs []MessageInput) ([]*Message, *Response, error) {
	var body any = msgs
	if len(msgs) == 1 {
		body = &msgs[0]
	}
	req, err := c.NewRequest(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, nil, err
	}
	var out messageList
	resp, err := c.Do(req, &out)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// sendMessages posts msgs to a conversation (path is its messages path).
// With delivery tracking on, an ambiguous outcome is resolved by looking the
// keys up: messages found are success; the missing ones are sent again, in
// order, with the same keys, within the retry budget. On an error the
// messages returned are those known to be stored.
func (c *Client) sendMessages(ctx context.Context, path, conversationID string, msgs []MessageInput) ([]*Message, *Response, error) {
	if c.noDeliveryTracking {
		return c.postMessages(ctx, path, msgs)
	}
	pending, keys := withDeliveryKeys(msgs)
	var stored []*Message
	for resends := 0; ; resends++ {
		d := &deliveryCall{}
		out, resp, err := c.postMessages(context.WithValue(ctx, deliveryCallKey{}, d), path, pending)
		if err == nil {
			return append(stored, out...), resp, nil
		}
		ambiguous, resendable := deliveryOutcome(err, d)
		if !ambiguous {
			return stored, resp, err
		}
		// Wait first, then look: a server still working on the request has
		// time to finish, and a message found missing is sent again at once.
		mayResend, lerr := c.waitResend(ctx, resends, err, totalDelay(pending))
		var found map[string]*Message
		var lresp *Response
		if lerr == nil {
			found, lresp, lerr = c.lookupMessages(ctx, conversationID, nonEmpty(keys))
			c.observeLookup(ctx, conversationID, len(nonEmpty(keys)), len(found), lerr)
		}
		if lerr != nil {
			return stored, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(keys), Unkeyed: len(keys) - len(nonEmpty(keys)), Err: err, LookupErr: lerr}
		}
		// The messages found are a prefix of the batch and the missing ones
		// the rest; should the server ever store a batch with a gap, the
		// missing messages are still sent (once each, in their order), after
		// the ones found.
		p := place(pending, keys, found)
		stored = append(stored, p.stored...)
		if p.unknown > 0 {
			return stored, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(p.missingKeys), Unkeyed: p.unknown, Err: err}
		}
		if len(p.missing) == 0 {
			return stored, lresp, nil
		}
		if !resendable || !mayResend || resends >= c.maxRetries {
			return stored, resp, err // known: the missing messages were not created
		}
		c.observeResend(ctx, conversationID, len(p.missing))
		pending, keys = p.missing, p.missingKeys
	}
}

// keyFilter matches one key (Eq) or several (In).
func keyFilter(keys []string) Filter {
	if len(keys) == 1 {
		return Eq(keys[0])
	}
	vs := make([]any, len(keys))
	for i, k := range keys {
		vs[i] = k
	}
	return In(vs...)
}

// lookupMessages finds the messages of a conversation carrying keys.
//
// GET /v2/messages?conversation={id}&meta.<DeliveryKeyMeta>=[k1,k2,...]
func (c *Client) lookupMessages(ctx context.Context, conversationID string, keys []string) (map[string]*Message, *Response, error) {
	found := make(map[string]*Message, len(keys))
	var last *Response
	for start := 0; start < len(keys); start += deliveryLookupChunk {
		chunk := keys[start:min(start+deliveryLookupChunk, len(keys))]
		q := NewQuery().Where("conversation", Eq(conversationID)).
			Where("meta."+DeliveryKeyMeta, keyFilter(chunk)).Limit(4 * deliveryLookupChunk)
		msgs, resp, err := c.Messages.List(ctx, q)
		if err != nil {
			return nil, resp, err
		}
		last = resp
		for _, m := range msgs {
			if k, ok := m.Meta.Get(DeliveryKeyMeta).(string); ok && found[k] == nil {
				found[k] = m
			}
		}
	}
	return found, last, nil
}

// Resolve finds out which messages of a conversation were stored, by their
// delivery keys (see [DeliveryKeyMeta]): typically the ConversationID and Keys
// of a [*DeliveryUnknownError]. The result has one entry per key, in the same
// order: the stored message, or nil when no message carries that key (it was
// not created, and may be sent again with the same key). Keys are checked
// before any I/O.
//
// GET /v2/messages?conversation={id}&meta.chatshipperDeliveryKey=[k1,k2,...]
func (s *MessagesService) Resolve(ctx context.Context, conversationID string, keys ...string) ([]*Message, *Response, error) {
	if err := s.r.check(); err != nil {
		return nil, nil, err
	}
	if err := checkID("conversationID", conversationID); err != nil {
		return nil, nil, err
	}
	if len(keys) == 0 {
		return nil, nil, argError("keys", "at least one key is required")
	}
	for i, k := range keys {
		if !validDeliveryKey(k) {
			return nil, nil, argError("keys["+itoa(i)+"]", deliveryKeyRule)
		}
	}
	found, resp, err := s.r.client.lookupMessages(ctx, conversationID, keys)
	if err != nil {
		return nil, resp, err
	}
	out := make([]*Message, len(keys))
	for i, k := range keys {
		out[i] = found[k]
	}
	return out, resp, nil
}

// createTracked creates a conversation; with delivery tracking on, the
// conversation and its initial messages carry delivery keys and an ambiguous
// outcome is resolved by looking the conversation up by its key.
func (s *ConversationsService) createTracked(ctx context.Context, cc *ConversationCreate) (*Conversation, *Response, error) {
	c := s.r.client
	if c == nil || c.noDeliveryTracking || cc == nil {
		return s.r.create(ctx, cc)
	}
	if err := checkDeliveryKey("conversation", cc.Meta); err != nil {
		return nil, nil, err
	}
	body := *cc
	var convKey string
	body.Meta, convKey = withDeliveryKey(cc.Meta)
	var msgKeys []string
	body.Messages, msgKeys = withDeliveryKeys(cc.Messages)
	since := time.Now().Add(-deliveryClockSkew)
	for resends := 0; ; resends++ {
		d := &deliveryCall{}
		conv, resp, err := s.r.create(context.WithValue(ctx, deliveryCallKey{}, d), &body)
		if err == nil {
			return conv, resp, nil
		}
		ambiguous, resendable := deliveryOutcome(err, d)
		if !ambiguous {
			return nil, resp, err
		}
		unknown := func(lerr error) error {
			return &DeliveryUnknownError{ConversationKey: convKey, Since: since, Keys: nonEmpty(msgKeys), Err: err, LookupErr: lerr}
		}
		mayResend, lerr := c.waitResend(ctx, resends, err, totalDelay(body.Messages)) // see sendMessages
		var lresp *Response
		if lerr == nil {
			conv, lresp, lerr = s.findCreated(ctx, convKey, since, nonEmpty(msgKeys))
			c.observeCreateLookup(ctx, conv, lerr)
		}
		if lerr != nil {
			return nil, resp, unknown(lerr)
		}
		if conv != nil {
			if len(body.Messages) > 0 {
				// The conversation is there; make sure its initial messages are
				// too (sending only the missing ones, in order).
				if _, _, serr := c.completeMessages(ctx, conv.ID, body.Messages, msgKeys); serr != nil {
					return conv, lresp, serr
				}
			}
			return conv, lresp, nil
		}
		if !resendable || !mayResend || resends >= c.maxRetries {
			return nil, resp, err
		}
		c.observeResend(ctx, "", 1)
	}
}

// completeMessages sends those of msgs (already keyed) that are not yet
// stored in the conversation.
func (c *Client) completeMessages(ctx context.Context, conversationID string, msgs []MessageInput, keys []string) ([]*Message, *Response, error) {
	found, resp, err := c.lookupMessages(ctx, conversationID, nonEmpty(keys))
	c.observeLookup(ctx, conversationID, len(nonEmpty(keys)), len(found), err)
	if err != nil {
		return nil, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(keys), Unkeyed: len(keys) - len(nonEmpty(keys)), LookupErr: err}
	}
	p := place(msgs, keys, found)
	if p.unknown > 0 {
		return p.stored, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(p.missingKeys), Unkeyed: p.unknown}
	}
	missing := p.missing
	if len(missing) == 0 {
		return nil, resp, nil
	}
	path, err := itemPath(conversationsPath, "conversationID", conversationID)
	if err != nil {
		return nil, nil, err
	}
	return c.sendMessages(ctx, path+"/messages", conversationID, missing)
}

// findCreated looks a created conversation up: by the key in its meta, or
// (when the server appended to an existing contact's conversation, whose meta
// is not replaced) by the keys of its initial messages. since bounds both
// searches, as the API wants an indexed filter beside a meta filter.
//
// GET /v2/conversations?meta.<DeliveryKeyMeta>={key}&createdAt=>={since}
func (s *ConversationsService) findCreated(ctx context.Context, key string, since time.Time, msgKeys []string) (*Conversation, *Response, error) {
	q := NewQuery().Where("meta."+DeliveryKeyMeta, Eq(key)).Where("createdAt", Gte(since)).Limit(1)
	convs, resp, err := s.List(ctx, q)
	if err != nil {
		return nil, resp, err
	}
	if len(convs) > 0 {
		return convs[0], resp, nil
	}
	if len(msgKeys) == 0 {
		return nil, resp, nil
	}
	chunk := msgKeys[:min(deliveryLookupChunk, len(msgKeys))]
	mq := NewQuery().Where("createdAt", Gte(since)).Where("meta."+DeliveryKeyMeta, keyFilter(chunk)).Limit(1)
	msgs, resp, err := s.r.client.Messages.List(ctx, mq)
	if err != nil {
		return nil, resp, err
	}
	if len(msgs) == 0 || msgs[0].Conversation.ID == "" {
		return nil, resp, nil
	}
	return s.Get(ctx, msgs[0].Conversation.ID, nil)
}

// ResolveCreate finds a conversation whose create ended in a
// *DeliveryUnknownError: pass its ConversationKey, Since and Keys. It returns
// the conversation, or nil (and no error) when none was created, in which
// case the create may be sent again. It does not send missing initial
// messages: check them with [MessagesService.Resolve].
//
// GET /v2/conversations?meta.chatshipperDeliveryKey={key}&createdAt=>={since}
func (s *ConversationsService) ResolveCreate(ctx context.Context, key string, since time.Time, messageKeys ...string) (*Conversation, *Response, error) {
	if err := s.r.check(); err != nil {
		return nil, nil, err
	}
	if !validDeliveryKey(key) {
		return nil, nil, argError("key", deliveryKeyRule)
	}
	if since.IsZero() {
		return nil, nil, argError("since", "must not be zero")
	}
	for i, k := range messageKeys {
		if !validDeliveryKey(k) {
			return nil, nil, argError("messageKeys["+itoa(i)+"]", deliveryKeyRule)
		}
	}
	return s.findCreated(ctx, key, since, messageKeys)
}
