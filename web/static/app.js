// jetway dashboard: live runs list, live log with ANSI colours, stop confirmation.
"use strict";

function escapeHTML(s) {
  return s.replace(/[&<>"']/g, c => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
}

// ansiToHTML renders SGR colour codes (bold, 30–37, 90–97, reset) as spans.
function ansiToHTML(text) {
  let out = "", open = 0;
  const parts = text.split(/\x1b\[([0-9;]*)m/);
  for (let i = 0; i < parts.length; i++) {
    if (i % 2 === 0) { out += escapeHTML(parts[i]); continue; }
    const codes = parts[i] === "" ? ["0"] : parts[i].split(";");
    for (const code of codes) {
      const n = parseInt(code, 10);
      if (n === 0) { out += "</span>".repeat(open); open = 0; }
      else if (n === 1) { out += '<span class="ansi-bold">'; open++; }
      else if ((n >= 30 && n <= 37) || (n >= 90 && n <= 97)) { out += '<span class="ansi-' + n + '">'; open++; }
    }
  }
  return out + "</span>".repeat(open);
}

function followLog(pre) {
  const run = pre.dataset.run;
  let n = 0;
  const stick = () => (window.innerHeight + window.scrollY) >= document.body.scrollHeight - 40;
  const es = new EventSource("/runs/" + encodeURIComponent(run) + "/log");
  // Each event is a stored chunk of the log: one or more lines.
  es.onmessage = ev => {
    const atBottom = stick();
    for (const text of ev.data.split("\n")) {
      n++;
      const line = document.createElement("span");
      line.className = "line";
      line.id = "L" + n;
      line.innerHTML = '<a class="ln" href="#L' + n + '">' + n + "</a>" + ansiToHTML(text);
      pre.appendChild(line);
    }
    if (atBottom && !location.hash) window.scrollTo(0, document.body.scrollHeight);
  };
  es.addEventListener("end", ev => {
    es.close();
    pre.dataset.ended = JSON.parse(ev.data).status;
    if (pre.dataset.finished !== "true") setTimeout(() => location.reload(), 300);
    else if (location.hash) { const t = document.querySelector(location.hash); if (t) t.scrollIntoView(); }
  });
}

function liveRuns(table) {
  const project = table.dataset.project, status = table.dataset.status;
  const es = new EventSource("/events");
  es.addEventListener("run", ev => {
    const r = JSON.parse(ev.data);
    if ((project && r.Project !== project) || (status && r.Status !== status)) return;
    const cells = '<td><span class="status ' + escapeHTML(r.Status) + '">' + escapeHTML(r.Status) + "</span></td>" +
      '<td><a href="/runs/' + encodeURIComponent(r.ID) + '">' + escapeHTML(r.ID) + "</a></td>" +
      [r.Project, r.Git, r.StartedBy, r.Started, r.Duration, r.Cache].map(v => "<td>" + escapeHTML(v) + "</td>").join("");
    let tr = document.getElementById("run-" + r.ID);
    if (!tr) {
      tr = document.createElement("tr");
      tr.id = "run-" + r.ID;
      tr.dataset.id = r.ID;
      table.tBodies[0].prepend(tr);
      const empty = document.getElementById("no-runs");
      if (empty) empty.remove();
    }
    tr.innerHTML = cells;
  });
}

document.addEventListener("DOMContentLoaded", () => {
  // The timeline is drawn to scale from data attributes (the CSP allows no
  // inline styles).
  for (const ph of document.querySelectorAll(".phase")) {
    ph.style.left = ph.dataset.left + "%";
    ph.style.width = ph.dataset.width + "%";
  }
  const pre = document.getElementById("log");
  if (pre) followLog(pre);
  const runs = document.getElementById("runs");
  if (runs) liveRuns(runs);
  const stop = document.getElementById("stop-form");
  if (stop) stop.addEventListener("submit", ev => { if (!confirm(stop.dataset.confirm)) ev.preventDefault(); });
});
