"""Step 10 of ``modelphase demo``: the loop acting by itself on a regime change.

The simulator continues the demo's week with a persisting regime change (a traffic mix
shift and a latency regression, from the first minute after the training data). The
demo replays it through the running server hour by hour, as its callers would: every
series' recent values to ``POST /v1/models/NAME/forecast``, answered by production (and
the shadow and canary when there are), logged in the decision log. Every two simulated
hours the monitor makes one pass over what the server logged and the telemetry that
arrived: it finds the forecaster degraded, retrains it on the fresh data, shadows,
canaries and promotes the new version, or rolls it back. The timeline is printed with
the retrain lag, in simulated time.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import httpx
from rich.markup import escape
from rich.table import Table

from modelphase.cli._registry import open_database_registry
from modelphase.cli._render import err, out, progress
from modelphase.config import get_settings
from modelphase.decisions import read_decisions
from modelphase.frame import NS_PER_SECOND, format_time
from modelphase.monitor import Monitor
from modelphase.monitor.replay import forecast_bodies, post_forecasts, upto
from modelphase.registry import Registry
from modelphase.simulate import RegimeChange, simulate
from modelphase.spec import ModelSpec

__all__ = ["loop_step"]

HOUR = 3600 * NS_PER_SECOND
#: a monitor pass every this many replayed hours
PASS_EVERY = 2


@dataclass
class Row:
    hours: float
    verdict: str
    phase: str
    what: str


def loop_step(
    base: str,
    token: str,
    spec: ModelSpec,
    *,
    start_ns: int,
    services: int,
    days: float,
    seed: int,
    after_days: float,
) -> None:
    """Replay ``after_days`` of a regime change through the server at ``base`` (a viewer
    ``token``) and let the monitor act on it; print what it did and when."""
    change_ns = start_ns + int(days * 86_400 * NS_PER_SECOND)
    with err.status("simulating what comes after the week: a regime change"):
        sim = simulate(
            services=services,
            days=days + after_days,
            seed=seed,
            regime_change=RegimeChange(start=change_ns),
        )
    changed = [e for e in sim.events if e.kind == "regime_change"]
    what = changed[0].description.partition(": ")[2]
    err.print(
        f"[bold]13. a regime change[/] at {format_time(changed[0].start)} in "
        f"{len(changed)} service(s): {escape(what)}; replaying {after_days:g} days of "
        f"requests through the server, the monitor judging every {PASS_EVERY} simulated hours"
    )
    history = _history(spec)
    reg = open_database_registry("the monitor's state")  # the demo's own: SQLite
    now = {"t": change_ns}
    monitor = Monitor(
        reg,
        decisions=get_settings().home / "decisions",
        actuals=lambda version, spec_: upto(sim.panel, now["t"]),
        holder="modelphase-demo",
    )
    rows: list[Row] = []
    promoted_at: float | None = None
    logged = {"answers": 0, "shadows": 0}  # what the decision log should hold
    ticks = int(after_days * 24)
    client = httpx.Client(base_url=base, headers={"authorization": f"Bearer {token}"}, timeout=60)
    with reg, client, progress("replaying hours after the change", ticks) as update:
        for tick in range(1, ticks + 1):
            now["t"] = change_ns + tick * HOUR
            bodies = forecast_bodies(sim.panel, now["t"], history=history, h=spec.horizon)
            sent = post_forecasts(client, spec.name, bodies)
            logged["answers"] += sent.answered
            if "shadow" in reg.live(spec.name):  # the shadow answers what it did not serve
                logged["shadows"] += (sent.by_alias or {}).get("production", 0)
            update(tick, ticks)
            if tick % PASS_EVERY:
                continue
            _flushed(spec.name, logged)
            report = monitor.run_once()
            model = next((m for m in report.models if m.name == spec.name), None)
            if model is None:
                continue
            if model.actions or model.verdict == "degraded" or tick == PASS_EVERY:
                what = "; ".join(model.actions) or (model.reasons[0] if model.reasons else "")
                rows.append(Row(tick, model.verdict, model.phase, what))
            if any(a.startswith("promoted") for a in model.actions) and promoted_at is None:
                promoted_at = float(tick)
            if model.actions:
                _follow(client, reg, spec.name)
        live = reg.live(spec.name)
    _show(rows, spec.name, live, promoted_at)


def _history(spec: ModelSpec) -> int:
    """Values a request carries: three days and an hour, enough for the example spec's
    3-day window average of daily seasons (and, at one minute with six significant
    digits, under the 64 KiB past which a request is heavy and has no shadow)."""
    return int((3 * 86_400 + 3_600) * NS_PER_SECOND // spec.frequency_ns)


def _flushed(name: str, logged: dict[str, int]) -> None:
    """Wait until the server's decision log (flushed every second, the shadow's calls
    after the answers) holds every answer so far and, bounded, the shadow's too."""
    folder = get_settings().home / "decisions"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if folder.exists():
            frame = read_decisions(folder, model=name)
            shadows = int((frame["alias"] == "shadow").sum()) if len(frame) else 0
            if len(frame) - shadows >= logged["answers"] and shadows >= logged["shadows"]:
                return
        time.sleep(0.1)


def _follow(client: httpx.Client, reg: Registry, name: str) -> None:
    """Wait until the server serves what the registry now says (it reloads every 2 s)."""
    held = reg.live(name)
    share = next((m.shares.get("canary") for m in reg.models() if m.name == name), None)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        route = _route(client, name)
        if route is not None:
            versions = {a: v["version"] for a, v in route["aliases"].items()}
            if versions == held and (share is None or route["canary_share"] == share):
                return
        time.sleep(0.2)


def _route(client: httpx.Client, name: str) -> dict[str, Any] | None:
    reply = client.get("/v1/models")
    if reply.status_code != 200:
        return None
    return next((m for m in reply.json()["models"] if m["name"] == name), None)


def _show(rows: list[Row], name: str, live: dict[str, int], promoted_at: float | None) -> None:
    table = Table(title=f"the monitor on {name}, hours after the change", title_justify="left")
    for col in ("hour", "verdict", "phase", "what it saw or did"):
        table.add_column(col, justify="right" if col == "hour" else "left", overflow="fold")
    for r in rows:
        table.add_row(f"+{r.hours:g}", r.verdict, r.phase, escape(r.what))
    out.print(table)
    first = next((r.hours for r in rows if r.verdict == "degraded"), None)
    moves = [m for r in rows for m in r.what.split("; ") if r.what]
    retrains = sum(m.startswith("retrained") for m in moves)
    rolled = sum(m.startswith("rolled back") for m in moves)
    if promoted_at is not None:
        err.print(
            f"[bold]14. the loop acted by itself[/]: degraded at +{first:g} h, retrained and "
            f"promoted at +{promoted_at:g} h (retrain lag {promoted_at:g} h from the change); "
            f"{name} now serves {live}. `modelphase models history {name}` shows each move "
            "with its evidence"
        )
    elif retrains:
        err.print(
            f"[bold]14. the loop acted by itself[/]: degraded at +{first:g} h, {retrains} "
            f"retrain(s), {rolled} rolled back, none promoted within the replay ({name} "
            f"serves {live}): a retrained version must pass its gates, then beat production "
            f"in shadow and canary. `modelphase models history {name}` shows each move with "
            "its evidence"
        )
    else:
        err.print(
            f"[bold]14. the loop[/]: no promotion within the replay ({name}: {live}); "
            f"`modelphase monitor status` and `modelphase models health {name}` say why"
        )
