// units.js — formatting of values for people: CPU cores/millicores, binary
// bytes, rates, percentages, durations. Never returns NaN/undefined/Infinity:
// a missing or non-finite value formats as an em dash.

const DASH = '—';
const ok = (v) => typeof v === 'number' && Number.isFinite(v);

function trim(n, digits) {
  const s = n.toFixed(digits);
  return s.includes('.') ? s.replace(/\.?0+$/, '') : s;
}

/** CPU in cores: "250m" under one core, "1.25 cores" above. */
export function cores(v) {
  if (!ok(v)) return DASH;
  const a = Math.abs(v);
  if (a === 0) return '0';
  if (a < 0.001) return '<1m';
  if (a < 1) return `${Math.round(v * 1000)}m`;
  return `${trim(v, a < 10 ? 2 : a < 100 ? 1 : 0)} ${a === 1 ? 'core' : 'cores'}`;
}

const BIN = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
/** Bytes with binary prefixes. */
export function bytes(v) {
  if (!ok(v)) return DASH;
  let a = Math.abs(v), i = 0;
  while (a >= 1024 && i < BIN.length - 1) { a /= 1024; i++; }
  const d = i === 0 ? 0 : a < 10 ? 2 : a < 100 ? 1 : 0;
  return `${v < 0 ? '-' : ''}${trim(a, d)} ${BIN[i]}`;
}

export function bytesRate(v) { return ok(v) ? `${bytes(v)}/s` : DASH; }

/** A 0..1 fraction as a percentage. */
export function pct(v) {
  if (!ok(v)) return DASH;
  const p = v * 100;
  return `${trim(p, Math.abs(p) < 10 ? 1 : 0)}%`;
}

/** A plain number, short. */
export function num(v) {
  if (!ok(v)) return DASH;
  const a = Math.abs(v);
  if (a >= 1e9) return `${trim(v / 1e9, 2)}G`;
  if (a >= 1e6) return `${trim(v / 1e6, 2)}M`;
  if (a >= 1e4) return `${trim(v / 1e3, 1)}k`;
  if (Number.isInteger(v)) return String(v);
  return trim(v, a < 1 ? 3 : 2);
}

export function perSec(v) { return ok(v) ? `${num(v)}/s` : DASH; }

/** A duration in seconds, e.g. "3m 12s", "4h", "2d 3h". */
export function duration(s) {
  if (!ok(s)) return DASH;
  s = Math.max(0, Math.round(s));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${s % 60 ? ` ${s % 60}s` : ''}`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${Math.floor(s % 3600 / 60) ? ` ${Math.floor(s % 3600 / 60)}m` : ''}`;
  return `${Math.floor(s / 86400)}d${Math.floor(s % 86400 / 3600) ? ` ${Math.floor(s % 86400 / 3600)}h` : ''}`;
}

export function ago(s) { return ok(s) ? (s < 2 ? 'just now' : `${duration(s)} ago`) : DASH; }

export const UNIT = { cores, bytes, bytesRate, pct, num, perSec, duration };
