package chatshipper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUsersMe(t *testing.T) {
	t.Parallel()
	tok := decodeFixture[Token](t, "resources/auth_token.json")
	c, mt := newTestClient(t, WithTokenSource(StaticTokenSource(tok.AccessToken)))
	var got seen
	mt.RegisterResponder("GET", testBase+"users/"+tok.User, answer(&got, 200, string(readFixture(t, "resources/user.json"))))
	me, _, err := c.Users.Me(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "GET", got.method)
	assert.Equal(t, "/v2/users/"+resUserID, got.path)
	assert.Empty(t, got.rawQuery)
	assert.Equal(t, "Jenny Jones", me.Name)
	assert.Equal(t, "Bearer "+tok.AccessToken, got.header.Get("Authorization"))

	// A token that is not a JWT does not name its user: no request is made.
	c2, mt2 := newTestClient(t)
	_, _, err = c2.Users.Me(context.Background())
	require.ErrorIs(t, err, ErrSelfUnknown)
	assert.NotContains(t, err.Error(), testToken)
	assert.Equal(t, 0, mt2.GetTotalCallCount())
}

func TestUserCreateAndUpdateRedactPassword(t *testing.T) {
	t.Parallel()
	u := decodeFixture[UserCreate](t, "resources/user_create_request.json")
	assert.Equal(t, UserCreate{GivenName: "Jenny", FamilyName: "Jones", Email: "jenny.jones@example.com",
		Password: canaryPassword, Status: "active"}, u)
	enc, err := json.Marshal(u)
	require.NoError(t, err)
	assert.JSONEq(t, string(readFixture(t, "resources/user_create_request.json")), string(enc))

	upd := UserUpdate{Password: ptr(canaryPassword), Email: ptr("new@example.com"), Meta: Meta{"a": 1}}
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("user", "create", u, "update", upd)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("user", "create", u, "update", upd)
	for _, s := range []string{u.String(), fmt.Sprintf("%v", u), fmt.Sprintf("%+v", u), fmt.Sprintf("%#v", u), fmt.Sprint(&u),
		upd.String(), fmt.Sprintf("%+v", upd), fmt.Sprintf("%#v", upd), logs.String()} {
		assert.NotContains(t, s, canaryPassword)
	}
	assert.Equal(t, `UserUpdate{Email:"new@example.com" Meta:map[a:1] Password:[redacted]}`, upd.String())
	assert.Contains(t, u.String(), "Password:[redacted]")
	assert.Contains(t, UserCreate{}.String(), `Password:""`)
}

func TestFixtureResourceUser(t *testing.T) {
	t.Parallel()
	u := decodeFixture[User](t, "resources/user.json")
	u.Meta = canonical(u.Meta)
	assert.Equal(t, User{
		ID:         resUserID,
		Name:       "Jenny Jones",
		GivenName:  "Jenny",
		FamilyName: "Jones",
		Email:      "jenny.jones@example.com",
		Avatar:     "https://storage.googleapis.com/cs2-uploads/avatars/jenny.png",
		Status:     "active",
		Organizations: []UserOrganization{
			{Organization: NewRef[Organization](resOrgID), OrgPath: "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID, Selected: true, Role: RoleAgent},
			{Organization: NewRef[Organization]("5917f2e1a4c63e0011ddaee3"), OrgPath: "563f1bd1b8a9ce1e0b9b6b6d#" + resOrgID + "#5917f2e1a4c63e0011ddaee3", Role: RoleViewer},
		},
		Meta:      obj(Meta{"team": "sales", "shift": 2.0}),
		CreatedAt: ts("2019-04-06T09:12:44.123Z"),
		UpdatedAt: ts("2019-04-07T15:00:01.500Z"),
	}, u)
}

func TestFixtureResourceAuthToken(t *testing.T) {
	t.Parallel()
	tok := decodeFixture[Token](t, "resources/auth_token.json")
	access, refresh := tok.AccessToken, tok.RefreshToken
	assert.Equal(t, Token{TokenType: "Bearer", AccessToken: access, RefreshToken: refresh, User: resUserID,
		Organization: resOrgID, ExpiresAt: ts("2023-11-15T22:13:20.000Z"), Scope: "admin"}, tok)
	assert.True(t, strings.HasPrefix(access, "eyJ") && strings.HasPrefix(refresh, "eyJ"))
	assert.Equal(t, resUserID, UserIDFromToken(access), "the token names the user Users.Me fetches")
}
