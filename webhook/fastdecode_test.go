package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/fastjson"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// requireFastAgrees decodes body with decodeEventFast and with the codec
// (encoding/json, or from Go 1.27 encoding/json/v2 with encoding/json's
// options: what parseEvent falls back to) and fails unless the fast decoder
// either gave up or produced exactly what the codec produced (and the codec
// accepted the body). It returns
// whether the fast decoder succeeded, and its result.
func requireFastAgrees(t testing.TB, body []byte) (bool, eventTyped) {
	t.Helper()
	var fast, std eventTyped
	ok := decodeEventFast(body, &fast)
	stdErr := wire.Unmarshal(body, &std)
	if !ok {
		return false, fast
	}
	require.NoError(t, stdErr, "the fast decoder accepted a body encoding/json refuses: %q", body)
	fast = exported(fast)
	require.Equal(t, std, fast, "fast and encoding/json disagree on %q", body)
	return true, fast
}

// exported returns t as the codec would have it: without the storage
// decodeEventFast puts the activity, conversation and message in (their
// pointers then point to copies).
func exported(t eventTyped) eventTyped {
	if t.Activity != nil {
		a := *t.Activity
		t.Activity = &a
	}
	if t.Data.Conversation != nil {
		c := *t.Data.Conversation
		t.Data.Conversation = &c
	}
	if t.Data.Message != nil {
		m := *t.Data.Message
		t.Data.Message = &m
	}
	t.act, t.Data.conv, t.Data.msg = Activity{}, chatshipper.Conversation{}, chatshipper.Message{}
	return t
}

// TestFastFieldTables checks that each fast field table lists exactly the JSON
// names of its type: a field added to a model without a decoder line fails
// here, before any payload is involved.
func TestFastFieldTables(t *testing.T) {
	t.Parallel()
	require.NoError(t, fastjson.CheckTable(fastEventFields))
	require.NoError(t, fastjson.CheckTable(fastActivityFields))
	require.NoError(t, fastjson.CheckTable(fastActivityObjectFields))
	require.NoError(t, fastjson.CheckTable(fastDataFields))
}

// filler sets every field of a value to a distinct non-zero value.
type filler struct {
	t *testing.T
	n int
}

func (f *filler) next() int { f.n++; return f.n }

func (f *filler) fill(v reflect.Value, path string, depth int) {
	if depth > 6 { // CardItem.Actions and the like: deep enough
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("s%d", f.next()))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int:
		v.SetInt(int64(f.next()))
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		f.fill(v.Elem(), path, depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		f.fill(v.Index(0), path+"[0]", depth+1)
	case reflect.Map:
		switch m := v.Addr().Interface().(type) {
		case *chatshipper.Meta:
			*m = chatshipper.Meta{"k": fmt.Sprintf("m%d", f.next()), "n": 1.5, "o": map[string]any{"a": []any{2.0, true, nil, "x"}}}
		case *map[string]string:
			*m = map[string]string{"k": fmt.Sprintf("l%d", f.next())}
		default:
			f.t.Fatalf("%s: no filler for %s", path, v.Type())
		}
	case reflect.Struct:
		switch x := v.Addr().Interface().(type) {
		case *chatshipper.Timestamp:
			*x = chatshipper.NewTimestamp(time.Date(2024, 3, 14, 9, 26, 53, f.next()*int(time.Millisecond), time.UTC))
			return
		}
		if strings.HasPrefix(v.Type().Name(), "Ref[") {
			v.FieldByName("ID").SetString(fmt.Sprintf("%024x", f.next()))
			return
		}
		for i := range v.NumField() {
			if sf := v.Type().Field(i); sf.IsExported() && sf.Tag.Get("json") != "-" {
				f.fill(v.Field(i), path+"."+sf.Name, depth+1)
			}
		}
	default:
		f.t.Fatalf("%s: no filler for kind %s", path, v.Kind())
	}
}

// TestEventFastDecodeEveryField encodes a message event with every field of
// every type the fast decoder reads set to a distinct value, and requires the
// fast decoder to read all of it back, exactly as encoding/json does.
func TestEventFastDecodeEveryField(t *testing.T) {
	t.Parallel()
	var want eventTyped
	(&filler{t: t}).fill(reflect.ValueOf(&want).Elem(), "event", 0)
	body, err := json.Marshal(want)
	require.NoError(t, err)

	ok, got := requireFastAgrees(t, body)
	require.True(t, ok, "the fast decoder gave up on %s", body)
	require.Equal(t, want, got)
}

// TestEventFastDecodeEveryToolchain: the fast decoder reads a message event
// itself on every Go version; from Go 1.27 it used to be left out, and the
// codec (encoding/json/v2) decoded every event at about twice its CPU.
func TestEventFastDecodeEveryToolchain(t *testing.T) {
	t.Parallel()
	var compact bytes.Buffer
	require.NoError(t, json.Compact(&compact, whFixture(t, "message.create.contact.chat.json")))
	ok, got := requireFastAgrees(t, compact.Bytes())
	require.True(t, ok, "the fast decoder gave up on the message.create fixture (%s)", wire.Engine)
	require.Equal(t, "Hi, do you have the blue model in stock?", got.Data.Message.Text)
}

// TestEventFastDecodeAgrees lists inputs the fast decoder must read itself,
// each giving what encoding/json gives.
func TestEventFastDecodeAgrees(t *testing.T) {
	t.Parallel()
	for _, tt := range fastAgreeCases(t) {
		t.Run(tt.name, func(t *testing.T) {
			ok, _ := requireFastAgrees(t, []byte(tt.body))
			require.True(t, ok, "the fast decoder gave up")
		})
	}
}

// fastCase is a named body for the fast decoder's tables.
type fastCase struct {
	name string
	body string
}

// fastAgreeCases are bodies the fast decoder must read itself.
func fastAgreeCases(tb testing.TB) []fastCase {
	return []fastCase{
		{"fixture", string(whFixture(tb, "message.create.contact.chat.json"))},
		{"nulls everywhere", `{"id":null,"event":"message.create.contact.chat","timestamp":null,"organization":null,"activity":null,
			"data":{"conversation":{"id":null,"organization":null,"categoryIndex":null,"participants":null,"meta":null,"channels":null,
			"messages":null,"forms":null,"createdAt":null},"message":{"text":null,"isBackchannel":null,"delay":null,"meta":null,
			"actions":null,"likes":null,"user":null},"links":null}}`},
		{"null data, conversation, message", `{"event":"message.update","data":{"conversation":null,"message":null}}`},
		{"data null", `{"event":"message.update","data":null}`},
		{"empty arrays and objects", `{"event":"message.create.contact.chat","data":{"conversation":{"participants":[],"channels":[],
			"messages":[],"forms":[],"results":[],"meta":{}},"message":{"likes":[],"actions":[],"items":[],"comments":[],"meta":{}},"links":{}}}`},
		{"escapes and non-ASCII", `{"event":"message.create.contact.chat","data":{"message":{"text":"Gr\u00fc\u00dfe \"Jenny\"\n\ud83d\ude00 caf\u00e9 ☕ 日本",
			"meta":{"ключ":"значение","esc":"a\/b\\c\t"}}}}`},
		{"invalid UTF-8 in a text", "{\"event\":\"message.create.contact.chat\",\"data\":{\"message\":{\"text\":\"bad \xff\xfe byte\"}}}"},
		{"lone surrogate escape", `{"event":"message.create.contact.chat","data":{"message":{"text":"\ud800x"}}}`},
		{"whitespace everywhere", " \n{ \"event\" :\t\"message.create.contact.chat\" , \"data\" : { \"message\" : { \"text\" : \"hi\" , \"delay\" : 5 } } } \r\n"},
		{"unknown keys with nested values", `{"event":"message.create.contact.chat","extra":{"a":[1,{"b":"\u0041"},[],{}],"c":-1.5e+3},
			"data":{"service":{"type":"webhook","params":{"url":"https://x"}},"message":{"text":"hi","reactions":[true,false,null]},
			"conversation":{"whatever":{"deep":[[[]]]}}}}`},
		{"numbers of every form in meta", `{"event":"message.create.contact.chat","data":{"message":{"meta":{"a":0,"b":-0,"c":1e5,
			"d":1.5E-3,"e":-12.25,"f":123456789012345678901234567890,"g":1e308}}}}`},
		{"integers", `{"event":"message.create.contact.chat","data":{"message":{"delay":-0,"version":9007199254740993},
			"conversation":{"categoryIndex":0,"participants":[{"unreadCount":42}]}}}`},
		{"populated references", `{"event":"message.create.contact.chat","data":{"conversation":{"contact":{"id":"5c2d3e4f5a6b7c8d9e0f1a2b",
			"name":"Jenny"},"messages":["65f2c2a5e4b0a1b2c3d4e5f6",{"id":"65f2c2a5e4b0a1b2c3d4e5f7","text":"x"}]},
			"message":{"user":{"id":"5b9e8d7c6b5a4f3e2d1c0b0a","name":"Bot"},"conversation":"65f2c1d0e4b0a1b2c3d4e5f0"}}}`},
		{"escaped reference", `{"event":"message.create.contact.chat","data":{"message":{"conversation":"65f2c1d0e4b0a1b2c3d4e5\u0066\u0030"}}}`},
		{"timestamps as Unix milliseconds and other forms", `{"event":"message.create.contact.chat","timestamp":1710408413589,
			"data":{"message":{"createdAt":"2024-03-14T10:26:53.589+01:00","updatedAt":""}}}`},
		{"null string elements", `{"event":"message.create.contact.chat","data":{"conversation":{"channels":["a",null]}}}`},
		{"null array elements of structs", `{"event":"message.create.contact.chat","data":{"conversation":{"participants":[null,{"name":"x"}]}}}`},
		{"meta is kept as received, even a number out of range and an invalid UTF-8 key",
			"{\"event\":\"message.create.contact.chat\",\"data\":{\"message\":{\"meta\":{\"x\":1e400,\"\xff\":1}}}}"},
		{"duplicate keys inside meta", `{"event":"message.create.contact.chat","data":{"message":{"meta":{"a":1,"a":{"b":2}}}}}`},
		{"duplicate link keys", `{"event":"message.update","data":{"links":{"conversation":"a","conversation":"b"}}}`},
		{"non-ASCII keys in meta", "{\"event\":\"message.create.contact.chat\",\"data\":{\"message\":{\"meta\":{\"\u212aelvin\":\"K\",\"ключ\":1}}}}"},
		{"not a message event", string(whFixture(tb, "conversation.update.json"))},
		{"service event", string(whFixture(tb, "service.create.json"))},
		{"activity", `{"event":"message.create.contact.chat","activity":{"@context":"c","type":"Create","actor":null,
			"object":{"id":"https://x/v2/messages/1","type":"Object","extra":1},"published":"2024-03-14T09:26:53Z","summary":"s"}}`},
		{"nested depth within the limit", `{"event":"message.create.contact.chat","data":{"message":{"meta":{"a":` +
			strings.Repeat("[", fastjson.MaxDepth-5) + strings.Repeat("]", fastjson.MaxDepth-5) + `}}}}`},
	}
}

// TestEventFastDecodeGivesUp lists inputs the fast decoder must leave to
// encoding/json: invalid JSON, and valid JSON whose meaning under
// encoding/json is not the plain one (merged duplicates, case-insensitive
// keys, type errors).
func TestEventFastDecodeGivesUp(t *testing.T) {
	t.Parallel()
	for _, tt := range fastGiveUpCases {
		t.Run(tt.name, func(t *testing.T) {
			ok, _ := requireFastAgrees(t, []byte(tt.body))
			require.False(t, ok, "the fast decoder should leave this to encoding/json")
		})
	}
}

const fastEv = `"event":"message.create.contact.chat"`

// fastGiveUpCases are bodies the fast decoder must leave to encoding/json.
var fastGiveUpCases = []fastCase{
	{"empty", ``},
	{"whitespace", `  `},
	{"null", `null`},
	{"array", `[]`},
	{"string", `"x"`},
	{"truncated", `{` + fastEv + `,"data":{"message":{"text":"hi"}`},
	{"trailing garbage", `{` + fastEv + `}x`},
	{"second document", `{` + fastEv + `} {}`},
	{"trailing comma in object", `{` + fastEv + `,}`},
	{"trailing comma in array", `{` + fastEv + `,"x":[1,]}`},
	{"leading comma in array", `{` + fastEv + `,"x":[,1]}`},
	{"missing colon", `{"event" "message.update"}`},
	{"missing comma", `{` + fastEv + ` "id":"x"}`},
	{"single quotes", `{'event':'message.update'}`},
	{"bad escape", `{` + fastEv + `,"data":{"message":{"text":"\x"}}}`},
	{"short unicode escape", `{` + fastEv + `,"data":{"message":{"text":"\u12"}}}`},
	{"control character in a string", "{" + fastEv + ",\"data\":{\"message\":{\"text\":\"a\tb\"}}}"},
	{"control character in a skipped string", "{" + fastEv + ",\"x\":\"a\nb\"}"},
	{"NUL after the document", "{" + fastEv + "}\x00"},
	{"bad literal", `{` + fastEv + `,"x":tru}`},
	{"literal with a tail", `{` + fastEv + `,"x":nullx}`},
	{"number with a leading zero", `{` + fastEv + `,"x":01}`},
	{"number with a bare dot", `{` + fastEv + `,"x":1.}`},
	{"number with a bare exponent", `{` + fastEv + `,"x":1e}`},
	{"plus sign", `{` + fastEv + `,"x":+1}`},
	{"bare minus", `{` + fastEv + `,"x":-}`},
	{"duplicate field", `{` + fastEv + `,"event":"message.update"}`},
	{"duplicate nested field", `{` + fastEv + `,"data":{"message":{"text":"a","text":"b"}}}`},
	{"field in another case", `{` + fastEv + `,"data":{"message":{"Text":"a"}}}`},
	{"field matched by Unicode folding (Kelvin sign)", "{" + fastEv + ",\"data\":{\"lin\u212as\":{\"conversation\":\"x\"}}}"},
	{"field matched by Unicode folding (long s)", "{" + fastEv + ",\"data\":{\"conversation\":{\"\u017ftatus\":\"closed\"}}}"},
	{"non-ASCII unknown key", `{` + fastEv + `,"data":{"message":{"tëxt":"a"}}}`},
	{"escaped key", `{` + fastEv + `,"data":{"message":{"te\u0078t":"a"}}}`},
	{"invalid UTF-8 key", "{" + fastEv + ",\"data\":{\"message\":{\"\xff\":1}}}"},
	{"string field given a number", `{` + fastEv + `,"data":{"message":{"text":1}}}`},
	{"bool field given a string", `{` + fastEv + `,"data":{"message":{"isBackchannel":"yes"}}}`},
	{"int field given a fraction", `{` + fastEv + `,"data":{"message":{"delay":1.5}}}`},
	{"int field given an exponent", `{` + fastEv + `,"data":{"message":{"delay":1e3}}}`},
	{"int overflow", `{` + fastEv + `,"data":{"message":{"delay":9223372036854775808}}}`},
	{"meta not an object", `{` + fastEv + `,"data":{"message":{"meta":[1]}}}`},
	{"link not a string", `{` + fastEv + `,"data":{"links":{"conversation":1}}}`},
	{"slice given an object", `{` + fastEv + `,"data":{"conversation":{"channels":{}}}}`},
	{"data not an object", `{` + fastEv + `,"data":"x"}`},
	{"bad timestamp", `{` + fastEv + `,"timestamp":"yesterday"}`},
	{"bad reference", `{` + fastEv + `,"organization":true}`},
	{"bad delegated value", `{` + fastEv + `,"data":{"message":{"actions":[{"type":1}]}}}`},
	{"skipped object with a bare key", `{` + fastEv + `,"x":{a:1}}`},
	{"skipped object without a colon", `{` + fastEv + `,"x":{"a" 1}}`},
	{"unterminated escape", `{` + fastEv + `,"x":"\`},
	{"unterminated unicode escape", `{` + fastEv + `,"x":"\u12`},
	{"unterminated key", `{` + fastEv + `,"da`},
	{"unterminated string value", `{` + fastEv + `,"data":{"message":{"text":"hi`},
	{"meta value not JSON", `{` + fastEv + `,"data":{"message":{"meta":{"a":+1}}}}`},
	{"too deep", `{` + fastEv + `,"x":` + strings.Repeat("[", fastjson.MaxDepth) + strings.Repeat("]", fastjson.MaxDepth) + `}`},
}

// TestEventFastDecodeCopiesStrings checks that decoded strings do not share
// the body's memory: changing the body afterwards changes nothing, and a
// string kept from an event does not keep the whole body alive.
func TestEventFastDecodeCopiesStrings(t *testing.T) {
	t.Parallel()
	body := whFixture(t, "message.create.contact.chat.json")
	var want, got eventTyped
	require.NoError(t, json.Unmarshal(body, &want))
	require.True(t, decodeEventFast(body, &got))
	for i := range body {
		body[i] = 'x'
	}
	require.Equal(t, want, exported(got))
}

// TestParseEventSameWithoutFastDecoder runs ParseEvent over the fixtures and
// the edge cases above and compares each outcome with the encoding/json-only
// path, errors included.
func TestParseEventSameWithoutFastDecoder(t *testing.T) {
	t.Parallel()
	bodies := [][]byte{
		whFixture(t, "message.create.contact.chat.json"),
		whFixture(t, "conversation.update.json"),
		whFixture(t, "service.create.json"),
		[]byte(`{"event":"message.create.contact.chat","data":{"message":{"Text":"a"}}}`),
		[]byte(`{"event":"message.create.contact.chat","data":{"links":{"conversation":1},"service":{"a":1}}}`),
		[]byte(`{"event":"message.create.contact.chat","data":{"message":{"delay":1.5}}}`),
		[]byte(`{"event":"message.create.contact.chat"}x`),
		[]byte(`null`),
	}
	for _, body := range bodies {
		got, gotErr := parseEvent(body)
		want, wantErr := parseEventStd(body)
		if wantErr != nil {
			require.EqualError(t, gotErr, wantErr.Error(), "%s", body)
			continue
		}
		require.NoError(t, gotErr, "%s", body)
		require.Equal(t, want, got, "%s", body)
	}
}

// parseEventStd is parseEvent with encoding/json alone.
func parseEventStd(body []byte) (*Event, error) { return decodeEvent(body, false) }

// FuzzEventFastDecode compares the fast decoder with encoding/json on
// arbitrary input: whenever the fast decoder accepts a body, encoding/json
// accepts it too and decodes the same value.
func FuzzEventFastDecode(f *testing.F) {
	for _, name := range []string{"message.create.contact.chat.json", "conversation.update.json", "service.create.json"} {
		f.Add(whFixture(f, name))
	}
	f.Add([]byte(`{"event":"message.create.contact.chat","data":{"message":{"text":"a\u00e9\n","meta":{"a":[1,-2.5e3,null,true,{}]},"delay":3}}}`))
	f.Add([]byte(`{"event":"m","data":{"conversation":{"participants":[{"user":"x","unreadCount":1,"inbox":true}],"categoryIndex":2}}}`))
	for _, c := range append(fastAgreeCases(f), fastGiveUpCases...) {
		f.Add([]byte(c.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		requireFastAgrees(t, body)
	})
}

// BenchmarkEventDecode compares the fast decoder with the codec (encoding/json
// before Go 1.27, encoding/json/v2 with encoding/json's options from Go 1.27)
// on the 2 KB message event.
func BenchmarkEventDecode(b *testing.B) {
	bodies, _ := benchDeliveries(b, 1)
	body := bodies[0]
	b.Run("fast", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			var e eventTyped
			if !decodeEventFast(body, &e) {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("codec", func(b *testing.B) {
		b.SetBytes(int64(len(body)))
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			var e eventTyped
			if err := wire.Unmarshal(body, &e); err != nil {
				b.Fatal(err)
			}
		}
	})
}
