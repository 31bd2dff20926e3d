package webhook

import (
	"context"
	"log/slog"
	"reflect"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// Option configures a Handler. NewHandler returns the first option error, a
// [*chatshipper.ArgumentError].
type Option func(*config) error

type config struct {
	secret      string
	hasSecret   bool
	maxBody     int64
	dedupe      int
	dedupeSet   bool
	deduper     Deduper
	workers     int
	queueSize   int
	onError     func(*Event, error)
	client      Client
	selfUser    string
	includeSelf bool
	skipBots    bool
	logger      *slog.Logger
	loggerSet   bool
	observer    Observer

	// bot features (bot.go)
	firstMatch   bool
	skipUnjoined bool
	noReplyKeys  bool
}

// Client is what a Handler uses of an API client: the bot's own user ID, for
// the self filter, and the loop guard, told of every message an event
// carries. A [*chatshipper.Client] satisfies it ([chatshipper.Client.SelfUserID],
// [chatshipper.Client.ObserveMessages]).
type Client interface {
	// SelfUserID returns the user ID of the token's own user, or an error
	// when it cannot tell.
	SelfUserID(ctx context.Context) (string, error)
	// ObserveMessages tells the client about messages seen in events.
	ObserveMessages(msgs ...*chatshipper.Message)
}

// WithSecret makes the handler accept only deliveries whose X-Hub-Signature
// matches the body under secret (the webhook service's params.secret); any
// other POST is answered 401 and reaches no handler. An empty secret is
// refused, so a secret missing from the environment is noticed rather than
// silently turning verification off.
//
// Signatures: https://developers.web1on1.chat/webhooks/verification
func WithSecret(secret string) Option {
	return func(c *config) error {
		if secret == "" {
			return argError("WithSecret", "empty secret (leave the option out to run without verification)")
		}
		c.secret, c.hasSecret = secret, true
		return nil
	}
}

// WithMaxBody caps the size of a delivery's body (default [DefaultMaxBody]).
// A larger body is answered 413 after reading at most n+1 bytes (none when
// its declared Content-Length is already larger), and the connection is then
// closed; net/http may read and discard up to 256 KiB more of the body after
// the answer, before it closes the connection.
func WithMaxBody(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return argError("WithMaxBody", "must be positive, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

// WithDedupe sets how many event IDs the default in-memory [Deduper]
// remembers, each for [DedupeTTL], to acknowledge a repeated delivery without
// running the handlers again (default [DefaultDedupe]; 0 turns duplicate
// suppression off). When more IDs arrive, the oldest are forgotten first. It
// cannot be combined with WithDeduper.
func WithDedupe(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return argError("WithDedupe", "must not be negative, got %d", n)
		}
		c.dedupe, c.dedupeSet = n, true
		return nil
	}
}

// WithDeduper replaces the in-memory duplicate suppression with d, for
// instance a store shared by several replicas behind one webhook URL. It
// cannot be combined with WithDedupe.
func WithDeduper(d Deduper) Option {
	return func(c *config) error {
		if isNil(d) {
			return argError("WithDeduper", "nil Deduper (use WithDedupe(0) to turn duplicate suppression off)")
		}
		c.deduper = d
		return nil
	}
}

// WithAsync makes the handler answer 200 as soon as a delivery is verified
// and decoded, and run the handlers on workers goroutines fed by a queue of
// queueSize events. When the queue is full the delivery is answered 503, so
// the platform delivers it again later: an acknowledged event is never
// dropped. Handler errors go to WithErrorHandler, else to the log (see
// WithLogger). Stop the workers with
// [Handler.Shutdown].
//
// Answering in time: https://developers.web1on1.chat/webhooks/responding/
func WithAsync(workers, queueSize int) Option {
	return func(c *config) error {
		if workers < 1 {
			return argError("WithAsync", "workers must be at least 1, got %d", workers)
		}
		if queueSize < 1 {
			return argError("WithAsync", "queueSize must be at least 1, got %d", queueSize)
		}
		c.workers, c.queueSize = workers, queueSize
		return nil
	}
}

// WithErrorHandler sets a function told of every failed event: the joined
// errors of its failing handlers, panics included (as [*PanicError]). In
// synchronous mode it is called before the 500 is sent. It may be called from
// several goroutines at once. With it, failed events are logged only when
// [WithLogger] gives a logger; without it, they are logged to that logger or
// to [slog.Default].
func WithErrorHandler(fn func(e *Event, err error)) Option {
	return func(c *config) error {
		if fn == nil {
			return argError("WithErrorHandler", "nil function")
		}
		c.onError = fn
		return nil
	}
}

// WithClient connects the handler to an API client, normally a
// [*chatshipper.Client]: every message seen in an event is shown to the
// client's bot loop guard (a contact or agent message resets its counters
// for that conversation), and, unless WithSelfUser is given, the client's own
// user ID is looked up for the self filter.
func WithClient(cl Client) Option {
	return func(c *config) error {
		if isNil(cl) {
			return argError("WithClient", "nil Client")
		}
		c.client = cl
		return nil
	}
}

// WithSelfUser sets the bot's own user ID, so that messages it wrote itself
// are not dispatched (a bot never answers itself). It is needed when the
// handler cannot learn the ID from [WithClient]: a client whose token is not
// a JWT naming its user (a bot's permanent API key, say) cannot tell, and
// the handler then logs once that own messages are not skipped. The ID is on
// the bot's user in the admin UI, or found once with the API
// (Users.List with a filter on the bot's name or e-mail address).
func WithSelfUser(userID string) Option {
	return func(c *config) error {
		switch {
		case userID == "":
			return argError("WithSelfUser", "must not be empty")
		case !chatshipper.IsValidID(userID):
			return argError("WithSelfUser", "%q is not a resource ID (24 hex characters)", wire.Truncate(userID, 32))
		}
		c.selfUser = userID
		return nil
	}
}

// WithIncludeSelf with true dispatches message.create events written by the own
// user too; they are dropped by default (WithIncludeSelf(false)).
func WithIncludeSelf(include bool) Option {
	return func(c *config) error {
		c.includeSelf = include
		return nil
	}
}

// WithSkipBots with true drops message.create events whose message has the role
// "bot" (written by any automation), not only the own user's. The default is
// WithSkipBots(false).
func WithSkipBots(skip bool) Option {
	return func(c *config) error {
		c.skipBots = skip
		return nil
	}
}

// WithLogger makes the handler log to l: refused deliveries (reason only)
// at warn level, failed events at error level, and, once, that the bot's own
// user is unknown (see [WithSelfUser]). Bodies, headers and the secret are
// never logged.
//
// Without WithLogger, what nobody else would hear of goes to
// [slog.Default]: a failed event when no [WithErrorHandler] is set, and the
// unknown own user; refused deliveries are answered with their status only.
// WithLogger(nil) silences the handler entirely.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger, c.loggerSet = l, true
		return nil
	}
}

// isNil reports whether v is nil or an interface holding a nil pointer (a
// nil *chatshipper.Client passed as a Client).
func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Map, reflect.Func, reflect.Chan, reflect.Slice, reflect.Interface:
		return rv.IsNil()
	}
	return false
}
