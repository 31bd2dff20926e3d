package chatshipper

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// FuzzTimestampUnmarshalJSON calls Timestamp.UnmarshalJSON directly with
// arbitrary bytes, as a caller or a decoder may: it must never panic, and a
// value it accepts must encode and decode back to the same instant.
func FuzzTimestampUnmarshalJSON(f *testing.F) {
	for _, s := range []string{
		``, `"`, `""`, `null`, `nul`, `"\`, `"\u`, `"\ud800"`, `1`, `-`, `1e400`, `-9223372036854775809`,
		`"2019-08-24T14:15:22Z"`, `"2019-08-24T14:15:22.123+02:00"`, `"2019-08-24T14:15:22"`,
		`"2019-08-24"`, `1566656122000`, `"99999-01-01T00:00:00Z"`, "\"2019-08-24T14:15:22\x00Z\"",
		`"2019-08-24T14:15:22.1234567890123Z"`, `"\/Date\/"`, `{}`, `[]`, `"2019-02-30T25:61:61Z"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var ts Timestamp
		if err := ts.UnmarshalJSON(b); err != nil {
			return
		}
		out, err := ts.MarshalJSON()
		if err != nil {
			return // a year outside 0-9999 cannot be written as RFC 3339
		}
		var back Timestamp
		if err := back.UnmarshalJSON(out); err != nil {
			t.Fatalf("%q -> %s does not read back: %v", b, out, err)
		}
		if !back.Equal(ts.Time.Truncate(1e6)) && !back.Equal(ts.Time) {
			t.Fatalf("%q -> %s reads back as %s", b, out, back)
		}
	})
}

// Inputs that a direct call could once make panic.
func TestTimestampUnmarshalJSONNeverPanics(t *testing.T) {
	t.Parallel()
	for _, s := range []string{``, `"`, `"\`, `"\u12`, "\"\xff", `n`, `nu`, `-`, `"-"`, `""""`, `1e`, `"T"`} {
		var ts Timestamp
		assert.NotPanics(t, func() { _ = ts.UnmarshalJSON([]byte(s)) }, "%q", s)
	}
	var nilTS *Timestamp
	assert.NotPanics(t, func() { _ = nilTS.UnmarshalJSON([]byte(`"2019-08-24T14:15:22Z"`)) })
}
