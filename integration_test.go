package chatshipper_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeClient starts a fake server without its request limit (these tests make
// many calls quickly) and a client for its bot user.
func fakeClient(t *testing.T, opts ...chatshipper.Option) (*chatshipper.Client, *chatshippertest.Server) {
	t.Helper()
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	c, err := chatshipper.NewClient(srv.Token, append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0)}, opts...)...)
	require.NoError(t, err)
	return c, srv
}

func participant(conv *chatshipper.Conversation, userID string) chatshipper.Participant {
	if p := conv.Participant(userID); p != nil {
		return *p
	}
	return chatshipper.Participant{}
}

func TestIntegrationLifecycleEveryCommand(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := context.Background()
	alice, bob := srv.Seed.AgentUserIDs[0], srv.Seed.AgentUserIDs[1]
	var id string
	get := func() *chatshipper.Conversation {
		t.Helper()
		conv, _, err := c.Conversations.Get(ctx, id, nil)
		require.NoError(t, err)
		return conv
	}
	cmd := func(m chatshipper.MessageInput) *chatshipper.Message {
		t.Helper()
		msg, _, err := c.Conversations.Command(ctx, id, m)
		require.NoError(t, err)
		return msg
	}

	// Create a team conversation with a message and /notify: queued, channels notified.
	conv, resp, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
		Name:     "Lifecycle",
		Messages: []chatshipper.MessageInput{chatshipper.Chat("Hello"), chatshipper.Notify()},
	})
	require.NoError(t, err)
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	id = conv.ID
	assert.Equal(t, chatshipper.StatusQueued, conv.Status)
	assert.Equal(t, chatshipper.ConversationBot, conv.Type)
	assert.ElementsMatch(t, srv.Seed.ChannelIDs, conv.Channels)
	require.Len(t, conv.Messages, 2)
	assert.True(t, participant(conv, srv.Seed.BotUserID).User.ID != "")

	// /notify to specific channels.
	cmd(chatshipper.NotifyChannels(srv.Seed.ChannelIDs[1]))
	assert.Equal(t, []string{srv.Seed.ChannelIDs[1]}, get().Channels)
	// /notify with other organizations' routing rules.
	cmd(chatshipper.NotifyOrganizations(srv.Seed.OrganizationID))
	assert.ElementsMatch(t, srv.Seed.ChannelIDs, get().Channels)

	// /assign: Alice gets the inbox flag.
	cmd(chatshipper.Assign(alice))
	conv = get()
	assert.True(t, participant(conv, alice).Inbox)
	assert.False(t, participant(conv, alice).Active)
	assert.Equal(t, chatshipper.StatusQueued, conv.Status)

	// /accept as Alice: active, accepted, inbox cleared, channels cleared.
	cmd(chatshipper.Accept().As(alice))
	conv = get()
	assert.Equal(t, chatshipper.StatusActive, conv.Status)
	assert.Equal(t, [3]bool{true, true, false}, flags(participant(conv, alice)))
	assert.Empty(t, conv.Channels)
	assert.Empty(t, conv.ChannelsOffline)

	// /join as Bob: an active, passive participant; status unchanged.
	cmd(chatshipper.Join().As(bob))
	conv = get()
	assert.Equal(t, [3]bool{true, false, false}, flags(participant(conv, bob)))
	assert.Equal(t, chatshipper.StatusActive, conv.Status)

	// /set of properties and meta.
	cmd(chatshipper.SetName("Account Review"))
	cmd(chatshipper.SetCategory("Used Car"))
	conv = get()
	assert.Equal(t, "Account Review", conv.Name)
	assert.Equal(t, "Used Car", conv.Category)
	require.NotNil(t, conv.CategoryIndex)
	assert.Equal(t, 1, *conv.CategoryIndex)
	cmd(chatshipper.SetCategoryIndex(0))
	cmd(chatshipper.SetTouchpoint(chatshipper.TouchpointEmail))
	cmd(chatshipper.SetLanguage("de"))
	cmd(chatshipper.SetMeta("engagement", "high"))
	cmd(chatshipper.SetMetaValues(chatshipper.Meta{"scores": []any{8, 7, 6.5}}))
	conv = get()
	assert.Equal(t, 0, *conv.CategoryIndex)
	assert.Equal(t, "General", conv.Category)
	assert.Equal(t, "email", conv.Touchpoint)
	assert.Equal(t, "de", conv.Language)
	meta := conv.Meta.Map()
	delete(meta, chatshipper.DeliveryKeyMeta) // the conversation's own delivery key, from Create
	assert.Equal(t, chatshipper.Meta{"engagement": "high", "scores": []any{8.0, 7.0, 6.5}}, meta)

	// /action like and comment on the first message.
	first := conv.Messages[0].ID
	cmd(chatshipper.Like(first))
	comment := cmd(chatshipper.CommentOn(first, "Our website redesign really works out!"))
	m, _, err := c.Messages.Get(ctx, first, nil)
	require.NoError(t, err)
	assert.Equal(t, []string{srv.Seed.BotUserID}, m.Likes)
	require.Len(t, m.Comments, 1)
	assert.Equal(t, chatshipper.Comment{User: chatshipper.NewRef[chatshipper.User](srv.Seed.BotUserID), Message: comment.ID,
		Text: "Our website redesign really works out!"}, stripTimes(m.Comments[0]))

	// A bot command is stored and ignored.
	before := get()
	cmd(chatshipper.BotCommand("onboard"))
	after := get()
	assert.Equal(t, before.Status, after.Status)
	assert.Equal(t, before.Participants, after.Participants)

	// Forward from Alice to Bob, then Bob leaves: closed (no unanswered contact message).
	_, _, err = c.Conversations.Send(ctx, id, chatshipper.Forward(alice, bob)...)
	require.NoError(t, err)
	conv = get()
	assert.Equal(t, [3]bool{false, false, false}, flags(participant(conv, alice)))
	assert.True(t, participant(conv, bob).Active)
	cmd(chatshipper.Close().As(bob))
	conv = get()
	assert.Equal(t, chatshipper.StatusClosed, conv.Status)
	assert.False(t, participant(conv, bob).Active)
}

func flags(p chatshipper.Participant) [3]bool { return [3]bool{p.Active, p.Accepted, p.Inbox} }

func stripTimes(c chatshipper.Comment) chatshipper.Comment {
	c.CreatedAt = chatshipper.Timestamp{}
	return c
}

func TestIntegrationContactConversation(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := context.Background()
	alice := srv.Seed.AgentUserIDs[0]
	conv, resp, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
		Type:     chatshipper.ConversationContact,
		Contact:  &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Name: "Jane Doe", Email: "jane@example.com"}},
		Messages: []chatshipper.MessageInput{chatshipper.Chat("Hi, I need help").WithRole(chatshipper.RoleContact)},
	})
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, chatshipper.ConversationContact, conv.Type)
	assert.NotEmpty(t, conv.Contact.ID)
	assert.Equal(t, chatshipper.StatusQueued, conv.Status, "a contact's first message queues the conversation")

	// Accept, then leave without answering: queued again (the contact's last message is unanswered).
	_, _, err = c.Conversations.Command(ctx, conv.ID, chatshipper.Accept().As(alice))
	require.NoError(t, err)
	_, _, err = c.Conversations.Command(ctx, conv.ID, chatshipper.Leave().As(alice))
	require.NoError(t, err)
	got, _, err := c.Conversations.Get(ctx, conv.ID, nil)
	require.NoError(t, err)
	assert.Equal(t, chatshipper.StatusQueued, got.Status)

	// Accept, answer, leave: closed. A new contact message queues it again.
	_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Accept().As(alice),
		chatshipper.Chat("Happy to help!").OnBehalfOf(alice), chatshipper.Leave().As(alice))
	require.NoError(t, err)
	got, _, _ = c.Conversations.Get(ctx, conv.ID, nil)
	assert.Equal(t, chatshipper.StatusClosed, got.Status)
	_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("One more thing").WithRole(chatshipper.RoleContact))
	require.NoError(t, err)
	got, _, _ = c.Conversations.Get(ctx, conv.ID, nil)
	assert.Equal(t, chatshipper.StatusQueued, got.Status)

	// The same contact again: an upsert into the existing conversation (200).
	again, resp, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
		Type:     chatshipper.ConversationContact,
		Contact:  &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Email: "jane@example.com"}},
		Messages: []chatshipper.MessageInput{chatshipper.Chat("Your order shipped").WithRole(chatshipper.RoleAgent)},
	})
	require.NoError(t, err)
	assert.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, conv.ID, again.ID)

	// /block: closed, contact blocked.
	_, _, err = c.Conversations.Command(ctx, conv.ID, chatshipper.Block())
	require.NoError(t, err)
	got, _, _ = c.Conversations.Get(ctx, conv.ID, chatshipper.NewQuery().Populate("contact"))
	assert.Equal(t, chatshipper.StatusClosed, got.Status)
	require.True(t, got.Contact.Populated())
	assert.True(t, got.Contact.Value.Blocked)
}

func TestIntegrationFormsSendAndImport(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := context.Background()
	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "Forms",
		Messages: []chatshipper.MessageInput{chatshipper.ActivateForm(srv.Seed.FormID, "Lead").InCategory(0)}})
	require.NoError(t, err)
	got, _, _ := c.Conversations.Get(ctx, conv.ID, nil)
	require.Len(t, got.Forms, 1)
	_, _, err = c.Conversations.Send(ctx, conv.ID,
		chatshipper.Field(srv.Seed.FormID, "name", "Jane Doe"), chatshipper.Field(srv.Seed.FormID, "email", "jane@example.com"),
		chatshipper.SendForm(srv.Seed.FormID))
	require.NoError(t, err)
	got, _, _ = c.Conversations.Get(ctx, conv.ID, chatshipper.NewQuery().Populate("messages"))
	assert.Empty(t, got.Forms)
	require.Len(t, got.Results, 1)
	last := got.Messages[len(got.Messages)-1].Value
	require.NotNil(t, last)
	assert.Equal(t, chatshipper.MessageTypeResults, last.Type)

	// /import: the origin is renamed TRANSFERRED and archived; its messages are interleaved by time.
	origin, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "Origin",
		Messages: []chatshipper.MessageInput{chatshipper.Chat("from the origin")}})
	require.NoError(t, err)
	_, _, err = c.Conversations.Command(ctx, conv.ID, chatshipper.Import(origin.ID))
	require.NoError(t, err)
	o, _, _ := c.Conversations.Get(ctx, origin.ID, chatshipper.NewQuery().Populate("messages"))
	assert.Equal(t, "TRANSFERRED", o.Name)
	assert.Equal(t, chatshipper.StatusArchived, o.Status)
	require.NotNil(t, o.Messages[0].Value)
	copyID, _ := o.Messages[0].Value.Meta.Get("_target").(string)
	require.NotEmpty(t, copyID)
	copied, _, err := c.Messages.Get(ctx, copyID, nil)
	require.NoError(t, err)
	assert.Equal(t, o.Messages[0].ID, copied.Meta.Get("_source"))
	target, _, _ := c.Conversations.Get(ctx, conv.ID, chatshipper.NewQuery().Populate("messages", "createdAt"))
	assert.True(t, sort.SliceIsSorted(target.Messages, func(i, j int) bool {
		return target.Messages[i].Value.CreatedAt.Before(target.Messages[j].Value.CreatedAt.Time)
	}), "messages reordered by creation time")
}

func TestIntegrationQueryOperators(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := context.Background()
	type row struct {
		name  string
		age   int
		tags  []any
		meta  map[string]any
		email string
	}
	rows := []row{
		{"Alpha Acme", 18, []any{"a"}, map[string]any{"intent": "greeting"}, "alpha@acme.test"},
		{"Beta", 25, []any{"a", "b"}, map[string]any{"intent": "sales"}, ""},
		{"Gamma Acme", 30, nil, nil, "gamma@test"},
		{"Delta", 45, []any{"c"}, map[string]any{"intent": "greeting"}, ""},
	}
	ids := map[string]string{}
	for _, r := range rows {
		doc := map[string]any{"name": r.name, "age": r.age, "organization": srv.Seed.OrganizationID}
		if r.tags != nil {
			doc["tags"] = r.tags
		}
		if r.meta != nil {
			doc["meta"] = r.meta
		}
		if r.email != "" {
			doc["email"] = r.email
		}
		ids[r.name] = srv.Put("kbases", doc)
	}
	list := func(q *chatshipper.Query) ([]map[string]any, *chatshipper.Response) {
		t.Helper()
		enc, err := q.Encode()
		require.NoError(t, err)
		req, err := c.NewRequest(ctx, http.MethodGet, "kbases?"+enc, nil)
		require.NoError(t, err)
		var docs []map[string]any
		resp, err := c.Do(req, &docs)
		require.NoError(t, err)
		return docs, resp
	}
	names := func(q *chatshipper.Query) []string {
		t.Helper()
		docs, _ := list(q.Sort("name"))
		var out []string
		for _, d := range docs {
			out = append(out, d["name"].(string))
		}
		return out
	}
	q := chatshipper.NewQuery
	tests := []struct {
		name string
		q    *chatshipper.Query
		want []string
	}{
		{"exists", q().Where("email", chatshipper.Exists()), []string{"Alpha Acme", "Gamma Acme"}},
		{"not exists", q().Where("email", chatshipper.NotExists()), []string{"Beta", "Delta"}},
		{"equal", q().Where("name", chatshipper.Eq("Beta")), []string{"Beta"}},
		{"not equal", q().Where("name", chatshipper.Ne("Beta")), []string{"Alpha Acme", "Delta", "Gamma Acme"}},
		{"gt", q().Where("age", chatshipper.Gt(25)), []string{"Delta", "Gamma Acme"}},
		{"gte", q().Where("age", chatshipper.Gte(25)), []string{"Beta", "Delta", "Gamma Acme"}},
		{"lt", q().Where("age", chatshipper.Lt(25)), []string{"Alpha Acme"}},
		{"lte", q().Where("age", chatshipper.Lte(25)), []string{"Alpha Acme", "Beta"}},
		{"between", q().Where("age", chatshipper.Between(chatshipper.Gt(18), chatshipper.Lte(30))), []string{"Beta", "Gamma Acme"}},
		{"between inclusive", q().Where("age", chatshipper.Between(chatshipper.Gte(18), chatshipper.Lt(30))), []string{"Alpha Acme", "Beta"}},
		{"in", q().Where("age", chatshipper.In(18, 45)), []string{"Alpha Acme", "Delta"}},
		{"nin", q().Where("age", chatshipper.Nin(18, 45)), []string{"Beta", "Gamma Acme"}},
		{"regex", q().Where("name", chatshipper.Regex("acme")), []string{"Alpha Acme", "Gamma Acme"}},
		{"dot path", q().Where("meta.intent", chatshipper.Eq("greeting")), []string{"Alpha Acme", "Delta"}},
		{"array element", q().Where("tags", chatshipper.Eq("a")), []string{"Alpha Acme", "Beta"}},
		{"array index exists", q().Where("tags.1", chatshipper.Exists()), []string{"Beta"}},
		{"array index not exists", q().Where("tags.1", chatshipper.NotExists()), []string{"Alpha Acme", "Delta", "Gamma Acme"}},
		{"or over fields", q().WhereAny([]string{"name", "email"}, "acme"), []string{"Alpha Acme", "Gamma Acme"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, names(tt.q))
		})
	}

	// select keeps id; offset and limit page; sort descending.
	docs, resp := list(q().Select("name").Sort("-age").Offset(1).Limit(2))
	require.Len(t, docs, 2)
	assert.Equal(t, map[string]any{"id": ids["Gamma Acme"], "name": "Gamma Acme"}, docs[0], "select keeps id")
	assert.Equal(t, chatshipper.Pagination{Total: 4, TotalPages: 2, Page: 1, PerPage: 2, RangeStart: 2, RangeEnd: 3,
		FirstOffset: 0, PrevOffset: 0, NextOffset: 3, LastOffset: 3}, resp.Pagination)
}

func TestIntegrationPaginate1000(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	for i := range 1000 {
		srv.Put("conversations", map[string]any{"name": fmt.Sprintf("c%04d", i), "type": "contact", "status": "closed",
			"organization": srv.Seed.OrganizationID})
	}
	srv.ResetRequests()
	seen := map[string]bool{}
	var names []string
	for conv, err := range c.Conversations.ListIter(context.Background(), chatshipper.NewQuery().Where("status", chatshipper.Eq("closed")).Sort("name")) {
		require.NoError(t, err)
		require.False(t, seen[conv.ID], "duplicate %s", conv.ID)
		seen[conv.ID] = true
		names = append(names, conv.Name)
	}
	assert.Len(t, names, 1000)
	assert.True(t, slices.IsSorted(names))
	assert.Len(t, srv.Requests(), 5, "1000 items at 200 per page, no extra request")
}

func TestIntegrationPatchSemantics(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := context.Background()
	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "Patch", Meta: chatshipper.Meta{"a": 1, "b": map[string]any{"x": 1, "y": 2}}})
	require.NoError(t, err)
	name := "Patched"
	got, _, err := c.Conversations.Update(ctx, conv.ID, &chatshipper.ConversationUpdate{Name: &name, Meta: chatshipper.Meta{"b": map[string]any{"x": 9}}})
	require.NoError(t, err)
	assert.Equal(t, "Patched", got.Name)
	assert.Equal(t, chatshipper.Meta{"b": map[string]any{"x": 9.0}}, got.Meta.Map(), "nested objects are replaced, not merged")
	assert.Equal(t, conv.Type, got.Type, "top-level fields not sent are kept")

	// The spec's own PATCH example on a service.
	id := srv.Put("services", map[string]any{"organization": "590bcf50458b716046347f36", "name": "Acme SmartSupp", "type": "smartsupp",
		"params": map[string]any{"jid": "uid3710@s1.smartsupp.com", "password": "z3kR3t", "host": "s1.smartsupp.com", "port": 5223}})
	pname := "Acme Web Widget"
	admin, err := chatshipper.NewClient(srv.AdminToken, chatshipper.WithBaseURL(srv.URL))
	require.NoError(t, err)
	req, err := admin.NewRequest(ctx, http.MethodPatch, "services/"+id, &chatshipper.ServiceUpdate{Name: &pname,
		Params: chatshipper.Meta{"jid": "uid8965@s1.smartsupp.com", "password": "t0pN0tCH", "host": "s1.smartsupp.com"}})
	require.NoError(t, err)
	var svc chatshipper.Service
	_, err = admin.Do(req, &svc)
	require.NoError(t, err)
	assert.Equal(t, "Acme Web Widget", svc.Name)
	assert.Equal(t, chatshipper.ServiceSmartsupp, svc.Type)
	assert.Equal(t, chatshipper.Meta{"jid": "uid8965@s1.smartsupp.com", "password": "t0pN0tCH", "host": "s1.smartsupp.com", "port": 5222.0}, svc.Params)
}

func TestIntegrationErrorsFromTheServer(t *testing.T) {
	t.Parallel()
	c, _ := fakeClient(t)
	ctx := context.Background()
	_, _, err := c.Conversations.Get(ctx, "5bb0277fd99faf11a3f4a37e", nil)
	require.ErrorIs(t, err, chatshipper.ErrNotFound)
	var er *chatshipper.ErrorResponse
	require.ErrorAs(t, err, &er)
	assert.Equal(t, "Conversation not found", er.Message)

	bad, err := chatshipper.NewClient("not-a-token", chatshipper.WithBaseURL(c.BaseURL().String()))
	require.NoError(t, err)
	_, _, err = bad.Conversations.List(ctx, nil)
	assert.ErrorIs(t, err, chatshipper.ErrUnauthorized)
}

func TestIntegrationRetryAfter429(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(srv.Client()))
		require.NoError(t, err)
		srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/conversations", Count: 1, Status: 429, RetryAfter: "7"})
		start := time.Now()
		_, _, err = c.Conversations.List(context.Background(), nil)
		require.NoError(t, err)
		assert.Len(t, srv.Requests(), 2)
		assert.Equal(t, 7*time.Second, time.Since(start), "the retry waited for Retry-After")
	})
}
