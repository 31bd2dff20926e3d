package chatshippertest

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// FuzzParseListQuery feeds arbitrary query strings to the parser and runs
// whatever parses against sample documents: nothing may panic, and a parsed
// query always has a usable page window.
func FuzzParseListQuery(f *testing.F) {
	for _, s := range []string{"", "gender=male", "age=>18,<=30", "name,displayName=acme", "participants.1=!",
		"select=-a,-b", "populate=messages:type|text,participants.user:givenName", "sort=-a,b&offset=5&limit=5"} {
		f.Add(s)
	}
	srv := NewServer(nil)
	defer srv.Close()
	putArticles(srv)
	docs := srv.List("articles")
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseListQuery(raw)
		if err != nil {
			require.NotEmpty(t, err.Error())
			return
		}
		require.Positive(t, q.limit)
		require.GreaterOrEqual(t, q.offset, 0)
		var hits []doc
		for _, d := range docs {
			if matches(d, q.filters, idFields("articles")) {
				hits = append(hits, d)
			}
		}
		sortDocs(hits, q.sorts)
		for _, d := range hits {
			out := cloneDoc(d)
			if q.selects != nil {
				out = project(d, q.selects)
			}
			for _, p := range q.populates {
				populatePath(out, strings.Split(p.path, "."), func(id string) (any, bool) {
					return project(docs[0], p.fields), len(id)%2 == 0
				})
			}
		}
	})
}
