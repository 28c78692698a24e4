package logging

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/config"
)

func TestNew(t *testing.T) {
	tests := []struct {
		env       map[string]string
		wantDebug bool
		wantJSON  bool
		wantErr   string
	}{
		{env: nil},
		{env: map[string]string{"LOG_LEVEL": "debug", "LOG_FORMAT": "json"}, wantDebug: true, wantJSON: true},
		{env: map[string]string{"LOG_LEVEL": "loud"}, wantErr: `LOG_LEVEL: "loud" is not one of debug, info, warn, error`},
		{env: map[string]string{"LOG_FORMAT": "xml"}, wantErr: "LOG_FORMAT"},
	}
	for _, tt := range tests {
		r := config.New(func(k string) string { return tt.env[k] })
		var buf bytes.Buffer
		log := New(r, &buf)
		if err := r.Err(); tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%v: err = %v, want %q", tt.env, err, tt.wantErr)
			}
			continue
		} else if err != nil {
			t.Fatalf("%v: %v", tt.env, err)
		}
		log.Debug("d")
		log.Info("i")
		if got := strings.Contains(buf.String(), "msg=d") || strings.Contains(buf.String(), `"msg":"d"`); got != tt.wantDebug {
			t.Errorf("%v: debug logged = %v\n%s", tt.env, got, buf.String())
		}
		line, _, _ := strings.Cut(buf.String(), "\n")
		if got := json.Valid([]byte(line)); got != tt.wantJSON {
			t.Errorf("%v: JSON = %v: %s", tt.env, got, line)
		}
	}
}
