package chatshippertest

import (
	"cmp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Evaluation of parsed queries against documents: filters, sorting and
// projection (select). Population lives in populate.go.

// lookup returns the values found at a dot path. Arrays met on the way are
// traversed element by element unless the next segment is an index
// ("participants.1"). With expandLeaf, an array at the end of the path yields
// its elements (an array field matches when any element matches).
func lookup(v any, segs []string, expandLeaf bool) []any {
	if len(segs) == 0 {
		if a, ok := v.([]any); ok && expandLeaf {
			return a
		}
		if v == nil {
			return nil
		}
		return []any{v}
	}
	switch x := v.(type) {
	case map[string]any:
		e, ok := x[segs[0]]
		if !ok {
			return nil
		}
		return lookup(e, segs[1:], expandLeaf)
	case []any:
		if i, err := strconv.Atoi(segs[0]); err == nil {
			if i < 0 || i >= len(x) {
				return nil
			}
			return lookup(x[i], segs[1:], expandLeaf)
		}
		var out []any
		for _, e := range x {
			out = append(out, lookup(e, segs, expandLeaf)...)
		}
		return out
	}
	return nil
}

// parseTime reads the ISO 8601 forms clients put in queries; no offset means UTC.
func parseTime(s string) (time.Time, bool) {
	if len(s) < 10 || s[4] != '-' {
		return time.Time{}, false
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// scalarString renders a leaf value for string comparison and regexes.
func scalarString(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, true
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64), true
	case bool:
		return strconv.FormatBool(x), true
	}
	return "", false
}

// compareLeaf compares a document value with a query operand: numerically
// when both are numbers, as instants when both are ISO dates, else as
// strings. ok is false for values that cannot be compared (objects, null).
func compareLeaf(v any, operand string) (int, bool) {
	if n, isNum := v.(float64); isNum {
		if o, err := strconv.ParseFloat(operand, 64); err == nil {
			return cmp.Compare(n, o), true
		}
	}
	s, ok := scalarString(v)
	if !ok {
		return 0, false
	}
	if _, isStr := v.(string); isStr {
		if a, ok := parseTime(s); ok {
			if b, ok := parseTime(operand); ok {
				return a.Compare(b), true
			}
		}
	}
	return strings.Compare(s, operand), true
}

func satisfies(v any, b bound) bool {
	c, ok := compareLeaf(v, b.value)
	if !ok {
		return false
	}
	switch b.op {
	case opGt:
		return c > 0
	case opGte:
		return c >= 0
	case opLt:
		return c < 0
	default:
		return c <= 0
	}
}

func equalLeaf(v any, operand string) bool {
	c, ok := compareLeaf(v, operand)
	return ok && c == 0
}

// matches reports whether d passes every filter.
func matches(d doc, filters []filter, idFields map[string]string) bool {
	for i := range filters {
		if !filters[i].match(d, idFields) {
			return false
		}
	}
	return true
}

func (f *filter) match(d doc, idFields map[string]string) bool {
	segs := strings.Split(f.fields[0], ".")
	switch f.op {
	case opExists, opNotExists:
		return (len(lookup(d, segs, false)) > 0) == (f.op == opExists)
	case opOr:
		for _, fld := range f.fields {
			_, exact := idFields[fld]
			exact = exact || fld == "id"
			for _, v := range lookup(d, strings.Split(fld, "."), true) {
				s, ok := scalarString(v)
				if ok && (exact && s == f.value || !exact && f.re.MatchString(s)) {
					return true
				}
			}
		}
		return false
	}
	vals := lookup(d, segs, true)
	some := func(pred func(v any) bool) bool { return slices.ContainsFunc(vals, pred) }
	switch f.op {
	case opEq:
		return some(func(v any) bool { return equalLeaf(v, f.value) })
	case opNe:
		return !some(func(v any) bool { return equalLeaf(v, f.value) })
	case opIn, opNin:
		hit := some(func(v any) bool {
			return slices.ContainsFunc(f.values, func(o string) bool { return equalLeaf(v, o) })
		})
		return hit == (f.op == opIn)
	case opGt, opGte, opLt, opLte:
		return some(func(v any) bool { return satisfies(v, bound{op: f.op, value: f.value}) })
	case opBetween:
		return some(func(v any) bool { return satisfies(v, f.lo) && satisfies(v, f.hi) })
	case opRegex:
		return some(func(v any) bool {
			s, ok := scalarString(v)
			return ok && f.re.MatchString(s)
		})
	}
	return false
}

// typeRank orders values of different JSON types when sorting (missing first).
func typeRank(v any) int {
	switch v.(type) {
	case nil:
		return 0
	case float64:
		return 1
	case string:
		return 2
	case bool:
		return 3
	}
	return 4
}

func sortValue(d doc, segs []string) any {
	vals := lookup(d, segs, true)
	if len(vals) == 0 {
		return nil
	}
	return vals[0]
}

func compareSortValues(a, b any) int {
	if ra, rb := typeRank(a), typeRank(b); ra != rb {
		return cmp.Compare(ra, rb)
	}
	switch x := a.(type) {
	case float64:
		return cmp.Compare(x, b.(float64))
	case string:
		return strings.Compare(x, b.(string))
	case bool:
		y := b.(bool)
		if x == y {
			return 0
		}
		if !x {
			return -1
		}
		return 1
	}
	return 0
}

// sortDocs orders docs by the sort keys, then by id (the default order).
// Each document's sort values are resolved once, not per comparison.
func sortDocs(docs []doc, keys []sortKey) {
	if len(keys) == 0 {
		slices.SortStableFunc(docs, func(a, b doc) int { return strings.Compare(str(a, "id"), str(b, "id")) })
		return
	}
	type keyed struct {
		d    doc
		vals []any
	}
	segs := make([][]string, len(keys))
	for i, k := range keys {
		segs[i] = strings.Split(k.path, ".")
	}
	ks := make([]keyed, len(docs))
	for i, d := range docs {
		ks[i] = keyed{d: d, vals: make([]any, len(keys))}
		for j := range keys {
			ks[i].vals[j] = sortValue(d, segs[j])
		}
	}
	slices.SortStableFunc(ks, func(a, b keyed) int {
		for i, k := range keys {
			c := compareSortValues(a.vals[i], b.vals[i])
			if k.desc {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return strings.Compare(str(a.d, "id"), str(b.d, "id"))
	})
	for i := range ks {
		docs[i] = ks[i].d
	}
}

// project returns a copy of d reduced to the selected paths (id always kept),
// or with the "-path" fields removed.
func project(d doc, paths []string) doc {
	if len(paths) > 0 && strings.HasPrefix(paths[0], "-") {
		out := cloneDoc(d)
		for _, p := range paths {
			removePath(out, strings.Split(strings.TrimPrefix(p, "-"), "."))
		}
		out["id"] = d["id"]
		return out
	}
	out := doc{}
	for _, p := range paths {
		projectInto(out, d, strings.Split(p, "."))
	}
	if id, ok := d["id"]; ok {
		out["id"] = id
	}
	return out
}

// projectInto copies src's value at segs into dst, merging with what earlier
// paths already copied (so "participants.user,participants.role" keeps both).
func projectInto(dst, src map[string]any, segs []string) {
	v, ok := src[segs[0]]
	if !ok {
		return
	}
	if len(segs) == 1 {
		dst[segs[0]] = cloneValue(v)
		return
	}
	switch x := v.(type) {
	case map[string]any:
		sub, _ := dst[segs[0]].(map[string]any)
		if sub == nil {
			sub = map[string]any{}
			dst[segs[0]] = sub
		}
		projectInto(sub, x, segs[1:])
	case []any:
		prev, _ := dst[segs[0]].([]any)
		out := make([]any, len(x))
		for i, e := range x {
			m, isMap := e.(map[string]any)
			if !isMap {
				out[i] = cloneValue(e)
				continue
			}
			sub, _ := func() (map[string]any, bool) {
				if i < len(prev) {
					p, ok := prev[i].(map[string]any)
					return p, ok
				}
				return nil, false
			}()
			if sub == nil {
				sub = map[string]any{}
			}
			projectInto(sub, m, segs[1:])
			out[i] = sub
		}
		dst[segs[0]] = out
	}
}

func removePath(m map[string]any, segs []string) {
	if len(segs) == 1 {
		delete(m, segs[0])
		return
	}
	switch x := m[segs[0]].(type) {
	case map[string]any:
		removePath(x, segs[1:])
	case []any:
		for _, e := range x {
			if sub, ok := e.(map[string]any); ok {
				removePath(sub, segs[1:])
			}
		}
	}
}
