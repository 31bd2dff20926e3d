package chatshipper

import (
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
)

// The inverse of Query.Encode, used by the tests to check that every query
// the builder encodes reads back the same.

// parseQuery reads a query string, with or without a leading "?", into a
// Query; it is the inverse of Encode. Unencoded forms as written in the API
// documentation ("age=>18,<=30", "populate=messages:type|text") are read
// too. Anything the builder would refuse is refused here with the same error.
func parseQuery(raw string) (*Query, error) {
	raw = strings.TrimPrefix(raw, "?")
	vals, err := url.ParseQuery(raw)
	if err != nil {
		return nil, &QueryError{Reason: "cannot read query string: " + err.Error()}
	}
	keys := make([]string, 0, len(vals))
	for k := range vals {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	q := NewQuery()
	for _, key := range keys {
		vs := vals[key]
		if len(vs) != 1 {
			return nil, &QueryError{Field: key, Reason: "parameter repeated; the server does not support repeated fields"}
		}
		v := vs[0]
		switch key {
		case "select":
			q = q.Select(splitQueryList(v)...)
		case "sort":
			q = q.Sort(splitQueryList(v)...)
		case "populate":
			for _, entry := range splitQueryList(v) {
				path, fields, found := strings.Cut(entry, ":")
				if found {
					q = q.Populate(path, strings.Split(fields, "|")...)
				} else {
					q = q.Populate(path)
				}
			}
		case "offset", "limit":
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, &QueryError{Field: key, Reason: fmt.Sprintf("%s %s is not an integer", key, quoteQueryValue(v))}
			}
			if key == "offset" {
				q = q.Offset(n)
			} else {
				q = q.Limit(n)
			}
		default:
			if strings.Contains(key, ",") {
				q = q.WhereAny(strings.Split(key, ","), v)
			} else {
				q = q.Where(key, parseQueryFilter(v))
			}
		}
		if q.err != nil {
			return nil, q.err
		}
	}
	return q, nil
}

// splitQueryList splits a comma list; an empty string is one empty element
// so that the builder reports it.
func splitQueryList(s string) []string { return strings.Split(s, ",") }

// parseQueryFilter reads a filter value in the order that keeps it the
// inverse of Filter.String: longer operator prefixes first.
func parseQueryFilter(v string) Filter {
	switch {
	case v == "":
		return Exists()
	case v == "!":
		return NotExists()
	case strings.HasPrefix(v, "!="):
		return Ne(v[2:])
	case strings.HasPrefix(v, "!["):
		if !strings.HasSuffix(v, "]") || len(v) < 3 {
			return filterError(opNin, fmt.Errorf("unterminated list %s", quoteQueryValue(v)))
		}
		return listFilter(opNin, splitQueryAny(v[2:len(v)-1]))
	case v[0] == '!':
		return filterError(opNe, fmt.Errorf("value %s starts with \"!\" but is not \"!\", \"!=...\" or \"![...]\"", quoteQueryValue(v)))
	case v[0] == '[':
		if !strings.HasSuffix(v, "]") || len(v) < 2 {
			return filterError(opIn, fmt.Errorf("unterminated list %s", quoteQueryValue(v)))
		}
		return listFilter(opIn, splitQueryAny(v[1:len(v)-1]))
	case v[0] == '~':
		return Regex(v[1:])
	case v[0] == '>':
		lower, upper, found := strings.Cut(v, ",")
		if found && strings.HasPrefix(upper, "<") {
			return Between(parseQueryComparison(lower), parseQueryComparison(upper))
		}
		return parseQueryComparison(v)
	case v[0] == '<':
		return parseQueryComparison(v)
	}
	return Eq(v)
}

func parseQueryComparison(v string) Filter {
	switch {
	case strings.HasPrefix(v, ">="):
		return Gte(v[2:])
	case strings.HasPrefix(v, ">"):
		return Gt(v[1:])
	case strings.HasPrefix(v, "<="):
		return Lte(v[2:])
	default:
		return Lt(strings.TrimPrefix(v, "<"))
	}
}

func splitQueryAny(s string) []any {
	parts := strings.Split(s, ",")
	out := make([]any, len(parts))
	for i, p := range parts {
		out[i] = p
	}
	return out
}
