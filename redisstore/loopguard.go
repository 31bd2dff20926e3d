package redisstore

import (
	"context"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/redis/go-redis/v9"
)

// Loop guard entries live in two sorted sets per bot and conversation, scored
// by the time they were recorded (µs since the Unix epoch, the caller's
// clock): ident members are "<reservation>|<index>|<hash>", consec members
// "<reservation>|<index>". Both sets expire a window after their newest
// entry.

// loopPrelude is shared by the loop scripts: s formats a score without
// losing digits; expire sets a key's TTL to the window after its newest
// entry (measured from at), never shortening it.
const loopPrelude = `
local function s(x) return string.format('%.0f', x) end
local function expire(key, at, window)
  local newest = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if #newest == 0 then return end
  local ttl = math.floor((tonumber(newest[2]) - at + window) / 1000) + 1
  if ttl < 1 then ttl = 1 end
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`

// loopReserveScript implements LoopGuardStore.Reserve.
// KEYS: ident, consec. ARGV: at, identical max, identical window, consecutive
// max, consecutive window (µs), force ("1"/"0"), reservation ID, then one
// argument per message: "R" for a reply, "M" and the hash otherwise.
// Returns {} when recorded, else {kind, max, window µs, retryAt µs or 0}.
var loopReserveScript = redis.NewScript(loopPrelude + `
local at = tonumber(ARGV[1])
local imax, iwin = tonumber(ARGV[2]), tonumber(ARGV[3])
local cmax, cwin = tonumber(ARGV[4]), tonumber(ARGV[5])
local force, id = ARGV[6] == '1', ARGV[7]
local msgs = {}
local lastReply = 0
for i = 8, #ARGV do
  local a = ARGV[i]
  if a == 'R' then
    msgs[#msgs + 1] = false
    lastReply = #msgs
  else
    msgs[#msgs + 1] = string.sub(a, 2)
  end
end

redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', s(at - iwin))
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', s(at - cwin))

if not force then
  local worst = nil
  local function consider(e)
    if worst == nil then worst = e
    elseif worst[4] == 0 then
    elseif e[4] == 0 or e[4] > worst[4] then worst = e end
  end
  -- identical: the counted times of each hash, oldest first
  local times = {}
  local ident = redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
  for i = 1, #ident, 2 do
    local m = ident[i]
    local p1 = string.find(m, '|', 1, true)
    local p2 = string.find(m, '|', p1 + 1, true)
    local h = string.sub(m, p2 + 1)
    if times[h] == nil then times[h] = {} end
    local list = times[h]
    list[#list + 1] = tonumber(ident[i + 1])
  end
  local seen = {}
  for _, h in ipairs(msgs) do
    if h and not seen[h] then
      seen[h] = true
      local inBatch = 0
      for _, o in ipairs(msgs) do if o == h then inBatch = inBatch + 1 end end
      local list = times[h] or {}
      if #list + inBatch > imax then
        local retry = 0
        if inBatch <= imax then retry = list[#list + inBatch - imax] + iwin end
        consider({'identical', imax, iwin, retry})
      end
    end
  end
  -- consecutive: the segment before the batch's first reply adds to the
  -- counted entries; each later segment stands alone
  local consec = redis.call('ZRANGE', KEYS[2], 0, -1, 'WITHSCORES')
  local counted = #consec / 2
  local run, first = counted, true
  for i = 1, #msgs + 1 do
    if i <= #msgs and msgs[i] then
      run = run + 1
    else
      if run > cmax then
        local retry = 0
        if first and run - counted <= cmax then
          retry = tonumber(consec[2 * (run - cmax)]) + cwin
        end
        consider({'consecutive', cmax, cwin, retry})
      end
      run, first = 0, false
    end
  end
  if worst then
    return {worst[1], s(worst[2]), s(worst[3]), s(worst[4])}
  end
end

local added = false
for i, h in ipairs(msgs) do
  if h then
    redis.call('ZADD', KEYS[1], s(at), id .. '|' .. i .. '|' .. h)
    if i > lastReply then redis.call('ZADD', KEYS[2], s(at), id .. '|' .. i) end
    added = true
  end
end
if added then
  expire(KEYS[1], at, iwin)
  expire(KEYS[2], at, cwin)
end
return {}
`)

// loopReleaseScript deletes every entry of a reservation.
// KEYS: ident, consec. ARGV: reservation ID.
var loopReleaseScript = redis.NewScript(`
local prefix = ARGV[1] .. '|'
for _, k in ipairs(KEYS) do
  for _, m in ipairs(redis.call('ZRANGE', k, 0, -1)) do
    if string.sub(m, 1, #prefix) == prefix then redis.call('ZREM', k, m) end
  end
end
return 1
`)

// loopResetScript deletes the consecutive entries recorded at or before at,
// except those of one reservation. KEYS: consec. ARGV: at µs, except ID.
var loopResetScript = redis.NewScript(`
local except = ARGV[2]
local prefix = except .. '|'
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])) do
  if except == '' or string.sub(m, 1, #prefix) ~= prefix then redis.call('ZREM', KEYS[1], m) end
end
return 1
`)

// LoopGuardStore is a [chatshipper.LoopGuardStore] shared through Redis: the
// loop guard's counts per bot and conversation are the same in every process
// that uses the same Redis (and key prefix), so that replicas sending as one
// bot together stay within the server's loop limits. Plug it in with
// [chatshipper.WithLoopGuardStore].
//
// Each method is one Lua script run on the keys of one bot and conversation,
// so it is atomic, and every key expires a window after its newest entry.
// Times are the callers' clocks, at microsecond resolution, as the
// interface requires: keep the processes' clocks synchronized. When Redis
// cannot answer within the call timeout, Reserve returns an error matching
// [ErrUnavailable] and the client refuses the send (fail closed). It is safe
// for concurrent use.
type LoopGuardStore struct {
	rdb         redis.Scripter
	prefix      string
	callTimeout time.Duration
}

var _ chatshipper.LoopGuardStore = (*LoopGuardStore)(nil)

// NewLoopGuardStore returns a [LoopGuardStore] on rdb (a *redis.Client,
// *redis.ClusterClient or *redis.Ring). Options: [WithCallTimeout],
// [WithKeyPrefix]; others are an argument error.
func NewLoopGuardStore(rdb redis.Scripter, opts ...Option) (*LoopGuardStore, error) {
	if rdb == nil {
		return nil, argError("rdb", "nil Redis client")
	}
	cfg, err := buildConfig(opts)
	if err != nil {
		return nil, err
	}
	def := defaultConfig()
	if cfg.limitSet || cfg.fallback != 0 || cfg.lease != def.lease || cfg.doneTTL != def.doneTTL {
		return nil, argError("opts", "only WithCallTimeout and WithKeyPrefix apply to NewLoopGuardStore")
	}
	return &LoopGuardStore{rdb: rdb, prefix: cfg.prefix + ":loop:", callTimeout: cfg.callTimeout}, nil
}

// keys returns the ident and consec keys of key, in one cluster hash slot.
func (s *LoopGuardStore) keys(key chatshipper.LoopGuardKey) []string {
	base := s.prefix + "{" + url.QueryEscape(key.Bot) + "|" + url.QueryEscape(key.Conversation) + "}:"
	return []string{base + "ident", base + "consec"}
}

// Reserve checks the batch against its limits and records it when it fits,
// as [chatshipper.LoopGuardStore] describes; a refusal is a
// [*chatshipper.LoopLimitError].
func (s *LoopGuardStore) Reserve(ctx context.Context, r *chatshipper.LoopReservation) error {
	if r == nil {
		return argError("r", "nil reservation")
	}
	force := "0"
	if r.Force {
		force = "1"
	}
	args := make([]any, 0, 7+len(r.Messages))
	args = append(args, r.At.UnixMicro(), r.Limits.Identical, r.Limits.IdenticalWindow.Microseconds(),
		r.Limits.Consecutive, r.Limits.ConsecutiveWindow.Microseconds(), force, r.ID)
	for _, m := range r.Messages {
		if m.Reply {
			args = append(args, "R")
		} else {
			args = append(args, "M"+m.Hash)
		}
	}
	cctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	res, err := loopReserveScript.Run(cctx, s.rdb, s.keys(r.Key), args...).StringSlice()
	if err != nil {
		return callError(ctx, "loop guard reserve", err)
	}
	if len(res) == 0 {
		return nil
	}
	if len(res) != 4 {
		return &Error{Op: "loop guard reserve", Err: fmt.Errorf("unexpected script reply %q", res)}
	}
	limit, _ := strconv.Atoi(res[1])
	window, _ := strconv.ParseInt(res[2], 10, 64)
	retry, _ := strconv.ParseInt(res[3], 10, 64)
	e := &chatshipper.LoopLimitError{
		ConversationID: r.Key.Conversation,
		Kind:           chatshipper.LoopLimitKind(res[0]),
		Max:            limit,
		Window:         time.Duration(window) * time.Microsecond,
	}
	if retry != 0 {
		e.RetryAt = time.UnixMicro(retry).In(r.At.Location())
	}
	return e
}

// Release deletes every entry r recorded.
func (s *LoopGuardStore) Release(ctx context.Context, r *chatshipper.LoopReservation) error {
	if r == nil {
		return argError("r", "nil reservation")
	}
	cctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	if err := loopReleaseScript.Run(cctx, s.rdb, s.keys(r.Key), r.ID).Err(); err != nil {
		return callError(ctx, "loop guard release", err)
	}
	return nil
}

// Reset deletes the consecutive entries of key recorded at or before at,
// except those of the reservation except.
func (s *LoopGuardStore) Reset(ctx context.Context, key chatshipper.LoopGuardKey, at time.Time, except string) error {
	cctx, cancel := context.WithTimeout(ctx, s.callTimeout)
	defer cancel()
	if err := loopResetScript.Run(cctx, s.rdb, s.keys(key)[1:], at.UnixMicro(), except).Err(); err != nil {
		return callError(ctx, "loop guard reset", err)
	}
	return nil
}
