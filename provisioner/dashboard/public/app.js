// The dashboard page (docs/dashboard.md): views fetched once from the JSON API, then kept
// current in place from the server's event stream (/events). Plain DOM, no framework;
// every value from the server goes in as text, never as markup.
'use strict';

const $ = (sel, root = document) => root.querySelector(sel);
const BOARD_STATUSES = ['committed', 'downloading', 'commanded', 'pending', 'reverted', 'failed', 'timed-out'];
const state = { session: null, rollouts: new Map(), selected: null, query: { offset: 0, limit: 50 }, devices: null, chartsDirty: true };

function h(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k === 'class') e.className = v;
    else if (k.startsWith('data-')) e.setAttribute(k, String(v));
    else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

async function api(path, init) {
  const res = await fetch(path, { credentials: 'same-origin', ...init });
  const body = await res.json().catch(() => ({}));
  if (!res.ok) throw new Error(body.error ? `${body.error.message}${body.error.hint ? ` (${body.error.hint})` : ''}` : `HTTP ${res.status}`);
  return body;
}

const when = (iso) => (iso ? iso.slice(0, 19).replace('T', ' ') : '–');
const daysUntil = (iso) => Math.floor((Date.parse(iso) - Date.now()) / 86400000);

// ---- views ---------------------------------------------------------------------------

function show(view) {
  for (const s of document.querySelectorAll('.view')) s.hidden = s.id !== `view-${view}`;
  for (const a of document.querySelectorAll('nav a')) a.classList.toggle('active', a.dataset.view === view);
  document.body.dataset.view = view;
  if (view === 'charts' && state.chartsDirty) loadCharts();
}

function currentView() {
  const v = location.hash.replace('#', '');
  return ['stations', 'devices', 'rollouts', 'charts', 'audit'].includes(v) ? v : 'rollouts';
}

// ---- stations ------------------------------------------------------------------------

function renderStations(stations) {
  const root = $('#stations');
  if (stations.length === 0) return;
  root.textContent = '';
  for (const s of stations) {
    const ports = Object.values(s.ports).sort((a, b) => (a.port < b.port ? -1 : 1));
    const n = (st) => ports.filter((p) => p.state === st).length;
    const card = h('div', { class: 'station', 'data-station': s.station, 'data-provisioned': n('provisioned'), 'data-failed': n('failed'), 'data-running': n('running') },
      h('h3', {}, `station ${s.station} `, h('span', { class: `badge ${s.live ? 'on' : ''}` }, s.live ? 'provisioning now' : `last run, ended ${when(s.updatedAt)}`), ' ',
        h('span', { class: 'count' }, `${n('provisioned')} provisioned, ${n('failed')} failed, ${n('running')} in progress · updated ${when(s.updatedAt)}`)),
      h('table', { class: 'grid ports' },
        h('thead', {}, h('tr', {}, h('th', {}, 'Port'), h('th', {}, 'Progress'), h('th', {}, 'Step'), h('th', {}, 'Result'), h('th', {}, 'Device'), h('th', {}, 'Reason'))),
        h('tbody', {}, ports.map((p) => {
          const bar = h('span', { class: `fill ${p.state}` });
          bar.style.width = `${Math.round((100 * p.done) / p.steps)}%`;
          return h('tr', { 'data-port': p.port, 'data-state': p.state },
            h('td', {}, p.port), h('td', {}, h('span', { class: 'progress' }, bar), ` ${p.done}/${p.steps}`), h('td', {}, p.step),
            h('td', {}, h('span', { class: `badge ${p.state}` }, p.state)), h('td', {}, p.deviceId || '–'), h('td', { class: 'reason' }, p.reason || ''));
        }))));
    root.append(card);
  }
}

// ---- devices -------------------------------------------------------------------------

async function loadDevices() {
  const q = new URLSearchParams();
  for (const [k, v] of Object.entries(state.query)) if (v !== undefined && v !== '') q.set(k, String(v));
  const page = await api(`/api/devices?${q}`);
  state.devices = page;
  const fill = (sel, facet, current) => {
    const s = $(sel);
    const keep = s.value;
    while (s.options.length > 1) s.remove(1);
    for (const [k, n] of Object.entries(facet).sort((a, b) => a[0].localeCompare(b[0], 'en', { numeric: true }))) s.add(new Option(`${k} (${n})`, k));
    s.value = current ?? keep;
  };
  fill('#f-status', page.facets.statuses, state.query.status || '');
  fill('#f-version', page.facets.versions, state.query.version || '');
  $('#device-count').textContent = `${page.total} of ${page.all}`;
  $('#device-count').dataset.total = page.total;
  const body = $('#devices tbody');
  body.textContent = '';
  for (const r of page.rows) {
    const exp = r.certNotAfter ? daysUntil(r.certNotAfter) : null;
    body.append(h('tr', { 'data-id': r.deviceId, 'data-status': r.status },
      h('td', {}, r.deviceId), h('td', { class: 'mono' }, r.mac),
      h('td', {}, h('span', { class: `badge ${r.status}`, title: r.reason || '' }, r.status)),
      h('td', { class: 'version' }, r.firmwareVersion || '–'),
      h('td', { class: 'online' }, r.online === null ? '?' : r.online ? 'online' : 'offline'),
      h('td', { class: exp !== null && exp < 30 ? 'warn' : '' }, r.certNotAfter ? `${r.certNotAfter.slice(0, 10)} (${exp} d)` : '–'),
      h('td', {}, r.station), h('td', {}, when(r.updatedAt))));
  }
  const last = Math.min(page.offset + page.limit, page.total);
  $('#page').textContent = page.total === 0 ? 'no matching devices' : `${page.offset + 1}–${last} of ${page.total}`;
  $('#prev').disabled = page.offset === 0;
  $('#next').disabled = last >= page.total;
  document.body.dataset.devicesLoaded = String(page.rows.length);
  // For the benchmark (scripts/benchmarks/dashboard.ts): when the first table was on screen.
  if (performance.getEntriesByName('espfleet:devices-rendered').length === 0) performance.mark('espfleet:devices-rendered');
}

function onBoard(b) {
  const row = document.querySelector(`#devices tr[data-id="${CSS.escape(b.id)}"]`);
  if (!row) return;
  row.querySelector('.online').textContent = b.online ? 'online' : 'offline';
  if (b.version) row.querySelector('.version').textContent = b.version;
}

let searchTimer;
function wireFilters() {
  const apply = () => {
    state.query = { offset: 0, limit: 50, q: $('#f-q').value, status: $('#f-status').value, version: $('#f-version').value, expires: $('#f-expires').value };
    loadDevices().catch(report);
  };
  $('#f-q').addEventListener('input', () => (clearTimeout(searchTimer), (searchTimer = setTimeout(apply, 200))));
  for (const id of ['#f-status', '#f-version', '#f-expires']) $(id).addEventListener('change', apply);
  $('#device-filters').addEventListener('submit', (e) => (e.preventDefault(), apply()));
  $('#prev').addEventListener('click', () => ((state.query.offset = Math.max(0, state.query.offset - state.query.limit)), loadDevices().catch(report)));
  $('#next').addEventListener('click', () => ((state.query.offset += state.query.limit), loadDevices().catch(report)));
}

// ---- rollouts ------------------------------------------------------------------------

function renderRolloutList() {
  const ul = $('#rollout-list');
  ul.textContent = '';
  for (const r of state.rollouts.values()) {
    ul.append(h('li', { 'data-id': r.id, class: r.id === state.selected ? 'selected' : '' },
      h('a', { href: '#rollouts', onclick: () => select(r.id) }, r.id), ' ', h('span', { class: `badge ${r.status}` }, r.status), h('br'),
      h('small', {}, `${r.version} · ${r.counts.committed}/${r.boards} committed`)));
  }
}

function select(id) {
  state.selected = id;
  renderRolloutList();
  renderRollout();
}

function waveBar(w) {
  const bar = h('div', { class: 'bar' });
  for (const s of BOARD_STATUSES) {
    if (!w.counts[s]) continue;
    const seg = h('span', { class: `seg ${s}`, title: `${w.counts[s]} ${s}` });
    seg.style.width = `${(100 * w.counts[s]) / Math.max(1, w.boards)}%`;
    bar.append(seg);
  }
  return bar;
}

function renderRollout() {
  const root = $('#rollout');
  const r = state.rollouts.get(state.selected);
  if (!r) return;
  root.textContent = '';
  const append = (...nodes) => root.append(...nodes.filter((n) => n !== null));
  const control = state.session && state.session.control;
  const ended = r.status === 'done' || r.status === 'aborted';
  const button = (verb, label, cls) => h('button', { type: 'button', id: `btn-${verb}`, class: cls, disabled: !control || ended || (verb === 'pause' && r.status !== 'running') || (verb === 'resume' && r.status !== 'paused'), onclick: () => act(r, verb) }, label);
  append(
    h('div', { class: 'rollout-head', 'data-id': r.id, 'data-status': r.status },
      h('h3', {}, `rollout ${r.id} `, h('span', { class: `badge ${r.status}`, id: 'rollout-status' }, r.status)),
      h('p', {}, `version ${r.version} · wave ${r.wave} of ${r.waves} · ${r.boards} boards · started by ${r.actor} at ${when(r.createdAt)}${r.rollbackOf ? ` · rollback of ${r.rollbackOf}` : ''}`),
      r.abortReason ? h('p', { class: 'reason' }, `aborted: ${r.abortReason}`) : null),
    h('div', { class: 'totals', id: 'rollout-totals', ...Object.fromEntries(BOARD_STATUSES.map((s) => [`data-${s}`, r.counts[s]])), 'data-boards': r.boards },
      BOARD_STATUSES.filter((s) => r.counts[s] > 0).map((s) => h('span', { class: `badge ${s}` }, `${r.counts[s]} ${s}`))),
    h('div', { class: 'waves' }, r.waveViews.map((w) =>
      h('div', { class: `wave${w.wave === r.wave && r.status === 'running' ? ' current' : ''}`, 'data-wave': w.wave, 'data-boards': w.boards, ...Object.fromEntries(BOARD_STATUSES.map((s) => [`data-${s}`, w.counts[s]])) },
        h('span', { class: 'wave-label' }, `wave ${w.wave}`), waveBar(w),
        h('span', { class: 'wave-count' }, `${w.counts.committed}/${w.boards} committed${w.passedAt ? ' · passed' : w.startedAt ? ' · started' : ''}`)))),
    h('div', { class: 'actions' }, button('pause', 'Pause', ''), ' ', button('resume', 'Resume', ''), ' ', button('abort', 'Abort…', 'danger'),
      control ? h('small', {}, ` as ${state.session.actor}`) : h('small', {}, ` read-only: ${state.session ? state.session.readOnlyReason : ''}`)),
    r.failed.length === 0 ? null : h('table', { class: 'grid failures' },
      h('thead', {}, h('tr', {}, h('th', {}, 'Board'), h('th', {}, 'Wave'), h('th', {}, 'Status'), h('th', {}, 'Reason'))),
      h('tbody', {}, r.failed.map((f) => h('tr', { 'data-id': f.id }, h('td', {}, f.id), h('td', {}, f.wave), h('td', {}, h('span', { class: `badge ${f.status}` }, f.status)), h('td', { class: 'reason' }, f.reason || '–'))))));
}

function confirmAction(text, withReason) {
  const d = $('#confirm');
  $('#confirm-text').textContent = text;
  $('#confirm-reason-row').hidden = !withReason;
  $('#confirm-reason').value = '';
  d.returnValue = '';
  d.showModal();
  return new Promise((resolve) => d.addEventListener('close', () => resolve(d.returnValue === 'ok' ? { reason: $('#confirm-reason').value } : null), { once: true }));
}

async function act(r, verb) {
  const what = { pause: 'Pause', resume: 'Resume', abort: 'Abort for good' }[verb];
  const ok = await confirmAction(`${what} rollout ${r.id} (${r.version}, ${r.counts.committed}/${r.boards} committed)?`, verb === 'abort');
  if (!ok) return;
  try {
    const res = await api(`/api/rollouts/${encodeURIComponent(r.id)}/${verb}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-espfleet-csrf': state.session.csrf },
      body: JSON.stringify({ confirm: r.id, ...(ok.reason ? { reason: ok.reason } : {}) }),
    });
    log(`${verb}: rollout ${res.id} ${res.was} → ${res.status}`);
  } catch (e) {
    report(e);
  }
}

function onRollout(r) {
  const isNew = !state.rollouts.has(r.id);
  state.rollouts.set(r.id, r);
  if (isNew) state.rollouts = new Map([[r.id, r], ...[...state.rollouts].filter(([id]) => id !== r.id)]);
  if (state.selected === null || (isNew && r.status === 'running')) state.selected = r.id;
  renderRolloutList();
  if (r.id === state.selected) renderRollout();
  state.chartsDirty = true;
  if (document.body.dataset.view === 'charts') loadCharts();
}

function log(line) {
  const pre = $('#driver-log');
  pre.textContent += `${new Date().toISOString().slice(11, 19)} ${line}\n`;
  pre.scrollTop = pre.scrollHeight;
}

// ---- charts and audit ----------------------------------------------------------------

async function loadCharts() {
  state.chartsDirty = false;
  const c = await api('/api/charts');
  espfleetCharts.barChart($('#chart-expiry'), c.expiryByMonth.map((m) => ({ label: m.month, value: m.count })), { empty: 'No certificates in the registry.', colour: '#e0892b' });
  espfleetCharts.stackedChart($('#chart-versions'), c.versionsOverTime.versions, c.versionsOverTime.points, { empty: 'No firmware versions recorded.' });
}

function renderAudit(a) {
  const badge = $('#audit-state');
  if (!a.verify) {
    badge.textContent = a.path ? 'no audit log yet' : 'no audit log given';
    badge.className = 'badge';
  } else if (a.verify.ok) {
    badge.textContent = `intact: ${a.verify.entries} entries${a.verify.anchored ? ', matches the registry anchor' : ', no registry anchor'}`;
    badge.className = 'badge committed';
  } else {
    badge.textContent = `BROKEN at line ${a.verify.problem.line}: ${a.verify.problem.reason}`;
    badge.className = 'badge failed';
  }
  badge.dataset.ok = a.verify ? String(a.verify.ok) : '';
  const body = $('#audit tbody');
  body.textContent = '';
  for (const e of a.tail) {
    body.append(h('tr', { 'data-seq': e.seq }, h('td', {}, e.seq), h('td', {}, when(e.at)), h('td', {}, e.action), h('td', {}, e.actor),
      h('td', { class: 'mono' }, Object.entries(e.subject).map(([k, v]) => `${k}=${v}`).join(' ')),
      h('td', { class: 'details' }, e.details ? JSON.stringify(e.details).slice(0, 200) : '')));
  }
}

// ---- live feed -----------------------------------------------------------------------

function connect() {
  const es = new EventSource('/events');
  const live = $('#live');
  es.addEventListener('hello', () => ((live.textContent = 'live'), (live.className = 'badge on')));
  es.onerror = () => ((live.textContent = 'reconnecting'), (live.className = 'badge off'));
  const on = (type, fn) => es.addEventListener(type, (m) => fn(JSON.parse(m.data)));
  on('rollout', onRollout);
  on('board', onBoard);
  on('stations', renderStations);
  on('audit', renderAudit);
  on('driver', (d) => log(d.line));
  on('ota', (o) => {
    if (o.reason && o.state && o.state !== 'committed') log(`${o.id}: ${o.state} (${o.reason})`);
  });
}

function report(e) {
  log(`error: ${e.message}`);
}

async function main() {
  state.session = await api('/api/session');
  const mode = $('#mode');
  mode.textContent = state.session.control ? `operator ${state.session.actor}` : 'read-only';
  mode.className = `badge ${state.session.control ? 'on' : ''}`;
  wireFilters();
  window.addEventListener('hashchange', () => show(currentView()));
  show(currentView());
  connect();
  const [rollouts, stations, audit] = await Promise.all([api('/api/rollouts'), api('/api/stations'), api('/api/audit'), loadDevices()]);
  for (const r of rollouts) state.rollouts.set(r.id, r);
  state.selected = rollouts.find((r) => r.status === 'running' || r.status === 'paused')?.id ?? rollouts[0]?.id ?? null;
  renderRolloutList();
  renderRollout();
  renderStations(stations);
  renderAudit(audit);
  document.body.dataset.ready = 'true';
  performance.mark('espfleet:ready');
}

main().catch(report);
