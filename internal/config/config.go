// Package config reads a binary's settings from an injected getenv, so that
// each binary validates everything at start and tests never touch the process
// environment. A Reader collects every problem and reports them together, one
// line per setting, naming the setting.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Reader reads settings through getenv and remembers each problem it finds.
type Reader struct {
	getenv   func(string) string
	lookup   func(string) (string, bool)
	problems []error
	read     []Setting
}

// Setting is a setting a Reader was asked for, with the default it falls
// back to when unset, written as the setting would be ("" for none).
type Setting struct {
	Name     string
	Default  string
	Required bool
}

// Settings returns every setting read so far, in the order first read:
// what the binary reads, for the docs' settings check to compare with
// docs/settings.md.
func (r *Reader) Settings() []Setting {
	return append([]Setting(nil), r.read...)
}

func (r *Reader) note(name, def string, required bool) {
	for i, s := range r.read {
		if s.Name == name {
			if s.Default == "" {
				r.read[i].Default = def
			}
			r.read[i].Required = s.Required || required
			return
		}
	}
	r.read = append(r.read, Setting{Name: name, Default: def, Required: required})
}

// New returns a Reader over getenv (os.Getenv in main, a map in tests).
func New(getenv func(string) string) *Reader {
	return &Reader{getenv: getenv, lookup: func(k string) (string, bool) { v := getenv(k); return v, v != "" }}
}

// NewLookup returns a Reader over lookup (os.LookupEnv), which can also
// tell a setting set to empty from one not set at all; see StringOrOff.
func NewLookup(lookup func(string) (string, bool)) *Reader {
	return &Reader{getenv: func(k string) string { v, _ := lookup(k); return v }, lookup: lookup}
}

// StringOrOff returns the setting, def when it is not set, and "" when it
// is set to empty: for features a setting turns off (HEALTH_ADDR=).
func (r *Reader) StringOrOff(name, def string) string {
	r.note(name, def, false)
	v, ok := r.lookup(name)
	if !ok {
		return def
	}
	return strings.TrimSpace(v)
}

// Err returns every problem found so far, one per line, or nil.
func (r *Reader) Err() error {
	return errors.Join(r.problems...)
}

// Problem records a problem with a setting that the caller checked itself.
func (r *Reader) Problem(name, format string, args ...any) {
	p := fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	for _, q := range r.problems {
		if q.Error() == p.Error() {
			return // two parts of a binary read the same setting
		}
	}
	r.problems = append(r.problems, p)
}

func (r *Reader) raw(name string) string {
	return strings.TrimSpace(r.getenv(name))
}

// String returns the setting, or def when it is unset or blank.
func (r *Reader) String(name, def string) string {
	r.note(name, def, false)
	if v := r.raw(name); v != "" {
		return v
	}
	return def
}

// Required returns the setting and records a problem when it is missing.
func (r *Reader) Required(name string) string {
	r.note(name, "", true)
	v := r.raw(name)
	if v == "" {
		r.Problem(name, "is required")
	}
	return v
}

// FirstOf returns the first of names that is set, so an alias (for example
// AGENT_APP_ID for AGENT_CLIENT_ID) keeps working; empty when none is.
func (r *Reader) FirstOf(names ...string) string {
	for _, n := range names {
		r.note(n, "", false)
	}
	for _, n := range names {
		if v := r.raw(n); v != "" {
			return v
		}
	}
	return ""
}

var guidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// IsGUID reports whether s has the 8-4-4-4-12 hex form Entra uses for IDs.
func IsGUID(s string) bool { return guidPattern.MatchString(s) }

// GUID returns a required setting that must be a GUID (tenant and app IDs).
func (r *Reader) GUID(name string) string {
	v := r.Required(name)
	if v != "" && !IsGUID(v) {
		r.Problem(name, "%q is not a GUID (expected xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", v)
	}
	return strings.ToLower(v)
}

// Bool returns a true/false setting, or def when unset.
func (r *Reader) Bool(name string, def bool) bool {
	r.note(name, strconv.FormatBool(def), false)
	v := r.raw(name)
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		r.Problem(name, "%q is not true or false", v)
		return def
	}
	return b
}

// Duration returns a Go duration setting ("90s", "5m"), or def when unset.
func (r *Reader) Duration(name string, def time.Duration) time.Duration {
	r.note(name, def.String(), false)
	v := r.raw(name)
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil || d < 0 {
		r.Problem(name, "%q is not a duration such as 30s or 5m", v)
		return def
	}
	return d
}

// Int returns an integer setting within [min, max], or def when unset.
func (r *Reader) Int(name string, def, min, max int) int {
	r.note(name, strconv.Itoa(def), false)
	v := r.raw(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < min || n > max {
		r.Problem(name, "%q is not a whole number from %d to %d", v, min, max)
		return def
	}
	return n
}

// URL returns an absolute http(s) URL setting, or def when unset. With
// httpsOnly, plain http is refused (authority hosts: MSAL requires https).
func (r *Reader) URL(name, def string, httpsOnly bool) string {
	r.note(name, def, false)
	v := r.raw(name)
	if v == "" {
		v = def
	}
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	switch {
	case err != nil || u.Host == "":
		r.Problem(name, "%q is not an absolute URL", v)
	case httpsOnly && u.Scheme != "https":
		r.Problem(name, "%q must use https", v)
	case u.Scheme != "https" && u.Scheme != "http":
		r.Problem(name, "%q must use http or https", v)
	}
	return strings.TrimRight(v, "/")
}

// List returns a comma-separated setting as trimmed, non-empty items, or def.
func (r *Reader) List(name string, def []string) []string {
	r.note(name, strings.Join(def, ","), false)
	v := r.raw(name)
	if v == "" {
		return def
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

// OneOf returns a setting that must be one of allowed, or def when unset.
func (r *Reader) OneOf(name, def string, allowed ...string) string {
	v := r.String(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	r.Problem(name, "%q is not one of %s", v, strings.Join(allowed, ", "))
	return def
}
