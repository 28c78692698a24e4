// Package weather answers "what is the weather in this city" from Open-Meteo
// or from a built-in offline table, in explicit units (°F, mph, %).
package weather

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxCityLength bounds a city name in characters.
const MaxCityLength = 100

// DefaultCity is the city asked about when none is named.
const DefaultCity = "Seattle"

// ForecastDays is how many days a forecast covers.
const ForecastDays = 5

// Errors a Provider returns; the HTTP layer maps them to 400, 404 and 502.
var (
	ErrBadCity      = errors.New("bad city name")
	ErrCityNotFound = errors.New("city not found")
)

// UpstreamError is a failure of the weather service behind a provider.
type UpstreamError struct {
	Service string
	Err     error
}

func (e *UpstreamError) Error() string { return e.Service + ": " + e.Err.Error() }
func (e *UpstreamError) Unwrap() error { return e.Err }

// Place is a resolved city.
type Place struct {
	Name      string  `json:"city"`
	Region    string  `json:"region,omitempty"`
	Country   string  `json:"country,omitempty"`
	Latitude  float64 `json:"latitude"`
	Longitude float64 `json:"longitude"`
	Timezone  string  `json:"timezone"`
}

// Current is the weather now, in °F, % and mph.
type Current struct {
	Place
	Time         string  `json:"timestamp"` // RFC 3339, in the place's local offset
	TemperatureF float64 `json:"temperature"`
	HumidityPct  int     `json:"humidity"`
	WindMPH      float64 `json:"wind_speed"`
	Code         int     `json:"weather_code"`
	Condition    string  `json:"condition"`
	DataSource   string  `json:"data_source"`
}

// Day is one day of a forecast.
type Day struct {
	Date                string  `json:"date"` // YYYY-MM-DD, local
	Weekday             string  `json:"day"`
	HighF               float64 `json:"high"`
	LowF                float64 `json:"low"`
	Code                int     `json:"weather_code"`
	Condition           string  `json:"condition"`
	PrecipitationChance int     `json:"precipitation_chance"`
}

// Forecast is ForecastDays days starting today, local to the place.
type Forecast struct {
	Place
	Days       []Day  `json:"forecast"`
	DataSource string `json:"data_source"`
}

// Provider looks weather up by city name. City names are checked with
// CheckCity first.
type Provider interface {
	Current(ctx context.Context, city string) (*Current, error)
	Forecast(ctx context.Context, city string) (*Forecast, error)
}

// CheckCity refuses names no provider should be asked about.
func CheckCity(city string) error {
	city = strings.TrimSpace(city)
	switch {
	case city == "":
		return fmt.Errorf("%w: the city is empty", ErrBadCity)
	case !utf8.ValidString(city):
		return fmt.Errorf("%w: the city is not valid UTF-8", ErrBadCity)
	case utf8.RuneCountInString(city) > MaxCityLength:
		return fmt.Errorf("%w: the city is longer than %d characters", ErrBadCity, MaxCityLength)
	case strings.IndexFunc(city, unicode.IsControl) >= 0:
		return fmt.Errorf("%w: the city contains control characters", ErrBadCity)
	}
	return nil
}

// splitCity turns "Paris, France" into ("paris", "france"): the name to look
// up and an optional qualifier (country, country code or region).
func splitCity(city string) (name, qualifier string) {
	name, qualifier, _ = strings.Cut(city, ",")
	return normalize(name), normalize(qualifier)
}

// normalize lower-cases s and collapses its whitespace. A name already in
// that form, as most are, is returned without allocating.
func normalize(s string) string {
	if isNormal(s) {
		return s
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " "))
}

// appendNormal appends normalize(s) to dst for an ASCII s; ok is false,
// and dst unusable, for any other s.
func appendNormal(dst []byte, s string) (_ []byte, ok bool) {
	start, space := len(dst), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			return dst, false
		case c == ' ' || '\t' <= c && c <= '\r':
			space = len(dst) > start
			continue
		case 'A' <= c && c <= 'Z':
			c += 'a' - 'A'
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
	}
	return dst, true
}

func isNormal(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80, 'A' <= c && c <= 'Z', c < ' ':
			return false
		case c == ' ' && (i == 0 || i == len(s)-1 || s[i-1] == ' '):
			return false
		}
	}
	return true
}

// Condition is the WMO weather interpretation code's text, as Open-Meteo
// documents the codes.
func Condition(code int) string {
	if c, ok := wmoCodes[code]; ok {
		return c
	}
	return fmt.Sprintf("Unknown (WMO code %d)", code)
}

var wmoCodes = map[int]string{
	0: "Clear sky", 1: "Mainly clear", 2: "Partly cloudy", 3: "Overcast",
	45: "Fog", 48: "Depositing rime fog",
	51: "Light drizzle", 53: "Moderate drizzle", 55: "Dense drizzle",
	56: "Light freezing drizzle", 57: "Dense freezing drizzle",
	61: "Slight rain", 63: "Moderate rain", 65: "Heavy rain",
	66: "Light freezing rain", 67: "Heavy freezing rain",
	71: "Slight snow fall", 73: "Moderate snow fall", 75: "Heavy snow fall", 77: "Snow grains",
	80: "Slight rain showers", 81: "Moderate rain showers", 82: "Violent rain showers",
	85: "Slight snow showers", 86: "Heavy snow showers",
	95: "Thunderstorm", 96: "Thunderstorm with slight hail", 99: "Thunderstorm with heavy hail",
}
