// Package wire holds what the chatshipper and webhook packages share on the
// wire side: the JSON codec every request, response and webhook body goes
// through, the truncation used when a value is quoted in an error, and the
// one rule for what is a secret (SecretName, RedactURLs), which the client's
// printing and errors and the replay package's fixtures all follow.
//
// The codec has two implementations, chosen by build constraints:
//
//   - codec_v1.go (Go 1.25 and 1.26, or GOEXPERIMENT=nojsonv2): encoding/json.
//   - codec_v2.go (Go 1.27 and later): encoding/json/v2; the SDK's own types
//     (Timestamp, Ref, Object, Document, the list wrappers) have streaming
//     MarshalJSONTo/UnmarshalJSONFrom methods for it (in files built under the
//     same constraint), so no value is read twice.
//
// Both have the same semantics, the ones encoding/json always had, because
// the v2 path runs with the v1 options (encoding/json.DefaultOptionsV1):
//
//   - duplicate object keys are accepted, the last one wins;
//   - invalid UTF-8 in strings is accepted and replaced by U+FFFD;
//   - object keys match struct fields case-insensitively;
//   - unknown fields are ignored; null leaves a non-pointer field as it is;
//   - errors have the encoding/json types (*json.SyntaxError,
//     *json.UnmarshalTypeError), and an error of one of the SDK's own types (a
//     malformed timestamp, say) is returned as it is, so errors.As finds the
//     same types on both;
//   - encoding sorts map keys, escapes <, > and & in strings and omits
//     omitempty fields by their Go zero value.
//
// So v2 is made no stricter than v1 anywhere. One difference cannot be
// removed: v2 stops at the first error instead of validating the whole
// input first, so after an error the value decoded into holds a different
// partial result (the SDK never returns it). FuzzDecodeSameAsV1 in the root
// package decodes the same bytes through both and requires the same result.
package wire

// Truncate returns s cut to n bytes with "..." appended when it is longer,
// for quoting caller input in an error without echoing all of it.
func Truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
