package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// testFake serves a fake built from args (flags) on an httptest server.
func testFake(t *testing.T, args ...string) (*fake, info) {
	t.Helper()
	cfg, err := parseFlags(args, io.Discard)
	require.NoError(t, err)
	f, err := newFake(cfg)
	require.NoError(t, err)
	ts := httptest.NewUnstartedServer(f)
	require.NoError(t, f.start("http://"+ts.Listener.Addr().String()))
	ts.Start()
	t.Cleanup(func() {
		f.close()
		ts.Close()
	})
	return f, f.info()
}

// do makes a request and decodes a JSON answer into out (when not nil).
func do(t *testing.T, method, url, token string, body any, out any) int {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, ok := body.(string)
		if !ok {
			raw, err := json.Marshal(body)
			require.NoError(t, err)
			b = string(raw)
		}
		rd = strings.NewReader(b)
	}
	req, err := http.NewRequest(method, url, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	if out != nil && len(bytes.TrimSpace(raw)) > 0 {
		require.NoError(t, json.Unmarshal(raw, out), string(raw))
	}
	return resp.StatusCode
}

type obj = map[string]any

func TestControlReset(t *testing.T) {
	t.Parallel()
	_, in := testFake(t, "-rate-limit", "0", "-seed-file", "testdata/seed.json")
	bot := in.Tokens["bot"]
	var conv obj
	require.Equal(t, 201, do(t, "POST", in.URL+"conversations", bot, obj{"name": "Scratch", "messages": []any{obj{"text": "hi"}}}, &conv))
	require.Equal(t, 201, do(t, "POST", in.Control+"faults", "", obj{"path": "/v2/users", "status": 503}, nil))
	var list []obj
	require.Equal(t, 200, do(t, "GET", in.URL+"conversations", bot, nil, &list))
	require.Len(t, list, 3)

	var after info
	require.Equal(t, 200, do(t, "POST", in.Control+"reset", "", nil, &after))
	assert.Equal(t, in.SeedFile.Conversations, after.SeedFile.Conversations, "the same ids again (same seed, same order)")
	assert.Equal(t, in.Users, after.Users)
	require.Equal(t, 200, do(t, "GET", in.URL+"conversations", bot, nil, &list), "tokens from before the reset still work")
	assert.Len(t, list, 2, "only the seed file's conversations")
	assert.Equal(t, 200, do(t, "GET", in.URL+"users", bot, nil, nil), "faults are gone")
	var reqs struct{ Count int }
	require.Equal(t, 200, do(t, "GET", in.Control+"requests", "", nil, &reqs))
	assert.Equal(t, 2, reqs.Count, "the recordings started again")
	assert.Equal(t, 200, do(t, "GET", in.URL+"conversations", in.SeedFile.Tokens[0].Token, nil, nil))
}

func TestControlClock(t *testing.T) {
	t.Parallel()
	_, in := testFake(t, "-clock-start", "2024-05-01T09:00:00Z", "-clock-frozen", "-rate-limit", "0")
	date := func() string {
		req, err := http.NewRequest("GET", in.URL+"users/"+in.Users.Bot.ID, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+in.Tokens["bot"])
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		_ = resp.Body.Close()
		return resp.Header.Get("Date")
	}
	var st struct {
		Now    string
		Frozen bool
	}
	require.Equal(t, 200, do(t, "GET", in.Control+"clock", "", nil, &st))
	assert.Equal(t, "2024-05-01T09:00:00Z", st.Now)
	assert.True(t, st.Frozen)
	assert.Equal(t, "Wed, 01 May 2024 09:00:00 GMT", date())

	require.Equal(t, 200, do(t, "POST", in.Control+"clock", "", obj{"advance": "25h"}, &st))
	assert.Equal(t, "2024-05-02T10:00:00Z", st.Now)
	assert.Equal(t, "Thu, 02 May 2024 10:00:00 GMT", date())
	require.Equal(t, 200, do(t, "POST", in.Control+"clock", "", obj{"set": "2030-01-01T00:00:00Z"}, &st))
	assert.Equal(t, "2030-01-01T00:00:00Z", st.Now)
	require.Equal(t, 200, do(t, "POST", in.Control+"clock", "", obj{"frozen": false}, &st))
	assert.False(t, st.Frozen)

	for _, bad := range []any{obj{"advance": "a day"}, obj{"set": "tomorrow"}, obj{"set": "2030-01-01T00:00:00Z", "advance": "1h"},
		obj{}, obj{"speed": 2}, "nope"} {
		var e struct{ Error struct{ Message string } }
		assert.Equal(t, 400, do(t, "POST", in.Control+"clock", "", bad, &e), "%v", bad)
		assert.NotEmpty(t, e.Error.Message)
	}
	var after info
	require.Equal(t, 200, do(t, "POST", in.Control+"reset", "", nil, &after))
	require.Equal(t, 200, do(t, "GET", in.Control+"clock", "", nil, &st))
	assert.Equal(t, "2024-05-01T09:00:00Z", st.Now, "reset puts the clock back")
	assert.True(t, st.Frozen)
}

func TestControlFaults(t *testing.T) {
	t.Parallel()
	_, in := testFake(t, "-rate-limit", "0", "-fault", `{"path":"/v2/contacts","status":500,"count":1}`)
	bot := in.Tokens["bot"]
	assert.Equal(t, 500, do(t, "GET", in.URL+"contacts", bot, nil, nil), "the -fault flag")
	assert.Equal(t, 200, do(t, "GET", in.URL+"contacts", bot, nil, nil))

	var spec obj
	require.Equal(t, 201, do(t, "POST", in.Control+"faults", "", obj{"method": "GET", "path": "/v2/users", "status": 429, "retryAfter": "7", "count": 2}, &spec))
	assert.Equal(t, obj{"method": "GET", "path": "/v2/users", "status": float64(429), "retryAfter": "7", "count": float64(2)}, spec)
	var e struct{ Error struct{ Message string } }
	assert.Equal(t, 429, do(t, "GET", in.URL+"users", bot, nil, &e))
	assert.Equal(t, "Too Many Requests", e.Error.Message)
	require.Equal(t, 204, do(t, "DELETE", in.Control+"faults", "", nil, nil))
	assert.Equal(t, 200, do(t, "GET", in.URL+"users", bot, nil, nil), "cleared")

	for _, bad := range []struct {
		body, want string
	}{
		{`{"status": 503, "paht": "/v2"}`, `unknown field "paht"`},
		{`{"status": 99}`, "invalid Status 99"},
		{`{"status": 503, "probability": 2}`, "Probability"},
		{`{"drop": "sometimes"}`, `drop: "sometimes" is not before, after or none`},
		{`{"delay": "soon"}`, `delay: "soon" is not a duration`},
		{`{"path": "/v2/users"}`, "a fault needs a status, a drop or a delay"},
	} {
		var e struct{ Error struct{ Message string } }
		assert.Equal(t, 400, do(t, "POST", in.Control+"faults", "", bad.body, &e), bad.body)
		assert.Contains(t, e.Error.Message, bad.want, bad.body)
	}

	cfg, err := parseFlags([]string{"-fault", `{"status": 503, "count": -1}`}, io.Discard)
	require.NoError(t, err)
	f, err := newFake(cfg)
	require.NoError(t, err)
	assert.ErrorContains(t, f.start("http://127.0.0.1:9"), "-fault: chatshippertest: InjectFault: negative Count")
}

func TestControlDeliveriesAndRequests(t *testing.T) {
	t.Parallel()
	_, in := testFake(t, "-rate-limit", "0")
	received := make(chan string, 10)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
			return
		}
		received <- r.Header.Get("X-Hub-Signature")
	}))
	t.Cleanup(hook.Close)
	admin := in.Tokens["admin"]
	var svc obj
	require.Equal(t, 201, do(t, "POST", in.URL+"services", admin, obj{"name": "hook", "type": "webhook",
		"params": obj{"url": hook.URL, "secret": "s3cret-value", "events": []any{"message.create.**"}}}, &svc))
	var conv obj
	require.Equal(t, 201, do(t, "POST", in.URL+"conversations", admin, obj{"messages": []any{obj{"text": "hello"}}}, &conv))

	var waited struct {
		Idle       bool
		Deliveries []delivery
	}
	require.Equal(t, 200, do(t, "POST", in.Control+"deliveries/wait?timeout=20s", "", nil, &waited))
	assert.True(t, waited.Idle)
	require.Len(t, waited.Deliveries, 1)
	d := waited.Deliveries[0]
	assert.Equal(t, delivery{Service: svc["id"].(string), URL: hook.URL, Event: "message.create.agent.chat", ID: d.ID,
		Attempts: 1, Status: 200, Delivered: true}, d)
	assert.Len(t, received, 1)
	var listed struct{ Deliveries []delivery }
	require.Equal(t, 200, do(t, "GET", in.Control+"deliveries", "", nil, &listed))
	assert.Equal(t, waited.Deliveries, listed.Deliveries)
	assert.Equal(t, 400, do(t, "POST", in.Control+"deliveries/wait?timeout=soon", "", nil, nil))

	require.Equal(t, 201, do(t, "POST", in.URL+"auth/token", "", obj{"email": in.Users.Bot.Email, "password": in.Users.Bot.Password}, nil))
	var reqs struct {
		Count    int
		Requests []recorded
	}
	require.Equal(t, 200, do(t, "GET", in.Control+"requests?method=post&prefix=/v2/", "", nil, &reqs))
	require.Equal(t, 3, reqs.Count)
	assert.Equal(t, "/v2/services", reqs.Requests[0].Path)
	assert.Equal(t, []string{redacted}, reqs.Requests[0].Header["Authorization"])
	assert.Equal(t, obj{"url": hook.URL, "secret": redacted, "events": []any{"message.create.**"}}, reqs.Requests[0].Body.(obj)["params"])
	assert.Equal(t, obj{"email": in.Users.Bot.Email, "password": redacted}, reqs.Requests[2].Body)
	assert.Equal(t, 201, reqs.Requests[2].Status)
	raw, err := json.Marshal(reqs)
	require.NoError(t, err)
	for _, secret := range []string{admin, in.Users.Bot.Password, "s3cret-value"} {
		assert.NotContains(t, string(raw), secret)
	}
	require.Equal(t, 200, do(t, "GET", in.Control+"requests?path=/v2/auth/token", "", nil, &reqs))
	assert.Equal(t, 1, reqs.Count)
	require.Equal(t, 204, do(t, "DELETE", in.Control+"requests", "", nil, nil))
	require.Equal(t, 200, do(t, "GET", in.Control+"requests", "", nil, &reqs))
	assert.Equal(t, 0, reqs.Count)

	var e struct{ Error struct{ Message string } }
	assert.Equal(t, 404, do(t, "GET", in.Control+"nothing", "", nil, &e))
	assert.Contains(t, e.Error.Message, "no such control endpoint")
	var got info
	require.Equal(t, 200, do(t, "GET", in.Control, "", nil, &got))
	assert.Equal(t, in, got)
}

// TestControlWaitTimesOut: a delivery still pending answers 504 with idle
// false once the timeout passes.
func TestControlWaitTimesOut(t *testing.T) {
	t.Parallel()
	_, in := testFake(t, "-rate-limit", "0")
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	require.Equal(t, 201, do(t, "POST", in.URL+"services", in.Tokens["admin"], obj{"name": "slow", "type": "webhook",
		"params": obj{"url": hang.URL}}, nil))
	var waited struct {
		Idle  bool
		Error struct{ Message string }
	}
	assert.Equal(t, http.StatusGatewayTimeout, do(t, "POST", in.Control+"deliveries/wait?timeout=50ms", "", nil, &waited))
	assert.False(t, waited.Idle)
	assert.Equal(t, "deliveries still pending after 50ms", waited.Error.Message)
}

func TestFlagsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args   []string
		status int
		want   string
	}{
		{[]string{"-clock-start", "2024-05-01T09:00:00Z", "-clock-skew", "1h"}, 2, "-clock-start and -clock-skew both set the clock"},
		{[]string{"extra"}, 2, `unexpected argument "extra"`},
		{[]string{"-fault", `{"status": "x"}`}, 2, "a fault is a JSON object"},
		{[]string{"-profile", "page-cap-7"}, 1, `-profile: chatshippertest: unknown profile "page-cap-7"`},
		{[]string{"-profile", "page-cap-10+page-cap-50"}, 1, "both set the page length"},
		{[]string{"-clock-start", "yesterday"}, 1, `-clock-start: "yesterday" is not an RFC 3339 time`},
		{[]string{"-rate-limit", "-1"}, 1, "WithRateLimit: negative limit -1"},
		{[]string{"-addr", "127.0.0.1:99999"}, 1, "listen"},
	}
	for _, tc := range tests {
		var stderr bytes.Buffer
		status := run(tc.args, strings.NewReader(""), io.Discard, &stderr)
		assert.Equal(t, tc.status, status, "%v", tc.args)
		assert.Contains(t, stderr.String(), tc.want, "%v", tc.args)
	}
}

// TestRunText runs the command in-process with -watch-stdin: it prints the
// text form and stops when its input closes.
func TestRunText(t *testing.T) {
	t.Parallel()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run([]string{"-watch-stdin", "-seed-file", "testdata/seed.json", "-profile", "no-total+clock-behind-2h"}, stdinR, outW, io.Discard)
		_ = outW.Close()
	}()
	var text bytes.Buffer
	buf := make([]byte, 4096)
	for !strings.Contains(text.String(), "Stop with Ctrl-C") {
		n, err := outR.Read(buf)
		require.NoError(t, err, text.String())
		text.Write(buf[:n])
	}
	out := text.String()
	for _, want := range []string{"(profile no-total+clock-behind-2h)", "API base URL  http://127.0.0.1:", "/v2/",
		"control API   http://127.0.0.1:", "bot    ", "Awesome Bot", "admin@acme.test / admin-secret-1",
		"Seed file testdata/seed.json:", "organization  5f00000000000000000000a1  Northwind Cars",
		"conversation  ", "Test drive (queued)", `token "carol" of 5f00000000000000000000b1 (permanent)`} {
		assert.Contains(t, out, want)
	}
	require.NoError(t, stdinW.Close())
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	select {
	case status := <-done:
		assert.Equal(t, 0, status)
	case <-time.After(exitGuardInProcess):
		t.Fatal("run did not return after standard input closed")
	}
}

const exitGuardInProcess = 10 * time.Second
