// Grapevine's web console (docs/ui.md). Plain JavaScript, no build step, no
// third-party code: it reads the agent's HTTP API and follows the change stream
// of every service (GET /v1/stream) through fetch, since EventSource cannot
// send the Authorization header an ACL token needs. Everything from the
// network is put in the page as text, never as HTML.
'use strict';

const PAGE_SIZE = 20;
const INSTANCE_PAGE_SIZE = 50;
const POLL_MS = 2000;
const TOKEN_KEY = 'grapevine.token';
const HEALTHS = ['passing', 'warning', 'critical', 'maintenance'];

const state = {
  token: sessionStorage.getItem(TOKEN_KEY) || '',
  auth: 'unknown',        // 'open' | 'token' | 'required' | 'denied'
  self: null,
  members: [],
  history: [],
  checks: [],
  insts: new Map(),        // "node\u0000id" → instance, from the stream
  index: 0,                // last stream index applied
  live: false,
  error: '',
  page: 0,
  ipage: 0,                // page of the service view's instances
  ipageOf: '',             // the service ipage belongs to
  stream: null,            // AbortController of the open stream
  renderQueued: false,
  updated: null,
};

// ---- helpers ----------------------------------------------------------------

function $(id) { return document.getElementById(id); }

// el builds an element; attrs sets attributes (class, title, href, data-*),
// children are nodes or strings (as text).
function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) {
    if (c === undefined || c === null || c === false) continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

function svg(tag, attrs, ...children) {
  const e = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function replace(node, ...children) { node.replaceChildren(...children.flat().filter((c) => c !== null && c !== undefined)); }

// hostPort joins an address and a port; IPv6 addresses get brackets
// ([::1]:8081), as in URLs and net.JoinHostPort.
function hostPort(addr, port) {
  if (!addr) return port ? ':' + port : '–';
  const a = addr.includes(':') && !addr.startsWith('[') ? '[' + addr + ']' : addr;
  return port ? a + ':' + port : a;
}

function ago(t) {
  if (!t) return '–';
  const ms = Date.now() - new Date(t).getTime();
  if (!isFinite(ms)) return '–';
  return duration(Math.max(0, ms)) + ' ago';
}

function duration(ms) {
  const s = Math.round(ms / 1000);
  if (s < 60) return s + 's';
  if (s < 3600) return Math.floor(s / 60) + 'm' + (s % 60 ? ' ' + (s % 60) + 's' : '');
  if (s < 86400) return Math.floor(s / 3600) + 'h ' + Math.floor((s % 3600) / 60) + 'm';
  return Math.floor(s / 86400) + 'd ' + Math.floor((s % 86400) / 3600) + 'h';
}

function pct(r) { return (Math.round(r * 1000) / 10) + '%'; }

function badge(cls, text, title) { return el('span', { class: 'badge ' + cls, title }, text || cls); }


function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  if (state.token) h.Authorization = 'Bearer ' + state.token;
  return h;
}

class AuthError extends Error {
  constructor(status) { super(status === 401 ? 'token required' : 'token not allowed'); this.status = status; }
}

async function getJSON(path) {
  const r = await fetch(path, { headers: authHeaders({ Accept: 'application/json' }), cache: 'no-store' });
  if (r.status === 401 || r.status === 403) throw new AuthError(r.status);
  if (!r.ok) {
    let msg = r.status + ' ' + r.statusText;
    try { msg = (await r.json()).error || msg; } catch (_) { /* not JSON */ }
    throw new Error(path + ': ' + msg);
  }
  return r.json();
}

function noteAuth(err) {
  if (err instanceof AuthError) {
    state.auth = err.status === 401 ? 'required' : 'denied';
    return true;
  }
  return false;
}

function sleep(ms) { return new Promise((res) => setTimeout(res, ms)); }

// ---- data ---------------------------------------------------------------------

async function poll() {
  const wantChecks = route().view === 'service';
  const reqs = [getJSON('/v1/agent/self'), getJSON('/v1/members'), getJSON('/v1/agent/agreement')];
  if (wantChecks) reqs.push(getJSON('/v1/agent/checks'));
  const res = await Promise.allSettled(reqs);
  let authFailed = false;
  const errs = [];
  res.forEach((r) => {
    if (r.status === 'rejected') {
      if (noteAuth(r.reason)) authFailed = true; else errs.push(r.reason.message);
    }
  });
  if (res[0].status === 'fulfilled') state.self = res[0].value;
  if (res[1].status === 'fulfilled') state.members = res[1].value || [];
  if (res[2].status === 'fulfilled') state.history = (res[2].value && res[2].value.samples) || [];
  if (wantChecks && res[3].status === 'fulfilled') state.checks = res[3].value || [];
  if (!authFailed && res[0].status === 'fulfilled') state.auth = state.token ? 'token' : 'open';
  state.error = errs.length ? errs[0] : '';
  state.updated = new Date();
  scheduleRender();
}

async function pollLoop() {
  for (;;) {
    try { await poll(); } catch (e) { state.error = String(e); scheduleRender(); }
    await sleep(POLL_MS);
  }
}

function applyEvent(ev) {
  const key = (i) => i.node + '\u0000' + i.id;
  switch (ev.type) {
    case 'reset':
      state.insts = new Map((ev.instances || []).map((i) => [key(i), i]));
      break;
    case 'upsert':
      if (ev.instance) state.insts.set(key(ev.instance), ev.instance);
      break;
    case 'delete':
      if (ev.instance) state.insts.delete(key(ev.instance));
      break;
    default:
      return; // unknown types are skipped, as the Go client does
  }
  state.index = ev.index || state.index;
  scheduleRender();
}

// parseSSE feeds complete Server-Sent Events blocks of buf to applyEvent and
// returns what is left (an incomplete block).
function parseSSE(buf) {
  buf = buf.replace(/\r\n?/g, '\n');
  let i;
  while ((i = buf.indexOf('\n\n')) >= 0) {
    const block = buf.slice(0, i);
    buf = buf.slice(i + 2);
    const data = [];
    for (const line of block.split('\n')) {
      if (line.startsWith('data:')) data.push(line.slice(line.startsWith('data: ') ? 6 : 5));
    }
    if (data.length) {
      try { applyEvent(JSON.parse(data.join('\n'))); } catch (e) { console.warn('bad stream event', e); }
    }
  }
  return buf;
}

function setLive(on) {
  if (state.live !== on) { state.live = on; scheduleRender(); }
}

// streamLoop follows GET /v1/stream (every service) and reconnects, resuming
// from the last index applied.
async function streamLoop() {
  for (;;) {
    const ctrl = new AbortController();
    state.stream = ctrl;
    try {
      const q = state.index ? '?index=' + state.index : '';
      const r = await fetch('/v1/stream' + q, { headers: authHeaders({ Accept: 'text/event-stream' }), signal: ctrl.signal, cache: 'no-store' });
      if (r.status === 401 || r.status === 403) {
        noteAuth(new AuthError(r.status));
        setLive(false);
        await sleep(3000);
        continue;
      }
      if (!r.ok || !r.body) throw new Error('stream: ' + r.status);
      setLive(true);
      const reader = r.body.getReader();
      const dec = new TextDecoder();
      let buf = '';
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buf = parseSSE(buf + dec.decode(value, { stream: true }));
      }
    } catch (e) {
      if (e.name !== 'AbortError') console.warn('stream', e);
    }
    setLive(false);
    if (!ctrl.signal.aborted) await sleep(2000);
  }
}

function restartStream() {
  state.index = 0;
  if (state.stream) state.stream.abort();
}

// ---- routing ------------------------------------------------------------------

function route() {
  const h = location.hash.replace(/^#\/?/, '');
  if (h.startsWith('service/')) {
    let name = h.slice(8);
    try { name = decodeURIComponent(name); } catch (_) { /* keep it raw */ }
    return { view: 'service', name };
  }
  if (h === 'services' || h === 'members') return { view: h };
  return { view: 'overview' };
}

function scheduleRender() {
  if (state.renderQueued) return;
  state.renderQueued = true;
  requestAnimationFrame(() => { state.renderQueued = false; render(); });
}

// ---- rendering ------------------------------------------------------------------

function render() {
  const r = route();
  for (const v of ['overview', 'services', 'service', 'members']) $('view-' + v).classList.toggle('hidden', v !== r.view);
  for (const a of document.querySelectorAll('#nav a')) {
    const tab = a.dataset.tab;
    a.classList.toggle('active', tab === r.view || (tab === 'services' && r.view === 'service'));
  }
  renderHeader();
  renderBanners();
  if (r.view === 'overview') renderOverview();
  if (r.view === 'services') renderServices();
  if (r.view === 'service') renderService(r.name);
  if (r.view === 'members') renderMembers();
  $('updated').textContent = state.updated ? 'updated ' + state.updated.toLocaleTimeString() + (state.index ? ' · stream index ' + state.index : '') : '';
}

function renderHeader() {
  const s = state.self;
  $('node').textContent = s ? s.node : '…';
  $('version').textContent = s ? 'v' + s.version + (s.zone ? ' · zone ' + s.zone : '') : '';
  document.title = s ? 'Grapevine · ' + s.node : 'Grapevine';
  const live = $('live');
  live.classList.toggle('on', state.live);
  live.classList.toggle('off', !state.live);
  $('live-text').textContent = state.live ? 'live' : 'reconnecting';
  const acl = $('acl');
  acl.classList.toggle('hidden', state.auth === 'open' || state.auth === 'unknown');
  acl.classList.toggle('warn', state.auth === 'required' || state.auth === 'denied');
  acl.textContent = { token: 'ACL: token in use', required: 'ACL: token required', denied: 'ACL: token refused' }[state.auth] || '';
}

function renderBanners() {
  const out = [];
  const s = state.self;
  if (state.auth === 'required') out.push(el('div', { class: 'banner warn', id: 'banner-acl' }, 'This agent requires an ACL token. Enter a token with read access (Token, top right): the console stays read-only.'));
  if (state.auth === 'denied') out.push(el('div', { class: 'banner error', id: 'banner-acl' }, 'The token was refused for part of the API: what it may not read is not shown.'));
  if (s && s.gossip && s.gossip.insecure) out.push(el('div', { class: 'banner warn', id: 'banner-insecure-gossip' }, 'Insecure gossip: this agent runs without a gossip key, so anyone who reaches its gossip port can join the cluster and plant records.'));
  for (const w of (s && Array.isArray(s.warnings) ? s.warnings : [])) out.push(el('div', { class: 'banner warn' }, String(w)));
  if (s && s.preservation && s.preservation.active) {
    out.push(el('div', { class: 'banner warn', id: 'banner-preservation' },
      'Self-preservation active since ' + new Date(s.preservation.since).toLocaleTimeString() + ': ' + s.preservation.unreachable + ' of ' + s.preservation.known +
      ' agents unreachable at once (likely a partition); their last-known instances are served stale.'));
  }
  if (state.error) out.push(el('div', { class: 'banner error' }, state.error));
  replace($('banners'), out);
}

function dl(pairs) {
  const d = el('dl', { class: 'kv' });
  for (const [k, v] of pairs) d.append(el('dt', null, k), el('dd', null, v));
  return d;
}

function liveMembers() { return state.members.filter((m) => m.status === 'alive' || m.status === 'suspect'); }

function renderOverview() {
  const s = state.self;
  const ag = s && s.agreement;
  const big = $('agree-ratio');
  if (ag) {
    big.textContent = pct(ag.ratio);
    big.className = 'big ' + (ag.converged ? 'good' : 'bad');
    $('agree-text').textContent = ag.agree + ' of ' + ag.members + ' members agree' +
      (ag.unknown ? ' (' + ag.unknown + ' without a fingerprint)' : '') +
      (ag.since ? ' · ' + (ag.converged ? 'converged' : 'not converged') + ' for ' + duration(Date.now() - new Date(ag.since).getTime()) : '');
  }
  renderChart($('agree-chart'), state.history);

  const ms = state.members;
  const by = (st) => ms.filter((m) => m.status === st).length;
  replace($('ov-members'), dl([
    ['alive', by('alive')], ['suspect', by('suspect')], ['failed', by('failed')], ['left', by('left')],
    ['zones', [...new Set(liveMembers().map((m) => m.zone).filter(Boolean))].sort().join(', ') || '–'],
  ]));
  if (s) {
    replace($('ov-catalog'), dl([
      ['instances', s.catalog.instances], ['services', s.catalog.services], ['origins', s.catalog.origins],
      ['tombstones', s.catalog.tombstones], ['hash', el('code', null, s.catalog.hash)], ['epoch', s.epoch],
    ]));
    const p = s.preservation;
    replace($('ov-preservation'), dl([
      ['state', p.active ? badge('critical', 'active') : badge('passing', 'inactive')],
      ['unreachable', p.unreachable + ' of ' + p.known + ' agents'],
      ['since', p.active && p.since ? new Date(p.since).toLocaleString() : '–'],
    ]));
  }
  const stale = [...state.insts.values()].filter((i) => i.stale).sort((a, b) => b.age_ms - a.age_ms);
  replace($('ov-stale'), stale.length === 0 ? el('div', { class: 'muted' }, 'None: every instance served comes from a live owner.') : [
    el('div', null, stale.length + ' instance' + (stale.length === 1 ? '' : 's') + ' served stale (owner unreachable)'),
    el('ul', { class: 'list' }, stale.slice(0, 8).map((i) => el('li', null, el('a', { href: '#/service/' + encodeURIComponent(i.service) }, i.service), ' ' + i.id + ' on ' + i.node + ' · ' + duration(i.age_ms)))),
  ]);
  const dis = liveMembers().filter((m) => m.agrees === false || !m.fingerprint);
  replace($('ov-disagree'), dis.length === 0 ? el('div', { class: 'muted' }, 'None: every live member reports this agent\'s fingerprint.') :
    el('ul', { class: 'list' }, dis.map((m) => el('li', null, el('a', { href: '#/members' }, m.name), ' ',
      m.fingerprint ? el('code', null, m.fingerprint.hash) : el('span', { class: 'muted' }, 'no fingerprint'),
      m.fingerprint && m.fingerprint.changed ? el('span', { class: 'muted' }, ' · changed ' + ago(m.fingerprint.changed)) : ''))));
}

// renderChart draws the agreement ratio of the last five minutes as an inline
// SVG: 0 to 100% on the y axis, time on the x axis.
function renderChart(box, samples) {
  const W = Math.max(300, box.clientWidth || 600), H = 120, L = 34, R = 8, T = 8, B = 18;
  const s = svg('svg', { width: W, height: H, viewBox: `0 0 ${W} ${H}`, role: 'img', id: 'agreement-svg' });
  for (const y of [0, 0.5, 1]) {
    const py = T + (1 - y) * (H - T - B);
    s.append(svg('line', { class: 'grid', x1: L, x2: W - R, y1: py, y2: py }));
    s.append(svg('text', { x: 2, y: py + 3 }, (y * 100) + '%'));
  }
  // The x axis spans the history held (at least a minute, at most the five
  // minutes the agent keeps), so a young agent's chart is not a sliver.
  const now = Date.now();
  const first = samples.length ? new Date(samples[0].t).getTime() : now;
  const span = Math.min(5 * 60 * 1000, Math.max(60 * 1000, now - first));
  s.append(svg('text', { x: L, y: H - 4 }, '−' + duration(span)), svg('text', { x: W - R, y: H - 4, 'text-anchor': 'end' }, 'now'));
  const pts = samples.map((p) => {
    const x = L + Math.max(0, 1 - (now - new Date(p.t).getTime()) / span) * (W - L - R);
    const y = T + (1 - Math.max(0, Math.min(1, p.ratio))) * (H - T - B);
    return [x, y];
  });
  if (pts.length > 0) {
    const line = pts.map(([x, y]) => x.toFixed(1) + ',' + y.toFixed(1)).join(' ');
    const base = (H - B).toFixed(1);
    s.append(svg('polygon', { class: 'area', points: pts[0][0].toFixed(1) + ',' + base + ' ' + line + ' ' + pts[pts.length - 1][0].toFixed(1) + ',' + base }));
    s.append(svg('polyline', { class: 'line', points: line }));
  }
  replace(box, s);
}

function healthOf(i) { return i.health; }

// matches reports whether instance i passes the services filters.
function matches(i, f) {
  if (f.tag && !(i.tags || []).some((t) => t.toLowerCase() === f.tag)) return false;
  if (f.zone && i.zone !== f.zone) return false;
  if (f.health === 'stale') return i.stale;
  if (f.health && healthOf(i) !== f.health) return false;
  return true;
}

function filters() {
  return {
    name: $('f-name').value.trim().toLowerCase(),
    tag: $('f-tag').value.trim().toLowerCase(),
    zone: $('f-zone').value,
    health: $('f-health').value,
  };
}

function fillOptions() {
  const tags = new Set(), zones = new Set();
  for (const i of state.insts.values()) {
    (i.tags || []).forEach((t) => tags.add(t));
    if (i.zone) zones.add(i.zone);
  }
  const dlist = $('tag-list');
  const tagKey = [...tags].sort().join('\u0000');
  if (dlist.dataset.key !== tagKey) {
    dlist.dataset.key = tagKey;
    replace(dlist, [...tags].sort().map((t) => el('option', { value: t })));
  }
  const sel = $('f-zone');
  const zoneKey = [...zones].sort().join('\u0000');
  if (sel.dataset.key !== zoneKey) {
    sel.dataset.key = zoneKey;
    const cur = sel.value;
    replace(sel, el('option', { value: '' }, 'All zones'), [...zones].sort().map((z) => el('option', { value: z }, z)));
    sel.value = zones.has(cur) ? cur : '';
  }
}

function healthBar(c, total) {
  return el('div', { class: 'hbar', title: HEALTHS.map((h) => c[h] + ' ' + h).join(', ') },
    HEALTHS.filter((h) => c[h] > 0).map((h) => {
      const seg = el('span', { class: h });
      seg.style.width = (100 * c[h] / total) + '%'; // CSSOM, which the page's CSP allows (a style attribute it does not)
      return seg;
    }));
}

function renderServices() {
  fillOptions();
  const f = filters();
  const groups = new Map();
  for (const i of state.insts.values()) {
    if (f.name && !i.service.toLowerCase().includes(f.name)) continue;
    if (!matches(i, f)) continue;
    let g = groups.get(i.service);
    if (!g) groups.set(i.service, g = { name: i.service, n: 0, stale: 0, zones: new Set(), tags: new Set(), c: { passing: 0, warning: 0, critical: 0, maintenance: 0 } });
    g.n++;
    if (i.stale) g.stale++;
    if (i.zone) g.zones.add(i.zone);
    (i.tags || []).forEach((t) => g.tags.add(t));
    if (i.health in g.c) g.c[i.health]++;
  }
  const rows = [...groups.values()].sort((a, b) => a.name.localeCompare(b.name));
  const pages = Math.max(1, Math.ceil(rows.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  const shown = rows.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
  const tbody = $('services-table').tBodies[0];
  replace(tbody, shown.map((g) => el('tr', { 'data-service': g.name },
    el('td', null, el('a', { href: '#/service/' + encodeURIComponent(g.name) }, g.name)),
    el('td', null, g.n),
    el('td', null, el('div', { class: 'counts' }, HEALTHS.filter((h) => g.c[h]).map((h) => g.c[h] + ' ' + h).join(' · ')), healthBar(g.c, g.n)),
    el('td', null, g.stale ? badge('stale', g.stale + ' stale') : ''),
    el('td', null, [...g.zones].sort().join(', ')),
    el('td', null, [...g.tags].sort().slice(0, 12).map((t) => el('span', { class: 'tag' }, t))),
  )));
  $('services-table').classList.toggle('hidden', rows.length === 0);
  const empty = $('services-empty');
  empty.classList.toggle('hidden', rows.length > 0);
  empty.textContent = state.auth === 'required' || state.auth === 'denied' ? 'Services are not shown: this agent needs a token with read access.' :
    state.insts.size === 0 ? 'No services yet. Register one: grapevine register -name web -port 8080' : 'No service matches these filters.';
  $('f-count').textContent = rows.length + ' service' + (rows.length === 1 ? '' : 's');
  $('page-info').textContent = rows.length ? (state.page * PAGE_SIZE + 1) + '–' + (state.page * PAGE_SIZE + shown.length) + ' of ' + rows.length : '';
  $('page-prev').disabled = state.page === 0;
  $('page-next').disabled = state.page >= pages - 1;
}

function renderService(name) {
  $('svc-name').textContent = name;
  const insts = [...state.insts.values()].filter((i) => i.service === name)
    .sort((a, b) => a.node.localeCompare(b.node) || a.id.localeCompare(b.id));
  const self = state.self ? state.self.node : '';
  const c = { passing: 0, warning: 0, critical: 0, maintenance: 0 };
  insts.forEach((i) => { if (i.health in c) c[i.health]++; });
  $('svc-summary').textContent = insts.length + ' instance' + (insts.length === 1 ? '' : 's') + ': ' +
    HEALTHS.map((h) => c[h] + ' ' + h).join(', ') + '. Checks run on each instance\'s own agent; this agent (' + self + ') shows the checks of its own instances.';
  const checksBy = new Map();
  for (const ch of state.checks) {
    if (!checksBy.has(ch.instance)) checksBy.set(ch.instance, []);
    checksBy.get(ch.instance).push(ch);
  }
  if (state.ipageOf !== name) { state.ipageOf = name; state.ipage = 0; }
  const ipages = Math.max(1, Math.ceil(insts.length / INSTANCE_PAGE_SIZE));
  state.ipage = Math.min(state.ipage, ipages - 1);
  const shown = insts.slice(state.ipage * INSTANCE_PAGE_SIZE, (state.ipage + 1) * INSTANCE_PAGE_SIZE);
  $('ipage-info').textContent = insts.length > INSTANCE_PAGE_SIZE ? (state.ipage * INSTANCE_PAGE_SIZE + 1) + '–' + (state.ipage * INSTANCE_PAGE_SIZE + shown.length) + ' of ' + insts.length : '';
  $('ipage-prev').disabled = state.ipage === 0;
  $('ipage-next').disabled = state.ipage >= ipages - 1;
  $('ipage-prev').parentElement.classList.toggle('hidden', insts.length <= INSTANCE_PAGE_SIZE);
  const rows = [];
  for (const i of shown) {
    rows.push(el('tr', { class: i.stale ? 'stale' : null, 'data-instance': i.node + '/' + i.id, title: i.stale ? 'owner unreachable for ' + duration(i.age_ms) : null },
      el('td', null, i.id),
      el('td', null, i.node),
      el('td', { class: 'mono' }, hostPort(i.address, i.port)),
      el('td', null, i.zone || '–'),
      el('td', null, badge(i.health), i.stale ? [' ', badge('stale', 'stale ' + duration(i.age_ms))] : ''),
      el('td', null, (i.tags || []).map((t) => el('span', { class: 'tag' }, t))),
      el('td', { class: 'output mono' }, i.output || ''),
    ));
    if (i.node !== self) continue;
    for (const ch of checksBy.get(i.id) || []) {
      const streak = ch.successes ? ch.successes + ' passing in a row' : ch.failures ? ch.failures + ' failing in a row' : '';
      rows.push(el('tr', { class: 'check', 'data-check': ch.id },
        el('td', { colspan: 2 }, '↳ check ', el('code', null, ch.id), ch.name ? ' (' + ch.name + ')' : ''),
        el('td', null, ch.ttl ? 'ttl ' + ch.ttl : ch.type + (ch.interval ? ' every ' + ch.interval : '')),
        el('td', null, 'ran ' + ago(ch.last_run)),
        el('td', null, badge(ch.status)),
        el('td', null, streak),
        el('td', { class: 'output mono' }, ch.output || ''),
      ));
    }
  }
  replace($('instances-table').tBodies[0], rows);
  $('instances-table').classList.toggle('hidden', insts.length === 0);
  $('instances-empty').classList.toggle('hidden', insts.length > 0);
}

function renderMembers() {
  const ms = state.members;
  const self = state.self ? state.self.node : '';
  const dis = liveMembers().filter((m) => m.agrees === false).length;
  $('members-summary').textContent = ms.length + ' members as this agent sees them; ' +
    (dis ? dis + ' disagree with this agent\'s fingerprint (highlighted): either a change is still propagating, or they hold different records.' : 'every live member with a fingerprint agrees with this agent.');
  replace($('members-table').tBodies[0], ms.map((m) => {
    const live = m.status === 'alive' || m.status === 'suspect';
    const cls = [m.name === self ? 'self' : '', live && m.agrees === false ? 'disagree' : ''].filter(Boolean).join(' ');
    const fp = m.fingerprint;
    let agree = el('span', { class: 'muted' }, '–');
    if (live && m.agrees === true) agree = badge('agree', m.name === self ? 'this agent' : 'agrees');
    else if (live && m.agrees === false) agree = badge('disagree', 'disagrees');
    else if (live) agree = badge('unknown', 'no fingerprint');
    return el('tr', { class: cls || null, 'data-member': m.name },
      el('td', null, m.name),
      el('td', { class: 'mono' }, hostPort(m.addr, m.port)),
      el('td', null, badge(m.status)),
      el('td', null, m.zone || '–'),
      el('td', null, m.rtt_ms ? m.rtt_ms.toFixed(2) + ' ms' : '–'),
      el('td', { title: 'probes of this member by this agent that got no ack' }, m.probe_failures ? m.probe_failures + ' · last ' + ago(m.last_probe_failure) : '–'),
      el('td', null, m.version || '–'),
      el('td', null, fp ? [el('code', { title: 'changed ' + ago(fp.changed) }, fp.hash), el('span', { class: 'muted' }, ' ' + fp.origins + ' origins · ' + fp.instances + ' instances')] : '–'),
      el('td', null, agree),
    );
  }));
}

// ---- wiring -------------------------------------------------------------------

function init() {
  const form = $('token-form');
  $('token').value = state.token;
  $('token-btn').addEventListener('click', () => { form.classList.toggle('hidden'); if (!form.classList.contains('hidden')) $('token').focus(); });
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    state.token = $('token').value.trim();
    if (state.token) sessionStorage.setItem(TOKEN_KEY, state.token); else sessionStorage.removeItem(TOKEN_KEY);
    state.auth = 'unknown';
    form.classList.add('hidden');
    restartStream();
    poll();
  });
  $('token-clear').addEventListener('click', () => {
    state.token = '';
    $('token').value = '';
    sessionStorage.removeItem(TOKEN_KEY);
    state.auth = 'unknown';
    restartStream();
    poll();
  });
  for (const id of ['f-name', 'f-tag', 'f-zone', 'f-health']) {
    $(id).addEventListener('input', () => { state.page = 0; scheduleRender(); });
  }
  $('page-prev').addEventListener('click', () => { state.page = Math.max(0, state.page - 1); scheduleRender(); });
  $('page-next').addEventListener('click', () => { state.page++; scheduleRender(); });
  $('ipage-prev').addEventListener('click', () => { state.ipage = Math.max(0, state.ipage - 1); scheduleRender(); });
  $('ipage-next').addEventListener('click', () => { state.ipage++; scheduleRender(); });
  window.addEventListener('hashchange', () => { scheduleRender(); poll(); });
  setInterval(scheduleRender, 5000); // relative times
  render();
  pollLoop();
  streamLoop();
}

init();
