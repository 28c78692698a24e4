// Package trace records the identity trace of one chat turn: ordered
// events, some carrying a token card (decoded header and claims, never the
// signature or the encoded token), streamed as they happen and returned
// with the answer.
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
	Kind      string         `json:"kind"` // Tc, T1, T2, TR, TU, TAU, AWS
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

// AddToken records a step that produced or used a token.
func (r *Recorder) AddToken(step, actor, message string, card Card, data map[string]any) {
	r.add(Event{Step: step, Actor: actor, Message: message, Data: data, Token: &card})
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
	}
	highlights = map[string][]string{
		"Tc":  {"aud", "azp", "oid", "scp", "preferred_username"},
		"T1":  {"aud", "azp", "sub"},
		"T2":  {"aud", "azp", "oid"},
		"TR":  {"aud", "azp", "appid", "roles", "idtyp", "xms_act_fct", "xms_par_app_azp"},
		"TU":  {"aud", "azp", "oid", "scp", "xms_act_fct", "xms_par_app_azp"},
		"TAU": {"aud", "azp", "oid", "upn", "scp", "xms_sub_fct", "xms_act_fct"},
		"AWS": {"iss", "aud", "sub", "appid", "ver"},
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
