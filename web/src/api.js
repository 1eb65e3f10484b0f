// api.js — fetch wrappers for the server's Prometheus HTTP API. Queries are
// POSTed form-encoded; every call takes an AbortSignal; an error answer
// ({"status":"error",...}) becomes a thrown ApiError with errorType and error.

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
  let res;
  try {
    res = await fetch(url, init);
  } catch (e) {
    if (e.name === 'AbortError') throw e;
    throw new ApiError('unavailable', 'the kmon server did not answer', 0);
  }
  let body = null;
  try { body = await res.json(); } catch (e) {
    if (e.name === 'AbortError') throw e;
  }
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
