package replay

import (
	"cmp"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// Redacted replaces every secret in a fixture.
const Redacted = "[redacted]"

// Scrubber edits an exchange before it is written to a fixture, to redact what
// the built-in scrubbing does not know about (e-mail addresses, telephone
// numbers, names). It runs after the built-in scrubbing. The replayer runs the
// same scrubbers over each incoming request (an Exchange whose Response is
// zero) before matching it, so a scrubber must be deterministic: equal input,
// equal output.
type Scrubber func(*Exchange)

// ScrubStrings returns a Scrubber that passes every string of an exchange
// through f: the path, query values, JSON string values (not keys) of both
// bodies, text bodies and recorded response header values.
func ScrubStrings(f func(string) string) Scrubber {
	return func(ex *Exchange) { walkStrings(ex, f) }
}

// ScrubRegexp returns a Scrubber that replaces every match of re in every
// string of an exchange (as [ScrubStrings] walks them) with repl, expanded as
// by [regexp.Regexp.ReplaceAllString]. For example, to hide e-mail addresses:
//
//	replay.ScrubRegexp(regexp.MustCompile(`[\w.+-]+@[\w-]+(\.[\w-]+)+`), "user@example.com")
func ScrubRegexp(re *regexp.Regexp, repl string) Scrubber {
	return ScrubStrings(func(s string) string { return re.ReplaceAllString(s, repl) })
}

// ScrubKeys returns a Scrubber that replaces with [Redacted] the string values
// held under the given JSON keys (compared case-insensitively, at any depth,
// in both bodies) and the values of query parameters with those names.
func ScrubKeys(keys ...string) Scrubber {
	set := make(map[string]bool, len(keys))
	for _, k := range keys {
		set[strings.ToLower(k)] = true
	}
	match := func(k string) bool { return set[strings.ToLower(k)] }
	return func(ex *Exchange) {
		for k, vs := range ex.Request.Query {
			if match(k) {
				for i := range vs {
					vs[i] = Redacted
				}
			}
		}
		ex.Request.Body = redactKeys(ex.Request.Body, match, false, nil)
		ex.Response.Body = redactKeys(ex.Response.Body, match, false, nil)
	}
}

// secretKey reports whether a JSON key, query parameter or header names a
// credential: the SDK's one rule (passwords, tokens, secrets, signatures,
// cookies, one-time codes, keys naming a key such as accessKey or
// signingKey; never the delivery key chatshipperDeliveryKey nor keys that
// identify, such as fieldKey or sortKey). See the package documentation.
func secretKey(k string) bool { return wire.SecretName(k) }

// redactKeys replaces the strings and numbers held under keys that match
// (and everything below them) with Redacted; found, if not nil, receives the
// replaced values.
func redactKeys(v any, match func(string) bool, under bool, found func(string)) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = redactKeys(e, match, under || match(k), found)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = redactKeys(e, match, under, found)
		}
		return x
	case string:
		if under {
			if found != nil {
				found(x)
			}
			return Redacted
		}
	case json.Number: // a numeric one-time code
		if under {
			if found != nil {
				found(x.String())
			}
			return Redacted
		}
	}
	return v
}

// walkStrings passes every string value of ex through f.
func walkStrings(ex *Exchange, f func(string) string) {
	ex.Request.Path = f(ex.Request.Path)
	for _, vs := range ex.Request.Query {
		for i := range vs {
			vs[i] = f(vs[i])
		}
	}
	ex.Request.Body = mapStrings(ex.Request.Body, f)
	if ex.Request.BodyText != "" {
		ex.Request.BodyText = f(ex.Request.BodyText)
	}
	for _, vs := range ex.Response.Header {
		for i := range vs {
			vs[i] = f(vs[i])
		}
	}
	ex.Response.Body = mapStrings(ex.Response.Body, f)
	if ex.Response.BodyText != "" {
		ex.Response.BodyText = f(ex.Response.BodyText)
	}
}

func mapStrings(v any, f func(string) string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = mapStrings(e, f)
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = mapStrings(e, f)
		}
		return x
	case string:
		return f(x)
	}
	return v
}

// jwtPattern finds JSON Web Tokens (ChatShipper access tokens) wherever they
// appear, even under a key that does not look secret.
var jwtPattern = regexp.MustCompile(`eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*`)

// minSecretLen is the shortest value replaced wherever it appears; shorter
// secrets are still redacted under their keys.
const minSecretLen = 4

// scrubber is the built-in scrubbing plus the caller's. It remembers the
// secrets it has seen (a token from a login answer, the password sent, the
// credentials of a URL) and removes them from everything recorded
// afterwards, wherever they appear.
type scrubber struct {
	extra []Scrubber
	// learn is false for the replayer: the secrets of a replayed request
	// (often a dummy token such as "test") must not redact the words of its
	// body.
	learn bool

	mu       sync.Mutex
	secrets  map[string]bool
	replacer *strings.Replacer
	bounded  []string // secrets replaced only as whole words (digits only)
}

func newScrubber(extra []Scrubber, learn bool) *scrubber {
	return &scrubber{extra: extra, learn: learn, secrets: map[string]bool{}}
}

func (s *scrubber) add(v string) {
	if !s.learn || len(v) < minSecretLen || v == Redacted || s.secrets[v] {
		return
	}
	s.secrets[v] = true
	s.replacer = nil
}

// replace removes known secrets, JWTs, the credentials of URLs and the API
// origin from one string.
func (s *scrubber) replace(v, origin string) string {
	if s.replacer == nil && len(s.secrets) > 0 {
		list := make([]string, 0, len(s.secrets))
		for k := range s.secrets {
			list = append(list, k)
		}
		// Longest first, so a secret containing another is replaced whole.
		slices.SortFunc(list, func(a, b string) int {
			return cmp.Or(cmp.Compare(len(b), len(a)), strings.Compare(a, b))
		})
		pairs := make([]string, 0, 2*len(list))
		s.bounded = s.bounded[:0]
		for _, k := range list {
			if strings.Trim(k, "0123456789") == "" {
				// A numeric code could be part of an ID or a date.
				s.bounded = append(s.bounded, k)
				continue
			}
			pairs = append(pairs, k, Redacted)
		}
		s.replacer = strings.NewReplacer(pairs...)
	}
	if s.replacer != nil {
		v = s.replacer.Replace(v)
		for _, k := range s.bounded {
			v = wire.ReplaceSecret(v, k, Redacted)
		}
	}
	v = jwtPattern.ReplaceAllString(v, Redacted)
	v = wire.RedactURLs(v, Redacted, nil)
	if origin != "" {
		v = strings.ReplaceAll(v, origin, RecordedOrigin)
	}
	return v
}

// learnURLs learns the credentials of the URLs in v's strings.
func (s *scrubber) learnURLs(v any) {
	mapStrings(v, func(x string) string {
		wire.RedactURLs(x, Redacted, s.add)
		return x
	})
}

// scrubRequest scrubs the request half of ex; reqHeader is the request's
// header (never recorded, but its credentials are learnt), origin the
// request's scheme and host. Every secret is learnt before anything is
// replaced, so a secret is removed wherever it appears in the request.
func (s *scrubber) scrubRequest(ex *Exchange, reqHeader http.Header, origin string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, vs := range reqHeader {
		if !secretKey(name) {
			continue
		}
		for _, v := range vs {
			s.add(v)
			if _, cred, ok := strings.Cut(v, " "); ok {
				s.add(strings.TrimSpace(cred))
			}
		}
	}
	for k, vs := range ex.Request.Query {
		if secretKey(k) {
			for i, v := range vs {
				s.add(v)
				vs[i] = Redacted
			}
		}
	}
	ex.Request.Body = redactKeys(ex.Request.Body, secretKey, false, s.add)
	s.learnURLs(ex.Request.Path)
	for _, vs := range ex.Request.Query {
		for _, v := range vs {
			s.learnURLs(v)
		}
	}
	s.learnURLs(ex.Request.Body)
	s.learnURLs(ex.Request.BodyText)
	f := func(v string) string { return s.replace(v, origin) }
	ex.Request.Path = f(ex.Request.Path)
	for _, vs := range ex.Request.Query {
		for i := range vs {
			vs[i] = f(vs[i])
		}
	}
	ex.Request.Body = mapStrings(ex.Request.Body, f)
	ex.Request.BodyText = f(ex.Request.BodyText)
}

// scrubResponse scrubs the response half of ex and then runs the caller's
// scrubbers over the whole exchange.
func (s *scrubber) scrubResponse(ex *Exchange, origin string) {
	s.mu.Lock()
	ex.Response.Body = redactKeys(ex.Response.Body, secretKey, false, s.add)
	for _, vs := range ex.Response.Header {
		for _, v := range vs {
			s.learnURLs(v)
		}
	}
	s.learnURLs(ex.Response.Body)
	s.learnURLs(ex.Response.BodyText)
	f := func(v string) string { return s.replace(v, origin) }
	for _, vs := range ex.Response.Header {
		for i := range vs {
			vs[i] = f(vs[i])
		}
	}
	ex.Response.Body = mapStrings(ex.Response.Body, f)
	ex.Response.BodyText = f(ex.Response.BodyText)
	s.mu.Unlock()
	s.runExtra(ex)
}

// scrubError records a transport failure of kind as ex's Error, scrubbed
// as any recorded string, and then runs the caller's scrubbers.
func (s *scrubber) scrubError(ex *Exchange, kind, origin string) {
	s.mu.Lock()
	ex.Error = s.replace(kind, origin)
	s.mu.Unlock()
	s.runExtra(ex)
}

func (s *scrubber) runExtra(ex *Exchange) {
	for _, sc := range s.extra {
		sc(ex)
	}
}
