package webhook

import (
	"context"
	"time"
)

// Observer receives what a [Handler] decides about each delivery and event:
// a signature verified, a delivery refused, a duplicate recognised, the
// handlers' run with its outcome and time. Set one with [WithObserver]; the
// module github.com/go-chatshipper/chatshipper/otel turns them into
// OpenTelemetry spans and metrics. Without an observer the handler does none
// of this work.
//
// Its methods are called on the request path, often concurrently: they must
// be safe for concurrent use and fast. The *Event they receive holds the
// message text and contact data: an observer that exports data should
// record its Name and ID only.
type Observer interface {
	// WebhookEvent is called for each decision about a delivery or event
	// other than running its handlers: verified, refused, duplicate,
	// in progress, unavailable (see [Outcome]).
	WebhookEvent(ctx context.Context, o Observation)
	// StartHandling is called before the handlers of an accepted event run.
	// The context it returns (derived from ctx) is the one they receive, so
	// a tracer's span becomes the parent of the API calls they make.
	StartHandling(ctx context.Context, e *Event) context.Context
	// EndHandling is called once for every StartHandling, with the context
	// it returned, when the handlers are done: o.Outcome is
	// [OutcomeHandled] or [OutcomeFailed], o.Duration their time.
	EndHandling(ctx context.Context, e *Event, o Observation)
}

// WithObserver makes the handler report its decisions to o (see
// [Observer]). Without it, or with nil, nothing is reported.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		c.observer = o
		return nil
	}
}

// Outcome is what became of a delivery or event.
type Outcome string

// The outcomes an [Observer] is told of.
const (
	// OutcomeVerified: the signature matched and the event was decoded
	// (only with [WithSecret]).
	OutcomeVerified Outcome = "verified"
	// OutcomeRefused: the delivery was refused before any handler ran:
	// Status 400 (malformed or unreadable), 401 (signature missing or
	// wrong) or 413 (too large).
	OutcomeRefused Outcome = "refused"
	// OutcomeDuplicate: the event was handled before; the handlers did not
	// run again.
	OutcomeDuplicate Outcome = "duplicate"
	// OutcomeInProgress: another delivery of the same event is still being
	// handled.
	OutcomeInProgress Outcome = "in_progress"
	// OutcomeUnavailable: the delivery was answered 503 without running the
	// handlers (the duplicate check failed, the queue was full, or the
	// handler is shutting down), so the platform delivers it again.
	OutcomeUnavailable Outcome = "unavailable"
	// OutcomeHandled: the matching handlers ran and succeeded (or none
	// matched, or the bot filters dropped the event).
	OutcomeHandled Outcome = "handled"
	// OutcomeFailed: a handler returned an error or panicked.
	OutcomeFailed Outcome = "failed"
)

// Observation is one decision of a Handler.
type Observation struct {
	// Outcome says what became of the delivery or event.
	Outcome Outcome
	// Status is the HTTP status ServeHTTP answered, when this decision set
	// it: 400, 401 or 413 for a refused delivery, 503 for one the queue or a
	// shutdown turned away; 0 otherwise (the answer to a duplicate or to a
	// failed duplicate check follows from the outcome; Dispatch answers
	// nothing).
	Status int
	// EventName and EventID name the event, when it was decoded.
	EventName, EventID string
	// Duration is the handlers' time (OutcomeHandled, OutcomeFailed).
	Duration time.Duration
	// Err is the handlers' error (OutcomeFailed) or the duplicate check's
	// (OutcomeUnavailable). Its message is the handlers' own text: an
	// observer that exports data should record Outcome, not the message.
	Err error
}

// observeEvent reports o about e (nil before the event was decoded).
func (h *Handler) observeEvent(ctx context.Context, e *Event, o Observation) {
	if h.obs == nil {
		return
	}
	if e != nil {
		o.EventName, o.EventID = e.Name, e.ID
	}
	h.obs.WebhookEvent(ctx, o)
}

// observeVerified reports a delivery whose signature was checked.
func (h *Handler) observeVerified(ctx context.Context, e *Event) {
	if h.newMAC != nil {
		h.observeEvent(ctx, e, Observation{Outcome: OutcomeVerified})
	}
}

// observeBegin reports what the duplicate check said, unless the event is new.
func (h *Handler) observeBegin(ctx context.Context, e *Event, st DedupeState, err error) {
	switch {
	case err != nil:
		h.observeEvent(ctx, e, Observation{Outcome: OutcomeUnavailable, Err: err})
	case st == DedupeDone:
		h.observeEvent(ctx, e, Observation{Outcome: OutcomeDuplicate})
	case st == DedupeRunning:
		h.observeEvent(ctx, e, Observation{Outcome: OutcomeInProgress})
	}
}

// handling is one observed run of an event's handlers.
type handling struct {
	h     *Handler
	e     *Event
	start time.Time
}

// startHandling reports that e's handlers are about to run and returns the
// context they run with.
func (h *Handler) startHandling(ctx context.Context, e *Event) (context.Context, *handling) {
	if h.obs == nil {
		return ctx, nil
	}
	hs := &handling{h: h, e: e, start: time.Now()}
	if octx := h.obs.StartHandling(ctx, e); octx != nil {
		ctx = octx
	}
	return ctx, hs
}

// end reports the handlers' outcome; it does nothing for nil.
func (hs *handling) end(ctx context.Context, err error) {
	if hs == nil {
		return
	}
	o := Observation{Outcome: OutcomeHandled, EventName: hs.e.Name, EventID: hs.e.ID, Duration: time.Since(hs.start), Err: err}
	if err != nil {
		o.Outcome = OutcomeFailed
	}
	hs.h.obs.EndHandling(ctx, hs.e, o)
}
