"""Export the library's captions as training data: Karpathy JSON, JSON Lines, COCO, text files.

Which photos
    By default every present photo whose current caption a person wrote, corrected
    or accepted (a human caption, or a model caption marked reviewed).
    ``only_reviewed`` keeps only captions with the reviewed flag (a human draft saved
    unreviewed is left out); ``include_model`` adds unreviewed model captions too
    (captions for a diffusion data set, say). Photos whose file is gone are skipped.

Split (Karpathy)
    A photo is in ``val`` when a hash of its content hash falls below ``val_share``,
    else in ``train``: the same photo lands in the same split in every export, and
    copies of one photo share a split. If that leaves ``val`` empty while there are
    two or more distinct photos, the photo whose hash is lowest goes to ``val``.

Images
    ``images="reference"`` (the default) names each original by its absolute path
    (``annotator train`` and ``annotator finetune`` read absolute ``filename``\\ s:
    ``Path(root) / absolute`` is ``absolute``); ``"copy"`` and ``"link"`` (symbolic
    links, hard links where those fail) put the photos in ``OUT/images`` under
    collision-free names and refer to them relatively.

Names
    Copied or linked photos, and the text files of the ``txt`` format, keep the
    photo's stem when no other exported photo has the same stem (ignoring case, for
    case-insensitive file systems). Every photo of a colliding group gets a
    deterministic suffix instead: first its extension (``a.jpg`` and ``a.png``
    become ``a_jpg.jpg`` / ``a_png.png`` and ``a_jpg.txt`` / ``a_png.txt``), then
    the first 8 characters of its content hash, then its photo id. Stems stay unique
    with the extension stripped, which is how diffusion-training tools pair
    ``NAME.jpg`` with ``NAME.txt``; ``txt`` exports also write ``files.tsv`` mapping
    each text file to its original photo.

Formats (one function each; they return an :class:`ExportSummary`)
    ``export_karpathy``  ``OUT/dataset_annotator.json``; every image keeps
                         ``model_caption`` (the model's caption the person corrected,
                         with its ``model_id``), which readers of the format ignore.
    ``export_jsonl``     ``OUT/metadata.jsonl`` (Hugging Face ImageFolder:
                         ``file_name``, ``text``); copy or link the photos for a
                         self-contained folder (references are absolute paths).
    ``export_coco``      ``OUT/captions.json`` (COCO captions: ``images`` with id,
                         file_name, width, height; ``annotations`` with id, image_id,
                         caption).
    ``export_txt``       one ``STEM.txt`` per photo, beside the copied photos in
                         ``OUT/images`` or, referencing originals, in ``OUT``.

Files of an earlier export with the same names are replaced; other files are left.
The summary counts the photos and lists the words of the people's captions that the
model's vocabulary lacks (``annotator finetune`` can grow the vocabulary for them).
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import secrets
import shutil
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from annotator.core.errors import FileOperationError, LibraryError
from annotator.library import CaptionInfo, CaptionSource, Library, open_library
from annotator.model.vocab import Vocab, tokenize

ImagesMode = Literal["reference", "copy", "link"]
FORMATS = ("karpathy", "jsonl", "coco", "txt")
KARPATHY_NAME = "dataset_annotator.json"
JSONL_NAME = "metadata.jsonl"
COCO_NAME = "captions.json"
TXT_INDEX_NAME = "files.tsv"
IMAGES_DIR = "images"
DEFAULT_VAL_SHARE = 0.1


@dataclass(frozen=True)
class ExportItem:
    """One exported photo with its caption and the model caption it replaced."""

    photo_id: int
    path: Path
    content_hash: str
    text: str  # the current caption
    source: str  # "human" or "model"
    reviewed: bool
    model_text: str | None  # the model's caption a person corrected (or this one)
    model_id: str | None  # name@hash of the model that wrote model_text
    model_version: str | None
    width: int | None
    height: int | None
    split: str = "train"


@dataclass
class ExportSummary:
    """What an export wrote: counts, the main file, and out-of-vocabulary words."""

    format: str
    out: Path  # the main file written (or the folder of the text files)
    photos: int = 0
    train: int = 0
    val: int = 0
    human: int = 0  # captions a person wrote or corrected
    reviewed_model: int = 0  # model captions a person accepted
    unreviewed_model: int = 0
    images: str = "reference"
    skipped: dict[str, int] = field(default_factory=dict)
    model: str | None = None  # the model whose vocabulary was checked
    oov: dict[str, int] | None = None  # word -> count in the people's captions

    def lines(self) -> list[str]:
        """Return the summary as lines of text for the command line."""
        out = [
            f"exported {self.photos} photo(s) as {self.format} to {self.out}",
            f"  {self.human} written or corrected by a person, {self.reviewed_model} "
            f"model caption(s) accepted, {self.unreviewed_model} unreviewed model "
            "caption(s)",
        ]
        if self.format == "karpathy":
            out.append(f"  split: {self.train} train, {self.val} val")
        if self.images != "reference":
            verb = "copied" if self.images == "copy" else "linked"
            out.append(
                f"  photos {verb} into {self.out.parent / IMAGES_DIR}"
                if self.format != "txt"
                else f"  photos {verb} beside the text files"
            )
        for reason, n in sorted(self.skipped.items()):
            out.append(f"  skipped {n}: {reason}")
        if self.oov is None:
            out.append(f"  out-of-vocabulary words: not checked ({self.model or 'no model'})")
        elif not self.oov:
            out.append(f"  out-of-vocabulary words: none (vocabulary of {self.model})")
        else:
            words = ", ".join(f"{w} ({n})" for w, n in self.oov.items())
            out.append(
                f"  out-of-vocabulary words ({len(self.oov)}, vocabulary of {self.model}): {words}"
            )
        return out


# ----------------------------------------------------------------------------- collect


@contextmanager
def _opened(library: Library | str | Path | None) -> Iterator[Library]:
    """Yield ``library`` itself, or open the library at that location for the block."""
    if isinstance(library, Library):
        yield library
        return
    lib = open_library(library, create=False)
    try:
        yield lib
    finally:
        lib.close()


def split_value(content_hash: str) -> float:
    """Return a number in [0, 1) fixed by ``content_hash``: the photo's split position."""
    digest = hashlib.sha256(f"annotator-split:{content_hash}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def assign_splits(items: Sequence[ExportItem], val_share: float) -> list[ExportItem]:
    """Return the items with ``split`` set from their content hash (see the module doc)."""
    if not 0.0 <= val_share < 1.0:
        raise ValueError(f"val_share must be in [0, 1), got {val_share}")
    values = {it.content_hash: split_value(it.content_hash) for it in items}
    val = {h for h, v in values.items() if v < val_share}
    if val_share > 0 and not val and len(values) >= 2:
        val = {min(values, key=lambda h: (values[h], h))}
    return [replace(it, split="val" if it.content_hash in val else "train") for it in items]


def _model_caption(history: Sequence[CaptionInfo], current: CaptionInfo) -> CaptionInfo | None:
    """Return the model caption behind ``current``: its revision chain, else the latest."""
    if current.source is CaptionSource.MODEL:
        return current
    by_id = {c.id: c for c in history}
    seen: set[int] = set()
    node: CaptionInfo | None = current
    while node is not None and node.id not in seen:
        if node.source is CaptionSource.MODEL:
            return node
        seen.add(node.id)
        node = by_id.get(node.parent_id) if node.parent_id is not None else None
    models = [c for c in history if c.source is CaptionSource.MODEL]
    return models[-1] if models else None


def collect_items(
    library: Library,
    *,
    only_reviewed: bool = False,
    include_model: bool = False,
    val_share: float = DEFAULT_VAL_SHARE,
    skipped: Counter[str] | None = None,
) -> list[ExportItem]:
    """Return the photos to export, by photo id, with their splits (see the module doc).

    ``skipped`` (if given) counts the photos left out, by reason.
    """
    skipped = skipped if skipped is not None else Counter()
    items: list[ExportItem] = []
    for cur in library.iter_current_captions():
        human = cur.source == CaptionSource.HUMAN.value
        if only_reviewed:
            if not cur.reviewed:
                if human:
                    skipped["human caption not marked reviewed"] += 1
                continue
        elif not (human or cur.reviewed or include_model):
            continue  # an unreviewed model caption: not training data unless asked
        if not cur.path.is_file():
            skipped["photo file not found"] += 1
            continue
        photo = library.photo(cur.photo_id)
        history = library.caption_history(cur.photo_id)
        current = next((c for c in history if c.is_current), None)
        if photo is None or current is None:
            skipped["changed during the export"] += 1
            continue
        model = _model_caption(history, current)
        items.append(
            ExportItem(
                photo_id=cur.photo_id,
                path=cur.path,
                content_hash=photo.content_hash,
                text=" ".join(cur.text.split()),
                source=cur.source,
                reviewed=cur.reviewed,
                model_text=model.text if model is not None else None,
                model_id=model.model_id if model is not None else None,
                model_version=model.model_version if model is not None else None,
                width=photo.width,
                height=photo.height,
            )
        )
    items.sort(key=lambda it: it.photo_id)
    return assign_splits(items, val_share)


# -------------------------------------------------------------------------------- names


def unique_stems(items: Sequence[ExportItem]) -> list[str]:
    """Return one file stem per item, unique ignoring case (see Names in the module doc)."""

    def name(it: ExportItem, level: int) -> str:
        stem, ext = it.path.stem or "photo", it.path.suffix.lstrip(".").lower()
        parts = [stem]
        if level >= 1 and ext:
            parts.append(ext)
        if level >= 2:
            parts.append(it.content_hash[:8])
        if level >= 3:
            parts.append(str(it.photo_id))
        return "_".join(parts)

    levels = [0] * len(items)
    while True:
        names = [name(it, lv) for it, lv in zip(items, levels, strict=True)]
        counts = Counter(n.casefold() for n in names)
        clashing = [i for i, n in enumerate(names) if counts[n.casefold()] > 1 and levels[i] < 3]
        if not clashing:
            if any(c > 1 for c in counts.values()):  # cannot happen: photo ids are unique
                raise ValueError("could not make the exported file names unique")
            return names
        for i in clashing:
            levels[i] += 1


def _place_images(
    items: Sequence[ExportItem], folder: Path, mode: ImagesMode, stems: Sequence[str]
) -> list[Path]:
    """Copy or link the photos into ``folder`` as ``STEM + suffix``; return the new paths."""
    folder.mkdir(parents=True, exist_ok=True)
    placed = []
    for it, stem in zip(items, stems, strict=True):
        dest = folder / f"{stem}{it.path.suffix.lower()}"
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
        try:
            if mode == "copy":
                shutil.copy2(it.path, tmp)
            else:
                try:
                    tmp.symlink_to(it.path.absolute())
                except OSError:
                    os.link(it.path, tmp)
            tmp.replace(dest)
        except OSError as exc:
            tmp.unlink(missing_ok=True)
            raise FileOperationError(
                dest, f"cannot {mode} the photo {it.path} here ({exc})"
            ) from exc
        placed.append(dest)
    return placed


def _write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically, naming the file on failure.

    The temporary file is created new (``O_EXCL``, never through a link someone
    planted) under a name unique to this write.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
        with os.fdopen(os.open(tmp, flags, 0o666), "w", encoding="utf-8", newline="") as f:
            f.write(text)
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise FileOperationError(path, f"cannot write the export ({exc})") from exc


# ---------------------------------------------------------------------------- vocabulary


def model_vocab(model: str | Path | None, *, required: bool = False) -> tuple[Vocab | None, str]:
    """Return the vocabulary of ``model`` (default: the default model) and its name.

    Reads only the checkpoint's metadata. A missing default model gives
    ``(None, reason)``; an explicit ``model`` that cannot be read raises
    :class:`~annotator.core.errors.ModelLoadError` when ``required``.
    """
    from annotator.core.errors import ModelLoadError
    from annotator.core.settings import default_model_path
    from annotator.model.checkpoint import read_metadata

    path = Path(model) if model is not None else default_model_path()
    try:
        meta = read_metadata(path)
        vocab = Vocab(json.loads(meta["vocab"]))
    except (ModelLoadError, KeyError, ValueError, TypeError) as exc:
        if required:
            if isinstance(exc, ModelLoadError):
                raise
            raise ModelLoadError(path, f"no readable vocabulary ({exc})") from exc
        return None, f"no readable model at {path}"
    return vocab, str(path)


def oov_words(items: Sequence[ExportItem], vocab: Vocab) -> dict[str, int]:
    """Return the words of the people's captions that ``vocab`` lacks, most frequent first."""
    counts: Counter[str] = Counter()
    for it in items:
        if it.source == CaptionSource.HUMAN.value:
            counts.update(tokenize(it.text))
    missing = vocab.oov(counts)
    return dict(sorted(((w, counts[w]) for w in missing), key=lambda kv: (-kv[1], kv[0])))


# ------------------------------------------------------------------------------ formats

Writer = Callable[[Sequence[ExportItem], Path, ImagesMode, ExportSummary], Path]


def _export(
    fmt: str,
    writer: Writer,
    library: Library | str | Path | None,
    out: str | Path,
    *,
    only_reviewed: bool,
    include_model: bool,
    images: ImagesMode,
    val_share: float,
    model: str | Path | None,
) -> ExportSummary:
    if images not in ("reference", "copy", "link"):
        raise ValueError(f"images must be reference, copy or link, got {images!r}")
    out = Path(out).expanduser().absolute()
    skipped: Counter[str] = Counter()
    with _opened(library) as lib:
        items = collect_items(
            lib,
            only_reviewed=only_reviewed,
            include_model=include_model,
            val_share=val_share,
            skipped=skipped,
        )
        location = lib.location
    if not items:
        what = (
            "captions marked reviewed"
            if only_reviewed
            else "captions"
            if include_model
            else "captions a person wrote or reviewed"
        )
        raise LibraryError(f"{location}: nothing to export (no present photo has {what})")
    if out.exists() and not out.is_dir():
        raise FileOperationError(out, "the export destination is a file, not a folder")
    summary = ExportSummary(
        format=fmt, out=out, photos=len(items), images=images, skipped=dict(skipped)
    )
    summary.train = sum(it.split == "train" for it in items)
    summary.val = len(items) - summary.train
    summary.human = sum(it.source == CaptionSource.HUMAN.value for it in items)
    summary.reviewed_model = sum(
        it.source != CaptionSource.HUMAN.value and it.reviewed for it in items
    )
    summary.unreviewed_model = len(items) - summary.human - summary.reviewed_model
    vocab, summary.model = model_vocab(model, required=model is not None)
    summary.oov = oov_words(items, vocab) if vocab is not None else None
    summary.out = writer(items, out, images, summary)
    return summary


def _file_names(items: Sequence[ExportItem], out: Path, images: ImagesMode) -> list[str]:
    """Return each photo's name for the data file: relative when placed, else absolute."""
    if images == "reference":
        return [str(it.path.absolute()) for it in items]
    placed = _place_images(items, out / IMAGES_DIR, images, unique_stems(items))
    return [p.relative_to(out).as_posix() for p in placed]


def _write_karpathy(
    items: Sequence[ExportItem], out: Path, images: ImagesMode, summary: ExportSummary
) -> Path:
    names = _file_names(items, out, images)
    records = []
    for i, (it, name) in enumerate(zip(items, names, strict=True)):
        rel = Path(name)
        image: dict[str, Any] = {"filename": rel.name if images != "reference" else name}
        if images != "reference":
            image["filepath"] = rel.parent.as_posix()
        image.update(
            {
                "imgid": i,
                "split": it.split,
                "photo_id": it.photo_id,
                "content_hash": it.content_hash,
                "sentences": [
                    {"tokens": tokenize(it.text), "raw": it.text, "imgid": i, "sentid": i}
                ],
                "sentids": [i],
                "source": it.source,
                "reviewed": it.reviewed,
                "original_path": str(it.path.absolute()),
                "model_caption": None
                if it.model_text is None
                else {
                    "raw": it.model_text,
                    "tokens": tokenize(it.model_text),
                    "model_id": it.model_id,
                    "model_version": it.model_version,
                },
            }
        )
        records.append(image)
    data = {
        "dataset": "annotator",
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "model_vocabulary": summary.model,
        "images": records,
    }
    path = out / KARPATHY_NAME
    _write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    return path


def _write_jsonl(
    items: Sequence[ExportItem], out: Path, images: ImagesMode, summary: ExportSummary
) -> Path:
    names = _file_names(items, out, images)
    lines = [
        json.dumps({"file_name": name, "text": it.text}, ensure_ascii=False)
        for it, name in zip(items, names, strict=True)
    ]
    path = out / JSONL_NAME
    _write_text(path, "\n".join(lines) + "\n")
    return path


def _pixel_size(it: ExportItem) -> tuple[int, int] | None:
    if it.width and it.height:
        return int(it.width), int(it.height)
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(it.path) as im:
            return int(im.width), int(im.height)
    except (OSError, UnidentifiedImageError):
        return None


def _write_coco(
    items: Sequence[ExportItem], out: Path, images: ImagesMode, summary: ExportSummary
) -> Path:
    names = _file_names(items, out, images)
    coco_images, annotations = [], []
    for n, (it, name) in enumerate(zip(items, names, strict=True), start=1):
        image: dict[str, Any] = {"id": it.photo_id, "file_name": name}
        size = _pixel_size(it)
        if size is not None:
            image["width"], image["height"] = size
        coco_images.append(image)
        annotations.append({"id": n, "image_id": it.photo_id, "caption": it.text})
    data = {
        "info": {
            "description": "annotator caption export",
            "date_created": datetime.now(UTC).isoformat(timespec="seconds"),
        },
        "licenses": [],
        "type": "captions",
        "images": coco_images,
        "annotations": annotations,
    }
    path = out / COCO_NAME
    _write_text(path, json.dumps(data, ensure_ascii=False, indent=1) + "\n")
    return path


def _write_txt(
    items: Sequence[ExportItem], out: Path, images: ImagesMode, summary: ExportSummary
) -> Path:
    stems = unique_stems(items)
    folder = out / IMAGES_DIR if images != "reference" else out
    if images != "reference":
        _place_images(items, folder, images, stems)
    table = io.StringIO()  # a real TSV: names with tabs, quotes or newlines are quoted
    writer = csv.writer(table, dialect="excel-tab", lineterminator="\n")
    writer.writerow(["text_file", "photo"])
    for it, stem in zip(items, stems, strict=True):
        _write_text(folder / f"{stem}.txt", it.text + "\n")
        writer.writerow(
            [(folder / f"{stem}.txt").relative_to(out).as_posix(), str(it.path.absolute())]
        )
    _write_text(out / TXT_INDEX_NAME, table.getvalue())
    return folder


def export_karpathy(
    library: Library | str | Path | None,
    out: str | Path,
    *,
    only_reviewed: bool = False,
    include_model: bool = False,
    images: ImagesMode = "reference",
    val_share: float = DEFAULT_VAL_SHARE,
    model: str | Path | None = None,
) -> ExportSummary:
    """Write ``OUT/dataset_annotator.json``, a Karpathy dataset with a train/val split."""
    return _export(
        "karpathy",
        _write_karpathy,
        library,
        out,
        only_reviewed=only_reviewed,
        include_model=include_model,
        images=images,
        val_share=val_share,
        model=model,
    )


def export_jsonl(
    library: Library | str | Path | None,
    out: str | Path,
    *,
    only_reviewed: bool = False,
    include_model: bool = False,
    images: ImagesMode = "reference",
    model: str | Path | None = None,
) -> ExportSummary:
    """Write ``OUT/metadata.jsonl`` for a Hugging Face ImageFolder (file_name, text)."""
    return _export(
        "jsonl",
        _write_jsonl,
        library,
        out,
        only_reviewed=only_reviewed,
        include_model=include_model,
        images=images,
        val_share=0.0,
        model=model,
    )


def export_coco(
    library: Library | str | Path | None,
    out: str | Path,
    *,
    only_reviewed: bool = False,
    include_model: bool = False,
    images: ImagesMode = "reference",
    model: str | Path | None = None,
) -> ExportSummary:
    """Write ``OUT/captions.json`` in the COCO captions format (images + annotations)."""
    return _export(
        "coco",
        _write_coco,
        library,
        out,
        only_reviewed=only_reviewed,
        include_model=include_model,
        images=images,
        val_share=0.0,
        model=model,
    )


def export_txt(
    library: Library | str | Path | None,
    out: str | Path,
    *,
    only_reviewed: bool = False,
    include_model: bool = False,
    images: ImagesMode = "reference",
    model: str | Path | None = None,
) -> ExportSummary:
    """Write one ``STEM.txt`` per photo (and ``files.tsv``), beside copied photos if any."""
    return _export(
        "txt",
        _write_txt,
        library,
        out,
        only_reviewed=only_reviewed,
        include_model=include_model,
        images=images,
        val_share=0.0,
        model=model,
    )


EXPORTERS: dict[str, Callable[..., ExportSummary]] = {
    "karpathy": export_karpathy,
    "jsonl": export_jsonl,
    "coco": export_coco,
    "txt": export_txt,
}


def export(
    fmt: str, library: Library | str | Path | None, out: str | Path, **kw: Any
) -> ExportSummary:
    """Run the exporter of format ``fmt`` (karpathy, jsonl, coco or txt)."""
    try:
        exporter = EXPORTERS[fmt]
    except KeyError:
        raise ValueError(
            f"unknown export format {fmt!r}; choose one of: {', '.join(FORMATS)}"
        ) from None
    if fmt != "karpathy":
        kw.pop("val_share", None)
    return exporter(library, out, **kw)
