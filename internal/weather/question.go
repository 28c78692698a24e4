package weather

import (
	"regexp"
	"strings"
)

var (
	weatherWords = regexp.MustCompile(`(?i)\b(weather|temperature|forecast|rain(ing|y)?|sunny|snow(ing)?|wind(y)?|humid(ity)?|cold|hot|warm|degrees|umbrella)\b`)
	// "in Paris", "for New York", "at Oslo, Norway": a place after a
	// preposition, up to punctuation or a time word.
	placeAfter = regexp.MustCompile(`(?i)\b(?:in|for|at)\s+([\p{L}][\p{L}\p{M}.'\- ]*(?:,\s*[\p{L}][\p{L}\p{M}.'\- ]*)?)`)
	// "Paris weather", "Tokyo's forecast".
	placeBefore = regexp.MustCompile(`(?i)([\p{L}][\p{L}\p{M}.\-]*(?:\s+[\p{L}][\p{L}\p{M}.\-]*)?)(?:'s)?\s+(?:weather|forecast|temperature)\b`)
	timeWords   = regexp.MustCompile(`(?i)\s+\b(today|tonight|tomorrow|now|right now|this (?:morning|afternoon|evening|week|weekend)|please|currently|like)\b.*$`)
	// Words that open a question rather than name a place.
	notPlaces = map[string]bool{"the": true, "what": true, "what's": true, "whats": true, "how": true, "is": true, "s": true,
		"current": true, "today's": true, "a": true, "me": true, "tell": true, "show": true, "get": true, "my": true, "your": true}
)

// Question reads a chat message: whether it asks about the weather, and
// the city it names ("" when it names none). Direct mode and cloudsim's
// model both use it, so they agree on what a weather question is.
func Question(message string) (city string, isWeather bool) {
	if !weatherWords.MatchString(message) {
		return "", false
	}
	for _, m := range placeAfter.FindAllStringSubmatch(message, -1) {
		if c := cleanPlace(m[1]); c != "" {
			return c, true
		}
	}
	if m := placeBefore.FindStringSubmatch(message); m != nil {
		if c := cleanPlace(m[1]); c != "" {
			return c, true
		}
	}
	return "", true
}

func cleanPlace(s string) string {
	s = timeWords.ReplaceAllString(s, "")
	words := strings.Fields(strings.Trim(strings.TrimSpace(s), ".'-, "))
	for len(words) > 0 && notPlaces[strings.ToLower(words[0])] {
		words = words[1:]
	}
	s = strings.Join(words, " ")
	if weatherWords.MatchString(s) {
		return ""
	}
	return s
}
