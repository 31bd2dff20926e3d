package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// What a bot needs beyond routing: the order events go through (filters,
// middleware, answers, routes), first-match routing, the chipchat event
// aliases, and the delivery keys that make a handler's replies exactly-once.
// The conversation context is in conversation.go, ask and answer in ask.go.

// Middleware wraps the handling of received events: it gets the next step
// and returns a HandlerFunc that may run code before and after it, change
// the context, or not call it at all (the event is then acknowledged without
// reaching the handlers). See [Handler.Use] for where it runs.
type Middleware func(next HandlerFunc) HandlerFunc

// SendFunc sends messages into a conversation and returns them as stored.
type SendFunc func(ctx context.Context, conversationID string, msgs []chatshipper.MessageInput) ([]*chatshipper.Message, error)

// SendMiddleware wraps every send of a [Conversation]: it gets the next step
// and returns a SendFunc that may change the messages, log them, or refuse
// them with an error. See [Handler.UseSend].
type SendMiddleware func(next SendFunc) SendFunc

// Sender posts messages into a conversation. A [*chatshipper.Client] given
// to [WithClient] sends through [chatshipper.ConversationsService.Send];
// another [Client] that also implements Sender is used as one. Without a
// sender a [Conversation] reads meta but its sends return [ErrNoSender].
type Sender interface {
	SendMessages(ctx context.Context, conversationID string, msgs ...chatshipper.MessageInput) ([]*chatshipper.Message, error)
}

// Resolver is implemented by a [Sender] that can also look messages of a
// conversation up by their delivery keys, as
// [chatshipper.MessagesService.Resolve] does: the result has one entry per
// key, in order, the stored message or nil. A [*chatshipper.Client] resolves
// through Messages.Resolve. With a resolver, a handler run that repeats an
// earlier run of the same event skips the "/set" commands that run already
// sent (see [Conversation.Send]); a Sender without one sends them again.
type Resolver interface {
	ResolveMessages(ctx context.Context, conversationID string, keys ...string) ([]*chatshipper.Message, error)
}

// ErrNoSender is returned by the sends of a [Conversation] (and by
// [Handler.RegisterAnswer]) when the handler has no client that can send:
// give [WithClient] a [*chatshipper.Client] or a [Sender].
var ErrNoSender = errors.New("chatshipper: webhook handler has no client that can send messages (use WithClient)")

// WithFirstMatchOnly with true runs, for each event, only the first handler
// (in registration order) whose pattern and filters accept it, as chipchat's
// onlyFirstMatch does for its text triggers; later handlers are skipped. The
// default, false, runs every matching handler.
func WithFirstMatchOnly(only bool) Option {
	return func(c *config) error {
		c.firstMatch = only
		return nil
	}
}

// WithSkipUnjoined with true drops message events of conversations the bot
// has not joined (it is not a participant with the active or follow flag in
// data.conversation), as chipchat's ignoreUnjoined does, except the events
// that call the bot in: an /assign naming it, a bot command (">..."), and a
// mention of it. An event without data.conversation, or while the bot's own
// user ID is unknown, is not dropped. A bot that asks a question with this
// option on should join or accept first, or the answer is dropped too. The
// default is WithSkipUnjoined(false).
func WithSkipUnjoined(skip bool) Option {
	return func(c *config) error {
		c.skipUnjoined = skip
		return nil
	}
}

// WithReplyKeys with false turns off the delivery keys a [Conversation]
// derives for the messages a handler sends (see [Conversation.Send]); the
// client's own random keys remain. The default is WithReplyKeys(true).
func WithReplyKeys(enabled bool) Option {
	return func(c *config) error {
		c.noReplyKeys = !enabled
		return nil
	}
}

// botFeatures is the Handler's state for bots.
type botFeatures struct {
	firstMatch   bool
	skipUnjoined bool
	replyKeys    bool
	sender       SendFunc    // nil without a client that can send
	resolve      resolveFunc // nil without a client that can look keys up

	mu      sync.Mutex // serialises Use, UseSend and RegisterAnswer
	receive atomic.Pointer[[]Middleware]
	sends   atomic.Pointer[[]SendMiddleware]
	answers atomic.Pointer[map[string]AnswerFunc]

	convs convCache
}

func (b *botFeatures) init(cfg *config) {
	b.firstMatch = cfg.firstMatch
	b.skipUnjoined = cfg.skipUnjoined
	b.replyKeys = !cfg.noReplyKeys
	b.sender = senderOf(cfg.client)
	b.resolve = resolverOf(cfg.client)
	b.convs.max = conversationCacheSize
}

// senderOf returns the send function of a client, or nil.
func senderOf(cl Client) SendFunc {
	switch c := cl.(type) {
	case *chatshipper.Client:
		return func(ctx context.Context, id string, msgs []chatshipper.MessageInput) ([]*chatshipper.Message, error) {
			out, _, err := c.Conversations.Send(ctx, id, msgs...)
			return out, err
		}
	case Sender:
		return func(ctx context.Context, id string, msgs []chatshipper.MessageInput) ([]*chatshipper.Message, error) {
			return c.SendMessages(ctx, id, msgs...)
		}
	}
	return nil
}

// resolveFunc looks messages of a conversation up by delivery keys.
type resolveFunc func(ctx context.Context, conversationID string, keys []string) ([]*chatshipper.Message, error)

// resolverOf returns the key lookup of a client, or nil.
func resolverOf(cl Client) resolveFunc {
	switch c := cl.(type) {
	case *chatshipper.Client:
		return func(ctx context.Context, id string, keys []string) ([]*chatshipper.Message, error) {
			out, _, err := c.Messages.Resolve(ctx, id, keys...)
			return out, err
		}
	case Resolver:
		return func(ctx context.Context, id string, keys []string) ([]*chatshipper.Message, error) {
			return c.ResolveMessages(ctx, id, keys...)
		}
	}
	return nil
}

// Use adds middleware for received events. An event that passed the
// signature check, decoding and the duplicate check goes through, in this
// order:
//
//  1. the built-in filters: own messages ([WithIncludeSelf]), bots'
//     messages ([WithSkipBots]), conversations not joined ([WithSkipUnjoined]);
//  2. the middleware, in the order Use added them (the first is outermost:
//     it runs first and sees the outcome last);
//  3. the answer to a question ([Conversation.Ask]): when the event is one,
//     the registered [AnswerFunc] runs and no handler does;
//  4. the handlers whose pattern and filters match, in registration order
//     (only the first with [WithFirstMatchOnly]).
//
// An error a middleware returns is the event's error (500, so the platform
// retries); a panic becomes a [*PanicError]. The built-in filters and the
// middleware run only when a handler's pattern matches the event, or when
// middleware or answers are registered. Use may be called while the handler
// serves; a nil middleware is refused with a [*chatshipper.ArgumentError].
func (h *Handler) Use(mw ...Middleware) error {
	for i, m := range mw {
		if m == nil {
			return argError("mw["+strconv.Itoa(i)+"]", "nil Middleware")
		}
	}
	h.bots.mu.Lock()
	defer h.bots.mu.Unlock()
	var next []Middleware
	if old := h.bots.receive.Load(); old != nil {
		next = slices.Clone(*old)
	}
	next = append(next, mw...)
	h.bots.receive.Store(&next)
	return nil
}

// UseSend adds middleware for the sends of every [Conversation] of this
// handler (messages, commands, the "/set" of questions and meta), in the
// order UseSend added them (the first is outermost). The messages a
// middleware gets already carry their delivery keys (meta
// [chatshipper.DeliveryKeyMeta]); a middleware that copies or changes a
// message must keep that key, and a message it adds gets a random key from
// the client. A "/set" that a repeated run skips (see [Conversation.Send])
// does not reach them. A nil middleware is refused with a
// [*chatshipper.ArgumentError].
func (h *Handler) UseSend(mw ...SendMiddleware) error {
	for i, m := range mw {
		if m == nil {
			return argError("mw["+strconv.Itoa(i)+"]", "nil SendMiddleware")
		}
	}
	h.bots.mu.Lock()
	defer h.bots.mu.Unlock()
	var next []SendMiddleware
	if old := h.bots.sends.Load(); old != nil {
		next = slices.Clone(*old)
	}
	next = append(next, mw...)
	h.bots.sends.Store(&next)
	return nil
}

// sendChain returns the sender wrapped in the send middleware, or nil.
func (h *Handler) sendChain() SendFunc {
	send := h.bots.sender
	if send == nil {
		return nil
	}
	if mws := h.bots.sends.Load(); mws != nil {
		for i := len(*mws) - 1; i >= 0; i-- {
			send = (*mws)[i](send)
		}
	}
	return send
}

// route runs an accepted event through the steps Use describes.
func (h *Handler) route(ctx context.Context, e *Event) error {
	h.bots.convs.remember(e)
	routes := *h.routes.Load()
	mws := h.bots.receive.Load()
	answers := h.bots.answers.Load()
	if len(routes) == 0 && mws == nil && answers == nil {
		return nil
	}
	if mws == nil && answers == nil && !anyMatch(routes, nameWords(e.Name, new([maxNameWords]string)[:])) {
		return nil // the bot filters run only when something could run
	}
	if h.dropped(ctx, e) || h.unjoined(ctx, e) {
		return nil
	}
	if mws == nil {
		return h.deliver(ctx, e, routes)
	}
	next := HandlerFunc(func(ctx context.Context, e *Event) error { return h.deliver(ctx, e, routes) })
	for i := len(*mws) - 1; i >= 0; i-- {
		next = (*mws)[i](next)
	}
	// Sends made by the middleware themselves carry keys of their own scope.
	return next(withInvocation(ctx, e, "receive"), e)
}

// maxNameWords is how many words of an event name nameWords splits without
// allocating; the platform's names have four at most.
const maxNameWords = 8

// nameWords returns the words of an event name (its dot-separated parts),
// in buf while they fit.
func nameWords(name string, buf []string) []string {
	words := buf[:0]
	for {
		i := strings.IndexByte(name, '.')
		if i < 0 {
			return append(words, name)
		}
		words = append(words, name[:i])
		name = name[i+1:]
	}
}

func anyMatch(routes []route, words []string) bool {
	for i := range routes {
		if routes[i].words.match(words) {
			return true
		}
	}
	return false
}

// deliver runs the answer to a question, or else the matching handlers.
func (h *Handler) deliver(ctx context.Context, e *Event, routes []route) error {
	if handled, err := h.answer(ctx, e); handled {
		return err
	}
	words := nameWords(e.Name, new([maxNameWords]string)[:])
	var errs []error
	for i := range routes {
		rt := &routes[i]
		if !rt.words.match(words) {
			continue
		}
		ran, err := rt.run(withInvocation(ctx, e, rt.scope), e)
		if err != nil {
			errs = append(errs, err)
		}
		if ran && h.bots.firstMatch {
			break
		}
	}
	return errors.Join(errs...)
}

// routeScope names a new route for delivery keys: its pattern and how many
// routes with the same pattern come before it, so adding a route with another
// pattern does not change the keys of the others.
func routeScope(routes []route, pattern string) string {
	n := 0
	for i := range routes {
		if routes[i].pattern == pattern {
			n++
		}
	}
	return "route:" + pattern + "#" + strconv.Itoa(n)
}

// unjoined reports whether WithSkipUnjoined drops e.
func (h *Handler) unjoined(ctx context.Context, e *Event) bool {
	if !h.bots.skipUnjoined || !e.IsMessage() || e.Data.Conversation == nil {
		return false
	}
	self := h.self(ctx)
	if self == "" {
		return false
	}
	if p := e.Data.Conversation.Participant(self); p != nil && (p.Active || p.Follow) {
		return false
	}
	return !isAssignTo(e, self) && !isBotCommand(e) && !isMentionOf(e, self)
}

// --- the chipchat event aliases ---

// OnNotify registers fn for the messages that call the bot in, as chipchat's
// "notify" event: an /assign naming the bot ([Handler.OnAssign]), a bot
// command ([Handler.OnCommand]) or a mention of the bot
// ([Handler.OnMention]). The bot's user ID comes from [WithClient] or
// [WithSelfUser]; while it is unknown, only bot commands match.
func (h *Handler) OnNotify(fn HandlerFunc, filters ...EventFilter) error {
	return h.alias(fn, filters, func(e *Event, self string) bool {
		return isAssignTo(e, self) || isBotCommand(e) || isMentionOf(e, self)
	})
}

// OnAssign registers fn for "/assign" commands whose meta.users names the
// bot, as chipchat's "assign" event.
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (h *Handler) OnAssign(fn HandlerFunc, filters ...EventFilter) error {
	return h.alias(fn, filters, isAssignTo)
}

// OnCommand registers fn for bot commands (command messages whose text
// starts with ">", such as ">onboard"), as chipchat's "command" event.
// [CommandName] narrows it to one command.
//
// Bot commands: https://developers.chatshipper.com/docs/messaging-commands
func (h *Handler) OnCommand(fn HandlerFunc, filters ...EventFilter) error {
	return h.alias(fn, filters, func(e *Event, _ string) bool { return isBotCommand(e) })
}

// OnMention registers fn for mention messages aimed at the bot
// (meta.targetUser, or chipchat's meta.targetBot, is the bot's user ID or a
// list holding it), as chipchat's "mention" event.
//
// Mentions: https://developers.web1on1.chat/messaging/commentstagsandsearch
func (h *Handler) OnMention(fn HandlerFunc, filters ...EventFilter) error {
	return h.alias(fn, filters, isMentionOf)
}

func (h *Handler) alias(fn HandlerFunc, filters []EventFilter, match func(e *Event, self string) bool) error {
	f := EventFilter{match: func(e *Event) bool {
		// dispatch looked the own user up already; this reads the cache.
		return match(e, h.self(context.Background()))
	}}
	return h.Handle("message.create.**", fn, append([]EventFilter{f}, filters...)...)
}

// CommandName accepts bot commands named name: the text ">name" or ">name"
// followed by a space and arguments. name is given without the ">".
func CommandName(name string) EventFilter {
	switch {
	case name == "":
		return EventFilter{err: argError("CommandName", "empty name")}
	case strings.HasPrefix(name, ">"):
		return EventFilter{err: argError("CommandName", "give the name without \">\"")}
	case strings.ContainsFunc(name, isSpaceOrControl):
		return EventFilter{err: argError("CommandName", "%q must be one word", wire.Truncate(name, 32))}
	}
	return EventFilter{match: func(e *Event) bool {
		if !isBotCommand(e) {
			return false
		}
		first, _, _ := strings.Cut(strings.TrimSpace(e.Data.Message.Text), " ")
		return first == ">"+name
	}}
}

func isBotCommand(e *Event) bool {
	m := e.Data.Message
	return m != nil && e.isMessageCreate() && e.MessageType() == chatshipper.MessageTypeCommand &&
		strings.HasPrefix(strings.TrimSpace(m.Text), ">")
}

func isAssignTo(e *Event, self string) bool {
	m := e.Data.Message
	if m == nil || self == "" || !e.isMessageCreate() || e.MessageType() != chatshipper.MessageTypeCommand {
		return false
	}
	first, _, _ := strings.Cut(strings.TrimSpace(m.Text), " ")
	return first == "/assign" && holdsID(m.Meta.Get("users"), self)
}

func isMentionOf(e *Event, self string) bool {
	m := e.Data.Message
	if m == nil || self == "" || !e.isMessageCreate() || e.MessageType() != chatshipper.MessageTypeMention {
		return false
	}
	return holdsID(m.Meta.Get("targetUser"), self) || holdsID(m.Meta.Get("targetBot"), self)
}

// holdsID reports whether v is id or a list holding it.
func holdsID(v any, id string) bool {
	switch x := v.(type) {
	case string:
		return x == id
	case []any:
		return slices.Contains(x, any(id))
	}
	return false
}

func isSpaceOrControl(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }

// --- delivery keys for replies ---

// invocation is one run of a handler (or answer, or the middleware) for one
// event: the sends it makes are numbered, and each gets a delivery key
// derived from the event, the scope and its number.
type invocation struct {
	ev    *Event
	scope string
	mu    sync.Mutex
	n     int

	// What is known of an earlier run of the same invocation (see
	// ranPast), found out at its first keyless "/set".
	probeMu   sync.Mutex
	probed    bool // a lookup was made
	fresh     bool // nothing an earlier run stored lies ahead: send every /set
	probeEnd  int  // the first position after the last lookup's window
	lastFound int  // the highest position an earlier run stored
}

type invocationKey struct{}

// invocationContext carries an invocation; one allocation where
// context.WithValue and the invocation would take three.
type invocationContext struct {
	context.Context
	inv invocation
}

func (c *invocationContext) Value(key any) any {
	if key == (invocationKey{}) {
		return &c.inv
	}
	return c.Context.Value(key)
}

func withInvocation(ctx context.Context, e *Event, scope string) context.Context {
	c := &invocationContext{Context: ctx}
	c.inv.ev, c.inv.scope = e, scope
	return c
}

func invocationFrom(ctx context.Context) *invocation {
	inv, _ := ctx.Value(invocationKey{}).(*invocation)
	return inv
}

// take reserves n positions and returns the first.
func (inv *invocation) take(n int) int {
	inv.mu.Lock()
	defer inv.mu.Unlock()
	first := inv.n
	inv.n += n
	return first
}

// eventIdentity names the event for delivery keys: for a new message, the
// message's ID and the event name, which every delivery of it carries however
// the platform numbers its retries; else the event ID; "" when neither is known.
func eventIdentity(e *Event) string {
	if m := e.Data.Message; m != nil && m.ID != "" && e.isMessageCreate() {
		return "message:" + m.ID + ":" + e.Name
	}
	if e.ID != "" {
		return "event:" + e.ID
	}
	return ""
}

// replyKey derives the delivery key of send number n of an invocation: 32 hex
// digits of a SHA-256 behind the letter "r", so it always reads as text.
func replyKey(self, identity, scope string, n int) string {
	sum := sha256.Sum256([]byte("chatshipper-reply-v1\x00" + self + "\x00" + identity + "\x00" + scope + "\x00" + strconv.Itoa(n)))
	return "r" + hex.EncodeToString(sum[:16])
}

// withReplyKeys returns copies of msgs carrying derived delivery keys: each
// message takes the next position of the invocation; one that already has a
// key, and a "/set" command (whose meta the server merges into the
// conversation's), keeps its own (or none) but still takes its position, so
// the numbering does not depend on them. first is the position of msgs[0],
// -1 when no keys are derived.
func (h *Handler) withReplyKeys(ctx context.Context, inv *invocation, msgs []chatshipper.MessageInput) (_ []chatshipper.MessageInput, first int) {
	if inv == nil || !h.bots.replyKeys {
		return msgs, -1
	}
	identity := eventIdentity(inv.ev)
	if identity == "" {
		return msgs, -1
	}
	self := h.self(ctx)
	first = inv.take(len(msgs))
	out := make([]chatshipper.MessageInput, len(msgs))
	for i, m := range msgs {
		if _, has := m.Meta[chatshipper.DeliveryKeyMeta]; !has && !isSetCommand(m) {
			meta := make(chatshipper.Meta, len(m.Meta)+1)
			maps.Copy(meta, m.Meta)
			meta[chatshipper.DeliveryKeyMeta] = replyKey(self, identity, inv.scope, first+i)
			m.Meta = meta
		}
		out[i] = m
	}
	return out, first
}

// replayWindow is how many positions after a keyless "/set" a handler run
// looks up to tell whether an earlier run of the same event went past it.
const replayWindow = 16

// dropReplayedSets returns msgs (keyed by withReplyKeys from position first)
// without the keyless "/set" commands that an earlier run of the same
// invocation (a redelivery, another replica, a restart) already sent: those
// followed by a message that run stored, found by its derived delivery key
// (or the key the caller set on a later message of the same send). Sending
// such a command again would undo what happened since, for instance re-arm
// a question already answered. The lookup is made once per run, at its first
// keyless "/set" (again only past its window when the run is a repetition),
// and only with a client that can look keys up.
func (h *Handler) dropReplayedSets(ctx context.Context, inv *invocation, convID string, msgs []chatshipper.MessageInput, first int) ([]chatshipper.MessageInput, error) {
	resolve := h.bots.resolve
	if inv == nil || first < 0 || resolve == nil {
		return msgs, nil
	}
	var out []chatshipper.MessageInput
	dropped := false
	for i, m := range msgs {
		if _, keyed := m.Meta[chatshipper.DeliveryKeyMeta]; !keyed && isSetCommand(m) {
			ran, err := inv.ranPast(first+i, func(from int) (int, error) {
				return h.lookAhead(ctx, inv, convID, from, msgs[i+1:], first+i+1)
			})
			if err != nil {
				return nil, err
			}
			if ran {
				if !dropped {
					out, dropped = append(out, msgs[:i]...), true
				}
				continue
			}
		}
		if dropped {
			out = append(out, m)
		}
	}
	if !dropped {
		return msgs, nil
	}
	return out, nil
}

// ranPast reports whether an earlier run of inv went past position pos (a
// keyless "/set"), asking look (which returns the highest position from
// from on that an earlier run stored, or -1) only when what is known does
// not tell.
func (inv *invocation) ranPast(pos int, look func(from int) (int, error)) (bool, error) {
	inv.probeMu.Lock()
	defer inv.probeMu.Unlock()
	switch {
	case inv.fresh:
		return false, nil
	case inv.probed && pos < inv.lastFound:
		return true, nil
	case inv.probed && pos+1 < inv.probeEnd:
		return false, nil // the earlier run stopped before: send it (the same value again)
	}
	last, err := look(pos + 1)
	if err != nil {
		return false, err
	}
	inv.probed, inv.probeEnd = true, pos+1+replayWindow
	if last < 0 {
		inv.fresh = true // from here on, this run is the first
		return false, nil
	}
	inv.lastFound = last
	return true, nil
}

// lookAhead looks up, in one request, the derived keys of the replayWindow
// positions from from on, and the keys set on later messages of the same
// send (later[j] at position laterPos+j), and returns the highest position
// found stored, or -1.
func (h *Handler) lookAhead(ctx context.Context, inv *invocation, convID string, from int, later []chatshipper.MessageInput, laterPos int) (int, error) {
	self, identity := h.self(ctx), eventIdentity(inv.ev)
	keys := make([]string, 0, replayWindow+len(later))
	pos := make([]int, 0, cap(keys))
	for n := from; n < from+replayWindow; n++ {
		keys = append(keys, replyKey(self, identity, inv.scope, n))
		pos = append(pos, n)
	}
	for j, m := range later {
		if k, ok := m.Meta[chatshipper.DeliveryKeyMeta].(string); ok && k != "" && !slices.Contains(keys, k) {
			keys = append(keys, k)
			pos = append(pos, laterPos+j)
		}
	}
	found, err := h.bots.resolve(ctx, convID, keys)
	if err != nil {
		return -1, fmt.Errorf("chatshipper: webhook: looking up the replies of an earlier run of this event: %w", err)
	}
	last := -1
	for i, m := range found {
		if m != nil && i < len(pos) {
			last = max(last, pos[i])
		}
	}
	return last, nil
}

// isSetCommand reports whether m is a "/set" command.
func isSetCommand(m chatshipper.MessageInput) bool {
	if m.Type != chatshipper.MessageTypeCommand {
		return false
	}
	name, _, _ := strings.Cut(strings.TrimSpace(m.Text), " ")
	return strings.EqualFold(name, "/set")
}
