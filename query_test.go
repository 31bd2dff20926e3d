package chatshipper

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"math"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jarcoal/httpmock"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The -update flag may be declared by another test file of this package
// too; registering it only when absent avoids a duplicate-flag panic.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files under testdata/")
	}
}

func updateGolden() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

const queryGoldenFile = "testdata/query/spec_examples.golden"

// querySpecExample is one "GET <apibase>/path?query" line of spec ch3 (and
// the few query forms in api-notes §3), with the builder calls meant to
// produce it.
type querySpecExample struct {
	name  string
	path  string
	raw   string // the query string exactly as the spec writes it
	build *Query
}

func querySpecExamples() []querySpecExample {
	n := NewQuery
	return []querySpecExample{
		{"conversations", "/conversations", "", n()},
		{"conversations-field-value", "/conversations", "field=value", n().Where("field", Eq("value"))},
		{"conversations-populate-contact-messages", "/conversations", "populate=contact,messages", n().Populate("contact").Populate("messages")},
		{"conversations-sort-two-fields", "/conversations", "sort=field,-field2", n().Sort("field", "-field2")},
		{"conversations-offset-limit", "/conversations", "offset=10&limit=10", n().Offset(10).Limit(10)},
		{"conversations-meta-intent", "/conversations", "meta.intent=greeting&type=contact", n().Where("meta.intent", Eq("greeting")).Where("type", Eq("contact"))},
		{"users-sort-name", "/users", "sort=name", n().Sort("name")},
		{"users-sort-name-desc", "/users", "sort=-name", n().Sort("-name")},
		{"users-sort-name-age-desc", "/users", "sort=name,-age", n().Sort("name").Sort("-age")},

		{"messages-text-not-exists", "/messages", "text=!", n().Where("text", NotExists())},
		{"messages-text-regex", "/messages", "text=~regex", n().Where("text", Regex("regex"))},
		{"messages-text-eq", "/messages", "text=value", n().Where("text", Eq("value"))},
		{"messages-text-gt", "/messages", "text=>value", n().Where("text", Gt("value"))},
		{"messages-text-gte", "/messages", "text=>=value", n().Where("text", Gte("value"))},
		{"messages-text-lt", "/messages", "text=<value", n().Where("text", Lt("value"))},
		{"messages-text-lte", "/messages", "text=<=value", n().Where("text", Lte("value"))},
		{"messages-text-between", "/messages", "text=>value1,<=value2", n().Where("text", Between(Gt("value1"), Lte("value2")))},
		{"messages-text-ne", "/messages", "text=!=value", n().Where("text", Ne("value"))},
		{"messages-text-in", "/messages", "text=[value1,value2]", n().Where("text", In("value1", "value2"))},
		{"messages-text-nin", "/messages", "text=![value1,value2]", n().Where("text", Nin("value1", "value2"))},

		{"users-gender-exists", "/users", "gender=", n().Where("gender", Exists())},
		{"users-gender-not-exists", "/users", "gender=!", n().Where("gender", NotExists())},
		{"users-gender-eq", "/users", "gender=male", n().Where("gender", Eq("male"))},
		{"users-gender-ne", "/users", "gender=!=male", n().Where("gender", Ne("male"))},
		{"users-age-gt", "/users", "age=>18", n().Where("age", Gt(18))},
		{"users-age-gte", "/users", "age=>=18", n().Where("age", Gte(18))},
		{"users-age-lt", "/users", "age=<30", n().Where("age", Lt(30))},
		{"users-age-lte", "/users", "age=<=30", n().Where("age", Lte(30))},
		{"users-age-between", "/users", "age=>18,<=30", n().Where("age", Between(Gt(18), Lte(30)))},
		{"users-gender-in", "/users", "gender=[female,male]", n().Where("gender", In("female", "male"))},
		{"users-age-nin", "/users", "age=![18,30]", n().Where("age", Nin(18, 30))},
		{"users-name-regex", "/users", "name=~oost", n().Where("name", Regex("oost"))},

		{"organizations-or-name-displayname", "/organizations", "name,displayName=acme", n().WhereAny([]string{"name", "displayName"}, "acme")},
		{"organizations-nested-categories", "/organizations", "categories.name=~car&categories.forms=590c76bdde1b762f2113e81c",
			n().Where("categories.name", Regex("car")).Where("categories.forms", Eq("590c76bdde1b762f2113e81c"))},
		{"conversations-participants-1-exists", "/conversations", "participants.1", n().Where("participants.1", Exists())},
		{"conversations-participants-1-not-exists", "/conversations", "participants.1=!", n().Where("participants.1", NotExists())},

		{"users-select-name-email", "/users", "select=name,email", n().Select("name", "email")},
		{"conversations-populate-contact", "/conversations", "populate=contact", n().Populate("contact")},
		{"conversations-populate-messages", "/conversations", "populate=messages", n().Populate("messages")},
		{"conversations-populate-participants-user", "/conversations", "populate=participants.user", n().Populate("participants.user")},
		{"conversation-select-populate-fields", "/conversations/5a4fd7419feede6a19b18712",
			"select=status&populate=messages:type|text,organization:name,participants.user:givenName|familyName",
			n().Select("status").Populate("messages", "type", "text").Populate("organization", "name").
				Populate("participants.user", "givenName", "familyName")},

		{"users-offset-limit", "/users", "offset=10&limit=10", n().Offset(10).Limit(10)},
		{"users-offset", "/users", "offset=5", n().Offset(5)},
		{"users-limit", "/users", "limit=5", n().Limit(5)},
		{"users-offset-5-limit-5", "/users", "offset=5&limit=5", n().Limit(5).Offset(5)},

		// api-notes §3 (the SDK's documentation)
		{"notes-content-regex", "/messages", "content=~article", n().Where("content", Regex("article"))},
		{"notes-createdat-gt", "/messages", "createdAt=>2019-01-01", n().Where("createdAt", Gt("2019-01-01"))},
		{"notes-organization-in", "/conversations", "organization=[id1,id2]", n().Where("organization", In("id1", "id2"))},
		{"notes-populate-categories-forms", "/organizations/x", "populate=categories.forms", n().Populate("categories.forms")},
		{"notes-profile-telephone", "/contacts", "profile.telephone=%2B31612345678", n().Where("profile.telephone", Eq("+31612345678"))},
	}
}

// queryFilterMap indexes a query's filters by literal key, the form in which
// two queries must agree after a round trip.
func queryFilterMap(q *Query) map[string]queryFilter {
	m := map[string]queryFilter{}
	for _, f := range q.filters {
		f.or = len(f.fields) > 1
		m[f.key] = f
	}
	return m
}

func readQueryGolden(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open(queryGoldenFile)
	require.NoError(t, err, "run go test -run TestQuerySpecExamples -update to create it")
	defer f.Close()
	m := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, req, ok := strings.Cut(line, " ")
		require.True(t, ok, "bad golden line %q", line)
		m[name] = req
	}
	require.NoError(t, sc.Err())
	return m
}

func queryRequestLine(path, enc string) string {
	if enc == "" {
		return path
	}
	return path + "?" + enc
}

func TestQuerySpecExamples(t *testing.T) {
	t.Parallel()
	examples := querySpecExamples()

	if updateGolden() {
		var b strings.Builder
		b.WriteString("# Query strings the builder produces for every example of spec ch3 (and api-notes §3).\n")
		b.WriteString("# name path?encoded — regenerate with: go test -run TestQuerySpecExamples -update .\n")
		for _, ex := range examples {
			enc, err := ex.build.Encode()
			require.NoError(t, err, ex.name)
			fmt.Fprintf(&b, "%s %s\n", ex.name, queryRequestLine(ex.path, enc))
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(queryGoldenFile), 0o755))
		require.NoError(t, os.WriteFile(queryGoldenFile, []byte(b.String()), 0o644))
	}
	golden := readQueryGolden(t)
	require.Len(t, golden, len(examples), "golden file and example table differ; run with -update")

	for _, ex := range examples {
		t.Run(ex.name, func(t *testing.T) {
			require.NoError(t, ex.build.Err())

			want, err := url.ParseQuery(ex.raw)
			require.NoError(t, err)
			got, err := ex.build.Values()
			require.NoError(t, err)
			assert.Equal(t, want, got, "decoded parameters differ from the spec's")

			enc, err := ex.build.Encode()
			require.NoError(t, err)
			assert.Equal(t, golden[ex.name], queryRequestLine(ex.path, enc), "encoded string differs from %s", queryGoldenFile)

			for _, in := range []string{enc, "?" + enc, ex.raw} {
				parsed, err := parseQuery(in)
				require.NoError(t, err, "parseQuery(%q)", in)
				assert.Equal(t, queryFilterMap(ex.build), queryFilterMap(parsed), "filters of parseQuery(%q)", in)
				pv, err := parsed.Values()
				require.NoError(t, err)
				assert.Equal(t, want, pv, "parameters of parseQuery(%q)", in)
			}
		})
	}
}

// A few encoded strings spelled out, so a reader sees the percent-encoding
// without opening the golden file.
func TestQueryEncodeExact(t *testing.T) {
	t.Parallel()
	tests := []struct {
		q    *Query
		want string
	}{
		{NewQuery().Where("age", Between(Gt(18), Lte(30))), "age=%3E18%2C%3C%3D30"},
		{NewQuery().WhereAny([]string{"name", "displayName"}, "acme"), "name%2CdisplayName=acme"},
		{NewQuery().Where("participants.1", Exists()), "participants.1="},
		{NewQuery().Where("name", Regex("oost")), "name=~oost"},
		{NewQuery().Select("status").Populate("messages", "type", "text"), "populate=messages%3Atype%7Ctext&select=status"},
		{NewQuery().Offset(0).Limit(1), "limit=1&offset=0"},
		{NewQuery().Where("text", Eq("a b&c=d")), "text=a+b%26c%3Dd"},
		{nil, ""},
	}
	for _, tt := range tests {
		got, err := tt.q.Encode()
		require.NoError(t, err)
		assert.Equal(t, tt.want, got)
	}
}

type queryStatus string

type queryLevel int

type queryStringer struct{ s string }

func (s queryStringer) String() string { return s.s }

type queryPtrStringer struct{}

func (*queryPtrStringer) String() string { return "ptr" }

type queryPanicStringer struct{}

func (queryPanicStringer) String() string { panic("boom") }

func TestQueryValueFormatting(t *testing.T) {
	t.Parallel()
	ams := time.FixedZone("CEST", 2*3600)
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"string", "open", "open"},
		{"int", -7, "-7"},
		{"int8", int8(-8), "-8"},
		{"int16", int16(16), "16"},
		{"int32", int32(32), "32"},
		{"int64", int64(math.MaxInt64), "9223372036854775807"},
		{"uint", uint(1), "1"},
		{"uint8", uint8(255), "255"},
		{"uint16", uint16(16), "16"},
		{"uint32", uint32(32), "32"},
		{"uint64", uint64(math.MaxUint64), "18446744073709551615"},
		{"uintptr", uintptr(9), "9"},
		{"float64", 1.5, "1.5"},
		{"float64 large", 1e21, "1000000000000000000000"},
		{"float32", float32(0.1), "0.1"},
		{"bool true", true, "true"},
		{"bool false", false, "false"},
		{"time utc", time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC), "2019-01-01T00:00:00.000Z"},
		{"time zone to utc with ms", time.Date(2024, 5, 17, 14, 3, 9, 123456789, ams), "2024-05-17T12:03:09.123Z"},
		{"stringer", queryStringer{"x1"}, "x1"},
		{"pointer stringer", &queryPtrStringer{}, "ptr"},
		{"named string", queryStatus("queued"), "queued"},
		{"named int", queryLevel(3), "3"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := Eq(tt.v)
			require.NoError(t, f.err)
			assert.Equal(t, tt.want, f.String())
			assert.Equal(t, ">"+tt.want, Gt(tt.v).String())
		})
	}
}

func TestFilterString(t *testing.T) {
	t.Parallel()
	tests := []struct {
		f    Filter
		want string
	}{
		{Exists(), ""},
		{NotExists(), "!"},
		{Eq("male"), "male"},
		{Ne("male"), "!=male"},
		{Gt(18), ">18"},
		{Gte(18), ">=18"},
		{Lt(30), "<30"},
		{Lte(30), "<=30"},
		{Between(Gt(18), Lte(30)), ">18,<=30"},
		{Between(Gte(18), Lt(30)), ">=18,<30"},
		{Between(Gt(18), Lt(30)), ">18,<30"},
		{Between(Gte(18), Lte(30)), ">=18,<=30"},
		{In("female", "male"), "[female,male]"},
		{Nin(18, 30), "![18,30]"},
		{Regex("oost"), "~oost"},
		{Filter{}, ""},
		{Eq(""), ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, tt.f.String())
	}
}

func TestQueryRefusals(t *testing.T) {
	t.Parallel()
	n := NewQuery
	tests := []struct {
		name   string
		q      *Query
		field  string
		reason string
	}{
		// fields
		{"where twice", n().Where("status", Eq("open")).Where("status", In("a", "b")), "status", "filtered twice; the server does not support repeated fields"},
		{"where then where-any same key", n().Where("name", Eq("x")).WhereAny([]string{"name"}, "y"), "name", "filtered twice; the server does not support repeated fields"},
		{"where-any then where same key", n().WhereAny([]string{"name"}, "y").Where("name", Exists()), "name", "filtered twice; the server does not support repeated fields"},
		{"where-any twice", n().WhereAny([]string{"a", "b"}, "x").WhereAny([]string{"a", "b"}, "y"), "a,b", "filtered twice; the server does not support repeated fields"},
		{"reserved select", n().Where("select", Eq("x")), "select", "is a reserved parameter, not a filterable field"},
		{"reserved populate", n().Where("populate", Eq("x")), "populate", "is a reserved parameter, not a filterable field"},
		{"reserved sort", n().Where("sort", Eq("x")), "sort", "is a reserved parameter, not a filterable field"},
		{"reserved offset", n().Where("offset", Eq(1)), "offset", "is a reserved parameter, not a filterable field"},
		{"reserved limit", n().Where("limit", Eq(1)), "limit", "is a reserved parameter, not a filterable field"},
		{"reserved in where-any", n().WhereAny([]string{"name", "limit"}, "x"), "name,limit", `field "limit" is a reserved parameter, not a filterable field`},
		{"empty field", n().Where("", Eq("x")), "", "empty field name"},
		{"empty segment", n().Where("a..b", Eq("x")), "a..b", "empty segment in dotted field path"},
		{"trailing dot", n().Where("meta.", Eq("x")), "meta.", "empty segment in dotted field path"},
		{"leading dot", n().Where(".meta", Eq("x")), ".meta", "empty segment in dotted field path"},
		{"comma in where field", n().Where("name,displayName", Eq("x")), "name,displayName", `field name contains ','`},
		{"zero filter", n().Where("a", Filter{}), "a", "zero Filter; build it with Eq, In, Exists, ..."},

		// WhereAny
		{"where-any no fields", n().WhereAny(nil, "x"), "", "WhereAny needs at least one field"},
		{"where-any empty field", n().WhereAny([]string{"name", ""}, "x"), "name,", "field 1: empty field name"},
		{"where-any bad segment", n().WhereAny([]string{"a.", "b"}, "x"), "a.,b", "field 0: empty segment in dotted field path"},
		{"where-any duplicate field", n().WhereAny([]string{"name", "name"}, "x"), "name,name", `field "name" listed twice`},
		{"where-any empty value", n().WhereAny([]string{"a", "b"}, ""), "a,b", `OR search takes no operators: empty value means "field exists"; use Exists`},
		{"where-any operator value", n().WhereAny([]string{"a", "b"}, "~acme"), "a,b", `OR search takes no operators: value (5 bytes, not quoted) starts with "~", which the server reads as Regex; use Regex`},

		// Eq values the server would read as operators
		{"eq empty", n().Where("a", Eq("")), "a", `empty value means "field exists"; use Exists`},
		{"eq bang", n().Where("a", Eq("!x")), "a", `value (2 bytes, not quoted) starts with "!", which the server reads as NotExists/Ne/Nin; use those`},
		{"eq gt", n().Where("a", Eq(">x")), "a", `value (2 bytes, not quoted) starts with ">", which the server reads as Gt/Gte; use those`},
		{"eq lt", n().Where("a", Eq("<x")), "a", `value (2 bytes, not quoted) starts with "<", which the server reads as Lt/Lte; use those`},
		{"eq tilde", n().Where("a", Eq("~x")), "a", `value (2 bytes, not quoted) starts with "~", which the server reads as Regex; use Regex`},
		{"eq bracket", n().Where("a", Eq("[x]")), "a", `value (3 bytes, not quoted) starts with "[", which the server reads as In; use In`},
		{"eq negative via stringer", n().Where("a", Eq(queryStringer{"!"})), "a", `value "!" starts with "!", which the server reads as NotExists/Ne/Nin; use those`},
		{"eq long value not quoted", n().Where("a", Eq(">"+strings.Repeat("x", 60))), "a", `value (61 bytes, not quoted) starts with ">", which the server reads as Gt/Gte; use those`},
		{"eq number quoted", n().Where("a", Eq(">5")), "a", `value ">5" starts with ">", which the server reads as Gt/Gte; use those`},
		{"eq date quoted", n().Where("a", Eq("<2024-01-31")), "a", `value "<2024-01-31" starts with "<", which the server reads as Lt/Lte; use those`},
		{"message text not quoted", n().Where("text", Lt("Jane, at home")), "text", `Lt value (13 bytes, not quoted) contains a comma`},

		// value types
		{"nil value", n().Where("a", Eq(nil)), "a", "nil value"},
		{"struct value", n().Where("a", Eq(struct{}{})), "a", "unsupported value type struct {} (use a string, number, bool, time.Time or fmt.Stringer)"},
		{"slice value", n().Where("a", Eq([]string{"x"})), "a", "unsupported value type []string (use a string, number, bool, time.Time or fmt.Stringer)"},
		{"pointer value", n().Where("a", Eq(new(int))), "a", "unsupported value type *int (use a string, number, bool, time.Time or fmt.Stringer)"},
		{"nan", n().Where("a", Gt(math.NaN())), "a", "non-finite number NaN"},
		{"inf", n().Where("a", Lt(math.Inf(1))), "a", "non-finite number +Inf"},
		{"nil pointer stringer", n().Where("a", Eq((*queryPtrStringer)(nil))), "a", "nil *chatshipper.queryPtrStringer value"},
		{"panicking stringer", n().Where("a", Eq(queryPanicStringer{})), "a", "chatshipper.queryPanicStringer.String panicked"},

		// comparisons
		{"ne empty", n().Where("a", Ne("")), "a", "Ne needs a non-empty value"},
		{"gt empty", n().Where("a", Gt("")), "a", "Gt needs a non-empty value"},
		{"lte empty", n().Where("a", Lte("")), "a", "Lte needs a non-empty value"},
		{"gt comma", n().Where("a", Gt("1,2")), "a", `Gt value "1,2" contains a comma`},
		{"gte comma", n().Where("a", Gte("1,<2")), "a", `Gte value "1,<2" contains a comma`},
		{"lt comma", n().Where("a", Lt("a,b")), "a", `Lt value (3 bytes, not quoted) contains a comma`},
		{"gt equals sign", n().Where("a", Gt("=5")), "a", `Gt value "=5" starts with "="; use Gte`},
		{"lt equals sign", n().Where("a", Lt("=5")), "a", `Lt value "=5" starts with "="; use Lte`},

		// lists
		{"in empty", n().Where("a", In()), "a", "In needs at least one value"},
		{"nin empty", n().Where("a", Nin()), "a", "Nin needs at least one value"},
		{"in comma", n().Where("a", In("x", "y,z")), "a", `In value (3 bytes, not quoted) contains a comma`},
		{"nin comma", n().Where("a", Nin("x,y")), "a", `Nin value (3 bytes, not quoted) contains a comma`},
		{"in empty member", n().Where("a", In("x", "")), "a", "In value 1 is empty"},
		{"in bad member type", n().Where("a", In(1, struct{}{})), "a", "In value 1: unsupported value type struct {} (use a string, number, bool, time.Time or fmt.Stringer)"},

		// Between
		{"between eq lower", n().Where("a", Between(Eq(1), Lt(2))), "a", "lower bound must be Gt or Gte, not Eq"},
		{"between lt lower", n().Where("a", Between(Lt(1), Gt(2))), "a", "lower bound must be Gt or Gte, not Lt"},
		{"between gt upper", n().Where("a", Between(Gt(1), Gt(2))), "a", "upper bound must be Lt or Lte, not Gt"},
		{"between exists upper", n().Where("a", Between(Gte(1), Exists())), "a", "upper bound must be Lt or Lte, not Exists"},
		{"between zero lower", n().Where("a", Between(Filter{}, Lte(2))), "a", "lower bound must be Gt or Gte, not zero Filter"},
		{"between lower comma", n().Where("a", Between(Gt("1,5"), Lte(2))), "a", `lower bound: Gt value "1,5" contains a comma`},
		{"between upper comma", n().Where("a", Between(Gt(1), Lte("2,5"))), "a", `upper bound: Lte value "2,5" contains a comma`},

		// Regex
		{"regex empty", n().Where("a", Regex("")), "a", "Regex needs a non-empty pattern"},

		// reserved parameters
		{"limit zero", n().Limit(0), "limit", "limit 0 is below 1"},
		{"limit negative", n().Limit(-3), "limit", "limit -3 is below 1"},
		{"offset negative", n().Offset(-1), "offset", "offset -1 is negative"},
		{"select empty", n().Select("name", ""), "select", `empty field name (in "")`},
		{"select bad segment", n().Select("a..b"), "select", `empty segment in dotted field path (in "a..b")`},
		{"select comma", n().Select("name,email"), "select", `field name contains ',' (in "name,email")`},
		{"sort empty", n().Sort(""), "sort", `empty field name (in "")`},
		{"sort dash only", n().Sort("-"), "sort", `empty field name (in "-")`},
		{"sort comma", n().Sort("a,b"), "sort", `field name contains ',' (in "a,b")`},
		{"sort twice", n().Sort("name").Sort("-name"), "sort", `field "name" sorted twice`},
		{"populate empty", n().Populate(""), "populate", `empty field name (in "")`},
		{"populate comma", n().Populate("contact,messages"), "populate", `field name contains ',' (in "contact,messages")`},
		{"populate colon", n().Populate("messages:type"), "populate", `field name contains ':' (in "messages:type")`},
		{"populate pipe", n().Populate("a|b"), "populate", `field name contains '|' (in "a|b")`},
		{"populate twice", n().Populate("messages").Populate("messages"), "populate", `path "messages" populated twice`},
		{"populate twice with fields", n().Populate("messages").Populate("messages", "type"), "populate", `path "messages" populated twice`},
		{"populate twice fields first", n().Populate("messages", "text").Populate("messages"), "populate", `path "messages" populated twice`},
		{"populate field pipe", n().Populate("messages", "ty|pe"), "populate", `field name contains '|' (in "ty|pe" of path "messages")`},
		{"populate field colon", n().Populate("messages", "a:b"), "populate", `field name contains ':' (in "a:b" of path "messages")`},
		{"populate field comma", n().Populate("messages", "a,b"), "populate", `field name contains ',' (in "a,b" of path "messages")`},
		{"populate field empty", n().Populate("messages", ""), "populate", `empty field name (in "" of path "messages")`},

		// the first error sticks through later valid calls
		{"first error kept", n().Limit(0).Where("a", Eq("x")).Offset(-1).Sort("x"), "limit", "limit 0 is below 1"},
		{"nil query", (*Query)(nil).Limit(0), "limit", "limit 0 is below 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.Err()
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidQuery)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, tt.field, qe.Field)
			assert.Equal(t, tt.reason, qe.Reason)

			v, verr := tt.q.Values()
			assert.Nil(t, v)
			assert.Same(t, err, verr)
			s, eerr := tt.q.Encode()
			assert.Empty(t, s)
			assert.Same(t, err, eerr)
		})
	}
}

func TestQueryErrorMessage(t *testing.T) {
	t.Parallel()
	err := NewQuery().Where("age", Gt("=5")).Err()
	assert.EqualError(t, err, `chatshipper: invalid query: field "age": Gt value "=5" starts with "="; use Gte`)
	assert.EqualError(t, &QueryError{Reason: "r"}, "chatshipper: invalid query: r")
	assert.False(t, errors.Is(errors.New("chatshipper: invalid query"), ErrInvalidQuery))
}

func TestParseQueryRefusals(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw    string
		field  string
		reason string
	}{
		{"a=1&a=2", "a", "parameter repeated; the server does not support repeated fields"},
		{"a=%zz", "", `cannot read query string: invalid URL escape "%zz"`},
		{"limit=abc", "limit", `limit "abc" is not an integer`},
		{"offset=1.5", "offset", `offset "1.5" is not an integer`},
		{"offset=-1", "offset", "offset -1 is negative"},
		{"limit=0", "limit", "limit 0 is below 1"},
		{"a=!x", "a", `value "!x" starts with "!" but is not "!", "!=..." or "![...]"`},
		{"a=![x", "a", `unterminated list "![x"`},
		{"a=[x", "a", `unterminated list "[x"`},
		{"a=[]", "a", "In value 0 is empty"},
		{"a=![]", "a", "Nin value 0 is empty"},
		{"a=[x,,y]", "a", "In value 1 is empty"},
		{"a=>", "a", "Gt needs a non-empty value"},
		{"a=<", "a", "Lt needs a non-empty value"},
		{"a=~", "a", "Regex needs a non-empty pattern"},
		{"a=!=", "a", "Ne needs a non-empty value"},
		{"a=>1,2", "a", `Gt value "1,2" contains a comma`},
		{"a=<1,>2", "a", `Lt value "1,>2" contains a comma`},
		{"a=>1,<2,<3", "a", `upper bound: Lt value "2,<3" contains a comma`},
		{"select=a,,b", "select", `empty field name (in "")`},
		{"sort=a,-a", "sort", `field "a" sorted twice`},
		{"populate=a,a:b", "populate", `path "a" populated twice`},
		{"populate=a:", "populate", `empty field name (in "" of path "a")`},
		{"populate=a:b:c", "populate", `field name contains ':' (in "b:c" of path "a")`},
		{"=x", "", "empty field name"},
		{"a,,b=x", "a,,b", "field 1: empty field name"},
		{"a..b=x", "a..b", "empty segment in dotted field path"},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			q, err := parseQuery(tt.raw)
			assert.Nil(t, q)
			require.ErrorIs(t, err, ErrInvalidQuery)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, tt.field, qe.Field)
			assert.Equal(t, tt.reason, qe.Reason)
		})
	}
}

func TestParseQueryForms(t *testing.T) {
	t.Parallel()
	tests := []struct {
		raw  string
		want *Query
	}{
		{"", NewQuery()},
		{"?", NewQuery()},
		{"?status=open&&", NewQuery().Where("status", Eq("open"))},
		{"age=>==5", NewQuery().Where("age", Gte("=5"))},
		{"age=<==5", NewQuery().Where("age", Lte("=5"))},
		{"a=!==x", NewQuery().Where("a", Ne("=x"))},
		{"a=!=[x]", NewQuery().Where("a", Ne("[x]"))},
		{"a=~~x", NewQuery().Where("a", Regex("~x"))},
		{"a=[x]y]", NewQuery().Where("a", In("x]y"))},
		{"a=>=1,<2", NewQuery().Where("a", Between(Gte(1), Lt(2)))},
		{"a==x", NewQuery().Where("a", Eq("=x"))},
		{"a=x,y", NewQuery().Where("a", Eq("x,y"))},
		{"offset=0", NewQuery().Offset(0)},
	}
	for _, tt := range tests {
		t.Run(tt.raw, func(t *testing.T) {
			got, err := parseQuery(tt.raw)
			require.NoError(t, err)
			assert.Equal(t, queryFilterMap(tt.want), queryFilterMap(got))
			wv, _ := tt.want.Values()
			gv, err := got.Values()
			require.NoError(t, err)
			assert.Equal(t, wv, gv)
		})
	}
}

func TestQueryImmutable(t *testing.T) {
	t.Parallel()
	// Built step by step so the base's slices have spare capacity, the case
	// in which a careless append would write into a shared array.
	base := NewQuery().Where("status", Eq("open")).Where("x", Exists()).Where("y", Exists()).
		Sort("a").Sort("b").Sort("c").Select("s1").Select("s2").Select("s3").
		Populate("p1").Populate("p2").Populate("p3").Limit(20)
	baseEnc, err := base.Encode()
	require.NoError(t, err)

	a := base.Where("type", Eq("contact")).Sort("-createdAt").Select("name").Populate("messages").Offset(40)
	b := base.Where("type", Eq("bot")).Sort("updatedAt").Select("email").Populate("contact", "profile").Limit(5)
	bad := base.Limit(0)

	encBase, err := base.Encode()
	require.NoError(t, err)
	assert.Equal(t, baseEnc, encBase, "base changed by derived queries")
	require.NoError(t, base.Err(), "an error in a derived query leaked into the base")
	require.Error(t, bad.Err())

	av, err := a.Values()
	require.NoError(t, err)
	bv, err := b.Values()
	require.NoError(t, err)
	assert.Equal(t, "contact", av.Get("type"))
	assert.Equal(t, "bot", bv.Get("type"))
	assert.Equal(t, "a,b,c,-createdAt", av.Get("sort"))
	assert.Equal(t, "a,b,c,updatedAt", bv.Get("sort"))
	assert.Equal(t, "s1,s2,s3,name", av.Get("select"))
	assert.Equal(t, "s1,s2,s3,email", bv.Get("select"))
	assert.Equal(t, "p1,p2,p3,messages", av.Get("populate"))
	assert.Equal(t, "p1,p2,p3,contact:profile", bv.Get("populate"))
	assert.Equal(t, "40", av.Get("offset"))
	assert.Equal(t, "", bv.Get("offset"))
	assert.Equal(t, "20", av.Get("limit"))
	assert.Equal(t, "5", bv.Get("limit"))

	// Values returns a map the caller owns.
	av.Set("type", "changed")
	av2, _ := a.Values()
	assert.Equal(t, "contact", av2.Get("type"))

	// Slices given by the caller are copied.
	fields := []string{"name", "displayName"}
	pf := []string{"type", "text"}
	q := NewQuery().WhereAny(fields, "acme").Populate("messages", pf...)
	fields[0], pf[0] = "zzz", "zzz"
	enc, err := q.Encode()
	require.NoError(t, err)
	assert.Equal(t, "name%2CdisplayName=acme&populate=messages%3Atype%7Ctext", enc)
}

func TestQueryNilAndAccessors(t *testing.T) {
	t.Parallel()
	var q *Query
	require.NoError(t, q.Err())
	v, err := q.Values()
	require.NoError(t, err)
	assert.Equal(t, url.Values{}, v)
	assert.False(t, q.Has("a"))
	_, ok := q.LimitValue()
	assert.False(t, ok)
	_, ok = q.OffsetValue()
	assert.False(t, ok)
	enc, err := q.Where("a", Eq(1)).Encode()
	require.NoError(t, err)
	assert.Equal(t, "a=1", enc)

	q2 := NewQuery().Where("meta.intent", Eq("x")).WhereAny([]string{"name", "displayName"}, "acme").Limit(7).Offset(0)
	assert.True(t, q2.Has("meta.intent"))
	assert.True(t, q2.Has("name"))
	assert.True(t, q2.Has("displayName"))
	assert.False(t, q2.Has("name,displayName"))
	assert.False(t, q2.Has("meta"))
	n, ok := q2.LimitValue()
	assert.True(t, ok)
	assert.Equal(t, 7, n)
	n, ok = q2.OffsetValue()
	assert.True(t, ok)
	assert.Equal(t, 0, n)
	assert.Equal(t, 9, func() int { n, _ := q2.Limit(9).LimitValue(); return n }())
}

func TestQueryValidateMessages(t *testing.T) {
	t.Parallel()
	reason := "listing messages needs a filter on one of id, organization, conversation, type, role, createdAt"
	tests := []struct {
		name string
		q    *Query
		ok   bool
	}{
		{"nil", nil, false},
		{"text only", NewQuery().Where("text", Regex("hi")), false},
		{"or group does not count", NewQuery().WhereAny([]string{"conversation", "text"}, "x"), false},
		{"id", NewQuery().Where("id", Eq("5a4fd7419feede6a19b18714")), true},
		{"organization", NewQuery().Where("organization", In("a", "b")), true},
		{"conversation", NewQuery().Where("conversation", Eq("c")), true},
		{"type", NewQuery().Where("type", Eq("chat")), true},
		{"role", NewQuery().Where("role", Eq("bot")), true},
		{"createdAt", NewQuery().Where("createdAt", Gt(time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC))), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.validateMessages()
			if tt.ok {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidQuery)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, "", qe.Field)
			assert.Equal(t, reason, qe.Reason)
		})
	}
	// A building error is reported first.
	err := NewQuery().Where("conversation", Eq("")).validateMessages()
	var qe *QueryError
	require.ErrorAs(t, err, &qe)
	assert.Equal(t, "conversation", qe.Field)
}

func TestQueryValidateConversations(t *testing.T) {
	t.Parallel()
	reason := "a meta filter needs a filter on one of id, type, participants.user, status, createdAt, categoryIndex, category, organization, updatedAt"
	meta := NewQuery().Where("meta.intent", Eq("greeting"))
	tests := []struct {
		name  string
		q     *Query
		field string // "" when valid
	}{
		{"nil", nil, ""},
		{"no meta", NewQuery().Where("name", Eq("x")), ""},
		{"meta alone", meta, "meta.intent"},
		{"meta exists alone", NewQuery().Where("meta", Exists()), "meta"},
		{"meta in or group", NewQuery().WhereAny([]string{"meta.a", "meta.b"}, "x"), "meta.a,meta.b"},
		{"metadata is not meta", NewQuery().Where("metadata", Eq("x")), ""},
		{"meta with unrelated", meta.Where("name", Eq("x")), "meta.intent"},
		{"meta and id", meta.Where("id", Eq("x")), ""},
		{"meta and type (spec example)", meta.Where("type", Eq("contact")), ""},
		{"meta and participants.user", meta.Where("participants.user", Eq("u")), ""},
		{"meta and status", meta.Where("status", In("queued", "active")), ""},
		{"meta and createdAt", meta.Where("createdAt", Gte("2024-01-01")), ""},
		{"meta and categoryIndex", meta.Where("categoryIndex", Eq(0)), ""},
		{"meta and category", meta.Where("category", Eq("c")), ""},
		{"meta and organization", meta.Where("organization", Eq("o")), ""},
		{"meta and updatedAt", meta.Where("updatedAt", Lt("2024-01-01")), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.q.validateConversations()
			if tt.field == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorIs(t, err, ErrInvalidQuery)
			var qe *QueryError
			require.ErrorAs(t, err, &qe)
			assert.Equal(t, tt.field, qe.Field)
			assert.Equal(t, reason, qe.Reason)
		})
	}
}

// queryFuzzFilter maps a fuzzed operator byte to a filter.
func queryFuzzFilter(op uint8, v1, v2 string) Filter {
	switch op % 13 {
	case 0:
		return Exists()
	case 1:
		return NotExists()
	case 2:
		return Eq(v1)
	case 3:
		return Ne(v1)
	case 4:
		return Gt(v1)
	case 5:
		return Gte(v1)
	case 6:
		return Lt(v1)
	case 7:
		return Lte(v1)
	case 8:
		lower, upper := Gt(v1), Lte(v2)
		if op&0x80 != 0 {
			lower, upper = Gte(v1), Lt(v2)
		}
		return Between(lower, upper)
	case 9:
		return In(queryFuzzList(v1, v2)...)
	case 10:
		return Nin(queryFuzzList(v1, v2)...)
	case 11:
		return Regex(v1)
	default:
		return Filter{}
	}
}

func queryFuzzList(v1, v2 string) []any {
	if v2 == "" {
		return []any{v1}
	}
	return []any{v1, v2}
}

func FuzzQueryRoundTrip(f *testing.F) {
	// Seeds also live in testdata/fuzz/FuzzQueryRoundTrip/.
	f.Add("age", uint8(8), "18", "30", "-createdAt", "messages:type|text")
	f.Fuzz(func(t *testing.T, field string, op uint8, v1, v2, sortField, populate string) {
		q := NewQuery()
		if strings.Contains(field, "|") {
			q = q.WhereAny(strings.Split(field, "|"), v1)
		} else {
			q = q.Where(field, queryFuzzFilter(op, v1, v2))
		}
		q = q.Where("type", Eq("contact"))
		if sortField != "" {
			q = q.Sort(strings.Split(sortField, " ")...)
		}
		if populate != "" {
			path, fields, _ := strings.Cut(populate, ":")
			if fields == "" {
				q = q.Populate(path)
			} else {
				q = q.Populate(path, strings.Split(fields, "|")...)
			}
		}
		if op&0x40 != 0 {
			q = q.Select(v2).Offset(int(op)).Limit(int(op) + 1)
		}
		enc, err := q.Encode()
		if err != nil {
			require.ErrorIs(t, err, ErrInvalidQuery)
			return
		}
		parsed, err := parseQuery(enc)
		require.NoError(t, err, "parseQuery(%q)", enc)
		require.Equal(t, queryFilterMap(q), queryFilterMap(parsed), "parseQuery(%q)", enc)
		want, _ := q.Values()
		got, err := parsed.Values()
		require.NoError(t, err)
		require.Equal(t, want, got)
	})
}

func BenchmarkQueryEncode(b *testing.B) {
	build := func() *Query {
		return NewQuery().
			Where("status", In("queued", "active", "paused")).
			Where("type", Eq("contact")).
			Where("organization", Eq("591508af8a280627f8dcfef1")).
			Where("meta.intent", Eq("greeting")).
			Where("createdAt", Between(Gte(time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)), Lt(time.Date(2024, 2, 1, 0, 0, 0, 0, time.UTC)))).
			Where("participants.1", Exists()).
			Where("channel", Ne("591506e18a280627f8dcfede")).
			Where("name", Regex("acme")).
			Where("priority", Gt(2)).
			Where("archived", NotExists()).
			Populate("messages", "type", "text").
			Populate("participants.user", "givenName", "familyName").
			Sort("-createdAt", "name").
			Limit(50)
	}
	b.Run("encode", func(b *testing.B) {
		q := build()
		b.ReportAllocs()
		for b.Loop() {
			if _, err := q.Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("build+encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := build().Encode(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func TestWhereAnyEncoding(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		q    *Query
		want string
	}{
		{"metacharacters escaped", NewQuery().WhereAny([]string{"name", "displayName"}, "a.c*(x)"), `name%2CdisplayName=a%5C.c%5C%2A%5C%28x%5C%29`},
		{"single field is an exact Eq, not escaped", NewQuery().WhereAny([]string{"name"}, "a.c"), `name=a.c`},
		{"regex variant as is", NewQuery().WhereAnyRegex([]string{"name", "displayName"}, "^a.c$"), `name%2CdisplayName=%5Ea.c%24`},
		{"single-field regex variant is Regex", NewQuery().WhereAnyRegex([]string{"name"}, "^a"), `name=~%5Ea`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := tt.q.Encode()
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
	_, err := NewQuery().WhereAnyRegex([]string{"a", "b"}, "~x").Encode()
	assert.ErrorIs(t, err, ErrInvalidQuery)
}

func TestQueryErrorIsInvalidArgument(t *testing.T) {
	t.Parallel()
	c, mt := newTestClient(t)
	_, _, err := c.Contacts.List(context.Background(), NewQuery().Limit(0))
	require.Error(t, err)
	assert.ErrorIs(t, err, ErrInvalidQuery)
	assert.ErrorIs(t, err, ErrInvalidArgument)
	var qe *QueryError
	assert.True(t, errors.As(err, &qe))
	assert.Equal(t, 0, mt.GetTotalCallCount())
}

func TestCollectionAppliesMandatoryFilters(t *testing.T) {
	t.Parallel()
	metaOnly := NewQuery().Where("meta.intent", Eq("greeting"))
	tests := []struct {
		name    string
		call    func(c *Client) error
		refused bool
	}{
		{"typed messages without a mandatory filter", func(c *Client) error {
			_, _, err := c.Messages.List(context.Background(), NewQuery().Where("text", Eq("hi")))
			return err
		}, true},
		{"Collection(messages) without a mandatory filter", func(c *Client) error {
			_, _, err := c.Collection("messages").List(context.Background(), NewQuery().Where("text", Eq("hi")))
			return err
		}, true},
		{"Collection(messages) iterator without a mandatory filter", func(c *Client) error {
			for _, err := range c.Collection("messages").ListIter(context.Background(), nil) {
				return err
			}
			return nil
		}, true},
		{"Collection(conversations) meta filter alone", func(c *Client) error {
			_, _, err := c.Collection("conversations").List(context.Background(), metaOnly)
			return err
		}, true},
		{"typed conversations meta filter alone", func(c *Client) error {
			_, _, err := c.Conversations.List(context.Background(), metaOnly)
			return err
		}, true},
		{"Collection(conversations) meta filter with status", func(c *Client) error {
			_, _, err := c.Collection("conversations").List(context.Background(), metaOnly.Where("status", Eq("queued")))
			return err
		}, false},
		{"Collection(kbases) has no mandatory filter", func(c *Client) error {
			_, _, err := c.Collection("kbases").List(context.Background(), metaOnly)
			return err
		}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, mt := newTestClient(t)
			mt.RegisterNoResponder(httpmock.NewStringResponder(200, `[]`))
			err := tt.call(c)
			if !tt.refused {
				require.NoError(t, err)
				assert.Equal(t, 1, mt.GetTotalCallCount())
				return
			}
			require.Error(t, err)
			assert.ErrorIs(t, err, ErrInvalidQuery)
			assert.Equal(t, 0, mt.GetTotalCallCount(), "no request may be made")
		})
	}
}
