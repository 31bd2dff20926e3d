package chatshipper

import (
	"encoding/json"
	"errors"
	"reflect"
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

// metaFixture returns the conversation meta of testdata/bench, decoded
// into a fresh Object, and as encoding/json decodes it into a map.
func metaFixture(t *testing.T) (Object, map[string]any) {
	t.Helper()
	raw := readFixture(t, "bench/conversation-meta.json")
	var o Object
	require.NoError(t, decodeJSON(raw, &o))
	var want map[string]any
	require.NoError(t, json.Unmarshal(raw, &want))
	return o, want
}

// TestObjectReadDecodesOnce: a Get costs no decoding of the whole object, and
// an object read many times is decoded once (before, every Get and every Map
// decoded the whole JSON again: 30 to 90 allocations each).
//
// Not parallel: testing.AllocsPerRun refuses to run in a parallel test.
func TestObjectReadDecodesOnce(t *testing.T) {
	_, want := metaFixture(t)

	// A single Get of a string: the value in an interface, one allocation,
	// and the object is not decoded whole.
	fresh := make([]Object, 101)
	for i := range fresh {
		fresh[i], _ = metaFixture(t)
	}
	i := 0
	allocs := testing.AllocsPerRun(100, func() {
		if fresh[i].Get("stage") != "awaiting-order-number" {
			panic("stage")
		}
		i++
	})
	assert.Equal(t, 1.0, allocs, "allocations of one Get of a string")
	assert.False(t, fresh[0].d.done.Load(), "one Get decodes the object whole")

	// Read often: decoded once, then a Get of a string or number allocates
	// nothing, and Map only what its copy is made of.
	o, _ := metaFixture(t)
	for range objectScanReads {
		o.Get("visits")
	}
	assert.False(t, o.d.done.Load())
	assert.Equal(t, 3.0, o.Get("visits"))
	assert.True(t, o.d.done.Load(), "decoded whole at the read after objectScanReads")
	assert.Equal(t, 0.0, testing.AllocsPerRun(100, func() {
		if o.Get("stage") != "awaiting-order-number" || o.Get("visits") != 3.0 {
			panic("read")
		}
	}), "allocations of two Gets of a decoded object")
	var copied Meta
	copyAllocs := testing.AllocsPerRun(100, func() {
		m := make(Meta, len(want))
		for k, v := range want {
			m[k] = cloneValue(v)
		}
		copied = m // on the heap, as Map's result
	})
	assert.Equal(t, Meta(want), copied)
	mapAllocs := testing.AllocsPerRun(100, func() {
		if len(o.Map()) != len(want) {
			panic("map")
		}
	})
	assert.LessOrEqual(t, mapAllocs, copyAllocs, "Map of a decoded object costs a copy, no decoding")
	assert.Equal(t, Meta(want), o.Map())
}

// TestObjectReadsAreCopies: what a read returns is the caller's, before and
// after the object is decoded whole; changing it changes no later read.
func TestObjectReadsAreCopies(t *testing.T) {
	t.Parallel()
	for _, warm := range []bool{false, true} {
		o, want := metaFixture(t)
		if warm {
			o.Map()
		}
		vars := o.Get("variables").(map[string]any)
		vars["currency"] = "changed"
		tags := o.Get("tags").([]any)
		tags[0] = "changed"
		m := o.Map()
		m["stage"] = "changed"
		m["variables"].(map[string]any)["items"] = -1.0
		m["tags"].([]any)[1] = "changed"
		delete(m, "intent")
		assert.Equal(t, Meta(want), o.Map(), "warm %v", warm)
		for k, v := range want {
			got, ok := o.Lookup(k)
			assert.True(t, ok, k)
			assert.Equal(t, v, got, "warm %v: %s", warm, k)
		}
	}
}

// TestObjectLookupCases covers what the lookup in the JSON has to get right
// before and after the object is decoded whole: duplicate keys, escaped and
// non-ASCII keys, escaped strings, every kind of value, numbers encoding/json
// cannot hold, a key that is a prefix of another.
func TestObjectLookupCases(t *testing.T) {
	t.Parallel()
	const in = `{"a":1,"ab":"x","a\u0062c":"esc-key","é":"é","s":"t\"ab\\u0062\n","n":null,"t":true,"f":false,` +
		`"neg":-0.5e+2,"big":1e999,"o":{"k":[1,{"z":"y"}],"k":"last"},"e":[],"eo":{},"a":2}`
	cases := []struct {
		key  string
		want any
		ok   bool
	}{
		{"a", 2.0, true},
		{"ab", "x", true},
		{"abc", "esc-key", true},
		{`a\u0062c`, nil, false},
		{"é", "é", true},
		{"s", "t\"ab\\u0062\n", true},
		{"n", nil, true},
		{"t", true, true},
		{"f", false, true},
		{"neg", -50.0, true},
		{"big", nil, false},
		{"o", map[string]any{"k": "last"}, true},
		{"e", []any{}, true},
		{"eo", map[string]any{}, true},
		{"missing", nil, false},
		{"A", nil, false},
	}
	for _, warm := range []bool{false, true} {
		var o Object
		require.NoError(t, decodeJSON([]byte(in), &o))
		if warm {
			assert.Nil(t, o.Map(), "1e999 does not decode, so the object does not either")
			for range objectScanReads + 1 {
				o.Get("a")
			}
			assert.True(t, o.d.done.Load())
		}
		for _, c := range cases {
			got, ok := o.Lookup(c.key)
			assert.Equal(t, c.ok, ok, "warm %v: %s", warm, c.key)
			assert.Equal(t, c.want, got, "warm %v: %s", warm, c.key)
		}
		assert.Equal(t, 13, o.Len(), "warm %v", warm)
	}

	var o Object
	require.NoError(t, decodeJSON([]byte(`{"a":1,"b":{"c":[true,null,"\u00e9"]},"a":3}`), &o))
	assert.Equal(t, Meta{"a": 3.0, "b": map[string]any{"c": []any{true, nil, "é"}}}, o.Map())
	assert.Equal(t, 3.0, o.Get("a"))
	assert.Equal(t, 2, o.Len())
}

// TestObjectConcurrentFirstReads: readers racing for the first decoding of
// an object all get what encoding/json reads (run with -race).
func TestObjectConcurrentFirstReads(t *testing.T) {
	t.Parallel()
	o, want := metaFixture(t)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				switch (g + i) % 3 {
				case 0:
					assert.Equal(t, Meta(want), o.Map())
				case 1:
					assert.Equal(t, want["variables"], o.Get("variables"))
				default:
					assert.Equal(t, len(want), o.Len())
				}
			}
		})
	}
	wg.Wait()
}

// FuzzObjectRead checks Object's reads against encoding/json on any input:
// Lookup of every key before and after the object is decoded whole, Map and
// Len. What the codec refuses must not panic.
func FuzzObjectRead(f *testing.F) {
	f.Add([]byte(`{"intent":"order-status","visits":3,"tags":["a","b"],"variables":{"x":1.5}}`))
	f.Add([]byte(`{"a":1,"a":{"b":[1,2,{"c":null}]},"\u00e9":"\u00e9","e\"k":"\\"}`))
	f.Add([]byte(`{"big":1e999,"ok":"x","neg":-0,"f":1.5E-3}`))
	f.Add([]byte("{\"k\xff\":\"v\xfe\",\"z\":\"\xe2\x82\"}"))
	f.Add([]byte(`{ "a" : [ ] , "b" : { } }`))
	f.Add([]byte(`{"a":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]}`))
	f.Add([]byte(`{"a":1,}`))
	f.Add([]byte(`{"a":tru}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		var direct Object
		if direct.UnmarshalJSON(in) == nil { // whatever it kept, reading it must not panic
			direct.Get("a")
			direct.Map()
			direct.Len()
		}
		var o Object
		if decodeJSON(in, &o) != nil || o.IsZero() {
			return
		}
		var raws map[string]json.RawMessage
		if err := json.Unmarshal(in, &raws); err != nil {
			t.Fatalf("the codec kept %q, which is no object: %v", in, err)
		}
		check := func(o Object, when string) {
			for k, r := range raws {
				var want any
				err := json.Unmarshal(r, &want)
				got, ok := o.Lookup(k)
				if ok != (err == nil) || ok && !reflect.DeepEqual(got, want) || !ok && got != nil {
					t.Fatalf("%s: Lookup(%q) of %q = %#v, %v; encoding/json: %#v, %v", when, k, in, got, ok, want, err)
				}
			}
			if _, ok := o.Lookup("\x00missing"); ok && raws["\x00missing"] == nil {
				t.Fatalf("%s: a missing key found in %q", when, in)
			}
		}
		fresh := func() Object {
			var o Object
			if err := decodeJSON(in, &o); err != nil {
				t.Fatal(err)
			}
			return o
		}
		check(fresh(), "in the JSON")
		var want map[string]any
		err := json.Unmarshal(in, &want)
		o = fresh()
		got := o.Map()
		if (err == nil) != (got != nil) || err == nil && !reflect.DeepEqual(Meta(want), got) {
			t.Fatalf("Map of %q = %#v; encoding/json: %#v, %v", in, got, want, err)
		}
		if o.Len() != len(raws) {
			t.Fatalf("Len of %q = %d, want %d", in, o.Len(), len(raws))
		}
		check(o, "decoded")
	})
}
