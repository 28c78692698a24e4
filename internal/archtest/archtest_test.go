// Package archtest holds the tests that keep the production binaries honest:
// they reach cloudsim only through the standard SDK overrides, never by
// importing it or by reading a cloudsim-only setting.
package archtest

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/crosscloud-agentid/agentid"

// simOnly are the packages that exist for the local stand-in and may use
// it; everything else is production code.
func simOnly(importPath string) bool {
	for _, p := range []string{module + "/internal/cloudsim", module + "/cmd/cloudsim", module + "/cmd/demo", module + "/internal/demo", module + "/internal/stack", module + "/internal/e2e",
		module + "/deploy/local", module + "/internal/archtest"} {
		if importPath == p || strings.HasPrefix(importPath, p+"/") {
			return true
		}
	}
	return false
}

type pkg struct {
	ImportPath string
	Dir        string
	GoFiles    []string
	// TestGoFiles and XTestGoFiles are the package's _test.go files.
	TestGoFiles  []string
	XTestGoFiles []string
	Deps         []string
	Name         string
}

func goList(t *testing.T, args ...string) []pkg {
	t.Helper()
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Fatalf("the go command is needed: %v", err)
	}
	cmd := exec.Command(goBin, append([]string{"list", "-json"}, args...)...)
	cmd.Dir = filepath.Join("..", "..")
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(&out)
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

func TestProductionBinariesNeverImportCloudsim(t *testing.T) {
	binaries := 0
	for _, p := range goList(t, "-deps=false", "./cmd/...") {
		if p.Name != "main" || simOnly(p.ImportPath) {
			continue
		}
		binaries++
		for _, dep := range cloudsimDeps(p) {
			t.Errorf("%s depends on %s: production binaries reach cloudsim only through the SDK endpoint overrides", p.ImportPath, dep)
		}
	}
	t.Logf("checked %d production binaries", binaries)
}

func cloudsimDeps(p pkg) []string {
	var out []string
	for _, dep := range p.Deps {
		if simOnly(dep) {
			out = append(out, dep)
		}
	}
	return out
}

func TestImportCheckCatchesPlantedDependency(t *testing.T) {
	planted := pkg{ImportPath: module + "/cmd/llm-agent", Deps: []string{"net/http", module + "/internal/config", module + "/internal/cloudsim/entra", module + "/deploy/local"}}
	if got := cloudsimDeps(planted); len(got) != 2 {
		t.Fatalf("found %v, want the two cloudsim packages", got)
	}
}

func TestNoProductionPackageReadsCloudsimSettings(t *testing.T) {
	checked := 0
	for _, p := range goList(t, "./...") {
		if simOnly(p.ImportPath) {
			continue
		}
		checked++
		for _, hit := range cloudsimReferences(t, p.Dir, p.GoFiles) {
			t.Errorf("%s: production code mentions a CLOUDSIM_ setting", hit)
		}
	}
	if checked == 0 {
		t.Fatal("no production package was checked")
	}
}

// The scanner must catch a planted reference, or the test above proves
// nothing.
func TestScannerCatchesPlantedReference(t *testing.T) {
	dir := t.TempDir()
	planted := "package x\n\nimport \"os\"\n\nvar demo = os.Getenv(\"CLOUDSIM_\" + \"DEMO_USERNAME\")\nvar host = os.Getenv(\"CLOUDSIM_URL\")\n"
	if err := os.WriteFile(filepath.Join(dir, "x.go"), []byte(planted), 0o644); err != nil {
		t.Fatal(err)
	}
	if hits := cloudsimReferences(t, dir, []string{"x.go"}); len(hits) != 2 {
		t.Fatalf("scanner found %v in the planted file, want both lines", hits)
	}
}

func cloudsimReferences(t *testing.T, dir string, files []string) []string {
	t.Helper()
	var hits []string
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(data), "\n") {
			if strings.Contains(line, "CLOUDSIM_") {
				hits = append(hits, filepath.Join(dir, f)+":"+strconv.Itoa(i+1))
			}
		}
	}
	return hits
}
