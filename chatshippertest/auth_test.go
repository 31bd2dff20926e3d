package chatshippertest

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// claims decodes a JWT payload without verifying it, as the SDK does.
func claims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3)
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var c map[string]any
	require.NoError(t, json.Unmarshal(raw, &c))
	return c
}

func TestAuthRejectsBadTokens(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	other := NewServer(t, WithSeed(99))
	expiring := srv.IssueToken(srv.Seed.BotUserID, "bot", time.Hour)
	parts := strings.Split(srv.Token, ".")
	forgedPayload := base64.RawURLEncoding.EncodeToString([]byte(`{"_id":"` + srv.Seed.BotUserID + `","scope":"admin"}`))
	refresh := srv.sign(srv.Seed.BotUserID, "bot", "", refreshTTL, grantRefresh)
	ghost := srv.IssueToken("5bb0277fd99faf11a3f4a37e", "admin", 0)
	clk.advance(time.Hour)

	tests := []struct {
		name   string
		header string
		want   string
	}{
		{"missing header", "", "No authorization token was found"},
		{"other scheme", "Basic " + srv.Token, "Format is Authorization: Bearer [token]"},
		{"no scheme", srv.Token, "Format is Authorization: Bearer [token]"},
		{"empty bearer", "Bearer ", "No authorization token was found"},
		{"garbage", "Bearer not-a-token", "jwt malformed: a JWT has three dot-separated parts"},
		{"undecodable payload", "Bearer a.%%%.c", "jwt malformed: the payload is not base64url-encoded JSON"},
		{"foreign signature", "Bearer " + other.Token, "invalid signature"},
		{"forged payload", "Bearer " + parts[0] + "." + forgedPayload + "." + parts[2], "invalid signature"},
		{"expired", "Bearer " + expiring, "jwt expired"},
		{"refresh token as access token", "Bearer " + refresh, "invalid token"},
		{"user does not exist", "Bearer " + ghost, "invalid token"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, srv.URL+"conversations", nil)
			require.NoError(t, err)
			if tt.header != "" {
				req.Header.Set("Authorization", tt.header)
			}
			resp, err := srv.Client().Do(req)
			require.NoError(t, err)
			defer func() { _ = resp.Body.Close() }()
			var body map[string]any
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
			assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
			assert.Equal(t, m{"error": m{"message": tt.want}}, body)
		})
	}
}

func TestAuthTokenClaims(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	c := claims(t, srv.Token)
	assert.Equal(t, m{"_id": srv.Seed.BotUserID, "scope": "viewer guest agent bot", "iat": float64(clk.t.Unix()),
		"organization": srv.Seed.OrganizationID, "grant_type": "access_token"}, c,
		"the bot token is permanent: no exp")
	c = claims(t, srv.IssueToken(srv.Seed.AdminUserID, "admin", time.Hour))
	assert.Equal(t, float64(clk.t.Add(time.Hour).Unix()), c["exp"])
	for _, tok := range []string{srv.AdminToken, srv.AgentToken, srv.GuestToken} {
		assert.NotContains(t, claims(t, tok), "exp")
	}
	assert.Equal(t, "viewer guest agent bot admin", claims(t, srv.AdminToken)["scope"])
	assert.Equal(t, "viewer guest agent", claims(t, srv.AgentToken)["scope"])
	assert.Equal(t, "viewer guest", claims(t, srv.GuestToken)["scope"])
}

func TestAuthDeletedUserIsRevoked(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	agent2 := srv.Seed.AgentUserIDs[1]
	tok := srv.IssueToken(agent2, "agent", 0)
	mustCall(t, srv, http.StatusOK, "GET", "users/"+agent2, tok, nil)
	mustCall(t, srv, http.StatusNoContent, "DELETE", "users/"+agent2, srv.AdminToken, nil)
	r := mustCall(t, srv, http.StatusUnauthorized, "GET", "users/"+agent2, tok, nil)
	assert.Equal(t, "invalid token", r.errMsg(t))
	r = mustCall(t, srv, http.StatusUnauthorized, "POST", "auth/token", "",
		m{"email": srv.Seed.AgentEmails[1], "password": srv.Seed.AgentPassword})
	assert.Equal(t, "Invalid email or password", r.errMsg(t), "the login went with the user")
}

// TestAuthPermissions walks the rows of the permission table (api-notes §2.6)
// for each of the four cascading scopes.
func TestAuthPermissions(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	missing := "5bb0277fd99faf11a3f4a3ff"
	conv := srv.Put("conversations", m{"organization": sd.OrganizationID, "type": "bot", "status": "closed",
		"participants": []any{}, "messages": []any{}})
	levels := map[string]int{"guest": 1, "agent": 2, "bot": 3, "admin": 4}
	tokens := []struct{ scope, token, user string }{
		{"guest", srv.GuestToken, sd.GuestUserID},
		{"agent", srv.AgentToken, sd.AgentUserIDs[0]},
		{"bot", srv.Token, sd.BotUserID},
		{"admin", srv.AdminToken, sd.AdminUserID},
	}
	rows := []struct {
		name, method, path string
		body               func(scope string) any
		min                string
		ok                 int
	}{
		{"list organizations", "GET", "organizations", nil, "bot", 200},
		{"list organization groups", "GET", "orggroups", nil, "bot", 200},
		{"list users", "GET", "users", nil, "bot", 200},
		{"list conversations", "GET", "conversations", nil, "agent", 200},
		{"list messages", "GET", "messages?type=chat", nil, "bot", 200},
		{"list contacts", "GET", "contacts", nil, "agent", 200},
		{"list knowledge items", "GET", "kbitems", nil, "agent", 200},
		{"list forms", "GET", "forms", nil, "bot", 200},
		{"list services", "GET", "services", nil, "admin", 200},
		{"fetch organization", "GET", "organizations/" + missing, nil, "bot", 404},
		{"fetch organization group", "GET", "orggroups/" + missing, nil, "bot", 404},
		{"fetch user details", "GET", "users/" + sd.AgentUserIDs[1], nil, "bot", 200},
		{"fetch conversation", "GET", "conversations/" + conv, nil, "guest", 200},
		{"fetch message", "GET", "messages/" + missing, nil, "bot", 404},
		{"fetch contact", "GET", "contacts/" + missing, nil, "bot", 404},
		{"fetch knowledge item", "GET", "kbitems/" + missing, nil, "agent", 404},
		{"fetch form", "GET", "forms/" + sd.FormID, nil, "admin", 200},
		{"fetch service", "GET", "services/" + missing, nil, "admin", 404},
		{"create organization", "POST", "organizations", func(string) any { return m{"name": "Sub"} }, "admin", 201},
		{"create organization group", "POST", "orggroups", func(string) any { return m{"name": "G"} }, "admin", 201},
		{"create user", "POST", "users", func(s string) any { return m{"email": s + "@new.test"} }, "admin", 201},
		{"create conversation", "POST", "conversations", func(string) any { return m{} }, "agent", 201},
		{"create message", "POST", "conversations/" + conv + "/messages", func(string) any { return m{"text": "hi"} }, "guest", 201},
		{"create contact", "POST", "contacts", func(string) any { return m{"profile": m{"name": "C"}} }, "bot", 201},
		{"create knowledge item", "POST", "kbitems", func(string) any { return m{"title": "K"} }, "agent", 201},
		{"create form", "POST", "forms", func(string) any { return m{"name": "F"} }, "bot", 201},
		// Rows the table does not show: bot and admin only.
		{"create service", "POST", "services", func(string) any { return m{"type": "twilio"} }, "bot", 201},
		{"update conversation", "PATCH", "conversations/" + missing, func(string) any { return m{} }, "bot", 404},
		{"delete knowledge item", "DELETE", "kbitems/" + missing, nil, "bot", 404},
		{"list channels", "GET", "channels", nil, "bot", 200},
	}
	for _, row := range rows {
		for _, tk := range tokens {
			t.Run(row.name+"/"+tk.scope, func(t *testing.T) {
				var body any
				if row.body != nil {
					body = row.body(tk.scope)
				}
				r := call(t, srv, row.method, row.path, tk.token, body)
				if levels[tk.scope] >= levels[row.min] {
					assert.Equal(t, row.ok, r.Status, string(r.Raw))
				} else {
					assert.Equal(t, http.StatusForbidden, r.Status, string(r.Raw))
					assert.Equal(t, "Permission denied", r.errMsg(t))
				}
			})
		}
	}
	t.Run("own user is always readable", func(t *testing.T) {
		for _, tk := range tokens {
			r := mustCall(t, srv, http.StatusOK, "GET", "users/"+tk.user, tk.token, nil)
			assert.Equal(t, tk.user, r.obj(t)["id"])
		}
	})
	t.Run("scope comes from the token", func(t *testing.T) {
		weak := srv.IssueToken(sd.BotUserID, "agent", 0)
		mustCall(t, srv, http.StatusForbidden, "GET", "users", weak, nil)
		multi := srv.IssueToken(sd.GuestUserID, "guest admin", 0)
		mustCall(t, srv, http.StatusOK, "GET", "services", multi, nil)
	})
}

func TestAuthLogin(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	sd := srv.Seed
	r := mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "", m{"email": sd.AdminEmail, "password": sd.AdminPassword})
	body := r.obj(t)
	tok, _ := body["token"].(string)
	refresh, _ := body["refreshToken"].(string)
	assert.Equal(t, m{"tokenType": "Bearer", "token": tok, "refreshToken": refresh, "user": sd.AdminUserID,
		"organization": sd.OrganizationID, "expiresAt": clk.stamp(24 * time.Hour), "scope": "admin"}, body)
	assert.Equal(t, m{"_id": sd.AdminUserID, "scope": "viewer guest agent bot admin", "iat": float64(clk.t.Unix()),
		"exp": float64(clk.t.Add(24 * time.Hour).Unix()), "organization": sd.OrganizationID,
		"grant_type": "access_token"}, claims(t, tok))
	assert.Equal(t, "refresh_token", claims(t, refresh)["grant_type"])
	mustCall(t, srv, http.StatusOK, "GET", "services", tok, nil)

	t.Run("with otp and mixed-case email", func(t *testing.T) {
		r := mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "",
			m{"email": strings.ToUpper(sd.BotEmail), "password": sd.BotPassword, "otp": "123456"})
		assert.Equal(t, "bot", r.obj(t)["scope"])
	})
	failures := []struct {
		name   string
		body   any
		status int
		msg    string
	}{
		{"wrong password", m{"email": sd.AdminEmail, "password": "nope-secret"}, 401, "Invalid email or password"},
		{"unknown email", m{"email": "who@acme.test", "password": "x"}, 401, "Invalid email or password"},
		{"missing password", m{"email": sd.AdminEmail}, 400, "email and password are required"},
		{"invalid JSON", `{"email":`, 400, "invalid JSON body"},
		{"not an object", `[1]`, 400, "request body must be a JSON object"},
	}
	for _, f := range failures {
		t.Run(f.name, func(t *testing.T) {
			r := mustCall(t, srv, f.status, "POST", "auth/token", "", f.body)
			assert.Equal(t, f.msg, r.errMsg(t))
			assert.NotContains(t, string(r.Raw), "nope-secret", "passwords never appear in errors")
		})
	}
	t.Run("GET is not allowed", func(t *testing.T) {
		r := mustCall(t, srv, http.StatusMethodNotAllowed, "GET", "auth/token", "", nil)
		assert.Equal(t, "POST", r.Header.Get("Allow"))
	})
	t.Run("created users can log in", func(t *testing.T) {
		mustCall(t, srv, http.StatusCreated, "POST", "users", srv.AdminToken,
			m{"givenName": "New", "familyName": "Agent", "email": "new@acme.test", "password": "pw-1"})
		r := mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "", m{"email": "new@acme.test", "password": "pw-1"})
		assert.Equal(t, "agent", r.obj(t)["scope"])
	})
}

func TestAuthRefreshAndExpiry(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t, WithTokenTTL(time.Hour))
	sd := srv.Seed
	login := mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "",
		m{"email": sd.AgentEmails[0], "password": sd.AgentPassword}).obj(t)
	tok, refresh := login["token"].(string), login["refreshToken"].(string)
	assert.Equal(t, clk.stamp(time.Hour), login["expiresAt"])

	clk.advance(time.Hour - time.Second)
	mustCall(t, srv, http.StatusOK, "GET", "conversations", tok, nil)
	clk.advance(time.Second)
	r := mustCall(t, srv, http.StatusUnauthorized, "GET", "conversations", tok, nil)
	assert.Equal(t, "jwt expired", r.errMsg(t))

	r = mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "", m{"clientId": sd.AgentEmails[0], "refreshToken": refresh})
	fresh := r.obj(t)
	assert.Equal(t, sd.AgentUserIDs[0], fresh["user"])
	assert.Equal(t, "agent", fresh["scope"])
	assert.Equal(t, clk.stamp(time.Hour), fresh["expiresAt"])
	mustCall(t, srv, http.StatusOK, "GET", "conversations", fresh["token"].(string), nil)

	t.Run("client id may be the user id", func(t *testing.T) {
		mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "", m{"clientId": sd.AgentUserIDs[0], "refreshToken": refresh})
	})
	bad := []struct {
		name string
		body any
		msg  string
	}{
		{"access token as refresh token", m{"clientId": sd.AgentEmails[0], "refreshToken": fresh["token"]},
			"Refresh refused: the token given is not a refresh token"},
		{"someone else's client id", m{"clientId": sd.AdminEmail, "refreshToken": refresh},
			"Refresh refused: the refresh token does not belong to this clientId"},
		{"garbage", m{"clientId": sd.AgentEmails[0], "refreshToken": "xyz"},
			"Refresh refused: the refresh token is not a well-formed JWT"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			r := mustCall(t, srv, http.StatusUnauthorized, "POST", "auth/token", "", b.body)
			assert.Equal(t, b.msg, r.errMsg(t))
		})
	}
	t.Run("refresh token expires", func(t *testing.T) {
		clk.advance(refreshTTL)
		r := mustCall(t, srv, http.StatusUnauthorized, "POST", "auth/token", "", m{"clientId": sd.AgentEmails[0], "refreshToken": refresh})
		assert.Equal(t, "Refresh refused: the refresh token has run out; log in again", r.errMsg(t))
	})
}
