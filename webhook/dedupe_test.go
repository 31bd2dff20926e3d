package webhook

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMemoryDeduper(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	type step struct {
		op   string // "begin", "ok", "fail"
		id   string
		want DedupeState // for begin
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"new, then running", []step{{"begin", "a", DedupeNew}, {"begin", "a", DedupeRunning}}},
		{"done after success", []step{{"begin", "a", DedupeNew}, {"ok", "a", 0}, {"begin", "a", DedupeDone}, {"begin", "a", DedupeDone}}},
		{"forgotten after failure", []step{{"begin", "a", DedupeNew}, {"fail", "a", 0}, {"begin", "a", DedupeNew}}},
		{"ids are independent", []step{{"begin", "a", DedupeNew}, {"begin", "b", DedupeNew}, {"ok", "b", 0}, {"begin", "a", DedupeRunning}}},
		{"finish of an unknown id is ignored", []step{{"ok", "a", 0}, {"begin", "a", DedupeNew}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			d, err := NewMemoryDeduper(10, time.Hour)
			require.NoError(t, err)
			claims := map[string]DedupeClaim{} // the last claim granted per ID
			for i, s := range c.steps {
				switch s.op {
				case "begin":
					got, err := d.Begin(ctx, s.id)
					require.NoError(t, err)
					assert.Equal(t, s.want, got.State, "step %d", i)
					if got.State == DedupeNew {
						claims[s.id] = got
					}
				default:
					cl, ok := claims[s.id]
					if !ok {
						cl = DedupeClaim{ID: s.id, State: DedupeNew, Token: "never-granted"}
					}
					require.NoError(t, d.Finish(ctx, cl, s.op == "ok"))
				}
			}
		})
	}
}

// A delivery whose claim was evicted while it ran (the ID then claimed again
// by a retry) finishes late: its Finish must leave the retry's claim alone.
// Before, Finish went by the ID and forgot the retry's claim, so a third
// delivery ran while the retry still ran.
func TestMemoryDeduperLateFinishOfAnEvictedClaim(t *testing.T) {
	t.Parallel()
	for _, ok := range []bool{false, true} {
		d, err := NewMemoryDeduper(1, time.Hour)
		require.NoError(t, err)
		ctx := context.Background()
		first, err := d.Begin(ctx, "x")
		require.NoError(t, err)
		_, err = d.Begin(ctx, "y") // evicts x
		require.NoError(t, err)
		retry, err := d.Begin(ctx, "x")
		require.NoError(t, err)
		require.Equal(t, DedupeNew, retry.State)

		require.ErrorIs(t, d.Finish(ctx, first, ok), ErrClaimLost, "the first delivery, late")
		third, err := d.Begin(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, DedupeRunning, third.State, "the retry still holds the ID")
		require.NoError(t, d.Finish(ctx, retry, true))
		third, err = d.Begin(ctx, "x")
		require.NoError(t, err)
		assert.Equal(t, DedupeDone, third.State)
	}
}

// An evicted entry is reused for the ID that evicted it: the evicted
// claim's late Finish must neither mark the new ID done nor forget it, and
// the new ID's own claim still finishes.
func TestMemoryDeduperEvictedEntryReused(t *testing.T) {
	t.Parallel()
	for _, ok := range []bool{false, true} {
		d, err := NewMemoryDeduper(1, time.Hour)
		require.NoError(t, err)
		ctx := context.Background()
		a, err := d.Begin(ctx, "a")
		require.NoError(t, err)
		b, err := d.Begin(ctx, "b") // evicts a, in a's entry
		require.NoError(t, err)
		require.Equal(t, DedupeNew, b.State)
		require.NotEqual(t, a.Token, b.Token)

		require.NoError(t, d.Finish(ctx, a, ok), "a was evicted and not claimed again")
		again, err := d.Begin(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, DedupeRunning, again.State, "b is still running, whatever a's late Finish said")
		assert.Equal(t, 1, d.Len())

		require.NoError(t, d.Finish(ctx, b, true))
		again, err = d.Begin(ctx, "b")
		require.NoError(t, err)
		assert.Equal(t, DedupeDone, again.State)
		again, err = d.Begin(ctx, "a")
		require.NoError(t, err)
		assert.Equal(t, DedupeNew, again.State, "a was forgotten, not done")
	}
}

func TestNewMemoryDeduperRefusesBadInput(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		size int
		ttl  time.Duration
	}{{0, time.Hour}, {-1, time.Hour}, {10, 0}, {10, -time.Second}} {
		d, err := NewMemoryDeduper(c.size, c.ttl)
		assert.Nil(t, d)
		assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument, "%d %s", c.size, c.ttl)
	}
}

func TestDedupeStateString(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "new", DedupeNew.String())
	assert.Equal(t, "running", DedupeRunning.String())
	assert.Equal(t, "done", DedupeDone.String())
	assert.Equal(t, "DedupeState(7)", DedupeState(7).String())
}

// Of many concurrent claims of one ID, exactly one wins.
func TestMemoryDeduperBeginIsAtomic(t *testing.T) {
	t.Parallel()
	d, err := NewMemoryDeduper(100, time.Hour)
	require.NoError(t, err)
	var wins atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 32 {
		wg.Go(func() {
			<-start
			c, err := d.Begin(context.Background(), "same")
			if err == nil && c.State == DedupeNew {
				wins.Add(1)
			}
		})
	}
	close(start)
	wg.Wait()
	assert.EqualValues(t, 1, wins.Load())
}

// Two replicas behind one URL share a Deduper: a delivery the platform sends
// to both at once runs once; the replica that lost the claim asks for a retry
// (503) while the other runs, also in async mode, and acknowledges the retry
// once the event is done.
func TestSharedDeduperAcrossReplicas(t *testing.T) {
	t.Parallel()
	for _, mode := range []struct {
		name string
		opts []Option
	}{{"sync", nil}, {"async", []Option{WithAsync(1, 4)}}} {
		t.Run(mode.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				shared, err := NewMemoryDeduper(100, DedupeTTL)
				require.NoError(t, err)
				release := make(chan struct{})
				var calls atomic.Int32
				replica := func() *Handler {
					h := newWH(t, append([]Option{WithDeduper(shared)}, mode.opts...)...)
					require.NoError(t, h.Handle("**", func(context.Context, *Event) error { calls.Add(1); <-release; return nil }))
					return h
				}
				a, b := replica(), replica()
				body := whFixture(t, "message.create.contact.chat.json")

				first := make(chan int)
				go func() { first <- whSigned(a, body).Code }()
				synctest.Wait() // replica a holds the claim and runs the handler
				assert.Equal(t, 503, whSigned(b, body).Code, "replica b cannot know a's outcome")
				close(release)
				assert.Equal(t, 200, <-first)
				require.NoError(t, a.Shutdown(context.Background()))
				assert.Equal(t, 200, whSigned(b, body).Code, "the retry finds the event done")
				require.NoError(t, b.Shutdown(context.Background()))
				assert.EqualValues(t, 1, calls.Load())
			})
		})
	}
}

// stubDeduper fails as told and records the outcomes reported to it.
type stubDeduper struct {
	mu        sync.Mutex
	beginErr  error
	finishErr error
	finished  []string
	finishCtx []error // ctx.Err() at each Finish
}

func (s *stubDeduper) Begin(_ context.Context, id string) (DedupeClaim, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.beginErr != nil {
		return DedupeClaim{}, s.beginErr
	}
	return DedupeClaim{ID: id, State: DedupeNew, Token: "stub"}, nil
}

func (s *stubDeduper) Finish(ctx context.Context, c DedupeClaim, ok bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	outcome := "fail"
	if ok {
		outcome = "ok"
	}
	s.finished = append(s.finished, c.ID+" "+outcome+" "+c.Token)
	s.finishCtx = append(s.finishCtx, ctx.Err())
	return s.finishErr
}

func TestDeduperErrors(t *testing.T) {
	t.Parallel()
	errStore := errors.New("store unreachable")
	body := whFixture(t, "message.create.contact.chat.json")
	const id = "3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90"

	t.Run("a claim that fails answers 503 and runs nothing", func(t *testing.T) {
		t.Parallel()
		var logs bytes.Buffer
		d := &stubDeduper{beginErr: errStore}
		h := newWH(t, WithDeduper(d), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		n := counter(t, h)
		w := whSigned(h, body)
		assert.Equal(t, 503, w.Code, "the platform retries later")
		assert.NotContains(t, w.Body.String(), "unreachable")
		assert.Contains(t, logs.String(), "store unreachable")
		e, err := ParseEvent(body)
		require.NoError(t, err)
		require.ErrorIs(t, h.Dispatch(context.Background(), e), errStore)
		assert.Zero(t, n.Load())
		assert.Empty(t, d.finished)
	})
	t.Run("outcomes are reported, also after the request was cancelled", func(t *testing.T) {
		t.Parallel()
		d := &stubDeduper{}
		h := newWH(t, WithDeduper(d))
		fail := true
		require.NoError(t, h.Handle("**", func(context.Context, *Event) error {
			if fail {
				return errors.New("boom")
			}
			return nil
		}))
		ctx, cancel := context.WithCancel(context.Background())
		r := httptest.NewRequestWithContext(ctx, http.MethodPost, "/hook", bytes.NewReader(body))
		r.Header.Set(SignatureHeader, Sign(body, whSecret))
		cancel() // the platform gave up waiting
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, 500, w.Code)
		fail = false
		assert.Equal(t, 200, whSigned(h, body).Code)
		assert.Equal(t, []string{id + " fail stub", id + " ok stub"}, d.finished, "Finish gets the claim Begin granted")
		assert.Equal(t, []error{nil, nil}, d.finishCtx, "Finish gets a context that is not cancelled")
	})
	t.Run("an outcome that cannot be recorded is logged, the answer stands", func(t *testing.T) {
		t.Parallel()
		var logs bytes.Buffer
		d := &stubDeduper{finishErr: errStore}
		h := newWH(t, WithDeduper(d), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		n := counter(t, h)
		assert.Equal(t, 200, whSigned(h, body).Code)
		assert.EqualValues(t, 1, n.Load())
		assert.Contains(t, logs.String(), "store unreachable")
	})
}
