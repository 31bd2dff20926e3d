package chatshipper

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 15 item 1: httpmock's global activation replaces http.DefaultTransport;
// a client built afterwards uses it, and a request without a responder fails
// after one attempt. Not parallel: it changes http.DefaultTransport.
func TestHTTPMockGlobalActivation(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		httpmock.Activate()
		t.Cleanup(httpmock.DeactivateAndReset)
		httpmock.RegisterResponder(http.MethodGet, testBase+"users/aaa000000000000000000111",
			httpmock.NewStringResponder(200, `{"id":"aaa000000000000000000111"}`))

		c, err := NewClient(testToken, WithBaseURL(testBase))
		require.NoError(t, err)

		u, _, err := c.Users.Get(context.Background(), "aaa000000000000000000111", nil)
		require.NoError(t, err)
		assert.Equal(t, "aaa000000000000000000111", u.ID)

		req, err := c.NewRequest(context.Background(), http.MethodGet, "contacts", nil)
		require.NoError(t, err)
		_, err = c.Do(req, nil)
		require.Error(t, err)
		assert.ErrorIs(t, err, httpmock.NoResponderFound)
		var te *TransportError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 1, te.Attempts, "a missing responder is not transient")
	})
}

func TestRetryableTransportErrors(t *testing.T) {
	t.Parallel()
	urlErr := func(err error) error { return &url.Error{Op: "Get", URL: testBase + "users", Err: err} }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dial refused", dialErr, true},
		{"read reset", resetErr, true},
		{"wrapped reset", urlErr(resetErr), true},
		{"bare ECONNRESET", fmt.Errorf("x: %w", syscall.ECONNRESET), true},
		{"bare EPIPE", urlErr(syscall.EPIPE), true},
		{"unexpected EOF", urlErr(io.ErrUnexpectedEOF), true},
		{"EOF on a reused connection", urlErr(io.EOF), true},
		{"attempt timeout", urlErr(&AttemptTimeoutError{Limit: 1, Err: context.DeadlineExceeded}), true},
		{"dns timeout", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "timeout", IsTimeout: true}}, true},
		{"dns no such host", &net.OpError{Op: "dial", Err: &net.DNSError{Err: "no such host", IsNotFound: true}}, false},
		{"httpmock no responder", urlErr(httpmock.NoResponderFound), false},
		{"token source", urlErr(errors.New("chatshipper: token source: vault unavailable")), false},
		{"argument", urlErr(&ArgumentError{Name: "token", Reason: "bad"}), false},
		{"too many redirects", urlErr(errors.New("stopped after 10 redirects")), false},
		{"certificate", urlErr(&tls.CertificateVerificationError{Err: errors.New("x509: unknown authority")}), false},
		{"nil", nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			assert.Equal(t, tt.want, retryableTransportError(tt.err))
		})
	}
}

// A non-network transport error ends a GET after one attempt.
func TestNonNetworkTransportErrorNotRetried(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t)
		mt.RegisterResponder(http.MethodGet, testBase+"users", httpmock.NewErrorResponder(errors.New("fixture missing")))
		req, err := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
		require.NoError(t, err)
		_, err = c.Do(req, nil)
		var te *TransportError
		require.ErrorAs(t, err, &te)
		assert.Equal(t, 1, te.Attempts)
		assert.Equal(t, 1, mt.GetTotalCallCount())
	})
}

// pauseSpy is a Limiter that never blocks and records every Pause.
type pauseSpy struct {
	mu     sync.Mutex
	pauses []time.Duration
}

func (*pauseSpy) Wait(context.Context) error { return nil }

func (p *pauseSpy) Pause(d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pauses = append(p.pauses, d)
}

// Issue 15 item 5: Retry-After is a floor. A wait the client is willing to
// make is made in full; a longer one is not shortened into an early retry:
// the call returns at once with the server's Retry-After, and the shared
// limiter pauses for all of it.
func TestRetryAfterIsAFloor(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		method     string
		status     int
		retryAfter string
		wantHits   int32
		wantWait   time.Duration
		wantErr    error
		wantRA     time.Duration // RateLimitError.RetryAfter, when wantErr is ErrRateLimited
		wantPauses []time.Duration
	}{
		{name: "429 longer than the max wait", method: "GET", status: 429, retryAfter: "120",
			wantHits: 1, wantErr: ErrRateLimited, wantRA: 120 * time.Second, wantPauses: []time.Duration{120 * time.Second}},
		{name: "429 POST longer than the max wait", method: "POST", status: 429, retryAfter: "31",
			wantHits: 1, wantErr: ErrRateLimited, wantRA: 31 * time.Second, wantPauses: []time.Duration{31 * time.Second}},
		{name: "429 equal to the max wait is waited in full", method: "GET", status: 429, retryAfter: "30",
			wantHits: 2, wantWait: 30 * time.Second, wantPauses: []time.Duration{30 * time.Second}},
		{name: "429 shorter than the max wait", method: "POST", status: 429, retryAfter: "20",
			wantHits: 2, wantWait: 20 * time.Second, wantPauses: []time.Duration{20 * time.Second}},
		{name: "429 HTTP date an hour ahead", method: "GET", status: 429, retryAfter: "HOUR",
			wantHits: 1, wantErr: ErrRateLimited, wantRA: time.Hour, wantPauses: []time.Duration{time.Hour}},
		{name: "503 longer than the max wait", method: "GET", status: 503, retryAfter: "120",
			wantHits: 1, wantErr: ErrServer},
		{name: "503 shorter than the max wait", method: "GET", status: 503, retryAfter: "7",
			wantHits: 2, wantWait: 7 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				spy := &pauseSpy{}
				c, mt := newTestClient(t, WithLimiter(spy), WithRetryWait(time.Second, 30*time.Second))
				ra := tt.retryAfter
				if ra == "HOUR" {
					ra = time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
				}
				var hits atomic.Int32
				mt.RegisterResponder(tt.method, testBase+"conversations",
					sequence(&hits, step{status: tt.status, retryAfter: ra}, step{status: 200, body: `{}`}))
				var body any
				if tt.method == "POST" {
					body = map[string]string{"name": "x"}
				}
				req, err := c.NewRequest(context.Background(), tt.method, "conversations", body)
				require.NoError(t, err)
				start := time.Now()
				_, err = c.Do(req, nil)
				assert.Equal(t, tt.wantWait, time.Since(start), "time waited")
				assert.Equal(t, tt.wantHits, hits.Load(), "server hits")
				if tt.wantErr == nil {
					require.NoError(t, err)
				} else {
					require.ErrorIs(t, err, tt.wantErr)
				}
				if tt.wantErr == ErrRateLimited {
					var rl *RateLimitError
					require.ErrorAs(t, err, &rl)
					assert.Equal(t, tt.wantRA, rl.RetryAfter)
					assert.Equal(t, 1, rl.Attempts)
				}
				assert.Equal(t, tt.wantPauses, spy.pauses)
			})
		})
	}
}

// The built-in limiter pauses for the whole Retry-After, so the next request
// of any goroutine goes out only when the server said it may.
func TestRetryAfterPausesLimiterInFull(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithRetryWait(time.Second, 30*time.Second))
		var hits atomic.Int32
		mt.RegisterResponder("GET", testBase+"conversations",
			sequence(&hits, step{status: 429, retryAfter: "120"}, step{status: 200, body: `[]`}))
		req, err := c.NewRequest(context.Background(), "GET", "conversations", nil)
		require.NoError(t, err)
		start := time.Now()
		_, err = c.Do(req, nil)
		require.ErrorIs(t, err, ErrRateLimited)
		assert.Equal(t, time.Duration(0), time.Since(start))

		req, err = c.NewRequest(context.Background(), "GET", "conversations", nil)
		require.NoError(t, err)
		_, err = c.Do(req, nil)
		require.NoError(t, err)
		assert.Equal(t, 120*time.Second, time.Since(start), "the next request waits for the whole Retry-After")
		assert.Equal(t, int32(2), hits.Load())
	})
}
