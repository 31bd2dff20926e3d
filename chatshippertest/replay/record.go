package replay

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
)

// Option configures a [Recorder], a [Replayer] or [New].
type Option func(*config)

type config struct {
	scrubbers []Scrubber
	transport http.RoundTripper
	recording *bool
}

func newConfig(opts []Option) config {
	var c config
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	return c
}

// WithScrubber adds scrubbers that run after the built-in scrubbing, when
// recording and, over incoming requests, when replaying. Give the same
// scrubbers to both.
func WithScrubber(s ...Scrubber) Option {
	return func(c *config) {
		for _, sc := range s {
			if sc != nil {
				c.scrubbers = append(c.scrubbers, sc)
			}
		}
	}
}

// WithTransport sets the transport a [Recorder] sends the real requests
// through (default [http.DefaultTransport]). Replaying ignores it.
func WithTransport(rt http.RoundTripper) Option {
	return func(c *config) { c.transport = rt }
}

// WithRecording makes [New] record (true) or replay (false) whatever the
// -chatshipper.record flag and the CHATSHIPPER_RECORD variable say.
func WithRecording(on bool) Option {
	return func(c *config) { c.recording = &on }
}

// Recorder is an [http.RoundTripper] that sends each request through the real
// transport and writes the exchange, scrubbed, to a fixture file in its
// directory: one pretty-printed JSON file per exchange, numbered in the order
// the requests were sent ("0001-GET-conversations.json"). Give it to the
// client with [chatshipper.WithHTTPClient] (see [Recorder.Client]). The
// client's retries pass through it one attempt at a time, so every attempt is
// recorded. It is safe for concurrent use.
type Recorder struct {
	dir   string
	next  http.RoundTripper
	scrub *scrubber

	mu    sync.Mutex
	n     int
	files []string
}

// NewRecorder returns a Recorder writing to dir, which it creates if needed.
// Fixture files already in dir are removed first: a recording replaces the
// previous one whole, so no stale exchange survives.
func NewRecorder(dir string, opts ...Option) (*Recorder, error) {
	c := newConfig(opts)
	if c.transport == nil {
		c.transport = http.DefaultTransport
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	old, err := listFixtures(dir)
	if err != nil {
		return nil, fmt.Errorf("replay: %w", err)
	}
	for _, name := range old {
		if err := os.Remove(filepath.Join(dir, name)); err != nil {
			return nil, fmt.Errorf("replay: %w", err)
		}
	}
	return &Recorder{dir: dir, next: c.transport, scrub: newScrubber(c.scrubbers, true)}, nil
}

// Dir returns the directory the fixtures are written to.
func (r *Recorder) Dir() string { return r.dir }

// Files returns the names of the fixture files written so far, in request order.
func (r *Recorder) Files() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.files...)
}

// Client returns an *http.Client whose transport is r, for
// [chatshipper.WithHTTPClient].
func (r *Recorder) Client() *http.Client { return &http.Client{Transport: r} }

// RoundTrip sends req through the real transport, records the exchange and
// returns the response with its body intact. A transport error (no answer,
// or an answer whose body could not be read) is recorded too, as the
// exchange's Error (see [Exchange]), and returned as is; only a request the
// caller's context canceled is not recorded. When the fixture cannot be
// written, the response is discarded and the write error returned: a
// recording that silently lacks an exchange would fail later, far from its
// cause.
func (r *Recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	if req.Body != nil && req.Body != http.NoBody {
		b, err := io.ReadAll(req.Body)
		_ = req.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("replay: reading request body: %w", err)
		}
		body = b
	}
	out := req.Clone(req.Context())
	if req.Body != nil && req.Body != http.NoBody {
		out.Body = io.NopCloser(bytes.NewReader(body))
		out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
		out.ContentLength = int64(len(body))
	}

	r.mu.Lock()
	r.n++
	n := r.n
	r.mu.Unlock()

	resp, err := r.next.RoundTrip(out)
	var respBody []byte
	if err == nil {
		respBody, err = io.ReadAll(resp.Body)
		_ = resp.Body.Close()
	}

	ex := requestExchange(req, body)
	origin := originOf(req)
	if err != nil {
		kind := errorKind(err)
		if kind == "" {
			return nil, err
		}
		r.scrub.scrubRequest(ex, req.Header, origin)
		r.scrub.scrubError(ex, kind, origin)
		if werr := r.write(fixtureName(n, ex.Request.Method, ex.Request.Path), ex); werr != nil {
			return nil, werr
		}
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(respBody))

	r.scrub.scrubRequest(ex, req.Header, origin)
	ex.Response.Status = resp.StatusCode
	for name, vs := range resp.Header {
		if keptHeader(name) {
			if ex.Response.Header == nil {
				ex.Response.Header = http.Header{}
			}
			ex.Response.Header[http.CanonicalHeaderKey(name)] = append([]string(nil), vs...)
		}
	}
	ex.Response.Body, ex.Response.BodyText = decodeBody(respBody)
	r.scrub.scrubResponse(ex, origin)

	// The name comes from the scrubbed path: a name is as public as the file.
	name := fixtureName(n, ex.Request.Method, ex.Request.Path)
	if err := r.write(name, ex); err != nil {
		_ = resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

func (r *Recorder) write(name string, ex *Exchange) error {
	b, err := marshalExchange(ex)
	if err != nil {
		return fmt.Errorf("replay: encoding fixture %s: %w", name, err)
	}
	if err := os.WriteFile(filepath.Join(r.dir, name), b, 0o600); err != nil {
		return fmt.Errorf("replay: %w", err)
	}
	r.mu.Lock()
	r.files = append(r.files, name)
	r.mu.Unlock()
	return nil
}

// requestExchange decodes the recordable part of a request.
func requestExchange(req *http.Request, body []byte) *Exchange {
	ex := &Exchange{Request: Request{Method: req.Method, Path: req.URL.Path}}
	if ex.Request.Method == "" {
		ex.Request.Method = http.MethodGet
	}
	if q := req.URL.Query(); len(q) > 0 {
		ex.Request.Query = q
	}
	ex.Request.Body, ex.Request.BodyText = decodeBody(body)
	return ex
}

// originOf returns the scheme and host a request was sent to.
func originOf(req *http.Request) string {
	if req.URL == nil || req.URL.Host == "" {
		return ""
	}
	scheme := req.URL.Scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + req.URL.Host
}
