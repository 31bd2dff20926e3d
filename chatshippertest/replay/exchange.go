package replay

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// RecordedOrigin replaces the scheme and host of the recorded API in every
// fixture (response bodies and headers such as Link), so a fixture recorded
// against one base URL replays against another: the replayer puts the
// origin of the replayed request back in its place.
const RecordedOrigin = "https://chatshipper.invalid"

// Exchange is one recorded request and its answer: the content of one
// fixture file. Bodies are kept decoded so that files are pretty-printed and
// so that a Scrubber can edit them.
type Exchange struct {
	Request Request `json:"request"`
	// Response is the answer; it is absent (zero) when Error is set.
	Response Response `json:"response,omitzero"`
	// Error is set, instead of a Response, when the request got no answer:
	// the kind of transport failure ([ErrorConnectionClosed],
	// [ErrorConnectionReset], [ErrorCouldNotConnect], [ErrorTimeout]) or,
	// for another failure, its message (scrubbed). The replayer answers the
	// request with a [*TransportError] of that kind.
	Error string `json:"error,omitempty"`
}

// Request is the recorded part of a request. Request headers are never
// recorded: they carry the bearer token and nothing the API answers by.
type Request struct {
	Method string `json:"method"`
	// Path is the URL path, e.g. "/v2/conversations"; the scheme and host are
	// not recorded.
	Path string `json:"path"`
	// Query is the decoded query string.
	Query url.Values `json:"query,omitempty"`
	// Body is the JSON body decoded with numbers as json.Number, or nil.
	Body any `json:"body,omitempty"`
	// BodyText holds a body that is not JSON.
	BodyText string `json:"bodyText,omitempty"`
}

// Response is the recorded part of a response.
type Response struct {
	Status int `json:"status"`
	// Header keeps only the headers that matter to the client: Content-Type,
	// Link, Retry-After, the X-Total family, X-Range, X-Page, X-Per-Page and
	// the X-RateLimit family.
	Header http.Header `json:"header,omitempty"`
	// Body is the JSON body decoded with numbers as json.Number, or nil.
	Body any `json:"body,omitempty"`
	// BodyText holds a body that is not JSON.
	BodyText string `json:"bodyText,omitempty"`
}

// keptHeader reports whether a response header is recorded: the ones the
// client reads (Content-Type, Link, Retry-After and the list and rate-limit
// headers). Others (dates, request ids, cookies) would only add noise or
// secrets to the files.
func keptHeader(name string) bool {
	name = http.CanonicalHeaderKey(name)
	switch name {
	case "Content-Type", "Link", "Retry-After", "X-Range", "X-Page", "X-Per-Page":
		return true
	}
	return strings.HasPrefix(name, "X-Total") || strings.HasPrefix(name, "X-Ratelimit") || strings.HasPrefix(name, "X-Rate-Limit")
}

// decodeBody splits a body into its JSON value or its text. A body that is
// not valid UTF-8 is kept as text with Go escapes, which cannot round-trip;
// the API only speaks JSON.
func decodeBody(b []byte) (any, string) {
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, ""
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err == nil && v != nil {
		if _, err := d.Token(); errors.Is(err, io.EOF) {
			return v, ""
		}
	}
	if !utf8.Valid(b) {
		return nil, strconv.Quote(string(b))
	}
	return nil, string(b)
}

// encodeBody renders a recorded body for the wire.
func encodeBody(v any, text string) ([]byte, error) {
	if v == nil {
		return []byte(text), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// marshalExchange renders a fixture file: indented, keys sorted, no HTML
// escapes, a final newline.
func marshalExchange(ex *Exchange) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(ex); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func unmarshalExchange(b []byte) (*Exchange, error) {
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var ex Exchange
	if err := d.Decode(&ex); err != nil {
		return nil, err
	}
	if ex.Request.Method == "" || ex.Request.Path == "" {
		return nil, errors.New("missing request method or path")
	}
	if (ex.Response.Status == 0) == (ex.Error == "") {
		return nil, errors.New("an exchange holds either a response status or an error")
	}
	return &ex, nil
}

// fixtureName is the file name of the n-th exchange (from 1):
// "0001-GET-conversations.json", "0002-POST-conversations-5bb0...-messages.json".
// path is the scrubbed path, so a name holds nothing the file does not;
// each run of other characters becomes one '-'.
func fixtureName(n int, method, path string) string {
	p := strings.Trim(path, "/")
	p = strings.TrimPrefix(p, "v2/")
	if p == "v2" {
		p = ""
	}
	var b strings.Builder
	for _, r := range p {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.', r == '_':
			b.WriteRune(r)
		case !strings.HasSuffix(b.String(), "-"):
			b.WriteByte('-')
		}
	}
	slug := strings.Trim(b.String(), "-.")
	if len(slug) > 80 {
		slug = slug[:80]
	}
	name := fmt.Sprintf("%04d-%s", n, strings.ToUpper(method))
	if slug != "" {
		name += "-" + slug
	}
	return name + ".json"
}

var fixtureFile = regexp.MustCompile(`^([0-9]{4,})-[A-Z]+.*\.json$`)

// fixture is a loaded exchange and the file it came from.
type fixture struct {
	name string
	ex   *Exchange
}

// listFixtures returns the fixture files of dir in recorded order.
func listFixtures(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	type numbered struct {
		n    int
		name string
	}
	var files []numbered
	for _, e := range entries {
		m := fixtureFile.FindStringSubmatch(e.Name())
		if m == nil || e.IsDir() {
			continue
		}
		n, err := strconv.Atoi(m[1])
		if err != nil {
			continue
		}
		files = append(files, numbered{n, e.Name()})
	}
	slices.SortFunc(files, func(a, b numbered) int {
		if a.n != b.n {
			return a.n - b.n
		}
		return strings.Compare(a.name, b.name)
	})
	names := make([]string, len(files))
	for i, f := range files {
		names[i] = f.name
	}
	return names, nil
}

// loadFixtures reads every fixture of dir in recorded order.
func loadFixtures(dir string) ([]fixture, error) {
	names, err := listFixtures(dir)
	if err != nil {
		return nil, err
	}
	out := make([]fixture, 0, len(names))
	for _, name := range names {
		b, err := os.ReadFile(filepath.Join(dir, name)) //nolint:gosec // G304: reading the fixture directory the test names is the point
		if err != nil {
			return nil, err
		}
		ex, err := unmarshalExchange(b)
		if err != nil {
			return nil, fmt.Errorf("replay: fixture %s: %w", filepath.Join(dir, name), err)
		}
		out = append(out, fixture{name: name, ex: ex})
	}
	return out, nil
}
