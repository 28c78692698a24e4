package docs

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/config"
	"github.com/crosscloud-agentid/agentid/internal/logging"
	"github.com/crosscloud-agentid/agentid/internal/refresher"
	"github.com/crosscloud-agentid/agentid/internal/telemetry"
	"github.com/crosscloud-agentid/agentid/internal/weatherapi"
)

// sdkSection is the settings page's section for variables that the SDKs
// or the platform read, or that the code only passes on: its rows need no
// reader of ours.
const sdkSection = "Read by the SDKs and the platform"

// binaries names each production binary's sections of docs/settings.md,
// its settings code, and the environments that between them reach every
// setting it reads (some are read only in one mode).
var binaries = []struct {
	name     string
	sections []string
	load     func(*config.Reader)
	modes    []map[string]string
}{
	{
		name:     "llm-agent",
		sections: []string{"llm-agent", "Agent identity (llm-agent)"},
		load:     func(r *config.Reader) { chatapi.LoadSettings(r) },
		modes: []map[string]string{
			{},
			{"IDENTITY_PROVIDER": "msal"},
			{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "secret"},
			{"IDENTITY_PROVIDER": "msal", "BLUEPRINT_CREDENTIAL": "certificate"},
			{"AGENTCORE_RUNTIME": "true"},
		},
	},
	{
		name:     "weather-api",
		sections: []string{"weather-api"},
		load:     func(r *config.Reader) { weatherapi.LoadSettings(r) },
		modes:    []map[string]string{{}},
	},
	{
		name:     "token-refresher",
		sections: []string{"token-refresher"},
		load:     func(r *config.Reader) { refresher.LoadSettings(r) },
		modes:    []map[string]string{{}},
	},
}

// everyBinary is the section for what every binary reads: the logger's
// settings and OpenTelemetry's.
const everyBinary = "Every binary"

// readSettings runs a binary's settings code in each mode and returns what
// it read, with defaults. A required setting is given a GUID of its own,
// so that a default derived from it (STS_APP_URI is api://<STS_APP_ID>)
// comes back naming it.
func readSettings(load func(*config.Reader), modes []map[string]string) map[string]config.Setting {
	out := map[string]config.Setting{}
	for _, mode := range modes {
		first := config.New(func(k string) string { return mode[k] })
		load(first)
		env := map[string]string{}
		names := map[string]string{}
		for i, s := range first.Settings() {
			if s.Required || s.Name == "AGENT_CLIENT_ID" {
				id := fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1)
				env[s.Name], names[id] = id, "<"+s.Name+">"
			}
		}
		for k, v := range mode {
			env[k] = v
		}
		second := config.New(func(k string) string { return env[k] })
		load(second)
		for _, s := range second.Settings() {
			for id, name := range names {
				s.Default = strings.ReplaceAll(s.Default, id, name)
			}
			if old, ok := out[s.Name]; ok && old.Default != "" {
				s.Default = old.Default
			}
			if _, given := mode[s.Name]; given && out[s.Name].Name != "" {
				continue // the mode set it: its default is the other modes'
			}
			out[s.Name] = s
		}
	}
	return out
}

// readByEveryBinary is what the logger and telemetry read: the logger
// through config, telemetry through getenv (two passes: one protocol
// refused, so nothing is built, reaches every name).
func readByEveryBinary(t *testing.T) map[string]config.Setting {
	r := config.New(func(string) string { return "" })
	logging.New(r, io.Discard)
	out := map[string]config.Setting{}
	for _, s := range r.Settings() {
		out[s.Name] = s
	}
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT":         "http://127.0.0.1:4318",
		"OTEL_EXPORTER_OTLP_PROTOCOL":         "grpc",
		"OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/json",
	}
	if _, err := telemetry.FromEnv(context.Background(), "docs", func(k string) string {
		out[k] = config.Setting{Name: k}
		return env[k]
	}); err == nil {
		t.Fatal("telemetry accepted http/json: the pass meant to stop before building exporters built them")
	}
	return out
}

// readDirectly finds the variables production code reads itself with
// getenv or os.Getenv (AWS_LAMBDA_RUNTIME_API, SSL_CERT_FILE, …).
func readDirectly(t *testing.T) map[string][]string {
	t.Helper()
	call := regexp.MustCompile(`(?:[gG]etenv|LookupEnv)\("([A-Z][A-Z0-9_]*)"\)`)
	out := map[string][]string{}
	for _, root := range []string{"../cmd", "../internal"} {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && (path == "../internal/binarytest" || strings.HasSuffix(path, "testdata")) {
				return filepath.SkipDir
			}
			if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return nil
			}
			raw, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range call.FindAllStringSubmatch(string(raw), -1) {
				out[m[1]] = append(out[m[1]], path)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return out
}

// row is a settings table row: the setting names in its first cell, its
// default cell, and the section it is in.
type row struct {
	names   []string
	def     string
	section string
	line    int
}

var settingName = regexp.MustCompile("`([A-Z][A-Z0-9_]+)`")

// documented reads docs/settings.md's tables.
func documented(t *testing.T) []row {
	t.Helper()
	var rows []row
	section := ""
	for i, line := range prose(t, "settings.md") {
		if m := heading.FindStringSubmatch(line); m != nil {
			section = m[2]
			continue
		}
		cells := strings.Split(strings.Trim(line, "| "), " | ")
		if !strings.HasPrefix(line, "| ") || len(cells) < 3 {
			continue
		}
		var names []string
		for _, m := range settingName.FindAllStringSubmatch(cells[0], -1) {
			names = append(names, m[1])
		}
		if len(names) > 0 {
			rows = append(rows, row{names: names, def: cells[1], section: section, line: i + 1})
		}
	}
	return rows
}

// defaultShown reports whether a default cell states the code's default:
// "required" for a required setting, else the value in backticks (a
// duration in any spelling Go parses the same).
func defaultShown(cell string, s config.Setting) bool {
	if s.Required {
		return strings.Contains(cell, "required")
	}
	if s.Default == "" {
		return true
	}
	want, isDuration := time.ParseDuration(s.Default)
	for _, m := range codeSpan.FindAllString(cell, -1) {
		v := strings.Trim(m, "`")
		if v == s.Default {
			return true
		}
		if d, err := time.ParseDuration(v); isDuration == nil && err == nil && d == want {
			return true
		}
	}
	return false
}

// docs/settings.md lists every setting each binary reads, in that binary's
// section, with the code's default; and every row there is read by code.
func TestSettingsDocumented(t *testing.T) {
	rows := documented(t)
	if len(rows) < 40 {
		t.Fatalf("docs/settings.md: only %d setting rows found: is the table format still | `NAME` | default | meaning |?", len(rows))
	}
	find := func(name string, sections ...string) *row {
		for i := range rows {
			for _, sec := range sections {
				if rows[i].section == sec && contains(rows[i].names, name) {
					return &rows[i]
				}
			}
		}
		return nil
	}
	readByCode := map[string]bool{}
	check := func(who string, read map[string]config.Setting, sections ...string) {
		for _, name := range sortedKeys(read) {
			s := read[name]
			readByCode[name] = true
			r := find(name, sections...)
			if r == nil {
				t.Errorf("%s reads %s, which docs/settings.md does not list in %q", who, name, sections)
				continue
			}
			if !defaultShown(r.def, s) {
				want := "`" + s.Default + "`"
				if s.Required {
					want = "required"
				}
				t.Errorf("docs/settings.md:%d: %s's default is %s in %s's code; the page says %q", r.line, name, want, who, r.def)
			}
		}
	}
	every := readByEveryBinary(t)
	check("every binary", every, everyBinary)
	for _, b := range binaries {
		read := readSettings(b.load, b.modes)
		for name := range every {
			delete(read, name)
		}
		check(b.name, read, append(b.sections, sdkSection)...)
	}
	for name, files := range readDirectly(t) {
		readByCode[name] = true
		if find(name, sdkSection, everyBinary) == nil && !anyRowNames(rows, name) {
			t.Errorf("%v read %s, which docs/settings.md does not list", files, name)
		}
	}
	for _, r := range rows {
		if r.section == sdkSection {
			continue
		}
		for _, name := range r.names {
			if !readByCode[name] {
				t.Errorf("docs/settings.md:%d: %s (section %q) is read by no code", r.line, name, r.section)
			}
		}
	}
}

// The check above is proven: a setting the page lacks, a wrong default and
// a row nothing reads each fail it.
func TestSettingsCheckCatchesDrift(t *testing.T) {
	cases := []struct {
		cell string
		s    config.Setting
		want bool
	}{
		{"`:8080`", config.Setting{Name: "LISTEN_ADDR", Default: ":8080"}, true},
		{"`:3000`", config.Setting{Name: "LISTEN_ADDR", Default: ":8080"}, false},
		{"`5m`", config.Setting{Name: "VALIDATION_CACHE_TTL", Default: "5m0s"}, true},
		{"`1m`", config.Setting{Name: "TOKEN_LEEWAY", Default: "2m0s"}, false},
		{"required", config.Setting{Name: "TENANT_ID", Required: true}, true},
		{"unset", config.Setting{Name: "TENANT_ID", Required: true}, false},
		{"`api://<STS_APP_ID>`", config.Setting{Name: "STS_APP_URI", Default: "api://<STS_APP_ID>"}, true},
	}
	for _, c := range cases {
		if got := defaultShown(c.cell, c.s); got != c.want {
			t.Errorf("defaultShown(%q, %+v) = %v, want %v", c.cell, c.s, got, c.want)
		}
	}
	read := readSettings(func(r *config.Reader) {
		r.String("PLANTED_SETTING", "x")
		r.String("DERIVED", "api://"+r.GUID("PLANTED_ID"))
	}, []map[string]string{{}})
	if read["PLANTED_SETTING"].Default != "x" || read["DERIVED"].Default != "api://<PLANTED_ID>" || !read["PLANTED_ID"].Required {
		t.Errorf("readSettings = %+v", read)
	}
	if anyRowNames(documented(t), "PLANTED_SETTING") {
		t.Error("a planted setting is documented")
	}
}

func anyRowNames(rows []row, name string) bool {
	for _, r := range rows {
		if contains(r.names, name) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]config.Setting) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
