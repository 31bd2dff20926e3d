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

func fakeConv(t *testing.T, srv *chatshippertest.Server, c *chatshipper.Client) string {
	t.Helper()
	conv, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{Name: "rt"})
	if err != nil {
		t.Fatal(err)
	}
	return conv.ID
}

func countText(srv *chatshippertest.Server, conv, text string) int {
	n := 0
	for _, m := range srv.List("messages") {
		if m["text"] == text && (conv == "" || m["conversation"] == conv) {
			n++
		}
	}
	return n
}

// Hex-looking caller keys: accepted by the SDK; does the send stay idempotent?
func TestRedteamFakeHexLikeCallerKey(t *testing.T) {
	for _, key := range []string{"0x1F", "-0x1f", "0b101", "0o17", "Infinity", "1e5x"} {
		t.Run(key, func(t *testing.T) {
			srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
			c, _ := srv.NewClient(chatshipper.WithLoopGuard(false))
			conv := fakeConv(t, srv, c)
			for i := 0; i < 2; i++ {
				_, _, err := c.Conversations.Send(context.Background(), conv, chatshipper.Chat("hex").WithMeta(chatshipper.DeliveryKeyMeta, key))
				if errors.Is(err, chatshipper.ErrInvalidArgument) {
					return
				}
				if err != nil {
					t.Fatalf("send %d: %v", i, err)
				}
			}
			if n := countText(srv, conv, "hex"); n != 1 {
				t.Fatalf("key %q: stored %d times", key, n)
			}
		})
	}
}

// Many goroutines send to one conversation while the server answers 30% of
// the POSTs with 500 after storing, and drops 20% after storing.
// Promise: every message stored exactly once.
func TestRedteamFakeConcurrentSendsWithFaults(t *testing.T) {
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0), chatshippertest.WithLoopLimits(0, 0, 0, 0))
	c, _ := srv.NewClient(chatshipper.WithLoopGuard(false), chatshipper.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	conv := fakeConv(t, srv, c)
	srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + conv + "/messages", Status: 500, After: true, Probability: 0.3})
	srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + conv + "/messages", Drop: chatshippertest.DropAfter, Probability: 0.2})
	srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations/" + conv + "/messages", Status: 503, Probability: 0.2})
	var wg sync.WaitGroup
	var mu sync.Mutex
	failed := map[string]bool{}
	errs := make(chan error, 100)
	for g := 0; g < 12; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 4; i++ {
				var in []chatshipper.MessageInput
				for j := 0; j < 3; j++ {
					m := chatshipper.Chat(fmt.Sprintf("g%d-%d-%d", g, i, j))
					if j == 1 {
						m = m.WithMeta(chatshipper.DeliveryKeyMeta, fmt.Sprintf("k-g%d-%d", g, i))
					}
					in = append(in, m)
				}
				_, _, err := c.Conversations.Send(context.Background(), conv, in...)
				if err != nil {
					errs <- fmt.Errorf("g%d i%d: %w", g, i, err)
					mu.Lock()
					for j := 0; j < 3; j++ {
						failed[fmt.Sprintf("g%d-%d-%d", g, i, j)] = true
					}
					mu.Unlock()
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Logf("send error: %v", err)
		var du *chatshipper.DeliveryUnknownError
		if errors.As(err, &du) {
			t.Errorf("DeliveryUnknownError although the lookups work: %v", err)
		}
	}
	for g := 0; g < 12; g++ {
		for i := 0; i < 4; i++ {
			for j := 0; j < 3; j++ {
				txt := fmt.Sprintf("g%d-%d-%d", g, i, j)
				if n := countText(srv, conv, txt); n > 1 || (n == 0 && !failed[txt]) {
					t.Errorf("%s stored %d times", txt, n)
				}
			}
		}
	}
}

// Create with caller-set keys on its initial messages, where the same keys
// were used in another conversation ("unique within a conversation only").
// The create is answered 500 before anything is stored (not created). The
// SDK must not take the other conversation for this create's.
func TestRedteamFakeCreateCallerKeysReusedElsewhere(t *testing.T) {
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	c, _ := srv.NewClient(chatshipper.WithLoopGuard(false), chatshipper.WithRetryWait(time.Millisecond, 5*time.Millisecond))
	ctx := context.Background()
	other := fakeConv(t, srv, c)
	if _, _, err := c.Conversations.Send(ctx, other, chatshipper.Chat("welcome").WithMeta(chatshipper.DeliveryKeyMeta, "welcome-1")); err != nil {
		t.Fatal(err)
	}
	// 503 is retried (ambiguous); DropBefore is ambiguous too.
	for _, f := range []chatshippertest.Fault{
		{Method: "POST", PathPrefix: "/v2/conversations", Status: 503, Count: 1},
		{Method: "POST", PathPrefix: "/v2/conversations", Drop: chatshippertest.DropBefore, Count: 1},
		{Method: "POST", PathPrefix: "/v2/conversations", Status: 500, Count: 1},
	} {
		srv.ClearFaults()
		srv.InjectFault(f)
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
			Name:     "new",
			Messages: []chatshipper.MessageInput{chatshipper.Chat("welcome").WithMeta(chatshipper.DeliveryKeyMeta, "welcome-1")},
		})
		if err != nil {
			t.Logf("fault %+v: create error %v", f, err)
			continue
		}
		if conv.ID == other {
			t.Errorf("fault status=%d drop=%d: Create returned the OTHER conversation %s (its message key was reused); nothing was created", f.Status, f.Drop, other)
		}
	}
}

// Create answered 500 after storing, server clock 2h behind / ahead.
func TestRedteamFakeCreateClockSkew(t *testing.T) {
	for _, skew := range []time.Duration{-3 * time.Hour, 3 * time.Hour} {
		t.Run(skew.String(), func(t *testing.T) {
			srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0), chatshippertest.WithClockSkew(skew))
			c, _ := srv.NewClient(chatshipper.WithLoopGuard(false), chatshipper.WithRetryWait(time.Millisecond, 5*time.Millisecond))
			ctx := context.Background()
			srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations", Drop: chatshippertest.DropAfter, Count: 1})
			conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
				Name:     "skew",
				Meta:     chatshipper.Meta{chatshipper.DeliveryKeyMeta: "conv-skew-1"},
				Messages: []chatshipper.MessageInput{chatshipper.Chat("hello skew").WithMeta(chatshipper.DeliveryKeyMeta, "hs-1"), chatshipper.Chat("second skew")},
			})
			if err != nil {
				t.Fatalf("create: %v", err)
			}
			if n := len(srv.List("conversations")); n != 1 {
				t.Errorf("%d conversations stored", n)
			}
			if countText(srv, "", "hello skew") != 1 || countText(srv, "", "second skew") != 1 {
				t.Errorf("messages stored: %d %d", countText(srv, "", "hello skew"), countText(srv, "", "second skew"))
			}
			// Same create again, later: idempotent by the conversation key.
			conv2, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{
				Name:     "skew",
				Meta:     chatshipper.Meta{chatshipper.DeliveryKeyMeta: "conv-skew-1"},
				Messages: []chatshipper.MessageInput{chatshipper.Chat("hello skew").WithMeta(chatshipper.DeliveryKeyMeta, "hs-1"), chatshipper.Chat("second skew")},
			})
			if err != nil || conv2.ID != conv.ID {
				t.Fatalf("second create: %v %v", conv2, err)
			}
			if n := len(srv.List("conversations")); n != 1 || countText(srv, "", "hello skew") != 1 || countText(srv, "", "second skew") != 1 {
				t.Errorf("after repeat: %d conversations, hello=%d second=%d", n, countText(srv, "", "hello skew"), countText(srv, "", "second skew"))
			}
		})
	}
}
