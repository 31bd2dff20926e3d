package chatshippertest

import (
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"
)

// The query language (https://developers.chatshipper.com/docs/api-resource-sets), parsed from the raw query string so
// that repeated parameters can be detected and refused.

// defaultLimit is the API's page size when no limit is given.
const defaultLimit = 200

// opKind is a filter operator.
type opKind int

const (
	opExists opKind = iota
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
	opOr // "a,b=value": case-insensitive contains (exact on id fields) over several fields
)

// bound is one side of a range comparison.
type bound struct {
	op    opKind // opGt, opGte, opLt or opLte
	value string
}

// filter is one parsed search filter.
type filter struct {
	fields []string // one path, or several for opOr
	op     opKind
	value  string   // eq, ne, gt, gte, lt, lte
	values []string // in, nin
	lo, hi bound    // between
	re     *regexp.Regexp
}

// populateSpec is one populate item: a path and an optional field list.
type populateSpec struct {
	path   string
	fields []string
}

// sortKey is one sort criterion.
type sortKey struct {
	path string
	desc bool
}

// queryParam is one decoded parameter, kept in order for Link headers.
type queryParam struct{ key, value string }

// listQuery is a parsed list query.
type listQuery struct {
	filters   []filter
	selects   []string // nil: every field
	populates []populateSpec
	sorts     []sortKey
	offset    int
	limit     int
	params    []queryParam
}

// parseListQuery parses a raw query string of a list or detail request. It
// refuses repeated parameters, malformed escapes, bad regular expressions,
// malformed ranges and bad offset/limit values.
func parseListQuery(rawQuery string) (*listQuery, error) {
	q := &listQuery{limit: defaultLimit}
	seen := map[string]bool{}
	for _, seg := range strings.Split(rawQuery, "&") {
		if seg == "" {
			continue
		}
		rk, rv, _ := strings.Cut(seg, "=")
		key, err := url.QueryUnescape(rk)
		if err != nil {
			return nil, fmt.Errorf("malformed query parameter %q", rk)
		}
		val, err := url.QueryUnescape(rv)
		if err != nil {
			return nil, fmt.Errorf("malformed value of query parameter %q", key)
		}
		if key == "" {
			return nil, fmt.Errorf("query parameter without a name")
		}
		if !utf8.ValidString(key) || !utf8.ValidString(val) {
			return nil, fmt.Errorf("query parameter %q is not valid UTF-8", strings.ToValidUTF8(key, "\uFFFD"))
		}
		if seen[key] {
			return nil, fmt.Errorf("query parameter %q given more than once", key)
		}
		seen[key] = true
		q.params = append(q.params, queryParam{key, val})
		if err := q.add(key, val); err != nil {
			return nil, err
		}
	}
	return q, nil
}

func (q *listQuery) add(key, val string) error {
	switch key {
	case "offset", "limit":
		n, err := strconv.Atoi(val)
		if err != nil || n < 0 {
			return fmt.Errorf("%s must be a non-negative integer", key)
		}
		if key == "offset" {
			q.offset = n
		} else if n > 0 {
			q.limit = n
		}
		return nil
	case "select":
		fields, err := pathList(val, ",")
		if err != nil {
			return fmt.Errorf("select: %v", err)
		}
		neg := 0
		for _, f := range fields {
			if strings.HasPrefix(f, "-") {
				neg++
			}
		}
		if neg != 0 && neg != len(fields) {
			return fmt.Errorf("select cannot mix included and excluded fields")
		}
		q.selects = fields
		return nil
	case "populate":
		for _, item := range strings.Split(val, ",") {
			path, list, hasList := strings.Cut(strings.TrimSpace(item), ":")
			if err := checkPath(path); err != nil {
				return fmt.Errorf("populate: %v", err)
			}
			ps := populateSpec{path: path}
			if hasList {
				fields, err := pathList(list, "|")
				if err != nil {
					return fmt.Errorf("populate %s: %v", path, err)
				}
				ps.fields = fields
			}
			q.populates = append(q.populates, ps)
		}
		return nil
	case "sort":
		for _, item := range strings.Split(val, ",") {
			item = strings.TrimSpace(item)
			k := sortKey{path: item}
			if rest, ok := strings.CutPrefix(item, "-"); ok {
				k = sortKey{path: rest, desc: true}
			} else if rest, ok := strings.CutPrefix(item, "+"); ok {
				k.path = rest
			}
			if err := checkPath(k.path); err != nil {
				return fmt.Errorf("sort: %v", err)
			}
			k.path = storedField(k.path)
			q.sorts = append(q.sorts, k)
		}
		return nil
	}
	f, err := parseFilter(key, val)
	if err != nil {
		return err
	}
	q.filters = append(q.filters, f)
	return nil
}

// checkPath refuses empty dot-path segments ("a..b", ".a").
func checkPath(p string) error {
	if p == "" {
		return fmt.Errorf("empty field name")
	}
	for _, seg := range strings.Split(p, ".") {
		if seg == "" {
			return fmt.Errorf("malformed field path %q", p)
		}
	}
	return nil
}

// pathList splits a field list and checks each path (a leading "-" is allowed).
func pathList(v, sep string) ([]string, error) {
	var out []string
	for _, f := range strings.Split(v, sep) {
		f = strings.TrimSpace(f)
		if err := checkPath(strings.TrimPrefix(f, "-")); err != nil {
			return nil, err
		}
		out = append(out, f)
	}
	return out, nil
}

// parseFilter parses "key=value" where value carries the operator prefix.
func parseFilter(key, v string) (filter, error) {
	fields := strings.Split(key, ",")
	for i, f := range fields {
		if err := checkPath(f); err != nil {
			return filter{}, err
		}
		fields[i] = storedField(f)
	}
	f := filter{fields: fields}
	if len(fields) > 1 {
		// OR queries take no operators: the value is a case-insensitive regular
		// expression (a literal when it does not compile).
		f.op = opOr
		re, err := regexp.Compile("(?i)" + v)
		if err != nil {
			re = regexp.MustCompile("(?i)" + regexp.QuoteMeta(v))
		}
		f.re, f.value = re, v
		return f, nil
	}
	switch {
	case v == "":
		f.op = opExists
	case v == "!":
		f.op = opNotExists
	case strings.HasPrefix(v, "!="):
		f.op, f.value = opNe, v[2:]
	case strings.HasPrefix(v, "![") && strings.HasSuffix(v, "]"):
		f.op, f.values = opNin, splitList(v[2:len(v)-1])
	case strings.HasPrefix(v, "[") && strings.HasSuffix(v, "]"):
		f.op, f.values = opIn, splitList(v[1:len(v)-1])
	case strings.HasPrefix(v, "~"):
		// Regex filters are case-insensitive, like OR queries (the spec does
		// not say; insensitive finds more and fails no sensible test).
		re, err := regexp.Compile("(?i)" + v[1:])
		if err != nil {
			return filter{}, fmt.Errorf("invalid regular expression for %s: %v", key, err)
		}
		f.op, f.re, f.value = opRegex, re, v[1:]
	case strings.HasPrefix(v, ">") || strings.HasPrefix(v, "<"):
		return parseRange(f, key, v)
	default:
		f.op, f.value = opEq, v
	}
	return f, nil
}

// storedField maps the API's "_id" (the field the docs say lists are ordered
// by) to "id", the name documents are stored and served under; "_id>X" and
// "id>X" are the same filter, and sort=_id the default order.
func storedField(p string) string {
	if p == "_id" {
		return "id"
	}
	return p
}

// splitList splits the members of "[a,b]"; "[]" is the empty list.
func splitList(s string) []string {
	if s == "" {
		return []string{}
	}
	return strings.Split(s, ",")
}

// cutBound reads a leading >, >=, < or <= from s.
func cutBound(s string) (bound, bool) {
	for _, p := range []struct {
		prefix string
		op     opKind
	}{{">=", opGte}, {">", opGt}, {"<=", opLte}, {"<", opLt}} {
		if rest, ok := strings.CutPrefix(s, p.prefix); ok {
			return bound{op: p.op, value: rest}, true
		}
	}
	return bound{}, false
}

// parseRange parses ">a", ">=a", "<a", "<=a" and the between forms ">a,<=b"
// (either order). A comma not followed by an operator belongs to the value.
func parseRange(f filter, key, v string) (filter, error) {
	first, _ := cutBound(v)
	for i := 0; i < len(first.value); i++ {
		if first.value[i] != ',' {
			continue
		}
		second, ok := cutBound(first.value[i+1:])
		if !ok {
			continue
		}
		first.value = first.value[:i]
		lower := func(b bound) bool { return b.op == opGt || b.op == opGte }
		if lower(first) == lower(second) {
			return filter{}, fmt.Errorf("range for %s needs one lower and one upper bound", key)
		}
		if !lower(first) {
			first, second = second, first
		}
		f.op, f.lo, f.hi = opBetween, first, second
		return f, nil
	}
	f.op, f.value = first.op, first.value
	return f, nil
}

// hasFilter reports whether a single-field filter on one of fields exists.
func (q *listQuery) hasFilter(fields ...string) bool {
	for _, f := range q.filters {
		if len(f.fields) == 1 {
			for _, want := range fields {
				if f.fields[0] == want {
					return true
				}
			}
		}
	}
	return false
}

// checkMandatory enforces the mandatory filters of the API docs.
func checkMandatory(c string, q *listQuery) error {
	switch c {
	case "messages":
		if !q.hasFilter("id", "organization", "conversation", "type", "role", "createdAt") {
			return fmt.Errorf("listing messages requires a filter on one of id, organization, conversation, type, role or createdAt")
		}
	case "conversations":
		meta := false
		for _, f := range q.filters {
			for _, fld := range f.fields {
				if strings.HasPrefix(fld, "meta.") || fld == "meta" {
					meta = true
				}
			}
		}
		if meta && !q.hasFilter("id", "type", "participants.user", "status", "createdAt",
			"categoryIndex", "category", "organization", "updatedAt") {
			return fmt.Errorf("a conversation query on meta requires a filter on one of id, type, participants.user, status, createdAt, categoryIndex, category, organization or updatedAt")
		}
	}
	return nil
}
