package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoopGuardMemoryBound(t *testing.T) {
	t.Parallel()
	const max = 100
	ctx := context.Background()
	s := NewLoopGuardMemoryStore(max)
	lim := LoopGuardConfig{}.limits()
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	eight := make([]LoopMessage, 8)
	for i := range eight {
		eight[i] = LoopMessage{Hash: "k"}
	}
	key := func(i int) LoopGuardKey { return LoopGuardKey{Bot: "b", Conversation: "conv-" + strconv.Itoa(i)} }
	for i := range 3 * max {
		require.NoError(t, s.Reserve(ctx, &LoopReservation{ID: strconv.Itoa(i), Key: key(i), At: at, Limits: lim, Messages: eight}))
		require.LessOrEqual(t, len(s.keys), max)
	}
	// The oldest were forgotten, the newest are still counted.
	require.NoError(t, s.Reserve(ctx, &LoopReservation{ID: "x", Key: key(0), At: at, Limits: lim, Messages: eight[:1]}))
	require.ErrorIs(t, s.Reserve(ctx, &LoopReservation{ID: "y", Key: key(3*max - 1), At: at, Limits: lim, Messages: eight[:1]}), ErrLoopLimit)

	// Entries that no longer count are dropped, and a key with none left goes.
	later := at.Add(lim.ConsecutiveWindow)
	require.NoError(t, s.Reserve(ctx, &LoopReservation{ID: "z", Key: key(3*max - 1), At: later, Limits: lim, Messages: eight[:1]}))
	k := s.getLocked(key(3*max - 1))
	require.NotNil(t, k)
	assert.Len(t, k.identical, 1)
	assert.Len(t, k.consecutive, 1)
	require.NoError(t, s.Release(ctx, &LoopReservation{ID: "z", Key: key(3*max - 1)}))
	assert.NotContains(t, s.keys, key(3*max-1))
	assert.Equal(t, len(s.keys), s.lru.Len(), "the LRU list holds exactly the keys")
	for e := s.lru.Front(); e != nil; e = e.Next() {
		assert.Same(t, e, s.keys[e.Value.(*memKey).key])
	}
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
