//go:build go1.27 && goexperiment.jsonv2

package chatshipper

import (
	jsonv1 "encoding/json"
	"encoding/json/jsontext"
	"encoding/json/v2"
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// Streaming JSON methods of the SDK's own types for encoding/json/v2 (Go 1.27
// and later; codec_v2.go). Each reads its value once from the decoder; the
// []byte methods in types.go, collections.go and conversations.go stay
// for encoding/json and for callers that use them directly, and the two agree
// (FuzzDecodeSameAsV1).

// MarshalJSONTo is MarshalJSON for encoding/json/v2.
func (t Timestamp) MarshalJSONTo(enc *jsontext.Encoder) error {
	if t.IsZero() {
		return enc.WriteToken(jsontext.Null)
	}
	b, err := t.MarshalJSON() // one place for the format and the year check
	if err != nil {
		return err
	}
	return enc.WriteValue(b)
}

// UnmarshalJSONFrom is UnmarshalJSON for encoding/json/v2.
func (t *Timestamp) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return t.UnmarshalJSON(v)
}

// MarshalJSONTo is MarshalJSON for encoding/json/v2.
func (r Ref[T]) MarshalJSONTo(enc *jsontext.Encoder) error {
	if r.Value != nil {
		return json.MarshalEncode(enc, r.Value)
	}
	if r.ID == "" {
		return enc.WriteToken(jsontext.Null)
	}
	return enc.WriteToken(jsontext.String(r.ID))
}

// UnmarshalJSONFrom is UnmarshalJSON for encoding/json/v2: a populated object
// is decoded straight from the stream into the referenced type.
func (r *Ref[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	*r = Ref[T]{}
	switch dec.PeekKind() {
	case 'n':
		_, err := dec.ReadToken()
		return err
	case '"':
		b, err := dec.ReadValue()
		if err != nil {
			return err
		}
		if id, ok := plainJSONString(b); ok {
			r.ID = id
			return nil
		}
		return json.Unmarshal(b, &r.ID, dec.Options())
	case '{':
		v := new(T)
		if g, ok := any(v).(interface{ refID() string }); ok {
			if err := json.UnmarshalDecode(dec, v); err != nil {
				return err
			}
			r.Value, r.ID = v, g.refID()
			return nil
		}
		b, err := dec.ReadValue()
		if err != nil {
			return err
		}
		return r.UnmarshalJSON(b)
	}
	b, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return typeError(b, reflect.TypeFor[Ref[T]]()) // neither an ID string nor an object
}

// MarshalJSONTo is MarshalJSON for encoding/json/v2.
func (d Document) MarshalJSONTo(enc *jsontext.Encoder) error {
	if err := enc.WriteToken(jsontext.BeginObject); err != nil {
		return err
	}
	for _, k := range slices.Sorted(maps.Keys(d.fields)) {
		if err := enc.WriteToken(jsontext.String(k)); err != nil {
			return err
		}
		if err := enc.WriteValue(jsontext.Value(d.fields[k])); err != nil {
			return err
		}
	}
	return enc.WriteToken(jsontext.EndObject)
}

// UnmarshalJSONFrom is UnmarshalJSON for encoding/json/v2.
func (d *Document) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	switch dec.PeekKind() {
	case 'n':
		d.fields = nil
		_, err := dec.ReadToken()
		return err
	case '{':
	default:
		b, err := dec.ReadValue()
		if err != nil {
			return err
		}
		return fmt.Errorf("chatshipper: a document must be a JSON object, got %s", truncate(string(b), 40))
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	fields := make(map[string]jsonv1.RawMessage)
	for dec.PeekKind() != '}' {
		tok, err := dec.ReadToken()
		if err != nil {
			return err
		}
		name := tok.String() // before the next read voids tok
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		fields[name] = slices.Clone(v)
	}
	if _, err := dec.ReadToken(); err != nil {
		return err
	}
	d.fields = fields
	return nil
}

// UnmarshalJSONFrom decodes one message or an array of them from the stream.
func (l *messageList) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	if dec.PeekKind() == '{' {
		m := new(Message)
		if err := json.UnmarshalDecode(dec, m); err != nil {
			return err
		}
		*l = messageList{m}
		return nil
	}
	var ms []*Message
	if err := json.UnmarshalDecode(dec, &ms); err != nil {
		return err
	}
	*l = ms
	return nil
}

// MarshalJSONTo is MarshalJSON for encoding/json/v2.
func (o Object) MarshalJSONTo(enc *jsontext.Encoder) error {
	if o.d == nil {
		return enc.WriteToken(jsontext.Null)
	}
	return enc.WriteValue(jsontext.Value(o.d.raw))
}

// UnmarshalJSONFrom is UnmarshalJSON for encoding/json/v2: the object's bytes
// are kept as they are read, without building a map.
func (o *Object) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	v, err := dec.ReadValue()
	if err != nil {
		return err
	}
	return o.set(v)
}
