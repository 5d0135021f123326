"""Version the schema with Alembic: migrate old libraries, match the models, refuse newer."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, text

from annotator.core.errors import LibraryError
from annotator.library import db, open_library
from annotator.library.schema import Base

FIRST = "0001"


def _engine(db_url: str) -> Engine:
    url, _ = db.resolve_location(db_url)
    return db.create_library_engine(url)


def test_migrate_from_the_first_schema_version(db_url: str, tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    photos.mkdir()
    engine = _engine(db_url)
    db.upgrade(engine, FIRST)
    assert db.current_revision(engine) == FIRST
    # Fill the database as version 0001 knew it (plain SQL: no current models involved).
    with engine.begin() as conn:
        stamp = "2024-05-01 12:00:00"
        conn.execute(
            text("INSERT INTO roots (path, paused, added_at) VALUES (:p, :f, :t)"),
            {"p": str(photos), "f": False, "t": stamp},
        )
        for i, caption in enumerate(
            ["a heron stands in shallow water", "children build a sandcastle"], start=1
        ):
            conn.execute(
                text(
                    "INSERT INTO photos (root_id, path, content_hash, size, mtime, photo_date,"
                    " state, added_at, updated_at) SELECT id, :p, :h, 10, 1.0, :t, 'captioned',"
                    " :t, :t FROM roots"
                ),
                {"p": str(photos / f"{i}.jpg"), "h": f"h{i}", "t": stamp},
            )
            conn.execute(
                text(
                    "INSERT INTO captions (photo_id, text, source, model_version, reviewed,"
                    " is_current, created_at) SELECT id, :c, 'model', 'v0', :f, :tr, :t"
                    " FROM photos WHERE path = :p"
                ),
                {"c": caption, "f": False, "tr": True, "t": stamp, "p": str(photos / f"{i}.jpg")},
            )
        heron, castle = conn.execute(text("SELECT id FROM photos ORDER BY path")).scalars()
    engine.dispose()

    library = open_library(db_url)  # migrates to the newest revision
    try:
        assert db.current_revision(library.engine) == db.head_revision() != FIRST
        assert [h.photo_id for h in library.search("herons")] == [heron]
        assert [h.photo_id for h in library.search("sandcastle")] == [castle]
        library.check_index()
        library.add_human_revision(castle, "our kids and their sandcastle")  # still works
        assert library.current_caption(castle).text == "our kids and their sandcastle"
        assert library.caption_history(castle)[0].model_version == "v0"
    finally:
        library.close()


def test_models_match_the_migrations(db_url: str) -> None:
    engine = _engine(db_url)
    db.upgrade(engine)

    def ours(name: str | None, type_: str, _parent: object) -> bool:
        # The full-text index is created by fts.py, outside the models.
        return not (name or "").startswith(("captions_fts", "current_captions"))

    def this_dialect(_obj: object, name: str | None, *_: object) -> bool:
        # The path prefix index (revision 0006) exists on PostgreSQL only.
        return name != "ix_photos_path_prefix" or engine.dialect.name == "postgresql"

    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={"compare_type": True, "include_name": ours, "include_object": this_dialect},
        )
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    assert diff == []


def test_downgrade_and_upgrade_again(db_url: str) -> None:
    engine = _engine(db_url)
    db.upgrade(engine)
    config = db._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, FIRST)
    assert db.current_revision(engine) == FIRST
    db.upgrade(engine)
    assert db.current_revision(engine) == db.head_revision()
    engine.dispose()


def test_a_newer_schema_is_refused(db_url: str) -> None:
    open_library(db_url).close()
    engine = _engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = 'f00d'"))
    engine.dispose()
    with pytest.raises(LibraryError, match="newer annotator"):
        open_library(db_url)


def test_reopening_is_a_no_op(db_url: str) -> None:
    first = open_library(db_url)
    first.close()
    second = open_library(db_url)
    assert db.current_revision(second.engine) == db.head_revision()
    second.close()


def _fts_objects(engine: Engine) -> set[tuple[str, str]]:
    """Return the full-text index's tables, views, triggers and functions with their SQL."""
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT name, sql FROM sqlite_master WHERE name LIKE 'captions_%' "
                    "OR name LIKE 'keywords_a%' OR name IN ('current_captions', "
                    "'caption_documents')"
                )
            )
            return {(n, " ".join((s or "").split())) for n, s in rows}
        rows = conn.execute(
            text(
                "SELECT tgname, pg_get_triggerdef(oid) FROM pg_trigger WHERE NOT tgisinternal "
                "UNION ALL SELECT proname, prosrc FROM pg_proc WHERE proname IN "
                "('captions_fts_sync', 'keywords_fts_sync', 'keywords_document') "
                "UNION ALL SELECT indexname, indexdef FROM pg_indexes WHERE tablename = "
                "'captions_fts'"
            )
        )
        return {(n, " ".join(s.split())) for n, s in rows}


def test_the_frozen_migration_builds_the_index_the_code_expects(db_url: str) -> None:
    from annotator.library import fts

    migrated = _engine(db_url)
    db.upgrade(migrated)  # revision 0003 built the index the code queries today
    expected = _fts_objects(migrated)
    index = fts.for_dialect(migrated.dialect.name)
    with migrated.begin() as conn:
        index.uninstall(conn)
    assert _fts_objects(migrated) == set()  # uninstall removed all of it
    with migrated.begin() as conn:  # the live code's SQL on the same schema
        index.install(conn)
        index.check(conn)
    live = _fts_objects(migrated)
    migrated.dispose()
    assert expected and live == expected


def test_revision_0002_restores_the_caption_only_index(db_url: str) -> None:
    engine = _engine(db_url)
    db.upgrade(engine)
    config = db._alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "0002")
    names = {n for n, _ in _fts_objects(engine)}
    engine.dispose()
    assert "captions_ai" in names and not {"keywords_ai", "keywords_aiud"} & names
