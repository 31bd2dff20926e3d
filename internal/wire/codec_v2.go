//go:build go1.27 && goexperiment.jsonv2

package wire

import (
	jsonv1 "encoding/json"
	"encoding/json/v2"
)

// Engine names the codec in use, for tests and benchmarks.
const Engine = "encoding/json/v2"

// Options are encoding/json's semantics on the v2 engine (see the package
// documentation). Streaming methods that decode a nested value themselves
// pass the decoder's options on, so they apply at every level.
var Options = jsonv1.DefaultOptionsV1()

// Marshal returns the JSON encoding of v without a trailing newline. Every
// JSON the SDK writes goes through it.
func Marshal(v any) ([]byte, error) {
	return json.Marshal(v, Options)
}

// Unmarshal decodes data into v. Unknown fields are ignored (the API adds
// fields in backward-compatible releases).
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v, Options)
}
