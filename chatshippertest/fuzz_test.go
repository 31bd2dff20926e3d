package chatshippertest

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseListQuery feeds arbitrary query strings to the parser and runs
// whatever parses against sample documents: nothing may panic, and a parsed
// query always has a usable page window.
func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "gender=male", "age=>18,<=30", "name,displayName=acme", "participants.1=!",
		"select=-a,-b", "populate=messages:type|text,participants.user:givenName", "sort=-a,b&offset=5&limit=5"} {
		f.Add(s)
	}
	srv := NewServer(nil)
	defer srv.Close()
	putArticles(srv)
	docs := srv.List("articles")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseListQuery(raw)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		require.Positive(t, q.limit)
		require.GreaterOrEqual(t, q.offset, 0)
		var hits []doc
		for _, d := range docs {
			if matches(d, q.filters, idFields("articles")) {
				hits = append(hits, d)
			}
		}
		sortDocs(hits, q.sorts)
		for _, d := range hits {
			out := cloneDoc(d)
			if q.selects != nil {
				out = project(d, q.selects)
			}
			for _, p := range q.populates {
				populatePath(out, strings.Split(p.path, "."), func(id string) (any, bool) {
					return project(docs[0], p.fields), len(id)%2 == 0
				})
			}
		}
	})
}

// FuzzWriteRequests sends arbitrary JSON bodies to the write endpoints: the
// server must answer every one with a non-5xx status (bad input is a 4xx).
func FuzzWriteRequests(f *testing.F) {
	for _, s := range []string{
		`{"text":"hi"}`, `[{"text":"/assign","type":"command","meta":{"users":[1]}}]`,
		`{"type":"command","text":"/set @category 1"}`, `{"type":"command","text":"/set","meta":{"a":{"b":[1]}}}`,
		`{"type":"form","text":"+X","meta":{"form":{},"categoryIndex":"1"}}`, `{"type":"field","text":".name","meta":{"form":"x"}}`,
		`{"type":"command","text":"/action like","meta":{"message":5}}`, `{"type":"command","text":"/import x"}`,
		`{"contact":{"profile":{"email":5}},"messages":[{"text":"x","role":"contact"}]}`,
		`{"name":{},"givenName":[],"params":{"url":{}},"type":"webhook","organization":null}`,
	} {
		for path := range byte(6) {
			f.Add(path, s)
		}
	}
	// Webhook verification stays in-process: fuzzed URLs are never dialled.
	srv := NewInProcessServer(nil, WithRateLimit(0), WithLoopLimits(0, 0, 0, 0),
		WithWebhookClient(&http.Client{Transport: HandlerTransport(http.NotFoundHandler())}))
	defer srv.Close()
	conv := srv.Put("conversations", m{"organization": srv.Seed.OrganizationID, "type": "contact",
		"participants": []any{m{"user": srv.Seed.BotUserID}}, "messages": []any{}, "forms": []any{m{"form": srv.Seed.FormID}}})
	targets := []struct{ method, path string }{
		{"POST", "/v2/conversations/" + conv + "/messages"}, {"POST", "/v2/conversations"}, {"POST", "/v2/messages"},
		{"POST", "/v2/users"}, {"PATCH", "/v2/services/" + srv.Seed.FormID}, {"PATCH", "/v2/users/" + srv.Seed.AgentUserIDs[1]},
	}
	srv.Put("services", m{"id": srv.Seed.FormID, "type": "smartsupp"})
	f.Fuzz(func(t *testing.T, which byte, body string) {
		tg := targets[int(which)%len(targets)]
		req := httptest.NewRequest(tg.method, tg.path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("%s %s %q: %d %s", tg.method, tg.path, body, rec.Code, rec.Body)
		}
	})
}

// FuzzListQueryParams sends list and fetch requests whose offset, limit,
// sort, select, populate and filter parameters are arbitrary: every answer
// must be a page or a 4xx, never a 5xx, and a page's X-Total-Pages, X-Page
// and X-Per-Page are never negative.
func FuzzListQueryParams(f *testing.F) {
	const maxInt = "9223372036854775807"
	seeds := [][6]string{
		{"", "", "", "", "", ""},
		{"5", "5", "-createdAt", "name,email", "organizations.organization", "givenName=~a"},
		{maxInt, maxInt, "", "", "", ""},
		{maxInt, "1", "givenName,-id", "-email", "", "status=active"},
		{"9223372036854775806", "2", "", "", "", "age=>18,<=30"},
		{"-1", "9223372036854775808", "", "", "", ""},
		{"0", "0", "a.b.c", "a..b", "messages:type|text", "x.1=!"},
		{"1e3", " 7", "--x", "-a,b", "participants.user:givenName", "name,displayName=acme"},
		{"", "", "", "", "nope", "createdAt=>2018-01-01T00:00:00Z"},
	}
	for _, s := range seeds {
		for which := range byte(3) {
			f.Add(which, s[0], s[1], s[2], s[3], s[4], s[5])
		}
	}
	srv := NewInProcessServer(nil, WithRateLimit(0))
	defer srv.Close()
	srv.Put("users", m{"givenName": "Extra", "familyName": "User", "email": "extra@acme.test"})
	conv := newFuzzConv(srv)
	paths := []string{"/v2/users", "/v2/conversations", "/v2/conversations/" + conv}
	f.Fuzz(func(t *testing.T, which byte, offset, limit, sort, sel, populate, filter string) {
		v := url.Values{}
		for k, val := range map[string]string{"offset": offset, "limit": limit, "sort": sort, "select": sel, "populate": populate} {
			if val != "" {
				v.Set(k, val)
			}
		}
		raw := v.Encode()
		if filter != "" {
			// The filter is sent as written (key=value), escapes and all.
			raw += "&" + filter
		}
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.URL.Path, req.URL.RawQuery = path, strings.TrimPrefix(raw, "&")
		req.Header.Set("Authorization", "Bearer "+srv.AdminToken)
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("GET %s?%s: %d %s", path, req.URL.RawQuery, rec.Code, rec.Body)
		}
		if rec.Code == http.StatusOK && path != paths[2] {
			for _, h := range []string{"X-Total-Pages", "X-Page", "X-Per-Page", "X-Total"} {
				n, err := strconv.Atoi(rec.Header().Get(h))
				if err != nil || n < 0 {
					t.Fatalf("GET %s?%s: %s %q", path, req.URL.RawQuery, h, rec.Header().Get(h))
				}
			}
		}
	})
}

// newFuzzConv stores a conversation with one message and a participant, for
// populate paths to follow.
func newFuzzConv(srv *Server) string {
	msg := srv.Put("messages", m{"organization": srv.Seed.OrganizationID, "type": "chat", "text": "hi", "user": srv.Seed.BotUserID})
	return srv.Put("conversations", m{"organization": srv.Seed.OrganizationID, "type": "contact",
		"participants": []any{m{"user": srv.Seed.BotUserID}}, "messages": []any{msg}})
}
