package chatshipper

import (
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
	"strings"
	"sync"
	"time"
)

// ErrLoopLimit is matched (errors.Is) by every *LoopLimitError, whether the
// client's LoopGuard refused a send or the server answered 429 for a loop limit.
var ErrLoopLimit = errors.New("chatshipper: bot loop limit reached")

// errNoConversationID refuses a Reserve that names no conversation, since every
// loop limit is counted per conversation.
var errNoConversationID = errors.New("chatshipper: loop guard: empty conversation ID")

// LoopLimitKind names which of the server's two bot loop limits applies.
type LoopLimitKind string

// The two bot loop limits of the API (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting). Unknown kinds
// from future servers survive as plain strings.
const (
	// LoopLimitIdentical is the limit of 8 identical messages (same type,
	// text and meta) in one conversation within 3 minutes.
	LoopLimitIdentical LoopLimitKind = "identical"
	// LoopLimitConsecutive is the limit of 20 consecutive bot messages in
	// one conversation per hour, lifted when an agent or the contact replies.
	LoopLimitConsecutive LoopLimitKind = "consecutive"
)

// LoopLimitError reports that sending would break, or did break, a bot loop
// limit. Nothing of the refused batch was sent. It matches ErrLoopLimit.
type LoopLimitError struct {
	// ConversationID is the conversation the messages were meant for.
	ConversationID string
	// Kind says which limit applies.
	Kind LoopLimitKind
	// Max is the number of messages the limit allows (8 or 20 by default).
	Max int
	// Window is the span the limit counts over (3m or 1h by default).
	Window time.Duration
	// RetryAt is when the limit frees by itself: the oldest counted message
	// plus Window, or for a batch, when enough counted messages have aged out
	// for the whole batch to fit. For a consecutive limit a reply frees it
	// sooner. It is zero when unknown, and when the batch alone holds more
	// than Max messages and so can never be sent as one batch.
	RetryAt time.Time
	// FromServer is true when the error maps a server 429 rather than a
	// refusal by the client's LoopGuard.
	FromServer bool
	// Message is the server's text when FromServer is true.
	Message string
}

// Error says which limit was hit and when it frees, for example
// "chatshipper: loop limit: conversation 5bb0...: more than 8 identical
// messages in 3m0s; frees at 2026-01-02T15:04:05Z".
func (e *LoopLimitError) Error() string {
	var b strings.Builder
	b.WriteString("chatshipper: loop limit")
	if e.ConversationID != "" {
		b.WriteString(": conversation ")
		b.WriteString(e.ConversationID)
	}
	kind := string(e.Kind)
	if kind == "" {
		kind = "bot"
	}
	if e.Max > 0 {
		fmt.Fprintf(&b, ": more than %d %s messages", e.Max, kind)
		if e.Window > 0 {
			fmt.Fprintf(&b, " in %s", e.Window)
		}
	} else {
		fmt.Fprintf(&b, ": too many %s messages", kind)
	}
	switch {
	case !e.RetryAt.IsZero():
		b.WriteString("; frees at ")
		b.WriteString(e.RetryAt.UTC().Format(time.RFC3339Nano))
	case !e.FromServer && e.Max > 0:
		b.WriteString("; the batch alone exceeds the limit")
	}
	if e.FromServer && e.Message != "" {
		b.WriteString("; server said: ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Is reports whether target is ErrLoopLimit.
func (e *LoopLimitError) Is(target error) bool { return target == ErrLoopLimit }

// Server defaults of the loop limits (https://developers.chatshipper.com/docs/api-introduction) and of the guard's memory bound.
const (
	defaultLoopIdentical         = 8
	defaultLoopIdenticalWindow   = 3 * time.Minute
	defaultLoopConsecutive       = 20
	defaultLoopConsecutiveWindow = time.Hour
	defaultLoopMaxConversations  = 10000
)

// LoopGuardConfig sets the limits a LoopGuard enforces. A zero or negative
// field takes the default: 8 identical messages in 3 minutes, 20 consecutive
// messages in an hour, 10,000 conversations tracked.
type LoopGuardConfig struct {
	// Identical is how many identical messages a conversation may receive
	// within IdenticalWindow.
	Identical int
	// IdenticalWindow is the span over which identical messages are counted.
	IdenticalWindow time.Duration
	// Consecutive is how many messages may be sent within ConsecutiveWindow
	// without a reply from an agent or the contact.
	Consecutive int
	// ConsecutiveWindow is the span over which consecutive messages are
	// counted.
	ConsecutiveWindow time.Duration
	// MaxConversations bounds memory: beyond it the least recently used
	// conversation is forgotten, and its counts with it.
	MaxConversations int
}

// LoopGuard is the client-side mirror of the server's bot loop limits: it
// refuses, before anything is sent, a batch of messages that the server would
// block for up to an hour. Counts are kept per conversation; the server applies
// these limits to bot users only.
//
// Identical messages are counted over a sliding IdenticalWindow whatever
// happens in between; consecutive messages are counted over a sliding
// ConsecutiveWindow since the last reply seen (Reset, Observe). The guard only
// knows what passes through it: messages sent by other processes under the same
// bot, and replies it is not told about, are not counted.
//
// A LoopGuard is safe for concurrent use. Memory is bounded by
// MaxConversations conversations, each holding only the messages its windows
// still count, and content keys are stored as fixed-size hashes whatever their
// length. A nil *loopGuard allows everything.
type loopGuard struct {
	mu     sync.Mutex
	cfg    LoopGuardConfig
	seeds  [2]maphash.Seed
	self   string
	convs  map[string]*loopConv
	newest *loopConv // LRU list, most recently used first
	oldest *loopConv
}

// contentKey is a 128-bit keyed hash of a caller's content key; with a random
// per-guard seed a false "identical" is out of practical reach.
type contentKey struct{ a, b uint64 }

// sentMessage is one message counted towards the identical limit.
type sentMessage struct {
	at  time.Time
	key contentKey
}

// loopConv is what a LoopGuard remembers about one conversation.
type loopConv struct {
	id           string
	newer, older *loopConv
	sent         []sentMessage      // within IdenticalWindow, oldest first
	identical    map[contentKey]int // counts of sent by key
	sinceReply   []time.Time        // within ConsecutiveWindow and after the last reply, oldest first
}

// newLoopGuard returns a guard enforcing cfg; zero fields take the defaults
// listed on LoopGuardConfig.
func newLoopGuard(cfg LoopGuardConfig) *loopGuard {
	if cfg.Identical <= 0 {
		cfg.Identical = defaultLoopIdentical
	}
	if cfg.IdenticalWindow <= 0 {
		cfg.IdenticalWindow = defaultLoopIdenticalWindow
	}
	if cfg.Consecutive <= 0 {
		cfg.Consecutive = defaultLoopConsecutive
	}
	if cfg.ConsecutiveWindow <= 0 {
		cfg.ConsecutiveWindow = defaultLoopConsecutiveWindow
	}
	if cfg.MaxConversations <= 0 {
		cfg.MaxConversations = defaultLoopMaxConversations
	}
	return &loopGuard{
		cfg:   cfg,
		seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()},
		convs: make(map[string]*loopConv),
	}
}

// Reserve checks a batch of messages about to be sent to one conversation and,
// when every limit allows the whole batch, records them as sent at time.Now().
// keys[i] identifies message i's content: two messages are identical when
// their type, text and meta are equal, and the caller computes keys to match.
//
// It is all-or-nothing: when any message would break a limit it records
// nothing and returns a *LoopLimitError; when several limits would break, the
// error names the one that frees last. An empty conversationID is refused with
// an error; an empty batch is allowed and records nothing.
func (g *loopGuard) reserve(conversationID string, keys []string) error {
	if g == nil {
		return nil
	}
	if conversationID == "" {
		return errNoConversationID
	}
	if len(keys) == 0 {
		return nil
	}
	var buf [8]contentKey
	hashed := buf[:0]
	for _, k := range keys {
		hashed = append(hashed, contentKey{maphash.String(g.seeds[0], k), maphash.String(g.seeds[1], k)})
	}
	now := time.Now()

	g.mu.Lock()
	defer g.mu.Unlock()
	c := g.convs[conversationID]
	if c != nil {
		g.pruneLocked(c, now)
	}
	if err := g.checkLocked(c, conversationID, hashed); err != nil {
		return err
	}
	if c == nil {
		c = g.addLocked(conversationID)
	} else {
		g.touchLocked(c)
	}
	if c.identical == nil {
		c.identical = make(map[contentKey]int)
	}
	for _, k := range hashed {
		c.sent = append(c.sent, sentMessage{at: now, key: k})
		c.identical[k]++
		c.sinceReply = append(c.sinceReply, now)
	}
	return nil
}

// checkLocked returns the error for the limit that frees last among those the
// batch would break, or nil. c may be nil for a conversation not tracked.
func (g *loopGuard) checkLocked(c *loopConv, id string, batch []contentKey) error {
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
	maxSame, sameWindow := g.cfg.Identical, g.cfg.IdenticalWindow
	for i, k := range batch {
		if slices.Index(batch[:i], k) >= 0 {
			continue // counted with its first occurrence
		}
		inBatch := 1
		for _, other := range batch[i+1:] {
			if other == k {
				inBatch++
			}
		}
		have := 0
		if c != nil {
			have = c.identical[k]
		}
		if have+inBatch <= maxSame {
			continue
		}
		e := &LoopLimitError{ConversationID: id, Kind: LoopLimitIdentical, Max: maxSame, Window: sameWindow}
		if inBatch <= maxSame {
			// The batch fits once the oldest (have+inBatch-maxSame)
			// messages with this key have left the window.
			need := have + inBatch - maxSame
			for _, m := range c.sent {
				if m.key == k {
					if need--; need == 0 {
						e.RetryAt = m.at.Add(sameWindow).Round(0)
						break
					}
				}
			}
		}
		consider(e)
	}

	maxRun, runWindow := g.cfg.Consecutive, g.cfg.ConsecutiveWindow
	have := 0
	if c != nil {
		have = len(c.sinceReply)
	}
	if have+len(batch) > maxRun {
		e := &LoopLimitError{ConversationID: id, Kind: LoopLimitConsecutive, Max: maxRun, Window: runWindow}
		if len(batch) <= maxRun {
			e.RetryAt = c.sinceReply[have+len(batch)-maxRun-1].Add(runWindow).Round(0)
		}
		consider(e)
	}
	if worst == nil {
		return nil
	}
	return worst
}

// Reset records that an agent or the contact replied in the conversation now,
// which sets its consecutive count back to zero. The identical count is not
// affected: the server keeps counting identical messages across replies.
// Call it for replies seen outside the SDK's own reads (for example a webhook
// event handled by your code); Observe does this for messages the SDK reads.
func (g *loopGuard) reset(conversationID string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if c := g.convs[conversationID]; c != nil {
		g.resetLocked(c, time.Time{})
	}
}

// Observe feeds the guard a message the SDK has read (a listing, a get, a
// populated conversation, a webhook). A message with role "agent" or
// "contact" from a user other than the client's own (see SetSelf) is a reply:
// it resets the consecutive count, but only for messages sent before its
// createdAt, so a reply older than our sends does not reset them. A zero
// createdAt means now. Other roles, and the client's own messages, change
// nothing.
//
// createdAt comes from the server's clock and is compared with this machine's;
// a skew between the two shifts which sends a reply resets by that much.
// Until SetSelf is called, every agent-role message counts as a reply,
// including the bot's own messages posted with role "agent".
func (g *loopGuard) observe(conversationID, role, userID string, createdAt time.Time) {
	if g == nil {
		return
	}
	if !strings.EqualFold(role, "agent") && !strings.EqualFold(role, "contact") {
		return
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.self != "" && userID == g.self {
		return
	}
	if c := g.convs[conversationID]; c != nil {
		g.resetLocked(c, createdAt)
	}
}

// SetSelf tells the guard the client's own user ID; messages from that user
// never count as replies in Observe.
func (g *loopGuard) setSelf(userID string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.self = userID
	g.mu.Unlock()
}

// resetLocked drops the consecutive sends made before replyAt (all of them when
// replyAt is zero), and forgets c when nothing of it is left to count.
func (g *loopGuard) resetLocked(c *loopConv, replyAt time.Time) {
	if replyAt.IsZero() {
		c.sinceReply = nil
	} else {
		i := 0
		for i < len(c.sinceReply) && c.sinceReply[i].Before(replyAt) {
			i++
		}
		c.sinceReply = shrink(c.sinceReply[i:])
	}
	g.pruneLocked(c, time.Now())
	if len(c.sent) == 0 && len(c.sinceReply) == 0 {
		g.removeLocked(c)
	}
}

// pruneLocked drops what has left both windows of c.
func (g *loopGuard) pruneLocked(c *loopConv, now time.Time) {
	i := 0
	for i < len(c.sent) && !c.sent[i].at.Add(g.cfg.IdenticalWindow).After(now) {
		k := c.sent[i].key
		if c.identical[k]--; c.identical[k] == 0 {
			delete(c.identical, k)
		}
		i++
	}
	if i > 0 {
		c.sent = shrink(c.sent[i:])
		if len(c.identical) == 0 {
			c.identical = nil // a map never shrinks; let it go
		}
	}
	j := 0
	for j < len(c.sinceReply) && !c.sinceReply[j].Add(g.cfg.ConsecutiveWindow).After(now) {
		j++
	}
	if j > 0 {
		c.sinceReply = shrink(c.sinceReply[j:])
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

// addLocked starts tracking id as the most recently used conversation,
// forgetting the least recently used one beyond MaxConversations.
func (g *loopGuard) addLocked(id string) *loopConv {
	c := &loopConv{id: id}
	g.convs[id] = c
	g.linkNewestLocked(c)
	for len(g.convs) > g.cfg.MaxConversations {
		g.removeLocked(g.oldest)
	}
	return c
}

func (g *loopGuard) touchLocked(c *loopConv) {
	if g.newest == c {
		return
	}
	g.unlinkLocked(c)
	g.linkNewestLocked(c)
}

func (g *loopGuard) removeLocked(c *loopConv) {
	g.unlinkLocked(c)
	delete(g.convs, c.id)
}

func (g *loopGuard) linkNewestLocked(c *loopConv) {
	c.older = g.newest
	if g.newest != nil {
		g.newest.newer = c
	}
	g.newest = c
	if g.oldest == nil {
		g.oldest = c
	}
}

func (g *loopGuard) unlinkLocked(c *loopConv) {
	if c.newer != nil {
		c.newer.older = c.older
	} else {
		g.newest = c.older
	}
	if c.older != nil {
		c.older.newer = c.newer
	} else {
		g.oldest = c.newer
	}
	c.newer, c.older = nil, nil
}
