package chatshipper

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"
)

// DefaultMaxBatch is how many messages a [BatchSender] puts in one request
// unless [MaxBatch] says otherwise. The API accepts an ordered array of
// messages in one POST /v2/conversations/{id}/messages and documents no
// limit on its length (https://developers.chatshipper.com/docs/api-resource-sets);
// 50 keeps each request's body and the server's work on it modest, and the
// delivery lookup after an ambiguous outcome one request (it asks for 50
// keys at a time).
const DefaultMaxBatch = 50

// maxMaxBatch is the largest batch MaxBatch accepts: the API's default page
// length, so that on a server with the default page length the lookup of a
// batch's keys reads one page.
const maxMaxBatch = 200

// ErrSenderClosed is returned by the sends of a [BatchSender] after Close,
// and matched (errors.Is) by the error of a queued send that Close gave up
// on when its context ended; such messages were not sent.
var ErrSenderClosed = errors.New("chatshipper: batch sender closed")

// BatchSenderOption configures a [BatchSender].
type BatchSenderOption func(*batchSenderConfig) error

type batchSenderConfig struct {
	maxBatch int
}

// MaxBatch sets the most messages a [BatchSender] puts in one request, from
// 1 to 200 (default [DefaultMaxBatch]). It also bounds the messages of one
// Send or Queue call, which always go out together in one request.
func MaxBatch(n int) BatchSenderOption {
	return func(c *batchSenderConfig) error {
		if n < 1 || n > maxMaxBatch {
			return argError("MaxBatch", "must be between 1 and %d, got %d", maxMaxBatch, n)
		}
		c.maxBatch = n
		return nil
	}
}

// BatchSender sends messages into conversations in as few requests as the
// rate limit calls for: messages for one conversation that wait for their
// turn go out together, in order, as one array in one request
// (POST /v2/conversations/{id}/messages). It is safe for concurrent use; make
// it with [ConversationsService.NewBatchSender] and share it.
//
// # When a request goes
//
// A conversation has at most one request in flight, so its messages are
// stored in the order the calls arrived (each call's messages together, in
// their order; calls from different goroutines in the order they reached the
// sender). A conversation with messages waiting and no request in flight
// sends at once while the client is under its rate limit: nothing is held
// back for company. At the limit, the sender starts no more requests in any
// second than the client's limiter grants (its own rate, or the API's 20 per
// second with a limiter of your own, [WithLimiter]; no pacing with
// WithRateLimit(0)), oldest waiting conversation first; everything that
// arrives for a conversation until its turn joins the request it gets then,
// up to [MaxBatch] messages. The limiter still decides when each request
// leaves; the pacing only decides when a batch is put together, so that it
// is as full as the wait allows. Requests the client makes for other
// callers, retries and lookups are not seen by the pacing: then a batch may
// wait at the limiter after it was put together, and be smaller.
//
// # What each caller gets
//
// Each call gets its own messages back as stored, or its own error. Every
// batch goes through the client's exactly-once delivery (see
// [WithDeliveryTracking] and [DeliveryKeyMeta]): each message carries a
// delivery key; the keys callers set are looked up before the send (one
// request for the batch), and a message found stored is returned, neither
// sent nor counted by the loop guard again; a call whose key is already in
// the batch being put together waits for the next one, whose lookup then
// finds the first; an ambiguous outcome is settled by
// a lookup, and only what is missing is sent again. When that lookup fails,
// each call whose messages are in doubt gets a [*DeliveryUnknownError]
// naming only its own keys. When the lookup shows part of the batch stored
// and the rest is not sent again (a 500, the retry budget used up, a 2xx
// answer that left out messages found not stored), each call is settled by
// it: a call stored whole succeeds, a call stored in part gets its stored
// messages and a [*DeliveryUnknownError] naming every key of the call (with
// the batch's error as Err), and a call stored not at all gets the batch's
// error, so that sending it again stores nothing twice. A plain error thus
// always means that none of the call's messages is stored. A batch refused
// whole with 400, 413 or 422 is looked up (one request: the docs do not say
// that a refused request stored nothing); each call not found stored whole
// is then sent again in a request of its own, only its messages found
// missing, and a refusal reaches only the call it is about; a lone call's
// refusal is looked up the same way ([ConversationsService.Send] too).
// Other errors (404, a 429 beyond the longest retry wait, a network failure
// before sending) reach every call of the batch. The bot loop guard
// ([WithLoopGuard]) counts messages, call by call in arrival order: a call it
// refuses gets the [*LoopLimitError] and leaves the batch; the others go.
//
// # Contexts
//
// A call whose context ends while its messages are still queued is taken out
// of the queue: its Send returns the context's error (errors.Is holds), and
// none of its messages was sent. Once its messages are in a request (which
// may carry other calls' messages, and may be waiting for the limiter), the
// request goes on: the call returns at once a [*DeliveryUnknownError] with
// the conversation, the call's delivery keys and the context's error as Err
// (Unkeyed counts its "/set" commands without a key; with delivery tracking
// off it names no keys). Resolve it with [MessagesService.Resolve] after
// [BatchSender.Flush] or [BatchSender.Close] has returned, not before: until
// then the request may still store the messages.
//
// # Creating conversations
//
// [BatchSender.Create] takes its turn like a batch and sends the
// conversation with its initial messages (ConversationCreate.Messages) in one
// request. Sends for a conversation need its ID, so they can only follow its
// create; give the first messages to the create to save a request.
//
// # Closing
//
// [BatchSender.Close] refuses new sends with [ErrSenderClosed], sends what is
// queued and waits for every request. A sender that is never closed holds
// nothing once its queues are empty.
type BatchSender struct {
	c        *Client
	maxBatch int
	// ctx is the context of the batches' requests: calls share them, so no
	// caller's context may end them. Close cancels it when its own ends.
	ctx     context.Context
	cancel  context.CancelFunc
	running sync.WaitGroup // requests in flight

	mu          sync.Mutex
	closed      bool
	convs       map[string]*sendQueue
	ready       []readyItem // waiting for a request slot, oldest first
	pace        sendPace
	timer       *time.Timer
	armed       bool
	outstanding map[*sendCall]struct{} // queued or in flight
}

// NewBatchSender returns a [BatchSender] that sends through the client of
// s. Options are checked here; a bad one is an *ArgumentError.
func (s *ConversationsService) NewBatchSender(opts ...BatchSenderOption) (*BatchSender, error) {
	if err := s.r.check(); err != nil {
		return nil, err
	}
	cfg := batchSenderConfig{maxBatch: DefaultMaxBatch}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &BatchSender{
		c:           s.r.client,
		maxBatch:    cfg.maxBatch,
		ctx:         ctx,
		cancel:      cancel,
		convs:       map[string]*sendQueue{},
		pace:        sendPace{n: s.r.client.pace},
		outstanding: map[*sendCall]struct{}{},
	}, nil
}

// PendingSend is a send queued with [BatchSender.Queue].
type PendingSend struct {
	done chan struct{}
	msgs []*Message
	conv *Conversation // a create's
	err  error
}

// Done is closed when the send's result is known (see [BatchSender.Send]).
func (p *PendingSend) Done() <-chan struct{} { return p.done }

// Result waits until Done is closed and returns what [BatchSender.Send]
// would have: the messages as stored, in order, or the error.
func (p *PendingSend) Result() ([]*Message, error) {
	<-p.done
	return p.msgs, p.err
}

func failedSend(err error) *PendingSend {
	p := &PendingSend{done: make(chan struct{}), err: err}
	close(p.done)
	return p
}

// sendState is where a call is (guarded by BatchSender.mu).
type sendState uint8

const (
	sendQueued   sendState = iota // waiting in its conversation's queue (or, a create, in ready)
	sendInFlight                  // in a request
	sendSettled                   // the sender is done with it
)

// sendCall is one Send, Queue or Create.
type sendCall struct {
	ctx    context.Context
	conv   string
	path   string         // the conversation's messages path
	msgs   []MessageInput // with their delivery keys (tracking on)
	keys   []string       // msgs' keys, "" for a "/set" without one; nil with tracking off
	own    []string       // the keys the caller set, looked up before sending
	loop   []LoopMessage  // for the loop guard; nil without one
	ls     *loopSend
	stored []*Message // per message: found stored under its key before the send (deliverCalls)
	send   []int      // the positions of the messages sent (not found stored)
	create *ConversationCreate

	p        *PendingSend
	resolved bool        // p has its result
	state    sendState   // guarded by BatchSender.mu
	stop     func() bool // ends the watch on ctx
	settled  chan struct{}
}

// sendQueue is one conversation's queue.
type sendQueue struct {
	id      string
	calls   []*sendCall
	busy    bool // a request in flight
	waiting bool // in ready
}

// readyItem waits for a request slot: a conversation or a create.
type readyItem struct {
	q      *sendQueue
	create *sendCall
}

// Send queues msgs for the conversation and waits until they are stored,
// returning them as stored, in order; see [BatchSender] for when they go,
// what an error means and what a context that ends does. The messages are
// checked as [ConversationsService.Send] checks them before anything is
// queued, and at most [MaxBatch] may be given.
//
// POST /v2/conversations/{id}/messages
func (s *BatchSender) Send(ctx context.Context, conversationID string, msgs ...MessageInput) ([]*Message, error) {
	return s.Queue(ctx, conversationID, msgs...).Result()
}

// Queue is Send without the wait: it queues msgs and returns at once. Calls
// are ordered by the moment Queue is called, so one goroutine can queue
// several sends for a conversation, in order, before any is stored, and let
// them go out together. ctx governs the send as it does for Send. The
// messages' meta maps are not copied: leave them unchanged until Done.
//
// POST /v2/conversations/{id}/messages
func (s *BatchSender) Queue(ctx context.Context, conversationID string, msgs ...MessageInput) *PendingSend {
	call, err := s.newCall(ctx, conversationID, msgs)
	if err != nil {
		return failedSend(err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.admit(call); err != nil {
		return failedSend(err)
	}
	q := s.convs[conversationID]
	if q == nil {
		q = &sendQueue{id: conversationID}
		s.convs[conversationID] = q
	}
	q.calls = append(q.calls, call)
	if !q.busy && !q.waiting {
		q.waiting = true
		s.ready = append(s.ready, readyItem{q: q})
	}
	s.pump()
	return call.p
}

// Create creates a conversation with its initial messages in one request
// when its turn comes (see [BatchSender]), and returns it. It goes through
// [ConversationsService.Create], with its checks, loop guard and
// exactly-once delivery; at most [MaxBatch] initial messages may be given.
// Its context is the request's: when it ends while the create is queued,
// nothing is sent; once sent, the create ends as
// [ConversationsService.Create] does (a [*DeliveryUnknownError] to resolve
// with [ConversationsService.ResolveCreate]).
//
// POST /v2/conversations
func (s *BatchSender) Create(ctx context.Context, cc *ConversationCreate) (*Conversation, error) {
	call, err := s.newCreate(ctx, cc)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	if err := s.admit(call); err != nil {
		s.mu.Unlock()
		return nil, err
	}
	s.ready = append(s.ready, readyItem{create: call})
	s.pump()
	s.mu.Unlock()
	<-call.p.done
	return call.p.conv, call.p.err
}

// Flush waits until every send queued before it has its result and its
// request has ended, or until ctx ends (then it returns ctx's error).
func (s *BatchSender) Flush(ctx context.Context) error {
	s.mu.Lock()
	waits := make([]chan struct{}, 0, len(s.outstanding))
	for call := range s.outstanding {
		waits = append(waits, call.settled)
	}
	s.mu.Unlock()
	for _, ch := range waits {
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// Close refuses new sends ([ErrSenderClosed]), sends everything queued and
// waits until every request has ended. When ctx ends first, the sends still
// queued are not sent (their error matches ErrSenderClosed), the requests in
// flight are cancelled, and Close returns ctx's error once they have ended;
// their calls get what is known: a context error when nothing was sent, a
// [*DeliveryUnknownError] when the request may have reached the server.
// Close may be called more than once.
func (s *BatchSender) Close(ctx context.Context) error {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	err := s.Flush(ctx)
	if err != nil {
		s.mu.Lock()
		for call := range s.outstanding {
			if call.state == sendQueued {
				s.unqueue(call)
				s.resolve(call, nil, nil, fmt.Errorf("%w: %s not sent", ErrSenderClosed, call.what()))
				s.settle(call)
			}
		}
		s.mu.Unlock()
	}
	s.cancel()
	s.running.Wait()
	s.mu.Lock()
	s.disarm()
	s.mu.Unlock()
	return err
}

// newCall checks a send and prepares its messages; no I/O.
func (s *BatchSender) newCall(ctx context.Context, conversationID string, msgs []MessageInput) (*sendCall, error) {
	if s == nil || s.c == nil {
		return nil, argError("BatchSender", "not initialised; use ConversationsService.NewBatchSender")
	}
	if ctx == nil {
		return nil, argError("ctx", "must not be nil")
	}
	path, err := itemPath(conversationsPath, "conversationID", conversationID)
	if err != nil {
		return nil, err
	}
	if len(msgs) == 0 {
		return nil, argError("msgs", "at least one message is required")
	}
	if len(msgs) > s.maxBatch {
		return nil, argError("msgs", "%d messages are more than a batch holds (%d, see MaxBatch); send them with ConversationsService.Send", len(msgs), s.maxBatch)
	}
	if err := validateMessages(msgs); err != nil {
		return nil, err
	}
	call := &sendCall{ctx: ctx, conv: conversationID, path: path + "/messages"}
	if s.c.guard != nil {
		if call.loop, err = loopBatch(msgs, s.c.guard.identical); err != nil {
			return nil, err
		}
	}
	if s.c.noDeliveryTracking {
		call.msgs = slices.Clone(msgs)
	} else {
		call.msgs, call.keys = withDeliveryKeys(msgs)
		call.own = callerKeys(msgs)
	}
	return call, nil
}

// newCreate checks a create as Conversations.Create does; no I/O.
func (s *BatchSender) newCreate(ctx context.Context, cc *ConversationCreate) (*sendCall, error) {
	if s == nil || s.c == nil {
		return nil, argError("BatchSender", "not initialised; use ConversationsService.NewBatchSender")
	}
	if ctx == nil {
		return nil, argError("ctx", "must not be nil")
	}
	if cc == nil {
		return nil, argError("conversation", "must not be nil")
	}
	if len(cc.Messages) > s.maxBatch {
		return nil, argError("conversation.messages", "%d messages are more than a batch holds (%d, see MaxBatch)", len(cc.Messages), s.maxBatch)
	}
	if err := validateCreate(cc); err != nil {
		return nil, err
	}
	if cc.Organization != "" {
		if err := checkID("organization", cc.Organization); err != nil {
			return nil, err
		}
	}
	return &sendCall{ctx: ctx, create: cc}, nil
}

// admit registers a call that is about to be queued (s.mu held).
func (s *BatchSender) admit(call *sendCall) error {
	if s.closed {
		return ErrSenderClosed
	}
	if err := call.ctx.Err(); err != nil {
		return notSent(call, err)
	}
	call.p = &PendingSend{done: make(chan struct{})}
	call.settled = make(chan struct{})
	s.outstanding[call] = struct{}{}
	call.stop = context.AfterFunc(call.ctx, func() { s.contextDone(call) })
	return nil
}

// what names a call in an error.
func (call *sendCall) what() string {
	if call.create != nil {
		return "conversation create"
	}
	return fmt.Sprintf("%d message(s) for conversation %s", len(call.msgs), call.conv)
}

func notSent(call *sendCall, err error) error {
	return fmt.Errorf("chatshipper: %s not sent: %w", call.what(), err)
}

// contextDone runs when a call's context ends.
func (s *BatchSender) contextDone(call *sendCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch call.state {
	case sendQueued:
		s.unqueue(call)
		s.resolve(call, nil, nil, notSent(call, call.ctx.Err()))
		s.settle(call)
	case sendInFlight:
		if call.create == nil { // a create's request has this context: it ends by itself
			s.resolve(call, nil, nil, &DeliveryUnknownError{ConversationID: call.conv, Keys: nonEmpty(call.keys),
				Unkeyed: unkeyed(call), Err: call.ctx.Err()})
		}
	}
}

// unkeyed is how many messages of call have no delivery key.
func unkeyed(call *sendCall) int {
	if call.keys == nil {
		return len(call.msgs)
	}
	return len(call.keys) - len(nonEmpty(call.keys))
}

// unqueue takes a queued call out of its queue (s.mu held). A create stays
// in ready, where pump skips it.
func (s *BatchSender) unqueue(call *sendCall) {
	if call.create != nil {
		return
	}
	if q := s.convs[call.conv]; q != nil {
		if i := slices.Index(q.calls, call); i >= 0 {
			q.calls = slices.Delete(q.calls, i, i+1)
		}
	}
}

// resolve gives the caller its result, once (s.mu held).
func (s *BatchSender) resolve(call *sendCall, msgs []*Message, conv *Conversation, err error) {
	if call.resolved {
		return
	}
	call.resolved = true
	call.p.msgs, call.p.conv, call.p.err = msgs, conv, err
	close(call.p.done)
}

// settle marks a call as done with (s.mu held).
func (s *BatchSender) settle(call *sendCall) {
	if call.state == sendSettled {
		return
	}
	call.state = sendSettled
	call.stop()
	delete(s.outstanding, call)
	close(call.settled)
}

// finish gives a call its result and settles it.
func (s *BatchSender) finish(call *sendCall, msgs []*Message, conv *Conversation, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolve(call, msgs, conv, err)
	s.settle(call)
}

// pump starts the requests that may start now, oldest waiting first, and
// arms the timer for the next slot when some must wait (s.mu held).
func (s *BatchSender) pump() {
	for len(s.ready) > 0 {
		it := s.ready[0]
		switch {
		case it.create != nil && it.create.state != sendQueued:
			s.ready = s.ready[1:]
			continue
		case it.q != nil && len(it.q.calls) == 0:
			s.ready = s.ready[1:]
			it.q.waiting = false
			s.forget(it.q)
			continue
		}
		now := time.Now()
		if d := s.pace.wait(now); d > 0 {
			s.arm(d)
			return
		}
		s.ready = s.ready[1:]
		if call := it.create; call != nil {
			call.state = sendInFlight
			s.pace.take(now)
			s.running.Add(1)
			go s.runCreate(call)
			continue
		}
		q := it.q
		q.waiting = false
		batch := s.takeBatch(q)
		if len(batch) == 0 {
			s.forget(q)
			continue
		}
		q.busy = true
		s.pace.take(now)
		s.running.Add(1)
		go s.runBatch(q, batch)
	}
	s.disarm()
}

// takeBatch takes the calls of the next request from the front of q: as
// many as fit in a batch, stopping before a call with a caller-set key
// already taken (s.mu held). A call whose context has ended is not sent.
func (s *BatchSender) takeBatch(q *sendQueue) []*sendCall {
	var batch []*sendCall
	n := 0
	keys := map[string]bool{}
	i := 0
	for ; i < len(q.calls); i++ {
		call := q.calls[i]
		if err := call.ctx.Err(); err != nil {
			s.resolve(call, nil, nil, notSent(call, err))
			s.settle(call)
			continue
		}
		if n+len(call.msgs) > s.maxBatch || slices.ContainsFunc(call.own, func(k string) bool { return keys[k] }) {
			break
		}
		for _, k := range call.own {
			keys[k] = true
		}
		n += len(call.msgs)
		call.state = sendInFlight
		batch = append(batch, call)
	}
	q.calls = slices.Delete(q.calls, 0, i)
	return batch
}

// forget drops an idle queue (s.mu held).
func (s *BatchSender) forget(q *sendQueue) {
	if !q.busy && !q.waiting && len(q.calls) == 0 && s.convs[q.id] == q {
		delete(s.convs, q.id)
	}
}

func (s *BatchSender) arm(d time.Duration) {
	if s.timer == nil {
		s.timer = time.AfterFunc(d, s.onTimer)
	} else {
		s.timer.Reset(d)
	}
	s.armed = true
}

func (s *BatchSender) disarm() {
	if s.armed {
		s.timer.Stop()
		s.armed = false
	}
}

func (s *BatchSender) onTimer() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.armed = false
	s.pump()
}

// runCreate sends a create, under its caller's context (and the sender's).
func (s *BatchSender) runCreate(call *sendCall) {
	defer s.running.Done()
	ctx, cancel := context.WithCancel(call.ctx)
	stop := context.AfterFunc(s.ctx, cancel)
	conv, _, err := s.c.Conversations.Create(ctx, call.create)
	stop()
	cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.resolve(call, nil, conv, err)
	s.settle(call)
	s.pump()
}

// runBatch sends one batch of a conversation, then lets the conversation
// take its next turn.
func (s *BatchSender) runBatch(q *sendQueue, batch []*sendCall) {
	defer s.running.Done()
	s.deliverCalls(s.ctx, nil, q.id, batch, false)
	s.mu.Lock()
	defer s.mu.Unlock()
	q.busy = false
	if len(q.calls) > 0 {
		q.waiting = true
		s.ready = append(s.ready, readyItem{q: q})
	} else {
		s.forget(q)
	}
	s.pump()
}

// deliverCalls sends the messages of calls in one request, exactly once,
// and gives each call its own part of the outcome, as Conversations.Send
// does for one call: the keys the callers set are looked up first (one
// request for the batch), then the loop guard reserves each call's messages
// not found stored, then the rest goes (deliverEach). A batch of several
// calls refused whole for its content is looked up by deliverEach (the
// refused request may have stored part of it); each call not found stored
// whole is sent again in its own request (again set, call.stored holding
// what the lookup found), only its messages found missing, so nothing is
// sent twice. obs is the observed call the batch is part of: nil for a new
// batch, which begins its own (a Send); the call of the batch refused whole
// for the calls sent again.
func (s *BatchSender) deliverCalls(ctx context.Context, obs *obsCall, conversationID string, calls []*sendCall, again bool) {
	if len(calls) == 0 {
		return
	}
	var err error
	if obs == nil {
		var own *obsCall
		ctx, own = s.c.startCall(ctx, conversationsPath, "Send") // observer.go: a batch is a Send
		defer own.end(ctx, &err)
		obs = own
	}
	c := s.c
	lookup := func(call *sendCall) []string {
		if again {
			return nil // looked up after the refusal
		}
		return call.own
	}
	var found map[string]*Message
	if !c.noDeliveryTracking {
		var keys []string
		for _, call := range calls {
			keys = append(keys, lookup(call)...)
		}
		if len(keys) > 0 {
			var lerr error
			if found, _, lerr = c.lookupMessages(ctx, conversationID, keys); lerr != nil {
				// Nothing of the calls that asked was sent; the others go.
				rest := make([]*sendCall, 0, len(calls))
				for _, call := range calls {
					if len(lookup(call)) > 0 {
						s.finish(call, nil, nil, lerr)
					} else {
						rest = append(rest, call)
					}
				}
				calls, err = rest, lerr
			}
		}
	}
	live := make([]*sendCall, 0, len(calls))
	for _, call := range calls {
		if !again {
			call.stored = make([]*Message, len(call.msgs))
		}
		call.send = call.send[:0]
		for i := range call.msgs {
			if k := call.key(i); k != "" && found[k] != nil {
				call.stored[i] = found[k]
			}
			if call.stored[i] == nil {
				call.send = append(call.send, i)
			}
		}
		var loop []LoopMessage
		if call.loop != nil {
			loop = pick(call.loop, call.send)
		}
		ls, rerr := c.loopReserve(ctx, conversationID, loop)
		if rerr != nil {
			if s.ctx.Err() != nil {
				rerr = fmt.Errorf("%w: %s not sent", ErrSenderClosed, call.what())
			}
			s.finish(call, nil, nil, rerr)
			continue
		}
		call.ls = ls
		live = append(live, call)
	}
	calls = live
	if len(calls) == 0 {
		return
	}
	var msgs []MessageInput
	var keys []string
	var stored []*Message
	for _, call := range calls {
		msgs = append(msgs, call.msgs...)
		stored = append(stored, call.stored...)
		for i := range call.msgs {
			keys = append(keys, call.key(i))
		}
	}
	path := calls[0].path
	var got []*Message
	var outcomes []sendOutcome
	if c.noDeliveryTracking {
		var out []*Message
		var resp *Response
		out, resp, err = c.postMessages(ctx, obs, path, msgs, nil)
		got = make([]*Message, len(msgs))
		copy(got, out)
		outcomes = sameOutcome(len(msgs), outcomeOf(resp, err))
		if err == nil && len(out) < len(msgs) {
			// Without keys, the messages the answer leaves out cannot be
			// looked up: taken in order, the answer's are the first.
			for i := len(out); i < len(msgs); i++ {
				outcomes[i] = outcomeUnknown
			}
			err = untrackedAnswer(conversationID, resp, len(out), len(msgs), err)
		}
	} else {
		got, _, outcomes, _, err = c.deliverEach(ctx, obs, path, conversationID, msgs, keys, stored)
	}
	refusedWhole := !again && len(calls) > 1 && refusedContent(err)
	var retry []*sendCall
	lo := 0
	for _, call := range calls {
		hi := lo + len(call.msgs)
		g, o := got[lo:hi], outcomes[lo:hi]
		lo = hi
		c.loopSettle(ctx, call.ls, pick(o, call.send))
		if refusedWhole && resendable(g, o) {
			// Sent again alone, without what the lookup found stored; its
			// reservation was released above: it reserves again.
			call.stored = g
			retry = append(retry, call)
			continue
		}
		out, cerr := call.result(g, o, err)
		s.finish(call, out, nil, cerr)
	}
	for _, call := range retry {
		s.deliverCalls(ctx, obs, conversationID, []*sendCall{call}, true)
	}
}

// key is the delivery key of a call's i-th message ("" for a "/set" command
// without one, or with delivery tracking off).
func (call *sendCall) key(i int) string {
	if call.keys == nil {
		return ""
	}
	return call.keys[i]
}

// result is a call's own part of a batch's outcome (err the batch's error):
// its stored messages, in order, and no error when all are stored. Otherwise
// an error that is the call's own: when some of its messages are in doubt,
// the batch's *DeliveryUnknownError narrowed to its own messages; when some
// are stored and the rest known not stored, a *DeliveryUnknownError naming
// every key of the call (see partlyStored), with the batch's error as Err;
// when none is stored, the batch's error (the cause, for a batch's
// *DeliveryUnknownError about other calls), so that sending the call again
// stores nothing twice.
func (call *sendCall) result(got []*Message, outcomes []sendOutcome, err error) ([]*Message, error) {
	out := make([]*Message, 0, len(got))
	all, unknown := true, false
	for i, m := range got {
		switch {
		case m != nil:
			out = append(out, m)
		case outcomes[i] == outcomeCreated:
		case outcomes[i] == outcomeUnknown:
			all, unknown = false, true
		default:
			all = false
		}
	}
	if all || err == nil {
		return out, nil
	}
	var due *DeliveryUnknownError
	isDue := errors.As(err, &due)
	if unknown && isDue {
		mine := make(map[string]bool, len(call.keys))
		for _, k := range call.keys {
			mine[k] = k != ""
		}
		own := *due
		own.Keys = nil
		for _, k := range due.Keys {
			if mine[k] {
				own.Keys = append(own.Keys, k)
			}
		}
		own.Unkeyed = 0
		for i := range got {
			if call.key(i) == "" && got[i] == nil && outcomes[i] == outcomeUnknown {
				own.Unkeyed++
			}
		}
		return out, &own
	}
	if isDue && due.Err != nil {
		err = due.Err // not about this call's messages, which are known
	}
	return out, partlyStored(call.conv, call.keys, got, outcomes, err)
}

// resendable reports whether a call of a batch refused whole may go again
// in a request of its own: none of its messages is in doubt, and not all are
// stored.
func resendable(got []*Message, outcomes []sendOutcome) bool {
	all := true
	for i := range got {
		switch {
		case got[i] != nil:
		case outcomes[i] == outcomeUnknown:
			return false
		case outcomes[i] != outcomeCreated:
			all = false
		}
	}
	return !all
}

// sendPace is the BatchSender's count of the requests it started in the
// last second, against the client's rate: it decides when a batch is put
// together, never when a request leaves (the limiter does).
type sendPace struct {
	n     int         // requests per second; 0: no pacing
	times []time.Time // the last n starts, a ring once full
	next  int         // the oldest, once full
}

// pacingWindow is the window the pacing counts in: the API's second. The
// client's limiter counts each slot for the second plus a margin from the
// end of its attempt, so a batch is put together at most that margin and a
// round trip before its request may leave, never after.
const pacingWindow = time.Second

// wait returns how long until another request may start.
func (p *sendPace) wait(now time.Time) time.Duration {
	if p.n <= 0 || len(p.times) < p.n {
		return 0
	}
	return max(p.times[p.next].Add(pacingWindow).Sub(now), 0)
}

// take records a request started at now.
func (p *sendPace) take(now time.Time) {
	if p.n <= 0 {
		return
	}
	if len(p.times) < p.n {
		p.times = append(p.times, now)
		return
	}
	p.times[p.next] = now
	p.next = (p.next + 1) % p.n
}
