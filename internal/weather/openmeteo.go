package weather

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Open-Meteo's public endpoints; no key is needed.
const (
	OpenMeteoGeocodingURL = "https://geocoding-api.open-meteo.com/v1/search"
	OpenMeteoForecastURL  = "https://api.open-meteo.com/v1/forecast"
)

const maxUpstreamBytes = 1 << 20

// OpenMeteo resolves a city with Open-Meteo's geocoding API, then asks its
// forecast API for current conditions and a daily forecast in one call, in
// °F and mph. Answers are cached briefly so a busy agent does not turn every
// question into two upstream calls.
type OpenMeteo struct {
	Client       *http.Client // its Timeout bounds each upstream call
	GeocodingURL string
	ForecastURL  string
	PlaceTTL     time.Duration // resolved (or unknown) city names
	WeatherTTL   time.Duration // forecasts; Open-Meteo updates current data every 15 minutes
	Now          func() time.Time

	places  ttlCache[placeKey, placeResult]
	reports ttlCache[string, *report]
}

// NewOpenMeteo returns a provider with Open-Meteo's public URLs, a 5 s
// timeout, a day-long place cache and a 10-minute weather cache.
func NewOpenMeteo(client *http.Client) *OpenMeteo {
	if client == nil {
		client = &http.Client{Timeout: 5 * time.Second}
	}
	return &OpenMeteo{
		Client:       client,
		GeocodingURL: OpenMeteoGeocodingURL,
		ForecastURL:  OpenMeteoForecastURL,
		PlaceTTL:     24 * time.Hour,
		WeatherTTL:   10 * time.Minute,
	}
}

// placeKey is a looked-up name and its qualifier, as splitCity gives them.
type placeKey struct{ name, qualifier string }

type placeResult struct {
	place Place
	found bool
	// reportKey is the place's coordinates, which key its reports: two
	// names for one place share them. Computed once, not per request.
	reportKey string
}

// report is one forecast call's answer, shared by Current and Forecast.
type report struct {
	current Current
	days    []Day
}

// Current implements Provider.
func (o *OpenMeteo) Current(ctx context.Context, city string) (*Current, error) {
	r, err := o.report(ctx, city)
	if err != nil {
		return nil, err
	}
	c := r.current
	return &c, nil
}

// Forecast implements Provider.
func (o *OpenMeteo) Forecast(ctx context.Context, city string) (*Forecast, error) {
	r, err := o.report(ctx, city)
	if err != nil {
		return nil, err
	}
	return &Forecast{Place: r.current.Place, Days: append([]Day(nil), r.days...), DataSource: "Open-Meteo API (daily forecast)"}, nil
}

func (o *OpenMeteo) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

func (o *OpenMeteo) report(ctx context.Context, city string) (*report, error) {
	place, err := o.place(ctx, city)
	if err != nil {
		return nil, err
	}
	key := place.reportKey
	if r, ok := o.reports.get(key, o.now()); ok {
		return r, nil
	}
	r, err := o.fetchReport(ctx, place.place)
	if err != nil {
		return nil, err
	}
	o.reports.put(key, r, o.now(), o.WeatherTTL)
	return r, nil
}

func (o *OpenMeteo) place(ctx context.Context, city string) (placeResult, error) {
	name, qualifier := splitCity(city)
	key := placeKey{name, qualifier}
	res, ok := o.places.get(key, o.now())
	if !ok {
		var err error
		if res, err = o.geocode(ctx, name, qualifier); err != nil {
			return placeResult{}, err
		}
		o.places.put(key, res, o.now(), o.PlaceTTL)
	}
	if !res.found {
		return placeResult{}, fmt.Errorf("%w: Open-Meteo's geocoding knows no city named %q", ErrCityNotFound, city)
	}
	return res, nil
}

type geocodingAnswer struct {
	Results []struct {
		Name        string  `json:"name"`
		Latitude    float64 `json:"latitude"`
		Longitude   float64 `json:"longitude"`
		Timezone    string  `json:"timezone"`
		Country     string  `json:"country"`
		CountryCode string  `json:"country_code"`
		Admin1      string  `json:"admin1"`
	} `json:"results"`
}

func (o *OpenMeteo) geocode(ctx context.Context, name, qualifier string) (placeResult, error) {
	q := url.Values{"name": {name}, "count": {"1"}, "language": {"en"}, "format": {"json"}}
	if qualifier != "" {
		q.Set("count", "10") // pick the first match in the named country or region
	}
	var ans geocodingAnswer
	if err := o.getJSON(ctx, "Open-Meteo geocoding", o.GeocodingURL, q, &ans); err != nil {
		return placeResult{}, err
	}
	for _, r := range ans.Results {
		if qualifier != "" && qualifier != normalize(r.Country) && qualifier != normalize(r.CountryCode) && qualifier != normalize(r.Admin1) {
			continue
		}
		return placeResult{found: true, place: Place{
			Name: r.Name, Region: r.Admin1, Country: r.Country,
			Latitude: r.Latitude, Longitude: r.Longitude, Timezone: r.Timezone,
		}, reportKey: strconv.FormatFloat(r.Latitude, 'f', 4, 64) + "," + strconv.FormatFloat(r.Longitude, 'f', 4, 64)}, nil
	}
	return placeResult{}, nil
}

type forecastAnswer struct {
	UTCOffsetSeconds int               `json:"utc_offset_seconds"`
	Timezone         string            `json:"timezone"`
	CurrentUnits     map[string]string `json:"current_units"`
	Current          struct {
		Time        string   `json:"time"`
		Temperature *float64 `json:"temperature_2m"`
		Humidity    *float64 `json:"relative_humidity_2m"`
		Code        *int     `json:"weather_code"`
		Wind        *float64 `json:"wind_speed_10m"`
	} `json:"current"`
	DailyUnits map[string]string `json:"daily_units"`
	Daily      struct {
		Time   []string   `json:"time"`
		Code   []*int     `json:"weather_code"`
		High   []*float64 `json:"temperature_2m_max"`
		Low    []*float64 `json:"temperature_2m_min"`
		Precip []*float64 `json:"precipitation_probability_max"`
	} `json:"daily"`
}

// The units asked for, as Open-Meteo labels them in its answer. Anything
// else is refused rather than relabelled (the sample reported km/h as mph).
var wantUnits = map[string]map[string]string{
	"current": {"temperature_2m": "°F", "relative_humidity_2m": "%", "wind_speed_10m": "mp/h"},
	"daily":   {"temperature_2m_max": "°F", "temperature_2m_min": "°F"},
}

func (o *OpenMeteo) fetchReport(ctx context.Context, p Place) (*report, error) {
	tz := p.Timezone
	if tz == "" {
		tz = "auto"
	}
	q := url.Values{
		"latitude":         {strconv.FormatFloat(p.Latitude, 'f', 4, 64)},
		"longitude":        {strconv.FormatFloat(p.Longitude, 'f', 4, 64)},
		"current":          {"temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m"},
		"daily":            {"weather_code,temperature_2m_max,temperature_2m_min,precipitation_probability_max"},
		"temperature_unit": {"fahrenheit"},
		"wind_speed_unit":  {"mph"},
		"timezone":         {tz},
		"forecast_days":    {strconv.Itoa(ForecastDays)},
	}
	const service = "Open-Meteo forecast"
	var ans forecastAnswer
	if err := o.getJSON(ctx, service, o.ForecastURL, q, &ans); err != nil {
		return nil, err
	}
	bad := func(format string, args ...any) error {
		return &UpstreamError{Service: service, Err: fmt.Errorf(format, args...)}
	}
	for field, want := range wantUnits["current"] {
		if got := ans.CurrentUnits[field]; got != want {
			return nil, bad("current %s is in %q, not %q", field, got, want)
		}
	}
	for field, want := range wantUnits["daily"] {
		if got := ans.DailyUnits[field]; got != want {
			return nil, bad("daily %s is in %q, not %q", field, got, want)
		}
	}
	cur := ans.Current
	if cur.Temperature == nil || cur.Humidity == nil || cur.Code == nil || cur.Wind == nil {
		return nil, bad("the answer lacks current conditions")
	}
	if p.Timezone == "" {
		p.Timezone = ans.Timezone
	}
	zone := time.FixedZone(ans.Timezone, ans.UTCOffsetSeconds)
	observed, err := time.ParseInLocation("2006-01-02T15:04", cur.Time, zone)
	if err != nil {
		return nil, bad("the current time %q is not ISO 8601", cur.Time)
	}
	r := &report{current: Current{
		Place:        p,
		Time:         observed.Format(time.RFC3339),
		TemperatureF: round1(*cur.Temperature),
		HumidityPct:  int(math.Round(*cur.Humidity)),
		WindMPH:      round1(*cur.Wind),
		Code:         *cur.Code,
		Condition:    Condition(*cur.Code),
		DataSource:   "Open-Meteo API (real-time)",
	}}
	d := ans.Daily
	n := len(d.Time)
	if n < ForecastDays || len(d.Code) != n || len(d.High) != n || len(d.Low) != n || len(d.Precip) != n {
		return nil, bad("the daily forecast has %d days or ragged arrays", n)
	}
	for i := range ForecastDays {
		date, err := time.Parse(time.DateOnly, d.Time[i])
		if err != nil || d.Code[i] == nil || d.High[i] == nil || d.Low[i] == nil {
			return nil, bad("day %d of the forecast is incomplete", i+1)
		}
		day := Day{
			Date: d.Time[i], Weekday: date.Weekday().String(),
			HighF: round1(*d.High[i]), LowF: round1(*d.Low[i]),
			Code: *d.Code[i], Condition: Condition(*d.Code[i]),
		}
		if d.Precip[i] != nil { // null where the model has no probability
			day.PrecipitationChance = int(math.Round(*d.Precip[i]))
		}
		r.days = append(r.days, day)
	}
	return r, nil
}

// getJSON fetches u?q into v. Every failure is an *UpstreamError.
func (o *OpenMeteo) getJSON(ctx context.Context, service, u string, q url.Values, v any) error {
	fail := func(err error) error { return &UpstreamError{Service: service, Err: err} }
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u+"?"+q.Encode(), nil)
	if err != nil {
		return fail(err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := o.Client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the service name says where; the URL adds nothing
		}
		return fail(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxUpstreamBytes))
	if err != nil {
		return fail(fmt.Errorf("reading the answer: %w", err))
	}
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Reason string `json:"reason"`
		}
		_ = json.Unmarshal(body, &e)
		if e.Reason != "" {
			return fail(fmt.Errorf("HTTP %d: %s", resp.StatusCode, e.Reason))
		}
		return fail(fmt.Errorf("HTTP %d", resp.StatusCode))
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fail(fmt.Errorf("the answer is not the expected JSON: %w", err))
	}
	return nil
}

func round1(f float64) float64 { return math.Round(f*10) / 10 }

// ttlCache is a small map with expiry. It is bounded: when full, expired
// entries go first, then arbitrary ones (map order), which is enough for a
// cache whose misses cost one upstream call.
type ttlCache[K comparable, V any] struct {
	mu      sync.Mutex
	entries map[K]ttlEntry[V]
}

type ttlEntry[V any] struct {
	value   V
	expires time.Time
}

const maxCacheEntries = 1024

func (c *ttlCache[K, V]) get(key K, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok || !now.Before(e.expires) {
		var zero V
		return zero, false
	}
	return e.value, true
}

func (c *ttlCache[K, V]) put(key K, v V, now time.Time, ttl time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[K]ttlEntry[V]{}
	}
	if len(c.entries) >= maxCacheEntries {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < maxCacheEntries {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[key] = ttlEntry[V]{value: v, expires: now.Add(ttl)}
}
