"""The registry database: engines for SQLite and PostgreSQL, transactions, migrations.

SQLite runs in WAL mode with a busy timeout, and write transactions start with ``BEGIN
IMMEDIATE`` so that concurrent writers queue instead of failing half-way. The schema is
created or upgraded with Alembic when the registry opens, under a lock (a file lock on
SQLite, an advisory lock on PostgreSQL) so that several processes opening a new
registry at once do not race. A database whose schema is newer than this code is
refused.

Every database error is mapped in one place (``Database._errors``): a server that cannot
be reached becomes :class:`RegistryUnavailableError`, a lock held past the busy timeout
:class:`RegistryBusyError`, a full, read-only, failing or damaged database file
:class:`RegistryStorageError`; each says how to fix it. Anything else is a bug and is
raised as it came.
"""

from __future__ import annotations

import fcntl
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError

from modelphase.exceptions import (
    RegistryBusyError,
    RegistryStorageError,
    RegistryUnavailableError,
    SchemaVersionError,
)
from modelphase.registry.schema import HEAD, KNOWN_REVISIONS

__all__ = ["Database", "safe_url"]

_MIGRATIONS = Path(__file__).parent / "migrations"
_BUSY_TIMEOUT_S = 30.0
_PG_LOCK_KEY = 0x6D6F64656C  # "model"


def safe_url(url: str) -> str:
    """``url`` without its password, for messages."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return "(an unparsable database URL)"


class Database:
    """A registry database behind a SQLAlchemy URL (``sqlite:///...`` or
    ``postgresql+psycopg://...``)."""

    def __init__(self, url: str, *, connect_timeout: float = 10.0) -> None:
        try:
            parsed = sa.engine.make_url(url)
        except sa.exc.ArgumentError as exc:
            raise RegistryUnavailableError(
                f"expected a database URL such as sqlite:///path/registry.db or "
                f"postgresql+psycopg://user@host/db, got {safe_url(url)!r}"
            ) from exc
        self.url = url
        self.dialect = parsed.get_backend_name()
        self.embedded = self.dialect == "sqlite"
        if self.embedded:
            if parsed.database and parsed.database != ":memory:":
                try:
                    Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    raise RegistryUnavailableError(
                        f"cannot create the registry database at {parsed.database}: {exc}. "
                        "Fix: check MODELPHASE_HOME or MODELPHASE_REGISTRY_URL"
                    ) from exc
            self.engine = sa.create_engine(
                url, connect_args={"timeout": _BUSY_TIMEOUT_S}, poolclass=sa.pool.NullPool
            )
            sa.event.listen(self.engine, "connect", _sqlite_connect)
            sa.event.listen(self.engine, "begin", _sqlite_begin)
        elif self.dialect == "postgresql":
            self.engine = sa.create_engine(
                url,
                connect_args={"connect_timeout": max(1, round(connect_timeout))},
                pool_pre_ping=True,
                pool_size=2,
                max_overflow=4,
            )
        else:
            raise RegistryUnavailableError(
                f"expected a SQLite or PostgreSQL URL, got the {self.dialect!r} dialect "
                f"({safe_url(url)})"
            )
        self._lock_path = (
            Path(f"{parsed.database}.lock")
            if self.embedded and parsed.database and parsed.database != ":memory:"
            else None
        )

    def dispose(self) -> None:
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (deferred on SQLite: it takes no write lock)."""
        with self._errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: committed at the end, rolled back on any error."""
        with self._errors(), self.engine.connect() as conn:
            conn.info["immediate"] = True
            try:
                with conn.begin():
                    yield conn
            finally:
                conn.info.pop("immediate", None)

    def revision(self) -> str | None:
        """The schema revision stored in the database (None for an empty one)."""
        with self.read() as conn:
            if not sa.inspect(conn).has_table("alembic_version"):
                return None
            return conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()

    def ensure_schema(self) -> None:
        """Create or upgrade the schema to :data:`HEAD`; refuse a newer one."""
        current = self.revision()
        if current == HEAD:
            return
        self._check_known(current)
        with self._migration_lock():
            current = self.revision()  # another process may have done it meanwhile
            if current == HEAD:
                return
            self._check_known(current)
            self._upgrade()

    def _check_known(self, current: str | None) -> None:
        if current is not None and current not in KNOWN_REVISIONS:
            raise SchemaVersionError(
                f"the registry at {safe_url(self.url)} has schema revision {current!r}, "
                f"newer than this modelphase knows (up to {HEAD!r}). Fix: upgrade "
                "modelphase to the version that wrote it"
            )

    def _upgrade(self) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(_MIGRATIONS))
        with self._errors(), self.engine.begin() as conn:
            config.attributes["connection"] = conn
            command.upgrade(config, HEAD)

    @contextmanager
    def _migration_lock(self) -> Iterator[None]:
        if self._lock_path is not None:
            try:
                fh = self._lock_path.open("a")
            except OSError as exc:
                raise RegistryStorageError(
                    f"cannot open the registry's lock file {self._lock_path}: "
                    f"{exc.strerror or exc}. Fix: free space on its disk or make its folder "
                    "writable, then retry"
                ) from exc
            with fh:
                fcntl.flock(fh, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(fh, fcntl.LOCK_UN)
        elif self.dialect == "postgresql":
            with self._errors(), self.engine.connect() as conn:
                conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_LOCK_KEY})
                conn.commit()
                try:
                    yield
                finally:
                    conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_LOCK_KEY})
                    conn.commit()
        else:
            yield

    @contextmanager
    def _errors(self) -> Iterator[None]:
        """Map the driver's errors to the registry's own (the one place that does)."""
        try:
            yield
        except DBAPIError as exc:
            mapped = _mapped(exc, safe_url(self.url))
            if mapped is None:
                raise
            raise mapped from exc


#: words of the drivers' messages (SQLite, PostgreSQL) by what they mean
_BUSY = ("database is locked", "database table is locked", "lock timeout", "deadlock detected")
_FULL = ("database or disk is full", "no space left on device", "could not extend file")
_READ_ONLY = ("readonly database", "read-only file system", "read only file system")
_DAMAGED = ("file is not a database", "database disk image is malformed")
_IO = ("disk i/o error",)


def _mapped(exc: DBAPIError, url: str) -> RegistryUnavailableError | None:
    """The registry error for a driver error, or None for one that is not about the
    database being reachable, free or intact (a bug, raised as it came)."""
    text = str(exc.orig).lower()
    why = _first_line(exc.orig)
    if any(word in text for word in _BUSY):
        return RegistryBusyError(
            f"the registry database at {url} is busy: another process held its write lock "
            f"for more than {_BUSY_TIMEOUT_S:g} s ({why}). Fix: retry once the other "
            "writer (a train, register or promote) is done"
        )
    if any(word in text for word in _FULL):
        return RegistryStorageError(
            f"the registry database at {url} cannot be written: {why} (its disk is full); "
            "nothing was changed. Fix: free space on the disk that holds it, then retry"
        )
    if any(word in text for word in _READ_ONLY):
        return RegistryStorageError(
            f"the registry database at {url} cannot be written: {why}. Fix: make the file, "
            "its -wal and -shm files and its folder writable, or point "
            "MODELPHASE_REGISTRY_URL at a writable one"
        )
    if any(word in text for word in _IO):
        return RegistryStorageError(
            f"the registry database at {url} cannot be read or written: {why} (a full or "
            "failing disk); nothing was changed. Fix: free space on the disk that holds it "
            "and check it, then retry"
        )
    if any(word in text for word in _DAMAGED):
        return RegistryStorageError(
            f"the registry database at {url} is damaged: {why}. Fix: restore it from a "
            "backup, or check that MODELPHASE_REGISTRY_URL names a modelphase registry"
        )
    if _is_connection_problem(exc):
        return RegistryUnavailableError(
            f"cannot reach the registry database at {url}: {why}. Fix: check "
            "MODELPHASE_REGISTRY_URL and that the server runs"
        )
    return None


def _is_connection_problem(exc: DBAPIError) -> bool:
    if exc.connection_invalidated:
        return True
    text = str(exc.orig).lower()
    return any(
        word in text
        for word in (
            "connection refused",
            "could not connect",
            "connection failed",
            "unable to open database",
            "timeout expired",
            "could not translate host",
            "server closed the connection",
            "no such host",
        )
    )


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else "error"


def _sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # we issue BEGIN ourselves
    cursor = dbapi_connection.cursor()
    _switch_to_wal(cursor)
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(_BUSY_TIMEOUT_S * 1000)}")
    cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """``PRAGMA journal_mode=WAL``, retried until the busy timeout: connections racing to
    switch a brand-new database file can get "database is locked" at once, without the
    busy handler being called (SQLite's deadlock avoidance)."""
    deadline = time.monotonic() + _BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(delay * 2, 0.05)


def _sqlite_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("immediate") else "BEGIN")
