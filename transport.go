package chatshipper

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// The client's transport stack is shared by all its calls; each call sends
// through it with its own state, passed explicitly:
//
//	retryablehttp.Client (one per request, newCallClient in client.go)
//	  -> http.Client (the request's own copy of the client's)
//	    -> callTransport  the request's wrapper: hands its callState to the stack
//	      -> authTransport -> limiterTransport -> observeTransport  (stateTransport: get the callState)
//	        -> timeoutTransport -> clockTransport -> the user's transport  (plain http.RoundTrippers)

// stateTransport is a layer of the client's shared transport stack that
// needs the state of the request it sends (the auth, limiter and observer
// layers): callTransport hands it over with each hop.
type stateTransport interface {
	roundTrip(req *http.Request, st *callState) (*http.Response, error)
}

// callTransport is the per-request wrapper of the client's shared stack: the
// http.Client of a request's retryablehttp client sends every hop of every
// attempt through it, and it passes the request's state down explicitly.
type callTransport struct {
	st   *callState
	next stateTransport // the client's stack (Client.stack)
}

func (t *callTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	return t.next.roundTrip(req, t.st)
}

// plainTransport ends the stateful layers: the layers under it (attempt
// timeout, clock, the user's transport) need no request state.
type plainTransport struct{ next http.RoundTripper }

func (t plainTransport) roundTrip(req *http.Request, _ *callState) (*http.Response, error) {
	return t.next.RoundTrip(req)
}

// limiterTransport makes every attempt wait for a request slot of each of
// the client's limiters: its own (per token) first, then the window shared
// per API host (per IP address). Taking the shared slot last keeps it no
// longer than needed, and since every client takes them in this order no two
// wait on each other. A SlotLimiter's slot is held until the attempt ends and
// counts from then: see SlotLimiter for why.
type limiterTransport struct {
	limiters []Limiter // one or two, never nil
	client   *Client   // for its logger
	next     stateTransport
}

// logLimiterWaitOver is the shortest wait for a request slot that is logged:
// shorter waits are the limiter's normal spacing, longer ones explain a slow
// job.
const logLimiterWaitOver = 100 * time.Millisecond

func (t *limiterTransport) roundTrip(req *http.Request, st *callState) (*http.Response, error) {
	start := time.Now()
	var held [2]func(sent bool)
	var err error
	for i, l := range t.limiters {
		if sl, ok := l.(SlotLimiter); ok {
			held[i], err = sl.Acquire(req.Context())
		} else {
			err = l.Wait(req.Context())
		}
		if err != nil {
			break
		}
	}
	t.client.observeLimiterWait(req, st, start, err)
	if waited := time.Since(start); waited >= logLimiterWaitOver {
		if l := t.client.logger; l != nil {
			attrs := []slog.Attr{slog.String("method", req.Method), slog.String("url", redactURL(req.URL)),
				slog.Duration("waited", waited), slog.Int("attempt", st.attempts)}
			l.LogAttrs(req.Context(), slog.LevelDebug, "chatshipper: waited for rate limit", attrs...)
		}
	}
	if err != nil {
		// Not sent: the slots already granted go back unused.
		releaseSlots(held[:], false)
		closeBody(req)
		return nil, err
	}
	// The slots count from the end of the attempt, whatever way it ends: a
	// server counts a request between its arrival and its answer, so no
	// later than the moment RoundTrip returns.
	defer releaseSlots(held[:], true)
	return t.next.roundTrip(req, st)
}

// releaseSlots calls the done functions of held slots.
func releaseSlots(held []func(sent bool), sent bool) {
	for _, done := range held {
		if done != nil {
			done(sent)
		}
	}
}

// timeoutTransport bounds one attempt, from sending the request to closing
// the response body, like http.Client.Timeout but under the limiter.
type timeoutTransport struct {
	timeout time.Duration
	next    http.RoundTripper
}

func (t *timeoutTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx, cancel := context.WithTimeout(req.Context(), t.timeout)
	resp, err := t.next.RoundTrip(req.WithContext(ctx))
	if err != nil {
		timedOut := ctx.Err() != nil && req.Context().Err() == nil
		cancel()
		if timedOut {
			return nil, &AttemptTimeoutError{Limit: t.timeout, Err: err}
		}
		return nil, err
	}
	resp.Body = &cancelOnClose{ReadCloser: resp.Body, cancel: cancel}
	return resp, nil
}

// cancelOnClose ends an attempt's timeout when its body is closed.
type cancelOnClose struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelOnClose) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// authTransport counts each hop in the request's state and sets the
// Authorization header on a clone of each attempt, and only for the API's own
// host: a redirect to another host never carries it.
type authTransport struct {
	client *Client
	next   stateTransport
}

func (t *authTransport) roundTrip(req *http.Request, st *callState) (*http.Response, error) {
	c := t.client
	if err := req.Context().Err(); err != nil {
		closeBody(req)
		return nil, err
	}
	st.beginHop(req)
	start := time.Now()
	orig := req
	if c.tokens != nil && sameOrigin(req.URL, c.baseURL) {
		tok, err := c.token(req.Context())
		if err == nil {
			err = checkToken("token", tok) // from any TokenSource
		}
		if err != nil {
			closeBody(req)
			err = &tokenSourceError{err: err}
			c.logAttempt(req, st, start, nil, err)
			return nil, err
		}
		st.token = tok
		// A shallow copy with its own header map: the caller's request (and
		// retryablehttp's, reused across attempts) is never modified.
		r2 := new(http.Request)
		*r2 = *req
		h := make(http.Header, len(req.Header)+1)
		for k, v := range req.Header {
			h[k] = v
		}
		h["Authorization"] = []string{"Bearer " + tok}
		r2.Header = h
		req = r2
	}
	resp, err := t.next.roundTrip(req, st)
	if resp != nil {
		// The response names the request without the Authorization header
		// (the transport would name the authorized clone), so no token is
		// reachable from a returned *Response or error.
		resp.Request = orig
	}
	st.endHop(resp, err)
	c.logAttempt(req, st, start, resp, err)
	return resp, err
}

// tokenSourceError is a token source's failure: the request was never sent,
// so it provably did not reach the server (the loop guard releases the
// message's count, delivery tracking does not look it up).
type tokenSourceError struct{ err error }

func (e *tokenSourceError) Error() string { return "chatshipper: token source: " + e.err.Error() }
func (e *tokenSourceError) Unwrap() error { return e.err }

// clockTransport reads the server's clock from the Date of every answer of
// the API's own host.
type clockTransport struct {
	clock *serverClock
	host  string
	next  http.RoundTripper
}

func (t *clockTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	sent := time.Now()
	resp, err := t.next.RoundTrip(req)
	if err == nil && resp != nil && req.URL.Host == t.host {
		t.clock.observe(resp.Header.Get("Date"), sent, time.Now())
	}
	return resp, err
}
