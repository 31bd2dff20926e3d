package chatshipper

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// Observer receives what the client decides while it works: the start and
// end of each call, each attempt sent, each retry decision, the rate
// limiter's waits and pauses, the loop guard's refusals and the delivery
// lookups, re-sends and unknown outcomes. Set one with [WithObserver]; the
// module github.com/go-chatshipper/chatshipper/otel turns them into
// OpenTelemetry spans and metrics. Without an observer the client does none
// of this work.
//
// The client calls an Observer from the goroutines of its calls, often
// several at once, on the request path: its methods must be safe for
// concurrent use and fast, and must not call the client. Nothing the client
// passes holds a token, a password or a message text; URLs are redacted as
// in errors (query values that may be personal data replaced).
type Observer interface {
	// StartCall is called when a call begins, before its arguments are
	// checked. The context it returns is the one the call runs with (a
	// tracer puts its span there); it must be derived from ctx.
	StartCall(ctx context.Context, call CallInfo) context.Context
	// EndCall is called once for every StartCall, with the context
	// StartCall returned, when the call returns.
	EndCall(ctx context.Context, call CallInfo, result CallResult)
	// StartAttempt is called for each HTTP request the client sends, after
	// its wait for the rate limiter: each attempt, and each hop of an
	// attempt that follows a redirect. The context it returns (derived from
	// ctx) is the one the request is sent with. It may add trace context
	// headers to attempt.Header. One resend happens below the client and is
	// not an attempt of its own: net/http's Transport sends an idempotent
	// request (GET, HEAD, OPTIONS) once more, with the same headers, when a
	// kept-alive connection it reused was closed by the server after the
	// request was written and before any answer (see
	// https://pkg.go.dev/net/http#Transport); the server then receives two
	// requests for the one attempt reported here.
	StartAttempt(ctx context.Context, attempt AttemptInfo) context.Context
	// EndAttempt is called once for every StartAttempt, with the context
	// StartAttempt returned, when the response headers arrived or the
	// request failed.
	EndAttempt(ctx context.Context, attempt AttemptInfo, result AttemptResult)
	// Decision is called for each decision the client takes (see
	// [DecisionKind]), with the context of the call or attempt it is about.
	Decision(ctx context.Context, d Decision)
}

// WithObserver makes the client report its calls, attempts and decisions to
// o (see [Observer]). Without it, or with nil, nothing is reported and the
// client does no work for it.
func WithObserver(o Observer) Option {
	return func(c *config) error {
		c.observer = o
		return nil
	}
}

// CallInfo names a call: a method of a service, for example
// Conversations.Send, or a request sent with [Client.Do].
type CallInfo struct {
	// Service is the client's service the call was made on, as the
	// [Client] field is named ("Conversations", "Messages", ...), or
	// "Collection" for a collection without a typed service; "" for
	// [Client.Do].
	Service string
	// Method is the service method: "List", "Walk" (one range over a walk,
	// also ListIter and Pages, from the start of the loop to its end, the
	// loop's own work included), "Get", "Create", "Update", "Replace",
	// "Delete" or "Send"; "Do" for [Client.Do]. Methods built on these
	// report as the one they use (Command as Send, Me as Get, Verify as
	// Update, FindByTelephone as List; each request of a [BatchSender] as
	// Send or Create).
	Method string
	// Collection is the API collection, such as "conversations"; "" when
	// the URL of a request sent with Do names none, and for a name
	// [Client.Collection] refused (which is never reported).
	Collection string
}

// CallOutcome classifies how a call ended, by the type of its error.
type CallOutcome string

// The outcomes of a call.
const (
	// OutcomeOK: no error.
	OutcomeOK CallOutcome = "ok"
	// OutcomeInvalidArgument: refused before any I/O ([ErrInvalidArgument]).
	OutcomeInvalidArgument CallOutcome = "invalid_argument"
	// OutcomeHTTPError: the server answered with an error ([*ErrorResponse]).
	OutcomeHTTPError CallOutcome = "http_error"
	// OutcomeRateLimited: a 429 for the request limit ([*RateLimitError]).
	OutcomeRateLimited CallOutcome = "rate_limited"
	// OutcomeLoopLimit: refused by the loop guard or the server's bot loop
	// limit ([*LoopLimitError]).
	OutcomeLoopLimit CallOutcome = "loop_limit"
	// OutcomeDeliveryUnknown: a send whose outcome could not be found out
	// ([*DeliveryUnknownError]).
	OutcomeDeliveryUnknown CallOutcome = "delivery_unknown"
	// OutcomeTransportError: no usable answer ([*TransportError]).
	OutcomeTransportError CallOutcome = "transport_error"
	// OutcomeCanceled: the caller's context was canceled.
	OutcomeCanceled CallOutcome = "canceled"
	// OutcomeDeadlineExceeded: the caller's context expired.
	OutcomeDeadlineExceeded CallOutcome = "deadline_exceeded"
	// OutcomeError: any other error (an answer that could not be decoded or
	// was too large, a failing loop guard store, ...).
	OutcomeError CallOutcome = "error"
)

// CallResult is how a call ended.
type CallResult struct {
	// Outcome classifies the error.
	Outcome CallOutcome
	// StatusCode is the status of the last answer the call received, 0
	// when none arrived.
	StatusCode int
	// Attempts is how many attempts the call sent, retries and re-sends
	// included (calls it made inside, such as a delivery lookup, count
	// their own).
	Attempts int
	// Duration is how long the call took.
	Duration time.Duration
	// Err is the call's error, nil on success. Its message may hold the
	// server's error text: an observer that exports data should record
	// Outcome, not the message.
	Err error
}

// AttemptInfo describes one HTTP request the client sends.
type AttemptInfo struct {
	// Method is the HTTP method.
	Method string
	// URL is the request URL with personal data redacted from its query, as
	// in the client's errors and logs.
	URL string
	// Host and Port are where the request goes (Port 0 when the URL names
	// none).
	Host string
	Port int
	// Attempt is the attempt's number within its request: 1 for the first,
	// 2 for the first retry, and so on.
	Attempt int
	// Hop is 1, or the number of the request within an attempt that
	// follows redirects.
	Hop int
	// Header is the attempt's own copy of the request headers, from which
	// the Authorization header is removed: an observer may add trace
	// context headers to it. Keep no reference after StartAttempt.
	Header http.Header
}

// AttemptResult is how an attempt ended.
type AttemptResult struct {
	// StatusCode is the answer's status, 0 when none arrived.
	StatusCode int
	// ErrorKind classifies a failure without an answer, "" otherwise; see
	// [Decision] for the kinds.
	ErrorKind string
	// Duration is how long the attempt took until the response headers
	// arrived (its wait for the rate limiter not included).
	Duration time.Duration
}

// DecisionKind says what a [Decision] is about.
type DecisionKind string

// The decisions an [Observer] is told of.
const (
	// DecisionRetry: a failed attempt is retried after Wait.
	DecisionRetry DecisionKind = "retry"
	// DecisionNoRetry: a failed attempt that could have been retried is
	// not; Reason says why.
	DecisionNoRetry DecisionKind = "no_retry"
	// DecisionLimiterWait: an attempt waited Wait for a rate limiter slot
	// (reported for every attempt, also when it did not wait).
	DecisionLimiterWait DecisionKind = "limiter_wait"
	// DecisionLimiterPause: a 429 with Retry-After paused the shared rate
	// limiter for Wait.
	DecisionLimiterPause DecisionKind = "limiter_pause"
	// DecisionLoopGuardRefusal: a send was refused by the loop guard, or by
	// the server's bot loop limit (FromServer).
	DecisionLoopGuardRefusal DecisionKind = "loop_guard_refusal"
	// DecisionDeliveryLookup: after an ambiguous outcome, a send's delivery
	// keys (or a conversation create's key) were looked up; Found of
	// Messages were stored.
	DecisionDeliveryLookup DecisionKind = "delivery_lookup"
	// DecisionDeliveryResend: Messages messages the lookup found missing are
	// sent again, with the same keys.
	DecisionDeliveryResend DecisionKind = "delivery_resend"
	// DecisionDeliveryUnknown: the outcome of Messages messages could not
	// be found out (the call returns a [*DeliveryUnknownError]).
	DecisionDeliveryUnknown DecisionKind = "delivery_unknown"
)

// Decision is one decision of the client. Which fields are set depends on
// Kind.
//
// An ErrorKind is one of: "attempt_timeout" (the per-attempt timeout),
// "canceled" and "deadline_exceeded" (the caller's context), "dial" (no
// connection was made), "timeout" (a network timeout), "connection" (the
// connection failed or closed before an answer), "tls" (a certificate that
// does not verify), "token_source" (the TokenSource failed), "limiter" (the
// rate limiter failed), or "other".
type Decision struct {
	// Kind says what was decided.
	Kind DecisionKind
	// Attempt is the number of the attempt the decision is about (retry
	// decisions, limiter waits).
	Attempt int
	// StatusCode is the failed attempt's status (retry decisions), 0 when
	// it failed without an answer.
	StatusCode int
	// ErrorKind is the failed attempt's error kind (retry decisions, a
	// limiter wait that failed), or for a delivery lookup that failed (and
	// so for a delivery unknown) the lookup's [CallOutcome].
	ErrorKind string
	// Reason is why a failed attempt is not retried (DecisionNoRetry, a
	// fixed phrase), or the limit of a loop guard refusal ("identical" or
	// "consecutive").
	Reason string
	// Wait is the wait before the next attempt (DecisionRetry), the time
	// waited for a slot (DecisionLimiterWait), or the pause
	// (DecisionLimiterPause).
	Wait time.Duration
	// RetryAfter is the server's Retry-After, when it sent one.
	RetryAfter time.Duration
	// ConversationID is the conversation of a delivery decision or a loop
	// guard refusal, when known.
	ConversationID string
	// Messages is how many messages (or conversation creates) a delivery
	// decision is about.
	Messages int
	// Found is how many of them a DecisionDeliveryLookup found stored.
	Found int
	// FromServer marks a loop guard refusal that is the server's 429.
	FromServer bool
}

// obsCall is one observed call. It is passed explicitly from the service
// method that begins it (startCall) down to Do (the callState of each of its
// requests holds it), never through a context.
type obsCall struct {
	c        *Client
	info     CallInfo
	start    time.Time
	attempts atomic.Int32
	status   atomic.Int32
}

// startCall begins the call method on collection, unless no observer is set.
// A call made inside another (a delivery lookup within a send) is a call of
// its own; a method that runs another one as part of the same call
// (Conversations.Create's own create request, a BatchSender's batch sent
// again call by call) passes its call on instead of calling startCall again.
func (c *Client) startCall(ctx context.Context, collection, method string) (context.Context, *obsCall) {
	if c == nil || c.obs == nil || ctx == nil {
		return ctx, nil
	}
	return c.beginCall(ctx, CallInfo{Service: serviceOf(collection), Method: method, Collection: collectionLabel(collection)})
}

// startDoCall begins a call for a request sent with Do that belongs to no
// call (Do's own callers pass theirs explicitly), unless no observer is set.
func (c *Client) startDoCall(req *http.Request) (context.Context, *obsCall) {
	ctx := req.Context()
	if c.obs == nil {
		return ctx, nil
	}
	return c.beginCall(ctx, CallInfo{Method: "Do", Collection: c.collectionOf(req.URL)})
}

func (c *Client) beginCall(ctx context.Context, info CallInfo) (context.Context, *obsCall) {
	oc := &obsCall{c: c, info: info, start: time.Now()}
	if octx := c.obs.StartCall(ctx, info); octx != nil {
		ctx = octx
	}
	return ctx, oc
}

// end reports the end of the call with the error *errp; it does nothing for
// a nil call, so a call site can defer it unconditionally.
func (oc *obsCall) end(ctx context.Context, errp *error) {
	if oc == nil {
		return
	}
	err := *errp
	o := oc.c.obs
	if err != nil {
		oc.errorDecisions(ctx, err)
	}
	o.EndCall(ctx, oc.info, CallResult{Outcome: callOutcomeOf(err), StatusCode: int(oc.status.Load()),
		Attempts: int(oc.attempts.Load()), Duration: time.Since(oc.start), Err: err})
}

// errorDecisions reports the decisions a call's error tells of: a loop guard
// refusal, a delivery whose outcome is unknown.
func (oc *obsCall) errorDecisions(ctx context.Context, err error) {
	o := oc.c.obs
	var le *LoopLimitError
	if errors.As(err, &le) {
		o.Decision(ctx, Decision{Kind: DecisionLoopGuardRefusal, Reason: string(le.Kind),
			ConversationID: le.ConversationID, FromServer: le.FromServer})
	}
	var du *DeliveryUnknownError
	if errors.As(err, &du) {
		n := len(du.Keys) + du.Unkeyed
		if n == 0 && du.ConversationKey != "" {
			n = 1
		}
		o.Decision(ctx, Decision{Kind: DecisionDeliveryUnknown, ConversationID: du.ConversationID, Messages: n,
			ErrorKind: lookupErrorKind(du.LookupErr)})
	}
}

// callOutcomeOf classifies a call's error.
func callOutcomeOf(err error) CallOutcome {
	if err == nil {
		return OutcomeOK
	}
	var (
		du *DeliveryUnknownError
		le *LoopLimitError
		rl *RateLimitError
		er *ErrorResponse
		te *TransportError
	)
	switch {
	case errors.As(err, &du):
		return OutcomeDeliveryUnknown
	case errors.Is(err, ErrInvalidArgument):
		return OutcomeInvalidArgument
	case errors.As(err, &le):
		return OutcomeLoopLimit
	case errors.As(err, &rl):
		return OutcomeRateLimited
	case errors.As(err, &er):
		return OutcomeHTTPError
	case errors.Is(err, context.Canceled):
		return OutcomeCanceled
	case errors.Is(err, context.DeadlineExceeded):
		return OutcomeDeadlineExceeded
	case errors.As(err, &te):
		return OutcomeTransportError
	}
	return OutcomeError
}

// attemptErrorKind classifies an error of an attempt (see Decision); "" for nil.
func attemptErrorKind(err error) string {
	if err == nil {
		return ""
	}
	var (
		tse     *tokenSourceError
		ate     *AttemptTimeoutError
		certErr *tls.CertificateVerificationError
		authErr x509.UnknownAuthorityError
		hostErr x509.HostnameError
		certInv x509.CertificateInvalidError
		netErr  net.Error
	)
	switch {
	case errors.As(err, &tse):
		return "token_source"
	case errors.As(err, &ate):
		return "attempt_timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "deadline_exceeded"
	case errors.As(err, &certErr), errors.As(err, &authErr), errors.As(err, &hostErr), errors.As(err, &certInv):
		return "tls"
	case isDialError(err):
		return "dial"
	case errors.As(err, &netErr) && netErr.Timeout():
		return "timeout"
	case retryableTransportError(err):
		return "connection"
	}
	return "other"
}

// lookupErrorKind classifies the error of a delivery lookup (a call of its
// own) by its outcome; "" for nil.
func lookupErrorKind(err error) string {
	if err == nil {
		return ""
	}
	return string(callOutcomeOf(err))
}

// serviceOf names the Client field of a collection's typed service.
func serviceOf(collection string) string {
	switch collection {
	case "":
		return ""
	case "conversations":
		return "Conversations"
	case "messages":
		return "Messages"
	case "contacts":
		return "Contacts"
	case "users":
		return "Users"
	case "organizations":
		return "Organizations"
	case "orggroups":
		return "OrgGroups"
	case "channels":
		return "Channels"
	case "services":
		return "Services"
	case "forms":
		return "Forms"
	case "workflows":
		return "Workflows"
	case "bots":
		return "Bots"
	case "botinstances":
		return "BotInstances"
	}
	return "Collection"
}

// collectionLabel returns name when it is a valid collection name (see
// checkCollectionName), else "": a refused name, which could be anything, is
// never reported.
func collectionLabel(name string) string {
	if name == "" || len(name) > maxCollectionName {
		return ""
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 'a' || name[i] > 'z' {
			return ""
		}
	}
	return name
}

// collectionOf returns the collection a request URL names: its first path
// segment under the base URL, if that is a valid collection name.
func (c *Client) collectionOf(u *url.URL) string {
	if u == nil || !sameOrigin(u, c.baseURL) {
		return ""
	}
	rest, ok := strings.CutPrefix(u.Path, c.baseURL.Path)
	if !ok {
		return ""
	}
	seg, _, _ := strings.Cut(rest, "/")
	return collectionLabel(seg)
}

// observeTransport reports each request sent. It sits under the limiter, so
// an attempt's time is its time on the wire, not its wait for a slot (which
// is a decision of its own), and a request the limiter or the token source
// stopped is no attempt.
type observeTransport struct {
	client *Client
	next   stateTransport
}

func (t *observeTransport) roundTrip(req *http.Request, st *callState) (*http.Response, error) {
	c := t.client
	ctx := req.Context()
	start := time.Now()
	info := AttemptInfo{Method: req.Method, Host: req.URL.Hostname(), Attempt: st.attempts, Hop: st.hops}
	if info.Hop == 1 && st.url != "" {
		info.URL = st.url // the request's own URL, redacted once by Do
	} else {
		info.URL = redactURL(req.URL)
	}
	if p, err := strconv.Atoi(req.URL.Port()); err == nil {
		info.Port = p
	}
	oc := st.call
	if oc != nil && info.Hop == 1 {
		oc.attempts.Add(1)
	}
	// The attempt's own header map, without the token: the values are
	// shared, capped so that an append makes a copy.
	h := make(http.Header, len(req.Header)+2)
	var auth []string
	for k, v := range req.Header {
		if k == "Authorization" {
			auth = v
			continue
		}
		h[k] = v[:len(v):len(v)]
	}
	info.Header = h
	actx := c.obs.StartAttempt(ctx, info)
	if actx == nil {
		actx = ctx
	}
	info.Header = nil // not kept for EndAttempt
	if auth != nil {
		h["Authorization"] = auth // the observer never sees the token
	}
	r2 := req.WithContext(actx)
	r2.Header = h

	resp, err := t.next.roundTrip(r2, st)

	res := AttemptResult{Duration: time.Since(start)}
	if resp != nil {
		res.StatusCode = resp.StatusCode
		if oc != nil {
			oc.status.Store(int32(resp.StatusCode))
		}
	} else {
		res.ErrorKind = attemptErrorKind(err)
	}
	c.obs.EndAttempt(actx, info, res)
	return resp, err
}

// observeRetry reports a retry decision about the last failed attempt:
// retried after wait when why is "", else not retried because of why.
func (c *Client) observeRetry(ctx context.Context, st *callState, wait time.Duration, why string) {
	if c.obs == nil || st == nil {
		return
	}
	d := Decision{Kind: DecisionRetry, Attempt: st.attempts, StatusCode: st.retryStatus,
		ErrorKind: attemptErrorKind(st.retryErr), Wait: wait, RetryAfter: st.retryAfter}
	if why != "" {
		d.Kind, d.Reason, d.Wait = DecisionNoRetry, why, 0
	}
	c.obs.Decision(ctx, d)
}

// observeLimiterWait reports the wait of an attempt of the request whose
// state is st for a rate limiter slot.
func (c *Client) observeLimiterWait(req *http.Request, st *callState, start time.Time, err error) {
	if c.obs == nil {
		return
	}
	d := Decision{Kind: DecisionLimiterWait, Wait: time.Since(start), Attempt: st.attempts}
	if err != nil {
		d.ErrorKind = attemptErrorKind(err)
		if d.ErrorKind == "other" {
			d.ErrorKind = "limiter"
		}
	}
	c.obs.Decision(req.Context(), d)
}

// observePause reports a pause of the shared limiter for a 429's Retry-After.
func (c *Client) observePause(ctx context.Context, d time.Duration) {
	if c.obs != nil {
		c.obs.Decision(ctx, Decision{Kind: DecisionLimiterPause, Wait: d, RetryAfter: d})
	}
}

// observeLookup reports a delivery lookup of n keys, found of them stored.
func (c *Client) observeLookup(ctx context.Context, conversationID string, n, found int, err error) {
	if c.obs != nil {
		c.obs.Decision(ctx, Decision{Kind: DecisionDeliveryLookup, ConversationID: conversationID,
			Messages: n, Found: found, ErrorKind: lookupErrorKind(err)})
	}
}

// observeCreateLookup reports the lookup of a conversation create's key.
func (c *Client) observeCreateLookup(ctx context.Context, conv *Conversation, err error) {
	if c.obs == nil {
		return
	}
	d := Decision{Kind: DecisionDeliveryLookup, Messages: 1, ErrorKind: lookupErrorKind(err)}
	if conv != nil {
		d.ConversationID, d.Found = conv.ID, 1
	}
	c.obs.Decision(ctx, d)
}

// observeResend reports that n messages found missing are sent again.
func (c *Client) observeResend(ctx context.Context, conversationID string, n int) {
	if c.obs != nil {
		c.obs.Decision(ctx, Decision{Kind: DecisionDeliveryResend, ConversationID: conversationID, Messages: n})
	}
}

// writeOp names the service method of a write: Update (PATCH) or Replace (PUT).
func writeOp(method string) string {
	if method == http.MethodPut {
		return "Replace"
	}
	return "Update"
}

// observedWalk is the walk of r with an observer: each range over it is one
// call, "Walk", whose page requests are its attempts.
func observedWalk[T, C, U any](ctx context.Context, r *resource[T, C, U], q *Query, opts []WalkOption) *Walk[T] {
	return &Walk[T]{total: -1, pages: func(yield func(*Page[T], error) bool) {
		wctx, call := r.client.startCall(ctx, r.path, "Walk")
		var err error
		defer func() { call.end(wctx, &err) }()
		inner := newWalk(wctx, r.client, call, r.path, q, opts, r.observe)
		for p, perr := range inner.pages {
			err = perr
			if !yield(p, perr) {
				return
			}
		}
	}}
}
