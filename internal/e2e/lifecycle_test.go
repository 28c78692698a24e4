package e2e_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/deploy/models"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
)

// bedrockStatus is /api/status's Bedrock check.
func bedrockStatus(t *testing.T, agentURL string) (ok bool, reason string, detail map[string]any) {
	t.Helper()
	resp, err := http.Get(agentURL + "/api/status")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Checks map[string]struct {
			OK     bool           `json:"ok"`
			Reason string         `json:"reason"`
			Detail map[string]any `json:"detail"`
		} `json:"checks"`
		Available bool `json:"bedrock_available"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	c := body.Checks["bedrock"]
	if c.OK != body.Available {
		t.Errorf("bedrock_available %v disagrees with the check %v", body.Available, c.OK)
	}
	return c.OK, c.Reason, c.Detail
}

// A turn with Claude 3 Haiku in us-east-1, past its end of life, fails
// with Bedrock's refusal and llm-agent's line saying what to do (the AWS
// CLI and boto3 meet the same refusal in internal/cloudsim's client tests;
// other Regions and every ID form in internal/cloudsim/bedrock's).
func TestRetiredModelRefused(t *testing.T) {
	s := e2e.Start(t)
	const retired = "us.anthropic.claude-3-haiku-20240307-v1:0"
	url := s.Agent(map[string]string{"BEDROCK_MODEL_ID": retired})
	r := chat(t, url, map[string]any{"message": "weather in Oslo", "llm_mode": "bedrock"}, "")
	msg, _ := r.body["error"].(string)
	for _, want := range []string{
		"ResourceNotFoundException: This model version has reached the end of its life.",
		"model " + retired + " reached end of life on Bedrock on 2026-09-10 in us-east-1: set BEDROCK_MODEL_ID to an active model, such as " + models.DefaultID,
	} {
		if r.status != http.StatusBadGateway || !strings.Contains(msg, want) {
			t.Errorf("%d %q, want 502 saying %q", r.status, msg, want)
		}
	}
	if n := s.Sim.Entra.Stats().Get("bedrock.error.ResourceNotFoundException"); n != 1 {
		t.Errorf("cloudsim's Bedrock refused %d requests as past their end of life, want 1", n)
	}
	if !strings.Contains(s.Logs.String(), "every Bedrock turn will fail: model "+retired+" reached end of life") {
		t.Error("llm-agent did not warn at start about the retired model")
	}
}

// /api/status's Bedrock check says whether the agent can call Bedrock now:
// a model past its end of life, or a last call Bedrock refused, fails it
// with the reason; an answered call passes it.
func TestStatusReportsBedrockFailure(t *testing.T) {
	s := e2e.Start(t)

	healthy := s.Agent(nil)
	if ok, reason, detail := bedrockStatus(t, healthy); !ok || detail["last_call"] != "none yet" || detail["lifecycle"] != "Active" {
		t.Errorf("before any call: ok=%v %q %v", ok, reason, detail)
	}
	if r := chat(t, healthy, map[string]any{"message": "weather in Oslo", "llm_mode": "bedrock"}, ""); r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if ok, reason, detail := bedrockStatus(t, healthy); !ok || detail["last_call_outcome"] != "answered" {
		t.Errorf("after an answered call: ok=%v %q %v", ok, reason, detail)
	}

	retired := s.Agent(map[string]string{"BEDROCK_MODEL_ID": "us.anthropic.claude-3-haiku-20240307-v1:0"})
	if ok, reason, _ := bedrockStatus(t, retired); ok || !strings.Contains(reason, "reached end of life on Bedrock on 2026-09-10 in us-east-1: set BEDROCK_MODEL_ID") {
		t.Errorf("a retired model, before any turn: ok=%v %q", ok, reason)
	}

	// Static keys that no IAM user has: the SDK resolves them, and only
	// Bedrock can say they are no good.
	unknown := map[string]string{"AWS_ACCESS_KEY_ID": "AKIANOBODYHASTHISKEY", "AWS_SECRET_ACCESS_KEY": "not-a-secret-anyone-was-given-0000000000"}
	for k, v := range unknown {
		t.Setenv(k, v)
	}
	refused := s.Agent(unknown)
	if ok, reason, _ := bedrockStatus(t, refused); !ok {
		t.Errorf("unknown keys before any call: %q (only a call can tell)", reason)
	}
	if r := chat(t, refused, map[string]any{"message": "weather in Oslo", "llm_mode": "bedrock"}, ""); r.status != http.StatusBadGateway {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if ok, reason, _ := bedrockStatus(t, refused); ok || !strings.Contains(reason, "the last Bedrock call") || !strings.Contains(reason, "UnrecognizedClientException") {
		t.Errorf("after Bedrock refused the keys: ok=%v %q", ok, reason)
	}
}
