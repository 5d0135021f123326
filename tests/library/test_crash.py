"""Survive a worker killed mid-transaction: nothing half-written, nothing lost."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from annotator.library import JobState, open_library
from annotator.library.testing import caption_result, complete_job

CHILD = """
import os, sys
from annotator.library import open_library, queue
from annotator.library.testing import caption_result, complete_job

lib = open_library(sys.argv[1])
(job,) = lib.claim_jobs(1)
# Die at the last step of complete_job's transaction (removing the job): the caption,
# its attention and the photo's new state have been written by then.
queue.delete = lambda *args, **kwargs: os._exit(9)
complete_job(lib, job.job_id, caption_result("a burning candle on a table"), "v1")
os._exit(0)
"""


def test_killed_inside_complete_job(db_url: str, add_photo: Callable[..., int]) -> None:
    lib = open_library(db_url)
    pid = add_photo(lib)
    lib.enqueue([pid])
    lib.close()

    child = subprocess.run(
        [sys.executable, "-c", CHILD, db_url],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert child.returncode == 9, child.stderr

    lib = open_library(db_url)
    try:
        assert lib.caption_history(pid) == []
        assert lib.attention(pid) is None
        assert lib.search("candle") == []
        lib.check_index()
        assert lib.queue_counts()[JobState.RUNNING] == 1
        assert lib.recover() == 1
        (job,) = lib.claim_jobs(1)
        assert job.photo_id == pid and job.attempts == 2
        complete_job(lib, job.job_id, caption_result("a burning candle on a table"), "v1")
        assert [h.photo_id for h in lib.search("candle")] == [pid]
    finally:
        lib.close()
