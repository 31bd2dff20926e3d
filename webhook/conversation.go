package webhook

import (
	"container/list"
	"context"
	"errors"
	"maps"
	"strconv"
	"strings"
	"sync"

	"github.com/go-chatshipper/chatshipper"
)

// The conversation context: an event's conversation bound to the handler's
// client, with chipchat's say, ask, accept, join, leave, assign, notify and
// set, and its meta read without a request.

// ErrNoConversation is returned by [Handler.Conversation] for an event that
// names no conversation (no data.conversation, no message with one).
var ErrNoConversation = errors.New("chatshipper: webhook event names no conversation")

// conversationCacheSize bounds how many conversations the handler remembers
// from conversation events, to serve the newest meta.
const conversationCacheSize = 1024

// Conversation is the conversation of an event, bound to the handler's client
// ([WithClient]): the conversation context of chipchat. Its sends
// ([Conversation.Say], [Conversation.Send], [Conversation.Ask] and the
// commands) go through the send middleware ([Handler.UseSend]) and, made
// from a handler, are exactly-once (see [Conversation.Send]). Its meta is
// read from the event without a request ([Conversation.Meta]).
//
// Get one with [Handler.Conversation]. It is safe for concurrent use, but the
// sends of one handler should be made one after the other: their order
// numbers their delivery keys.
//
// Conversation context in the official Node SDK: https://chatshipper.github.io/chipchat/quickstart.html
type Conversation struct {
	h   *Handler
	ev  *Event
	id  string
	inv *invocation // nil outside a handler

	mu    sync.Mutex
	local map[string]any // meta set through this value, newest first
}

// Conversation returns the conversation context of e. Inside a handler,
// answer function or middleware, pass the context the handler got, so that
// its sends carry delivery keys derived from the event. It returns a
// [*chatshipper.ArgumentError] for a nil context or event and
// [ErrNoConversation] for an event that names no conversation. It makes no
// request.
func (h *Handler) Conversation(ctx context.Context, e *Event) (*Conversation, error) {
	switch {
	case ctx == nil:
		return nil, argError("ctx", "nil context")
	case e == nil:
		return nil, argError("e", "nil *Event")
	}
	id := e.ConversationID()
	if id == "" {
		return nil, ErrNoConversation
	}
	inv := invocationFrom(ctx)
	if inv != nil && inv.ev != e {
		inv = nil // a context of another event: its numbering does not apply
	}
	return &Conversation{h: h, ev: e, id: id, inv: inv}, nil
}

// ID returns the conversation's ID.
func (c *Conversation) ID() string { return c.id }

// Event returns the event the conversation was taken from.
func (c *Conversation) Event() *Event { return c.ev }

// Data returns the newest copy of the conversation the handler has seen, or
// nil: the event's data.conversation, or a later one from a
// conversation.update (or any other event about the conversation) received
// since, by updatedAt. It is the server's view: meta set through this
// Conversation is in [Conversation.Meta] at once, here only once an event
// brings it. Treat it as read-only.
func (c *Conversation) Data() *chatshipper.Conversation {
	own := c.ev.Data.Conversation
	if own != nil && own.ID != c.id {
		own = nil
	}
	cached := c.h.bots.convs.get(c.id)
	switch {
	case cached == nil:
		return own
	case own == nil:
		return cached
	case cached.UpdatedAt.After(own.UpdatedAt.Time):
		return cached
	}
	return own
}

// Meta returns the value of the conversation's meta key, and whether it is
// set, without a request: a value set through this Conversation
// ([Conversation.Set], [Conversation.SetValues], [Conversation.Ask]) first,
// else the newest copy of the conversation ([Conversation.Data]). Values
// decode as encoding/json decodes into an interface (numbers as float64).
// A key "@name" (or "@category", ...) reads the conversation property.
//
// Meta properties: https://developers.web1on1.chat/messaging/metaproperties
func (c *Conversation) Meta(key string) (any, bool) {
	c.mu.Lock()
	v, ok := c.local[key]
	c.mu.Unlock()
	if ok {
		return v, true
	}
	d := c.Data()
	if d == nil {
		return nil, false
	}
	if prop, isProp := strings.CutPrefix(key, "@"); isProp {
		return property(d, prop)
	}
	return d.Meta.Lookup(key)
}

// MetaString returns the meta value of key when it is a string, else "".
func (c *Conversation) MetaString(key string) string {
	v, _ := c.Meta(key)
	s, _ := v.(string)
	return s
}

// property reads a conversation property /set can change.
func property(d *chatshipper.Conversation, name string) (any, bool) {
	switch name {
	case "name":
		return d.Name, d.Name != ""
	case "category":
		return d.Category, d.Category != ""
	case "touchpoint":
		return d.Touchpoint, d.Touchpoint != ""
	case "language":
		return d.Language, d.Language != ""
	}
	return nil, false
}

func (c *Conversation) setLocal(values map[string]any) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.local == nil {
		c.local = make(map[string]any, len(values))
	}
	maps.Copy(c.local, values)
}

// Send posts messages (ordinary messages and commands, in order, in one
// request) into the conversation through the send middleware and returns
// them as stored.
//
// Made from a handler (a Conversation taken with the handler's context),
// each message carries a delivery key (meta [chatshipper.DeliveryKeyMeta])
// derived from the event (for a new message, its message ID, which every
// delivery of it carries), the handler (its pattern, or the answer's name)
// and the message's position among the handler's sends. A redelivered event,
// a second replica given the same event, or a restart thus sends the same
// keys, and the client, finding a caller's key already stored, returns the
// stored message instead of posting it again: one reply per event, with no
// shared store. Each keyed send costs one lookup request before it is
// posted. Two replicas running the same event at the very same moment may
// both miss the other's message in that lookup; a shared [Deduper] closes
// that window. A message that has a key keeps it; "/set" commands carry none
// (the server merges their meta into the conversation's). Sending one again
// in a repeated run could undo what happened since (re-arm a question
// answered since), so at its first keyless "/set" a run looks up the keys of
// its next 16 positions (one request): "/set" commands that an earlier run
// followed with a stored message are not sent again, and are absent from
// the result; one after the earlier run's last stored message is sent again
// (the same value). That needs a [*chatshipper.Client], or a [Sender] that is
// also a [Resolver]; an error of the lookup is returned and nothing is sent.
// Outside a handler, and with [WithReplyKeys](false), the client's own random
// keys apply and "/set" commands are always sent.
//
// POST /v2/conversations/{id}/messages
func (c *Conversation) Send(ctx context.Context, msgs ...chatshipper.MessageInput) ([]*chatshipper.Message, error) {
	if ctx == nil {
		return nil, argError("ctx", "nil context")
	}
	if len(msgs) == 0 {
		return nil, argError("msgs", "at least one message is required")
	}
	for i := range msgs {
		if err := msgs[i].Err(); err != nil {
			return nil, err
		}
	}
	send := c.h.sendChain()
	if send == nil {
		return nil, ErrNoSender
	}
	keyed, first := c.h.withReplyKeys(ctx, c.inv, msgs)
	keyed, err := c.h.dropReplayedSets(ctx, c.inv, c.id, keyed, first)
	if err != nil {
		return nil, err
	}
	if len(keyed) == 0 {
		return nil, nil
	}
	return send(ctx, c.id, keyed)
}

// send1 sends one message and returns it as stored.
func (c *Conversation) send1(ctx context.Context, m chatshipper.MessageInput) (*chatshipper.Message, error) {
	out, err := c.Send(ctx, m)
	if err != nil || len(out) == 0 {
		return nil, err
	}
	return out[0], nil
}

// Say sends text as a chat message with the role agent, so that it reaches
// the contact of a contact conversation (chipchat's say sends the API's
// default role, bot, which the contact never sees; send
// chatshipper.Chat(text) with [Conversation.Send] for that). An empty text is
// refused with a [*chatshipper.ArgumentError] before any request.
//
// Messages: https://developers.web1on1.chat/messaging/messagetypes/
func (c *Conversation) Say(ctx context.Context, text string) (*chatshipper.Message, error) {
	if strings.TrimSpace(text) == "" {
		return nil, argError("text", "must not be empty")
	}
	return c.send1(ctx, chatshipper.Chat(text).WithRole(chatshipper.RoleAgent))
}

// Accept sends "/accept": the bot becomes responsible for the conversation
// (status active, its active and accepted flags set).
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Accept(ctx context.Context) (*chatshipper.Message, error) {
	return c.send1(ctx, chatshipper.Accept())
}

// Join sends "/join": the bot becomes a passive participant (active flag);
// the status is unchanged, except that a closed conversation re-opens.
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Join(ctx context.Context) (*chatshipper.Message, error) {
	return c.send1(ctx, chatshipper.Join())
}

// Leave sends "/leave": the bot leaves; the conversation is closed when the
// contact's last message was answered, else queued again for the channels
// (the usual hand-over to people).
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Leave(ctx context.Context) (*chatshipper.Message, error) {
	return c.send1(ctx, chatshipper.Leave())
}

// Close sends "/close", the alias of "/leave".
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Close(ctx context.Context) (*chatshipper.Message, error) {
	return c.send1(ctx, chatshipper.Close())
}

// Assign sends "/assign" for the given users (at least one user ID): each
// becomes a participant with the inbox flag set.
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Assign(ctx context.Context, userIDs ...string) (*chatshipper.Message, error) {
	return c.send1(ctx, chatshipper.Assign(userIDs...))
}

// Notify sends "/notify": without channel IDs it runs the routing workflows
// of the conversation's organization and its ancestors; with them it
// notifies exactly those channels (meta.channels). To follow other
// organizations' rules, send [chatshipper.NotifyOrganizations] with
// [Conversation.Send].
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Notify(ctx context.Context, channelIDs ...string) (*chatshipper.Message, error) {
	if len(channelIDs) == 0 {
		return c.send1(ctx, chatshipper.Notify())
	}
	return c.send1(ctx, chatshipper.NotifyChannels(channelIDs...))
}

// Set sends "/set key value" as chipchat's set does. A key starting with "@"
// sets a conversation property ("@name", "@category" by name or slot index,
// "@touchpoint", "@language"); any other key sets conversation.meta[key] to
// the string value, and an empty value clears it (sets ""). The value is
// visible through [Conversation.Meta] at once. Refused arguments are a
// [*chatshipper.ArgumentError], before any request.
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) Set(ctx context.Context, key, value string) error {
	var m chatshipper.MessageInput
	if prop, ok := strings.CutPrefix(key, "@"); ok {
		switch prop {
		case "name":
			m = chatshipper.SetName(value)
		case "category":
			if i, err := strconv.Atoi(value); err == nil {
				m = chatshipper.SetCategoryIndex(i)
			} else {
				m = chatshipper.SetCategory(value)
			}
		case "touchpoint":
			m = chatshipper.SetTouchpoint(chatshipper.Touchpoint(value))
		case "language":
			m = chatshipper.SetLanguage(value)
		default:
			return argError("key", "%q is not a property /set can change (@name, @category, @touchpoint, @language)", key)
		}
	} else if value == "" {
		m = chatshipper.SetMetaValues(chatshipper.Meta{key: ""})
	} else {
		m = chatshipper.SetMeta(key, value)
	}
	if _, err := c.Send(ctx, m); err != nil {
		return err
	}
	c.setLocal(map[string]any{key: value})
	return nil
}

// SetValues merges values (any JSON values) into conversation.meta with one
// "/set" command; they are visible through [Conversation.Meta] at once.
//
// Commands: https://developers.chatshipper.com/docs/messaging-commands
func (c *Conversation) SetValues(ctx context.Context, values chatshipper.Meta) error {
	if _, err := c.Send(ctx, chatshipper.SetMetaValues(values)); err != nil {
		return err
	}
	normalized := make(map[string]any, len(values))
	for k, v := range values {
		if nv, err := normalizeJSONValue(v); err == nil {
			normalized[k] = nv
		}
	}
	c.setLocal(normalized)
	return nil
}

// convCache keeps the newest copy of recently seen conversations, for
// Conversation.Data: at most max, the least recently updated forgotten first.
type convCache struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element // of *chatshipper.Conversation
	order list.List                // front: most recently stored
}

// remember stores the event's conversation unless a newer copy is known.
func (cc *convCache) remember(e *Event) {
	conv := e.Data.Conversation
	if conv == nil || conv.ID == "" || cc.max <= 0 {
		return
	}
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if cc.items == nil {
		cc.items = make(map[string]*list.Element)
	}
	if el, ok := cc.items[conv.ID]; ok {
		if el.Value.(*chatshipper.Conversation).UpdatedAt.After(conv.UpdatedAt.Time) {
			return // an event delivered late: keep the newer copy
		}
		el.Value = conv
		cc.order.MoveToFront(el)
		return
	}
	cc.items[conv.ID] = cc.order.PushFront(conv)
	if cc.order.Len() > cc.max {
		last := cc.order.Back()
		cc.order.Remove(last)
		delete(cc.items, last.Value.(*chatshipper.Conversation).ID)
	}
}

func (cc *convCache) get(id string) *chatshipper.Conversation {
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if el, ok := cc.items[id]; ok {
		return el.Value.(*chatshipper.Conversation)
	}
	return nil
}
