package chatshipper

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// decodeFixture decodes a fixture into T and checks the round trip: decode,
// encode, decode gives an equal value.
func decodeFixture[T any](t *testing.T, name string) T {
	t.Helper()
	raw := readFixture(t, name)
	var v T
	require.NoError(t, json.Unmarshal(raw, &v))
	enc, err := json.Marshal(v)
	require.NoError(t, err)
	var again T
	require.NoError(t, json.Unmarshal(enc, &again))
	require.True(t, reflect.DeepEqual(v, again), "round trip of %s changed the value:\nfirst:  %#v\nsecond: %#v", name, v, again)
	return v
}

func ts(s string) Timestamp {
	v, err := ParseTimestamp(s)
	if err != nil {
		panic(err)
	}
	return v
}

func TestFixtureCreateConversation201(t *testing.T) {
	t.Parallel()
	c := decodeFixture[Conversation](t, "spec/create_conversation_201.json")
	want := Conversation{
		ID:           "5bb0277fd99faf11a3f4a37e",
		Organization: NewRef[Organization]("aaa111111111111111111111"),
		OrgPath:      "aaa111111111111111111111",
		Name:         "Gnoboris Finestrip",
		Type:         ConversationBot,
		Slug:         "SJPFDsaYX",
		URL:          "https://s-view.chatshipper.com/c/SJPFDsaYX",
		Status:       StatusQueued,
		Participants: []Participant{{
			UpdatedAt:   ts("2018-09-30T01:31:43.457Z"),
			CreatedAt:   ts("2018-09-30T01:31:43.457Z"),
			Name:        "awesome bot",
			Avatar:      "https://storage.googleapis.com/cs2-uploads/avatars/ca6e1762-988e-4cbc-becb-ad952b6df9a4.png",
			User:        NewRef[User]("aaa000000000000000000111"),
			UnreadCount: 0,
			Role:        RoleBot,
		}},
		Messages:        []Ref[Message]{NewRef[Message]("5bb0277fd99faf11a3f4a37f"), NewRef[Message]("5bb0277fd99faf11a3f4a380")},
		Channels:        []string{},
		ChannelsOffline: []string{},
		Forms:           []Meta{},
		Results:         []Meta{},
		CreatedBy:       NewRef[User]("aaa000000000000000000111"),
		UpdatedAt:       ts("2018-09-30T01:31:43.458Z"),
		CreatedAt:       ts("2018-09-30T01:31:43.425Z"),
	}
	assert.Equal(t, want, c)
	assert.Equal(t, time.Date(2018, 9, 30, 1, 31, 43, 425e6, time.UTC), c.CreatedAt.Time.UTC())
	assert.Equal(t, "awesome bot", c.Participant("aaa000000000000000000111").Name)
	assert.Nil(t, c.Participant("nobody"))
}

func TestFixtureSelectPopulate(t *testing.T) {
	t.Parallel()
	c := decodeFixture[Conversation](t, "spec/conversation_select_populate.json")
	assert.Equal(t, "5a4fd7419feede6a19b18712", c.ID)
	assert.Equal(t, StatusClosed, c.Status)
	assert.Equal(t, Ref[Organization]{ID: "5a53e8e4dcfa875e82ed2ab3", Value: &Organization{ID: "5a53e8e4dcfa875e82ed2ab3", Name: "Acme, Inc"}}, c.Organization)
	require.Len(t, c.Participants, 1)
	assert.Equal(t, Ref[User]{ID: "5a53e98944cf9c622117fd28", Value: &User{
		ID: "5a53e98944cf9c622117fd28", GivenName: "Edgar", FamilyName: "Poe", Name: "Edgar Poe"}}, c.Participants[0].User)
	assert.Equal(t, []Ref[Message]{
		{ID: "5a4fd7419feede6a19b18714", Value: &Message{ID: "5a4fd7419feede6a19b18714", Type: MessageTypePostback, Text: "startcbot"}},
		{ID: "5a4fd7419feede6a19b18713", Value: &Message{ID: "5a4fd7419feede6a19b18713", Type: MessageTypeCommand, Text: "/join"}},
	}, c.Messages)
}

func TestFixturePopulatedLists(t *testing.T) {
	t.Parallel()
	plain := decodeFixture[[]Conversation](t, "spec/conversations_unpopulated.json")
	assert.Equal(t, []Conversation{{ID: "542edff9fffc55dd29d99346", Contact: NewRef[Contact]("591506e18a280627f8dcfede")}}, plain)

	withContact := decodeFixture[[]Conversation](t, "spec/conversations_populate_contact.json")
	assert.Equal(t, []Conversation{{ID: "542edff9fffc55dd29d99346", Contact: Ref[Contact]{Value: &Contact{
		Organization: NewRef[Organization]("591508af8a280627f8dcfef1"),
		Conversation: NewRef[Conversation]("222fff111333000000000fff"),
		Profile:      ContactProfile{Name: "John Doe", Gender: "male"},
	}}}}, withContact)

	withMessages := decodeFixture[[]Conversation](t, "spec/conversations_populate_messages.json")
	assert.Equal(t, []Ref[Message]{{Value: &Message{Type: MessageTypeChat}}}, withMessages[0].Messages)

	withUsers := decodeFixture[[]Conversation](t, "spec/conversations_populate_participants_user.json")
	assert.Equal(t, Ref[User]{ID: "5a4fd7419feede6a19b18713", Value: &User{ID: "5a4fd7419feede6a19b18713", Name: "John Johnson"}},
		withUsers[0].Participants[0].User)
}

func TestFixtureUsersSelect(t *testing.T) {
	t.Parallel()
	users := decodeFixture[[]User](t, "spec/users_select.json")
	assert.Equal(t, []User{
		{ID: "543adb9c7a0f149e3ac29438", Name: "user1", Email: "user1@test.com"},
		{ID: "543adb9c7a0f149e3ac2943b", Name: "user2", Email: "user2@test.com"},
	}, users)
}

func TestFixtureMessagesLikedCommented(t *testing.T) {
	t.Parallel()
	liked := decodeFixture[Message](t, "spec/message_liked.json")
	assert.Equal(t, Message{Type: MessageTypeChat, Text: "No need, I could easily find it on your website",
		Likes: []string{"5d554542fe7730001185fb22"}}, liked)

	commented := decodeFixture[Message](t, "spec/message_commented.json")
	assert.Equal(t, Message{Type: MessageTypeChat, Text: "No need, I could easily find it on your website",
		Comments: []Comment{{User: NewRef[User]("5d554542fe7730001185fb22"), Message: "5d60a7b7949e381ffa0ef481",
			Text: "Our website redesign really works out!"}}}, commented)
}

func TestFixtureServices(t *testing.T) {
	t.Parallel()
	rec := decodeFixture[Service](t, "spec/service_record.json")
	assert.Equal(t, Service{ID: "591a3932dd2ec870ce85bd2f", Organization: NewRef[Organization]("590bcf50458b716046347f36"),
		Name: "Acme SmartSupp", Type: "smartsupp", Params: Meta{"jid": "uid3710@s1.smartsupp.com", "password": "z3kR3t",
			"host": "s1.smartsupp.com", "port": 5223.0}}, rec)
	after := decodeFixture[Service](t, "spec/service_patch_200.json")
	assert.Equal(t, "Acme Web Widget", after.Name)
	assert.Equal(t, 5222.0, after.Params["port"])
}

func TestFixtureRequestsDecodeIntoInputs(t *testing.T) {
	t.Parallel()
	create := decodeFixture[ConversationCreate](t, "spec/create_conversation_request.json")
	assert.Equal(t, ConversationCreate{Messages: []MessageInput{
		{Text: "Hello"},
		{Type: MessageTypeCommand, Text: "/notify", Meta: Meta{"channels": []any{"5b2bf9dd9f3c885eb7ad7a63"}}},
	}}, create)
	ann := decodeFixture[ConversationCreate](t, "spec/create_announcement_request.json")
	assert.Equal(t, "Announcement", ann.Name)
	assert.Equal(t, Meta{"users": []any{"5ade8cd0c8287923aede5e0d"}}, ann.Messages[1].Meta)
	acc := decodeFixture[MessageInput](t, "spec/accept_request.json")
	assert.Equal(t, MessageInput{Type: MessageTypeCommand, Text: "/accept", User: "bbb000000000000000444444"}, acc)
}
