package redisstore

import (
	"crypto/sha256"
	"encoding/hex"
	"net/netip"
	"strings"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
)

// Defaults of the options.
const (
	// DefaultCallTimeout bounds each Redis call (one script run). A call
	// that takes longer counts as Redis being unavailable.
	DefaultCallTimeout = 250 * time.Millisecond
	// DefaultKeyPrefix starts every key this package writes.
	DefaultKeyPrefix = "chatshipper"
	// DefaultLease is how long a [Deduper] claim holds when its holder never
	// calls Finish (it died): after it, a later delivery of the event is
	// processed.
	DefaultLease = time.Minute
)

// Option configures [NewLimiter], [NewDeduper] or [NewLoopGuardStore]. Each
// option says which it applies to; passing it to another is an argument
// error.
type Option func(*config) error

type config struct {
	prefix      string
	callTimeout time.Duration

	// limiter only
	n, fallback int
	window      time.Duration
	limitSet    bool

	// dedupe only
	lease, doneTTL time.Duration
}

func defaultConfig() config {
	return config{
		prefix:      DefaultKeyPrefix,
		callTimeout: DefaultCallTimeout,
		n:           chatshipper.DefaultRequestsPerSecond,
		window:      time.Second + chatshipper.DefaultRateLimitMargin,
		lease:       DefaultLease,
		doneTTL:     webhook.DedupeTTL,
	}
}

func buildConfig(opts []Option) (config, error) {
	cfg := defaultConfig()
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return cfg, err
		}
	}
	return cfg, nil
}

// WithKeyPrefix replaces [DefaultKeyPrefix] as the start of every key
// written, for several applications sharing one Redis database. Applies to
// [NewLimiter], [NewDeduper] and [NewLoopGuardStore].
func WithKeyPrefix(prefix string) Option {
	return func(c *config) error {
		if prefix == "" || strings.ContainsAny(prefix, "{} \t\r\n") {
			return argError("WithKeyPrefix", "must be non-empty without braces or spaces, got %q", prefix)
		}
		c.prefix = prefix
		return nil
	}
}

// WithCallTimeout bounds each Redis call (default [DefaultCallTimeout]); a
// call that takes longer fails with an error matching [ErrUnavailable]. The
// caller's context bounds it too. Applies to [NewLimiter], [NewDeduper] and
// [NewLoopGuardStore].
func WithCallTimeout(d time.Duration) Option {
	return func(c *config) error {
		if d <= 0 {
			return argError("WithCallTimeout", "must be positive, got %s", d)
		}
		c.callTimeout = d
		return nil
	}
}

// WithLimit sets the shared limit of a [Limiter]: at most n grants in any
// sliding window of length window, across every process sharing the name.
// The default is [chatshipper.DefaultRequestsPerSecond] per second plus
// [chatshipper.DefaultRateLimitMargin]. Every process sharing a name must use
// the same limit. Applies to [NewLimiter] only.
func WithLimit(n int, window time.Duration) Option {
	return func(c *config) error {
		if n < 1 {
			return argError("WithLimit", "n must be positive, got %d", n)
		}
		if window < time.Millisecond {
			return argError("WithLimit", "window must be at least 1ms, got %s", window)
		}
		c.n, c.window, c.limitSet = n, window, true
		return nil
	}
}

// WithFallback makes a [Limiter] fall back to an in-process
// [chatshipper.WindowLimiter] of n grants per window while Redis is
// unavailable, instead of failing closed. Choose n so that every process
// sharing the name together stays within the limit: the limit divided by the
// number of processes, rounded down. See the package documentation for how
// the switch in both directions keeps the limit. Applies to [NewLimiter]
// only.
func WithFallback(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return argError("WithFallback", "n must be positive, got %d", n)
		}
		c.fallback = n
		return nil
	}
}

// WithLease sets how long a [Deduper] claim holds without Finish (default
// [DefaultLease]). Choose it longer than the slowest handler: a handler still
// running when its lease ends lets a later delivery of the event run too.
// Applies to [NewDeduper] only.
func WithLease(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return argError("WithLease", "must be at least 1ms, got %s", d)
		}
		c.lease = d
		return nil
	}
}

// WithDoneTTL sets how long a [Deduper] remembers a successfully handled
// event ID (default [webhook.DedupeTTL], as long as the platform retries).
// Applies to [NewDeduper] only.
func WithDoneTTL(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return argError("WithDoneTTL", "must be at least 1ms, got %s", d)
		}
		c.doneTTL = d
		return nil
	}
}

// TokenName returns a name for [NewLimiter] that identifies the owner of an
// API token without containing it: "user:" and the token's user ID when the
// token is a JWT naming its user ([chatshipper.UserIDFromToken]), else
// "sha256:" and the first 32 hex digits of the token's SHA-256 digest.
// Processes with the same token get the same name.
func TokenName(token string) string {
	if id := chatshipper.UserIDFromToken(token); id != "" {
		return "user:" + id
	}
	sum := sha256.Sum256([]byte(token))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// IPName returns a name for [NewLimiter] for the limit the API sets per IP
// address (20 requests per second whatever the API key,
// https://developers.chatshipper.com/docs/api-introduction, Rate Limiting):
// "ip:" and ip, an IPv4-mapped IPv6 address written as IPv4. Give it the
// address the API sees, the public egress address (behind NAT, the
// gateway's), and plug the limiter in with [chatshipper.WithIPLimiter] in
// every process that leaves through it, next to its per-key limiter
// ([chatshipper.WithLimiter]). Any other name that all those processes use
// works as well, for example the NAT gateway's.
func IPName(ip netip.Addr) string {
	return "ip:" + ip.Unmap().String()
}

// validName refuses empty names, names with braces (they would break the
// cluster hash tag) and names that look like a JWT, so that a token never
// becomes part of a Redis key.
func validName(what, name string) error {
	switch {
	case name == "":
		return argError(what, "must not be empty")
	case len(name) > 256:
		return argError(what, "must be at most 256 bytes, got %d", len(name))
	case strings.ContainsAny(name, "{}"):
		return argError(what, "must not contain braces")
	case looksLikeJWT(name):
		return argError(what, "looks like a token; pass TokenName(token) instead of the token")
	}
	return nil
}

func looksLikeJWT(s string) bool {
	parts := strings.Split(s, ".")
	return len(parts) == 3 && strings.HasPrefix(parts[0], "eyJ") && len(parts[1]) > 0 && len(parts[2]) > 0
}
