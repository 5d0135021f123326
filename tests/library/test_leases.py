"""Several indexers on one library: claims have an owner and a lease; only dead ones are taken."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest

from annotator.core.errors import LibraryError
from annotator.library import JobState, open_library
from annotator.library.testing import caption_result, complete_job

CLAIM_AND_DIE = """
import os, sys
from annotator.library import open_library
lib = open_library(sys.argv[1])
print(len(lib.claim_jobs(10)))
os._exit(9)
"""


def test_a_second_indexer_does_not_take_running_jobs(
    db_url: str, add_photo: Callable[..., int]
) -> None:
    first, second = open_library(db_url), open_library(db_url)
    try:
        ids = [add_photo(first) for _ in range(4)]
        first.enqueue(ids)
        mine = first.claim_jobs(2)
        # The second indexer starts: it must neither take back nor re-claim the first's jobs.
        assert second.recover() == 0
        theirs = second.claim_jobs(10)
        assert {j.photo_id for j in theirs}.isdisjoint({j.photo_id for j in mine})
        assert len(theirs) == 2
        assert first.owned_jobs(j.job_id for j in mine) == {j.job_id for j in mine}
        assert second.owned_jobs(j.job_id for j in mine) == set()
        for lib, jobs in ((first, mine), (second, theirs)):
            lib.complete_jobs([(j.job_id, caption_result("a fox"), "v1") for j in jobs])
        assert all(len(first.caption_history(pid)) == 1 for pid in ids)
        assert sum(first.queue_counts().values()) == 0
    finally:
        first.close()
        second.close()


def test_an_expired_lease_is_recovered_and_the_late_owner_cannot_complete(
    db_url: str, add_photo: Callable[..., int]
) -> None:
    first, second = open_library(db_url), open_library(db_url)
    try:
        pid = add_photo(first)
        first.enqueue([pid])
        first.lease_s = -1.0  # the claim is already expired: its owner stopped heartbeating
        (job,) = first.claim_jobs(1)
        assert second.recover() == 1
        (again,) = second.claim_jobs(1)
        assert again.job_id == job.job_id
        with pytest.raises(LibraryError, match="taken over"):
            complete_job(first, job.job_id, caption_result("a stale caption"), "v1")
        complete_job(second, again.job_id, caption_result("a fresh caption"), "v1")
        assert [c.text for c in second.caption_history(pid)] == ["a fresh caption"]
    finally:
        first.close()
        second.close()


def test_heartbeat_keeps_a_lease(db_url: str, add_photo: Callable[..., int]) -> None:
    first, second = open_library(db_url), open_library(db_url)
    try:
        pid = add_photo(first)
        first.enqueue([pid])
        first.lease_s = -1.0
        first.claim_jobs(1)
        first.lease_s = 120.0
        assert first.heartbeat() == 1
        assert second.heartbeat() == 0  # it owns nothing
        assert second.recover() == 0
        assert first.queue_counts()[JobState.RUNNING] == 1
    finally:
        first.close()
        second.close()


def test_jobs_of_a_killed_process_are_recovered_at_once(
    db_url: str, add_photo: Callable[..., int]
) -> None:
    lib = open_library(db_url)
    try:
        lib.enqueue([add_photo(lib) for _ in range(3)])
        child = subprocess.run(
            [sys.executable, "-c", CLAIM_AND_DIE, db_url],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert child.returncode == 9 and child.stdout.strip() == "3", child.stderr
        assert lib.queue_counts()[JobState.RUNNING] == 3
        assert lib.recover() == 3  # the owner is a dead process on this machine
        assert lib.queue_counts()[JobState.PENDING] == 3
        assert lib.failures() == []
    finally:
        lib.close()


def test_a_crash_while_decoding_counts_only_against_the_photos_being_decoded(
    db_url: str, add_photo: Callable[..., int]
) -> None:
    lib = open_library(db_url)
    try:
        ids = [add_photo(lib) for _ in range(4)]
        lib.enqueue(ids)
        for _ in range(5):  # killed five times after decoding (while captioning)
            worker = open_library(db_url)
            jobs = worker.claim_jobs(4, isolate_suspects=True)
            assert len(jobs) == 4
            assert worker.mark_decoded(j.job_id for j in jobs) == 4
            worker.close()
            assert lib.recover() == 4
        assert lib.failures() == []
        # Killed while decoding: the batch becomes suspect, and suspects are tried alone.
        worker = open_library(db_url)
        worker.claim_jobs(4, isolate_suspects=True)
        worker.close()
        lib.recover()
        worker = open_library(db_url)
        (alone,) = worker.claim_jobs(4, isolate_suspects=True)
        assert alone.attempts == 2
        worker.mark_decoded([alone.job_id])
        complete_job(worker, alone.job_id, caption_result("a decoded photo"), "v1")
        worker.close()
    finally:
        lib.close()


def test_a_driver_takes_back_the_jobs_its_dead_workers_claimed_for_it(
    db_url: str, add_photo: Callable[..., int]
) -> None:
    driver, worker, other = open_library(db_url), open_library(db_url), open_library(db_url)
    try:
        driver.enqueue([add_photo(driver) for _ in range(5)])
        worker.owner = driver.owner  # a cluster worker claims on the driver's behalf
        decoded = worker.claim_jobs(2, isolate_suspects=True)
        worker.mark_decoded(j.job_id for j in decoded)  # then died while captioning
        (crashed,) = worker.claim_jobs(1, isolate_suspects=True)  # died while decoding
        (others,) = other.claim_jobs(1)  # another live indexer's job
        assert driver.running_jobs() == sorted([*(j.job_id for j in decoded), crashed.job_id])
        assert other.running_jobs() == [others.job_id]
        assert driver.recover() == 0  # its own jobs are alive to a plain recover
        assert driver.recover(own=True) == 3
        assert driver.running_jobs() == []
        assert other.owned_jobs([others.job_id]) == {others.job_id}  # left alone
        # the job that was being decoded keeps its attempt: it is claimed alone next
        (suspect,) = driver.claim_jobs(5, isolate_suspects=True)
        assert suspect.job_id == crashed.job_id and suspect.attempts == 2
        assert driver.failures() == []
    finally:
        driver.close()
        worker.close()
        other.close()
