package chatshipper_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// diffStats counts what the differential test checked.
type diffStats struct {
	sequences, messages, refusedByGuard, acceptedByServer, unobserved int
}

// TestLoopGuardAgreesWithServer runs random sequences of sends against the
// fake server, with the guard on for the bot's client and set to the fake's
// default reading of "identical" (type, text and meta; TestPromises covers
// the other readings and the guard's stricter default), and checks that the
// guard refuses a batch exactly when the fake answers it with a loop-limit
// 429. Senders: the bot (bot messages, relayed contact messages, messages
// with role agent), and an agent through its own client, whose replies reach
// the bot as webhook events do (ObserveMessages). Outcomes: success, dial
// failure (never sent), 422 (refused before acting), 500 after acting and a
// lost answer after acting. Time moves inside a synctest bubble, sometimes by
// exactly a window.
//
// A batch holding a reply is never given a 5xx or a lost answer: the guard
// does not take such a reply as made (the server may not have acted), which
// makes it knowingly stricter than a server that did act
// (TestLoopGuardUnknownReplyIsNotAReset).
func TestLoopGuardAgreesWithServer(t *testing.T) {
	t.Parallel()
	configs := []struct {
		name   string
		cfg    chatshipper.LoopGuardConfig
		seqs   int
		maxGap time.Duration
	}{
		{"documented limits", chatshipper.LoopGuardConfig{IdenticalBy: chatshipper.IdenticalByTypeTextMeta}, 300, 40 * time.Second},
		{"small limits", chatshipper.LoopGuardConfig{Identical: 3, IdenticalWindow: 20 * time.Second,
			Consecutive: 5, ConsecutiveWindow: time.Minute, IdenticalBy: chatshipper.IdenticalByTypeTextMeta}, 2000, 8 * time.Second},
	}
	if testing.Short() || raceEnabled {
		for i := range configs {
			configs[i].seqs /= 10
		}
	}
	for _, cfg := range configs {
		t.Run(cfg.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				var st diffStats
				rng := rand.New(rand.NewPCG(16, uint64(len(cfg.name))))
				for st.sequences < cfg.seqs {
					runDiffServer(t, rng, cfg.cfg, cfg.maxGap, min(100, cfg.seqs-st.sequences), &st)
				}
				t.Logf("%s: %d sequences, %d messages checked (%d batches refused by the guard, each confirmed by a server 429; %d batches the server accepted; %d sends whose server answer was not observable: dial failures and 422s)",
					cfg.name, st.sequences, st.messages, st.refusedByGuard, st.acceptedByServer, st.unobserved)
			})
		})
	}
}

// runDiffServer runs n sequences on one fresh fake server.
func runDiffServer(t *testing.T, rng *rand.Rand, cfg chatshipper.LoopGuardConfig, maxGap time.Duration, n int, st *diffStats) {
	lim := cfg
	if lim.Identical == 0 {
		lim = chatshipper.LoopGuardConfig{Identical: 8, IdenticalWindow: 3 * time.Minute, Consecutive: 20, ConsecutiveWindow: time.Hour}
	}
	srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0),
		chatshippertest.WithSeed(rng.Int64()),
		chatshippertest.WithLoopLimits(lim.Identical, lim.IdenticalWindow, lim.Consecutive, lim.ConsecutiveWindow))
	bot, ds := loopClient(t, srv, srv.Token, chatshipper.WithLoopGuardConfig(cfg))
	oracle, _ := loopClient(t, srv, srv.Token, chatshipper.WithLoopGuard(false))
	agent, _ := loopClient(t, srv, srv.AgentToken)
	ctx := context.Background()

	texts := []string{"Are you still there?", "Are you still there?", "Sorry, I did not get that.", "/set step 1"}
	metas := []chatshipper.Meta{nil, nil, {"k": 1}, {"k": 1.0}, {"k": "1"}, {}}
	unique := 0
	message := func() chatshipper.MessageInput {
		var m chatshipper.MessageInput
		if rng.IntN(3) == 0 {
			unique++
			m = chatshipper.Chat(fmt.Sprintf("unique %d", unique))
		} else {
			m = chatshipper.Chat(texts[rng.IntN(len(texts))])
		}
		m.Meta = metas[rng.IntN(len(metas))]
		switch rng.IntN(10) {
		case 0:
			m = m.WithRole(chatshipper.RoleContact)
		case 1:
			m = m.WithRole(chatshipper.RoleAgent)
		}
		return m
	}
	batch := func(max int) []chatshipper.MessageInput {
		out := make([]chatshipper.MessageInput, 1+rng.IntN(max))
		for i := range out {
			out[i] = message()
		}
		return out
	}
	stored := func(id string) int {
		conv, ok := srv.Get("conversations", id)
		require.True(t, ok)
		msgs, _ := conv["messages"].([]any)
		return len(msgs)
	}
	// refused reports whether err is the guard's refusal; any other loop
	// limit error (the server's) fails the test.
	refused := func(err error) bool {
		var le *chatshipper.LoopLimitError
		if !errors.As(err, &le) {
			return false
		}
		require.False(t, le.FromServer, "the guard let through a batch the server refused: %v", err)
		return true
	}
	serverRefuses := func(err error) {
		var le *chatshipper.LoopLimitError
		require.ErrorAs(t, err, &le, "the guard refused a batch the server accepts")
		require.True(t, le.FromServer)
	}

	for range n {
		st.sequences++
		// A conversation created with initial messages.
		initial := batch(2 + lim.Identical)
		create := &chatshipper.ConversationCreate{Name: "diff", Messages: initial}
		conv, _, err := bot.Conversations.Create(ctx, create)
		st.messages += len(initial)
		if refused(err) {
			st.refusedByGuard++
			_, _, err = oracle.Conversations.Create(ctx, create)
			serverRefuses(err)
			conv, _, err = bot.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "diff"})
		} else {
			st.acceptedByServer++
		}
		require.NoError(t, err)
		id := conv.ID

		for range 5 + rng.IntN(30) {
			switch r := rng.IntN(20); {
			case r < 3: // time passes
				switch rng.IntN(4) {
				case 0:
					time.Sleep(lim.IdenticalWindow)
				case 1:
					time.Sleep(time.Millisecond)
				default:
					time.Sleep(time.Duration(rng.Int64N(int64(maxGap/time.Millisecond))) * time.Millisecond)
				}
			case r < 5: // an agent replies; the bot hears of it as of a webhook event
				msgs, _, err := agent.Conversations.Send(ctx, id, chatshipper.Chat("An agent here"))
				require.NoError(t, err)
				bot.ObserveMessages(msgs...)
			default: // the bot sends a batch
				msgs := batch(3)
				hasReply := false
				for _, m := range msgs {
					hasReply = hasReply || m.Role == chatshipper.RoleContact || m.Role == chatshipper.RoleAgent
				}
				fault := rng.IntN(10)
				if hasReply && fault >= 8 {
					fault = 0
				}
				before := stored(id)
				path := "/v2/conversations/" + id
				switch fault {
				case 6:
					ds.down.Store(true)
				case 7:
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: path, Count: 1, Status: 422})
				case 8:
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: path, Count: 1, Status: 500, After: true})
				case 9:
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: path, Count: 1, Drop: chatshippertest.DropAfter})
				}
				_, _, err := bot.Conversations.Send(ctx, id, msgs...)
				ds.down.Store(false)
				st.messages += len(msgs)
				if refused(err) {
					srv.ClearFaults()
					require.Equal(t, before, stored(id), "a refused batch never reaches the server")
					st.refusedByGuard++
					_, _, err = oracle.Conversations.Send(ctx, id, msgs...)
					serverRefuses(err)
					continue
				}
				switch fault {
				case 6, 7:
					require.Error(t, err)
					require.Equal(t, before, stored(id), "nothing created")
					st.unobserved++
				case 8, 9:
					require.Error(t, err)
					require.Equal(t, before+len(msgs), stored(id), "the server acted on the batch (no loop 429)")
					st.acceptedByServer++
				default:
					require.NoError(t, err)
					require.Equal(t, before+len(msgs), stored(id))
					st.acceptedByServer++
				}
			}
		}
	}
}
