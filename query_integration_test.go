package chatshipper_test

import (
	"context"
	"slices"
	"testing"

	"github.com/go-chatshipper/chatshipper"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// WhereAny is a literal, case-insensitive substring search; only
// WhereAnyRegex reaches the server as a pattern (issue: "a.c" matched "abc",
// ".*" matched everything).
func TestIntegrationWhereAnyIsLiteral(t *testing.T) {
	t.Parallel()
	c, srv := fakeClient(t)
	ctx := context.Background()
	for _, name := range []string{"abc", "a.c", "A.C motors", "x.*y", "plain"} {
		srv.Put("channels", map[string]any{"name": name, "organization": srv.Seed.OrganizationID})
	}
	fields := []string{"name", "description"}
	names := func(q *chatshipper.Query) []string {
		t.Helper()
		q = q.Where("organization", chatshipper.Eq(srv.Seed.OrganizationID))
		chans, _, err := c.Channels.List(ctx, q)
		require.NoError(t, err)
		var out []string
		for _, ch := range chans {
			out = append(out, ch.Name)
		}
		slices.Sort(out)
		return out
	}
	tests := []struct {
		name string
		q    *chatshipper.Query
		want []string
	}{
		{"dot is literal", chatshipper.NewQuery().WhereAny(fields, "a.c"), []string{"A.C motors", "a.c"}},
		{"star is literal", chatshipper.NewQuery().WhereAny(fields, ".*"), []string{"x.*y"}},
		{"bracket is literal", chatshipper.NewQuery().WhereAny(fields, "b]"), nil},
		{"regex variant is a pattern", chatshipper.NewQuery().WhereAnyRegex(fields, "a.c"), []string{"A.C motors", "a.c", "abc"}},
		{"regex variant anchors", chatshipper.NewQuery().WhereAnyRegex(fields, "^a.c$"), []string{"a.c", "abc"}},
		{"single-field regex variant", chatshipper.NewQuery().WhereAnyRegex([]string{"name"}, "^p"), []string{"plain"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, names(tt.q))
		})
	}
}
