"""Export corrected captions as Karpathy (read back by the trainer), JSONL, COCO and txt."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from annotator.cli import main
from annotator.core.errors import LibraryError
from annotator.library import Library, open_library
from annotator.library.testing import caption_result, upsert_photo
from annotator.pipeline.export import (
    ExportItem,
    assign_splits,
    export_coco,
    export_jsonl,
    export_karpathy,
    export_txt,
    split_value,
    unique_stems,
)
from annotator.train.dataset import load_karpathy

MODEL_ID = "tiny-random@0123456789ab"


@dataclass
class Fixture:
    """A library with photos in every caption state, and where things are."""

    library: Library
    location: Path
    photos: Path
    ids: dict[str, int]  # photo path relative to ``photos`` -> id


def _write_photo(path: Path, colour: tuple[int, int, int], size: tuple[int, int]) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, colour).save(path)
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def lib(tmp_path: Path) -> Iterator[Fixture]:
    """Return a library whose photos are corrected, accepted, drafted, untouched or gone.

    ``a.jpg``, ``a.png`` and ``sub/a.jpg`` share a stem; ``a.jpg``, ``b.jpg`` and
    ``sub/a.jpg`` were corrected ("dog" -> "puppy"); ``c.jpg``'s model caption was
    accepted; ``d.jpg`` is untouched; ``e.jpg`` has an unreviewed human draft;
    ``gone.jpg`` was corrected but its file is gone.
    """
    photos = tmp_path / "photos"
    specs = {  # name: (model caption, human caption or None, reviewed)
        "a.jpg": ("a dog on the grass", "a puppy on the grass", True),
        "a.png": ("a cat on a table", "a black cat on a table", True),
        "sub/a.jpg": ("a dog in the water", "a puppy in the water", True),
        "b.jpg": ("a man with a dog", "a man with a puppy", True),
        "c.jpg": ("a red rocket in the sky", None, True),
        "d.jpg": ("two cups of coffee", None, False),
        "e.jpg": ("a woman sitting", "a woman sitting on a bench", False),
        "gone.jpg": ("a white dog", "a white puppy", True),
    }
    photos.mkdir()
    library = open_library(tmp_path / "library.sqlite3")
    root = library.add_root(photos)
    ids = {}
    for i, name in enumerate(specs):
        path = photos / name
        size = (40 + i, 30 + i)
        digest = _write_photo(path, (10 * i, 100, 200 - 10 * i), size)
        ids[name] = upsert_photo(
            library, root.id, path, digest, path.stat().st_size, path.stat().st_mtime, *size
        ).photo_id
    library.enqueue(ids.values())
    jobs = library.claim_jobs(100)
    by_id = {v: k for k, v in ids.items()}
    library.complete_jobs(
        [
            (
                j.job_id,
                caption_result(
                    specs[by_id[j.photo_id]][0], rng=np.random.default_rng(1), model_id=MODEL_ID
                ),
                MODEL_ID,
            )
            for j in jobs
        ]
    )
    for name, (_, human, reviewed) in specs.items():
        if human is not None:
            library.add_human_revision(ids[name], human, reviewed=reviewed)
        elif reviewed:
            library.set_reviewed(ids[name])
    (photos / "gone.jpg").unlink()
    try:
        yield Fixture(library, tmp_path / "library.sqlite3", photos, ids)
    finally:
        library.close()


def test_karpathy_export_round_trips_through_the_training_reader(
    lib: Fixture, tmp_path: Path, tiny_model: Path
) -> None:
    summary = export_karpathy(lib.library, tmp_path / "out", model=tiny_model, val_share=0.5)
    assert summary.out == tmp_path / "out" / "dataset_annotator.json"
    assert (summary.photos, summary.human, summary.reviewed_model) == (6, 5, 1)
    assert summary.skipped == {"photo file not found": 1}
    assert summary.oov == {"puppy": 3, "bench": 1}  # words the model's vocabulary lacks
    assert summary.train + summary.val == 6 and summary.val >= 1

    entries = load_karpathy(summary.out)  # what `annotator train` and `finetune` read
    by_path = {e.path: e for e in entries}
    assert set(by_path) == {
        lib.photos / n for n in ("a.jpg", "a.png", "sub/a.jpg", "b.jpg", "c.jpg", "e.jpg")
    }
    assert all(e.path.is_absolute() and e.path.is_file() for e in entries)
    assert by_path[lib.photos / "a.jpg"].captions == (("a", "puppy", "on", "the", "grass"),)
    assert by_path[lib.photos / "c.jpg"].raw == ("a red rocket in the sky",)
    assert len({e.key for e in entries}) == 6

    data = json.loads(summary.out.read_text())
    rec = {Path(im["filename"]).relative_to(lib.photos).as_posix(): im for im in data["images"]}
    assert rec["a.jpg"]["model_caption"]["raw"] == "a dog on the grass"
    assert rec["a.jpg"]["model_caption"]["model_id"] == MODEL_ID
    assert rec["a.jpg"]["source"] == "human" and rec["c.jpg"]["source"] == "model"
    for im in data["images"]:  # the split is a function of the content hash alone
        assert im["split"] == ("val" if split_value(im["content_hash"]) < 0.5 else "train")

    again = export_karpathy(lib.location, tmp_path / "again", model=tiny_model, val_share=0.5)
    splits = {im["photo_id"]: im["split"] for im in data["images"]}
    assert {
        im["photo_id"]: im["split"] for im in json.loads(again.out.read_text())["images"]
    } == splits
    lines = "\n".join(summary.lines())
    assert "6 photo(s)" in lines and "puppy (3)" in lines and "skipped 1" in lines


def test_reviewed_only_and_all(lib: Fixture, tmp_path: Path, tiny_model: Path) -> None:
    only = export_karpathy(lib.library, tmp_path / "r", only_reviewed=True, model=tiny_model)
    every = export_karpathy(lib.library, tmp_path / "all", include_model=True, model=tiny_model)
    default = export_karpathy(lib.library, tmp_path / "d", model=tiny_model)
    names = {
        k: {e.path.name for e in load_karpathy(s.out)}
        for k, s in (("only", only), ("every", every), ("default", default))
    }
    assert "e.jpg" not in names["only"] and "e.jpg" in names["default"]  # a draft: unreviewed
    assert "d.jpg" in names["every"] and "d.jpg" not in names["default"]  # untouched caption
    assert (only.photos, default.photos, every.photos) == (5, 6, 7)
    assert every.unreviewed_model == 1
    assert default.oov is not None and "bench" in default.oov


def test_copied_and_linked_photos_have_collision_free_names(
    lib: Fixture, tmp_path: Path, tiny_model: Path
) -> None:
    copied = export_karpathy(lib.library, tmp_path / "copy", images="copy", model=tiny_model)
    linked = export_karpathy(lib.library, tmp_path / "link", images="link", model=tiny_model)
    for summary, link in ((copied, False), (linked, True)):
        entries = load_karpathy(summary.out)
        folder = summary.out.parent / "images"
        assert all(e.path.parent == folder and e.path.is_file() for e in entries)
        assert all(e.path.is_symlink() == link for e in entries)
        names = sorted(e.path.name for e in entries)
        assert len(set(names)) == 6
        assert {"a_png.png", "b.jpg", "c.jpg", "e.jpg"} <= set(names)
        assert sum(n.startswith("a_jpg_") and n.endswith(".jpg") for n in names) == 2
        data = json.loads(summary.out.read_text())
        for im in data["images"]:
            assert im["filepath"] == "images"
            placed = folder / im["filename"]
            assert placed.read_bytes() == Path(im["original_path"]).read_bytes()


def test_txt_export_has_one_file_per_photo_and_no_collisions(
    lib: Fixture, tmp_path: Path, tiny_model: Path
) -> None:
    summary = export_txt(lib.library, tmp_path / "txt", model=tiny_model)
    texts = sorted((tmp_path / "txt").glob("*.txt"))
    assert len(texts) == summary.photos == 6
    index = (tmp_path / "txt" / "files.tsv").read_text().splitlines()[1:]
    mapping = dict(line.split("\t") for line in index)
    assert len(mapping) == 6 and len(set(mapping.values())) == 6
    for txt, photo in mapping.items():
        current = lib.library.current_caption(lib.library.photo_by_path(photo).id)
        assert (tmp_path / "txt" / txt).read_text().strip() == current.text
    by_photo = {v: k for k, v in mapping.items()}
    digest = lib.library.photo(lib.ids["a.jpg"]).content_hash
    assert by_photo[str(lib.photos / "a.jpg")] == f"a_jpg_{digest[:8]}.txt"
    assert by_photo[str(lib.photos / "a.png")] == "a_png.txt"
    assert by_photo[str(lib.photos / "b.jpg")] == "b.txt"

    beside = export_txt(lib.library, tmp_path / "txt2", images="copy", model=tiny_model)
    folder = beside.out
    stems_txt = {p.stem for p in folder.glob("*.txt")}
    stems_img = {p.stem for p in folder.iterdir() if p.suffix != ".txt"}
    assert stems_txt == stems_img and len(stems_txt) == 6  # NAME.jpg pairs with NAME.txt


def test_jsonl_and_coco_are_valid(lib: Fixture, tmp_path: Path, tiny_model: Path) -> None:
    jl = export_jsonl(lib.library, tmp_path / "hf", images="copy", model=tiny_model)
    rows = [json.loads(line) for line in jl.out.read_text().splitlines()]
    assert len(rows) == 6 and all(set(r) == {"file_name", "text"} for r in rows)
    assert all((jl.out.parent / r["file_name"]).is_file() for r in rows)
    assert all(not Path(r["file_name"]).is_absolute() for r in rows)

    coco = export_coco(lib.library, tmp_path / "coco", model=tiny_model)
    data = json.loads(coco.out.read_text())
    assert data["type"] == "captions" and len(data["images"]) == 6
    ids = [im["id"] for im in data["images"]]
    assert len(set(ids)) == 6
    assert all(
        Path(im["file_name"]).is_file() and im["width"] > 0 and im["height"] > 0
        for im in data["images"]
    )
    ann_ids = [a["id"] for a in data["annotations"]]
    assert len(set(ann_ids)) == len(ann_ids) == 6
    assert {a["image_id"] for a in data["annotations"]} == set(ids)
    texts = {a["caption"] for a in data["annotations"]}
    assert "a puppy on the grass" in texts


def test_cli_prints_counts_and_unknown_words(
    lib: Fixture, tmp_path: Path, tiny_model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lib.library.close()
    code = main(
        [
            "export",
            "--format",
            "karpathy",
            "--out",
            str(tmp_path / "cli"),
            "--library",
            str(lib.location),
            "--model",
            str(tiny_model),
            "--link-images",
            "--val-share",
            "0.3",
        ]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert "exported 6 photo(s) as karpathy" in out and "puppy (3)" in out
    assert "photos linked into" in out and "split:" in out
    assert len(load_karpathy(tmp_path / "cli" / "dataset_annotator.json")) == 6
    empty = tmp_path / "empty.sqlite3"
    open_library(empty).close()
    code = main(
        [
            "export",
            "--format",
            "txt",
            "--out",
            str(tmp_path / "none"),
            "--library",
            str(empty),
            "--model",
            str(tiny_model),
        ]
    )
    assert code == 2 and "nothing to export" in capsys.readouterr().err
    assert not (tmp_path / "none").exists()


def _item(pid: int, path: str, digest: str) -> ExportItem:
    return ExportItem(pid, Path(path), digest, "a cat", "human", True, None, None, None, 1, 1)


def test_unique_stems_are_deterministic_and_case_insensitive() -> None:
    items = [
        _item(1, "/p/a.jpg", "aaaa1111x"),
        _item(2, "/p/A.png", "bbbb2222x"),
        _item(3, "/q/a.jpg", "cccc3333x"),
        _item(4, "/p/a_jpg.gif", "dddd4444x"),
        _item(5, "/p/b.jpg", "eeee5555x"),
        _item(6, "/r/a.jpg", "aaaa1111x"),
    ]
    stems = unique_stems(items)
    assert len({s.casefold() for s in stems}) == 6
    assert stems[1] == "A_png" and stems[4] == "b"
    assert stems[0] == "a_jpg_aaaa1111_1" and stems[5] == "a_jpg_aaaa1111_6"  # same content
    assert stems[2] == "a_jpg_cccc3333"
    assert unique_stems(items) == stems


def test_split_keeps_copies_together_and_never_leaves_val_empty() -> None:
    items = [_item(i, f"/p/{i}.jpg", f"hash{i % 7}") for i in range(40)]
    split = assign_splits(items, 0.3)
    by_hash: dict[str, set[str]] = {}
    for it in split:
        by_hash.setdefault(it.content_hash, set()).add(it.split)
    assert all(len(s) == 1 for s in by_hash.values())
    two = assign_splits(items[:2], 1e-9)
    assert sorted(it.split for it in two) == ["train", "val"]
    assert {it.split for it in assign_splits(items[:2], 0.0)} == {"train"}
    with pytest.raises(ValueError):
        assign_splits(items, 1.0)


def test_empty_library_is_an_error(tmp_path: Path) -> None:
    with (
        open_library(tmp_path / "x.sqlite3") as library,
        pytest.raises(LibraryError, match="nothing to export"),
    ):
        export_jsonl(library, tmp_path / "out")
