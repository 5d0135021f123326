"""Give library tests fresh databases: SQLite files, and PostgreSQL when a server can start.

The PostgreSQL server is a throwaway cluster (``initdb`` + ``pg_ctl`` from the
Debian ``postgresql`` package) on 127.0.0.1 with trust authentication, started
once per session; each test gets its own database. As root, the server runs as
the ``postgres`` user (PostgreSQL refuses to run as root). Tests marked
``postgres`` are skipped with the reason when this is not possible.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest

from annotator.core.types import CaptionResult
from annotator.library import Library, open_library
from annotator.library.testing import caption_result, complete_job, upsert_photo


def _pg_bindir() -> Path | None:
    def version(bindir: Path) -> list[int]:
        return [int(x) for x in re.findall(r"\d+", bindir.parent.name)]

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for d in [*debian, Path("/usr/local/pgsql/bin")]:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """A throwaway PostgreSQL cluster."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            raise RuntimeError("initdb/pg_ctl not found (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.prefix: list[str] = []
        self.base = Path(tempfile.mkdtemp(prefix="annotator-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root and there is no 'postgres' user") from exc
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root and runuser is not available")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self.base.chmod(0o700)
            self.prefix = [runuser, "-u", "postgres", "--"]
        self.port = _free_port()
        self.data = self.base / "data"
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "annotator",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://annotator@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="annotator", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[_Server]:
    """Start a PostgreSQL server for the session, or skip with the reason."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    try:
        server = _Server()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot start a PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: _Server) -> str:
    """Return the URL of a new, empty PostgreSQL database."""
    return pg_server.create_database()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Return a fresh database location: a SQLite file, or a PostgreSQL database URL."""
    if request.param == "sqlite":
        return str(tmp_path / "library.sqlite3")
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def library(db_url: str) -> Iterator[Library]:
    """Open a fresh library on each backend."""
    lib = open_library(db_url)
    try:
        yield lib
    finally:
        lib.close()


@pytest.fixture
def sqlite_library(tmp_path: Path) -> Iterator[Library]:
    """Open a fresh SQLite library (for SQLite-only behaviour)."""
    lib = open_library(tmp_path / "library.sqlite3")
    try:
        yield lib
    finally:
        lib.close()


@pytest.fixture
def photos_dir(tmp_path: Path) -> Path:
    """Return an empty folder to use as a watched root."""
    folder = tmp_path / "photos"
    folder.mkdir()
    return folder


@pytest.fixture
def add_photo(photos_dir: Path) -> Callable[..., int]:
    """Return a helper that writes a file under the root and records it in a library."""
    counter = iter(range(1, 1_000_000))

    def add(
        lib: Library,
        name: str | None = None,
        *,
        content_hash: str | None = None,
        root_id: int | None = None,
    ) -> int:
        n = next(counter)
        name = name or f"photo{n}.jpg"
        path = photos_dir / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(f"jpeg {n}".encode())
        if root_id is None:
            root_id = lib.add_root(photos_dir).id
        return upsert_photo(
            lib,
            root_id,
            path,
            content_hash or f"hash{n}",
            path.stat().st_size,
            1_700_000_000.0 + n,
            640,
            480,
        ).photo_id

    return add


@pytest.fixture
def caption_photo() -> Callable[..., int]:
    """Return a helper that runs a photo through the queue with a given caption."""

    def caption(
        lib: Library,
        photo_id: int,
        text: str,
        *,
        version: str = "v1",
        grid: int = 9,
        result: CaptionResult | None = None,
    ) -> int:
        lib.enqueue([photo_id])
        jobs = [j for j in lib.claim_jobs(1000) if j.photo_id == photo_id]
        assert len(jobs) == 1, "the photo should have exactly one claimable job"
        res = result or caption_result(text, rng=np.random.default_rng(photo_id), grid=grid)
        return complete_job(lib, jobs[0].job_id, res, version)

    return caption
