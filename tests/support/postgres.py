"""A real, throwaway PostgreSQL server on loopback.

:class:`PostgresServer` runs ``initdb`` into a fresh data folder and starts a
``postgres`` process that listens on ``127.0.0.1`` only, on a free port, with trust
authentication and durability turned off for speed. Each test gets a fresh empty
database from :meth:`PostgresServer.create_database`. :func:`start_postgres` returns a
started server, for a session-scoped fixture::

    @pytest.fixture(scope="session")
    def postgres(tmp_path_factory):
        with start_postgres(tmp_path_factory.mktemp("postgres")) as server:
            yield server

    @pytest.fixture
    def postgres_url(postgres):
        name = postgres.create_database()
        yield postgres.url(name)
        postgres.drop_database(name)

Quirks it works around:

- PostgreSQL refuses to run as root. As root, ``initdb``, ``pg_ctl`` and ``postgres`` run
  as the ``postgres`` user (``Popen(user=..., group=..., extra_groups=[])``: the same
  setuid as ``runuser -u postgres --``, but ``runuser`` would stay in between as a
  parent, so its pid would not be the postmaster's and killing it would orphan the
  server).
- pytest's temporary folders are ``0700 root``, so the ``postgres`` user cannot reach
  them, and a Unix socket path is limited to 107 bytes. The data folder and the socket
  therefore live in a private folder of their own, ``/tmp/modelphase-pg-XXXXXXXX``
  (``0700``, owned by the server's user), removed by :meth:`PostgresServer.stop`.
  Only the server's log (``postgres.log``) goes to ``workdir``, and stays there.
- ``PG*`` environment variables (``PGDATA``, ``PGPORT``, ``PGSSLMODE``...) are kept
  away from the server's commands and from the harness' own connections.
- A server still running when Python exits is shut down (``atexit``). A test process
  killed with SIGKILL cannot do that, and leaves its server running.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, LiteralString

import pytest

from support.net import free_port

if TYPE_CHECKING:
    import psycopg

__all__ = ["HOST", "PostgresServer", "find_postgres_bin", "start_postgres"]

HOST = "127.0.0.1"
SUPERUSER = "postgres"
"""The database superuser that ``initdb -U`` creates, whatever the OS user."""

_DEBIAN_BINS = "/usr/lib/postgresql/*/bin"
_TOOLS = ("initdb", "pg_ctl", "postgres")
_INSTALL_HINT = "apt-get install postgresql"
_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,62}\Z")
_LOG_TAIL = 60
_N_PORT_ATTEMPTS = 3


def _missing(message: str) -> None:
    """Skip the calling test, or fail under CI (the ``CI`` environment variable set)."""
    if os.environ.get("CI"):
        raise RuntimeError(message)
    pytest.skip(message)


def _has_tools(folder: Path) -> bool:
    return all(os.access(folder / tool, os.X_OK) for tool in _TOOLS)


def _version_key(folder: Path) -> tuple[int, ...]:
    """``/usr/lib/postgresql/15/bin`` -> ``(15,)``; ``9.6`` -> ``(9, 6)``."""
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name))


def find_postgres_bin() -> Path:
    """The folder holding ``initdb``, ``pg_ctl`` and ``postgres``.

    Looks at Debian's ``/usr/lib/postgresql/*/bin`` (the newest version wins), then at
    ``pg_config --bindir``, then at the folder of ``initdb`` on ``PATH``. When none has
    the three programs the calling test is skipped, except under CI (the ``CI``
    environment variable is set), where it is an error.
    """
    debian = sorted(
        (p for p in Path("/").glob(_DEBIAN_BINS.lstrip("/")) if _has_tools(p)),
        key=_version_key,
    )
    if debian:
        return debian[-1]
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config is not None:
        done = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if done.returncode == 0 and done.stdout.strip():
            candidates.append(Path(done.stdout.strip()))
    initdb = shutil.which("initdb")
    if initdb is not None:
        candidates.append(Path(initdb).parent)
    for folder in candidates:
        if _has_tools(folder):
            return folder
    _missing(
        f"PostgreSQL server programs ({', '.join(_TOOLS)}) not found in {_DEBIAN_BINS}, "
        f"pg_config --bindir or PATH; the PostgreSQL integration tests need them: "
        f"{_INSTALL_HINT}"
    )
    raise AssertionError("unreachable")


def _check_name(name: str) -> str:
    if not _NAME_RE.match(name):
        raise ValueError(
            f"expected a database name of letters, digits and underscores, not starting "
            f"with a digit, at most 63 characters; got {name!r}"
        )
    return name


def _child_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("PG")}


@dataclass
class PostgresServer:
    """A ``postgres`` process on ``127.0.0.1`` with a fresh cluster, for tests.

    ``start()`` (or ``with``) runs ``initdb`` (UTF8, C locale, trust authentication for
    local sockets and ``127.0.0.1`` only), starts the server on a free port and waits up
    to ``ready_timeout`` seconds until it accepts connections, then sets ``port``.
    ``stop()`` (or leaving the ``with``) runs ``pg_ctl stop -m fast``, kills the server
    if it is still running after ``stop_timeout`` seconds, and removes the data folder;
    a server still running when Python exits is stopped too.

    ``workdir`` gets the server's log, ``postgres.log``. ``max_connections`` is high
    enough for many test processes at once; ``settings`` are extra ``-c name=value``
    server settings. ``os_user`` is the account the server runs as when this process
    is root (PostgreSQL refuses to run as root); otherwise it runs as the current user.
    """

    workdir: Path
    max_connections: int = 200
    settings: Mapping[str, str] = field(default_factory=dict)
    ready_timeout: float = 60.0
    stop_timeout: float = 30.0
    os_user: str = "postgres"
    host: str = field(default=HOST, init=False)
    port: int = field(default=0, init=False)
    bin_dir: Path | None = field(default=None, init=False)
    run_dir: Path | None = field(default=None, init=False)
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _ids: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _log_offset: int = field(default=0, init=False, repr=False)

    # ----------------------------------------------------------------------- paths, urls

    @property
    def data_dir(self) -> Path:
        """The cluster's data folder (``PGDATA``), in :attr:`run_dir`."""
        return self._run_dir() / "data"

    @property
    def socket_dir(self) -> Path:
        """The folder holding the Unix socket (``unix_socket_directories``)."""
        return self._run_dir()

    @property
    def log_path(self) -> Path:
        """The file that gets the server's standard output and error; kept after stop."""
        return Path(self.workdir) / "postgres.log"

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def url(self, dbname: str = "postgres") -> str:
        """The SQLAlchemy URL of database ``dbname``, through psycopg 3 over TCP."""
        return f"postgresql+psycopg://{SUPERUSER}@{self.host}:{self._port()}/{_check_name(dbname)}"

    def conninfo(self, dbname: str = "postgres") -> str:
        """The libpq URI of database ``dbname``, for ``psycopg.connect``."""
        return f"postgresql://{SUPERUSER}@{self.host}:{self._port()}/{_check_name(dbname)}"

    def log(self, since: int = 0) -> str:
        """The last lines the server (and ``initdb``) logged, after byte ``since``."""
        try:
            with self.log_path.open("rb") as log:
                log.seek(since)
                lines = log.read().decode(errors="replace").splitlines()
        except FileNotFoundError:
            return "(no log)"
        return "\n".join(lines[-_LOG_TAIL:])

    # ------------------------------------------------------------------------- databases

    def create_database(self, name: str | None = None) -> str:
        """Create a fresh empty database (from ``template0``); returns its SQLAlchemy URL.

        Without ``name`` a random one (``test_`` and 12 hex digits) is used. Names are
        letters, digits and underscores, so they need no quoting in a URL.
        """
        name = _check_name(f"test_{secrets.token_hex(6)}" if name is None else name)
        self._admin("CREATE DATABASE {} TEMPLATE template0", name)
        return self.url(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name``, closing the connections still open to it."""
        self._admin("DROP DATABASE {} WITH (FORCE)", _check_name(name))

    def _admin(self, template: LiteralString, name: str) -> None:
        from psycopg import sql

        if not self.running:
            raise RuntimeError(f"PostgreSQL is not running: cannot {template.split()[0]} {name}")
        with self._connect("postgres", connect_timeout=10) as conn:
            conn.execute(sql.SQL(template).format(sql.Identifier(name)))

    def _connect(self, dbname: str, **kwargs: Any) -> psycopg.Connection[Any]:
        import psycopg

        # Explicit parameters override the PG* variables psycopg would otherwise read.
        params: dict[str, Any] = {"host": self.host, "port": self._port(), "user": SUPERUSER}
        return psycopg.connect(
            dbname=dbname, sslmode="disable", autocommit=True, **params, **kwargs
        )

    # ---------------------------------------------------------------------- start, stop

    def start(self) -> PostgresServer:
        """Create the cluster, start the server and wait until it accepts connections.

        Returns ``self``. Raises ``RuntimeError`` with the server's log when it does not
        come up within ``ready_timeout`` seconds.
        """
        if self._process is not None:
            raise RuntimeError(f"PostgreSQL is already running on {self.host}:{self.port}")
        self.bin_dir = find_postgres_bin()
        self._ids = self._server_ids()
        Path(self.workdir).mkdir(parents=True, exist_ok=True)
        self.log_path.write_bytes(b"")
        self.run_dir = Path(tempfile.mkdtemp(prefix="modelphase-pg-", dir=_tmp_root()))
        try:
            if self._ids is not None:
                os.chown(self.run_dir, *self._ids)
            self._initdb()
            for attempt in range(_N_PORT_ATTEMPTS):  # another process may take the port
                self.port = free_port(HOST)
                self._launch()
                try:
                    self._wait_ready()
                    return self
                except _PortTakenError:
                    self._halt()
                    if attempt == _N_PORT_ATTEMPTS - 1:
                        raise RuntimeError(
                            f"no free port for PostgreSQL after {_N_PORT_ATTEMPTS} "
                            f"attempts; its log:\n{self.log()}"
                        ) from None
        except BaseException:
            self.stop()
            raise
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Shut the server down (fast), kill it if needed, remove its data; idempotent."""
        try:
            self._halt()
        finally:
            run_dir, self.run_dir = self.run_dir, None
            if run_dir is not None:
                shutil.rmtree(run_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
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

    # ------------------------------------------------------------------------- internals

    def _run_dir(self) -> Path:
        if self.run_dir is None:
            raise RuntimeError("PostgreSQL has no data folder: call start() first")
        return self.run_dir

    def _port(self) -> int:
        if not self.port:
            raise RuntimeError("PostgreSQL has no port yet: call start() first")
        return self.port

    def _server_ids(self) -> tuple[int, int] | None:
        """The (uid, gid) to run the server as, or None to run as this process."""
        if os.geteuid() != 0:
            return None
        try:
            entry = pwd.getpwnam(self.os_user)
        except KeyError:
            _missing(
                f"running as root, and PostgreSQL refuses to; but there is no "
                f"{self.os_user!r} user to run it as: {_INSTALL_HINT} (creates it)"
            )
            raise AssertionError("unreachable") from None
        return entry.pw_uid, entry.pw_gid

    def _tool(self, name: str) -> str:
        assert self.bin_dir is not None
        return str(self.bin_dir / name)

    def _as_server_user(self) -> dict[str, Any]:
        """``Popen`` arguments that run a command as the server's user, in ``run_dir``."""
        kwargs: dict[str, Any] = {"env": _child_env(), "cwd": self._run_dir()}
        if self._ids is not None:
            kwargs.update(user=self._ids[0], group=self._ids[1], extra_groups=[])
        return kwargs

    def _run(self, command: Sequence[str], timeout: float) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            check=False,
            timeout=timeout,
            **self._as_server_user(),
        )

    def _initdb(self) -> None:
        command = [
            self._tool("initdb"),
            f"--pgdata={self.data_dir}",
            f"--username={SUPERUSER}",
            "--auth=trust",
            "--encoding=UTF8",
            "--locale=C",
            "--no-sync",
        ]
        done = self._run(command, timeout=self.ready_timeout)
        with self.log_path.open("a") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise RuntimeError(
                f"initdb failed with exit code {done.returncode}: {' '.join(command)}\n"
                f"{done.stdout}{done.stderr}"
            )
        # Only loopback TCP and the private socket; no ::1, no replication.
        hba = "local all all trust\nhost all all 127.0.0.1/32 trust\n"
        (self.data_dir / "pg_hba.conf").write_text(hba)  # initdb made it; owner unchanged

    def _launch(self) -> None:
        settings = {
            "listen_addresses": HOST,
            "port": str(self.port),
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "jit": "off",
            "timezone": "UTC",
            **self.settings,
        }
        command = [self._tool("postgres"), "-D", str(self.data_dir)]
        for name, value in settings.items():
            command += ["-c", f"{name}={value}"]
        with self.log_path.open("ab") as log:
            self._log_offset = log.tell()
            self._process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                **self._as_server_user(),
            )
        atexit.register(self._kill_at_exit)

    def _wait_ready(self) -> None:
        import psycopg

        deadline = time.monotonic() + self.ready_timeout
        last = "no answer"
        while True:
            self._check_alive()
            try:
                with self._connect("postgres", connect_timeout=2) as conn:
                    conn.execute("SELECT 1")
                return
            except psycopg.OperationalError as exc:
                last = str(exc).strip() or type(exc).__name__
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"PostgreSQL on {self.host}:{self.port} does not accept connections "
                    f"after {self.ready_timeout} s ({last}); its log:\n{self.log()}"
                )
            time.sleep(0.05)

    def _check_alive(self) -> None:
        assert self._process is not None
        code = self._process.poll()
        if code is None:
            return
        log = self.log(self._log_offset)
        if "Address already in use" in log:
            raise _PortTakenError
        raise RuntimeError(f"PostgreSQL exited with code {code} while starting; its log:\n{log}")

    def _halt(self) -> None:
        """``pg_ctl stop -m fast``; then SIGQUIT (immediate), then SIGKILL."""
        proc, self._process = self._process, None
        if proc is None:
            return
        atexit.unregister(self._kill_at_exit)
        if proc.poll() is None:
            command = [self._tool("pg_ctl"), "stop", "-D", str(self.data_dir), "-m", "fast"]
            command += ["-w", "-t", str(max(1, round(self.stop_timeout)))]
            with contextlib.suppress(subprocess.TimeoutExpired):
                self._run(command, timeout=self.stop_timeout + 5)
        _terminate(proc, timeout=self.stop_timeout)

    def _kill_at_exit(self) -> None:
        proc, self._process = self._process, None
        if proc is not None:
            _terminate(proc, timeout=5.0)
        if self.run_dir is not None:
            shutil.rmtree(self.run_dir, ignore_errors=True)


class _PortTakenError(Exception):
    """PostgreSQL could not bind the port chosen for it."""


def _terminate(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Reap the postmaster ``proc``: SIGQUIT (immediate shutdown) if it is still alive
    after a second, then SIGKILL if still alive after ``timeout`` seconds."""
    for sig, wait in ((None, 1.0), (signal.SIGQUIT, timeout)):
        if sig is not None:
            proc.send_signal(sig)
        try:
            proc.wait(wait)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()


def _tmp_root() -> str:
    """``/tmp`` when it exists (reachable by every user, short paths), else the default."""
    return "/tmp" if os.path.isdir("/tmp") else tempfile.gettempdir()


def start_postgres(workdir: Path, **options: Any) -> PostgresServer:
    """A started :class:`PostgresServer` logging to ``workdir``; the caller stops it.

    ``options`` are :class:`PostgresServer` fields (``max_connections``, ``settings``...).
    """
    return PostgresServer(Path(workdir), **options).start()
