"""Run indexers and ``write-metadata`` on one library while killing them at random.

The harness behind ``benchmarks/kill.py`` and the slow test
``tests/library/test_kill_indexers.py``: several ``annotator --index`` processes
and one ``annotator write-metadata`` work on the same folder and library; every
few seconds one of them, chosen at random, gets ``kill -9`` and is started
again. After the last round one clean run indexes whatever is left. Then
:func:`check` verifies what must hold however the kills fell: every photo
captioned exactly once, every caption embedded in its photo, no temporary file
left, no photo's image data changed, nothing queued, nothing failed.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from annotator.library import open_library
from annotator.metadata import jpeg, read_metadata
from annotator.metadata.safe_write import TEMP_SUFFIX


@dataclass
class KillReport:
    """What a kill run did and found."""

    photos: int = 0
    kills: int = 0
    kills_by_role: dict[str, int] = field(default_factory=dict)
    starts: int = 0
    elapsed: float = 0.0
    clean_run_status: int | None = None
    clean_run_stderr: str = ""
    captioned_once: int = 0
    captioned_twice_or_more: list[str] = field(default_factory=list)
    not_captioned: list[str] = field(default_factory=list)
    not_embedded: list[str] = field(default_factory=list)
    image_changed: list[str] = field(default_factory=list)
    temporaries: list[str] = field(default_factory=list)
    queued: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Return whether every invariant held."""
        return (
            self.clean_run_status == 0
            and self.captioned_once == self.photos
            and not (
                self.captioned_twice_or_more
                or self.not_captioned
                or self.not_embedded
                or self.image_changed
                or self.temporaries
                or self.failures
                or self.queued
            )
        )

    def lines(self) -> list[str]:
        """Return the figures as printable lines."""
        roles = ", ".join(f"{k} {v}" for k, v in sorted(self.kills_by_role.items()))
        return [
            f"photos {self.photos}; {self.kills} kill -9 ({roles}); {self.starts} process starts; "
            f"{self.elapsed:.0f} s",
            f"clean run exit status {self.clean_run_status}",
            f"captioned exactly once {self.captioned_once}/{self.photos}; more than once "
            f"{len(self.captioned_twice_or_more)}; not captioned {len(self.not_captioned)}",
            f"caption not embedded {len(self.not_embedded)}; image data changed "
            f"{len(self.image_changed)}; temporary files left {len(self.temporaries)}; "
            f"jobs left {self.queued}; failures {len(self.failures)}",
            "OK: every invariant held" if self.ok else "FAILED",
        ]


def write_photos(
    folder: Path, n: int, *, size: tuple[int, int] = (320, 240), seed: int = 0
) -> list[Path]:
    """Write ``n`` distinct JPEGs of random colour blocks into ``folder`` (two subfolders)."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        blocks = rng.integers(0, 255, (6, 8, 3), dtype=np.uint8)
        pixels = np.kron(blocks, np.ones((size[1] // 6, size[0] // 8, 1), dtype=np.uint8))
        path = folder / f"part{i % 2}" / f"photo{i:03d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(pixels).save(path, quality=90)
        out.append(path)
    return out


def image_digests(photos: Sequence[Path]) -> dict[Path, str]:
    """Return each JPEG's image-data digest (what a caption write must never change)."""
    return {p: jpeg.image_data_digest(p.read_bytes()) for p in photos}


def index_command(root: Path, library: str, model: Path | None) -> list[str]:
    """Return the command line of one headless indexer."""
    cmd = [sys.executable, "-m", "annotator", "--index", str(root), "--library", library]
    cmd += ["--device", "cpu", "--batch-size", "4", "--metadata", "embed", "--quiet"]
    return cmd + (["--model", str(model)] if model is not None else [])


def writer_command(library: str) -> list[str]:
    """Return the command line of ``write-metadata`` over the whole library."""
    return [sys.executable, "-m", "annotator", "write-metadata", "--library", library]


def run_kills(
    root: Path,
    library: str,
    model: Path | None,
    *,
    rounds: int,
    indexers: int = 3,
    every: tuple[float, float] = (1.0, 3.0),
    seed: int = 0,
    cwd: Path | None = None,
) -> KillReport:
    """Run the processes with ``rounds`` random kills, then a clean run; return the report."""
    rng = random.Random(seed)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    roles = {f"indexer{i + 1}": index_command(root, library, model) for i in range(indexers)}
    roles["write-metadata"] = writer_command(library)
    report = KillReport(photos=sum(1 for _ in root.rglob("*.jpg")))
    procs: dict[str, subprocess.Popen[bytes]] = {}

    def start(role: str) -> None:
        procs[role] = subprocess.Popen(
            roles[role], cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        report.starts += 1

    t0 = time.monotonic()
    try:
        for role in roles:
            start(role)
        for _ in range(rounds):
            victim = rng.choice(sorted(roles))
            # Let everything run for a while: wait on the victim, which may finish by itself.
            try:
                procs[victim].wait(timeout=rng.uniform(*every))
            except subprocess.TimeoutExpired:
                procs[victim].send_signal(signal.SIGKILL)
                procs[victim].wait()
                report.kills += 1
                report.kills_by_role[victim] = report.kills_by_role.get(victim, 0) + 1
            for role, proc in procs.items():  # start again whatever ended or was killed
                if proc.poll() is not None:
                    start(role)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signal.SIGKILL)
            proc.wait()
    clean = subprocess.run(
        index_command(root, library, model), cwd=cwd, env=env, capture_output=True, text=True
    )
    report.clean_run_status = clean.returncode
    report.clean_run_stderr = clean.stderr[-4000:]
    report.elapsed = time.monotonic() - t0
    return report


def check(report: KillReport, root: Path, library: str, before: dict[Path, str]) -> KillReport:
    """Verify the invariants after a kill run; fill them into ``report`` and return it."""
    with open_library(library, create=False) as lib:
        for photo in sorted(before):
            info = lib.photo_by_path(photo)
            if info is None or info.state.value != "captioned":
                report.not_captioned.append(str(photo))
                continue
            model = [c for c in lib.caption_history(info.id) if c.source.value == "model"]
            if len(model) == 1:
                report.captioned_once += 1
            else:
                report.captioned_twice_or_more.append(f"{photo}: {len(model)}")
            current = lib.current_caption(info.id)
            if current is None or read_metadata(photo).description != current.text:
                report.not_embedded.append(str(photo))
        report.queued = sum(lib.queue_counts().values())
        report.failures = [f"{f.path}: {f.reason}" for f in lib.failures(limit=None)]
    after = image_digests(list(before))
    report.image_changed = [str(p) for p in before if after[p] != before[p]]
    report.temporaries = [str(p) for p in root.rglob(f"*{TEMP_SUFFIX}")]
    return report
