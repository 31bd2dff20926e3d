package otel_test

// Red-team tests of the otel module: spans and metrics against what a
// hostile server actually received, spans ended whatever happens, no secret
// or personal data recorded, the documented names and units.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"net/http/httptest"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	csotel "github.com/go-chatshipper/chatshipper/otel"
	"github.com/go-chatshipper/chatshipper/webhook"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

const rtConv = "5bb0277fd99faf11a3f4a37e"

// ---------------------------------------------------------------------------
// The rig: an in-memory span recorder and a manual metric reader.

type rtRig struct {
	sr     *tracetest.SpanRecorder
	tp     *sdktrace.TracerProvider
	reader *sdkmetric.ManualReader
	obs    *csotel.Observer
}

func newRTRig(t *testing.T) *rtRig {
	t.Helper()
	r := &rtRig{sr: tracetest.NewSpanRecorder(), reader: sdkmetric.NewManualReader()}
	r.tp = sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(r.sr), sdktrace.WithSampler(sdktrace.AlwaysSample()))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(r.reader))
	obs, err := csotel.New(csotel.WithTracerProvider(r.tp), csotel.WithMeterProvider(mp), csotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	r.obs = obs
	return r
}

func (r *rtRig) ended() []sdktrace.ReadOnlySpan { return r.sr.Ended() }

// open returns the spans started and not ended.
func (r *rtRig) open() []string {
	var out []string
	for _, s := range r.sr.Started() {
		if s.EndTime().IsZero() {
			out = append(out, s.Name())
		}
	}
	return out
}

func (r *rtRig) byName(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range r.ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

func (r *rtRig) metrics(t *testing.T) metricdata.ResourceMetrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	if err := r.reader.Collect(context.Background(), &rm); err != nil {
		t.Fatal(err)
	}
	return rm
}

func rtAttr(kvs []attribute.KeyValue, key string) (attribute.Value, bool) {
	for _, kv := range kvs {
		if string(kv.Key) == key {
			return kv.Value, true
		}
	}
	return attribute.Value{}, false
}

func rtSpanAttr(s sdktrace.ReadOnlySpan, key string) string {
	v, ok := rtAttr(s.Attributes(), key)
	if !ok {
		return "<none>"
	}
	return v.String()
}

// dump writes every string the spans and metrics hold: names, attributes,
// events, statuses, links, metric names, units, descriptions and labels.
func (r *rtRig) dump(t *testing.T) string {
	var b strings.Builder
	for _, s := range r.ended() {
		fmt.Fprintf(&b, "span %s kind=%s status=%s %q\n", s.Name(), s.SpanKind(), s.Status().Code, s.Status().Description)
		for _, kv := range s.Attributes() {
			fmt.Fprintf(&b, "  %s=%s\n", kv.Key, kv.Value.String())
		}
		for _, e := range s.Events() {
			fmt.Fprintf(&b, "  event %s\n", e.Name)
			for _, kv := range e.Attributes {
				fmt.Fprintf(&b, "    %s=%s\n", kv.Key, kv.Value.String())
			}
		}
		for _, l := range s.Links() {
			for _, kv := range l.Attributes {
				fmt.Fprintf(&b, "  link %s=%s\n", kv.Key, kv.Value.String())
			}
		}
	}
	rm := r.metrics(t)
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			fmt.Fprintf(&b, "metric %s unit=%q %q\n", m.Name, m.Unit, m.Description)
			for _, set := range rtPointSets(m) {
				fmt.Fprintf(&b, "  %s\n", set.Encoded(attribute.DefaultEncoder()))
			}
		}
	}
	return b.String()
}

func rtPointSets(m metricdata.Metrics) []attribute.Set {
	var out []attribute.Set
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	case metricdata.Gauge[float64]:
		for _, p := range d.DataPoints {
			out = append(out, p.Attributes)
		}
	}
	return out
}

func rtFindMetric(rm metricdata.ResourceMetrics, name string) (metricdata.Metrics, bool) {
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			if m.Name == name {
				return m, true
			}
		}
	}
	return metricdata.Metrics{}, false
}

// rtCount sums a counter, or counts a histogram's measurements, over the data
// points whose attributes hold every key=value of match.
func rtCount(rm metricdata.ResourceMetrics, name string, match ...attribute.KeyValue) int64 {
	m, ok := rtFindMetric(rm, name)
	if !ok {
		return 0
	}
	has := func(set attribute.Set) bool {
		for _, kv := range match {
			v, ok := set.Value(kv.Key)
			if !ok || v.String() != kv.Value.String() {
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
	case metricdata.Sum[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				n += int64(p.Value)
			}
		}
	case metricdata.Histogram[float64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				n += int64(p.Count)
			}
		}
	case metricdata.Histogram[int64]:
		for _, p := range d.DataPoints {
			if has(p.Attributes) {
				n += int64(p.Count)
			}
		}
	}
	return n
}

// ---------------------------------------------------------------------------
// A scripted server (each request takes the next step, the last repeats).

type rtStep struct {
	status int
	hdr    map[string]string
	body   string
	drop   bool
}

type rtSeen struct{ method, uri, traceparent string }

type rtServer struct {
	mu    sync.Mutex
	steps []rtStep
	n     int
	seen  []rtSeen
	ts    *httptest.Server
}

func newRTServer(t *testing.T, steps ...rtStep) *rtServer {
	s := &rtServer{steps: steps}
	s.ts = httptest.NewServer(s)
	// One request per connection: net/http never re-sends a request by itself.
	s.ts.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(s.ts.Close)
	return s
}

func (s *rtServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.seen = append(s.seen, rtSeen{r.Method, r.URL.RequestURI(), r.Header.Get("Traceparent")})
	st := rtStep{status: 200}
	if len(s.steps) > 0 {
		st = s.steps[min(s.n, len(s.steps)-1)]
	}
	s.n++
	s.mu.Unlock()
	if st.drop {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	for k, v := range st.hdr {
		w.Header().Set(k, v)
	}
	if st.status == 0 {
		st.status = 200
	}
	w.WriteHeader(st.status)
	body := st.body
	if body == "" {
		if st.status < 300 {
			body = `{"id":"` + rtConv + `","name":"x"}`
		} else {
			body = `{"message":"scripted"}`
		}
	}
	fmt.Fprint(w, body)
}

func (s *rtServer) requests() []rtSeen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rtSeen(nil), s.seen...)
}

const rtToken = "tok-RTOTEL-canary-0123456789abcdef"

func rtClient(t *testing.T, base string, obs chatshipper.Observer, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	all := []chatshipper.Option{
		chatshipper.WithBaseURL(base),
		chatshipper.WithRateLimit(0),
		chatshipper.WithLoopGuard(false),
		chatshipper.WithRetryWait(time.Millisecond, 5*time.Millisecond),
	}
	if obs != nil {
		all = append(all, chatshipper.WithObserver(obs))
	}
	c, err := chatshipper.NewClient(rtToken, append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rtSpanIDOf reads the span ID of a W3C traceparent header.
func rtSpanIDOf(tp string) string {
	parts := strings.Split(tp, "-")
	if len(parts) != 4 {
		return ""
	}
	return parts[2]
}

// clientSpansMatchServer: "Each HTTP request sent is a client span child of
// its call ... Its span context is written into the request's headers":
// one client span per request received, whose span ID the request carried.
func clientSpansMatchServer(t *testing.T, r *rtRig, seen []rtSeen) []sdktrace.ReadOnlySpan {
	t.Helper()
	var client []sdktrace.ReadOnlySpan
	for _, s := range r.ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client = append(client, s)
		}
	}
	sort.Slice(client, func(i, j int) bool { return client[i].StartTime().Before(client[j].StartTime()) })
	if len(client) != len(seen) {
		t.Errorf("%d client spans, %d requests received", len(client), len(seen))
		return client
	}
	ids := map[string]bool{}
	for i, s := range client {
		id := s.SpanContext().SpanID().String()
		if rtSpanIDOf(seen[i].traceparent) != id {
			t.Errorf("request %d carried traceparent %q, its span is %s", i, seen[i].traceparent, id)
		}
		if ids[id] {
			t.Errorf("span ID %s used twice", id)
		}
		ids[id] = true
		if s.Name() != seen[i].method {
			t.Errorf("client span named %q for a %s", s.Name(), seen[i].method)
		}
	}
	return client
}

// ---------------------------------------------------------------------------
// Spans and metrics against the requests received.

// A GET meets 503, 502, a dropped connection, then 200: one call span with
// chatshipper.attempts 4, four client spans (each the request's traceparent)
// with http.request.resend_count and error.type, three "chatshipper.retry"
// events, and http.client.request.duration counting the requests by status.
func TestRTOtelRetrySpansMatchServer(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	s := newRTServer(t, rtStep{status: 503}, rtStep{status: 502}, rtStep{drop: true}, rtStep{status: 200})
	c := rtClient(t, s.ts.URL+"/v2/", r.obs)
	ctx, parent := r.tp.Tracer("rt").Start(context.Background(), "caller")
	if _, _, err := c.Conversations.Get(ctx, rtConv, nil); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if o := r.open(); len(o) != 0 {
		t.Errorf("spans left open: %v", o)
	}
	client := clientSpansMatchServer(t, r, s.requests())
	calls := r.byName("Conversations.Get")
	if len(calls) != 1 {
		t.Fatalf("%d call spans\n%s", len(calls), r.dump(t))
	}
	call := calls[0]
	if call.Parent().SpanID() != parent.SpanContext().SpanID() {
		t.Error("the call span is not a child of the caller's span")
	}
	for k, want := range map[string]string{"chatshipper.service": "Conversations", "chatshipper.method": "Get", "chatshipper.collection": "conversations",
		"chatshipper.outcome": "ok", "chatshipper.attempts": "4", "http.response.status_code": "200"} {
		if got := rtSpanAttr(call, k); got != want {
			t.Errorf("call span %s = %s, want %s", k, got, want)
		}
	}
	wantErr := []string{"503", "502", "connection", "<none>"}
	for i, cs := range client {
		if cs.Parent().SpanID() != call.SpanContext().SpanID() {
			t.Errorf("client span %d is not a child of the call", i)
		}
		if got := rtSpanAttr(cs, "chatshipper.attempt"); got != strconv.Itoa(i+1) {
			t.Errorf("client span %d chatshipper.attempt = %s", i, got)
		}
		rc := rtSpanAttr(cs, "http.request.resend_count")
		if (i == 0 && rc != "<none>" && rc != "0") || (i > 0 && rc != strconv.Itoa(i)) {
			t.Errorf("client span %d http.request.resend_count = %s", i, rc)
		}
		if got := rtSpanAttr(cs, "error.type"); got != wantErr[i] {
			t.Errorf("client span %d error.type = %s, want %s", i, got, wantErr[i])
		}
		if (i < 3) != (cs.Status().Code == codes.Error) {
			t.Errorf("client span %d status %v", i, cs.Status())
		}
		for _, k := range []string{"http.request.method", "url.full", "server.address", "server.port"} {
			if rtSpanAttr(cs, k) == "<none>" {
				t.Errorf("client span %d lacks %s", i, k)
			}
		}
	}
	var retries []string
	for _, e := range call.Events() {
		if e.Name == "chatshipper.retry" {
			d, _ := rtAttr(e.Attributes, "chatshipper.retry.decision")
			et, _ := rtAttr(e.Attributes, "error.type")
			retries = append(retries, d.String()+":"+et.String())
		}
	}
	if strings.Join(retries, " ") != "retry:503 retry:502 retry:connection" {
		t.Errorf("retry events %v", retries)
	}
	rm := r.metrics(t)
	if n := rtCount(rm, csotel.MetricHTTPClientDuration); n != 4 {
		t.Errorf("%s counts %d requests, server saw 4", csotel.MetricHTTPClientDuration, n)
	}
	for _, st := range []int{503, 502, 200} {
		if n := rtCount(rm, csotel.MetricHTTPClientDuration, attribute.Int("http.response.status_code", st)); n != 1 {
			t.Errorf("%d requests with status %d", n, st)
		}
	}
	if n := rtCount(rm, csotel.MetricHTTPClientDuration, attribute.String("error.type", "connection")); n != 1 {
		t.Errorf("%d requests with error.type connection", n)
	}
	if n := rtCount(rm, csotel.MetricRetries); n != 3 {
		t.Errorf("%s = %d, want 3", csotel.MetricRetries, n)
	}
	if n := rtCount(rm, csotel.MetricCallDuration, attribute.String("chatshipper.outcome", "ok")); n != 1 {
		t.Errorf("%s ok = %d", csotel.MetricCallDuration, n)
	}
}

// 429 with Retry-After 1 then 200: chatshipper.client.rate_limited 1,
// limiter.pauses 1, a "chatshipper.limiter.pause" event and a retry event with
// the server's Retry-After.
func TestRTOtelRateLimited(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	s := newRTServer(t, rtStep{status: 429, hdr: map[string]string{"Retry-After": "1"}, body: `{"message":"Too many requests"}`}, rtStep{status: 200})
	c := rtClient(t, s.ts.URL+"/v2/", r.obs, chatshipper.WithRateLimit(20), chatshipper.WithIPRateLimit(0), chatshipper.WithRetryWait(time.Millisecond, 5*time.Second))
	if _, _, err := c.Conversations.Get(context.Background(), rtConv, nil); err != nil {
		t.Fatal(err)
	}
	clientSpansMatchServer(t, r, s.requests())
	rm := r.metrics(t)
	if n := rtCount(rm, csotel.MetricRateLimited); n != 1 {
		t.Errorf("%s = %d", csotel.MetricRateLimited, n)
	}
	if n := rtCount(rm, csotel.MetricLimiterPauses); n != 1 {
		t.Errorf("%s = %d", csotel.MetricLimiterPauses, n)
	}
	if n := rtCount(rm, csotel.MetricLimiterWait); n != 2 {
		t.Errorf("%s counts %d waits for 2 attempts (\"every attempt's wait\")", csotel.MetricLimiterWait, n)
	}
	call := r.byName("Conversations.Get")[0]
	var pause, retry bool
	for _, e := range call.Events() {
		switch e.Name {
		case "chatshipper.limiter.pause":
			v, _ := rtAttr(e.Attributes, "chatshipper.limiter.pause")
			pause = v.AsFloat64() == 1
		case "chatshipper.retry":
			v, _ := rtAttr(e.Attributes, "chatshipper.retry.retry_after")
			w, _ := rtAttr(e.Attributes, "chatshipper.retry.wait")
			retry = v.AsFloat64() == 1 && w.AsFloat64() >= 1
		}
	}
	if !pause || !retry {
		t.Errorf("pause event %v, retry event with Retry-After %v\n%s", pause, retry, r.dump(t))
	}
}

// "chatshipper.limiter.wait (a wait of a millisecond or more for a rate
// limiter slot)" as an event on the call span; the histogram has every
// attempt's wait. Three GETs through a limit of 2 per second: the third waits.
func TestRTOtelLimiterWait(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	s := newRTServer(t)
	c := rtClient(t, s.ts.URL+"/v2/", r.obs, chatshipper.WithRateLimit(2), chatshipper.WithIPRateLimit(0), chatshipper.WithRateLimitMargin(0))
	for range 3 {
		if _, _, err := c.Conversations.Get(context.Background(), rtConv, nil); err != nil {
			t.Fatal(err)
		}
	}
	rm := r.metrics(t)
	if n := rtCount(rm, csotel.MetricLimiterWait); n != 3 {
		t.Errorf("%s counts %d, want 3", csotel.MetricLimiterWait, n)
	}
	waited := 0
	for _, call := range r.byName("Conversations.Get") {
		for _, e := range call.Events() {
			if e.Name == "chatshipper.limiter.wait" {
				v, _ := rtAttr(e.Attributes, "chatshipper.limiter.wait")
				if v.AsFloat64() < 0.001 {
					t.Errorf("limiter.wait event for a wait of %vs", v.AsFloat64())
				}
				waited++
			}
		}
	}
	if waited < 1 {
		t.Errorf("no limiter.wait event although the third call waited\n%s", r.dump(t))
	}
}

// ---------------------------------------------------------------------------
// Delivery decisions as spans.

// lostAnswer stores a message POST (a minimal messages server) and, for the
// first POST, closes the connection instead of answering; lookupStatus
// answers the lookup.
type rtMsgServer struct {
	mu           sync.Mutex
	stored       []map[string]any
	posts, gets  int
	dropFirst    bool // drop the first POST after storing
	dropBefore   bool // drop the first POST before storing
	lookupStatus int
	echo         bool // answer every POST 422 quoting the body
	ts           *httptest.Server
}

func newRTMsgServer(t *testing.T, m *rtMsgServer) *rtMsgServer {
	m.ts = httptest.NewServer(m)
	m.ts.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(m.ts.Close)
	return m
}

func (m *rtMsgServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	switch {
	case r.Method == "POST":
		m.posts++
		var in map[string]any
		var ins []map[string]any
		var raw []byte
		raw = make([]byte, 1<<16)
		n, _ := r.Body.Read(raw)
		for n > 0 && n < len(raw) {
			k, err := r.Body.Read(raw[n:])
			n += k
			if err != nil || k == 0 {
				break
			}
		}
		raw = raw[:n]
		if m.echo {
			w.WriteHeader(422)
			fmt.Fprintf(w, `{"message":"Validation failed for %s","body":%s}`, strings.ReplaceAll(string(raw), `"`, `'`), raw)
			return
		}
		if len(raw) > 0 && raw[0] == '[' {
			_ = json.Unmarshal(raw, &ins)
		} else {
			_ = json.Unmarshal(raw, &in)
			ins = []map[string]any{in}
		}
		if m.dropBefore && m.posts == 1 {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		var out []map[string]any
		for _, x := range ins {
			x["id"] = fmt.Sprintf("6000000000000000%08x", len(m.stored)+1)
			x["conversation"] = rtConv
			x["createdAt"] = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			m.stored = append(m.stored, x)
			out = append(out, x)
		}
		if m.dropFirst && m.posts == 1 {
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
			return
		}
		w.WriteHeader(201)
		if len(raw) > 0 && raw[0] == '[' {
			_ = json.NewEncoder(w).Encode(out)
		} else {
			_ = json.NewEncoder(w).Encode(out[0])
		}
	case r.Method == "GET" && r.URL.Path == "/v2/messages":
		m.gets++
		if m.lookupStatus != 0 {
			w.WriteHeader(m.lookupStatus)
			fmt.Fprint(w, `{"message":"lookup down"}`)
			return
		}
		keys := strings.Trim(r.URL.Query().Get("meta."+chatshipper.DeliveryKeyMeta), "[]")
		var sel []map[string]any
		for _, x := range m.stored {
			meta, _ := x["meta"].(map[string]any)
			k, _ := meta[chatshipper.DeliveryKeyMeta].(string)
			for _, want := range strings.Split(keys, ",") {
				if k != "" && k == want {
					sel = append(sel, x)
				}
			}
		}
		w.Header().Set("X-Total", strconv.Itoa(len(sel)))
		if sel == nil {
			sel = []map[string]any{}
		}
		_ = json.NewEncoder(w).Encode(sel)
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"message":"not found"}`)
	}
}

// A send whose answer is lost after the server stored it: the lookup is a
// "Messages.List" span inside the "Conversations.Send" span, a
// "chatshipper.delivery.lookup" event with result found, and the metric.
func TestRTOtelLostAnswerLookup(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	m := newRTMsgServer(t, &rtMsgServer{dropFirst: true})
	c := rtClient(t, m.ts.URL+"/v2/", r.obs)
	if _, _, err := c.Conversations.Send(context.Background(), rtConv, chatshipper.Chat("lost answer")); err != nil {
		t.Fatal(err)
	}
	if o := r.open(); len(o) != 0 {
		t.Errorf("spans left open: %v", o)
	}
	send, list := r.byName("Conversations.Send"), r.byName("Messages.List")
	if len(send) != 1 || len(list) != 1 || list[0].Parent().SpanID() != send[0].SpanContext().SpanID() {
		t.Fatalf("send %d, list %d (the lookup must be a child of the send)\n%s", len(send), len(list), r.dump(t))
	}
	if rtSpanAttr(send[0], "chatshipper.attempts") != "1" || rtSpanAttr(list[0], "chatshipper.attempts") != "1" {
		t.Errorf("attempts: send %s, list %s", rtSpanAttr(send[0], "chatshipper.attempts"), rtSpanAttr(list[0], "chatshipper.attempts"))
	}
	var lookups int
	for _, e := range send[0].Events() {
		if e.Name == "chatshipper.delivery.lookup" {
			lookups++
			v, _ := rtAttr(e.Attributes, "chatshipper.delivery.result")
			if v.String() != "found" {
				t.Errorf("lookup result %s", v.String())
			}
		}
		if e.Name == "chatshipper.delivery.resend" || e.Name == "chatshipper.delivery.unknown" {
			t.Errorf("unexpected event %s", e.Name)
		}
	}
	if lookups != 1 {
		t.Errorf("%d lookup events\n%s", lookups, r.dump(t))
	}
	rm := r.metrics(t)
	if n := rtCount(rm, csotel.MetricDeliveryLookups, attribute.String("chatshipper.delivery.result", "found")); n != 1 {
		t.Errorf("lookups found = %d", n)
	}
	if n := rtCount(rm, csotel.MetricHTTPClientDuration); n != int64(m.posts+m.gets) {
		t.Errorf("%d requests measured, server saw %d", n, m.posts+m.gets)
	}
}

// Dropped before storing: result missing, one "chatshipper.delivery.resend"
// event and resends 1; then the lookup failing: unknown.
func TestRTOtelResendAndUnknown(t *testing.T) {
	t.Parallel()
	t.Run("resend", func(t *testing.T) {
		r := newRTRig(t)
		m := newRTMsgServer(t, &rtMsgServer{dropBefore: true})
		c := rtClient(t, m.ts.URL+"/v2/", r.obs)
		if _, _, err := c.Conversations.Send(context.Background(), rtConv, chatshipper.Chat("resend me")); err != nil {
			t.Fatal(err)
		}
		rm := r.metrics(t)
		if n := rtCount(rm, csotel.MetricDeliveryLookups, attribute.String("chatshipper.delivery.result", "missing")); n != 1 {
			t.Errorf("lookups missing = %d", n)
		}
		if n := rtCount(rm, csotel.MetricDeliveryResends); n != 1 {
			t.Errorf("resends = %d", n)
		}
		send := r.byName("Conversations.Send")[0]
		if rtSpanAttr(send, "chatshipper.attempts") != "2" || m.posts != 2 {
			t.Errorf("attempts %s, posts %d", rtSpanAttr(send, "chatshipper.attempts"), m.posts)
		}
		if o := r.open(); len(o) != 0 {
			t.Errorf("spans left open: %v", o)
		}
	})
	t.Run("unknown", func(t *testing.T) {
		r := newRTRig(t)
		m := newRTMsgServer(t, &rtMsgServer{dropFirst: true, lookupStatus: 500})
		c := rtClient(t, m.ts.URL+"/v2/", r.obs)
		_, _, err := c.Conversations.Send(context.Background(), rtConv, chatshipper.Chat("fate unknown"))
		if !errors.Is(err, chatshipper.ErrDeliveryUnknown) {
			t.Fatalf("err = %v", err)
		}
		rm := r.metrics(t)
		if n := rtCount(rm, csotel.MetricDeliveryUnknown); n != 1 {
			t.Errorf("unknown = %d", n)
		}
		if n := rtCount(rm, csotel.MetricDeliveryLookups, attribute.String("chatshipper.delivery.result", "failed")); n != 1 {
			t.Errorf("lookups failed = %d", n)
		}
		send := r.byName("Conversations.Send")[0]
		if rtSpanAttr(send, "chatshipper.outcome") != "delivery_unknown" {
			t.Errorf("outcome %s", rtSpanAttr(send, "chatshipper.outcome"))
		}
		if send.Status().Code != codes.Error {
			t.Errorf("status %v", send.Status())
		}
		if o := r.open(); len(o) != 0 {
			t.Errorf("spans left open: %v", o)
		}
	})
}

// The loop guard: a "chatshipper.loop_guard.refusal" event and the refusals
// metric by kind and from_server; the server's loop limit likewise.
func TestRTOtelLoopGuard(t *testing.T) {
	t.Parallel()
	t.Run("client", func(t *testing.T) {
		r := newRTRig(t)
		m := newRTMsgServer(t, &rtMsgServer{})
		c := rtClient(t, m.ts.URL+"/v2/", r.obs, chatshipper.WithLoopGuard(true))
		var err error
		for i := 0; i < 9 && err == nil; i++ {
			_, _, err = c.Conversations.Send(context.Background(), rtConv, chatshipper.Chat("again"))
		}
		if !errors.Is(err, chatshipper.ErrLoopLimit) {
			t.Fatalf("err = %v", err)
		}
		rm := r.metrics(t)
		if n := rtCount(rm, csotel.MetricLoopGuardRefusals, attribute.String("chatshipper.loop_limit.kind", "identical"), attribute.Bool("chatshipper.loop_limit.from_server", false)); n != 1 {
			t.Errorf("refusals = %d\n%s", n, r.dump(t))
		}
		sends := r.byName("Conversations.Send")
		last := sends[len(sends)-1]
		if rtSpanAttr(last, "chatshipper.outcome") != "loop_limit" || rtSpanAttr(last, "chatshipper.attempts") != "0" {
			t.Errorf("refused send: outcome %s attempts %s", rtSpanAttr(last, "chatshipper.outcome"), rtSpanAttr(last, "chatshipper.attempts"))
		}
	})
	t.Run("server", func(t *testing.T) {
		r := newRTRig(t)
		srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
		c, err := srv.NewClient(chatshipper.WithLoopGuard(false), chatshipper.WithObserver(r.obs), chatshipper.WithRateLimit(0))
		if err != nil {
			t.Fatal(err)
		}
		conv, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{Name: "rt"})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < 30 && err == nil; i++ {
			_, _, err = c.Conversations.Send(context.Background(), conv.ID, chatshipper.Chat(fmt.Sprint("line ", i)))
		}
		if !errors.Is(err, chatshipper.ErrLoopLimit) {
			t.Fatalf("err = %v", err)
		}
		rm := r.metrics(t)
		if n := rtCount(rm, csotel.MetricLoopGuardRefusals, attribute.String("chatshipper.loop_limit.kind", "consecutive"), attribute.Bool("chatshipper.loop_limit.from_server", true)); n != 1 {
			t.Errorf("refusals = %d", n)
		}
		if n := rtCount(rm, csotel.MetricRateLimited); n != 1 {
			t.Errorf("rate_limited = %d (\"the server's bot loop limit included\")", n)
		}
	})
}

// ---------------------------------------------------------------------------
// Spans end.

// rtCancelOnRetry forwards to the otel Observer and cancels the call's
// context on the first retry decision.
type rtCancelOnRetry struct {
	*csotel.Observer
	cancel context.CancelFunc
}

func (o rtCancelOnRetry) Decision(ctx context.Context, d chatshipper.Decision) {
	o.Observer.Decision(ctx, d)
	if d.Kind == chatshipper.DecisionRetry {
		o.cancel()
	}
}

// A call cancelled while it waits out a Retry-After, a walk broken early
// (with prefetch, with concurrency), a walk pulled once and stopped, a walk
// ending in an error, a context expired before the call: no span left open,
// one call span each with the documented outcome.
func TestRTOtelSpansEnd(t *testing.T) {
	t.Parallel()
	t.Run("cancel during retry wait", func(t *testing.T) {
		r := newRTRig(t)
		s := newRTServer(t, rtStep{status: 503, hdr: map[string]string{"Retry-After": "20"}})
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		c := rtClient(t, s.ts.URL+"/v2/", rtCancelOnRetry{r.obs, cancel}, chatshipper.WithRetryWait(time.Millisecond, 30*time.Second))
		_, _, err := c.Conversations.Get(ctx, rtConv, nil)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v", err)
		}
		if o := r.open(); len(o) != 0 {
			t.Errorf("spans left open: %v", o)
		}
		calls := r.byName("Conversations.Get")
		if len(calls) != 1 || rtSpanAttr(calls[0], "chatshipper.outcome") != "canceled" {
			t.Errorf("%s", r.dump(t))
		}
	})
	t.Run("expired before the call", func(t *testing.T) {
		r := newRTRig(t)
		s := newRTServer(t)
		c := rtClient(t, s.ts.URL+"/v2/", r.obs)
		ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
		defer cancel()
		_, _, _ = c.Conversations.Get(ctx, rtConv, nil)
		calls := r.byName("Conversations.Get")
		if len(calls) != 1 || rtSpanAttr(calls[0], "chatshipper.outcome") != "deadline_exceeded" || len(r.open()) != 0 {
			t.Errorf("%s open %v", r.dump(t), r.open())
		}
	})
	walks := []struct {
		name string
		opts []chatshipper.WalkOption
		fail bool
		loop func(w *chatshipper.Walk[chatshipper.Message]) error
	}{
		{"break", nil, false, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Items() {
				if err != nil {
					return err
				}
				if w.Count() == 3 {
					break
				}
			}
			return nil
		}},
		{"concurrency break", []chatshipper.WalkOption{chatshipper.Concurrency(4)}, false, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Items() {
				if err != nil {
					return err
				}
				break
			}
			return nil
		}},
		{"prefetch pages break", []chatshipper.WalkOption{chatshipper.Prefetch(4)}, false, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Pages() {
				if err != nil {
					return err
				}
				break
			}
			return nil
		}},
		{"pull", nil, false, func(w *chatshipper.Walk[chatshipper.Message]) error {
			next, stop := iter.Pull2(w.Items())
			defer stop()
			_, err, _ := next()
			return err
		}},
		{"error", nil, true, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Items() {
				if err != nil {
					return err
				}
			}
			return nil
		}},
	}
	for _, tc := range walks {
		t.Run("walk "+tc.name, func(t *testing.T) {
			r := newRTRig(t)
			var gets atomic.Int32
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
				n := gets.Add(1)
				if tc.fail && n == 3 {
					w.WriteHeader(500)
					fmt.Fprint(w, `{"message":"boom"}`)
					return
				}
				// 2 items per page, 20 in all, by offset (with X-Total).
				off, _ := strconv.Atoi(req.URL.Query().Get("offset"))
				after := req.URL.Query().Get("id")
				start := off
				if strings.HasPrefix(after, ">") {
					k, _ := strconv.ParseInt(after[len(after)-8:], 16, 64)
					start = int(k)
				}
				var items []string
				for i := start; i < min(start+2, 20); i++ {
					items = append(items, fmt.Sprintf(`{"id":"6000000000000000%08x","conversation":%q,"type":"chat","text":"w"}`, i+1, rtConv))
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("X-Total", strconv.Itoa(20-start+off))
				fmt.Fprint(w, "["+strings.Join(items, ",")+"]")
			}))
			defer ts.Close()
			c := rtClient(t, ts.URL+"/v2/", r.obs)
			q := chatshipper.NewQuery().Where("conversation", chatshipper.Eq(rtConv)).Limit(2)
			err := tc.loop(c.Messages.Walk(context.Background(), q, tc.opts...))
			if (err != nil) != tc.fail {
				t.Fatalf("err = %v", err)
			}
			if o := r.open(); len(o) != 0 {
				t.Errorf("spans left open: %v", o)
			}
			walk := r.byName("Messages.Walk")
			if len(walk) != 1 {
				t.Fatalf("%d walk spans\n%s", len(walk), r.dump(t))
			}
			children := 0
			for _, s := range r.ended() {
				if s.SpanKind() == trace.SpanKindClient && s.Parent().SpanID() == walk[0].SpanContext().SpanID() {
					children++
				}
			}
			if rtSpanAttr(walk[0], "chatshipper.attempts") != strconv.Itoa(children) {
				t.Errorf("walk attempts %s, client spans %d", rtSpanAttr(walk[0], "chatshipper.attempts"), children)
			}
			if int(gets.Load()) > children {
				t.Errorf("server saw %d requests, %d client spans", gets.Load(), children)
			}
			if tc.fail && rtSpanAttr(walk[0], "chatshipper.outcome") != "http_error" {
				t.Errorf("outcome %s", rtSpanAttr(walk[0], "chatshipper.outcome"))
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Webhooks.

const rtHookSecret = "whsec-RTOTEL-canary-hook-secret"

func rtHookEvent(id, name, text string) string {
	return fmt.Sprintf(`{"id":%q,"event":%q,"timestamp":1700000000000,"data":{"message":{"id":"5bb0277fd99faf11a3f4a3%02x","text":%q,"role":"contact","type":"chat","conversation":%q,"meta":{"note":"RTMETA-canary-value"}},"conversation":{"id":%q,"name":"RTNAME Jane Canary","meta":{"email":"rt.canary@example.org","phone":"+31699988877"}}}}`,
		id, name, len(id), text, rtConv, rtConv)
}

// rtPost delivers body within a server span, as otelhttp would.
func rtPost(r *rtRig, h http.Handler, body, sig string) (int, trace.Span) {
	req := httptest.NewRequest("POST", "/hook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(webhook.SignatureHeader, sig)
	}
	ctx, span := r.tp.Tracer("rt-server").Start(req.Context(), "POST /hook", trace.WithSpanKind(trace.SpanKindServer))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req.WithContext(ctx))
	span.End()
	return rec.Code, span
}

// "A webhook event's handlers run in a consumer span "webhook.Handle" ...
// which is the parent of the API calls they make"; decisions are
// "chatshipper.webhook" events on the request's span; the metrics by outcome.
// A handler that calls the API and then panics; a duplicate; a refused
// delivery; a handler that fails.
func TestRTOtelWebhookSpans(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	s := newRTServer(t)
	c := rtClient(t, s.ts.URL+"/v2/", r.obs)
	h, err := webhook.NewHandler(webhook.WithSecret(rtHookSecret), webhook.WithObserver(r.obs), webhook.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Handle("**", func(ctx context.Context, e *webhook.Event) error {
		if _, _, err := c.Conversations.Get(ctx, rtConv, nil); err != nil {
			return err
		}
		switch e.Data.Message.Text {
		case "panic":
			panic("handler panic RTPANIC")
		case "fail":
			return errors.New("handler failed RTFAIL")
		}
		return nil
	})
	sign := func(b string) string { return webhook.Sign([]byte(b), rtHookSecret) }
	evOK := rtHookEvent("eeeeeeee-0000-0000-0000-000000000001", "message.create.contact.chat", "fine")
	evPanic := rtHookEvent("eeeeeeee-0000-0000-0000-000000000002", "message.create.contact.chat", "panic")
	evFail := rtHookEvent("eeeeeeee-0000-0000-0000-000000000003", "message.create.contact.chat", "fail")
	type delivery struct {
		body, sig string
		status    int
		events    []string // chatshipper.webhook events on the request span (by outcome)
	}
	for i, d := range []delivery{
		{evOK, sign(evOK), 200, []string{"verified"}},
		{evOK, sign(evOK), 200, []string{"verified", "duplicate"}},
		{evPanic, sign(evPanic), 500, []string{"verified"}},
		{evFail, sign(evFail), 500, []string{"verified"}},
		{evOK, "sha1=0000000000000000000000000000000000000000", 401, []string{"refused"}},
	} {
		code, span := rtPost(r, h, d.body, d.sig)
		if code != d.status {
			t.Errorf("delivery %d answered %d, want %d", i, code, d.status)
		}
		var got []string
		for _, s := range r.ended() {
			if s.SpanContext().SpanID() != span.SpanContext().SpanID() {
				continue
			}
			for _, e := range s.Events() {
				if e.Name == "chatshipper.webhook" {
					v, _ := rtAttr(e.Attributes, "chatshipper.outcome")
					got = append(got, v.String())
				}
			}
		}
		if strings.Join(got, " ") != strings.Join(d.events, " ") {
			t.Errorf("delivery %d: events on the request span %v, want %v", i, got, d.events)
		}
	}
	if o := r.open(); len(o) != 0 {
		t.Errorf("spans left open: %v", o)
	}
	handles := r.byName("webhook.Handle")
	if len(handles) != 3 {
		t.Fatalf("%d webhook.Handle spans, want 3\n%s", len(handles), r.dump(t))
	}
	outcomes := map[string]string{}
	for _, hs := range handles {
		if hs.SpanKind() != trace.SpanKindConsumer {
			t.Errorf("webhook.Handle kind %s", hs.SpanKind())
		}
		id := rtSpanAttr(hs, "chatshipper.webhook.event_id")
		outcomes[id] = rtSpanAttr(hs, "chatshipper.outcome")
		if rtSpanAttr(hs, "chatshipper.webhook.event") != "message.create.contact.chat" {
			t.Errorf("event attribute %s", rtSpanAttr(hs, "chatshipper.webhook.event"))
		}
		// The API call the handler made is its child.
		kids := 0
		for _, s := range r.byName("Conversations.Get") {
			if s.Parent().SpanID() == hs.SpanContext().SpanID() {
				kids++
			}
		}
		if kids != 1 {
			t.Errorf("webhook.Handle %s has %d Conversations.Get children", id, kids)
		}
		if (outcomes[id] == "failed") != (hs.Status().Code == codes.Error) {
			t.Errorf("webhook.Handle %s outcome %s status %v", id, outcomes[id], hs.Status())
		}
	}
	want := map[string]string{"eeeeeeee-0000-0000-0000-000000000001": "handled", "eeeeeeee-0000-0000-0000-000000000002": "failed", "eeeeeeee-0000-0000-0000-000000000003": "failed"}
	for id, o := range want {
		if outcomes[id] != o {
			t.Errorf("%s outcome %s, want %s", id, outcomes[id], o)
		}
	}
	rm := r.metrics(t)
	for outcome, n := range map[string]int64{"verified": 4, "duplicate": 1, "refused": 1} {
		if got := rtCount(rm, csotel.MetricWebhookEvents, attribute.String("chatshipper.outcome", outcome)); got != n {
			t.Errorf("%s{%s} = %d, want %d", csotel.MetricWebhookEvents, outcome, got, n)
		}
	}
	if got := rtCount(rm, csotel.MetricWebhookEvents, attribute.String("chatshipper.outcome", "refused"), attribute.Int("http.response.status_code", 401)); got != 1 {
		t.Errorf("refused with status 401 = %d\n%s", got, r.dump(t))
	}
	if got := rtCount(rm, csotel.MetricWebhookHandlerDuration, attribute.String("chatshipper.outcome", "failed")); got != 2 {
		t.Errorf("handler.duration failed = %d", got)
	}
	if got := rtCount(rm, csotel.MetricWebhookHandlerDuration, attribute.String("chatshipper.outcome", "handled")); got != 1 {
		t.Errorf("handler.duration handled = %d", got)
	}
	for _, bad := range []string{"RTPANIC", "RTFAIL"} {
		if strings.Contains(r.dump(t), bad) {
			t.Errorf("a handler's error text %q was recorded (\"errors are recorded by their class ... never by their message\")", bad)
		}
	}
}

// With WithAsync the span of a queued event ends when its handlers are done,
// and Shutdown leaves none open.
func TestRTOtelWebhookAsyncSpansEnd(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	h, err := webhook.NewHandler(webhook.WithSecret(rtHookSecret), webhook.WithObserver(r.obs), webhook.WithLogger(nil), webhook.WithAsync(2, 16))
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Handle("**", func(ctx context.Context, e *webhook.Event) error {
		if strings.HasSuffix(e.ID, "3") {
			panic("async panic")
		}
		return nil
	})
	for i := range 8 {
		ev := rtHookEvent(fmt.Sprintf("ffffffff-0000-0000-0000-00000000000%d", i), "message.create.contact.chat", "x")
		if code, _ := rtPost(r, h, ev, webhook.Sign([]byte(ev), rtHookSecret)); code != 200 {
			t.Fatalf("answered %d", code)
		}
	}
	if err := h.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if o := r.open(); len(o) != 0 {
		t.Errorf("spans left open after Shutdown: %v", o)
	}
	if n := len(r.byName("webhook.Handle")); n != 8 {
		t.Errorf("%d webhook.Handle spans", n)
	}
}

// ---------------------------------------------------------------------------
// What is never recorded.

// rtLeaks reports every canary found in the recorded spans and metrics.
func rtLeaks(t *testing.T, r *rtRig, canaries ...string) {
	t.Helper()
	d := r.dump(t)
	for _, c := range canaries {
		if strings.Contains(d, c) {
			var lines []string
			for _, l := range strings.Split(d, "\n") {
				if strings.Contains(l, c) {
					lines = append(lines, strings.TrimSpace(l))
				}
			}
			t.Errorf("%q recorded:\n  %s", c, strings.Join(lines, "\n  "))
		}
	}
}

// rtEcho answers every request with status, quoting the whole request (URL,
// Authorization, body) in its message and body, as a careless server does.
func rtEcho(t *testing.T, status int) *httptest.Server {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 1<<16)
		n, _ := r.Body.Read(buf)
		quoted := strings.NewReplacer(`"`, `'`, "\n", " ", `\`, `/`).Replace(r.URL.String() + " " + r.Header.Get("Authorization") + " " + string(buf[:n]))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprintf(w, `{"message":"Refused: %s","error":{"message":"%s"}}`, quoted, quoted)
	}))
	t.Cleanup(ts.Close)
	return ts
}

// "No token, password, webhook secret, e-mail address, telephone number or
// message text appears in a span name, an attribute, an event or a metric
// label". Canaries sent in every place a call can carry them, to servers
// that quote them back in errors (422, 500 and retried 503).
func TestRTOtelNoSecretsOrPersonalData(t *testing.T) {
	t.Parallel()
	const (
		text     = "RTTEXT my confidential diagnosis"
		email    = "rt.canary.person@example.org"
		phone    = "+31699988877"
		password = "RTPASS-hunter2-canary"
		secret   = "RTSECRET-webhook-canary"
	)
	canaries := []string{"RTTEXT", "diagnosis", "rt.canary.person", "699988877", "RTPASS", "RTSECRET", "RTOTEL-canary", "tok-RTOTEL"}
	for _, status := range []int{422, 500, 503} {
		t.Run(fmt.Sprint("bodies echoed with ", status), func(t *testing.T) {
			t.Parallel()
			r := newRTRig(t)
			ts := rtEcho(t, status)
			c := rtClient(t, ts.URL+"/v2/", r.obs, chatshipper.WithMaxRetries(1))
			ctx := context.Background()
			_, _, _ = c.Conversations.Send(ctx, rtConv, chatshipper.Chat(text).WithMeta("email", email).WithMeta("phone", phone))
			_, _, _ = c.Contacts.Create(ctx, &chatshipper.ContactCreate{Profile: chatshipper.ContactProfile{Name: "Jane", Email: email, Telephone: phone}})
			_, _, _ = c.Users.Create(ctx, &chatshipper.UserCreate{Email: email, Password: password})
			_, _, _ = c.Services.CreateWebhook(ctx, &chatshipper.WebhookServiceCreate{Name: "rt", URL: "https://example.org/hook", Secret: secret, Events: []string{"message.create.*"}})
			_, _, _ = c.Conversations.Create(ctx, &chatshipper.ConversationCreate{Name: "rt", Messages: []chatshipper.MessageInput{chatshipper.Chat(text)}})
			_, _ = chatshipper.Login(ctx, chatshipper.Credentials{Email: email, Password: password}, chatshipper.WithBaseURL(ts.URL+"/v2/"), chatshipper.WithObserver(r.obs))
			if o := r.open(); len(o) != 0 {
				t.Errorf("spans left open: %v", o)
			}
			rtLeaks(t, r, canaries...)
		})
	}
	queries := []struct {
		name string
		q    *chatshipper.Query
	}{
		{"email Eq", chatshipper.NewQuery().Where("meta.contact", chatshipper.Eq(email))},
		{"email WhereAny", chatshipper.NewQuery().WhereAny([]string{"meta.a", "meta.b"}, email)},
		{"phone Eq", chatshipper.NewQuery().Where("meta.contact", chatshipper.Eq(phone))},
		{"phone Ne", chatshipper.NewQuery().Where("meta.contact", chatshipper.Ne(phone))},
		{"phone In", chatshipper.NewQuery().Where("meta.contact", chatshipper.In("x", phone))},
		{"phone WhereAny", chatshipper.NewQuery().WhereAny([]string{"meta.a", "meta.b"}, phone)},
		{"text Eq", chatshipper.NewQuery().Where("text", chatshipper.Eq(text))},
		{"text Regex", chatshipper.NewQuery().Where("text", chatshipper.Regex("diagnosis"))},
		{"text WhereAny", chatshipper.NewQuery().WhereAny([]string{"text", "meta.note"}, "diagnosis")},
	}
	for _, tc := range queries {
		t.Run("query "+tc.name, func(t *testing.T) {
			t.Parallel()
			r := newRTRig(t)
			ts := rtEcho(t, 400)
			c := rtClient(t, ts.URL+"/v2/", r.obs)
			_, _, err := c.Messages.List(context.Background(), tc.q.Where("conversation", chatshipper.Eq(rtConv)))
			var er *chatshipper.ErrorResponse
			if !errors.As(err, &er) {
				t.Fatalf("err = %v", err)
			}
			rtLeaks(t, r, canaries...)
		})
	}
	t.Run("webhook event", func(t *testing.T) {
		t.Parallel()
		r := newRTRig(t)
		h, _ := webhook.NewHandler(webhook.WithSecret(rtHookSecret), webhook.WithObserver(r.obs), webhook.WithLogger(nil))
		_ = h.Handle("**", func(ctx context.Context, e *webhook.Event) error {
			return fmt.Errorf("could not answer %q", e.Data.Message.Text)
		})
		ev := rtHookEvent("99999999-0000-0000-0000-000000000001", "message.create.contact.chat", text)
		rtPost(r, h, ev, webhook.Sign([]byte(ev), rtHookSecret))
		rtPost(r, h, ev, "sha1=bad")
		rtLeaks(t, r, append(canaries, "RTMETA", "RTNAME", "rt.canary@example.org", "whsec-RTOTEL")...)
	})
}

// ---------------------------------------------------------------------------
// Metrics: names, units, labels.

// The documented instruments with their units ("s" for durations; the
// semantic conventions' http.client.request.duration with its bucket
// advice), counters without a "_total" suffix or a unit of "1", and labels
// that hold no ID, URL or event name ("Metric labels are low-cardinality").
func TestRTOtelMetricConventions(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	m := newRTMsgServer(t, &rtMsgServer{dropBefore: true})
	c := rtClient(t, m.ts.URL+"/v2/", r.obs, chatshipper.WithRateLimit(20), chatshipper.WithIPRateLimit(0), chatshipper.WithLoopGuard(true))
	_, _, _ = c.Conversations.Send(context.Background(), rtConv, chatshipper.Chat("metrics"))
	for range 9 {
		_, _, _ = c.Conversations.Send(context.Background(), rtConv, chatshipper.Chat("same"))
	}
	// 503 (retried), then 429 asking for 1 s, longer than the longest wait
	// (5 ms): not retried, but the limiter is paused.
	s := newRTServer(t, rtStep{status: 503}, rtStep{status: 429, hdr: map[string]string{"Retry-After": "1"}})
	c2 := rtClient(t, s.ts.URL+"/v2/", r.obs, chatshipper.WithRateLimit(20), chatshipper.WithIPRateLimit(0))
	_, _, _ = c2.Conversations.Get(context.Background(), rtConv, nil)
	// A webhook without a secret: anyone may post any event name.
	h, _ := webhook.NewHandler(webhook.WithObserver(r.obs), webhook.WithLogger(nil))
	_ = h.Handle("**", func(context.Context, *webhook.Event) error { return nil })
	ev := rtHookEvent("77777777-0000-0000-0000-000000000001", "attacker.chosen.RTEVENTNAME", "x")
	rtPost(r, h, ev, "")

	rm := r.metrics(t)
	units := map[string]string{
		csotel.MetricHTTPClientDuration: "s", csotel.MetricCallDuration: "s", csotel.MetricLimiterWait: "s", csotel.MetricWebhookHandlerDuration: "s",
	}
	seen := map[string]bool{}
	for _, sm := range rm.ScopeMetrics {
		if sm.Scope.Name != csotel.ScopeName {
			t.Errorf("scope %q", sm.Scope.Name)
		}
		for _, mt := range sm.Metrics {
			seen[mt.Name] = true
			if u, ok := units[mt.Name]; ok && mt.Unit != u {
				t.Errorf("%s unit %q, want %q", mt.Name, mt.Unit, u)
			}
			if _, ok := units[mt.Name]; !ok {
				if mt.Unit == "1" || (mt.Unit != "" && !strings.HasPrefix(mt.Unit, "{")) {
					t.Errorf("counter %s unit %q (semantic conventions: an annotation such as {retry})", mt.Name, mt.Unit)
				}
				if _, isSum := mt.Data.(metricdata.Sum[int64]); !isSum {
					t.Errorf("%s is %T, want an int64 counter", mt.Name, mt.Data)
				}
			}
			if strings.HasSuffix(mt.Name, "_total") || strings.ToLower(mt.Name) != mt.Name {
				t.Errorf("metric name %q", mt.Name)
			}
			if mt.Description == "" {
				t.Errorf("%s has no description", mt.Name)
			}
			for _, set := range rtPointSets(mt) {
				enc := set.Encoded(attribute.DefaultEncoder())
				for _, bad := range []string{rtConv, "http://", "127.0.0.1:", "/v2/", "RTEVENTNAME", "77777777", "6000000000000000"} {
					if strings.Contains(enc, bad) {
						t.Errorf("%s label set holds %q: %s", mt.Name, bad, enc)
					}
				}
				for _, kv := range set.ToSlice() {
					if kv.Key == "url.full" || kv.Key == "chatshipper.conversation.id" || kv.Key == "chatshipper.webhook.event" || kv.Key == "chatshipper.webhook.event_id" {
						t.Errorf("%s labelled by %s", mt.Name, kv.Key)
					}
				}
			}
			if mt.Name == csotel.MetricHTTPClientDuration {
				h, ok := mt.Data.(metricdata.Histogram[float64])
				if !ok || len(h.DataPoints) == 0 {
					t.Errorf("%s is %T", mt.Name, mt.Data)
					continue
				}
				want := []float64{0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10}
				if got := h.DataPoints[0].Bounds; fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("%s bucket bounds %v; the semantic conventions advise %v (with the SDK's default bounds, meant for milliseconds, every request falls in the first bucket)", mt.Name, got, want)
				}
				for _, p := range h.DataPoints {
					for _, k := range []attribute.Key{"http.request.method", "server.address", "server.port"} {
						if _, ok := p.Attributes.Value(k); !ok {
							t.Errorf("%s point without the required %s: %s", mt.Name, k, p.Attributes.Encoded(attribute.DefaultEncoder()))
						}
					}
				}
			}
		}
	}
	for _, name := range []string{csotel.MetricHTTPClientDuration, csotel.MetricCallDuration, csotel.MetricRetries, csotel.MetricRateLimited,
		csotel.MetricLimiterWait, csotel.MetricLimiterPauses, csotel.MetricLoopGuardRefusals, csotel.MetricDeliveryLookups,
		csotel.MetricDeliveryResends, csotel.MetricWebhookEvents, csotel.MetricWebhookHandlerDuration} {
		if !seen[name] {
			t.Errorf("metric %s not recorded", name)
		}
	}
}

// ---------------------------------------------------------------------------
// Concurrency, behaviour, cost.

// 16 goroutines share one Observer and two clients, with retries, drops and
// errors; every span ends, every request received has its client span (run
// with -race).
func TestRTOtelConcurrent(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	var n atomic.Int64
	var mu sync.Mutex
	seen := map[string]bool{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		seen[rtSpanIDOf(req.Header.Get("Traceparent"))] = true
		mu.Unlock()
		switch n.Add(1) % 4 {
		case 0:
			w.WriteHeader(503)
			fmt.Fprint(w, `{"message":"busy"}`)
		case 1:
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"`+rtConv+`"}`)
		}
	}))
	ts.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(ts.Close)
	c1 := rtClient(t, ts.URL+"/v2/", r.obs)
	c2 := rtClient(t, ts.URL+"/v2/", r.obs)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := c1
			if g%2 == 1 {
				c = c2
			}
			for range 8 {
				_, _, _ = c.Conversations.Get(context.Background(), rtConv, nil)
			}
		}()
	}
	wg.Wait()
	if o := r.open(); len(o) != 0 {
		t.Errorf("spans left open: %v", o)
	}
	client := 0
	for _, s := range r.ended() {
		if s.SpanKind() == trace.SpanKindClient {
			client++
			if !seen[s.SpanContext().SpanID().String()] {
				t.Errorf("client span %s never reached the server", s.SpanContext().SpanID())
			}
		}
	}
	if int64(client) != n.Load() || len(seen) != client {
		t.Errorf("%d client spans, %d requests, %d distinct traceparents", client, n.Load(), len(seen))
	}
	if calls := len(r.byName("Conversations.Get")); calls != 128 {
		t.Errorf("%d call spans", calls)
	}
	if got := rtCount(r.metrics(t), csotel.MetricHTTPClientDuration); got != n.Load() {
		t.Errorf("%d requests measured, %d received", got, n.Load())
	}
}

// The observer changes nothing: the same lost-answer send, and a GET through
// 503s, send the same requests with and without it.
func TestRTOtelChangesNothing(t *testing.T) {
	t.Parallel()
	run := func(obs chatshipper.Observer) (string, error) {
		m := newRTMsgServer(t, &rtMsgServer{dropFirst: true})
		c := rtClient(t, m.ts.URL+"/v2/", obs)
		_, _, err := c.Conversations.Send(context.Background(), rtConv, chatshipper.Chat("same"))
		s := newRTServer(t, rtStep{status: 503}, rtStep{status: 503}, rtStep{status: 200})
		c2 := rtClient(t, s.ts.URL+"/v2/", obs)
		_, _, err2 := c2.Conversations.Get(context.Background(), rtConv, nil)
		var uris []string
		for _, q := range s.requests() {
			uris = append(uris, q.method+" "+q.uri)
		}
		return fmt.Sprintf("posts=%d gets=%d stored=%d %v", m.posts, m.gets, len(m.stored), uris), errors.Join(err, err2)
	}
	a, errA := run(nil)
	r := newRTRig(t)
	b, errB := run(r.obs)
	if a != b || (errA == nil) != (errB == nil) {
		t.Errorf("without: %s %v\nwith:    %s %v", a, errA, b, errB)
	}
}

// "With this Observer and no-op providers a GET ... 9 / 1.0 KB" extra
// allocations per call (BENCHMARKS.md). Plausibility: a few more than none,
// not dozens.
func TestRTOtelNoopAllocs(t *testing.T) {
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"`+rtConv+`"}`)
	}))
	t.Cleanup(ts.Close)
	obs, err := csotel.New(csotel.WithTracerProvider(tracenoop.NewTracerProvider()), csotel.WithMeterProvider(metricnoop.NewMeterProvider()),
		csotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		t.Fatal(err)
	}
	plain := rtClient(t, ts.URL+"/v2/", nil)
	observed := rtClient(t, ts.URL+"/v2/", obs)
	get := func(c *chatshipper.Client) func() {
		return func() {
			if _, _, err := c.Conversations.Get(context.Background(), rtConv, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 20 {
		get(plain)()
		get(observed)()
	}
	a, b := 1e9, 1e9
	for range 5 {
		a = min(a, testing.AllocsPerRun(100, get(plain)))
		b = min(b, testing.AllocsPerRun(100, get(observed)))
	}
	t.Logf("allocs per GET: %.0f without, %.0f with the otel Observer on no-op providers (+%.0f)", a, b, b-a)
	if b-a > 20 {
		t.Errorf("the no-op otel Observer adds %.0f allocations per GET; BENCHMARKS.md says 9", b-a)
	}
}

// A redirect: "each hop of an attempt that follows a redirect" is a request
// sent, so a client span of its own carrying its own traceparent, with
// chatshipper.hop 2 and, as the semantic conventions define
// http.request.resend_count ("for any reason, including redirects"), a
// resend count of 1; url.full of the hop redacted (user info, e-mail,
// telephone, token). Client.Do's call span is "Client.Do".
func TestRTOtelRedirect(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	target := newRTServer(t, rtStep{status: 200})
	loc := strings.Replace(target.ts.URL, "http://", "http://rtuser:PWSECRET@", 1) + "/v2/conversations/" + rtConv +
		"?email=jane.doe%40example.org&phone=%2B31612345678&token=TOKSECRET123"
	first := newRTServer(t, rtStep{status: 302, hdr: map[string]string{"Location": loc}, body: `{}`})
	c := rtClient(t, first.ts.URL+"/v2/", r.obs)
	req, err := c.NewRequest(context.Background(), "GET", "conversations/"+rtConv, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Do(req, nil); err != nil {
		t.Fatal(err)
	}
	if o := r.open(); len(o) != 0 {
		t.Errorf("spans left open: %v", o)
	}
	seen := append(first.requests(), target.requests()...)
	client := clientSpansMatchServer(t, r, seen)
	if len(r.byName("Client.Do")) != 1 {
		t.Errorf("no Client.Do span\n%s", r.dump(t))
	}
	if len(client) == 2 {
		hop := client[1]
		if got := rtSpanAttr(hop, "chatshipper.hop"); got != "2" {
			t.Errorf("hop span chatshipper.hop = %s", got)
		}
		if got := rtSpanAttr(client[0], "chatshipper.hop"); got != "<none>" {
			t.Errorf("first span chatshipper.hop = %s (\"only above 1\")", got)
		}
		if got := rtSpanAttr(hop, "server.port"); got != target.ts.URL[strings.LastIndex(target.ts.URL, ":")+1:] {
			t.Errorf("hop server.port = %s, the target is %s", got, target.ts.URL)
		}
		if got := rtSpanAttr(hop, "http.request.resend_count"); got != "1" {
			t.Errorf("hop http.request.resend_count = %s; the semantic conventions count redirects as resends", got)
		}
	}
	rtLeaks(t, r, "jane", "612345678", "TOKSECRET", "PWSECRET", "rtuser")
}

// BatchSender: "each request of a BatchSender as Send". Sends queued from
// several goroutines: one Send span per POST received, each with its client
// span; then a Close whose context ends while a request hangs on the server:
// "the requests in flight are cancelled, and Close returns ctx's error once
// they have ended" — no span may be left open then.
func TestRTOtelBatchSender(t *testing.T) {
	t.Parallel()
	t.Run("queued", func(t *testing.T) {
		r := newRTRig(t)
		m := newRTMsgServer(t, &rtMsgServer{})
		c := rtClient(t, m.ts.URL+"/v2/", r.obs)
		bs, err := c.Conversations.NewBatchSender(chatshipper.MaxBatch(5))
		if err != nil {
			t.Fatal(err)
		}
		var pend []*chatshipper.PendingSend
		for i := range 30 {
			pend = append(pend, bs.Queue(context.Background(), rtConv, chatshipper.Chat(fmt.Sprint("b", i))))
		}
		if err := bs.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		for _, p := range pend {
			if _, err := p.Result(); err != nil {
				t.Fatal(err)
			}
		}
		if o := r.open(); len(o) != 0 {
			t.Errorf("spans left open: %v", o)
		}
		sends := r.byName("Conversations.Send")
		m.mu.Lock()
		posts := m.posts
		m.mu.Unlock()
		if len(sends) != posts {
			t.Errorf("%d Send spans, %d POSTs received", len(sends), posts)
		}
		client := 0
		for _, s := range r.ended() {
			if s.SpanKind() == trace.SpanKindClient {
				client++
			}
		}
		if client != posts {
			t.Errorf("%d client spans, %d POSTs", client, posts)
		}
	})
	t.Run("close cancels", func(t *testing.T) {
		r := newRTRig(t)
		arrived := make(chan struct{}, 16)
		ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			if req.Method == "POST" {
				_, _ = io.Copy(io.Discard, req.Body) // so that the server notices the client leaving
				arrived <- struct{}{}
				<-req.Context().Done() // hangs until the client gives up
				return
			}
			w.WriteHeader(503)
		}))
		t.Cleanup(ts.Close)
		c := rtClient(t, ts.URL+"/v2/", r.obs)
		bs, err := c.Conversations.NewBatchSender()
		if err != nil {
			t.Fatal(err)
		}
		p := bs.Queue(context.Background(), rtConv, chatshipper.Chat("hangs"))
		<-arrived
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := bs.Close(ctx); !errors.Is(err, context.Canceled) {
			t.Errorf("Close: %v", err)
		}
		if o := r.open(); len(o) != 0 {
			t.Errorf("spans left open after Close returned: %v", o)
		}
		_, err = p.Result()
		t.Logf("the send's error: %v", err)
		if o := r.open(); len(o) != 0 {
			t.Errorf("spans left open after the result: %v", o)
		}
	})
}

// A walk's loop body panics: the walk span and its client spans still end.
func TestRTOtelWalkBodyPanics(t *testing.T) {
	t.Parallel()
	r := newRTRig(t)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Total", "100")
		fmt.Fprintf(w, `[{"id":"600000000000000000000001","conversation":%q},{"id":"600000000000000000000002","conversation":%q}]`, rtConv, rtConv)
	}))
	t.Cleanup(ts.Close)
	c := rtClient(t, ts.URL+"/v2/", r.obs)
	q := chatshipper.NewQuery().Where("conversation", chatshipper.Eq(rtConv)).Sort("createdAt").Limit(2)
	func() {
		defer func() { _ = recover() }()
		for range c.Messages.Walk(context.Background(), q, chatshipper.Prefetch(2)).Items() {
			panic("the caller's loop body")
		}
	}()
	if o := r.open(); len(o) != 0 {
		t.Errorf("spans left open after a panic in the loop body: %v", o)
	}
	if n := len(r.byName("Messages.Walk")); n != 1 {
		t.Errorf("%d walk spans ended", n)
	}
}
