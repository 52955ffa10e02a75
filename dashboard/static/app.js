// The mqcluster dashboard: a live view of the coordinator over
// Server-Sent Events (/api/v1/events), with no library and no network
// access beyond the coordinator.
"use strict";

const state = { previous: null, selected: null, tilesShown: -1 };

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === "class") e.className = v; else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function ago(time, now) {
  const s = Math.max(0, (now - new Date(time)) / 1000);
  return s < 60 ? s.toFixed(1) + " s ago" : Math.round(s / 60) + " min ago";
}

// rate returns items per second between the previous snapshot and this one.
function rate(key, value, snap) {
  const prev = state.previous;
  if (!prev || !(key in prev.values)) return "";
  const dt = (new Date(snap.time) - new Date(prev.time)) / 1000;
  return dt > 0 ? ((value - prev.values[key]) / dt).toFixed(1) : "";
}

function renderNodes(snap, values) {
  const body = document.querySelector("#nodes tbody");
  body.replaceChildren(...snap.nodes.map(n => {
    values["node:" + n.id] = n.done;
    return el("tr", { "data-node": n.id },
      el("td", {}, n.id), el("td", { class: "state-" + n.state }, n.state), el("td", {}, (n.kinds || []).join(", ")),
      el("td", {}, n.slots), el("td", {}, n.in_flight), el("td", {}, n.done), el("td", {}, rate("node:" + n.id, n.done, snap)),
      el("td", {}, ago(n.last_seen, new Date(snap.time))), el("td", {}, n.reason || ""));
  }));
}

function progress(job) {
  const bar = el("div", { class: "bar" });
  const done = el("div", {});
  done.style.width = (100 * job.done / job.tasks) + "%";
  const failed = el("div", { class: "failed" });
  failed.style.width = (100 * job.failed / job.tasks) + "%";
  failed.style.marginTop = "-0.8em";
  failed.style.marginLeft = done.style.width;
  bar.append(done, failed);
  return el("span", {}, bar, " " + job.done + "/" + job.tasks);
}

function renderJobs(snap, values) {
  const body = document.querySelector("#jobs tbody");
  const jobs = [...snap.jobs].reverse();
  body.replaceChildren(...jobs.map(j => {
    values["job:" + j.id] = j.done;
    const ended = ["done", "failed", "cancelled"].includes(j.state);
    const cancel = ended ? "" : el("button", { "data-cancel": j.id }, "Cancel");
    const row = el("tr", { class: "job", "data-job": j.id },
      el("td", {}, j.id), el("td", {}, j.name || ""), el("td", { class: "state-" + j.state }, j.state),
      el("td", {}, progress(j)), el("td", {}, rate("job:" + j.id, j.done, snap)), el("td", {}, j.failed),
      el("td", {}, cancel));
    row.addEventListener("click", e => {
      if (e.target.dataset.cancel) {
        e.stopPropagation();
        fetch("/api/v1/jobs/" + encodeURIComponent(j.id) + "/cancel", { method: "POST" });
        return;
      }
      select(j.id);
    });
    return row;
  }));
  const selected = snap.jobs.find(j => j.id === state.selected);
  if (selected && selected.done !== state.tilesShown) showDetail(selected);
}

function select(id) {
  state.selected = id;
  state.tilesShown = -1;
  const job = state.lastSnap && state.lastSnap.jobs.find(j => j.id === id);
  if (job) showDetail(job);
}

async function showDetail(job) {
  state.tilesShown = job.done;
  document.getElementById("detail").hidden = false;
  document.getElementById("detail-title").textContent = "Job " + job.id + (job.name ? " (" + job.name + ")" : "");
  const full = await (await fetch("/api/v1/jobs/" + encodeURIComponent(job.id))).json();
  const failures = document.getElementById("failures");
  failures.replaceChildren(...(full.failures || []).map(f => el("div", {},
    "task " + f.index + ": " + f.attempts.map(a => "attempt " + a.number + " on " + a.node + ": " + a.outcome +
      (a.error ? " (" + a.error + ")" : "")).join("; "))));
  const meta = full.meta || {};
  const box = document.getElementById("picture-box");
  box.hidden = meta.kind !== "image.gray";
  if (!box.hidden) await drawPicture(job.id, meta);
}

function base64Bytes(text) {
  const raw = atob(text || "");
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

// drawPicture paints every tile done so far, in row-major tile order, and
// remembers which node made each one for the hover label.
async function drawPicture(id, meta) {
  const width = +meta.width, height = +meta.height, tw = +meta.tile_width, th = +meta.tile_height;
  const bytes = +meta.depth === 16 ? 2 : 1;
  const canvas = document.getElementById("picture");
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  const ctx = canvas.getContext("2d");
  const res = await (await fetch("/api/v1/jobs/" + encodeURIComponent(id) + "/results")).json();
  const columns = Math.ceil(width / tw);
  state.tileNodes = { columns, tw, th, nodes: [] };
  for (const task of res.tasks) {
    state.tileNodes.nodes[task.index] = task.node;
    if (task.state !== "done") continue;
    const x = (task.index % columns) * tw, y = Math.floor(task.index / columns) * th;
    const w = Math.min(tw, width - x), h = Math.min(th, height - y);
    const gray = base64Bytes(task.output);
    const img = ctx.createImageData(w, h);
    for (let i = 0; i < w * h; i++) {
      const v = gray[i * bytes]; // the high byte of a 16-bit sample
      img.data[4 * i] = img.data[4 * i + 1] = img.data[4 * i + 2] = v;
      img.data[4 * i + 3] = 255;
    }
    ctx.putImageData(img, x, y);
  }
  canvas.dataset.tilesDrawn = res.tasks.filter(t => t.state === "done").length;
}

document.getElementById("picture").addEventListener("mousemove", e => {
  const label = document.getElementById("tile-node");
  const t = state.tileNodes;
  if (!t) return;
  const canvas = e.target, r = canvas.getBoundingClientRect();
  const x = (e.clientX - r.left) * canvas.width / r.width, y = (e.clientY - r.top) * canvas.height / r.height;
  const index = Math.floor(y / t.th) * t.columns + Math.floor(x / t.tw);
  const node = t.nodes[index];
  label.hidden = !node;
  label.textContent = "tile " + index + " by " + node;
  label.style.left = (e.clientX - r.left + 12) + "px";
  label.style.top = (e.clientY - r.top + 12) + "px";
});
document.getElementById("picture").addEventListener("mouseleave", () => {
  document.getElementById("tile-node").hidden = true;
});

function connect() {
  const status = document.getElementById("status");
  const events = new EventSource("/api/v1/events");
  events.addEventListener("snapshot", e => {
    const snap = JSON.parse(e.data);
    const values = {};
    renderNodes(snap, values);
    renderJobs(snap, values);
    state.previous = { time: snap.time, values };
    state.lastSnap = snap;
    const online = snap.nodes.filter(n => n.state === "online").length;
    status.textContent = "live: " + online + " of " + snap.nodes.length + " nodes online, " +
      snap.stats.results_accepted + " results accepted";
  });
  events.onerror = () => { status.textContent = "reconnecting…"; };
}

// start shows a token form when the coordinator requires an API token. POST /login
// checks it and sets a cookie, which no script can read, that this page's
// requests and event stream then send.
async function start() {
  const probe = await fetch("/api/v1/stats");
  if (probe.status !== 401) {
    connect();
    return;
  }
  const status = document.getElementById("status");
  status.textContent = "API token needed";
  const form = document.getElementById("login");
  form.hidden = false;
  form.addEventListener("submit", async e => {
    e.preventDefault();
    const body = new URLSearchParams({ token: document.getElementById("token").value });
    const res = await fetch("/login", { method: "POST", body });
    if (res.ok) {
      location.reload();
    } else {
      status.textContent = "wrong API token";
    }
  });
}

start();
