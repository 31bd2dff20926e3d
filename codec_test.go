package chatshipper

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// decodeTarget is what the codec tests decode into: the SDK's own types with
// JSON methods (Ref, Timestamp, Object, Document, the message list) inside
// ordinary models.
type decodeTarget struct {
	Conversations []*Conversation `json:"conversations,omitempty"`
	Message       *Message        `json:"message,omitempty"`
	Posted        messageList     `json:"posted,omitempty"`
	Contact       Contact         `json:"contact"`
	Doc           Document        `json:"doc"`
	Ref           Ref[User]       `json:"ref"`
	At            Timestamp       `json:"at"`
	Meta          Object          `json:"meta"`
}

// errorKind classifies a decode error by what errors.As finds in it.
func errorKind(err error) string {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &se):
		return "syntax"
	case errors.As(err, &te):
		return "type"
	}
	return "other"
}

// TestDecodeSameOnEveryToolchain pins what the codec makes of inputs where
// encoding/json and encoding/json/v2 differ by default. .ci/run runs it on
// Go 1.26 (encoding/json) and Go 1.27 (encoding/json/v2): the same table
// passing on both is the proof that both paths agree.
func TestDecodeSameOnEveryToolchain(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name, in string
		want     string // encodeJSON of the result, when there is no error
		kind     string // errorKind of the error
	}{
		{"duplicate key, the last wins", `{"ref":"a","ref":"b"}`, `{"contact":{},"doc":{},"ref":"b","at":null,"meta":null}`, ""},
		{"duplicate key in a model", `{"message":{"text":"a","text":"b"}}`,
			`{"message":{"text":"b"},"contact":{},"doc":{},"ref":null,"at":null,"meta":null}`, ""},
		{"keys match fields case-insensitively", `{"MESSAGE":{"Text":"x","ROLE":"agent"}}`,
			`{"message":{"role":"agent","text":"x"},"contact":{},"doc":{},"ref":null,"at":null,"meta":null}`, ""},
		{"invalid UTF-8 becomes U+FFFD", "{\"message\":{\"text\":\"a\xffb\"}}",
			"{\"message\":{\"text\":\"a\ufffdb\"},\"contact\":{},\"doc\":{},\"ref\":null,\"at\":null,\"meta\":null}", ""},
		{"invalid UTF-8 in an ID", "{\"ref\":\"a\xffb\"}", "{\"contact\":{},\"doc\":{},\"ref\":\"a\ufffdb\",\"at\":null,\"meta\":null}", ""},
		{"null leaves a field as it is", `{"ref":"a","ref":null,"at":null}`, `{"contact":{},"doc":{},"ref":null,"at":null,"meta":null}`, ""},
		{"unknown fields are ignored", `{"nope":[1,{"x":2}],"message":{"nope":1}}`,
			`{"message":{"text":""},"contact":{},"doc":{},"ref":null,"at":null,"meta":null}`, ""},
		{"document keeps raw values (compacted on output)", `{"doc":{"b":[1, 2],"a":"x","a":"y"}}`, `{"contact":{},"doc":{"a":"y","b":[1,2]},"ref":null,"at":null,"meta":null}`, ""},
		{"meta is kept compacted", `{"meta":{"k": [1.0, "<"]}}`, `{"contact":{},"doc":{},"ref":null,"at":null,"meta":{"k":[1.0,"\u003c"]}}`, ""},
		{"one posted message", `{"posted":{"text":"x"}}`, `{"posted":[{"text":"x"}],"contact":{},"doc":{},"ref":null,"at":null,"meta":null}`, ""},
		{"timestamp forms", `{"at":"2018-09-30T01:31:43.457+02:00"}`, `{"contact":{},"doc":{},"ref":null,"at":"2018-09-29T23:31:43.457Z","meta":null}`, ""},
		{"timestamp as Unix ms", `{"at":1538271103457}`, `{"contact":{},"doc":{},"ref":null,"at":"2018-09-30T01:31:43.457Z","meta":null}`, ""},

		{"truncated", `{"message":{"text":"x"`, "", "syntax"},
		{"trailing garbage", `{"ref":"a"} x`, "", "syntax"},
		{"not JSON", `nope`, "", "syntax"},
		{"string for a number", `{"message":{"delay":"3"}}`, "", "type"},
		{"meta not an object", `{"meta":[1]}`, "", "type"},
		{"bad timestamp", `{"at":"yesterday"}`, "", "other"},
		{"ref of a wrong kind", `{"ref":12}`, "", "type"},
		{"document not an object", `{"doc":[1]}`, "", "other"},
	} {
		var v decodeTarget
		err := decodeJSON([]byte(c.in), &v)
		assert.Equal(t, c.kind, errorKind(err), "%s (%s): %v", c.name, wire.Engine, err)
		if c.kind != "" || err != nil {
			continue
		}
		out, err := encodeJSON(v)
		require.NoError(t, err, c.name)
		assert.Equal(t, c.want, string(out), "%s (%s)", c.name, wire.Engine)
	}
}

// addDecodeSeeds seeds the decode fuzz targets with the bench page's
// conversation, the table above and inputs near the edges.
func addDecodeSeeds(f *testing.F) {
	one, err := encodeJSON(benchConversation(1))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte(`{"conversations":[` + string(one) + `]}`))
	for _, s := range []string{
		`{"ref":"a","ref":"b"}`, `{"MESSAGE":{"Text":"x","ROLE":"agent"}}`, "{\"message\":{\"text\":\"a\xffb\"}}",
		"{\"ref\":\"a\xffb\"}", `{"doc":{"b":[1, 2],"a":"x","a":"y"}}`, `{"meta":{"k": [1.0, "<"]}}`, `{"posted":{"text":"x"}}`,
		`{"posted":[{"text":"x"},null]}`, `{"at":"2018-09-30T01:31:43.457+02:00"}`, `{"at":1538271103457}`, `{"at":"yesterday"}`,
		`{"ref":{"id":"5bb0277fd99faf11a3f4a37e","name":"x"}}`, `{"ref":12}`, `{"doc":[1]}`, `{"meta":[1]}`, `{"meta":null}`,
		`{"message":{"delay":"3"}}`, `{"message":{"text":"x"`, `{"contact":{"meta":{"a":{"b":[]}},"conversation":{"id":"x"}}}`,
		"{\"doc\":{\"\xff\":1}}", `{"doc":{"a\u0000":"\ud800"}}`, `{"meta":{"x":1e400}}`,
	} {
		f.Add([]byte(s))
	}
}

// FuzzDecode: on every toolchain, whatever the codec accepts encodes and
// decodes again to the same value.
func FuzzDecode(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var v decodeTarget
		if decodeJSON(data, &v) != nil {
			return
		}
		out, err := encodeJSON(v)
		if err != nil {
			t.Fatalf("%q decoded but does not encode: %v", data, err)
		}
		var again decodeTarget
		if err := decodeJSON(out, &again); err != nil {
			t.Fatalf("re-decoding %q: %v", out, err)
		}
		out2, err := encodeJSON(again)
		if err != nil || string(out2) != string(out) {
			t.Fatalf("round trip changed %q into %q (%v)", out, out2, err)
		}
	})
}

// TestEncodeSameOnEveryToolchain: a timestamp outside what RFC 3339 can
// write is an error on both codecs, and the formats agree.
func TestEncodeSameOnEveryToolchain(t *testing.T) {
	t.Parallel()
	_, err := encodeJSON(struct{ At Timestamp }{NewTimestamp(time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC))})
	require.Error(t, err, wire.Engine)
	out, err := encodeJSON(decodeTarget{At: NewTimestamp(time.Date(2018, 9, 30, 1, 31, 43, 457e6, time.FixedZone("x", 3600))),
		Ref: NewRef[User]("a<b"), Meta: obj(Meta{"k": "<&>"})})
	require.NoError(t, err)
	assert.Equal(t, `{"contact":{},"doc":{},"ref":"a\u003cb","at":"2018-09-30T00:31:43.457Z","meta":{"k":"\u003c\u0026\u003e"}}`, string(out), wire.Engine)
}

// TestResponseDecodeErrorsSameOnEveryToolchain: a bad answer body surfaces
// from the client wrapped, with the same error types for errors.As on both
// codecs, and names the request.
func TestResponseDecodeErrorsSameOnEveryToolchain(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		body, kind string
	}{
		{`[{"id":"5bb0277fd99faf11a3f4a37e"`, "syntax"},
		{`[{"id":5}]`, "type"},
		{`[{"meta":"x"}]`, "type"},
		{`[{"createdAt":"soon"}]`, "other"},
	} {
		cl, mt := newTestClient(t)
		mt.RegisterResponder(http.MethodGet, testBase+"conversations", httpmock.NewStringResponder(200, c.body))
		_, _, err := cl.Conversations.List(context.Background(), NewQuery().Where("status", Eq("active")))
		require.Error(t, err, c.body)
		assert.Equal(t, c.kind, errorKind(err), "%s (%s): %v", c.body, wire.Engine, err)
		assert.Contains(t, err.Error(), "GET ", c.body)
		assert.Contains(t, err.Error(), "decoding response", c.body)
	}
}
