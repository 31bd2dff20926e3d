package otel

import (
	"errors"

	"go.opentelemetry.io/otel/metric"
)

// The metrics. Their labels are low-cardinality: no IDs, no URLs, no event
// names (which anyone may send to a webhook without a secret).
const (
	// MetricHTTPClientDuration is the semantic conventions' histogram of
	// HTTP requests, one per attempt: its count by
	// http.response.status_code is the requests by status.
	MetricHTTPClientDuration = "http.client.request.duration"
	// MetricCallDuration is the duration of calls, by service, method,
	// collection and outcome.
	MetricCallDuration = "chatshipper.client.call.duration"
	// MetricRetries counts retries, by error.type (the status code or the
	// error kind of the attempt that failed).
	MetricRetries = "chatshipper.client.retries"
	// MetricRateLimited counts 429 answers (the server's bot loop limit
	// included; MetricLoopGuardRefusals tells those apart).
	MetricRateLimited = "chatshipper.client.rate_limited"
	// MetricLimiterWait is the histogram of attempts' waits for a rate
	// limiter slot.
	MetricLimiterWait = "chatshipper.client.limiter.wait"
	// MetricLimiterPauses counts pauses of the rate limiter after a 429 with
	// Retry-After.
	MetricLimiterPauses = "chatshipper.client.limiter.pauses"
	// MetricLoopGuardRefusals counts loop guard refusals, by limit and by
	// whether the server refused.
	MetricLoopGuardRefusals = "chatshipper.client.loop_guard.refusals"
	// MetricDeliveryLookups counts delivery lookups, by result.
	MetricDeliveryLookups = "chatshipper.client.delivery.lookups"
	// MetricDeliveryResends counts messages sent again after a lookup found
	// them missing.
	MetricDeliveryResends = "chatshipper.client.delivery.resends"
	// MetricDeliveryUnknown counts messages whose delivery could not be
	// found out.
	MetricDeliveryUnknown = "chatshipper.client.delivery.unknown"
	// MetricWebhookEvents counts webhook deliveries and events, by outcome
	// (and the status answered, when the outcome decided it).
	MetricWebhookEvents = "chatshipper.webhook.events"
	// MetricWebhookHandlerDuration is the histogram of the handlers' time
	// per event, by outcome (handled, failed).
	MetricWebhookHandlerDuration = "chatshipper.webhook.handler.duration"
)

// durationBuckets are the semantic conventions' buckets for HTTP durations,
// in seconds; waits and handler times use them too.
var durationBuckets = []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}

type instruments struct {
	httpDuration    metric.Float64Histogram
	callDuration    metric.Float64Histogram
	retries         metric.Int64Counter
	rateLimited     metric.Int64Counter
	limiterWait     metric.Float64Histogram
	limiterPauses   metric.Int64Counter
	loopRefusals    metric.Int64Counter
	lookups         metric.Int64Counter
	resends         metric.Int64Counter
	unknown         metric.Int64Counter
	webhookEvents   metric.Int64Counter
	handlerDuration metric.Float64Histogram
}

func (m *instruments) init(meter metric.Meter) error {
	var errs []error
	hist := func(name, desc string) metric.Float64Histogram {
		h, err := meter.Float64Histogram(name, metric.WithUnit("s"), metric.WithDescription(desc),
			metric.WithExplicitBucketBoundaries(durationBuckets...))
		errs = append(errs, err)
		return h
	}
	count := func(name, unit, desc string) metric.Int64Counter {
		c, err := meter.Int64Counter(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	m.httpDuration = hist(MetricHTTPClientDuration, "Duration of HTTP client requests.")
	m.callDuration = hist(MetricCallDuration, "Duration of ChatShipper client calls, retries and delivery lookups included.")
	m.retries = count(MetricRetries, "{retry}", "Failed attempts that are retried, by the failure.")
	m.rateLimited = count(MetricRateLimited, "{response}", "429 answers.")
	m.limiterWait = hist(MetricLimiterWait, "Time an attempt waited for a rate limiter slot.")
	m.limiterPauses = count(MetricLimiterPauses, "{pause}", "Pauses of the rate limiter for a 429's Retry-After.")
	m.loopRefusals = count(MetricLoopGuardRefusals, "{refusal}", "Sends refused by the loop guard or the server's bot loop limit.")
	m.lookups = count(MetricDeliveryLookups, "{lookup}", "Delivery lookups after an ambiguous send outcome, by result.")
	m.resends = count(MetricDeliveryResends, "{message}", "Messages sent again after a lookup found them missing.")
	m.unknown = count(MetricDeliveryUnknown, "{message}", "Messages whose delivery could not be found out.")
	m.webhookEvents = count(MetricWebhookEvents, "{event}", "Webhook deliveries and events, by outcome.")
	m.handlerDuration = hist(MetricWebhookHandlerDuration, "Time the handlers of a webhook event took.")
	return errors.Join(errs...)
}
