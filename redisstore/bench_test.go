package redisstore_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper/redisstore"
	"github.com/redis/go-redis/v9"
)

// countingHook counts the commands go-redis sends (one per script run).
type countingHook struct{ n *atomic.Int64 }

func (h countingHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h countingHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		h.n.Add(1)
		return next(ctx, cmd)
	}
}

func (h countingHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// BenchmarkLimiterWait measures the cost of one Wait against a local Redis
// when a slot is free (a limit no benchmark reaches), and reports the Redis
// round trips per Wait.
//
//	CHATSHIPPER_REDIS_ADDR=127.0.0.1:6390 go test -run '^$' -bench 'RedisPing|LimiterWait$' -benchtime 20000x -count 6 ./
func BenchmarkLimiterWait(b *testing.B) {
	rdb := newClient(b, redisAddr(b))
	var calls atomic.Int64
	rdb.AddHook(countingHook{&calls})
	l, err := redisstore.NewLimiter(rdb, uniqueName(b), redisstore.WithLimit(1<<30, time.Millisecond))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	if err := l.Wait(ctx); err != nil { // loads the script
		b.Fatal(err)
	}
	calls.Store(0)
	b.ResetTimer()
	for b.Loop() {
		if err := l.Wait(ctx); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(calls.Load())/float64(b.N), "roundtrips/op")
}

// BenchmarkRedisPing is the baseline: one PING round trip to the same Redis.
func BenchmarkRedisPing(b *testing.B) {
	rdb := newClient(b, redisAddr(b))
	ctx := b.Context()
	for b.Loop() {
		if err := rdb.Ping(ctx).Err(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkLimiterWaitContended measures Wait at the limit: 3 limiters
// (processes) × 8 goroutines share the default 20 grants per 1.025 s; it reports the Redis
// round trips per grant, the extra cost of queueing.
//
//	CHATSHIPPER_REDIS_ADDR=127.0.0.1:6390 go test -run '^$' -bench LimiterWaitContended -benchtime 200x ./
func BenchmarkLimiterWaitContended(b *testing.B) {
	addr := redisAddr(b)
	name := uniqueName(b)
	var calls atomic.Int64
	var ls []*redisstore.Limiter
	for range 3 {
		rdb := newClient(b, addr)
		rdb.AddHook(countingHook{&calls})
		l, err := redisstore.NewLimiter(rdb, name, redisstore.WithLimit(20, time.Second+25*time.Millisecond))
		if err != nil {
			b.Fatal(err)
		}
		ls = append(ls, l)
	}
	var left atomic.Int64
	left.Store(int64(b.N))
	calls.Store(0)
	b.ResetTimer()
	done := make(chan struct{})
	for i := range 24 {
		go func() {
			defer func() { done <- struct{}{} }()
			for left.Add(-1) >= 0 {
				if err := ls[i%3].Wait(b.Context()); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	for range 24 {
		<-done
	}
	b.ReportMetric(float64(calls.Load())/float64(b.N), "roundtrips/op")
}
