package weather

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// fakeOpenMeteo serves recorded Open-Meteo answers and checks the requests.
type fakeOpenMeteo struct {
	t         *testing.T
	geocoding atomic.Int32
	forecasts atomic.Int32
	forecast  string // testdata file for /v1/forecast
	status    int    // forecast status when not 200
}

func (f *fakeOpenMeteo) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	switch r.URL.Path {
	case "/v1/search":
		f.geocoding.Add(1)
		file := map[string]string{"seattle": "geocoding-seattle.json", "paris": "geocoding-paris.json"}[q.Get("name")]
		if file == "" {
			file = "geocoding-none.json"
		}
		if q.Get("language") != "en" || q.Get("count") == "" {
			f.t.Errorf("geocoding query %q lacks language or count", r.URL.RawQuery)
		}
		serveFile(f.t, w, http.StatusOK, file)
	case "/v1/forecast":
		f.forecasts.Add(1)
		for k, want := range map[string]string{
			"temperature_unit": "fahrenheit", "wind_speed_unit": "mph", "forecast_days": "5",
			"current": "temperature_2m,relative_humidity_2m,weather_code,wind_speed_10m",
		} {
			if got := q.Get(k); got != want {
				f.t.Errorf("forecast %s = %q, want %q", k, got, want)
			}
		}
		if f.status != 0 {
			serveFile(f.t, w, f.status, "error-400.json")
			return
		}
		serveFile(f.t, w, http.StatusOK, f.forecast)
	default:
		http.NotFound(w, r)
	}
}

func serveFile(t *testing.T, w http.ResponseWriter, status int, name string) {
	body, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	w.Write(body)
}

func newOpenMeteo(t *testing.T, fake *fakeOpenMeteo) (*OpenMeteo, *time.Time) {
	fake.t = t
	if fake.forecast == "" {
		fake.forecast = "forecast-seattle.json"
	}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	o := NewOpenMeteo(srv.Client())
	o.GeocodingURL, o.ForecastURL = srv.URL+"/v1/search", srv.URL+"/v1/forecast"
	now := time.Date(2026, 11, 24, 2, 20, 0, 0, time.UTC)
	o.Now = func() time.Time { return now }
	return o, &now
}

func TestOpenMeteoCurrentAndForecast(t *testing.T) {
	fake := &fakeOpenMeteo{}
	o, _ := newOpenMeteo(t, fake)
	ctx := context.Background()
	cur, err := o.Current(ctx, "Seattle")
	if err != nil {
		t.Fatal(err)
	}
	want := Current{
		Place: Place{Name: "Seattle", Region: "Washington", Country: "United States",
			Latitude: 47.60621, Longitude: -122.33207, Timezone: "America/Los_Angeles"},
		Time: "2026-11-23T18:15:00-08:00", TemperatureF: 46.4, HumidityPct: 87, WindMPH: 7.9,
		Code: 61, Condition: "Slight rain", DataSource: "Open-Meteo API (real-time)",
	}
	if *cur != want {
		t.Errorf("Current:\n got %+v\nwant %+v", *cur, want)
	}
	f, err := o.Forecast(ctx, "seattle")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Days) != 5 || f.Days[1] != (Day{Date: "2026-11-24", Weekday: "Tuesday", HighF: 48.2, LowF: 40.9, Code: 63, Condition: "Moderate rain", PrecipitationChance: 92}) {
		t.Errorf("Forecast days: %+v", f.Days)
	}
	if f.Days[3].PrecipitationChance != 0 {
		t.Errorf("a null probability became %d", f.Days[3].PrecipitationChance)
	}
	if g, n := fake.geocoding.Load(), fake.forecasts.Load(); g != 1 || n != 1 {
		t.Errorf("upstream calls: %d geocoding, %d forecast; want 1 and 1 (cached)", g, n)
	}
}

func TestOpenMeteoCacheExpires(t *testing.T) {
	fake := &fakeOpenMeteo{}
	o, now := newOpenMeteo(t, fake)
	ctx := context.Background()
	for range 3 {
		if _, err := o.Current(ctx, "Seattle"); err != nil {
			t.Fatal(err)
		}
	}
	*now = now.Add(o.WeatherTTL)
	if _, err := o.Current(ctx, "Seattle"); err != nil {
		t.Fatal(err)
	}
	if g, n := fake.geocoding.Load(), fake.forecasts.Load(); g != 1 || n != 2 {
		t.Errorf("upstream calls: %d geocoding, %d forecast; want 1 and 2", g, n)
	}
}

func TestOpenMeteoQualifier(t *testing.T) {
	fake := &fakeOpenMeteo{}
	o, _ := newOpenMeteo(t, fake)
	for _, tt := range []struct{ city, country string }{
		{"Paris", "France"}, {"Paris, Texas", "United States"}, {"Paris, US", "United States"},
	} {
		cur, err := o.Current(context.Background(), tt.city)
		if err != nil || cur.Country != tt.country {
			t.Errorf("Current(%q) = %+v, %v; want %s", tt.city, cur, err, tt.country)
		}
	}
	if _, err := o.Current(context.Background(), "Paris, Japan"); !errors.Is(err, ErrCityNotFound) {
		t.Errorf("Paris, Japan: %v, want ErrCityNotFound", err)
	}
}

func TestOpenMeteoEncodesTheName(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.URL.Query().Get("name")
		serveFile(t, w, http.StatusOK, "geocoding-none.json")
	}))
	defer srv.Close()
	o := NewOpenMeteo(srv.Client())
	o.GeocodingURL = srv.URL
	_, err := o.Current(context.Background(), "São Paulo&count=100#x")
	if !errors.Is(err, ErrCityNotFound) {
		t.Fatalf("err = %v, want ErrCityNotFound", err)
	}
	if got != "são paulo&count=100#x" {
		t.Errorf("the server saw name=%q, want the whole name as one parameter", got)
	}
}

func TestOpenMeteoNotFoundIsCached(t *testing.T) {
	fake := &fakeOpenMeteo{}
	o, _ := newOpenMeteo(t, fake)
	for range 3 {
		if _, err := o.Current(context.Background(), "Atlantis"); !errors.Is(err, ErrCityNotFound) {
			t.Fatalf("err = %v, want ErrCityNotFound", err)
		}
	}
	if g := fake.geocoding.Load(); g != 1 {
		t.Errorf("%d geocoding calls for one unknown city, want 1", g)
	}
}

func TestOpenMeteoFailures(t *testing.T) {
	tests := []struct {
		name string
		fake *fakeOpenMeteo
		want string
	}{
		{"km/h is refused, not relabelled", &fakeOpenMeteo{forecast: "forecast-kmh.json"}, `wind_speed_10m is in "km/h", not "mp/h"`},
		{"400 carries Open-Meteo's reason", &fakeOpenMeteo{status: 400}, "HTTP 400: Parameter 'wind_speed_unit' is invalid"},
		{"500", &fakeOpenMeteo{status: 500}, "HTTP 500"},
		{"not JSON", &fakeOpenMeteo{forecast: "../weather_test.go"}, "not the expected JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o, _ := newOpenMeteo(t, tt.fake)
			_, err := o.Current(context.Background(), "Seattle")
			var ue *UpstreamError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want an UpstreamError containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "http://") {
				t.Errorf("the error names the upstream URL: %v", err)
			}
		})
	}
}

func TestOpenMeteoTimeoutAndRefusal(t *testing.T) {
	release := make(chan struct{})
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	defer slow.Close()
	defer close(release)
	o := NewOpenMeteo(&http.Client{Timeout: 100 * time.Millisecond})
	o.GeocodingURL = slow.URL
	_, err := o.Current(context.Background(), "Seattle")
	var ue *UpstreamError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "Open-Meteo geocoding") {
		t.Errorf("slow upstream: %v, want an UpstreamError", err)
	}

	closed := httptest.NewServer(http.NotFoundHandler())
	closed.Close()
	o.GeocodingURL = closed.URL
	if _, err := o.Current(context.Background(), "Seattle"); !errors.As(err, &ue) {
		t.Errorf("refused connection: %v, want an UpstreamError", err)
	}
}

func TestTTLCacheIsBounded(t *testing.T) {
	var c ttlCache[string, int]
	now := time.Now()
	for i := range maxCacheEntries * 3 {
		c.put(strings.Repeat("k", i%7)+string(rune(i)), i, now, time.Minute)
	}
	if n := len(c.entries); n > maxCacheEntries {
		t.Errorf("cache holds %d entries, bound is %d", n, maxCacheEntries)
	}
	c.put("fresh", 1, now, time.Minute)
	if v, ok := c.get("fresh", now); !ok || v != 1 {
		t.Error("the newest entry is missing")
	}
	if _, ok := c.get("fresh", now.Add(time.Minute)); ok {
		t.Error("an entry outlived its TTL")
	}
}
