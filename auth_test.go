package chatshipper

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
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

// makeJWT builds an unsigned JWT-shaped token with the given claims.
func makeJWT(claims map[string]any) string {
	h := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))
	b, _ := json.Marshal(claims)
	return h + "." + base64.RawURLEncoding.EncodeToString(b) + ".c2lnbmF0dXJl"
}

const (
	canaryPassword = "pw-CANARY-91b2"
	canaryRefresh  = "refresh-CANARY-44d1"
)

func TestLogin(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	var body map[string]any
	var auth string
	access := makeJWT(map[string]any{"_id": "aaa000000000000000000111", "scope": "admin", "exp": 2000000000})
	mt.RegisterResponder("POST", testBase+"auth/token", func(r *http.Request) (*http.Response, error) {
		auth = r.Header.Get("Authorization")
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		return httpmock.NewStringResponse(201, fmt.Sprintf(`{"tokenType":"Bearer","token":%q,"refreshToken":%q,"user":"aaa000000000000000000111","organization":"aaa111111111111111111111","expiresAt":"2033-05-18T03:33:20.000Z","scope":"admin"}`, access, canaryRefresh)), nil
	})
	tok, err := Login(context.Background(), Credentials{Email: "jane@example.com", Password: canaryPassword, OTP: "123456"}, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	assert.Empty(t, auth, "login sends no Authorization header")
	assert.Equal(t, map[string]any{"email": "jane@example.com", "password": canaryPassword, "otp": "123456"}, body)
	assert.Equal(t, access, tok.AccessToken)
	assert.Equal(t, canaryRefresh, tok.RefreshToken)
	assert.Equal(t, "aaa000000000000000000111", tok.User)
	assert.Equal(t, "aaa111111111111111111111", tok.Organization)
	assert.Equal(t, "admin", tok.Scope)
	assert.Equal(t, "Bearer", tok.TokenType)
	assert.Equal(t, "jane@example.com", tok.ClientID)
	assert.Equal(t, time.Unix(2000000000, 0), tok.Expiry())
	assert.Equal(t, "aaa000000000000000000111", UserIDFromToken(tok.AccessToken))
	// Printing the token never shows its secrets.
	for _, s := range []string{tok.String(), fmt.Sprintf("%v", tok), fmt.Sprintf("%+v", *tok), fmt.Sprintf("%#v", *tok)} {
		assert.NotContains(t, s, access)
		assert.NotContains(t, s, canaryRefresh)
	}

	// Without otp the field is left out.
	body = nil
	_, err = Login(context.Background(), Credentials{Email: "jane@example.com", Password: canaryPassword}, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}))
	require.NoError(t, err)
	assert.NotContains(t, body, "otp")
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder("POST", testBase+"auth/token", httpmock.NewStringResponder(401, `{"error":{"message":"Invalid credentials"}}`))
	_, err := Login(context.Background(), Credentials{Email: "jane@example.com", Password: canaryPassword}, WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}))
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), canaryPassword)

	_, err = Login(context.Background(), Credentials{Email: "", Password: "x"}, WithBaseURL(testBase))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = Login(context.Background(), Credentials{Email: "a@b.c", Password: ""}, WithBaseURL(testBase))
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = Login(context.Background(), Credentials{Email: "a@b.c", Password: canaryPassword}, WithBaseURL("http://example.com/v2/"))
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

// refreshServer answers refresh calls with a fresh token valid for ttl and
// counts them; API calls succeed only with the newest token.
type refreshServer struct {
	mu        sync.Mutex
	current   string
	refreshes atomic.Int32
	n         int
	ttl       time.Duration
	gate      chan struct{} // if set, refresh answers wait for it
}

func (s *refreshServer) register(mt *httpmock.MockTransport) {
	mt.RegisterResponder("POST", testBase+"auth/token", func(r *http.Request) (*http.Response, error) {
		var body map[string]string
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &body)
		if body["refreshToken"] != canaryRefresh || body["clientId"] != "bot+1@chatshipper.com" {
			return httpmock.NewStringResponse(401, `{"error":{"message":"invalid refresh token"}}`), nil
		}
		if s.gate != nil {
			<-s.gate
		}
		s.refreshes.Add(1)
		s.mu.Lock()
		s.n++
		s.current = makeJWT(map[string]any{"_id": "u1", "n": s.n, "exp": time.Now().Add(s.ttl).Unix()})
		tok := s.current
		s.mu.Unlock()
		return httpmock.NewStringResponse(201, fmt.Sprintf(`{"token":%q,"refreshToken":%q}`, tok, canaryRefresh)), nil
	})
	mt.RegisterResponder("GET", testBase+"users", func(r *http.Request) (*http.Response, error) {
		s.mu.Lock()
		ok := r.Header.Get("Authorization") == "Bearer "+s.current
		s.mu.Unlock()
		if !ok {
			return httpmock.NewStringResponse(401, `{"error":{"message":"jwt expired"}}`), nil
		}
		return httpmock.NewStringResponse(200, `[]`), nil
	})
}

func newRefreshingClient(t *testing.T, mt *httpmock.MockTransport, initial string, onRefresh func(Token)) (*Client, *RefreshingTokenSource) {
	t.Helper()
	src, err := NewRefreshingTokenSource(RefreshConfig{
		Token:     Token{AccessToken: initial, RefreshToken: canaryRefresh},
		ClientID:  "bot+1@chatshipper.com",
		OnRefresh: onRefresh,
		Options:   []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt})},
	})
	require.NoError(t, err)
	c, err := NewClient("", WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: mt}), WithTokenSource(src), WithRateLimit(0))
	require.NoError(t, err)
	return c, src
}

func TestRefreshBeforeExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mt := httpmock.NewMockTransport()
		srv := &refreshServer{ttl: time.Hour}
		srv.register(mt)
		initial := makeJWT(map[string]any{"_id": "u1", "exp": time.Now().Add(30 * time.Second).Unix()})
		srv.current = initial
		var refreshed []Token
		c, src := newRefreshingClient(t, mt, initial, func(tok Token) { refreshed = append(refreshed, tok) })

		// 30 s before expiry is inside the 1 minute leeway: refresh first.
		req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
		_, err := c.Do(req, nil)
		require.NoError(t, err)
		assert.Equal(t, int32(1), srv.refreshes.Load())
		require.Len(t, refreshed, 1)
		assert.Equal(t, srv.current, refreshed[0].AccessToken)
		assert.Equal(t, srv.current, src.Current().AccessToken)

		// A fresh token is used as is.
		req, _ = c.NewRequest(context.Background(), "GET", "users", nil)
		_, err = c.Do(req, nil)
		require.NoError(t, err)
		assert.Equal(t, int32(1), srv.refreshes.Load())

		// Time passes: the next call refreshes again ahead of expiry.
		time.Sleep(59*time.Minute + 30*time.Second)
		req, _ = c.NewRequest(context.Background(), "GET", "users", nil)
		_, err = c.Do(req, nil)
		require.NoError(t, err)
		assert.Equal(t, int32(2), srv.refreshes.Load())
	})
}

func TestRefreshAfter401(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	srv := &refreshServer{ttl: time.Hour}
	srv.register(mt)
	// The token has no exp (or the server revoked it early): the 401 triggers the refresh.
	stale := makeJWT(map[string]any{"_id": "u1"})
	srv.current = "something-else"
	c, _ := newRefreshingClient(t, mt, stale, nil)
	req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
	_, err := c.Do(req, nil)
	require.NoError(t, err)
	assert.Equal(t, int32(1), srv.refreshes.Load())
	assert.Equal(t, 2, mt.GetCallCountInfo()["GET "+testBase+"users"])
}

func TestRefreshOnlyOnceWhenStillRefused(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	var refreshes atomic.Int32
	mt.RegisterResponder("POST", testBase+"auth/token", func(r *http.Request) (*http.Response, error) {
		refreshes.Add(1)
		return httpmock.NewStringResponse(201, `{"token":"new-but-also-refused"}`), nil
	})
	mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(401, `{"error":{"message":"jwt expired"}}`))
	c, _ := newRefreshingClient(t, mt, "old", nil)
	req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
	_, err := c.Do(req, nil)
	require.ErrorIs(t, err, ErrUnauthorized)
	assert.Equal(t, int32(1), refreshes.Load())
	assert.Equal(t, 2, mt.GetCallCountInfo()["GET "+testBase+"users"])
}

func TestNoRefreshOnOther403(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	var refreshes atomic.Int32
	mt.RegisterResponder("POST", testBase+"auth/token", func(r *http.Request) (*http.Response, error) {
		refreshes.Add(1)
		return httpmock.NewStringResponse(201, `{"token":"x"}`), nil
	})
	mt.RegisterResponder("GET", testBase+"services", httpmock.NewStringResponder(403, `{"error":{"message":"Permission denied"}}`))
	c, _ := newRefreshingClient(t, mt, "old", nil)
	req, _ := c.NewRequest(context.Background(), "GET", "services", nil)
	_, err := c.Do(req, nil)
	require.ErrorIs(t, err, ErrForbidden)
	assert.Equal(t, int32(0), refreshes.Load())
}

func TestConcurrentCallsShareOneRefresh(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	srv := &refreshServer{ttl: time.Hour, gate: make(chan struct{})}
	srv.register(mt)
	stale := makeJWT(map[string]any{"_id": "u1"})
	srv.current = "not-yet"
	var hook atomic.Int32
	c, _ := newRefreshingClient(t, mt, stale, func(Token) { hook.Add(1) })

	const n = 50
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
			_, err := c.Do(req, nil)
			errs <- err
		}()
	}
	// Let every goroutine meet the 401 and queue behind the one refresh.
	require.Eventually(t, func() bool { return mt.GetCallCountInfo()["GET "+testBase+"users"] >= n }, 5*time.Second, time.Millisecond)
	close(srv.gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Equal(t, int32(1), srv.refreshes.Load())
	assert.Equal(t, int32(1), hook.Load())
}

func TestRefreshingSourceValidation(t *testing.T) {
	t.Parallel()
	_, err := NewRefreshingTokenSource(RefreshConfig{Token: Token{AccessToken: "a"}, ClientID: "x"})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = NewRefreshingTokenSource(RefreshConfig{Token: Token{AccessToken: "a", RefreshToken: "r"}})
	assert.ErrorIs(t, err, ErrInvalidArgument)
	_, err = NewRefreshingTokenSource(RefreshConfig{Token: Token{RefreshToken: "r"}, ClientID: "x"})
	assert.ErrorIs(t, err, ErrInvalidArgument)
}

func TestRefreshFailureDoesNotLeakSecrets(t *testing.T) {
	t.Parallel()
	mt := httpmock.NewMockTransport()
	mt.RegisterResponder("POST", testBase+"auth/token", httpmock.NewStringResponder(401, `{"error":{"message":"invalid refresh token"}}`))
	mt.RegisterResponder("GET", testBase+"users", httpmock.NewStringResponder(401, `{"error":{"message":"jwt expired"}}`))
	c, _ := newRefreshingClient(t, mt, testToken, nil)
	req, _ := c.NewRequest(context.Background(), "GET", "users", nil)
	_, err := c.Do(req, nil)
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrUnauthorized)
	assert.NotContains(t, err.Error(), testToken)
	assert.NotContains(t, err.Error(), canaryRefresh)
}

// Every caller waiting for a refresh, the one that started
// it included, returns at its own deadline; the refresh finishes for the
// others.
func TestRefreshHonoursCallersContext(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		mt := httpmock.NewMockTransport()
		srv := &refreshServer{ttl: time.Hour}
		srv.register(mt)
		// The refresh answer takes 2 s.
		mt.RegisterResponder("POST", testBase+"auth/token", func(r *http.Request) (*http.Response, error) {
			time.Sleep(2 * time.Second)
			srv.mu.Lock()
			srv.n++
			srv.current = makeJWT(map[string]any{"_id": "u1", "n": srv.n, "exp": time.Now().Add(time.Hour).Unix()})
			tok := srv.current
			srv.mu.Unlock()
			return httpmock.NewStringResponse(201, `{"token":"`+tok+`","refreshToken":"`+canaryRefresh+`"}`), nil
		})
		expired := makeJWT(map[string]any{"_id": "u1", "exp": time.Now().Add(-time.Minute).Unix()})
		var persisted []Token
		_, src := newRefreshingClient(t, mt, expired, func(tk Token) { persisted = append(persisted, tk) })

		start := time.Now()
		var wg sync.WaitGroup
		var otherTok string
		var otherErr error
		var otherAt time.Duration
		initiator, cancel := context.WithTimeout(context.Background(), 150*time.Millisecond)
		defer cancel()
		tok, err := src.Token(initiator) // starts the refresh
		assert.Empty(t, tok)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 150*time.Millisecond, time.Since(start), "the initiator returns at its own deadline")

		wg.Add(1)
		go func() {
			defer wg.Done()
			otherTok, otherErr = src.Token(context.Background())
			otherAt = time.Since(start)
		}()
		short, cancel2 := context.WithTimeout(context.Background(), time.Second)
		defer cancel2()
		_, err = src.Token(short)
		require.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, 150*time.Millisecond+time.Second, time.Since(start), "a second waiter returns at its deadline")

		wg.Wait()
		require.NoError(t, otherErr)
		assert.Equal(t, 2*time.Second, otherAt, "the refresh finished for the patient caller")
		assert.Equal(t, srv.current, otherTok)
		require.Len(t, persisted, 1)
		assert.Equal(t, srv.current, persisted[0].AccessToken)
	})
}

// Token with a context already done returns its error, not a token.
func TestTokenAfterCancel(t *testing.T) {
	t.Parallel()
	valid := makeJWT(map[string]any{"_id": "u1", "exp": time.Now().Add(time.Hour).Unix()})
	src, err := NewRefreshingTokenSource(RefreshConfig{
		Token: Token{AccessToken: valid, RefreshToken: canaryRefresh}, ClientID: "bot+1@chatshipper.com",
		Options: []Option{WithBaseURL(testBase), WithHTTPClient(&http.Client{Transport: httpmock.NewMockTransport()})},
	})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	tok, err := src.Token(ctx)
	assert.Empty(t, tok)
	assert.ErrorIs(t, err, context.Canceled)
}

// constToken is a TokenSource returning a fixed string, unchecked.
type constToken string

func (c constToken) Token(context.Context) (string, error) { return string(c), nil }

// A token that cannot be sent in a header (a line break read
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
