// api.js — fetch wrappers for the server's Prometheus HTTP API (queries, labels,
// rules, alerts), kmon's alert history and Loki's log API (LogQL over a range, log
// labels). Prometheus queries are POSTed form-encoded;
// every call takes an AbortSignal; an error answer ({"status":"error",...})
// becomes a thrown ApiError with errorType and error. A 401 (a server with --tokens)
// asks for a token (auth.js) and sends the call again with it.

import { askToken, withToken } from './auth.js';

export class ApiError extends Error {
  constructor(errorType, error, status) {
    super(error || errorType || `HTTP ${status}`);
    this.name = 'ApiError';
    this.errorType = errorType || 'http';
    this.error = error || '';
    this.status = status;
  }
  /** {line, col} of a PromQL parse error ("1:5: parse error: ..."), or null. */
  get position() {
    const m = /(\d+):(\d+): parse error/.exec(this.error);
    return m ? { line: Number(m[1]), col: Number(m[2]) } : null;
  }
}

const API = new URL('../api/v1/', import.meta.url).pathname; // served under /ui/, API at /api/v1/

async function send(url, init) {
  for (;;) {
    let res;
    try {
      res = await fetch(url, { ...init, headers: withToken(init.headers) });
    } catch (e) {
      if (e.name === 'AbortError') throw e;
      throw new ApiError('unavailable', 'the kmon server did not answer', 0);
    }
    if (res.status !== 401) return res;
    let why = '';
    try { why = (await res.clone().json()).error || ''; } catch { /* no JSON */ }
    try {
      await askToken(why === 'unknown token' ? 'The server does not know that token: enter another.' : undefined);
    } catch {
      throw new ApiError('unauthorized', why || 'this server needs a token', 401);
    }
    init.signal?.throwIfAborted();
  }
}

/** The answer's JSON body, or null when it has none. */
async function jsonOf(res) {
  try { return await res.json(); } catch (e) {
    if (e.name === 'AbortError') throw e;
    return null;
  }
}

async function call(path, { form, params, signal } = {}) {
  let url = API + path;
  const init = { signal, headers: { Accept: 'application/json' } };
  if (form) {
    init.method = 'POST';
    init.headers['Content-Type'] = 'application/x-www-form-urlencoded';
    init.body = new URLSearchParams(form).toString();
  } else if (params) {
    const s = params.toString();
    if (s) url += `?${s}`;
  }
  const res = await send(url, init);
  const body = await jsonOf(res);
  if (!body) throw new ApiError('http', `the server answered HTTP ${res.status} without a JSON body`, res.status);
  if (body.status !== 'success') throw new ApiError(body.errorType, body.error, res.status);
  return body.data;
}

/** Instant query: returns data ({resultType, result}). time in unix seconds. */
export function query(expr, time, signal) {
  const form = { query: expr };
  if (time !== undefined) form.time = String(time);
  return call('query', { form, signal });
}

/** Range query: returns data ({resultType: 'matrix', result}). */
export function queryRange(expr, start, end, step, signal) {
  return call('query_range', { form: { query: expr, start: String(start), end: String(end), step: String(step) }, signal });
}

export function labelValues(name, matchers = [], signal, range) {
  const p = new URLSearchParams();
  for (const m of matchers) p.append('match[]', m);
  if (range) { p.set('start', String(Math.floor(range.start))); p.set('end', String(Math.ceil(range.end))); }
  return call(`label/${encodeURIComponent(name)}/values`, { params: p, signal });
}

export function labels(matchers = [], signal, range) {
  const p = new URLSearchParams();
  for (const m of matchers) p.append('match[]', m);
  if (range) { p.set('start', String(Math.floor(range.start))); p.set('end', String(Math.ceil(range.end))); }
  return call('labels', { params: p, signal });
}

export function series(matchers, signal, range) {
  const p = new URLSearchParams();
  for (const m of matchers) p.append('match[]', m);
  if (range) { p.set('start', String(Math.floor(range.start))); p.set('end', String(Math.ceil(range.end))); }
  return call('series', { params: p, signal });
}

export function metadata(signal) { return call('metadata', { signal }); }

/** The rule groups (Prometheus' /api/v1/rules): data.groups. */
export async function rules(signal) { return (await call('rules', { signal })).groups || []; }

/** The active alerts (Prometheus' /api/v1/alerts): data.alerts, pending and firing. */
export async function alerts(signal) { return (await call('alerts', { signal })).alerts || []; }

const HISTORY = new URL('../api/alerts/history', import.meta.url).pathname; // not under /api/v1, plain JSON

/**
 * Alert transitions ({from, to, transitions[]}, oldest first) between from and to (unix
 * seconds), optionally of the alerts a selector matches, at most limit (the newest). A 404 is
 * the history being off (--alert-history-retention 0): ApiError with errorType "off".
 */
export async function alertHistory({ from, to, match, limit }, signal) {
  const p = new URLSearchParams();
  if (from !== undefined) p.set('from', String(from));
  if (to !== undefined) p.set('to', String(to));
  if (match) p.set('match', match);
  if (limit) p.set('limit', String(limit));
  const res = await send(`${HISTORY}?${p}`, { signal, headers: { Accept: 'application/json' } });
  const body = await jsonOf(res);
  if (res.status === 404) throw new ApiError('off', body?.error || 'the alert history is off', 404);
  if (!res.ok || !body || !Array.isArray(body.transitions)) {
    throw new ApiError(res.status === 400 ? 'bad_data' : 'http', body?.error || `the server answered HTTP ${res.status} without the history`, res.status);
  }
  return body;
}

// ---------- Loki: the log API (/loki/api/v1/...) ----------

const LOKI = new URL('../loki/api/v1/', import.meta.url).pathname;

/** Unix seconds (a number) → Loki's nanosecond timestamp (a decimal string). */
export const nsOf = (sec) => (BigInt(Math.floor(sec * 1000)) * 1000000n).toString();

/**
 * A Loki call: GET with params. Loki answers errors as plain text (HTTP 400 "parse error
 * at line 1, col 4: ..."), kmon as JSON ({"status":"error","error":...}); both become an
 * ApiError whose error is the server's sentence. A 404 is the server having no log API:
 * errorType "off".
 */
async function lokiCall(path, params, signal) {
  const s = params ? new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== null && v !== '')).toString() : '';
  const res = await send(LOKI + path + (s ? `?${s}` : ''), { signal, headers: { Accept: 'application/json' } });
  let text = '';
  try { text = await res.text(); } catch (e) { if (e.name === 'AbortError') throw e; }
  let body = null;
  try { body = JSON.parse(text); } catch { /* plain text */ }
  if (res.status === 404) throw new ApiError('off', 'this kmon server has no log API (/loki/api/v1)', 404);
  if (!res.ok || !body || (body.status && body.status !== 'success')) {
    const msg = (body && (body.error || body.message)) || text.trim() || `the server answered HTTP ${res.status}`;
    throw new ApiError(body?.errorType || (res.status === 400 ? 'bad_data' : 'http'), msg, res.status);
  }
  return body.data !== undefined ? body.data : body;
}

/**
 * LogQL over a range: {resultType: 'streams'|'matrix', result, stats}. o: {query, start,
 * end (unix seconds, or ns strings), limit, direction ('backward'|'forward'), step (s)}.
 */
export function lokiQueryRange(o, signal) {
  const ts = (t) => (typeof t === 'string' ? t : nsOf(t));
  return lokiCall('query_range', {
    query: o.query, start: ts(o.start), end: ts(o.end), limit: o.limit, direction: o.direction,
    step: o.step !== undefined ? String(o.step) : undefined,
  }, signal);
}

/** The values of a log label (optionally of the streams a selector names) in a range. */
export async function lokiLabelValues(name, { query, start, end } = {}, signal) {
  const d = await lokiCall(`label/${encodeURIComponent(name)}/values`, {
    query, start: start !== undefined ? nsOf(start) : undefined, end: end !== undefined ? nsOf(end) : undefined,
  }, signal);
  return Array.isArray(d) ? d : [];
}

/** The log label names in a range. */
export async function lokiLabels({ start, end } = {}, signal) {
  const d = await lokiCall('labels', { start: start !== undefined ? nsOf(start) : undefined, end: end !== undefined ? nsOf(end) : undefined }, signal);
  return Array.isArray(d) ? d : [];
}
