package redteam_test

// Red-team tests of the SDK's response and webhook decoding (doc.go, "JSON is
// read and written by encoding/json before Go 1.27 ..."; webhook doc, "Message
// events are decoded in a single pass by the package's own decoder ...").
//
// The promises attacked:
//   - what Conversations.List / Messages.List (and walks) return is exactly what
//     encoding/json.Unmarshal of the page body into []*Conversation /
//     []*Message gives, and a page encoding/json refuses gives an error of the
//     same type (reachable with errors.As);
//   - no string returned shares memory with the response body;
//   - webhook.ParseEvent's Data.Conversation / Data.Message are what
//     encoding/json makes of data.conversation / data.message, and nothing in
//     an Event shares memory with the body.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
)

// ---------------------------------------------------------------------------
// Building hostile documents.

// rtdKV is one key and its raw JSON value in a document under construction.
type rtdKV struct{ k, v string }

// rtdDoc builds a JSON object from base with overrides: pairs of key and raw
// value. A key present in base is replaced in place (value "" removes it); an
// absent key is appended. A key starting with "+" is always appended (a
// duplicate), without the "+". The key is written as given (no escaping), so
// a key may carry escapes or raw bytes.
func rtdDoc(base []rtdKV, over ...string) string {
	kvs := slices.Clone(base)
	for i := 0; i+1 < len(over); i += 2 {
		k, v := over[i], over[i+1]
		if strings.HasPrefix(k, "+") {
			kvs = append(kvs, rtdKV{k[1:], v})
			continue
		}
		j := slices.IndexFunc(kvs, func(kv rtdKV) bool { return kv.k == k })
		switch {
		case j >= 0 && v == "":
			kvs = slices.Delete(kvs, j, j+1)
		case j >= 0:
			kvs[j].v = v
		case v != "":
			kvs = append(kvs, rtdKV{k, v})
		}
	}
	var b strings.Builder
	b.WriteByte('{')
	for i, kv := range kvs {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`"` + kv.k + `":` + kv.v)
	}
	b.WriteByte('}')
	return b.String()
}

var rtdConvBase = []rtdKV{
	{"id", `"65f2c1d0e4b0a1b2c3d4e5f0"`},
	{"organization", `"5a1f2b3c4d5e6f7a8b9c0d1e"`},
	{"orgPath", `"5a0000000000000000000001#5a1f2b3c4d5e6f7a8b9c0d1e"`},
	{"name", `"Jenny Jones"`},
	{"type", `"contact"`},
	{"slug", `"jenny"`},
	{"url", `"https://example.com/c/1"`},
	{"status", `"queued"`},
	{"participants", `[{"user":"5b9e8d7c6b5a4f3e2d1c0b0a","name":"Support Bot","avatar":"https://a/b.png","role":"bot","unreadCount":2,"inbox":true,"accepted":false,"active":true,"follow":true,"organization":"5a1f2b3c4d5e6f7a8b9c0d1e","createdAt":"2024-03-14T09:20:11.002Z","updatedAt":"2024-03-14T09:20:12Z"}]`},
	{"messages", `["65f2c2a5e4b0a1b2c3d4e5f6","65f2c2a5e4b0a1b2c3d4e5f7"]`},
	{"channels", `["5c0000000000000000000001","5c0000000000000000000002"]`},
	{"channelsOffline", `[]`},
	{"forms", `[{"id":"f1","fields":[{"key":"a"}]}]`},
	{"results", `[]`},
	{"contact", `"5c2d3e4f5a6b7c8d9e0f1a2b"`},
	{"category", `"Sales"`},
	{"categoryIndex", `3`},
	{"touchpoint", `"web"`},
	{"touchpoints", `["web","whatsapp"]`},
	{"language", `"en"`},
	{"meta", `{"intent":"greeting","visits":3,"nested":{"a":[1,2.5,{"b":null}],"t":true}}`},
	{"createdBy", `"5b9e8d7c6b5a4f3e2d1c0b0b"`},
	{"createdAt", `"2024-03-14T09:20:10.871Z"`},
	{"updatedAt", `"2024-03-14T09:26:53.512Z"`},
}

var rtdMsgBase = []rtdKV{
	{"id", `"65f2c2a5e4b0a1b2c3d4e5f6"`},
	{"conversation", `"65f2c1d0e4b0a1b2c3d4e5f0"`},
	{"organization", `"5a1f2b3c4d5e6f7a8b9c0d1e"`},
	{"orgPath", `"5a0000000000000000000001#5a1f2b3c4d5e6f7a8b9c0d1e"`},
	{"type", `"chat"`},
	{"role", `"contact"`},
	{"user", `"5c2d3e4f5a6b7c8d9e0f1a2b"`},
	{"text", `"Hi, do you have the blue model in stock?"`},
	{"contentType", `"text/plain"`},
	{"isBackchannel", `false`},
	{"touchpoint", `"web"`},
	{"delay", `250`},
	{"meta", `{"page":"https://shop.example.com/bikes/blue","locale":"en-GB"}`},
	{"actions", `[{"type":"postback","text":"Yes","payload":"yes","meta":{"k":1}}]`},
	{"items", `[{"title":"Bike","description":"Blue","mediaUrl":"https://i/b.png","actions":[{"type":"link","text":"See","uri":"https://x"}]}]`},
	{"results", `[{"name":"f","form":"5f0000000000000000000001","values":{"a":"b","n":1}}]`},
	{"likes", `["5b9e8d7c6b5a4f3e2d1c0b0a"]`},
	{"comments", `[{"user":"5b9e8d7c6b5a4f3e2d1c0b0a","message":"65f2c2a5e4b0a1b2c3d4e5f9","text":"nice","createdAt":"2024-03-14T09:27:00.000Z"}]`},
	{"version", `2`},
	{"createdAt", `"2024-03-14T09:26:53.501Z"`},
	{"updatedAt", `"2024-03-14T09:26:53.501Z"`},
}

func rtdConv(over ...string) string { return rtdDoc(rtdConvBase, over...) }
func rtdMsg(over ...string) string  { return rtdDoc(rtdMsgBase, over...) }

// rtdPage wraps documents in a JSON array.
func rtdPage(docs ...string) string { return "[" + strings.Join(docs, ",") + "]" }

// rtdDeep is a value nested n arrays/objects deep.
func rtdDeep(n int) string {
	var b strings.Builder
	for i := range n {
		if i%2 == 0 {
			b.WriteString(`{"d":`)
		} else {
			b.WriteString(`[`)
		}
	}
	b.WriteString(`1`)
	for i := n - 1; i >= 0; i-- {
		if i%2 == 0 {
			b.WriteString(`}`)
		} else {
			b.WriteString(`]`)
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// Serving pages.

// rtdClient is a client for base (an httptest URL), without limits or retries.
func rtdClient(t testing.TB, base string, opts ...chatshipper.Option) *chatshipper.Client {
	t.Helper()
	all := append([]chatshipper.Option{
		chatshipper.WithBaseURL(base + "/v2/"),
		chatshipper.WithRateLimit(0),
		chatshipper.WithIPRateLimit(0),
		chatshipper.WithLoopGuard(false),
		chatshipper.WithMaxRetries(0),
		chatshipper.WithDeliveryTracking(false),
	}, opts...)
	c, err := chatshipper.NewClient("tok-abcdefghijklmnop", all...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// rtdStatic serves body for every request; chunked forces a body of unknown
// length (the handler flushes before writing), otherwise Content-Length is set.
func rtdStatic(t testing.TB, body []byte, chunked bool) *chatshipper.Client {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		if chunked {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		} else {
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(ts.Close)
	return rtdClient(t, ts.URL)
}

var rtdMsgQuery = chatshipper.NewQuery().Where("conversation", chatshipper.Eq("65f2c1d0e4b0a1b2c3d4e5f0"))

// ---------------------------------------------------------------------------
// Comparing with encoding/json.

// rtdChain lists every error reachable from err with errors.Unwrap (both forms).
func rtdChain(err error) []error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if e == nil {
			return
		}
		out = append(out, e)
		switch u := e.(type) {
		case interface{ Unwrap() error }:
			walk(u.Unwrap())
		case interface{ Unwrap() []error }:
			for _, x := range u.Unwrap() {
				walk(x)
			}
		}
	}
	walk(err)
	return out
}

// rtdErrMatch reports whether got carries an error of want's concrete type
// (sameType) and one with want's message too (sameMsg).
func rtdErrMatch(got, want error) (sameType, sameMsg bool) {
	wt := reflect.TypeOf(want)
	for _, e := range rtdChain(got) {
		if reflect.TypeOf(e) == wt {
			sameType = true
			if e.Error() == want.Error() {
				sameMsg = true
			}
		}
	}
	return sameType, sameMsg
}

func rtdHasNil[T any](s []*T) bool { return slices.Contains(s, nil) }

// rtdCheck lists body and compares with encoding/json. It returns a
// description of the difference, or "".
func rtdCheck[T any](body []byte, list func() ([]*T, error)) string {
	var want []*T
	wantErr := json.Unmarshal(body, &want)
	got, err := list()
	switch {
	case wantErr != nil:
		if err == nil {
			return fmt.Sprintf("encoding/json refuses the page (%T: %v) but List returned %d items and no error", wantErr, wantErr, len(got))
		}
		sameType, sameMsg := rtdErrMatch(err, wantErr)
		if !sameType {
			return fmt.Sprintf("error type differs: encoding/json %T (%v), List %v (chain %s)", wantErr, wantErr, err, rtdTypes(err))
		}
		if !sameMsg {
			return fmt.Sprintf("error message differs: encoding/json %q, List %q", wantErr, err)
		}
		return ""
	case rtdHasNil(want):
		// Documented: a list page holding null items is ErrInvalidResponse.
		if !errors.Is(err, chatshipper.ErrInvalidResponse) {
			return fmt.Sprintf("page with null items: want ErrInvalidResponse, got %v", err)
		}
		return ""
	case err != nil:
		return fmt.Sprintf("encoding/json accepts the page but List failed: %v (chain %s)", err, rtdTypes(err))
	}
	if !reflect.DeepEqual(got, want) {
		return "items differ from encoding/json's:\n" + rtdDiff(got, want)
	}
	return ""
}

func rtdTypes(err error) string {
	var ts []string
	for _, e := range rtdChain(err) {
		ts = append(ts, fmt.Sprintf("%T", e))
	}
	return strings.Join(ts, " > ")
}

// rtdDiff describes the first difference between two item slices.
func rtdDiff[T any](got, want []*T) string {
	if (got == nil) != (want == nil) || len(got) != len(want) {
		return fmt.Sprintf("  got %d items (nil %v), want %d (nil %v)", len(got), got == nil, len(want), want == nil)
	}
	for i := range got {
		if reflect.DeepEqual(got[i], want[i]) {
			continue
		}
		if got[i] == nil || want[i] == nil {
			return fmt.Sprintf("  item %d: got %v want %v", i, got[i], want[i])
		}
		gv, wv := reflect.ValueOf(got[i]).Elem(), reflect.ValueOf(want[i]).Elem()
		var out []string
		for f := range gv.NumField() {
			g, w := gv.Field(f).Interface(), wv.Field(f).Interface()
			if !reflect.DeepEqual(g, w) {
				out = append(out, fmt.Sprintf("  item %d field %s:\n    got  %s\n    want %s", i, gv.Type().Field(f).Name, rtdShow(g), rtdShow(w)))
			}
		}
		return strings.Join(out, "\n")
	}
	return "  (no field differs?)"
}

func rtdShow(v any) string {
	b, err := json.Marshal(v)
	s := fmt.Sprintf("%#v", v)
	if len(s) > 400 {
		s = s[:400] + "..."
	}
	if err != nil {
		return s + " (marshal: " + err.Error() + ")"
	}
	if len(b) > 300 {
		b = append(b[:300:300], "..."...)
	}
	return string(b) + "  " + s
}

func rtdListConvs(c *chatshipper.Client) func() ([]*chatshipper.Conversation, error) {
	return func() ([]*chatshipper.Conversation, error) {
		v, _, err := c.Conversations.List(context.Background(), nil)
		return v, err
	}
}

func rtdListMsgs(c *chatshipper.Client) func() ([]*chatshipper.Message, error) {
	return func() ([]*chatshipper.Message, error) {
		v, _, err := c.Messages.List(context.Background(), rtdMsgQuery)
		return v, err
	}
}

// ---------------------------------------------------------------------------
// Hostile pages.

type rtdCase struct {
	name string
	body string
}

func rtdConvCases() []rtdCase {
	c := rtdConv
	p := rtdPage
	cases := []rtdCase{
		{"baseline", p(c(), c("id", `"65f2c1d0e4b0a1b2c3d4e5f1"`))},
		{"empty", `[]`},
		// duplicate keys
		{"dup-id-same-case", p(c("+id", `"65f2c1d0e4b0a1b2c3d4e5ff"`))},
		{"dup-id-other-case-after", p(c("+ID", `"65f2c1d0e4b0a1b2c3d4e5ff"`))},
		{"dup-id-other-case-before", `[{"ID":"65f2c1d0e4b0a1b2c3d4e5ff",` + c()[1:] + `]`},
		{"dup-meta", p(c("+meta", `{"x":1}`))},
		{"dup-meta-case", p(c("+Meta", `{"x":1}`))},
		{"dup-meta-null", p(c("+meta", `null`))},
		{"dup-participants", p(c("+participants", `[]`))},
		{"dup-participants-null", p(c("+participants", `null`))},
		{"dup-messages-null", p(c("+messages", `null`))},
		{"dup-createdAt-null", p(c("+createdAt", `null`))},
		{"dup-createdAt-bad-then-good", p(c("createdAt", `"garbage"`, "+createdAt", `"2024-01-01T00:00:00Z"`))},
		{"dup-categoryIndex-null", p(c("+categoryIndex", `null`))},
		{"dup-contact-populated", p(c("+contact", `{"id":"5c2d3e4f5a6b7c8d9e0f1a2c","name":"X"}`))},
		{"dup-in-participant", p(c("participants", `[{"user":"5b9e8d7c6b5a4f3e2d1c0b0a","role":"bot","role":"agent","Role":"contact","inbox":true,"inbox":false}]`))},
		{"dup-in-meta", p(c("meta", `{"a":1,"a":2,"A":3}`))},
		// keys in other cases
		{"key-ID", p(c("id", "", "+ID", `"65f2c1d0e4b0a1b2c3d4e5f0"`))},
		{"key-Id", p(c("id", "", "+Id", `"65f2c1d0e4b0a1b2c3d4e5f0"`))},
		{"key-Meta", p(c("meta", "", "+Meta", `{"intent":"x"}`))},
		{"key-CREATEDAT", p(c("createdAt", "", "+CREATEDAT", `"2024-03-14T09:20:10.871Z"`))},
		{"key-STATUS", p(c("status", "", "+STATUS", `"active"`))},
		{"key-Participants-inner-case", p(c("participants", `[{"USER":"5b9e8d7c6b5a4f3e2d1c0b0a","Name":"B","ROLE":"bot","UnreadCount":1,"INBOX":true,"Accepted":true,"ACTIVE":true,"CreatedAt":"2024-03-14T09:20:11.002Z"}]`))},
		{"key-orgpath-lower", p(c("orgPath", "", "+orgpath", `"x#y"`))},
		{"key-categoryindex-lower", p(c("categoryIndex", "", "+categoryindex", `7`))},
		// Kelvin sign and long s
		{"key-long-s-status", p(c("status", "", "+ſtatus", `"active"`))},
		{"key-long-s-slug", p(c("slug", "", "+ſlug", `"s2"`))},
		{"key-long-s-messages", p(c("messages", "", "+meſſages", `["65f2c2a5e4b0a1b2c3d4e5f6"]`))},
		{"key-long-s-participants", p(c("participants", "", "+participantſ", `[]`))},
		{"key-long-s-escaped", p(c("status", "", `+\u017ftatus`, `"active"`))},
		{"key-long-s-upper-S", p(c("status", "", "+Status", `"active"`))},
		{"key-kelvin-in-participant", p(c("participants", `[{"user":"u","role":"bot","unreadCount":1}]`))},
		{"key-long-s-dup", p(c("+ſtatus", `"closed"`))},
		{"key-kelvin-unknown", p(c("+\u212aey", `1`))},
		{"key-dotless-i", p(c("id", "", "+ıd", `"x"`))},
		{"key-dotted-I", p(c("id", "", "+İD", `"x"`))},
		{"key-fullwidth", p(c("id", "", "+ｉｄ", `"x"`))},
		{"key-angstrom", p(c("+Å", `1`))},
		// escaped keys
		{"key-escaped-id", p(c("id", "", `+\u0069d`, `"65f2c1d0e4b0a1b2c3d4e5f0"`))},
		{"key-escaped-ID", p(c("id", "", `+\u0049\u0044`, `"65f2c1d0e4b0a1b2c3d4e5f0"`))},
		{"key-escaped-status", p(c("status", "", `+st\u0061tus`, `"closed"`))},
		{"key-escaped-dup", p(c(`+\u0069d`, `"65f2c1d0e4b0a1b2c3d4e5ff"`))},
		{"key-escaped-meta", p(c("meta", "", `+m\u0065ta`, `{"\u0069ntent":"x","a\"b":1}`))},
		{"key-escaped-solidus", p(c("+\\/id", `"x"`))},
		{"key-nul", p(c("+id\\u0000", `"x"`))},
		{"key-invalid-utf8", p(c("+i\xffd", `"x"`))},
		{"key-invalid-utf8-meta", p(c("meta", "{\"\xff\":1,\"a\xc3\":2}"))},
		// escapes and invalid UTF-8 in values
		{"val-escapes", p(c("name", `"a\"b\\c\/d\be\ff\ng\rh\ti\u00e9j\u2028k\u0000l"`))},
		{"val-emoji-pair", p(c("name", `"\ud83d\ude00 \uD83D\uDE00"`))},
		{"val-lone-high", p(c("name", `"\ud800"`))},
		{"val-lone-low", p(c("name", `"\udc00x"`))},
		{"val-high-high", p(c("name", `"\ud800\ud800"`))},
		{"val-high-then-letter", p(c("name", `"\ud83dA"`))},
		{"val-high-then-escape-nonsurrogate", p(c("name", `"\ud83d\u0041"`))},
		{"val-reversed-pair", p(c("name", `"\ude00\ud83d"`))},
		{"val-invalid-utf8", p(c("name", "\"a\xffb\xc3\""))},
		{"val-overlong-utf8", p(c("name", "\"\xc0\xaf\xe0\x80\xaf\""))},
		{"val-utf8-surrogate", p(c("name", "\"\xed\xa0\x80\xed\xbf\xbf\""))},
		{"val-utf8-max", p(c("name", "\"\xf4\x8f\xbf\xbf\xf4\x90\x80\x80\""))},
		{"val-invalid-utf8-id", p(c("id", "\"65f2c1d0\xffe4b0a1b2c3d4e5f0\""))},
		{"val-invalid-utf8-array", p(c("channels", "[\"\xff\",\"\\ud800\",\"ok\"]"))},
		{"val-invalid-utf8-meta", p(c("meta", "{\"a\":\"\xff\\ud800\",\"b\":[\"\xc3\"]}"))},
		{"val-escaped-enum", p(c("status", `"\u0071ueued"`, "type", `"cont\u0061ct"`))},
		{"val-control-raw", p(c("name", "\"a\tb\""))},
		{"val-long", p(c("name", `"`+strings.Repeat("x", 1<<20)+`"`))},
		{"val-long-escaped", p(c("name", `"`+strings.Repeat(`\u00e9`, 50000)+`"`))},
		// nulls everywhere
		{"null-element", p(c(), `null`)},
		{"null-element-only", `[null]`},
		{"null-id", p(c("id", `null`))},
		{"null-organization", p(c("organization", `null`))},
		{"null-participants", p(c("participants", `null`))},
		{"null-participant-element", p(c("participants", `[null]`))},
		{"null-participant-fields", p(c("participants", `[{"user":null,"name":null,"role":null,"unreadCount":null,"inbox":null,"accepted":null,"active":null,"createdAt":null}]`))},
		{"null-messages-element", p(c("messages", `[null,"65f2c2a5e4b0a1b2c3d4e5f6"]`))},
		{"null-channels-element", p(c("channels", `[null,"a"]`))},
		{"null-forms-element", p(c("forms", `[null,{}]`))},
		{"null-results", p(c("results", `null`))},
		{"null-contact", p(c("contact", `null`))},
		{"null-meta", p(c("meta", `null`))},
		{"null-createdAt", p(c("createdAt", `null`))},
		{"null-categoryIndex", p(c("categoryIndex", `null`))},
		{"null-everything", p(`{"id":null,"organization":null,"orgPath":null,"name":null,"type":null,"slug":null,"url":null,"status":null,"participants":null,"messages":null,"channels":null,"channelsOffline":null,"forms":null,"results":null,"contact":null,"category":null,"categoryIndex":null,"touchpoint":null,"touchpoints":null,"language":null,"meta":null,"createdBy":null,"createdAt":null,"updatedAt":null}`)},
		{"null-inside-meta", p(c("meta", `{"a":null,"b":[null],"c":{"d":null}}`))},
		// empty arrays and objects
		{"empty-object", p(`{}`)},
		{"empty-arrays", p(c("participants", `[]`, "messages", `[]`, "channels", `[]`, "forms", `[]`, "results", `[]`, "touchpoints", `[]`))},
		{"empty-objects-in-arrays", p(c("participants", `[{}]`, "forms", `[{},{}]`, "results", `[{}]`))},
		{"empty-meta", p(c("meta", `{}`))},
		{"empty-strings", p(c("id", `""`, "name", `""`, "organization", `""`, "contact", `""`))},
		{"empty-ref-object", p(c("organization", `{}`, "contact", `{}`))},
		// populated references
		{"populated-contact", p(c("contact", `{"id":"5c2d3e4f5a6b7c8d9e0f1a2b","name":"Jenny","email":"j@example.com","meta":{"vip":true}}`))},
		{"populated-organization", p(c("organization", `{"id":"5a1f2b3c4d5e6f7a8b9c0d1e","name":"Acme"}`))},
		{"populated-createdBy", p(c("createdBy", `{"id":"5b9e8d7c6b5a4f3e2d1c0b0b","name":"Admin","email":"a@example.com"}`))},
		{"populated-messages", p(c("messages", `[{"id":"65f2c2a5e4b0a1b2c3d4e5f6","type":"chat","text":"hello","role":"contact","meta":{"a":1},"createdAt":"2024-03-14T09:26:53.501Z"},"65f2c2a5e4b0a1b2c3d4e5f7",{"id":"65f2c2a5e4b0a1b2c3d4e5f8","text":"x","conversation":{"id":"65f2c1d0e4b0a1b2c3d4e5f0","name":"nested"}}]`))},
		{"populated-messages-selected", p(c("messages", `[{"type":"chat","text":"no id"}]`))},
		{"populated-participant-user", p(c("participants", `[{"user":{"id":"5b9e8d7c6b5a4f3e2d1c0b0a","name":"Bot","role":"bot"},"role":"bot","unreadCount":0}]`))},
		{"populated-ref-with-_id", p(c("contact", `{"_id":"5c2d3e4f5a6b7c8d9e0f1a2b","name":"X"}`))},
		{"populated-ref-case-ID", p(c("contact", `{"ID":"5c2d3e4f5a6b7c8d9e0f1a2b"}`))},
		{"populated-ref-dup-id", p(c("contact", `{"id":"a","id":"5c2d3e4f5a6b7c8d9e0f1a2b"}`))},
		{"ref-number", p(c("contact", `12`))},
		{"ref-bool", p(c("organization", `true`))},
		{"ref-array", p(c("createdBy", `["x"]`))},
		{"ref-escaped-id", p(c("contact", `"5c2d\u0033e4f5a6b7c8d9e0f1a2b"`))},
		{"ref-object-id-number", p(c("contact", `{"id":1}`))},
		{"ref-object-id-null", p(c("contact", `{"id":null,"name":"x"}`))},
		{"ref-object-id-dup-null", p(c("contact", `{"id":"x","id":null}`))},
		{"ref-object-ID-and-id", p(c("contact", `{"id":"a","ID":"b"}`))},
		{"ref-object-id-long-s", p(c("createdBy", `{"id":"a","ſtatus":"x"}`))},
		{"populated-message-dup-text", p(c("messages", `[{"id":"m1","text":"a","text":"b","TEXT":"c"}]`))},
		{"populated-message-wrong-text", p(c("messages", `[{"id":"m1","text":1}]`))},
		{"populated-message-wrong-delay", p(c("messages", `[{"id":"m1","delay":1.5}]`))},
		{"populated-message-bad-ts", p(c("messages", `[{"id":"m1","createdAt":"x"}]`))},
		{"populated-message-ts-number", p(c("messages", `[{"id":"m1","createdAt":1710408413589}]`))},
		{"populated-message-invalid-utf8", p(c("messages", "[{\"id\":\"m\xff1\",\"text\":\"\\ud800\"}]"))},
		{"populated-message-null-meta", p(c("messages", `[{"id":"m1","meta":null},{"id":"m2","meta":{}}]`))},
		{"populated-message-escaped-key", p(c("messages", `[{"\u0069d":"m1","t\u0065xt":"x"}]`))},
		{"populated-contact-wrong", p(c("contact", `{"id":"c1","name":1}`))},
		{"populated-participant-user-wrong", p(c("participants", `[{"user":{"id":"u","name":[]}}]`))},
		{"populated-messages-mixed-null", p(c("messages", `[{"id":"m1"},null,"m2"]`))},
		{"populated-deep-conversation", p(c("messages", `[{"id":"m1","conversation":{"id":"c","messages":[{"id":"m2","conversation":{"id":"c2"}}]}}]`))},
		// numbers in int fields
		{"int-1e2", p(c("categoryIndex", `1e2`))},
		{"int-1E0", p(c("categoryIndex", `1E0`))},
		{"int-minus-zero", p(c("categoryIndex", `-0`))},
		{"int-1.0", p(c("categoryIndex", `1.0`))},
		{"int-0.0", p(c("categoryIndex", `0.0`))},
		{"int-huge", p(c("categoryIndex", `99999999999999999999`))},
		{"int-max", p(c("categoryIndex", `9223372036854775807`))},
		{"int-max+1", p(c("categoryIndex", `9223372036854775808`))},
		{"int-min", p(c("categoryIndex", `-9223372036854775808`))},
		{"int-min-1", p(c("categoryIndex", `-9223372036854775809`))},
		{"int-negative", p(c("categoryIndex", `-5`))},
		{"int-leading-zero", p(c("categoryIndex", `01`))},
		{"int-plus", p(c("categoryIndex", `+1`))},
		{"int-string", p(c("categoryIndex", `"1"`))},
		{"int-bool", p(c("categoryIndex", `true`))},
		{"int-1e-2", p(c("categoryIndex", `1e-2`))},
		{"int-1e400", p(c("categoryIndex", `1e400`))},
		{"unread-negative", p(c("participants", `[{"user":"u","unreadCount":-3}]`))},
		{"unread-1e2", p(c("participants", `[{"user":"u","unreadCount":1e2}]`))},
		{"unread-float", p(c("participants", `[{"user":"u","unreadCount":2.5}]`))},
		{"bool-as-number", p(c("participants", `[{"user":"u","inbox":1}]`))},
		{"bool-as-string", p(c("participants", `[{"user":"u","active":"true"}]`))},
		{"bool-after-dup-wrong", p(c("participants", `[{"user":"u","active":"x","active":true}]`))},
		{"meta-number-spellings", p(c("meta", `{"a":1e2,"b":-0,"c":1.0,"d":99999999999999999999,"e":1E-7,"f":0.000,"g":-0.0e+0}`))},
		// timestamps in every form
		{"ts-millis-Z", p(c("createdAt", `"2024-03-14T09:26:53.589Z"`))},
		{"ts-seconds-Z", p(c("createdAt", `"2024-03-14T09:26:53Z"`))},
		{"ts-no-offset", p(c("createdAt", `"2024-03-14T09:26:53"`))},
		{"ts-no-offset-frac", p(c("createdAt", `"2024-03-14T09:26:53.589"`))},
		{"ts-offset-colon", p(c("createdAt", `"2024-03-14T09:26:53.589+01:00"`))},
		{"ts-offset-neg", p(c("createdAt", `"2024-03-14T09:26:53-05:30"`))},
		{"ts-offset-nocolon", p(c("createdAt", `"2024-03-14T09:26:53+0100"`))},
		{"ts-offset-hours", p(c("createdAt", `"2024-03-14T09:26:53+01"`))},
		{"ts-nanos", p(c("createdAt", `"2024-03-14T09:26:53.123456789Z"`))},
		{"ts-1-digit-frac", p(c("createdAt", `"2024-03-14T09:26:53.5Z"`))},
		{"ts-10-digit-frac", p(c("createdAt", `"2024-03-14T09:26:53.1234567891Z"`))},
		{"ts-lower-t-z", p(c("createdAt", `"2024-03-14t09:26:53z"`))},
		{"ts-space", p(c("createdAt", `"2024-03-14 09:26:53Z"`))},
		{"ts-date-only", p(c("createdAt", `"2024-03-14"`))},
		{"ts-comma-frac", p(c("createdAt", `"2024-03-14T09:26:53,589Z"`))},
		{"ts-escaped", p(c("createdAt", `"2024-03-14T09:26:53.589\u005a"`))},
		{"ts-empty", p(c("createdAt", `""`))},
		{"ts-garbage", p(c("createdAt", `"yesterday"`))},
		{"ts-leap-second", p(c("createdAt", `"2016-12-31T23:59:60Z"`))},
		{"ts-hour-24", p(c("createdAt", `"2024-03-14T24:00:00Z"`))},
		{"ts-feb-30", p(c("createdAt", `"2024-02-30T00:00:00Z"`))},
		{"ts-year-0", p(c("createdAt", `"0000-01-01T00:00:00Z"`))},
		{"ts-year-5digit", p(c("createdAt", `"10000-01-01T00:00:00Z"`))},
		{"ts-number", p(c("createdAt", `1710408413589`))},
		{"ts-number-zero", p(c("createdAt", `0`))},
		{"ts-number-negative", p(c("createdAt", `-1`))},
		{"ts-number-minus-zero", p(c("createdAt", `-0`))},
		{"ts-number-float", p(c("createdAt", `1710408413589.5`))},
		{"ts-number-exp", p(c("createdAt", `1.710408413589e12`))},
		{"ts-number-1e3", p(c("createdAt", `1e3`))},
		{"ts-number-huge", p(c("createdAt", `1e400`))},
		{"ts-number-int-huge", p(c("createdAt", `99999999999999999999999`))},
		{"ts-number-string", p(c("createdAt", `"1710408413589"`))},
		{"ts-bool", p(c("createdAt", `true`))},
		{"ts-object", p(c("createdAt", `{}`))},
		{"ts-array", p(c("createdAt", `[]`))},
		{"ts-participant-number", p(c("participants", `[{"user":"u","createdAt":1710408413589,"updatedAt":"2024-03-14T09:26:53"}]`))},
		// wrong types
		{"wrong-id-number", p(c("id", `1`))},
		{"wrong-name-bool", p(c("name", `true`))},
		{"wrong-name-object", p(c("name", `{"a":1}`))},
		{"wrong-participants-object", p(c("participants", `{}`))},
		{"wrong-participants-string", p(c("participants", `"x"`))},
		{"wrong-channels-string", p(c("channels", `"x"`))},
		{"wrong-channels-numbers", p(c("channels", `[1,2]`))},
		{"wrong-messages-string", p(c("messages", `"65f2c2a5e4b0a1b2c3d4e5f6"`))},
		{"wrong-meta-array", p(c("meta", `[1,2]`))},
		{"wrong-meta-string", p(c("meta", `"x"`))},
		{"wrong-meta-number", p(c("meta", `1`))},
		{"wrong-meta-bool", p(c("meta", `false`))},
		{"wrong-forms-strings", p(c("forms", `["x"]`))},
		{"wrong-status-number", p(c("status", `1`))},
		{"wrong-type-then-syntax", p(c("name", `1`)) + "x"},
		{"wrong-two-types", p(c("name", `1`, "status", `2`))},
		{"wrong-in-second-item", p(c(), c("id", `"65f2c1d0e4b0a1b2c3d4e5f1"`, "categoryIndex", `"3"`))},
		{"wrong-element-string", p(c(), `"65f2c1d0e4b0a1b2c3d4e5f1"`)},
		{"wrong-element-number", `[1]`},
		{"wrong-element-array", `[[]]`},
		{"unknown-fields", p(c("+unknown", `{"a":[1,2,{"b":null,"c":"\ud800"}],"d":1e400}`, "+_id", `"x"`, "+__v", `0`))},
		{"unknown-deep", p(c("+unknown", rtdDeep(500)))},
		// whitespace
		{"ws-everywhere", "\t\r\n [ \r\n\t" + strings.ReplaceAll(strings.ReplaceAll(c(), ",", " \t,\r\n "), ":", "\n:\t") + " \r\n] \t\r\n"},
		{"ws-in-meta", p(c("meta", "{ \"a\" :\t[ 1 ,\r\n2 ] , \"b\" : { } }"))},
		{"ws-crlf", "[\r\n" + c() + "\r\n]\r\n"},
		{"ws-leading-only", "   " + p(c())},
		{"ws-trailing-only", p(c()) + "\n\n\n"},
		{"ws-vertical-tab", "\v" + p(c())},
		{"ws-formfeed", "\f" + p(c())},
		{"ws-nbsp", "\u00a0" + p(c())},
		// nesting
		{"deep-meta-100", p(c("meta", `{"x":`+rtdDeep(100)+`}`))},
		{"deep-meta-9990", p(c("meta", `{"x":`+rtdDeep(9990)+`}`))},
		{"deep-meta-10001", p(c("meta", `{"x":`+rtdDeep(10001)+`}`))},
		{"deep-meta-20000", p(c("meta", `{"x":`+rtdDeep(20000)+`}`))},
		{"deep-forms-10001", p(c("forms", `[`+rtdDeep(10001)+`]`))},
		{"deep-unknown-10001", p(c("+zz", rtdDeep(10001)))},
		// whole-page forms
		{"page-null", `null`},
		{"page-object", `{}`},
		{"page-object-data", `{"data":[` + c() + `]}`},
		{"page-string", `"x"`},
		{"page-number", `1`},
		{"page-true", `true`},
		{"page-empty-body", ``},
		{"page-space", ` `},
		{"page-trailing-garbage", p(c()) + `x`},
		{"page-trailing-array", p(c()) + `[]`},
		{"page-trailing-comma", p(c()) + `,`},
		{"page-trailing-nul", p(c()) + "\x00"},
		{"page-inner-trailing-comma", "[" + c() + ",]"},
		{"page-object-trailing-comma", "[" + c()[:len(c())-1] + ",}]"},
		{"page-bom", "\xef\xbb\xbf" + p(c())},
		{"page-bom-trailing", p(c()) + "\xef\xbb\xbf"},
		{"page-single-quotes", `[{'id':'x'}]`},
		{"page-nan", p(c("categoryIndex", `NaN`))},
		{"page-comment", "[/* c */" + c() + "]"},
		{"page-unclosed-string", `[{"id":"abc}]`},
		{"page-raw-newline-in-string", "[{\"id\":\"a\nb\"}]"},
		{"page-bad-escape", `[{"id":"a\x"}]`},
		{"page-short-unicode-escape", `[{"id":"\u12"}]`},
	}
	// arrays of every short length (the decoder's short-array path and its
	// growth), populated and not, with hostile elements mixed in
	for n := range 34 {
		var chans, parts, msgs, forms []string
		for i := range n {
			chans = append(chans, fmt.Sprintf(`"ch%d"`, i))
			parts = append(parts, fmt.Sprintf(`{"user":"u%d","unreadCount":%d,"inbox":%v}`, i, i, i%2 == 0))
			if i%3 == 0 {
				msgs = append(msgs, fmt.Sprintf(`{"id":"m%d","text":"t%d"}`, i, i))
			} else {
				msgs = append(msgs, fmt.Sprintf(`"m%d"`, i))
			}
			forms = append(forms, fmt.Sprintf(`{"i":%d}`, i))
		}
		j := func(v []string) string { return "[" + strings.Join(v, ",") + "]" }
		cases = append(cases, rtdCase{fmt.Sprintf("arrays-%02d", n), p(c("channels", j(chans), "participants", j(parts), "messages", j(msgs), "forms", j(forms), "results", j(forms), "touchpoints", j(chans)))})
		if n > 0 {
			bad := slices.Clone(chans)
			bad[n-1] = `1`
			cases = append(cases, rtdCase{fmt.Sprintf("arrays-%02d-last-wrong", n), p(c("channels", j(bad)))})
			nul := slices.Clone(parts)
			nul[n/2] = `null`
			cases = append(cases, rtdCase{fmt.Sprintf("arrays-%02d-null-participant", n), p(c("participants", j(nul)))})
		}
	}
	for _, off := range []string{"+00:00", "-00:00", "+14:00", "+23:59", "+24:00", "-12:00", "+05:45", "Z", "z", "+0000", "UTC", " +01:00"} {
		cases = append(cases, rtdCase{"ts-zone-" + off, p(c("createdAt", `"2024-03-14T09:26:53.589`+off+`"`, "updatedAt", `"2024-03-14T09:26:53`+off+`"`))})
	}
	// pages of many items, each a bit different
	for _, n := range []int{2, 3, 15, 16, 17, 63, 64, 65, 257} {
		docs := make([]string, n)
		for i := range docs {
			docs[i] = c("id", fmt.Sprintf(`"%s"`, rtdOID(3, i)), "name", fmt.Sprintf(`"n%d"`, i))
		}
		cases = append(cases, rtdCase{fmt.Sprintf("items-%03d", n), p(docs...)})
	}
	// truncated bodies: every cut of one conversation page, sampled
	full := p(c("meta", `{"s":"\u00e9\ud83d\ude00","n":-1.5e3,"t":true,"f":false,"z":null,"a":[{}]}`))
	for i := 1; i < len(full); i += 7 {
		cases = append(cases, rtdCase{fmt.Sprintf("truncated-%04d", i), full[:i]})
	}
	return cases
}

func rtdMsgCases() []rtdCase {
	m := rtdMsg
	p := rtdPage
	return []rtdCase{
		{"baseline", p(m(), m("id", `"65f2c2a5e4b0a1b2c3d4e5f7"`))},
		{"dup-text", p(m("+text", `"second"`))},
		{"dup-text-case", p(m("+TEXT", `"second"`))},
		{"dup-text-null", p(m("+text", `null`))},
		{"dup-conversation-populated", p(m("+conversation", `{"id":"65f2c1d0e4b0a1b2c3d4e5f0","name":"c"}`))},
		{"key-Text", p(m("text", "", "+Text", `"x"`))},
		{"key-kelvin-isBackchannel", p(m("isBackchannel", "", "+isBac\u212achannel", `true`))},
		{"key-kelvin-likes", p(m("likes", "", "+li\u212aes", `["a"]`))},
		{"key-kelvin-escaped", p(m("likes", "", `+li\u212aes`, `["a"]`))},
		{"key-long-s-isbackchannel", p(m("isBackchannel", "", "+iſBackchannel", `true`))},
		{"key-long-s-results", p(m("results", "", "+reſultſ", `[]`))},
		{"key-k-upper-kelvin-both", p(m("+isBac\u212achannel", `true`))},
		{"key-escaped-text", p(m("text", "", `+\u0074ext`, `"x"`))},
		{"key-contenttype-lower", p(m("contentType", "", "+contenttype", `"image/png"`))},
		{"key-action-case", p(m("actions", `[{"TYPE":"reply","Text":"a","PAYLOAD":"p","Uri":"u"}]`))},
		{"val-text-escapes", p(m("text", `"line1\nline2\t\u00e9\ud83d\ude00\u0000\"\\"`))},
		{"val-text-invalid-utf8", p(m("text", "\"\xff\xfe\xc3\x28\""))},
		{"val-text-surrogates", p(m("text", `"\ud800\udc00\udbff\udfff\ud800\udbff"`))},
		{"val-text-empty", p(m("text", `""`))},
		{"val-text-absent", p(m("text", ""))},
		{"val-text-long", p(m("text", `"`+strings.Repeat("abc\\n", 100000)+`"`))},
		{"null-text", p(m("text", `null`))},
		{"null-everything", p(`{"id":null,"conversation":null,"organization":null,"orgPath":null,"type":null,"role":null,"user":null,"text":null,"contentType":null,"isBackchannel":null,"touchpoint":null,"delay":null,"meta":null,"actions":null,"items":null,"results":null,"likes":null,"comments":null,"version":null,"createdAt":null,"updatedAt":null}`)},
		{"null-elements-inner", p(m("actions", `[null]`, "items", `[null]`, "results", `[null]`, "likes", `[null]`, "comments", `[null]`))},
		{"null-action-meta", p(m("actions", `[{"type":"reply","meta":null}]`))},
		{"null-result-values", p(m("results", `[{"name":"f","values":null}]`))},
		{"null-element", p(m(), `null`)},
		{"empty-arrays", p(m("actions", `[]`, "items", `[]`, "results", `[]`, "likes", `[]`, "comments", `[]`))},
		{"empty-objects", p(m("actions", `[{}]`, "items", `[{}]`, "results", `[{}]`, "comments", `[{}]`, "meta", `{}`))},
		{"populated-conversation", p(m("conversation", `{"id":"65f2c1d0e4b0a1b2c3d4e5f0","name":"Jenny","status":"active","meta":{"a":1},"participants":[{"user":"u"}]}`))},
		{"populated-user", p(m("user", `{"id":"5c2d3e4f5a6b7c8d9e0f1a2b","name":"Jenny","role":"contact"}`))},
		{"populated-comment-user", p(m("comments", `[{"user":{"id":"5b9e8d7c6b5a4f3e2d1c0b0a","name":"Bot"},"text":"x"}]`))},
		{"populated-organization", p(m("organization", `{"id":"5a1f2b3c4d5e6f7a8b9c0d1e"}`))},
		{"delay-1e2", p(m("delay", `1e2`))},
		{"delay-1.0", p(m("delay", `1.0`))},
		{"delay-minus-zero", p(m("delay", `-0`))},
		{"delay-negative", p(m("delay", `-250`))},
		{"delay-huge", p(m("delay", `18446744073709551616`))},
		{"delay-string", p(m("delay", `"250"`))},
		{"version-float", p(m("version", `2.5`))},
		{"version-exp", p(m("version", `2E0`))},
		{"backchannel-number", p(m("isBackchannel", `1`))},
		{"backchannel-string", p(m("isBackchannel", `"true"`))},
		{"backchannel-null", p(m("isBackchannel", `null`))},
		{"text-number", p(m("text", `42`))},
		{"text-object", p(m("text", `{"a":1}`))},
		{"text-array", p(m("text", `["a"]`))},
		{"likes-object", p(m("likes", `{"a":1}`))},
		{"actions-string", p(m("actions", `"x"`))},
		{"action-meta-array", p(m("actions", `[{"type":"reply","meta":[1]}]`))},
		{"result-values-dup", p(m("results", `[{"name":"f","values":{"a":1,"a":2}}]`))},
		{"ts-number", p(m("createdAt", `1710408413589`, "updatedAt", `1.5e12`))},
		{"ts-no-offset", p(m("createdAt", `"2024-03-14T09:26:53.501"`))},
		{"ts-offset", p(m("createdAt", `"2024-03-14T10:26:53.501+01:00"`))},
		{"ts-bad", p(m("createdAt", `"2024-13-14T09:26:53.501Z"`))},
		{"ts-comment-number", p(m("comments", `[{"text":"x","createdAt":-1}]`))},
		{"ws-everywhere", "\r\n\t [\t" + strings.ReplaceAll(m(), `":`, "\" \t:\r\n") + "\n]\t"},
		{"deep-meta-10001", p(m("meta", `{"x":`+rtdDeep(10001)+`}`))},
		{"deep-action-meta", p(m("actions", `[{"type":"reply","meta":{"x":`+rtdDeep(9998)+`}}]`))},
		{"deep-action-meta-over", p(m("actions", `[{"type":"reply","meta":{"x":`+rtdDeep(10001)+`}}]`))},
		{"page-null", `null`},
		{"page-object", `{}`},
		{"page-string", `"messages"`},
		{"arrays-long", p(m("likes", "["+strings.Repeat(`"a",`, 40)+`"b"]`, "actions", "["+strings.Repeat(`{"type":"reply","text":"t"},`, 20)+`{}]`, "comments", "["+strings.Repeat(`{"text":"c","user":{"id":"u"}},`, 20)+`{"text":"z"}]`))},
		{"page-bom", "\xef\xbb\xbf" + p(m())},
		{"page-trailing", p(m()) + `]`},
		{"page-truncated", p(m())[:200]},
	}
}

// TestRTDecodeConversationPages serves hostile pages of conversations and
// compares List with encoding/json.Unmarshal of the same bytes.
func TestRTDecodeConversationPages(t *testing.T) {
	t.Parallel()
	for _, tc := range rtdConvCases() {
		for _, chunked := range []bool{false, true} {
			name := tc.name
			if chunked {
				name += "/chunked"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := rtdStatic(t, []byte(tc.body), chunked)
				if d := rtdCheck([]byte(tc.body), rtdListConvs(c)); d != "" {
					t.Errorf("body %s\n%s", rtdAbbrev(tc.body), d)
				}
			})
		}
	}
}

// TestRTDecodeMessagePages is the same for messages.
func TestRTDecodeMessagePages(t *testing.T) {
	t.Parallel()
	for _, tc := range append(rtdMsgCases(), rtdConvCases()...) {
		// The conversation cases too: a conversation page read as messages
		// (other fields, the same hostile forms).
		for _, chunked := range []bool{false, true} {
			name := tc.name
			if chunked {
				name += "/chunked"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				c := rtdStatic(t, []byte(tc.body), chunked)
				if d := rtdCheck([]byte(tc.body), rtdListMsgs(c)); d != "" {
					t.Errorf("body %s\n%s", rtdAbbrev(tc.body), d)
				}
			})
		}
	}
}

// TestRTDecodeMessageCasesAsConversations reads the message cases as
// conversations (keys that are unknown there, the same hostile forms).
func TestRTDecodeMessageCasesAsConversations(t *testing.T) {
	t.Parallel()
	for _, tc := range rtdMsgCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := rtdStatic(t, []byte(tc.body), false)
			if d := rtdCheck([]byte(tc.body), rtdListConvs(c)); d != "" {
				t.Errorf("body %s\n%s", rtdAbbrev(tc.body), d)
			}
		})
	}
}

func rtdAbbrev(s string) string {
	if len(s) > 600 {
		return strconv.Quote(s[:300]) + fmt.Sprintf(" ...(%d bytes)... ", len(s)-600) + strconv.Quote(s[len(s)-300:])
	}
	return strconv.Quote(s)
}

// TestRTDecodeBigPage: a page of 20,000 conversations, each different (IDs,
// names, meta, participants, populated or not).
func TestRTDecodeBigPage(t *testing.T) {
	t.Parallel()
	body := rtdBigConvPage(20000, 1)
	c := rtdStatic(t, body, true)
	if d := rtdCheck(body, rtdListConvs(c)); d != "" {
		t.Error(d)
	}
	mbody := rtdBigMsgPage(20000, 1)
	cm := rtdStatic(t, mbody, false)
	if d := rtdCheck(mbody, rtdListMsgs(cm)); d != "" {
		t.Error(d)
	}
}

func rtdOID(seed, i int) string { return fmt.Sprintf("%08x%016x", 0x65f00000+seed, i) }

// rtdBigConvPage makes n varied conversations; seed makes every string differ
// between pages.
func rtdBigConvPage(n, seed int) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(n)))
	docs := make([]string, n)
	for i := range n {
		over := []string{
			"id", strconv.Quote(rtdOID(seed, i)),
			"name", strconv.Quote(fmt.Sprintf("name-%d-%d-%s", seed, i, strings.Repeat("é", r.IntN(20)))),
			"meta", fmt.Sprintf(`{"seed":%d,"i":%d,"s":"%s-%d","arr":[%d,"x%d"]}`, seed, i, strings.Repeat("m", r.IntN(40)), seed, i, seed),
			"categoryIndex", strconv.Itoa(r.IntN(10)),
			"channels", fmt.Sprintf(`["ch%d","ch%d-%d"]`, seed, seed, i),
		}
		switch r.IntN(6) {
		case 0:
			over = append(over, "contact", fmt.Sprintf(`{"id":"c%d-%d","name":"Contact %d"}`, seed, i, i))
		case 1:
			over = append(over, "participants", `[]`, "forms", `[]`, "meta", `{}`)
		case 2:
			over = append(over, "messages", fmt.Sprintf(`[{"id":"m%d-%d","text":"t%d","meta":{"k":%d}},"m%d"]`, seed, i, i, i, seed))
		case 3:
			over = append(over, "createdAt", strconv.Itoa(1710408413589+i))
		case 4:
			over = append(over, "name", fmt.Sprintf(`"esc\n\u00e9\ud83d\ude00-%d-%d"`, seed, i))
		}
		docs[i] = rtdConv(over...)
	}
	return []byte(rtdPage(docs...))
}

func rtdBigMsgPage(n, seed int) []byte {
	r := rand.New(rand.NewPCG(uint64(seed), uint64(n)+1))
	docs := make([]string, n)
	for i := range n {
		over := []string{
			"id", strconv.Quote(rtdOID(seed, i)),
			"text", strconv.Quote(fmt.Sprintf("text %d of page %d %s", i, seed, strings.Repeat("w", r.IntN(60)))),
			"meta", fmt.Sprintf(`{"seed":%d,"i":%d}`, seed, i),
			"user", strconv.Quote(fmt.Sprintf("u%d-%d", seed, i%7)),
			"role", []string{`"contact"`, `"agent"`, `"bot"`, `"system"`}[r.IntN(4)],
		}
		if r.IntN(3) == 0 {
			over = append(over, "actions", `[]`, "items", `[]`, "comments", `[]`)
		}
		docs[i] = rtdMsg(over...)
	}
	return []byte(rtdPage(docs...))
}

// TestRTDecodeNullAndEmptyPageShape checks, beside the content, the shape of
// what List returns for `null` and `[]` pages and for empty arrays in the
// items (nil or empty: encoding/json keeps them apart, and a Conversation
// marshals them differently with omitzero).
func TestRTDecodeNullAndEmptyPageShape(t *testing.T) {
	t.Parallel()
	for _, body := range []string{`null`, `[]`, " [ ] ", `[` + rtdConv("participants", `[]`, "forms", `[]`, "results", `[]`, "channels", `[]`, "messages", `[]`) + `]`} {
		c := rtdStatic(t, []byte(body), false)
		got, _, err := c.Conversations.List(context.Background(), nil)
		var want []*chatshipper.Conversation
		if werr := json.Unmarshal([]byte(body), &want); werr != nil {
			t.Fatal(werr)
		}
		if err != nil {
			t.Errorf("%s: %v", body, err)
			continue
		}
		if (got == nil) != (want == nil) {
			t.Errorf("%q: List returned nil=%v, encoding/json nil=%v", body, got == nil, want == nil)
		}
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if !bytes.Equal(gb, wb) {
			t.Errorf("%q: re-marshalled\n got  %s\n want %s", rtdAbbrev(body), gb, wb)
		}
	}
}

// ---------------------------------------------------------------------------
// Walks.

// rtdWalkServer serves a listing made of the items of a page body (kept as
// raw JSON, so every hostile byte survives), answering the query language's
// id filters (id=>a, id=>a,<=b, id=<=b), sort=-id, limit and offset, with
// X-Total and a next link.
type rtdWalkServer struct {
	items []json.RawMessage
	ids   []string
	reqs  atomic.Int64
}

func newRTDWalkServer(t testing.TB, body []byte) (*rtdWalkServer, *chatshipper.Client) {
	t.Helper()
	s := &rtdWalkServer{}
	if err := json.Unmarshal(body, &s.items); err != nil {
		t.Fatal(err)
	}
	for _, it := range s.items {
		var v struct{ ID string }
		if err := json.Unmarshal(it, &v); err != nil {
			t.Fatal(err)
		}
		s.ids = append(s.ids, v.ID)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return s, rtdClient(t, ts.URL)
}

func (s *rtdWalkServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.reqs.Add(1)
	q := r.URL.Query()
	var idx []int
	for i, id := range s.ids {
		ok := true
		for _, f := range q["id"] {
			for _, part := range strings.Split(f, ",") {
				switch {
				case strings.HasPrefix(part, ">="):
					ok = ok && id >= part[2:]
				case strings.HasPrefix(part, "<="):
					ok = ok && id <= part[2:]
				case strings.HasPrefix(part, ">"):
					ok = ok && id > part[1:]
				case strings.HasPrefix(part, "<"):
					ok = ok && id < part[1:]
				default:
					ok = ok && id == part
				}
			}
		}
		if ok {
			idx = append(idx, i)
		}
	}
	if q.Get("sort") == "-id" {
		slices.Reverse(idx)
	} else if q.Get("sort") != "" {
		http.Error(w, `{"message":"unexpected sort"}`, http.StatusBadRequest)
		return
	}
	total := len(idx)
	off, _ := strconv.Atoi(q.Get("offset"))
	limit := 200
	if l, err := strconv.Atoi(q.Get("limit")); err == nil {
		limit = l
	}
	idx = idx[min(off, len(idx)):]
	idx = idx[:min(limit, len(idx))]
	var b bytes.Buffer
	b.WriteByte('[')
	for i, j := range idx {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(s.items[j])
	}
	b.WriteByte(']')
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Total", strconv.Itoa(total))
	w.Header().Set("X-Per-Page", strconv.Itoa(limit))
	if off+len(idx) < total {
		nq := r.URL.Query()
		nq.Set("offset", strconv.Itoa(off+len(idx)))
		nq.Set("limit", strconv.Itoa(limit))
		w.Header().Set("Link", fmt.Sprintf(`<%s?%s>; rel="next"`, r.URL.Path, nq.Encode()))
	}
	_, _ = w.Write(b.Bytes())
}

// rtdWalkPage makes a page of n hostile-but-valid conversations with
// increasing ids: every hostile form of rtdConvCases that encoding/json
// accepts, one per conversation, re-keyed with a fresh id.
func rtdHostileValidConvs(t testing.TB) []string {
	var docs []string
	for _, tc := range rtdConvCases() {
		var items []json.RawMessage
		if json.Unmarshal([]byte(tc.body), &items) != nil {
			continue
		}
		for _, it := range items {
			var conv *chatshipper.Conversation
			if json.Unmarshal(it, &conv) != nil || conv == nil {
				continue
			}
			docs = append(docs, string(it))
		}
	}
	if len(docs) < 50 {
		t.Fatalf("only %d hostile documents", len(docs))
	}
	// Replace each document's id (whatever key spells it) by an increasing
	// one: prepend nothing, append a last "id" key, which wins.
	for i, d := range docs {
		d = strings.TrimSpace(d)
		docs[i] = d[:len(d)-1] + fmt.Sprintf(`,"id":"%s"}`, rtdOID(7, i))
		if strings.TrimSpace(d) == "{}" {
			docs[i] = fmt.Sprintf(`{"id":"%s"}`, rtdOID(7, i))
		}
	}
	return docs
}

// TestRTDecodeWalkHostileItems walks (Items, Pages, with prefetch and with
// concurrency) over a listing of every hostile-but-valid conversation form and
// compares each item with encoding/json's reading of the same bytes.
func TestRTDecodeWalkHostileItems(t *testing.T) {
	t.Parallel()
	docs := rtdHostileValidConvs(t)
	body := []byte(rtdPage(docs...))
	var want []*chatshipper.Conversation
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	byID := map[string]*chatshipper.Conversation{}
	for _, w := range want {
		byID[w.ID] = w
	}
	check := func(t *testing.T, got []*chatshipper.Conversation, ordered bool) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("walk yielded %d items, want %d", len(got), len(want))
		}
		for i, g := range got {
			w := want[i]
			if !ordered {
				w = byID[g.ID]
			}
			if !reflect.DeepEqual(g, w) {
				t.Errorf("item %d (%s) differs from encoding/json's:\n%s", i, g.ID, rtdDiff([]*chatshipper.Conversation{g}, []*chatshipper.Conversation{w}))
			}
		}
	}
	for _, limit := range []int{7, 200} {
		for _, opt := range []struct {
			name    string
			opts    []chatshipper.WalkOption
			ordered bool
		}{{"prefetch0", []chatshipper.WalkOption{chatshipper.Prefetch(0)}, true}, {"prefetch3", []chatshipper.WalkOption{chatshipper.Prefetch(3)}, true}, {"concurrency4", []chatshipper.WalkOption{chatshipper.Concurrency(4)}, false}} {
			t.Run(fmt.Sprintf("limit%d/%s/items", limit, opt.name), func(t *testing.T) {
				t.Parallel()
				_, c := newRTDWalkServer(t, body)
				var got []*chatshipper.Conversation
				for conv, err := range c.Conversations.Walk(context.Background(), chatshipper.NewQuery().Limit(limit), opt.opts...).Items() {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, conv)
				}
				check(t, got, opt.ordered)
			})
			t.Run(fmt.Sprintf("limit%d/%s/pages", limit, opt.name), func(t *testing.T) {
				t.Parallel()
				_, c := newRTDWalkServer(t, body)
				var got []*chatshipper.Conversation
				for page, err := range c.Conversations.Walk(context.Background(), chatshipper.NewQuery().Limit(limit), opt.opts...).Pages() {
					if err != nil {
						t.Fatal(err)
					}
					got = append(got, page.Items...)
				}
				check(t, got, opt.ordered)
			})
		}
	}
}

// TestRTDecodeWalkMessagesHostile: the same for a messages walk (ListIter).
func TestRTDecodeWalkMessagesHostile(t *testing.T) {
	t.Parallel()
	var docs []string
	for i, tc := range rtdMsgCases() {
		var items []json.RawMessage
		if json.Unmarshal([]byte(tc.body), &items) != nil {
			continue
		}
		for j, it := range items {
			var m *chatshipper.Message
			if json.Unmarshal(it, &m) != nil || m == nil {
				continue
			}
			d := strings.TrimSpace(string(it))
			if d == "{}" {
				docs = append(docs, fmt.Sprintf(`{"id":"%s"}`, rtdOID(8, i*10+j)))
				continue
			}
			docs = append(docs, d[:len(d)-1]+fmt.Sprintf(`,"id":"%s"}`, rtdOID(8, i*10+j)))
		}
	}
	body := []byte(rtdPage(docs...))
	var want []*chatshipper.Message
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	_, c := newRTDWalkServer(t, body)
	var got []*chatshipper.Message
	for m, err := range c.Messages.ListIter(context.Background(), rtdMsgQuery.Limit(5)) {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, m)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("walk differs from encoding/json:\n%s", rtdDiff(got, want))
	}
}

// ---------------------------------------------------------------------------
// Memory sharing.

// rtdRetained is what one List returned, with the body it came from.
type rtdRetained struct {
	body  []byte
	convs []*chatshipper.Conversation
	msgs  []*chatshipper.Message
}

// TestRTDecodeConcurrentNoSharedMemory lists different pages from many
// goroutines, keeps every result, and checks at the end (after all the other
// lists reused whatever buffers the client keeps) that each is still what
// its page said: fields, meta read lazily with Get, Lookup, Map and Raw.
func TestRTDecodeConcurrentNoSharedMemory(t *testing.T) {
	t.Parallel()
	const pages = 24
	convBodies := make([][]byte, pages)
	msgBodies := make([][]byte, pages)
	for i := range pages {
		n := 1 + (i*37)%60
		convBodies[i] = rtdBigConvPage(n, 100+i)
		msgBodies[i] = rtdBigMsgPage(n, 100+i)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		off, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		body := convBodies[off%pages]
		if strings.HasSuffix(r.URL.Path, "/messages") {
			body = msgBodies[off%pages]
		}
		w.Header().Set("Content-Type", "application/json")
		if off%2 == 1 {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
		}
		_, _ = w.Write(body)
	}))
	t.Cleanup(ts.Close)
	c := rtdClient(t, ts.URL)

	const workers, rounds = 8, 12
	var mu sync.Mutex
	var kept []rtdRetained
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			for r := range rounds {
				k := (g*rounds + r) % pages
				q := chatshipper.NewQuery().Offset(k)
				convs, _, err := c.Conversations.List(context.Background(), q)
				if err != nil {
					t.Error(err)
					return
				}
				msgs, _, err := c.Messages.List(context.Background(), rtdMsgQuery.Offset(k))
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				kept = append(kept, rtdRetained{body: convBodies[k], convs: convs}, rtdRetained{body: msgBodies[k], msgs: msgs})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	// One more round of lists of other pages after everything was kept.
	for k := range pages {
		_, _, _ = c.Conversations.List(context.Background(), chatshipper.NewQuery().Offset(k))
		_, _, _ = c.Messages.List(context.Background(), rtdMsgQuery.Offset(k))
	}
	bad := 0
	for _, kr := range kept {
		if kr.convs != nil {
			var want []*chatshipper.Conversation
			if err := json.Unmarshal(kr.body, &want); err != nil {
				t.Fatal(err)
			}
			bad += rtdCheckRetained(t, kr.convs, want, func(c *chatshipper.Conversation) chatshipper.Object { return c.Meta })
		} else {
			var want []*chatshipper.Message
			if err := json.Unmarshal(kr.body, &want); err != nil {
				t.Fatal(err)
			}
			bad += rtdCheckRetained(t, kr.msgs, want, func(m *chatshipper.Message) chatshipper.Object { return m.Meta })
		}
		if bad > 5 {
			t.Fatal("too many differences")
		}
	}
}

// rtdCheckRetained compares kept items with encoding/json's, then reads their
// meta lazily and compares the values.
func rtdCheckRetained[T any](t *testing.T, got, want []*T, meta func(*T) chatshipper.Object) int {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("kept items changed:\n%s", rtdDiff(got, want))
		return 1
	}
	for i := range got {
		gm, wm := meta(got[i]), meta(want[i])
		if gm.String() != wm.String() || !bytes.Equal(gm.Raw(), wm.Raw()) {
			t.Errorf("item %d meta JSON %s, want %s", i, gm, wm)
			return 1
		}
		var m map[string]any
		if err := json.Unmarshal(wm.Raw(), &m); err != nil && wm.Raw() != nil {
			t.Fatal(err)
		}
		for k, v := range m {
			if g := gm.Get(k); !reflect.DeepEqual(g, v) {
				t.Errorf("item %d meta.Get(%q) = %#v, want %#v", i, k, g, v)
				return 1
			}
			if g, ok := gm.Lookup(k); !ok || !reflect.DeepEqual(g, v) {
				t.Errorf("item %d meta.Lookup(%q) = %#v, %v", i, k, g, ok)
				return 1
			}
		}
		if gmap := gm.Map(); !reflect.DeepEqual(map[string]any(gmap), m) && (len(m) != 0 || len(gmap) != 0) {
			t.Errorf("item %d meta.Map() = %#v, want %#v", i, gmap, m)
			return 1
		}
	}
	return 0
}

// TestRTDecodeConcurrentWalks runs several walks at once over listings of
// different pages (prefetch reading ahead into the client's buffers) and
// checks every kept item at the end.
func TestRTDecodeConcurrentWalks(t *testing.T) {
	t.Parallel()
	const walks = 6
	var wg sync.WaitGroup
	type res struct {
		body []byte
		got  []*chatshipper.Conversation
	}
	results := make([]res, walks)
	for i := range walks {
		body := rtdBigConvPage(150+i*13, 300+i)
		_, c := newRTDWalkServer(t, body)
		results[i].body = body
		wg.Go(func() {
			for conv, err := range c.Conversations.Walk(context.Background(), chatshipper.NewQuery().Limit(17), chatshipper.Prefetch(4)).Items() {
				if err != nil {
					t.Error(err)
					return
				}
				results[i].got = append(results[i].got, conv)
			}
		})
	}
	wg.Wait()
	for i, r := range results {
		var want []*chatshipper.Conversation
		if err := json.Unmarshal(r.body, &want); err != nil {
			t.Fatal(err)
		}
		if rtdCheckRetained(t, r.got, want, func(c *chatshipper.Conversation) chatshipper.Object { return c.Meta }) != 0 {
			t.Errorf("walk %d", i)
		}
	}
}

// ---------------------------------------------------------------------------
// Webhook events.

// rtdWantEvent is what encoding/json makes of an event body's documented
// fields (Data through a plain struct, not EventData's own decoder).
type rtdWantEvent struct {
	ID        string                `json:"id"`
	Name      string                `json:"event"`
	Timestamp chatshipper.Timestamp `json:"timestamp"`
	// Documented: the organization may come populated (ParseEvent takes
	// its id), as any reference.
	Organization chatshipper.Ref[chatshipper.Organization] `json:"organization"`
	Activity     *webhook.Activity                         `json:"activity"`
	Data         struct {
		Conversation *chatshipper.Conversation `json:"conversation"`
		Message      *chatshipper.Message      `json:"message"`
		Links        map[string]any            `json:"links"`
	} `json:"data"`
}

func rtdReadHook(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "webhook", "testdata", "webhooks", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rtdCheckEvent parses body with ParseEvent and compares with encoding/json.
func rtdCheckEvent(body []byte) string {
	var want rtdWantEvent
	wantErr := json.Unmarshal(body, &want)
	e, err := webhook.ParseEvent(bytes.Clone(body))
	if wantErr != nil {
		if err == nil {
			return fmt.Sprintf("encoding/json refuses the body (%T: %v), ParseEvent accepted it", wantErr, wantErr)
		}
		var out []string
		if !errors.Is(err, webhook.ErrInvalidEvent) {
			out = append(out, fmt.Sprintf("error %v does not match ErrInvalidEvent", err))
		}
		var named struct {
			Name any `json:"event"`
		}
		if json.Unmarshal(body, &named) != nil || named.Name == nil || named.Name == "" {
			// Documented: no (or no valid) event name is ErrInvalidEvent,
			// whatever else is wrong.
			return strings.Join(out, "\n")
		}
		if sameType, _ := rtdErrMatch(err, wantErr); !sameType {
			out = append(out, fmt.Sprintf("error type differs: encoding/json %T (%v), ParseEvent %v (chain %s)", wantErr, wantErr, err, rtdTypes(err)))
		}
		return strings.Join(out, "\n")
	}
	if want.Name == "" {
		if !errors.Is(err, webhook.ErrInvalidEvent) {
			return fmt.Sprintf("no event name: want ErrInvalidEvent, got %v", err)
		}
		return ""
	}
	if err != nil {
		return fmt.Sprintf("encoding/json accepts the body, ParseEvent failed: %v (chain %s)", err, rtdTypes(err))
	}
	// Documented: a message without a conversation reference (read: no
	// conversation ID, so not usable for a reply; a populated object
	// without an id counts as none) gets data.conversation's id.
	if want.Data.Message != nil && want.Data.Message.Conversation.ID == "" && want.Data.Conversation != nil && want.Data.Conversation.ID != "" {
		want.Data.Message.Conversation = chatshipper.NewRef[chatshipper.Conversation](want.Data.Conversation.ID)
	}
	if want.Data.Message != nil && want.Data.Message.Conversation.ID == "" && e.Data.Message != nil {
		// taken from the conversation link: not compared
		want.Data.Message.Conversation = e.Data.Message.Conversation
	}
	var out []string
	if !e.IsMessage() {
		// The single-pass promise is about message events; other events
		// keep data.<resource> by its exact key (EventData's own reading).
		want.Data.Conversation, want.Data.Message, want.Data.Links = e.Data.Conversation, e.Data.Message, nil
	}
	if !reflect.DeepEqual(e.Activity, want.Activity) {
		out = append(out, fmt.Sprintf("activity: got %+v, want %+v", e.Activity, want.Activity))
	}
	if links := want.Data.Links; links != nil {
		wl := map[string]string{}
		for k, v := range links {
			if s, ok := v.(string); ok {
				wl[k] = s
			}
		}
		if !reflect.DeepEqual(e.Data.Links, wl) && (len(wl) != 0 || len(e.Data.Links) != 0) {
			out = append(out, fmt.Sprintf("links: got %v, want %v", e.Data.Links, wl))
		}
	}
	if e.ID != want.ID || e.Name != want.Name || e.Organization != want.Organization.ID || !e.Timestamp.Equal(want.Timestamp.Time) || e.Timestamp.Location().String() != want.Timestamp.Location().String() {
		out = append(out, fmt.Sprintf("envelope: got %q %q %q %v, want %q %q %q %v", e.ID, e.Name, e.Organization, e.Timestamp, want.ID, want.Name, want.Organization.ID, want.Timestamp))
	}
	if !reflect.DeepEqual(e.Data.Conversation, want.Data.Conversation) {
		if e.Data.Conversation == nil || want.Data.Conversation == nil {
			out = append(out, fmt.Sprintf("data.conversation: got %v, want %v", e.Data.Conversation, want.Data.Conversation))
		} else {
			out = append(out, "data.conversation:\n"+rtdDiff([]*chatshipper.Conversation{e.Data.Conversation}, []*chatshipper.Conversation{want.Data.Conversation}))
		}
	}
	if !reflect.DeepEqual(e.Data.Message, want.Data.Message) {
		if e.Data.Message == nil || want.Data.Message == nil {
			out = append(out, fmt.Sprintf("data.message: got %v, want %v", e.Data.Message, want.Data.Message))
		} else {
			out = append(out, "data.message:\n"+rtdDiff([]*chatshipper.Message{e.Data.Message}, []*chatshipper.Message{want.Data.Message}))
		}
	}
	if !bytes.Equal(e.Raw, body) {
		out = append(out, "Raw is not the body")
	}
	return strings.Join(out, "\n")
}

// rtdHookMutations makes hostile variants of a message event body.
func rtdHookMutations(t testing.TB) []rtdCase {
	base := string(rtdReadHook(t, "message.create.contact.chat.json"))
	conv := rtdConv()
	msg := rtdMsg()
	ev := func(c, m string) string {
		return `{"id":"3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90","event":"message.create.contact.chat","timestamp":"2024-03-14T09:26:53.589Z","organization":"5a1f2b3c4d5e6f7a8b9c0d1e","data":{"conversation":` + c + `,"message":` + m + `,"links":{"conversation":"https://api.web1on1.chat/v2/conversations/65f2c1d0e4b0a1b2c3d4e5f0"}}}`
	}
	cases := []rtdCase{
		{"testdata", base},
		{"testdata-crlf", strings.ReplaceAll(base, "\n", "\r\n")},
		{"testdata-tabs", strings.ReplaceAll(base, "  ", "\t")},
		{"testdata-compact", func() string {
			var b bytes.Buffer
			_ = json.Compact(&b, []byte(base))
			return b.String()
		}()},
		{"testdata-bom", "\xef\xbb\xbf" + base},
		{"testdata-trailing", base + "x"},
		{"testdata-truncated", base[:len(base)/2]},
		{"synthetic", ev(conv, msg)},
		{"message-no-conversation", ev(conv, rtdMsg("conversation", ""))},
		{"message-null-conversation", ev(conv, rtdMsg("conversation", `null`))},
		{"message-populated-conversation", ev(conv, rtdMsg("conversation", `{"id":"65f2c1d0e4b0a1b2c3d4e5f0","name":"p"}`))},
		{"conversation-null", ev(`null`, msg)},
		{"message-null", ev(conv, `null`)},
		{"data-keys-case", strings.Replace(strings.Replace(ev(conv, msg), `"conversation":{`, `"Conversation":{`, 1), `"message":{`, `"MESSAGE":{`, 1)},
		{"data-key-DATA", strings.Replace(ev(conv, msg), `"data":`, `"DATA":`, 1)},
		{"data-dup", strings.TrimSuffix(ev(conv, msg), "}") + `,"data":{"message":` + rtdMsg("text", `"second"`) + `}}`},
		{"data-conversation-dup", strings.Replace(ev(conv, msg), `"data":{`, `"data":{"conversation":`+rtdConv("name", `"first"`)+`,`, 1)},
		{"data-message-dup-case", strings.Replace(ev(conv, msg), `"data":{`, `"data":{"Message":`+rtdMsg("text", `"first"`)+`,`, 1)},
		{"event-key-case", strings.Replace(ev(conv, msg), `"event":`, `"EVENT":`, 1)},
		{"event-dup", strings.Replace(ev(conv, msg), `"event":"message.create.contact.chat"`, `"event":"x.y","event":"message.create.contact.chat"`, 1)},
		{"timestamp-number", strings.Replace(ev(conv, msg), `"timestamp":"2024-03-14T09:26:53.589Z"`, `"timestamp":1710408413589`, 1)},
		{"timestamp-no-offset", strings.Replace(ev(conv, msg), `"timestamp":"2024-03-14T09:26:53.589Z"`, `"timestamp":"2024-03-14T09:26:53.589"`, 1)},
		{"timestamp-bad", strings.Replace(ev(conv, msg), `"timestamp":"2024-03-14T09:26:53.589Z"`, `"timestamp":"nope"`, 1)},
		{"id-escaped-key", strings.Replace(ev(conv, msg), `"id":"3f1c`, `"\u0069d":"3f1c`, 1)},
		{"timestamp-long-s-key", strings.Replace(ev(conv, msg), `"timestamp":`, `"timeſtamp":`, 1)},
		{"data-escaped-key", strings.Replace(ev(conv, msg), `"data":`, `"d\u0061ta":`, 1)},
		{"data-message-long-s", strings.Replace(ev(conv, msg), `"message":{`, `"meſſage":{`, 1)},
		{"data-conversation-long-s", strings.Replace(ev(conv, msg), `"conversation":{`, `"converſation":{`, 1)},
		{"data-null", strings.Replace(ev(conv, msg), `"data":{`, `"data":null,"x":{`, 1)},
		{"data-array", `{"id":"x","event":"message.create.contact.chat","data":[]}`},
		{"data-string", `{"id":"x","event":"message.create.contact.chat","data":"x"}`},
		{"data-absent", `{"id":"x","event":"message.create.contact.chat"}`},
		{"data-conversation-string", `{"id":"x","event":"message.create.contact.chat","data":{"conversation":"65f2c1d0e4b0a1b2c3d4e5f0","message":` + msg + `}}`},
		{"data-message-string", `{"id":"x","event":"message.create.contact.chat","data":{"conversation":` + conv + `,"message":"65f2c2a5e4b0a1b2c3d4e5f6"}}`},
		{"data-message-array", `{"id":"x","event":"message.create.contact.chat","data":{"message":[]}}`},
		{"data-extra-keys", strings.Replace(ev(conv, msg), `"data":{`, `"data":{"service":{"id":"s"},"contact":{"id":"c","name":"n"},`, 1)},
		{"links-not-strings", strings.Replace(ev(conv, msg), `"links":{`, `"links":{"user":1,"contact":null,"message":{"a":1},`, 1)},
		{"links-array", strings.Replace(ev(conv, msg), `"links":{`, `"links":[],"x":{`, 1)},
		{"activity-wrong", strings.Replace(ev(conv, msg), `"data":{`, `"activity":{"type":1},"data":{`, 1)},
		{"activity-number", strings.Replace(ev(conv, msg), `"data":{`, `"activity":1,"data":{`, 1)},
		{"activity-full", strings.Replace(ev(conv, msg), `"data":{`, `"activity":{"@context":"https://www.w3.org/ns/activitystreams","type":"Create","actor":{"id":"https://api.web1on1.chat/v2/contacts/5c2d","type":"Person"},"object":{"id":"https://api.web1on1.chat/v2/messages/65f2","type":"Object"},"published":"2024-03-14T09:26:53.589","summary":"s\u00e9"},"data":{`, 1)},
		{"event-empty", strings.Replace(ev(conv, msg), `"event":"message.create.contact.chat"`, `"event":""`, 1)},
		{"event-null", strings.Replace(ev(conv, msg), `"event":"message.create.contact.chat"`, `"event":null`, 1)},
		{"event-number", strings.Replace(ev(conv, msg), `"event":"message.create.contact.chat"`, `"event":1`, 1)},
		{"event-escaped", strings.Replace(ev(conv, msg), `"event":"message.create.contact.chat"`, `"event":"message.create.contact.\u0063hat"`, 1)},
		{"id-number", strings.Replace(ev(conv, msg), `"id":"3f1c9a2e-7b4d-4e8a-9c1f-2d6e5a7b8c90"`, `"id":1`, 1)},
		{"organization-object", strings.Replace(ev(conv, msg), `"organization":"5a1f2b3c4d5e6f7a8b9c0d1e","data"`, `"organization":{"id":"x"},"data"`, 1)},
		{"organization-number", strings.Replace(ev(conv, msg), `"organization":"5a1f2b3c4d5e6f7a8b9c0d1e","data"`, `"organization":1,"data"`, 1)},
		{"organization-null", strings.Replace(ev(conv, msg), `"organization":"5a1f2b3c4d5e6f7a8b9c0d1e","data"`, `"organization":null,"data"`, 1)},
		{"organization-case-dup", strings.Replace(ev(conv, msg), `"organization":"5a1f2b3c4d5e6f7a8b9c0d1e","data"`, `"organization":"a","ORGANIZATION":"b","data"`, 1)},
		{"body-array", `[]`},
		{"body-null", `null`},
		{"body-string", `"x"`},
		{"body-empty", ``},
		{"body-ws", " \t"},
		{"ws-everywhere", strings.ReplaceAll(strings.ReplaceAll(ev(conv, msg), ",", "\r\n\t,  "), ":", " :\n")},
		{"message-populated-user-conv", ev(conv, rtdMsg("user", `{"id":"u1","name":"N"}`, "conversation", `{"id":"65f2c1d0e4b0a1b2c3d4e5f0","meta":{"a":1}}`))},
		{"conversation-populated-messages", ev(rtdConv("messages", `[{"id":"m1","text":"hi","meta":{"a":[1]}},"m2"]`), msg)},
	}
	for _, mc := range rtdMsgCases() {
		var items []json.RawMessage
		if json.Unmarshal([]byte(mc.body), &items) != nil || len(items) == 0 || string(items[0]) == "null" {
			// also the refused ones, as the message of an event
			if i := strings.IndexByte(mc.body, '{'); i >= 0 && strings.HasPrefix(mc.body, "[") && strings.HasSuffix(mc.body, "]") {
				cases = append(cases, rtdCase{"msg-" + mc.name, ev(conv, mc.body[i:len(mc.body)-1])})
			}
			continue
		}
		cases = append(cases, rtdCase{"msg-" + mc.name, ev(conv, string(items[0]))})
	}
	for _, cc := range rtdConvCases() {
		if strings.HasPrefix(cc.name, "truncated-") || strings.HasPrefix(cc.name, "page-") {
			continue
		}
		var items []json.RawMessage
		if json.Unmarshal([]byte(cc.body), &items) != nil || len(items) == 0 {
			if strings.HasPrefix(cc.body, "[{") && strings.HasSuffix(cc.body, "}]") {
				cases = append(cases, rtdCase{"conv-" + cc.name, ev(cc.body[1:len(cc.body)-1], msg)})
			}
			continue
		}
		cases = append(cases, rtdCase{"conv-" + cc.name, ev(string(items[0]), msg)})
	}
	return cases
}

// TestRTDecodeWebhookEvents compares ParseEvent with encoding/json on hostile
// message events.
func TestRTDecodeWebhookEvents(t *testing.T) {
	t.Parallel()
	for _, tc := range rtdHookMutations(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if d := rtdCheckEvent([]byte(tc.body)); d != "" {
				t.Errorf("body %s\n%s", rtdAbbrev(tc.body), d)
			}
		})
	}
}

// TestRTDecodeWebhookBodyMutatedAfterParse parses events, overwrites every
// byte of the body, and checks that nothing in the Event changed (not even
// Raw, which is documented as a copy of body).
func TestRTDecodeWebhookBodyMutatedAfterParse(t *testing.T) {
	t.Parallel()
	for _, tc := range rtdHookMutations(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := []byte(tc.body)
			e, err := webhook.ParseEvent(body)
			if err != nil {
				return
			}
			ref, err := webhook.ParseEvent([]byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			for i := range body {
				body[i] = 'X'
			}
			if !bytes.Equal(e.Raw, ref.Raw) {
				t.Error("Event.Raw changed with the body (documented as a copy)")
			}
			e.Raw, ref.Raw = nil, nil
			if !reflect.DeepEqual(e, ref) {
				t.Errorf("Event changed when the body was overwritten:\n got  %+v\n want %+v", e, ref)
				if !reflect.DeepEqual(e.Data.Message, ref.Data.Message) && e.Data.Message != nil && ref.Data.Message != nil {
					t.Error(rtdDiff([]*chatshipper.Message{e.Data.Message}, []*chatshipper.Message{ref.Data.Message}))
				}
				if !reflect.DeepEqual(e.Data.Conversation, ref.Data.Conversation) && e.Data.Conversation != nil && ref.Data.Conversation != nil {
					t.Error(rtdDiff([]*chatshipper.Conversation{e.Data.Conversation}, []*chatshipper.Conversation{ref.Data.Conversation}))
				}
			}
			// Lazily decoded meta must still read what the body said.
			if e.Data.Conversation != nil {
				for _, k := range []string{"intent", "visits", "nested", "a", "x"} {
					if !reflect.DeepEqual(e.Data.Conversation.Meta.Get(k), ref.Data.Conversation.Meta.Get(k)) {
						t.Errorf("conversation meta %q changed", k)
					}
				}
			}
			if e.Data.Message != nil && !reflect.DeepEqual(e.Data.Message.Meta.Map(), ref.Data.Message.Meta.Map()) {
				t.Error("message meta changed")
			}
		})
	}
}

// TestRTDecodeWebhookConcurrentParse parses different events from many
// goroutines, reusing and overwriting each body buffer at once after the
// parse (as a server reading into a pooled buffer would), and checks every
// kept Event at the end.
func TestRTDecodeWebhookConcurrentParse(t *testing.T) {
	t.Parallel()
	const workers, rounds = 8, 40
	type kept struct {
		body string
		e    *webhook.Event
	}
	var mu sync.Mutex
	var all []kept
	var wg sync.WaitGroup
	for g := range workers {
		wg.Go(func() {
			buf := make([]byte, 0, 4096)
			for r := range rounds {
				id := rtdOID(g, r)
				text := fmt.Sprintf("text of %d/%d %s", g, r, strings.Repeat("z", (g*r)%50))
				body := `{"id":"` + id + `","event":"message.create.contact.chat","timestamp":"2024-03-14T09:26:53.589Z","organization":"o` + id + `","data":{"conversation":` +
					rtdConv("id", `"c`+id+`"`, "name", strconv.Quote("name "+id), "meta", fmt.Sprintf(`{"g":%d,"r":%d,"s":"meta-%s"}`, g, r, id)) +
					`,"message":` + rtdMsg("id", `"m`+id+`"`, "text", strconv.Quote(text), "conversation", "", "user", `"u`+id+`"`, "meta", fmt.Sprintf(`{"who":"%s"}`, id)) + `}}`
				buf = append(buf[:0], body...)
				e, err := webhook.ParseEvent(buf)
				if err != nil {
					t.Error(err)
					return
				}
				for i := range buf {
					buf[i] = '#'
				}
				mu.Lock()
				all = append(all, kept{body, e})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, k := range all {
		if d := rtdCheckEventKept(k.body, k.e); d != "" {
			t.Fatal(d)
		}
	}
}

func rtdCheckEventKept(body string, e *webhook.Event) string {
	var want rtdWantEvent
	if err := json.Unmarshal([]byte(body), &want); err != nil {
		return err.Error()
	}
	if want.Data.Message != nil && want.Data.Message.Conversation.IsZero() {
		want.Data.Message.Conversation = chatshipper.NewRef[chatshipper.Conversation](want.Data.Conversation.ID)
	}
	if e.ID != want.ID || e.Organization != want.Organization.ID {
		return fmt.Sprintf("envelope changed: %q %q want %q %q", e.ID, e.Organization, want.ID, want.Organization.ID)
	}
	if !reflect.DeepEqual(e.Data.Conversation, want.Data.Conversation) {
		return "conversation changed:\n" + rtdDiff([]*chatshipper.Conversation{e.Data.Conversation}, []*chatshipper.Conversation{want.Data.Conversation})
	}
	if !reflect.DeepEqual(e.Data.Message, want.Data.Message) {
		return "message changed:\n" + rtdDiff([]*chatshipper.Message{e.Data.Message}, []*chatshipper.Message{want.Data.Message})
	}
	if g, w := e.Data.Conversation.Meta.Get("s"), want.Data.Conversation.Meta.Get("s"); g != w {
		return fmt.Sprintf("conversation meta s = %v, want %v", g, w)
	}
	if g, w := e.Data.Message.Meta.Get("who"), want.Data.Message.Meta.Get("who"); g != w {
		return fmt.Sprintf("message meta who = %v, want %v", g, w)
	}
	if string(e.Raw) != body {
		return "Raw changed"
	}
	return ""
}

// ---------------------------------------------------------------------------
// Fuzzing.

// rtdFuzzRT answers every request with the current body, known length or
// not, from memory.
type rtdFuzzRT struct {
	body    atomic.Pointer[[]byte]
	chunked atomic.Bool
}

func (rt *rtdFuzzRT) RoundTrip(r *http.Request) (*http.Response, error) {
	b := *rt.body.Load()
	var body io.Reader = bytes.NewReader(b)
	n := int64(len(b))
	if rt.chunked.Load() {
		body = io.MultiReader(bytes.NewReader(b)) // hides the length
		n = -1
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Status:        "200 OK",
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(body),
		ContentLength: n,
		Request:       r,
	}, nil
}

// FuzzRTDecodePage serves arbitrary bytes as a page of conversations and of
// messages and compares List's result, or error type, with encoding/json's.
func FuzzRTDecodePage(f *testing.F) {
	for _, tc := range rtdConvCases() {
		if len(tc.body) < 4096 {
			f.Add([]byte(tc.body))
		}
	}
	for _, tc := range rtdMsgCases() {
		if len(tc.body) < 4096 {
			f.Add([]byte(tc.body))
		}
	}
	rt := &rtdFuzzRT{}
	c, err := chatshipper.NewClient("tok-abcdefghijklmnop",
		chatshipper.WithHTTPClient(&http.Client{Transport: rt}),
		chatshipper.WithRateLimit(0), chatshipper.WithIPRateLimit(0),
		chatshipper.WithLoopGuard(false), chatshipper.WithMaxRetries(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		b := bytes.Clone(body)
		rt.body.Store(&b)
		for _, chunked := range []bool{false, true} {
			rt.chunked.Store(chunked)
			if d := rtdCheck(body, rtdListConvs(c)); d != "" {
				t.Errorf("conversations (chunked %v), body %s\n%s", chunked, rtdAbbrev(string(body)), d)
			}
			if d := rtdCheck(body, rtdListMsgs(c)); d != "" {
				t.Errorf("messages (chunked %v), body %s\n%s", chunked, rtdAbbrev(string(body)), d)
			}
		}
	})
}

// FuzzRTDecodeEvent does the same for webhook.ParseEvent.
func FuzzRTDecodeEvent(f *testing.F) {
	for _, tc := range rtdHookMutations(f) {
		if len(tc.body) < 8192 {
			f.Add([]byte(tc.body))
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if d := rtdCheckEvent(body); d != "" {
			t.Errorf("body %s\n%s", rtdAbbrev(string(body)), d)
		}
	})
}

// ---------------------------------------------------------------------------
// Meta read from hostile pages.

// rtdHostileMetas are meta objects encoding/json accepts, in hostile forms.
var rtdHostileMetas = []string{
	`{}`,
	`{"a":1,"a":2}`,
	`{"a":{"x":1},"a":null}`,
	`{"a":1,"A":2,"\u0061":3}`,
	`{"\u0069ntent":"x","intent":"y"}`,
	`{"intent":"y","\u0069ntent":"x"}`,
	`{"k":1,"\u212a":2,"K":3}`,
	`{"s":1,"ſ":2}`,
	"{\"\xff\":1,\"\\ufffd\":2}",
	"{\"a\":\"\xff\",\"b\":\"\\ud800\",\"c\":\"\\ud83d\\ude00\",\"d\":\"\\u0000\"}",
	`{"a\"b":1,"a\\b":2,"a/b":3,"a\/b":4}`,
	`{"":1,"":2}`,
	`{"n":1e2,"m":-0,"o":1.0,"p":99999999999999999999,"q":1E-400,"r":123456789012345678}`,
	` { "a" : [ 1 , { "b" : null } ] , "c" : { } , "d" : [ ] } `,
	`{"deep":` + rtdDeep(300) + `}`,
	`{"x":{"y":{"z":[1,[2,[3,{"w":"v"}]]]}},"x":{"y":1}}`,
	`{"t":true,"f":false,"z":null}`,
}

// TestRTDecodeMetaReads lists pages whose meta is hostile and checks Get,
// Lookup, Map and Decode against encoding/json's reading of the same meta
// JSON, on the first read and after many (once the object is decoded).
func TestRTDecodeMetaReads(t *testing.T) {
	t.Parallel()
	for i, meta := range rtdHostileMetas {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			t.Parallel()
			body := rtdPage(rtdConv("meta", meta))
			c := rtdStatic(t, []byte(body), false)
			got, _, err := c.Conversations.List(context.Background(), nil)
			if err != nil || len(got) != 1 {
				t.Fatalf("List: %v %d", err, len(got))
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(meta), &want); err != nil {
				t.Fatal(err)
			}
			o := got[0].Meta
			keys := []string{"a", "A", "intent", "k", "K", "\u212a", "s", "ſ", "\ufffd", "\xff", "", "a\"b", "a\\b", "a/b", "x", "missing", "n", "q", "deep"}
			for k := range want {
				keys = append(keys, k)
			}
			for round := range 12 {
				for _, k := range keys {
					wv, wok := want[k]
					if g := o.Get(k); !reflect.DeepEqual(g, wv) {
						t.Errorf("meta %s round %d: Get(%q) = %#v, encoding/json %#v", meta, round, k, g, wv)
					}
					if g, ok := o.Lookup(k); ok != wok || !reflect.DeepEqual(g, wv) {
						t.Errorf("meta %s round %d: Lookup(%q) = %#v, %v; encoding/json %#v, %v", meta, round, k, g, ok, wv, wok)
					}
				}
				if m := o.Map(); !reflect.DeepEqual(map[string]any(m), want) {
					t.Errorf("meta %s round %d: Map() = %#v, encoding/json %#v", meta, round, m, want)
				}
			}
			if o.Len() != len(want) {
				t.Errorf("meta %s: Len() = %d, encoding/json has %d keys", meta, o.Len(), len(want))
			}
			type st struct {
				A      any `json:"a"`
				Intent any `json:"intent"`
				K      any `json:"k"`
				S      any `json:"s"`
				X      any `json:"x"`
			}
			var gs, ws st
			gerr := o.Decode(&gs)
			werr := json.Unmarshal([]byte(meta), &ws)
			if (gerr == nil) != (werr == nil) || !reflect.DeepEqual(gs, ws) {
				t.Errorf("meta %s: Decode = %#v, %v; encoding/json %#v, %v", meta, gs, gerr, ws, werr)
			}
		})
	}
}

// TestRTDecodeMetaConcurrentReads reads the meta of listed conversations from
// many goroutines at once, as the first reads and past the point where the
// object decodes itself once, and changes what the reads return.
func TestRTDecodeMetaConcurrentReads(t *testing.T) {
	t.Parallel()
	body := rtdBigConvPage(40, 9)
	c := rtdStatic(t, body, false)
	got, _, err := c.Conversations.List(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var want []*chatshipper.Conversation
	if err := json.Unmarshal(body, &want); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for r := range 20 {
				for i, conv := range got {
					var wm map[string]any
					_ = json.Unmarshal(want[i].Meta.Raw(), &wm)
					for _, k := range []string{"seed", "i", "s", "arr", "nested", "intent"} {
						v := conv.Meta.Get(k)
						if !reflect.DeepEqual(v, wm[k]) {
							t.Errorf("goroutine %d round %d: conv %d Get(%q) = %#v, want %#v", g, r, i, k, v, wm[k])
							return
						}
						// The caller's copy: scribble on it.
						if a, ok := v.([]any); ok && len(a) > 0 {
							a[0] = "scribbled"
						}
					}
					m := conv.Meta.Map()
					if len(wm) > 0 && !reflect.DeepEqual(map[string]any(m), wm) {
						t.Errorf("goroutine %d: Map differs", g)
						return
					}
					for k := range m {
						m[k] = "scribbled"
					}
				}
			}
		})
	}
	wg.Wait()
}

// TestRTDecodeWebhookShortStringReuse parses many events whose short strings
// (IDs, types, roles, names) are all different but alike (same length, one
// byte apart, escaped or not), and checks each event read its own.
func TestRTDecodeWebhookShortStringReuse(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	rs := func(n int) string {
		b := make([]byte, n)
		for i := range b {
			b[i] = alphabet[r.IntN(len(alphabet))]
		}
		return string(b)
	}
	for i := range 20000 {
		n := 1 + i%24
		s := rs(n)
		// escape one byte of the raw form now and then
		raw := s
		if i%3 == 0 {
			raw = fmt.Sprintf(`\u%04x`, s[0]) + s[1:]
		}
		role := []string{"contact", "agent", "bot", "c" + s, s}[i%5]
		body := `{"id":"` + raw + `","event":"message.create.contact.chat","organization":"` + raw + `","data":{"conversation":{"id":"` + raw + `","type":"` + raw + `","status":"` + s + `"},"message":{"id":"` + raw + `","type":"` + raw + `","role":"` + role + `","user":"` + raw + `","text":"` + raw + `","touchpoint":"` + s + `"}}}`
		e, err := webhook.ParseEvent([]byte(body))
		if err != nil {
			t.Fatal(err)
		}
		cv, m := e.Data.Conversation, e.Data.Message
		if e.ID != s || e.Organization != s || cv.ID != s || string(cv.Type) != s || string(cv.Status) != s || m.ID != s || string(m.Type) != s || string(m.Role) != role || m.User.ID != s || m.Text != s || m.Touchpoint != s || m.Conversation.ID != s {
			t.Fatalf("event %d (%q): got id %q org %q conv %q/%q/%q msg %q/%q/%q/%q/%q/%q", i, s, e.ID, e.Organization, cv.ID, cv.Type, cv.Status, m.ID, m.Type, m.Role, m.User.ID, m.Text, m.Touchpoint)
		}
	}
}

// TestRTDecodeContentTypes serves the same pages with other Content-Type
// headers (none, HTML, JSON variants): the promise is about the body, so
// List must still give what encoding/json makes of it, items or error.
func TestRTDecodeContentTypes(t *testing.T) {
	t.Parallel()
	bodies := []string{rtdPage(rtdConv()), `<html><body>login</body></html>`, `[]`, `{}`}
	for _, ct := range []string{"", "text/html; charset=utf-8", "text/plain", "application/vnd.api+json", "application/json; charset=iso-8859-1", "application/octet-stream"} {
		for i, body := range bodies {
			t.Run(fmt.Sprintf("%s/%d", ct, i), func(t *testing.T) {
				t.Parallel()
				ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
					w.Header()["Content-Type"] = []string{ct}
					_, _ = io.WriteString(w, body)
				}))
				t.Cleanup(ts.Close)
				c := rtdClient(t, ts.URL)
				if d := rtdCheck([]byte(body), rtdListConvs(c)); d != "" {
					t.Errorf("Content-Type %q body %s\n%s", ct, rtdAbbrev(body), d)
				}
			})
		}
	}
}

// FuzzRTDecodeField puts an arbitrary key and raw value into a realistic
// conversation or message (replacing a field, or beside it), inside a page of
// two, and compares List with encoding/json: the fuzzer works on values and
// keys inside a valid document rather than on the page's brackets.
func FuzzRTDecodeField(f *testing.F) {
	seeds := []struct {
		k, v string
	}{
		{"id", `"x"`}, {"ID", `"x"`}, {"ſtatus", `"x"`}, {"meta", `{"a":1,"a":2}`}, {"createdAt", `1e3`},
		{"categoryIndex", `1.0`}, {"participants", `[{"user":{"id":"u"},"inbox":1}]`}, {"messages", `[{"id":"m","text":"\ud800"}]`},
		{"text", "\"\xff\""}, {"delay", `-0`}, {"isBac\u212achannel", `true`}, {"\\u0069d", `"y"`}, {"contact", `{"id":"c","id":null}`},
		{"actions", `[{"type":"reply","meta":{"x":[1,{"y":null}]}}]`}, {"results", `[{"values":{"a":[]}}]`}, {"comments", `[{"createdAt":-1}]`},
	}
	for i, s := range seeds {
		f.Add(s.k, []byte(s.v), uint8(i), i%2 == 0)
	}
	rt := &rtdFuzzRT{}
	c, err := chatshipper.NewClient("tok-abcdefghijklmnop",
		chatshipper.WithHTTPClient(&http.Client{Transport: rt}),
		chatshipper.WithRateLimit(0), chatshipper.WithIPRateLimit(0),
		chatshipper.WithLoopGuard(false), chatshipper.WithMaxRetries(0))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, key string, val []byte, pos uint8, msg bool) {
		if strings.ContainsAny(key, "\"\\") && !strings.HasPrefix(key, "\\u") {
			key = strings.NewReplacer(`"`, `\"`).Replace(key)
		}
		base := rtdConvBase
		if msg {
			base = rtdMsgBase
		}
		k := key
		if int(pos) < len(base)*2 {
			// replace a base field (pos/2), with key's spelling when odd
			k = base[int(pos)/2].k
			if pos%2 == 1 {
				k = "+" + key
			}
		}
		doc := rtdDoc(base, k, string(val))
		body := []byte(rtdPage(doc, rtdDoc(base, "id", `"65f2c1d0e4b0a1b2c3d4e5f9"`)))
		b := bytes.Clone(body)
		rt.body.Store(&b)
		rt.chunked.Store(pos%3 == 0)
		if d := rtdCheck(body, rtdListConvs(c)); d != "" {
			t.Errorf("conversations, body %s\n%s", rtdAbbrev(string(body)), d)
		}
		if d := rtdCheck(body, rtdListMsgs(c)); d != "" {
			t.Errorf("messages, body %s\n%s", rtdAbbrev(string(body)), d)
		}
		ev := []byte(`{"id":"e","event":"message.create.contact.chat","data":{"conversation":` + doc + `,"message":` + doc + `}}`)
		if d := rtdCheckEvent(ev); d != "" {
			t.Errorf("event, body %s\n%s", rtdAbbrev(string(ev)), d)
		}
	})
}

// TestRTDecodeWebhookHandlerRetainedEvents delivers many different signed
// events to a Handler over HTTP from several goroutines, synchronously and
// with WithAsync (where the handlers run after the delivery was answered and
// its body buffer may be reused), keeps every Event the handlers receive, and
// checks each at the end against encoding/json's reading of its body: no
// string in an Event shares memory with a body, and Raw is its own copy.
func TestRTDecodeWebhookHandlerRetainedEvents(t *testing.T) {
	t.Parallel()
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			t.Parallel()
			opts := []webhook.Option{webhook.WithSecret("rtd-secret"), webhook.WithLogger(nil)}
			if async {
				opts = append(opts, webhook.WithAsync(3, 1000))
			}
			h, err := webhook.NewHandler(opts...)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			got := map[string]*webhook.Event{}
			if err := h.Handle("message.**", func(_ context.Context, e *webhook.Event) error {
				mu.Lock()
				got[e.ID] = e
				mu.Unlock()
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(h)
			t.Cleanup(ts.Close)
			const workers, per = 6, 40
			bodies := make([]string, workers*per)
			var wg sync.WaitGroup
			for g := range workers {
				wg.Go(func() {
					for r := range per {
						id := rtdOID(50+g, r)
						text := fmt.Sprintf("hello %d/%d %s \u00e9\U0001F600", g, r, strings.Repeat("q", (g+r)%37))
						body := `{"id":"` + id + `","event":"message.create.contact.chat","timestamp":"2024-03-14T09:26:53.589Z","organization":"o` + id + `","data":{"conversation":` +
							rtdConv("id", `"c`+id+`"`, "name", strconv.Quote("name "+id), "meta", fmt.Sprintf(`{"g":%d,"r":%d,"s":"meta-%s"}`, g, r, id)) +
							`,"message":` + rtdMsg("id", `"m`+id+`"`, "text", strconv.Quote(text), "conversation", "", "user", `"u`+id+`"`, "meta", fmt.Sprintf(`{"who":"%s"}`, id)) + `}}`
						bodies[g*per+r] = body
						req, _ := http.NewRequest(http.MethodPost, ts.URL+"/hook", strings.NewReader(body))
						req.Header.Set("Content-Type", "application/json")
						req.Header.Set("X-Hub-Signature", webhook.Sign([]byte(body), "rtd-secret"))
						resp, err := ts.Client().Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							t.Errorf("delivery answered %d", resp.StatusCode)
						}
					}
				})
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			if err := h.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(got) != len(bodies) {
				t.Fatalf("handlers saw %d events, want %d", len(got), len(bodies))
			}
			for _, body := range bodies {
				var env struct{ ID string }
				_ = json.Unmarshal([]byte(body), &env)
				if d := rtdCheckEventKept(body, got[env.ID]); d != "" {
					t.Fatalf("event %s: %s", env.ID, d)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// The same results on both toolchains.

// rtdDump writes v in a canonical form that tells apart everything
// reflect.DeepEqual does (nil and empty, zones, pointers' targets) and nothing
// else.
func rtdDump(b *strings.Builder, v reflect.Value) {
	switch v.Kind() {
	case reflect.Invalid:
		b.WriteString("<invalid>")
		return
	case reflect.Pointer, reflect.Interface:
		if v.IsNil() {
			b.WriteString("nil")
			return
		}
		b.WriteString("&")
		rtdDump(b, v.Elem())
		return
	}
	if v.Type() == reflect.TypeFor[time.Time]() {
		t := v.Interface().(time.Time)
		name, off := t.Zone()
		fmt.Fprintf(b, "time(%s %s %d %q)", t.Format(time.RFC3339Nano), t.Location(), off, name)
		return
	}
	if v.Type() == reflect.TypeFor[chatshipper.Object]() {
		o := v.Interface().(chatshipper.Object)
		fmt.Fprintf(b, "object(%v %q)", o.IsZero(), o.String())
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		b.WriteString(v.Type().Name() + "{")
		for i := range v.NumField() {
			if !v.Type().Field(i).IsExported() {
				continue
			}
			b.WriteString(v.Type().Field(i).Name + ":")
			rtdDump(b, v.Field(i))
			b.WriteString(" ")
		}
		b.WriteString("}")
	case reflect.Slice:
		if v.IsNil() {
			b.WriteString("nil-slice")
			return
		}
		b.WriteString("[")
		for i := range v.Len() {
			rtdDump(b, v.Index(i))
			b.WriteString(",")
		}
		b.WriteString("]")
	case reflect.Map:
		if v.IsNil() {
			b.WriteString("nil-map")
			return
		}
		keys := v.MapKeys()
		slices.SortFunc(keys, func(a, c reflect.Value) int { return strings.Compare(a.String(), c.String()) })
		b.WriteString("map[")
		for _, k := range keys {
			fmt.Fprintf(b, "%q:", k.String())
			rtdDump(b, v.MapIndex(k))
			b.WriteString(",")
		}
		b.WriteString("]")
	case reflect.String:
		fmt.Fprintf(b, "%q", v.String())
	default:
		fmt.Fprintf(b, "%v(%v)", v.Type(), v.Interface())
	}
}

// rtdOutcome is what a List (or ParseEvent) gave, canonically: the items'
// dump, or the concrete types of the error's chain that come from
// encoding/json or the SDK's own packages (wrapping types left out).
func rtdOutcome(v any, err error) string {
	if err != nil {
		var ts []string
		for _, e := range rtdChain(err) {
			tn := fmt.Sprintf("%T", e)
			if strings.HasPrefix(tn, "*json.") || strings.HasPrefix(tn, "*chatshipper.") || strings.HasPrefix(tn, "*webhook.") || strings.HasPrefix(tn, "json.") {
				ts = append(ts, tn)
			}
		}
		if errors.Is(err, chatshipper.ErrInvalidResponse) {
			ts = append(ts, "ErrInvalidResponse")
		}
		if errors.Is(err, webhook.ErrInvalidEvent) {
			ts = append(ts, "ErrInvalidEvent")
		}
		return "error " + strings.Join(ts, " > ")
	}
	var b strings.Builder
	rtdDump(&b, reflect.ValueOf(v))
	return b.String()
}

const rtdGoldenFile = "testdata/rtd_decode_golden.json"

// rtdOutcomes computes every case's outcome on this toolchain.
func rtdOutcomes(t *testing.T) map[string]string {
	out := map[string]string{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	add := func(name, s string) {
		sum := fmt.Sprintf("%x", sha256.Sum256([]byte(s)))
		if len(s) <= 300 {
			sum = s
		}
		mu.Lock()
		out[name] = sum
		mu.Unlock()
	}
	sem := make(chan struct{}, 4)
	run := func(name string, body string) {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			c := rtdStatic(t, []byte(body), false)
			convs, err := rtdListConvs(c)()
			add("conversations/"+name, rtdOutcome(convs, err))
			msgs, err := rtdListMsgs(c)()
			add("messages/"+name, rtdOutcome(msgs, err))
		})
	}
	for _, tc := range rtdConvCases() {
		run("c/"+tc.name, tc.body)
	}
	for _, tc := range rtdMsgCases() {
		run("m/"+tc.name, tc.body)
	}
	wg.Wait()
	for _, tc := range rtdHookMutations(t) {
		e, err := webhook.ParseEvent([]byte(tc.body))
		if e != nil {
			e.Raw = nil
		}
		add("event/"+tc.name, rtdOutcome(e, err))
	}
	return out
}

// TestRTDecodeSameOnBothToolchains: "with the same results and errors of the
// same types (*json.SyntaxError, *json.UnmarshalTypeError) on both". The
// outcomes of every hostile case were recorded with go1.26 (encoding/json
// v1) in testdata/rtd_decode_golden.json (RTD_WRITE_GOLDEN=1 rewrites it);
// any other toolchain must give the same.
func TestRTDecodeSameOnBothToolchains(t *testing.T) {
	t.Parallel()
	got := rtdOutcomes(t)
	if os.Getenv("RTD_WRITE_GOLDEN") != "" {
		b, err := json.MarshalIndent(map[string]any{"toolchain": runtime.Version(), "outcomes": got}, "", " ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(rtdGoldenFile, b, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	raw, err := os.ReadFile(rtdGoldenFile)
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Toolchain string            `json:"toolchain"`
		Outcomes  map[string]string `json:"outcomes"`
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	var names []string
	for name := range golden.Outcomes {
		names = append(names, name)
	}
	slices.Sort(names)
	n := 0
	for _, name := range names {
		g, ok := got[name]
		if !ok {
			continue
		}
		if g != golden.Outcomes[name] {
			n++
			if n <= 25 {
				t.Errorf("%s: %s gives\n  %s\n%s gave\n  %s", name, runtime.Version(), rtdAbbrev(g), golden.Toolchain, rtdAbbrev(golden.Outcomes[name]))
			}
		}
	}
	if n > 0 {
		t.Errorf("%d of %d outcomes differ between %s and %s", n, len(names), runtime.Version(), golden.Toolchain)
	}
}

// TestRTDecodeHugeCounts: sizes past 16 and 24 bits (a string of 17 MB, a
// page of 70,000 items, an array and a meta of 70,000 entries), within the
// default 32 MiB response cap.
func TestRTDecodeHugeCounts(t *testing.T) {
	t.Parallel()
	big := strings.Repeat("x", 1<<24+5)
	items := make([]string, 70000)
	for i := range items {
		items[i] = fmt.Sprintf(`{"id":"%d"}`, i)
	}
	parts := make([]string, 70000)
	keys := make([]string, 70000)
	for i := range parts {
		parts[i] = `"c"`
		keys[i] = fmt.Sprintf(`"k%d":%d`, i, i)
	}
	cases := map[string]string{
		"string-17MB":      rtdPage(rtdConv("name", `"`+big+`"`)),
		"meta-string-17MB": rtdPage(rtdConv("meta", `{"a":"`+big+`","b":1}`)),
		"items-70000":      rtdPage(items...),
		"array-70000":      rtdPage(rtdConv("channels", "["+strings.Join(parts, ",")+"]")),
		"meta-keys-70000":  rtdPage(rtdConv("meta", "{"+strings.Join(keys, ",")+"}")),
	}
	for name, body := range cases {
		t.Run(name, func(t *testing.T) {
			c := rtdStatic(t, []byte(body), false)
			if d := rtdCheck([]byte(body), rtdListConvs(c)); d != "" {
				t.Error(rtdAbbrev(d))
			}
			if d := rtdCheck([]byte(body), rtdListMsgs(c)); d != "" {
				t.Error(rtdAbbrev(d))
			}
		})
	}
}

// TestRTDecodeGetSingle serves the first item of each hostile page as the
// answer to Get: JSON is read by encoding/json (or the SDK's decoder with its
// results) for every answer, not only pages.
func TestRTDecodeGetSingle(t *testing.T) {
	t.Parallel()
	var docs []rtdCase
	for _, tc := range rtdConvCases() {
		var items []json.RawMessage
		if json.Unmarshal([]byte(tc.body), &items) == nil && len(items) > 0 {
			docs = append(docs, rtdCase{tc.name, string(items[0])})
		} else if strings.HasPrefix(tc.body, "[{") && strings.HasSuffix(tc.body, "}]") {
			docs = append(docs, rtdCase{tc.name, tc.body[1 : len(tc.body)-1]})
		}
	}
	for _, tc := range docs {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			c := rtdStatic(t, []byte(tc.body), false)
			var want *chatshipper.Conversation
			wantErr := json.Unmarshal([]byte(tc.body), &want)
			got, _, err := c.Conversations.Get(context.Background(), "65f2c1d0e4b0a1b2c3d4e5f0", nil)
			switch {
			case wantErr != nil:
				if st, _ := rtdErrMatch(err, wantErr); !st {
					t.Errorf("body %s: encoding/json %T (%v), Get %v", rtdAbbrev(tc.body), wantErr, wantErr, err)
				}
			case want == nil:
				// null: nothing to compare
			case err != nil:
				t.Errorf("body %s: Get failed: %v", rtdAbbrev(tc.body), err)
			case !reflect.DeepEqual(got, want):
				t.Errorf("body %s:\n%s", rtdAbbrev(tc.body), rtdDiff([]*chatshipper.Conversation{got}, []*chatshipper.Conversation{want}))
			}
		})
	}
}

// TestRTDecodeWalkEmptyBodyMidWalk: a walk whose later pages come back as
// 200 with an empty body (a proxy that lost the body, a server that crashed
// after the headers). encoding/json refuses an empty body (*json.SyntaxError),
// so the walk must end with that error, not as if the listing were complete.
func TestRTDecodeWalkEmptyBodyMidWalk(t *testing.T) {
	t.Parallel()
	for _, hdrs := range []bool{false, true} {
		t.Run(fmt.Sprintf("headers=%v", hdrs), func(t *testing.T) {
			t.Parallel()
			docs := make([]string, 10)
			for i := range docs {
				docs[i] = rtdConv("id", `"`+rtdOID(11, i)+`"`)
			}
			var n atomic.Int64
			ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				if hdrs {
					w.Header().Set("X-Total", "10")
				}
				if n.Add(1) == 1 {
					if hdrs {
						w.Header().Set("Link", `<`+r.URL.Path+`?offset=5&limit=5>; rel="next"`)
					}
					_, _ = io.WriteString(w, rtdPage(docs[:5]...))
					return
				}
				// 200, empty body
			}))
			t.Cleanup(ts.Close)
			c := rtdClient(t, ts.URL)
			var got int
			var walkErr error
			for _, err := range c.Conversations.Walk(context.Background(), chatshipper.NewQuery().Limit(5)).Items() {
				if err != nil {
					walkErr = err
					break
				}
				got++
			}
			var syn *json.SyntaxError
			if !errors.As(walkErr, &syn) {
				t.Errorf("walk yielded %d of 10 items and ended with %v (after %d requests); want the *json.SyntaxError encoding/json gives for an empty body", got, walkErr, n.Load())
			}
		})
	}
}
