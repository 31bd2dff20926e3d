//go:build go1.27 && goexperiment.jsonv2

package chatshipper

import (
	"bytes"
	"encoding/json/jsontext"
	"sync"
)

// tokenizerName names the standard library's tokenizer in benchmarks.
const tokenizerName = "jsontext"

// tokenDecoders recycles jsontext decoders (a fresh one costs several
// allocations), as a careful user of the tokenizer would.
var tokenDecoders = sync.Pool{New: func() any { return new(tokenDecoder) }}

type tokenDecoder struct {
	buf bytes.Buffer
	dec jsontext.Decoder
}

// tokenLookup is Object.Lookup's walk done with the standard library's
// tokenizer instead of objectScan, for BenchmarkObjectLookupWalk: from Go
// 1.27 that is encoding/json/jsontext, with encoding/json's leniency
// (duplicate names, invalid UTF-8) and a pooled decoder.
func tokenLookup(raw []byte, key string) (any, bool) {
	td := tokenDecoders.Get().(*tokenDecoder)
	defer func() {
		td.buf = bytes.Buffer{}
		tokenDecoders.Put(td)
	}()
	td.buf = *bytes.NewBuffer(raw) // read in place: no copy
	td.dec.Reset(&td.buf, jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))
	dec := &td.dec
	if t, err := dec.ReadToken(); err != nil || t.Kind() != '{' {
		return nil, false
	}
	var x any
	found := false
	for dec.PeekKind() == '"' {
		name, err := dec.ReadValue()
		if err != nil {
			return nil, false
		}
		if !tokenKeyIs(name, key) {
			if dec.SkipValue() != nil {
				return nil, false
			}
			continue
		}
		v, err := dec.ReadValue()
		if err != nil {
			return nil, false
		}
		x = nil
		found = decodeJSON(v, &x) == nil
	}
	return x, found
}

// tokenKeyIs reports whether name, a quoted object name, is key.
func tokenKeyIs(name jsontext.Value, key string) bool {
	if bytes.IndexByte(name, '\\') < 0 {
		return string(name[1:len(name)-1]) == key
	}
	s, err := jsontext.AppendUnquote(nil, name)
	return err == nil && string(s) == key
}
