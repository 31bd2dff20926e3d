package webhook

import (
	"context"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// What reaches the handlers: event name patterns, the filters a handler can
// be registered with, the bot filters (own and bot messages) and duplicate
// suppression.

// eventPattern is a parsed pattern: its dot-separated words, where "*" stands
// for exactly one word and "**" for any number of words, none included.
type eventPattern []string

// parsePattern checks and splits a pattern. The platform's own subscription
// patterns use "*" as a whole word only, so "mess*" is refused rather than
// read as a prefix.
func parsePattern(p string) (eventPattern, error) {
	if p == "" {
		return nil, argError("pattern", "must not be empty")
	}
	words := strings.Split(p, ".")
	for i, w := range words {
		switch {
		case w == "":
			return nil, argError("pattern", "%q has an empty word at position %d", wire.Truncate(p, 64), i+1)
		case w == "*" || w == "**":
		case strings.Contains(w, "*"):
			return nil, argError("pattern", "%q: a wildcard must be a whole word (* or **), got %q", wire.Truncate(p, 64), wire.Truncate(w, 32))
		case strings.IndexFunc(w, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
			return nil, argError("pattern", "%q contains white space or control characters", wire.Truncate(p, 64))
		}
	}
	return eventPattern(words), nil
}

// match reports whether the event name's words match the pattern. "**" is
// handled like "*" in a file glob and "*" like "?", over words instead of
// characters: a single backtracking point keeps it O(len(p)*len(words)) even
// for names an attacker chose.
func (p eventPattern) match(words []string) bool {
	pi, wi := 0, 0
	star, mark := -1, 0
	for wi < len(words) {
		switch {
		case pi < len(p) && p[pi] == "**":
			star, mark = pi, wi
			pi++
		case pi < len(p) && (p[pi] == "*" || p[pi] == words[wi]):
			pi++
			wi++
		case star >= 0:
			// Let the last "**" swallow one more word and try again.
			pi = star + 1
			mark++
			wi = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == "**" {
		pi++
	}
	return pi == len(p)
}

// EventFilter narrows the events a handler registered with
// Handler.Handle receives: the handler runs only when every filter
// accepts the event. The constructors below check their arguments and keep
// the first problem in the value; Handle refuses such a filter. Build custom
// filters with FilterFunc.
type EventFilter struct {
	match func(*Event) bool
	err   error
}

// FilterFunc returns a filter that accepts the events for which fn returns
// true. fn must not modify the event.
func FilterFunc(fn func(e *Event) bool) EventFilter {
	if fn == nil {
		return EventFilter{err: argError("FilterFunc", "nil function")}
	}
	return EventFilter{match: fn}
}

// MessageRole accepts events whose data.message was written in one of roles
// (e.g. [chatshipper.RoleContact] for what consumers write). Events without a message are
// refused.
func MessageRole(roles ...chatshipper.Role) EventFilter {
	if len(roles) == 0 {
		return EventFilter{err: argError("MessageRole", "at least one role is required")}
	}
	roles = slices.Clone(roles)
	return EventFilter{match: func(e *Event) bool {
		return e.Data.Message != nil && slices.Contains(roles, e.Data.Message.Role)
	}}
}

// MessageTypes accepts events whose message has one of types (see
// Event.MessageType for how the type is found). Events without a message
// are refused.
func MessageTypes(types ...chatshipper.MessageType) EventFilter {
	if len(types) == 0 {
		return EventFilter{err: argError("MessageTypes", "at least one type is required")}
	}
	types = slices.Clone(types)
	return EventFilter{match: func(e *Event) bool {
		return e.Data.Message != nil && slices.Contains(types, e.MessageType())
	}}
}

// ConversationTypes accepts events whose conversation has one of types (see
// Event.ConversationType for how the type is found).
func ConversationTypes(types ...chatshipper.ConversationType) EventFilter {
	if len(types) == 0 {
		return EventFilter{err: argError("ConversationTypes", "at least one type is required")}
	}
	types = slices.Clone(types)
	return EventFilter{match: func(e *Event) bool {
		t := e.ConversationType()
		return t != "" && slices.Contains(types, t)
	}}
}

// MetaEquals accepts events whose message meta has key (a top-level key, dots
// included literally) equal to value. value is compared as JSON: 3, int64(3)
// and 3.0 are the same number. Events without a message are refused.
func MetaEquals(key string, value any) EventFilter {
	return metaFilter("MetaEquals", key, value, func(e *Event) chatshipper.Object {
		if e.Data.Message == nil {
			return chatshipper.Object{}
		}
		return e.Data.Message.Meta
	})
}

// ConversationMetaEquals is MetaEquals on data.conversation's meta (where bots
// usually keep their state). Events without a conversation are refused.
func ConversationMetaEquals(key string, value any) EventFilter {
	return metaFilter("ConversationMetaEquals", key, value, func(e *Event) chatshipper.Object {
		if e.Data.Conversation == nil {
			return chatshipper.Object{}
		}
		return e.Data.Conversation.Meta
	})
}

func metaFilter(name, key string, value any, meta func(*Event) chatshipper.Object) EventFilter {
	if key == "" {
		return EventFilter{err: argError(name, "empty key")}
	}
	want, err := normalizeJSONValue(value)
	if err != nil {
		return EventFilter{err: argError(name, "value for %q cannot be encoded as JSON: %v", wire.Truncate(key, 64), err)}
	}
	return EventFilter{match: func(e *Event) bool {
		got, ok := meta(e).Lookup(key)
		return ok && reflect.DeepEqual(got, want)
	}}
}

// normalizeJSONValue gives v the shape a decoded meta value has (float64,
// string, bool, nil, []any, map[string]any).
func normalizeJSONValue(v any) (any, error) {
	b, err := wire.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	if err := wire.Unmarshal(b, &out); err != nil {
		return nil, err
	}
	return out, nil
}

// OnText accepts chat and postback messages whose text is exactly text (for
// a postback, the text is the pressed button's payload). Nothing is trimmed.
func OnText(text string) EventFilter {
	if text == "" {
		return EventFilter{err: argError("OnText", "empty text")}
	}
	return textFilter(func(s string) bool { return s == text })
}

// OnTextFold is OnText ignoring case (Unicode case folding).
func OnTextFold(text string) EventFilter {
	if text == "" {
		return EventFilter{err: argError("OnTextFold", "empty text")}
	}
	return textFilter(func(s string) bool { return strings.EqualFold(s, text) })
}

// OnTextMatch accepts chat and postback messages whose text re matches
// (anchor the expression to match the whole text).
func OnTextMatch(re *regexp.Regexp) EventFilter {
	if re == nil {
		return EventFilter{err: argError("OnTextMatch", "nil regexp")}
	}
	return textFilter(re.MatchString)
}

// textFilter applies match to what a person typed or pressed: chat and
// postback messages only, so cards, commands and statuses never trigger.
func textFilter(match func(string) bool) EventFilter {
	return EventFilter{match: func(e *Event) bool {
		m := e.Data.Message
		if m == nil {
			return false
		}
		switch e.MessageType() {
		case chatshipper.MessageTypeChat, chatshipper.MessageTypePostback:
			return match(m.Text)
		}
		return false
	}}
}

// dropped applies the bot filters to new messages: the own user's messages
// (unless WithIncludeSelf) and, with WithSkipBots, every bot's.
// message.update, .delete and .error pass, so a bot still hears that its own
// message failed.
func (h *Handler) dropped(ctx context.Context, e *Event) bool {
	m := e.Data.Message
	if m == nil || !e.isMessageCreate() {
		return false
	}
	if h.skipBots && m.Role == chatshipper.RoleBot {
		return true
	}
	if h.includeSelf || m.User.ID == "" {
		return false
	}
	self := h.self(ctx)
	return self != "" && m.User.ID == self
}

// self returns the own user ID: the configured one, or the client's, looked up
// once it is needed and cached. While the lookup answers "" it is retried at
// most once a minute, and no message is dropped as the own.
func (h *Handler) self(ctx context.Context) string {
	if h.selfUser != "" {
		return h.selfUser
	}
	if h.selfLookup == nil {
		return ""
	}
	if id := h.selfID.Load(); id != nil {
		return *id
	}
	h.selfMu.Lock()
	defer h.selfMu.Unlock()
	if id := h.selfID.Load(); id != nil {
		return *id
	}
	now := time.Now()
	if !h.selfTried.IsZero() && now.Sub(h.selfTried) < selfRetryInterval {
		return ""
	}
	h.selfTried = now
	id := h.selfLookup(ctx)
	if id == "" {
		return ""
	}
	h.selfID.Store(&id)
	return id
}
