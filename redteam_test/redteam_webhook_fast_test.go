package redteam_test

// Red-team tests of the faster webhook receiving path (webhook doc, "Message
// events are decoded in a single pass by the package's own decoder ... It is
// strict: wherever its reading could differ from encoding/json's ... it hands
// the body to the SDK's codec, so the Event, and the error for a bad body,
// are always what encoding/json makes of it. No string in an Event shares
// memory with the body ..."; root doc, "Timestamp reads ISO 8601 ...", "Pages
// of conversations and messages ... are always what encoding/json makes of
// the body"), of the body reading (WithMaxBody, 400/401/413) and of the
// in-memory duplicate suppression (MemoryDeduper, WithDedupe).
//
// The oracle for an event is encoding/json decoding the body into the same
// models (chatshipper.Conversation, chatshipper.Message, webhook.Activity,
// chatshipper.Timestamp), compared field by field: timestamps with
// reflect.DeepEqual (the instant and the location), meta objects by their
// JSON, nil and empty slices told apart.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/webhook"
)

// ---------------------------------------------------------------------------
// The oracle: encoding/json into the SDK's models.

type rtwfWant struct {
	ID           string                                    `json:"id"`
	Name         string                                    `json:"event"`
	Timestamp    chatshipper.Timestamp                     `json:"timestamp"`
	Organization chatshipper.Ref[chatshipper.Organization] `json:"organization"`
	Activity     *webhook.Activity                         `json:"activity"`
	Data         struct {
		Conversation *chatshipper.Conversation `json:"conversation"`
		Message      *chatshipper.Message      `json:"message"`
		Links        map[string]any            `json:"links"`
	} `json:"data"`
}

// rtwfOracle is what encoding/json makes of a message event body, as the
// Event the documentation describes.
func rtwfOracle(body []byte) (*webhook.Event, error) {
	var w rtwfWant
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, err
	}
	e := &webhook.Event{
		ID:           w.ID,
		Name:         w.Name,
		Timestamp:    w.Timestamp,
		Organization: w.Organization.ID,
		Activity:     w.Activity,
		Raw:          bytes.Clone(body),
	}
	e.Data.Conversation = w.Data.Conversation
	e.Data.Message = w.Data.Message
	if w.Data.Links != nil {
		e.Data.Links = map[string]string{}
		for k, v := range w.Data.Links {
			if s, ok := v.(string); ok {
				e.Data.Links[k] = s
			}
		}
	}
	// Documented: a message without a conversation reference gets
	// data.conversation's id.
	if m, c := e.Data.Message, e.Data.Conversation; m != nil && m.Conversation.ID == "" && c != nil && c.ID != "" {
		m.Conversation = chatshipper.NewRef[chatshipper.Conversation](c.ID)
	}
	return e, nil
}

var (
	rtwfObjectType = reflect.TypeFor[chatshipper.Object]()
	rtwfTSType     = reflect.TypeFor[chatshipper.Timestamp]()
	rtwfTimeType   = reflect.TypeFor[time.Time]()
)

// rtwfDiff lists the differences between got and want (same type), walking
// exported fields; Objects compare by their JSON, times with DeepEqual.
func rtwfDiff(got, want any) []string {
	var out []string
	rtwfWalk(&out, "", reflect.ValueOf(got), reflect.ValueOf(want))
	return out
}

func rtwfWalk(out *[]string, path string, g, w reflect.Value) {
	if len(*out) > 12 {
		return
	}
	add := func(format string, args ...any) {
		*out = append(*out, path+": "+fmt.Sprintf(format, args...))
	}
	if !g.IsValid() || !w.IsValid() {
		if g.IsValid() != w.IsValid() {
			add("valid %v vs %v", g.IsValid(), w.IsValid())
		}
		return
	}
	switch g.Type() {
	case rtwfObjectType:
		go1, wo := g.Interface().(chatshipper.Object), w.Interface().(chatshipper.Object)
		if go1.String() != wo.String() || go1.IsZero() != wo.IsZero() {
			add("object %q (zero %v), want %q (zero %v)", go1.String(), go1.IsZero(), wo.String(), wo.IsZero())
		}
		return
	case rtwfTSType, rtwfTimeType:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			add("time %s (%q), want %s (%q)", rtwfTime(g.Interface()), rtwfLoc(g.Interface()), rtwfTime(w.Interface()), rtwfLoc(w.Interface()))
		}
		return
	}
	switch g.Kind() {
	case reflect.Pointer:
		if g.IsNil() || w.IsNil() {
			if g.IsNil() != w.IsNil() {
				add("nil %v, want nil %v", g.IsNil(), w.IsNil())
			}
			return
		}
		rtwfWalk(out, path, g.Elem(), w.Elem())
	case reflect.Struct:
		for i := range g.NumField() {
			f := g.Type().Field(i)
			if !f.IsExported() {
				if !reflect.DeepEqual(g.Interface(), w.Interface()) {
					add("%#v, want %#v", g.Interface(), w.Interface())
				}
				return
			}
		}
		for i := range g.NumField() {
			rtwfWalk(out, path+"."+g.Type().Field(i).Name, g.Field(i), w.Field(i))
		}
	case reflect.Slice:
		if g.Type().Elem().Kind() == reflect.Uint8 {
			if !bytes.Equal(g.Bytes(), w.Bytes()) || g.IsNil() != w.IsNil() {
				add("bytes %q, want %q", rtwfAbbrev(string(g.Bytes())), rtwfAbbrev(string(w.Bytes())))
			}
			return
		}
		if g.IsNil() != w.IsNil() || g.Len() != w.Len() {
			add("len %d (nil %v), want %d (nil %v)", g.Len(), g.IsNil(), w.Len(), w.IsNil())
			return
		}
		for i := range g.Len() {
			rtwfWalk(out, fmt.Sprintf("%s[%d]", path, i), g.Index(i), w.Index(i))
		}
	case reflect.Map:
		if g.IsNil() != w.IsNil() || g.Len() != w.Len() {
			add("map len %d (nil %v), want %d (nil %v): %v vs %v", g.Len(), g.IsNil(), w.Len(), w.IsNil(), g.Interface(), w.Interface())
			return
		}
		for _, k := range w.MapKeys() {
			gv := g.MapIndex(k)
			if !gv.IsValid() {
				add("key %v missing", k.Interface())
				continue
			}
			rtwfWalk(out, fmt.Sprintf("%s[%v]", path, k.Interface()), gv, w.MapIndex(k))
		}
	case reflect.Interface:
		if !reflect.DeepEqual(g.Interface(), w.Interface()) {
			add("%#v, want %#v", g.Interface(), w.Interface())
		}
	default:
		if g.Interface() != w.Interface() {
			add("%#v, want %#v", g.Interface(), w.Interface())
		}
	}
}

func rtwfTime(v any) string {
	switch t := v.(type) {
	case chatshipper.Timestamp:
		return t.Format(time.RFC3339Nano)
	case time.Time:
		return t.Format(time.RFC3339Nano)
	}
	return "?"
}

func rtwfLoc(v any) string {
	switch t := v.(type) {
	case chatshipper.Timestamp:
		return t.Location().String()
	case time.Time:
		return t.Location().String()
	}
	return "?"
}

func rtwfAbbrev(s string) string {
	if len(s) > 300 {
		return strconv.Quote(s[:150]) + "..." + strconv.Quote(s[len(s)-120:])
	}
	return strconv.Quote(s)
}

// rtwfErrCompare compares an error of the SDK with encoding/json's: the same
// type must be in the chain; a syntax error must carry the same message and
// offset (they do not depend on the target type).
func rtwfErrCompare(got, want error) string {
	var wantSyn *json.SyntaxError
	if errors.As(want, &wantSyn) {
		var gotSyn *json.SyntaxError
		if !errors.As(got, &gotSyn) {
			return fmt.Sprintf("encoding/json: %T %q; got %v (chain %s)", want, want, got, rtwfTypes(got))
		}
		if gotSyn.Error() != wantSyn.Error() || gotSyn.Offset != wantSyn.Offset {
			return fmt.Sprintf("syntax error %q at %d, want %q at %d", gotSyn, gotSyn.Offset, wantSyn, wantSyn.Offset)
		}
		return ""
	}
	wt := reflect.TypeOf(want)
	for _, e := range rtwfChain(got) {
		if reflect.TypeOf(e) == wt {
			return ""
		}
	}
	return fmt.Sprintf("encoding/json: %T %q; got %v (chain %s)", want, want, got, rtwfTypes(got))
}

func rtwfChain(err error) []error {
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

func rtwfTypes(err error) string {
	var ts []string
	for _, e := range rtwfChain(err) {
		ts = append(ts, fmt.Sprintf("%T", e))
	}
	return strings.Join(ts, " > ")
}

// rtwfCompareEvent compares an Event (or error) from the SDK with the
// oracle's for body. It returns "" when they agree.
func rtwfCompareEvent(body []byte, e *webhook.Event, err error) string {
	want, wantErr := rtwfOracle(body)
	switch {
	case wantErr != nil:
		if err == nil {
			return fmt.Sprintf("encoding/json refuses the body (%T: %v), the SDK accepted it", wantErr, wantErr)
		}
		if !errors.Is(err, webhook.ErrInvalidEvent) {
			return fmt.Sprintf("error %v does not match ErrInvalidEvent", err)
		}
		return rtwfErrCompare(err, wantErr)
	case want.Name == "":
		if !errors.Is(err, webhook.ErrInvalidEvent) {
			return fmt.Sprintf("no event name: want ErrInvalidEvent, got %v", err)
		}
		return ""
	case err != nil:
		return fmt.Sprintf("encoding/json accepts the body, the SDK refused it: %v (chain %s)", err, rtwfTypes(err))
	}
	if len(want.Data.Links) == 0 && len(e.Data.Links) == 0 {
		want.Data.Links = e.Data.Links // nil and empty both mean "no string links"
	}
	if d := rtwfDiff(e, want); len(d) > 0 {
		return strings.Join(d, "\n")
	}
	return ""
}

// rtwfCheckParse parses body with ParseEvent (from a private copy) and
// compares with the oracle.
func rtwfCheckParse(body []byte) string {
	e, err := webhook.ParseEvent(bytes.Clone(body))
	return rtwfCompareEvent(body, e, err)
}

// ---------------------------------------------------------------------------
// Building bodies.

// rtwfParts are raw JSON values put into an event (empty: the default).
type rtwfParts struct {
	ts   string // every timestamp
	str  string // a JSON string literal put into most string fields
	meta string // both meta objects
	ws   string // whitespace around the replaced values
}

func (p rtwfParts) get() (ts, str, meta string) {
	ts, str, meta = p.ts, p.str, p.meta
	if ts == "" {
		ts = `"2024-03-14T09:26:53.589Z"`
	}
	if str == "" {
		str = `"Jenny Jones"`
	}
	if meta == "" {
		meta = `{"intent":"greeting","visits":3}`
	}
	ts, str, meta = p.ws+ts+p.ws, p.ws+str+p.ws, p.ws+meta+p.ws
	return
}

func rtwfConvDoc(p rtwfParts) string {
	ts, str, meta := p.get()
	return `{"id":"65f2c1d0e4b0a1b2c3d4e5f0","organization":"5a1f2b3c4d5e6f7a8b9c0d1e","orgPath":` + str + `,"name":` + str +
		`,"type":"contact","status":"queued","contact":` + str + `,"category":` + str + `,"touchpoint":"web","language":` + str +
		`,"participants":[{"user":` + str + `,"name":` + str + `,"role":"bot","unreadCount":0,"inbox":false,"accepted":false,"active":true,"createdAt":` + ts + `},` +
		`{"user":"5b9e8d7c6b5a4f3e2d1c0b0a","role":` + str + `,"createdAt":"2024-03-14T09:20:11.002Z","updatedAt":` + ts + `}]` +
		`,"channels":[` + str + `,"c2"],"meta":` + meta + `,"createdAt":` + ts + `,"updatedAt":` + ts + `}`
}

func rtwfMsgDoc(p rtwfParts) string {
	ts, str, meta := p.get()
	return `{"id":` + str + `,"conversation":"65f2c1d0e4b0a1b2c3d4e5f0","organization":"5a1f2b3c4d5e6f7a8b9c0d1e","type":` + str +
		`,"role":"contact","user":` + str + `,"text":` + str + `,"contentType":"text/plain","touchpoint":` + str +
		`,"likes":[` + str + `],"meta":` + meta + `,"createdAt":` + ts + `,"updatedAt":` + ts + `}`
}

func rtwfEvent(p rtwfParts) string {
	ts, str, _ := p.get()
	return `{"id":` + str + `,"event":"message.create.contact.chat","timestamp":` + ts + `,"organization":"5a1f2b3c4d5e6f7a8b9c0d1e",` +
		`"activity":{"@context":"https://www.w3.org/ns/activitystreams","type":"Create","actor":{"id":` + str + `,"type":"Person"},` +
		`"object":{"id":"https://api.web1on1.chat/v2/messages/65f2c2a5e4b0a1b2c3d4e5f6","type":"Object"},"published":` + ts + `,"summary":` + str + `},` +
		`"data":{"conversation":` + rtwfConvDoc(p) + `,"message":` + rtwfMsgDoc(p) +
		`,"links":{"conversation":` + str + `,"message":"https://api.web1on1.chat/v2/messages/65f2c2a5e4b0a1b2c3d4e5f6"}}}`
}

// rtwfCapture is a handler (no secret unless given, no dedupe) that keeps the
// last event its handler received.
type rtwfCapture struct {
	h    *webhook.Handler
	mu   sync.Mutex
	last *webhook.Event
	runs int
}

func newRTWFCapture(t testing.TB, opts ...webhook.Option) *rtwfCapture {
	t.Helper()
	c := &rtwfCapture{}
	h, err := webhook.NewHandler(append([]webhook.Option{webhook.WithDedupe(0), webhook.WithLogger(nil)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("**", func(_ context.Context, e *webhook.Event) error {
		c.mu.Lock()
		c.last = e
		c.runs++
		c.mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	c.h = h
	return c
}

// serve posts body in process and returns the status and the event the
// handler ran with (nil when none ran).
func (c *rtwfCapture) serve(body []byte, hdr ...string) (int, *webhook.Event) {
	c.mu.Lock()
	c.last, c.runs = nil, 0
	c.mu.Unlock()
	r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		r.Header.Set(hdr[i], hdr[i+1])
	}
	w := httptest.NewRecorder()
	c.h.ServeHTTP(w, r)
	c.mu.Lock()
	defer c.mu.Unlock()
	return w.Code, c.last
}

// rtwfCheckServe delivers body to c and compares with the oracle: 400 and
// no handler for what encoding/json refuses, else 200 and the same Event.
func rtwfCheckServe(c *rtwfCapture, body []byte) string {
	code, e := c.serve(body)
	want, wantErr := rtwfOracle(body)
	if wantErr != nil || want.Name == "" {
		if code != http.StatusBadRequest || e != nil {
			return fmt.Sprintf("ServeHTTP: encoding/json refuses the body (%v), answered %d, handler ran %v", wantErr, code, e != nil)
		}
		return ""
	}
	if code != http.StatusOK || e == nil {
		return fmt.Sprintf("ServeHTTP: encoding/json accepts the body, answered %d, handler ran %v", code, e != nil)
	}
	if d := rtwfCompareEvent(body, e, nil); d != "" {
		return "ServeHTTP: " + d
	}
	return ""
}

// ---------------------------------------------------------------------------
// Timestamps.

// rtwfTSShapes are timestamp values (raw JSON) of every shape.
var rtwfTSShapes = []string{
	`"2024-03-14T09:26:53.589Z"`, `"2024-03-14T09:26:53Z"`, `"2024-03-14T09:26:53.5Z"`, `"2024-03-14T09:26:53.58Z"`,
	`"2024-03-14T09:26:53.5890Z"`, `"2024-03-14T09:26:53.58912Z"`, `"2024-03-14T09:26:53.589123Z"`, `"2024-03-14T09:26:53.5891234Z"`,
	`"2024-03-14T09:26:53.58912345Z"`, `"2024-03-14T09:26:53.589123456Z"`, `"2024-03-14T09:26:53.5891234567Z"`, `"2024-03-14T09:26:53.58912345678901234Z"`,
	`"2024-03-14T09:26:53.000Z"`, `"2024-03-14T09:26:53.999Z"`, `"2024-03-14T09:26:53.Z"`, `"2024-03-14T09:26:53,589Z"`,
	`"2024-03-14T09:26:53.589+01:00"`, `"2024-03-14T09:26:53.589-05:30"`, `"2024-03-14T09:26:53.589+00:00"`, `"2024-03-14T09:26:53.589-00:00"`,
	`"2024-03-14T09:26:53.589+0100"`, `"2024-03-14T09:26:53.589+01"`, `"2024-03-14T09:26:53.589+23:59"`, `"2024-03-14T09:26:53.589+24:00"`,
	`"2024-03-14T09:26:53.589+05:45"`, `"2024-07-14T09:26:53.589+02:00"`, `"2024-03-14T09:26:53.589-03:30"`, `"2024-03-14T09:26:53+01:00"`,
	`"2024-03-14T09:26:53.589"`, `"2024-03-14T09:26:53"`, `"2024-03-14T09:26"`, `"2024-03-14"`, `"2024-03-14T09:26:53.589ZZ"`,
	`"2024-03-14t09:26:53.589z"`, `"2024-03-14t09:26:53.589Z"`, `"2024-03-14T09:26:53.589z"`, `"2024-03-14 09:26:53.589Z"`,
	`"2024-02-29T12:00:00.000Z"`, `"2023-02-29T12:00:00.000Z"`, `"1900-02-29T12:00:00.000Z"`, `"2000-02-29T12:00:00.000Z"`,
	`"2100-02-29T12:00:00.000Z"`, `"2400-02-29T12:00:00.000Z"`, `"2024-02-30T00:00:00.000Z"`, `"2024-04-31T00:00:00.000Z"`,
	`"2024-12-31T23:59:59.999Z"`, `"2024-13-01T00:00:00.000Z"`, `"2024-00-10T00:00:00.000Z"`, `"2024-01-00T00:00:00.000Z"`,
	`"2024-01-32T00:00:00.000Z"`, `"2024-03-14T24:00:00.000Z"`, `"2024-03-14T23:60:00.000Z"`, `"2024-03-14T23:59:60.000Z"`,
	`"2016-12-31T23:59:60.000Z"`, `"0000-01-01T00:00:00.000Z"`, `"0000-02-29T00:00:00.000Z"`, `"0001-01-01T00:00:00.000Z"`,
	`"9999-12-31T23:59:59.999Z"`, `"9999-12-31T23:59:59.999-23:59"`, `"0000-01-01T00:00:00.000+01:00"`, `"1969-12-31T23:59:59.999Z"`,
	`"1970-01-01T00:00:00.000Z"`, `"1582-10-10T00:00:00.000Z"`, `"10000-01-01T00:00:00.000Z"`, `"-0001-01-01T00:00:00.000Z"`,
	`"+2024-03-14T09:26:53.589Z"`, `"2024-3-14T09:26:53.589Z"`, `"2024-03-14T9:26:53.589Z"`, `"2024-03-14T09:26:5.589Z"`,
	`"2024-03-14T09:26:53.589Z "`, `" 2024-03-14T09:26:53.589Z"`, `"2024-03-14T09:26:53.589\u005a"`, `"\u0032024-03-14T09:26:53.589Z"`,
	`"2024-03-14T09:26:53\u002e589Z"`, `"2024\/03\/14T09:26:53.589Z"`, `"2024-03-14T09:26:53.589Z\u0000"`, `"2024-03-14T09:26:53.589\u00dcZ"`,
	`"2024-03-14T09:26:53.589Z` + "\xff" + `"`, `"２０２４-03-14T09:26:53.589Z"`, `"2024-03-14T09:26:53.-89Z"`, `"2024-03-14T09:26:53.5 9Z"`,
	`"2024-03-14T09:26:53.589+01:60"`, `"2024-03-14T09:26:53.589+1:00"`, `"2024-03-14T09:26:53.589+01:0"`, `"2024-03-14T09:26:53.589Z+01:00"`,
	`"2024-03-14T09:26:53.589GMT"`, `"2024-03-14T09:26:53.589UTC"`, `"Thu, 14 Mar 2024 09:26:53 GMT"`, `"1710408413589"`,
	`""`, `"Z"`, `"T"`, `"2024-03-14T09:26:53.589Z` + strings.Repeat("0", 80) + `"`,
	`1710408413589`, `0`, `-0`, `-1`, `1`, `-62135596800000`, `253402300799999`, `9223372036854775807`, `-9223372036854775808`,
	`9223372036854775808`, `-9223372036854775809`, `99999999999999999999`, `1710408413589.0`, `1710408413589.5`, `1.710408413589e12`,
	`1e3`, `1E3`, `-1e-3`, `0.0`, `null`, `true`, `false`, `{}`, `[]`, `["2024-03-14T09:26:53.589Z"]`, `{"$date":"2024-03-14T09:26:53.589Z"}`,
	`0123`, `-`, `+1`, `.5`, `nul`,
}

// rtwfTSRef checks one timestamp value against time's own readings: a string
// that time.Time.UnmarshalJSON reads must give the same time (instant and
// location); one without an offset that time reads in UTC must give that; a
// string ParseTimestamp reads must give the same as JSON decoding; an integer
// is Unix milliseconds.
func rtwfTSRef(raw string) string {
	var ts chatshipper.Timestamp
	tsErr := json.Unmarshal([]byte(raw), &ts)
	var out []string
	var tt time.Time
	if !strings.Contains(raw, `\`) && tt.UnmarshalJSON([]byte(raw)) == nil {
		if tsErr != nil {
			out = append(out, fmt.Sprintf("time.Time.UnmarshalJSON reads it as %v, Timestamp refuses it: %v", tt, tsErr))
		} else if !reflect.DeepEqual(ts.Time, tt) {
			out = append(out, fmt.Sprintf("Timestamp %v (%s), time.Time.UnmarshalJSON %v (%s)", ts.Time, ts.Location(), tt, tt.Location()))
		} else if (tt.Location() == time.UTC || tt.Location() == time.Local) && ts.Time != tt {
			out = append(out, fmt.Sprintf("Timestamp %v != time.Time.UnmarshalJSON %v", ts.Time, tt))
		}
	}
	var s string
	if json.Unmarshal([]byte(raw), &s) == nil {
		p, pErr := chatshipper.ParseTimestamp(s)
		switch {
		case s == "":
			// "" is the zero time for JSON (checked against the fast path below)
		case (pErr == nil) != (tsErr == nil):
			out = append(out, fmt.Sprintf("ParseTimestamp(%q) err %v, UnmarshalJSON err %v", s, pErr, tsErr))
		case pErr == nil && !reflect.DeepEqual(p.Time, ts.Time):
			out = append(out, fmt.Sprintf("ParseTimestamp %v (%s), UnmarshalJSON %v (%s)", p.Time, p.Location(), ts.Time, ts.Location()))
		}
		if u, err := time.ParseInLocation("2006-01-02T15:04:05.999999999", s, time.UTC); err == nil {
			if tsErr != nil {
				out = append(out, fmt.Sprintf("no offset: time reads %v in UTC, Timestamp refuses: %v", u, tsErr))
			} else if !reflect.DeepEqual(ts.Time, u) {
				out = append(out, fmt.Sprintf("no offset: Timestamp %v (%s), want %v UTC", ts.Time, ts.Location(), u))
			}
		}
	}
	if n, err := strconv.ParseInt(raw, 10, 64); err == nil && raw != "-0" && json.Valid([]byte(raw)) {
		if tsErr != nil {
			out = append(out, fmt.Sprintf("integer %d refused: %v", n, tsErr))
		} else if !ts.Equal(time.UnixMilli(n)) {
			out = append(out, fmt.Sprintf("integer %d read as %v, want %v", n, ts.Time, time.UnixMilli(n).UTC()))
		}
	}
	if len(out) == 0 {
		return ""
	}
	return raw + ": " + strings.Join(out, "; ")
}

// TestRTWFTimestampShapes puts timestamps of every shape into every timestamp
// of a message event (envelope, activity, conversation, participants,
// message), with and without whitespace around, and compares ParseEvent and
// ServeHTTP with encoding/json; Timestamp itself is checked against time.
func TestRTWFTimestampShapes(t *testing.T) {
	t.Parallel()
	c := newRTWFCapture(t)
	for _, raw := range rtwfTSShapes {
		if d := rtwfTSRef(raw); d != "" {
			t.Errorf("Timestamp: %s", d)
		}
		for _, ws := range []string{"", " \n\t\r "} {
			body := []byte(rtwfEvent(rtwfParts{ts: raw, ws: ws}))
			if d := rtwfCheckParse(body); d != "" {
				t.Errorf("ParseEvent, timestamp %s (ws %q):\n%s", raw, ws, d)
			}
			if d := rtwfCheckServe(c, body); d != "" {
				t.Errorf("timestamp %s (ws %q):\n%s", raw, ws, d)
			}
		}
		// one timestamp only, the rest canonical: the fast path must not
		// carry state from one timestamp to the next
		one := strings.Replace(rtwfEvent(rtwfParts{}), `"timestamp":"2024-03-14T09:26:53.589Z"`, `"timestamp":`+raw, 1)
		if d := rtwfCheckParse([]byte(one)); d != "" {
			t.Errorf("ParseEvent, envelope timestamp %s only:\n%s", raw, d)
		}
	}
}

// rtwfTSMutations makes variants of the API's own form: every position
// replaced by each of a set of bytes, deleted or doubled.
func rtwfTSMutations() []string {
	const base = "2024-03-14T09:26:53.589Z"
	repl := []string{"0", "1", "2", "3", "5", "9", "-", ":", ".", "T", "t", "Z", "z", "+", " ", "/", ",", "a", "\x00", "\x7f", "\xc3\xa9", "\\u0030", "\\\\"}
	var out []string
	for i := range len(base) {
		for _, r := range repl {
			out = append(out, base[:i]+r+base[i+1:])
		}
		out = append(out, base[:i]+base[i+1:], base[:i+1]+base[i:])
		if i+1 < len(base) {
			out = append(out, base[:i]+base[i+1:i+2]+base[i:i+1]+base[i+2:]) // swapped
		}
		// one byte deleted and another inserted elsewhere: the same length,
		// separators shifted
		for j := range len(base) {
			for _, ins := range []string{"0", "9", ":", "-", "."} {
				d := base[:i] + base[i+1:]
				out = append(out, d[:j]+ins+d[j:])
			}
		}
	}
	for i := range out {
		// raw control bytes are invalid JSON; keep them (the error must match)
		out[i] = `"` + out[i] + `"`
	}
	return out
}

// rtwfRandomTS makes n timestamps in the API's form with random fields,
// valid or not (day 0-32, month 0-13, hour 0-25, minute and second 0-61).
func rtwfRandomTS(r *rand.Rand, n int) []string {
	out := make([]string, 0, n)
	for range n {
		y := r.IntN(10000)
		if r.IntN(4) == 0 {
			y = []int{0, 1, 1600, 1700, 1800, 1900, 2000, 2100, 2400, 9999, 1969, 1970}[r.IntN(12)]
		}
		mo, d := r.IntN(14), r.IntN(33)
		if r.IntN(3) > 0 {
			mo, d = 1+r.IntN(12), 1+r.IntN(31)
		}
		if r.IntN(5) == 0 {
			mo, d = 2, 28+r.IntN(3)
		}
		h, mi, s := r.IntN(24), r.IntN(60), r.IntN(60)
		if r.IntN(8) == 0 {
			h, mi, s = r.IntN(26), r.IntN(62), r.IntN(62)
		}
		frac := ""
		switch k := r.IntN(6); k {
		case 0:
		default:
			frac = "." + strconv.Itoa(r.IntN(1000000000) + 1000000000)[1:][:k*2-1]
		}
		zone := "Z"
		if r.IntN(6) == 0 {
			zone = []string{"", "+01:00", "-07:00", "+00:00", "+14:00", "-12:00"}[r.IntN(6)]
		}
		out = append(out, fmt.Sprintf(`"%04d-%02d-%02dT%02d:%02d:%02d%s%s"`, y, mo, d, h, mi, s, frac, zone))
	}
	return out
}

// TestRTWFTimestampMutations checks thousands of variants of the API's own
// timestamp form (the fast path) against time and encoding/json.
func TestRTWFTimestampMutations(t *testing.T) {
	t.Parallel()
	r := rand.New(rand.NewPCG(26, 3))
	n := 6000
	if raceEnabled {
		n = 1500
	}
	all := append(rtwfTSMutations(), rtwfRandomTS(r, n)...)
	c := newRTWFCapture(t)
	fails := 0
	for i, raw := range all {
		if d := rtwfTSRef(raw); d != "" {
			t.Errorf("Timestamp: %s", d)
			fails++
		}
		var body []byte
		if i%2 == 0 {
			body = []byte(rtwfEvent(rtwfParts{ts: raw}))
		} else {
			body = []byte(`{"id":"e1","event":"message.create.contact.chat","timestamp":` + raw + `,"data":{"message":{"id":"m1","createdAt":` + raw + `}}}`)
		}
		if d := rtwfCheckParse(body); d != "" {
			t.Errorf("ParseEvent, timestamp %s:\n%s", raw, d)
			fails++
		}
		if i%7 == 0 {
			if d := rtwfCheckServe(c, body); d != "" {
				t.Errorf("timestamp %s:\n%s", raw, d)
				fails++
			}
		}
		if fails > 20 {
			t.Fatal("too many failures")
		}
	}
}

// TestRTWFTimestampTimeZones runs the timestamp tests again in processes
// whose local time zone is not UTC: time.Parse puts an offset matching the
// local zone into time.Local, and the fast path must do as time does.
func TestRTWFTimestampTimeZones(t *testing.T) {
	if os.Getenv("RTWF_CHILD") != "" {
		t.Skip("child")
	}
	t.Parallel()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for _, tz := range []string{"Europe/Amsterdam", "Europe/London", "UTC", "America/St_Johns", "Asia/Kathmandu"} {
		t.Run(strings.ReplaceAll(tz, "/", "_"), func(t *testing.T) {
			t.Parallel()
			cmd := exec.Command(exe, "-test.run", "^(TestRTWFTimestampShapes|TestRTWFPagesTimestamps)$", "-test.count", "1")
			cmd.Env = append(os.Environ(), "TZ="+tz, "RTWF_CHILD=1")
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("TZ=%s: %v\n%s", tz, err, rtwfTail(string(out), 4000))
			}
		})
	}
}

func rtwfTail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}

// ---------------------------------------------------------------------------
// Strings.

// rtwfSpecials are bytes and escapes put into strings at every position.
var rtwfSpecials = []string{
	`\"`, `\\`, `\/`, `\n`, `\t`, `\u0041`, `\u00e9`, `\u20ac`, `\ud83d\ude00`, `\ud800`, `\udc00x`, `\ud800\u0041`, `\u0000`,
	"\x80", "\xff", "\xc3\xa9", "\xe2\x80\xa8", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf", "\xe2\x82", "\xf0\x9f\x98\x80",
	"\x7f", "\x1f", "\x00", "\t", `\x`, `\u12`, `\U0041`, `"`, "\\", `'`,
}

// rtwfFill is a filler of n bytes that differs from position to position.
func rtwfFill(n, seed int) string {
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.:/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[(i*7+seed*13)%len(alphabet)]
	}
	return string(b)
}

// TestRTWFStringScan puts every special byte or escape at every position of
// strings of 0-100 bytes (in IDs, types, roles, names, text, links, activity
// and participants), and compares ParseEvent and ServeHTTP with encoding/json.
func TestRTWFStringScan(t *testing.T) {
	t.Parallel()
	c := newRTWFCapture(t)
	fails := 0
	count := 0
	for n := 0; n <= 100; n++ {
		var positions []int
		for p := 0; p <= n; p++ {
			if n <= 40 || p <= 17 || p >= n-9 || p%8 == 0 {
				positions = append(positions, p)
			}
		}
		for _, p := range positions {
			for si, sp := range rtwfSpecials {
				count++
				if raceEnabled && count%4 != 0 {
					continue
				}
				fill := rtwfFill(n, si+p)
				str := `"` + fill[:p] + sp + fill[p:] + `"`
				body := []byte(rtwfEvent(rtwfParts{str: str}))
				if d := rtwfCheckParse(body); d != "" {
					t.Errorf("ParseEvent, string %s:\n%s", rtwfAbbrev(str), d)
					fails++
				}
				if count%11 == 0 {
					if d := rtwfCheckServe(c, body); d != "" {
						t.Errorf("string %s:\n%s", rtwfAbbrev(str), d)
						fails++
					}
				}
				if fails > 20 {
					t.Fatal("too many failures")
				}
			}
		}
	}
}

// TestRTWFStringAtBodyEnd ends bodies right after (or inside) a string of
// every length, so that a scan reading 8 bytes at a time meets the end of the
// buffer at every offset; also truncated bodies.
func TestRTWFStringAtBodyEnd(t *testing.T) {
	t.Parallel()
	for n := 0; n <= 40; n++ {
		for _, sp := range []string{"", "\xc3", `\`, `\u00`, "\xe2\x82"} {
			s := rtwfFill(n, 1) + sp
			prefix := `{"event":"message.create.contact.chat","data":{"message":{"id":"m","text":"` + s
			bodies := []string{
				prefix + `"}},"id":"` + s + `"}`,
				prefix + `"}},"id":"` + s + `"`,
				prefix + `"}}}`,
				prefix + `"}}`,
				prefix + `"`,
				prefix,
				`{"event":"message.create.contact.chat","id":"` + s + `"}`,
				`{"event":"message.create.contact.chat","id":"` + s,
				`{"event":"message.create.contact.chat","id":"` + s + `"`,
			}
			for _, b := range bodies {
				// exact-capacity buffers: a read past the end would fault
				buf := make([]byte, len(b))
				copy(buf, b)
				e, err := webhook.ParseEvent(buf)
				if d := rtwfCompareEvent([]byte(b), e, err); d != "" {
					t.Errorf("body %s:\n%s", rtwfAbbrev(b), d)
				}
			}
		}
	}
}

// TestRTWFStringCacheCollisions parses events whose strings are alike (same
// length, differing in one byte at any position, permuted, with pairs of
// changes that cancel in sums and xors, escaped or not) one after the other,
// so that any cache keyed on a cheap hash meets collisions; each event must
// read its own strings.
func TestRTWFStringCacheCollisions(t *testing.T) {
	t.Parallel()
	var strs []string
	for n := 1; n <= 100; n++ {
		base := rtwfFill(n, n)
		strs = append(strs, base)
		step := 1
		if n > 40 {
			step = 3
		}
		for p := 0; p < n; p += step {
			b := []byte(base)
			b[p] ^= 0x01
			strs = append(strs, string(b))
			if p+1 < n {
				b := []byte(base)
				b[p], b[p+1] = b[p+1], b[p] // a permutation
				strs = append(strs, string(b))
				b = []byte(base)
				b[p]++
				b[p+1]-- // same byte sum
				strs = append(strs, string(b))
			}
			if p+8 < n {
				b := []byte(base)
				b[p] ^= 0x20
				b[p+8] ^= 0x20 // same xor of 8-byte words
				strs = append(strs, string(b))
			}
		}
	}
	// keep only valid JSON string contents
	valid := strs[:0]
	for _, s := range strs {
		if !strings.ContainsFunc(s, func(r rune) bool { return r < 0x20 || r == '"' || r == '\\' }) {
			valid = append(valid, s)
		}
	}
	strs = valid
	// object IDs that share their first 16 bytes (a counter at the end)
	for i := range 3000 {
		strs = append(strs, fmt.Sprintf("65f2c1d0e4b0a1b2%08x", i), fmt.Sprintf("%08x65f2c1d0e4b0a1b2", i))
	}
	check := func(t *testing.T, s, raw string, e *webhook.Event, err error) bool {
		t.Helper()
		if err != nil {
			t.Errorf("%q: %v", s, err)
			return false
		}
		m, cv := e.Data.Message, e.Data.Conversation
		got := []string{e.ID, m.ID, string(m.Type), m.User.ID, m.Text, m.Touchpoint, cv.Name, cv.OrgPath, cv.Contact.ID, cv.Category, cv.Language,
			cv.Participants[0].User.ID, cv.Participants[0].Name, string(cv.Participants[1].Role), cv.Channels[0], m.Likes[0], e.Activity.Actor.ID, e.Activity.Summary, e.Data.Links["conversation"]}
		for i, g := range got {
			if g != s {
				t.Errorf("string %q (raw %q): field %d read %q", s, raw, i, g)
				return false
			}
		}
		return true
	}
	run := func(t *testing.T, order []int) {
		for k, i := range order {
			s := strs[i]
			raw := s
			if k%3 == 1 && len(s) > 0 {
				raw = fmt.Sprintf(`\u%04x`, s[0]) + s[1:]
			}
			e, err := webhook.ParseEvent([]byte(rtwfEvent(rtwfParts{str: `"` + raw + `"`})))
			if !check(t, s, raw, e, err) {
				return
			}
		}
	}
	idx := make([]int, len(strs))
	for i := range idx {
		idx[i] = i
	}
	t.Run("sequential", func(t *testing.T) {
		t.Parallel()
		run(t, idx)
		// and back again: every string was seen before
		rev := make([]int, len(idx))
		for i := range idx {
			rev[i] = idx[len(idx)-1-i]
		}
		run(t, rev)
	})
	for g := range 3 {
		t.Run(fmt.Sprintf("concurrent%d", g), func(t *testing.T) {
			t.Parallel()
			r := rand.New(rand.NewPCG(uint64(g), 7))
			order := make([]int, len(idx))
			copy(order, idx)
			r.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
			if raceEnabled {
				order = order[:len(order)/4]
			}
			run(t, order)
		})
	}
}

// ---------------------------------------------------------------------------
// Meta objects, duplicate keys, keys in other letter case.

var rtwfMetas = []string{
	`{}`, `{ }`, "{\n}", `{"a":1}`, `{ "a" : 1 }`, "{\"a\":\t1,\n\"b\":\r[ 1 , 2 ]}", `{"a":"x y"}`, `{"a":" "}`, `{"a":"\" ","b":1}`,
	`{"a":"\\" ,"b":1}`, `{"a":"\\\" ","b":1}`, `{"a":"\\\\"}`, `{"a":"} {"}`, `{"a":"]","b":"[" }`, `{"a":{"b":{"c":[1,{"d":null}]}}}`,
	`{"a":{ "b" :{"c":[1, {"d":null}]}}}`, `{"a":1,"a":2}`, `{"a":{"x":1},"a":{"y":2}}`, `{"A":1,"a":2}`, `{"a":1.0,"b":1e3,"c":-0,"d":1E+2}`,
	`{"a":"\u0041\u00e9\ud83d\ude00"}`, "{\"a\":\"\xff\xfe\"}", "{\"\xff\":1}", `{"a":"\ud800"}`, `{"<&>":"<&>"}`, "{\"a\":\"\xe2\x80\xa8\"}",
	`{"` + strings.Repeat("k", 70) + `":"` + strings.Repeat("v", 90) + `"}`, `{"a":[]}`, `{"a":[ ]}`, `{"a":true,"b":false,"c":null}`,
	`null`, ` null `, `[]`, `"x"`, `1`, `{"a":1,}`, `{"a":01}`, `{"a":1}}`, `{"a":"` + "\x01" + `"}`, `{"a" 1}`, `{"a":.5}`,
	`{"a":[1,2,]}`, `{"a":tru}`, `{"a":1` + "\f" + `}`, `{"a":1` + "\u00a0" + `}`, `{"a":"x"` + "\v" + `}`,
	"{\"a\":1,\n  \"b\": {\n    \"c\": \"  spaced  \\\" quote \"\n  }\n}",
}

// TestRTWFMetaObjects puts hostile meta objects (compact or not, whitespace
// inside strings, escaped quotes and backslashes before whitespace, nested,
// duplicate keys, invalid UTF-8, invalid JSON) into both metas of an event
// and a page, and compares with encoding/json (the kept JSON, and Get/Map).
func TestRTWFMetaObjects(t *testing.T) {
	t.Parallel()
	c := newRTWFCapture(t)
	for _, m := range rtwfMetas {
		for _, ws := range []string{"", "\n "} {
			body := []byte(rtwfEvent(rtwfParts{meta: m, ws: ws}))
			if d := rtwfCheckParse(body); d != "" {
				t.Errorf("ParseEvent, meta %q (ws %q):\n%s", m, ws, d)
			}
			if d := rtwfCheckServe(c, body); d != "" {
				t.Errorf("meta %q:\n%s", m, d)
			}
			e, err := webhook.ParseEvent(body)
			want, wantErr := rtwfOracle(body)
			if err != nil || wantErr != nil {
				continue
			}
			for _, pair := range [][2]chatshipper.Object{{e.Data.Message.Meta, want.Data.Message.Meta}, {e.Data.Conversation.Meta, want.Data.Conversation.Meta}} {
				if !reflect.DeepEqual(pair[0].Map(), pair[1].Map()) {
					t.Errorf("meta %q: Map %v, want %v", m, pair[0].Map(), pair[1].Map())
				}
				for _, k := range []string{"a", "A", "b", "\ufffd", "<&>"} {
					g, gok := pair[0].Lookup(k)
					w, wok := pair[1].Lookup(k)
					if gok != wok || !reflect.DeepEqual(g, w) {
						t.Errorf("meta %q: Lookup(%q) %v %v, want %v %v", m, k, g, gok, w, wok)
					}
				}
			}
		}
	}
}

// TestRTWFDuplicateAndFoldedKeys repeats keys (encoding/json: the last wins,
// objects merge into what the first decoded, slices reuse their elements) and
// spells keys in other letter cases (matched without regard to case, with
// Unicode folding: ſ for s, K for k) at every level of a message event.
func TestRTWFDuplicateAndFoldedKeys(t *testing.T) {
	t.Parallel()
	ev := rtwfEvent(rtwfParts{})
	conv := rtwfConvDoc(rtwfParts{})
	msg := rtwfMsgDoc(rtwfParts{})
	withConv := func(cv string) string { return strings.Replace(ev, conv, cv, 1) }
	withMsg := func(m string) string { return strings.Replace(ev, msg, m, 1) }
	appendKey := func(doc, kv string) string { return doc[:len(doc)-1] + "," + kv + "}" }
	bodies := []string{
		appendKey(ev, `"id":"second"`),
		appendKey(ev, `"event":"message.create.contact.postback"`),
		appendKey(ev, `"event":""`),
		appendKey(ev, `"timestamp":"2020-01-01T00:00:00.000Z"`),
		appendKey(ev, `"timestamp":null`),
		appendKey(ev, `"organization":{"id":"o2","name":"x"}`),
		appendKey(ev, `"organization":null`),
		appendKey(ev, `"activity":{"summary":"second","actor":{"type":"Bot"}}`),
		appendKey(ev, `"activity":null`),
		appendKey(ev, `"data":{"message":{"id":"m2"}}`),
		appendKey(ev, `"data":null`),
		appendKey(ev, `"ID":"upper"`), appendKey(ev, `"Event":"message.create.contact.file"`), appendKey(ev, `"TIMESTAMP":1`),
		appendKey(ev, `"Data":{"message":{"text":"folded"}}`), appendKey(ev, `"Activity":{"Type":"Update"}`),
		withMsg(appendKey(msg, `"text":"second"`)), withMsg(appendKey(msg, `"text":null`)), withMsg(appendKey(msg, `"Text":"folded"`)),
		withMsg(appendKey(msg, `"TEXT":"folded"`)), withMsg(appendKey(msg, `"meta":{"b":2}`)), withMsg(appendKey(msg, `"Meta":null`)),
		withMsg(appendKey(msg, `"createdAt":"2020-01-01T00:00:00.000Z"`)), withMsg(appendKey(msg, `"CreatedAt":0`)),
		withMsg(appendKey(msg, `"conversation":{"id":"c2","name":"populated"}`)), withMsg(appendKey(msg, `"conversation":null`)),
		withMsg(appendKey(msg, `"user":{"id":"u2"}`)), withMsg(appendKey(msg, `"likes":["l1","l2","l3"]`)), withMsg(appendKey(msg, `"likes":[]`)),
		withMsg(appendKey(msg, `"isBac`+"\u212a"+`channel":true`)), withMsg(appendKey(msg, `"ſtatus":"x"`)), withMsg(appendKey(msg, `"role":"agent"`)),
		withMsg(appendKey(msg, `"rolE":"agent"`)), withMsg(appendKey(msg, `"\u0074ext":"escaped key"`)), withMsg(appendKey(msg, `"te\u0078t":"escaped key"`)),
		withMsg(appendKey(msg, `"actions":[{"type":"reply","text":"a"}],"actions":[{"payload":"p"}]`)),
		withMsg(appendKey(msg, `"delay":1,"delay":2.5`)), withMsg(appendKey(msg, `"version":1e2`)), withMsg(appendKey(msg, `"version":-0`)),
		withConv(appendKey(conv, `"participants":[{"name":"only name"}]`)),
		withConv(appendKey(conv, `"participants":[{"name":"n"},{"role":"agent"},{"user":"u3"}]`)),
		withConv(appendKey(conv, `"participants":null`)), withConv(appendKey(conv, `"Participants":[]`)),
		withConv(appendKey(conv, `"ſtatus":"closed"`)), withConv(appendKey(conv, `"STATUS":"closed"`)),
		withConv(appendKey(conv, `"channels":["x"]`)), withConv(appendKey(conv, `"categoryIndex":2,"categoryIndex":null`)),
		withConv(appendKey(conv, `"meta":{"z":1}`)), withConv(appendKey(conv, `"id":"c-second"`)),
		withConv(appendKey(conv, `"contact":{"id":"k2","name":"c"},"contact":"k3"`)),
		withConv(strings.Replace(conv, `"participants":[{`, `"participants":[{"user":"dup","user":"dup2","name":"a","Name":"b",`, 1)),
		withConv(strings.Replace(conv, `"createdAt":"2024-03-14T09:20:11.002Z"`, `"createdAt":"2024-03-14T09:20:11.002Z","createdAt":null`, 1)),
		strings.Replace(ev, `"links":{`, `"links":{"conversation":"first","conversation":7,"message":1,"message":"last",`, 1),
		strings.Replace(ev, `"links":{`, `"links":{"Conversation":"folded",`, 1),
		strings.Replace(ev, `"data":{`, `"data":{"Message":{"id":"folded"},`, 1),
		strings.Replace(ev, `"data":{`, `"data":{"message":{"id":"first","text":"kept?"},`, 1),
		strings.Replace(ev, `"data":{`, `"data":{"conversation":{"id":"first","name":"kept?","participants":[{"name":"p0","role":"agent"},{"name":"p1"},{"name":"p2"}]},`, 1),
		strings.Replace(ev, `"activity":{`, `"activity":{"actor":{"id":"first","type":"T1"},"summary":"first",`, 1),
	}
	c := newRTWFCapture(t)
	for _, b := range bodies {
		if d := rtwfCheckParse([]byte(b)); d != "" {
			t.Errorf("ParseEvent, body %s:\n%s", rtwfAbbrev(b), d)
		}
		if d := rtwfCheckServe(c, []byte(b)); d != "" {
			t.Errorf("body %s:\n%s", rtwfAbbrev(b), d)
		}
	}
}

// ---------------------------------------------------------------------------
// Independence of events.

// rtwfScribble changes everything mutable an Event holds.
func rtwfScribble(e *webhook.Event) {
	e.ID += "-changed"
	e.Timestamp = chatshipper.NewTimestamp(time.Unix(1, 0))
	for i := range e.Raw {
		e.Raw[i] = '#'
	}
	e.Raw = append(e.Raw, "tail"...)
	if a := e.Activity; a != nil {
		a.Summary, a.Type, a.Actor.ID = "s", "t", "a"
		a.Published = chatshipper.NewTimestamp(time.Unix(2, 0))
	}
	for k := range e.Data.Links {
		e.Data.Links[k] = "changed"
	}
	if e.Data.Links != nil {
		e.Data.Links["new"] = "x"
	}
	if cv := e.Data.Conversation; cv != nil {
		cv.ID, cv.Name, cv.Status = "changed", "changed", "closed"
		for i := range cv.Participants {
			cv.Participants[i].Name = "changed"
			cv.Participants[i].User = chatshipper.NewRef[chatshipper.User]("changed")
			cv.Participants[i].UnreadCount = 99
		}
		cv.Participants = append(cv.Participants, chatshipper.Participant{Name: "appended"})
		for i := range cv.Channels {
			cv.Channels[i] = "changed"
		}
		cv.Channels = append(cv.Channels, "appended")
		cv.Touchpoints = append(cv.Touchpoints, "appended")
		if cv.CategoryIndex != nil {
			*cv.CategoryIndex = 42
		}
		cv.Meta = chatshipper.Object{}
	}
	if m := e.Data.Message; m != nil {
		m.ID, m.Text, m.Type = "changed", "changed", "changed"
		for i := range m.Likes {
			m.Likes[i] = "changed"
		}
		m.Likes = append(m.Likes, "appended")
		for i := range m.Actions {
			m.Actions[i].Text = "changed"
		}
		m.Actions = append(m.Actions, chatshipper.Action{Text: "appended"})
		m.CreatedAt = chatshipper.NewTimestamp(time.Unix(3, 0))
		m.Conversation = chatshipper.NewRef[chatshipper.Conversation]("changed")
	}
}

// rtwfIndepBody is an event with slices that have room to grow in a reused
// buffer (few participants, channels, likes, actions) and a given seed.
func rtwfIndepBody(seed int) string {
	s := fmt.Sprintf("%024x", seed)
	return `{"id":"ev` + s + `","event":"message.create.contact.chat","timestamp":"2024-03-14T09:26:53.589Z","organization":"5a1f2b3c4d5e6f7a8b9c0d1e",` +
		`"activity":{"type":"Create","actor":{"id":"https://api.web1on1.chat/v2/contacts/` + s + `","type":"Person"},"published":"2024-03-14T09:26:53.589Z","summary":"shared summary"},` +
		`"data":{"conversation":{"id":"c` + s + `","name":"Jenny","status":"queued","categoryIndex":1,"participants":[{"user":"u` + s + `","name":"Bot","role":"bot"}],` +
		`"channels":["ch1"],"touchpoints":["web"],"meta":{"k":"` + s + `","shared":"same"},"createdAt":"2024-03-14T09:20:10.871Z"},` +
		`"message":{"id":"m` + s + `","type":"chat","role":"contact","text":"shared text","likes":["l` + s + `"],"actions":[{"type":"reply","text":"Yes","payload":"` + s + `"}],` +
		`"meta":{"who":"` + s + `"},"createdAt":"2024-03-14T09:26:53.501Z"},` +
		`"links":{"conversation":"https://api.web1on1.chat/v2/conversations/c` + s + `","message":"https://api.web1on1.chat/v2/messages/m` + s + `"}}}`
}

// TestRTWFEventIndependence parses events from bodies that share strings,
// changes everything in one (the Conversation, Message, Activity, Links,
// appends to its slices, its Raw), and checks another parsed before and one
// parsed after are exactly what encoding/json makes of their bodies; also
// the caller's buffer overwritten after ParseEvent.
func TestRTWFEventIndependence(t *testing.T) {
	t.Parallel()
	for round := range 50 {
		b1, b2 := rtwfIndepBody(round), rtwfIndepBody(round+1000)
		buf1 := []byte(b1)
		e1, err := webhook.ParseEvent(buf1)
		if err != nil {
			t.Fatal(err)
		}
		e2, err := webhook.ParseEvent([]byte(b2))
		if err != nil {
			t.Fatal(err)
		}
		for i := range buf1 {
			buf1[i] = 'X'
		}
		if d := rtwfCompareEvent([]byte(b1), e1, nil); d != "" {
			t.Fatalf("event changed when the caller's buffer was overwritten:\n%s", d)
		}
		rtwfScribble(e1)
		e3, err := webhook.ParseEvent([]byte(b1))
		if err != nil {
			t.Fatal(err)
		}
		if d := rtwfCompareEvent([]byte(b2), e2, nil); d != "" {
			t.Fatalf("round %d: changing one event changed another parsed before:\n%s", round, d)
		}
		if d := rtwfCompareEvent([]byte(b1), e3, nil); d != "" {
			t.Fatalf("round %d: changing one event changed one parsed later from the same body:\n%s", round, d)
		}
		rtwfScribble(e3)
		e4, err := webhook.ParseEvent([]byte(b2))
		if err != nil {
			t.Fatal(err)
		}
		if d := rtwfCompareEvent([]byte(b2), e4, nil); d != "" {
			t.Fatalf("round %d: changing events changed a later one:\n%s", round, d)
		}
		if d := rtwfCompareEvent([]byte(b2), e2, nil); d != "" {
			t.Fatalf("round %d: second event changed:\n%s", round, d)
		}
	}
}

// TestRTWFRawScribbleKeepsMeta changes an Event's Raw (the caller's bytes,
// "the whole body as received") and reads its meta afterwards: the meta is
// the server's JSON, kept by the Object, and must not read the scribbles.
func TestRTWFRawScribbleKeepsMeta(t *testing.T) {
	t.Parallel()
	body := rtwfIndepBody(7)
	e, err := webhook.ParseEvent([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	wantConv, wantMsg := e.Data.Conversation.Meta.String(), e.Data.Message.Meta.String()
	for i := range e.Raw {
		e.Raw[i] = ' '
	}
	if g := e.Data.Conversation.Meta.String(); g != wantConv {
		t.Errorf("conversation meta reads %q after Raw was overwritten, want %q", g, wantConv)
	}
	if g := e.Data.Message.Meta.Get("who"); g != fmt.Sprintf("%024x", 7) {
		t.Errorf("message meta who = %v after Raw was overwritten (meta %q, want %q)", g, e.Data.Message.Meta.String(), wantMsg)
	}
}

// TestRTWFHandlerScribblesAndRetains delivers thousands of events over HTTP
// from several goroutines to handlers that scribble on some events and keep
// others, synchronously and with WithAsync; the kept events must be what
// encoding/json makes of their bodies at the end.
func TestRTWFHandlerScribblesAndRetains(t *testing.T) {
	t.Parallel()
	total := 3000
	if raceEnabled {
		total = 800
	}
	for _, async := range []bool{false, true} {
		t.Run(fmt.Sprintf("async=%v", async), func(t *testing.T) {
			t.Parallel()
			opts := []webhook.Option{webhook.WithSecret("rtwf-secret"), webhook.WithLogger(nil)}
			if async {
				opts = append(opts, webhook.WithAsync(2, total))
			}
			h, err := webhook.NewHandler(opts...)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			kept := map[string]*webhook.Event{}
			var handled atomic.Int64
			if err := h.Handle("message.**", func(_ context.Context, e *webhook.Event) error {
				defer handled.Add(1)
				n, _ := strconv.ParseInt(strings.TrimPrefix(e.ID, "ev"), 16, 64)
				if n%3 == 0 {
					mu.Lock()
					kept[e.ID] = e
					mu.Unlock()
					return nil
				}
				rtwfScribble(e)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewServer(h)
			t.Cleanup(ts.Close)
			var next atomic.Int64
			var wg sync.WaitGroup
			for range 4 {
				wg.Go(func() {
					for {
						i := int(next.Add(1)) - 1
						if i >= total {
							return
						}
						body := []byte(rtwfIndepBody(i))
						req, _ := http.NewRequest(http.MethodPost, ts.URL, bytes.NewReader(body))
						req.Header.Set(webhook.SignatureHeader, webhook.Sign(body, "rtwf-secret"))
						resp, err := ts.Client().Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						_ = resp.Body.Close()
						if resp.StatusCode != http.StatusOK {
							t.Errorf("delivery %d: %d", i, resp.StatusCode)
							return
						}
					}
				})
			}
			wg.Wait()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if err := h.Shutdown(ctx); err != nil {
				t.Fatal(err)
			}
			if got := handled.Load(); got != int64(total) {
				t.Fatalf("handled %d of %d", got, total)
			}
			mu.Lock()
			defer mu.Unlock()
			for id, e := range kept {
				n, _ := strconv.ParseInt(strings.TrimPrefix(id, "ev"), 16, 64)
				if d := rtwfCompareEvent([]byte(rtwfIndepBody(int(n))), e, nil); d != "" {
					t.Fatalf("kept event %s changed:\n%s", id, d)
				}
			}
		})
	}
}

// ---------------------------------------------------------------------------
// Body reading.

// rtwfReader yields body in pieces of size n (0: all at once), returning
// (0, nil) zeros times before each piece, the last piece together with
// io.EOF when eofWithData, and failing with err after failAt bytes (when
// err is set and failAt >= 0).
type rtwfReader struct {
	body        []byte
	n, zeros    int
	eofWithData bool
	failAt      int
	err         error
	off, z      int
}

func (r *rtwfReader) Read(p []byte) (int, error) {
	if r.err != nil && r.off >= r.failAt {
		return 0, r.err
	}
	if r.off >= len(r.body) {
		return 0, io.EOF
	}
	if r.z < r.zeros {
		r.z++
		return 0, nil
	}
	r.z = 0
	end := len(r.body)
	if r.n > 0 && r.off+r.n < end {
		end = r.off + r.n
	}
	if r.err != nil && end > r.failAt {
		end = r.failAt
	}
	k := copy(p, r.body[r.off:end])
	r.off += k
	if r.eofWithData && r.off >= len(r.body) {
		return k, io.EOF
	}
	return k, nil
}

// TestRTWFBodyReaders delivers a signed event through hand-built requests
// whose bodies arrive in every way an io.Reader may deliver them: at once,
// one byte at a time, with (0, nil) reads between pieces, the last piece
// with io.EOF, of unknown length, or failing midway. A complete body must be
// accepted with Raw exactly the bytes sent; a failed read must run no
// handler and answer 400.
func TestRTWFBodyReaders(t *testing.T) {
	t.Parallel()
	body := []byte(rtwfIndepBody(42))
	sig := webhook.Sign(body, "rtwf-secret")
	c := newRTWFCapture(t, webhook.WithSecret("rtwf-secret"))
	type rc struct {
		name string
		r    *rtwfReader
		cl   int64
		ok   bool
	}
	var cases []rc
	for _, cl := range []int64{int64(len(body)), -1} {
		for _, n := range []int{0, 1, 3, 7, 8, 9, 64, 4096} {
			for _, zeros := range []int{0, 3} {
				for _, eof := range []bool{false, true} {
					cases = append(cases, rc{fmt.Sprintf("cl%d/n%d/zeros%d/eof%v", cl, n, zeros, eof), &rtwfReader{body: body, n: n, zeros: zeros, eofWithData: eof}, cl, true})
				}
			}
		}
		for _, at := range []int{0, 1, 8, len(body) / 2, len(body) - 1} {
			cases = append(cases, rc{fmt.Sprintf("cl%d/fail-at-%d", cl, at), &rtwfReader{body: body, n: 5, failAt: at, err: errors.New("connection reset by peer")}, cl, false})
			cases = append(cases, rc{fmt.Sprintf("cl%d/unexpected-eof-at-%d", cl, at), &rtwfReader{body: body, n: 5, failAt: at, err: io.ErrUnexpectedEOF}, cl, false})
		}
	}
	for _, tc := range cases {
		r := httptest.NewRequest(http.MethodPost, "/hook", tc.r)
		r.ContentLength = tc.cl
		r.Header.Set(webhook.SignatureHeader, sig)
		w := httptest.NewRecorder()
		c.mu.Lock()
		c.last = nil
		c.mu.Unlock()
		c.h.ServeHTTP(w, r)
		c.mu.Lock()
		e := c.last
		c.mu.Unlock()
		switch {
		case tc.ok && (w.Code != http.StatusOK || e == nil):
			t.Errorf("%s: complete body answered %d, handler ran %v", tc.name, w.Code, e != nil)
		case tc.ok && !bytes.Equal(e.Raw, body):
			t.Errorf("%s: Raw is %d bytes, want the %d sent", tc.name, len(e.Raw), len(body))
		case !tc.ok && (e != nil || w.Code != http.StatusBadRequest):
			t.Errorf("%s: failed read answered %d, handler ran %v (want 400, no handler)", tc.name, w.Code, e != nil)
		}
	}
}

// TestRTWFBodyContentLengthMismatchHandBuilt builds requests by hand whose
// ContentLength does not match the body. The handler may trust either, but
// whatever it runs must have been verified: a handler that runs sees Raw
// equal to the bytes signed; otherwise the answer is 400, 401 or 413.
func TestRTWFBodyContentLengthMismatchHandBuilt(t *testing.T) {
	t.Parallel()
	body := []byte(rtwfIndepBody(43))
	c := newRTWFCapture(t, webhook.WithSecret("rtwf-secret"), webhook.WithMaxBody(int64(len(body)+100)))
	for _, tc := range []struct {
		name   string
		sent   []byte
		cl     int64
		signed []byte
	}{
		{"cl-smaller-sign-all", append(bytes.Clone(body), "\n\n"...), int64(len(body)), append(bytes.Clone(body), "\n\n"...)},
		{"cl-smaller-sign-prefix", append(bytes.Clone(body), "\n\n"...), int64(len(body)), body},
		{"cl-larger", body, int64(len(body) + 10), body},
		{"cl-zero", body, 0, body},
		{"cl-over-max", body, int64(len(body) + 101), body},
		{"body-over-max-cl-small", append(bytes.Clone(body), bytes.Repeat([]byte(" "), 200)...), int64(len(body)), append(bytes.Clone(body), bytes.Repeat([]byte(" "), 200)...)},
	} {
		r := httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(tc.sent))
		r.ContentLength = tc.cl
		r.Header.Set(webhook.SignatureHeader, webhook.Sign(tc.signed, "rtwf-secret"))
		w := httptest.NewRecorder()
		c.mu.Lock()
		c.last = nil
		c.mu.Unlock()
		c.h.ServeHTTP(w, r)
		c.mu.Lock()
		e := c.last
		c.mu.Unlock()
		t.Logf("%s: answered %d, handler ran %v", tc.name, w.Code, e != nil)
		if e != nil {
			if w.Code != http.StatusOK || !bytes.Equal(e.Raw, tc.signed) {
				t.Errorf("%s: handler ran with %d bytes (signed %d), answered %d", tc.name, len(e.Raw), len(tc.signed), w.Code)
			}
		} else if w.Code != http.StatusBadRequest && w.Code != http.StatusUnauthorized && w.Code != http.StatusRequestEntityTooLarge {
			t.Errorf("%s: answered %d", tc.name, w.Code)
		}
	}
}

// rtwfTCP is an httptest server around a capturing handler, spoken to in raw
// HTTP/1.1 over TCP.
type rtwfTCP struct {
	c       *rtwfCapture
	ts      *httptest.Server
	read    atomic.Int64 // bytes the server read from its connections
	atWrite atomic.Int64 // read when the server first wrote (-1: not yet)
}

func newRTWFTCP(t *testing.T, opts ...webhook.Option) *rtwfTCP {
	t.Helper()
	c := newRTWFCapture(t, opts...)
	s := &rtwfTCP{c: c}
	ts := httptest.NewUnstartedServer(c.h)
	ts.Listener = &rtwfCountListener{Listener: ts.Listener, n: &s.read, atWrite: &s.atWrite}
	ts.Start()
	t.Cleanup(ts.Close)
	s.ts = ts
	return s
}

// rtwfCountListener counts the bytes the server reads.
type rtwfCountListener struct {
	net.Listener
	n, atWrite *atomic.Int64
}

func (l *rtwfCountListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &rtwfCountConn{Conn: c, n: l.n, atWrite: l.atWrite}, nil
}

type rtwfCountConn struct {
	net.Conn
	n, atWrite *atomic.Int64
}

func (c *rtwfCountConn) Write(p []byte) (int, error) {
	c.atWrite.CompareAndSwap(-1, c.n.Load())
	return c.Conn.Write(p)
}

func (c *rtwfCountConn) Read(p []byte) (int, error) {
	k, err := c.Conn.Read(p)
	c.n.Add(int64(k))
	return k, err
}

// exchange writes the request head and then each piece (flushing between
// them), half-closes when closeWrite, and reads the first response. Every
// read has a generous deadline so that a server waiting for bytes it will
// never get fails the test instead of hanging it.
func (s *rtwfTCP) exchange(t *testing.T, head string, pieces [][]byte, closeWrite bool) (int, *webhook.Event, []int) {
	t.Helper()
	s.c.mu.Lock()
	s.c.last, s.c.runs = nil, 0
	s.c.mu.Unlock()
	conn, err := net.Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	for _, p := range pieces {
		if _, err := conn.Write(p); err != nil {
			break // the server may have answered and closed already
		}
	}
	if closeWrite {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	br := bufio.NewReader(conn)
	var codes []int
	code := 0
	for {
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			break
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		codes = append(codes, resp.StatusCode)
		if code == 0 {
			code = resp.StatusCode
		}
		if resp.Close || !closeWrite {
			break
		}
	}
	s.c.mu.Lock()
	defer s.c.mu.Unlock()
	return code, s.c.last, codes
}

func rtwfHead(contentLength int, sig string, extra ...string) string {
	h := "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
	if contentLength >= 0 {
		h += "Content-Length: " + strconv.Itoa(contentLength) + "\r\n"
	}
	if sig != "" {
		h += webhook.SignatureHeader + ": " + sig + "\r\n"
	}
	for _, x := range extra {
		h += x + "\r\n"
	}
	return h + "\r\n"
}

func rtwfSplit(b []byte, n int) [][]byte {
	var out [][]byte
	for len(b) > n {
		out = append(out, b[:n])
		b = b[n:]
	}
	return append(out, b)
}

func rtwfChunked(b []byte, sizes ...int) []byte {
	var out bytes.Buffer
	i := 0
	for len(b) > 0 {
		n := sizes[i%len(sizes)]
		i++
		if n > len(b) {
			n = len(b)
		}
		fmt.Fprintf(&out, "%x;ext=%d\r\n", n, i)
		out.Write(b[:n])
		out.WriteString("\r\n")
		b = b[n:]
	}
	out.WriteString("0\r\n\r\n")
	return out.Bytes()
}

// TestRTWFBodyOverTCP sends deliveries as raw HTTP: Content-Length exact
// (in one piece and in small pieces), smaller than the bytes that follow
// (the rest is the next request), larger than the body (the client then
// half-closes), chunked in odd sizes, and empty. The signature must be
// checked against exactly the bytes of the request's body.
func TestRTWFBodyOverTCP(t *testing.T) {
	t.Parallel()
	s := newRTWFTCP(t, webhook.WithSecret("rtwf-secret"))
	body := []byte(rtwfIndepBody(44))
	sig := webhook.Sign(body, "rtwf-secret")
	check := func(name string, wantCode int, wantRaw []byte, code int, e *webhook.Event) {
		t.Helper()
		if code != wantCode {
			t.Errorf("%s: answered %d, want %d", name, code, wantCode)
		}
		if wantRaw == nil && e != nil {
			t.Errorf("%s: a handler ran (Raw %d bytes)", name, len(e.Raw))
		}
		if wantRaw != nil && (e == nil || !bytes.Equal(e.Raw, wantRaw)) {
			if e == nil {
				t.Errorf("%s: no handler ran", name)
			} else {
				t.Errorf("%s: Raw %s, want %s", name, rtwfAbbrev(string(e.Raw)), rtwfAbbrev(string(wantRaw)))
			}
		}
	}
	code, e, _ := s.exchange(t, rtwfHead(len(body), sig), [][]byte{body}, false)
	check("exact", 200, body, code, e)
	for _, n := range []int{1, 7, 8, 9, 100} {
		code, e, _ = s.exchange(t, rtwfHead(len(body), sig), rtwfSplit(body, n), false)
		check(fmt.Sprintf("exact-in-pieces-of-%d", n), 200, body, code, e)
	}
	// Content-Length smaller than what follows: the body is its first bytes.
	extra := append(bytes.Clone(body), "GARBAGE\r\n\r\n"...)
	code, e, _ = s.exchange(t, rtwfHead(len(body), sig), [][]byte{extra}, false)
	check("cl-smaller-signed-body", 200, body, code, e)
	code, e, _ = s.exchange(t, rtwfHead(len(body), webhook.Sign(extra, "rtwf-secret")), [][]byte{extra}, false)
	check("cl-smaller-signed-all", 401, nil, code, e)
	// Content-Length larger than the body, then the client stops sending.
	code, e, _ = s.exchange(t, rtwfHead(len(body)+10, sig), [][]byte{body}, true)
	if e != nil {
		t.Errorf("cl-larger: a handler ran with %d bytes of a %d-byte body", len(e.Raw), len(body)+10)
	}
	if code != 0 && code != http.StatusBadRequest {
		t.Errorf("cl-larger: answered %d, want 400 (or no answer)", code)
	}
	// chunked
	for _, sizes := range [][]int{{1}, {7, 9}, {8}, {4096}, {3, 1000, 1}} {
		code, e, _ = s.exchange(t, rtwfHead(-1, sig, "Transfer-Encoding: chunked"), rtwfSplit(rtwfChunked(body, sizes...), 13), false)
		check(fmt.Sprintf("chunked-%v", sizes), 200, body, code, e)
	}
	// empty bodies
	code, e, _ = s.exchange(t, rtwfHead(0, webhook.Sign(nil, "rtwf-secret")), nil, false)
	check("empty-signed", 400, nil, code, e)
	code, e, _ = s.exchange(t, rtwfHead(0, ""), nil, false)
	check("empty-unsigned", 401, nil, code, e)
	code, e, _ = s.exchange(t, rtwfHead(-1, webhook.Sign(nil, "rtwf-secret"), "Transfer-Encoding: chunked"), [][]byte{[]byte("0\r\n\r\n")}, false)
	check("empty-chunked-signed", 400, nil, code, e)
	// without a secret an empty body is malformed JSON
	s2 := newRTWFTCP(t)
	code, e, _ = s2.exchange(t, rtwfHead(0, ""), nil, false)
	check("empty-no-secret", 400, nil, code, e)
}

// TestRTWFBodyMaxSize sends bodies of exactly the maximum and one byte more,
// with a known length and chunked, with WithMaxBody and with the default;
// and bodies that claim more than the maximum but never send it: 413 after
// at most max+1 bytes, without waiting for the rest.
func TestRTWFBodyMaxSize(t *testing.T) {
	t.Parallel()
	for _, max := range []int{len(rtwfIndepBody(45)), 4096, 65536, webhook.DefaultMaxBody} {
		t.Run(strconv.Itoa(max), func(t *testing.T) {
			t.Parallel()
			var opts []webhook.Option
			if max != webhook.DefaultMaxBody {
				opts = append(opts, webhook.WithMaxBody(int64(max)))
			}
			s := newRTWFTCP(t, append(opts, webhook.WithSecret("rtwf-secret"))...)
			ev := []byte(rtwfIndepBody(45))
			pad := func(n int) []byte { return append(bytes.Clone(ev), bytes.Repeat([]byte(" "), n-len(ev))...) }
			atMax, over := pad(max), pad(max+1)
			for _, tc := range []struct {
				name  string
				head  string
				parts [][]byte
				code  int
				raw   []byte
			}{
				{"cl-at-max", rtwfHead(max, webhook.Sign(atMax, "rtwf-secret")), rtwfSplit(atMax, 5000), 200, atMax},
				{"cl-over-max", rtwfHead(max+1, webhook.Sign(over, "rtwf-secret")), rtwfSplit(over, 5000), 413, nil},
				{"chunked-at-max", rtwfHead(-1, webhook.Sign(atMax, "rtwf-secret"), "Transfer-Encoding: chunked"), [][]byte{rtwfChunked(atMax, 1000, 333)}, 200, atMax},
				{"chunked-over-max", rtwfHead(-1, webhook.Sign(over, "rtwf-secret"), "Transfer-Encoding: chunked"), [][]byte{rtwfChunked(over, 1000, 333)}, 413, nil},
				{"cl-huge-no-body", rtwfHead(1<<40, "sha1=0000000000000000000000000000000000000000"), nil, 413, nil},
				{"chunked-unterminated-max+1", rtwfHead(-1, "sha1=0000000000000000000000000000000000000000", "Transfer-Encoding: chunked"), [][]byte{[]byte(fmt.Sprintf("%x\r\n", max+50)), over}, 413, nil},
			} {
				code, e, _ := s.exchange(t, tc.head, tc.parts, false)
				if code != tc.code {
					t.Errorf("%s: answered %d, want %d", tc.name, code, tc.code)
				}
				if (e != nil) != (tc.raw != nil) || (e != nil && !bytes.Equal(e.Raw, tc.raw)) {
					t.Errorf("%s: handler ran %v (Raw %d bytes), want %v", tc.name, e != nil, func() int {
						if e == nil {
							return 0
						}
						return len(e.Raw)
					}(), tc.raw != nil)
				}
			}
		})
	}
}

// TestRTWFBodyOverMaxBytesRead sends, over TCP, deliveries whose
// Content-Length is over the maximum by less than 256 KiB, and the whole
// claimed body, and counts the bytes the server had read from the
// connection when it began writing its 413. Documented (WithMaxBody): "A larger body is
// answered 413 after reading at most n+1 bytes." Allowed slack: the request
// head and two 4 KiB read buffers.
func TestRTWFBodyOverMaxBytesRead(t *testing.T) {
	t.Parallel()
	for _, max := range []int{4096, 65536} {
		for _, over := range []int{1, 100000, 200000} {
			t.Run(fmt.Sprintf("max%d/over%d", max, over), func(t *testing.T) {
				t.Parallel()
				ev := []byte(rtwfIndepBody(46))
				body := append(bytes.Clone(ev), bytes.Repeat([]byte(" "), max+over-len(ev))...)
				head := rtwfHead(len(body), webhook.Sign(body, "rtwf-secret"))
				for _, chunked := range []bool{false, true} {
					// A server per exchange: after answering, net/http reads
					// and discards up to 256 KiB of the body left unread on the
					// connection it closes, and the counters of a shared server
					// would count those bytes against the next exchange.
					s := newRTWFTCP(t, webhook.WithMaxBody(int64(max)), webhook.WithSecret("rtwf-secret"))
					h, wire := head, body
					if chunked {
						h = rtwfHead(-1, webhook.Sign(body, "rtwf-secret"), "Transfer-Encoding: chunked")
						wire = rtwfChunked(body, 1000)
					}
					s.read.Store(0)
					s.atWrite.Store(-1)
					code, e, _ := s.exchange(t, h, [][]byte{wire}, false)
					n := s.atWrite.Load()
					if code != http.StatusRequestEntityTooLarge || e != nil {
						t.Fatalf("chunked %v: answered %d, handler ran %v", chunked, code, e != nil)
					}
					// chunk headers add about 1% to the bytes of a chunked body
					limit := int64(len(h) + (max+1)*102/100 + 2*4096)
					if n > limit {
						t.Errorf("chunked %v, a %d-byte body over a maximum of %d: the server had read %d bytes of the connection when it began answering 413 (at most %d expected: head %d + max+1 + 8 KiB of buffering)", chunked, len(body), max, n, limit, len(h))
					}
				}
			})
		}
	}
}

// TestRTWFBodyClaimedLengthAllocation is a measurement, not a promise: a
// delivery that claims a large Content-Length (under a raised WithMaxBody)
// and sends a few bytes. A reader that sizes its buffer by the claim
// allocates it before any byte arrives. Logged for the report.
func TestRTWFBodyClaimedLengthAllocation(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation figures are not meaningful under -race")
	}
	s := newRTWFTCP(t, webhook.WithMaxBody(1<<30))
	const claim = 64 << 20
	var before, after runtimeMem
	before.read()
	for range 4 {
		_, _, _ = s.exchange(t, rtwfHead(claim, ""), [][]byte{[]byte(`{"event":"x"}`)}, true)
	}
	after.read()
	t.Logf("4 deliveries claiming %d MiB each, sending 13 bytes: about %d MiB allocated meanwhile (whole process)", claim>>20, (after.total-before.total)>>20)
}

// ---------------------------------------------------------------------------
// Duplicate suppression.

// TestRTWFDedupeEvictedClaimFinish finishes claims whose entry was evicted
// and whose slot another ID took: Finish must neither record that other ID
// as done nor forget its claim, and must not bring the evicted ID back.
func TestRTWFDedupeEvictedClaimFinish(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, size := range []int{1, 2, 3, 8} {
		for _, ok := range []bool{true, false} {
			t.Run(fmt.Sprintf("size%d/ok=%v", size, ok), func(t *testing.T) {
				t.Parallel()
				d, err := webhook.NewMemoryDeduper(size, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				begin := func(id string) webhook.DedupeClaim {
					t.Helper()
					c, err := d.Begin(ctx, id)
					if err != nil {
						t.Fatal(err)
					}
					return c
				}
				old := begin("old")
				if old.State != webhook.DedupeNew || old.Token == "" {
					t.Fatalf("first Begin: %+v", old)
				}
				// size new IDs push "old" out; they now hold every slot
				held := map[string]webhook.DedupeClaim{}
				for i := range size {
					id := fmt.Sprintf("new%d", i)
					held[id] = begin(id)
					if held[id].State != webhook.DedupeNew {
						t.Fatalf("Begin(%s): %+v", id, held[id])
					}
				}
				if err := d.Finish(ctx, old, ok); err != nil && !errors.Is(err, webhook.ErrClaimLost) {
					t.Errorf("Finish of the evicted claim: %v", err)
				}
				if n := d.Len(); n > size {
					t.Errorf("Len %d > size %d", n, size)
				}
				for id := range held {
					if c := begin(id); c.State != webhook.DedupeRunning {
						t.Errorf("after the evicted claim of \"old\" finished (ok %v), %s, still held, reads %v", ok, id, c.State)
					}
				}
				// a forged claim: another ID's token
				for id, c := range held {
					forged := webhook.DedupeClaim{ID: id, State: webhook.DedupeNew, Token: old.Token}
					if err := d.Finish(ctx, forged, true); !errors.Is(err, webhook.ErrClaimLost) {
						t.Errorf("Finish of %s under the evicted claim's token: %v, want ErrClaimLost", id, err)
					}
					// a claim without a token may be refused as an argument
					// error; it must settle nothing
					empty := webhook.DedupeClaim{ID: id, State: webhook.DedupeNew}
					if err := d.Finish(ctx, empty, false); err == nil {
						t.Errorf("Finish of %s without a token: no error", id)
					}
					running := webhook.DedupeClaim{ID: id, State: webhook.DedupeRunning}
					if err := d.Finish(ctx, running, true); err == nil {
						t.Errorf("Finish of %s with a claim in state running: no error", id)
					}
					if got := begin(id); got.State != webhook.DedupeRunning {
						t.Errorf("%s reads %v after forged Finish calls", id, got.State)
					}
					_ = c
				}
				// the evicted ID is forgotten: a retry runs
				again := begin("old")
				if again.State != webhook.DedupeNew {
					t.Errorf("\"old\" after eviction and a stale Finish(ok %v): %v, want new", ok, again.State)
				}
				if again.Token == old.Token {
					t.Errorf("the new claim of \"old\" has the evicted claim's token %q", old.Token)
				}
				// the stale claim must not settle the new one
				if err := d.Finish(ctx, old, !ok); !errors.Is(err, webhook.ErrClaimLost) {
					t.Errorf("stale Finish while \"old\" is claimed again: %v, want ErrClaimLost", err)
				}
				if c := begin("old"); c.State != webhook.DedupeRunning {
					t.Errorf("\"old\" reads %v after a stale Finish, want running", c.State)
				}
				if err := d.Finish(ctx, again, true); err != nil {
					t.Errorf("Finish of the current claim: %v", err)
				}
				if c := begin("old"); c.State != webhook.DedupeDone {
					t.Errorf("\"old\" reads %v after its current claim finished, want done", c.State)
				}
			})
		}
	}
}

// TestRTWFDedupeChurn claims far more IDs than the deduper holds, keeps
// every claim and finishes them in random order long after their entries
// were evicted and their slots reused many times: no Finish may settle
// another ID, tokens must never repeat, and the IDs still held must read as
// their own claims left them.
func TestRTWFDedupeChurn(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const size = 16
	d, err := webhook.NewMemoryDeduper(size, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(5, 6))
	tokens := map[string]string{}
	var claims []webhook.DedupeClaim
	n := 20000
	if raceEnabled {
		n = 5000
	}
	for i := range n {
		id := fmt.Sprintf("id-%d", i)
		c, err := d.Begin(ctx, id)
		if err != nil || c.State != webhook.DedupeNew {
			t.Fatalf("Begin(%s): %+v %v", id, c, err)
		}
		if prev, dup := tokens[c.Token]; dup {
			t.Fatalf("token %q of %s was handed to %s before", c.Token, id, prev)
		}
		tokens[c.Token] = id
		claims = append(claims, c)
	}
	// The last size IDs are held (running). Finish every older claim.
	held := claims[len(claims)-size:]
	old := claims[:len(claims)-size]
	r.Shuffle(len(old), func(i, j int) { old[i], old[j] = old[j], old[i] })
	for i, c := range old {
		if err := d.Finish(ctx, c, i%2 == 0); err != nil && !errors.Is(err, webhook.ErrClaimLost) {
			t.Fatalf("Finish(%s): %v", c.ID, err)
		}
	}
	for _, c := range held {
		got, _ := d.Begin(ctx, c.ID)
		if got.State != webhook.DedupeRunning {
			t.Errorf("%s (held) reads %v after evicted claims finished", c.ID, got.State)
		}
	}
	// Claims of the same ID, one replacing the other after eviction.
	for i := range 200 {
		id := fmt.Sprintf("re-%d", i%3)
		c1, _ := d.Begin(ctx, id)
		for k := range size {
			_, _ = d.Begin(ctx, fmt.Sprintf("push-%d-%d", i, k))
		}
		c2, _ := d.Begin(ctx, id)
		if c1.State == webhook.DedupeNew && c2.State == webhook.DedupeNew {
			if c1.Token == c2.Token {
				t.Fatalf("two claims of %s share token %q", id, c1.Token)
			}
			if err := d.Finish(ctx, c1, true); !errors.Is(err, webhook.ErrClaimLost) {
				t.Fatalf("stale Finish of %s: %v, want ErrClaimLost", id, err)
			}
			if got, _ := d.Begin(ctx, id); got.State != webhook.DedupeRunning {
				t.Fatalf("%s reads %v after a stale Finish(ok), want running", id, got.State)
			}
			if err := d.Finish(ctx, c2, false); err != nil {
				t.Fatalf("Finish of the current claim of %s: %v", id, err)
			}
		}
	}
	if d.Len() > size {
		t.Errorf("Len %d > %d", d.Len(), size)
	}
}

// TestRTWFDedupeConcurrent has goroutines race for the same IDs (exactly one
// gets the claim; after a success everyone reads done, after a failure the
// next round has one winner again) while others churn unrelated IDs through
// a deduper large enough to keep the contested ones.
func TestRTWFDedupeConcurrent(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := webhook.NewMemoryDeduper(4096, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	stop := make(chan struct{})
	var churn sync.WaitGroup
	for g := range 2 {
		churn.Go(func() {
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				c, _ := d.Begin(ctx, fmt.Sprintf("churn-%d-%d", g, i%1000))
				if c.State == webhook.DedupeNew {
					if err := d.Finish(ctx, c, i%3 != 0); err != nil && !errors.Is(err, webhook.ErrClaimLost) {
						t.Error(err)
					}
				}
			}
		})
	}
	rounds := 300
	if raceEnabled {
		rounds = 100
	}
	for round := range rounds {
		id := fmt.Sprintf("contested-%d", round)
		for attempt := range 2 {
			var wins atomic.Int32
			var winner webhook.DedupeClaim
			var mu sync.Mutex
			var wg sync.WaitGroup
			for range 8 {
				wg.Go(func() {
					c, err := d.Begin(ctx, id)
					if err != nil {
						t.Error(err)
						return
					}
					if c.State == webhook.DedupeNew {
						wins.Add(1)
						mu.Lock()
						winner = c
						mu.Unlock()
					} else if c.State != webhook.DedupeRunning {
						t.Errorf("%s attempt %d: %v while a claim runs", id, attempt, c.State)
					}
				})
			}
			wg.Wait()
			if wins.Load() != 1 {
				t.Fatalf("%s attempt %d: %d concurrent Begin calls got the claim", id, attempt, wins.Load())
			}
			ok := attempt == 1
			if err := d.Finish(ctx, winner, ok); err != nil {
				t.Fatalf("Finish: %v", err)
			}
			if ok {
				if c, _ := d.Begin(ctx, id); c.State != webhook.DedupeDone {
					t.Fatalf("%s after success: %v", id, c.State)
				}
			}
		}
	}
	close(stop)
	churn.Wait()
}

// TestRTWFDedupeTTL lets claims and done IDs outlive the TTL (fake time):
// a done ID is forgotten after it, a running claim too, and the expired
// claim's late Finish must leave the new claim alone.
func TestRTWFDedupeTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		d, err := webhook.NewMemoryDeduper(8, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		a, _ := d.Begin(ctx, "a")
		if err := d.Finish(ctx, a, true); err != nil {
			t.Fatal(err)
		}
		time.Sleep(59 * time.Minute)
		if c, _ := d.Begin(ctx, "a"); c.State != webhook.DedupeDone {
			t.Errorf("a after 59m: %v, want done", c.State)
		}
		time.Sleep(2 * time.Minute)
		a2, _ := d.Begin(ctx, "a")
		if a2.State != webhook.DedupeNew {
			t.Errorf("a after 61m: %v, want new", a2.State)
		}
		b, _ := d.Begin(ctx, "b")
		time.Sleep(61 * time.Minute)
		b2, _ := d.Begin(ctx, "b")
		if b2.State != webhook.DedupeNew {
			t.Fatalf("b, claimed 61m ago and never finished: %v, want new (the TTL applies to every entry)", b2.State)
		}
		if err := d.Finish(ctx, b, true); !errors.Is(err, webhook.ErrClaimLost) {
			t.Errorf("expired claim's Finish: %v, want ErrClaimLost", err)
		}
		if c, _ := d.Begin(ctx, "b"); c.State != webhook.DedupeRunning {
			t.Errorf("b after the expired claim finished: %v, want running", c.State)
		}
		if err := d.Finish(ctx, b2, false); err != nil {
			t.Errorf("Finish of the current claim: %v", err)
		}
		if c, _ := d.Begin(ctx, "b"); c.State != webhook.DedupeNew {
			t.Errorf("b after its failed claim: %v, want new", c.State)
		}
	})
}

// TestRTWFDedupeHandlerTTL does the same through a Handler's default memory
// (WithDedupe, DedupeTTL): a repeated delivery inside 24 hours is
// acknowledged without running the handler, one after it runs again.
func TestRTWFDedupeHandlerTTL(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h, err := webhook.NewHandler(webhook.WithDedupe(4), webhook.WithLogger(nil))
		if err != nil {
			t.Fatal(err)
		}
		runs := 0
		if err := h.Handle("**", func(context.Context, *webhook.Event) error { runs++; return nil }); err != nil {
			t.Fatal(err)
		}
		e, err := webhook.ParseEvent([]byte(rtwfIndepBody(1)))
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		_ = h.Dispatch(ctx, e)
		time.Sleep(webhook.DedupeTTL - time.Minute)
		_ = h.Dispatch(ctx, e)
		if runs != 1 {
			t.Errorf("runs %d inside the TTL, want 1", runs)
		}
		time.Sleep(2 * time.Minute)
		_ = h.Dispatch(ctx, e)
		if runs != 2 {
			t.Errorf("runs %d after the TTL, want 2", runs)
		}
	})
}

// rtwfBlocking is a handler whose runs block until released, per event ID.
type rtwfBlocking struct {
	h       *webhook.Handler
	started chan string
	mu      sync.Mutex
	release map[string]chan error
	runs    map[string]int
}

func newRTWFBlocking(t *testing.T, opts ...webhook.Option) *rtwfBlocking {
	t.Helper()
	b := &rtwfBlocking{started: make(chan string, 100), release: map[string]chan error{}, runs: map[string]int{}}
	h, err := webhook.NewHandler(append([]webhook.Option{webhook.WithLogger(nil)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("**", func(_ context.Context, e *webhook.Event) error {
		b.mu.Lock()
		b.runs[e.ID]++
		ch := b.release[e.ID]
		if ch == nil {
			ch = make(chan error)
			b.release[e.ID] = ch
		}
		b.mu.Unlock()
		b.started <- e.ID
		return <-ch
	}); err != nil {
		t.Fatal(err)
	}
	b.h = h
	return b
}

func (b *rtwfBlocking) ch(id string) chan error {
	b.mu.Lock()
	defer b.mu.Unlock()
	ch := b.release[id]
	if ch == nil {
		ch = make(chan error)
		b.release[id] = ch
	}
	return ch
}

func rtwfPost(h http.Handler, id string) int {
	body := []byte(strings.Replace(rtwfIndepBody(1), `"id":"ev`+fmt.Sprintf("%024x", 1)+`"`, `"id":"`+id+`"`, 1))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body)))
	return w.Code
}

// TestRTWFDedupeHandlerEvictedRunning runs, through ServeHTTP with
// WithDedupe(1), an event whose claim is evicted by another event while it
// still runs: when the first then finishes (success or failure), the other
// event's claim must stand (its retry answers 503, the handler does not run
// it twice at once), and a retry of the first, no longer remembered, runs.
func TestRTWFDedupeHandlerEvictedRunning(t *testing.T) {
	t.Parallel()
	for _, firstFails := range []bool{false, true} {
		t.Run(fmt.Sprintf("firstFails=%v", firstFails), func(t *testing.T) {
			t.Parallel()
			b := newRTWFBlocking(t, webhook.WithDedupe(1))
			codes := make(chan [2]any, 10)
			post := func(id string) {
				go func() { codes <- [2]any{id, rtwfPost(b.h, id)} }()
			}
			post("A")
			if id := <-b.started; id != "A" {
				t.Fatalf("started %s", id)
			}
			post("B") // evicts A's running claim, reuses its slot
			if id := <-b.started; id != "B" {
				t.Fatalf("started %s", id)
			}
			var firstErr error
			if firstFails {
				firstErr = errors.New("fails")
			}
			b.ch("A") <- firstErr
			if got := <-codes; got[0] != "A" {
				t.Fatalf("answer %v", got)
			}
			// B is still running: a retry of B must not run it again.
			if code := rtwfPost(b.h, "B"); code != http.StatusServiceUnavailable {
				t.Errorf("retry of B while B runs, after A (evicted) finished with error=%v: answered %d, want 503", firstFails, code)
			}
			b.mu.Lock()
			runsB := b.runs["B"]
			b.mu.Unlock()
			if runsB != 1 {
				t.Errorf("B ran %d times", runsB)
				// release the extra run
				go func() { b.ch("B") <- nil }()
				<-b.started
			}
			b.ch("B") <- nil
			if got := <-codes; got[0] != "B" || got[1] != http.StatusOK {
				t.Fatalf("answer %v", got)
			}
			// B is done now
			if code := rtwfPost(b.h, "B"); code != http.StatusOK {
				t.Errorf("retry of B after success: %d", code)
			}
			b.mu.Lock()
			runsB = b.runs["B"]
			b.mu.Unlock()
			if runsB != 1 {
				t.Errorf("B ran %d times after its retry (done, remembered)", runsB)
			}
		})
	}
}

// TestRTWFDedupeHandlerEvictions sends more distinct events than WithDedupe
// holds, then retries: a retry of a remembered event does not run, a retry
// of an evicted one (the oldest first) runs again; and a retry sent while
// the first delivery still runs answers 503 (ErrInProgress from Dispatch).
func TestRTWFDedupeHandlerEvictions(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	runs := map[string]int{}
	h, err := webhook.NewHandler(webhook.WithDedupe(5), webhook.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("**", func(_ context.Context, e *webhook.Event) error {
		mu.Lock()
		runs[e.ID]++
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	for i := range 8 {
		if code := rtwfPost(h, fmt.Sprintf("E%d", i)); code != 200 {
			t.Fatalf("E%d: %d", i, code)
		}
	}
	for i := 7; i >= 3; i-- {
		if code := rtwfPost(h, fmt.Sprintf("E%d", i)); code != 200 {
			t.Fatalf("retry E%d: %d", i, code)
		}
	}
	mu.Lock()
	for i := 3; i < 8; i++ {
		if n := runs[fmt.Sprintf("E%d", i)]; n != 1 {
			t.Errorf("E%d (among the newest 5) ran %d times", i, n)
		}
	}
	mu.Unlock()
	if code := rtwfPost(h, "E0"); code != 200 {
		t.Fatal(code)
	}
	mu.Lock()
	if n := runs["E0"]; n != 2 {
		t.Errorf("E0 (evicted) ran %d times on its retry, want 2", n)
	}
	mu.Unlock()

	b := newRTWFBlocking(t, webhook.WithDedupe(5))
	done := make(chan int)
	go func() { done <- rtwfPost(b.h, "R") }()
	<-b.started
	if code := rtwfPost(b.h, "R"); code != http.StatusServiceUnavailable {
		t.Errorf("retry while running: %d, want 503", code)
	}
	e, err := webhook.ParseEvent([]byte(strings.Replace(rtwfIndepBody(1), `"id":"ev`+fmt.Sprintf("%024x", 1)+`"`, `"id":"R"`, 1)))
	if err != nil {
		t.Fatal(err)
	}
	if err := b.h.Dispatch(context.Background(), e); !errors.Is(err, webhook.ErrInProgress) {
		t.Errorf("Dispatch while running: %v, want ErrInProgress", err)
	}
	b.ch("R") <- nil
	if code := <-done; code != 200 {
		t.Errorf("first delivery: %d", code)
	}
}

// ---------------------------------------------------------------------------
// Pages and single resources.

// rtwfPageServer serves the current body for every GET, with a known length
// or chunked.
type rtwfPageServer struct {
	body    atomic.Pointer[[]byte]
	chunked atomic.Bool
	c       *chatshipper.Client
}

func newRTWFPageServer(t testing.TB) *rtwfPageServer {
	t.Helper()
	s := &rtwfPageServer{}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		b := *s.body.Load()
		w.Header().Set("Content-Type", "application/json")
		if s.chunked.Load() {
			w.WriteHeader(http.StatusOK)
			w.(http.Flusher).Flush()
			for len(b) > 0 {
				n := min(len(b), 777)
				_, _ = w.Write(b[:n])
				w.(http.Flusher).Flush()
				b = b[n:]
			}
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(len(b)))
		_, _ = w.Write(b)
	}))
	t.Cleanup(ts.Close)
	c, err := chatshipper.NewClient("tok-abcdefghijklmnop",
		chatshipper.WithBaseURL(ts.URL+"/v2/"),
		chatshipper.WithRateLimit(0), chatshipper.WithIPRateLimit(0),
		chatshipper.WithLoopGuard(false), chatshipper.WithMaxRetries(0),
		chatshipper.WithDeliveryTracking(false))
	if err != nil {
		t.Fatal(err)
	}
	s.c = c
	return s
}

func (s *rtwfPageServer) set(body []byte, chunked bool) {
	b := bytes.Clone(body)
	s.body.Store(&b)
	s.chunked.Store(chunked)
}

// rtwfComparePage compares items (or an error) with encoding/json's reading
// of body.
func rtwfComparePage[T any](body []byte, got []*T, err error) string {
	var want []*T
	wantErr := json.Unmarshal(body, &want)
	switch {
	case wantErr != nil:
		if err == nil {
			return fmt.Sprintf("encoding/json refuses the page (%v), got %d items", wantErr, len(got))
		}
		return rtwfErrCompare(err, wantErr)
	case func() bool {
		for _, x := range want {
			if x == nil {
				return true
			}
		}
		return false
	}():
		if !errors.Is(err, chatshipper.ErrInvalidResponse) {
			return fmt.Sprintf("page with null items: %v, want ErrInvalidResponse", err)
		}
		return ""
	case err != nil:
		return fmt.Sprintf("encoding/json accepts the page, got %v (chain %s)", err, rtwfTypes(err))
	}
	if d := rtwfDiff(got, want); len(d) > 0 {
		return strings.Join(d, "\n")
	}
	return ""
}

// checkAll lists body as conversations and messages (List and Do) and
// compares with encoding/json, with a known length and chunked.
func (s *rtwfPageServer) checkAll(convPage, msgPage []byte) []string {
	ctx := context.Background()
	var out []string
	for _, chunked := range []bool{false, true} {
		s.set(convPage, chunked)
		convs, _, err := s.c.Conversations.List(ctx, nil)
		if d := rtwfComparePage(convPage, convs, err); d != "" {
			out = append(out, fmt.Sprintf("Conversations.List (chunked %v): %s", chunked, d))
		}
		req, err := s.c.NewRequest(ctx, http.MethodGet, "conversations", nil)
		if err != nil {
			return append(out, err.Error())
		}
		var viaDo []*chatshipper.Conversation
		_, err = s.c.Do(req, &viaDo)
		if d := rtwfComparePage(convPage, viaDo, err); d != "" {
			out = append(out, fmt.Sprintf("Do into []*Conversation (chunked %v): %s", chunked, d))
		}
		s.set(msgPage, chunked)
		msgs, _, err := s.c.Messages.List(ctx, chatshipper.NewQuery().Where("conversation", chatshipper.Eq("65f2c1d0e4b0a1b2c3d4e5f0")))
		if d := rtwfComparePage(msgPage, msgs, err); d != "" {
			out = append(out, fmt.Sprintf("Messages.List (chunked %v): %s", chunked, d))
		}
		req, err = s.c.NewRequest(ctx, http.MethodGet, "messages", nil)
		if err != nil {
			return append(out, err.Error())
		}
		var viaDoM []*chatshipper.Message
		_, err = s.c.Do(req, &viaDoM)
		if d := rtwfComparePage(msgPage, viaDoM, err); d != "" {
			out = append(out, fmt.Sprintf("Do into []*Message (chunked %v): %s", chunked, d))
		}
	}
	return out
}

// checkSingle gets one conversation and one message and compares with
// encoding/json (only for documents encoding/json reads as an object).
func (s *rtwfPageServer) checkSingle(convDoc, msgDoc []byte) []string {
	ctx := context.Background()
	var out []string
	var wc chatshipper.Conversation
	if json.Unmarshal(convDoc, &wc) == nil && bytes.HasPrefix(bytes.TrimSpace(convDoc), []byte("{")) {
		s.set(convDoc, false)
		got, _, err := s.c.Conversations.Get(ctx, "65f2c1d0e4b0a1b2c3d4e5f0", nil)
		if err != nil {
			out = append(out, fmt.Sprintf("Conversations.Get: %v", err))
		} else if d := rtwfDiff(got, &wc); len(d) > 0 {
			out = append(out, "Conversations.Get: "+strings.Join(d, "\n"))
		}
	}
	var wm chatshipper.Message
	if json.Unmarshal(msgDoc, &wm) == nil && bytes.HasPrefix(bytes.TrimSpace(msgDoc), []byte("{")) {
		s.set(msgDoc, true)
		got, _, err := s.c.Messages.Get(ctx, "65f2c2a5e4b0a1b2c3d4e5f6", nil)
		if err != nil {
			out = append(out, fmt.Sprintf("Messages.Get: %v", err))
		} else if d := rtwfDiff(got, &wm); len(d) > 0 {
			out = append(out, "Messages.Get: "+strings.Join(d, "\n"))
		}
	}
	return out
}

func rtwfPageOf(docs ...string) []byte {
	return []byte("[" + strings.Join(docs, ",") + "]")
}

// TestRTWFPagesTimestamps serves pages whose items carry timestamps of
// every shape (one hostile item between canonical ones) and compares List,
// Do and Get with encoding/json.
func TestRTWFPagesTimestamps(t *testing.T) {
	t.Parallel()
	s := newRTWFPageServer(t)
	shapes := rtwfTSShapes
	if os.Getenv("RTWF_CHILD") == "" {
		shapes = append(slicesClone(shapes), rtwfRandomTS(rand.New(rand.NewPCG(9, 9)), 200)...)
	}
	for _, raw := range shapes {
		p := rtwfParts{ts: raw}
		if len(raw)%2 == 0 {
			p.ws = "\n  "
		}
		cv, m := rtwfConvDoc(p), rtwfMsgDoc(p)
		for _, d := range s.checkAll(rtwfPageOf(rtwfConvDoc(rtwfParts{}), cv, rtwfConvDoc(rtwfParts{})), rtwfPageOf(rtwfMsgDoc(rtwfParts{}), m, rtwfMsgDoc(rtwfParts{}))) {
			t.Errorf("timestamp %s: %s", raw, d)
		}
		for _, d := range s.checkSingle([]byte(cv), []byte(m)) {
			t.Errorf("timestamp %s: %s", raw, d)
		}
	}
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// TestRTWFPagesStringsAndMeta serves pages with hostile strings (special
// bytes at several positions, lengths 0-100, alike strings) and hostile
// meta objects, and compares List, Do and Get with encoding/json.
func TestRTWFPagesStringsAndMeta(t *testing.T) {
	t.Parallel()
	s := newRTWFPageServer(t)
	var strs []string
	for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 100} {
		for si, sp := range rtwfSpecials {
			if raceEnabled && si%3 != 0 {
				continue
			}
			for _, p := range []int{0, n / 2, n} {
				f := rtwfFill(n, si)
				strs = append(strs, `"`+f[:p]+sp+f[p:]+`"`)
			}
		}
	}
	for _, str := range strs {
		p := rtwfParts{str: str}
		cv, m := rtwfConvDoc(p), rtwfMsgDoc(p)
		alike := strings.Replace(str, "a", "b", 1)
		q := rtwfParts{str: alike}
		for _, d := range s.checkAll(rtwfPageOf(cv, rtwfConvDoc(q)), rtwfPageOf(m, rtwfMsgDoc(q))) {
			t.Errorf("string %s: %s", rtwfAbbrev(str), d)
		}
	}
	for _, meta := range rtwfMetas {
		p := rtwfParts{meta: meta}
		cv, m := rtwfConvDoc(p), rtwfMsgDoc(p)
		for _, d := range s.checkAll(rtwfPageOf(cv, rtwfConvDoc(rtwfParts{})), rtwfPageOf(m)) {
			t.Errorf("meta %q: %s", meta, d)
		}
		for _, d := range s.checkSingle([]byte(cv), []byte(m)) {
			t.Errorf("meta %q: %s", meta, d)
		}
	}
}

// TestRTWFPagesIndependence lists pages that share strings from several
// goroutines, scribbles on the items of some lists and keeps others: the
// kept items must stay what encoding/json makes of their page.
func TestRTWFPagesIndependence(t *testing.T) {
	t.Parallel()
	s := newRTWFPageServer(t)
	_ = s
	type kept struct {
		page  []byte
		items []*chatshipper.Conversation
	}
	var mu sync.Mutex
	var all []kept
	var wg sync.WaitGroup
	rounds := 60
	if raceEnabled {
		rounds = 20
	}
	for g := range 4 {
		wg.Go(func() {
			ps := newRTWFPageServer(t)
			for r := range rounds {
				var docs []string
				for i := range 5 {
					id := fmt.Sprintf("%08x%08x%08x", g, r, i)
					docs = append(docs, strings.Replace(rtwfConvDoc(rtwfParts{str: `"shared ` + id[:4] + `"`}), `"65f2c1d0e4b0a1b2c3d4e5f0"`, `"`+id+`"`, 1))
				}
				page := rtwfPageOf(docs...)
				ps.set(page, r%2 == 0)
				items, _, err := ps.c.Conversations.List(context.Background(), nil)
				if err != nil {
					t.Error(err)
					return
				}
				if r%2 == 0 {
					mu.Lock()
					all = append(all, kept{page, items})
					mu.Unlock()
					continue
				}
				for _, it := range items {
					it.Name, it.ID = "changed", "changed"
					for i := range it.Participants {
						it.Participants[i].Name = "changed"
						it.Participants[i].CreatedAt = chatshipper.NewTimestamp(time.Unix(5, 0))
					}
					it.Participants = append(it.Participants, chatshipper.Participant{Name: "appended"})
					for i := range it.Channels {
						it.Channels[i] = "changed"
					}
					it.Channels = append(it.Channels, "appended")
				}
			}
		})
	}
	wg.Wait()
	for _, k := range all {
		if d := rtwfComparePage(k.page, k.items, nil); d != "" {
			t.Fatalf("kept page changed:\n%s", d)
		}
	}
}

// ---------------------------------------------------------------------------
// Odds and ends.

// TestRTWFVerifyExactBytes checks VerifySignature against the bytes given:
// one byte more, less or changed anywhere in a body is a mismatch, also for
// bodies whose length is a multiple of the hash block and for invalid UTF-8.
func TestRTWFVerifyExactBytes(t *testing.T) {
	t.Parallel()
	for _, n := range []int{0, 1, 63, 64, 65, 128, 1000} {
		body := []byte(rtwfFill(n, 3))
		if n > 2 {
			body[1] = 0xff
		}
		sig := webhook.Sign(body, "k")
		if err := webhook.VerifySignature(body, sig, "k"); err != nil {
			t.Errorf("n=%d: %v", n, err)
		}
		if err := webhook.VerifySignature(append(bytes.Clone(body), ' '), sig, "k"); !errors.Is(err, webhook.ErrSignatureMismatch) {
			t.Errorf("n=%d, one byte more: %v", n, err)
		}
		if n > 0 {
			if err := webhook.VerifySignature(body[:n-1], sig, "k"); !errors.Is(err, webhook.ErrSignatureMismatch) {
				t.Errorf("n=%d, one byte less: %v", n, err)
			}
			for i := 0; i < n; i += 1 + n/16 {
				b := bytes.Clone(body)
				b[i] ^= 1
				if err := webhook.VerifySignature(b, sig, "k"); !errors.Is(err, webhook.ErrSignatureMismatch) {
					t.Errorf("n=%d, byte %d changed: %v", n, i, err)
				}
			}
		}
		if err := webhook.VerifySignature(body, strings.ToUpper(sig[:4])+strings.ToUpper(sig[4:]), "k"); err != nil {
			t.Errorf("n=%d, upper-case header: %v", n, err)
		}
		if !utf8.Valid(body) && n > 2 {
			// invalid UTF-8 must not be normalised before hashing
			fixed := bytes.ToValidUTF8(body, []byte("\ufffd"))
			if err := webhook.VerifySignature(fixed, sig, "k"); err == nil {
				t.Errorf("n=%d: the signature of invalid UTF-8 verifies the repaired body", n)
			}
		}
	}
}

// runtimeMem reads the process's cumulative allocation.
type runtimeMem struct{ total uint64 }

func (m *runtimeMem) read() {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	m.total = ms.TotalAlloc
}

// ---------------------------------------------------------------------------
// Re-spelled documents.

// rtwfSpell says how rtwfRewrite spells a document.
type rtwfSpell struct {
	ws        []string // whitespace put around every token, in turn
	escKeys   bool     // every key character as \uXXXX
	escValues bool     // every string value character as \uXXXX (surrogate pairs beyond the BMP)
	upperKeys bool     // keys in upper case
}

func rtwfEsc(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		if r > 0xffff {
			r -= 0x10000
			fmt.Fprintf(&b, `\u%04x\u%04X`, 0xd800+(r>>10), 0xdc00+(r&0x3ff))
			continue
		}
		fmt.Fprintf(&b, `\u%04x`, r)
	}
	b.WriteByte('"')
	return b.String()
}

// rtwfRewrite re-spells a valid JSON document token by token: the same
// values, other whitespace and escapes.
func rtwfRewrite(doc string, sp rtwfSpell) string {
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.UseNumber()
	var b strings.Builder
	k := 0
	ws := func() {
		if len(sp.ws) > 0 {
			b.WriteString(sp.ws[k%len(sp.ws)])
			k++
		}
	}
	type frame struct {
		obj   bool
		n     int
		atKey bool
	}
	var stack []frame
	for {
		tok, err := dec.Token()
		if err != nil {
			break
		}
		isKey := false
		if len(stack) > 0 {
			f := &stack[len(stack)-1]
			if _, closing := tok.(json.Delim); !closing || (tok != json.Delim('}') && tok != json.Delim(']')) {
				if f.n > 0 && (!f.obj || f.atKey) {
					ws()
					b.WriteByte(',')
				}
				if f.obj && !f.atKey {
					ws()
					b.WriteByte(':')
				}
				isKey = f.obj && f.atKey
				f.n++
				if f.obj {
					f.atKey = !f.atKey
				}
			}
		}
		ws()
		switch v := tok.(type) {
		case json.Delim:
			b.WriteString(v.String())
			switch v {
			case '{':
				stack = append(stack, frame{obj: true, atKey: true})
			case '[':
				stack = append(stack, frame{})
			default:
				stack = stack[:len(stack)-1]
			}
		case string:
			switch {
			case isKey && sp.upperKeys:
				m, _ := json.Marshal(strings.ToUpper(v))
				b.Write(m)
			case isKey && sp.escKeys, !isKey && sp.escValues:
				b.WriteString(rtwfEsc(v))
			default:
				m, _ := json.Marshal(v)
				b.Write(m)
			}
		case json.Number:
			b.WriteString(v.String())
		case bool:
			b.WriteString(strconv.FormatBool(v))
		case nil:
			b.WriteString("null")
		}
	}
	ws()
	return b.String()
}

var rtwfSpells = []struct {
	name string
	sp   rtwfSpell
}{
	{"spaces", rtwfSpell{ws: []string{" "}}},
	{"mixed-ws", rtwfSpell{ws: []string{"", "\n", " \t", "\r\n  ", ""}}},
	{"escaped-keys", rtwfSpell{escKeys: true}},
	{"escaped-values", rtwfSpell{escValues: true}},
	{"escaped-all-ws", rtwfSpell{ws: []string{"\t", ""}, escKeys: true, escValues: true}},
	{"upper-keys", rtwfSpell{upperKeys: true}},
}

// TestRTWFRespelled decodes the same events and pages spelled differently
// (whitespace around every token, keys and string values written entirely as
// \u escapes, timestamps included, keys in upper case) and compares with
// encoding/json.
func TestRTWFRespelled(t *testing.T) {
	t.Parallel()
	c := newRTWFCapture(t)
	s := newRTWFPageServer(t)
	docs := []rtwfParts{{}, {str: `"ünïcødé 😀 text with \"quotes\" and \\ backslashes"`}, {ts: `"2024-02-29T23:59:59.999+05:45"`}, {ts: `1710408413589`}, {meta: `{"a":{"b":[1,"x",{"c":null}]},"d":"2024-03-14T09:26:53.589Z"}`}}
	for _, p := range docs {
		for _, sp := range rtwfSpells {
			body := []byte(rtwfRewrite(rtwfEvent(p), sp.sp))
			if !json.Valid(body) {
				t.Fatalf("rewrite %s made invalid JSON: %s", sp.name, body)
			}
			if d := rtwfCheckParse(body); d != "" {
				t.Errorf("ParseEvent, %s: body %s\n%s", sp.name, rtwfAbbrev(string(body)), d)
			}
			if d := rtwfCheckServe(c, body); d != "" {
				t.Errorf("%s: body %s\n%s", sp.name, rtwfAbbrev(string(body)), d)
			}
			cp := rtwfRewrite(string(rtwfPageOf(rtwfConvDoc(p), rtwfConvDoc(rtwfParts{}))), sp.sp)
			mp := rtwfRewrite(string(rtwfPageOf(rtwfMsgDoc(p))), sp.sp)
			for _, d := range s.checkAll([]byte(cp), []byte(mp)) {
				t.Errorf("%s: %s", sp.name, d)
			}
		}
	}
}

// TestRTWFValuesOfEveryType puts null, numbers of every spelling and values
// of the wrong type into typed fields (ints, bools, strings, slices, refs,
// nested objects) of an event and a page, and compares with encoding/json:
// null leaves a field as it is, a fraction or overflow in an int is an
// *json.UnmarshalTypeError, and so on.
func TestRTWFValuesOfEveryType(t *testing.T) {
	t.Parallel()
	vals := []string{`null`, `0`, `-0`, `1`, `-1`, `1.0`, `1.5`, `1e2`, `1E+2`, `-1e-2`, `2147483648`, `9223372036854775807`, `9223372036854775808`,
		`-9223372036854775809`, `1e400`, `true`, `false`, `""`, `"1"`, `"true"`, `[]`, `[null]`, `[1]`, `["a",null,"b"]`, `{}`, `{"id":"x"}`, `{"id":null}`, `{"id":1}`}
	fields := []struct{ doc, key string }{
		{"m", "delay"}, {"m", "version"}, {"m", "isBackchannel"}, {"m", "text"}, {"m", "likes"}, {"m", "user"}, {"m", "conversation"},
		{"m", "actions"}, {"m", "items"}, {"m", "comments"}, {"m", "results"}, {"m", "role"}, {"m", "type"}, {"m", "meta"}, {"m", "id"},
		{"c", "categoryIndex"}, {"c", "participants"}, {"c", "channels"}, {"c", "forms"}, {"c", "messages"}, {"c", "contact"}, {"c", "createdBy"},
		{"c", "status"}, {"c", "touchpoints"}, {"p", "unreadCount"}, {"p", "inbox"}, {"p", "user"}, {"p", "createdAt"},
		{"e", "id"}, {"e", "organization"}, {"e", "activity"}, {"e", "timestamp"}, {"a", "actor"}, {"a", "published"}, {"a", "type"}, {"l", "conversation"},
	}
	c := newRTWFCapture(t)
	s := newRTWFPageServer(t)
	for _, f := range fields {
		for _, v := range vals {
			ev := rtwfEvent(rtwfParts{})
			var conv, msg string
			switch f.doc {
			case "m":
				msg = rtwfMsgDoc(rtwfParts{})
				msg2 := msg[:len(msg)-1] + `,"` + f.key + `":` + v + `}`
				ev = strings.Replace(ev, msg, msg2, 1)
				msg = msg2
			case "c":
				conv = rtwfConvDoc(rtwfParts{})
				conv2 := conv[:len(conv)-1] + `,"` + f.key + `":` + v + `}`
				ev = strings.Replace(ev, conv, conv2, 1)
				conv = conv2
			case "p":
				conv = rtwfConvDoc(rtwfParts{})
				conv2 := strings.Replace(conv, `"participants":[{`, `"participants":[{"`+f.key+`":`+v+`,`, 1)
				ev = strings.Replace(ev, conv, conv2, 1)
				conv = conv2
			case "e":
				ev = ev[:len(ev)-1] + `,"` + f.key + `":` + v + `}`
			case "a":
				ev = strings.Replace(ev, `"activity":{`, `"activity":{"`+f.key+`":`+v+`,`, 1)
			case "l":
				ev = strings.Replace(ev, `"links":{`, `"links":{"`+f.key+`":`+v+`,`, 1)
			}
			if d := rtwfCheckParse([]byte(ev)); d != "" {
				t.Errorf("ParseEvent, %s.%s = %s:\n%s", f.doc, f.key, v, d)
			}
			if d := rtwfCheckServe(c, []byte(ev)); d != "" {
				t.Errorf("%s.%s = %s:\n%s", f.doc, f.key, v, d)
			}
			if conv != "" || msg != "" {
				if conv == "" {
					conv = rtwfConvDoc(rtwfParts{})
				}
				if msg == "" {
					msg = rtwfMsgDoc(rtwfParts{})
				}
				for _, d := range s.checkAll(rtwfPageOf(conv), rtwfPageOf(msg)) {
					t.Errorf("%s.%s = %s: %s", f.doc, f.key, v, d)
				}
			}
		}
	}
}

// TestRTWFStructure attacks the document's structure: unknown keys with
// values full of brackets and quotes, keys that are prefixes of known ones,
// data members in any order, deep nesting up to and over encoding/json's
// limit, top-level values that are not objects, trailing bytes, and large
// documents (1000 participants, a 200 KB text, a 100 KB meta).
func TestRTWFStructure(t *testing.T) {
	t.Parallel()
	ev := rtwfEvent(rtwfParts{})
	conv := rtwfConvDoc(rtwfParts{})
	msg := rtwfMsgDoc(rtwfParts{})
	nasty := `{"a":[1,{"b":"\"}]\\"},"]}[{"],"c":{"d":{"e":[[],[[]],{}]}},"f":"\\\\\""}`
	deep := func(n int) string { return strings.Repeat(`{"a":[`, n) + strings.Repeat(`]}`, n) }
	deepArr := func(n int) string { return strings.Repeat(`[`, n) + strings.Repeat(`]`, n) }
	var parts []string
	for i := range 1000 {
		parts = append(parts, fmt.Sprintf(`{"user":"%024x","name":"P %d","role":"agent","unreadCount":%d,"createdAt":"2024-03-14T09:20:%02d.%03dZ"}`, i, i, i, i%60, i))
	}
	bigConv := strings.Replace(conv, `"participants":[`, `"participants":[`+strings.Join(parts, ",")+`,`, 1)
	bigMeta := `{"blob":"` + strings.Repeat(`x\"y\\z\u00e9`, 10000) + `","n":[` + strings.Repeat(`1,`, 10000) + `2]}`
	bodies := []string{
		strings.Replace(ev, `"data":{`, `"data":{"unknown":`+nasty+`,`, 1),
		strings.Replace(ev, `"activity":{`, `"activity":{"unknown":`+nasty+`,`, 1),
		strings.Replace(ev, conv, conv[:len(conv)-1]+`,"unknown":`+nasty+`}`, 1),
		strings.Replace(ev, msg, msg[:len(msg)-1]+`,"unknown":`+nasty+`,"tex":"prefix","textx":"suffix","i":"x","ids":["y"]}`, 1),
		strings.Replace(ev, `"participants":[{`, `"participants":[{"unknown":`+nasty+`,`, 1),
		ev[:len(ev)-1] + `,"unknown":` + nasty + `}`,
		`{"data":{"links":{"conversation":"l"},"message":{"id":"m","text":"t"},"conversation":{"id":"c"}},"event":"message.create.contact.chat","id":"e"}`,
		`{"data":{"message":{"id":"m","text":"t"},"conversation":{"id":"c"}},"event":"message.create.contact.chat","id":"e"}`,
		strings.Replace(ev, `"intent":"greeting"`, `"deep":`+deep(4990), 1),
		strings.Replace(ev, `"intent":"greeting"`, `"deep":`+deep(5010), 1),
		strings.Replace(ev, `"intent":"greeting"`, `"deep":`+deepArr(9990), 1),
		strings.Replace(ev, `"intent":"greeting"`, `"deep":`+deepArr(10010), 1),
		strings.Replace(ev, `"data":{`, `"data":{"unknown":`+deepArr(9000)+`,`, 1),
		strings.Replace(ev, `"data":{`, `"data":{"unknown":`+deepArr(11000)+`,`, 1),
		`[]`, `null`, `"x"`, `1`, `{}`, ``, ` `, `{"event":"message.create.contact.chat"}`, `{"event":"message.create.contact.chat","data":null}`,
		`{"event":"message.create.contact.chat","data":{}}`, `{"event":"message.create.contact.chat","data":[]}`, `{"event":"message.create.contact.chat","data":{"message":null,"conversation":null,"links":null}}`,
		`{"event":"message.create.contact.chat","data":{"message":[]}}`, `{"event":1}`, `{"event":null}`, `{"event":"message"}`, `{"event":"message."}`,
		ev + ` `, ev + "\n\t", ev + `x`, ev + `{}`, ev + `]`, "\xef\xbb\xbf" + ev, ev[:len(ev)-1], ev[:len(ev)/2],
		strings.Replace(ev, conv, bigConv, 1),
		strings.Replace(ev, `"text":"Jenny Jones"`, `"text":"`+strings.Repeat("long text é ", 20000)+`"`, 1),
		strings.Replace(ev, `"intent":"greeting"`, `"big":`+bigMeta, 1),
	}
	c := newRTWFCapture(t, webhook.WithMaxBody(4<<20))
	for _, b := range bodies {
		if d := rtwfCheckParse([]byte(b)); d != "" {
			t.Errorf("ParseEvent, body %s:\n%s", rtwfAbbrev(b), d)
		}
		if d := rtwfCheckServe(c, []byte(b)); d != "" {
			t.Errorf("body %s:\n%s", rtwfAbbrev(b), d)
		}
	}
}

// TestRTWFServeBufferReuse delivers events through hand-built requests and
// overwrites the request's buffer as soon as ServeHTTP returns (with
// WithAsync the handlers run later): the events must read the bytes sent.
func TestRTWFServeBufferReuse(t *testing.T) {
	t.Parallel()
	h, err := webhook.NewHandler(webhook.WithLogger(nil), webhook.WithDedupe(0), webhook.WithAsync(1, 500))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	got := map[string]*webhook.Event{}
	if err := h.Handle("**", func(_ context.Context, e *webhook.Event) error {
		mu.Lock()
		got[e.ID] = e
		mu.Unlock()
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 0, 8192)
	for i := range 300 {
		body := rtwfIndepBody(i)
		buf = append(buf[:0], body...)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(buf)))
		for k := range buf {
			buf[k] = '"'
		}
		if w.Code != http.StatusOK {
			t.Fatalf("delivery %d: %d", i, w.Code)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 300 {
		t.Fatalf("%d events handled", len(got))
	}
	for i := range 300 {
		e := got[fmt.Sprintf("ev%024x", i)]
		if d := rtwfCompareEvent([]byte(rtwfIndepBody(i)), e, nil); d != "" {
			t.Fatalf("event %d:\n%s", i, d)
		}
	}
}

// ---------------------------------------------------------------------------
// The in-memory deduper against a model.

// rtwfModelEntry is what the model knows of an ID: its latest claim, and
// whether that claim is running, done or forgotten.
type rtwfModelEntry struct {
	token string
	state string // "running", "done", "none"
}

// TestRTWFDedupeModelExact drives a MemoryDeduper with random Begin and
// Finish calls (Finish of current, stale, finished and twice-finished
// claims, with either outcome) over no more IDs than it holds, so nothing
// is ever evicted, and checks every answer against the documented model:
// Begin answers new, running or done; Finish settles only the ID's current
// running claim, returns ErrClaimLost when another claim holds it, and
// leaves a done or forgotten ID as it is; Len counts running and done IDs.
func TestRTWFDedupeModelExact(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, size := range []int{1, 2, 3, 8, 33} {
		for seed := range 4 {
			t.Run(fmt.Sprintf("size%d/seed%d", size, seed), func(t *testing.T) {
				t.Parallel()
				d, err := webhook.NewMemoryDeduper(size, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				r := rand.New(rand.NewPCG(uint64(size), uint64(seed)))
				model := map[string]*rtwfModelEntry{}
				var claims []webhook.DedupeClaim
				var log []string
				fail := func(format string, args ...any) {
					t.Helper()
					tail := log
					if len(tail) > 12 {
						tail = tail[len(tail)-12:]
					}
					t.Fatalf(format+"\nlast operations:\n  %s", append(args, strings.Join(tail, "\n  "))...)
				}
				ops := 6000
				if raceEnabled {
					ops = 1500
				}
				for range ops {
					if len(claims) == 0 || r.IntN(2) == 0 {
						id := fmt.Sprintf("id%d", r.IntN(size))
						c, err := d.Begin(ctx, id)
						if err != nil {
							fail("Begin: %v", err)
						}
						log = append(log, fmt.Sprintf("Begin(%s) = %v %s", id, c.State, c.Token))
						m := model[id]
						want := webhook.DedupeNew
						if m != nil && m.state == "running" {
							want = webhook.DedupeRunning
						} else if m != nil && m.state == "done" {
							want = webhook.DedupeDone
						}
						if c.State != want || c.ID != id {
							fail("Begin(%s) = %+v, want %v", id, c, want)
						}
						if c.State == webhook.DedupeNew {
							model[id] = &rtwfModelEntry{token: c.Token, state: "running"}
							claims = append(claims, c)
						}
					} else {
						c := claims[r.IntN(len(claims))]
						ok := r.IntN(2) == 0
						err := d.Finish(ctx, c, ok)
						log = append(log, fmt.Sprintf("Finish(%s %s, %v) = %v", c.ID, c.Token, ok, err))
						m := model[c.ID]
						switch {
						case m.token == c.Token && m.state == "running":
							if err != nil {
								fail("Finish of the current claim of %s: %v", c.ID, err)
							}
							m.state = map[bool]string{true: "done", false: "none"}[ok]
						case m.state == "running":
							if !errors.Is(err, webhook.ErrClaimLost) {
								fail("Finish of a stale claim of %s while another runs: %v, want ErrClaimLost", c.ID, err)
							}
						default:
							if err != nil && !errors.Is(err, webhook.ErrClaimLost) {
								fail("Finish of a settled claim of %s: %v", c.ID, err)
							}
						}
					}
					n := 0
					for _, m := range model {
						if m.state != "none" {
							n++
						}
					}
					if d.Len() != n {
						fail("Len %d, model holds %d", d.Len(), n)
					}
				}
			})
		}
	}
}

// TestRTWFDedupeModelEvicting does the same over more IDs than the deduper
// holds, and with time passing beyond the TTL (fake time), where an ID may be
// forgotten at any point: a Begin that answers running or done must then be
// explained by the ID's latest claim (running: not settled; done: finished
// with success), so a stale Finish can never make an ID done or forget a
// newer claim.
func TestRTWFDedupeModelEvicting(t *testing.T) {
	t.Parallel()
	for _, size := range []int{1, 2, 4, 16} {
		for _, pool := range []int{size + 1, 2 * size, 5 * size} {
			t.Run(fmt.Sprintf("size%d/pool%d", size, pool), func(t *testing.T) {
				t.Parallel()
				synctest.Test(t, func(t *testing.T) {
					ctx := context.Background()
					d, err := webhook.NewMemoryDeduper(size, time.Hour)
					if err != nil {
						t.Fatal(err)
					}
					r := rand.New(rand.NewPCG(uint64(size), uint64(pool)))
					model := map[string]*rtwfModelEntry{}
					var claims []webhook.DedupeClaim
					ops := 6000
					if raceEnabled {
						ops = 1500
					}
					for range ops {
						switch k := r.IntN(10); {
						case k == 0:
							time.Sleep(time.Duration(r.IntN(40)) * time.Minute)
						case k < 5 || len(claims) == 0:
							id := fmt.Sprintf("id%d", r.IntN(pool))
							c, err := d.Begin(ctx, id)
							if err != nil {
								t.Fatal(err)
							}
							m := model[id]
							switch c.State {
							case webhook.DedupeNew:
								model[id] = &rtwfModelEntry{token: c.Token, state: "running"}
								claims = append(claims, c)
							case webhook.DedupeRunning:
								if m == nil || m.state != "running" {
									t.Fatalf("Begin(%s) = running, but its latest claim is %+v", id, m)
								}
							case webhook.DedupeDone:
								if m == nil || m.state != "done" {
									t.Fatalf("Begin(%s) = done, but its latest claim is %+v", id, m)
								}
							}
						default:
							c := claims[r.IntN(len(claims))]
							ok := r.IntN(2) == 0
							err := d.Finish(ctx, c, ok)
							if err != nil && !errors.Is(err, webhook.ErrClaimLost) {
								t.Fatalf("Finish: %v", err)
							}
							if m := model[c.ID]; m.token == c.Token && m.state == "running" {
								m.state = map[bool]string{true: "done", false: "none"}[ok]
							}
						}
						if d.Len() > size {
							t.Fatalf("Len %d > %d", d.Len(), size)
						}
					}
				})
			})
		}
	}
}

// TestRTWFWalkHostileItems walks (Concurrency and Prefetch, small pages) a
// listing whose conversations and messages carry hostile timestamps, strings
// and meta, and compares every item with encoding/json's reading of it.
func TestRTWFWalkHostileItems(t *testing.T) {
	t.Parallel()
	var convs, msgs []string
	add := func(p rtwfParts) {
		i := len(convs)
		id := fmt.Sprintf(`"%024x"`, i+1)
		cv := strings.Replace(rtwfConvDoc(p), `"65f2c1d0e4b0a1b2c3d4e5f0"`, id, 1)
		m := rtwfMsgDoc(p)
		m = `{"id":` + id + m[strings.Index(m, `,"conversation"`):]
		var c chatshipper.Conversation
		var mm chatshipper.Message
		if json.Unmarshal([]byte(cv), &c) == nil && json.Unmarshal([]byte(m), &mm) == nil {
			convs = append(convs, cv)
			msgs = append(msgs, m)
		}
	}
	for _, ts := range rtwfTSShapes {
		add(rtwfParts{ts: ts})
	}
	for si, sp := range rtwfSpecials {
		add(rtwfParts{str: `"` + rtwfFill(si+3, si)[:si/2] + sp + rtwfFill(20, si) + `"`})
	}
	for _, m := range rtwfMetas {
		add(rtwfParts{meta: m})
	}
	for _, kind := range []string{"conversations", "messages"} {
		docs := convs
		if kind == "messages" {
			docs = msgs
		}
		for _, opts := range [][]chatshipper.WalkOption{nil, {chatshipper.Concurrency(3)}, {chatshipper.Prefetch(2)}} {
			_, c := newRTDWalkServer(t, rtwfPageOf(docs...))
			i := 0
			seen := map[int]bool{}
			check := func(got any, id string, err error, want any) bool {
				if err != nil {
					t.Errorf("%s walk %d: item %d: %v", kind, len(opts), i, err)
					return false
				}
				i++
				// with Concurrency the order is not the listing's: find the
				// document by its id
				k, perr := strconv.ParseInt(id, 16, 64)
				if perr != nil || k < 1 || int(k) > len(docs) || seen[int(k)] {
					t.Errorf("%s walk %d: unexpected item id %q", kind, len(opts), id)
					return true
				}
				seen[int(k)] = true
				doc := docs[k-1]
				if err := json.Unmarshal([]byte(doc), want); err != nil {
					t.Fatal(err)
				}
				if d := rtwfDiff(got, want); len(d) > 0 {
					t.Errorf("%s walk %d: item %s (%s):\n%s", kind, len(opts), id, rtwfAbbrev(doc), strings.Join(d, "\n"))
				}
				return true
			}
			q := chatshipper.NewQuery().Limit(7)
			if kind == "conversations" {
				for it, err := range c.Conversations.Walk(context.Background(), q, opts...).Items() {
					var id string
					if it != nil {
						id = it.ID
					}
					if !check(it, id, err, &chatshipper.Conversation{}) {
						break
					}
				}
			} else {
				for it, err := range c.Messages.Walk(context.Background(), q.Where("conversation", chatshipper.Eq("65f2c1d0e4b0a1b2c3d4e5f0")), opts...).Items() {
					var id string
					if it != nil {
						id = it.ID
					}
					if !check(it, id, err, &chatshipper.Message{}) {
						break
					}
				}
			}
			if i != len(docs) {
				t.Errorf("%s walk %d: %d of %d items", kind, len(opts), i, len(docs))
			}
		}
	}
}

// TestRTWFStringCacheWithinEvent gives each string field of one event its
// own string, all alike (same length, one byte apart, at different
// positions), so that they compete for the same cache slots within a single
// decode; every field must read its own.
func TestRTWFStringCacheWithinEvent(t *testing.T) {
	t.Parallel()
	const fields = 12
	r := rand.New(rand.NewPCG(11, 12))
	for n := 1; n <= 80; n++ {
		for round := range 6 {
			base := rtwfFill(n, n+round)
			vals := make([]string, fields)
			for i := range vals {
				b := []byte(base)
				if i > 0 {
					p := (i*5 + round) % n
					b[p] = "abcdefghijklmnopqrstuvwxyz"[(i+round+r.IntN(26))%26]
				}
				vals[i] = string(b)
			}
			q := func(i int) string {
				if (i+round)%4 == 0 && len(vals[i]) > 0 {
					return `"` + fmt.Sprintf(`\u%04x`, vals[i][0]) + vals[i][1:] + `"`
				}
				return `"` + vals[i] + `"`
			}
			body := `{"id":` + q(0) + `,"event":"message.create.contact.chat","organization":` + q(1) +
				`,"data":{"conversation":{"id":` + q(2) + `,"name":` + q(3) + `,"status":` + q(4) + `,"channels":[` + q(5) + `,` + q(6) + `]},` +
				`"message":{"id":` + q(7) + `,"user":` + q(8) + `,"role":` + q(9) + `,"text":` + q(10) + `,"likes":[` + q(11) + `,` + q(0) + `]}}}`
			e, err := webhook.ParseEvent([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			cv, m := e.Data.Conversation, e.Data.Message
			got := []string{e.ID, e.Organization, cv.ID, cv.Name, string(cv.Status), cv.Channels[0], cv.Channels[1], m.ID, m.User.ID, string(m.Role), m.Text, m.Likes[0], m.Likes[1]}
			want := append(slicesClone(vals), vals[0])
			for i := range got {
				if got[i] != want[i] {
					t.Fatalf("n=%d round %d: field %d read %q, want %q (body %s)", n, round, i, got[i], want[i], body)
				}
			}
		}
	}
}

// TestRTWFTimestampCalendar reads every day of years around the calendar's
// edges (0, 1, 4, 100, 400, 1600, 1700, 1900, 1969, 1970, 2000, 2023, 2024,
// 2100, 9999), days 29-31 of every month included, and random Unix
// milliseconds, through ParseEvent, against encoding/json and time.
func TestRTWFTimestampCalendar(t *testing.T) {
	t.Parallel()
	years := []int{0, 1, 4, 100, 400, 1600, 1700, 1900, 1969, 1970, 2000, 2023, 2024, 2100, 9999}
	if raceEnabled {
		years = []int{0, 1900, 2000, 2024, 9999}
	}
	var raws []string
	for _, y := range years {
		for mo := 1; mo <= 12; mo++ {
			for d := 1; d <= 31; d++ {
				raws = append(raws, fmt.Sprintf(`"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ"`, y, mo, d, (d*7)%24, (d*13)%60, (d*17)%60, (d*37)%1000))
			}
		}
	}
	r := rand.New(rand.NewPCG(13, 14))
	for range 2000 {
		n := r.Int64N(1<<53) - 1<<52
		if r.IntN(3) == 0 {
			n = r.Int64N(253402300800000) // years 1970-9999
		}
		raws = append(raws, strconv.FormatInt(n, 10))
	}
	fails := 0
	for _, raw := range raws {
		if d := rtwfTSRef(raw); d != "" {
			t.Errorf("Timestamp: %s", d)
			fails++
		}
		body := []byte(`{"id":"e","event":"message.create.contact.chat","timestamp":` + raw + `,"data":{"conversation":{"id":"c","createdAt":` + raw + `},"message":{"id":"m","updatedAt":` + raw + `}}}`)
		if d := rtwfCheckParse(body); d != "" {
			t.Errorf("timestamp %s:\n%s", raw, d)
			fails++
		}
		if fails > 20 {
			t.Fatal("too many failures")
		}
	}
}

// TestRTWFDispatchAndServeShareDedupe hands the same event to ServeHTTP and
// to Dispatch (after ParseEvent): the documented shared duplicate check
// runs it once; events without an ID are never deduplicated.
func TestRTWFDispatchAndServeShareDedupe(t *testing.T) {
	t.Parallel()
	var runs atomic.Int32
	h, err := webhook.NewHandler(webhook.WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Handle("**", func(context.Context, *webhook.Event) error { runs.Add(1); return nil }); err != nil {
		t.Fatal(err)
	}
	body := []byte(rtwfIndepBody(77))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(body)))
	e, err := webhook.ParseEvent(body)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Dispatch(context.Background(), e); err != nil {
		t.Fatal(err)
	}
	if w.Code != 200 || runs.Load() != 1 {
		t.Errorf("ServeHTTP then Dispatch of the same event: answered %d, ran %d times", w.Code, runs.Load())
	}
	noID := []byte(strings.Replace(string(body), `"id":"ev`, `"idx":"ev`, 1))
	for range 2 {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/hook", bytes.NewReader(noID)))
	}
	if runs.Load() != 3 {
		t.Errorf("an event without an ID delivered twice ran %d times in all, want 3", runs.Load())
	}
}

// TestRTWFExpectContinue sends deliveries with "Expect: 100-continue":
// within the maximum the body is asked for and accepted; over it the 413
// comes without the body being asked for.
func TestRTWFExpectContinue(t *testing.T) {
	t.Parallel()
	s := newRTWFTCP(t, webhook.WithSecret("rtwf-secret"), webhook.WithMaxBody(4096))
	body := []byte(rtwfIndepBody(78))
	conn, err := net.Dial("tcp", s.ts.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(conn)
	_, _ = io.WriteString(conn, rtwfHead(len(body), webhook.Sign(body, "rtwf-secret"), "Expect: 100-continue"))
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue first: %v %v", resp, err)
	}
	_, _ = conn.Write(body)
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("want 200: %v %v", resp, err)
	}
	_ = resp.Body.Close()
	_, _ = io.WriteString(conn, rtwfHead(5000, webhook.Sign(body, "rtwf-secret"), "Expect: 100-continue"))
	resp, err = http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("over the maximum: want 413 without 100 Continue: %v %v", resp, err)
	}
}

// TestRTWFPagesContentLengthLies answers a List with a Content-Length larger
// than the page sent (then closes: the transfer is incomplete, so the call
// must fail rather than return the items) and smaller than it (the body is
// the prefix: what encoding/json makes of that prefix).
func TestRTWFPagesContentLengthLies(t *testing.T) {
	t.Parallel()
	page := rtwfPageOf(rtwfConvDoc(rtwfParts{}), rtwfConvDoc(rtwfParts{ts: `"2024-02-29T00:00:00.000Z"`}))
	var claim atomic.Int64
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(bw, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", claim.Load())
		_, _ = bw.Write(page)
		_ = bw.Flush()
	}))
	t.Cleanup(ts.Close)
	c := rtdClient(t, ts.URL)
	for _, n := range []int64{int64(len(page)) + 1, int64(len(page)) + 1000} {
		claim.Store(n)
		items, _, err := c.Conversations.List(context.Background(), nil)
		if err == nil {
			t.Errorf("Content-Length %d for a %d-byte page: List returned %d items and no error", n, len(page), len(items))
		}
	}
	for _, n := range []int64{int64(len(page)) - 1, int64(len(page)) / 2, 1} {
		claim.Store(n)
		items, _, err := c.Conversations.List(context.Background(), nil)
		if d := rtwfComparePage(page[:n], items, err); d != "" {
			t.Errorf("Content-Length %d (prefix of the page): %s", n, d)
		}
	}
}

// TestRTWFDedupeTokensNeverRepeat reuses the single slot of a deduper of
// size 1 more than 2^17 times: tokens must never repeat (a counter that
// wraps would let a claim 65536 generations old settle the current one),
// and a stale claim of an ID claimed again after that many reuses must not
// settle the new claim.
func TestRTWFDedupeTokensNeverRepeat(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	d, err := webhook.NewMemoryDeduper(1, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	seen := make(map[string]int, 1<<17+16)
	first, _ := d.Begin(ctx, "A")
	seen[first.Token] = 0
	for i := 1; i <= 1<<17+8; i++ {
		id := "x" + strconv.Itoa(i)
		if i%(1<<16) == 0 || i == 1<<17+8 {
			id = "A"
		}
		c, err := d.Begin(ctx, id)
		if err != nil || c.State != webhook.DedupeNew {
			t.Fatalf("Begin %d: %+v %v", i, c, err)
		}
		if j, dup := seen[c.Token]; dup {
			t.Fatalf("claim %d (%s) has the token %q of claim %d", i, id, c.Token, j)
		}
		seen[c.Token] = i
		if id == "A" {
			if err := d.Finish(ctx, first, true); !errors.Is(err, webhook.ErrClaimLost) {
				t.Fatalf("claim of A from %d claims ago: Finish %v, want ErrClaimLost", i, err)
			}
			if got, _ := d.Begin(ctx, "A"); got.State != webhook.DedupeRunning {
				t.Fatalf("A reads %v after a stale Finish", got.State)
			}
		}
	}
}

// TestRTWFDedupeAsyncRetry retries, with WithAsync, a delivery that was
// acknowledged and is still queued or running: it must not run twice.
func TestRTWFDedupeAsyncRetry(t *testing.T) {
	t.Parallel()
	b := newRTWFBlocking(t, webhook.WithAsync(1, 10))
	if code := rtwfPost(b.h, "Q1"); code != 200 {
		t.Fatalf("Q1: %d", code)
	}
	<-b.started // Q1 runs, blocks the only worker
	if code := rtwfPost(b.h, "Q2"); code != 200 {
		t.Fatalf("Q2: %d", code)
	}
	// Q2 is queued; retries of both
	for _, id := range []string{"Q1", "Q2", "Q2"} {
		if code := rtwfPost(b.h, id); code != 200 && code != http.StatusServiceUnavailable {
			t.Errorf("retry of %s: %d", id, code)
		}
	}
	b.ch("Q1") <- nil
	if id := <-b.started; id != "Q2" {
		t.Fatalf("started %s", id)
	}
	b.ch("Q2") <- nil
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := b.h.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.runs["Q1"] != 1 || b.runs["Q2"] != 1 {
		t.Errorf("runs %v, want each once", b.runs)
	}
}
