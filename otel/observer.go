package otel

import (
	"errors"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
	gotel "go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// ScopeName is the instrumentation scope of the tracer and the meter.
const ScopeName = "github.com/go-chatshipper/chatshipper/otel"

// Observer turns what the client and the webhook handler decide into
// OpenTelemetry spans and metrics. It implements [chatshipper.Observer] and
// [webhook.Observer]: pass it to [chatshipper.WithObserver] and
// [webhook.WithObserver]. It is safe for concurrent use; one Observer may
// serve several clients and handlers.
type Observer struct {
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	m      instruments
}

var (
	_ chatshipper.Observer = (*Observer)(nil)
	_ webhook.Observer     = (*Observer)(nil)
)

// Option configures an Observer.
type Option func(*config)

type config struct {
	tp   trace.TracerProvider
	mp   metric.MeterProvider
	prop propagation.TextMapPropagator
}

// WithTracerProvider sets where spans go (default: the global provider,
// otel.GetTracerProvider, as it is when New runs).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets where metrics go (default: the global provider,
// otel.GetMeterProvider, as it is when New runs).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithPropagator sets how the trace context is written into each request's
// headers (default: the global propagator, otel.GetTextMapPropagator, as it
// is when New runs; for the W3C traceparent header set it with
// otel.SetTextMapPropagator(propagation.TraceContext{}) or pass
// propagation.TraceContext{} here).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// New returns an Observer. It fails only when the meter provider refuses to
// create an instrument.
func New(opts ...Option) (*Observer, error) {
	var cfg config
	for _, opt := range opts {
		if opt != nil {
			opt(&cfg)
		}
	}
	if cfg.tp == nil {
		cfg.tp = gotel.GetTracerProvider()
	}
	if cfg.mp == nil {
		cfg.mp = gotel.GetMeterProvider()
	}
	if cfg.prop == nil {
		cfg.prop = gotel.GetTextMapPropagator()
	}
	o := &Observer{
		tracer: cfg.tp.Tracer(ScopeName, trace.WithInstrumentationVersion(chatshipper.Version),
			trace.WithSchemaURL(semconv.SchemaURL)),
		prop: cfg.prop,
	}
	meter := cfg.mp.Meter(ScopeName, metric.WithInstrumentationVersion(chatshipper.Version),
		metric.WithSchemaURL(semconv.SchemaURL))
	if err := o.m.init(meter); err != nil {
		return nil, err
	}
	return o, nil
}

// Attribute keys of this package; the semantic conventions' own keys
// (http.request.method, url.full, server.address, error.type, ...) are used
// where OpenTelemetry defines one.
const (
	// KeyService is the client service of a call ("Conversations").
	KeyService = attribute.Key("chatshipper.service")
	// KeyMethod is the service method of a call ("Send").
	KeyMethod = attribute.Key("chatshipper.method")
	// KeyCollection is the API collection of a call ("conversations").
	KeyCollection = attribute.Key("chatshipper.collection")
	// KeyOutcome is how a call ended (see chatshipper.CallOutcome), or
	// what became of a webhook delivery (see webhook.Outcome).
	KeyOutcome = attribute.Key("chatshipper.outcome")
	// KeyAttempts is how many attempts a call sent.
	KeyAttempts = attribute.Key("chatshipper.attempts")
	// KeyAttempt is an attempt's number within its request.
	KeyAttempt = attribute.Key("chatshipper.attempt")
	// KeyHop is the number of a redirect hop within an attempt (only above 1).
	KeyHop = attribute.Key("chatshipper.hop")
	// KeyRetryDecision is "retry" or "no_retry".
	KeyRetryDecision = attribute.Key("chatshipper.retry.decision")
	// KeyRetryReason is why a failed attempt is not retried.
	KeyRetryReason = attribute.Key("chatshipper.retry.reason")
	// KeyRetryWait is the wait before the next attempt, in seconds.
	KeyRetryWait = attribute.Key("chatshipper.retry.wait")
	// KeyRetryAfter is the server's Retry-After, in seconds.
	KeyRetryAfter = attribute.Key("chatshipper.retry.retry_after")
	// KeyLimiterWait is an attempt's wait for a rate limiter slot, in seconds.
	KeyLimiterWait = attribute.Key("chatshipper.limiter.wait")
	// KeyLimiterPause is a pause of the rate limiter, in seconds.
	KeyLimiterPause = attribute.Key("chatshipper.limiter.pause")
	// KeyLoopLimit is the loop limit of a refusal ("identical", "consecutive").
	KeyLoopLimit = attribute.Key("chatshipper.loop_limit.kind")
	// KeyLoopLimitFromServer marks a refusal that is the server's 429.
	KeyLoopLimitFromServer = attribute.Key("chatshipper.loop_limit.from_server")
	// KeyConversationID is the conversation of a delivery decision or a loop
	// guard refusal (spans only, never a metric label).
	KeyConversationID = attribute.Key("chatshipper.conversation.id")
	// KeyDeliveryMessages is how many messages a delivery decision is about.
	KeyDeliveryMessages = attribute.Key("chatshipper.delivery.messages")
	// KeyDeliveryFound is how many of them a lookup found stored.
	KeyDeliveryFound = attribute.Key("chatshipper.delivery.found")
	// KeyDeliveryResult is a lookup's result: "found", "partial", "missing"
	// or "failed".
	KeyDeliveryResult = attribute.Key("chatshipper.delivery.result")
	// KeyWebhookEvent is a webhook event's name ("message.create.contact.chat";
	// spans only).
	KeyWebhookEvent = attribute.Key("chatshipper.webhook.event")
	// KeyWebhookEventID is a webhook event's ID (spans only).
	KeyWebhookEventID = attribute.Key("chatshipper.webhook.event_id")
)

// Span and event names.
const (
	eventRetry         = "chatshipper.retry"
	eventLimiterWait   = "chatshipper.limiter.wait"
	eventLimiterPause  = "chatshipper.limiter.pause"
	eventLoopRefusal   = "chatshipper.loop_guard.refusal"
	eventLookup        = "chatshipper.delivery.lookup"
	eventResend        = "chatshipper.delivery.resend"
	eventUnknown       = "chatshipper.delivery.unknown"
	eventWebhook       = "chatshipper.webhook"
	spanWebhookHandler = "webhook.Handle"
)

// errorTypeOther is error.type for a failure with no finer class.
const errorTypeOther = "_OTHER"

// handlerErrorType classifies a failed webhook handler run.
func handlerErrorType(err error) string {
	var pe *webhook.PanicError
	if errors.As(err, &pe) {
		return "panic"
	}
	return "handler_error"
}
