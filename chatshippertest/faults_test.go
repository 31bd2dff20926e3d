package chatshippertest

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestFaultStatus(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	srv.InjectFault(Fault{Method: "get", PathPrefix: "/v2/users", Count: 2, Status: 503, RetryAfter: "7", Message: "try later"})
	for range 2 {
		r := mustCall(t, srv, 503, "GET", "users", srv.Token, nil)
		assert.Equal(t, "7", r.Header.Get("Retry-After"))
		assert.Equal(t, m{"error": m{"message": "try later"}}, r.obj(t))
	}
	mustCall(t, srv, 200, "GET", "users", srv.Token, nil)

	srv.InjectFault(Fault{PathPrefix: "/v2/conversations", Status: 500})
	for range 3 {
		r := mustCall(t, srv, 500, "GET", "conversations", srv.Token, nil)
		assert.Equal(t, "Internal Server Error", r.errMsg(t), "default message: the status text")
		assert.Empty(t, r.Header.Get("Retry-After"))
	}
	mustCall(t, srv, 200, "GET", "users", srv.Token, nil)
	mustCall(t, srv, 500, "POST", "conversations", srv.Token, m{})
	assert.Empty(t, srv.List("conversations"), "a fault without After does not act")
	srv.ClearFaults()
	mustCall(t, srv, 200, "GET", "conversations", srv.Token, nil)

	t.Run("faults come before auth and limits", func(t *testing.T) {
		srv.InjectFault(Fault{Count: 1, Status: 502})
		mustCall(t, srv, 502, "GET", "users", "", nil)
		mustCall(t, srv, 401, "GET", "users", "", nil)
	})
	t.Run("first matching fault wins", func(t *testing.T) {
		srv.InjectFault(Fault{Method: "POST", Count: 1, Status: 418})
		srv.InjectFault(Fault{Count: 1, Status: 503})
		mustCall(t, srv, 503, "GET", "users", srv.Token, nil)
		mustCall(t, srv, 418, "POST", "conversations", srv.Token, m{})
		mustCall(t, srv, 200, "GET", "users", srv.Token, nil)
	})
}

func TestFaultAfter(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	srv.InjectFault(Fault{Method: "POST", Count: 1, Status: 502, After: true})
	r := mustCall(t, srv, 502, "POST", "conversations", srv.Token, m{"name": "Acted"})
	assert.Equal(t, "Bad Gateway", r.errMsg(t))
	convs := srv.List("conversations")
	require.Len(t, convs, 1, "the request was acted on")
	assert.Equal(t, "Acted", convs[0]["name"])
}

func TestFaultDrop(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		mode   DropMode
		stored int
	}{
		{"before acting", DropBefore, 0},
		{"after acting", DropAfter, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv, _ := newTest(t)
			srv.InjectFault(Fault{Method: "POST", PathPrefix: "/v2/conversations", Count: 1, Drop: tt.mode})
			req, err := http.NewRequest("POST", srv.URL+"conversations", strings.NewReader(`{"name":"x"}`))
			require.NoError(t, err)
			req.Header.Set("Authorization", "Bearer "+srv.Token)
			_, err = srv.Client().Do(req)
			require.Error(t, err, "no response")
			assert.Len(t, srv.List("conversations"), tt.stored)
			reqs := srv.Requests()
			require.Len(t, reqs, 1)
			assert.Equal(t, 0, reqs[0].Status, "no status was answered")
			mustCall(t, srv, 201, "POST", "conversations", srv.Token, m{})
		})
	}
	t.Run("in-process", func(t *testing.T) {
		srv := NewInProcessServer(t, WithRateLimit(0))
		srv.InjectFault(Fault{Count: 1, Drop: DropAfter})
		req, err := http.NewRequest("POST", srv.URL+"conversations", strings.NewReader(`{}`))
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		_, err = srv.Client().Do(req)
		assert.ErrorIs(t, err, errDropped)
		assert.Len(t, srv.List("conversations"), 1)
	})
}

func TestFaultDelay(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := NewInProcessServer(t, WithRateLimit(0))
		srv.InjectFault(Fault{PathPrefix: "/v2/users", Count: 1, Delay: 5 * time.Second})
		srv.InjectFault(Fault{PathPrefix: "/v2/forms", Count: 1, Delay: 2 * time.Second, Status: 503})

		start := time.Now()
		mustCall(t, srv, 200, "GET", "users", srv.Token, nil)
		assert.Equal(t, 5*time.Second, time.Since(start), "fake time: answered after the delay")

		start = time.Now()
		mustCall(t, srv, 503, "GET", "forms", srv.Token, nil)
		assert.Equal(t, 2*time.Second, time.Since(start))

		srv.InjectFault(Fault{Count: 1, Delay: time.Hour})
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", srv.URL+"users", nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer "+srv.Token)
		start = time.Now()
		_, err = srv.Client().Do(req)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, time.Second, time.Since(start), "the delay ends with the request context")
		reqs := srv.Requests()
		assert.Equal(t, 0, reqs[len(reqs)-1].Status)
	})
}

func TestCloseEndsDelays(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := NewInProcessServer(t)
		srv.InjectFault(Fault{Delay: time.Hour})
		start := time.Now()
		errc := make(chan error, 1)
		go func() {
			req, _ := http.NewRequest("GET", srv.URL+"users", nil)
			_, err := srv.Client().Do(req)
			errc <- err
		}()
		synctest.Wait() // the request is waiting out its delay
		srv.Close()
		assert.ErrorIs(t, <-errc, errDropped)
		assert.Zero(t, time.Since(start), "no fake time passed")
	})
}

func TestFaultProbability(t *testing.T) {
	t.Parallel()
	run := func(seed int64) []int {
		srv, _ := newTest(t, WithSeed(seed))
		srv.InjectFault(Fault{Probability: 0.5, Status: 500})
		var got []int
		for range 100 {
			got = append(got, call(t, srv, "GET", "users", srv.Token, nil).Status)
		}
		return got
	}
	a, b := run(3), run(3)
	assert.Equal(t, a, b, "same seed, same faults")
	fails := 0
	for _, s := range a {
		if s == 500 {
			fails++
		}
	}
	assert.Greater(t, fails, 20)
	assert.Less(t, fails, 80)

	t.Run("concurrent use", func(t *testing.T) {
		srv, _ := newTest(t)
		srv.InjectFault(Fault{Probability: 0.3, Count: 10, Status: 503})
		var wg sync.WaitGroup
		var mu sync.Mutex
		n503 := 0
		for range 8 {
			wg.Go(func() {
				for range 10 {
					req, _ := http.NewRequest("GET", srv.URL+"users", nil)
					req.Header.Set("Authorization", "Bearer "+srv.Token)
					resp, err := srv.Client().Do(req)
					if err != nil {
						continue
					}
					_ = resp.Body.Close()
					mu.Lock()
					if resp.StatusCode == 503 {
						n503++
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		assert.LessOrEqual(t, n503, 10, "Count bounds a probabilistic fault too")
		assert.Len(t, srv.Requests(), 80)
	})
}

func TestFaultValidation(t *testing.T) {
	t.Parallel()
	srv, _ := newTest(t)
	for _, f := range []Fault{{Count: -1}, {Probability: 1.5}, {Probability: -0.1}, {Status: 42}, {Delay: -time.Second}, {Drop: 7}} {
		assert.Panics(t, func() { srv.InjectFault(f) }, "%+v", f)
	}
}

func TestRequestsRecorded(t *testing.T) {
	t.Parallel()
	srv, clk := newTest(t, WithRateLimit(2))
	mustCall(t, srv, 201, "POST", "conversations?x=1", srv.Token, m{"name": "n"})
	clk.advance(time.Millisecond)
	mustCall(t, srv, 401, "GET", "users?select=name&limit=1", "", nil)
	srv.InjectFault(Fault{Count: 1, Status: 503})
	mustCall(t, srv, 503, "DELETE", "conversations/5bb0277fd99faf11a3f4a3ff", srv.Token, nil)
	mustCall(t, srv, 429, "GET", "users", srv.Token, nil)

	reqs := srv.Requests()
	require.Len(t, reqs, 4)
	first := reqs[0]
	assert.Equal(t, "POST", first.Method)
	assert.Equal(t, "/v2/conversations", first.Path)
	assert.Equal(t, map[string][]string{"x": {"1"}}, map[string][]string(first.Query))
	assert.Equal(t, "Bearer "+srv.Token, first.Header.Get("Authorization"))
	assert.JSONEq(t, `{"name":"n"}`, string(first.Body))
	assert.Equal(t, newClock().t, first.Time)
	assert.Equal(t, 201, first.Status)

	assert.Equal(t, []string{"name"}, reqs[1].Query["select"])
	assert.Equal(t, newClock().t.Add(time.Millisecond), reqs[1].Time)
	var statuses []int
	for _, r := range reqs {
		statuses = append(statuses, r.Status)
	}
	assert.Equal(t, []int{201, 401, 503, 429}, statuses)

	reqs[0].Body[0] = 'X'
	reqs[0].Header.Set("Authorization", "changed")
	reqs[0].Query.Set("x", "2")
	again := srv.Requests()
	assert.JSONEq(t, `{"name":"n"}`, string(again[0].Body), "Requests returns copies")
	assert.Equal(t, "Bearer "+srv.Token, again[0].Header.Get("Authorization"))
	assert.Equal(t, "1", again[0].Query.Get("x"))

	srv.ResetRequests()
	assert.Empty(t, srv.Requests())
	clk.advance(time.Second)
	mustCall(t, srv, 404, "GET", "/elsewhere", "", nil)
	assert.Equal(t, "/elsewhere", srv.Requests()[0].Path)
}

func TestInProcessServer(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := NewInProcessServer(t)
		assert.Equal(t, "http://127.0.0.1:9/v2/", srv.URL)
		c := newConv(t, srv, srv.Token, m{"messages": []any{m{"text": "hi"}}})
		r := mustCall(t, srv, 200, "GET", "conversations?limit=1&offset=0", srv.Token, nil)
		assert.Equal(t, []any{c["id"]}, ids(r.list(t)))
		assert.Equal(t, "", r.Header.Get("Link"))
		r = mustCall(t, srv, 200, "GET", "conversations?limit=1&offset=1", srv.Token, nil)
		assert.Equal(t, `<http://127.0.0.1:9/v2/conversations?offset=0&limit=1>; rel="first", <http://127.0.0.1:9/v2/conversations?offset=0&limit=1>; rel="prev"`, r.Header.Get("Link"))

		// The rate limit runs on real (here: fake) time.
		for range 20 {
			call(t, srv, "GET", "users", srv.Token, nil)
		}
		r = mustCall(t, srv, 429, "GET", "users", srv.Token, nil)
		wait, err := time.ParseDuration(r.Header.Get("Retry-After") + "s")
		require.NoError(t, err)
		time.Sleep(wait)
		mustCall(t, srv, 200, "GET", "users", srv.Token, nil)

		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"users", nil)
		_, err = srv.Client().Do(req)
		assert.True(t, errors.Is(err, context.Canceled))
	})
}
