// chart.js — uPlot wrapper. Builds aligned series from query_range matrices,
// formats the y axis with the panel's unit, shows hover values in uPlot's
// legend, stacks when asked, draws constant lines (request/limit), turns a
// drag into a custom time range in the URL, follows its container's size,
// destroys itself with its panel, and takes colors from the color scheme.

import uPlot from './vendor/uPlot.esm.js';
import { h } from './dom.js';
import { patch } from './state.js';

const PALETTE = ['#3b82f6', '#f59e0b', '#10b981', '#ef4444', '#8b5cf6', '#06b6d4', '#ec4899', '#84cc16',
  '#f97316', '#6366f1', '#14b8a6', '#a855f7', '#eab308'];
export const color = (i) => PALETTE[i % PALETTE.length];
const MAX_SERIES = 12;

function cssVar(name, fallback) {
  const v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return v || fallback;
}

function alpha(hex, a) {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${n >> 16 & 255},${n >> 8 & 255},${n & 255},${a})`;
}

/**
 * Matrix series → {label, points: Map(ts → value)}.
 * label: function(metric) or a fixed string.
 */
export function fromMatrix(result, label) {
  return result.map((s) => ({
    label: typeof label === 'function' ? label(s.metric) : label,
    points: new Map(s.values.map(([t, v]) => [Math.round(t), Number(v)])),
  }));
}

/** Keep the biggest series; sum the rest into "other". */
function capSeries(list) {
  if (list.length <= MAX_SERIES) return list;
  const mean = (s) => { let t = 0, n = 0; for (const v of s.points.values()) if (Number.isFinite(v)) { t += v; n++; } return n ? t / n : 0; };
  const sorted = [...list].sort((a, b) => mean(b) - mean(a));
  const keep = sorted.slice(0, MAX_SERIES - 1);
  const rest = sorted.slice(MAX_SERIES - 1);
  const other = new Map();
  for (const s of rest) for (const [t, v] of s.points) if (Number.isFinite(v)) other.set(t, (other.get(t) || 0) + v);
  return [...keep, { label: `other (${rest.length})`, points: other, other: true }];
}

/**
 * A chart element. opts: {series, unit (fn), stacked, consts: [{label, value}],
 * height, time: {start, end, step}, spark}. Returns {el, destroy}.
 */
export function chart(opts) {
  const { unit = String, stacked = false, consts = [], height = 220, time, spark = false } = opts;
  let series = capSeries(opts.series.filter((s) => s.points.size));
  if (!spark) series.sort((a, b) => (a.other ? 1 : 0) - (b.other ? 1 : 0) || String(a.label).localeCompare(String(b.label), undefined, { numeric: true }));
  // x: the range query's grid
  const xs = [];
  if (time) for (let t = time.start; t <= time.end + 0.001; t += time.step) xs.push(Math.round(t));
  const seen = new Set(xs);
  for (const s of series) for (const t of s.points.keys()) if (!seen.has(t)) { seen.add(t); xs.push(t); }
  xs.sort((a, b) => a - b);
  const raw = series.map((s) => xs.map((t) => (s.points.has(t) && Number.isFinite(s.points.get(t)) ? s.points.get(t) : null)));
  let data = raw;
  if (stacked) {
    const acc = xs.map(() => 0);
    data = raw.map((vals) => vals.map((v, i) => (v === null ? (acc[i] || null) : (acc[i] += v))));
  }
  const fg = cssVar('--muted', '#6b7280');
  const grid = cssVar('--grid', 'rgba(128,128,128,.15)');
  const fmtLegend = (si) => (u, v, sidx, idx) => (idx === null || idx === undefined ? '' : unit(raw[si]?.[idx] ?? null));
  const uSeries = [{ value: (u, v) => (v === null ? '' : new Date(v * 1000).toLocaleString()) }];
  const colorOf = (i) => (series[i]?.other ? '#9ca3af' : color(i));
  series.forEach((s, i) => {
    const c = colorOf(i);
    uSeries.push({
      label: s.label,
      stroke: c,
      width: spark ? 1.5 : 1.25,
      fill: stacked ? alpha(c, 0.35) : (series.length === 1 ? alpha(c, 0.12) : undefined),
      points: { show: false },
      spanGaps: false,
      value: fmtLegend(i),
    });
  });
  const constData = [];
  consts.filter((c) => Number.isFinite(c.value)).forEach((c) => {
    uSeries.push({ label: c.label, stroke: c.color || '#ef4444', width: 1.5, dash: [6, 4], points: { show: false }, value: () => unit(c.value) });
    constData.push(xs.map(() => c.value));
  });
  const bands = stacked ? series.slice(1).map((_, i) => ({ series: [i + 2, i + 1] })) : undefined;
  if (stacked) uSeries.forEach((s, i) => { if (i >= 1 && i <= series.length) s.fill = alpha(colorOf(i - 1), 0.35); });
  const axisFont = '11px system-ui, sans-serif';
  const options = {
    width: 300,
    height: spark ? (opts.sparkHeight || 40) : height,
    series: uSeries,
    bands,
    scales: { x: { time: true, ...(time ? { range: () => [time.start, time.end] } : {}) }, y: { range: spark
      ? (u, min, max) => (max > min ? [min - (max - min) * 0.15, max + (max - min) * 0.15] : [min - 1, max + 1])
      : (u, min, max) => [Math.min(0, min), max > 0 ? max * 1.08 : 1] } },
    legend: { show: !spark, live: true },
    cursor: spark ? { show: false } : { drag: { x: true, y: false, setScale: false }, points: { size: 5 } },
    axes: spark ? [{ show: false }, { show: false }] : [
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: axisFont },
      { stroke: fg, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid }, font: axisFont,
        size: (u, values) => Math.max(44, 18 + 7 * Math.max(0, ...(values || []).map((v) => String(v).length))),
        values: (u, splits) => splits.map((v) => unit(v)) },
    ],
    hooks: spark ? {} : {
      setSelect: [(u) => {
        if (u.select.width < 4) return;
        const a = u.posToVal(u.select.left, 'x');
        const b = u.posToVal(u.select.left + u.select.width, 'x');
        u.setSelect({ left: 0, width: 0, top: 0, height: 0 }, false);
        if (Number.isFinite(a) && Number.isFinite(b) && b > a) {
          patch({ from: String(Math.round(a * 1000)), to: String(Math.round(b * 1000)), range: '' });
        }
      }],
    },
  };
  const el = h('div', { class: spark ? 'spark' : 'chart' });
  let u = null;
  const ro = new ResizeObserver(() => {
    const w = Math.floor(el.clientWidth);
    if (w < 20) return;
    if (!u) u = new uPlot(options, [xs, ...data, ...constData], el);
    else if (Math.abs(u.width - w) > 1) u.setSize({ width: w, height: options.height });
    if (u.width !== w) u.setSize({ width: w, height: options.height });
  });
  ro.observe(el);
  return { el, destroy() { ro.disconnect(); if (u) { u.destroy(); u = null; } } };
}
