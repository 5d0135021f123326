"""List the library's photos for the thumbnail grid: searched, filtered, fetched page by page.

Pages are read on a background thread (:class:`~annotator.gui.tasks.Tasks`); the
model exposes them through ``canFetchMore`` / ``fetchMore`` so a view asks only
for what it shows, and a 100,000-photo library costs one page per screenful.
A new query keeps the old rows on screen until its first page arrives, then
swaps them in one reset (no flicker while typing).

With no search words and the "all" or "problems" filters, photos that have no
caption yet (queued or failed) come first, from ``Library.known_files``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QUrl,
    Signal,
)

from annotator.gui.tasks import Tasks
from annotator.gui.thumbnails import ThumbnailLoader
from annotator.library import Library, PhotoState, SearchHit

MARK_ON, MARK_OFF = "\x02", "\x03"  # search-hit highlight marks inside SearchHit.snippet
MAX_KEYWORDS_SHOWN = 6
# A line separator: the grid lays the keywords out on the line after the caption, so
# they show where the caption leaves room (a long caption pushes them out).
KEYWORD_LINE = "\u2028"

MAX_FIRST_PAGE = 5000  # rows re-read at once by refresh() to keep a scrolled view in place
SHOW_CHOICES = ("all", "unreviewed", "human", "reviewed", "problems")
ORDER_CHOICES = ("relevance", "date", "confidence")

Index = QModelIndex | QPersistentModelIndex


class Roles:
    """Item data roles of :class:`PhotoListModel` beyond Qt's own."""

    PhotoId = Qt.ItemDataRole.UserRole + 1
    Path = Qt.ItemDataRole.UserRole + 2
    Caption = Qt.ItemDataRole.UserRole + 3
    Snippet = Qt.ItemDataRole.UserRole + 4  # caption with MARK_ON / MARK_OFF around matches
    State = Qt.ItemDataRole.UserRole + 5  # captioned, pending, failed, missing
    Source = Qt.ItemDataRole.UserRole + 6  # model, human or ""
    Reviewed = Qt.ItemDataRole.UserRole + 7
    Confidence = Qt.ItemDataRole.UserRole + 8
    Badges = Qt.ItemDataRole.UserRole + 9  # tuple of badge names
    ThumbnailFailed = Qt.ItemDataRole.UserRole + 10


@dataclass(frozen=True)
class PhotoQuery:
    """What the grid shows: search words, a folder, a filter and an order."""

    text: str = ""
    root_id: int | None = None
    folder: str | None = None  # an absolute folder: photos anywhere under it
    show: str = "all"  # one of SHOW_CHOICES
    order_by: str = "relevance"  # one of ORDER_CHOICES; relevance without words: by date

    @property
    def has_words(self) -> bool:
        """Return whether the query has search text."""
        return bool(self.text.strip())

    @property
    def includes_uncaptioned(self) -> bool:
        """Return whether photos without a caption (queued, failed) are listed."""
        return not self.has_words and self.show in ("all", "problems")

    @property
    def includes_captioned(self) -> bool:
        """Return whether captioned photos are listed."""
        return self.show != "problems"

    def search_filters(self) -> dict[str, Any]:
        """Return the keyword filters of ``Library.search`` for this query."""
        kw: dict[str, Any] = {"root_id": self.root_id, "folder": self.folder}
        if self.show == "unreviewed":
            kw["reviewed"] = False
        elif self.show == "reviewed":
            kw["reviewed"] = True
        elif self.show == "human":
            kw["human_edited"] = True
        return kw


@dataclass(frozen=True)
class PhotoRow:
    """One photo as the grid shows it."""

    photo_id: int
    path: Path
    root_id: int
    text: str = ""  # current caption; "" if none yet
    snippet: str = ""
    source: str = ""  # model, human or ""
    reviewed: bool = False
    confidence: float | None = None
    state: str = "captioned"
    keywords: tuple[str, ...] = ()  # shown under the caption where there is room

    @property
    def shown_text(self) -> str:
        """Return the caption (search matches marked), then the keywords on a line of their own."""
        shown = self.snippet or self.text
        return shown + KEYWORD_LINE + " · ".join(self.keywords) if self.keywords else shown

    @property
    def badges(self) -> tuple[str, ...]:
        """Return the badges to draw: failed, pending, missing, human, unreviewed, reviewed."""
        out: list[str] = []
        if self.state in ("failed", "pending", "missing"):
            out.append(self.state)
        if self.text:
            if self.source == "human":
                out.append("human")
            out.append("reviewed" if self.reviewed else "unreviewed")
        return tuple(out)

    @classmethod
    def from_hit(cls, hit: SearchHit) -> PhotoRow:
        """Return the row of a search hit."""
        return cls(
            hit.photo_id,
            hit.path,
            hit.root_id,
            hit.text,
            hit.snippet,
            hit.source,
            hit.reviewed,
            hit.confidence,
            "missing" if hit.missing else "captioned",
            hit.keywords[:MAX_KEYWORDS_SHOWN],
        )


@dataclass(frozen=True)
class Page:
    """A page read in the background: uncaptioned rows (first page only), then hits."""

    rows: list[PhotoRow]
    searched: int  # search hits read (the next page's offset grows by this)
    exhausted: bool


def _under(path: str, folder: str | None) -> bool:
    return folder is None or path.startswith(folder.rstrip(os.sep) + os.sep)


def uncaptioned_rows(library: Library, query: PhotoQuery) -> list[PhotoRow]:
    """Return the photos of the query's roots that wait for a caption or failed (failed first)."""
    rows: list[PhotoRow] = []
    counts = library.root_counts()  # cheap; reading every file of a root is not
    roots = [
        r
        for r in library.roots()
        if query.root_id in (None, r.id)
        and (counts[r.id].pending or counts[r.id].failed if r.id in counts else True)
    ]
    wanted = {PhotoState.PENDING, PhotoState.FAILED}
    for root in roots:
        for path, known in library.known_files(root.id).items():
            if known.state in wanted and _under(path, query.folder):
                rows.append(
                    PhotoRow(
                        known.photo_id, Path(path), root.id, state=PhotoState(known.state).value
                    )
                )
    rows.sort(key=lambda r: (r.state != "failed", str(r.path)))
    return rows


def fetch_page(library: Library, query: PhotoQuery, offset: int, limit: int, first: bool) -> Page:
    """Read one page of ``query`` (runs on a background thread)."""
    rows = uncaptioned_rows(library, query) if first and query.includes_uncaptioned else []
    if not query.includes_captioned:
        return Page(rows, 0, True)
    hits = library.search(
        query.text,
        order_by=query.order_by,  # type: ignore[arg-type]
        limit=limit,
        offset=offset,
        prefix_last=True,
        highlight=(MARK_ON, MARK_OFF),
        **query.search_filters(),
    )
    return Page(rows + [PhotoRow.from_hit(h) for h in hits], len(hits), len(hits) < limit)


def fetch_rows(library: Library, photo_ids: Iterable[int]) -> list[PhotoRow]:
    """Read the current state and caption of some photos (runs on a background thread)."""
    out = []
    for pid in photo_ids:
        photo = library.photo(pid)
        if photo is None:
            continue
        cap = library.current_caption(pid)
        state = PhotoState(photo.state).value
        if cap is None:
            out.append(PhotoRow(pid, photo.path, photo.root_id, state=state))
        else:
            out.append(
                PhotoRow(
                    pid,
                    photo.path,
                    photo.root_id,
                    cap.text,
                    cap.text,
                    cap.source.value,
                    cap.reviewed,
                    cap.confidence,
                    state,
                    tuple(k.word for k in library.keywords(pid)[:MAX_KEYWORDS_SHOWN]),
                )
            )
    return out


class PhotoListModel(QAbstractListModel):
    """Photos matching a :class:`PhotoQuery`, fetched lazily in pages off the GUI thread."""

    sig_loaded = Signal()  # a page was added (or a new query's first page swapped in)
    sig_error = Signal(str)

    PAGE = 200

    def __init__(
        self,
        library: Library,
        tasks: Tasks,
        thumbnails: ThumbnailLoader | None = None,
        parent: QObject | None = None,
    ) -> None:
        super().__init__(parent)
        self.library = library
        self.tasks = tasks
        self.thumbnails = thumbnails
        self.query = PhotoQuery()
        self._rows: list[PhotoRow] = []
        self._row_of: dict[int, int] = {}
        self._row_of_path: dict[str, int] = {}
        self._buffer: list[PhotoRow] = []
        self._seen: set[int] = set()
        self._offset = 0
        self._exhausted = True
        self._loading = False
        self._fresh = False
        self._first_size = self.PAGE
        self._generation = 0
        if thumbnails is not None:
            thumbnails.sig_ready.connect(self._thumbnail_ready)

    # ------------------------------------------------------------------ queries

    @property
    def loading(self) -> bool:
        """Return whether a page is being read."""
        return self._loading

    def set_query(self, query: PhotoQuery, *, force: bool = False) -> None:
        """Show ``query``'s photos (the old rows stay until the first page is read)."""
        if query == self.query and not force:
            return
        self.query = query
        self._refresh(keep=0)

    def refresh(self) -> None:
        """Read the query again, as many rows as are shown now (a view keeps its place)."""
        self._refresh(keep=len(self._rows))

    def _refresh(self, keep: int) -> None:
        self._generation += 1
        self._offset = 0
        self._exhausted = False
        self._fresh = True
        self._first_size = min(max(self.PAGE, keep), MAX_FIRST_PAGE)
        self._request()

    def _request(self) -> None:
        self._loading = True
        gen, query, offset, first = self._generation, self.query, self._offset, self._fresh
        library = self.library
        limit = self._first_size if first else self.PAGE
        self.tasks.submit(
            lambda: fetch_page(library, query, offset, limit, first),
            lambda page: self._on_page(gen, page),
            lambda exc: self._on_error(gen, exc),
        )

    def _on_error(self, gen: int, exc: BaseException) -> None:
        if gen != self._generation:
            return
        self._loading = False
        self._exhausted = True
        self.sig_error.emit(str(exc))

    def _on_page(self, gen: int, page: Page) -> None:
        if gen != self._generation:
            return
        self._loading = False
        self._offset += page.searched
        self._exhausted = page.exhausted
        if self._fresh:
            self._fresh = False
            self.beginResetModel()
            self._rows, self._row_of, self._row_of_path = [], {}, {}
            self._buffer, self._seen = [], set()
            added = self._take(page.rows)
            show = max(self.PAGE, self._first_size)
            self._append(self._buffer[:show])
            del self._buffer[:show]
            self.endResetModel()
            if len(self._buffer) < self.PAGE and not self._exhausted:
                self._request()  # read ahead
        else:
            added = self._take(page.rows)
            self._expose(self.PAGE)
        if not added and not self._buffer and not self._exhausted and not self._loading:
            self._request()  # a page of rows already shown (the list shifted): read on
        self.sig_loaded.emit()

    def _take(self, rows: Sequence[PhotoRow]) -> int:
        before = len(self._buffer)
        for row in rows:
            if row.photo_id not in self._seen:
                self._seen.add(row.photo_id)
                self._buffer.append(row)
        return len(self._buffer) - before

    def _append(self, rows: Sequence[PhotoRow]) -> None:
        for row in rows:
            self._row_of[row.photo_id] = len(self._rows)
            self._row_of_path[str(row.path)] = len(self._rows)
            self._rows.append(row)

    def _expose(self, n: int) -> None:
        take = self._buffer[:n]
        if take:
            del self._buffer[:n]
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(take) - 1)
            self._append(take)
            self.endInsertRows()
        if len(self._buffer) < self.PAGE and not self._exhausted and not self._loading:
            self._request()  # read ahead while the user looks at this page

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008
        """Return whether more rows can be shown (read or waiting in the buffer)."""
        if parent.isValid():
            return False
        return bool(self._buffer) or (not self._exhausted and not self._loading)

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        """Show the next page (reading it in the background if needed)."""
        if parent.isValid():
            return
        if self._buffer:
            self._expose(self.PAGE)
        elif not self._exhausted and not self._loading:
            self._request()

    # ------------------------------------------------------------------ rows

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        """Return the number of rows shown so far."""
        return 0 if parent.isValid() else len(self._rows)

    def row(self, i: int) -> PhotoRow:
        """Return the row at ``i``."""
        return self._rows[i]

    def rows(self) -> list[PhotoRow]:
        """Return the rows shown so far."""
        return list(self._rows)

    def index_of(self, photo_id: int) -> QModelIndex:
        """Return the index of a photo (invalid if it is not shown)."""
        i = self._row_of.get(photo_id)
        return self.index(i, 0) if i is not None else QModelIndex()

    def photo_id_at_path(self, path: str) -> int | None:
        """Return the id of the photo shown at ``path``, if it is shown."""
        i = self._row_of_path.get(path)
        return self._rows[i].photo_id if i is not None and i < len(self._rows) else None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        """Return the data of a photo for ``role``."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        r = self._rows[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            return r.text or r.path.name
        if role == Qt.ItemDataRole.ToolTipRole:
            lines = [str(r.path)]
            if r.text:
                lines.append(r.text)
            if r.keywords:
                lines.append("Keywords: " + ", ".join(r.keywords))
                who = "edited by a person" if r.source == "human" else "model caption"
                rev = "reviewed" if r.reviewed else "not reviewed"
                conf = f", confidence {r.confidence:.2f}" if r.confidence is not None else ""
                lines.append(f"{who}, {rev}{conf}")
            else:
                lines.append(
                    {
                        "pending": "waiting for a caption",
                        "failed": "could not be captioned (see Failures)",
                    }.get(r.state, r.state)
                )
            return "\n".join(lines)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnails.pixmap(str(r.path)) if self.thumbnails is not None else None
        if role == Roles.PhotoId:
            return r.photo_id
        if role == Roles.Path:
            return str(r.path)
        if role == Roles.Caption:
            return r.text
        if role == Roles.Snippet:
            return r.shown_text
        if role == Roles.State:
            return r.state
        if role == Roles.Source:
            return r.source
        if role == Roles.Reviewed:
            return r.reviewed
        if role == Roles.Confidence:
            return r.confidence
        if role == Roles.Badges:
            return r.badges
        if role == Roles.ThumbnailFailed:
            return self.thumbnails is not None and self.thumbnails.failed(str(r.path))
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        """Return selectable, enabled, draggable (as file URLs) items."""
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        return (
            Qt.ItemFlag.ItemIsEnabled
            | Qt.ItemFlag.ItemIsSelectable
            | Qt.ItemFlag.ItemIsDragEnabled
            | Qt.ItemFlag.ItemNeverHasChildren
        )

    def mimeTypes(self) -> list[str]:
        """Return the drag formats: file URLs."""
        return ["text/uri-list"]

    def mimeData(self, indexes: Sequence[QModelIndex]) -> QMimeData:
        """Return the dragged photos as file URLs (drop them into a file manager or editor)."""
        mime = QMimeData()
        mime.setUrls(
            [QUrl.fromLocalFile(str(self._rows[i.row()].path)) for i in indexes if i.isValid()]
        )
        return mime

    # ------------------------------------------------------------------ updates

    def update_rows(self, rows: Iterable[PhotoRow]) -> None:
        """Replace the shown rows of these photos (after captioning, review or edit)."""
        for new in rows:
            i = self._row_of.get(new.photo_id)
            if i is None:
                continue
            old = self._rows[i]
            if self.query.has_words and old.snippet and old.text == new.text:
                new = replace(new, snippet=old.snippet)  # keep the search highlight
            if new != old:
                self._rows[i] = new
                idx = self.index(i, 0)
                self.dataChanged.emit(idx, idx)

    def refresh_photos(self, photo_ids: Iterable[int]) -> None:
        """Re-read some photos in the background and update their rows."""
        ids = [p for p in set(photo_ids) if p in self._row_of]
        if not ids:
            return
        library = self.library
        self.tasks.submit(lambda: fetch_rows(library, ids), self.update_rows)

    def _thumbnail_ready(self, path: str) -> None:
        i = self._row_of_path.get(path)
        if i is not None and i < len(self._rows):
            idx = self.index(i, 0)
            self.dataChanged.emit(idx, idx, [Qt.ItemDataRole.DecorationRole])
