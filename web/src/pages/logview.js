// pages/logview.js — what the Logs page and the pod page draw logs with: the
// list of lines (newest first, local time, coloured by level or stderr, a
// click expands a line into its stream labels and parsed fields), "load older"
// paging by the oldest timestamp, live tail by polling query_range forward
// from the newest timestamp (lines at the boundary deduplicated), and the
// volume histogram (uPlot bars, stacked by level or stream, drag to zoom).

import uPlot from '../vendor/uPlot.esm.js';
import { h, clear } from '../dom.js';
import * as api from '../api.js';
import { patch } from '../state.js';
import { num } from '../units.js';
import { levelOf, parsed } from './logquery.js';
import { podHref } from './common.js';

/** Lines kept on screen at most (live tail drops the oldest beyond). */
export const MAX_LINES = 5000;
/** Characters of a line drawn in the list (the expansion shows all of it). */
const SHOWN_CHARS = 2000;
/** Live tail: one poll every TAIL_MS, at most TAIL_LIMIT lines a poll. */
const TAIL_MS = 1500;
const TAIL_LIMIT = 1000;
const TAIL_LAG = 5_000_000_000n; // 5 s in ns

const streamKey = (labels) => Object.keys(labels).sort().map((k) => `${k}=${labels[k]}`).join(',');

/** Loki's streams → entries {ts (ns string), t (BigInt), line, labels, key}, newest first. */
export function entriesOf(result) {
  const out = [];
  for (const s of result || []) {
    const labels = s.stream || {};
    const sk = streamKey(labels);
    for (const v of s.values || []) {
      const ts = String(v[0]);
      out.push({ ts, t: BigInt(ts), line: String(v[1] ?? ''), labels, key: `${ts}\u0000${sk}\u0000${v[1]}` });
    }
  }
  out.sort((a, b) => (a.t < b.t ? 1 : a.t > b.t ? -1 : 0));
  return out;
}

/** Two newest-first lists as one (a's entries before b's at the same time). */
function merge(a, b) {
  const out = [];
  let i = 0, j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && a[i].t >= b[j].t)) out.push(a[i++]);
    else out.push(b[j++]);
  }
  return out;
}

const pad = (n, w = 2) => String(n).padStart(w, '0');
const TIME = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' });
const DAY = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });

/** A nanosecond timestamp in the user's time zone: "14:03:07.123" (with the day when asked). */
export function fmtTs(ts, withDay) {
  const t = BigInt(ts);
  const ms = Number(t / 1000000n);
  const d = new Date(ms);
  return `${withDay ? `${DAY.format(d)} ` : ''}${TIME.format(d)}.${pad(((ms % 1000) + 1000) % 1000, 3)}`;
}

/** The full timestamp: local ISO-like with nanoseconds and the zone, and UTC. */
function fullTs(ts) {
  const t = BigInt(ts);
  const ms = Number(t / 1000000n);
  const d = new Date(ms);
  const frac = pad(Number(((t % 1000000000n) + 1000000000n) % 1000000000n), 9);
  const off = -d.getTimezoneOffset();
  const zone = `${off >= 0 ? '+' : '-'}${pad(Math.floor(Math.abs(off) / 60))}:${pad(Math.abs(off) % 60)}`;
  const local = `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}.${frac} ${zone}`;
  return { local, utc: `${new Date(ms).toISOString().slice(0, 19)}.${frac}Z`, zone: Intl.DateTimeFormat().resolvedOptions().timeZone || '' };
}

/** The text of a line with the line filter's matches marked. */
function marked(text, needle) {
  if (!needle) return [text];
  const out = [];
  let i = 0;
  for (let k = text.indexOf(needle); k >= 0 && out.length < 200; k = text.indexOf(needle, i)) {
    if (k > i) out.push(text.slice(i, k));
    out.push(h('mark', null, needle));
    i = k + needle.length;
  }
  if (i < text.length) out.push(text.slice(i));
  return out;
}

const HIDDEN_LABELS = new Set(['__stream_shard__']);

/**
 * A list of log lines. opts: {compact (the pod page: no pod column), onFilter(name, value,
 * neg, isStream) (the expansion's "show only"/"hide" buttons; none: no buttons),
 * highlight (the line filter's text)}. Returns {el, reset(result, span), older(result),
 * newer(result), count, oldest, newest, entries}.
 */
export function lineList(opts = {}) {
  const list = h('div', { class: `log-lines${opts.compact ? ' compact' : ''}`, role: 'list', 'aria-label': 'Log lines' });
  let entries = [];
  let keys = new Set();
  let withDay = false;
  let highlight = opts.highlight || '';
  let multi = true;
  /** The source column (pod/container; the pod page: container) shows when streams differ. */
  const showSrc = () => (opts.compact ? !!opts.showContainer : multi);
  const setCols = () => list.classList.toggle('multi', showSrc());

  function detail(e, p) {
    const t = fullTs(e.ts);
    const row = (k, v, kind) => h('tr', { dataset: { label: k, kind } },
      h('th', { scope: 'row' }, k),
      h('td', null, h('span', { class: 'log-val' }, v)),
      h('td', { class: 'log-acts' }, opts.onFilter ? [
        h('button', { type: 'button', class: 'btn tiny', title: `Show only lines with ${k}="${v}"`, onclick: (ev) => { ev.stopPropagation(); opts.onFilter(k, String(v), false, kind === 'stream', p?.parser); } }, '+'),
        h('button', { type: 'button', class: 'btn tiny', title: `Hide lines with ${k}="${v}"`, onclick: (ev) => { ev.stopPropagation(); opts.onFilter(k, String(v), true, kind === 'stream', p?.parser); } }, '−'),
      ] : null));
    const labels = Object.entries(e.labels).filter(([k]) => !HIDDEN_LABELS.has(k)).sort(([a], [b]) => a.localeCompare(b));
    const fields = p ? p.fields.filter(([k]) => !(k in e.labels)) : [];
    const pod = e.labels.namespace && e.labels.pod && !opts.compact
      ? h('a', { href: podHref(e.labels.namespace, e.labels.pod), class: 'log-podlink' }, `Pod ${e.labels.namespace}/${e.labels.pod} →`) : null;
    return h('div', { class: 'log-detail', role: 'group', 'aria-label': 'Line details' },
      h('div', { class: 'log-detail-head' },
        h('span', { title: t.utc }, `${t.local}`, t.zone ? h('span', { class: 'muted' }, ` (${t.zone})`) : null),
        h('span', { class: 'muted mono' }, `${e.line.length} characters`),
        pod,
        h('button', { type: 'button', class: 'btn tiny', onclick: (ev) => { ev.stopPropagation(); navigator.clipboard?.writeText(e.line).catch(() => {}); } }, 'Copy line')),
      h('table', { class: 'log-labels' },
        h('tbody', null,
          h('tr', { class: 'log-sec' }, h('td', { colspan: '3' }, 'Stream labels')),
          labels.length ? labels.map(([k, v]) => row(k, v, 'stream')) : h('tr', null, h('td', { colspan: '3', class: 'muted' }, 'none')),
          fields.length ? [h('tr', { class: 'log-sec' }, h('td', { colspan: '3' }, `Parsed (${p.parser})`)), fields.slice(0, 200).map(([k, v]) => row(k, v, 'parsed'))] : null)),
      e.line.length > SHOWN_CHARS ? h('pre', { class: 'log-full' }, e.line) : null);
  }

  function rowOf(e) {
    const p = parsed(e.line);
    const lvl = levelOf(e.line, e.labels, p);
    const text = e.line.length > SHOWN_CHARS ? `${e.line.slice(0, SHOWN_CHARS)}…` : e.line;
    const src = !showSrc() ? null : opts.compact
      ? h('span', { class: 'log-src' }, e.labels.container || '')
      : h('span', { class: 'log-src', title: streamKey(e.labels) }, e.labels.pod ? `${e.labels.pod}${e.labels.container ? `/${e.labels.container}` : ''}` : (e.labels.job || e.labels.name || e.labels.source || streamKey(e.labels) || '{}'));
    const el = h('div', { class: `log-line${lvl ? ` lvl-${lvl}` : ''}`, role: 'listitem', tabindex: '0', 'aria-expanded': 'false', dataset: { ts: e.ts, level: lvl || 'none' } },
      h('span', { class: 'log-time', title: fullTs(e.ts).utc }, fmtTs(e.ts, withDay)),
      lvl && lvl !== 'stderr' ? h('span', { class: `log-lvl lvl-${lvl}` }, lvl) : (lvl === 'stderr' ? h('span', { class: 'log-lvl lvl-stderr' }, 'stderr') : h('span', { class: 'log-lvl' })),
      src,
      h('span', { class: 'log-text' }, marked(text, highlight)));
    const toggle = (ev) => {
      if (ev.target.closest('a, button, .log-detail') || window.getSelection()?.toString()) return;
      const open = el.getAttribute('aria-expanded') === 'true';
      el.setAttribute('aria-expanded', String(!open));
      if (open) el.querySelector('.log-detail')?.remove();
      else el.append(detail(e, p));
    };
    e.row = el;
    el.addEventListener('click', toggle);
    el.addEventListener('keydown', (ev) => { if ((ev.key === 'Enter' || ev.key === ' ') && ev.target === el) { ev.preventDefault(); toggle(ev); } });
    return el;
  }

  function fresh(list2) {
    const out = [];
    for (const e of list2) if (!keys.has(e.key)) { keys.add(e.key); out.push(e); }
    return out;
  }

  const self = {
    el: list,
    get count() { return entries.length; },
    get oldest() { return entries.length ? entries[entries.length - 1].ts : null; },
    get newest() { return entries.length ? entries[0].ts : null; },
    get entries() { return entries; },
    /** Replace the lines by a query_range answer's streams; span: the view's seconds. */
    reset(result, span, needle) {
      highlight = needle ?? highlight;
      withDay = span > 86400;
      keys = new Set();
      entries = fresh(entriesOf(result));
      multi = new Set(entries.map((e) => streamKey(e.labels))).size > 1;
      setCols();
      clear(list).append(...entries.map(rowOf));
      return entries.length;
    },
    /** Append older lines (a backward page); the number of new ones. */
    older(result) {
      const add = fresh(entriesOf(result));
      entries = entries.concat(add);
      list.append(...add.map(rowOf));
      return add.length;
    },
    /** Prepend newer lines (a live tail poll); the number of new ones. */
    newer(result) {
      const add = fresh(entriesOf(result)); // newest first
      if (!add.length) return 0;
      const rowsOf = new Map(); // entry → its row, for the flash
      if (!multi && new Set([...add, entries[0] || add[0]].map((e) => streamKey(e.labels))).size > 1) {
        multi = true; // a second stream appeared: redraw with the source column
        setCols();
        entries = merge(add, entries);
        clear(list).append(...entries.map((e) => { const r = rowOf(e); if (add.includes(e)) rowsOf.set(e, r); return r; }));
      } else {
        // a late line (older than the top, another stream's) goes to its place
        const merged = merge(add, entries);
        const fresh1 = new Set(add);
        let next = null;
        for (let i = merged.length - 1; i >= 0; i--) {
          const e = merged[i];
          if (fresh1.has(e)) {
            const r = rowOf(e);
            rowsOf.set(e, r);
            list.insertBefore(r, next);
            next = r;
          } else next = e.row || next;
        }
        entries = merged;
      }
      for (const r of rowsOf.values()) { r.classList.add('log-new'); setTimeout(() => r.classList.remove('log-new'), 1600); }
      while (entries.length > MAX_LINES) {
        const e = entries.pop();
        keys.delete(e.key);
        e.row?.remove();
      }
      return add.length;
    },
  };
  return self;
}

/**
 * Live tail of a query into a lineList: polls query_range forward from a little before the
 * newest timestamp shown (TAIL_LAG: a stream whose lines arrive late is not skipped; the
 * list drops the lines it has, those at the boundary included), or, while a poll comes
 * back full, from the last timestamp it brought (catching up). opts: {view, query() →
 * string, onState(text, bad), signal}. Returns {start, stop, running}.
 */
export function tailer({ view, query, onState, signal }) {
  let timer = 0, running = false, busy = false, ctl = null;
  let since = 0n; // when the tail started (ns): the floor while the list is empty
  let cursor = null; // catching up: where the next poll starts
  async function poll() {
    if (!running || busy || document.hidden) return;
    busy = true;
    ctl = new AbortController();
    const stopIt = () => ctl.abort();
    signal?.addEventListener('abort', stopIt, { once: true });
    try {
      let from = cursor ?? (view.newest ? BigInt(view.newest) - TAIL_LAG : since);
      if (!view.newest && from < since) from = since;
      const end = api.nsOf(Date.now() / 1000 + 1);
      const d = await api.lokiQueryRange({ query: query(), start: from.toString(), end, limit: TAIL_LIMIT, direction: 'forward' }, ctl.signal);
      if (!running) return;
      const result = d.result || [];
      let got = 0, last = null;
      for (const s of result) for (const v of s.values || []) { got++; const t = BigInt(v[0]); if (last === null || t > last) last = t; }
      cursor = got >= TAIL_LIMIT && last !== null && last > from ? last : null;
      const n = view.newer(result);
      const at = new Date().toLocaleTimeString();
      onState?.(n ? `Live: ${n} new line${n === 1 ? '' : 's'} at ${at}` : `Live: no new line (last poll ${at})`, false);
    } catch (e) {
      if (e?.name !== 'AbortError') onState?.(`Live tail: ${e.message || e}`, true);
    } finally {
      signal?.removeEventListener('abort', stopIt);
      busy = false;
    }
  }
  const self = {
    get running() { return running; },
    start() {
      if (running) return;
      running = true;
      cursor = null;
      since = BigInt(api.nsOf(Date.now() / 1000 - 5));
      onState?.('Live: starting…', false);
      poll();
      timer = setInterval(poll, TAIL_MS);
    },
    stop() {
      running = false;
      clearInterval(timer);
      ctl?.abort();
      onState?.('', false);
    },
  };
  signal?.addEventListener('abort', () => self.stop(), { once: true });
  return self;
}

// ---------- volume histogram ----------

const LEVEL_ORDER = ['error', 'warn', 'info', 'debug', 'trace', 'stderr', 'stdout', 'other'];
const LEVEL_COLOR = { error: '#ef4444', warn: '#f59e0b', info: '#3b82f6', debug: '#94a3b8', trace: '#a78bfa', stderr: '#f97316', stdout: '#3b82f6', other: '#64748b' };
const OTHER_COLORS = ['#10b981', '#8b5cf6', '#06b6d4', '#ec4899', '#84cc16', '#64748b'];

function cssVar(name, fallback) {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

/**
 * The volume histogram of a metric answer (sum by (level, stream) of count_over_time per
 * step): stacked bars from start to end. Returns {el, destroy, total} or null when no bar.
 */
export function volumeChart(result, { start, end, step, height = 120 }) {
  const groups = new Map();
  for (const s of result || []) {
    const m = s.metric || {};
    const name = (m.level && (m.level.toLowerCase() === 'warning' ? 'warn' : m.level.toLowerCase())) || m.stream || 'other';
    if (!groups.has(name)) groups.set(name, new Map());
    const g = groups.get(name);
    for (const [t, v] of s.values || []) {
      const x = Math.round(Number(t)) - step; // the bar covers (t - step, t]
      g.set(x, (g.get(x) || 0) + Number(v));
    }
  }
  let total = 0;
  for (const g of groups.values()) for (const v of g.values()) total += v;
  if (!total) return null;
  const names = [...groups.keys()].sort((a, b) => {
    const ia = LEVEL_ORDER.indexOf(a), ib = LEVEL_ORDER.indexOf(b);
    return (ia < 0 ? 99 : ia) - (ib < 0 ? 99 : ib) || a.localeCompare(b);
  });
  const x0 = Math.floor(start / step) * step;
  const xs = [];
  for (let t = x0; t < end; t += step) xs.push(t);
  const raw = names.map((n) => xs.map((t) => groups.get(n).get(t) || 0));
  // stacked: the first name at the bottom; drawn top-down so each bar starts at 0
  const acc = xs.map(() => 0);
  const stacked = raw.map((vals) => vals.map((v, i) => (acc[i] += v)));
  let oc = 0;
  const colorOf = (n) => LEVEL_COLOR[n] || OTHER_COLORS[oc++ % OTHER_COLORS.length];
  const colors = names.map(colorOf);
  const order = names.map((_, i) => i).reverse();
  const fg = cssVar('--muted', '#6b7280'), grid = cssVar('--grid', 'rgba(128,128,128,.15)');
  const bars = uPlot.paths.bars({ size: [0.86, 60], align: 1 });
  const series = [{ value: (u, v) => (v === null ? '' : `${new Date(v * 1000).toLocaleString()} +${step}s`) },
    ...order.map((i) => ({
      label: names[i], stroke: colors[i], fill: colors[i], width: 0, paths: bars, points: { show: false },
      value: (u, v, si, idx) => (idx === null || idx === undefined ? '' : num(raw[i][idx])),
    }))];
  const axisFont = '11px system-ui, sans-serif';
  const options = {
    width: 300, height,
    series,
    scales: { x: { time: true, range: () => [x0, Math.max(end, x0 + step)] }, y: { range: (u, min, max) => [0, max > 0 ? max * 1.1 : 1] } },
    legend: { show: true, live: true },
    cursor: { drag: { x: true, y: false, setScale: false }, points: { show: false } },
    axes: [
      { stroke: fg, grid: { show: false }, ticks: { stroke: grid }, font: axisFont },
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { show: false }, font: axisFont, size: 44, values: (u, s) => s.map((v) => num(v)) },
    ],
    hooks: {
      setSelect: [(u) => {
        if (u.select.width < 4) return;
        const a = u.posToVal(u.select.left, 'x'), b = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        if (Number.isFinite(a) && Number.isFinite(b) && b > a) patch({ from: String(Math.round(a * 1000)), to: String(Math.round(b * 1000)), range: '' });
      }],
    },
  };
  const el = h('div', { class: 'log-volume', dataset: { total: String(total), bars: String(raw.reduce((n, vals) => n + vals.filter((v) => v > 0).length, 0)) } });
  let u = null;
  const ro = new ResizeObserver(() => {
    const w = Math.floor(el.clientWidth);
    if (w < 20) return;
    if (!u) u = new uPlot(options, [xs, ...order.map((i) => stacked[i])], el);
    else if (u.width !== w) u.setSize({ width: w, height });
  });
  ro.observe(el);
  return { el, total, destroy() { ro.disconnect(); if (u) { u.destroy(); u = null; } } };
}

/** The sentence of an ApiError of the log API for an empty state or error box. */
export function noLogApi(e) {
  return e instanceof api.ApiError && e.errorType === 'off';
}
