package chatshipper_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestFaultInjectionNothingLostNothingDuplicated sends 1,000 messages across 50
// conversations from 8 goroutines while the fake server misbehaves, and checks
// that every message is either on the server exactly once or was returned to
// the caller as an error, that none is stored twice, that the client kept the
// server's rate limit, and that no goroutine is left behind. It runs in a
// synctest bubble against the in-process fake server, so Retry-After waits,
// backoffs, timeouts and the rate limit take no wall time.
func TestFaultInjectionNothingLostNothingDuplicated(t *testing.T) {
	const (
		conversations = 50
		messages      = 1000
		workers       = 8
	)
	baseline := runtime.NumGoroutine()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithSeed(7))
		hc := *srv.Client()
		hc.Timeout = 2 * time.Second
		// Without delivery tracking: today's behaviour, never sent twice, the
		// ambiguous outcomes returned to the caller (TestFaultInjectionExactlyOnce
		// is the same suite with tracking on).
		c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(&hc),
			chatshipper.WithRetryWait(100*time.Millisecond, 5*time.Second), chatshipper.WithDeliveryTracking(false))
		require.NoError(t, err)
		ctx := context.Background()

		convs := make([]string, conversations)
		for i := range convs {
			conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprint("faults ", i)})
			require.NoError(t, err)
			convs[i] = conv.ID
		}

		// Faults on message posts only (POST /v2/conversations/{id}/messages). They
		// are rolled in order, so each probability is conditional on the ones
		// before it not firing: overall 5%, 5%, 2%, 1%, 1%.
		post := func(f chatshippertest.Fault) chatshippertest.Fault {
			f.Method, f.PathPrefix = http.MethodPost, "/v2/conversations/"
			return f
		}
		srv.ResetRequests()
		srv.InjectFault(post(chatshippertest.Fault{Probability: 0.05, Status: 503}))
		srv.InjectFault(post(chatshippertest.Fault{Probability: 0.05 / 0.95, Status: 429, RetryAfter: "1"}))
		srv.InjectFault(post(chatshippertest.Fault{Probability: 0.02 / 0.90, Drop: chatshippertest.DropBefore}))
		srv.InjectFault(post(chatshippertest.Fault{Probability: 0.01 / 0.88, Status: 502, After: true}))
		srv.InjectFault(post(chatshippertest.Fault{Probability: 0.01 / 0.87, Delay: 3 * time.Second}))

		type outcome struct {
			text string
			err  error
		}
		results := make([]outcome, messages)
		jobs := make(chan int)
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range jobs {
					text := fmt.Sprintf("message %04d", i)
					_, _, err := c.Conversations.Send(ctx, convs[i%conversations], chatshipper.Chat(text))
					results[i] = outcome{text: text, err: err}
				}
			}()
		}
		for i := range messages {
			jobs <- i
		}
		close(jobs)
		wg.Wait()

		stored := map[string]int{}
		for _, m := range srv.List("messages") {
			if text, _ := m["text"].(string); text != "" {
				stored[text]++
			}
		}
		var ok, failed, failedButStored int
		kinds := map[string]int{}
		for _, r := range results {
			n := stored[r.text]
			require.LessOrEqual(t, n, 1, "%q stored %d times: an unsafe retry sent it twice", r.text, n)
			if r.err == nil {
				ok++
				require.Equal(t, 1, n, "%q was reported sent but is not on the server", r.text)
				continue
			}
			failed++
			failedButStored += n
			kinds[errorKind(r.err)]++
		}
		assert.Equal(t, messages, ok+failed)
		assert.Positive(t, failed, "the faults did fire")
		t.Logf("sent %d, returned as errors %d (of which %d were stored by the server before it failed); errors by kind: %v",
			ok, failed, failedButStored, kinds)

		// The client never exceeded the server's limit: at most 20 requests in any second.
		var times []time.Time
		for _, r := range srv.Requests() {
			times = append(times, r.Time)
		}
		chatshipper.RequireAtMostNPerWindow(t, times, 20, time.Second)
	})
	// Everything the bubble started has ended; nothing leaked outside it either.
	// (A plain loop: assert.Eventually would add goroutines of its own.)
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	assert.LessOrEqual(t, runtime.NumGoroutine(), baseline, "goroutines leaked")
}

func errorKind(err error) string {
	var er *chatshipper.ErrorResponse
	var te *chatshipper.TransportError
	switch {
	case errors.As(err, &er):
		return fmt.Sprint(er.StatusCode)
	case errors.As(err, &te):
		if errors.Is(err, context.DeadlineExceeded) || isTimeout(err) {
			return "timeout"
		}
		return "connection dropped"
	}
	return err.Error()
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}
