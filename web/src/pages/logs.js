// pages/logs.js — the Logs page: a LogQL box (its selector built by the
// namespace, pod and container pickers or typed), a line filter (|= "…"),
// the global namespace filter and time range applied, the volume histogram
// (one metric query: lines per step by level and stream), the newest lines
// (one query_range, backward, limited; "load older" pages by the oldest
// timestamp), a click on a line shows its labels, live tail. The URL holds
// the query without the filter's namespace (expr) and the line filter (grep).

import { h, clear } from '../dom.js';
import * as api from '../api.js';
import { panel, empty } from '../panel.js';
import { patch, parse } from '../state.js';
import { chart, fromMatrix } from '../chart.js';
import { num } from '../units.js';
import { pageHead } from './common.js';
import { effective, split, isMetric, withLineFilter, matcherValue, setMatcher, addFilter, volumeStep, volumeQuery, lq } from './logquery.js';
import { lineList, tailer, volumeChart, noLogApi, MAX_LINES } from './logview.js';

/** Lines of one query_range (the first page and each "load older"). */
const LIMIT = 500;

const WHY_OFF = 'This kmon server has no log API (/loki/api/v1): it was built or started without the log store.';

const EXAMPLES = [
  ['Errors', (sel) => `${sel} |~ "(?i)error|exception|fatal"`],
  ['JSON access logs, 5xx', (sel) => `${sel} | json | status >= 500`],
  ['Lines per pod (metric)', (sel) => `sum by (pod) (count_over_time(${sel} [1m]))`],
];

export function mount(root, ctx) {
  const stored = ctx.query.expr || '';
  const query = effective(stored, ctx.filter); // what the box shows and the page runs
  const metric = isMetric(query);
  const grep = () => (metric ? '' : parse().query.grep || '');
  const linesQuery = () => withLineFilter(query, grep());

  // ---------- the query form ----------
  const box = h('textarea', { id: 'logs-query', class: 'promql logql', spellcheck: 'false', autocomplete: 'off', rows: '2', 'aria-label': 'LogQL query', placeholder: '{namespace="default", pod=~"web-.*"} |= "error"' });
  box.value = query;
  const runBtn = h('button', { type: 'button', class: 'btn primary', id: 'logs-run' }, 'Run');
  const lineIn = h('input', { id: 'logs-grep', type: 'search', placeholder: 'Line contains…', 'aria-label': 'Line contains', value: grep(), autocomplete: 'off', 'data-search': '', disabled: metric });
  const liveBtn = h('button', { type: 'button', class: 'btn live', id: 'logs-live', 'aria-pressed': 'false', disabled: metric, title: 'Show new lines as they arrive' }, h('span', { class: 'live-dot', 'aria-hidden': 'true' }), 'Live tail');
  const liveState = h('span', { class: 'live-state muted', role: 'status' });
  const errorArea = h('div', { class: 'parse-error', id: 'logs-error' });
  const pick = (id, label) => h('select', { id, 'aria-label': label, class: 'picker' }, h('option', { value: '' }, `All ${label.toLowerCase()}s`));
  const pNs = pick('logs-ns', 'Namespace'), pPod = pick('logs-pod', 'Pod'), pCt = pick('logs-container', 'Container');

  const curNs = ctx.filter.namespace || '';
  const curPod = matcherValue(stored, 'pod'), curCt = matcherValue(stored, 'container');
  const normal = (q) => (q.trim() === '{}' ? '' : q);
  const fill = (sel, values, current) => {
    const first = sel.firstChild;
    clear(sel).append(first, ...[...new Set([...values, current].filter(Boolean))].sort().map((v) => h('option', { value: v, selected: v === current }, v)));
    sel.value = current;
  };
  fill(pNs, [], curNs); fill(pPod, [], curPod); fill(pCt, [], curCt);
  pPod.disabled = !curNs && !curPod;
  pCt.disabled = !curPod && !curCt;
  (async () => {
    const t = { start: ctx.cycle.time.start, end: ctx.cycle.time.end }; // the names of the page's range
    const sel = (ms) => `{${ms.join(', ')}}`;
    try {
      const [nss, pods, cts] = await Promise.all([
        api.lokiLabelValues('namespace', t, ctx.signal),
        curNs ? api.lokiLabelValues('pod', { ...t, query: sel([`namespace=${lq(curNs)}`]) }, ctx.signal) : [],
        curPod ? api.lokiLabelValues('container', { ...t, query: sel([curNs ? `namespace=${lq(curNs)}` : null, `pod=${lq(curPod)}`].filter(Boolean)) }, ctx.signal) : [],
      ]);
      fill(pNs, nss, curNs); fill(pPod, pods, curPod); fill(pCt, cts, curCt);
    } catch { /* the pickers stay as they are; the panels say what failed */ }
  })();
  pNs.addEventListener('change', () => patch({ namespace: pNs.value, expr: normal(setMatcher(setMatcher(stored, 'pod', ''), 'container', '')) }));
  pPod.addEventListener('change', () => patch({ expr: normal(setMatcher(setMatcher(stored, 'container', ''), 'pod', pPod.value)) }));
  pCt.addEventListener('change', () => patch({ expr: normal(setMatcher(stored, 'container', pCt.value)) }));

  function run() {
    const s = split(box.value);
    // the typed namespace="x" becomes the global filter; the rest is the stored query
    patch({ expr: s.stored, namespace: s.namespace });
    if (s.stored === stored && s.namespace === curNs) ctx.run();
  }
  runBtn.addEventListener('click', run);
  box.addEventListener('keydown', (e) => { if (e.key === 'Enter' && !e.shiftKey) { e.preventDefault(); run(); } });
  box.addEventListener('input', () => box.classList.remove('bad'));
  const applyGrep = () => { if (lineIn.value !== (parse().query.grep || '')) patch({ grep: lineIn.value }, { push: false }); };
  lineIn.addEventListener('keydown', (e) => { if (e.key === 'Enter') { e.preventDefault(); applyGrep(); } });
  lineIn.addEventListener('search', applyGrep);
  lineIn.addEventListener('change', applyGrep);

  function showError(e) {
    clear(errorArea);
    if (!(e instanceof api.ApiError) || e.errorType === 'off' || e.errorType === 'unavailable') return;
    errorArea.append(h('div', { class: 'error', role: 'alert' }, h('strong', null, 'The query failed: '), h('code', { class: 'log-error-text' }, e.error)));
    box.classList.add('bad');
    // Loki's "parse error at line 1, col 12: ..." points into the query the box shows
    const m = /line (\d+), col (\d+)/.exec(e.error);
    if (m && Number(m[1]) === 1) {
      const c = Math.max(0, Math.min(box.value.length, Number(m[2]) - 1));
      box.setSelectionRange(c, Math.min(box.value.length, c + 1));
    }
  }

  const head = pageHead('Logs', 'Search the pods’ logs with LogQL; the namespace filter and the range above apply');
  const form = h('section', { class: 'panel logs-form' },
    h('div', { class: 'logs-pickers' },
      h('label', null, h('span', null, 'Namespace'), pNs), h('label', null, h('span', null, 'Pod'), pPod), h('label', null, h('span', null, 'Container'), pCt)),
    h('div', { class: 'explore-box' }, h('div', { class: 'editor' }, box), runBtn),
    h('div', { class: 'logs-bar' }, lineIn, liveBtn, liveState,
      h('span', { class: 'grow' }),
      h('span', { class: 'muted logs-examples' }, 'Try: ', EXAMPLES.map(([label, fn]) => {
        const { stored: st, namespace } = split(fn(metric ? effective('', ctx.filter) : selectorOnly(query)));
        return h('a', { href: `?${new URLSearchParams({ ...parse().query, expr: st, namespace, grep: '' })}`, class: 'ex' }, label);
      }))),
    errorArea);
  root.append(head, form);

  // ---------- volume ----------
  const volume = panel(ctx, metric
    ? { name: 'logs-volume', title: 'Graph', sub: 'the metric query over the range' }
    : { name: 'logs-volume', title: 'Volume', sub: 'lines per interval, by level or stream; drag to zoom' }).load(async (q) => {
    const t = q.time;
    const step = metric ? t.step : volumeStep(t.span);
    const start = Math.floor(t.start / step) * step;
    // a point at t counts (t - step, t]: the first bar ends one step after the start, the
    // last one at or after the end (a partial last interval is counted too)
    const qs = metric ? start : start + step, qe = metric ? t.end : Math.ceil(t.end / step) * step;
    const vq = metric ? query : volumeQuery(linesQuery(), step);
    let d;
    try {
      d = await q.call(`vol|${vq}|${qs}|${qe}|${step}`, (sig) => api.lokiQueryRange({ query: vq, start: qs, end: qe, step }, sig), vq);
    } catch (e) {
      if (noLogApi(e)) return empty(WHY_OFF);
      if (!metric && e instanceof api.ApiError && e.status === 400) return empty('No volume: the server refused the query (its message is above).');
      if (metric) showError(e);
      throw e;
    }
    if (metric) {
      clear(errorArea);
      if (d.resultType === 'streams') return empty('This query selects lines, not numbers.');
      const label = (m) => Object.entries(m).map(([k, v]) => `${k}=${v}`).join(', ') || '{}';
      const series = fromMatrix(d.result || [], label);
      if (!series.some((s) => s.points.size)) return empty('The metric query returned no series in this range.');
      const c = chart({ series, unit: num, time: { start, end: t.end, step }, height: 260 });
      q.dispose(c.destroy);
      return c.el;
    }
    const c = volumeChart(d.result, { start, end: qe, step });
    if (!c) return empty(`No lines in this range${grep() ? ' contain the line filter' : ''}.`);
    q.dispose(c.destroy);
    return h('div', null, h('div', { class: 'log-volume-total' }, h('strong', null, num(c.total)), ` line${c.total === 1 ? '' : 's'} in the range · one bar per ${step < 60 ? `${step} s` : step < 3600 ? `${step / 60} min` : `${step / 3600} h`}`), c.el);
  });

  // ---------- lines ----------
  const view = lineList({
    highlight: grep(),
    onFilter: (name, value, neg, isStream, parser) => {
      if (isStream && name === 'namespace' && !neg) { patch({ namespace: value }); return; }
      const s = split(addFilter(query, name, value, neg, isStream, parser));
      patch({ expr: s.stored, namespace: s.namespace });
    },
  });
  const count = h('p', { class: 'tcount log-count', role: 'status' });
  const olderBtn = h('button', { type: 'button', class: 'btn', id: 'logs-older' }, 'Load older lines');
  const foot = h('div', { class: 'log-foot' }, olderBtn, h('span', { class: 'muted log-foot-text' }));
  const wrap = h('div', { class: 'log-wrap' }, count, h('div', { class: 'log-scroll tall' }, view.el), foot);
  let shownRange = null, exhausted = false;
  const setCount = () => {
    const n = view.count;
    count.textContent = `${num(n)} line${n === 1 ? '' : 's'}, newest first${exhausted ? '' : ` · the newest ${num(n)} of the range`}`;
    olderBtn.hidden = exhausted || n >= MAX_LINES;
    foot.lastChild.textContent = exhausted ? 'The start of the range: no older line.' : (n >= MAX_LINES ? `${num(MAX_LINES)} lines shown at most: narrow the range or the query.` : '');
  };
  olderBtn.addEventListener('click', async () => {
    if (!view.oldest || !shownRange) return;
    olderBtn.disabled = true;
    olderBtn.textContent = 'Loading…';
    try {
      const end = (BigInt(view.oldest) + 1n).toString(); // the oldest shown again: lines sharing its timestamp are kept
      const d = await api.lokiQueryRange({ query: linesQuery(), start: shownRange.start, end, limit: LIMIT, direction: 'backward' }, ctx.signal);
      const got = (d.result || []).reduce((n, s) => n + (s.values || []).length, 0);
      view.older(d.result);
      if (got < LIMIT) exhausted = true;
      setCount();
    } catch (e) {
      if (e?.name !== 'AbortError') foot.lastChild.textContent = `Older lines could not be loaded: ${e.message}`;
    } finally {
      olderBtn.disabled = false;
      olderBtn.textContent = 'Load older lines';
    }
  });

  const lines = panel(ctx, { name: 'logs-lines', title: 'Lines', sub: metric ? '' : 'click a line for its labels' }).load(async (q) => {
    if (metric) return empty('A metric query draws the graph above, not lines. Type a log query (a selector such as {pod="x"} and filters) to see lines.');
    const lqq = linesQuery();
    const t = q.time;
    let d;
    try {
      d = await q.call(`lines|${lqq}|${t.start}|${t.end}`, (sig) => api.lokiQueryRange({ query: lqq, start: t.start, end: t.end, limit: LIMIT, direction: 'backward' }, sig),
        `${lqq}  (limit ${LIMIT}, backward)`);
    } catch (e) {
      showError(e);
      if (noLogApi(e)) return empty(WHY_OFF);
      throw e;
    }
    clear(errorArea);
    box.classList.remove('bad');
    shownRange = { start: t.start, end: t.end };
    const n = view.reset(d.result, t.span, grep());
    exhausted = (d.result || []).reduce((k, s) => k + (s.values || []).length, 0) < LIMIT;
    setCount();
    if (!n && !tail.running) {
      const hints = [grep() ? 'remove the line filter' : null, 'widen the range above', ctx.filter.namespace ? 'pick another namespace (or all)' : null].filter(Boolean);
      return empty(`No log line matches ${lqq} in this range. Try to ${hints.join(', ')}. Lines come from kmon agents (they tail /var/log/pods on each node) and from anything that pushes to /loki/api/v1/push.`);
    }
    return wrap;
  });

  // ---------- live tail ----------
  const tail = tailer({
    view, query: linesQuery, signal: ctx.signal,
    onState: (text, bad) => {
      liveState.textContent = text;
      liveState.classList.toggle('error', !!bad);
      if (view.count && !wrap.parentNode) { clear(lines.body).append(wrap); lines.el.dataset.state = 'ready'; }
      if (view.count) { count.textContent = `${num(view.count)} line${view.count === 1 ? '' : 's'}, newest first · live`; }
    },
  });
  liveBtn.addEventListener('click', () => {
    const on = !tail.running;
    liveBtn.setAttribute('aria-pressed', String(on));
    liveBtn.classList.toggle('on', on);
    if (on) tail.start(); else tail.stop();
  });

  root.append(h('div', { class: 'grid one' }, volume.el, lines.el));
  if (!ctx.query.expr && !ctx.filter.namespace) {
    requestAnimationFrame(() => { if (!document.activeElement || document.activeElement === document.body) box.focus({ preventScroll: true }); });
  }
}

/** The page's own keys changed (the line filter): draw again in place. */
export function update(ctx, r) {
  const lineIn = document.getElementById('logs-grep');
  if (lineIn && document.activeElement !== lineIn) lineIn.value = r.query.grep || '';
  ctx.run();
}

/** The selector of a log query (what precedes its first pipe). */
function selectorOnly(query) {
  const i = query.indexOf('}');
  return i < 0 ? query : query.slice(0, i + 1);
}
