package redteam_test

// Red-team tests of chatshipper.WithObserver (the root hooks): every call,
// attempt and decision reported exactly once and in order, compared with what
// a hostile server actually received; calls ended whatever happens; no
// secret or personal data handed to the observer; no work without one.

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
	"github.com/go-chatshipper/chatshipper/webhook"
)

// ---------------------------------------------------------------------------
// A recording observer that checks the pairing contract as it goes.

type rtCallKey struct{}
type rtAttKey struct{}

type rtEv struct {
	kind    string // start_call, end_call, start_attempt, end_attempt, decision
	call    int    // the innermost call in ctx (0 none)
	parent  int    // for start_call: the call already in ctx
	attempt int    // the attempt in ctx, or the attempt's own id
	ci      chatshipper.CallInfo
	cr      chatshipper.CallResult
	ai      chatshipper.AttemptInfo
	ar      chatshipper.AttemptResult
	d       chatshipper.Decision
}

func (e rtEv) String() string {
	switch e.kind {
	case "start_call":
		return fmt.Sprintf("start_call#%d(parent %d) %s.%s %s", e.call, e.parent, e.ci.Service, e.ci.Method, e.ci.Collection)
	case "end_call":
		return fmt.Sprintf("end_call#%d %s attempts=%d status=%d", e.call, e.cr.Outcome, e.cr.Attempts, e.cr.StatusCode)
	case "start_attempt":
		return fmt.Sprintf("start_attempt#%d(call %d) %s %s attempt=%d hop=%d", e.attempt, e.call, e.ai.Method, e.ai.URL, e.ai.Attempt, e.ai.Hop)
	case "end_attempt":
		return fmt.Sprintf("end_attempt#%d(call %d) status=%d kind=%q", e.attempt, e.call, e.ar.StatusCode, e.ar.ErrorKind)
	default:
		return fmt.Sprintf("decision(call %d, att %d) %+v", e.call, e.attempt, e.d)
	}
}

type rtObs struct {
	mu       sync.Mutex
	next     int
	evs      []rtEv
	openCall map[int]bool
	openAtt  map[int]bool
	problems []string
	// onDecision, when set, is called (outside the lock) for each decision.
	onDecision func(chatshipper.Decision)
	// header, when set, is added to each attempt's headers as X-RT-Att.
	header bool
}

func newRTObs() *rtObs {
	return &rtObs{openCall: map[int]bool{}, openAtt: map[int]bool{}}
}

func rtIDs(ctx context.Context) (call, att int) {
	call, _ = ctx.Value(rtCallKey{}).(int)
	att, _ = ctx.Value(rtAttKey{}).(int)
	return
}

func (o *rtObs) StartCall(ctx context.Context, ci chatshipper.CallInfo) context.Context {
	o.mu.Lock()
	defer o.mu.Unlock()
	parent, _ := rtIDs(ctx)
	o.next++
	id := o.next
	o.openCall[id] = true
	o.evs = append(o.evs, rtEv{kind: "start_call", call: id, parent: parent, ci: ci})
	return context.WithValue(ctx, rtCallKey{}, id)
}

func (o *rtObs) EndCall(ctx context.Context, ci chatshipper.CallInfo, cr chatshipper.CallResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, _ := rtIDs(ctx)
	if !o.openCall[id] {
		o.problems = append(o.problems, fmt.Sprintf("EndCall for call %d that is not open (%s.%s)", id, ci.Service, ci.Method))
	}
	delete(o.openCall, id)
	o.evs = append(o.evs, rtEv{kind: "end_call", call: id, ci: ci, cr: cr})
}

func (o *rtObs) StartAttempt(ctx context.Context, ai chatshipper.AttemptInfo) context.Context {
	o.mu.Lock()
	call, _ := rtIDs(ctx)
	o.next++
	id := o.next
	if call == 0 || !o.openCall[call] {
		o.problems = append(o.problems, fmt.Sprintf("StartAttempt %d outside an open call (ctx call %d)", id, call))
	}
	if ai.Header.Get("Authorization") != "" {
		o.problems = append(o.problems, "AttemptInfo.Header carries Authorization")
	}
	o.openAtt[id] = true
	cp := ai
	cp.Header = nil
	o.evs = append(o.evs, rtEv{kind: "start_attempt", call: call, attempt: id, ai: cp})
	o.mu.Unlock()
	if o.header && ai.Header != nil {
		ai.Header.Set("X-RT-Att", strconv.Itoa(id))
	}
	return context.WithValue(ctx, rtAttKey{}, id)
}

func (o *rtObs) EndAttempt(ctx context.Context, ai chatshipper.AttemptInfo, ar chatshipper.AttemptResult) {
	o.mu.Lock()
	defer o.mu.Unlock()
	call, att := rtIDs(ctx)
	if !o.openAtt[att] {
		o.problems = append(o.problems, fmt.Sprintf("EndAttempt for attempt %d that is not open", att))
	}
	delete(o.openAtt, att)
	o.evs = append(o.evs, rtEv{kind: "end_attempt", call: call, attempt: att, ar: ar})
}

func (o *rtObs) Decision(ctx context.Context, d chatshipper.Decision) {
	o.mu.Lock()
	call, att := rtIDs(ctx)
	if call == 0 {
		o.problems = append(o.problems, fmt.Sprintf("decision %s outside any call", d.Kind))
	}
	o.evs = append(o.evs, rtEv{kind: "decision", call: call, attempt: att, d: d})
	f := o.onDecision
	o.mu.Unlock()
	if f != nil {
		f(d)
	}
}

func (o *rtObs) events() []rtEv {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]rtEv(nil), o.evs...)
}

func (o *rtObs) dump() string {
	var b strings.Builder
	for _, e := range o.events() {
		b.WriteString(e.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// balanced checks that every call and attempt started was ended once.
func (o *rtObs) balanced(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.problems {
		t.Errorf("observer contract: %s", p)
	}
	if len(o.openCall) != 0 || len(o.openAtt) != 0 {
		t.Errorf("left open: calls %v, attempts %v", o.openCall, o.openAtt)
	}
}

func (o *rtObs) filter(kind string) []rtEv {
	var out []rtEv
	for _, e := range o.events() {
		if e.kind == kind {
			out = append(out, e)
		}
	}
	return out
}

func (o *rtObs) decisions(k chatshipper.DecisionKind) []chatshipper.Decision {
	var out []chatshipper.Decision
	for _, e := range o.filter("decision") {
		if e.d.Kind == k {
			out = append(out, e.d)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// A scripted server: each request takes the next step (the last one repeats).

type rtStep struct {
	status int
	hdr    map[string]string
	body   string
	drop   bool // hijack and close without an answer
	close  bool // answer with Connection: close (no idle connection is reused)
}

type rtReq struct {
	method, uri, att, auth string
}

type rtScript struct {
	mu    sync.Mutex
	steps []rtStep
	n     int
	reqs  []rtReq
	ts    *httptest.Server
}

func newRTScript(t *testing.T, steps ...rtStep) *rtScript {
	s := &rtScript{steps: steps}
	s.ts = httptest.NewServer(s)
	t.Cleanup(s.ts.Close)
	return s
}

func (s *rtScript) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, rtReq{r.Method, r.URL.RequestURI(), r.Header.Get("X-RT-Att"), r.Header.Get("Authorization")})
	st := rtStep{status: 200}
	if len(s.steps) > 0 {
		i := min(s.n, len(s.steps)-1)
		st = s.steps[i]
	}
	s.n++
	s.mu.Unlock()
	if st.drop {
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	for k, v := range st.hdr {
		w.Header().Set(k, v)
	}
	if st.close {
		w.Header().Set("Connection", "close")
	}
	if st.status == 0 {
		st.status = 200
	}
	w.WriteHeader(st.status)
	body := st.body
	if body == "" {
		if st.status < 300 {
			body = `{"id":"` + convA + `","name":"x"}`
		} else {
			body = `{"message":"scripted failure"}`
		}
	}
	fmt.Fprint(w, body)
}

func (s *rtScript) requests() []rtReq {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]rtReq(nil), s.reqs...)
}

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
	c, err := chatshipper.NewClient("tok-rt-observer-SECRET-0123456789", append(all, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// attemptsMatchServer checks that the attempts the observer saw are exactly the
// requests the server received, one to one (by the X-RT-Att header the
// observer added), in order.
func attemptsMatchServer(t *testing.T, o *rtObs, reqs []rtReq) {
	t.Helper()
	starts := o.filter("start_attempt")
	if len(starts) != len(reqs) {
		t.Errorf("observer saw %d attempts, server %d requests\n%s", len(starts), len(reqs), o.dump())
		return
	}
	for i, st := range starts {
		if reqs[i].att != strconv.Itoa(st.attempt) {
			t.Errorf("request %d carried X-RT-Att %q, attempt id %d", i, reqs[i].att, st.attempt)
		}
		if reqs[i].method != st.ai.Method {
			t.Errorf("request %d: method %s, observed %s", i, reqs[i].method, st.ai.Method)
		}
		if reqs[i].auth == "" {
			t.Errorf("request %d without Authorization (the observer's header copy must not lose it)", i)
		}
	}
}

// ---------------------------------------------------------------------------
// Exactly once and in order, against what the server received.

// Promise (Observer): "StartAttempt is called for each HTTP request the client
// sends"; "EndAttempt is called once for every StartAttempt"; DecisionRetry "a
// failed attempt is retried after Wait"; CallResult.Attempts "how many attempts
// the call sent, retries ... included". A GET meets 503, 502, a dropped
// connection, then 200. (Every answer closes its connection, so that the
// drop is on a fresh one; see TestRTObserverDropOnIdleConnection for a drop
// on a reused one.)
func TestRTObserverGetRetriesMatchServer(t *testing.T) {
	t.Parallel()
	s := newRTScript(t, rtStep{status: 503, close: true}, rtStep{status: 502, close: true}, rtStep{drop: true}, rtStep{status: 200, close: true})
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o)
	if _, _, err := c.Conversations.Get(context.Background(), convA, nil); err != nil {
		t.Fatalf("get: %v", err)
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	evs := o.events()
	var seq []string
	for _, e := range evs {
		switch e.kind {
		case "start_call", "end_call", "start_attempt":
			seq = append(seq, e.kind)
		case "end_attempt":
			seq = append(seq, fmt.Sprintf("end_attempt:%d:%s", e.ar.StatusCode, e.ar.ErrorKind))
		case "decision":
			seq = append(seq, fmt.Sprintf("%s:%d:%d:%s", e.d.Kind, e.d.Attempt, e.d.StatusCode, e.d.ErrorKind))
		}
	}
	want := []string{
		"start_call",
		"start_attempt", "end_attempt:503:", "retry:1:503:",
		"start_attempt", "end_attempt:502:", "retry:2:502:",
		"start_attempt", "end_attempt:0:connection", "retry:3:0:connection",
		"start_attempt", "end_attempt:200:",
		"end_call",
	}
	if strings.Join(seq, " ") != strings.Join(want, " ") {
		t.Errorf("sequence\n got %v\nwant %v", seq, want)
	}
	ends := o.filter("end_call")
	if len(ends) != 1 || ends[0].cr.Outcome != chatshipper.OutcomeOK || ends[0].cr.Attempts != 4 || ends[0].cr.StatusCode != 200 {
		t.Errorf("end of call: %v", ends)
	}
	for i, st := range o.filter("start_attempt") {
		if st.ai.Attempt != i+1 || st.ai.Hop != 1 || st.ai.Method != "GET" || st.ai.Host != "127.0.0.1" || st.ai.Port == 0 {
			t.Errorf("attempt %d info: %+v", i+1, st.ai)
		}
	}
	if ci := o.filter("start_call")[0].ci; ci.Service != "Conversations" || ci.Method != "Get" || ci.Collection != "conversations" {
		t.Errorf("call info %+v", ci)
	}
}

// "StartAttempt is called for each HTTP request the client sends", and the
// rate limiter: "every attempt, retries included, takes a slot". A server
// that closes a kept-alive connection when the next GET arrives on it (what a
// server restarting or timing idle connections out does): the transport below
// the client sends the GET again on a new connection by itself, so the server
// receives two requests (with the same attempt's headers) for one attempt the
// observer is told of.
func TestRTObserverDropOnIdleConnection(t *testing.T) {
	t.Parallel()
	s := newRTScript(t, rtStep{status: 200}, rtStep{drop: true}, rtStep{status: 200})
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o)
	for range 2 {
		if _, _, err := c.Conversations.Get(context.Background(), convA, nil); err != nil {
			t.Fatal(err)
		}
	}
	o.balanced(t)
	// Documented (Observer.StartAttempt): net/http's Transport resends an
	// idempotent request once, inside the attempt and with its headers, when
	// a reused connection closes after the request was written. The server
	// sees three requests for two observed attempts, the resend carrying the
	// header of the attempt it repeats.
	var atts []string
	for _, r := range s.requests() {
		atts = append(atts, r.att)
	}
	starts := o.filter("start_attempt")
	if len(starts) != 2 || len(atts) != 3 || atts[1] != atts[2] || atts[0] == atts[1] {
		t.Errorf("observed %d attempts; X-RT-Att per request received: %v, want 2 attempts and the second attempt's header twice", len(starts), atts)
	}
}

// DecisionNoRetry: "a failed attempt that could have been retried is not;
// Reason says why". A GET answered 503 every time with WithMaxRetries(2):
// three attempts, two retries, then the third 503 is not retried.
func TestRTObserverRetriesExhausted(t *testing.T) {
	t.Parallel()
	s := newRTScript(t, rtStep{status: 503})
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o, chatshipper.WithMaxRetries(2))
	_, _, err := c.Conversations.Get(context.Background(), convA, nil)
	if !errors.Is(err, chatshipper.ErrServer) {
		t.Fatalf("err = %v", err)
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	if n := len(s.requests()); n != 3 {
		t.Errorf("server saw %d requests, want 3", n)
	}
	if r := o.decisions(chatshipper.DecisionRetry); len(r) != 2 {
		t.Errorf("%d retry decisions, want 2\n%s", len(r), o.dump())
	}
	nr := o.decisions(chatshipper.DecisionNoRetry)
	if len(nr) != 1 || nr[0].Attempt != 3 || nr[0].StatusCode != 503 || nr[0].Reason == "" {
		t.Errorf("no_retry decisions %+v, want one for attempt 3 with a reason\n%s", nr, o.dump())
	}
	ends := o.filter("end_call")
	if len(ends) != 1 || ends[0].cr.Outcome != chatshipper.OutcomeHTTPError || ends[0].cr.Attempts != 3 || ends[0].cr.StatusCode != 503 {
		t.Errorf("end of call %v", ends)
	}
}

// A POST answered 503 is never retried (table in the package doc): one
// attempt, no retry decision, and the call ends http_error (delivery tracking
// off, so no lookup).
func TestRTObserverPostNotRetried(t *testing.T) {
	t.Parallel()
	s := newRTScript(t, rtStep{status: 400, body: `{"message":"no"}`})
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o, chatshipper.WithDeliveryTracking(false))
	_, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("hello there"))
	if err == nil {
		t.Fatal("no error")
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	if r := o.decisions(chatshipper.DecisionRetry); len(r) != 0 {
		t.Errorf("retry decisions on a 400: %+v", r)
	}
	ends := o.filter("end_call")
	if len(ends) != 1 || ends[0].cr.Outcome != chatshipper.OutcomeHTTPError || ends[0].cr.Attempts != 1 || ends[0].ci.Method != "Send" {
		t.Errorf("end of call %v", ends)
	}
}

// 429 with Retry-After (seconds, then an HTTP date on a server clock 3 hours
// ahead): DecisionLimiterPause for the whole Retry-After, DecisionRetry with
// RetryAfter and a Wait not shorter, and DecisionLimiterWait "reported for
// every attempt, also when it did not wait". Server: 429, 429, 200.
func TestRTObserver429RetryAfter(t *testing.T) {
	t.Parallel()
	skew := 3 * time.Hour
	now := time.Now().Add(skew).UTC()
	s := newRTScript(t,
		rtStep{status: 429, hdr: map[string]string{"Retry-After": "1"}, body: `{"message":"Too many requests"}`},
		rtStep{status: 429, hdr: map[string]string{"Date": now.Format(http.TimeFormat), "Retry-After": now.Add(time.Second).Format(http.TimeFormat)}, body: `{"message":"Too many requests"}`},
		rtStep{status: 200})
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o, chatshipper.WithRateLimit(20), chatshipper.WithIPRateLimit(0),
		chatshipper.WithRetryWait(time.Millisecond, 5*time.Second))
	if _, _, err := c.Conversations.Get(context.Background(), convA, nil); err != nil {
		t.Fatal(err)
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	lw := o.decisions(chatshipper.DecisionLimiterWait)
	if len(lw) != 3 {
		t.Errorf("%d limiter_wait decisions for 3 attempts\n%s", len(lw), o.dump())
	}
	for i, d := range lw {
		if d.Attempt != i+1 {
			t.Errorf("limiter_wait %d for attempt %d", i, d.Attempt)
		}
	}
	pauses := o.decisions(chatshipper.DecisionLimiterPause)
	if len(pauses) != 2 {
		t.Errorf("%d limiter_pause decisions, want 2\n%s", len(pauses), o.dump())
	}
	for _, p := range pauses {
		if p.Wait != time.Second {
			t.Errorf("limiter pause %v, want the whole Retry-After (1s)", p.Wait)
		}
	}
	retries := o.decisions(chatshipper.DecisionRetry)
	if len(retries) != 2 {
		t.Fatalf("%d retries\n%s", len(retries), o.dump())
	}
	for _, r := range retries {
		if r.StatusCode != 429 || r.RetryAfter != time.Second || r.Wait < time.Second {
			t.Errorf("retry decision %+v: want 429, RetryAfter 1s (measured on the server's clock), Wait >= 1s", r)
		}
	}
	// Order: each limiter_wait comes before its attempt starts.
	evs := o.events()
	for i, e := range evs {
		if e.kind == "start_attempt" && (i == 0 || evs[i-1].kind != "decision" || evs[i-1].d.Kind != chatshipper.DecisionLimiterWait) {
			t.Errorf("attempt %d not preceded by its limiter_wait\n%s", e.ai.Attempt, o.dump())
		}
	}
}

// A Retry-After over the longest wait: "the call does not retry and returns
// at once, a 429 as *RateLimitError"; the limiter is paused "for all of it
// ... also when the call itself does not retry". Observed: one attempt, a
// no_retry decision with the RetryAfter, a pause of an hour, outcome
// rate_limited.
func TestRTObserver429TooLong(t *testing.T) {
	t.Parallel()
	s := newRTScript(t, rtStep{status: 429, hdr: map[string]string{"Retry-After": "3600"}, body: `{"message":"Too many requests"}`})
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o, chatshipper.WithRateLimit(20), chatshipper.WithIPRateLimit(0))
	_, _, err := c.Conversations.Get(context.Background(), convA, nil)
	var rl *chatshipper.RateLimitError
	if !errors.As(err, &rl) {
		t.Fatalf("err = %v", err)
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	nr := o.decisions(chatshipper.DecisionNoRetry)
	if len(nr) != 1 || nr[0].RetryAfter != time.Hour || nr[0].StatusCode != 429 || nr[0].Reason == "" {
		t.Errorf("no_retry decisions %+v\n%s", nr, o.dump())
	}
	if p := o.decisions(chatshipper.DecisionLimiterPause); len(p) != 1 || p[0].Wait != time.Hour {
		t.Errorf("limiter pauses %+v", p)
	}
	if r := o.decisions(chatshipper.DecisionRetry); len(r) != 0 {
		t.Errorf("retry decisions %+v", r)
	}
	ends := o.filter("end_call")
	if len(ends) != 1 || ends[0].cr.Outcome != chatshipper.OutcomeRateLimited || ends[0].cr.Attempts != 1 || ends[0].cr.StatusCode != 429 {
		t.Errorf("end of call %v", ends)
	}
}

// ---------------------------------------------------------------------------
// Delivery decisions.

// A send whose answer is lost after the server stored it: one POST, one
// lookup GET, DecisionDeliveryLookup Found 1 of 1, no re-send; the lookup is a
// call of its own inside the send (its StartCall's ctx carries the send), and
// "calls it made inside, such as a delivery lookup, count their own" attempts.
func TestRTObserverLostAnswerLookup(t *testing.T) {
	t.Parallel()
	h := newHostile(t, &hostile{postFault: -1, postFaults: 1})
	o := newRTObs()
	c := h.client(t, chatshipper.WithObserver(o))
	if _, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("lost answer")); err != nil {
		t.Fatalf("send: %v\n%s", err, h.log())
	}
	o.balanced(t)
	if h.count("lost answer") != 1 {
		t.Fatalf("stored %d times", h.count("lost answer"))
	}
	starts := o.filter("start_call")
	if len(starts) != 2 || starts[0].ci.Method != "Send" || starts[1].ci.Method != "List" || starts[1].ci.Service != "Messages" || starts[1].parent != starts[0].call {
		t.Fatalf("calls: %v", starts)
	}
	lk := o.decisions(chatshipper.DecisionDeliveryLookup)
	if len(lk) != 1 || lk[0].Messages != 1 || lk[0].Found != 1 || lk[0].ConversationID != convA {
		t.Errorf("lookup decisions %+v\n%s", lk, o.dump())
	}
	if r := o.decisions(chatshipper.DecisionDeliveryResend); len(r) != 0 {
		t.Errorf("resend decisions %+v", r)
	}
	if u := o.decisions(chatshipper.DecisionDeliveryUnknown); len(u) != 0 {
		t.Errorf("unknown decisions %+v", u)
	}
	attempts := map[int]int{}
	for _, e := range o.filter("start_attempt") {
		attempts[e.call]++
	}
	for _, e := range o.filter("end_call") {
		if e.cr.Attempts != attempts[e.call] {
			t.Errorf("call %d (%s) reports %d attempts, the observer saw %d", e.call, e.ci.Method, e.cr.Attempts, attempts[e.call])
		}
		if e.cr.Outcome != chatshipper.OutcomeOK {
			t.Errorf("call %d outcome %s", e.call, e.cr.Outcome)
		}
	}
	if n := len(o.filter("start_attempt")); n != 2 || h.posts() != 1 {
		t.Errorf("attempts %d, posts %d\n%s", n, h.posts(), h.log())
	}
}

// dropFirstPost drops the first POST before the server acts on it.
type dropFirstPost struct {
	h       *hostile
	dropped atomic.Bool
}

func (d *dropFirstPost) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == "POST" && d.dropped.CompareAndSwap(false, true) {
		d.h.mu.Lock()
		d.h.reqs = append(d.h.reqs, "POST (dropped) "+r.URL.RequestURI())
		d.h.mu.Unlock()
		c, _, _ := w.(http.Hijacker).Hijack()
		c.Close()
		return
	}
	d.h.ServeHTTP(w, r)
}

// The connection drops before the server stored anything: the lookup finds
// the message missing (Found 0), DecisionDeliveryResend for 1 message, the
// second POST stores it; the send's Attempts counts both POSTs ("retries and
// re-sends included").
func TestRTObserverMissingResend(t *testing.T) {
	t.Parallel()
	h := &hostile{}
	d := &dropFirstPost{h: h}
	h.ts = httptest.NewServer(d)
	t.Cleanup(h.ts.Close)
	o := newRTObs()
	c := h.client(t, chatshipper.WithObserver(o))
	if _, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("resent once")); err != nil {
		t.Fatalf("send: %v\n%s", err, h.log())
	}
	o.balanced(t)
	if h.count("resent once") != 1 {
		t.Fatalf("stored %d times\n%s", h.count("resent once"), h.log())
	}
	lk := o.decisions(chatshipper.DecisionDeliveryLookup)
	if len(lk) != 1 || lk[0].Found != 0 || lk[0].Messages != 1 {
		t.Errorf("lookups %+v\n%s", lk, o.dump())
	}
	rs := o.decisions(chatshipper.DecisionDeliveryResend)
	if len(rs) != 1 || rs[0].Messages != 1 || rs[0].ConversationID != convA {
		t.Errorf("resends %+v\n%s", rs, o.dump())
	}
	var send rtEv
	for _, e := range o.filter("end_call") {
		if e.ci.Method == "Send" {
			send = e
		}
	}
	if send.cr.Attempts != 2 || send.cr.Outcome != chatshipper.OutcomeOK {
		t.Errorf("send ended %v (want 2 attempts, ok)\n%s", send, h.log())
	}
	// Order: lookup decision, then the resend decision, then the second POST.
	var order []string
	for _, e := range o.events() {
		if e.kind == "decision" && (e.d.Kind == chatshipper.DecisionDeliveryLookup || e.d.Kind == chatshipper.DecisionDeliveryResend) {
			order = append(order, string(e.d.Kind))
		}
		if e.kind == "start_attempt" {
			order = append(order, e.ai.Method)
		}
	}
	if got := strings.Join(order, " "); got != "POST GET delivery_lookup delivery_resend POST" {
		t.Errorf("order %q", got)
	}
}

// The lookup fails (500): DecisionDeliveryUnknown once, ErrorKind "the
// lookup's CallOutcome", the call's outcome delivery_unknown, nothing sent
// again.
func TestRTObserverLookupFailsUnknown(t *testing.T) {
	t.Parallel()
	h := newHostile(t, &hostile{postFault: -1, postFaults: 1, lookupFail: 500})
	o := newRTObs()
	c := h.client(t, chatshipper.WithObserver(o))
	_, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("unknown fate"))
	if !errors.Is(err, chatshipper.ErrDeliveryUnknown) {
		t.Fatalf("err = %v", err)
	}
	o.balanced(t)
	u := o.decisions(chatshipper.DecisionDeliveryUnknown)
	if len(u) != 1 || u[0].Messages != 1 || u[0].ErrorKind != string(chatshipper.OutcomeHTTPError) || u[0].ConversationID != convA {
		t.Errorf("unknown decisions %+v\n%s", u, o.dump())
	}
	if r := o.decisions(chatshipper.DecisionDeliveryResend); len(r) != 0 {
		t.Errorf("resends %+v", r)
	}
	lk := o.decisions(chatshipper.DecisionDeliveryLookup)
	for _, d := range lk {
		if d.Found != 0 {
			t.Errorf("a failed lookup reported found %d", d.Found)
		}
	}
	for _, e := range o.filter("end_call") {
		if e.ci.Method == "Send" && e.cr.Outcome != chatshipper.OutcomeDeliveryUnknown {
			t.Errorf("send outcome %s", e.cr.Outcome)
		}
	}
	if h.posts() != 1 {
		t.Errorf("%d posts", h.posts())
	}
}

// ---------------------------------------------------------------------------
// Loop guard.

// The client's guard refuses the ninth identical message: one
// DecisionLoopGuardRefusal ("identical", not FromServer, the conversation),
// no attempt for that call, outcome loop_limit.
func TestRTObserverLoopGuardRefusal(t *testing.T) {
	t.Parallel()
	h := newHostile(t, &hostile{})
	o := newRTObs()
	c := h.client(t, chatshipper.WithObserver(o), chatshipper.WithLoopGuard(true))
	var err error
	for i := 0; i < 9 && err == nil; i++ {
		_, _, err = c.Conversations.Send(context.Background(), convA, chatshipper.Chat("same again"))
	}
	if !errors.Is(err, chatshipper.ErrLoopLimit) {
		t.Fatalf("err = %v", err)
	}
	o.balanced(t)
	ref := o.decisions(chatshipper.DecisionLoopGuardRefusal)
	if len(ref) != 1 || ref[0].Reason != "identical" || ref[0].FromServer || ref[0].ConversationID != convA {
		t.Errorf("refusals %+v", ref)
	}
	ends := o.filter("end_call")
	last := ends[len(ends)-1]
	if last.cr.Outcome != chatshipper.OutcomeLoopLimit || last.cr.Attempts != 0 {
		t.Errorf("refused call ended %v", last)
	}
	if h.posts() != 8 || len(o.filter("start_attempt")) != 8 {
		t.Errorf("posts %d, attempts %d", h.posts(), len(o.filter("start_attempt")))
	}
}

// The server's bot loop limit (the fake, guard off): the 21st consecutive bot
// message is answered 429 naming the limit: one refusal FromServer
// ("consecutive"), never retried, outcome loop_limit.
func TestRTObserverServerLoopLimit(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewServer(t, chatshippertest.WithRateLimit(0))
	o := newRTObs()
	c, err := srv.NewClient(chatshipper.WithLoopGuard(false), chatshipper.WithObserver(o), chatshipper.WithRateLimit(0))
	if err != nil {
		t.Fatal(err)
	}
	conv := fakeConv(t, srv, c)
	for i := 0; i < 30 && err == nil; i++ {
		_, _, err = c.Conversations.Send(context.Background(), conv, chatshipper.Chat(fmt.Sprint("line ", i)))
	}
	var ll *chatshipper.LoopLimitError
	if !errors.As(err, &ll) {
		t.Fatalf("err = %v", err)
	}
	o.balanced(t)
	ref := o.decisions(chatshipper.DecisionLoopGuardRefusal)
	if len(ref) != 1 || !ref[0].FromServer || ref[0].Reason != "consecutive" || ref[0].ConversationID != conv {
		t.Errorf("refusals %+v", ref)
	}
	ends := o.filter("end_call")
	last := ends[len(ends)-1]
	if last.cr.Outcome != chatshipper.OutcomeLoopLimit || last.cr.Attempts != 1 || last.cr.StatusCode != 429 {
		t.Errorf("refused call ended %v", last)
	}
	if r := o.decisions(chatshipper.DecisionRetry); len(r) != 0 {
		t.Errorf("retries %+v", r)
	}
}

// ---------------------------------------------------------------------------
// Calls end whatever happens.

// The caller cancels while the client waits out a Retry-After (cancelled from
// the retry decision itself, no timing): EndCall once, canceled, no further
// attempt.
func TestRTObserverCancelDuringRetryWait(t *testing.T) {
	t.Parallel()
	s := newRTScript(t, rtStep{status: 503, hdr: map[string]string{"Retry-After": "20"}})
	o := newRTObs()
	o.header = true
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	o.onDecision = func(d chatshipper.Decision) {
		if d.Kind == chatshipper.DecisionRetry {
			cancel()
		}
	}
	c := rtClient(t, s.ts.URL+"/v2/", o, chatshipper.WithRetryWait(time.Millisecond, 30*time.Second))
	_, _, err := c.Conversations.Get(ctx, convA, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	ends := o.filter("end_call")
	if len(ends) != 1 || ends[0].cr.Outcome != chatshipper.OutcomeCanceled || ends[0].cr.Attempts != 1 {
		t.Errorf("end of call %v\n%s", ends, o.dump())
	}
}

// A context cancelled before the call, an expired one, and an invalid
// argument: StartCall "before its arguments are checked", EndCall once,
// no attempt.
func TestRTObserverNoIO(t *testing.T) {
	t.Parallel()
	s := newRTScript(t)
	cases := []struct {
		name string
		ctx  func() context.Context
		id   string
		want chatshipper.CallOutcome
	}{
		{"canceled", func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, convA, chatshipper.OutcomeCanceled},
		{"expired", func() context.Context {
			ctx, cancel := context.WithDeadline(context.Background(), time.Unix(1, 0))
			t.Cleanup(cancel)
			return ctx
		}, convA, chatshipper.OutcomeDeadlineExceeded},
		{"bad id", context.Background, "../users", chatshipper.OutcomeInvalidArgument},
	}
	for _, tc := range cases {
		o := newRTObs()
		c := rtClient(t, s.ts.URL+"/v2/", o)
		_, _, err := c.Conversations.Get(tc.ctx(), tc.id, nil)
		if err == nil {
			t.Fatalf("%s: no error", tc.name)
		}
		o.balanced(t)
		ends := o.filter("end_call")
		if len(o.filter("start_call")) != 1 || len(ends) != 1 || ends[0].cr.Outcome != tc.want || ends[0].cr.Attempts != 0 || ends[0].cr.Err == nil {
			t.Errorf("%s: %s", tc.name, o.dump())
		}
	}
	if n := len(s.requests()); n != 0 {
		t.Errorf("server saw %d requests", n)
	}
}

// walkHostile serves n messages of convA, by key or offset, limit honoured,
// through wrap when it is given.
func walkHostile(t *testing.T, n int, wrap func(*hostile) http.Handler) *hostile {
	h := &hostile{}
	for i := 0; i < n; i++ {
		h.add(convA, fmt.Sprint("w", i))
	}
	var srv http.Handler = h
	if wrap != nil {
		srv = wrap(h)
	}
	h.ts = httptest.NewServer(srv)
	t.Cleanup(h.ts.Close)
	return h
}

func getCount(h *hostile) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, r := range h.reqs {
		if strings.HasPrefix(r, "GET") {
			n++
		}
	}
	return n
}

// CallInfo.Method "Walk": "one range over a walk ... from the start of the
// loop to its end". Early break, a loop to the end, an error mid-walk, an
// iter.Pull stopped after one item, and Concurrency(4) broken at once: one
// StartCall and one EndCall each, and the attempts reported are the requests
// sent.
func TestRTObserverWalkEnds(t *testing.T) {
	t.Parallel()
	q := chatshipper.NewQuery().Where("conversation", chatshipper.Eq(convA)).Limit(2)
	cases := []struct {
		name string
		opts []chatshipper.WalkOption
		loop func(w *chatshipper.Walk[chatshipper.Message]) error
		fail bool // page 3 answers 500
		want chatshipper.CallOutcome
	}{
		{"break", nil, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Items() {
				if err != nil {
					return err
				}
				if w.Count() == 3 {
					break
				}
			}
			return nil
		}, false, chatshipper.OutcomeOK},
		{"to the end", nil, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Items() {
				if err != nil {
					return err
				}
			}
			return nil
		}, false, chatshipper.OutcomeOK},
		{"error", nil, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Items() {
				if err != nil {
					return err
				}
			}
			return nil
		}, true, chatshipper.OutcomeHTTPError},
		{"pull", nil, func(w *chatshipper.Walk[chatshipper.Message]) error {
			next, stop := iter.Pull2(w.Items())
			_, err, _ := next()
			stop()
			return err
		}, false, chatshipper.OutcomeOK},
		{"concurrent break", []chatshipper.WalkOption{chatshipper.Concurrency(4)}, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Items() {
				if err != nil {
					return err
				}
				break
			}
			return nil
		}, false, chatshipper.OutcomeOK},
		{"pages prefetch break", []chatshipper.WalkOption{chatshipper.Prefetch(3)}, func(w *chatshipper.Walk[chatshipper.Message]) error {
			for _, err := range w.Pages() {
				if err != nil {
					return err
				}
				break
			}
			return nil
		}, false, chatshipper.OutcomeOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var wrap func(*hostile) http.Handler
			if tc.fail {
				wrap = func(h *hostile) http.Handler {
					var n atomic.Int32
					return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
						if r.Method == "GET" && n.Add(1) == 3 {
							h.mu.Lock()
							h.reqs = append(h.reqs, "GET (500) "+r.URL.RequestURI())
							h.mu.Unlock()
							w.WriteHeader(500)
							fmt.Fprint(w, `{"message":"boom"}`)
							return
						}
						h.ServeHTTP(w, r)
					})
				}
			}
			h := walkHostile(t, 11, wrap)
			o := newRTObs()
			c := h.client(t, chatshipper.WithObserver(o))
			err := tc.loop(c.Messages.Walk(context.Background(), q, tc.opts...))
			if (err != nil) != tc.fail {
				t.Fatalf("err = %v", err)
			}
			o.balanced(t)
			starts, ends := o.filter("start_call"), o.filter("end_call")
			if len(starts) != 1 || len(ends) != 1 || starts[0].ci.Method != "Walk" || starts[0].ci.Service != "Messages" {
				t.Fatalf("calls:\n%s", o.dump())
			}
			if ends[0].cr.Outcome != tc.want {
				t.Errorf("outcome %s, want %s", ends[0].cr.Outcome, tc.want)
			}
			sent := len(o.filter("start_attempt"))
			if ends[0].cr.Attempts != sent {
				t.Errorf("Attempts %d, StartAttempt %d", ends[0].cr.Attempts, sent)
			}
			// Requests cancelled by the break may never reach the server;
			// every other attempt must have been received.
			unseen := 0
			for _, e := range o.filter("end_attempt") {
				if e.ar.ErrorKind == "canceled" && e.ar.StatusCode == 0 {
					unseen++
				}
			}
			if g := getCount(h); g > sent || g < sent-unseen {
				t.Errorf("server saw %d GETs, the observer %d attempts (%d cancelled)\n%s\n%s", g, sent, unseen, h.log(), o.dump())
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Headers.

// AttemptInfo.Header: "the attempt's own copy of the request headers, from
// which the Authorization header is removed: an observer may add trace
// context headers to it"; Client.Do: the caller's request "is never
// modified". The header the observer adds must reach the server, the token
// must still be sent, and the caller's request must not end up with either.
func TestRTObserverHeaderCopy(t *testing.T) {
	t.Parallel()
	s := newRTScript(t, rtStep{status: 503}, rtStep{status: 200})
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o)
	req, err := c.NewRequest(context.Background(), "GET", "conversations/"+convA, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Caller", "mine")
	if _, err := c.Do(req, nil); err != nil {
		t.Fatal(err)
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	if req.Header.Get("X-RT-Att") != "" || req.Header.Get("Authorization") != "" || req.Header.Get("X-Caller") != "mine" {
		t.Errorf("the caller's request was modified: %v", req.Header)
	}
	st := o.filter("start_call")
	if len(st) != 1 || st[0].ci.Service != "" || st[0].ci.Method != "Do" || st[0].ci.Collection != "conversations" {
		t.Errorf("Do reported as %+v", st)
	}
}

// ---------------------------------------------------------------------------
// What the observer is given.

// The Observer doc: "Nothing the client passes holds a token, a password or
// a message text; URLs are redacted as in errors (query values that may be
// personal data replaced)"; AttemptInfo.URL "with personal data redacted
// from its query". The query builder's filters put an e-mail address and a
// telephone number in every operator form, and message text, into the URL.
func TestRTObserverURLRedaction(t *testing.T) {
	t.Parallel()
	const email, phone, phoneIntl = "jane.doe@example.org", "0612345678", "+31 6 1234 5678"
	cases := []struct {
		name   string
		q      *chatshipper.Query
		canary []string
	}{
		{"email Eq", chatshipper.NewQuery().Where("meta.contactAddress", chatshipper.Eq(email)), []string{"jane"}},
		{"email Ne", chatshipper.NewQuery().Where("meta.contactAddress", chatshipper.Ne(email)), []string{"jane"}},
		{"email Regex", chatshipper.NewQuery().Where("meta.contactAddress", chatshipper.Regex(email)), []string{"jane"}},
		{"email In", chatshipper.NewQuery().Where("meta.contactAddress", chatshipper.In("x", email)), []string{"jane"}},
		{"email WhereAny", chatshipper.NewQuery().WhereAny([]string{"name", "meta.contactAddress"}, email), []string{"jane"}},
		{"phone Eq", chatshipper.NewQuery().Where("meta.contactNumber", chatshipper.Eq(phone)), []string{phone}},
		{"phone Ne", chatshipper.NewQuery().Where("meta.contactNumber", chatshipper.Ne(phone)), []string{phone}},
		{"phone In", chatshipper.NewQuery().Where("meta.contactNumber", chatshipper.In("x", phoneIntl)), []string{"1234"}},
		{"phone Regex", chatshipper.NewQuery().Where("meta.contactNumber", chatshipper.Regex(phoneIntl)), []string{"1234"}},
		{"phone WhereAny", chatshipper.NewQuery().WhereAny([]string{"name", "meta.contactNumber"}, phoneIntl), []string{"1234"}},
		{"phone E.164 WhereAny", chatshipper.NewQuery().WhereAny([]string{"name", "meta.contactNumber"}, "+31612345678"), []string{"612345678"}},
		{"message text Eq", chatshipper.NewQuery().Where("text", chatshipper.Eq("my diagnosis is confidential")), []string{"diagnosis"}},
		{"message text Regex", chatshipper.NewQuery().Where("text", chatshipper.Regex("diagnosis")), []string{"diagnosis"}},
		{"message text WhereAny", chatshipper.NewQuery().WhereAny([]string{"text", "meta.note"}, "my diagnosis"), []string{"diagnosis"}},
		// Not promised (a name is not in the list of what is redacted):
		// logged only.
		{"contact name (not promised)", chatshipper.NewQuery().Where("meta.name", chatshipper.Eq("Jane Doe")), []string{"Jane"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := newRTScript(t, rtStep{status: 400, body: `{"message":"bad filter"}`})
			o := newRTObs()
			c := rtClient(t, s.ts.URL+"/v2/", o)
			_, _, err := c.Messages.List(context.Background(), tc.q.Where("conversation", chatshipper.Eq(convA)))
			var er *chatshipper.ErrorResponse
			if !errors.As(err, &er) {
				t.Fatalf("err = %v", err)
			}
			att := o.filter("start_attempt")
			if len(att) != 1 {
				t.Fatalf("%d attempts", len(att))
			}
			u := att[0].ai.URL
			if !strings.Contains(s.requests()[0].uri, "?") {
				t.Fatalf("no query sent: %v", s.requests())
			}
			for _, cn := range tc.canary {
				if strings.Contains(u, cn) && strings.Contains(tc.name, "not promised") {
					t.Logf("AttemptInfo.URL holds %q: %s", cn, u)
				} else if strings.Contains(u, cn) {
					t.Errorf("AttemptInfo.URL holds %q: %s", cn, u)
				}
				if strings.Contains(er.URL, cn) || strings.Contains(err.Error(), cn) {
					t.Logf("(the error holds %q too: %s)", cn, err)
				}
			}
			// "as in errors": the observer's URL and the error's are the same.
			if er.URL != u {
				t.Errorf("AttemptInfo.URL %s\n   error URL %s", u, er.URL)
			}
		})
	}
}

// The package doc: URLs in errors "never carry user info, and query values
// that may be a consumer's personal data are replaced by REDACTED" (e-mail
// addresses and telephone numbers). *ErrorResponse.Error() and its URL, for
// a query built with the SDK's own builder.
func TestRTObserverErrorURLRedaction(t *testing.T) {
	t.Parallel()
	const email, phoneIntl, e164 = "jane.doe@example.org", "+31 6 1234 5678", "+31612345678"
	s := newRTScript(t, rtStep{status: 404, body: `{"message":"not found"}`})
	c := rtClient(t, s.ts.URL+"/v2/", nil)
	for _, q := range []*chatshipper.Query{
		chatshipper.NewQuery().WhereAny([]string{"profile.name", "profile.familyName"}, email),
		chatshipper.NewQuery().Where("meta.ref", chatshipper.Ne(phoneIntl)),
		chatshipper.NewQuery().Where("meta.ref", chatshipper.Regex(phoneIntl)),
		chatshipper.NewQuery().Where("meta.ref", chatshipper.In("a", e164)),
		// A free-text search over the name fields, into which someone typed
		// a telephone number: WhereAny escapes the "+".
		chatshipper.NewQuery().WhereAny([]string{"profile.name", "profile.familyName"}, phoneIntl),
		chatshipper.NewQuery().WhereAny([]string{"profile.name", "profile.familyName"}, e164),
	} {
		_, _, err := c.Contacts.List(context.Background(), q)
		if err == nil {
			t.Fatal("no error")
		}
		var er *chatshipper.ErrorResponse
		errors.As(err, &er)
		for _, s := range []string{err.Error(), er.URL, fmt.Sprintf("%+v", err)} {
			if strings.Contains(s, "jane") || strings.Contains(s, "1234") || strings.Contains(s, "612345678") {
				t.Errorf("personal data in the error: %s", s)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// Concurrency.

// Many goroutines share one observer, with retries, drops and errors mixed:
// every call and attempt is ended exactly once, in its own call (run with
// -race).
func TestRTObserverConcurrent(t *testing.T) {
	t.Parallel()
	var n atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch n.Add(1) % 4 {
		case 0:
			w.WriteHeader(503)
			fmt.Fprint(w, `{"message":"busy"}`)
		case 1:
			c, _, _ := w.(http.Hijacker).Hijack()
			c.Close()
		default:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"id":"`+convA+`"}`)
		}
	}))
	// Every connection serves one request, so that net/http never re-sends a
	// request on its own (see TestRTObserverDropOnIdleConnection).
	ts.Config.SetKeepAlivesEnabled(false)
	t.Cleanup(ts.Close)
	o := newRTObs()
	o.header = true
	c := rtClient(t, ts.URL+"/v2/", o)
	var wg sync.WaitGroup
	for g := 0; g < 16; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 10; i++ {
				_, _, _ = c.Conversations.Get(context.Background(), convA, nil)
			}
		}()
	}
	wg.Wait()
	o.balanced(t)
	if got := len(o.filter("start_attempt")); int64(got) != n.Load() {
		t.Errorf("%d attempts observed, server saw %d", got, n.Load())
	}
	perCall := map[int]int{}
	for _, e := range o.filter("start_attempt") {
		perCall[e.call]++
	}
	ends := o.filter("end_call")
	if len(ends) != 160 {
		t.Errorf("%d calls ended", len(ends))
	}
	for _, e := range ends {
		if e.cr.Attempts != perCall[e.call] {
			t.Errorf("call %d: Attempts %d, observed %d", e.call, e.cr.Attempts, perCall[e.call])
		}
	}
}

// ---------------------------------------------------------------------------
// No observer, no work; an observer changes nothing.

// WithObserver: "Without it, or with nil, nothing is reported and the client
// does no work for it"; README: "allocations per call unchanged". A GET's
// allocations with no option and with WithObserver(nil) are the same.
func TestRTObserverNilObserverNoAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts are not exact under the race detector")
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"id":"`+convA+`"}`)
	}))
	t.Cleanup(ts.Close)
	none := rtClient(t, ts.URL+"/v2/", nil)
	nilObs := rtClient(t, ts.URL+"/v2/", nil, chatshipper.WithObserver(nil))
	noop := rtClient(t, ts.URL+"/v2/", rtNoop{})
	get := func(c *chatshipper.Client) func() {
		return func() {
			if _, _, err := c.Conversations.Get(context.Background(), convA, nil); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range 20 { // warm the connection pools
		get(none)()
		get(nilObs)()
		get(noop)()
	}
	var a, b, x float64
	// Interleave and take the minimum of several rounds, as the transport's
	// own allocations vary a little.
	a, b, x = 1e9, 1e9, 1e9
	for range 5 {
		a = min(a, testing.AllocsPerRun(200, get(none)))
		b = min(b, testing.AllocsPerRun(200, get(nilObs)))
		x = min(x, testing.AllocsPerRun(200, get(noop)))
	}
	t.Logf("allocs per GET: no observer %.0f, WithObserver(nil) %.0f, a no-op observer %.0f", a, b, x)
	if b > a {
		t.Errorf("WithObserver(nil) costs %.0f allocations more than no observer", b-a)
	}
	if x <= a {
		t.Logf("a no-op observer costs no allocation either (%.0f vs %.0f)", x, a)
	}
}

type rtNoop struct{}

func (rtNoop) StartCall(ctx context.Context, _ chatshipper.CallInfo) context.Context { return ctx }
func (rtNoop) EndCall(context.Context, chatshipper.CallInfo, chatshipper.CallResult) {}
func (rtNoop) StartAttempt(ctx context.Context, _ chatshipper.AttemptInfo) context.Context {
	return ctx
}
func (rtNoop) EndAttempt(context.Context, chatshipper.AttemptInfo, chatshipper.AttemptResult) {}
func (rtNoop) Decision(context.Context, chatshipper.Decision)                                 {}

// The same hostile sequence (lost answer, then a 500 lookup) with and without
// an observer: the server receives the same requests, and the call returns
// the same error class.
func TestRTObserverChangesNothing(t *testing.T) {
	t.Parallel()
	run := func(obs chatshipper.Observer) (string, error) {
		h := newHostile(t, &hostile{postFault: -1, postFaults: 1, lookupFail: 503})
		opts := []chatshipper.Option{chatshipper.WithMaxRetries(2)}
		if obs != nil {
			opts = append(opts, chatshipper.WithObserver(obs))
		}
		c := h.client(t, opts...)
		_, _, err := c.Conversations.Send(context.Background(), convA, chatshipper.Chat("same either way"))
		var reqs []string
		for _, r := range strings.Split(h.log(), "\n") {
			// the keys are random: compare the shape only
			if i := strings.Index(r, "chatshipperDeliveryKey="); i >= 0 {
				r = r[:i]
			}
			reqs = append(reqs, r)
		}
		return strings.Join(reqs, "\n"), err
	}
	without, err1 := run(nil)
	o := newRTObs()
	with, err2 := run(o)
	o.balanced(t)
	if without != with {
		t.Errorf("requests differ\nwithout:\n%s\nwith:\n%s", without, with)
	}
	if errors.Is(err1, chatshipper.ErrDeliveryUnknown) != errors.Is(err2, chatshipper.ErrDeliveryUnknown) {
		t.Errorf("errors differ: %v / %v", err1, err2)
	}
}

// ---------------------------------------------------------------------------
// The webhook handler's observer.

type rtHandKey struct{}

type rtWhObs struct {
	mu       sync.Mutex
	next     int
	log      []string
	obs      []webhook.Observation
	open     map[int]bool
	problems []string
}

func (o *rtWhObs) WebhookEvent(_ context.Context, ob webhook.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.obs = append(o.obs, ob)
	o.log = append(o.log, fmt.Sprintf("%s:%d:%s", ob.Outcome, ob.Status, ob.EventID))
}

func (o *rtWhObs) StartHandling(ctx context.Context, e *webhook.Event) context.Context {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.next++
	o.open[o.next] = true
	o.log = append(o.log, "start:"+e.ID)
	return context.WithValue(ctx, rtHandKey{}, o.next)
}

func (o *rtWhObs) EndHandling(ctx context.Context, e *webhook.Event, ob webhook.Observation) {
	o.mu.Lock()
	defer o.mu.Unlock()
	id, _ := ctx.Value(rtHandKey{}).(int)
	if !o.open[id] {
		o.problems = append(o.problems, fmt.Sprintf("EndHandling of %s with a context StartHandling did not return (or twice)", e.ID))
	}
	delete(o.open, id)
	if ob.Outcome == webhook.OutcomeFailed && ob.Err == nil {
		o.problems = append(o.problems, "failed without Err")
	}
	o.obs = append(o.obs, ob)
	o.log = append(o.log, fmt.Sprintf("end:%s:%s", ob.Outcome, ob.EventID))
}

func (o *rtWhObs) take() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	l := o.log
	o.log = nil
	return l
}

func (o *rtWhObs) check(t *testing.T) {
	t.Helper()
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, p := range o.problems {
		t.Error(p)
	}
	if len(o.open) != 0 {
		t.Errorf("handlings never ended: %v", o.open)
	}
}

func rtEvent(id, name, text string) string {
	return fmt.Sprintf(`{"id":%q,"event":%q,"timestamp":1700000000000,"data":{"message":{"id":"5bb0277fd99faf11a3f4a3%02x","text":%q,"role":"contact","type":"chat","conversation":%q}}}`,
		id, name, len(id), text, convA)
}

func rtDeliver(h http.Handler, body, sig string) int {
	req := httptest.NewRequest("POST", "/hook", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if sig != "" {
		req.Header.Set(webhook.SignatureHeader, sig)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code
}

// webhook.Observer: "WebhookEvent is called for each decision about a
// delivery or event other than running its handlers"; "EndHandling is called
// once for every StartHandling, with the context it returned"; Outcome
// statuses 400/401/413. Each delivery, one after the other, with what the
// observer heard of it.
func TestRTObserverWebhookOutcomes(t *testing.T) {
	t.Parallel()
	o := &rtWhObs{open: map[int]bool{}}
	h, err := webhook.NewHandler(webhook.WithSecret(hookSecret), webhook.WithObserver(o), webhook.WithLogger(nil), webhook.WithMaxBody(4096))
	if err != nil {
		t.Fatal(err)
	}
	_ = h.Handle("message.create.contact.chat", func(ctx context.Context, e *webhook.Event) error {
		if ctx.Value(rtHandKey{}) == nil {
			t.Error("the handler did not get the context StartHandling returned")
		}
		switch msgText(e) {
		case "panic":
			panic("handler panic")
		case "fail":
			return errors.New("handler failed")
		}
		return nil
	})
	sign := func(b string) string { return webhook.Sign([]byte(b), hookSecret) }
	evA := rtEvent("aaaaaaaa-0000-0000-0000-000000000001", "message.create.contact.chat", "hello")
	evP := rtEvent("aaaaaaaa-0000-0000-0000-000000000002", "message.create.contact.chat", "panic")
	evF := rtEvent("aaaaaaaa-0000-0000-0000-000000000003", "message.create.contact.chat", "fail")
	evU := rtEvent("aaaaaaaa-0000-0000-0000-000000000004", "conversation.update", "none")
	big := rtEvent("aaaaaaaa-0000-0000-0000-000000000005", "message.create.contact.chat", strings.Repeat("x", 5000))
	idA, idP, idF, idU := "aaaaaaaa-0000-0000-0000-000000000001", "aaaaaaaa-0000-0000-0000-000000000002", "aaaaaaaa-0000-0000-0000-000000000003", "aaaaaaaa-0000-0000-0000-000000000004"
	steps := []struct {
		name       string
		body, sig  string
		wantStatus int
		want       []string
	}{
		{"handled", evA, sign(evA), 200, []string{"verified:0:" + idA, "start:" + idA, "end:handled:" + idA}},
		{"duplicate", evA, sign(evA), 200, []string{"verified:0:" + idA, "duplicate:0:" + idA}},
		{"panic", evP, sign(evP), 500, []string{"verified:0:" + idP, "start:" + idP, "end:failed:" + idP}},
		{"panic again (forgotten)", evP, sign(evP), 500, []string{"verified:0:" + idP, "start:" + idP, "end:failed:" + idP}},
		{"error", evF, sign(evF), 500, []string{"verified:0:" + idF, "start:" + idF, "end:failed:" + idF}},
		{"no handler matches", evU, sign(evU), 200, []string{"verified:0:" + idU, "start:" + idU, "end:handled:" + idU}},
		{"bad signature", evA, sign(evA + "x"), 401, []string{"refused:401:"}},
		{"no signature", evA, "", 401, []string{"refused:401:"}},
		{"malformed", `{"id":`, sign(`{"id":`), 400, []string{"refused:400:"}},
		{"too large", big, sign(big), 413, []string{"refused:413:"}},
	}
	for _, st := range steps {
		if code := rtDeliver(h, st.body, st.sig); code != st.wantStatus {
			t.Errorf("%s: answered %d, want %d", st.name, code, st.wantStatus)
		}
		if got := o.take(); strings.Join(got, " ") != strings.Join(st.want, " ") {
			t.Errorf("%s: observed %v, want %v", st.name, got, st.want)
		}
	}
	o.check(t)
	for _, ob := range o.obs {
		if (ob.Outcome == webhook.OutcomeHandled || ob.Outcome == webhook.OutcomeFailed) && ob.Duration <= 0 {
			t.Errorf("%s without a duration", ob.Outcome)
		}
		if ob.Outcome == webhook.OutcomeFailed {
			var pe *webhook.PanicError
			if ob.EventID == idP && !errors.As(ob.Err, &pe) {
				t.Errorf("a panic's Err is %v, want a *PanicError", ob.Err)
			}
		}
	}
}

// OutcomeInProgress: "another delivery of the same event is still being
// handled"; OutcomeUnavailable: answered 503 when "the queue was full, or the
// handler is shutting down". Synchronised on the handler itself, no timing.
func TestRTObserverWebhookInProgressAndUnavailable(t *testing.T) {
	t.Parallel()
	sign := func(b string) string { return webhook.Sign([]byte(b), hookSecret) }
	started, release := make(chan string, 8), make(chan struct{})
	block := func(ctx context.Context, e *webhook.Event) error {
		started <- e.ID
		<-release
		return nil
	}

	t.Run("in progress", func(t *testing.T) {
		o := &rtWhObs{open: map[int]bool{}}
		h, _ := webhook.NewHandler(webhook.WithSecret(hookSecret), webhook.WithObserver(o), webhook.WithLogger(nil))
		_ = h.Handle("**", block)
		ev := rtEvent("bbbbbbbb-0000-0000-0000-000000000001", "message.create.contact.chat", "slow")
		done := make(chan int)
		go func() { done <- rtDeliver(h, ev, sign(ev)) }()
		<-started
		if code := rtDeliver(h, ev, sign(ev)); code != 503 {
			t.Errorf("second delivery answered %d, want 503", code)
		}
		release <- struct{}{}
		if code := <-done; code != 200 {
			t.Errorf("first delivery answered %d", code)
		}
		got := strings.Join(o.take(), " ")
		id := "bbbbbbbb-0000-0000-0000-000000000001"
		want := "verified:0:" + id + " start:" + id + " verified:0:" + id + " in_progress:0:" + id + " end:handled:" + id
		if got != want {
			t.Errorf("observed %s\nwant     %s", got, want)
		}
		o.check(t)
	})

	t.Run("queue full and shutdown", func(t *testing.T) {
		o := &rtWhObs{open: map[int]bool{}}
		h, _ := webhook.NewHandler(webhook.WithSecret(hookSecret), webhook.WithObserver(o), webhook.WithLogger(nil), webhook.WithAsync(1, 1))
		_ = h.Handle("**", block)
		ev := func(i int) string {
			return rtEvent(fmt.Sprintf("cccccccc-0000-0000-0000-00000000000%d", i), "message.create.contact.chat", "q")
		}
		if code := rtDeliver(h, ev(1), sign(ev(1))); code != 200 {
			t.Fatalf("first: %d", code)
		}
		<-started // the worker holds event 1
		if code := rtDeliver(h, ev(2), sign(ev(2))); code != 200 {
			t.Fatalf("second (queued): %d", code)
		}
		if code := rtDeliver(h, ev(3), sign(ev(3))); code != 503 {
			t.Errorf("third (queue full): %d, want 503", code)
		}
		var unavailable []webhook.Observation
		o.mu.Lock()
		for _, ob := range o.obs {
			if ob.Outcome == webhook.OutcomeUnavailable {
				unavailable = append(unavailable, ob)
			}
		}
		o.mu.Unlock()
		if len(unavailable) != 1 || unavailable[0].Status != 503 || unavailable[0].EventID != "cccccccc-0000-0000-0000-000000000003" {
			t.Errorf("unavailable observations %+v", unavailable)
		}
		go func() {
			<-started
			release <- struct{}{}
		}()
		release <- struct{}{}
		if err := h.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if code := rtDeliver(h, ev(4), sign(ev(4))); code != 503 {
			t.Errorf("after shutdown: %d", code)
		}
		o.check(t)
		o.mu.Lock()
		defer o.mu.Unlock()
		ends := 0
		for _, ob := range o.obs {
			if ob.Outcome == webhook.OutcomeHandled {
				ends++
			}
		}
		if ends != 2 {
			t.Errorf("%d handled, want 2 (the queued event drained)", ends)
		}
		last := o.obs[len(o.obs)-1]
		if last.Outcome != webhook.OutcomeUnavailable || last.Status != 503 {
			t.Errorf("the delivery after shutdown was observed as %+v", last)
		}
	})
}

// Dispatch: "Dispatch answers nothing", so no Status; a duplicate, ErrInProgress
// and a handler error observed as through ServeHTTP.
func TestRTObserverWebhookDispatch(t *testing.T) {
	t.Parallel()
	o := &rtWhObs{open: map[int]bool{}}
	h, _ := webhook.NewHandler(webhook.WithObserver(o), webhook.WithLogger(nil))
	_ = h.Handle("**", func(ctx context.Context, e *webhook.Event) error {
		if msgText(e) == "fail" {
			return errors.New("nope")
		}
		return nil
	})
	parse := func(s string) *webhook.Event {
		e, err := webhook.ParseEvent([]byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return e
	}
	ok := parse(rtEvent("dddddddd-0000-0000-0000-000000000001", "message.create.contact.chat", "fine"))
	bad := parse(rtEvent("dddddddd-0000-0000-0000-000000000002", "message.create.contact.chat", "fail"))
	_ = h.Dispatch(context.Background(), ok)
	_ = h.Dispatch(context.Background(), ok)
	if err := h.Dispatch(context.Background(), bad); err == nil {
		t.Error("no error")
	}
	got := strings.Join(o.take(), " ")
	want := "start:dddddddd-0000-0000-0000-000000000001 end:handled:dddddddd-0000-0000-0000-000000000001 duplicate:0:dddddddd-0000-0000-0000-000000000001 start:dddddddd-0000-0000-0000-000000000002 end:failed:dddddddd-0000-0000-0000-000000000002"
	if got != want {
		t.Errorf("observed %s\nwant     %s", got, want)
	}
	o.check(t)
}

func msgText(e *webhook.Event) string {
	if e.Data.Message == nil {
		return ""
	}
	return e.Data.Message.Text
}

// "StartAttempt is called for each HTTP request the client sends: each
// attempt, and each hop of an attempt that follows a redirect"; AttemptInfo.Hop
// "the number of the request within an attempt that follows redirects"; URLs
// "never carry user info" and personal data is redacted, also in a redirect
// target the server chose.
func TestRTObserverRedirectHops(t *testing.T) {
	t.Parallel()
	const q = "?email=jane.doe%40example.org&phone=%2B31612345678&token=TOKSECRET123"
	target := newRTScript(t, rtStep{status: 200})
	cases := []struct{ name, loc string }{
		{"same host", "/v2/conversations/" + convA + q},
		{"other host with user info", strings.Replace(target.ts.URL, "http://", "http://rtuser:PWSECRET@", 1) + "/v2/conversations/" + convA + q},
	}
	for _, tc := range cases {
		first := newRTScript(t, rtStep{status: 302, hdr: map[string]string{"Location": tc.loc}, body: `{}`}, rtStep{status: 200})
		o := newRTObs()
		o.header = true
		c := rtClient(t, first.ts.URL+"/v2/", o)
		if _, _, err := c.Conversations.Get(context.Background(), convA, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		o.balanced(t)
		att := o.filter("start_attempt")
		if len(att) != 2 || att[0].ai.Hop != 1 || att[1].ai.Hop != 2 || att[1].ai.Attempt != 1 {
			t.Errorf("%s: hops:\n%s", tc.name, o.dump())
		}
		for _, a := range att {
			for _, bad := range []string{"jane", "612345678", "TOKSECRET", "PWSECRET", "rtuser"} {
				if strings.Contains(a.ai.URL, bad) {
					t.Errorf("%s: hop %d URL holds %q: %s", tc.name, a.ai.Hop, bad, a.ai.URL)
				}
			}
		}
		if tc.name == "same host" {
			attemptsMatchServer(t, o, first.requests())
		} else if len(first.requests()) != 1 {
			t.Errorf("%s: the first host got %d requests", tc.name, len(first.requests()))
		}
	}
	if n := len(target.requests()); n != 1 {
		t.Errorf("the other host got %d requests", n)
	} else if strings.HasPrefix(target.requests()[0].auth, "Bearer") {
		t.Errorf("the token crossed to another host")
	}
}

// Decision.ErrorKind: "a limiter wait that failed"; StartAttempt is called
// "after its wait for the rate limiter". A call whose deadline passes while it
// waits for a slot (a limit of 1 per second, the slot just taken): a
// limiter_wait decision with ErrorKind deadline_exceeded, no attempt, the
// call ends deadline_exceeded with 0 attempts.
func TestRTObserverLimiterWaitFails(t *testing.T) {
	t.Parallel()
	s := newRTScript(t)
	o := newRTObs()
	o.header = true
	c := rtClient(t, s.ts.URL+"/v2/", o, chatshipper.WithRateLimit(1), chatshipper.WithIPRateLimit(0))
	if _, _, err := c.Conversations.Get(context.Background(), convA, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	_, _, err := c.Conversations.Get(ctx, convA, nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
	o.balanced(t)
	attemptsMatchServer(t, o, s.requests())
	lw := o.decisions(chatshipper.DecisionLimiterWait)
	if len(lw) != 2 || lw[1].ErrorKind != "deadline_exceeded" || lw[0].ErrorKind != "" {
		t.Errorf("limiter waits %+v", lw)
	}
	ends := o.filter("end_call")
	if len(ends) != 2 || ends[1].cr.Outcome != chatshipper.OutcomeDeadlineExceeded || ends[1].cr.Attempts != 0 {
		t.Errorf("ends %v", ends)
	}
}

// The loop body of a walk panics (the caller recovers it further up): the
// walk's call must still end ("EndCall is called once for every StartCall
// ... when the call returns"), with every attempt ended, for a plain walk
// and for one with Concurrency and Prefetch.
func TestRTObserverWalkBodyPanics(t *testing.T) {
	t.Parallel()
	q := chatshipper.NewQuery().Where("conversation", chatshipper.Eq(convA)).Limit(2)
	for _, opts := range [][]chatshipper.WalkOption{nil, {chatshipper.Concurrency(3)}, {chatshipper.Prefetch(3)}} {
		h := walkHostile(t, 11, nil)
		o := newRTObs()
		c := h.client(t, chatshipper.WithObserver(o))
		func() {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			for _, err := range c.Messages.Walk(context.Background(), q, opts...).Items() {
				if err != nil {
					t.Fatal(err)
				}
				panic("the caller's loop body")
			}
		}()
		o.balanced(t)
		if n := len(o.filter("end_call")); n != 1 {
			t.Errorf("opts %d: %d EndCall after the panic\n%s", len(opts), n, o.dump())
		}
	}
}
