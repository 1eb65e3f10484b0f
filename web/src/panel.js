// panel.js — the unit every page is made of: a card with a title whose body is
// drawn by a loader. The loader gets a query helper (q) that records every
// PromQL it runs (data-queries), shares one AbortSignal per refresh cycle and
// sets data-state to ready, empty (with the sentence saying why) or error.

import { h, clear, append } from './dom.js';
import * as api from './api.js';
import { nodeScope, needsScope, rateWindow } from './queries.js';

/** Thrown or returned by a loader: the panel has nothing to show, and why. */
export class Empty {
  constructor(why) { this.why = why; }
}
export const empty = (why) => new Empty(why);

/** Step of range queries: about one point per 2 px of a ~600 px chart, at least 15 s, in round numbers. */
export function stepFor(span, width = 600) {
  const raw = span / Math.max(100, width / 2);
  if (raw <= 15) return 15;
  if (raw < 60) return Math.ceil(raw / 15) * 15;
  if (raw < 3600) return Math.ceil(raw / 60) * 60;
  return Math.ceil(raw / 600) * 600;
}

/** A refresh cycle of a mounted page: its time, its abort signal, its query cache. */
export function newCycle(time, parentSignal) {
  const ctl = new AbortController();
  const onAbort = () => ctl.abort();
  parentSignal.addEventListener('abort', onAbort, { once: true });
  const step = stepFor(time.span);
  const start = Math.floor(time.start / step) * step;
  return {
    time: { ...time, start, step, end: time.end },
    signal: ctl.signal,
    abort: () => ctl.abort(),
    cache: new Map(),
  };
}

function cached(cycle, key, fn) {
  if (!cycle.cache.has(key)) {
    const p = fn();
    p.catch(() => {});
    cycle.cache.set(key, p);
  }
  return cycle.cache.get(key);
}

/** The query helper a loader receives. */
function helper(ctx, cycle, recorded, disposers) {
  const t = cycle.time;
  const q = {
    time: t,
    step: t.step,
    win: rateWindow(t.step),
    /** Instant query at the end of the range: the vector's samples. */
    async instant(expr) {
      recorded.push(expr);
      const data = await cached(cycle, `i|${expr}`, () => api.query(expr, t.end, cycle.signal));
      return data.resultType === 'vector' ? data.result : data.resultType === 'scalar'
        ? [{ metric: {}, value: data.result }] : [];
    },
    /** Instant query answering one number (or null when it has no sample). */
    async scalar(expr) {
      const r = await q.instant(expr);
      if (!r.length) return null;
      const v = Number(r[0].value[1]);
      return Number.isFinite(v) ? v : null;
    },
    /** Range query over the view's range: the matrix's series. */
    async range(expr) {
      recorded.push(expr);
      const data = await cached(cycle, `r|${expr}`, () => api.queryRange(expr, t.start, t.end, t.step, cycle.signal));
      return data.result || [];
    },
    /** The filter to build queries with; node-level queries need the namespace's node scope. */
    async filter({ nodes = false } = {}) {
      const f = { ...ctx.filter };
      if (nodes && needsScope(f)) {
        const r = await q.instant(nodeScope(f));
        f.nodes = [...new Set(r.map((s) => s.metric.node).filter(Boolean))].sort();
        if (!f.nodes.length) {
          throw new Empty(`No node runs pods of namespace “${f.namespace}”: no container_* or kube_pod_info series name it.`);
        }
      }
      return f;
    },
    /**
     * A call to another API than PromQL's (rules, alerts, alert history): fn(signal), shared
     * by the panels of the cycle under key; `shown` (default key; null: nothing) is recorded
     * in data-queries.
     */
    call(key, fn, shown = key) {
      if (shown) recorded.push(shown);
      return cached(cycle, `c|${key}`, () => fn(cycle.signal));
    },
    dispose(fn) { disposers.push(fn); },
    ctx,
  };
  return q;
}

/**
 * Create a panel. opts: {name, title, sub, cls}. Returns {el, body, load(fn)}.
 * load(fn): fn(q) → Node | Node[] | Empty; re-run on every refresh cycle.
 */
export function panel(ctx, { name, title, sub, cls = '', actions }) {
  const body = h('div', { class: 'panel-body' }, h('div', { class: 'loading' }, 'Loading…'));
  const el = h('section', { class: `panel ${cls}`, dataset: { panel: name }, 'aria-busy': 'true' },
    title ? h('header', { class: 'panel-head' }, h('h2', null, title), sub ? h('span', { class: 'panel-sub' }, sub) : null, actions || null) : null,
    body);
  let disposers = [];
  const self = {
    el, body,
    load(fn) {
      ctx.addLoader(async (cycle) => {
        const recorded = [];
        const mine = [];
        let out;
        let state = 'ready';
        try {
          out = await fn(helper(ctx, cycle, recorded, mine));
          if (out instanceof Empty) state = 'empty';
        } catch (e) {
          if (cycle.signal.aborted || e?.name === 'AbortError') { mine.forEach((d) => d()); return; }
          if (e instanceof Empty) { out = e; state = 'empty'; } else {
            out = e; state = 'error';
            if (!(e instanceof api.ApiError)) console.warn('panel', name, e); // eslint-disable-line no-console
          }
        }
        if (cycle.signal.aborted) { mine.forEach((d) => d()); return; }
        disposers.forEach((d) => d());
        disposers = mine;
        if (state === 'ready' && out instanceof Node && out.parentNode === body && body.childNodes.length === 1) {
          // the loader updated its content in place (a big table keeps its scroll position)
        } else {
          clear(body);
          if (state === 'empty') append(body, [h('p', { class: 'empty' }, out.why)]);
          else if (state === 'error') append(body, [errorBox(out)]);
          else append(body, [out]);
        }
        el.dataset.queries = [...new Set(recorded)].join('\n');
        el.dataset.state = state;
        el.removeAttribute('aria-busy');
      });
      return self;
    },
  };
  ctx.onDispose(() => { disposers.forEach((d) => d()); disposers = []; });
  return self;
}

function errorBox(e) {
  const detail = e instanceof api.ApiError ? e.error.replace(/^invalid parameter "query": /, '') : '';
  const lead = e instanceof api.ApiError && e.errorType === 'unavailable'
    ? 'The kmon server did not answer. Press ⟳ to try again.'
    : e instanceof api.ApiError && e.errorType === 'bad_data'
      ? 'The server refused this panel’s query:'
      : e instanceof api.ApiError
        ? 'This panel could not be drawn: the server failed to answer its query.'
        : 'This panel could not be drawn: press ⟳ to try again.';
  return h('div', { class: 'error', role: 'alert' }, h('p', null, lead), detail ? h('code', null, detail) : null);
}
