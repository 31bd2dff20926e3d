package redteam_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// Promise: "The client keeps under that" (20 requests per second per token
// and per IP). Two clients with different tokens in one process share the
// IP: together they must not draw 429s from a server enforcing the per-IP
// limit.
func TestRedteamRateLimitTwoTokensOneIP(t *testing.T) {
	srv := chatshippertest.NewServer(t) // the documented 20/s per token and per IP
	a, err := srv.NewClient(chatshipper.WithRateLimit(chatshipper.DefaultRequestsPerSecond))
	if err != nil {
		t.Fatal(err)
	}
	b, err := srv.NewClient(chatshipper.WithRateLimit(chatshipper.DefaultRequestsPerSecond), chatshipper.WithTokenSource(chatshipper.StaticTokenSource(srv.AdminToken)))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for _, c := range []*chatshipper.Client{a, b} {
		for g := 0; g < 3; g++ {
			wg.Add(1)
			go func(c *chatshipper.Client) {
				defer wg.Done()
				for i := 0; i < 8; i++ {
					if _, _, err := c.Channels.List(context.Background(), nil); err != nil {
						t.Errorf("list: %v", err)
					}
				}
			}(c)
		}
	}
	wg.Wait()
	n429 := 0
	for _, r := range srv.Requests() {
		if r.Status == 429 {
			n429++
		}
	}
	if n429 > 0 {
		t.Errorf("%d of %d requests were answered 429 by a server enforcing the documented per-IP limit", n429, len(srv.Requests()))
	}
}

// A caller-keyed message found stored is "not counted again by the loop
// guard"; a message without a type is identical to a chat with the same
// text for the server, and should be for the guard.
func TestRedteamLoopGuardCallerKeysNotRecounted(t *testing.T) {
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	c, err := srv.NewClient(chatshipper.WithLoopGuard(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conv := fakeConv(t, srv, c)
	for i := 1; i <= 8; i++ {
		if _, _, err := c.Conversations.Send(ctx, conv, chatshipper.Chat("same").WithMeta(chatshipper.DeliveryKeyMeta, fmt.Sprintf("k%d", i))); err != nil {
			t.Fatalf("send k%d: %v", i, err)
		}
	}
	// Redelivered work: the same 8 keyed sends again, all found stored.
	for i := 1; i <= 8; i++ {
		if _, _, err := c.Conversations.Send(ctx, conv, chatshipper.Chat("same").WithMeta(chatshipper.DeliveryKeyMeta, fmt.Sprintf("k%d", i))); err != nil {
			t.Errorf("re-send of stored k%d: %v", i, err)
		}
	}
	// A 9th identical one is refused by the guard, client-side.
	_, _, err = c.Conversations.Send(ctx, conv, chatshipper.Chat("same").WithMeta(chatshipper.DeliveryKeyMeta, "k9"))
	var le *chatshipper.LoopLimitError
	if !errors.As(err, &le) || le.FromServer {
		t.Errorf("9th identical: want a client-side LoopLimitError, got %v", err)
	}
	if n := countText(srv, conv, "same"); n != 8 {
		t.Errorf("stored %d", n)
	}
}

// Same type by default: a MessageInput without Type is a chat for the server.
func TestRedteamLoopGuardDefaultType(t *testing.T) {
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	c, err := srv.NewClient(chatshipper.WithLoopGuard(true))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	conv := fakeConv(t, srv, c)
	for i := 0; i < 4; i++ {
		if _, _, err := c.Conversations.Send(ctx, conv, chatshipper.Chat("dup")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Conversations.Send(ctx, conv, chatshipper.MessageInput{Text: "dup"}); err != nil {
			t.Fatal(err)
		}
	}
	_, _, err = c.Conversations.Send(ctx, conv, chatshipper.MessageInput{Text: "dup", Meta: chatshipper.Meta{}})
	var le *chatshipper.LoopLimitError
	if !errors.As(err, &le) || le.FromServer {
		t.Errorf("9th identical (untyped, empty meta): want a client-side LoopLimitError, got %v", err)
	}
}

// Huge Retry-After on a 429. Promise: "When it is longer than the longest
// wait the client is willing to make ... the call does not retry and returns
// at once, a 429 as *RateLimitError with RetryAfter set". delay-seconds is
// 1*DIGIT (RFC 9110): any number of digits is valid.
func TestRedteamRetryAfterHuge(t *testing.T) {
	for _, ra := range []string{"86400", "9999999999", "9223372036854775807", "99999999999999999999"} {
		t.Run(ra, func(t *testing.T) {
			srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
			c, _ := srv.NewClient(chatshipper.WithLoopGuard(false))
			conv := fakeConv(t, srv, c)
			srv.InjectFault(chatshippertest.Fault{Method: "POST", Status: 429, RetryAfter: ra, Count: 1})
			start := time.Now()
			_, _, err := c.Conversations.Send(context.Background(), conv, chatshipper.Chat("ra"))
			var rl *chatshipper.RateLimitError
			if !errors.As(err, &rl) || time.Since(start) > 5*time.Second {
				t.Fatalf("want RateLimitError at once, got %v after %v (POSTs: %d)", err, time.Since(start), countText(srv, conv, "ra"))
			}
			if rl.RetryAfter < time.Hour {
				t.Errorf("RetryAfter = %v", rl.RetryAfter)
			}
			if errors.Is(err, chatshipper.ErrDeliveryUnknown) {
				t.Errorf("a 429 left the delivery unknown")
			}
		})
	}
}
