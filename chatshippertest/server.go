package chatshippertest

import (
	"bytes"
	crand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// config collects the options; its zero value is never used directly.
type config struct {
	now               func() time.Time
	rateLimit         int
	identical         int
	identicalWindow   time.Duration
	consecutive       int
	consecutiveWindow time.Duration
	tokenTTL          time.Duration
	seed              int64
	hookInitial       time.Duration
	hookAttempts      int
	hookClient        *http.Client
	err               error

	// What the documentation leaves open (profiles.go); zero values are
	// the defaults.
	skew           time.Duration
	pageCap        int
	idComparisons  IDComparisons
	noTotals       bool
	noLink         bool
	quoteValues    bool
	minRetryAfter  time.Duration
	retryAfterForm RetryAfterForm
	identicalBy    IdenticalBy
	hookDelay      time.Duration
	hookJitter     time.Duration
	hookRepeats    int
	hookRepeatGap  time.Duration
}

func defaultConfig() config {
	return config{
		now:               time.Now,
		rateLimit:         20,
		identical:         8,
		identicalWindow:   3 * time.Minute,
		consecutive:       20,
		consecutiveWindow: time.Hour,
		tokenTTL:          24 * time.Hour,
		seed:              1,
		hookInitial:       500 * time.Millisecond,
		hookAttempts:      5,
	}
}

// Option configures a Server. Invalid values make NewServer fail the test (or
// panic when it was given a nil testing.TB).
type Option func(*config)

func (c *config) fail(format string, args ...any) {
	if c.err == nil {
		c.err = fmt.Errorf("chatshippertest: "+format, args...)
	}
}

// WithClock replaces time.Now for everything time-based: timestamps, token
// expiry, rate-limit and loop-limit windows, the Date header of every answer.
// Delays, webhook backoff and late webhook deliveries still use timers (fake
// under testing/synctest). [WithClockSkew] moves this clock by a fixed offset.
//
// The limits' windows count the time passed on this clock or really passed
// (time.Now, monotonic: the bubble's clock under testing/synctest),
// whichever is more. Moving the clock ahead ends them early; a clock that
// stands still or is set back does not hold them open, so a client that
// waits a 429's Retry-After for real is let through.
func WithClock(now func() time.Time) Option {
	return func(c *config) {
		if now == nil {
			c.fail("WithClock: nil clock")
			return
		}
		c.now = now
	}
}

// WithRateLimit sets how many requests one token and one client IP may make in
// any sliding second (default 20, like the real API); 0 turns the limit off.
func WithRateLimit(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.fail("WithRateLimit: negative limit %d", n)
			return
		}
		c.rateLimit = n
	}
}

// WithLoopLimits sets the bot loop limits: at most identical equal messages per
// identicalWindow and consecutive bot messages per consecutiveWindow, per bot
// and conversation (defaults 8/3min and 20/1h). A count of 0 turns that limit off.
func WithLoopLimits(identical int, identicalWindow time.Duration, consecutive int, consecutiveWindow time.Duration) Option {
	return func(c *config) {
		if identical < 0 || consecutive < 0 || (identical > 0 && identicalWindow <= 0) || (consecutive > 0 && consecutiveWindow <= 0) {
			c.fail("WithLoopLimits: counts must be >= 0 and windows > 0")
			return
		}
		c.identical, c.identicalWindow = identical, identicalWindow
		c.consecutive, c.consecutiveWindow = consecutive, consecutiveWindow
	}
}

// WithTokenTTL sets the lifetime of access tokens issued by POST /v2/auth/token
// (default 24h). Refresh tokens live 30 days.
func WithTokenTTL(d time.Duration) Option {
	return func(c *config) {
		if d <= 0 {
			c.fail("WithTokenTTL: ttl must be positive")
			return
		}
		c.tokenTTL = d
	}
}

// WithSeed makes generated IDs, names, slugs, secrets and probabilistic faults
// follow seed (default 1). Two servers with the same seed that receive the
// same requests produce the same IDs; a refused request, and a seed file
// that fails to load, changes nothing, so consumes no ids, names or secrets
// either. Webhook event ids are the exception: they are unique to each
// server, whatever the seed.
func WithSeed(seed int64) Option { return func(c *config) { c.seed = seed } }

// WithWebhookRetry sets the delay before the first retry of a failed webhook
// delivery (doubling after each further failure) and the total number of
// attempts (default 500ms, 5 attempts).
func WithWebhookRetry(initial time.Duration, attempts int) Option {
	return func(c *config) {
		if initial <= 0 || attempts < 1 {
			c.fail("WithWebhookRetry: initial must be positive and attempts >= 1")
			return
		}
		c.hookInitial, c.hookAttempts = initial, attempts
	}
}

// WithWebhookClient sets the HTTP client used for webhook verification and
// delivery (default: a client with its own transport, cloned from
// http.DefaultTransport, so closing other test servers never breaks a
// delivery; each attempt is bounded to 20 s by a context). Tests running inside testing/synctest pass a client whose
// transport calls their handler in-process.
func WithWebhookClient(hc *http.Client) Option {
	return func(c *config) {
		if hc == nil {
			c.fail("WithWebhookClient: nil client")
			return
		}
		c.hookClient = hc
	}
}

// Server is a running fake ChatShipper API with seeded data. All methods are
// safe for concurrent use.
type Server struct {
	// URL is the API base URL including "/v2/", e.g. "http://127.0.0.1:41234/v2/".
	URL string
	// Token is a valid non-expiring access token of the seeded bot user, with
	// the claims of the platform's tokens: scope "viewer guest agent bot",
	// organization and grant_type "access_token".
	Token string
	// AdminToken, AgentToken and GuestToken are non-expiring access tokens of
	// the seeded admin, first agent and guest users (scopes "viewer guest
	// agent bot admin", "viewer guest agent" and "viewer guest").
	AdminToken, AgentToken, GuestToken string
	// Seed holds the IDs and credentials of the seeded data.
	Seed Seed

	cfg     config
	hs      *httptest.Server
	client  *http.Client
	once    sync.Once
	closing chan struct{} // closed by Close: ends Delay faults

	mu        sync.Mutex // guards store, creds, loops, idCounter (a transaction restores it on rollback)
	store     *store
	creds     map[string]credential
	loops     *loopTracker
	idPrefix  uint32
	idCounter uint64
	key       []byte

	rngMu sync.Mutex
	rng   *rand.Rand
	pcg   *rand.PCG // rng's source, whose state a rolled-back transaction restores
	// instance is random per server, whatever the seed: it makes webhook
	// event ids unique to this server.
	instance [16]byte

	recMu   sync.Mutex
	records []RecordedRequest

	faultMu sync.Mutex
	faults  []*faultEntry

	limiter *rateLimiter
	hooks   *webhookDispatcher
}

// NewServer starts a fake server on 127.0.0.1 (httptest.NewServer underneath)
// with freshly seeded data. If tb is not nil, the server is closed by
// tb.Cleanup; with nil the caller must call Close.
func NewServer(tb testing.TB, opts ...Option) *Server {
	s := build(tb, opts)
	s.hs = httptest.NewServer(s)
	s.URL = s.hs.URL + "/v2/"
	s.client = s.hs.Client()
	return s
}

// NewInProcessServer returns a fake server that listens on no socket: its URL
// is "http://127.0.0.1:9/v2/" (a loopback address that is never dialled) and Client returns an *http.Client whose
// transport calls the server directly. Use it inside testing/synctest bubbles,
// where a real socket would keep fake time from advancing: Delay faults,
// webhook retries and WaitDeliveries then take no wall time.
func NewInProcessServer(tb testing.TB, opts ...Option) *Server {
	s := build(tb, opts)
	s.URL = "http://127.0.0.1:9/v2/" // loopback, so clients accept plain http; never dialled
	s.client = &http.Client{Transport: HandlerTransport(s)}
	return s
}

func build(tb testing.TB, opts []Option) *Server {
	cfg := defaultConfig()
	for _, o := range opts {
		o(&cfg)
	}
	if cfg.err != nil {
		if tb != nil {
			tb.Helper()
			tb.Fatal(cfg.err)
		}
		panic(cfg.err)
	}
	s := &Server{cfg: cfg, store: newStore(), creds: map[string]credential{}, closing: make(chan struct{})}
	s.pcg = rand.NewPCG(uint64(cfg.seed), 0x6368617473686970)
	s.rng = rand.New(s.pcg)
	_, _ = crand.Read(s.instance[:]) // never fails (crypto/rand.Read)
	s.idPrefix = 0x5b000000 | s.rng.Uint32()&0x00ffffff
	s.idCounter = s.rng.Uint64() & 0xffffffffff
	s.key = []byte(fmt.Sprintf("chatshippertest-key-%d-%x", cfg.seed, s.rng.Uint64()))
	s.loops = newLoopTracker()
	s.limiter = newRateLimiter()
	s.hooks = newWebhookDispatcher(s)
	s.seed()
	if tb != nil {
		tb.Cleanup(s.Close)
	}
	return s
}

// Close shuts the server down and stops webhook delivery. It is idempotent.
func (s *Server) Close() {
	s.once.Do(func() {
		s.hooks.close()
		close(s.closing)
		if s.hs != nil {
			// httptest waits for active requests; end them rather than
			// waiting out a long Delay fault.
			s.hs.CloseClientConnections()
			s.hs.Close()
		}
	})
}

// Client returns an HTTP client that reaches this server: the httptest client
// for a listening server, an in-process client for NewInProcessServer. For a
// client of the SDK use NewClient.
func (s *Server) Client() *http.Client { return s.client }

// now is the server's clock: the configured clock moved by the skew.
func (s *Server) now() time.Time {
	return s.cfg.now().Add(s.cfg.skew).UTC().Truncate(time.Millisecond)
}

// instant is now on the server's clock and on the real one (see instant).
func (s *Server) instant() instant { return instant{at: s.now(), real: time.Now()} }

// randIntN returns a seeded random number in [0, n).
func (s *Server) randIntN(n int) int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.IntN(n)
}

// RecordedRequest is one request that reached the server. Headers and body
// are kept verbatim (tokens and login passwords included): recordings are
// test state, never logged by the server.
type RecordedRequest struct {
	Method string
	Path   string
	Query  url.Values
	Header http.Header
	Body   []byte
	Time   time.Time
	// Status is the status code answered; 0 when the connection was dropped
	// or no answer was written.
	Status int
}

// Requests returns a copy of every request that reached the server, in arrival order.
func (s *Server) Requests() []RecordedRequest {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	out := make([]RecordedRequest, len(s.records))
	for i, r := range s.records {
		r.Query = cloneValues(r.Query)
		r.Header = r.Header.Clone()
		r.Body = bytes.Clone(r.Body)
		out[i] = r
	}
	return out
}

// ResetRequests forgets the recorded requests.
func (s *Server) ResetRequests() {
	s.recMu.Lock()
	s.records = nil
	s.recMu.Unlock()
}

func cloneValues(v url.Values) url.Values {
	out := make(url.Values, len(v))
	for k, vs := range v {
		out[k] = append([]string(nil), vs...)
	}
	return out
}

func (s *Server) record(r *http.Request, body []byte) int {
	q, _ := url.ParseQuery(r.URL.RawQuery)
	rr := RecordedRequest{Method: r.Method, Path: r.URL.Path, Query: q, Header: r.Header.Clone(),
		Body: bytes.Clone(body), Time: s.now()}
	s.recMu.Lock()
	defer s.recMu.Unlock()
	s.records = append(s.records, rr)
	return len(s.records) - 1
}

func (s *Server) setStatus(i, status int) {
	s.recMu.Lock()
	if i < len(s.records) {
		s.records[i].Status = status
	}
	s.recMu.Unlock()
}

// statusWriter records the answered status the moment it is written, so a
// client that has its response always finds the status in Requests.
type statusWriter struct {
	http.ResponseWriter
	s     *Server
	rec   int
	wrote bool
}

func (w *statusWriter) WriteHeader(code int) {
	if !w.wrote {
		w.wrote = true
		w.s.setStatus(w.rec, code)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// maxBody caps request bodies; the API's real limit is unknown.
const maxBody = 8 << 20

// ServeHTTP serves the API: record, fault injection, rate limit, auth, route.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// The Date header follows the server's clock (net/http keeps a Date
	// the handler set).
	w.Header().Set("Date", s.now().Format(http.TimeFormat))
	body, readErr := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	rec := s.record(r, body)
	sw := &statusWriter{ResponseWriter: w, s: s, rec: rec}
	defer func() {
		// A bug must not take the test binary down (in-process clients run
		// handlers on their own goroutine): answer 500 instead.
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			if !sw.wrote {
				writeError(sw, errf(http.StatusInternalServerError, "internal error: %v", v))
			}
		}
	}()
	if readErr != nil {
		s.writeError(sw, r, nil, errf(http.StatusBadRequest, "could not read request body"))
		return
	}
	if len(body) > maxBody {
		s.writeError(sw, r, nil, errf(http.StatusRequestEntityTooLarge, "request body too large"))
		return
	}
	if f, ok := s.takeFault(r); ok {
		s.applyFault(sw, w, r, body, f)
		return
	}
	s.serve(sw, r, body)
}

// serve handles one request after recording and fault injection.
func (s *Server) serve(w http.ResponseWriter, r *http.Request, body []byte) {
	if err := s.limiter.allow(s, r); err != nil {
		s.writeError(w, r, body, err)
		return
	}
	if err := s.route(w, r, body); err != nil {
		s.writeError(w, r, body, err)
	}
}

// apiError is an error answered to the client as {"error":{"message":...}}.
type apiError struct {
	status     int
	msg        string
	retryAfter int // seconds; 0 = no Retry-After header
}

func (e *apiError) Error() string { return fmt.Sprintf("%d %s", e.status, e.msg) }

func errf(status int, format string, args ...any) *apiError {
	return &apiError{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeError answers err as the API does; the profiles of the server decide
// the form of Retry-After and whether the message quotes the request's
// values (profiles.go).
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, body []byte, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(http.StatusInternalServerError, "internal error")
	}
	msg := ae.msg
	if s.cfg.quoteValues && ae.status >= 400 && ae.status < 500 && ae.status != http.StatusTooManyRequests {
		msg += quotedValues(r, body)
	}
	if ae.retryAfter > 0 {
		s.setRetryAfter(w.Header(), ae.retryAfter)
	}
	writeJSON(w, ae.status, map[string]any{"error": map[string]any{"message": msg}})
}

// writeError answers err without the server's profiles (a bug's 500).
func writeError(w http.ResponseWriter, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		ae = errf(http.StatusInternalServerError, "internal error")
	}
	writeJSON(w, ae.status, map[string]any{"error": map[string]any{"message": ae.msg}})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error":{"message":"internal error"}}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// decodeBody parses a JSON request body; an empty or malformed body is a 400.
func decodeBody(body []byte) (any, error) {
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, errf(http.StatusBadRequest, "request body must be JSON")
	}
	var v any
	if err := json.Unmarshal(body, &v); err != nil {
		return nil, errf(http.StatusBadRequest, "invalid JSON body")
	}
	return v, nil
}

// decodeObject parses a JSON object body.
func decodeObject(body []byte) (doc, error) {
	v, err := decodeBody(body)
	if err != nil {
		return nil, err
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, errf(http.StatusBadRequest, "request body must be a JSON object")
	}
	return m, nil
}

// clientIP is the host part of the remote address, the per-IP limiter key.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// HandlerTransport returns an http.RoundTripper that serves requests by calling
// h in-process: no socket is opened, so it works inside testing/synctest
// bubbles. A Fault with a Drop mode surfaces as a transport error.
//
// Each call returns a new transport (a pointer), and clients of the SDK
// built on the same one (srv.Client() of NewInProcessServer) share the
// client's window per API host, as the clients of one process do against
// the real API: the fake limits each address too.
func HandlerTransport(h http.Handler) http.RoundTripper { return &handlerTransport{h: h} }

type handlerTransport struct{ h http.Handler }

// errDropped is what an in-process client sees when a fault drops the
// connection: like a real connection closed before the answer, it wraps
// io.EOF, so clients take it for the network failure it stands for.
var errDropped = fmt.Errorf("chatshippertest: connection closed by server without a response: %w", io.EOF)

func (t *handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	sreq := req.Clone(ctx)
	sreq.Body = io.NopCloser(bytes.NewReader(body))
	sreq.ContentLength = int64(len(body))
	sreq.RequestURI = req.URL.RequestURI()
	sreq.RemoteAddr = "127.0.0.1:49152"
	if sreq.Host == "" {
		sreq.Host = req.URL.Host
	}
	mw := &memWriter{header: http.Header{}}
	done := make(chan struct{})
	go func() {
		defer close(done)
		t.h.ServeHTTP(mw, sreq)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		// Like a real client: give up at once; the handler sees its
		// request context end and its answer is dropped.
		return nil, ctx.Err()
	}
	if mw.dropped {
		return nil, errDropped
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if mw.status == 0 {
		mw.status = http.StatusOK
	}
	return &http.Response{
		Status:        fmt.Sprintf("%d %s", mw.status, http.StatusText(mw.status)),
		StatusCode:    mw.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        mw.header,
		Body:          io.NopCloser(bytes.NewReader(mw.buf.Bytes())),
		ContentLength: int64(mw.buf.Len()),
		Request:       req,
	}, nil
}

// memWriter is the in-process ResponseWriter; it is also used to run a request
// whose real answer a fault discards.
type memWriter struct {
	header  http.Header
	status  int
	buf     bytes.Buffer
	dropped bool
}

func (m *memWriter) Header() http.Header { return m.header }
func (m *memWriter) WriteHeader(code int) {
	if m.status == 0 {
		m.status = code
	}
}
func (m *memWriter) Write(b []byte) (int, error) {
	if m.status == 0 {
		m.status = http.StatusOK
	}
	return m.buf.Write(b)
}
func (m *memWriter) drop() { m.dropped = true }

// requestBase is the absolute URL of r without its query, for Link headers.
func requestBase(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host + r.URL.Path
}

// trimV2 splits "/v2/a/b/" into ["a","b"]; ok is false outside /v2/.
func trimV2(p string) ([]string, bool) {
	rest, ok := strings.CutPrefix(p, "/v2/")
	if !ok {
		return nil, false
	}
	rest = strings.Trim(rest, "/")
	if rest == "" {
		return nil, true
	}
	return strings.Split(rest, "/"), true
}
