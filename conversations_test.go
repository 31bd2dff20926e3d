package chatshipper

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	convID = "590bd49f458b716046347f47"
	msgID  = "5d4af42a529b5549737d5574"
)

// recorded is what a test responder saw of one request.
type recorded struct {
	method string
	path   string
	query  url.Values
	body   string
}

// record answers with status and body and keeps what it saw.
func record(got *recorded, status int, body string) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		var b []byte
		if r.Body != nil {
			b, _ = io.ReadAll(r.Body)
		}
		*got = recorded{method: r.Method, path: r.URL.Path, query: r.URL.Query(), body: string(b)}
		resp := httpmock.NewStringResponse(status, body)
		resp.Header.Set("Content-Type", "application/json")
		return resp, nil
	}
}

func TestConversationsCreate(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got recorded
	mt.RegisterResponder("POST", testBase+"conversations", record(&got, 201, string(readFixture(t, "spec/create_conversation_201.json"))))
	conv, resp, err := c.Conversations.Create(context.Background(), &ConversationCreate{
		Messages: []MessageInput{
			{Text: "Hello"},
			{Type: MessageTypeCommand, Text: "/notify", Meta: Meta{"channels": []string{"5b2bf9dd9f3c885eb7ad7a63"}}},
		},
	})
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "POST", got.method)
	assert.Equal(t, "/v2/conversations", got.path)
	assert.JSONEq(t, string(readFixture(t, "spec/create_conversation_request.json")), got.body)
	assert.Equal(t, "5bb0277fd99faf11a3f4a37e", conv.ID)
	assert.Equal(t, StatusQueued, conv.Status)
}

func TestConversationsCreateTeamAndContact(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got recorded
	mt.RegisterResponder("POST", testBase+"conversations", record(&got, 200, `{"id":"5bb0277fd99faf11a3f4a37e","type":"contact"}`))
	conv, resp, err := c.Conversations.Create(context.Background(), &ConversationCreate{
		Name:         "Outbound",
		Type:         ConversationContact,
		Organization: "aaa111111111111111111111",
		Contact:      &ContactCreate{Profile: ContactProfile{Email: "jane@example.com", Telephone: "+441134960999"}},
		Meta:         Meta{"campaign": "spring"},
		Messages:     []MessageInput{{Text: "Your car is ready", Role: RoleAgent, Touchpoint: "sms"}},
	})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode, "an upsert answers 200")
	assert.Equal(t, ConversationContact, conv.Type)
	assert.JSONEq(t, `{"name":"Outbound","type":"contact","organization":"aaa111111111111111111111",
		"contact":{"profile":{"email":"jane@example.com","telephone":"+441134960999"}},"meta":{"campaign":"spring"},
		"messages":[{"text":"Your car is ready","role":"agent","touchpoint":"sms"}]}`, got.body)
}

func TestConversationsRefusedBeforeIO(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	checks := []struct {
		name string
		call func() error
		arg  string
	}{
		{"get bad id", func() error { _, _, err := c.Conversations.Get(ctx, "nope", nil); return err }, "conversationID"},
		{"get traversal", func() error { _, _, err := c.Conversations.Get(ctx, "../../auth/token0000000000", nil); return err }, "conversationID"},
		{"update bad id", func() error { _, _, err := c.Conversations.Update(ctx, "x", &ConversationUpdate{}); return err }, "conversationID"},
		{"update nil", func() error { _, _, err := c.Conversations.Update(ctx, convID, nil); return err }, "body"},
		{"delete bad id", func() error { _, err := c.Conversations.Delete(ctx, ""); return err }, "conversationID"},
		{"send bad id", func() error { _, _, err := c.Conversations.Send(ctx, "abc", MessageInput{Text: "x"}); return err }, "conversationID"},
		{"send nothing", func() error { _, _, err := c.Conversations.Send(ctx, convID); return err }, "msgs"},
		{"send empty text", func() error { _, _, err := c.Conversations.Send(ctx, convID, MessageInput{}); return err }, "messages[0]"},
		{"send bad user", func() error {
			_, _, err := c.Conversations.Send(ctx, convID, MessageInput{Text: "x"}, MessageInput{Text: "/join", User: "bob"})
			return err
		}, "messages[1].user"},
		{"create nil", func() error { _, _, err := c.Conversations.Create(ctx, nil); return err }, "conversation"},
		{"create bad message", func() error {
			_, _, err := c.Conversations.Create(ctx, &ConversationCreate{Messages: []MessageInput{{Text: "ok"}, {}}})
			return err
		}, "messages[1]"},
		{"create bad org", func() error {
			_, _, err := c.Conversations.Create(ctx, &ConversationCreate{Organization: "acme"})
			return err
		}, "organization"},
		{"command bad id", func() error { _, _, err := c.Conversations.Command(ctx, "1", MessageInput{Text: "/leave"}); return err }, "conversationID"},
		{"message get", func() error { _, _, err := c.Messages.Get(ctx, "x", nil); return err }, "messageID"},
		{"message update", func() error { _, _, err := c.Messages.Update(ctx, msgID, nil); return err }, "body"},
		{"message delete", func() error { _, err := c.Messages.Delete(ctx, "x"); return err }, "messageID"},
	}
	for _, tt := range checks {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.call()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.arg)
		})
	}
	assert.Equal(t, 0, mt.GetTotalCallCount(), "nothing reached the server")
}

func TestConversationsGetUpdateDelete(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	var got recorded
	mt.RegisterResponder("GET", testBase+"conversations/"+convID, record(&got, 200, `{"id":"`+convID+`","status":"active","meta":{"a":1}}`))
	conv, _, err := c.Conversations.Get(ctx, convID, nil)
	require.NoError(t, err)
	assert.Equal(t, recorded{method: "GET", path: "/v2/conversations/" + convID, query: url.Values{}, body: ""}, got)
	assert.Equal(t, StatusActive, conv.Status)

	name, lang, idx := "Account Review", "de", 0
	mt.RegisterResponder("PATCH", testBase+"conversations/"+convID, record(&got, 200, `{"id":"`+convID+`","name":"Account Review"}`))
	conv, _, err = c.Conversations.Update(ctx, convID, &ConversationUpdate{Name: &name, Language: &lang, CategoryIndex: &idx, Meta: Meta{"engagement": "high"}})
	require.NoError(t, err)
	assert.Equal(t, "PATCH", got.method)
	assert.JSONEq(t, `{"name":"Account Review","language":"de","categoryIndex":0,"meta":{"engagement":"high"}}`, got.body)
	assert.Equal(t, "Account Review", conv.Name)

	// Only what is set is sent; an empty meta is sent to clear it (it replaces the whole object).
	_, _, err = c.Conversations.Update(ctx, convID, &ConversationUpdate{Meta: Meta{}})
	require.NoError(t, err)
	assert.JSONEq(t, `{"meta":{}}`, got.body)
	_, _, err = c.Conversations.Update(ctx, convID, &ConversationUpdate{})
	require.NoError(t, err)
	assert.JSONEq(t, `{}`, got.body)

	mt.RegisterResponder("DELETE", testBase+"conversations/"+convID, record(&got, 204, ``))
	resp, err := c.Conversations.Delete(ctx, convID)
	require.NoError(t, err)
	assert.Equal(t, 204, resp.StatusCode)
	assert.Equal(t, "DELETE", got.method)
}

// The spec's PATCH example (ch1 API basics), expressed with the update types:
// params is sent whole because the server replaces it.
func TestServicePatchExampleWithUpdateType(t *testing.T) {
	t.Parallel()
	name := "Acme Web Widget"
	u := ServiceUpdate{Name: &name, Params: Meta{
		"jid": "uid8965@s1.smartsupp.com", "password": "t0pN0tCH", "host": "s1.smartsupp.com",
	}}
	b, err := json.Marshal(u)
	require.NoError(t, err)
	assert.JSONEq(t, string(readFixture(t, "spec/service_patch_request.json")), string(b))
}

func TestConversationsSend(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	var got recorded
	path := testBase + "conversations/" + convID + "/messages"

	// One message: an object in, an object back.
	mt.RegisterResponder("POST", path, record(&got, 201, `{"id":"5d60a7b7949e381ffa0ef481","type":"command","text":"/accept","user":"bbb000000000000000444444"}`))
	msgs, _, err := c.Conversations.Send(ctx, convID, MessageInput{Type: MessageTypeCommand, Text: "/accept", User: "bbb000000000000000444444"})
	require.NoError(t, err)
	assert.JSONEq(t, string(readFixture(t, "spec/accept_request.json")), got.body)
	require.Len(t, msgs, 1)
	assert.Equal(t, "5d60a7b7949e381ffa0ef481", msgs[0].ID)

	// A batch: an array in order, an array back.
	mt.RegisterResponder("POST", path, record(&got, 201, `[{"id":"5d60a7b7949e381ffa0ef482","text":"hi"},{"id":"5d60a7b7949e381ffa0ef483","text":"/set engagement high"}]`))
	msgs, _, err = c.Conversations.Send(ctx, convID, MessageInput{Text: "hi"}, MessageInput{Type: MessageTypeCommand, Text: "/set engagement high"})
	require.NoError(t, err)
	assert.JSONEq(t, `[{"text":"hi"},{"type":"command","text":"/set engagement high"}]`, got.body)
	require.Len(t, msgs, 2)
	assert.Equal(t, "5d60a7b7949e381ffa0ef483", msgs[1].ID)

	// A server may answer a single message with an array: accepted too.
	mt.RegisterResponder("POST", path, record(&got, 201, `[{"id":"5d60a7b7949e381ffa0ef484","text":"/leave"}]`))
	m, _, err := c.Conversations.Command(ctx, convID, MessageInput{Type: MessageTypeCommand, Text: "/leave"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"type":"command","text":"/leave"}`, got.body)
	assert.Equal(t, "5d60a7b7949e381ffa0ef484", m.ID)
}

func TestMessagesGetUpdateDelete(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	ctx := context.Background()
	var got recorded
	mt.RegisterResponder("GET", testBase+"messages/"+msgID, record(&got, 200, string(readFixture(t, "spec/message_liked.json"))))
	m, _, err := c.Messages.Get(ctx, msgID, nil)
	require.NoError(t, err)
	assert.Equal(t, "/v2/messages/"+msgID, got.path)
	assert.Equal(t, []string{"5d554542fe7730001185fb22"}, m.Likes)

	text, bc := "edited", true
	mt.RegisterResponder("PATCH", testBase+"messages/"+msgID, record(&got, 200, `{"id":"`+msgID+`","text":"edited"}`))
	m, _, err = c.Messages.Update(ctx, msgID, &MessageUpdate{Text: &text, IsBackchannel: &bc})
	require.NoError(t, err)
	assert.JSONEq(t, `{"text":"edited","isBackchannel":true}`, got.body)
	assert.Equal(t, "edited", m.Text)

	mt.RegisterResponder("DELETE", testBase+"messages/"+msgID, record(&got, 204, ``))
	_, err = c.Messages.Delete(ctx, msgID)
	require.NoError(t, err)
	assert.Equal(t, "DELETE", got.method)
}
