// pages/logquery.js — LogQL text helpers the Logs page and the pod page share:
// reading and rewriting stream selectors (the global namespace filter lives in
// the URL, not in the stored query), appending a line filter, telling a metric
// query from a log query, the volume query and its step, and guessing a
// line's level and parsed fields the way Loki's parsers would name them.

/** A LogQL string literal. */
export const lq = (s) => `"${String(s).replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')}"`;

const MATCHER = /\s*([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*("(?:[^"\\]|\\.)*"|`[^`]*`)\s*(,|(?=\}))/y;

function unquote(v) {
  if (v[0] === '`') return v.slice(1, -1);
  try { return JSON.parse(v); } catch { return v.slice(1, -1); }
}

/**
 * The stream selectors of a query: [{start, end, matchers: [{name, op, value, raw}]}]
 * (start at "{", end after "}"), skipping braces inside strings. A selector that does not
 * parse has matchers null.
 */
export function selectors(query) {
  const out = [];
  let i = 0;
  while (i < query.length) {
    const c = query[i];
    if (c === '"') { i++; while (i < query.length && query[i] !== '"') i += query[i] === '\\' ? 2 : 1; i++; continue; }
    if (c === '`') { i = query.indexOf('`', i + 1); if (i < 0) break; i++; continue; }
    if (c !== '{') { i++; continue; }
    const start = i;
    const matchers = [];
    let j = i + 1;
    let ok = true;
    for (;;) {
      while (j < query.length && /\s/.test(query[j])) j++;
      if (query[j] === '}') { j++; break; }
      MATCHER.lastIndex = j;
      const m = MATCHER.exec(query);
      if (!m) { ok = false; break; }
      matchers.push({ name: m[1], op: m[2], value: unquote(m[3]), raw: m[0].replace(/,\s*$/, '').trim() });
      j = MATCHER.lastIndex;
    }
    if (!ok) { const k = query.indexOf('}', j); j = k < 0 ? query.length : k + 1; }
    out.push({ start, end: j, matchers: ok ? matchers : null });
    i = j;
  }
  return out;
}

const printSel = (ms) => `{${ms.map((m) => `${m.name}${m.op}${lq(m.value)}`).join(', ')}}`;

/** Rewrite every selector of a query with fn(matchers) → matchers (unparsed ones are kept). */
function mapSelectors(query, fn) {
  let out = '', last = 0;
  for (const s of selectors(query)) {
    if (!s.matchers) continue;
    out += query.slice(last, s.start) + printSel(fn(s.matchers));
    last = s.end;
  }
  return out + query.slice(last);
}

/** A metric query (count_over_time(...), sum(...), ...) rather than a log query ({...} | ...). */
export const isMetric = (query) => /^\s*[A-Za-z_(]/.test(query || '');

/**
 * The query a user sees and runs: the stored query (no namespace="x" matcher: the global
 * filter holds it) with the filter's namespace and cluster added to every selector, or
 * the whole filter's streams when nothing is stored.
 */
export function effective(stored, filter) {
  const ns = filter.namespace || '', cl = filter.cluster || '';
  let q = (stored || '').trim();
  if (!q) q = '{}';
  return mapSelectors(q, (ms) => {
    let out = [...ms];
    if (ns && !out.some((m) => m.name === 'namespace' && m.op === '=')) out.unshift({ name: 'namespace', op: '=', value: ns });
    if (cl && !out.some((m) => m.name === 'cluster')) out.unshift({ name: 'cluster', op: '=', value: cl });
    // Loki wants a matcher that matches no empty value: every stream has a namespace
    if (!out.length) out.push({ name: 'namespace', op: '=~', value: '.+' });
    return out;
  });
}

/**
 * What the user typed, split for the URL: {stored, namespace} where namespace is the
 * value of its first selector's namespace="x" (moved to the global filter, '' when none)
 * and stored the query without it; the catch-all namespace=~".+" the page adds is dropped.
 */
export function split(typed) {
  const q = (typed || '').trim();
  const sels = selectors(q);
  let namespace = '';
  const first = sels.find((s) => s.matchers);
  if (first) {
    const m = first.matchers.find((x) => x.name === 'namespace' && x.op === '=');
    if (m) namespace = m.value;
  }
  const stored = mapSelectors(q, (ms) => ms.filter((m) => !(m.name === 'namespace' && ((m.op === '=' && m.value === namespace && namespace) || (m.op === '=~' && m.value === '.+')))));
  return { stored: stored === '{}' ? '' : stored, namespace };
}

/** The value of the first selector's label=value matcher, or ''. */
export function matcherValue(query, name) {
  const s = selectors(query || '').find((x) => x.matchers);
  const m = s?.matchers.find((x) => x.name === name && x.op === '=');
  return m ? m.value : '';
}

/** Set (value) or remove (value '') the label=value matcher of every selector. */
export function setMatcher(query, name, value) {
  return mapSelectors((query || '').trim() || '{}', (ms) => {
    const out = ms.filter((m) => m.name !== name);
    if (value) out.push({ name, op: '=', value });
    return out;
  });
}

/** A log query with a line filter (|= "text") appended; a metric query is kept. */
export function withLineFilter(query, text) {
  if (!text || isMetric(query)) return query;
  return `${query} |= ${lq(text)}`;
}

/**
 * The line expansion's "show only"/"hide": a stream matcher, or a label filter after the
 * line's parser (added when the query has none), or a line filter for other fields.
 */
export function addFilter(query, name, value, neg, isStream, parser) {
  if (isStream) {
    return mapSelectors(query, (ms) => [...ms.filter((m) => !(m.name === name && m.op === (neg ? '!=' : '='))), { name, op: neg ? '!=' : '=', value }]);
  }
  if (parser !== 'json' && parser !== 'logfmt') return `${query} ${neg ? '!=' : '|='} ${lq(value)}`;
  const withParser = new RegExp(`\\|\\s*${parser}\\b`).test(query) ? query : `${query} | ${parser}`;
  return `${withParser} | ${name}${neg ? '!=' : '='}${lq(value)}`;
}

const NICE = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
/** Step of the volume histogram: about 60 to 120 bars over the span, in round units. */
export function volumeStep(span) {
  const raw = span / 100;
  return NICE.find((s) => s >= raw) || Math.ceil(raw / 86400) * 86400;
}

/** The volume query of a log query: lines per step, by level and stream. */
export const volumeQuery = (query, step) => `sum by (level, stream) (count_over_time(${query} [${step}s]))`;

// ---------- levels and parsed fields ----------

const LEVEL_WORDS = {
  error: 'error', err: 'error', eror: 'error', fatal: 'error', critical: 'error', crit: 'error', panic: 'error', emerg: 'error', emergency: 'error', alert: 'error', severe: 'error', dpanic: 'error',
  warn: 'warn', warning: 'warn', wrn: 'warn',
  info: 'info', information: 'info', informational: 'info', inf: 'info', notice: 'info',
  debug: 'debug', dbg: 'debug', trace: 'trace', trc: 'trace', fine: 'debug', finer: 'trace', finest: 'trace',
};
export const normLevel = (v) => LEVEL_WORDS[String(v).toLowerCase()] || '';

/** A JSON line's fields flattened as Loki's | json names them (a.b → a_b). */
function jsonFields(line) {
  if (line[0] !== '{') return null;
  let o;
  try { o = JSON.parse(line); } catch { return null; }
  if (!o || typeof o !== 'object' || Array.isArray(o)) return null;
  const out = [];
  const walk = (v, prefix) => {
    for (const [k, x] of Object.entries(v)) {
      const name = (prefix ? `${prefix}_` : '') + k.replace(/[^A-Za-z0-9_]/g, '_');
      if (x && typeof x === 'object' && !Array.isArray(x)) walk(x, name);
      else out.push([name, x === null ? '' : (typeof x === 'string' ? x : JSON.stringify(x))]);
    }
  };
  walk(o, '');
  return out;
}

const LOGFMT = /(?:^|\s)([A-Za-z_][A-Za-z0-9_.\-]*)=("(?:[^"\\]|\\.)*"|[^\s"]*)/g;
function logfmtFields(line) {
  const out = [];
  for (const m of line.slice(0, 8192).matchAll(LOGFMT)) {
    let v = m[2];
    if (v[0] === '"') { try { v = JSON.parse(v); } catch { v = v.slice(1, -1); } }
    out.push([m[1].replace(/[.\-]/g, '_'), v]);
  }
  return out.length >= 2 ? out : null;
}

const KLOG = /^([IWEF])(\d{4}) (\d\d:\d\d:\d\d\.\d+)\s+(\d+) ([^:\]]+:\d+)\] /;

/** The fields a parser would find in a line: {parser, fields: [[name, value]]} or null. */
export function parsed(line) {
  const j = jsonFields(line);
  if (j) return { parser: 'json', fields: j };
  const k = KLOG.exec(line);
  if (k) return { parser: 'klog', fields: [['level', { I: 'info', W: 'warning', E: 'error', F: 'fatal' }[k[1]]], ['thread', k[4]], ['source', k[5]]] };
  const l = logfmtFields(line);
  if (l) return { parser: 'logfmt', fields: l };
  return null;
}

/** A line's level class: error, warn, info, debug, trace, or '' (stderr lines: 'stderr'). */
export function levelOf(line, labels, p = undefined) {
  const lab = labels.level || labels.detected_level || labels.severity || labels.lvl;
  if (lab && normLevel(lab)) return normLevel(lab);
  const pp = p === undefined ? parsed(line) : p;
  if (pp) {
    const f = pp.fields.find(([k]) => /^(level|lvl|severity|log_level|loglevel|levelname)$/i.test(k));
    if (f && normLevel(f[1])) return normLevel(f[1]);
  }
  const head = line.slice(0, 120);
  const w = /(?:^|[\s[|:])(ERROR|ERR|FATAL|CRITICAL|PANIC|SEVERE|WARN|WARNING|INFO|DEBUG|TRACE)(?=[\s\]|:]|$)/.exec(head);
  if (w) return normLevel(w[1]);
  if (/^(?:[\w$.]+(?:Exception|Error)\b|Caused by: |\s+at [\w$.<>]+\()/.test(line) || /\n\s+at [\w$.<>]+\(/.test(line)) return 'error';
  if (/^panic: |^goroutine \d+ \[/.test(line)) return 'error';
  return labels.stream === 'stderr' ? 'stderr' : '';
}
