package chatshipper

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// step is one scripted answer of a sequence responder.
type step struct {
	status     int
	body       string
	retryAfter string
	err        error
}

// sequence answers with the steps in order (repeating the last) and counts hits.
func sequence(hits *atomic.Int32, steps ...step) httpmock.Responder {
	return func(r *http.Request) (*http.Response, error) {
		i := int(hits.Add(1)) - 1
		if i >= len(steps) {
			i = len(steps) - 1
		}
		s := steps[i]
		if s.err != nil {
			return nil, s.err
		}
		resp := httpmock.NewStringResponse(s.status, s.body)
		if s.retryAfter != "" {
			resp.Header.Set("Retry-After", s.retryAfter)
		}
		return resp, nil
	}
}

var (
	dialErr  = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	resetErr = &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
)

func TestRetryTable(t *testing.T) {
	t.Parallel()
	const url = testBase + "conversations/5bb0277fd99faf11a3f4a37e"
	tests := []struct {
		name      string
		method    string
		opts      []Option
		steps     []step
		wantHits  int32
		wantErr   error // errors.Is target; nil for success
		wantWait  time.Duration
		exactWait bool
	}{
		{name: "GET retried on 503 then 200", method: "GET",
			steps: []step{{status: 503}, {status: 200, body: `{}`}}, wantHits: 2},
		{name: "GET retried on 502 and 504", method: "GET",
			steps: []step{{status: 502}, {status: 504}, {status: 200, body: `{}`}}, wantHits: 3},
		{name: "DELETE retried on 503", method: "DELETE",
			steps: []step{{status: 503}, {status: 204}}, wantHits: 2},
		{name: "POST not retried on 502", method: "POST",
			steps: []step{{status: 502}, {status: 201, body: `{}`}}, wantHits: 1, wantErr: ErrServer},
		{name: "PATCH not retried on 503", method: "PATCH",
			steps: []step{{status: 503}, {status: 200, body: `{}`}}, wantHits: 1, wantErr: ErrServer},
		{name: "POST retried on 502 when opted in", method: "POST", opts: []Option{WithRetryNonIdempotent(true)},
			steps: []step{{status: 502}, {status: 201, body: `{}`}}, wantHits: 2},
		{name: "POST retried on 429", method: "POST",
			steps: []step{{status: 429, retryAfter: "2"}, {status: 201, body: `{}`}}, wantHits: 2,
			wantWait: 2 * time.Second, exactWait: true},
		{name: "POST retried on a dial error", method: "POST",
			steps: []step{{err: dialErr}, {status: 201, body: `{}`}}, wantHits: 2},
		{name: "POST not retried on a reset connection", method: "POST",
			steps: []step{{err: resetErr}, {status: 201, body: `{}`}}, wantHits: 1, wantErr: syscall.ECONNRESET},
		{name: "GET retried on a reset connection", method: "GET",
			steps: []step{{err: resetErr}, {status: 200, body: `{}`}}, wantHits: 2},
		{name: "500 not retried (GET)", method: "GET",
			steps: []step{{status: 500}, {status: 200, body: `{}`}}, wantHits: 1, wantErr: ErrServer},
		{name: "500 not retried (POST opted in)", method: "POST", opts: []Option{WithRetryNonIdempotent(true)},
			steps: []step{{status: 500}, {status: 201, body: `{}`}}, wantHits: 1, wantErr: ErrServer},
		{name: "404 not retried", method: "GET",
			steps: []step{{status: 404, body: `{"error":{"message":"Conversation not found"}}`}}, wantHits: 1, wantErr: ErrNotFound},
		{name: "Retry-After seconds honoured", method: "GET",
			steps: []step{{status: 503, retryAfter: "30"}, {status: 200, body: `{}`}}, wantHits: 2,
			wantWait: 30 * time.Second, exactWait: true},
		{name: "Retry-After over the max wait is not shortened: no retry", method: "GET",
			steps: []step{{status: 429, retryAfter: "120"}, {status: 200, body: `{}`}}, wantHits: 1,
			wantErr: ErrRateLimited, wantWait: 0, exactWait: true},
		{name: "429 loop limit never retried", method: "POST",
			steps:    []step{{status: 429, body: `{"error":{"message":"Loop limit: more than 8 identical messages in 3 minutes"}}`}},
			wantHits: 1, wantErr: ErrLoopLimit},
		{name: "429 exhausted", method: "GET", opts: []Option{WithMaxRetries(2)},
			steps: []step{{status: 429, retryAfter: "1"}}, wantHits: 3, wantErr: ErrRateLimited,
			wantWait: 2 * time.Second, exactWait: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t, tt.opts...)
				var hits atomic.Int32
				mt.RegisterResponder(tt.method, url, sequence(&hits, tt.steps...))
				var body any
				if tt.method == "POST" || tt.method == "PATCH" {
					body = map[string]string{"text": "hi"}
				}
				req, err := c.NewRequest(context.Background(), tt.method, "conversations/5bb0277fd99faf11a3f4a37e", body)
				require.NoError(t, err)
				start := time.Now()
				_, err = c.Do(req, nil)
				waited := time.Since(start)
				assert.Equal(t, tt.wantHits, hits.Load(), "server hits")
				if tt.wantErr == nil {
					require.NoError(t, err)
				} else {
					require.Error(t, err)
					assert.ErrorIs(t, err, tt.wantErr)
					assert.NotContains(t, err.Error(), testToken)
				}
				if tt.exactWait {
					assert.Equal(t, tt.wantWait, waited)
				}
			})
		})
	}
}

func TestRetryAfterHTTPDate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t)
		var hits atomic.Int32
		date := time.Now().Add(12 * time.Second).UTC().Format(http.TimeFormat)
		mt.RegisterResponder("GET", testBase+"users", sequence(&hits, step{status: 503, retryAfter: date}, step{status: 200, body: `[]`}))
		req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
		start := time.Now()
		_, err := c.Do(req, nil)
		require.NoError(t, err)
		assert.Equal(t, int32(2), hits.Load())
		assert.Equal(t, 12*time.Second, time.Since(start))
	})
}

func TestRateLimitErrorFields(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t, WithMaxRetries(1))
		var hits atomic.Int32
		mt.RegisterResponder("GET", testBase+"users", sequence(&hits, step{status: 429, retryAfter: "5", body: `{"message":"Too many requests"}`}))
		req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
		_, err := c.Do(req, nil)
		var rl *RateLimitError
		require.ErrorAs(t, err, &rl)
		assert.Equal(t, 2, rl.Attempts)
		assert.Equal(t, 5*time.Second, rl.RetryAfter)
		assert.Equal(t, "Too many requests", rl.Err.Message)
		var er *ErrorResponse
		require.ErrorAs(t, err, &er)
		assert.Equal(t, 429, er.StatusCode)
		assert.ErrorIs(t, err, ErrRateLimited)
	})
}

func TestBackoffExponentialWithJitter(t *testing.T) {
	t.Parallel()
	for attempt := 0; attempt < 8; attempt++ {
		ceil := min(30*time.Second, time.Second<<attempt)
		for range 50 {
			d := backoff(time.Second, 30*time.Second, attempt, nil)
			assert.GreaterOrEqual(t, d, time.Second)
			assert.LessOrEqual(t, d, ceil)
		}
	}
	// A 500 answer's Retry-After is not a reason to wait for it: the row says error.
	resp := &http.Response{StatusCode: 500, Header: http.Header{"Retry-After": {"99"}}}
	assert.LessOrEqual(t, backoff(time.Second, 2*time.Second, 0, resp), 2*time.Second)
}

func TestParseRetryAfter(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 21, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{"0", 0, true},
		{" 7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"99999999999", 24 * time.Hour, true},
		// Beyond int64: still a (very long) wait, not an absent header.
		{"9223372036854775807", 24 * time.Hour, true},
		{"99999999999999999999", 24 * time.Hour, true},
		{"-99999999999999999999", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		assert.Equal(t, tt.ok, ok, tt.in)
		assert.Equal(t, tt.want, got, tt.in)
	}
}

func TestCancelMidBackoffReturnsAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t)
		var hits atomic.Int32
		mt.RegisterResponder("GET", testBase+"users", sequence(&hits, step{status: 503, retryAfter: "30"}))
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		start := time.Now()
		go func() {
			req, _ := c.NewRequest(ctx, "GET", "users", nil)
			_, err := c.Do(req, nil)
			done <- err
		}()
		time.Sleep(5 * time.Second) // inside the 30 s backoff
		cancel()
		err := <-done
		assert.ErrorIs(t, err, context.Canceled)
		assert.Equal(t, 5*time.Second, time.Since(start))
		assert.Equal(t, int32(1), hits.Load())
	})
}

func TestDeadlineMidBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		c, mt := newTestClient(t)
		var hits atomic.Int32
		mt.RegisterResponder("GET", testBase+"users", sequence(&hits, step{status: 503, retryAfter: "30"}))
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := c.NewRequest(ctx, "GET", "users", nil)
		start := time.Now()
		_, err := c.Do(req, nil)
		assert.True(t, errors.Is(err, context.DeadlineExceeded))
		assert.Equal(t, 3*time.Second, time.Since(start))
	})
}

func TestTransportErrorReportsMaybeSent(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t, WithMaxRetries(0))
	mt.RegisterResponder("POST", testBase+"conversations", httpmock.NewErrorResponder(resetErr))
	req, _ := c.NewRequest(context.Background(), "POST", "conversations", map[string]string{"name": "x"})
	_, err := c.Do(req, nil)
	var te *TransportError
	require.ErrorAs(t, err, &te)
	assert.True(t, te.MayHaveReachedServer())
	assert.Equal(t, 1, te.Attempts)
	assert.Equal(t, "POST", te.Method)

	mt.RegisterResponder("POST", testBase+"users", httpmock.NewErrorResponder(dialErr))
	req, _ = c.NewRequest(context.Background(), "POST", "users", map[string]string{"name": "x"})
	_, err = c.Do(req, nil)
	require.ErrorAs(t, err, &te)
	assert.False(t, te.MayHaveReachedServer())
}

// A Retry-After given as an HTTP date is a moment on the server's clock: it
// is read against the Date of the same answer, not the client's clock. A
// server 2 h ahead asking for 5 s is retried after 5 s (not refused for
// 2 h), one 2 h behind after 5 s (not at once, into another 429).
func TestRetryAfterDateReadOnTheServersClock(t *testing.T) {
	t.Parallel()
	for _, skew := range []time.Duration{2 * time.Hour, -2 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				c, mt := newTestClient(t)
				start := time.Now()
				var calls []time.Duration
				mt.RegisterResponder("GET", testBase+"users", func(*http.Request) (*http.Response, error) {
					calls = append(calls, time.Since(start))
					if len(calls) > 1 {
						return httpmock.NewStringResponse(200, `[]`), nil
					}
					serverNow := time.Now().Add(skew)
					resp := httpmock.NewStringResponse(429, `{"message":"Too many requests"}`)
					resp.Header.Set("Date", serverNow.UTC().Format(http.TimeFormat))
					resp.Header.Set("Retry-After", serverNow.Add(5*time.Second).UTC().Format(http.TimeFormat))
					return resp, nil
				})
				req, err := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
				require.NoError(t, err)
				_, err = c.Do(req, nil)
				require.NoError(t, err)
				assert.Equal(t, []time.Duration{0, 5 * time.Second}, calls, "retried once, 5 s later")
			})
		})
	}
}

// Each retry decision is logged with the reason, the wait
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

// Httpmock's global activation replaces http.DefaultTransport;
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

// Retry-After is a floor. A wait the client is willing to
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
