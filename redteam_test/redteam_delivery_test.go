package redteam_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
)

// Baseline: 500 after storing, default server: stored once.
func TestRedteamDelivery500AfterStore(t *testing.T) {
	h := newHostile(t, &hostile{postFault: 500, postFaults: 1})
	c := h.client(t)
	msgs, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("one"), chatshipper.Chat("two"))
	if err != nil {
		t.Fatalf("send: %v\n%s", err, h.log())
	}
	if len(msgs) != 2 || h.count("one") != 1 || h.count("two") != 1 {
		t.Fatalf("stored one=%d two=%d returned=%d\n%s", h.count("one"), h.count("two"), len(msgs), h.log())
	}
}

// Promise: "the lookup follows the next link or X-Total, and without either
// reads on until a page comes back empty"; "Batches resolve per message ...
// nothing is lost or doubled". Server: pages capped at 10, no paging headers,
// newest first; a batch of 60 (more than 50 keys) answered 500 after storing.
func TestRedteamDeliveryLookupCapNoHeadersNewestFirst(t *testing.T) {
	h := newHostile(t, &hostile{postFault: 500, postFaults: 1, pageCap: 10, noHdrs: true, newest: true})
	c := h.client(t)
	var in []chatshipper.MessageInput
	for i := 0; i < 60; i++ {
		in = append(in, chatshipper.Chat(fmt.Sprintf("m%02d", i)))
	}
	msgs, _, err := c.Conversations.Send(context.Background(), convA, in...)
	for i := 0; i < 60; i++ {
		if n := h.count(fmt.Sprintf("m%02d", i)); n != 1 {
			t.Errorf("m%02d stored %d times", i, n)
		}
	}
	if err != nil {
		t.Fatalf("send: %v\n%s", err, h.log())
	}
	if len(msgs) != 60 {
		t.Fatalf("returned %d messages", len(msgs))
	}
	for i, m := range msgs {
		if m.Text != fmt.Sprintf("m%02d", i) {
			t.Fatalf("returned out of order at %d: %q", i, m.Text)
		}
	}
}

// A server whose list answers leave meta out (it filters on it, but does not
// return it). After a 500 that stored the message, the lookup finds it by the
// filter but cannot see the key. Promise: never sent twice ("the SDK does not
// guess").
func TestRedteamDeliveryLookupMetaStripped(t *testing.T) {
	h := newHostile(t, &hostile{postFault: 500, postFaults: 1, strip: true})
	c := h.client(t)
	_, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("stripped"))
	if n := h.count("stripped"); n != 1 {
		t.Fatalf("stored %d times (err=%v)\n%s", n, err, h.log())
	}
	t.Logf("err=%v", err)
}

// Same server, caller key: the pre-send lookup cannot see keys in the answer.
// A second send with the same caller key must not store the message twice.
func TestRedteamDeliveryCallerKeyMetaStripped(t *testing.T) {
	h := newHostile(t, &hostile{strip: true})
	c := h.client(t)
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		_, _, err := c.Conversations.Send(ctx, convA, chatshipper.Chat("idem").WithMeta(chatshipper.DeliveryKeyMeta, "order-1"))
		t.Logf("send %d: err=%v", i, err)
	}
	if n := h.count("idem"); n != 1 {
		t.Fatalf("caller-keyed message stored %d times\n%s", n, h.log())
	}
}

// The POST answer lists the batch in another order. The returned messages
// should still be the caller's, in the caller's order.
func TestRedteamDeliveryPostAnswerReordered(t *testing.T) {
	h := newHostile(t, &hostile{reorder: true})
	c := h.client(t)
	msgs, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("a"), chatshipper.Chat("b"), chatshipper.Chat("c"))
	if err != nil {
		t.Fatalf("send: %v", err)
	}
	got := []string{}
	for _, m := range msgs {
		got = append(got, m.Text)
	}
	if strings.Join(got, ",") != "a,b,c" {
		t.Fatalf("returned %v, want a,b,c in the order sent", got)
	}
}

// Lookup answers 500: DeliveryUnknownError with the keys, nothing re-sent,
// and Resolve finds the message once the server is back.
func TestRedteamDeliveryLookupFails(t *testing.T) {
	h := newHostile(t, &hostile{postFault: 500, postFaults: 1, lookupFail: 500})
	c := h.client(t)
	_, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("x"))
	var du *chatshipper.DeliveryUnknownError
	if !errors.As(err, &du) || !errors.Is(err, chatshipper.ErrDeliveryUnknown) {
		t.Fatalf("want DeliveryUnknownError, got %v", err)
	}
	if h.count("x") != 1 || len(du.Keys) != 1 {
		t.Fatalf("stored=%d keys=%v", h.count("x"), du.Keys)
	}
	h.mu.Lock()
	h.lookupFail = 0
	h.mu.Unlock()
	res, _, err := c.Messages.Resolve(context.Background(), du.ConversationID, du.Keys...)
	if err != nil || len(res) != 1 || res[0] == nil || res[0].Text != "x" {
		t.Fatalf("resolve: %v %v", res, err)
	}
}

// Connection dropped after storing (the answer is lost).
func TestRedteamDeliveryDropAfterStore(t *testing.T) {
	h := newHostile(t, &hostile{postFault: -1, postFaults: 1})
	c := h.client(t)
	msgs, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("d1"), chatshipper.Chat("d2"))
	if err != nil || len(msgs) != 2 {
		t.Fatalf("send: %v (%d)\n%s", err, len(msgs), h.log())
	}
	if h.count("d1") != 1 || h.count("d2") != 1 {
		t.Fatalf("stored d1=%d d2=%d", h.count("d1"), h.count("d2"))
	}
}

// Caller key reused in another conversation: "unique within the
// conversation", so the second conversation must get its message.
func TestRedteamDeliveryCallerKeyOtherConversation(t *testing.T) {
	h := newHostile(t, &hostile{})
	c := h.client(t)
	ctx := context.Background()
	if _, _, err := c.Conversations.Send(ctx, convA, chatshipper.Chat("A").WithMeta(chatshipper.DeliveryKeyMeta, "order-7")); err != nil {
		t.Fatal(err)
	}
	msgs, _, err := c.Conversations.Send(ctx, convB, chatshipper.Chat("B").WithMeta(chatshipper.DeliveryKeyMeta, "order-7"))
	if err != nil {
		t.Fatal(err)
	}
	if h.count("B") != 1 || len(msgs) != 1 || msgs[0].Text != "B" {
		t.Fatalf("conversation B: stored=%d returned=%+v\n%s", h.count("B"), msgs, h.log())
	}
}

// Two messages of one batch with the same caller key: the key cannot tell
// them apart. Refused before any I/O, or at least not mistaken for each other.
func TestRedteamDeliveryDuplicateCallerKeyInBatch(t *testing.T) {
	h := newHostile(t, &hostile{})
	c := h.client(t)
	msgs, _, err := c.Conversations.Send(context.Background(), convA,
		chatshipper.Chat("first").WithMeta(chatshipper.DeliveryKeyMeta, "dup-key"),
		chatshipper.Chat("second").WithMeta(chatshipper.DeliveryKeyMeta, "dup-key"))
	if err != nil {
		if !errors.Is(err, chatshipper.ErrInvalidArgument) || h.posts() != 0 {
			t.Fatalf("refused, but not as ErrInvalidArgument before I/O: %v\n%s", err, h.log())
		}
		return
	}
	t.Fatalf("a batch reusing one caller key was accepted: returned %d, stored first=%d second=%d\n%s",
		len(msgs), h.count("first"), h.count("second"), h.log())
}

// Bad caller keys are refused before any I/O.
func TestRedteamDeliveryBadCallerKeys(t *testing.T) {
	h := newHostile(t, &hostile{})
	c := h.client(t)
	bad := []any{"", "123", "1e5", "true", "false", "has space", "a/b", strings.Repeat("a", 129), "ключ", 42, true, nil, map[string]any{"x": 1}, "NaN", "Infinity", "1_000"}
	for _, k := range bad {
		_, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("bad").WithMeta(chatshipper.DeliveryKeyMeta, k))
		if !errors.Is(err, chatshipper.ErrInvalidArgument) {
			t.Errorf("key %#v: want ErrInvalidArgument, got %v", k, err)
		}
	}
	if n := h.posts(); n != 0 || len(h.reqs) != 0 {
		t.Errorf("%d requests reached the server:\n%s", len(h.reqs), h.log())
	}
}

// The caller's context ends while the POST is out (server stores, then
// answers late). Promise: an ambiguous outcome; either the lookup decides or
// a DeliveryUnknownError carries the keys; never a bare context error that
// leaves the caller unable to resolve.
func TestRedteamDeliveryCancelMidSend(t *testing.T) {
	h := newHostile(t, &hostile{})
	slow := &slowPost{h: h, d: 300 * time.Millisecond}
	h.ts.Config.Handler = slow
	c := h.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 80*time.Millisecond)
	defer cancel()
	_, _, err := c.Conversations.Send(ctx, convA, chatshipper.Chat("late"))
	time.Sleep(400 * time.Millisecond)
	if h.count("late") != 1 {
		t.Fatalf("stored %d", h.count("late"))
	}
	if err == nil {
		return
	}
	var du *chatshipper.DeliveryUnknownError
	if !errors.As(err, &du) || len(du.Keys) != 1 {
		t.Fatalf("want DeliveryUnknownError with keys, got %T %v", err, err)
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(err, DeadlineExceeded) false: %v", err)
	}
	res, _, rerr := c.Messages.Resolve(context.Background(), du.ConversationID, du.Keys...)
	if rerr != nil || len(res) != 1 || res[0] == nil {
		t.Fatalf("resolve: %v %v", res, rerr)
	}
}

// The POST answer (201) returns the messages without their meta. The
// messages were stored once; the send should not fail (an error after a
// store invites the caller to send again), and must not send again itself.
func TestRedteamDeliveryPostAnswerMetaStripped(t *testing.T) {
	h := newHostile(t, &hostile{stripPost: true})
	c := h.client(t)
	msgs, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("s1"), chatshipper.Chat("s2"))
	if h.count("s1") != 1 || h.count("s2") != 1 {
		t.Fatalf("stored s1=%d s2=%d\n%s", h.count("s1"), h.count("s2"), h.log())
	}
	if err != nil {
		var du *chatshipper.DeliveryUnknownError
		t.Fatalf("a stored send returned an error (DeliveryUnknown=%v): %v\n%s", errors.As(err, &du), err, h.log())
	}
	if len(msgs) != 2 {
		t.Fatalf("returned %d", len(msgs))
	}
}
