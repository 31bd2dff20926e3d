package replay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/chatshippertest/replay"
)

// otherBase is where replayed clients point: not the fake's address, so the
// tests also show that fixtures replay against another base URL. It is never
// dialled.
const otherBase = "https://api.example.com/v2/"

// newFake starts a fake server the test closes itself (to replay with it
// stopped); webhook challenges are answered 404 in-process, never dialled.
func newFake(t *testing.T, opts ...chatshippertest.Option) *chatshippertest.Server {
	t.Helper()
	hooks := &http.Client{Transport: chatshippertest.HandlerTransport(http.NotFoundHandler())}
	opts = append([]chatshippertest.Option{chatshippertest.WithRateLimit(0), chatshippertest.WithWebhookClient(hooks)}, opts...)
	srv := chatshippertest.NewServer(nil, opts...)
	t.Cleanup(srv.Close)
	return srv
}

func newClient(t *testing.T, token, base string, hc *http.Client, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	all := append([]chatshipper.Option{chatshipper.WithBaseURL(base), chatshipper.WithHTTPClient(hc),
		chatshipper.WithRateLimit(0)}, opts...)
	c, err := chatshipper.NewClient(token, all...)
	require.NoError(t, err)
	return c
}

// contactScenario creates, reads, updates, lists (twice, the same request
// with different answers) and deletes contacts, and returns everything it saw.
func contactScenario(ctx context.Context, c *chatshipper.Client, org string) (string, error) {
	var out []any
	a, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{Organization: org,
		Profile: chatshipper.ContactProfile{Name: "Ada Lovelace", Email: "ada@example.com", Telephone: "+441134960999"}})
	if err != nil {
		return "", err
	}
	out = append(out, a)
	q := chatshipper.NewQuery().Where("organization", chatshipper.Eq(org)).Sort("-createdAt").Limit(1)
	list, resp, err := c.Contacts.List(ctx, q)
	if err != nil {
		return "", err
	}
	out = append(out, list, resp.Pagination)
	b, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{Organization: org,
		Profile: chatshipper.ContactProfile{Name: "Charles Babbage"}})
	if err != nil {
		return "", err
	}
	out = append(out, b)
	list, resp, err = c.Contacts.List(ctx, q) // the same request again: a new answer
	if err != nil {
		return "", err
	}
	out = append(out, list, resp.Pagination)
	got, _, err := c.Contacts.Get(ctx, a.ID, nil)
	if err != nil {
		return "", err
	}
	out = append(out, got)
	upd, _, err := c.Contacts.Update(ctx, a.ID, &chatshipper.ContactUpdate{Meta: chatshipper.Meta{"tier": "gold", "visits": 3}})
	if err != nil {
		return "", err
	}
	out = append(out, upd)
	if _, err := c.Contacts.Delete(ctx, b.ID); err != nil {
		return "", err
	}
	_, _, err = c.Contacts.Get(ctx, b.ID, nil)
	out = append(out, errors.Is(err, chatshipper.ErrNotFound))
	j, err := json.Marshal(out)
	return string(j), err
}

func TestRecordAgainstFakeThenReplayWithFakeStopped(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newFake(t)
	dir := t.TempDir()
	rec, err := replay.NewRecorder(dir)
	require.NoError(t, err)
	recorded, err := contactScenario(ctx, newClient(t, srv.Token, srv.URL, rec.Client()), srv.Seed.OrganizationID)
	require.NoError(t, err)
	srv.Close()

	assert.Equal(t, []string{
		"0001-POST-contacts.json",
		"0002-GET-contacts.json",
		"0003-POST-contacts.json",
		"0004-GET-contacts.json",
		"0005-GET-contacts-" + firstID(t, recorded) + ".json",
		"0006-PATCH-contacts-" + firstID(t, recorded) + ".json",
		"0007-DELETE-contacts-" + secondID(t, recorded) + ".json",
		"0008-GET-contacts-" + secondID(t, recorded) + ".json",
	}, rec.Files())

	rep, err := replay.NewReplayer(dir)
	require.NoError(t, err)
	replayed, err := contactScenario(ctx, newClient(t, "any-token", otherBase, rep.Client()), srv.Seed.OrganizationID)
	require.NoError(t, err)
	assert.JSONEq(t, recorded, replayed)
	assert.Contains(t, recorded, `"Total":2`, "the second list saw both contacts")
	assert.Empty(t, rep.Unused())
	assert.Equal(t, 8, rep.Calls())
	assert.Zero(t, rep.Misses())
}

func scenarioIDs(t *testing.T, s string) []string {
	t.Helper()
	var out []json.RawMessage
	require.NoError(t, json.Unmarshal([]byte(s), &out))
	var a, b struct{ ID string }
	require.NoError(t, json.Unmarshal(out[0], &a))
	require.NoError(t, json.Unmarshal(out[3], &b))
	return []string{a.ID, b.ID}
}

func firstID(t *testing.T, s string) string  { return scenarioIDs(t, s)[0] }
func secondID(t *testing.T, s string) string { return scenarioIDs(t, s)[1] }

func TestFixtureFilesArePrettyAndStable(t *testing.T) {
	t.Parallel()
	srv := newFake(t)
	dir := t.TempDir()
	// A stale file from an earlier recording is removed; other files stay.
	require.NoError(t, os.WriteFile(filepath.Join(dir, "0009-GET-stale.json"), []byte("{}"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "README.md"), []byte("notes"), 0o600))
	rec, err := replay.NewRecorder(dir)
	require.NoError(t, err)
	c := newClient(t, srv.Token, srv.URL, rec.Client())
	_, _, err = c.Users.List(context.Background(), chatshipper.NewQuery().Limit(1).Sort("-createdAt"))
	require.NoError(t, err)

	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"0001-GET-users.json", "README.md"}, names)

	b, err := os.ReadFile(filepath.Join(dir, "0001-GET-users.json"))
	require.NoError(t, err)
	text := string(b)
	assert.True(t, strings.HasPrefix(text, "{\n  \"request\": {\n    \"method\": \"GET\",\n    \"path\": \"/v2/users\",\n"), text)
	assert.Contains(t, text, "\"query\": {\n      \"limit\": [\n        \"1\"\n      ],\n      \"sort\": [\n        \"-createdAt\"\n      ]\n    }")
	assert.Contains(t, text, "\"status\": 200")
	assert.Contains(t, text, "\"X-Total\": [")
	assert.Contains(t, text, "\"Content-Type\": [")
	assert.Contains(t, text, replay.RecordedOrigin+"/v2/users?", "the Link header keeps its path, not its host")
	assert.NotContains(t, text, "127.0.0.1")
	assert.NotContains(t, text, "Authorization")
	assert.True(t, strings.HasSuffix(text, "}\n"))
}

// TestScrubbing records a login, a token refresh, a webhook service with a
// secret and a contact, and looks for every secret in every fixture byte.
func TestScrubbing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	// Tokens that live a minute and a leeway of an hour: the first Token call refreshes.
	srv := newFake(t, chatshippertest.WithTokenTTL(time.Minute))
	dir := t.TempDir()
	email := regexp.MustCompile(`[\w.+-]+@[\w-]+(\.[\w-]+)+`)
	phone := regexp.MustCompile(`\+[0-9]{8,15}`)
	scrub := replay.WithScrubber(replay.ScrubRegexp(email, "user@example.com"), replay.ScrubRegexp(phone, "+10000000000"))
	rec, err := replay.NewRecorder(dir, scrub)
	require.NoError(t, err)

	const hookSecret = "canary-webhook-secret-7c1f0e"
	tok := login(ctx, t, srv.URL, srv.Seed.AdminEmail, srv.Seed.AdminPassword, chatshipper.WithHTTPClient(rec.Client()))
	src, err := chatshipper.NewRefreshingTokenSource(chatshipper.RefreshConfig{Token: *tok,
		Leeway: time.Hour, Options: []chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(rec.Client())}})
	require.NoError(t, err)
	c := newClient(t, "", srv.URL, rec.Client(), chatshipper.WithTokenSource(src))
	svc, _, err := c.Services.CreateWebhook(ctx, &chatshipper.WebhookServiceCreate{Name: "CRM", Organization: srv.Seed.OrganizationID,
		URL: "https://hooks.example.com/chatshipper", Secret: hookSecret, Events: []string{"conversation.update"}})
	require.NoError(t, err)
	_, _, err = c.Services.Get(ctx, svc.ID, nil)
	require.NoError(t, err)
	_, _, err = c.Contacts.Create(ctx, &chatshipper.ContactCreate{Organization: srv.Seed.OrganizationID,
		Profile: chatshipper.ContactProfile{Name: "Grace", Email: "grace.hopper@navy.example", Telephone: "+441134960999"}})
	require.NoError(t, err)
	// A bot's permanent token too.
	bot := newClient(t, srv.Token, srv.URL, rec.Client())
	_, _, err = bot.Contacts.List(ctx, chatshipper.NewQuery().Limit(1))
	require.NoError(t, err)

	refreshed := src.Current()
	canaries := map[string]string{
		"bot token":         srv.Token,
		"password":          srv.Seed.AdminPassword,
		"login token":       tok.AccessToken,
		"refresh token":     tok.RefreshToken,
		"refreshed token":   refreshed.AccessToken,
		"refreshed refresh": refreshed.RefreshToken,
		"webhook secret":    hookSecret,
		"e-mail":            "grace.hopper@navy.example",
		"admin e-mail":      srv.Seed.AdminEmail,
		"telephone":         "+441134960999",
		"host":              strings.TrimPrefix(strings.TrimSuffix(srv.URL, "/v2/"), "http://"),
	}
	files := rec.Files()
	// The leeway outlasts the token, so every call of c refreshes first.
	require.Len(t, files, 8, "login, 3 x (refresh + call), list")
	assert.Equal(t, "0001-POST-auth-token.json", files[0])
	assert.Equal(t, "0002-POST-auth-token.json", files[1], "the refresh")
	var all []byte
	for _, f := range files {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		all = append(all, b...)
	}
	for what, canary := range canaries {
		require.NotEmpty(t, canary, what)
		assert.False(t, bytes.Contains(all, []byte(canary)), "%s found in a fixture", what)
	}
	assert.NotContains(t, string(all), "eyJ", "no JWT at all")
	assert.Contains(t, string(all), `"secret": "[redacted]"`)
	assert.Contains(t, string(all), `"password": "[redacted]"`)
	assert.Contains(t, string(all), `"refreshToken": "[redacted]"`)
	assert.Contains(t, string(all), `"clientId": "user@example.com"`, "the refresh was recorded, its e-mail scrubbed")
	assert.Contains(t, string(all), `"conversation.update"`, "the rest of the service is kept")
	assert.Contains(t, string(all), srv.Seed.OrganizationID, "IDs are kept")

	// The scrubbed recording replays: the same scrubbers make the login match
	// whatever password is sent.
	rep, err := replay.NewReplayer(dir, scrub)
	require.NoError(t, err)
	tok2 := login(ctx, t, otherBase, "someone@example.org", "another password", chatshipper.WithHTTPClient(rep.Client()))
	assert.Equal(t, replay.Redacted, tok2.AccessToken)
	assert.Equal(t, 1, rep.Calls())
	assert.Zero(t, rep.Misses())
}

// login is the one place these tests call chatshipper.Login.
func login(ctx context.Context, t *testing.T, base, email, password string, opts ...chatshipper.Option) *chatshipper.Token {
	t.Helper()
	opts = append(opts, chatshipper.WithRateLimit(0))
	tok, err := chatshipper.Login(ctx, chatshipper.Credentials{Email: email, Password: password}, append([]chatshipper.Option{chatshipper.WithBaseURL(base)}, opts...)...)
	require.NoError(t, err)
	return tok
}

// get sends a raw request through rt, the way the SDK would.
func do(t *testing.T, hc *http.Client, method, rawURL, body string) (*http.Response, string, error) {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, rawURL, rd)
	require.NoError(t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := hc.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	_, err = buf.ReadFrom(resp.Body)
	require.NoError(t, err)
	return resp, buf.String(), nil
}

const matchDir = "testdata/match"

func TestMatching(t *testing.T) {
	t.Parallel()
	const base = "https://api.example.com"
	cases := []struct {
		name, method, url, body string
		wantBody                string   // "" = expect a miss
		wantDiffs               []string // for a miss
	}{
		{name: "recorded query order", method: "GET",
			url: base + "/v2/conversations?status=active&limit=5&sort=-createdAt", wantBody: `[{"id":"5bb0277fd99faf11a3f4a37e","status":"active"}]`},
		{name: "other query order", method: "GET",
			url: base + "/v2/conversations?sort=-createdAt&limit=5&status=active", wantBody: `[{"id":"5bb0277fd99faf11a3f4a37e","status":"active"}]`},
		{name: "escaped query", method: "GET",
			url: base + "/v2/conversations?limit=5&sort=%2DcreatedAt&status=%61ctive", wantBody: `[{"id":"5bb0277fd99faf11a3f4a37e","status":"active"}]`},
		{name: "changed query value", method: "GET", url: base + "/v2/conversations?status=queued&limit=5&sort=-createdAt",
			wantDiffs: []string{`query "status": got ["queued"], recorded ["active"]`}},
		{name: "extra query parameter", method: "GET", url: base + "/v2/conversations?status=active&limit=5&sort=-createdAt&offset=5",
			wantDiffs: []string{`query "offset": got ["5"], not recorded`}},
		{name: "missing query parameter", method: "GET", url: base + "/v2/conversations?status=active&limit=5",
			wantDiffs: []string{`query "sort": missing, recorded ["-createdAt"]`}},
		{name: "recorded key order", method: "POST", url: base + "/v2/conversations/5bb0277fd99faf11a3f4a37e/messages",
			body: `{"type":"chat","text":"hello","meta":{"intent":"greeting","score":0.9}}`, wantBody: `{"id":"5bb0277fd99faf11a3f4a400","text":"hello"}`},
		{name: "other key order and spacing", method: "POST", url: base + "/v2/conversations/5bb0277fd99faf11a3f4a37e/messages",
			body: "{ \"meta\": {\"score\": 0.9, \"intent\": \"greeting\"},\n \"text\": \"hello\", \"type\": \"chat\" }", wantBody: `{"id":"5bb0277fd99faf11a3f4a400","text":"hello"}`},
		{name: "changed body value", method: "POST", url: base + "/v2/conversations/5bb0277fd99faf11a3f4a37e/messages",
			body: `{"type":"chat","text":"hello!","meta":{"intent":"greeting","score":0.9}}`, wantDiffs: []string{`body.text: got "hello!", recorded "hello"`}},
		{name: "changed nested value", method: "POST", url: base + "/v2/conversations/5bb0277fd99faf11a3f4a37e/messages",
			body: `{"type":"chat","text":"hello","meta":{"intent":"greeting","score":0.8}}`, wantDiffs: []string{`body.meta.score: got 0.8, recorded 0.9`}},
		{name: "extra body key", method: "POST", url: base + "/v2/conversations/5bb0277fd99faf11a3f4a37e/messages",
			body: `{"type":"chat","text":"hello","meta":{"intent":"greeting","score":0.9},"role":"bot"}`, wantDiffs: []string{`body.role: got "bot", not recorded`}},
		{name: "changed method", method: "PUT", url: base + "/v2/conversations/5bb0277fd99faf11a3f4a37e/messages",
			body: `{"type":"chat","text":"hello","meta":{"intent":"greeting","score":0.9}}`, wantDiffs: []string{`method: got PUT, recorded POST`}},
		{name: "changed path", method: "GET", url: base + "/v2/contacts?status=active&limit=5&sort=-createdAt",
			wantDiffs: []string{`path: got /v2/contacts, recorded /v2/conversations`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			rep, err := replay.NewReplayer(matchDir)
			require.NoError(t, err)
			resp, body, err := do(t, rep.Client(), tc.method, tc.url, tc.body)
			if tc.wantBody != "" {
				require.NoError(t, err)
				assert.JSONEq(t, tc.wantBody, body)
				assert.Zero(t, rep.Misses())
				return
			}
			require.Error(t, err)
			assert.Nil(t, resp)
			var nf *replay.NoFixtureError
			require.ErrorAs(t, err, &nf)
			assert.ErrorIs(t, err, replay.ErrNoFixture)
			assert.Equal(t, tc.wantDiffs, nf.Differences)
			assert.Equal(t, tc.method, nf.Method)
			assert.NotEmpty(t, nf.Closest)
			assert.Contains(t, err.Error(), "no recorded exchange for "+tc.method+" ")
			assert.Contains(t, err.Error(), "closest is "+nf.Closest)
			assert.Equal(t, 1, rep.Misses())
		})
	}
}

func TestRepeatedRequestsReplayInRecordedOrder(t *testing.T) {
	t.Parallel()
	rep, err := replay.NewReplayer(matchDir)
	require.NoError(t, err)
	for _, want := range []string{`"queued"`, `"active"`} {
		_, body, err := do(t, rep.Client(), "GET", "http://127.0.0.1:9/v2/conversations/5bb0277fd99faf11a3f4a37e", "")
		require.NoError(t, err)
		assert.Contains(t, body, want)
	}
	_, _, err = do(t, rep.Client(), "GET", "http://127.0.0.1:9/v2/conversations/5bb0277fd99faf11a3f4a37e", "")
	var nf *replay.NoFixtureError
	require.ErrorAs(t, err, &nf)
	assert.Empty(t, nf.Differences)
	assert.Equal(t, "0003-GET-conversations-5bb0277fd99faf11a3f4a37e.json", nf.Closest)
	assert.Contains(t, err.Error(), "every recorded answer was already replayed")
}

func TestReplayPutsTheOriginBack(t *testing.T) {
	t.Parallel()
	rep, err := replay.NewReplayer(matchDir)
	require.NoError(t, err)
	resp, body, err := do(t, rep.Client(), "GET", "http://127.0.0.1:9/v2/conversations?limit=5&sort=-createdAt&status=active", "")
	require.NoError(t, err)
	assert.Equal(t, `<http://127.0.0.1:9/v2/conversations?limit=5&offset=5&sort=-createdAt&status=active>; rel="next"`, resp.Header.Get("Link"))
	assert.Equal(t, "12", resp.Header.Get("X-Total"))
	assert.Equal(t, "application/json; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.NotContains(t, body, replay.RecordedOrigin)
}

// TestChangedRequestFailsOnce replays a changed request through the client:
// it fails with the *NoFixtureError after one attempt. Retries are off here;
// TestChangedRequestNotRetriedByDefault checks the client's own decision.
func TestChangedRequestFailsOnce(t *testing.T) {
	t.Parallel()
	rep, err := replay.NewReplayer(matchDir)
	require.NoError(t, err)
	c := newClient(t, "any-token", otherBase, rep.Client(), chatshipper.WithMaxRetries(0))
	q := chatshipper.NewQuery().Where("status", chatshipper.Eq("closed")).Sort("-createdAt").Limit(5)
	_, _, err = c.Conversations.List(context.Background(), q)
	require.Error(t, err)
	var nf *replay.NoFixtureError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "0001-GET-conversations.json", nf.Closest)
	assert.Equal(t, []string{`query "status": got ["closed"], recorded ["active"]`}, nf.Differences)
	assert.Equal(t, 1, rep.Calls())
	// A plain error: nothing marks it temporary or a timeout.
	_, isNet := any(nf).(net.Error)
	assert.False(t, isNet)
	_, temporary := any(nf).(interface{ Temporary() bool })
	assert.False(t, temporary)
}

// TestChangedRequestNotRetriedByDefault is the same with the client's default
// retry policy: one attempt, so no retry wait (the time it takes is measured
// by BenchmarkReplayMiss, not asserted here).
func TestChangedRequestNotRetriedByDefault(t *testing.T) {
	t.Parallel()
	rep, err := replay.NewReplayer(matchDir)
	require.NoError(t, err)
	c, err := chatshipper.NewClient("any-token", chatshipper.WithBaseURL(otherBase), chatshipper.WithHTTPClient(rep.Client()))
	require.NoError(t, err)
	_, _, err = c.Conversations.List(context.Background(), chatshipper.NewQuery().Where("status", chatshipper.Eq("closed")).Limit(5))
	require.ErrorIs(t, err, replay.ErrNoFixture)
	assert.Equal(t, 1, rep.Calls(), "one attempt")
}

func TestNoFixturesAtAll(t *testing.T) {
	t.Parallel()
	rep, err := replay.NewReplayer(t.TempDir())
	require.NoError(t, err)
	_, _, err = do(t, rep.Client(), "GET", "https://api.example.com/v2/users?limit=1", "")
	var nf *replay.NoFixtureError
	require.ErrorAs(t, err, &nf)
	assert.Empty(t, nf.Closest)
	assert.Contains(t, err.Error(), "no recorded exchange for GET /v2/users?limit=1 in ")
	assert.Contains(t, err.Error(), "-chatshipper.record")

	_, err = replay.NewReplayer(filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestMissDoesNotRevealSecrets(t *testing.T) {
	t.Parallel()
	rep, err := replay.NewReplayer(matchDir)
	require.NoError(t, err)
	_, _, err = do(t, rep.Client(), "POST", "https://api.example.com/v2/auth/token",
		`{"email":"a@example.com","password":"canary-pw-31337"}`)
	require.ErrorIs(t, err, replay.ErrNoFixture)
	assert.NotContains(t, err.Error(), "canary-pw-31337")
}

func TestRegisterOnHTTPMock(t *testing.T) {
	t.Parallel()
	mt := newMock()
	mt.RegisterResponder("GET", "https://other.example.com/ping", httpmockString(200, "pong"))
	rep, err := replay.Register(mt, matchDir)
	require.NoError(t, err)
	hc := &http.Client{Transport: mt}

	_, body, err := do(t, hc, "GET", "https://api.example.com/v2/conversations?sort=-createdAt&status=active&limit=5", "")
	require.NoError(t, err)
	assert.Contains(t, body, "5bb0277fd99faf11a3f4a37e")
	_, body, err = do(t, hc, "GET", "https://other.example.com/ping", "")
	require.NoError(t, err)
	assert.Equal(t, "pong", body, "the test's own responders keep working")

	for _, u := range []string{
		"https://api.example.com/v2/conversations?status=closed",  // a recorded route
		"https://api.example.com/v2/organizations/5bb0277fd99faf", // an unrecorded one
	} {
		_, _, err = do(t, hc, "GET", u, "")
		var nf *replay.NoFixtureError
		require.ErrorAs(t, err, &nf, u)
		assert.NotEmpty(t, nf.Closest)
	}
	assert.Equal(t, 3, rep.Calls())
}

func TestSeedFromRecording(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	a := newFake(t)
	dir := t.TempDir()
	rec, err := replay.NewRecorder(dir)
	require.NoError(t, err)
	recorded, err := contactScenario(ctx, newClient(t, a.Token, a.URL, rec.Client()), a.Seed.OrganizationID)
	require.NoError(t, err)
	ids := scenarioIDs(t, recorded)
	want, ok := a.Get("contacts", ids[0])
	require.True(t, ok)

	b := newFake(t, chatshippertest.WithSeed(99))
	n, err := replay.Seed(b, dir)
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the contact deleted in the recording is not seeded")
	got, ok := b.Get("contacts", ids[0])
	require.True(t, ok)
	assert.Equal(t, want, got)
	_, ok = b.Get("contacts", ids[1])
	assert.False(t, ok)

	// The stateful fake serves the seeded document.
	c := newClient(t, b.Token, b.URL, b.Client())
	contact, _, err := c.Contacts.Get(ctx, ids[0], nil)
	require.NoError(t, err)
	assert.Equal(t, "Ada Lovelace", contact.Profile.Name)
	assert.Equal(t, "gold", contact.Meta.Get("tier"))
}

func TestNewRecordsThenReplays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newFake(t)
	dir := filepath.Join(t.TempDir(), "fixtures", t.Name())
	run := func(rp *replay.Session, token, base string) string {
		c, err := chatshipper.NewClient(token, append([]chatshipper.Option{chatshipper.WithBaseURL(base)}, rp.ClientOptions()...)...)
		require.NoError(t, err)
		list, resp, err := c.Users.List(ctx, chatshipper.NewQuery().Sort("email").Limit(2))
		require.NoError(t, err)
		return fmt.Sprint(len(list), list[0].ID, resp.Total)
	}
	rp := replay.New(t, dir, replay.WithRecording(true))
	require.True(t, rp.Recording())
	require.NotNil(t, rp.Recorder())
	recorded := run(rp, srv.Token, srv.URL)
	srv.Close()

	rp = replay.New(t, dir, replay.WithRecording(false))
	require.False(t, rp.Recording())
	require.NotNil(t, rp.Replayer())
	assert.Equal(t, recorded, run(rp, "replayed", otherBase))
}

func TestRecordingIsOffByDefault(t *testing.T) {
	t.Setenv(replay.RecordEnv, "")
	assert.False(t, replay.Recording())
	t.Setenv(replay.RecordEnv, "1")
	assert.True(t, replay.Recording())
	t.Setenv(replay.RecordEnv, "0")
	assert.False(t, replay.Recording())
}

func newMock() *httpmock.MockTransport { return httpmock.NewMockTransport() }

func httpmockString(status int, body string) httpmock.Responder {
	return httpmock.NewStringResponder(status, body)
}

// TestConcurrentRecordAndReplay records and replays calls made from several
// goroutines: each file is one exchange, and every call is answered.
func TestConcurrentRecordAndReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newFake(t)
	dir := t.TempDir()
	rec, err := replay.NewRecorder(dir)
	require.NoError(t, err)
	ids := append([]string{srv.Seed.BotUserID, srv.Seed.AdminUserID, srv.Seed.GuestUserID}, srv.Seed.AgentUserIDs...)
	fetch := func(c *chatshipper.Client) []string {
		out := make([]string, len(ids))
		errs := make(chan error, len(ids))
		for i, id := range ids {
			go func() {
				u, _, err := c.Users.Get(ctx, id, nil)
				if err == nil {
					out[i] = u.Email
				}
				errs <- err
			}()
		}
		for range ids {
			require.NoError(t, <-errs)
		}
		return out
	}
	recorded := fetch(newClient(t, srv.Token, srv.URL, rec.Client()))
	require.Len(t, rec.Files(), len(ids))
	srv.Close()
	rep, err := replay.NewReplayer(dir)
	require.NoError(t, err)
	assert.Equal(t, recorded, fetch(newClient(t, "t", otherBase, rep.Client())))
	assert.Empty(t, rep.Unused())
}

// TestScrubbingFollowsSecretsAnywhere feeds the recorder answers that repeat
// a secret under keys that do not look secret: the secret learnt once, every
// JWT, X-Hub-Signature values and cookies never reach a file.
func TestScrubbingFollowsSecretsAnywhere(t *testing.T) {
	t.Parallel()
	const (
		refresh = "rt-canary-0123456789"
		jwt     = "eyJhbGciOiJIUzI1NiJ9.eyJfaWQiOiJjYW5hcnkifQ.c2lnbmF0dXJlLWNhbmFyeQ"
		sig     = "sha1=0badc0ffee0badc0ffee"
		cookie  = "session=cookie-canary-42"
	)
	mt := newMock()
	mt.RegisterResponder("POST", "https://api.example.com/v2/auth/token", func(*http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(201, `{"token":"`+jwt+`","refreshToken":"`+refresh+`"}`)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Set-Cookie", cookie)
		return r, nil
	})
	mt.RegisterResponder("GET", "https://api.example.com/v2/notes", httpmockString(200,
		`{"note":"was `+refresh+`","seen":"`+jwt+`","headers":{"X-Hub-Signature":"`+sig+`"},"link":"https://api.example.com/v2/notes?offset=1"}`))
	dir := t.TempDir()
	rec, err := replay.NewRecorder(dir, replay.WithTransport(mt))
	require.NoError(t, err)
	hc := rec.Client()
	_, _, err = do(t, hc, "POST", "https://api.example.com/v2/auth/token", `{"email":"a@example.com","password":"pw-canary-77"}`)
	require.NoError(t, err)
	req, err := http.NewRequest("GET", "https://api.example.com/v2/notes?q="+refresh+"&access_token=qs-canary-99", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+jwt)
	req.Header.Set("X-Api-Key", "hdr-canary-55")
	resp, err := hc.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())

	var all []byte
	for _, f := range rec.Files() {
		b, err := os.ReadFile(filepath.Join(dir, f))
		require.NoError(t, err)
		all = append(all, b...)
	}
	for _, canary := range []string{refresh, jwt, sig, "cookie-canary", "pw-canary-77", "qs-canary-99", "api.example.com"} {
		assert.NotContains(t, string(all), canary)
	}
	assert.Contains(t, string(all), `"note": "was [redacted]"`)
	assert.Contains(t, string(all), `"link": "`+replay.RecordedOrigin+`/v2/notes?offset=1"`)
}

// TestScrubKeysRedactsAndStillMatches redacts a caller's key on both sides:
// recorded values are hidden, and a replayed request with any value under
// that key still matches.
func TestScrubKeysRedactsAndStillMatches(t *testing.T) {
	t.Parallel()
	mt := newMock()
	mt.RegisterResponder("POST", "https://api.example.com/v2/contacts", httpmockString(201,
		`{"id":"5bb0277fd99faf11a3f4a500","profile":{"name":"Ada Lovelace","locale":"en"}}`))
	dir := t.TempDir()
	scrub := replay.WithScrubber(replay.ScrubKeys("Name", "customer"))
	rec, err := replay.NewRecorder(dir, scrub, replay.WithTransport(mt))
	require.NoError(t, err)
	_, _, err = do(t, rec.Client(), "POST", "https://api.example.com/v2/contacts?customer=acme", `{"profile":{"name":"Ada Lovelace","locale":"en"}}`)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, rec.Files()[0]))
	require.NoError(t, err)
	assert.NotContains(t, string(b), "Lovelace")
	assert.NotContains(t, string(b), "acme")
	assert.Contains(t, string(b), `"locale": "en"`)

	rep, err := replay.NewReplayer(dir, scrub)
	require.NoError(t, err)
	_, body, err := do(t, rep.Client(), "POST", "http://127.0.0.1:9/v2/contacts?customer=other", `{"profile":{"locale":"en","name":"Someone Else"}}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"5bb0277fd99faf11a3f4a500","profile":{"name":"[redacted]","locale":"en"}}`, body)
	_, _, err = do(t, rep.Client(), "POST", "http://127.0.0.1:9/v2/contacts?customer=other", `{"profile":{"locale":"nl","name":"Someone Else"}}`)
	require.ErrorIs(t, err, replay.ErrNoFixture, "a value under another key still counts")
}

func TestSeedSkipsPartialAnswers(t *testing.T) {
	t.Parallel()
	srv := newFake(t)
	n, err := replay.Seed(srv, "testdata/seed")
	require.NoError(t, err)
	assert.Equal(t, 1, n)
	_, ok := srv.Get("contacts", "5bb0277fd99faf11a3f4a501")
	assert.False(t, ok, "an answer with populate is skipped")
	got, ok := srv.Get("contacts", "5bb0277fd99faf11a3f4a502")
	require.True(t, ok)
	origin := strings.TrimSuffix(srv.URL, "/v2/")
	assert.Equal(t, map[string]any{"id": "5bb0277fd99faf11a3f4a502", "conversation": "5bb0277fd99faf11a3f4a37e",
		"profile": map[string]any{"name": "Grace Hopper"},
		"meta":    map[string]any{"crm": origin + "/v2/contacts/5bb0277fd99faf11a3f4a502"}}, got)
	_, ok = srv.Get("messages", "5bb0277fd99faf11a3f4a504")
	assert.False(t, ok, "only /v2/<collection> and /v2/<collection>/<id> answers are read")

	_, err = replay.Seed(srv, filepath.Join(t.TempDir(), "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// TestFixtureNamesAndContentsScrubbedAlike records exchanges whose paths,
// bodies and answers carry credentials the scrubbing must find: a webhook
// URL's user info and token query value, keys naming a key (accessKey,
// signingKey), a numeric one-time code, the bearer token and an e-mail
// address in the path. No canary reaches a file name or a file, the
// delivery key and ordinary key fields stay, and the recording replays.
func TestFixtureNamesAndContentsScrubbedAlike(t *testing.T) {
	t.Parallel()
	const (
		bearer     = "tok-CANARY-path-5a1b"
		urlPass    = "upw-CANARY-2c3d"
		urlToken   = "qtok-CANARY-4e5f"
		urlUser    = "utok-CANARY-6a7b"
		accessKey  = "ak-CANARY-8c9d"
		signingKey = "sk-CANARY-0e1f"
		otp        = 482913
		email      = "jane.doe@example.com"
		delivery   = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
	)
	hookURL := "https://bob:" + urlPass + "@hooks.example.com/in?token=" + urlToken + "&source=cs"
	userURL := "https://" + urlUser + "@hooks.example.com/other"
	mt := newMock()
	echo := func(status int, extra map[string]any) httpmock.Responder {
		return func(req *http.Request) (*http.Response, error) {
			var body map[string]any
			if req.Body != nil {
				_ = json.NewDecoder(req.Body).Decode(&body)
			}
			if body == nil {
				body = map[string]any{}
			}
			body["id"] = "5bb0277fd99faf11a3f4a600"
			for k, v := range extra {
				body[k] = v
			}
			r, err := httpmock.NewJsonResponse(status, body)
			if err == nil {
				r.Header.Set("Link", `<https://api.example.com/v2/services?offset=1>; rel="next"`)
			}
			return r, err
		}
	}
	mt.RegisterResponder("POST", "https://api.example.com/v2/auth/token", echo(201, map[string]any{
		"token": "opaque-login-token-1234", "accessKey": accessKey, "credentials": map[string]any{"signingKey": signingKey}}))
	mt.RegisterResponder("POST", "https://api.example.com/v2/services", echo(201, map[string]any{"note": "will call " + hookURL}))
	mt.RegisterResponder("GET", "https://api.example.com/v2/tokens/"+bearer, echo(200, nil))
	mt.RegisterResponder("GET", "https://api.example.com/v2/contacts/"+email, echo(200, map[string]any{"email": email}))
	dir := t.TempDir()
	emailRe := regexp.MustCompile(`[\w.+-]+@[\w-]+(\.[\w-]+)+`)
	scrub := replay.WithScrubber(replay.ScrubRegexp(emailRe, "user@example.com"))
	rec, err := replay.NewRecorder(dir, scrub, replay.WithTransport(mt))
	require.NoError(t, err)
	hc := rec.Client()
	send := func(hc *http.Client, method, path, body string) string {
		req, err := http.NewRequest(method, "https://api.example.com"+path, strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+bearer)
		resp, err := hc.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var buf bytes.Buffer
		_, err = buf.ReadFrom(resp.Body)
		require.NoError(t, err)
		return buf.String()
	}
	bodies := []struct{ method, path, body string }{
		{"POST", "/v2/auth/token", fmt.Sprintf(`{"email":%q,"password":"pw-CANARY-9f8e","otp":%d}`, email, otp)},
		{"POST", "/v2/services", fmt.Sprintf(`{"type":"webhook","params":{"url":%q,"secret":"whsec-CANARY-3b2a","events":["message.*"]},`+
			`"meta":{"chatshipperDeliveryKey":%q,"fieldKey":"firstName","callback":%q}}`, hookURL, delivery, userURL)},
		{"GET", "/v2/tokens/" + bearer, ""},
		{"GET", "/v2/contacts/" + email, ""},
	}
	for _, b := range bodies {
		send(hc, b.method, b.path, b.body)
	}

	files := rec.Files()
	assert.Equal(t, []string{"0001-POST-auth-token.json", "0002-POST-services.json", "0003-GET-tokens-redacted.json",
		"0004-GET-contacts-user-example.com.json"}, files)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var names []string
	var all []byte
	for _, e := range entries {
		names = append(names, e.Name())
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		require.NoError(t, err)
		all = append(all, b...)
	}
	assert.Equal(t, files, names, "every file the recorder wrote, and no other")
	canaries := []string{bearer, urlPass, urlToken, urlUser, accessKey, signingKey, "482913", email, "pw-CANARY", "whsec-CANARY", "opaque-login-token-1234"}
	for _, c := range canaries {
		for _, n := range names {
			assert.NotContains(t, n, c, "file name")
		}
		assert.NotContains(t, string(all), c, "fixture contents")
	}
	text := string(all)
	assert.Contains(t, text, `"url": "https://bob:[redacted]@hooks.example.com/in?token=[redacted]&source=cs"`)
	assert.Contains(t, text, `"callback": "https://[redacted]@hooks.example.com/other"`)
	assert.Contains(t, text, `"otp": "[redacted]"`)
	assert.Contains(t, text, `"accessKey": "[redacted]"`)
	assert.Contains(t, text, `"signingKey": "[redacted]"`)
	assert.Contains(t, text, `"chatshipperDeliveryKey": "`+delivery+`"`, "the delivery key is no secret")
	assert.Contains(t, text, `"fieldKey": "firstName"`, "nor is a field key")
	assert.Contains(t, text, `"path": "/v2/tokens/[redacted]"`)
	assert.Contains(t, text, `"path": "/v2/contacts/user@example.com"`)
	assert.Contains(t, text, "5bb0277fd99faf11a3f4a600", "ids stay")

	// The recording replays, with other credentials of the same shape.
	rep, err := replay.NewReplayer(dir, scrub)
	require.NoError(t, err)
	rc := rep.Client()
	other := strings.NewReplacer(urlPass, "other-pass", urlToken, "other-token", urlUser, "other-user", "482913", "111111", "pw-CANARY-9f8e", "other-pw",
		"whsec-CANARY-3b2a", "other-secret", email, "john@example.org")
	for i, b := range bodies {
		if i == 2 {
			continue // the replayer learns no token, so a path holding one does not replay
		}
		send(rc, b.method, other.Replace(b.path), other.Replace(b.body))
	}
	assert.Zero(t, rep.Misses())
	assert.Equal(t, []string{"0003-GET-tokens-redacted.json"}, rep.Unused())
}

// deliveryBot creates a conversation with initial messages, sends a batch and
// runs a command, all with delivery tracking on (the default), and returns
// what it got with the delivery keys taken out, and the keys apart.
func deliveryBot(ctx context.Context, c *chatshipper.Client) (string, []string, error) {
	conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "Orders",
		Messages: []chatshipper.MessageInput{chatshipper.Chat("Hello"), chatshipper.Chat("How can I help?")}})
	if err != nil {
		return "", nil, err
	}
	sent, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("one"), chatshipper.Chat("two"),
		chatshipper.Chat("three").WithMeta("order", 17))
	if err != nil {
		return "", nil, err
	}
	cmd, _, err := c.Conversations.Command(ctx, conv.ID, chatshipper.Notify())
	if err != nil {
		return "", nil, err
	}
	var keys []string
	out := []any{conv.ID, conv.Name, conv.Status}
	key := func(m chatshipper.Object) {
		k, _ := m.Get(chatshipper.DeliveryKeyMeta).(string)
		keys = append(keys, k)
	}
	key(conv.Meta)
	for _, r := range conv.Messages {
		out = append(out, r.ID)
	}
	for _, m := range append(sent, cmd) {
		key(m.Meta)
		out = append(out, m.ID, m.Text, m.Type, m.Meta.Get("order"))
	}
	j, err := json.Marshal(out)
	return string(j), keys, err
}

// wireKeys records the delivery keys a client puts on the wire, in order.
type wireKeys struct {
	next http.RoundTripper
	mu   sync.Mutex
	keys []string
}

func (w *wireKeys) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body != nil && req.Method == http.MethodPost {
		b, err := io.ReadAll(req.Body)
		if err != nil {
			return nil, err
		}
		req.Body = io.NopCloser(bytes.NewReader(b))
		re := regexp.MustCompile(`"` + chatshipper.DeliveryKeyMeta + `":"([^"]+)"`)
		w.mu.Lock()
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			w.keys = append(w.keys, m[1])
		}
		w.mu.Unlock()
	}
	return w.next.RoundTrip(req)
}

// TestDeliveryKeysRecordAndReplay records a bot against the fake and replays
// it with delivery tracking on, as by default: every tracked POST carries
// new random keys, the replay matches the recorded exchanges whatever their
// keys, and answers with the keys the replaying client sent, so what the bot
// gets back carries its own keys.
func TestDeliveryKeysRecordAndReplay(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newFake(t)
	dir := filepath.Join(t.TempDir(), "fixtures")
	rp := replay.New(t, dir, replay.WithRecording(true))
	c, err := chatshipper.NewClient(srv.Token, append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL)}, rp.ClientOptions()...)...)
	require.NoError(t, err)
	recorded, recKeys, err := deliveryBot(ctx, c)
	require.NoError(t, err)
	require.Len(t, recKeys, 5, "the conversation, 3 sent, 1 command")
	for _, k := range recKeys {
		require.NotEmpty(t, k)
	}
	files := rp.Recorder().Files()
	srv.Close()

	rp = replay.New(t, dir, replay.WithRecording(false))
	spy := &wireKeys{next: rp.Transport()}
	c, err = chatshipper.NewClient("replayed", append(rp.ClientOptions(), chatshipper.WithBaseURL(otherBase),
		chatshipper.WithHTTPClient(&http.Client{Transport: spy}))...)
	require.NoError(t, err)
	replayed, gotKeys, err := deliveryBot(ctx, c)
	require.NoError(t, err)
	assert.JSONEq(t, recorded, replayed)
	require.Len(t, spy.keys, 7, "the conversation, 2 initial messages, 3 sent, 1 command")
	for i, k := range gotKeys {
		assert.Contains(t, spy.keys, k, "every object comes back with the key the replaying client sent")
		assert.NotEqual(t, recKeys[i], k, "a new random key")
	}
	assert.Zero(t, rp.Replayer().Misses())
	assert.Empty(t, rp.Replayer().Unused())
	assert.Len(t, files, rp.Replayer().Calls())
}

// TestDeliveryKeyLookupReplays replays the SDK's delivery lookup (a GET with
// meta.chatshipperDeliveryKey=[k1,k2]) and a send whatever their keys: the
// answer, its Link header included, carries the replayed keys in place of the
// recorded ones; a lookup for another number of keys, or with another
// operator, does not match.
func TestDeliveryKeyLookupReplays(t *testing.T) {
	t.Parallel()
	const (
		conv = "5bb0277fd99faf11a3f4a37e"
		k1   = "0123456789abcdef0123456789abcdef"
		k2   = "fedcba9876543210fedcba9876543210"
		n1   = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa1"
		n2   = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb2"
	)
	lookup := func(keys string) string {
		return "https://api.example.com/v2/messages?conversation=" + conv + "&meta.chatshipperDeliveryKey=" + url.QueryEscape(keys) + "&limit=200"
	}
	mt := newMock()
	mt.RegisterResponder("GET", "https://api.example.com/v2/messages", func(req *http.Request) (*http.Response, error) {
		r := httpmock.NewStringResponse(200, `[{"id":"5bb0277fd99faf11a3f4a401","meta":{"chatshipperDeliveryKey":"`+k1+`"}},`+
			`{"id":"5bb0277fd99faf11a3f4a402","meta":{"chatshipperDeliveryKey":"`+k2+`"}}]`)
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Link", "<"+lookup("["+k1+","+k2+"]")+"&offset=200>; rel=\"next\"")
		return r, nil
	})
	mt.RegisterResponder("POST", "https://api.example.com/v2/conversations/"+conv+"/messages", func(req *http.Request) (*http.Response, error) {
		return httpmock.NewStringResponse(201, `{"id":"5bb0277fd99faf11a3f4a403","text":"ok a1 a1b","meta":{"chatshipperDeliveryKey":"a1"}}`), nil
	})
	dir := t.TempDir()
	rec, err := replay.NewRecorder(dir, replay.WithTransport(mt))
	require.NoError(t, err)
	_, _, err = do(t, rec.Client(), "GET", lookup("["+k1+","+k2+"]"), "")
	require.NoError(t, err)
	_, _, err = do(t, rec.Client(), "POST", "https://api.example.com/v2/conversations/"+conv+"/messages",
		`{"type":"chat","text":"ok","meta":{"chatshipperDeliveryKey":"a1"}}`)
	require.NoError(t, err)

	rep, err := replay.NewReplayer(dir)
	require.NoError(t, err)
	resp, body, err := do(t, rep.Client(), "GET", lookup("["+n1+","+n2+"]"), "")
	require.NoError(t, err)
	assert.JSONEq(t, `[{"id":"5bb0277fd99faf11a3f4a401","meta":{"chatshipperDeliveryKey":"`+n1+`"}},`+
		`{"id":"5bb0277fd99faf11a3f4a402","meta":{"chatshipperDeliveryKey":"`+n2+`"}}]`, body)
	assert.Equal(t, "<"+lookup("["+n1+","+n2+"]")+"&offset=200>; rel=\"next\"", resp.Header.Get("Link"))

	// A short caller-set key is replaced where it stands alone.
	_, body, err = do(t, rep.Client(), "POST", "https://api.example.com/v2/conversations/"+conv+"/messages",
		`{"type":"chat","text":"ok","meta":{"chatshipperDeliveryKey":"b2"}}`)
	require.NoError(t, err)
	assert.JSONEq(t, `{"id":"5bb0277fd99faf11a3f4a403","text":"ok b2 a1b","meta":{"chatshipperDeliveryKey":"b2"}}`, body)
	assert.Zero(t, rep.Misses())

	for _, keys := range []string{"[" + n1 + "]", "![" + n1 + "," + n2 + "]"} {
		rep, err := replay.NewReplayer(dir)
		require.NoError(t, err)
		_, _, err = do(t, rep.Client(), "GET", lookup(keys), "")
		var nf *replay.NoFixtureError
		require.ErrorAs(t, err, &nf)
		assert.Len(t, nf.Differences, 1)
		assert.Contains(t, nf.Differences[0], `query "meta.chatshipperDeliveryKey": got `)
	}
	// A changed body is still told apart, and the key is not called a difference.
	rep, err = replay.NewReplayer(dir)
	require.NoError(t, err)
	_, _, err = do(t, rep.Client(), "POST", "https://api.example.com/v2/conversations/"+conv+"/messages",
		`{"type":"chat","text":"other","meta":{"chatshipperDeliveryKey":"c3"}}`)
	var nf *replay.NoFixtureError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, []string{`body.text: got "other", recorded "ok"`}, nf.Differences)
}

// TestURLCredentialsRecordAndReplay records a request whose JSON body holds a
// URL with credentials, in every place a redacted value can end (the end of
// the string, before "&", before "#", in a fragment, before a quote, before
// a closing parenthesis, percent-encoded, as user info), and replays it with
// other credentials of the same shape. The recorder redacts a value it learnt
// first and then the URL, the replayer only the URL: both must write the
// same well-formed "[redacted]".
func TestURLCredentialsRecordAndReplay(t *testing.T) {
	t.Parallel()
	cases := []struct{ url, want string }{
		{"https://h.example/cb?token=qtok3nvalue99", "https://h.example/cb?token=[redacted]"},
		{"https://h.example/cb?token=qtok3nvalue99&x=1", "https://h.example/cb?token=[redacted]&x=1"},
		{"https://h.example/cb?token=qtok3nvalue99#top", "https://h.example/cb?token=[redacted]#top"},
		{"https://h.example/cb#access_token=qtok3nvalue99", "https://h.example/cb#access_token=[redacted]"},
		{`call "https://h.example/cb?token=qtok3nvalue99" now`, `call "https://h.example/cb?token=[redacted]" now`},
		{"call (https://h.example/cb?token=qtok3nvalue99).", "call (https://h.example/cb?token=[redacted])."},
		{"https://h.example/cb?token=q%2Btok%2F3n%3D", "https://h.example/cb?token=[redacted]"},
		{"https://hookuser:hookpa55word@h.example/cb", "https://hookuser:[redacted]@h.example/cb"},
		{"https://hookuser:hookpa55word@h.example/cb?token=qtok3nvalue99", "https://hookuser:[redacted]@h.example/cb?token=[redacted]"},
		{"https://tok3nAsUserName99@h.example/cb", "https://[redacted]@h.example/cb"},
	}
	other := strings.NewReplacer("qtok3nvalue99", "otherval0042", "q%2Btok%2F3n%3D", "o%2Fther%3D", "hookpa55word", "otherpa55", "tok3nAsUserName99", "otherUserName11")
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			t.Parallel()
			mt := newMock()
			mt.RegisterResponder("POST", "https://api.example.com/v2/services", func(req *http.Request) (*http.Response, error) {
				b, _ := io.ReadAll(req.Body)
				return httpmock.NewBytesResponse(201, b), nil
			})
			dir := t.TempDir()
			rec, err := replay.NewRecorder(dir, replay.WithTransport(mt))
			require.NoError(t, err)
			body := func(u string) string {
				b, _ := json.Marshal(map[string]any{"type": "webhook", "params": map[string]any{"url": u}})
				return string(b)
			}
			_, _, err = do(t, rec.Client(), "POST", "https://api.example.com/v2/services", body(tc.url))
			require.NoError(t, err)
			raw, err := os.ReadFile(filepath.Join(dir, rec.Files()[0]))
			require.NoError(t, err)
			var fx struct {
				Request struct {
					Body struct {
						Params struct {
							URL string `json:"url"`
						} `json:"params"`
					} `json:"body"`
				} `json:"request"`
			}
			require.NoError(t, json.Unmarshal(raw, &fx))
			assert.Equal(t, tc.want, fx.Request.Body.Params.URL)

			rep, err := replay.NewReplayer(dir)
			require.NoError(t, err)
			_, _, err = do(t, rep.Client(), "POST", "https://api.example.com/v2/services", body(other.Replace(tc.url)))
			require.NoError(t, err)
			assert.Zero(t, rep.Misses())
			assert.Empty(t, rep.Unused())
		})
	}
}

// TestDroppedConnectionRecordsAndReplays records a send whose connection the
// server drops after storing the messages: the SDK looks its delivery keys up
// and returns what was stored. The dropped exchange is recorded as a
// transport failure, and the replay of the same code fails the send in the
// same way, so the SDK's lookup replays from the next fixture and the send
// returns the same messages.
func TestDroppedConnectionRecordsAndReplays(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := newFake(t, chatshippertest.WithLoopLimits(0, 0, 0, 0))
	dir := filepath.Join(t.TempDir(), "fixtures")
	run := func(rp *replay.Session, base string, drop func(convID string)) (string, error) {
		c, err := chatshipper.NewClient(srv.Token, append(rp.ClientOptions(), chatshipper.WithBaseURL(base),
			chatshipper.WithRetryWait(time.Millisecond, 2*time.Millisecond))...)
		require.NoError(t, err)
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "drops"})
		if err != nil {
			return "", err
		}
		drop(conv.ID)
		msgs, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("one").WithMeta(chatshipper.DeliveryKeyMeta, "k-1"), chatshipper.Chat("two"))
		if err != nil {
			return "", err
		}
		var out []string
		for _, m := range msgs {
			out = append(out, m.ID+" "+m.Text)
		}
		return strings.Join(out, ", "), nil
	}
	rec := replay.New(t, dir, replay.WithRecording(true))
	recorded, err := run(rec, srv.URL, func(convID string) {
		srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + convID + "/messages", Drop: chatshippertest.DropAfter, Count: 1})
	})
	require.NoError(t, err)
	files := rec.Recorder().Files()
	require.Len(t, files, 4, "create, the key lookup of k-1, the dropped send, the delivery lookup: %v", files)
	raw, err := os.ReadFile(filepath.Join(dir, files[2]))
	require.NoError(t, err)
	var fx map[string]any
	require.NoError(t, json.Unmarshal(raw, &fx))
	assert.NotContains(t, fx, "response", "no answer was received")
	assert.Contains(t, []any{replay.ErrorConnectionClosed, replay.ErrorConnectionReset}, fx["error"])
	srv.Close()

	rp := replay.New(t, dir, replay.WithRecording(false))
	replayed, err := run(rp, otherBase, func(string) {})
	require.NoError(t, err)
	assert.Equal(t, recorded, replayed)
	assert.Zero(t, rp.Replayer().Misses())
	assert.Empty(t, rp.Replayer().Unused())
}

// TestRecordedTransportFailures replays each kind of recorded transport
// failure as an error the SDK classifies as it did the original: a dropped,
// reset or timed-out request may have reached the server, a failure to
// connect did not, and another failure is no network failure (not retried).
func TestRecordedTransportFailures(t *testing.T) {
	t.Parallel()
	cases := []struct {
		kind    string
		is      error
		timeout bool
		reached bool
		calls   int // attempts with WithMaxRetries(1): network failures are retried
	}{
		{replay.ErrorConnectionClosed, io.ErrUnexpectedEOF, false, true, 2},
		{replay.ErrorConnectionReset, nil, false, true, 2},
		{replay.ErrorCouldNotConnect, nil, false, false, 2},
		{replay.ErrorTimeout, context.DeadlineExceeded, true, true, 2},
		{"tls: failed to verify certificate: x509: certificate signed by unknown authority", nil, false, true, 1},
	}
	for _, tc := range cases {
		t.Run(tc.kind, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			fx := fmt.Sprintf(`{"request":{"method":"GET","path":"/v2/conversations/5bb0277fd99faf11a3f4a37e"},"error":%q}`, tc.kind)
			for _, name := range []string{"0001-GET-conversations.json", "0002-GET-conversations.json"} {
				require.NoError(t, os.WriteFile(filepath.Join(dir, name), []byte(fx), 0o600))
			}
			rep, err := replay.NewReplayer(dir)
			require.NoError(t, err)
			c := newClient(t, "replayed", otherBase, rep.Client(), chatshipper.WithMaxRetries(1), chatshipper.WithRetryWait(time.Millisecond, time.Millisecond))
			_, _, err = c.Conversations.Get(context.Background(), "5bb0277fd99faf11a3f4a37e", nil)
			var te *chatshipper.TransportError
			require.ErrorAs(t, err, &te)
			var rte *replay.TransportError
			require.ErrorAs(t, err, &rte)
			assert.Equal(t, tc.kind, rte.Kind)
			assert.Equal(t, tc.timeout, rte.Timeout())
			if tc.is != nil {
				assert.ErrorIs(t, err, tc.is)
			}
			assert.Equal(t, tc.reached, te.MayHaveReachedServer())
			assert.Equal(t, tc.calls, rep.Calls())
			assert.Zero(t, rep.Misses())
		})
	}
	// A fixture holds an answer or a failure, never both nor neither.
	for _, bad := range []string{
		`{"request":{"method":"GET","path":"/v2/x"},"response":{"status":200},"error":"timeout"}`,
		`{"request":{"method":"GET","path":"/v2/x"}}`,
	} {
		dir := t.TempDir()
		require.NoError(t, os.WriteFile(filepath.Join(dir, "0001-GET-x.json"), []byte(bad), 0o600))
		_, err := replay.NewReplayer(dir)
		assert.ErrorContains(t, err, "either a response status or an error", bad)
	}
}
