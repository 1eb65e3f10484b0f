"""The query corpus (queries.txt) and the allow-list (divergences.txt): parsing, and the
expansion of every entry into the requests the comparer sends to both servers.

queries.txt, one entry a line:

  # comment                         blank lines and comments are ignored
  [section]                         starts a section (its name is what -k also matches)
  [section] ;; OPTIONS              a section with default options for its entries
  EXPR                              a PromQL query, run with the current defaults
  EXPR ;; OPTIONS                   ... with options (separated by ";")
  %series|%labels|%values NAME|%buildinfo  PARAM=VALUE && PARAM=VALUE ...
                                    a metadata request with its parameters
  %metadata PARAMS                  GET /api/v1/metadata (the dataset carries no metric
                                    metadata, which Prometheus' receiver would drop: the
                                    envelope, empty data and errors are compared)
  %federate PARAMS                  GET /federate, compared byte for byte with its
                                    Content-Type (at "now", past the dataset's end, so
                                    the entries stick to answers that do not depend on
                                    the clock: errors and selectors matching nothing)
  %promtool ARGS...                 promtool query ... against both (see below)

OPTIONS (a query inherits the section's, which inherit the file's defaults):
  instant T1,T2     evaluation times for /api/v1/query; "instant -" for none
  range A..B/STEP   a /api/v1/query_range evaluation; "range -" for none
  ordered           compare an instant vector in order (automatic for an outermost
                    sort, sort_desc, and topk/bottomk without grouping); "unordered"
  methods get|post|both   how the requests are sent (default: instant GET, range POST,
                    and both for every entry whose index is a multiple of 4)
  promtool          also compare `promtool query instant|range` output
  empty             the query is meant to return nothing (kept out of the
                    non-empty statistics' complaints)

Times are offsets from the dataset's start S (a whole hour): 2h10m7.25s, 90m, 0, -5m;
a value starting with "=" is sent literally (=abc, =1m). {{t:OFFSET}} in a query or a
parameter is replaced by the absolute Unix time of S+OFFSET in seconds.

divergences.txt, one accepted divergence a line:

  EXPR => REASON                    every check of that query is skipped and listed
  @CHECK EXPR => REASON             only that check (instant, range, format_query,
                                    promtool, series, labels, values, metadata, federate)
  @CHECK * => REASON                that check for every query

EXPR is the query exactly as written in queries.txt (before {{t:}} substitution), and
for metadata and promtool lines the whole line (%series ...). The reason says why the
divergence is accepted and matches docs/promql.md.
"""
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULTS = {"instant": ["2h10m7.25s"], "range": ("1h", "2h59m", "1m"), "ordered": None,
            "methods": None, "promtool": False, "empty": False}

_DUR = re.compile(r"(-?)((?:\d+(?:\.\d+)?(?:ms|[smhdwy]))+|\d+(?:\.\d+)?)$")
_UNIT = {"ms": 1, "s": 1000, "m": 60000, "h": 3600000, "d": 86400000, "w": 604800000,
         "y": 31536000000}


def offset_ms(text):
    text = text.strip()
    m = _DUR.match(text)
    if not m:
        raise ValueError(f"bad time offset {text!r}")
    sign, body = m.group(1), m.group(2)
    if re.fullmatch(r"\d+(?:\.\d+)?", body):
        ms = round(float(body) * 1000)
    else:
        ms = 0
        for num, unit in re.findall(r"(\d+(?:\.\d+)?)(ms|[smhdwy])", body):
            ms += round(float(num) * _UNIT[unit])
    return -ms if sign else ms


def abs_seconds(start_ms, text):
    """The request parameter for a time: literal after '=', else S + offset in seconds."""
    if text.startswith("="):
        return text[1:]
    ms = start_ms + offset_ms(text)
    return str(ms // 1000) if ms % 1000 == 0 else f"{ms / 1000:.3f}"


def step_param(text):
    if text.startswith("="):
        return text[1:]
    ms = offset_ms(text)
    return str(ms // 1000) if ms % 1000 == 0 else f"{ms / 1000:.3f}"


def substitute(start_ms, text):
    return re.sub(r"\{\{t:([^}]*)\}\}", lambda m: abs_seconds(start_ms, m.group(1)), text)


class Entry:
    def __init__(self, text, section, options, lineno, index):
        self.text = text
        self.section = section
        self.opts = options
        self.lineno = lineno
        self.index = index

    @property
    def is_query(self):
        return not self.text.startswith("%")

    def ordered(self):
        if self.opts["ordered"] is not None:
            return self.opts["ordered"]
        return auto_ordered(self.text)


def _balanced_call(expr, name_re):
    """Whether expr is entirely one call of a function matched by name_re, the
    argument list closing at the very end (grouping clauses allowed before or after)."""
    m = re.match(rf"\s*({name_re})\s*(?:(?:by|without)\s*\([^)]*\)\s*)?\(", expr)
    if not m:
        return None
    depth, i, q = 0, m.end() - 1, None
    while i < len(expr):
        c = expr[i]
        if q:
            if c == "\\":
                i += 1
            elif c == q:
                q = None
        elif c in "\"'`":
            q = c
        elif c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                rest = expr[i + 1:].strip()
                return m.group(1), rest, expr[m.start(1):m.end()]
        i += 1
    return None


def auto_ordered(expr):
    call = _balanced_call(expr, r"sort_desc|sort|topk|bottomk")
    if not call:
        return False
    name, rest, head = call
    if name in ("sort", "sort_desc"):
        return rest == ""
    grouped = re.search(r"\b(by|without)\s*\(", head) or re.match(r"(by|without)\b", rest)
    return not grouped and (rest == "")


def _parse_options(text, base):
    opts = dict(base)
    for part in [p.strip() for p in text.split(";") if p.strip()]:
        word, _, arg = part.partition(" ")
        arg = arg.strip()
        if word == "instant":
            opts["instant"] = [] if arg == "-" else [a.strip() for a in arg.split(",")]
        elif word == "range":
            if arg == "-":
                opts["range"] = None
            else:
                m = re.fullmatch(r"(\S+)\.\.(\S+)/(\S+)", arg)
                if not m:
                    raise ValueError(f"bad range {arg!r} (want A..B/STEP)")
                opts["range"] = m.groups()
        elif word == "ordered":
            opts["ordered"] = True
        elif word == "unordered":
            opts["ordered"] = False
        elif word == "methods":
            if arg not in ("get", "post", "both"):
                raise ValueError(f"bad methods {arg!r}")
            opts["methods"] = arg
        elif word == "promtool":
            opts["promtool"] = True
        elif word == "empty":
            opts["empty"] = True
        else:
            raise ValueError(f"unknown option {word!r}")
    return opts


def load(path=None):
    path = path or os.path.join(HERE, "queries.txt")
    entries, section, sect_opts = [], "", dict(DEFAULTS)
    seen = {}
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            try:
                if re.match(r"\[[A-Za-z]", line):
                    m = re.match(r"\[([A-Za-z][\w .-]*)\]\s*(?:;;(.*))?$", line)
                    if not m:
                        raise ValueError("bad section line")
                    section = m.group(1).strip()
                    sect_opts = _parse_options(m.group(2) or "", DEFAULTS)
                    continue
                text, _, opt = line.partition(" ;; ")
                text = text.strip()
                opts = _parse_options(opt, sect_opts)
            except ValueError as e:
                raise SystemExit(f"{path}:{lineno}: {e}")
            if text in seen:
                raise SystemExit(f"{path}:{lineno}: duplicate entry (first at line {seen[text]})")
            seen[text] = lineno
            entries.append(Entry(text, section, opts, lineno, len(entries)))
    return entries


class Allow:
    def __init__(self, path=None):
        self.path = path or os.path.join(HERE, "divergences.txt")
        self.entries = []  # (check or None, expr or "*", reason, lineno)
        if os.path.exists(self.path):
            with open(self.path, encoding="utf-8") as f:
                for lineno, line in enumerate(f, 1):
                    line = line.rstrip("\n")
                    if not line.strip() or line.lstrip().startswith("#"):
                        continue
                    if " => " not in line:
                        raise SystemExit(f"{self.path}:{lineno}: want 'EXPR => REASON'")
                    expr, _, reason = line.rpartition(" => ")
                    check = None
                    if expr.startswith("@"):
                        check, _, expr = expr[1:].partition(" ")
                    self.entries.append((check, expr.strip(), reason.strip(), lineno))
        self.used = set()

    def reason(self, check, expr):
        for i, (c, e, r, _) in enumerate(self.entries):
            if (c is None or c == check) and (e == "*" or e == expr):
                self.used.add(i)
                return r
        return None

    def unused(self):
        return [e for i, e in enumerate(self.entries) if i not in self.used]
