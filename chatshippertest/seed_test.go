package chatshippertest

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestSeedData(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	sd := srv.Seed
	now := clk.stamp(0)
	all := append([]string{sd.OrganizationID, sd.BotUserID, sd.AdminUserID, sd.GuestUserID, sd.FormID},
		append(sd.AgentUserIDs, sd.ChannelIDs...)...)
	require.Len(t, all, 9)
	for _, id := range all {
		assert.Regexp(t, `^[0-9a-f]{24}$`, id)
	}

	org := getDoc(t, srv, "organizations", sd.OrganizationID)
	assert.Equal(t, m{
		"id": sd.OrganizationID, "name": "Acme Motors", "displayName": "Acme Motors, Inc",
		"email": "info@acme.test", "status": "active", "level": float64(1),
		"path": sd.OrganizationID, "orgPath": sd.OrganizationID,
		"categories": []any{m{"name": "General", "forms": []any{sd.FormID}}, m{"name": "Used Car", "forms": []any{}}},
		"createdAt":  now, "updatedAt": now,
	}, org)
	assert.Equal(t, "General", sd.CategoryName)
	assert.Equal(t, []string{"General", "Used Car"}, sd.CategoryNames)

	assert.Equal(t, m{"id": sd.FormID, "organization": sd.OrganizationID, "name": "Contact details",
		"fields":    []any{m{"name": "Name", "key": "name"}, m{"name": "Email", "key": "email"}},
		"createdAt": now, "updatedAt": now}, getDoc(t, srv, "forms", sd.FormID))

	users := []struct {
		id, role, email, password, given, family string
	}{
		{sd.BotUserID, "bot", sd.BotEmail, sd.BotPassword, "Awesome", "Bot"},
		{sd.AdminUserID, "admin", sd.AdminEmail, sd.AdminPassword, "Ada", "Admin"},
		{sd.AgentUserIDs[0], "agent", sd.AgentEmails[0], sd.AgentPassword, "Alice", "Agent"},
		{sd.AgentUserIDs[1], "agent", sd.AgentEmails[1], sd.AgentPassword, "Bob", "Agent"},
		{sd.GuestUserID, "guest", sd.GuestEmail, sd.GuestPassword, "Gus", "Guest"},
	}
	assert.Equal(t, "bot+"+sd.BotUserID+"@chatshipper.com", sd.BotEmail)
	for _, u := range users {
		assert.Equal(t, m{
			"id": u.id, "givenName": u.given, "familyName": u.family, "name": u.given + " " + u.family,
			"email": u.email, "status": "active", "avatar": avatarURL(u.id),
			"organizations": []any{m{"organization": sd.OrganizationID, "orgPath": sd.OrganizationID,
				"role": u.role, "selected": true}},
			"createdAt": now, "updatedAt": now,
		}, getDoc(t, srv, "users", u.id))
		r := mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "", m{"email": u.email, "password": u.password})
		assert.Equal(t, scopeForRole(u.role), r.obj(t)["scope"])
	}

	chans := srv.List("channels")
	require.Len(t, chans, 2)
	for i, c := range chans {
		assert.Equal(t, sd.ChannelIDs[i], c["id"])
		assert.Equal(t, sd.OrganizationID, c["organization"])
	}
	for _, c := range []string{"conversations", "messages", "contacts", "services"} {
		assert.Empty(t, srv.List(c), c)
	}
}

func TestSeedIsDeterministic(t *testing.T) {
	t.Parallel()
	a, b := NewServer(t, WithSeed(7)), NewServer(t, WithSeed(7))
	c := NewServer(t, WithSeed(8))
	assert.Equal(t, a.Seed, b.Seed)
	assert.NotEqual(t, a.Seed.OrganizationID, c.Seed.OrganizationID)
	body := m{"messages": []any{m{"text": "hi"}}}
	ca := mustCall(t, a, http.StatusCreated, "POST", "conversations", a.Token, body).obj(t)
	cb := mustCall(t, b, http.StatusCreated, "POST", "conversations", b.Token, body).obj(t)
	for _, k := range []string{"id", "name", "slug", "url", "messages"} {
		assert.Equal(t, ca[k], cb[k], k)
	}
}

func TestNewServerNilTB(t *testing.T) {
	t.Parallel()
	srv := NewServer(nil, WithRateLimit(0))
	mustCall(t, srv, http.StatusOK, "GET", "users/"+srv.Seed.BotUserID, srv.Token, nil)
	srv.Close()
	srv.Close() // idempotent
	_, err := srv.Client().Get(srv.URL + "users")
	assert.Error(t, err, "closed")

	assert.PanicsWithError(t, "chatshippertest: WithRateLimit: negative limit -1", func() { NewServer(nil, WithRateLimit(-1)) })
}

func TestOptionsValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		opt  Option
		want string
	}{
		{WithClock(nil), "chatshippertest: WithClock: nil clock"},
		{WithRateLimit(-1), "chatshippertest: WithRateLimit: negative limit -1"},
		{WithLoopLimits(-1, time.Minute, 1, time.Minute), "chatshippertest: WithLoopLimits: counts must be >= 0 and windows > 0"},
		{WithTokenTTL(0), "chatshippertest: WithTokenTTL: ttl must be positive"},
		{WithWebhookRetry(0, 3), "chatshippertest: WithWebhookRetry: initial must be positive and attempts >= 1"},
		{WithWebhookRetry(time.Second, 0), "chatshippertest: WithWebhookRetry: initial must be positive and attempts >= 1"},
		{WithWebhookClient(nil), "chatshippertest: WithWebhookClient: nil client"},
	}
	for _, tt := range tests {
		assert.PanicsWithError(t, tt.want, func() { NewServer(nil, tt.opt) })
		assert.PanicsWithError(t, tt.want, func() { NewInProcessServer(nil, tt.opt) })
	}
}
