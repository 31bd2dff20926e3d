package chatshipper

import (
	"testing"
	"time"

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

// FuzzParseAPITime compares the fast reading of the API's own time form
// with time.Time.UnmarshalJSON, which it stands in for: whatever it accepts,
// the standard library reads to the same Time (== compares the instant and
// the location).
func FuzzParseAPITime(f *testing.F) {
	for _, s := range []string{
		`"2024-03-14T09:26:53.589Z"`, `"2024-02-29T23:59:59.999Z"`, `"2023-02-29T00:00:00.000Z"`,
		`"0000-01-01T00:00:00.000Z"`, `"0001-01-01T00:00:00.000Z"`, `"9999-12-31T23:59:59.999Z"`,
		`"2024-13-01T00:00:00.000Z"`, `"2024-04-31T00:00:00.000Z"`, `"2024-01-01T24:00:00.000Z"`,
		`"2024-01-01T00:60:00.000Z"`, `"2024-01-01T00:00:60.000Z"`, `"2024-01-01t00:00:00.000z"`,
		`"2024-01-01T00:00:00.000+00:00"`, `"2024-01-01T00:00:00.00Z"`, `"2024-0a-01T00:00:00.000Z"`,
		`"1900-02-29T00:00:00.000Z"`, `"2000-02-29T00:00:00.000Z"`, `"1969-12-31T23:59:59.999Z"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		got, ok := parseAPITime(b)
		if !ok {
			return
		}
		var want time.Time
		if err := want.UnmarshalJSON(b); err != nil {
			t.Fatalf("%q: fast path accepts %v, time.Time refuses: %v", b, got, err)
		}
		if got != want {
			t.Fatalf("%q: fast path %#v, time.Time %#v", b, got, want)
		}
	})
}

// TestParseAPITimeEveryDay reads every day of years 1-9999 (each at another
// time of day) both ways, and checks what the fast path refuses.
func TestParseAPITimeEveryDay(t *testing.T) {
	t.Parallel()
	day := time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)
	end := time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; day.Before(end); i++ {
		v := day.Add(time.Duration(i%86400)*time.Second + time.Duration(i%1000)*time.Millisecond)
		b := []byte(`"` + v.Format("2006-01-02T15:04:05.000Z") + `"`)
		got, ok := parseAPITime(b)
		if !ok || got != v {
			t.Fatalf("%s: got %v, %v; want %v", b, got, ok, v)
		}
		day = day.AddDate(0, 0, 1)
	}
	for _, s := range []string{
		`"0000-06-01T00:00:00.000Z"`, // year 0: left to time.Time
		`"2023-02-29T00:00:00.000Z"`, `"1900-02-29T00:00:00.000Z"`, `"2024-04-31T00:00:00.000Z"`,
		`"2024-00-10T00:00:00.000Z"`, `"2024-13-10T00:00:00.000Z"`, `"2024-01-00T00:00:00.000Z"`,
		`"2024-01-01T24:00:00.000Z"`, `"2024-01-01T00:60:00.000Z"`, `"2024-01-01T00:00:60.000Z"`,
		`"2024-01-01T00:00:00.000+00:00"`, `"2024-01-01T00:00:00Z"`, `"2024-01-01 00:00:00.000Z"`,
		`"2024-01-01T00:00:00.0/0Z"`, `"2024-01-01T00:00:00.000z"`, ` "2024-01-01T00:00:00.000Z"`,
		`2024-01-01T00:00:00.000Z`, `"2024-01-01T00:00:00.000Z`,
	} {
		_, ok := parseAPITime([]byte(s))
		assert.False(t, ok, s)
	}
}

// BenchmarkTimestampUnmarshalJSON: the API's own form read by
// Timestamp.UnmarshalJSON (its parseAPITime fast path) against
// time.Time.UnmarshalJSON on the same bytes, and a form the fast path leaves
// to the general one.
func BenchmarkTimestampUnmarshalJSON(b *testing.B) {
	api := []byte(`"2024-03-14T09:26:53.589Z"`)
	b.Run("api-form/Timestamp", func(b *testing.B) {
		b.ReportAllocs()
		var ts Timestamp
		for b.Loop() {
			if err := ts.UnmarshalJSON(api); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("api-form/time.Time", func(b *testing.B) {
		b.ReportAllocs()
		var t time.Time
		for b.Loop() {
			if err := t.UnmarshalJSON(api); err != nil {
				b.Fatal(err)
			}
		}
	})
	offset := []byte(`"2024-03-14T10:26:53.589+01:00"`)
	b.Run("offset/Timestamp", func(b *testing.B) {
		b.ReportAllocs()
		var ts Timestamp
		for b.Loop() {
			if err := ts.UnmarshalJSON(offset); err != nil {
				b.Fatal(err)
			}
		}
	})
}
