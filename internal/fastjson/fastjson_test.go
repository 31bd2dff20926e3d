package fastjson

import (
	"fmt"
	"strings"
	"testing"
	"unsafe"

	"github.com/stretchr/testify/require"
)

// TestStringCache: the cache hands out strings equal to the bytes, never
// backed by them, and keeps only short ones.
func TestStringCache(t *testing.T) {
	t.Parallel()
	c := new(stringCache)
	b := []byte("5a1f2b3c4d5e6f7a8b9c0d1e")
	s := c.string(b)
	require.Equal(t, "5a1f2b3c4d5e6f7a8b9c0d1e", s)
	b[0] = 'x'
	require.Equal(t, "5a1f2b3c4d5e6f7a8b9c0d1e", s, "a string changed with the bytes it came from")
	require.Equal(t, "xa1f2b3c4d5e6f7a8b9c0d1e", c.string(b))
	require.Equal(t, "", c.string(nil))

	for _, w := range []string{"contact", "chat", "bot", "5c2d3e4f5a6b7c8d9e0f1a2b"} {
		first := c.string([]byte(w))
		require.Equal(t, w, first)
		require.Same(t, unsafe.StringData(first), unsafe.StringData(c.string([]byte(w))), "%s seen just before comes from the cache", w)
	}
	long := strings.Repeat("a", cachedStringMax+1)
	require.NotSame(t, unsafe.StringData(c.string([]byte(long))), unsafe.StringData(c.string([]byte(long))), "long strings are not kept")
	var none *stringCache
	require.Equal(t, "x", none.string([]byte("x")))
}

// TestStringCacheKeepsCollidingStrings: two strings of one slot both stay
// cached (the slot and its neighbour), and a third takes the older's place.
func TestStringCacheKeepsCollidingStrings(t *testing.T) {
	t.Parallel()
	bySlot := map[uint][]string{}
	var three []string
	for i := 0; three == nil; i++ {
		w := fmt.Sprintf("id-%08d", i)
		s := slotOf([]byte(w))
		bySlot[s] = append(bySlot[s], w)
		if len(bySlot[s]) == 3 {
			three = bySlot[s]
		}
	}
	c := new(stringCache)
	a, b := c.string([]byte(three[0])), c.string([]byte(three[1]))
	require.Same(t, unsafe.StringData(a), unsafe.StringData(c.string([]byte(three[0]))))
	require.Same(t, unsafe.StringData(b), unsafe.StringData(c.string([]byte(three[1]))))
	c.string([]byte(three[2])) // three[0], placed first, makes way
	require.Same(t, unsafe.StringData(b), unsafe.StringData(c.string([]byte(three[1]))))
	require.NotSame(t, unsafe.StringData(a), unsafe.StringData(c.string([]byte(three[0]))))

	at := strings.Repeat("u", cachedStringMax)
	require.Same(t, unsafe.StringData(c.string([]byte(at))), unsafe.StringData(c.string([]byte(at))), "a string of cachedStringMax bytes is kept")
}

// TestPooledReaderReleased: Release gives the reader back cleared, and a
// reader from the pool reads its own input with an empty slot for nothing
// it has not read.
func TestPooledReaderReleased(t *testing.T) {
	r := NewReader([]byte(`"abc"`), true)
	require.Equal(t, "abc", r.Str())
	require.NotNil(t, r.cache)
	home := r.home
	r.Release()
	require.Equal(t, Reader{}, home.r, "a released reader keeps nothing of its input")
	r2 := NewReader([]byte(`"xyz"`), true)
	defer r2.Release()
	require.Equal(t, "xyz", r2.Str())
	require.Nil(t, NewReader(nil, false).home, "an uncached reader is not pooled")
}

// TestReaderStringsNeverShareTheInput: a string read is a copy (or a cached
// one), so a caller may reuse the input buffer, as the client does with its
// pooled response buffers.
func TestReaderStringsNeverShareTheInput(t *testing.T) {
	t.Parallel()
	for _, cached := range []bool{false, true} {
		in := []byte(`["abc","` + strings.Repeat("z", cachedStringMax+10) + `"]`)
		r := NewReader(in, cached)
		var got []string
		Strings(r, &got)
		r.End()
		require.False(t, r.Bad())
		r.Release()
		for i := range in {
			in[i] = 'X'
		}
		require.Equal(t, []string{"abc", strings.Repeat("z", cachedStringMax+10)}, got, "cached=%v", cached)
	}
}

type tableOf struct {
	A string `json:"a"`
	B int    `json:"b,omitempty"`
	C bool   `json:"-"`
	D string
	e string
}

// TestCheckTable: a table must list exactly the JSON names of its type.
func TestCheckTable(t *testing.T) {
	t.Parallel()
	f := func(name string) Field[tableOf] { return Field[tableOf]{Name: name} }
	require.NoError(t, CheckTable([]Field[tableOf]{f("a"), f("b"), f("D")}))
	require.ErrorContains(t, CheckTable([]Field[tableOf]{f("a"), f("b")}), "not listed [D]")
	require.ErrorContains(t, CheckTable([]Field[tableOf]{f("a"), f("b"), f("D"), f("x")}), "not a field [x]")
	require.ErrorContains(t, CheckTable([]Field[tableOf]{f("a"), f("a"), f("b"), f("D")}), `"a" listed twice`)
	require.ErrorContains(t, CheckTable([]Field[tableOf]{f("a"), f("b"), f("D"), f(`x"`)}), "not plain ASCII")
	many := make([]Field[tableOf], 64)
	require.ErrorContains(t, CheckTable(many), "at most 63")
	_ = tableOf{}.e
}

// TestRawCompact: the compact flag is exactly "no whitespace outside
// strings", whatever the nesting, and whitespace before the value does not
// count.
func TestRawCompact(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in      string
		raw     string
		compact bool
	}{
		{`{"a":1}`, `{"a":1}`, true},
		{`  {"a":"x y\t"}`, `{"a":"x y\t"}`, true},
		{`{"a":[1,{"b":null}]}`, `{"a":[1,{"b":null}]}`, true},
		{`{ "a":1}`, `{ "a":1}`, false},
		{`{"a" :1}`, `{"a" :1}`, false},
		{`{"a":[1,2 ]}`, `{"a":[1,2 ]}`, false},
		{"{\"a\":{\"b\":\n1}}", "{\"a\":{\"b\":\n1}}", false},
		{"{\"a\":1\r}", "{\"a\":1\r}", false},
		{`{}`, `{}`, true},
		{`{ }`, `{ }`, false},
	} {
		r := NewReader([]byte(c.in+` ,`), false)
		raw, compact := r.RawCompact()
		require.False(t, r.Bad(), c.in)
		require.Equal(t, c.raw, raw, c.in)
		require.Equal(t, c.compact, compact, c.in)
	}
}
