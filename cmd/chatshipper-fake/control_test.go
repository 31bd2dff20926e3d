package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper/chatshippertest"
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

	// The clock stays where timestamps have four-digit years: a move that
	// would leave them is refused and changes nothing.
	require.Equal(t, 200, do(t, "POST", in.Control+"clock", "", obj{"set": "9998-12-31T23:00:00Z", "frozen": true}, &st))
	assert.Equal(t, "9998-12-31T23:00:00Z", st.Now, "the last time allowed is in 9998")
	for _, bad := range []obj{{"advance": "1h"}, {"set": "9999-12-31T23:59:59Z"}, {"set": "9998-12-31T23:00:00-05:00"}} {
		var e struct{ Error struct{ Message string } }
		assert.Equal(t, 400, do(t, "POST", in.Control+"clock", "", bad, &e), "%v", bad)
		assert.Contains(t, e.Error.Message, "is outside the years 0000 to 9998", "%v", bad)
	}
	require.Equal(t, 200, do(t, "POST", in.Control+"clock", "", obj{"set": "0000-01-01T00:00:00Z"}, &st))
	var e struct{ Error struct{ Message string } }
	assert.Equal(t, 400, do(t, "POST", in.Control+"clock", "", obj{"advance": "-1ms"}, &e))
	assert.Equal(t, "-0001-12-31T23:59:59.999Z is outside the years 0000 to 9998 the fake's clock may show (timestamps have four-digit years, and tokens issued in 9999 would expire in year 10000)", e.Error.Message)
	require.Equal(t, 200, do(t, "GET", in.Control+"clock", "", nil, &st))
	assert.Equal(t, "0000-01-01T00:00:00Z", st.Now, "the refused move changed nothing")
	assert.Equal(t, "Sat, 01 Jan 0000 00:00:00 GMT", date())
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
		{`{"status": 99}`, "status: 99 is not an HTTP status (100 to 599)"},
		{`{"status": 503, "probability": 2}`, "probability: 2: must be within [0, 1]"},
		{`{"drop": "sometimes"}`, `drop: "sometimes" is not before, after or none`},
		{`{"delay": "soon"}`, `delay: "soon" is not a duration`},
		{`{"path": "/v2/users"}`, "a fault needs a status, a drop or a delay"},
	} {
		var e struct{ Error struct{ Message string } }
		assert.Equal(t, 400, do(t, "POST", in.Control+"faults", "", bad.body, &e), bad.body)
		assert.Contains(t, e.Error.Message, bad.want, bad.body)
	}

	_, err := parseFlags([]string{"-fault", `{"status": 503, "count": -1}`}, io.Discard)
	assert.ErrorContains(t, err, "count: -1: must be 0 (unlimited) or more", "a -fault flag is checked with the flags")
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

// TestFlagsRefused: every flag the command cannot use, its value included,
// stops it before it builds or listens on anything, with exit status 2, a
// message naming the flag, and nothing on stdout.
func TestFlagsRefused(t *testing.T) {
	t.Parallel()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-clock-start", "2024-05-01T09:00:00Z", "-clock-skew", "1h"}, "-clock-start and -clock-skew both set the clock"},
		{[]string{"extra"}, `unexpected argument "extra"`},
		{[]string{"-rate-limit", "many"}, `invalid value "many" for flag -rate-limit`},
		{[]string{"-fault", `{"status": "x"}`}, "-fault: a fault is a JSON object"},
		{[]string{"-fault", `{"status": 700}`}, "-fault: status: 700 is not an HTTP status (100 to 599)"},
		{[]string{"-fault", `{"status": 503, "count": -1}`}, "-fault: count: -1: must be 0 (unlimited) or more"},
		{[]string{"-fault", `{"status": 503, "probability": 1.5}`}, "-fault: probability: 1.5: must be within [0, 1]"},
		{[]string{"-fault", `{"delay": "-1s"}`}, `-fault: delay: "-1s" is not a duration`},
		{[]string{"-profile", "page-cap-7"}, `-profile: chatshippertest: unknown profile "page-cap-7" (known: default, page-cap-10,`},
		{[]string{"-profile", "page-cap-10+page-cap-50"}, "-profile: chatshippertest: profiles page-cap-10 and page-cap-50 both set the page length"},
		{[]string{"-profile", "no-total+no-total"}, "-profile: chatshippertest: profiles no-total and no-total both set the totals"},
		{[]string{"-clock-start", "yesterday"}, `-clock-start: "yesterday" is not an RFC 3339 time`},
		{[]string{"-clock-start", "9999-12-31T23:59:59Z"}, "-clock-start: 9999-12-31T23:59:59Z is outside the years 0000 to 9998"},
		{[]string{"-clock-start", "9998-12-31T23:00:00-05:00"}, "-clock-start: 9999-01-01T04:00:00Z is outside the years 0000 to 9998"},
		{[]string{"-rate-limit", "-1"}, "-rate-limit: -1: must be 0 (off) or more"},
		{[]string{"-loop-identical", "-3"}, "-loop-identical: -3: must be 0 (off) or more"},
		{[]string{"-loop-consecutive", "-1"}, "-loop-consecutive: -1: must be 0 (off) or more"},
		{[]string{"-loop-identical-window", "-1m"}, "-loop-identical-window: -1m0s: must be a positive duration"},
		{[]string{"-loop-consecutive-window", "0s"}, "-loop-consecutive-window: 0s: must be a positive duration"},
		{[]string{"-token-ttl", "-1h"}, "-token-ttl: -1h0m0s: must be a positive duration"},
		{[]string{"-webhook-retry", "-1s"}, "-webhook-retry: -1s: must be a positive duration"},
		{[]string{"-webhook-attempts", "0"}, "-webhook-attempts: 0: must be 1 or more"},
		{[]string{"-shutdown-grace", "-1s"}, "-shutdown-grace: -1s: must be 0"},
		{[]string{"-addr", "not-an-addr"}, `-addr: "not-an-addr" is not host:port such as 127.0.0.1:8026`},
		{[]string{"-addr", "127.0.0.1:99999"}, `the port "99999" is not a number from 0 to 65535`},
		{[]string{"-addr", "127.0.0.1:http"}, `the port "http" is not a number`},
		{[]string{"-addr", "127.0.0.1:"}, `the port "" is not a number`},
	}
	for _, tc := range tests {
		var stdout, stderr bytes.Buffer
		status := run(tc.args, strings.NewReader(""), &stdout, &stderr)
		assert.Equal(t, 2, status, "%v: %s", tc.args, stderr.String())
		assert.Contains(t, stderr.String(), tc.want, "%v", tc.args)
		assert.Empty(t, stdout.String(), "%v", tc.args)
	}
	// What only the server can tell (a seed file, an address in use) is
	// status 1.
	var stderr bytes.Buffer
	assert.Equal(t, 1, run([]string{"-seed-file", "testdata/bad-field.json"}, strings.NewReader(""), io.Discard, &stderr))
	assert.Contains(t, stderr.String(), "users[1].emial: unknown field")
}

// TestFaultChecksMatchThePackage: the -fault flag and POST /_fake/faults
// refuse exactly the faults chatshippertest.InjectFault refuses, so a fault
// flag is refused with the flags rather than when the server starts.
func TestFaultChecksMatchThePackage(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewInProcessServer(t)
	for _, spec := range []string{
		`{"status": 503}`, `{"status": 100}`, `{"status": 599}`, `{"status": 99}`, `{"status": 600}`, `{"status": 700}`,
		`{"status": 503, "count": 0}`, `{"status": 503, "count": -1}`,
		`{"status": 503, "probability": 0}`, `{"status": 503, "probability": 1}`,
		`{"status": 503, "probability": -0.1}`, `{"status": 503, "probability": 1.01}`,
		`{"delay": "0s", "status": 503}`, `{"delay": "1ms"}`, `{"delay": "-1ms"}`, `{"drop": "before"}`, `{"drop": "after", "delay": "1s"}`,
	} {
		parsed, err := parseFault([]byte(spec))
		if err != nil {
			assert.Panics(t, func() {
				f, _ := parsed.fault()
				srv.InjectFault(f)
			}, "%s: refused by the command (%v), so the package must refuse it too", spec, err)
			continue
		}
		f, err := parsed.fault()
		require.NoError(t, err, spec)
		assert.NotPanics(t, func() { srv.InjectFault(f) }, spec)
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

// TestControlRedactsURLCredentials: the password of a URL (a webhook's
// https://user:password@host/path, as the webhook documentation advises) is
// a secret: GET /_fake/requests shows it in no body, header or query, and
// GET /_fake/deliveries shows the webhook URL without it. The user name
// stays, so a test can still tell the URLs apart.
func TestControlRedactsURLCredentials(t *testing.T) {
	t.Parallel()
	_, in := testFake(t, "-rate-limit", "0")
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
		}
	}))
	t.Cleanup(hook.Close)
	withPass := func(pass, path string) string {
		return strings.Replace(hook.URL, "http://", "http://hookuser:"+pass+"@", 1) + path
	}
	admin := in.Tokens["admin"]
	var svc obj
	require.Equal(t, 201, do(t, "POST", in.URL+"services", admin, obj{"name": "hook", "type": "webhook",
		"params": obj{"url": withPass("url-pass-1", "/hook"), "secret": "s", "events": []any{"message.create.**"}}}, &svc))
	require.Equal(t, 200, do(t, "PATCH", in.URL+"services/"+svc["id"].(string), admin, obj{"params": obj{"url": withPass("url-pass-2", "/hook2"),
		"secret": "s", "events": []any{"message.create.**"}}}, nil))
	req, err := http.NewRequest("GET", in.URL+"conversations?callback="+withPass("url-pass-3", "/q"), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+in.Tokens["bot"])
	req.Header.Set("Referer", withPass("url-pass-4", "/from"))
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_ = resp.Body.Close()
	require.Equal(t, 201, do(t, "POST", in.URL+"conversations", in.Tokens["bot"], obj{"messages": []any{obj{"text": "see " + withPass("url-pass-5", "/x")}}}, nil))
	require.Equal(t, 200, do(t, "POST", in.Control+"deliveries/wait?timeout=20s", "", nil, nil))

	var reqs struct{ Requests []recorded }
	require.Equal(t, 200, do(t, "GET", in.Control+"requests", "", nil, &reqs))
	require.Len(t, reqs.Requests, 4)
	assert.Equal(t, withPass(redacted, "/hook"), reqs.Requests[0].Body.(obj)["params"].(obj)["url"])
	assert.Equal(t, withPass(redacted, "/hook2"), reqs.Requests[1].Body.(obj)["params"].(obj)["url"])
	assert.Equal(t, []string{withPass(redacted, "/q")}, reqs.Requests[2].Query["callback"])
	assert.Equal(t, []string{withPass(redacted, "/from")}, reqs.Requests[2].Header["Referer"])
	var deliveries struct{ Deliveries []delivery }
	require.Equal(t, 200, do(t, "GET", in.Control+"deliveries", "", nil, &deliveries))
	require.Len(t, deliveries.Deliveries, 1)
	assert.Equal(t, withPass(redacted, "/hook2"), deliveries.Deliveries[0].URL)
	assert.True(t, deliveries.Deliveries[0].Delivered)

	for _, path := range []string{"requests", "deliveries"} {
		req, err := http.NewRequest("GET", in.Control+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		raw, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		require.NoError(t, err)
		for i := 1; i <= 5; i++ {
			assert.NotContains(t, string(raw), fmt.Sprintf("url-pass-%d", i), path)
		}
	}
}

// runFake runs the command in-process with -json and -watch-stdin and the
// given flags; it returns the start information, a function that closes
// its standard input (a stop, as SIGTERM is) and the exit status to come.
func runFake(t *testing.T, args ...string) (info, func(), <-chan int) {
	t.Helper()
	stdinR, stdinW := io.Pipe()
	outR, outW := io.Pipe()
	done := make(chan int, 1)
	go func() {
		done <- run(append([]string{"-json", "-watch-stdin"}, args...), stdinR, outW, io.Discard)
		_ = outW.Close()
	}()
	line, err := bufio.NewReader(outR).ReadString('\n')
	require.NoError(t, err)
	go func() { _, _ = io.Copy(io.Discard, outR) }()
	var in info
	require.NoError(t, json.Unmarshal([]byte(line), &in), line)
	stop := func() { _ = stdinW.Close() }
	t.Cleanup(stop)
	return in, stop, done
}

// TestShutdownGrace: at a stop the requests in flight, one held by a Delay
// fault too, get -shutdown-grace (default 5s) to finish and are answered;
// what still runs after it is dropped unanswered (the Delay fault's promise).
// The command exits 0 either way and listens no more.
func TestShutdownGrace(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		args     []string
		delay    string
		answered bool
	}{
		{"a request that finishes within the grace is answered", nil, "300ms", true},
		{"a request still held after the grace is dropped", []string{"-shutdown-grace", "50ms"}, "30s", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			in, stop, done := runFake(t, append([]string{"-rate-limit", "0"}, tc.args...)...)
			require.Equal(t, 201, do(t, "POST", in.Control+"faults", "", obj{"path": "/v2/channels", "delay": tc.delay, "count": 1}, nil))
			type answer struct {
				status int
				err    error
			}
			got := make(chan answer, 1)
			go func() {
				req, _ := http.NewRequest("GET", in.URL+"channels", nil)
				req.Header.Set("Authorization", "Bearer "+in.Tokens["bot"])
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					got <- answer{err: err}
					return
				}
				_, err = io.ReadAll(resp.Body)
				_ = resp.Body.Close()
				got <- answer{status: resp.StatusCode, err: err}
			}()
			for { // the request is in flight once it is recorded
				var reqs struct{ Count int }
				require.Equal(t, 200, do(t, "GET", in.Control+"requests", "", nil, &reqs))
				if reqs.Count == 1 {
					break
				}
				time.Sleep(5 * time.Millisecond)
			}
			stop()
			select {
			case a := <-got:
				if tc.answered {
					assert.NoError(t, a.err)
					assert.Equal(t, 200, a.status)
				} else {
					assert.Error(t, a.err, "dropped, not answered (status %d)", a.status)
				}
			case <-time.After(exitGuardInProcess):
				t.Fatal("the request in flight did not end")
			}
			select {
			case status := <-done:
				assert.Equal(t, 0, status)
			case <-time.After(exitGuardInProcess):
				t.Fatal("run did not return after the stop")
			}
			_, err := http.Get(in.Control)
			assert.Error(t, err, "it listens no more")
		})
	}
}
