package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: the platform signs webhooks with HMAC-SHA1
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
)

// benchDeliveries returns n signed copies of the message.create fixture
// (compacted, as the platform sends it: about 2 KB), each with its own event
// ID, so duplicate suppression does not short-cut the work.
func benchDeliveries(b *testing.B, n int) (bodies [][]byte, sigs []string) {
	b.Helper()
	var compact bytes.Buffer
	if err := json.Compact(&compact, whFixture(b, "message.create.contact.chat.json")); err != nil {
		b.Fatal(err)
	}
	const id = "3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90"
	tmpl := compact.String()
	if !strings.Contains(tmpl, id) {
		b.Fatal("fixture ID not found")
	}
	for i := range n {
		body := []byte(strings.Replace(tmpl, id, fmt.Sprintf("3f1c9a2e-7b4d-4e8a-9c1f-%012d", i), 1))
		bodies = append(bodies, body)
		sigs = append(sigs, Sign(body, whSecret))
	}
	return bodies, sigs
}

// newBenchHandler is a typical bot's handler: signature checked, own messages
// dropped, one handler for what contacts write.
func newBenchHandler(b *testing.B) (*Handler, *atomic.Int64) {
	b.Helper()
	h, err := NewHandler(WithSecret(whSecret), WithSelfUser(whBot), WithDedupe(1024))
	if err != nil {
		b.Fatal(err)
	}
	var handled atomic.Int64
	err = h.OnMessage(func(_ context.Context, e *Event) error {
		if e.Data.Message.Text != "" {
			handled.Add(1)
		}
		return nil
	}, MessageRole(chatshipper.RoleContact))
	if err != nil {
		b.Fatal(err)
	}
	return h, &handled
}

// reportCPU starts counting the process's CPU time; the function it returns
// reports it per operation as cpu-ns/op. On a shared machine ns/op includes
// the time the benchmark waited for a CPU; the CPU time does not (it does
// include the garbage collector's work, a cost of the allocations).
func reportCPU(b *testing.B) func() {
	c0, ok := processCPU()
	return func() {
		if c1, _ := processCPU(); ok && b.N > 0 {
			b.ReportMetric(float64(c1-c0)/float64(b.N), "cpu-ns/op")
		}
	}
}

// discardWriter is the cheapest http.ResponseWriter, so the benchmark measures
// the handler.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }

// BenchmarkWebhookVerifyDecodeDispatch measures one delivery through
// ServeHTTP: body read, HMAC check, decode, dedupe, filters and dispatch.
func BenchmarkWebhookVerifyDecodeDispatch(b *testing.B) {
	const distinct = 4096 // > the dedupe memory of 1024: every delivery is new
	bodies, sigs := benchDeliveries(b, distinct)
	h, handled := newBenchHandler(b)
	req := httptest.NewRequest(http.MethodPost, "/hook", nil)
	w := &discardWriter{h: http.Header{}}
	var rd bytes.Reader
	b.SetBytes(int64(len(bodies[0])))
	b.ReportAllocs()
	defer reportCPU(b)()
	for i := 0; b.Loop(); i++ {
		k := i % distinct
		rd.Reset(bodies[k])
		req.Body = io.NopCloser(&rd)
		req.ContentLength = int64(len(bodies[k]))
		req.Header[SignatureHeader] = []string{sigs[k]}
		clear(w.h)
		w.status = 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK {
			b.Fatalf("status %d", w.status)
		}
	}
	b.StopTimer()
	if handled.Load() == 0 {
		b.Fatal("the handler never ran")
	}
}

// BenchmarkWebhookLoopbackHTTP serves the webhook handler and an empty handler
// (reads the body, answers 200) over loopback HTTP, sends both the same signed
// deliveries from the same client with the same concurrency, in alternating
// rounds, and reports the events per second of each and their ratio.
func BenchmarkWebhookLoopbackHTTP(b *testing.B) {
	const distinct = 4096
	bodies, sigs := benchDeliveries(b, distinct)
	h, handled := newBenchHandler(b)
	ours := httptest.NewServer(h)
	defer ours.Close()
	empty := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	}))
	defer empty.Close()

	conc := 4 * runtime.GOMAXPROCS(0)
	tr := &http.Transport{MaxIdleConns: 2 * conc, MaxIdleConnsPerHost: conc}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}

	type target struct {
		url     string
		cursor  atomic.Int64 // continues across rounds, so IDs keep cycling
		elapsed time.Duration
		events  int
	}
	send := func(t *target, n int) error {
		var wg sync.WaitGroup
		var failed atomic.Value
		var done atomic.Int64
		start := time.Now()
		for range conc {
			wg.Go(func() {
				for done.Add(1) <= int64(n) {
					k := int(t.cursor.Add(1) % distinct)
					req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(bodies[k]))
					if err != nil {
						failed.Store(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set(SignatureHeader, sigs[k])
					resp, err := client.Do(req)
					if err != nil {
						failed.Store(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Store(fmt.Errorf("status %d", resp.StatusCode))
						return
					}
				}
			})
		}
		wg.Wait()
		t.elapsed += time.Since(start)
		t.events += n
		if err, ok := failed.Load().(error); ok {
			return err
		}
		return nil
	}

	e, o := &target{url: empty.URL}, &target{url: ours.URL}
	for _, t := range []*target{e, o} { // open the connections before timing
		if err := send(t, conc); err != nil {
			b.Fatal(err)
		}
		t.elapsed, t.events = 0, 0
	}

	// Short alternating rounds, each server first in turn, so that load from
	// other processes on the machine falls on both alike.
	b.ResetTimer()
	const chunk = 256
	for sent, r := 0, 0; sent < b.N; r++ {
		n := min(chunk, b.N-sent)
		order := []*target{e, o}
		if r%2 == 1 {
			order = []*target{o, e}
		}
		for _, t := range order {
			if err := send(t, n); err != nil {
				b.Fatal(err)
			}
		}
		sent += n
	}
	b.StopTimer()
	if handled.Load() == 0 {
		b.Fatal("the handler never ran")
	}
	emptyRate := float64(e.events) / e.elapsed.Seconds()
	oursRate := float64(o.events) / o.elapsed.Seconds()
	b.ReportMetric(emptyRate, "empty-events/s")
	b.ReportMetric(oursRate, "webhook-events/s")
	b.ReportMetric(100*oursRate/emptyRate, "%-of-empty")
	b.ReportMetric(float64(o.elapsed.Nanoseconds())/float64(o.events), "ns/op")
}

// BenchmarkWebhookVerifyDecode verifies and decodes a typical 2 KB delivery
// with VerifySignature + ParseEvent, against hmac.Equal + json.Unmarshal into
// the same models written by hand.
func BenchmarkWebhookVerifyDecode(b *testing.B) {
	bodies, sigs := benchDeliveries(b, 1)
	body, sig := bodies[0], sigs[0]
	b.Run("sdk", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			if err := VerifySignature(body, sig, whSecret); err != nil {
				b.Fatal(err)
			}
			if _, err := ParseEvent(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		for b.Loop() {
			mac := hmac.New(sha1.New, []byte(whSecret))
			mac.Write(body)
			want := "sha1=" + hex.EncodeToString(mac.Sum(nil))
			if !hmac.Equal([]byte(want), []byte(sig)) {
				b.Fatal("signature")
			}
			var e struct {
				ID           string                `json:"id"`
				Event        string                `json:"event"`
				Timestamp    chatshipper.Timestamp `json:"timestamp"`
				Organization string                `json:"organization"`
				Activity     *Activity             `json:"activity"`
				Data         struct {
					Conversation *chatshipper.Conversation `json:"conversation"`
					Message      *chatshipper.Message      `json:"message"`
					Links        map[string]string         `json:"links"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
