"""A real PostgreSQL server for the whole test session (initdb + pg_ctl on a temp dir,
loopback only), shared by the relay and state-store tests."""

from __future__ import annotations

import contextlib
import glob
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_bindir() -> Path | None:
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(found).resolve().parent
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


class PostgresServer:
    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.root = Path(tempfile.mkdtemp(prefix="waba-relay-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:  # initdb refuses to run as root: use an unprivileged user
            self.user = next((u for u in ("postgres", "nobody") if _user_exists(u)), None)
            if self.user is None:
                raise RuntimeError("running as root with neither a 'postgres' nor a 'nobody' "
                                   "user to run the PostgreSQL server as")
            shutil.chown(self.root, self.user)
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._names = itertools.count(1)

    def _run(self, *cmd: str) -> None:
        full = [str(self.bindir / cmd[0]), *cmd[1:]]
        if self.user:
            full = ["runuser", "-u", self.user, "--", *full]
        subprocess.run(full, check=True, capture_output=True, timeout=120)

    def start(self) -> None:
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "-A",
            "trust",
            "--no-sync",
            "-E",
            "UTF8",
        )
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.root} -c fsync=off "
            "-c full_page_writes=off -c max_connections=100"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.root / "server.log"),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def new_database(self) -> str:
        name = f"relay_{os.getpid()}_{next(self._names)}"
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url.rsplit("/", 1)[0] + f"/{name}"


class ExternalServer(PostgresServer):
    """A server already running (``WABA_MIGRATE_TEST_PG``): many short test runs, such as
    the mutation check's one per mutant, share it instead of each starting its own.
    Each test's database is dropped after it, so they do not pile up."""

    def __init__(self, url: str) -> None:
        self.url = url
        self._names = itertools.count(1)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    external = os.environ.get("WABA_MIGRATE_TEST_PG")
    if external:
        yield ExternalServer(external)
        return
    bindir = _pg_bindir()
    if bindir is None:
        pytest.skip(
            "PostgreSQL server binaries (initdb, pg_ctl) not found on PATH or in "
            "/usr/lib/postgresql/*/bin; install the 'postgresql' package"
        )
    server = PostgresServer(bindir)
    try:
        server.start()
    except subprocess.CalledProcessError as exc:
        server.stop()
        raise RuntimeError(
            f"could not start PostgreSQL: {exc.stderr.decode(errors='replace')}"
        ) from None
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_db(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database on the session's server."""
    url = postgres.new_database()
    yield url
    if isinstance(postgres, ExternalServer):
        postgres.drop_database(url)
