package chatshipper

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// logRecord is one captured slog record: its level, message and attributes.
type logRecord struct {
	level slog.Level
	msg   string
	attrs map[string]any
}

// captureHandler is a slog.Handler that keeps every record.
type captureHandler struct {
	mu      sync.Mutex
	records []logRecord
}

func (*captureHandler) Enabled(context.Context, slog.Level) bool { return true }
func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler     { return h }
func (h *captureHandler) WithGroup(string) slog.Handler          { return h }

func (h *captureHandler) Handle(_ context.Context, r slog.Record) error {
	rec := logRecord{level: r.Level, msg: r.Message, attrs: map[string]any{}}
	r.Attrs(func(a slog.Attr) bool {
		rec.attrs[a.Key] = a.Value.Resolve().Any()
		return true
	})
	h.mu.Lock()
	defer h.mu.Unlock()
	h.records = append(h.records, rec)
	return nil
}

// with returns the records whose message is msg.
func (h *captureHandler) with(msg string) []logRecord {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []logRecord
	for _, r := range h.records {
		if r.msg == msg {
			out = append(out, r)
		}
	}
	return out
}

// noSecrets asserts that no record holds a secret.
func (h *captureHandler) noSecrets(t *testing.T, secrets ...string) {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, r := range h.records {
		s := r.msg + fmt.Sprint(r.attrs)
		for _, secret := range secrets {
			assert.NotContains(t, s, secret)
		}
	}
}

// Issue 15 item 10: each retry decision is logged with the reason, the wait
// chosen and the attempt number.
func TestLogRetryDecisions(t *testing.T) {
	t.Parallel()
	const path = "conversations"
	url := testBase + path
	tests := []struct {
		name   string
		method string
		opts   []Option
		steps  []step
		msg    string
		want   []map[string]any
	}{
		{name: "503 with Retry-After", method: "GET", msg: "chatshipper: retrying",
			steps: []step{{status: 503, retryAfter: "3"}, {status: 200, body: `{}`}},
			want: []map[string]any{{"method": "GET", "url": url, "attempt": int64(1), "reason": "status 503",
				"status": int64(503), "retry_after": 3 * time.Second, "wait": 3 * time.Second}}},
		{name: "429 with Retry-After", method: "POST", msg: "chatshipper: retrying",
			steps: []step{{status: 429, retryAfter: "2"}, {status: 201, body: `{}`}},
			want: []map[string]any{{"method": "POST", "url": url, "attempt": int64(1), "reason": "status 429",
				"status": int64(429), "retry_after": 2 * time.Second, "wait": 2 * time.Second}}},
		{name: "reset connection", method: "GET", msg: "chatshipper: retrying",
			steps: []step{{err: resetErr}, {status: 200, body: `{}`}},
			want: []map[string]any{{"method": "GET", "url": url, "attempt": int64(1), "reason": "transport error",
				"error": `Get "` + url + `": read tcp: connection reset by peer`, "wait": time.Second}}},
		{name: "Retry-After beyond the longest wait", method: "GET", msg: "chatshipper: not retrying",
			steps: []step{{status: 429, retryAfter: "120"}},
			want: []map[string]any{{"method": "GET", "url": url, "attempt": int64(1), "reason": "status 429",
				"status": int64(429), "retry_after": 2 * time.Minute,
				"why": "Retry-After exceeds the longest retry wait", "max_wait": 30 * time.Second}}},
		{name: "POST after a reset", method: "POST", msg: "chatshipper: not retrying",
			steps: []step{{err: resetErr}},
			want: []map[string]any{{"method": "POST", "url": url, "attempt": int64(1), "reason": "transport error",
				"error": `Post "` + url + `": read tcp: connection reset by peer`, "why": "the server may have acted on a POST"}}},
		{name: "retries used up", method: "GET", opts: []Option{WithMaxRetries(1)}, msg: "chatshipper: not retrying",
			steps: []step{{status: 503}},
			want: []map[string]any{{"method": "GET", "url": url, "attempt": int64(2), "reason": "status 503",
				"status": int64(503), "why": "retries used up", "max_retries": int64(1)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				h := &captureHandler{}
				opts := append([]Option{WithLogger(slog.New(h))}, tt.opts...)
				c, mt := newTestClient(t, opts...)
				var hits atomic.Int32
				mt.RegisterResponder(tt.method, url, sequence(&hits, tt.steps...))
				var body any
				if tt.method == "POST" {
					body = map[string]string{"name": "x"}
				}
				req, err := c.NewRequest(context.Background(), tt.method, path, body)
				require.NoError(t, err)
				_, _ = c.Do(req, nil)
				var got []map[string]any
				for _, r := range h.with(tt.msg) {
					assert.Equal(t, slog.LevelDebug, r.level)
					got = append(got, r.attrs)
				}
				assert.Equal(t, tt.want, got)
				h.noSecrets(t, testToken)
			})
		})
	}
}

// A 429's Retry-After pausing the limiter is logged.
func TestLogLimiterPause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &captureHandler{}
		c, mt := newTestClient(t, WithLogger(slog.New(h)))
		mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(429, `{}`).HeaderSet(http.Header{"Retry-After": {"45"}}))
		req, err := c.NewRequest(context.Background(), "GET", "users", nil)
		require.NoError(t, err)
		_, err = c.Do(req, nil)
		require.ErrorIs(t, err, ErrRateLimited)
		recs := h.with("chatshipper: rate limiter paused for Retry-After")
		require.Len(t, recs, 1)
		assert.Equal(t, map[string]any{"retry_after": 45 * time.Second}, recs[0].attrs)
	})
}

// A wait for a rate-limit slot of 100 ms or more is logged with its length;
// shorter ones are not.
func TestLogLimiterWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &captureHandler{}
		c, mt := newTestClient(t, WithLogger(slog.New(h)), WithRateLimit(1))
		mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(200, `[]`))
		for range 2 {
			req, err := c.NewRequest(context.Background(), "GET", "users?email=jane%40example.com", nil)
			require.NoError(t, err)
			_, err = c.Do(req, nil)
			require.NoError(t, err)
		}
		recs := h.with("chatshipper: waited for rate limit")
		require.Len(t, recs, 1, "only the second request waited")
		assert.Equal(t, map[string]any{"method": "GET", "url": testBase + "users?email=REDACTED",
			"waited": time.Second + DefaultRateLimitMargin, "attempt": int64(1)}, recs[0].attrs)
		h.noSecrets(t, testToken, "jane")
	})
}

// A token refresh is logged (start, success, failure) through the logger of
// the client whose call needed the token, without any secret.
func TestLogTokenRefresh(t *testing.T) {
	t.Parallel()
	for _, fail := range []bool{false, true} {
		t.Run(fmt.Sprintf("fail=%v", fail), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				mt := httpmock.NewMockTransport()
				srv := &refreshServer{ttl: time.Hour}
				srv.register(mt)
				if fail {
					mt.RegisterResponder("POST", testBase+"auth/token",
						httpmock.NewStringResponder(401, `{"error":{"message":"invalid refresh token"}}`))
				}
				expired := makeJWT(map[string]any{"_id": "u1", "exp": time.Now().Add(-time.Minute).Unix()})
				src, err := NewRefreshingTokenSource(RefreshConfig{
					Token:    Token{AccessToken: expired, RefreshToken: canaryRefresh},
					ClientID: "bot+1@chatshipper.com",
					Options:  []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt})},
				})
				require.NoError(t, err)
				h := &captureHandler{}
				c, err := NewClient("", WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}),
					WithTokenSource(src), WithLogger(slog.New(h)))
				require.NoError(t, err)
				req, err := c.NewRequest(context.Background(), "GET", "users", nil)
				require.NoError(t, err)
				_, err = c.Do(req, nil)

				start := h.with("chatshipper: refreshing token")
				require.Len(t, start, 1)
				assert.Equal(t, map[string]any{"reason": "the token expires within the leeway",
					"client_id": "bot+1@chatshipper.com"}, start[0].attrs)
				if fail {
					require.Error(t, err)
					recs := h.with("chatshipper: token refresh failed")
					require.Len(t, recs, 1)
					assert.Equal(t, slog.LevelWarn, recs[0].level)
					assert.Contains(t, recs[0].attrs["error"], "invalid refresh token")
					assert.Empty(t, h.with("chatshipper: token refreshed"))
				} else {
					require.NoError(t, err)
					recs := h.with("chatshipper: token refreshed")
					require.Len(t, recs, 1)
					assert.Equal(t, time.Now().Add(time.Hour).Truncate(time.Second), recs[0].attrs["expires"])
				}
				h.noSecrets(t, canaryRefresh, expired, "Bearer")
				if srv.current != "" {
					h.noSecrets(t, srv.current)
				}
				for _, r := range h.records {
					assert.False(t, strings.Contains(fmt.Sprint(r.attrs), "eyJ"), "no JWT in %v", r.attrs)
				}
			})
		})
	}
}

// A refresh after the server refused the token is logged through the calling
// client's logger too.
func TestLogTokenRefreshAfterReject(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mt := httpmock.NewMockTransport()
		srv := &refreshServer{ttl: time.Hour}
		srv.register(mt)
		revoked := makeJWT(map[string]any{"_id": "u1", "exp": time.Now().Add(time.Hour).Unix()})
		src, err := NewRefreshingTokenSource(RefreshConfig{
			Token:    Token{AccessToken: revoked, RefreshToken: canaryRefresh},
			ClientID: "bot+1@chatshipper.com",
			Options:  []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt})},
		})
		require.NoError(t, err)
		h := &captureHandler{}
		c, err := NewClient("", WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}),
			WithTokenSource(src), WithLogger(slog.New(h)))
		require.NoError(t, err)
		req, err := c.NewRequest(context.Background(), "GET", "users", nil)
		require.NoError(t, err)
		_, err = c.Do(req, nil)
		require.NoError(t, err)
		recs := h.with("chatshipper: refreshing token")
		require.Len(t, recs, 1)
		assert.Equal(t, "the server refused the token", recs[0].attrs["reason"])
		assert.Len(t, h.with("chatshipper: token refreshed"), 1)
		h.noSecrets(t, canaryRefresh, revoked, srv.current)
	})
}
