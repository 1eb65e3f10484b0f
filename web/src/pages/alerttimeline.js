// pages/alerttimeline.js — the alert history as a timeline: one lane per alert
// instance (alertname and labels), a bar for each pending (amber) and firing
// (red) period, built from /api/alerts/history's transitions. Plain SVG (one
// small <svg> per lane, scaled by its viewBox, so a resize costs nothing);
// one tab stop, arrow keys move between bars, hovering or focusing a bar
// shows its times and labels. buildLanes() is pure (tests run it in node).

import { h } from '../dom.js';
import { duration, num } from '../units.js';

const SVG = 'http://www.w3.org/2000/svg';
const W = 1000; // viewBox width of a lane
const MIN_W = 2.5; // a bar is never thinner than this (in viewBox units, ~2.5 px)
const ACTIVE = new Set(['pending', 'firing']);

/** The identity of an alert instance: its whole label set. */
export function laneKey(labels) {
  return JSON.stringify(Object.entries(labels || {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/**
 * Lanes from transitions (oldest first) over [from, to] (ms). seeds: alerts active at
 * `from` ({labels, state, annotations, value, activeAt}), which matter when they have no
 * transition in the range. An instance whose first transition leaves pending or firing was
 * in that state at `from`; one still pending or firing after its last transition stays so
 * until `to`.
 * Returns [{key, alertname, labels, bars: [{state, start, end, fromStart, open, value,
 * annotations, activeAt}]}], sorted by alertname then labels; lanes without a bar left out.
 */
export function buildLanes(transitions, { from, to, seeds = [] }) {
  const lanes = new Map();
  const lane = (labels) => {
    const key = laneKey(labels);
    let l = lanes.get(key);
    if (!l) {
      l = { key, labels: labels || {}, alertname: labels?.alertname || '', bars: [], cur: null, since: from, info: null };
      lanes.set(key, l);
    }
    return l;
  };
  const close = (l, end, open) => {
    if (!ACTIVE.has(l.cur)) return;
    const start = Math.max(from, l.since);
    end = Math.min(to, end);
    if (end <= start && !(open && end === start)) return; // pending and firing in the same evaluation: no pending bar
    l.bars.push({ state: l.cur, start, end, fromStart: l.since <= from, open, value: l.info?.value, annotations: l.info?.annotations || {}, activeAt: l.info?.activeAt });
  };
  for (const s of seeds) {
    const l = lane(s.labels);
    l.cur = s.state;
    l.since = from;
    l.info = { value: s.value, annotations: s.annotations, activeAt: s.activeAt };
  }
  for (const tr of transitions) {
    if (!(tr.t >= from - 1) || tr.t > to) continue;
    const l = lane(tr.labels);
    if (!l.seen) { // its state at the start of the range: what its first transition leaves
      l.seen = true;
      l.cur = tr.from || l.cur || 'inactive';
    }
    if (l.cur !== tr.state) {
      close(l, tr.t, false);
      l.cur = tr.state;
      l.since = tr.t;
    }
    l.info = { value: tr.value, annotations: tr.annotations, activeAt: tr.active_at };
  }
  const out = [];
  for (const l of lanes.values()) {
    close(l, to, true);
    if (!l.bars.length) continue;
    out.push({ key: l.key, alertname: l.alertname, labels: l.labels, bars: l.bars });
  }
  out.sort((a, b) => a.alertname.localeCompare(b.alertname) || a.key.localeCompare(b.key));
  return out;
}

// ---------- time ----------
const STEPS = [60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400, 172800, 604800].map((s) => s * 1000);

/** Tick times (ms) over [from, to], about six, on round local times. */
export function ticks(from, to) {
  const span = to - from;
  const step = STEPS.find((s) => span / s <= 7) || STEPS[STEPS.length - 1];
  const off = step >= 3600e3 ? new Date(from).getTimezoneOffset() * 60e3 : 0; // hours and days in local time
  const out = [];
  for (let t = Math.ceil((from - off) / step) * step + off; t <= to; t += step) out.push(t);
  return out;
}

const pad = (n) => String(n).padStart(2, '0');
/** A time for a label: 14:05, 14:05:09, or Dec 6 14:05 when the range spans days. */
export function timeText(ms, span, seconds = false) {
  const d = new Date(ms);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}${seconds ? `:${pad(d.getSeconds())}` : ''}`;
  if (span < 86400e3) return hm;
  return `${d.toLocaleDateString(undefined, { month: 'short', day: 'numeric' })} ${hm}`;
}

// ---------- drawing ----------
const svg = (tag, attrs) => {
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
};

/** When a bar was: "from 14:05:09 to now, at least 3m 12s". */
function whenText(b, { from, to, reachesNow }) {
  const span = to - from;
  const start = b.fromStart ? `before ${timeText(from, span, true)} (the start of the range)` : timeText(b.start, span, true);
  const end = b.open ? (reachesNow ? 'now' : `${timeText(to, span, true)} (the end of the range, still ${b.state})`) : timeText(b.end, span, true);
  return `from ${start} to ${end}, ${b.fromStart || b.open ? 'at least ' : ''}${duration((b.end - b.start) / 1000)}`;
}
const labelList = (l) => Object.entries(l.labels).filter(([k]) => k !== 'alertname');

/**
 * The timeline element. opts: {from, to (ms), reachesNow, labelOf(lane) → Node}. Returns
 * {el, filter(fn(lane) → bool)}: the page's search hides lanes.
 */
export function timeline(lanes, opts) {
  const { from, to } = opts;
  const span = Math.max(1, to - from);
  const x = (t) => ((t - from) / span) * W;
  const tip = h('div', { class: 'tl-tip', role: 'tooltip', hidden: true });
  const gridTrack = h('div', { class: 'tl-grid-track' });
  const grid = h('div', { class: 'tl-grid', 'aria-hidden': 'true' }, h('span'), gridTrack);
  const axis = h('div', { class: 'tl-axis', 'aria-hidden': 'true' });
  for (const t of ticks(from, to)) {
    const pos = `${((t - from) / span) * 100}%`;
    const label = h('span', { class: 'tl-tick' }, timeText(t, span));
    label.style.left = pos;
    axis.appendChild(label);
    const line = h('span', { class: 'tl-line' });
    line.style.left = pos;
    gridTrack.appendChild(line);
  }
  const bars = []; // [rect, lane, bar, laneIndex]
  const rows = lanes.map((l, li) => {
    const track = svg('svg', { class: 'tl-track', viewBox: `0 0 ${W} 10`, preserveAspectRatio: 'none', role: 'list', 'aria-label': `${l.alertname} history` });
    for (const b of l.bars) {
      const x0 = x(b.start), w = Math.max(MIN_W, x(b.end) - x0);
      const r = svg('rect', { class: `tl-bar ${b.state}`, x: Math.min(x0, W - w), y: 1, width: w, height: 8, rx: 0.8, tabindex: -1, role: 'listitem' });
      b.when = whenText(b, opts);
      const ids = labelList(l).map(([k, v]) => `${k}=${v}`).join(', ');
      r.setAttribute('aria-label', `${l.alertname} ${b.state} ${b.when}${ids ? `; ${ids}` : ''}`);
      r.dataset.state = b.state;
      r.dataset.index = String(bars.length);
      bars.push([r, l, b, li]);
      track.appendChild(r);
    }
    const row = h('div', { class: 'tl-lane', role: 'listitem', dataset: { key: l.key, alertname: l.alertname } },
      h('div', { class: 'tl-label', title: Object.entries(l.labels).map(([k, v]) => `${k}=${v}`).join('\n') }, opts.labelOf(l)),
      h('div', { class: 'tl-cell' }, track));
    row.text = `${l.alertname} ${Object.entries(l.labels).map(([k, v]) => `${k}=${v}`).join(' ')}`.toLowerCase();
    row.lane = l;
    return row;
  });
  if (bars.length) bars[0][0].setAttribute('tabindex', '0');
  const list = h('div', { class: 'tl-lanes', role: 'list', 'aria-label': 'Alerts' }, grid, rows);
  const scroller = h('div', { class: 'tl-scroll' }, list);
  const hint = h('p', { class: 'tl-hint muted' }, 'Tab to the timeline, then ←/→ move along a lane and ↑/↓ between lanes; hover or focus a bar for its times and labels.');
  const legend = h('div', { class: 'tl-legend', 'aria-hidden': 'true' },
    h('span', { class: 'tl-key pending' }), 'pending', h('span', { class: 'tl-key firing' }), 'firing');
  const el = h('div', { class: 'timeline', role: 'group', 'aria-label': 'Alert history timeline' },
    h('div', { class: 'tl-head' }, h('div', { class: 'tl-label muted' }, legend), axis), scroller, tip, hint);

  // ---------- tooltip ----------
  let shown = null;
  function show(r) {
    const [, l, b] = bars[Number(r.dataset.index)];
    const ids = labelList(l);
    const summary = b.annotations.summary || b.annotations.description || '';
    tip.replaceChildren(
      h('div', { class: 'tl-tip-head' }, h('strong', null, l.alertname), ' ', h('span', { class: `badge ${b.state === 'firing' ? 'bad' : 'warn'}` }, b.state)),
      h('div', null, b.when),
      summary ? h('div', { class: 'tl-tip-sum' }, summary) : null,
      ids.length ? h('div', { class: 'chips' }, ids.map(([k, v]) => h('span', { class: 'chip' }, h('span', { class: 'muted' }, `${k}=`), v))) : null,
      Number.isFinite(b.value) ? h('div', { class: 'muted' }, `value ${num(b.value)}`) : null);
    tip.hidden = false;
    const box = el.getBoundingClientRect(), rb = r.getBoundingClientRect();
    const left = Math.min(Math.max(0, rb.left - box.left), Math.max(0, box.width - tip.offsetWidth));
    tip.style.left = `${left}px`;
    tip.style.top = `${rb.bottom - box.top + 6}px`;
    shown = r;
  }
  function hide(r) { if (!r || r === shown) { tip.hidden = true; shown = null; } }
  list.addEventListener('pointerover', (e) => { if (e.target.classList?.contains('tl-bar')) show(e.target); });
  list.addEventListener('pointerout', (e) => { if (e.target.classList?.contains('tl-bar') && e.target !== document.activeElement) hide(e.target); });
  list.addEventListener('focusin', (e) => { if (e.target.classList?.contains('tl-bar')) show(e.target); });
  list.addEventListener('focusout', (e) => hide(e.target));

  // ---------- keyboard: one tab stop, arrows move ----------
  const visible = (i) => !rows[bars[i][3]].hidden;
  function move(r, i) {
    if (i < 0 || i >= bars.length) return;
    r.setAttribute('tabindex', '-1');
    const next = bars[i][0];
    next.setAttribute('tabindex', '0');
    next.focus();
    next.closest('.tl-lane').scrollIntoView({ block: 'nearest' });
  }
  list.addEventListener('keydown', (e) => {
    const r = e.target;
    if (!r.classList?.contains('tl-bar')) return;
    const i = Number(r.dataset.index), li = bars[i][3];
    let j = -1;
    if (e.key === 'ArrowRight' || e.key === 'ArrowLeft') {
      const d = e.key === 'ArrowRight' ? 1 : -1;
      if (bars[i + d] && bars[i + d][3] === li) j = i + d;
    } else if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      const d = e.key === 'ArrowDown' ? 1 : -1;
      for (let k = i + d; k >= 0 && k < bars.length; k += d) {
        if (bars[k][3] !== li && visible(k)) { j = k; break; }
      }
      if (j >= 0 && d < 0) while (j > 0 && bars[j - 1][3] === bars[j][3]) j--; // the lane's first bar
    } else if (e.key === 'Home' || e.key === 'End') {
      j = e.key === 'Home' ? bars.findIndex((b, k) => visible(k)) : bars.findLastIndex((b, k) => visible(k));
    } else if (e.key === 'Escape') { hide(); return; } else return;
    e.preventDefault();
    if (j >= 0) move(r, j);
  });

  return {
    el,
    /** Hide the lanes the test refuses (null: show all); returns how many are shown. */
    filter(test) {
      let n = 0;
      for (const row of rows) { row.hidden = !!test && !test(row.text); if (!row.hidden) n++; }
      const cur = bars.find(([r]) => r.getAttribute('tabindex') === '0');
      if (cur && rows[cur[3]].hidden) { // keep the tab stop on a shown bar
        const k = bars.findIndex((b, i) => visible(i));
        if (k >= 0) { cur[0].setAttribute('tabindex', '-1'); bars[k][0].setAttribute('tabindex', '0'); }
      }
      hide();
      return n;
    },
  };
}
