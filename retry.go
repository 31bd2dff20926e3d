package chatshipper

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The retry policy (the table in the package documentation, "Retries and idempotency"):
//
//	what happened                              GET/DELETE        POST/PATCH/PUT
//	dial error (request never left)            retry             retry
//	transient network error (server may have)  retry             error (opt-in retry)
//	other transport error (not transient)      error             error
//	429 rate limit                             after Retry-After after Retry-After
//	429 bot loop limit                         error             error
//	502 / 503 / 504                            retry             error (opt-in retry)
//	500 and anything else                      error             error
//	context cancelled / past deadline          ctx.Err() at once ctx.Err() at once
//
// A redirect does not start a new attempt: once the first hop of an attempt
// was answered, a POST, PATCH or PUT is not sent again (unless opted in),
// whatever the later hops return.

// callState is the state of one request sent with Do, across its attempts.
// Do makes it and hands it explicitly to the request's own retryablehttp
// client (newCallClient, client.go), whose hooks close over it: the retry
// policy reads it, and callTransport passes it to the shared transports
// under the retry layer, which update it. Nothing reads it from a context.
type callState struct {
	// call is the observed call the request belongs to (observer.go); nil
	// without an observer.
	call *obsCall

	idempotent  bool // GET, HEAD, OPTIONS, DELETE
	retryUnsafe bool // the caller opted in to retrying POST/PATCH/PUT
	attempts    int  // attempts sent so far (counted by the auth transport)
	token       string
	// hops is how many requests the current attempt has made so far: 1, plus
	// one per redirect followed.
	hops int
	// answered is set once a hop of the current attempt received a response
	// (a redirect included): the server has seen the request.
	answered bool
	// reached is set once any attempt may have reached the server: a hop was
	// answered, or failed other than while connecting. Never reset.
	reached bool

	// method and url (redacted) name the request in log lines.
	method, url string
	// body reads the request body again, for the secrets an error must not
	// quote (nil without a body).
	body func() ([]byte, error)
	// Why the last attempt failed, set by checkRetry for the log.
	retryReason string
	retryStatus int
	retryErr    error
	retryAfter  time.Duration
	wantRetry   bool // the last attempt would have been retried
}

// beginHop records one request of an attempt, as the auth transport sees it:
// a request without a Response is the first hop of a new attempt; one with a
// Response was made by http.Client following a redirect, so the previous hop
// was answered.
func (st *callState) beginHop(req *http.Request) {
	if req.Response == nil {
		st.attempts++
		st.hops = 1
		st.answered = false
		return
	}
	st.hops++
	st.answered = true
	st.reached = true
}

// endHop records the outcome of one hop.
func (st *callState) endHop(resp *http.Response, err error) {
	switch {
	case resp != nil:
		st.answered = true
		st.reached = true
	case err != nil && !isDialError(err):
		st.reached = true
	}
}

func isIdempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodDelete:
		return true
	}
	return false
}

// checkRetry is the retryablehttp.CheckRetry of the request whose state is
// st (the per-call client's hook calls it with its own st): the retry table
// above.
func (c *Client) checkRetry(ctx context.Context, st *callState, resp *http.Response, err error) (bool, error) {
	retry, cerr := c.decideRetry(ctx, st, resp, err)
	st.wantRetry = retry
	return retry, cerr
}

// decideRetry applies the retry table to one attempt's outcome. It notes why
// the attempt failed in st, for the log line of the retry decision.
func (c *Client) decideRetry(ctx context.Context, st *callState, resp *http.Response, err error) (bool, error) {
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	st.retryReason, st.retryStatus, st.retryErr, st.retryAfter = "", 0, nil, 0
	if err != nil {
		redactURLErrors(err)
		st.retryReason, st.retryErr = "transport error", err
		if !retryableTransportError(err) {
			c.logNoRetry(ctx, st, "not a transient network error")
			return false, nil
		}
		if isDialError(err) && !st.answered {
			return true, nil // no hop of this attempt reached the server
		}
		if !st.idempotent && !st.retryUnsafe {
			c.logNoRetry(ctx, st, "the server may have acted on a "+st.method)
			return false, nil
		}
		return true, nil
	}
	var retry bool
	switch resp.StatusCode {
	case http.StatusTooManyRequests:
		if peekLoopLimit(resp) {
			return false, nil // never retried; checkResponse maps it to *LoopLimitError
		}
		retry = true
	case http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		retry = true
	default:
		return false, nil
	}
	st.retryReason = "status " + strconv.Itoa(resp.StatusCode)
	st.retryStatus = resp.StatusCode
	retryAfter, hasRetryAfter := responseRetryAfter(resp)
	st.retryAfter = retryAfter
	if resp.StatusCode == http.StatusTooManyRequests && hasRetryAfter {
		// The server refused every request of this token for that long:
		// back off all goroutines sharing the limiter, for the whole time.
		c.pauseLimiter(ctx, retryAfter)
	}
	if st.hops > 1 && !st.idempotent && !st.retryUnsafe {
		// A redirect was followed: the first hop was answered, so the server
		// has seen this POST, PATCH or PUT whatever the last hop says.
		c.logNoRetry(ctx, st, "a redirect was followed: the server may have acted on a "+st.method)
		return false, nil
	}
	if resp.StatusCode != http.StatusTooManyRequests && !st.idempotent && !st.retryUnsafe {
		c.logNoRetry(ctx, st, "the server may have acted on a "+st.method)
		return false, nil
	}
	if hasRetryAfter && retryAfter > c.waitMax {
		// Retry-After is a floor: retrying sooner is refused for sure, and
		// waiting longer than the longest wait is not what the caller allows.
		c.logNoRetry(ctx, st, "Retry-After exceeds the longest retry wait", slog.Duration("max_wait", c.waitMax))
		return false, nil
	}
	return retry, nil
}

// logRetry logs a decision to retry: why the attempt failed and how long the
// client waits before the next one.
func (c *Client) logRetry(ctx context.Context, req *http.Request, st *callState, wait time.Duration) {
	c.observeRetry(ctx, st, wait, "")
	if c.logger == nil {
		return
	}
	attrs := append(st.retryAttrs(req), slog.Duration("wait", wait))
	c.logger.LogAttrs(ctx, slog.LevelDebug, "chatshipper: retrying", attrs...)
}

// logNoRetry logs a decision not to retry a failed attempt, and why.
func (c *Client) logNoRetry(ctx context.Context, st *callState, why string, extra ...slog.Attr) {
	c.observeRetry(ctx, st, 0, why)
	if c.logger == nil {
		return
	}
	attrs := append(st.retryAttrs(nil), slog.String("why", why))
	attrs = append(attrs, extra...)
	c.logger.LogAttrs(ctx, slog.LevelDebug, "chatshipper: not retrying", attrs...)
}

// logGiveUp logs that the retries allowed are used up.
func (c *Client) logGiveUp(ctx context.Context, req *http.Request, st *callState) {
	c.observeRetry(ctx, st, 0, "retries used up")
	if c.logger == nil {
		return
	}
	attrs := append(st.retryAttrs(req), slog.String("why", "retries used up"), slog.Int("max_retries", c.maxRetries))
	c.logger.LogAttrs(ctx, slog.LevelDebug, "chatshipper: not retrying", attrs...)
}

// retryAttrs describes the failed attempt: request, attempt number and reason.
func (st *callState) retryAttrs(req *http.Request) []slog.Attr {
	attrs := make([]slog.Attr, 0, 8)
	if req != nil {
		attrs = append(attrs, slog.String("method", req.Method), slog.String("url", redactURL(req.URL)))
	} else {
		attrs = append(attrs, slog.String("method", st.method), slog.String("url", st.url))
	}
	attrs = append(attrs, slog.Int("attempt", st.attempts), slog.String("reason", st.retryReason))
	if st.retryStatus != 0 {
		attrs = append(attrs, slog.Int("status", st.retryStatus))
	}
	if st.retryErr != nil {
		attrs = append(attrs, slog.String("error", st.retryErr.Error()))
	}
	if st.retryAfter > 0 {
		attrs = append(attrs, slog.Duration("retry_after", st.retryAfter))
	}
	return attrs
}

// peekLoopLimit reads (a capped part of) a 429 body to tell a bot loop limit
// from the plain request limit, and puts the bytes back for CheckResponse.
func peekLoopLimit(resp *http.Response) bool {
	if resp.Body == nil {
		return false
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return isLoopLimitMessage(parseErrorMessage(b))
}

// retryableTransportError reports whether a transport error is known to be
// transient, so that sending the request again may succeed. Only these are:
//
//   - a network operation that failed (*net.OpError: could not dial,
//     connection refused, reset or aborted, broken pipe), except a TLS
//     certificate that does not verify;
//   - a DNS lookup that timed out or failed temporarily (not "no such host");
//   - any timeout (a net.Error whose Timeout is true: an attempt that ran out
//     of time, a TLS handshake timeout, a dial timeout);
//   - the connection closed before a whole answer arrived (io.EOF,
//     io.ErrUnexpectedEOF: typically a pooled connection the server had
//     closed);
//   - ECONNRESET, ECONNREFUSED, ECONNABORTED or EPIPE reported without a
//     *net.OpError around them.
//
// Anything else is not retried: an error of a test double (httpmock's "no
// responder found"), a TokenSource's error, an invalid header, too many
// redirects, an unsupported scheme, a certificate that does not verify.
func retryableTransportError(err error) bool {
	if err == nil {
		return false
	}
	var certErr *tls.CertificateVerificationError
	if errors.As(err, &certErr) {
		return false
	}
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidCert x509.CertificateInvalidError
	if errors.As(err, &unknownAuth) || errors.As(err, &hostErr) || errors.As(err, &invalidCert) {
		return false
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return dnsErr.IsTimeout || dnsErr.IsTemporary
	}
	var netErr net.Error
	if errors.As(err, &netErr) && netErr.Timeout() {
		return true
	}
	var opErr *net.OpError
	if errors.As(err, &opErr) {
		return true
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	for _, errno := range []error{syscall.ECONNRESET, syscall.ECONNREFUSED, syscall.ECONNABORTED, syscall.EPIPE} {
		if errors.Is(err, errno) {
			return true
		}
	}
	return false
}

// isDialError reports whether the request never left this machine: the
// connection could not be made, so even a POST is safe to send again.
func isDialError(err error) bool {
	var opErr *net.OpError
	if errors.As(err, &opErr) && opErr.Op == "dial" {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr)
}

// backoff implements retryablehttp.Backoff: Retry-After when the server sent
// one (never shortened), otherwise exponential growth from min with full jitter.
func backoff(minWait, maxWait time.Duration, attempt int, resp *http.Response) time.Duration {
	if resp != nil {
		switch resp.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if d, ok := responseRetryAfter(resp); ok {
				// A floor, never shortened: checkRetry does not retry when
				// it exceeds the longest wait.
				return d
			}
		}
	}
	ceil := maxWait
	if attempt < 30 {
		ceil = min(maxWait, minWait<<attempt)
	}
	if ceil <= minWait {
		return minWait
	}
	// Full jitter over [min, ceil]: concurrent clients that failed together
	// do not come back together.
	return minWait + rand.N(ceil-minWait+1) //nolint:gosec // jitter needs no cryptographic randomness
}

// responseRetryAfter reads resp's Retry-After. A date is a moment on the
// server's clock, so it is measured from the Date of the same answer (the
// client's clock only when the answer has none): a server whose clock is
// ahead of the client's or behind it asks for the same wait either way. The
// Date is truncated to the second, so the wait read is never shorter than
// the one the server meant.
func responseRetryAfter(resp *http.Response) (time.Duration, bool) {
	now := time.Now()
	if date, err := http.ParseTime(resp.Header.Get("Date")); err == nil {
		now = date
	}
	return parseRetryAfter(resp.Header.Get("Retry-After"), now)
}

// parseRetryAfter reads a Retry-After value given as delay seconds or as an
// HTTP date, measured from now. A date before now means no wait. Delay
// seconds are any number of digits (RFC 9110), so a value too large for an
// int64 is a very long wait (the longest, 24 h, as every value beyond it),
// never no Retry-After at all.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && secs > 0 {
		err = nil // ParseInt gave math.MaxInt64: clamped below
	}
	if err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return d, true
	}
	return 0, false
}

// errorHandler implements retryablehttp.ErrorHandler: when retries are used up
// it hands back the last response (so the caller gets the server's message and
// a typed error) instead of discarding it.
func errorHandler(resp *http.Response, err error, _ int) (*http.Response, error) {
	if resp != nil && err == nil {
		return resp, nil
	}
	if resp != nil && resp.Body != nil {
		_ = resp.Body.Close()
	}
	return nil, err
}
