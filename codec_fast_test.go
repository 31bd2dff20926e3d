package chatshipper

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/require"

	"github.com/go-chatshipper/chatshipper/internal/fastjson"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// TestFastFieldTables checks that each model's table lists exactly its JSON
// names: a field added to a model without a line in its table fails here.
func TestFastFieldTables(t *testing.T) {
	t.Parallel()
	require.NoError(t, fastjson.CheckTable(fastConversationFields))
	require.NoError(t, fastjson.CheckTable(fastParticipantFields))
	require.NoError(t, fastjson.CheckTable(fastMessageFields))
}

// requirePageAgrees decodes body as a page of T with the one-pass decoder
// and with the codec, and fails unless the decoder gave up (leaving the
// target nil) or gave exactly what the codec gives, the codec accepting the
// body. It returns whether the decoder read the page itself.
func requirePageAgrees[T any](t testing.TB, body []byte) bool {
	t.Helper()
	var fast, std []*T
	ok := decodeFast(body, &fast)
	stdErr := wire.Unmarshal(body, &std)
	if !ok {
		require.Nil(t, fast, "the decoder gave up but left a value")
		return false
	}
	require.NoError(t, stdErr, "the decoder accepted a body the codec refuses: %q", body)
	require.Equal(t, std, fast, "decoder and codec disagree on %q", body)
	return true
}

// TestPageFastDecodeAgrees: the pages the docs show, populated or not, and
// the 200-conversation benchmark page are read by the one-pass decoder
// itself, exactly as the codec reads them.
func TestPageFastDecodeAgrees(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"spec/conversations_unpopulated.json",
		"spec/conversations_populate_contact.json",
		"spec/conversations_populate_messages.json",
		"spec/conversations_populate_participants_user.json",
		"bench/conversations-200.json",
	} {
		t.Run(name, func(t *testing.T) {
			require.True(t, requirePageAgrees[Conversation](t, readFixture(t, name)), "the decoder gave up")
		})
	}
	messages := "[" + string(readFixture(t, "spec/message_commented.json")) + ",null," +
		string(readFixture(t, "spec/message_liked.json")) + "]"
	require.True(t, requirePageAgrees[Message](t, []byte(messages)), "the decoder gave up on messages")
	require.True(t, requirePageAgrees[Conversation](t, []byte(" [ ] ")))
}

// TestPageFastDecodeGivesUp lists pages the decoder leaves to the codec:
// wherever its reading could differ from the codec's.
func TestPageFastDecodeGivesUp(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, body string }{
		{"null page", `null`},
		{"an object", `{"id":"x"}`},
		{"duplicate key", `[{"id":"a","id":"b"}]`},
		{"key in another case", `[{"ID":"a"}]`},
		{"non-ASCII key", `[{"\u212Aey":"a"}]`},
		{"escaped key", `[{"i\u0064":"a"}]`},
		{"wrong type", `[{"type":5}]`},
		{"fraction for an int", `[{"categoryIndex":1.5,"delay":1.5}]`},
		{"number out of range", `[{"categoryIndex":99999999999999999999,"delay":99999999999999999999}]`},
		{"trailing garbage", `[{"id":"a"}] x`},
		{"truncated", `[{"id":"a"}`},
		{"element not an object", `["a"]`},
		{"too deep", `[{"meta":` + strings.Repeat("[", fastjson.MaxDepth) + strings.Repeat("]", fastjson.MaxDepth) + `}]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.False(t, requirePageAgrees[Conversation](t, []byte(tt.body)))
			require.False(t, requirePageAgrees[Message](t, []byte(tt.body)))
		})
	}
}

// TestDecodeJSONFallsBackToTheCodec: a page the one-pass decoder gives up on
// is decoded by the codec (errors included), and a target that is not nil is
// left to the codec too, which appends as encoding/json does.
func TestDecodeJSONFallsBackToTheCodec(t *testing.T) {
	t.Parallel()
	var got []*Conversation
	require.NoError(t, decodeJSON([]byte(`[{"ID":"a","id":"b"}]`), &got))
	require.Len(t, got, 1)
	var want []*Conversation
	require.NoError(t, wire.Unmarshal([]byte(`[{"ID":"a","id":"b"}]`), &want))
	require.Equal(t, want, got)

	var bad []*Conversation
	err := decodeJSON([]byte(`[{"name":5}]`), &bad)
	require.Error(t, err)
	require.Equal(t, wire.Unmarshal([]byte(`[{"name":5}]`), &[]*Conversation{}).Error(), err.Error())

	prev := []*Conversation{{ID: "kept"}}
	require.False(t, decodeFast([]byte(`[{"id":"a"}]`), &prev))
	require.Equal(t, "kept", prev[0].ID)
}

// TestPageFastDecodeStringsOutliveTheBuffer: the client decodes responses
// from pooled buffers; nothing decoded may share their memory.
func TestPageFastDecodeStringsOutliveTheBuffer(t *testing.T) {
	t.Parallel()
	body := readFixture(t, "spec/conversations_populate_participants_user.json")
	var got []*Conversation
	require.True(t, decodeFast(body, &got))
	var want []*Conversation
	require.NoError(t, wire.Unmarshal(body, &want))
	for i := range body {
		body[i] = 'X'
	}
	require.Equal(t, want, got)
}

// FuzzPageFastDecode compares the one-pass decoder with the codec on
// arbitrary pages of conversations and of messages.
func FuzzPageFastDecode(f *testing.F) {
	for _, name := range []string{"spec/conversations_unpopulated.json", "spec/conversations_populate_contact.json",
		"spec/conversations_populate_messages.json", "spec/conversations_populate_participants_user.json"} {
		b, err := os.ReadFile("testdata/" + name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`[{"id":"a","meta":{"x":[1,2,{"y":null}]},"categoryIndex":-0,"participants":[{"user":{"id":"u"}}]},null]`))
	f.Add([]byte(`[{"text":"caf\u00e9 \ud83d","likes":[null,"a"],"delay":1e2,"version":7}]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		requirePageAgrees[Conversation](t, body)
		requirePageAgrees[Message](t, body)
	})
}

// BenchmarkPageDecode decodes the 200-conversation page with the one-pass
// decoder and with the codec (encoding/json before Go 1.27, encoding/json/v2
// with encoding/json's options from Go 1.27).
func BenchmarkPageDecode(b *testing.B) {
	body, err := os.ReadFile("testdata/bench/conversations-200.json")
	if err != nil {
		b.Fatal(err)
	}
	for _, bb := range []struct {
		name string
		dec  func([]byte, *[]*Conversation) bool
	}{
		{"fast", func(body []byte, v *[]*Conversation) bool { return decodeFast(body, v) }},
		{fmt.Sprintf("codec-%s", wire.Engine), func(body []byte, v *[]*Conversation) bool { return wire.Unmarshal(body, v) == nil }},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				var page []*Conversation
				if !bb.dec(body, &page) || len(page) != 200 {
					b.Fatal("not decoded")
				}
			}
		})
	}
}

// TestListEmptyBodyIsAnError: a page answered 200 with no body is what
// encoding/json makes of it (a *json.SyntaxError), not an empty page that
// would end a walk early without an error; an object answer may still be
// empty.
func TestListEmptyBodyIsAnError(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	mt.RegisterResponder(http.MethodGet, testBase+"conversations", httpmock.NewBytesResponder(200, nil))
	mt.RegisterRegexpResponder(http.MethodGet, regexp.MustCompile(`/messages`), httpmock.NewBytesResponder(200, nil))
	mt.RegisterResponder(http.MethodGet, testBase+"conversations/5bb0277fd99faf11a3f40000", httpmock.NewBytesResponder(200, nil))

	_, _, err := c.Conversations.List(t.Context(), nil)
	var syn *json.SyntaxError
	require.ErrorAs(t, err, &syn)
	_, _, err = c.Messages.List(t.Context(), NewQuery().Where("conversation", Eq("c1")))
	require.ErrorAs(t, err, &syn)

	n := 0
	for _, err := range c.Conversations.Walk(t.Context(), NewQuery().Limit(5)).Items() {
		require.ErrorAs(t, err, &syn)
		n++
	}
	require.Equal(t, 1, n, "the walk yields the error once and ends")

	conv, _, err := c.Conversations.Get(t.Context(), "5bb0277fd99faf11a3f40000", nil)
	require.NoError(t, err)
	require.Equal(t, &Conversation{}, conv)
}

// TestRefOfAWrongKindIsATypeError: a reference that is neither an ID string
// nor an object is a *json.UnmarshalTypeError on both paths (the one-pass
// decoder's fallback and the codec), naming the kind, not the value.
func TestRefOfAWrongKindIsATypeError(t *testing.T) {
	t.Parallel()
	for _, v := range []string{`12`, `true`, `[1]`} {
		var page []*Conversation
		err := decodeJSON([]byte(`[{"contact":`+v+`}]`), &page)
		var te *json.UnmarshalTypeError
		require.ErrorAs(t, err, &te, v)
		require.NotContains(t, te.Error(), v, "the value is not quoted")
	}
}
