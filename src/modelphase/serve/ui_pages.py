"""The HTML of the dashboard at ``/ui``: pages built from plain data, escaped strictly.

Every value goes into a page through :func:`fmt`, which escapes each argument with
:func:`html.escape` (quotes included) unless it is already :class:`Safe` markup built
here; nothing else concatenates text into HTML, so a model name, an owner or a logged
reason with ``<script>`` in it is shown as text. Charts are inline SVG drawn here (a
handful of points, no plotting library needed), the style sheet is served from
``/ui/static/ui.css``, and no page has a script, so the Content-Security-Policy can
forbid scripts and inline styles altogether.

>>> str(fmt("<td>{}</td>", "<script>"))
'<td>&lt;script&gt;</td>'
"""

from __future__ import annotations

import html
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import quote

__all__ = ["CSS", "Safe", "fmt", "join", "page", "sparkline", "table", "verdict_strip"]


class Safe(str):
    """Markup built by this module (already escaped)."""


def _esc(value: Any) -> str:
    if isinstance(value, Safe):
        return value
    if value is None:
        return "–"
    if isinstance(value, float):
        return html.escape(f"{value:.4g}")
    return html.escape(str(value), quote=True)


def fmt(template: str, *args: Any) -> Safe:
    """``template`` (trusted, written here) with each ``{}`` filled by an escaped arg."""
    return Safe(template.format(*(_esc(a) for a in args)))


def join(parts: Iterable[Any], sep: str = "") -> Safe:
    return Safe(sep.join(_esc(p) for p in parts))


def model_href(name: str) -> str:
    return "/ui/model/" + quote(name, safe="")


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]], empty: str = "none") -> Safe:
    """A table; every cell escaped unless it is :class:`Safe`."""
    body = [join(fmt("<td>{}</td>", c) for c in row) for row in rows]
    if not body:
        return fmt('<p class="empty">{}</p>', empty)
    head = join(fmt("<th>{}</th>", h) for h in headers)
    rows_html = join(fmt("<tr>{}</tr>", r) for r in body)
    return fmt("<table><thead><tr>{}</tr></thead><tbody>{}</tbody></table>", head, rows_html)


_NAV = (("/ui", "Executive"), ("/ui/oncall", "On-call"))


def page(title: str, body: Safe, *, who: str | None = None, current: str = "") -> Safe:
    """A whole page: the header with the views and the logout button, then ``body``."""
    nav = join(
        fmt('<a href="{}"{}>{}</a>', href, Safe(' class="here"' if href == current else ""), label)
        for href, label in _NAV
    )
    user = (
        fmt(
            '<span class="who">{}</span><form method="post" action="/ui/logout">'
            '<button type="submit">Log out</button></form>',
            who,
        )
        if who is not None
        else Safe("")
    )
    return fmt(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>{} · modelphase</title><link rel="icon" href="data:,">'
        '<link rel="stylesheet" href="/ui/static/ui.css">'
        '</head><body><header><span class="brand">modelphase</span><nav>{}</nav>{}</header>'
        "<main><h1>{}</h1>{}</main></body></html>",
        title,
        nav if who is not None else Safe(""),
        user,
        title,
        body,
    )


_VERDICT_CLASS = {"healthy": "ok", "ok": "ok", "degraded": "warn", "unhealthy": "bad"}


def verdict_strip(verdicts: Sequence[str]) -> Safe:
    """The monitor's verdicts, oldest left, as a strip of dots (an SVG)."""
    if not verdicts:
        return Safe('<span class="empty">no verdict recorded</span>')
    dots = join(
        fmt(
            '<circle cx="{}" cy="8" r="5" class="{}"><title>{}</title></circle>',
            8 + 14 * i,
            _VERDICT_CLASS.get(v, "warn"),
            v,
        )
        for i, v in enumerate(verdicts)
    )
    width = 16 + 14 * (len(verdicts) - 1)
    return fmt(
        '<svg class="strip" width="{}" height="16" role="img" aria-label="health verdicts">'
        "{}</svg>",
        width,
        dots,
    )


def sparkline(values: Sequence[float], label: str, width: int = 160, height: int = 32) -> Safe:
    """A line of ``values`` (oldest first) with its last value, as an inline SVG."""
    finite = [v for v in values if v == v]
    if len(finite) < 2:
        return fmt(
            '<span class="empty">{}</span>', f"{label}: " + _esc(finite[-1] if finite else None)
        )
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    step = (width - 4) / (len(finite) - 1)
    points = " ".join(
        f"{2 + i * step:.1f},{height - 2 - (v - lo) / span * (height - 4):.1f}"
        for i, v in enumerate(finite)
    )
    return fmt(
        '<svg class="spark" width="{}" height="{}" role="img" aria-label="{}">'
        '<polyline points="{}"/></svg> <span class="num">{}: {}</span>',
        width,
        height,
        label,
        points,
        label,
        finite[-1],
    )


def share_bar(shares: Sequence[tuple[str, float]]) -> Safe:
    """Traffic shares by alias as one stacked horizontal bar (an SVG, 0..1)."""
    x = 0.0
    parts = []
    for alias, share in shares:
        w = max(0.0, min(1.0, share)) * 200
        parts.append(
            fmt(
                '<rect x="{}" y="0" width="{}" height="12" class="{}"><title>{} {}</title></rect>',
                f"{x:.1f}",
                f"{w:.1f}",
                alias if alias in ("production", "canary") else "other",
                alias,
                f"{share:.0%}",
            )
        )
        x += w
    return fmt(
        '<svg class="bar" width="200" height="12" role="img" aria-label="traffic share">{}</svg>',
        join(parts),
    )


CSS = """
:root { --fg:#1d232b; --muted:#5b6675; --line:#d9dee5; --ok:#1a7f37; --warn:#b7791f;
  --bad:#c62828; --accent:#1f5fbf; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui, sans-serif; color:var(--fg); background:#f6f8fa; }
header { display:flex; gap:1.5rem; align-items:center; padding:.6rem 1.2rem;
  background:#fff; border-bottom:1px solid var(--line); }
header nav { display:flex; gap:1rem; flex:1; }
header a { color:var(--accent); text-decoration:none; }
header a.here { font-weight:600; color:var(--fg); }
header form { margin:0; }
.brand { font-weight:700; }
.who { color:var(--muted); }
main { padding:1rem 1.2rem; max-width:1200px; }
h1 { font-size:1.4rem; margin:.2rem 0 1rem; }
h2 { font-size:1.1rem; margin:1.4rem 0 .5rem; }
table { border-collapse:collapse; background:#fff; width:100%; }
th, td { text-align:left; padding:.35rem .6rem; border-bottom:1px solid var(--line);
  vertical-align:top; }
th { background:#eef1f5; font-weight:600; }
td pre { margin:0; white-space:pre-wrap; word-break:break-all; max-width:40rem; }
.empty { color:var(--muted); }
.num { font-variant-numeric: tabular-nums; color:var(--muted); }
.ok { fill:var(--ok); color:var(--ok); } .warn { fill:var(--warn); color:var(--warn); }
.bad { fill:var(--bad); color:var(--bad); }
svg.spark polyline { fill:none; stroke:var(--accent); stroke-width:1.5; }
svg.bar rect.production { fill:var(--accent); } svg.bar rect.canary { fill:var(--warn); }
svg.bar rect.other { fill:var(--muted); }
form.login { background:#fff; padding:1rem; border:1px solid var(--line); max-width:28rem; }
form.login input { width:100%; padding:.4rem; margin:.3rem 0 .8rem; font:inherit; }
.error { color:var(--bad); }
dl { display:grid; grid-template-columns:max-content 1fr; gap:.2rem 1rem; }
dt { color:var(--muted); } dd { margin:0; }
"""
