package chatshipper

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// queryFilterOp is the operator a Filter stands for. The zero value is not an
// operator, so a zero Filter is refused instead of silently meaning "exists".
type queryFilterOp uint8

const (
	opInvalid queryFilterOp = iota
	opExists
	opNotExists
	opEq
	opNe
	opGt
	opGte
	opLt
	opLte
	opBetween
	opIn
	opNin
	opRegex
)

// queryOpPrefix is the wire prefix of the single-operand operators.
var queryOpPrefix = [...]string{
	opEq:    "",
	opNe:    "!=",
	opGt:    ">",
	opGte:   ">=",
	opLt:    "<",
	opLte:   "<=",
	opRegex: "~",
}

// queryOpNames are the constructor names used in error messages.
var queryOpNames = [...]string{
	opInvalid:   "zero Filter",
	opExists:    "Exists",
	opNotExists: "NotExists",
	opEq:        "Eq",
	opNe:        "Ne",
	opGt:        "Gt",
	opGte:       "Gte",
	opLt:        "Lt",
	opLte:       "Lte",
	opBetween:   "Between",
	opIn:        "In",
	opNin:       "Nin",
	opRegex:     "Regex",
}

// Filter is one search condition on a document field, built by Exists,
// NotExists, Eq, Ne, Gt, Gte, Lt, Lte, Between, In, Nin or Regex. A Filter
// built from bad input carries its error, which Query.Where reports with the
// field name. The zero Filter is invalid.
//
// Operands may be strings, any integer or float kind, bools, time.Time
// (sent in UTC as RFC 3339 with milliseconds, "2024-05-17T12:03:09.123Z") or
// fmt.Stringer values; named types with one of those underlying kinds (enum
// types) are accepted too. Anything else, and NaN or infinite floats, is a
// stored error.
type Filter struct {
	op     queryFilterOp
	values []string // operands already formatted; for Between the two encoded bounds
	err    error    // reason the filter was refused, without a field name
}

// Exists matches documents where the field has any value ("field=").
func Exists() Filter { return Filter{op: opExists} }

// NotExists matches documents without the field ("field=!"); with an array
// index ("participants.1") it matches arrays shorter than index+1.
func NotExists() Filter { return Filter{op: opNotExists} }

// Eq matches documents whose field equals v ("field=v"). A value the server
// would read as an operator (empty, or starting with "!", ">", "<", "~" or
// "[") is refused: use the operator that means it instead.
func Eq(v any) Filter {
	s, err := formatQueryValue(v)
	if err != nil {
		return filterError(opEq, err)
	}
	if reason := queryPlainValueProblem(s); reason != "" {
		return filterError(opEq, errors.New(reason))
	}
	return Filter{op: opEq, values: []string{s}}
}

// Ne matches documents whose field differs from v ("field=!=v").
func Ne(v any) Filter { return singleFilter(opNe, v) }

// Gt matches documents whose field is greater than v ("field=>v").
func Gt(v any) Filter { return singleFilter(opGt, v) }

// Gte matches documents whose field is greater than or equal to v ("field=>=v").
func Gte(v any) Filter { return singleFilter(opGte, v) }

// Lt matches documents whose field is less than v ("field=<v").
func Lt(v any) Filter { return singleFilter(opLt, v) }

// Lte matches documents whose field is less than or equal to v ("field=<=v").
func Lte(v any) Filter { return singleFilter(opLte, v) }

// Between matches documents whose field lies between two bounds
// ("field=>a,<=b"). lower must be Gt or Gte and upper Lt or Lte; the bounds
// may not contain a comma because the server splits them on it.
func Between(lower, upper Filter) Filter {
	if lower.err != nil {
		return filterError(opBetween, fmt.Errorf("lower bound: %w", lower.err))
	}
	if upper.err != nil {
		return filterError(opBetween, fmt.Errorf("upper bound: %w", upper.err))
	}
	if lower.op != opGt && lower.op != opGte {
		return filterError(opBetween, fmt.Errorf("lower bound must be Gt or Gte, not %s", queryOpNames[lower.op]))
	}
	if upper.op != opLt && upper.op != opLte {
		return filterError(opBetween, fmt.Errorf("upper bound must be Lt or Lte, not %s", queryOpNames[upper.op]))
	}
	return Filter{op: opBetween, values: []string{lower.String(), upper.String()}}
}

// In matches documents whose field equals one of vs ("field=[a,b]"). At
// least one value is required, and no value may be empty or contain a comma.
func In(vs ...any) Filter { return listFilter(opIn, vs) }

// Nin matches documents whose field equals none of vs ("field=![a,b]"), with
// the same rules as In.
func Nin(vs ...any) Filter { return listFilter(opNin, vs) }

// Regex matches documents whose field matches the regular expression pattern
// ("field=~pattern"); the server evaluates the pattern, so its dialect is the
// server's (JavaScript). An empty pattern is refused.
func Regex(pattern string) Filter {
	if pattern == "" {
		return filterError(opRegex, errors.New("Regex needs a non-empty pattern"))
	}
	return Filter{op: opRegex, values: []string{pattern}}
}

// String returns the filter as it is sent after "field=", e.g. ">=18" or
// "[female,male]". It is empty for Exists and for an invalid Filter.
func (f Filter) String() string {
	if f.err != nil {
		return ""
	}
	switch f.op {
	case opExists, opInvalid:
		return ""
	case opNotExists:
		return "!"
	case opBetween:
		return f.values[0] + "," + f.values[1]
	case opIn:
		return "[" + strings.Join(f.values, ",") + "]"
	case opNin:
		return "![" + strings.Join(f.values, ",") + "]"
	default:
		return queryOpPrefix[f.op] + f.values[0]
	}
}

func filterError(op queryFilterOp, err error) Filter { return Filter{op: op, err: err} }

// singleFilter builds the one-operand operators Ne, Gt, Gte, Lt, Lte.
func singleFilter(op queryFilterOp, v any) Filter {
	s, err := formatQueryValue(v)
	if err != nil {
		return filterError(op, err)
	}
	name := queryOpNames[op]
	switch {
	case s == "":
		return filterError(op, fmt.Errorf("%s needs a non-empty value", name))
	case op != opNe && strings.Contains(s, ","):
		// The server splits a comparison on the comma to find Between bounds.
		return filterError(op, fmt.Errorf("%s value %s contains a comma", name, filterValueForError(s)))
	case (op == opGt || op == opLt) && s[0] == '=':
		// ">" + "=5" would be read as ">=5".
		return filterError(op, fmt.Errorf("%s value %s starts with \"=\"; use %se", name, filterValueForError(s), name))
	}
	return Filter{op: op, values: []string{s}}
}

func listFilter(op queryFilterOp, vs []any) Filter {
	name := queryOpNames[op]
	if len(vs) == 0 {
		return filterError(op, fmt.Errorf("%s needs at least one value", name))
	}
	out := make([]string, len(vs))
	for i, v := range vs {
		s, err := formatQueryValue(v)
		if err != nil {
			return filterError(op, fmt.Errorf("%s value %d: %w", name, i, err))
		}
		if s == "" {
			return filterError(op, fmt.Errorf("%s value %d is empty", name, i))
		}
		if strings.Contains(s, ",") {
			return filterError(op, fmt.Errorf("%s value %s contains a comma", name, filterValueForError(s)))
		}
		out[i] = s
	}
	return Filter{op: op, values: out}
}

// queryPlainValueProblem explains why s cannot be sent as a plain (equality
// or OR-search) value, or returns "" when it can.
func queryPlainValueProblem(s string) string {
	if s == "" {
		return "empty value means \"field exists\"; use Exists"
	}
	switch s[0] {
	case '!':
		return fmt.Sprintf("value %s starts with \"!\", which the server reads as NotExists/Ne/Nin; use those", filterValueForError(s))
	case '>':
		return fmt.Sprintf("value %s starts with \">\", which the server reads as Gt/Gte; use those", filterValueForError(s))
	case '<':
		return fmt.Sprintf("value %s starts with \"<\", which the server reads as Lt/Lte; use those", filterValueForError(s))
	case '~':
		return fmt.Sprintf("value %s starts with \"~\", which the server reads as Regex; use Regex", filterValueForError(s))
	case '[':
		return fmt.Sprintf("value %s starts with \"[\", which the server reads as In; use In", filterValueForError(s))
	}
	return ""
}

// filterValueForError shows a filter value in an error message: quoted when
// it cannot be personal data (an id, a short number, a boolean, a date),
// otherwise only its length, so a message text, a name or an e-mail address
// a caller filters on never reaches an error or a log line.
func filterValueForError(s string) string {
	if safeFilterValue(s) {
		return quoteQueryValue(s)
	}
	return fmt.Sprintf("(%d bytes, not quoted)", len(s))
}

// quoteQueryValue quotes a value for an error message, cut short so that a
// huge value cannot blow up logs.
func quoteQueryValue(s string) string {
	const maxLen = 40
	if len(s) <= maxLen {
		return strconv.Quote(s)
	}
	cut := maxLen
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return strconv.Quote(s[:cut]) + "..."
}

// queryTimeLayout is RFC 3339 with milliseconds; values are converted to UTC
// first so the suffix is always "Z".
const queryTimeLayout = "2006-01-02T15:04:05.000Z07:00"

// formatQueryValue turns a filter operand into its wire text. Named types
// whose underlying kind is string, bool, an integer or a float are accepted
// like their base type (so enum types work), unless they implement
// fmt.Stringer, which wins as it does in package fmt.
func formatQueryValue(v any) (s string, err error) {
	switch x := v.(type) {
	case nil:
		return "", errors.New("nil value")
	case time.Time:
		return x.UTC().Format(queryTimeLayout), nil
	case string:
		return x, nil
	case bool:
		return strconv.FormatBool(x), nil
	case int:
		return strconv.Itoa(x), nil
	case int8:
		return strconv.FormatInt(int64(x), 10), nil
	case int16:
		return strconv.FormatInt(int64(x), 10), nil
	case int32:
		return strconv.FormatInt(int64(x), 10), nil
	case int64:
		return strconv.FormatInt(x, 10), nil
	case uint:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint8:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint16:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint32:
		return strconv.FormatUint(uint64(x), 10), nil
	case uint64:
		return strconv.FormatUint(x, 10), nil
	case uintptr:
		return strconv.FormatUint(uint64(x), 10), nil
	case float32:
		return formatQueryFloat(float64(x), 32)
	case float64:
		return formatQueryFloat(x, 64)
	case fmt.Stringer:
		return callQueryStringer(x)
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.String:
		return rv.String(), nil
	case reflect.Bool:
		return strconv.FormatBool(rv.Bool()), nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return strconv.FormatUint(rv.Uint(), 10), nil
	case reflect.Float32:
		return formatQueryFloat(rv.Float(), 32)
	case reflect.Float64:
		return formatQueryFloat(rv.Float(), 64)
	}
	return "", fmt.Errorf("unsupported value type %T (use a string, number, bool, time.Time or fmt.Stringer)", v)
}

func formatQueryFloat(f float64, bits int) (string, error) {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "", fmt.Errorf("non-finite number %v", f)
	}
	// 'f' keeps the server's number parser away from exponents and "+".
	return strconv.FormatFloat(f, 'f', -1, bits), nil
}

// callQueryStringer calls String, refusing nil pointers and turning a panic
// in user code into an error, because building a query must never panic.
func callQueryStringer(x fmt.Stringer) (s string, err error) {
	if rv := reflect.ValueOf(x); rv.Kind() == reflect.Pointer && rv.IsNil() {
		return "", fmt.Errorf("nil %T value", x)
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = "", fmt.Errorf("%T.String panicked", x)
		}
	}()
	return x.String(), nil
}
