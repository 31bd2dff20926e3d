package chatshipper

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// docs/ARCHITECTURE.md is the map of the house: every source file of the
// root package is named on it, and every Go file it names exists (in the
// root package or in the package directory the page puts it in).
func TestArchitectureNamesEveryRootFile(t *testing.T) {
	t.Parallel()
	page, err := os.ReadFile(filepath.Join("docs", "ARCHITECTURE.md"))
	require.NoError(t, err)
	named := map[string]bool{}
	for _, m := range regexp.MustCompile("`([A-Za-z0-9_./-]+\\.go)`").FindAllStringSubmatch(string(page), -1) {
		named[m[1]] = true
	}
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		assert.True(t, named[f], "%s is a root source file that docs/ARCHITECTURE.md does not name (write it as `%s` where its concept is)", f, f)
	}
	for f := range named {
		if _, err := os.Stat(f); err == nil {
			continue
		}
		matches, err := filepath.Glob(filepath.Join("*", f))
		require.NoError(t, err)
		deeper, err := filepath.Glob(filepath.Join("*", "*", f))
		require.NoError(t, err)
		assert.NotEmpty(t, append(matches, deeper...), "docs/ARCHITECTURE.md names %s, which does not exist", f)
	}
}
