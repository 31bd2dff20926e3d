package wire

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTruncate(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "abc..."},
	} {
		assert.Equal(t, c.want, Truncate(c.in, c.n), c.in)
	}
}

func TestCodecRoundTrip(t *testing.T) {
	t.Parallel()
	b, err := Marshal(map[string]any{"a": 1, "b": "<x>"})
	require.NoError(t, err)
	assert.Equal(t, `{"a":1,"b":"\u003cx\u003e"}`, string(b), "no trailing newline; HTML escaped as encoding/json does")
	var v struct {
		A int `json:"a"`
	}
	require.NoError(t, Unmarshal([]byte(`{"a":2,"unknown":true}`), &v))
	assert.Equal(t, 2, v.A)
}
