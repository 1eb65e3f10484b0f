// app.js — the shell and the router: header with navigation, the filter bar
// (cluster, namespace, time range, auto-refresh), and mounting of the page the
// URL names. A page is remounted when its route or filters change; refresh
// ticks re-run its panels in place. In-flight queries are aborted on navigation.

import { h, clear, select } from './dom.js';
import * as state from './state.js';
import * as api from './api.js';
import * as auth from './auth.js';
import { filterMatch } from './queries.js';
import { newCycle } from './panel.js';

const PAGES = {
  overview: () => import('./pages/overview.js'),
  nodes: () => import('./pages/nodes.js'),
  node: () => import('./pages/node.js'),
  namespaces: () => import('./pages/namespaces.js'),
  namespace: () => import('./pages/namespace.js'),
  workloads: () => import('./pages/workloads.js'),
  workload: () => import('./pages/workload.js'),
  pods: () => import('./pages/pods.js'),
  pod: () => import('./pages/pod.js'),
  alerts: () => import('./pages/alerts.js'),
  logs: () => import('./pages/logs.js'),
  explore: () => import('./pages/explore.js'),
};
const NAV = [['', 'Overview', ['overview']], ['nodes', 'Nodes', ['nodes', 'node']], ['namespaces', 'Namespaces', ['namespaces', 'namespace']],
  ['workloads', 'Workloads', ['workloads', 'workload']], ['pods', 'Pods', ['pods', 'pod']], ['alerts', 'Alerts', ['alerts']], ['logs', 'Logs', ['logs']], ['explore', 'Explore', ['explore']]];
/** Query keys whose change remounts the page (others — sort, q — the page applies itself). */
const MOUNT_KEYS = ['cluster', 'namespace', 'range', 'from', 'to', 'kind', 'expr'];

// ---------- shell ----------
const navLinks = NAV.map(([path, label, pages]) => {
  const a = h('a', { href: state.BASE + path, class: 'nav-link' }, label);
  a.dataset.pages = pages.join(' ');
  return a;
});
const fCluster = h('select', { id: 'f-cluster', 'aria-label': 'Cluster' });
const fNamespace = h('select', { id: 'f-namespace', 'aria-label': 'Namespace' });
const fRange = select({ id: 'f-range', 'aria-label': 'Time range' },
  [...state.RANGES.map((r) => [r, `Last ${r}`]), ['custom', 'Custom…']], '1h');
const fFrom = h('input', { id: 'f-from', type: 'datetime-local', 'aria-label': 'From', step: '60' });
const fTo = h('input', { id: 'f-to', type: 'datetime-local', 'aria-label': 'To', step: '60' });
const fApply = h('button', { type: 'button', class: 'btn', id: 'f-apply' }, 'Apply');
const custom = h('span', { class: 'custom-range', hidden: true }, fFrom, h('span', { class: 'muted' }, '→'), fTo, fApply);
const fRefresh = select({ id: 'f-refresh', 'aria-label': 'Auto-refresh' },
  state.REFRESHES.map((r) => [r, r === 'off' ? 'Refresh off' : `Every ${r}`]), 'off');
const refreshNow = h('button', { type: 'button', class: 'btn icon', title: 'Refresh now', 'aria-label': 'Refresh now' }, '⟳');
const main = h('main', { id: 'main', tabindex: '-1' });
const signOut = h('button', { type: 'button', class: 'btn sign-out', id: 'sign-out', hidden: true, title: 'Forget the token kept in this browser', onclick: () => auth.signOut() }, 'Sign out');

document.body.append(
  h('a', { href: '#main', class: 'skip' }, 'Skip to content'),
  h('header', { class: 'top' },
    h('a', { href: state.BASE, class: 'brand', id: 'brand', 'aria-label': 'kmon overview' }, h('span', { class: 'logo' }, 'k'), 'kmon'),
    h('nav', { 'aria-label': 'Pages' }, navLinks),
    signOut),
  h('div', { class: 'filters', role: 'toolbar', 'aria-label': 'Filters' },
    h('label', null, h('span', null, 'Cluster'), fCluster),
    h('label', null, h('span', null, 'Namespace'), fNamespace),
    h('label', null, h('span', null, 'Range'), fRange),
    custom,
    h('span', { class: 'grow' }),
    h('label', null, h('span', null, 'Auto-refresh'), fRefresh),
    refreshNow),
  main);

auth.onChange((signedIn) => { signOut.hidden = !signedIn; });

// ---------- filter controls ----------
function fillSelect(el, opts, current) {
  clear(el);
  for (const [v, label] of opts) el.appendChild(h('option', { value: v, selected: v === current }, label));
  if (current && !opts.some(([v]) => v === current)) el.appendChild(h('option', { value: current, selected: true }, current));
  el.value = current || '';
}

// The clusters seen (with metrics or with logs) and the namespaces, asked again when the
// cluster changes or a minute later: a cluster that starts writing appears in the list.
const LISTS_TTL_MS = 60000;
let lists = { key: null, at: 0 };
async function loadFilterLists(q) {
  const key = q.cluster || '';
  if (lists.key === key && Date.now() - lists.at < LISTS_TTL_MS) { syncFilters(q); return; }
  lists.key = key;
  lists.at = Date.now();
  const sig = AbortSignal.timeout(10000);
  const [clusters, logClusters, namespaces] = await Promise.all([
    api.labelValues('cluster', [], sig).catch(() => []),
    api.lokiLabelValues('cluster', {}, sig).catch(() => []),
    api.labelValues('namespace', filterMatch.namespaces({ cluster: q.cluster }), sig).catch(() => []),
  ]);
  lists.clusters = [...new Set([...clusters, ...logClusters])].filter(Boolean).sort();
  lists.namespaces = namespaces.filter(Boolean);
  syncFilters(state.parse().query);
}

function syncFilters(q) {
  fillSelect(fCluster, [['', 'All clusters'], ...(lists.clusters || []).map((c) => [c, c])], q.cluster || '');
  const route = state.parse();
  const ns = route.params.ns || q.namespace || '';
  fillSelect(fNamespace, [['', 'All namespaces'], ...(lists.namespaces || []).map((n) => [n, n])], ns);
  const t = state.timeRange(q);
  fRange.value = t.custom ? 'custom' : t.label;
  custom.hidden = !t.custom && fRange.value !== 'custom';
  fFrom.value = toLocalInput(t.start * 1000);
  fTo.value = toLocalInput(t.end * 1000);
  fRefresh.value = state.REFRESHES.includes(q.refresh) ? q.refresh : 'off';
}

function toLocalInput(ms) {
  const d = new Date(ms);
  const p = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

fCluster.addEventListener('change', () => state.patch({ cluster: fCluster.value, namespace: '' }));
fNamespace.addEventListener('change', () => {
  const route = state.parse();
  const ns = fNamespace.value;
  // pages of one namespace's object follow the filter to the matching list
  if (route.page === 'namespace') state.go(ns ? state.href(['namespaces', ns], { namespace: '' }) : state.href('namespaces', { namespace: '' }));
  else if (route.page === 'workload') state.go(state.href('workloads', { namespace: ns }));
  else if (route.page === 'pod') state.go(state.href('pods', { namespace: ns }));
  else state.patch({ namespace: ns });
});
fRange.addEventListener('change', () => {
  if (fRange.value === 'custom') { custom.hidden = false; fFrom.focus(); return; }
  state.patch({ range: fRange.value, from: '', to: '' });
});
fApply.addEventListener('click', () => {
  const a = new Date(fFrom.value).getTime(), b = new Date(fTo.value).getTime();
  if (Number.isFinite(a) && Number.isFinite(b) && b > a) state.patch({ from: String(a), to: String(b), range: '' });
  else fTo.setCustomValidity('“To” must be after “From”.'), fTo.reportValidity(), fTo.setCustomValidity('');
});
fRefresh.addEventListener('change', () => state.patch({ refresh: fRefresh.value === 'off' ? '' : fRefresh.value }, { push: false }));
refreshNow.addEventListener('click', () => tick(true));

// ---------- links ----------
document.addEventListener('click', (e) => {
  if (e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey || e.altKey) return;
  const a = e.target.closest('a[href]');
  if (!a || a.target || a.hasAttribute('download')) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith(state.BASE)) return;
  if (url.hash && url.pathname === location.pathname) return;
  e.preventDefault();
  state.go(url.pathname + url.search);
});
document.addEventListener('keydown', (e) => {
  if (e.key !== '/' || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t.closest && t.closest('input, textarea, select, [contenteditable]')) return;
  const box = document.querySelector('[data-search]');
  if (box) { e.preventDefault(); box.focus(); box.select?.(); }
});

// ---------- mounting ----------
let current = null; // {key, ctx, mod, cycle}

function mountKey(route) {
  return JSON.stringify([route.page, route.params, MOUNT_KEYS.map((k) => route.query[k] || '')]);
}

function makeCtx(route, root) {
  const ctl = new AbortController();
  const disposers = [];
  const loaders = [];
  const q = route.query;
  const ctx = {
    route, root,
    params: route.params,
    query: q,
    filter: { cluster: q.cluster || '', namespace: route.params.ns || q.namespace || '' },
    signal: ctl.signal,
    cycle: null,
    addLoader(fn) { loaders.push(fn); if (ctx.cycle) fn(ctx.cycle); },
    onDispose(fn) { disposers.push(fn); },
    run() {
      if (ctx.cycle) ctx.cycle.abort();
      ctx.cycle = newCycle(state.timeRange(state.parse().query), ctl.signal);
      for (const fn of loaders) fn(ctx.cycle);
    },
    dispose() { ctl.abort(); disposers.splice(0).forEach((d) => { try { d(); } catch { /* ignore */ } }); },
  };
  ctx.cycle = newCycle(state.timeRange(q), ctl.signal);
  return ctx;
}

let mountSeq = 0;
async function route(r = state.parse(), how = 'init') {
  navLinks.forEach((a, i) => {
    a.href = state.href(NAV[i][0]); // the filters follow the user from page to page
    if (i === 0) document.getElementById('brand').href = a.href;
    const on = a.dataset.pages.split(' ').includes(r.page);
    a.classList.toggle('active', on);
    if (on) a.setAttribute('aria-current', 'page'); else a.removeAttribute('aria-current');
  });
  loadFilterLists(r.query);
  syncFilters(r.query);
  setTimer(r.query.refresh);
  const key = mountKey(r);
  if (current && current.key === key) {
    current.mod?.update?.(current.ctx, r);
    return;
  }
  const seq = ++mountSeq;
  if (current) current.ctx.dispose();
  current = null;
  const root = h('div', { class: 'page' });
  clear(main).appendChild(root);
  if (!PAGES[r.page]) {
    root.append(h('h1', null, 'Page not found'), h('p', { class: 'empty' }, 'This address names no kmon page.'), h('a', { href: state.BASE }, 'Go to the overview'));
    return;
  }
  const ctx = makeCtx(r, root);
  current = { key, ctx };
  try {
    const mod = await PAGES[r.page]();
    if (seq !== mountSeq) return;
    current.mod = mod;
    root.dataset.page = r.page;
    mod.mount(root, ctx);
    document.title = `${root.querySelector('h1')?.textContent || r.page} · kmon`;
    if (how === 'push') window.scrollTo(0, 0);
  } catch (e) {
    console.error(e); // eslint-disable-line no-console
    root.append(h('p', { class: 'error' }, 'This page could not be loaded.'));
  }
}

// ---------- auto-refresh ----------
let timer = 0, timerEvery = '';
function setTimer(every) {
  every = state.REFRESHES.includes(every) ? every : 'off';
  if (every === timerEvery) return;
  timerEvery = every;
  clearInterval(timer);
  timer = 0;
  if (every !== 'off') timer = setInterval(() => tick(false), state.parseSpan(every) * 1000);
}
function tick(force) {
  if (!current?.ctx) return;
  if (!force && document.hidden) return;
  current.ctx.run();
}

state.onChange((r, how) => route(r, how));
matchMedia('(prefers-color-scheme: dark)').addEventListener('change', () => { if (current) { const r = state.parse(); current = (current.ctx.dispose(), null); route(r); } });
route();
