"""A real Prometheus server on loopback, backfilled with known data.

:func:`make_history` builds deterministic telemetry (six series over nine days at a 60 s
step) as OpenMetrics text plus the samples a reader must get back;
:class:`PrometheusServer` backfills such text with ``promtool tsdb create-blocks-from
openmetrics`` and serves it from a ``prometheus`` process on ``127.0.0.1``.
:func:`start_history_server` does both, for a session-scoped fixture::

    @pytest.fixture(scope="session")
    def prometheus_history(tmp_path_factory):
        server, history = start_history_server(tmp_path_factory.mktemp("prometheus"))
        with server:
            yield server, history

>>> labels = {"__name__": "up", "job": "api"}
>>> print(write_openmetrics({'up{job="api"}': (labels, [60_000_000_000], [1.0])}), end="")
# TYPE up gauge
up{job="api"} 1.0 60
# EOF

Quirks of Prometheus 2.42 that the data and the server work around:

- ``promtool`` silently drops a sample that is out of order or repeats a timestamp, and
  accepts bad escapes and samples whose name does not match their ``# TYPE``: so
  :func:`write_openmetrics` checks all that itself.
- A query at time ``t`` returns the newest sample in ``[t - lookback, t]`` (both ends
  included in 2.x), 5 min by default: an aligned ``query_range`` at a 60 s step fills
  the first 5 points of a hole with the last value. :func:`start_history_server` runs
  Prometheus with a 59 s lookback so that it returns exactly the stored samples;
  :func:`simulate_query_range` gives what any other lookback returns.
- ``query_range`` refuses more than 11,000 steps: ``(end - start) / step <= 11000``, so
  one request yields at most 11,001 points.
- Time-based retention counts back from the newest block, not from the wall clock, and
  the backfilled blocks are the only data (nothing is scraped), so old data survives;
  the server still runs with a long retention to be safe.
"""

from __future__ import annotations

import atexit
import math
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx
import numpy as np
import pytest
from numpy.typing import ArrayLike, NDArray

from modelphase.frame import NS_PER_SECOND, series_id
from support.net import free_port

__all__ = [
    "STEP_NS",
    "History",
    "PrometheusServer",
    "find_binaries",
    "make_history",
    "simulate_query_range",
    "start_history_server",
    "write_openmetrics",
]

Samples = tuple[NDArray[np.int64], NDArray[np.float64]]

STEP_NS = 60 * NS_PER_SECOND
DAY_NS = 86_400 * NS_PER_SECOND
N_DAYS = 9
DEFAULT_LOOKBACK_NS = 300 * NS_PER_SECOND  # Prometheus' --query.lookback-delta default

_NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
_LABEL_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*\Z")
_ESCAPES = str.maketrans({"\\": "\\\\", '"': '\\"', "\n": "\\n"})
_LOG_TAIL = 60


# --------------------------------------------------------------------------- OpenMetrics


def write_openmetrics(
    series: Mapping[str, tuple[Mapping[str, str], ArrayLike, ArrayLike]],
) -> str:
    """OpenMetrics text with timestamps, as ``promtool tsdb create-blocks-from`` reads it.

    ``series`` maps each series' ``unique_id`` (``series_id(labels)``) to its labels
    (``__name__`` included), its timestamps (int64 ns since the epoch, strictly
    increasing) and its float64 values. Every metric is written as a gauge; families
    and the series in them are sorted by name, so the text is deterministic.
    Timestamps are written in seconds, fractional when needed (Prometheus keeps ms).

    Raises ``ValueError`` on what promtool would silently drop or mangle: unsorted or
    repeated timestamps, a key that is not the series' id, invalid names.
    """
    families: dict[str, list[str]] = {}
    for uid in sorted(series):
        labels, ts_raw, values_raw = series[uid]
        ts = np.asarray(ts_raw, dtype=np.int64)
        values = np.asarray(values_raw, dtype=np.float64)
        name = _check_series(uid, labels, ts, values)
        pairs = ",".join(
            f'{k}="{v.translate(_ESCAPES)}"'
            for k, v in sorted(labels.items())
            if k != "__name__" and v != ""
        )
        head = f"{name}{{{pairs}}}" if pairs else name
        lines = families.setdefault(name, [])
        lines.extend(
            f"{head} {_format_value(v)} {_format_seconds(t)}"
            for t, v in zip(ts.tolist(), values.tolist(), strict=True)
        )
    out: list[str] = []
    for name in sorted(families):
        out.append(f"# TYPE {name} gauge")
        out.extend(families[name])
    out.append("# EOF")
    return "\n".join(out) + "\n"


def _check_series(
    uid: str, labels: Mapping[str, str], ts: NDArray[np.int64], values: NDArray[np.float64]
) -> str:
    name = labels.get("__name__", "")
    if not _NAME_RE.match(name):
        raise ValueError(f"series {uid!r}: expected a metric name in __name__, got {name!r}")
    bad = [k for k in labels if k != "__name__" and not _LABEL_RE.match(k)]
    if bad:
        raise ValueError(f"series {uid!r}: label names {bad} are not [a-zA-Z_][a-zA-Z0-9_]*")
    if series_id(labels) != uid:
        raise ValueError(f"series key {uid!r} is not its labels' id {series_id(labels)!r}")
    if ts.ndim != 1 or ts.shape != values.shape:
        raise ValueError(f"series {uid!r}: {ts.shape} timestamps for {values.shape} values")
    if ts.size > 1 and not bool(np.all(np.diff(ts) > 0)):
        raise ValueError(
            f"series {uid!r}: timestamps must be strictly increasing "
            "(promtool silently drops out-of-order and repeated samples)"
        )
    return name


def _format_seconds(ns: int) -> str:
    sign, ns = ("-", -ns) if ns < 0 else ("", ns)
    seconds, frac = divmod(ns, NS_PER_SECOND)
    if frac == 0:
        return f"{sign}{seconds}"
    return f"{sign}{seconds}.{frac:09d}".rstrip("0")


def _format_value(v: float) -> str:
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return repr(v)  # the shortest text that parses back to the same float64


# --------------------------------------------------------------------------- known data

ESCAPED_SITE = 'Zürich "north" C:\\racks\nrow 2'
"""A label value with a double quote, a backslash, a non-ASCII letter and a newline."""


@dataclass(frozen=True)
class History:
    """Known telemetry: the OpenMetrics text and what a reader must get back.

    ``expected`` maps each ``unique_id`` to its timestamps (int64 ns, on the
    ``step_ns`` grid) and float64 values; ``labels`` gives each id's labels.
    ``start_ns`` and ``end_ns`` are the first and last sample times of the whole
    history, both included. The ``*_id`` fields name the series with a role:

    - ``full_id``: every step from start to end (more than 11,000 points);
    - ``hole_id``: no samples from ``hole[0]`` to ``hole[1]`` (both included);
    - ``late_id``: starts at ``late_start_ns``, days after the others;
    - ``escaped_id``: its ``site`` label is :data:`ESCAPED_SITE`; negative values;
    - ``few_metric``: a metric with only two series.
    """

    text: str
    expected: dict[str, Samples]
    labels: dict[str, dict[str, str]]
    start_ns: int
    end_ns: int
    step_ns: int
    full_id: str
    hole_id: str
    late_id: str
    escaped_id: str
    few_metric: str
    hole: tuple[int, int]
    late_start_ns: int

    @property
    def n_series(self) -> int:
        """The number of series."""
        return len(self.expected)

    def window(self, uid: str, start_ns: int, end_ns: int) -> Samples:
        """The samples of series ``uid`` with ``start_ns <= ts <= end_ns``."""
        ts, values = self.expected[uid]
        keep = (ts >= start_ns) & (ts <= end_ns)
        return ts[keep], values[keep]


def make_history(end_ns: int | None = None, *, seed: int = 20240229) -> History:
    """Six series over nine days at a 60 s step, ending at ``end_ns`` (included).

    ``end_ns`` must be on the minute grid; by default it is the start of the current
    hour less one day, far enough back that backfilling cannot overlap Prometheus' head
    block. The values depend only on ``seed``: random walks and daily cycles with all 17
    significant digits, negative ones, values near 1e-4 and near 1e6.
    """
    if end_ns is None:
        now = time.time_ns()
        end_ns = now - now % (3600 * NS_PER_SECOND) - DAY_NS
    if end_ns % STEP_NS:
        raise ValueError(f"end_ns must be a multiple of {STEP_NS} (a whole minute), got {end_ns}")
    n = N_DAYS * DAY_NS // STEP_NS
    ts = end_ns - STEP_NS * np.arange(n - 1, -1, -1, dtype=np.int64)
    day_phase = 2 * np.pi * (ts % DAY_NS) / DAY_NS
    rng = np.random.default_rng(seed)

    def noise(scale: float) -> NDArray[np.float64]:
        return scale * rng.standard_normal(n)

    http = {"__name__": "http_request_duration_seconds", "job": "api"}
    temp = {"__name__": "temperature_celsius"}
    defs: list[tuple[dict[str, str], NDArray[np.float64]]] = [
        (
            {**http, "method": "GET", "route": "/api/v1/query"},
            0.25 + 0.05 * np.sin(day_phase) + noise(0.01),
        ),
        (
            {**http, "method": "POST", "route": "/api/v1/query"},
            0.5 + 0.1 * np.cos(day_phase) + np.cumsum(noise(0.001)),
        ),
        ({**http, "method": "GET", "route": "/-/healthy"}, 1e-4 * np.exp(noise(0.3))),
        ({**temp, "site": ESCAPED_SITE}, -3.0 + 8.0 * np.sin(day_phase) + noise(0.5)),
        ({**temp, "site": "Oslo"}, -12.5 + 4.0 * np.sin(day_phase) + noise(0.25)),
        ({"__name__": "queue_depth", "queue": "ingest"}, 1e6 + np.cumsum(noise(250.0))),
    ]
    keep = [np.ones(n, dtype=bool) for _ in defs]
    hole_at = 4 * DAY_NS // STEP_NS + 12 * 60  # day 4, 12:00 after the start
    keep[1][hole_at : hole_at + 60] = False
    late_at = 2 * DAY_NS // STEP_NS + 7 * 60 + 30
    keep[5][:late_at] = False

    expected: dict[str, Samples] = {}
    labels: dict[str, dict[str, str]] = {}
    for (lab, values), mask in zip(defs, keep, strict=True):
        uid = series_id(lab)
        expected[uid] = (ts[mask].copy(), values[mask].astype(np.float64))
        labels[uid] = lab
    ids = list(expected)
    text = write_openmetrics({uid: (labels[uid], *expected[uid]) for uid in ids})
    return History(
        text=text,
        expected=expected,
        labels=labels,
        start_ns=int(ts[0]),
        end_ns=int(ts[-1]),
        step_ns=STEP_NS,
        full_id=ids[0],
        hole_id=ids[1],
        late_id=ids[5],
        escaped_id=ids[3],
        few_metric="temperature_celsius",
        hole=(int(ts[hole_at]), int(ts[hole_at + 59])),
        late_start_ns=int(ts[late_at]),
    )


def simulate_query_range(
    samples: Samples,
    start_ns: int,
    end_ns: int,
    step_ns: int,
    lookback_ns: int = DEFAULT_LOOKBACK_NS,
) -> Samples:
    """What Prometheus 2.x returns for one series from ``query_range`` over stored samples.

    At each ``t = start_ns + k * step_ns <= end_ns`` it returns the newest sample with
    ``t - lookback_ns <= ts <= t``, stamped ``t``; steps without one are left out.
    """
    ts, values = samples
    grid = np.arange(start_ns, end_ns + 1, step_ns, dtype=np.int64)
    idx = np.searchsorted(ts, grid, side="right") - 1
    found = idx >= 0
    found[found] = ts[idx[found]] >= grid[found] - lookback_ns
    return grid[found], values[idx[found]]


# --------------------------------------------------------------------------- the server


def find_binaries() -> tuple[str, str]:
    """The paths of ``prometheus`` and ``promtool``.

    When one is missing the calling test is skipped, except under CI (the ``CI``
    environment variable is set), where a missing binary is an error.
    """
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        message = (
            f"{' and '.join(missing)} not found on PATH; the Prometheus integration tests "
            "need them: apt-get install prometheus"
        )
        if os.environ.get("CI"):
            raise RuntimeError(message)
        pytest.skip(message)
    return str(found["prometheus"]), str(found["promtool"])


@dataclass
class PrometheusServer:
    """A ``prometheus`` process on ``127.0.0.1`` serving backfilled OpenMetrics text.

    ``start()`` (or ``with``) writes ``openmetrics`` under ``workdir``, backfills it
    with promtool, starts Prometheus on a free port, waits until ``/-/ready`` answers
    and the backfilled series are listed by ``/api/v1/series``, then sets ``url`` and
    ``port``. ``stop()`` (or leaving the ``with``) terminates it, killing it after
    ``stop_timeout`` seconds; a server still running when Python exits is killed too.

    ``lookback_delta`` is passed as ``--query.lookback-delta`` when given (Prometheus'
    default is 5m). ``extra_args`` go to the ``prometheus`` command line.
    """

    openmetrics: str
    workdir: Path
    lookback_delta: str | None = None
    retention: str = "36500d"
    ready_timeout: float = 60.0
    stop_timeout: float = 10.0
    extra_args: Sequence[str] = ()
    url: str = field(default="", init=False)
    port: int = field(default=0, init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        """The TSDB folder (``--storage.tsdb.path``)."""
        return Path(self.workdir) / "data"

    @property
    def log_path(self) -> Path:
        """The file that gets Prometheus' standard output and error."""
        return Path(self.workdir) / "prometheus.log"

    def log(self) -> str:
        """The last lines Prometheus logged."""
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-_LOG_TAIL:])

    def start(self) -> PrometheusServer:
        """Backfill, start, and wait until the data is queryable; returns ``self``."""
        if self._process is not None:
            raise RuntimeError(f"Prometheus is already running at {self.url}")
        prometheus, promtool = find_binaries()
        workdir = Path(self.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        self._backfill(promtool)
        config = workdir / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n")
        n_series = _count_series(self.openmetrics)
        for attempt in range(3):  # another process may take the free port first
            self.port = free_port()
            self.url = f"http://127.0.0.1:{self.port}"
            self._launch(prometheus, config)
            try:
                self._wait_ready(n_series)
                return self
            except _PortTakenError:
                self.stop()
                if attempt == 2:
                    raise RuntimeError(f"no free port for Prometheus:\n{self.log()}") from None
            except BaseException:
                self.stop()
                raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL) and wait for it; idempotent."""
        proc, self._process = self._process, None
        if proc is None:
            return
        atexit.unregister(proc.kill)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> PrometheusServer:
        if self._process is None:
            self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _backfill(self, promtool: str) -> None:
        source = Path(self.workdir) / "backfill.om"
        source.write_text(self.openmetrics, encoding="utf-8")
        if self.data_dir.exists() and any(self.data_dir.iterdir()):
            raise RuntimeError(f"{self.data_dir} is not empty: give each server a fresh workdir")
        # One block a day instead of promtool's default 2 h: 10x faster, and fewer blocks
        # for Prometheus to open. --max-block-duration is a hidden flag of promtool 2.42.
        command = [promtool, "tsdb", "create-blocks-from", "--max-block-duration=24h"]
        command += ["openmetrics", "--quiet", str(source), str(self.data_dir)]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RuntimeError(
                f"promtool failed with exit code {done.returncode}: {' '.join(command)}\n"
                f"{done.stdout}{done.stderr}"
            )

    def _launch(self, prometheus: str, config: Path) -> None:
        command = [
            prometheus,
            f"--config.file={config}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--storage.tsdb.retention.time={self.retention}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            # Blocks up to 24 h are left alone: no compaction rewrites the data mid-session.
            "--storage.tsdb.max-block-duration=24h",
            "--log.level=info",
        ]
        if self.lookback_delta is not None:
            command.append(f"--query.lookback-delta={self.lookback_delta}")
        command += list(self.extra_args)
        with self.log_path.open("wb") as log:
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )
        atexit.register(self._process.kill)

    def _wait_ready(self, n_series: int) -> None:
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        with httpx.Client(base_url=self.url, timeout=2.0, trust_env=False) as client:
            while True:
                self._check_alive()
                try:
                    last = _probe(client, n_series)
                except httpx.TransportError as exc:
                    last = f"{type(exc).__name__}: {exc}"
                if not last:
                    return
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"Prometheus at {self.url} not ready with {n_series} series after "
                        f"{self.ready_timeout} s ({last}); its log:\n{self.log()}"
                    )
                time.sleep(0.05)

    def _check_alive(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is None:
            return
        log = self.log()
        if "address already in use" in log:
            raise _PortTakenError
        raise RuntimeError(f"Prometheus exited with code {code} while starting; its log:\n{log}")


class _PortTakenError(Exception):
    """Prometheus could not bind the port chosen for it."""


def _probe(client: httpx.Client, n_series: int) -> str:
    """An empty string when ready with ``n_series`` series, else what is still missing."""
    ready = client.get("/-/ready")
    if ready.status_code != 200:
        return f"/-/ready answered {ready.status_code}"
    found = client.get("/api/v1/series", params={"match[]": '{__name__=~".+"}'})
    if found.status_code != 200:
        return f"/api/v1/series answered {found.status_code}: {found.text[:200]}"
    n_found = len(found.json()["data"])
    return "" if n_found == n_series else f"{n_found} series listed, {n_series} expected"


def _count_series(openmetrics: str) -> int:
    heads = {
        line.rsplit(" ", 2)[0]
        for line in openmetrics.splitlines()
        if line and not line.startswith("#")
    }
    return len(heads)


def start_history_server(
    workdir: Path, *, end_ns: int | None = None, lookback_delta: str = "59s"
) -> tuple[PrometheusServer, History]:
    """A running Prometheus serving :func:`make_history` data, and that history.

    The lookback is 59 s, so an aligned ``query_range`` at a 60 s step returns
    exactly the stored samples (holes included); pass ``lookback_delta="5m"`` for
    Prometheus' default and compare with :func:`simulate_query_range`. The caller
    stops the server (``with server: ...``).
    """
    history = make_history(end_ns)
    server = PrometheusServer(history.text, Path(workdir), lookback_delta=lookback_delta)
    return server.start(), history
