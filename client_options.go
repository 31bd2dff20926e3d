package chatshipper

import (
	"log/slog"
	"net/http"
	"strings"
	"time"
)

// config is what the options set; NewClient starts from the defaults.
type config struct {
	baseURL     string
	httpClient  *http.Client
	userAgent   string
	maxRetries  int
	waitMin     time.Duration
	waitMax     time.Duration
	logger      *slog.Logger
	tokens      TokenSource
	retryUnsafe bool
	maxBody     int64
	anonymous   bool
	rateLimit   int
	rateMargin  time.Duration
	limiter     Limiter
	ipRateLimit int // -1: the default (see WithIPRateLimit)
	ipLimiter   Limiter
	windows     *windowRegistry // nil: the process's (tests set their own)
	loopGuard   loopGuardMode
	guardCfg    LoopGuardConfig
	guardStore  LoopGuardStore

	noDeliveryTracking bool
	observer           Observer
}

// Option configures a Client. Options validate their arguments: NewClient
// returns the first option error.
type Option func(*config) error

// WithBaseURL sets the API base URL (default DefaultBaseURL), e.g.
// "https://api.web1on1.chat/v2/". It must be https, except for loopback hosts
// (tests, chatshippertest): a bearer token never crosses a network in clear text.
// It must not carry credentials, a query or a fragment. A trailing slash is added.
func WithBaseURL(raw string) Option {
	return func(c *config) error {
		if _, err := parseBaseURL(raw); err != nil {
			return err
		}
		c.baseURL = raw
		return nil
	}
}

// WithHTTPClient makes the client send its requests with a copy of hc: hc's
// Transport, Jar and CheckRedirect are used, hc's Timeout becomes the timeout
// of each attempt (not counting the wait for a rate-limit slot), and hc itself
// is never modified. Without it the client uses http.DefaultTransport as it
// is when NewClient runs (a clone with a larger idle pool when it is an
// *http.Transport, otherwise the transport itself, so httpmock.Activate
// before NewClient works), with a 60 s timeout per attempt.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *config) error {
		if hc == nil {
			return argError("WithHTTPClient", "nil *http.Client")
		}
		c.httpClient = hc
		return nil
	}
}

// WithUserAgent appends s to the User-Agent "chatshipper-go/<version>".
func WithUserAgent(s string) Option {
	return func(c *config) error {
		if strings.ContainsAny(s, "\r\n") {
			return argError("WithUserAgent", "must not contain line breaks")
		}
		c.userAgent = strings.TrimSpace(s)
		return nil
	}
}

// WithMaxRetries sets how many times a failed request may be retried under the
// retry policy (default 3; 0 turns retries off).
func WithMaxRetries(n int) Option {
	return func(c *config) error {
		if n < 0 {
			return argError("WithMaxRetries", "must not be negative, got %d", n)
		}
		c.maxRetries = n
		return nil
	}
}

// WithRetryWait sets the shortest and longest wait between retries (default
// 500 ms and 30 s). A server's Retry-After is never shortened: when it asks
// for more than the longest wait, the call is not retried and returns at once
// (a 429 as *RateLimitError with RetryAfter set).
func WithRetryWait(minWait, maxWait time.Duration) Option {
	return func(c *config) error {
		if minWait <= 0 || maxWait < minWait {
			return argError("WithRetryWait", "need 0 < min <= max, got min %s max %s", minWait, maxWait)
		}
		c.waitMin, c.waitMax = minWait, maxWait
		return nil
	}
}

// WithLogger makes the client log at debug level what it does and why:
//
//   - "chatshipper: request": each attempt (method, url, attempt, duration,
//     status or error);
//   - "chatshipper: retrying": each retry, with the failed attempt's number,
//     the reason ("status 503", "transport error" with the error), the
//     server's retry_after if any, and the wait chosen;
//   - "chatshipper: not retrying": a failed attempt that is not retried, and
//     why (not transient, the server may have acted, Retry-After beyond the
//     longest wait, retries used up);
//   - "chatshipper: waited for rate limit": a wait of 100 ms or more for a
//     request slot, with its length;
//   - "chatshipper: rate limiter paused for Retry-After": a 429 pausing the
//     shared limiter;
//   - "chatshipper: refreshing token", "chatshipper: token refreshed" and (at
//     warn level) "chatshipper: token refresh failed", for a
//     RefreshingTokenSource that has no logger of its own;
//   - at warn level, "chatshipper: walk pages by offset": a walk that found
//     the server does not page by key (see [Walk.Pages]), with the
//     collection, the first page asked by offset and the reason.
//
// Headers and bodies, and so tokens and passwords, are never logged, and
// query values that may be personal data are redacted from URLs. Without it
// nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) error {
		c.logger = l
		return nil
	}
}

// WithTokenSource makes the client take its bearer token from ts (for example
// a RefreshingTokenSource) instead of the static token given to NewClient.
func WithTokenSource(ts TokenSource) Option {
	return func(c *config) error {
		if ts == nil {
			return argError("WithTokenSource", "nil TokenSource")
		}
		c.tokens = ts
		return nil
	}
}

// WithRetryNonIdempotent opts in to retrying POST, PATCH and PUT requests after
// a transport error or a 502/503/504, where the server may already have acted.
// Only use it when a duplicate (for example a message sent twice) is acceptable.
func WithRetryNonIdempotent(enabled bool) Option {
	return func(c *config) error {
		c.retryUnsafe = enabled
		return nil
	}
}

// WithMaxResponseBytes caps the size of a response body the client reads
// (default 32 MiB). A larger body fails with ErrResponseTooLarge.
func WithMaxResponseBytes(n int64) Option {
	return func(c *config) error {
		if n <= 0 {
			return argError("WithMaxResponseBytes", "must be positive, got %d", n)
		}
		c.maxBody = n
		return nil
	}
}

func withAnonymous() Option {
	return func(c *config) error {
		c.anonymous = true
		return nil
	}
}
