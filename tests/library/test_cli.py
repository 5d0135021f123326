"""Run ``annotator search`` and ``annotator purge`` against a real library."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from annotator.cli import purge as purge_cmd
from annotator.cli import search as search_cmd
from annotator.core.errors import LibraryError
from annotator.library import open_library


def cli(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="annotator")
    sub = parser.add_subparsers()
    search_cmd.register(sub)
    purge_cmd.register(sub)
    args = parser.parse_args(argv)
    return args.func(args)


@pytest.fixture
def lib_path(
    tmp_path: Path, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> str:
    path = tmp_path / "lib.sqlite3"
    with open_library(path) as lib:
        for text in ("a dog catches a frisbee", "a cat on a roof", "a dog in a pond"):
            caption_photo(lib, add_photo(lib), text)
    return str(path)


def test_search_text(lib_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("search", "frisbee", "--library", lib_path) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].endswith("\ta dog catches a [frisbee]")


def test_search_json_and_limit(lib_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("search", "dogs", "--library", lib_path, "--json", "--limit", "1") == 0
    hits = json.loads(capsys.readouterr().out)
    assert len(hits) == 1 and "[dog]" in hits[0]["snippet"]
    assert {"path", "text", "score", "reviewed", "source"} <= set(hits[0])


def test_search_hostile_and_no_match(lib_path: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli("search", '"(NEAR AND', "--library", lib_path) == 1
    assert "no matches" in capsys.readouterr().err
    assert cli("search", "dog", "--library", lib_path, "--limit", "0") == 2


def test_search_needs_an_existing_library(tmp_path: Path) -> None:
    with pytest.raises(LibraryError, match="no library here"):
        cli("search", "dog", "--library", str(tmp_path / "none.sqlite3"))
    assert not (tmp_path / "none.sqlite3").exists()


def test_purge(lib_path: str, photos_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with open_library(lib_path) as lib:
        gone = next(iter(photos_dir.glob("*.jpg")))
        gone.unlink()
        assert lib.mark_missing([gone]) == 1
    assert cli("purge", "--library", lib_path, "--dry-run") == 0
    assert "1 missing" in capsys.readouterr().out
    assert cli("purge", "--library", lib_path) == 0
    assert "purged 1" in capsys.readouterr().out
    with open_library(lib_path) as lib:
        assert lib.photo_by_path(gone) is None
