package cloudsim_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// Bedrock keeps, for GET /_cloudsim/bedrock/received, only the requests it
// answered: through the AWS CLI, an unsigned Converse (--no-sign-request)
// carrying a planted token is refused and leaves nothing; the same
// conversation signed with the refresher's web identity is kept, so the
// scan does find the token where it was answered.
func TestAWSCLIRefusedBedrockRequestsAreNotKept(t *testing.T) {
	python := awsPython(t)
	sim, _, tokenFile := startForPython(t)
	env := awsEnv(t, sim, tokenFile)
	const planted = "eyJhbGciOiJSUzI1NiJ9.cGxhbnRlZC1jbGktdG9rZW4.c2lnbmF0dXJl"
	messages := `[{"role":"user","content":[{"text":"What's the weather in Oslo? ` + planted + `"}]}]`
	received := func() (string, []map[string]any) {
		t.Helper()
		resp, err := cloudsimtest.Client(sim).Get(sim.URL + "/_cloudsim/bedrock/received")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var rec []map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&rec); err != nil {
			t.Fatal(err)
		}
		raw, _ := json.Marshal(rec)
		return string(raw), rec
	}

	out, code := runCLI(t, python, env, "bedrock-runtime", "converse", "--no-sign-request", "--model-id", profileID, "--messages", messages)
	if code != 255 || !strings.Contains(out, "(MissingAuthenticationTokenException)") {
		t.Fatalf("unsigned: exit %d:\n%s", code, out)
	}
	if raw, rec := received(); len(rec) != 0 || strings.Contains(raw, planted) {
		t.Fatalf("an unsigned request was kept: %s", raw)
	}
	if out, code := runCLI(t, python, env, "bedrock-runtime", "converse", "--model-id", profileID, "--messages", messages); code != 0 {
		t.Fatalf("signed: exit %d:\n%s", code, out)
	}
	raw, rec := received()
	if len(rec) != 1 {
		t.Fatalf("kept %d requests, want the answered one: %s", len(rec), raw)
	}
	if caller, _ := rec[0]["caller"].(map[string]any); caller["auth"] != "sigv4" || !strings.Contains(raw, planted) {
		t.Errorf("the answered request: %s", raw)
	}
}
