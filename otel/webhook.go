package otel

import (
	"context"
	"unicode/utf8"

	"github.com/go-chatshipper/chatshipper/webhook"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// maxEventName bounds a webhook event name or ID in a span attribute:
// without a secret anyone may post anything.
const maxEventName = 128

// WebhookEvent adds an event to the span in ctx (the server's span of the
// delivery, if any) and counts the delivery by outcome.
func (o *Observer) WebhookEvent(ctx context.Context, ob webhook.Observation) {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attrs := append(webhookAttrs(ob), KeyOutcome.String(string(ob.Outcome)))
		if ob.Status > 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(ob.Status))
		}
		span.AddEvent(eventWebhook, trace.WithAttributes(attrs...))
	}
	o.countWebhook(ctx, ob)
}

// StartHandling starts the span of an event's handlers, a consumer span
// whose children are the API calls the handlers make.
func (o *Observer) StartHandling(ctx context.Context, e *webhook.Event) context.Context {
	ctx, span := o.tracer.Start(ctx, spanWebhookHandler, consumerSpan...)
	if span.IsRecording() && e != nil {
		span.SetAttributes(webhookAttrs(webhook.Observation{EventName: e.Name, EventID: e.ID})...)
	}
	return ctx
}

// EndHandling ends the handlers' span with their outcome, and records their
// time and the outcome.
func (o *Observer) EndHandling(ctx context.Context, _ *webhook.Event, ob webhook.Observation) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		span.SetAttributes(KeyOutcome.String(string(ob.Outcome)))
		if ob.Outcome == webhook.OutcomeFailed {
			errType := handlerErrorType(ob.Err)
			span.SetAttributes(semconv.ErrorTypeKey.String(errType))
			span.SetStatus(codes.Error, errType)
		}
	}
	span.End()
	if o.m.handlerDuration.Enabled(ctx) {
		o.m.handlerDuration.Record(ctx, ob.Duration.Seconds(), metric.WithAttributes(KeyOutcome.String(string(ob.Outcome))))
	}
	o.countWebhook(ctx, ob)
}

func (o *Observer) countWebhook(ctx context.Context, ob webhook.Observation) {
	if !o.m.webhookEvents.Enabled(ctx) {
		return
	}
	if ob.Status > 0 {
		o.m.webhookEvents.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String(string(ob.Outcome)),
			semconv.HTTPResponseStatusCode(ob.Status)))
		return
	}
	o.m.webhookEvents.Add(ctx, 1, metric.WithAttributes(KeyOutcome.String(string(ob.Outcome))))
}

func webhookAttrs(ob webhook.Observation) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 4)
	if ob.EventName != "" {
		attrs = append(attrs, KeyWebhookEvent.String(truncate(ob.EventName)))
	}
	if ob.EventID != "" {
		attrs = append(attrs, KeyWebhookEventID.String(truncate(ob.EventID)))
	}
	return attrs
}

// truncate bounds an attribute value taken from a delivery, at a rune
// boundary.
func truncate(s string) string {
	if len(s) <= maxEventName {
		return s
	}
	n := maxEventName
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
