package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: the platform signs webhooks with HMAC-SHA1 (X-Hub-Signature)
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"math"
	"net/http"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// The webhook receiver: the URL challenge, signature checks, decoding,
// duplicate suppression, routing to handlers, the bot filters and the
// optional background queue.

const (
	// DefaultMaxBody is the largest webhook body accepted unless [WithMaxBody]
	// says otherwise.
	DefaultMaxBody = 1 << 20
	// DefaultDedupe is how many event IDs the in-memory duplicate
	// suppression remembers unless [WithDedupe] says otherwise.
	DefaultDedupe = 10000
	// DedupeTTL is how long the in-memory duplicate suppression remembers an
	// event ID: the platform retries a delivery for up to 24 hours.
	DedupeTTL = 24 * time.Hour

	// selfRetryInterval spaces out lookups of the own user ID while it is unknown.
	selfRetryInterval = time.Minute
)

// HandlerFunc handles one webhook event. Returning an error makes a
// synchronous handler answer 500, so the platform delivers the event again.
type HandlerFunc func(ctx context.Context, e *Event) error

// ErrClosed is returned by [Handler.Dispatch] after [Handler.Shutdown] began.
var ErrClosed = errors.New("chatshipper: webhook handler is shut down")

// ErrInProgress is returned by [Handler.Dispatch] when another delivery of
// the same event is still being handled, so its outcome is unknown: try again
// later, as the platform does after the 503 ServeHTTP answers then.
var ErrInProgress = errors.New("chatshipper: webhook event is being handled by another delivery")

// PanicError is the error a recovered panic of a handler or a filter
// becomes. It reaches the error handler and the log, never the HTTP response.
type PanicError struct {
	// Pattern is the pattern the panicking handler or filter was registered
	// with ("" for a panic outside any route, e.g. in the own-user lookup).
	Pattern string
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error names the pattern and the panic value.
func (e *PanicError) Error() string {
	return fmt.Sprintf("chatshipper: webhook handler for %q panicked: %v", e.Pattern, e.Value)
}

// Handler is an [http.Handler] receiving ChatShipper webhooks. It answers the
// subscription challenge (GET ?type=subscribe&challenge=X), checks each
// POST's signature before reading its JSON, decodes it into an [Event], drops
// duplicate deliveries, and runs every handler whose pattern and filters
// match, in registration order. Answers: 200 on success (also when no handler
// matched; the body is always empty, since the platform may read a body as
// messages to post), 400 malformed, 401 bad signature, 405 wrong method, 413
// too large, 500 a handler failed (the platform retries), 503 queue full,
// the same event still running in another delivery, duplicate check
// unavailable, or shutting down (the platform retries). [Handler.Dispatch]
// runs an event received some other way through the same routing.
//
// Without [WithSecret] signatures are not checked and anyone who can reach
// the URL can inject events: use it only behind another check (HTTP basic
// auth in the webhook URL, a private network) or in tests.
//
// Create one with [NewHandler] (the zero value is not ready for use). It is
// safe for concurrent use; Handle may be called while it serves.
//
// Subscribing: https://developers.web1on1.chat/webhooks/subscribing ;
// answering: https://developers.web1on1.chat/webhooks/responding/
type Handler struct {
	// newMAC returns an HMAC keyed with the secret, or nil without one. The
	// secret lives only in this closure, never in a field that %+v could print.
	newMAC  func() hash.Hash
	macPool sync.Pool // of *pooledMAC
	maxBody int64

	routes atomic.Pointer[[]route]
	regMu  sync.Mutex // serialises Handle

	dedupe    Deduper // nil when duplicate suppression is off
	ownDedupe bool    // dedupe is this handler's own in-memory one

	skipBots    bool
	includeSelf bool
	selfUser    string
	selfLookup  func(context.Context) string // nil unless a client is set
	selfMu      sync.Mutex
	selfID      atomic.Pointer[string]
	selfTried   time.Time
	client      Client // nil unless WithClient

	onError   func(*Event, error)
	logger    *slog.Logger
	loggerSet bool      // WithLogger was given: no fallback to slog.Default
	selfWarn  sync.Once // the unknown own user is logged once
	obs       Observer  // nil: nothing is observed (observer.go)

	bots botFeatures // conversation contexts, answers, middleware (bot.go)

	// Lifecycle: mu guards closed, inflight and the queue send.
	mu       sync.Mutex
	closed   bool
	inflight int           // synchronous dispatches running
	syncIdle chan struct{} // closed when closed and inflight == 0
	queue    chan queued   // nil in synchronous mode
	workers  sync.WaitGroup
	stopOnce sync.Once
	stopped  chan struct{} // closed when everything acknowledged is done
}

type route struct {
	pattern string
	words   eventPattern
	fn      HandlerFunc
	filters []func(*Event) bool
	scope   string // names the route in reply delivery keys (bot.go)
}

type queued struct {
	ctx   context.Context
	ev    *Event
	claim DedupeClaim
}

// NewHandler returns a handler configured by opts. Register handlers with
// [Handler.Handle] or [Handler.OnMessage]. In asynchronous mode its workers
// run until [Handler.Shutdown].
func NewHandler(opts ...Option) (*Handler, error) {
	cfg := config{maxBody: DefaultMaxBody, dedupe: DefaultDedupe}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	h := &Handler{
		maxBody:     cfg.maxBody,
		skipBots:    cfg.skipBots,
		includeSelf: cfg.includeSelf,
		selfUser:    cfg.selfUser,
		onError:     cfg.onError,
		logger:      cfg.logger,
		loggerSet:   cfg.loggerSet,
		obs:         cfg.observer,
		stopped:     make(chan struct{}),
		syncIdle:    make(chan struct{}),
	}
	if cfg.hasSecret {
		key := []byte(cfg.secret)
		h.newMAC = func() hash.Hash { return hmac.New(sha1.New, key) }
		h.macPool.New = func() any { return &pooledMAC{mac: h.newMAC()} }
	} else if h.logger != nil {
		h.logger.Warn("chatshipper: webhook handler without a secret: signatures are not checked")
	}
	switch {
	case cfg.deduper != nil && cfg.dedupeSet:
		return nil, argError("WithDeduper", "cannot be combined with WithDedupe")
	case cfg.deduper != nil:
		h.dedupe = cfg.deduper
	case cfg.dedupe > 0:
		d, err := NewMemoryDeduper(cfg.dedupe, DedupeTTL)
		if err != nil {
			return nil, err
		}
		h.dedupe, h.ownDedupe = d, true
	}
	if cl := cfg.client; cl != nil {
		h.client = cl
		if h.selfUser == "" {
			h.selfLookup = func(ctx context.Context) string {
				id, err := cl.SelfUserID(ctx)
				if err != nil {
					if ctx.Err() == nil {
						// Once, not per event: the answer rarely changes.
						h.selfWarn.Do(func() {
							if l := h.lostLogger(); l != nil {
								l.LogAttrs(ctx, slog.LevelWarn, "chatshipper: webhook: own user unknown, so the bot's own messages are not skipped; give its user ID with webhook.WithSelfUser",
									slog.String("error", err.Error()))
							}
						})
					}
					return ""
				}
				return id
			}
		}
	}
	h.routes.Store(new([]route))
	h.bots.init(&cfg)
	if cfg.workers > 0 {
		h.queue = make(chan queued, cfg.queueSize)
		h.workers.Add(cfg.workers)
		for range cfg.workers {
			go h.work()
		}
	}
	return h, nil
}

// Handle registers fn for the events whose name matches pattern and that
// every filter accepts. A pattern is the event name's dot-separated words,
// where "*" stands for exactly one word and "**" for any number of words
// (none included): "message.create.contact.*", "message.**", "*.update",
// "message.create.*.chat", "service.create". Every matching handler runs, in
// registration order, even when an earlier one failed; a retried delivery runs
// all of them again, so handlers should be idempotent.
//
// Handle returns a [*chatshipper.ArgumentError] (errors.Is
// [chatshipper.ErrInvalidArgument]) for an empty pattern or word, a partial
// wildcard such as "mess*", a nil fn or a filter built from bad arguments;
// nothing is registered then.
func (h *Handler) Handle(pattern string, fn HandlerFunc, filters ...EventFilter) error {
	words, err := parsePattern(pattern)
	if err != nil {
		return err
	}
	if fn == nil {
		return argError("fn", "nil HandlerFunc for %q", wire.Truncate(pattern, 64))
	}
	rt := route{pattern: pattern, words: words, fn: fn}
	for i, f := range filters {
		if f.err != nil {
			return f.err
		}
		if f.match == nil {
			return argError(fmt.Sprintf("filters[%d]", i), "zero EventFilter; build it with a filter constructor")
		}
		rt.filters = append(rt.filters, f.match)
	}
	h.regMu.Lock()
	defer h.regMu.Unlock()
	old := *h.routes.Load()
	rt.scope = routeScope(old, pattern)
	next := make([]route, len(old), len(old)+1)
	copy(next, old)
	next = append(next, rt)
	h.routes.Store(&next)
	return nil
}

// OnMessage registers fn for every new message: Handle("message.create.**",
// fn, filters...).
func (h *Handler) OnMessage(fn HandlerFunc, filters ...EventFilter) error {
	return h.Handle("message.create.**", fn, filters...)
}

// ServeHTTP answers the challenge and receives deliveries; see Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet:
		h.serveChallenge(w, r)
	case http.MethodPost:
		h.serveDelivery(w, r)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveChallenge echoes the verification challenge as plain text. The body
// is the caller's input, so the browser is told not to sniff it as HTML.
func (h *Handler) serveChallenge(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	challenge := q.Get("challenge")
	if q.Get("type") != "subscribe" || challenge == "" {
		http.Error(w, "not a subscription challenge", http.StatusBadRequest)
		return
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/plain; charset=utf-8")
	hd.Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, challenge) //nolint:gosec // G705: the protocol echoes the challenge; text/plain with nosniff
}

func (h *Handler) serveDelivery(w http.ResponseWriter, r *http.Request) {
	if h.isClosed() {
		h.observeEvent(r.Context(), nil, Observation{Outcome: OutcomeUnavailable, Status: http.StatusServiceUnavailable})
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	body, status := h.readBody(w, r)
	if status != 0 {
		if status == http.StatusRequestEntityTooLarge {
			// Close the connection after the answer: without it net/http
			// would first drain up to 256 KiB of the unread body, so a
			// declared length over the cap would be read (or waited for)
			// before the 413.
			w.Header().Set("Connection", "close")
		}
		h.refuse(w, r, status, "body too large or unreadable")
		return
	}
	if h.newMAC != nil {
		if err := h.verify(body, r.Header.Values(SignatureHeader)); err != nil {
			h.refuse(w, r, http.StatusUnauthorized, err.Error())
			return
		}
	}
	e, err := parseEvent(body)
	if err != nil {
		h.refuse(w, r, http.StatusBadRequest, err.Error())
		return
	}
	h.observe(e)
	h.observeVerified(r.Context(), e)

	claim, err := h.begin(r.Context(), e)
	switch st := claim.State; {
	case err != nil:
		h.dedupeFailed(r.Context(), e, err)
		http.Error(w, "duplicate check unavailable", http.StatusServiceUnavailable)
		return
	case st == DedupeDone:
		w.WriteHeader(http.StatusOK)
		return
	case st == DedupeRunning:
		if h.queue != nil && h.ownDedupe {
			// Acknowledged earlier by this handler and queued or running
			// here: it will be handled.
			w.WriteHeader(http.StatusOK)
			return
		}
		// Another run of the same event is still going (the platform gave
		// up waiting on it, or another replica has it). Its outcome is
		// unknown, so ask for a retry.
		http.Error(w, "event is being processed", http.StatusServiceUnavailable)
		return
	}

	if h.queue != nil {
		h.enqueue(w, r, e, claim)
		return
	}
	if !h.beginSync() {
		h.finish(r.Context(), claim, false)
		h.observeEvent(r.Context(), e, Observation{Outcome: OutcomeUnavailable, Status: http.StatusServiceUnavailable})
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	err = h.process(r.Context(), e, claim) // never panics: dispatch recovers
	h.endSync()
	if err != nil {
		http.Error(w, "handler failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// Dispatch runs an event that was received, verified and decoded elsewhere
// (a serverless function, a queue consumer: see [VerifySignature] and
// [ParseEvent]) through the same steps as a delivery to ServeHTTP: the
// client's loop guard is shown its message, a duplicate is recognised, the
// bot filters apply, and every handler whose pattern and filters match runs,
// in the calling goroutine (also with [WithAsync]); a failure goes to the
// error handler and the log.
//
// It returns nil when the handlers succeeded, when none matched, and for a
// duplicate of an event already handled (the handlers do not run again). It
// returns the joined handler errors when one failed (the event is then
// forgotten by the duplicate check, so handing it over again runs it again),
// [ErrInProgress] when another delivery of the event is still running, an
// error wrapping the [Deduper]'s when that cannot answer, [ErrClosed] once
// Shutdown began, and a [*chatshipper.ArgumentError] for a nil event or an
// event without a name. Shutdown waits for running Dispatch calls.
func (h *Handler) Dispatch(ctx context.Context, e *Event) error {
	switch {
	case ctx == nil:
		return argError("ctx", "nil context")
	case e == nil:
		return argError("e", "nil *Event")
	case e.Name == "":
		return argError("e.Name", "must not be empty")
	}
	if !h.beginSync() {
		return ErrClosed
	}
	defer h.endSync()
	h.observe(e)
	claim, err := h.begin(ctx, e)
	switch {
	case err != nil:
		h.dedupeFailed(ctx, e, err)
		return fmt.Errorf("chatshipper: webhook duplicate check: %w", err)
	case claim.State == DedupeDone:
		return nil
	case claim.State == DedupeRunning:
		return ErrInProgress
	}
	return h.process(ctx, e, claim)
}

// observe shows the client's loop guard the event's message.
func (h *Handler) observe(e *Event) {
	if h.client != nil && e.Data.Message != nil {
		h.client.ObserveMessages(e.Data.Message)
	}
}

// begin claims the event ID with the Deduper. Events without an ID, and
// every event when duplicate suppression is off, are new (a claim without a
// token, which finish skips).
func (h *Handler) begin(ctx context.Context, e *Event) (DedupeClaim, error) {
	if h.dedupe == nil || e.ID == "" {
		return DedupeClaim{ID: e.ID, State: DedupeNew}, nil
	}
	claim, err := h.dedupe.Begin(ctx, e.ID)
	h.observeBegin(ctx, e, claim.State, err)
	return claim, err
}

// finish records the outcome of this delivery's claim. It runs after the
// handlers even when the request was cancelled meanwhile, so the claim is
// always settled.
func (h *Handler) finish(ctx context.Context, claim DedupeClaim, ok bool) {
	if h.dedupe == nil || claim.ID == "" {
		return
	}
	if !h.ownDedupe { // the in-memory one does not look at ctx
		ctx = context.WithoutCancel(ctx)
	}
	if err := h.dedupe.Finish(ctx, claim, ok); err != nil && h.logger != nil {
		h.logger.LogAttrs(ctx, slog.LevelError, "chatshipper: webhook duplicate check could not record an outcome",
			slog.String("id", claim.ID), slog.Bool("ok", ok), slog.String("error", err.Error()))
	}
}

// dedupeFailed logs a Deduper that could not answer.
func (h *Handler) dedupeFailed(ctx context.Context, e *Event, err error) {
	if h.logger != nil {
		h.logger.LogAttrs(ctx, slog.LevelError, "chatshipper: webhook duplicate check failed",
			slog.String("event", e.Name), slog.String("id", e.ID), slog.String("error", err.Error()))
	}
}

// initialBodyBuffer bounds the buffer allocated before any byte of a body
// has arrived; a typical event is a few KiB.
const initialBodyBuffer = 32 << 10

// readBody reads at most maxBody bytes; it returns a status when the body is
// too large (413) or unreadable (400).
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	if r.ContentLength > h.maxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	// The usual delivery: a few KiB of known length, read into one buffer of
	// that length and one byte more, which the reader's EOF leaves unused
	// (net/http stops a body at its length). Only a Request made some other
	// way can hold more than it claims; the rest of it is then read below.
	var head []byte
	if n := r.ContentLength; n >= 0 && n <= initialBodyBuffer {
		buf := make([]byte, 0, n+1)
		for len(buf) < cap(buf) {
			m, err := r.Body.Read(buf[len(buf):cap(buf)])
			buf = buf[:len(buf)+m]
			if err == io.EOF {
				return buf[:len(buf):len(buf)], 0
			}
			if err != nil {
				return nil, http.StatusBadRequest
			}
		}
		head = buf
	}
	// A body of unknown length (chunked) is read through MaxBytesReader,
	// which reads at most maxBody+1 bytes and tells the server to close the
	// connection instead of draining an oversized body. net/http stops a
	// body of known length at that length, which is at most maxBody here; a
	// Request made some other way is still read to maxBody+1 bytes at most.
	var rd io.Reader
	if r.ContentLength < 0 {
		rd = http.MaxBytesReader(w, r.Body, h.maxBody)
	} else {
		rd = &io.LimitedReader{R: r.Body, N: min(h.maxBody, math.MaxInt64-1) + 1 - int64(len(head))}
	}
	// The claimed length only sizes the first buffer, and only up to
	// initialBodyBuffer: memory grows with the bytes that actually arrive,
	// never with what a sender claims it will send. ReadFrom wants
	// bytes.MinRead bytes free before each read, the last one (which sees
	// EOF) included, so a body of the claimed length fits without growing.
	size := bytes.MinRead + len(head)
	if r.ContentLength > 0 {
		size += int(min(r.ContentLength, initialBodyBuffer))
	}
	buf := bytes.NewBuffer(append(make([]byte, 0, size), head...))
	if _, err := buf.ReadFrom(rd); err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, http.StatusRequestEntityTooLarge
		}
		return nil, http.StatusBadRequest
	}
	if int64(buf.Len()) > h.maxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	return buf.Bytes(), 0
}

// verify checks the signature headers with a pooled HMAC. More than one
// signature header is refused: which one the platform meant is unknowable.
func (h *Handler) verify(body []byte, headers []string) error {
	switch len(headers) {
	case 0:
		return ErrSignatureMissing
	case 1:
	default:
		return fmt.Errorf("%w: %d X-Hub-Signature headers", ErrSignatureMalformed, len(headers))
	}
	pm := h.macPool.Get().(*pooledMAC)
	pm.mac.Reset()
	err := verifySignature(pm.mac, body, headers[0], pm.sum[:0])
	h.macPool.Put(pm)
	return err
}

// pooledMAC is a keyed HMAC and room for its sum, reused across deliveries.
type pooledMAC struct {
	mac hash.Hash
	sum [sha1.Size]byte
}

// refuse answers a delivery that never reached the handlers. The reason is
// logged but not sent: it is for the operator, not whoever sent the request.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	h.observeEvent(r.Context(), nil, Observation{Outcome: OutcomeRefused, Status: status})
	if h.logger != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "chatshipper: webhook delivery refused",
			slog.Int("status", status), slog.String("reason", reason), slog.String("remote", r.RemoteAddr))
	}
	http.Error(w, http.StatusText(status), status)
}

// enqueue hands an event to the workers, or answers 503 when the queue is
// full, forgetting the event ID so the platform's retry is not taken for a
// duplicate.
func (h *Handler) enqueue(w http.ResponseWriter, r *http.Request, e *Event, claim DedupeClaim) {
	// The request's values (trace IDs, ...) go along; its cancellation does
	// not, since the handler runs after the answer.
	item := queued{ctx: context.WithoutCancel(r.Context()), ev: e, claim: claim}
	h.mu.Lock()
	ok := !h.closed
	if ok {
		select {
		case h.queue <- item:
		default:
			ok = false
		}
	}
	closed := h.closed
	h.mu.Unlock()
	if !ok {
		h.finish(r.Context(), claim, false)
		h.observeEvent(r.Context(), e, Observation{Outcome: OutcomeUnavailable, Status: http.StatusServiceUnavailable})
		msg := "queue full"
		if closed {
			msg = "shutting down"
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *Handler) work() {
	defer h.workers.Done()
	for item := range h.queue {
		_ = h.process(item.ctx, item.ev, item.claim) // errors go to the error handler inside process
	}
}

// process runs the matching handlers of an accepted event, records the
// outcome for duplicate suppression and reports a failure.
func (h *Handler) process(ctx context.Context, e *Event, claim DedupeClaim) error {
	ctx, hs := h.startHandling(ctx, e) // ctx itself unless observed (observer.go)
	err := h.dispatch(ctx, e)
	hs.end(ctx, err)
	h.finish(ctx, claim, err == nil)
	if err != nil {
		h.report(ctx, e, err)
	}
	return err
}

// dispatch runs every handler whose pattern and filters match e (see
// Handler.route). A panic in code it calls (a filter, a middleware, the
// own-user lookup) becomes an error like a handler's, so the event's
// bookkeeping always completes.
func (h *Handler) dispatch(ctx context.Context, e *Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	return h.route(ctx, e)
}

// run applies the route's filters and, if they all accept, its handler; ran
// reports whether the handler ran. A panic in either becomes a *PanicError,
// so one faulty handler cannot take the server (or a worker) down.
func (rt *route) run(ctx context.Context, e *Event) (ran bool, err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &PanicError{Pattern: rt.pattern, Value: v, Stack: debug.Stack()}
		}
	}()
	for _, f := range rt.filters {
		if !f(e) {
			return false, nil
		}
	}
	ran = true
	return true, rt.fn(ctx, e)
}

// lostLogger is where what nobody else would hear of is logged: the
// WithLogger logger, else slog.Default(); nil after WithLogger(nil).
func (h *Handler) lostLogger() *slog.Logger {
	if h.loggerSet {
		return h.logger
	}
	return slog.Default()
}

// report hands a failure to the error handler and the log (slog.Default()
// when neither a logger nor an error handler is set, so it is never silent).
// A panicking error handler is contained, as it may run on a worker.
func (h *Handler) report(ctx context.Context, e *Event, err error) {
	l := h.logger
	if l == nil && h.onError == nil {
		l = h.lostLogger()
	}
	if l != nil {
		l.LogAttrs(ctx, slog.LevelError, "chatshipper: webhook handler failed",
			slog.String("event", e.Name), slog.String("id", e.ID), slog.String("error", err.Error()))
	}
	if h.onError == nil {
		return
	}
	defer func() {
		if v := recover(); v != nil && h.logger != nil {
			h.logger.LogAttrs(ctx, slog.LevelError, "chatshipper: webhook error handler panicked",
				slog.String("event", e.Name), slog.String("id", e.ID))
		}
	}()
	h.onError(e, err)
}

func (h *Handler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *Handler) beginSync() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.inflight++
	return true
}

func (h *Handler) endSync() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.inflight--
	if h.closed && h.inflight == 0 {
		close(h.syncIdle)
	}
}

// Shutdown stops accepting deliveries (they are answered 503, so the platform
// retries them later) and waits until every acknowledged event has been
// handled: the queue drained and the workers stopped, or, in synchronous mode,
// the running handlers returned. It returns nil then, or ctx.Err() if ctx ends
// first; the work still goes on in the background. Further calls wait
// likewise. Use it after http.Server.Shutdown, or in its RegisterOnShutdown.
func (h *Handler) Shutdown(ctx context.Context) error {
	h.stopOnce.Do(func() {
		h.mu.Lock()
		h.closed = true
		if h.queue != nil {
			close(h.queue) // enqueue checks closed under mu, so no send follows
		}
		if h.inflight == 0 {
			close(h.syncIdle)
		}
		h.mu.Unlock()
		go func() {
			h.workers.Wait()
			<-h.syncIdle
			close(h.stopped)
		}()
	})
	select {
	case <-h.stopped:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// argError is the error for an argument refused before any I/O, the same
// type the client returns, so errors.Is(err, chatshipper.ErrInvalidArgument)
// holds for both.
func argError(name, format string, args ...any) error {
	return &chatshipper.ArgumentError{Name: name, Reason: fmt.Sprintf(format, args...)}
}
