package redisstore_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/loopguardtest"
	"github.com/go-chatshipper/chatshipper/redisstore"
	"github.com/redis/go-redis/v9"
)

// TestLoopGuardStoreContract runs the contract checks of loopguardtest
// against the Redis store; every subtest gets its own client, as a separate
// process would.
func TestLoopGuardStoreContract(t *testing.T) {
	addr := redisAddr(t)
	prefix := "test-loop-" + time.Now().Format("150405.000000")
	loopguardtest.Run(t, func(t *testing.T) chatshipper.LoopGuardStore {
		s, err := redisstore.NewLoopGuardStore(newClient(t, addr), redisstore.WithKeyPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestNewLoopGuardStoreArguments(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1"})
	defer rdb.Close()
	for _, tc := range []struct {
		name string
		rdb  redis.Scripter
		opts []redisstore.Option
	}{
		{"nil client", nil, nil},
		{"limiter option", rdb, []redisstore.Option{redisstore.WithLimit(5, time.Second)}},
		{"dedupe option", rdb, []redisstore.Option{redisstore.WithLease(time.Second)}},
	} {
		if _, err := redisstore.NewLoopGuardStore(tc.rdb, tc.opts...); !errors.Is(err, chatshipper.ErrInvalidArgument) {
			t.Errorf("%s: NewLoopGuardStore = %v, want an argument error", tc.name, err)
		}
	}
}

// TestLoopGuardStoreUnavailable: Reserve fails closed when Redis is down.
func TestLoopGuardStoreUnavailable(t *testing.T) {
	t.Parallel()
	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", MaxRetries: -1})
	defer rdb.Close()
	s, err := redisstore.NewLoopGuardStore(rdb, redisstore.WithCallTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	r := &chatshipper.LoopReservation{ID: "r1", Key: chatshipper.LoopGuardKey{Bot: "b", Conversation: "c"}, At: time.Now(),
		Limits:   chatshipper.LoopLimits{Identical: 8, IdenticalWindow: 3 * time.Minute, Consecutive: 20, ConsecutiveWindow: time.Hour},
		Messages: []chatshipper.LoopMessage{{Hash: "h"}}}
	if err := s.Reserve(t.Context(), r); !errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("Reserve = %v, want ErrUnavailable", err)
	}
}

// TestLoopGuardSharedBetweenClients: two clients of one bot (two processes)
// with their own Redis connections share the counts: after 20 messages in a
// conversation, 10 from each, the 21st is refused by the guard before it is
// sent, whichever client sends it.
func TestLoopGuardSharedBetweenClients(t *testing.T) {
	addr := redisAddr(t)
	srv := chatshippertest.NewServer(t)
	prefix := "test-loopshared-" + time.Now().Format("150405.000000")
	var clients [2]*chatshipper.Client
	for i := range clients {
		store, err := redisstore.NewLoopGuardStore(newClient(t, addr), redisstore.WithKeyPrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithLoopGuardStore(store))
		if err != nil {
			t.Fatal(err)
		}
		clients[i] = c
	}
	ctx := t.Context()
	conv, _, err := clients[0].Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "shared loop guard"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 20 {
		if _, _, err := clients[i%2].Conversations.Send(ctx, conv.ID, chatshipper.Chat(fmt.Sprintf("message %d", i))); err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
	}
	before := len(srv.Requests())
	for i, c := range clients {
		_, _, err := c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("one too many"))
		var le *chatshipper.LoopLimitError
		if !errors.As(err, &le) || le.FromServer || le.Kind != chatshipper.LoopLimitConsecutive {
			t.Fatalf("client %d: 21st message: %v, want the guard's consecutive *LoopLimitError", i, err)
		}
	}
	if after := len(srv.Requests()); after != before {
		t.Fatalf("%d requests reached the server after the limit, want 0", after-before)
	}
}
