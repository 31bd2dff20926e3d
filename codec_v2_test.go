//go:build go1.27 && goexperiment.jsonv2

package chatshipper

import (
	"encoding/json/v2"
	"reflect"
	"testing"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// byteMethods makes encoding/json/v2 call the SDK types' []byte methods
// (UnmarshalJSON, the ones encoding/json uses before Go 1.27) instead of
// their streaming ones (types_json_v2.go).
var byteMethods = json.JoinUnmarshalers(
	json.UnmarshalFunc(func(b []byte, v *Timestamp) error { return v.UnmarshalJSON(b) }),
	json.UnmarshalFunc(func(b []byte, v *Object) error { return v.UnmarshalJSON(b) }),
	json.UnmarshalFunc(func(b []byte, v *Document) error { return v.UnmarshalJSON(b) }),
	json.UnmarshalFunc(func(b []byte, v *messageList) error { return v.UnmarshalJSON(b) }),
	refBytes[Bot](), refBytes[Contact](), refBytes[Conversation](), refBytes[Document](), refBytes[Form](),
	refBytes[Message](), refBytes[Organization](), refBytes[User](),
)

func refBytes[T any]() *json.Unmarshalers {
	return json.UnmarshalFunc(func(b []byte, v *Ref[T]) error { return v.UnmarshalJSON(b) })
}

// FuzzDecodeSameAsV1 decodes the same bytes through the codec (encoding/json/v2
// with the streaming methods) and through the []byte methods encoding/json
// calls, with encoding/json's options, and requires the same result: the same
// value, or errors of the same kind. Go 1.27 and later only; the v1 path's own
// behaviour is pinned on every toolchain by TestDecodeSameOnEveryToolchain.
func FuzzDecodeSameAsV1(f *testing.F) {
	addDecodeSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		var streamed, byBytes decodeTarget
		errS := decodeJSON(data, &streamed)
		errB := json.Unmarshal(data, &byBytes, wire.Options, json.WithUnmarshalers(byteMethods))
		if errorKind(errS) != errorKind(errB) {
			t.Fatalf("%q: streaming: %v; []byte methods: %v", data, errS, errB)
		}
		if errS != nil {
			return
		}
		if !reflect.DeepEqual(streamed, byBytes) {
			t.Fatalf("%q decodes differently:\nstreaming: %+v\n[]byte methods: %+v", data, streamed, byBytes)
		}
	})
}
