package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
)

// A JWT-shaped token whose _id claim is whBot (the signature is not checked).
const envToken = "eyJhbGciOiJIUzI1NiJ9.eyJfaWQiOiI1YjllOGQ3YzZiNWE0ZjNlMmQxYzBiMGEifQ.c2ln"

func envOf(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestNewBotFromEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name     string
		env      map[string]string
		base     string
		path     string
		addr     string
		errVar   string // the variable an *EnvError names
		errMatch string
	}{
		{name: "our names", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret,
			EnvBaseURL: "https://api.example.com/v2/", EnvWebhookPath: "/hooks/bot", EnvListenAddr: "127.0.0.1:8081"},
			base: "https://api.example.com/v2/", path: "/hooks/bot", addr: "127.0.0.1:8081"},
		{name: "chipchat names", env: map[string]string{"TOKEN": envToken, "SECRET": whSecret,
			"APIHOST": "https://api.example.com", "WEBHOOK_PATH": "hooks", "PORT": "4000"},
			base: "https://api.example.com/v2/", path: "/hooks", addr: ":4000"},
		{name: "quickstart secret name, defaults", env: map[string]string{"TOKEN": envToken, "WEBHOOK_SECRET": whSecret},
			base: chatshipper.DefaultBaseURL, path: "/", addr: ":3000"},
		{name: "ours win", env: map[string]string{EnvToken: envToken, "TOKEN": "other", EnvWebhookSecret: whSecret, "SECRET": "other",
			EnvBaseURL: "http://127.0.0.1:9/v2/", "APIHOST": "https://api.example.com"},
			base: "http://127.0.0.1:9/v2/", path: "/", addr: ":3000"},
		{name: "no token", env: map[string]string{EnvWebhookSecret: whSecret}, errVar: EnvToken},
		{name: "blank token", env: map[string]string{EnvToken: "  ", EnvWebhookSecret: whSecret}, errVar: EnvToken},
		{name: "no secret", env: map[string]string{EnvToken: envToken}, errVar: EnvWebhookSecret},
		{name: "http base URL", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, EnvBaseURL: "http://api.example.com/v2/"},
			errVar: EnvBaseURL, errMatch: "https"},
		{name: "http APIHOST", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, "APIHOST": "http://api.example.com"},
			errVar: "APIHOST", errMatch: "https"},
		{name: "base URL with credentials", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, EnvBaseURL: "https://u:p@api.example.com/v2/"},
			errVar: EnvBaseURL},
		{name: "token with a line break", env: map[string]string{EnvToken: "abc\ndef", EnvWebhookSecret: whSecret}, errVar: EnvToken},
		{name: "path with a query", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, EnvWebhookPath: "/hook?x=1"}, errVar: EnvWebhookPath},
		{name: "unclean path", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, "WEBHOOK_PATH": "/a/../b"}, errVar: "WEBHOOK_PATH"},
		{name: "bad port", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, "PORT": "http"}, errVar: "PORT"},
		{name: "bad address", env: map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, EnvListenAddr: "3000"}, errVar: EnvListenAddr},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			b, err := newBotFromEnv(envOf(tc.env), []chatshipper.Option{chatshipper.WithRateLimit(0)}, nil)
			if tc.errVar != "" {
				require.Error(t, err)
				var ee *EnvError
				require.ErrorAs(t, err, &ee)
				assert.Equal(t, tc.errVar, ee.Variable)
				assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
				assert.Contains(t, err.Error(), tc.errMatch)
				for _, v := range tc.env {
					if v == envToken || v == whSecret {
						assert.NotContains(t, err.Error(), v, "values never appear in errors")
					}
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.base, b.Client.BaseURL().String())
			assert.Equal(t, tc.path, b.Path)
			assert.Equal(t, tc.addr, b.Addr)
			id, err := b.Client.SelfUserID(context.Background())
			require.NoError(t, err)
			assert.Equal(t, whBot, id, "the client has the token")
			// The handler checks signatures with the secret.
			body := whEvent(t, "ev-1", "service.create", map[string]any{"service": map[string]any{}})
			assert.Equal(t, http.StatusOK, whPost(b.Handler, body, Sign(body, whSecret)).Code)
			assert.Equal(t, http.StatusUnauthorized, whPost(b.Handler, body, Sign(body, "other")).Code)
		})
	}
	// A handler option error is wrapped, not hidden.
	_, err := newBotFromEnv(envOf(map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret}), nil, []Option{WithMaxBody(-1)})
	assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
	assert.ErrorContains(t, err, "WithMaxBody")
}

func TestBotServeMuxAndHealth(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"/", "/hooks/bot"} {
		t.Run(p, func(t *testing.T) {
			t.Parallel()
			b, err := newBotFromEnv(envOf(map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, EnvWebhookPath: p}), nil, nil)
			require.NoError(t, err)
			mux := b.ServeMux()
			get := func(target string) *httptest.ResponseRecorder {
				w := httptest.NewRecorder()
				mux.ServeHTTP(w, httptest.NewRequest(http.MethodGet, target, nil))
				return w
			}
			ping := pingPath(p)
			before := time.Now().UnixMilli()
			w := get(ping)
			require.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
			var pong struct{ Pong string }
			require.NoError(t, json.Unmarshal(w.Body.Bytes(), &pong))
			ms, err := strconv.ParseInt(pong.Pong, 10, 64)
			require.NoError(t, err, "chipchat's shape: the time in milliseconds, as a string")
			assert.GreaterOrEqual(t, ms, before)

			w = get(p + "?type=subscribe&challenge=abc")
			assert.Equal(t, http.StatusOK, w.Code)
			assert.Equal(t, "abc", w.Body.String(), "the webhook itself is served on the path")
			assert.Equal(t, http.StatusNotFound, get("/elsewhere/x").Code)

			w = httptest.NewRecorder()
			mux.ServeHTTP(w, httptest.NewRequest(http.MethodPost, ping, nil))
			assert.Equal(t, http.StatusMethodNotAllowed, w.Code)

			require.NoError(t, b.Handler.Shutdown(context.Background()))
			assert.Equal(t, http.StatusServiceUnavailable, get(ping).Code, "unhealthy once shutting down")
		})
	}
}

func TestBotListenAndServeStopsWithContext(t *testing.T) {
	t.Parallel()
	b, err := newBotFromEnv(envOf(map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, EnvListenAddr: "127.0.0.1:0"}), nil, nil)
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.NoError(t, b.ListenAndServe(ctx), "a cancelled context shuts down cleanly")
	assert.Equal(t, http.StatusServiceUnavailable, func() int {
		w := httptest.NewRecorder()
		b.Handler.Health().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/ping", nil))
		return w.Code
	}())

	b2, err := newBotFromEnv(envOf(map[string]string{EnvToken: envToken, EnvWebhookSecret: whSecret, EnvListenAddr: "256.0.0.1:1"}), nil, nil)
	require.NoError(t, err)
	err = b2.ListenAndServe(context.Background())
	require.Error(t, err)
	assert.False(t, errors.Is(err, chatshipper.ErrInvalidArgument))
}
