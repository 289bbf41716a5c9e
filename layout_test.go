package main

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/bproc/bproc/"

// topLevel is what the repository's root may hold besides files: the
// folders a newcomer reads the architecture from (ARCHITECTURE.md).
var topLevel = map[string]bool{
	"applets": true, "bproc": true, "docs": true, "initramfs": true, "internal": true,
	"libbproc": true, "netboot": true, "testvm": true, "bin": true,
}

// layers says which folders may not import which: the side that runs the
// code decides, and what both sides link knows neither.
var layers = []struct {
	from, to []string
	why      string
}{
	{[]string{"internal/node"}, []string{"internal/master"}, "the node side runs on nodes, without the master's code"},
	{[]string{"internal/master"}, []string{"internal/node"}, "the master side talks to nodes only through internal/shared/wire"},
	{[]string{"internal/shared"}, []string{"internal/master", "internal/node"}, "shared code belongs to neither side"},
	{[]string{"internal", "bproc", "netboot", "initramfs", "testvm"}, []string{"applets"}, "applets are glue: nothing below them imports them"},
	{[]string{"bproc"}, []string{"internal/master", "internal/node"}, "the public API is a client of the master's socket"},
}

func under(path, dir string) bool { return path == dir || strings.HasPrefix(path, dir+"/") }

// imports maps each folder with Go files to the module's folders its files
// (tests too) import.
func imports(t *testing.T) map[string]map[string]bool {
	t.Helper()
	return importsOf(t, true)
}

// importsOf is imports, with the tests' imports or without.
func importsOf(t *testing.T, tests bool) map[string]map[string]bool {
	t.Helper()
	out := map[string]map[string]bool{}
	fset := token.NewFileSet()
	err := filepath.WalkDir(".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (p == "bin" || strings.HasPrefix(d.Name(), ".") && p != ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, ".go") || !tests && strings.HasSuffix(p, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, p, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		dir := filepath.ToSlash(filepath.Dir(p))
		if out[dir] == nil {
			out[dir] = map[string]bool{}
		}
		for _, s := range f.Imports {
			ip, _ := strconv.Unquote(s.Path.Value)
			if rel, ok := strings.CutPrefix(ip, module); ok {
				out[dir][rel] = true
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestLayers(t *testing.T) {
	all := imports(t)
	if len(all) < 20 {
		t.Fatalf("found Go files in %d folders; is the test run from the repository's root?", len(all))
	}
	for dir, imps := range all {
		for imp := range imps {
			for _, l := range layers {
				for _, from := range l.from {
					for _, to := range l.to {
						if under(dir, from) && under(imp, to) {
							t.Errorf("%s imports %s: %s", dir, imp, l.why)
						}
					}
				}
			}
		}
	}
}

func TestTopLevel(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if e.IsDir() && !strings.HasPrefix(e.Name(), ".") && !topLevel[e.Name()] {
			t.Errorf("folder %s at the top level: put it under internal/ by the side that runs it (ARCHITECTURE.md)", e.Name())
		}
	}
}
