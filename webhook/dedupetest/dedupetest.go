// Package dedupetest checks an implementation of [webhook.Deduper] against
// the contract documented on that interface. A store kept in a shared server
// (for example Redis) calls Run from its own tests:
//
//	func TestDeduper(t *testing.T) {
//		dedupetest.Run(t, func(t *testing.T) webhook.Deduper {
//			return newDeduper(t) // a fresh store, or one whose IDs Run never reuses
//		})
//	}
//
// Every subtest uses event IDs no other subtest uses (random), so one shared
// server can serve them all. What Run cannot make happen in a generic way, a
// claim that ends (its lease runs out, it is evicted) while its delivery
// still runs, it checks with a claim whose token is not the ID's current
// one; a store with leases should also test the real thing.
package dedupetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/go-chatshipper/chatshipper/webhook"
)

func randomID() string {
	b := make([]byte, 12)
	_, _ = rand.Read(b)
	return "dedupetest-" + hex.EncodeToString(b)
}

// fixture is one subtest's store.
type fixture struct {
	t *testing.T
	d webhook.Deduper
}

// begin calls Begin and checks that the answer names id, has state want and
// carries a token exactly when it grants the claim.
func (f *fixture) begin(id string, want webhook.DedupeState) webhook.DedupeClaim {
	f.t.Helper()
	c, err := f.d.Begin(context.Background(), id)
	if err != nil {
		f.t.Fatalf("Begin(%q): %v, want nil", id, err)
	}
	if c.State != want {
		f.t.Fatalf("Begin(%q) state %s, want %s", id, c.State, want)
	}
	if c.ID != id {
		f.t.Fatalf("Begin(%q) claim names ID %q", id, c.ID)
	}
	if (c.Token != "") != (want == webhook.DedupeNew) {
		f.t.Fatalf("Begin(%q) state %s with token %q: a token comes with DedupeNew only", id, c.State, c.Token)
	}
	return c
}

// finish calls Finish and fails the test on an error.
func (f *fixture) finish(c webhook.DedupeClaim, ok bool) {
	f.t.Helper()
	if err := f.d.Finish(context.Background(), c, ok); err != nil {
		f.t.Fatalf("Finish(%q, ok %t): %v, want nil", c.ID, ok, err)
	}
}

// lost calls Finish with a claim that is not the ID's current one and
// checks the refusal.
func (f *fixture) lost(c webhook.DedupeClaim, ok bool) {
	f.t.Helper()
	err := f.d.Finish(context.Background(), c, ok)
	if !errors.Is(err, webhook.ErrClaimLost) {
		f.t.Fatalf("Finish(%q, ok %t) with a claim that is not the current one: %v, want an error matching webhook.ErrClaimLost", c.ID, ok, err)
	}
}

// Run checks the Deduper newDeduper returns (called once per subtest)
// against the contract of [webhook.Deduper].
func Run(t *testing.T, newDeduper func(t *testing.T) webhook.Deduper) {
	t.Helper()
	sub := func(name string, body func(f *fixture)) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			body(&fixture{t: t, d: newDeduper(t)})
		})
	}
	sub("a claim, then running", func(f *fixture) {
		id := randomID()
		f.begin(id, webhook.DedupeNew)
		f.begin(id, webhook.DedupeRunning)
	})
	sub("done after success, for good", func(f *fixture) {
		id := randomID()
		f.finish(f.begin(id, webhook.DedupeNew), true)
		f.begin(id, webhook.DedupeDone)
		f.begin(id, webhook.DedupeDone)
	})
	sub("forgotten after failure, then a new claim with a new token", func(f *fixture) {
		id := randomID()
		first := f.begin(id, webhook.DedupeNew)
		f.finish(first, false)
		second := f.begin(id, webhook.DedupeNew)
		if second.Token == first.Token {
			f.t.Fatalf("two claims of %q share the token %q", id, first.Token)
		}
		f.begin(id, webhook.DedupeRunning)
		f.finish(second, true)
		f.begin(id, webhook.DedupeDone)
	})
	sub("IDs are independent", func(f *fixture) {
		a, b := randomID(), randomID()
		ca := f.begin(a, webhook.DedupeNew)
		f.finish(f.begin(b, webhook.DedupeNew), true)
		f.begin(a, webhook.DedupeRunning)
		f.begin(b, webhook.DedupeDone)
		f.finish(ca, false)
		f.begin(a, webhook.DedupeNew)
	})
	sub("a claim that is not the current one changes nothing", func(f *fixture) {
		for _, ok := range []bool{true, false} {
			id := randomID()
			c := f.begin(id, webhook.DedupeNew)
			stale := c
			stale.Token = "not-" + c.Token
			f.lost(stale, ok)
			f.begin(id, webhook.DedupeRunning) // neither done nor forgotten
			f.finish(c, ok)                    // the holder's own Finish still works
			if ok {
				f.begin(id, webhook.DedupeDone)
			} else {
				f.begin(id, webhook.DedupeNew)
			}
		}
	})
	sub("a failed earlier delivery cannot forget a later claim", func(f *fixture) {
		id := randomID()
		first := f.begin(id, webhook.DedupeNew)
		f.finish(first, false)
		second := f.begin(id, webhook.DedupeNew)
		f.lost(first, false) // the first delivery reports again, late
		f.begin(id, webhook.DedupeRunning)
		f.finish(second, true)
		f.begin(id, webhook.DedupeDone)
	})
	sub("Finish refuses what Begin did not grant", func(f *fixture) {
		id := randomID()
		c := f.begin(id, webhook.DedupeNew)
		running := f.begin(id, webhook.DedupeRunning)
		for _, bad := range []webhook.DedupeClaim{running, {ID: id, State: webhook.DedupeNew}, {State: webhook.DedupeNew, Token: c.Token}} {
			if err := f.d.Finish(context.Background(), bad, true); err == nil {
				f.t.Fatalf("Finish(%+v) = nil, want an error", bad)
			}
		}
		f.begin(id, webhook.DedupeRunning)
	})
	sub("of concurrent claims exactly one wins", func(f *fixture) {
		id := randomID()
		var wins atomic.Int32
		var wg sync.WaitGroup
		start := make(chan struct{})
		for range 32 {
			wg.Go(func() {
				<-start
				c, err := f.d.Begin(context.Background(), id)
				if err != nil {
					f.t.Errorf("Begin: %v", err)
					return
				}
				if c.State == webhook.DedupeNew {
					wins.Add(1)
				}
			})
		}
		close(start)
		wg.Wait()
		if n := wins.Load(); n != 1 {
			f.t.Fatalf("%d of 32 concurrent Begin calls got the claim, want 1", n)
		}
	})
}
