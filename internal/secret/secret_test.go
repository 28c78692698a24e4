package secret

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestNeverPrinted(t *testing.T) {
	const raw = "cloudsim-local-blueprint-secret-do-not-reuse"
	s := New(raw)
	holder := struct {
		Name   string
		Secret Value
		Ptr    *Value
	}{"blueprint", s, &s}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "secret", s, "holder", holder)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "secret", s, "holder", holder)
	js, _ := json.Marshal(holder)
	out := strings.Join([]string{
		fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q", holder, holder, holder, s, s), string(js), logs.String(),
	}, "\n")
	if strings.Contains(out, raw) {
		t.Fatalf("the secret was printed:\n%s", out)
	}
	if !strings.Contains(out, "[redacted]") {
		t.Fatalf("no redaction marker:\n%s", out)
	}
	if s.Reveal() != raw || s.IsZero() || !New("").IsZero() {
		t.Fatal("Reveal or IsZero is wrong")
	}
}
