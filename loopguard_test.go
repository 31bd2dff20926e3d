package chatshipper

import (
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// key builds a content key the way a caller would: type, text and meta.
func key(typ, text, meta string) string { return typ + "\x00" + text + "\x00" + meta }

// distinctKeys returns n keys that differ from each other and from "k".
func distinctKeys(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = key("chat", prefix+strconv.Itoa(i), "")
	}
	return out
}

// requireLoopErr checks that err is exactly want and matches ErrLoopLimit.
func requireLoopErr(t *testing.T, want *LoopLimitError, err error) {
	t.Helper()
	require.ErrorIs(t, err, ErrLoopLimit)
	var got *LoopLimitError
	require.ErrorAs(t, err, &got)
	require.Equal(t, want, got)
}

// reserveEach reserves keys one message at a time, requiring every one to pass.
func reserveEach(t *testing.T, g *loopGuard, conv string, keys ...string) {
	t.Helper()
	for i, k := range keys {
		require.NoError(t, g.reserve(conv, []string{k}), "message %d", i)
	}
}

func TestLoopGuardIdentical(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		g := newLoopGuard(LoopGuardConfig{})
		k := key("chat", "same again", `{"a":1}`)
		for i := range 8 {
			require.NoError(t, g.reserve("c1", []string{k}), "message %d", i)
			time.Sleep(10 * time.Second)
		}
		// now = start+80s: the 9th identical message within 3 minutes.
		want := &LoopLimitError{
			ConversationID: "c1", Kind: LoopLimitIdentical, Max: 8, Window: 3 * time.Minute,
			RetryAt: start.Add(3 * time.Minute).Round(0),
		}
		err := g.reserve("c1", []string{k})
		requireLoopErr(t, want, err)
		assert.Equal(t, "chatshipper: loop limit: conversation c1: more than 8 identical messages in 3m0s; frees at "+
			start.Add(3*time.Minute).UTC().Format(time.RFC3339Nano), err.Error())

		// Other content is not identical; the same text with other meta neither.
		require.NoError(t, g.reserve("c1", []string{key("chat", "same again", `{"a":2}`)}))
		require.NoError(t, g.reserve("c1", []string{key("card", "same again", `{"a":1}`)}))

		time.Sleep(time.Until(start.Add(3*time.Minute - time.Nanosecond)))
		requireLoopErr(t, want, g.reserve("c1", []string{k}))

		time.Sleep(time.Nanosecond) // the first message leaves the window exactly at RetryAt
		require.NoError(t, g.reserve("c1", []string{k}))
		want.RetryAt = start.Add(10*time.Second + 3*time.Minute).Round(0)
		requireLoopErr(t, want, g.reserve("c1", []string{k}))
	})
}

func TestLoopGuardConsecutive(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		g := newLoopGuard(LoopGuardConfig{})
		for i, k := range distinctKeys("m", 20) {
			require.NoError(t, g.reserve("c1", []string{k}), "message %d", i)
			time.Sleep(time.Minute)
		}
		want := &LoopLimitError{
			ConversationID: "c1", Kind: LoopLimitConsecutive, Max: 20, Window: time.Hour,
			RetryAt: start.Add(time.Hour).Round(0),
		}
		err := g.reserve("c1", []string{key("chat", "twenty-first", "")})
		requireLoopErr(t, want, err)
		assert.Equal(t, "chatshipper: loop limit: conversation c1: more than 20 consecutive messages in 1h0m0s; frees at "+
			start.Add(time.Hour).UTC().Format(time.RFC3339Nano), err.Error())

		time.Sleep(time.Until(start.Add(time.Hour)))
		require.NoError(t, g.reserve("c1", []string{key("chat", "twenty-first", "")}))
		want.RetryAt = start.Add(time.Minute + time.Hour).Round(0)
		requireLoopErr(t, want, g.reserve("c1", []string{key("chat", "twenty-second", "")}))
	})
}

func TestLoopGuardReplies(t *testing.T) {
	t.Parallel()
	const self = "5bb0000000000000000000b0"
	tests := []struct {
		name      string
		reply     func(g *loopGuard, sentAt time.Time) // after 20 sends at sentAt, 1 s later
		wantReset bool
	}{
		{"Reset", func(g *loopGuard, _ time.Time) { g.reset("c1") }, true},
		{"agent reply now", func(g *loopGuard, _ time.Time) { g.observe("c1", "agent", "agent-1", time.Time{}) }, true},
		{"contact reply now", func(g *loopGuard, _ time.Time) { g.observe("c1", "contact", "", time.Time{}) }, true},
		{"role case ignored", func(g *loopGuard, _ time.Time) { g.observe("c1", "Contact", "", time.Time{}) }, true},
		{"agent reply after the sends", func(g *loopGuard, at time.Time) {
			g.observe("c1", "agent", "agent-1", at.Add(time.Second))
		}, true},
		{"reply older than the sends", func(g *loopGuard, at time.Time) {
			g.observe("c1", "contact", "contact-1", at.Add(-time.Second))
		}, false},
		{"own agent-role message", func(g *loopGuard, _ time.Time) { g.observe("c1", "agent", self, time.Time{}) }, false},
		{"bot message", func(g *loopGuard, _ time.Time) { g.observe("c1", "bot", "bot-2", time.Time{}) }, false},
		{"system message", func(g *loopGuard, _ time.Time) { g.observe("c1", "system", "", time.Time{}) }, false},
		{"reply in another conversation", func(g *loopGuard, _ time.Time) { g.observe("c2", "agent", "agent-1", time.Time{}) }, false},
		{"Reset of another conversation", func(g *loopGuard, _ time.Time) { g.reset("c2") }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				g := newLoopGuard(LoopGuardConfig{})
				g.setSelf(self)
				sentAt := time.Now()
				reserveEach(t, g, "c1", distinctKeys("a", 20)...)
				time.Sleep(time.Second)
				tt.reply(g, sentAt)
				err := g.reserve("c1", []string{key("chat", "after reply", "")})
				if !tt.wantReset {
					requireLoopErr(t, &LoopLimitError{ConversationID: "c1", Kind: LoopLimitConsecutive, Max: 20,
						Window: time.Hour, RetryAt: sentAt.Add(time.Hour).Round(0)}, err)
					return
				}
				require.NoError(t, err)
				reserveEach(t, g, "c1", distinctKeys("b", 19)...)
				requireLoopErr(t, &LoopLimitError{ConversationID: "c1", Kind: LoopLimitConsecutive, Max: 20,
					Window: time.Hour, RetryAt: sentAt.Add(time.Second + time.Hour).Round(0)},
					g.reserve("c1", []string{key("chat", "one too many", "")}))
			})
		})
	}
}

func TestLoopGuardReplyResetsOnlyEarlierSends(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		g := newLoopGuard(LoopGuardConfig{})
		reserveEach(t, g, "c1", distinctKeys("early", 10)...)
		time.Sleep(time.Minute)
		reserveEach(t, g, "c1", distinctKeys("late", 10)...)
		// A reply read later, created between the two groups of sends.
		time.Sleep(time.Minute)
		g.observe("c1", "contact", "contact-1", start.Add(30*time.Second))
		reserveEach(t, g, "c1", distinctKeys("more", 10)...)
		requireLoopErr(t, &LoopLimitError{ConversationID: "c1", Kind: LoopLimitConsecutive, Max: 20,
			Window: time.Hour, RetryAt: start.Add(time.Minute + time.Hour).Round(0)},
			g.reserve("c1", []string{key("chat", "one too many", "")}))
	})
}

func TestLoopGuardReplyDoesNotResetIdentical(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		g := newLoopGuard(LoopGuardConfig{})
		k := key("chat", "hello?", "")
		reserveEach(t, g, "c1", k, k, k, k, k, k, k, k)
		g.reset("c1")
		g.observe("c1", "contact", "contact-1", time.Time{})
		requireLoopErr(t, &LoopLimitError{ConversationID: "c1", Kind: LoopLimitIdentical, Max: 8,
			Window: 3 * time.Minute, RetryAt: start.Add(3 * time.Minute).Round(0)},
			g.reserve("c1", []string{k}))
	})
}

func TestLoopGuardBatchIsAllOrNothing(t *testing.T) {
	t.Parallel()
	k := key("chat", "k", "")
	tests := []struct {
		name    string
		before  []string       // sent one by one at start
		batch   []string       // refused, at start+1s
		want    LoopLimitError // ConversationID is filled in; RetryAt offset from start below
		retryIn time.Duration  // 0: zero RetryAt
		// after the refusal: these pass one by one, then next is refused
		after []string
	}{
		{
			name:   "identical: two more than fit",
			before: []string{k, k, k, k, k, k, k},
			batch:  []string{k, k},
			want:   LoopLimitError{Kind: LoopLimitIdentical, Max: 8, Window: 3 * time.Minute}, retryIn: 3 * time.Minute,
			after: []string{k}, // the 8th still fits: nothing of the batch was recorded
		},
		{
			name:   "identical: other messages of the batch are not recorded",
			before: []string{k, k, k, k, k, k, k},
			batch:  []string{key("chat", "a", ""), k, k},
			want:   LoopLimitError{Kind: LoopLimitIdentical, Max: 8, Window: 3 * time.Minute}, retryIn: 3 * time.Minute,
			after: append([]string{k}, distinctKeys("x", 12)...), // 7+1+12 = 20 consecutive
		},
		{
			name:   "consecutive: batch of 6 after 15",
			before: distinctKeys("a", 15),
			batch:  distinctKeys("b", 6),
			want:   LoopLimitError{Kind: LoopLimitConsecutive, Max: 20, Window: time.Hour}, retryIn: time.Hour,
			after: distinctKeys("c", 5),
		},
		{
			name:  "identical: batch alone exceeds the limit",
			batch: []string{k, k, k, k, k, k, k, k, k},
			want:  LoopLimitError{Kind: LoopLimitIdentical, Max: 8, Window: 3 * time.Minute},
			after: distinctKeys("c", 20),
		},
		{
			name:  "consecutive: batch alone exceeds the limit",
			batch: distinctKeys("b", 21),
			want:  LoopLimitError{Kind: LoopLimitConsecutive, Max: 20, Window: time.Hour},
			after: distinctKeys("c", 20),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				g := newLoopGuard(LoopGuardConfig{})
				reserveEach(t, g, "c1", tt.before...)
				time.Sleep(time.Second)
				want := tt.want
				want.ConversationID = "c1"
				if tt.retryIn > 0 {
					want.RetryAt = start.Add(tt.retryIn).Round(0)
				}
				err := g.reserve("c1", tt.batch)
				requireLoopErr(t, &want, err)
				if tt.retryIn == 0 {
					assert.Contains(t, err.Error(), "; the batch alone exceeds the limit")
				}
				reserveEach(t, g, "c1", tt.after...)
				require.ErrorIs(t, g.reserve("c1", []string{k}), ErrLoopLimit)
			})
		})
	}
}

func TestLoopGuardReportsTheLimitThatFreesLast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		cfg  LoopGuardConfig
		want func(start time.Time) *LoopLimitError
	}{
		{
			name: "defaults: consecutive frees after identical",
			cfg:  LoopGuardConfig{},
			want: func(start time.Time) *LoopLimitError {
				return &LoopLimitError{ConversationID: "c1", Kind: LoopLimitConsecutive, Max: 20, Window: time.Hour,
					RetryAt: start.Add(time.Hour).Round(0)}
			},
		},
		{
			name: "long identical window: identical frees last",
			cfg:  LoopGuardConfig{Identical: 8, IdenticalWindow: 2 * time.Hour, Consecutive: 20, ConsecutiveWindow: time.Minute},
			want: func(start time.Time) *LoopLimitError {
				return &LoopLimitError{ConversationID: "c1", Kind: LoopLimitIdentical, Max: 8, Window: 2 * time.Hour,
					RetryAt: start.Add(2 * time.Hour).Round(0)}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				start := time.Now()
				g := newLoopGuard(tt.cfg)
				k := key("chat", "k", "")
				reserveEach(t, g, "c1", k, k, k, k, k, k, k, k)
				reserveEach(t, g, "c1", distinctKeys("d", 12)...)
				requireLoopErr(t, tt.want(start), g.reserve("c1", []string{k}))
			})
		})
	}
}

func TestLoopGuardSpecPseudocode(t *testing.T) {
	t.Parallel()
	// for (0..9) POST {text: "I've said this before..."}: refused on the 9th.
	// for (0..21) POST {text: "/set someVar <random>"}: refused on the 21st.
	tests := []struct {
		name        string
		loops       int
		text        func(i int) string
		wantRefused int // index of the only refused request
		wantKind    LoopLimitKind
	}{
		{"identical", 9, func(int) string { return "I've said this before..." }, 8, LoopLimitIdentical},
		{"consecutive", 21, func(i int) string { return fmt.Sprintf("/set someVar %d", 1e6+i*7919) }, 20, LoopLimitConsecutive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newLoopGuard(LoopGuardConfig{})
			for i := range tt.loops {
				err := g.reserve("5bb0aa0aa0aa0aa0aa0aa0aa", []string{key("chat", tt.text(i), "")})
				if i != tt.wantRefused {
					require.NoError(t, err, "request %d", i+1)
					continue
				}
				var le *LoopLimitError
				require.ErrorAs(t, err, &le, "request %d", i+1)
				assert.Equal(t, tt.wantKind, le.Kind)
			}
		})
	}
}

func TestLoopGuardConversationsAreIndependent(t *testing.T) {
	t.Parallel()
	g := newLoopGuard(LoopGuardConfig{})
	k := key("chat", "k", "")
	reserveEach(t, g, "c1", k, k, k, k, k, k, k, k)
	reserveEach(t, g, "c1", distinctKeys("a", 12)...)
	require.ErrorIs(t, g.reserve("c1", []string{k}), ErrLoopLimit)
	require.ErrorIs(t, g.reserve("c1", []string{key("chat", "other", "")}), ErrLoopLimit)

	reserveEach(t, g, "c2", k, k, k, k, k, k, k, k)
	reserveEach(t, g, "c2", distinctKeys("a", 12)...)
	g.reset("c2")
	require.NoError(t, g.reserve("c2", []string{key("chat", "other", "")}))
	require.ErrorIs(t, g.reserve("c1", []string{key("chat", "other", "")}), ErrLoopLimit, "c2's reset leaves c1 alone")
}

func TestLoopGuardMemoryBound(t *testing.T) {
	t.Parallel()
	const max = 100
	k := key("chat", "k", "")
	eight := []string{k, k, k, k, k, k, k, k}
	conv := func(i int) string { return "conv-" + strconv.Itoa(i) }

	t.Run("never more than MaxConversations", func(t *testing.T) {
		g := newLoopGuard(LoopGuardConfig{MaxConversations: max})
		for i := range 2 * max {
			require.NoError(t, g.reserve(conv(i), []string{k}))
			require.LessOrEqual(t, g.tracked(), max)
		}
		assert.Equal(t, max, g.tracked())
	})

	t.Run("least recently used is forgotten first", func(t *testing.T) {
		g := newLoopGuard(LoopGuardConfig{MaxConversations: max})
		require.NoError(t, g.reserve("hot", eight))
		for i := range max - 1 {
			require.NoError(t, g.reserve(conv(i), []string{k}))
		}
		require.NoError(t, g.reserve("hot", []string{key("chat", "touch", "")})) // now most recent
		require.NoError(t, g.reserve(conv(max), []string{k}))                    // evicts conv-0
		assert.Equal(t, max, g.tracked())
		require.ErrorIs(t, g.reserve("hot", []string{k}), ErrLoopLimit, "hot is still tracked")

		for i := range max {
			require.NoError(t, g.reserve(conv(1000+i), []string{k}))
		}
		// Documented cost of the bound: a forgotten conversation starts over.
		require.NoError(t, g.reserve("hot", []string{k}))
	})

	t.Run("only what the windows need", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			g := newLoopGuard(LoopGuardConfig{})
			reserveEach(t, g, "c1", eight...)
			reserveEach(t, g, "c1", distinctKeys("a", 12)...)
			inspect := func() (sent, distinct, sinceReply int) {
				g.mu.Lock()
				defer g.mu.Unlock()
				c := g.convs["c1"]
				require.NotNil(t, c)
				assert.LessOrEqual(t, cap(c.sent), 2*len(c.sent)+16)
				assert.LessOrEqual(t, cap(c.sinceReply), 2*len(c.sinceReply)+16)
				return len(c.sent), len(c.identical), len(c.sinceReply)
			}
			sent, distinct, run := inspect()
			assert.Equal(t, []int{20, 13, 20}, []int{sent, distinct, run})

			time.Sleep(3 * time.Minute) // identical window over, consecutive not
			require.ErrorIs(t, g.reserve("c1", []string{key("chat", "x", "")}), ErrLoopLimit)
			sent, distinct, run = inspect()
			assert.Equal(t, []int{0, 0, 20}, []int{sent, distinct, run})

			time.Sleep(time.Hour) // both over
			require.NoError(t, g.reserve("c1", []string{key("chat", "x", "")}))
			sent, distinct, run = inspect()
			assert.Equal(t, []int{1, 1, 1}, []int{sent, distinct, run})

			g.reset("c1") // the identical record still counts
			assert.Equal(t, 1, g.tracked())
			time.Sleep(3 * time.Minute)
			g.reset("c1") // nothing left to count: forgotten
			assert.Equal(t, 0, g.tracked())
		})
	})
}

func TestLoopGuardConcurrentReserve(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		batch  func(g int) []string
		wantOK int
	}{
		{"identical", func(int) []string { return []string{key("chat", "same", "")} }, 8},
		{"consecutive", func(g int) []string { return []string{key("chat", strconv.Itoa(g), "")} }, 20},
		{"batches of three", func(g int) []string { return distinctKeys(strconv.Itoa(g)+"-", 3) }, 6},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			g := newLoopGuard(LoopGuardConfig{})
			var ok, refused atomic.Int64
			var wg sync.WaitGroup
			for i := range 64 {
				wg.Go(func() {
					for c := range 4 {
						conv := "c" + strconv.Itoa(c)
						err := g.reserve(conv, tt.batch(i))
						if err == nil {
							ok.Add(1)
							continue
						}
						assert.ErrorIs(t, err, ErrLoopLimit)
						refused.Add(1)
						g.observe("other", "agent", "u", time.Time{}) // churn on another conversation
					}
				})
			}
			wg.Wait()
			assert.Equal(t, int64(4*tt.wantOK), ok.Load(), "per conversation exactly the limit passes")
			assert.Equal(t, int64(4*(64-tt.wantOK)), refused.Load())
		})
	}
}

func TestLoopGuardConcurrentMixed(t *testing.T) {
	t.Parallel()
	// Reserve, Observe, Reset and SetSelf together, for the race detector, on
	// a guard small enough to evict all the time.
	g := newLoopGuard(LoopGuardConfig{MaxConversations: 8})
	var wg sync.WaitGroup
	for i := range 32 {
		wg.Go(func() {
			for j := range 200 {
				conv := "c" + strconv.Itoa((i+j)%16)
				err := g.reserve(conv, []string{key("chat", strconv.Itoa(j%3), "")})
				if err != nil {
					assert.ErrorIs(t, err, ErrLoopLimit)
				}
				switch j % 7 {
				case 0:
					g.reset(conv)
				case 1:
					g.observe(conv, "contact", "u"+strconv.Itoa(i), time.Now())
				case 2:
					g.setSelf("u" + strconv.Itoa(i))
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, g.tracked(), 8)
}

func TestLoopGuardInput(t *testing.T) {
	t.Parallel()
	g := newLoopGuard(LoopGuardConfig{})
	err := g.reserve("", []string{"k"})
	require.ErrorIs(t, err, errNoConversationID)
	assert.NotErrorIs(t, err, ErrLoopLimit)
	require.ErrorIs(t, g.reserve("", nil), errNoConversationID)
	require.NoError(t, g.reserve("c1", nil))
	require.NoError(t, g.reserve("c1", []string{}))
	assert.Equal(t, 0, g.tracked(), "empty batches track nothing")

	var none *loopGuard
	assert.NoError(t, none.reserve("c1", []string{"k"}))
	assert.NotPanics(t, func() {
		none.reset("c1")
		none.observe("c1", "agent", "u", time.Time{})
		none.setSelf("u")
	})
}

func TestNewLoopGuardDefaults(t *testing.T) {
	t.Parallel()
	defaults := LoopGuardConfig{Identical: 8, IdenticalWindow: 3 * time.Minute, Consecutive: 20,
		ConsecutiveWindow: time.Hour, MaxConversations: 10000}
	tests := []struct {
		name string
		in   LoopGuardConfig
		want LoopGuardConfig
	}{
		{"zero", LoopGuardConfig{}, defaults},
		{"negative", LoopGuardConfig{Identical: -1, IdenticalWindow: -1, Consecutive: -1, ConsecutiveWindow: -1,
			MaxConversations: -1}, defaults},
		{"custom kept", LoopGuardConfig{Identical: 2, IdenticalWindow: time.Second, Consecutive: 3,
			ConsecutiveWindow: time.Minute, MaxConversations: 5},
			LoopGuardConfig{Identical: 2, IdenticalWindow: time.Second, Consecutive: 3,
				ConsecutiveWindow: time.Minute, MaxConversations: 5}},
		{"partly set", LoopGuardConfig{Consecutive: 5}, LoopGuardConfig{Identical: 8, IdenticalWindow: 3 * time.Minute,
			Consecutive: 5, ConsecutiveWindow: time.Hour, MaxConversations: 10000}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, newLoopGuard(tt.in).cfg)
		})
	}
}

func TestLoopGuardCustomLimits(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		g := newLoopGuard(LoopGuardConfig{Identical: 2, IdenticalWindow: 10 * time.Second, Consecutive: 3,
			ConsecutiveWindow: time.Minute})
		k := key("chat", "k", "")
		reserveEach(t, g, "c1", k, k)
		requireLoopErr(t, &LoopLimitError{ConversationID: "c1", Kind: LoopLimitIdentical, Max: 2,
			Window: 10 * time.Second, RetryAt: start.Add(10 * time.Second).Round(0)}, g.reserve("c1", []string{k}))
		reserveEach(t, g, "c1", key("chat", "other", ""))
		requireLoopErr(t, &LoopLimitError{ConversationID: "c1", Kind: LoopLimitConsecutive, Max: 3,
			Window: time.Minute, RetryAt: start.Add(time.Minute).Round(0)}, g.reserve("c1", []string{key("chat", "new", "")}))
	})
}

func TestLoopLimitErrorMessage(t *testing.T) {
	t.Parallel()
	at := time.Date(2026, 3, 4, 5, 6, 7, 0, time.FixedZone("CET", 3600))
	tests := []struct {
		name string
		err  *LoopLimitError
		want string
	}{
		{"identical", &LoopLimitError{ConversationID: "5bb0", Kind: LoopLimitIdentical, Max: 8, Window: 3 * time.Minute, RetryAt: at},
			"chatshipper: loop limit: conversation 5bb0: more than 8 identical messages in 3m0s; frees at 2026-03-04T04:06:07Z"},
		{"consecutive", &LoopLimitError{ConversationID: "5bb0", Kind: LoopLimitConsecutive, Max: 20, Window: time.Hour, RetryAt: at},
			"chatshipper: loop limit: conversation 5bb0: more than 20 consecutive messages in 1h0m0s; frees at 2026-03-04T04:06:07Z"},
		{"batch too large", &LoopLimitError{ConversationID: "5bb0", Kind: LoopLimitIdentical, Max: 8, Window: 3 * time.Minute},
			"chatshipper: loop limit: conversation 5bb0: more than 8 identical messages in 3m0s; the batch alone exceeds the limit"},
		{"server, classified", &LoopLimitError{ConversationID: "5bb0", Kind: LoopLimitConsecutive, Max: 20, Window: time.Hour,
			RetryAt: at, FromServer: true, Message: "Loop limit: more than 20 consecutive messages in an hour"},
			"chatshipper: loop limit: conversation 5bb0: more than 20 consecutive messages in 1h0m0s; frees at 2026-03-04T04:06:07Z; " +
				"server said: Loop limit: more than 20 consecutive messages in an hour"},
		{"server, bare", &LoopLimitError{Kind: LoopLimitIdentical, FromServer: true, Message: "Loop limit"},
			"chatshipper: loop limit: too many identical messages; server said: Loop limit"},
		{"zero value", &LoopLimitError{}, "chatshipper: loop limit: too many bot messages"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, tt.err.Error())
			wrapped := fmt.Errorf("send: %w", tt.err)
			assert.ErrorIs(t, wrapped, ErrLoopLimit)
			assert.NotErrorIs(t, wrapped, errors.New("chatshipper: bot loop limit reached"))
			var le *LoopLimitError
			require.ErrorAs(t, wrapped, &le)
			assert.Same(t, tt.err, le)
		})
	}
}
