package bproc

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bproc/bproc/internal/shared/localapi"
)

// TestNoInternalTypes: a program outside this module can call everything
// the package exports, so no exported function, method, type, field,
// variable or constant may mention a type of an internal package (a
// program may not import one). It reads the package's source: each
// exported declaration's type expressions, for selectors whose package
// is imported from an internal path.
func TestNoInternalTypes(t *testing.T) {
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		internal := map[string]string{} // import name -> path
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if !strings.Contains("/"+path+"/", "/internal/") {
				continue
			}
			local := path[strings.LastIndex(path, "/")+1:]
			if imp.Name != nil {
				local = imp.Name.Name
			}
			internal[local] = path
		}
		for _, exposed := range exportedTypeExprs(f) {
			checked++
			ast.Inspect(exposed.expr, func(n ast.Node) bool {
				sel, ok := n.(*ast.SelectorExpr)
				if !ok {
					return true
				}
				if x, ok := sel.X.(*ast.Ident); ok && internal[x.Name] != "" {
					t.Errorf("%s: %s exposes %s.%s (package %s is internal)", fset.Position(sel.Pos()), exposed.what, x.Name, sel.Sel.Name, internal[x.Name])
				}
				return true
			})
		}
	}
	if checked < 20 {
		t.Fatalf("checked %d exported declarations; is the test run in the package's folder?", checked)
	}
}

type exposedExpr struct {
	what string
	expr ast.Expr
}

// exportedTypeExprs is every type a caller of f's exported API meets: the
// signatures of exported functions and of exported methods on exported
// types, exported types' definitions (their exported fields and
// methods), and the types of exported variables and constants, declared
// or, without one, of the value they are set to.
func exportedTypeExprs(f *ast.File) []exposedExpr {
	var out []exposedExpr
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			if !d.Name.IsExported() {
				continue
			}
			what := d.Name.Name
			if d.Recv != nil {
				recv := d.Recv.List[0].Type
				if star, ok := recv.(*ast.StarExpr); ok {
					recv = star.X
				}
				if id, ok := recv.(*ast.Ident); !ok || !id.IsExported() {
					continue
				}
				what = recv.(*ast.Ident).Name + "." + what
			}
			out = append(out, exposedExpr{what, d.Type})
		case *ast.GenDecl:
			for _, s := range d.Specs {
				switch s := s.(type) {
				case *ast.TypeSpec:
					if s.Name.IsExported() {
						out = append(out, exportedFields(s.Name.Name, s.Type)...)
					}
				case *ast.ValueSpec:
					for i, n := range s.Names {
						if !n.IsExported() {
							continue
						}
						if s.Type != nil {
							out = append(out, exposedExpr{n.Name, s.Type})
						} else if i < len(s.Values) {
							// The value's type is what a caller gets.
							out = append(out, exposedExpr{n.Name, s.Values[i]})
						}
					}
				}
			}
		}
	}
	return out
}

// exportedFields is the exported part of a type definition: for a struct
// or an interface, its exported (and embedded) fields and methods.
func exportedFields(name string, typ ast.Expr) []exposedExpr {
	var list *ast.FieldList
	switch t := typ.(type) {
	case *ast.StructType:
		list = t.Fields
	case *ast.InterfaceType:
		list = t.Methods
	default:
		return []exposedExpr{{name, typ}}
	}
	var out []exposedExpr
	for _, fl := range list.List {
		if len(fl.Names) == 0 { // embedded: its exported members are promoted
			out = append(out, exposedExpr{name + " (embedded)", fl.Type})
			continue
		}
		for _, n := range fl.Names {
			if n.IsExported() {
				out = append(out, exposedExpr{name + "." + n.Name, fl.Type})
			}
		}
	}
	return out
}

// TestNoInternalTypesFails: the test finds what it looks for.
func TestNoInternalTypesFails(t *testing.T) {
	src := `package bproc
import "github.com/bproc/bproc/internal/shared/localapi"
import w "github.com/bproc/bproc/internal/shared/wire"
type Job struct { Ranks []localapi.Rank; run *localapi.Run }
type Command struct { w.Command }
func (c *Client) Run(r localapi.Run) (*Job, error)
func (c *client) hidden(r localapi.Run)
var Events <-chan localapi.Event
var ErrNodeDown = localapi.ErrNodeDown
var ErrOK error = localapi.ErrNodeDown
`
	f, err := parser.ParseFile(token.NewFileSet(), "x.go", src, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range exportedTypeExprs(f) {
		ast.Inspect(e.expr, func(n ast.Node) bool {
			if sel, ok := n.(*ast.SelectorExpr); ok {
				if x, ok := sel.X.(*ast.Ident); ok && (x.Name == "localapi" || x.Name == "w") {
					got = append(got, e.what)
				}
			}
			return true
		})
	}
	want := "Job.Ranks Command (embedded) Client.Run Events ErrNodeDown"
	if strings.Join(got, " ") != want {
		t.Errorf("found internal types in %q, want %q", strings.Join(got, " "), want)
	}
}

// The states are the master's.
func TestStates(t *testing.T) {
	for _, s := range [][2]string{
		{StateDown, localapi.StateDown}, {StateBoot, localapi.StateBoot}, {StateUp, localapi.StateUp},
		{StateError, localapi.StateError}, {StateUnavailable, localapi.StateUnavailable},
	} {
		if s[0] != s[1] {
			t.Errorf("state %q is %q in localapi", s[0], s[1])
		}
	}
}
