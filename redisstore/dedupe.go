package redisstore

import (
	"context"
	"fmt"
	"sync"
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
// Begin claims the ID with SET NX and a lease ([WithLease]); if the holder
// dies before Finish, the claim ends with the lease and a later delivery is
// processed. Finish changes the claim only while it is still the caller's
// (a compare-and-delete on a random claim token). When Redis is unavailable,
// Begin returns an error matching [ErrUnavailable] and the webhook handler
// answers 503, so the platform delivers again later: nothing runs twice and
// nothing is lost. It is safe for concurrent use.
type Deduper struct {
	rdb         redis.Scripter
	prefix      string
	lease       time.Duration
	doneTTL     time.Duration
	callTimeout time.Duration

	mu     sync.Mutex
	claims map[string]claim // ID → this process's claim
}

type claim struct {
	token string
	at    time.Time
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
		claims:      make(map[string]claim),
	}, nil
}

// Begin claims id for this delivery ([webhook.DedupeNew]), or reports that
// another delivery holds it ([webhook.DedupeRunning]) or handled it
// ([webhook.DedupeDone]). A Redis failure returns an error matching
// [ErrUnavailable]; the caller's context ending returns its error.
func (d *Deduper) Begin(ctx context.Context, id string) (webhook.DedupeState, error) {
	token := "claim:" + randomID() + randomID()
	cctx, cancel := context.WithTimeout(ctx, d.callTimeout)
	defer cancel()
	res, err := beginScript.Run(cctx, d.rdb, []string{d.prefix + id}, token, d.lease.Milliseconds()).Int64()
	if err != nil {
		return webhook.DedupeNew, callError(ctx, "dedupe begin", err)
	}
	switch res {
	case 0:
		d.mu.Lock()
		d.sweepLocked()
		d.claims[id] = claim{token: token, at: time.Now()}
		d.mu.Unlock()
		return webhook.DedupeNew, nil
	case 2:
		return webhook.DedupeDone, nil
	}
	return webhook.DedupeRunning, nil
}

// Finish settles this process's claim on id: ok marks the ID done for the
// done TTL, !ok deletes the claim so that a retry runs again. It changes
// nothing that another delivery holds, and then returns [ErrLeaseLost].
func (d *Deduper) Finish(ctx context.Context, id string, ok bool) error {
	d.mu.Lock()
	c := d.claims[id]
	delete(d.claims, id)
	d.mu.Unlock()
	flag := "0"
	if ok {
		flag = "1"
	}
	cctx, cancel := context.WithTimeout(ctx, d.callTimeout)
	defer cancel()
	res, err := finishScript.Run(cctx, d.rdb, []string{d.prefix + id}, c.token, flag, d.doneTTL.Milliseconds()).Int64()
	if err != nil {
		return callError(ctx, "dedupe finish", err)
	}
	if res == 0 {
		return fmt.Errorf("redisstore: dedupe finish: %w", ErrLeaseLost)
	}
	return nil
}

// sweepLocked forgets local claims whose lease ended long ago (a Begin
// without Finish), so the map stays bounded.
func (d *Deduper) sweepLocked() {
	if len(d.claims) < 1024 {
		return
	}
	cut := time.Now().Add(-2 * d.lease)
	for id, c := range d.claims {
		if c.at.Before(cut) {
			delete(d.claims, id)
		}
	}
}
