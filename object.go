package chatshipper

import (
	"bytes"
	"encoding/json"
	"reflect"
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
// float64, objects as map[string]any, arrays as []any. The zero Object is an
// absent (or null) object. An Object is read-only, so it is safe for
// concurrent use and cheap to copy.
type Object struct {
	raw []byte // a JSON object exactly as received, or nil
}

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
	return Object{raw: b}, nil
}

// IsZero reports whether the object is absent or null (for the omitzero
// tag). An empty object {} is not zero.
func (o Object) IsZero() bool { return o.raw == nil }

// Lookup returns the value of key (a top-level key, matched exactly) and
// whether the object has it.
func (o Object) Lookup(key string) (any, bool) {
	raw, ok := o.field(key)
	if !ok {
		return nil, false
	}
	var v any
	if decodeJSON(raw, &v) != nil {
		return nil, false
	}
	return v, true
}

// Get returns the value of key, or nil when the object does not have it.
func (o Object) Get(key string) any {
	v, _ := o.Lookup(key)
	return v
}

// Map returns the whole object decoded into a new map, or nil for the zero
// Object. Changing the map does not change the Object.
func (o Object) Map() Meta {
	if o.raw == nil {
		return nil
	}
	m := Meta{}
	if decodeJSON(o.raw, &m) != nil {
		return nil
	}
	return m
}

// Decode decodes the object into v, a pointer (to a struct with json tags,
// say), as json.Unmarshal does.
func (o Object) Decode(v any) error {
	if v == nil || reflect.TypeOf(v).Kind() != reflect.Pointer {
		return argError("v", "must be a non-nil pointer")
	}
	if o.raw == nil {
		return nil
	}
	return decodeJSON(o.raw, v)
}

// Len returns the number of keys.
func (o Object) Len() int {
	if o.raw == nil {
		return 0
	}
	var m map[string]json.RawMessage
	if decodeJSON(o.raw, &m) != nil {
		return 0
	}
	return len(m)
}

// Raw returns a copy of the object's JSON as kept, or nil.
func (o Object) Raw() json.RawMessage { return bytes.Clone(o.raw) }

// String returns the object's JSON, or "" for the zero Object.
func (o Object) String() string { return string(o.raw) }

// field returns the raw JSON of key's value. Duplicate keys: the last wins,
// as when decoding into a map.
func (o Object) field(key string) ([]byte, bool) {
	if o.raw == nil {
		return nil, false
	}
	var m map[string]json.RawMessage
	if decodeJSON(o.raw, &m) != nil {
		return nil, false
	}
	raw, ok := m[key]
	return raw, ok
}

// MarshalJSON writes the object as kept, or null for the zero Object.
func (o Object) MarshalJSON() ([]byte, error) {
	if o.raw == nil {
		return []byte("null"), nil
	}
	return o.raw, nil
}

// UnmarshalJSON keeps a JSON object (compacted); null is the zero Object.
func (o *Object) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	return o.set(b)
}

// errNotObject is the error for a value that is not a JSON object, of the
// type encoding/json reports when a non-object meets a map.
func errNotObject(b []byte) error {
	kind := "value"
	if len(b) > 0 {
		switch b[0] {
		case '"':
			kind = "string"
		case '[':
			kind = "array"
		case 't', 'f':
			kind = "bool"
		default:
			kind = "number"
		}
	}
	return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[Object]()}
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
	// usually compact already.
	if !bytes.ContainsAny(b, " \t\r\n") {
		o.raw = bytes.Clone(b)
		return nil
	}
	var buf bytes.Buffer
	buf.Grow(len(b))
	if err := json.Compact(&buf, b); err != nil {
		return err
	}
	o.raw = buf.Bytes()
	return nil
}
