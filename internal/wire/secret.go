package wire

import (
	"net/url"
	"regexp"
	"strings"
)

// SecretName reports whether a JSON key, a query parameter, a header or a
// service params key names a credential. It is the one rule behind what the
// SDK redacts from printed values, errors and recorded fixtures. The name is
// compared lower-case with '-', '_' and '.' removed; it names a secret when
//
//   - it contains password, passwd, secret, token, credential, signature,
//     apikey, privatekey, cookie or authorization (but a name ending in
//     "type", such as tokenType, names the kind of a credential, not one);
//   - it is otp, pin, auth, key, sig or hmac (a numeric one-time code too);
//   - it ends in "key" (accessKey, signingKey, hmacKey, encryptionKey, ...),
//     unless it ends in one of the keys that identify rather than
//     authenticate: deliverykey (the SDK's chatshipperDeliveryKey),
//     fieldkey, sortkey, idempotencykey, primarykey, foreignkey,
//     partitionkey, routingkey, cachekey, lookupkey.
func SecretName(name string) bool {
	k := normName(name)
	if k == "" || strings.HasSuffix(k, "type") {
		return false
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	switch k {
	case "otp", "pin", "auth", "key", "sig", "hmac":
		return true
	}
	if !strings.HasSuffix(k, "key") {
		return false
	}
	for _, id := range identifierKeys {
		if strings.HasSuffix(k, id) {
			return false
		}
	}
	return true
}

var secretWords = []string{"password", "passwd", "secret", "token", "credential", "signature", "apikey", "privatekey", "cookie", "authorization"}

var identifierKeys = []string{"deliverykey", "fieldkey", "sortkey", "idempotencykey", "primarykey", "foreignkey", "partitionkey", "routingkey", "cachekey", "lookupkey"}

func normName(name string) string {
	var b strings.Builder
	b.Grow(len(name))
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '-' || c == '_' || c == '.':
		case c >= 'A' && c <= 'Z':
			b.WriteByte(c + 'a' - 'A')
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// urlPattern finds URLs in free text: a scheme (optional, for "//host"
// references) and everything up to white space, a quote or an angle bracket.
var urlPattern = regexp.MustCompile("(?i)(?:\\b[a-z][a-z0-9+.-]*:)?//[^\\s\"'<>`]+")

// RedactURLs returns s with the credentials of every URL in it replaced by
// repl: the password of user info ("user:pass@" becomes "user:repl@"), user
// info without a password whole (a token used as a user name), and the values
// of query and fragment parameters whose names are [SecretName]s
// ("?token=abc" becomes "?token=repl"). Everything else is kept byte for
// byte. found, if not nil, receives each value replaced, as written and
// percent-decoded (when that differs).
//
// It is idempotent: a value that already is repl is kept (and not reported),
// also at the end of the text, where repl's own closing punctuation ("]" of
// "[redacted]") is not taken for the sentence's. The replay scrubber relies
// on this: it redacts a recorded value it learnt first and then the URL, and
// must write what the replayer, which learns nothing, computes.
func RedactURLs(s, repl string, found func(string)) string {
	if !strings.Contains(s, "//") {
		return s
	}
	return urlPattern.ReplaceAllStringFunc(s, func(u string) string {
		// Trailing punctuation belongs to the sentence, not to the URL,
		// unless it closes a value already replaced.
		end := len(strings.TrimRight(u, ".,;:!?)]}"))
		if repl != "" {
			if i := strings.LastIndex(u, repl); i >= 0 && i < end && i+len(repl) > end {
				end = i + len(repl)
			}
		}
		return RedactURL(u[:end], repl, found) + u[end:]
	})
}

// RedactURL is [RedactURLs] for a string that is one URL, absolute or not
// (a relative reference has no user info, but may have a query).
func RedactURL(u, repl string, found func(string)) string {
	head, auth, tail := "", "", u
	if i := strings.Index(u, "//"); i >= 0 && !strings.ContainsAny(u[:i], "/?#") {
		rest := u[i+2:]
		authEnd := strings.IndexAny(rest, "/?#")
		if authEnd < 0 {
			authEnd = len(rest)
		}
		head, auth, tail = u[:i+2], rest[:authEnd], rest[authEnd:]
	}
	if at := strings.LastIndexByte(auth, '@'); at >= 0 {
		info, host := auth[:at], auth[at+1:]
		if user, pass, ok := strings.Cut(info, ":"); ok {
			if pass != "" && pass != repl {
				report(found, pass)
				info = user + ":" + repl
			}
		} else if info != "" && info != repl {
			report(found, info)
			info = repl
		}
		auth = info + "@" + host
	}
	var frag string
	if j := strings.IndexByte(tail, '#'); j >= 0 {
		tail, frag = tail[:j], tail[j+1:]
	}
	if j := strings.IndexByte(tail, '?'); j >= 0 {
		tail = tail[:j+1] + redactParams(tail[j+1:], repl, found)
	}
	if frag != "" || strings.HasSuffix(u, "#") {
		tail += "#" + redactParams(frag, repl, found)
	}
	return head + auth + tail
}

// redactParams replaces the values of secret-named parameters in an
// "a=1&b=2" list.
func redactParams(q, repl string, found func(string)) string {
	if !strings.Contains(q, "=") {
		return q
	}
	parts := strings.Split(q, "&")
	changed := false
	for i, p := range parts {
		name, v, ok := strings.Cut(p, "=")
		if !ok || v == "" || v == repl || !SecretName(unescape(name)) {
			continue
		}
		report(found, v)
		parts[i] = name + "=" + repl
		changed = true
	}
	if !changed {
		return q
	}
	return strings.Join(parts, "&")
}

func report(found func(string), v string) {
	if found == nil {
		return
	}
	found(v)
	if d := unescape(v); d != v {
		found(d)
	}
}

func unescape(s string) string {
	if d, err := url.QueryUnescape(s); err == nil {
		return d
	}
	return s
}

// ReplaceSecret replaces secret in text with repl. A secret shorter than 4
// bytes, or made of digits only (a one-time code), is replaced only where no
// letter or digit touches it, so it does not take pieces out of words, IDs
// and numbers that happen to hold it.
func ReplaceSecret(text, secret, repl string) string {
	if secret == "" || !strings.Contains(text, secret) {
		return text
	}
	if len(secret) >= 4 && strings.ContainsFunc(secret, func(r rune) bool { return r < '0' || r > '9' }) {
		return strings.ReplaceAll(text, secret, repl)
	}
	var b strings.Builder
	for {
		i := strings.Index(text, secret)
		if i < 0 {
			b.WriteString(text)
			return b.String()
		}
		j := i + len(secret)
		if (i > 0 && isWordByte(text[i-1])) || (j < len(text) && isWordByte(text[j])) {
			b.WriteString(text[:j])
		} else {
			b.WriteString(text[:i])
			b.WriteString(repl)
		}
		text = text[j:]
	}
}

func isWordByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c >= 0x80
}
