package otel_test

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	csotel "github.com/go-chatshipper/chatshipper/otel"
	"github.com/go-chatshipper/chatshipper/webhook"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// harness is an Observer recording into an in-memory span recorder and a
// manual metric reader.
type harness struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	obs    *csotel.Observer
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{spans: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(h.spans))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(h.reader))
	obs, err := csotel.New(csotel.WithTracerProvider(tp), csotel.WithMeterProvider(mp),
		csotel.WithPropagator(propagation.TraceContext{}))
	require.NoError(t, err)
	h.obs = obs
	return h
}

// client is a client of srv reporting to the harness, with short retry waits.
func (h *harness) client(t *testing.T, srv *chatshippertest.Server, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	hc := *srv.Client()
	hc.Timeout = 2 * time.Second
	opts = append([]chatshipper.Option{chatshipper.WithBaseURL(srv.URL), chatshipper.WithHTTPClient(&hc),
		chatshipper.WithRetryWait(100*time.Millisecond, 5*time.Second), chatshipper.WithObserver(h.obs)}, opts...)
	c, err := chatshipper.NewClient(srv.Token, opts...)
	require.NoError(t, err)
	return c
}

// ended returns the ended spans named name.
func (h *harness) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// children returns the ended spans whose parent is parent, in end order.
func (h *harness) children(parent sdktrace.ReadOnlySpan) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range h.spans.Ended() {
		if s.Parent().SpanID() == parent.SpanContext().SpanID() {
			out = append(out, s)
		}
	}
	return out
}

func names(spans []sdktrace.ReadOnlySpan) []string {
	out := make([]string, len(spans))
	for i, s := range spans {
		out[i] = s.Name()
	}
	return out
}

func attr(attrs []attribute.KeyValue, key attribute.Key) attribute.Value {
	for _, kv := range attrs {
		if kv.Key == key {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// events returns the span's events named name.
func events(s sdktrace.ReadOnlySpan, name string) []sdktrace.Event {
	var out []sdktrace.Event
	for _, e := range s.Events() {
		if e.Name == name {
			out = append(out, e)
		}
	}
	return out
}

// collect reads the metrics.
func (h *harness) collect(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, h.reader.Collect(context.Background(), &rm))
	return rm
}

func findMetric(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// count sums the counter's points, or the histogram's counts, whose
// attributes include want.
func count(t *testing.T, rm metricdata.ResourceMetrics, name string, want ...attribute.KeyValue) int64 {
	t.Helper()
	m, ok := findMetric(rm, name)
	if !ok {
		return 0
	}
	has := func(set attribute.Set) bool {
		for _, kv := range want {
			if v, ok := set.Value(kv.Key); !ok || v != kv.Value {
				return false
			}
		}
		return true
	}
	var n int64
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				n += p.Value
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				n += int64(p.Count)
			}
		}
	default:
		t.Fatalf("%s: unexpected data %T", name, m.Data)
	}
	return n
}

// TestSendDroppedAnswer: a send whose answer is lost shows the call span, its
// attempts, the decision not to retry the POST, the delivery lookup (a call
// span of its own, with its attempt) and the counters; when the server had
// not stored the message it is sent again, a second attempt of the same call.
func TestSendDroppedAnswer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		drop     chatshippertest.DropMode
		posts    int
		result   string
		resends  int64
		lastPOST int
	}{
		{"stored, answer lost", chatshippertest.DropAfter, 1, "found", 0, 0},
		{"lost before storing", chatshippertest.DropBefore, 2, "missing", 1, 201},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			synctest.Test(t, func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t)
				h := newHarness(t)
				c := h.client(t, srv)
				ctx := context.Background()
				conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "dropped"})
				require.NoError(t, err)
				srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Drop: tc.drop})
				srv.ResetRequests()

				_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("hello"))
				require.NoError(t, err)

				sends := h.ended("Conversations.Send")
				require.Len(t, sends, 1)
				send := sends[0]
				assert.Equal(t, trace.SpanKindInternal, send.SpanKind())
				assert.Equal(t, codes.Unset, send.Status().Code)
				assert.Equal(t, "ok", attr(send.Attributes(), csotel.KeyOutcome).AsString())
				assert.Equal(t, "Conversations", attr(send.Attributes(), csotel.KeyService).AsString())
				assert.Equal(t, "Send", attr(send.Attributes(), csotel.KeyMethod).AsString())
				assert.Equal(t, "conversations", attr(send.Attributes(), csotel.KeyCollection).AsString())
				assert.Equal(t, int64(tc.posts), attr(send.Attributes(), csotel.KeyAttempts).AsInt64())

				kids := h.children(send)
				want := []string{"POST", "Messages.List"}
				if tc.posts == 2 {
					want = append(want, "POST")
				}
				require.Equal(t, want, names(kids))
				first := kids[0]
				assert.Equal(t, trace.SpanKindClient, first.SpanKind())
				assert.Equal(t, codes.Error, first.Status().Code)
				assert.Equal(t, "connection", attr(first.Attributes(), "error.type").AsString())
				assert.Equal(t, "POST", attr(first.Attributes(), "http.request.method").AsString())
				assert.Equal(t, srv.URL+"conversations/"+conv.ID+"/messages", attr(first.Attributes(), "url.full").AsString())
				assert.Equal(t, "127.0.0.1", attr(first.Attributes(), "server.address").AsString())
				assert.Equal(t, int64(9), attr(first.Attributes(), "server.port").AsInt64())
				assert.Equal(t, []string{"GET"}, names(h.children(kids[1])), "the lookup's own attempt")
				if tc.posts == 2 {
					assert.Equal(t, int64(201), attr(kids[2].Attributes(), "http.response.status_code").AsInt64())
					assert.Equal(t, codes.Unset, kids[2].Status().Code)
				}

				retry := events(send, "chatshipper.retry")
				require.Len(t, retry, 1)
				assert.Equal(t, "no_retry", attr(retry[0].Attributes, csotel.KeyRetryDecision).AsString())
				assert.Equal(t, "the server may have acted on a POST", attr(retry[0].Attributes, csotel.KeyRetryReason).AsString())
				assert.Equal(t, "connection", attr(retry[0].Attributes, "error.type").AsString())
				lookup := events(send, "chatshipper.delivery.lookup")
				require.Len(t, lookup, 1)
				assert.Equal(t, tc.result, attr(lookup[0].Attributes, csotel.KeyDeliveryResult).AsString())
				assert.Equal(t, conv.ID, attr(lookup[0].Attributes, csotel.KeyConversationID).AsString())
				assert.Equal(t, int64(1), attr(lookup[0].Attributes, csotel.KeyDeliveryMessages).AsInt64())
				assert.Len(t, events(send, "chatshipper.delivery.resend"), int(tc.resends))

				// The trace context went out with every attempt: the
				// server saw each attempt's own span ID.
				var sent []string
				for _, r := range srv.Requests() {
					sent = append(sent, r.Header.Get("Traceparent"))
				}
				var wantTP []string
				for _, s := range h.spans.Ended() {
					if s.SpanKind() == trace.SpanKindClient && s.SpanContext().TraceID() == send.SpanContext().TraceID() {
						wantTP = append(wantTP, "00-"+s.SpanContext().TraceID().String()+"-"+s.SpanContext().SpanID().String()+"-01")
					}
				}
				slices.Sort(sent)
				slices.Sort(wantTP)
				assert.Equal(t, wantTP, sent)

				rm := h.collect(t)
				assert.Equal(t, int64(1), count(t, rm, csotel.MetricDeliveryLookups, csotel.KeyDeliveryResult.String(tc.result)))
				assert.Equal(t, int64(1), count(t, rm, csotel.MetricDeliveryLookups))
				assert.Equal(t, tc.resends, count(t, rm, csotel.MetricDeliveryResends))
				assert.Equal(t, int64(0), count(t, rm, csotel.MetricRetries), "a POST is not retried blindly")
				assert.Equal(t, int64(1), count(t, rm, csotel.MetricHTTPClientDuration,
					attribute.String("http.request.method", "POST"), attribute.String("error.type", "connection")))
				assert.Equal(t, int64(tc.posts+1), count(t, rm, csotel.MetricHTTPClientDuration, attribute.String("http.request.method", "POST")),
					"the send's POSTs and the create's")
				assert.Equal(t, int64(1), count(t, rm, csotel.MetricCallDuration,
					csotel.KeyMethod.String("Send"), csotel.KeyOutcome.String("ok")))
			})
		})
	}
}

// TestRateLimitPause: a 429 with Retry-After shows the limiter's pause, the
// retry after the whole Retry-After, and the counters.
func TestRateLimitPause(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		h := newHarness(t)
		c := h.client(t, srv)
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/users/", Count: 1, Status: 429, RetryAfter: "2"})
		_, _, err := c.Users.Get(context.Background(), srv.Seed.BotUserID, nil)
		require.NoError(t, err)

		gets := h.ended("Users.Get")
		require.Len(t, gets, 1)
		get := gets[0]
		assert.Equal(t, time.Duration(2*time.Second), get.EndTime().Sub(get.StartTime()))
		kids := h.children(get)
		require.Equal(t, []string{"GET", "GET"}, names(kids))
		assert.Equal(t, int64(429), attr(kids[0].Attributes(), "http.response.status_code").AsInt64())
		assert.Equal(t, "429", attr(kids[0].Attributes(), "error.type").AsString())
		assert.Equal(t, int64(1), attr(kids[1].Attributes(), "http.request.resend_count").AsInt64())
		assert.Equal(t, int64(2), attr(kids[1].Attributes(), csotel.KeyAttempt).AsInt64())

		pause := events(get, "chatshipper.limiter.pause")
		require.Len(t, pause, 1)
		assert.Equal(t, 2.0, attr(pause[0].Attributes, csotel.KeyLimiterPause).AsFloat64())
		retry := events(get, "chatshipper.retry")
		require.Len(t, retry, 1)
		assert.Equal(t, "retry", attr(retry[0].Attributes, csotel.KeyRetryDecision).AsString())
		assert.Equal(t, "429", attr(retry[0].Attributes, "error.type").AsString())
		assert.Equal(t, 2.0, attr(retry[0].Attributes, csotel.KeyRetryWait).AsFloat64())
		assert.Equal(t, 2.0, attr(retry[0].Attributes, csotel.KeyRetryAfter).AsFloat64())
		assert.True(t, retry[0].Time.Before(kids[1].StartTime()), "decided before the second attempt")

		rm := h.collect(t)
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricRateLimited))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricLimiterPauses))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricRetries, attribute.String("error.type", "429")))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricHTTPClientDuration, attribute.Int("http.response.status_code", 429)))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricHTTPClientDuration, attribute.Int("http.response.status_code", 200)))
		assert.Equal(t, int64(2), count(t, rm, csotel.MetricLimiterWait), "every attempt's wait is recorded")
	})
}

// TestLoopGuardAndDeliveryUnknown: a loop guard refusal and a send whose
// lookup fails are counted and shown on their call spans.
func TestLoopGuardAndDeliveryUnknown(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		h := newHarness(t)
		c := h.client(t, srv)
		ctx := context.Background()
		conv, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "loop"})
		require.NoError(t, err)
		for range 8 {
			_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("same"))
			require.NoError(t, err)
		}
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("same"))
		require.ErrorIs(t, err, chatshipper.ErrLoopLimit)

		srv.InjectFault(chatshippertest.Fault{Method: http.MethodPost, PathPrefix: "/v2/conversations/" + conv.ID, Count: 1, Drop: chatshippertest.DropAfter})
		srv.InjectFault(chatshippertest.Fault{Method: http.MethodGet, PathPrefix: "/v2/messages", Count: 1, Status: 500})
		_, _, err = c.Conversations.Send(ctx, conv.ID, chatshipper.Chat("other"))
		require.ErrorIs(t, err, chatshipper.ErrDeliveryUnknown)

		sends := h.ended("Conversations.Send")
		require.Len(t, sends, 10)
		refused, unknown := sends[8], sends[9]
		assert.Equal(t, codes.Error, refused.Status().Code)
		assert.Equal(t, "loop_limit", refused.Status().Description)
		ev := events(refused, "chatshipper.loop_guard.refusal")
		require.Len(t, ev, 1)
		assert.Equal(t, "identical", attr(ev[0].Attributes, csotel.KeyLoopLimit).AsString())
		assert.False(t, attr(ev[0].Attributes, csotel.KeyLoopLimitFromServer).AsBool())
		assert.Empty(t, h.children(refused), "refused before any I/O")

		assert.Equal(t, "delivery_unknown", attr(unknown.Attributes(), "error.type").AsString())
		ev = events(unknown, "chatshipper.delivery.unknown")
		require.Len(t, ev, 1)
		assert.Equal(t, "http_error", attr(ev[0].Attributes, "error.type").AsString())
		lookup := events(unknown, "chatshipper.delivery.lookup")
		require.Len(t, lookup, 1)
		assert.Equal(t, "failed", attr(lookup[0].Attributes, csotel.KeyDeliveryResult).AsString())

		rm := h.collect(t)
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricLoopGuardRefusals,
			csotel.KeyLoopLimit.String("identical"), csotel.KeyLoopLimitFromServer.Bool(false)))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricDeliveryUnknown))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricDeliveryLookups, csotel.KeyDeliveryResult.String("failed")))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricCallDuration, csotel.KeyOutcome.String("delivery_unknown")))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricCallDuration, csotel.KeyOutcome.String("loop_limit")))
	})
}

// TestWalkSpans: a walk is one span with an attempt per page.
func TestWalkSpans(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		h := newHarness(t)
		c := h.client(t, srv)
		ctx := context.Background()
		for range 3 {
			_, _, err := c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "walk"})
			require.NoError(t, err)
		}
		pages := 0
		for _, err := range c.Conversations.Walk(ctx, chatshipper.NewQuery().Limit(2)).Pages() {
			require.NoError(t, err)
			pages++
		}
		walks := h.ended("Conversations.Walk")
		require.Len(t, walks, 1)
		kids := h.children(walks[0])
		assert.GreaterOrEqual(t, len(kids), pages)
		for _, k := range kids {
			assert.Equal(t, "GET", k.Name())
		}
		assert.Equal(t, int64(len(kids)), attr(walks[0].Attributes(), csotel.KeyAttempts).AsInt64())
	})
}

// TestWebhookDuplicate: a second delivery of an event is a duplicate: counted
// as one, with no second handler span; the handler's API calls are children
// of its span.
func TestWebhookDuplicate(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		srv := chatshippertest.NewInProcessServer(t)
		hs := newHarness(t)
		c := hs.client(t, srv)
		const secret = "whsec-duplicate-test"
		h, err := webhook.NewHandler(webhook.WithSecret(secret), webhook.WithObserver(hs.obs))
		require.NoError(t, err)
		require.NoError(t, h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
			time.Sleep(time.Second)
			_, _, err := c.Users.Get(ctx, srv.Seed.BotUserID, nil)
			return err
		}))
		body := []byte(`{"id":"ev-1","event":"message.create.contact.chat","timestamp":"2024-03-14T09:26:53.589Z",` +
			`"data":{"conversation":{"id":"65f2c1d0e4b0a1b2c3d4e5f0","type":"contact"},` +
			`"message":{"id":"65f2c2a5e4b0a1b2c3d4e5f6","conversation":"65f2c1d0e4b0a1b2c3d4e5f0","role":"contact","type":"chat","text":"hi"}}}`)
		for range 2 {
			r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
			r.Header.Set(webhook.SignatureHeader, webhook.Sign(body, secret))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, http.StatusOK, w.Code)
		}

		handled := hs.ended("webhook.Handle")
		require.Len(t, handled, 1, "the duplicate does not run the handlers")
		span := handled[0]
		assert.Equal(t, trace.SpanKindConsumer, span.SpanKind())
		assert.Equal(t, "message.create.contact.chat", attr(span.Attributes(), csotel.KeyWebhookEvent).AsString())
		assert.Equal(t, "ev-1", attr(span.Attributes(), csotel.KeyWebhookEventID).AsString())
		assert.Equal(t, "handled", attr(span.Attributes(), csotel.KeyOutcome).AsString())
		assert.Equal(t, []string{"Users.Get"}, names(hs.children(span)), "the handler's call is a child")

		rm := hs.collect(t)
		assert.Equal(t, int64(2), count(t, rm, csotel.MetricWebhookEvents, csotel.KeyOutcome.String("verified")))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricWebhookEvents, csotel.KeyOutcome.String("handled")))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricWebhookEvents, csotel.KeyOutcome.String("duplicate")))
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricWebhookHandlerDuration, csotel.KeyOutcome.String("handled")))
		m, ok := findMetric(rm, csotel.MetricWebhookHandlerDuration)
		require.True(t, ok)
		assert.Equal(t, 1.0, m.Data.(metricdata.Histogram[float64]).DataPoints[0].Sum, "the handlers' time: 1s")

		// A delivery with a bad signature is refused and counted by status.
		r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		r.Header.Set(webhook.SignatureHeader, webhook.Sign(body, "wrong"))
		h.ServeHTTP(httptest.NewRecorder(), r)
		rm = hs.collect(t)
		assert.Equal(t, int64(1), count(t, rm, csotel.MetricWebhookEvents, csotel.KeyOutcome.String("refused"),
			attribute.Int("http.response.status_code", 401)))
	})
}

// TestWebhookFailed: a failing handler ends its span with an error class,
// never the error's text.
func TestWebhookFailed(t *testing.T) {
	t.Parallel()
	hs := newHarness(t)
	h, err := webhook.NewHandler(webhook.WithObserver(hs.obs))
	require.NoError(t, err)
	require.NoError(t, h.Handle("service.create", func(context.Context, *webhook.Event) error {
		return errors.New("failed for someone@example.com")
	}))
	require.NoError(t, h.Handle("service.update", func(context.Context, *webhook.Event) error { panic("boom") }))
	require.Error(t, h.Dispatch(context.Background(), &webhook.Event{ID: "e1", Name: "service.create"}))
	require.Error(t, h.Dispatch(context.Background(), &webhook.Event{ID: "e2", Name: "service.update"}))
	spans := hs.ended("webhook.Handle")
	require.Len(t, spans, 2)
	assert.Equal(t, codes.Error, spans[0].Status().Code)
	assert.Equal(t, "handler_error", spans[0].Status().Description)
	assert.Equal(t, "panic", attr(spans[1].Attributes(), "error.type").AsString())
	rm := hs.collect(t)
	assert.Equal(t, int64(2), count(t, rm, csotel.MetricWebhookEvents, csotel.KeyOutcome.String("failed")))
}

// TestNewDefaults: without options the global providers (no-op unless set)
// are used and nothing fails.
func TestNewDefaults(t *testing.T) {
	t.Parallel()
	obs, err := csotel.New()
	require.NoError(t, err)
	srv := chatshippertest.NewServer(t)
	c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithObserver(obs))
	require.NoError(t, err)
	_, _, err = c.Users.Get(context.Background(), srv.Seed.BotUserID, nil)
	require.NoError(t, err)
}
