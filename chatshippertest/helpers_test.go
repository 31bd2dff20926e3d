package chatshippertest

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// testClock is a settable clock for WithClock.
type testClock struct{ t time.Time }

func newClock() *testClock { return &testClock{t: time.Date(2018, 9, 30, 1, 31, 43, 457e6, time.UTC)} }

func (c *testClock) now() time.Time            { return c.t }
func (c *testClock) advance(d time.Duration)   { c.t = c.t.Add(d) }
func (c *testClock) stamp(d time.Duration) any { return formatTime(c.t.Add(d)) }

// newTest starts a server with the rate limit off (tests fire requests faster
// than 20/s) and a fixed clock, unless opts say otherwise.
func newTest(t *testing.T, opts ...Option) (*Server, *testClock) {
	t.Helper()
	clk := newClock()
	srv := NewServer(t, append([]Option{WithRateLimit(0), WithClock(clk.now)}, opts...)...)
	return srv, clk
}

// result is a decoded HTTP response.
type result struct {
	Status int
	Header http.Header
	Raw    []byte
}

func (r result) obj(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal(r.Raw, &m), string(r.Raw))
	return m
}

func (r result) list(t *testing.T) []any {
	t.Helper()
	var a []any
	require.NoError(t, json.Unmarshal(r.Raw, &a), string(r.Raw))
	return a
}

// errMsg returns error.message of an error body.
func (r result) errMsg(t *testing.T) string {
	t.Helper()
	e, _ := r.obj(t)["error"].(map[string]any)
	msg, _ := e["message"].(string)
	return msg
}

// call sends one request with plain net/http; path is relative to srv.URL
// unless it starts with "/". body may be a string (sent raw) or any value
// (JSON-encoded).
func call(t *testing.T, srv *Server, method, path, token string, body any) result {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		raw, err := json.Marshal(b)
		require.NoError(t, err)
		rd = bytes.NewReader(raw)
	}
	u := srv.URL + path
	if strings.HasPrefix(path, "/") {
		u = strings.TrimSuffix(srv.URL, "/v2/") + path
	}
	req, err := http.NewRequest(method, u, rd)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer func() { _ = resp.Body.Close() }()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return result{Status: resp.StatusCode, Header: resp.Header, Raw: raw}
}

// mustCall is call that requires the given status.
func mustCall(t *testing.T, srv *Server, want int, method, path, token string, body any) result {
	t.Helper()
	r := call(t, srv, method, path, token, body)
	require.Equal(t, want, r.Status, "%s %s: %s", method, path, r.Raw)
	return r
}

// getDoc fetches a stored document or fails.
func getDoc(t *testing.T, srv *Server, c, id string) map[string]any {
	t.Helper()
	d, ok := srv.Get(c, id)
	require.True(t, ok, "%s %s not found", c, id)
	return d
}

// m is shorthand for JSON objects in test tables.
type m = map[string]any

// ids extracts the "id" of each element of a decoded list.
func ids(list []any) []any {
	out := make([]any, len(list))
	for i, e := range list {
		out[i] = e.(map[string]any)["id"]
	}
	return out
}
