package chatshipper

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// Issue 15 item 4: every caller waiting for a refresh, the one that started
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
