package exportcount

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/build"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// root is the root package of the module, the package the golden file counts.
const root = "../.."

// TestCountFixture pins what is counted and how: exported names of every
// declaration form once each; methods on exported receivers (pointer or
// generic) only; generated files apart; test files, "_" files, unexported
// and blank names left out; one identifier declared per toolchain counted once.
func TestCountFixture(t *testing.T) {
	t.Parallel()
	s, err := Count("testdata/fixture")
	require.NoError(t, err)
	var list bytes.Buffer
	require.NoError(t, s.WriteList(&list))
	assert.Equal(t, `func F
func OneOf //go:build go1.99 | !go1.99
type Alias
type G
type GenType generated
type I
type T
method G.M
method G.N
method GenType.Gen generated
method T.GenOnT generated
method T.M
method T.N
method T.Only //go:build go1.99
method T.String
const A
const C
var V
var X
`, list.String())

	var report bytes.Buffer
	require.NoError(t, s.WriteReport(&report))
	assert.Equal(t, `kind      generated  hand-written  total
func              0             2      2
type              1             4      5
method            2             6      8
const             0             2      2
var               0             2      2
total             3            16     19
`, report.String())
}

// TestCountRefusesDuplicates: an identifier declared twice in files that
// can be built together is an error, not a count of two (or of one).
func TestCountRefusesDuplicates(t *testing.T) {
	t.Parallel()
	_, err := Count("testdata/dup")
	require.EqualError(t, err, "exportcount: func F declared in a.go and b.go")
}

// TestRootGolden fails when the root package's exported surface differs from
// the committed testdata/exports.txt: a name added, removed or renamed, or
// moved between generated and hand-written files. Regenerate it with
//
//	go run ./internal/cmd/exportcount -list . > testdata/exports.txt
//
// and say in the commit which public names changed.
func TestRootGolden(t *testing.T) {
	t.Parallel()
	s, err := Count(root)
	require.NoError(t, err)
	var got bytes.Buffer
	require.NoError(t, s.WriteGolden(&got))
	want, err := os.ReadFile(filepath.Join(root, "testdata", "exports.txt"))
	require.NoError(t, err)
	if got.String() == string(want) {
		return
	}
	t.Errorf("the root package's exports differ from testdata/exports.txt (- committed, + now):\n%s"+
		"run go run ./internal/cmd/exportcount -list . > testdata/exports.txt",
		diffLines(strings.Split(string(want), "\n"), strings.Split(got.String(), "\n")))
}

// TestRootMatchesTypeChecker checks the count against the type checker: the
// root package as the current toolchain builds it is type-checked, and its
// exported package-level objects and the methods declared on its exported
// types must be exactly the identifiers Count lists for the files of this
// build, each once.
func TestRootMatchesTypeChecker(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs go list -export")
	}
	s, err := Count(root)
	require.NoError(t, err)
	bp, err := build.ImportDir(root, 0)
	require.NoError(t, err)

	// The counted identifiers declared in a file of this build.
	var counted []string
	for _, id := range s.Idents {
		if slices.ContainsFunc(id.Files, func(f string) bool { return slices.Contains(bp.GoFiles, f) }) {
			counted = append(counted, id.Kind+" "+id.Name)
		}
	}
	assert.Len(t, counted, len(slices.Compact(slices.Sorted(slices.Values(counted)))), "an identifier counted twice")

	pkg := typeCheck(t, root, bp.GoFiles)
	var checked []string
	scope := pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch obj := obj.(type) {
		case *types.Func:
			checked = append(checked, KindFunc+" "+name)
		case *types.Const:
			checked = append(checked, KindConst+" "+name)
		case *types.Var:
			checked = append(checked, KindVar+" "+name)
		case *types.TypeName:
			checked = append(checked, KindType+" "+name)
			if named, ok := obj.Type().(*types.Named); ok {
				for m := range named.Methods() {
					if m.Exported() {
						checked = append(checked, KindMethod+" "+name+"."+m.Name())
					}
				}
			}
		default:
			t.Errorf("unexpected object %v", obj)
		}
	}
	slices.Sort(counted)
	slices.Sort(checked)
	if d := diffLines(checked, counted); d != "" {
		t.Errorf("the count differs from the type checker (- type checker, + counted):\n%s", d)
	}
	t.Logf("%d exported identifiers in this build", len(checked))
}

// typeCheck type-checks the package in dir from the given files, importing
// its dependencies from the export data go list builds.
func typeCheck(t *testing.T, dir string, names []string) *types.Package {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-json=ImportPath,Export", ".")
	cmd.Dir = dir
	out, err := cmd.Output()
	require.NoError(t, err)
	exports := map[string]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct{ ImportPath, Export string }
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else {
			require.NoError(t, err)
		}
		exports[p.ImportPath] = p.Export
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, n := range names {
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.SkipObjectResolution)
		require.NoError(t, err)
		files = append(files, f)
	}
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		if exports[path] == "" {
			return nil, &os.PathError{Op: "export data", Path: path, Err: os.ErrNotExist}
		}
		return os.Open(exports[path])
	})
	conf := types.Config{Importer: imp}
	pkg, err := conf.Check(strings.TrimSuffix(files[0].Name.Name, "_test"), fset, files, nil)
	require.NoError(t, err)
	return pkg
}

// diffLines lists the lines only in want ("- ") and only in got ("+ ").
func diffLines(want, got []string) string {
	var b strings.Builder
	for _, l := range want {
		if !slices.Contains(got, l) {
			b.WriteString("- " + l + "\n")
		}
	}
	for _, l := range got {
		if !slices.Contains(want, l) {
			b.WriteString("+ " + l + "\n")
		}
	}
	return b.String()
}
