package chatshipper

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// constToken is a TokenSource returning a fixed string, unchecked.
type constToken string

func (c constToken) Token(context.Context) (string, error) { return string(c), nil }

// Issue 15 item 6: a token that cannot be sent in a header (a line break read
// from a file, another control character, a space) is an *ArgumentError
// before any I/O, never a retried network error.
func TestBadTokenRefusedBeforeIO(t *testing.T) {
	t.Parallel()
	bad := []struct {
		name, tok string
	}{
		{"trailing newline", testToken + "\n"},
		{"CRLF", testToken + "\r\n"},
		{"inner line break", "tok\nX-Evil: 1"},
		{"NUL", "tok\x00en"},
		{"tab", "tok\ten"},
		{"DEL", "tok\x7f"},
		{"space", "Bearer " + testToken},
		{"non-ASCII", "tök"},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mt := httpmock.NewMockTransport()
			mt.RegisterNoResponder(httpmock.NewStringResponder(200, `{}`))
			hc := &http.Client{Transport: mt}

			_, err := NewClient(tt.tok, WithBaseURL(testBase), WithHTTPClient(hc))
			var ae *ArgumentError
			require.ErrorAs(t, err, &ae, "NewClient")
			assert.Equal(t, "token", ae.Name)
			assert.ErrorIs(t, err, ErrInvalidArgument)
			assert.NotContains(t, err.Error(), testToken)

			_, err = NewRefreshingTokenSource(RefreshConfig{Token: Token{AccessToken: tt.tok, RefreshToken: canaryRefresh},
				ClientID: "bot@example.com", Options: []Option{WithBaseURL(testBase), WithHTTPClient(hc)}})
			require.ErrorAs(t, err, &ae, "NewRefreshingTokenSource access token")
			assert.Equal(t, "Token.AccessToken", ae.Name)
			_, err = NewRefreshingTokenSource(RefreshConfig{Token: Token{AccessToken: testToken, RefreshToken: tt.tok},
				ClientID: "bot@example.com", Options: []Option{WithBaseURL(testBase), WithHTTPClient(hc)}})
			require.ErrorAs(t, err, &ae, "NewRefreshingTokenSource refresh token")
			assert.Equal(t, "Token.RefreshToken", ae.Name)

			_, err = StaticTokenSource(tt.tok).Token(context.Background())
			require.ErrorAs(t, err, &ae, "StaticTokenSource")

			// Any TokenSource handing out a bad token: refused before I/O, once.
			for _, src := range []TokenSource{StaticTokenSource(tt.tok), constToken(tt.tok)} {
				c, err := NewClient("", WithBaseURL(testBase), WithHTTPClient(hc), WithTokenSource(src))
				require.NoError(t, err)
				req, err := c.NewRequest(context.Background(), http.MethodGet, "users", nil)
				require.NoError(t, err)
				_, err = c.Do(req, nil)
				require.ErrorAs(t, err, &ae, "Do")
				assert.Equal(t, "token", ae.Name)
				assert.NotContains(t, err.Error(), testToken)
			}
			assert.Equal(t, 0, mt.GetTotalCallCount(), "no request may be sent")
		})
	}
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
