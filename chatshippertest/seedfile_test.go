package chatshippertest

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func loadSeedFixture(t *testing.T, srv *Server) *SeedFileResult {
	t.Helper()
	data, err := os.ReadFile("testdata/seedfile.json")
	require.NoError(t, err)
	f, err := ParseSeedFile(data)
	require.NoError(t, err)
	res, err := srv.LoadSeedFile(f)
	require.NoError(t, err)
	return res
}

func TestLoadSeedFile(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t)
	sd := srv.Seed
	res := loadSeedFixture(t, srv)
	const north, leeds, carol, nbot, desk = "5f00000000000000000000a1", "5f00000000000000000000a2",
		"5f00000000000000000000b1", "5f00000000000000000000c1", "5f00000000000000000000d1"
	now := clk.stamp(0)

	assert.Equal(t, []SeededResource{{ID: north, Name: "Northwind Cars"}, {ID: leeds, Name: "Northwind Leeds"}}, res.Organizations)
	assert.Equal(t, m{"id": north, "name": "Northwind Cars", "displayName": "Northwind Cars Ltd", "email": "info@northwind.test",
		"status": "active", "level": float64(1), "path": north, "orgPath": north, "meta": m{"region": "north"},
		"categories": []any{m{"name": "Sales", "forms": []any{}}, m{"name": "Service", "forms": []any{}}},
		"createdAt":  now, "updatedAt": now}, getDoc(t, srv, "organizations", north))
	assert.Equal(t, north+"#"+leeds, getDoc(t, srv, "organizations", leeds)["path"])

	require.Len(t, res.Users, 2)
	assert.Equal(t, SeededUser{ID: carol, Name: "Carol Clerk", Email: "carol@northwind.test", Role: "agent"}, res.Users[0])
	assert.Regexp(t, `^[0-9a-f]{24}$`, res.Users[1].ID, "an id is made when the file gives none")
	assert.Equal(t, "admin", res.Users[1].Role)
	assert.Equal(t, m{"id": carol, "givenName": "Carol", "familyName": "Clerk", "name": "Carol Clerk",
		"email": "carol@northwind.test", "status": "active", "avatar": avatarURL(carol),
		"organizations": []any{m{"organization": north, "orgPath": north, "role": "agent", "selected": true}},
		"createdAt":     now, "updatedAt": now}, getDoc(t, srv, "users", carol))
	login := mustCall(t, srv, http.StatusCreated, "POST", "auth/token", "", m{"email": "carol@northwind.test", "password": "carol-secret-1"}).obj(t)
	assert.Equal(t, "agent", login["scope"])
	assert.Equal(t, north, login["organization"])

	require.Len(t, res.Bots, 1)
	b := res.Bots[0]
	assert.Equal(t, SeededUser{ID: nbot, Name: "Northwind Bot", Email: "bot+" + nbot + "@chatshipper.com", Role: "bot", Token: b.Token}, b)
	assert.Equal(t, m{"_id": nbot, "scope": "viewer guest agent bot", "organization": north, "grant_type": "access_token",
		"iat": float64(clk.t.Unix())}, claims(t, b.Token), "a bot's token is permanent")
	assert.Equal(t, m{"id": nbot, "name": "Northwind Bot", "organization": north, "enabled": true, "status": "active",
		"meta": m{"greeting": "Hi!"}, "createdAt": now, "updatedAt": now},
		mustCall(t, srv, 200, "GET", "bots/"+nbot, b.Token, nil).obj(t), "the bot definition shares the user's id")

	assert.Equal(t, []SeededResource{{ID: desk, Name: "Northwind desk"}}, res.Channels)
	assert.Equal(t, []any{carol}, getDoc(t, srv, "channels", desk)["users"])

	require.Len(t, res.Conversations, 3)
	wantConvs := []struct {
		name, status, org string
		channels          []any
	}{
		{"Test drive", "queued", north, []any{desk}},
		{"Service reminder", "active", north, []any{}},
		{"Team review", "queued", sd.OrganizationID, anys(sd.ChannelIDs)},
	}
	for i, w := range wantConvs {
		c := getDoc(t, srv, "conversations", res.Conversations[i].ID)
		assert.Equal(t, SeededResource{ID: c["id"].(string), Name: w.name, Status: w.status}, res.Conversations[i])
		assert.Equal(t, w.status, c["status"], w.name)
		assert.Equal(t, w.org, c["organization"], w.name)
		assert.Equal(t, w.channels, c["channels"], w.name)
	}
	reminder := getDoc(t, srv, "conversations", res.Conversations[1].ID)
	assert.Equal(t, [3]bool{false, true, true}, flags(t, reminder, nbot), "the outbound line made the bot accept")
	assert.Equal(t, "sms", reminder["touchpoint"])

	require.Len(t, res.Tokens, 2)
	assert.Equal(t, "carol", res.Tokens[0].Name)
	assert.Empty(t, res.Tokens[0].ExpiresAt)
	assert.Equal(t, formatTime(clk.t.Add(time.Hour)), res.Tokens[1].ExpiresAt)
	for _, tok := range res.Tokens {
		assert.Equal(t, carol, tok.User)
		assert.Equal(t, "viewer guest agent", claims(t, tok.Token)["scope"])
		mustCall(t, srv, 200, "GET", "conversations", tok.Token, nil)
	}
	clk.advance(time.Hour)
	assert.Equal(t, "jwt expired", mustCall(t, srv, 401, "GET", "conversations", res.Tokens[1].Token, nil).errMsg(t))
	mustCall(t, srv, 200, "GET", "conversations", res.Tokens[0].Token, nil)
}

// TestLoadSeedFileNoLoopCount: seeded bot messages are history; the bot's
// loop limits start empty.
func TestLoadSeedFileNoLoopCount(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t, WithLoopLimits(2, time.Minute, 3, time.Hour))
	msgs := strings.Repeat(`{"text":"same"},`, 5)
	f, err := ParseSeedFile([]byte(`{"conversations":[{"name":"Chatty","messages":[` + strings.TrimSuffix(msgs, ",") + `]}]}`))
	require.NoError(t, err)
	res, err := srv.LoadSeedFile(f)
	require.NoError(t, err)
	id := res.Conversations[0].ID
	assert.Len(t, getDoc(t, srv, "conversations", id)["messages"], 5)
	post(t, srv, srv.Token, id, m{"text": "same"})
	post(t, srv, srv.Token, id, m{"text": "same"})
	assert.Contains(t, postFails(t, srv, 429, srv.Token, id, m{"text": "same"}), "identical")
}

// TestParseSeedFileRefuses: every fault is named by its path, before
// anything is stored.
func TestParseSeedFileRefuses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, file, want string
	}{
		{"not JSON", `{"users": [`, "seed file: not valid JSON: "},
		{"two values", `{} {}`, "seed file: more than one JSON value"},
		{"not an object", `[]`, "seed file: must be a JSON object with the sections organizations, users, bots, channels, conversations, tokens"},
		{"unknown section", `{"contacts": []}`, "seed file: contacts: unknown section"},
		{"section not an array", `{"users": {}}`, "seed file: users: must be an array of objects"},
		{"item not an object", `{"users": ["x"]}`, "seed file: users[0]: must be an object"},
		{"unknown field", `{"users": [{"email": "a@b.test"}, {"emial": "c@d.test"}]}`,
			"seed file: users[1].emial: unknown field (known: email, familyName, givenName, id, meta, name, organization, password, role)"},
		{"missing field", `{"organizations": [{"displayName": "X"}]}`, "seed file: organizations[0].name: required"},
		{"blank required", `{"bots": [{"name": " "}]}`, "seed file: bots[0].name: required"},
		{"wrong type", `{"users": [{"email": 5}]}`, "seed file: users[0].email: must be a string, not a number"},
		{"bad email", `{"users": [{"email": "carol"}]}`, `seed file: users[0].email: "carol" is not an e-mail address`},
		{"bad role", `{"users": [{"email": "a@b.test", "role": "owner"}]}`, `seed file: users[0].role: "owner" is not one of admin, agent, bot, guest`},
		{"bad id", `{"organizations": [{"name": "X", "id": "42"}]}`, `seed file: organizations[0].id: "42" is not an id (24 hex characters)`},
		{"bad id in a list", `{"channels": [{"name": "X", "users": ["5f00000000000000000000b1", 7]}]}`, "seed file: channels[0].users[1]: must be a string, not a number"},
		{"duplicate id", `{"organizations": [{"name": "X", "id": "5f00000000000000000000a1"}], "users": [{"email": "a@b.test", "id": "5F00000000000000000000A1"}]}`,
			"seed file: users[0].id: 5f00000000000000000000a1 is also the id of organizations[0].id"},
		{"bad duration", `{"tokens": [{"user": "5f00000000000000000000b1", "ttl": "a day"}]}`, `seed file: tokens[0].ttl: "a day" is not a duration`},
		{"negative duration", `{"tokens": [{"user": "5f00000000000000000000b1", "ttl": "-1h"}]}`, `seed file: tokens[0].ttl: "-1h" is not a duration`},
		{"nested unknown field", `{"conversations": [{"contact": {"profile": {}, "name": "x"}}]}`, "seed file: conversations[0].contact.name: unknown field"},
		{"nested missing field", `{"conversations": [{"contact": {}}]}`, "seed file: conversations[0].contact.profile: required"},
		{"message field", `{"conversations": [{"messages": [{"text": "hi"}, {"text": "x", "type": "sms"}]}]}`,
			`seed file: conversations[0].messages[1].type: "sms" is not one of chat, card`},
		{"message flag", `{"conversations": [{"messages": [{"text": "hi", "isBackchannel": "yes"}]}]}`,
			"seed file: conversations[0].messages[0].isBackchannel: must be true or false, not a string"},
		// Decoding keeps the last of two equal names: the file would load
		// less than it says.
		{"section twice", `{"users": [{"email": "a@b.test"}], "users": [{"email": "c@d.test"}]}`,
			"seed file: users: given twice in one object"},
		{"field twice", `{"users": [{"email": "a@b.test"}, {"email": "c@d.test", "role": "admin", "email": "e@f.test"}]}`,
			"seed file: users[1].email: given twice in one object"},
		{"meta key twice", `{"conversations": [{"messages": [{"text": "hi", "meta": {"a": {"b": 1, "b": 2}}}]}]}`,
			"seed file: conversations[0].messages[0].meta.a.b: given twice in one object"},
		{"escaped name twice", `{"organizations": [{"name": "X", "n\u0061me": "Y"}]}`,
			"seed file: organizations[0].name: given twice in one object"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f, err := ParseSeedFile([]byte(tc.file))
			require.Error(t, err)
			assert.Nil(t, f)
			assert.True(t, strings.HasPrefix(err.Error(), tc.want), "got %q, want it to start with %q", err, tc.want)
		})
	}
}

// TestLoadSeedFileAllOrNothing: a file whose last item cannot be stored
// stores nothing, and the error names the field.
func TestLoadSeedFileAllOrNothing(t *testing.T) {
	t.Parallel()
	good := map[string][]string{
		"organizations": {`{"id": "5f00000000000000000000a1", "name": "Northwind"}`},
		"users": {`{"id": "5f00000000000000000000b1", "email": "carol@northwind.test", "password": "pw",
			"organization": "5f00000000000000000000a1"}`},
		"bots":          {`{"name": "B"}`},
		"channels":      {`{"name": "Desk", "organization": "5f00000000000000000000a1"}`},
		"conversations": {`{"name": "Fine", "messages": [{"text": "hi"}]}`},
		"tokens":        {`{"user": "5f00000000000000000000b1"}`},
	}
	tests := []struct {
		name, section, item, want string
	}{
		{"unknown parent", "organizations", `{"name": "Orphan", "parent": "5f0000000000000000000fff"}`,
			"seed file: organizations[1].parent: organization 5f0000000000000000000fff not found"},
		{"id in use by the default seed", "organizations", `{"name": "Twin", "id": "%ORG%"}`,
			"seed file: organizations[1].id: %ORG% is already the id of a stored organization"},
		{"unknown organization", "users", `{"email": "x@y.test", "organization": "5f0000000000000000000fff"}`,
			"seed file: users[1].organization: organization 5f0000000000000000000fff not found"},
		{"e-mail in use by the default seed", "users", `{"email": "ALICE@acme.test"}`,
			"seed file: users[1].email: email ALICE@acme.test is already in use"},
		{"e-mail used twice in the file", "bots", `{"name": "C", "email": "Carol@northwind.test"}`,
			"seed file: bots[1].email: email Carol@northwind.test is already in use"},
		{"unknown channel user", "channels", `{"name": "Desk 2", "users": ["5f0000000000000000000fff"]}`,
			"seed file: channels[1].users[0]: user 5f0000000000000000000fff not found"},
		{"unknown conversation user", "conversations", `{"as": "5f0000000000000000000fff"}`,
			"seed file: conversations[1].as: user 5f0000000000000000000fff not found"},
		{"a conversation its user may not create", "conversations", `{"as": "%GUEST%", "messages": [{"text": "hi"}]}`,
			"seed file: conversations[1].as: user %GUEST% has the role guest, which may not create conversations (POST /v2/conversations answers 403 Permission denied)"},
		{"a message the API refuses", "conversations", `{"messages": [{"text": "hi"}, {"type": "command", "text": "/frobnicate"}]}`,
			"seed file: conversations[1].messages[1]: Unknown command /frobnicate"},
		{"unknown token user", "tokens", `{"user": "5f0000000000000000000fff"}`,
			"seed file: tokens[1].user: user 5f0000000000000000000fff not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t)
			fresh, _ := newTest(t)
			org := srv.Seed.OrganizationID
			ids := strings.NewReplacer("%ORG%", org, "%GUEST%", srv.Seed.GuestUserID)
			var parts []string
			for _, sec := range seedSections {
				items := good[sec]
				if sec == tc.section {
					items = append(slices.Clone(items), ids.Replace(tc.item))
				}
				parts = append(parts, `"`+sec+`": [`+strings.Join(items, ",")+`]`)
			}
			f, err := ParseSeedFile([]byte("{" + strings.Join(parts, ",") + "}"))
			require.NoError(t, err)
			before := map[string][]map[string]any{}
			for _, c := range collectionNames {
				before[c] = srv.List(c)
			}
			_, err = srv.LoadSeedFile(f)
			require.Error(t, err)
			want := ids.Replace(tc.want)
			assert.True(t, strings.HasPrefix(err.Error(), want), "got %q, want it to start with %q", err, want)
			for _, c := range collectionNames {
				assert.Equal(t, before[c], srv.List(c), "%s unchanged", c)
			}
			// Nor did it consume ids, names or slugs: the next conversation
			// is the one a server that never saw the file makes.
			next := func(s *Server) m {
				c := mustCall(t, s, 201, "POST", "conversations", s.Token, m{"messages": []any{m{"text": "next"}}}).obj(t)
				return m{"id": c["id"], "name": c["name"], "slug": c["slug"], "message": c["messages"]}
			}
			assert.Equal(t, next(fresh), next(srv), "the failed file left the generators as they were")
			assert.Equal(t, 401, call(t, srv, "POST", "auth/token", "", m{"email": "carol@northwind.test", "password": "pw"}).Status,
				"no login was added")
		})
	}
}
