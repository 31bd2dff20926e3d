package chatshipper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestErrorMapping(t *testing.T) {
	t.Parallel()
	all := []error{ErrBadRequest, ErrUnauthorized, ErrForbidden, ErrNotFound, ErrUnprocessable, ErrRateLimited, ErrServer}
	tests := []struct {
		status  int
		body    string
		want    error
		wantMsg string
	}{
		{400, `{"message":"Invalid parameter limit"}`, ErrBadRequest, "Invalid parameter limit"},
		{401, `{"error":{"message":"jwt expired"}}`, ErrUnauthorized, "jwt expired"},
		{403, `{"error":{"message":"Permission denied"}}`, ErrForbidden, "Permission denied"},
		{404, `{"error":{"message":"Conversation not found"}}`, ErrNotFound, "Conversation not found"},
		{422, `{"message":"text is required"}`, ErrUnprocessable, "text is required"},
		{500, `<html>Internal Server Error</html>`, ErrServer, ""},
		{503, ``, ErrServer, ""},
		{400, `{"error":"plain string error"}`, ErrBadRequest, "plain string error"},
		{400, `{"error":{"code":12}}`, ErrBadRequest, ""},
		{404, `not json at all`, ErrNotFound, ""},
	}
	for _, tt := range tests {
		t.Run(http.StatusText(tt.status)+"/"+tt.body, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t, WithMaxRetries(0))
			mt.RegisterResponder("GET", testBase+"users/5bb0277fd99faf11a3f4a37e", httpmock.NewStringResponder(tt.status, tt.body))
			req, _ := c.NewRequest(context.Background(), "GET", "users/5bb0277fd99faf11a3f4a37e", nil)
			resp, err := c.Do(req, nil)
			require.Error(t, err)
			require.NotNil(t, resp)
			assert.Equal(t, tt.status, resp.StatusCode)
			var er *ErrorResponse
			require.ErrorAs(t, err, &er)
			assert.Equal(t, tt.status, er.StatusCode)
			assert.Equal(t, tt.wantMsg, er.Message)
			assert.Equal(t, tt.body, string(er.Body))
			assert.Equal(t, "GET", er.Method)
			assert.Equal(t, testBase+"users/5bb0277fd99faf11a3f4a37e", er.URL)
			for _, s := range all {
				assert.Equal(t, s == tt.want, errors.Is(err, s), "errors.Is(%v)", s)
			}
			assert.NotContains(t, err.Error(), testToken)
		})
	}
}

func TestErrorBodyCapped(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithMaxRetries(0))
	huge := `{"message":"` + strings.Repeat("x", 3<<20) + `"}`
	mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(400, huge))
	req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
	_, err := c.Do(req, nil)
	var er *ErrorResponse
	require.ErrorAs(t, err, &er)
	assert.Len(t, er.Body, maxErrorBody)
	assert.Equal(t, "", er.Message, "a truncated body is not valid JSON")
}

func TestErrorStrings(t *testing.T) {
	t.Parallel()
	er := &ErrorResponse{StatusCode: 404, Message: "Conversation not found", Method: "GET", URL: testBase + "conversations/x"}
	assert.Equal(t, "chatshipper: GET "+testBase+"conversations/x: 404 Conversation not found", er.Error())
	er.Message = ""
	assert.Equal(t, "chatshipper: GET "+testBase+"conversations/x: 404 Not Found", er.Error())
	ae := &ArgumentError{Name: "conversationID", Reason: "must not be empty"}
	assert.Equal(t, "chatshipper: invalid argument conversationID: must not be empty", ae.Error())
}

func TestCheckID(t *testing.T) {
	t.Parallel()
	assert.NoError(t, checkID("id", "5bb0277fd99faf11a3f4a37e"))
	assert.NoError(t, checkID("id", "5BB0277FD99FAF11A3F4A37E"))
	for _, bad := range []string{"", "5bb0277fd99faf11a3f4a37", "5bb0277fd99faf11a3f4a37e0", "5bb0277fd99faf11a3f4a37g", "../../../etc/passwd00000", "5bb0277fd99faf11a3f4a3/e"} {
		err := checkID("conversationID", bad)
		require.Error(t, err, bad)
		assert.ErrorIs(t, err, ErrInvalidArgument)
		assert.Contains(t, err.Error(), "conversationID")
	}
}

// echoResponder answers like a server whose validation errors quote the
// values they refuse (mongoose: "Path `password` (`hunter2`) is shorter than
// the minimum allowed length"): its message quotes every value of the JSON
// request body and the Authorization header, in the body shape given by
// nested ({"error":{"message":...}} or {"message":...}).
func echoResponder(status int, nested bool) httpmock.Responder {
	return func(req *http.Request) (*http.Response, error) {
		var parts []string
		if a := req.Header.Get("Authorization"); a != "" {
			parts = append(parts, "header `Authorization` (`"+a+"`) is invalid")
		}
		if req.Body != nil {
			var body any
			d := json.NewDecoder(req.Body)
			d.UseNumber()
			_ = d.Decode(&body)
			var walk func(path string, v any)
			walk = func(path string, v any) {
				switch x := v.(type) {
				case map[string]any:
					keys := make([]string, 0, len(x))
					for k := range x {
						keys = append(keys, k)
					}
					sort.Strings(keys)
					for _, k := range keys {
						walk(strings.TrimPrefix(path+"."+k, "."), x[k])
					}
				case []any:
					for i, e := range x {
						walk(fmt.Sprintf("%s.%d", path, i), e)
					}
				default:
					parts = append(parts, fmt.Sprintf("%s: Path `%s` (`%v`) is invalid", path, path, x))
				}
			}
			walk("", body)
		}
		msg := "Validation failed: " + strings.Join(parts, ", ")
		var b []byte
		if nested {
			b, _ = json.Marshal(map[string]any{"error": map[string]any{"message": msg, "status": status}})
		} else {
			b, _ = json.Marshal(map[string]any{"message": msg, "name": "ValidationError"})
		}
		resp := httpmock.NewBytesResponse(status, b)
		resp.Header.Set("Content-Type", "application/json")
		return resp, nil
	}
}

// A server message quoting what the request carried never brings a secret
// into an error: the bearer token, a password, a one-time code, a refresh
// token, a webhook secret and the credentials of a webhook URL are replaced
// in Error(), the Message field, the raw Body and the log, for every call.
func TestServerMessagesNeverQuoteRequestSecrets(t *testing.T) {
	t.Parallel()
	const (
		pw        = "pw-CANARY-hunter2"
		quotePW   = `pw"CANARY\quote`
		shortPW   = "Zq9"
		otp       = "482913"
		urlPass   = "upw-CANARY-1c2d"
		urlToken  = "qtok-CANARY-5e6f"
		signKey   = "skey-CANARY-0a9b"
		refreshTk = "rt-CANARY-73aa"
	)
	hookURL := "https://bob:" + urlPass + "@hooks.example.com/in?token=" + urlToken + "&source=cs"
	canaries := []string{testToken, pw, quotePW, otp, urlPass, urlToken, signKey, refreshTk, webhookSec}
	type call struct {
		name   string
		nested bool
		status int
		run    func(ctx context.Context, c *Client, opts []Option) error
		keep   []string // what the message still says
	}
	calls := []call{
		{name: "Login", status: 400, run: func(ctx context.Context, _ *Client, opts []Option) error {
			_, err := Login(ctx, Credentials{Email: "jane@example.com", Password: pw, OTP: otp}, opts...)
			return err
		}, keep: []string{"Path `email` (`jane@example.com`) is invalid", "Path `password` (`[redacted]`) is invalid", "Path `otp` (`[redacted]`)"}},
		{name: "Login with a quote", status: 401, nested: true, run: func(ctx context.Context, _ *Client, opts []Option) error {
			_, err := Login(ctx, Credentials{Email: "jane@example.com", Password: quotePW}, opts...)
			return err
		}, keep: []string{"Path `password` (`[redacted]`)"}},
		{name: "Login with a short password", status: 400, run: func(ctx context.Context, _ *Client, opts []Option) error {
			_, err := Login(ctx, Credentials{Email: "jane@example.com", Password: shortPW}, opts...)
			return err
		}, keep: []string{"Path `password` (`[redacted]`)"}},
		{name: "Users.Create", status: 422, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Users.Create(ctx, &UserCreate{GivenName: "Jenny", Email: "jenny@example.com", Password: pw})
			return err
		}, keep: []string{"Path `givenName` (`Jenny`) is invalid", "Path `password` (`[redacted]`)", "(`Bearer [redacted]`)"}},
		{name: "CreateWebhook", status: 400, nested: true, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Services.CreateWebhook(ctx, &WebhookServiceCreate{Name: "CRM", URL: hookURL, Secret: webhookSec,
				Meta: Meta{"signingKey": signKey, "chatshipperDeliveryKey": "k1"}})
			return err
		}, keep: []string{"Path `name` (`CRM`)", "Path `params.secret` (`[redacted]`)", "hooks.example.com/in?token=[redacted]", "(`k1`)"}},
		{name: "401 on a read", status: 401, nested: true, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Conversations.List(ctx, nil)
			return err
		}, keep: []string{"header `Authorization` (`Bearer [redacted]`) is invalid"}},
		{name: "429", status: 429, run: func(ctx context.Context, c *Client, _ []Option) error {
			_, _, err := c.Users.Create(ctx, &UserCreate{Email: "jenny@example.com", Password: pw})
			return err
		}, keep: []string{"Path `password` (`[redacted]`)"}},
		{name: "refresh", status: 400, run: func(ctx context.Context, _ *Client, opts []Option) error {
			src, err := NewRefreshingTokenSource(RefreshConfig{Token: Token{AccessToken: testToken, RefreshToken: refreshTk, ClientID: "bot@example.com"}, Options: opts})
			if err != nil {
				return err
			}
			c, err := NewClient("", append(opts, WithTokenSource(src))...)
			if err != nil {
				return err
			}
			_, _, err = c.Conversations.List(ctx, nil)
			return err
		}, keep: []string{"Path `refreshToken` (`[redacted]`)", "Path `clientId` (`bot@example.com`)"}},
	}
	for _, tc := range calls {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			mt := httpmock.NewMockTransport()
			opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithLogger(logger), WithMaxRetries(0)}
			c, err := NewClient(testToken, opts...)
			require.NoError(t, err)
			mt.RegisterNoResponder(echoResponder(tc.status, tc.nested))
			if tc.name == "refresh" {
				mt.RegisterResponder("GET", testBase+"conversations", httpmock.NewStringResponder(401, `{"error":{"message":"jwt expired"}}`))
			}
			err = tc.run(context.Background(), c, opts)
			require.Error(t, err)
			var er *ErrorResponse
			require.ErrorAs(t, err, &er)
			slog.New(slog.NewTextHandler(&logs, nil)).Error("failed", "err", err, "er", er)
			slog.New(slog.NewJSONHandler(&logs, nil)).Error("failed", "err", err, "er", er)
			outs := []string{err.Error(), fmt.Sprintf("%v", err), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err),
				er.Message, string(er.Body), fmt.Sprintf("%#v", er), logs.String()}
			for _, out := range outs {
				for _, s := range canaries {
					assert.NotContains(t, out, s)
				}
			}
			// The JSON-escaped form of a secret is gone from the body too.
			escaped, _ := json.Marshal(quotePW)
			assert.NotContains(t, string(er.Body), strings.Trim(string(escaped), `"`))
			for _, k := range tc.keep {
				assert.Contains(t, er.Message, k)
				assert.Contains(t, err.Error(), k)
			}
			assert.True(t, json.Valid(er.Body), "the body stays JSON: %s", er.Body)
		})
	}
}

// A server may write a quoted secret with any JSON escaping: the body is
// redacted by the decoded value of each string (keys included), so \uXXXX
// escapes, surrogate pairs and \/ hide nothing, and what holds no secret is
// kept byte for byte.
func TestRedactBodyDecodedValues(t *testing.T) {
	t.Parallel()
	secrets := []string{"päss<wörd>&1", "emoji-🔑-pass", "a/b/c-pass'x", `lo"gin`, "482913"}
	cases := []struct{ name, in, want string }{
		{"\\u escapes", `{"message":"password=` + "`" + `p\u00e4ss\u003cw\u00f6rd\u003e\u00261` + "`" + ` is invalid"}`,
			`{"message":"password=` + "`[redacted]`" + ` is invalid"}`},
		{"upper-case hex", `{"m":"P\u00E4ss\u003Cw\u00F6rd\u003E\u00261","n":"p\u00E4ss\u003Cw\u00F6rd\u003E\u00261"}`,
			`{"m":"P\u00E4ss\u003Cw\u00F6rd\u003E\u00261","n":"[redacted]"}`},
		{"surrogate pair", `{"m":"x emoji-\ud83d\udd11-pass y"}`, `{"m":"x [redacted] y"}`},
		{"solidus and apostrophe", `{"m":"a\/b\/c-pass\u0027x"}`, `{"m":"[redacted]"}`},
		{"quote", `{"m":"lo\"gin"}`, `{"m":"[redacted]"}`},
		{"a key", `{"errors":{"p\u00e4ss<w\u00f6rd>&1":"bad"}}`, `{"errors":{"[redacted]":"bad"}}`},
		{"a number stays JSON", `{"otp": 482913, "n": 1482913}`, `{"otp": "[redacted]", "n": 1482913}`},
		{"a number in a string", `{"m":"code 482913 refused"}`, `{"m":"code [redacted] refused"}`},
		{"untouched bytes", `{ "a" : "\u0041\/" , "b":[1,2] }`, `{ "a" : "\u0041\/" , "b":[1,2] }`},
		{"cut at the cap", `{"m":"ok","n":"lo\"gin and p\u00e4ss<w`, `{"m":"ok","n":"[redacted] and p\u00e4ss<w`},
		{"not JSON", `refused: "emoji-🔑-pass" and a/b/c-pass'x`, `refused: "[redacted]" and [redacted]`},
		{"a URL escaped", `{"u":"https:\/\/bob:upw@h.example\/in?token=qt&x=1"}`, `{"u":"https://bob:[redacted]@h.example/in?token=[redacted]&x=1"}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tc.want, string(redactBody([]byte(tc.in), secrets)))
		})
	}
}

// The same end to end: a server that echoes the request with every
// non-ASCII rune, <, >, &, ' and / escaped leaks no password of Users.Create
// or Login into the error, its Body or the log.
func TestServerMessagesEscapedNeverQuoteSecrets(t *testing.T) {
	t.Parallel()
	escapeAll := func(s string) string {
		var b strings.Builder
		for _, r := range s {
			switch {
			case r == '"' || r == '\\':
				b.WriteString(`\` + string(r))
			case r == '/':
				b.WriteString(`\/`)
			case r > 0xffff:
				r -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(r>>10)&0x3ff, 0xdc00+r&0x3ff)
			case r < 0x20 || r > 0x7e || strings.ContainsRune(`<>&'`, r):
				fmt.Fprintf(&b, `\u%04x`, r)
			default:
				b.WriteRune(r)
			}
		}
		return b.String()
	}
	for _, pw := range []string{"päss<wörd>&1", "emoji-🔑-pass", "a/b/c-pass'x", `lo"gin<pw>ü`} {
		t.Run(pw, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			mt := httpmock.NewMockTransport()
			mt.RegisterNoResponder(func(req *http.Request) (*http.Response, error) {
				var body map[string]any
				_ = json.NewDecoder(req.Body).Decode(&body)
				msg := escapeAll(fmt.Sprintf("Path `password` (`%v`) is invalid, auth %s", body["password"], req.Header.Get("Authorization")))
				resp := httpmock.NewStringResponse(422, `{"message":"`+msg+`","details":{"`+escapeAll(fmt.Sprint(body["password"]))+`":"`+msg+`"}}`)
				resp.Header.Set("Content-Type", "application/json")
				return resp, nil
			})
			opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithMaxRetries(0),
				WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})))}
			c, err := NewClient(testToken, opts...)
			require.NoError(t, err)
			_, _, errCreate := c.Users.Create(context.Background(), &UserCreate{Email: "jenny@example.com", Password: pw})
			_, errLogin := Login(context.Background(), Credentials{Email: "jenny@example.com", Password: pw}, opts...)
			for _, err := range []error{errCreate, errLogin} {
				var er *ErrorResponse
				require.ErrorAs(t, err, &er)
				assert.Equal(t, "Path `password` (`[redacted]`) is invalid, auth "+map[bool]string{true: "Bearer [redacted]", false: ""}[err == errCreate], er.Message)
				assert.True(t, json.Valid(er.Body), "the body stays JSON: %s", er.Body)
				var body struct {
					Details map[string]string `json:"details"`
				}
				require.NoError(t, json.Unmarshal(er.Body, &body))
				assert.Equal(t, map[string]string{"[redacted]": er.Message}, body.Details)
				for _, out := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", er), string(er.Body), logs.String()} {
					for _, form := range []string{pw, escapeAll(pw), testToken} {
						assert.NotContains(t, out, form)
					}
				}
			}
		})
	}
}

func TestRedactQuery(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"", ""},
		{"status=active&limit=50&offset=100&sort=-createdAt", "status=active&limit=50&offset=100&sort=-createdAt"},
		{"organization=5bb0277fd99faf11a3f4a37e", "organization=5bb0277fd99faf11a3f4a37e"},
		{"createdAt=%3E2024-01-01", "createdAt=%3E2024-01-01"},
		{"profile.telephone=%2B31612345678&organization=5bb0277fd99faf11a3f4a37e", "profile.telephone=REDACTED&organization=5bb0277fd99faf11a3f4a37e"},
		{"email=jane%40example.com", "email=REDACTED"},
		{"profile.email=~jane", "profile.email=REDACTED"},
		{"q=jane@example.com", "q=REDACTED"},
		{"name=Jane&meta.contact=%2B31%206%201234%205678", "name=REDACTED&meta.contact=REDACTED"},
		{"meta.phone=x", "meta.phone=REDACTED"},
		{"meta.ref=0612345678", "meta.ref=REDACTED"},
		{"meta.ref=[a,%2B4915123456789]", "meta.ref=REDACTED"},
		{"meta.count=12345", "meta.count=REDACTED"},
		{"text=hello%20there&status=open", "text=REDACTED&status=open"},
		{"text=~refund&conversation=5bb0277fd99faf11a3f4a37e", "text=REDACTED&conversation=5bb0277fd99faf11a3f4a37e"},
		{"meta.name=Jane", "meta.name=REDACTED"},
		{"name=Jane", "name=REDACTED"},
		{"participants.role=[agent,bot]&createdAt=%3E2024-01-01T00:00:00.000Z,%3C%3D2024-02-01", "participants.role=[agent,bot]&createdAt=%3E2024-01-01T00:00:00.000Z,%3C%3D2024-02-01"},
		{"status=Jane%20Doe", "status=REDACTED"},
		{"age=%3E18&archived=false&score=!%3D3.5&deletedAt=!", "age=%3E18&archived=false&score=!%3D3.5&deletedAt=!"},
		{"gender=female", "gender=REDACTED"},
		{"tags=vip", "tags=REDACTED"},
		{"ref=12345678", "ref=REDACTED"},
		{"select=name,email&populate=messages:type|text&sort=-createdAt", "select=name,email&populate=messages:type|text&sort=-createdAt"},
		{"jane@example.com", "REDACTED"},
		{"participants.1", "participants.1"},
		{"password=hunter2", "password=REDACTED"},
		{"bad%zz=1&email", "bad%zz=1&email"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, redactQuery(tt.in))
		})
	}
}

// A consumer's telephone number or e-mail address looked up in a query never
// reaches an error or a log line.
func TestPersonalDataRedactedFromErrorsAndLogs(t *testing.T) {
	t.Parallel()
	const path = "contacts?profile.telephone=%2B31612345678&email=jane%40example.com&organization=5bb0277fd99faf11a3f4a37e" +
		"&name=Jansen&meta.city=Utrecht&text=~refund%20for%20order"
	const redacted = testBase + "contacts?profile.telephone=REDACTED&email=REDACTED&organization=5bb0277fd99faf11a3f4a37e" +
		"&name=REDACTED&meta.city=REDACTED&text=REDACTED"
	personal := []string{"31612345678", "jane", "%2B316", "Jansen", "Utrecht", "refund"}
	tests := []struct {
		name  string
		reply httpmock.Responder
	}{
		{"404", httpmock.NewStringResponder(404, `{"message":"nope"}`)},
		{"503", httpmock.NewStringResponder(503, ``)},
		{"reset", httpmock.NewErrorResponder(resetErr)},
		{"not transient", httpmock.NewErrorResponder(fmt.Errorf("fixture missing"))},
		{"bad JSON", httpmock.NewStringResponder(200, `{`)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var logs bytes.Buffer
			c, mt := newTestClient(t, WithLogger(slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))),
				WithMaxRetries(1), WithRetryWait(1, 1))
			mt.RegisterNoResponder(tt.reply)
			req, err := c.NewRequest(context.Background(), http.MethodGet, path, nil)
			require.NoError(t, err)
			var out map[string]any
			_, err = c.Do(req, &out)
			require.Error(t, err)
			assert.Contains(t, err.Error(), redacted)
			for _, p := range personal {
				assert.NotContains(t, err.Error(), p)
				assert.NotContains(t, fmt.Sprintf("%+v", err), p)
				assert.NotContains(t, logs.String(), p)
			}
			var te *TransportError
			if errors.As(err, &te) {
				assert.Equal(t, redacted, te.URL)
			}
			var er *ErrorResponse
			if errors.As(err, &er) {
				assert.Equal(t, redacted, er.URL)
			}
		})
	}
}
