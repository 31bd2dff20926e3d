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
	"os"
	"os/exec"
	"runtime/debug"
	"slices"
	"sort"
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
		{"404-conversation-gone", func([]rtsMsg) rtsAct { return rtsAct{Before: 404} }, true, false},
		{"400-whole-batch", func([]rtsMsg) rtsAct { return rtsAct{Before: 400} }, true, false},
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

// ---------------------------------------------------------------------------
// Change-safe concurrent walks.

func rtwSeed(srv *chatshippertest.Server, n int, prefix string) []string {
	var ids []string
	for i := range n {
		ids = append(ids, srv.Put("contacts", map[string]any{
			"organization": srv.Seed.OrganizationID,
			"profile":      map[string]any{"name": fmt.Sprintf("%s%03d", prefix, i)},
			"meta":         map[string]any{"batch": "walk"},
		}))
	}
	return ids
}

func rtwQuery() *chatshipper.Query {
	return chatshipper.NewQuery().Where("meta.batch", chatshipper.Eq("walk"))
}

// rtwResult is what one walk yielded.
type rtwResult struct {
	order []string
	seen  map[string]int
	errs  []error
	after int // items yielded after an error
}

func rtwItems(seq func(yield func(*chatshipper.Contact, error) bool), each func(*chatshipper.Contact) bool) rtwResult {
	r := rtwResult{seen: map[string]int{}}
	for ct, err := range seq {
		if err != nil {
			r.errs = append(r.errs, err)
			continue
		}
		if len(r.errs) > 0 {
			r.after++
		}
		if ct == nil {
			r.errs = append(r.errs, errors.New("nil item without error"))
			continue
		}
		r.order = append(r.order, ct.ID)
		r.seen[ct.ID]++
		if each != nil && !each(ct) {
			break
		}
	}
	return r
}

// rtwProfiles are the page and clock profiles, alone and combined.
func rtwProfiles(t *testing.T) []chatshippertest.Profile {
	var ps []chatshippertest.Profile
	ps = append(ps, chatshippertest.Combine())
	for _, p := range chatshippertest.Profiles() {
		if p.Area == "pages" || p.Area == "clock" {
			ps = append(ps, p)
		}
	}
	for _, name := range []string{
		"page-cap-10+no-paging-headers", "page-cap-10+no-total", "page-cap-50+no-link",
		"id-compare-ignored+no-total", "id-compare-ignored+no-paging-headers", "id-compare-unmatched+no-total",
		"id-compare-unmatched+no-paging-headers", "id-compare-refused+page-cap-10", "id-compare-ignored+page-cap-10+no-paging-headers",
		"page-cap-10+clock-ahead-2h", "no-paging-headers+clock-behind-2h",
	} {
		p, err := chatshippertest.ParseProfile(name)
		if err != nil {
			t.Fatal(err)
		}
		ps = append(ps, p)
	}
	return ps
}

func rtwHonoursID(p chatshippertest.Profile) bool {
	return !strings.Contains(p.Name, "id-compare")
}

// A listing that does not change: every item exactly once, whatever the
// server and the concurrency; the error (if any) yielded once, last.
func TestRTConcWalkProfilesStatic(t *testing.T) {
	t.Parallel()
	for _, p := range rtwProfiles(t) {
		for _, n := range []int{2, 3, 8} {
			for _, limit := range []int{0, 7, 25} {
				t.Run(fmt.Sprintf("profile=%s/n=%d/limit=%d", p.Name, n, limit), func(t *testing.T) {
					srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), p.Option)
					ids := rtwSeed(srv, 130, "w")
					c, err := srv.NewClient()
					if err != nil {
						t.Fatal(err)
					}
					q := rtwQuery()
					if limit > 0 {
						q = q.Limit(limit)
					}
					w := c.Contacts.Walk(context.Background(), q, chatshipper.Concurrency(n))
					r := rtwItems(w.Items(), nil)
					if len(r.errs) > 0 {
						t.Fatalf("walk error(s) on a listing that does not change: %v", r.errs)
					}
					for _, id := range ids {
						if r.seen[id] != 1 {
							t.Errorf("item %s yielded %d times", id, r.seen[id])
						}
					}
					if len(r.order) != len(ids) {
						t.Errorf("yielded %d items, want %d", len(r.order), len(ids))
					}
					if w.Count() != len(r.order) {
						t.Errorf("Count() %d after %d items", w.Count(), len(r.order))
					}
				})
			}
		}
	}
}

// The loop changes what it walks: it deletes items it has not reached yet,
// moves others out of the query, renames others (they stay in it), and
// creates new ones. Promise (server honouring id comparisons): every item
// present and matching for the whole walk yielded exactly once; none twice.
// On servers that do not compare ids the walk goes by offset: items may be
// skipped, "never yields one twice", and may end with ErrInvalidResponse.
func TestRTConcWalkProfilesMutating(t *testing.T) {
	t.Parallel()
	for _, p := range rtwProfiles(t) {
		for _, n := range []int{3, 9} {
			for _, seed := range []uint64{1} {
				t.Run(fmt.Sprintf("profile=%s/n=%d/seed=%d", p.Name, n, seed), func(t *testing.T) {
					srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), p.Option)
					ids := rtwSeed(srv, 120, "w")
					c, err := srv.NewClient()
					if err != nil {
						t.Fatal(err)
					}
					rng := rand.New(rand.NewPCG(seed, uint64(n)))
					touched := map[string]bool{} // deleted or moved out of the query
					var mu sync.Mutex
					made := 0
					r := rtwItems(c.Contacts.Walk(context.Background(), rtwQuery().Limit(8), chatshipper.Concurrency(n)).Items(), func(ct *chatshipper.Contact) bool {
						mu.Lock()
						defer mu.Unlock()
						victim := ids[rng.IntN(len(ids))]
						switch rng.IntN(4) {
						case 0: // delete
							if !touched[victim] && victim != ct.ID {
								touched[victim] = true
								if _, err := c.Contacts.Delete(context.Background(), victim); err != nil {
									t.Errorf("delete: %v", err)
								}
							}
						case 1: // move out of the query
							if !touched[victim] && victim != ct.ID {
								touched[victim] = true
								if _, _, err := c.Contacts.Update(context.Background(), victim, &chatshipper.ContactUpdate{Meta: chatshipper.Meta{"batch": "done"}}); err != nil {
									t.Errorf("update: %v", err)
								}
							}
						case 2: // rename, stays in the query
							if _, _, err := c.Contacts.Update(context.Background(), victim, &chatshipper.ContactUpdate{Profile: &chatshipper.ContactProfile{Name: "renamed"}}); err != nil && !errors.Is(err, chatshipper.ErrNotFound) {
								t.Errorf("rename: %v", err)
							}
						case 3: // create
							made++
							rtwSeed(srv, 1, fmt.Sprintf("new%d-", made))
						}
						return true
					})
					for id, k := range r.seen {
						if k > 1 {
							t.Errorf("item %s yielded %d times", id, k)
						}
					}
					if len(r.errs) > 1 || r.after > 0 {
						t.Errorf("errors %v, %d items after the first", r.errs, r.after)
					}
					if rtwHonoursID(p) {
						if len(r.errs) > 0 {
							t.Errorf("walk error on a server that compares ids: %v", r.errs)
						}
						for _, id := range ids {
							if !touched[id] && r.seen[id] != 1 {
								t.Errorf("untouched item %s yielded %d times", id, r.seen[id])
							}
						}
					} else {
						for _, err := range r.errs {
							if !errors.Is(err, chatshipper.ErrInvalidResponse) {
								t.Errorf("walk error %v, the documented one is ErrInvalidResponse", err)
							}
						}
						missed := 0
						for _, id := range ids {
							if !touched[id] && r.seen[id] != 1 {
								missed++
							}
						}
						t.Logf("by offset: %d untouched items skipped, %d touched, errors %v", missed, len(touched), r.errs)
					}
				})
			}
		}
	}
}

// rtwHookTransport calls before(r) for each request and after(r) once its
// answer is in, before the client sees it.
type rtwHookTransport struct {
	next          http.RoundTripper
	before, after func(r *http.Request)
}

func (tr rtwHookTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tr.before != nil {
		tr.before(r)
	}
	res, err := tr.next.RoundTrip(r)
	if tr.after != nil {
		tr.after(r)
	}
	return res, err
}

func rtwIsFirstPage(r *http.Request) bool {
	q := r.URL.Query()
	return r.Method == "GET" && !q.Has("id") && !q.Has("sort") && !q.Has("offset")
}

// One item ahead leaves the query while the first page is on its way (one
// more writer, or the loop's own work); from then on the loop moves each item
// it handles out of the query (the README's "close each one" job). On a
// server that compares ids, every other item matched when the walk began and
// still matches when the walk reaches it: each must be yielded exactly once.
func TestRTConcWalkChangeDuringFirstPage(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"default", "page-cap-10", "clock-ahead-2h"} {
		for _, n := range []int{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("profile=%s/n=%d", p, n), func(t *testing.T) {
				prof, err := chatshippertest.ParseProfile(p)
				if err != nil {
					t.Fatal(err)
				}
				srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), prof.Option)
				ids := rtwSeed(srv, 120, "w")
				gone := ids[60]
				var once sync.Once
				c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0),
					chatshipper.WithHTTPClient(&http.Client{Transport: rtwHookTransport{next: srv.Client().Transport, after: func(r *http.Request) {
						if rtwIsFirstPage(r) {
							once.Do(func() {
								doc, _ := srv.Get("contacts", gone)
								doc["meta"] = map[string]any{"batch": "elsewhere"}
								srv.Put("contacts", doc)
							})
						}
					}}}))
				if err != nil {
					t.Fatal(err)
				}
				r := rtwItems(c.Contacts.Walk(context.Background(), rtwQuery().Limit(8), chatshipper.Concurrency(n)).Items(), func(ct *chatshipper.Contact) bool {
					if _, _, err := c.Contacts.Update(context.Background(), ct.ID, &chatshipper.ContactUpdate{Meta: chatshipper.Meta{"batch": "done"}}); err != nil {
						t.Errorf("update: %v", err)
					}
					return true
				})
				if len(r.errs) > 0 {
					t.Errorf("walk errors: %v", r.errs)
				}
				var missed []int
				for i, id := range ids {
					if id != gone && r.seen[id] != 1 {
						missed = append(missed, i)
					}
				}
				if len(missed) > 0 {
					t.Errorf("%d of %d items that matched throughout were not yielded exactly once (indexes %v)", len(missed), len(ids)-1, missed)
				}
			})
		}
	}
}

// The loop itself, on its first item, deletes one item it has not reached,
// and moves every item it handles out of the query. Requests by key wait
// until that first change is made (for n=1, Prefetch(0) asks for the second
// page only when the loop needs it), so the order of events is fixed.
// Promise: every other item yielded exactly once, "whatever the loop
// changes".
func TestRTConcWalkLoopDeletesAhead(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 2, 4, 8} {
		for _, del := range []int{9, 60, 119} {
			t.Run(fmt.Sprintf("n=%d/delete=%d", n, del), func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
				ids := rtwSeed(srv, 120, "w")
				gate := make(chan struct{})
				var stuck sync.Once
				c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0),
					chatshipper.WithHTTPClient(&http.Client{Transport: rtwHookTransport{next: srv.Client().Transport, before: func(r *http.Request) {
						if r.Method != "GET" || !r.URL.Query().Has("id") {
							return
						}
						select {
						case <-gate:
						case <-r.Context().Done():
						case <-time.After(5 * time.Second):
							stuck.Do(func() { t.Errorf("a request by key waited 5 s for the loop's first item") })
						}
					}}}))
				if err != nil {
					t.Fatal(err)
				}
				opts := []chatshipper.WalkOption{chatshipper.Concurrency(n)}
				if n == 1 {
					opts = append(opts, chatshipper.Prefetch(0))
				}
				first := true
				r := rtwItems(c.Contacts.Walk(context.Background(), rtwQuery().Limit(8), opts...).Items(), func(ct *chatshipper.Contact) bool {
					if first {
						first = false
						if _, err := c.Contacts.Delete(context.Background(), ids[del]); err != nil {
							t.Errorf("delete: %v", err)
						}
						close(gate)
					}
					if _, _, err := c.Contacts.Update(context.Background(), ct.ID, &chatshipper.ContactUpdate{Meta: chatshipper.Meta{"batch": "done"}}); err != nil {
						t.Errorf("update: %v", err)
					}
					return true
				})
				if first {
					close(gate)
				}
				if len(r.errs) > 0 {
					t.Errorf("walk errors: %v", r.errs)
				}
				var missed []int
				for i, id := range ids {
					if i != del && r.seen[id] != 1 {
						missed = append(missed, i)
					}
				}
				if len(missed) > 0 {
					t.Errorf("%d of 119 items that matched throughout were not yielded exactly once (indexes %v)", len(missed), missed)
				}
			})
		}
	}
}

// A server that does not compare ids: the walk goes by offset, "skips items
// as a walk by offset does (see Pagination), never yields one twice, and may
// end with ErrInvalidResponse rather than repeat an item". The loop deletes
// every third item it handles (a job that archives what it walked). In a
// synctest bubble, each request waits 5 ms before the server reads it, but
// the pages at offsets 56 and 64 wait 500 ms: by then the loop has deleted
// many items, so those pages come shifted, and the page at offset 72, read
// early, holds items they hold too.
func TestRTConcWalkIDIgnoredDeletesNeverTwice(t *testing.T) {
	t.Parallel()
	for _, mode := range []chatshippertest.IDComparisons{chatshippertest.IDComparisonsIgnored, chatshippertest.IDComparisonsMatchNothing, chatshippertest.IDComparisonsRefused} {
		for _, n := range []int{4, 9, 16} {
			t.Run(fmt.Sprintf("mode=%d/n=%d", mode, n), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), chatshippertest.WithIDComparisons(mode))
					ids := rtwSeed(srv, 120, "w")
					c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0),
						chatshipper.WithHTTPClient(&http.Client{Transport: rtwHookTransport{next: srv.Client().Transport, before: func(r *http.Request) {
							switch r.URL.Query().Get("offset") {
							case "56", "64":
								time.Sleep(500 * time.Millisecond)
							default:
								time.Sleep(5 * time.Millisecond)
							}
						}}}))
					if err != nil {
						t.Fatal(err)
					}
					k := 0
					r := rtwItems(c.Contacts.Walk(context.Background(), rtwQuery().Limit(8), chatshipper.Concurrency(n)).Items(), func(ct *chatshipper.Contact) bool {
						k++
						time.Sleep(time.Millisecond)
						if k%3 == 0 {
							if _, err := c.Contacts.Delete(context.Background(), ct.ID); err != nil && !errors.Is(err, chatshipper.ErrNotFound) {
								t.Errorf("delete: %v", err)
							}
						}
						return true
					})
					var twice []int
					for i, id := range ids {
						if r.seen[id] > 1 {
							twice = append(twice, i)
						}
					}
					if len(twice) > 0 {
						t.Errorf("items yielded twice (indexes %v); walk errors %v", twice, r.errs)
					}
					for _, err := range r.errs {
						if !errors.Is(err, chatshipper.ErrInvalidResponse) {
							t.Errorf("walk error %v", err)
						}
					}
				})
			})
		}
	}
}

// rtwServer serves contacts with ObjectId-like ids (a creation second, then
// random bytes), with knobs for servers the documentation allows and some
// it does not quite.
type rtwServer struct {
	mu      sync.Mutex
	items   []rtwItem // ordered by id
	reqs    []string
	pageCap int
	// random short pages (1..limit) for any request, with X-Total but no
	// X-Per-Page: a server that shortens its pages.
	shortPages *rand.Rand
	noTotal    bool
	noLink     bool
	// upperIgnored drops the ",<=b" part of an id range: id>a is compared,
	// the upper bound is not.
	upperIgnored bool
	// rangeEmpty answers every two-sided id range with nothing.
	rangeEmpty bool
	// sortIgnored lists by id whatever sort asks.
	sortIgnored bool
	// fail, when set, answers a request with this status.
	fail func(r *http.Request) int
}

type rtwItem struct {
	ID   string `json:"id"`
	Name string `json:"profile_name"`
}

func (s *rtwServer) seed(n int, rng *rand.Rand) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	base := uint32(1_700_000_000)
	var ids []string
	for i := range n {
		base += uint32(rng.IntN(3)) // several items per second, sometimes
		id := fmt.Sprintf("%08x%016x", base, rng.Uint64())
		s.items = append(s.items, rtwItem{ID: id, Name: fmt.Sprintf("n%05d", (i*7919)%n)})
		ids = append(ids, id)
	}
	sort.Slice(s.items, func(i, j int) bool { return s.items[i].ID < s.items[j].ID })
	return ids
}

func (s *rtwServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reqs = append(s.reqs, r.URL.RawQuery)
	w.Header().Set("Content-Type", "application/json")
	if s.fail != nil {
		if st := s.fail(r); st != 0 {
			w.WriteHeader(st)
			fmt.Fprintf(w, `{"message":"status %d"}`, st)
			return
		}
	}
	q := r.URL.Query()
	sel := slices.Clone(s.items)
	if v := q.Get("id"); v != "" {
		lower, upper, ranged := strings.Cut(v, ",")
		if ranged && s.rangeEmpty {
			sel = nil
		}
		var keep []rtwItem
		for _, it := range sel {
			ok := true
			switch {
			case strings.HasPrefix(lower, ">="):
				ok = it.ID >= lower[2:]
			case strings.HasPrefix(lower, ">"):
				ok = it.ID > lower[1:]
			case strings.HasPrefix(lower, "<="):
				ok = it.ID <= lower[2:]
			}
			if ranged && !s.upperIgnored && strings.HasPrefix(upper, "<=") {
				ok = ok && it.ID <= upper[2:]
			}
			if ok {
				keep = append(keep, it)
			}
		}
		sel = keep
	}
	if so := q.Get("sort"); so != "" && !s.sortIgnored {
		key := strings.TrimPrefix(so, "-")
		desc := strings.HasPrefix(so, "-")
		sort.SliceStable(sel, func(i, j int) bool {
			a, b := sel[i].ID, sel[j].ID
			if key != "id" && key != "_id" {
				a, b = sel[i].Name, sel[j].Name
			}
			if desc {
				return a > b
			}
			return a < b
		})
	}
	total := len(sel)
	off, _ := strconv.Atoi(q.Get("offset"))
	lim := 200
	if l := q.Get("limit"); l != "" {
		lim, _ = strconv.Atoi(l)
	}
	if s.pageCap > 0 {
		lim = min(lim, s.pageCap)
	}
	if s.shortPages != nil && lim > 1 {
		lim = 1 + s.shortPages.IntN(lim)
	}
	off = min(off, total)
	end := min(off+lim, total)
	if !s.noTotal {
		w.Header().Set("X-Total", strconv.Itoa(total))
	}
	if s.pageCap > 0 && s.shortPages == nil {
		w.Header().Set("X-Per-Page", strconv.Itoa(lim))
	}
	if !s.noLink && end < total {
		nq := r.URL.Query()
		nq.Set("offset", strconv.Itoa(end))
		nq.Set("limit", strconv.Itoa(lim))
		w.Header().Set("Link", fmt.Sprintf(`<http://127.0.0.1:9/v2/contacts?%s>; rel="next"`, nq.Encode()))
	}
	out := make([]map[string]any, 0, end-off)
	for _, it := range sel[off:end] {
		out = append(out, map[string]any{"id": it.ID, "profile": map[string]any{"name": it.Name}})
	}
	_ = json.NewEncoder(w).Encode(out)
}

func (s *rtwServer) client(t *testing.T, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	base := []chatshipper.Option{
		chatshipper.WithBaseURL("http://127.0.0.1:9/v2/"),
		chatshipper.WithHTTPClient(&http.Client{Transport: rtsTransport{s}}),
		chatshipper.WithRateLimit(0),
		chatshipper.WithRetryWait(time.Millisecond, 10*time.Millisecond),
	}
	c, err := chatshipper.NewClient("tok-abcdefghijklmnop", append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Servers that take id>a but get the two-sided range wrong, and servers that
// shorten pages at random: a listing that does not change is yielded whole,
// each item once (or the walk ends with an error, never silently short or
// doubled).
func TestRTConcWalkOwnServers(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		srv  func() *rtwServer
	}{
		{"plain", func() *rtwServer { return &rtwServer{} }},
		{"upper-bound-ignored", func() *rtwServer { return &rtwServer{upperIgnored: true} }},
		{"upper-bound-ignored-cap5", func() *rtwServer { return &rtwServer{upperIgnored: true, pageCap: 5} }},
		{"upper-bound-ignored-no-total", func() *rtwServer { return &rtwServer{upperIgnored: true, noTotal: true} }},
		{"range-empty", func() *rtwServer { return &rtwServer{rangeEmpty: true} }},
		{"range-empty-no-total", func() *rtwServer { return &rtwServer{rangeEmpty: true, noTotal: true} }},
		{"range-empty-no-headers", func() *rtwServer { return &rtwServer{rangeEmpty: true, noTotal: true, noLink: true} }},
		{"sort-ignored", func() *rtwServer { return &rtwServer{sortIgnored: true} }},
		{"cap1", func() *rtwServer { return &rtwServer{pageCap: 1} }},
		{"cap3-no-headers", func() *rtwServer { return &rtwServer{pageCap: 3, noTotal: true, noLink: true} }},
		{"short-pages", func() *rtwServer { return &rtwServer{shortPages: rand.New(rand.NewPCG(7, 7))} }},
		{"short-pages-no-link", func() *rtwServer { return &rtwServer{shortPages: rand.New(rand.NewPCG(8, 8)), noLink: true} }},
	} {
		for _, n := range []int{2, 5} {
			for _, sorted := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/n=%d/sorted=%v", tc.name, n, sorted), func(t *testing.T) {
					s := tc.srv()
					ids := s.seed(97, rand.New(rand.NewPCG(uint64(n), 1)))
					c := s.client(t)
					q := chatshipper.NewQuery().Limit(10)
					if sorted {
						q = q.Sort("profile.name")
					}
					r := rtwItems(c.Contacts.Walk(context.Background(), q, chatshipper.Concurrency(n)).Items(), nil)
					for id, k := range r.seen {
						if k > 1 {
							t.Errorf("item %s yielded %d times", id, k)
						}
					}
					if len(r.errs) > 1 || r.after > 0 {
						t.Errorf("errors %v, %d items after the first", r.errs, r.after)
					}
					if len(r.errs) == 0 {
						missing := 0
						for _, id := range ids {
							if r.seen[id] != 1 {
								missing++
							}
						}
						if missing > 0 {
							t.Errorf("walk ended without error, %d of %d items missing", missing, len(ids))
						}
					} else {
						t.Logf("walk error: %v", r.errs[0])
					}
					if sorted && !s.sortIgnored && len(r.errs) == 0 {
						var names []string
						s.mu.Lock()
						byID := map[string]string{}
						for _, it := range s.items {
							byID[it.ID] = it.Name
						}
						s.mu.Unlock()
						for _, id := range r.order {
							names = append(names, byID[id])
						}
						if !slices.IsSorted(names) {
							t.Errorf("a sorted query walked with Concurrency is not yielded in order")
						}
					}
				})
			}
		}
	}
}

// Concurrency(n) "n must be at least 1": below that, the walk yields one
// ErrInvalidArgument error and makes no request.
func TestRTConcWalkConcurrencyBelowOne(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, -1, math.MinInt} {
		srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
		rtwSeed(srv, 30, "w")
		c, err := srv.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		srv.ResetRequests()
		r := rtwItems(c.Contacts.Walk(context.Background(), rtwQuery(), chatshipper.Concurrency(n)).Items(), nil)
		if len(r.errs) != 1 || !errors.Is(r.errs[0], chatshipper.ErrInvalidArgument) || len(r.order) != 0 {
			t.Errorf("Concurrency(%d): errors %v, %d items; want one ErrInvalidArgument", n, r.errs, len(r.order))
		}
		if k := len(srv.Requests()); k != 0 {
			t.Errorf("Concurrency(%d): %d requests", n, k)
		}
	}
}

// Concurrency(n) with n far above the pages there are: valid ("at least 1";
// "memory is bounded by n pages"), so the walk must yield every item once,
// not panic or run out of memory. Each n runs in a child process with its
// address space capped at 4 GiB, so a crash there cannot take the suite down.
func TestRTConcWalkHugeConcurrency(t *testing.T) {
	if v := os.Getenv("RTW_HUGE_N"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatal(err)
		}
		if !rtwRace() { // the race detector needs far more address space
			lim := syscall.Rlimit{Cur: 4 << 30, Max: 4 << 30}
			if err := syscall.Setrlimit(syscall.RLIMIT_AS, &lim); err != nil {
				t.Logf("no address space limit: %v", err)
			}
		}
		srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
		ids := rtwSeed(srv, 120, "w")
		c, err := srv.NewClient()
		if err != nil {
			t.Fatal(err)
		}
		r := rtwItems(c.Contacts.Walk(context.Background(), rtwQuery().Limit(8), chatshipper.Concurrency(n)).Items(), nil)
		if len(r.errs) > 0 || len(r.order) != len(ids) || len(r.seen) != len(ids) {
			t.Fatalf("Concurrency(%d): %d items (%d distinct) of %d, errors %v", n, len(r.order), len(r.seen), len(ids), r.errs)
		}
		fmt.Println("RTW-HUGE-OK", len(srv.Requests()), "requests")
		return
	}
	t.Parallel()
	for _, n := range []int{1 << 20, 1 << 40, math.MaxInt} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			if n == 1<<40 && rtwRace() {
				t.Skip("without an address space cap (impossible under -race) the child would try to allocate 8 TiB")
			}
			t.Parallel()
			cmd := exec.Command(os.Args[0], "-test.run=^TestRTConcWalkHugeConcurrency$", "-test.count=1", "-test.v")
			cmd.Env = append(os.Environ(), "RTW_HUGE_N="+strconv.Itoa(n))
			out, err := cmd.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "RTW-HUGE-OK") {
				first := string(out)
				if i := strings.Index(first, "goroutine "); i > 0 {
					first = first[:i]
				}
				t.Errorf("Concurrency(%d): the walk failed (%v):\n%s", n, err, strings.TrimSpace(first))
				return
			}
			for _, l := range strings.Split(string(out), "\n") {
				if strings.HasPrefix(l, "RTW-HUGE-OK") {
					t.Log(l)
				}
			}
		})
	}
}

// rtwRace reports whether the test binary runs with the race detector.
func rtwRace() bool {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return false
	}
	for _, st := range bi.Settings {
		if st.Key == "-race" && st.Value == "true" {
			return true
		}
	}
	return false
}

// Cancelling the walk's context mid-walk: the error is yielded once, as
// (nil, err), nothing after it, and nothing of the walk is left running (the
// synctest bubble ends only when every goroutine it started has).
func TestRTConcWalkCancelMidWalk(t *testing.T) {
	t.Parallel()
	for _, sorted := range []bool{false, true} {
		for _, n := range []int{1, 3, 8} {
			for _, at := range []int{1, 8, 30} {
				t.Run(fmt.Sprintf("sorted=%v/n=%d/at=%d", sorted, n, at), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
						rtwSeed(srv, 100, "w")
						c, err := srv.NewClient()
						if err != nil {
							t.Fatal(err)
						}
						srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/contacts", Delay: 50 * time.Millisecond})
						ctx, cancel := context.WithCancel(context.Background())
						defer cancel()
						q := rtwQuery().Limit(8)
						if sorted {
							q = q.Sort("profile.name")
						}
						k := 0
						r := rtwItems(c.Contacts.Walk(ctx, q, chatshipper.Concurrency(n)).Items(), func(*chatshipper.Contact) bool {
							k++
							if k == at {
								cancel()
							}
							return true
						})
						if len(r.errs) != 1 || !errors.Is(r.errs[0], context.Canceled) {
							t.Errorf("errors %v, want one context.Canceled", r.errs)
						}
						if r.after > 0 {
							t.Errorf("%d items after the error", r.after)
						}
						for id, cnt := range r.seen {
							if cnt > 1 {
								t.Errorf("%s yielded %d times", id, cnt)
							}
						}
						synctest.Wait()
						before := len(srv.Requests())
						time.Sleep(time.Minute)
						if after := len(srv.Requests()); after != before {
							t.Errorf("%d requests after the walk returned", after-before)
						}
					})
				})
			}
		}
	}
}

// Breaking out of the loop: it "returns only when nothing of the walk runs
// any more": no request of the walk is still in the client's transport when
// the loop returns, none starts afterwards, no goroutine is left (the
// synctest bubble ends).
func TestRTConcWalkBreakEarly(t *testing.T) {
	t.Parallel()
	for _, sorted := range []bool{false, true} {
		for _, n := range []int{2, 8} {
			for _, at := range []int{1, 9, 50} {
				t.Run(fmt.Sprintf("sorted=%v/n=%d/at=%d", sorted, n, at), func(t *testing.T) {
					synctest.Test(t, func(t *testing.T) {
						srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
						rtwSeed(srv, 100, "w")
						var mu sync.Mutex
						started, inFlight := 0, 0
						c, err := chatshipper.NewClient(srv.Token, chatshipper.WithBaseURL(srv.URL), chatshipper.WithRateLimit(0),
							chatshipper.WithHTTPClient(&http.Client{Transport: rtwHookTransport{next: srv.Client().Transport,
								before: func(*http.Request) {
									mu.Lock()
									started++
									inFlight++
									mu.Unlock()
									time.Sleep(20 * time.Millisecond)
								},
								after: func(*http.Request) {
									mu.Lock()
									inFlight--
									mu.Unlock()
								}}}))
						if err != nil {
							t.Fatal(err)
						}
						q := rtwQuery().Limit(8)
						if sorted {
							q = q.Sort("profile.name")
						}
						k := 0
						w := c.Contacts.Walk(context.Background(), q, chatshipper.Concurrency(n))
						for p, err := range w.Pages() {
							if err != nil {
								t.Fatal(err)
							}
							k += len(p.Items)
							if k >= at {
								break
							}
						}
						mu.Lock()
						before, running := started, inFlight
						mu.Unlock()
						if running != 0 {
							t.Errorf("%d requests of the walk still in the transport when the loop returned", running)
						}
						time.Sleep(time.Minute)
						mu.Lock()
						after := started
						mu.Unlock()
						if after != before {
							t.Errorf("%d requests started after the loop was left", after-before)
						}
						// The same Walk ranges again from the start.
						r := rtwItems(w.Items(), nil)
						if len(r.errs) > 0 || len(r.seen) != 100 || len(r.order) != 100 {
							t.Errorf("second range over the Walk: %d items (%d distinct), errors %v", len(r.order), len(r.seen), r.errs)
						}
					})
				})
			}
		}
	}
}

// A page request that fails for good (500, 403, 404: not retried) ends the
// walk with that error, yielded once, nothing after it, nothing twice.
func TestRTConcWalkErrorOnce(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		fail func(r *http.Request) int
	}{
		{"range-page-500", func(r *http.Request) int {
			if strings.Contains(r.URL.Query().Get("id"), ",") {
				return 500
			}
			return 0
		}},
		{"greatest-id-404", func(r *http.Request) int {
			if r.URL.Query().Get("sort") == "-id" {
				return 404
			}
			return 0
		}},
		{"offset-page-500", func(r *http.Request) int {
			if r.URL.Query().Get("offset") == "20" {
				return 500
			}
			return 0
		}},
		{"later-page-403", func(r *http.Request) int {
			if q := r.URL.Query(); q.Has("id") && !strings.Contains(q.Get("id"), ",") {
				return 403
			}
			return 0
		}},
	} {
		for _, n := range []int{2, 6} {
			for _, sorted := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s/n=%d/sorted=%v", tc.name, n, sorted), func(t *testing.T) {
					s := &rtwServer{fail: tc.fail}
					s.seed(95, rand.New(rand.NewPCG(3, 3)))
					c := s.client(t)
					q := chatshipper.NewQuery().Limit(10)
					if sorted {
						q = q.Sort("profile.name")
					}
					r := rtwItems(c.Contacts.Walk(context.Background(), q, chatshipper.Concurrency(n)).Items(), nil)
					if len(r.errs) > 1 || r.after > 0 {
						t.Errorf("errors %v, %d items after the first error", r.errs, r.after)
					}
					for id, cnt := range r.seen {
						if cnt > 1 {
							t.Errorf("%s yielded %d times", id, cnt)
						}
					}
					var er *chatshipper.ErrorResponse
					if len(r.errs) == 1 && !errors.As(r.errs[0], &er) {
						t.Errorf("error %v is not the server's answer", r.errs[0])
					}
					if len(r.errs) == 0 && len(r.seen) != 95 {
						t.Errorf("no error but %d of 95 items", len(r.seen))
					}
				})
			}
		}
	}
}

// 429s during a concurrent walk: every form of Retry-After. With the client's
// limiter on (the default) against a server keeping the API's 20 per second,
// no 429 and every item once; with it off, 429s are retried as they say, and
// the walk yields every item once or ends with one *RateLimitError.
func TestRTConcWalk429s(t *testing.T) {
	t.Parallel()
	for _, prof := range []string{"default", "retry-after-date", "no-retry-after", "retry-after-3600", "retry-after-date+clock-behind-2h", "retry-after-date+clock-ahead-2h"} {
		for _, limiter := range []bool{true, false} {
			t.Run(fmt.Sprintf("profile=%s/client-limiter=%v", prof, limiter), func(t *testing.T) {
				synctest.Test(t, func(t *testing.T) {
					p, err := chatshippertest.ParseProfile(prof)
					if err != nil {
						t.Fatal(err)
					}
					srv := chatshippertest.NewInProcessServer(t, p.Option) // the API's 20 per second
					ids := rtwSeed(srv, 150, "w")
					var opts []chatshipper.Option
					if limiter {
						opts = append(opts, chatshipper.WithRateLimit(chatshipper.DefaultRequestsPerSecond))
					}
					c, err := srv.NewClient(opts...)
					if err != nil {
						t.Fatal(err)
					}
					for _, sorted := range []bool{false, true} {
						q := rtwQuery().Limit(5)
						if sorted {
							q = q.Sort("profile.name")
						}
						srv.ResetRequests()
						r := rtwItems(c.Contacts.Walk(context.Background(), q, chatshipper.Concurrency(8)).Items(), nil)
						n429 := 0
						for _, rq := range srv.Requests() {
							if rq.Status == 429 {
								n429++
							}
						}
						for id, cnt := range r.seen {
							if cnt > 1 {
								t.Errorf("sorted=%v: %s yielded %d times", sorted, id, cnt)
							}
						}
						if len(r.errs) > 1 || r.after > 0 {
							t.Errorf("sorted=%v: errors %v, %d after", sorted, r.errs, r.after)
						}
						var rl *chatshipper.RateLimitError
						switch {
						case len(r.errs) == 1 && !limiter && errors.As(r.errs[0], &rl):
							t.Logf("sorted=%v: ended with %v after %d items (documented without the limiter)", sorted, r.errs[0], len(r.order))
						case len(r.errs) == 1:
							t.Errorf("sorted=%v: walk error %v", sorted, r.errs[0])
						case len(r.seen) != len(ids):
							t.Errorf("sorted=%v: %d of %d items", sorted, len(r.seen), len(ids))
						}
						if limiter && n429 > 0 {
							t.Errorf("sorted=%v: %d 429s with the client's limiter on", sorted, n429)
						}
						time.Sleep(2 * time.Second) // let the windows empty
					}
				})
			})
		}
	}
}

// 429 faults on some pages of the walk (seconds, a date, none): retried, every
// item once.
func TestRTConcWalk429Faults(t *testing.T) {
	t.Parallel()
	for _, ra := range []string{"1", "date", ""} {
		t.Run("retry-after="+ra, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
				ids := rtwSeed(srv, 90, "w")
				c, err := srv.NewClient()
				if err != nil {
					t.Fatal(err)
				}
				v := ra
				if ra == "date" {
					v = time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat)
				}
				srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/contacts", Status: 429, RetryAfter: v, Probability: 0.3})
				srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/contacts", Status: 503, Probability: 0.1})
				srv.InjectFault(chatshippertest.Fault{Method: "GET", PathPrefix: "/v2/contacts", Drop: chatshippertest.DropBefore, Probability: 0.1})
				for _, sorted := range []bool{false, true} {
					q := rtwQuery().Limit(7)
					if sorted {
						q = q.Sort("-profile.name")
					}
					r := rtwItems(c.Contacts.Walk(context.Background(), q, chatshipper.Concurrency(5)).Items(), nil)
					if len(r.errs) > 0 {
						var rl *chatshipper.RateLimitError
						if len(r.errs) == 1 && r.after == 0 && errors.As(r.errs[0], &rl) {
							t.Logf("sorted=%v: retries used up: %v", sorted, r.errs[0])
							continue
						}
						t.Errorf("sorted=%v: errors %v", sorted, r.errs)
					}
					for _, id := range ids {
						if r.seen[id] != 1 {
							t.Errorf("sorted=%v: %s yielded %d times", sorted, id, r.seen[id])
						}
					}
				}
			})
		})
	}
}

// Concurrency combined with the query's own sort, limit, offset, select and
// id filters: the items the query names, each once; sorted queries in order;
// Count and Page and the pages' Start consistent.
func TestRTConcWalkQueryCombinations(t *testing.T) {
	t.Parallel()
	srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0))
	ids := rtwSeed(srv, 100, "w")
	c, err := srv.NewClient()
	if err != nil {
		t.Fatal(err)
	}
	name := map[string]string{}
	for _, d := range srv.List("contacts") {
		if p, ok := d["profile"].(map[string]any); ok {
			name[d["id"].(string)], _ = p["name"].(string)
		}
	}
	sortedBy := func(less func(a, b string) bool) []string {
		out := slices.Clone(ids)
		sort.SliceStable(out, func(i, j int) bool { return less(out[i], out[j]) })
		return out
	}
	byNameDesc := sortedBy(func(a, b string) bool { return name[a] > name[b] })
	byIDDesc := sortedBy(func(a, b string) bool { return a > b })
	some := []string{ids[3], ids[40], ids[41], ids[77], ids[99]}
	for _, tc := range []struct {
		name    string
		q       *chatshipper.Query
		want    []string
		ordered bool
	}{
		{"offset-unsorted", rtwQuery().Limit(9).Offset(5), ids[5:], false},
		{"offset-sorted", rtwQuery().Limit(9).Offset(5).Sort("-profile.name"), byNameDesc[5:], true},
		{"select", rtwQuery().Limit(9).Select("profile"), ids, false},
		{"select-sorted", rtwQuery().Limit(9).Select("profile").Sort("-profile.name"), byNameDesc, true},
		{"limit-1", rtwQuery().Limit(1), ids, false},
		{"limit-1-sorted", rtwQuery().Limit(1).Sort("-profile.name"), byNameDesc, true},
		{"limit-1000", rtwQuery().Limit(1000), ids, false},
		{"sort-id-desc", rtwQuery().Limit(9).Sort("-id"), byIDDesc, true},
		{"sort-id", rtwQuery().Limit(9).Sort("id"), ids, true},
		{"id-in", rtwQuery().Limit(2).Where("id", chatshipper.In(some[0], some[1], some[2], some[3], some[4])), some, true},
		{"id-gt", rtwQuery().Limit(9).Where("id", chatshipper.Gt(ids[49])), ids[50:], true},
		{"offset-beyond", rtwQuery().Limit(9).Offset(500), nil, false},
	} {
		for _, n := range []int{2, 7} {
			t.Run(fmt.Sprintf("%s/n=%d", tc.name, n), func(t *testing.T) {
				w := c.Contacts.Walk(context.Background(), tc.q, chatshipper.Concurrency(n))
				var got []string
				var errs []error
				lastPage, start := 0, 0
				for p, err := range w.Pages() {
					if err != nil {
						errs = append(errs, err)
						continue
					}
					if p.Number != lastPage+1 {
						t.Errorf("page number %d after %d", p.Number, lastPage)
					}
					if p.Start != start {
						t.Errorf("page %d Start %d, %d items yielded before", p.Number, p.Start, start)
					}
					if w.Page() != p.Number {
						t.Errorf("Page() %d inside page %d", w.Page(), p.Number)
					}
					lastPage = p.Number
					start += len(p.Items)
					for _, it := range p.Items {
						got = append(got, it.ID)
					}
				}
				if len(errs) > 0 {
					t.Fatalf("errors %v", errs)
				}
				if tc.ordered {
					if !slices.Equal(got, tc.want) {
						t.Errorf("got %d items, want %d in order (first differences: %v)", len(got), len(tc.want), rtwDiff(got, tc.want))
					}
					return
				}
				g, wnt := slices.Clone(got), slices.Clone(tc.want)
				slices.Sort(g)
				slices.Sort(wnt)
				if !slices.Equal(g, wnt) {
					t.Errorf("got %d items, want %d (first differences: %v)", len(got), len(tc.want), rtwDiff(g, wnt))
				}
			})
		}
	}
}

func rtwDiff(a, b []string) string {
	for i := range max(len(a), len(b)) {
		var x, y string
		if i < len(a) {
			x = a[i]
		}
		if i < len(b) {
			y = b[i]
		}
		if x != y {
			return fmt.Sprintf("at %d: %q vs %q", i, x, y)
		}
	}
	return "none"
}

// The loop guard in a batch: "a call it refuses gets the *LoopLimitError and
// leaves the batch; the others go", call by call in arrival order.
func TestRTSenderLoopGuardPerCall(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := &rtsServer{}
		c := rtsOwn(t, h, chatshipper.WithLoopGuard(true), chatshipper.WithLoopGuardConfig(chatshipper.LoopGuardConfig{
			Identical: 2, IdenticalWindow: time.Minute, Consecutive: 100, ConsecutiveWindow: time.Hour,
		}))
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
		a := s.Queue(context.Background(), convA, chatshipper.Chat("same"), chatshipper.Chat("a-other"))
		b := s.Queue(context.Background(), convA, chatshipper.Chat("same"))
		cc := s.Queue(context.Background(), convA, chatshipper.Chat("same"), chatshipper.Chat("c-other")) // the third "same": refused whole
		d := s.Queue(context.Background(), convA, chatshipper.Chat("d-other"))
		synctest.Wait()
		close(hold)
		if _, err := first.Result(); err != nil {
			t.Fatal(err)
		}
		for name, p := range map[string]*chatshipper.PendingSend{"a": a, "b": b, "d": d} {
			if _, err := p.Result(); err != nil {
				t.Errorf("call %s: %v", name, err)
			}
		}
		if _, err := cc.Result(); !errors.Is(err, chatshipper.ErrLoopLimit) {
			t.Errorf("third identical message: %v, want ErrLoopLimit", err)
		}
		if err := s.Close(context.Background()); err != nil {
			t.Fatal(err)
		}
		if st := h.stored(convA); !slices.Equal(st, []string{"first", "same", "a-other", "same", "d-other"}) {
			t.Errorf("stored %v", st)
		}
	})
}

// The lookup of one call's caller-set keys fails before the send; calls
// without caller keys in the same batch need no lookup. Promise: "Each call
// gets its own messages back as stored, or its own error."
func TestRTSenderCallerKeyLookupFailsOthersGo(t *testing.T) {
	t.Parallel()
	for _, st := range []int{500, 503, 403} {
		t.Run(fmt.Sprint(st), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				h := &rtsServer{}
				c := rtsOwn(t, h)
				s := rtsSender(t, c)
				calls := rtsCalls(convA, 1, 2, 1)
				calls[1].keys = []string{"key-one", ""}
				rtsHeldBatch(t, h, s, convA, calls, func([]rtsMsg) rtsAct { return rtsAct{} })
				// Lookups fail from now on; the next batch holds a keyed call.
				h.mu.Lock()
				h.lookupFail = st
				h.hook = nil
				h.mu.Unlock()
				calls2 := []*rtsCall{
					{conv: convA, texts: []string{"plain-1"}},
					{conv: convA, texts: []string{"keyed"}, keys: []string{"key-two"}},
					{conv: convA, texts: []string{"plain-2"}},
				}
				hold := make(chan struct{})
				h.setHook(func(n int, _ string, _ []rtsMsg) rtsAct {
					if n == 2 {
						return rtsAct{Hold: hold}
					}
					return rtsAct{}
				})
				warm := s.Queue(context.Background(), convA, chatshipper.Chat("warm"))
				synctest.Wait()
				for _, cl := range calls2 {
					cl.p = s.Queue(context.Background(), cl.conv, cl.inputs()...)
				}
				synctest.Wait()
				close(hold)
				if _, err := warm.Result(); err != nil {
					t.Fatal(err)
				}
				for _, cl := range calls2 {
					cl.msgs, cl.err = cl.p.Result()
				}
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				stored := h.stored(convA)
				rtsCheckCalls(t, map[string][]string{convA: stored}, append(calls, calls2...))
				for _, cl := range calls2 {
					if cl.keys == nil && cl.err != nil {
						t.Errorf("call %v without caller keys failed with another call's lookup: %v", cl.texts, cl.err)
					}
					if cl.keys != nil && cl.err == nil {
						t.Logf("keyed call went through although its lookup failed (stored %v)", stored)
					}
				}
			})
		})
	}
}

// At the rate limit (the client's limiter on, the fake keeping the API's 20
// per sliding second): no 429, every message once and in order, and fewer
// requests than messages.
func TestRTSenderAtTheLimit(t *testing.T) {
	t.Parallel()
	for _, prof := range []string{"default", "retry-after-date+clock-ahead-2h", "no-retry-after"} {
		t.Run(prof, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				p, err := chatshippertest.ParseProfile(prof)
				if err != nil {
					t.Fatal(err)
				}
				srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithLoopLimits(0, 0, 0, 0), p.Option)
				c, err := srv.NewClient(chatshipper.WithLoopGuard(false), chatshipper.WithRateLimit(chatshipper.DefaultRequestsPerSecond))
				if err != nil {
					t.Fatal(err)
				}
				s := rtsSender(t, c)
				var convs []string
				for i := range 8 {
					conv, err := s.Create(context.Background(), &chatshipper.ConversationCreate{Name: fmt.Sprint("limit ", i)})
					if err != nil {
						t.Fatal(err)
					}
					convs = append(convs, conv.ID)
				}
				srv.ResetRequests()
				var wg sync.WaitGroup
				var mu sync.Mutex
				var calls []*rtsCall
				for g := range 8 {
					wg.Go(func() {
						var mine []*rtsCall
						for i := range 30 {
							cl := &rtsCall{conv: convs[(g+i)%len(convs)], texts: []string{fmt.Sprintf("g%d-%d", g, i)}}
							cl.p = s.Queue(context.Background(), cl.conv, cl.inputs()...)
							mine = append(mine, cl)
						}
						for _, cl := range mine {
							cl.msgs, cl.err = cl.p.Result()
						}
						mu.Lock()
						calls = append(calls, mine...)
						mu.Unlock()
					})
				}
				wg.Wait()
				if err := s.Close(context.Background()); err != nil {
					t.Fatal(err)
				}
				stored := map[string][]string{}
				for _, cv := range convs {
					stored[cv] = rtsStored(srv, cv)
				}
				rtsCheckCalls(t, stored, calls)
				seqs := map[string][][]string{}
				for g := range 8 {
					per := map[string][]string{}
					for i := range 30 {
						per[convs[(g+i)%len(convs)]] = append(per[convs[(g+i)%len(convs)]], fmt.Sprintf("g%d-%d", g, i))
					}
					for cv, seq := range per {
						seqs[cv] = append(seqs[cv], seq)
					}
				}
				for _, cv := range convs {
					rtsCheckOrder(t, stored[cv], seqs[cv]...)
				}
				for _, cl := range calls {
					if cl.err != nil {
						t.Errorf("call %v: %v", cl.texts, cl.err)
					}
				}
				reqs := srv.Requests()
				n429 := 0
				for _, r := range reqs {
					if r.Status == 429 {
						n429++
					}
				}
				if n429 > 0 {
					t.Errorf("%d 429s with the client's limiter on", n429)
				}
				if len(reqs) >= len(calls) {
					t.Errorf("%d requests for %d messages: nothing was batched", len(reqs), len(calls))
				}
				t.Logf("%d messages in %d requests", len(calls), len(reqs))
			})
		})
	}
}

// Ids at the edges of the ObjectId space (all zero time, the greatest
// possible id, one item far in the future, every id in one second): the id
// ranges are cut by arithmetic on the ids, so nothing may overflow, be lost
// or come twice.
func TestRTConcWalkExtremeIDs(t *testing.T) {
	t.Parallel()
	gen := map[string]func(i int) string{
		"near-zero":      func(i int) string { return fmt.Sprintf("%024x", i+1) },
		"near-max":       func(i int) string { return fmt.Sprintf("ffffffffffffffff%08x", 0xffffffff-uint32(200-i)) },
		"up-to-max":      func(i int) string { return fmt.Sprintf("%08x%016x", 0x60000000+i, 0) },
		"one-second":     func(i int) string { return fmt.Sprintf("65000000%016x", uint64(i)*0x0123456789abcd) },
		"future-outlier": func(i int) string { return fmt.Sprintf("%08x0000000000000000", 0x65000000+i) },
	}
	for name, g := range gen {
		for _, n := range []int{2, 8} {
			t.Run(fmt.Sprintf("%s/n=%d", name, n), func(t *testing.T) {
				s := &rtwServer{}
				var ids []string
				for i := range 120 {
					ids = append(ids, g(i))
				}
				switch name {
				case "up-to-max":
					ids[len(ids)-1] = "ffffffffffffffffffffffff"
				case "future-outlier":
					ids[len(ids)-1] = "fe0000000000000000000000"
				}
				for i, id := range ids {
					s.items = append(s.items, rtwItem{ID: id, Name: fmt.Sprint(i)})
				}
				sort.Slice(s.items, func(i, j int) bool { return s.items[i].ID < s.items[j].ID })
				c := s.client(t)
				r := rtwItems(c.Contacts.Walk(context.Background(), chatshipper.NewQuery().Limit(7), chatshipper.Concurrency(n)).Items(), nil)
				if len(r.errs) > 0 {
					t.Errorf("errors %v", r.errs)
				}
				for _, id := range ids {
					if r.seen[id] != 1 {
						t.Errorf("%s yielded %d times", id, r.seen[id])
					}
				}
			})
		}
	}
}

// The README's job: the loop moves each item it handles out of the query,
// and creates a matching item now and then. Nothing ahead of the walk
// changes, so every item present at the start comes exactly once.
func TestRTConcWalkLoopMovesHandledOut(t *testing.T) {
	t.Parallel()
	for _, prof := range []string{"default", "page-cap-10", "no-total", "no-paging-headers", "page-cap-10+no-link", "clock-behind-2h"} {
		for _, n := range []int{1, 2, 4, 8} {
			t.Run(fmt.Sprintf("profile=%s/n=%d", prof, n), func(t *testing.T) {
				p, err := chatshippertest.ParseProfile(prof)
				if err != nil {
					t.Fatal(err)
				}
				srv := chatshippertest.NewInProcessServer(t, chatshippertest.WithRateLimit(0), p.Option)
				ids := rtwSeed(srv, 110, "w")
				c, err := srv.NewClient()
				if err != nil {
					t.Fatal(err)
				}
				k := 0
				r := rtwItems(c.Contacts.Walk(context.Background(), rtwQuery().Limit(8), chatshipper.Concurrency(n)).Items(), func(ct *chatshipper.Contact) bool {
					k++
					if _, _, err := c.Contacts.Update(context.Background(), ct.ID, &chatshipper.ContactUpdate{Meta: chatshipper.Meta{"batch": "done"}}); err != nil {
						t.Errorf("update: %v", err)
					}
					if k%10 == 0 && k < 200 {
						rtwSeed(srv, 1, fmt.Sprint("new", k))
					}
					return true
				})
				if len(r.errs) > 0 {
					t.Errorf("errors %v", r.errs)
				}
				for id, cnt := range r.seen {
					if cnt > 1 {
						t.Errorf("%s yielded %d times", id, cnt)
					}
				}
				for _, id := range ids {
					if r.seen[id] != 1 {
						t.Errorf("%s yielded %d times", id, r.seen[id])
					}
				}
			})
		}
	}
}
