package weather

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
)

// BenchmarkCurrent measures a request's work in each provider: the
// offline table, and Open-Meteo with its place and weather caches warm
// (what every request but the first in ten minutes costs).
func BenchmarkCurrent(b *testing.B) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		file := map[string]string{"/v1/search": "testdata/geocoding-seattle.json", "/v1/forecast": "testdata/forecast-seattle.json"}[r.URL.Path]
		http.ServeFile(w, r, file)
	}))
	defer upstream.Close()
	om := NewOpenMeteo(upstream.Client())
	om.GeocodingURL, om.ForecastURL = upstream.URL+"/v1/search", upstream.URL+"/v1/forecast"
	for name, p := range map[string]Provider{"offline": &Offline{}, "open-meteo": om} {
		b.Run(name, func(b *testing.B) {
			if _, err := p.Current(context.Background(), "Seattle"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				p.Current(context.Background(), "Seattle")
			}
		})
	}
}
