package chatshipper

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
)

// ErrNoField is returned by Document.Get for a field the document does not
// have.
var ErrNoField = errors.New("chatshipper: document has no such field")

// Document is a resource of any collection (see Client.Collection), kept
// field by field as the JSON the server sent: every field survives, known or
// not, and a field that is not Set goes back byte for byte as it came. The
// common fields have typed accessors; any other is read with Get and written
// with Set. Field names are top-level keys (no dotted paths).
//
// The zero Document is an empty document ready to use. A Document is not
// safe for concurrent writes; copying a Document value shares its fields, use
// Clone for an independent copy.
type Document struct {
	fields map[string]json.RawMessage
}

// MarshalJSON writes the fields in key order, each value exactly as stored.
func (d Document) MarshalJSON() ([]byte, error) {
	size := 2
	for k, v := range d.fields {
		size += len(k) + len(v) + 4
	}
	b := make([]byte, 0, size)
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(d.fields)) {
		if i > 0 {
			b = append(b, ',')
		}
		if plainJSONKey(k) {
			b = append(b, '"')
			b = append(b, k...)
			b = append(b, '"')
		} else {
			key, err := encodeJSON(k)
			if err != nil {
				return nil, err
			}
			b = append(b, key...)
		}
		b = append(b, ':')
		b = append(b, d.fields[k]...)
	}
	return append(b, '}'), nil
}

// plainJSONKey reports whether k can be written between quotes as it is.
func plainJSONKey(k string) bool {
	for i := 0; i < len(k); i++ {
		c := k[i]
		if c < 0x20 || c >= 0x80 || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}

// UnmarshalJSON keeps every field of a JSON object as its raw bytes; null is
// an empty document. It replaces the document's fields.
func (d *Document) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if bytes.Equal(b, []byte("null")) {
		d.fields = nil
		return nil
	}
	if len(b) == 0 || b[0] != '{' {
		return fmt.Errorf("chatshipper: a document must be a JSON object, got %s", truncate(string(b), 40))
	}
	var m map[string]json.RawMessage
	if err := decodeJSON(b, &m); err != nil {
		return err
	}
	d.fields = m
	return nil
}

// ID returns the document's "id" (or, failing that, "_id"), or "".
func (d *Document) ID() string {
	var id string
	if d.Get("id", &id) == nil && id != "" {
		return id
	}
	if d.Get("_id", &id) == nil {
		return id
	}
	return ""
}

func (d *Document) refID() string { return d.ID() }

// Organization returns the ID of the owning organization, also when the
// field was populated into an object; "" when absent.
func (d *Document) Organization() string {
	var r Ref[Organization]
	if d.Get("organization", &r) != nil {
		return ""
	}
	return r.ID
}

// CreatedAt returns "createdAt", or the zero Timestamp when it is absent or
// not a time.
func (d *Document) CreatedAt() Timestamp { return d.timestamp("createdAt") }

// UpdatedAt returns "updatedAt", or the zero Timestamp when it is absent or
// not a time.
func (d *Document) UpdatedAt() Timestamp { return d.timestamp("updatedAt") }

func (d *Document) timestamp(field string) Timestamp {
	var t Timestamp
	if d.Get(field, &t) != nil {
		return Timestamp{}
	}
	return t
}

// Meta returns the decoded "meta" object, or nil when it is absent or not an
// object. Changing the returned map does not change the document: Set it.
func (d *Document) Meta() Meta {
	var m Meta
	if d.Get("meta", &m) != nil {
		return nil
	}
	return m
}

// Get decodes field into v (a pointer, as for json.Unmarshal). It returns an
// error matching ErrNoField when the document has no such field, and the
// decoding error when the value does not fit v.
func (d *Document) Get(field string, v any) error {
	if v == nil {
		return argError("v", "must be a non-nil pointer")
	}
	raw, ok := d.lookup(field)
	if !ok {
		return fmt.Errorf("%w: %s", ErrNoField, quoteQueryValue(field))
	}
	if err := decodeJSON(raw, v); err != nil {
		return fmt.Errorf("chatshipper: document field %s: %w", quoteQueryValue(field), err)
	}
	return nil
}

// Set stores v as field, encoded as JSON. A json.RawMessage is stored as
// given after checking that it is valid JSON. Other fields are untouched.
func (d *Document) Set(field string, v any) error {
	if field == "" {
		return argError("field", "must not be empty")
	}
	var raw []byte
	if r, ok := v.(json.RawMessage); ok {
		r = bytes.TrimSpace(r)
		if !json.Valid(r) {
			return argError(field, "raw value is not valid JSON")
		}
		raw = bytes.Clone(r)
	} else {
		b, err := encodeJSON(v)
		if err != nil {
			return fmt.Errorf("chatshipper: document field %s: %w", quoteQueryValue(field), err)
		}
		raw = b
	}
	if d.fields == nil {
		d.fields = make(map[string]json.RawMessage)
	}
	d.fields[field] = raw
	return nil
}

// Has reports whether the document has field (also when its value is null).
func (d *Document) Has(field string) bool {
	_, ok := d.lookup(field)
	return ok
}

// Raw returns a copy of field's JSON exactly as stored, or nil.
func (d *Document) Raw(field string) json.RawMessage {
	raw, ok := d.lookup(field)
	if !ok {
		return nil
	}
	return bytes.Clone(raw)
}

// Unset removes field from the document. Note that sending a document
// without a field in a PATCH leaves the stored field as it is: to clear it on
// the server, Set it to nil (JSON null).
func (d *Document) Unset(field string) {
	if d != nil {
		delete(d.fields, field)
	}
}

// Fields returns the document's field names, sorted.
func (d *Document) Fields() []string {
	if d == nil {
		return nil
	}
	return slices.Sorted(maps.Keys(d.fields))
}

// Len returns the number of fields.
func (d *Document) Len() int {
	if d == nil {
		return 0
	}
	return len(d.fields)
}

// Clone returns an independent copy of the document.
func (d *Document) Clone() *Document {
	c := &Document{}
	if d == nil || d.fields == nil {
		return c
	}
	c.fields = make(map[string]json.RawMessage, len(d.fields))
	for k, v := range d.fields {
		c.fields[k] = bytes.Clone(v)
	}
	return c
}

func (d *Document) lookup(field string) (json.RawMessage, bool) {
	if d == nil {
		return nil, false
	}
	raw, ok := d.fields[field]
	return raw, ok
}

// Err returns why the collection name was refused, or nil. Every method of a
// refused collection returns this error before any I/O.
func (s *CollectionService) Err() error { return s.r.err }

// maxCollectionName bounds a collection name; the API's longest is 11.
const maxCollectionName = 64

// Collection returns the service of the collection name (/v2/{name}), e.g.
// c.Collection("kbases"). The name must be 1 to 64 lowercase ASCII letters;
// any other name ("", "..", "a/b", "Users", ...) is refused: the service's
// Err reports it and every method returns it before any I/O.
func (c *Client) Collection(name string) *CollectionService {
	s := &CollectionService{r: newResource[Document, Document, Document](c, name, "documentID")}
	if err := checkCollectionName(name); err != nil {
		s.r.err = err
	}
	return s
}

func checkCollectionName(name string) error {
	if name == "" {
		return argError("collection", "must not be empty")
	}
	if len(name) > maxCollectionName {
		return argError("collection", "longer than %d characters", maxCollectionName)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 'a' || name[i] > 'z' {
			return argError("collection", "%s: only lowercase letters a-z are allowed", quoteQueryValue(name))
		}
	}
	return nil
}

// String names the document's ID and fields without their values: a
// document of any collection may hold a secret (a webhook service's
// params.secret, a user's password), so values are read with Raw or Get.
func (d Document) String() string {
	names := d.Fields()
	return "Document{id: " + d.ID() + ", fields: [" + strings.Join(names, " ") + "]}"
}

// Format makes every verb print String.
func (d Document) Format(f fmt.State, verb rune) { printRedacted(f, verb, d.String()) }

// LogValue logs the ID and the field names only.
func (d Document) LogValue() slog.Value {
	return slog.GroupValue(slog.String("id", d.ID()), slog.Any("fields", d.Fields()))
}
