// Where Entra sends the browser after a consent request for the agent
// identity (response_type=none: no code, only state or an error), and
// where AgentCore Identity sends it after the token vault's consent, with
// session_id (a session URI, not a token). It tells the chat window, which
// opened it, and closes; opened on its own, it says what happened.
"use strict";

// An AgentCore Identity session URI (bedrock-agentcore's RequestUri).
const SESSION_URI = /^urn:ietf:params:oauth:request_uri:[A-Za-z0-9._~-]{1,990}$/;

document.addEventListener("DOMContentLoaded", () => {
  const q = new URLSearchParams(location.search);
  const error = q.get("error");
  const description = (q.get("error_description") || "").split(" Trace ID:")[0];
  const session = q.get("session_id") || "";
  const vault = !error && SESSION_URI.test(session);
  const ok = !error && (vault || !q.has("session_id"));
  document.getElementById("outcome").textContent = !ok
    ? "Consent was not given (" + (error || "the session AgentCore sent back is not one") + "): " + description
    : vault
      ? "Consent recorded with AgentCore Identity. You can close this window: the chat binds it to you and sends your message again."
      : "Consent recorded. You can close this window and send your message again.";
  const message = { type: "agentid-consent", ok, error: error || (ok ? "" : "bad_session"), description };
  if (vault) message.vault_session = session;
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage(message, location.origin);
    if (ok) window.close();
  } else if (vault) {
    // This tab went to AgentCore itself (popups blocked): the chat's next
    // turn binds the session, with the sign-in token the page has then.
    sessionStorage.setItem("agentid-vault-session", session);
  } else if (ok) {
    // This tab went to Entra itself (popups blocked): its next turns are
    // sent as after consent.
    sessionStorage.setItem("agentid-consent-at", String(Date.now()));
  }
});
