package chatshippertest

import (
	"net/http"
	"net/http/httptest"
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
