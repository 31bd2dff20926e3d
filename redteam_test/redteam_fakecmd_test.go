package redteam_test

// Red-team tests of cmd/chatshipper-fake, the fake ChatShipper server as a
// standalone product: the binary is built once, started as a subprocess on
// 127.0.0.1 with a free port, and driven with plain HTTP and JSON as a test
// suite in another language would (plus the Go SDK where useful).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// ---------------------------------------------------------------------------
// Building and running the binary.

var (
	rtfDir   string
	rtfBuild struct {
		once sync.Once
		path string
		out  []byte
		err  error
	}
)

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "rtfakecmd-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	rtfDir = dir
	code := m.Run()
	_ = os.RemoveAll(dir)
	os.Exit(code)
}

// rtfRace reports whether the test binary runs with the race detector; the
// fake is then built with it too, so a data race in the server fails the
// test that provoked it.
func rtfRace() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, s := range bi.Settings {
		if s.Key == "-race" && s.Value == "true" {
			return true
		}
	}
	return false
}

func rtfBinary(t *testing.T) string {
	t.Helper()
	rtfBuild.once.Do(func() {
		rtfBuild.path = filepath.Join(rtfDir, "chatshipper-fake")
		args := []string{"build", "-o", rtfBuild.path}
		if rtfRace() {
			args = append(args, "-race")
		}
		args = append(args, "github.com/go-chatshipper/chatshipper/cmd/chatshipper-fake")
		rtfBuild.out, rtfBuild.err = exec.Command("go", args...).CombinedOutput()
	})
	if rtfBuild.err != nil {
		t.Fatalf("go build: %v\n%s", rtfBuild.err, rtfBuild.out)
	}
	return rtfBuild.path
}

// rtfBuf is an io.Writer safe for concurrent use that signals its first line.
type rtfBuf struct {
	mu   sync.Mutex
	b    bytes.Buffer
	line chan struct{}
	once sync.Once
}

func newRTFBuf() *rtfBuf { return &rtfBuf{line: make(chan struct{})} }

func (b *rtfBuf) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.Write(p)
	if bytes.IndexByte(b.b.Bytes(), '\n') >= 0 {
		b.once.Do(func() { close(b.line) })
	}
	return len(p), nil
}

func (b *rtfBuf) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type rtfUser struct {
	ID, Name, Email, Password string
}

// rtfInfo is the start information, as -json prints it and GET /_fake/ answers.
type rtfInfo struct {
	URL, Host, Control, Profile, Organization, Form string
	Channels                                        []string
	Tokens                                          struct{ Bot, Admin, Agent, Guest string }
	Users                                           struct {
		Bot, Admin, Guest rtfUser
		Agents            []rtfUser
	}
	SeedFile *chatshippertest.SeedFileResult `json:"seedFile"`
}

type rtfProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	out    *rtfBuf
	errb   *rtfBuf
	done   chan struct{}
	line   string // the first line of stdout
	info   rtfInfo
	hc     *http.Client
	stopMu sync.Mutex
}

// rtfStart starts the fake with -json and -watch-stdin (so it dies with the
// test binary) and the given flags, and waits for its start line. It is
// stopped with SIGTERM when the test ends, and must then exit with status 0
// and without a data race report.
func rtfStart(t *testing.T, args ...string) *rtfProc {
	t.Helper()
	bin := rtfBinary(t)
	p := &rtfProc{t: t, out: newRTFBuf(), errb: newRTFBuf(), done: make(chan struct{})}
	p.cmd = exec.Command(bin, append([]string{"-json", "-watch-stdin"}, args...)...)
	var err error
	if p.stdin, err = p.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.errb
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	select {
	case <-p.out.line:
	case <-p.done:
		t.Fatalf("chatshipper-fake %q exited before printing its start line: status %d\nstderr: %s", args, p.cmd.ProcessState.ExitCode(), p.errb.String())
	}
	p.line, _, _ = strings.Cut(p.out.String(), "\n")
	if err := json.Unmarshal([]byte(p.line), &p.info); err != nil {
		t.Fatalf("start line is not JSON: %v: %q", err, p.line)
	}
	p.hc = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(func() {
		p.stop(syscall.SIGTERM)
		p.hc.CloseIdleConnections()
	})
	return p
}

// stop sends sig (once) and waits for the process; it reports an exit status
// other than 0 and any data race the server's race detector printed.
func (p *rtfProc) stop(sig os.Signal) int {
	p.stopMu.Lock()
	defer p.stopMu.Unlock()
	select {
	case <-p.done:
	default:
		_ = p.cmd.Process.Signal(sig)
		select {
		case <-p.done:
		case <-time.After(30 * time.Second): // a backstop, not an assertion on timing
			_ = p.cmd.Process.Kill()
			<-p.done
			p.t.Errorf("chatshipper-fake did not stop within 30 s of %v", sig)
		}
	}
	code := p.cmd.ProcessState.ExitCode()
	if code != 0 {
		p.t.Errorf("chatshipper-fake exited with status %d (want 0: \"It stops on SIGINT or SIGTERM (exit status 0)\")\nstderr: %s", code, p.errb.String())
	}
	if s := p.errb.String(); strings.Contains(s, "DATA RACE") || strings.Contains(s, "panic:") {
		p.t.Errorf("chatshipper-fake reported a data race or panic:\n%s", s)
	}
	return code
}

type rtfResp struct {
	code int
	hdr  http.Header
	body []byte
	err  error
}

func (r rtfResp) String() string {
	if r.err != nil {
		return "error: " + r.err.Error()
	}
	return fmt.Sprintf("%d %s", r.code, bytes.TrimSpace(r.body))
}

// do sends one request to the fake: path is absolute ("/v2/..." or
// "/_fake/..."), body a string or []byte sent as is, or anything else as
// JSON. hdrs are name, value pairs.
func (p *rtfProc) do(method, path, token string, body any, hdrs ...string) rtfResp {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return rtfResp{err: err}
		}
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(u, "http") {
		u = p.info.Host + path
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		return rtfResp{err: err}
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for i := 0; i+1 < len(hdrs); i += 2 {
		req.Header.Set(hdrs[i], hdrs[i+1])
	}
	resp, err := p.hc.Do(req)
	if err != nil {
		return rtfResp{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return rtfResp{code: resp.StatusCode, hdr: resp.Header, body: b, err: err}
}

// must is do for the test goroutine: a transport error fails the test.
func (p *rtfProc) must(method, path, token string, body any, hdrs ...string) rtfResp {
	p.t.Helper()
	r := p.do(method, path, token, body, hdrs...)
	if r.err != nil {
		p.t.Fatalf("%s %s: %v", method, path, r.err)
	}
	return r
}

// want fails the test unless r has status code, and decodes its JSON body
// into v (when v is not nil).
func (p *rtfProc) want(r rtfResp, code int, v any) {
	p.t.Helper()
	if r.err != nil || r.code != code {
		p.t.Fatalf("want %d, got %v", code, r)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			p.t.Fatalf("body is not the JSON expected: %v: %s", err, r.body)
		}
	}
}

// errMessage returns error.message of an API or control error body, and
// whether the body had that shape.
func errMessage(b []byte) (string, bool) {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(b, &e) != nil || e.Error.Message == "" {
		return "", false
	}
	return e.Error.Message, true
}

// rtfRun runs the binary once with stdin at EOF and -watch-stdin: a fake that
// starts stops again at once, one that cannot start exits with its error.
func rtfRun(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(rtfBinary(t), append([]string{"-watch-stdin"}, args...)...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if err != nil {
		if _, ok := err.(*exec.ExitError); !ok {
			t.Fatal(err)
		}
	}
	return cmd.ProcessState.ExitCode(), o.String(), e.String()
}

func rtfWriteFile(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

const rtfReadmeSeed = "../cmd/chatshipper-fake/testdata/seed.json"

func ids(t *testing.T, body []byte) []string {
	t.Helper()
	var items []struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(body, &items); err != nil {
		t.Fatalf("not a JSON list: %v: %.300s", err, body)
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.ID
	}
	return out
}

// ---------------------------------------------------------------------------
// Start, flags, seed files.

// The start information: "-json as one line of JSON a harness reads (url,
// host, control, organization, channels, form, tokens.bot|admin|agent|guest,
// users.bot|admin|agents|guest with id, email, password ...)"; GET /_fake/
// answers "the start information (as -json prints it)"; the printed tokens and
// logins work, with the permission table of the docs.
func TestRTFakeCmdStartInfoAndTokens(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0")
	in := p.info
	u, err := url.Parse(in.Host)
	if err != nil || u.Hostname() != "127.0.0.1" || u.Port() == "0" || u.Port() == "" {
		t.Errorf("host %q is not 127.0.0.1 with the free port chosen", in.Host)
	}
	if in.URL != in.Host+"/v2/" || in.Control != in.Host+"/_fake/" || in.Profile != "default" {
		t.Errorf("url %q control %q profile %q", in.URL, in.Control, in.Profile)
	}
	if len(in.Organization) != 24 || len(in.Channels) != 2 || in.Form == "" || len(in.Users.Agents) != 2 {
		t.Errorf("seeded ids incomplete: %s", p.line)
	}
	var printed, control map[string]any
	_ = json.Unmarshal([]byte(p.line), &printed)
	p.want(p.must("GET", "/_fake/", "", nil), 200, &control)
	if !reflect.DeepEqual(printed, control) {
		t.Errorf("GET /_fake/ differs from the printed start line:\nprinted %v\ncontrol %v", printed, control)
	}
	for role, tok := range map[string]string{"bot": in.Tokens.Bot, "admin": in.Tokens.Admin, "agent": in.Tokens.Agent} {
		if r := p.must("GET", "/v2/conversations", tok, nil); r.code != 200 {
			t.Errorf("%s token: list conversations: %v", role, r)
		}
	}
	r := p.must("GET", "/v2/conversations", in.Tokens.Guest, nil)
	if msg, _ := errMessage(r.body); r.code != 403 || msg != "Permission denied" {
		t.Errorf("guest lists conversations (docs: not allowed): %v", r)
	}
	users := append([]rtfUser{in.Users.Bot, in.Users.Admin, in.Users.Guest}, in.Users.Agents...)
	for _, us := range users {
		var tok struct{ Token, User string }
		p.want(p.must("POST", "/v2/auth/token", "", map[string]string{"email": us.Email, "password": us.Password}), 201, &tok)
		if tok.User != us.ID {
			t.Errorf("login of %s: user %q, want %q", us.Email, tok.User, us.ID)
		}
		if r := p.must("GET", "/v2/users/"+us.ID, tok.Token, nil); r.code != 200 {
			t.Errorf("%s fetches own user details with its login token: %v", us.Email, r)
		}
	}
}

// "A flag ... it cannot use stops it before it listens, with exit status 2
// (flags) or 1, and a message naming what is wrong." Every case here is a
// flag (or flag value) the command cannot use: exit status 2, nothing on
// stdout (no URL, no tokens), and the message names the flag.
func TestRTFakeCmdFlagErrorsExitStatus(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
		want []string // each must appear in stderr
	}{
		{"unknown-flag", []string{"-nope"}, []string{"-nope"}},
		{"positional", []string{"stray-argument"}, []string{"stray-argument"}},
		{"profile-unknown", []string{"-profile", "nonsense"}, []string{"-profile", "nonsense", "page-cap-10"}},
		{"profile-conflict", []string{"-profile", "page-cap-10+page-cap-50"}, []string{"-profile", "page-cap-10", "page-cap-50"}},
		{"profile-repeated", []string{"-profile", "no-total+no-total"}, []string{"-profile", "no-total"}},
		{"rate-limit-negative", []string{"-rate-limit", "-1"}, []string{"-rate-limit"}},
		{"clock-start-garbage", []string{"-clock-start", "yesterday"}, []string{"-clock-start", "yesterday"}},
		{"clock-start-and-skew", []string{"-clock-start", "2024-05-01T09:00:00Z", "-clock-skew", "1h"}, []string{"-clock-start", "-clock-skew"}},
		{"fault-bad-json", []string{"-fault", "{bad"}, []string{"-fault"}},
		{"fault-bad-status", []string{"-fault", `{"status":700}`}, []string{"-fault", "700"}},
		{"token-ttl-negative", []string{"-token-ttl", "-1h"}, []string{"-token-ttl"}},
		{"webhook-attempts-zero", []string{"-webhook-attempts", "0"}, []string{"-webhook-attempts"}},
		{"webhook-retry-negative", []string{"-webhook-retry", "-1s"}, []string{"-webhook-retry"}},
		{"loop-identical-negative", []string{"-loop-identical", "-3"}, []string{"-loop-identical"}},
		{"loop-window-zero", []string{"-loop-consecutive-window", "0s"}, []string{"-loop-consecutive-window"}},
		{"addr-malformed", []string{"-addr", "not-an-addr"}, []string{"not-an-addr"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := rtfRun(t, append([]string{"-json"}, c.args...)...)
			if code != 2 {
				t.Errorf("%q: exit status %d, want 2 (a flag it cannot use); stderr: %s", c.args, code, firstLine(stderr))
			}
			if stdout != "" {
				t.Errorf("%q: printed on stdout although it did not start: %.200s", c.args, stdout)
			}
			for _, w := range c.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("%q: the message does not name %q: %s", c.args, w, firstLine(stderr))
				}
			}
		})
	}
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}

// "The whole file is checked before anything is stored: an unknown field, a
// wrong type, an unknown reference or an e-mail address in use stops the
// server at start with the field's path (users[1].emial: unknown field), and
// nothing of the file is loaded." Each file here is refused with exit status
// 1, its name and the path of the field at fault, and nothing printed on
// stdout.
func TestRTFakeCmdSeedFileErrors(t *testing.T) {
	t.Parallel()
	ghost := "5f0000000000000000000fff"
	bigUsers := make([]string, 1000)
	for i := range bigUsers {
		bigUsers[i] = fmt.Sprintf(`{"email":"u%d@big.test","givenName":"U%d"}`, i, i)
	}
	cases := []struct{ name, file, want string }{
		{"readme-bad-field", "../cmd/chatshipper-fake/testdata/bad-field.json", "users[1].emial: unknown field"},
		{"readme-bad-reference", "../cmd/chatshipper-fake/testdata/bad-reference.json", "conversations[1].as"},
		{"empty", "", "seed file"},
		{"null", "null", "seed file"},
		{"array", "[]", "seed file"},
		{"bom", "\ufeff{}", "seed file"},
		{"trailing-value", `{}{"users":[{"email":"x@y.test"}]}`, "seed file"},
		{"unknown-section", `{"widgets":[]}`, "widgets"},
		{"wrong-type", `{"organizations":[{"name":5}]}`, "organizations[0].name"},
		{"short-id", `{"organizations":[{"id":"5f00000000000000000000a","name":"x"}]}`, "organizations[0].id"},
		{"non-hex-id", `{"organizations":[{"id":"5f00000000000000000000zz","name":"x"}]}`, "organizations[0].id"},
		{"duplicate-id", `{"organizations":[{"id":"5f00000000000000000000a1","name":"x"}],"users":[{"id":"5f00000000000000000000a1","email":"a@y.test"}]}`, "users[0].id"},
		{"id-of-seeded-org", `{"organizations":[{"id":"5bb551b8000000c0ceda11d6","name":"x"}]}`, "organizations[0].id"},
		{"duplicate-email", `{"users":[{"email":"a@y.test"},{"email":"A@y.test"}]}`, "users[1].email"},
		{"email-in-use", `{"users":[{"email":"Admin@Acme.Test"}]}`, "users[0].email"},
		{"bot-email-in-use", `{"bots":[{"name":"b","email":"alice@acme.test"}]}`, "bots[0].email"},
		{"no-email", `{"users":[{"givenName":"x"}]}`, "users[0].email"},
		{"bad-role", `{"users":[{"email":"a@y.test","role":"superuser"}]}`, "users[0].role"},
		{"dangling-organization", `{"users":[{"email":"a@y.test","organization":"` + ghost + `"}]}`, "users[0].organization"},
		{"dangling-channel-user", `{"channels":[{"name":"c","users":["` + ghost + `"]}]}`, "channels[0].users[0]"},
		{"parent-cycle", `{"organizations":[{"id":"5f00000000000000000000a2","name":"a","parent":"5f00000000000000000000a1"},{"id":"5f00000000000000000000a1","name":"b","parent":"5f00000000000000000000a2"}]}`, "organizations[0].parent"},
		{"self-parent", `{"organizations":[{"id":"5f00000000000000000000a1","name":"a","parent":"5f00000000000000000000a1"}]}`, "organizations[0].parent"},
		{"token-of-organization-id", `{"tokens":[{"user":"5bb551b8000000c0ceda11d6"}]}`, "tokens[0].user"},
		{"bad-ttl", `{"tokens":[{"user":"5bb551b8000000c0ceda11da","ttl":"forever"}]}`, "tokens[0].ttl"},
		{"bad-message-type", `{"conversations":[{"messages":[{"text":"x","type":"bogus"}]}]}`, "conversations[0].messages[0].type"},
		{"message-without-text", `{"conversations":[{"messages":[{"type":"chat"}]}]}`, "conversations[0].messages[0].text"},
		{"mention-without-target", `{"conversations":[{"messages":[{"text":"hi","type":"mention"}]}]}`, "conversations[0].messages[0]"},
		{"contact-without-profile", `{"conversations":[{"type":"contact","contact":{},"messages":[{"text":"x"}]}]}`, "conversations[0].contact.profile"},
		{"accept-by-ghost", `{"conversations":[{"messages":[{"text":"/accept","type":"command","user":"` + ghost + `"}]}]}`, "conversations[0].messages[0]"},
		{"category-out-of-range", `{"conversations":[{"messages":[{"text":"/set @category 9","type":"command"}]}]}`, "conversations[0].messages[0]"},
		{"bad-after-good", `{"organizations":[{"id":"5f00000000000000000000a1","name":"ok"}],"users":[{"email":"ok@y.test","organization":"5f00000000000000000000a1"}],"tokens":[{"user":"` + ghost + `"}]}`, "tokens[0].user"},
		{"huge-bad-at-end", `{"users":[` + strings.Join(bigUsers, ",") + `],"conversations":[{"name":"c","messages":[{"text":"x"}]},{"as":"` + ghost + `","messages":[{"text":"x"}]}]}`, "conversations[1].as"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			path := c.file
			if !strings.HasPrefix(path, "../") {
				path = rtfWriteFile(t, c.name+".json", c.file)
			}
			code, stdout, stderr := rtfRun(t, "-json", "-seed-file", path)
			if code != 1 {
				t.Errorf("exit status %d, want 1; stderr: %s", code, firstLine(stderr))
			}
			if stdout != "" {
				t.Errorf("printed on stdout although it did not start: %.200s", stdout)
			}
			if !strings.Contains(stderr, c.want) || !strings.Contains(stderr, filepath.Base(path)) {
				t.Errorf("the message does not name the file and %q: %s", c.want, firstLine(stderr))
			}
		})
	}
	t.Run("missing-file", func(t *testing.T) {
		t.Parallel()
		code, stdout, stderr := rtfRun(t, "-json", "-seed-file", "/nonexistent/seed.json")
		if code != 1 || stdout != "" || !strings.Contains(stderr, "/nonexistent/seed.json") {
			t.Errorf("status %d stdout %q stderr %q", code, stdout, stderr)
		}
	})
}

// "Conversations are created as POST /v2/conversations creates them, by the
// user "as" names ... An item that refers to something that does not exist,
// an id or e-mail address already in use, or a conversation the API would
// refuse fails the whole file". The API refuses POST /v2/conversations by a
// guest (403, "Create conversation" is not allowed for guest); a seed file
// creating one "as" the seeded guest must fail too.
func TestRTFakeCmdSeedFileConversationAsGuestRefused(t *testing.T) {
	t.Parallel()
	// The API's answer to the guest.
	p := rtfStart(t, "-rate-limit", "0")
	r := p.must("POST", "/v2/conversations", p.info.Tokens.Guest, `{"name":"x","messages":[{"text":"hi"}]}`)
	if r.code != 403 {
		t.Fatalf("POST /v2/conversations by the guest: %v (the permission table says guest may not create conversations)", r)
	}
	guest := p.info.Users.Guest.ID
	path := rtfWriteFile(t, "guest.json", `{"conversations":[{"as":"`+guest+`","name":"By guest","messages":[{"text":"hi"}]}]}`)
	code, stdout, stderr := rtfRun(t, "-json", "-seed-file", path)
	if code != 1 || stdout != "" || !strings.Contains(stderr, "conversations[0]") {
		t.Errorf("a seed conversation created as the guest (refused by the API with 403): exit %d, stderr %q, stdout %.300s", code, firstLine(stderr), stdout)
	}
}

// Server.LoadSeedFile "stores a parsed seed file in the server, all or
// nothing ... fails the whole file, with the path of the field at fault, and
// leaves the server as it was". A file whose first conversation is created
// and second refused must leave every collection as it was, and the id
// sequence too ("Two servers with the same seed that receive the same requests
// produce the same IDs").
func TestRTFakeCmdSeedFileAllOrNothing(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	fresh := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	colls := []string{"organizations", "users", "bots", "channels", "conversations", "messages", "contacts"}
	snapshot := func() map[string][]map[string]any {
		m := map[string][]map[string]any{}
		for _, c := range colls {
			m[c] = srv.List(c)
		}
		return m
	}
	before := snapshot()
	f, err := chatshippertest.ParseSeedFile([]byte(`{
		"organizations": [{"id": "5f00000000000000000000a1", "name": "Northwind"}],
		"users": [{"id": "5f00000000000000000000b1", "email": "carol@northwind.test", "organization": "5f00000000000000000000a1"}],
		"bots": [{"name": "NW bot", "organization": "5f00000000000000000000a1"}],
		"channels": [{"name": "desk", "organization": "5f00000000000000000000a1", "users": ["5f00000000000000000000b1"]}],
		"conversations": [
			{"name": "Fine", "type": "contact", "contact": {"profile": {"email": "erin@example.com"}}, "messages": [{"text": "hello", "role": "contact"}]},
			{"name": "Broken", "messages": [{"type": "command", "text": "/accept", "user": "5f0000000000000000000fff"}]}
		],
		"tokens": [{"user": "5f00000000000000000000b1"}]
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.LoadSeedFile(f); err == nil || !strings.Contains(err.Error(), "conversations[1]") {
		t.Fatalf("LoadSeedFile: %v, want the failure of conversations[1]", err)
	}
	after := snapshot()
	for _, c := range colls {
		if !reflect.DeepEqual(before[c], after[c]) {
			t.Errorf("%s changed by a seed file that failed: %d documents before, %d after", c, len(before[c]), len(after[c]))
		}
	}
	create := func(s *chatshippertest.Server) string {
		req, _ := http.NewRequest("POST", s.URL+"conversations", strings.NewReader(`{"name":"next","messages":[{"text":"hi"}]}`))
		req.Header.Set("Authorization", "Bearer "+s.Token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := s.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var c struct{ ID string }
		_ = json.NewDecoder(resp.Body).Decode(&c)
		return c.ID
	}
	if a, b := create(srv), create(fresh); a != b {
		t.Errorf("the next conversation id after a failed seed file is %s; a server that never saw the file gives %s (the failed load consumed ids)", a, b)
	}
}

// The README's own seed file and curl session, replayed byte for byte where
// the README shows the output.
func TestRTFakeCmdReadmeSession(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-seed-file", rtfReadmeSeed, "-clock-start", "2024-05-01T09:00:00Z", "-clock-frozen")
	sf := p.info.SeedFile
	if sf == nil || len(sf.Organizations) != 1 || sf.Organizations[0].ID != "5f00000000000000000000a1" ||
		len(sf.Users) != 1 || len(sf.Bots) != 1 || sf.Bots[0].Token == "" || len(sf.Channels) != 1 ||
		len(sf.Conversations) != 2 || len(sf.Tokens) != 1 || sf.Tokens[0].Name != "carol" || sf.Tokens[0].ExpiresAt != "" {
		t.Fatalf("seedFile of the start line: %s", p.line)
	}
	r := p.must("GET", "/v2/conversations?select=name,status", p.info.Tokens.Bot, nil)
	want := `[{"id":"5bb551b8000000c0ceda11e0","name":"Test drive","status":"queued"},{"id":"5bb551b8000000c0ceda11e2","name":"Team review","status":"closed"}]`
	if r.code != 200 || string(bytes.TrimSpace(r.body)) != want {
		t.Errorf("README: %s\ngot: %v", want, r)
	}
	for _, tok := range []string{sf.Tokens[0].Token, sf.Bots[0].Token} {
		if r := p.must("GET", "/v2/conversations", tok, nil); r.code != 200 {
			t.Errorf("a seed file token: %v", r)
		}
	}
	var login struct{ User string }
	p.want(p.must("POST", "/v2/auth/token", "", `{"email":"carol@northwind.test","password":"carol-secret-1"}`), 201, &login)
	if login.User != "5f00000000000000000000b1" {
		t.Errorf("carol logs in as %q", login.User)
	}
	steps := []struct {
		method, path, body string
		code               int
		want               string
	}{
		{"POST", "/_fake/clock", `{"advance": "25h"}`, 200, `{"frozen":true,"now":"2024-05-02T10:00:00Z"}`},
		{"POST", "/_fake/faults", `{"method": "POST", "path": "/v2/conversations", "status": 503, "count": 1}`, 0, `{"method":"POST","path":"/v2/conversations","count":1,"status":503}`},
		{"POST", "/v2/conversations", `{"messages":[{"text":"hi"}]}`, 503, ""},
		{"POST", "/v2/conversations", `{"messages":[{"text":"hi"}]}`, 201, ""},
		{"POST", "/_fake/deliveries/wait?timeout=5s", "", 200, `{"deliveries":[],"idle":true}`},
		{"POST", "/_fake/reset", "", 200, ""},
	}
	for _, s := range steps {
		tok := ""
		if strings.HasPrefix(s.path, "/v2/") {
			tok = p.info.Tokens.Bot
		}
		r := p.must(s.method, s.path, tok, s.body)
		if (s.code != 0 && r.code != s.code) || (s.code == 0 && r.code/100 != 2) || (s.want != "" && string(bytes.TrimSpace(r.body)) != s.want) {
			t.Errorf("%s %s: got %v, README shows %d %s", s.method, s.path, r, s.code, s.want)
		}
	}
}

// "-addr host:port where to listen": a port already in use stops it with a
// message naming the address, a non-zero exit status, and nothing on stdout.
func TestRTFakeCmdPortInUse(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	code, stdout, stderr := rtfRun(t, "-json", "-addr", addr)
	if code == 0 || stdout != "" || !strings.Contains(stderr, addr) || !strings.Contains(stderr, "in use") {
		t.Errorf("-addr %s in use: exit %d, stdout %.200q, stderr %q", addr, code, stdout, stderr)
	}
}

// "It stops on SIGINT or SIGTERM (exit status 0)", gracefully: a request in
// flight when SIGTERM arrives still gets its answer. Two kinds of in-flight
// request: a POST whose body is still arriving (must be answered), and a GET
// held by a delay fault (recorded before the fault applies, so known to be in
// flight; its outcome is logged).
func TestRTFakeCmdSigtermMidRequest(t *testing.T) {
	t.Parallel()
	t.Run("slow-upload", func(t *testing.T) {
		t.Parallel()
		p := rtfStart(t, "-rate-limit", "0")
		body := []byte(`{"name":"slow upload","messages":[{"text":"sent in two parts"}]}`)
		pr, pw := io.Pipe()
		req, _ := http.NewRequest("POST", p.info.URL+"conversations", pr)
		req.ContentLength = int64(len(body))
		req.Header.Set("Authorization", "Bearer "+p.info.Tokens.Bot)
		req.Header.Set("Content-Type", "application/json")
		res := make(chan rtfResp, 1)
		go func() {
			resp, err := p.hc.Do(req)
			if err != nil {
				res <- rtfResp{err: err}
				return
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			res <- rtfResp{code: resp.StatusCode, body: b, err: err}
		}()
		_, _ = pw.Write(body[:20])
		time.Sleep(300 * time.Millisecond) // let the server start on the request
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
		_, _ = pw.Write(body[20:])
		_ = pw.Close()
		if r := <-res; r.err != nil || r.code != 201 {
			t.Errorf("the POST in flight at SIGTERM: %v", r)
		}
		<-p.done
	})
	t.Run("delay-fault", func(t *testing.T) {
		t.Parallel()
		p := rtfStart(t, "-rate-limit", "0")
		if r := p.must("POST", "/_fake/faults", "", `{"method":"GET","path":"/v2/conversations","delay":"1500ms","count":1}`); r.code/100 != 2 {
			t.Fatalf("inject: %v", r)
		}
		res := make(chan rtfResp, 1)
		go func() { res <- p.do("GET", "/v2/conversations", p.info.Tokens.Bot, nil) }()
		for {
			var rec struct{ Count int }
			p.want(p.must("GET", "/_fake/requests?path=/v2/conversations", "", nil), 200, &rec)
			if rec.Count > 0 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		r := <-res
		if r.err != nil || r.code != 200 || !bytes.HasPrefix(bytes.TrimSpace(r.body), []byte("[")) {
			// The documentation promises only "exit status 0" (checked by
			// the cleanup), and says of Delay that "a request whose context
			// ends first gets no answer": an observation, not a finding.
			t.Logf("the GET held by a delay fault at SIGTERM got no answer: %v", r)
		}
		<-p.done
		if _, err := net.Dial("tcp", strings.TrimPrefix(p.info.Host, "http://")); err == nil {
			t.Errorf("still listening after it exited")
		}
	})
}

// SIGINT and, with -watch-stdin, closing standard input stop it with status 0.
func TestRTFakeCmdSigintAndStdinClose(t *testing.T) {
	t.Parallel()
	a := rtfStart(t)
	b := rtfStart(t)
	a.stop(os.Interrupt)
	_ = b.stdin.Close()
	<-b.done
	if code := b.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("-watch-stdin, stdin closed: exit status %d", code)
	}
}

// ---------------------------------------------------------------------------
// The control API.

// Misuse of the control API: every answer is JSON ("Answers are JSON."), a
// 4xx with an error message, never a crash; the fake serves on afterwards.
// The control API has no authentication, so a bogus token changes nothing.
func TestRTFakeCmdControlMisuse(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0")
	cases := []struct{ method, path, body string }{
		{"GET", "/_fake/reset", ""},
		{"PUT", "/_fake/clock", `{}`},
		{"POST", "/_fake/clock", `{bad`},
		{"POST", "/_fake/clock", `{}`},
		{"POST", "/_fake/clock", `{"set":"yesterday"}`},
		{"POST", "/_fake/clock", `{"advance":"soon"}`},
		{"POST", "/_fake/clock", `{"set":"2024-05-01T09:00:00Z","advance":"1h"}`},
		{"POST", "/_fake/clock", `{"frozen":"yes"}`},
		{"POST", "/_fake/faults", `{"status":700}`},
		{"POST", "/_fake/faults", `{"status":500,"count":-1}`},
		{"POST", "/_fake/faults", `{"status":500,"probability":2}`},
		{"POST", "/_fake/faults", `{"delay":"-1s"}`},
		{"POST", "/_fake/faults", `{"delay":"soon"}`},
		{"POST", "/_fake/faults", `{"drop":"sideways"}`},
		{"POST", "/_fake/faults", `{"pathh":"/v2","status":500}`},
		{"POST", "/_fake/faults", `[]`},
		{"POST", "/_fake/faults", ``},
		{"POST", "/_fake/faults", `{"status":500}` + strings.Repeat(" ", 1<<20) + `x`},
		{"PATCH", "/_fake/faults", `{}`},
		{"POST", "/_fake/deliveries/wait?timeout=abc", ""},
		{"POST", "/_fake/deliveries/wait?timeout=-5s", ""},
		{"GET", "/_fake/deliveries/wait", ""},
		{"POST", "/_fake/seed", `{}`},
		{"GET", "/_fake/nope", ""},
		{"DELETE", "/_fake/", ""},
		{"POST", "/_fake/requests", ""},
	}
	for _, c := range cases {
		r := p.must(c.method, c.path, "", c.body, "Authorization", "Bearer not-a-token")
		msg, ok := errMessage(r.body)
		if r.code < 400 || r.code >= 500 || !ok || !strings.HasPrefix(r.hdr.Get("Content-Type"), "application/json") {
			t.Errorf("%s %s %.40q: want a 4xx JSON error, got %v (%s)", c.method, c.path, c.body, r, r.hdr.Get("Content-Type"))
		} else if strings.Contains(msg, "not-a-token") {
			t.Errorf("%s %s: the message quotes the Authorization header: %s", c.method, c.path, msg)
		}
	}
	// Nothing of it stuck: no fault was injected, the clock was not moved.
	if r := p.must("GET", "/v2/conversations", p.info.Tokens.Bot, nil); r.code != 200 {
		t.Errorf("after the misuse: %v", r)
	}
	var clk struct {
		Now    time.Time
		Frozen bool
	}
	p.want(p.must("GET", "/_fake/clock", "", nil, "Authorization", "Bearer not-a-token"), 200, &clk)
	if d := time.Since(clk.Now); clk.Frozen || d < -time.Minute || d > time.Minute {
		t.Errorf("clock after the misuse: %+v", clk)
	}
}

// "control requests are not recorded, faulted or rate limited".
func TestRTFakeCmdControlNotFaultedRecordedOrLimited(t *testing.T) {
	t.Parallel()
	p := rtfStart(t) // the default limit, 20 per second
	if r := p.must("POST", "/_fake/faults", "", `{"status":503,"message":"everything fails"}`); r.code/100 != 2 {
		t.Fatalf("inject: %v", r)
	}
	if r := p.must("GET", "/v2/conversations", p.info.Tokens.Bot, nil); r.code != 503 {
		t.Errorf("a fault on every path: API answered %v", r)
	}
	for _, path := range []string{"/_fake/", "/_fake/clock", "/_fake/deliveries", "/_fake/requests"} {
		if r := p.must("GET", path, "", nil); r.code != 200 {
			t.Errorf("GET %s with a fault on every path: %v", path, r)
		}
	}
	if r := p.must("DELETE", "/_fake/faults", "", nil); r.code/100 != 2 {
		t.Fatalf("DELETE /_fake/faults: %v", r)
	}
	for i := 0; i < 25; i++ {
		p.must("GET", "/v2/channels", p.info.Tokens.Bot, nil)
	}
	for i := 0; i < 40; i++ {
		if r := p.must("GET", "/_fake/clock", "", nil); r.code != 200 {
			t.Fatalf("control request %d after the API limit was spent: %v", i, r)
		}
	}
	var rec struct {
		Count    int
		Requests []struct{ Path string }
	}
	p.want(p.must("GET", "/_fake/requests", "", nil), 200, &rec)
	for _, r := range rec.Requests {
		if !strings.HasPrefix(r.Path, "/v2/") {
			t.Errorf("a control request was recorded: %s", r.Path)
		}
	}
	if rec.Count != 26 || len(rec.Requests) != 26 {
		t.Errorf("recorded %d requests (%d listed), want the 26 API requests", rec.Count, len(rec.Requests))
	}
}

// "POST /_fake/reset back to the start: data, seed file, clock, faults,
// recorded requests, webhook deliveries; answers the start information" and
// "(tokens stay valid)". Back to the start includes the ids handed out next.
func TestRTFakeCmdControlReset(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0", "-seed-file", rtfReadmeSeed, "-clock-start", "2024-05-01T09:00:00Z", "-clock-frozen")
	bot := p.info.Tokens.Bot
	var start map[string]any
	p.want(p.must("GET", "/_fake/", "", nil), 200, &start)
	convs0 := ids(t, p.must("GET", "/v2/conversations", bot, nil).body)
	var c1 struct{ ID string }
	p.want(p.must("POST", "/v2/conversations", bot, `{"name":"after start","messages":[{"text":"hi"}]}`), 201, &c1)
	p.must("POST", "/_fake/clock", "", `{"advance":"25h"}`)
	p.must("POST", "/_fake/faults", "", `{"method":"GET","path":"/v2/forms","status":503}`)
	var login struct{ Token string }
	p.want(p.must("POST", "/v2/auth/token", "", `{"email":"admin@acme.test","password":"admin-secret-1"}`), 201, &login)

	var reset map[string]any
	p.want(p.must("POST", "/_fake/reset", "", nil), 200, &reset)
	if !reflect.DeepEqual(reset, start) {
		t.Errorf("reset answered\n%v\nnot the start information\n%v", reset, start)
	}
	var clk struct{ Now string }
	p.want(p.must("GET", "/_fake/clock", "", nil), 200, &clk)
	if clk.Now != "2024-05-01T09:00:00Z" {
		t.Errorf("clock after reset: %s", clk.Now)
	}
	var rec struct{ Count int }
	p.want(p.must("GET", "/_fake/requests", "", nil), 200, &rec)
	if rec.Count != 0 {
		t.Errorf("%d recorded requests after reset", rec.Count)
	}
	if r := p.must("GET", "/v2/forms", bot, nil); r.code != 200 {
		t.Errorf("fault survived reset: %v", r)
	}
	if got := ids(t, p.must("GET", "/v2/conversations", bot, nil).body); !slices.Equal(got, convs0) {
		t.Errorf("conversations after reset %v, at start %v", got, convs0)
	}
	for name, tok := range map[string]string{"seed file token": p.info.SeedFile.Tokens[0].Token, "seed file bot": p.info.SeedFile.Bots[0].Token, "login token": login.Token} {
		if r := p.must("GET", "/v2/conversations", tok, nil); r.code != 200 {
			t.Errorf("%s after reset: %v", name, r)
		}
	}
	var c2 struct{ ID string }
	p.want(p.must("POST", "/v2/conversations", bot, `{"name":"after start","messages":[{"text":"hi"}]}`), 201, &c2)
	if c2.ID != c1.ID {
		t.Errorf("the first conversation created after reset is %s, after start it was %s", c2.ID, c1.ID)
	}
}

// Reset while API requests run: every answer is a well-formed HTTP answer
// below 500, and once the dust settles a reset brings back the start.
func TestRTFakeCmdResetWhileRequestsRun(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0", "-seed-file", rtfReadmeSeed)
	bot := p.info.Tokens.Bot
	convs0 := ids(t, p.must("GET", "/v2/conversations", bot, nil).body)
	var start map[string]any
	p.want(p.must("GET", "/_fake/", "", nil), 200, &start)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var bad []string
	note := func(what string, r rtfResp) {
		if r.err != nil || r.code >= 500 || (r.code >= 400 && !json.Valid(r.body)) {
			mu.Lock()
			bad = append(bad, what+": "+r.String())
			mu.Unlock()
		}
	}
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 25; i++ {
				r := p.do("POST", "/v2/conversations", bot, `{"name":"busy","messages":[{"text":"hi"}]}`)
				note("create", r)
				var c struct{ ID string }
				_ = json.Unmarshal(r.body, &c)
				if c.ID != "" {
					note("message", p.do("POST", "/v2/conversations/"+c.ID+"/messages", bot, `[{"text":"one"},{"type":"command","text":"/notify"}]`))
					note("get", p.do("GET", "/v2/conversations/"+c.ID+"?populate=messages", bot, nil))
				}
				note("list", p.do("GET", "/v2/conversations?limit=5&sort=-createdAt", bot, nil))
			}
		}()
	}
	for i := 0; i < 6; i++ {
		r := p.must("POST", "/_fake/reset", "", nil)
		var m map[string]any
		if r.code != 200 || json.Unmarshal(r.body, &m) != nil || !reflect.DeepEqual(m, start) {
			t.Errorf("reset %d under load: %v", i, r)
		}
	}
	wg.Wait()
	for _, b := range bad {
		t.Error(b)
	}
	p.want(p.must("POST", "/_fake/reset", "", nil), 200, nil)
	if got := ids(t, p.must("GET", "/v2/conversations", bot, nil).body); !slices.Equal(got, convs0) {
		t.Errorf("after the final reset: %v, want %v", got, convs0)
	}
}

// ---------------------------------------------------------------------------
// Secrets.

// "GET /_fake/requests recorded API requests ...; secrets in headers and
// bodies are redacted". Tokens, passwords, one-time codes, refresh tokens,
// service passwords and webhook secrets never appear in its answer.
func TestRTFakeCmdRequestsRedactSecrets(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0")
	admin := p.info.Tokens.Admin
	var login struct{ Token, RefreshToken string }
	p.want(p.must("POST", "/v2/auth/token", "", `{"email":"admin@acme.test","password":"admin-secret-1","otp":"918273"}`), 201, &login)
	p.must("POST", "/v2/auth/token", "", `{"clientId":"admin@acme.test","refreshToken":"`+login.RefreshToken+`"}`)
	p.must("POST", "/v2/auth/token", "", `{"email":"admin@acme.test","password":"wrong-pw-LEAK1"}`)
	p.must("POST", "/v2/services", admin, `{"name":"S","type":"smartsupp","params":{"jid":"j","password":"smart-pass-LEAK2","host":"h","port":5223}}`)
	p.must("POST", "/v2/services", admin, `{"name":"W","type":"webhook","params":{"url":"http://127.0.0.1:9/hook","secret":"hook-secret-LEAK3"}}`)
	p.must("POST", "/v2/users", admin, `{"email":"new@x.test","password":"new-user-pw-LEAK4","givenName":"N"}`)
	p.must("GET", "/v2/conversations", login.Token, nil, "Cookie", "sid=cookie-LEAK5")
	p.must("GET", "/v2/conversations", "malformed-LEAK6", nil)
	body := string(p.must("GET", "/_fake/requests", "", nil).body)
	for _, s := range []string{admin, login.Token, login.RefreshToken, "admin-secret-1", "918273", "wrong-pw-LEAK1", "smart-pass-LEAK2", "hook-secret-LEAK3", "new-user-pw-LEAK4", "cookie-LEAK5", "malformed-LEAK6"} {
		if strings.Contains(body, s) {
			t.Errorf("GET /_fake/requests shows the secret %.20q...", s)
		}
	}
	if !strings.Contains(body, "admin@acme.test") {
		t.Errorf("the recording lost what is not secret: %.300s", body)
	}
}

// The same promise for the credentials of a webhook URL: the webhook
// documentation advises "HTTPS plus HTTP basic auth in the URL
// (https://user:pass@host/path)", and chatshippertest counts "URL credentials"
// among a webhook's secrets (WithErrorsQuotingValues). GET /_fake/requests
// must not show the password of a webhook URL sent in a create or a PATCH.
func TestRTFakeCmdRequestsRedactWebhookURLCredentials(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0")
	admin := p.info.Tokens.Admin
	var svc struct{ ID string }
	p.want(p.must("POST", "/v2/services", admin, `{"name":"W","type":"webhook","params":{"url":"https://hookuser:url-pass-LEAK7@127.0.0.1:9/hook","secret":"s"}}`), 201, &svc)
	p.must("PATCH", "/v2/services/"+svc.ID, admin, `{"params":{"url":"https://hookuser:url-pass-LEAK8@127.0.0.1:9/hook2","secret":"s"}}`)
	body := string(p.must("GET", "/_fake/requests", "", nil).body)
	for _, s := range []string{"url-pass-LEAK7", "url-pass-LEAK8"} {
		if strings.Contains(body, s) {
			t.Errorf("GET /_fake/requests shows the webhook URL password %q: %s", s, excerpt(body, s))
		}
	}
}

func excerpt(s, sub string) string {
	i := strings.Index(s, sub)
	if i < 0 {
		return ""
	}
	lo, hi := max(0, i-60), min(len(s), i+len(sub)+20)
	return "…" + s[lo:hi] + "…"
}

// Secrets never reach the fake's own output beyond the start line (which
// prints the seeded tokens and passwords on purpose), nor the API's error
// answers under the default profile: a token that fails to verify, a wrong
// password, a refused refresh.
func TestRTFakeCmdNoSecretsInLogsOrErrors(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0", "-webhook-retry", "10ms", "-webhook-attempts", "2")
	bot, admin := p.info.Tokens.Bot, p.info.Tokens.Admin
	parts := strings.Split(bot, ".")
	badSig := parts[0] + "." + parts[1] + ".c2lnLUxFQUstQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFBQUFB"
	var login struct{ Token, RefreshToken string }
	p.want(p.must("POST", "/v2/auth/token", "", `{"email":"alice@acme.test","password":"agent-secret-1"}`), 201, &login)
	secrets := []string{login.Token, login.RefreshToken, badSig, "tok-LEAK-A", "pw-LEAK-B", "otp-LEAK-C", "refresh-LEAK-D", "url-pass-LEAK-E", "hook-secret-LEAK-F"}
	checks := []struct {
		method, path, token, body string
	}{
		{"GET", "/v2/conversations", "tok-LEAK-A", ""},
		{"GET", "/v2/conversations", "x.tok-LEAK-A.y", ""},
		{"GET", "/v2/conversations", badSig, ""},
		{"POST", "/v2/auth/token", "", `{"email":"alice@acme.test","password":"pw-LEAK-B"}`},
		{"POST", "/v2/auth/token", "", `{"email":"alice@acme.test","password":"agent-secret-1","otp":"otp-LEAK-C"}`},
		{"POST", "/v2/auth/token", "", `{"clientId":"alice@acme.test","refreshToken":"refresh-LEAK-D"}`},
		{"POST", "/v2/auth/token", "", `{"clientId":"bob@acme.test","refreshToken":"` + login.RefreshToken + `"}`},
		{"POST", "/v2/auth/token", "", `{"email":"alice@acme.test","password":"pw-LEAK-B"`},
		{"POST", "/v2/services", admin, `{"name":"W","type":"webhook","params":{"url":"http://u:url-pass-LEAK-E@127.0.0.1:1/x","secret":"hook-secret-LEAK-F"}}`},
		{"POST", "/v2/services", login.Token, `{"name":"W","type":"webhook","params":{"url":"http://u:url-pass-LEAK-E@127.0.0.1:1/x","secret":"hook-secret-LEAK-F"}}`},
		{"GET", "/v2/users/not-an-id", login.Token, ""},
	}
	for _, c := range checks {
		r := p.must(c.method, c.path, c.token, c.body)
		if r.code < 400 {
			continue // the created service itself carries its secret, as the API's answer does
		}
		for _, s := range secrets {
			if strings.Contains(string(r.body), s) {
				t.Errorf("%s %s answered %d quoting a secret: %s", c.method, c.path, r.code, r.body)
			}
		}
	}
	p.must("POST", "/_fake/deliveries/wait?timeout=10s", "", nil)
	p.stop(syscall.SIGTERM)
	rest := strings.TrimPrefix(p.out.String(), p.line)
	all := append(secrets, bot, admin, p.info.Tokens.Agent, p.info.Tokens.Guest, "agent-secret-1", "admin-secret-1")
	for _, s := range all {
		if strings.Contains(rest, s) || strings.Contains(p.errb.String(), s) {
			t.Errorf("a secret %.16q... appears in the fake's output after the start line", s)
		}
	}
}

// ---------------------------------------------------------------------------
// Rate limits.

// burst sends n concurrent GETs with token and returns the answers.
func (p *rtfProc) burst(n int, token string) []rtfResp {
	out := make([]rtfResp, n)
	var wg sync.WaitGroup
	for i := range out {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i] = p.do("GET", "/v2/channels", token, nil)
		}()
	}
	wg.Wait()
	return out
}

func count(rs []rtfResp, code int) int {
	n := 0
	for _, r := range rs {
		if r.code == code {
			n++
		}
	}
	return n
}

// "ChatShipper's API limits each IP address and each API key to 20 requests
// per second. Exceeding this limit will result in a 429" with Retry-After:
// a burst gets at most 20 answers, the rest 429 with Retry-After in seconds
// and a JSON message; waiting what the last 429 says is enough, even after
// hammering on while refused.
func TestRTFakeCmdRateLimitRetryAfterHonest(t *testing.T) {
	t.Parallel()
	p := rtfStart(t)
	bot := p.info.Tokens.Bot
	rs := p.burst(30, bot)
	if ok := count(rs, 200); ok > 20 || ok == 0 || count(rs, 429)+ok != 30 {
		t.Fatalf("burst of 30: %d answered 200, %d 429", ok, count(rs, 429))
	}
	for _, r := range rs {
		if r.code != 429 {
			continue
		}
		n, err := strconv.Atoi(r.hdr.Get("Retry-After"))
		if _, ok := errMessage(r.body); err != nil || n < 1 || !ok {
			t.Errorf("429 with Retry-After %q body %s", r.hdr.Get("Retry-After"), r.body)
		}
	}
	var last rtfResp
	for i := 0; i < 10; i++ {
		if r := p.must("GET", "/v2/channels", bot, nil); r.code == 429 {
			last = r
		}
	}
	if last.code != 429 {
		t.Skip("the window moved on during the hammering; nothing to wait for")
	}
	n, _ := strconv.Atoi(last.hdr.Get("Retry-After"))
	time.Sleep(time.Duration(n) * time.Second)
	if r := p.must("GET", "/v2/channels", bot, nil); r.code != 200 {
		t.Errorf("after waiting Retry-After: %d s: %v", n, r)
	}
}

// The limit is per IP as well as per key: two tokens from one address share
// 20 per second; the control API does not count.
func TestRTFakeCmdRateLimitPerIP(t *testing.T) {
	t.Parallel()
	p := rtfStart(t)
	var rs []rtfResp
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, tok := range []string{p.info.Tokens.Bot, p.info.Tokens.Admin, p.info.Tokens.Agent} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := p.burst(12, tok)
			mu.Lock()
			rs = append(rs, r...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if ok := count(rs, 200); ok > 20 {
		t.Errorf("three tokens from one IP got %d answers within a second, over the 20 per IP", ok)
	}
	if r := p.must("GET", "/_fake/", "", nil); r.code != 200 {
		t.Errorf("control API after the IP limit was spent: %v", r)
	}
}

// With -clock-frozen (the README's session and the doc's way to get "the
// same tokens on every run") a 429 still says "Retry-After: 1"; a client
// that waits that long must be let through. The limit's window follows the
// frozen clock, so nothing passes again until the control API moves it:
// the Retry-After is not honest and 20 requests are all a run gets.
func TestRTFakeCmdRateLimitFrozenClockRetryAfter(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-clock-start", "2024-05-01T09:00:00Z", "-clock-frozen")
	bot := p.info.Tokens.Bot
	var last rtfResp
	for i := 0; i < 21; i++ {
		last = p.must("GET", "/v2/channels", bot, nil)
	}
	if last.code != 429 {
		t.Fatalf("21st request: %v", last)
	}
	n, err := strconv.Atoi(last.hdr.Get("Retry-After"))
	if err != nil {
		t.Fatalf("Retry-After %q", last.hdr.Get("Retry-After"))
	}
	time.Sleep(time.Duration(n)*time.Second + 200*time.Millisecond)
	if r := p.must("GET", "/v2/channels", bot, nil); r.code != 200 {
		t.Errorf("waited the %d s a 429 asked for (plus 200 ms) under -clock-frozen, still refused: %v", n, r)
	}
}

// The Retry-After profiles through the command: retry-after-date sends an
// HTTP date that, waited for, lets the request through; no-retry-after sends
// none; retry-after-3600 says at least 3600 yet "The server still admits
// requests as soon as its windows allow".
func TestRTFakeCmdRetryAfterProfiles(t *testing.T) {
	t.Parallel()
	t.Run("retry-after-date", func(t *testing.T) {
		t.Parallel()
		p := rtfStart(t, "-profile", "retry-after-date")
		rs := p.burst(25, p.info.Tokens.Bot)
		var r429 *rtfResp
		for i := range rs {
			if rs[i].code == 429 {
				r429 = &rs[i]
			}
		}
		if r429 == nil {
			t.Fatal("no 429 in a burst of 25")
		}
		at, err1 := http.ParseTime(r429.hdr.Get("Retry-After"))
		date, err2 := http.ParseTime(r429.hdr.Get("Date"))
		if err1 != nil || err2 != nil {
			t.Fatalf("Retry-After %q Date %q", r429.hdr.Get("Retry-After"), r429.hdr.Get("Date"))
		}
		time.Sleep(at.Sub(date))
		if r := p.must("GET", "/v2/channels", p.info.Tokens.Bot, nil); r.code != 200 {
			t.Errorf("after waiting until the Retry-After date (%v after Date): %v", at.Sub(date), r)
		}
	})
	t.Run("no-retry-after", func(t *testing.T) {
		t.Parallel()
		p := rtfStart(t, "-profile", "no-retry-after")
		for _, r := range p.burst(25, p.info.Tokens.Bot) {
			if r.code == 429 && r.hdr.Get("Retry-After") != "" {
				t.Errorf("429 with Retry-After %q", r.hdr.Get("Retry-After"))
			}
		}
	})
	t.Run("retry-after-3600", func(t *testing.T) {
		t.Parallel()
		p := rtfStart(t, "-profile", "retry-after-3600")
		seen := false
		for _, r := range p.burst(25, p.info.Tokens.Bot) {
			if r.code == 429 {
				seen = true
				if n, err := strconv.Atoi(r.hdr.Get("Retry-After")); err != nil || n < 3600 {
					t.Errorf("429 with Retry-After %q", r.hdr.Get("Retry-After"))
				}
			}
		}
		if !seen {
			t.Fatal("no 429")
		}
		time.Sleep(1100 * time.Millisecond)
		if r := p.must("GET", "/v2/channels", p.info.Tokens.Bot, nil); r.code != 200 {
			t.Errorf("a second later: %v", r)
		}
	})
}

// The SDK's own limiter and the command's limit agree: 45 list calls from
// one client with the SDK's default limiter all succeed, no 429 reaches the
// server.
func TestRTFakeCmdSDKUnderDefaultLimit(t *testing.T) {
	t.Parallel()
	p := rtfStart(t)
	c, err := chatshipper.NewClient(p.info.Tokens.Bot, chatshipper.WithBaseURL(p.info.URL), chatshipper.WithHTTPClient(p.hc))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := 0; g < 5; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 9; i++ {
				if _, _, err := c.Channels.List(context.Background(), nil); err != nil {
					t.Errorf("list: %v", err)
				}
			}
		}()
	}
	wg.Wait()
	var rec struct {
		Requests []struct{ Status int }
	}
	p.want(p.must("GET", "/_fake/requests", "", nil), 200, &rec)
	for _, r := range rec.Requests {
		if r.Status == 429 {
			t.Errorf("the server answered the SDK 429")
			break
		}
	}
}

// ---------------------------------------------------------------------------
// The API: pagination, filters, commands.

// The pagination example of the docs, exactly: "/users/?offset=5&limit=5,
// where the total number of users available is 9" answers X-Total: 9,
// X-Total-Pages: 2, X-Page: 2, X-Per-Page: 5, X-Range: 6-9; the last page has
// first and prev links but no next or last; the headers are exposed.
func TestRTFakeCmdPaginationDocExample(t *testing.T) {
	t.Parallel()
	seed := rtfWriteFile(t, "users.json", `{"users":[{"email":"u1@p.test"},{"email":"u2@p.test"},{"email":"u3@p.test"},{"email":"u4@p.test"}]}`)
	p := rtfStart(t, "-rate-limit", "0", "-seed-file", seed)
	admin := p.info.Tokens.Admin
	r := p.must("GET", "/v2/users/?offset=5&limit=5", admin, nil)
	if r.code != 200 {
		t.Fatalf("/users/?offset=5&limit=5: %v", r)
	}
	want := map[string]string{"X-Total": "9", "X-Total-Pages": "2", "X-Page": "2", "X-Per-Page": "5", "X-Range": "6-9"}
	for h, v := range want {
		if got := r.hdr.Get(h); got != v {
			t.Errorf("%s: %q, the docs' example says %q", h, got, v)
		}
		if !strings.Contains(r.hdr.Get("Access-Control-Expose-Headers"), h) {
			t.Errorf("%s not in Access-Control-Expose-Headers %q", h, r.hdr.Get("Access-Control-Expose-Headers"))
		}
	}
	if n := len(ids(t, r.body)); n != 4 {
		t.Errorf("%d users on the last page, want 4", n)
	}
	links := parseLinks(r.hdr.Get("Link"))
	if links["first"] == "" || links["prev"] == "" || links["next"] != "" || links["last"] != "" {
		t.Errorf("Link on the last page: %q", r.hdr.Get("Link"))
	}
	first := p.must("GET", "/v2/users?limit=5", admin, nil)
	fl := parseLinks(first.hdr.Get("Link"))
	if fl["first"] != "" || fl["prev"] != "" || fl["next"] == "" || fl["last"] == "" || first.hdr.Get("X-Range") != "1-5" {
		t.Errorf("first page: Link %q X-Range %q", first.hdr.Get("Link"), first.hdr.Get("X-Range"))
	}
	next := p.must("GET", fl["next"], admin, nil)
	if !slices.Equal(ids(t, next.body), ids(t, r.body)) {
		t.Errorf("rel=next of the first page does not give the second")
	}
	// The SDK reads the same nine.
	c, err := chatshipper.NewClient(admin, chatshipper.WithBaseURL(p.info.URL), chatshipper.WithRateLimit(0), chatshipper.WithHTTPClient(p.hc))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, err := range c.Users.ListIter(context.Background(), chatshipper.NewQuery().Limit(2)) {
		if err != nil {
			t.Fatal(err)
		}
		n++
	}
	if n != 9 {
		t.Errorf("the SDK walked %d users, want 9", n)
	}
	for _, q := range []string{"limit=-1", "limit=abc", "offset=-1", "offset=9223372036854775808", "limit=1.5"} {
		if r := p.must("GET", "/v2/users?"+q, admin, nil); r.code != 400 {
			t.Errorf("?%s: %v, want 400", q, r)
		}
	}
	for _, q := range []string{"offset=9223372036854775807", "limit=9223372036854775807", "offset=100"} {
		if r := p.must("GET", "/v2/users?"+q, admin, nil); r.code != 200 || r.hdr.Get("X-Total") != "9" {
			t.Errorf("?%s: %v X-Total %q", q, r, r.hdr.Get("X-Total"))
		}
	}
}

func parseLinks(h string) map[string]string {
	out := map[string]string{}
	for _, part := range strings.Split(h, ",") {
		part = strings.TrimSpace(part)
		u, rest, ok := strings.Cut(part, ">;")
		if !ok {
			continue
		}
		rel := strings.TrimSpace(rest)
		rel = strings.TrimSuffix(strings.TrimPrefix(rel, `rel="`), `"`)
		out[rel] = strings.TrimPrefix(u, "<")
	}
	return out
}

// Lists are "ordered by id unless sorted, ids follow creation order": a walk
// by offset, one following rel="next" and one by key (id=>last) while
// conversations are created concurrently each see every conversation that
// existed before, once, in id order.
func TestRTFakeCmdPaginationConcurrentInserts(t *testing.T) {
	t.Parallel()
	convs := make([]string, 40)
	for i := range convs {
		convs[i] = fmt.Sprintf(`{"name":"pre %d","messages":[{"text":"m %d"}]}`, i, i)
	}
	seed := rtfWriteFile(t, "convs.json", `{"conversations":[`+strings.Join(convs, ",")+`]}`)
	p := rtfStart(t, "-rate-limit", "0", "-seed-file", seed)
	bot := p.info.Tokens.Bot
	before := ids(t, p.must("GET", "/v2/conversations?limit=1000", bot, nil).body)
	if len(before) != 40 {
		t.Fatalf("%d conversations seeded", len(before))
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			p.do("POST", "/v2/conversations", bot, fmt.Sprintf(`{"name":"during %d","messages":[{"text":"x"}]}`, i))
		}
	}()
	walks := map[string]func() ([]string, error){
		"offset": func() ([]string, error) {
			var all []string
			for off := 0; off < 2000; off += 7 {
				r := p.do("GET", fmt.Sprintf("/v2/conversations?offset=%d&limit=7", off), bot, nil)
				if r.err != nil || r.code != 200 {
					return all, fmt.Errorf("offset %d: %v", off, r)
				}
				got := ids(t, r.body)
				all = append(all, got...)
				if len(got) < 7 || len(all) >= 60 {
					break
				}
			}
			return all, nil
		},
		"link": func() ([]string, error) {
			var all []string
			next := "/v2/conversations?limit=7"
			for next != "" && len(all) < 60 {
				r := p.do("GET", next, bot, nil)
				if r.err != nil || r.code != 200 {
					return all, fmt.Errorf("%s: %v", next, r)
				}
				all = append(all, ids(t, r.body)...)
				next = parseLinks(r.hdr.Get("Link"))["next"]
			}
			return all, nil
		},
		"key": func() ([]string, error) {
			var all []string
			q := "/v2/conversations?limit=7"
			for len(all) < 60 {
				r := p.do("GET", q, bot, nil)
				if r.err != nil || r.code != 200 {
					return all, fmt.Errorf("%s: %v", q, r)
				}
				got := ids(t, r.body)
				all = append(all, got...)
				if len(got) < 7 {
					break
				}
				q = "/v2/conversations?limit=7&_id=>" + got[len(got)-1]
			}
			return all, nil
		},
	}
	type result struct {
		ids []string
		err error
	}
	results := map[string]result{}
	var rmu sync.Mutex
	var ww sync.WaitGroup
	for name, walk := range walks {
		ww.Add(1)
		go func() {
			defer ww.Done()
			got, err := walk()
			rmu.Lock()
			results[name] = result{got, err}
			rmu.Unlock()
		}()
	}
	ww.Wait()
	close(stop)
	wg.Wait()
	for name, res := range results {
		if res.err != nil {
			t.Errorf("%s walk: %v", name, res.err)
			continue
		}
		if !slices.IsSorted(res.ids) || len(slices.Compact(slices.Clone(res.ids))) != len(res.ids) {
			t.Errorf("%s walk: ids out of order or repeated: %v", name, res.ids)
		}
		for _, id := range before {
			if !slices.Contains(res.ids, id) {
				t.Errorf("%s walk missed %s, which existed before the walk", name, id)
			}
		}
	}
}

// Every filter operator of "3. Fetching Resources" on the users list, with
// numbers and strings in meta, OR queries, regex, select, sort, dot paths and
// array indexes, the mandatory filters, repeated fields and bad regexes.
func TestRTFakeCmdFiltersEveryOperator(t *testing.T) {
	t.Parallel()
	seed := rtfWriteFile(t, "flt.json", `{"users":[
		{"email":"f1@flt.test","givenName":"Van Oosten","familyName":"One","meta":{"age":10,"gender":"male"}},
		{"email":"f2@flt.test","givenName":"Two","familyName":"ACME Corp","meta":{"age":18,"gender":"female"}},
		{"email":"f3@flt.test","givenName":"Acmeson","familyName":"Three","meta":{"age":25,"gender":"male"}},
		{"email":"f4@flt.test","givenName":"Four","familyName":"Four","meta":{"age":30}},
		{"email":"f5@flt.test","givenName":"Five","familyName":"Five","meta":{"age":40,"gender":"other"}}]}`)
	p := rtfStart(t, "-rate-limit", "0", "-seed-file", seed)
	admin := p.info.Tokens.Admin
	emails := func(q string) []string {
		t.Helper()
		r := p.must("GET", "/v2/users?email=~flt.test&select=email&"+q, admin, nil)
		if r.code != 200 {
			t.Errorf("?%s: %v", q, r)
			return nil
		}
		var us []map[string]any
		_ = json.Unmarshal(r.body, &us)
		var out []string
		for _, u := range us {
			for k := range u {
				if k != "id" && k != "email" && k != "name" {
					t.Errorf("?%s: select=email gave field %q", q, k)
				}
			}
			e, _ := u["email"].(string)
			out = append(out, strings.TrimSuffix(e, "@flt.test"))
		}
		return out
	}
	cases := []struct {
		q    string
		want []string
	}{
		{"meta.gender=", []string{"f1", "f2", "f3", "f5"}},
		{"meta.gender=!", []string{"f4"}},
		{"meta.gender=male", []string{"f1", "f3"}},
		{"meta.gender=!=male", []string{"f2", "f4", "f5"}},
		{"meta.age=>18", []string{"f3", "f4", "f5"}},
		{"meta.age=>=18", []string{"f2", "f3", "f4", "f5"}},
		{"meta.age=<30", []string{"f1", "f2", "f3"}},
		{"meta.age=<=30", []string{"f1", "f2", "f3", "f4"}},
		{"meta.age=>18,<=30", []string{"f3", "f4"}},
		{"meta.gender=[female,male]", []string{"f1", "f2", "f3"}},
		{"meta.age=![18,30]", []string{"f1", "f3", "f5"}},
		{"meta.age=[10,40]", []string{"f1", "f5"}},
		{"givenName=~oost", []string{"f1"}},
		{"givenName,familyName=acme", []string{"f2", "f3"}},
		{"sort=-meta.age", []string{"f5", "f4", "f3", "f2", "f1"}},
		{"sort=-meta.gender,meta.age", []string{"f5", "f1", "f3", "f2", "f4"}},
		{"meta.age=18", []string{"f2"}},
	}
	for _, c := range cases {
		if got := emails(c.q); !slices.Equal(got, c.want) {
			t.Errorf("?%s: %v, want %v", c.q, got, c.want)
		}
	}
	// Dot paths into arrays and the array-index exist filters.
	org := p.info.Organization
	if got := ids(t, p.must("GET", "/v2/organizations?categories.name=~car", admin, nil).body); !slices.Equal(got, []string{org}) {
		t.Errorf("organizations?categories.name=~car: %v", got)
	}
	if got := ids(t, p.must("GET", "/v2/organizations?name,displayName=acme", admin, nil).body); !slices.Equal(got, []string{org}) {
		t.Errorf("organizations?name,displayName=acme: %v", got)
	}
	var one, two struct{ ID string }
	p.want(p.must("POST", "/v2/conversations", admin, `{"name":"one","messages":[{"text":"x"}]}`), 201, &one)
	p.want(p.must("POST", "/v2/conversations", admin, `{"name":"two","messages":[{"text":"x"}]}`), 201, &two)
	p.want(p.must("POST", "/v2/conversations/"+two.ID+"/messages", admin, `{"type":"command","text":"/join","user":"`+p.info.Users.Agents[0].ID+`"}`), 201, nil)
	if got := ids(t, p.must("GET", "/v2/conversations?participants.1", admin, nil).body); !slices.Equal(got, []string{two.ID}) {
		t.Errorf("conversations?participants.1: %v, want [%s]", got, two.ID)
	}
	if got := ids(t, p.must("GET", "/v2/conversations?participants.1=!", admin, nil).body); !slices.Equal(got, []string{one.ID}) {
		t.Errorf("conversations?participants.1=!: %v, want [%s]", got, one.ID)
	}
	// Mandatory filters, repeated fields, bad input: 400 with a message.
	for _, q := range []string{"/v2/messages", "/v2/messages?text=x", "/v2/conversations?meta.intent=greeting", "/v2/users?email=a&email=b", "/v2/users?givenName=~(", "/v2/users?sort=", "/v2/users?populate=nonsense"} {
		r := p.must("GET", q, admin, nil)
		if _, ok := errMessage(r.body); r.code != 400 || !ok {
			t.Errorf("%s: %v, want 400 with a message", q, r)
		}
	}
	for _, q := range []string{"/v2/messages?conversation=" + one.ID, "/v2/conversations?meta.intent=greeting&type=bot"} {
		if r := p.must("GET", q, admin, nil); r.code != 200 {
			t.Errorf("%s: %v", q, r)
		}
	}
	// The populate example of the docs.
	var conv struct {
		ID           string
		Status       string
		Organization map[string]any
		Participants []struct{ User map[string]any }
		Messages     []map[string]any
	}
	p.want(p.must("GET", "/v2/conversations/"+two.ID+"?select=status&populate=messages:type|text,organization:name,participants.user:givenName|familyName", admin, nil), 200, &conv)
	if conv.Status == "" || conv.Organization["name"] == nil || conv.Organization["id"] != org || len(conv.Messages) == 0 || conv.Messages[0]["type"] == nil || conv.Messages[0]["id"] == nil || conv.Messages[0]["createdAt"] != nil {
		t.Errorf("populate with field lists: %+v", conv)
	}
	for _, pt := range conv.Participants {
		if pt.User["id"] == nil || pt.User["givenName"] == nil || pt.User["email"] != nil {
			t.Errorf("participants.user:givenName|familyName gave %v", pt.User)
		}
	}
}

// Commands (ch5) and mentions and tags through raw HTTP: /notify, /accept,
// /set (properties, key value, meta object, category, language), /join,
// mention with targetUser, mention without target, tag normalisation,
// /leave, and a bot command.
func TestRTFakeCmdCommands(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0")
	bot := p.info.Tokens.Bot
	alice, bob := p.info.Users.Agents[0], p.info.Users.Agents[1]
	var c struct{ ID string }
	p.want(p.must("POST", "/v2/conversations", bot, `{"name":"Cmd","messages":[{"text":"start"}]}`), 201, &c)
	post := func(body string) rtfResp {
		t.Helper()
		return p.must("POST", "/v2/conversations/"+c.ID+"/messages", bot, body)
	}
	type part struct {
		User                    string
		Active, Accepted, Inbox bool
	}
	var conv struct {
		Status        string
		Name          string
		Channels      []string
		Meta          map[string]any
		CategoryIndex *int
		Language      string
		Participants  []part
	}
	get := func() {
		t.Helper()
		conv.Meta = nil
		p.want(p.must("GET", "/v2/conversations/"+c.ID, bot, nil), 200, &conv)
	}
	find := func(id string) part {
		for _, pt := range conv.Participants {
			if pt.User == id {
				return pt
			}
		}
		return part{}
	}
	p.want(post(`{"type":"command","text":"/notify"}`), 201, nil)
	get()
	if conv.Status != "queued" || !slices.Equal(conv.Channels, p.info.Channels) {
		t.Errorf("/notify: status %q channels %v, want queued and %v", conv.Status, conv.Channels, p.info.Channels)
	}
	p.want(post(`{"type":"command","text":"/accept","user":"`+alice.ID+`"}`), 201, nil)
	get()
	if a := find(alice.ID); conv.Status != "active" || len(conv.Channels) != 0 || !a.Active || !a.Accepted {
		t.Errorf("/accept: status %q channels %v alice %+v", conv.Status, conv.Channels, a)
	}
	p.want(post(`[{"type":"command","text":"/set @name Account Review"},{"type":"command","text":"/set engagement high"},
		{"type":"command","text":"/set","meta":{"scores":[8,7,6.5],"tier":"gold"}},{"type":"command","text":"/set @category 1"},
		{"type":"command","text":"/set @language de"}]`), 201, nil)
	get()
	if conv.Name != "Account Review" || conv.Meta["engagement"] != "high" || conv.Meta["tier"] != "gold" || conv.CategoryIndex == nil || *conv.CategoryIndex != 1 || conv.Language != "de" {
		t.Errorf("/set: name %q meta %v categoryIndex %v language %q", conv.Name, conv.Meta, conv.CategoryIndex, conv.Language)
	}
	p.want(post(`{"type":"command","text":"/join","user":"`+bob.ID+`"}`), 201, nil)
	get()
	if b := find(bob.ID); conv.Status != "active" || !b.Active || b.Accepted {
		t.Errorf("/join: status %q bob %+v", conv.Status, b)
	}
	var m struct {
		Text    string
		Meta    map[string]any
		Actions []any
		Results []any
	}
	p.want(post(`{"type":"mention","text":"@`+bob.Name+` look at this","meta":{"targetUser":"`+bob.ID+`"}}`), 201, &m)
	get()
	if m.Text != "look at this" || m.Meta["targetName"] != bob.Name || !find(bob.ID).Inbox {
		t.Errorf("mention: text %q meta %v bob %+v", m.Text, m.Meta, find(bob.ID))
	}
	if r := post(`{"type":"mention","text":"nobody"}`); r.code/100 != 4 {
		t.Errorf("a mention without target: %v", r)
	}
	p.want(post(`{"type":"tag","text":"#hashTag, hash !! tag#tag; #hash"}`), 201, &m)
	if m.Text != "hashTag hash tagtag" || m.Actions == nil || len(m.Actions) != 0 || m.Results == nil || len(m.Results) != 0 {
		t.Errorf("tag: %+v", m)
	}
	p.want(post(`{"type":"command","text":"/leave","user":"`+alice.ID+`"}`), 201, nil)
	get()
	if a := find(alice.ID); a.Active || a.Accepted || (conv.Status != "queued" && conv.Status != "closed") {
		t.Errorf("/leave: status %q alice %+v", conv.Status, a)
	}
	before := conv
	p.want(post(`{"type":"command","text":">onboard"}`), 201, nil)
	get()
	if conv.Status != before.Status || len(conv.Participants) != len(before.Participants) {
		t.Errorf("a bot command changed the conversation")
	}
}

// Paths the documentation lists (some [uncertain]) and methods it does not
// support: a clear error, JSON under /v2/ ("The response body is
// JSON-encoded"), never a 5xx.
func TestRTFakeCmdDocumentedPathsAnswerCleanly(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0")
	admin := p.info.Tokens.Admin
	var c struct {
		ID       string
		Messages []string
	}
	p.want(p.must("POST", "/v2/conversations", admin, `{"name":"x","messages":[{"text":"hi"}]}`), 201, &c)
	msg := c.Messages[0]
	reqs := []struct{ method, path, body string }{
		{"GET", "/v2/conversations/" + c.ID + "/messages", ""},
		{"POST", "/v2/messages", `{"conversation":"` + c.ID + `","text":"via messages"}`},
		{"PUT", "/v2/messages/" + msg, `{"text":"replaced"}`},
		{"PATCH", "/v2/messages/" + msg, `{"meta":{"a":1}}`},
		{"PUT", "/v2/conversations/" + c.ID, `{}`},
		{"PATCH", "/v2/conversations", `{}`},
		{"DELETE", "/v2/conversations", ""},
		{"OPTIONS", "/v2/conversations", ""},
		{"GET", "/v2/conversations/" + c.ID + "/nonsense", ""},
		{"GET", "/v2/conversations/not-an-id", ""},
		{"GET", "/v2/conversations/" + strings.Repeat("a", 10000), ""},
		{"GET", "/v2/", ""},
		{"GET", "/v2", ""},
		{"GET", "/v2/usergroups", ""},
		{"GET", "/v2/events", ""},
		{"GET", "/v2/dealers", ""},
		{"POST", "/v2/auth/token", `{}`},
		{"GET", "/v2/auth/token", ""},
		{"GET", "/apidoc/index.html", ""},
		{"POST", "/webhooks/smooch", `{}`},
	}
	for _, coll := range []string{"orggroups", "partners", "services", "forms", "workflows", "bots", "botinstances", "kbases", "kbitems", "articles", "files", "locations", "watemplates", "metrics", "points", "tests", "testresults", "links", "contacts", "channels"} {
		reqs = append(reqs, struct{ method, path, body string }{"GET", "/v2/" + coll, ""})
	}
	for _, q := range reqs {
		r := p.must(q.method, q.path, admin, q.body)
		if r.code >= 500 {
			t.Errorf("%s %s: %v", q.method, q.path, r)
		}
		if r.code >= 400 && strings.HasPrefix(q.path, "/v2") {
			if _, ok := errMessage(r.body); !ok {
				t.Errorf("%s %s: %d without a JSON error message: %q", q.method, q.path, r.code, r.body)
			}
		}
	}
}

// Huge and malformed inputs: a clear 4xx (or success), never a crash.
func TestRTFakeCmdHugeInputs(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0")
	bot := p.info.Tokens.Bot
	big := `{"name":"big","messages":[{"text":"` + strings.Repeat("x", 12<<20) + `"}]}`
	deep := strings.Repeat("[", 200000) + strings.Repeat("]", 200000)
	many := make([]string, 3000)
	for i := range many {
		many[i] = fmt.Sprintf(`{"text":"line %d"}`, i)
	}
	cases := []struct{ name, method, path, body string }{
		{"12MB message", "POST", "/v2/conversations", big},
		{"deep JSON", "POST", "/v2/conversations", deep},
		{"3000-message batch", "POST", "/v2/conversations", `{"name":"many","messages":[` + strings.Join(many, ",") + `]}`},
		{"1MB query", "GET", "/v2/conversations?name=" + strings.Repeat("y", 1<<20), ""},
		{"invalid UTF-8", "POST", "/v2/conversations", "{\"name\":\"\xff\xfe\",\"messages\":[{\"text\":\"\xc3\x28\"}]}"},
		{"NUL bytes", "POST", "/v2/conversations", "{\"name\":\"a\\u0000b\",\"messages\":[{\"text\":\"\\u0000\"}]}"},
		{"huge number", "POST", "/v2/conversations", `{"name":"n","meta":{"n":1e400},"messages":[{"text":"x"}]}`},
	}
	for _, c := range cases {
		r := p.do(c.method, c.path, bot, c.body)
		if r.err != nil || r.code >= 500 {
			t.Errorf("%s: %v", c.name, r)
		} else if r.code >= 400 {
			if _, ok := errMessage(r.body); !ok && r.code != 413 && r.code != 414 && r.code != 431 {
				t.Errorf("%s: %d without a JSON error: %.200q", c.name, r.code, r.body)
			}
		}
	}
	if r := p.must("GET", "/v2/conversations?select=name", bot, nil); r.code != 200 {
		t.Errorf("after the huge inputs: %v", r)
	}
}

// ---------------------------------------------------------------------------
// Profiles, determinism, clock, webhooks.

// "-profile a+b a server the documentation allows (chatshippertest.Profiles)":
// every profile name and a combination start and report themselves, and a
// few change what they say.
func TestRTFakeCmdProfiles(t *testing.T) {
	t.Parallel()
	names := []string{"default", "page-cap-10+no-total+clock-behind-2h"}
	for _, pr := range chatshippertest.Profiles() {
		names = append(names, pr.Name)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			code, stdout, stderr := rtfRun(t, "-json", "-profile", name)
			var in rtfInfo
			if code != 0 || json.Unmarshal([]byte(firstLine(stdout)), &in) != nil || in.Profile != name {
				t.Errorf("-profile %s: exit %d, profile %q, stderr %s", name, code, in.Profile, firstLine(stderr))
			}
		})
	}
	t.Run("behaviour", func(t *testing.T) {
		t.Parallel()
		seed := rtfWriteFile(t, "c.json", `{"conversations":[`+strings.TrimSuffix(strings.Repeat(`{"messages":[{"text":"x"}]},`, 15), ",")+`]}`)
		a := rtfStart(t, "-rate-limit", "0", "-seed-file", seed, "-profile", "page-cap-10+no-total+clock-ahead-2h")
		r := a.must("GET", "/v2/conversations?limit=50", a.info.Tokens.Bot, nil)
		date, _ := http.ParseTime(r.hdr.Get("Date"))
		if n := len(ids(t, r.body)); n != 10 || r.hdr.Get("X-Per-Page") != "10" || r.hdr.Get("X-Total") != "" || parseLinks(r.hdr.Get("Link"))["next"] == "" {
			t.Errorf("page-cap-10+no-total: %d items, X-Per-Page %q, X-Total %q, Link %q", n, r.hdr.Get("X-Per-Page"), r.hdr.Get("X-Total"), r.hdr.Get("Link"))
		}
		if d := time.Until(date); d < 110*time.Minute || d > 130*time.Minute {
			t.Errorf("clock-ahead-2h: Date %s is %v from now", r.hdr.Get("Date"), d)
		}
		b := rtfStart(t, "-rate-limit", "0", "-profile", "id-compare-refused+errors-quote-values")
		r = b.must("GET", "/v2/conversations?id=>"+b.info.Organization, b.info.Tokens.Bot, nil)
		if msg, _ := errMessage(r.body); r.code != 400 || !strings.Contains(msg, "Cast to ObjectId failed") {
			t.Errorf("id-compare-refused: %v", r)
		}
		r = b.must("POST", "/v2/auth/token", "", `{"email":"alice@acme.test","password":"quoted-pw"}`)
		if msg, _ := errMessage(r.body); r.code != 401 || !strings.Contains(msg, "quoted-pw") {
			t.Errorf("errors-quote-values (quoting is this profile's documented behaviour): %v", r)
		}
	})
}

// "The same -rand-seed gives the same ids; with -clock-start and
// -clock-frozen the tokens are the same on every run too."
func TestRTFakeCmdRandSeedDeterminism(t *testing.T) {
	t.Parallel()
	run := func(seed string) map[string]any {
		code, stdout, stderr := rtfRun(t, "-json", "-rand-seed", seed, "-clock-start", "2024-05-01T09:00:00Z", "-clock-frozen", "-seed-file", rtfReadmeSeed)
		var m map[string]any
		if code != 0 || json.Unmarshal([]byte(firstLine(stdout)), &m) != nil {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		delete(m, "url")
		delete(m, "host")
		delete(m, "control")
		return m
	}
	a, b, c := run("7"), run("7"), run("8")
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two runs with -rand-seed 7 differ:\n%v\n%v", a, b)
	}
	if a["organization"] == c["organization"] {
		t.Errorf("-rand-seed 7 and 8 give the same organization id %v", a["organization"])
	}
}

// The clock: -clock-start and the control API move token expiry and the Date
// header; a login token (24 h) and a seed file token (ttl 1h) expire with
// "jwt expired", permanent tokens never do.
func TestRTFakeCmdClockAndTokenExpiry(t *testing.T) {
	t.Parallel()
	seed := rtfWriteFile(t, "tok.json", `{"tokens":[{"name":"short","user":"5bb551b8000000c0ceda11dc","ttl":"1h"}]}`)
	p := rtfStart(t, "-rate-limit", "0", "-seed-file", seed, "-clock-start", "2024-05-01T09:00:00Z", "-clock-frozen")
	if len(p.info.SeedFile.Tokens) != 1 || !strings.HasPrefix(p.info.SeedFile.Tokens[0].ExpiresAt, "2024-05-01T10:00:00") {
		t.Fatalf("seed token: %+v", p.info.SeedFile.Tokens)
	}
	short := p.info.SeedFile.Tokens[0].Token
	var login struct{ Token, ExpiresAt string }
	p.want(p.must("POST", "/v2/auth/token", "", `{"email":"admin@acme.test","password":"admin-secret-1"}`), 201, &login)
	if !strings.HasPrefix(login.ExpiresAt, "2024-05-02T09:00:00") {
		t.Errorf("login expiresAt %s", login.ExpiresAt)
	}
	r := p.must("GET", "/v2/conversations", short, nil)
	if r.code != 200 || r.hdr.Get("Date") != "Wed, 01 May 2024 09:00:00 GMT" {
		t.Errorf("at the start: %v Date %q", r, r.hdr.Get("Date"))
	}
	expired := func(tok string) bool {
		r := p.must("GET", "/v2/conversations", tok, nil)
		msg, _ := errMessage(r.body)
		return r.code == 401 && msg == "jwt expired"
	}
	p.must("POST", "/_fake/clock", "", `{"advance":"2h"}`)
	if !expired(short) || expired(login.Token) || expired(p.info.Tokens.Bot) {
		t.Errorf("after 2h: the 1h token should be expired, the others not")
	}
	p.must("POST", "/_fake/clock", "", `{"advance":"23h"}`)
	if !expired(login.Token) || expired(p.info.Tokens.Bot) {
		t.Errorf("after 25h: the login token should be expired, the bot's permanent token not")
	}
	p.must("POST", "/_fake/clock", "", `{"set":"2024-05-01T09:30:00Z"}`)
	if expired(short) || expired(login.Token) {
		t.Errorf("set back to 09:30: the tokens are valid again on the fake's clock")
	}
}

// Webhooks through the command: a webhook service on a receiver in the test
// is verified, receives signed events, and /_fake/deliveries and
// /_fake/deliveries/wait report them; a wait that cannot finish answers 504
// with "idle": false.
func TestRTFakeCmdWebhookDeliveries(t *testing.T) {
	t.Parallel()
	const secret = "hook-secret-1"
	type got struct {
		body []byte
		sig  string
	}
	var mu sync.Mutex
	var posts []got
	release := make(chan struct{})
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "GET" {
			_, _ = io.WriteString(w, r.URL.Query().Get("challenge"))
			return
		}
		b, _ := io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			<-release
		}
		mu.Lock()
		posts = append(posts, got{b, r.Header.Get("X-Hub-Signature")})
		mu.Unlock()
	}))
	defer recv.Close()
	defer close(release)
	p := rtfStart(t, "-rate-limit", "0", "-webhook-retry", "10ms", "-webhook-attempts", "1")
	admin := p.info.Tokens.Admin
	var svc struct{ ID, Status string }
	hookURL := strings.Replace(recv.URL, "http://", "http://hookuser:hook-url-pass@", 1) + "/hook"
	p.want(p.must("POST", "/v2/services", admin, `{"name":"hook","type":"webhook","params":{"url":"`+hookURL+`","secret":"`+secret+`","events":["message.create.*.*"]}}`), 201, &svc)
	if svc.Status != "unverified" {
		t.Errorf("a new webhook answers status %q, want unverified", svc.Status)
	}
	var c struct{ ID string }
	p.want(p.must("POST", "/v2/conversations", p.info.Tokens.Bot, `{"name":"wh","messages":[{"text":"hello hook"}]}`), 201, &c)
	var wait struct {
		Idle       bool
		Deliveries []struct {
			Service, URL, Event, ID string
			Attempts, Status        int
			Delivered               bool
		}
	}
	p.want(p.must("POST", "/_fake/deliveries/wait?timeout=10s", "", nil), 200, &wait)
	if !wait.Idle || len(wait.Deliveries) == 0 {
		t.Fatalf("deliveries/wait: %+v", wait)
	}
	for _, d := range wait.Deliveries {
		if d.Service != svc.ID || !d.Delivered || d.Status != 200 || !strings.HasPrefix(d.Event, "message.create.bot.") {
			t.Errorf("delivery %+v", d)
		}
	}
	mu.Lock()
	for _, g := range posts {
		mac := hmac.New(sha1.New, []byte(secret))
		mac.Write(g.body)
		if g.sig != "sha1="+hex.EncodeToString(mac.Sum(nil)) {
			t.Errorf("X-Hub-Signature %q does not sign the body", g.sig)
		}
	}
	mu.Unlock()
	var list struct{ Deliveries []any }
	r0 := p.must("GET", "/_fake/deliveries", "", nil)
	p.want(r0, 200, &list)
	if strings.Contains(string(r0.body), "hook-url-pass") {
		// Not a documented promise (only /_fake/requests promises redaction): an observation.
		t.Logf("GET /_fake/deliveries shows the webhook URL's password: %s", excerpt(string(r0.body), "hook-url-pass"))
	}
	if len(list.Deliveries) != len(wait.Deliveries) {
		t.Errorf("GET /_fake/deliveries lists %d, wait listed %d", len(list.Deliveries), len(wait.Deliveries))
	}
	// A receiver that does not answer: the wait gives up with 504.
	p.want(p.must("POST", "/v2/services", admin, `{"name":"slow","type":"webhook","params":{"url":"`+recv.URL+`/slow","secret":"s"}}`), 201, nil)
	p.must("POST", "/_fake/deliveries/wait?timeout=10s", "", nil) // its verification (a GET) passes
	p.want(p.must("POST", "/v2/conversations/"+c.ID+"/messages", p.info.Tokens.Bot, `{"text":"again"}`), 201, nil)
	r := p.must("POST", "/_fake/deliveries/wait?timeout=300ms", "", nil)
	var idle struct{ Idle *bool }
	if r.code != 504 || json.Unmarshal(r.body, &idle) != nil || idle.Idle == nil || *idle.Idle {
		t.Errorf("wait with a delivery pending: %v, want 504 with \"idle\": false", r)
	}
}

// The per-ip-limit profile is "the documented 20 requests per second per key
// and per IP, on", to be given "after the options it should override
// (per-ip-limit after WithRateLimit(0))". Through the command,
// "-rate-limit 0 -profile per-ip-limit" starts, reports the profile as
// per-ip-limit, and does not limit: either the profile should apply, or the
// contradiction should be refused like other conflicting profiles.
func TestRTFakeCmdProfilePerIPLimitWithRateLimitOff(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0", "-profile", "per-ip-limit")
	if p.info.Profile != "per-ip-limit" {
		t.Fatalf("profile %q", p.info.Profile)
	}
	if ok := count(p.burst(30, p.info.Tokens.Bot), 200); ok > 20 {
		t.Errorf("the start line says profile per-ip-limit, yet %d of 30 requests in one burst were answered 200", ok)
	}
}

// Bot loop limits through the command: "seeded messages do not count toward
// the bot loop limits"; the 9th identical bot message in 3 minutes is a 429
// whose Retry-After, waited on the fake's clock (moved by the control API),
// is enough.
func TestRTFakeCmdLoopLimitSeededAndRetryAfter(t *testing.T) {
	t.Parallel()
	msgs := strings.TrimSuffix(strings.Repeat(`{"text":"same"},`, 25), ",")
	seed := rtfWriteFile(t, "loop.json", `{"conversations":[{"name":"loopy","messages":[`+msgs+`]}]}`)
	p := rtfStart(t, "-rate-limit", "0", "-seed-file", seed)
	conv := p.info.SeedFile.Conversations[0].ID
	bot := p.info.Tokens.Bot
	for i := 0; i < 8; i++ {
		if r := p.must("POST", "/v2/conversations/"+conv+"/messages", bot, `{"text":"same"}`); r.code != 201 {
			t.Fatalf("identical bot message %d after 25 seeded ones: %v", i+1, r)
		}
	}
	r := p.must("POST", "/v2/conversations/"+conv+"/messages", bot, `{"text":"same"}`)
	n, err := strconv.Atoi(r.hdr.Get("Retry-After"))
	if r.code != 429 || err != nil || n < 1 {
		t.Fatalf("9th identical: %v Retry-After %q", r, r.hdr.Get("Retry-After"))
	}
	p.must("POST", "/_fake/clock", "", fmt.Sprintf(`{"advance":"%ds"}`, n))
	if r := p.must("POST", "/v2/conversations/"+conv+"/messages", bot, `{"text":"same"}`); r.code != 201 {
		t.Errorf("after moving the clock by Retry-After %d s: %v", n, r)
	}
}

// -fault flags (the README's form, repeatable) and control faults: status,
// message, retryAfter, count, drop "after" (stored, no answer); the recorded
// requests' method, path (exact) and prefix filters.
func TestRTFakeCmdFaults(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0",
		"-fault", `{"path":"/v2/messages","status":503,"count":1}`,
		"-fault", `{"method":"DELETE","status":418,"message":"teapot","retryAfter":"7"}`)
	bot := p.info.Tokens.Bot
	if r := p.must("GET", "/v2/messages?type=chat", bot, nil); r.code != 503 {
		t.Errorf("first GET /v2/messages: %v", r)
	}
	if r := p.must("GET", "/v2/messages?type=chat", bot, nil); r.code != 200 {
		t.Errorf("second GET /v2/messages (count 1): %v", r)
	}
	r := p.must("DELETE", "/v2/conversations/"+p.info.Organization, bot, nil)
	if msg, _ := errMessage(r.body); r.code != 418 || msg != "teapot" || r.hdr.Get("Retry-After") != "7" {
		t.Errorf("DELETE fault: %v Retry-After %q", r, r.hdr.Get("Retry-After"))
	}
	p.must("DELETE", "/_fake/faults", "", nil)
	p.must("POST", "/_fake/faults", "", `{"method":"POST","path":"/v2/conversations","drop":"after","count":1}`)
	if r := p.do("POST", "/v2/conversations", bot, `{"name":"dropped","messages":[{"text":"x"}]}`); r.err == nil {
		t.Errorf("drop after: got an answer %v", r)
	}
	if got := ids(t, p.must("GET", "/v2/conversations?name=dropped", bot, nil).body); len(got) != 1 {
		t.Errorf("drop after: %d conversations stored, want 1", len(got))
	}
	var rec struct {
		Count    int
		Requests []struct {
			Method, Path string
			Status       int
		}
	}
	p.want(p.must("GET", "/_fake/requests?method=POST", "", nil), 200, &rec)
	if rec.Count != 1 || rec.Requests[0].Status != 0 {
		t.Errorf("?method=POST: %+v (the dropped POST, status 0)", rec)
	}
	for q, want := range map[string]int{"path=/v2/messages": 2, "path=/v2/mess": 0, "prefix=/v2/mess": 2, "prefix=/v2/": 5} {
		p.want(p.must("GET", "/_fake/requests?"+q, "", nil), 200, &rec)
		if rec.Count != want || len(rec.Requests) != want {
			t.Errorf("/_fake/requests?%s: count %d, %d listed, want %d", q, rec.Count, len(rec.Requests), want)
		}
	}
}

// -clock-skew and -token-ttl: the Date header runs 2 hours behind real time,
// and a login token lives 90 minutes on that clock.
func TestRTFakeCmdClockSkewAndTokenTTL(t *testing.T) {
	t.Parallel()
	p := rtfStart(t, "-rate-limit", "0", "-clock-skew", "-2h", "-token-ttl", "90m")
	r := p.must("POST", "/v2/auth/token", "", `{"email":"admin@acme.test","password":"admin-secret-1"}`)
	var login struct{ ExpiresAt time.Time }
	p.want(r, 201, &login)
	date, err := http.ParseTime(r.hdr.Get("Date"))
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Until(date); d > -110*time.Minute || d < -130*time.Minute {
		t.Errorf("-clock-skew -2h: Date %s is %v from now", r.hdr.Get("Date"), d)
	}
	if d := login.ExpiresAt.Sub(date); d < 89*time.Minute || d > 91*time.Minute {
		t.Errorf("-token-ttl 90m: expiresAt %v is %v after the answer's Date", login.ExpiresAt, d)
	}
}
