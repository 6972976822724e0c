// jetway dashboard: live runs list, live run facts, live log with ANSI
// colours, stop confirmation, live agents list.
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

// agentCell is what the runs list and a run's page say of its agent: on a
// queued run why it waits, else the agent that took it.
function agentCell(r) {
  if (r.Waits) return '<span class="reason">' + escapeHTML(r.Waits) + "</span>";
  if (r.Agent) return '<a href="/agents#agent-' + encodeURIComponent(r.Agent) + '">' + escapeHTML(r.Agent) + "</a>";
  return "-";
}

function liveRuns(table) {
  const project = table.dataset.project, status = table.dataset.status;
  const es = new EventSource("/events");
  es.addEventListener("run", ev => {
    const r = JSON.parse(ev.data);
    if ((project && r.Project !== project) || (status && r.Status !== status)) return;
    const cells = '<td><span class="status ' + escapeHTML(r.Status) + '">' + escapeHTML(r.Status) + "</span></td>" +
      '<td><a href="/runs/' + encodeURIComponent(r.ID) + '">' + escapeHTML(r.ID) + "</a></td>" +
      "<td>" + escapeHTML(r.Project) + '</td><td class="agent">' + agentCell(r) + "</td>" +
      [r.Git, r.StartedBy, r.Started, r.Duration, r.Cache].map(v => "<td>" + escapeHTML(v) + "</td>").join("");
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

// liveRun keeps a run page's status, agent and reason (on a queued run: why
// it waits) as they change; the log's end reloads the whole page.
function liveRun(facts) {
  const id = facts.dataset.run;
  if (facts.dataset.finished === "true") return;
  const es = new EventSource("/events?run=" + encodeURIComponent(id));
  es.addEventListener("run", ev => {
    const r = JSON.parse(ev.data);
    if (r.ID !== id) return;
    const status = document.getElementById("run-status");
    status.className = "status " + r.Status;
    status.textContent = r.Status;
    document.getElementById("run-agent").innerHTML = r.Agent ? agentCell({ Agent: r.Agent }) : "-";
    const label = document.getElementById("run-reason-label"), reason = document.getElementById("run-reason");
    label.textContent = r.Waits ? "Waits" : "Reason";
    reason.textContent = r.Reason;
    label.hidden = reason.hidden = !r.Reason;
    if (["succeeded", "failed", "cancelled", "timed_out"].includes(r.Status)) es.close();
  });
}

// ago says how long ago, as the server's fmtAgo does: "2s ago", "5m ago".
function ago(ms) {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m ago";
  if (s < 86400) return Math.floor(s / 3600) + "h ago";
  return Math.floor(s / 86400) + "d ago";
}

// liveAgents keeps the agents table as the server knows it: its rows come
// rendered from /agents/events, with how long ago each agent spoke; the page
// counts on from there, and marks an agent offline once its silence reaches
// the lease timeout, as the server does.
function liveAgents(table) {
  const lease = Number(table.dataset.leaseMs);
  const empty = document.getElementById("no-agents");
  const seen = () => table.querySelectorAll("td.seen[data-age-ms]");
  const stamp = () => { const now = performance.now(); for (const td of seen()) td.dataset.at = now; };
  const tick = () => {
    const now = performance.now();
    for (const td of seen()) {
      const age = Number(td.dataset.ageMs) + now - Number(td.dataset.at);
      td.textContent = ago(age);
      const tr = td.closest("tr"), state = age < lease ? "online" : "offline";
      if ((tr.dataset.state === "online" || tr.dataset.state === "offline") && tr.dataset.state !== state) {
        tr.dataset.state = tr.className = state;
        const chip = tr.querySelector(".status");
        chip.className = "status " + state;
        chip.textContent = state;
      }
    }
  };
  stamp();
  tick();
  const es = new EventSource("/agents/events");
  es.addEventListener("agents", ev => {
    table.tBodies[0].innerHTML = JSON.parse(ev.data).rows;
    empty.hidden = table.tBodies[0].rows.length > 0;
    stamp();
    tick();
  });
  es.addEventListener("seen", ev => {
    const now = performance.now();
    for (const [name, ms] of Object.entries(JSON.parse(ev.data))) {
      const tr = document.getElementById("agent-" + name);
      const td = tr && tr.querySelector("td.seen[data-age-ms]");
      if (!td) continue;
      td.dataset.ageMs = ms;
      td.dataset.at = now;
    }
    tick();
  });
  setInterval(tick, 1000);
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
  const facts = document.getElementById("facts");
  if (facts) liveRun(facts);
  const agents = document.getElementById("agents");
  if (agents) liveAgents(agents);
  const stop = document.getElementById("stop-form");
  if (stop) stop.addEventListener("submit", ev => { if (!confirm(stop.dataset.confirm)) ev.preventDefault(); });
  const rerun = document.getElementById("rerun-form");
  if (rerun) rerun.addEventListener("submit", ev => { if (!confirm(rerun.dataset.confirm)) ev.preventDefault(); });
});
