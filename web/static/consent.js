// Where Entra sends the browser after a consent request for the agent
// identity (response_type=none: no code, only state or an error). It tells
// the chat window, which opened it, and closes; opened on its own, it says
// what happened.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const q = new URLSearchParams(location.search);
  const error = q.get("error");
  const description = (q.get("error_description") || "").split(" Trace ID:")[0];
  const ok = !error;
  document.getElementById("outcome").textContent = ok
    ? "Consent recorded. You can close this window and send your message again."
    : "Consent was not given (" + error + "): " + description;
  if (window.opener && !window.opener.closed) {
    window.opener.postMessage({ type: "agentid-consent", ok, error: error || "", description }, location.origin);
    if (ok) window.close();
  } else if (ok) {
    // This tab went to Entra itself (popups blocked): its next turns are
    // sent as after consent.
    sessionStorage.setItem("agentid-consent-at", String(Date.now()));
  }
});
