package redisstore

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
)

// ErrUnavailable is matched (with [errors.Is]) by every error that says Redis
// could not answer in time: unreachable, refusing, or slower than the call
// timeout. The operation then did not happen as far as the caller can tell:
// a [Limiter] granted no slot, a [Deduper] claimed nothing.
var ErrUnavailable = errors.New("redisstore: redis unavailable")

// ErrLeaseLost is matched by the error [Deduper.Finish] returns when the
// claim of an event ID ran out before Finish and another delivery has claimed
// the ID since. The outcome was not recorded; the other delivery's outcome
// will be. It is [webhook.ErrClaimLost], which every Deduper returns then.
var ErrLeaseLost = webhook.ErrClaimLost

// Error is a Redis failure of one operation. It matches [ErrUnavailable] with
// [errors.Is] and unwraps to the Redis client's error, which names no key
// contents and no secret.
type Error struct {
	// Op is the operation that failed, such as "limiter wait" or "dedupe begin".
	Op string
	// Err is the Redis client's error (a network error, a timeout, a server
	// error reply).
	Err error
}

// Error returns "redisstore: <op>: redis unavailable: <cause>".
func (e *Error) Error() string {
	return fmt.Sprintf("redisstore: %s: redis unavailable: %v", e.Op, e.Err)
}

// Unwrap returns the Redis client's error.
func (e *Error) Unwrap() error { return e.Err }

// Is reports whether target is [ErrUnavailable].
func (e *Error) Is(target error) bool { return target == ErrUnavailable }

// callError turns the error of a Redis call made under ctx (the caller's
// context) into what the caller sees: ctx's own error when the caller's
// context ended, else an *Error.
func callError(ctx context.Context, op string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("redisstore: %s: %w", op, ctxErr)
	}
	return &Error{Op: op, Err: err}
}

// argError returns the core module's typed argument error.
func argError(field, format string, args ...any) error {
	return &chatshipper.ArgumentError{Name: field, Reason: fmt.Sprintf(format, args...)}
}
