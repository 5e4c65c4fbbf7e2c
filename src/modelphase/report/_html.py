"""The HTML and PNG pieces of the reports: escaped cells, number formats, tables, images."""

from __future__ import annotations

import base64
import html
import io
import math
from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

_DASH = "—"
_DPI = 90


def _esc(value: object) -> str:
    return html.escape(str(value), quote=True)


def _fmt(value: object, *, percent: bool = False) -> str:
    """A cell's text: NaN and None as a dash, floats to 3 decimals (fewer if large)."""
    if value is None or value is pd.NA or value is pd.NaT:
        return _DASH
    if isinstance(value, bool | np.bool_):
        return "yes" if value else "no"
    if isinstance(value, int | np.integer):
        return f"{int(value):,}"
    if isinstance(value, float | np.floating):
        v = float(value)
        if math.isnan(v):
            return _DASH
        if math.isinf(v):
            return "∞" if v > 0 else "−∞"
        if percent:
            return f"{v:.1%}"
        size = abs(v)
        if size >= 1000:
            return f"{v:,.0f}"
        if size >= 100:
            return f"{v:.1f}"
        return f"{v:.3f}" if size >= 0.01 or v == 0 else f"{v:.2e}"
    return _esc(value)


def _td(value: object, *, percent: bool = False) -> str:
    numeric = isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_
    )
    return (
        f'<td class="num">{_fmt(value, percent=percent)}</td>'
        if numeric
        else (f"<td>{_fmt(value)}</td>")
    )


def _table(
    head: Sequence[str], rows: Sequence[Sequence[str]], *, row_classes: Sequence[str] = ()
) -> str:
    out = ["<table>"]
    if head:
        out.append("<thead><tr>" + "".join(f"<th>{_esc(h)}</th>" for h in head) + "</tr></thead>")
    out.append("<tbody>")
    for i, cells in enumerate(rows):
        cls = row_classes[i] if i < len(row_classes) else ""
        out.append((f'<tr class="{cls}">' if cls else "<tr>") + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _none(text: str = "None.") -> str:
    return f'<p class="note">{_esc(text)}</p>'


def _img(uri: str, alt: str) -> str:
    return f'<img src="{uri}" alt="{_esc(alt)}">'


def _png(fig: Figure) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
