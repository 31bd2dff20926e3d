package chatshipper

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// IDs taken from the spec's examples.
const (
	specConvID  = "590bd49f458b716046347f47"
	specUserA   = "59179631c63934459825deea"
	specUserB   = "59b007b7667e2132d4ac1b51"
	specMsgID   = "5d4af42a529b5549737d5574"
	specFormID  = "590bcf50458b716046347f36"
	specOrgID   = "5b979647a61b336ec33f201a"
	specAgentID = "bbb000000000000000444444"
)

func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "commands", name+".json"))
	require.NoError(t, err)
	return string(b)
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := encodeJSON(v)
	require.NoError(t, err)
	return string(b)
}

// TestCommandBodiesMatchSpec checks every request body of spec chapter 5 (and
// the /accept example of chapter 1) against the constructor that builds it.
func TestCommandBodiesMatchSpec(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture string
		msg     MessageInput
	}{
		{"notify", Notify()},
		{"notify_organizations", NotifyOrganizations(specOrgID)},
		{"notify_channels", NotifyChannels(specUserA, specUserB)},
		{"assign", Assign(specUserA, specUserB)},
		{"join", Join().As(specAgentID)},
		{"accept", Accept().As(specAgentID)},
		{"ch1_accept", Accept().As(specAgentID)},
		{"leave", Leave()},
		{"block", Block()},
		{"set_name", SetName("Account Review")},
		{"set_category", SetCategory("Used Car")},
		{"set_category_index", SetCategoryIndex(1)},
		{"set_touchpoint", SetTouchpoint(TouchpointEmail)},
		{"set_language", SetLanguage("de")},
		{"set_meta", SetMeta("engagement", "high")},
		{"set_meta_values", SetMetaValues(Meta{"engagement": "high", "scores": []any{8, 7, 6.5}})},
		{"action_like", Like(specMsgID)},
		{"action_comment", CommentOn(specMsgID, "Our website redesign really works out!")},
		{"send_form", SendForm(specFormID)},
		{"import", Import(specFormID)},
		{"bot_command", BotCommand("onboard")},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			require.NoError(t, tt.msg.Err())
			assert.JSONEq(t, fixture(t, tt.fixture), mustJSON(t, tt.msg))
		})
	}
	t.Run("forward", func(t *testing.T) {
		msgs := Forward("599e1fcd9da1c72645c95886", "590e67fa4eae6757b914658a")
		for _, m := range msgs {
			require.NoError(t, m.Err())
		}
		assert.JSONEq(t, fixture(t, "forward"), mustJSON(t, msgs))
	})
}

// TestCommandBodiesWithoutSpecExample covers the commands the spec names but
// shows no body for.
func TestCommandBodiesWithoutSpecExample(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  MessageInput
		want string
	}{
		{"close", Close(), `{"type":"command","text":"/close"}`},
		{"leave as", Leave().As(specUserA), `{"type":"command","text":"/leave","user":"` + specUserA + `"}`},
		{"send all forms", SendForms(), `{"type":"command","text":"/send"}`},
		{"bot command with args", BotCommand("lookup", "order", "A-17 B"), `{"type":"command","text":">lookup order A-17 B"}`},
		{"category slot 0", SetCategoryIndex(0), `{"type":"command","text":"/set @category 0"}`},
		{"category slot 9", SetCategoryIndex(9), `{"type":"command","text":"/set @category 9"}`},
		{"touchpoint web", SetTouchpoint(TouchpointWeb), `{"type":"command","text":"/set @touchpoint web"}`},
		{"touchpoint sms", SetTouchpoint(TouchpointSMS), `{"type":"command","text":"/set @touchpoint sms"}`},
		{"touchpoint facebook", SetTouchpoint(TouchpointFacebook), `{"type":"command","text":"/set @touchpoint facebook"}`},
		{"meta value with spaces", SetMeta("intent", "buy a car"), `{"type":"command","text":"/set intent buy a car"}`},
		{"system meta key", SetMeta("_agent", "x"), `{"type":"command","text":"/set _agent x"}`},
		{"notify orgs", NotifyOrganizations(specOrgID, specUserA), `{"type":"command","text":"/notify","meta":{"organizations":["` + specOrgID + `","` + specUserA + `"]}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.msg.Err())
			assert.JSONEq(t, tt.want, mustJSON(t, tt.msg))
		})
	}
}

func TestMessageBuilderBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		msg  MessageInput
		want string
	}{
		{"chat", Chat("Hello"), `{"text":"Hello"}`},
		{
			"chat with every modifier",
			Chat("<b>Hi</b>").WithContentType("text/html").Backchannel().WithRole(RoleAgent).
				WithTouchpoint(TouchpointSMS).WithDelay(1500*time.Millisecond).Quote("Earlier words").
				WithMeta("SenderID", "Shop").WithActions(PostbackAction("Yes", "YES"), ReplyAction("No", "")),
			`{"text":"<b>Hi</b>","contentType":"text/html","isBackchannel":true,"role":"agent","touchpoint":"sms","delay":1500,
			  "meta":{"quotedMessage":"Earlier words","SenderID":"Shop"},
			  "actions":[{"type":"postback","text":"Yes","payload":"YES"},{"type":"reply","text":"No"}]}`,
		},
		{"delay rounds down to ms", Chat("x").WithDelay(2*time.Second + 999*time.Microsecond), `{"text":"x","delay":2000}`},
		{"zero delay left out", Chat("x").WithDelay(0), `{"text":"x"}`},
		{"on behalf of", Chat("Hi there").OnBehalfOf(specUserA), `{"text":"Hi there","role":"agent","user":"` + specUserA + `"}`},
		{"any touchpoint word", Chat("x").WithTouchpoint("whatsapp"), `{"text":"x","touchpoint":"whatsapp"}`},
		{"image", Image("http://example.com/image.png", "image/png"), `{"text":"http://example.com/image.png","contentType":"image/png"}`},
		{
			"link action sets uri and url",
			Chat("See").WithActions(LinkAction("Site", "https://example.com/a?u={authuser}")),
			`{"text":"See","actions":[{"type":"link","text":"Site","uri":"https://example.com/a?u={authuser}","url":"https://example.com/a?u={authuser}"}]}`,
		},
		{
			"card",
			Card("Favorite food?", NewCardItem("Tacos", LinkAction("Taco 1", "http://example.com/t1"))).WithRole(RoleAgent).Title("Menu"),
			`{"type":"card","role":"agent","text":"Favorite food?","meta":{"title":"Menu"},
			  "items":[{"title":"Tacos","actions":[{"type":"link","text":"Taco 1","uri":"http://example.com/t1","url":"http://example.com/t1"}]}]}`,
		},
		{"card without items", Card("Panel"), `{"type":"card","text":"Panel"}`},
		{"mention user", Mention("@Anna please check").ToUser(specUserA), `{"type":"mention","text":"@Anna please check","meta":{"targetUser":"` + specUserA + `"}}`},
		{"mention org", Mention("Sales, take over").ToOrganization(specOrgID), `{"type":"mention","text":"Sales, take over","meta":{"targetOrganization":"` + specOrgID + `"}}`},
		{"mention backchannel then target", Mention("x").Backchannel().ToUser(specUserA), `{"type":"mention","text":"x","isBackchannel":true,"meta":{"targetUser":"` + specUserA + `"}}`},
		{"tag", Tag("#hashTag, hash"), `{"type":"tag","text":"#hashTag, hash"}`},
		{"activate form", ActivateForm(specFormID, "Lead").InCategory(1), `{"type":"form","text":"+Lead","meta":{"form":"` + specFormID + `","categoryIndex":1}}`},
		{"activate form default category", ActivateForm(specFormID, "Lead"), `{"type":"form","text":"+Lead","meta":{"form":"` + specFormID + `"}}`},
		{"deactivate form", DeactivateForm(specFormID, "Lead"), `{"type":"form","text":"-Lead","meta":{"form":"` + specFormID + `"}}`},
		{"field", Field(specFormID, "email", "anna@example.com"), `{"type":"field","text":"anna@example.com","meta":{"form":"` + specFormID + `","key":"email"}}`},
		{
			"report",
			Report("Report", FormResult{Name: "Conversation Review", Values: Meta{"review": "Awesome"}}),
			`{"type":"report","text":"Report","isBackchannel":true,"results":[{"name":"Conversation Review","values":{"review":"Awesome"}}]}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.NoError(t, tt.msg.Err())
			assert.JSONEq(t, tt.want, mustJSON(t, tt.msg))
		})
	}
}

// refusals lists every argument the constructors and modifiers refuse, with
// the argument name the error must carry.
var refusals = []struct {
	name    string
	msg     func() MessageInput
	argName string
}{
	// IDs and ID lists
	{"notify orgs empty", func() MessageInput { return NotifyOrganizations() }, "orgIDs"},
	{"notify orgs bad id", func() MessageInput { return NotifyOrganizations(specOrgID, "nope") }, "orgIDs[1]"},
	{"notify channels empty", func() MessageInput { return NotifyChannels() }, "channelIDs"},
	{"notify channels bad id", func() MessageInput { return NotifyChannels("59179631c63934459825deeZ") }, "channelIDs[0]"},
	{"assign empty", func() MessageInput { return Assign() }, "userIDs"},
	{"assign empty id", func() MessageInput { return Assign(specUserA, "") }, "userIDs[1]"},
	{"assign short id", func() MessageInput { return Assign("59179631c63934459825dee") }, "userIDs[0]"},
	{"accept as bad", func() MessageInput { return Accept().As("me") }, "userID"},
	{"join as empty", func() MessageInput { return Join().As("") }, "userID"},
	{"forward from bad", func() MessageInput { return Forward("x", specUserB)[0] }, "fromUserID"},
	{"forward to bad", func() MessageInput { return Forward(specUserA, "y")[1] }, "toUserID"},
	{"forward to self", func() MessageInput { return Forward(specUserA, specUserA)[1] }, "toUserID"},
	{"like bad id", func() MessageInput { return Like("5d4af42a") }, "messageID"},
	{"comment bad id", func() MessageInput { return CommentOn("", "nice") }, "messageID"},
	{"send form bad id", func() MessageInput { return SendForm("form1") }, "formID"},
	{"import bad id", func() MessageInput { return Import("590bcf50458b716046347f3g") }, "originConversationID"},
	{"on behalf of bad", func() MessageInput { return Chat("x").OnBehalfOf("agent") }, "userID"},
	{"to user bad", func() MessageInput { return Mention("x").ToUser("u") }, "userID"},
	{"to org bad", func() MessageInput { return Mention("x").ToOrganization("o") }, "orgID"},
	{"activate form bad id", func() MessageInput { return ActivateForm("f", "Lead") }, "formID"},
	{"field bad form", func() MessageInput { return Field("f", "k", "v") }, "formID"},
	{"report bad form", func() MessageInput { return Report("R", FormResult{Form: "f"}) }, "results[0].form"},
	// touchpoint, language, category
	{"touchpoint unknown", func() MessageInput { return SetTouchpoint("whatsapp") }, "touchpoint"},
	{"touchpoint empty", func() MessageInput { return SetTouchpoint("") }, "touchpoint"},
	{"touchpoint upper", func() MessageInput { return SetTouchpoint("Email") }, "touchpoint"},
	{"message touchpoint empty", func() MessageInput { return Chat("x").WithTouchpoint("") }, "touchpoint"},
	{"message touchpoint spaces", func() MessageInput { return Chat("x").WithTouchpoint("e mail") }, "touchpoint"},
	{"language upper", func() MessageInput { return SetLanguage("DE") }, "code"},
	{"language three", func() MessageInput { return SetLanguage("deu") }, "code"},
	{"language one", func() MessageInput { return SetLanguage("d") }, "code"},
	{"language region", func() MessageInput { return SetLanguage("pt-BR") }, "code"},
	{"language empty", func() MessageInput { return SetLanguage("") }, "code"},
	{"category index negative", func() MessageInput { return SetCategoryIndex(-1) }, "index"},
	{"category index ten", func() MessageInput { return SetCategoryIndex(10) }, "index"},
	{"in category negative", func() MessageInput { return ActivateForm(specFormID, "Lead").InCategory(-1) }, "index"},
	{"in category ten", func() MessageInput { return ActivateForm(specFormID, "Lead").InCategory(10) }, "index"},
	// empty texts
	{"set name empty", func() MessageInput { return SetName("") }, "name"},
	{"set name blank", func() MessageInput { return SetName("  ") }, "name"},
	{"set category empty", func() MessageInput { return SetCategory("") }, "name"},
	{"set category numeric", func() MessageInput { return SetCategory("2") }, "name"},
	{"comment empty", func() MessageInput { return CommentOn(specMsgID, "") }, "text"},
	{"comment blank", func() MessageInput { return CommentOn(specMsgID, " \t") }, "text"},
	{"set meta value empty", func() MessageInput { return SetMeta("engagement", "") }, "value"},
	{"chat empty", func() MessageInput { return Chat("") }, "text"},
	{"chat blank", func() MessageInput { return Chat(" \n") }, "text"},
	{"card empty", func() MessageInput { return Card("") }, "text"},
	{"mention empty", func() MessageInput { return Mention("").ToUser(specUserA) }, "text"},
	{"tag empty", func() MessageInput { return Tag("") }, "text"},
	{"form name empty", func() MessageInput { return DeactivateForm(specFormID, "") }, "name"},
	{"field key empty", func() MessageInput { return Field(specFormID, "", "v") }, "key"},
	{"field key spaces", func() MessageInput { return Field(specFormID, "e mail", "v") }, "key"},
	{"field value empty", func() MessageInput { return Field(specFormID, "email", "") }, "value"},
	{"report empty", func() MessageInput { return Report("", FormResult{Name: "x"}) }, "text"},
	{"report no results", func() MessageInput { return Report("Report") }, "results"},
	{"quote empty", func() MessageInput { return Chat("x").Quote("") }, "quote"},
	{"title empty", func() MessageInput { return Card("x").Title(" ") }, "title"},
	{"with meta empty key", func() MessageInput { return Chat("x").WithMeta("", 1) }, "key"},
	// meta keys
	{"set meta key empty", func() MessageInput { return SetMeta("", "high") }, "key"},
	{"set meta key at", func() MessageInput { return SetMeta("@name", "x") }, "key"},
	{"set meta key space", func() MessageInput { return SetMeta("engage ment", "high") }, "key"},
	{"set meta key tab", func() MessageInput { return SetMeta("engage\tment", "high") }, "key"},
	{"set meta values empty", func() MessageInput { return SetMetaValues(Meta{}) }, "values"},
	{"set meta values nil", func() MessageInput { return SetMetaValues(nil) }, "values"},
	{"set meta values at key", func() MessageInput { return SetMetaValues(Meta{"ok": 1, "@category": "x"}) }, `values["@category"]`},
	{"set meta values empty key", func() MessageInput { return SetMetaValues(Meta{"": 1}) }, `values[""]`},
	// bot commands
	{"bot no name", func() MessageInput { return BotCommand("") }, "name"},
	{"bot name space", func() MessageInput { return BotCommand("on board") }, "name"},
	{"bot name gt", func() MessageInput { return BotCommand(">onboard") }, "name"},
	{"bot name newline", func() MessageInput { return BotCommand("onboard\n/block") }, "name"},
	{"bot empty arg", func() MessageInput { return BotCommand("onboard", "a", "") }, "args[1]"},
	// line breaks in one-line commands
	{"name newline", func() MessageInput { return SetName("Account\nReview") }, "name"},
	{"name cr", func() MessageInput { return SetName("Account\rReview") }, "name"},
	{"category newline", func() MessageInput { return SetCategory("Used\nCar") }, "name"},
	{"meta key newline", func() MessageInput { return SetMeta("a\nb", "c") }, "key"},
	{"meta value newline", func() MessageInput { return SetMeta("engagement", "high\n/block") }, "value"},
	{"meta value cr", func() MessageInput { return SetMeta("engagement", "high\r") }, "value"},
	{"meta value line separator", func() MessageInput { return SetMeta("engagement", "high\u2028low") }, "value"},
	{"comment newline", func() MessageInput { return CommentOn(specMsgID, "nice\n/leave") }, "text"},
	{"bot arg newline", func() MessageInput { return BotCommand("onboard", "x\ny") }, "args[0]"},
	{"bot arg cr", func() MessageInput { return BotCommand("onboard", "x\r") }, "args[0]"},
	{"form name newline", func() MessageInput { return ActivateForm(specFormID, "Lead\nX") }, "name"},
	// message modifiers
	{"negative delay", func() MessageInput { return Chat("x").WithDelay(-time.Millisecond) }, "delay"},
	{"unknown role", func() MessageInput { return Chat("x").WithRole("agnet") }, "role"},
	{"empty role", func() MessageInput { return Chat("x").WithRole("") }, "role"},
	{"bad content type", func() MessageInput { return Chat("x").WithContentType("text") }, "contentType"},
	{"empty content type", func() MessageInput { return Chat("x").WithContentType("") }, "contentType"},
	{"content type no subtype", func() MessageInput { return Chat("x").WithContentType("text/") }, "contentType"},
	{"image not http", func() MessageInput { return Image("ftp://example.com/a.png", "image/png") }, "mediaURL"},
	{"image relative", func() MessageInput { return Image("/a.png", "image/png") }, "mediaURL"},
	{"image bare type", func() MessageInput { return Image("https://example.com/a.png", "image/") }, "contentType"},
	{"image not image", func() MessageInput { return Image("https://example.com/a.pdf", "application/pdf") }, "contentType"},
	// actions and items
	{"postback no label", func() MessageInput { return Chat("x").WithActions(PostbackAction("", "P")) }, "actions[0].text"},
	{"postback no payload", func() MessageInput { return Chat("x").WithActions(PostbackAction("Yes", "")) }, "actions[0].payload"},
	{"reply no label", func() MessageInput { return Chat("x").WithActions(ReplyAction(" ", "p")) }, "actions[0].text"},
	{"link no label", func() MessageInput { return Chat("x").WithActions(LinkAction("", "https://example.com")) }, "actions[0].text"},
	{"link relative", func() MessageInput { return Chat("x").WithActions(LinkAction("Go", "/path")) }, "actions[0].uri"},
	{"link javascript", func() MessageInput { return Chat("x").WithActions(LinkAction("Go", "javascript:alert(1)")) }, "actions[0].uri"},
	{"link empty", func() MessageInput { return Chat("x").WithActions(LinkAction("Go", "")) }, "actions[0].uri"},
	{"action no type", func() MessageInput { return Chat("x").WithActions(Action{Text: "a"}) }, "actions[0].type"},
	{"second batch of actions indexed", func() MessageInput {
		return Chat("x").WithActions(ReplyAction("a", "a")).WithActions(PostbackAction("b", ""))
	}, "actions[1].payload"},
	{"card item no title", func() MessageInput { return Card("x", NewCardItem("")) }, "items[0].title"},
	{"card item bad action", func() MessageInput {
		return Card("x", NewCardItem("a"), NewCardItem("b", LinkAction("L", "nope")))
	}, "items[1].actions[0].uri"},
	{"card item bad media", func() MessageInput { return Card("x", CardItem{Title: "a", MediaURL: "img.png"}) }, "items[0].mediaUrl"},
	// modifiers that belong to another message type
	{"title on chat", func() MessageInput { return Chat("x").Title("T") }, "Title"},
	{"to user on chat", func() MessageInput { return Chat("x").ToUser(specUserA) }, "ToUser"},
	{"to org on tag", func() MessageInput { return Tag("x").ToOrganization(specOrgID) }, "ToOrganization"},
	{"in category on field", func() MessageInput { return Field(specFormID, "k", "v").InCategory(1) }, "InCategory"},
	// a mention needs a target
	{"mention without target", func() MessageInput { return Mention("hello") }, "mention"},
	{"other modifiers keep the missing target", func() MessageInput { return Mention("hello").Backchannel().WithMeta("a", 1) }, "mention"},
	{"real error replaces pending target", func() MessageInput { return Mention("x").WithRole("agnet").ToUser(specUserA) }, "role"},
	// first error wins
	{"first error wins", func() MessageInput { return Chat("x").As("bad").WithDelay(-1).WithRole("nope") }, "userID"},
	{"first error wins over later target", func() MessageInput { return Mention("x").ToUser("bad").ToOrganization(specOrgID) }, "userID"},
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.msg().Err()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidArgument)
			var ae *ArgumentError
			require.True(t, errors.As(err, &ae), "want *ArgumentError, got %T", err)
			assert.Equal(t, tt.argName, ae.Name)
			assert.Contains(t, err.Error(), "invalid argument "+tt.argName+":")
		})
	}
}

// TestRefusedMessagesMakeNoRequest sends each refused message alone, in a
// batch after a valid one, and in a create: nothing may reach the transport.
func TestRefusedMessagesMakeNoRequest(t *testing.T) {
	t.Parallel()
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			mt.RegisterNoResponder(httpmock.NewStringResponder(201, `{}`))
			ctx := context.Background()

			_, _, err := c.Conversations.Send(ctx, specConvID, tt.msg())
			assert.ErrorIs(t, err, ErrInvalidArgument)
			_, _, err = c.Conversations.Send(ctx, specConvID, Chat("fine"), tt.msg())
			assert.ErrorIs(t, err, ErrInvalidArgument)
			_, _, err = c.Conversations.Command(ctx, specConvID, tt.msg())
			assert.ErrorIs(t, err, ErrInvalidArgument)
			_, _, err = c.Conversations.Create(ctx, &ConversationCreate{Messages: []MessageInput{Chat("fine"), tt.msg()}})
			assert.ErrorIs(t, err, ErrInvalidArgument)

			assert.Equal(t, 0, mt.GetTotalCallCount())
		})
	}
}

type capturedRequest struct {
	method, url string
	body        []byte
}

// capture answers every request with status/body and records it.
func capture(mt *httpmock.MockTransport, status int, body string) *[]capturedRequest {
	var got []capturedRequest
	mt.RegisterNoResponder(func(r *http.Request) (*http.Response, error) {
		b, _ := io.ReadAll(r.Body)
		got = append(got, capturedRequest{r.Method, r.URL.String(), b})
		return httpmock.NewStringResponse(status, body), nil
	})
	return &got
}

func TestCreateSendsSpecBodies(t *testing.T) {
	t.Parallel()
	tests := []struct {
		fixture string
		create  *ConversationCreate
	}{
		{"ch1_create_notify", &ConversationCreate{Messages: []MessageInput{
			Chat("Hello"), NotifyChannels("5b2bf9dd9f3c885eb7ad7a63"),
		}}},
		// The spec's example has a trailing comma after the last message (not
		// valid JSON); the fixture leaves it out.
		{"ch1_create_assign", &ConversationCreate{Name: "Announcement", Messages: []MessageInput{
			Chat("I'm getting married!"), Assign("5ade8cd0c8287923aede5e0d"),
		}}},
	}
	for _, tt := range tests {
		t.Run(tt.fixture, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			got := capture(mt, 201, fixture(t, "ch1_create_response"))
			conv, resp, err := c.Conversations.Create(context.Background(), tt.create)
			require.NoError(t, err)
			assert.Equal(t, 201, resp.StatusCode)
			require.Len(t, *got, 1)
			r := (*got)[0]
			assert.Equal(t, http.MethodPost, r.method)
			assert.Equal(t, testBase+"conversations", r.url)
			assert.JSONEq(t, fixture(t, tt.fixture), stripDeliveryKeys(t, r.body))
			assert.Equal(t, "5bb0277fd99faf11a3f4a37e", conv.ID)
			assert.Equal(t, StatusQueued, conv.Status)
		})
	}
}

func TestSendBodies(t *testing.T) {
	t.Parallel()
	msgPath := testBase + "conversations/" + specConvID + "/messages"
	t.Run("one message is an object", func(t *testing.T) {
		c, mt := newTestClient(t)
		got := capture(mt, 201, `{"id":"5d60a7b7949e381ffa0ef481","type":"command","text":"/accept"}`)
		msg, _, err := c.Conversations.Command(context.Background(), specConvID, Accept().As(specAgentID))
		require.NoError(t, err)
		assert.Equal(t, "5d60a7b7949e381ffa0ef481", msg.ID)
		require.Len(t, *got, 1)
		assert.Equal(t, http.MethodPost, (*got)[0].method)
		assert.Equal(t, msgPath, (*got)[0].url)
		assert.Equal(t, byte('{'), (*got)[0].body[0])
		assert.JSONEq(t, fixture(t, "ch1_accept"), stripDeliveryKeys(t, (*got)[0].body))
	})
	t.Run("several messages are an array in order", func(t *testing.T) {
		c, mt := newTestClient(t)
		got := capture(mt, 201, `[{"id":"5d60a7b7949e381ffa0ef481"},{"id":"5d60a7b7949e381ffa0ef482"},{"id":"5d60a7b7949e381ffa0ef483"},{"id":"5d60a7b7949e381ffa0ef484"}]`)
		batch := append(Forward("599e1fcd9da1c72645c95886", "590e67fa4eae6757b914658a"),
			Chat("Handing over").Backchannel(), SetMetaValues(Meta{"engagement": "high", "scores": []any{8, 7, 6.5}}))
		msgs, _, err := c.Conversations.Send(context.Background(), specConvID, batch...)
		require.NoError(t, err)
		assert.Len(t, msgs, 4)
		require.Len(t, *got, 1)
		assert.Equal(t, http.MethodPost, (*got)[0].method)
		assert.Equal(t, msgPath, (*got)[0].url)
		var parts []json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(stripDeliveryKeys(t, (*got)[0].body)), &parts))
		require.Len(t, parts, 4)
		var fwd []json.RawMessage
		require.NoError(t, json.Unmarshal([]byte(fixture(t, "forward")), &fwd))
		assert.JSONEq(t, string(fwd[0]), string(parts[0]))
		assert.JSONEq(t, string(fwd[1]), string(parts[1]))
		assert.JSONEq(t, `{"text":"Handing over","isBackchannel":true}`, string(parts[2]))
		assert.JSONEq(t, fixture(t, "set_meta_values"), string(parts[3]))
	})
}

// TestDerivedMessagesDoNotShareState derives messages from one base and from
// caller-owned slices and maps, and checks that no write leaks across.
func TestDerivedMessagesDoNotShareState(t *testing.T) {
	t.Parallel()
	t.Run("meta and actions", func(t *testing.T) {
		// Several WithActions calls leave spare capacity in an append-built
		// slice, which is where a shared backing array would show.
		base := Chat("base").WithMeta("a", 1).
			WithActions(ReplyAction("r1", "1")).WithActions(ReplyAction("r2", "2")).WithActions(ReplyAction("r3", "3"))
		baseJSON := mustJSON(t, base)

		x := base.WithMeta("b", 2).WithActions(PostbackAction("X", "X")).Quote("qx")
		y := base.WithMeta("c", 3).WithActions(PostbackAction("Y", "Y")).As(specUserA)

		assert.JSONEq(t, baseJSON, mustJSON(t, base))
		assert.Equal(t, Meta{"a": 1, "b": 2, "quotedMessage": "qx"}, x.Meta)
		assert.Equal(t, Meta{"a": 1, "c": 3}, y.Meta)
		require.Len(t, x.Actions, 4)
		require.Len(t, y.Actions, 4)
		assert.Equal(t, "X", x.Actions[3].Payload)
		assert.Equal(t, "Y", y.Actions[3].Payload)
		assert.Empty(t, base.User)
		assert.Equal(t, specUserA, y.User)
	})
	t.Run("mention and form targets", func(t *testing.T) {
		base := Mention("look").WithMeta("k", "v")
		u := base.ToUser(specUserA)
		o := base.ToOrganization(specOrgID)
		assert.Error(t, base.Err(), "the base still has no target")
		assert.NoError(t, u.Err())
		assert.NoError(t, o.Err())
		assert.Equal(t, Meta{"k": "v", "targetUser": specUserA}, u.Meta)
		assert.Equal(t, Meta{"k": "v", "targetOrganization": specOrgID}, o.Meta)

		form := ActivateForm(specFormID, "Lead")
		one, two := form.InCategory(1), form.InCategory(2)
		assert.Equal(t, Meta{"form": specFormID}, form.Meta)
		assert.Equal(t, 1, one.Meta["categoryIndex"])
		assert.Equal(t, 2, two.Meta["categoryIndex"])
	})
	t.Run("caller inputs are copied", func(t *testing.T) {
		ids := []string{specUserA, specUserB}
		assign := Assign(ids...)
		ids[0] = specOrgID
		assert.JSONEq(t, fixture(t, "assign"), mustJSON(t, assign))

		values := Meta{"engagement": "high", "scores": []any{8, 7, 6.5}}
		set := SetMetaValues(values)
		values["engagement"] = "low"
		values["extra"] = true
		assert.JSONEq(t, fixture(t, "set_meta_values"), mustJSON(t, set))

		acts := []Action{LinkAction("L", "https://example.com")}
		items := []CardItem{NewCardItem("T", acts...)}
		card := Card("c", items...)
		acts[0].Text = "changed"
		items[0].Title = "changed"
		items[0].Actions[0].Text = "changed"
		assert.Equal(t, "T", card.Items[0].Title)
		assert.Equal(t, "L", card.Items[0].Actions[0].Text)

		res := []FormResult{{Name: "R", Values: Meta{"v": 1}}}
		rep := Report("r", res...)
		res[0].Values["v"] = 2
		res[0].Name = "changed"
		assert.Equal(t, FormResult{Name: "R", Values: Meta{"v": 1}}, rep.Results[0])

		more := []Action{ReplyAction("a", "a")}
		chat := Chat("x").WithActions(more...)
		more[0].Text = "changed"
		assert.Equal(t, "a", chat.Actions[0].Text)
	})
}

// TestRefusedValueIsTruncated makes sure a refused value is quoted only in part:
// a long value (which could be a token pasted by mistake) is cut.
func TestRefusedValueIsTruncated(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("s3cr3t", 20)
	for _, m := range []MessageInput{Accept().As(long), SetTouchpoint(Touchpoint(long)), SetLanguage(long), Chat("x").WithRole(Role(long))} {
		err := m.Err()
		require.Error(t, err)
		assert.NotContains(t, err.Error(), long)
	}
}

// FuzzCommandText checks that the constructors never panic and that an
// accepted one-line command really is one line.
func FuzzCommandText(f *testing.F) {
	for _, s := range []string{"", "x", "high", "a b", "a\nb", "\r", "\u2028", "@name", ">x", "Used Car", "1", " "} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		for _, m := range []MessageInput{
			SetName(a), SetCategory(a), SetMeta(a, b), CommentOn(specMsgID, a), BotCommand(a, b),
			SetLanguage(a), SetTouchpoint(Touchpoint(a)), ActivateForm(specFormID, a),
		} {
			if m.Err() == nil {
				assert.False(t, hasLineBreak(m.Text), "accepted %q", m.Text)
			}
		}
		_ = Chat(a).WithMeta(b, a).Quote(b).WithTouchpoint(Touchpoint(a)).WithContentType(b)
		_ = Mention(a).ToUser(b)
		_ = Field(specFormID, a, b)
	})
}

// ExampleForward prints the two commands that hand a conversation from one
// agent to another; send them together with Conversations.Send.
func ExampleForward() {
	for _, m := range Forward("599e1fcd9da1c72645c95886", "590e67fa4eae6757b914658a") {
		if err := m.Err(); err != nil {
			fmt.Println(err)
			return
		}
		b, _ := json.Marshal(m)
		fmt.Println(string(b))
	}
	// Output:
	// {"type":"command","text":"/leave","user":"599e1fcd9da1c72645c95886"}
	// {"type":"command","text":"/join","user":"590e67fa4eae6757b914658a"}
}

// ExampleMention shows that a mention without a target is refused.
func ExampleMention() {
	fmt.Println(Mention("@Anna please check").Err())
	m := Mention("@Anna please check").ToUser("59179631c63934459825deea")
	b, _ := json.Marshal(m)
	fmt.Println(m.Err(), string(b))
	// Output:
	// chatshipper: invalid argument mention: needs a target: call ToUser or ToOrganization
	// <nil> {"type":"mention","text":"@Anna please check","meta":{"targetUser":"59179631c63934459825deea"}}
}

// BenchmarkBuildAndEncode measures building a typical batch (a chat line with
// modifiers and a command) and encoding it as a request body.
func BenchmarkBuildAndEncode(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		msgs := []MessageInput{
			Chat("Hello").WithRole(RoleAgent).WithMeta("k", "v").WithActions(PostbackAction("Yes", "YES")),
			NotifyChannels(specUserA, specUserB),
		}
		if _, err := encodeJSON(msgs); err != nil {
			b.Fatal(err)
		}
	}
}
