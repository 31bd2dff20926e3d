package chatshipper

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/google/go-querystring/query"
)

// ErrInvalidQuery is matched (through errors.Is) by every error that reports a
// query the SDK refuses to send, so callers can tell bad input from API errors.
var ErrInvalidQuery = errors.New("chatshipper: invalid query")

// QueryError reports why a query was refused before any request was made.
// Field names the query parameter at fault ("limit", "populate", a filter
// field); it is empty when no single parameter is at fault (an unreadable
// query string, a missing mandatory filter).
type QueryError struct {
	Field  string
	Reason string
}

// Error returns the reason with the field quoted; it never contains a token.
func (e *QueryError) Error() string {
	if e.Field == "" {
		return "chatshipper: invalid query: " + e.Reason
	}
	return fmt.Sprintf("chatshipper: invalid query: field %q: %s", e.Field, e.Reason)
}

// Is makes errors.Is(err, ErrInvalidQuery) and errors.Is(err,
// ErrInvalidArgument) true for every *QueryError: a bad query is bad input.
func (e *QueryError) Is(target error) bool {
	return target == ErrInvalidQuery || target == ErrInvalidArgument
}

// queryReserved are the parameter names the server does not treat as filters.
var queryReserved = [...]string{"select", "populate", "sort", "offset", "limit"}

func isQueryReserved(name string) bool { return slices.Contains(queryReserved[:], name) }

// queryPathProblem explains why path cannot be used as a field path (dot
// notation, array indexes allowed), or returns "". extra lists characters
// that have a meaning in the parameter the path goes into.
func queryPathProblem(path, extra string) string {
	if path == "" {
		return "empty field name"
	}
	if strings.HasPrefix(path, ".") || strings.HasSuffix(path, ".") || strings.Contains(path, "..") {
		return "empty segment in dotted field path"
	}
	if i := strings.IndexAny(path, ","+extra); i >= 0 {
		return fmt.Sprintf("field name contains %q", path[i])
	}
	return ""
}

// queryFilter is one filter parameter: a field (or an OR group of fields)
// and its condition. key is the literal query-string key.
type queryFilter struct {
	key    string
	fields []string // one field for Where, several for WhereAny
	or     bool     // built by WhereAny
	filter Filter
}

// queryPopulate is one populate entry: a path and optional field list.
type queryPopulate struct {
	path   string
	fields []string
}

func (p queryPopulate) String() string {
	if len(p.fields) == 0 {
		return p.path
	}
	return p.path + ":" + strings.Join(p.fields, "|")
}

// queryReservedParams is the reserved part of a query, encoded by
// go-querystring. Offset and limit are pointers so that an explicit 0 offset
// is still sent.
type queryReservedParams struct {
	Select   []string `url:"select,comma,omitempty"`
	Populate []string `url:"populate,comma,omitempty"`
	Sort     []string `url:"sort,comma,omitempty"`
	Offset   *int     `url:"offset,omitempty"`
	Limit    *int     `url:"limit,omitempty"`
}

// Query is a list query in the API's query language
// (https://developers.chatshipper.com/docs/api-resource-sets): filters, select,
// populate, sort, offset and limit. It is immutable: every method returns a
// new *Query and leaves its receiver unchanged, so a base query can be shared
// and extended from several goroutines. A nil *Query is a valid empty query.
//
// Building never fails on the spot: the first bad input is kept in the
// returned query and reported by Err, Values and Encode, so chains stay
// fluent. Methods called after an error return the query unchanged.
type Query struct {
	filters  []queryFilter
	selects  []string
	populate []queryPopulate
	sorts    []string
	offset   *int
	limit    *int
	err      error
}

// NewQuery returns an empty query (the same as a nil *Query).
func NewQuery() *Query { return &Query{} }

// clone returns a copy whose slices are clipped, so an append on the copy
// always allocates and never writes into an array the receiver shares.
func (q *Query) clone() *Query {
	if q == nil {
		return &Query{}
	}
	c := *q
	c.filters = slices.Clip(c.filters)
	c.selects = slices.Clip(c.selects)
	c.populate = slices.Clip(c.populate)
	c.sorts = slices.Clip(c.sorts)
	return &c
}

func (q *Query) withError(field, reason string) *Query {
	c := q.clone()
	c.err = &QueryError{Field: field, Reason: reason}
	return c
}

func (q *Query) hasKey(key string) bool {
	if q == nil {
		return false
	}
	for _, f := range q.filters {
		if f.key == key {
			return true
		}
	}
	return false
}

// Where adds a filter on field, which may be a dotted path ("meta.intent",
// "categories.name") or an array index ("participants.1"). A field can be
// filtered once per query, because the server does not support repeated
// parameters; a field named like a reserved parameter (select, populate,
// sort, offset, limit) or containing a comma (use WhereAny) is refused.
func (q *Query) Where(field string, f Filter) *Query {
	if q.Err() != nil {
		return q
	}
	if reason := queryPathProblem(field, ""); reason != "" {
		return q.withError(field, reason)
	}
	if isQueryReserved(field) {
		return q.withError(field, "is a reserved parameter, not a filterable field")
	}
	if q.hasKey(field) {
		return q.withError(field, "filtered twice; the server does not support repeated fields")
	}
	if f.err != nil {
		return q.withError(field, f.err.Error())
	}
	if f.op == opInvalid {
		return q.withError(field, "zero Filter; build it with Eq, In, Exists, ...")
	}
	c := q.clone()
	c.filters = append(c.filters, queryFilter{key: field, fields: []string{field}, filter: f})
	return c
}

// WhereAny adds an OR search over fields ("name,displayName=acme"): the
// server matches value case-insensitively as a substring of any of the
// fields, or exactly for resource-ID fields. The server evaluates an OR
// search as a regular expression, so WhereAny escapes every regular
// expression metacharacter of value (as regexp.QuoteMeta does): "a.c" matches
// only the literal text "a.c", ".*" only those two characters, and user
// text cannot become an expensive pattern on the server. WhereAnyRegex sends
// a pattern as it is.
//
// A value that starts like an operator ("!", ">", "<", "~", "[") is refused
// as in Eq. With a single field this is the same parameter as
// Where(field, Eq(value)): an exact match, sent without escaping, and it
// conflicts with a Where on that field.
//
// ChatShipper API docs: https://developers.chatshipper.com/docs/api-resource-sets
func (q *Query) WhereAny(fields []string, value string) *Query {
	return q.whereAny(fields, value, false)
}

// WhereAnyRegex adds an OR search over fields with a regular expression
// pattern, sent as it is and evaluated by the server (case-insensitively, in
// the server's dialect): WhereAnyRegex([]string{"name", "displayName"},
// "^acme") matches documents where either field starts with "acme". Never pass
// unchecked user input: a pattern can be slow to evaluate. With a single
// field it is Where(field, Regex(pattern)). A pattern that starts like an
// operator is refused as in WhereAny.
func (q *Query) WhereAnyRegex(fields []string, pattern string) *Query {
	return q.whereAny(fields, pattern, true)
}

func (q *Query) whereAny(fields []string, value string, regex bool) *Query {
	if q.Err() != nil {
		return q
	}
	key := strings.Join(fields, ",")
	if len(fields) == 0 {
		return q.withError(key, "WhereAny needs at least one field")
	}
	for i, field := range fields {
		if reason := queryPathProblem(field, ""); reason != "" {
			return q.withError(key, fmt.Sprintf("field %d: %s", i, reason))
		}
		if isQueryReserved(field) {
			return q.withError(key, fmt.Sprintf("field %q is a reserved parameter, not a filterable field", field))
		}
		if slices.Contains(fields[:i], field) {
			return q.withError(key, fmt.Sprintf("field %q listed twice", field))
		}
	}
	if q.hasKey(key) {
		return q.withError(key, "filtered twice; the server does not support repeated fields")
	}
	if reason := queryPlainValueProblem(value); reason != "" {
		return q.withError(key, "OR search takes no operators: "+reason)
	}
	f := Filter{op: opEq, values: []string{value}}
	switch {
	case regex && len(fields) == 1:
		f = Regex(value)
	case !regex && len(fields) > 1:
		f.values[0] = regexp.QuoteMeta(value)
	}
	c := q.clone()
	c.filters = append(c.filters, queryFilter{
		key: key, fields: slices.Clone(fields), or: len(fields) > 1,
		filter: f,
	})
	return c
}

// Select limits the returned fields of the listed documents to fields (the
// server always adds "id"). Calls accumulate.
func (q *Query) Select(fields ...string) *Query {
	if q.Err() != nil {
		return q
	}
	for _, f := range fields {
		if reason := queryPathProblem(f, ""); reason != "" {
			return q.withError("select", fmt.Sprintf("%s (in %q)", reason, f))
		}
	}
	c := q.clone()
	c.selects = append(c.selects, fields...)
	return c
}

// Populate expands the referenced resource(s) at path ("contact",
// "messages", "participants.user"), keeping only fields of them when fields
// are given ("messages:type|text"). Each path may be populated once.
func (q *Query) Populate(path string, fields ...string) *Query {
	if q.Err() != nil {
		return q
	}
	if reason := queryPathProblem(path, ":|"); reason != "" {
		return q.withError("populate", fmt.Sprintf("%s (in %q)", reason, path))
	}
	if q != nil {
		for _, p := range q.populate {
			if p.path == path {
				return q.withError("populate", fmt.Sprintf("path %q populated twice", path))
			}
		}
	}
	for _, f := range fields {
		if reason := queryPathProblem(f, ":|"); reason != "" {
			return q.withError("populate", fmt.Sprintf("%s (in %q of path %q)", reason, f, path))
		}
	}
	c := q.clone()
	c.populate = append(c.populate, queryPopulate{path: path, fields: slices.Clone(fields)})
	return c
}

// Sort orders the results by fields, in order of priority; a leading "-"
// sorts that field descending ("-createdAt"). Calls accumulate; sorting by
// the same field twice is refused.
func (q *Query) Sort(fields ...string) *Query {
	if q.Err() != nil {
		return q
	}
	c := q.clone()
	for _, f := range fields {
		name := strings.TrimPrefix(f, "-")
		if reason := queryPathProblem(name, ""); reason != "" {
			return q.withError("sort", fmt.Sprintf("%s (in %q)", reason, f))
		}
		for _, s := range c.sorts {
			if strings.TrimPrefix(s, "-") == name {
				return q.withError("sort", fmt.Sprintf("field %q sorted twice", name))
			}
		}
		c.sorts = append(c.sorts, f)
	}
	return c
}

// Offset skips the first n matching documents; n must not be negative. A
// later call replaces an earlier one.
func (q *Query) Offset(n int) *Query {
	if q.Err() != nil {
		return q
	}
	if n < 0 {
		return q.withError("offset", fmt.Sprintf("offset %d is negative", n))
	}
	c := q.clone()
	c.offset = &n
	return c
}

// Limit returns at most n documents per page (the server's default is 200);
// n must be at least 1. A later call replaces an earlier one.
func (q *Query) Limit(n int) *Query {
	if q.Err() != nil {
		return q
	}
	if n < 1 {
		return q.withError("limit", fmt.Sprintf("limit %d is below 1", n))
	}
	c := q.clone()
	c.limit = &n
	return c
}

// Err returns the first error met while building the query, or nil.
func (q *Query) Err() error {
	if q == nil {
		return nil
	}
	return q.err
}

// Has reports whether the query filters on field, directly or as part of an
// OR group.
func (q *Query) Has(field string) bool {
	if q == nil {
		return false
	}
	for _, f := range q.filters {
		if slices.Contains(f.fields, field) {
			return true
		}
	}
	return false
}

// LimitValue returns the limit and whether one was set.
func (q *Query) LimitValue() (int, bool) {
	if q == nil || q.limit == nil {
		return 0, false
	}
	return *q.limit, true
}

// OffsetValue returns the offset and whether one was set.
func (q *Query) OffsetValue() (int, bool) {
	if q == nil || q.offset == nil {
		return 0, false
	}
	return *q.offset, true
}

// Values returns the query as URL parameters, or the first building error.
// The result is a fresh map the caller may change.
func (q *Query) Values() (url.Values, error) {
	if q == nil {
		return url.Values{}, nil
	}
	if q.err != nil {
		return nil, q.err
	}
	params := queryReservedParams{
		Select: q.selects,
		Sort:   q.sorts,
		Offset: q.offset,
		Limit:  q.limit,
	}
	if len(q.populate) > 0 {
		params.Populate = make([]string, len(q.populate))
		for i, p := range q.populate {
			params.Populate[i] = p.String()
		}
	}
	v, err := query.Values(params)
	if err != nil {
		// Unreachable with the fixed struct above; reported rather than hidden.
		return nil, fmt.Errorf("chatshipper: encoding query: %w", err)
	}
	for _, f := range q.filters {
		v.Set(f.key, f.filter.String())
	}
	return v, nil
}

// Encode returns the query string without a leading "?", percent-encoded
// and with keys sorted (url.Values.Encode), or the first building error.
func (q *Query) Encode() (string, error) {
	v, err := q.Values()
	if err != nil {
		return "", err
	}
	return v.Encode(), nil
}
