package chatshippertest

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	a1 = "aaa000000000000000000001"
	a2 = "aaa000000000000000000002"
	a3 = "aaa000000000000000000003"
	a4 = "aaa000000000000000000004"
	a5 = "aaa000000000000000000005"
	u1 = "bbb000000000000000000001"
	u2 = "bbb000000000000000000002"
	f1 = "fff000000000000000000001"
)

// putArticles stores five documents covering every value kind the query
// language compares: numbers, numeric-looking strings, dates, nulls, arrays
// of scalars and of objects, nested objects and booleans.
func putArticles(srv *Server) {
	for _, d := range []m{
		{"id": a1, "name": "Acme Motors", "displayName": "Acme", "age": 18, "gender": "male", "tags": []any{"new", "used"},
			"createdAt": "2019-01-01T00:00:00.000Z", "meta": m{"intent": "greeting"}, "active": true,
			"profile":      m{"telephone": "+441134960999"},
			"categories":   []any{m{"name": "Used Car", "forms": []any{f1}}},
			"participants": []any{m{"user": u1}, m{"user": u2}}},
		{"id": a2, "name": "Boost Ltd", "displayName": "Booster ACME", "age": 25, "gender": "female", "tags": []any{"new"},
			"createdAt": "2019-06-15T12:00:00.000Z", "meta": m{"intent": "sales"}, "active": false,
			"categories": []any{m{"name": "General", "forms": []any{}}}, "participants": []any{m{"user": u1}}},
		{"id": a3, "name": "carpool", "age": 30, "createdAt": "2020-01-01T00:00:00.000Z", "participants": []any{}, "score": 7.5},
		{"id": a4, "name": "Delta", "age": "100", "gender": nil},
		{"id": a5, "name": "Echo", "age": 9, "gender": "male", "createdAt": "2018-12-31T23:59:59.999Z", "tags": []any{}, "score": 2},
	} {
		srv.Put("articles", d)
	}
}

func TestQueryFilters(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	putArticles(srv)
	tests := []struct {
		query string
		want  []any
	}{
		{"", []any{a1, a2, a3, a4, a5}},
		{"gender=", []any{a1, a2, a5}},       // exists (null counts as absent)
		{"gender=!", []any{a3, a4}},          // not exists
		{"gender=male", []any{a1, a5}},       // equal
		{"gender=Male", []any{}},             // equality is case-sensitive
		{"gender=!=male", []any{a2, a3, a4}}, // not equal (absent fields match)
		{"age=>18", []any{a2, a3}},           // numeric; the string "100" compares as a string
		{"age=>=18", []any{a1, a2, a3}},
		{"age=<25", []any{a1, a4, a5}}, // "100" < "25" as strings
		{"age=<=25", []any{a1, a2, a4, a5}},
		{"age=>18,<=30", []any{a2, a3}}, // between, all four bound combinations
		{"age=>=18,<30", []any{a1, a2}},
		{"age=>18,<30", []any{a2}},
		{"age=>=18,<=30", []any{a1, a2, a3}},
		{"age=<=30,>18", []any{a2, a3}}, // either order
		{"gender=[female,male]", []any{a1, a2, a5}},
		{"gender=[]", []any{}},
		{"age=![18,30]", []any{a2, a4, a5}},
		{"name=~OOST", []any{a2}}, // regex, case-insensitive
		{"name=~^c", []any{a3}},
		{"name=~o.o.s", []any{a1}},
		{"name,displayName=acme", []any{a1, a2}}, // OR: case-insensitive contains
		{"name,displayName=ACME%20MOTORS", []any{a1}},
		{"id,name=" + a3, []any{a3}},             // OR on an id field: exact
		{"id,name=aaa00000", []any{}},            // ... so no partial id match
		{"createdAt=>2019-01-01", []any{a2, a3}}, // dates compare as instants
		{"createdAt=>=2019-01-01T00:00:00Z", []any{a1, a2, a3}},
		{"createdAt=<2019-01-01T00:00:00.000Z", []any{a5}},
		{"createdAt=>2019-01-01,<2020-01-01", []any{a2}},
		{"meta.intent=greeting", []any{a1}}, // dot paths
		{"meta.intent=!", []any{a3, a4, a5}},
		{"profile.telephone=%2B441134960999", []any{a1}},
		{"categories.name=~car", []any{a1}}, // into arrays of objects
		{"categories.name=~car&categories.forms=" + f1, []any{a1}},
		{"categories.forms=" + f1, []any{a1}},
		{"tags=used", []any{a1}}, // any element of an array
		{"tags=[used,old]", []any{a1}},
		{"tags=!=new", []any{a3, a4, a5}},
		{"participants.1", []any{a1}}, // array index exists
		{"participants.1=!", []any{a2, a3, a4, a5}},
		{"participants.0=", []any{a1, a2}},
		{"participants.user=" + u1, []any{a1, a2}},
		{"participants.0.user=" + u2, []any{}},
		{"active=true", []any{a1}},
		{"active=false", []any{a2}},
		{"score=>5", []any{a3}},
		{"score=>=2,<=7.5", []any{a3, a5}},
		{"gender=male&age=<10", []any{a5}}, // filters combine with AND
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := mustCall(t, srv, http.StatusOK, "GET", "articles?"+tt.query, srv.Token, nil)
			assert.Equal(t, tt.want, ids(r.list(t)))
			assert.Equal(t, len(tt.want), len(r.list(t)))
		})
	}
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	tests := []struct {
		path, msg string
	}{
		{"articles?gender=male&gender=female", `query parameter "gender" given more than once`},
		{"articles?limit=1&limit=2", `query parameter "limit" given more than once`},
		{"articles?name=~(", "invalid regular expression for name: error parsing regexp: missing closing ): `(?i)(`"},
		{"articles?age=>1,>2", "range for age needs one lower and one upper bound"},
		{"articles?offset=-1", "offset must be a non-negative integer"},
		{"articles?limit=x", "limit must be a non-negative integer"},
		{"articles?name=%zz", `malformed value of query parameter "name"`},
		{"articles?%zz=1", `malformed query parameter "%zz"`},
		{"articles?=x", "query parameter without a name"},
		{"articles?name,x=%B60", `query parameter "name,x" is not valid UTF-8`},
		{"articles?a..b=1", `malformed field path "a..b"`},
		{"articles?select=name,-age", "select cannot mix included and excluded fields"},
		{"articles?sort=-", "sort: empty field name"},
		{"articles?populate=foo", `cannot populate "foo" on articles`},
		{"conversations/" + a1 + "?populate=messages&populate=contact", `query parameter "populate" given more than once`},
		{"conversations/" + a1 + "?populate=owner", `cannot populate "owner" on conversations`},
		{"messages", "listing messages requires a filter on one of id, organization, conversation, type, role or createdAt"},
		{"messages?text=hi", "listing messages requires a filter on one of id, organization, conversation, type, role or createdAt"},
		{"conversations?meta.intent=greeting", "a conversation query on meta requires a filter on one of id, type, participants.user, status, createdAt, categoryIndex, category, organization or updatedAt"},
		{"conversations?name,meta.intent=x", "a conversation query on meta requires a filter on one of id, type, participants.user, status, createdAt, categoryIndex, category, organization or updatedAt"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := mustCall(t, srv, http.StatusBadRequest, "GET", tt.path, srv.Token, nil)
			assert.Equal(t, tt.msg, r.errMsg(t))
		})
	}
	t.Run("mandatory filters satisfied", func(t *testing.T) {
		for _, f := range []string{"id", "organization", "conversation", "type", "role", "createdAt"} {
			mustCall(t, srv, http.StatusOK, "GET", "messages?"+f+"=x", srv.Token, nil)
		}
		for _, f := range []string{"id", "type", "participants.user", "status", "createdAt", "categoryIndex", "category", "organization", "updatedAt"} {
			mustCall(t, srv, http.StatusOK, "GET", "conversations?meta.intent=greeting&"+f+"=x", srv.Token, nil)
		}
		mustCall(t, srv, http.StatusOK, "GET", "conversations?name=x", srv.Token, nil)
	})
}

func TestQuerySelectAndPopulate(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	conv := newConv(t, srv, srv.Token, m{"contact": m{"profile": m{"name": "John Doe", "email": "j@example.com"}},
		"messages": []any{m{"type": "postback", "text": "startcbot", "role": "contact"}, cmd("/join")}})
	id := conv["id"].(string)
	msgs := conv["messages"].([]any)

	t.Run("spec example", func(t *testing.T) {
		r := mustCall(t, srv, 200, "GET", "conversations/"+id+"?select=status&populate=messages:type|text,organization:name,participants.user:givenName|familyName", srv.Token, nil)
		assert.Equal(t, m{
			"id": id, "status": "queued",
			"organization": m{"name": "Acme Motors", "id": sd.OrganizationID},
			"participants": []any{m{"user": m{"givenName": "Awesome", "familyName": "Bot", "name": "Awesome Bot", "id": sd.BotUserID}}},
			"messages": []any{
				m{"type": "postback", "text": "startcbot", "id": msgs[0]},
				m{"type": "command", "text": "/join", "id": msgs[1]},
			},
		}, r.obj(t))
	})
	t.Run("derived name from the selected fields only", func(t *testing.T) {
		r := mustCall(t, srv, 200, "GET", "messages?conversation="+id+"&select=text&populate=user:givenName", srv.Token, nil)
		assert.Equal(t, []any{
			m{"id": msgs[0], "text": "startcbot", "user": m{"id": sd.BotUserID, "givenName": "Awesome", "name": "Awesome"}},
			m{"id": msgs[1], "text": "/join", "user": m{"id": sd.BotUserID, "givenName": "Awesome", "name": "Awesome"}},
		}, r.list(t))
	})
	t.Run("populate whole documents", func(t *testing.T) {
		r := mustCall(t, srv, 200, "GET", "conversations?id="+id+"&populate=contact,messages,participants.user,createdBy,channels", srv.Token, nil)
		got := r.list(t)[0].(map[string]any)
		assert.Equal(t, getDoc(t, srv, "contacts", conv["contact"].(string)), got["contact"])
		assert.Equal(t, []any{getDoc(t, srv, "messages", msgs[0].(string)), getDoc(t, srv, "messages", msgs[1].(string))}, got["messages"])
		assert.Equal(t, getDoc(t, srv, "users", sd.BotUserID), got["participants"].([]any)[0].(map[string]any)["user"])
		assert.Equal(t, true, got["participants"].([]any)[0].(map[string]any)["active"], "the rest of the participant stays")
		assert.Equal(t, getDoc(t, srv, "users", sd.BotUserID), got["createdBy"])
		assert.Equal(t, []any{getDoc(t, srv, "channels", sd.ChannelIDs[0]), getDoc(t, srv, "channels", sd.ChannelIDs[1])}, got["channels"])
		assert.Equal(t, getDoc(t, srv, "conversations", id)["status"], got["status"], "no select: every field")
	})
	t.Run("other reference fields", func(t *testing.T) {
		org := mustCall(t, srv, 200, "GET", "organizations/"+sd.OrganizationID+"?select=categories&populate=categories.forms:name", srv.Token, nil).obj(t)
		assert.Equal(t, m{"id": sd.OrganizationID, "categories": []any{
			m{"name": "General", "forms": []any{m{"id": sd.FormID, "name": "Contact details"}}},
			m{"name": "Used Car", "forms": []any{}},
		}}, org)
		u := mustCall(t, srv, 200, "GET", "users/"+sd.AgentUserIDs[0]+"?select=email&populate=organizations.organization:name", srv.Token, nil).obj(t)
		assert.Equal(t, m{"id": sd.AgentUserIDs[0], "email": sd.AgentEmails[0],
			"organizations": []any{m{"organization": m{"id": sd.OrganizationID, "name": "Acme Motors"}}}}, u)
		c := mustCall(t, srv, 200, "GET", "contacts/"+conv["contact"].(string)+"?select=profile&populate=conversation:name", srv.Token, nil).obj(t)
		assert.Equal(t, m{"id": conv["contact"], "profile": m{"name": "John Doe", "email": "j@example.com"},
			"conversation": m{"id": id, "name": conv["name"]}}, c)
		f := mustCall(t, srv, 200, "GET", "forms/"+sd.FormID+"?select=name&populate=organization:displayName", srv.AdminToken, nil).obj(t)
		assert.Equal(t, m{"id": sd.FormID, "name": "Contact details", "organization": m{"id": sd.OrganizationID, "displayName": "Acme Motors, Inc"}}, f)
		bot := srv.Put("bots", m{"name": "Helper"})
		inst := srv.Put("botinstances", m{"bot": bot, "organization": sd.OrganizationID})
		b := mustCall(t, srv, 200, "GET", "botinstances/"+inst+"?populate=bot:name,organization:name", srv.Token, nil).obj(t)
		assert.Equal(t, m{"id": inst, "bot": m{"id": bot, "name": "Helper"}, "organization": m{"id": sd.OrganizationID, "name": "Acme Motors"}}, b)
	})
	t.Run("dangling references", func(t *testing.T) {
		gone := "5bb0277fd99faf11a3f4a3ff"
		cid := srv.Put("conversations", m{"contact": gone, "messages": []any{msgs[0], gone}})
		got := mustCall(t, srv, 200, "GET", "conversations/"+cid+"?populate=contact,messages:text", srv.Token, nil).obj(t)
		assert.Equal(t, m{"id": cid, "contact": nil, "messages": []any{m{"id": msgs[0], "text": "startcbot"}}}, got)
	})
	t.Run("select", func(t *testing.T) {
		r := mustCall(t, srv, 200, "GET", "users?select=name,email&limit=2", srv.Token, nil)
		assert.Equal(t, []any{
			m{"id": sd.BotUserID, "name": "Awesome Bot", "email": sd.BotEmail},
			m{"id": sd.AdminUserID, "name": "Ada Admin", "email": sd.AdminEmail},
		}, r.list(t))
		r = mustCall(t, srv, 200, "GET", "users/"+sd.BotUserID+"?select=-organizations,-avatar,-createdAt,-updatedAt,-id", srv.Token, nil)
		assert.Equal(t, m{"id": sd.BotUserID, "givenName": "Awesome", "familyName": "Bot", "name": "Awesome Bot",
			"email": sd.BotEmail, "status": "active"}, r.obj(t), "exclusion; id always stays")
		r = mustCall(t, srv, 200, "GET", "conversations/"+id+"?select=participants.user,participants.active,meta.none", srv.Token, nil)
		assert.Equal(t, m{"id": id, "participants": []any{m{"user": sd.BotUserID, "active": true}}}, r.obj(t))
	})
}

func TestQuerySort(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	sd := srv.Seed
	putArticles(srv)
	bot, admin, alice, bob, guest := sd.BotUserID, sd.AdminUserID, sd.AgentUserIDs[0], sd.AgentUserIDs[1], sd.GuestUserID
	tests := []struct {
		path string
		want []any
	}{
		{"users", []any{bot, admin, alice, bob, guest}}, // default: by id
		{"users?sort=givenName", []any{admin, alice, bot, bob, guest}},
		{"users?sort=-givenName", []any{guest, bob, bot, alice, admin}},
		{"users?sort=familyName,-givenName", []any{admin, bob, alice, bot, guest}},
		{"users?sort=+familyName,givenName", []any{admin, alice, bob, bot, guest}},
		{"articles?sort=gender", []any{a3, a4, a2, a1, a5}}, // missing and null first, then by id
		{"articles?sort=-age", []any{a4, a3, a2, a1, a5}},   // strings after numbers
		{"articles?sort=createdAt", []any{a4, a5, a1, a2, a3}},
		{"articles?sort=meta.intent", []any{a3, a4, a5, a1, a2}},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			assert.Equal(t, tt.want, ids(mustCall(t, srv, 200, "GET", tt.path, srv.Token, nil).list(t)))
		})
	}
}

func TestQueryPagination(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	for i := range 4 {
		srv.Put("users", m{"givenName": "Extra", "familyName": string(rune('A' + i)), "email": "extra" + string(rune('a'+i)) + "@acme.test"})
	}
	base := srv.URL + "users"
	link := func(q, rel string) string { return "<" + base + "?" + q + `>; rel="` + rel + `"` }
	tests := []struct {
		query                            string
		n                                int
		total, pages, page, per, rangeHd string
		links                            []string
	}{
		// The spec's example: 9 users, offset=5&limit=5.
		{"offset=5&limit=5", 4, "9", "2", "2", "5", "6-9",
			[]string{link("offset=0&limit=5", "first"), link("offset=0&limit=5", "prev")}},
		{"limit=5", 5, "9", "2", "1", "5", "1-5",
			[]string{link("offset=5&limit=5", "next"), link("offset=5&limit=5", "last")}},
		{"offset=3&limit=3", 3, "9", "3", "2", "3", "4-6",
			[]string{link("offset=0&limit=3", "first"), link("offset=0&limit=3", "prev"), link("offset=6&limit=3", "next"), link("offset=6&limit=3", "last")}},
		{"", 9, "9", "1", "1", "200", "1-9", nil},
		{"offset=5", 4, "9", "1", "1", "200", "6-9", []string{link("offset=0&limit=200", "first"), link("offset=0&limit=200", "prev")}},
		{"offset=20&limit=5", 0, "9", "2", "5", "5", "0-0", []string{link("offset=0&limit=5", "first"), link("offset=15&limit=5", "prev")}},
		{"limit=0", 9, "9", "1", "1", "200", "1-9", nil},
		{"select=name&sort=-givenName&limit=2&offset=2", 2, "9", "5", "2", "2", "3-4",
			[]string{link("select=name&sort=-givenName&offset=0&limit=2", "first"), link("select=name&sort=-givenName&offset=0&limit=2", "prev"),
				link("select=name&sort=-givenName&offset=4&limit=2", "next"), link("select=name&sort=-givenName&offset=8&limit=2", "last")}},
		{"givenName=Extra&limit=3", 3, "4", "2", "1", "3", "1-3",
			[]string{link("givenName=Extra&offset=3&limit=3", "next"), link("givenName=Extra&offset=3&limit=3", "last")}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			r := mustCall(t, srv, 200, "GET", "users?"+tt.query, srv.Token, nil)
			assert.Len(t, r.list(t), tt.n)
			assert.Equal(t, tt.total, r.Header.Get("X-Total"))
			assert.Equal(t, tt.pages, r.Header.Get("X-Total-Pages"))
			assert.Equal(t, tt.page, r.Header.Get("X-Page"))
			assert.Equal(t, tt.per, r.Header.Get("X-Per-Page"))
			assert.Equal(t, tt.rangeHd, r.Header.Get("X-Range"))
			assert.Equal(t, strings.Join(tt.links, ", "), r.Header.Get("Link"))
			assert.Equal(t, "X-Total, X-Total-Pages, X-Page, X-Per-Page, X-Range, Link", r.Header.Get("Access-Control-Expose-Headers"))
		})
	}
	t.Run("following next links visits every document once", func(t *testing.T) {
		var seen []any
		next := srv.URL + "users?limit=2"
		for next != "" {
			r := mustCall(t, srv, 200, "GET", strings.TrimPrefix(next, srv.URL), srv.Token, nil)
			seen = append(seen, ids(r.list(t))...)
			next = ""
			for _, l := range strings.Split(r.Header.Get("Link"), ", ") {
				if u, ok := strings.CutSuffix(l, `>; rel="next"`); ok {
					next = strings.TrimPrefix(u, "<")
				}
			}
		}
		require.Len(t, seen, 9)
		assert.Equal(t, ids(mustCall(t, srv, 200, "GET", "users", srv.Token, nil).list(t)), seen)
	})
}
