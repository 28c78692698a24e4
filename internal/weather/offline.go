package weather

import (
	"context"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	_ "time/tzdata" // local dates must work in a scratch image with no zoneinfo
)

// OfflineDataSource labels every offline answer, so nobody mistakes it for
// an observation.
const OfflineDataSource = "offline synthetic weather (not real; WEATHER_PROVIDER=offline)"

// Offline answers from a built-in table of world cities with a
// deterministic synthetic climate: the same city, day and hour always give
// the same answer, shaped by latitude and season. It never touches the
// network, for the local demo and tests.
type Offline struct {
	Now func() time.Time
	// current keeps each city's last answer: it changes once an hour, and
	// computing it (a synthetic day, three formatted times) was most of
	// a request's own work under load.
	current [len(offlineCities)]atomic.Pointer[hourAnswer]
}

// hourAnswer is a city's answer for the hour starting at hour (Unix
// seconds).
type hourAnswer struct {
	hour int64
	cur  Current
}

type city struct {
	name, country, code, tz string
	lat, lon                float64
	aliases                 []string
}

// offlineCities has at least 50 cities across every inhabited continent.
var offlineCities = [...]city{
	{"Seattle", "United States", "US", "America/Los_Angeles", 47.6062, -122.3321, nil},
	{"San Francisco", "United States", "US", "America/Los_Angeles", 37.7749, -122.4194, []string{"sf"}},
	{"Los Angeles", "United States", "US", "America/Los_Angeles", 34.0522, -118.2437, []string{"la"}},
	{"Portland", "United States", "US", "America/Los_Angeles", 45.5152, -122.6784, nil},
	{"Denver", "United States", "US", "America/Denver", 39.7392, -104.9903, nil},
	{"Phoenix", "United States", "US", "America/Phoenix", 33.4484, -112.0740, nil},
	{"Chicago", "United States", "US", "America/Chicago", 41.8781, -87.6298, nil},
	{"Houston", "United States", "US", "America/Chicago", 29.7604, -95.3698, nil},
	{"Dallas", "United States", "US", "America/Chicago", 32.7767, -96.7970, nil},
	{"New York", "United States", "US", "America/New_York", 40.7128, -74.0060, []string{"nyc", "new york city"}},
	{"Boston", "United States", "US", "America/New_York", 42.3601, -71.0589, nil},
	{"Washington", "United States", "US", "America/New_York", 38.9072, -77.0369, []string{"washington dc", "washington d.c."}},
	{"Atlanta", "United States", "US", "America/New_York", 33.7490, -84.3880, nil},
	{"Miami", "United States", "US", "America/New_York", 25.7617, -80.1918, nil},
	{"Anchorage", "United States", "US", "America/Anchorage", 61.2181, -149.9003, nil},
	{"Honolulu", "United States", "US", "Pacific/Honolulu", 21.3069, -157.8583, nil},
	{"Toronto", "Canada", "CA", "America/Toronto", 43.6532, -79.3832, nil},
	{"Vancouver", "Canada", "CA", "America/Vancouver", 49.2827, -123.1207, nil},
	{"Montreal", "Canada", "CA", "America/Toronto", 45.5019, -73.5674, []string{"montréal"}},
	{"Mexico City", "Mexico", "MX", "America/Mexico_City", 19.4326, -99.1332, nil},
	{"Bogota", "Colombia", "CO", "America/Bogota", 4.7110, -74.0721, []string{"bogotá"}},
	{"Lima", "Peru", "PE", "America/Lima", -12.0464, -77.0428, nil},
	{"Santiago", "Chile", "CL", "America/Santiago", -33.4489, -70.6693, nil},
	{"Buenos Aires", "Argentina", "AR", "America/Argentina/Buenos_Aires", -34.6037, -58.3816, nil},
	{"Sao Paulo", "Brazil", "BR", "America/Sao_Paulo", -23.5505, -46.6333, []string{"são paulo"}},
	{"Rio de Janeiro", "Brazil", "BR", "America/Sao_Paulo", -22.9068, -43.1729, []string{"rio"}},
	{"Reykjavik", "Iceland", "IS", "Atlantic/Reykjavik", 64.1466, -21.9426, []string{"reykjavík"}},
	{"Dublin", "Ireland", "IE", "Europe/Dublin", 53.3498, -6.2603, nil},
	{"London", "United Kingdom", "GB", "Europe/London", 51.5074, -0.1278, nil},
	{"Edinburgh", "United Kingdom", "GB", "Europe/London", 55.9533, -3.1883, nil},
	{"Lisbon", "Portugal", "PT", "Europe/Lisbon", 38.7223, -9.1393, nil},
	{"Madrid", "Spain", "ES", "Europe/Madrid", 40.4168, -3.7038, nil},
	{"Barcelona", "Spain", "ES", "Europe/Madrid", 41.3874, 2.1686, nil},
	{"Paris", "France", "FR", "Europe/Paris", 48.8566, 2.3522, nil},
	{"Amsterdam", "Netherlands", "NL", "Europe/Amsterdam", 52.3676, 4.9041, nil},
	{"Brussels", "Belgium", "BE", "Europe/Brussels", 50.8503, 4.3517, nil},
	{"Zurich", "Switzerland", "CH", "Europe/Zurich", 47.3769, 8.5417, []string{"zürich"}},
	{"Berlin", "Germany", "DE", "Europe/Berlin", 52.5200, 13.4050, nil},
	{"Munich", "Germany", "DE", "Europe/Berlin", 48.1351, 11.5820, []string{"münchen"}},
	{"Rome", "Italy", "IT", "Europe/Rome", 41.9028, 12.4964, nil},
	{"Vienna", "Austria", "AT", "Europe/Vienna", 48.2082, 16.3738, []string{"wien"}},
	{"Prague", "Czechia", "CZ", "Europe/Prague", 50.0755, 14.4378, nil},
	{"Warsaw", "Poland", "PL", "Europe/Warsaw", 52.2297, 21.0122, nil},
	{"Copenhagen", "Denmark", "DK", "Europe/Copenhagen", 55.6761, 12.5683, nil},
	{"Oslo", "Norway", "NO", "Europe/Oslo", 59.9139, 10.7522, nil},
	{"Stockholm", "Sweden", "SE", "Europe/Stockholm", 59.3293, 18.0686, nil},
	{"Helsinki", "Finland", "FI", "Europe/Helsinki", 60.1699, 24.9384, nil},
	{"Athens", "Greece", "GR", "Europe/Athens", 37.9838, 23.7275, nil},
	{"Istanbul", "Turkey", "TR", "Europe/Istanbul", 41.0082, 28.9784, nil},
	{"Cairo", "Egypt", "EG", "Africa/Cairo", 30.0444, 31.2357, nil},
	{"Lagos", "Nigeria", "NG", "Africa/Lagos", 6.5244, 3.3792, nil},
	{"Nairobi", "Kenya", "KE", "Africa/Nairobi", -1.2921, 36.8219, nil},
	{"Johannesburg", "South Africa", "ZA", "Africa/Johannesburg", -26.2041, 28.0473, nil},
	{"Cape Town", "South Africa", "ZA", "Africa/Johannesburg", -33.9249, 18.4241, nil},
	{"Casablanca", "Morocco", "MA", "Africa/Casablanca", 33.5731, -7.5898, nil},
	{"Dubai", "United Arab Emirates", "AE", "Asia/Dubai", 25.2048, 55.2708, nil},
	{"Tel Aviv", "Israel", "IL", "Asia/Jerusalem", 32.0853, 34.7818, nil},
	{"Mumbai", "India", "IN", "Asia/Kolkata", 19.0760, 72.8777, []string{"bombay"}},
	{"Delhi", "India", "IN", "Asia/Kolkata", 28.7041, 77.1025, []string{"new delhi"}},
	{"Bangalore", "India", "IN", "Asia/Kolkata", 12.9716, 77.5946, []string{"bengaluru"}},
	{"Singapore", "Singapore", "SG", "Asia/Singapore", 1.3521, 103.8198, nil},
	{"Bangkok", "Thailand", "TH", "Asia/Bangkok", 13.7563, 100.5018, nil},
	{"Jakarta", "Indonesia", "ID", "Asia/Jakarta", -6.2088, 106.8456, nil},
	{"Hong Kong", "China", "CN", "Asia/Hong_Kong", 22.3193, 114.1694, nil},
	{"Shanghai", "China", "CN", "Asia/Shanghai", 31.2304, 121.4737, nil},
	{"Beijing", "China", "CN", "Asia/Shanghai", 39.9042, 116.4074, nil},
	{"Seoul", "South Korea", "KR", "Asia/Seoul", 37.5665, 126.9780, nil},
	{"Tokyo", "Japan", "JP", "Asia/Tokyo", 35.6762, 139.6503, nil},
	{"Manila", "Philippines", "PH", "Asia/Manila", 14.5995, 120.9842, nil},
	{"Sydney", "Australia", "AU", "Australia/Sydney", -33.8688, 151.2093, nil},
	{"Melbourne", "Australia", "AU", "Australia/Melbourne", -37.8136, 144.9631, nil},
	{"Perth", "Australia", "AU", "Australia/Perth", -31.9505, 115.8605, nil},
	{"Auckland", "New Zealand", "NZ", "Pacific/Auckland", -36.8485, 174.7633, nil},
}

var offlineIndex = func() map[string][]int {
	idx := map[string][]int{}
	for i, c := range offlineCities {
		for _, n := range append([]string{c.name}, c.aliases...) {
			idx[normalize(n)] = append(idx[normalize(n)], i)
		}
	}
	return idx
}()

// Current implements Provider.
func (o *Offline) Current(_ context.Context, name string) (*Current, error) {
	i, loc, err := lookup(name)
	if err != nil {
		return nil, err
	}
	// Truncate works on the absolute time, so the hour is the same in
	// every zone, half-hour offsets included.
	now := o.now().In(loc).Truncate(time.Hour)
	if a := o.current[i].Load(); a != nil && a.hour == now.Unix() {
		cur := a.cur
		return &cur, nil
	}
	a := &hourAnswer{hour: now.Unix(), cur: offlineCurrent(offlineCities[i], now)}
	o.current[i].Store(a)
	cur := a.cur
	return &cur, nil
}

func offlineCurrent(c city, now time.Time) Current {
	day := syntheticDay(c, now)
	// The daily curve peaks at 15:00 and bottoms out at 03:00.
	swing := math.Cos(2 * math.Pi * float64(now.Hour()-15) / 24)
	var stamp [len(time.DateTime)]byte
	h := hash(c.name, string(now.AppendFormat(stamp[:0], time.DateTime)))
	humidity := 35 + int(h%40)
	if day.PrecipitationChance >= 50 {
		humidity += 20
	}
	return Current{
		Place:        c.place(),
		Time:         now.Format(time.RFC3339),
		TemperatureF: round1((day.HighF+day.LowF)/2 + swing*(day.HighF-day.LowF)/2),
		HumidityPct:  min(humidity, 100),
		WindMPH:      round1(1 + float64(h>>8%210)/10),
		Code:         day.Code,
		Condition:    day.Condition,
		DataSource:   OfflineDataSource,
	}
}

// Forecast implements Provider.
func (o *Offline) Forecast(_ context.Context, name string) (*Forecast, error) {
	i, loc, err := lookup(name)
	if err != nil {
		return nil, err
	}
	c := offlineCities[i]
	today := o.now().In(loc)
	f := &Forecast{Place: c.place(), DataSource: OfflineDataSource}
	for i := range ForecastDays {
		f.Days = append(f.Days, syntheticDay(c, today.AddDate(0, 0, i)))
	}
	return f, nil
}

func (o *Offline) now() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// offlineZones loads every time zone of the table once: loading one reads
// and parses zoneinfo data, which was most of a request's cost.
var offlineZones = sync.OnceValues(func() (map[string]*time.Location, error) {
	zones := map[string]*time.Location{}
	for _, c := range offlineCities {
		if zones[c.tz] != nil {
			continue
		}
		loc, err := time.LoadLocation(c.tz)
		if err != nil {
			return nil, fmt.Errorf("offline table: time zone %s: %w", c.tz, err)
		}
		zones[c.tz] = loc
	}
	return zones, nil
})

// lookup finds a city of the table and its time zone. A plain ASCII name,
// as most are, is normalized on the stack: the lookup allocates nothing.
func lookup(name string) (int, *time.Location, error) {
	var nameBuf, qualifierBuf [64]byte
	n, q, _ := strings.Cut(name, ",")
	nb, okName := appendNormal(nameBuf[:0], n)
	qb, okQualifier := appendNormal(qualifierBuf[:0], q)
	if !okName || !okQualifier {
		s1, s2 := splitCity(name)
		nb, qb = []byte(s1), []byte(s2)
	}
	for _, i := range offlineIndex[string(nb)] {
		c := offlineCities[i]
		if len(qb) > 0 && string(qb) != normalize(c.country) && string(qb) != normalize(c.code) {
			continue
		}
		zones, err := offlineZones()
		if err != nil {
			return 0, nil, err
		}
		return i, zones[c.tz], nil
	}
	return 0, nil, fmt.Errorf("%w: %q is not in the offline table of %d cities (WEATHER_PROVIDER=open-meteo looks up any city)",
		ErrCityNotFound, name, len(offlineCities))
}

func (c city) place() Place {
	return Place{Name: c.name, Country: c.country, Latitude: c.lat, Longitude: c.lon, Timezone: c.tz}
}

// syntheticDay is a plausible day: a seasonal mean from latitude (warm at
// the equator, wider swings toward the poles, seasons flipped south of it)
// plus a per-city, per-date offset and sky.
func syntheticDay(c city, t time.Time) Day {
	date := t.Format(time.DateOnly)
	h := hash(c.name, date)
	lat := math.Abs(c.lat)
	peak := 201.0 // around July 20th in the north
	if c.lat < 0 {
		peak = 19
	}
	season := math.Cos(2 * math.Pi * (float64(t.YearDay()) - peak) / 365.25)
	mean := 81 - 0.75*lat + 0.35*lat*season + float64(h%130)/10 - 6.5
	spread := 10 + float64(h>>8%100)/10
	code := skies[h>>16%uint64(len(skies))]
	switch {
	case mean < 32 && code >= 51 && code <= 67:
		code = 71 // rain falls as snow when it is this cold
	case mean > 38 && code >= 71:
		code = 61
	}
	return Day{
		Date: date, Weekday: t.Weekday().String(),
		HighF: round1(mean + spread/2), LowF: round1(mean - spread/2),
		Code: code, Condition: Condition(code),
		PrecipitationChance: precipitationChance(code, h>>24),
	}
}

// skies weights the WMO codes a synthetic day draws from: mostly dry.
var skies = []int{0, 0, 1, 1, 2, 2, 2, 3, 3, 45, 51, 61, 63, 71, 80, 95}

func precipitationChance(code int, h uint64) int {
	base, span := 0, 10
	switch {
	case code == 2 || code == 3 || code == 45:
		base, span = 10, 20
	case code >= 51 && code <= 67, code >= 80 && code <= 82:
		base, span = 55, 35
	case code >= 71 && code <= 77:
		base, span = 60, 30
	case code >= 95:
		base, span = 70, 25
	}
	return base + int(h%uint64(span+1))
}

// hash is 64-bit FNV-1a over the parts, each followed by a zero byte,
// computed in place (hash/fnv's interface value would escape to the heap).
func hash(parts ...string) uint64 {
	const offset64, prime64 = 14695981039346656037, 1099511628211
	h := uint64(offset64)
	for _, p := range parts {
		for i := 0; i < len(p); i++ {
			h = (h ^ uint64(p[i])) * prime64
		}
		h *= prime64 // the zero byte: h ^ 0 is h
	}
	return h
}
