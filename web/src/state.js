// state.js — the whole view state lives in the URL. Path-based routes under
// the app's base (/ui/), filters and per-page options in the query string.
// parse() reads location; go()/patch() write it (pushState / replaceState) and
// notify the router.

export const BASE = new URL('./', import.meta.url).pathname; // "/ui/": where app.js is served

export const RANGES = ['5m', '15m', '1h', '6h', '24h', '7d'];
export const REFRESHES = ['off', '10s', '30s', '1m', '5m'];
/** Query keys that follow the user from page to page. */
export const GLOBAL_KEYS = ['cluster', 'namespace', 'range', 'from', 'to', 'refresh'];

const ROUTES = [
  [/^$/, 'overview', []],
  [/^nodes$/, 'nodes', []],
  [/^nodes\/([^/]+)$/, 'node', ['node']],
  [/^namespaces$/, 'namespaces', []],
  [/^namespaces\/([^/]+)$/, 'namespace', ['ns']],
  [/^workloads$/, 'workloads', []],
  [/^workloads\/([^/]+)\/([^/]+)\/([^/]+)$/, 'workload', ['ns', 'kind', 'name']],
  [/^pods$/, 'pods', []],
  [/^pods\/([^/]+)\/([^/]+)$/, 'pod', ['ns', 'pod']],
  [/^alerts$/, 'alerts', []],
  [/^logs$/, 'logs', []],
  [/^explore$/, 'explore', []],
];

export function parse(loc = window.location) {
  let rest = loc.pathname.startsWith(BASE) ? loc.pathname.slice(BASE.length) : '';
  rest = rest.replace(/\/+$/, '');
  let page = 'notfound', params = {};
  for (const [re, name, keys] of ROUTES) {
    const m = re.exec(rest);
    if (m) {
      page = name;
      keys.forEach((k, i) => { params[k] = decodeURIComponent(m[i + 1]); });
      break;
    }
  }
  const query = Object.fromEntries(new URLSearchParams(loc.search));
  return { page, params, query };
}

/** Time range of the view in unix seconds: {start, end, span, label, custom}. */
export function timeRange(query, now = Date.now()) {
  const from = Number(query.from), to = Number(query.to);
  if (Number.isFinite(from) && Number.isFinite(to) && to > from && query.from && query.to) {
    return { start: from / 1000, end: to / 1000, span: (to - from) / 1000, custom: true };
  }
  const r = RANGES.includes(query.range) ? query.range : '1h';
  const span = parseSpan(r);
  return { start: now / 1000 - span, end: now / 1000, span, custom: false, label: r };
}

export function parseSpan(s) {
  const m = /^(\d+)(s|m|h|d|w)$/.exec(s || '');
  if (!m) return 0;
  return Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86400, w: 604800 }[m[2]];
}

/** Build an app URL: path segments (encoded) plus query; global keys are carried over. */
export function href(path, extra = {}, carry = true) {
  const cur = parse().query;
  const q = new URLSearchParams();
  if (carry) for (const k of GLOBAL_KEYS) if (cur[k]) q.set(k, cur[k]);
  for (const [k, v] of Object.entries(extra)) {
    if (v === undefined || v === null || v === '') q.delete(k); else q.set(k, v);
  }
  const s = q.toString();
  const p = Array.isArray(path) ? path.map(encodeURIComponent).join('/') : path;
  return BASE + p + (s ? `?${s}` : '');
}

const listeners = new Set();
export function onChange(fn) { listeners.add(fn); }
function notify(how) { for (const fn of listeners) fn(parse(), how); }

/** Navigate to a URL (a new history entry). */
export function go(url) {
  if (url === location.pathname + location.search) return;
  history.pushState(null, '', url);
  notify('push');
}

/** Change query keys of the current page. push=false replaces the entry (typing, sorting). */
export function patch(changes, { push = true, silent = false } = {}) {
  const q = new URLSearchParams(location.search);
  for (const [k, v] of Object.entries(changes)) {
    if (v === undefined || v === null || v === '') q.delete(k); else q.set(k, v);
  }
  const s = q.toString();
  const url = location.pathname + (s ? `?${s}` : '');
  if (url === location.pathname + location.search) return;
  if (push) history.pushState(null, '', url); else history.replaceState(null, '', url);
  if (!silent) notify(push ? 'push' : 'replace');
}

window.addEventListener('popstate', () => notify('pop'));
