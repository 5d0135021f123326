"""Keywords as chips in the review panel: remove one, add one; shown and searched in the grid."""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt

from annotator.gui.models.photos import KEYWORD_LINE, Roles
from annotator.gui.widgets.keyword_chips import KeywordChips
from annotator.library import KeywordInfo
from tests.gui.test_main_window import fill, select

CAT = KeywordInfo("cat", ("Animals", "Cat"), "model", None, "m", "v1", 0.9, False)
REX = KeywordInfo("Rex", ("Pets", "Rex"), "human", "gui", None, None, None, False)


def test_chips_emit_add_and_remove(qtbot) -> None:
    chips = KeywordChips()
    qtbot.addWidget(chips)
    chips.set_keywords([REX, CAT])
    assert chips.words() == ["Rex", "cat"]
    assert "90% sure" in chips.chips[1].toolTip() and "Pets › Rex" in chips.chips[0].toolTip()
    with qtbot.waitSignal(chips.sig_remove) as removed:
        qtbot.mouseClick(chips.chips[1], Qt.MouseButton.LeftButton)
    assert removed.args == ["cat"]
    qtbot.keyClicks(chips.editor, "Places|Paris")
    with qtbot.waitSignal(chips.sig_add) as added:
        qtbot.keyClick(chips.editor, Qt.Key.Key_Return)
    assert added.args == ["Places|Paris"] and chips.editor.text() == ""
    chips.set_keywords([CAT])
    assert chips.words() == ["cat"]


def test_review_panel_adds_and_removes_keywords(
    qtbot, window, photo_folder: Path, gui_library
) -> None:
    fill(qtbot, window, photo_folder, 4)
    pid = select(qtbot, window)
    panel = window.panel

    def shown() -> list[str]:
        return [k.word for k in panel.details.keywords] if panel.details else []

    qtbot.keyClicks(panel.keywords.editor, "Animals|Pets|Kitten")
    qtbot.keyClick(panel.keywords.editor, Qt.Key.Key_Return)
    qtbot.waitUntil(lambda: shown() == ["Kitten"], timeout=10_000)
    assert panel.keywords.words() == ["Kitten"]
    (stored,) = gui_library.keywords(pid)
    assert (stored.source, stored.origin, stored.hierarchy) == (
        "human",
        "gui",
        ("Animals", "Pets", "Kitten"),
    )
    # the search box finds it, and the grid shows it under the caption
    qtbot.keyClicks(window.search, "kitten ")
    qtbot.waitUntil(
        lambda: window.photos.query.text == "kitten " and not window.photos.loading, timeout=5_000
    )
    assert [r.photo_id for r in window.photos.rows()] == [pid]
    snippet = window.photos.data(window.photos.index_of(pid), Roles.Snippet)
    assert snippet.endswith(KEYWORD_LINE + "Kitten")
    window.search.clear()
    qtbot.waitUntil(lambda: window.photos.rowCount() == 4, timeout=5_000)
    pid = select(qtbot, window, [r.photo_id for r in window.photos.rows()].index(pid))
    qtbot.waitUntil(lambda: panel.keywords.words() == ["Kitten"], timeout=10_000)
    qtbot.mouseClick(panel.keywords.chips[0], Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: shown() == [], timeout=10_000)
    assert gui_library.keywords(pid) == []
    assert [k.rejected for k in gui_library.keywords(pid, include_rejected=True)] == [True]
