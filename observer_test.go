package chatshipper_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recObserver records what an Observer is told, one line per report, so a
// test can compare the whole sequence. Durations appear only where they are
// exact (inside a synctest bubble).
type recObserver struct {
	mu    sync.Mutex
	lines []string
}

type depthKey struct{}

func (r *recObserver) add(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, fmt.Sprintf(format, args...))
}

func (r *recObserver) StartCall(ctx context.Context, call chatshipper.CallInfo) context.Context {
	r.add("call %s.%s %s", call.Service, call.Method, call.Collection)
	return context.WithValue(ctx, depthKey{}, call.Method)
}

func (r *recObserver) EndCall(ctx context.Context, call chatshipper.CallInfo, res chatshipper.CallResult) {
	if ctx.Value(depthKey{}) != call.Method {
		r.add("EndCall without the context StartCall returned")
	}
	r.add("end %s.%s %s status=%d attempts=%d", call.Service, call.Method, res.Outcome, res.StatusCode, res.Attempts)
}

func (r *recObserver) StartAttempt(ctx context.Context, a chatshipper.AttemptInfo) context.Context {
	if a.Header.Get("Authorization") != "" {
		r.add("the observer saw the Authorization header")
	}
	a.Header.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
	r.add("attempt %s %s #%d hop %d", a.Method, a.URL, a.Attempt, a.Hop)
	return ctx
}

func (r *recObserver) EndAttempt(_ context.Context, a chatshipper.AttemptInfo, res chatshipper.AttemptResult) {
	r.add("attempt end #%d status=%d error=%q", a.Attempt, res.StatusCode, res.ErrorKind)
}

func (r *recObserver) Decision(_ context.Context, d chatshipper.Decision) {
	switch d.Kind {
	case chatshipper.DecisionLimiterWait:
		if d.Wait == 0 && d.ErrorKind == "" {
			return // every attempt reports one; the tests look at the others
		}
		r.add("limiter_wait #%d %s %q", d.Attempt, d.Wait, d.ErrorKind)
	case chatshipper.DecisionRetry:
		r.add("retry #%d status=%d error=%q wait=%s retry_after=%s", d.Attempt, d.StatusCode, d.ErrorKind, d.Wait, d.RetryAfter)
	case chatshipper.DecisionNoRetry:
		r.add("no_retry #%d status=%d error=%q reason=%q", d.Attempt, d.StatusCode, d.ErrorKind, d.Reason)
	case chatshipper.DecisionLimiterPause:
		r.add("limiter_pause %s", d.Wait)
	case chatshipper.DecisionLoopGuardRefusal:
		r.add("loop_guard_refusal %s conversation=%s server=%t", d.Reason, d.ConversationID, d.FromServer)
	default:
		r.add("%s conversation=%s messages=%d found=%d error=%q", d.Kind, d.ConversationID, d.Messages, d.Found, d.ErrorKind)
	}
}

func (r *recObserver) take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.lines
	r.lines = nil
	return out
}

// observedClient is a client of srv with short retry waits and obs.
func observedClient(t *testing.T, srv *chatshippertest.Server, obs chatshipper.Observer, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	hc := *srv.Client()
	hc.Timeout = 2 * time.Second
	opts = append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(&hc),
		chatshipper.WithRetryWait(100*time.Millisecond, 5*time.Second), chatshipper.WithObserver(obs)}, opts...)
	c, err := chatshipper.NewClient(srv.Token, opts...)
	require.NoError(t, err)
	return c
}

func TestObserverGet(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		id := srv.Seed.BotUserID
		_, _, err := c.Users.Get(context.Background(), id, nil)
		require.NoError(t, err)
		assert.Equal(t, []string{
			"call Users.Get users",
			"attempt GET " + srv.URL + "users/" + id + " #1 hop 1",
			"attempt end #1 status=200 error=\"\"",
			"end Users.Get ok status=200 attempts=1",
		}, obs.take())
		assert.Equal(t, []string{"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"},
			srv.Requests()[len(srv.Requests())-1].Header.Values("Traceparent"), "headers the observer adds are sent")
	})
}

// TestObserverSendDroppedAnswer: a send whose answer is lost after the server
// stored it shows the attempt, the decision not to retry the POST, the
// delivery lookup (a call of its own) and the call's success.
func TestObserverSendDroppedAnswer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "dropped"})
		require.NoError(t, err)
		obs.take()

		path := "/v2/conversations/" + conv.ID + "/messages"
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: path, Count: 1, Drop: chatshippertest.DropAfter})
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("hello"))
		require.NoError(t, err)
		lines := obs.take()
		require.Len(t, lines, 10, strings.Join(lines, "\n"))
		assert.Equal(t, "call Conversations.Send conversations", lines[0])
		assert.Equal(t, "attempt POST "+srv.URL+"conversations/"+conv.ID+"/messages #1 hop 1", lines[1])
		// The fake's dropped connection is an EOF, as a real one is: a
		// connection error on a POST that may have reached the server.
		assert.Equal(t, `attempt end #1 status=0 error="connection"`, lines[2])
		assert.Equal(t, `no_retry #1 status=0 error="connection" reason="the server may have acted on a POST"`, lines[3])
		assert.Equal(t, "call Messages.List messages", lines[4])
		assert.True(t, strings.HasPrefix(lines[5], "attempt GET "+srv.URL+"messages?"), lines[5])
		assert.Equal(t, []string{
			`attempt end #1 status=200 error=""`,
			"end Messages.List ok status=200 attempts=1",
			`delivery_lookup conversation=` + conv.ID + ` messages=1 found=1 error=""`,
			"end Conversations.Send ok status=0 attempts=1",
		}, lines[6:])
	})
}

// TestObserverSendDroppedBeforeActing: the lookup finds the message missing
// and it is sent again: two POST attempts in the one call.
func TestObserverSendDroppedBeforeActing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "dropped"})
		require.NoError(t, err)
		obs.take()

		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Drop: chatshippertest.DropBefore})
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("hello"))
		require.NoError(t, err)
		var kept []string
		for _, l := range obs.take() {
			if !strings.HasPrefix(l, "attempt GET") && !strings.Contains(l, "Messages.List") {
				kept = append(kept, l)
			}
		}
		post := "attempt POST " + srv.URL + "conversations/" + conv.ID + "/messages #1 hop 1"
		assert.Equal(t, []string{
			"call Conversations.Send conversations",
			post,
			`attempt end #1 status=0 error="connection"`,
			`no_retry #1 status=0 error="connection" reason="the server may have acted on a POST"`,
			`attempt end #1 status=200 error=""`, // the lookup's
			`delivery_lookup conversation=` + conv.ID + ` messages=1 found=0 error=""`,
			`delivery_resend conversation=` + conv.ID + ` messages=1 found=0 error=""`,
			post,
			`attempt end #1 status=201 error=""`,
			"end Conversations.Send ok status=201 attempts=2",
		}, kept)
	})
}

// TestObserverRateLimitPause: a 429 with Retry-After pauses the limiter and
// is retried after the whole Retry-After.
func TestObserverRateLimitPause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/users/", Count: 1, Status: 429, RetryAfter: "2"})
		start := time.Now()
		_, _, err := c.Users.Get(context.Background(), srv.Seed.BotUserID, nil)
		require.NoError(t, err)
		assert.Equal(t, 2*time.Second, time.Since(start))
		u := srv.URL + "users/" + srv.Seed.BotUserID
		assert.Equal(t, []string{
			"call Users.Get users",
			"attempt GET " + u + " #1 hop 1",
			`attempt end #1 status=429 error=""`,
			"limiter_pause 2s",
			`retry #1 status=429 error="" wait=2s retry_after=2s`,
			"attempt GET " + u + " #2 hop 1",
			`attempt end #2 status=200 error=""`,
			"end Users.Get ok status=200 attempts=2",
		}, obs.take())
	})
}

// TestObserverLimiterWait: an attempt that waited for a slot says how long.
func TestObserverLimiterWait(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs, chatshipper.WithLimiter(chatshipper.NewWindowLimiter(1, time.Second)))
		ctx := context.Background()
		for range 2 {
			_, _, err := c.Users.Get(ctx, srv.Seed.BotUserID, nil)
			require.NoError(t, err)
		}
		assert.Contains(t, obs.take(), `limiter_wait #1 1s ""`)
	})
}

// TestObserverLoopGuardRefusal: the ninth identical message is refused before
// any I/O, and the refusal is reported with the call.
func TestObserverLoopGuardRefusal(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "loop"})
		require.NoError(t, err)
		for range 8 {
			_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("same"))
			require.NoError(t, err)
		}
		obs.take()
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("same"))
		require.ErrorIs(t, err, chatshipper.ErrLoopLimit)
		assert.Equal(t, []string{
			"call Conversations.Send conversations",
			"loop_guard_refusal identical conversation=" + conv.ID + " server=false",
			"end Conversations.Send loop_limit status=0 attempts=0",
		}, obs.take())
	})
}

// TestObserverDeliveryUnknown: the lookup after a dropped answer fails, so
// the outcome stays unknown.
func TestObserverDeliveryUnknown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "unknown"})
		require.NoError(t, err)
		obs.take()
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Drop: chatshippertest.DropAfter})
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Count: 1, Status: 500})
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("hello"))
		require.ErrorIs(t, err, chatshipper.ErrDeliveryUnknown)
		lines := obs.take()
		assert.Equal(t, []string{
			"end Messages.List http_error status=500 attempts=1",
			`delivery_lookup conversation=` + conv.ID + ` messages=1 found=0 error="http_error"`,
			`delivery_unknown conversation=` + conv.ID + ` messages=1 found=0 error="http_error"`,
			"end Conversations.Send delivery_unknown status=0 attempts=1",
		}, lines[len(lines)-4:])
	})
}

// TestObserverCreateIsOneCall: Conversations.Create's own request belongs to
// its call, not to a nested one.
func TestObserverCreateIsOneCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		_, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{Name: "one"})
		require.NoError(t, err)
		assert.Equal(t, []string{
			"call Conversations.Create conversations",
			"attempt POST " + srv.URL + "conversations #1 hop 1",
			`attempt end #1 status=201 error=""`,
			"end Conversations.Create ok status=201 attempts=1",
		}, obs.take())
	})
}

// TestObserverWalk: a walk is one call whose page requests are its attempts.
func TestObserverWalk(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		obs := &recObserver{}
		c := observedClient(t, srv, obs)
		ctx := context.Background()
		for i := range 3 {
			_, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprint("walk ", i)})
			require.NoError(t, err)
		}
		obs.take()
		n := 0
		for _, err := range c.Conversations.ListIter(ctx, chatshipper.NewQuery().Limit(2)) {
			require.NoError(t, err)
			n++
		}
		lines := obs.take()
		require.NotEmpty(t, lines)
		assert.Equal(t, "call Conversations.Walk conversations", lines[0])
		attempts := 0
		for _, l := range lines {
			if strings.HasPrefix(l, "attempt GET ") {
				attempts++
			}
		}
		assert.Equal(t, fmt.Sprintf("end Conversations.Walk ok status=200 attempts=%d", attempts), lines[len(lines)-1])
		assert.Equal(t, 1+2*attempts+1, len(lines), "only the walk's call and its page requests")
		assert.GreaterOrEqual(t, attempts, (n+1)/2)
	})
}

// TestObserverCallNames: what each kind of call reports as its service,
// method and collection; a refused collection name is never reported.
func TestObserverCallNames(t *testing.T) {
	t.Parallel()
	mock := httpmock.NewMockTransport()
	mock.RegisterNoResponder(httpmock.NewStringResponder(200, `{}`))
	obs := &recObserver{}
	c, err := chatshipper.NewClient("tok", chatshipper.WithHTTPClient(&http.Client{Transport: mock}),
		chatshipper.WithObserver(obs), chatshipper.WithRateLimit(0))
	require.NoError(t, err)
	ctx := context.Background()
	const id = "5bb0277fd99faf11a3f4a37e"

	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"Do", func() error {
			req, err := c.NewRequest(ctx, http.MethodGet, "kbases/"+id, nil)
			require.NoError(t, err)
			_, err = c.Do(req, nil)
			return err
		}, "call .Do kbases"},
		{"Collection", func() error { _, _, err := c.Collection("kbases").Get(ctx, id, nil); return err }, "call Collection.Get kbases"},
		{"refused collection", func() error {
			_, _, err := c.Collection("someone@example.com").Get(ctx, id, nil)
			return err
		}, "call Collection.Get "},
		{"Update", func() error {
			_, _, err := c.Contacts.Update(ctx, id, &chatshipper.ContactUpdate{})
			return err
		}, "call Contacts.Update contacts"},
		{"Replace", func() error { _, _, err := c.Messages.Replace(ctx, id, chatshipper.Chat("x")); return err }, "call Messages.Replace messages"},
		{"Delete", func() error { _, err := c.OrgGroups.Delete(ctx, id); return err }, "call OrgGroups.Delete orggroups"},
		{"invalid ID", func() error { _, _, err := c.BotInstances.Get(ctx, "nope", nil); return err }, "call BotInstances.Get botinstances"},
	}
	for _, tc := range tests {
		_ = tc.call()
		lines := obs.take()
		require.NotEmpty(t, lines, tc.name)
		assert.Equal(t, tc.want, lines[0], tc.name)
		for _, l := range lines {
			assert.NotContains(t, l, "someone@example.com", tc.name)
		}
	}
	_, _, err = c.BotInstances.Get(ctx, "nope", nil)
	require.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
	assert.Equal(t, []string{"call BotInstances.Get botinstances", "end BotInstances.Get invalid_argument status=0 attempts=0"}, obs.take())
}

// TestObserverNil: WithObserver(nil) observes nothing and works.
func TestObserverNil(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t)
	c := observedClient(t, srv, nil)
	_, _, err := c.Users.Get(context.Background(), srv.Seed.BotUserID, nil)
	require.NoError(t, err)
}

// nilCtxObserver returns no context: the client goes on with its own.
type nilCtxObserver struct{ recObserver }

func (o *nilCtxObserver) StartCall(ctx context.Context, call chatshipper.CallInfo) context.Context {
	o.recObserver.StartCall(ctx, call)
	return nil // the case under test: an observer breaking its contract
}

func (o *nilCtxObserver) EndCall(context.Context, chatshipper.CallInfo, chatshipper.CallResult) {}

func (o *nilCtxObserver) StartAttempt(ctx context.Context, a chatshipper.AttemptInfo) context.Context {
	o.recObserver.StartAttempt(ctx, a)
	return nil
}

func TestObserverNilContext(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t)
	obs := &nilCtxObserver{}
	c := observedClient(t, srv, obs)
	_, _, err := c.Users.Get(context.Background(), srv.Seed.BotUserID, nil)
	require.NoError(t, err)
	lines := obs.take()
	require.NotEmpty(t, lines)
	assert.Equal(t, "call Users.Get users", lines[0])
	assert.Equal(t, `attempt end #1 status=200 error=""`, lines[len(lines)-1])
}
