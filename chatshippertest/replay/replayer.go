package replay

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/jarcoal/httpmock"

	"github.com/go-chatshipper/chatshipper"
)

// ErrNoFixture is matched (with errors.Is) by every [*NoFixtureError].
var ErrNoFixture = errors.New("replay: no recorded exchange matches the request")

// NoFixtureError is the transport error of a request that no unused fixture
// matches. It names the request (scrubbed, as it would have been recorded)
// and the closest recorded exchange with what differs. It is a plain error,
// not a [net.Error]: nothing about it is temporary, and the client does not
// retry it.
type NoFixtureError struct {
	// Dir is the fixture directory.
	Dir string
	// Method, Path and Query describe the request.
	Method string
	Path   string
	Query  url.Values
	// Closest is the file name of the closest recorded exchange, "" when the
	// directory holds none.
	Closest string
	// Differences says how the request differs from Closest, e.g.
	// `query "status": got ["active"], recorded ["queued"]`. It is empty when
	// the request matches a fixture that was already replayed as often as it
	// was recorded.
	Differences []string
}

// Error describes the request, the closest fixture and the differences.
func (e *NoFixtureError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "replay: no recorded exchange for %s in %s", describe(e.Method, e.Path, e.Query), e.Dir)
	switch {
	case e.Closest == "":
		b.WriteString(" (no fixtures: record them with -chatshipper.record or CHATSHIPPER_RECORD=1)")
	case len(e.Differences) == 0:
		fmt.Fprintf(&b, "; it was recorded in %s but every recorded answer was already replayed", e.Closest)
	default:
		fmt.Fprintf(&b, "; closest is %s: %s", e.Closest, strings.Join(e.Differences, "; "))
	}
	return b.String()
}

// Is makes errors.Is(err, ErrNoFixture) hold.
func (e *NoFixtureError) Is(target error) bool { return target == ErrNoFixture }

func describe(method, path string, q url.Values) string {
	s := method + " " + path
	if len(q) > 0 {
		s += "?" + q.Encode()
	}
	return s
}

// Replayer is an [http.RoundTripper] that answers from the fixtures of a
// directory and never touches the network. A request matches a fixture with
// the same method and path, the same decoded query (parameter order is
// irrelevant; the values of a repeated parameter keep their order) and the
// same body (JSON compared as values: key order and spacing are irrelevant),
// after the same scrubbing the recording had; delivery keys match whatever
// their values and come back as the request sent them (see the package
// documentation). Each fixture answers once; when
// the same request was recorded several times, the answers come back in the
// recorded order. A request that matches no unused fixture fails at once with
// a [*NoFixtureError]. It is safe for concurrent use.
type Replayer struct {
	dir      string
	fixtures []fixture
	scrub    *scrubber

	mu     sync.Mutex
	used   []bool
	calls  int
	misses int
}

// NewReplayer loads the fixtures of dir. A missing directory is an error; an
// empty one is not (every request then fails with a [*NoFixtureError]).
func NewReplayer(dir string, opts ...Option) (*Replayer, error) {
	c := newConfig(opts)
	fx, err := loadFixtures(dir)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	return &Replayer{dir: dir, fixtures: fx, scrub: newScrubber(c.scrubbers, false), used: make([]bool, len(fx))}, nil
}

// Client returns an *http.Client whose transport is p, for
// [chatshipper.WithHTTPClient].
func (p *Replayer) Client() *http.Client { return &http.Client{Transport: p} }

// Calls returns how many requests reached the replayer, answered or not.
func (p *Replayer) Calls() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// Misses returns how many requests failed with a [*NoFixtureError].
func (p *Replayer) Misses() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.misses
}

// Unused returns the file names of the fixtures not replayed yet, in
// recorded order: after a test, a non-empty list means the code under test
// made fewer requests than when it was recorded.
func (p *Replayer) Unused() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []string
	for i, f := range p.fixtures {
		if !p.used[i] {
			out = append(out, f.name)
		}
	}
	return out
}

// Responder returns p as an httpmock responder.
func (p *Replayer) Responder() httpmock.Responder { return p.RoundTrip }

// Register loads the fixtures of dir and registers them on mt: a responder
// for each recorded method and path (any host, any query: the replayer
// matches the rest), and the replayer as mt's no-responder, so a request
// nothing matches fails with a [*NoFixtureError] naming the closest fixture.
// Responders registered on mt for other routes keep working. Call
// mt.RegisterNoResponder afterwards to restore another fallback.
func Register(mt *httpmock.MockTransport, dir string, opts ...Option) (*Replayer, error) {
	if mt == nil {
		return nil, errors.New("replay: Register: nil MockTransport")
	}
	p, err := NewReplayer(dir, opts...)
	if err != nil {
		return nil, err
	}
	type route struct{ method, path string }
	seen := map[route]bool{}
	for _, f := range p.fixtures {
		r := route{f.ex.Request.Method, (&url.URL{Path: f.ex.Request.Path}).EscapedPath()}
		if seen[r] {
			continue
		}
		seen[r] = true
		mt.RegisterResponder(r.method, r.path, p.Responder())
	}
	mt.RegisterNoResponder(p.Responder())
	return p, nil
}

// RoundTrip answers req from the first unused matching fixture.
func (p *Replayer) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("replay: reading request body: %w", err)
		}
		body = b
	}
	if err := req.Context().Err(); err != nil {
		return nil, err
	}
	in := requestExchange(req, body)
	origin := originOf(req)
	p.scrub.scrubRequest(in, req.Header, origin)
	p.scrub.runExtra(in)

	p.mu.Lock()
	p.calls++
	idx := -1
	var keys keyPairs
	for i, f := range p.fixtures {
		if p.used[i] {
			continue
		}
		if k, ok := sameRequest(&f.ex.Request, &in.Request); ok {
			idx, keys = i, k
			break
		}
	}
	if idx < 0 {
		p.misses++
		err := p.noFixture(&in.Request)
		p.mu.Unlock()
		return nil, err
	}
	p.used[idx] = true
	ex := p.fixtures[idx].ex
	rec := ex.Response
	p.mu.Unlock()

	if ex.Error != "" {
		return nil, replayedError(ex.Error)
	}
	return respond(req, &rec, origin, keys)
}

// respond builds the recorded response, with the request's origin in place
// of RecordedOrigin and the request's delivery keys in place of the recorded
// ones.
func respond(req *http.Request, rec *Response, origin string, keys keyPairs) (*http.Response, error) {
	b, err := encodeBody(rec.Body, rec.BodyText)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	if origin != "" {
		b = bytes.ReplaceAll(b, []byte(RecordedOrigin), []byte(origin))
	}
	b = []byte(keys.substitute(string(b)))
	h := http.Header{}
	for k, vs := range rec.Header {
		for _, v := range vs {
			if origin != "" {
				v = strings.ReplaceAll(v, RecordedOrigin, origin)
			}
			h.Add(k, keys.substitute(v))
		}
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	return &http.Response{
		Status:        strconv.Itoa(rec.Status) + " " + http.StatusText(rec.Status),
		StatusCode:    rec.Status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        h,
		Body:          io.NopCloser(bytes.NewReader(b)),
		ContentLength: int64(len(b)),
		Request:       req,
	}, nil
}

// sameRequest reports whether in matches the recorded request rec, and
// pairs the recorded delivery keys with in's (see keyPairs).
func sameRequest(rec, in *Request) (keyPairs, bool) {
	if rec.Method != in.Method || rec.Path != in.Path || rec.BodyText != in.BodyText {
		return nil, false
	}
	keys := keyPairs{}
	if !sameQuery(rec.Query, in.Query, keys) || !sameValue(rec.Body, in.Body, false, keys) {
		return nil, false
	}
	return keys, true
}

func sameQuery(rec, in url.Values, keys keyPairs) bool {
	if len(rec) != len(in) {
		return false
	}
	for k, vr := range rec {
		vi, ok := in[k]
		if !ok || len(vr) != len(vi) {
			return false
		}
		for i := range vr {
			if vr[i] == vi[i] {
				continue
			}
			if !isDeliveryKeyParam(k) || !sameKeyFilter(vr[i], vi[i], keys) {
				return false
			}
		}
	}
	return true
}

// keyPairs maps the delivery keys of a recorded request to those of the
// replayed request that matched it, position by position. The SDK puts a new
// random key under chatshipper.DeliveryKeyMeta in the meta of every
// conversation and message it creates, so a recorded send can only match
// whatever its keys; the answer then carries the caller's keys where the
// recording had its own, as a server would.
type keyPairs map[string]string

// pair notes that the recorded key rec was sent as in; a value that could not
// be a key (not a string) matches only itself.
func (k keyPairs) pair(rec, in any) bool {
	rs, rok := rec.(string)
	is, iok := in.(string)
	if !rok || !iok {
		return reflect.DeepEqual(rec, in)
	}
	if rs != is {
		k[rs] = is
	}
	return true
}

// substitute replaces, in s, each recorded key by the caller's: a key of 16
// characters or more (the SDK's are 32) wherever it appears, URLs of Link
// headers included; a shorter (caller-set) key where it stands alone, not
// inside a longer run of key characters.
func (k keyPairs) substitute(s string) string {
	if len(k) == 0 {
		return s
	}
	var long []string
	short := false
	for rec, in := range k {
		if len(rec) >= 16 {
			long = append(long, rec, in)
		} else {
			short = true
		}
	}
	if len(long) > 0 {
		s = strings.NewReplacer(long...).Replace(s)
	}
	if !short {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		j := i
		for j < len(s) && isKeyByte(s[j]) {
			j++
		}
		if j == i {
			b.WriteByte(s[i])
			i++
			continue
		}
		run := s[i:j]
		if in, ok := k[run]; ok && len(run) < 16 {
			run = in
		}
		b.WriteString(run)
		i = j
	}
	return b.String()
}

func isKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

// isDeliveryKeyParam reports whether a query parameter filters on the
// delivery key (the SDK's lookup: meta.chatshipperDeliveryKey=[k1,k2]).
func isDeliveryKeyParam(name string) bool {
	return name == "meta."+chatshipper.DeliveryKeyMeta || strings.HasSuffix(name, "."+chatshipper.DeliveryKeyMeta)
}

// sameKeyFilter matches two values of a delivery key filter whatever their
// keys: the same operator and the same number of keys ("k" or "[k1,k2]").
func sameKeyFilter(rec, in string, keys keyPairs) bool {
	rop, rlist := splitFilter(rec)
	iop, ilist := splitFilter(in)
	if rop != iop || len(rlist) != len(ilist) {
		return false
	}
	for i := range rlist {
		keys.pair(rlist[i], ilist[i])
	}
	return true
}

func splitFilter(v string) (op string, list []string) {
	rest := strings.TrimLeft(v, "!<>=~")
	op = v[:len(v)-len(rest)]
	if len(rest) >= 2 && rest[0] == '[' && rest[len(rest)-1] == ']' {
		return op + "[]", strings.Split(rest[1:len(rest)-1], ",")
	}
	return op, []string{rest}
}

// sameValue compares decoded JSON values; a string under the delivery key
// (at any depth) matches any string, and is paired in keys.
func sameValue(rec, in any, underKey bool, keys keyPairs) bool {
	if underKey {
		return keys.pair(rec, in)
	}
	switch r := rec.(type) {
	case map[string]any:
		i, ok := in.(map[string]any)
		if !ok || len(r) != len(i) {
			return false
		}
		for k, rv := range r {
			iv, ok := i[k]
			if !ok || !sameValue(rv, iv, k == chatshipper.DeliveryKeyMeta, keys) {
				return false
			}
		}
		return true
	case []any:
		i, ok := in.([]any)
		if !ok || len(r) != len(i) {
			return false
		}
		for n := range r {
			if !sameValue(r[n], i[n], false, keys) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(rec, in)
}

// noFixture builds the error for an unmatched request; p.mu is held.
func (p *Replayer) noFixture(in *Request) error {
	e := &NoFixtureError{Dir: p.dir, Method: in.Method, Path: in.Path, Query: in.Query}
	best, bestScore := -1, 0
	var bestDiffs []string
	for i, f := range p.fixtures {
		score, diffs := compare(&f.ex.Request, in)
		if best < 0 || score < bestScore {
			best, bestScore, bestDiffs = i, score, diffs
		}
	}
	if best >= 0 {
		e.Closest = p.fixtures[best].name
		e.Differences = bestDiffs
	}
	return e
}

// compare scores how far a request is from a recorded one (0 = equal) and
// says what differs, most important first.
func compare(rec, in *Request) (int, []string) {
	score := 0
	var diffs []string
	if rec.Method != in.Method {
		score += 1000
		diffs = append(diffs, fmt.Sprintf("method: got %s, recorded %s", in.Method, rec.Method))
	}
	if rec.Path != in.Path {
		rs, is := strings.Split(rec.Path, "/"), strings.Split(in.Path, "/")
		score += 100 + 10*abs(len(rs)-len(is))
		for i := range min(len(rs), len(is)) {
			if rs[i] != is[i] {
				score += 10
			}
		}
		diffs = append(diffs, fmt.Sprintf("path: got %s, recorded %s", in.Path, rec.Path))
	}
	keys := make([]string, 0, len(rec.Query)+len(in.Query))
	for k := range rec.Query {
		keys = append(keys, k)
	}
	for k := range in.Query {
		if _, ok := rec.Query[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		rv, rok := rec.Query[k]
		iv, iok := in.Query[k]
		switch {
		case !rok:
			score += 5
			diffs = append(diffs, fmt.Sprintf("query %q: got %s, not recorded", k, short(iv)))
		case !iok:
			score += 5
			diffs = append(diffs, fmt.Sprintf("query %q: missing, recorded %s", k, short(rv)))
		case !sameQuery(url.Values{k: rv}, url.Values{k: iv}, keyPairs{}):
			score += 2
			diffs = append(diffs, fmt.Sprintf("query %q: got %s, recorded %s", k, short(iv), short(rv)))
		}
	}
	if !sameValue(rec.Body, in.Body, false, keyPairs{}) || rec.BodyText != in.BodyText {
		var bd []string
		if rec.Body != nil || in.Body != nil {
			diffValue("body", rec.Body, in.Body, &bd)
		} else {
			bd = append(bd, fmt.Sprintf("body: got %s, recorded %s", short(in.BodyText), short(rec.BodyText)))
		}
		score += len(bd)
		diffs = append(diffs, bd...)
	}
	return score, diffs
}

const maxDiffs = 5

// diffValue lists where two decoded JSON values differ, as dot paths
// (delivery keys differ on every run and are not listed).
func diffValue(path string, rec, in any, out *[]string) {
	if len(*out) >= maxDiffs || sameValue(rec, in, strings.HasSuffix(path, "."+chatshipper.DeliveryKeyMeta), keyPairs{}) {
		return
	}
	rm, rok := rec.(map[string]any)
	im, iok := in.(map[string]any)
	if rok && iok {
		keys := make([]string, 0, len(rm)+len(im))
		for k := range rm {
			keys = append(keys, k)
		}
		for k := range im {
			if _, ok := rm[k]; !ok {
				keys = append(keys, k)
			}
		}
		slices.Sort(keys)
		for _, k := range keys {
			rv, rhas := rm[k]
			iv, ihas := im[k]
			switch {
			case !rhas:
				*out = append(*out, fmt.Sprintf("%s.%s: got %s, not recorded", path, k, short(iv)))
			case !ihas:
				*out = append(*out, fmt.Sprintf("%s.%s: missing, recorded %s", path, k, short(rv)))
			default:
				diffValue(path+"."+k, rv, iv, out)
			}
			if len(*out) >= maxDiffs {
				return
			}
		}
		return
	}
	ra, rok := rec.([]any)
	ia, iok := in.([]any)
	if rok && iok && len(ra) == len(ia) {
		for i := range ra {
			diffValue(fmt.Sprintf("%s[%d]", path, i), ra[i], ia[i], out)
		}
		return
	}
	*out = append(*out, fmt.Sprintf("%s: got %s, recorded %s", path, short(in), short(rec)))
}

// short renders a value for an error message, cut to a readable length.
func short(v any) string {
	var s string
	switch x := v.(type) {
	case nil:
		s = "nothing"
	case string:
		s = strconv.Quote(x)
	case []string:
		q := make([]string, len(x))
		for i, e := range x {
			q[i] = strconv.Quote(e)
		}
		s = "[" + strings.Join(q, ",") + "]"
	default:
		b, err := encodeBody(v, "")
		if err != nil {
			s = fmt.Sprint(v)
		} else {
			s = string(b)
		}
	}
	if r := []rune(s); len(r) > 80 {
		s = string(r[:77]) + "..."
	}
	return s
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}
