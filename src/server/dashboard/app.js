// frps dashboard: plain JS against the dashboard API (same origin, HTTP basic auth).
// JSON answers may come as text/plain (frp compatibility), so bodies are parsed with JSON.parse.
'use strict';

const TYPES = ['tcp', 'udp', 'http', 'https', 'tcpmux', 'stcp', 'sudp', 'xtcp'];
const REFRESH_MS = 5000;
const NS = 'http://www.w3.org/2000/svg';

const state = {
  tab: null,               // the selected proxy type
  proxies: {},             // type -> [proxy]
  expanded: new Set(),     // proxy names whose detail row is open
  traffic: new Map(),      // proxy name -> {trafficIn, trafficOut}
  timer: null,
  refreshes: 0,
  busy: false,
};

const $ = (sel) => document.querySelector(sel);

// Create an element: h('td', {class: 'num'}, 'text', child...). Text is never parsed as HTML.
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

function svg(tag, attrs, ...children) {
  const el = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) el.setAttribute(k, String(v));
  for (const c of children) el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return el;
}

function humanBytes(n) {
  n = Number(n) || 0;
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return (i === 0 ? String(n) : n.toFixed(n < 10 ? 2 : n < 100 ? 1 : 0)) + ' ' + units[i];
}

function bytesCell(n, field) {
  const b = Number(n) || 0;
  return h('td', {class: 'num', 'data-field': field, 'data-bytes': b, title: `${b} bytes`}, humanBytes(b));
}

class ApiError extends Error {}

async function api(path, method = 'GET') {
  let res;
  try {
    res = await fetch(path, {method, cache: 'no-store', credentials: 'same-origin'});
  } catch (e) {
    throw new ApiError(`${method} ${path}: network error (${e.message})`);
  }
  const text = await res.text();
  if (!res.ok) {
    const detail = text.trim().slice(0, 200);
    throw new ApiError(`${method} ${path}: HTTP ${res.status}${detail ? ' — ' + detail : ''}`);
  }
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ApiError(`${method} ${path}: not JSON (${e.message})`);
  }
}

function showErrors(errors) {
  const el = $('#error');
  el.replaceChildren();
  if (!errors.length) { el.hidden = true; return; }
  el.append(h('strong', null, 'The API answered with an error: '));
  const list = h('ul');
  for (const e of errors) list.append(h('li', {class: 'error-item'}, e));
  el.append(list);
  el.hidden = false;
}

let noticeTimer = null;
function notice(text) {
  const el = $('#notice');
  el.textContent = text;
  el.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { el.hidden = true; }, 4000);
}

// ---- overview ----

function renderServerInfo(info) {
  $('#server-version').textContent = info.version ? 'v' + info.version : '?';
  $('#server-version').dataset.version = info.version || '';
  $('#bind-port').textContent = info.bindPort ?? '–';
  const port = (p) => (p ? String(p) : 'off');
  $('#vhost-ports').textContent = `${port(info.vhostHTTPPort)} / ${port(info.vhostHTTPSPort)}`;
  $('#client-count').textContent = info.clientCounts ?? 0;
  $('#cur-conns').textContent = info.curConns ?? 0;
  for (const [id, v] of [['#traffic-in', info.totalTrafficIn], ['#traffic-out', info.totalTrafficOut]]) {
    $(id).textContent = humanBytes(v);
    $(id).dataset.bytes = Number(v) || 0;
    $(id).title = `${Number(v) || 0} bytes`;
  }
  const facts = [
    ['tcpmux HTTP CONNECT port', info.tcpmuxHTTPConnectPort || 'off'],
    ['KCP / QUIC port', `${port(info.kcpBindPort)} / ${port(info.quicBindPort)}`],
    ['Subdomain host', info.subdomainHost || '–'],
    ['Allowed ports', info.allowPortsStr || 'any'],
    ['Max pool count', info.maxPoolCount ?? '–'],
    ['Max ports per client', info.maxPortsPerClient ? info.maxPortsPerClient : 'no limit'],
    ['Heartbeat timeout', info.heartbeatTimeout > 0 ? `${info.heartbeatTimeout} s` : 'off'],
    ['TLS only', info.tlsForce ? 'yes' : 'no'],
  ];
  $('#server-facts').replaceChildren(...facts.map(([k, v]) => h('div', {class: 'fact'}, h('dt', null, k), h('dd', null, v))));
  const counts = info.proxyTypeCount || {};
  $('#proxy-counts').replaceChildren(...TYPES.map((t) =>
    h('span', {class: 'type-count' + (counts[t] ? ' some' : ''), 'data-type': t},
      h('span', {class: 'type'}, t), h('span', {class: 'n'}, counts[t] || 0))));
}

// ---- proxies ----

function where(p) {
  const c = p.conf || {};
  if (c.remotePort) return ':' + c.remotePort;
  const names = [...(c.customDomains || [])];
  if (c.subdomain) names.push(c.subdomain + '.*');
  return names.join(', ');
}

function buildTabs() {
  const tabs = $('#proxy-tabs');
  const panels = $('#proxy-panels');
  for (const t of TYPES) {
    tabs.append(h('button', {type: 'button', role: 'tab', class: 'tab', id: `tab-${t}`, 'data-type': t,
      onclick: () => selectTab(t)}, t, ' ', h('span', {class: 'count'}, '0')));
    panels.append(h('div', {class: 'panel table-wrap', id: `panel-${t}`, role: 'tabpanel', 'data-type': t, hidden: true},
      h('table', {id: `proxies-${t}`, class: 'proxies', 'data-type': t},
        h('thead', null, h('tr', null,
          h('th', null, 'Name'), h('th', null, 'Status'),
          h('th', null, t === 'tcp' || t === 'udp' ? 'Port' : 'Domains'),
          h('th', null, 'Client version'), h('th', {class: 'num'}, 'Conns'),
          h('th', {class: 'num'}, 'In today'), h('th', {class: 'num'}, 'Out today'),
          h('th', null, 'Last start'), h('th', null, 'Last close'))),
        h('tbody'))));
  }
}

function selectTab(t) {
  state.tab = t;
  for (const b of document.querySelectorAll('#proxy-tabs .tab')) {
    const on = b.dataset.type === t;
    b.classList.toggle('active', on);
    b.setAttribute('aria-selected', on ? 'true' : 'false');
  }
  for (const p of document.querySelectorAll('#proxy-panels .panel')) p.hidden = p.dataset.type !== t;
}

const COLS = 9;

function renderProxies(type, list) {
  state.proxies[type] = list;
  const tbody = $(`#proxies-${type} tbody`);
  const rows = [];
  if (!list.length) rows.push(h('tr', {class: 'empty'}, h('td', {colspan: COLS}, `No ${type} proxies.`)));
  for (const p of list) {
    const open = state.expanded.has(p.name);
    rows.push(h('tr', {class: 'proxy-row' + (open ? ' open' : ''), 'data-proxy': p.name, 'data-status': p.status,
      tabindex: 0, 'aria-expanded': open ? 'true' : 'false', title: 'Show the 7-day traffic',
      onclick: () => toggle(p.name),
      onkeydown: (e) => { if (e.key === 'Enter' || e.key === ' ') { e.preventDefault(); toggle(p.name); } }},
    h('td', {class: 'name', 'data-field': 'name'}, h('span', {class: 'caret'}, open ? '▾' : '▸'), ' ', p.name),
    h('td', {'data-field': 'status'}, h('span', {class: `status ${p.status === 'online' ? 'online' : 'offline'}`}, p.status)),
    h('td', {'data-field': 'where', class: 'mono'}, where(p) || '–'),
    h('td', {'data-field': 'clientVersion'}, p.clientVersion || '–'),
    h('td', {class: 'num', 'data-field': 'curConns'}, p.curConns ?? 0),
    bytesCell(p.todayTrafficIn, 'todayTrafficIn'), bytesCell(p.todayTrafficOut, 'todayTrafficOut'),
    h('td', {'data-field': 'lastStartTime', class: 'mono'}, p.lastStartTime || '–'),
    h('td', {'data-field': 'lastCloseTime', class: 'mono'}, p.lastCloseTime || '–')));
    if (open) rows.push(detailRow(p));
  }
  tbody.replaceChildren(...rows);
  const online = list.filter((p) => p.status === 'online').length;
  const tab = $(`#tab-${type}`);
  tab.querySelector('.count').textContent = list.length;
  tab.classList.toggle('has', list.length > 0);
  tab.title = `${online} online, ${list.length - online} offline`;
}

function detailRow(p) {
  const chart = h('div', {class: 'chart', 'data-chart-for': p.name});
  const cached = state.traffic.get(p.name);
  if (cached) chart.append(drawChart(cached));
  else chart.append(h('p', {class: 'muted'}, 'Loading traffic…'));
  return h('tr', {class: 'detail', 'data-detail-for': p.name},
    h('td', {colspan: COLS},
      h('div', {class: 'detail-grid'},
        h('div', null, h('h3', null, 'Traffic, last 7 days'), chart),
        h('div', null, h('h3', null, 'Configuration'),
          h('pre', {class: 'conf'}, p.conf ? JSON.stringify(p.conf, null, 2) : '(offline: no configuration)')))));
}

function findRow(name) {
  return [...document.querySelectorAll('tr.proxy-row')].find((r) => r.dataset.proxy === name);
}

function rerenderType(name) {
  for (const t of TYPES) {
    if ((state.proxies[t] || []).some((p) => p.name === name)) renderProxies(t, state.proxies[t]);
  }
}

async function toggle(name) {
  if (state.expanded.has(name)) state.expanded.delete(name);
  else state.expanded.add(name);
  rerenderType(name);
  if (state.expanded.has(name)) await loadTraffic(name);
}

async function loadTraffic(name) {
  try {
    const t = await api('/api/traffic/' + encodeURIComponent(name));
    state.traffic.set(name, t);
  } catch (e) {
    const box = [...document.querySelectorAll('.chart')].find((c) => c.dataset.chartFor === name);
    if (box) box.replaceChildren(h('p', {class: 'error-text'}, e.message));
    return;
  }
  if (findRow(name)) rerenderType(name);
}

// A bar chart of 7 days: oldest on the left, today on the right; in and out side by side.
function drawChart(t) {
  const ins = (t.trafficIn || []).slice(0, 7);
  const outs = (t.trafficOut || []).slice(0, 7);
  while (ins.length < 7) ins.push(0);
  while (outs.length < 7) outs.push(0);
  const W = 560, H = 210, L = 64, R = 10, T = 26, B = 30;
  const pw = W - L - R, ph = H - T - B;
  const max = niceMax(Math.max(1, ...ins, ...outs));
  const y = (v) => T + ph - (v / max) * ph;
  const s = svg('svg', {viewBox: `0 0 ${W} ${H}`, class: 'traffic-chart', role: 'img',
    'aria-label': `Traffic of ${t.name} over 7 days`, 'data-proxy': t.name});
  for (const f of [0, 0.25, 0.5, 0.75, 1]) {
    const yy = y(max * f);
    s.append(svg('line', {x1: L, x2: W - R, y1: yy, y2: yy, class: f ? 'grid' : 'axis'}));
    s.append(svg('text', {x: L - 6, y: yy + 4, 'text-anchor': 'end', class: 'tick'}, humanBytes(max * f)));
  }
  const gw = pw / 7, bw = Math.min(22, gw * 0.34);
  const now = new Date();
  for (let col = 0; col < 7; col++) {
    const day = 6 - col; // index into the API arrays: 0 = today
    const x = L + col * gw + gw / 2;
    const d = new Date(now.getFullYear(), now.getMonth(), now.getDate() - day);
    const label = day === 0 ? 'today' : `${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
    s.append(svg('text', {x, y: H - B + 18, 'text-anchor': 'middle', class: 'day'}, label));
    for (const [dir, v, dx] of [['in', ins[day], -bw - 1], ['out', outs[day], 1]]) {
      const yy = y(v);
      const bar = svg('rect', {x: x + dx, y: yy, width: bw, height: Math.max(0, T + ph - yy), rx: 2,
        class: `bar ${dir}`, 'data-day': day, 'data-dir': dir, 'data-bytes': v});
      bar.append(svg('title', null, `${label}: ${dir} ${humanBytes(v)} (${v} bytes)`));
      s.append(bar);
    }
  }
  s.append(svg('rect', {x: W - R - 250, y: 6, width: 10, height: 10, class: 'bar in'}));
  s.append(svg('text', {x: W - R - 236, y: 15, class: 'legend'}, 'in (user → frpc)'));
  s.append(svg('rect', {x: W - R - 120, y: 6, width: 10, height: 10, class: 'bar out'}));
  s.append(svg('text', {x: W - R - 106, y: 15, class: 'legend'}, 'out (frpc → user)'));
  return s;
}

function niceMax(v) {
  // The smallest of 1, 2, 2.5, 5 x 2^10k / 10^k steps above v, so tick labels stay readable.
  const unit = Math.pow(1024, Math.floor(Math.log(v) / Math.log(1024)));
  const m = v / unit;
  const step = Math.pow(10, Math.floor(Math.log10(m)));
  for (const f of [1, 2, 2.5, 5, 10]) if (f * step >= m) return f * step * unit;
  return v;
}

// ---- clients ----

function renderClients(list) {
  const tbody = $('#clients tbody');
  if (!list.length) {
    tbody.replaceChildren(h('tr', {class: 'empty'}, h('td', {colspan: 11}, 'No clients logged in.')));
    return;
  }
  tbody.replaceChildren(...list.map((c) => {
    return h('tr', {class: 'client-row', 'data-client': c.id},
      h('td', {class: 'mono', 'data-field': 'id'}, c.id),
      h('td', {'data-field': 'user'}, c.user || '–'),
      h('td', {'data-field': 'hostname'}, c.hostname || '–'),
      h('td', {'data-field': 'platform'}, [c.os, c.arch].filter(Boolean).join(' / ') || '–'),
      h('td', {'data-field': 'version'}, c.version || '–'),
      h('td', {class: 'mono', 'data-field': 'clientAddress'}, c.clientAddress || '–'),
      h('td', {class: 'mono', 'data-field': 'loginTime'}, c.loginTime || '–'),
      h('td', {class: 'num', 'data-field': 'proxyCount'}, c.proxyCount ?? 0),
      h('td', {class: 'num', 'data-field': 'curConns'}, c.curConns ?? 0),
      bytesCell(c.todayTrafficIn, 'todayTrafficIn'), bytesCell(c.todayTrafficOut, 'todayTrafficOut'));
  }));
}

// ---- refresh loop ----

// One refresh at a time; a refresh asked for meanwhile runs right after (with its errors).
async function refresh(extraErrors = []) {
  if (state.busy) {
    state.again = (state.again || []).concat(extraErrors);
    return;
  }
  state.busy = true;
  const errors = [...extraErrors];
  try {
    const [info, clients, ...proxies] = await Promise.allSettled([
      api('/api/serverinfo'), api('/api/clients'), ...TYPES.map((t) => api('/api/proxy/' + t))]);
    if (info.status === 'fulfilled' && info.value) renderServerInfo(info.value);
    else if (info.status === 'rejected') errors.push(info.reason.message);
    if (clients.status === 'fulfilled') renderClients((clients.value && clients.value.clients) || []);
    else errors.push(clients.reason.message);
    TYPES.forEach((t, i) => {
      const r = proxies[i];
      if (r.status === 'fulfilled') renderProxies(t, (r.value && r.value.proxies) || []);
      else errors.push(r.reason.message);
    });
    if (!state.tab) selectTab(TYPES.find((t) => (state.proxies[t] || []).length) || 'tcp');
    // Expanded rows of proxies that are gone are forgotten; the others get fresh numbers.
    const known = new Set(Object.values(state.proxies).flat().map((p) => p.name));
    for (const name of [...state.expanded]) {
      if (!known.has(name)) state.expanded.delete(name);
      else loadTraffic(name);
    }
  } catch (e) {
    errors.push(String(e && e.message || e));
  } finally {
    state.busy = false;
  }
  showErrors(errors);
  state.refreshes++;
  document.body.dataset.refreshes = state.refreshes;
  if (!errors.length) document.body.dataset.loaded = 'true';
  document.body.dataset.errors = errors.length;
  $('#last-updated').textContent = 'updated ' + new Date().toLocaleTimeString();
  if (state.again) {
    const again = state.again;
    state.again = null;
    await refresh(again);
  }
}

function schedule() {
  clearInterval(state.timer);
  state.timer = $('#auto-refresh').checked ? setInterval(() => refresh(), REFRESH_MS) : null;
}

async function clearOffline() {
  const btn = $('#clear-offline');
  btn.disabled = true;
  const errors = [];
  try {
    await api('/api/proxies?status=offline', 'DELETE');
    notice('Offline proxies cleared.');
  } catch (e) {
    errors.push(e.message);
  } finally {
    btn.disabled = false;
  }
  await refresh(errors);
}

document.addEventListener('DOMContentLoaded', () => {
  buildTabs();
  $('#refresh-now').addEventListener('click', () => refresh());
  $('#clear-offline').addEventListener('click', clearOffline);
  $('#auto-refresh').addEventListener('change', schedule);
  refresh();
  schedule();
});
