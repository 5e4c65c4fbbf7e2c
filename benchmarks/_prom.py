"""A real Prometheus for the benchmarks: backfill counters, backfill recording rules,
evaluate alert expressions over the whole history.

Prometheus evaluates rules only in real time, so a history is replayed in four steps:

1. the raw series are written as OpenMetrics text and turned into blocks with
   ``promtool tsdb create-blocks-from openmetrics`` (one block a day);
2. a ``prometheus`` process serves them on ``127.0.0.1``, and ``promtool tsdb
   create-blocks-from rules`` evaluates the recording rules against it at 1-minute
   steps, writing their samples as more blocks;
3. the server is restarted on the same data folder, so it sees the new blocks;
4. each alert's ``expr`` is asked with ``query_range`` at a 1-minute step, at the very
   times the recording rules were evaluated (promtool offsets a group's evaluations by
   a hash of its name, as Prometheus does), chunked to the 11,000-step limit.

The server runs with a 59 s lookback: the rule samples carry no staleness markers, and
with the default 5 min a recorded series would linger 5 minutes after its last sample;
at 59 s a query at an evaluation time sees exactly the sample recorded at that time,
as a live Prometheus sees the rules' latest output. Adapted from the tests' fixture
(``tests/support/prometheus.py``), which benchmarks do not import.
"""

from __future__ import annotations

import atexit
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx
import numpy as np
import yaml
from numpy.typing import NDArray

STEP_S = 60
MAX_STEPS = 11_000  # query_range refuses more: (end - start) / step <= 11000
_LOG_TAIL = 40


class PromtoolMissingError(RuntimeError):
    """``prometheus`` or ``promtool`` is not on PATH."""


def binaries() -> tuple[str, str]:
    """The paths of ``prometheus`` and ``promtool``; raise when one is missing."""
    found = {name: shutil.which(name) for name in ("prometheus", "promtool")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        raise PromtoolMissingError(
            f"{' and '.join(missing)} not found on PATH. Fix: apt-get install prometheus"
        )
    return str(found["prometheus"]), str(found["promtool"])


def counters_openmetrics(
    series: Iterable[tuple[str, Mapping[str, str], int, NDArray[np.float64]]],
) -> str:
    """OpenMetrics text of series on a 1-minute grid.

    ``series`` gives each one's metric name, labels (plain ``[a-zA-Z0-9_./-]`` values),
    first sample time (Unix s) and values; families are grouped by name (promtool wants
    each family's lines together). Whole numbers are written without a fraction.
    """
    families: dict[str, list[str]] = {}
    for name, labels, first_s, vals in series:
        head = name + "{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "} "
        values = np.asarray(vals, dtype=np.float64)
        whole = values == np.round(values)
        text = np.where(whole, np.round(values).astype(np.int64).astype(str), values.astype(str))
        ts = (first_s + STEP_S * np.arange(len(values), dtype=np.int64)).astype(str)
        lines = np.char.add(np.char.add(np.char.add(head, text), " "), ts)
        families.setdefault(name, []).extend(lines.tolist())
    out: list[str] = []
    for name in sorted(families):
        out.append(f"# TYPE {name} gauge")
        out.extend(families[name])
    out.append("# EOF\n")
    return "\n".join(out)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run(command: list[str]) -> str:
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(
            f"exit code {done.returncode}: {' '.join(command)}\n{done.stdout}{done.stderr}"
        )
    return done.stdout


@dataclass
class Prometheus:
    """A ``prometheus`` process on ``127.0.0.1`` over the TSDB folder ``workdir/data``.

    :meth:`backfill` loads OpenMetrics text (before the first start),
    :meth:`start` runs the server and waits until ``/-/ready`` answers and
    ``min_series`` series are listed; :meth:`backfill_rules` records the rules of a
    file over ``[start_s, end_s]`` and restarts the server on the new blocks;
    :meth:`query_range` asks an expression over a span of any length.
    """

    workdir: Path
    lookback_delta: str = "59s"
    ready_timeout: float = 120.0
    url: str = field(default="", init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _client: httpx.Client | None = field(default=None, init=False, repr=False)

    @property
    def data_dir(self) -> Path:
        return Path(self.workdir) / "data"

    @property
    def log_path(self) -> Path:
        return Path(self.workdir) / "prometheus.log"

    def log(self) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-_LOG_TAIL:])

    def backfill(self, openmetrics: str) -> None:
        """Blocks from OpenMetrics text, one a day (promtool's hidden flag; 2 h by
        default, which makes 12 times as many blocks)."""
        _, promtool = binaries()
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        source = Path(self.workdir) / "raw.om"
        source.write_text(openmetrics, encoding="utf-8")
        command = [promtool, "tsdb", "create-blocks-from", "--max-block-duration=128h"]
        _run([*command, "openmetrics", "--quiet", str(source), str(self.data_dir)])
        source.unlink()

    def start(self, min_series: int = 1) -> Prometheus:
        prometheus, _ = binaries()
        config = Path(self.workdir) / "prometheus.yml"
        config.write_text("global:\n  scrape_interval: 1h\n  evaluation_interval: 1h\n")
        for attempt in range(3):  # another process may take the free port first
            port = _free_port()
            self.url = f"http://127.0.0.1:{port}"
            command = [
                prometheus,
                f"--config.file={config}",
                f"--storage.tsdb.path={self.data_dir}",
                "--storage.tsdb.retention.time=36500d",
                "--storage.tsdb.max-block-duration=24h",
                f"--web.listen-address=127.0.0.1:{port}",
                f"--query.lookback-delta={self.lookback_delta}",
                "--query.timeout=10m",
            ]
            with self.log_path.open("wb") as log:
                self._process = subprocess.Popen(
                    command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT
                )
            atexit.register(self._process.kill)
            self._client = httpx.Client(base_url=self.url, timeout=600.0, trust_env=False)
            try:
                self._wait_ready(min_series)
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
        """SIGTERM, then SIGKILL after 30 s; idempotent."""
        if self._client is not None:
            self._client.close()
            self._client = None
        proc, self._process = self._process, None
        if proc is None:
            return
        atexit.unregister(proc.kill)
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __enter__(self) -> Prometheus:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_ready(self, min_series: int) -> None:
        assert self._process is not None
        assert self._client is not None
        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while True:
            code = self._process.poll()
            if code is not None:
                if "address already in use" in self.log():
                    raise _PortTakenError
                raise RuntimeError(f"Prometheus exited with code {code}; its log:\n{self.log()}")
            try:
                last = self._probe(min_series)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__}: {exc}"
            if not last:
                return
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"Prometheus at {self.url} not ready after {self.ready_timeout} s "
                    f"({last}); its log:\n{self.log()}"
                )
            time.sleep(0.05)  # polling a condition, not waiting a fixed time

    def _probe(self, min_series: int) -> str:
        assert self._client is not None
        ready = self._client.get("/-/ready", timeout=2.0)
        if ready.status_code != 200:
            return f"/-/ready answered {ready.status_code}"
        found = self._client.get(
            "/api/v1/series", params={"match[]": '{__name__=~".+"}'}, timeout=10.0
        )
        if found.status_code != 200:
            return f"/api/v1/series answered {found.status_code}"
        n = len(found.json()["data"])
        return "" if n >= min_series else f"{n} series listed, {min_series} expected"

    def n_series(self) -> int:
        assert self._client is not None
        found = self._client.get("/api/v1/series", params={"match[]": '{__name__=~".+"}'})
        found.raise_for_status()
        return len(found.json()["data"])

    def backfill_rules(self, groups: list[dict[str, Any]], start_s: int, end_s: int) -> None:
        """Record the recording rules of ``groups`` from ``start_s`` to ``end_s`` with
        promtool against this server, then restart it on the new blocks."""
        _, promtool = binaries()
        path = Path(self.workdir) / "recordings.yaml"
        path.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False), encoding="utf-8")
        out = Path(self.workdir) / "rule-blocks"
        command = [promtool, "tsdb", "create-blocks-from", "--max-block-duration=128h", "rules"]
        command += [f"--start={start_s}", f"--end={end_s}", f"--url={self.url}"]
        _run([*command, f"--output-dir={out}", "--quiet", str(path)])
        before = self.n_series()
        self.stop()
        for block in out.iterdir():
            block.rename(self.data_dir / block.name)
        out.rmdir()
        self.start(min_series=before + 1)

    def sample_times(self, metric: str, at_s: int) -> NDArray[np.int64]:
        """The timestamps (ms) of ``metric``'s samples in the 5 minutes up to ``at_s``."""
        assert self._client is not None
        got = self._client.get("/api/v1/query", params={"query": f"{metric}[5m]", "time": at_s})
        got.raise_for_status()
        result = got.json()["data"]["result"]
        if not result:
            return np.empty(0, dtype=np.int64)
        return np.array([round(float(t) * 1000) for t, _ in result[0]["values"]], dtype=np.int64)

    def query_range(
        self, expr: str, start_ms: int, n_steps: int
    ) -> list[tuple[dict[str, str], NDArray[np.int64]]]:
        """Each series the expression returns at ``start_ms + k * 60 s`` (``k <
        n_steps``): its labels and the step indices ``k`` that have a sample."""
        assert self._client is not None
        found: dict[tuple[tuple[str, str], ...], list[NDArray[np.int64]]] = {}
        step_ms = STEP_S * 1000
        for first in range(0, n_steps, MAX_STEPS):
            last = min(n_steps, first + MAX_STEPS) - 1
            params = {
                "query": expr,
                "start": f"{(start_ms + first * step_ms) / 1000:.3f}",
                "end": f"{(start_ms + last * step_ms) / 1000:.3f}",
                "step": f"{STEP_S}s",
            }
            got = self._client.post("/api/v1/query_range", data=params)
            if got.status_code != 200:
                raise RuntimeError(f"query_range answered {got.status_code}: {got.text[:500]}")
            for series in got.json()["data"]["result"]:
                ms = np.array([round(float(t) * 1000) for t, _ in series["values"]])
                key = tuple(sorted(series["metric"].items()))
                found.setdefault(key, []).append(((ms - start_ms) // step_ms).astype(np.int64))
        return [(dict(key), np.concatenate(parts)) for key, parts in found.items()]


class _PortTakenError(Exception):
    """Prometheus could not bind the port chosen for it."""
