// Command jsonbench is the Go side of the comparison with the Node SDK
// (chipchat) recorded in BENCHMARKS.md; bench/run.sh drives it. Subcommands:
//
//	serve-page ADDR PAGE.json      serve GET /v2/conversations with the page
//	list URL SECONDS [READ]        list 200 conversations with the SDK in a loop;
//	                               READ is what is done with each conversation's
//	                               meta: none (the default), get (one Get of a
//	                               key the page has) or map (Map)
//	decode PAGE.json SECONDS       decode the page as the SDK decodes a response, in a loop
//	serve-webhook ADDR-SDK ADDR-EMPTY
//	                               the SDK's webhook handler and an empty handler
//	                               (with CPUPROFILE=FILE, a CPU profile of the
//	                               first CPUPROFILE_SECONDS, default 10)
//	load SECONDS ROUNDS NAME=URL[@PID]...
//	                               the load generator: signed deliveries to each
//	                               target in turn, rounds alternating the order
//	                               (with PID, the server's CPU time is counted too)
//	verdict ROUND-FILE             one line: is the round bench/run.sh just ran
//	                               accepted, or refused for a starved contender
//	summary LOG [MIN-ACCEPTED]     medians over accepted rounds, same-round
//	                               ratios, load average per round, refused
//	                               rounds; exit status 1 when a measurement has
//	                               fewer than MIN-ACCEPTED (default 3) rounds left
//
// Every loop (list, decode) warms up for half a second, then runs for SECONDS
// and prints one JSON line: operations, wall seconds, the process's CPU
// seconds (user+system, all threads), pages per second, CPU milliseconds per
// page and the share of a core it got (CPU seconds / wall seconds). The load
// generator prints a line per target and round (with the load average when
// the round began; a round gives each target SECONDS in SLICES turns, SLICES
// from the environment, default 1), then one per target over all rounds,
// then, for each pair of targets named sdk-X and empty-X, the median of the
// rounds' ratios of their events/s.
package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/fastjson"
	"github.com/go-chatshipper/chatshipper/webhook"
)

const (
	secret  = "bench-webhook-secret" //nolint:gosec // a benchmark fixture, not a credential
	botUser = "aaa000000000000000000111"
	token   = "bench-token"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "jsonbench:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	if len(args) == 0 {
		return errors.New("usage: jsonbench serve-page, list, decode, serve-webhook or load")
	}
	switch args[0] {
	case "serve-page":
		return servePage(args[1], args[2])
	case "list":
		read := "none"
		if len(args) > 3 {
			read = args[3]
		}
		return list(args[1], seconds(args[2]), read)
	case "decode":
		return decode(args[1], seconds(args[2]))
	case "serve-webhook":
		return serveWebhook(args[1], args[2])
	case "load":
		return load(seconds(args[1]), atoi(args[2]), args[3:])
	case "verdict":
		return verdict(os.Stdout, args[1])
	case "summary":
		minAccepted := 3
		if len(args) > 2 {
			minAccepted = atoi(args[2])
		}
		return summary(os.Stdout, args[1], minAccepted)
	}
	return fmt.Errorf("unknown subcommand %q", args[0])
}

func seconds(s string) time.Duration {
	f, _ := strconv.ParseFloat(s, 64)
	return time.Duration(f * float64(time.Second))
}

func atoi(s string) int { n, _ := strconv.Atoi(s); return n }

func cpu() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// warmup is how long each loop runs before it is measured (connections,
// heap size, and on the Node side the JIT).
const warmup = 500 * time.Millisecond

func report(kind, read string, ops int, wall, cpuUsed time.Duration) {
	out, _ := json.Marshal(result{Who: "go " + runtime.Version(), What: kind, Read: read, Ops: ops,
		Seconds: wall.Seconds(), CPUSeconds: cpuUsed.Seconds(), OpsPerSec: float64(ops) / wall.Seconds(),
		CPUMsPerOp: 1000 * cpuUsed.Seconds() / float64(ops), CPUShare: cpuUsed.Seconds() / wall.Seconds()})
	fmt.Println(string(out))
}

func servePage(addr, file string) error {
	page, err := os.ReadFile(file) //nolint:gosec // the page file named on the command line
	if err != nil {
		return err
	}
	http.HandleFunc("GET /v2/conversations", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Total", "200")
		_, _ = w.Write(page) //nolint:gosec // a fixed JSON fixture
	})
	return serve(addr, http.DefaultServeMux)
}

// metaKey is a key every conversation of testdata/bench/conversations-200.json
// has in its meta, with a string value.
const metaKey = "intent"

// metaReaders are what list does with each conversation's meta.
var metaReaders = map[string]func(*chatshipper.Conversation) bool{
	"none": func(*chatshipper.Conversation) bool { return true },
	"get": func(c *chatshipper.Conversation) bool {
		s, ok := c.Meta.Get(metaKey).(string)
		return ok && s != ""
	},
	"map": func(c *chatshipper.Conversation) bool { return len(c.Meta.Map()) > 0 },
}

func list(base string, d time.Duration, read string) error {
	readMeta, ok := metaReaders[read]
	if !ok {
		return fmt.Errorf("list: READ must be none, get or map, not %q", read)
	}
	c, err := chatshipper.NewClient(token, chatshipper.WithBaseURL(base+"/v2/"), chatshipper.WithRateLimit(0))
	if err != nil {
		return err
	}
	ctx := context.Background()
	q := chatshipper.NewQuery().Limit(200)
	page := func() error {
		convs, _, err := c.Conversations.List(ctx, q)
		if err != nil || len(convs) != 200 {
			return fmt.Errorf("list: %v (%d)", err, len(convs))
		}
		for _, conv := range convs {
			if !readMeta(conv) {
				return fmt.Errorf("list: conversation %s: meta not read (%s)", conv.ID, read)
			}
		}
		return nil
	}
	for w0 := time.Now(); time.Since(w0) < warmup; {
		if err := page(); err != nil {
			return err
		}
	}
	c0, start, n := cpu(), time.Now(), 0
	for time.Since(start) < d {
		if err := page(); err != nil {
			return err
		}
		n++
	}
	report("list200", read, n, time.Since(start), cpu()-c0)
	return nil
}

func decode(file string, d time.Duration) error {
	page, err := os.ReadFile(file) //nolint:gosec // the page file named on the command line
	if err != nil {
		return err
	}
	once := func() error {
		var convs []*chatshipper.Conversation
		// The SDK's decodeJSON, which every response body goes through:
		// its one-pass page decoder, then the codec if that gave up.
		if err := fastjson.DecodeJSON(page, &convs); err != nil || len(convs) != 200 {
			return fmt.Errorf("decode: %v", err)
		}
		return nil
	}
	for w0 := time.Now(); time.Since(w0) < warmup; {
		if err := once(); err != nil {
			return err
		}
	}
	c0, start, n := cpu(), time.Now(), 0
	for time.Since(start) < d {
		if err := once(); err != nil {
			return err
		}
		n++
	}
	report("decode200", "", n, time.Since(start), cpu()-c0)
	return nil
}

// serveWebhook serves a typical bot's handler (signature checked, own messages
// dropped, one handler for what contacts write) and an empty handler that
// only reads the body.
func serveWebhook(addrSDK, addrEmpty string) error {
	h, err := webhook.NewHandler(webhook.WithSecret(secret), webhook.WithSelfUser(botUser), webhook.WithDedupe(1024))
	if err != nil {
		return err
	}
	var handled atomic.Int64
	err = h.OnMessage(func(_ context.Context, e *webhook.Event) error {
		if e.Data.Message.Text != "" {
			handled.Add(1)
		}
		return nil
	}, webhook.MessageRole(chatshipper.RoleContact))
	if err != nil {
		return err
	}
	empty := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusOK)
	})
	if file := os.Getenv("CPUPROFILE"); file != "" {
		// Profile the receivers for CPUPROFILE_SECONDS (default 10) from
		// now: start the load generator right after.
		f, err := os.Create(file) //nolint:gosec // the profile file named by the caller
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		secs := cmp.Or(atoi(os.Getenv("CPUPROFILE_SECONDS")), 10)
		time.AfterFunc(time.Duration(secs)*time.Second, func() {
			pprof.StopCPUProfile()
			_ = f.Close()
		})
	}
	errc := make(chan error, 2)
	go func() { errc <- serve(addrSDK, h) }()
	go func() { errc <- serve(addrEmpty, empty) }()
	return <-errc
}

// deliveries returns n signed copies of the message.create fixture, each
// with its own event ID so duplicate suppression does not short-cut the work.
func deliveries(n int) ([][]byte, []string, error) {
	raw, err := os.ReadFile("webhook/testdata/webhooks/message.create.contact.chat.json")
	if err != nil {
		return nil, nil, err
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		return nil, nil, err
	}
	const id = "3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90"
	tmpl := compact.String()
	if !strings.Contains(tmpl, id) {
		return nil, nil, fmt.Errorf("fixture ID not found")
	}
	var bodies [][]byte
	var sigs []string
	for i := range n {
		body := []byte(strings.Replace(tmpl, id, fmt.Sprintf("3f1c9a2e-7b4d-4e8a-9c1f-%012d", i), 1))
		bodies = append(bodies, body)
		sigs = append(sigs, webhook.Sign(body, secret))
	}
	return bodies, sigs, nil
}

type target struct {
	name, url string
	pid       int // of the server process, for its CPU time; 0 if unknown
	events    int
	elapsed   time.Duration
	cpu       time.Duration
}

// procCPU returns the user+system CPU time of process pid from /proc (Linux).
func procCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	_, rest, _ := strings.Cut(string(b), ") ") // the command name may hold spaces
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// load sends signed deliveries to each target for d per round with 8
// connections, rounds alternating the order, and prints events/s per target.
func load(d time.Duration, rounds int, targets []string) error {
	const distinct, conc = 4096, 8
	bodies, sigs, err := deliveries(distinct)
	if err != nil {
		return err
	}
	var ts []*target
	for _, t := range targets {
		name, url, _ := strings.Cut(t, "=")
		url, pid, _ := strings.Cut(url, "@")
		ts = append(ts, &target{name: name, url: url, pid: atoi(pid)})
	}
	tr := &http.Transport{MaxIdleConns: 4 * conc, MaxIdleConnsPerHost: conc}
	client := &http.Client{Transport: tr}
	var cursor atomic.Int64
	send := func(t *target, d time.Duration) error {
		var wg sync.WaitGroup
		var failed atomic.Value
		var n atomic.Int64
		cpu0, start := procCPU(t.pid), time.Now()
		for range conc {
			wg.Go(func() {
				for time.Since(start) < d {
					k := int(cursor.Add(1) % distinct)
					req, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(bodies[k]))
					if err != nil {
						failed.Store(err)
						return
					}
					req.Header.Set("Content-Type", "application/json")
					req.Header.Set(webhook.SignatureHeader, sigs[k])
					resp, err := client.Do(req)
					if err != nil {
						failed.Store(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					_ = resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						failed.Store(fmt.Errorf("%s: status %d", t.name, resp.StatusCode))
						return
					}
					n.Add(1)
				}
			})
		}
		wg.Wait()
		t.elapsed += time.Since(start)
		t.cpu += procCPU(t.pid) - cpu0
		t.events += int(n.Load())
		if err, ok := failed.Load().(error); ok {
			return err
		}
		return nil
	}
	for _, t := range ts { // warm up: connections, JIT
		if err := send(t, d/2); err != nil {
			return err
		}
		t.events, t.elapsed, t.cpu = 0, 0, 0
	}
	// A round gives each target d in SLICES slices (default 1), the targets
	// taking turns slice by slice, so that load from elsewhere on the
	// machine falls on all of them alike.
	nSlices := max(1, atoi(os.Getenv("SLICES")))
	perRound := make([]map[string]float64, rounds) // events/s by target
	for r := range rounds {
		perRound[r] = map[string]float64{}
		la := loadAverage()
		type mark struct {
			events     int
			elapsed, c time.Duration
		}
		start := map[*target]mark{}
		loader := map[*target]time.Duration{} // the load generator's own CPU time
		for _, t := range ts {
			start[t] = mark{t.events, t.elapsed, t.cpu}
		}
		for sl := range nSlices {
			for i := range ts {
				t := ts[(i+r+sl)%len(ts)]
				c0 := cpu()
				if err := send(t, d/time.Duration(nSlices)); err != nil {
					return err
				}
				loader[t] += cpu() - c0
			}
		}
		for _, t := range ts {
			m := start[t]
			n := float64(t.events - m.events)
			rate := n / (t.elapsed - m.elapsed).Seconds()
			perRound[r][t.name] = rate
			out, _ := json.Marshal(map[string]any{"round": r + 1, "target": t.name, "eventsPerSec": rate,
				"serverCPUPerEventMicros": (t.cpu - m.c).Seconds() * 1e6 / n,
				"loaderCPUPerEventMicros": loader[t].Seconds() * 1e6 / n, "loadavg": la})
			fmt.Println(string(out))
		}
	}
	for _, t := range ts {
		out, _ := json.Marshal(map[string]any{"target": t.name, "events": t.events, "seconds": t.elapsed.Seconds(),
			"eventsPerSec": float64(t.events) / t.elapsed.Seconds(), "serverCPUSeconds": t.cpu.Seconds(),
			"eventsPerServerCPUSecond": float64(t.events) / t.cpu.Seconds()})
		fmt.Println(string(out))
	}
	for _, t := range ts {
		suffix, ok := strings.CutPrefix(t.name, "sdk-")
		if !ok {
			continue
		}
		var ratios []float64
		for _, pr := range perRound {
			if e := pr["empty-"+suffix]; e > 0 {
				ratios = append(ratios, pr[t.name]/e)
			}
		}
		if len(ratios) == 0 {
			continue
		}
		slices.Sort(ratios)
		out, _ := json.Marshal(map[string]any{"pair": t.name + " / empty-" + suffix, "rounds": len(ratios),
			"medianRatio": median(ratios), "minRatio": ratios[0], "maxRatio": ratios[len(ratios)-1]})
		fmt.Println(string(out))
	}
	return nil
}

// loadAverage returns the one-minute load average (Linux), or "" if unknown.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func serve(addr string, h http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: h, ReadHeaderTimeout: 10 * time.Second}
	return srv.ListenAndServe()
}
