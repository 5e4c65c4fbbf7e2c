"""Tests of the PostgreSQL harness: a real server on loopback, fresh databases, clean stop."""

from __future__ import annotations

import os
import pwd
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from support import postgres as harness
from support.postgres import PostgresServer, find_postgres_bin, start_postgres

N_CONCURRENT = 20


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """One server for the tests that do not stop it."""
    with start_postgres(tmp_path_factory.mktemp("postgres")) as pg:
        yield pg


# --------------------------------------------------------------------------- no server


def test_missing_binaries_skip_locally_and_fail_in_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(harness, "_DEBIAN_BINS", "/nonexistent/postgresql/*/bin")
    monkeypatch.setenv("PATH", "")
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception, match="apt-get install postgresql"):
        find_postgres_bin()
    monkeypatch.setenv("CI", "true")
    with pytest.raises(RuntimeError, match="apt-get install postgresql"):
        find_postgres_bin()


def test_names_are_checked_and_an_unstarted_server_says_so(tmp_path: Path) -> None:
    pg = PostgresServer(tmp_path)
    for bad in ("", "1st", "a-b", "a b", 'x"; DROP', "x" * 64):
        with pytest.raises(ValueError, match="database name"):
            pg.create_database(bad)
    with pytest.raises(RuntimeError, match="start"):
        pg.url("fine")
    with pytest.raises(RuntimeError, match="not running"):
        PostgresServer(tmp_path).drop_database("fine")
    pg.stop()  # idempotent, even before start


# --------------------------------------------------------------------------- a real server


@pytest.mark.postgres
def test_databases_are_fresh_separate_and_reachable_by_sqlalchemy_and_psycopg(
    server: PostgresServer,
) -> None:
    first_url = server.create_database()
    second_url = server.create_database("second_db")
    first = first_url.rsplit("/", 1)[1]
    assert first.startswith("test_")
    assert first_url == f"postgresql+psycopg://postgres@127.0.0.1:{server.port}/{first}"
    assert second_url == server.url("second_db")

    for url, city in ((first_url, "Zürich"), (second_url, "Oslo")):
        engine = sa.create_engine(url)
        try:
            with engine.begin() as conn:
                tables = conn.execute(
                    sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'")
                ).scalar_one()
                assert tables == 0  # empty, whatever the other database holds
                conn.execute(sa.text("CREATE TABLE site (id int PRIMARY KEY, name text)"))
                conn.execute(sa.text("INSERT INTO site VALUES (1, :name)"), {"name": city})
            with engine.connect() as conn:
                assert conn.execute(sa.text("SELECT name FROM site")).scalar_one() == city
        finally:
            engine.dispose()

    for name, city in ((first, "Zürich"), ("second_db", "Oslo")):
        with psycopg.connect(server.conninfo(name)) as conn:
            assert conn.execute("SELECT id, name FROM site").fetchall() == [(1, city)]
            assert conn.execute("SHOW server_encoding").fetchone() == ("UTF8",)

    # An open connection does not block the drop; a dropped database is gone.
    with psycopg.connect(server.conninfo(first)) as lingering:
        server.drop_database(first)
        with pytest.raises(psycopg.OperationalError):
            lingering.execute("SELECT 1")
    server.drop_database("second_db")
    with pytest.raises(psycopg.OperationalError, match="does not exist"):
        psycopg.connect(server.conninfo("second_db")).close()


@pytest.mark.postgres
def test_twenty_connections_at_once(server: PostgresServer) -> None:
    name = server.create_database().rsplit("/", 1)[1]
    engine = sa.create_engine(server.url(name), pool_size=N_CONCURRENT, max_overflow=0)
    all_open = threading.Barrier(N_CONCURRENT, timeout=30)
    all_counted = threading.Barrier(N_CONCURRENT, timeout=30)
    count = sa.text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()")

    def work(i: int) -> tuple[int, int]:
        with engine.begin() as conn:
            conn.execute(sa.text("SELECT pg_sleep(0.01)"))
            all_open.wait()
            pid, seen = conn.execute(sa.text(f"SELECT pg_backend_pid(), ({count})")).one()
            all_counted.wait()
        return int(pid), int(seen)

    try:
        with ThreadPoolExecutor(N_CONCURRENT) as pool:
            results = list(pool.map(work, range(N_CONCURRENT)))
    finally:
        engine.dispose()
        server.drop_database(name)
    assert len({pid for pid, _ in results}) == N_CONCURRENT
    assert {seen for _, seen in results} == {N_CONCURRENT}


@pytest.mark.postgres
def test_listens_on_loopback_only_with_test_settings(server: PostgresServer) -> None:
    with psycopg.connect(server.conninfo()) as conn:
        settings: dict[str, str] = dict(
            conn.execute(
                "SELECT name, setting FROM pg_settings WHERE name = ANY(%s)",
                (["listen_addresses", "fsync", "synchronous_commit", "full_page_writes"],),
            ).fetchall()
        )
        assert settings == {
            "listen_addresses": "127.0.0.1",
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        assert conn.execute("SHOW max_connections").fetchone() == ("200",)
        assert conn.execute("SHOW unix_socket_directories").fetchone() == (str(server.socket_dir),)

    # The Unix socket is in the server's own folder, not /var/run/postgresql.
    assert (server.socket_dir / f".s.PGSQL.{server.port}").is_socket()
    with psycopg.connect(host=str(server.socket_dir), port=server.port, user="postgres") as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)

    # Other addresses of this machine refuse the port.
    others = [("127.0.0.2", socket.AF_INET), ("::1", socket.AF_INET6)]
    others += [(address, socket.AF_INET) for address in _outbound_ipv4()]
    for address, family in others:
        with socket.socket(family, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            # An errno: refused, or no such address here. 0 would mean connected.
            assert sock.connect_ex((address, server.port)) != 0, address

    if Path("/proc/net/tcp").exists():  # Linux: the listening sockets on that port
        assert _listening("/proc/net/tcp", server.port) == ["0100007F"]  # 127.0.0.1
        assert _listening("/proc/net/tcp6", server.port) == []

    if os.geteuid() == 0:  # PostgreSQL refuses root: it runs as the postgres user
        assert server.data_dir.stat().st_uid == pwd.getpwnam("postgres").pw_uid


@pytest.mark.postgres
def test_a_stopped_server_refuses_connections_and_leaves_nothing(tmp_path: Path) -> None:
    with PostgresServer(tmp_path, max_connections=20) as pg:
        port, run_dir = pg.port, pg.run_dir
        assert run_dir is not None
        assert run_dir.parent == Path("/tmp")
        url = pg.create_database("kept_open")
        lingering = psycopg.connect(pg.conninfo("kept_open"))  # fast shutdown ends it
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT 1")).scalar_one() == 1
    try:
        assert not pg.running
        assert not run_dir.exists()
        assert "database system is shut down" in pg.log()  # the log stays in workdir
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(host="127.0.0.1", port=port, user="postgres", connect_timeout=2)
        engine.dispose()  # no pooled connection: connect for real
        with pytest.raises(sa.exc.OperationalError), engine.connect():
            pass
        with socket.socket() as sock, pytest.raises(ConnectionRefusedError):
            sock.connect(("127.0.0.1", port))
        pg.stop()  # idempotent
    finally:
        lingering.close()
        engine.dispose()


# --------------------------------------------------------------------------- helpers


def _outbound_ipv4() -> list[str]:
    """This machine's address on the default route, if it has one (no packet is sent)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(("192.0.2.1", 9))  # TEST-NET-1: routing only
        except OSError:
            return []
        address = str(sock.getsockname()[0])
    return [] if address.startswith("127.") else [address]


def _listening(table: str, port: int) -> list[str]:
    """The local addresses (hex, as in ``/proc/net/tcp``) listening on ``port``."""
    found = []
    for line in Path(table).read_text().splitlines()[1:]:
        fields = line.split()
        address, hex_port = fields[1].rsplit(":", 1)
        if int(hex_port, 16) == port and fields[3] == "0A":  # 0A = LISTEN
            found.append(address)
    return found
