package archtest

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
)

// envWriter is the one package that writes the process environment the
// SDKs read (see its package comment).
const envWriter = module + "/internal/stack"

// TestOnlyTheStackWritesTheProcessEnvironment keeps the environment a
// second channel of configuration nobody else feeds: no code outside
// internal/stack calls os.Setenv, os.Unsetenv or os.Clearenv, in
// production files and in the end-to-end harness and its tests. Unit
// tests may still use t.Setenv, which the testing package undoes.
func TestOnlyTheStackWritesTheProcessEnvironment(t *testing.T) {
	checked := 0
	for _, p := range goList(t, "./...") {
		if p.ImportPath == envWriter {
			continue
		}
		files := p.GoFiles
		if p.ImportPath == module+"/internal/e2e" {
			files = slices.Concat(p.GoFiles, p.TestGoFiles, p.XTestGoFiles)
		}
		checked += len(files)
		for _, hit := range envWrites(t, p.Dir, files) {
			t.Errorf("%s writes the process environment: only %s does (pass settings through config.Reader instead)", hit, envWriter)
		}
	}
	if checked == 0 {
		t.Fatal("no file was checked")
	}
}

// The scanner must catch planted calls, renamed imports included, or the
// test above proves nothing.
func TestEnvWriteScannerCatchesPlantedCalls(t *testing.T) {
	dir := t.TempDir()
	planted := "package x\n\nimport (\n\t\"os\"\n\tosx \"os\"\n)\n\nfunc f(t interface{ Setenv(string, string) }) {\n" +
		"\tos.Setenv(\"AWS_REGION\", \"us-east-1\")\n\tosx.Unsetenv(\"AWS_PROFILE\")\n\tos.Clearenv()\n\tt.Setenv(\"LOG_LEVEL\", \"debug\")\n}\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	hits := envWrites(t, dir, []string{"x.go"})
	if want := []string{filepath.Join(dir, "x.go") + ":9", filepath.Join(dir, "x.go") + ":10", filepath.Join(dir, "x.go") + ":11"}; !slices.Equal(hits, want) {
		t.Fatalf("scanner found %v in the planted file, want %v (not t.Setenv)", hits, want)
	}
}

// envWrites finds calls to os.Setenv, os.Unsetenv and os.Clearenv, by
// whatever name the file imports os.
func envWrites(t *testing.T, dir string, files []string) []string {
	t.Helper()
	var hits []string
	fset := token.NewFileSet()
	for _, name := range files {
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		osNames := map[string]bool{}
		for _, imp := range f.Imports {
			if p, _ := strconv.Unquote(imp.Path.Value); p == "os" {
				osName := "os"
				if imp.Name != nil {
					osName = imp.Name.Name
				}
				osNames[osName] = true
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if x, ok := sel.X.(*ast.Ident); ok && osNames[x.Name] && slices.Contains([]string{"Setenv", "Unsetenv", "Clearenv"}, sel.Sel.Name) {
				hits = append(hits, path+":"+strconv.Itoa(fset.Position(sel.Pos()).Line))
			}
			return true
		})
	}
	return hits
}
