package webhook

import (
	"bytes"
	"hash/maphash"
	"strconv"
	"sync"
	"unicode/utf8"

	"github.com/go-chatshipper/chatshipper"
	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// A one-pass decoder for message events, the webhook hot path, built on
// every Go version.
//
// encoding/json validates a whole body before decoding it, then decodes it
// with a scanner that calls a state function for every byte: on a 2 KB
// message event that was 85% of a delivery's CPU. encoding/json/v2 (the codec
// from Go 1.27) walks the body about as fast as this decoder (jsontext reads
// every token of the event in about the time this decoder's reader skips
// it), but decodes the models' structs by reflection: each member name is
// looked up in a map and each value goes through an arshaler, which costs
// about 1.4 times this decoder's CPU on the same event (BenchmarkEventDecode;
// BENCHMARKS.md, "Webhooks", has the loopback figures). Streaming methods on
// Conversation and Message would be hand-written field tables again, on a
// tokenizer that Go 1.26 does not have. This file goes when encoding/json/v2
// decodes the models as cheaply as it does.
//
// decodeEventFast reads the same shape (eventTyped) in one pass. Like
// encoding/json, it never cuts a string from the body, so keeping one (an ID
// in a cache) never keeps the whole body alive: a string is a copy, or a short
// string an earlier event decoded to the same bytes (stringCache). (Cutting
// them from one copy of the body instead saved as many allocations but
// allocated more bytes, and the receiver over loopback was no faster.)
//
// It speeds encoding/json up and never overrules it. Whenever the input is
// not plainly what it knows, it gives up, and parseEvent decodes the body with
// the codec, which then decides, errors included. It gives up on: a
// duplicate key, a key that matches a field only in another letter case, any
// non-ASCII key of a struct (Unicode folding matches a few letters, such as
// the Kelvin sign, to ASCII ones), an escaped or invalid UTF-8 key, a value of
// the wrong JSON type, a number out of range, nesting deeper than
// fastMaxDepth, and anything that is not valid JSON. When it does succeed,
// the result is what encoding/json gives, field for field: strings with
// escapes are unquoted by the codec itself, and the fields whose types
// decode themselves (Ref, Timestamp, Object) get the bytes encoding/json
// would give their UnmarshalJSON. Rare nested types (actions, items, results,
// comments, forms) are handed to the codec whole.
//
// The guards: FuzzEventFastDecode compares the two decoders on arbitrary
// input, TestEventFastDecodeEveryField on a payload with every field of every
// decoded type set (a model field added without a line here fails it), and
// TestEventFastDecodeGivesUp lists the cases above.

// fastMaxDepth is the nesting the fast decoder follows; deeper input is left
// to encoding/json (whose own limit is 10,000).
const fastMaxDepth = 128

// fastReader is a cursor over one JSON document. After the first problem it
// is bad, its position is at the end, and every read returns a zero value.
type fastReader struct {
	b     []byte
	i     int
	depth int
	bad   bool
	cache *stringCache // nil: every string is allocated
}

// stringCache keeps the short strings decoded lately, so that the values
// one event after another repeats (the IDs of the organization, the
// conversation, the contact and the bot, and names, types and roles) are not
// allocated again; encoding/json/v2 keeps one for the same reason. A decoder
// takes one from stringCaches and owns it until it is done.
type stringCache [256]string

// cachedStringMax is the longest string the cache keeps.
const cachedStringMax = 64

var (
	stringCaches    = sync.Pool{New: func() any { return new(stringCache) }}
	stringCacheSeed = maphash.MakeSeed()
)

// string returns b as a string: the cached one when equal, else a new one,
// which is cached when short.
func (c *stringCache) string(b []byte) string {
	if c == nil || len(b) > cachedStringMax {
		return string(b)
	}
	e := &c[maphash.Bytes(stringCacheSeed, b)%uint64(len(c))]
	if *e != string(b) {
		*e = string(b)
	}
	return *e
}

func (r *fastReader) fail() {
	r.bad = true
	r.i = len(r.b)
}

// peek skips whitespace and returns the next byte, 0 at the end. A NUL byte
// in the input also reads as 0: no caller accepts 0, and end() tells the two
// apart.
func (r *fastReader) peek() byte {
	if r.i < len(r.b) && r.b[r.i] > ' ' { // compact JSON: no whitespace to skip
		return r.b[r.i]
	}
	for r.i < len(r.b) {
		switch c := r.b[r.i]; c {
		case ' ', '\t', '\n', '\r':
			r.i++
		default:
			return c
		}
	}
	return 0
}

// null consumes a null literal and reports whether there was one.
func (r *fastReader) null() bool {
	if r.peek() != 'n' {
		return false
	}
	r.literal("null")
	return !r.bad
}

func (r *fastReader) literal(s string) {
	if !bytes.HasPrefix(r.b[r.i:], []byte(s)) {
		r.fail()
		return
	}
	r.i += len(s)
}

// enter consumes open, '{' or '['.
func (r *fastReader) enter(open byte) bool {
	if r.peek() != open || r.depth >= fastMaxDepth {
		r.fail()
		return false
	}
	r.i++
	r.depth++
	return true
}

// more reports whether the object or array being read has another member
// (consuming the comma before it when n, the members read so far, is not 0)
// or ends (consuming close).
func (r *fastReader) more(close byte, n int) bool {
	c := r.peek()
	if c == close {
		r.i++
		r.depth--
		return false
	}
	if n > 0 {
		if c != ',' {
			r.fail()
			return false
		}
		r.i++
	}
	return !r.bad
}

// key reads an object key and the colon after it, and returns the key's
// bytes (not copied: compared, or converted when kept). It gives up on
// escaped keys and on invalid UTF-8, which encoding/json would rewrite.
func (r *fastReader) key() []byte {
	if r.peek() != '"' {
		r.fail()
		return nil
	}
	start, high := r.i+1, false
	for j := start; j < len(r.b); j++ {
		switch c := r.b[j]; {
		case c == '"':
			k := r.b[start:j]
			if high && !utf8.Valid(k) {
				r.fail()
				return nil
			}
			r.i = j + 1
			if r.peek() != ':' {
				r.fail()
				return nil
			}
			r.i++
			return k
		case c == '\\' || c < 0x20:
			r.fail()
			return nil
		case c >= utf8.RuneSelf:
			high = true
		}
	}
	r.fail()
	return nil
}

// str reads a string. A plain one (no escapes, valid UTF-8) is copied as it
// is; any other is unquoted by encoding/json, so that escapes and invalid
// UTF-8 come out exactly as encoding/json makes them.
func (r *fastReader) str() string {
	if r.peek() != '"' {
		r.fail()
		return ""
	}
	start, high := r.i+1, false
	for j := start; ; j++ {
		for j < len(r.b) && plainByte[r.b[j]] {
			j++
		}
		if j == len(r.b) {
			r.fail()
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
			r.fail()
			return ""
		default: // c >= utf8.RuneSelf
			high = true
		}
	}
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
func (r *fastReader) unquote(i int) string {
	r.i = i
	r.skipString()
	if r.bad {
		return ""
	}
	var s string
	if wire.Unmarshal(r.b[i:r.i], &s) != nil {
		r.fail()
	}
	return s
}

// skipString consumes a string, checking its escapes.
func (r *fastReader) skipString() {
	j := r.i + 1
	for j < len(r.b) {
		c := r.b[j]
		switch {
		case c == '"':
			r.i = j + 1
			return
		case c < 0x20:
			r.fail()
			return
		case c != '\\':
			j++
			continue
		}
		if j+1 >= len(r.b) {
			r.fail()
			return
		}
		switch r.b[j+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			j += 2
		case 'u':
			if j+6 > len(r.b) || !isHex4(r.b[j+2:j+6]) {
				r.fail()
				return
			}
			j += 6
		default:
			r.fail()
			return
		}
	}
	r.fail()
}

func isHex4(b []byte) bool {
	for _, c := range b {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// number consumes a number following the JSON grammar and returns its text
// (not copied).
func (r *fastReader) number() []byte {
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
		r.fail()
		return nil
	}
	if j < len(b) && b[j] == '.' {
		j++
		if !digits() {
			r.fail()
			return nil
		}
	}
	if j < len(b) && (b[j] == 'e' || b[j] == 'E') {
		j++
		if j < len(b) && (b[j] == '+' || b[j] == '-') {
			j++
		}
		if !digits() {
			r.fail()
			return nil
		}
	}
	s := r.b[r.i:j]
	r.i = j
	return s
}

// skip consumes any value, checking it.
func (r *fastReader) skip() {
	switch c := r.peek(); {
	case c == '"':
		r.skipString()
	case c == '{':
		if r.enter('{') {
			for n := 0; r.more('}', n); n++ {
				if r.peek() != '"' {
					r.fail()
					return
				}
				r.skipString()
				if r.peek() != ':' {
					r.fail()
					return
				}
				r.i++
				r.skip()
			}
		}
	case c == '[':
		if r.enter('[') {
			for n := 0; r.more(']', n); n++ {
				r.skip()
			}
		}
	case c == 't':
		r.literal("true")
	case c == 'f':
		r.literal("false")
	case c == 'n':
		r.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		r.number()
	default:
		r.fail()
	}
}

// raw consumes any value and returns its bytes.
func (r *fastReader) raw() []byte {
	r.peek()
	start := r.i
	r.skip()
	if r.bad {
		return nil
	}
	return r.b[start:r.i]
}

// end checks that nothing but whitespace follows the document.
func (r *fastReader) end() {
	if r.peek() != 0 || r.i != len(r.b) {
		r.fail()
	}
}

// Field decoders. Each handles null as encoding/json does: nothing for
// strings, numbers and booleans, nil for pointers, slices and maps (the
// target is always a zero value here, so that is nothing too), and the
// literal handed to UnmarshalJSON for Ref and Timestamp.

func fastString[S ~string](r *fastReader, dst *S) {
	if !r.null() {
		*dst = S(r.str())
	}
}

func fastBool(r *fastReader, dst *bool) {
	switch r.peek() {
	case 't':
		r.literal("true")
		*dst = true
	case 'f':
		r.literal("false")
	case 'n':
		r.literal("null")
	default:
		r.fail()
	}
}

// fastInt reads an integer; a fraction or exponent is refused by
// encoding/json for an int, so it gives up on them.
func fastInt(r *fastReader, dst *int) {
	if r.null() {
		return
	}
	if c := r.peek(); c != '-' && (c < '0' || c > '9') {
		r.fail()
		return
	}
	n, err := strconv.ParseInt(string(r.number()), 10, 64)
	if err != nil || int64(int(n)) != n {
		r.fail()
		return
	}
	*dst = int(n)
}

func fastIntPtr(r *fastReader, dst **int) {
	if r.null() {
		return
	}
	var n int
	fastInt(r, &n)
	*dst = &n
}

func fastStrings(r *fastReader, dst *[]string) {
	if r.null() || !r.enter('[') {
		return
	}
	s := make([]string, 0)
	for n := 0; r.more(']', n); n++ {
		if r.null() { // encoding/json leaves the element ""
			s = append(s, "")
			continue
		}
		s = append(s, r.str())
	}
	*dst = s
}

func fastLinks(r *fastReader, dst *map[string]string) {
	if r.null() || !r.enter('{') {
		return
	}
	m := make(map[string]string)
	for n := 0; r.more('}', n); n++ {
		k := r.key()
		var v string
		fastString(r, &v)
		m[r.cache.string(k)] = v
	}
	*dst = m
}

// fastRef reads a Ref: an ID string directly (what Ref.UnmarshalJSON makes of
// it; a change there must be made here too), anything else through
// Ref.UnmarshalJSON.
func fastRef[T any](r *fastReader, dst *chatshipper.Ref[T]) {
	if r.peek() == '"' {
		*dst = chatshipper.Ref[T]{ID: r.str()}
		return
	}
	if raw := r.raw(); !r.bad && dst.UnmarshalJSON(raw) != nil {
		r.fail()
	}
}

func fastRefs[T any](r *fastReader, dst *[]chatshipper.Ref[T]) {
	if r.null() || !r.enter('[') {
		return
	}
	s := make([]chatshipper.Ref[T], 0)
	for n := 0; r.more(']', n); n++ {
		s = append(s, chatshipper.Ref[T]{})
		fastRef(r, &s[len(s)-1])
	}
	*dst = s
}

// fastObject keeps an Object's JSON: encoding/json hands the bytes to
// UnmarshalJSON once it has checked them, which raw has done.
func fastObject(r *fastReader, dst *chatshipper.Object) {
	if raw := r.raw(); !r.bad && dst.UnmarshalJSON(raw) != nil {
		r.fail()
	}
}

func fastTimestamp(r *fastReader, dst *chatshipper.Timestamp) {
	if raw := r.raw(); !r.bad && dst.UnmarshalJSON(raw) != nil {
		r.fail()
	}
}

// fastDelegate hands one value to encoding/json: for nested types rare in
// events, where speed does not matter.
func fastDelegate[V any](r *fastReader, dst *V) {
	if raw := r.raw(); !r.bad && wire.Unmarshal(raw, dst) != nil {
		r.fail()
	}
}

// fastField is one JSON key of a struct and how to decode it.
type fastField[T any] struct {
	name string
	dec  func(*fastReader, *T)
}

// fastStruct reads an object into v (null leaves it as is). It gives up on
// duplicate keys (encoding/json merges them into the same field) and on keys
// that match a field only by case folding; it checks and skips other keys.
func fastStruct[T any](r *fastReader, v *T, fields []fastField[T]) {
	if r.null() || !r.enter('{') {
		return
	}
	var seen uint64 // fields have fewer than 64 entries (TestFastFieldTables)
	next := 0       // where the next key is looked for first: keys come in table order
	for n := 0; r.more('}', n); n++ {
		k := r.key()
		i := fieldIndex(fields, k, next)
		if i == len(fields) {
			if foldsToField(k, fields) {
				r.fail()
				return
			}
			r.skip()
			continue
		}
		if seen&(1<<i) != 0 {
			r.fail()
			return
		}
		seen |= 1 << i
		next = i + 1
		fields[i].dec(r, v)
	}
}

// fieldIndex returns the index of the field named k, looking from from on
// and then before it, or len(fields) when there is none.
func fieldIndex[T any](fields []fastField[T], k []byte, from int) int {
	for i := from; i < len(fields); i++ {
		if fields[i].name == string(k) {
			return i
		}
	}
	for i := 0; i < from && i < len(fields); i++ {
		if fields[i].name == string(k) {
			return i
		}
	}
	return len(fields)
}

// foldsToField reports whether encoding/json could match key to one of
// fields without an exact match: ASCII case folding, or any non-ASCII key
// (Unicode folding maps a few letters, such as the Kelvin sign, to ASCII).
func foldsToField[T any](key []byte, fields []fastField[T]) bool {
	for i := 0; i < len(key); i++ {
		if key[i] >= utf8.RuneSelf {
			return true
		}
	}
	for _, f := range fields {
		if bytes.EqualFold([]byte(f.name), key) {
			return true
		}
	}
	return false
}

// The field tables, in the order the platform sends the fields. They must
// list every JSON name of their types (TestEventFastDecodeEveryField).
var (
	fastEventFields = []fastField[eventTyped]{
		{"id", func(r *fastReader, e *eventTyped) { fastString(r, &e.ID) }},
		{"event", func(r *fastReader, e *eventTyped) { fastString(r, &e.Event) }},
		{"timestamp", func(r *fastReader, e *eventTyped) { fastTimestamp(r, &e.Timestamp) }},
		{"organization", func(r *fastReader, e *eventTyped) { fastRef(r, &e.Organization) }},
		{"activity", func(r *fastReader, e *eventTyped) {
			if !r.null() {
				e.Activity = new(Activity)
				fastStruct(r, e.Activity, fastActivityFields)
			}
		}},
		{"data", func(r *fastReader, e *eventTyped) { fastStruct(r, &e.Data, fastDataFields) }},
	}

	fastActivityFields = []fastField[Activity]{
		{"@context", func(r *fastReader, a *Activity) { fastString(r, &a.Context) }},
		{"type", func(r *fastReader, a *Activity) { fastString(r, &a.Type) }},
		{"actor", func(r *fastReader, a *Activity) { fastStruct(r, &a.Actor, fastActivityObjectFields) }},
		{"object", func(r *fastReader, a *Activity) { fastStruct(r, &a.Object, fastActivityObjectFields) }},
		{"published", func(r *fastReader, a *Activity) { fastTimestamp(r, &a.Published) }},
		{"summary", func(r *fastReader, a *Activity) { fastString(r, &a.Summary) }},
	}

	fastActivityObjectFields = []fastField[ActivityObject]{
		{"id", func(r *fastReader, o *ActivityObject) { fastString(r, &o.ID) }},
		{"type", func(r *fastReader, o *ActivityObject) { fastString(r, &o.Type) }},
	}

	fastDataFields = []fastField[eventTypedData]{
		{"conversation", func(r *fastReader, d *eventTypedData) {
			if !r.null() {
				d.Conversation = new(chatshipper.Conversation)
				fastStruct(r, d.Conversation, fastConversationFields)
			}
		}},
		{"message", func(r *fastReader, d *eventTypedData) {
			if !r.null() {
				d.Message = new(chatshipper.Message)
				fastStruct(r, d.Message, fastMessageFields)
			}
		}},
		{"links", func(r *fastReader, d *eventTypedData) { fastLinks(r, &d.Links) }},
	}

	fastConversationFields = []fastField[chatshipper.Conversation]{
		{"id", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.ID) }},
		{"organization", func(r *fastReader, c *chatshipper.Conversation) { fastRef(r, &c.Organization) }},
		{"orgPath", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.OrgPath) }},
		{"name", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.Name) }},
		{"type", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.Type) }},
		{"status", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.Status) }},
		{"contact", func(r *fastReader, c *chatshipper.Conversation) { fastRef(r, &c.Contact) }},
		{"categoryIndex", func(r *fastReader, c *chatshipper.Conversation) { fastIntPtr(r, &c.CategoryIndex) }},
		{"category", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.Category) }},
		{"touchpoint", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.Touchpoint) }},
		{"language", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.Language) }},
		{"participants", func(r *fastReader, c *chatshipper.Conversation) { fastParticipants(r, &c.Participants) }},
		{"meta", func(r *fastReader, c *chatshipper.Conversation) { fastObject(r, &c.Meta) }},
		{"createdAt", func(r *fastReader, c *chatshipper.Conversation) { fastTimestamp(r, &c.CreatedAt) }},
		{"updatedAt", func(r *fastReader, c *chatshipper.Conversation) { fastTimestamp(r, &c.UpdatedAt) }},
		{"slug", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.Slug) }},
		{"url", func(r *fastReader, c *chatshipper.Conversation) { fastString(r, &c.URL) }},
		{"messages", func(r *fastReader, c *chatshipper.Conversation) { fastRefs(r, &c.Messages) }},
		{"channels", func(r *fastReader, c *chatshipper.Conversation) { fastStrings(r, &c.Channels) }},
		{"channelsOffline", func(r *fastReader, c *chatshipper.Conversation) { fastStrings(r, &c.ChannelsOffline) }},
		{"forms", func(r *fastReader, c *chatshipper.Conversation) { fastDelegate(r, &c.Forms) }},
		{"results", func(r *fastReader, c *chatshipper.Conversation) { fastDelegate(r, &c.Results) }},
		{"touchpoints", func(r *fastReader, c *chatshipper.Conversation) { fastStrings(r, &c.Touchpoints) }},
		{"createdBy", func(r *fastReader, c *chatshipper.Conversation) { fastRef(r, &c.CreatedBy) }},
	}

	fastParticipantFields = []fastField[chatshipper.Participant]{
		{"user", func(r *fastReader, p *chatshipper.Participant) { fastRef(r, &p.User) }},
		{"name", func(r *fastReader, p *chatshipper.Participant) { fastString(r, &p.Name) }},
		{"role", func(r *fastReader, p *chatshipper.Participant) { fastString(r, &p.Role) }},
		{"unreadCount", func(r *fastReader, p *chatshipper.Participant) { fastInt(r, &p.UnreadCount) }},
		{"inbox", func(r *fastReader, p *chatshipper.Participant) { fastBool(r, &p.Inbox) }},
		{"accepted", func(r *fastReader, p *chatshipper.Participant) { fastBool(r, &p.Accepted) }},
		{"active", func(r *fastReader, p *chatshipper.Participant) { fastBool(r, &p.Active) }},
		{"createdAt", func(r *fastReader, p *chatshipper.Participant) { fastTimestamp(r, &p.CreatedAt) }},
		{"updatedAt", func(r *fastReader, p *chatshipper.Participant) { fastTimestamp(r, &p.UpdatedAt) }},
		{"avatar", func(r *fastReader, p *chatshipper.Participant) { fastString(r, &p.Avatar) }},
		{"follow", func(r *fastReader, p *chatshipper.Participant) { fastBool(r, &p.Follow) }},
		{"organization", func(r *fastReader, p *chatshipper.Participant) { fastString(r, &p.Organization) }},
	}

	fastMessageFields = []fastField[chatshipper.Message]{
		{"id", func(r *fastReader, m *chatshipper.Message) { fastString(r, &m.ID) }},
		{"conversation", func(r *fastReader, m *chatshipper.Message) { fastRef(r, &m.Conversation) }},
		{"organization", func(r *fastReader, m *chatshipper.Message) { fastRef(r, &m.Organization) }},
		{"orgPath", func(r *fastReader, m *chatshipper.Message) { fastString(r, &m.OrgPath) }},
		{"type", func(r *fastReader, m *chatshipper.Message) { fastString(r, &m.Type) }},
		{"role", func(r *fastReader, m *chatshipper.Message) { fastString(r, &m.Role) }},
		{"user", func(r *fastReader, m *chatshipper.Message) { fastRef(r, &m.User) }},
		{"text", func(r *fastReader, m *chatshipper.Message) { fastString(r, &m.Text) }},
		{"contentType", func(r *fastReader, m *chatshipper.Message) { fastString(r, &m.ContentType) }},
		{"isBackchannel", func(r *fastReader, m *chatshipper.Message) { fastBool(r, &m.IsBackchannel) }},
		{"touchpoint", func(r *fastReader, m *chatshipper.Message) { fastString(r, &m.Touchpoint) }},
		{"meta", func(r *fastReader, m *chatshipper.Message) { fastObject(r, &m.Meta) }},
		{"createdAt", func(r *fastReader, m *chatshipper.Message) { fastTimestamp(r, &m.CreatedAt) }},
		{"updatedAt", func(r *fastReader, m *chatshipper.Message) { fastTimestamp(r, &m.UpdatedAt) }},
		{"delay", func(r *fastReader, m *chatshipper.Message) { fastInt(r, &m.Delay) }},
		{"actions", func(r *fastReader, m *chatshipper.Message) { fastDelegate(r, &m.Actions) }},
		{"items", func(r *fastReader, m *chatshipper.Message) { fastDelegate(r, &m.Items) }},
		{"results", func(r *fastReader, m *chatshipper.Message) { fastDelegate(r, &m.Results) }},
		{"likes", func(r *fastReader, m *chatshipper.Message) { fastStrings(r, &m.Likes) }},
		{"comments", func(r *fastReader, m *chatshipper.Message) { fastDelegate(r, &m.Comments) }},
		{"version", func(r *fastReader, m *chatshipper.Message) { fastInt(r, &m.Version) }},
	}
)

func fastParticipants(r *fastReader, dst *[]chatshipper.Participant) {
	if r.null() || !r.enter('[') {
		return
	}
	s := make([]chatshipper.Participant, 0, 2)
	for n := 0; r.more(']', n); n++ {
		s = append(s, chatshipper.Participant{})
		fastStruct(r, &s[len(s)-1], fastParticipantFields)
	}
	*dst = s
}

// decodeEventFast decodes body into t, which must be zero, and reports
// whether it could; when it could not, t holds partial results and the
// caller decodes again with encoding/json.
func decodeEventFast(body []byte, t *eventTyped) bool {
	r := fastReader{b: body}
	if r.peek() != '{' { // encoding/json decides what null or a non-object means
		return false
	}
	r.cache = stringCaches.Get().(*stringCache)
	defer stringCaches.Put(r.cache)
	fastStruct(&r, t, fastEventFields)
	r.end()
	return !r.bad
}
