package chatshippertest

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// profile returns the named profile or fails the test.
func profile(t *testing.T, name string) Profile {
	t.Helper()
	p, err := ParseProfile(name)
	require.NoError(t, err)
	return p
}

func TestProfilesCatalogue(t *testing.T) {
	t.Parallel()
	ps := Profiles()
	want := []string{"page-cap-10", "page-cap-50", "id-compare-ignored", "id-compare-unmatched", "id-compare-refused",
		"no-total", "no-link", "no-paging-headers", "clock-ahead-2h", "clock-behind-2h", "errors-quote-values",
		"retry-after-3600", "retry-after-date", "no-retry-after", "per-ip-limit", "identical-text",
		"identical-text-meta", "webhooks-late", "webhooks-out-of-order", "webhooks-repeated"}
	var names []string
	for _, p := range ps {
		names = append(names, p.Name)
		t.Run("profile="+p.Name, func(t *testing.T) {
			assert.Regexp(t, `^[a-z0-9]+(-[a-z0-9]+)*$`, p.Name)
			assert.NotEmpty(t, p.Summary)
			assert.Contains(t, []string{"pages", "clock", "errors", "rate limit", "loop limit", "webhooks"}, p.Area)
			assert.NotEmpty(t, p.Docs)
			assert.Regexp(t, `^https://developers\.(chatshipper\.com/docs|web1on1\.chat)/`, p.URL)
			assert.NotRegexp(t, `(?i)api-notes|\bch[0-9]|\bspec\b|\bissue|\bstep [0-9]`, p.Docs+p.Summary, "cites public docs only")
			require.NotNil(t, p.Option)
			assert.Equal(t, p.Name, p.String())
			assert.Equal(t, []string{p.Name}, partNames(p))
			got := profile(t, p.Name)
			assert.Equal(t, p.Name, got.Name)
			NewInProcessServer(nil, p.Option).Close() // a valid option
		})
	}
	assert.Equal(t, want, names, "names are stable: test names and command lines use them")

	def := profile(t, "default")
	assert.Equal(t, "default", def.Name)
	assert.Empty(t, def.Parts())
	assert.Equal(t, "default", Combine().Name)
	assert.Equal(t, "default", Profile{}.String())
	NewInProcessServer(nil, def.Option).Close()

	combo := profile(t, "page-cap-10+no-total+clock-behind-2h")
	assert.Equal(t, "page-cap-10+no-total+clock-behind-2h", combo.Name)
	assert.Equal(t, []string{"page-cap-10", "no-total", "clock-behind-2h"}, partNames(combo))
	assert.Equal(t, combo.Name, Combine(profile(t, "page-cap-10"), profile(t, "no-total+clock-behind-2h")).Name,
		"combinations flatten")
	assert.Equal(t, "pages,clock", combo.Area)
	assert.Contains(t, combo.Docs, "no-total: ")
	assert.Contains(t, combo.Docs, "(https://developers.chatshipper.com/docs/api-introduction)")

	for _, bad := range []struct{ name, err string }{
		{"page-cap-20", `chatshippertest: unknown profile "page-cap-20" (known: default, page-cap-10, `},
		{"page-cap-10+", `chatshippertest: unknown profile ""`},
		{"page-cap-10+page-cap-50", "chatshippertest: profiles page-cap-10 and page-cap-50 both set the page length"},
		{"no-total+no-paging-headers", "chatshippertest: profiles no-total and no-paging-headers both set the totals"},
		{"no-link+no-link", "chatshippertest: profiles no-link and no-link both set the link"},
		{"default+no-link", `chatshippertest: unknown profile "default"`},
	} {
		_, err := ParseProfile(bad.name)
		require.Error(t, err, bad.name)
		assert.True(t, strings.HasPrefix(err.Error(), bad.err), "%s: %v", bad.name, err)
	}
	assert.PanicsWithError(t, "chatshippertest: profiles clock-ahead-2h and clock-behind-2h both set the clock", func() {
		NewInProcessServer(nil, Combine(profile(t, "clock-ahead-2h"), profile(t, "clock-behind-2h")).Option)
	})
}

func partNames(p Profile) []string {
	var out []string
	for _, q := range p.Parts() {
		out = append(out, q.Name)
	}
	return out
}

// putContacts stores n contacts named name and returns their ids in order.
func putContacts(srv *Server, name string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = srv.Put("contacts", m{"name": name})
	}
	return out
}

// links parses a Link header into rel -> URL relative to the API base.
func links(t *testing.T, srv *Server, h string) map[string]string {
	t.Helper()
	out := map[string]string{}
	if h == "" {
		return out
	}
	re := regexp.MustCompile(`^<([^>]*)>; rel="([a-z]+)"$`)
	for _, part := range strings.Split(h, ", ") {
		mt := re.FindStringSubmatch(part)
		require.NotNil(t, mt, "link %q", part)
		rel, ok := strings.CutPrefix(mt[1], srv.URL)
		require.True(t, ok, "link %q outside the API", mt[1])
		out[mt[2]] = rel
	}
	return out
}

func TestProfilePageCap(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profile string
		cap     int
		items   int
	}{{"page-cap-10", 10, 23}, {"page-cap-50", 50, 120}} {
		t.Run("profile="+tc.profile, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t, profile(t, tc.profile).Option)
			all := putContacts(srv, "Cap", tc.items)
			pages := (tc.items-1)/tc.cap + 1
			last := (pages - 1) * tc.cap
			for _, q := range []string{"name=Cap", "name=Cap&limit=200", "name=Cap&limit=" + fmt.Sprint(tc.cap+1)} {
				r := mustCall(t, srv, 200, "GET", "contacts?"+q, srv.Token, nil)
				assert.Equal(t, all[:tc.cap], idStrings(r.list(t)), q)
				assert.Equal(t, fmt.Sprint(tc.cap), r.Header.Get("X-Per-Page"), q)
				assert.Equal(t, fmt.Sprint(tc.items), r.Header.Get("X-Total"), q)
				assert.Equal(t, fmt.Sprint(pages), r.Header.Get("X-Total-Pages"), q)
				assert.Equal(t, "1", r.Header.Get("X-Page"), q)
				assert.Equal(t, fmt.Sprintf("1-%d", tc.cap), r.Header.Get("X-Range"), q)
				assert.Equal(t, map[string]string{
					"next": fmt.Sprintf("contacts?name=Cap&offset=%d&limit=%d", tc.cap, tc.cap),
					"last": fmt.Sprintf("contacts?name=Cap&offset=%d&limit=%d", last, tc.cap),
				}, links(t, srv, r.Header.Get("Link")), q)
			}

			// A limit below the cap is kept.
			r := mustCall(t, srv, 200, "GET", "contacts?name=Cap&limit=5", srv.Token, nil)
			assert.Equal(t, all[:5], idStrings(r.list(t)))
			assert.Equal(t, "5", r.Header.Get("X-Per-Page"))

			// The last page, asked by offset with a large limit.
			r = mustCall(t, srv, 200, "GET", fmt.Sprintf("contacts?name=Cap&offset=%d&limit=1000", last), srv.Token, nil)
			assert.Equal(t, all[last:], idStrings(r.list(t)))
			assert.Equal(t, fmt.Sprintf("%d-%d", last+1, tc.items), r.Header.Get("X-Range"))
			assert.Equal(t, fmt.Sprint(pages), r.Header.Get("X-Page"))
			assert.Equal(t, map[string]string{
				"first": fmt.Sprintf("contacts?name=Cap&offset=0&limit=%d", tc.cap),
				"prev":  fmt.Sprintf("contacts?name=Cap&offset=%d&limit=%d", last-tc.cap, tc.cap),
			}, links(t, srv, r.Header.Get("Link")))

			// Following next reads every item once.
			var walked []string
			next := "contacts?name=Cap&limit=200"
			for next != "" {
				r := mustCall(t, srv, 200, "GET", next, srv.Token, nil)
				walked = append(walked, idStrings(r.list(t))...)
				next = links(t, srv, r.Header.Get("Link"))["next"]
			}
			assert.Equal(t, all, walked)

			// The nested messages list is capped too.
			conv := newConv(t, srv, srv.AgentToken, m{})["id"].(string)
			batch := make([]any, tc.cap+3)
			for i := range batch {
				batch[i] = m{"text": fmt.Sprint("line ", i)}
			}
			mustCall(t, srv, 201, "POST", "conversations/"+conv+"/messages", srv.AgentToken, batch)
			r = mustCall(t, srv, 200, "GET", "conversations/"+conv+"/messages?limit=500", srv.Token, nil)
			assert.Len(t, r.list(t), tc.cap)
			assert.Equal(t, fmt.Sprint(tc.cap), r.Header.Get("X-Per-Page"))
			assert.Equal(t, fmt.Sprint(tc.cap+3), r.Header.Get("X-Total"))
		})
	}
}

// idStrings extracts the ids of a decoded list as strings.
func idStrings(list []any) []string {
	out := make([]string, len(list))
	for i, e := range list {
		out[i], _ = e.(map[string]any)["id"].(string)
	}
	return out
}

func TestProfileIDComparisons(t *testing.T) {
	t.Parallel()
	type query struct {
		q     func(c []string) string
		want  func(c []string) []string // honoured
		total string
	}
	queries := []query{
		{func(c []string) string { return "id=" + url.QueryEscape(">"+c[1]) }, func(c []string) []string { return c[2:] }, "3"},
		{func(c []string) string { return "_id=" + url.QueryEscape(">="+c[3]) }, func(c []string) []string { return c[3:] }, "2"},
		{func(c []string) string { return "id=" + url.QueryEscape("<"+c[2]) }, func(c []string) []string { return c[:2] }, "2"},
		{func(c []string) string { return "_id=" + url.QueryEscape("<="+c[0]) }, func(c []string) []string { return c[:1] }, "1"},
		{func(c []string) string { return "id=" + url.QueryEscape(">"+c[0]+",<="+c[2]) }, func(c []string) []string { return c[1:3] }, "2"},
	}
	equality := []query{
		{func(c []string) string { return "id=" + c[2] }, func(c []string) []string { return c[2:3] }, "1"},
		{func(c []string) string { return "_id=" + url.QueryEscape("["+c[0]+","+c[4]+"]") }, func(c []string) []string { return []string{c[0], c[4]} }, "2"},
		{func(c []string) string { return "id=" + url.QueryEscape("!="+c[0]) }, func(c []string) []string { return c[1:] }, "4"},
	}
	for _, name := range []string{"default", "id-compare-ignored", "id-compare-unmatched", "id-compare-refused"} {
		t.Run("profile="+name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t, profile(t, name).Option)
			c := putContacts(srv, "Key", 5)
			for _, tt := range queries {
				q := tt.q(c)
				r := call(t, srv, "GET", "contacts?name=Key&"+q, srv.Token, nil)
				switch name {
				case "default":
					require.Equal(t, 200, r.Status, q)
					assert.Equal(t, tt.want(c), idStrings(r.list(t)), q)
					assert.Equal(t, tt.total, r.Header.Get("X-Total"), q)
				case "id-compare-ignored":
					require.Equal(t, 200, r.Status, q)
					assert.Equal(t, c, idStrings(r.list(t)), q)
					assert.Equal(t, "5", r.Header.Get("X-Total"), q)
				case "id-compare-unmatched":
					require.Equal(t, 200, r.Status, q)
					assert.Equal(t, []string{}, idStrings(r.list(t)), q)
					assert.Equal(t, "0", r.Header.Get("X-Total"), q)
					assert.Equal(t, "0-0", r.Header.Get("X-Range"), q)
				default:
					require.Equal(t, 400, r.Status, q)
					value, _ := url.QueryUnescape(strings.SplitN(q, "=", 2)[1])
					assert.Equal(t, fmt.Sprintf(`Cast to ObjectId failed for value %q at path "_id"`, value), r.errMsg(t))
				}
			}
			for _, tt := range equality {
				q := tt.q(c)
				r := mustCall(t, srv, 200, "GET", "contacts?name=Key&"+q, srv.Token, nil)
				assert.Equal(t, tt.want(c), idStrings(r.list(t)), "%s: equality always works", q)
				assert.Equal(t, tt.total, r.Header.Get("X-Total"), q)
			}
			r := mustCall(t, srv, 200, "GET", "contacts?name=Key&sort=-_id&limit=2", srv.Token, nil)
			assert.Equal(t, []string{c[4], c[3]}, idStrings(r.list(t)), "sorting by id is not a comparison")
		})
	}
	t.Run("messages by key", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTest(t, profile(t, "id-compare-ignored").Option)
		conv := newConv(t, srv, srv.AgentToken, m{"messages": []any{m{"text": "a"}, m{"text": "b"}}})
		msgs := conv["messages"].([]any)
		r := mustCall(t, srv, 200, "GET", "messages?conversation="+conv["id"].(string)+"&id="+url.QueryEscape(">"+msgs[0].(string)), srv.Token, nil)
		assert.Equal(t, msgs, ids(r.list(t)), "the mandatory filter is met; the comparison is ignored")
		r = mustCall(t, srv, 200, "GET", "messages?id="+url.QueryEscape(">"+msgs[0].(string)), srv.Token, nil)
		assert.Equal(t, msgs, ids(r.list(t)), "an id filter meets the mandatory filter even when ignored")
	})
}

func TestProfilePagingHeaders(t *testing.T) {
	t.Parallel()
	all := []string{"X-Total", "X-Total-Pages", "X-Page", "X-Per-Page", "X-Range", "Link"}
	for _, tc := range []struct {
		profile string
		absent  []string
		rels    []string
	}{
		{"default", nil, []string{"first", "prev", "next", "last"}},
		{"no-total", []string{"X-Total", "X-Total-Pages"}, []string{"first", "prev", "next"}},
		{"no-link", []string{"Link"}, nil},
		{"no-paging-headers", []string{"X-Total", "X-Total-Pages", "Link"}, nil},
	} {
		t.Run("profile="+tc.profile, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t, profile(t, tc.profile).Option)
			c := putContacts(srv, "Head", 25)
			r := mustCall(t, srv, 200, "GET", "contacts?name=Head&offset=10&limit=10", srv.Token, nil)
			assert.Equal(t, c[10:20], idStrings(r.list(t)), "the page itself is the same")
			want := map[string]string{"X-Total": "25", "X-Total-Pages": "3", "X-Page": "2", "X-Per-Page": "10", "X-Range": "11-20"}
			var exposed []string
			for _, h := range all {
				if slices.Contains(tc.absent, h) {
					assert.Empty(t, r.Header.Values(h), h)
					continue
				}
				exposed = append(exposed, h)
				if h != "Link" {
					assert.Equal(t, want[h], r.Header.Get(h), h)
				}
			}
			assert.Equal(t, strings.Join(exposed, ", "), r.Header.Get("Access-Control-Expose-Headers"))
			var rels []string
			for rel := range links(t, srv, r.Header.Get("Link")) {
				rels = append(rels, rel)
			}
			assert.ElementsMatch(t, tc.rels, rels)

			// The last page has no next link, under every profile.
			r = mustCall(t, srv, 200, "GET", "contacts?name=Head&offset=20&limit=10", srv.Token, nil)
			assert.Equal(t, c[20:], idStrings(r.list(t)))
			assert.NotContains(t, links(t, srv, r.Header.Get("Link")), "next")
		})
	}
}

func TestProfilesCombinePaging(t *testing.T) {
	t.Parallel()
	// A server that caps pages at 10, says no totals and no links, and
	// ignores id comparisons: offset += X-Per-Page until a short page still
	// reads every item once.
	p := profile(t, "page-cap-10+no-paging-headers+id-compare-ignored")
	srv, _ := newTest(t, p.Option)
	all := putContacts(srv, "Combo", 27)
	var walked []string
	for offset := 0; ; {
		r := mustCall(t, srv, 200, "GET", fmt.Sprintf("contacts?name=Combo&offset=%d&limit=200", offset), srv.Token, nil)
		assert.Empty(t, r.Header.Get("Link"))
		assert.Empty(t, r.Header.Get("X-Total"))
		page := idStrings(r.list(t))
		walked = append(walked, page...)
		per := r.Header.Get("X-Per-Page")
		require.Equal(t, "10", per)
		if len(page) < 10 {
			break
		}
		offset += 10
	}
	assert.Equal(t, all, walked)
	r := mustCall(t, srv, 200, "GET", "contacts?name=Combo&id="+url.QueryEscape(">"+all[20]), srv.Token, nil)
	assert.Equal(t, all[:10], idStrings(r.list(t)), "the key filter is ignored and the page capped")
}

func TestProfileClockSkew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profile string
		skew    time.Duration
	}{{"default", 0}, {"clock-ahead-2h", 2 * time.Hour}, {"clock-behind-2h", -2 * time.Hour}} {
		t.Run("profile="+tc.profile, func(t *testing.T) {
			t.Parallel()
			srv, clk := newTest(t, profile(t, tc.profile).Option)
			at := clk.t.Add(tc.skew)
			r := mustCall(t, srv, 201, "POST", "conversations", srv.Token, m{"messages": []any{m{"text": "hi"}}})
			assert.Equal(t, at.Format(http.TimeFormat), r.Header.Get("Date"), "the Date header follows the server's clock")
			conv := r.obj(t)
			assert.Equal(t, formatTime(at), conv["createdAt"])
			assert.Equal(t, formatTime(at), conv["updatedAt"])
			msg := getDoc(t, srv, "messages", conv["messages"].([]any)[0].(string))
			assert.Equal(t, formatTime(at), msg["createdAt"])

			clk.advance(90 * time.Minute)
			r = mustCall(t, srv, 201, "POST", "auth/token", "", m{"email": srv.Seed.AdminEmail, "password": srv.Seed.AdminPassword})
			later := at.Add(90 * time.Minute)
			assert.Equal(t, later.Format(http.TimeFormat), r.Header.Get("Date"))
			assert.Equal(t, formatTime(later.Add(24*time.Hour)), r.obj(t)["expiresAt"])
			tc2 := claims(t, r.obj(t)["token"].(string))
			assert.Equal(t, float64(later.Unix()), tc2["iat"])
			assert.Equal(t, float64(later.Add(24*time.Hour).Unix()), tc2["exp"])
			reqs := srv.Requests()
			assert.Equal(t, later, reqs[len(reqs)-1].Time)

			// Errors carry the Date too.
			r = mustCall(t, srv, 404, "GET", "conversations/5bb0277fd99faf11a3f4a37e", srv.Token, nil)
			assert.Equal(t, later.Format(http.TimeFormat), r.Header.Get("Date"))

			// Tokens expire on the server's clock.
			tok := srv.IssueToken(srv.Seed.AgentUserIDs[0], "agent", time.Hour)
			clk.advance(time.Hour - time.Second) // exp is in whole seconds
			mustCall(t, srv, 200, "GET", "conversations", tok, nil)
			clk.advance(time.Second)
			assert.Equal(t, "jwt expired", mustCall(t, srv, 401, "GET", "conversations", tok, nil).errMsg(t))
		})
	}
}

func TestProfileErrorsQuoteValues(t *testing.T) {
	t.Parallel()
	quoting, _ := newTest(t, profile(t, "errors-quote-values").Option)
	plain, _ := newTest(t)
	sd := quoting.Seed
	other, _ := newTest(t, WithSeed(2))
	foreign := other.IssueToken(other.Seed.BotUserID, "bot", 0) // signed with another key
	for _, tc := range []struct {
		name          string
		method, path  string
		token         func(*Server) string
		body          any
		status        int
		plain, quoted string
	}{
		{"login", "POST", "auth/token", nil, m{"email": sd.AdminEmail, "password": "wrong-pass", "otp": 123456},
			401, "Invalid email or password", ` (values: email="admin@acme.test", otp="123456", password="wrong-pass")`},
		{"user create", "POST", "users", func(s *Server) string { return s.AdminToken },
			m{"email": sd.AgentEmails[0], "password": "hunter2", "givenName": "Al"},
			422, "email alice@acme.test is already in use", ` (values: Authorization="Bearer ADMIN", email="alice@acme.test", givenName="Al", password="hunter2")`},
		{"webhook create", "POST", "services", func(s *Server) string { return s.AdminToken },
			m{"type": "webhook", "params": m{"url": "ftp://user:pa55@hooks.test/in?token=t0k", "secret": "s3cr3t", "events": []any{"message.*"}}},
			422, "a webhook needs params.url, an absolute http(s) URL",
			` (values: Authorization="Bearer ADMIN", params.events.0="message.*", params.secret="s3cr3t", params.url="ftp://user:pa55@hooks.test/in?token=t0k", type="webhook")`},
		{"401 bearer token", "GET", "conversations?limit=5", func(*Server) string { return foreign }, nil,
			401, "invalid signature", ` (values: Authorization="Bearer FOREIGN", limit="5")`},
		{"400 query", "GET", "contacts?name=" + url.QueryEscape("~("), func(s *Server) string { return s.Token }, nil,
			400, "invalid regular expression for name: error parsing regexp: missing closing ): `(?i)(`",
			` (values: Authorization="Bearer BOT", name="~(")`},
		{"404", "GET", "conversations/5bb0277fd99faf11a3f4a37e", func(s *Server) string { return s.Token }, nil,
			404, "Conversation not found", ` (values: Authorization="Bearer BOT")`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, srv := range []*Server{plain, quoting} {
				token := ""
				if tc.token != nil {
					token = tc.token(srv)
				}
				r := mustCall(t, srv, tc.status, tc.method, tc.path, token, tc.body)
				want := tc.plain
				if srv == quoting {
					want += strings.NewReplacer("ADMIN", srv.AdminToken, "FOREIGN", foreign, "BOT", srv.Token).Replace(tc.quoted)
				}
				assert.Equal(t, want, r.errMsg(t))
			}
		})
	}
	t.Run("429s quote nothing", func(t *testing.T) {
		srv, _ := newTest(t, profile(t, "errors-quote-values").Option, WithLoopLimits(1, time.Minute, 0, 0))
		id := newConv(t, srv, srv.Token, m{})["id"].(string)
		post(t, srv, srv.Token, id, m{"text": "same"})
		r := mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "same"})
		assert.Equal(t, "Loop limit: more than 1 identical messages in a minute", r.errMsg(t))
	})
}

func TestProfileRetryAfter(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		profile    string
		rate, loop func(now time.Time) string // the Retry-After of a rate-limit 429 (1 s to wait) and of a loop-limit 429 (59 s to wait)
	}{
		{"default", seconds("1"), seconds("59")},
		{"retry-after-3600", seconds("3600"), seconds("3600")},
		{"retry-after-date", date(time.Second), date(59 * time.Second)},
		{"retry-after-3600+retry-after-date", date(time.Hour), date(time.Hour)},
		{"no-retry-after", seconds(""), seconds("")},
	} {
		t.Run("profile="+tc.profile, func(t *testing.T) {
			t.Parallel()
			srv, clk := newTest(t, profile(t, tc.profile).Option, WithRateLimit(1), WithLoopLimits(1, time.Minute, 0, 0))
			clk.advance(300 * time.Millisecond) // not on a whole second: dates round up
			mustCall(t, srv, 200, "GET", "conversations", srv.Token, nil)
			r := mustCall(t, srv, 429, "GET", "conversations", srv.Token, nil)
			assert.Equal(t, tc.rate(srv.now()), r.Header.Get("Retry-After"))
			assert.Equal(t, "Too many requests", r.errMsg(t))
			clk.advance(time.Second)
			mustCall(t, srv, 200, "GET", "conversations", srv.Token, nil) // the window is unchanged

			clk.advance(time.Second)
			id := newConv(t, srv, srv.Token, m{})["id"].(string)
			clk.advance(time.Second)
			post(t, srv, srv.Token, id, m{"text": "same"})
			clk.advance(time.Second) // past the request limit; 59 s left of the loop limit's minute
			r = mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, m{"text": "same"})
			assert.Equal(t, tc.loop(srv.now()), r.Header.Get("Retry-After"))
		})
	}
	t.Run("faults keep their own", func(t *testing.T) {
		t.Parallel()
		srv, _ := newTest(t, profile(t, "retry-after-3600+retry-after-date").Option)
		srv.InjectFault(Fault{Status: 429, RetryAfter: "7", Count: 1})
		r := mustCall(t, srv, 429, "GET", "conversations", srv.Token, nil)
		assert.Equal(t, "7", r.Header.Get("Retry-After"))
	})
}

// seconds expects a fixed Retry-After ("" for none).
func seconds(v string) func(time.Time) string { return func(time.Time) string { return v } }

// date expects an HTTP date d after the moment the wait started, rounded up
// to the second.
func date(d time.Duration) func(time.Time) string {
	return func(start time.Time) string {
		at := start.Add(d)
		if t := at.Truncate(time.Second); !t.Equal(at) {
			at = t.Add(time.Second)
		}
		return at.Format(http.TimeFormat)
	}
}

func TestProfilePerIPLimit(t *testing.T) {
	t.Parallel()
	// newTest turns the limit off; the profile turns the documented one on.
	srv, clk := newTest(t, profile(t, "per-ip-limit").Option)
	for range 20 {
		mustCall(t, srv, 200, "GET", "conversations", srv.Token, nil)
	}
	r := mustCall(t, srv, 429, "GET", "conversations", srv.AdminToken, nil)
	assert.Equal(t, "1", r.Header.Get("Retry-After"), "another token from the same address shares the window")
	mustCall(t, srv, 429, "POST", "auth/token", "", m{"email": srv.Seed.AdminEmail, "password": srv.Seed.AdminPassword})
	clk.advance(time.Second)
	mustCall(t, srv, 200, "GET", "conversations", srv.AdminToken, nil)
}

func TestProfileIdentical(t *testing.T) {
	t.Parallel()
	type msg = m
	key := func(i int) string { return fmt.Sprintf("key-%d", i) }
	with := func(typ string, meta m, i int) msg {
		mm := m{deliveryKeyMeta: key(i)}
		for k, v := range meta {
			mm[k] = v
		}
		return msg{"text": "same", "type": typ, "meta": mm}
	}
	for _, tc := range []struct {
		profile string
		eight   func(i int) msg // eight messages the server counts as identical
		same    []msg           // ninth messages it refuses
		other   []msg           // ninth messages it accepts
	}{
		{"default",
			func(i int) msg { return with("chat", m{"k": "v"}, i) },
			[]msg{with("chat", m{"k": "v"}, 100)},
			[]msg{with("card", m{"k": "v"}, 100), with("chat", m{"k": "w"}, 100), with("chat", nil, 100), {"text": "other", "meta": m{"k": "v"}}}},
		{"identical-text",
			func(i int) msg { return with([]string{"chat", "card", "postback"}[i%3], m{"n": i}, i) },
			[]msg{with("chat", nil, 100), with("card", m{"k": "w"}, 100), {"text": "same"}},
			[]msg{{"text": "other"}, {"text": "Same"}}},
		{"identical-text-meta",
			func(i int) msg { return with([]string{"chat", "card", "postback"}[i%3], m{"k": "v"}, i) },
			[]msg{with("postback", m{"k": "v"}, 100), with("chat", m{"k": "v"}, 100)},
			[]msg{with("chat", m{"k": "w"}, 100), with("card", nil, 100), {"text": "same"}}},
	} {
		t.Run("profile="+tc.profile, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t, profile(t, tc.profile).Option)
			for _, ninth := range tc.same {
				id := newConv(t, srv, srv.Token, m{})["id"].(string)
				for i := range 8 {
					post(t, srv, srv.Token, id, tc.eight(i))
				}
				r := mustCall(t, srv, 429, "POST", "conversations/"+id+"/messages", srv.Token, ninth)
				assert.Equal(t, "Loop limit: more than 8 identical messages in 3 minutes", r.errMsg(t), "%v", ninth)
			}
			for _, ninth := range tc.other {
				id := newConv(t, srv, srv.Token, m{})["id"].(string)
				for i := range 8 {
					post(t, srv, srv.Token, id, tc.eight(i))
				}
				mustCall(t, srv, 201, "POST", "conversations/"+id+"/messages", srv.Token, ninth)
			}
		})
	}
}

// hookEvent is one received delivery: when it came and what it said.
type hookEvent struct {
	at        time.Duration // since the test's start
	id, event string
	name      any // data.conversation.name
	signature string
}

func hookEvents(t *testing.T, rc *receiver, start time.Time) []hookEvent {
	t.Helper()
	rc.mu.Lock()
	raw := slices.Clone(rc.events)
	rc.mu.Unlock()
	got := rc.got(t)
	out := make([]hookEvent, len(raw))
	for i, e := range raw {
		conv, _ := got[i]["data"].(map[string]any)["conversation"].(map[string]any)
		out[i] = hookEvent{at: e.at.Sub(start), id: got[i]["id"].(string), event: got[i]["event"].(string),
			name: conv["name"], signature: e.header.Get("X-Hub-Signature")}
	}
	return out
}

// waitLate waits for webhook deliveries that may be up to an hour late (fake
// time inside synctest).
func waitLate(t *testing.T, srv *Server) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	require.NoError(t, srv.WaitDeliveries(ctx))
}

func TestProfileWebhooksLate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		srv := inProcessHook(t, rc, profile(t, "webhooks-late").Option)
		addHook(t, srv, m{"url": "http://hooks.test/in", "events": []any{"conversation.create"}})
		start := time.Now()
		newConv(t, srv, srv.Token, m{"name": "A"})
		time.Sleep(time.Minute)
		newConv(t, srv, srv.Token, m{"name": "B"})
		synctest.Wait()
		assert.Empty(t, rc.got(t), "nothing yet")
		waitLate(t, srv)
		got := hookEvents(t, rc, start)
		require.Len(t, got, 2)
		assert.Equal(t, []any{"A", "B"}, []any{got[0].name, got[1].name}, "late, in order")
		assert.Equal(t, []time.Duration{10 * time.Minute, 11 * time.Minute}, []time.Duration{got[0].at, got[1].at})
		assert.Equal(t, formatTime(start), rc.got(t)[0]["timestamp"], "the timestamp is the event's time")
		ds := srv.WebhookDeliveries()
		require.Len(t, ds, 2)
		assert.Equal(t, []int{1, 1}, []int{ds[0].Attempts, ds[1].Attempts})

		// A failed attempt is due again after its backoff; a later event
		// does not wait for it.
		rc.mu.Lock()
		rc.events, rc.statuses = nil, []int{503}
		rc.mu.Unlock()
		start = time.Now()
		newConv(t, srv, srv.Token, m{"name": "C"})
		time.Sleep(100 * time.Millisecond)
		newConv(t, srv, srv.Token, m{"name": "D"})
		waitLate(t, srv)
		got = hookEvents(t, rc, start)
		require.Len(t, got, 3)
		assert.Equal(t, []any{"C", "D", "C"}, []any{got[0].name, got[1].name, got[2].name})
		assert.Equal(t, []time.Duration{10 * time.Minute, 10*time.Minute + 100*time.Millisecond, 10*time.Minute + 500*time.Millisecond},
			[]time.Duration{got[0].at, got[1].at, got[2].at})
		ds = srv.WebhookDeliveries()[2:]
		assert.Equal(t, []any{"D", 1, "C", 2}, []any{eventName(t, rc, ds[0].ID), ds[0].Attempts, eventName(t, rc, ds[1].ID), ds[1].Attempts})
	})
}

// eventName is the conversation name of the received event with id.
func eventName(t *testing.T, rc *receiver, id string) any {
	for _, e := range rc.got(t) {
		if e["id"] == id {
			return e["data"].(map[string]any)["conversation"].(map[string]any)["name"]
		}
	}
	t.Fatalf("event %s not received", id)
	return nil
}

func TestProfileWebhooksOutOfOrder(t *testing.T) {
	t.Parallel()
	run := func(t *testing.T) []hookEvent {
		var got []hookEvent
		synctest.Test(t, func(t *testing.T) {
			rc := &receiver{}
			srv := inProcessHook(t, rc, profile(t, "webhooks-out-of-order").Option)
			addHook(t, srv, m{"url": "http://hooks.test/in", "events": []any{"conversation.create"}})
			start := time.Now()
			for i := range 8 {
				newConv(t, srv, srv.Token, m{"name": fmt.Sprint(i)})
			}
			waitLate(t, srv)
			got = hookEvents(t, rc, start)
		})
		return got
	}
	got := run(t)
	require.Len(t, got, 8)
	var names []string
	for i, e := range got {
		names = append(names, e.name.(string))
		assert.Less(t, e.at, 2*time.Minute)
		if i > 0 {
			assert.GreaterOrEqual(t, e.at, got[i-1].at, "sent earliest first")
		}
	}
	assert.ElementsMatch(t, []string{"0", "1", "2", "3", "4", "5", "6", "7"}, names, "each once")
	assert.NotEqual(t, []string{"0", "1", "2", "3", "4", "5", "6", "7"}, names, "out of order")
	again := run(t)
	for i := range got {
		got[i].id, got[i].signature, again[i].id, again[i].signature = "", "", "", ""
	}
	assert.Equal(t, got, again, "the same seed, the same order and times")
}

func TestProfileWebhooksRepeated(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		srv := inProcessHook(t, rc, profile(t, "webhooks-repeated").Option)
		addHook(t, srv, m{"url": "http://hooks.test/in", "events": []any{"conversation.create"}})
		start := time.Now()
		newConv(t, srv, srv.Token, m{"name": "A"})
		time.Sleep(10 * time.Second)
		newConv(t, srv, srv.Token, m{"name": "B"})
		waitLate(t, srv)
		got := hookEvents(t, rc, start)
		require.Len(t, got, 4)
		assert.Equal(t, []any{"A", "B", "A", "B"}, []any{got[0].name, got[1].name, got[2].name, got[3].name})
		assert.Equal(t, []time.Duration{0, 10 * time.Second, time.Minute, time.Minute + 10*time.Second},
			[]time.Duration{got[0].at, got[1].at, got[2].at, got[3].at})
		assert.Equal(t, got[0].id, got[2].id, "the same event again")
		assert.Equal(t, got[0].signature, got[2].signature)
		assert.NotEqual(t, got[0].id, got[1].id)
		rc.mu.Lock()
		assert.Equal(t, rc.events[0].body, rc.events[2].body, "byte for byte")
		rc.mu.Unlock()
		ds := srv.WebhookDeliveries()
		require.Len(t, ds, 4)
		assert.Equal(t, []int{0, 0, 1, 1}, []int{ds[0].Repeat, ds[1].Repeat, ds[2].Repeat, ds[3].Repeat})
		assert.Equal(t, ds[0].ID, ds[2].ID)
		assert.True(t, ds[2].Delivered)
	})
}

func TestProfileWebhooksCombined(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		srv := inProcessHook(t, rc, profile(t, "webhooks-late+webhooks-out-of-order+webhooks-repeated").Option)
		addHook(t, srv, m{"url": "http://hooks.test/in", "events": []any{"conversation.create"}})
		start := time.Now()
		for i := range 5 {
			newConv(t, srv, srv.Token, m{"name": fmt.Sprint(i)})
		}
		waitLate(t, srv)
		got := hookEvents(t, rc, start)
		require.Len(t, got, 10)
		seen := map[string]int{}
		for _, e := range got {
			seen[e.id]++
			assert.GreaterOrEqual(t, e.at, 10*time.Minute)
			assert.Less(t, e.at, 13*time.Minute)
		}
		assert.Len(t, seen, 5)
		for id, n := range seen {
			assert.Equal(t, 2, n, id)
		}
	})
}

func TestProfileWebhooksClose(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		rc := &receiver{}
		srv := inProcessHook(t, rc, profile(t, "webhooks-late").Option)
		addHook(t, srv, m{"url": "http://hooks.test/in"})
		newConv(t, srv, srv.Token, m{})
		srv.Close()
		assert.NoError(t, srv.WaitDeliveries(t.Context()), "closing abandons scheduled deliveries")
		assert.Empty(t, rc.got(t))
	})
}
