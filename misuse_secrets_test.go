package chatshipper

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	canarySecret = "whsec-CANARY-5e6f"
	canaryOTP    = "otp-CANARY-2b3c"
)

// Issue 15 item 3: no fmt verb and neither slog handler shows a token,
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

// requestsIn returns the requests reachable from r: r, r.Response.Request,
// and so on down the redirect chain.
func requestsIn(r *http.Request) []*http.Request {
	var out []*http.Request
	for r != nil && len(out) < 20 {
		out = append(out, r)
		if r.Response == nil {
			break
		}
		r = r.Response.Request
	}
	return out
}

// The *http.Request reachable from a returned *Response or error carries no
// Authorization header, redirects included.
func TestReturnedRequestsCarryNoAuthorization(t *testing.T) {
	t.Parallel()
	var sawAuth []string
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/ok", func(w http.ResponseWriter, r *http.Request) {
		sawAuth = append(sawAuth, r.Header.Get("Authorization"))
		_, _ = w.Write([]byte(`{}`))
	})
	mux.HandleFunc("/v2/missing", func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, `{"message":"nope"}`, http.StatusNotFound)
	})
	mux.HandleFunc("/v2/limited", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	mux.HandleFunc("/v2/moved", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v2/ok", http.StatusFound)
	})
	mux.HandleFunc("/v2/moved-missing", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/v2/missing", http.StatusFound)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	mt := httpmock.NewMockTransport()
	mt.RegisterResponder("GET", "http://"+srv.Listener.Addr().String()+"/v2/ok", httpmock.NewStringResponder(200, `{}`))
	mt.RegisterResponder("GET", "http://"+srv.Listener.Addr().String()+"/v2/missing", httpmock.NewStringResponder(404, `{}`))

	for _, tr := range []struct {
		name string
		opts []Option
	}{{"net/http", nil}, {"httpmock", []Option{WithHTTPClient(&http.Client{Transport: mt})}}} {
		c, err := NewClient(testToken, append([]Option{WithBaseURL(srv.URL + "/v2/"), WithRateLimit(0)}, tr.opts...)...)
		require.NoError(t, err)
		paths := []string{"ok", "missing"}
		if tr.name == "net/http" {
			paths = append(paths, "moved", "moved-missing", "limited")
		}
		for _, p := range paths {
			req, err := c.NewRequest(context.Background(), http.MethodGet, p, nil)
			require.NoError(t, err)
			resp, err := c.Do(req, nil)
			var reqs []*http.Request
			if resp != nil {
				reqs = append(reqs, requestsIn(resp.Request)...)
			}
			var er *ErrorResponse
			if errors.As(err, &er) && er.Response != nil {
				reqs = append(reqs, requestsIn(er.Response.Request)...)
			}
			require.NotEmpty(t, reqs, "%s %s", tr.name, p)
			for _, r := range reqs {
				assert.Empty(t, r.Header.Get("Authorization"), "%s %s: %s", tr.name, p, r.URL)
			}
			for _, s := range []string{fmt.Sprintf("%+v", resp), fmt.Sprintf("%+v", err)} {
				assert.NotContains(t, s, testToken)
			}
		}
	}
	require.NotEmpty(t, sawAuth)
	assert.Equal(t, "Bearer "+testToken, sawAuth[0], "the server did get the token")
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
