"""Benchmark the library: ingest throughput, size per photo, and search latency.

Builds SQLite libraries of N captions (100k and 1M by default) through the real
API (``upsert_photos`` -> ``enqueue`` -> ``claim_jobs`` -> ``complete_jobs``, with
n-best lists and 9 x 9 attention maps), then times ``Library.search`` (limit 20,
snippets included) for one-word, two-word, prefix and phrase queries.

Captions come from a trigram model of the Flickr8k captions, read at run time
from ``--flickr8k`` (the dataset is research-only: it is never copied into the
repository); without it, a small built-in vocabulary is used instead. Query words
are drawn from the generated captions in proportion to their frequency (stop
words excluded), so common words such as "dog" and "man" are queried most: the
pessimistic case for ranking.

    python benchmarks/search.py                      # 100k and 1M
    python benchmarks/search.py --sizes 20000 --queries 100

Targets (issue 4): p95 < 20 ms at 1M captions; <= 4 KB of attention per photo.
"""

from __future__ import annotations

import argparse
import bisect
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotator.core.types import Alternative, CaptionResult
from annotator.library import Library, PhotoFile, open_library
from annotator.library.schema import AttentionMap
from annotator.library.testing import attention_maps

FLICKR8K = Path("/work/shared/datasets/flickr8k/dataset_flickr8k.json")
STOP = set(
    [
        "a",
        "an",
        "the",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "in",
        "on",
        "of",
        "with",
        "and",
        "or",
        "at",
        "to",
        "while",
        "his",
        "her",
        "their",
        "its",
        "it",
        "for",
        "from",
        "by",
        "into",
        "through",
        "up",
        "down",
        "over",
        "under",
        "near",
        "as",
        "that",
        "this",
        "these",
        "those",
        "some",
        "has",
        "have",
        "who",
        "which",
        "one",
        "s",
        "there",
        "he",
        "she",
        "they",
        "them",
        "him",
        "out",
        "off",
        "onto",
        "other",
        "another",
        "each",
        "very",
    ]
)
FALLBACK = {
    "subject": [
        "man",
        "woman",
        "boy",
        "girl",
        "child",
        "dog",
        "cat",
        "horse",
        "bird",
        "surfer",
        "skier",
        "cyclist",
        "crowd",
        "team",
        "player",
        "couple",
        "puppy",
    ],
    "adjective": [
        "black",
        "white",
        "brown",
        "red",
        "blue",
        "young",
        "old",
        "small",
        "large",
        "happy",
        "wet",
        "muddy",
        "spotted",
        "fluffy",
        "tall",
    ],
    "verb": [
        "runs",
        "jumps",
        "walks",
        "sits",
        "stands",
        "rides",
        "plays",
        "climbs",
        "swims",
        "catches",
        "looks",
        "waits",
        "dances",
        "sleeps",
    ],
    "preposition": ["on", "in", "near", "under", "across", "through", "along", "beside", "behind"],
    "place": [
        "beach",
        "grass",
        "street",
        "snow",
        "water",
        "field",
        "park",
        "road",
        "mountain",
        "river",
        "bench",
        "wall",
        "pool",
        "fence",
        "rock",
        "stage",
        "city",
    ],
}


# ---------------------------------------------------------------------------- captions


class TrigramCaptions:
    """Generate captions from a trigram model of Flickr8k (or a template fallback)."""

    def __init__(self, dataset: Path | None, seed: int = 0) -> None:
        """Fit the model on ``dataset`` when it can be read."""
        self.rng = random.Random(seed)
        self.table: dict[tuple[str, str], tuple[list[str], list[int]]] = {}
        self.source = "built-in template vocabulary (Flickr8k not found)"
        if dataset is not None and dataset.exists():
            counts: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
            images = json.loads(dataset.read_text())["images"]
            for image in images:
                for sentence in image["sentences"]:
                    tokens = ["<s>", "<s>", *[t for t in sentence["tokens"] if t], "</s>"]
                    for a, b, c in zip(tokens, tokens[1:], tokens[2:], strict=False):
                        counts[(a, b)][c] += 1
            for key, counter in counts.items():
                words = list(counter)
                cumulative, total = [], 0
                for w in words:
                    total += counter[w]
                    cumulative.append(total)
                self.table[key] = (words, cumulative)
            self.source = f"trigram model of {len(images) * 5:,} Flickr8k captions"

    def __call__(self) -> list[str]:
        """Return one caption as a list of words (5 to 20 words)."""
        if not self.table:
            f = FALLBACK
            c = self.rng.choice
            return [
                "a",
                c(f["adjective"]),
                c(f["subject"]),
                c(f["verb"]),
                c(f["preposition"]),
                "the",
                c(f["adjective"]),
                c(f["place"]),
            ]
        while True:
            words: list[str] = []
            a, b = "<s>", "<s>"
            while len(words) < 20:
                choices, cumulative = self.table[(a, b)]
                w = choices[bisect.bisect_right(cumulative, self.rng.random() * cumulative[-1])]
                if w == "</s>":
                    break
                words.append(w)
                a, b = b, w
            if len(words) >= 5:
                return words


# ------------------------------------------------------------------------------ ingest


def build(path: Path, n: int, captions: list[list[str]], grid: int, batch: int) -> dict:
    """Create a library of ``n`` captioned photos through the API; return timings."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    root_dir = path.parent / "photos"
    root_dir.mkdir(exist_ok=True)
    rng = np.random.default_rng(0)
    pool = [attention_maps(rng, 20, grid, grid) for _ in range(2048)]  # sliced per caption
    library = open_library(path)
    root = library.add_root(root_dir)
    in_api = 0.0
    start = time.perf_counter()
    for lo in range(0, n, batch):
        files = [
            PhotoFile(
                root_dir / f"{i // 1000:04d}" / f"IMG_{i:07d}.jpg",
                f"{i:064x}",
                2_000_000 + i,
                1.6e9 + i * 60.0,
                4000,
                3000,
            )
            for i in range(lo, min(lo + batch, n))
        ]
        results = []
        for i in range(lo, min(lo + batch, n)):
            words = captions[i]
            lp = tuple(-0.05 - 0.5 * ((i * 7 + k) % 11) / 11 for k in range(len(words) + 1))
            alts = tuple(
                Alternative(" ".join([*words[:-1], w]), sum(lp) - 0.3 * j, lp)
                for j, w in enumerate(("here", "there", "too"), start=1)
            )
            results.append(
                CaptionResult(
                    tuple(words),
                    sum(lp),
                    lp,
                    pool[i % len(pool)][: len(words)],
                    (Alternative(" ".join(words), sum(lp), lp), *alts),
                    "bench-model",
                    5,
                )
            )
        t0 = time.perf_counter()
        ids = [r.photo_id for r in library.upsert_photos(root.id, files)]
        library.enqueue(ids)
        jobs = library.claim_jobs(len(ids))
        by_photo = dict(zip(ids, results, strict=True))
        library.complete_jobs([(j.job_id, by_photo[j.photo_id], "bench-v1") for j in jobs])
        in_api += time.perf_counter() - t0
        done = min(lo + batch, n)
        if done % (n // 10 or 1) < batch:
            print(f"    {done:>9,} photos  {done / in_api:8,.0f} photos/s", flush=True)
    total = time.perf_counter() - start
    with library.engine.connect() as conn:
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        attention_bytes = conn.execute(select(func.avg(func.length(AttentionMap.data)))).scalar()
    library.close()
    size = sum(
        Path(f"{path}{s}").stat().st_size for s in ("", "-wal") if Path(f"{path}{s}").exists()
    )
    return {
        "api_seconds": in_api,
        "wall_seconds": total,
        "bytes": size,
        "attention_bytes": float(attention_bytes or 0),
    }


def build_fast(path: Path, n: int, captions: list[list[str]], batch: int = 20_000) -> dict:
    """Create the same photos and captions as :func:`build` with plain SQL (no attention).

    For search timings only: the rows that search reads (photos, current captions,
    the full-text indexes through their triggers) are what :func:`build` stores,
    without attention maps, alternatives and jobs; about 10x faster to build.
    """
    import sqlite3

    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    root_dir = path.parent / "photos"
    root_dir.mkdir(exist_ok=True)
    library = open_library(path)  # the newest schema
    root_id = library.add_root(root_dir).id
    with library.engine.begin() as sa_conn:  # index once at the end, not row by row
        library.fts.uninstall(sa_conn)
    fts = library.fts
    library.close()
    start = time.perf_counter()
    conn = sqlite3.connect(path, isolation_level=None)
    now = "2026-12-03 12:00:00.000000"
    for lo in range(0, n, batch):
        photos, rows = [], []
        for i in range(lo, min(lo + batch, n)):
            words = captions[i]
            lp = [-0.05 - 0.5 * ((i * 7 + k) % 11) / 11 for k in range(len(words) + 1)]
            date = time.strftime("%Y-%m-%d %H:%M:%S.000000", time.gmtime(1.6e9 + i * 60.0))
            photos.append(
                (i + 1, root_id, str(root_dir / f"{i // 1000:04d}" / f"IMG_{i:07d}.jpg"),
                 f"{i:064x}", 2_000_000 + i, 1.6e9 + i * 60.0, 4000, 3000, date, now, now)
            )  # fmt: skip
            rows.append((i + 1, " ".join(words), sum(lp), sum(lp) / len(lp), json.dumps(lp), now))
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO photos (id, root_id, path, content_hash, size, mtime, width, height,"
            " photo_date, state, added_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?,'captioned',?,?)",
            photos,
        )
        conn.executemany(
            "INSERT INTO captions (photo_id, text, source, model_id, model_version, beam_size,"
            " score, confidence, word_logprobs, keywords, reviewed, is_current, created_at)"
            " VALUES (?, ?, 'model', 'bench-model', 'bench-v1', 5, ?, ?, ?, '[]', 0, 1, ?)",
            rows,
        )
        conn.execute("COMMIT")
        done = min(lo + batch, n)
        if done % (n // 10 or 1) < batch:
            elapsed = time.perf_counter() - start
            print(f"    {done:>9,} photos  {done / elapsed:8,.0f} photos/s", flush=True)
    conn.close()
    library = open_library(path)
    with library.engine.begin() as sa_conn:
        fts.install(sa_conn)
    with library.engine.connect() as sa_conn:
        sa_conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    library.close()
    total = time.perf_counter() - start
    return {"api_seconds": total, "wall_seconds": total, "bytes": path.stat().st_size}


def build_fast_any(
    url: str, n: int, captions: list[list[str]], root_dir: Path, batch: int = 5000
) -> dict:
    """Create the photos and captions of :func:`build_fast` in any database (PostgreSQL).

    Through SQLAlchemy Core inserts into an empty database, the full-text index
    dropped during the load and installed once at the end (as :func:`build_fast`).
    """
    from datetime import UTC, datetime

    from sqlalchemy import insert

    from annotator.library.schema import Caption, CaptionSource, Photo, PhotoState

    library = open_library(url)
    root_dir.mkdir(parents=True, exist_ok=True)
    root_id = library.add_root(root_dir).id
    start = time.perf_counter()
    now = datetime(2026, 12, 3, 12, tzinfo=UTC)
    with library.engine.begin() as conn:
        library.fts.uninstall(conn)
    for lo in range(0, n, batch):
        photos, rows = [], []
        for i in range(lo, min(lo + batch, n)):
            words = captions[i]
            lp = [-0.05 - 0.5 * ((i * 7 + k) % 11) / 11 for k in range(len(words) + 1)]
            date = datetime.fromtimestamp(1.6e9 + i * 60.0, UTC)
            path = f"{root_dir.resolve()}/{i // 1000:04d}/IMG_{i:07d}.jpg"
            photos.append(
                {"id": i + 1, "root_id": root_id, "path": path,
                 "content_hash": f"{i:064x}", "size": 2_000_000 + i, "mtime": 1.6e9 + i * 60.0,
                 "width": 4000, "height": 3000, "photo_date": date, "state": PhotoState.CAPTIONED,
                 "added_at": now, "updated_at": now}
            )  # fmt: skip
            rows.append(
                {"photo_id": i + 1, "text": " ".join(words), "source": CaptionSource.MODEL,
                 "model_id": "bench-model", "model_version": "bench-v1", "beam_size": 5,
                 "score": sum(lp), "confidence": sum(lp) / len(lp), "word_logprobs": lp,
                 "keywords": [], "reviewed": False, "is_current": True, "created_at": now}
            )  # fmt: skip
        with library.engine.begin() as conn:
            conn.execute(insert(Photo), photos)
            conn.execute(insert(Caption), rows)
        done = min(lo + batch, n)
        if done % (n // 10 or 1) < batch:
            elapsed = time.perf_counter() - start
            print(f"    {done:>9,} photos  {done / elapsed:8,.0f} photos/s", flush=True)
    with library.engine.begin() as conn:
        library.fts.install(conn)
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('photos', 'id'), "
                                 "(SELECT max(id) FROM photos))")  # fmt: skip
    if library.engine.dialect.name == "postgresql":
        with library.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
    library.close()
    total = time.perf_counter() - start
    return {"api_seconds": total, "wall_seconds": total, "bytes": 0}


# ----------------------------------------------------------------------------- queries


def query_sets(captions: list[list[str]], count: int, seed: int) -> dict[str, list[str]]:
    """Draw realistic queries from the generated captions."""
    rng = random.Random(seed)
    sample = [captions[rng.randrange(len(captions))] for _ in range(count * 20)]
    content = [[w for w in c if w not in STOP and len(w) > 2] for c in sample]
    content = [c for c in content if len(c) >= 2]
    one = [rng.choice(c) for c in content[:count]]
    two = [" ".join(rng.sample(c, 2)) for c in content[count : 2 * count]]
    prefix = []
    for c in content[2 * count : 3 * count]:
        w = rng.choice(c)
        prefix.append(w[: rng.randint(3, max(3, min(5, len(w) - 1)))] + "*")
    phrase = []
    for c in sample[3 * count :]:
        if len(phrase) == count:
            break
        k = rng.randint(2, 3)
        starts = [i for i in range(len(c) - k + 1) if c[i] not in STOP or c[i + k - 1] not in STOP]
        if starts:
            i = rng.choice(starts)
            phrase.append('"' + " ".join(c[i : i + k]) + '"')
    return {"one word": one, "two words": two, "prefix": prefix, "phrase": phrase}


def time_queries(run: Callable[[str], list], queries: list[str]) -> tuple[list[float], float]:
    """Return latencies in ms and the mean number of hits."""
    times, hits = [], []
    for q in queries:
        t0 = time.perf_counter()
        found = run(q)
        times.append((time.perf_counter() - t0) * 1000)
        hits.append(len(found))
    return times, statistics.fmean(hits)


def pct(values: list[float], p: float) -> float:
    """Return the p-th percentile (nearest rank)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def bench_queries(library: Library, captions: list[list[str]], count: int) -> list[tuple]:
    """Time each query kind (after one warm-up pass with other queries)."""
    warm = query_sets(captions, count, seed=1)
    for queries in warm.values():
        for q in queries:
            library.search(q, limit=20)
    rows = []
    sets = query_sets(captions, count, seed=2)
    for kind, queries in sets.items():
        times, mean_hits = time_queries(lambda q: library.search(q, limit=20), queries)
        rows.append((kind, times, mean_hits))
    extra: list[tuple[str, Callable[[str], list]]] = [
        (
            "one word, exact bm25 (no window)",
            lambda q: library.search(q, limit=20, rank_window=None),
        ),
        ("one word, newest photos first", lambda q: library.search(q, limit=20, order_by="date")),
        ("one word, typed (prefix_last)", lambda q: library.search(q, limit=20, prefix_last=True)),
    ]
    for kind, run in extra:
        times, mean_hits = time_queries(run, sets["one word"][: max(20, count // 4)])
        rows.append((kind, times, mean_hits))
    return rows


CONCEPTS = ["animal", "person", "vehicle", "child", "clothing", "water", "plant", "sport"]
CONCEPTS += ["building", "food", "bird", "dog", "toy"]
ORDERS = ("relevance", "date", "confidence")
REPO = Path(__file__).resolve().parents[1]
# Runs in a subprocess with one version of annotator first on the path: answers one
# search per line of JSON on stdin with its time (measured around Library.search) and ids.
WORKER = """
import json, sys, time
from annotator.library import open_library
library = open_library(sys.argv[1], create=False)
print(json.dumps({"root": str(library.roots()[0].path)}), flush=True)
for line in sys.stdin:
    request = json.loads(line)
    t0, c0 = time.perf_counter(), time.process_time()
    hits = library.search(request["q"], **request["kwargs"])
    ms, cpu = (time.perf_counter() - t0) * 1000, (time.process_time() - c0) * 1000
    print(json.dumps({"ms": ms, "cpu": cpu, "ids": [h.caption_id for h in hits]}), flush=True)
"""


class Worker:
    """A process that searches a library with the annotator found in ``source``."""

    def __init__(self, source: Path, location: str) -> None:
        """Start the process and wait until it has opened the library."""
        env = {**os.environ, "PYTHONPATH": str(source)}
        self.proc = subprocess.Popen(
            [sys.executable, "-c", WORKER, location],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=source,
        )
        self.root = Path(self._read()["root"])

    def _read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"search worker exited with {self.proc.wait()}")
        return json.loads(line)

    def search(self, query: str, kwargs: dict[str, Any]) -> tuple[float, float, list[int]]:
        """Return the wall and CPU time in ms, and the caption ids, of one search."""
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"q": query, "kwargs": kwargs}) + "\n")
        self.proc.stdin.flush()
        answer = self._read()
        return answer["ms"], answer["cpu"], answer["ids"]

    def close(self) -> None:
        """End the process."""
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def matrix_queries(captions: list[list[str]], count: int) -> dict[str, list[str]]:
    """Return the matrix's queries: the four kinds of :func:`query_sets` and concept words."""
    sets = query_sets(captions, count, seed=3)
    sets["concept word"] = [CONCEPTS[i % len(CONCEPTS)] for i in range(count)]
    return sets


def bench_matrix(
    location: str,
    sets: dict[str, list[str]],
    n_photos: int,
    before: Path | None,
    repeat: int = 1,
    before_location: str | None = None,
) -> list[tuple]:
    """Time every query kind x order x (no filter, one folder): before and after, one run.

    "Before" is the annotator in the source tree ``before`` (for example
    ``git archive main``), "after" this one; each runs in its own process on the
    same database, alternating query by query (which goes first alternates too),
    ``repeat`` times per query; with ``before_location``, "before" searches that
    database instead (a copy of the same library at the schema revision the older
    code knows: a newer revision is refused by older code). The "same" column
    counts the searches whose ids (and order) were identical in both. Wall time
    p50/p95 first, then the p95 of the search process's CPU time (less sensitive to
    other processes on a shared machine).
    """
    workers = {"after": Worker(REPO, location)}
    if before is not None:
        workers["before"] = Worker(before, before_location or location)
    root = workers["after"].root
    rng = random.Random(4)
    count = len(next(iter(sets.values())))
    folders = [str(root / f"{rng.randrange(max(1, n_photos // 1000)):04d}") for _ in range(count)]
    for queries in sets.values():  # warm up both (OS file cache, page caches)
        for q in queries[:5]:
            for worker in workers.values():
                worker.search(q, {"limit": 20})
    rows = []
    try:
        for kind, queries in sets.items():
            for order in ORDERS:
                for filtered in (False, True):
                    times: dict[str, list[float]] = {name: [] for name in workers}
                    cpu: dict[str, list[float]] = {name: [] for name in workers}
                    hits: list[int] = []
                    same = 0
                    for i, q in enumerate(queries):
                        kwargs: dict[str, Any] = {"order_by": order, "limit": 20}
                        if filtered:
                            kwargs["folder"] = folders[i]
                        for r in range(repeat):
                            names = list(workers)
                            if (i + r) % 2:
                                names.reverse()
                            found = {}
                            for name in names:
                                ms, cpu_ms, ids = workers[name].search(q, kwargs)
                                times[name].append(ms)
                                cpu[name].append(cpu_ms)
                                found[name] = ids
                            hits.append(len(found["after"]))
                            same += found.get("before", found["after"]) == found["after"]
                    nan = [float("nan")]
                    b, a = times.get("before", nan), times["after"]
                    bc, ac = cpu.get("before", nan), cpu["after"]
                    rows.append((kind, order, filtered, b, a, bc, ac, statistics.fmean(hits), same))
                    print(
                        f"  {kind:<13}{order:<11}{'folder' if filtered else '-':<8}"
                        f"{pct(b, 50):>7.1f}{pct(b, 95):>7.1f}{pct(a, 50):>7.1f}{pct(a, 95):>7.1f}"
                        f"{pct(bc, 95):>8.1f}{pct(ac, 95):>7.1f}{rows[-1][7]:>7.1f}"
                        f"{same:>5}/{len(a)}",
                        flush=True,
                    )
    finally:
        for worker in workers.values():
            worker.close()
    return rows


# -------------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the numbers."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=200, help="queries per kind")
    parser.add_argument("--grid", type=int, default=9, help="attention grid (default 9)")
    parser.add_argument("--batch", type=int, default=256, help="photos per ingest batch")
    parser.add_argument("--flickr8k", type=Path, default=FLICKR8K)
    parser.add_argument("--dir", type=Path, default=None, help="where to build (default: tmp)")
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="time queries on databases kept by an earlier --keep run in --dir "
        "(same captions: the generator is seeded)",
    )
    parser.add_argument(
        "--matrix",
        type=int,
        default=0,
        metavar="Q",
        help="also time every query kind x order x folder filter with Q queries each "
        "(before and after when --before is given)",
    )
    parser.add_argument(
        "--before",
        type=Path,
        default=None,
        metavar="SRC",
        help="source tree of the annotator to compare with (e.g. from `git archive main`)",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of each matrix query")
    parser.add_argument(
        "--before-db",
        default=None,
        metavar="LOCATION",
        help="the database --before searches: a copy of the benchmark library left at the "
        "schema revision that tree knows (default: the same database)",
    )
    parser.add_argument(
        "--pg",
        default=None,
        metavar="URL",
        help="use this PostgreSQL database (one size; built with plain inserts unless --reuse)",
    )
    parser.add_argument(
        "--matrix-only", action="store_true", help="skip the per-kind table (matrix only)"
    )
    parser.add_argument(
        "--fast-build",
        action="store_true",
        help="build with plain SQL inserts (photos and captions only, no attention maps)",
    )
    args = parser.parse_args(argv)

    workdir = args.dir or Path(tempfile.mkdtemp(prefix="annotator-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    generate = TrigramCaptions(args.flickr8k)
    print(
        f"captions: {generate.source}; attention {args.grid}x{args.grid}; workdir {workdir}",
        flush=True,
    )
    try:
        for n in args.sizes:
            captions = [generate() for _ in range(n)]
            mean_words = statistics.fmean(len(c) for c in captions)
            print(f"\nlibrary of {n:,} captions (mean {mean_words:.1f} words)", flush=True)
            path = workdir / f"bench-{n}.sqlite3"
            location = args.pg or str(path)
            if args.pg and args.reuse:
                print(f"  reusing {args.pg}")
            elif args.pg:
                stats = build_fast_any(args.pg, n, captions, workdir / "photos")
                print(f"  built in PostgreSQL with plain inserts in {stats['wall_seconds']:.0f} s")
            elif args.reuse and path.exists():
                print(f"  reusing {path} ({path.stat().st_size / 1e6:,.1f} MB)")
            elif args.fast_build:
                stats = build_fast(path, n, captions)
                print(
                    f"  built with plain SQL in {stats['wall_seconds']:.0f} s: "
                    f"{stats['bytes'] / 1e6:,.1f} MB"
                )
            else:
                stats = build(path, n, captions, args.grid, args.batch)
                print(
                    f"  ingest: {n / stats['api_seconds']:,.0f} photos/s through the API "
                    f"(upsert_photos + enqueue + claim_jobs + complete_jobs, batches of "
                    f"{args.batch}); {stats['api_seconds']:.0f} s in library calls"
                )
                print(
                    f"  database: {stats['bytes'] / 1e6:,.1f} MB = "
                    f"{stats['bytes'] / n:,.0f} bytes per photo; attention "
                    f"{stats['attention_bytes']:,.0f} bytes per photo on average "
                    f"(budget 4,096)"
                )
            t0 = time.perf_counter()
            library = open_library(location)  # migrates a library kept by an older version
            print(f"  opened (and migrated if needed) in {time.perf_counter() - t0:.1f} s")
            try:
                rows = [] if args.matrix_only else bench_queries(library, captions, args.queries)
            finally:
                library.close()
            if args.matrix:
                print(
                    f"  {'':<32}{'wall ms: before':>14}{'after':>14}{'CPU p95 ms':>15}\n"
                    f"  {'kind':<13}{'order':<11}{'filter':<8}{'p50':>7}{'p95':>7}{'p50':>7}"
                    f"{'p95':>7}{'before':>8}{'after':>7}{'hits':>7}{'same':>10}"
                )
                sets = matrix_queries(captions, args.matrix)
                bench_matrix(location, sets, n, args.before, args.repeat, args.before_db)
            print(
                f"  {'query (limit 20)':<34}{'n':>5}{'p50 ms':>9}{'p95 ms':>9}"
                f"{'max ms':>9}{'mean hits':>11}"
            )
            for kind, times, mean_hits in rows:
                print(
                    f"  {kind:<34}{len(times):>5}{pct(times, 50):>9.1f}{pct(times, 95):>9.1f}"
                    f"{max(times):>9.1f}{mean_hits:>11.1f}",
                    flush=True,
                )
            if not args.keep and not args.reuse:
                for suffix in ("", "-wal", "-shm"):
                    Path(f"{path}{suffix}").unlink(missing_ok=True)
    finally:
        if not args.keep and not args.reuse and args.dir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
