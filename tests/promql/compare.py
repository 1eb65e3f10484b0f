"""The comparer: one answer of Prometheus (the reference) against one answer of kmon to
the same request, returning None when they agree or a short readable explanation of the
first difference.

Agreement means: the same HTTP status; the same envelope (`status`, `errorType`,
`warnings`, the same keys); for errors the same message (exactly for bad_data, whose
text carries the parse position; execution errors with their label sets masked, because
Prometheus names whichever duplicate series it met first); the same `resultType`; the
same series (labels exactly) in the same order where Prometheus orders them (matrices
by labels; sort/sort_desc/topk/bottomk instant vectors by value) and as sets otherwise;
timestamps with exactly the same JSON text; values within 1e-9 relative (or both NaN, or
the same infinity), and where the values are the same float the same string, and every
kmon value string as Go's strconv formats it (what Prometheus' marshalValue writes).
"""
import json
import math
import re
from decimal import Decimal

REL_TOL = 1e-9


class Raw(str):
    """A JSON number kept as its text."""


def loads(body):
    return json.loads(body, parse_float=Raw, parse_int=Raw)


def go_format(v, always_f=False):
    """Prometheus' marshalValue for vector and matrix samples: strconv.AppendFloat(v,
    'e' if |v| < 1e-6 or |v| >= 1e21 (and v != 0) else 'f', -1, 64), with NaN, +Inf,
    -Inf. A scalar result is written by promql.Scalar.MarshalJSON instead, always with
    'f' (always_f): 1e21 is "1000000000000000000000", -1e-7 "-0.0000001"."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    if v == 0:
        return "-0" if math.copysign(1, v) < 0 else "0"
    d = Decimal(repr(v))  # shortest round-trip digits, as Go's precision -1
    sign, digits, exp = d.as_tuple()
    digits = "".join(map(str, digits)).rstrip("0") or "0"
    # value = 0.d1d2... * 10^(point) with point = len(all digits) + exp
    ndig = len(d.as_tuple().digits)
    point = ndig + exp
    s = "-" if sign else ""
    a = abs(v)
    if not always_f and (a < 1e-6 or a >= 1e21):
        e = point - 1
        mant = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{s}{mant}e{'-' if e < 0 else '+'}{abs(e):02d}"
    if point <= 0:
        return f"{s}0.{'0' * -point}{digits}"
    if point >= len(digits):
        return f"{s}{digits}{'0' * (point - len(digits))}"
    return f"{s}{digits[:point]}.{digits[point:]}"


def _num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def value_diff(ref, got, scalar=False):
    """None when two value strings agree, else why not."""
    if not isinstance(got, str) or isinstance(got, Raw):
        return f"value {got!r} is not a JSON string (Prometheus: {ref!r})"
    a, b = _num(ref), _num(got)
    if b is None:
        return f"value {got!r} is not a number (Prometheus: {ref!r})"
    if go_format(b, scalar) != got:
        return (f"value {got!r} is not formatted as Prometheus formats it "
                f"({go_format(b, scalar)!r}); Prometheus: {ref!r}")
    if math.isnan(a) and math.isnan(b):
        return None
    if a == b:
        if ref != got:
            return f"value {got!r} prints differently from Prometheus' {ref!r}"
        return None
    if math.isfinite(a) and math.isfinite(b) and \
            abs(a - b) <= REL_TOL * max(abs(a), abs(b)):
        return None
    return f"value {got!r}, Prometheus {ref!r}"


def labels_text(m):
    if not isinstance(m, dict):
        return repr(m)
    name = m.get("__name__", "")
    rest = ", ".join(f'{k}={json.dumps(v, ensure_ascii=False)}' for k, v in sorted(m.items())
                     if k != "__name__")
    return f"{name}{{{rest}}}"


def _key(m):
    return tuple(sorted(m.items())) if isinstance(m, dict) else ("<not an object>", repr(m))


def _point_diff(ref, got, what, scalar=False):
    if not (isinstance(got, list) and len(got) == 2):
        return f"{what}: {got!r} is not a [time, value] pair (Prometheus: {ref!r})"
    if not isinstance(got[0], Raw) or got[0] != ref[0]:
        return f"{what}: timestamp {got[0]!r}, Prometheus {ref[0]!r}"
    d = value_diff(ref[1], got[1], scalar)
    return f"{what} at {ref[0]}: {d}" if d else None


def _series_map(result, side):
    out = {}
    for s in result:
        if not isinstance(s, dict) or "metric" not in s:
            raise _Diff(f"{side}: a series without metric: {str(s)[:200]}")
        k = _key(s["metric"])
        if k in out:
            raise _Diff(f"{side} returns {labels_text(s['metric'])} twice")
        out[k] = s
    return out


class _Diff(Exception):
    pass


def _show(s):
    if "values" in s:
        v = s["values"]
        n = len(v) if isinstance(v, list) else "?"
        return f"({n} samples{', first ' + str(list(v[0])) if isinstance(v, list) and v else ''})"
    return f"= {list(s.get('value', []))}"


def _membership(ref, got, rmap, gmap):
    missing = [k for k in rmap if k not in gmap]
    extra = [k for k in gmap if k not in rmap]
    if missing or extra:
        msg = [f"{len(ref)} series from Prometheus, {len(got)} from kmon"]
        if missing:
            msg.append(f"missing in kmon ({len(missing)}), first: "
                       f"{labels_text(rmap[missing[0]]['metric'])} {_show(rmap[missing[0]])}")
        if extra:
            msg.append(f"extra in kmon ({len(extra)}), first: "
                       f"{labels_text(gmap[extra[0]]['metric'])} {_show(gmap[extra[0]])}")
        raise _Diff("; ".join(msg))


def _vector(ref, got, ordered):
    rmap = _series_map(ref, "Prometheus")
    gmap = _series_map(got, "kmon")
    _membership(ref, got, rmap, gmap)
    for k, rs in rmap.items():
        gs = gmap[k]
        if "value" not in gs:
            raise _Diff(f"{labels_text(rs['metric'])}: no \"value\" in kmon's series")
        d = _point_diff(rs["value"], gs["value"], labels_text(rs["metric"]))
        if d:
            raise _Diff(d)
    if ordered:
        for i, (rs, gs) in enumerate(zip(ref, got)):
            # Ties may permute, and 0 ties with -0 (each series' own value is checked
            # above, with its sign).
            a, b = _num(rs["value"][1]), _num(gs["value"][1])
            if a is not None and b is not None and a == b:
                continue
            if value_diff(rs["value"][1], gs["value"][1]) is not None:
                raise _Diff(f"order differs at position {i} (Prometheus orders this result): "
                            f"Prometheus {labels_text(rs['metric'])} = {rs['value'][1]}, "
                            f"kmon {labels_text(gs['metric'])} = {gs['value'][1]}")


def _matrix(ref, got):
    rmap = _series_map(ref, "Prometheus")
    gmap = _series_map(got, "kmon")
    if list(rmap) != list(gmap):
        if set(rmap) == set(gmap):
            i = next(i for i, (a, b) in enumerate(zip(rmap, gmap)) if a != b)
            raise _Diff(f"series order differs at position {i} (Prometheus sorts by labels): "
                        f"Prometheus {labels_text(ref[i]['metric'])}, kmon {labels_text(got[i]['metric'])}")
        _membership(ref, got, rmap, gmap)
    for k, rs in rmap.items():
        gs = gmap[k]
        rv, gv = rs.get("values", []), gs.get("values")
        if not isinstance(gv, list):
            raise _Diff(f"{labels_text(rs['metric'])}: no \"values\" list in kmon's series")
        rt = [p[0] for p in rv]
        gt = [p[0] if isinstance(p, list) and p else None for p in gv]
        if rt != gt:
            rset, gset = set(rt), set(gt)
            only_r = [t for t in rt if t not in gset]
            only_g = [t for t in gt if t not in rset]
            parts = []
            if only_r:
                parts.append(f"first only in Prometheus: {only_r[0]} ({rv[rt.index(only_r[0])][1]})")
            if only_g:
                parts.append(f"first only in kmon: {only_g[0]}")
            first = "; ".join(parts) or "the same timestamps in another order"
            raise _Diff(f"{labels_text(rs['metric'])}: {len(rv)} samples from Prometheus, "
                        f"{len(gv)} from kmon; {first}")
        for rp, gp in zip(rv, gv):
            d = _point_diff(rp, gp, labels_text(rs["metric"]))
            if d:
                raise _Diff(d)


_LABELSETS = re.compile(r"\{[^{}]*\}")


def _normalise_execution_error(msg):
    return _LABELSETS.sub("{…}", msg)


def text_diff(ref, got):
    """A text answer (/federate): (status, body bytes, Content-Type) the same, the body
    byte for byte; the first differing line is shown."""
    if ref[0] != got[0]:
        return f"HTTP status: Prometheus {ref[0]}, kmon {got[0]}\n    kmon: {got[1][:300]!r}"
    if ref[2] != got[2]:
        return f"Content-Type: Prometheus {ref[2]!r}, kmon {got[2]!r}"
    if ref[1] == got[1]:
        return None
    rl, gl = ref[1].split(b"\n"), got[1].split(b"\n")
    for i, (a, b) in enumerate(zip(rl, gl)):
        if a != b:
            return f"line {i + 1}:\n    Prometheus: {a!r}\n    kmon:       {b!r}"
    return f"{len(rl)} lines from Prometheus, {len(gl)} from kmon"


def diff(ref, got, kind="query", ordered=False):
    """ref, got: (http status, body bytes[, Content-Type]). kind: query (instant or
    range), series, labels, values, format_query, buildinfo, raw (compare data exactly),
    text (a text body, byte for byte, with its Content-Type)."""
    if kind == "text":
        return text_diff(ref, got)
    rs, rb = ref[:2]
    gs, gb = got[:2]
    try:
        rj = loads(rb)
    except ValueError:
        return f"Prometheus' answer is not JSON ({rs}): {rb[:300]!r}"
    try:
        gj = loads(gb)
    except ValueError:
        return f"kmon's answer is not JSON (HTTP {gs}): {gb[:300]!r}"
    if rs != gs:
        return (f"HTTP status: Prometheus {rs}, kmon {gs}\n    Prometheus: {_short(rj)}\n"
                f"    kmon:       {_short(gj)}")
    if not isinstance(gj, dict):
        return f"kmon's answer is not a JSON object: {_short(gj)}"
    if rj.get("status") != gj.get("status"):
        return (f"status: Prometheus {rj.get('status')!r}, kmon {gj.get('status')!r}\n"
                f"    Prometheus: {_short(rj)}\n    kmon:       {_short(gj)}")
    if set(rj) != set(gj):
        return f"envelope keys: Prometheus {sorted(rj)}, kmon {sorted(gj)}"
    if rj.get("warnings") != gj.get("warnings"):
        return f"warnings: Prometheus {rj.get('warnings')!r}, kmon {gj.get('warnings')!r}"
    if rj["status"] == "error":
        if rj.get("errorType") != gj.get("errorType"):
            return (f"errorType: Prometheus {rj.get('errorType')!r}, kmon {gj.get('errorType')!r}"
                    f"\n    Prometheus: {rj.get('error')}\n    kmon:       {gj.get('error')}")
        re_, ge = rj.get("error", ""), gj.get("error", "")
        if rj.get("errorType") != "bad_data":
            re_, ge = _normalise_execution_error(re_), _normalise_execution_error(str(ge))
        if re_ != ge:
            return f"error message differs\n    Prometheus: {rj.get('error')}\n    kmon:       {gj.get('error')}"
        return None
    rd, gd = rj.get("data"), gj.get("data")
    try:
        if kind == "query":
            if not isinstance(gd, dict):
                raise _Diff(f"data is not an object: {_short(gd)}")
            if set(rd) != set(gd):
                raise _Diff(f"data keys: Prometheus {sorted(rd)}, kmon {sorted(gd)}")
            if rd["resultType"] != gd["resultType"]:
                raise _Diff(f"resultType: Prometheus {rd['resultType']!r}, kmon {gd['resultType']!r}")
            t, r, g = rd["resultType"], rd["result"], gd["result"]
            if t == "vector":
                _vector(r, g, ordered)
            elif t == "matrix":
                _matrix(r, g)
            elif t == "scalar":
                d = _point_diff(r, g, "scalar", scalar=True)
                if d:
                    raise _Diff(d)
            elif t == "string":
                if r != g or type(r[0]) is not type(g[0]):
                    raise _Diff(f"string result: Prometheus {r!r}, kmon {g!r}")
        elif kind == "buildinfo":
            if not isinstance(gd, dict) or set(rd) != set(gd) or \
                    not all(isinstance(v, str) for v in gd.values()):
                raise _Diff(f"buildinfo shape: Prometheus keys {sorted(rd)}, kmon {_short(gd)}")
        else:
            if rd != gd:
                raise _Diff(_first_list_diff(rd, gd))
    except _Diff as e:
        return str(e)
    return None


def _first_list_diff(r, g):
    if isinstance(r, list) and isinstance(g, list):
        for i, (a, b) in enumerate(zip(r, g)):
            if a != b:
                return (f"{len(r)} items from Prometheus, {len(g)} from kmon; first difference "
                        f"at {i}: Prometheus {_short(a)}, kmon {_short(b)}")
        longer, who = (r, "Prometheus") if len(r) > len(g) else (g, "kmon")
        return (f"{len(r)} items from Prometheus, {len(g)} from kmon; first extra from {who}: "
                f"{_short(longer[min(len(r), len(g))])}")
    return f"data: Prometheus {_short(r)}, kmon {_short(g)}"


def _short(o, n=300):
    s = json.dumps(o, ensure_ascii=False)
    return s if len(s) <= n else s[:n] + "…"


def non_empty(status_body):
    """Whether a successful query answer holds any data."""
    st, body = status_body
    if st != 200:
        return False
    try:
        d = loads(body)["data"]
    except (ValueError, KeyError, TypeError):
        return False
    if d["resultType"] in ("vector", "matrix"):
        return len(d["result"]) > 0
    return True


def check_formats(status_body):
    """Every value string of a successful query answer as go_format prints it (a
    self-check of go_format against Prometheus); returns the first mismatch or None."""
    st, body = status_body
    if st != 200:
        return None
    d = loads(body)["data"]
    t, r = d["resultType"], d["result"]
    pts, scalar = [], t == "scalar"
    if t == "vector":
        pts = [s["value"] for s in r]
    elif t == "matrix":
        pts = [p for s in r for p in s["values"]]
    elif t == "scalar":
        pts = [r]
    for p in pts:
        if go_format(float(p[1]), scalar) != p[1]:
            return f"{p[1]!r} -> {go_format(float(p[1]), scalar)!r}"
    return None
