// The turn as a sequence diagram: one lane per party that took part, one
// arrow per hop, in order, drawn from each trace event's structured hop
// record (never from its message text) as the events stream in. Every
// string goes into the SVG as text, never as markup. Colours are SVG
// presentation attributes, not style attributes, so the page's CSP
// (style-src 'self') holds and an exported SVG is complete by itself.
"use strict";

const Diagram = (() => {
  const NS = "http://www.w3.org/2000/svg";
  // Lanes, left to right, in the order a turn's calls go out.
  const parties = [
    ["browser", "Browser and user"],
    ["llm-agent", "llm-agent"],
    ["auth-sidecar", "Auth sidecar"],
    ["msal", "MSAL Go (in llm-agent)"],
    ["agentcore-identity", "AgentCore Identity"],
    ["entra", "Entra ID"],
    ["weather-api", "Weather API"],
    ["mcp-server", "MCP server"],
    ["token-refresher", "token-refresher"],
    ["aws-sts", "AWS STS"],
    ["bedrock", "Bedrock"],
  ];
  const colour = { ink: "#1b1b1b", muted: "#605e5c", line: "#c8c6c4", ok: "#0e700e", failed: "#c50f1f" };
  const lane = 130, head = 48, row = 36, pad = 16;
  let hops = [];

  function nameOf(id) {
    const p = parties.find(([pid]) => pid === id);
    return p ? p[1] : id;
  }

  // label is what an arrow says: what it carried, then how it ended; a
  // failure is marked in words, not by colour alone.
  function label(h) {
    let t = h.carries || "";
    const end = [h.status ? "HTTP " + h.status : "", h.code || ""].filter(Boolean).join(" ");
    if (end) t += " (" + end + ")";
    return (h.failed ? "✗ failed: " : "") + t;
  }

  function node(tag, attrs, text) {
    const e = document.createElementNS(NS, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // lanesOf are the parties that took part, in lane order; a party the
  // page does not know goes last, named as the server named it.
  function lanesOf() {
    const seen = new Set();
    for (const { hop } of hops) seen.add(hop.from).add(hop.to);
    const known = parties.map(([id]) => id).filter((id) => seen.has(id));
    return known.concat([...seen].filter((id) => !known.includes(id)));
  }

  function draw() {
    const svg = document.getElementById("diagram");
    const figure = document.getElementById("diagram-figure");
    const words = document.getElementById("diagram-text");
    svg.replaceChildren();
    words.replaceChildren();
    figure.hidden = hops.length === 0;
    if (hops.length === 0) return;
    const lanes = lanesOf();
    const x = (id) => pad + lane / 2 + lanes.indexOf(id) * lane;
    const width = pad * 2 + lanes.length * lane;
    const height = head + hops.length * row + pad;
    svg.setAttribute("viewBox", "0 0 " + width + " " + height);
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("font-family", "system-ui, -apple-system, 'Segoe UI', sans-serif");
    svg.setAttribute("font-size", "11");
    const defs = node("defs");
    for (const [name, fill] of [["ok", colour.ink], ["failed", colour.failed]]) {
      const m = node("marker", { id: "arrow-" + name, viewBox: "0 0 10 10", refX: 10, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" });
      m.append(node("path", { d: "M0,0 L10,5 L0,10 z", fill }));
      defs.append(m);
    }
    const paper = node("rect", { x: 0, y: 0, width, height, fill: "#ffffff" });
    svg.append(defs, paper);
    let right = width; // the rightmost label's end, which may pass the last lane
    for (const id of lanes) {
      svg.append(node("text", { class: "lane-label", x: x(id), y: 20, "text-anchor": "middle", "font-weight": "600", fill: colour.ink }, nameOf(id)));
      svg.append(node("line", { class: "lifeline", x1: x(id), y1: 30, x2: x(id), y2: height - 6, stroke: colour.line, "stroke-width": 1.5 }));
    }
    hops.forEach(({ seq, hop }, i) => {
      const y = head + i * row + row / 2 + 6;
      const from = x(hop.from), to = x(hop.to);
      const text = label(hop);
      const said = i + 1 + ". " + nameOf(hop.from) + " to " + nameOf(hop.to) + ": " + text;
      const a = node("a", { class: "hop" + (hop.failed ? " failed" : ""), id: "hop-" + seq, href: "#ev-" + seq, "data-seq": seq,
        "data-from": hop.from, "data-to": hop.to, "data-label": text, "aria-label": said });
      const stroke = hop.failed ? colour.failed : colour.ink;
      const answer = hop.status > 0 || hop.failed;
      a.append(node("title", {}, said));
      // A wide, invisible band makes the arrow easy to click.
      a.append(node("rect", { x: Math.min(from, to), y: y - 18, width: Math.max(Math.abs(to - from), 12), height: 24, fill: "transparent" }));
      a.append(node("line", { class: "arrow", x1: from, y1: y, x2: to, y2: y, stroke, "stroke-width": 1.5,
        "stroke-dasharray": answer ? "5 3" : "none", "marker-end": "url(#arrow-" + (hop.failed ? "failed" : "ok") + ")" }));
      const caption = node("text", { class: "hop-label", x: (from + to) / 2, y: y - 6, "text-anchor": "middle", fill: hop.failed ? colour.failed : colour.ink },
        i + 1 + ". " + text);
      a.append(caption);
      svg.append(a);
      // A white band behind the label keeps it readable across lifelines;
      // a label wider than its arrow stays inside the picture.
      const w = caption.getComputedTextLength();
      const mid = Math.max((from + to) / 2, w / 2 + 4);
      caption.setAttribute("x", mid);
      caption.before(node("rect", { x: mid - w / 2 - 3, y: y - 17, width: w + 6, height: 14, fill: "#ffffff" }));
      right = Math.max(right, mid + w / 2 + pad);
      words.append(Object.assign(document.createElement("li"), { textContent: said }));
    });
    if (right > width) {
      svg.setAttribute("viewBox", "0 0 " + right + " " + height);
      svg.setAttribute("width", right);
      paper.setAttribute("width", right);
    }
  }

  // svgText is the diagram as a standalone SVG file: its hop labels and
  // party names only, never a token.
  function svgText() {
    const clone = document.getElementById("diagram").cloneNode(true);
    clone.setAttribute("xmlns", NS);
    for (const a of clone.querySelectorAll("a")) a.removeAttribute("href");
    return new XMLSerializer().serializeToString(clone);
  }

  function copySVG() {
    return navigator.clipboard.writeText(svgText());
  }

  // downloadPNG draws the SVG on a canvas at twice its size; a data: URL,
  // which the page's img-src allows, carries it there.
  function downloadPNG() {
    const svg = document.getElementById("diagram");
    const img = new Image();
    img.onload = () => {
      const c = document.createElement("canvas");
      c.width = svg.width.baseVal.value * 2;
      c.height = svg.height.baseVal.value * 2;
      const g = c.getContext("2d");
      g.scale(2, 2);
      g.drawImage(img, 0, 0);
      const a = document.createElement("a");
      a.href = c.toDataURL("image/png");
      a.download = "agent-turn-sequence.png";
      a.click();
    };
    img.src = "data:image/svg+xml;charset=utf-8," + encodeURIComponent(svgText());
  }

  return {
    reset() { hops = []; draw(); },
    add(e) {
      if (!e.hop) return;
      hops.push({ seq: e.seq, hop: e.hop });
      draw();
    },
    svgText,
    copySVG,
    downloadPNG,
  };
})();
