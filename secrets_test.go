package chatshipper

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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

// A request that reaches the server still logs no header.
func TestLogsCarryNoHeaders(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, mt := newTestClient(t, WithLogger(logger))
	mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(200, `[]`))
	req, _ := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
	_, err := c.Do(req, nil)
	require.NoError(t, err)
	assert.Contains(t, logs.String(), `"status":200`)
	assert.NotContains(t, logs.String(), testToken)
	assert.NotContains(t, logs.String(), "Bearer")
}
