package chatshipper

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// No fmt verb and neither slog handler shows a token,
// refresh token, password or webhook secret of any exported type that holds
// one.
func TestPrintedValuesHoldNoSecret(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt})}
	static, err := NewClient(testToken, opts...)
	require.NoError(t, err)
	tok := Token{AccessToken: testToken, RefreshToken: canaryRefresh, User: "u1", ClientID: "bot@example.com"}
	cfg := RefreshConfig{Token: tok, OnRefresh: func(Token) {}, Options: opts}
	src, err := NewRefreshingTokenSource(cfg)
	require.NoError(t, err)
	refreshing, err := NewClient("", append(opts, WithTokenSource(src))...)
	require.NoError(t, err)
	pw := canaryPassword
	secretParams := Meta{"url": "https://hooks.example.com/x", "secret": canarySecret}
	var staticSource = StaticTokenSource(testToken)

	values := []struct {
		name string
		v    any
	}{
		{"*Client static", static},
		{"*Client refreshing", refreshing},
		{"StaticTokenSource", staticSource},
		{"*RefreshingTokenSource", src},
		{"Token", tok},
		{"*Token", &tok},
		{"Credentials", Credentials{Email: "jane@example.com", Password: canaryPassword, OTP: canaryOTP}},
		{"*Credentials", &Credentials{Email: "jane@example.com", Password: canaryPassword, OTP: canaryOTP}},
		{"RefreshConfig", cfg},
		{"*RefreshConfig", &cfg},
		{"UserCreate", UserCreate{Email: "jane@example.com", Password: canaryPassword}},
		{"UserUpdate", UserUpdate{Password: &pw}},
		{"ServiceCreate", ServiceCreate{Type: ServiceWebhook, Params: secretParams}},
		{"ServiceUpdate", ServiceUpdate{Params: secretParams}},
		{"Service", Service{Type: ServiceWebhook, Params: secretParams}},
		{"WebhookParams", WebhookParams{URL: "https://hooks.example.com/x", Secret: canarySecret}},
		{"WebhookServiceCreate", WebhookServiceCreate{URL: "https://hooks.example.com/x", Secret: canarySecret}},
		{"struct holding them", struct {
			Token  Token
			Source TokenSource
			Config RefreshConfig
			Client *Client
		}{tok, staticSource, cfg, static}},
	}
	secrets := []string{testToken, canaryRefresh, canaryPassword, canaryOTP, canarySecret}
	verbs := []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%10.3v"}
	for _, tt := range values {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var outs []string
			for _, verb := range verbs {
				outs = append(outs, verb+" "+fmt.Sprintf(verb, tt.v))
			}
			outs = append(outs, "Sprint "+fmt.Sprint(tt.v), "Sprintln "+fmt.Sprintln(tt.v))
			for _, h := range []func(*bytes.Buffer) slog.Handler{
				func(b *bytes.Buffer) slog.Handler { return slog.NewTextHandler(b, nil) },
				func(b *bytes.Buffer) slog.Handler { return slog.NewJSONHandler(b, nil) },
			} {
				var buf bytes.Buffer
				slog.New(h(&buf)).Info("value", "v", tt.v)
				slog.New(h(&buf)).Info("group", slog.Group("g", slog.Any("v", tt.v)))
				outs = append(outs, buf.String())
			}
			for _, out := range outs {
				for _, s := range secrets {
					assert.NotContains(t, out, s)
					assert.NotContains(t, strings.ToLower(out), hex.EncodeToString([]byte(s)))
				}
			}
		})
	}
}

type failingSource struct{}

func (failingSource) Token(context.Context) (string, error) {
	return "", errors.New("vault unavailable")
}

// TestSecretsNeverLeak runs every failure path of a call with a canary token
// and a debug-level logger, and asserts the canary is in no error string and
// no log line.
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	secrets := []string{testToken, canaryPassword, canaryRefresh}
	paths := []struct {
		name  string
		reply httpmock.Responder
		opts  []Option
	}{
		{"400", httpmock.NewStringResponder(400, `{"message":"bad"}`), nil},
		{"401", httpmock.NewStringResponder(401, `{"error":{"message":"jwt expired"}}`), nil},
		{"403", httpmock.NewStringResponder(403, `{"error":{"message":"Permission denied"}}`), nil},
		{"404", httpmock.NewStringResponder(404, `{"error":{"message":"Conversation not found"}}`), nil},
		{"422", httpmock.NewStringResponder(422, `{"message":"no"}`), nil},
		{"429", httpmock.NewStringResponder(429, `{"message":"Too many requests"}`), nil},
		{"429 loop", httpmock.NewStringResponder(429, `{"error":{"message":"Loop limit: more than 20 consecutive messages in an hour"}}`), nil},
		{"500", httpmock.NewStringResponder(500, `oops`), nil},
		{"502", httpmock.NewStringResponder(502, ``), nil},
		{"503", httpmock.NewStringResponder(503, ``), nil},
		{"reset", httpmock.NewErrorResponder(resetErr), nil},
		{"dial", httpmock.NewErrorResponder(dialErr), nil},
		{"bad json", httpmock.NewStringResponder(200, `{"id":`), nil},
		{"too large", httpmock.NewStringResponder(200, `{"id":"`+strings.Repeat("a", 100)+`"}`), []Option{WithMaxResponseBytes(10)}},
		{"token source", httpmock.NewStringResponder(200, `{}`), []Option{WithTokenSource(failingSource{})}},
	}
	for _, p := range paths {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var logs bytes.Buffer
				logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
				opts := append([]Option{WithLogger(logger), WithMaxRetries(2)}, p.opts...)
				c, mt := newTestClient(t, opts...)
				mt.RegisterResponder("POST", testBase+"conversations", p.reply)
				mt.RegisterResponder("GET", testBase+"conversations", p.reply)
				for _, method := range []string{"GET", "POST"} {
					var body any
					if method == "POST" {
						body = map[string]string{"password": "not-a-secret-field-value"}
					}
					req, err := c.NewRequest(context.Background(), method, "conversations", body)
					require.NoError(t, err)
					var out map[string]any
					_, err = c.Do(req, &out)
					require.Error(t, err)
					for _, s := range secrets {
						assert.NotContains(t, err.Error(), s)
						assert.NotContains(t, fmt.Sprintf("%+v", err), s)
						assert.NotContains(t, fmt.Sprintf("%#v", err), s)
					}
				}
				for _, s := range secrets {
					assert.NotContains(t, logs.String(), s)
				}
				assert.NotEmpty(t, logs.String(), "debug logging is on")
			})
		})
	}
}

const (
	canarySecret = "whsec-CANARY-5e6f"
	canaryOTP    = "otp-CANARY-2b3c"
)

// %#v of a value that holds a secret is its String, the same output as when
// these types had GoString methods: each has a Format method, which fmt
// calls for every verb, %#v included, so a GoString would never be reached.
// The types therefore have none (the test fails if one comes back), and the
// secret stays out whether the value is printed alone or as a field.
func TestSharpVIsStringWithoutGoString(t *testing.T) {
	t.Parallel()
	secrets := []string{testToken, canaryRefresh, canaryPassword, canaryOTP, canarySecret}
	for _, tt := range sharpVValues(t) {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, isGoStringer := tt.v.(fmt.GoStringer)
			assert.False(t, isGoStringer, "GoString is unreachable beside Format")
			require.Implements(t, (*fmt.Formatter)(nil), tt.v)
			assert.Equal(t, tt.want, fmt.Sprintf("%#v", tt.v))
			assert.Equal(t, tt.v.(fmt.Stringer).String(), fmt.Sprintf("%#v", tt.v))
			nested := fmt.Sprintf("%#v", struct{ V any }{tt.v})
			assert.Equal(t, "struct { V interface {} }{V:"+tt.want+"}", nested)
			for _, s := range secrets {
				assert.NotContains(t, tt.want, s)
			}
		})
	}
}

// sharpVValues are the exported types that print redacted, each holding every
// secret it can, with %#v's output for each as it was with GoString methods.
func sharpVValues(t *testing.T) []struct {
	name string
	v    any
	want string
} {
	t.Helper()
	mt := httpmock.NewMockTransport()
	opts := []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt})}
	client, err := NewClient(testToken, opts...)
	require.NoError(t, err)
	tok := Token{AccessToken: testToken, RefreshToken: canaryRefresh, User: "u1", ClientID: "bot@example.com",
		ExpiresAt: NewTimestamp(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))}
	cfg := RefreshConfig{Token: tok, Options: opts}
	src, err := NewRefreshingTokenSource(cfg)
	require.NoError(t, err)
	pw := canaryPassword
	params := Meta{"url": "https://hooks.example.com/x", "secret": canarySecret}
	var doc Document
	require.NoError(t, doc.UnmarshalJSON([]byte(`{"_id":"d1","params":{"secret":"`+canarySecret+`"},"password":"`+canaryPassword+`"}`)))
	return []struct {
		name string
		v    any
		want string
	}{
		{"*Client", client,
			"chatshipper.Client{BaseURL:https://api.test/v2/ TokenSource:chatshipper.staticToken}"},
		{"StaticTokenSource", StaticTokenSource(testToken),
			"StaticTokenSource{Token:[redacted]}"},
		{"*RefreshingTokenSource", src,
			"RefreshingTokenSource{ClientID:bot@example.com Token:Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]}}"},
		{"Token", tok,
			"Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]}"},
		{"*Token", &tok,
			"Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]}"},
		{"Credentials", Credentials{Email: "jane@example.com", Password: canaryPassword, OTP: canaryOTP},
			"Credentials{Email: jane@example.com Password: [REDACTED] otp=[REDACTED]}"},
		{"RefreshConfig", cfg,
			"RefreshConfig{Token:Token{User:u1 Organization: Scope:\"\" ExpiresAt:2026-12-05T10:00:00Z AccessToken:[redacted] RefreshToken:[redacted]} ClientID: Leeway:0s OnRefresh:<nil> Options:2}"},
		{"Document", doc,
			"Document{id: d1, fields: [_id params password]}"},
		{"*Document", &doc,
			"Document{id: d1, fields: [_id params password]}"},
		{"UserCreate", UserCreate{Email: "jane@example.com", Password: canaryPassword},
			"UserCreate{GivenName:\"\" FamilyName:\"\" Name:\"\" Email:\"jane@example.com\" Role:\"\" Organization:\"\" Password:[redacted]}"},
		{"UserUpdate", UserUpdate{Password: &pw},
			"UserUpdate{Password:[redacted]}"},
		{"ServiceCreate", ServiceCreate{Type: ServiceWebhook, Params: params},
			"ServiceCreate{Organization:\"\" Name:\"\" Type:\"webhook\" Params:map[secret:[redacted] url:https://hooks.example.com/x]}"},
		{"ServiceUpdate", ServiceUpdate{Params: params},
			"ServiceUpdate{Name:<unset> Status:<unset> Params:map[secret:[redacted] url:https://hooks.example.com/x]}"},
		{"Service", Service{ID: "s1", Type: ServiceWebhook, Params: params},
			"Service{ID:s1 Organization: Name:\"\" Type:\"webhook\" Status:\"\" Params:map[secret:[redacted] url:https://hooks.example.com/x]}"},
		{"WebhookParams", WebhookParams{URL: "https://hooks.example.com/x", Secret: canarySecret},
			"WebhookParams{URL:https://hooks.example.com/x Secret:[redacted] Events:[]}"},
		{"WebhookServiceCreate", WebhookServiceCreate{URL: "https://hooks.example.com/x", Secret: canarySecret},
			"WebhookServiceCreate{Name:\"\" Organization:\"\" URL:https://hooks.example.com/x Secret:[redacted] Events:[]}"},
	}
}
