// tests/ui/logquery.test.mjs — the Logs page's LogQL text helpers (web/src/pages/logquery.js)
// in node without a browser: selectors read past braces and quotes inside strings, the
// global namespace filter added to and taken out of a query, pickers' matchers, the line
// filter's quoting, the volume step, levels and parsed fields of real-looking lines.
// Run: node --test tests/ui/logquery.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as L from '../../web/src/pages/logquery.js';

test('selectors: every stream selector, strings with braces and quotes skipped', () => {
  const q = 'sum(count_over_time({app=`x}`, b!~"y\\"}"} |= "{c=\\"d\\"}" [1m])) / sum(count_over_time({app="z"}[1m]))';
  const s = L.selectors(q);
  assert.deepEqual(s.map((x) => x.matchers.map((m) => [m.name, m.op, m.value])), [[['app', '=', 'x}'], ['b', '!~', 'y"}']], [['app', '=', 'z']]]);
  assert.equal(q.slice(s[1].start, s[1].end), '{app="z"}');
  assert.equal(L.selectors('{a="unterminated}')[0].matchers, null);
});

test('effective: the filter\'s namespace and cluster in every selector; nothing stored → the filter\'s streams', () => {
  assert.equal(L.effective('', { namespace: 'shop' }), '{namespace="shop"}');
  assert.equal(L.effective('', {}), '{namespace=~".+"}');
  assert.equal(L.effective('{pod="web-1"} |= "a}b"', { namespace: 'shop', cluster: 'eu' }), '{cluster="eu", namespace="shop", pod="web-1"} |= "a}b"');
  assert.equal(L.effective('{namespace="other"}', { namespace: 'shop' }), '{namespace="other"}', 'a typed namespace="x" wins');
  assert.equal(L.effective('rate({pod="a"}[1m]) / rate({pod="b"}[1m])', { namespace: 'n' }), 'rate({namespace="n", pod="a"}[1m]) / rate({namespace="n", pod="b"}[1m])');
});

test('split: the typed namespace moves to the filter, the rest is stored; round trip', () => {
  assert.deepEqual(L.split('{namespace="shop", pod="web"} | json | status >= 500'), { stored: '{pod="web"} | json | status >= 500', namespace: 'shop' });
  assert.deepEqual(L.split('{namespace="shop"}'), { stored: '', namespace: 'shop' });
  assert.deepEqual(L.split('{namespace=~"sh.*"}'), { stored: '{namespace=~"sh.*"}', namespace: '' });
  for (const [stored, ns] of [['{pod="a"} |= "x"', 'n1'], ['', 'n2'], ['{container="c"}', '']]) {
    const s = L.split(L.effective(stored, { namespace: ns }));
    assert.deepEqual(s, { stored, namespace: ns });
  }
});

test('setMatcher, matcherValue, withLineFilter, addFilter', () => {
  assert.equal(L.setMatcher('', 'pod', 'web-1'), '{pod="web-1"}');
  assert.equal(L.setMatcher('{pod="a", container="c"} | json', 'container', ''), '{pod="a"} | json');
  assert.equal(L.setMatcher('{pod="a"}', 'pod', 'b"q'), '{pod="b\\"q"}');
  assert.equal(L.matcherValue('{pod="a", container="c"}', 'container'), 'c');
  assert.equal(L.matcherValue('{pod=~"a"}', 'pod'), '');
  assert.equal(L.withLineFilter('{a="b"}', 'say "hi" \\o/'), '{a="b"} |= "say \\"hi\\" \\\\o/"');
  assert.equal(L.withLineFilter('sum(count_over_time({a="b"}[1m]))', 'x'), 'sum(count_over_time({a="b"}[1m]))', 'a metric query takes no line filter');
  assert.equal(L.addFilter('{a="b"}', 'pod', 'p', true, true), '{a="b", pod!="p"}');
  assert.equal(L.addFilter('{a="b"}', 'status', '503', false, false, 'json'), '{a="b"} | json | status="503"');
  assert.equal(L.addFilter('{a="b"} | json', 'status', '503', true, false, 'json'), '{a="b"} | json | status!="503"');
  assert.equal(L.addFilter('{a="b"}', 'source', 'x.go:1', false, false, 'klog'), '{a="b"} |= "x.go:1"');
});

test('volume step: 60 to 120 bars in round units; its query', () => {
  for (const span of [300, 900, 3600, 6 * 3600, 86400, 7 * 86400]) {
    const step = L.volumeStep(span);
    assert.ok(span / step >= 50 && span / step <= 120, `${span}s → ${step}s: ${span / step} bars`);
  }
  assert.equal(L.volumeQuery('{a="b"} |= "x"', 60), 'sum by (level, stream) (count_over_time({a="b"} |= "x" [60s]))');
  assert.equal(L.isMetric('  {a="b"}'), false);
  assert.equal(L.isMetric('sum by (a) (rate({a="b"}[1m]))'), true);
});

test('levels and parsed fields of JSON, logfmt, klog, Java and plain lines', () => {
  const cases = [
    ['{"level":"WARNING","msg":"x"}', {}, 'warn'],
    ['{"severity":"error","msg":"x"}', {}, 'error'],
    ['ts=2026-12-06T05:00:00Z level=debug msg="polled"', {}, 'debug'],
    ['E1206 05:00:00.123456       1 reflector.go:158] "Unhandled Error"', {}, 'error'],
    ['W1206 05:00:00.123456       1 proxier.go:1046] slow', {}, 'warn'],
    ['2026-12-06 05:00:00.123  INFO 1 --- [main] c.e.App : started', {}, 'info'],
    ['java.lang.IllegalStateException: boom\n\tat a.b.C.d(C.java:1)', {}, 'error'],
    ['panic: runtime error: index out of range', {}, 'error'],
    ['plain words', { stream: 'stderr' }, 'stderr'],
    ['plain words', { stream: 'stdout' }, ''],
    ['{"level":"info"}', { level: 'error' }, 'error'],
    ['information about INFORMATION', {}, ''],
  ];
  for (const [line, labels, want] of cases) assert.equal(L.levelOf(line, labels), want, line);
  assert.deepEqual(L.parsed('{"http":{"status":503,"path":"/x"},"ok":true,"n":null}'), { parser: 'json', fields: [['http_status', '503'], ['http_path', '/x'], ['ok', 'true'], ['n', '']] });
  assert.deepEqual(L.parsed('ts=1 level=info msg="a b" k.v=2'), { parser: 'logfmt', fields: [['ts', '1'], ['level', 'info'], ['msg', 'a b'], ['k_v', '2']] });
  assert.equal(L.parsed('I1206 05:00:00.123456       1 proxier.go:812] done').parser, 'klog');
  assert.equal(L.parsed('just text'), null);
  assert.equal(L.parsed('[1,2]'), null);
});
