package redteam_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/go-chatshipper/chatshipper"
)

// jsonEscapeAll writes s as a JSON string body with every non-ASCII rune and
// <, >, & escaped as \uXXXX (valid JSON, as many servers write it).
func jsonEscapeAll(s string) string {
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '/':
			b.WriteString(`\/`)
		case r < 0x20 || r > 0x7e || r == '<' || r == '>' || r == '&' || r == '\'':
			if r > 0xffff {
				r1, r2 := utf16Pair(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

func utf16Pair(r rune) (rune, rune) {
	r -= 0x10000
	return 0xd800 + (r>>10)&0x3ff, 0xdc00 + r&0x3ff
}

// echoServer answers every request 422 quoting all string and number values
// of the JSON body, each under its path, in a message and in a details
// object written with heavy JSON escaping, and the Authorization header.
func echoServer(t *testing.T) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var v any
		json.Unmarshal(body, &v)
		var parts []string
		var walk func(p string, v any)
		walk = func(p string, v any) {
			switch x := v.(type) {
			case map[string]any:
				for k, vv := range x {
					walk(p+k+".", vv)
				}
			case []any:
				for i, vv := range x {
					walk(fmt.Sprintf("%s%d.", p, i), vv)
				}
			case string:
				parts = append(parts, fmt.Sprintf("%s=`%s`", strings.TrimSuffix(p, "."), x))
			case float64:
				parts = append(parts, fmt.Sprintf("%s=`%v`", strings.TrimSuffix(p, "."), json.Number(fmt.Sprint(int64(x)))))
			}
		}
		walk("", v)
		msg := "Validation failed: " + strings.Join(parts, ", ") + " auth=" + r.Header.Get("Authorization")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(422)
		fmt.Fprintf(w, `{"message":"%s","details":"%s","raw":%s}`, jsonEscapeAll(msg), jsonEscapeAll(msg), string(body))
	}))
	t.Cleanup(ts.Close)
	return ts
}

type leakCheck struct {
	t       *testing.T
	secrets []string
}

func (lc leakCheck) check(where, s string) {
	lc.t.Helper()
	for _, sec := range lc.secrets {
		forms := []string{sec}
		if b, _ := json.Marshal(sec); len(b) > 2 {
			forms = append(forms, string(b[1:len(b)-1]))
		}
		forms = append(forms, jsonEscapeAll(sec))
		for _, f := range forms {
			if f != "" && strings.Contains(s, f) {
				lc.t.Errorf("secret %q (as %q) leaked in %s:\n%s", sec, f, where, s)
				break
			}
		}
	}
}

func (lc leakCheck) checkErr(err error, logs *bytes.Buffer) {
	lc.t.Helper()
	if err == nil {
		lc.t.Fatal("no error")
	}
	lc.check("Error()", err.Error())
	lc.check("%v", fmt.Sprintf("%v", err))
	lc.check("%+v", fmt.Sprintf("%+v", err))
	lc.check("%#v", fmt.Sprintf("%#v", err))
	var er *chatshipper.ErrorResponse
	if errors.As(err, &er) {
		lc.check("ErrorResponse.Message", er.Message)
		lc.check("ErrorResponse.Body", string(er.Body))
		lc.check("%#v ErrorResponse", fmt.Sprintf("%#v", *er))
	}
	var tb, jb bytes.Buffer
	slog.New(slog.NewTextHandler(&tb, nil)).Error("failed", "err", err)
	slog.New(slog.NewJSONHandler(&jb, nil)).Error("failed", "err", err)
	lc.check("slog text", tb.String())
	lc.check("slog json", jb.String())
	if logs != nil {
		lc.check("client debug log", logs.String())
	}
}

func echoClient(t *testing.T, ts *httptest.Server, token string, logs *bytes.Buffer) *chatshipper.Client {
	c, err := chatshipper.NewClient(token, chatshipper.WithBaseURL(ts.URL+"/v2/"), chatshipper.WithRateLimit(0),
		chatshipper.WithLoopGuard(false), chatshipper.WithMaxRetries(0),
		chatshipper.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Promise: "every secret the request carried is replaced by "[redacted]" in
// the message, the error string and the kept body: ... password ..." — with
// a server that writes its body with JSON escapes.
func TestRedteamSecretsPasswordEscapedEcho(t *testing.T) {
	for _, pw := range []string{
		"hunter2-plain-ascii",
		`quo"te\back-slash`,
		"päss<wörd>&1",
		"emoji-🔑-pass",
		"a/b/c-pass'x",
	} {
		t.Run(pw, func(t *testing.T) {
			ts := echoServer(t)
			var logs bytes.Buffer
			c := echoClient(t, ts, "tok-secret-bearer-value", &logs)
			_, _, err := c.Users.Create(context.Background(), &chatshipper.UserCreate{Name: "x", Email: "x@example.com", Password: pw})
			leakCheck{t, []string{pw, "tok-secret-bearer-value"}}.checkErr(err, &logs)
		})
	}
}

// Login through the same server.
func TestRedteamSecretsLoginEscapedEcho(t *testing.T) {
	ts := echoServer(t)
	var logs bytes.Buffer
	_, err := chatshipper.Login(context.Background(), chatshipper.Credentials{Email: "a@b.c", Password: `lo"gin<pw>ü`, OTP: "918273"},
		chatshipper.WithBaseURL(ts.URL+"/v2/"), chatshipper.WithMaxRetries(0),
		chatshipper.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	leakCheck{t, []string{`lo"gin<pw>ü`, "918273"}}.checkErr(err, &logs)
}

// A webhook URL with user:pass@ and ?token=, a secret, echoed back.
func TestRedteamSecretsWebhookURLEcho(t *testing.T) {
	cases := []struct {
		url, secret string
		secrets     []string
	}{
		{"https://hookuser:hookpa55word@hooks.example.com/cb?token=qtok3n-value&x=1", "whsec-0123456789", []string{"hookpa55word", "qtok3n-value", "whsec-0123456789"}},
		// percent-encoded credentials: the server quotes the URL as sent.
		{"https://hookuser:p%40ss%2Fw0rd@hooks.example.com/cb?access_token=a%2Bb%2Fc%3Dtok", "whsec-<&>\"x", []string{"p%40ss%2Fw0rd", "p@ss/w0rd", "a%2Bb%2Fc%3Dtok", "a+b/c=tok", "whsec-<&>\"x"}},
		// a token as the user name (no password)
		{"https://tok3nAsUserName99@hooks.example.com/cb", "whsec-secondsecret", []string{"tok3nAsUserName99", "whsec-secondsecret"}},
	}
	for _, tc := range cases {
		t.Run(tc.url, func(t *testing.T) {
			ts := echoServer(t)
			var logs bytes.Buffer
			c := echoClient(t, ts, "tok-secret-bearer-value", &logs)
			w := &chatshipper.WebhookServiceCreate{Name: "hook", URL: tc.url, Secret: tc.secret}
			_, _, err := c.Services.CreateWebhook(context.Background(), w)
			lc := leakCheck{t, tc.secrets}
			lc.checkErr(err, &logs)
			lc.check("%+v WebhookServiceCreate", fmt.Sprintf("%+v", w))
			lc.check("%#v WebhookServiceCreate", fmt.Sprintf("%#v", w))
		})
	}
}

// Credentials in Document bodies sent through Collection (numbers included).
func TestRedteamSecretsCollectionNumbers(t *testing.T) {
	ts := echoServer(t)
	var logs bytes.Buffer
	c := echoClient(t, ts, "tok-secret-bearer-value", &logs)
	var doc chatshipper.Document
	if err := json.Unmarshal([]byte(`{"name":"kb","apiKey":"k3y-v4lue-xyz","pin":48151623,"nested":{"clientSecret":"n3sted-secr3t","list":[{"password":"in-array-pw"}]}}`), &doc); err != nil {
		t.Fatal(err)
	}
	_, _, err := c.Collection("kbases").Create(context.Background(), &doc)
	leakCheck{t, []string{"k3y-v4lue-xyz", "48151623", "n3sted-secr3t", "in-array-pw"}}.checkErr(err, &logs)
}

// A short password still a secret.
func TestRedteamSecretsShortPassword(t *testing.T) {
	ts := echoServer(t)
	var logs bytes.Buffer
	c := echoClient(t, ts, "tok-secret-bearer-value", &logs)
	_, _, err := c.Users.Create(context.Background(), &chatshipper.UserCreate{Name: "x", Email: "x@example.com", Password: "Qz9"})
	leakCheck{t, []string{"Qz9"}}.checkErr(err, &logs)
}

var _ = utf8.RuneLen
