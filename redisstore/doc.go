// Package redisstore shares the ChatShipper client's request limit, its bot
// loop guard's counts and the webhook handler's duplicate check between
// processes through Redis, for a bot that runs as several replicas, or beside
// a batch job, with one token.
//
// It is a module of its own (github.com/go-chatshipper/chatshipper/redisstore),
// so only programs that import it depend on github.com/redis/go-redis/v9.
//
// # The request limit
//
// The server allows 20 requests per second per API key and per IP address
// (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting).
// Each process's own limiters keep their own counts, so three replicas send
// up to 60. A [Limiter] keeps one count in Redis for every process that uses
// the same name:
//
//	rdb := redis.NewClient(&redis.Options{Addr: "redis:6379"})
//	lim, err := redisstore.NewLimiter(rdb, redisstore.TokenName(token))
//	if err != nil { ... }
//	client, err := chatshipper.NewClient(token, chatshipper.WithLimiter(lim))
//
// The name says whose limit it is: [TokenName] derives one from the token's
// user ID (or a digest of an opaque token); the token itself never becomes a
// Redis key. For the limit per address, name a second limiter after the
// address the API sees, the public egress address ([IPName]; behind NAT the
// gateway's), and plug it in with [chatshipper.WithIPLimiter] in every
// process that leaves through it, whatever its key; it replaces the window
// the clients of one process share per API host:
//
//	ipLim, err := redisstore.NewLimiter(rdb, redisstore.IPName(netip.MustParseAddr("203.0.113.7")))
//	client, err := chatshipper.NewClient(token, chatshipper.WithLimiter(lim), chatshipper.WithIPLimiter(ipLim))
//
// By default it grants at most
// [chatshipper.DefaultRequestsPerSecond] requests in any sliding window of
// one second plus [chatshipper.DefaultRateLimitMargin], like the client's
// own limiter ([WithLimit] changes both).
//
// Each attempt to take a slot is one Lua script run in Redis, so the check
// and the grant are one atomic step, and every time is read from the Redis
// server's clock, so the processes need no common clock. The script keeps
// the grants of the last window in a sorted set, the callers waiting in a
// queue in the order they first asked, and answers a caller that must wait
// with the exact time its turn can come, so a waiting caller asks about
// twice per request and callers of every process are served in turn; none
// starves. Grants are spaced by at least window/(4n), so a full window of
// requests does not reach the server in one burst. The client takes its
// slots with [Limiter.Acquire] ([chatshipper.SlotLimiter]): when the
// request has ended, its grant is moved to that moment, so every process
// counts it from then and the limit holds at the server however late the
// request left (a grant whose request outlasts the window is not held past
// it, so a process that dies holds nothing). Wait honours its
// context; a caller that gives up leaves the queue, and a waiter whose
// process died is dropped after its turn plus a grace time. When the server
// answers 429 with Retry-After, the client calls [Limiter.Pause], which
// stores the pause in Redis: every process backs off, not only the refused
// one. Every key expires, at the latest about a window after the last use,
// except a small marker, kept for a day.
//
// # When the keys vanish
//
// A FLUSHALL, an eviction or a Redis restart (without persistence, or from
// a snapshot older than the last grants, or a failover to a replica behind
// its primary) forgets the grants of the last window, and a window that
// looks empty would grant a second full one at once. The marker, the time of
// the newest grant, tells: when it is missing, when it is older than one
// this process saw, or when it names a grant inside the window while the
// grants are gone, the limiter grants nothing for one window, as if the
// window were full, and then goes on as usual. A first use cannot be told
// from lost keys, so a name used for the first time, or not for a day, also
// waits one window before its first grant.
//
// # When Redis is in trouble
//
// Every Redis call is bounded by a call timeout ([WithCallTimeout], default
// [DefaultCallTimeout]) and by the caller's context, so Redis never makes a
// caller wait past either. What happens then is a choice:
//
//   - Fail closed (the default): Wait returns an error matching
//     [ErrUnavailable] (a [*Error]) and no request is sent. The client
//     returns the error to its caller.
//   - Fall back ([WithFallback](n)): after Redis failed for two call
//     timeouts in a row, each process uses an in-process
//     [chatshipper.WindowLimiter] of n grants per window, which first grants
//     nothing for a window plus a call timeout (the grants Redis made before
//     it failed are then out of the window). Choose n as the limit divided by
//     the number of processes, so that together they stay within it. Once a
//     process reaches Redis again it records its fallback grants there and
//     holds the shared window, granting from Redis to nobody, for a probe
//     interval, a window and two call timeouts, while every process
//     returning records each fallback grant in Redis as it makes it and
//     stops using the fallback a call timeout before the hold ends; after
//     the hold, Redis knows every grant of the last window and decides alone
//     again.
//
// The fallback assumes that Redis fails for every process alike, as when it
// is down. If only some processes lose it while others still reach it, the
// two groups together may exceed the limit; the server then answers 429,
// the client waits as told and pauses its limiter: it is seen, never
// silent. Fail closed when that matters more than availability.
//
// # The bot loop limits
//
// The server refuses a bot's messages beyond its loop limits per bot and
// conversation (https://developers.chatshipper.com/docs/api-introduction,
// Rate Limiting); the client's loop guard refuses them before sending, from
// counts kept in memory by default. A [LoopGuardStore] keeps those counts in
// Redis, so every process sending as the same bot counts together:
//
//	store, err := redisstore.NewLoopGuardStore(rdb)
//	if err != nil { ... }
//	client, err := chatshipper.NewClient(token, chatshipper.WithLoopGuardStore(store))
//
// Each of Reserve, Release and Reset is one Lua script run on the two sorted
// sets of one bot and conversation, and both expire a window after their
// newest entry. As the interface requires, the windows are measured with the
// callers' clocks, so keep the processes' clocks synchronized. When Redis
// cannot answer, Reserve returns an error matching [ErrUnavailable] and the
// client refuses the send.
//
// # Webhook duplicates
//
// The platform retries a webhook delivery that failed or timed out
// (https://developers.web1on1.chat/webhooks/responding/), and with several
// replicas behind a load balancer the retry may land on another replica. A
// [Deduper] is a [webhook.Deduper] shared through Redis:
//
//	d, err := redisstore.NewDeduper(rdb, "my-bot-webhook")
//	if err != nil { ... }
//	h, err := webhook.NewHandler(webhook.WithSecret(secret), webhook.WithDeduper(d))
//
// Begin claims an event ID with SET NX and a lease ([WithLease], default
// [DefaultLease]): of two deliveries arriving at the same moment on two
// replicas, one claims it and runs the handlers, the other is told it is
// running (the handler answers 503 so the platform tries again later). A
// success marks the ID done for 24 hours ([WithDoneTTL]); a failure deletes
// the claim, so the platform's retry runs the event again. Begin returns
// the claim with its random token and Finish changes the ID only while it
// is still held under that token (a compare-and-set in one script): a
// delivery slower than its lease, whose ID a retry has claimed since, gets
// [ErrLeaseLost] and leaves the retry's claim alone, in the same process or
// another. A claim whose holder died ends with its lease, so a
// later retry is processed. When Redis cannot answer, Begin returns an error
// matching [ErrUnavailable] and the handler answers 503: the event is neither
// lost nor run twice.
//
// # Example
//
// The module's examples/bulk program runs the bulk sender as several
// processes sharing one Redis and one token against the fake server of
// [github.com/go-chatshipper/chatshipper/chatshippertest]:
//
//	cd redisstore && go run ./examples/bulk -redis 127.0.0.1:6379 -procs 3 -m 60
package redisstore
