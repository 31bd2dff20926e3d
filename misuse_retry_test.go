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
	"syscall"
	"testing"
	"testing/synctest"

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
