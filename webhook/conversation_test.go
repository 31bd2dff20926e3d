package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
)

// Tests of the conversation context, ask and answer, middleware and the
// reply keys, against a client that records every send (botClient). The
// same flows against the fake server, through real webhook deliveries, are in
// bot_integration_test.go.

// botClient is a Client, Sender and Resolver that records sends and, like
// the API client with a caller-set delivery key, returns the stored message
// instead of storing a key twice.
type botClient struct {
	fakeClient
	mu       sync.Mutex
	calls    [][]chatshipper.MessageInput
	stored   []*chatshipper.Message
	byKey    map[string]*chatshipper.Message
	fail     error      // returned by every send when set
	lookups  [][]string // the keys of each ResolveMessages
	lookFail error      // returned by every ResolveMessages when set
}

func (b *botClient) ResolveMessages(_ context.Context, _ string, keys ...string) ([]*chatshipper.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lookups = append(b.lookups, keys)
	if b.lookFail != nil {
		return nil, b.lookFail
	}
	out := make([]*chatshipper.Message, len(keys))
	for i, k := range keys {
		out[i] = b.byKey[k]
	}
	return out, nil
}

func (b *botClient) lookupCount() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.lookups)
}

// senderOnly is a Client and Sender that cannot look keys up: a botClient
// without its ResolveMessages.
type senderOnly struct {
	Client
	b *botClient
}

func (s senderOnly) SendMessages(ctx context.Context, conv string, msgs ...chatshipper.MessageInput) ([]*chatshipper.Message, error) {
	return s.b.SendMessages(ctx, conv, msgs...)
}

func newBotClient() *botClient {
	return &botClient{
		fakeClient: fakeClient{self: func(context.Context) (string, error) { return whBot, nil }},
		byKey:      map[string]*chatshipper.Message{},
	}
}

func (b *botClient) SendMessages(_ context.Context, conv string, msgs ...chatshipper.MessageInput) ([]*chatshipper.Message, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.calls = append(b.calls, msgs)
	if b.fail != nil {
		return nil, b.fail
	}
	out := make([]*chatshipper.Message, 0, len(msgs))
	for _, m := range msgs {
		key, _ := m.Meta[chatshipper.DeliveryKeyMeta].(string)
		if prev := b.byKey[key]; key != "" && prev != nil {
			out = append(out, prev)
			continue
		}
		meta, err := chatshipper.ObjectOf(m.Meta)
		if err != nil {
			return nil, err
		}
		sm := &chatshipper.Message{ID: fmt.Sprintf("%024x", len(b.stored)+1), Conversation: chatshipper.NewRef[chatshipper.Conversation](conv),
			Type: m.Type, Role: m.Role, Text: m.Text, Meta: meta}
		if sm.Type == "" {
			sm.Type = chatshipper.MessageTypeChat
		}
		b.stored = append(b.stored, sm)
		if key != "" {
			b.byKey[key] = sm
		}
		out = append(out, sm)
	}
	return out, nil
}

// texts returns the texts of the messages stored, in order.
func (b *botClient) texts() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]string, len(b.stored))
	for i, m := range b.stored {
		out[i] = m.Text
	}
	return out
}

func (b *botClient) sent() [][]chatshipper.MessageInput {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([][]chatshipper.MessageInput(nil), b.calls...)
}

// botEvent is a message.create event in a conversation of convType whose
// meta is convMeta; msgID names the message.
func botEvent(t testing.TB, id, msgID string, convType chatshipper.ConversationType, role chatshipper.Role, text string, convMeta map[string]any) *Event {
	t.Helper()
	msg := whMessage(whContact, role, chatshipper.MessageTypeChat, text)
	msg["id"] = msgID
	conv := map[string]any{"id": whConv, "type": string(convType), "updatedAt": "2024-03-14T09:26:50.000Z"}
	if convMeta != nil {
		conv["meta"] = convMeta
	}
	e, err := ParseEvent(whEvent(t, id, "message.create."+string(convType)+".chat", map[string]any{"conversation": conv, "message": msg}))
	require.NoError(t, err)
	return e
}

func newBotWH(t testing.TB, bc *botClient, opts ...Option) *Handler {
	t.Helper()
	return newWH(t, append([]Option{WithClient(bc)}, opts...)...)
}

func msgID(n int) string { return fmt.Sprintf("%024x", 0xabc000+n) }

func TestConversationCommands(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		call func(context.Context, *Conversation) error
		want chatshipper.MessageInput
	}{
		{"Say", func(ctx context.Context, c *Conversation) error { _, err := c.Say(ctx, "Hello"); return err },
			chatshipper.MessageInput{Role: chatshipper.RoleAgent, Text: "Hello"}},
		{"Accept", func(ctx context.Context, c *Conversation) error { _, err := c.Accept(ctx); return err },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/accept"}},
		{"Join", func(ctx context.Context, c *Conversation) error { _, err := c.Join(ctx); return err },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/join"}},
		{"Leave", func(ctx context.Context, c *Conversation) error { _, err := c.Leave(ctx); return err },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/leave"}},
		{"Close", func(ctx context.Context, c *Conversation) error { _, err := c.Close(ctx); return err },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/close"}},
		{"Assign", func(ctx context.Context, c *Conversation) error { _, err := c.Assign(ctx, whAgent); return err },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/assign", Meta: chatshipper.Meta{"users": []string{whAgent}}}},
		{"Notify", func(ctx context.Context, c *Conversation) error { _, err := c.Notify(ctx); return err },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/notify"}},
		{"Notify channels", func(ctx context.Context, c *Conversation) error { _, err := c.Notify(ctx, whAgent); return err },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/notify", Meta: chatshipper.Meta{"channels": []string{whAgent}}}},
		{"Set meta", func(ctx context.Context, c *Conversation) error { return c.Set(ctx, "stage", "greeted") },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/set stage greeted"}},
		{"Set empty clears", func(ctx context.Context, c *Conversation) error { return c.Set(ctx, "stage", "") },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/set", Meta: chatshipper.Meta{"stage": ""}}},
		{"Set @name", func(ctx context.Context, c *Conversation) error { return c.Set(ctx, "@name", "Review") },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/set @name Review"}},
		{"Set @category index", func(ctx context.Context, c *Conversation) error { return c.Set(ctx, "@category", "2") },
			chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/set @category 2"}},
		{"SetValues", func(ctx context.Context, c *Conversation) error {
			return c.SetValues(ctx, chatshipper.Meta{"score": 3})
		}, chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/set", Meta: chatshipper.Meta{"score": 3}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			bc := newBotClient()
			h := newBotWH(t, bc)
			require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error {
				c, err := h.Conversation(ctx, e)
				if err != nil {
					return err
				}
				return tc.call(ctx, c)
			}))
			require.NoError(t, h.Dispatch(context.Background(), botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", nil)))
			calls := bc.sent()
			require.Len(t, calls, 1)
			require.Len(t, calls[0], 1)
			got := calls[0][0]
			if !isSetCommand(got) {
				key, ok := got.Meta[chatshipper.DeliveryKeyMeta].(string)
				require.True(t, ok, "a reply from a handler carries a derived key")
				assert.Regexp(t, `^r[0-9a-f]{32}$`, key)
				delete(got.Meta, chatshipper.DeliveryKeyMeta)
				if len(got.Meta) == 0 {
					got.Meta = nil
				}
			} else {
				assert.NotContains(t, got.Meta, chatshipper.DeliveryKeyMeta, "a /set carries no key: its meta goes into the conversation's")
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestConversationRefusesBadInputBeforeAnyRequest(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	h := newBotWH(t, bc)
	require.NoError(t, h.RegisterAnswer("name", func(context.Context, *Conversation, *chatshipper.Message) error { return nil }))
	e := botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", nil)
	ctx := context.Background()
	c, err := h.Conversation(ctx, e)
	require.NoError(t, err)
	cases := []struct {
		name string
		call func() error
	}{
		{"empty question", func() error { _, err := c.Ask(ctx, "", "name"); return err }},
		{"blank question", func() error { _, err := c.Ask(ctx, " \n\t", "name"); return err }},
		{"empty AskMessage", func() error { _, err := c.AskMessage(ctx, chatshipper.MessageInput{}, "name"); return err }},
		{"/set as a question", func() error { _, err := c.AskMessage(ctx, chatshipper.SetMeta("a", "b"), "name"); return err }},
		{"unregistered name", func() error { _, err := c.Ask(ctx, "What is your name?", "nobody"); return err }},
		{"empty name", func() error { _, err := c.Ask(ctx, "What is your name?", ""); return err }},
		{"name with a space", func() error { _, err := c.Ask(ctx, "What is your name?", "your name"); return err }},
		{"empty Say", func() error { _, err := c.Say(ctx, ""); return err }},
		{"Send nothing", func() error { _, err := c.Send(ctx); return err }},
		{"Assign nobody", func() error { _, err := c.Assign(ctx); return err }},
		{"Assign a bad ID", func() error { _, err := c.Assign(ctx, "nope"); return err }},
		{"Set unknown property", func() error { return c.Set(ctx, "@colour", "red") }},
		{"Set @language", func() error { return c.Set(ctx, "@language", "German") }},
		{"SetValues empty", func() error { return c.SetValues(ctx, nil) }},
	}
	for _, tc := range cases {
		err := tc.call()
		require.Error(t, err, tc.name)
		assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument, tc.name)
	}
	assert.Empty(t, bc.sent(), "no request for refused input")

	_, err = h.Conversation(ctx, nil)
	assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
	_, err = h.Conversation(ctx, &Event{Name: "service.create"})
	assert.ErrorIs(t, err, ErrNoConversation)
}

func TestConversationWithoutSender(t *testing.T) {
	t.Parallel()
	h := newWH(t, WithClient(&fakeClient{})) // a Client that cannot send
	e := botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", map[string]any{"stage": "x"})
	c, err := h.Conversation(context.Background(), e)
	require.NoError(t, err)
	_, err = c.Say(context.Background(), "hello")
	assert.ErrorIs(t, err, ErrNoSender)
	assert.Equal(t, "x", c.MetaString("stage"), "meta reads need no client")
	err = h.RegisterAnswer("name", func(context.Context, *Conversation, *chatshipper.Message) error { return nil })
	assert.ErrorIs(t, err, ErrNoSender)
}

func TestConversationMetaWithoutRequest(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	h := newBotWH(t, bc)
	var seen []string
	require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		seen = append(seen, c.MetaString("stage"))
		if err := c.Set(ctx, "stage", "set-here"); err != nil {
			return err
		}
		seen = append(seen, c.MetaString("stage"))
		return nil
	}))
	require.NoError(t, h.Handle("conversation.update", func(context.Context, *Event) error { return nil }))
	ctx := context.Background()

	// The event's own copy.
	require.NoError(t, h.Dispatch(ctx, botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "a", map[string]any{"stage": "from-event"})))
	assert.Equal(t, []string{"from-event", "set-here"}, seen)

	// A conversation.update newer than the next message event's copy refreshes it.
	upd, err := ParseEvent(whEvent(t, "ev-upd", "conversation.update", map[string]any{"conversation": map[string]any{
		"id": whConv, "type": "contact", "updatedAt": "2024-03-14T09:27:00.000Z", "meta": map[string]any{"stage": "from-update"}}}))
	require.NoError(t, err)
	require.NoError(t, h.Dispatch(ctx, upd))
	seen = nil
	require.NoError(t, h.Dispatch(ctx, botEvent(t, "ev-2", msgID(2), chatshipper.ConversationContact, chatshipper.RoleContact, "b", map[string]any{"stage": "stale"})))
	assert.Equal(t, []string{"from-update", "set-here"}, seen)

	// An older update (delivered late) does not replace a newer copy.
	old, err := ParseEvent(whEvent(t, "ev-old", "conversation.update", map[string]any{"conversation": map[string]any{
		"id": whConv, "updatedAt": "2024-03-14T09:00:00.000Z", "meta": map[string]any{"stage": "older"}}}))
	require.NoError(t, err)
	require.NoError(t, h.Dispatch(ctx, old))
	seen = nil
	require.NoError(t, h.Dispatch(ctx, botEvent(t, "ev-3", msgID(3), chatshipper.ConversationContact, chatshipper.RoleContact, "c", nil)))
	assert.Equal(t, []string{"from-update", "set-here"}, seen)
	assert.Empty(t, bc.byKey["none"], "meta reads made no request")
	for _, call := range bc.sent() {
		assert.True(t, isSetCommand(call[0]), "only the /set commands were sent")
	}
}

// Reply keys: the same event handled again (a retry, a replica, a restart)
// sends the same keys, so the client stores each reply once; different
// events, handlers and positions get different keys.
func TestReplyKeysOneReplyPerEvent(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	replica := func() *Handler {
		h := newBotWH(t, bc, WithDedupe(0)) // no memory: every replica or restart runs the event
		require.NoError(t, h.Handle("message.create.contact.chat", func(ctx context.Context, e *Event) error {
			c, err := h.Conversation(ctx, e)
			if err != nil {
				return err
			}
			if _, err := c.Say(ctx, "first reply to "+e.Data.Message.Text); err != nil {
				return err
			}
			_, err = c.Send(ctx, chatshipper.Chat("second reply to "+e.Data.Message.Text), chatshipper.Chat("third reply to "+e.Data.Message.Text))
			return err
		}))
		require.NoError(t, h.Handle("message.create.**", func(ctx context.Context, e *Event) error {
			c, err := h.Conversation(ctx, e)
			if err != nil {
				return err
			}
			_, err = c.Say(ctx, "other handler to "+e.Data.Message.Text)
			return err
		}))
		return h
	}
	a, b := replica(), replica()
	ctx := context.Background()
	e1 := botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "one", nil)
	for _, h := range []*Handler{a, b, a, replica()} { // a replica, a redelivery, a restart
		require.NoError(t, h.Dispatch(ctx, e1))
	}
	// The same message delivered under another event ID (a platform that
	// numbers retries anew) still gets the same keys.
	e1again := botEvent(t, "ev-1-retry", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "one", nil)
	require.NoError(t, b.Dispatch(ctx, e1again))
	require.NoError(t, a.Dispatch(ctx, botEvent(t, "ev-2", msgID(2), chatshipper.ConversationContact, chatshipper.RoleContact, "two", nil)))

	assert.Equal(t, []string{
		"first reply to one", "second reply to one", "third reply to one", "other handler to one",
		"first reply to two", "second reply to two", "third reply to two", "other handler to two",
	}, bc.texts())
	keys := map[string]bool{}
	for _, call := range bc.sent() {
		for _, m := range call {
			keys[m.Meta[chatshipper.DeliveryKeyMeta].(string)] = true
		}
	}
	assert.Len(t, keys, 8, "one key per reply, shared by every run of the same event")
}

func TestReplyKeysOffAndOutsideHandlers(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	e := botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "one", nil)

	bc := newBotClient()
	h := newBotWH(t, bc, WithReplyKeys(false))
	require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error {
		c, _ := h.Conversation(ctx, e)
		_, err := c.Say(ctx, "no key")
		return err
	}))
	require.NoError(t, h.Dispatch(ctx, e))
	require.Len(t, bc.sent(), 1)
	assert.NotContains(t, bc.sent()[0][0].Meta, chatshipper.DeliveryKeyMeta)

	// Outside a handler: no derived key (the client adds its own random one).
	bc2 := newBotClient()
	h2 := newBotWH(t, bc2)
	c, err := h2.Conversation(ctx, e)
	require.NoError(t, err)
	_, err = c.Say(ctx, "scheduled")
	require.NoError(t, err)
	assert.NotContains(t, bc2.sent()[0][0].Meta, chatshipper.DeliveryKeyMeta)

	// A caller's key is kept, and still takes its position.
	bc3 := newBotClient()
	h3 := newBotWH(t, bc3)
	require.NoError(t, h3.OnMessage(func(ctx context.Context, e *Event) error {
		c, _ := h3.Conversation(ctx, e)
		_, err := c.Send(ctx, chatshipper.Chat("mine").WithMeta(chatshipper.DeliveryKeyMeta, "my-own-key"), chatshipper.Chat("derived"))
		return err
	}))
	require.NoError(t, h3.Dispatch(ctx, e))
	got := bc3.sent()[0]
	assert.Equal(t, "my-own-key", got[0].Meta[chatshipper.DeliveryKeyMeta])
	assert.Equal(t, replyKey(whBot, "message:"+msgID(1)+":"+e.Name, "route:message.create.**#0", 1), got[1].Meta[chatshipper.DeliveryKeyMeta])
}

func TestReplyKeyDerivation(t *testing.T) {
	t.Parallel()
	base := replyKey(whBot, "message:m1:message.create.contact.chat", "route:x#0", 0)
	assert.Regexp(t, `^r[0-9a-f]{32}$`, base)
	assert.Equal(t, base, replyKey(whBot, "message:m1:message.create.contact.chat", "route:x#0", 0), "deterministic")
	for _, other := range []string{
		replyKey(whAgent, "message:m1:message.create.contact.chat", "route:x#0", 0), // another bot
		replyKey(whBot, "message:m2:message.create.contact.chat", "route:x#0", 0),   // another message
		replyKey(whBot, "message:m1:message.create.contact.chat", "route:x#1", 0),   // another handler
		replyKey(whBot, "message:m1:message.create.contact.chat", "route:x#0", 1),   // another position
	} {
		assert.NotEqual(t, base, other)
	}
	// Keys pass the client's own rules (it refuses a malformed caller key).
	bc := newBotClient()
	h := newBotWH(t, bc)
	e := &Event{ID: "evt", Name: "service.create"}
	assert.Equal(t, "event:evt", eventIdentity(e))
	assert.Empty(t, eventIdentity(&Event{Name: "service.create"}), "no ID: no derived key")
	_ = h
}

func TestAskSetsChipchatMarkerThenQuestion(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	h := newBotWH(t, bc)
	require.NoError(t, h.RegisterAnswer("name", func(context.Context, *Conversation, *chatshipper.Message) error { return nil }))
	var asked string
	require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		q, err := c.Ask(ctx, "What is your name?", "name")
		if err != nil {
			return err
		}
		asked = c.Asked(ctx)
		assert.Equal(t, "What is your name?", q.Text)
		assert.Equal(t, "name", c.MetaString(AskedMetaKey(whBot)))
		return nil
	}))
	require.NoError(t, h.Dispatch(context.Background(), botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", nil)))
	calls := bc.sent()
	require.Len(t, calls, 1, "one request")
	require.Len(t, calls[0], 2)
	assert.Equal(t, chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/set _asked" + whBot + " name"}, calls[0][0],
		"chipchat's marker: /set _asked<bot user> <callback name>, first")
	assert.Equal(t, "What is your name?", calls[0][1].Text)
	assert.Equal(t, chatshipper.RoleAgent, calls[0][1].Role)
	assert.Equal(t, "name", asked)
	assert.Equal(t, 1, bc.lookupCount(), "one lookup: was the question stored by an earlier run?")
}

func TestAskNeedsOwnUserID(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	bc.fakeClient.self = nil // ErrSelfUnknown
	h := newBotWH(t, bc)
	require.NoError(t, h.RegisterAnswer("name", func(context.Context, *Conversation, *chatshipper.Message) error { return nil }))
	c, err := h.Conversation(context.Background(), botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", nil))
	require.NoError(t, err)
	_, err = c.Ask(context.Background(), "What is your name?", "name")
	assert.ErrorIs(t, err, chatshipper.ErrSelfUnknown)
	assert.Empty(t, bc.sent())
}

// The answer runs on whichever handler gets it: the marker is in the event's
// conversation, not in memory.
func TestAnswerRunsOnAnyReplicaAndClearsMarker(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	var routed []string
	replica := func(name string) *Handler {
		h := newBotWH(t, bc)
		require.NoError(t, h.RegisterAnswer("name", func(ctx context.Context, c *Conversation, m *chatshipper.Message) error {
			assert.Empty(t, c.Asked(ctx), "cleared before the answer runs")
			_, err := c.Say(ctx, name+": nice to meet you, "+m.Text)
			return err
		}))
		require.NoError(t, h.OnMessage(func(_ context.Context, e *Event) error {
			routed = append(routed, name+" "+e.Data.Message.Text)
			return nil
		}))
		return h
	}
	a, b := replica("a"), replica("b")
	ctx := context.Background()
	marker := map[string]any{AskedMetaKey(whBot): "name"}

	require.NoError(t, b.Dispatch(ctx, botEvent(t, "ev-2", msgID(2), chatshipper.ConversationContact, chatshipper.RoleContact, "Jenny", marker)))
	calls := bc.sent()
	require.Len(t, calls, 2)
	assert.Equal(t, chatshipper.MessageInput{Type: chatshipper.MessageTypeCommand, Text: "/set", Meta: chatshipper.Meta{AskedMetaKey(whBot): ""}}, calls[0][0], "the marker is cleared first")
	assert.Equal(t, []string{"b: nice to meet you, Jenny"}, bc.texts()[1:])
	assert.Empty(t, routed, "an answer does not reach the handlers")

	// Not answers: an agent's message in a contact conversation, a marker of
	// another bot, a message without a marker.
	require.NoError(t, a.Dispatch(ctx, botEvent(t, "ev-3", msgID(3), chatshipper.ConversationContact, chatshipper.RoleAgent, "agent says", marker)))
	require.NoError(t, a.Dispatch(ctx, botEvent(t, "ev-4", msgID(4), chatshipper.ConversationContact, chatshipper.RoleContact, "other bot", map[string]any{AskedMetaKey(whAgent): "name"})))
	require.NoError(t, a.Dispatch(ctx, botEvent(t, "ev-5", msgID(5), chatshipper.ConversationContact, chatshipper.RoleContact, "no marker", map[string]any{AskedMetaKey(whBot): ""})))
	assert.Equal(t, []string{"a agent says", "a other bot", "a no marker"}, routed)
	// In a team conversation an agent answers.
	require.NoError(t, a.Dispatch(ctx, botEvent(t, "ev-6", msgID(6), chatshipper.ConversationAgent, chatshipper.RoleAgent, "Bob", marker)))
	assert.Equal(t, "a: nice to meet you, Bob", bc.texts()[len(bc.texts())-1])
}

func TestAnswerUnknownNameIsLoggedAndAcknowledged(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"nobody", "65f2c2a5e4b0a1b2c3d4e5f6"} { // a name, a chipchat message ID
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			bc := newBotClient()
			var logs bytes.Buffer
			h := newBotWH(t, bc, WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
			require.NoError(t, h.RegisterAnswer("name", func(context.Context, *Conversation, *chatshipper.Message) error {
				t.Error("the wrong answer ran")
				return nil
			}))
			routed := 0
			require.NoError(t, h.OnMessage(func(context.Context, *Event) error { routed++; return nil }))
			body := whEvent(t, "ev-1", "message.create.contact.chat", map[string]any{
				"conversation": map[string]any{"id": whConv, "type": "contact", "meta": map[string]any{AskedMetaKey(whBot): name}},
				"message":      whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "Jenny"),
			})
			w := whSigned(h, body)
			assert.Equal(t, 200, w.Code, "acknowledged: a retry could not register the name")
			assert.Equal(t, 1, routed, "the message goes to the handlers")
			assert.Empty(t, bc.sent(), "the marker is left for whoever registered it")
			assert.Contains(t, logs.String(), "level=WARN")
			assert.Contains(t, logs.String(), "answer="+name)
			assert.Contains(t, logs.String(), "conversation="+whConv)
		})
	}
}

func TestAnswerFailuresAreRetried(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	h := newBotWH(t, bc)
	runs := 0
	require.NoError(t, h.RegisterAnswer("boom", func(context.Context, *Conversation, *chatshipper.Message) error {
		runs++
		if runs == 1 {
			panic("answer panicked")
		}
		return errors.New("answer failed")
	}))
	var reported []error
	h.onError = func(_ *Event, err error) { reported = append(reported, err) }
	body := whEvent(t, "ev-1", "message.create.contact.chat", map[string]any{
		"conversation": map[string]any{"id": whConv, "type": "contact", "meta": map[string]any{AskedMetaKey(whBot): "boom"}},
		"message":      whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "x"),
	})
	assert.Equal(t, 500, whSigned(h, body).Code)
	assert.Equal(t, 500, whSigned(h, body).Code, "forgotten by the duplicate check: the retry runs it again")
	require.Len(t, reported, 2)
	var pe *PanicError
	require.ErrorAs(t, reported[0], &pe)
	assert.Equal(t, "answer:boom", pe.Pattern)
	assert.EqualError(t, reported[1], "answer failed")

	// The marker could not be cleared: the event fails, the answer does not run.
	bc.fail = errors.New("network down")
	runs = 0
	body2 := whEvent(t, "ev-2", "message.create.contact.chat", map[string]any{
		"conversation": map[string]any{"id": whConv, "type": "contact", "meta": map[string]any{AskedMetaKey(whBot): "boom"}},
		"message":      whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "y"),
	})
	assert.Equal(t, 500, whSigned(h, body2).Code)
	assert.Zero(t, runs)
	assert.ErrorContains(t, reported[2], "clearing the question marker")
}

func TestRegisterAnswerRefusesBadInput(t *testing.T) {
	t.Parallel()
	h := newBotWH(t, newBotClient())
	fn := func(context.Context, *Conversation, *chatshipper.Message) error { return nil }
	require.NoError(t, h.RegisterAnswer("name", fn))
	for _, tc := range []struct {
		name string
		fn   AnswerFunc
	}{
		{"", fn}, {"two words", fn}, {"tab\there", fn}, {"65f2c2a5e4b0a1b2c3d4e5f6", fn},
		{string(bytes.Repeat([]byte("x"), 129)), fn}, {"nilfn", nil}, {"name", fn},
	} {
		assert.ErrorIs(t, h.RegisterAnswer(tc.name, tc.fn), chatshipper.ErrInvalidArgument, tc.name)
	}
}

func TestMiddlewareOrder(t *testing.T) {
	t.Parallel()
	bc := newBotClient()
	h := newBotWH(t, bc, WithFirstMatchOnly(true))
	var trace []string
	mw := func(name string) Middleware {
		return func(next HandlerFunc) HandlerFunc {
			return func(ctx context.Context, e *Event) error {
				trace = append(trace, name+" in")
				err := next(ctx, e)
				trace = append(trace, name+" out")
				return err
			}
		}
	}
	smw := func(name string) SendMiddleware {
		return func(next SendFunc) SendFunc {
			return func(ctx context.Context, conv string, msgs []chatshipper.MessageInput) ([]*chatshipper.Message, error) {
				_, keyed := msgs[0].Meta[chatshipper.DeliveryKeyMeta]
				trace = append(trace, name+" send "+msgs[0].Text+" keyed="+strconv.FormatBool(keyed))
				return next(ctx, conv, msgs)
			}
		}
	}
	require.NoError(t, h.Use(mw("m1"), mw("m2")))
	require.NoError(t, h.UseSend(smw("s1"), smw("s2")))
	require.ErrorIs(t, h.Use(nil), chatshipper.ErrInvalidArgument)
	require.ErrorIs(t, h.UseSend(nil), chatshipper.ErrInvalidArgument)
	require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error {
		trace = append(trace, "handler 1")
		c, _ := h.Conversation(ctx, e)
		_, err := c.Say(ctx, "hi")
		return err
	}, OnText("hi")))
	require.NoError(t, h.OnMessage(func(context.Context, *Event) error { trace = append(trace, "handler 2"); return nil }))
	require.NoError(t, h.OnMessage(func(context.Context, *Event) error { trace = append(trace, "handler 3"); return nil }))
	ctx := context.Background()

	require.NoError(t, h.Dispatch(ctx, botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", nil)))
	assert.Equal(t, []string{"m1 in", "m2 in", "handler 1", "s1 send hi keyed=true", "s2 send hi keyed=true", "m2 out", "m1 out"}, trace,
		"middleware in the order added, first outermost; first match only: one handler")
	trace = nil
	require.NoError(t, h.Dispatch(ctx, botEvent(t, "ev-2", msgID(2), chatshipper.ConversationContact, chatshipper.RoleContact, "other", nil)))
	assert.Equal(t, []string{"m1 in", "m2 in", "handler 2", "m2 out", "m1 out"}, trace, "the first handler whose filters accept")

	// Own messages are dropped before any middleware runs.
	trace = nil
	own := botEvent(t, "ev-3", msgID(3), chatshipper.ConversationContact, chatshipper.RoleAgent, "mine", nil)
	own.Data.Message.User = chatshipper.NewRef[chatshipper.User](whBot)
	require.NoError(t, h.Dispatch(ctx, own))
	assert.Empty(t, trace)

	// A middleware that stops: acknowledged, no handler.
	h2 := newBotWH(t, bc)
	require.NoError(t, h2.Use(func(HandlerFunc) HandlerFunc {
		return func(context.Context, *Event) error { return nil }
	}))
	n := counter(t, h2)
	require.NoError(t, h2.Dispatch(ctx, botEvent(t, "ev-4", msgID(4), chatshipper.ConversationContact, chatshipper.RoleContact, "x", nil)))
	assert.Zero(t, n.Load())
	// Without first-match-only every matching handler runs.
	h3 := newBotWH(t, bc)
	a, b := counter(t, h3), counter(t, h3)
	require.NoError(t, h3.Dispatch(ctx, botEvent(t, "ev-5", msgID(5), chatshipper.ConversationContact, chatshipper.RoleContact, "x", nil)))
	assert.Equal(t, int32(1), a.Load())
	assert.Equal(t, int32(1), b.Load())
}

func TestEventAliasesAndSkipUnjoined(t *testing.T) {
	t.Parallel()
	type msg struct {
		typ  chatshipper.MessageType
		text string
		meta map[string]any
	}
	cases := []struct {
		name        string
		m           msg
		joined      bool
		want        []string // aliases that fire
		skipUnjoind bool     // dropped by WithSkipUnjoined when not joined
	}{
		{"assign to the bot", msg{chatshipper.MessageTypeCommand, "/assign", map[string]any{"users": []any{whAgent, whBot}}}, false, []string{"notify", "assign"}, false},
		{"assign to others", msg{chatshipper.MessageTypeCommand, "/assign", map[string]any{"users": []any{whAgent}}}, false, nil, true},
		{"bot command", msg{chatshipper.MessageTypeCommand, ">onboard now", nil}, false, []string{"notify", "command", "onboard"}, false},
		{"other bot command", msg{chatshipper.MessageTypeCommand, ">offboard", nil}, false, []string{"notify", "command"}, false},
		{"system command", msg{chatshipper.MessageTypeCommand, "/accept", nil}, false, nil, true},
		{"mention of the bot", msg{chatshipper.MessageTypeMention, "@bot look", map[string]any{"targetUser": whBot}}, false, []string{"notify", "mention"}, false},
		{"chipchat targetBot", msg{chatshipper.MessageTypeMention, "look", map[string]any{"targetBot": []any{whBot}}}, false, []string{"notify", "mention"}, false},
		{"mention of another", msg{chatshipper.MessageTypeMention, "look", map[string]any{"targetUser": whAgent}}, false, nil, true},
		{"chat, joined", msg{chatshipper.MessageTypeChat, "hello", nil}, true, nil, false},
		{"chat, not joined", msg{chatshipper.MessageTypeChat, "hello", nil}, false, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			for _, skip := range []bool{false, true} {
				h := newBotWH(t, newBotClient(), WithSkipUnjoined(skip))
				var fired []string
				rec := func(name string) HandlerFunc {
					return func(context.Context, *Event) error { fired = append(fired, name); return nil }
				}
				require.NoError(t, h.OnNotify(rec("notify")))
				require.NoError(t, h.OnAssign(rec("assign")))
				require.NoError(t, h.OnCommand(rec("command")))
				require.NoError(t, h.OnCommand(rec("onboard"), CommandName("onboard")))
				require.NoError(t, h.OnMention(rec("mention")))
				all := counter(t, h)
				m := whMessage(whAgent, chatshipper.RoleAgent, tc.m.typ, tc.m.text)
				if tc.m.meta != nil {
					m["meta"] = tc.m.meta
				}
				conv := map[string]any{"id": whConv, "type": "contact", "participants": []any{}}
				if tc.joined {
					conv["participants"] = []any{map[string]any{"user": whBot, "active": true}}
				}
				body := whEvent(t, "ev-"+tc.name, "message.create.contact."+string(tc.m.typ), map[string]any{"conversation": conv, "message": m})
				require.Equal(t, 200, whSigned(h, body).Code)
				if skip && tc.skipUnjoind {
					assert.Empty(t, fired)
					assert.Zero(t, all.Load(), "dropped")
					continue
				}
				assert.Equal(t, tc.want, fired)
				assert.Equal(t, int32(1), all.Load())
			}
		})
	}
	for _, name := range []string{"", ">x", "two words"} {
		assert.ErrorIs(t, newWH(t).Handle("**", func(context.Context, *Event) error { return nil }, CommandName(name)), chatshipper.ErrInvalidArgument)
	}
}

// askAnswerBot registers, on a new handler over client, the answer "name"
// (which says thanks and, with chain, asks the next question, "age") and a
// handler that asks the name on "hi" and echoes anything else.
func askAnswerBot(t *testing.T, client Client, chain bool) *Handler {
	t.Helper()
	h := newWH(t, WithClient(client), WithDedupe(0))
	require.NoError(t, h.RegisterAnswer("name", func(ctx context.Context, c *Conversation, m *chatshipper.Message) error {
		if _, err := c.Say(ctx, "Thanks "+m.Text); err != nil {
			return err
		}
		if chain {
			_, err := c.Ask(ctx, "How old are you?", "age")
			return err
		}
		return nil
	}))
	require.NoError(t, h.RegisterAnswer("age", func(context.Context, *Conversation, *chatshipper.Message) error { return nil }))
	require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error {
		c, err := h.Conversation(ctx, e)
		if err != nil {
			return err
		}
		if e.Data.Message.Text == "hi" {
			_, err = c.Ask(ctx, "What is your name?", "name")
			return err
		}
		_, err = c.Say(ctx, "echo: "+e.Data.Message.Text)
		return err
	}, MessageRole(chatshipper.RoleContact)))
	return h
}

func setCommands(calls [][]chatshipper.MessageInput) []string {
	var out []string
	for _, call := range calls {
		for _, m := range call {
			if isSetCommand(m) {
				out = append(out, m.Text)
			}
		}
	}
	return out
}

// An event delivered again after its question was answered (to a restarted
// process: no duplicate memory) finds its question stored and neither sets
// the marker again nor stores the question twice: the answered question is
// not re-armed.
func TestAskIsIdempotentPerEvent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bc := newBotClient()
	hi := botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", nil)
	h := askAnswerBot(t, bc, false)
	require.NoError(t, h.Dispatch(ctx, hi))
	require.NoError(t, h.Dispatch(ctx, botEvent(t, "ev-2", msgID(2), chatshipper.ConversationContact, chatshipper.RoleContact, "Bob",
		map[string]any{AskedMetaKey(whBot): "name"})))
	require.Equal(t, []string{"/set _asked" + whBot + " name", "What is your name?", "/set", "Thanks Bob"}, bc.texts())
	question := bc.stored[1]
	before, lookups := len(bc.sent()), bc.lookupCount()

	var got *chatshipper.Message
	restarted := newWH(t, WithClient(bc), WithDedupe(0))
	require.NoError(t, restarted.RegisterAnswer("name", func(context.Context, *Conversation, *chatshipper.Message) error { return nil }))
	require.NoError(t, restarted.OnMessage(func(ctx context.Context, e *Event) error {
		c, err := restarted.Conversation(ctx, e)
		if err != nil {
			return err
		}
		got, err = c.Ask(ctx, "What is your name?", "name")
		return err
	}))
	require.NoError(t, restarted.Dispatch(ctx, hi))
	assert.Equal(t, question, got, "the stored question is returned")
	again := bc.sent()[before:]
	require.Len(t, again, 1, "only the question, which the client finds stored by its key")
	assert.Equal(t, []chatshipper.MessageInput{{Role: chatshipper.RoleAgent, Text: "What is your name?",
		Meta: chatshipper.Meta{chatshipper.DeliveryKeyMeta: question.Meta.Get(chatshipper.DeliveryKeyMeta)}}}, again[0])
	assert.Empty(t, setCommands(again), "the marker is not set again")
	assert.Equal(t, lookups+1, bc.lookupCount(), "one lookup")
	assert.Equal(t, []string{"/set _asked" + whBot + " name", "What is your name?", "/set", "Thanks Bob"}, bc.texts(), "nothing stored twice")
}

// An answer delivered again, after its function asked the next question,
// neither clears the new question's marker nor sets it a second time.
func TestAnswerRedeliveryKeepsTheNextQuestion(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bc := newBotClient()
	answer := botEvent(t, "ev-2", msgID(2), chatshipper.ConversationContact, chatshipper.RoleContact, "Bob", map[string]any{AskedMetaKey(whBot): "name"})
	require.NoError(t, askAnswerBot(t, bc, true).Dispatch(ctx, answer))
	want := []string{"/set", "Thanks Bob", "/set _asked" + whBot + " age", "How old are you?"}
	require.Equal(t, want, bc.texts())
	before := len(bc.sent())

	require.NoError(t, askAnswerBot(t, bc, true).Dispatch(ctx, answer)) // a restarted replica
	assert.Empty(t, setCommands(bc.sent()[before:]), "no marker cleared or set again")
	assert.Equal(t, want, bc.texts())
}

// "/set" commands of a repeated run: those an earlier run followed with a
// stored reply are skipped; one after its last stored reply is sent again
// (the same value). A first run looks up once, at its first "/set".
func TestRepeatedRunSkipsSetsItAlreadySent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	bc := newBotClient()
	bot := func() *Handler {
		h := newBotWH(t, bc, WithDedupe(0))
		require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error {
			c, err := h.Conversation(ctx, e)
			if err != nil {
				return err
			}
			if err := c.Set(ctx, "stage", "a"); err != nil {
				return err
			}
			if err := c.Set(ctx, "step", "1"); err != nil {
				return err
			}
			if _, err := c.Say(ctx, "one"); err != nil {
				return err
			}
			if err := c.Set(ctx, "stage", "b"); err != nil {
				return err
			}
			return c.Set(ctx, "step", "2")
		}))
		return h
	}
	ev := botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "go", nil)
	require.NoError(t, bot().Dispatch(ctx, ev))
	assert.Equal(t, []string{"/set stage a", "/set step 1", "one", "/set stage b", "/set step 2"}, bc.texts())
	assert.Equal(t, 1, bc.lookupCount(), "a first run looks up once")
	before := len(bc.sent())

	require.NoError(t, bot().Dispatch(ctx, ev))
	assert.Equal(t, []string{"/set stage b", "/set step 2"}, setCommands(bc.sent()[before:]),
		"the sets before the stored reply are skipped, the ones after it sent again")
	assert.Equal(t, 2, bc.lookupCount(), "one lookup for the repeated run")
}

// Without a client that can look keys up (a Sender that is no Resolver), a
// repeated run sends its "/set" commands again, as documented; with the
// lookup failing, the send fails and nothing is sent.
func TestRepeatedRunWithoutLookup(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	hi := botEvent(t, "ev-1", msgID(1), chatshipper.ConversationContact, chatshipper.RoleContact, "hi", nil)

	bc := newBotClient()
	so := senderOnly{Client: bc, b: bc}
	require.NoError(t, askAnswerBot(t, so, false).Dispatch(ctx, hi))
	require.NoError(t, askAnswerBot(t, so, false).Dispatch(ctx, hi))
	assert.Equal(t, []string{"/set _asked" + whBot + " name", "/set _asked" + whBot + " name"}, setCommands(bc.sent()))
	assert.Zero(t, bc.lookupCount())

	bc = newBotClient()
	bc.lookFail = errors.New("network down")
	err := askAnswerBot(t, bc, false).Dispatch(ctx, hi)
	require.ErrorContains(t, err, "looking up the replies of an earlier run of this event: network down")
	assert.Empty(t, bc.sent(), "nothing sent while an earlier run's replies cannot be looked up")
}
