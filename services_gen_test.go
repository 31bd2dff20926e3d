package chatshipper

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestServicesGenerated fails when services_gen.go is not what
// internal/gen/services writes: run `go generate` after changing the table.
func TestServicesGenerated(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("builds the generator")
	}
	out := filepath.Join(t.TempDir(), "services_gen.go")
	cmd := exec.Command("go", "run", "./internal/gen/services", "-o", out)
	b, err := cmd.CombinedOutput()
	require.NoError(t, err, "%s", b)
	want, err := os.ReadFile(out)
	require.NoError(t, err)
	got, err := os.ReadFile("services_gen.go")
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "services_gen.go is stale: run go generate")
}
