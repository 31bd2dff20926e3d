// Package otel reports what the ChatShipper client and webhook handler
// decide as OpenTelemetry traces and metrics: not only the HTTP requests, but
// the decisions around them (how long a call waited for the rate limiter,
// which attempts were retried and why, whether a send was looked up and sent
// again, which webhook events were dropped as duplicates).
//
// It is a module of its own, so that only its users depend on OpenTelemetry:
//
//	go get github.com/go-chatshipper/chatshipper/otel
//
// Create an [Observer] and hand it to the client and the webhook handler:
//
//	obs, err := otel.New() // the global tracer and meter providers and propagator
//	if err != nil {
//		return err
//	}
//	c, err := chatshipper.NewClient(token, chatshipper.WithObserver(obs))
//	...
//	h, err := webhook.NewHandler(webhook.WithSecret(secret), webhook.WithObserver(obs))
//
// [WithTracerProvider], [WithMeterProvider] and [WithPropagator] choose other
// providers than the global ones.
//
// # Spans
//
// Each call is a span named after the service method ("Conversations.Send",
// "Messages.List", "Conversations.Walk"; "Client.Do" for [chatshipper.Client.Do])
// with the attributes chatshipper.service, chatshipper.method,
// chatshipper.collection and, at its end, chatshipper.outcome,
// chatshipper.attempts, http.response.status_code and error.type. A call a
// call makes is its child: the delivery lookup of a send is a
// "Messages.List" span inside the "Conversations.Send" span. A walk is one
// span for the whole loop, with one attempt per page request.
//
// Each HTTP request sent is a client span child of its call, named after its
// method ("GET"), with http.request.method, url.full (redacted: query values
// that may be personal data are replaced, as in the client's errors),
// server.address, server.port, http.request.resend_count,
// chatshipper.attempt, http.response.status_code and error.type (the status
// code of an error answer, or the kind of a failure without one:
// "attempt_timeout", "connection", "dial", ...). Its span context is written
// into the request's headers by the propagator (with
// [propagation.TraceContext], the W3C traceparent header), so the server side
// can join the trace.
//
// Decisions are events on the call's span: "chatshipper.retry" (retry or
// no_retry, error.type, the wait or the reason, the server's Retry-After),
// "chatshipper.limiter.wait" (a wait of a millisecond or more for a rate
// limiter slot), "chatshipper.limiter.pause" (a 429's Retry-After pausing
// the limiter), "chatshipper.loop_guard.refusal", "chatshipper.delivery.lookup",
// "chatshipper.delivery.resend" and "chatshipper.delivery.unknown".
//
// A webhook event's handlers run in a consumer span "webhook.Handle" (with
// chatshipper.webhook.event, chatshipper.webhook.event_id and
// chatshipper.outcome), which is the parent of the API calls they make with
// the context they receive. The handler's other decisions (verified,
// refused, duplicate, in_progress, unavailable) are "chatshipper.webhook"
// events on the span in the request's context, such as the server span of
// otelhttp.
//
// # Metrics
//
//	http.client.request.duration            s  per request sent: http.request.method, server.address,
//	                                           server.port, http.response.status_code, error.type
//	chatshipper.client.call.duration        s  chatshipper.service, .method, .collection, .outcome
//	chatshipper.client.retries                 error.type of the attempt that is retried
//	chatshipper.client.rate_limited            429 answers
//	chatshipper.client.limiter.wait         s  every attempt's wait for a slot (error.type if it failed)
//	chatshipper.client.limiter.pauses          limiter pauses for a 429's Retry-After
//	chatshipper.client.loop_guard.refusals     chatshipper.loop_limit.kind, .from_server
//	chatshipper.client.delivery.lookups        chatshipper.delivery.result: found, partial, missing, failed
//	chatshipper.client.delivery.resends        messages sent again
//	chatshipper.client.delivery.unknown        messages whose delivery is unknown
//	chatshipper.webhook.events                 chatshipper.outcome (http.response.status_code when it decided)
//	chatshipper.webhook.handler.duration    s  chatshipper.outcome: handled, failed
//
// Metric labels are low-cardinality: no IDs, URLs or event names.
//
// # What is never recorded
//
// No token, password, webhook secret, e-mail address, telephone number or
// message text appears in a span name, an attribute, an event or a metric
// label: the client never passes them to its observer, URLs are redacted as
// in its errors, errors are recorded by their class (error.type,
// chatshipper.outcome), never by their message, and of a webhook event only
// its name and ID are read. IDs appear in spans only.
//
// # Cost
//
// Without an observer the client does no observing work at all. With this
// Observer and no-op providers a GET over loopback costs about 1% more; with
// the SDK's providers recording every span and measurement, about 17% more,
// most of it the SDK's own work (BENCHMARKS.md in the repository has the
// figures and the command).
package otel
