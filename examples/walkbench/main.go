// Command walkbench measures walks over a large listing behind a delay: every
// request takes an extra -delay (150 ms, a round trip from another region)
// and the server allows 20 requests in any sliding second (429 beyond). The
// items are made up on request (so the server's own work is negligible), or
// with -fake served by the embedded fake server. It prints, for -n items in
// pages of 200:
//
//   - the default walk (Items, one page fetched ahead) with a caller that does
//     nothing, as a ratio to the rate-limit bound (n/200 requests at 20/s);
//   - the default walk with a caller that spends -work per page, as a ratio
//     to the caller's own time, next to the same walk without prefetch;
//   - the concurrent walk (Concurrency(-c)) as a ratio to the bound, with the
//     429 answers seen: by id ranges (each range by key, so the walk is as
//     change-safe as the default one), and, for a sorted query, by offset;
//   - with -pad, every answer leaves the server -delay after its request
//     arrived, the server's own work included (the fake's is about 25 ms a
//     page at 10,000 items on a small machine), a round trip of -delay;
//   - the peak heap in use while walking 10,000 and 100,000 items from a
//     server that makes them up on the fly (no delay, no limit), to show that
//     memory does not grow with the listing.
//
// It never talks to a real account: the figures need a known delay and limit.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// counting counts every answer that reaches the client, before any retry.
type counting struct {
	next      http.RoundTripper
	requests  atomic.Int64
	status429 atomic.Int64
}

func (c *counting) RoundTrip(r *http.Request) (*http.Response, error) {
	c.requests.Add(1)
	resp, err := c.next.RoundTrip(r)
	if err == nil && resp.StatusCode == http.StatusTooManyRequests {
		c.status429.Add(1)
	}
	return resp, err
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "error:", err)
		os.Exit(1)
	}
}

func run() error {
	n := flag.Int("n", 10000, "items to walk")
	delay := flag.Duration("delay", 150*time.Millisecond, "time the server adds to every request")
	work := flag.Duration("work", 150*time.Millisecond, "time the caller spends per page")
	conc := flag.Int("c", 8, "pages fetched at once by the concurrent walk")
	mem := flag.Bool("mem", true, "measure the heap of 10,000- and 100,000-item walks")
	margin := flag.Duration("margin", chatshipper.DefaultRateLimitMargin, "the client's rate-limit margin (WithRateLimitMargin)")
	onlyConc := flag.Bool("concurrent-only", false, "run only the concurrent walk")
	fake := flag.Bool("fake", false, "serve the items from the embedded fake server (which also enforces 20 requests per sliding second) instead of a server that makes them up")
	pad := flag.Bool("pad", false, "answer -delay after the request arrived, the fake's own work included, instead of adding -delay to it")
	flag.Parse()
	if *n < 1 || *conc < 1 {
		return errors.New("-n and -c must be at least 1")
	}

	var backend http.Handler
	token := "token"
	if *fake {
		srv := chatshippertest.NewServer(nil)
		defer srv.Close()
		for i := range *n {
			srv.Put("contacts", map[string]any{
				"organization": srv.Seed.OrganizationID,
				"profile":      map[string]any{"name": fmt.Sprintf("Walker %d", i), "email": fmt.Sprintf("walker%d@example.com", i)},
				"meta":         map[string]any{"batch": "walk"},
			})
		}
		backend, token = srv, srv.Token
	} else {
		backend = synthetic(*n)
	}
	var slow *httptest.Server
	delayed := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wait := time.After(*delay)
		if *pad {
			rec := httptest.NewRecorder()
			backend.ServeHTTP(rec, r)
			select {
			case <-wait:
			case <-r.Context().Done():
				return
			}
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.WriteHeader(rec.Code)
			_, _ = w.Write(rec.Body.Bytes())
			return
		}
		select {
		case <-wait:
		case <-r.Context().Done():
			return
		}
		backend.ServeHTTP(w, r)
	})
	if *fake {
		// The fake counts requests itself, when they reach it.
		slow = httptest.NewServer(delayed)
	} else {
		// The limit counts requests when they arrive, before the delay.
		slow = httptest.NewServer(&windowLimit{n: chatshipper.DefaultRequestsPerSecond, next: delayed})
	}
	defer slow.Close()

	q := chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("walk"))
	src := "made-up items"
	if *fake {
		src = "the fake server"
	}
	pages := (*n + 199) / 200
	bound := time.Duration(pages) * time.Second / chatshipper.DefaultRequestsPerSecond
	callerTime := time.Duration(pages) * *work
	how := "+" + delay.String() + " per request"
	if *pad {
		how = delay.String() + " per request, the server's work included"
	}
	fmt.Printf("%d items from %s, %d pages of 200, %s, 20 requests per sliding second: bound %v\n",
		*n, src, pages, how, bound)

	type scenario struct {
		name string
		opts []chatshipper.WalkOption
		work time.Duration
		ref  time.Duration
		of   string
	}
	for _, sc := range []scenario{
		{"default walk, idle caller", nil, 0, bound, "bound"},
		{fmt.Sprintf("default walk, caller %v/page", *work), nil, *work, callerTime, "caller's time"},
		{fmt.Sprintf("no prefetch, caller %v/page", *work), []chatshipper.WalkOption{chatshipper.Prefetch(0)}, *work, callerTime, "caller's time"},
		{fmt.Sprintf("id ranges, Concurrency(%d)", *conc), []chatshipper.WalkOption{chatshipper.Concurrency(*conc)}, 0, bound, "bound"},
		{fmt.Sprintf("sorted, by offset, Concurrency(%d)", *conc), []chatshipper.WalkOption{chatshipper.Concurrency(*conc)}, 0, bound, "bound"},
	} {
		if *onlyConc && sc.opts == nil || *onlyConc && sc.work > 0 {
			continue
		}
		// Let the server's sliding window empty between runs.
		time.Sleep(1100 * time.Millisecond)
		ct := &counting{next: http.DefaultTransport}
		c, err := chatshipper.NewClient(token, chatshipper.WithBaseURL(slow.URL+"/v2/"),
			chatshipper.WithHTTPClient(&http.Client{Transport: ct, Timeout: time.Minute}),
			chatshipper.WithRateLimitMargin(*margin))
		if err != nil {
			return err
		}
		start := time.Now()
		items := 0
		sq := q
		if strings.HasPrefix(sc.name, "sorted") {
			sq = q.Sort("createdAt") // a sorted query is walked by offset
		}
		for p, err := range c.Contacts.Walk(context.Background(), sq, sc.opts...).Pages() {
			if err != nil {
				return fmt.Errorf("%s: %w", sc.name, err)
			}
			items += len(p.Items)
			if sc.work > 0 {
				time.Sleep(sc.work)
			}
		}
		took := time.Since(start)
		if items != *n {
			return fmt.Errorf("%s: walked %d items, want %d", sc.name, items, *n)
		}
		fmt.Printf("%-40s %7.2fs  %.2fx the %-13s requests %d, 429s %d\n",
			sc.name, took.Seconds(), float64(took)/float64(sc.ref), sc.of, ct.requests.Load(), ct.status429.Load())
	}

	if *mem {
		for _, w := range []struct {
			name string
			opts []chatshipper.WalkOption
		}{{"default walk", nil}, {fmt.Sprintf("Concurrency(%d)", *conc), []chatshipper.WalkOption{chatshipper.Concurrency(*conc)}}} {
			for _, size := range []int{10000, 100000} {
				peak, err := walkHeap(size, w.opts...)
				if err != nil {
					return err
				}
				fmt.Printf("walk of %6d items (%s): peak heap in use %.1f MiB\n", size, w.name, float64(peak)/(1<<20))
			}
		}
	}
	return nil
}

// walkHeap walks size made-up contacts and returns the largest HeapInuse
// seen after each page.
func walkHeap(size int, opts ...chatshipper.WalkOption) (uint64, error) {
	hs := httptest.NewServer(synthetic(size))
	defer hs.Close()
	c, err := chatshipper.NewClient("token", chatshipper.WithBaseURL(hs.URL+"/v2/"), chatshipper.WithRateLimit(0))
	if err != nil {
		return 0, err
	}
	runtime.GC()
	var ms runtime.MemStats
	var peak uint64
	items := 0
	for p, err := range c.Contacts.Walk(context.Background(), nil, opts...).Pages() {
		if err != nil {
			return 0, err
		}
		items += len(p.Items)
		runtime.ReadMemStats(&ms)
		peak = max(peak, ms.HeapInuse)
	}
	if items != size {
		return 0, fmt.Errorf("walked %d items, want %d", items, size)
	}
	return peak, nil
}

// synthetic serves n contacts made up on request, ordered by id, with
// id=>X, id=>X,<=Y, offset, limit and X-Total, so the server holds nothing in
// memory. It sorts by id, newest first with sort=-id, and ignores any other
// sort.
func synthetic(n int) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		first, last := 0, n // the items first+1..last match
		if v := q.Get("id"); v != "" {
			lower, upper, ranged := strings.Cut(v, ",")
			gt, ok := strings.CutPrefix(lower, ">")
			after, err := strconv.ParseInt(gt, 16, 64)
			if !ok || err != nil {
				http.Error(w, `{"error":{"message":"bad id"}}`, http.StatusBadRequest)
				return
			}
			first = min(int(after), n)
			if ranged {
				lte, ok := strings.CutPrefix(upper, "<=")
				upTo, err := strconv.ParseInt(lte, 16, 64)
				if !ok || err != nil {
					http.Error(w, `{"error":{"message":"bad id"}}`, http.StatusBadRequest)
					return
				}
				last = max(min(int(upTo), n), first)
			}
		}
		offset, _ := strconv.Atoi(q.Get("offset"))
		limit, err := strconv.Atoi(q.Get("limit"))
		if err != nil || limit < 1 {
			limit = 200
		}
		start := min(first+offset, last)
		end := min(start+limit, last)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Total", strconv.Itoa(last-first))
		var b strings.Builder
		b.WriteByte('[')
		for i := start; i < end; i++ {
			if i > start {
				b.WriteByte(',')
			}
			item := i
			if q.Get("sort") == "-id" { // newest first
				item = last + first - 1 - i
			}
			fmt.Fprintf(&b, `{"id":"%024x","organization":"5b0000000000000000000001","profile":{"name":"Walker %d","email":"walker%d@example.com"},"meta":{"batch":"walk"},"createdAt":"2026-11-28T12:00:00.000Z","updatedAt":"2026-11-28T12:00:00.000Z"}`, item+1, item, item)
		}
		b.WriteByte(']')
		_, _ = w.Write([]byte(b.String()))
	})
}

// windowLimit answers 429 to a request that would be the n+1th in the last
// second, like the API (and the fake server) does.
type windowLimit struct {
	n    int
	next http.Handler

	mu    sync.Mutex
	times []time.Time
}

func (l *windowLimit) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	l.mu.Lock()
	kept := l.times[:0]
	for _, t := range l.times {
		if now.Sub(t) < time.Second {
			kept = append(kept, t)
		}
	}
	l.times = kept
	ok := len(l.times) < l.n
	if ok {
		l.times = append(l.times, now)
	}
	l.mu.Unlock()
	if !ok {
		w.Header().Set("Retry-After", "1")
		http.Error(w, `{"error":{"message":"Too many requests"}}`, http.StatusTooManyRequests)
		return
	}
	l.next.ServeHTTP(w, r)
}
