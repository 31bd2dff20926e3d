// Command bulk sends M messages spread over K conversations with W workers as
// fast as the client allows, and prints the request rate, the 429 answers seen
// and the errors. The client's limiter keeps the rate under the server's 20
// requests per second, so a well-behaved run sees no 429.
//
// With no CHATSHIPPER_TOKEN it runs against the embedded fake server, which
// enforces the real limit (20 requests in any sliding second).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/examples/internal/setup"
)

// counting counts every answer that reaches the client, before any retry.
type counting struct {
	next      http.RoundTripper
	requests  atomic.Int64
	status429 atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.status429.Add(1)
	}
	return resp, err
}

func main() {
	m := flag.Int("m", 600, "messages to send")
	k := flag.Int("k", 60, "conversations to spread them over")
	w := flag.Int("w", 8, "concurrent workers")
	flag.Parse()
	if err := run(*m, *k, *w); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

// run sends m messages over k conversations with w workers.
func run(m, k, w int) error {
	if m < 1 || k < 1 || w < 1 {
		return errors.New("-m, -k and -w must be at least 1")
	}

	ct := &counting{next: http.DefaultTransport}
	env, err := setup.Connect(chatshipper.WithHTTPClient(&http.Client{Transport: ct, Timeout: time.Minute}))
	if err != nil {
		return fmt.Errorf("connecting: %w", err)
	}
	defer env.Close()
	c := env.Client
	ctx := context.Background()

	start := time.Now()
	convs := make([]string, k)
	for i := range convs {
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprintf("bulk %d", i)})
		if err != nil {
			return fmt.Errorf("creating conversation %d of %d: %w", i+1, k, err)
		}
		convs[i] = conv.ID
	}

	jobs := make(chan int)
	var sent, failed atomic.Int64
	var firstErr sync.Once
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for i := range jobs {
				_, _, err := c.Conversations.Send(ctx, convs[i%len(convs)], chatshipper.Chat(fmt.Sprintf("bulk message %d", i)))
				if err != nil {
					failed.Add(1)
					firstErr.Do(func() { fmt.Fprintf(os.Stderr, "first error: %v\n", err) })
					continue
				}
				sent.Add(1)
			}
		})
	}
	for i := range m {
		jobs <- i
	}
	close(jobs)
	wg.Wait()
	elapsed := time.Since(start)

	reqs := ct.requests.Load()
	fmt.Printf("conversations: %d, messages sent: %d, errors: %d\n", k, sent.Load(), failed.Load())
	fmt.Printf("requests: %d in %s = %.1f requests/second, 429s seen: %d\n",
		reqs, elapsed.Round(time.Millisecond), float64(reqs)/elapsed.Seconds(), ct.status429.Load())
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d messages failed", n, m)
	}
	return nil
}
