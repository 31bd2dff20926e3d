package otel

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// StartCall starts the span of a call, named after the service method
// ("Conversations.Send"; "Client.Do" for Client.Do).
func (o *Observer) StartCall(ctx context.Context, call chatshipper.CallInfo) context.Context {
	ctx, span := o.tracer.Start(ctx, callSpanName(call), internalSpan...)
	if span.IsRecording() {
		span.SetAttributes(callAttrs(call)...)
	}
	return ctx
}

// EndCall ends the call's span with its outcome and records its duration.
func (o *Observer) EndCall(ctx context.Context, call chatshipper.CallInfo, res chatshipper.CallResult) {
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		attrs := []attribute.KeyValue{KeyOutcome.String(string(res.Outcome)), KeyAttempts.Int(res.Attempts)}
		if res.StatusCode > 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(res.StatusCode))
		}
		if res.Outcome != chatshipper.OutcomeOK {
			attrs = append(attrs, semconv.ErrorTypeKey.String(string(res.Outcome)))
			span.SetStatus(codes.Error, string(res.Outcome))
		}
		span.SetAttributes(attrs...)
	}
	span.End()
	if o.m.callDuration.Enabled(ctx) {
		o.m.callDuration.Record(ctx, res.Duration.Seconds(),
			metric.WithAttributes(append(callAttrs(call), KeyOutcome.String(string(res.Outcome)))...))
	}
}

// The span kinds, made once (an option is an interface value).
var (
	internalSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindInternal)}
	clientSpan   = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindClient)}
	consumerSpan = []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindConsumer)}
)

func callSpanName(call chatshipper.CallInfo) string {
	if call.Service == "" {
		return "Client." + call.Method
	}
	return call.Service + "." + call.Method
}

func callAttrs(call chatshipper.CallInfo) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 4)
	if call.Service != "" {
		attrs = append(attrs, KeyService.String(call.Service))
	}
	attrs = append(attrs, KeyMethod.String(call.Method))
	if call.Collection != "" {
		attrs = append(attrs, KeyCollection.String(call.Collection))
	}
	return attrs
}

// StartAttempt starts a client span for one HTTP request, a child of the
// call's span, and writes the trace context into the request's headers with
// the propagator.
func (o *Observer) StartAttempt(ctx context.Context, a chatshipper.AttemptInfo) context.Context {
	method := httpMethod(a.Method)
	name := method
	if method == "_OTHER" {
		name = "HTTP"
	}
	ctx, span := o.tracer.Start(ctx, name, clientSpan...)
	if span.IsRecording() {
		attrs := []attribute.KeyValue{semconv.HTTPRequestMethodKey.String(method), semconv.URLFull(a.URL),
			semconv.ServerAddress(a.Host), KeyAttempt.Int(a.Attempt)}
		if method == "_OTHER" {
			attrs = append(attrs, semconv.HTTPRequestMethodOriginal(a.Method))
		}
		if a.Port > 0 {
			attrs = append(attrs, semconv.ServerPort(a.Port))
		}
		if n := a.Attempt - 1 + a.Hop - 1; n > 0 {
			attrs = append(attrs, semconv.HTTPRequestResendCount(n))
		}
		if a.Hop > 1 {
			attrs = append(attrs, KeyHop.Int(a.Hop))
		}
		span.SetAttributes(attrs...)
	}
	if a.Header != nil {
		o.prop.Inject(ctx, propagation.HeaderCarrier(a.Header))
	}
	return ctx
}

// EndAttempt ends the attempt's span with its status or error kind, and
// records http.client.request.duration (and a 429).
func (o *Observer) EndAttempt(ctx context.Context, a chatshipper.AttemptInfo, res chatshipper.AttemptResult) {
	errType := attemptErrorType(res.StatusCode, res.ErrorKind)
	span := trace.SpanFromContext(ctx)
	if span.IsRecording() {
		if res.StatusCode > 0 {
			span.SetAttributes(semconv.HTTPResponseStatusCode(res.StatusCode))
		}
		if errType != "" {
			span.SetAttributes(semconv.ErrorTypeKey.String(errType))
			span.SetStatus(codes.Error, errType)
		}
	}
	span.End()
	if o.m.httpDuration.Enabled(ctx) {
		attrs := make([]attribute.KeyValue, 0, 5)
		attrs = append(attrs, semconv.HTTPRequestMethodKey.String(httpMethod(a.Method)), semconv.ServerAddress(a.Host))
		if a.Port > 0 {
			attrs = append(attrs, semconv.ServerPort(a.Port))
		}
		if res.StatusCode > 0 {
			attrs = append(attrs, semconv.HTTPResponseStatusCode(res.StatusCode))
		}
		if errType != "" {
			attrs = append(attrs, semconv.ErrorTypeKey.String(errType))
		}
		o.m.httpDuration.Record(ctx, res.Duration.Seconds(), metric.WithAttributes(attrs...))
	}
	if res.StatusCode == http.StatusTooManyRequests {
		o.m.rateLimited.Add(ctx, 1)
	}
}

// attemptErrorType is error.type of an attempt: the status code of an error
// answer, the error kind of a failure without one, "" on success.
func attemptErrorType(status int, kind string) string {
	switch {
	case status >= 400:
		return strconv.Itoa(status)
	case status > 0:
		return ""
	case kind != "":
		return kind
	}
	return ""
}

// httpMethod is http.request.method: a known method as it is, else _OTHER.
func httpMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
		http.MethodHead, http.MethodOptions, http.MethodConnect, http.MethodTrace, "QUERY":
		return m
	}
	return "_OTHER"
}

// Decision adds an event to the span in ctx (the call's, or for a limiter
// wait the call's before its attempt starts) and counts the decision.
func (o *Observer) Decision(ctx context.Context, d chatshipper.Decision) {
	span := trace.SpanFromContext(ctx)
	rec := span.IsRecording()
	switch d.Kind {
	case chatshipper.DecisionRetry, chatshipper.DecisionNoRetry:
		errType := attemptErrorType(d.StatusCode, d.ErrorKind)
		if errType == "" {
			errType = errorTypeOther
		}
		if rec {
			attrs := []attribute.KeyValue{KeyRetryDecision.String(string(d.Kind)), KeyAttempt.Int(d.Attempt),
				semconv.ErrorTypeKey.String(errType)}
			if d.Kind == chatshipper.DecisionRetry {
				attrs = append(attrs, KeyRetryWait.Float64(d.Wait.Seconds()))
			} else {
				attrs = append(attrs, KeyRetryReason.String(d.Reason))
			}
			if d.RetryAfter > 0 {
				attrs = append(attrs, KeyRetryAfter.Float64(d.RetryAfter.Seconds()))
			}
			span.AddEvent(eventRetry, trace.WithAttributes(attrs...))
		}
		if d.Kind == chatshipper.DecisionRetry {
			o.m.retries.Add(ctx, 1, metric.WithAttributes(semconv.ErrorTypeKey.String(errType)))
		}
	case chatshipper.DecisionLimiterWait:
		if rec && (d.Wait >= limiterEventOver || d.ErrorKind != "") {
			attrs := []attribute.KeyValue{KeyLimiterWait.Float64(d.Wait.Seconds()), KeyAttempt.Int(d.Attempt)}
			if d.ErrorKind != "" {
				attrs = append(attrs, semconv.ErrorTypeKey.String(d.ErrorKind))
			}
			span.AddEvent(eventLimiterWait, trace.WithAttributes(attrs...))
		}
		if o.m.limiterWait.Enabled(ctx) {
			if d.ErrorKind != "" {
				o.m.limiterWait.Record(ctx, d.Wait.Seconds(), metric.WithAttributes(semconv.ErrorTypeKey.String(d.ErrorKind)))
			} else {
				o.m.limiterWait.Record(ctx, d.Wait.Seconds())
			}
		}
	case chatshipper.DecisionLimiterPause:
		if rec {
			span.AddEvent(eventLimiterPause, trace.WithAttributes(KeyLimiterPause.Float64(d.Wait.Seconds())))
		}
		o.m.limiterPauses.Add(ctx, 1)
	case chatshipper.DecisionLoopGuardRefusal:
		kind := d.Reason
		if kind == "" {
			kind = errorTypeOther
		}
		if rec {
			attrs := []attribute.KeyValue{KeyLoopLimit.String(kind), KeyLoopLimitFromServer.Bool(d.FromServer)}
			if d.ConversationID != "" {
				attrs = append(attrs, KeyConversationID.String(d.ConversationID))
			}
			span.AddEvent(eventLoopRefusal, trace.WithAttributes(attrs...))
		}
		o.m.loopRefusals.Add(ctx, 1, metric.WithAttributes(KeyLoopLimit.String(kind), KeyLoopLimitFromServer.Bool(d.FromServer)))
	case chatshipper.DecisionDeliveryLookup:
		result := lookupResult(d)
		if rec {
			attrs := deliveryAttrs(d)
			attrs = append(attrs, KeyDeliveryFound.Int(d.Found), KeyDeliveryResult.String(result))
			if d.ErrorKind != "" {
				attrs = append(attrs, semconv.ErrorTypeKey.String(d.ErrorKind))
			}
			span.AddEvent(eventLookup, trace.WithAttributes(attrs...))
		}
		o.m.lookups.Add(ctx, 1, metric.WithAttributes(KeyDeliveryResult.String(result)))
	case chatshipper.DecisionDeliveryResend:
		if rec {
			span.AddEvent(eventResend, trace.WithAttributes(deliveryAttrs(d)...))
		}
		o.m.resends.Add(ctx, int64(d.Messages))
	case chatshipper.DecisionDeliveryUnknown:
		if rec {
			attrs := deliveryAttrs(d)
			if d.ErrorKind != "" {
				attrs = append(attrs, semconv.ErrorTypeKey.String(d.ErrorKind))
			}
			span.AddEvent(eventUnknown, trace.WithAttributes(attrs...))
		}
		o.m.unknown.Add(ctx, int64(d.Messages))
	}
}

// limiterEventOver is the shortest limiter wait that becomes a span event;
// every wait is recorded in the histogram.
const limiterEventOver = time.Millisecond

func deliveryAttrs(d chatshipper.Decision) []attribute.KeyValue {
	attrs := make([]attribute.KeyValue, 0, 5)
	if d.ConversationID != "" {
		attrs = append(attrs, KeyConversationID.String(d.ConversationID))
	}
	return append(attrs, KeyDeliveryMessages.Int(d.Messages))
}

// lookupResult classifies a delivery lookup.
func lookupResult(d chatshipper.Decision) string {
	switch {
	case d.ErrorKind != "":
		return "failed"
	case d.Found >= d.Messages:
		return "found"
	case d.Found == 0:
		return "missing"
	}
	return "partial"
}
