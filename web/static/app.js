// The chat UI. Everything the server sends is rendered as text
// (textContent), never as HTML. Tokens stay in MSAL's sessionStorage cache;
// this file never stores, prints or logs one. The one it keeps is in
// memory: the token a turn was sent with while that turn waits for
// AgentCore Identity's consent, since AWS binds the consent only with
// exactly that token (waitingForConsent); it is dropped once the turn is
// sent again.
"use strict";

const $ = (id) => document.getElementById(id);
const TURN_TIMEOUT_MS = 120000;
// How long turns are marked as sent after consent: how long a replica
// remembers Entra's refusal of the user's MCP token (mcptool.RefusalTTL).
const AFTER_CONSENT_MS = 120000;

let config = null;
let msalApp = null;
let account = null;

// Why each highlighted claim matters, shown as a tooltip.
const claimHelp = {
  aud: "Audience: the API this token is for. The receiver must check it is itself.",
  iss: "Issuer: the tenant's v1 or v2 token service.",
  azp: "The client app that asked for the token (v2).",
  appid: "The client app that asked for the token (v1).",
  idtyp: "app for app-only tokens, user for delegated ones.",
  oid: "The object ID of the subject: the user, the agent user, or the app.",
  scp: "Delegated scopes the user (and admin) consented to.",
  roles: "App roles assigned to the calling app.",
  sub: "The subject; for T1, the agent identity's FMI path.",
  preferred_username: "The signed-in user's name.",
  upn: "The user principal name.",
  ver: "Token version: 1.0 or 2.0, chosen by the resource.",
  xms_act_fct: "Actor facets: 11 marks an agent identity acting.",
  xms_sub_fct: "Subject facets: 13 marks an agent user.",
  xms_par_app_azp: "The parent blueprint of the agent identity (reported, not authorized on).",
};

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v;
    else if (k === "text") e.textContent = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) if (c) e.append(c);
  return e;
}

function kv(data, highlight) {
  const dl = el("dl", { class: "kv" });
  for (const [k, v] of Object.entries(data || {})) {
    const hl = highlight && highlight.includes(k);
    const dt = el("dt", { text: k, class: hl ? "hl" : "" });
    const dd = el("dd", { text: typeof v === "object" ? JSON.stringify(v) : String(v) });
    if (hl) {
      dd.className = "hl";
      if (claimHelp[k]) dt.title = claimHelp[k];
    }
    dl.append(dt, dd);
  }
  return dl;
}

// --- configuration, sign-in -------------------------------------------------

async function loadConfig() {
  const r = await fetch("api/config");
  config = await r.json();
  $("tenant-id").textContent = config.tenantId;
  $("agent-id").textContent = config.agentAppId;
  // The agent runs on AgentCore Runtime: this page still calls only its own
  // origin, whose llm-agent sends each turn there with the user's token.
  if (config.agentCore) addMessage("note", "Turns run on the agent on AgentCore Runtime: this page's server sends each one there with your token.");
  if (!config.clientId || !window.msal) {
    $("sign-in").disabled = true;
    $("signed-in-as").textContent = "Sign-in is not configured (CLIENT_SPA_APP_ID).";
    return;
  }
  msalApp = new msal.PublicClientApplication({
    auth: { clientId: config.clientId, authority: config.authority, knownAuthorities: config.knownAuthorities, redirectUri: config.redirectUri },
    cache: { cacheLocation: "sessionStorage" },
  });
  await msalApp.initialize();
  const result = await msalApp.handleRedirectPromise();
  account = (result && result.account) || msalApp.getAllAccounts()[0] || null;
  showUser();
}

function showUser() {
  const name = account ? account.username : "";
  $("signed-in-as").textContent = account ? "Signed in as " + name : "Not signed in.";
  $("sign-in").hidden = !!account;
  $("sign-out").hidden = !account;
  setDot("user", !!account, account ? "Signed in as " + name : "Signed out");
  updateFlowPrompt();
}

async function signIn() {
  const request = { scopes: config.scopes, prompt: "select_account" };
  try {
    const r = await msalApp.loginPopup(request);
    account = r.account;
    showUser();
  } catch (e) {
    // A blocked popup falls back to a full-page redirect.
    if (e && (e.errorCode === "popup_window_error" || e.errorCode === "empty_window_error")) {
      await msalApp.loginRedirect(request);
      return;
    }
    addMessage("error", "Sign-in failed: " + (e && e.errorCode ? e.errorCode + ": " : "") + (e && e.errorMessage ? e.errorMessage : String(e)));
  }
}

async function signOut() {
  const a = account;
  account = null;
  showUser();
  await msalApp.logoutRedirect({ account: a, postLogoutRedirectUri: config.redirectUri });
}

// userToken renews the user's token silently before each turn; only when
// that is impossible does it ask the user.
async function userToken() {
  if (!account) return null;
  const request = { scopes: config.scopes, account };
  try {
    return (await msalApp.acquireTokenSilent(request)).accessToken;
  } catch (e) {
    if (e instanceof msal.InteractionRequiredAuthError) {
      return (await msalApp.acquireTokenPopup(request)).accessToken;
    }
    throw e;
  }
}

// --- status -------------------------------------------------------------------

function setDot(name, ok, reason) {
  const d = $("dot-" + name);
  if (!d) return;
  d.classList.toggle("ok", ok === true);
  d.classList.toggle("bad", ok === false);
  d.title = reason || (ok ? "OK" : "");
  d.setAttribute("aria-label", name + ": " + (ok ? "OK" : "not OK") + (reason ? " (" + reason + ")" : ""));
}

async function refreshStatus() {
  try {
    const r = await fetch("api/status", { cache: "no-store" });
    const s = await r.json();
    for (const name of ["bedrock", "identity", "weather_api"]) {
      const c = (s.checks || {})[name] || {};
      setDot(name, !!c.ok, c.ok ? "OK" : c.reason);
    }
    $("identity-name").textContent = "Identity (" + s.identity_provider + ")";
    const b = ((s.checks || {}).bedrock || {}).detail || {};
    $("bedrock-box").textContent = "Model " + s.bedrock_model + " in " + s.aws_region + "; credentials: " + (b.credential_source || "unresolved") + (b.role_arn ? " as " + b.role_arn : "");
  } catch (e) {
    for (const name of ["bedrock", "identity", "weather_api"]) setDot(name, false, "llm-agent did not answer");
  }
}
window.refreshStatus = refreshStatus;

// --- the turn -----------------------------------------------------------------

function selected(name) {
  return document.querySelector("input[name=" + name + "]:checked").value;
}

// needsUser: whether a turn of this flow needs a signed-in user. An
// autonomous turn needs one too when llm-agent says so (it is reachable
// beyond this machine: AUTONOMOUS_NEEDS_SIGN_IN).
function needsUser(flow) {
  return flow !== "autonomous" || !!config.autonomousNeedsSignIn || !!config.agentCore;
}

function updateFlowPrompt() {
  $("flow-prompt").hidden = !needsUser(selected("flow")) || !!account;
}

function addMessage(kind, text, badges) {
  const li = el("li", { class: kind, text });
  if (badges) li.append(el("div", { class: "badges" }, ...badges.map((b) => el("span", { class: "badge", text: b }))));
  $("messages").append(li);
  li.scrollIntoView({ block: "nearest" });
  return li;
}

async function send(ev) {
  ev.preventDefault();
  const message = $("message").value.trim();
  if (!message) return;
  await runTurn(message, selected("mode"), selected("flow"));
}

// runTurn sends one turn. afterConsent marks a turn sent again once the
// user granted consent: the agent then asks Entra for the MCP token again,
// even though it refused it a moment ago. vault, for a turn sent again
// after AgentCore Identity's consent, is the session to bind and the token
// the first turn was sent with, which AWS binds it with.
async function runTurn(message, mode, flow, afterConsent, vault) {
  if (flow !== "autonomous" && !account) {
    addMessage("error", "The " + (flow === "obo" ? "on-behalf-of" : "agent user") + " flow needs a signed-in user: sign in first.");
    return;
  }
  if (config.agentCore && !account) {
    addMessage("error", "Turns go to AgentCore Runtime, whose authorizer needs a signed-in user for every flow: sign in first.");
    return;
  }
  if (needsUser(flow) && !account) {
    addMessage("error", "This agent runs turns for signed-in users of its tenant only: sign in first.");
    return;
  }
  $("send").disabled = true;
  addMessage("user", message);
  $("events").replaceChildren();
  Diagram.reset();
  const reply = addMessage("agent", "…");
  try {
    const token = vault && vault.token ? vault.token : needsUser(flow) ? await userToken() : null;
    // The turn's W3C trace context: its trace ID names the turn in every
    // component's logs and traces.
    const body = { message, llm_mode: mode, token_flow: flow, traceparent: newTraceparent() };
    // A vault session to bind: the one this window's consent came back
    // with, or one a tab that went to AgentCore itself left (bound with
    // the token this page has now; if AWS refuses it, the agent starts a
    // new consent and says so).
    const session = vault ? vault.session : sessionStorage.getItem("agentid-vault-session");
    if (session && flow === "obo") {
      body.vault_session = session;
      sessionStorage.removeItem("agentid-vault-session");
    }
    // For a while after consent (given in the popup, or in this tab when
    // popups are blocked), every turn says so: a replica that has not
    // served this user since may still remember Entra's refusal.
    if (afterConsent || Date.now() - Number(sessionStorage.getItem("agentid-consent-at") || 0) < AFTER_CONSENT_MS) body.after_consent = true;
    // Over POST once when the socket never carried the turn: it could not
    // open, or the server closed it before the turn began (it is stopping;
    // the ingress sends the POST to a replica that is not).
    const result = await turnOverSocket(body, token, reply).catch((e) => {
      if (e && e.notStarted) return turnOverPost(body, token);
      throw e;
    });
    result.turn = { message };
    if (vault && vault.token && !result.success && /refused the turn: HTTP 40[13]/.test(result.error || "")) {
      // The token the consent started with was refused on the way (it
      // expired while the user consented, say): send the turn again with
      // the current token, which starts a new consent, and say so.
      reply.className = "note";
      reply.textContent = "The sign-in token this consent started with is no longer accepted (" + (result.error || "refused") +
        "): sending your message again with your current sign-in, which starts a new consent.";
      setTimeout(() => runTurn(message, mode, flow, true), 0);
      return;
    }
    finish(reply, result, mode, flow, token);
  } catch (e) {
    reply.className = "error";
    reply.textContent = e && e.message ? e.message : String(e);
  } finally {
    $("send").disabled = false;
  }
}

// newTraceparent is a W3C traceparent for a new trace, sampled.
function newTraceparent() {
  const hex = (n) => Array.from(crypto.getRandomValues(new Uint8Array(n)), (b) => b.toString(16).padStart(2, "0")).join("");
  return "00-" + hex(16) + "-" + hex(8) + "-01";
}

// turnOverSocket streams the turn. It rejects with notStarted set when
// the turn never began on the socket (it could not open, or closed before
// any message of the turn came back), so the caller sends it over POST;
// when the socket closes once the turn has begun, the turn fails at once
// with why, rather than at the 120 s timeout.
function turnOverSocket(body, token, reply) {
  return new Promise((resolve, reject) => {
    let ws;
    try {
      ws = new WebSocket(location.origin.replace(/^http/, "ws") + location.pathname.replace(/[^/]*$/, "") + "api/chat/ws");
    } catch (e) {
      reject(notStarted("websocket unavailable: " + (e && e.message ? e.message : e)));
      return;
    }
    let opened = false;
    let started = false;
    let settled = false;
    let text = "";
    const settle = (fn, value) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      fn(value);
    };
    const timer = setTimeout(() => { settle(reject, new Error("The agent did not answer within 120 seconds.")); ws.close(); }, TURN_TIMEOUT_MS);
    ws.onopen = () => {
      opened = true;
      ws.send(JSON.stringify(Object.assign({}, body, token ? { user_token: token } : {})));
    };
    ws.onerror = () => { if (!opened) settle(reject, notStarted("websocket unavailable")); };
    ws.onmessage = (m) => {
      started = true;
      const msg = JSON.parse(m.data);
      if (msg.type === "trace") renderEvent(msg.event);
      else if (msg.type === "text") { text += msg.delta; reply.textContent = text; }
      else { settle(resolve, msg); ws.close(); }
    };
    ws.onclose = (e) => {
      if (settled) return;
      const why = "code " + e.code + (e.reason ? ", " + e.reason : "");
      if (!started) {
        settle(reject, notStarted("the socket closed before the turn began (" + why + ")"));
        return;
      }
      settle(reject, new Error("The connection to the agent closed before the turn finished (" + why + "): the turn did not complete. Send it again."));
    };
  });
}

// notStarted is the error of a turn the socket never carried.
function notStarted(message) {
  const e = new Error(message);
  e.notStarted = true;
  return e;
}

async function turnOverPost(turn, token) {
  const { traceparent, ...body } = turn;
  const headers = { "Content-Type": "application/json", traceparent };
  if (token) headers.Authorization = "Bearer " + token;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), TURN_TIMEOUT_MS);
  try {
    const r = await fetch("api/chat", { method: "POST", headers, body: JSON.stringify(body), signal: ctl.signal });
    const msg = await r.json();
    (msg.trace || []).forEach(renderEvent);
    return msg;
  } finally {
    clearTimeout(timer);
  }
}

function finish(reply, msg, mode, flow, token) {
  if (!msg.success) {
    reply.className = "error";
    reply.textContent = msg.error || msg.response || "The turn failed.";
  } else if (msg.consent_required) {
    askConsent(reply, msg.consent_required, msg.turn || {}, mode, flow, token);
  } else {
    reply.textContent = msg.response;
  }
  const badges = ["flow: " + flow, "mode: " + mode];
  if (account && flow !== "autonomous") badges.push("user: " + account.username);
  if (msg.via) badges.push("via: " + msg.via);
  if (msg.correlation_id) badges.push("trace: " + msg.correlation_id);
  reply.append(el("div", { class: "badges" }, ...badges.map((b) => el("span", { class: "badge", text: b }))));
}

// --- consent on demand ----------------------------------------------------------

// The turn that waits for consent, sent again once it is given.
let waitingForConsent = null;

// askConsent shows why the turn stopped and a button that opens Entra's
// consent page in a popup; consent.html, where Entra sends the popup back,
// tells this window, which sends the turn again. For AgentCore Identity's
// vault (need.source), the button opens its authorization URL, and the
// token the turn was sent with is kept for the retry, which binds the
// session with it.
function askConsent(reply, need, turn, mode, flow, token) {
  reply.className = "consent";
  reply.textContent = need.message;
  const link = need.url || need.admin_url;
  if (!/^https?:\/\//.test(link || "")) return; // only a web address becomes a link
  const actions = el("div", { class: "consent-actions" });
  const grant = el("button", { type: "button", class: "grant-consent", text: need.url ? "Grant consent" : "Ask an admin: open admin consent" });
  grant.addEventListener("click", () => {
    waitingForConsent = { message: turn.message, mode, flow };
    if (need.source === "agentcore-vault") Object.assign(waitingForConsent, { vault: true, session: need.session_uri || "", token });
    const popup = window.open(link, "agentid-consent", "popup,width=560,height=680");
    if (!popup) location.assign(link); // popups blocked: go there in this tab
  });
  actions.append(grant, el("a", { href: link, target: "_blank", rel: "noopener", text: "open in a new tab" }));
  reply.append(actions);
}

window.addEventListener("message", (e) => {
  if (e.origin !== location.origin || !e.data || e.data.type !== "agentid-consent") return;
  const turn = waitingForConsent;
  waitingForConsent = null;
  if (!e.data.ok) {
    addMessage("error", "Consent was not given (" + e.data.error + "): " + e.data.description);
    return;
  }
  if (e.data.vault_session) {
    // AgentCore Identity's consent: bound by the same turn sent again, with
    // the token that started the session.
    if (!turn || !turn.vault || (turn.session && turn.session !== e.data.vault_session)) {
      addMessage("error", "AgentCore Identity sent back a consent this page did not start: it was not used.");
      return;
    }
    addMessage("note", "Consent granted to AgentCore Identity: sending your message again, with the sign-in it started with, to bind it to you.");
    runTurn(turn.message, turn.mode, turn.flow, true, { session: e.data.vault_session, token: turn.token });
    return;
  }
  sessionStorage.setItem("agentid-consent-at", String(Date.now()));
  if (turn && turn.message) {
    addMessage("note", "Consent granted: sending your message again.");
    runTurn(turn.message, turn.mode, turn.flow, true);
  }
});

// --- the trace ----------------------------------------------------------------

const countdowns = [];

function renderEvent(e) {
  Diagram.add(e);
  const cls = ["event"];
  if (/refused|failed|error/i.test(e.message) || (e.data && e.data.status >= 400)) cls.push("error");
  else if (e.token) cls.push("token");
  else if (e.data && (e.data.flow === "obo" || e.data.flow === "agent_user")) cls.push("delegated");
  const li = el("li", { class: cls.join(" "), id: "ev-" + e.seq, tabindex: "-1" },
    el("div", { class: "meta", text: "#" + e.seq + " · " + e.at_ms + " ms · " + e.actor + " · " + e.step }),
    el("div", { text: e.message }));
  // A hop's step links back to its arrow in the diagram.
  if (e.hop) li.querySelector(".meta").append(" · ", el("a", { href: "#hop-" + e.seq, class: "to-diagram", text: "in the diagram" }));
  if (e.step === "docs" && e.data) {
    for (const [label, href] of Object.entries(e.data)) {
      if (/^https:\/\/learn\.microsoft\.com\//.test(href)) li.append(el("div", {}, el("a", { href, text: "Docs: " + label, target: "_blank", rel: "noopener" })));
    }
  } else if (e.data) {
    li.append(kv(e.data));
  }
  if (e.token) li.append(card(e.token));
  $("events").append(li);
}

function card(t) {
  const c = el("div", { class: "card", "data-kind": t.kind }, el("h3", { text: t.title || t.kind }));
  const claims = t.claims || {};
  if (claims.iat && claims.exp) {
    const cd = el("div", { class: "countdown" });
    countdowns.push({ node: cd, iat: claims.iat, exp: claims.exp });
    c.append(cd);
  }
  c.append(el("div", { class: "meta", text: "header" }), kv(t.header), el("div", { class: "meta", text: "claims (signature not shown)" }), kv(claims, t.highlight));
  tick();
  return c;
}

function tick() {
  const now = Date.now() / 1000;
  for (const d of countdowns) {
    const left = Math.round(d.exp - now);
    d.node.textContent = "issued " + new Date(d.iat * 1000).toLocaleTimeString() + " · expires " + new Date(d.exp * 1000).toLocaleTimeString() +
      (left > 0 ? " (in " + Math.floor(left / 60) + " min " + (left % 60) + " s)" : " (expired)");
  }
}

// --- start --------------------------------------------------------------------

document.addEventListener("DOMContentLoaded", () => {
  $("composer").addEventListener("submit", send);
  $("sign-in").addEventListener("click", signIn);
  $("sign-out").addEventListener("click", signOut);
  $("copy-svg").addEventListener("click", () => Diagram.copySVG().then(
    () => addMessage("note", "The diagram is on the clipboard as SVG."),
    (e) => addMessage("error", "Could not copy the diagram: " + e.message)));
  $("download-png").addEventListener("click", Diagram.downloadPNG);
  for (const r of document.querySelectorAll("input[name=flow]")) r.addEventListener("change", updateFlowPrompt);
  loadConfig().catch((e) => addMessage("error", "Could not load the configuration: " + e.message));
  refreshStatus();
  setInterval(refreshStatus, 10000);
  setInterval(tick, 1000);
});
