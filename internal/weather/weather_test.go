package weather

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestCheckCity(t *testing.T) {
	tests := []struct {
		city string
		ok   bool
	}{
		{"Seattle", true},
		{"  São Paulo ", true},
		{"Paris, France", true},
		{strings.Repeat("a", MaxCityLength), true},
		{"", false},
		{"   ", false},
		{strings.Repeat("a", MaxCityLength+1), false},
		{"Seat\ntle", false},
		{"Seattle\x00", false},
		{"Sea\u0085ttle", false}, // a C1 control character
		{"Sea\xfftle", false},
	}
	for _, tt := range tests {
		err := CheckCity(tt.city)
		if (err == nil) != tt.ok {
			t.Errorf("CheckCity(%q) = %v, want ok=%v", tt.city, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrBadCity) {
			t.Errorf("CheckCity(%q) = %v, not ErrBadCity", tt.city, err)
		}
	}
}

func TestCondition(t *testing.T) {
	if got := Condition(3); got != "Overcast" {
		t.Errorf("Condition(3) = %q", got)
	}
	if got := Condition(42); !strings.Contains(got, "42") {
		t.Errorf("Condition(42) = %q, want the code named", got)
	}
}

func fixedNow(s string) func() time.Time {
	at, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return func() time.Time { return at }
}

func TestOfflineTable(t *testing.T) {
	if len(offlineCities) < 50 {
		t.Fatalf("the offline table has %d cities, want at least 50", len(offlineCities))
	}
	o := &Offline{Now: fixedNow("2026-11-24T12:00:00Z")}
	for _, c := range offlineCities {
		cur, err := o.Current(context.Background(), c.name)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if cur.Name != c.name || cur.DataSource != OfflineDataSource {
			t.Errorf("%s: got %+v", c.name, cur)
		}
		if cur.HumidityPct < 0 || cur.HumidityPct > 100 || cur.WindMPH <= 0 || cur.TemperatureF < -60 || cur.TemperatureF > 125 {
			t.Errorf("%s: implausible %+v", c.name, cur)
		}
		f, err := o.Forecast(context.Background(), c.name)
		if err != nil {
			t.Fatalf("%s forecast: %v", c.name, err)
		}
		if len(f.Days) != ForecastDays {
			t.Fatalf("%s: %d days", c.name, len(f.Days))
		}
		for i, d := range f.Days {
			if d.HighF < d.LowF || d.PrecipitationChance < 0 || d.PrecipitationChance > 100 || d.Condition == "" {
				t.Errorf("%s day %d: %+v", c.name, i, d)
			}
		}
	}
}

func TestOfflineIsDeterministicAndLocal(t *testing.T) {
	a := &Offline{Now: fixedNow("2026-11-24T12:10:00Z")}
	b := &Offline{Now: fixedNow("2026-11-24T12:50:00Z")} // same hour
	ctx := context.Background()
	ca, _ := a.Current(ctx, "Tokyo")
	cb, _ := b.Current(ctx, "tokyo")
	if *ca != *cb {
		t.Errorf("same hour, different answers:\n%+v\n%+v", ca, cb)
	}
	if ca.Time != "2026-11-24T21:00:00+09:00" {
		t.Errorf("Tokyo time = %s, want the local hour with its offset", ca.Time)
	}
	f, _ := a.Forecast(ctx, "Auckland")
	if f.Days[0].Date != "2026-11-25" || f.Days[4].Date != "2026-11-29" || f.Days[0].Weekday != "Wednesday" {
		t.Errorf("Auckland forecast starts %s %s, want its local today 2026-11-25 Wednesday", f.Days[0].Date, f.Days[0].Weekday)
	}
}

func TestOfflineSeasons(t *testing.T) {
	ctx := context.Background()
	mean := func(city, when string) float64 {
		f, err := (&Offline{Now: fixedNow(when)}).Forecast(ctx, city)
		if err != nil {
			t.Fatal(err)
		}
		var sum float64
		for _, d := range f.Days {
			sum += (d.HighF + d.LowF) / 2
		}
		return sum / float64(len(f.Days))
	}
	jan, jul := "2026-01-15T12:00:00Z", "2026-07-15T12:00:00Z"
	if mean("Helsinki", jan) >= mean("Helsinki", jul) {
		t.Error("Helsinki is not colder in January")
	}
	if mean("Sydney", jan) <= mean("Sydney", jul) {
		t.Error("Sydney is not warmer in January")
	}
	if mean("Singapore", jan) <= mean("Helsinki", jan) {
		t.Error("Singapore is not warmer than Helsinki in January")
	}
}

func TestOfflineLookup(t *testing.T) {
	o := &Offline{Now: fixedNow("2026-11-24T12:00:00Z")}
	for _, tt := range []struct{ in, want string }{
		{"NYC", "New York"}, {"  new   york ", "New York"}, {"Paris, France", "Paris"},
		{"Paris, FR", "Paris"}, {"São Paulo", "Sao Paulo"}, {"Bengaluru", "Bangalore"},
	} {
		c, err := o.Current(context.Background(), tt.in)
		if err != nil || c.Name != tt.want {
			t.Errorf("Current(%q) = %v, %v; want %s", tt.in, c, err, tt.want)
		}
	}
	for _, missing := range []string{"Atlantis", "Paris, Texas"} {
		_, err := o.Current(context.Background(), missing)
		if !errors.Is(err, ErrCityNotFound) {
			t.Errorf("Current(%q) = %v, want ErrCityNotFound", missing, err)
		}
	}
}

func TestNormalizeFastPathAgrees(t *testing.T) {
	for _, s := range []string{"", "seattle", "Seattle", " seattle", "new york", "new  york", "new york ", "são paulo", "SÃO PAULO", "a\tb", "a\u00a0b", "x\u2003y",
		"\t\n New \r\v\f  YORK \n", "a\x01b", "   ", "Paris,", "ZÜRICH"} {
		want := strings.ToLower(strings.Join(strings.Fields(s), " "))
		if got := normalize(s); got != want {
			t.Errorf("normalize(%q) = %q, want %q", s, got, want)
		}
		if got, ok := appendNormal([]byte("kept"), s); ok && string(got) != "kept"+want {
			t.Errorf("appendNormal(%q) = %q, want %q", s, got[4:], want)
		} else if !ok && isASCII(s) {
			t.Errorf("appendNormal(%q) refused an ASCII name", s)
		}
	}
}

func isASCII(s string) bool {
	for i := range len(s) {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// One Offline keeps each city's answer for the hour: across hours, and
// after a caller changed what it was given, its answers stay those of a
// fresh Offline.
func TestOfflineCurrentKeptForTheHour(t *testing.T) {
	at := time.Date(2026, 12, 6, 9, 59, 0, 0, time.UTC)
	o := &Offline{Now: func() time.Time { return at }}
	for _, step := range []time.Duration{0, time.Minute, 29 * time.Minute, time.Hour, 24 * time.Hour, -48 * time.Hour} {
		at = at.Add(step)
		for _, name := range []string{"Seattle", "Mumbai", "Adelaide, AU", "Auckland"} {
			got, err := o.Current(context.Background(), name)
			fresh, freshErr := (&Offline{Now: func() time.Time { return at }}).Current(context.Background(), name)
			if (err == nil) != (freshErr == nil) || err == nil && *got != *fresh {
				t.Errorf("at %s, Current(%q) = %+v, %v; a fresh Offline says %+v, %v", at, name, got, err, fresh, freshErr)
			}
			if got != nil {
				got.TemperatureF, got.Name = -999, "changed by the caller"
			}
		}
	}
}
