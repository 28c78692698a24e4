package awsfront_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
)

// A container that starts its answer before it has read the whole
// invocation (server-sent events begun at once, as llm-agent's stream
// may) still gets all of it, and the caller the whole stream. Go's HTTP/1
// server otherwise throws away the unread request body when the front
// writes the first byte of the answer, which broke the proxied stream
// (golang/go#40747; "use of closed network connection" in the front).
func TestAgentCoreFrontStreamsWhileTheBodyArrives(t *testing.T) {
	sim := cloudsimtest.Start(t, nil)
	tc := cloudsimtest.NewTokens(sim).User(t)
	backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := http.NewResponseController(w).EnableFullDuplex(); err != nil { // so this server keeps the body too
			t.Error(err)
		}
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		n, err := io.Copy(io.Discard, r.Body)
		fmt.Fprintf(w, "event: final\ndata: {\"read\":%d,\"err\":%q}\n\n", n, fmt.Sprint(err))
	})
	target, _ := frontBefore(t, sim, templateFile(t), backend, nil)

	const size = 1 << 20 // more than the sockets buffer, within AgentCore's 100 MB payload
	body := append([]byte(`{"prompt":"`), bytes.Repeat([]byte("x"), size)...)
	body = append(body, `"}`...)
	for range 100 { // the loss depends on timing: a hundred tries show it
		req, _ := http.NewRequest(http.MethodPost, target, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tc)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf(`{"read":%d,"err":"<nil>"}`, len(body)); err != nil || !strings.Contains(string(got), want) {
			t.Fatalf("the stream: %q, %v; want its final event to say %s", got, err, want)
		}
	}
}
