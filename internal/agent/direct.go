package agent

import (
	"context"
	"net/http"
	"strings"

	"github.com/crosscloud-agentid/agentid/internal/identity"
	"github.com/crosscloud-agentid/agentid/internal/mcptool"

	"github.com/crosscloud-agentid/agentid/internal/trace"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// directTurn answers without a model: the city comes from the message, or
// the message asks who the user is.
func (a *Agent) directTurn(ctx context.Context, t Turn, rec *trace.Recorder) (string, error) {
	if a.cfg.MCP != nil && whoAmI(t.Message) {
		return a.directProfile(ctx, t, rec)
	}
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

// directProfile answers "who am I?" with the MCP server's profile tool, on
// the user's behalf (or as the agent user).
func (a *Agent) directProfile(ctx context.Context, t Turn, rec *trace.Recorder) (string, error) {
	if t.Flow == identity.Autonomous {
		rec.Add("direct", "llm-agent", noMCPForAutonomous, nil)
		return stream(t, "In the autonomous flow I act as myself, with no user: I cannot read your profile. Sign in and choose the on-behalf-of flow; the MCP server takes delegated tokens only."), nil
	}
	rec.Add("direct", "llm-agent", "Direct mode: a who-am-I question, for the MCP server's profile tool", map[string]any{"tool": profileTool, "relativeUrl": "/me"})
	m := a.mcpTurn(t, rec)
	defer m.close()
	tools, err := m.tools(ctx, true)
	if err != nil {
		return "", err
	}
	if !hasTool(tools, profileTool) {
		return "", &Error{Status: http.StatusBadGateway, Message: "the MCP server at " + a.cfg.MCP.URL() + " has no " + profileTool + " tool (it lists: " + toolNames(tools) + ")"}
	}
	res, err := m.call(ctx, profileTool, map[string]any{"relativeUrl": "/me"})
	if err != nil {
		return "", err
	}
	if res.IsError {
		return "", &Error{Status: http.StatusBadGateway, Message: "the MCP tool " + profileTool + " failed: " + mcptool.ResultText(res)}
	}
	return stream(t, describeProfile(res, t.Flow)), nil
}

// whoAmI reports whether a message asks who the user is.
func whoAmI(message string) bool {
	m := strings.ToLower(message)
	for _, p := range []string{"who am i", "whoami", "my profile", "my name", "about me", "signed in as"} {
		if strings.Contains(m, p) {
			return true
		}
	}
	return false
}

// stream sends a whole answer to the turn's stream, if it has one.
func stream(t Turn, text string) string {
	if t.Stream != nil {
		t.Stream(text)
	}
	return text
}
