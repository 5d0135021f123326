"""``annotator search`` finds and shows keywords; ``annotator caption --json`` lists them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotator.cli import main


def test_search_matches_and_shows_keywords(
    keyword_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "cat", "--library", str(keyword_library)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert line.endswith("cat.jpg\ta man is wearing a blue shirt\t[cat]")
    assert main(["search", "rocket", "--library", str(keyword_library), "--json"]) == 0
    (hit,) = json.loads(capsys.readouterr().out)
    assert hit["path"].endswith("launch.jpg") and hit["keywords"] == ["rocket"]


def test_keyword_filter(keyword_library: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["search", "", "--keyword", "Vehicles", "--library", str(keyword_library)]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "launch.jpg" in line
    assert main(["search", "man", "--keyword", "cat", "--library", str(keyword_library)]) == 0
    assert "cat.jpg" in capsys.readouterr().out
    assert main(["search", "", "--keyword", "zebra", "--library", str(keyword_library)]) == 1


def test_concept_search_and_exact(
    keyword_library: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["search", "person", "--library", str(keyword_library)]) == 0
    names = [Path(line.split("\t")[0]).name for line in capsys.readouterr().out.splitlines()]
    assert names[0] == "person.jpg"  # as typed first
    assert {"man.jpg", "cat.jpg"} <= set(names[1:])  # "a man ..."
    assert main(["search", "person", "--exact", "--library", str(keyword_library)]) == 0
    assert [Path(x.split("\t")[0]).name for x in capsys.readouterr().out.splitlines()] == [
        "person.jpg"
    ]
    assert main(["search", "animal", "--library", str(keyword_library)]) == 0
    assert {"cat.jpg", "launch.jpg"} <= {
        Path(x.split("\t")[0]).name for x in capsys.readouterr().out.splitlines()
    }


def test_caption_json_lists_keywords(
    keyword_captioner: object, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    photo = tmp_path / "p.jpg"
    photo.write_bytes(b"not read by the fake")
    assert main(["caption", "--json", str(photo)]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["keywords"] == [
        {"word": "cat", "hierarchy": ["Animals", "Mammals", "Cat"], "probability": 0.93}
    ]
    assert main(["caption", str(photo)]) == 0
    assert capsys.readouterr().out.strip().endswith("\ta cat sits on a sofa\t[cat]")
