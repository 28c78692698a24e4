package weatherapi

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// encodingJSON is what the answers were before they encoded themselves.
func encodingJSON(v any) (string, error) {
	var buf bytes.Buffer
	err := json.NewEncoder(&buf).Encode(v)
	return buf.String(), err
}

// byHand is an answer's own encoding, after what the buffer already held.
func byHand(t *testing.T, v any) (string, error) {
	t.Helper()
	var buf bytes.Buffer
	buf.WriteString("held")
	var err error
	switch a := v.(type) {
	case *currentAnswer:
		err = a.encode(&buf)
	case *forecastAnswer:
		err = a.encode(&buf)
	default:
		t.Fatalf("%T encodes with encoding/json", v)
	}
	out, ok := strings.CutPrefix(buf.String(), "held")
	if !ok {
		t.Fatalf("the encoding overwrote what the buffer held: %q", buf.String())
	}
	return out, err
}

func sameAsEncodingJSON(t *testing.T, what string, v any) {
	t.Helper()
	want, wantErr := encodingJSON(v)
	got, err := byHand(t, v)
	if (err != nil) != (wantErr != nil) {
		t.Fatalf("%s: error %v, encoding/json's %v", what, err, wantErr)
	}
	if err == nil && got != want {
		t.Fatalf("%s:\n got %s\nwant %s", what, got, want)
	}
}

var (
	answerCallers = []*jwtauth.Caller{
		{AppID: "5b4418ec-1653-479f-96f7-3f28255917c7", TokenVersion: "2.0", Flow: "app", AgentIdentity: true,
			ParentBlueprint: "6a7f0937-6749-4a53-b866-c424b6e0824d", Roles: []string{"Weather.Read"}, TokenID: "Vj3Lr8f2RkqgM0Ya1bCdEw"},
		{AppID: "1f0e0c4e-8a43-4c34-9a3c-0c4b0b6b3b7a", TokenVersion: "1.0", Flow: "agent_user", UserOID: "0f4c2a1e-5b6d-4e7f-8a9b-0c1d2e3f4a5b",
			UserName: "Ada <ada@contoso.example>", Scopes: []string{"Weather.Read", "openid"}, Roles: []string{}},
		{},
		nil,
	}
	validatedBys = []string{
		"Entra access token (signature, issuer, audience, lifetime, tenant, caller and permission checked)",
		"Entra access token WITHOUT signature verification (VALIDATE_TOKEN_SIGNATURE=false)",
	}
)

// Every offline city's answers, at the golden file's times, for callers of
// every flow: byte for byte what encoding/json wrote.
func TestAnswersEncodeAsEncodingJSON(t *testing.T) {
	f, err := os.Open(filepath.Join("..", "weather", "testdata", "offline-golden.json"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	lines := bufio.NewScanner(f)
	lines.Buffer(nil, 1<<20)
	n := 0
	for lines.Scan() {
		line := lines.Bytes()
		for i, c := range answerCallers {
			ab := about{ValidatedBy: validatedBys[i%2], Caller: c}
			if c != nil {
				ab.AgentAppID, ab.IsAgentIdentity = c.AppID, c.AgentIdentity
			}
			if bytes.Contains(line, []byte(`"forecast":`)) {
				var fc weather.Forecast
				if err := json.Unmarshal(line, &fc); err != nil {
					t.Fatal(err)
				}
				sameAsEncodingJSON(t, string(line), &forecastAnswer{Forecast: &fc, TemperatureUnit: "F", about: ab})
			} else {
				var cur weather.Current
				if err := json.Unmarshal(line, &cur); err != nil {
					t.Fatal(err)
				}
				sameAsEncodingJSON(t, string(line), &currentAnswer{Current: &cur, TemperatureUnit: "F", HumidityUnit: "%", WindUnit: "mph", about: ab})
			}
		}
		n++
	}
	if err := lines.Err(); err != nil || n < 100 {
		t.Fatalf("read %d golden answers: %v", n, err)
	}
}

// Every field of the answers, filled in by reflection with strings that
// need escaping and floats at encoding/json's format boundaries, and left
// empty: a field the hand encoding lacks (one added to weather.Current,
// say) makes the outputs differ here.
func TestAnswerFieldsEncodeAsEncodingJSON(t *testing.T) {
	for seed := range 40 {
		fill := filler{seed: seed}
		cur := &currentAnswer{}
		fill.value(reflect.ValueOf(cur).Elem())
		sameAsEncodingJSON(t, "current", cur)
		fc := &forecastAnswer{}
		fill.value(reflect.ValueOf(fc).Elem())
		sameAsEncodingJSON(t, "forecast", fc)
	}
	// Empty answers, an empty and a missing forecast, and no weather at all.
	sameAsEncodingJSON(t, "empty current", &currentAnswer{Current: &weather.Current{}})
	sameAsEncodingJSON(t, "empty forecast", &forecastAnswer{Forecast: &weather.Forecast{Days: []weather.Day{}}})
	sameAsEncodingJSON(t, "null forecast", &forecastAnswer{Forecast: &weather.Forecast{}})
	sameAsEncodingJSON(t, "no current", &currentAnswer{})
	sameAsEncodingJSON(t, "no forecast", &forecastAnswer{})
	// A float JSON cannot hold is refused by both.
	for _, bad := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		sameAsEncodingJSON(t, "unencodable", &currentAnswer{Current: &weather.Current{TemperatureF: bad}})
		sameAsEncodingJSON(t, "unencodable", &forecastAnswer{Forecast: &weather.Forecast{Days: []weather.Day{{LowF: bad}}}})
	}
}

// filler sets every settable field it reaches to a value picked by seed.
type filler struct {
	seed, n int
}

var (
	fillStrings = []string{"Seattle", "", "São Paulo, 日本 🌧", `quote " and back\slash`, "<b>&amp;</b>", "\x00\x01\x1f\x7f ctl",
		"\b\f\n\r\t", "bad \xff\xfe utf-8", "cut \xe2\x80", "line\u2028para\u2029end", "é"}
	fillFloats = []float64{0, 47.6062, -122.3321, 0.1, 1e-6, 9.99e-7, 1e-7, -3.5e-9, 1e20, 1e21, 123456789.125, 5e-324,
		math.MaxFloat64, math.Copysign(0, -1), 100, 1e-10}
	fillInts = []int{0, 1, -1, 95, math.MaxInt64, math.MinInt64}
)

func (f *filler) pick(n int) int {
	f.n++
	return (f.seed*7 + f.n*13) % n
}

func (f *filler) value(v reflect.Value) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(fillStrings[f.pick(len(fillStrings))])
	case reflect.Float64:
		v.SetFloat(fillFloats[f.pick(len(fillFloats))])
	case reflect.Int:
		v.SetInt(int64(fillInts[f.pick(len(fillInts))]))
	case reflect.Bool:
		v.SetBool(f.pick(2) == 1)
	case reflect.Pointer:
		if f.pick(8) == 0 && v.Type().Elem() == reflect.TypeFor[jwtauth.Caller]() {
			return // no caller, now and then
		}
		v.Set(reflect.New(v.Type().Elem()))
		f.value(v.Elem())
	case reflect.Slice:
		n := f.pick(4) // 0 is nil or empty
		if n == 0 && f.pick(2) == 0 {
			return
		}
		v.Set(reflect.MakeSlice(v.Type(), n, n))
		for i := range n {
			f.value(v.Index(i))
		}
	case reflect.Struct:
		for i := range v.NumField() {
			// An embedded unexported struct (about) is not settable, but
			// its exported fields are, and encoding/json writes them.
			if fv := v.Field(i); fv.CanSet() || v.Type().Field(i).Anonymous && fv.Kind() == reflect.Struct {
				f.value(fv)
			}
		}
	default:
		panic("filler: no values for " + v.Type().String())
	}
}
