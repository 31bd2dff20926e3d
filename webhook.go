package chatshipper

import (
	"context"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: the platform signs webhooks with HMAC-SHA1 (X-Hub-Signature)
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// The webhook receiver (api-notes §9): the URL challenge, signature checks,
// decoding, duplicate suppression, routing to handlers, the bot filters and
// the optional background queue.

const (
	// DefaultWebhookMaxBody is the largest webhook body accepted unless
	// WithWebhookMaxBody says otherwise.
	DefaultWebhookMaxBody = 1 << 20
	// DefaultWebhookDedupe is how many event IDs are remembered for
	// duplicate suppression unless WithWebhookDedupe says otherwise.
	DefaultWebhookDedupe = 10000
	// WebhookDedupeTTL is how long an event ID is remembered: the platform
	// retries a delivery for up to 24 hours.
	WebhookDedupeTTL = 24 * time.Hour

	// selfRetryInterval spaces out lookups of the own user ID while it is unknown.
	selfRetryInterval = time.Minute
)

// HandlerFunc handles one webhook event. Returning an error makes a
// synchronous handler answer 500, so the platform delivers the event again.
type HandlerFunc func(ctx context.Context, e *Event) error

// WebhookOption configures a WebhookHandler. NewWebhookHandler returns the
// first option error.
type WebhookOption func(*webhookConfig) error

type webhookConfig struct {
	secret      string
	hasSecret   bool
	maxBody     int64
	dedupe      int
	workers     int
	queueSize   int
	onError     func(*Event, error)
	client      *Client
	selfUser    string
	includeSelf bool
	skipBots    bool
	logger      *slog.Logger
}

// WithWebhookSecret makes the handler accept only deliveries whose
// X-Hub-Signature matches the body under secret (the webhook service's
// params.secret); any other POST is answered 401 and reaches no handler.
// An empty secret is refused, so a secret missing from the environment is
// noticed rather than silently turning verification off.
func WithWebhookSecret(secret string) WebhookOption {
	return func(c *webhookConfig) error {
		if secret == "" {
			return argError("WithWebhookSecret", "empty secret (leave the option out to run without verification)")
		}
		c.secret, c.hasSecret = secret, true
		return nil
	}
}

// WithWebhookMaxBody caps the size of a delivery's body (default 1 MiB). A
// larger body is answered 413 after reading at most n+1 bytes.
func WithWebhookMaxBody(n int64) WebhookOption {
	return func(c *webhookConfig) error {
		if n <= 0 {
			return argError("WithWebhookMaxBody", "must be positive, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

// WithWebhookDedupe sets how many event IDs are remembered, each for 24 hours,
// to acknowledge a repeated delivery without running the handlers again
// (default 10,000; 0 turns duplicate suppression off). When more IDs arrive,
// the oldest are forgotten first.
func WithWebhookDedupe(n int) WebhookOption {
	return func(c *webhookConfig) error {
		if n < 0 {
			return argError("WithWebhookDedupe", "must not be negative, got %d", n)
		}
		c.dedupe = n
		return nil
	}
}

// WithWebhookAsync makes the handler answer 200 as soon as a delivery is
// verified and decoded, and run the handlers on workers goroutines fed by a
// queue of queueSize events. When the queue is full the delivery is answered
// 503, so the platform delivers it again later: an acknowledged event is never
// dropped. Handler errors go to WithWebhookErrorHandler. Stop the workers with
// Shutdown.
func WithWebhookAsync(workers, queueSize int) WebhookOption {
	return func(c *webhookConfig) error {
		if workers < 1 {
			return argError("WithWebhookAsync", "workers must be at least 1, got %d", workers)
		}
		if queueSize < 1 {
			return argError("WithWebhookAsync", "queueSize must be at least 1, got %d", queueSize)
		}
		c.workers, c.queueSize = workers, queueSize
		return nil
	}
}

// WithWebhookErrorHandler sets a function told of every failed event: the
// joined errors of its failing handlers, panics included (as
// *WebhookPanicError). It is the only place asynchronous failures surface; in
// synchronous mode it is called before the 500 is sent. It may be called from
// several goroutines at once.
func WithWebhookErrorHandler(fn func(e *Event, err error)) WebhookOption {
	return func(c *webhookConfig) error {
		if fn == nil {
			return argError("WithWebhookErrorHandler", "nil function")
		}
		c.onError = fn
		return nil
	}
}

// WithWebhookClient connects the handler to a Client: every message seen in an
// event is shown to the client's bot loop guard (a contact or agent message
// resets its counters for that conversation), and, unless
// WithWebhookSelfUser is given, the client's own user ID is looked up for the
// self filter.
func WithWebhookClient(cl *Client) WebhookOption {
	return func(c *webhookConfig) error {
		if cl == nil {
			return argError("WithWebhookClient", "nil *Client")
		}
		c.client = cl
		return nil
	}
}

// WithWebhookSelfUser sets the bot's own user ID, so that messages it wrote
// itself are not dispatched (a bot never answers itself).
func WithWebhookSelfUser(userID string) WebhookOption {
	return func(c *webhookConfig) error {
		if err := checkID("WithWebhookSelfUser", userID); err != nil {
			return err
		}
		c.selfUser = userID
		return nil
	}
}

// WithWebhookIncludeSelf dispatches message.create events written by the own
// user too (they are dropped by default).
func WithWebhookIncludeSelf() WebhookOption {
	return func(c *webhookConfig) error {
		c.includeSelf = true
		return nil
	}
}

// WithWebhookSkipBots drops message.create events whose message has the role
// "bot" (written by any automation), not only the own user's.
func WithWebhookSkipBots() WebhookOption {
	return func(c *webhookConfig) error {
		c.skipBots = true
		return nil
	}
}

// WithWebhookLogger makes the handler log refused deliveries (reason only) at
// warn level and failed events at error level. Bodies, headers and the secret
// are never logged. Without it nothing is logged.
func WithWebhookLogger(l *slog.Logger) WebhookOption {
	return func(c *webhookConfig) error {
		c.logger = l
		return nil
	}
}

// WebhookPanicError is the error a recovered panic of a handler or a filter
// becomes. It reaches the error handler and the log, never the HTTP response.
type WebhookPanicError struct {
	// Pattern is the pattern the panicking handler or filter was registered
	// with ("" for a panic outside any route, e.g. in the own-user lookup).
	Pattern string
	// Value is what the handler panicked with.
	Value any
	// Stack is the goroutine's stack at the panic.
	Stack []byte
}

// Error names the pattern and the panic value.
func (e *WebhookPanicError) Error() string {
	return fmt.Sprintf("chatshipper: webhook handler for %q panicked: %v", e.Pattern, e.Value)
}

// WebhookHandler is an http.Handler receiving ChatShipper webhooks. It answers
// the subscription challenge (GET ?type=subscribe&challenge=X), checks each
// POST's signature before reading its JSON, decodes it into an Event, drops
// duplicate deliveries, and runs every handler whose pattern and filters match,
// in registration order. Answers: 200 on success (also when no handler
// matched; the body is always empty, since the platform may read a body as
// messages to post), 400 malformed, 401 bad signature, 405 wrong method, 413
// too large, 500 a handler failed (the platform retries), 503 queue full or
// shutting down.
//
// Without WithWebhookSecret signatures are not checked and anyone who can
// reach the URL can inject events: use it only behind another check (HTTP basic
// auth in the webhook URL, a private network) or in tests.
//
// Create one with NewWebhookHandler (the zero value is not ready for use). It
// is safe for concurrent use; Handle may be called while it serves.
type WebhookHandler struct {
	// newMAC returns an HMAC keyed with the secret, or nil without one. The
	// secret lives only in this closure, never in a field that %+v could print.
	newMAC  func() hash.Hash
	macPool sync.Pool
	maxBody int64

	routes atomic.Pointer[[]route]
	regMu  sync.Mutex // serialises Handle

	dedupe *dedupeCache

	skipBots    bool
	includeSelf bool
	selfUser    string
	selfLookup  func(context.Context) string // nil unless a client is set
	selfMu      sync.Mutex
	selfID      atomic.Pointer[string]
	selfTried   time.Time
	observe     func([]*Message) // the client's loop guard, or nil

	onError func(*Event, error)
	logger  *slog.Logger

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
}

type queued struct {
	ctx context.Context
	ev  *Event
}

// NewWebhookHandler returns a handler configured by opts. Register handlers
// with Handle or OnMessage. In asynchronous mode its workers run until
// Shutdown.
func NewWebhookHandler(opts ...WebhookOption) (*WebhookHandler, error) {
	cfg := webhookConfig{maxBody: DefaultWebhookMaxBody, dedupe: DefaultWebhookDedupe}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	h := &WebhookHandler{
		maxBody:     cfg.maxBody,
		skipBots:    cfg.skipBots,
		includeSelf: cfg.includeSelf,
		selfUser:    cfg.selfUser,
		onError:     cfg.onError,
		logger:      cfg.logger,
		stopped:     make(chan struct{}),
		syncIdle:    make(chan struct{}),
	}
	if cfg.hasSecret {
		key := []byte(cfg.secret)
		h.newMAC = func() hash.Hash { return hmac.New(sha1.New, key) }
		h.macPool.New = func() any { return h.newMAC() }
	} else if h.logger != nil {
		h.logger.Warn("chatshipper: webhook handler without a secret: signatures are not checked")
	}
	if cfg.dedupe > 0 {
		h.dedupe = newDedupeCache(cfg.dedupe, WebhookDedupeTTL)
	}
	if cfg.client != nil {
		h.observe = cfg.client.observeMessages
		if h.selfUser == "" {
			h.selfLookup = cfg.client.selfUserID
		}
	}
	h.routes.Store(new([]route))
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
// Handle returns an *ArgumentError (errors.Is ErrInvalidArgument) for an empty
// pattern or word, a partial wildcard such as "mess*", a nil fn or a filter
// built from bad arguments; nothing is registered then.
func (h *WebhookHandler) Handle(pattern string, fn HandlerFunc, filters ...EventFilter) error {
	words, err := parsePattern(pattern)
	if err != nil {
		return err
	}
	if fn == nil {
		return argError("fn", "nil HandlerFunc for %q", truncate(pattern, 64))
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
	next := make([]route, len(old), len(old)+1)
	copy(next, old)
	next = append(next, rt)
	h.routes.Store(&next)
	return nil
}

// OnMessage registers fn for every new message: Handle("message.create.**",
// fn, filters...).
func (h *WebhookHandler) OnMessage(fn HandlerFunc, filters ...EventFilter) error {
	return h.Handle("message.create.**", fn, filters...)
}

// ServeHTTP answers the challenge and receives deliveries; see WebhookHandler.
func (h *WebhookHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
func (h *WebhookHandler) serveChallenge(w http.ResponseWriter, r *http.Request) {
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

func (h *WebhookHandler) serveDelivery(w http.ResponseWriter, r *http.Request) {
	if h.isClosed() {
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	body, status := h.readBody(w, r)
	if status != 0 {
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
	if h.observe != nil && e.Data.Message != nil {
		h.observe([]*Message{e.Data.Message})
	}

	switch h.dedupe.begin(e.ID) {
	case dedupeDone:
		w.WriteHeader(http.StatusOK)
		return
	case dedupeRunning:
		if h.queue != nil {
			// Acknowledged earlier and queued or running: it will be handled.
			w.WriteHeader(http.StatusOK)
			return
		}
		// A synchronous run of the same event is still going (the platform
		// gave up waiting on it). Its outcome is unknown, so ask for a retry.
		http.Error(w, "event is being processed", http.StatusServiceUnavailable)
		return
	}

	if h.queue != nil {
		h.enqueue(w, r, e)
		return
	}
	if !h.beginSync() {
		h.dedupe.finish(e.ID, false)
		http.Error(w, "shutting down", http.StatusServiceUnavailable)
		return
	}
	err = h.process(r.Context(), e) // never panics: dispatch recovers
	h.endSync()
	if err != nil {
		http.Error(w, "handler failed", http.StatusInternalServerError)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// readBody reads at most maxBody bytes; it returns a status when the body is
// too large (413) or unreadable (400).
func (h *WebhookHandler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, int) {
	if r.ContentLength > h.maxBody {
		return nil, http.StatusRequestEntityTooLarge
	}
	// MaxBytesReader reads at most maxBody+1 bytes and tells the server to
	// close the connection instead of draining an oversized body.
	rd := http.MaxBytesReader(w, r.Body, h.maxBody)
	size := 512
	if r.ContentLength > 0 {
		size = int(r.ContentLength) + 1 // +1 lets the final read see EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := rd.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, 0
		}
		if err != nil {
			var tooLarge *http.MaxBytesError
			if errors.As(err, &tooLarge) {
				return nil, http.StatusRequestEntityTooLarge
			}
			return nil, http.StatusBadRequest
		}
	}
}

// verify checks the signature headers with a pooled HMAC. More than one
// signature header is refused: which one the platform meant is unknowable.
func (h *WebhookHandler) verify(body []byte, headers []string) error {
	switch len(headers) {
	case 0:
		return ErrSignatureMissing
	case 1:
	default:
		return fmt.Errorf("%w: %d X-Hub-Signature headers", ErrSignatureMalformed, len(headers))
	}
	mac := h.macPool.Get().(hash.Hash)
	mac.Reset()
	err := verifySignature(mac, body, headers[0])
	h.macPool.Put(mac)
	return err
}

// refuse answers a delivery that never reached the handlers. The reason is
// logged but not sent: it is for the operator, not whoever sent the request.
func (h *WebhookHandler) refuse(w http.ResponseWriter, r *http.Request, status int, reason string) {
	if h.logger != nil {
		h.logger.LogAttrs(r.Context(), slog.LevelWarn, "chatshipper: webhook delivery refused",
			slog.Int("status", status), slog.String("reason", reason), slog.String("remote", r.RemoteAddr))
	}
	http.Error(w, http.StatusText(status), status)
}

// enqueue hands an event to the workers, or answers 503 when the queue is
// full, forgetting the event ID so the platform's retry is not taken for a
// duplicate.
func (h *WebhookHandler) enqueue(w http.ResponseWriter, r *http.Request, e *Event) {
	// The request's values (trace IDs, ...) go along; its cancellation does
	// not, since the handler runs after the answer.
	item := queued{ctx: context.WithoutCancel(r.Context()), ev: e}
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
		h.dedupe.finish(e.ID, false)
		msg := "queue full"
		if closed {
			msg = "shutting down"
		}
		http.Error(w, msg, http.StatusServiceUnavailable)
		return
	}
	w.WriteHeader(http.StatusOK)
}

func (h *WebhookHandler) work() {
	defer h.workers.Done()
	for item := range h.queue {
		_ = h.process(item.ctx, item.ev) // errors go to the error handler inside process
	}
}

// process runs the matching handlers of an accepted event, records the
// outcome for duplicate suppression and reports a failure.
func (h *WebhookHandler) process(ctx context.Context, e *Event) error {
	err := h.dispatch(ctx, e)
	h.dedupe.finish(e.ID, err == nil)
	if err != nil {
		h.report(ctx, e, err)
	}
	return err
}

// dispatch runs every handler whose pattern and filters match e. A panic in
// code it calls (a filter, the own-user lookup) becomes an error like a
// handler's, so the event's bookkeeping always completes.
func (h *WebhookHandler) dispatch(ctx context.Context, e *Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &WebhookPanicError{Value: v, Stack: debug.Stack()}
		}
	}()
	routes := *h.routes.Load()
	if len(routes) == 0 {
		return nil
	}
	words := strings.Split(e.Name, ".")
	var errs []error
	checked := false // the bot filters run once, and only when a pattern matches
	for i := range routes {
		rt := &routes[i]
		if !rt.words.match(words) {
			continue
		}
		if !checked {
			if h.dropped(ctx, e) {
				return nil
			}
			checked = true
		}
		if err := rt.run(ctx, e); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// run applies the route's filters and, if they all accept, its handler. A
// panic in either becomes a *WebhookPanicError, so one faulty handler cannot
// take the server (or a worker) down.
func (rt *route) run(ctx context.Context, e *Event) (err error) {
	defer func() {
		if v := recover(); v != nil {
			err = &WebhookPanicError{Pattern: rt.pattern, Value: v, Stack: debug.Stack()}
		}
	}()
	for _, f := range rt.filters {
		if !f(e) {
			return nil
		}
	}
	return rt.fn(ctx, e)
}

// report hands a failure to the error handler and the log. A panicking error
// handler is contained, as it may run on a worker.
func (h *WebhookHandler) report(ctx context.Context, e *Event, err error) {
	if h.logger != nil {
		h.logger.LogAttrs(ctx, slog.LevelError, "chatshipper: webhook handler failed",
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

func (h *WebhookHandler) isClosed() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.closed
}

func (h *WebhookHandler) beginSync() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	h.inflight++
	return true
}

func (h *WebhookHandler) endSync() {
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
func (h *WebhookHandler) Shutdown(ctx context.Context) error {
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
