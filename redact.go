package chatshipper

import (
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// printRedacted writes s, a value's redacted description, for any fmt verb,
// so that no verb (%d, %x, %#v ...) falls through to the value's fields.
func printRedacted(f fmt.State, verb rune, s string) {
	if verb == 'q' {
		s = strconv.Quote(s)
	}
	_, _ = io.WriteString(f, s)
}

func redactedIfSet(s string) string {
	if s == "" {
		return `""`
	}
	return "[redacted]"
}

// redactURLString returns a URL fit for printing: the password of its user
// info, user info without a password (a token as user name) and the values of
// credential query or fragment parameters (token, access_token, apiKey, ...:
// see [wire.SecretName]) read "redacted". A string that does not parse is
// replaced whole, since it may be anything.
func redactURLString(raw string) string {
	if raw == "" {
		return `""`
	}
	if _, err := url.Parse(raw); err != nil {
		return "[unparsable URL]"
	}
	// The URL itself, then any URL inside it (a callback in its query).
	return wire.RedactURLs(wire.RedactURL(raw, "redacted", nil), "redacted", nil)
}

// secretParamKey reports whether a params key names a credential: a
// [wire.SecretName], or any key mentioning "key" or "auth" (printing errs on
// the side of hiding).
func secretParamKey(k string) bool {
	l := strings.ToLower(k)
	return wire.SecretName(k) || strings.Contains(l, "key") || strings.Contains(l, "auth")
}

// redactParams returns a copy of params for printing: credential values are
// replaced, URLs lose their password, nested objects and arrays are walked.
func redactParams(m Meta) Meta {
	if m == nil {
		return nil
	}
	out := make(Meta, len(m))
	for k, v := range m {
		if secretParamKey(k) {
			out[k] = "[redacted]"
			continue
		}
		out[k] = redactValue(v)
	}
	return out
}

func redactValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		return map[string]any(redactParams(Meta(x)))
	case Meta:
		return redactParams(x)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = redactValue(e)
		}
		return out
	case string:
		return wire.RedactURLs(x, "redacted", nil)
	}
	return v
}
