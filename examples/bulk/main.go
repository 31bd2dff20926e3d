// Command bulk sends M messages spread over K conversations (message i goes
// to conversation i mod K) with W workers, as fast as the client allows, and
// prints the messages and requests per second, the 429 answers seen and the
// errors; then it checks that every message is stored once, in order per
// conversation.
//
// By default it sends through a chatshipper.BatchSender: the conversations
// are created through it, then each worker queues the messages of its own
// conversations in order (BatchSender.Queue returns at once) and waits for
// the results. While a conversation waits for its turn under the rate limit,
// its messages pile up and go out together in one request. With -plain it
// sends one message per request, as Conversations.Send does, each worker
// waiting for each message.
//
// The client's limiter keeps the rate under the server's 20 requests per
// second, so a well-behaved run sees no 429. With no CHATSHIPPER_TOKEN it
// runs against the embedded fake server, which enforces the real limit (20
// requests in any sliding second).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
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
	plain := flag.Bool("plain", false, "one message per request (Conversations.Send), without the BatchSender")
	flag.Parse()
	if err := run(*m, *k, *w, *plain); err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n", err)
		os.Exit(1)
	}
}

// run sends m messages over k conversations with w workers.
func run(m, k, w int, plain bool) error {
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
	text := func(i int) string { return fmt.Sprintf("bulk message %d", i) }

	start := time.Now()
	var convs []string
	var sent, failed atomic.Int64
	var firstErr sync.Once
	fail := func(err error) {
		failed.Add(1)
		firstErr.Do(func() { fmt.Fprintf(os.Stderr, "first error: %v\n", err) })
	}
	if plain {
		convs, err = sendPlain(ctx, c, m, k, w, text, &sent, fail)
	} else {
		convs, err = sendBatched(ctx, c, m, k, w, text, &sent, fail)
	}
	if err != nil {
		return err
	}
	elapsed := time.Since(start)

	reqs := ct.requests.Load()
	how := "through a BatchSender"
	if plain {
		how = "one message per request"
	}
	fmt.Printf("%s: conversations: %d, messages sent: %d, errors: %d\n", how, k, sent.Load(), failed.Load())
	fmt.Printf("%d messages in %s = %.1f messages/second; requests: %d = %.1f requests/second (%.2f messages per request), 429s seen: %d\n",
		sent.Load(), elapsed.Round(time.Millisecond), float64(sent.Load())/elapsed.Seconds(),
		reqs, float64(reqs)/elapsed.Seconds(), float64(sent.Load())/float64(reqs), ct.status429.Load())
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d messages failed", n, m)
	}
	return check(ctx, env, convs, m, text)
}

// sendPlain creates the conversations one by one, then sends each message in
// its own request, w at a time.
func sendPlain(ctx context.Context, c *chatshipper.Client, m, k, w int, text func(int) string, sent *atomic.Int64, fail func(error)) ([]string, error) {
	convs := make([]string, k)
	for i := range convs {
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprintf("bulk %d", i)})
		if err != nil {
			return nil, fmt.Errorf("creating conversation %d of %d: %w", i+1, k, err)
		}
		convs[i] = conv.ID
	}
	jobs := make(chan int)
	var wg sync.WaitGroup
	for range w {
		wg.Go(func() {
			for i := range jobs {
				if _, _, err := c.Conversations.Send(ctx, convs[i%k], chatshipper.Chat(text(i))); err != nil {
					fail(err)
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
	return convs, nil
}

// sendBatched creates the conversations through a BatchSender, w at a time,
// then has each worker queue the messages of its own conversations (those
// whose index modulo w is the worker's), in order, and wait for them.
func sendBatched(ctx context.Context, c *chatshipper.Client, m, k, w int, text func(int) string, sent *atomic.Int64, fail func(error)) ([]string, error) {
	s, err := c.Conversations.NewBatchSender()
	if err != nil {
		return nil, err
	}
	defer func() { _ = s.Close(ctx) }()

	convs := make([]string, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for worker := range w {
		wg.Go(func() {
			for i := worker; i < k; i += w {
				conv, err := s.Create(ctx, &chatshipper.ConversationCreate{Name: fmt.Sprintf("bulk %d", i)})
				if err != nil {
					errs[i] = fmt.Errorf("creating conversation %d of %d: %w", i+1, k, err)
					continue
				}
				convs[i] = conv.ID
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}

	for worker := range w {
		wg.Go(func() {
			var pending []*chatshipper.PendingSend
			for i := range m {
				if i%k%w == worker {
					pending = append(pending, s.Queue(ctx, convs[i%k], chatshipper.Chat(text(i))))
				}
			}
			for _, p := range pending {
				if _, err := p.Result(); err != nil {
					fail(err)
					continue
				}
				sent.Add(1)
			}
		})
	}
	wg.Wait()
	return convs, s.Close(ctx)
}

// check reads every conversation back (from the fake server's state, or
// through the API when talking to a real account) and compares its messages
// with what was sent: each once, in the order sent.
func check(ctx context.Context, env *setup.Env, convs []string, m int, text func(int) string) error {
	k := len(convs)
	for ci, id := range convs {
		var want []string
		for i := ci; i < m; i += k {
			want = append(want, text(i))
		}
		var got []string
		if env.Fake != nil {
			conv, _ := env.Fake.Get("conversations", id)
			ids, _ := conv["messages"].([]any)
			for _, mid := range ids {
				msg, _ := env.Fake.Get("messages", mid.(string))
				got = append(got, fmt.Sprint(msg["text"]))
			}
		} else {
			q := chatshipper.NewQuery().Where("conversation", chatshipper.Eq(id))
			for msg, err := range env.Client.Messages.ListIter(ctx, q) {
				if err != nil {
					return fmt.Errorf("reading conversation %s back: %w", id, err)
				}
				got = append(got, msg.Text)
			}
		}
		if !slices.Equal(got, want) {
			return fmt.Errorf("conversation %s holds %d messages, not the %d sent once each in order", id, len(got), len(want))
		}
	}
	fmt.Printf("checked: every message stored once, in order, in each of the %d conversations\n", k)
	return nil
}
