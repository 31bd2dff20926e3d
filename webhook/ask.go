package webhook

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"runtime/debug"
	"strings"
	"unicode/utf8"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// Ask and answer, in chipchat's protocol: the question's marker lives in the
// conversation's own meta, so whichever replica gets the answer can run it.

// AskedMetaKeyPrefix starts the conversation meta key under which a bot marks
// the question it waits an answer for: the key is the prefix followed by the
// bot's user ID ([AskedMetaKey]), and the value names the answer. The
// official Node SDK (chipchat) uses the same key, so a bot written with it
// and one written with this package read each other's questions.
const AskedMetaKeyPrefix = "_asked"

// maxAnswerName bounds the length of an answer's name.
const maxAnswerName = 128

// AskedMetaKey returns the conversation meta key of the questions of the bot
// whose user ID is botUserID: "_asked" followed by the ID.
func AskedMetaKey(botUserID string) string { return AskedMetaKeyPrefix + botUserID }

// AnswerFunc handles the answer to a question asked with [Conversation.Ask]:
// the next chat or postback message with text in the conversation, written
// by the contact (in a contact conversation) or by a contact or agent (in a
// team conversation). c is the conversation, bound like a handler's, so its
// sends are exactly-once; answer is the message. Returning an error answers
// 500, so the platform delivers the event again and the function runs again.
type AnswerFunc func(ctx context.Context, c *Conversation, answer *chatshipper.Message) error

// RegisterAnswer registers fn as the answer named name, like chipchat's
// registerCallback: [Conversation.Ask] names it, and when the answer arrives,
// on this handler or any other registering the same name (another replica, a
// restarted process, or a chipchat bot with the same user and callback name),
// the marker is cleared and fn runs instead of the handlers. Register every
// answer at start-up, on every replica.
//
// A name is 1 to 128 characters without spaces or control characters, and
// not a 24-hex-digit resource ID (chipchat writes the question's message ID
// there when its callback is a function, which only its own process can
// run). Registering a name twice, a nil fn, or registering without a client
// that can send ([ErrNoSender]) is refused; nothing is registered then.
func (h *Handler) RegisterAnswer(name string, fn AnswerFunc) error {
	if err := checkAnswerName(name); err != nil {
		return err
	}
	if fn == nil {
		return argError("fn", "nil AnswerFunc for %q", name)
	}
	if h.bots.sender == nil {
		return fmt.Errorf("RegisterAnswer(%q): %w", name, ErrNoSender)
	}
	h.bots.mu.Lock()
	defer h.bots.mu.Unlock()
	var next map[string]AnswerFunc
	if old := h.bots.answers.Load(); old != nil {
		if _, dup := (*old)[name]; dup {
			return argError("name", "an answer named %q is registered already", name)
		}
		next = maps.Clone(*old)
	} else {
		next = make(map[string]AnswerFunc, 1)
	}
	next[name] = fn
	h.bots.answers.Store(&next)
	return nil
}

func checkAnswerName(name string) error {
	switch {
	case name == "":
		return argError("name", "must not be empty")
	case utf8.RuneCountInString(name) > maxAnswerName:
		return argError("name", "longer than %d characters", maxAnswerName)
	case !utf8.ValidString(name) || strings.ContainsFunc(name, isSpaceOrControl):
		return argError("name", "%q must be one word without control characters", wire.Truncate(name, 32))
	case chatshipper.IsValidID(name):
		return argError("name", "%q reads as a message ID, which chipchat writes for answers only its own process can run", name)
	}
	return nil
}

// registeredAnswer returns the answer named name, or nil.
func (h *Handler) registeredAnswer(name string) AnswerFunc {
	if m := h.bots.answers.Load(); m != nil {
		return (*m)[name]
	}
	return nil
}

// Ask sends question as [Conversation.Say] does and waits for the answer,
// without holding anything in memory: it sets the conversation's meta
// [AskedMetaKey](bot) to name with "/set" (chipchat's marker) and sends the
// question after it, both in one request, so the answer cannot arrive before
// the marker and a refused request leaves neither. The contact's next message
// then goes to the [AnswerFunc] registered under name (see
// [Handler.RegisterAnswer]), on whichever replica receives it, and the
// marker is cleared.
//
// Asked from a handler, Ask is idempotent per event: when the question (found
// by its delivery key, derived from the event as for every reply) is stored
// already, because the event is delivered again or runs on a second replica
// or after a restart, the marker is not set again and the stored question is
// returned, so a question answered since is not re-armed (see
// [Conversation.Send]). This costs one lookup request before the send.
//
// Refused before any request: an empty question, a name that is not
// registered on this handler ([*chatshipper.ArgumentError] for both), a
// handler without a client that can send ([ErrNoSender]), and an unknown own
// user ID ([chatshipper.ErrSelfUnknown]). It returns the question as stored.
//
// Commands (/set): https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Ask(ctx context.Context, question, name string) (*chatshipper.Message, error) {
	if strings.TrimSpace(question) == "" {
		return nil, argError("question", "must not be empty")
	}
	return c.AskMessage(ctx, chatshipper.Chat(question).WithRole(chatshipper.RoleAgent), name)
}

// AskMessage is Ask with any message as the question, for instance a chat
// message with reply actions (quick replies).
func (c *Conversation) AskMessage(ctx context.Context, question chatshipper.MessageInput, name string) (*chatshipper.Message, error) {
	if ctx == nil {
		return nil, argError("ctx", "nil context")
	}
	if err := question.Err(); err != nil {
		return nil, err
	}
	if strings.TrimSpace(question.Text) == "" {
		return nil, argError("question", "must not be empty")
	}
	if isSetCommand(question) {
		return nil, argError("question", "a /set command is not a question")
	}
	if err := checkAnswerName(name); err != nil {
		return nil, err
	}
	if c.h.registeredAnswer(name) == nil {
		return nil, argError("name", "no answer is registered as %q (Handler.RegisterAnswer)", name)
	}
	if c.h.sendChain() == nil {
		return nil, ErrNoSender
	}
	self := c.h.self(ctx)
	if self == "" {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("Ask: the bot's user ID names its question marker: %w", chatshipper.ErrSelfUnknown)
	}
	key := AskedMetaKey(self)
	out, err := c.Send(ctx, chatshipper.SetMeta(key, name), question)
	if err != nil {
		return nil, err
	}
	c.setLocal(map[string]any{key: name})
	// The question is the last message stored; the marker's command, when
	// it was sent, comes before it.
	if n := len(out); n > 0 && out[n-1] != nil && !(out[n-1].Type == chatshipper.MessageTypeCommand && out[n-1].Text != question.Text) {
		return out[n-1], nil
	}
	return nil, fmt.Errorf("chatshipper: webhook: Ask: the answer to the send holds no question: %w", chatshipper.ErrInvalidResponse)
}

// Asked returns the name of the answer the bot waits for in this
// conversation, read from the event's own copy of the conversation (as it
// was when the event's message was written), or "" when none. A value set
// through this Conversation comes first.
func (c *Conversation) Asked(ctx context.Context) string {
	self := c.h.self(ctx)
	if self == "" {
		return ""
	}
	key := AskedMetaKey(self)
	c.mu.Lock()
	v, ok := c.local[key]
	c.mu.Unlock()
	if !ok {
		v = askedIn(c.ev, key)
	}
	s, _ := v.(string)
	return s
}

func askedIn(e *Event, key string) any {
	if conv := e.Data.Conversation; conv != nil {
		return conv.Meta.Get(key)
	}
	return nil
}

// isAnswer reports whether e's message can answer a question: a new chat or
// postback message with text, from the contact in a contact conversation,
// from a contact or an agent in a team conversation.
func isAnswer(e *Event) bool {
	m := e.Data.Message
	if m == nil || m.Text == "" || !e.isMessageCreate() {
		return false
	}
	switch e.MessageType() {
	case chatshipper.MessageTypeChat, chatshipper.MessageTypePostback:
	default:
		return false
	}
	if e.ConversationType() == chatshipper.ConversationContact {
		return m.Role == chatshipper.RoleContact
	}
	return m.Role == chatshipper.RoleContact || m.Role == chatshipper.RoleAgent
}

// answer runs the answer e is, if it is one: the marker of the event's own
// copy of the conversation (never a newer one: a later question must not take
// an earlier answer) names a registered answer. The marker is cleared first,
// so a question the answer function asks in turn stands. handled is false
// when e is not an answer; then the handlers run. A marker naming no
// registered answer is logged and left for whoever registered it.
func (h *Handler) answer(ctx context.Context, e *Event) (handled bool, err error) {
	if h.bots.answers.Load() == nil || !isAnswer(e) {
		return false, nil
	}
	self := h.self(ctx)
	if self == "" {
		return false, nil
	}
	key := AskedMetaKey(self)
	name, _ := askedIn(e, key).(string)
	if name == "" {
		return false, nil
	}
	fn := h.registeredAnswer(name)
	if fn == nil {
		h.unknownAnswer(ctx, e, name)
		return false, nil
	}
	scope := "answer:" + name
	actx := withInvocation(ctx, e, scope)
	c, err := h.Conversation(actx, e)
	if err != nil {
		return true, err
	}
	if _, err := c.Send(actx, chatshipper.SetMetaValues(chatshipper.Meta{key: ""})); err != nil {
		return true, fmt.Errorf("chatshipper: webhook: clearing the question marker: %w", err)
	}
	c.setLocal(map[string]any{key: ""})
	return true, runAnswer(actx, scope, fn, c, e.Data.Message)
}

func runAnswer(ctx context.Context, scope string, fn AnswerFunc, c *Conversation, m *chatshipper.Message) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Pattern: scope, Value: v, Stack: debug.Stack()}
		}
	}()
	return fn(ctx, c, m)
}

// unknownAnswer logs a marker naming no registered answer. The event goes on
// to the handlers and is acknowledged: a retry could not register the name.
func (h *Handler) unknownAnswer(ctx context.Context, e *Event, name string) {
	if h.logger == nil {
		return
	}
	msg := "chatshipper: webhook: a question waits for an answer not registered here; the message goes to the handlers"
	if chatshipper.IsValidID(name) {
		msg = "chatshipper: webhook: a question waits for an answer function of a chipchat process (message ID marker); the message goes to the handlers"
	}
	h.logger.LogAttrs(ctx, slog.LevelWarn, msg,
		slog.String("answer", wire.Truncate(name, maxAnswerName)), slog.String("conversation", e.ConversationID()),
		slog.String("event", e.Name), slog.String("id", e.ID))
}
