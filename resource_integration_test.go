package chatshipper_test

import (
	"context"
	"errors"
	"iter"
	"net/url"
	"testing"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// crudService is the method set of every service with the six CRUD calls.
type crudService[T, C, U any] interface {
	List(ctx context.Context, q *chatshipper.Query) ([]*T, *chatshipper.Response, error)
	ListIter(ctx context.Context, q *chatshipper.Query) iter.Seq2[*T, error]
	Get(ctx context.Context, id string, q *chatshipper.Query) (*T, *chatshipper.Response, error)
	Create(ctx context.Context, body *C) (*T, *chatshipper.Response, error)
	Update(ctx context.Context, id string, body *U) (*T, *chatshipper.Response, error)
	Delete(ctx context.Context, id string) (*chatshipper.Response, error)
}

// roundTrip runs the six methods of one service against the fake server:
// create, get, list (by name), update, delete, and 404 after deleting.
func roundTrip[T, C, U any](t *testing.T, r crudService[T, C, U], create *C, update *U, id func(*T) string, name func(*T) string, wantName, wantUpdated string) {
	t.Helper()
	ctx := context.Background()
	created, resp, err := r.Create(ctx, create)
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	require.True(t, chatshipper.IsValidID(id(created)))
	assert.Equal(t, wantName, name(created))

	got, _, err := r.Get(ctx, id(created), nil)
	require.NoError(t, err)
	assert.Equal(t, id(created), id(got))

	list, resp, err := r.List(ctx, chatshipper.NewQuery().Where("id", chatshipper.In(id(created))))
	require.NoError(t, err)
	require.Len(t, list, 1)
	assert.Equal(t, 1, resp.Total)
	n := 0
	for item, err := range r.ListIter(ctx, chatshipper.NewQuery().Where("id", chatshipper.Eq(id(created)))) {
		require.NoError(t, err)
		assert.Equal(t, id(created), id(item))
		n++
	}
	assert.Equal(t, 1, n)

	updated, _, err := r.Update(ctx, id(created), update)
	require.NoError(t, err)
	assert.Equal(t, wantUpdated, name(updated))

	_, err = r.Delete(ctx, id(created))
	require.NoError(t, err)
	_, _, err = r.Get(ctx, id(created), nil)
	assert.ErrorIs(t, err, chatshipper.ErrNotFound)
}

func ptr[T any](v T) *T { return &v }

func TestIntegrationResourcesRoundTrip(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	c, err := chatshipper.NewClient(srv.AdminToken, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0))
	require.NoError(t, err)
	org := srv.Seed.OrganizationID

	t.Run("contacts", func(t *testing.T) {
		roundTrip(t, c.Contacts, &chatshipper.ContactCreate{Organization: org, Profile: chatshipper.ContactProfile{Name: "Jane", Telephone: "+441134960999"}},
			&chatshipper.ContactUpdate{Profile: &chatshipper.ContactProfile{Name: "Jane Doe"}},
			func(v *chatshipper.Contact) string { return v.ID }, func(v *chatshipper.Contact) string { return v.Profile.Name }, "Jane", "Jane Doe")
	})
	t.Run("users", func(t *testing.T) {
		roundTrip(t, c.Users, &chatshipper.UserCreate{GivenName: "Eve", FamilyName: "Agent", Name: "Eve Agent", Email: "eve@acme.test", Password: "pw-x"},
			&chatshipper.UserUpdate{Name: ptr("Eve A.")},
			func(v *chatshipper.User) string { return v.ID }, func(v *chatshipper.User) string { return v.Name }, "Eve Agent", "Eve A.")
	})
	t.Run("organizations", func(t *testing.T) {
		roundTrip(t, c.Organizations, &chatshipper.OrganizationCreate{Name: "Sub", Parent: org},
			&chatshipper.OrganizationUpdate{Name: ptr("Sub 2")},
			func(v *chatshipper.Organization) string { return v.ID }, func(v *chatshipper.Organization) string { return v.Name }, "Sub", "Sub 2")
	})
	t.Run("orggroups", func(t *testing.T) {
		roundTrip(t, c.OrgGroups, &chatshipper.OrgGroupCreate{Name: "Dealers", Organization: org},
			&chatshipper.OrgGroupUpdate{Name: ptr("Dealers NL")},
			func(v *chatshipper.OrgGroup) string { return v.ID }, func(v *chatshipper.OrgGroup) string { return v.Name }, "Dealers", "Dealers NL")
	})
	t.Run("channels", func(t *testing.T) {
		roundTrip(t, c.Channels, &chatshipper.ChannelCreate{Name: "Sales", Organization: org},
			&chatshipper.ChannelUpdate{Name: ptr("Sales 2")},
			func(v *chatshipper.Channel) string { return v.ID }, func(v *chatshipper.Channel) string { return v.Name }, "Sales", "Sales 2")
	})
	t.Run("services", func(t *testing.T) {
		roundTrip(t, c.Services, &chatshipper.ServiceCreate{Name: "SMS", Type: chatshipper.ServiceTwilio, Organization: org},
			&chatshipper.ServiceUpdate{Name: ptr("SMS 2")},
			func(v *chatshipper.Service) string { return v.ID }, func(v *chatshipper.Service) string { return v.Name }, "SMS", "SMS 2")
	})
	t.Run("forms", func(t *testing.T) {
		roundTrip(t, c.Forms, &chatshipper.FormCreate{Name: "Survey", Organization: org, Fields: []chatshipper.FormField{{Name: "Score", Key: "score"}}},
			&chatshipper.FormUpdate{Name: ptr("Survey 2")},
			func(v *chatshipper.Form) string { return v.ID }, func(v *chatshipper.Form) string { return v.Name }, "Survey", "Survey 2")
	})
	t.Run("workflows", func(t *testing.T) {
		roundTrip(t, c.Workflows, &chatshipper.WorkflowCreate{Name: "Route", Organization: org},
			&chatshipper.WorkflowUpdate{Name: ptr("Route 2")},
			func(v *chatshipper.Workflow) string { return v.ID }, func(v *chatshipper.Workflow) string { return v.Name }, "Route", "Route 2")
	})
	t.Run("bots", func(t *testing.T) {
		roundTrip(t, c.Bots, &chatshipper.BotCreate{Name: "Echo", Organization: org},
			&chatshipper.BotUpdate{Name: ptr("Echo 2")},
			func(v *chatshipper.Bot) string { return v.ID }, func(v *chatshipper.Bot) string { return v.Name }, "Echo", "Echo 2")
	})
	t.Run("botinstances", func(t *testing.T) {
		bot, _, err := c.Bots.Create(context.Background(), &chatshipper.BotCreate{Name: "Host", Organization: org})
		require.NoError(t, err)
		inst, _, err := c.BotInstances.Create(context.Background(), &chatshipper.BotInstanceCreate{Bot: bot.ID, Organization: org, Meta: chatshipper.Meta{"greeting": "hi"}})
		require.NoError(t, err)
		got, _, err := c.BotInstances.Get(context.Background(), inst.ID, chatshipper.NewQuery().Populate("bot"))
		require.NoError(t, err)
		require.True(t, got.Bot.Populated())
		assert.Equal(t, "Host", got.Bot.Value.Name)
		upd, _, err := c.BotInstances.Update(context.Background(), inst.ID, &chatshipper.BotInstanceUpdate{Meta: chatshipper.Meta{"greeting": "hello"}})
		require.NoError(t, err)
		assert.Equal(t, chatshipper.Meta{"greeting": "hello"}, upd.Meta.Map())
	})
	t.Run("kbases collection", func(t *testing.T) {
		kb := c.Collection("kbases")
		doc := &chatshipper.Document{}
		require.NoError(t, doc.Set("name", "FAQ"))
		require.NoError(t, doc.Set("custom", map[string]any{"deep": []int{1, 2}}))
		created, _, err := kb.Create(context.Background(), doc)
		require.NoError(t, err)
		require.True(t, chatshipper.IsValidID(created.ID()))
		require.NoError(t, created.Set("name", "FAQ 2"))
		updated, _, err := kb.Update(context.Background(), created.ID(), created)
		require.NoError(t, err)
		var name string
		require.NoError(t, updated.Get("name", &name))
		assert.Equal(t, "FAQ 2", name)
		var custom map[string]any
		require.NoError(t, updated.Get("custom", &custom))
		assert.Equal(t, map[string]any{"deep": []any{1.0, 2.0}}, custom)
	})
}

func TestIntegrationTelephoneLookupKeepsPlus(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	c, err := chatshipper.NewClient(srv.AdminToken, chatshipper.WithBaseURL(srv.URL))
	require.NoError(t, err)
	id := srv.Put("contacts", map[string]any{"organization": srv.Seed.OrganizationID, "profile": map[string]any{"name": "Jane", "telephone": "+441134960999"}})
	srv.ResetRequests()
	found, _, err := c.Contacts.FindByTelephone(context.Background(), "+441134960999", srv.Seed.OrganizationID)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, id, found[0].ID)
	reqs := srv.Requests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "+441134960999", reqs[0].Query.Get("profile.telephone"), "arrives as +, not as a space")
	raw, _ := url.ParseQuery("profile.telephone=+441134960999")
	assert.NotEqual(t, raw.Get("profile.telephone"), reqs[0].Query.Get("profile.telephone"), "an unencoded + would have been a space")
}

func TestIntegrationUsersMe(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t)
	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL))
	require.NoError(t, err)
	me, _, err := c.Users.Me(context.Background())
	require.NoError(t, err)
	assert.Equal(t, srv.Seed.BotUserID, me.ID)

	// The permission table: a bot may not list services (admin only).
	_, _, err = c.Services.List(context.Background(), nil)
	assert.True(t, errors.Is(err, chatshipper.ErrForbidden))
}
