package webhook

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

const (
	whSecret  = "whsec-CANARY-5e0b1d" // a canary: it must never appear in a response, error or log
	whBot     = "5b9e8d7c6b5a4f3e2d1c0b0a"
	whContact = "5c2d3e4f5a6b7c8d9e0f1a2b"
	whAgent   = "5d4c3b2a1f0e9d8c7b6a5f4e"
	whConv    = "65f2c1d0e4b0a1b2c3d4e5f0"
)

func whFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "webhooks", name))
	require.NoError(t, err)
	return b
}

// whMessage is a data.message for a test event.
func whMessage(user string, role chatshipper.Role, typ chatshipper.MessageType, text string) map[string]any {
	return map[string]any{"id": "65f2c2a5e4b0a1b2c3d4e5f6", "conversation": whConv, "user": user,
		"role": string(role), "type": string(typ), "text": text}
}

// whEvent encodes an event with the given data.
func whEvent(t testing.TB, id, name string, data map[string]any) []byte {
	t.Helper()
	b, err := wire.Marshal(map[string]any{"id": id, "event": name, "timestamp": "2024-03-14T09:26:53.589Z",
		"organization": "5a1f2b3c4d5e6f7a8b9c0d1e", "data": data})
	require.NoError(t, err)
	return b
}

// whMsgEvent is a message.create event for msg in a conversation of convType.
func whMsgEvent(t testing.TB, id string, convType chatshipper.ConversationType, msg map[string]any) []byte {
	t.Helper()
	return whEvent(t, id, fmt.Sprintf("message.create.%s.%s", convType, msg["type"]), map[string]any{
		"conversation": map[string]any{"id": whConv, "type": string(convType)},
		"message":      msg,
	})
}

// whPost delivers body to h, signed with sig unless sig is "-" (no header).
func whPost(h http.Handler, body []byte, sig string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if sig != "-" {
		r.Header.Set(SignatureHeader, sig)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// whSigned delivers body signed with the test secret.
func whSigned(h http.Handler, body []byte) *httptest.ResponseRecorder {
	return whPost(h, body, Sign(body, whSecret))
}

func newWH(t testing.TB, opts ...Option) *Handler {
	t.Helper()
	h, err := NewHandler(append([]Option{WithSecret(whSecret)}, opts...)...)
	require.NoError(t, err)
	return h
}

// counter registers a handler on "**" that counts its runs.
func counter(t testing.TB, h *Handler) *atomic.Int32 {
	t.Helper()
	var n atomic.Int32
	require.NoError(t, h.Handle("**", func(context.Context, *Event) error { n.Add(1); return nil }))
	return &n
}

func TestSignKnownVectors(t *testing.T) {
	t.Parallel()
	// Computed independently:
	//   printf '%s' '{"id":"1","event":"service.create"}' | openssl dgst -sha1 -hmac "It's a Secret to Everybody"
	//   and the HMAC-SHA1 example of RFC 2104 implementations ("key", the quick brown fox).
	cases := []struct{ body, secret, want string }{
		{`{"id":"1","event":"service.create"}`, "It's a Secret to Everybody", "sha1=f3bc0a65edb2ad8bae4e2b4b39a5a8c3f33269be"},
		{"The quick brown fox jumps over the lazy dog", "key", "sha1=de7c9b85b8b78aa6bc8a7a36f70a90701c9db4d9"},
	}
	for _, c := range cases {
		assert.Equal(t, c.want, Sign([]byte(c.body), c.secret))
		assert.NoError(t, VerifySignature([]byte(c.body), c.want, c.secret))
	}
}

func TestVerifySignature(t *testing.T) {
	t.Parallel()
	body := []byte(`{"id":"1","event":"service.create"}`)
	const secret = "It's a Secret to Everybody"
	const good = "sha1=f3bc0a65edb2ad8bae4e2b4b39a5a8c3f33269be"
	altered := bytes.Replace(body, []byte("1"), []byte("2"), 1)
	cases := []struct {
		name   string
		body   []byte
		header string
		want   error // nil: valid
	}{
		{"valid", body, good, nil},
		{"uppercase hex", body, "sha1=F3BC0A65EDB2AD8BAE4E2B4B39A5A8C3F33269BE", nil},
		{"uppercase algorithm", body, "SHA1=f3bc0a65edb2ad8bae4e2b4b39a5a8c3f33269be", nil},
		{"surrounding spaces", body, "  " + good + " ", nil},
		{"missing", body, "", ErrSignatureMissing},
		{"blank", body, "   ", ErrSignatureMissing},
		{"no equals sign", body, "sha1", ErrSignatureMalformed},
		{"bare hex", body, "f3bc0a65edb2ad8bae4e2b4b39a5a8c3f33269be", ErrSignatureMalformed},
		{"sha1= and nothing", body, "sha1=", ErrSignatureMalformed},
		{"sha256", body, "sha256=" + strings.Repeat("ab", 32), ErrSignatureMalformed},
		{"odd-length hex", body, "sha1=f3bc0a65edb2ad8bae4e2b4b39a5a8c3f33269b", ErrSignatureMalformed},
		{"short hex", body, "sha1=f3bc0a65", ErrSignatureMalformed},
		{"non-hex digits", body, "sha1=" + strings.Repeat("zz", 20), ErrSignatureMalformed},
		{"wrong digest", body, "sha1=" + strings.Repeat("00", 20), ErrSignatureMismatch},
		{"body altered by one byte", altered, good, ErrSignatureMismatch},
		{"empty body", nil, good, ErrSignatureMismatch},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := VerifySignature(c.body, c.header, secret)
			if c.want == nil {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, c.want)
			assert.ErrorIs(t, err, ErrInvalidSignature)
			assert.NotContains(t, err.Error(), secret)
		})
	}
	// Another secret is a mismatch, and an empty one is refused outright.
	assert.ErrorIs(t, VerifySignature(body, good, "other"), ErrSignatureMismatch)
	err := VerifySignature(body, good, "")
	assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
	var ae *chatshipper.ArgumentError
	require.ErrorAs(t, err, &ae)
	assert.Equal(t, "secret", ae.Name)
}

func TestWebhookChallenge(t *testing.T) {
	t.Parallel()
	h := newWH(t)
	n := counter(t, h)
	cases := []struct {
		name, method, target string
		status               int
		body                 string
	}{
		{"challenge", "GET", "/hook?type=subscribe&challenge=a1B2c3", 200, "a1B2c3"},
		{"escaped challenge echoed decoded", "GET", "/hook?type=subscribe&challenge=%3Cb%3E+x%26y", 200, "<b> x&y"},
		{"no query", "GET", "/hook", 400, ""},
		{"no challenge", "GET", "/hook?type=subscribe", 400, ""},
		{"empty challenge", "GET", "/hook?type=subscribe&challenge=", 400, ""},
		{"other type", "GET", "/hook?type=unsubscribe&challenge=x", 400, ""},
		{"PUT", "PUT", "/hook", 405, ""},
		{"DELETE", "DELETE", "/hook", 405, ""},
		{"PATCH", "PATCH", "/hook", 405, ""},
		{"HEAD", "HEAD", "/hook?type=subscribe&challenge=x", 405, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest(c.method, c.target, nil))
			require.Equal(t, c.status, w.Code)
			switch c.status {
			case 200:
				assert.Equal(t, c.body, w.Body.String())
				assert.Equal(t, "text/plain; charset=utf-8", w.Header().Get("Content-Type"))
				assert.Equal(t, "nosniff", w.Header().Get("X-Content-Type-Options"))
			case 405:
				assert.Equal(t, "GET, POST", w.Header().Get("Allow"))
			}
		})
	}
	assert.Zero(t, n.Load())
}

func TestWebhookSignatureRefused(t *testing.T) {
	t.Parallel()
	body := whFixture(t, "message.create.contact.chat.json")
	good := Sign(body, whSecret)
	altered := bytes.Clone(body)
	altered[len(altered)/2] ^= 0x01
	cases := []struct {
		name    string
		body    []byte
		headers []string // nil: no header
		status  int
	}{
		{"valid", body, []string{good}, 200},
		{"valid, uppercase hex", body, []string{"sha1=" + strings.ToUpper(strings.TrimPrefix(good, "sha1="))}, 200},
		{"missing", body, nil, 401},
		{"empty", body, []string{""}, 401},
		{"sha1= only", body, []string{"sha1="}, 401},
		{"sha256", body, []string{"sha256=" + strings.Repeat("ab", 32)}, 401},
		{"odd hex", body, []string{good[:len(good)-1]}, 401},
		{"wrong secret", body, []string{Sign(body, "not-the-secret")}, 401},
		{"body altered by one byte", altered, []string{good}, 401},
		{"two headers", body, []string{good, good}, 401},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newWH(t)
			n := counter(t, h)
			r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(c.body))
			for _, v := range c.headers {
				r.Header.Add(SignatureHeader, v)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, c.status, w.Code)
			if c.status == 200 {
				assert.EqualValues(t, 1, n.Load())
				assert.Empty(t, w.Body.String())
			} else {
				assert.Zero(t, n.Load(), "no handler may run on a refused delivery")
			}
		})
	}
}

func TestWebhookWithoutSecretSkipsVerification(t *testing.T) {
	t.Parallel()
	h, err := NewHandler()
	require.NoError(t, err)
	n := counter(t, h)
	body := whFixture(t, "service.create.json")
	assert.Equal(t, 200, whPost(h, body, "-").Code)
	assert.Equal(t, 200, whPost(h, []byte(strings.Replace(string(body), "c0ffee00", "c0ffee01", 1)), "sha1=00").Code)
	assert.EqualValues(t, 2, n.Load())
}

// countingReader counts the bytes read from it.
type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

func TestWebhookBodyCap(t *testing.T) {
	t.Parallel()
	const maxBody = 200
	fits := whEvent(t, "a", "service.create", nil)
	fits = append(fits, bytes.Repeat([]byte(" "), maxBody-len(fits))...) // exactly the cap
	require.Len(t, fits, maxBody)
	over := append(bytes.Clone(fits), ' ')
	huge := bytes.Repeat([]byte("x"), 10*maxBody)

	cases := []struct {
		name          string
		body          []byte
		contentLength bool
		status        int
		maxRead       int
	}{
		{"at the cap", fits, true, 200, maxBody},
		{"at the cap, chunked", fits, false, 200, maxBody},
		{"one byte over, declared", over, true, 413, 0},
		{"one byte over, chunked", over, false, 413, maxBody + 1},
		{"far over, chunked", huge, false, 413, maxBody + 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newWH(t, WithMaxBody(maxBody))
			n := counter(t, h)
			cr := &countingReader{r: bytes.NewReader(c.body)}
			r := httptest.NewRequest(http.MethodPost, "/hook", cr)
			r.ContentLength = -1
			if c.contentLength {
				r.ContentLength = int64(len(c.body))
			}
			r.Header.Set(SignatureHeader, Sign(c.body, whSecret))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			require.Equal(t, c.status, w.Code)
			assert.LessOrEqual(t, cr.n, c.maxRead)
			if c.status == 413 {
				assert.Zero(t, n.Load())
			}
		})
	}

	t.Run("a body longer than its declared length", func(t *testing.T) {
		// A Request made by hand can claim less than it carries; net/http's
		// own stop at the declared length.
		h := newWH(t, WithMaxBody(maxBody))
		n := counter(t, h)
		cr := &countingReader{r: bytes.NewReader(huge)}
		r := httptest.NewRequest(http.MethodPost, "/hook", cr)
		r.ContentLength = 10
		r.Header.Set(SignatureHeader, Sign(huge, whSecret))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		require.Equal(t, 413, w.Code)
		assert.Equal(t, maxBody+1, cr.n, "bytes read")
		assert.Zero(t, n.Load())
	})

	t.Run("default cap is 1 MiB", func(t *testing.T) {
		h := newWH(t)
		body := bytes.Repeat([]byte(" "), DefaultMaxBody+1)
		assert.Equal(t, 413, whSigned(h, body).Code)
	})
}

// piecesReader hands out its bytes a few at a time, with empty reads in
// between, and io.EOF only on a read of its own after the last byte (as
// bytes.Reader, unlike net/http's bodies, which give io.EOF with it).
type piecesReader struct {
	b     []byte
	empty bool
}

func (p *piecesReader) Read(dst []byte) (int, error) {
	if p.empty = !p.empty; p.empty {
		return 0, nil
	}
	if len(p.b) == 0 {
		return 0, io.EOF
	}
	n := copy(dst[:min(len(dst), 3)], p.b)
	p.b = p.b[n:]
	return n, nil
}

// TestReadBodyKnownLength: a body of known length is read into a buffer of
// exactly its length, whatever pieces it comes in; a Request made by hand
// that claims more or less than it carries is read as it is (at most the
// cap), and a failing reader is a 400.
func TestReadBodyKnownLength(t *testing.T) {
	t.Parallel()
	body := []byte(`{"event":"message.create.contact.chat","id":"x"}`)
	cases := []struct {
		name    string
		rd      io.Reader
		claimed int64
		want    []byte
		status  int
	}{
		{"exact, one read", bytes.NewReader(body), int64(len(body)), body, 0},
		{"exact, in pieces", &piecesReader{b: body}, int64(len(body)), body, 0},
		{"claims more than it carries", &piecesReader{b: body}, int64(len(body)) + 100, body, 0},
		{"claims less than it carries", bytes.NewReader(body), 5, body, 0},
		{"claims nothing and carries something", bytes.NewReader(body), 0, body, 0},
		{"empty", bytes.NewReader(nil), 0, []byte{}, 0},
		{"fails mid-body", &failingReader{}, 100, nil, http.StatusBadRequest},
		{"claims less, carries more than the cap", bytes.NewReader(bytes.Repeat([]byte("x"), 300)), 5, nil, http.StatusRequestEntityTooLarge},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newWH(t, WithMaxBody(200))
			r := httptest.NewRequest(http.MethodPost, "/hook", c.rd)
			r.ContentLength = c.claimed
			got, status := h.readBody(httptest.NewRecorder(), r)
			require.Equal(t, c.status, status)
			require.Equal(t, c.want, got)
			if c.status == 0 && c.claimed == int64(len(body)) {
				assert.Equal(t, len(got), cap(got), "a body of its claimed length has no spare capacity")
			}
		})
	}
}

// failingReader fails mid-body, like a client that drops the connection.
type failingReader struct{ sent bool }

func (f *failingReader) Read(p []byte) (int, error) {
	if !f.sent {
		f.sent = true
		return copy(p, `{"event":`), nil
	}
	return 0, io.ErrUnexpectedEOF
}

func TestWebhookUnreadableBody(t *testing.T) {
	t.Parallel()
	h := newWH(t)
	n := counter(t, h)
	r := httptest.NewRequest(http.MethodPost, "/hook", &failingReader{})
	r.Header.Set(SignatureHeader, Sign([]byte(`{"event":`), whSecret))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	assert.Equal(t, 400, w.Code)
	assert.Zero(t, n.Load())
}

func TestWebhookPanickingErrorHandlerIsContained(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newWH(t, WithAsync(1, 2), WithErrorHandler(func(*Event, error) { panic("error handler bug") }))
		var ok atomic.Int32
		require.NoError(t, h.Handle("**", func(_ context.Context, e *Event) error {
			if e.ID == "bad" {
				return errors.New("boom")
			}
			ok.Add(1)
			return nil
		}))
		require.Equal(t, 200, whSigned(h, whEvent(t, "bad", "service.create", nil)).Code)
		require.Equal(t, 200, whSigned(h, whEvent(t, "good", "service.create", nil)).Code)
		require.NoError(t, h.Shutdown(context.Background()))
		assert.EqualValues(t, 1, ok.Load(), "the worker survived and went on")
	})
}

func TestWebhookMalformedEvent(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, body string }{
		{"not JSON", `event=message.create`},
		{"truncated", `{"id":"x","event":"service.create"`},
		{"empty body", ``},
		{"array", `[{"event":"service.create"}]`},
		{"null", `null`},
		{"no event", `{"id":"x","data":{}}`},
		{"empty event", `{"id":"x","event":""}`},
		{"event not a string", `{"id":"x","event":7}`},
		{"data not an object", `{"event":"service.create","data":[1]}`},
		{"message of the wrong shape", `{"event":"message.create.contact.chat","data":{"message":{"text":5}}}`},
		{"conversation of the wrong shape", `{"event":"conversation.update","data":{"conversation":"abc"}}`},
		{"bad timestamp", `{"event":"service.create","timestamp":"yesterday"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newWH(t)
			n := counter(t, h)
			w := whSigned(h, []byte(c.body))
			assert.Equal(t, 400, w.Code)
			assert.Zero(t, n.Load())
			_, err := ParseEvent([]byte(c.body))
			assert.ErrorIs(t, err, ErrInvalidEvent)
		})
	}
}

func TestWebhookHandlerOutcomes(t *testing.T) {
	t.Parallel()
	errBoom := errors.New("boom")
	body := whFixture(t, "message.create.contact.chat.json")

	t.Run("success answers 200 with an empty body", func(t *testing.T) {
		h := newWH(t)
		n := counter(t, h)
		w := whSigned(h, body)
		assert.Equal(t, 200, w.Code)
		assert.Empty(t, w.Body.Bytes())
		assert.EqualValues(t, 1, n.Load())
	})
	t.Run("no matching handler answers 200", func(t *testing.T) {
		h := newWH(t)
		var ran bool
		require.NoError(t, h.Handle("service.*", func(context.Context, *Event) error { ran = true; return nil }))
		assert.Equal(t, 200, whSigned(h, body).Code)
		assert.False(t, ran)
		h2 := newWH(t) // and no handler at all
		assert.Equal(t, 200, whSigned(h2, body).Code)
	})
	t.Run("every match runs in order, also after a failure; error is 500", func(t *testing.T) {
		var gotErr error
		h := newWH(t, WithErrorHandler(func(_ *Event, err error) { gotErr = err }))
		var order []string
		add := func(p, name string, err error) {
			require.NoError(t, h.Handle(p, func(context.Context, *Event) error { order = append(order, name); return err }))
		}
		add("message.**", "first", nil)
		add("message.create.*.chat", "second", errBoom)
		add("service.create", "never", nil)
		add("*.create.contact.*", "third", nil)
		w := whSigned(h, body)
		assert.Equal(t, 500, w.Code)
		assert.NotContains(t, w.Body.String(), "boom")
		assert.Equal(t, []string{"first", "second", "third"}, order)
		assert.ErrorIs(t, gotErr, errBoom)
	})
	t.Run("a panic is recovered as 500 and not echoed", func(t *testing.T) {
		var gotErr error
		h := newWH(t, WithErrorHandler(func(_ *Event, err error) { gotErr = err }))
		require.NoError(t, h.Handle("message.**", func(context.Context, *Event) error { panic("secret-panic-value") }))
		w := whSigned(h, body)
		assert.Equal(t, 500, w.Code)
		assert.NotContains(t, w.Body.String(), "secret-panic-value")
		var pe *PanicError
		require.ErrorAs(t, gotErr, &pe)
		assert.Equal(t, "secret-panic-value", pe.Value)
		assert.Equal(t, "message.**", pe.Pattern)
		assert.NotEmpty(t, pe.Stack)
	})
	t.Run("a panicking filter or own-user lookup is a failure, not a crash", func(t *testing.T) {
		var gotErr error
		h := newWH(t, WithErrorHandler(func(_ *Event, err error) { gotErr = err }))
		var ran bool
		require.NoError(t, h.Handle("message.**", func(context.Context, *Event) error { ran = true; return nil },
			FilterFunc(func(*Event) bool { panic("filter bug") })))
		assert.Equal(t, 500, whSigned(h, body).Code)
		assert.False(t, ran)
		var pe *PanicError
		require.ErrorAs(t, gotErr, &pe)
		assert.Equal(t, "filter bug", pe.Value)
		assert.Equal(t, "message.**", pe.Pattern)
		assert.Equal(t, 500, whSigned(h, body).Code, "not remembered as done: the retry runs again")

		c := &fakeClient{self: func(context.Context) (string, error) { panic("lookup bug") }}
		h2 := newWH(t, WithClient(c), WithErrorHandler(func(_ *Event, err error) { gotErr = err }))
		counter(t, h2)
		assert.Equal(t, 500, whSigned(h2, body).Code)
		require.ErrorAs(t, gotErr, &pe)
		assert.Equal(t, "lookup bug", pe.Value)
		assert.Equal(t, "", pe.Pattern)
		require.NoError(t, h2.Shutdown(context.Background()), "the failed run was accounted for")
	})
	t.Run("handler receives the request context and the decoded event", func(t *testing.T) {
		h := newWH(t)
		type key struct{}
		var got *Event
		var ctxVal any
		require.NoError(t, h.OnMessage(func(ctx context.Context, e *Event) error { got, ctxVal = e, ctx.Value(key{}); return nil }))
		r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
		r = r.WithContext(context.WithValue(r.Context(), key{}, "v"))
		r.Header.Set(SignatureHeader, Sign(body, whSecret))
		h.ServeHTTP(httptest.NewRecorder(), r)
		require.NotNil(t, got)
		assert.Equal(t, "message.create.contact.chat", got.Name)
		assert.Equal(t, body, []byte(got.Raw))
		assert.Equal(t, "v", ctxVal)
	})
}

func TestPatternMatch(t *testing.T) {
	t.Parallel()
	cases := []struct {
		pattern, name string
		want          bool
	}{
		{"message.create.contact.chat", "message.create.contact.chat", true},
		{"message.create.contact.chat", "message.create.contact.card", false},
		{"message.create.contact", "message.create.contact.chat", false},
		{"message.create.contact.chat.x", "message.create.contact.chat", false},
		{"message.create.contact.*", "message.create.contact.chat", true},
		{"message.create.contact.*", "message.create.bot.chat", false},
		{"message.create.*.chat", "message.create.agent.chat", true},
		{"message.create.*.chat", "message.create.agent.card", false},
		{"*.update", "conversation.update", true},
		{"*.update", "message.update", true},
		{"*.update", "conversation.create", false},
		{"*.update", "a.b.update", false},
		{"*", "user", true},
		{"*", "user.login", false},
		{"message.*", "message.update", true},
		{"message.*", "message.create.contact.chat", false},
		{"message.**", "message.create.contact.chat", true},
		{"message.**", "message.update", true},
		{"message.**", "message", true}, // ** matches zero words
		{"message.**", "messages.update", false},
		{"**", "anything.at.all", true},
		{"**", "x", true},
		{"**.chat", "message.create.contact.chat", true},
		{"**.chat", "chat", true},
		{"**.chat", "message.create.contact.card", false},
		{"message.**.chat", "message.create.contact.chat", true},
		{"message.**.chat", "message.chat", true},
		{"message.**.chat", "message.create.contact.card", false},
		{"message.**.contact.*", "message.create.contact.chat", true},
		{"message.**.contact.*", "message.create.contact", false},
		{"**.create.**", "message.create.contact.chat", true},
		{"**.create.**", "service.create", true},
		{"**.create.**", "service.update", false},
		{"**.**", "a.b", true},
		{"*.*.**", "a", false},
		{"*.*.**", "a.b", true},
		{"**.a.**.b.**.c", strings.Repeat("x.", 200) + "a.b.c", true},
		{"**.a.**.b.**.c", strings.Repeat("a.", 300) + "b", false},
	}
	for _, c := range cases {
		t.Run(c.pattern+" "+wire.Truncate(c.name, 30), func(t *testing.T) {
			p, err := parsePattern(c.pattern)
			require.NoError(t, err)
			assert.Equal(t, c.want, p.match(strings.Split(c.name, ".")))
		})
	}
}

func TestHandleRefusesBadInput(t *testing.T) {
	t.Parallel()
	ok := func(context.Context, *Event) error { return nil }
	cases := []struct {
		name    string
		pattern string
		fn      HandlerFunc
		filters []EventFilter
	}{
		{"empty pattern", "", ok, nil},
		{"only a dot", ".", ok, nil},
		{"empty word", "message..chat", ok, nil},
		{"leading dot", ".message", ok, nil},
		{"trailing dot", "message.", ok, nil},
		{"partial wildcard", "mess*", ok, nil},
		{"partial double wildcard", "message.**x", ok, nil},
		{"triple star", "message.***", ok, nil},
		{"space", "message create", ok, nil},
		{"nil fn", "message.**", nil, nil},
		{"no roles", "**", ok, []EventFilter{MessageRole()}},
		{"no types", "**", ok, []EventFilter{MessageTypes()}},
		{"no conversation types", "**", ok, []EventFilter{ConversationTypes()}},
		{"empty meta key", "**", ok, []EventFilter{MetaEquals("", 1)}},
		{"unencodable meta value", "**", ok, []EventFilter{MetaEquals("k", make(chan int))}},
		{"empty conversation meta key", "**", ok, []EventFilter{ConversationMetaEquals("", "x")}},
		{"empty text", "**", ok, []EventFilter{OnText("")}},
		{"empty fold text", "**", ok, []EventFilter{OnTextFold("")}},
		{"nil regexp", "**", ok, []EventFilter{OnTextMatch(nil)}},
		{"nil filter func", "**", ok, []EventFilter{FilterFunc(nil)}},
		{"zero filter", "**", ok, []EventFilter{{}}},
		{"bad filter after good", "**", ok, []EventFilter{OnText("hi"), MessageRole()}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newWH(t)
			err := h.Handle(c.pattern, c.fn, c.filters...)
			require.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
			var ae *chatshipper.ArgumentError
			require.ErrorAs(t, err, &ae)
			assert.Empty(t, *h.routes.Load(), "nothing is registered")
		})
	}
}

func TestWebhookOptionValidation(t *testing.T) {
	t.Parallel()
	mem, err := NewMemoryDeduper(10, time.Hour)
	require.NoError(t, err)
	cases := []struct {
		name string
		opts []Option
	}{
		{"empty secret", []Option{WithSecret("")}},
		{"zero max body", []Option{WithMaxBody(0)}},
		{"negative dedupe", []Option{WithDedupe(-1)}},
		{"no workers", []Option{WithAsync(0, 10)}},
		{"no queue", []Option{WithAsync(2, 0)}},
		{"nil error handler", []Option{WithErrorHandler(nil)}},
		{"nil client", []Option{WithClient(nil)}},
		{"nil *chatshipper.Client", []Option{WithClient((*chatshipper.Client)(nil))}},
		{"bad self user", []Option{WithSelfUser("bot")}},
		{"empty self user", []Option{WithSelfUser("")}},
		{"nil deduper", []Option{WithDeduper(nil)}},
		{"nil *MemoryDeduper", []Option{WithDeduper((*MemoryDeduper)(nil))}},
		{"deduper and dedupe size", []Option{WithDeduper(mem), WithDedupe(5)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h, err := NewHandler(c.opts...)
			assert.Nil(t, h)
			assert.ErrorIs(t, err, chatshipper.ErrInvalidArgument)
		})
	}
}

func TestWebhookFilters(t *testing.T) {
	t.Parallel()
	chat := func(user string, role chatshipper.Role, text string) map[string]any {
		return whMessage(user, role, chatshipper.MessageTypeChat, text)
	}
	withMeta := func(m map[string]any, meta map[string]any) map[string]any { m["meta"] = meta; return m }
	contactChat := whMsgEvent(t, "e1", chatshipper.ConversationContact, chat(whContact, chatshipper.RoleContact, "Hi there"))
	cases := []struct {
		name    string
		opts    []Option
		pattern string
		filters []EventFilter
		body    []byte
		want    bool
	}{
		// the bot filters
		{"own message dropped", []Option{WithSelfUser(whBot)}, "message.**", nil,
			whMsgEvent(t, "s1", chatshipper.ConversationContact, chat(whBot, chatshipper.RoleAgent, "Hello!")), false},
		{"other's message passes the self filter", []Option{WithSelfUser(whBot)}, "message.**", nil,
			contactChat, true},
		{"own message with IncludeSelf", []Option{WithSelfUser(whBot), WithIncludeSelf(true)}, "message.**", nil,
			whMsgEvent(t, "s2", chatshipper.ConversationContact, chat(whBot, chatshipper.RoleAgent, "Hello!")), true},
		{"own message.error still dispatched", []Option{WithSelfUser(whBot)}, "message.**", nil,
			whEvent(t, "s3", "message.error", map[string]any{"message": chat(whBot, chatshipper.RoleAgent, "Hello!")}), true},
		{"bot role kept by default", nil, "message.**", nil,
			whMsgEvent(t, "b1", chatshipper.ConversationBot, chat(whAgent, chatshipper.RoleBot, "x")), true},
		{"bot role dropped with SkipBots", []Option{WithSkipBots(true)}, "message.**", nil,
			whMsgEvent(t, "b2", chatshipper.ConversationBot, chat(whAgent, chatshipper.RoleBot, "x")), false},
		{"agent role kept with SkipBots", []Option{WithSkipBots(true)}, "message.**", nil,
			whMsgEvent(t, "b3", chatshipper.ConversationContact, chat(whAgent, chatshipper.RoleAgent, "x")), true},
		{"resource event unaffected by SkipBots", []Option{WithSkipBots(true), WithSelfUser(whBot)}, "**", nil,
			whFixture(t, "service.create.json"), true},

		// role
		{"role contact", nil, "**", []EventFilter{MessageRole(chatshipper.RoleContact)}, contactChat, true},
		{"role agent or bot, contact wrote", nil, "**", []EventFilter{MessageRole(chatshipper.RoleAgent, chatshipper.RoleBot)}, contactChat, false},
		{"role on a resource event", nil, "**", []EventFilter{MessageRole(chatshipper.RoleContact)}, whFixture(t, "service.create.json"), false},

		// message type
		{"type card", nil, "**", []EventFilter{MessageTypes(chatshipper.MessageTypeCard)},
			whMsgEvent(t, "t1", chatshipper.ConversationContact, whMessage(whAgent, chatshipper.RoleAgent, chatshipper.MessageTypeCard, "Pick one")), true},
		{"type card, chat sent", nil, "**", []EventFilter{MessageTypes(chatshipper.MessageTypeCard)}, contactChat, false},
		{"type from the event name", nil, "**", []EventFilter{MessageTypes(chatshipper.MessageTypeForm)},
			whEvent(t, "t2", "message.create.agent.form", map[string]any{"message": map[string]any{"text": "+Order"}}), true},
		{"type defaults to chat", nil, "**", []EventFilter{MessageTypes(chatshipper.MessageTypeChat)},
			whEvent(t, "t3", "message.update", map[string]any{"message": map[string]any{"text": "edited"}}), true},

		// conversation type
		{"conversation type contact", nil, "**", []EventFilter{ConversationTypes(chatshipper.ConversationContact)}, contactChat, true},
		{"conversation type bot, contact conversation", nil, "**", []EventFilter{ConversationTypes(chatshipper.ConversationBot, chatshipper.ConversationAgent)}, contactChat, false},
		{"conversation type from the event name", nil, "**", []EventFilter{ConversationTypes(chatshipper.ConversationSystem)},
			whEvent(t, "c1", "message.create.system.status", map[string]any{"message": map[string]any{"text": "x"}}), true},
		{"conversation type of a conversation.update", nil, "**", []EventFilter{ConversationTypes(chatshipper.ConversationContact)},
			whFixture(t, "conversation.update.json"), true},
		{"conversation type unknown", nil, "**", []EventFilter{ConversationTypes(chatshipper.ConversationContact)},
			whFixture(t, "service.create.json"), false},

		// meta
		{"meta number", nil, "**", []EventFilter{MetaEquals("visits", 3)},
			whMsgEvent(t, "m1", chatshipper.ConversationContact, withMeta(chat(whContact, chatshipper.RoleContact, "x"), map[string]any{"visits": 3})), true},
		{"meta number vs string", nil, "**", []EventFilter{MetaEquals("visits", "3")},
			whMsgEvent(t, "m2", chatshipper.ConversationContact, withMeta(chat(whContact, chatshipper.RoleContact, "x"), map[string]any{"visits": 3})), false},
		{"meta string", nil, "**", []EventFilter{MetaEquals("intent", "greeting")},
			whMsgEvent(t, "m3", chatshipper.ConversationContact, withMeta(chat(whContact, chatshipper.RoleContact, "x"), map[string]any{"intent": "greeting"})), true},
		{"meta object", nil, "**", []EventFilter{MetaEquals("form", map[string]int{"step": 2})},
			whMsgEvent(t, "m4", chatshipper.ConversationContact, withMeta(chat(whContact, chatshipper.RoleContact, "x"), map[string]any{"form": map[string]any{"step": 2}})), true},
		{"meta key missing", nil, "**", []EventFilter{MetaEquals("intent", nil)}, contactChat, false},
		{"meta null value", nil, "**", []EventFilter{MetaEquals("intent", nil)},
			whMsgEvent(t, "m5", chatshipper.ConversationContact, withMeta(chat(whContact, chatshipper.RoleContact, "x"), map[string]any{"intent": nil})), true},
		{"conversation meta", nil, "**", []EventFilter{ConversationMetaEquals("intent", "purchase")},
			whFixture(t, "conversation.update.json"), true},
		{"conversation meta differs", nil, "**", []EventFilter{ConversationMetaEquals("intent", "greeting")},
			whFixture(t, "conversation.update.json"), false},

		// text triggers
		{"OnText exact", nil, "**", []EventFilter{OnText("Hi there")}, contactChat, true},
		{"OnText is case-sensitive", nil, "**", []EventFilter{OnText("hi there")}, contactChat, false},
		{"OnText does not trim", nil, "**", []EventFilter{OnText("Hi")}, contactChat, false},
		{"OnTextFold", nil, "**", []EventFilter{OnTextFold("HI THERE")}, contactChat, true},
		{"OnTextFold other text", nil, "**", []EventFilter{OnTextFold("hello")}, contactChat, false},
		{"OnTextMatch", nil, "**", []EventFilter{OnTextMatch(regexp.MustCompile(`(?i)^hi\b`))}, contactChat, true},
		{"OnTextMatch no match", nil, "**", []EventFilter{OnTextMatch(regexp.MustCompile(`^order #\d+$`))}, contactChat, false},
		{"OnText on a postback", nil, "**", []EventFilter{OnText("REVIEW")},
			whMsgEvent(t, "p1", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypePostback, "REVIEW")), true},
		{"OnTextFold on a postback", nil, "**", []EventFilter{OnTextFold("review")},
			whMsgEvent(t, "p2", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypePostback, "REVIEW")), true},
		{"a card does not trigger", nil, "**", []EventFilter{OnText("Hi there")},
			whMsgEvent(t, "p3", chatshipper.ConversationContact, whMessage(whAgent, chatshipper.RoleAgent, chatshipper.MessageTypeCard, "Hi there")), false},
		{"a command does not trigger", nil, "**", []EventFilter{OnTextMatch(regexp.MustCompile(`.`))},
			whMsgEvent(t, "p4", chatshipper.ConversationContact, whMessage(whAgent, chatshipper.RoleAgent, chatshipper.MessageTypeCommand, "/leave")), false},
		{"text filter on a resource event", nil, "**", []EventFilter{OnTextMatch(regexp.MustCompile(``))},
			whFixture(t, "service.create.json"), false},

		// combinations
		{"all filters must accept", nil, "message.create.**", []EventFilter{MessageRole(chatshipper.RoleContact), OnTextFold("hi there"), ConversationTypes(chatshipper.ConversationContact)}, contactChat, true},
		{"one refusing filter is enough", nil, "message.create.**", []EventFilter{MessageRole(chatshipper.RoleContact), OnText("nope")}, contactChat, false},
		{"FilterFunc", nil, "**", []EventFilter{FilterFunc(func(e *Event) bool { return e.ConversationID() == whConv })}, contactChat, true},
		{"pattern and filter", nil, "service.*", []EventFilter{MessageRole(chatshipper.RoleContact)}, contactChat, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newWH(t, c.opts...)
			var ran bool
			require.NoError(t, h.Handle(c.pattern, func(context.Context, *Event) error { ran = true; return nil }, c.filters...))
			require.Equal(t, 200, whSigned(h, c.body).Code)
			assert.Equal(t, c.want, ran)
		})
		// The same event handed over already parsed takes the same route.
		t.Run(c.name+" via Dispatch", func(t *testing.T) {
			t.Parallel()
			h := newWH(t, c.opts...)
			var ran bool
			require.NoError(t, h.Handle(c.pattern, func(context.Context, *Event) error { ran = true; return nil }, c.filters...))
			e, err := ParseEvent(c.body)
			require.NoError(t, err)
			require.NoError(t, h.Dispatch(context.Background(), e))
			assert.Equal(t, c.want, ran)
		})
	}
}

func TestOnMessageMatchesOnlyNewMessages(t *testing.T) {
	t.Parallel()
	h := newWH(t)
	var names []string
	require.NoError(t, h.OnMessage(func(_ context.Context, e *Event) error { names = append(names, e.Name); return nil },
		MessageRole(chatshipper.RoleContact)))
	for i, b := range [][]byte{
		whMsgEvent(t, "o1", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "a")),
		whEvent(t, "o2", "message.update", map[string]any{"message": whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "b")}),
		whFixture(t, "conversation.update.json"),
		whMsgEvent(t, "o3", chatshipper.ConversationContact, whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypePostback, "c")),
	} {
		require.Equal(t, 200, whSigned(h, b).Code, i)
	}
	assert.Equal(t, []string{"message.create.contact.chat", "message.create.contact.postback"}, names)
}

// fakeClient is a Client that records what the handler asks and tells it.
type fakeClient struct {
	mu      sync.Mutex
	self    func(context.Context) (string, error) // nil: ErrSelfUnknown
	lookups int
	seen    []*chatshipper.Message
}

func (f *fakeClient) SelfUserID(ctx context.Context) (string, error) {
	f.mu.Lock()
	f.lookups++
	fn := f.self
	f.mu.Unlock()
	if fn == nil {
		return "", chatshipper.ErrSelfUnknown
	}
	return fn(ctx)
}

func (f *fakeClient) ObserveMessages(msgs ...*chatshipper.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.seen = append(f.seen, msgs...)
}

func (f *fakeClient) lookupCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lookups
}

func (f *fakeClient) seenMessages() []*chatshipper.Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.seen)
}

// A *chatshipper.Client is a Client.
var _ Client = (*chatshipper.Client)(nil)

func TestWebhookSelfFromClient(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var known atomic.Value
		known.Store("")
		c := &fakeClient{self: func(context.Context) (string, error) {
			if id := known.Load().(string); id != "" {
				return id, nil
			}
			return "", chatshipper.ErrSelfUnknown
		}}
		h := newWH(t, WithClient(c))
		n := counter(t, h)
		own := func(id string) []byte {
			return whMsgEvent(t, id, chatshipper.ConversationContact, whMessage(whBot, chatshipper.RoleAgent, chatshipper.MessageTypeChat, "Hello!"))
		}

		// Unknown: nothing is dropped, and the lookup is not repeated within a minute.
		require.Equal(t, 200, whSigned(h, own("x1")).Code)
		require.Equal(t, 200, whSigned(h, own("x2")).Code)
		assert.EqualValues(t, 2, n.Load())
		assert.Equal(t, 1, c.lookupCount())

		// A minute later the ID is known and cached.
		known.Store(whBot)
		time.Sleep(selfRetryInterval)
		require.Equal(t, 200, whSigned(h, own("x3")).Code)
		require.Equal(t, 200, whSigned(h, own("x4")).Code)
		assert.EqualValues(t, 2, n.Load(), "own messages are dropped once the ID is known")
		assert.Equal(t, 2, c.lookupCount())

		// A configured ID wins over the client's: the client is never asked.
		c2 := &fakeClient{}
		h2 := newWH(t, WithClient(c2), WithSelfUser(whAgent))
		n2 := counter(t, h2)
		require.Equal(t, 200, whSigned(h2, own("y1")).Code)
		assert.EqualValues(t, 1, n2.Load(), "whBot is not the configured own user")
		assert.Equal(t, 0, c2.lookupCount())
	})
}

func TestWebhookFeedsLoopGuard(t *testing.T) {
	t.Parallel()
	c := &fakeClient{}
	h := newWH(t, WithClient(c), WithSelfUser(whBot))

	noConvRef := whMessage(whContact, chatshipper.RoleContact, chatshipper.MessageTypeChat, "hi")
	delete(noConvRef, "conversation")
	onlyLink := whEvent(t, "l2", "message.create.contact.chat", map[string]any{
		"message": noConvRef,
		"links":   map[string]any{"conversation": "https://api.web1on1.chat/v2/conversations/" + whConv},
	})
	bodies := [][]byte{
		whFixture(t, "message.create.contact.chat.json"),
		whMsgEvent(t, "l1", chatshipper.ConversationContact, noConvRef), // conversation from data.conversation
		onlyLink,                                 // conversation from data.links
		whFixture(t, "conversation.update.json"), // no message: nothing to observe
		whFixture(t, "message.create.contact.chat.json"), // a duplicate still shows the guard its message
	}
	for _, b := range bodies {
		require.Equal(t, 200, whSigned(h, b).Code)
	}
	seen := c.seenMessages()
	require.Len(t, seen, 4)
	for _, m := range seen {
		assert.Equal(t, whConv, m.Conversation.ID)
		assert.Equal(t, chatshipper.RoleContact, m.Role)
	}
	// Refused deliveries show it nothing.
	require.Equal(t, 401, whPost(h, bodies[0], "sha1="+strings.Repeat("0", 40)).Code)
	assert.Len(t, c.seenMessages(), 4)
}

func TestWebhookDedupe(t *testing.T) {
	t.Parallel()
	body := whFixture(t, "message.create.contact.chat.json")

	t.Run("a duplicate delivery runs once", func(t *testing.T) {
		h := newWH(t)
		n := counter(t, h)
		for range 3 {
			assert.Equal(t, 200, whSigned(h, body).Code)
		}
		assert.EqualValues(t, 1, n.Load())
	})
	t.Run("a failed event's retry runs again", func(t *testing.T) {
		h := newWH(t)
		var calls int
		require.NoError(t, h.Handle("**", func(context.Context, *Event) error {
			calls++
			if calls == 1 {
				return errors.New("database down")
			}
			return nil
		}))
		assert.Equal(t, 500, whSigned(h, body).Code)
		assert.Equal(t, 200, whSigned(h, body).Code)
		assert.Equal(t, 200, whSigned(h, body).Code) // now done: not run a third time
		assert.Equal(t, 2, calls)
	})
	t.Run("a panicked event's retry runs again", func(t *testing.T) {
		h := newWH(t)
		var calls int
		require.NoError(t, h.Handle("**", func(context.Context, *Event) error {
			calls++
			if calls == 1 {
				panic("first time")
			}
			return nil
		}))
		assert.Equal(t, 500, whSigned(h, body).Code)
		assert.Equal(t, 200, whSigned(h, body).Code)
		assert.Equal(t, 2, calls)
	})
	t.Run("memory stays within N, oldest forgotten first", func(t *testing.T) {
		const max = 5
		h := newWH(t, WithDedupe(max))
		n := counter(t, h)
		for i := range 4 * max {
			require.Equal(t, 200, whSigned(h, whEvent(t, fmt.Sprintf("id-%d", i), "service.create", nil)).Code)
			assert.LessOrEqual(t, h.dedupe.(*MemoryDeduper).Len(), max)
		}
		assert.Equal(t, max, h.dedupe.(*MemoryDeduper).Len())
		assert.EqualValues(t, 4*max, n.Load())
		whSigned(h, whEvent(t, fmt.Sprintf("id-%d", 4*max-1), "service.create", nil)) // remembered
		assert.EqualValues(t, 4*max, n.Load())
		whSigned(h, whEvent(t, "id-0", "service.create", nil)) // forgotten long ago
		assert.EqualValues(t, 4*max+1, n.Load())
		assert.Equal(t, max, h.dedupe.(*MemoryDeduper).Len())
	})
	t.Run("an ID is remembered for 24 hours", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newWH(t)
			n := counter(t, h)
			whSigned(h, body)
			time.Sleep(DedupeTTL - time.Second)
			whSigned(h, body)
			assert.EqualValues(t, 1, n.Load())
			time.Sleep(time.Second)
			whSigned(h, body)
			assert.EqualValues(t, 2, n.Load())
			assert.Equal(t, 1, h.dedupe.(*MemoryDeduper).Len(), "the expired entry was replaced, not kept")
		})
	})
	t.Run("events without an ID always run", func(t *testing.T) {
		h := newWH(t)
		n := counter(t, h)
		b := whEvent(t, "", "service.create", nil)
		whSigned(h, b)
		whSigned(h, b)
		assert.EqualValues(t, 2, n.Load())
	})
	t.Run("dedupe off", func(t *testing.T) {
		h := newWH(t, WithDedupe(0))
		n := counter(t, h)
		whSigned(h, body)
		whSigned(h, body)
		assert.EqualValues(t, 2, n.Load())
	})
	t.Run("a duplicate while the first still runs asks for a retry", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newWH(t)
			release := make(chan struct{})
			var calls atomic.Int32
			require.NoError(t, h.Handle("**", func(context.Context, *Event) error { calls.Add(1); <-release; return nil }))
			first := make(chan int)
			go func() { first <- whSigned(h, body).Code }()
			synctest.Wait() // the first delivery is inside its handler
			assert.Equal(t, 503, whSigned(h, body).Code)
			close(release)
			assert.Equal(t, 200, <-first)
			assert.Equal(t, 200, whSigned(h, body).Code)
			assert.EqualValues(t, 1, calls.Load())
		})
	})
}

func TestWebhookAsync(t *testing.T) {
	t.Parallel()
	ev := func(i int) []byte { return whEvent(t, fmt.Sprintf("async-%d", i), "service.create", nil) }

	t.Run("acknowledges before the handler finishes", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newWH(t, WithAsync(1, 4))
			release := make(chan struct{})
			var started, finished atomic.Int32
			require.NoError(t, h.Handle("**", func(context.Context, *Event) error {
				started.Add(1)
				<-release
				finished.Add(1)
				return nil
			}))
			w := whSigned(h, ev(1))
			assert.Equal(t, 200, w.Code)
			assert.Empty(t, w.Body.Bytes())
			synctest.Wait()
			assert.EqualValues(t, 1, started.Load())
			assert.Zero(t, finished.Load(), "answered while the handler is still blocked")
			close(release)
			require.NoError(t, h.Shutdown(context.Background()))
			assert.EqualValues(t, 1, finished.Load())
		})
	})

	t.Run("queue full answers 503 and the retry runs", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newWH(t, WithAsync(1, 1))
			release := make(chan struct{})
			var mu sync.Mutex
			var ran []string
			require.NoError(t, h.Handle("**", func(_ context.Context, e *Event) error {
				<-release
				mu.Lock()
				ran = append(ran, e.ID)
				mu.Unlock()
				return nil
			}))
			require.Equal(t, 200, whSigned(h, ev(1)).Code)
			synctest.Wait() // the worker holds event 1
			require.Equal(t, 200, whSigned(h, ev(2)).Code)
			assert.Equal(t, 503, whSigned(h, ev(3)).Code)
			assert.Equal(t, 200, whSigned(h, ev(2)).Code, "a queued duplicate is acknowledged")
			close(release)
			synctest.Wait()
			assert.Equal(t, 200, whSigned(h, ev(3)).Code, "the refused event was not remembered")
			require.NoError(t, h.Shutdown(context.Background()))
			assert.Equal(t, []string{"async-1", "async-2", "async-3"}, ran)
		})
	})

	t.Run("Shutdown drains every acknowledged event", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			const total = 60
			h := newWH(t, WithAsync(3, total))
			var mu sync.Mutex
			done := map[string]bool{}
			require.NoError(t, h.Handle("**", func(_ context.Context, e *Event) error {
				time.Sleep(time.Second)
				mu.Lock()
				done[e.ID] = true
				mu.Unlock()
				return nil
			}))
			acked := map[string]bool{}
			for i := range total {
				if whSigned(h, ev(i)).Code == 200 {
					acked[fmt.Sprintf("async-%d", i)] = true
				}
			}
			require.Len(t, acked, total)
			require.NoError(t, h.Shutdown(context.Background()))
			assert.Equal(t, acked, done)
			assert.Equal(t, 503, whSigned(h, ev(total)).Code, "no delivery is accepted after Shutdown")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, httptest.NewRequest("GET", "/hook?type=subscribe&challenge=c", nil))
			assert.Equal(t, 200, w.Code, "the challenge is still answered")
			require.NoError(t, h.Shutdown(context.Background()), "a second Shutdown returns at once")
		})
	})

	t.Run("Shutdown gives up when its context ends; the work goes on", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newWH(t, WithAsync(1, 2))
			release := make(chan struct{})
			var finished atomic.Int32
			require.NoError(t, h.Handle("**", func(context.Context, *Event) error { <-release; finished.Add(1); return nil }))
			require.Equal(t, 200, whSigned(h, ev(1)).Code)
			require.Equal(t, 200, whSigned(h, ev(2)).Code)
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			assert.ErrorIs(t, h.Shutdown(ctx), context.DeadlineExceeded)
			close(release)
			require.NoError(t, h.Shutdown(context.Background()))
			assert.EqualValues(t, 2, finished.Load())
		})
	})

	t.Run("errors and panics go to the error handler; workers survive", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			var mu sync.Mutex
			failed := map[string]error{}
			h := newWH(t, WithAsync(1, 8), WithErrorHandler(func(e *Event, err error) {
				mu.Lock()
				failed[e.ID] = err
				mu.Unlock()
			}))
			errBoom := errors.New("boom")
			var ok atomic.Int32
			require.NoError(t, h.Handle("**", func(_ context.Context, e *Event) error {
				switch e.ID {
				case "async-1":
					return errBoom
				case "async-2":
					panic("kaput")
				}
				ok.Add(1)
				return nil
			}))
			for i := 1; i <= 3; i++ {
				require.Equal(t, 200, whSigned(h, ev(i)).Code)
			}
			require.NoError(t, h.Shutdown(context.Background()))
			require.Len(t, failed, 2)
			assert.ErrorIs(t, failed["async-1"], errBoom)
			var pe *PanicError
			require.ErrorAs(t, failed["async-2"], &pe)
			assert.Equal(t, "kaput", pe.Value)
			assert.EqualValues(t, 1, ok.Load())
		})
	})

	t.Run("the handler's context outlives the request", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			h := newWH(t, WithAsync(1, 1))
			var ctxErr error
			require.NoError(t, h.Handle("**", func(ctx context.Context, e *Event) error { ctxErr = ctx.Err(); return nil }))
			body := ev(1)
			ctx, cancel := context.WithCancel(context.Background())
			r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body)).WithContext(ctx)
			r.Header.Set(SignatureHeader, Sign(body, whSecret))
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			cancel() // the server cancels the request's context once the answer is sent
			require.Equal(t, 200, w.Code)
			require.NoError(t, h.Shutdown(context.Background()))
			assert.NoError(t, ctxErr)
		})
	})
}

func TestWebhookSyncShutdownWaitsForRunningHandlers(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := newWH(t)
		release := make(chan struct{})
		require.NoError(t, h.Handle("**", func(context.Context, *Event) error { <-release; return nil }))
		answered := make(chan int)
		go func() { answered <- whSigned(h, whEvent(t, "s1", "service.create", nil)).Code }()
		synctest.Wait()
		stopped := make(chan error)
		go func() { stopped <- h.Shutdown(context.Background()) }()
		synctest.Wait()
		select {
		case <-stopped:
			t.Fatal("Shutdown returned while a handler was running")
		default:
		}
		assert.Equal(t, 503, whSigned(h, whEvent(t, "s2", "service.create", nil)).Code)
		close(release)
		assert.Equal(t, 200, <-answered)
		assert.NoError(t, <-stopped)
	})
}

func TestWebhookHandleWhileServing(t *testing.T) {
	t.Parallel()
	h := newWH(t, WithDedupe(0))
	var n atomic.Int32
	var wg sync.WaitGroup
	body := whFixture(t, "message.create.contact.chat.json")
	for range 4 {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for range 20 {
				assert.Equal(t, 200, whSigned(h, body).Code)
			}
		}()
		go func() {
			defer wg.Done()
			assert.NoError(t, h.Handle("message.create.*.chat", func(context.Context, *Event) error { n.Add(1); return nil }, MessageRole(chatshipper.RoleContact)))
		}()
	}
	wg.Wait()
	assert.Len(t, *h.routes.Load(), 4)
	n.Store(0)
	whSigned(h, body)
	assert.EqualValues(t, 4, n.Load())
}

func TestParseEventFixtures(t *testing.T) {
	t.Parallel()
	ts := func(s string) chatshipper.Timestamp {
		v, err := chatshipper.ParseTimestamp(s)
		require.NoError(t, err)
		return v
	}
	intp := func(i int) *int { return &i }

	t.Run("message.create.contact.chat", func(t *testing.T) {
		body := whFixture(t, "message.create.contact.chat.json")
		e, err := ParseEvent(body)
		require.NoError(t, err)
		assert.Equal(t, "3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90", e.ID)
		assert.Equal(t, "message.create.contact.chat", e.Name)
		assert.Equal(t, ts("2024-03-14T09:26:53.589Z"), e.Timestamp)
		assert.Equal(t, "5a1f2b3c4d5e6f7a8b9c0d1e", e.Organization)
		assert.Equal(t, &Activity{
			Context:   "https://www.w3.org/ns/activitystreams",
			Type:      "Create",
			Actor:     ActivityObject{ID: "https://api.web1on1.chat/v2/contacts/" + whContact, Type: "Person"},
			Object:    ActivityObject{ID: "https://api.web1on1.chat/v2/messages/65f2c2a5e4b0a1b2c3d4e5f6", Type: "Object"},
			Published: ts("2024-03-14T09:26:53.589Z"),
			Summary:   "Contact Jenny Jones created a chat message",
		}, e.Activity)
		assert.Equal(t, whContact, e.Activity.Actor.ResourceID())
		assert.Equal(t, &chatshipper.Conversation{
			ID:            whConv,
			Organization:  chatshipper.NewRef[chatshipper.Organization]("5a1f2b3c4d5e6f7a8b9c0d1e"),
			OrgPath:       "5a0000000000000000000001#5a1f2b3c4d5e6f7a8b9c0d1e",
			Name:          "Jenny Jones",
			Type:          chatshipper.ConversationContact,
			Status:        chatshipper.StatusQueued,
			Contact:       chatshipper.NewRef[chatshipper.Contact](whContact),
			CategoryIndex: intp(0),
			Category:      "Sales",
			Touchpoint:    "web",
			Language:      "en",
			Participants: []chatshipper.Participant{{
				User: chatshipper.NewRef[chatshipper.User](whBot), Name: "Support Bot", Role: chatshipper.RoleBot, Active: true,
				CreatedAt: ts("2024-03-14T09:20:11.002Z"),
			}},
			Meta:      jsonObject(t, `{"intent":"greeting","engagement":"high","visits":3}`),
			CreatedAt: ts("2024-03-14T09:20:10.871Z"),
			UpdatedAt: ts("2024-03-14T09:26:53.512Z"),
		}, e.Data.Conversation)
		assert.Equal(t, &chatshipper.Message{
			ID:           "65f2c2a5e4b0a1b2c3d4e5f6",
			Conversation: chatshipper.NewRef[chatshipper.Conversation](whConv),
			Organization: chatshipper.NewRef[chatshipper.Organization]("5a1f2b3c4d5e6f7a8b9c0d1e"),
			OrgPath:      "5a0000000000000000000001#5a1f2b3c4d5e6f7a8b9c0d1e",
			Type:         chatshipper.MessageTypeChat,
			Role:         chatshipper.RoleContact,
			User:         chatshipper.NewRef[chatshipper.User](whContact),
			Text:         "Hi, do you have the blue model in stock?",
			ContentType:  "text/plain",
			Touchpoint:   "web",
			Meta:         jsonObject(t, `{"page":"https://shop.example.com/bikes/blue","locale":"en-GB"}`),
			CreatedAt:    ts("2024-03-14T09:26:53.501Z"),
			UpdatedAt:    ts("2024-03-14T09:26:53.501Z"),
		}, e.Data.Message)
		assert.Equal(t, map[string]string{
			"organization": "https://api.web1on1.chat/v2/organizations/5a1f2b3c4d5e6f7a8b9c0d1e",
			"conversation": "https://api.web1on1.chat/v2/conversations/" + whConv,
			"message":      "https://api.web1on1.chat/v2/messages/65f2c2a5e4b0a1b2c3d4e5f6",
			"contact":      "https://api.web1on1.chat/v2/contacts/" + whContact,
		}, e.Data.Links)
		assert.Nil(t, e.Data.Resources)
		assert.Equal(t, body, []byte(e.Raw))
		assert.True(t, e.IsMessage())
		assert.Equal(t, whConv, e.ConversationID())
		assert.Equal(t, chatshipper.ConversationContact, e.ConversationType())
		assert.Equal(t, chatshipper.MessageTypeChat, e.MessageType())
	})

	t.Run("conversation.update", func(t *testing.T) {
		e, err := ParseEvent(whFixture(t, "conversation.update.json"))
		require.NoError(t, err)
		assert.Equal(t, "8a6b4c2d-1e3f-4a5b-8c7d-9e0f1a2b3c4d", e.ID)
		assert.Equal(t, "conversation.update", e.Name)
		assert.True(t, e.Timestamp.Equal(time.Date(2024, 3, 14, 8, 31, 2, 114e6, time.UTC)), "offset applied")
		assert.Equal(t, "5a1f2b3c4d5e6f7a8b9c0d1e", e.Organization)
		require.NotNil(t, e.Activity)
		assert.Equal(t, "Update", e.Activity.Type)
		assert.Equal(t, whAgent, e.Activity.Actor.ResourceID())
		assert.Equal(t, whConv, e.Activity.Object.ResourceID())
		assert.Equal(t, "User Jenny Agent updated a conversation", e.Activity.Summary)
		assert.Equal(t, &chatshipper.Conversation{
			ID:           whConv,
			Organization: chatshipper.NewRef[chatshipper.Organization]("5a1f2b3c4d5e6f7a8b9c0d1e"),
			Type:         chatshipper.ConversationContact,
			Status:       chatshipper.StatusActive,
			Contact:      chatshipper.NewRef[chatshipper.Contact](whContact),
			Participants: []chatshipper.Participant{{User: chatshipper.NewRef[chatshipper.User](whAgent), Name: "Jenny Agent", Role: chatshipper.RoleAgent,
				UnreadCount: 2, Accepted: true, Active: true}},
			Meta:      jsonObject(t, `{"intent":"purchase"}`),
			UpdatedAt: ts("2024-03-14T08:31:02.100Z"),
		}, e.Data.Conversation)
		assert.Nil(t, e.Data.Message)
		assert.Equal(t, map[string]string{
			"organization": "https://api.web1on1.chat/v2/organizations/5a1f2b3c4d5e6f7a8b9c0d1e",
			"conversation": "https://api.web1on1.chat/v2/conversations/" + whConv,
			"user":         "https://api.web1on1.chat/v2/users/" + whAgent,
		}, e.Data.Links)
		assert.Nil(t, e.Data.Resources)
		assert.False(t, e.IsMessage())
		assert.Equal(t, whConv, e.ConversationID())
		assert.Equal(t, chatshipper.MessageType(""), e.MessageType())
	})

	t.Run("service.create", func(t *testing.T) {
		e, err := ParseEvent(whFixture(t, "service.create.json"))
		require.NoError(t, err)
		assert.Equal(t, "c0ffee00-1234-4bcd-8ef0-123456789abc", e.ID)
		assert.Equal(t, "service.create", e.Name)
		assert.Equal(t, ts("2024-03-15T12:00:00Z"), e.Timestamp)
		assert.Equal(t, "Create", e.Activity.Type)
		assert.Equal(t, "65f4a0b1c2d3e4f5a6b7c8d9", e.Activity.Object.ResourceID())
		assert.Nil(t, e.Data.Conversation)
		assert.Nil(t, e.Data.Message)
		assert.Equal(t, map[string]string{"organization": "https://api.web1on1.chat/v2/organizations/5a1f2b3c4d5e6f7a8b9c0d1e"}, e.Data.Links)
		require.Len(t, e.Data.Resources, 2)
		var svc chatshipper.Service
		require.NoError(t, e.Resource("service", &svc))
		assert.Equal(t, chatshipper.Service{
			ID:           "65f4a0b1c2d3e4f5a6b7c8d9",
			Organization: chatshipper.NewRef[chatshipper.Organization]("5a1f2b3c4d5e6f7a8b9c0d1e"),
			Name:         "Order bot webhook",
			Type:         "webhook",
			Status:       "unverified",
			Params: chatshipper.Meta{"url": "https://bot.example.com/hooks/chatshipper",
				"events": []any{"message.create.contact.*", "conversation.update"}},
			CreatedAt: ts("2024-03-15T12:00:00.000Z"),
		}, svc)
		var org chatshipper.Organization
		require.NoError(t, e.Resource("organization", &org))
		assert.Equal(t, chatshipper.Organization{ID: "5a1f2b3c4d5e6f7a8b9c0d1e", Name: "Example Bikes", DisplayName: "Example Bikes Ltd"}, org)
		assert.Equal(t, "", e.ConversationID())
		assert.Equal(t, chatshipper.ConversationType(""), e.ConversationType())
	})
}

func TestEventResourceAccessor(t *testing.T) {
	t.Parallel()
	e, err := ParseEvent(whFixture(t, "message.create.contact.chat.json"))
	require.NoError(t, err)
	var m chatshipper.Message
	require.NoError(t, e.Resource("message", &m))
	assert.Equal(t, *e.Data.Message, m)
	var c map[string]any
	require.NoError(t, e.Resource("conversation", &c))
	assert.Equal(t, whConv, c["id"])
	var links map[string]string
	require.NoError(t, e.Resource("links", &links))
	assert.Equal(t, e.Data.Links, links)
	var svc chatshipper.Service
	err = e.Resource("service", &svc)
	assert.ErrorIs(t, err, ErrNoResource)
	assert.Contains(t, err.Error(), "data.service")
}

func TestParseEventTolerance(t *testing.T) {
	t.Parallel()
	t.Run("organization populated as an object", func(t *testing.T) {
		e, err := ParseEvent([]byte(`{"event":"organization.update","organization":{"id":"5a1f2b3c4d5e6f7a8b9c0d1e","name":"X"}}`))
		require.NoError(t, err)
		assert.Equal(t, "5a1f2b3c4d5e6f7a8b9c0d1e", e.Organization)
	})
	t.Run("non-string links are skipped", func(t *testing.T) {
		e, err := ParseEvent([]byte(`{"event":"x.y","data":{"links":{"a":"https://x/1","b":7,"c":null}}}`))
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"a": "https://x/1"}, e.Data.Links)
	})
	t.Run("null resources and no data", func(t *testing.T) {
		e, err := ParseEvent([]byte(`{"event":"x.y","data":{"message":null,"conversation":null,"links":null}}`))
		require.NoError(t, err)
		assert.Equal(t, EventData{}, e.Data)
		e, err = ParseEvent([]byte(`{"event":"x.y"}`))
		require.NoError(t, err)
		assert.Equal(t, EventData{}, e.Data)
		assert.Nil(t, e.Activity)
	})
	t.Run("unknown fields ignored, numeric timestamp", func(t *testing.T) {
		e, err := ParseEvent([]byte(`{"event":"x.y","new":1,"timestamp":1710408413589}`))
		require.NoError(t, err)
		assert.Equal(t, int64(1710408413589), e.Timestamp.UnixMilli())
	})
	t.Run("Raw is a copy", func(t *testing.T) {
		body := []byte(`{"event":"x.y"}`)
		e, err := ParseEvent(body)
		require.NoError(t, err)
		body[2] = 'X'
		assert.Equal(t, `{"event":"x.y"}`, string(e.Raw))
	})
	t.Run("message conversation from data.conversation, then links", func(t *testing.T) {
		e, err := ParseEvent([]byte(`{"event":"message.create.contact.chat","data":{"conversation":{"id":"` + whConv + `"},"message":{"text":"hi"}}}`))
		require.NoError(t, err)
		assert.Equal(t, chatshipper.NewRef[chatshipper.Conversation](whConv), e.Data.Message.Conversation)
		e, err = ParseEvent([]byte(`{"event":"message.update","data":{"links":{"conversation":"https://api.web1on1.chat/v2/conversations/` + whConv + `/"},"message":{"text":"hi"}}}`))
		require.NoError(t, err)
		assert.Equal(t, whConv, e.Data.Message.Conversation.ID)
		assert.Equal(t, whConv, e.ConversationID())
		e, err = ParseEvent([]byte(`{"event":"message.update","data":{"links":{"conversation":"https://x/not-an-id"},"message":{"text":"hi"}}}`))
		require.NoError(t, err)
		assert.Equal(t, "", e.Data.Message.Conversation.ID)
	})
}

func TestParseEventMessageFastPath(t *testing.T) {
	t.Parallel()
	contact := `{"id":"` + whContact + `","profile":{"name":"Jenny Jones"}}`
	t.Run("extra data keys of a message event are found in Raw", func(t *testing.T) {
		e, err := ParseEvent([]byte(`{"event":"message.create.contact.chat","data":{"conversation":{"id":"` + whConv + `"},` +
			`"message":{"text":"hi"},"contact":` + contact + `}}`))
		require.NoError(t, err)
		assert.Nil(t, e.Data.Resources)
		var c chatshipper.Contact
		require.NoError(t, e.Resource("contact", &c))
		assert.Equal(t, chatshipper.Contact{ID: whContact, Profile: chatshipper.ContactProfile{Name: "Jenny Jones"}}, c)
		assert.ErrorIs(t, e.Resource("user", &c), ErrNoResource)
	})
	t.Run("a message event the typed pass refuses takes the complete pass", func(t *testing.T) {
		e, err := ParseEvent([]byte(`{"event":"message.update","data":{"message":{"text":"hi"},` +
			`"links":{"conversation":"https://api.web1on1.chat/v2/conversations/` + whConv + `","count":2},"contact":` + contact + `}}`))
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"conversation": "https://api.web1on1.chat/v2/conversations/" + whConv}, e.Data.Links)
		assert.Equal(t, whConv, e.Data.Message.Conversation.ID)
		require.Contains(t, e.Data.Resources, "contact")
		assert.JSONEq(t, contact, string(e.Data.Resources["contact"]))
	})
	t.Run("both passes give the same event", func(t *testing.T) {
		body := whFixture(t, "message.create.contact.chat.json")
		fast, err := ParseEvent(body)
		require.NoError(t, err)
		var split eventSplit
		require.NoError(t, wire.Unmarshal(body, &split))
		var d EventData
		require.NoError(t, d.fill(split.Data))
		assert.Equal(t, d, fast.Data)
	})
}

func TestEventJSONRoundTrip(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"message.create.contact.chat.json", "conversation.update.json", "service.create.json"} {
		t.Run(name, func(t *testing.T) {
			e, err := ParseEvent(whFixture(t, name))
			require.NoError(t, err)
			b, err := wire.Marshal(e)
			require.NoError(t, err)
			again, err := ParseEvent(b)
			require.NoError(t, err)
			// encoding/json reads the wire form back too (through EventData.UnmarshalJSON).
			var viaJSON Event
			require.NoError(t, wire.Unmarshal(b, &viaJSON))

			// Undecoded resources come back compacted: compare them as JSON.
			for _, other := range []*Event{again, &viaJSON} {
				require.Len(t, other.Data.Resources, len(e.Data.Resources))
				for k, v := range e.Data.Resources {
					assert.JSONEq(t, string(v), string(other.Data.Resources[k]), k)
				}
				other.Data.Resources = nil
			}
			e.Data.Resources = nil
			// Times come back in UTC (conversation.update's carries an offset).
			assert.True(t, e.Timestamp.Equal(again.Timestamp.Time))
			again.Timestamp = e.Timestamp
			again.Raw, e.Raw = nil, nil
			assert.Equal(t, e, again)
			assert.Equal(t, e.Data, viaJSON.Data)
		})
	}
}

// TestWebhookSecretNeverLeaks runs every refusal and failure path with a
// canary secret and a debug logger, and looks for the canary in every answer,
// log line, error and printed form of the handler.
func TestWebhookSecretNeverLeaks(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var errs []string
	h := newWH(t, WithLogger(logger), WithMaxBody(4096),
		WithErrorHandler(func(_ *Event, err error) { errs = append(errs, err.Error()) }))
	require.NoError(t, h.Handle("message.**", func(context.Context, *Event) error { return errors.New("handler-error-text") }))
	require.NoError(t, h.Handle("service.**", func(context.Context, *Event) error { panic("panic-value-text") }))

	body := whFixture(t, "message.create.contact.chat.json")
	var answers []string
	record := func(w *httptest.ResponseRecorder) {
		answers = append(answers, w.Body.String(), fmt.Sprint(w.Header()))
	}
	record(whPost(h, body, "-"))
	record(whPost(h, body, "sha1=zz"))
	record(whPost(h, body, "sha256=00"))
	record(whPost(h, body, Sign(body, "wrong")))
	record(whSigned(h, bytes.Repeat([]byte("x"), 5000)))
	record(whSigned(h, []byte(`{"event":`)))
	record(whSigned(h, body))
	record(whSigned(h, whFixture(t, "service.create.json")))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("PUT", "/hook", nil))
	record(w)

	for _, hdr := range []string{"", "sha1=", "sha1=zz", "md5=00", Sign(body, "wrong")} {
		if err := VerifySignature(body, hdr, whSecret); err != nil {
			errs = append(errs, err.Error())
		}
	}
	require.Len(t, errs, 2+5)
	printed := fmt.Sprintf("%v %+v %#v", h, h, h)

	require.NotEmpty(t, logs.String())
	for _, s := range append(append(answers, errs...), logs.String(), printed) {
		assert.NotContains(t, s, whSecret)
	}
	assert.NotContains(t, strings.Join(answers, " "), "panic-value-text")
	assert.NotContains(t, strings.Join(answers, " "), "handler-error-text")
	assert.Contains(t, logs.String(), "handler-error-text", "the operator's log does get the error")
}

func FuzzParseEvent(f *testing.F) {
	for _, name := range []string{"message.create.contact.chat.json", "conversation.update.json", "service.create.json"} {
		f.Add(whFixture(f, name))
	}
	f.Add([]byte(`{"event":"message.update","data":{"links":{"conversation":"x/y"},"message":{}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := ParseEvent(body)
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidEvent)
			return
		}
		require.NotEmpty(t, e.Name)
		_ = e.IsMessage()
		_ = e.ConversationID()
		_ = e.ConversationType()
		_ = e.MessageType()
		var v any
		_ = e.Resource("message", &v)
		_ = e.Resource("x", &v)
		p, err := parsePattern("**.create.*.chat")
		require.NoError(t, err)
		p.match(strings.Split(e.Name, "."))
		b, err := wire.Marshal(e)
		if err != nil {
			return // e.g. a meta number too large to write back
		}
		again, err := ParseEvent(b)
		require.NoError(t, err, "an encoded event parses again")
		require.Equal(t, e.Name, again.Name)
	})
}

// oneByteReader sends one byte of a body and then stalls out, like a sender
// that claims a large Content-Length and never sends it.
type oneByteReader struct{ sent bool }

func (o *oneByteReader) Read(p []byte) (int, error) {
	if o.sent {
		return 0, io.ErrUnexpectedEOF
	}
	o.sent = true
	p[0] = '{'
	return 1, nil
}

// The receiver's memory follows the bytes received, not the claimed
// Content-Length: 32 one-byte deliveries claiming 1 MiB each allocated
// 32 MiB before. Not parallel: it reads the process's allocation counter.
func TestWebhookMemoryFollowsBytesReceived(t *testing.T) {
	for _, maxBody := range []int64{DefaultMaxBody, 1 << 40, math.MaxInt64} {
		t.Run(fmt.Sprint(maxBody), func(t *testing.T) {
			h := newWH(t, WithMaxBody(maxBody))
			claimed := int64(1 << 20)
			if maxBody > claimed {
				claimed = maxBody
			}
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			for range 32 {
				r := httptest.NewRequest(http.MethodPost, "/hook", &oneByteReader{})
				r.ContentLength = claimed
				r.Header.Set(SignatureHeader, "sha1=00")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, r)
				require.Equal(t, http.StatusBadRequest, w.Code)
			}
			runtime.ReadMemStats(&after)
			perRequest := (after.TotalAlloc - before.TotalAlloc) / 32
			assert.Less(t, perRequest, uint64(64<<10), "bytes allocated per one-byte delivery")
		})
	}
	t.Run("a claimed length over the cap is refused before reading", func(t *testing.T) {
		h := newWH(t, WithMaxBody(1<<10))
		rd := &countingReader{r: strings.NewReader("{}")}
		r := httptest.NewRequest(http.MethodPost, "/hook", rd)
		r.ContentLength = 1<<10 + 1
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		assert.Equal(t, http.StatusRequestEntityTooLarge, w.Code)
		assert.Zero(t, rd.n)
		// Else net/http drains up to 256 KiB of the unread body before
		// answering (TestRTWFBodyOverMaxBytesRead, over a real connection).
		assert.Equal(t, "close", w.Header().Get("Connection"), "the connection closes after the 413")
	})
}

// The webhook secret never prints, whatever the verb or log handler.
func TestHandlerPrintsNoSecret(t *testing.T) {
	t.Parallel()
	const canary = "whsec-CANARY-5d1e"
	h, err := NewHandler(WithSecret(canary))
	require.NoError(t, err)
	_ = whSigned(h, whEvent(t, "p1", "service.create", nil)) // the pool now holds a keyed MAC
	var out strings.Builder
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%q"} {
		fmt.Fprintf(&out, verb+"\n", h)
	}
	slog.New(slog.NewTextHandler(&out, nil)).Info("h", "handler", h)
	slog.New(slog.NewJSONHandler(&out, nil)).Info("h", "handler", h)
	assert.NotContains(t, out.String(), canary)
	assert.NotContains(t, out.String(), fmt.Sprintf("%x", canary))
}

// jsonObject is the Object a payload's meta decodes to: its JSON, compacted,
// in the key order received.
func jsonObject(t *testing.T, s string) chatshipper.Object {
	t.Helper()
	var o chatshipper.Object
	require.NoError(t, o.UnmarshalJSON([]byte(s)))
	return o
}

// BenchmarkReadBody reads a delivery's body as the handler does: a typical
// event and one larger than the first buffer, each with its Content-Length
// and without one (chunked).
func BenchmarkReadBody(b *testing.B) {
	h := &Handler{maxBody: DefaultMaxBody}
	w := httptest.NewRecorder()
	for _, size := range []int{2 << 10, 64 << 10} {
		body := bytes.Repeat([]byte("x"), size)
		for _, known := range []bool{true, false} {
			name := fmt.Sprintf("%dKiB/length=%t", size>>10, known)
			b.Run(name, func(b *testing.B) {
				var rd bytes.Reader
				r := httptest.NewRequest(http.MethodPost, "/hook", nil)
				b.SetBytes(int64(size))
				b.ReportAllocs()
				for b.Loop() {
					rd.Reset(body)
					r.Body = io.NopCloser(&rd)
					r.ContentLength = -1
					if known {
						r.ContentLength = int64(size)
					}
					got, status := h.readBody(w, r)
					if status != 0 || len(got) != size {
						b.Fatalf("status %d, %d bytes", status, len(got))
					}
				}
			})
		}
	}
}
