package weather

import "testing"

func TestQuestion(t *testing.T) {
	cases := []struct {
		msg, city string
		weather   bool
	}{
		{"What's the weather in Seattle?", "Seattle", true},
		{"weather in new york today", "new york", true},
		{"Is it raining in São Paulo right now?", "São Paulo", true},
		{"forecast for Paris, France please", "Paris, France", true},
		{"How cold is it at Reykjavik this week", "Reykjavik", true},
		{"Tokyo weather", "Tokyo", true},
		{"Tell me Cape Town's forecast", "Cape Town", true},
		{"what's the temperature?", "", true},
		{"Hello, who are you?", "", false},
		{"Book a table in Paris", "", false},
		{"", "", false},
	}
	for _, c := range cases {
		city, weather := Question(c.msg)
		if city != c.city || weather != c.weather {
			t.Errorf("Question(%q) = %q, %v; want %q, %v", c.msg, city, weather, c.city, c.weather)
		}
	}
}
