// Package exportcount counts the exported identifiers of one Go package
// directory from its source: package-level funcs, types, consts and vars, and
// the methods declared on exported types, each split by whether its file is
// generated (it carries the standard "// Code generated ... DO NOT EDIT."
// line) or hand-written.
//
// Every non-test .go file of the directory is read whatever its build
// constraints, so the count is the package's surface over every toolchain it
// builds with; an identifier declared in two files under different
// constraints (one version per toolchain) is one identifier, listed with both
// constraints. Struct fields and interface methods are not counted: they are
// parts of the types that are.
package exportcount

import (
	"errors"
	"fmt"
	"go/ast"
	"go/build/constraint"
	"go/parser"
	"go/token"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// The kinds of identifier counted, in report order.
const (
	KindFunc   = "func"
	KindType   = "type"
	KindMethod = "method"
	KindConst  = "const"
	KindVar    = "var"
)

// Kinds lists the kinds in report order.
var Kinds = []string{KindFunc, KindType, KindMethod, KindConst, KindVar}

// Ident is one exported identifier.
type Ident struct {
	Kind string
	// Name is the identifier, "Recv.Name" for a method (the receiver's type
	// name without pointer or type parameters).
	Name string
	// Files are the files that declare it (more than one only under
	// different build constraints), relative to the directory.
	Files []string
	// Generated is true when every declaring file is generated.
	Generated bool
	// Constraints holds the //go:build expression of each declaring file
	// that has one.
	Constraints []string
}

// Surface is the exported surface of one package.
type Surface struct {
	Package string
	Idents  []Ident // sorted by kind (in Kinds order), then name
}

// Totals returns the count per kind for generated and hand-written files.
func (s *Surface) Totals() (generated, hand map[string]int) {
	generated, hand = map[string]int{}, map[string]int{}
	for _, id := range s.Idents {
		if id.Generated {
			generated[id.Kind]++
		} else {
			hand[id.Kind]++
		}
	}
	return generated, hand
}

type file struct {
	name       string
	f          *ast.File
	generated  bool
	constraint string
}

// Count parses the non-test .go files of dir (skipping files whose names
// start with "_" or ".", as the go command does) and returns their exported
// identifiers. It fails when the files declare more than one package, or
// when an identifier is declared twice in files that could be built together
// (the same constraint, or one file without any).
func Count(dir string) (*Surface, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	var files []file
	pkg := ""
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") ||
			strings.HasPrefix(n, "_") || strings.HasPrefix(n, ".") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, n), nil, parser.ParseComments|parser.SkipObjectResolution)
		if err != nil {
			return nil, err
		}
		if pkg == "" {
			pkg = f.Name.Name
		} else if f.Name.Name != pkg {
			return nil, fmt.Errorf("exportcount: %s: package %s, want %s", n, f.Name.Name, pkg)
		}
		files = append(files, file{name: n, f: f, generated: ast.IsGenerated(f), constraint: buildConstraint(f)})
	}
	if pkg == "" {
		return nil, fmt.Errorf("exportcount: no Go files in %s", dir)
	}

	byKey := map[string]*Ident{}
	constraints := map[string][]string{} // per key, each declaring file's constraint ("" for none)
	var errs []error
	add := func(kind, name string, fl file) {
		key := kind + " " + name
		id, ok := byKey[key]
		if !ok {
			id = &Ident{Kind: kind, Name: name, Generated: true}
			byKey[key] = id
		}
		for i, c := range constraints[key] {
			if c == "" || fl.constraint == "" || c == fl.constraint {
				errs = append(errs, fmt.Errorf("exportcount: %s %s declared in %s and %s", kind, name, id.Files[i], fl.name))
			}
		}
		constraints[key] = append(constraints[key], fl.constraint)
		id.Files = append(id.Files, fl.name)
		id.Generated = id.Generated && fl.generated
		if fl.constraint != "" {
			id.Constraints = append(id.Constraints, fl.constraint)
		}
	}
	for _, fl := range files {
		for _, d := range fl.f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if !d.Name.IsExported() {
					continue
				}
				if d.Recv == nil {
					add(KindFunc, d.Name.Name, fl)
					continue
				}
				recv := receiverName(d.Recv.List[0].Type)
				if token.IsExported(recv) {
					add(KindMethod, recv+"."+d.Name.Name, fl)
				}
			case *ast.GenDecl:
				for _, spec := range d.Specs {
					switch spec := spec.(type) {
					case *ast.TypeSpec:
						if spec.Name.IsExported() {
							add(KindType, spec.Name.Name, fl)
						}
					case *ast.ValueSpec:
						kind := KindVar
						if d.Tok == token.CONST {
							kind = KindConst
						}
						for _, n := range spec.Names {
							if n.IsExported() {
								add(kind, n.Name, fl)
							}
						}
					}
				}
			}
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	s := &Surface{Package: pkg}
	for _, id := range byKey {
		s.Idents = append(s.Idents, *id)
	}
	slices.SortFunc(s.Idents, func(a, b Ident) int {
		if c := slices.Index(Kinds, a.Kind) - slices.Index(Kinds, b.Kind); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return s, nil
}

// receiverName is the type name of a method's receiver: T from T, *T, T[P]
// and *T[P, Q].
func receiverName(e ast.Expr) string {
	for {
		switch x := e.(type) {
		case *ast.StarExpr:
			e = x.X
		case *ast.ParenExpr:
			e = x.X
		case *ast.IndexExpr:
			e = x.X
		case *ast.IndexListExpr:
			e = x.X
		case *ast.Ident:
			return x.Name
		default:
			return ""
		}
	}
}

// buildConstraint returns the file's //go:build expression, or "".
func buildConstraint(f *ast.File) string {
	for _, cg := range f.Comments {
		if cg.Pos() >= f.Package {
			break
		}
		for _, c := range cg.List {
			if constraint.IsGoBuild(c.Text) {
				if expr, err := constraint.Parse(c.Text); err == nil {
					return expr.String()
				}
			}
		}
	}
	return ""
}

// WriteReport writes the table of counts: one row per kind, with the
// generated, hand-written and total columns, and a total row.
func (s *Surface) WriteReport(w io.Writer) error {
	gen, hand := s.Totals()
	var b strings.Builder
	fmt.Fprintf(&b, "%-8s %10s %13s %6s\n", "kind", "generated", "hand-written", "total")
	var tg, th int
	for _, k := range Kinds {
		fmt.Fprintf(&b, "%-8s %10d %13d %6d\n", k, gen[k], hand[k], gen[k]+hand[k])
		tg += gen[k]
		th += hand[k]
	}
	fmt.Fprintf(&b, "%-8s %10d %13d %6d\n", "total", tg, th, tg+th)
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteList writes one line per identifier: its kind and name, "generated"
// when it is, and the build constraints it is declared under, if any.
func (s *Surface) WriteList(w io.Writer) error {
	var b strings.Builder
	for _, id := range s.Idents {
		b.WriteString(id.Kind + " " + id.Name)
		if id.Generated {
			b.WriteString(" generated")
		}
		if len(id.Constraints) > 0 {
			b.WriteString(" //go:build " + strings.Join(id.Constraints, " | "))
		}
		b.WriteByte('\n')
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteGolden writes the report, a blank line, then the list: the form of the
// committed golden file.
func (s *Surface) WriteGolden(w io.Writer) error {
	if err := s.WriteReport(w); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\n"); err != nil {
		return err
	}
	return s.WriteList(w)
}
