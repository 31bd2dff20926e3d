package otel_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	csotel "github.com/go-chatshipper/chatshipper/otel"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// The observer's cost on a GET: the same Conversations.Get through a client
// without an observer and one with, alternating call by call against the same
// loopback server (as the root package's BenchmarkPairedGet does), so both
// see the same machine load. BENCHMARKS.md records the figures.

const benchConversation = `{"_id":"5bb0277fd99faf11a3f40001","organization":"aaa111111111111111111111",` +
	`"orgPath":"aaa000000000000000000000#aaa111111111111111111111","name":"Gnoboris Finestrip 1","type":"contact",` +
	`"slug":"SJPFDsaYX1","url":"https://s-view.chatshipper.com/c/SJPFDsaYX1","status":"active",` +
	`"participants":[{"user":"aaa000000000000000000111","name":"awesome bot","role":"bot","active":true},` +
	`{"user":"bbb000000000000000444444","name":"Jenny Jones","role":"agent","active":true,"accepted":true}],` +
	`"messages":["5bb0277fd99faf11a3f4a37f","5bb0277fd99faf11a3f4a380","5bb0277fd99faf11a3f4a381"],` +
	`"contact":"591506e18a280627f8dcfede","category":"General","categoryIndex":1,"touchpoint":"web",` +
	`"language":"en","meta":{"intent":"greeting","engagement":"high"},` +
	`"createdAt":"2026-11-21T10:00:00.000Z","updatedAt":"2026-11-21T10:00:00.000Z"}`

func benchClients(b *testing.B, obs chatshipper.Observer) (base, observed *chatshipper.Client) {
	b.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/conversations/{id}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(benchConversation))
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	opts := []chatshipper.Option{chatshipper.WithBaseURL(srv.URL + "/v2/"), chatshipper.WithRateLimit(1 << 30)}
	base, err := chatshipper.NewClient("bench-token", opts...)
	if err != nil {
		b.Fatal(err)
	}
	observed, err = chatshipper.NewClient("bench-token", append(opts, chatshipper.WithObserver(obs))...)
	if err != nil {
		b.Fatal(err)
	}
	return base, observed
}

// pairGet alternates the GET on base and observed, one call each per round
// (each going first in turn), and reports for both the wall time and the
// process CPU time per call, and the observed client's figures as a
// percentage of the base's. On a shared machine the CPU figures are the
// steadier: other processes' load lengthens the wall time, not the CPU time.
func pairGet(b *testing.B, base, observed *chatshipper.Client) {
	b.Helper()
	ctx := context.Background()
	const id = "5bb0277fd99faf11a3f40001"
	var tBase, tObs, cBase, cObs time.Duration
	n := 0
	timed := func(c *chatshipper.Client, wall, cpu *time.Duration) {
		start, startCPU := time.Now(), processCPU()
		if _, _, err := c.Conversations.Get(ctx, id, nil); err != nil {
			b.Fatal(err)
		}
		*cpu += processCPU() - startCPU
		*wall += time.Since(start)
	}
	b.ReportAllocs()
	for b.Loop() {
		if n%2 == 0 {
			timed(base, &tBase, &cBase)
			timed(observed, &tObs, &cObs)
		} else {
			timed(observed, &tObs, &cObs)
			timed(base, &tBase, &cBase)
		}
		n++
	}
	b.ReportMetric(float64(tBase.Nanoseconds())/float64(n), "base-ns/call")
	b.ReportMetric(float64(tObs.Nanoseconds())/float64(n), "observed-ns/call")
	b.ReportMetric(100*float64(tObs)/float64(tBase), "observed-%-of-base")
	if cBase > 0 {
		b.ReportMetric(float64(cBase.Nanoseconds())/float64(n), "base-cpu-ns/call")
		b.ReportMetric(float64(cObs.Nanoseconds())/float64(n), "observed-cpu-ns/call")
		b.ReportMetric(100*float64(cObs)/float64(cBase), "observed-cpu-%-of-base")
	}
}

// BenchmarkPairedGetNoop: the Observer with no-op providers (what a program
// gets when it sets up no OpenTelemetry SDK).
func BenchmarkPairedGetNoop(b *testing.B) {
	obs, err := csotel.New(csotel.WithTracerProvider(tracenoop.NewTracerProvider()),
		csotel.WithMeterProvider(metricnoop.NewMeterProvider()), csotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		b.Fatal(err)
	}
	base, observed := benchClients(b, obs)
	pairGet(b, base, observed)
}

// discardExporter drops the spans it is given.
type discardExporter struct{}

func (discardExporter) ExportSpans(context.Context, []sdktrace.ReadOnlySpan) error { return nil }
func (discardExporter) Shutdown(context.Context) error                             { return nil }

// BenchmarkPairedGetRecording: the Observer with the SDK's providers
// recording every span (sampled, exported in batches to nowhere) and every
// measurement (aggregated for a reader).
func BenchmarkPairedGetRecording(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()),
		sdktrace.WithBatcher(discardExporter{}))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewManualReader()))
	obs, err := csotel.New(csotel.WithTracerProvider(tp), csotel.WithMeterProvider(mp),
		csotel.WithPropagator(propagation.TraceContext{}))
	if err != nil {
		b.Fatal(err)
	}
	base, observed := benchClients(b, obs)
	pairGet(b, base, observed)
}
