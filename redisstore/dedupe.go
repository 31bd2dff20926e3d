package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/go-chatshipper/chatshipper/webhook"
	"github.com/redis/go-redis/v9"
)

// An event ID's key holds "done" once handled, or "claim:" and a random
// token while a delivery holds the claim.

// beginScript claims an event ID. KEYS: the ID's key. ARGV: claim token,
// lease ms. Returns 0 (claimed: new), 1 (claimed by another: running) or 2
// (done).
var beginScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
if redis.call('GET', KEYS[1]) == 'done' then return 2 end
return 1
`)

// finishScript settles a claim, only if it is still ours. KEYS: the ID's
// key. ARGV: claim token, "1" (success) or "0", done TTL ms.
// Returns 1 when settled, 0 when another delivery holds the claim now.
var finishScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if ARGV[2] == '1' then
  if v == ARGV[1] or v == false then
    redis.call('SET', KEYS[1], 'done', 'PX', ARGV[3])
    return 1
  end
  if v == 'done' then return 1 end
  return 0
end
if v == ARGV[1] then redis.call('DEL', KEYS[1]) end
if v == ARGV[1] or v == false or v == 'done' then return 1 end
return 0
`)

// Deduper is a [webhook.Deduper] shared through Redis by every replica that
// uses the same name: of the deliveries of one event ID, across replicas,
// exactly one runs the handlers; a success is remembered for the done TTL
// ([WithDoneTTL]), a failure forgotten so that the platform's retry runs
// again. Plug it in with [webhook.WithDeduper].
//
// Begin claims the ID with SET NX and a lease ([WithLease]) under a random
// claim token, which it returns in the [webhook.DedupeClaim]; if the holder
// dies before Finish, the claim ends with the lease and a later delivery is
// processed. Finish changes the ID only while it still holds that token (a
// compare-and-set, or compare-and-delete, in one script), so a delivery that
// outlived its lease cannot settle the claim of the retry that took the ID
// over, in this process or another. When Redis is unavailable, Begin returns
// an error matching [ErrUnavailable] and the webhook handler answers 503, so
// the platform delivers again later: nothing runs twice and nothing is lost.
// It is safe for concurrent use.
type Deduper struct {
	rdb         redis.Scripter
	prefix      string
	lease       time.Duration
	doneTTL     time.Duration
	callTimeout time.Duration
}

var _ webhook.Deduper = (*Deduper)(nil)

// NewDeduper returns a [Deduper] on rdb (a *redis.Client, *redis.ClusterClient
// or *redis.Ring) for the replicas that share name (for example the webhook's
// name). Each event ID is one key, which expires with its lease or done TTL.
//
// Options: [WithLease], [WithDoneTTL], [WithCallTimeout], [WithKeyPrefix].
// Bad arguments return a [*chatshipper.ArgumentError] without any Redis call.
func NewDeduper(rdb redis.Scripter, name string, opts ...Option) (*Deduper, error) {
	if rdb == nil {
		return nil, argError("rdb", "nil Redis client")
	}
	if err := validName("name", name); err != nil {
		return nil, err
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	if cfg.limitSet || cfg.fallback != 0 {
		return nil, argError("opts", "WithLimit and WithFallback apply to NewLimiter only")
	}
	return &Deduper{
		rdb:         rdb,
		prefix:      cfg.prefix + ":dedupe:" + name + ":",
		lease:       cfg.lease,
		doneTTL:     cfg.doneTTL,
		callTimeout: cfg.callTimeout,
	}, nil
}

// Begin claims id for this delivery (State [webhook.DedupeNew], with the
// claim's token), or reports that another delivery holds it
// ([webhook.DedupeRunning]) or handled it ([webhook.DedupeDone]). A Redis
// failure returns an error matching [ErrUnavailable]; the caller's context
// ending returns its error.
func (d *Deduper) Begin(ctx context.Context, id string) (webhook.DedupeClaim, error) {
	token := "claim:" + randomID() + randomID()
	cctx, cancel := context.WithTimeout(ctx, d.callTimeout)
	defer cancel()
	res, err := beginScript.Run(cctx, d.rdb, []string{d.prefix + id}, token, d.lease.Milliseconds()).Int64()
	if err != nil {
		return webhook.DedupeClaim{ID: id}, callError(ctx, "dedupe begin", err)
	}
	switch res {
	case 0:
		return webhook.DedupeClaim{ID: id, State: webhook.DedupeNew, Token: token}, nil
	case 2:
		return webhook.DedupeClaim{ID: id, State: webhook.DedupeDone}, nil
	}
	return webhook.DedupeClaim{ID: id, State: webhook.DedupeRunning}, nil
}

// Finish settles claim: ok marks its ID done for the done TTL, !ok deletes
// the claim so that a retry runs again, in both cases only while the ID is
// still held under the claim's token. When another delivery holds the ID
// now it changes nothing and returns an error matching [ErrLeaseLost] (which
// is [webhook.ErrClaimLost]). An ID whose claim ended and that nobody holds is
// marked done on ok (the handlers did run), left alone otherwise. A claim
// Begin did not grant is refused with a [*chatshipper.ArgumentError].
func (d *Deduper) Finish(ctx context.Context, claim webhook.DedupeClaim, ok bool) error {
	if claim.State != webhook.DedupeNew || claim.ID == "" || claim.Token == "" {
		return argError("claim", "not a claim granted by Begin (state %s)", claim.State)
	}
	flag := "0"
	if ok {
		flag = "1"
	}
	cctx, cancel := context.WithTimeout(ctx, d.callTimeout)
	defer cancel()
	res, err := finishScript.Run(cctx, d.rdb, []string{d.prefix + claim.ID}, claim.Token, flag, d.doneTTL.Milliseconds()).Int64()
	if err != nil {
		return callError(ctx, "dedupe finish", err)
	}
	if res == 0 {
		return fmt.Errorf("redisstore: dedupe finish: %w", ErrLeaseLost)
	}
	return nil
}
