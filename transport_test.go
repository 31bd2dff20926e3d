package chatshipper

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// closedPortURL returns a loopback URL on which nothing listens.
func closedPortURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr + "/v2/elsewhere"
}

// A request answered with a redirect whose target cannot be
// connected to has reached the server; a POST, PATCH or PUT is not sent
// again (unless opted in), and MayHaveReachedServer says so.
func TestRedirectToClosedPortNotResent(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		method   string
		status   int
		opts     []Option
		wantHits int32
	}{
		{"POST 307", http.MethodPost, http.StatusTemporaryRedirect, nil, 1},
		{"POST 308", http.MethodPost, http.StatusPermanentRedirect, nil, 1},
		{"POST 303", http.MethodPost, http.StatusSeeOther, nil, 1},
		{"POST 302", http.MethodPost, http.StatusFound, nil, 1},
		{"PATCH 307", http.MethodPatch, http.StatusTemporaryRedirect, nil, 1},
		{"PUT 307", http.MethodPut, http.StatusTemporaryRedirect, nil, 1},
		{"GET 302 is retried", http.MethodGet, http.StatusFound, nil, 3},
		{"POST 307 opted in is retried", http.MethodPost, http.StatusTemporaryRedirect, []Option{WithRetryNonIdempotent(true)}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			target := closedPortURL(t)
			var hits atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				hits.Add(1)
				http.Redirect(w, r, target, tt.status)
			}))
			t.Cleanup(srv.Close)
			opts := append([]Option{WithBaseURL(srv.URL + "/v2/"), WithMaxRetries(2),
				WithRetryWait(time.Millisecond, time.Millisecond), WithRateLimit(0)}, tt.opts...)
			c, err := NewClient(testToken, opts...)
			require.NoError(t, err)
			var body any
			if tt.method != http.MethodGet {
				body = map[string]string{"text": "hi"}
			}
			req, err := c.NewRequest(context.Background(), tt.method, "conversations", body)
			require.NoError(t, err)
			_, err = c.Do(req, nil)
			var te *TransportError
			require.ErrorAs(t, err, &te)
			assert.Equal(t, tt.wantHits, hits.Load(), "server hits")
			assert.Equal(t, int(tt.wantHits), te.Attempts)
			assert.True(t, te.MayHaveReachedServer())
			assert.Equal(t, srv.URL+"/v2/conversations", te.URL, "the URL is the caller's, not the redirect target")
		})
	}
}

// A POST refused by the first hop's connection is still safe to resend, and
// reports that it never reached the server.
func TestDialErrorNeverReachedServer(t *testing.T) {
	t.Parallel()
	base := closedPortURL(t)
	c, err := NewClient(testToken, WithBaseURL(base+"/"), WithMaxRetries(1),
		WithRetryWait(time.Millisecond, time.Millisecond), WithRateLimit(0))
	require.NoError(t, err)
	req, err := c.NewRequest(context.Background(), http.MethodPost, "conversations", map[string]string{"text": "hi"})
	require.NoError(t, err)
	_, err = c.Do(req, nil)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.Equal(t, 2, te.Attempts)
	assert.False(t, te.MayHaveReachedServer())
}

// A 429 from a redirect target does not make a POST safe to resend: its first
// hop was answered.
func TestRedirectThen429NotResent(t *testing.T) {
	t.Parallel()
	var first, second atomic.Int32
	mux := http.NewServeMux()
	mux.HandleFunc("/v2/conversations", func(w http.ResponseWriter, r *http.Request) {
		first.Add(1)
		http.Redirect(w, r, "/v2/moved", http.StatusTemporaryRedirect)
	})
	mux.HandleFunc("/v2/moved", func(w http.ResponseWriter, _ *http.Request) {
		second.Add(1)
		w.Header().Set("Retry-After", "0")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	c, err := NewClient(testToken, WithBaseURL(srv.URL+"/v2/"), WithRetryWait(time.Millisecond, time.Millisecond), WithRateLimit(0))
	require.NoError(t, err)
	req, err := c.NewRequest(context.Background(), http.MethodPost, "conversations", map[string]string{"text": "hi"})
	require.NoError(t, err)
	_, err = c.Do(req, nil)
	require.ErrorIs(t, err, ErrRateLimited)
	assert.Equal(t, int32(1), first.Load())
	assert.Equal(t, int32(1), second.Load())
}
