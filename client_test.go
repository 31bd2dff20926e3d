package chatshipper

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
	"sync"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const (
	testBase  = "https://api.test/v2/"
	testToken = "tok-CANARY-7f3a9c" // a canary: it must never appear in errors or logs
)

// newTestClient returns a client whose requests go to a fresh httpmock
// transport (never the global one), with short retry waits.
func newTestClient(t *testing.T, opts ...Option) (*Client, *httpmock.MockTransport) {
	t.Helper()
	mt := httpmock.NewMockTransport()
	all := append([]Option{
		WithBaseURL(testBase),
		WithHTTPClient(&http.Client{Transport: mt}),
		WithRetryWait(time.Second, 30*time.Second),
	}, opts...)
	c, err := NewClient(testToken, all...)
	require.NoError(t, err)
	return c, mt
}

func TestRequestHeaders(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithUserAgent("mybot/1.2"))
	var got *http.Request
	var gotBody []byte
	mt.RegisterResponder(http.MethodPost, testBase+"conversations", func(r *http.Request) (*http.Response, error) {
		got = r
		gotBody, _ = io.ReadAll(r.Body)
		return httpmock.NewStringResponse(201, `{"id":"5bb0277fd99faf11a3f4a37e"}`), nil
	})
	req, err := c.NewRequest(context.Background(), http.MethodPost, "conversations", map[string]string{"name": "x"})
	require.NoError(t, err)
	var out struct{ ID string }
	resp, err := c.Do(req, &out)
	require.NoError(t, err)
	assert.Equal(t, 201, resp.StatusCode)
	assert.Equal(t, "5bb0277fd99faf11a3f4a37e", out.ID)

	assert.Equal(t, "Bearer "+testToken, got.Header.Get("Authorization"))
	assert.Equal(t, "application/json", got.Header.Get("Accept"))
	assert.Equal(t, "application/json", got.Header.Get("Content-Type"))
	assert.Equal(t, "chatshipper-go/"+Version+" mybot/1.2", got.Header.Get("User-Agent"))
	assert.JSONEq(t, `{"name":"x"}`, string(gotBody))
	// The caller's request is untouched: the token went on a clone.
	assert.Empty(t, req.Header.Get("Authorization"))
}

func TestNoContentTypeWithoutBody(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got http.Header
	mt.RegisterResponder(http.MethodGet, testBase+"users", func(r *http.Request) (*http.Response, error) {
		got = r.Header.Clone()
		return httpmock.NewStringResponse(200, `[]`), nil
	})
	req, err := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
	require.NoError(t, err)
	_, err = c.Do(req, nil)
	require.NoError(t, err)
	assert.Empty(t, got.Get("Content-Type"))
	assert.Equal(t, "chatshipper-go/"+Version, got.Get("User-Agent"))
}

func TestBaseURLRules(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    string
		wantErr string
	}{
		{in: "https://api.chatshipper.com/v2/", want: "https://api.chatshipper.com/v2/"},
		{in: "https://api.web1on1.chat/v2", want: "https://api.web1on1.chat/v2/"},
		{in: "http://127.0.0.1:8080/v2/", want: "http://127.0.0.1:8080/v2/"},
		{in: "http://localhost/v2", want: "http://localhost/v2/"},
		{in: "http://[::1]:9/v2/", want: "http://[::1]:9/v2/"},
		{in: "http://api.chatshipper.com/v2/", wantErr: "http:// is only allowed for loopback"},
		{in: "http://10.0.0.1/v2/", wantErr: "http:// is only allowed for loopback"},
		{in: "ftp://api.chatshipper.com/v2/", wantErr: "scheme must be https"},
		{in: "/v2/", wantErr: "must be absolute"},
		{in: "https://user:secret@api.test/v2/", wantErr: "must not contain credentials"},
		{in: "https://api.test/v2/?x=1", wantErr: "must not have a query"},
		{in: "::not a url", wantErr: "not a URL"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			c, err := NewClient(testToken, WithBaseURL(tt.in))
			if tt.wantErr != "" {
				require.Error(t, err)
				assert.ErrorIs(t, err, ErrInvalidArgument)
				assert.Contains(t, err.Error(), tt.wantErr)
				assert.NotContains(t, err.Error(), "secret")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, c.BaseURL().String())
		})
	}
	c, err := NewClient(testToken)
	require.NoError(t, err)
	assert.Equal(t, DefaultBaseURL, c.BaseURL().String())
}

func TestOptionValidation(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		opt  Option
		want string
	}{
		{"nil http client", WithHTTPClient(nil), "WithHTTPClient"},
		{"negative retries", WithMaxRetries(-1), "WithMaxRetries"},
		{"zero wait", WithRetryWait(0, time.Second), "WithRetryWait"},
		{"max below min", WithRetryWait(2*time.Second, time.Second), "WithRetryWait"},
		{"user agent newline", WithUserAgent("a\r\nX-Evil: 1"), "WithUserAgent"},
		{"nil token source", WithTokenSource(nil), "WithTokenSource"},
		{"max body", WithMaxResponseBytes(0), "WithMaxResponseBytes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewClient(testToken, tt.opt)
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidArgument)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	_, err := NewClient("")
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = NewClient("", WithTokenSource(StaticTokenSource("x")))
	require.NoError(t, err)
}

func TestWithHTTPClientNotMutated(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	hc := &http.Client{Transport: mt, Timeout: 7 * time.Second}
	before := *hc
	c, err := NewClient(testToken, WithBaseURL(testBase), WithHTTPClient(hc))
	require.NoError(t, err)
	mt.RegisterResponder(http.MethodGet, testBase+"users", httpmock.NewStringResponder(200, `[]`))
	req, _ := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
	_, err = c.Do(req, nil)
	require.NoError(t, err)
	assert.Equal(t, before.Timeout, hc.Timeout)
	assert.Same(t, before.Transport, hc.Transport)
	assert.Nil(t, hc.CheckRedirect)
}

func TestPathEscapingAndTraversal(t *testing.T) {
	t.Parallel()
	c, _ := newTestClient(t)
	ok := []struct{ path, want string }{
		{"conversations", testBase + "conversations"},
		{"/conversations/5bb0277fd99faf11a3f4a37e/messages", testBase + "conversations/5bb0277fd99faf11a3f4a37e/messages"},
		{"contacts?profile.telephone=%2B441134960999", testBase + "contacts?profile.telephone=%2B441134960999"},
		{"kbases/a b", testBase + "kbases/a%20b"},
		{"kbases/a%2F..", testBase + "kbases/a%252F.."},
		{"kbases/x#y", testBase + "kbases/x%23y"},
	}
	for _, tt := range ok {
		req, err := c.NewRequest(context.Background(), http.MethodGet, tt.path, nil)
		require.NoError(t, err, tt.path)
		assert.Equal(t, tt.want, req.URL.String(), tt.path)
	}
	bad := []string{"", "..", "../auth/token", "conversations/../../x", "conversations/./x", "a//b", "conversations/.."}
	for _, p := range bad {
		_, err := c.NewRequest(context.Background(), http.MethodGet, p, nil)
		require.Error(t, err, p)
		assert.ErrorIs(t, err, ErrInvalidArgument, p)
	}
}

func TestDoDecodesIntoWriter(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	mt.RegisterResponder(http.MethodGet, testBase+"files/5bb0277fd99faf11a3f4a37e", httpmock.NewStringResponder(200, `{"raw":true}`))
	req, _ := c.NewRequest(context.Background(), http.MethodGet, "files/5bb0277fd99faf11a3f4a37e", nil)
	var buf bytes.Buffer
	_, err := c.Do(req, &buf)
	require.NoError(t, err)
	assert.Equal(t, `{"raw":true}`, buf.String())
}

func TestResponseBodyCapped(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithMaxResponseBytes(64))
	big := `[` + strings.Repeat(`{"id":"5bb0277fd99faf11a3f4a37e"},`, 10) + `{}]`
	mt.RegisterResponder(http.MethodGet, testBase+"users", httpmock.NewStringResponder(200, big))
	req, _ := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
	var out []json.RawMessage
	_, err := c.Do(req, &out)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrResponseTooLarge)

	// Exactly at the cap is fine.
	c2, mt2 := newTestClient(t, WithMaxResponseBytes(int64(len(`[{"a":1}]`))))
	mt2.RegisterResponder(http.MethodGet, testBase+"users", httpmock.NewStringResponder(200, `[{"a":1}]`))
	req2, _ := c2.NewRequest(context.Background(), http.MethodGet, "users", nil)
	_, err = c2.Do(req2, &out)
	require.NoError(t, err)
}

func TestRedirectToOtherHostDropsAuthorization(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var evilAuth, sameAuth string
	mt.RegisterResponder(http.MethodGet, testBase+"users", func(r *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(302, "")
		resp.Header.Set("Location", "https://evil.example/steal")
		return resp, nil
	})
	mt.RegisterResponder(http.MethodGet, "https://evil.example/steal", func(r *http.Request) (*http.Response, error) {
		evilAuth = r.Header.Get("Authorization")
		return httpmock.NewStringResponse(200, `[]`), nil
	})
	mt.RegisterResponder(http.MethodGet, testBase+"channels", func(r *http.Request) (*http.Response, error) {
		resp := httpmock.NewStringResponse(302, "")
		resp.Header.Set("Location", testBase+"channels2")
		return resp, nil
	})
	mt.RegisterResponder(http.MethodGet, testBase+"channels2", func(r *http.Request) (*http.Response, error) {
		sameAuth = r.Header.Get("Authorization")
		return httpmock.NewStringResponse(200, `[]`), nil
	})
	req, _ := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
	_, err := c.Do(req, nil)
	require.NoError(t, err)
	assert.Empty(t, evilAuth, "the token must not follow a redirect to another host")

	req, _ = c.NewRequest(context.Background(), http.MethodGet, "channels", nil)
	_, err = c.Do(req, nil)
	require.NoError(t, err)
	assert.Equal(t, "Bearer "+testToken, sameAuth)
}

func TestContextCancelledBeforeSend(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	mt.RegisterResponder(http.MethodGet, testBase+"users", httpmock.NewStringResponder(200, `[]`))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := c.NewRequest(ctx, http.MethodGet, "users", nil)
	_, err := c.Do(req, nil)
	require.Error(t, err)
	assert.True(t, errors.Is(err, context.Canceled))
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestRawMessageBodySentAsIs(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	var got []byte
	mt.RegisterResponder(http.MethodPost, testBase+"kbases", func(r *http.Request) (*http.Response, error) {
		got, _ = io.ReadAll(r.Body)
		return httpmock.NewStringResponse(201, `{}`), nil
	})
	raw := json.RawMessage(`{ "content": "<p>a & b</p>",  "n": 1.10 }`)
	req, err := c.NewRequest(context.Background(), http.MethodPost, "kbases", raw)
	require.NoError(t, err)
	_, err = c.Do(req, nil)
	require.NoError(t, err)
	assert.Equal(t, string(raw), string(got), "byte for byte: not compacted, not re-escaped")

	_, err = c.NewRequest(context.Background(), http.MethodPost, "kbases", json.RawMessage(`{"broken":`))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	assert.Equal(t, 1, mt.GetTotalCallCount())
}

// NewRequest refuses a query part that would not reach the server as
// written, naming the path.
func TestNewRequestRefusesBadQuery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, path, want string
	}{
		{"fragment", "users?status=active#top", `"users?status=REDACTED": the query contains a fragment ('#'), which is never sent at byte 19`},
		{"space", "users?status=act ive", `"users?status=REDACTED": the query contains a space at byte 16`},
		{"NUL", "users?status=a\x00", `"users?status=REDACTED": the query contains a control character at byte 14`},
		{"line break", "users?a=1\r\nX-Evil: 1", `"users?a=REDACTED": the query contains a control character at byte 9`},
		{"personal data redacted", "contacts?email=jane@example.com#x", `"contacts?email=REDACTED": the query contains a fragment ('#'), which is never sent at byte 31`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			req, err := c.NewRequest(context.Background(), http.MethodGet, tt.path, nil)
			assert.Nil(t, req)
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Equal(t, "path", ae.Name)
			assert.Equal(t, tt.want+"; encode values with url.Values.Encode or url.QueryEscape", ae.Reason)
			assert.NotContains(t, err.Error(), "jane")
			assert.Equal(t, 0, mt.GetTotalCallCount())
		})
	}
	// A well-formed query passes as it is.
	c, _ := newTestClient(t)
	req, err := c.NewRequest(context.Background(), http.MethodGet, "users?status=active&name=a%20b", nil)
	require.NoError(t, err)
	assert.Equal(t, "status=active&name=a%20b", req.URL.RawQuery)
	assert.False(t, strings.Contains(req.URL.String(), "#"))
}

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

func (h *captureHandler) WithAttrs([]slog.Attr) slog.Handler { return h }

func (h *captureHandler) WithGroup(string) slog.Handler { return h }

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
