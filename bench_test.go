package chatshipper

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Benchmarks compare the SDK with a baseline doing the same work in the same
// run: raw net/http + encoding/json against the same loopback server.
// BENCHMARKS.md records the figures and the command.

// benchConversation builds a realistic conversation (about 1 KB of JSON).
func benchConversation(i int) Conversation {
	idx := i % 3
	now := NewTimestamp(time.Date(2026, 11, 21, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Minute))
	return Conversation{
		ID:           fmt.Sprintf("5bb0277fd99faf11a3f4%04x", i),
		Organization: NewRef[Organization]("aaa111111111111111111111"),
		OrgPath:      "aaa000000000000000000000#aaa111111111111111111111",
		Name:         "Gnoboris Finestrip " + strconv.Itoa(i),
		Type:         ConversationContact,
		Slug:         "SJPFDsaYX" + strconv.Itoa(i),
		URL:          "https://s-view.chatshipper.com/c/SJPFDsaYX" + strconv.Itoa(i),
		Status:       StatusActive,
		Participants: []Participant{
			{User: NewRef[User]("aaa000000000000000000111"), Name: "awesome bot", Role: RoleBot, Active: true,
				Avatar: "https://storage.googleapis.com/cs2-uploads/avatars/ca6e1762-988e-4cbc-becb-ad952b6df9a4.png", CreatedAt: now, UpdatedAt: now},
			{User: NewRef[User]("bbb000000000000000444444"), Name: "Jenny Jones", Role: RoleAgent, Active: true, Accepted: true, CreatedAt: now, UpdatedAt: now},
		},
		Messages: []Ref[Message]{NewRef[Message]("5bb0277fd99faf11a3f4a37f"), NewRef[Message]("5bb0277fd99faf11a3f4a380"),
			NewRef[Message]("5bb0277fd99faf11a3f4a381")},
		Channels: []string{}, ChannelsOffline: []string{}, Forms: []Meta{}, Results: []Meta{},
		Contact:       NewRef[Contact]("591506e18a280627f8dcfede"),
		Category:      "General",
		CategoryIndex: &idx,
		Touchpoint:    "web",
		Touchpoints:   []string{"web", "email"},
		Language:      "en",
		Meta:          obj(Meta{"intent": "greeting", "engagement": "high", "scores": []any{8.0, 7.0, 6.5}}),
		CreatedBy:     NewRef[User]("aaa000000000000000000111"),
		CreatedAt:     now,
		UpdatedAt:     now,
	}
}

func benchPage(n int) []byte {
	page := make([]Conversation, n)
	for i := range page {
		page[i] = benchConversation(i)
	}
	b, err := json.Marshal(page)
	if err != nil {
		panic(err)
	}
	return b
}

// benchServer serves one conversation and a 200-conversation page.
func benchServer(b *testing.B) (*httptest.Server, []byte, []byte) {
	b.Helper()
	one, err := json.Marshal(benchConversation(1))
	if err != nil {
		b.Fatal(err)
	}
	page := benchPage(200)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/conversations/{id}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(one)
	})
	mux.HandleFunc("GET /v2/conversations", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Total", "200")
		w.Header().Set("X-Total-Pages", "1")
		w.Header().Set("X-Page", "1")
		w.Header().Set("X-Per-Page", "200")
		w.Header().Set("X-Range", "1-200")
		_, _ = w.Write(page)
	})
	srv := httptest.NewServer(mux)
	b.Cleanup(srv.Close)
	return srv, one, page
}

func benchClient(b *testing.B, srv *httptest.Server, opts ...Option) *Client {
	b.Helper()
	c, err := NewClient(testToken, append([]Option{WithBaseURL(srv.URL + "/v2/"), WithRateLimit(0)}, opts...)...)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// rawGet is what a careful user would write without the SDK.
func rawGet(ctx context.Context, hc *http.Client, url string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func BenchmarkConversationsGet(b *testing.B) {
	srv, one, _ := benchServer(b)
	ctx := context.Background()
	const id = "5bb0277fd99faf11a3f40001"
	b.Run("sdk", func(b *testing.B) {
		c := benchClient(b, srv)
		b.SetBytes(int64(len(one)))
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := c.Conversations.Get(ctx, id, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := rawClient()
		b.SetBytes(int64(len(one)))
		b.ReportAllocs()
		for b.Loop() {
			var conv Conversation
			if err := rawGet(ctx, hc, srv.URL+"/v2/conversations/"+id, &conv); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkConversationsList200(b *testing.B) {
	srv, _, page := benchServer(b)
	ctx := context.Background()
	b.Run("sdk", func(b *testing.B) {
		c := benchClient(b, srv)
		q := NewQuery().Limit(200)
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			convs, _, err := c.Conversations.List(ctx, q)
			if err != nil || len(convs) != 200 {
				b.Fatal(err, len(convs))
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := rawClient()
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			var convs []*Conversation
			if err := rawGet(ctx, hc, srv.URL+"/v2/conversations?limit=200", &convs); err != nil || len(convs) != 200 {
				b.Fatal(err, len(convs))
			}
		}
	})
}

// pairBench runs sdk and raw alternately, one call each per round (each goes
// first in turn), timing each call, and reports both times per call and the
// SDK's time as a percentage of raw. Interleaving makes the comparison robust
// to what else the machine is doing, which separate benchmarks are not.
func pairBench(b *testing.B, sdk, raw func() error) {
	b.Helper()
	var tSDK, tRaw time.Duration
	n := 0
	timed := func(f func() error, acc *time.Duration) {
		start := time.Now()
		if err := f(); err != nil {
			b.Fatal(err)
		}
		*acc += time.Since(start)
	}
	for b.Loop() {
		if n%2 == 0 {
			timed(sdk, &tSDK)
			timed(raw, &tRaw)
		} else {
			timed(raw, &tRaw)
			timed(sdk, &tSDK)
		}
		n++
	}
	b.ReportMetric(float64(tSDK.Nanoseconds())/float64(n), "sdk-ns/call")
	b.ReportMetric(float64(tRaw.Nanoseconds())/float64(n), "raw-ns/call")
	b.ReportMetric(100*float64(tSDK)/float64(tRaw), "sdk-%-of-raw")
}

// BenchmarkPairedGet interleaves Conversations.Get with the raw request.
func BenchmarkPairedGet(b *testing.B) {
	srv, _, _ := benchServer(b)
	ctx := context.Background()
	const id = "5bb0277fd99faf11a3f40001"
	c := benchClient(b, srv)
	hc := rawClient()
	pairBench(b, func() error {
		_, _, err := c.Conversations.Get(ctx, id, nil)
		return err
	}, func() error {
		var conv Conversation
		return rawGet(ctx, hc, srv.URL+"/v2/conversations/"+id, &conv)
	})
}

// BenchmarkPairedList200 interleaves a 200-item Conversations.List with the raw request.
func BenchmarkPairedList200(b *testing.B) {
	srv, _, _ := benchServer(b)
	ctx := context.Background()
	c := benchClient(b, srv)
	hc := rawClient()
	q := NewQuery().Limit(200)
	pairBench(b, func() error {
		_, _, err := c.Conversations.List(ctx, q)
		return err
	}, func() error {
		var convs []*Conversation
		return rawGet(ctx, hc, srv.URL+"/v2/conversations?limit=200", &convs)
	})
}

// rawClient is the baseline's HTTP client: the same pooled transport and
// per-request timeout as the SDK's default, so both do the same work.
func rawClient() *http.Client {
	return &http.Client{Transport: defaultTransport(), Timeout: defaultTimeout}
}

// BenchmarkDecodeConversationPage is the codec's share of a list call.
func BenchmarkDecodeConversationPage(b *testing.B) {
	page := benchPage(200)
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		var convs []*Conversation
		if err := decodeJSON(page, &convs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientGetLimiter shows the request limiter's cost far from the
// limit: the same GET with the limiter off and on (n huge).
func BenchmarkClientGetLimiter(b *testing.B) {
	srv, _, _ := benchServer(b)
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		opt  Option
	}{{"off", WithRateLimit(0)}, {"on", WithRateLimit(1 << 30)}} {
		b.Run(tc.name, func(b *testing.B) {
			c := benchClient(b, srv, tc.opt)
			b.ReportAllocs()
			for b.Loop() {
				if _, _, err := c.Conversations.Get(ctx, "5bb0277fd99faf11a3f40001", nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkListIter10000 walks 10,000 conversations (50 pages of 200): the
// SDK's iterator against the same paging loop written by hand. The server
// answers offsets and "id=>X" (what the SDK's walk asks after page one) with
// distinct conversations, made once before the timing.
func BenchmarkListIter10000(b *testing.B) {
	const total, size = 10000, 200
	pages := make([][]byte, total/size)
	for k := range pages {
		convs := make([]Conversation, size)
		for i := range convs {
			convs[i] = benchConversation(k*size + i)
		}
		var err error
		if pages[k], err = json.Marshal(convs); err != nil {
			b.Fatal(err)
		}
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v2/conversations", func(w http.ResponseWriter, r *http.Request) {
		start, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		matching := total
		if after, ok := strings.CutPrefix(r.URL.Query().Get("id"), ">"); ok {
			last, _ := strconv.ParseInt(after[len(after)-4:], 16, 64) // benchConversation's ids end in the index
			start, matching = int(last)+1, total-int(last)-1
		}
		w.Header().Set("X-Total", strconv.Itoa(matching))
		if start >= total {
			_, _ = w.Write([]byte("[]"))
			return
		}
		_, _ = w.Write(pages[start/size])
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	ctx := context.Background()
	b.Run("sdk", func(b *testing.B) {
		c := benchClient(b, srv)
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for _, err := range c.Conversations.ListIter(ctx, nil) {
				if err != nil {
					b.Fatal(err)
				}
				n++
			}
			if n != 10000 {
				b.Fatal(n)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := rawClient()
		b.ReportAllocs()
		for b.Loop() {
			n := 0
			for offset := 0; offset < 10000; offset += 200 {
				var convs []*Conversation
				if err := rawGet(ctx, hc, srv.URL+"/v2/conversations?limit=200&offset="+strconv.Itoa(offset), &convs); err != nil {
					b.Fatal(err)
				}
				n += len(convs)
			}
			if n != 10000 {
				b.Fatal(n)
			}
		}
	})
}

// BenchmarkQueryBuildEncode builds and encodes a query with ten filters,
// populate and sort, against the same url.Values written by hand (which checks
// nothing).
func BenchmarkQueryBuildEncode(b *testing.B) {
	from := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	b.Run("sdk", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			q := NewQuery().
				Where("status", In("queued", "active")).Where("type", Eq("contact")).
				Where("meta.intent", Eq("greeting")).Where("createdAt", Gte(from)).
				Where("categoryIndex", Lt(5)).Where("language", Ne("de")).
				Where("participants.1", Exists()).Where("name", Regex("acme")).
				Where("touchpoint", Nin("sms", "email")).Where("contact", Exists()).
				Populate("messages", "type", "text").Populate("participants.user").
				Sort("-createdAt", "name").Limit(50)
			if _, err := q.Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			v := url.Values{}
			v.Set("status", "[queued,active]")
			v.Set("type", "contact")
			v.Set("meta.intent", "greeting")
			v.Set("createdAt", ">="+from.Format("2006-01-02T15:04:05.000Z07:00"))
			v.Set("categoryIndex", "<5")
			v.Set("language", "!=de")
			v.Set("participants.1", "")
			v.Set("name", "~acme")
			v.Set("touchpoint", "![sms,email]")
			v.Set("contact", "")
			v.Set("populate", "messages:type|text,participants.user")
			v.Set("sort", "-createdAt,name")
			v.Set("limit", "50")
			_ = v.Encode()
		}
	})
}

// TestBenchPageFixture keeps testdata/bench/conversations-200.json (the page
// the Node SDK comparison in bench/ reads) equal to benchPage(200).
// CHATSHIPPER_UPDATE_FIXTURES=1 rewrites it.
func TestBenchPageFixture(t *testing.T) {
	t.Parallel()
	const name = "testdata/bench/conversations-200.json"
	page := benchPage(200)
	if os.Getenv("CHATSHIPPER_UPDATE_FIXTURES") == "1" {
		if err := os.WriteFile(name, page, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, page) {
		t.Fatalf("%s differs from benchPage(200): run with CHATSHIPPER_UPDATE_FIXTURES=1", name)
	}
}

// BenchmarkDecodePageMeta isolates what the meta of the 200 conversations of
// the bench page costs to decode: kept as an Object (what the models hold)
// against decoded into a Meta map (what they held before).
func BenchmarkDecodePageMeta(b *testing.B) {
	page := benchPage(200)
	b.Run("Object", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			var convs []struct {
				Meta Object `json:"meta"`
			}
			if err := decodeJSON(page, &convs); err != nil || convs[0].Meta.IsZero() {
				b.Fatal(err)
			}
		}
	})
	b.Run("map", func(b *testing.B) {
		b.SetBytes(int64(len(page)))
		b.ReportAllocs()
		for b.Loop() {
			var convs []struct {
				Meta Meta `json:"meta"`
			}
			if err := decodeJSON(page, &convs); err != nil || convs[0].Meta == nil {
				b.Fatal(err)
			}
		}
	})
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

// BenchmarkObjectRead measures what reading a conversation's meta costs, per
// read pattern, from the JSON to the values read: kept as an Object and read
// through its methods (lazy) against decoded into a map[string]any by
// encoding/json and read from the map (eager, what the models held before
// Object). The meta is testdata/bench/conversation-meta.json (17 keys, 584
// bytes compacted: bot state, visitor details, a nested object and an array).
func BenchmarkObjectRead(b *testing.B) {
	raw, err := os.ReadFile("testdata/bench/conversation-meta.json")
	if err != nil {
		b.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		b.Fatal(err)
	}
	body := []byte(`{"meta":` + compact.String() + `}`)
	const asked = "_askedaaa000000000000000000111"
	three := []string{"stage", "visits", "variables"}
	patterns := []struct {
		name  string
		lazy  func(o Object) int
		eager func(m map[string]any) int
	}{
		{"none", func(Object) int { return 0 }, func(map[string]any) int { return 0 }},
		{"get1", func(o Object) int { return len(o.Get(asked).(string)) },
			func(m map[string]any) int { return len(m[asked].(string)) }},
		{"get3", func(o Object) int {
			n := 0
			for _, k := range three {
				if o.Get(k) != nil {
					n++
				}
			}
			return n
		}, func(m map[string]any) int {
			n := 0
			for _, k := range three {
				if m[k] != nil {
					n++
				}
			}
			return n
		}},
		{"get12", func(o Object) int {
			n := 0
			for range 4 {
				for _, k := range three {
					if o.Get(k) != nil {
						n++
					}
				}
			}
			return n
		}, func(m map[string]any) int {
			n := 0
			for range 4 {
				for _, k := range three {
					if m[k] != nil {
						n++
					}
				}
			}
			return n
		}},
		{"map", func(o Object) int { return len(o.Map()) }, func(m map[string]any) int { return len(m) }},
	}
	var sink int
	for _, p := range patterns {
		b.Run(p.name+"/lazy", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				var c struct {
					Meta Object `json:"meta"`
				}
				if err := decodeJSON(body, &c); err != nil {
					b.Fatal(err)
				}
				sink += p.lazy(c.Meta)
			}
		})
		b.Run(p.name+"/eager", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				var c struct {
					Meta map[string]any `json:"meta"`
				}
				if err := json.Unmarshal(body, &c); err != nil {
					b.Fatal(err)
				}
				sink += p.eager(c.Meta)
			}
		})
	}
	if sink < 0 {
		b.Fatal(sink)
	}
}

// BenchmarkObjectLookupWalk compares the walk Object.Lookup does to find one
// key in the JSON (objectScan, hand-written) with the same walk through the
// standard library's tokenizer (encoding/json's Decoder.Token before Go 1.27,
// encoding/json/jsontext with a pooled decoder from Go 1.27), on the
// conversation meta of BenchmarkObjectRead: its first key, a key in the
// middle, the last key and a missing one. Both decode the value found with
// the codec's rules; neither decodes the whole object.
func BenchmarkObjectLookupWalk(b *testing.B) {
	raw, err := os.ReadFile("testdata/bench/conversation-meta.json")
	if err != nil {
		b.Fatal(err)
	}
	var o Object
	if err := decodeJSON(raw, &o); err != nil {
		b.Fatal(err)
	}
	rawBytes := []byte(o.d.raw)
	for _, key := range []string{"intent", "stage", "chatshipperDeliveryKey", "missing"} {
		want, wantOK := o.d.lookupRaw(key)
		got, gotOK := tokenLookup(rawBytes, key)
		if gotOK != wantOK || got != want {
			b.Fatalf("%s: tokenizer %v %v, scan %v %v", key, got, gotOK, want, wantOK)
		}
		b.Run(key+"/scan", func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				o.d.lookupRaw(key)
			}
		})
		b.Run(key+"/"+tokenizerName, func(b *testing.B) {
			b.ReportAllocs()
			defer reportCPU(b)()
			for b.Loop() {
				tokenLookup(rawBytes, key)
			}
		})
	}
}

// BenchmarkObjectDecodeWhole compares decodeObject, which an Object read
// more than a few times is decoded with once, to the codec decoding the
// same JSON into a map (what decodeObject stands in for).
func BenchmarkObjectDecodeWhole(b *testing.B) {
	raw, err := os.ReadFile("testdata/bench/conversation-meta.json")
	if err != nil {
		b.Fatal(err)
	}
	var o Object
	if err := decodeJSON(raw, &o); err != nil {
		b.Fatal(err)
	}
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, ok := decodeObject(o.d.raw); !ok {
				b.Fatal("decode")
			}
		}
	})
	rawBytes := []byte(o.d.raw)
	b.Run("codec", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			var m Meta
			if err := decodeJSON(rawBytes, &m); err != nil {
				b.Fatal(err)
			}
		}
	})
}
