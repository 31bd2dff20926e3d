package chatshippertest

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Profiles: servers the API documentation allows that are not the fake's
// defaults. Each option below changes one thing the documentation leaves
// open and keeps the fake within what it says; [Profiles] names them so a
// test suite can run against each, and [ParseProfile] reads the names back.

// Profile is a named variation of the fake that stays within the documented
// API: one option (or, for a combination, several) with the documentation
// that allows it. The zero Profile is the default server.
type Profile struct {
	// Name is short and stable, made of lowercase letters, digits and
	// hyphens ("page-cap-10"); a combination joins its parts with "+"
	// ("page-cap-10+no-total"). Test names use it (profile=<name>), and
	// ParseProfile reads it back.
	Name string
	// Summary says in one sentence what the server does differently.
	Summary string
	// Docs is the sentence of the public API documentation that allows the
	// variation (quoted where the page's words are known), and why.
	Docs string
	// URL is the documentation page Docs is taken from.
	URL string
	// Area is what the profile changes: "pages", "clock", "errors", "rate
	// limit", "loop limit" or "webhooks", so a suite can pick the profiles
	// that bear on a promise. A combination lists its parts' areas, comma
	// separated, each once.
	Area string
	// Option applies the variation to a server. Options of different
	// profiles compose; give them after options they should override.
	Option Option

	settings []string  // what it changes; two parts of a combination may not share one
	parts    []Profile // the single profiles of a combination
}

// Parts returns the single profiles a profile is made of: itself for one of
// [Profiles], each part for a combination, none for the default.
func (p Profile) Parts() []Profile {
	if p.parts != nil {
		return slices.Clone(p.parts)
	}
	if p.Name == "" || p.Name == defaultProfile {
		return nil
	}
	return []Profile{p}
}

// String returns the profile's name, "default" for the zero Profile.
func (p Profile) String() string {
	if p.Name == "" {
		return defaultProfile
	}
	return p.Name
}

// defaultProfile names the server without variations.
const defaultProfile = "default"

// Public documentation pages the profiles cite.
const (
	docsIntroduction = "https://developers.chatshipper.com/docs/api-introduction"
	docsResourceSets = "https://developers.chatshipper.com/docs/api-resource-sets"
	docsWebhooks     = "https://developers.web1on1.chat/webhooks/responding"
)

// Documentation sentences shared by several profiles.
const (
	docsPageLength = `The API lists "Changing default page length for paginated resources" among the changes it considers ` +
		`backwards compatible, and documents limit as "Limit the response document count to n at maximum.": ` +
		`a page may be shorter than the limit asked.`
	docsIDCompare = `The comparison operators are documented on numbers: "/users?age=>18 returns all users older than 18 ` +
		`(age should be a number property)". An id is not a number, so what id>X does is left open.`
	docsTotals = `The documentation describes X-Total and X-Total-Pages as "meta information in the response headers, ` +
		`which can be useful for pagination", shown by one example, and promises them nowhere.`
	docsLink = `"API responses, for paged results, contain HTTP Link headers": which answers count as paged results ` +
		`is not said, and the documented example's first URL (https://api.chatshipper.com.v2/users) cannot be followed.`
	docsClock = `"All datetime objects in ChatShipper use ISO 8601 formatting. For datetime objects without a specified ` +
		`offset, UTC (Coordinated Universal Time) is assumed.": the format and the zone are fixed, not that the ` +
		`server's clock agrees with the caller's.`
	docsRetryAfter = `"Exceeding this limit will result in a 429 - Too Many Requests error.": the documentation names no ` +
		`Retry-After header, neither its value nor its form; the bot loop limits block "within that hour".`
	docsIdentical = `"Bots can create a maximum of 8 identical messages in a single conversation within a 3-minute ` +
		`timespan.": what makes two messages identical is not said; the documented example differs by text only.`
	docsLate = `The webhook documentation says events are sent as soon as possible but delivery may lag: integrations ` +
		`should cope with events up to an hour late and out of order.`
)

// Profiles returns the documented profiles, one per variation, in a fixed
// order; each is a fresh copy. Combine them with [Combine] or by name with
// [ParseProfile]. The default server is not among them: it is Combine()
// (ParseProfile("default")), named "default".
//
//	for _, p := range chatshippertest.Profiles() {
//		t.Run("profile="+p.Name, func(t *testing.T) {
//			srv := chatshippertest.NewInProcessServer(t, p.Option)
//			...
//		})
//	}
func Profiles() []Profile {
	return []Profile{
		{Name: "page-cap-10", Area: "pages", Summary: "Pages hold at most 10 items, whatever limit is asked; X-Per-Page says 10 and X-Total-Pages, X-Range and Link count in pages of 10.",
			Docs: docsPageLength, URL: docsIntroduction, Option: WithPageCap(10), settings: []string{"page length"}},
		{Name: "page-cap-50", Area: "pages", Summary: "Pages hold at most 50 items, whatever limit is asked; X-Per-Page says 50 and X-Total-Pages, X-Range and Link count in pages of 50.",
			Docs: docsPageLength, URL: docsIntroduction, Option: WithPageCap(50), settings: []string{"page length"}},
		{Name: "id-compare-ignored", Area: "pages", Summary: "Range filters on id (id>X, id>=X, id<X, id<=X, between) are ignored: the answer is as if they were not given.",
			Docs: docsIDCompare, URL: docsResourceSets, Option: WithIDComparisons(IDComparisonsIgnored), settings: []string{"id comparisons"}},
		{Name: "id-compare-unmatched", Area: "pages", Summary: "Range filters on id match nothing: the answer is an empty page with X-Total 0.",
			Docs: docsIDCompare, URL: docsResourceSets, Option: WithIDComparisons(IDComparisonsMatchNothing), settings: []string{"id comparisons"}},
		{Name: "id-compare-refused", Area: "pages", Summary: "Range filters on id are refused with 400, as a server that cannot cast the value to an id would.",
			Docs: docsIDCompare + ` A value the server cannot use is a "400 - Bad Request The request failed, likely due to invalid or missing parameters."`,
			URL:  docsResourceSets, Option: WithIDComparisons(IDComparisonsRefused), settings: []string{"id comparisons"}},
		{Name: "no-total", Area: "pages", Summary: "List answers carry no X-Total or X-Total-Pages header and no rel=\"last\" link (a server that does not count).",
			Docs: docsTotals, URL: docsResourceSets, Option: WithoutTotalHeaders(), settings: []string{"totals"}},
		{Name: "no-link", Area: "pages", Summary: "List answers carry no Link header.",
			Docs: docsLink, URL: docsResourceSets, Option: WithoutLinkHeader(), settings: []string{"link"}},
		{Name: "no-paging-headers", Area: "pages", Summary: "List answers carry neither X-Total, X-Total-Pages nor Link; X-Page, X-Per-Page and X-Range remain.",
			Docs: docsTotals + " " + docsLink, URL: docsResourceSets,
			Option: func(c *config) { WithoutTotalHeaders()(c); WithoutLinkHeader()(c) }, settings: []string{"totals", "link"}},
		{Name: "clock-ahead-2h", Area: "clock", Summary: "The server's clock runs 2 hours ahead: createdAt, updatedAt, token times, webhook timestamps and the Date header.",
			Docs: docsClock, URL: docsIntroduction, Option: WithClockSkew(2 * time.Hour), settings: []string{"clock"}},
		{Name: "clock-behind-2h", Area: "clock", Summary: "The server's clock runs 2 hours behind: createdAt, updatedAt, token times, webhook timestamps and the Date header.",
			Docs: docsClock, URL: docsIntroduction, Option: WithClockSkew(-2 * time.Hour), settings: []string{"clock"}},
		{Name: "errors-quote-values", Area: "errors", Summary: "Error messages (4xx but 429) quote every value of the request: the Authorization header, the query and the body, passwords and secrets included.",
			Docs: `"The response body is JSON-encoded, and may include a "message" key with further information about the failure.": ` +
				`what the message says is open; validation libraries quote the values they refuse.`,
			URL: docsIntroduction, Option: WithErrorsQuotingValues(), settings: []string{"error messages"}},
		{Name: "retry-after-3600", Area: "rate limit", Summary: "Every 429 the server answers says Retry-After: 3600 or more.",
			Docs: docsRetryAfter, URL: docsIntroduction, Option: WithMinRetryAfter(time.Hour), settings: []string{"retry-after value"}},
		{Name: "retry-after-date", Area: "rate limit", Summary: "Retry-After is an HTTP date on the server's clock (rounded up to the second) instead of seconds.",
			Docs: docsRetryAfter, URL: docsIntroduction, Option: WithRetryAfterForm(RetryAfterHTTPDate), settings: []string{"retry-after form"}},
		{Name: "no-retry-after", Area: "rate limit", Summary: "429s carry no Retry-After header.",
			Docs: docsRetryAfter, URL: docsIntroduction, Option: WithRetryAfterForm(RetryAfterOmitted), settings: []string{"retry-after form", "retry-after value"}},
		{Name: "per-ip-limit", Area: "rate limit", Summary: "The documented request limit on: 20 requests per sliding second per API key and per client IP, so tokens used from one address share one window (the default; listed for suites that turn limits off for speed).",
			Docs: `"ChatShipper's API limits each IP address and each API key to 20 requests per second."`,
			URL:  docsIntroduction, Option: WithRateLimit(20), settings: []string{"rate limit"}},
		{Name: "identical-text", Area: "loop limit", Summary: "The loop limit takes bot messages with the same text as identical, whatever their type and meta.",
			Docs: docsIdentical, URL: docsIntroduction, Option: WithIdenticalBy(IdenticalByText), settings: []string{"identical"}},
		{Name: "identical-text-meta", Area: "loop limit", Summary: "The loop limit takes bot messages with the same text and meta as identical, whatever their type.",
			Docs: docsIdentical, URL: docsIntroduction, Option: WithIdenticalBy(IdenticalByTextMeta), settings: []string{"identical"}},
		{Name: "webhooks-late", Area: "webhooks", Summary: "Every webhook delivery starts 10 minutes after its event.",
			Docs: docsLate, URL: docsWebhooks, Option: WithWebhookDelay(10 * time.Minute), settings: []string{"webhook delay"}},
		{Name: "webhooks-out-of-order", Area: "webhooks", Summary: "Every webhook delivery waits a seeded random 0 to 2 minutes, so a webhook's events arrive out of order.",
			Docs: docsLate, URL: docsWebhooks, Option: WithWebhookJitter(2 * time.Minute), settings: []string{"webhook jitter"}},
		{Name: "webhooks-repeated", Area: "webhooks", Summary: "Every delivered webhook event is delivered once more, with the same id and body, a minute later.",
			Docs: `The webhook documentation says a call not answered with 2xx within 20 seconds counts as failed and is ` +
				`retried for up to 24 hours: an event the receiver handled but answered late, or whose answer was lost, ` +
				`arrives again.`,
			URL: docsWebhooks, Option: WithWebhookRepeats(1, time.Minute), settings: []string{"webhook repeats"}},
	}
}

// Combine returns one profile made of ps, applied in order: its Name joins
// theirs with "+", its Option applies each of theirs. Combine() is the
// default server. Two parts that change the same thing (page-cap-10 and
// page-cap-50, no-total and no-paging-headers) make the Option fail the
// server; [ParseProfile] reports that as an error instead.
func Combine(ps ...Profile) Profile {
	var parts []Profile
	for _, p := range ps {
		parts = append(parts, p.Parts()...)
	}
	switch len(parts) {
	case 0:
		return Profile{Name: defaultProfile, Summary: "The fake's defaults.", Option: func(*config) {}}
	case 1:
		return parts[0]
	}
	names := make([]string, len(parts))
	summaries := make([]string, len(parts))
	docs := make([]string, len(parts))
	var settings, areas []string
	for i, p := range parts {
		names[i], summaries[i] = p.Name, p.Summary
		docs[i] = p.Name + ": " + p.Docs + " (" + p.URL + ")"
		settings = append(settings, p.settings...)
		if !slices.Contains(areas, p.Area) {
			areas = append(areas, p.Area)
		}
	}
	conflict := conflictOf(parts)
	return Profile{
		Name:    strings.Join(names, "+"),
		Summary: strings.Join(summaries, " "),
		Docs:    strings.Join(docs, "\n"),
		Area:    strings.Join(areas, ","),
		Option: func(c *config) {
			if conflict != "" {
				c.fail("%s", conflict)
				return
			}
			for _, p := range parts {
				p.Option(c)
			}
		},
		settings: settings,
		parts:    parts,
	}
}

// conflictOf describes two parts that change the same thing, or is "".
func conflictOf(parts []Profile) string {
	owner := map[string]string{}
	for _, p := range parts {
		for _, s := range p.settings {
			if prev, taken := owner[s]; taken {
				return fmt.Sprintf("profiles %s and %s both set the %s", prev, p.Name, s)
			}
			owner[s] = p.Name
		}
	}
	return ""
}

// ParseProfile returns the profile named name: one of the names of
// [Profiles], "default", or several names joined by "+" (a combination, as
// [Combine] builds it). Unknown names, repeated names and parts that change
// the same thing are errors; the error lists the known names. A command-line
// flag can take the name as it is.
func ParseProfile(name string) (Profile, error) {
	if strings.TrimSpace(name) == defaultProfile {
		return Combine(), nil
	}
	known := Profiles()
	var parts []Profile
	for _, n := range strings.Split(name, "+") {
		n = strings.TrimSpace(n)
		i := slices.IndexFunc(known, func(p Profile) bool { return p.Name == n })
		if i < 0 {
			names := []string{defaultProfile}
			for _, p := range known {
				names = append(names, p.Name)
			}
			return Profile{}, fmt.Errorf("chatshippertest: unknown profile %q (known: %s)", n, strings.Join(names, ", "))
		}
		parts = append(parts, known[i])
	}
	if c := conflictOf(parts); c != "" {
		return Profile{}, fmt.Errorf("chatshippertest: %s", c)
	}
	return Combine(parts...), nil
}

// WithPageCap makes every list answer hold at most n items, whatever limit
// the request asks (0, the default, caps nothing). X-Per-Page says the
// length the page was cut to, and X-Total-Pages, X-Page, X-Range and the
// Link header count in pages of that length, so following Link (or offset
// += X-Per-Page) reads every item. The API documentation lists "Changing
// default page length for paginated resources" among its backwards
// compatible changes and documents limit as a maximum
// (https://developers.chatshipper.com/docs/api-introduction,
// https://developers.chatshipper.com/docs/api-resource-sets).
func WithPageCap(n int) Option {
	return func(c *config) {
		if n < 0 {
			c.fail("WithPageCap: negative page length %d", n)
			return
		}
		c.pageCap = n
	}
}

// IDComparisons says what the server does with range filters on id (id>X,
// id>=X, id<X, id<=X and between, with the field spelt id or _id). Equality,
// in and nin filters on id always work: the documentation says OR queries do
// "an exact match if the field represents a resource ID".
type IDComparisons int

const (
	// IDComparisonsHonoured compares ids as strings, which follows creation
	// order (the default).
	IDComparisonsHonoured IDComparisons = iota
	// IDComparisonsIgnored drops the filter: the answer is as if it were not
	// given.
	IDComparisonsIgnored
	// IDComparisonsMatchNothing keeps the filter but no document matches
	// it: an empty page, X-Total 0.
	IDComparisonsMatchNothing
	// IDComparisonsRefused answers 400 with the message
	// `Cast to ObjectId failed for value "<value>" at path "_id"`.
	IDComparisonsRefused
)

// WithIDComparisons sets what range filters on id do. The documentation
// describes the comparison operators on number properties ("age should be a
// number property",
// https://developers.chatshipper.com/docs/api-resource-sets); an id is not
// one, so each reading is possible.
func WithIDComparisons(mode IDComparisons) Option {
	return func(c *config) {
		if mode < IDComparisonsHonoured || mode > IDComparisonsRefused {
			c.fail("WithIDComparisons: unknown mode %d", mode)
			return
		}
		c.idComparisons = mode
	}
}

// idComparisons applies WithIDComparisons to q's filters and returns a new
// slice (q.filters is left as it is).
func (s *Server) idComparisons(q *listQuery) ([]filter, error) {
	mode := s.cfg.idComparisons
	out := make([]filter, 0, len(q.filters))
	for _, f := range q.filters {
		isRange := len(f.fields) == 1 && f.fields[0] == "id" &&
			(f.op == opGt || f.op == opGte || f.op == opLt || f.op == opLte || f.op == opBetween)
		switch {
		case !isRange || mode == IDComparisonsHonoured:
			out = append(out, f)
		case mode == IDComparisonsIgnored:
		case mode == IDComparisonsMatchNothing:
			out = append(out, filter{fields: f.fields, op: opIn, values: []string{}})
		default:
			value := ""
			for _, p := range q.params {
				if storedField(p.key) == "id" {
					value = p.value
				}
			}
			return nil, errf(http.StatusBadRequest, "Cast to ObjectId failed for value %q at path %q", value, "_id")
		}
	}
	return out, nil
}

// WithoutTotalHeaders leaves X-Total and X-Total-Pages out of list answers,
// and the rel="last" link, which needs the total: the answers of a server
// that does not count. A rel="next" link is still given while items remain.
// The documentation calls these headers "meta information ... which can be
// useful for pagination" and promises them nowhere
// (https://developers.chatshipper.com/docs/api-resource-sets).
func WithoutTotalHeaders() Option { return func(c *config) { c.noTotals = true } }

// WithoutLinkHeader leaves the Link header out of list answers; X-Total and
// the other X- headers remain. The documentation says Link headers come "for
// paged results" without saying which those are, and its own example cannot
// be followed (https://developers.chatshipper.com/docs/api-resource-sets).
func WithoutLinkHeader() Option { return func(c *config) { c.noLink = true } }

// WithClockSkew moves the server's clock by d (ahead when positive) from the
// clock it would otherwise use (time.Now, or [WithClock]'s): timestamps,
// token iat/exp and expiresAt, webhook timestamps, the windows of the limits
// and the Date header of every answer follow it. The documentation fixes the
// format and zone of datetimes, not that the server's clock agrees with the
// caller's (https://developers.chatshipper.com/docs/api-introduction,
// Datetime Handling).
func WithClockSkew(d time.Duration) Option { return func(c *config) { c.skew = d } }

// WithErrorsQuotingValues makes every error answer with a 4xx status other
// than 429 (not injected faults) quote all the values of the request after
// its message, as validation libraries do:
//
//	<message> (values: Authorization="Bearer <token>", <param>="<value>", ..., <path>="<value>", ...)
//
// first the Authorization header, then the query parameters in request
// order, then every string, number and boolean of a JSON body by its dot
// path (batch items by index: "0.text"), sorted; values appear verbatim,
// unescaped. So a failed login quotes the password and one-time code, a
// refused webhook create its secret and URL credentials, a 401 the bearer
// token. The documentation says only that an error body "may include a
// "message" key with further information about the failure"
// (https://developers.chatshipper.com/docs/api-introduction, Errors).
func WithErrorsQuotingValues() Option { return func(c *config) { c.quoteValues = true } }

// quotedValues renders the values of r and its body for an error message, or
// "" when it has none.
func quotedValues(r *http.Request, body []byte) string {
	var parts []string
	if a := r.Header.Get("Authorization"); a != "" {
		parts = append(parts, `Authorization="`+a+`"`)
	}
	for _, seg := range strings.Split(r.URL.RawQuery, "&") {
		if seg == "" {
			continue
		}
		k, v, _ := strings.Cut(seg, "=")
		if u, err := url.QueryUnescape(k); err == nil {
			k = u
		}
		if u, err := url.QueryUnescape(v); err == nil {
			v = u
		}
		parts = append(parts, k+`="`+v+`"`)
	}
	if v, err := decodeBody(body); err == nil {
		var leaves []string
		flattenValues("", v, &leaves)
		sort.Strings(leaves)
		parts = append(parts, leaves...)
	}
	if len(parts) == 0 {
		return ""
	}
	return " (values: " + strings.Join(parts, ", ") + ")"
}

// flattenValues appends path="value" for every scalar in v.
func flattenValues(path string, v any, out *[]string) {
	join := func(k string) string {
		if path == "" {
			return k
		}
		return path + "." + k
	}
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			flattenValues(join(k), e, out)
		}
	case []any:
		for i, e := range x {
			flattenValues(join(strconv.Itoa(i)), e, out)
		}
	default:
		if s, ok := scalarString(x); ok {
			*out = append(*out, path+`="`+s+`"`)
		}
	}
}

// WithMinRetryAfter makes every 429 the server answers (the request limit
// and the bot loop limits; not injected faults) say at least d in
// Retry-After, rounded up to whole seconds. The server still admits
// requests as soon as its windows allow: only what it says changes. The
// documentation names no Retry-After value
// (https://developers.chatshipper.com/docs/api-introduction, Rate Limiting).
func WithMinRetryAfter(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail("WithMinRetryAfter: negative duration")
			return
		}
		c.minRetryAfter = d
	}
}

// RetryAfterForm is the form of the Retry-After header of the server's 429s.
type RetryAfterForm int

const (
	// RetryAfterSeconds says a number of seconds (the default).
	RetryAfterSeconds RetryAfterForm = iota
	// RetryAfterHTTPDate says an HTTP date (RFC 9110): the server's clock
	// plus the wait in whole seconds, rounded up to the second.
	RetryAfterHTTPDate
	// RetryAfterOmitted sends no Retry-After header.
	RetryAfterOmitted
)

// WithRetryAfterForm sets the form of the Retry-After header of the server's
// 429s (not of injected faults). The documentation names no Retry-After
// header (https://developers.chatshipper.com/docs/api-introduction, Rate
// Limiting); HTTP allows seconds or a date.
func WithRetryAfterForm(f RetryAfterForm) Option {
	return func(c *config) {
		if f < RetryAfterSeconds || f > RetryAfterOmitted {
			c.fail("WithRetryAfterForm: unknown form %d", f)
			return
		}
		c.retryAfterForm = f
	}
}

// setRetryAfter writes the Retry-After of a wait of secs seconds (already
// rounded up) as the server's profiles say.
func (s *Server) setRetryAfter(h http.Header, secs int) {
	secs = max(secs, ceilSeconds(s.cfg.minRetryAfter))
	switch s.cfg.retryAfterForm {
	case RetryAfterOmitted:
	case RetryAfterHTTPDate:
		at := s.now().Add(time.Duration(secs) * time.Second)
		if t := at.Truncate(time.Second); !t.Equal(at) {
			at = t.Add(time.Second)
		}
		h.Set("Retry-After", at.Format(http.TimeFormat))
	default:
		h.Set("Retry-After", strconv.Itoa(secs))
	}
}

// IdenticalBy says what makes two bot messages identical for the loop limit.
// The delivery key the SDK adds (meta.chatshipperDeliveryKey) never counts,
// and an empty meta is no meta.
type IdenticalBy int

const (
	// IdenticalByTypeTextMeta compares type, text and meta (the default;
	// the SDK's loop guard reads it so with
	// chatshipper.IdenticalByTypeTextMeta, and by default compares the text
	// alone).
	IdenticalByTypeTextMeta IdenticalBy = iota
	// IdenticalByText compares the text alone.
	IdenticalByText
	// IdenticalByTextMeta compares text and meta, whatever the type.
	IdenticalByTextMeta
)

// WithIdenticalBy sets what the bot loop limit takes for identical messages.
// The documentation limits bots to "8 identical messages in a single
// conversation within a 3-minute timespan" without saying what identical
// means (https://developers.chatshipper.com/docs/api-introduction, Rate
// Limiting).
func WithIdenticalBy(rule IdenticalBy) Option {
	return func(c *config) {
		if rule < IdenticalByTypeTextMeta || rule > IdenticalByTextMeta {
			c.fail("WithIdenticalBy: unknown rule %d", rule)
			return
		}
		c.identicalBy = rule
	}
}

// WithWebhookDelay makes every webhook delivery wait d after its event
// before its first attempt. The payload's timestamp stays the time of the
// event. Waits run on timers, so inside a testing/synctest bubble they take
// no wall time (outside one, WaitDeliveries waits them out for real). The
// webhook documentation says delivery may lag and integrations should cope
// with events up to an hour late
// (https://developers.web1on1.chat/webhooks/responding).
//
// With any of WithWebhookDelay, WithWebhookJitter and WithWebhookRepeats,
// a webhook's deliveries are sent one at a time, each when it is due,
// earliest first, and a failed attempt is due again after its backoff
// without holding back later events (by default a webhook's events wait
// for the retries of the one before).
func WithWebhookDelay(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail("WithWebhookDelay: negative delay")
			return
		}
		c.hookDelay = d
	}
}

// WithWebhookJitter adds to each webhook delivery's wait a random duration in
// [0, d), drawn from the seed ([WithSeed]), so a webhook's events arrive out
// of order (see [WithWebhookDelay] for how waiting deliveries are sent). The
// webhook documentation says integrations should cope with events out of
// order (https://developers.web1on1.chat/webhooks/responding).
func WithWebhookJitter(d time.Duration) Option {
	return func(c *config) {
		if d < 0 {
			c.fail("WithWebhookJitter: negative jitter")
			return
		}
		c.hookJitter = d
	}
}

// WithWebhookRepeats delivers every event n more times after it was
// delivered: each repetition, with the same id, body and signature, is due
// gap after the previous delivery succeeded ([WebhookDelivery].Repeat counts
// them; see [WithWebhookDelay] for how waiting deliveries are sent). The
// webhook documentation says calls not answered with 2xx within 20 seconds
// are retried for up to 24 hours, so a receiver sees an event again when
// its answer came late or was lost
// (https://developers.web1on1.chat/webhooks/responding).
func WithWebhookRepeats(n int, gap time.Duration) Option {
	return func(c *config) {
		if n < 0 || gap < 0 {
			c.fail("WithWebhookRepeats: n and gap must not be negative")
			return
		}
		c.hookRepeats, c.hookRepeatGap = n, gap
	}
}
