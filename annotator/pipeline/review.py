"""Review captions: load a photo's details, map a word to its attention, edit keywords, accept.

Qt-free: the desktop app runs these on background threads; any other front end can too.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from annotator.library import CaptionSource, parse_human
from annotator.metadata import Outcome
from annotator.pipeline.write import WriteOptions, write_metadata

if TYPE_CHECKING:
    from annotator.library import AttentionInfo, CaptionInfo, KeywordInfo, Library, PhotoInfo
    from annotator.pipeline.runner import IndexSettings

_WORD = re.compile(r"\w+", re.UNICODE)


@dataclass(frozen=True)
class CaptionDetails:
    """What the review panel needs about a photo, apart from its pixels."""

    photo: PhotoInfo
    caption: CaptionInfo | None  # the current caption
    model_caption: CaptionInfo | None  # the latest model caption (n-best, word scores)
    attention: AttentionInfo | None  # maps of the latest model caption that has them
    keywords: tuple[KeywordInfo, ...] = ()  # a person's first, then the model's

    @property
    def model_text(self) -> str:
        """Return the model's caption ("" if the model has not captioned the photo)."""
        return self.model_caption.text if self.model_caption is not None else ""


def load_details(library: Library, photo_id: int) -> CaptionDetails | None:
    """Read a photo's current and model captions and its attention maps."""
    photo = library.photo(photo_id)
    if photo is None:
        return None
    history = library.caption_history(photo_id)
    current = next((c for c in history if c.is_current), None)
    model = next((c for c in reversed(history) if c.source is CaptionSource.MODEL), None)
    attention = library.attention(photo_id) if model is not None else None
    return CaptionDetails(photo, current, model, attention, tuple(library.keywords(photo_id)))


def add_keyword(library: Library, photo_id: int, text: str) -> bool:
    """Store what a person typed (``cat``, or ``Animals|Pets|Rex``) as a human keyword.

    It goes into the photo with the caption on the next accept. Return False
    for text with no word in it.
    """
    keyword = parse_human(text)
    if keyword is None:
        return False
    library.add_keywords(photo_id, [keyword], origin="gui")
    return True


def remove_keyword(library: Library, photo_id: int, word: str) -> bool:
    """Remove a keyword as a person asked: no later run adds it back; the next accept
    takes it out of the photo if annotator had written it there."""
    return library.remove_keyword(photo_id, word)


def norm_word(word: str) -> str:
    """Return ``word`` lower-cased without punctuation, as the library matches words."""
    return "".join(_WORD.findall(word.casefold()))


def attention_map(attention: AttentionInfo | None, words: list[str], i: int) -> np.ndarray | None:
    """Return the attention map (H, W) of the ``i``-th word of ``words``, or None.

    When ``words`` are the model's own words, the map of that position is used (so
    the two "a"s of a caption keep their own maps); for an edited caption the word
    is matched like :meth:`Library.attention_for_word` does (exact, else a prefix
    of 3+ letters, else a word it extends by up to 3 letters; several: the mean).
    """
    if attention is None or not 0 <= i < len(words):
        return None
    model = [norm_word(w) for w in attention.words]
    shown = [norm_word(w) for w in words]
    if shown == model and i < attention.maps.shape[0]:
        same: np.ndarray = attention.maps[i].astype(np.float32)
        return same
    target = shown[i]
    if not target:
        return None
    picks = [k for k, w in enumerate(model) if w == target]
    if not picks:
        picks = [
            k
            for k, w in enumerate(model)
            if (len(target) >= 3 and w.startswith(target))
            or (len(w) >= 3 and target.startswith(w) and len(target) - len(w) <= 3)
        ]
    picks = [k for k in picks if k < attention.maps.shape[0]]
    if not picks:
        return None
    mean: np.ndarray = attention.maps[picks].astype(np.float32).mean(axis=0)
    return mean


@dataclass(frozen=True)
class Accepted:
    """The outcome of accepting a caption."""

    photo_id: int
    caption: CaptionInfo | None  # the current caption afterwards
    stored: str  # "revision" (a new human revision) or "reviewed" (marked reviewed only)
    metadata: str  # what happened to the photo's metadata, for the status bar


def accept_caption(library: Library, photo_id: int, text: str, settings: IndexSettings) -> Accepted:
    """Store ``text`` as the photo's reviewed caption and write it into the photo per ``settings``.

    The same text as the current caption only sets its reviewed flag (a model
    caption accepted as it is); other text becomes a human revision, marked
    reviewed. The caption and the photo's keywords are then written by the one
    metadata path (:func:`annotator.pipeline.write.write_metadata`) as the
    settings say; a failed write keeps the caption in the library and says so.
    """

    text = " ".join(text.split())
    if not text:
        raise ValueError("a caption needs some text")
    current = library.current_caption(photo_id)
    if current is not None and current.text == text:
        library.set_reviewed(photo_id, True)
        stored = "reviewed"
    else:
        library.add_human_revision(photo_id, text, reviewed=True, origin="gui")
        stored = "revision"
    note = "kept in the library only (metadata: none)"
    item = library.current_for_write(photo_id) if settings.metadata != "none" else None
    if item is not None:
        options = WriteOptions(
            mode=settings.metadata,
            sidecar_style=settings.sidecar_style,
            overwrite_human=settings.overwrite_human,
            within=tuple(r.path.resolve() for r in library.roots()),
        )
        report = write_metadata(library, item, options)
        if report.outcome is Outcome.FAILED:
            note = f"kept in the library; the photo was not changed: {'; '.join(report.notes)}"
        elif report.outcome is Outcome.SKIPPED:
            note = f"kept in the library; {'; '.join(report.notes)}"
        else:
            note = f"{report.outcome}" + (f": {'; '.join(report.notes)}" if report.notes else "")
    return Accepted(photo_id, library.current_caption(photo_id), stored, note)
