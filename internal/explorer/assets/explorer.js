// zosnet grid explorer: reads the registry's API v1 and draws farms and nodes. All text
// goes in through textContent.
"use strict";

const $ = (id) => document.getElementById(id);
let farms = [];
let nodes = [];

const reasonWords = {
  "public-config": "the farmer's public config",
  "public-ipv4": "a public IPv4 address on a NIC",
  "global-ipv6": "a global IPv6 address on the public segment",
};

async function get(path) {
  const r = await fetch(path);
  if (!r.ok) {
    let msg = r.status + " " + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (e) { /* not JSON */ }
    throw new Error(path + ": " + msg);
  }
  return r.json();
}

function say(msg, isError) { $("status").textContent = msg; $("status").className = isError ? "error" : ""; }
function clear(el) { while (el.firstChild) el.removeChild(el.firstChild); }
function td(tr, v, cls) {
  const c = document.createElement("td");
  if (v instanceof Node) c.appendChild(v); else c.textContent = v === undefined || v === null || v === "" ? "–" : String(v);
  if (cls) c.className = cls;
  tr.appendChild(c);
  return c;
}
function ago(t) {
  if (!t || t.startsWith("0001")) return "never";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(t)) / 1000));
  if (s < 90) return s + " s ago";
  if (s < 5400) return Math.round(s / 60) + " min ago";
  return Math.round(s / 3600) + " h ago";
}
function farmName(id) { const f = farms.find((x) => x.id === id); return f ? f.name : "farm " + id; }

// visibility says whether peers can reach the node's WireGuard sockets, and why.
function visibility(n) {
  const f = n.facts || {};
  const eps = f.endpoints || [];
  if (!f.hidden && eps.length > 0) {
    const why = Array.from(new Set(eps.map((e) => reasonWords[e.reason] || e.reason)));
    return { label: "public", why: "reachable through " + why.join(", ") + ": " + eps.map((e) => e.ip).join(", ") };
  }
  if ((f.nics || []).length === 0) return { label: "hidden", why: "no facts reported yet" };
  const addrs = (f.nics || []).flatMap((x) => x.addrs || []).map((a) => a.split("/")[0]);
  let why = "no public config, no public IPv4 on a NIC, no IPv6 on a public segment";
  if (n.source_addr && !addrs.includes(n.source_addr)) why += "; behind NAT (the registry sees it from " + n.source_addr + ")";
  return { label: "hidden", why: why };
}

function matches(n) {
  const q = $("q").value.trim().toLowerCase();
  const farm = $("f-farm").value;
  const state = $("f-state").value;
  const vis = $("f-vis").value;
  if (farm && String(n.farm_id) !== farm) return false;
  if (state && (state === "online") !== n.online) return false;
  if (vis && visibility(n).label !== vis) return false;
  if (!q) return true;
  const f = n.facts || {};
  const hay = [n.name, String(n.id), farmName(n.farm_id), n.source_addr, (n.public_config || {}).domain || "",
    ...(f.endpoints || []).map((e) => e.ip), ...(f.nics || []).flatMap((x) => [x.name, x.mac, ...(x.addrs || [])])].join(" ").toLowerCase();
  return hay.includes(q);
}

function renderList() {
  const tb = $("nodes").tBodies[0];
  clear(tb);
  const shown = nodes.filter(matches);
  for (const n of shown) {
    const tr = document.createElement("tr");
    tr.dataset.node = n.name;
    const a = document.createElement("a");
    a.href = "#node=" + encodeURIComponent(n.name);
    a.textContent = n.name;
    td(tr, a);
    td(tr, farmName(n.farm_id));
    td(tr, n.online ? "online" : "offline", n.online ? "online" : "offline");
    td(tr, ago(n.last_seen));
    const v = visibility(n);
    td(tr, v.label).dataset.visibility = v.label;
    td(tr, v.why);
    td(tr, (n.public_config || {}).domain);
    tb.appendChild(tr);
  }
  $("count").textContent = "(" + shown.length + " of " + nodes.length + ")";
  const ft = $("farms").tBodies[0];
  clear(ft);
  for (const f of farms) {
    const mine = nodes.filter((n) => n.farm_id === f.id);
    const tr = document.createElement("tr");
    td(tr, f.name); td(tr, f.id); td(tr, mine.length); td(tr, mine.filter((n) => n.online).length); td(tr, f.owner);
    ft.appendChild(tr);
  }
}

function fact(dl, k, v) {
  const dt = document.createElement("dt"); dt.textContent = k;
  const dd = document.createElement("dd"); dd.textContent = v === undefined || v === null || v === "" ? "–" : String(v);
  dl.appendChild(dt); dl.appendChild(dd);
}

async function renderNode(name) {
  const n = await get("/v1/nodes/" + encodeURIComponent(name));
  $("list-view").hidden = true;
  $("node-view").hidden = false;
  $("node-h").textContent = "Node " + n.name;
  document.title = n.name + " — zosnet grid explorer";
  const dl = $("node-facts");
  clear(dl);
  const v = visibility(n);
  const pc = n.public_config;
  fact(dl, "id", n.id);
  fact(dl, "farm", farmName(n.farm_id) + " (" + n.farm_id + ")");
  fact(dl, "state", n.online ? "online" : "offline");
  fact(dl, "last heartbeat", ago(n.last_seen) + " (" + n.last_seen + ")");
  fact(dl, "registered", n.registered);
  fact(dl, "public or hidden", v.label);
  fact(dl, "why", v.why);
  fact(dl, "seen by the registry from", n.source_addr);
  fact(dl, "public config", pc ? [pc.ipv4, pc.gw4 && "gw " + pc.gw4, pc.ipv6, pc.gw6 && "gw " + pc.gw6].filter(Boolean).join(", ") : "none");
  fact(dl, "gateway domain", pc && pc.domain);
  fact(dl, "version", (n.facts || {}).version);
  fact(dl, "key", n.key);
  const et = $("node-endpoints").tBodies[0];
  clear(et);
  for (const e of (n.facts || {}).endpoints || []) {
    const tr = document.createElement("tr");
    td(tr, e.ip); td(tr, "IPv" + e.family); td(tr, reasonWords[e.reason] || e.reason);
    et.appendChild(tr);
  }
  const nt = $("node-nics").tBodies[0];
  clear(nt);
  for (const x of (n.facts || {}).nics || []) {
    const tr = document.createElement("tr");
    td(tr, x.name); td(tr, x.kind); td(tr, x.mac); td(tr, x.up ? "up" : "down");
    td(tr, (x.addrs || []).join(", "));
    td(tr, (x.routes || []).map((r) => r.dst + (r.gw ? " via " + r.gw : "")).join(", "));
    nt.appendChild(tr);
  }
  say("Node " + n.name + ", read " + new Date().toLocaleTimeString());
}

async function route() {
  try {
    const m = /^#node=(.+)$/.exec(location.hash);
    if (m) return await renderNode(decodeURIComponent(m[1]));
    document.title = "zosnet grid explorer";
    $("node-view").hidden = true;
    $("list-view").hidden = false;
    renderList();
    say(nodes.length + " nodes in " + farms.length + " farms, read " + new Date().toLocaleTimeString());
  } catch (e) {
    say("Could not read the registry: " + e.message, true);
  }
}

async function load() {
  try {
    [farms, nodes] = await Promise.all([get("/v1/farms"), get("/v1/nodes")]);
  } catch (e) {
    say("Could not read the registry: " + e.message, true);
    return;
  }
  nodes.sort((a, b) => a.name.localeCompare(b.name));
  const sel = $("f-farm");
  for (const f of farms) {
    const o = document.createElement("option");
    o.value = String(f.id);
    o.textContent = f.name;
    sel.appendChild(o);
  }
  document.body.dataset.loaded = "true";
  await route();
}

for (const id of ["q", "f-farm", "f-state", "f-vis"]) $(id).addEventListener("input", () => { renderList(); });
$("filters").addEventListener("submit", (e) => e.preventDefault());
window.addEventListener("hashchange", route);
load();
