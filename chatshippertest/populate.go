package chatshippertest

import (
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// refs lists, per collection, the reference fields populate follows and the
// collection they point into. Every collection except organizations and users
// also references its owning organization.
var refs = map[string]map[string]string{
	"conversations": {"contact": "contacts", "messages": "messages", "participants.user": "users",
		"createdBy": "users", "channels": "channels"},
	"messages":      {"conversation": "conversations", "user": "users"},
	"contacts":      {"conversation": "conversations"},
	"organizations": {"parent": "organizations", "categories.forms": "forms"},
	"users":         {"organizations.organization": "organizations"},
	"botinstances":  {"bot": "bots"},
}

// refFields returns the populatable paths of collection c.
func refFields(c string) map[string]string {
	out := map[string]string{}
	for k, v := range refs[c] {
		out[k] = v
	}
	if c != "organizations" && c != "users" {
		out["organization"] = "organizations"
	}
	return out
}

// checkPopulate refuses populate paths that are not references of c.
func checkPopulate(c string, q *listQuery) error {
	fields := refFields(c)
	for _, p := range q.populates {
		if _, ok := fields[p.path]; !ok {
			return errf(http.StatusBadRequest, "cannot populate %q on %s", p.path, c)
		}
	}
	return nil
}

// render produces the response form of d under q's select and populate.
// Callers hold s.mu.
func (s *Server) render(c string, d doc, q *listQuery) doc {
	var out doc
	switch {
	case q.selects == nil:
		out = cloneDoc(d)
	case strings.HasPrefix(q.selects[0], "-"):
		out = project(d, q.selects)
	default:
		paths := append([]string(nil), q.selects...)
		for _, p := range q.populates {
			paths = append(paths, p.path)
		}
		out = withDerivedName(c, project(d, paths), paths)
	}
	fields := refFields(c)
	for _, p := range q.populates {
		target := fields[p.path]
		resolve := func(id string) (any, bool) {
			ref, ok := s.store.get(target, id)
			if !ok {
				return nil, false
			}
			if p.fields == nil {
				return cloneDoc(ref), true
			}
			return withDerivedName(target, project(ref, p.fields), p.fields), true
		}
		populatePath(out, strings.Split(p.path, "."), resolve)
	}
	return out
}

// withDerivedName adds a user's derived "name" (given + family name) when a
// field list left it out, computed from the selected fields only, as the
// spec's populate caveat describes.
func withDerivedName(c string, d doc, fields []string) doc {
	if c != "users" {
		return d
	}
	for _, f := range fields {
		if f == "name" {
			return d
		}
	}
	var parts []string
	for _, k := range []string{"givenName", "familyName"} {
		if v := str(d, k); v != "" {
			parts = append(parts, v)
		}
	}
	if len(parts) > 0 {
		d["name"] = strings.Join(parts, " ")
	}
	return d
}

// populatePath replaces the ids at segs inside v with resolved documents.
// Unresolvable ids become null (single references) or are dropped (arrays).
func populatePath(v any, segs []string, resolve func(string) (any, bool)) any {
	if len(segs) == 0 {
		switch x := v.(type) {
		case string:
			r, _ := resolve(x)
			return r
		case []any:
			out := make([]any, 0, len(x))
			for _, e := range x {
				id, isID := e.(string)
				if !isID {
					out = append(out, e)
				} else if r, ok := resolve(id); ok {
					out = append(out, r)
				}
			}
			return out
		}
		return v
	}
	switch x := v.(type) {
	case map[string]any:
		if e, ok := x[segs[0]]; ok {
			x[segs[0]] = populatePath(e, segs[1:], resolve)
		}
	case []any:
		for i, e := range x {
			x[i] = populatePath(e, segs, resolve)
		}
	}
	return v
}

// idFields are the fields OR queries match exactly: references and ids.
func idFields(c string) map[string]string {
	f := refFields(c)
	f["id"] = c
	return f
}

// list serves a list request on c; extra filters are added by nested routes.
func (s *Server) list(w http.ResponseWriter, r *http.Request, c string, extra ...filter) error {
	q, err := parseListQuery(r.URL.RawQuery)
	if err != nil {
		return errf(http.StatusBadRequest, "%v", err)
	}
	if len(extra) == 0 {
		if err := checkMandatory(c, q); err != nil {
			return errf(http.StatusBadRequest, "%v", err)
		}
	}
	if err := checkPopulate(c, q); err != nil {
		return err
	}
	if capped := s.cfg.pageCap; capped > 0 && q.limit > capped {
		q.limit = capped // the page length the server allows; X-Per-Page says so
	}
	filters, err := s.idComparisons(q)
	if err != nil {
		return err
	}
	filters = append(filters, extra...)
	out, total := s.query(c, q, filters)
	s.setPageHeaders(w, r, q, total, len(out))
	writeJSON(w, http.StatusOK, out)
	return nil
}

// query returns the rendered page of c matching filters, and the total count.
func (s *Server) query(c string, q *listQuery, filters []filter) ([]doc, int) {
	ids := idFields(c)
	s.mu.Lock()
	defer s.mu.Unlock()
	var hits []doc
	for _, d := range s.store.all(c) {
		if matches(d, filters, ids) {
			hits = append(hits, d)
		}
	}
	sortDocs(hits, q.sorts)
	total := len(hits)
	start, end := pageBounds(q.offset, q.limit, total)
	page := hits[start:end]
	out := make([]doc, len(page))
	for i, d := range page {
		out[i] = s.render(c, d, q)
	}
	return out, total
}

// pageBounds is the slice [start, end) of a page of total documents, without
// overflowing for offsets and limits near the integer limits.
func pageBounds(offset, limit, total int) (int, int) {
	start := min(offset, total)
	if limit >= total-start {
		return start, total
	}
	return start, start + limit
}

// setPageHeaders writes X-Total, X-Total-Pages, X-Page, X-Per-Page, X-Range and
// Link (https://developers.chatshipper.com/docs/api-resource-sets). An empty page has X-Range "0-0".
// WithoutTotalHeaders leaves out X-Total, X-Total-Pages and the "last" link,
// WithoutLinkHeader the Link header.
func (s *Server) setPageHeaders(w http.ResponseWriter, r *http.Request, q *listQuery, total, n int) {
	h := w.Header()
	limit, offset := q.limit, q.offset
	exposed := []string{"X-Total", "X-Total-Pages", "X-Page", "X-Per-Page", "X-Range", "Link"}
	if s.cfg.noTotals {
		exposed = exposed[2:]
	} else {
		h.Set("X-Total", strconv.Itoa(total))
		// Written so that no sum can overflow: offset and limit may be
		// anything up to the largest int.
		pages := 0
		if total > 0 {
			pages = (total-1)/limit + 1
		}
		h.Set("X-Total-Pages", strconv.Itoa(pages))
	}
	if s.cfg.noLink {
		exposed = exposed[:len(exposed)-1]
	}
	page := offset / limit
	if page < math.MaxInt {
		page++
	}
	h.Set("X-Page", strconv.Itoa(page))
	h.Set("X-Per-Page", strconv.Itoa(limit))
	if n == 0 {
		h.Set("X-Range", "0-0")
	} else {
		h.Set("X-Range", fmt.Sprintf("%d-%d", offset+1, offset+n))
	}
	base := requestBase(r)
	link := func(off int, rel string) string {
		var b strings.Builder
		for _, p := range q.params {
			if p.key == "offset" || p.key == "limit" {
				continue
			}
			b.WriteString(url.QueryEscape(p.key) + "=" + url.QueryEscape(p.value) + "&")
		}
		fmt.Fprintf(&b, "offset=%d&limit=%d", off, limit)
		return "<" + base + "?" + b.String() + `>; rel="` + rel + `"`
	}
	var links []string
	if offset > 0 {
		links = append(links, link(0, "first"), link(max(0, offset-limit), "prev"))
	}
	if offset < total && limit < total-offset {
		links = append(links, link(offset+limit, "next"))
		if !s.cfg.noTotals {
			// The last page keeps the current alignment so next links reach it.
			last := offset + ((total-1-offset)/limit)*limit
			links = append(links, link(last, "last"))
		}
	}
	if len(links) > 0 && !s.cfg.noLink {
		h.Set("Link", strings.Join(links, ", "))
	}
	h.Set("Access-Control-Expose-Headers", strings.Join(exposed, ", "))
}
