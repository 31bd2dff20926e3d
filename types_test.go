package chatshipper

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTimestampParse(t *testing.T) {
	t.Parallel()
	utc := func(y int, mo time.Month, d, h, mi, s, ns int) time.Time {
		return time.Date(y, mo, d, h, mi, s, ns, time.UTC)
	}
	tests := []struct {
		in   string
		want time.Time
	}{
		{`"2018-09-30T01:31:43.457Z"`, utc(2018, 9, 30, 1, 31, 43, 457e6)},
		{`"2018-09-30T01:31:43Z"`, utc(2018, 9, 30, 1, 31, 43, 0)},
		{`"2018-09-30T01:31:43.457"`, utc(2018, 9, 30, 1, 31, 43, 457e6)},
		{`"2018-09-30T01:31:43"`, utc(2018, 9, 30, 1, 31, 43, 0)},
		{`"2018-09-30T03:31:43.457+02:00"`, utc(2018, 9, 30, 1, 31, 43, 457e6)},
		{`"2018-09-30T03:31:43+02:00"`, utc(2018, 9, 30, 1, 31, 43, 0)},
		{`"2018-09-29T20:31:43-05:00"`, utc(2018, 9, 30, 1, 31, 43, 0)},
		{`"2018-09-30T03:31:43+0200"`, utc(2018, 9, 30, 1, 31, 43, 0)},
		{`"2018-09-30T01:31:43.123456789Z"`, utc(2018, 9, 30, 1, 31, 43, 123456789)},
		{`"2018-09-30T01:31Z"`, utc(2018, 9, 30, 1, 31, 0, 0)},
		{`"2018-09-30T01:31"`, utc(2018, 9, 30, 1, 31, 0, 0)},
		{`"2018-09-30T01:31:43.123456789"`, utc(2018, 9, 30, 1, 31, 43, 123456789)},
		{`"2018-09-30"`, utc(2018, 9, 30, 0, 0, 0, 0)},
		{`"2018-09-30T01:31:43.457\u005a"`, utc(2018, 9, 30, 1, 31, 43, 457e6)},
		{`1538271103457`, utc(2018, 9, 30, 1, 31, 43, 457e6)},
		{`null`, time.Time{}},
		{`""`, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			var ts Timestamp
			require.NoError(t, json.Unmarshal([]byte(tt.in), &ts))
			assert.True(t, tt.want.Equal(ts.Time), "got %v want %v", ts.Time, tt.want)
		})
	}
	for _, bad := range []string{`"yesterday"`, `"2018-13-01T00:00:00Z"`, `"2018-09-30T25:00:00Z"`, `true`, `"2018-09-30T01:31:43+2"`, `{}`, `"2018-02-31T00:00:00.000Z"`, `"2018-09-30T24:00:00Z"`, `"2018-09-30T01:31:43.Z"`} {
		var ts Timestamp
		assert.Error(t, json.Unmarshal([]byte(bad), &ts), bad)
	}
	// The API's form is read in UTC.
	var api Timestamp
	require.NoError(t, json.Unmarshal([]byte(`"2018-09-30T01:31:43.457Z"`), &api))
	assert.Same(t, time.UTC, api.Location())
	// JSON escapes are JSON's, not Go's: this one unquotes, then is not a date.
	var ts Timestamp
	require.ErrorContains(t, json.Unmarshal([]byte(`"2018\/09\/30"`), &ts), "is not ISO 8601")
}

func TestTimestampMarshal(t *testing.T) {
	t.Parallel()
	ts := NewTimestamp(time.Date(2018, 9, 30, 3, 31, 43, 457_900_000, time.FixedZone("CEST", 2*3600)))
	b, err := json.Marshal(ts)
	require.NoError(t, err)
	assert.Equal(t, `"2018-09-30T01:31:43.457Z"`, string(b))
	assert.Equal(t, "2018-09-30T01:31:43.457Z", ts.String())

	b, err = json.Marshal(Timestamp{})
	require.NoError(t, err)
	assert.Equal(t, `null`, string(b))

	// Optional fields leave a zero timestamp out.
	b, err = json.Marshal(Message{Text: "x"})
	require.NoError(t, err)
	assert.JSONEq(t, `{"text":"x"}`, string(b))
}

func TestRef(t *testing.T) {
	t.Parallel()
	type holder struct {
		Contact  Ref[Contact]   `json:"contact,omitzero"`
		Messages []Ref[Message] `json:"messages,omitzero"`
	}
	tests := []struct {
		name      string
		in        string
		contactID string
		populated bool
		msgIDs    []string
		out       string
	}{
		{"id form", `{"contact":"591506e18a280627f8dcfede"}`, "591506e18a280627f8dcfede", false, nil, ""},
		{"object form", `{"contact":{"id":"591506e18a280627f8dcfede","profile":{"name":"John Doe"}}}`, "591506e18a280627f8dcfede", true, nil, ""},
		{"null", `{"contact":null}`, "", false, nil, `{}`},
		{"absent", `{}`, "", false, nil, ""},
		{"array of ids", `{"messages":["5bb0277fd99faf11a3f4a37f","5bb0277fd99faf11a3f4a380"]}`, "", false,
			[]string{"5bb0277fd99faf11a3f4a37f", "5bb0277fd99faf11a3f4a380"}, ""},
		{"array of objects", `{"messages":[{"id":"5a4fd7419feede6a19b18714","type":"postback","text":"startcbot"}]}`, "", false,
			[]string{"5a4fd7419feede6a19b18714"}, ""},
		{"mixed array", `{"messages":["5bb0277fd99faf11a3f4a37f",{"id":"5a4fd7419feede6a19b18714","text":"x"}]}`, "", false,
			[]string{"5bb0277fd99faf11a3f4a37f", "5a4fd7419feede6a19b18714"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h holder
			require.NoError(t, json.Unmarshal([]byte(tt.in), &h))
			assert.Equal(t, tt.contactID, h.Contact.ID)
			assert.Equal(t, tt.populated, h.Contact.Populated())
			var ids []string
			for _, m := range h.Messages {
				ids = append(ids, m.ID)
			}
			assert.Equal(t, tt.msgIDs, ids)
			out, err := json.Marshal(h)
			require.NoError(t, err)
			want := tt.out
			if want == "" {
				want = tt.in
			}
			assert.JSONEq(t, want, string(out), "marshals back to the form it came in")
		})
	}
	var h holder
	require.NoError(t, json.Unmarshal([]byte(`{"contact":{"id":"591506e18a280627f8dcfede","profile":{"name":"John Doe"}}}`), &h))
	assert.Equal(t, "John Doe", h.Contact.Value.Profile.Name)

	for _, bad := range []string{`{"contact":12}`, `{"contact":true}`, `{"contact":[1]}`} {
		assert.Error(t, json.Unmarshal([]byte(bad), &h), bad)
	}
	assert.Equal(t, "abc", NewRef[User]("abc").String())

	// An ID with a control character marshals as valid JSON (a fuzzer find).
	b, err := json.Marshal(NewRef[User]("a\x7fb\u2028"))
	require.NoError(t, err)
	var back Ref[User]
	require.NoError(t, json.Unmarshal(b, &back))
	assert.Equal(t, "a\x7fb\u2028", back.ID)
	assert.True(t, Ref[User]{}.IsZero())
}

// Ref works for a user type without a refID method: the id is read from "id".
func TestRefForeignType(t *testing.T) {
	t.Parallel()
	type kb struct {
		Name string `json:"name"`
	}
	var r Ref[kb]
	require.NoError(t, json.Unmarshal([]byte(`{"id":"5bb0277fd99faf11a3f4a37e","name":"FAQ"}`), &r))
	assert.Equal(t, "5bb0277fd99faf11a3f4a37e", r.ID)
	assert.Equal(t, "FAQ", r.Value.Name)
}

func TestEnumsSurviveRoundTrip(t *testing.T) {
	t.Parallel()
	in := `{"id":"5bb0277fd99faf11a3f4a37e","type":"hologram","status":"snoozed","participants":[{"role":"supervisor","unreadCount":0,"inbox":false,"accepted":false,"active":false}]}`
	var c Conversation
	require.NoError(t, json.Unmarshal([]byte(in), &c))
	assert.Equal(t, ConversationType("hologram"), c.Type)
	assert.Equal(t, ConversationStatus("snoozed"), c.Status)
	out, err := json.Marshal(c)
	require.NoError(t, err)
	assert.JSONEq(t, in, string(out))
}

func TestMetaKeepsArbitraryJSON(t *testing.T) {
	t.Parallel()
	in := `{"text":"/set","meta":{"engagement":"high","scores":[8,7,6.5],"nested":{"a":{"b":[true,null]}},"n":null}}`
	var m Message
	require.NoError(t, json.Unmarshal([]byte(in), &m))
	assert.Equal(t, []any{8.0, 7.0, 6.5}, m.Meta.Get("scores"))
	out, err := json.Marshal(m)
	require.NoError(t, err)
	assert.JSONEq(t, in, string(out))
}

// FuzzTimestamp: parsing never panics, and the RFC 3339 path (time.Time's
// UnmarshalJSON) agrees with the general ISO 8601 parser on everything it
// accepts, so which path reads a string never changes the result.
func FuzzTimestamp(f *testing.F) {
	for _, s := range []string{"2018-09-30T01:31:43.457Z", "2018-09-30T01:31:43Z", "2018-09-30T01:31:43.457",
		"2018-09-30T03:31:43+02:00", "2018-02-31T00:00:00Z", "2018-09-30", "9999-12-31T23:59:59.999999999Z", "0000-01-01T00:00:00Z"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var ts Timestamp
		err := ts.UnmarshalJSON([]byte(strconv.Quote(s)))
		if plain := s != "" && !strings.ContainsAny(s, `"\\`) && utf8.ValidString(s) && strconv.IsPrint(rune(s[0])); plain {
			// The JSON reader and the general parser read the same strings
			// as the same times, whichever path the reader takes.
			general, gerr := ParseTimestamp(s)
			if (err == nil) != (gerr == nil) || err == nil && !ts.Equal(general.Time) {
				t.Fatalf("%q: ParseTimestamp %v (%v), UnmarshalJSON %v (%v)", s, general.Time, gerr, ts.Time, err)
			}
		}
		var fast time.Time
		if fast.UnmarshalJSON([]byte(`"`+s+`"`)) != nil {
			return
		}
		slow, err := ParseTimestamp(s)
		if err != nil {
			t.Fatalf("RFC 3339 path accepted %q, general parser refused: %v", s, err)
		}
		if !fast.Equal(slow.Time) || fast.Location().String() != slow.Location().String() {
			t.Fatalf("%q: RFC 3339 path %v, general %v", s, fast, slow.Time)
		}
	})
}

// BenchmarkTimestampUnmarshal reads the forms a server may send: the API's
// own (RFC 3339 in UTC with milliseconds), one with an offset, and one
// without a zone (UTC, as the API documents).
func BenchmarkTimestampUnmarshal(b *testing.B) {
	for _, tc := range []struct{ name, in string }{
		{"api", `"2018-09-30T01:31:43.457Z"`},
		{"offset", `"2018-09-30T03:31:43.457+02:00"`},
		{"nozone", `"2018-09-30T01:31:43.457"`},
	} {
		b.Run(tc.name, func(b *testing.B) {
			in := []byte(tc.in)
			b.ReportAllocs()
			for b.Loop() {
				var ts Timestamp
				if err := ts.UnmarshalJSON(in); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
