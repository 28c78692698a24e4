package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestReaderReportsEveryProblemByName(t *testing.T) {
	r := New(env(map[string]string{
		"TENANT_ID":   "not-a-guid",
		"FLAG":        "maybe",
		"WAIT":        "soon",
		"COUNT":       "99",
		"HOST":        "http://example.test",
		"MODE":        "other",
		"EMPTY_SPACE": "   ",
	}))
	r.GUID("TENANT_ID")
	r.Required("MISSING")
	r.Required("EMPTY_SPACE")
	r.Bool("FLAG", false)
	r.Duration("WAIT", time.Second)
	r.Int("COUNT", 1, 1, 10)
	r.URL("HOST", "", true)
	r.OneOf("MODE", "a", "a", "b")

	err := r.Err()
	if err == nil {
		t.Fatal("expected problems")
	}
	lines := strings.Split(err.Error(), "\n")
	want := []string{
		`TENANT_ID: "not-a-guid" is not a GUID`,
		`MISSING: is required`,
		`EMPTY_SPACE: is required`,
		`FLAG: "maybe" is not true or false`,
		`WAIT: "soon" is not a duration`,
		`COUNT: "99" is not a whole number from 1 to 10`,
		`HOST: "http://example.test" must use https`,
		`MODE: "other" is not one of a, b`,
	}
	if len(lines) != len(want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(lines), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d = %q, want prefix %q", i, lines[i], w)
		}
	}
}

func TestReaderDefaultsAndValues(t *testing.T) {
	r := New(env(map[string]string{
		"GUID":  "AAAAAAAA-bbbb-cccc-dddd-eeeeeeeeeeee",
		"LIST":  " a, ,b ,",
		"URL":   "https://host.example/path/",
		"ALIAS": "second",
		"N":     "7",
		"D":     "90s",
		"B":     "true",
	}))
	cases := []struct {
		name string
		got  any
		want any
	}{
		{"guid lower-cased", r.GUID("GUID"), "aaaaaaaa-bbbb-cccc-dddd-eeeeeeeeeeee"},
		{"string default", r.String("UNSET", "def"), "def"},
		{"list trimmed", strings.Join(r.List("LIST", nil), "|"), "a|b"},
		{"list default", strings.Join(r.List("UNSET", []string{"x"}), "|"), "x"},
		{"url trailing slash dropped", r.URL("URL", "", true), "https://host.example/path"},
		{"url default", r.URL("UNSET", "https://d.example", true), "https://d.example"},
		{"alias", r.FirstOf("PRIMARY", "ALIAS"), "second"},
		{"int", r.Int("N", 1, 0, 10), 7},
		{"duration", r.Duration("D", 0), 90 * time.Second},
		{"bool", r.Bool("B", false), true},
		{"bool default", r.Bool("UNSET", true), true},
		{"oneof default", r.OneOf("UNSET", "b", "a", "b"), "b"},
	}
	for _, c := range cases {
		if c.got != c.want {
			t.Errorf("%s: got %v, want %v", c.name, c.got, c.want)
		}
	}
	if err := r.Err(); err != nil {
		t.Fatalf("unexpected problems: %v", err)
	}
}

func TestStringOrOff(t *testing.T) {
	env := map[string]string{"OFF": "", "ON": " :9000 "}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	r := NewLookup(lookup)
	if got := r.StringOrOff("OFF", ":8081"); got != "" {
		t.Errorf("set to empty: %q, want off", got)
	}
	if got := r.StringOrOff("ON", ":8081"); got != ":9000" {
		t.Errorf("set: %q", got)
	}
	if got := r.StringOrOff("UNSET", ":8081"); got != ":8081" {
		t.Errorf("unset: %q, want the default", got)
	}
	if got := r.String("ON", ""); got != ":9000" {
		t.Errorf("String over a lookup: %q", got)
	}
	// A plain getenv cannot tell empty from unset: the default wins.
	if got := New(func(k string) string { return env[k] }).StringOrOff("OFF", ":8081"); got != ":8081" {
		t.Errorf("getenv reader: %q", got)
	}
}

// Settings lists what was read, once each, with the default as the
// setting would be written: what docs/settings.md is checked against.
func TestSettingsListsWhatWasRead(t *testing.T) {
	r := New(func(string) string { return "" })
	r.String("A", "x")
	r.Required("B")
	r.Bool("C", true)
	r.Duration("D", 5*time.Minute)
	r.Int("E", 8, 1, 10)
	r.FirstOf("F", "G")
	r.String("A", "y")
	r.OneOf("H", "info", "info", "debug")
	want := []Setting{
		{Name: "A", Default: "x"}, {Name: "B", Required: true}, {Name: "C", Default: "true"},
		{Name: "D", Default: "5m0s"}, {Name: "E", Default: "8"}, {Name: "F"}, {Name: "G"}, {Name: "H", Default: "info"},
	}
	if got := r.Settings(); !reflect.DeepEqual(got, want) {
		t.Errorf("Settings() = %+v, want %+v", got, want)
	}
}
