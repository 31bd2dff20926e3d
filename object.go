package chatshipper

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// Object is a free-form JSON object of a resource as the API returns it: the
// Meta of a conversation, message, contact, user and the other resources. It
// keeps the JSON the server sent (compacted: keys, their order and the
// spelling of values as received) and decodes it only when read, so a page of
// resources whose meta nobody looks at costs no maps; it marshals back as it
// was kept. Read it with [Object.Get], [Object.Lookup], [Object.Map] or
// [Object.Decode]; build one with [ObjectOf]. The objects sent in create and
// update bodies and commands are plain [Meta] maps.
//
// Values decode as encoding/json decodes into an interface: numbers as
// float64, objects as map[string]any, arrays as []any. A single Get finds its
// key in the JSON and decodes only that value; an object read more often is
// decoded once, on the read that needs it, and later reads are served from
// that. Every value handed out is the caller's: nested objects and arrays are
// copies, so changing them changes neither the Object nor later reads.
//
// The zero Object is an absent (or null) object. An Object is read-only, so
// it is safe for concurrent use, and cheap to copy (a pointer); its copies
// share the JSON and what was decoded from it. Compare two by their JSON
// ([Object.String]): reflect.DeepEqual also sees what reads have decoded.
type Object struct {
	d *objectData // nil: absent or null
}

// objectData is what the copies of one Object share.
type objectData struct {
	raw   string       // a JSON object, compacted
	reads atomic.Int32 // reads answered from raw (objectScanReads at most)
	once  sync.Once    // decodes raw into es
	done  atomic.Bool  // once has run: es and ok are set
	es    []metaEntry  // raw decoded, in order (nil unless ok); never changed or handed out
	ok    bool         // raw decoded whole (false: a number out of range)
}

// metaEntry is a key of a decoded object and its value.
type metaEntry struct {
	key string
	val any
}

// objectScanReads is how many reads of an Object look their key up in the
// JSON; the next one decodes it whole, once. A lookup in the JSON costs a
// pass over the bytes and the value's decoding, a few times less than
// decoding the whole object, so the few reads that most resources get cost
// no map, and an object read more often costs one decoding however often.
const objectScanReads = 3

func newObject(raw string) Object { return Object{d: &objectData{raw: raw}} }

// ObjectOf returns m encoded as an Object (nil or empty m: the zero Object),
// for building resource values by hand, e.g. in tests.
func ObjectOf(m Meta) (Object, error) {
	if len(m) == 0 {
		return Object{}, nil
	}
	b, err := encodeJSON(m)
	if err != nil {
		return Object{}, err
	}
	return newObject(string(b)), nil
}

// IsZero reports whether the object is absent or null (for the omitzero
// tag). An empty object {} is not zero.
func (o Object) IsZero() bool { return o.d == nil }

// Lookup returns the value of key (a top-level key, matched exactly) and
// whether the object has it. A nested object or array is the caller's copy.
func (o Object) Lookup(key string) (any, bool) {
	d := o.d
	if d == nil {
		return nil, false
	}
	if !d.done.Load() && d.reads.Add(1) <= objectScanReads {
		return d.lookupRaw(key)
	}
	if es, ok := d.decoded(); ok {
		return lookupEntry(es, key)
	}
	return d.lookupRaw(key)
}

// Get returns the value of key, or nil when the object does not have it.
func (o Object) Get(key string) any {
	v, _ := o.Lookup(key)
	return v
}

// Map returns the whole object decoded, or nil for the zero Object. The map
// is the caller's copy, nested objects and arrays included: changing it does
// not change the Object.
func (o Object) Map() Meta {
	if o.d == nil {
		return nil
	}
	es, ok := o.d.decoded()
	if !ok {
		return nil
	}
	m := make(Meta, len(es))
	for _, e := range es {
		m[e.key] = cloneValue(e.val)
	}
	return m
}

// Decode decodes the object into v, a pointer (to a struct with json tags,
// say), as json.Unmarshal does.
func (o Object) Decode(v any) error {
	if v == nil || reflect.TypeOf(v).Kind() != reflect.Pointer {
		return argError("v", "must be a non-nil pointer")
	}
	if o.d == nil {
		return nil
	}
	return decodeJSON([]byte(o.d.raw), v)
}

// Len returns the number of keys.
func (o Object) Len() int {
	if o.d == nil {
		return 0
	}
	if es, ok := o.d.decoded(); ok {
		return distinctKeys(es)
	}
	// Some value does not decode (a number out of range): count the keys.
	keys := map[string]bool{}
	s := newJSONScan(o.d.raw)
	for k, _, ok := s.next(); ok; k, _, ok = s.next() {
		if key, ok := decodeKey(k); ok {
			keys[key] = true
		}
	}
	return len(keys)
}

// Raw returns a copy of the object's JSON as kept, or nil.
func (o Object) Raw() json.RawMessage {
	if o.d == nil {
		return nil
	}
	return json.RawMessage(o.d.raw)
}

// String returns the object's JSON, or "" for the zero Object.
func (o Object) String() string {
	if o.d == nil {
		return ""
	}
	return o.d.raw
}

// MarshalJSON writes the object as kept, or null for the zero Object.
func (o Object) MarshalJSON() ([]byte, error) {
	if o.d == nil {
		return []byte("null"), nil
	}
	return []byte(o.d.raw), nil
}

// UnmarshalJSON keeps a JSON object (compacted); null is the zero Object. As
// for every json.Unmarshaler, b is a whole JSON value, which json.Unmarshal
// has checked.
func (o *Object) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	return o.set(b)
}

// errNotObject is the error for a value that is not a JSON object, of the
// type encoding/json reports when a non-object meets a map.
func errNotObject(b []byte) error { return typeError(b, reflect.TypeFor[Object]()) }

// typeError is the *json.UnmarshalTypeError encoding/json reports when the
// JSON value b (of a kind t cannot hold) meets a value of type t. It names
// the kind of value, never the value itself.
func typeError(b []byte, t reflect.Type) error {
	kind := "value"
	if len(b) > 0 {
		switch b[0] {
		case '"':
			kind = "string"
		case '[':
			kind = "array"
		case '{':
			kind = "object"
		case 't', 'f':
			kind = "bool"
		default:
			kind = "number"
		}
	}
	return &json.UnmarshalTypeError{Value: kind, Type: t}
}

// set stores b (a whole JSON value) after checking that it is an object.
func (o *Object) set(b []byte) error {
	if bytes.Equal(b, []byte("null")) {
		*o = Object{}
		return nil
	}
	if len(b) < 2 || b[0] != '{' || b[len(b)-1] != '}' {
		return errNotObject(b)
	}
	// Compact, so that what Marshal writes (encoding/json compacts a
	// Marshaler's output) decodes to an equal Object. API answers are
	// compact already: then the bytes are only copied.
	if raw := string(b); isCompact(raw) {
		*o = newObject(raw)
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	*o = newObject(buf.String())
	return nil
}

// decoded returns the object decoded whole, decoding it on the first call.
func (d *objectData) decoded() ([]metaEntry, bool) {
	d.once.Do(func() {
		d.es, d.ok = decodeObject(d.raw)
		d.done.Store(true)
	})
	return d.es, d.ok
}

// lookupEntry returns the value of key in es and whether es has it; a nested
// object or array is a copy. Of duplicate keys the last wins, as in a map.
func lookupEntry(es []metaEntry, key string) (any, bool) {
	for i := len(es) - 1; i >= 0; i-- {
		if es[i].key == key {
			return cloneValue(es[i].val), true
		}
	}
	return nil, false
}

// distinctKeys returns the number of keys of es, duplicates counted once.
func distinctKeys(es []metaEntry) int {
	n := 0
	if len(es) > scanMembers {
		seen := make(map[string]bool, len(es))
		for _, e := range es {
			seen[e.key] = true
		}
		return len(seen)
	}
outer:
	for i, e := range es {
		for _, f := range es[i+1:] {
			if f.key == e.key {
				continue outer
			}
		}
		n++
	}
	return n
}

// lookupRaw finds key in the JSON and decodes its value alone. Duplicate
// keys: the last wins, as when decoding into a map.
func (d *objectData) lookupRaw(key string) (any, bool) {
	found := ""
	s := newJSONScan(d.raw)
	for k, v, ok := s.next(); ok; k, v, ok = s.next() {
		if keyIs(k, key) {
			found = v
		}
	}
	if s.bad || s.close != '}' {
		// Not an object, which only an UnmarshalJSON call given
		// invalid JSON keeps: what the codec makes of it.
		if es, ok := d.decoded(); ok {
			return lookupEntry(es, key)
		}
		return nil, false
	}
	if found == "" {
		return nil, false
	}
	return decodeValue(found)
}

// decodeObject decodes a JSON object as encoding/json decodes it into a
// map[string]any, into its members in order. It returns false when the codec
// fails (a number out of range, malformed JSON).
func decodeObject(raw string) ([]metaEntry, bool) {
	if es, ok := decodeTop(raw); ok {
		return es, true
	}
	var m Meta
	if decodeJSON([]byte(raw), &m) != nil {
		return nil, false
	}
	es := make([]metaEntry, 0, len(m))
	for k, v := range m {
		es = append(es, metaEntry{k, v})
	}
	return es, true
}

// decodeTop decodes the members of a JSON object in order.
func decodeTop(raw string) ([]metaEntry, bool) {
	var seen [scanMembers]member
	s := newJSONScan(raw)
	for k, v, more := s.next(); more; k, v, more = s.next() {
		if s.n <= scanMembers {
			seen[s.n-1] = member{k, v}
		}
	}
	if s.bad || s.close != '}' {
		return nil, false
	}
	es := make([]metaEntry, 0, s.n)
	add := func(k, v string) bool {
		key, ok := decodeKey(k)
		if !ok {
			return false
		}
		x, ok := decodeAny(v, 1)
		es = append(es, metaEntry{key, x})
		return ok
	}
	if s.n <= scanMembers {
		for _, m := range seen[:s.n] {
			if !add(m.key, m.val) {
				return nil, false
			}
		}
		return es, true
	}
	s = newJSONScan(raw)
	for k, v, more := s.next(); more; k, v, more = s.next() {
		if !add(k, v) {
			return nil, false
		}
	}
	return es, true
}

// decodeValue decodes one value as encoding/json decodes it into an
// interface; false when that fails.
func decodeValue(v string) (any, bool) {
	if x, ok := decodeAny(v, 0); ok {
		return x, true
	}
	var x any
	if decodeJSON([]byte(v), &x) != nil {
		return nil, false
	}
	return x, true
}

// cloneValue returns v with its nested objects and arrays copied.
func cloneValue(v any) any {
	switch x := v.(type) {
	case map[string]any:
		c := make(map[string]any, len(x))
		for k, e := range x {
			c[k] = cloneValue(e)
		}
		return c
	case []any:
		c := make([]any, len(x))
		for i, e := range x {
			c[i] = cloneValue(e)
		}
		return c
	}
	return v // strings, numbers, booleans and nil cannot be changed
}

// A hand-written JSON reader for what Object keeps. The standard library's
// tokenizers cost more: encoding/json's Decoder.Token allocates every key and
// value it passes, and jsontext takes about twice the time of this walk
// (BenchmarkObjectLookupWalk); decoding a whole object with the codec costs
// twice the allocations (BenchmarkObjectDecodeWhole); BENCHMARKS.md, "Reading
// meta". It needs little: what Object keeps is valid JSON, checked by the
// decoder that handed it to UnmarshalJSON, so it finds where each member
// starts and ends and decodes what it is sure of: literals, numbers (checked
// against the JSON grammar, parsed by strconv as encoding/json parses them),
// strings without escapes or invalid UTF-8 (cut from the kept JSON, not
// copied), and objects and arrays of those. Anything else (an escaped string,
// a number out of range, nesting deeper than valueMaxDepth, malformed input)
// goes to the codec, so no value is ever read otherwise than encoding/json
// reads it; FuzzObjectRead checks that. It goes when the standard library
// offers a walk as cheap, e.g. a jsontext that skips values at this speed.

// valueMaxDepth is the nesting decodeAny follows; deeper values are left to
// the codec.
const valueMaxDepth = 64

// jsonScan yields the members of a JSON object, or the elements of an array,
// in order.
type jsonScan struct {
	b     string
	i     int
	n     int  // members or elements read
	close byte // '}' or ']'
	bad   bool // malformed
}

func newJSONScan(b string) jsonScan {
	s := jsonScan{b: b}
	s.space()
	switch {
	case s.i < len(b) && b[s.i] == '{':
		s.close = '}'
	case s.i < len(b) && b[s.i] == '[':
		s.close = ']'
	default:
		s.bad = true
		return s
	}
	s.i++
	return s
}

func (s *jsonScan) space() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

// next returns the next member (its key with the quotes, and its value's
// JSON) or element (key ""). ok is false after the last one, and on
// malformed input (then s.bad).
func (s *jsonScan) next() (key, val string, ok bool) {
	if s.bad {
		return "", "", false
	}
	s.space()
	if s.i >= len(s.b) {
		s.bad = true
		return "", "", false
	}
	switch c := s.b[s.i]; {
	case c == s.close:
		s.i++
		s.space()
		s.bad = s.i != len(s.b)
		return "", "", false
	case c == ',' && s.n > 0:
		s.i++
		s.space()
	case s.n > 0:
		s.bad = true
		return "", "", false
	}
	if s.close == '}' {
		ks := s.i
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			s.bad = true
			return "", "", false
		}
		if s.i = skipString(s.b, s.i); s.i < 0 {
			s.bad = true
			return "", "", false
		}
		key = s.b[ks:s.i]
		s.space()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			s.bad = true
			return "", "", false
		}
		s.i++
		s.space()
	}
	vs := s.i
	if s.i = skipValue(s.b, s.i); s.i < 0 {
		s.bad = true
		return "", "", false
	}
	s.n++
	return key, s.b[vs:s.i], true
}

// skipString returns the index after the string starting at b[i] (a quote),
// or -1 when it does not end.
func skipString(b string, i int) int {
	j := i + 1
	for {
		k := strings.IndexByte(b[j:], '"')
		if k < 0 {
			return -1
		}
		j += k
		esc := 0
		for p := j - 1; p > i && b[p] == '\\'; p-- {
			esc++
		}
		j++
		if esc%2 == 0 {
			return j
		}
	}
}

// skipValue returns the index after the value starting at b[i], or -1 when
// there is none. It only finds the end: what is inside is checked when it is
// decoded.
func skipValue(b string, i int) int {
	if i >= len(b) {
		return -1
	}
	switch b[i] {
	case '"':
		return skipString(b, i)
	case '{', '[':
		depth := 0
		for j := i; j < len(b); j++ {
			switch b[j] {
			case '"':
				if j = skipString(b, j); j < 0 {
					return -1
				}
				j--
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return j + 1
				}
			}
		}
		return -1
	}
	j := i
	for j < len(b) {
		switch b[j] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			if j == i {
				return -1
			}
			return j
		}
		j++
	}
	return j
}

// isCompact reports whether b has no whitespace outside its strings.
func isCompact(b string) bool {
	for i := 0; i < len(b); i++ {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			return false
		case '"':
			j := skipString(b, i)
			if j < 0 {
				return false
			}
			i = j - 1
		}
	}
	return true
}

// plainString reports whether s, the inside of a JSON string, means exactly
// its bytes: no escapes, no control characters, valid UTF-8 (encoding/json
// replaces invalid bytes with U+FFFD).
func plainString(s string) bool {
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c < 0x20 || c == '\\' || c == '"' {
				return false
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return false
		}
		i += size
	}
	return true
}

// keyIs reports whether k, a key as scanned (with its quotes), is key.
func keyIs(k, key string) bool {
	in := k[1 : len(k)-1]
	if in == key {
		// Escapes and invalid UTF-8 decode to other bytes.
		return plainString(in)
	}
	if strings.IndexByte(in, '\\') < 0 && utf8.ValidString(in) {
		return false // in means its bytes, which are not key
	}
	s, ok := decodeKey(k)
	return ok && s == key
}

// decodeKey unquotes a key as scanned: cut from the JSON when it means its
// bytes, else by the codec.
func decodeKey(k string) (string, bool) {
	if in := k[1 : len(k)-1]; plainString(in) {
		return in, true
	}
	var s string
	if decodeJSON([]byte(k), &s) != nil {
		return "", false
	}
	return s, true
}

// decodeAny decodes v as encoding/json decodes a value into an interface. It
// returns false where it is not sure; the caller then asks the codec.
func decodeAny(v string, depth int) (any, bool) {
	switch c := v[0]; {
	case c == '"':
		s, ok := decodeKey(v) // a string value unquotes as a key does
		return s, ok
	case v == "null":
		return nil, true
	case v == "true":
		return true, true
	case v == "false":
		return false, true
	case c == '-' || '0' <= c && c <= '9':
		if !isNumber(v) {
			return nil, false
		}
		f, err := strconv.ParseFloat(v, 64)
		return f, err == nil
	case depth >= valueMaxDepth:
		var x any
		return x, decodeJSON([]byte(v), &x) == nil
	case c == '{':
		if m, ok := decodeMembers(v, depth+1); ok {
			return m, true
		}
	case c == '[':
		if a, ok := decodeElements(v, depth+1); ok {
			return a, true
		}
	}
	return nil, false
}

// scanMembers is how many members or elements decodeMembers and
// decodeElements note on their first pass; larger ones are walked twice.
const scanMembers = 32

type member struct{ key, val string }

// decodeMembers decodes a JSON object into a map.
func decodeMembers(v string, depth int) (map[string]any, bool) {
	var seen [scanMembers]member
	s := newJSONScan(v)
	for k, e, more := s.next(); more; k, e, more = s.next() {
		if s.n <= scanMembers {
			seen[s.n-1] = member{k, e}
		}
	}
	if s.bad || s.close != '}' {
		return nil, false
	}
	m := make(map[string]any, s.n)
	if s.n <= scanMembers {
		for _, e := range seen[:s.n] {
			if !decodeMember(m, e.key, e.val, depth) {
				return nil, false
			}
		}
		return m, true
	}
	s = newJSONScan(v)
	for k, e, more := s.next(); more; k, e, more = s.next() {
		if !decodeMember(m, k, e, depth) {
			return nil, false
		}
	}
	return m, true
}

func decodeMember(m map[string]any, k, v string, depth int) bool {
	key, ok := decodeKey(k)
	if !ok {
		return false
	}
	x, ok := decodeAny(v, depth)
	if ok {
		m[key] = x
	}
	return ok
}

// decodeElements decodes a JSON array into a slice.
func decodeElements(v string, depth int) ([]any, bool) {
	var seen [scanMembers]string
	s := newJSONScan(v)
	for _, e, more := s.next(); more; _, e, more = s.next() {
		if s.n <= scanMembers {
			seen[s.n-1] = e
		}
	}
	if s.bad || s.close != ']' {
		return nil, false
	}
	a := make([]any, s.n)
	if s.n <= scanMembers {
		for i, e := range seen[:s.n] {
			x, ok := decodeAny(e, depth)
			if !ok {
				return nil, false
			}
			a[i] = x
		}
		return a, true
	}
	s = newJSONScan(v)
	for _, e, more := s.next(); more; _, e, more = s.next() {
		x, ok := decodeAny(e, depth)
		if !ok {
			return nil, false
		}
		a[s.n-1] = x
	}
	return a, true
}

// isNumber reports whether b is a JSON number.
func isNumber(b string) bool {
	i := 0
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			return false
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	return i == len(b)
}
