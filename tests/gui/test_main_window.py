"""Drive the main window as a user would: drop a folder, search, review, undo."""

from __future__ import annotations

import warnings
from pathlib import Path

from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication

from annotator.gui.models.photos import Roles
from annotator.library.schema import CaptionSource


def drop_folder(window, folder: Path) -> None:
    """Send the window the drag-enter and drop events a file manager would."""
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(folder))])
    with warnings.catch_warnings():  # PySide6 marks the QPoint constructor deprecated
        warnings.simplefilter("ignore", DeprecationWarning)
        enter = QDragEnterEvent(
            QPoint(200, 200),
            Qt.DropAction.CopyAction,
            mime,
            Qt.MouseButton.LeftButton,
            Qt.KeyboardModifier.NoModifier,
        )
    QApplication.sendEvent(window, enter)
    assert enter.isAccepted()
    event = QDropEvent(
        QPointF(200, 200),
        Qt.DropAction.CopyAction,
        mime,
        Qt.MouseButton.LeftButton,
        Qt.KeyboardModifier.NoModifier,
    )
    QApplication.sendEvent(window, event)
    assert event.isAccepted()


def fill(qtbot, window, folder: Path, n: int) -> None:
    """Drop ``folder`` and wait until its ``n`` photos are captioned in the grid."""
    drop_folder(window, folder)
    qtbot.waitUntil(lambda: window.roots.rowCount() == 2, timeout=10_000)
    model = window.photos

    def captioned() -> bool:
        return model.rowCount() == n and all(
            model.data(model.index(i, 0), Roles.State) == "captioned" for i in range(n)
        )

    qtbot.waitUntil(captioned, timeout=60_000)


def select(qtbot, window, row: int = 0) -> int:
    """Select a photo and wait until the review panel shows its caption."""
    window.grid.select_row(row)
    pid = window.photos.row(row).photo_id
    panel = window.panel
    qtbot.waitUntil(
        lambda: (
            panel.photo_id == pid
            and panel.details is not None
            and panel.details.photo.id == pid
            and panel.details.caption is not None
        ),
        timeout=10_000,
    )
    return pid


def test_drop_adds_root_and_grid_fills(qtbot, window, photo_folder, gui_library):
    fill(qtbot, window, photo_folder, 4)
    roots = gui_library.roots()
    assert [r.path for r in roots] == [photo_folder.resolve()]
    qtbot.waitUntil(lambda: window.roots.row(1).counts.captioned == 4, timeout=5_000)
    assert window.roots.data(window.roots.index(1, 0)) == photo_folder.name
    # thumbnails are made off the GUI thread and cached on disk
    qtbot.waitUntil(
        lambda: all(
            window.thumbnails.pixmap(str(p)) is not None for p in photo_folder.glob("*.jpg")
        ),
        timeout=10_000,
    )
    assert list((window.thumbnails.cache).rglob("*.jpg"))


def test_search_filters_grid(qtbot, window, photo_folder, gui_library):
    fill(qtbot, window, photo_folder, 4)
    rows = window.photos.rows()
    words = {w for r in rows for w in r.text.split()}
    # the word fewest photos have: typing it must leave only those
    word = min(sorted(words), key=lambda w: sum(w in r.text.split() for r in rows))
    expected = {h.photo_id for h in gui_library.search(word, limit=50)}
    assert expected == {r.photo_id for r in rows if word in r.text.split()}
    qtbot.keyClicks(window.search, word)
    qtbot.waitUntil(
        lambda: window.photos.query.text == word and not window.photos.loading, timeout=5_000
    )
    shown = {r.photo_id for r in window.photos.rows()}
    assert shown == expected
    # a word no caption has empties the grid
    window.search.setText("zebraxylophone")
    qtbot.waitUntil(lambda: window.photos.rowCount() == 0, timeout=5_000)
    window.search.clear()
    qtbot.waitUntil(lambda: window.photos.rowCount() == 4, timeout=5_000)


def test_clicking_a_word_changes_the_overlay(qtbot, window, photo_folder):
    fill(qtbot, window, photo_folder, 4)
    select(qtbot, window)
    panel = window.panel
    qtbot.waitUntil(lambda: panel.view.has_photo, timeout=10_000)
    chips = panel.words.chips
    assert len(chips) >= 2
    assert panel.view.overlay is None
    with qtbot.waitSignal(panel.sig_overlay_changed, timeout=2_000) as sig:
        qtbot.mouseClick(chips[0], Qt.MouseButton.LeftButton)
    assert sig.args == [chips[0].text()]
    first = panel.view.overlay.copy()
    assert panel.view.overlay_word == chips[0].text()
    last = len(chips) - 1
    with qtbot.waitSignal(panel.sig_overlay_changed, timeout=2_000):
        qtbot.mouseClick(chips[last], Qt.MouseButton.LeftButton)
    assert panel.view.overlay_word == chips[last].text()
    assert panel.view.overlay is not None
    assert panel.view.overlay != first  # a different word: a different heatmap
    # the heatmap is drawn over the photo
    grab = panel.view.grab()
    assert not grab.isNull()
    # clicking the pinned word again removes the overlay
    qtbot.mouseClick(chips[last], Qt.MouseButton.LeftButton)
    assert panel.view.overlay is None and panel.view.overlay_word == ""


def test_hover_previews_a_word(qtbot, window, photo_folder):
    fill(qtbot, window, photo_folder, 4)
    select(qtbot, window)
    panel = window.panel
    panel.hover_word(1)
    assert panel.view.overlay_word == panel.words.chips[1].text()
    panel.hover_word(-1)
    assert panel.view.overlay_word == ""


def test_edit_and_accept_store_a_human_revision(qtbot, window, photo_folder, gui_library):
    fill(qtbot, window, photo_folder, 4)
    pid = select(qtbot, window)
    panel = window.panel
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_F2)
    assert panel.editing
    panel.editor.selectAll()
    qtbot.keyClicks(panel.editor, "a red rocket on the table")
    with qtbot.waitSignal(window.sig_accepted, timeout=10_000):
        qtbot.keyClick(panel.editor, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    current = gui_library.current_caption(pid)
    assert current.text == "a red rocket on the table"
    assert current.source is CaptionSource.HUMAN
    assert current.reviewed
    assert current.origin == "gui"
    # the grid row shows the new caption with the human badge
    idx = window.photos.index_of(pid)
    qtbot.waitUntil(lambda: "human" in window.photos.data(idx, Roles.Badges), timeout=5_000)
    assert window.photos.data(idx, Roles.Caption) == "a red rocket on the table"
    # accepting an unchanged model caption only marks it reviewed
    other = select(qtbot, window, 1)
    model_text = panel.details.caption.text
    with qtbot.waitSignal(window.sig_accepted, timeout=10_000):
        window.main_actions.accept.trigger()
    cap = gui_library.current_caption(other)
    assert cap.text == model_text and cap.source is CaptionSource.MODEL and cap.reviewed


def test_pick_alternative_undo_redo_revert(qtbot, window, photo_folder, gui_library):
    fill(qtbot, window, photo_folder, 4)
    panel = window.panel
    # find a photo with at least two different alternatives
    for row in range(4):
        select(qtbot, window, row)
        alts = panel.details.model_caption.alternatives
        if len({a.text for a in alts}) >= 2:
            break
    else:
        raise AssertionError("no photo with two alternatives")
    pid = panel.photo_id
    model_text = panel.details.model_text
    second = alts[1].text
    assert second != model_text
    window.grid.setFocus()
    qtbot.keyClick(window.grid, Qt.Key.Key_2)  # one key picks the second alternative
    assert panel.draft == second and panel.has_draft
    assert [c.text() for c in panel.words.chips] == second.split()
    window.main_actions.undo.trigger()
    assert panel.draft == model_text and not panel.has_draft
    window.main_actions.redo.trigger()
    assert panel.draft == second
    qtbot.keyClick(window.grid, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert panel.draft == model_text
    qtbot.keyClick(window.grid, Qt.Key.Key_Y, Qt.KeyboardModifier.ControlModifier)
    assert panel.draft == second
    # Alt+1 picks the first, revert puts the model's caption back
    qtbot.keyClick(window.grid, Qt.Key.Key_1, Qt.KeyboardModifier.AltModifier)
    assert panel.draft == alts[0].text
    window.main_actions.redo.trigger()  # nothing to redo after a new edit
    panel.set_draft("two dogs on the grass")
    assert panel.revert_to_model()
    assert panel.draft == model_text
    # nothing was stored: drafts stay drafts until accepted
    assert gui_library.current_caption(pid).text == model_text
    # pick and accept persists the alternative
    qtbot.keyClick(window.grid, Qt.Key.Key_2)
    with qtbot.waitSignal(window.sig_accepted, timeout=10_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    cap = gui_library.current_caption(pid)
    assert cap.text == second and cap.source is CaptionSource.HUMAN and cap.reviewed


def test_keyboard_navigation_and_search_focus(qtbot, window, photo_folder):
    fill(qtbot, window, photo_folder, 4)
    select(qtbot, window)
    first = window.panel.photo_id
    window.grid.setFocus()
    with qtbot.waitSignal(window.panel.sig_loaded, timeout=10_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Down, Qt.KeyboardModifier.ControlModifier)
    assert window.panel.photo_id != first
    with qtbot.waitSignal(window.panel.sig_loaded, timeout=10_000):
        qtbot.keyClick(window.grid, Qt.Key.Key_Up, Qt.KeyboardModifier.ControlModifier)
    assert window.panel.photo_id == first
    qtbot.keyClick(window.grid, Qt.Key.Key_F, Qt.KeyboardModifier.ControlModifier)
    assert window.search.hasFocus()
    # typing a digit in the search box types it, it does not pick an alternative
    qtbot.keyClick(window.search, Qt.Key.Key_2)
    assert window.search.text() == "2"
    assert not window.panel.has_draft


def test_review_queue_lowest_confidence_first(qtbot, window, photo_folder, gui_library):
    fill(qtbot, window, photo_folder, 4)
    expected = [
        h.photo_id for h in gui_library.search("", reviewed=False, order_by="confidence", limit=10)
    ]
    window.main_actions.review.trigger()
    assert window.review_mode
    qtbot.waitUntil(
        lambda: (
            window.photos.query.order_by == "confidence"
            and not window.photos.loading
            and window.panel.photo_id == expected[0]
        ),
        timeout=10_000,
    )
    assert [r.photo_id for r in window.photos.rows()] == expected
    qtbot.waitUntil(
        lambda: window.panel.details is not None and window.panel.details.photo.id == expected[0],
        timeout=10_000,
    )
    with qtbot.waitSignal(window.sig_accepted, timeout=10_000):
        window.main_actions.accept.trigger()
    qtbot.waitUntil(lambda: window.panel.photo_id == expected[1], timeout=10_000)
    assert gui_library.current_caption(expected[0]).reviewed
    window.main_actions.review.trigger()
    assert not window.review_mode and window.sidebar.show_filter() == "all"


def test_pause_resume_and_failures(qtbot, window, photo_folder, gui_library):
    fill(qtbot, window, photo_folder, 4)
    (photo_folder / "broken.jpg").write_bytes(b"not a photo at all")
    root = gui_library.roots()[0]
    window.worker.scan([root])
    qtbot.waitUntil(lambda: window.roots.row(0).counts.failed == 1, timeout=30_000)
    assert window.sidebar.btn_failures.text() == "Failures (1)"
    dialog = window.open_failures()
    qtbot.waitUntil(lambda: window.failures.rowCount() == 1, timeout=5_000)
    assert "broken.jpg" in window.failures.data(window.failures.index(0, 0))
    dialog.close()
    window.sidebar.select_root(root.id)
    with qtbot.waitSignal(window.sig_roots_changed, timeout=5_000):
        window.pause_root(root.id, True)
    qtbot.waitUntil(lambda: window.roots.row(1).info.paused, timeout=5_000)
    assert window.sidebar.btn_pause.text() == "Resume"
    window.pause_root(root.id, False)
    qtbot.waitUntil(lambda: not window.roots.row(1).info.paused, timeout=5_000)


def test_close_stops_worker_and_keeps_queue(
    qtbot, gui_library, settings, store, gui_captioner, gui_env, photo_folder
):
    from annotator.gui.widgets.main_window import MainWindow
    from annotator.library.schema import JobState

    w = MainWindow(
        gui_library,
        settings,
        store=store,
        captioner=gui_captioner,
        thumbnail_cache=gui_env / "thumbs",
    )
    qtbot.addWidget(w)
    w.show()
    w.start()
    drop_folder(w, photo_folder)
    qtbot.waitUntil(lambda: w.photos.rowCount() == 4, timeout=10_000)
    w.close()
    qtbot.waitUntil(lambda: not w.isVisible(), timeout=60_000)
    assert not w.worker.running
    counts = gui_library.queue_counts()
    assert counts[JobState.RUNNING] == 0  # a stopped batch goes back to the queue
    states = gui_library.root_counts()[gui_library.roots()[0].id]
    assert states.captioned + counts[JobState.PENDING] == 4


def test_settings_persist(qtbot, window):
    from dataclasses import replace

    from annotator.core.settings import load_settings
    from annotator.gui.widgets.settings_dialog import SettingsDialog

    dialog = SettingsDialog(window.settings, window)
    qtbot.addWidget(dialog)
    dialog.beam.setValue(5)
    dialog.metadata.setCurrentIndex(dialog.metadata.findData("sidecar"))
    dialog.overwrite.setChecked(True)
    new = dialog.settings()
    assert (new.beam_size, new.metadata, new.overwrite_human) == (5, "sidecar", True)
    window.apply_settings(new)
    assert load_settings() == new
    assert window.worker.settings.beam_size == 5
    qtbot.waitUntil(lambda: window.worker.running and window.worker.generation == 2, timeout=30_000)
    window.apply_settings(replace(new, beam_size=3, metadata="none"))
    assert load_settings().metadata == "none"


def test_export_dialog_exports(qtbot, window, photo_folder, gui_library, gui_env):
    import json

    fill(qtbot, window, photo_folder, 4)
    pid = window.photos.row(0).photo_id
    gui_library.add_human_revision(pid, "a cup of coffee on the table")
    dialog = window.open_export()
    dialog.format.setCurrentIndex(dialog.format.findData("jsonl"))
    out = gui_env / "export"
    dialog.out.setText(str(out))
    assert "--format jsonl" in dialog.command_line()
    with qtbot.waitSignal(dialog.sig_exported, timeout=20_000) as sig:
        dialog.btn_export.click()
    assert sig.args[0], dialog.summary.toPlainText()
    lines = (out / "metadata.jsonl").read_text().splitlines()
    assert [json.loads(x)["text"] for x in lines] == ["a cup of coffee on the table"]
    dialog.close()
