package chatshipper_test

import (
	"context"
	"math"
	"reflect"
	"strconv"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/loopguardtest"
)

func TestLoopGuardMemoryStoreContract(t *testing.T) {
	t.Parallel()
	// The constructor returns its concrete type, not the interface.
	if out := reflect.TypeOf(chatshipper.NewLoopGuardMemoryStore).Out(0); out.Kind() != reflect.Pointer {
		t.Errorf("NewLoopGuardMemoryStore returns %v, want the store's own type", out)
	}
	loopguardtest.Run(t, func(*testing.T) chatshipper.LoopGuardStore { return chatshipper.NewLoopGuardMemoryStore(0) })
}

// BenchmarkLoopGuardMemoryStore reserves one message and releases it for a
// conversation already tracked (it becomes the most recently used), and
// reserves one for a new conversation each time beyond the store's bound
// (the least recently used is forgotten).
func BenchmarkLoopGuardMemoryStore(b *testing.B) {
	ctx := context.Background()
	limits := chatshipper.LoopLimits{Identical: math.MaxInt, Consecutive: math.MaxInt,
		IdenticalWindow: time.Minute, ConsecutiveWindow: time.Minute}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	msgs := []chatshipper.LoopMessage{{Hash: "h"}}
	b.Run("tracked", func(b *testing.B) {
		s := chatshipper.NewLoopGuardMemoryStore(1000)
		for i := range 1000 { // a full store; the benchmark's key is the oldest
			key := chatshipper.LoopGuardKey{Bot: "b", Conversation: strconv.Itoa(i)}
			if err := s.Reserve(ctx, &chatshipper.LoopReservation{ID: "keep", Key: key, At: at, Limits: limits, Messages: msgs}); err != nil {
				b.Fatal(err)
			}
		}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			// Cycle through the keys so each one touched moves to the front.
			r := &chatshipper.LoopReservation{ID: "r", Key: chatshipper.LoopGuardKey{Bot: "b", Conversation: strconv.Itoa(i % 1000)},
				At: at, Limits: limits, Messages: msgs}
			if err := s.Reserve(ctx, r); err != nil {
				b.Fatal(err)
			}
			if err := s.Release(ctx, r); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
	b.Run("new", func(b *testing.B) {
		s := chatshipper.NewLoopGuardMemoryStore(1000)
		keys := make([]chatshipper.LoopGuardKey, 4096)
		for i := range keys {
			keys[i] = chatshipper.LoopGuardKey{Bot: "b", Conversation: strconv.Itoa(i)}
		}
		i := 0
		b.ReportAllocs()
		for b.Loop() {
			r := &chatshipper.LoopReservation{ID: "r", Key: keys[i%len(keys)], At: at, Limits: limits, Messages: msgs}
			if err := s.Reserve(ctx, r); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}
