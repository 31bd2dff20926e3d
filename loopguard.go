package chatshipper

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrLoopLimit is matched (errors.Is) by every *LoopLimitError, whether the
// client's LoopGuard refused a send or the server answered 429 for a loop limit.
var ErrLoopLimit = errors.New("chatshipper: bot loop limit reached")

// LoopLimitKind names which of the server's two bot loop limits applies.
type LoopLimitKind string

// The two bot loop limits of the API (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting). Unknown kinds
// from future servers survive as plain strings.
const (
	// LoopLimitIdentical is the limit of 8 identical messages in one
	// conversation within 3 minutes (what identical means: see IdenticalBy).
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

// LoopGuardConfig sets the limits the loop guard enforces. A zero or negative
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
	// IdenticalBy is what makes two bot messages identical for the
	// Identical limit. The zero value, IdenticalByText, is the strictest
	// reading: see IdenticalBy.
	IdenticalBy IdenticalBy
	// MaxConversations bounds the memory of the default in-memory store:
	// beyond it the least recently used conversation is forgotten, and its
	// counts with it. It does not apply to a store set with
	// WithLoopGuardStore.
	MaxConversations int
}

// IdenticalBy says which parts of a bot message make it identical to another
// for the limit of identical messages. The API documentation limits bots to
// "8 identical messages in a single conversation within a 3-minute
// timespan" without saying what identical means
// (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting):
// a server may compare the text alone, the text and meta, or the type, text
// and meta. Each reading takes more messages for identical than the next, so
// the guard's default, IdenticalByText, refuses whatever any of them would
// block: it never lets a bot run into the server's hour-long block, at the
// cost of refusing, for a server that also compares meta or type, a ninth
// message with the same text but other meta or type within the window. A
// bot that knows its server's reading sets it in LoopGuardConfig. The
// delivery key (DeliveryKeyMeta) never counts, and an empty meta is no meta.
type IdenticalBy uint8

const (
	// IdenticalByText takes messages with the same text as identical,
	// whatever their type and meta (the default).
	IdenticalByText IdenticalBy = iota
	// IdenticalByTextMeta compares the text and the meta (as the server
	// reads the JSON back: key order and number spelling do not matter).
	IdenticalByTextMeta
	// IdenticalByTypeTextMeta compares the type (chat when empty), the text
	// and the meta.
	IdenticalByTypeTextMeta
)

// limits returns cfg's limits with the defaults applied.
func (cfg LoopGuardConfig) limits() LoopLimits {
	l := LoopLimits{cfg.Identical, cfg.IdenticalWindow, cfg.Consecutive, cfg.ConsecutiveWindow}
	if l.Identical <= 0 {
		l.Identical = defaultLoopIdentical
	}
	if l.IdenticalWindow <= 0 {
		l.IdenticalWindow = defaultLoopIdenticalWindow
	}
	if l.Consecutive <= 0 {
		l.Consecutive = defaultLoopConsecutive
	}
	if l.ConsecutiveWindow <= 0 {
		l.ConsecutiveWindow = defaultLoopConsecutiveWindow
	}
	return l
}

// loopGuardMode says when the guard applies.
type loopGuardMode uint8

const (
	loopGuardAuto loopGuardMode = iota // bot users only, learned from the token or the user record
	loopGuardOn                        // always
	loopGuardOff                       // never
)

// loopGuard is the client-side mirror of the server's bot loop limits: it
// refuses, before anything is sent, a batch of messages that the server would
// block for up to an hour. Its counts live in a LoopGuardStore, per bot user
// and conversation.
//
// Identical messages are counted over a sliding IdenticalWindow whatever
// happens in between; consecutive messages are counted over a sliding
// ConsecutiveWindow since the last reply. The guard only knows what passes
// through its store: messages sent by other processes under the same bot
// (with another store), and replies it is not told about, are not counted.
// A nil *loopGuard allows everything.
type loopGuard struct {
	mode      loopGuardMode
	limits    LoopLimits
	identical IdenticalBy
	store     LoopGuardStore

	lookup  sync.Mutex // one role lookup at a time
	mu      sync.Mutex
	role    roleState // what the client learned about its user's role
	roleTry time.Time // when a failed role lookup may be tried again
}

// roleState is what the guard knows about whether the client's user is a bot.
type roleState uint8

const (
	roleUnknown roleState = iota
	roleBot
	roleNotBot
	roleUndetermined // neither the token nor the user record tells: the guard applies
)

// newLoopGuard returns a guard enforcing cfg's limits with store (the
// in-memory store when nil).
func newLoopGuard(mode loopGuardMode, cfg LoopGuardConfig, store LoopGuardStore) *loopGuard {
	if mode == loopGuardOff {
		return nil
	}
	if store == nil {
		store = NewLoopGuardMemoryStore(cfg.MaxConversations)
	}
	return &loopGuard{mode: mode, limits: cfg.limits(), identical: cfg.IdenticalBy, store: store}
}
