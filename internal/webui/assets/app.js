// zosnet ui: the page. It reads the session token from its meta tag, sends it in a
// header with every API call, and follows the shown network with server-sent events.
// All text goes in through textContent; the graph is the SVG the server rendered.
"use strict";

const token = document.querySelector('meta[name="zosnet-token"]').content;
const $ = (id) => document.getElementById(id);
let current = null;
let events = null;
let updates = 0;

// The token leaves the address bar (and the history) once the page has it.
if (location.search.includes("token=")) history.replaceState(null, "", "/" + location.hash);

async function api(method, path, body) {
  const opt = { method, headers: { "X-Zosnet-Token": token } };
  if (body !== undefined) {
    opt.headers["Content-Type"] = "application/json";
    opt.body = JSON.stringify(body);
  }
  const r = await fetch(path, opt);
  const text = await r.text();
  let data = null;
  try { data = text ? JSON.parse(text) : null; } catch (e) { data = null; }
  if (!r.ok) {
    const what = data && data.error ? data.error : r.status + " " + r.statusText;
    throw new Error(data && data.field && !what.includes(data.field) ? what + " (" + data.field + ")" : what);
  }
  return data;
}

function say(msg, isError) {
  const s = $("status");
  s.dataset.loading = "false";
  s.textContent = msg;
  s.className = isError ? "error" : "";
}

function row(tbody, cells) {
  const tr = document.createElement("tr");
  for (const c of cells) {
    const td = document.createElement("td");
    if (c instanceof Node) td.appendChild(c);
    else if (c && typeof c === "object") { td.textContent = c.text; if (c.cls) td.className = c.cls; }
    else td.textContent = c === undefined || c === null || c === "" ? "–" : String(c);
    tr.appendChild(td);
  }
  tbody.appendChild(tr);
  return tr;
}

function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }

async function loadSession() {
  const s = await api("GET", "/api/session");
  $("owner").textContent = s.owner || "(none: read-only)";
  $("registry").textContent = s.registry;
}

async function loadNetworks() {
  const list = await api("GET", "/api/networks");
  const ul = $("networks");
  clear(ul);
  if (list.length === 0) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "No networks yet.";
    ul.appendChild(li);
  }
  for (const n of list) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    b.textContent = n.name + " (" + n.members.length + " nodes)";
    b.dataset.id = n.id;
    b.dataset.name = n.name;
    b.setAttribute("aria-current", String(n.id === current));
    b.addEventListener("click", () => show(n.id));
    li.appendChild(b);
    ul.appendChild(li);
  }
  return list;
}

async function loadNodes() {
  const nodes = await api("GET", "/api/nodes");
  const box = $("c-nodes");
  const sel = $("an-node");
  clear(box);
  clear(sel);
  for (const n of nodes) {
    const id = "c-node-" + n.id;
    const label = document.createElement("label");
    const cb = document.createElement("input");
    cb.type = "checkbox";
    cb.id = id;
    cb.value = n.name;
    label.htmlFor = id;
    label.appendChild(cb);
    label.appendChild(document.createTextNode(" " + n.name + (n.hidden ? " (hidden)" : " (public)") + (n.online ? "" : ", offline")));
    box.appendChild(label);
    const o = document.createElement("option");
    o.value = n.name;
    o.textContent = n.name;
    sel.appendChild(o);
  }
}

function show(id) {
  current = id;
  if (location.hash !== "#net=" + id) history.replaceState(null, "", "/#net=" + encodeURIComponent(id));
  for (const b of document.querySelectorAll("#networks button")) b.setAttribute("aria-current", String(b.dataset.id === id));
  $("device-out").hidden = true;
  if (events) events.close();
  say("Loading network " + id + "…");
  $("status").dataset.loading = "true";
  events = new EventSource("/api/networks/" + encodeURIComponent(id) + "/events");
  events.addEventListener("view", (e) => {
    try {
      render(JSON.parse(e.data));
    } catch (err) {
      say("Could not draw the network: " + err.message, true);
    }
  });
  events.addEventListener("problem", (e) => say(JSON.parse(e.data).error, true));
  events.onerror = () => say("Lost the connection to zosnet ui; retrying…", true);
}

function ago(t) {
  if (!t) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
  return s < 90 ? s + "s ago" : Math.round(s / 60) + "m ago";
}

function render(v) {
  const st = v.status;
  if (st.id !== current) return;
  $("net").hidden = false;
  $("net-h").textContent = "Network " + st.name;
  $("net-sub").textContent = "id " + st.id + " · range " + st.range + " · relays " + ((st.relays || []).join(", ") || "none") +
    (st.plan_error ? " · no plan yet: " + st.plan_error : "");
  $("graph").innerHTML = v.svg;
  const members = $("members").tBodies[0];
  clear(members);
  for (const m of st.members || []) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "quiet";
    b.textContent = "Remove";
    b.setAttribute("aria-label", "Remove " + m.name + " from " + st.name);
    b.addEventListener("click", () => removeNode(m.name));
    const state = { text: m.state + (m.last_error ? ": " + m.last_error : ""), cls: m.state === "up" ? "" : "down" };
    row(members, [m.name, m.subnet, state, m.hidden ? "hidden" : "public", m.relay, (m.endpoints || []).join(", "), b]).dataset.name = m.name;
  }
  const pairs = $("pairs").tBodies[0];
  clear(pairs);
  for (const p of st.pairs || []) {
    row(pairs, [p.from, p.to, p.path, p.via, { text: p.reachable ? "yes" : "no", cls: p.reachable ? "" : "down" }, ago(p.last_reply)]);
  }
  const devs = $("devices").tBodies[0];
  clear(devs);
  for (const d of v.devices || []) row(devs, [d.name, d.address]);
  const wls = $("workloads").tBodies[0];
  clear(wls);
  const workloads = v.workloads || [];
  if (workloads.length === 0) row(wls, [{ text: "no workloads (zosnet workload add)", cls: "muted" }, "", "", ""]);
  for (const w of workloads) row(wls, [w.name, w.node, (w.addrs || []).join(", "), (w.exposed || []).join(", ")]);
  updates++;
  document.body.dataset.updates = String(updates);
  document.body.dataset.network = st.id;
  $("net-read").textContent = v.nodes + " nodes, " + v.edges + " links · read from the registry at " + new Date(v.read).toLocaleTimeString();
  if (updates === 1 || $("status").dataset.loading === "true") say("");
}

async function act(what, fn) {
  say(what + "…");
  try {
    await fn();
  } catch (e) {
    say(what + " failed: " + e.message, true);
    return false;
  }
  return true;
}

async function removeNode(node) {
  const id = current;
  if (await act("Removing " + node, () => api("DELETE", "/api/networks/" + encodeURIComponent(id) + "/nodes/" + encodeURIComponent(node)))) {
    say("Removed " + node + "; the members follow within seconds.");
    loadNetworks();
  }
}

$("add-node").addEventListener("submit", async (e) => {
  e.preventDefault();
  const node = $("an-node").value;
  const id = current;
  if (await act("Adding " + node, () => api("POST", "/api/networks/" + encodeURIComponent(id) + "/nodes", { node }))) {
    say("Added " + node + "; it joins within seconds.");
    loadNetworks();
  }
});

$("create").addEventListener("submit", async (e) => {
  e.preventDefault();
  const body = {
    name: $("c-name").value.trim(),
    range: $("c-range").value.trim(),
    nodes: Array.from(document.querySelectorAll("#c-nodes input:checked")).map((c) => c.value),
  };
  let n = null;
  if (await act("Creating network " + body.name, async () => { n = await api("POST", "/api/networks", body); })) {
    await loadNetworks();
    $("create-box").open = false;
    show(n.id);
    say("Created network " + n.name + " (" + n.id + ").");
  }
});

$("add-device").addEventListener("submit", async (e) => {
  e.preventDefault();
  const device = $("ad-name").value.trim();
  const id = current;
  let d = null;
  const ok = await act("Adding device " + device + " (waiting for the access node, up to a minute)", async () => {
    d = await api("POST", "/api/networks/" + encodeURIComponent(id) + "/devices", { device });
  });
  if (!ok) return;
  $("device-msg").textContent = "Device " + d.device + ": address " + d.address + " via " + d.access_node +
    ". Its file holds its private key: download it or scan the code now (kept until " + d.expires + ").";
  const a = $("device-conf");
  a.href = d.conf_url;
  a.setAttribute("download", d.file);
  $("device-qr").src = d.qr_url;
  $("device-out").hidden = false;
  say("Device " + d.device + " added.");
});

async function start() {
  try {
    await loadSession();
    await loadNodes();
    const list = await loadNetworks();
    const m = /^#net=(.+)$/.exec(location.hash);
    if (m) show(decodeURIComponent(m[1]));
    else if (list.length > 0) show(list[0].id);
    else say("No networks yet: create one.");
  } catch (e) {
    say("Could not load: " + e.message, true);
  }
}

start();
