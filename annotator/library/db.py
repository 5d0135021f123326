"""Open library databases: URL resolution, engines, SQLite pragmas, migrations.

``resolve_location`` turns what the user gave (nothing, a file path, or a
database URL) into a SQLAlchemy URL. SQLite connections get WAL journaling,
foreign keys, a busy timeout, a 32 MiB page cache with memory-mapped reads, and
``synchronous=NORMAL`` (safe with WAL: a crash of the program loses nothing
committed; a power cut may lose the last transactions, never half of one).
pysqlite's own transaction handling is turned off so that :func:`writer` can
start write transactions with ``BEGIN IMMEDIATE``: a writer then waits (up to
the busy timeout) for the write lock before it reads, instead of failing with
"database is locked" when it upgrades a stale read snapshot.

The schema is versioned with Alembic; the migration scripts ship in
``annotator/library/migrations`` and :func:`upgrade` runs them in one
transaction (under an advisory lock on PostgreSQL, so that machines sharing a
library cannot migrate it twice).
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Any, cast

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event, inspect, text
from sqlalchemy.engine import URL, CursorResult, Result, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from annotator.core.errors import LibraryError
from annotator.core.settings import default_library_path, load_settings

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
CACHE_KIB = 32 * 1024  # SQLite page cache per connection
MMAP_BYTES = 1 << 30  # address space only: pages come from the OS file cache
MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_BEGIN_OPTION = "annotator_sqlite_begin"
_PG_MIGRATION_LOCK = 0x616E6E6F  # "anno": pg_advisory_xact_lock key for migrations


def resolve_location(location: str | Path | None) -> tuple[URL, Path | None]:
    """Return the database URL for ``location`` and, for a SQLite file, its path.

    ``None`` means the settings' library (by default, one in the user data
    directory). A string with ``://`` is a SQLAlchemy URL (``postgresql://`` uses
    psycopg 3); anything else is a SQLite file path. ``":memory:"`` gives a
    private in-memory database.
    """
    if location is None:
        location = load_settings().library or default_library_path()
    if isinstance(location, str) and "://" in location:
        try:
            url = make_url(location)
        except ArgumentError as exc:
            raise LibraryError(f"not a database URL: {location!r}") from exc
        if url.drivername in ("postgresql", "postgres"):
            url = url.set(drivername="postgresql+psycopg")
        if url.get_backend_name() == "sqlite":
            db = url.database
            return url, (Path(db).resolve() if db and db != ":memory:" else None)
        return url, None
    if str(location) == ":memory:":
        return make_url("sqlite://"), None
    path = Path(location).expanduser().resolve()
    if path.is_dir():
        raise LibraryError(f"{path}: is a folder; give the library's file name")
    return URL.create("sqlite", database=str(path)), path


def _on_sqlite_connect(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.isolation_level = None  # transactions are begun by _on_sqlite_begin
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA journal_mode = WAL")
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        # Searches read many small rows: keep hot pages in memory (page cache and mmap).
        cursor.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        cursor.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
    finally:
        cursor.close()


def _on_sqlite_begin(conn: Any) -> None:
    mode = conn.get_execution_options().get(_BEGIN_OPTION, "DEFERRED")
    conn.exec_driver_sql(f"BEGIN {mode}")


def create_library_engine(url: URL) -> Engine:
    """Create an engine for ``url`` with the library's connection settings."""
    backend = url.get_backend_name()
    if backend == "sqlite":
        kwargs: dict[str, Any] = {
            "connect_args": {"check_same_thread": False, "timeout": BUSY_TIMEOUT_MS / 1000},
        }
        if url.database in (None, "", ":memory:"):
            kwargs["poolclass"] = StaticPool
        engine = create_engine(url, **kwargs)
        event.listen(engine, "connect", _on_sqlite_connect)
        event.listen(engine, "begin", _on_sqlite_begin)
        return engine
    if backend == "postgresql":
        return create_engine(url, pool_pre_ping=True)
    raise LibraryError(f"unsupported database {backend!r}: use SQLite or PostgreSQL")


def driver_error(exc: SQLAlchemyError) -> BaseException:
    """Return the database driver's own error behind ``exc`` (its message is the clearest)."""
    return exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc


def rowcount(result: Result[Any]) -> int:
    """Return how many rows an INSERT, UPDATE or DELETE touched (0 when the driver cannot say)."""
    return int(cast(CursorResult[Any], result).rowcount or 0)


def writer(engine: Engine) -> Engine:
    """Return ``engine`` set to begin transactions for writing (``BEGIN IMMEDIATE`` on SQLite)."""
    if engine.dialect.name == "sqlite":
        return engine.execution_options(**{_BEGIN_OPTION: "IMMEDIATE"})
    return engine


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    """Return the newest schema revision this code knows."""
    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """Return the schema revision of the database (None for an empty database)."""
    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _refuse_foreign(conn: Connection) -> None:
    """Raise LibraryError if a database without annotator's schema version holds tables.

    Only an empty database becomes a new library: annotator never adds its tables
    to another application's database.
    """
    tables = [t for t in inspect(conn).get_table_names() if not t.startswith("sqlite_")]
    if tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise LibraryError(
            f"{_where(conn)}: not an annotator library (it holds other tables: {shown}); "
            "choose a new file or an annotator library with --library"
        )


def refuse_foreign_file(path: Path) -> None:
    """Raise LibraryError unless the SQLite file ``path`` is empty or an annotator library.

    Looks read-only, before any connection setting (such as WAL journaling) could
    change someone else's database.
    """
    try:
        if path.stat().st_size == 0:
            return
        with path.open("rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise LibraryError(f"{path}: cannot open the library: not a SQLite database")
        conn = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master")}
        finally:
            conn.close()
    except (OSError, sqlite3.Error) as exc:
        raise LibraryError(f"{path}: cannot read the library ({exc})") from exc
    if tables and "alembic_version" not in tables:
        shown = ", ".join(sorted(tables)[:5]) + (", ..." if len(tables) > 5 else "")
        raise LibraryError(
            f"{path}: not an annotator library (it holds other tables: {shown}); "
            "choose a new file or an annotator library with --library"
        )


def _where(conn: Connection) -> str:
    url = conn.engine.url
    if url.get_backend_name() == "sqlite" and url.database:
        return str(url.database)
    return url.render_as_string(hide_password=True)


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Migrate the database to ``revision`` (the newest by default), in one transaction."""
    script = ScriptDirectory.from_config(_alembic_config())
    config = _alembic_config()
    with writer(engine).begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        current = MigrationContext.configure(conn).get_current_revision()
        if current is None:
            _refuse_foreign(conn)
        if current is not None and current not in {s.revision for s in script.walk_revisions()}:
            raise LibraryError(
                f"the library is at schema revision {current}, which this version of "
                "annotator does not know: it was made by a newer annotator"
            )
        config.attributes["connection"] = conn
        command.upgrade(config, revision)
        log.debug("library schema at %s (was %s)", revision, current)
