//go:build !go1.27 || !goexperiment.jsonv2

package chatshipper

import (
	"bytes"
	"encoding/json"
)

// tokenizerName names the standard library's tokenizer in benchmarks.
const tokenizerName = "Decoder.Token"

// tokenLookup is Object.Lookup's walk done with the standard library's
// tokenizer instead of objectScan, for BenchmarkObjectLookupWalk: before Go
// 1.27 that is encoding/json's Decoder.Token, which has no way to skip a
// value but decoding it (here into a RawMessage).
func tokenLookup(raw []byte, key string) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, false
	}
	var found json.RawMessage
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, false
		}
		if t == key {
			found = v
		}
	}
	if found == nil {
		return nil, false
	}
	var x any
	if decodeJSON(found, &x) != nil {
		return nil, false
	}
	return x, true
}
