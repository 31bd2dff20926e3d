package chatshipper

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// Sentinel errors matched with errors.Is against the errors returned by the
// client. An *ErrorResponse matches the sentinel of its status code.
var (
	// ErrBadRequest matches a 400 Bad Request answer (invalid or missing parameters).
	ErrBadRequest = errors.New("chatshipper: bad request")
	// ErrUnauthorized matches a 401 answer (no valid authentication).
	ErrUnauthorized = errors.New("chatshipper: unauthorized")
	// ErrForbidden matches a 403 answer (the token lacks the permission, or has expired).
	ErrForbidden = errors.New("chatshipper: forbidden")
	// ErrNotFound matches a 404 answer (the resource does not exist).
	ErrNotFound = errors.New("chatshipper: not found")
	// ErrUnprocessable matches a 422 answer (well-formed but semantically invalid).
	ErrUnprocessable = errors.New("chatshipper: unprocessable entity")
	// ErrRateLimited matches a 429 answer that is not a bot loop limit (see ErrLoopLimit).
	ErrRateLimited = errors.New("chatshipper: rate limited")
	// ErrServer matches any 5xx answer.
	ErrServer = errors.New("chatshipper: server error")
	// ErrInvalidArgument matches every error the client returns, before any I/O,
	// for an argument it refuses (a malformed ID, an empty required field, ...).
	ErrInvalidArgument = errors.New("chatshipper: invalid argument")
	// ErrResponseTooLarge is returned when a response body exceeds the client's
	// limit (WithMaxResponseBytes).
	ErrResponseTooLarge = errors.New("chatshipper: response body too large")
)

// maxErrorBody caps how much of an error response body is kept.
const maxErrorBody = 1 << 20

// ErrorResponse is the error for an API answer with a non-2xx status.
//
// A server may quote in its message what the request carried (a validation
// error that cites the refused value, a 401 that cites the token), so every
// secret the request carried is replaced by "[redacted]" in Message and Body
// before the error is made: the bearer token, and in the JSON body the values
// under credential names (password, otp, refreshToken, secret, token,
// accessKey, signingKey, apiKey, ...) and the credentials of every URL (a
// user info password, a token query value). Credentials of URLs in the
// server's answer are replaced too, whatever the request held. The Body is
// redacted by the decoded value of each JSON string in it (keys included),
// so a server that writes a secret with \uXXXX escapes, surrogate pairs or
// \/ does not slip it through, and a JSON body stays JSON.
type ErrorResponse struct {
	// StatusCode is the HTTP status of the answer.
	StatusCode int
	// Message is the server's explanation, from {"message": ...} or
	// {"error": {"message": ...}} (empty when the body had neither), with
	// the request's secrets redacted.
	Message string
	// Body is the response body, capped at 1 MiB, with the request's
	// secrets redacted.
	Body []byte
	// Method and URL identify the request. The URL never carries credentials.
	Method string
	URL    string
	// Response is the HTTP response (its body already consumed).
	Response *http.Response `json:"-"`
}

// Error describes the failed request and the server's message.
func (e *ErrorResponse) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("chatshipper: %s %s: %d %s", e.Method, e.URL, e.StatusCode, msg)
}

// Is reports whether the error's status matches one of the sentinel errors.
func (e *ErrorResponse) Is(target error) bool {
	switch target {
	case ErrBadRequest:
		return e.StatusCode == http.StatusBadRequest
	case ErrUnauthorized:
		return e.StatusCode == http.StatusUnauthorized
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrUnprocessable:
		return e.StatusCode == http.StatusUnprocessableEntity
	case ErrRateLimited:
		return e.StatusCode == http.StatusTooManyRequests
	case ErrServer:
		return e.StatusCode >= 500 && e.StatusCode <= 599
	}
	return false
}

// RateLimitError is returned for a 429 answer once the retries allowed are used
// up, or at once when its Retry-After is longer than the longest retry wait
// (WithRetryWait). It unwraps to the *ErrorResponse, so errors.Is(err, ErrRateLimited) holds.
type RateLimitError struct {
	// RetryAfter is how long the server asked to wait (zero when it did not
	// say; at most 24 h, which also stands for any longer value).
	RetryAfter time.Duration
	// Attempts is how many times the request was sent.
	Attempts int
	// Err is the server's answer.
	Err *ErrorResponse
}

// Error says how often the request was tried and how long to wait.
func (e *RateLimitError) Error() string {
	s := fmt.Sprintf("chatshipper: rate limited after %d attempt(s)", e.Attempts)
	if e.RetryAfter > 0 {
		s += fmt.Sprintf("; retry after %s", e.RetryAfter)
	}
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the underlying *ErrorResponse.
func (e *RateLimitError) Unwrap() error {
	if e.Err == nil {
		return nil
	}
	return e.Err
}

// ArgumentError is returned before any I/O for an argument the client refuses.
// errors.Is(err, ErrInvalidArgument) holds.
type ArgumentError struct {
	// Name is the argument (or field) that was refused, e.g. "conversationID".
	Name string
	// Reason says what is wrong with it.
	Reason string
}

// Error names the argument and the reason.
func (e *ArgumentError) Error() string {
	return fmt.Sprintf("chatshipper: invalid argument %s: %s", e.Name, e.Reason)
}

// Is matches ErrInvalidArgument.
func (e *ArgumentError) Is(target error) bool { return target == ErrInvalidArgument }

func argError(name, format string, args ...any) error {
	return &ArgumentError{Name: name, Reason: fmt.Sprintf(format, args...)}
}

// errorBody covers both error body shapes the API uses.
type errorBody struct {
	Message string     `json:"message"`
	Error   errorField `json:"error"`
}

// errorField accepts {"error": {"message": "..."}} and {"error": "..."}.
type errorField struct {
	Message string
}

func (f *errorField) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := decodeJSON(b, &s); err != nil {
			return err
		}
		f.Message = s
		return nil
	}
	var obj struct {
		Message string `json:"message"`
	}
	if err := decodeJSON(b, &obj); err != nil {
		return nil // an unexpected shape is not an error: keep the raw body instead
	}
	f.Message = obj.Message
	return nil
}

// parseErrorMessage extracts the message of an error body, or "".
func parseErrorMessage(body []byte) string {
	var eb errorBody
	if err := decodeJSON(body, &eb); err != nil {
		return ""
	}
	if eb.Message != "" {
		return eb.Message
	}
	return eb.Error.Message
}

// redactedSecret replaces a secret of the request in an error.
const redactedSecret = "[redacted]"

// requestSecrets lists what a request carried that must not come back in an
// error: its bearer token, and from its JSON body the values under the names
// of credentials (see [wire.SecretName]: passwords, one-time codes numeric or
// not, tokens, secrets, keys; never the delivery key) at any depth, and the
// credentials of every URL in a string value. Longest first.
func requestSecrets(token string, body []byte) []string {
	var out []string
	add := func(s string) {
		if s != "" && s != redactedSecret && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	add(token)
	if len(body) > 0 {
		d := json.NewDecoder(bytes.NewReader(body))
		d.UseNumber()
		var v any
		if d.Decode(&v) == nil {
			collectSecrets(v, false, add)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return cmp.Compare(len(b), len(a)) })
	return out
}

// collectSecrets walks a decoded JSON value; under is true below a
// credential's name, where every scalar is a secret.
func collectSecrets(v any, under bool, add func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			collectSecrets(e, under || wire.SecretName(k), add)
		}
	case []any:
		for _, e := range x {
			collectSecrets(e, under, add)
		}
	case string:
		if under {
			add(x)
			return
		}
		wire.RedactURLs(x, redactedSecret, add)
	case json.Number:
		if under {
			add(x.String())
		}
	case bool:
	}
}

// redactSecrets replaces every secret in text (see [wire.ReplaceSecret]),
// and the credentials of any URL in it.
func redactSecrets(text string, secrets []string) string {
	for _, s := range secrets {
		text = wire.ReplaceSecret(text, s, redactedSecret)
	}
	return wire.RedactURLs(text, redactedSecret, nil)
}

// redactBody replaces the secrets in a raw body. A server may write a
// secret with whatever JSON escaping it likes (\u00e4, \u003c, surrogate
// pairs, \/), so the body is redacted in the decoded value space: every JSON
// string literal in it, keys included, is decoded, redacted as text (see
// redactSecrets) and, when that changed it, written again as a JSON string;
// everything else is kept byte for byte. Between the literals (numbers, or a
// body that is not JSON) the secrets are replaced as they are, a secret
// outside a string of a JSON body by the string "[redacted]" so the body
// stays JSON. A literal that does not decode (a body cut at the cap, text
// with a stray quote) is redacted as written, the secrets' JSON-escaped
// forms included.
func redactBody(body []byte, secrets []string) []byte {
	if len(body) == 0 {
		return body
	}
	text := string(body)
	outside := redactedSecret
	if t := strings.TrimLeft(text, " \t\r\n"); t != "" && (t[0] == '{' || t[0] == '[') {
		outside = `"` + redactedSecret + `"`
	}
	var b strings.Builder
	b.Grow(len(text))
	for text != "" {
		i := strings.IndexByte(text, '"')
		if i < 0 {
			b.WriteString(redactRaw(text, secrets, outside))
			break
		}
		b.WriteString(redactRaw(text[:i], secrets, outside))
		j := stringLiteralEnd(text, i)
		if j < 0 {
			b.WriteString(redactRaw(text[i:], secrets, redactedSecret))
			break
		}
		b.WriteString(redactLiteral(text[i:j], secrets))
		text = text[j:]
	}
	return []byte(b.String())
}

// stringLiteralEnd returns the index just after the JSON string literal that
// starts with the quote at text[i], or -1 when it is not closed.
func stringLiteralEnd(text string, i int) int {
	for j := i + 1; j < len(text); j++ {
		switch text[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return -1
}

// redactLiteral redacts one JSON string literal (quotes included) by its
// decoded value, or as written when it does not decode.
func redactLiteral(lit string, secrets []string) string {
	var s string
	if json.Unmarshal([]byte(lit), &s) != nil {
		return redactRaw(lit, secrets, redactedSecret)
	}
	r := redactSecrets(s, secrets)
	if r == s {
		return lit
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(r) != nil {
		return redactRaw(lit, secrets, redactedSecret)
	}
	return strings.TrimSuffix(buf.String(), "\n")
}

// redactRaw replaces the secrets in text as they are, and as a JSON encoder
// writes them inside a string (quotes, backslashes, control characters and,
// for some encoders, <, > and & escaped), by repl; and the credentials of
// any URL in it.
func redactRaw(text string, secrets []string, repl string) string {
	for _, s := range secrets {
		text = wire.ReplaceSecret(text, s, repl)
		for _, html := range []bool{false, true} {
			var buf bytes.Buffer
			enc := json.NewEncoder(&buf)
			enc.SetEscapeHTML(html)
			if enc.Encode(s) == nil {
				if esc := strings.TrimSuffix(strings.TrimSpace(buf.String()), `"`)[1:]; esc != s {
					text = wire.ReplaceSecret(text, esc, repl)
				}
			}
		}
	}
	return wire.RedactURLs(text, redactedSecret, nil)
}

// newErrorResponse reads a non-2xx answer into an *ErrorResponse, with the
// secrets of the request (see requestSecrets) redacted from its message and
// body.
func newErrorResponse(resp *http.Response, secrets []string) *ErrorResponse {
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	return &ErrorResponse{
		StatusCode: resp.StatusCode,
		Message:    redactSecrets(parseErrorMessage(body), secrets),
		Body:       redactBody(body, secrets),
		Response:   resp,
	}
}

// loopLimitPattern recognises the server's answer to a bot loop (api basics:
// identical or consecutive message limits). The exact wording of the live API
// is not documented; these words are what its docs use for the two limits.
var loopLimitPattern = regexp.MustCompile(`(?i)identical messages|consecutive messages|loop limit`)

func isLoopLimitMessage(msg string) bool { return loopLimitPattern.MatchString(msg) }

// redactURL returns u as a string fit for an error or a log line: without
// user info, and with the query values that may be a consumer's personal data
// replaced by REDACTED (see redactQuery).
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	if u.User == nil && u.RawQuery == "" {
		return u.String()
	}
	c := *u
	c.User = nil
	c.RawQuery = redactQuery(c.RawQuery)
	return c.String()
}

// redactedValue replaces a query value that may be personal data.
const redactedValue = "REDACTED"

// redactQuery replaces the values of query parameters that may be a
// consumer's personal data (an e-mail address, a telephone number, a name, a
// message text, anything in meta), keeping the parameter names and the values
// that cannot be, so a log line still says what was asked. It keeps a value
// only when
//
//   - its parameter is sort, select, populate, limit or offset (field names
//     and numbers); or
//   - every operand of the filter (after the operators of
//     https://developers.chatshipper.com/docs/api-fetching-resources: !, !=,
//     >, >=, <, <=, [...], ![...], and the comma of a range or list) is an id
//     (24 hexadecimal digits), a number of at most 5 digits, true, false,
//     null, or a date or time (2024-01-31, 2024-01-31T10:00:00.000Z); or
//   - its parameter is one of the enumerations the API defines (status, type,
//     role and their kin, at any depth outside meta) and every operand is a
//     lowercase word.
//
// Everything else is replaced: free text (text=, name=, a regular
// expression), anything under meta, and any parameter whose name mentions a
// contact detail or a credential ("email", "mail", "phone", "mobile",
// "password", "token", "secret"), whatever its value. A parameter without
// "=" is kept when it is a plain field name and replaced otherwise. raw may be
// malformed (it is also used for a query NewRequest refuses).
func redactQuery(raw string) string {
	if raw == "" {
		return ""
	}
	parts := strings.Split(raw, "&")
	changed := false
	for i, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok {
			if p != "" && !plainFieldName(unescapeLoose(p)) {
				parts[i] = redactedValue
				changed = true
			}
			continue
		}
		if v == "" {
			continue
		}
		if !keepQueryValue(unescapeLoose(k), unescapeLoose(v)) {
			parts[i] = k + "=" + redactedValue
			changed = true
		}
	}
	if !changed {
		return raw
	}
	return strings.Join(parts, "&")
}

func unescapeLoose(s string) string {
	if u, err := url.QueryUnescape(s); err == nil {
		return u
	}
	return s
}

// structuralParams hold field names and numbers, never a consumer's data.
var structuralParams = map[string]bool{"sort": true, "select": true, "populate": true, "limit": true, "offset": true}

// enumFields are the API's enumerations: a lowercase word there is one of
// the values the docs list, not a consumer's data.
var enumFields = map[string]bool{
	"status": true, "type": true, "role": true, "channel": true, "category": true, "kind": true,
	"state": true, "presence": true, "locale": true, "language": true, "lang": true, "direction": true,
	"priority": true, "event": true, "events": true, "action": true, "visibility": true,
}

var personalParamWords = []string{"email", "mail", "phone", "mobile", "password", "token", "secret"}

func personalParam(name string) bool {
	n := strings.ToLower(name)
	for _, w := range personalParamWords {
		if strings.Contains(n, w) {
			return true
		}
	}
	return false
}

// keepQueryValue reports whether the value v of query parameter name is kept
// by redactQuery.
func keepQueryValue(name, v string) bool {
	if structuralParams[name] {
		return true
	}
	if personalParam(name) {
		return false
	}
	if name == "meta" || strings.HasPrefix(name, "meta.") || strings.Contains(name, ".meta.") {
		return false
	}
	words := false
	if i := strings.LastIndexByte(name, '.'); enumFields[name[i+1:]] {
		words = true
	}
	return safeFilterOperands(v, words)
}

// safeFilterValue reports whether a filter operand, as a caller wrote it, is
// one redactQuery keeps (an id, a short number, a boolean, a date); the
// query builder's errors quote only such values.
func safeFilterValue(v string) bool { return safeFilterOperands(v, false) }

// safeFilterOperands reports whether every operand of the filter value v is
// an id, a short number, true, false, null or a date (or, with words, a
// lowercase word).
func safeFilterOperands(v string, words bool) bool {
	v = strings.TrimPrefix(v, "!")
	if strings.HasPrefix(v, "~") {
		return false // a regular expression is free text
	}
	if strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]") {
		v = v[1 : len(v)-1]
	}
	for _, e := range strings.Split(v, ",") {
		e = strings.TrimLeft(e, "=<>")
		if !safeOperand(e, words) {
			return false
		}
	}
	return true
}

func safeOperand(e string, words bool) bool {
	switch {
	case e == "", e == "true", e == "false", e == "null":
		return true
	case isObjectID(e), shortNumber(e), dateLike(e):
		return true
	case words:
		return lowerWord(e)
	}
	return false
}

// shortNumber: an optional minus sign, at most 5 digits, an optional
// fraction. Longer runs of digits may be a telephone or account number.
func shortNumber(s string) bool {
	s = strings.TrimPrefix(s, "-")
	whole, frac, _ := strings.Cut(s, ".")
	if len(whole) == 0 || len(whole) > 5 || !allDigits(whole) {
		return false
	}
	return allDigits(frac)
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// dateLike: 2024-01-31, optionally followed by a time of day in the forms
// RFC 3339 allows (T, digits, ":", ".", a zone "Z" or "+01:00").
func dateLike(s string) bool {
	if len(s) < 10 || !allDigits(s[0:4]) || s[4] != '-' || !allDigits(s[5:7]) || s[7] != '-' || !allDigits(s[8:10]) {
		return false
	}
	rest := s[10:]
	if rest == "" {
		return true
	}
	if rest[0] != 'T' && rest[0] != ' ' {
		return false
	}
	for i := 1; i < len(rest); i++ {
		if b := rest[i]; !(b >= '0' && b <= '9') && strings.IndexByte(":.Z+-", b) < 0 {
			return false
		}
	}
	return true
}

func lowerWord(s string) bool {
	if len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= 'a' && b <= 'z') && !(b >= '0' && b <= '9') && b != '_' && b != '-' {
			return false
		}
	}
	return true
}

// plainFieldName: a parameter written without "=", such as a bare field.
func plainFieldName(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; !(b >= 'a' && b <= 'z') && !(b >= 'A' && b <= 'Z') && !(b >= '0' && b <= '9') && strings.IndexByte("._-$", b) < 0 {
			return false
		}
	}
	return true
}

// redactURLErrors redacts, in place, the URL of every *url.Error in err's
// chain: http.Client puts the full request URL (a redirect target's
// included) into its errors, and the client's errors and log lines quote
// them.
func redactURLErrors(err error) {
	for err != nil {
		if ue, ok := err.(*url.Error); ok {
			if u, perr := url.Parse(ue.URL); perr == nil {
				ue.URL = redactURL(u)
			}
		}
		switch x := err.(type) {
		case interface{ Unwrap() error }:
			err = x.Unwrap()
		default:
			return
		}
	}
}

// isTokenExpiredMessage reports whether a 401/403 message says the token
// expired or is invalid, which is when a refreshing token source refreshes.
func isTokenExpiredMessage(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "jwt expired") || strings.Contains(m, "invalid signature") ||
		strings.Contains(m, "invalid token") || strings.Contains(m, "token expired") ||
		strings.Contains(m, "jwt malformed")
}

// AttemptTimeoutError is the cause of a *TransportError when one attempt took
// longer than the per-attempt timeout (WithHTTPClient's Timeout, 60 s by
// default). It is a timeout (Timeout reports true) and unwraps to the
// transport's error, so errors.Is(err, context.DeadlineExceeded) holds, as
// for http.Client's own timeouts.
type AttemptTimeoutError struct {
	// Limit is the per-attempt timeout that was exceeded.
	Limit time.Duration
	// Err is the transport's error.
	Err error
}

// Error says how long the attempt was allowed.
func (e *AttemptTimeoutError) Error() string {
	return fmt.Sprintf("attempt timed out after %s: %v", e.Limit, e.Err)
}

// Unwrap returns the transport's error.
func (e *AttemptTimeoutError) Unwrap() error { return e.Err }

// Timeout reports true: this is a timeout.
func (e *AttemptTimeoutError) Timeout() bool { return true }

// TransportError is returned when no HTTP answer was received (connection
// refused, reset, timeout), also when the failure came after following a
// redirect. For a POST, PATCH or PUT the server may have acted before the
// connection failed: the request was not retried, so nothing is sent twice,
// and the caller decides.
type TransportError struct {
	// Method and URL identify the request (the URL as the caller gave it,
	// never a redirect target, and redacted as described under Errors).
	Method string
	URL    string
	// Attempts is how many times the request was sent.
	Attempts int
	// Err is the transport's error.
	Err error

	reached bool // an attempt may have reached the server (see MayHaveReachedServer)
}

// Error describes the request and the cause.
func (e *TransportError) Error() string {
	return fmt.Sprintf("chatshipper: %s %s failed after %d attempt(s): %v", e.Method, e.URL, e.Attempts, e.Err)
}

// Unwrap returns the cause.
func (e *TransportError) Unwrap() error { return e.Err }

// MayHaveReachedServer reports whether the server could have acted on the
// request. It is judged by the first hop of every attempt: false only when no
// attempt ever connected, or the token source failed before anything was sent. A request whose first hop was answered with a
// redirect reached the server even when the redirect target then could not be
// connected to.
func (e *TransportError) MayHaveReachedServer() bool {
	if e.reached {
		return true
	}
	var ts *tokenSourceError
	return !isDialError(e.Err) && !errors.As(e.Err, &ts)
}
