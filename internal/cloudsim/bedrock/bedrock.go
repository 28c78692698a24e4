// Package bedrock is cloudsim's Amazon Bedrock Runtime: Converse and
// ConverseStream with SigV4 checked against the credentials cloudsim STS
// issued (or the tenant file's dev key pair and API keys), AWS's error
// shapes, and a deterministic model that calls get_weather for weather
// questions and answers from the tool's result. It records what it
// received, so tests can prove no token ever reached the model.
//
// Wire shapes follow botocore's model (botocore/data/bedrock-runtime/
// 2023-09-30) and the Converse API reference.
package bedrock

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/awsquery"
	"github.com/crosscloud-agentid/agentid/internal/cloudsim/entra"
	"github.com/crosscloud-agentid/agentid/internal/weather"
)

// Path is where cloudsim serves Bedrock; AWS_ENDPOINT_URL_BEDROCK_RUNTIME
// is its URL.
const Path = "/bedrock"

// Received is one request cloudsim Bedrock answered: what the model was
// sent, for the leak scans, and who sent it, for the chain B checks.
type Received struct {
	// Seq numbers the requests Bedrock answered, from 1, so a reader can
	// count new ones after older ones have left the ring.
	Seq     uint64 `json:"seq"`
	ModelID string `json:"model_id"`
	Stream  bool   `json:"stream"`
	Caller  caller `json:"caller"`
	// Body is the request's JSON, or, past maxReceivedBody, its first
	// bytes as a JSON string with Truncated set.
	Body      json.RawMessage `json:"body"`
	Truncated bool            `json:"truncated,omitempty"`
	BodyBytes int             `json:"body_bytes"` // the whole body's length
	Status    int             `json:"status"`
}

// What Bedrock keeps of the requests it answered, for
// GET /_cloudsim/bedrock/received: the most recent maxReceived, each body
// cut at maxReceivedBody, all of them within maxReceivedBytes. A request
// it refused leaves nothing: its sender may be anyone (an unsigned
// request, a cross-site no-cors POST), and no model read it.
const (
	maxReceived      = 256
	maxReceivedBody  = 256 << 10
	maxReceivedBytes = 8 << 20
)

// receivedRing is the bounded record of answered requests.
type receivedRing struct {
	entries []Received // oldest first
	bytes   int
	seq     uint64
}

func (q *receivedRing) add(r Received) {
	q.seq++
	r.Seq = q.seq
	q.entries = append(q.entries, r)
	q.bytes += len(r.Body)
	for len(q.entries) > maxReceived || q.bytes > maxReceivedBytes {
		q.bytes -= len(q.entries[0].Body)
		q.entries[0] = Received{} // the array keeps the slot until append moves on
		q.entries = q.entries[1:]
	}
}

// keptBody is what the ring keeps of a request body: the body, or its
// first maxReceivedBody bytes (cut on a UTF-8 boundary) as a JSON string.
func keptBody(body []byte) (json.RawMessage, bool) {
	if len(body) <= maxReceivedBody {
		return json.RawMessage(bytes.Clone(body)), false
	}
	cut := maxReceivedBody
	for cut > 0 && !utf8.RuneStart(body[cut]) {
		cut--
	}
	b, _ := json.Marshal(string(body[:cut]))
	return b, true
}

// Server is cloudsim's Bedrock Runtime.
type Server struct {
	region  string
	account string
	// extraProfiles are the tenant file's aws.inferenceProfiles.
	extraProfiles []string
	creds         Credentials
	apiKeys       []string
	now           func() time.Time
	log           *slog.Logger
	stats         *entra.Stats

	mu           sync.Mutex
	received     receivedRing
	throttleNext int
	failNext     int
	skipToolAuto bool
	delay        time.Duration
}

// Options configures a Server.
type Options struct {
	Region            string
	Account           string   // the AWS account ID, for resource ARNs
	InferenceProfiles []string // profile IDs beyond the built-in table
	Credentials       Credentials
	APIKeys           []string
	Now               func() time.Time
	Logger            *slog.Logger
	Stats             *entra.Stats
}

// New returns a Bedrock Runtime for one region.
func New(o Options) *Server {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Stats == nil {
		o.Stats = entra.NewStats()
	}
	return &Server{region: o.Region, account: o.Account, extraProfiles: o.InferenceProfiles, creds: o.Credentials, apiKeys: o.APIKeys, now: o.Now, log: o.Logger, stats: o.Stats}
}

// Register adds the routes and the fault switch to mux.
func (s *Server) Register(mux *http.ServeMux) {
	mux.HandleFunc("POST "+Path+"/model/{modelId}/converse", withRequestID(s.converse(false)))
	mux.HandleFunc("POST "+Path+"/model/{modelId}/converse-stream", withRequestID(s.converse(true)))
	mux.HandleFunc("POST /_cloudsim/faults/bedrock", s.faults)
	mux.HandleFunc("GET /_cloudsim/bedrock/received", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Received())
	})
}

// NotFound answers a request under Path that no route matched as AWS
// does, in a shape the SDK can read: Go's plain-text 404 would surface as
// a deserialization failure. (A catch-all route under Path would clash
// with Entra's /{tenant}/… routes in the shared mux.)
func NotFound(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", awsquery.NewRequestID())
	(&apiError{http.StatusNotFound, "UnknownOperationException", "cloudsim's Bedrock serves POST /model/{modelId}/converse and /converse-stream, not " +
		r.Method + " " + strings.TrimPrefix(r.URL.Path, Path)}).write(w)
}

// Received returns the most recent requests Bedrock answered, oldest
// first: at most maxReceived, bodies cut at maxReceivedBody. Refused
// requests are not among them.
func (s *Server) Received() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.received.entries...)
}

// Throttle makes the next n requests fail with ThrottlingException.
func (s *Server) Throttle(n int) { s.mu.Lock(); s.throttleNext = n; s.mu.Unlock() }

// Fail makes the next n requests fail with InternalServerException.
func (s *Server) Fail(n int) { s.mu.Lock(); s.failNext = n; s.mu.Unlock() }

// Delay makes every answer wait d first, as a slow model does.
func (s *Server) Delay(d time.Duration) { s.mu.Lock(); s.delay = d; s.mu.Unlock() }

// SkipToolOnAuto makes the model answer weather questions without calling
// the tool unless toolChoice names it, as real models sometimes do.
func (s *Server) SkipToolOnAuto(on bool) { s.mu.Lock(); s.skipToolAuto = on; s.mu.Unlock() }

// faults is POST /_cloudsim/faults/bedrock?throttle=N&fail=N&skip_tool=true.
// Counts are 0 to maxFaults.
func (s *Server) faults(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	counts := map[string]func(int){"throttle": s.Throttle, "fail": s.Fail}
	for name := range counts {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 || n > maxFaults {
				http.Error(w, fmt.Sprintf("%s must be 0 to %d", name, maxFaults), http.StatusBadRequest)
				return
			}
		}
	}
	if v := q.Get("skip_tool"); v != "" && v != "true" && v != "false" {
		http.Error(w, "skip_tool must be true or false", http.StatusBadRequest)
		return
	}
	for name, set := range counts {
		if v := q.Get(name); v != "" {
			n, _ := strconv.Atoi(v)
			set(n)
		}
	}
	if v := q.Get("skip_tool"); v != "" {
		s.SkipToolOnAuto(v == "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// maxFaults bounds a fault count.
const maxFaults = 1000

// withRequestID gives every answer, success, error or stream, the
// x-amzn-RequestId header AWS sends and the SDKs report.
func withRequestID(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amzn-Requestid", awsquery.NewRequestID())
		h(w, r)
	}
}

type apiError struct {
	status int
	code   string
	msg    string
}

func (e *apiError) write(w http.ResponseWriter) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Amzn-ErrorType", e.code)
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]string{"message": e.msg})
}

// maxBody bounds what cloudsim reads of a request. AWS documents no total
// for Converse, but a message may carry 20 images of 3.75 MB and five
// documents of 4.5 MB (API_runtime_Message), base64-encoded in JSON: 128
// MiB holds that. Past it cloudsim refuses, which docs/cloudsim.md lists.
const maxBody = 128 << 20

func (s *Server) converse(stream bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		s.stats.Add("bedrock.converse")
		modelID := r.PathValue("modelId")
		refuse := func(e *apiError) {
			s.stats.Add("bedrock.error." + e.code)
			s.log.Info("bedrock refused", "code", e.code)
			e.write(w)
		}
		// A request with neither SigV4 nor a bearer key is refused before
		// its body is read: nothing it sent is worth 128 MiB of reading.
		if auth := r.Header.Get("Authorization"); !strings.HasPrefix(auth, "Bearer ") && !strings.HasPrefix(auth, "AWS4-HMAC-SHA256 ") {
			_, e := s.authenticate(r, nil)
			refuse(e)
			return
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		if err != nil || len(body) > maxBody {
			refuse(&apiError{http.StatusBadRequest, "ValidationException", "cloudsim reads request bodies of up to 128 MiB; this one is larger or unreadable."})
			return
		}
		c, e := s.authenticate(r, body)
		if e != nil {
			refuse(e)
			return
		}
		profile, e := s.resolveModel(modelID)
		if e != nil {
			refuse(e)
			return
		}
		action := "bedrock:InvokeModel"
		if stream {
			action = "bedrock:InvokeModelWithResponseStream"
		}
		if resource := s.deniedResource(c, action, profile); resource != "" {
			who, _, _ := strings.Cut(c.Principal, " (")
			refuse(&apiError{http.StatusForbidden, "AccessDeniedException", fmt.Sprintf(
				"User: %s is not authorized to perform: %s on resource: %s because no identity-based policy allows the %s action",
				who, action, resource, action)})
			return
		}
		s.mu.Lock()
		throttled, failed, skip, delay := s.throttleNext > 0, s.failNext > 0 && s.throttleNext == 0, s.skipToolAuto, s.delay
		if throttled {
			s.throttleNext--
		} else if failed {
			s.failNext--
		}
		s.mu.Unlock()
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
		switch {
		case throttled:
			refuse(&apiError{http.StatusTooManyRequests, "ThrottlingException", "Too many requests, please wait before trying your request again."})
			return
		case failed:
			refuse(&apiError{http.StatusInternalServerError, "InternalServerException", "The server encountered an internal error. Try again later."})
			return
		}
		var req converseRequest
		if err := json.Unmarshal(body, &req); err != nil {
			refuse(&apiError{http.StatusBadRequest, "ValidationException", "Malformed input request, please reformat your input and try again."})
			return
		}
		if e := validateMessages(req); e != nil {
			refuse(e)
			return
		}
		reply := respond(req, skip)
		kept, truncated := keptBody(body)
		s.mu.Lock()
		s.received.add(Received{ModelID: modelID, Stream: stream, Caller: c, Body: kept, Truncated: truncated, BodyBytes: len(body), Status: http.StatusOK})
		s.mu.Unlock()
		s.log.Info("bedrock answered", "model", modelID, "stream", stream, "stop_reason", reply.StopReason, "auth", c.Auth, "access_key_id", c.AccessKeyID)
		if stream {
			s.writeStream(w, reply)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(reply)
	}
}

// converseRequest is the part of a Converse request the model reads.
type converseRequest struct {
	Messages []struct {
		Role    string         `json:"role"`
		Content []contentBlock `json:"content"`
	} `json:"messages"`
	ToolConfig *struct {
		Tools []struct {
			ToolSpec struct {
				Name string `json:"name"`
			} `json:"toolSpec"`
		} `json:"tools"`
		ToolChoice map[string]json.RawMessage `json:"toolChoice"`
	} `json:"toolConfig"`
}

type contentBlock struct {
	Text    *string `json:"text,omitempty"`
	ToolUse *struct {
		ToolUseID string         `json:"toolUseId"`
		Name      string         `json:"name"`
		Input     map[string]any `json:"input"`
	} `json:"toolUse,omitempty"`
	ToolResult *struct {
		ToolUseID string `json:"toolUseId"`
		Content   []struct {
			JSON map[string]any `json:"json,omitempty"`
			Text *string        `json:"text,omitempty"`
		} `json:"content"`
		Status string `json:"status"`
	} `json:"toolResult,omitempty"`
}

// converseResponse is Converse's answer.
type converseResponse struct {
	Output struct {
		Message struct {
			Role    string `json:"role"`
			Content []any  `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string         `json:"stopReason"`
	Usage      map[string]int `json:"usage"`
	Metrics    map[string]int `json:"metrics"`
}

// respond is the deterministic model.
func respond(req converseRequest, skipToolOnAuto bool) converseResponse {
	var out converseResponse
	out.Output.Message.Role = "assistant"
	out.Metrics = map[string]int{"latencyMs": 42}
	last := req.Messages[len(req.Messages)-1]
	text := func(s string) {
		out.Output.Message.Content = append(out.Output.Message.Content, map[string]string{"text": s})
		out.StopReason = "end_turn"
	}
	for _, b := range last.Content {
		if b.ToolResult != nil {
			if tool := toolNameOf(req, b.ToolResult.ToolUseID); tool == graphTool {
				text(directoryAnswer(b.ToolResult.Status, b.ToolResult.Content))
			} else {
				text(answerFrom(b.ToolResult.Status, b.ToolResult.Content))
			}
			out.Usage = usage(req, out)
			return out
		}
	}
	var question string
	for _, b := range last.Content {
		if b.Text != nil {
			question += *b.Text
		}
	}
	offered, forced := toolOffered(req)
	city, isWeather := weather.Question(question)
	if path, ok := directoryQuestion(question); ok && !forced {
		switch {
		case hasTool(req, graphTool):
			out.Output.Message.Content = append(out.Output.Message.Content,
				map[string]string{"text": "Let me look that up in the directory."},
				map[string]any{"toolUse": map[string]any{"toolUseId": "tooluse_graph", "name": graphTool, "input": map[string]string{"relativeUrl": path}}})
			out.StopReason = "tool_use"
		case hasTool(req, directoryPlaceholder):
			out.Output.Message.Content = append(out.Output.Message.Content,
				map[string]any{"toolUse": map[string]any{"toolUseId": "tooluse_directory", "name": directoryPlaceholder, "input": map[string]string{}}})
			out.StopReason = "tool_use"
		default:
			text("I can't read the directory in this conversation: no directory tool was offered to me.")
		}
		out.Usage = usage(req, out)
		return out
	}
	switch {
	case offered && (forced || (isWeather && !skipToolOnAuto)):
		if city == "" {
			city = weather.DefaultCity
		}
		out.Output.Message.Content = append(out.Output.Message.Content,
			map[string]string{"text": "Let me look up the weather in " + city + "."},
			map[string]any{"toolUse": map[string]any{"toolUseId": "tooluse_" + strings.ReplaceAll(strings.ToLower(city), " ", "_"), "name": "get_weather", "input": map[string]string{"city": city}}})
		out.StopReason = "tool_use"
	case isWeather:
		text("It is probably pleasant somewhere. (This model answered without checking the weather.)")
	default:
		text("I'm the weather agent. Ask me about the weather in a city, for example: what's the weather in Seattle?")
	}
	out.Usage = usage(req, out)
	return out
}

// The MCP server's Graph tool, and the agent's stand-in for it when its
// tools could not be listed.
const (
	graphTool            = "microsoft_graph_get"
	directoryPlaceholder = "microsoft_directory"
)

// directoryQuestion reports whether a message asks the directory, and the
// Graph path that answers it.
func directoryQuestion(q string) (string, bool) {
	m := strings.ToLower(q)
	for _, p := range []string{"who am i", "whoami", "my profile", "my name", "about me", "signed in as"} {
		if strings.Contains(m, p) {
			return "/me", true
		}
	}
	for _, p := range []string{"colleagues", "users in", "people in", "the directory", "list users", "who works"} {
		if strings.Contains(m, p) {
			return "/users", true
		}
	}
	return "", false
}

func hasTool(req converseRequest, name string) bool {
	if req.ToolConfig == nil {
		return false
	}
	for _, t := range req.ToolConfig.Tools {
		if t.ToolSpec.Name == name {
			return true
		}
	}
	return false
}

// toolNameOf finds which tool a toolUseId called, in the assistant turns.
func toolNameOf(req converseRequest, id string) string {
	for _, m := range req.Messages {
		for _, b := range m.Content {
			if b.ToolUse != nil && b.ToolUse.ToolUseID == id {
				return b.ToolUse.Name
			}
		}
	}
	return ""
}

// directoryAnswer words the Graph tool's result: a user, or a list.
func directoryAnswer(status string, content []struct {
	JSON map[string]any `json:"json,omitempty"`
	Text *string        `json:"text,omitempty"`
}) string {
	for _, c := range content {
		switch {
		case status == "error" && c.Text != nil:
			return "I couldn't read the directory: " + *c.Text
		case c.JSON["displayName"] != nil:
			return fmt.Sprintf("You are %v (%v), according to your organization's directory.", c.JSON["displayName"], c.JSON["userPrincipalName"])
		case c.JSON["value"] != nil:
			users, _ := c.JSON["value"].([]any)
			var names []string
			for _, u := range users {
				if m, ok := u.(map[string]any); ok {
					names = append(names, fmt.Sprint(m["displayName"]))
				}
			}
			return fmt.Sprintf("The directory lists %d users: %s.", len(names), strings.Join(names, ", "))
		}
	}
	return "The directory returned nothing."
}

// toolOffered reports whether get_weather is offered, and whether
// toolChoice requires a tool call (any, or get_weather by name).
func toolOffered(req converseRequest) (offered, forced bool) {
	if req.ToolConfig == nil {
		return false, false
	}
	for _, t := range req.ToolConfig.Tools {
		if t.ToolSpec.Name == "get_weather" {
			offered = true
		}
	}
	if _, ok := req.ToolConfig.ToolChoice["any"]; ok {
		forced = true
	}
	if raw, ok := req.ToolConfig.ToolChoice["tool"]; ok {
		var named struct {
			Name string `json:"name"`
		}
		forced = json.Unmarshal(raw, &named) == nil && named.Name == "get_weather"
	}
	return offered, forced
}

func answerFrom(status string, content []struct {
	JSON map[string]any `json:"json,omitempty"`
	Text *string        `json:"text,omitempty"`
}) string {
	for _, c := range content {
		if status == "error" {
			msg := "the weather service refused the request"
			if c.Text != nil {
				msg = *c.Text
			} else if m, ok := c.JSON["message"].(string); ok {
				msg = m
			}
			return "I couldn't get the weather: " + msg
		}
		if c.JSON != nil {
			w := c.JSON
			return fmt.Sprintf("In %v it is %v°F and %v, with humidity at %v%% and wind at %v mph.",
				w["city"], w["temperature"], strings.ToLower(fmt.Sprint(w["condition"])), w["humidity"], w["wind_speed"])
		}
		if c.Text != nil {
			return "Here is what the weather service said: " + *c.Text
		}
	}
	return "The weather tool returned nothing."
}

func usage(req converseRequest, out converseResponse) map[string]int {
	in, _ := json.Marshal(req)
	o, _ := json.Marshal(out.Output)
	input, output := len(in)/4, len(o)/4
	return map[string]int{"inputTokens": input, "outputTokens": output, "totalTokens": input + output}
}

// writeStream sends the answer as ConverseStream events, framed with the
// SDK's own eventstream encoder.
func (s *Server) writeStream(w http.ResponseWriter, reply converseResponse) {
	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	enc := eventstream.NewEncoder()
	flusher, _ := w.(http.Flusher)
	send := func(event string, payload any) {
		b, _ := json.Marshal(payload)
		var headers eventstream.Headers
		headers.Set(":message-type", eventstream.StringValue("event"))
		headers.Set(":event-type", eventstream.StringValue(event))
		headers.Set(":content-type", eventstream.StringValue("application/json"))
		var buf bytes.Buffer
		if err := enc.Encode(&buf, eventstream.Message{Headers: headers, Payload: b}); err == nil {
			w.Write(buf.Bytes())
			if flusher != nil {
				flusher.Flush()
			}
		}
	}
	send("messageStart", map[string]string{"role": "assistant"})
	for i, block := range reply.Output.Message.Content {
		switch b := block.(type) {
		case map[string]string:
			// A text block has no contentBlockStart: ContentBlockStart is a
			// union of toolUse, toolResult and image in the model, and boto3
			// refuses an empty one.
			for _, chunk := range chunks(b["text"], 24) {
				send("contentBlockDelta", map[string]any{"contentBlockIndex": i, "delta": map[string]string{"text": chunk}})
			}
		case map[string]any:
			use := b["toolUse"].(map[string]any)
			send("contentBlockStart", map[string]any{"contentBlockIndex": i, "start": map[string]any{"toolUse": map[string]any{"toolUseId": use["toolUseId"], "name": use["name"]}}})
			input, _ := json.Marshal(use["input"])
			for _, chunk := range chunks(string(input), 10) {
				send("contentBlockDelta", map[string]any{"contentBlockIndex": i, "delta": map[string]any{"toolUse": map[string]string{"input": chunk}}})
			}
		}
		send("contentBlockStop", map[string]int{"contentBlockIndex": i})
	}
	send("messageStop", map[string]string{"stopReason": reply.StopReason})
	send("metadata", map[string]any{"usage": reply.Usage, "metrics": reply.Metrics})
}

// chunks splits s into pieces of about n bytes, on rune boundaries.
func chunks(s string, n int) []string {
	var out []string
	for len(s) > n {
		cut := n
		for cut < len(s) && (s[cut]&0xC0) == 0x80 {
			cut++
		}
		out = append(out, s[:cut])
		s = s[cut:]
	}
	if s != "" {
		out = append(out, s)
	}
	return out
}
