"""The registry under real concurrency, on SQLite and on a real PostgreSQL: processes
racing to create the schema, to register versions and to move an alias, and writers
killed with SIGKILL at any moment.

Every worker is a separate Python process running this file as a script (``python
test_concurrency.py ROLE CONFIG``); it answers in JSON lines on its standard output, and
its standard error goes to a file that is shown when it fails. Races start at a
:class:`Gate`: the workers say ``"ready"`` and block on it, and the parent opens it once
they all have, which releases them at the same instant.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import random
import select
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from modelphase.exceptions import AliasConflictError
from modelphase.registry import HEAD, ModelVersion, Registry

#: Generous: a worker that says nothing for this long has hung (2 cores, other tests).
DEADLINE_S = 60.0
#: Well under the SQLite busy timeout (30 s): a stale lock would outlast it.
LOCK_FREED_WITHIN_S = 10.0


# --------------------------------------------------------------------------- workers
# These run in the child processes.


def payload(worker: int, seq: int, size: int = 0) -> bytes:
    """Distinct artifact bytes that say who registered them: ``w03-s0012|...``."""
    return f"w{worker:02d}-s{seq:04d}|".encode().ljust(size, b"\0")


def traced(data: bytes) -> tuple[int, int]:
    """The (worker, seq) a :func:`payload` encodes."""
    worker, seq = data.split(b"|", 1)[0].decode().split("-")
    return int(worker[1:]), int(seq[1:])


def _say(obj: Any) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")  # one write(): a kill never cuts a line
    sys.stdout.flush()


def _ready_then_wait(gate: str) -> None:
    """Say ready, then block until the parent opens ``gate`` (see :class:`Gate`)."""
    _say("ready")
    with open(gate, "rb") as fh:
        fcntl.flock(fh, fcntl.LOCK_SH)


def worker_open(config: dict[str, Any]) -> None:
    """Round by round: open a brand-new registry at the same instant as the other
    workers (the schema race), register one version and say which."""
    for url, gate in zip(config["urls"], config["gates"], strict=True):
        _ready_then_wait(gate)
        # a fresh shared registry has no token yet: act through the database's credentials
        shared = not url.startswith("sqlite")
        with Registry(url, artifacts=config["artifacts"], database_admin=shared) as reg:
            v = reg.register("m", payload(config["worker"], 0))
        _say({"version": v.version, "digest": v.artifact_digest})


def worker_register(config: dict[str, Any]) -> None:
    """Register ``n`` versions of ``m`` as fast as it can once the gate opens."""
    with Registry(config["url"], artifacts=config["artifacts"]) as reg:
        _ready_then_wait(config["gate"])
        done = []
        for seq in range(config["n"]):
            v = reg.register("m", payload(config["worker"], seq))
            done.append([seq, v.version, v.artifact_digest])
    _say(done)


def worker_promote(config: dict[str, Any]) -> None:
    """Round by round: read ``{"version", "expect"}``, try that compare-and-set when the
    round's gate opens, and say how it went."""
    with Registry(config["url"], artifacts=config["artifacts"]) as reg:
        for gate in config["gates"]:
            ask = json.loads(sys.stdin.readline())
            _ready_then_wait(gate)
            try:
                event = reg.promote("m", ask["version"], "production", expect=ask["expect"])
            except AliasConflictError as exc:
                _say({"conflict": exc.actual})
            else:
                _say({"event": event.id, "to": event.to_version})


def worker_churn(config: dict[str, Any]) -> None:
    """Register big versions in a loop until killed; report each one once committed."""
    with Registry(config["url"], artifacts=config["artifacts"]) as reg:
        for seq in range(1_000_000):
            v = reg.register("m", payload(config["worker"], seq, config["size"]))
            _say({"version": v.version, "digest": v.artifact_digest})


def worker_hold(config: dict[str, Any]) -> None:
    """Register a version but stall inside its write transaction, right after the
    version row is inserted and before the commit: the write lock (SQLite) or the
    model's row lock (PostgreSQL) is held, with uncommitted changes, until killed.
    The ``params`` are big so that SQLite spills uncommitted pages into the WAL."""
    with Registry(config["url"], artifacts=config["artifacts"]) as reg:

        def stall(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            if statement.lstrip().upper().startswith("INSERT INTO MODEL_VERSIONS"):
                _say("holding")
                time.sleep(3600)

        sa.event.listen(reg.db.engine, "after_cursor_execute", stall)
        reg.register("m", payload(99, 0), params={"pad": "x" * 8_000_000})
    raise AssertionError("the worker should have been killed while holding the lock")


WORKERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "open": worker_open,
    "register": worker_register,
    "promote": worker_promote,
    "churn": worker_churn,
    "hold": worker_hold,
}


# ------------------------------------------------------------------------ the parent


class Gate:
    """A start line for processes: a file the parent holds an exclusive ``flock`` on.
    Workers block asking for a shared lock; :meth:`open` drops the exclusive one and the
    kernel grants all the shared ones at once (a stdin line per worker would release
    them one after the other)."""

    def __init__(self, path: Path) -> None:
        self.path = str(path)
        self._fh = open(path, "wb")  # noqa: SIM115 - held until open()
        fcntl.flock(self._fh, fcntl.LOCK_EX)

    def open(self) -> None:
        if not self._fh.closed:
            fcntl.flock(self._fh, fcntl.LOCK_UN)
            self._fh.close()


class Worker:
    """One worker process, its JSON lines in and out."""

    def __init__(self, role: str, config: dict[str, Any], logs: Path) -> None:
        self.label = f"{role}#{config.get('worker', 0)}"
        logs.mkdir(parents=True, exist_ok=True)
        self.stderr = logs / f"{self.label}-{time.monotonic_ns()}.err"
        with self.stderr.open("wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-W", "error", __file__, role, json.dumps(config)],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=err,
            )
        self._buffer = b""

    def send(self, obj: Any) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(obj) + "\n").encode())
        self.proc.stdin.flush()

    def read(self, timeout: float = DEADLINE_S) -> Any:
        """The next JSON line the worker printed."""
        assert self.proc.stdout is not None
        fd = self.proc.stdout.fileno()
        deadline = time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{self.label} said nothing for {timeout} s{self.tail()}")
            if select.select([fd], [], [], left)[0]:
                chunk = os.read(fd, 1 << 16)
                if not chunk:
                    code = self.proc.wait(DEADLINE_S)
                    raise AssertionError(f"{self.label} exited with {code}{self.tail()}")
                self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return json.loads(line)

    def expect(self, what: Any) -> None:
        got = self.read()
        assert got == what, f"{self.label} said {got!r}, expected {what!r}{self.tail()}"

    def kill(self) -> list[Any]:
        """SIGKILL, reap, and return the lines it printed that were not read yet."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(DEADLINE_S)
        assert self.proc.stdout is not None
        if not self.proc.stdout.closed:
            self._buffer += self.proc.stdout.read()
        lines, self._buffer = self._buffer.splitlines(), b""
        return [json.loads(line) for line in lines]

    def finish(self) -> None:
        """Close its input and wait for a clean exit."""
        assert self.proc.stdin is not None
        self.proc.stdin.close()
        code = self.proc.wait(DEADLINE_S)
        assert code == 0, f"{self.label} exited with {code}{self.tail()}"

    def tail(self) -> str:
        text = self.stderr.read_text(errors="replace").strip()
        return f"; its stderr:\n{text[-6000:]}" if text else ""


class Lab:
    """Workers and gates for one test, on its registry; cleaned up by the fixture."""

    def __init__(self, registry_url: str, tmp_path: Path) -> None:
        self.tmp_path = tmp_path
        self.base = {"url": registry_url, "artifacts": str(tmp_path / "artifacts")}
        self.workers: list[Worker] = []
        self.gates: list[Gate] = []

    def spawn(self, role: str, **config: Any) -> Worker:
        worker = Worker(role, {**self.base, **config}, self.tmp_path / "workers")
        self.workers.append(worker)
        return worker

    def gate(self) -> Gate:
        gate = Gate(self.tmp_path / f"gate-{len(self.gates)}")
        self.gates.append(gate)
        return gate

    def race(self, workers: list[Worker], gate: Gate) -> None:
        """Wait until every worker waits at ``gate``, then open it."""
        for w in workers:
            w.expect("ready")
        gate.open()

    def close(self) -> None:
        for gate in self.gates:
            gate.open()
        for worker in self.workers:
            worker.kill()
            for pipe in (worker.proc.stdin, worker.proc.stdout):
                if pipe is not None:
                    pipe.close()


@pytest.fixture
def lab(tmp_path: Path, registry_url: str) -> Iterator[Lab]:
    """Start workers on this test's registry; any still running at the end is killed."""
    made = Lab(registry_url, tmp_path)
    yield made
    made.close()


def another_empty_registry(registry_url: str, request: pytest.FixtureRequest) -> str:
    """A new empty database on the same backend as ``registry_url``."""
    url = sa.engine.make_url(registry_url)
    if url.get_backend_name() == "sqlite":
        return f"sqlite:///{Path(str(url.database)).with_name(f'{time.monotonic_ns()}.db')}"
    return str(request.getfixturevalue("postgres_server").create_database())


def stored(url: str) -> tuple[int | None, list[tuple[str, int, str]]]:
    """``models.latest_version`` of ``m`` and every version row, read with plain SQL."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            latest = conn.execute(
                sa.text("SELECT latest_version FROM models WHERE name = 'm'")
            ).scalar()
            rows = conn.execute(
                sa.text(
                    "SELECT name, version, artifact_digest FROM model_versions "
                    "ORDER BY name, version"
                )
            ).all()
    finally:
        engine.dispose()
    return latest, [(r.name, r.version, r.artifact_digest) for r in rows]


def check_consistent(reg: Registry, url: str) -> int:
    """Versions of ``m`` are 1..latest with no gap, ``models.latest_version`` agrees,
    and every artifact is there and intact. Returns latest."""
    latest, rows = stored(url)
    numbers = [v for _, v, _ in rows]
    assert numbers == list(range(1, len(numbers) + 1)), f"gaps or duplicates: {numbers}"
    assert latest == (numbers[-1] if numbers else None)
    assert reg.verify() == []
    return len(numbers)


def write_lock_is_free(registry_url: str, within: float) -> bool:
    """Whether a writer gets the lock a registration needs within ``within`` seconds:
    SQLite's write lock, or the row lock on model ``m`` on PostgreSQL."""
    url = sa.engine.make_url(registry_url)
    if url.get_backend_name() == "sqlite":
        db = sqlite3.connect(str(url.database), timeout=within, isolation_level=None)
        try:
            db.execute("BEGIN IMMEDIATE")
            db.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            return False
        finally:
            db.close()
    import psycopg

    conninfo = url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as pg:
        pg.execute(f"SET lock_timeout = '{round(within * 1000)}ms'")
        try:
            pg.execute("SELECT 1 FROM models WHERE name = 'm' FOR UPDATE")
            return True
        except psycopg.errors.LockNotAvailable:
            return False


# -------------------------------------------------------------------------- the tests


def test_processes_opening_a_new_registry_at_once_all_succeed(
    lab: Lab, registry_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    # SQLite loses the race to switch a new file to WAL in a few % of rounds: many rounds.
    n_workers, n_rounds = 6, 20 if registry_url.startswith("sqlite") else 4
    urls = [registry_url]
    urls += [another_empty_registry(registry_url, request) for _ in range(n_rounds - 1)]
    gates = [lab.gate() for _ in urls]
    config = {"urls": urls, "gates": [g.path for g in gates]}
    workers = [lab.spawn("open", worker=i, **config) for i in range(n_workers)]
    for url, gate in zip(urls, gates, strict=True):
        lab.race(workers, gate)
        results = [w.read() for w in workers]
        assert sorted(x["version"] for x in results) == list(range(1, n_workers + 1))
        shared = not url.startswith("sqlite")  # a fresh shared registry has no token yet
        with Registry(url, artifacts=tmp_path / "artifacts", database_admin=shared) as reg:
            check_consistent(reg, url)
            for i, x in enumerate(results):
                assert reg.load_artifact("m", x["version"]) == payload(i, 0)
        engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
        with engine.connect() as conn:
            revisions = conn.execute(sa.text("SELECT version_num FROM alembic_version")).all()
        engine.dispose()
        assert [x[0] for x in revisions] == [HEAD], "migrated exactly once"
    for w in workers:
        w.finish()


def test_concurrent_registrations_number_versions_without_gaps(
    lab: Lab, registry_url: str, tmp_path: Path
) -> None:
    n_workers, n_each = 6, 15
    Registry(registry_url, artifacts=tmp_path / "artifacts").close()  # schema in place
    gate = lab.gate()
    workers = [lab.spawn("register", worker=i, n=n_each, gate=gate.path) for i in range(6)]
    lab.race(workers, gate)
    reports = {i: w.read() for i, w in enumerate(workers)}
    for w in workers:
        w.finish()

    with Registry(registry_url, artifacts=tmp_path / "artifacts") as reg:
        assert check_consistent(reg, registry_url) == n_workers * n_each
        by_payload: dict[tuple[int, int], list[ModelVersion]] = {}
        for v in reg.versions("m"):
            by_payload.setdefault(traced(reg.load_artifact("m", v.version)), []).append(v)
        assert sorted(by_payload) == [(i, s) for i in range(n_workers) for s in range(n_each)]
        assert all(len(vs) == 1 for vs in by_payload.values()), "each payload exactly once"
        for i, report in reports.items():
            assert [seq for seq, _, _ in report] == list(range(n_each))
            for seq, version, digest in report:
                v = by_payload[(i, seq)][0]
                assert (v.version, v.artifact_digest) == (version, digest)
                assert digest == hashlib.sha256(payload(i, seq)).hexdigest()
            mine = [version for _, version, _ in report]
            assert mine == sorted(mine), "one process's versions increase"


def test_concurrent_compare_and_set_lets_exactly_one_win(
    lab: Lab, registry_url: str, tmp_path: Path
) -> None:
    n_workers, n_rounds = 4, 5
    gates = [lab.gate() for _ in range(n_rounds)]
    with Registry(registry_url, artifacts=tmp_path / "artifacts") as reg:
        for k in range(n_workers * n_rounds):
            reg.register("m", payload(0, k))
        workers = [
            lab.spawn("promote", worker=i, gates=[g.path for g in gates]) for i in range(n_workers)
        ]
        current = None
        for r, gate in enumerate(gates):
            before = reg.history("m")
            targets = [1 + r * n_workers + i for i in range(n_workers)]  # all distinct
            for w, target in zip(workers, targets, strict=True):
                w.send({"version": target, "expect": current})
            lab.race(workers, gate)
            answers = [w.read() for w in workers]
            winners = [a for a in answers if "event" in a]
            assert len(winners) == 1, f"round {r}: {answers}"
            won = winners[0]["to"]
            assert won in targets
            losers = [a for a in answers if "event" not in a]
            assert losers == [{"conflict": won}] * (n_workers - 1), f"round {r}: {answers}"
            after = reg.history("m")
            assert after[: len(before)] == before
            assert len(after) == len(before) + 1, "exactly one new event"
            new = after[-1]
            assert (new.id, new.from_version, new.to_version) == (
                winners[0]["event"],
                current,
                won,
            )
            assert reg.live("m") == {"production": won}
            current = won
        for w in workers:
            w.finish()


@pytest.mark.slow
def test_sigkill_at_any_moment_leaves_a_consistent_registry(
    lab: Lab, registry_url: str, tmp_path: Path
) -> None:
    n_kills, size = 10, 3_000_000
    rng = random.Random(20260303)
    artifacts = tmp_path / "artifacts"
    Registry(registry_url, artifacts=artifacts).close()
    reported: dict[int, str] = {}
    for kill in range(n_kills):
        worker = lab.spawn("churn", worker=kill, size=size)
        first = worker.read()  # one registration done: the loop is warm
        reported[first["version"]] = first["digest"]
        started = time.monotonic()
        second = worker.read()  # how long one registration takes here
        reported[second["version"]] = second["digest"]
        took = time.monotonic() - started
        # Kills land while the artifact is written, between it and the commit, or after.
        time.sleep(rng.uniform(0, 1.5 * took))
        for report in worker.kill():  # reported before it died
            reported[report["version"]] = report["digest"]

        assert write_lock_is_free(registry_url, LOCK_FREED_WITHIN_S)
        with Registry(registry_url, artifacts=artifacts) as reg:
            latest = check_consistent(reg, registry_url)
            for version, digest in reported.items():
                assert reg.get("m", version).artifact_digest == digest, "committed is kept"
            v = reg.register("m", payload(99, kill, size))
            assert v.version == latest + 1
            reported[v.version] = v.artifact_digest
            assert reg.load_artifact("m", v.version) == payload(99, kill, size)
            check_consistent(reg, registry_url)


def test_a_writer_killed_inside_its_transaction_does_not_keep_the_lock(
    lab: Lab, registry_url: str, tmp_path: Path
) -> None:
    artifacts = tmp_path / "artifacts"
    with Registry(registry_url, artifacts=artifacts) as reg:
        reg.register("m", b"one")
    before = stored(registry_url)
    worker = lab.spawn("hold")
    worker.expect("holding")
    assert not write_lock_is_free(registry_url, 0.2), "the worker holds the lock"
    worker.kill()
    assert write_lock_is_free(registry_url, LOCK_FREED_WITHIN_S)
    assert stored(registry_url) == before, "its uncommitted version is gone"
    with Registry(registry_url, artifacts=artifacts) as reg:
        assert reg.register("m", b"two").version == 2
        assert check_consistent(reg, registry_url) == 2


if __name__ == "__main__":
    WORKERS[sys.argv[1]](json.loads(sys.argv[2]))
