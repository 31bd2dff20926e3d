// Package wire holds what the chatshipper and webhook packages share on the
// wire side: the JSON codec every request, response and webhook body goes
// through, and the truncation used when a value is quoted in an error.
package wire

import "encoding/json"

// Marshal returns the JSON encoding of v without a trailing newline. Every
// JSON the SDK writes goes through it, so the codec can be measured and
// replaced in this one place.
func Marshal(v any) ([]byte, error) {
	return json.Marshal(v)
}

// Unmarshal decodes data into v. Unknown fields are ignored (the API adds
// fields in backward-compatible releases).
func Unmarshal(data []byte, v any) error {
	return json.Unmarshal(data, v)
}

// Truncate returns s cut to n bytes with "..." appended when it is longer,
// for quoting caller input in an error without echoing all of it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
