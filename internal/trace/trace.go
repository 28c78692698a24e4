// Package trace records the identity trace of one chat turn: ordered
// events, some a hop between two parties (the arrow the chat UI's
// sequence diagram draws), some carrying a token card (decoded header and
// claims, never the signature or the encoded token), streamed as they
// happen and returned with the answer.
package trace

import (
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/crosscloud-agentid/agentid/internal/identity"
)

// Card is a token as the trace shows it.
type Card struct {
	Kind      string         `json:"kind"` // Tc, T1, T2, TR, TU, TAU, TV, AWS
	Title     string         `json:"title"`
	Header    map[string]any `json:"header"`
	Claims    map[string]any `json:"claims"`
	Highlight []string       `json:"highlight"`
}

// Event is one step of a turn.
type Event struct {
	Seq     int            `json:"seq"`
	AtMs    int64          `json:"at_ms"`
	Step    string         `json:"step"`
	Actor   string         `json:"actor"`
	Message string         `json:"message"`
	Data    map[string]any `json:"data,omitempty"`
	Token   *Card          `json:"token,omitempty"`
	// Hop is set when the step is a message between two parties: the
	// arrow a sequence diagram draws for it, recorded where the call is
	// made, so nothing has to read the message text.
	Hop *Hop `json:"hop,omitempty"`
}

// The parties of a turn, as hops name them.
const (
	Browser = "browser"      // the chat UI and its signed-in user
	Agent   = "llm-agent"    // the agent's own code
	Sidecar = "auth-sidecar" // the Entra auth sidecar beside llm-agent
	MSAL    = "msal"         // MSAL Go inside llm-agent
	// AgentCoreIdentity is AWS AgentCore Identity's token vault.
	AgentCoreIdentity = "agentcore-identity"
	Entra             = "entra"           // Entra ID's token endpoint
	WeatherAPI        = "weather-api"     // the protected API
	MCPServer         = "mcp-server"      // the Microsoft MCP Server for Enterprise
	Refresher         = "token-refresher" // writes chain B's web identity token file
	STS               = "aws-sts"         // AWS STS
	Bedrock           = "bedrock"         // Amazon Bedrock Runtime
)

// Hop is one message of a turn from one party to another: what it
// carried and, for an answer or a refusal, how it ended.
type Hop struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Carries string `json:"carries"` // Tc, T1, TR, TU, T2, TAU, the web identity token, a tool call, an answer
	// Status is the HTTP status of an answer (0: a request, or none).
	Status int `json:"status,omitempty"`
	// Code is the refusal's code: AADSTS65001, invalid_token,
	// AccessDeniedException.
	Code   string `json:"code,omitempty"`
	Failed bool   `json:"failed,omitempty"`
}

// Recorder collects a turn's events; sink, when set, gets each as it is
// added (the websocket streams them).
type Recorder struct {
	start  time.Time
	sink   func(Event)
	mu     sync.Mutex
	events []Event
}

// New starts a trace.
func New(sink func(Event)) *Recorder { return &Recorder{start: time.Now(), sink: sink} }

// Add records a step.
func (r *Recorder) Add(step, actor, message string, data map[string]any) {
	r.add(Event{Step: step, Actor: actor, Message: message, Data: data})
}

// AddHop records a step that is a message between two parties.
func (r *Recorder) AddHop(step, actor, message string, h Hop, data map[string]any) {
	r.add(Event{Step: step, Actor: actor, Message: message, Data: data, Hop: &h})
}

// AddTokenHop records a message that carried a token: its card and its
// arrow.
func (r *Recorder) AddTokenHop(step, actor, message string, card Card, h Hop, data map[string]any) {
	r.add(Event{Step: step, Actor: actor, Message: message, Data: data, Token: &card, Hop: &h})
}

func (r *Recorder) add(e Event) {
	r.mu.Lock()
	e.Seq = len(r.events) + 1
	e.AtMs = time.Since(r.start).Milliseconds()
	r.events = append(r.events, e)
	sink := r.sink
	r.mu.Unlock()
	if sink != nil {
		sink(e)
	}
}

// Events returns the events so far, in order.
func (r *Recorder) Events() []Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Event(nil), r.events...)
}

// titles and highlights per token kind: what a reader should look at.
var (
	titles = map[string]string{
		"Tc":  "Tc: the signed-in user's token (audience: the blueprint)",
		"T1":  "T1: the blueprint's exchange token for the agent (fmi_path)",
		"T2":  "T2: the agent identity's exchange token",
		"TR":  "TR: the agent identity's app-only token for the %s",
		"TU":  "TU: the agent's token for the %s, on behalf of the user",
		"TAU": "TAU: the agent user's token for the %s",
		"AWS": "The web identity token AWS STS accepts (chain B)",
		"TV":  "TV: the vault's token for the %s, on behalf of the user (AgentCore Identity's token vault; the client is the vault's app, not the agent identity)",
	}
	highlights = map[string][]string{
		"Tc":  {"aud", "azp", "oid", "scp", "preferred_username"},
		"T1":  {"aud", "azp", "sub"},
		"T2":  {"aud", "azp", "oid"},
		"TR":  {"aud", "azp", "appid", "roles", "idtyp", "xms_act_fct", "xms_par_app_azp"},
		"TU":  {"aud", "azp", "oid", "scp", "xms_act_fct", "xms_par_app_azp"},
		"TAU": {"aud", "azp", "oid", "upn", "scp", "xms_sub_fct", "xms_act_fct"},
		"AWS": {"iss", "aud", "sub", "appid", "ver"},
		"TV":  {"aud", "azp", "appid", "oid", "scp", "preferred_username"},
	}
)

// CardOf is a decoded token as the trace shows it, as kind. target names
// the API a TR, TU or TAU is for; the other kinds have none.
func CardOf(kind string, c identity.DecodedToken, target string) Card {
	title := titles[kind]
	if strings.Contains(title, "%s") {
		title = fmt.Sprintf(title, target)
	}
	return Card{Kind: kind, Title: title, Header: c.Header, Claims: c.Claims, Highlight: highlights[kind]}
}
