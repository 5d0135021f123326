"""The item models pass Qt's model tester and page lazily."""

from __future__ import annotations

import pytest

from annotator.gui.models.failures import FailureTableModel
from annotator.gui.models.photos import PhotoListModel, PhotoQuery, Roles
from annotator.gui.models.roots import RootListModel, read_roots
from annotator.gui.tasks import Tasks


@pytest.fixture
def tasks(qtbot):
    t = Tasks(2)
    yield t
    t.close()


def test_photo_model_passes_modeltester_and_pages(
    qtbot, qtmodeltester, tasks, gui_library, gui_env, fill_library
):
    ids = fill_library(gui_library, gui_env / "many", 30, captioned=25)
    model = PhotoListModel(gui_library, tasks)
    model.PAGE = 7
    with qtbot.waitSignal(model.sig_loaded, timeout=5_000):
        model.refresh()
    # the 5 queued photos first, then captions page by page
    assert model.rowCount() == 7
    assert [model.data(model.index(i, 0), Roles.State) for i in range(5)] == ["pending"] * 5
    assert model.canFetchMore()
    qtmodeltester.check(model)
    while model.canFetchMore() or model.loading:
        if model.canFetchMore():
            model.fetchMore()
        qtbot.waitUntil(lambda: not model.loading, timeout=5_000)
    assert model.rowCount() == 30
    assert sorted(r.photo_id for r in model.rows()) == sorted(ids)
    qtmodeltester.check(model)
    # a refresh (new photos arrived) re-reads as many rows as are shown: views keep their place
    with qtbot.waitSignal(model.modelReset, timeout=5_000):
        model.refresh()
    assert model.rowCount() == 30
    # a search query swaps the rows in one reset, with highlights
    with qtbot.waitSignal(model.modelReset, timeout=5_000):
        model.set_query(PhotoQuery(text="cat"))
    qtbot.waitUntil(lambda: not model.loading)
    while model.canFetchMore():
        model.fetchMore()
        qtbot.waitUntil(lambda: not model.loading)
    assert model.rowCount() == 12
    snippet = model.data(model.index(0, 0), Roles.Snippet)
    assert "\x02cat\x03" in snippet
    assert model.data(model.index(0, 0), Roles.Badges) == ("unreviewed",)
    qtmodeltester.check(model)


def test_photo_model_filters(qtbot, tasks, gui_library, gui_env, fill_library):
    fill_library(gui_library, gui_env / "f", 6, captioned=4)
    model = PhotoListModel(gui_library, tasks)
    for query, n in (
        (PhotoQuery(show="problems"), 2),
        (PhotoQuery(show="unreviewed"), 4),
        (PhotoQuery(show="human"), 0),
        (PhotoQuery(), 6),
    ):
        model.set_query(query)
        qtbot.waitUntil(lambda q=query: model.query == q and not model.loading, timeout=5_000)
        assert model.rowCount() == n, query
    lowest = PhotoQuery(show="unreviewed", order_by="confidence")
    model.set_query(lowest)
    qtbot.waitUntil(lambda: not model.loading)
    confidences = [model.data(model.index(i, 0), Roles.Confidence) for i in range(4)]
    assert confidences == sorted(confidences)


def test_root_and_failure_models_pass_modeltester(
    qtmodeltester, gui_library, gui_env, fill_library
):
    fill_library(gui_library, gui_env / "r", 3, captioned=2)
    roots = RootListModel()
    roots.set_rows(read_roots(gui_library))
    assert roots.rowCount() == 2
    assert roots.row(1).counts.captioned == 2
    assert roots.row(0).name == "All photos"
    qtmodeltester.check(roots)
    failures = FailureTableModel()
    job = gui_library.claim_jobs(1)[0]
    gui_library.fail_job(job.job_id, "cannot decode image: truncated")
    failures.set_rows(gui_library.failures())
    assert failures.rowCount() == 1
    assert failures.data(failures.index(0, 1)) == "cannot decode image: truncated"
    qtmodeltester.check(failures)
