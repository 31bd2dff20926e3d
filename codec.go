package chatshipper

import (
	"bytes"
	"sync"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// All JSON of requests, responses and webhook bodies goes through the codec
// of package wire (shared with package webhook), so it can be measured and
// replaced in one place. It is encoding/json before Go 1.27 and
// encoding/json/v2 with encoding/json's options from Go 1.27 on; the two
// accept and produce the same JSON (duplicate keys: the last wins; invalid
// UTF-8: replaced by U+FFFD; keys matched case-insensitively) and return
// errors of the same types. types_json_v2.go holds the streaming methods
// the v2 engine uses for the SDK's own types.

// encodeJSON returns the JSON encoding of v without a trailing newline.
func encodeJSON(v any) ([]byte, error) { return wire.Marshal(v) }

// decodeJSON decodes data into v; unknown fields are ignored. Pages of
// conversations and messages go through the one-pass decoder first
// (codec_fast.go), which gives up, leaving v as it was, on anything it does
// not plainly know.
func decodeJSON(data []byte, v any) error {
	if decodeFast(data, v) {
		return nil
	}
	return wire.Unmarshal(data, v)
}

// bufPool recycles the buffers that response bodies are read into, so a call
// does not allocate a fresh growing buffer for every page it decodes.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer {
	b := bufPool.Get().(*bytes.Buffer)
	b.Reset()
	return b
}

func putBuffer(b *bytes.Buffer) {
	// Very large buffers are dropped so one huge page does not pin memory.
	if b.Cap() > 4<<20 {
		return
	}
	bufPool.Put(b)
}
