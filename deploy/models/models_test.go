package models

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func date(s string) time.Time {
	d, err := time.Parse(time.DateOnly, s)
	if err != nil {
		panic(err)
	}
	return d
}

func TestLifecycle(t *testing.T) {
	const haiku3 = "us.anthropic.claude-3-haiku-20240307-v1:0"
	cases := []struct {
		id, region, at string
		want           State
	}{
		{haiku3, "us-east-1", "2026-09-09", Active},
		{haiku3, "us-east-1", "2026-09-10", EndOfLife},
		{"anthropic.claude-3-haiku-20240307-v1:0", "us-west-2", "2026-12-06", EndOfLife},
		{"arn:aws:bedrock:us-east-1:111122223333:inference-profile/" + haiku3, "us-east-1", "2026-12-06", EndOfLife},
		{"arn:aws:bedrock:ca-central-1::foundation-model/anthropic.claude-3-haiku-20240307-v1:0", "ca-central-1", "2026-12-06", Active},
		{"anthropic.claude-3-haiku-20240307-v1:0", "ap-northeast-2", "2026-12-06", Legacy},
		{"eu.anthropic.claude-sonnet-4-20250514-v1:0", "eu-west-1", "2026-05-01", Legacy},
		{"eu.anthropic.claude-sonnet-4-20250514-v1:0", "eu-west-1", "2026-10-14", EndOfLife},
		{DefaultID, "us-east-1", "2026-12-06", Active},
		{"us.anthropic.claude-something-new-v1:0", "us-east-1", "2030-01-01", Active},
	}
	for _, c := range cases {
		if got := Lifecycle(c.id, c.region, date(c.at)).State; got != c.want {
			t.Errorf("Lifecycle(%s, %s, %s) = %s, want %s", c.id, c.region, c.at, got, c.want)
		}
	}
}

// The default is Active where the deploy paths run it, as of the table's
// own date: the wall clock never fails the build, and a table updated
// with the default's end of life does. And it is the only model ID the
// project names: code, scripts and manifests take it from here, and a page
// may name it (the settings check holds docs/settings.md to it); only
// cloudsim's model table, this table, tests, and the pages that name
// retired models on purpose (troubleshooting, cloudsim) name others.
func TestDefaultModelIsActive(t *testing.T) {
	if st := Lifecycle(DefaultID, "us-east-1", AsOf()); st.State != Active {
		t.Errorf("the default model %s is %s in us-east-1 as of %s (%s): choose an Active one in default.env",
			DefaultID, st.State, AsOf().Format(time.DateOnly), st.Source)
	}
}

func TestParseTableRefusesBadRows(t *testing.T) {
	for name, tsv := range map[string]string{
		"no date":     "m\t*\t-\t-\tsrc\n",
		"four fields": "# as of 2026-12-06\nm\t*\t-\t-\n",
		"a bad date":  "# as of 2026-12-06\nm\t*\t-\t2026-13-01\tsrc\n",
		"a row twice": "# as of 2026-12-06\nm\t*\t-\t-\ts\nm\t*\t-\t-\ts\n",
		"a bad as-of": "# as of soon\n",
	} {
		if _, _, err := parseTable(tsv); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

var modelID = regexp.MustCompile(`(?:(?:us|eu|apac|jp|au|global)\.)?anthropic\.claude-[a-z0-9-]+-v[0-9]+:[0-9]+`)

func TestNoOtherModelIDLiterals(t *testing.T) {
	maySayAnyModel := map[string]bool{
		"deploy/models/lifecycle.tsv":         true,
		"internal/cloudsim/bedrock/models.go": true,
		"docs/troubleshooting.md":             true,
		"docs/cloudsim.md":                    true,
	}
	root := "../.."
	found := 0
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			switch {
			case strings.HasPrefix(d.Name(), ".") && rel != ".", d.Name() == "node_modules", d.Name() == "testdata", rel == "web/static/vendor":
				return filepath.SkipDir
			}
			return nil
		}
		if strings.HasSuffix(rel, "_test.go") || maySayAnyModel[rel] {
			return nil
		}
		raw, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, id := range modelID.FindAllString(string(raw), -1) {
			found++
			if id == DefaultID && (strings.HasSuffix(rel, ".md") || rel == "deploy/models/default.env") {
				continue
			}
			t.Errorf("%s names %s: take the model from deploy/models (BEDROCK_MODEL_ID's default)", rel, id)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if found == 0 {
		t.Error("no model ID found anywhere, not even default.env's: is the pattern still right?")
	}
}
