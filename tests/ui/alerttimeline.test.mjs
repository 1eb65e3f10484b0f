// tests/ui/alerttimeline.test.mjs — the alert timeline's lanes and bars from
// /api/alerts/history's transitions (web/src/pages/alerttimeline.js's pure part),
// in node without a browser: every edge of the range, and 1 000 transitions.
// Run: node --test tests/ui/alerttimeline.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { buildLanes, ticks, laneKey } from '../../web/src/pages/alerttimeline.js';

const FROM = 1_000_000, TO = 2_000_000;
const L = (name, extra = {}) => ({ alertname: name, severity: 'warning', ...extra });
const tr = (t, from, state, labels, value = 1) => ({ t, from, state, alertname: labels.alertname, labels, annotations: { summary: 's' }, value, active_at: t });
const bars = (lanes, i = 0) => lanes[i].bars.map((b) => [b.state, b.start, b.end, b.fromStart, b.open]);

test('pending then firing then resolved: two bars, no gap', () => {
  const a = L('A', { pod: 'p' });
  const lanes = buildLanes([tr(1_100_000, 'inactive', 'pending', a), tr(1_200_000, 'pending', 'firing', a), tr(1_300_000, 'firing', 'inactive', a)], { from: FROM, to: TO });
  assert.equal(lanes.length, 1);
  assert.equal(lanes[0].alertname, 'A');
  assert.deepEqual(bars(lanes), [['pending', 1_100_000, 1_200_000, false, false], ['firing', 1_200_000, 1_300_000, false, false]]);
});

test('still firing at the end of the range: the bar runs to its end', () => {
  const a = L('A');
  const lanes = buildLanes([tr(1_500_000, 'inactive', 'pending', a), tr(1_500_000, 'pending', 'firing', a)], { from: FROM, to: TO });
  // for: 0s — pending and firing in the same evaluation draw no pending bar
  assert.deepEqual(bars(lanes), [['firing', 1_500_000, TO, false, true]]);
});

test('firing at the start of the range (its first transition is firing → inactive): the bar starts at the range', () => {
  const a = L('A');
  const lanes = buildLanes([tr(1_400_000, 'firing', 'inactive', a)], { from: FROM, to: TO });
  assert.deepEqual(bars(lanes), [['firing', FROM, 1_400_000, true, false]]);
});

test('a pending alert that went away (pending → inactive) is a pending bar only', () => {
  const a = L('A');
  const lanes = buildLanes([tr(1_100_000, 'inactive', 'pending', a), tr(1_150_000, 'pending', 'inactive', a)], { from: FROM, to: TO });
  assert.deepEqual(bars(lanes), [['pending', 1_100_000, 1_150_000, false, false]]);
});

test('active through the whole range without a transition: a seed draws it from start to end', () => {
  const a = L('A'), b = L('B');
  const lanes = buildLanes([], { from: FROM, to: TO, seeds: [{ labels: a, state: 'firing', value: 3 }, { labels: b, state: 'pending' }] });
  assert.deepEqual(lanes.map((l) => l.alertname), ['A', 'B']);
  assert.deepEqual(bars(lanes, 0), [['firing', FROM, TO, true, true]]);
  assert.deepEqual(bars(lanes, 1), [['pending', FROM, TO, true, true]]);
  assert.equal(lanes[0].bars[0].value, 3);
});

test('a seed (the current state) gives way to the first transition in the range', () => {
  const a = L('A');
  // active now as firing, but it was pending at the start of the range and fired within it
  const lanes = buildLanes([tr(1_600_000, 'pending', 'firing', a)], { from: FROM, to: TO, seeds: [{ labels: a, state: 'firing' }] });
  assert.deepEqual(bars(lanes), [['pending', FROM, 1_600_000, true, false], ['firing', 1_600_000, TO, false, true]]);
});

test('one lane per label set: same alertname, other labels, other lanes; sorted by alertname', () => {
  const x = L('B', { namespace: 'x' }), y = L('B', { namespace: 'y' }), z = L('A');
  const lanes = buildLanes([tr(1_100_000, 'inactive', 'firing', x), tr(1_200_000, 'inactive', 'firing', y), tr(1_300_000, 'inactive', 'pending', z)], { from: FROM, to: TO });
  assert.deepEqual(lanes.map((l) => [l.alertname, l.labels.namespace]), [['A', undefined], ['B', 'x'], ['B', 'y']]);
  assert.equal(laneKey({ b: '1', a: '2' }), laneKey({ a: '2', b: '1' }));
});

test('1 000 transitions of 100 alerts: every period drawn, quickly', () => {
  const trs = [];
  const cycle = [['inactive', 'pending'], ['pending', 'firing'], ['firing', 'inactive']];
  for (let p = 0; p < 100; p++) {
    for (let k = 0; k < 10; k++) { // 3 whole cycles, then pending until the end
      const [f, s] = cycle[k % 3];
      trs.push(tr(FROM + 1000 + p * 7 + k * 90_000, f, s, L('Flap', { pod: `p${p}` })));
    }
  }
  trs.sort((a, b) => a.t - b.t);
  const t0 = performance.now();
  const lanes = buildLanes(trs, { from: FROM, to: TO });
  const ms = performance.now() - t0;
  assert.equal(lanes.length, 100);
  for (const l of lanes) {
    assert.deepEqual(l.bars.map((b) => b.state), ['pending', 'firing', 'pending', 'firing', 'pending', 'firing', 'pending']);
    assert.equal(l.bars.at(-1).end, TO);
    for (const b of l.bars) assert.ok(b.end > b.start && b.start >= FROM && b.end <= TO);
  }
  console.log(`# 1000 transitions → 700 bars in ${ms.toFixed(1)} ms`);
});

test('ticks fall inside the range, round, about six', () => {
  const from = Date.UTC(2026, 0, 1, 10, 3), to = from + 3600e3;
  const t = ticks(from, to);
  assert.ok(t.length >= 4 && t.length <= 8, t.length);
  for (const x of t) assert.ok(x >= from && x <= to && x % 60e3 === 0);
});
