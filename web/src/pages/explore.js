// pages/explore.js — a PromQL box with completion (metric names, label names
// and values from the API), parse errors marked at their column, a chart
// (query_range) and a table (instant query). The cluster and namespace
// filters are added to every selector of the expression (shown as "Ran as").

import { h, clear } from '../dom.js';
import { panel, empty } from '../panel.js';
import { applyFilter, str } from '../queries.js';
import { patch, href } from '../state.js';
import * as api from '../api.js';
import { table } from '../table.js';
import { chart, fromMatrix } from '../chart.js';
import { num } from '../units.js';

const FUNCS = ['rate', 'irate', 'increase', 'sum', 'avg', 'min', 'max', 'count', 'topk', 'bottomk', 'quantile', 'group', 'stddev',
  'histogram_quantile', 'avg_over_time', 'max_over_time', 'min_over_time', 'sum_over_time', 'count_over_time', 'last_over_time',
  'quantile_over_time', 'delta', 'deriv', 'predict_linear', 'abs', 'ceil', 'floor', 'round', 'clamp', 'clamp_min', 'clamp_max',
  'label_replace', 'label_join', 'absent', 'absent_over_time', 'changes', 'resets', 'time', 'timestamp', 'vector', 'scalar', 'sort', 'sort_desc'];
const EXAMPLES = [
  'sum by (node) (rate(node_cpu_seconds_total{mode!="idle"}[5m]))',
  'node_memory_MemAvailable_bytes / node_memory_MemTotal_bytes',
  'topk(10, sum by (namespace, pod) (rate(container_cpu_usage_seconds_total{container!=""}[5m])))',
  'sum by (namespace) (container_memory_working_set_bytes{container!=""})',
];
const labelStr = (m) => {
  const name = m.__name__ || '';
  const rest = Object.entries(m).filter(([k]) => k !== '__name__').map(([k, v]) => `${k}=${str(v)}`).join(', ');
  return rest ? `${name}{${rest}}` : (name || '{}');
};
const fmtValue = (v) => {
  const x = Number(v);
  if (!Number.isFinite(x)) return v === 'NaN' ? 'not a number' : (x > 0 ? '+∞' : '−∞');
  return Math.abs(x) >= 1e6 || (Math.abs(x) < 1e-3 && x !== 0) ? x.toExponential(4) : String(Math.round(x * 1e6) / 1e6);
};

let metricNames = null;

export function mount(root, ctx) {
  const expr = ctx.query.expr || '';
  const box = h('textarea', { id: 'explore-expr', class: 'promql', spellcheck: 'false', autocomplete: 'off', rows: '3', 'aria-label': 'PromQL expression', placeholder: 'A PromQL expression, e.g. rate(node_cpu_seconds_total[5m]) — Enter runs, Shift+Enter for a new line', 'data-search': '' });
  box.value = expr;
  const list = h('ul', { class: 'completions', role: 'listbox', id: 'explore-completions', hidden: true });
  box.setAttribute('aria-controls', 'explore-completions');
  const run = h('button', { type: 'button', class: 'btn primary', id: 'explore-run' }, 'Run');
  const errorArea = h('div', { class: 'parse-error', role: 'status' });
  const ranAs = h('div', { class: 'muted ran-as' });
  const run1 = () => { hide(); patch({ expr: box.value.trim() }); if (box.value.trim() === expr) ctx.run(); };
  run.addEventListener('click', run1);

  // ----- completion -----
  let items = [], sel = -1, ctxTok = null, seq = 0;
  function hide() { list.hidden = true; items = []; sel = -1; box.setAttribute('aria-expanded', 'false'); }
  function show(cands) {
    clear(list);
    items = cands.slice(0, 60);
    if (!items.length) { hide(); return; }
    sel = 0;
    items.forEach((c, i) => {
      const li = h('li', { role: 'option', id: `cmp-${i}`, 'aria-selected': i === 0 ? 'true' : 'false' }, c);
      li.addEventListener('mousedown', (e) => { e.preventDefault(); accept(i); });
      list.appendChild(li);
    });
    list.hidden = false;
    box.setAttribute('aria-expanded', 'true');
  }
  function mark(i) {
    [...list.children].forEach((li, j) => li.setAttribute('aria-selected', j === i ? 'true' : 'false'));
    list.children[i]?.scrollIntoView({ block: 'nearest' });
    sel = i;
  }
  function accept(i) {
    const c = items[i];
    if (!c || !ctxTok) return;
    const v = box.value;
    const insert = ctxTok.kind === 'value' ? c.replace(/\\/g, '\\\\').replace(/"/g, '\\"') : c;
    box.value = v.slice(0, ctxTok.start) + insert + v.slice(ctxTok.end);
    const at = ctxTok.start + insert.length;
    box.setSelectionRange(at, at);
    hide();
    box.focus();
  }
  /** What the cursor is in: a metric/function name, a label name, or a label value. */
  function context() {
    const v = box.value, pos = box.selectionStart;
    const before = v.slice(0, pos);
    const open = before.lastIndexOf('{'), close = before.lastIndexOf('}');
    if (open > close) {
      const inside = before.slice(open + 1);
      const metric = (/([A-Za-z_:][A-Za-z0-9_:]*)\s*$/.exec(before.slice(0, open)) || [])[1] || '';
      const mv = /([A-Za-z_][A-Za-z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)$/.exec(inside);
      if (mv) return { kind: 'value', label: mv[1], metric, prefix: mv[3], start: pos - mv[3].length, end: pos };
      const ml = /(?:^|[,{\s])([A-Za-z_][A-Za-z0-9_]*)?$/.exec(inside);
      if (ml) { const p = ml[1] || ''; return { kind: 'label', metric, prefix: p, start: pos - p.length, end: pos }; }
      return null;
    }
    const mw = /([A-Za-z_:][A-Za-z0-9_:]*)$/.exec(before);
    if (!mw) return null;
    if (/\[[^\]]*$/.test(before)) return null;
    return { kind: 'metric', prefix: mw[1], start: pos - mw[1].length, end: pos };
  }
  async function complete() {
    const c = context();
    ctxTok = c;
    if (!c) { hide(); return; }
    const my = ++seq;
    const f = ctx.filter;
    const scope = [f.cluster ? `cluster=${str(f.cluster)}` : null].filter(Boolean);
    let cands = [];
    try {
      if (c.kind === 'metric') {
        if (c.prefix.length < 1) { hide(); return; }
        if (!metricNames) metricNames = await api.labelValues('__name__', [], ctx.signal);
        const p = c.prefix.toLowerCase();
        const named = metricNames.filter((x) => x.toLowerCase().includes(p));
        const starts = (x) => x.toLowerCase().startsWith(p); // names that start with what was typed first (node_load1 before node:node_load1_per_cpu:ratio)
        cands = [...FUNCS.filter((x) => x.startsWith(p)), ...named.filter(starts), ...named.filter((x) => !starts(x))];
      } else if (c.kind === 'label') {
        const match = c.metric ? [`${c.metric}{${scope.join(',')}}`] : [];
        const names = await api.labels(match, ctx.signal);
        cands = names.filter((x) => x !== '__name__' && x.startsWith(c.prefix));
      } else {
        const match = c.metric ? [`${c.metric}{${scope.join(',')}}`] : (scope.length ? [`{${scope.join(',')}}`] : []);
        const vals = await api.labelValues(c.label, match, ctx.signal);
        cands = vals.filter((x) => x.toLowerCase().includes(c.prefix.toLowerCase()));
      }
    } catch (e) { cands = []; }
    if (my !== seq) return;
    if (cands.length === 1 && cands[0] === c.prefix) { hide(); return; }
    show(cands);
  }
  let ct = 0;
  box.addEventListener('input', () => { clearTimeout(ct); ct = setTimeout(complete, 120); box.classList.remove('bad'); });
  box.addEventListener('blur', () => setTimeout(hide, 100));
  box.addEventListener('keydown', (e) => {
    if (!list.hidden && items.length) {
      if (e.key === 'ArrowDown') { e.preventDefault(); mark((sel + 1) % items.length); return; }
      if (e.key === 'ArrowUp') { e.preventDefault(); mark((sel - 1 + items.length) % items.length); return; }
      if (e.key === 'Tab' || e.key === 'Enter') { e.preventDefault(); accept(sel); return; }
      if (e.key === 'Escape') { e.preventDefault(); hide(); return; }
    }
    if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); run1(); }
  });

  const head = h('div', { class: 'page-head' }, h('div', null, h('h1', null, 'Explore'), h('p', { class: 'sub' }, 'Run any PromQL expression against kmon')));
  const form = h('section', { class: 'panel' },
    h('div', { class: 'explore-box' }, h('div', { class: 'editor' }, box, list), run), errorArea, ranAs);
  root.append(head, form);
  requestAnimationFrame(() => { if (!document.activeElement || document.activeElement === document.body) box.focus({ preventScroll: true }); });

  if (!expr) {
    root.append(h('section', { class: 'panel', dataset: { panel: 'examples', state: 'empty', queries: '' } },
      h('header', { class: 'panel-head' }, h('h2', null, 'Examples')),
      h('p', { class: 'empty' }, 'No expression yet: type one above, or start from an example.'),
      h('ul', { class: 'examples' }, EXAMPLES.map((x) => h('li', null, h('a', { href: href('explore', { expr: x }), class: 'mono' }, x))))));
    return;
  }

  /** Run the user's expression with the filter added; a parse error is marked in the box. */
  async function filtered(q) {
    const base = await q.filter({ nodes: !!ctx.filter.namespace && /\b(node_|kube_node_|kmon_node_)/.test(expr) });
    const r = applyFilter(expr, base);
    ranAs.textContent = r.expr !== expr ? `Ran as: ${r.expr}` : '';
    return r;
  }
  function showError(e, r) {
    clear(errorArea);
    if (!(e instanceof api.ApiError)) return;
    const pos = e.position;
    const msg = e.error.replace(/^invalid parameter "query": /, '');
    errorArea.append(h('div', { class: 'error' }, msg));
    if (pos) {
      // map the column in the filtered expression back to the user's text
      const lines = r.expr.split('\n');
      let off = 0;
      for (let i = 0; i < pos.line - 1 && i < lines.length; i++) off += lines[i].length + 1;
      const o = Math.max(0, Math.min(expr.length, r.map(off + pos.col - 1)));
      const lineStart = expr.lastIndexOf('\n', o - 1) + 1;
      const lineEnd = expr.indexOf('\n', o) === -1 ? expr.length : expr.indexOf('\n', o);
      const line = expr.slice(lineStart, lineEnd);
      const col = o - lineStart;
      errorArea.append(h('pre', { class: 'error-line', dataset: { col: String(col + 1) } },
        line.slice(0, col), h('span', { class: 'mark' }, line.slice(col, col + 1) || ' '), line.slice(col + 1), '\n',
        ' '.repeat(col), h('span', { class: 'caret' }, '^'), ` column ${col + 1}`));
      box.classList.add('bad');
      box.dataset.errorCol = String(col + 1);
      box.setSelectionRange(o, Math.min(expr.length, o + 1));
    }
  }

  const chartPanel = panel(ctx, { name: 'explore-chart', title: 'Graph' }).load(async (q) => {
    const r = await filtered(q);
    let res;
    try { res = await q.range(r.expr); } catch (e) { showError(e, r); throw e; }
    clear(errorArea);
    const series = fromMatrix(res, labelStr);
    if (!series.some((s) => s.points.size)) return empty('The expression returned no series in this time range.');
    const c = chart({ series, unit: num, time: q.time, height: 280 });
    q.dispose(c.destroy);
    return c.el;
  });
  const tablePanel = panel(ctx, { name: 'explore-table', title: 'Table', sub: 'instant, at the end of the range' }).load(async (q) => {
    const r = await filtered(q);
    let rows;
    try {
      rows = await q.instant(r.expr);
    } catch (e) { showError(e, r); throw e; }
    if (!rows.length) return empty('The expression returned no series at this instant.');
    const data = rows.map((s, i) => ({ key: String(i), labels: labelStr(s.metric), value: s.value ? Number(s.value[1]) : NaN, raw: s.value ? s.value[1] : '' }));
    return table([
      { id: 'labels', label: 'Series', width: 'minmax(300px, 5fr)', cell: (x) => h('span', { class: 'labels' }, x.labels) },
      { id: 'value', label: 'Value', num: true, cell: (x) => fmtValue(x.raw) },
    ], { rows: data, key: (x) => x.key, label: 'Result', sort: '-value' }).el;
  });
  root.append(h('div', { class: 'grid one' }, chartPanel.el, tablePanel.el));
}
