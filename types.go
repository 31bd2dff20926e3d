package chatshipper

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-chatshipper/chatshipper/internal/wire"
)

// Timestamp is a point in time as the API writes it: ISO 8601, with or without
// an offset (none means UTC, as the API documents) and with or without
// fractional seconds. It marshals as RFC 3339 in UTC with milliseconds
// ("2018-09-30T01:31:43.457Z"); optional fields use the omitzero tag so a zero
// Timestamp is left out. A JSON number is read as Unix milliseconds.
type Timestamp struct {
	time.Time
}

// NewTimestamp returns t as a Timestamp.
func NewTimestamp(t time.Time) Timestamp { return Timestamp{t} }

const timestampLayout = "2006-01-02T15:04:05.000Z07:00"

// String formats the timestamp as the API does.
func (t Timestamp) String() string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timestampLayout)
}

// MarshalJSON writes RFC 3339 in UTC with milliseconds, or null when zero.
func (t Timestamp) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		// As time.Time.MarshalJSON: RFC 3339 has four-digit years only.
		return nil, fmt.Errorf("chatshipper: timestamp year %d outside 0-9999", y)
	}
	b := make([]byte, 0, len(timestampLayout)+2)
	b = append(b, '"')
	b = t.UTC().AppendFormat(b, timestampLayout)
	return append(b, '"'), nil
}

// UnmarshalJSON reads a string in any of the accepted ISO 8601 forms, a number
// of Unix milliseconds, or null.
func (t *Timestamp) UnmarshalJSON(b []byte) error {
	if t == nil {
		return errors.New("chatshipper: Timestamp.UnmarshalJSON on a nil *Timestamp")
	}
	if v, ok := parseAPITime(b); ok { // the API's own form, which nearly every value has
		t.Time = v
		return nil
	}
	b = bytes.TrimSpace(b)
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		*t = Timestamp{}
		return nil
	}
	if b[0] != '"' {
		ms, err := strconv.ParseInt(string(b), 10, 64)
		if err != nil {
			return fmt.Errorf("chatshipper: timestamp %s: not a string or Unix milliseconds", truncate(string(b), 40))
		}
		t.Time = time.UnixMilli(ms).UTC()
		return nil
	}
	if len(b) < 2 || b[len(b)-1] != '"' {
		return fmt.Errorf("chatshipper: timestamp %s: unterminated string", truncate(string(b), 40))
	}
	// The API's own form is RFC 3339 ("2018-09-30T01:31:43.457Z"), which
	// time.Time reads from the quoted bytes without allocating. A date-time
	// without a zone means UTC, so it is read the same way with a Z added.
	// The other ISO 8601 forms (no seconds, a date alone, JSON escapes) are
	// unquoted and go through ParseTimestamp.
	var rfc time.Time
	if zoned(b[1 : len(b)-1]) {
		if rfc.UnmarshalJSON(b) == nil {
			t.Time = rfc
			return nil
		}
	} else if len(b) <= len(`"2006-01-02T15:04:05.999999999"`) {
		var buf [len(`"2006-01-02T15:04:05.999999999Z"`)]byte
		if rfc.UnmarshalJSON(append(append(buf[:0], b[:len(b)-1]...), 'Z', '"')) == nil {
			t.Time = rfc
			return nil
		}
	}
	s := string(b[1 : len(b)-1])
	if bytes.IndexByte(b, '\\') >= 0 {
		// JSON escapes, not Go's: strconv.Unquote refuses \/
		if err := decodeJSON(b, &s); err != nil {
			return fmt.Errorf("chatshipper: timestamp %s: %w", truncate(string(b), 40), err)
		}
	}
	if s == "" {
		*t = Timestamp{}
		return nil
	}
	v, err := ParseTimestamp(s)
	if err != nil {
		return err
	}
	*t = v
	return nil
}

// The ISO 8601 forms read, most common first: with a zone (Z or an offset,
// with or without a colon) and without one, which the API documents as UTC.
var (
	layoutsWithZone = []string{
		"2006-01-02T15:04:05.999999999Z07:00",
		"2006-01-02T15:04:05.999999999Z0700",
		"2006-01-02T15:04Z07:00",
	}
	layoutsNoZone = []string{
		"2006-01-02T15:04:05.999999999",
		"2006-01-02T15:04",
		"2006-01-02",
	}
)

// parseAPITime reads the quoted form the API writes its times in,
// "2006-01-02T15:04:05.000Z" exactly (years 0001-9999), to the Time that
// time.Time.UnmarshalJSON makes of it, only faster. It reports false for
// anything else, including a field out of range, which the general path then
// reads or refuses.
func parseAPITime(b []byte) (time.Time, bool) {
	if len(b) != len(`"2006-01-02T15:04:05.000Z"`) || b[0] != '"' || b[5] != '-' || b[8] != '-' ||
		b[11] != 'T' || b[14] != ':' || b[17] != ':' || b[20] != '.' || b[24] != 'Z' || b[25] != '"' {
		return time.Time{}, false
	}
	y1, ok1 := digits2(b[1], b[2])
	y2, ok2 := digits2(b[3], b[4])
	month, ok3 := digits2(b[6], b[7])
	day, ok4 := digits2(b[9], b[10])
	hour, ok5 := digits2(b[12], b[13])
	minute, ok6 := digits2(b[15], b[16])
	sec, ok7 := digits2(b[18], b[19])
	ms1, ok8 := digits2(b[21], b[22])
	ms2, ok9 := digits2(b[23], '0')
	year := y1*100 + y2
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6 && ok7 && ok8 && ok9) || year < 1 ||
		month < 1 || month > 12 || day < 1 || day > daysIn(time.Month(month), year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	days := daysSinceEpoch(year, month, day)
	unix := days*86400 + int64(hour*3600+minute*60+sec)
	return time.Unix(unix, int64(ms1*10+ms2/10)*int64(time.Millisecond)).UTC(), true
}

// digits2 reads two decimal digits.
func digits2(a, b byte) (int, bool) {
	a, b = a-'0', b-'0' // wraps around for bytes below '0'
	return int(a)*10 + int(b), a <= 9 && b <= 9
}

// daysSinceEpoch is the number of days from 1970-01-01 to the date (year
// 1 or later, proleptic Gregorian), by the civil-from-days method: years
// counted from March, so that a leap day ends its year.
func daysSinceEpoch(year, month, day int) int64 {
	if month <= 2 {
		year--
	}
	era := year / 400 // year >= 0 here
	yoe := year - era*400
	m := month + 9
	if month > 2 {
		m = month - 3
	}
	doy := (153*m+2)/5 + day - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return int64(era)*146097 + int64(doe) - 719468
}

// daysIn is the number of days of month in year (proleptic Gregorian).
func daysIn(month time.Month, year int) int {
	switch month {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}

// zoned reports whether an ISO 8601 date-time names its zone: a Z or an
// offset sign after the date, which is ten bytes long.
func zoned[S ~string | ~[]byte](s S) bool {
	for i := 10; i < len(s); i++ {
		if c := s[i]; c == 'Z' || c == '+' || c == '-' {
			return true
		}
	}
	return false
}

// ParseTimestamp parses an ISO 8601 date-time. Without an offset the time is
// UTC.
func ParseTimestamp(s string) (Timestamp, error) {
	if zoned(s) {
		for _, l := range layoutsWithZone {
			if v, err := time.Parse(l, s); err == nil {
				return Timestamp{v}, nil
			}
		}
	} else {
		for _, l := range layoutsNoZone {
			if v, err := time.ParseInLocation(l, s, time.UTC); err == nil {
				return Timestamp{v}, nil
			}
		}
	}
	return Timestamp{}, fmt.Errorf("chatshipper: timestamp %q is not ISO 8601", truncate(s, 40))
}

func truncate(s string, n int) string { return wire.Truncate(s, n) }

// Ref is a reference to another resource: an ID string until the request asks
// to populate it, then the resource itself. ID is set in both cases; Value is
// non-nil only when populated. A Ref marshals back to the form it came in.
type Ref[T any] struct {
	// ID is the referenced resource's ID.
	ID string
	// Value is the populated resource, or nil.
	Value *T
}

// NewRef returns an unpopulated reference to id.
func NewRef[T any](id string) Ref[T] { return Ref[T]{ID: id} }

// IsZero reports whether the reference is empty (for the omitzero tag).
func (r Ref[T]) IsZero() bool { return r.ID == "" && r.Value == nil }

// Populated reports whether the referenced resource was populated.
func (r Ref[T]) Populated() bool { return r.Value != nil }

// String returns the ID.
func (r Ref[T]) String() string { return r.ID }

// MarshalJSON writes the object when populated, else the ID string, else null.
func (r Ref[T]) MarshalJSON() ([]byte, error) {
	if r.Value != nil {
		return encodeJSON(r.Value)
	}
	if r.ID == "" {
		return []byte("null"), nil
	}
	// JSON quoting, not Go's: strconv.Quote writes escapes such as \x7f that
	// are not JSON (found by FuzzRefDecode).
	return encodeJSON(r.ID)
}

// UnmarshalJSON accepts an ID string, a populated object, or null; any other
// value is a *json.UnmarshalTypeError, as encoding/json reports for a field
// of the wrong type.
func (r *Ref[T]) UnmarshalJSON(b []byte) error {
	// The webhook event decoder reads ID strings itself (fastRef): keep the
	// two in step; FuzzEventFastDecode compares them.
	b = bytes.TrimSpace(b)
	*r = Ref[T]{}
	if len(b) == 0 || bytes.Equal(b, []byte("null")) {
		return nil
	}
	switch b[0] {
	case '"':
		if id, ok := plainJSONString(b); ok {
			r.ID = id
			return nil
		}
		return decodeJSON(b, &r.ID)
	case '{':
		v := new(T)
		if err := decodeJSON(b, v); err != nil {
			return err
		}
		r.Value = v
		if g, ok := any(v).(interface{ refID() string }); ok {
			r.ID = g.refID()
			return nil
		}
		var idOnly struct {
			ID string `json:"id"`
		}
		_ = decodeJSON(b, &idOnly)
		r.ID = idOnly.ID
		return nil
	}
	return typeError(b, reflect.TypeFor[Ref[T]]()) // neither an ID string nor an object
}

// plainJSONString returns the content of a JSON string literal that needs no
// unescaping (no backslash, no control character, valid UTF-8), without
// going through the JSON decoder: IDs are the most common values in the API's
// documents, and a decoder call per ID costs a validation pass each.
func plainJSONString(b []byte) (string, bool) {
	if len(b) < 2 || b[0] != '"' || b[len(b)-1] != '"' {
		return "", false
	}
	in := b[1 : len(b)-1]
	for _, c := range in {
		if c == '\\' || c == '"' || c < 0x20 {
			return "", false
		}
	}
	if !utf8.Valid(in) {
		return "", false
	}
	return string(in), true
}

// Meta is a free-form JSON object as a map: the meta, params and values you
// send in create and update bodies and commands, and a few free-form fields
// of the models (Address, Presences, Params, form results). The meta of a
// resource as the API returns it is an [Object], decoded when read;
// [Object.Map] gives it as a Meta. Numbers decode as float64, objects as
// map[string]any, arrays as []any.
type Meta map[string]any

// IsValidID reports whether s looks like a ChatShipper resource ID: 24
// hexadecimal characters (a MongoDB ObjectId).
func IsValidID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// checkID refuses an ID that is not 24 hex characters, naming the argument.
// The ID itself is quoted only up to a few characters, since a wrong value can
// be anything the caller had at hand.
func checkID(name, id string) error {
	if id == "" {
		return argError(name, "must not be empty")
	}
	if !IsValidID(id) {
		return argError(name, "%q is not a resource ID (24 hex characters)", truncate(id, 32))
	}
	return nil
}

// checkIDs refuses the first invalid ID of a list, naming its index.
func checkIDs(name string, ids []string) error {
	for i, id := range ids {
		if err := checkID(fmt.Sprintf("%s[%d]", name, i), id); err != nil {
			return err
		}
	}
	return nil
}

// Ptr returns a pointer to a copy of v, for the optional fields of create and
// update bodies: &ContactUpdate{Blocked: Ptr(true)}, &UserUpdate{GivenName: Ptr("Jen")}.
func Ptr[T any](v T) *T { return &v }
