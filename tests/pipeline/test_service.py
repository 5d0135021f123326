"""The long-running index service the app and ``annotator index --watch`` share."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from annotator.library import Library
from annotator.model.captioner import Captioner
from annotator.pipeline.runner import IndexSettings, PhotoCaptioned, Status
from annotator.pipeline.service import (
    FilesRemoved,
    IndexingStopped,
    IndexService,
    ModelFailed,
    ModelReady,
    Scanned,
)


class Events:
    """Collect a service's events and wait for one that matches."""

    def __init__(self) -> None:
        self.seen: list[object] = []
        self._changed = threading.Condition()

    def __call__(self, event: object) -> None:
        with self._changed:
            self.seen.append(event)
            self._changed.notify_all()

    def wait_for(self, match: Callable[[list[object]], bool], timeout: float = 30.0) -> None:
        with self._changed:
            assert self._changed.wait_for(lambda: match(self.seen), timeout), self.seen

    def of(self, kind: type) -> list:
        with self._changed:
            return [e for e in self.seen if isinstance(e, kind)]


def captioned(events: list[object]) -> set[str]:
    return {e.path.name for e in events if isinstance(e, PhotoCaptioned)}


@pytest.fixture
def settings() -> IndexSettings:
    return IndexSettings(batch_size=4, metadata="none", workers=1)


def test_service_captions_scanned_and_new_photos_and_marks_deleted_ones(
    library: Library, captioner: Captioner, settings: IndexSettings, tmp_path: Path, make_photos
) -> None:
    root = tmp_path / "photos"
    first = make_photos(root, 3)
    events = Events()
    service = IndexService(library, settings, events, captioner=captioner, poll=True)
    try:
        service.start()
        service.scan([library.add_root(root)]).result(30)
        events.wait_for(lambda seen: captioned(seen) == {p.name for p in first})
        assert service.watched == [root]
        (new,) = make_photos(root, 1, seed=5, prefix="new")
        events.wait_for(lambda seen: new.name in captioned(seen))
        first[0].unlink()
        events.wait_for(lambda seen: any(isinstance(e, FilesRemoved) for e in seen))
    finally:
        assert service.shutdown(30)
    (removed,) = events.of(FilesRemoved)
    assert removed.paths == (first[0],) and removed.marked == 1
    assert library.photo_by_path(first[0]).state.value == "missing"
    assert events.of(ModelReady) and events.of(IndexingStopped) == [IndexingStopped(1)]
    summary = service.summary()
    assert summary.captioned == 4 and summary.failed == 0


def test_unreachable_root_is_paused_and_nothing_is_marked_missing(
    library: Library, captioner: Captioner, settings: IndexSettings, tmp_path: Path, make_photos
) -> None:
    root = tmp_path / "drive"
    photos = make_photos(root, 2)
    events = Events()
    service = IndexService(library, settings, events, captioner=captioner, poll=True)
    try:
        service.start()
        service.scan([library.add_root(root)]).result(30)
        events.wait_for(lambda seen: len(captioned(seen)) == 2)
        root.rename(tmp_path / "drive-unplugged")
        events.wait_for(
            lambda seen: any(isinstance(e, Status) and "not reachable" in e.message for e in seen)
        )
    finally:
        service.shutdown(30)
    (info,) = library.roots()
    assert info.paused
    assert all(library.photo_by_path(p).state.value == "captioned" for p in photos)


def test_retry_failed_queues_failures_again_and_wakes_the_captioning_thread(
    library: Library, captioner: Captioner, settings: IndexSettings, tmp_path: Path, make_photos
) -> None:
    root = tmp_path / "mixed"
    make_photos(root, 1)
    broken = root / "broken.jpg"
    broken.write_bytes(b"not a photo")
    events = Events()
    service = IndexService(library, settings, events, captioner=captioner, watch=False)
    try:
        service.start()
        service.scan([library.add_root(root)]).result(30)
        events.wait_for(lambda seen: len(captioned(seen)) == 1 and library.failures())
        broken.write_bytes(make_photos(tmp_path / "good", 1)[0].read_bytes())
        assert service.retry_failed() == 1
        events.wait_for(lambda seen: broken.name in captioned(seen))
    finally:
        service.shutdown(30)
    assert library.failures() == []


def test_a_model_that_cannot_load_is_reported_and_ends_the_thread(
    library: Library, settings: IndexSettings, tmp_path: Path
) -> None:
    events = Events()
    missing = IndexSettings(model=str(tmp_path / "absent.safetensors"), device="cpu")
    service = IndexService(library, missing, events, watch=False)
    try:
        service.start()
        assert service.wait(30)
    finally:
        service.shutdown(5)
    (failed,) = events.of(ModelFailed)
    assert "absent.safetensors" in failed.reason
    assert events.of(IndexingStopped) == [IndexingStopped(1)] and not service.running
    assert not events.of(Scanned)
