package weatherapi

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"unicode/utf8"

	"github.com/crosscloud-agentid/agentid/internal/jwtauth"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// The two weather answers, which nearly every request gets, are encoded
// by hand: the very bytes json.Encoder writes for them (final newline
// included), without reflection, which took half the handler's time.
// TestAnswersEncodeAsEncodingJSON holds them to encoding/json over every
// offline city, and TestAnswerFieldsEncodeAsEncodingJSON over values set
// field by field by reflection, so a field added to weather.Current,
// weather.Forecast or jwtauth.Caller and not here fails a test rather
// than going missing from answers.

// encode appends the answer to buf as json.Encoder would.
func (a *currentAnswer) encode(buf *bytes.Buffer) error {
	if a.Current == nil { // no weather: nothing the server writes; a copy, so a stays on the stack
		return json.NewEncoder(buf).Encode(*a)
	}
	e := answerEncoder{b: buf.AvailableBuffer()}
	e.b = append(e.b, '{')
	e.place(&a.Place)
	c := a.Current
	e.str("timestamp", c.Time)
	e.float("temperature", c.TemperatureF)
	e.int("humidity", c.HumidityPct)
	e.float("wind_speed", c.WindMPH)
	e.int("weather_code", c.Code)
	e.str("condition", c.Condition)
	e.str("data_source", c.DataSource)
	e.str("temperature_unit", a.TemperatureUnit)
	e.str("humidity_unit", a.HumidityUnit)
	e.str("wind_unit", a.WindUnit)
	e.about(&a.about)
	e.b = append(e.b, '}', '\n')
	return e.flush(buf)
}

// encode appends the answer to buf as json.Encoder would.
func (a *forecastAnswer) encode(buf *bytes.Buffer) error {
	if a.Forecast == nil { // no weather: nothing the server writes; a copy, so a stays on the stack
		return json.NewEncoder(buf).Encode(*a)
	}
	e := answerEncoder{b: buf.AvailableBuffer()}
	e.b = append(e.b, '{')
	e.place(&a.Place)
	f := a.Forecast
	e.key("forecast")
	if f.Days == nil {
		e.b = append(e.b, "null"...)
	} else {
		e.b = append(e.b, '[')
		for i := range f.Days {
			if i > 0 {
				e.b = append(e.b, ',')
			}
			d := &f.Days[i]
			e.b = append(e.b, '{')
			e.first = true
			e.str("date", d.Date)
			e.str("day", d.Weekday)
			e.float("high", d.HighF)
			e.float("low", d.LowF)
			e.int("weather_code", d.Code)
			e.str("condition", d.Condition)
			e.int("precipitation_chance", d.PrecipitationChance)
			e.b = append(e.b, '}')
		}
		e.b = append(e.b, ']')
	}
	e.str("data_source", f.DataSource)
	e.str("temperature_unit", a.TemperatureUnit)
	e.about(&a.about)
	e.b = append(e.b, '}', '\n')
	return e.flush(buf)
}

// answerEncoder appends one JSON object's members to b.
type answerEncoder struct {
	b     []byte
	first bool  // the next member is the object's first
	err   error // a float JSON cannot hold, as json.UnsupportedValueError
}

func (e *answerEncoder) flush(buf *bytes.Buffer) error {
	if e.err != nil {
		return e.err
	}
	buf.Write(e.b)
	return nil
}

func (e *answerEncoder) place(p *weather.Place) {
	e.first = true
	e.str("city", p.Name)
	if p.Region != "" {
		e.str("region", p.Region)
	}
	if p.Country != "" {
		e.str("country", p.Country)
	}
	e.float("latitude", p.Latitude)
	e.float("longitude", p.Longitude)
	e.str("timezone", p.Timezone)
}

func (e *answerEncoder) about(a *about) {
	e.str("validated_by", a.ValidatedBy)
	e.str("agent_app_id", a.AgentAppID)
	e.bool("is_agent_identity", a.IsAgentIdentity)
	e.key("caller")
	c := a.Caller
	if c == nil {
		e.b = append(e.b, "null"...)
		return
	}
	e.b = append(e.b, '{')
	e.first = true
	e.caller(c)
	e.b = append(e.b, '}')
}

// caller is jwtauth.Caller's exported fields, in order, with their tags.
func (e *answerEncoder) caller(c *jwtauth.Caller) {
	e.str("app_id", c.AppID)
	e.str("token_version", c.TokenVersion)
	e.str("flow", c.Flow)
	if c.UserOID != "" {
		e.str("user_oid", c.UserOID)
	}
	if c.UserName != "" {
		e.str("user", c.UserName)
	}
	e.bool("agent_identity", c.AgentIdentity)
	if c.ParentBlueprint != "" {
		e.str("parent_blueprint", c.ParentBlueprint)
	}
	if len(c.Roles) > 0 {
		e.strs("roles", c.Roles)
	}
	if len(c.Scopes) > 0 {
		e.strs("scopes", c.Scopes)
	}
	if c.TokenID != "" {
		e.str("uti", c.TokenID)
	}
}

// key starts a member: the comma unless it is the first, and "name":.
// Names are this file's constants, which need no escaping.
func (e *answerEncoder) key(name string) {
	if !e.first {
		e.b = append(e.b, ',')
	}
	e.first = false
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

func (e *answerEncoder) str(name, v string) {
	e.key(name)
	e.b = appendJSONString(e.b, v)
}

func (e *answerEncoder) bool(name string, v bool) {
	e.key(name)
	e.b = strconv.AppendBool(e.b, v)
}

func (e *answerEncoder) int(name string, v int) {
	e.key(name)
	e.b = strconv.AppendInt(e.b, int64(v), 10)
}

func (e *answerEncoder) strs(name string, v []string) {
	e.key(name)
	e.b = append(e.b, '[')
	for i, s := range v {
		if i > 0 {
			e.b = append(e.b, ',')
		}
		e.b = appendJSONString(e.b, s)
	}
	e.b = append(e.b, ']')
}

// float is encoding/json's float64 encoding: the shortest repr, in
// exponent form only below 1e-6 or from 1e21, with a two-digit exponent
// trimmed as it does; NaN and infinities are refused.
func (e *answerEncoder) float(name string, f float64) {
	e.key(name)
	if math.IsNaN(f) || math.IsInf(f, 0) {
		if e.err == nil {
			e.err = &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
		}
		e.b = append(e.b, '0')
		return
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	e.b = strconv.AppendFloat(e.b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9
		if n := len(e.b); n >= 4 && e.b[n-4] == 'e' && e.b[n-3] == '-' && e.b[n-2] == '0' {
			e.b[n-2] = e.b[n-1]
			e.b = e.b[:n-1]
		}
	}
}

const hexDigits = "0123456789abcdef"

// jsonSafe holds the ASCII bytes a JSON string keeps as they are: not a
// control character, quote or backslash, nor <, > or &, which
// encoding/json escapes for HTML.
var jsonSafe = func() (safe [utf8.RuneSelf]bool) {
	for c := byte(0x20); c < utf8.RuneSelf; c++ {
		safe[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return safe
}()

// appendJSONString is encoding/json's string encoding with its default
// HTML escaping: <, > and & as \u003c, \u003e and \u0026, control
// characters escaped, invalid UTF-8 as \ufffd, and U+2028 and U+2029
// escaped for JavaScript.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if jsonSafe[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
