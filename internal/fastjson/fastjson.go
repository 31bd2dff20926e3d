// Package fastjson is the SDK's one-pass JSON reader for the shapes it
// decodes most: pages of conversations and messages (package chatshipper)
// and webhook message events (package webhook). The models' field tables
// live beside the models; this package holds the reader and the generic
// pieces both packages build their tables from.
//
// encoding/json (the codec before Go 1.27) validates a whole body before
// decoding it, then decodes it with a scanner that calls a state function
// for every byte; encoding/json/v2 (from Go 1.27) walks the body about as fast
// as this reader, but decodes the models' structs by reflection: each member
// name is looked up in a map and each value goes through an arshaler. On a
// 200-conversation page this reader takes about a quarter of encoding/json's
// CPU and half of encoding/json/v2's (BenchmarkPageDecode in package
// chatshipper; BENCHMARKS.md has the figures). Streaming methods on the
// models would be hand-written field tables again, on a tokenizer Go 1.26
// does not have. It goes when the standard library decodes the models as
// cheaply.
//
// It speeds the codec up and never overrules it. Whenever the input is not
// plainly what it knows, the reader goes bad (gives up), and the caller
// decodes the body with the codec, which then decides, errors included. It
// gives up on: a duplicate key, a key that matches a field only in another
// letter case, any non-ASCII key of a struct (Unicode folding matches a few
// letters, such as the Kelvin sign, to ASCII ones), an escaped or invalid
// UTF-8 key, a value of the wrong JSON type, a number out of range, nesting
// deeper than MaxDepth, and anything that is not valid JSON. When it does
// succeed, the result is what encoding/json gives, field for field: strings
// with escapes are unquoted by the codec itself, and the fields whose types
// decode themselves get the bytes encoding/json would give their
// UnmarshalJSON (or, for a form read without it, such as a timestamp in the
// API's own form, the value UnmarshalJSON would make). Like encoding/json, it
// never cuts a string from the input, so keeping one never keeps the input
// alive (the client reads responses into pooled buffers): a string is a copy,
// or a short string an earlier value decoded to the same bytes (the reader's
// string cache).
package fastjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// NewReader returns a reader of b. With cached set, the reader comes from a
// pool with a string cache of its own (see Reader), and Release gives both
// back; a reader is then one pool lookup, not an allocation per document.
func NewReader(b []byte, cached bool) *Reader {
	if !cached {
		return &Reader{b: b}
	}
	p := pooledReaders.Get().(*pooledReader)
	p.r = Reader{b: b, cache: &p.cache, home: p}
	return &p.r
}

// Release gives a cached reader and its string cache back to the pool; the
// reader must not be used after.
func (r *Reader) Release() {
	if p := r.home; p != nil {
		p.r = Reader{}
		pooledReaders.Put(p)
	}
}

// pooledReader is a reader and its string cache, pooled together.
type pooledReader struct {
	r     Reader
	cache stringCache
}

var pooledReaders = sync.Pool{New: func() any { return new(pooledReader) }}

// Bad reports whether the reader has given up.
func (r *Reader) Bad() bool { return r.bad }

// Unmarshaler hands one value to dst's UnmarshalJSON, as encoding/json does
// once it has checked the value (which Raw has done).
func Unmarshaler(r *Reader, dst json.Unmarshaler) {
	if raw := r.Raw(); !r.bad && dst.UnmarshalJSON(raw) != nil {
		r.Fail()
	}
}

// Model decodes one of package chatshipper's models (a *Conversation, a
// *Message, a *Ref[Organization], a *Timestamp) from r into dst, with the
// tables beside the models; package chatshipper sets it when it is
// initialised, and package webhook, which imports it, reads events'
// conversations, messages, organizations and timestamps with it. It returns
// false for a type it does not know, having read nothing.
var Model func(r *Reader, dst any) bool

// DecodeJSON is package chatshipper's decodeJSON, which every response body
// goes through (this reader first for pages, then the codec), set when it is
// initialised; bench/jsonbench measures decoding alone with it.
var DecodeJSON func(data []byte, v any) error

// CheckTable reports what is wrong with a field table of type T (the
// tables' tests call it): a name that is not plain ASCII (no quote,
// backslash or control character), 64 entries or more (Struct tracks the keys seen in a uint64), a name listed twice,
// or a JSON name of T that the table does not list (a field added to a model
// without a line in its table), or a name that is not one of T's.
func CheckTable[T any](fields []Field[T]) error {
	if len(fields) >= 64 {
		return fmt.Errorf("%d fields, Struct keeps at most 63", len(fields))
	}
	want := jsonNames(reflect.TypeFor[T]())
	have := map[string]bool{}
	for _, f := range fields {
		if have[f.Name] {
			return fmt.Errorf("%q listed twice", f.Name)
		}
		for _, c := range []byte(f.Name) {
			if !plainByte[c] { // keyIs compares names with the raw key bytes
				return fmt.Errorf("%q is not plain ASCII", f.Name)
			}
		}
		have[f.Name] = true
	}
	var missing, extra []string
	for _, n := range want {
		if !have[n] {
			missing = append(missing, n)
		}
		delete(have, n)
	}
	for n := range have {
		extra = append(extra, n)
	}
	if len(missing)+len(extra) > 0 {
		return fmt.Errorf("%s: not listed %v, not a field %v", reflect.TypeFor[T](), missing, extra)
	}
	return nil
}

// jsonNames returns the JSON names encoding/json uses for the fields of a
// struct type, following embedded structs.
func jsonNames(typ reflect.Type) []string {
	var out []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := f.Tag.Get("json")
		if tag == "-" || !f.IsExported() && !f.Anonymous {
			continue
		}
		name, _, _ := strings.Cut(tag, ",")
		if f.Anonymous && name == "" {
			out = append(out, jsonNames(f.Type)...)
			continue
		}
		if name == "" {
			name = f.Name
		}
		out = append(out, name)
	}
	return out
}

// MaxDepth is the nesting the fast decoder follows; deeper input is left
// to encoding/json (whose own limit is 10,000).
const MaxDepth = 128

// Reader is a cursor over one JSON document. After the first problem it
// is bad, its position is at the end, and every read returns a zero value.
type Reader struct {
	b     []byte
	i     int
	depth int
	bad   bool
	cache *stringCache  // nil: every string is allocated
	home  *pooledReader // where a cached reader goes back to

	spaced bool // Peek skipped whitespace (RawCompact clears it)
}

// stringCache keeps the short strings decoded lately, so that the values
// one conversation or event after another repeats (the IDs of the
// organization, the conversation, the contact and the bot, and names, types
// and roles) are not allocated again; encoding/json/v2 keeps one for the same
// reason. A cached reader owns one until Release.
//
// Each slot keeps its string's bytes beside it, so that telling a hit from a
// miss reads only the cache itself, not a string somewhere in the heap (in a
// busy receiver those reads missed the CPU cache and cost more than the
// rest of the lookup); and a slot is chosen by a hash of the length and the
// first and last 8 bytes, which tells apart the values that matter (IDs,
// URLs and words differ there) in a few instructions. A string is looked
// for in its slot and its neighbour, so two strings that collide both stay.
type stringCache [1 << cacheBits]cacheSlot

// cacheBits sizes the cache: 128 slots (12 KiB) held the values of an event
// and of a page's repeated fields, and kept the receiver faster under load
// than 256 or 64 (bench/run.sh webhook-go, 2026-12-05; BENCHMARKS.md).
const cacheBits = 7

type cacheSlot struct {
	s    string                // the cached string
	data [cachedStringMax]byte // its bytes, s's length of them
}

// cachedStringMax is the longest string the cache keeps.
const cachedStringMax = 80

// string returns b as a string: the cached one when equal, else a new one,
// which is cached when short.
func (c *stringCache) string(b []byte) string {
	if c == nil || len(b) > cachedStringMax {
		return string(b)
	}
	i := slotOf(b)
	e, f := &c[i], &c[i^1] // two places: a value whose slot is taken keeps the other
	switch {
	case len(e.s) == len(b) && string(e.data[:len(b)]) == string(b):
		return e.s
	case len(f.s) == len(b) && string(f.data[:len(b)]) == string(b):
		return f.s
	}
	*f = *e // the older of the two goes
	e.s = string(b)
	copy(e.data[:], b)
	return e.s
}

// slotOf picks b's slot: a multiplicative hash of its length and its first
// and last 8 bytes (all of it when shorter).
func slotOf(b []byte) uint {
	n := len(b)
	var h uint64
	if n >= 8 {
		h = binary.LittleEndian.Uint64(b)*0x9E3779B97F4A7C15 ^ binary.LittleEndian.Uint64(b[n-8:])
	} else {
		for _, c := range b {
			h = h<<8 | uint64(c)
		}
	}
	h = (h ^ uint64(n)) * 0xBF58476D1CE4E5B9
	return uint(h >> (64 - cacheBits))
}

// Fail gives up: the reader is bad from now on.
func (r *Reader) Fail() {
	r.bad = true
	r.i = len(r.b)
}

// Peek skips whitespace and returns the next byte, 0 at the end. A NUL byte
// in the input also reads as 0: no caller accepts 0, and End tells the two
// apart.
func (r *Reader) Peek() byte {
	if r.i < len(r.b) && r.b[r.i] > ' ' { // compact JSON: no whitespace to skip
		return r.b[r.i]
	}
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
			r.spaced = true
		default:
			return c
		}
	}
	return 0
}

// Null consumes a null literal and reports whether there was one.
func (r *Reader) Null() bool {
	if r.Peek() != 'n' {
		return false
	}
	r.Literal("null")
	return !r.bad
}

// Literal consumes s (true, false or null), or gives up.
func (r *Reader) Literal(s string) {
	if !bytes.HasPrefix(r.b[r.i:], []byte(s)) {
		r.Fail()
		return
	}
	r.i += len(s)
}

// Enter consumes open, '{' or '['.
func (r *Reader) Enter(open byte) bool {
	if r.Peek() != open || r.depth >= MaxDepth {
		r.Fail()
		return false
	}
	r.i++
	r.depth++
	return true
}

// More reports whether the object or array being read has another member
// (consuming the comma before it when n, the members read so far, is not 0)
// or ends (consuming close).
func (r *Reader) More(close byte, n int) bool {
	c := r.Peek()
	if c == close {
		r.i++
		r.depth--
		return false
	}
	if n > 0 {
		if c != ',' {
			r.Fail()
			return false
		}
		r.i++
	}
	return !r.bad
}

// Key reads an object key and the colon after it, and returns the key's
// bytes (not copied: compared, or converted when kept). It gives up on
// escaped keys and on invalid UTF-8, which encoding/json would rewrite.
func (r *Reader) Key() []byte {
	if r.Peek() != '"' {
		r.Fail()
		return nil
	}
	start, high := r.i+1, false
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			k := r.b[start:j]
			if high && !utf8.Valid(k) {
				r.Fail()
				return nil
			}
			r.i = j + 1
			if r.Peek() != ':' {
				r.Fail()
				return nil
			}
			r.i++
			return k
		case c == '\\' || c < 0x20:
			r.Fail()
			return nil
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	r.Fail()
	return nil
}

// Str reads a string. A plain one (no escapes, valid UTF-8) is copied as it
// is; any other is unquoted by encoding/json, so that escapes and invalid
// UTF-8 come out exactly as encoding/json makes them.
func (r *Reader) Str() string {
	if r.Peek() != '"' {
		r.Fail()
		return ""
	}
	start, high := r.i+1, false
	for j := start; ; j++ {
		j = plainRun(r.b, j)
		if j == len(r.b) {
			r.Fail()
			return ""
		}
		switch c := r.b[j]; {
		case c == '"':
			if high && !utf8.Valid(r.b[start:j]) {
				return r.unquote(start - 1)
			}
			r.i = j + 1
			return r.cache.string(r.b[start:j])
		case c == '\\':
			return r.unquote(start - 1)
		case c < 0x20:
			r.Fail()
			return ""
		default: // c >= utf8.RuneSelf
			high = true
		}
	}
}

// plainRun returns the index of the first byte at or after j that is not
// plain (see plainByte), or len(b). It tests 8 bytes at a time: for each
// kind of byte that ends a run, a byte-wise subtraction sets a byte's high
// bit where that kind is (the borrow it may carry only marks bytes after the
// first such byte, and only the first one is used).
func plainRun(b []byte, j int) int {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	for ; j+8 <= len(b); j += 8 {
		x := binary.LittleEndian.Uint64(b[j:])
		q := x ^ ('"' * ones)
		bs := x ^ ('\\' * ones)
		m := x | (x-0x20*ones)&^x | (q-ones)&^q | (bs-ones)&^bs
		if m &= highs; m != 0 {
			return j + bits.TrailingZeros64(m)/8
		}
	}
	for j < len(b) && plainByte[b[j]] {
		j++
	}
	return j
}

// plainByte marks the bytes a string holds as they are: ASCII other than
// control characters, the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

// unquote reads the string starting at the quote at i with encoding/json.
func (r *Reader) unquote(i int) string {
	r.i = i
	r.skipString()
	if r.bad {
		return ""
	}
	var s string
	if wire.Unmarshal(r.b[i:r.i], &s) != nil {
		r.Fail()
	}
	return s
}

// skipString consumes a string, checking its escapes.
func (r *Reader) skipString() {
	j := r.i + 1
	for {
		if j = plainRun(r.b, j); j == len(r.b) {
			break
		}
		c := r.b[j]
		switch {
		case c == '"':
			r.i = j + 1
			return
		case c < 0x20:
			r.Fail()
			return
		case c != '\\':
			j++
			continue
		}
		if j+1 >= len(r.b) {
			r.Fail()
			return
		}
		switch r.b[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			if j+6 > len(r.b) || !isHex4(r.b[j+2:j+6]) {
				r.Fail()
				return
			}
			j += 6
		default:
			r.Fail()
			return
		}
	}
	r.Fail()
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Number consumes a number following the JSON grammar and returns its text
// (not copied).
func (r *Reader) Number() []byte {
	b, j := r.b, r.i
	digits := func() bool {
		k := j
		for j < len(b) && b[j] >= '0' && b[j] <= '9' {
			j++
		}
		return j > k
	}
	if j < len(b) && b[j] == '-' {
		j++
	}
	switch {
	case j < len(b) && b[j] == '0':
		j++
	case !digits():
		r.Fail()
		return nil
	}
	if j < len(b) && b[j] == '.' {
		j++
		if !digits() {
			r.Fail()
			return nil
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if !digits() {
			r.Fail()
			return nil
		}
	}
	s := r.b[r.i:j]
	r.i = j
	return s
}

// Skip consumes any value, checking it.
func (r *Reader) Skip() {
	switch c := r.Peek(); {
	case c == '"':
		r.skipString()
	case c == '{':
		if r.Enter('{') {
			for n := 0; r.More('}', n); n++ {
				if r.Peek() != '"' {
					r.Fail()
					return
				}
				r.skipString()
				if r.Peek() != ':' {
					r.Fail()
					return
				}
				r.i++
				r.Skip()
			}
		}
	case c == '[':
		if r.Enter('[') {
			for n := 0; r.More(']', n); n++ {
				r.Skip()
			}
		}
	case c == 't':
		r.Literal("true")
	case c == 'f':
		r.Literal("false")
	case c == 'n':
		r.Literal("null")
	case c == '-' || c >= '0' && c <= '9':
		r.Number()
	default:
		r.Fail()
	}
}

// Raw consumes any value and returns its bytes.
func (r *Reader) Raw() []byte {
	r.Peek()
	start := r.i
	r.Skip()
	if r.bad {
		return nil
	}
	return r.b[start:r.i]
}

// Ahead returns the next n bytes of the input, after any whitespace,
// without consuming them; nil when fewer remain. SkipN consumes them.
func (r *Reader) Ahead(n int) []byte {
	r.Peek()
	if len(r.b)-r.i < n {
		return nil
	}
	return r.b[r.i : r.i+n]
}

// SkipN consumes n bytes that Ahead returned, which must be a whole value.
func (r *Reader) SkipN(n int) { r.i += n }

// RawCompact consumes any value and returns its bytes as a string (a copy),
// and whether they are compact: no whitespace outside strings.
func (r *Reader) RawCompact() (string, bool) {
	r.Peek()
	start := r.i
	r.spaced = false
	r.Skip()
	if r.bad {
		return "", false
	}
	return string(r.b[start:r.i]), !r.spaced
}

// End checks that nothing but whitespace follows the document.
func (r *Reader) End() {
	if r.Peek() != 0 || r.i != len(r.b) {
		r.Fail()
	}
}

// Field decoders. Each handles null as encoding/json does: nothing for
// strings, numbers and booleans, nil for pointers, slices and maps (the
// target is always a zero value here, so that is nothing too), and the
// Literal handed to UnmarshalJSON for the types that decode themselves.

// String reads a string (null: nothing).
func String[S ~string](r *Reader, dst *S) {
	if !r.Null() {
		*dst = S(r.Str())
	}
}

// Bool reads a boolean (null: nothing).
func Bool(r *Reader, dst *bool) {
	switch r.Peek() {
	case 't':
		r.Literal("true")
		*dst = true
	case 'f':
		r.Literal("false")
	case 'n':
		r.Literal("null")
	default:
		r.Fail()
	}
}

// Int reads an integer; a fraction or exponent is refused by
// encoding/json for an int, so it gives up on them.
func Int(r *Reader, dst *int) {
	if r.Null() {
		return
	}
	if c := r.Peek(); c != '-' && (c < '0' || c > '9') {
		r.Fail()
		return
	}
	n, err := strconv.ParseInt(string(r.Number()), 10, 64)
	if err != nil || int64(int(n)) != n {
		r.Fail()
		return
	}
	*dst = int(n)
}

// IntPtr reads an integer into a new int (null: nil).
func IntPtr(r *Reader, dst **int) {
	if r.Null() {
		return
	}
	var n int
	Int(r, &n)
	*dst = &n
}

// Strings reads an array of strings (null: nil; a null element is "").
func Strings(r *Reader, dst *[]string) {
	if r.Null() || !r.Enter('[') {
		return
	}
	var buf [8]string // most arrays are short: one allocation of the right size
	s := buf[:0]
	for n := 0; r.More(']', n); n++ {
		if r.Null() { // encoding/json leaves the element ""
			s = append(s, "")
			continue
		}
		s = append(s, r.Str())
	}
	*dst = Exact(s)
}

// Exact returns a copy of s with no spare capacity, never nil: what
// encoding/json gives for an array (its elements, or an empty slice for []),
// from a slice a reader collected in a buffer of its own.
func Exact[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return S{}
	}
	return append(make(S, 0, len(s)), s...)
}

// StringMap reads an object of strings (null: nil).
func StringMap(r *Reader, dst *map[string]string) {
	if r.Null() || !r.Enter('{') {
		return
	}
	m := make(map[string]string)
	for n := 0; r.More('}', n); n++ {
		k := r.Key()
		var v string
		String(r, &v)
		m[r.cache.string(k)] = v
	}
	*dst = m
}

// Delegate hands one value to the codec: for nested types that are rare,
// where speed does not matter.
func Delegate[V any](r *Reader, dst *V) {
	if raw := r.Raw(); !r.bad && wire.Unmarshal(raw, dst) != nil {
		r.Fail()
	}
}

// DelegateSlice is Delegate for a slice, reading an empty array itself (an
// empty slice, as the codec makes of it): pages send "forms":[] and
// "results":[] with every conversation.
func DelegateSlice[S ~[]E, E any](r *Reader, dst *S) {
	if r.Peek() == '[' {
		start := r.i
		r.i++
		if r.Peek() == ']' {
			r.i++
			*dst = S{}
			return
		}
		r.i = start // Peek only skipped whitespace
	}
	Delegate(r, dst)
}

// Field is one JSON key of a struct and how to decode it.
type Field[T any] struct {
	Name string            // the JSON key, matched exactly
	Dec  func(*Reader, *T) // reads the value into its field
}

// Struct reads an object into v (null leaves it as is). It gives up on
// duplicate keys (encoding/json merges them into the same field) and on keys
// that match a field only by case folding; it checks and skips other keys.
func Struct[T any](r *Reader, v *T, fields []Field[T]) {
	if r.Null() || !r.Enter('{') {
		return
	}
	var seen uint64 // fields have fewer than 64 entries (CheckTable)
	next := 0       // where the next key is looked for first: keys come in table order
	for n := 0; r.More('}', n); n++ {
		i := next
		if i == len(fields) || !r.keyIs(fields[i].Name) { // in table order: the usual case
			k := r.Key()
			if i = fieldIndex(fields, k, next); i == len(fields) {
				if foldsToField(k, fields) {
					r.Fail()
					return
				}
				r.Skip()
				continue
			}
		}
		if seen&(1<<i) != 0 {
			r.Fail()
			return
		}
		seen |= 1 << i
		next = i + 1
		fields[i].Dec(r, v)
	}
}

// keyIs consumes the next key and its colon when the key is exactly name (a
// table's name: plain ASCII, so what Key would read and compare) and reports
// whether it did; otherwise it consumes nothing.
func (r *Reader) keyIs(name string) bool {
	if r.Peek() != '"' {
		return false
	}
	start, end := r.i+1, r.i+1+len(name)
	if end >= len(r.b) || r.b[end] != '"' || string(r.b[start:end]) != name {
		return false
	}
	r.i = end + 1
	if r.Peek() != ':' {
		r.Fail()
		return true // the reader is bad; the field decoder reads nothing
	}
	r.i++
	return true
}

// fieldIndex returns the index of the field named k, looking from from on
// and then before it, or len(fields) when there is none.
func fieldIndex[T any](fields []Field[T], k []byte, from int) int {
	for i := from; i < len(fields); i++ {
		if fields[i].Name == string(k) {
			return i
		}
	}
	for i := 0; i < from && i < len(fields); i++ {
		if fields[i].Name == string(k) {
			return i
		}
	}
	return len(fields)
}

// foldsToField reports whether encoding/json could match key to one of
// fields without an exact match: ASCII case folding, or any non-ASCII key
// (Unicode folding maps a few letters, such as the Kelvin sign, to ASCII).
func foldsToField[T any](key []byte, fields []Field[T]) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, f := range fields {
		if bytes.EqualFold([]byte(f.Name), key) {
			return true
		}
	}
	return false
}
