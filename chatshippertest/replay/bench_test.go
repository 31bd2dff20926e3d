package replay_test

import (
	"context"
	"errors"
	"testing"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest/replay"
)

// BenchmarkReplayMiss measures how long a client call takes to fail on a
// request that was not recorded (fixtures loaded and client built included),
// and reports the attempts per call (the goal: well under 50 ms, one attempt).
//
//	go test -run '^$' -bench ReplayMiss -benchtime 2000x ./chatshippertest/replay
func BenchmarkReplayMiss(b *testing.B) {
	ctx := context.Background()
	cases := []struct {
		name string
		opts []chatshipper.Option
		call func(c *chatshipper.Client) error
	}{
		{"GET-no-retries", []chatshipper.Option{chatshipper.WithMaxRetries(0)}, func(c *chatshipper.Client) error {
			_, _, err := c.Conversations.List(ctx, chatshipper.NewQuery().Where("status", chatshipper.Eq("closed")).Sort("-createdAt").Limit(5))
			return err
		}},
		{"POST-default-options", nil, func(c *chatshipper.Client) error {
			_, _, err := c.Contacts.Create(ctx, &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Name: "Ada"}})
			return err
		}},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			// A fresh client per call: a client's rate limiter (20 per
			// second by default) would otherwise space the calls.
			attempts := 0
			for range b.N {
				rep, err := replay.NewReplayer(matchDir)
				if err != nil {
					b.Fatal(err)
				}
				opts := append([]chatshipper.Option{chatshipper.WithBaseURL(otherBase), chatshipper.WithHTTPClient(rep.Client())}, bc.opts...)
				c, err := chatshipper.NewClient("any-token", opts...)
				if err != nil {
					b.Fatal(err)
				}
				if err := bc.call(c); !errors.Is(err, replay.ErrNoFixture) {
					b.Fatalf("want ErrNoFixture, got %v", err)
				}
				attempts += rep.Calls()
			}
			b.ReportMetric(float64(attempts)/float64(b.N), "attempts/op")
		})
	}
}

// BenchmarkReplayHit measures a replayed call: match, decode, answer.
func BenchmarkReplayHit(b *testing.B) {
	ctx := context.Background()
	q := chatshipper.NewQuery().Where("status", chatshipper.Eq("active")).Sort("-createdAt").Limit(5)
	for range b.N {
		rep, err := replay.NewReplayer(matchDir)
		if err != nil {
			b.Fatal(err)
		}
		c, err := chatshipper.NewClient("any-token", chatshipper.WithBaseURL(otherBase), chatshipper.WithHTTPClient(rep.Client()), chatshipper.WithRateLimit(0))
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Conversations.List(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
}
