package chatshipper

import (
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// obj returns m as an Object (keys sorted, compact), for expected values.
func obj(m Meta) Object {
	o, err := ObjectOf(m)
	if err != nil {
		panic(err)
	}
	return o
}

// canonical re-encodes a decoded Object like obj does, so that it compares
// equal to obj of the same content whatever the key order and spacing the
// server used.
func canonical(o Object) Object {
	if o.IsZero() {
		return o
	}
	return obj(o.Map())
}

func TestObjectRead(t *testing.T) {
	t.Parallel()
	var c Conversation
	require.NoError(t, decodeJSON([]byte(`{"meta": {"engagement":"high", "scores":[8,7,6.5], "n":null, "o":{"a":1}, "engagement":"low"}}`), &c))
	assert.Equal(t, "low", c.Meta.Get("engagement"), "duplicate keys: the last wins, as in a map")
	assert.Equal(t, []any{8.0, 7.0, 6.5}, c.Meta.Get("scores"))
	assert.Equal(t, map[string]any{"a": 1.0}, c.Meta.Get("o"))
	v, ok := c.Meta.Lookup("n")
	assert.True(t, ok)
	assert.Nil(t, v)
	v, ok = c.Meta.Lookup("missing")
	assert.False(t, ok)
	assert.Nil(t, v)
	assert.Nil(t, c.Meta.Get("Engagement"), "keys match exactly, as in a map")
	assert.Equal(t, 4, c.Meta.Len())
	assert.Equal(t, Meta{"engagement": "low", "scores": []any{8.0, 7.0, 6.5}, "n": nil, "o": map[string]any{"a": 1.0}}, c.Meta.Map())

	var dst struct {
		Engagement string    `json:"engagement"`
		Scores     []float64 `json:"scores"`
	}
	require.NoError(t, c.Meta.Decode(&dst))
	assert.Equal(t, "low", dst.Engagement)
	assert.Equal(t, []float64{8, 7, 6.5}, dst.Scores)
	err := c.Meta.Decode(dst)
	assert.True(t, errors.Is(err, ErrInvalidArgument), "not a pointer: %v", err)

	m := c.Meta.Map()
	m["engagement"] = "changed"
	assert.Equal(t, "low", c.Meta.Get("engagement"), "the map is a copy")
}

func TestObjectZeroAndNull(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`{}`, `{"meta":null}`} {
		var c Conversation
		require.NoError(t, decodeJSON([]byte(in), &c), in)
		assert.True(t, c.Meta.IsZero(), in)
		assert.Nil(t, c.Meta.Map(), in)
		assert.Nil(t, c.Meta.Get("k"), in)
		assert.Equal(t, 0, c.Meta.Len(), in)
		assert.Equal(t, "", c.Meta.String(), in)
		assert.Nil(t, c.Meta.Raw(), in)
		require.NoError(t, c.Meta.Decode(&struct{}{}), in)
		out, err := encodeJSON(c)
		require.NoError(t, err)
		assert.NotContains(t, string(out), "meta", "omitzero leaves an absent meta out")
	}
	var c Conversation
	require.NoError(t, decodeJSON([]byte(`{"meta":{}}`), &c))
	assert.False(t, c.Meta.IsZero(), "{} is an empty object, not an absent one")
	assert.Equal(t, Meta{}, c.Meta.Map())
	o, err := ObjectOf(nil)
	require.NoError(t, err)
	assert.True(t, o.IsZero())
}

func TestObjectKeepsJSONAsReceived(t *testing.T) {
	t.Parallel()
	const meta = `{"z":1,"a":[1.50,"<b>"],"é":{"x":true}}`
	var m Message
	require.NoError(t, decodeJSON([]byte(`{"text":"x","meta": {"z": 1, "a": [1.50, "<b>"],
		"é": {"x":true}}}`), &m))
	assert.Equal(t, meta, m.Meta.String())
	assert.Equal(t, json.RawMessage(meta), m.Meta.Raw())
	b, err := m.Meta.MarshalJSON()
	require.NoError(t, err)
	assert.Equal(t, meta, string(b))
	out, err := encodeJSON(m)
	require.NoError(t, err)
	// encoding/json compacts a Marshaler's output and escapes <, > and &;
	// both codecs do, alike.
	assert.Equal(t, `{"text":"x","meta":{"z":1,"a":[1.50,"\u003cb\u003e"],"é":{"x":true}}}`, string(out))
}

func TestObjectNotAnObject(t *testing.T) {
	t.Parallel()
	for _, in := range []string{`"x"`, `[1]`, `3`, `true`} {
		var c Conversation
		err := decodeJSON([]byte(`{"meta":`+in+`}`), &c)
		var te *json.UnmarshalTypeError
		require.True(t, errors.As(err, &te), "%s: %v", in, err)
		var o Object
		err = o.UnmarshalJSON([]byte(in))
		require.True(t, errors.As(err, &te), "%s: %v", in, err)
	}
}

func TestObjectOf(t *testing.T) {
	t.Parallel()
	o, err := ObjectOf(Meta{"b": 2, "a": "x"})
	require.NoError(t, err)
	assert.Equal(t, `{"a":"x","b":2}`, o.String())
	_, err = ObjectOf(Meta{"f": func() {}})
	require.Error(t, err)
}

func TestObjectConcurrentReads(t *testing.T) {
	t.Parallel()
	var c Conversation
	require.NoError(t, decodeJSON([]byte(`{"meta":{"k":"v"}}`), &c))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			assert.Equal(t, "v", c.Meta.Get("k"))
			assert.Equal(t, Meta{"k": "v"}, c.Meta.Map())
		})
	}
	wg.Wait()
}
