package fastjson

import (
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

// TestReaderStringsNeverShareTheInput: a string read is a copy (or a cached
// one), so a caller may reuse the input buffer, as the client does with its
// pooled response buffers.
func TestReaderStringsNeverShareTheInput(t *testing.T) {
	t.Parallel()
	for _, cached := range []bool{false, true} {
		in := []byte(`["abc","` + strings.Repeat("z", cachedStringMax+10) + `"]`)
		r := NewReader(in, cached)
		var got []string
		Strings(&r, &got)
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
