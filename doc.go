// Package chatshipper is a typed client for the ChatShipper (Web1on1) REST API
// v2: conversations between consumers, agents and bots, and the resources
// around them. It is written for Go automations: bots that answer in
// conversations, integrations that open and route conversations, and jobs
// that page through thousands of records.
//
// # Getting started
//
// Create one Client per token and share it between goroutines:
//
//	c, err := chatshipper.NewClient(os.Getenv("CHATSHIPPER_TOKEN"))
//	if err != nil { ... }
//	conv, _, err := c.Conversations.Get(ctx, "5bb0277fd99faf11a3f4a37e", nil)
//
// Every call takes a context.Context first and returns the typed result, a
// *Response (the HTTP response plus list metadata) and an error. Endpoints the
// SDK does not wrap are reachable with Client.NewRequest and Client.Do, which
// apply the same authentication, retries, limits and error mapping.
//
// # Authentication
//
// Every request carries "Authorization: Bearer <token>", set on a clone of the
// request so the caller's request is never modified, and only for the API's
// own host: a redirect to another host never carries the token.
//
// A bot user's API key is a permanent token: pass it to NewClient. Time-based
// tokens expire after 24 hours; obtain one with Login (POST /v2/auth/token,
// with a one-time code when the account uses two-factor authentication) and
// keep it fresh with a RefreshingTokenSource:
//
//	tok, err := chatshipper.Login(ctx, "", email, password, "")
//	src, err := chatshipper.NewRefreshingTokenSource(chatshipper.RefreshConfig{
//		Token:     *tok,
//		OnRefresh: func(t chatshipper.Token) { save(t) },
//	})
//	c, err := chatshipper.NewClient("", chatshipper.WithTokenSource(src))
//
// The refreshing source refreshes shortly before the JWT's exp claim (read
// without verifying), and once after a 401 or 403 whose message says the token
// expired or is invalid (the documentation says 403, the official Node SDK
// reacts to 401: both are handled). Concurrent callers share one refresh.
//
// The base URL must be https; http is accepted only for loopback hosts (tests
// and the chatshippertest fake server), so a token never crosses a network in
// clear text. Tokens, passwords and refresh tokens never appear in an error
// string or a log line, and a Token prints redacted.
//
// # Retries and idempotency
//
// Requests go through go-retryablehttp with this package's own policy:
//
//	what happened                                 GET, DELETE          POST, PATCH, PUT
//	could not connect (the request never left)    retried              retried
//	other transport error (server may have acted) retried              returned (*TransportError)
//	429 Too Many Requests                         retried after        retried after
//	                                              Retry-After          Retry-After (the server did not act)
//	429 bot loop limit                            *LoopLimitError      *LoopLimitError
//	502, 503, 504                                 retried              returned
//	500 and every other status                    returned             returned
//	context cancelled or past its deadline        returned at once     returned at once
//
// A request that may have created something (a message!) is never sent twice
// unless the caller opts in with WithRetryNonIdempotent. Retry-After is read as
// seconds or as an HTTP date and capped by the longest wait (WithRetryWait);
// otherwise the wait grows exponentially with full jitter. WithMaxRetries sets
// the number of retries (default 3). Cancelling the context ends a call at
// once, also while it waits between retries.
//
// # Errors
//
// A non-2xx answer is returned as *ErrorResponse (status, the server's message
// from either {"message": ...} or {"error": {"message": ...}}, the raw body
// capped at 1 MiB, method and URL). Branch with errors.Is on the sentinels:
//
//	ErrBadRequest (400)  ErrUnauthorized (401)  ErrForbidden (403)  ErrNotFound (404)
//	ErrUnprocessable (422)  ErrRateLimited (429)  ErrServer (5xx)
//
// and with errors.As for details: *RateLimitError (RetryAfter, Attempts) when
// a 429 outlasted the retries, *LoopLimitError for a bot loop limit,
// *TransportError when no answer arrived (MayHaveReachedServer tells whether a
// POST could have been acted on), *ArgumentError (errors.Is ErrInvalidArgument)
// for input refused before any I/O. A cancelled or expired context gives an
// error for which errors.Is(err, context.Canceled) or
// errors.Is(err, context.DeadlineExceeded) holds. Response bodies are capped
// (32 MiB by default, WithMaxResponseBytes); a larger one is ErrResponseTooLarge.
//
// # Times, references and unknown data
//
// Timestamp reads ISO 8601 with or without an offset (none means UTC) and with
// or without fractional seconds, and writes RFC 3339 in UTC with milliseconds.
// A Ref[T] field holds an ID until the request populates it, then the object:
// Ref.ID is always set, Ref.Value only when populated. Unknown JSON fields are
// ignored and unknown enum values are kept, because the API adds fields and
// values in backward-compatible releases.
package chatshipper
