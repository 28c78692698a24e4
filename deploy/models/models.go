// Package models is the one place the project keeps Bedrock model facts:
// the default model (default.env, which the scripts read too) and each
// model's lifecycle per Region (lifecycle.tsv). llm-agent takes its default
// and its end-of-life warning from here; cloudsim's Bedrock refuses a model
// past its end of life from the same table, as Bedrock does.
package models

import (
	_ "embed"
	"fmt"
	"strings"
	"time"
)

//go:embed default.env
var defaultEnv string

//go:embed lifecycle.tsv
var lifecycleTSV string

// DefaultID is the inference profile llm-agent and the deploy scripts use
// when BEDROCK_MODEL_ID is unset.
var DefaultID = mustDefault(defaultEnv)

// State is a model's lifecycle state in a Region, as Bedrock names them
// ("Model lifecycle", Bedrock User Guide).
type State string

const (
	Active    State = "Active"
	Legacy    State = "Legacy"
	EndOfLife State = "EOL"
)

// Status is a model's lifecycle in one Region at one time.
type Status struct {
	Model  string // the foundation model the ID names
	State  State
	Legacy time.Time // when it entered Legacy; zero if unknown or never
	EOL    time.Time // its end of life; zero if none is set
	Source string
}

type row struct {
	legacy, eol time.Time
	source      string
}

// table is lifecycle.tsv: model → Region ("*" for the rest) → row.
var table, asOf = mustTable(lifecycleTSV)

// AsOf is the date the table was last checked against its sources: tests
// judge the default by it, never by the wall clock.
func AsOf() time.Time { return asOf }

// FoundationModel returns the foundation model an ID names: an inference
// profile ID (us.anthropic.…), a profile or foundation-model ARN, or the
// model ID itself.
func FoundationModel(id string) string {
	if i := strings.LastIndexByte(id, '/'); i >= 0 && strings.HasPrefix(id, "arn:") {
		id = id[i+1:]
	}
	// A cross-Region inference profile is the model ID behind a
	// geography prefix ("Supported Regions and models for inference
	// profiles", Bedrock User Guide).
	if geo, rest, ok := strings.Cut(id, "."); ok {
		switch geo {
		case "us", "us-gov", "eu", "apac", "jp", "au", "ca", "global":
			return rest
		}
	}
	return id
}

// Lifecycle returns the model's state in region at now.
func Lifecycle(id, region string, now time.Time) Status {
	model := FoundationModel(id)
	st := Status{Model: model, State: Active}
	byRegion, ok := table[model]
	if !ok {
		return st
	}
	r, ok := byRegion[region]
	if !ok {
		r, ok = byRegion["*"]
	}
	if !ok {
		return st
	}
	st.Legacy, st.EOL, st.Source = r.legacy, r.eol, r.source
	switch {
	case !r.eol.IsZero() && !now.Before(r.eol):
		st.State = EndOfLife
	case !r.legacy.IsZero() && !now.Before(r.legacy):
		st.State = Legacy
	}
	return st
}

func mustDefault(env string) string {
	for _, line := range strings.Split(env, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "BEDROCK_MODEL_ID="); ok && v != "" {
			return v
		}
	}
	panic("deploy/models/default.env sets no BEDROCK_MODEL_ID")
}

func mustTable(tsv string) (map[string]map[string]row, time.Time) {
	t, date, err := parseTable(tsv)
	if err != nil {
		panic("deploy/models/lifecycle.tsv: " + err.Error())
	}
	return t, date
}

func parseTable(tsv string) (map[string]map[string]row, time.Time, error) {
	out := map[string]map[string]row{}
	var date time.Time
	for n, line := range strings.Split(tsv, "\n") {
		if d, ok := strings.CutPrefix(line, "# as of "); ok {
			var err error
			if date, err = time.Parse(time.DateOnly, strings.TrimSpace(d)); err != nil {
				return nil, date, fmt.Errorf("line %d: %v", n+1, err)
			}
			continue
		}
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Split(line, "\t")
		if len(f) != 5 {
			return nil, date, fmt.Errorf("line %d: %d fields, want 5 (model, region, legacy, eol, source)", n+1, len(f))
		}
		var r row
		for i, p := range []*time.Time{&r.legacy, &r.eol} {
			if f[2+i] == "-" {
				continue
			}
			d, err := time.Parse(time.DateOnly, f[2+i])
			if err != nil {
				return nil, date, fmt.Errorf("line %d: %v", n+1, err)
			}
			*p = d
		}
		r.source = f[4]
		if out[f[0]] == nil {
			out[f[0]] = map[string]row{}
		}
		if _, dup := out[f[0]][f[1]]; dup {
			return nil, date, fmt.Errorf("line %d: %s in %s twice", n+1, f[0], f[1])
		}
		out[f[0]][f[1]] = r
	}
	if date.IsZero() {
		return nil, date, fmt.Errorf(`no "# as of YYYY-MM-DD" line`)
	}
	return out, date, nil
}
