package agent

import (
	"context"

	"github.com/crosscloud-agentid/agentid/internal/trace"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// directTurn answers without a model: the city comes from the message.
func (a *Agent) directTurn(ctx context.Context, t Turn, rec *trace.Recorder) (string, error) {
	city, isWeather := weather.Question(t.Message)
	if !isWeather {
		rec.Add("direct", "llm-agent", "Not a weather question: no tool call", nil)
		return stream(t, "I'm the weather agent. Ask me about the weather in a city, for example: what's the weather in Seattle?"), nil
	}
	if city == "" {
		city = weather.DefaultCity
	}
	rec.Add("direct", "llm-agent", "Direct mode: calling get_weather for "+city, map[string]any{"city": city})
	result, err := a.callWeather(ctx, t, city, rec)
	if err != nil {
		return "", err
	}
	return stream(t, Describe(result)), nil
}

// stream sends a whole answer to the turn's stream, if it has one.
func stream(t Turn, text string) string {
	if t.Stream != nil {
		t.Stream(text)
	}
	return text
}
