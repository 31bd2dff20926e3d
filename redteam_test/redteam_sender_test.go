package redteam_test

// Red-team tests of the BatchSender (TestRTSender*) and of change-safe
// concurrent walks (TestRTConcWalk*), written from the documentation only.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/chatshippertest"
)

// ---------------------------------------------------------------------------
// Helpers: the fake server in process, a sender, what was stored.

// rtsFake starts an in-process fake (usable inside a synctest bubble) with the
// limits off and returns a client for it.
func rtsFake(t *testing.T, srvOpts []chatshippertest.Option, cliOpts ...chatshipper.Option) (*chatshippertest.Server, *chatshipper.Client) {
	t.Helper()
	opts := append([]chatshippertest.Option{chatshippertest.WithRateLimit(0), chatshippertest.WithLoopLimits(0, 0, 0, 0)}, srvOpts...)
	srv := chatshippertest.NewInProcessServer(t, opts...)
	c, err := srv.NewClient(append([]chatshipper.Option{chatshipper.WithLoopGuard(false)}, cliOpts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func rtsNewConv(t *testing.T, c *chatshipper.Client) string {
	t.Helper()
	conv, _, err := c.Conversations.Create(context.Background(), &chatshipper.ConversationCreate{Name: "rt-sender"})
	if err != nil {
		t.Fatal(err)
	}
	return conv.ID
}

// rtsStored returns the texts stored in a conversation, in creation order.
func rtsStored(srv *chatshippertest.Server, conv string) []string {
	var out []string
	for _, m := range srv.List("messages") { // ordered by id = creation order
		if m["conversation"] == conv {
			if s, ok := m["text"].(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func rtsSender(t *testing.T, c *chatshipper.Client, opts ...chatshipper.BatchSenderOption) *chatshipper.BatchSender {
	t.Helper()
	s, err := c.Conversations.NewBatchSender(opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rtsCount(xs []string, x string) int {
	n := 0
	for _, y := range xs {
		if y == x {
			n++
		}
	}
	return n
}

// rtsCall is one Send/Queue call of a test and what it got.
type rtsCall struct {
	conv  string
	texts []string
	keys  []string // caller-set keys ("" = none)
	p     *chatshipper.PendingSend
	msgs  []*chatshipper.Message
	err   error
}

func (cl *rtsCall) inputs() []chatshipper.MessageInput {
	var in []chatshipper.MessageInput
	for i, tx := range cl.texts {
		m := chatshipper.Chat(tx)
		if cl.keys != nil && cl.keys[i] != "" {
			m = m.WithMeta(chatshipper.DeliveryKeyMeta, cl.keys[i])
		}
		in = append(in, m)
	}
	return in
}

// rtsCheckCalls checks the promise of the sender on finished calls against
// what the server stored: a call that succeeded has each of its messages
// stored exactly once and gets them back, in order; a call that failed with an
// unknown outcome has each stored at most once; any other failure stored none
// ("the messages it names were not stored"). Per conversation, the stored
// order follows the order of the calls (given per conversation, in the order
// they were queued by one goroutine).
func rtsCheckCalls(t *testing.T, stored map[string][]string, calls []*rtsCall) {
	t.Helper()
	for _, cl := range calls {
		st := stored[cl.conv]
		var du *chatshipper.DeliveryUnknownError
		switch {
		case cl.err == nil:
			if len(cl.msgs) != len(cl.texts) {
				t.Errorf("call %v: success with %d messages back, sent %d", cl.texts, len(cl.msgs), len(cl.texts))
			}
			for i, tx := range cl.texts {
				if n := rtsCount(st, tx); n != 1 {
					t.Errorf("call %v succeeded but %q is stored %d times", cl.texts, tx, n)
				}
				if i < len(cl.msgs) && (cl.msgs[i] == nil || cl.msgs[i].Text != tx) {
					t.Errorf("call %v: message %d back is %+v, want text %q (each call gets its own messages, in order)", cl.texts, i, cl.msgs[i], tx)
				}
			}
		case errors.As(cl.err, &du):
			for _, tx := range cl.texts {
				if n := rtsCount(st, tx); n > 1 {
					t.Errorf("call %v: unknown outcome (%v) but %q is stored %d times", cl.texts, cl.err, tx, n)
				}
			}
			for _, k := range du.Keys {
				if cl.keys != nil && !slices.Contains(cl.keys, k) {
					t.Errorf("call %v: DeliveryUnknownError names key %q that is not the call's own (%v)", cl.texts, k, cl.keys)
				}
			}
		default:
			for _, tx := range cl.texts {
				if n := rtsCount(st, tx); n != 0 {
					t.Errorf("call %v failed with %v but %q is stored %d times", cl.texts, cl.err, tx, n)
				}
			}
		}
	}
}

// rtsCheckOrder checks that, for each sequence of texts given in order (the
// calls of one goroutine to one conversation), the stored ones appear in that
// order, each at most once.
func rtsCheckOrder(t *testing.T, stored []string, seqs ...[]string) {
	t.Helper()
	pos := map[string]int{}
	for i, s := range stored {
		if _, dup := pos[s]; dup {
			t.Errorf("%q stored twice", s)
		}
		pos[s] = i
	}
	for _, seq := range seqs {
		last, lastText := -1, ""
		for _, s := range seq {
			p, ok := pos[s]
			if !ok {
				continue
			}
			if p < last {
				t.Errorf("%q stored before %q, sent after it", s, lastText)
			}
			last, lastText = p, s
		}
	}
}

// ---------------------------------------------------------------------------
// BatchSender against the fake with faults.

// Many goroutines queue calls (1-3 messages, some with caller keys) to four
// conversations while the server answers POSTs with 500 or 502 after
// storing, drops connections after storing, answers 503 or 429 (every form
// of Retry-After), 500 or 422 before storing, and fails some lookups. Promise: every
// message stored exactly once, in order, or reported to its caller; each
// caller gets its own messages.
func TestRTSenderFaultStorm(t *testing.T) {
	t.Parallel()
	for _, seed := range []int64{1, 2, 3} {
		for _, ra := range []string{"", "1", "date", "0"} {
			t.Run(fmt.Sprintf("seed%d/retry-after=%q", seed, ra), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv, c := rtsFake(t, []chatshippertest.Option{chatshippertest.WithSeed(seed)})
					convs := []string{rtsNewConv(t, c), rtsNewConv(t, c), rtsNewConv(t, c), rtsNewConv(t, c)}
					retryAfter := ra
					if ra == "date" {
						retryAfter = time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
					}
					post := "/v2/conversations/"
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Status: 500, After: true, Probability: 0.12})
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Status: 502, After: true, Probability: 0.1})
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Drop: chatshippertest.DropAfter, Probability: 0.12})
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Drop: chatshippertest.DropBefore, Probability: 0.05})
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Status: 503, Probability: 0.1})
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Status: 429, RetryAfter: retryAfter, Probability: 0.1})
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Status: 500, Probability: 0.04})
					srv.InjectFault(chatshippertest.Fault{Method: "POST", PathPrefix: post, Status: 422, Probability: 0.04})
					srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/messages", Status: 503, Probability: 0.15})
					s := rtsSender(t, c)
					var mu sync.Mutex
					var calls []*rtsCall
					seqs := map[string][][]string{}
					var wg sync.WaitGroup
					for g := range 6 {
						wg.Go(func() {
							r := rand.New(rand.NewPCG(uint64(seed), uint64(g)))
							var mine []*rtsCall
							perConv := map[string][]string{}
							for i := range 12 {
								cl := &rtsCall{conv: convs[r.IntN(len(convs))]}
								for j := range 1 + r.IntN(3) {
									tx := fmt.Sprintf("g%d-c%d-m%d", g, i, j)
									cl.texts = append(cl.texts, tx)
									key := ""
									if r.IntN(3) == 0 {
										key = fmt.Sprintf("key-g%d-c%d-m%d", g, i, j)
									}
									cl.keys = append(cl.keys, key)
								}
								perConv[cl.conv] = append(perConv[cl.conv], cl.texts...)
								if r.IntN(2) == 0 {
									cl.p = s.Queue(context.Background(), cl.conv, cl.inputs()...)
								} else {
									cl.msgs, cl.err = s.Send(context.Background(), cl.conv, cl.inputs()...)
								}
								mine = append(mine, cl)
							}
							for _, cl := range mine {
								if cl.p != nil {
									cl.msgs, cl.err = cl.p.Result()
								}
							}
							mu.Lock()
							calls = append(calls, mine...)
							for k, v := range perConv {
								seqs[k] = append(seqs[k], v)
							}
							mu.Unlock()
						})
					}
					wg.Wait()
					if err := s.Close(context.Background()); err != nil {
						t.Fatalf("Close: %v", err)
					}
					stored := map[string][]string{}
					for _, cv := range convs {
						stored[cv] = rtsStored(srv, cv)
						rtsCheckOrder(t, stored[cv], seqs[cv]...)
					}
					rtsCheckCalls(t, stored, calls)
					nerr := 0
					for _, cl := range calls {
						if cl.err != nil {
							nerr++
							t.Logf("call %v: %v", cl.texts, cl.err)
						}
					}
					st := map[int]int{}
					for _, r := range srv.Requests() {
						st[r.Status]++
					}
					t.Logf("%d calls, %d failed; statuses answered: %v", len(calls), nerr, st)
				})
			})
		}
	}
}

// ---------------------------------------------------------------------------
// A messages server of our own, in process (so synctest works), for what the
// fake does not do: storing part of a batch, answering in another order,
// limiting the batch size, holding a request.

type rtsMsg struct {
	ID           string         `json:"id"`
	Conversation string         `json:"conversation"`
	Type         string         `json:"type,omitempty"`
	Text         string         `json:"text"`
	Meta         map[string]any `json:"meta,omitempty"`
	CreatedAt    string         `json:"createdAt"`
}

// rtsAct says what the server does with one POST of messages.
type rtsAct struct {
	Before     int   // answer this status without storing anything
	Store      []int // indexes of the batch stored (nil: all)
	Status     int   // after storing, answer this status instead of 201
	RetryAfter string
	Drop       bool          // after storing, drop the connection
	Reverse    bool          // the answer lists the stored messages in reverse
	Answer     []int         // indexes (into Store order) answered (nil: all stored)
	Hold       chan struct{} // after storing, wait for it before answering
}

type rtsServer struct {
	mu         sync.Mutex
	seq        int
	msgs       []rtsMsg
	posts      [][]string // texts of each POST of messages
	lookups    int
	lookupFail int // status for GET /v2/messages (0 = answer)
	hook       func(n int, conv string, batch []rtsMsg) rtsAct
}

const rtsDrop = "X-Rts-Drop"

func (h *rtsServer) stored(conv string) []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, m := range h.msgs {
		if m.Conversation == conv {
			out = append(out, m.Text)
		}
	}
	return out
}

func (h *rtsServer) postLens() []int {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []int
	for _, p := range h.posts {
		out = append(out, len(p))
	}
	return out
}

func (h *rtsServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", time.Now().UTC().Format(http.TimeFormat))
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.Method == "POST" && strings.HasPrefix(r.URL.Path, "/v2/conversations/") && strings.HasSuffix(r.URL.Path, "/messages"):
		conv := strings.TrimSuffix(strings.TrimPrefix(r.URL.Path, "/v2/conversations/"), "/messages")
		var raw json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&raw); err != nil {
			w.WriteHeader(400)
			fmt.Fprint(w, `{"message":"bad json"}`)
			return
		}
		var batch []rtsMsg
		array := len(raw) > 0 && raw[0] == '['
		if array {
			_ = json.Unmarshal(raw, &batch)
		} else {
			var one rtsMsg
			_ = json.Unmarshal(raw, &one)
			batch = []rtsMsg{one}
		}
		h.mu.Lock()
		n := len(h.posts)
		var texts []string
		for _, m := range batch {
			texts = append(texts, m.Text)
		}
		h.posts = append(h.posts, texts)
		hook := h.hook
		h.mu.Unlock()
		var act rtsAct
		if hook != nil {
			act = hook(n, conv, batch)
		}
		if act.RetryAfter != "" {
			w.Header().Set("Retry-After", act.RetryAfter)
		}
		if act.Before != 0 {
			w.WriteHeader(act.Before)
			fmt.Fprintf(w, `{"message":"refused with %d"}`, act.Before)
			return
		}
		idx := act.Store
		if idx == nil {
			for i := range batch {
				idx = append(idx, i)
			}
		}
		h.mu.Lock()
		var out []rtsMsg
		for _, i := range idx {
			m := batch[i]
			h.seq++
			m.ID = fmt.Sprintf("6100000000000000%08x", h.seq)
			m.Conversation = conv
			if m.Type == "" {
				m.Type = "chat"
			}
			m.CreatedAt = time.Now().UTC().Format("2006-01-02T15:04:05.000Z")
			h.msgs = append(h.msgs, m)
			out = append(out, m)
		}
		h.mu.Unlock()
		if act.Hold != nil {
			<-act.Hold
		}
		if act.Drop {
			w.Header().Set(rtsDrop, "1")
			return
		}
		if act.Status != 0 {
			w.WriteHeader(act.Status)
			fmt.Fprintf(w, `{"message":"answered %d"}`, act.Status)
			return
		}
		if act.Answer != nil {
			var ans []rtsMsg
			for _, i := range act.Answer {
				ans = append(ans, out[i])
			}
			out = ans
		}
		if act.Reverse {
			slices.Reverse(out)
		}
		w.WriteHeader(201)
		if array {
			_ = json.NewEncoder(w).Encode(out)
		} else if len(out) > 0 {
			_ = json.NewEncoder(w).Encode(out[0])
		}
	case r.Method == "GET" && r.URL.Path == "/v2/messages":
		h.mu.Lock()
		h.lookups++
		fail := h.lookupFail
		h.mu.Unlock()
		if fail != 0 {
			w.WriteHeader(fail)
			fmt.Fprint(w, `{"message":"lookup down"}`)
			return
		}
		q := r.URL.Query()
		var keys []string
		if kv := q.Get("meta." + chatshipper.DeliveryKeyMeta); kv != "" {
			keys = strings.Split(strings.TrimSuffix(strings.TrimPrefix(kv, "["), "]"), ",")
		}
		h.mu.Lock()
		var sel []rtsMsg
		for _, m := range h.msgs {
			if c := q.Get("conversation"); c != "" && m.Conversation != c {
				continue
			}
			if keys != nil {
				k, _ := m.Meta[chatshipper.DeliveryKeyMeta].(string)
				if !slices.Contains(keys, k) {
					continue
				}
			}
			sel = append(sel, m)
		}
		h.mu.Unlock()
		off, _ := strconv.Atoi(q.Get("offset"))
		lim := 200
		if l := q.Get("limit"); l != "" {
			lim, _ = strconv.Atoi(l)
		}
		total := len(sel)
		off = min(off, total)
		end := min(off+lim, total)
		w.Header().Set("X-Total", strconv.Itoa(total))
		w.WriteHeader(200)
		_ = json.NewEncoder(w).Encode(sel[off:end])
	default:
		w.WriteHeader(404)
		fmt.Fprint(w, `{"message":"not found"}`)
	}
}

// rtsTransport serves requests in process and turns the drop marker into a
// connection reset.
type rtsTransport struct{ h http.Handler }

func (tr rtsTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if err := r.Context().Err(); err != nil {
		return nil, err
	}
	// The server goes on with the request when the client gives up, as a
	// real one does; the client returns at once.
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		tr.h.ServeHTTP(rec, r.WithContext(context.WithoutCancel(r.Context())))
	}()
	select {
	case <-done:
	case <-r.Context().Done():
		return nil, r.Context().Err()
	}
	if rec.Header().Get(rtsDrop) != "" {
		return nil, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	res := rec.Result()
	res.Request = r
	return res, nil
}

func rtsOwn(t *testing.T, h *rtsServer, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	base := []chatshipper.Option{
		chatshipper.WithBaseURL("http://127.0.0.1:9/v2/"),
		chatshipper.WithHTTPClient(&http.Client{Transport: rtsTransport{h}}),
		chatshipper.WithRateLimit(0),
		chatshipper.WithLoopGuard(false),
	}
	c, err := chatshipper.NewClient("tok-abcdefghijklmnop", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rtsQueueAll queues calls (in order, from one goroutine) and waits for them.
func rtsQueueAll(s *chatshipper.BatchSender, calls []*rtsCall) {
	for _, cl := range calls {
		cl.p = s.Queue(context.Background(), cl.conv, cl.inputs()...)
	}
	for _, cl := range calls {
		cl.msgs, cl.err = cl.p.Result()
	}
}

func rtsCalls(conv string, sizes ...int) []*rtsCall {
	var calls []*rtsCall
	for i, n := range sizes {
		cl := &rtsCall{conv: conv}
		for j := range n {
			cl.texts = append(cl.texts, fmt.Sprintf("c%d-m%d", i, j))
		}
		calls = append(calls, cl)
	}
	return calls
}

func rtsAllTexts(calls []*rtsCall) []string {
	var out []string
	for _, cl := range calls {
		out = append(out, cl.texts...)
	}
	return out
}

// rtsHeldBatch queues a first call that the server holds, then the calls
// under test (which so wait for their turn together and go in one request,
// the server's second POST), then lets the first go.
func rtsHeldBatch(t *testing.T, h *rtsServer, s *chatshipper.BatchSender, conv string, calls []*rtsCall, second func(batch []rtsMsg) rtsAct) {
	t.Helper()
	hold := make(chan struct{})
	h.mu.Lock()
	h.hook = func(n int, _ string, batch []rtsMsg) rtsAct {
		switch n {
		case 0:
			return rtsAct{Hold: hold}
		case 1:
			return second(batch)
		}
		return rtsAct{}
	}
	h.mu.Unlock()
	first := s.Queue(context.Background(), conv, chatshipper.Chat("first"))
	synctest.Wait()
	for _, cl := range calls {
		cl.p = s.Queue(context.Background(), cl.conv, cl.inputs()...)
	}
	synctest.Wait()
	close(hold)
	if _, err := first.Result(); err != nil {
		t.Fatalf("first call: %v", err)
	}
	for _, cl := range calls {
		cl.msgs, cl.err = cl.p.Result()
	}
}

// One batch of several calls meets a hostile answer. Promise: each message
// stored exactly once, in order, or reported to its caller; each call gets
// its own messages, in order, or its own error.
func TestRTSenderHostileBatch(t *testing.T) {
	t.Parallel()
	prefix := func(k int) []int {
		var idx []int
		for i := range k {
			idx = append(idx, i)
		}
		return idx
	}
	for _, tc := range []struct {
		name  string
		act   func(batch []rtsMsg) rtsAct
		order bool // the stored order must follow the calls
		allOK bool // every call must succeed
	}{
		{"stored-whole-then-dropped", func([]rtsMsg) rtsAct { return rtsAct{Drop: true} }, true, true},
		{"prefix3-then-dropped", func([]rtsMsg) rtsAct { return rtsAct{Store: prefix(3), Drop: true} }, true, true},
		{"prefix3-then-500", func([]rtsMsg) rtsAct { return rtsAct{Store: prefix(3), Status: 500} }, true, false},
		{"prefix3-then-502", func([]rtsMsg) rtsAct { return rtsAct{Store: prefix(3), Status: 502} }, true, true},
		{"prefix5-then-503", func([]rtsMsg) rtsAct { return rtsAct{Store: prefix(5), Status: 503} }, true, true},
		{"prefix1-then-504", func([]rtsMsg) rtsAct { return rtsAct{Store: prefix(1), Status: 504} }, true, true},
		{"nothing-then-dropped", func([]rtsMsg) rtsAct { return rtsAct{Store: []int{}, Drop: true} }, true, true},
		{"gap-then-dropped", func([]rtsMsg) rtsAct { return rtsAct{Store: []int{0, 2, 5}, Drop: true} }, false, true},
		{"answer-reversed", func([]rtsMsg) rtsAct { return rtsAct{Reverse: true} }, true, true},
		{"answer-lists-first-3-only", func([]rtsMsg) rtsAct { return rtsAct{Answer: prefix(3)} }, true, true},
		{"answer-empty-array", func([]rtsMsg) rtsAct { return rtsAct{Answer: []int{}} }, true, true},
		{"stores-prefix3-answers-201", func([]rtsMsg) rtsAct { return rtsAct{Store: prefix(3)} }, true, false},
		{"429-retry-after-2", func([]rtsMsg) rtsAct { return rtsAct{Before: 429, RetryAfter: "2"} }, true, true},
		{"429-retry-after-date", func([]rtsMsg) rtsAct {
			return rtsAct{Before: 429, RetryAfter: time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)}
		}, true, true},
		{"429-no-retry-after", func([]rtsMsg) rtsAct { return rtsAct{Before: 429} }, true, true},
		{"429-retry-after-3600", func([]rtsMsg) rtsAct { return rtsAct{Before: 429, RetryAfter: "3600"} }, true, false},
		{"503-before", func([]rtsMsg) rtsAct { return rtsAct{Before: 503} }, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &rtsServer{}
				c := rtsOwn(t, h)
				s := rtsSender(t, c)
				calls := rtsCalls(convA, 2, 3, 1, 2)
				rtsHeldBatch(t, h, s, convA, calls, tc.act)
				if err := s.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				stored := h.stored(convA)
				if l := h.postLens(); len(l) < 2 || l[1] != 8 {
					t.Fatalf("the calls did not go in one batch: POST lengths %v", l)
				}
				rtsCheckCalls(t, map[string][]string{convA: stored}, calls)
				if tc.order {
					rtsCheckOrder(t, stored, append([]string{"first"}, rtsAllTexts(calls)...))
				} else {
					rtsCheckOrder(t, stored)
				}
				for _, cl := range calls {
					if tc.allOK && cl.err != nil {
						t.Errorf("call %v: %v", cl.texts, cl.err)
					}
					if cl.err != nil {
						t.Logf("call %v: %d messages back with error %v", cl.texts, len(cl.msgs), cl.err)
					}
				}
				t.Logf("stored %v; POST lengths %v", stored, h.postLens())
			})
		})
	}
}

// A server that refuses (413, without storing) any batch longer than 3
// messages, or refuses (422) a batch holding a message it does not take.
// Promise: "a batch refused whole with 400, 413 or 422 is sent again one call
// per request ... and a refusal reaches only the call it is about".
func TestRTSenderRefusedBatchSplit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		act    func(batch []rtsMsg) rtsAct
		sizes  []int
		failAt int // index of the call that must fail (-1: none)
	}{
		{"413-over-3", func(b []rtsMsg) rtsAct {
			if len(b) > 3 {
				return rtsAct{Before: 413}
			}
			return rtsAct{}
		}, []int{2, 3, 1, 2}, -1},
		{"413-over-3-one-call-of-4", func(b []rtsMsg) rtsAct {
			if len(b) > 3 {
				return rtsAct{Before: 413}
			}
			return rtsAct{}
		}, []int{2, 4, 1, 2}, 1},
		{"400-over-3", func(b []rtsMsg) rtsAct {
			if len(b) > 3 {
				return rtsAct{Before: 400}
			}
			return rtsAct{}
		}, []int{1, 1, 1, 1, 1, 1}, -1},
		{"422-for-one-message", func(b []rtsMsg) rtsAct {
			for _, m := range b {
				if m.Text == "c2-m0" {
					return rtsAct{Before: 422}
				}
			}
			return rtsAct{}
		}, []int{2, 3, 1, 2}, 2},
		{"422-after-storing-the-prefix", func(b []rtsMsg) rtsAct {
			for i, m := range b {
				if m.Text == "c2-m0" {
					return rtsAct{Store: rtsPrefix(i), Status: 422}
				}
			}
			return rtsAct{}
		}, []int{2, 3, 1, 2}, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &rtsServer{}
				c := rtsOwn(t, h)
				s := rtsSender(t, c)
				calls := rtsCalls(convA, tc.sizes...)
				for _, cl := range calls {
					for j := range cl.texts {
						cl.keys = append(cl.keys, fmt.Sprintf("key-%s-%d", strings.ReplaceAll(cl.texts[0], "-", ""), j))
					}
				}
				rtsHeldBatch(t, h, s, convA, calls, func(b []rtsMsg) rtsAct {
					a := tc.act(b)
					h.mu.Lock() // called with h.mu free
					h.hook = func(_ int, _ string, b []rtsMsg) rtsAct { return tc.act(b) }
					h.mu.Unlock()
					return a
				})
				if err := s.Close(context.Background()); err != nil {
					t.Fatalf("Close: %v", err)
				}
				stored := h.stored(convA)
				rtsCheckCalls(t, map[string][]string{convA: stored}, calls)
				rtsCheckOrder(t, stored, append([]string{"first"}, rtsAllTexts(calls)...))
				for i, cl := range calls {
					var er *chatshipper.ErrorResponse
					switch {
					case i == tc.failAt && cl.err == nil:
						t.Errorf("call %v: no error, the server refuses it", cl.texts)
					case i == tc.failAt && !errors.As(cl.err, &er):
						t.Errorf("call %v: %v, want the server's refusal", cl.texts, cl.err)
					case i != tc.failAt && cl.err != nil:
						t.Errorf("call %v: %v (the refusal is about another call)", cl.texts, cl.err)
					}
				}
				t.Logf("stored %v; POST lengths %v", stored, h.postLens())
			})
		})
	}
}

func rtsPrefix(k int) []int {
	idx := []int{}
	for i := range k {
		idx = append(idx, i)
	}
	return idx
}

// The batch's answer is lost and the lookup cannot be answered. Promise:
// "each call whose messages are in doubt gets a *DeliveryUnknownError naming
// only its own keys", and nothing is sent again.
func TestRTSenderLookupFailsEachCallOwnKeys(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		calls := rtsCalls(convA, 2, 3, 1)
		for i, cl := range calls {
			for j := range cl.texts {
				cl.keys = append(cl.keys, fmt.Sprintf("key-c%d-m%d", i, j))
			}
		}
		// A call without caller keys too: its random keys must be its own.
		calls = append(calls, &rtsCall{conv: convA, texts: []string{"c3-m0", "c3-m1"}})
		rtsHeldBatch(t, h, s, convA, calls, func([]rtsMsg) rtsAct {
			h.mu.Lock()
			h.lookupFail = 503
			h.mu.Unlock()
			return rtsAct{Store: rtsPrefix(3), Drop: true}
		})
		if err := s.Close(context.Background()); err != nil {
			t.Fatalf("Close: %v", err)
		}
		seen := map[string]bool{}
		for _, cl := range calls {
			var du *chatshipper.DeliveryUnknownError
			if !errors.As(cl.err, &du) {
				t.Errorf("call %v: %v, want *DeliveryUnknownError", cl.texts, cl.err)
				continue
			}
			if du.ConversationID != convA {
				t.Errorf("call %v: ConversationID %q", cl.texts, du.ConversationID)
			}
			if cl.keys != nil && !slices.Equal(du.Keys, cl.keys) {
				t.Errorf("call %v: Keys %v, want its own %v", cl.texts, du.Keys, cl.keys)
			}
			if len(du.Keys) != len(cl.texts) {
				t.Errorf("call %v: %d keys for %d messages", cl.texts, len(du.Keys), len(cl.texts))
			}
			for _, k := range du.Keys {
				if seen[k] {
					t.Errorf("key %q named by two calls", k)
				}
				seen[k] = true
			}
		}
		if l := h.postLens(); len(l) != 2 {
			t.Errorf("POSTs %v: something was sent again although the lookup failed", l)
		}
		// Resolve settles each call later.
		h.mu.Lock()
		h.lookupFail = 0
		h.mu.Unlock()
		var du *chatshipper.DeliveryUnknownError
		if errors.As(calls[0].err, &du) {
			got, _, err := c.Messages.Resolve(context.Background(), du.ConversationID, du.Keys...)
			if err != nil || len(got) != 2 || got[0] == nil || got[1] == nil {
				t.Errorf("Resolve of the first call: %v, %v (both were stored)", got, err)
			}
		}
	})
}

func (h *rtsServer) setHook(f func(n int, conv string, batch []rtsMsg) rtsAct) {
	h.mu.Lock()
	h.hook = f
	h.mu.Unlock()
}

func (h *rtsServer) allPosted() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []string
	for _, p := range h.posts {
		out = append(out, p...)
	}
	return out
}

func rtsDone(p *chatshipper.PendingSend) bool {
	select {
	case <-p.Done():
		return true
	default:
		return false
	}
}

// A caller whose context ends while its messages wait in the queue gets the
// context's error, and none of its messages is sent; the calls around it in
// the same batch are not affected.
func TestRTSenderCancelWhileQueued(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		hold := make(chan struct{})
		h.setHook(func(n int, _ string, _ []rtsMsg) rtsAct {
			if n == 0 {
				return rtsAct{Hold: hold}
			}
			return rtsAct{}
		})
		first := s.Queue(context.Background(), convA, chatshipper.Chat("first"))
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		before := s.Queue(context.Background(), convA, chatshipper.Chat("before"))
		gone := s.Queue(ctx, convA, chatshipper.Chat("gone-1"), chatshipper.Chat("gone-2"))
		after := s.Queue(context.Background(), convA, chatshipper.Chat("after"))
		synctest.Wait()
		cancel()
		synctest.Wait()
		if !rtsDone(gone) {
			t.Errorf("the cancelled call is not done while the conversation's request is held")
		}
		close(hold)
		for _, p := range []*chatshipper.PendingSend{first, before, after} {
			if _, err := p.Result(); err != nil {
				t.Errorf("a call beside the cancelled one failed: %v", err)
			}
		}
		_, err := gone.Result()
		if !errors.Is(err, context.Canceled) {
			t.Errorf("cancelled call: %v, want context.Canceled", err)
		}
		if errors.Is(err, chatshipper.ErrDeliveryUnknown) {
			t.Errorf("cancelled call while queued: %v; nothing was sent, the outcome is known", err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if p := h.allPosted(); slices.Contains(p, "gone-1") || slices.Contains(p, "gone-2") {
			t.Errorf("the cancelled call's messages were sent: %v", p)
		}
		rtsCheckOrder(t, h.stored(convA), []string{"first", "before", "after"})
		if st := h.stored(convA); len(st) != 3 {
			t.Errorf("stored %v", st)
		}
	})
}

// A caller whose context ends once its request is out returns at once a
// *DeliveryUnknownError with its keys and the context's error; the request
// goes on for the others, and after Flush, Resolve tells what was stored.
func TestRTSenderCancelWhileInFlight(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		hold0, hold1 := make(chan struct{}), make(chan struct{})
		h.setHook(func(n int, _ string, _ []rtsMsg) rtsAct {
			switch n {
			case 0:
				return rtsAct{Hold: hold0}
			case 1:
				return rtsAct{Hold: hold1}
			}
			return rtsAct{}
		})
		first := s.Queue(context.Background(), convA, chatshipper.Chat("first"))
		synctest.Wait()
		ctx, cancel := context.WithCancel(context.Background())
		other := s.Queue(context.Background(), convA, chatshipper.Chat("other"))
		mine := s.Queue(ctx, convA, chatshipper.Chat("mine-1").WithMeta(chatshipper.DeliveryKeyMeta, "mine-key-1"), chatshipper.Chat("mine-2"))
		synctest.Wait()
		close(hold0) // the batch (other, mine) goes out and is held
		synctest.Wait()
		if l := h.postLens(); len(l) != 2 || l[1] != 3 {
			t.Fatalf("POST lengths %v, want the batch of 3 out", l)
		}
		cancel()
		synctest.Wait()
		if !rtsDone(mine) {
			t.Fatalf("the cancelled caller does not return at once while its request is out")
		}
		_, err := mine.Result()
		var du *chatshipper.DeliveryUnknownError
		if !errors.As(err, &du) {
			t.Fatalf("cancelled in flight: %v, want *DeliveryUnknownError", err)
		}
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%v: errors.Is(context.Canceled) does not hold", err)
		}
		if du.ConversationID != convA || len(du.Keys) != 2 || du.Keys[0] != "mine-key-1" {
			t.Errorf("DeliveryUnknownError %+v, want the call's own 2 keys, first mine-key-1", du)
		}
		if rtsDone(other) {
			t.Errorf("the other caller of the batch returned before its request ended")
		}
		close(hold1)
		if _, err := other.Result(); err != nil {
			t.Errorf("the other caller of the batch: %v", err)
		}
		if _, err := first.Result(); err != nil {
			t.Errorf("first: %v", err)
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Fatal(err)
		}
		got, _, err := c.Messages.Resolve(context.Background(), du.ConversationID, du.Keys...)
		if err != nil || len(got) != 2 || got[0] == nil || got[1] == nil {
			t.Errorf("Resolve after Flush: %v %v, want both stored (the request went on)", got, err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := h.stored(convA); !slices.Equal(st, []string{"first", "other", "mine-1", "mine-2"}) {
			t.Errorf("stored %v", st)
		}
	})
}

// Close sends what is queued and waits; then every send is refused with
// ErrSenderClosed without I/O; Close may be called again.
func TestRTSenderCloseSendsQueuedThenRefuses(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		hold := make(chan struct{})
		h.setHook(func(n int, _ string, _ []rtsMsg) rtsAct {
			if n == 0 {
				return rtsAct{Hold: hold}
			}
			return rtsAct{}
		})
		first := s.Queue(context.Background(), convA, chatshipper.Chat("first"))
		synctest.Wait()
		calls := rtsCalls(convA, 1, 2, 3)
		calls = append(calls, rtsCalls(convB, 2)...)
		for _, cl := range calls {
			cl.p = s.Queue(context.Background(), cl.conv, cl.inputs()...)
		}
		closed := make(chan error, 1)
		go func() { closed <- s.Close(context.Background()) }()
		synctest.Wait()
		select {
		case err := <-closed:
			t.Fatalf("Close returned (%v) while a request is held and calls are queued", err)
		default:
		}
		// Sends after Close started are refused.
		if _, err := s.Send(context.Background(), convA, chatshipper.Chat("late")); !errors.Is(err, chatshipper.ErrSenderClosed) {
			t.Errorf("Send during Close: %v, want ErrSenderClosed", err)
		}
		close(hold)
		if err := <-closed; err != nil {
			t.Errorf("Close: %v", err)
		}
		if _, err := first.Result(); err != nil {
			t.Errorf("first: %v", err)
		}
		for _, cl := range calls {
			if !rtsDone(cl.p) {
				t.Errorf("call %v not done after Close returned", cl.texts)
				continue
			}
			cl.msgs, cl.err = cl.p.Result()
			if cl.err != nil {
				t.Errorf("queued call %v: %v (Close sends what is queued)", cl.texts, cl.err)
			}
		}
		rtsCheckCalls(t, map[string][]string{convA: h.stored(convA), convB: h.stored(convB)}, calls)
		n := len(h.postLens())
		if _, err := s.Send(context.Background(), convA, chatshipper.Chat("after")); !errors.Is(err, chatshipper.ErrSenderClosed) {
			t.Errorf("Send after Close: %v", err)
		}
		if _, err := s.Queue(context.Background(), convA, chatshipper.Chat("after")).Result(); !errors.Is(err, chatshipper.ErrSenderClosed) {
			t.Errorf("Queue after Close: %v", err)
		}
		if _, err := s.Create(context.Background(), &chatshipper.ConversationCreate{Name: "after"}); !errors.Is(err, chatshipper.ErrSenderClosed) {
			t.Errorf("Create after Close: %v", err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if err := s.Flush(context.Background()); err != nil {
			t.Errorf("Flush after Close: %v", err)
		}
		if len(h.postLens()) != n {
			t.Errorf("a send after Close reached the server")
		}
	})
}

// Close whose context ends first: the sends still queued are not sent (their
// error matches ErrSenderClosed), the request in flight is cancelled, its
// caller learns what is known, and Close returns the context's error.
func TestRTSenderCloseContextEnds(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		hold := make(chan struct{})
		defer close(hold)
		h.setHook(func(n int, _ string, _ []rtsMsg) rtsAct {
			if n == 0 {
				return rtsAct{Hold: hold}
			}
			return rtsAct{}
		})
		first := s.Queue(context.Background(), convA, chatshipper.Chat("first"))
		synctest.Wait()
		q1 := s.Queue(context.Background(), convA, chatshipper.Chat("q1"))
		q2 := s.Queue(context.Background(), convA, chatshipper.Chat("q2"))
		synctest.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := s.Close(ctx)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Close: %v, want its context's error", err)
		}
		for _, p := range []*chatshipper.PendingSend{q1, q2} {
			if !rtsDone(p) {
				t.Errorf("a queued call is not done after Close returned")
				continue
			}
			if _, err := p.Result(); !errors.Is(err, chatshipper.ErrSenderClosed) {
				t.Errorf("queued call: %v, want ErrSenderClosed", err)
			}
		}
		if !rtsDone(first) {
			t.Fatalf("the call in flight is not done after Close returned")
		}
		if _, err := first.Result(); !errors.Is(err, chatshipper.ErrDeliveryUnknown) {
			t.Errorf("call in flight (stored, answer held): %v, want *DeliveryUnknownError", err)
		}
		if p := h.allPosted(); slices.Contains(p, "q1") || slices.Contains(p, "q2") {
			t.Errorf("queued calls were sent: %v", p)
		}
	})
}

// Sends racing Close: each either succeeds (stored once) or gets
// ErrSenderClosed (stored never); nothing else, and nothing hangs.
func TestRTSenderConcurrentSendAndClose(t *testing.T) {
	t.Parallel()
	for round := range 5 {
		t.Run(fmt.Sprint(round), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &rtsServer{}
				c := rtsOwn(t, h)
				s := rtsSender(t, c)
				var mu sync.Mutex
				var calls []*rtsCall
				var wg sync.WaitGroup
				for g := range 8 {
					wg.Go(func() {
						for i := range 6 {
							cl := &rtsCall{conv: []string{convA, convB}[g%2], texts: []string{fmt.Sprintf("g%d-%d", g, i)}}
							if i%2 == 0 {
								cl.msgs, cl.err = s.Send(context.Background(), cl.conv, cl.inputs()...)
							} else {
								cl.msgs, cl.err = s.Queue(context.Background(), cl.conv, cl.inputs()...).Result()
							}
							mu.Lock()
							calls = append(calls, cl)
							mu.Unlock()
							if round%2 == 0 {
								time.Sleep(time.Millisecond)
							}
						}
					})
				}
				wg.Go(func() {
					time.Sleep(time.Duration(round) * time.Millisecond)
					if err := s.Close(context.Background()); err != nil {
						t.Errorf("Close: %v", err)
					}
				})
				wg.Wait()
				stored := map[string][]string{convA: h.stored(convA), convB: h.stored(convB)}
				for _, cl := range calls {
					if cl.err != nil && !errors.Is(cl.err, chatshipper.ErrSenderClosed) {
						t.Errorf("call %v: %v, want success or ErrSenderClosed", cl.texts, cl.err)
					}
				}
				rtsCheckCalls(t, stored, calls)
			})
		})
	}
}

// A sender that is never closed holds nothing once its queues are empty: the
// synctest bubble ends only when no goroutine of it is left.
func TestRTSenderNeverClosedHoldsNothing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		for i := range 5 {
			if _, err := s.Send(context.Background(), convA, chatshipper.Chat(fmt.Sprint("m", i))); err != nil {
				t.Fatal(err)
			}
		}
		p := s.Queue(context.Background(), convB, chatshipper.Chat("q"))
		if _, err := p.Result(); err != nil {
			t.Fatal(err)
		}
	})
}

// MaxBatch takes 1 to 200; anything else is refused (ErrInvalidArgument, as
// for every argument refused before I/O).
func TestRTSenderMaxBatchRange(t *testing.T) {
	t.Parallel()
	c := rtsOwn(t, &rtsServer{})
	for _, n := range []int{0, -1, 201, 1 << 40, int(^uint(0) >> 1), -int(^uint(0)>>1) - 1} {
		s, err := c.Conversations.NewBatchSender(chatshipper.MaxBatch(n))
		if err == nil {
			t.Errorf("MaxBatch(%d) accepted", n)
			_ = s.Close(context.Background())
			continue
		}
		if !errors.Is(err, chatshipper.ErrInvalidArgument) {
			t.Errorf("MaxBatch(%d): %v, want ErrInvalidArgument", n, err)
		}
	}
	for _, n := range []int{1, 200} {
		s, err := c.Conversations.NewBatchSender(chatshipper.MaxBatch(n))
		if err != nil {
			t.Errorf("MaxBatch(%d): %v", n, err)
			continue
		}
		_ = s.Close(context.Background())
	}
}

// MaxBatch bounds every request and every call; a call's messages always go
// together in one request.
func TestRTSenderMaxBatchBounds(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		max   int // 0: default
		sizes []int
	}{
		{1, []int{1, 1, 1, 1, 1}},
		{3, []int{1, 1, 1, 1, 2, 2, 3, 1, 3}},
		{0, []int{50, 1, 49, 1, 25, 25}},
		{200, []int{200, 100, 100, 1}},
	} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &rtsServer{}
				c := rtsOwn(t, h)
				var opts []chatshipper.BatchSenderOption
				limit := chatshipper.DefaultMaxBatch
				if tc.max > 0 {
					opts = append(opts, chatshipper.MaxBatch(tc.max))
					limit = tc.max
				}
				s := rtsSender(t, c, opts...)
				calls := rtsCalls(convA, tc.sizes...)
				rtsHeldBatch(t, h, s, convA, calls, func([]rtsMsg) rtsAct { return rtsAct{} })
				// One more than the limit in one call is refused before I/O.
				n := len(h.postLens())
				var big []chatshipper.MessageInput
				for i := range limit + 1 {
					big = append(big, chatshipper.Chat(fmt.Sprint("big", i)))
				}
				if _, err := s.Send(context.Background(), convA, big...); !errors.Is(err, chatshipper.ErrInvalidArgument) {
					t.Errorf("Send of %d messages with MaxBatch %d: %v, want ErrInvalidArgument", limit+1, limit, err)
				}
				if _, err := s.Queue(context.Background(), convA, big...).Result(); !errors.Is(err, chatshipper.ErrInvalidArgument) {
					t.Errorf("Queue of %d messages with MaxBatch %d: %v, want ErrInvalidArgument", limit+1, limit, err)
				}
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				if len(h.postLens()) != n {
					t.Errorf("an oversized call reached the server")
				}
				for _, cl := range calls {
					if cl.err != nil {
						t.Errorf("call of %d: %v", len(cl.texts), cl.err)
					}
				}
				h.mu.Lock()
				posts := slices.Clone(h.posts)
				h.mu.Unlock()
				for _, p := range posts {
					if len(p) > limit {
						t.Errorf("a request of %d messages, MaxBatch %d", len(p), limit)
					}
				}
				// Each call's messages in one request.
				where := map[string]int{}
				for i, p := range posts {
					for _, tx := range p {
						where[tx] = i
					}
				}
				for _, cl := range calls {
					for _, tx := range cl.texts {
						if where[tx] != where[cl.texts[0]] {
							t.Errorf("call %v split over requests", cl.texts[:1])
						}
					}
				}
				rtsCheckOrder(t, h.stored(convA), append([]string{"first"}, rtsAllTexts(calls)...))
				if len(posts) > 2 && tc.max != 1 {
					t.Logf("POST lengths %v", h.postLens())
				}
			})
		})
	}
}

// rtsBadJSON is a meta value that cannot be encoded.
type rtsBadJSON struct{}

func (rtsBadJSON) MarshalJSON() ([]byte, error) { return nil, errors.New("cannot encode") }

// Invalid input fails before any I/O, without failing the rest of the batch
// ("The messages are checked as ConversationsService.Send checks them before
// anything is queued").
func TestRTSenderInvalidInputBeforeIO(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("k", 129)
	for _, tc := range []struct {
		name string
		conv string
		msgs []chatshipper.MessageInput
	}{
		{"bad-conversation-id", "not-an-id", []chatshipper.MessageInput{chatshipper.Chat("x")}},
		{"empty-conversation-id", "", []chatshipper.MessageInput{chatshipper.Chat("x")}},
		{"invalid-assign", convA, []chatshipper.MessageInput{chatshipper.Chat("ok"), chatshipper.Assign("bad-id")}},
		{"key-true", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta(chatshipper.DeliveryKeyMeta, "true")}},
		{"key-number", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta(chatshipper.DeliveryKeyMeta, "1e5")}},
		{"key-too-long", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta(chatshipper.DeliveryKeyMeta, long)}},
		{"key-not-string", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta(chatshipper.DeliveryKeyMeta, 42)}},
		{"key-empty", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta(chatshipper.DeliveryKeyMeta, "")}},
		{"key-space", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta(chatshipper.DeliveryKeyMeta, "a b")}},
		{"meta-unencodable", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta("f", func() {})}},
		{"meta-nan", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta("f", math.NaN())}},
		{"meta-marshaler-fails", convA, []chatshipper.MessageInput{chatshipper.Chat("x").WithMeta("f", rtsBadJSON{})}},
		{"zero-value-input", convA, []chatshipper.MessageInput{{}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &rtsServer{}
				c := rtsOwn(t, h)
				s := rtsSender(t, c)
				calls := rtsCalls(convA, 1, 2)
				hold := make(chan struct{})
				h.setHook(func(n int, _ string, _ []rtsMsg) rtsAct {
					if n == 0 {
						return rtsAct{Hold: hold}
					}
					return rtsAct{}
				})
				first := s.Queue(context.Background(), convA, chatshipper.Chat("first"))
				synctest.Wait()
				calls[0].p = s.Queue(context.Background(), convA, calls[0].inputs()...)
				bad := s.Queue(context.Background(), tc.conv, tc.msgs...)
				calls[1].p = s.Queue(context.Background(), convA, calls[1].inputs()...)
				synctest.Wait()
				if !rtsDone(bad) {
					t.Errorf("the invalid call is not done before any I/O (it was queued)")
				}
				close(hold)
				_, berr := bad.Result()
				_, serr := s.Send(context.Background(), tc.conv, tc.msgs...)
				if _, err := first.Result(); err != nil {
					t.Fatal(err)
				}
				for _, cl := range calls {
					cl.msgs, cl.err = cl.p.Result()
				}
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				for _, err := range []error{berr, serr} {
					if !errors.Is(err, chatshipper.ErrInvalidArgument) {
						t.Errorf("invalid call: %v, want ErrInvalidArgument", err)
					}
				}
				for _, cl := range calls {
					if cl.err != nil {
						t.Errorf("valid call %v beside the invalid one: %v", cl.texts, cl.err)
					}
				}
				if st := h.stored(convA); !slices.Equal(st, []string{"first", "c0-m0", "c1-m0", "c1-m1"}) {
					t.Errorf("stored %v", st)
				}
			})
		})
	}
}

// Caller-set keys through the sender: a key already stored is returned and
// not sent again; two calls with the same key in one batch store it once; a
// key used in another conversation does not count.
func TestRTSenderCallerKeys(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		k := func(tx, key string) chatshipper.MessageInput {
			return chatshipper.Chat(tx).WithMeta(chatshipper.DeliveryKeyMeta, key)
		}
		old, err := s.Send(context.Background(), convA, k("old", "key-old"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Send(context.Background(), convB, k("elsewhere", "key-b")); err != nil {
			t.Fatal(err)
		}
		hold := make(chan struct{})
		h.setHook(func(n int, _ string, _ []rtsMsg) rtsAct {
			if n == 2 {
				return rtsAct{Hold: hold}
			}
			return rtsAct{}
		})
		first := s.Queue(context.Background(), convA, chatshipper.Chat("first"))
		synctest.Wait()
		again := s.Queue(context.Background(), convA, k("old-again", "key-old"))
		dup1 := s.Queue(context.Background(), convA, k("dup", "key-dup"), chatshipper.Chat("dup-plain"))
		dup2 := s.Queue(context.Background(), convA, k("dup", "key-dup"))
		inB := s.Queue(context.Background(), convA, k("b-key-here", "key-b"))
		plain := s.Queue(context.Background(), convA, chatshipper.Chat("plain"))
		synctest.Wait()
		close(hold)
		if _, err := first.Result(); err != nil {
			t.Fatal(err)
		}
		res := map[string][]*chatshipper.Message{}
		for name, p := range map[string]*chatshipper.PendingSend{"again": again, "dup1": dup1, "dup2": dup2, "inB": inB, "plain": plain} {
			msgs, err := p.Result()
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			res[name] = msgs
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := h.stored(convA)
		if want := []string{"old", "first", "dup", "dup-plain", "b-key-here", "plain"}; !slices.Equal(st, want) {
			t.Errorf("stored %v, want %v", st, want)
		}
		if m := res["again"]; len(m) != 1 || m[0] == nil || m[0].ID != old[0].ID || m[0].Text != "old" {
			t.Errorf("a key already stored: got %+v, want the stored message %s", m, old[0].ID)
		}
		if a, b := res["dup1"], res["dup2"]; len(a) != 2 || len(b) != 1 || a[0] == nil || b[0] == nil || a[0].ID != b[0].ID {
			t.Errorf("two calls with one key: %+v and %+v, want the same stored message", a, b)
		}
		if p := h.allPosted(); rtsCount(p, "old-again") != 0 {
			t.Errorf("a message whose key was stored was sent again: %v", p)
		}
	})
}

// One call holding the same caller key twice: the key must be unique within
// the conversation, so the call is refused before I/O or the key stored once.
func TestRTSenderCallerKeyTwiceInOneCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c)
		in := []chatshipper.MessageInput{
			chatshipper.Chat("one").WithMeta(chatshipper.DeliveryKeyMeta, "same-key"),
			chatshipper.Chat("two").WithMeta(chatshipper.DeliveryKeyMeta, "same-key"),
		}
		_, err := s.Send(context.Background(), convA, in...)
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		st := h.stored(convA)
		if err == nil && len(st) != 1 {
			t.Errorf("no error, and %v stored under one key (unique within the conversation)", st)
		}
		if err != nil && len(st) != 0 {
			t.Errorf("error %v, and %v stored", err, st)
		}
		t.Logf("err %v; stored %v", err, st)
	})
}

// Create through the sender: one request, exactly once under lost answers;
// bad input refused before I/O.
func TestRTSenderCreate(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault *chatshippertest.Fault
	}{
		{"clean", nil},
		{"drop-after", &chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations", Drop: chatshippertest.DropAfter, Count: 1}},
		{"502-after", &chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations", Status: 502, After: true, Count: 1}},
		{"500-after", &chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations", Status: 500, After: true, Count: 1}},
		{"503-before", &chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations", Status: 503, Count: 1}},
		{"429-date", &chatshippertest.Fault{Method: "POST", PathPrefix: "/v2/conversations", Status: 429, Count: 1, RetryAfter: "Thu, 01 Jan 2099 00:00:00 GMT"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv, c := rtsFake(t, nil)
				s := rtsSender(t, c)
				before := len(srv.List("conversations"))
				if tc.fault != nil {
					srv.InjectFault(*tc.fault)
				}
				conv, err := s.Create(context.Background(), &chatshipper.ConversationCreate{
					Name:     "created-" + tc.name,
					Messages: []chatshipper.MessageInput{chatshipper.Chat("init-1"), chatshipper.Chat("init-2")},
				})
				n := 0
				for _, cv := range srv.List("conversations") {
					if cv["name"] == "created-"+tc.name {
						n++
					}
				}
				var rl *chatshipper.RateLimitError
				switch {
				case tc.name == "429-date" && errors.As(err, &rl):
					// A Retry-After beyond the longest wait: returned at once, nothing created.
					if n != 0 {
						t.Errorf("429 answered, yet %d conversations created", n)
					}
					return
				case err != nil:
					t.Fatalf("Create: %v (created %d)", err, n)
				}
				if n != 1 || len(srv.List("conversations")) != before+1 {
					t.Errorf("created %d conversations", n)
				}
				if st := rtsStored(srv, conv.ID); !slices.Equal(st, []string{"init-1", "init-2"}) {
					t.Errorf("initial messages stored %v", st)
				}
				msgs, err := s.Send(context.Background(), conv.ID, chatshipper.Chat("next"))
				if err != nil || len(msgs) != 1 {
					t.Errorf("Send after Create: %v %v", msgs, err)
				}
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
			})
		})
	}
}

func TestRTSenderCreateBadInput(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h)
		s := rtsSender(t, c, chatshipper.MaxBatch(2))
		if _, err := s.Create(context.Background(), nil); err == nil {
			t.Errorf("Create(nil): no error")
		} else if !errors.Is(err, chatshipper.ErrInvalidArgument) {
			t.Errorf("Create(nil): %v, want ErrInvalidArgument", err)
		}
		three := []chatshipper.MessageInput{chatshipper.Chat("a"), chatshipper.Chat("b"), chatshipper.Chat("c")}
		if _, err := s.Create(context.Background(), &chatshipper.ConversationCreate{Name: "x", Messages: three}); !errors.Is(err, chatshipper.ErrInvalidArgument) {
			t.Errorf("Create with 3 initial messages, MaxBatch 2: %v, want ErrInvalidArgument", err)
		}
		bad := []chatshipper.MessageInput{chatshipper.Assign("nope")}
		if _, err := s.Create(context.Background(), &chatshipper.ConversationCreate{Name: "x", Messages: bad}); !errors.Is(err, chatshipper.ErrInvalidArgument) {
			t.Errorf("Create with an invalid message: %v, want ErrInvalidArgument", err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if _, err := s.Create(ctx, &chatshipper.ConversationCreate{Name: "x"}); !errors.Is(err, context.Canceled) {
			t.Errorf("Create with a cancelled context: %v", err)
		}
		if _, err := s.Send(ctx, convA, chatshipper.Chat("x")); !errors.Is(err, context.Canceled) {
			t.Errorf("Send with a cancelled context: %v", err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.mu.Lock()
		defer h.mu.Unlock()
		if len(h.posts) != 0 {
			t.Errorf("bad input reached the server: %v", h.posts)
		}
	})
}
