//go:build !go1.27 || !goexperiment.jsonv2

package wire

import "encoding/json"

// Engine names the codec in use, for tests and benchmarks.
const Engine = "encoding/json"

// Marshal returns the JSON encoding of v without a trailing newline. Every
// JSON the SDK writes goes through it.
func Marshal(v any) ([]byte, error) {
	return json.Marshal(v)
}

// Unmarshal decodes data into v. Unknown fields are ignored (the API adds
// fields in backward-compatible releases).
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v)
}
