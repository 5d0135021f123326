"""Roots, photos, moves, revisions and the job queue, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from annotator.core.errors import LibraryError
from annotator.library import CaptionSource, JobState, Library, PhotoFile, PhotoState
from annotator.library.testing import caption_result, complete_job, upsert_photo

# ------------------------------------------------------------------------------ roots


def test_roots_and_overlaps(library: Library, tmp_path: Path, photos_dir: Path) -> None:
    root = library.add_root(photos_dir)
    assert library.add_root(photos_dir) == root  # idempotent
    assert root.available and not root.paused
    (photos_dir / "sub").mkdir()
    with pytest.raises(LibraryError, match="overlaps"):
        library.add_root(photos_dir / "sub")
    with pytest.raises(LibraryError, match="overlaps"):
        library.add_root(tmp_path)
    with pytest.raises(LibraryError, match="not a folder"):
        library.add_root(tmp_path / "nope")
    library.set_root_paused(root.id)
    assert library.roots()[0].paused
    assert library.root_for(photos_dir / "sub" / "x.jpg") == library.roots()[0]
    assert library.root_for(tmp_path / "elsewhere.jpg") is None
    with pytest.raises(LibraryError):
        library.set_root_paused(999)


def test_remove_root_forgets_its_photos(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    caption_photo(library, pid, "a quiet lake")
    root_id = library.roots()[0].id
    assert library.remove_root(root_id) == 1
    assert library.photo(pid) is None
    assert library.search("lake") == []
    assert library.roots() == []


# ------------------------------------------------------------------ photos and moves


def test_upsert_statuses(library: Library, photos_dir: Path) -> None:
    root = library.add_root(photos_dir)
    path = photos_dir / "a.jpg"
    path.write_bytes(b"1")
    first = upsert_photo(library, root.id, path, "h1", 1, 10.0, 64, 48)
    assert (first.status, first.state, first.needs_caption) == ("new", PhotoState.PENDING, True)
    again = upsert_photo(library, root.id, path, "h1", 1, 10.0, 64, 48)
    assert (again.photo_id, again.status) == (first.photo_id, "unchanged")
    touched = upsert_photo(library, root.id, path, "h1", 1, 11.0, 64, 48)
    assert touched.status == "updated"
    info = library.photo(first.photo_id)
    assert info is not None and (info.mtime, info.width, info.height) == (11.0, 64, 48)
    assert library.photo_by_path(path) == info
    known = library.known_files(root.id)
    assert known[str(path)].content_hash == "h1" and known[str(path)].photo_id == first.photo_id
    outside = photos_dir.parent / "outside.jpg"
    with pytest.raises(ValueError, match="not inside"):
        upsert_photo(library, root.id, outside, "h9", 1, 1.0)


def test_batch_upsert_keeps_input_order(library: Library, photos_dir: Path) -> None:
    root = library.add_root(photos_dir)
    files = [PhotoFile(photos_dir / f"{i}.jpg", f"h{i}", i, float(i)) for i in range(1200)]
    results = library.upsert_photos(root.id, files)
    assert [r.status for r in results] == ["new"] * 1200
    assert len({r.photo_id for r in results}) == 1200
    for f, r in zip(files[::97], results[::97], strict=True):
        assert library.photo(r.photo_id).path == f.path
    again = library.upsert_photos(root.id, files[:10])
    assert [r.photo_id for r in again] == [r.photo_id for r in results[:10]]


def test_move_keeps_captions(
    library: Library,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
) -> None:
    pid = add_photo(library, "old/name.jpg", content_hash="abc")
    caption_photo(library, pid, "a lighthouse on a cliff")
    library.add_human_revision(pid, "Lindesnes lighthouse")
    old = photos_dir / "old" / "name.jpg"
    new = photos_dir / "new" / "renamed.jpg"
    new.parent.mkdir()
    old.rename(new)  # moved before any scan noticed: the old file is simply gone
    root_id = library.roots()[0].id
    moved = upsert_photo(library, root_id, new, "abc", new.stat().st_size, 5.0)
    assert (moved.photo_id, moved.status, moved.moved_from) == (pid, "moved", old)
    assert moved.state is PhotoState.CAPTIONED and not moved.needs_caption
    assert library.photo(pid).path == new
    assert library.photo_by_path(old) is None
    history = library.caption_history(pid)
    assert [c.source for c in history] == [CaptionSource.MODEL, CaptionSource.HUMAN]
    assert [h.path for h in library.search("lighthouse")] == [new]


def test_move_of_a_missing_photo_and_copies(
    library: Library,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
) -> None:
    pid = add_photo(library, "a.jpg", content_hash="same")
    caption_photo(library, pid, "a snowy mountain")
    root_id = library.roots()[0].id
    copy = photos_dir / "copy.jpg"
    copy.write_bytes((photos_dir / "a.jpg").read_bytes())
    # The original still exists: a file with the same content is a copy, a new photo.
    dup = upsert_photo(library, root_id, copy, "same", 5, 5.0)
    assert dup.status == "new" and dup.photo_id != pid
    (photos_dir / "a.jpg").unlink()
    assert library.mark_missing([photos_dir / "a.jpg"]) == 1
    assert library.photo(pid).state is PhotoState.MISSING
    later = photos_dir / "later.jpg"
    later.write_bytes(b"same")
    back = upsert_photo(library, root_id, later, "same", 4, 6.0)
    assert (back.photo_id, back.status) == (pid, "moved")
    assert library.photo(pid).state is PhotoState.CAPTIONED
    assert library.photo(pid).missing_since is None


def test_changed_content_and_restore(
    library: Library,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
) -> None:
    pid = add_photo(library, "p.jpg", content_hash="v1")
    caption_photo(library, pid, "a green field")
    root_id = library.roots()[0].id
    path = photos_dir / "p.jpg"
    changed = upsert_photo(library, root_id, path, "v2", 9, 9.0)
    assert (changed.status, changed.needs_caption) == ("changed", True)
    assert library.current_caption(pid).text == "a green field"  # kept until recaptioned
    caption_photo(library, pid, "a yellow field", version="v1")
    path.unlink()
    library.mark_missing([path])
    path.write_bytes(b"back")
    restored = upsert_photo(library, root_id, path, "v2", 9, 9.0)
    assert (restored.status, restored.state) == ("restored", PhotoState.CAPTIONED)


def test_mark_missing_spares_unmounted_roots_and_present_files(
    library: Library, tmp_path: Path
) -> None:
    drive = tmp_path / "drive"
    drive.mkdir()
    root = library.add_root(drive)
    on_drive = drive / "x.jpg"
    on_drive.write_bytes(b"x")
    pid = upsert_photo(library, root.id, on_drive, "hx", 1, 1.0).photo_id
    assert library.mark_missing([on_drive]) == 0  # the file is there after all
    unmounted = tmp_path / "drive-unmounted"
    drive.rename(unmounted)  # the drive goes away: the whole root is unreachable
    assert not library.roots()[0].available
    assert library.mark_missing([on_drive]) == 0
    assert library.photo(pid).state is PhotoState.PENDING
    unmounted.rename(drive)
    on_drive.unlink()
    assert library.mark_missing([on_drive, drive / "never-known.jpg"]) == 1
    counts = library.root_counts()[root.id]
    assert (counts.missing, counts.total) == (1, 1)
    assert library.purge_missing(root_id=root.id) == 1
    assert library.photo(pid) is None


# ------------------------------------------------------------------------ revisions


def test_revisions_keep_the_model_caption(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    model_id = caption_photo(library, pid, "a cat sits on a mat", version="v7")
    model = library.current_caption(pid)
    assert model is not None and model.id == model_id and model.source is CaptionSource.MODEL
    assert model.model_version == "v7" and model.model_id == "test-model"
    assert model.beam_size == 3 and len(model.alternatives) == 3
    assert model.alternatives[0].text == "a cat sits on a mat"
    assert len(model.word_logprobs) == 7 and model.confidence < 0
    first = library.add_human_revision(pid, "  our cat Tom  on the mat ", reviewed=False)
    second = library.add_human_revision(pid, "Tom on the mat")
    assert library.add_human_revision(pid, "Tom on the mat") == second  # no duplicate
    history = library.caption_history(pid)
    assert [c.id for c in history] == [model_id, first, second]
    assert history[0].text == "a cat sits on a mat" and history[0].model_version == "v7"
    assert history[1].text == "our cat Tom on the mat" and history[1].parent_id == model_id
    assert history[2].parent_id == first and history[2].reviewed
    assert [c.is_current for c in history] == [False, False, True]
    assert library.current_caption(pid).text == "Tom on the mat"
    assert [c.model_version for c in history if c.source is CaptionSource.MODEL] == ["v7"]
    with pytest.raises(ValueError):
        library.add_human_revision(pid, "   ")
    with pytest.raises(LibraryError):
        library.add_human_revision(999_999, "text")


def test_reviewed_flag(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    assert library.set_reviewed(pid) is False  # no caption yet
    caption_photo(library, pid, "a bird on a wire")
    assert library.set_reviewed(pid) is True
    assert library.current_caption(pid).reviewed
    library.set_reviewed(pid, False)
    assert not library.current_caption(pid).reviewed


def test_import_human_caption_and_iter_current(
    library: Library,
    photos_dir: Path,
    add_photo: Callable[..., int],
    caption_photo: Callable[..., int],
) -> None:
    a = add_photo(library, "a.jpg")
    b = add_photo(library, "b.jpg")
    caption_photo(library, a, "a red car")
    library.import_human_caption(photos_dir / "b.jpg", "Grandma's garden", "XMP dc:description")
    library.import_human_caption(photos_dir / "b.jpg", "Grandma's garden", "XMP dc:description")
    assert len(library.caption_history(b)) == 1
    assert library.current_caption(b).origin == "XMP dc:description"
    rows = {r.photo_id: r for r in library.iter_current_captions(batch=1)}
    assert set(rows) == {a, b}
    assert (rows[a].source, rows[a].model_version, rows[a].path) == (
        "model",
        "v1",
        photos_dir / "a.jpg",
    )
    assert (rows[b].source, rows[b].model_version, rows[b].reviewed) == ("human", "", True)
    with pytest.raises(LibraryError, match="not in the library"):
        library.import_human_caption(photos_dir / "zzz.jpg", "x", "EXIF")


# ---------------------------------------------------------------------------- queue


def test_enqueue_is_idempotent(library: Library, add_photo: Callable[..., int]) -> None:
    ids = [add_photo(library) for _ in range(3)]
    assert library.enqueue(ids) == 3
    assert library.enqueue(ids + ids) == 0
    assert library.queue_counts()[JobState.PENDING] == 3
    claimed = library.claim_jobs(1)
    assert library.enqueue(ids) == 0  # a running job is live too
    assert library.queue_counts()[JobState.RUNNING] == 1
    library.fail_job(claimed[0].job_id, "unreadable JPEG")
    assert library.queue_counts()[JobState.FAILED] == 1
    assert library.enqueue(ids) == 1  # a failed job is retried on request
    assert library.queue_counts() == {JobState.PENDING: 3, JobState.RUNNING: 0, JobState.FAILED: 0}
    assert library.enqueue([999_999]) == 0


def test_claim_complete_and_fail(library: Library, add_photo: Callable[..., int]) -> None:
    ids = [add_photo(library) for _ in range(4)]
    library.enqueue(ids)
    jobs = library.claim_jobs(3)
    assert [j.photo_id for j in jobs] == ids[:3]
    assert all(j.attempts == 1 for j in jobs)
    assert jobs[0].path == library.photo(ids[0]).path
    assert [j.photo_id for j in library.claim_jobs(10)] == [ids[3]]
    assert library.claim_jobs(10) == []
    complete_job(library, jobs[0].job_id, caption_result("a boat"), "v1")
    assert library.photo(ids[0]).state is PhotoState.CAPTIONED
    with pytest.raises(LibraryError, match="not running"):
        complete_job(library, jobs[0].job_id, caption_result("a boat"), "v1")
    library.fail_job(jobs[1].job_id, "timeout", retry=True)
    assert library.queue_counts()[JobState.PENDING] == 1
    library.fail_job(jobs[2].job_id, "cannot decode")
    assert library.photo(ids[2]).state is PhotoState.FAILED
    failures = library.failures()
    assert [(f.photo_id, f.reason) for f in failures] == [(ids[2], "cannot decode")]
    assert failures[0].path == library.photo(ids[2]).path
    counts = library.root_counts()[library.roots()[0].id]
    assert (counts.captioned, counts.failed, counts.pending, counts.queued) == (1, 1, 2, 2)
    assert library.clear_failures() == 1 and library.failures() == []


def test_retry_gives_up_after_max_attempts(library: Library, add_photo: Callable[..., int]) -> None:
    pid = add_photo(library)
    library.enqueue([pid])
    for attempt in range(1, 4):
        (job,) = library.claim_jobs(1)
        assert job.attempts == attempt
        library.fail_job(job.job_id, f"flaky {attempt}", retry=True, max_attempts=3)
    assert library.claim_jobs(1) == []
    assert library.photo(pid).state is PhotoState.FAILED
    assert library.failures()[0].reason == "flaky 3"


def test_paused_roots_and_missing_photos_are_not_claimed(
    library: Library, photos_dir: Path, add_photo: Callable[..., int]
) -> None:
    pid = add_photo(library, "p.jpg")
    gone = add_photo(library, "gone.jpg")
    library.enqueue([pid, gone])
    (photos_dir / "gone.jpg").unlink()
    library.mark_missing([photos_dir / "gone.jpg"])
    root = library.roots()[0]
    library.set_root_paused(root.id, True)
    assert library.claim_jobs(10) == []
    library.set_root_paused(root.id, False)
    assert [j.photo_id for j in library.claim_jobs(10)] == [pid]


def test_complete_jobs_is_all_or_nothing(library: Library, add_photo: Callable[..., int]) -> None:
    a, b = add_photo(library), add_photo(library)
    library.enqueue([a, b])
    ja, jb = library.claim_jobs(2)
    library.fail_job(jb.job_id, "gave up")  # jb is no longer running
    with pytest.raises(LibraryError, match="not running"):
        library.complete_jobs(
            [
                (ja.job_id, caption_result("a lake"), "v1"),
                (jb.job_id, caption_result("a hill"), "v1"),
            ]
        )
    # The batch is refused as a whole: nothing of the first item was stored.
    assert library.caption_history(a) == []
    assert library.attention(a) is None
    assert library.photo(a).state is PhotoState.PENDING
    assert library.search("lake") == []
    assert library.queue_counts()[JobState.RUNNING] == 1  # ja can still be completed
    library.complete_jobs([(ja.job_id, caption_result("a lake"), "v1")])
    assert [h.photo_id for h in library.search("lake")] == [a]


def test_complete_job_validates_before_writing(
    library: Library, add_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    library.enqueue([pid])
    (job,) = library.claim_jobs(1)
    good = caption_result("a red bus")
    bad = type(good)(good.words, good.score, good.word_logprobs, good.attention[:2])
    with pytest.raises(ValueError, match="attention"):
        complete_job(library, job.job_id, bad, "v1")
    assert library.caption_history(pid) == []
    complete_job(library, job.job_id, good, "v1")
    assert library.current_caption(pid).text == "a red bus"


def test_claim_then_recover_after_a_crash(db_url: str, add_photo: Callable[..., int]) -> None:
    from annotator.library import open_library

    first = open_library(db_url)
    ids = [add_photo(first) for _ in range(3)]
    first.enqueue(ids)
    claimed = first.claim_jobs(2)
    first.close()  # the worker dies here: two jobs are left running

    second = open_library(db_url)  # the next start
    try:
        assert second.queue_counts()[JobState.RUNNING] == 2
        assert second.recover() == 2
        assert second.queue_counts() == {
            JobState.PENDING: 3,
            JobState.RUNNING: 0,
            JobState.FAILED: 0,
        }
        again = second.claim_jobs(10)
        assert sorted(j.job_id for j in again) == sorted(
            [j.job_id for j in claimed] + [j.job_id for j in again if j.photo_id == ids[2]]
        )
        assert {j.attempts for j in again if j.photo_id in ids[:2]} == {2}
        for job in again:
            complete_job(second, job.job_id, caption_result("a calm sea"), "v1")
        assert len(second.search("sea")) == 3  # nothing lost, nothing done twice
        assert all(len(second.caption_history(pid)) == 1 for pid in ids)
    finally:
        second.close()


def test_released_jobs_go_back_without_counting_an_attempt(
    library: Library, add_photo: Callable[..., int]
) -> None:
    ids = [add_photo(library) for _ in range(3)]
    library.enqueue(ids)
    for _ in range(5):  # stop and restart many times: never a failure
        claimed = library.claim_jobs(2)
        assert {j.attempts for j in claimed} == {1}
        assert library.release_jobs(j.job_id for j in claimed) == 2
    assert library.queue_counts()[JobState.PENDING] == 3
    assert library.release_jobs([]) == 0
    job = library.claim_jobs(1)[0]
    complete_job(library, job.job_id, caption_result("done"), "v1")
    assert library.release_jobs([job.job_id]) == 0  # completed jobs are left alone
    assert library.recover(max_attempts=1) == 0 and not library.failures()


def test_recover_fails_a_photo_that_keeps_crashing_the_worker(
    library: Library, db_url: str, add_photo: Callable[..., int]
) -> None:
    from annotator.library import open_library

    pid = add_photo(library)
    library.enqueue([pid])
    for _ in range(3):  # a worker claims the photo and dies before it is decoded
        worker = open_library(db_url)
        assert len(worker.claim_jobs(1)) == 1
        worker.close()
        library.recover(max_attempts=3)
    assert library.photo(pid).state is PhotoState.FAILED
    assert "interrupted 3 times" in library.failures()[0].reason


def test_concurrent_claims_never_share_a_job(
    library: Library, add_photo: Callable[..., int]
) -> None:
    ids = [add_photo(library) for _ in range(60)]
    library.enqueue(ids)
    got: list[int] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker() -> None:
        try:
            while jobs := library.claim_jobs(3):
                for job in jobs:
                    res = caption_result("a tree", rng=np.random.default_rng(job.photo_id))
                    complete_job(library, job.job_id, res, "v1")
                with lock:
                    got.extend(j.photo_id for j in jobs)
        except Exception as exc:  # noqa: BLE001 - handed to the main thread below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert sorted(got) == sorted(ids)
    assert all(len(library.caption_history(pid)) == 1 for pid in ids)
