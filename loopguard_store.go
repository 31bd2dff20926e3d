package chatshipper

import (
	"container/list"
	"context"
	"slices"
	"sync"
	"time"
)

// LoopGuardKey names the counts a LoopGuardStore keeps: those of one bot user
// in one conversation. The API counts its bot loop limits per bot and per
// conversation (https://developers.chatshipper.com/docs/api-introduction,
// Rate Limiting).
type LoopGuardKey struct {
	// Bot is the bot user's ID; empty when the client cannot tell its own
	// user and the guard was forced on.
	Bot string
	// Conversation is the conversation's ID.
	Conversation string
}

// LoopLimits are the limits a LoopGuardStore enforces in a Reserve call:
// LoopGuardConfig with its defaults applied. Every field is positive.
type LoopLimits struct {
	// Identical is how many messages with the same content hash may be
	// counted within IdenticalWindow.
	Identical int
	// IdenticalWindow is how long an identical entry counts.
	IdenticalWindow time.Duration
	// Consecutive is how many messages may be counted within
	// ConsecutiveWindow since the last reply.
	Consecutive int
	// ConsecutiveWindow is how long a consecutive entry counts.
	ConsecutiveWindow time.Duration
}

// LoopMessage is one message of a LoopReservation.
type LoopMessage struct {
	// Hash identifies a bot message's content (type, text and meta): two
	// messages are identical exactly when their hashes are equal. It is an
	// opaque string of at most 64 bytes, the same in every process. Empty for
	// a reply.
	Hash string
	// Reply marks a message sent with role agent or contact: it is not
	// counted, and it resets the consecutive count for the messages after it.
	Reply bool
}

// LoopReservation is one batch of messages to one conversation, checked and
// recorded together by [LoopGuardStore.Reserve] and undone together by
// [LoopGuardStore.Release].
type LoopReservation struct {
	// ID is unique per reservation (128 random bits, hex encoded); the
	// store tags the entries it records with it.
	ID string
	// Key says whose counts the batch goes to.
	Key LoopGuardKey
	// At is when the batch is sent: every entry is recorded at this time and
	// the windows are measured from it.
	At time.Time
	// Limits are the limits to check the batch against.
	Limits LoopLimits
	// Messages is the batch in the order the server processes it.
	Messages []LoopMessage
	// Force records the batch without checking it: the server has already
	// created the messages (the initial messages of a created conversation).
	Force bool
}

// LoopGuardStore keeps the loop guard's counts: in memory by default
// ([NewLoopGuardMemoryStore]), or somewhere several processes share (a
// key-value server) so that every process sending as the same bot sees the
// same counts. Set one with [WithLoopGuardStore].
//
// A store keeps, per [LoopGuardKey], two kinds of entries, each recorded at a
// time t and tagged with the ID of the reservation that recorded it:
// identical entries (one per counted message, carrying its hash) and
// consecutive entries (one per counted message since the last reply). An
// entry recorded at t counts at time now while now < t+window (the
// identical window for identical entries, the consecutive window for
// consecutive ones): at exactly t+window it no longer counts, and from then
// on the store may delete it, so entries expire and a key none of whose
// entries counts can be dropped whole.
//
// Each method is one atomic step: concurrent calls for the same key must
// behave as if run one after another. Each can be done in one round trip
// (for example one server-side script), since everything a method needs is in
// its arguments. A store measures windows with the times it is given (At and
// at, the clock of the calling process), not with a clock of its own, so
// processes that share a store should keep their clocks synchronized.
//
// A store is safe for concurrent use. Errors other than *LoopLimitError from
// Reserve refuse the send (nothing is sent); errors from Release and Reset are
// ignored by the guard, which leaves it stricter than the server, never more
// lenient. [github.com/go-chatshipper/chatshipper/loopguardtest.Run] checks an
// implementation against this contract.
type LoopGuardStore interface {
	// Reserve checks the batch r against r.Limits at r.At and, only when the
	// whole batch fits, records it. Walking r.Messages in order, starting
	// from the entries of r.Key that count at r.At: a reply sets the running
	// consecutive count to 0; any other message adds 1 to the count of its
	// hash and 1 to the running consecutive count, and the batch fits when
	// no hash count exceeds Limits.Identical and the running count never
	// exceeds Limits.Consecutive. When it fits, Reserve records, tagged r.ID
	// at r.At, an identical entry for every non-reply message and a
	// consecutive entry for every non-reply message after the batch's last
	// reply (all of them when it has none), and returns nil. Otherwise it
	// records nothing and returns a *LoopLimitError with ConversationID,
	// Kind, Max and Window set, for the broken limit that frees last, and
	// RetryAt: when enough counted entries have expired for the batch to fit
	// (zero when the batch could never fit, or for a consecutive limit broken
	// after a reply inside the batch). With r.Force it records the batch
	// the same way without checking and returns nil.
	Reserve(ctx context.Context, r *LoopReservation) error
	// Release deletes every entry r recorded: the server provably did not
	// create r's messages. Releasing a reservation that recorded nothing,
	// or twice, changes nothing.
	Release(ctx context.Context, r *LoopReservation) error
	// Reset records a reply in the conversation of key at time at: it
	// deletes the consecutive entries of key recorded at or before at,
	// except those tagged except (the reservation that carried the reply,
	// whose entries follow it; "" for none). Identical entries are kept: the
	// server counts identical messages across replies.
	Reset(ctx context.Context, key LoopGuardKey, at time.Time, except string) error
}

// LoopGuardMemoryStore is the in-memory [LoopGuardStore] the client uses by
// default. It remembers a bounded number of bot-and-conversation pairs,
// forgetting the least recently used beyond that, and only the entries that
// still count. Share one between several clients of the same bot in one
// process (with [WithLoopGuardStore]) so that they count together. It is safe
// for concurrent use.
type LoopGuardMemoryStore struct {
	mu   sync.Mutex
	max  int
	keys map[LoopGuardKey]*list.Element // each holding a *memKey
	lru  list.List                      // of *memKey, most recently used first
}

// NewLoopGuardMemoryStore returns a memory store that remembers at most
// maxKeys bot-and-conversation pairs (10,000 when maxKeys <= 0).
func NewLoopGuardMemoryStore(maxKeys int) *LoopGuardMemoryStore {
	if maxKeys <= 0 {
		maxKeys = defaultLoopMaxConversations
	}
	return &LoopGuardMemoryStore{max: maxKeys, keys: make(map[LoopGuardKey]*list.Element)}
}

var _ LoopGuardStore = (*LoopGuardMemoryStore)(nil)

// memEntry is one counted message.
type memEntry struct {
	at   time.Time
	id   string // the reservation that recorded it
	hash string // identical entries only
}

// memKey is what the memory store keeps for one key.
type memKey struct {
	key         LoopGuardKey
	identical   []memEntry
	consecutive []memEntry
	// windows of the last Reserve, to prune by when no limits are at hand
	identicalWindow, consecutiveWindow time.Duration
}

// counts reports whether an entry recorded at t counts at now.
func counts(t, now time.Time, window time.Duration) bool {
	return now.Before(t.Add(window))
}

// Reserve implements [LoopGuardStore.Reserve].
func (s *LoopGuardMemoryStore) Reserve(_ context.Context, r *LoopReservation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.getLocked(r.Key)
	var ident, consec []memEntry
	if k != nil {
		k.identicalWindow, k.consecutiveWindow = r.Limits.IdenticalWindow, r.Limits.ConsecutiveWindow
		s.pruneLocked(k, r.At)
		for _, e := range k.identical {
			if counts(e.at, r.At, r.Limits.IdenticalWindow) {
				ident = append(ident, e)
			}
		}
		for _, e := range k.consecutive {
			if counts(e.at, r.At, r.Limits.ConsecutiveWindow) {
				consec = append(consec, e)
			}
		}
	}
	if !r.Force {
		if err := checkLoopBatch(r, ident, consec); err != nil {
			return err
		}
	}
	lastReply := -1
	for i, m := range r.Messages {
		if m.Reply {
			lastReply = i
		}
	}
	if k == nil {
		k = s.addLocked(r.Key)
		k.identicalWindow, k.consecutiveWindow = r.Limits.IdenticalWindow, r.Limits.ConsecutiveWindow
	} else {
		s.lru.MoveToFront(s.keys[r.Key])
	}
	for i, m := range r.Messages {
		if m.Reply {
			continue
		}
		k.identical = append(k.identical, memEntry{at: r.At, id: r.ID, hash: m.Hash})
		if i > lastReply {
			k.consecutive = append(k.consecutive, memEntry{at: r.At, id: r.ID})
		}
	}
	return nil
}

// checkLoopBatch applies the Reserve rule of LoopGuardStore to the entries
// that count (ident, consec), returning the error for the limit that frees
// last, or nil.
func checkLoopBatch(r *LoopReservation, ident, consec []memEntry) error {
	lim := r.Limits
	var worst *LoopLimitError
	consider := func(e *LoopLimitError) {
		switch {
		case worst == nil:
			worst = e
		case worst.RetryAt.IsZero():
		case e.RetryAt.IsZero() || e.RetryAt.After(worst.RetryAt):
			worst = e
		}
	}
	// Identical: replies do not matter.
	seen := map[string]bool{}
	for _, m := range r.Messages {
		if m.Reply || seen[m.Hash] {
			continue
		}
		seen[m.Hash] = true
		inBatch := 0
		for _, o := range r.Messages {
			if !o.Reply && o.Hash == m.Hash {
				inBatch++
			}
		}
		var times []time.Time
		for _, e := range ident {
			if e.hash == m.Hash {
				times = append(times, e.at)
			}
		}
		if len(times)+inBatch <= lim.Identical {
			continue
		}
		e := &LoopLimitError{ConversationID: r.Key.Conversation, Kind: LoopLimitIdentical, Max: lim.Identical, Window: lim.IdenticalWindow}
		if inBatch <= lim.Identical {
			slices.SortFunc(times, time.Time.Compare)
			need := len(times) + inBatch - lim.Identical
			e.RetryAt = times[need-1].Add(lim.IdenticalWindow)
		}
		consider(e)
	}
	// Consecutive: the segment before the first reply adds to the counted
	// entries; each later segment stands alone.
	run, first := len(consec), true
	for i := 0; i <= len(r.Messages); i++ {
		if i < len(r.Messages) && !r.Messages[i].Reply {
			run++
			continue
		}
		if run > lim.Consecutive {
			e := &LoopLimitError{ConversationID: r.Key.Conversation, Kind: LoopLimitConsecutive, Max: lim.Consecutive, Window: lim.ConsecutiveWindow}
			if first && run-len(consec) <= lim.Consecutive {
				times := make([]time.Time, len(consec))
				for j, c := range consec {
					times[j] = c.at
				}
				slices.SortFunc(times, time.Time.Compare)
				e.RetryAt = times[run-lim.Consecutive-1].Add(lim.ConsecutiveWindow)
			}
			consider(e)
		}
		run, first = 0, false
	}
	if worst == nil {
		return nil
	}
	return worst
}

// Release implements [LoopGuardStore.Release].
func (s *LoopGuardMemoryStore) Release(_ context.Context, r *LoopReservation) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.getLocked(r.Key)
	if k == nil {
		return nil
	}
	mine := func(e memEntry) bool { return e.id == r.ID }
	k.identical = slices.DeleteFunc(k.identical, mine)
	k.consecutive = slices.DeleteFunc(k.consecutive, mine)
	s.dropIfEmptyLocked(k)
	return nil
}

// Reset implements [LoopGuardStore.Reset].
func (s *LoopGuardMemoryStore) Reset(_ context.Context, key LoopGuardKey, at time.Time, except string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := s.getLocked(key)
	if k == nil {
		return nil
	}
	k.consecutive = slices.DeleteFunc(k.consecutive, func(e memEntry) bool {
		return !e.at.After(at) && (except == "" || e.id != except)
	})
	s.dropIfEmptyLocked(k)
	return nil
}

// pruneLocked deletes the entries of k that no longer count at now (nor at
// any later time).
func (s *LoopGuardMemoryStore) pruneLocked(k *memKey, now time.Time) {
	k.identical = shrink(slices.DeleteFunc(k.identical, func(e memEntry) bool {
		return !now.Before(e.at.Add(k.identicalWindow))
	}))
	k.consecutive = shrink(slices.DeleteFunc(k.consecutive, func(e memEntry) bool {
		return !now.Before(e.at.Add(k.consecutiveWindow))
	}))
}

func (s *LoopGuardMemoryStore) dropIfEmptyLocked(k *memKey) {
	k.identical, k.consecutive = shrink(k.identical), shrink(k.consecutive)
	if len(k.identical) == 0 && len(k.consecutive) == 0 {
		s.lru.Remove(s.keys[k.key])
		delete(s.keys, k.key)
	}
}

// shrink returns s, copied into a smaller array when most of its backing array
// is dead, so a conversation that was busy once does not keep its peak memory.
func shrink[T any](s []T) []T {
	if len(s) == 0 {
		return nil
	}
	if cap(s) > 2*len(s)+16 {
		return slices.Clone(s)
	}
	return s
}

// getLocked returns what the store keeps for key, or nil.
func (s *LoopGuardMemoryStore) getLocked(key LoopGuardKey) *memKey {
	if e := s.keys[key]; e != nil {
		return e.Value.(*memKey)
	}
	return nil
}

// addLocked starts tracking key as the most recently used, forgetting the
// least recently used one beyond max.
func (s *LoopGuardMemoryStore) addLocked(key LoopGuardKey) *memKey {
	k := &memKey{key: key}
	s.keys[key] = s.lru.PushFront(k)
	for len(s.keys) > s.max {
		oldest := s.lru.Back()
		s.lru.Remove(oldest)
		delete(s.keys, oldest.Value.(*memKey).key)
	}
	return k
}
