package webhook

import (
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // G505: the platform signs webhooks with HMAC-SHA1 (X-Hub-Signature)
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"strings"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// Delivery signatures: https://developers.web1on1.chat/webhooks/verification

// SignatureHeader is the header carrying a delivery's signature:
// "sha1=" followed by the hex HMAC-SHA1 of the raw body, keyed with the
// webhook's secret.
const SignatureHeader = "X-Hub-Signature"

// Signature errors. Each one matches ErrInvalidSignature through errors.Is, so
// a caller that only needs "reject" checks that one.
var (
	// ErrInvalidSignature matches every reason a delivery's signature is refused.
	ErrInvalidSignature = errors.New("chatshipper: invalid webhook signature")
	// ErrSignatureMissing is returned when the X-Hub-Signature header is absent or empty.
	ErrSignatureMissing = fmt.Errorf("%w: X-Hub-Signature header missing", ErrInvalidSignature)
	// ErrSignatureMalformed is returned for a header that is not "sha1=" and 40
	// hex digits (another algorithm, odd-length or non-hex digits, nothing after "=").
	ErrSignatureMalformed = fmt.Errorf("%w: X-Hub-Signature header malformed", ErrInvalidSignature)
	// ErrSignatureMismatch is returned when the header is well formed but does
	// not match the body: the body was altered or signed with another secret.
	ErrSignatureMismatch = fmt.Errorf("%w: signature does not match the body", ErrInvalidSignature)
)

// Sign returns the X-Hub-Signature header value ChatShipper sends with body:
// "sha1=" and the hex HMAC-SHA1 of body keyed with secret. It is meant for
// tests and fake servers that deliver webhooks.
func Sign(body []byte, secret string) string {
	m := hmac.New(sha1.New, []byte(secret))
	m.Write(body)
	return "sha1=" + hex.EncodeToString(m.Sum(nil))
}

// VerifySignature checks header (the X-Hub-Signature value) against body and
// secret in constant time. It returns nil when they match, an error matching
// ErrSignatureMissing, ErrSignatureMalformed or ErrSignatureMismatch (and so
// ErrInvalidSignature) when they do not, and a [*chatshipper.ArgumentError] when secret is
// empty, since an empty key proves nothing. Check the raw body as received,
// before any JSON parsing. The algorithm name is read case-insensitively and
// the digest in either hex case. Errors never contain the secret.
func VerifySignature(body []byte, header, secret string) error {
	if secret == "" {
		return argError("secret", "must not be empty")
	}
	return verifySignature(hmac.New(sha1.New, []byte(secret)), body, header, nil)
}

// verifySignature checks header with mac, a fresh or reset HMAC-SHA1 keyed
// with the secret (the handler reuses them); the sum is appended to buf.
func verifySignature(mac hash.Hash, body []byte, header string, buf []byte) error {
	header = strings.TrimSpace(header)
	if header == "" {
		return ErrSignatureMissing
	}
	alg, digest, ok := strings.Cut(header, "=")
	if !ok {
		return fmt.Errorf("%w: want sha1=<hex digest>", ErrSignatureMalformed)
	}
	if !strings.EqualFold(alg, "sha1") {
		return fmt.Errorf("%w: algorithm %q, want sha1", ErrSignatureMalformed, wire.Truncate(alg, 16))
	}
	if len(digest) != 2*sha1.Size {
		return fmt.Errorf("%w: digest of %d hex digits, want %d", ErrSignatureMalformed, len(digest), 2*sha1.Size)
	}
	var hexDigest [2 * sha1.Size]byte // a copy on the stack: no allocation per delivery
	copy(hexDigest[:], digest)
	var got [sha1.Size]byte
	if _, err := hex.Decode(got[:], hexDigest[:]); err != nil {
		return fmt.Errorf("%w: digest is not hexadecimal", ErrSignatureMalformed)
	}
	mac.Write(body)
	if !hmac.Equal(got[:], mac.Sum(buf)) {
		return ErrSignatureMismatch
	}
	return nil
}
