package chatshipper

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// WithLoopGuard forces the bot loop guard on (true) or off (false). Without
// this option the guard is automatic: it applies when the client's user is a
// bot user, since the API's loop limits apply to messages created as a bot
// user (https://developers.chatshipper.com/docs/api-introduction, Rate
// Limiting). The client learns the role from the token (a role claim, else
// the highest scope of its scope claim: "bot" is a bot, "admin", "agent" and
// "guest" are not), else from the login answer of a RefreshingTokenSource,
// else from the user's record (one GET /v2/users/{id}, the role of the
// membership marked selected, else of the first). When none of these tells,
// the guard applies.
//
// The guard refuses, before the message is sent, a send that would break the
// server's bot loop limits (8 identical messages per conversation in 3
// minutes, 20 consecutive messages per conversation per hour without an
// agent or contact reply). See the package documentation, "Rate limits and
// the loop guard".
func WithLoopGuard(enabled bool) Option {
	return func(c *config) error {
		if enabled {
			c.loopGuard = loopGuardOn
		} else {
			c.loopGuard = loopGuardOff
		}
		return nil
	}
}

// WithLoopGuardConfig sets the loop guard's limits; zero fields keep the
// server's defaults. It does not change whether the guard applies (see
// WithLoopGuard).
func WithLoopGuardConfig(cfg LoopGuardConfig) Option {
	return func(c *config) error {
		c.guardCfg = cfg
		return nil
	}
}

// WithLoopGuardStore keeps the loop guard's counts in store instead of the
// client's own memory, for example a store shared by every process that
// sends as the same bot user. It does not change whether the guard applies
// (see WithLoopGuard).
func WithLoopGuardStore(store LoopGuardStore) Option {
	return func(c *config) error {
		if store == nil {
			return argError("store", "must not be nil")
		}
		c.guardStore = store
		return nil
	}
}

// isReply reports whether a message sent with role is a reply for the loop
// limits: an agent's or the contact's message, not a bot message.
func isReply(role Role) bool { return role == RoleAgent || role == RoleContact }

// loopBatch describes msgs for the loop guard: a content hash for each bot
// message (identical as rule reads it: same hash) and a reply marker for
// each message sent with role agent or contact. A message whose meta cannot
// be encoded is refused with an *ArgumentError, whatever the rule.
func loopBatch(msgs []MessageInput, rule IdenticalBy) ([]LoopMessage, error) {
	out := make([]LoopMessage, len(msgs))
	for i := range msgs {
		m := &msgs[i]
		if isReply(m.Role) {
			out[i] = LoopMessage{Reply: true}
			continue
		}
		h, err := loopHash(m, rule)
		if err != nil {
			return nil, argError("messages["+strconv.Itoa(i)+"].meta", "cannot be encoded as JSON: %v", err)
		}
		out[i] = LoopMessage{Hash: h}
	}
	return out, nil
}

// loopHash is the identical-message key of m under rule: a hash of its type
// (chat when empty), its text and its meta as the server reads it back (a
// JSON object: key order, number spelling and an empty versus absent meta do
// not matter), leaving out what rule does not compare. The meta is encoded
// under every rule, so that meta the server could not read is refused.
func loopHash(m *MessageInput, rule IdenticalBy) (string, error) {
	typ := m.Type
	if typ == "" {
		typ = MessageTypeChat
	}
	meta := json.RawMessage("null")
	if mm := withoutDeliveryKey(m.Meta); len(mm) > 0 { // delivery keys never make messages differ
		raw, err := encodeJSON(mm)
		if err != nil {
			return "", err
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return "", err
		}
		if meta, err = json.Marshal(v); err != nil { // map keys sorted: canonical
			return "", err
		}
	}
	var parts []any
	switch rule {
	case IdenticalByTypeTextMeta:
		parts = []any{typ, m.Text, meta}
	case IdenticalByTextMeta:
		parts = []any{m.Text, meta}
	default:
		parts = []any{m.Text}
	}
	b, err := json.Marshal(parts)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:16]), nil
}

// loopSend is a batch the guard let through, to settle once the server
// answered.
type loopSend struct {
	r *LoopReservation
}

// newReservationID returns 128 random bits, hex encoded.
func newReservationID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// loopReserve checks a batch against the loop guard and records it, before
// it is sent. batch comes from loopBatch. It returns nil when the guard does
// not apply.
func (c *Client) loopReserve(ctx context.Context, conversationID string, batch []LoopMessage) (*loopSend, error) {
	g := c.guard
	if g == nil || len(batch) == 0 {
		return nil, nil
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !c.guardApplies(ctx) {
		return nil, nil
	}
	r := &LoopReservation{
		ID:       newReservationID(),
		Key:      LoopGuardKey{Bot: c.selfUserID(ctx), Conversation: conversationID},
		At:       time.Now(),
		Limits:   g.limits,
		Messages: batch,
	}
	if err := g.store.Reserve(ctx, r); err != nil {
		var le *LoopLimitError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, &loopStoreError{err: err}
	}
	return &loopSend{r: r}, nil
}

// loopStoreError reports that the loop guard's store failed, so the message
// was not sent.
type loopStoreError struct{ err error }

func (e *loopStoreError) Error() string {
	return "chatshipper: loop guard store: " + e.err.Error() + " (nothing was sent)"
}

func (e *loopStoreError) Unwrap() error { return e.err }

// sendOutcome is what the client can tell about whether the server created
// the messages of a request.
type sendOutcome uint8

const (
	outcomeUnknown    sendOutcome = iota // the server may have created them
	outcomeCreated                       // 2xx
	outcomeNotCreated                    // never left the machine, failed before I/O, or 4xx
)

// outcomeOf classifies the result of Client.Do for a message POST.
func outcomeOf(resp *Response, err error) sendOutcome {
	if err == nil {
		return outcomeCreated
	}
	if resp != nil && resp.Response != nil {
		switch code := resp.StatusCode; {
		case code >= 200 && code <= 299:
			return outcomeCreated // the answer could not be read, but it said created
		case code >= 400 && code <= 499:
			return outcomeNotCreated
		}
		return outcomeUnknown
	}
	var te *TransportError
	if errors.As(err, &te) {
		if te.Attempts == 0 || !te.MayHaveReachedServer() {
			return outcomeNotCreated
		}
		return outcomeUnknown
	}
	var ae *ArgumentError
	if errors.As(err, &ae) {
		return outcomeNotCreated
	}
	return outcomeUnknown
}

// loopSettle makes the guard's counts follow what the server did with each
// message of a reserved batch (outcomes, one per message of the batch): a
// message it provably did not create (never sent, refused with a 4xx, found
// missing by the delivery lookup, or found stored by an earlier call) is
// released; one it created or may have created (a 5xx or a lost answer the
// lookup could not settle) stays counted, as counting a message the server
// did not store only makes the guard stricter, while not counting one it
// stored would let the bot run into the server's block. A reply the server
// created resets the consecutive count.
//
// The store releases whole reservations, so when only part of the batch is
// released, the part that stays is recorded as a reservation of its own
// (same time, forced: the server has it) before the batch is released, and
// the guard is never less strict in between; should recording fail, the
// whole batch stays counted.
func (c *Client) loopSettle(ctx context.Context, ls *loopSend, outcomes []sendOutcome) {
	if ls == nil {
		return
	}
	ctx = context.WithoutCancel(ctx)
	r := ls.r
	kept := make([]LoopMessage, 0, len(r.Messages))
	replyCreated := false
	for i, m := range r.Messages {
		o := outcomeUnknown
		if i < len(outcomes) {
			o = outcomes[i]
		}
		if o == outcomeNotCreated {
			continue
		}
		kept = append(kept, m)
		replyCreated = replyCreated || m.Reply && o == outcomeCreated
	}
	switch {
	case len(kept) == 0:
		_ = c.guard.store.Release(ctx, r)
		return
	case len(kept) < len(r.Messages):
		part := &LoopReservation{ID: newReservationID(), Key: r.Key, At: r.At, Limits: r.Limits, Messages: kept, Force: true}
		if c.guard.store.Reserve(ctx, part) == nil {
			_ = c.guard.store.Release(ctx, r)
			r = part
		}
	}
	if replyCreated {
		_ = c.guard.store.Reset(ctx, r.Key, r.At, r.ID)
	}
}

// counted returns the messages of batch that a create may have created
// (outcomes, one per message: all of them when outcomes is nil).
func counted(batch []LoopMessage, outcomes []sendOutcome) []LoopMessage {
	if outcomes == nil {
		return batch
	}
	out := make([]LoopMessage, 0, len(batch))
	for i, m := range batch {
		if i >= len(outcomes) || outcomes[i] != outcomeNotCreated {
			out = append(out, m)
		}
	}
	return out
}

// loopCheckNew checks the initial messages of a conversation being created:
// the batch alone must fit the limits. It returns whether the guard applies.
func (c *Client) loopCheckNew(ctx context.Context, batch []LoopMessage) (bool, error) {
	if c.guard == nil || len(batch) == 0 {
		return false, nil
	}
	if err := ctx.Err(); err != nil {
		return false, err
	}
	if !c.guardApplies(ctx) {
		return false, nil
	}
	r := &LoopReservation{At: time.Now(), Limits: c.guard.limits, Messages: batch}
	if err := checkLoopBatch(r, nil, nil); err != nil {
		return true, err
	}
	return true, nil
}

// loopRecordNew records the initial messages of a created conversation: the
// server created them, so they are recorded even beyond the limits (an
// existing contact's conversation may already hold messages).
func (c *Client) loopRecordNew(ctx context.Context, conversationID string, batch []LoopMessage) {
	if len(batch) == 0 {
		return
	}
	r := &LoopReservation{
		ID:       newReservationID(),
		Key:      LoopGuardKey{Bot: c.selfUserID(ctx), Conversation: conversationID},
		At:       time.Now(),
		Limits:   c.guard.limits,
		Messages: batch,
		Force:    true,
	}
	ctx = context.WithoutCancel(ctx)
	_ = c.guard.store.Reserve(ctx, r)
	for _, m := range batch {
		if m.Reply {
			_ = c.guard.store.Reset(ctx, r.Key, r.At, r.ID)
			break
		}
	}
}

// roleRetry is how long the guard applies without asking again after a
// failed lookup of the user's role.
const roleRetry = time.Minute

// guardApplies reports whether the loop guard applies to the client's user,
// learning the user's role once (see WithLoopGuard).
func (c *Client) guardApplies(ctx context.Context) bool {
	g := c.guard
	if g == nil {
		return false
	}
	if g.mode == loopGuardOn {
		return true
	}
	known := func() (applies, ok bool) {
		g.mu.Lock()
		defer g.mu.Unlock()
		switch g.role {
		case roleBot, roleUndetermined:
			return true, true
		case roleNotBot:
			return false, true
		}
		return true, !g.roleTry.IsZero() && time.Now().Before(g.roleTry)
	}
	if applies, ok := known(); ok {
		return applies
	}
	g.lookup.Lock() // one lookup at a time; the others wait for its answer
	defer g.lookup.Unlock()
	if applies, ok := known(); ok {
		return applies
	}
	role := c.learnRole(ctx)
	g.mu.Lock()
	defer g.mu.Unlock()
	if role == roleUnknown {
		g.roleTry = time.Now().Add(roleRetry)
		return true
	}
	g.role = role
	return role != roleNotBot
}

// knownNotBot reports whether the client has learned that its user is not a
// bot (so observed replies need not be recorded).
func (c *Client) knownNotBot() bool {
	g := c.guard
	if g == nil {
		return true
	}
	if g.mode == loopGuardOn {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.role == roleNotBot
}

// learnRole finds out whether the client's user is a bot: roleUnknown means
// "ask again later" (a failed request).
func (c *Client) learnRole(ctx context.Context) roleState {
	if c.tokens == nil {
		return roleUndetermined
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return roleUnknown
	}
	if r, ok := tokenRole(tok); ok {
		return botRole(r)
	}
	if rs, ok := c.tokens.(*RefreshingTokenSource); ok {
		if r, ok := highestRole(strings.Fields(rs.Current().Scope)); ok {
			return botRole(r)
		}
	}
	id := c.selfUserID(ctx)
	if id == "" {
		return roleUndetermined
	}
	u, resp, err := c.Users.Get(ctx, id, nil)
	if err != nil {
		if resp != nil && resp.Response != nil && resp.StatusCode >= 400 && resp.StatusCode <= 499 {
			return roleUndetermined
		}
		return roleUnknown
	}
	if r := userRole(u); r != "" {
		return botRole(r)
	}
	return roleUndetermined
}

func botRole(r Role) roleState {
	if r == RoleBot {
		return roleBot
	}
	return roleNotBot
}

// userRole is the role of u's selected organization membership, else of its
// first, else u.Role.
func userRole(u *User) Role {
	if u == nil {
		return ""
	}
	for _, o := range u.Organizations {
		if o.Selected && o.Role != "" {
			return o.Role
		}
	}
	if len(u.Organizations) > 0 && u.Organizations[0].Role != "" {
		return u.Organizations[0].Role
	}
	return u.Role
}

// roleLevels orders roles and scopes: scopes are cumulative, so a token's
// role is its highest scope (https://developers.chatshipper.com/docs/api-authentication).
var roleLevels = map[string]int{"viewer": 1, "guest": 1, "agent": 2, "bot": 3, "admin": 4}

// highestRole returns the highest role named in words (each may itself be a
// space-delimited scope string); false when none is a known role.
func highestRole(words []string) (Role, bool) {
	best, level := Role(""), 0
	for _, w := range words {
		for _, f := range strings.Fields(w) {
			if l := roleLevels[strings.ToLower(f)]; l > level {
				best, level = Role(strings.ToLower(f)), l
			}
		}
	}
	return best, level > 0
}

// tokenRole reads the role of a JWT's user without verifying the token: a
// "role" claim when present, else the highest scope of its "scope" claim (a
// space-delimited string or an array of strings). False when the token is
// not a readable JWT or names no known role.
func tokenRole(token string) (Role, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return "", false
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return "", false
	}
	var c struct {
		Role  json.RawMessage `json:"role"`
		Scope json.RawMessage `json:"scope"`
	}
	if json.Unmarshal(raw, &c) != nil {
		return "", false
	}
	for _, claim := range []json.RawMessage{c.Role, c.Scope} {
		var words []string
		var s string
		if json.Unmarshal(claim, &s) == nil {
			words = []string{s}
		} else if json.Unmarshal(claim, &words) != nil {
			continue
		}
		if r, ok := highestRole(words); ok {
			return r, true
		}
	}
	return "", false
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
