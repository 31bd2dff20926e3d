package chatshipper

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/go-retryablehttp"
)

// Version is the version of this SDK, sent in the User-Agent header.
const Version = "0.1.0"

const (
	// DefaultBaseURL is the API base used when WithBaseURL is not given.
	DefaultBaseURL           = "https://api.chatshipper.com/v2/"
	defaultUserAgent         = "chatshipper-go/" + Version
	defaultMaxRetries        = 3
	defaultRetryWaitShortest = 500 * time.Millisecond
	defaultRetryWaitLongest  = 30 * time.Second
	defaultMaxResponseBytes  = 32 << 20
	defaultTimeout           = 60 * time.Second
)

// Client talks to the ChatShipper REST API. It is safe for concurrent use;
// create one per token and share it.
type Client struct {
	baseURL     *url.URL
	userAgent   string
	tokens      TokenSource    // nil for the anonymous client used by Login
	hc          *http.Client   // the caller's http.Client settings (redirects, cookies); each request gets a copy
	stack       stateTransport // the transport stack under the retry layer, shared by all requests (transport.go)
	maxRetries  int
	waitMin     time.Duration
	waitMax     time.Duration
	logger      *slog.Logger
	maxBody     int64
	retryUnsafe bool
	limiter     Limiter    // the client's own (per token); nil when off
	ipLimiter   Limiter    // shared per API host (per IP address); nil when off
	pace        int        // requests per second a BatchSender forms its batches for (0: no limiter)
	guard       *loopGuard // nil when the loop guard is off
	self        selfState
	clock       serverClock // the server's clock, from the Date of its answers

	noDeliveryTracking bool     // WithDeliveryTracking(false)
	obs                Observer // WithObserver; nil: nothing is observed (observer.go)

	// Conversations is the conversations API (/v2/conversations).
	Conversations *ConversationsService
	// Messages is the messages API (/v2/messages).
	Messages *MessagesService
	// Contacts is the contacts API (/v2/contacts).
	Contacts *ContactsService
	// Users is the users API (/v2/users).
	Users *UsersService
	// Organizations is the organizations API (/v2/organizations).
	Organizations *OrganizationsService
	// OrgGroups is the organization groups API (/v2/orggroups).
	OrgGroups *OrgGroupsService
	// Channels is the channels (team inboxes) API (/v2/channels).
	Channels *ChannelsService
	// Services is the services API, webhooks included (/v2/services).
	Services *ServicesService
	// Forms is the forms API (/v2/forms).
	Forms *FormsService
	// Workflows is the workflows API (/v2/workflows).
	Workflows *WorkflowsService
	// Bots is the bot definitions API (/v2/bots).
	Bots *BotsService
	// BotInstances is the bot instances API (/v2/botinstances).
	BotInstances *BotInstancesService
}

// NewClient returns a client that authenticates with token (a bot user's API
// key or a time-based token). With WithTokenSource the token may be "". A
// token with a control character (such as a trailing line break), a space or
// a non-ASCII byte is refused with an *ArgumentError.
func NewClient(token string, opts ...Option) (*Client, error) {
	cfg := config{
		baseURL:     DefaultBaseURL,
		maxRetries:  defaultMaxRetries,
		waitMin:     defaultRetryWaitShortest,
		waitMax:     defaultRetryWaitLongest,
		maxBody:     defaultMaxResponseBytes,
		rateLimit:   DefaultRequestsPerSecond,
		rateMargin:  DefaultRateLimitMargin,
		ipRateLimit: -1,
	}
	for _, opt := range opts {
		if opt == nil {
			continue
		}
		if err := opt(&cfg); err != nil {
			return nil, err
		}
	}
	base, err := parseBaseURL(cfg.baseURL)
	if err != nil {
		return nil, err
	}
	if cfg.tokens == nil && !cfg.anonymous {
		if token == "" {
			return nil, argError("token", "empty token and no WithTokenSource")
		}
		if err := checkToken("token", token); err != nil {
			return nil, err
		}
		cfg.tokens = StaticTokenSource(token)
	}
	if cfg.anonymous {
		cfg.tokens = nil
	}

	c := &Client{
		baseURL:     base,
		userAgent:   defaultUserAgent,
		tokens:      cfg.tokens,
		logger:      cfg.logger,
		maxBody:     cfg.maxBody,
		retryUnsafe: cfg.retryUnsafe,

		noDeliveryTracking: cfg.noDeliveryTracking,
		obs:                cfg.observer,
	}
	if cfg.userAgent != "" {
		c.userAgent += " " + cfg.userAgent
	}
	c.limiter, c.ipLimiter = cfg.limiters(base)
	if c.limiter != nil || c.ipLimiter != nil {
		// The built-in limiter's rate, or the API's own for limiters of
		// the caller's (see BatchSender).
		c.pace = DefaultRequestsPerSecond
		if cfg.limiter == nil && cfg.rateLimit > 0 {
			c.pace = cfg.rateLimit
		}
	}
	if !cfg.anonymous {
		c.guard = newLoopGuard(cfg.loopGuard, cfg.guardCfg, cfg.guardStore)
		if st, ok := cfg.tokens.(staticToken); ok {
			if id := UserIDFromToken(string(st)); id != "" {
				c.setSelf(id)
			}
		}
	}

	// The transport stack, outermost first: retry -> auth -> (limiter) ->
	// (observer) -> (attempt timeout) -> clock -> the user's transport. Every
	// attempt passes the layers under the retry layer. The retry layer is
	// built per request (newCallClient), over c.hc's settings, and sends
	// through a callTransport that hands the request's state to c.stack.
	var hc http.Client
	var inner http.RoundTripper
	attemptTimeout := time.Duration(defaultTimeout)
	if cfg.httpClient != nil {
		hc = *cfg.httpClient // a copy: the caller's client is never modified
		inner = hc.Transport
		attemptTimeout = hc.Timeout
	}
	if inner == nil {
		inner = defaultTransport()
	}
	inner = &clockTransport{clock: &c.clock, host: base.Host, next: inner}
	// The per-attempt timeout is applied under the limiter, not by http.Client:
	// waiting for a request slot must not use up an attempt's time, or a
	// request that never left would fail as if the server had been slow.
	hc.Timeout = 0
	if attemptTimeout > 0 {
		inner = &timeoutTransport{timeout: attemptTimeout, next: inner}
	}
	var stack stateTransport = plainTransport{next: inner}
	if c.obs != nil {
		stack = &observeTransport{client: c, next: stack} // observer.go: each request sent, after the limiter's wait
	}
	if lims := c.limiterList(); len(lims) > 0 {
		stack = &limiterTransport{limiters: lims, client: c, next: stack}
	}
	c.stack = &authTransport{client: c, next: stack}
	hc.Transport = nil // each request's copy sends through its callTransport

	c.hc = &hc
	c.maxRetries = cfg.maxRetries
	c.waitMin, c.waitMax = cfg.waitMin, cfg.waitMax

	c.initServices()
	return c, nil
}

// defaultTransport returns the transport used without WithHTTPClient: what
// http.DefaultTransport is now. When it is an *http.Transport (the usual
// case), a tuned clone of it, so later changes of the process-wide default do
// not leak in; otherwise (a test double installed by httpmock.Activate, an
// instrumented transport) it is used as it is.
func defaultTransport() http.RoundTripper {
	rt := http.DefaultTransport
	if rt == nil {
		return &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 32}
	}
	t, ok := rt.(*http.Transport)
	if !ok || t == nil {
		return rt
	}
	t = t.Clone()
	t.MaxIdleConnsPerHost = 32
	return t
}

// String describes the client: its base URL and the type of its token
// source, never a token.
func (c *Client) String() string {
	if c == nil {
		return "chatshipper.Client(nil)"
	}
	ts := "<none>"
	if c.tokens != nil {
		ts = fmt.Sprintf("%T", c.tokens)
	}
	return "chatshipper.Client{BaseURL:" + c.baseURL.String() + " TokenSource:" + ts + "}"
}

// Format prints String for every verb, so no verb reaches the client's
// fields and the token they hold.
func (c *Client) Format(f fmt.State, verb rune) { printRedacted(f, verb, c.String()) }

// LogValue logs the base URL only.
func (c *Client) LogValue() slog.Value {
	if c == nil {
		return slog.StringValue("<nil>")
	}
	return slog.GroupValue(slog.String("baseURL", c.baseURL.String()))
}

// BaseURL returns a copy of the API base URL the client uses.
func (c *Client) BaseURL() *url.URL {
	u := *c.baseURL
	return &u
}

func parseBaseURL(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, argError("baseURL", "not a URL")
	}
	if u.User != nil {
		return nil, argError("baseURL", "must not contain credentials")
	}
	if u.Host == "" {
		return nil, argError("baseURL", "must be absolute with a host, got %q", redactURL(u))
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return nil, argError("baseURL", "must not have a query or fragment")
	}
	switch u.Scheme {
	case "https":
	case "http":
		if !isLoopback(u.Hostname()) {
			return nil, argError("baseURL", "http:// is only allowed for loopback hosts; use https:// for %s", u.Host)
		}
	default:
		return nil, argError("baseURL", "scheme must be https, got %q", u.Scheme)
	}
	if !strings.HasSuffix(u.Path, "/") {
		u.Path += "/"
	}
	u.RawPath = ""
	return u, nil
}

func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// NewRequest builds an API request. path is relative to the base URL, e.g.
// "conversations/5bb0277fd99faf11a3f4a37e/messages", optionally followed by
// "?" and an encoded query; a query holding a '#', a space or a control
// character is refused with an *ArgumentError naming the path. Each path segment is escaped; "." and ".."
// segments are refused, so a request never leaves the base path. A non-nil
// body is encoded as JSON; a json.RawMessage body is sent as it is.
func (c *Client) NewRequest(ctx context.Context, method, path string, body any) (*http.Request, error) {
	if ctx == nil {
		return nil, argError("ctx", "nil context")
	}
	u, err := c.resolve(path)
	if err != nil {
		return nil, err
	}
	var buf []byte
	switch b := body.(type) {
	case nil:
	case json.RawMessage:
		// Sent byte for byte (encoding it would compact and re-escape it).
		if !json.Valid(b) {
			return nil, argError("body", "json.RawMessage is not valid JSON")
		}
		buf = b
	default:
		if buf, err = encodeJSON(body); err != nil {
			return nil, fmt.Errorf("chatshipper: encoding request body: %w", err)
		}
	}
	var rdr io.Reader
	if buf != nil {
		rdr = bytes.NewReader(buf)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rdr)
	if err != nil {
		return nil, argError("method", "%v", err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.userAgent)
	if buf != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	return req, nil
}

// resolve joins a relative API path to the base URL, escaping each segment.
// The query part is taken as already encoded; one that cannot be sent as it
// is (a fragment, a space, a control character) is refused.
func (c *Client) resolve(path string) (*url.URL, error) {
	rawQuery := ""
	if i := strings.IndexByte(path, '?'); i >= 0 {
		path, rawQuery = path[:i], path[i+1:]
		if err := checkRawQuery(path, rawQuery); err != nil {
			return nil, err
		}
	}
	path = strings.TrimPrefix(path, "/")
	if path == "" {
		return nil, argError("path", "must not be empty")
	}
	segs := strings.Split(path, "/")
	var b strings.Builder
	b.WriteString(c.baseURL.EscapedPath())
	for i, s := range segs {
		if s == "" && i == len(segs)-1 {
			break // a trailing slash
		}
		if s == "" || s == "." || s == ".." {
			return nil, argError("path", "segment %q would leave the API base path", s)
		}
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(url.PathEscape(s))
	}
	u := *c.baseURL
	u.RawPath = b.String()
	p, err := url.PathUnescape(u.RawPath)
	if err != nil {
		return nil, argError("path", "%v", err)
	}
	u.Path = p
	u.RawQuery = rawQuery
	return &u, nil
}

// checkRawQuery refuses a query that would not reach the server as written:
// a '#' starts a fragment, which is never sent; a space ends the request
// target; a control character is not allowed in a URL. The error names the
// path, with personal data redacted from its query.
func checkRawQuery(path, rawQuery string) error {
	for i := 0; i < len(rawQuery); i++ {
		var what string
		switch b := rawQuery[i]; {
		case b == '#':
			what = "a fragment ('#'), which is never sent"
		case b == ' ':
			what = "a space"
		case b < 0x20 || b == 0x7f:
			what = "a control character"
		default:
			continue
		}
		shown := path + "?" + redactQuery(rawQuery)
		return argError("path", "%q: the query contains %s at byte %d; encode values with url.Values.Encode or url.QueryEscape", shown, what, len(path)+1+i)
	}
	return nil
}

// Response wraps the HTTP response of an API call with the list metadata the
// API sends in headers (X-Total*, X-Range, Link).
type Response struct {
	*http.Response
	Pagination
}

func newResponse(r *http.Response) *Response {
	resp := &Response{Response: r}
	if r != nil {
		resp.Pagination = parsePagination(r.Header)
	}
	return resp
}

// Do sends an API request and decodes a 2xx JSON answer into v (unless v is
// nil; if v is an io.Writer the raw body is copied into it). An empty answer
// leaves v as it is, except for a GET into a slice (a page), where it is the
// *json.SyntaxError encoding/json gives for an empty body. A non-2xx answer
// is returned as *ErrorResponse, *RateLimitError or *LoopLimitError. A
// cancelled or expired context returns an error for which errors.Is(err,
// ctx.Err()) holds, also while waiting between retries.
func (c *Client) Do(req *http.Request, v any) (*Response, error) {
	if req == nil {
		return nil, argError("req", "nil request")
	}
	return c.do(req, v, nil, nil)
}

// do is Do with what the request's caller knows passed in explicitly: call is
// the observed call the request belongs to (nil when it belongs to none, or
// without an observer; with an observer, do then begins a "Do" call of its
// own), and track is set for a tracked message POST (delivery.go: do records
// the request's state there and turns blind retries of the POST off).
//
// The request's state (callState) is made here and handed to the request's
// own retryablehttp client (newCallClient), whose hooks and transport wrapper
// close over it; nothing is read back from a context.
func (c *Client) do(req *http.Request, v any, call *obsCall, track *deliveryCall) (_ *Response, err error) {
	ctx := req.Context()
	if call == nil {
		var own *obsCall
		ctx, own = c.startDoCall(req) // observer.go; nil without an observer
		defer own.end(ctx, &err)
		call = own
	}
	// A shallow copy under ctx: the caller's request is never modified.
	rreq, err := retryablehttp.FromRequest(req.WithContext(ctx))
	if err != nil {
		return nil, fmt.Errorf("chatshipper: reading request body: %w", err)
	}
	cc := c.newCallClient(rreq, callState{call: call, idempotent: isIdempotent(req.Method), retryUnsafe: c.retryUnsafe,
		method: req.Method, url: redactURL(req.URL), body: rreq.BodyBytes})
	st := &cc.st
	trackCall(track, st) // a tracked message send resolves instead of retrying blindly (delivery.go)

	resp, err := c.send(cc, rreq)
	if err != nil {
		return nil, err
	}
	// Once after a 401/403 that says the token expired or is invalid, a
	// refreshing token source gets a new token and the request goes again.
	if rf, ok := c.tokens.(refresher); ok && (resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden) {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		_ = resp.Body.Close()
		resp.Body = io.NopCloser(bytes.NewReader(body))
		if isTokenExpiredMessage(parseErrorMessage(body)) {
			if _, rerr := rf.refreshAfterReject(ctx, st.token, c.logger); rerr != nil {
				return newResponse(resp), rerr
			}
			resp, err = c.send(cc, rreq)
			if err != nil {
				return nil, err
			}
		}
	}
	defer func() { _ = resp.Body.Close() }()

	response := newResponse(resp)
	if err := c.checkResponse(resp, st); err != nil {
		return response, err
	}
	if v == nil || resp.StatusCode == http.StatusNoContent {
		return response, nil
	}
	if w, ok := v.(io.Writer); ok {
		n, err := io.Copy(w, io.LimitReader(resp.Body, c.maxBody+1))
		if err != nil {
			return response, c.wrapTransportErr(req, st, err)
		}
		if n > c.maxBody {
			return response, c.tooLarge(req)
		}
		return response, nil
	}
	buf := getBuffer()
	defer putBuffer(buf)
	n, err := buf.ReadFrom(io.LimitReader(resp.Body, c.maxBody+1))
	if err != nil {
		return response, c.wrapTransportErr(req, st, err)
	}
	if n > c.maxBody {
		return response, c.tooLarge(req)
	}
	if n == 0 && (req.Method != http.MethodGet || !isSliceTarget(v)) {
		return response, nil // an object answer or a send's may be empty; a page may not
	}
	if err := decodeJSON(buf.Bytes(), v); err != nil {
		return response, fmt.Errorf("chatshipper: %s %s: decoding response: %w", req.Method, redactURL(req.URL), err)
	}
	return response, nil
}

// isSliceTarget reports whether v points to a slice: read with GET, a page,
// whose empty 2xx body is what encoding/json makes of it (a
// *json.SyntaxError), never an empty page that would end a walk early without
// an error. (An empty answer to a send is looked up: delivery_answer.go.)
func isSliceTarget(v any) bool {
	t := reflect.TypeOf(v)
	return t != nil && t.Kind() == reflect.Pointer && t.Elem().Kind() == reflect.Slice
}

func (c *Client) tooLarge(req *http.Request) error {
	return fmt.Errorf("%w: %s %s: more than %d bytes", ErrResponseTooLarge, req.Method, redactURL(req.URL), c.maxBody)
}

// callClient is the retry layer of one request sent with Do: its
// retryablehttp client, the copy of the client's http.Client under it, and
// the callTransport through which that sends, all over the request's state
// st, and allocated with it as one.
type callClient struct {
	st callState
	rc retryablehttp.Client
	hc http.Client
	rt callTransport
}

// newCallClient builds the retry layer of the request rreq, whose state is
// st. Its hooks close over the state: CheckRetry applies the retry policy
// (checkRetry, retry.go) and notes why an attempt failed; Backoff picks the
// wait (backoff, retry.go) and logs and reports the retry; ErrorHandler logs
// and reports giving up, and hands back the last answer (errorHandler). Its
// http.Client sends every hop through callTransport, which passes the state
// to the client's shared stack (transport.go): the auth transport counts
// attempts and hops in it and records the token sent, the limiter and the
// observer read the attempt's number, and the observer counts the call's
// attempts.
func (c *Client) newCallClient(rreq *retryablehttp.Request, st callState) *callClient {
	cc := &callClient{st: st}
	s := &cc.st
	cc.rt = callTransport{st: s, next: c.stack}
	cc.hc = *c.hc
	cc.hc.Transport = &cc.rt
	cc.rc = retryablehttp.Client{
		HTTPClient:   &cc.hc,
		RetryMax:     c.maxRetries,
		RetryWaitMin: c.waitMin,
		RetryWaitMax: c.waitMax,
		CheckRetry: func(ctx context.Context, resp *http.Response, err error) (bool, error) {
			return c.checkRetry(ctx, s, resp, err)
		},
		Backoff: func(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
			wait := backoff(minWait, maxWait, attempt, resp)
			c.logRetry(rreq.Context(), rreq.Request, s, wait)
			return wait
		},
		ErrorHandler: func(resp *http.Response, err error, tries int) (*http.Response, error) {
			if s.wantRetry {
				c.logGiveUp(rreq.Context(), rreq.Request, s)
			}
			return errorHandler(resp, err, tries)
		},
	}
	return cc
}

// send runs one request through its retry layer and maps transport and
// context errors.
func (c *Client) send(cc *callClient, rreq *retryablehttp.Request) (*http.Response, error) {
	resp, err := cc.rc.Do(rreq)
	if err != nil {
		return nil, c.wrapTransportErr(rreq.Request, &cc.st, err)
	}
	return resp, nil
}

func (c *Client) wrapTransportErr(req *http.Request, st *callState, err error) error {
	if ctxErr := req.Context().Err(); ctxErr != nil {
		return fmt.Errorf("chatshipper: %s %s: %w", req.Method, redactURL(req.URL), ctxErr)
	}
	var argErr *ArgumentError
	if errors.As(err, &argErr) {
		return argErr
	}
	redactURLErrors(err)
	return &TransportError{Method: req.Method, URL: redactURL(req.URL), Attempts: st.attempts, Err: err, reached: st.reached}
}

// checkResponse maps a non-2xx answer to a typed error, with the secrets
// the request carried (its token, credentials in its body) redacted from the
// server's message.
func (c *Client) checkResponse(resp *http.Response, st *callState) error {
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return nil
	}
	var reqBody []byte
	if st.body != nil {
		reqBody, _ = st.body()
	}
	er := newErrorResponse(resp, requestSecrets(st.token, reqBody))
	er.Method, er.URL = st.method, st.url
	if resp.Request != nil {
		er.Method = resp.Request.Method
		er.URL = redactURL(resp.Request.URL)
	}
	if resp.StatusCode == http.StatusTooManyRequests {
		retryAfter, _ := responseRetryAfter(resp)
		if isLoopLimitMessage(er.Message) {
			return loopLimitFromServer(resp.Request, er, retryAfter)
		}
		return &RateLimitError{RetryAfter: retryAfter, Attempts: st.attempts, Err: er}
	}
	return er
}

// logAttempt logs one attempt at debug level: never headers or bodies.
func (c *Client) logAttempt(req *http.Request, st *callState, start time.Time, resp *http.Response, err error) {
	if c.logger == nil {
		return
	}
	attrs := []slog.Attr{
		slog.String("method", req.Method), slog.String("url", redactURL(req.URL)),
		slog.Duration("duration", time.Since(start)),
	}
	if st != nil {
		attrs = append(attrs, slog.Int("attempt", st.attempts))
	}
	if err != nil {
		attrs = append(attrs, slog.String("error", err.Error()))
	} else {
		attrs = append(attrs, slog.Int("status", resp.StatusCode))
	}
	c.logger.LogAttrs(req.Context(), slog.LevelDebug, "chatshipper: request", attrs...)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Host, b.Host)
}
