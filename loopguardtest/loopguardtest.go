// Package loopguardtest checks an implementation of
// [chatshipper.LoopGuardStore] against the contract documented on that
// interface. A store kept in a shared server (for example Redis) calls Run
// from its own tests:
//
//	func TestStore(t *testing.T) {
//		loopguardtest.Run(t, func(t *testing.T) chatshipper.LoopGuardStore {
//			return newStore(t) // a fresh store, or one whose keys Run never reuses
//		})
//	}
//
// Every subtest uses keys no other subtest uses (random bot and conversation
// IDs), so one shared server can serve them all. Times are fixed instants
// passed to the store, so the store must measure windows with the times it
// is given.
package loopguardtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
)

// limits are the documented limits of the API.
var limits = chatshipper.LoopLimits{Identical: 8, IdenticalWindow: 3 * time.Minute, Consecutive: 20, ConsecutiveWindow: time.Hour}

// t0 is the time every subtest starts at.
var t0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// fixture is one subtest's store and key.
type fixture struct {
	t     *testing.T
	store chatshipper.LoopGuardStore
	key   chatshipper.LoopGuardKey
}

func (f *fixture) res(at time.Time, msgs ...chatshipper.LoopMessage) *chatshipper.LoopReservation {
	return &chatshipper.LoopReservation{ID: randomHex(16), Key: f.key, At: at, Limits: limits, Messages: msgs}
}

// ok reserves and fails the test on an error.
func (f *fixture) ok(at time.Time, msgs ...chatshipper.LoopMessage) *chatshipper.LoopReservation {
	f.t.Helper()
	r := f.res(at, msgs...)
	if err := f.store.Reserve(context.Background(), r); err != nil {
		f.t.Fatalf("Reserve at %s of %v: %v, want nil", at.Sub(t0), msgs, err)
	}
	return r
}

// refused reserves and checks the refusal.
func (f *fixture) refused(at time.Time, kind chatshipper.LoopLimitKind, retryAt time.Time, msgs ...chatshipper.LoopMessage) {
	f.t.Helper()
	err := f.store.Reserve(context.Background(), f.res(at, msgs...))
	var le *chatshipper.LoopLimitError
	if !errors.As(err, &le) {
		f.t.Fatalf("Reserve at %s: %v, want a *LoopLimitError", at.Sub(t0), err)
	}
	want := chatshipper.LoopLimitError{ConversationID: f.key.Conversation, Kind: kind, RetryAt: retryAt}
	switch kind {
	case chatshipper.LoopLimitIdentical:
		want.Max, want.Window = limits.Identical, limits.IdenticalWindow
	case chatshipper.LoopLimitConsecutive:
		want.Max, want.Window = limits.Consecutive, limits.ConsecutiveWindow
	}
	if le.ConversationID != want.ConversationID || le.Kind != want.Kind || le.Max != want.Max ||
		le.Window != want.Window || !le.RetryAt.Equal(want.RetryAt) || le.FromServer {
		f.t.Fatalf("Reserve at %s: got %+v, want %+v", at.Sub(t0), *le, want)
	}
}

func msg(hash string) chatshipper.LoopMessage { return chatshipper.LoopMessage{Hash: hash} }

var reply = chatshipper.LoopMessage{Reply: true}

// distinct returns n messages with distinct hashes.
func distinct(n int) []chatshipper.LoopMessage {
	out := make([]chatshipper.LoopMessage, n)
	for i := range out {
		out[i] = msg(fmt.Sprintf("d-%d-%s", i, randomHex(4)))
	}
	return out
}

func same(hash string, n int) []chatshipper.LoopMessage {
	out := make([]chatshipper.LoopMessage, n)
	for i := range out {
		out[i] = msg(hash)
	}
	return out
}

// Run checks the store returned by newStore (called once per subtest)
// against the LoopGuardStore contract.
func Run(t *testing.T, newStore func(t *testing.T) chatshipper.LoopGuardStore) {
	t.Helper()
	setup := func(t *testing.T) *fixture {
		return &fixture{t: t, store: newStore(t),
			key: chatshipper.LoopGuardKey{Bot: randomHex(12), Conversation: randomHex(12)}}
	}
	ctx := context.Background()
	sec := time.Second

	t.Run("identical limit and its window", func(t *testing.T) {
		f := setup(t)
		for i := range 8 {
			f.ok(t0.Add(time.Duration(i)*sec), msg("h"))
		}
		f.refused(t0.Add(8*sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
		f.ok(t0.Add(8*sec), distinct(1)...) // another hash
		f.refused(t0.Add(limits.IdenticalWindow-time.Millisecond), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
		f.ok(t0.Add(limits.IdenticalWindow), msg("h")) // exactly t+window: free
		f.refused(t0.Add(limits.IdenticalWindow), chatshipper.LoopLimitIdentical, t0.Add(sec+limits.IdenticalWindow), msg("h"))
	})
	t.Run("consecutive limit and its window", func(t *testing.T) {
		f := setup(t)
		for i, m := range distinct(20) {
			f.ok(t0.Add(time.Duration(i)*sec), m)
		}
		f.refused(t0.Add(20*sec), chatshipper.LoopLimitConsecutive, t0.Add(limits.ConsecutiveWindow), distinct(1)...)
		f.ok(t0.Add(limits.ConsecutiveWindow), distinct(1)...)
		f.refused(t0.Add(limits.ConsecutiveWindow), chatshipper.LoopLimitConsecutive, t0.Add(sec+limits.ConsecutiveWindow), distinct(1)...)
	})
	t.Run("a batch is all or nothing", func(t *testing.T) {
		f := setup(t)
		f.refused(t0, chatshipper.LoopLimitIdentical, time.Time{}, same("h", 9)...) // can never fit
		f.refused(t0, chatshipper.LoopLimitConsecutive, time.Time{}, distinct(21)...)
		for i := range 6 {
			f.ok(t0.Add(time.Duration(i)*sec), msg("h"))
		}
		// 6 + 3 > 8: fits once the oldest one has expired.
		f.refused(t0.Add(10*sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), same("h", 3)...)
		f.ok(t0.Add(10*sec), same("h", 2)...) // nothing of the refused batch was recorded
		f.refused(t0.Add(10*sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
	})
	t.Run("the error names the limit that frees last", func(t *testing.T) {
		f := setup(t)
		f.ok(t0, same("h", 8)...)
		f.ok(t0.Add(sec), distinct(12)...)
		// Both break: identical frees at t0+3m, consecutive at t0+1h.
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitConsecutive, t0.Add(limits.ConsecutiveWindow), msg("h"))
		// A limit that can never be met is named before one that frees.
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitIdentical, time.Time{}, same("h", 9)...)
	})
	t.Run("release deletes exactly the reservation's entries", func(t *testing.T) {
		f := setup(t)
		keep := f.ok(t0, same("h", 4)...)
		gone := f.ok(t0.Add(sec), same("h", 4)...)
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
		for range 2 { // releasing twice changes nothing more
			if err := f.store.Release(ctx, gone); err != nil {
				t.Fatalf("Release: %v", err)
			}
		}
		f.ok(t0.Add(2*sec), same("h", 4)...)
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
		_ = keep
		never := f.res(t0, msg("h"))
		if err := f.store.Release(ctx, never); err != nil { // recorded nothing
			t.Fatalf("Release of an unknown reservation: %v", err)
		}
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
	})
	t.Run("reset deletes consecutive entries at or before its time", func(t *testing.T) {
		f := setup(t)
		for i := range 8 {
			f.ok(t0.Add(time.Duration(i)*sec), msg("h"))
		}
		for i, m := range distinct(12) {
			f.ok(t0.Add(time.Duration(8+i)*sec), m)
		}
		if err := f.store.Reset(ctx, f.key, t0.Add(10*sec), ""); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		// 11 entries (0 s to 10 s) went; 9 remain.
		f.ok(t0.Add(30*sec), distinct(11)...)
		f.refused(t0.Add(30*sec), chatshipper.LoopLimitConsecutive, t0.Add(11*sec+limits.ConsecutiveWindow), distinct(1)...)
		// Identical entries survive a reset.
		if err := f.store.Reset(ctx, f.key, t0.Add(30*sec), ""); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		f.refused(t0.Add(31*sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
	})
	t.Run("a reply inside a batch", func(t *testing.T) {
		f := setup(t)
		f.ok(t0, distinct(20)...)
		f.refused(t0.Add(sec), chatshipper.LoopLimitConsecutive, t0.Add(limits.ConsecutiveWindow), distinct(1)...)
		// The reply resets the count for the messages after it.
		batch := append([]chatshipper.LoopMessage{msg("x")}, reply)
		f.refused(t0.Add(sec), chatshipper.LoopLimitConsecutive, t0.Add(limits.ConsecutiveWindow), batch...)
		r := f.ok(t0.Add(sec), append([]chatshipper.LoopMessage{reply}, distinct(2)...)...)
		// Until the reply is confirmed by a Reset, the earlier entries count.
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitConsecutive, t0.Add(limits.ConsecutiveWindow), distinct(1)...)
		if err := f.store.Reset(ctx, f.key, r.At, r.ID); err != nil {
			t.Fatalf("Reset: %v", err)
		}
		// Only the batch's own 2 entries (after the reply) remain.
		f.ok(t0.Add(2*sec), distinct(18)...)
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitConsecutive, t0.Add(sec+limits.ConsecutiveWindow), distinct(1)...)
		// A segment after a reply that alone breaks the limit can never fit.
		f.refused(t0.Add(2*sec), chatshipper.LoopLimitConsecutive, time.Time{}, append([]chatshipper.LoopMessage{reply}, distinct(21)...)...)
		// Replies are not counted as identical messages.
		f.ok(t0.Add(3*sec), reply, reply, reply, reply, reply, reply, reply, reply, reply, reply)
	})
	t.Run("force records without checking", func(t *testing.T) {
		f := setup(t)
		r := f.res(t0, same("h", 10)...)
		r.Force = true
		if err := f.store.Reserve(ctx, r); err != nil {
			t.Fatalf("Reserve with Force: %v", err)
		}
		f.refused(t0.Add(sec), chatshipper.LoopLimitIdentical, t0.Add(limits.IdenticalWindow), msg("h"))
		f.ok(t0.Add(sec), distinct(10)...)
		f.refused(t0.Add(sec), chatshipper.LoopLimitConsecutive, t0.Add(limits.ConsecutiveWindow), distinct(1)...)
	})
	t.Run("keys are independent", func(t *testing.T) {
		f := setup(t)
		f.ok(t0, same("h", 8)...)
		f.ok(t0, distinct(12)...)
		for _, k := range []chatshipper.LoopGuardKey{
			{Bot: f.key.Bot, Conversation: randomHex(12)},
			{Bot: randomHex(12), Conversation: f.key.Conversation},
		} {
			g := &fixture{t: t, store: f.store, key: k}
			g.ok(t0, same("h", 8)...)
			if err := f.store.Reset(ctx, k, t0, ""); err != nil {
				t.Fatalf("Reset: %v", err)
			}
		}
		f.refused(t0, chatshipper.LoopLimitConsecutive, t0.Add(limits.ConsecutiveWindow), distinct(1)...)
	})
	t.Run("concurrent reserves are atomic", func(t *testing.T) {
		f := setup(t)
		var wg sync.WaitGroup
		var mu sync.Mutex
		okCount, refusedCount := 0, 0
		for range 40 {
			wg.Go(func() {
				err := f.store.Reserve(ctx, f.res(t0, msg("h")))
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err == nil:
					okCount++
				case errors.Is(err, chatshipper.ErrLoopLimit):
					refusedCount++
				default:
					t.Errorf("Reserve: %v", err)
				}
			})
		}
		wg.Wait()
		if okCount != 8 || refusedCount != 32 {
			t.Fatalf("40 concurrent reserves: %d recorded, %d refused; want 8 and 32", okCount, refusedCount)
		}
	})
}
