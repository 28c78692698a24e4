package e2e_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"

	"github.com/crosscloud-agentid/agentid/internal/cloudsim/cloudsimtest"
	"github.com/crosscloud-agentid/agentid/internal/e2e"
	"github.com/crosscloud-agentid/agentid/internal/jwtauth/jwtauthtest"
	"github.com/crosscloud-agentid/agentid/internal/leakcheck"
)

// request sends one request to llm-agent and returns its status, headers
// and body.
func request(t *testing.T, method, url, body string, headers map[string]string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(raw)
}

var jsonType = map[string]string{"Content-Type": "application/json"}

// In AgentCore mode the container serves the runtime's contract and
// nothing else: no page, no /api/*, no websocket, whose turns would
// bypass the runtime's authorizer, and no CORS, since no browser calls it
// (the page's own llm-agent relays).
func TestAgentCoreModeServesOnlyTheContract(t *testing.T) {
	s := e2e.Start(t)
	url := agentCore(s, nil)
	before := len(s.Sim.Bedrock.Received())
	turn := `{"message":"weather in Rome","token_flow":"autonomous","llm_mode":"bedrock"}`
	for _, c := range []struct {
		method, path, body string
		want               int
	}{
		{"POST", "/api/chat", turn, 404}, {"GET", "/api/chat/ws", "", 404}, {"GET", "/", "", 404}, {"GET", "/index.html", "", 404},
		{"GET", "/api/status", "", 404}, {"GET", "/api/config", "", 404}, {"POST", "/invocations", `{"prompt":"weather in Rome"}`, 401},
		{"GET", "/ping", "", 200}, {"GET", "/health", "", 200},
	} {
		if got, _, body := request(t, c.method, url+c.path, c.body, jsonType); got != c.want {
			t.Errorf("%s %s: %d %.100s, want %d", c.method, c.path, got, body, c.want)
		}
	}
	if _, _, err := websocket.DefaultDialer.Dial("ws"+strings.TrimPrefix(url, "http")+"/api/chat/ws", nil); err == nil {
		t.Error("the websocket upgraded in AgentCore mode")
	}
	if n := len(s.Sim.Bedrock.Received()); n != before {
		t.Errorf("Bedrock got %d requests from unauthenticated callers", n-before)
	}
	// A preflight, from any origin, is granted nothing.
	code, h, _ := request(t, "OPTIONS", url+"/invocations", "", map[string]string{"Origin": "https://chat.example.com",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if code < 400 || h.Get("Access-Control-Allow-Origin") != "" || h.Get("Access-Control-Allow-Headers") != "" {
		t.Errorf("a preflight: %d %v", code, h)
	}
	code, h, _ = request(t, "POST", url+"/invocations", `{"prompt":"hi"}`, map[string]string{"Origin": "https://chat.example.com", "Content-Type": "application/json"})
	if h.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("an invocation with an Origin: %d %v", code, h)
	}
}

// Off loopback, autonomous turns need a signed-in user of the tenant; a
// token from an app is not a user, with or without idtyp.
func TestAutonomousTurnsNeedAUserOffLoopback(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(map[string]string{"LISTEN_ADDR": ":3000", "PUBLIC_ORIGIN": "http://127.0.0.1", "CLIENT_SPA_APP_ID": ""})
	tokens := cloudsimtest.NewTokens(s.Sim)
	tc := tokens.User(t)
	claims := jwtauthtest.Claims(t, tc)
	appOnly := func(changes map[string]any) string {
		tok, err := s.Sim.Keys.Sign(jwtauthtest.Edit(claims, changes), true)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	turn := func(flow, token string) (int, string) {
		h := map[string]string{"Content-Type": "application/json"}
		if token != "" {
			h["Authorization"] = "Bearer " + token
		}
		code, _, body := request(t, "POST", url+"/api/chat", `{"message":"What's the weather in Lima?","token_flow":"`+flow+`"}`, h)
		return code, body
	}
	if code, body := turn("autonomous", ""); code != 401 || !strings.Contains(body, "sign in first") {
		t.Errorf("anonymous autonomous turn: %d %.200s", code, body)
	}
	if code, body := turn("autonomous", tc); code != 200 || !strings.Contains(body, "Lima") {
		t.Errorf("signed-in autonomous turn: %d %.200s", code, body)
	}
	for name, tok := range map[string]string{
		"idtyp=app, no scp": appOnly(map[string]any{"idtyp": "app", "scp": nil, "oid": nil, "name": nil, "preferred_username": nil}),
		"no idtyp, no scp":  appOnly(map[string]any{"idtyp": nil, "scp": nil}),
	} {
		for _, flow := range []string{"autonomous", "obo", "agent_user"} {
			if code, body := turn(flow, tok); code != 401 || !strings.Contains(body, "app-only") {
				t.Errorf("%s as the user, %s: %d %.200s", name, flow, code, body)
			}
		}
	}
	_, _, cfg := request(t, "GET", url+"/api/config", "", nil)
	if !strings.Contains(cfg, `"autonomousNeedsSignIn":true`) {
		t.Errorf("/api/config does not tell the page: %s", cfg)
	}
}

// Cross-site and rebinding requests, as curl would send them; the browser
// versions are in TestBrowserCrossSite.
func TestHostOriginAndContentTypeGuards(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(nil)
	host := strings.TrimPrefix(url, "http://")
	_, port, _ := strings.Cut(host, ":")
	before := len(s.Sim.Bedrock.Received())
	turn := `{"message":"What's the weather in Rome?","llm_mode":"bedrock"}`
	cases := []struct {
		name, method, path, body string
		headers                  map[string]string
		want                     int
	}{
		{"text/plain turn (a no-cors fetch or a form)", "POST", "/api/chat", turn, map[string]string{"Content-Type": "text/plain"}, 415},
		{"form-encoded turn", "POST", "/api/chat", turn, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415},
		{"turn from another origin", "POST", "/api/chat", turn, map[string]string{"Content-Type": "application/json", "Origin": "http://attacker.example"}, 403},
		{"rebound Host, page", "GET", "/", "", map[string]string{"Host": "rebind.attacker.example:" + port}, 421},
		{"rebound Host and Origin, turn", "POST", "/api/chat", turn, map[string]string{"Content-Type": "application/json",
			"Host": "rebind.attacker.example:" + port, "Origin": "http://rebind.attacker.example:" + port}, 421},
		{"rebound Host, status", "GET", "/api/status", "", map[string]string{"Host": "rebind.attacker.example:" + port}, 421},
		{"health for a platform probe by IP", "GET", "/health", "", map[string]string{"Host": "10.1.2.3:3000"}, 200},
		{"same-origin turn", "POST", "/api/chat", turn, map[string]string{"Content-Type": "application/json; charset=utf-8", "Origin": url}, 200},
		{"localhost by name", "GET", "/api/config", "", map[string]string{"Host": "localhost:" + port}, 200},
	}
	for _, c := range cases {
		if got, _, body := request(t, c.method, url+c.path, c.body, c.headers); got != c.want {
			t.Errorf("%s: %d %.150s, want %d", c.name, got, body, c.want)
		}
	}
	if n := len(s.Sim.Bedrock.Received()) - before; n != 2 { // the same-origin turn: a tool round and the answer
		t.Errorf("Bedrock got %d requests, want the 2 of the one allowed turn", n)
	}
	h := http.Header{"Origin": {"http://rebind.attacker.example:" + port}, "Host": {"rebind.attacker.example:" + port}}
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	if _, resp, err := d.Dial("ws://"+host+"/api/chat/ws", h); err == nil || resp == nil || resp.StatusCode != 421 {
		t.Errorf("websocket with a rebound Host: %v %v", resp, err)
	}
}

// Turn bodies are parsed strictly: what encoding/json would let through
// silently is refused, and a non-UTF-8 text frame closes the socket.
func TestStrictTurns(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(nil)
	for name, body := range map[string]string{
		"trailing bytes":      `{"message":"weather in Rome"} {"token_flow":"obo"}`,
		"a field twice":       `{"message":"weather in Rome","llm_mode":"direct","llm_mode":"bedrock"}`,
		"a field in capitals": `{"Message":"weather in Rome"}`,
		"an array":            `[{"message":"weather in Rome"}]`,
	} {
		if code, _, resp := request(t, "POST", url+"/api/chat", body, jsonType); code != 400 || !strings.Contains(resp, "not a valid turn") {
			t.Errorf("%s: %d %.150s", name, code, resp)
		}
	}
	c, _, err := dial(t, url, url)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.WriteMessage(websocket.TextMessage, []byte("{\"message\":\"weather in \xff\xfe\"}"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err = c.ReadMessage()
	if !websocket.IsCloseError(err, websocket.CloseInvalidFramePayloadData) {
		t.Errorf("a non-UTF-8 text frame: %v, want close 1007", err)
	}
}

// Websockets are capped per client and in total, and only a valid turn
// keeps one open: a client that sends junk is closed when idle.
func TestWebSocketCaps(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(map[string]string{"WS_MAX_PER_CLIENT": "2", "WS_MAX_CONNECTIONS": "3", "WS_IDLE_TIMEOUT": "1s"})
	var open []*websocket.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for i := range 3 {
		c, resp, err := dial(t, url, url)
		if i < 2 {
			if err != nil {
				t.Fatalf("socket %d: %v", i+1, err)
			}
			open = append(open, c)
			continue
		}
		if err == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("a third socket from one client: %v %v", resp, err)
		}
	}
	// Junk every 300 ms does not keep the socket past its 1 s idle limit.
	junk := open[0]
	start := time.Now()
	closed := make(chan time.Duration, 1)
	go func() {
		for {
			junk.SetReadDeadline(time.Now().Add(5 * time.Second))
			if _, _, err := junk.ReadMessage(); err != nil {
				closed <- time.Since(start)
				return
			}
		}
	}()
	for range 10 {
		if junk.WriteMessage(websocket.TextMessage, []byte(`{"nonsense":`)) != nil {
			break
		}
		select {
		case <-closed:
			return
		case <-time.After(300 * time.Millisecond):
		}
	}
	select {
	case <-closed:
	case <-time.After(2 * time.Second):
		t.Error("a socket sending only invalid messages stayed open past its idle limit")
	}
}

// Behind one trusted proxy (TRUST_PROXY_HEADERS, as on Container Apps) the
// per-client cap counts the address the proxy appended last to
// X-Forwarded-For: a client that writes a new first entry on every socket
// still gets its two, and another client behind the same proxy gets its own.
func TestWebSocketCapKeysOnTheAddressTheProxySaw(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(map[string]string{"WS_MAX_PER_CLIENT": "2", "TRUST_PROXY_HEADERS": "true"})
	ws := "ws" + strings.TrimPrefix(url, "http") + "/api/chat/ws"
	open := func(xff string) (*websocket.Conn, *http.Response, error) {
		h := http.Header{"Origin": {url}, "X-Forwarded-For": {xff}}
		return websocket.DefaultDialer.Dial(ws, h)
	}
	var conns []*websocket.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for i := range 4 {
		// The client forges the first entry; the proxy appends what it saw.
		c, resp, err := open(fmt.Sprintf("10.9.8.%d, 203.0.113.7", i))
		if i < 2 {
			if err != nil {
				t.Fatalf("socket %d: %v", i+1, err)
			}
			conns = append(conns, c)
			continue
		}
		if err == nil {
			conns = append(conns, c)
			t.Fatalf("socket %d from 203.0.113.7 under a rotated first entry was accepted: the cap trusts what the client wrote", i+1)
		}
		if resp == nil || resp.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("socket %d: %v %v, want 429", i+1, resp, err)
		}
	}
	c, _, err := open("10.9.8.1, 198.51.100.9")
	if err != nil {
		t.Fatalf("another client behind the same proxy: %v", err)
	}
	conns = append(conns, c)
}

// No client value reaches a log line or an answer whole: a token planted
// in every field and header of every endpoint is found nowhere.
func TestPlantedTokenInEveryFieldLeaksNowhere(t *testing.T) {
	s := e2e.Start(t)
	url := s.Agent(nil)
	runtime := agentCore(s, nil)
	planted := cloudsimtest.NewTokens(s.Sim).User(t)
	var bodies strings.Builder
	fields := []string{"message", "llm_mode", "mode", "token_flow", "user_token", "use_langchain"}
	for _, f := range fields {
		for _, value := range []string{planted, "Bearer " + planted} {
			body, _ := json.Marshal(map[string]string{"message": "weather in Rome", f: value})
			_, _, out := request(t, "POST", url+"/api/chat", string(body), jsonType)
			bodies.WriteString(out)
			c, _, err := dial(t, url, url)
			if err != nil {
				t.Fatal(err)
			}
			c.WriteMessage(websocket.TextMessage, body)
			msgs, _ := readTurn(t, c)
			c.Close()
			for _, m := range msgs {
				raw, _ := json.Marshal(m)
				bodies.Write(raw)
			}
		}
	}
	for _, f := range []string{"prompt", "message", "text", "token_flow", "llm_mode"} {
		body, _ := json.Marshal(map[string]string{"prompt": "weather in Rome", f: planted})
		for _, auth := range []string{"Bearer " + planted + "x", planted} {
			_, _, out := request(t, "POST", runtime+"/invocations", string(body), map[string]string{"Content-Type": "application/json", "Authorization": auth})
			bodies.WriteString(out)
		}
	}
	for _, h := range []string{"X-Correlation-ID", "Authorization", "Origin"} {
		_, _, out := request(t, "POST", url+"/api/chat", `{"message":"weather in Rome","token_flow":"obo"}`,
			map[string]string{"Content-Type": "application/json", h: planted + "!"})
		bodies.WriteString(out)
	}
	for name, text := range map[string]string{"answers": bodies.String(), "logs": s.Logs.String()} {
		if leaks := leakcheck.Find(text, planted); len(leaks) > 0 {
			t.Errorf("the %s hold the planted token: %v", name, leaks)
		}
	}
	// The scan finds what it looks for: the planted token, written once.
	if leaks := leakcheck.Find(bodies.String()+planted, planted); len(leaks) == 0 {
		t.Error("the scan missed a planted token")
	}
	var sent bytes.Buffer
	json.NewEncoder(&sent).Encode(s.Sim.Bedrock.Received())
	if leaks := leakcheck.Find(sent.String(), planted); len(leaks) > 0 {
		t.Errorf("the model was sent the planted token: %v", leaks)
	}
}

// What a hostile page in the user's own browser tries, in headless
// Chromium: a cross-site turn by no-cors fetch and by form, a page on a
// name that rebinds to llm-agent's address, and a form that would sign the
// browser in to cloudsim as someone else (login CSRF). None gets through.
func TestBrowserCrossSite(t *testing.T) {
	needChromium(t)
	s := e2e.Start(t)
	agent := s.Agent(nil)
	_, port, _ := strings.Cut(strings.TrimPrefix(agent, "http://"), ":")
	tenantID := s.Env["TENANT_ID"]
	attacker := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		switch r.URL.Path {
		case "/turn":
			fmt.Fprintf(w, `<form id="f" method="POST" action="%[1]s/api/chat" enctype="text/plain" target="sink">
<input name='{"message":"What is the weather in Rome?","llm_mode":"bedrock","x":"' value='"}'></form><iframe name="sink"></iframe>
<script>
fetch(%[1]q + "/api/chat", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
  body: JSON.stringify({message: "What is the weather in Rome?", llm_mode: "bedrock"})})
  .finally(() => { document.getElementById("f").submit(); setTimeout(() => { document.title = "sent"; }, 1500); });
</script>`, agent)
		case "/login":
			fmt.Fprintf(w, `<form id="f" method="POST" action="%s/%s/oauth2/v2.0/authorize?client_id=%s&response_type=code&redirect_uri=http://localhost:3001&scope=openid">
<input name="login" value="bob@contoso.example"><input name="password" value="bob-local-demo-password"></form>
<script>document.getElementById("f").submit();</script>`, s.Sim.URL, tenantID, s.Env["CLIENT_SPA_APP_ID"])
		}
	}))
	defer attacker.Close()
	ctx := newChromium(t, s, chromedp.Flag("host-resolver-rules", "MAP rebind.attacker.example 127.0.0.1"))
	before := len(s.Sim.Bedrock.Received())

	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL+"/turn")); err != nil {
		t.Fatalf("attacker page: %v", err)
	}
	if _, err := chromedp.Run(ctx, chromedp.Poll[bool](`document.title === "sent"`)); err != nil {
		t.Fatalf("attacker page: %v", err)
	}
	if n := len(s.Sim.Bedrock.Received()) - before; n != 0 {
		t.Errorf("a cross-site page ran a Bedrock turn (%d model calls)", n)
	}
	if logs := s.Logs.String(); strings.Count(logs, "send the turn as Content-Type: application/json") < 2 {
		t.Errorf("llm-agent did not refuse the fetch and the form with 415; its log:\n%s", logs)
	}

	// The rebound name reaches llm-agent's port, which answers 421.
	if err := chromedp.Do(ctx, chromedp.Navigate("http://rebind.attacker.example:"+port+"/")); err != nil {
		t.Fatalf("rebound page: %v", err)
	}
	if body, _ := chromedp.Run(ctx, chromedp.Text("body")); !strings.Contains(body, "misdirected_request") {
		t.Errorf("the rebound name was served: %.300s", body)
	}

	if err := chromedp.Do(ctx, chromedp.Navigate(attacker.URL+"/login"), chromedp.WaitVisible("body")); err != nil {
		t.Fatalf("login CSRF page: %v", err)
	}
	deadline := time.Now().Add(10 * time.Second)
	var body string
	for time.Now().Before(deadline) && !strings.Contains(body, "cloudsim refuses a form post") {
		time.Sleep(100 * time.Millisecond)
		body, _ = chromedp.Run(ctx, chromedp.Text("body"))
	}
	if !strings.Contains(body, "cloudsim refuses a form post from another site") {
		t.Errorf("the cross-site sign-in form was not refused: %.300s", body)
	}
}

// The page's Content Security Policy: scripts and styles from itself only,
// and framing by itself only. MSAL.js's hidden iframe needs 'self' in
// frame-src and frame-ancestors (TestBrowserSPARules shows it working);
// any other site is refused.
func TestUIContentSecurityPolicy(t *testing.T) {
	s := e2e.Start(t)
	resp, err := http.Get(s.Agent(nil) + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	directives := map[string]string{}
	for _, d := range strings.Split(resp.Header.Get("Content-Security-Policy"), ";") {
		name, value, _ := strings.Cut(strings.TrimSpace(d), " ")
		directives[name] = value
	}
	authority, _ := neturl.Parse(s.Env["AZURE_AUTHORITY_HOST"])
	for name, want := range map[string]string{
		"script-src": "'self'", "frame-ancestors": "'self'", "frame-src": "'self' " + authority.Scheme + "://" + authority.Host,
		"object-src": "'none'", "base-uri": "'none'",
	} {
		if got := directives[name]; got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}
