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
// A caller-set key is the caller's own idempotency key: before the first
// send the SDK looks it up (one GET per send that carries caller-set keys,
// for all of them), and a message already stored under it is returned
// instead of being sent again, however often the send is repeated (a webhook
// handler that runs twice, a second replica, a restart). Two sends with the
// same key running at the same time can still both store it: the lookup of
// one may come before the other's message is stored. The same holds for a
// key set in the meta of a [ConversationCreate].
//
// One kind of message gets no key: a "/set" command ([SetMeta],
// [SetMetaValues]), because the server merges a command's meta into the
// conversation's meta, where a key would stay.
const DeliveryKeyMeta = "chatshipperDeliveryKey"

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
// the retry budget ([WithMaxRetries]). A refusal (400, 413, 422) and a 2xx
// answer that does not list every message sent are checked by a lookup
// too. A key the caller set is looked up before the first send (see
// [DeliveryKeyMeta]). With it off, such a send
// returns its error and is never sent again (unless [WithRetryNonIdempotent]),
// and caller-set keys are sent as plain meta.
func WithDeliveryTracking(enabled bool) Option {
	return func(c *config) error {
		c.noDeliveryTracking = !enabled
		return nil
	}
}

// DeliveryUnknownError is returned when a send (or a conversation create)
// may or may not have created its messages and the lookup that would have
// told could not be answered, or when part of a send is stored and the rest
// was not sent again (see Keys): a plain error from a send means none of its
// messages is stored. Nothing was sent again. Resolve it later with
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
	// missing (not stored; send them again with the same keys). When the
	// lookup answered that part of the send is stored and the rest was not
	// sent again (LookupErr nil; Err says why), they are every key of the
	// send, in the order of its messages: Resolve them to learn which are
	// stored (those are also returned beside the error).
	Keys []string
	// Unkeyed is how many "/set" commands (sent without a key) have an
	// unknown outcome. Setting the same values again leaves the conversation
	// as it was, but the command may then appear twice in its messages.
	Unkeyed int
	// ConversationKey is, for a create, the delivery key of the conversation.
	ConversationKey string
	// Since is, for a create, when it started, in the client's clock: a
	// message found by a caller-set key counts only when stored after it
	// (see [ConversationsService.ResolveCreate]).
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

// deliveryCall is handed to Do (Client.do) with a tracked POST: Do records
// the request's state in it, for deliveryOutcome to read after the POST, and
// turns blind retries of the POST off (the lookup replaces them).
type deliveryCall struct{ st *callState }

// trackCall is Do's hook for tracked sends: d is nil for any other request.
func trackCall(d *deliveryCall, st *callState) {
	if d != nil {
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
		name := "messages[" + strconv.Itoa(i) + "]"
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

// placed is what a lookup tells about one message of a send.
type placed uint8

const (
	placedMissing placed = iota // not stored: may be sent again with its key
	placedStored                // stored (a "/set" command without a key has no object to return)
	placedUnknown               // a "/set" command without a key that the keys around it cannot place
)

// place sorts the messages of a send (keys[i] is the key of the i-th, "" for
// a "/set" command without one) by the lookup's answer. A batch is stored
// whole or in order, so what is stored is a prefix: a "/set" command before
// a message found was stored, one after a message not found was not, and one
// in between is unknown.
func place(keys []string, found map[string]*Message) []placed {
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
	out := make([]placed, len(keys))
	for i, k := range keys {
		switch {
		case k != "" && found[k] != nil:
			out[i] = placedStored
		case k != "" || i > firstMissing:
			out[i] = placedMissing
		case i < lastFound:
			out[i] = placedStored
		default:
			out[i] = placedUnknown
		}
	}
	return out
}

// pick returns the elements of s at the positions idx, in that order.
func pick[T any](s []T, idx []int) []T {
	out := make([]T, len(idx))
	for j, i := range idx {
		out[j] = s[i]
	}
	return out
}

// sameOutcome returns n copies of o.
func sameOutcome(n int, o sendOutcome) []sendOutcome {
	out := make([]sendOutcome, n)
	for i := range out {
		out[i] = o
	}
	return out
}

// callerKeys returns the keys the caller set in msgs' meta (checked before).
func callerKeys(msgs []MessageInput) []string {
	var out []string
	for i := range msgs {
		if k, ok := msgs[i].Meta[DeliveryKeyMeta].(string); ok && k != "" {
			out = append(out, k)
		}
	}
	return out
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
//
// A transport error is ambiguous only when the request may have left and the
// error is a network failure that can strike after it did (see
// mayHaveActed); any other transport error (a test double's "no responder",
// an error of the caller's own RoundTripper) fails at once, as the retry
// table of the package documentation says, without a lookup.
func deliveryOutcome(err error, d *deliveryCall) (ambiguous, resendable bool) {
	var te *TransportError
	if errors.As(err, &te) {
		return te.MayHaveReachedServer() && mayHaveActed(te.Err, d.st), true
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

// mayHaveActed reports whether the transport error err, of a request that
// may have left, leaves open whether the server acted on it: a redirect was
// answered (the server has seen the request, whatever failed later), or err
// is a network failure (the transient errors of retryableTransportError:
// a reset, an EOF, a timeout) or an attempt timeout.
func mayHaveActed(err error, st *callState) bool {
	if st != nil && st.hops > 1 {
		return true
	}
	var ate *AttemptTimeoutError
	return errors.As(err, &ate) || retryableTransportError(err)
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
// for a batch, as part of call (the observed call, nil without an observer).
// track, when set, makes it a tracked POST (see deliveryCall).
func (c *Client) postMessages(ctx context.Context, call *obsCall, path string, msgs []MessageInput, track *deliveryCall) ([]*Message, *Response, error) {
	var body any = msgs
	if len(msgs) == 1 {
		body = &msgs[0]
	}
	req, err := c.NewRequest(ctx, http.MethodPost, path, body)
	if err != nil {
		return nil, nil, err
	}
	var out messageList
	resp, err := c.do(req, &out, call, track)
	if err != nil {
		return nil, resp, err
	}
	return out, resp, nil
}

// sendPlan is a message send made ready by planSend: the messages with their
// delivery keys, and those already stored under a key the caller set.
type sendPlan struct {
	msgs   []MessageInput // with their delivery keys (tracking on)
	keys   []string       // msgs[i]'s key: "" for a "/set" command without one, all "" with tracking off
	stored []*Message     // per message: the message already stored under its caller key, nil to send
	resp   *Response      // the answer of the caller keys' lookup, when there was one
}

// toSend returns the positions of the messages that are to be sent.
func (p *sendPlan) toSend() []int {
	out := make([]int, 0, len(p.msgs))
	for i, m := range p.stored {
		if m == nil {
			out = append(out, i)
		}
	}
	return out
}

// planSend gives msgs their delivery keys (tracking on) and looks the keys
// the caller set up (see DeliveryKeyMeta), before anything is reserved with
// the loop guard or sent: a message already stored under its key is
// returned, neither sent nor counted again. On a lookup error nothing was
// sent.
func (c *Client) planSend(ctx context.Context, conversationID string, msgs []MessageInput) (*sendPlan, error) {
	p := &sendPlan{msgs: msgs, keys: make([]string, len(msgs)), stored: make([]*Message, len(msgs))}
	if c.noDeliveryTracking {
		return p, nil
	}
	p.msgs, p.keys = withDeliveryKeys(msgs)
	if own := callerKeys(msgs); len(own) > 0 {
		found, resp, err := c.lookupMessages(ctx, conversationID, own)
		p.resp = resp
		if err != nil {
			return p, err
		}
		for i, k := range p.keys {
			if k != "" {
				p.stored[i] = found[k]
			}
		}
	}
	return p, nil
}

// sendPlanned posts the messages of p that are not stored yet to a
// conversation (path is its messages path) and says, per message of p, what
// the server did with it (for the loop guard): one found stored by planSend
// is not created by this call. With delivery tracking on, see deliver.
func (c *Client) sendPlanned(ctx context.Context, call *obsCall, path, conversationID string, p *sendPlan) ([]*Message, []sendOutcome, *Response, error) {
	if c.noDeliveryTracking {
		out, resp, err := c.postMessages(ctx, call, path, p.msgs, nil)
		return out, sameOutcome(len(p.msgs), outcomeOf(resp, err)), resp, untrackedAnswer(conversationID, resp, len(out), len(p.msgs), err)
	}
	if len(p.toSend()) == 0 {
		return nonNil(p.stored), sameOutcome(len(p.msgs), outcomeNotCreated), p.resp, nil
	}
	return c.deliver(ctx, call, path, conversationID, p.msgs, p.keys, p.stored)
}

// nonNil returns the messages of ms that are not nil, in order.
func nonNil(ms []*Message) []*Message {
	out := make([]*Message, 0, len(ms))
	for _, m := range ms {
		if m != nil {
			out = append(out, m)
		}
	}
	return out
}

// deliver posts msgs, which carry their delivery keys (keys[i] is msgs[i]'s,
// "" for a "/set" command without one), to a conversation, each exactly once.
//
// The messages with an entry in stored (nil, or one entry per message) are
// already stored (found by their caller keys before the send: see planSend)
// and are returned, not sent; the others are sent, in order. After an
// ambiguous outcome the keys are looked up: messages found are success, the
// missing ones are sent again, in order, with the same keys, within the
// retry budget. A send that fails with some of its messages stored returns a
// *DeliveryUnknownError (see partlyStored).
//
// It returns the messages known to be stored, in the order of msgs, and, per
// message of msgs, what this call did: created, not created (never sent,
// refused, found missing, or stored by an earlier call) or unknown. The POSTs
// are part of call, the observed call (nil without an observer); the lookups
// are calls of their own.
func (c *Client) deliver(ctx context.Context, call *obsCall, path, conversationID string, msgs []MessageInput, keys []string, stored []*Message) ([]*Message, []sendOutcome, *Response, error) {
	got, extra, outcomes, resp, err := c.deliverEach(ctx, call, path, conversationID, msgs, keys, stored)
	return append(nonNil(got), extra...), outcomes, resp, partlyStored(conversationID, keys, got, outcomes, err)
}

// deliverEach is deliver with the stored messages by position: got[i] is
// msgs[i] as stored, or nil (not stored, unknown, or a "/set" command
// without a key whose object the lookup cannot return); extra holds the
// answers beyond the messages sent (never expected).
func (c *Client) deliverEach(ctx context.Context, call *obsCall, path, conversationID string, msgs []MessageInput, keys []string, stored []*Message) (got, extra []*Message, _ []sendOutcome, _ *Response, _ error) {
	got = make([]*Message, len(msgs))
	outcomes := make([]sendOutcome, len(msgs)) // outcomeUnknown until known
	pending := make([]int, 0, len(msgs))       // the positions still to send
	for i := range msgs {
		if i < len(stored) && stored[i] != nil {
			got[i], outcomes[i] = stored[i], outcomeNotCreated // stored by an earlier call
			continue
		}
		pending = append(pending, i)
	}
	if len(pending) == 0 {
		return got, extra, outcomes, nil, nil
	}
	for resends := 0; ; resends++ {
		batch := pick(msgs, pending)
		d := &deliveryCall{}
		out, resp, err := c.postMessages(ctx, call, path, batch, d)
		if err == nil {
			extra = append(extra, placeAnswer(got, pending, keys, out)...)
			resp, err = c.checkAnswer(ctx, conversationID, resp, got, outcomes, pending, keys) // delivery_answer.go
			return got, extra, outcomes, resp, err
		}
		ambiguous, resendable := deliveryOutcome(err, d)
		pendingKeys := pick(keys, pending)
		refused := !ambiguous && refusedContent(err) && len(nonEmpty(pendingKeys)) > 0
		if !ambiguous && !refused {
			o := outcomeOf(resp, err)
			for _, i := range pending {
				outcomes[i] = o
			}
			return got, extra, outcomes, resp, err
		}
		// Wait first, then look: a server still working on the request has
		// time to finish, and a message found missing is sent again at once.
		// A refusal is the server's last word: looked up at once (the docs do
		// not say that it stored nothing of a batch), never sent again.
		var mayResend bool
		var lerr error
		if !refused {
			mayResend, lerr = c.waitResend(ctx, resends, err, totalDelay(batch))
		}
		var found map[string]*Message
		var lresp *Response
		if lerr == nil {
			found, lresp, lerr = c.lookupMessages(ctx, conversationID, nonEmpty(pendingKeys))
			c.observeLookup(ctx, conversationID, len(nonEmpty(pendingKeys)), len(found), lerr)
		}
		if lerr != nil {
			keyed := nonEmpty(pendingKeys)
			return got, extra, outcomes, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: keyed, Unkeyed: len(pendingKeys) - len(keyed), Err: err, LookupErr: lerr}
		}
		if refused && len(found) == 0 {
			for _, i := range pending {
				outcomes[i] = outcomeNotCreated
			}
			return got, extra, outcomes, resp, err
		}
		// The messages found are a prefix of the batch and the missing ones
		// the rest; should the server ever store a batch with a gap, the
		// missing messages are still sent (once each, in their order), after
		// the ones found.
		var missing []int
		unknown := 0
		for j, p := range place(pendingKeys, found) {
			i := pending[j]
			switch p {
			case placedStored:
				got[i], outcomes[i] = found[keys[i]], outcomeCreated
			case placedMissing:
				outcomes[i] = outcomeNotCreated
				missing = append(missing, i)
			default:
				unknown++
			}
		}
		if unknown > 0 {
			return got, extra, outcomes, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(pick(keys, missing)), Unkeyed: unknown, Err: err}
		}
		if len(missing) == 0 {
			return got, extra, outcomes, lresp, nil
		}
		if !resendable || !mayResend || resends >= c.maxRetries {
			return got, extra, outcomes, resp, err // known: the missing messages were not created
		}
		c.observeResend(ctx, conversationID, len(missing))
		pending = missing
	}
}

// placeAnswer puts the messages of a send's answer (out) at the positions
// of got they were sent from (pending, whose keys are keys[i]), and returns
// what is left over (never expected). A message is placed by its delivery
// key, so a server that lists a batch in another order than it was sent
// still gives the caller its messages in the caller's order; the messages
// whose key is missing from the answer (a "/set" command without one, a
// server that leaves meta out) fill the positions left, in the server's
// order.
func placeAnswer(got []*Message, pending []int, keys []string, out []*Message) []*Message {
	at := make(map[string]int, len(pending)) // key -> position in got, while unplaced
	for _, i := range pending {
		if keys[i] != "" {
			at[keys[i]] = i
		}
	}
	var rest []*Message
	for _, m := range out {
		var k string
		if m != nil {
			k, _ = m.Meta.Get(DeliveryKeyMeta).(string)
		}
		if i, ok := at[k]; ok && k != "" {
			got[i] = m
			delete(at, k)
			continue
		}
		rest = append(rest, m)
	}
	j := 0
	for _, i := range pending {
		if got[i] == nil && j < len(rest) {
			got[i] = rest[j]
			j++
		}
	}
	return rest[j:]
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

// deliveryLookupFloor is the createdAt filter of the lookups that search by
// a key alone (a conversation by its key; messages across conversations by
// SDK-made keys, which are unique everywhere): the API wants one of a few
// indexed filters beside a meta filter on conversations, and on every
// message list, so the lookup sends one that excludes nothing the server can
// hold. A floor taken from the client's clock would miss what a server whose
// clock is behind stored.
var deliveryLookupFloor = time.Unix(0, 0).UTC()

// errKeyFilterIgnored is returned by a lookup answered with an item that
// carries none of the keys asked for: the server did not apply the filter,
// so the answer cannot tell what was stored.
var errKeyFilterIgnored = fmt.Errorf("%w: the lookup by %s was answered with an item without one of the keys asked for", ErrInvalidResponse, DeliveryKeyMeta)

// lookupPages reads the answer to q page by page, handing every item to visit
// until visit reports that it has what it looks for (or fails), or the pages
// run out. The page length is the server's: the API documents a default of
// 200 that may change, and a server may cap the limit asked for. So the next
// page starts after the items received, and the answer says whether there is
// one: a next link, or X-Total beyond what was read; without either header,
// pages are read until one is empty (or shorter than its X-Per-Page). A page
// that brings no item not seen before (a server that ignores the offset)
// ends the lookup with ErrInvalidResponse instead of looping.
func lookupPages[T any](ctx context.Context, q *Query, list func(context.Context, *Query) ([]T, *Response, error),
	id func(T) string, visit func(T) (done bool, err error)) (*Response, error) {
	seen := map[string]bool{}
	for offset := 0; ; {
		pq := q
		if offset > 0 {
			pq = q.Offset(offset)
		}
		page, resp, err := list(ctx, pq)
		if err != nil {
			return resp, err
		}
		fresh := 0
		for _, item := range page {
			if k := id(item); k != "" && !seen[k] {
				seen[k] = true
				fresh++
			}
			if done, err := visit(item); done || err != nil {
				return resp, err
			}
		}
		if len(page) == 0 {
			return resp, nil
		}
		if fresh == 0 {
			return resp, errPageNoProgress
		}
		offset += len(page)
		if !morePages(resp, offset, len(page)) {
			return resp, nil
		}
	}
}

// morePages reports whether the answer resp, a page of n items ending at
// offset next, says that more items follow. Where its headers disagree, it
// reads on: one request more, rather than a stored message taken as missing.
func morePages(resp *Response, next, n int) bool {
	p := resp.Pagination
	switch {
	case p.NextOffset >= 0:
		return true
	case p.Total >= 0:
		return next < p.Total
	case p.FirstOffset >= 0 || p.PrevOffset >= 0 || p.LastOffset >= 0:
		return false // links, but no next one: the last page
	case p.PerPage > 0:
		return n >= p.PerPage
	}
	return true // nothing says: read on until a page comes back empty
}

// lookupMessages finds the messages of a conversation carrying keys, reading
// every page of the answer until each key is found or the pages run out.
//
// GET /v2/messages?conversation={id}&meta.<DeliveryKeyMeta>=[k1,k2,...]
func (c *Client) lookupMessages(ctx context.Context, conversationID string, keys []string) (map[string]*Message, *Response, error) {
	found := make(map[string]*Message, len(keys))
	var last *Response
	for start := 0; start < len(keys); start += deliveryLookupChunk {
		chunk := keys[start:min(start+deliveryLookupChunk, len(keys))]
		wanted := make(map[string]bool, len(chunk)) // key -> still missing
		for _, k := range chunk {
			wanted[k] = found[k] == nil
		}
		left := 0
		for _, missing := range wanted {
			if missing {
				left++
			}
		}
		q := NewQuery().Where("conversation", Eq(conversationID)).
			Where("meta."+DeliveryKeyMeta, keyFilter(chunk)).Limit(4 * deliveryLookupChunk)
		resp, err := lookupPages(ctx, q, c.Messages.List, messageIDOf, func(m *Message) (bool, error) {
			k, _ := m.Meta.Get(DeliveryKeyMeta).(string)
			missing, asked := wanted[k]
			if !asked {
				return false, errKeyFilterIgnored
			}
			if missing {
				found[k], wanted[k] = m, false
				left--
			}
			return left == 0, nil
		})
		if err != nil {
			return nil, resp, err
		}
		last = resp
	}
	return found, last, nil
}

func messageIDOf(m *Message) string { return m.ID }

func conversationIDOf(c *Conversation) string { return c.ID }

// Resolve finds out which messages of a conversation were stored, by their
// delivery keys (see [DeliveryKeyMeta]): typically the ConversationID and Keys
// of a [*DeliveryUnknownError]. The result has one entry per key, in the same
// order: the stored message, or nil when no message carries that key (it was
// not created, and may be sent again with the same key). Every page of the
// server's answer is read, whatever its page length. Keys are checked before
// any I/O.
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
			return nil, nil, argError("keys["+strconv.Itoa(i)+"]", deliveryKeyRule)
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
// outcome is resolved by looking the conversation up by its key. A key the
// caller set on the conversation is looked up before the create: when that
// conversation exists, it is returned and only those of its initial messages
// with a caller-set key that are not stored are sent. It also says, per
// initial message, what this call did with it (for the loop guard). Its
// create requests, and its message POSTs, are part of call (Create's observed
// call, nil without an observer); its lookups are calls of their own.
func (s *ConversationsService) createTracked(ctx context.Context, call *obsCall, cc *ConversationCreate) (*Conversation, []sendOutcome, *Response, error) {
	c := s.r.client
	if c == nil || c.noDeliveryTracking || cc == nil {
		conv, resp, err := s.r.createIn(ctx, call, cc, nil)
		n := 0
		if cc != nil {
			n = len(cc.Messages)
		}
		return conv, sameOutcome(n, outcomeCreated), resp, err
	}
	if err := checkDeliveryKey("conversation", cc.Meta); err != nil {
		return nil, nil, nil, err
	}
	body := *cc
	_, callerKey := cc.Meta[DeliveryKeyMeta]
	var convKey string
	body.Meta, convKey = withDeliveryKey(cc.Meta)
	var msgKeys []string
	body.Messages, msgKeys = withDeliveryKeys(cc.Messages)
	// The messages search (for a conversation the server appended to) goes
	// by the SDK's own keys, unique everywhere, at any time. The caller's
	// keys are unique within a conversation only: they are searched only
	// when the server may have appended (a contact it can match), for
	// messages stored since the create's start, in that contact's
	// conversation (see findCreated).
	since := time.Now()
	search := createSearch{key: convKey, msgKeys: generatedKeys(cc.Messages, msgKeys)}
	if len(search.msgKeys) == 0 {
		search.msgKeys = nil
		if contact := contactIdentified(cc); contact != nil {
			search.msgKeys, search.since, search.contact, search.org = nonEmpty(msgKeys), since, contact, cc.Organization
		}
	}
	if callerKey {
		conv, resp, err := s.findCreated(ctx, createSearch{key: convKey})
		if err != nil {
			return nil, nil, resp, err // nothing was sent
		}
		if conv != nil {
			// Created by an earlier call, with its initial messages; those with
			// a key of the caller's own that are not there are sent.
			outcomes := sameOutcome(len(body.Messages), outcomeNotCreated)
			var own []int
			for i, m := range cc.Messages {
				if _, ok := m.Meta[DeliveryKeyMeta]; ok {
					own = append(own, i)
				}
			}
			if len(own) == 0 {
				return conv, outcomes, resp, nil
			}
			o, cresp, err := c.completeMessages(ctx, call, conv.ID, pick(body.Messages, own), pick(msgKeys, own), outcomeNotCreated)
			for j, i := range own {
				outcomes[i] = o[j]
			}
			if cresp == nil {
				cresp = resp
			}
			return conv, outcomes, cresp, err
		}
	}
	for resends := 0; ; resends++ {
		d := &deliveryCall{}
		conv, resp, err := s.r.createIn(ctx, call, &body, d)
		if err == nil {
			return conv, sameOutcome(len(body.Messages), outcomeCreated), resp, nil
		}
		ambiguous, resendable := deliveryOutcome(err, d)
		if !ambiguous {
			return nil, nil, resp, err
		}
		unknown := func(lerr error) error {
			return &DeliveryUnknownError{ConversationKey: convKey, Since: since, Keys: nonEmpty(msgKeys), Err: err, LookupErr: lerr}
		}
		mayResend, lerr := c.waitResend(ctx, resends, err, totalDelay(body.Messages)) // see deliver
		var lresp *Response
		if lerr == nil {
			conv, lresp, lerr = s.findCreated(ctx, search)
			c.observeCreateLookup(ctx, conv, lerr)
		}
		if lerr != nil {
			return nil, nil, resp, unknown(lerr)
		}
		if conv != nil {
			if len(body.Messages) == 0 {
				return conv, nil, lresp, nil
			}
			// The conversation is there; make sure its initial messages are
			// too (sending only the missing ones, in order).
			outcomes, _, serr := c.completeMessages(ctx, call, conv.ID, body.Messages, msgKeys, outcomeCreated)
			return conv, outcomes, lresp, serr
		}
		if !resendable || !mayResend || resends >= c.maxRetries {
			return nil, nil, resp, err
		}
		c.observeResend(ctx, "", 1)
	}
}

// generatedKeys returns the keys of keys (those of msgs) that the SDK made,
// not the caller.
func generatedKeys(msgs []MessageInput, keys []string) []string {
	var out []string
	for i, k := range keys {
		if _, own := msgs[i].Meta[DeliveryKeyMeta]; k != "" && !own {
			out = append(out, k)
		}
	}
	return out
}

// completeMessages sends those of msgs (already keyed) that are not yet
// stored in the conversation, and says per message what was done: found
// ones are stored (whose outcome is stored: created by this call, or by an
// earlier one), the others as their send went.
func (c *Client) completeMessages(ctx context.Context, call *obsCall, conversationID string, msgs []MessageInput, keys []string, stored sendOutcome) ([]sendOutcome, *Response, error) {
	outcomes := make([]sendOutcome, len(msgs)) // outcomeUnknown until known
	found, resp, err := c.lookupMessages(ctx, conversationID, nonEmpty(keys))
	c.observeLookup(ctx, conversationID, len(nonEmpty(keys)), len(found), err)
	if err != nil {
		return outcomes, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(keys), Unkeyed: len(keys) - len(nonEmpty(keys)), LookupErr: err}
	}
	var missing []int
	unknown := 0
	for i, p := range place(keys, found) {
		switch p {
		case placedStored:
			outcomes[i] = stored
		case placedMissing:
			missing = append(missing, i)
		default:
			unknown++
		}
	}
	if unknown > 0 {
		for _, i := range missing {
			outcomes[i] = outcomeNotCreated
		}
		return outcomes, resp, &DeliveryUnknownError{ConversationID: conversationID, Keys: nonEmpty(pick(keys, missing)), Unkeyed: unknown}
	}
	if len(missing) == 0 {
		return outcomes, resp, nil
	}
	path, err := itemPath(conversationsPath, "conversationID", conversationID)
	if err != nil {
		return outcomes, nil, err
	}
	_, sent, resp, err := c.deliver(ctx, call, path+"/messages", conversationID, pick(msgs, missing), pick(keys, missing), nil)
	for j, i := range missing {
		outcomes[i] = sent[j]
	}
	return outcomes, resp, err
}

// createSearch says how findCreated looks for the conversation a create may
// have made.
type createSearch struct {
	// key is the conversation's delivery key; a conversation carrying it was
	// made by the create (or by an earlier one with the caller's key).
	key string
	// msgKeys are keys of the initial messages, to find the conversation when
	// the server appended them to an existing contact's conversation, whose
	// meta it keeps (nil: the conversation's key decides alone).
	msgKeys []string
	// since is zero when msgKeys are the SDK's own keys (unique everywhere,
	// found at any time). Otherwise msgKeys are the caller's (unique within a
	// conversation only) and since is when the create started, in the
	// client's clock: only a message stored after it, in the server's clock,
	// can be the create's.
	since time.Time
	// contact, for a create naming a contact, is its profile: a conversation
	// found by caller-set keys must be that contact's (by e-mail or
	// telephone); org, when set, is the create's organization.
	contact *ContactProfile
	org     string
}

// errCreateUndecided is the lookup error of a create found, perhaps, by the
// caller-set keys of its initial messages where the server's answers carry no
// Date: without the server's clock, a message stored before the create
// cannot be told from one it stored.
var errCreateUndecided = fmt.Errorf("%w: a message carrying a caller-set %s was found, but the server's answer has no Date header, so whether the create stored it cannot be told", ErrInvalidResponse, DeliveryKeyMeta)

// findCreated looks a created conversation up: by the key in its meta, or
// (when the server appended to an existing contact's conversation, whose meta
// is not replaced) by cs.msgKeys, the keys of its initial messages.
//
// The conversation's key decides alone, so its search has no time floor
// beyond the one the API's filter rules need (deliveryLookupFloor), and so
// does the messages search by the SDK's own keys (cs.since zero). Keys the
// caller set are unique within a conversation only, so another conversation
// may hold a message under the same key: a conversation found by them is
// taken only when the message was stored after the create started, in the
// server's clock (cs.since moved by the server's Date against the client's
// clock when the Date's answer arrived: a bound that is never later than the
// server's time at the start, whichever way the clocks disagree), and when
// the conversation is the contact's the create named (cs.contact) in its
// organization (cs.org). Without a Date, a message found cannot be placed in
// time: errCreateUndecided, rather than a wrong conversation.
//
// GET /v2/conversations?meta.<DeliveryKeyMeta>={key}&createdAt=>={floor}
func (s *ConversationsService) findCreated(ctx context.Context, cs createSearch) (*Conversation, *Response, error) {
	q := NewQuery().Where("meta."+DeliveryKeyMeta, Eq(cs.key)).Where("createdAt", Gte(deliveryLookupFloor)).Limit(1)
	var conv *Conversation
	resp, err := lookupPages(ctx, q, s.List, conversationIDOf, func(c *Conversation) (bool, error) {
		if k, _ := c.Meta.Get(DeliveryKeyMeta).(string); k != cs.key {
			return false, errKeyFilterIgnored
		}
		conv = c
		return true, nil
	})
	answered := time.Now()
	if err != nil || conv != nil || len(cs.msgKeys) == 0 {
		return conv, resp, err
	}
	floor, dated := deliveryLookupFloor, true
	if !cs.since.IsZero() {
		offset, ok := serverClockOffset(resp, answered)
		if ok {
			floor = cs.since.Add(offset).Truncate(time.Millisecond)
		}
		dated = ok
	}
	chunk := cs.msgKeys[:min(deliveryLookupChunk, len(cs.msgKeys))]
	asked := make(map[string]bool, len(chunk))
	for _, k := range chunk {
		asked[k] = true
	}
	checked := map[string]bool{} // conversations found not to be the create's
	mq := NewQuery().Where("createdAt", Gte(floor)).Where("meta."+DeliveryKeyMeta, keyFilter(chunk)).Limit(deliveryLookupChunk)
	resp, err = lookupPages(ctx, mq, s.r.client.Messages.List, messageIDOf, func(m *Message) (bool, error) {
		if k, _ := m.Meta.Get(DeliveryKeyMeta).(string); !asked[k] {
			return false, errKeyFilterIgnored
		}
		id := m.Conversation.ID
		if id == "" || checked[id] {
			return false, nil
		}
		if cs.since.IsZero() { // the SDK's own key: this create's message
			c, _, err := s.Get(ctx, id, nil)
			conv = c
			return true, err
		}
		if dated && !m.CreatedAt.IsZero() && m.CreatedAt.Before(floor) {
			return false, nil // stored before the create (a server that ignores the filter)
		}
		c, _, err := s.Get(ctx, id, nil)
		if err != nil {
			return false, err
		}
		ok, err := s.createdFor(ctx, c, cs)
		if err != nil || !ok {
			checked[id] = true
			return false, err
		}
		if !dated {
			return false, errCreateUndecided
		}
		conv = c
		return true, nil
	})
	if err != nil {
		return nil, resp, err
	}
	return conv, resp, nil
}

// serverClockOffset returns how far the server's clock is ahead of the
// client's (negative: behind), as the Date of resp, received at answered,
// shows it: never more than the true offset, as a Date is written before the
// answer arrives and rounded down to the second. ok is false without a Date.
func serverClockOffset(resp *Response, answered time.Time) (time.Duration, bool) {
	if resp == nil || resp.Response == nil {
		return 0, false
	}
	date, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return 0, false
	}
	return date.Sub(answered), true
}

// createdFor reports whether conv, found by caller-set keys of a create's
// initial messages, can be the conversation the create appended them to: a
// conversation of the create's organization (when both say) and, when the
// create named a contact, that contact's (same e-mail address, or same
// telephone number). A conversation without a contact cannot be one the
// server appended to, and the contact's record is read when conv does not
// hold it (one GET).
func (s *ConversationsService) createdFor(ctx context.Context, conv *Conversation, cs createSearch) (bool, error) {
	if cs.org != "" && conv.Organization.ID != "" && conv.Organization.ID != cs.org {
		return false, nil
	}
	if cs.contact == nil {
		return true, nil
	}
	if conv.Contact.ID == "" {
		return false, nil
	}
	contact := conv.Contact.Value
	if contact == nil {
		var err error
		if contact, _, err = s.r.client.Contacts.Get(ctx, conv.Contact.ID, nil); err != nil {
			return false, err
		}
	}
	return sameContact(cs.contact, &contact.Profile), nil
}

// sameContact reports whether the profiles share an e-mail address (case
// ignored) or a telephone number (only its digits and '+' compared), the
// identifiers by which the server matches an existing contact.
func sameContact(want, got *ContactProfile) bool {
	if e := strings.TrimSpace(want.Email); e != "" && strings.EqualFold(e, strings.TrimSpace(got.Email)) {
		return true
	}
	phone := func(s string) string {
		return strings.Map(func(r rune) rune {
			if r == '+' || r >= '0' && r <= '9' {
				return r
			}
			return -1
		}, s)
	}
	t := phone(want.Telephone)
	return t != "" && t == phone(got.Telephone)
}

// contactIdentified returns the profile of the contact cc names, when it has
// an identifier the server can match an existing contact by (an e-mail
// address or a telephone number), and nil otherwise: only then may the server
// append the initial messages to an existing conversation.
func contactIdentified(cc *ConversationCreate) *ContactProfile {
	if cc.Contact == nil {
		return nil
	}
	p := &cc.Contact.Profile
	if strings.TrimSpace(p.Email) == "" && strings.TrimSpace(p.Telephone) == "" {
		return nil
	}
	return p
}

// ResolveCreate finds a conversation whose create ended in a
// *DeliveryUnknownError: pass its ConversationKey, Since and Keys. It returns
// the conversation, or nil (and no error) when none was created, in which
// case the create may be sent again. It does not send missing initial
// messages: check them with [MessagesService.Resolve].
//
// The conversation is searched by its key alone, at any time. The message
// keys find a conversation the server appended the initial messages to (an
// existing contact's): with since zero, at any time (keys the SDK made,
// unique everywhere); otherwise a message counts only when it was stored
// after since (the start of the create, in the client's clock) in the
// server's clock, as the Date of the server's answer shows it. Keys the
// caller set are unique within a conversation only: pass since for them.
// A message found when the answer carries no Date cannot be placed in time:
// the error then matches [ErrInvalidResponse].
//
// GET /v2/conversations?meta.chatshipperDeliveryKey={key}&createdAt=>=1970-01-01T00:00:00.000Z
func (s *ConversationsService) ResolveCreate(ctx context.Context, key string, since time.Time, messageKeys ...string) (*Conversation, *Response, error) {
	if err := s.r.check(); err != nil {
		return nil, nil, err
	}
	if !validDeliveryKey(key) {
		return nil, nil, argError("key", deliveryKeyRule)
	}
	for i, k := range messageKeys {
		if !validDeliveryKey(k) {
			return nil, nil, argError("messageKeys["+strconv.Itoa(i)+"]", deliveryKeyRule)
		}
	}
	return s.findCreated(ctx, createSearch{key: key, msgKeys: messageKeys, since: since})
}
