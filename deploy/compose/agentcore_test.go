package compose_test

import (
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/chatapi"
	"github.com/crosscloud-agentid/agentid/internal/config"
)

// compose.yaml serves the chat UI for the agent on AgentCore Runtime when
// .env sets AGENTCORE_INVOCATION_URL (the AWS stack's AgentInvocationUrl):
// llm-agent then relays every turn there. Empty, as in .env.example, it is
// a normal agent.
func TestComposeOffersTheAgentCoreRelay(t *testing.T) {
	invocationURL := "https://bedrock-agentcore.us-east-1.amazonaws.com/runtimes/arn%3Aaws%3Abedrock-agentcore%3Aus-east-1%3A111122223333%3Aruntime%2Fweather_agent-XYZ/invocations?qualifier=DEFAULT"
	for _, want := range []string{"", invocationURL} {
		p := load(t, "compose.yaml", ".env.example", "BLUEPRINT_CLIENT_SECRET=filled-in", "AGENTCORE_INVOCATION_URL="+want)
		agent, err := p.GetService("llm-agent")
		if err != nil {
			t.Fatal(err)
		}
		e := env(agent)
		got, ok := e["AGENTCORE_INVOCATION_URL"]
		r := config.New(func(k string) string { return e[k] })
		s := chatapi.LoadSettings(r)
		if !ok || got != want || r.Err() != nil || s.API.InvocationURL != want || (want != "" && !s.API.AutonomousNeedsUser) {
			t.Errorf("AGENTCORE_INVOCATION_URL=%q: compose gives %q (present: %v); settings %q, %v", want, got, ok, s.API.InvocationURL, r.Err())
		}
	}
}
