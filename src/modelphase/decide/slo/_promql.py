"""Text as Sloth and Prometheus write it: Go's float formatting, Prometheus durations,
label filters, and the ``{{.window}}`` template of an SLI query.

Sloth is written in Go, and dashboards and alerts built for it match its text exactly
(``slo:sli_error:ratio_rate30d``, ``vector(0.9990000000000001)``), so these mirror Go's
``fmt`` and ``prometheus/common/model`` rather than Python's defaults.

>>> go_g(14.4), go_g((100 - 99.9) / 100), go_g(30.0), go_g(1e-05), go_g(2e6)
('14.4', '0.0009999999999999432', '30', '1e-05', '2e+06')
>>> prom_duration(30 * 86_400), prom_duration(28 * 86_400), prom_duration(5_040)
('30d', '4w', '1h24m')
>>> render_window("sum(rate(x[{{.window}}])) / sum(rate(x[{{ .window }}]))", 300)
'sum(rate(x[5m])) / sum(rate(x[5m]))'
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal

__all__ = [
    "go_f",
    "go_g",
    "label_filter",
    "prom_duration",
    "quote",
    "render_window",
    "template_problem",
    "windowed",
]

#: ``{{.window}}`` as Go's text/template reads it (spaces and trim markers allowed)
WINDOW_RE = re.compile(r"\{\{-?\s*\.window\s*-?\}\}")
_ACTION_RE = re.compile(r"\{\{.*?\}\}", re.S)

_DURATION_UNITS = (
    ("y", 365 * 86_400_000, True),
    ("w", 7 * 86_400_000, True),
    ("d", 86_400_000, False),
    ("h", 3_600_000, False),
    ("m", 60_000, False),
    ("s", 1_000, False),
    ("ms", 1, False),
)


def _digits(x: float) -> tuple[str, int, str]:
    """The sign, the shortest round-tripping digits and the decimal exponent of ``x``."""
    sign, digits, exponent = Decimal(repr(x)).normalize().as_tuple()
    text = "".join(map(str, digits)) or "0"
    assert isinstance(exponent, int)
    return ("-" if sign else ""), exponent + len(text) - 1, text


def go_g(x: float) -> str:
    """``x`` as Go's ``%g`` and ``%v`` print a float64: the shortest digits that read
    back to ``x``, in exponent form below 1e-4 and from 1e6 up."""
    if x == 0:
        return "0"
    sign, exp, digits = _digits(x)
    if exp < -4 or exp >= 6:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{sign}{mantissa}e{'-' if exp < 0 else '+'}{abs(exp):02d}"
    return sign + go_f(abs(x))


def go_f(x: float) -> str:
    """``x`` as Go's ``strconv.FormatFloat(x, 'f', -1, 64)``: positional, shortest."""
    text = format(Decimal(repr(x)).normalize(), "f")
    return text if "." not in text else text.rstrip("0").rstrip(".")


def prom_duration(seconds: int) -> str:
    """A duration as Prometheus writes it (``model.Duration.String``): years and weeks
    only when exact, so 30 days is ``30d`` and 28 days ``4w``."""
    ms = seconds * 1000
    if ms == 0:
        return "0s"
    out = ""
    for unit, size, exact in _DURATION_UNITS:
        if exact and ms % size:
            continue
        if ms >= size:
            out += f"{ms // size}{unit}"
            ms %= size
    return out


def quote(value: str) -> str:
    """A label value as a double-quoted PromQL string (Go's ``%q`` for the usual text)."""
    out = []
    for ch in value:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\t":
            out.append("\\t")
        elif ch == "\r":
            out.append("\\r")
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\x{ord(ch):02x}")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def label_filter(labels: Mapping[str, str]) -> str:
    """``{a="1", b="2"}``: a selector's matchers, sorted, as Sloth writes them."""
    return "{" + ", ".join(f"{k}={quote(labels[k])}" for k in sorted(labels)) + "}"


def render_window(query: str, seconds: int) -> str:
    """The query with every ``{{.window}}`` replaced by the window's duration."""
    return WINDOW_RE.sub(prom_duration(seconds), query)


def template_problem(query: str) -> str:
    """Why a query is not a template Sloth could render ("" when it is): only
    ``{{.window}}`` may appear between double braces."""
    for action in _ACTION_RE.findall(WINDOW_RE.sub("", query)):
        return f"a template action other than {{{{.window}}}}: {action}"
    if "{{" in WINDOW_RE.sub("", query):
        return "an unclosed {{"
    return ""


#: a bare selector: ``name``, ``name{...}`` or ``{...}`` (matcher values may hold braces)
_MATCHERS = r"""\{(?:[^{}"']|"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')*\}"""
_SELECTOR = rf"(?:[a-zA-Z_:][a-zA-Z0-9_:]*\s*(?:{_MATCHERS})?|{_MATCHERS})"
_GROUPING = r"(?:\s*(?:by|without)\s*\([^()]*\))?"
_BARE_RE = re.compile(rf"\s*(?P<sel>{_SELECTOR})\s*")
_SUM_RE = re.compile(
    rf"\s*sum(?P<pre>{_GROUPING})\s*\(\s*(?P<sel>{_SELECTOR})\s*\)(?P<post>{_GROUPING})\s*"
)


def windowed(query: str, *, counter: bool) -> str | None:
    """A query without ``{{.window}}`` (OpenSLO's style) made into one over the window:

    - a counter given as a bare selector or ``sum [by (...)] (selector)`` becomes
      ``sum [by (...)] (rate(selector[{{.window}}]))``;
    - anything that is not a counter becomes ``avg_over_time((query)[{{.window}}:])``,
      the query's mean over the window (a subquery, so any PromQL works);
    - a counter in any other shape cannot be made into a rate: None.

    >>> windowed('http_requests_total{code="200"}', counter=True)
    'sum(rate(http_requests_total{code="200"}[{{.window}}]))'
    >>> windowed('sum by (job) (http_requests_total)', counter=True)
    'sum by (job) (rate(http_requests_total[{{.window}}]))'
    >>> windowed('up{job="api"}', counter=False)
    'avg_over_time((up{job="api"})[{{.window}}:])'
    """
    if WINDOW_RE.search(query):
        return query
    if not counter:
        return f"avg_over_time(({query.strip()})[{{{{.window}}}}:])"
    bare = _BARE_RE.fullmatch(query)
    if bare:
        return f"sum(rate({bare['sel'].strip()}[{{{{.window}}}}]))"
    summed = _SUM_RE.fullmatch(query)
    if summed:
        grouping = (summed["pre"] or summed["post"]).strip()
        head = f"sum {grouping} (" if grouping else "sum("
        return f"{head}rate({summed['sel'].strip()}[{{{{.window}}}}]))"
    return None
