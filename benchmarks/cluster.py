"""Benchmark the Ray engine against the local engine on the same photos, in one run.

Makes N photos (default 600 at 640x480, from the sample photos), starts a Ray head on
this machine (``ray start --head --num-cpus 2`` in a temporary folder: what a user
starts once per cluster, so it is timed and printed on its own but not counted in the
runs, nor is the first Ray Data job on it, which starts Ray Data's detached bookkeeping
actors), then indexes the photos into fresh libraries (SQLite files by default, or new
PostgreSQL databases with ``--pg postgresql+psycopg://USER@HOST:PORT``) with the
commands a user types:

  a) ``annotator index``                                   (the local engine)
  b) ``annotator index --engine ray --address HEAD --actors 1``
  c) ``annotator index --engine ray --address HEAD --actors 2``

each a new process and so a new Ray job: fresh worker processes, actors, model and
ONNX session loads all count, as they do for a user. The runs alternate (a, b, c, a,
b, c, ... for ``--rounds``) so that a change in the machine's load hits every engine.

For each run it prints the indexer's photos/s (its own "in X s": scan, Ray job start,
model loads, captioning and storing; the Python start-up before it is the same for
every engine and is left out), the command's wall time, the seconds until the first
photo was stored (the fixed start-up) and the photos/s after it (the per-photo rate).
The target is Ray with 1 actor >= 0.8x local photos/s.

Usage: nice -n 10 python benchmarks/cluster.py [--photos 600] [--size 640x480]
       [--model PATH] [--beam-size 3] [--batch-size 16] [--pg URL] [--cpus 2]
       [--rounds 2] [--actors 1,2]
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "benchmarks"))

from photos import make_photos  # noqa: E402


def new_location(pg: str | None, work: Path) -> str:
    """Return a fresh library: a new PostgreSQL database under ``pg``, or a SQLite file."""
    if pg is None:
        return str(work / f"lib-{uuid.uuid4().hex[:8]}.sqlite3")
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(pg)
    name = f"bench_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(
        host=url.host, port=url.port, user=url.username, password=url.password,
        dbname="postgres", autocommit=True,
    ) as conn:  # fmt: skip
        conn.execute(f"CREATE DATABASE {name}")
    return url.set(database=name).render_as_string(hide_password=False)


def free_ports(n: int) -> list[int]:
    """Return ``n`` TCP ports free on loopback now."""
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def ray_env() -> dict[str, str]:
    """Return the environment of the head and the runs (this checkout first on the path)."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.setdefault("RAY_AUTH_MODE", "token")  # Ray >= 2.5x heads want the local token
    return env


def start_head(cpus: int, temp: Path) -> tuple[subprocess.Popen[bytes], str, float]:
    """Start a Ray head with ``cpus`` CPUs; return it, its address and its start seconds."""
    gcs, agent = free_ports(2)
    ray = Path(sys.executable).with_name("ray")
    t = time.perf_counter()
    head = subprocess.Popen(
        [str(ray), "start", "--head", "--block", f"--port={gcs}", f"--num-cpus={cpus}",
         "--num-gpus=0", f"--temp-dir={temp}", "--include-dashboard=false",
         "--disable-usage-stats", f"--dashboard-agent-listen-port={agent}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=ray_env(),
    )  # fmt: skip
    assert head.stdout is not None
    for line in head.stdout:
        if b"Ray runtime started" in line:
            return head, f"127.0.0.1:{gcs}", time.perf_counter() - t
    head.wait()
    raise RuntimeError("the Ray head did not start")


def first_data_job(address: str) -> float:
    """Run a tiny Ray Data job on the fresh cluster; return its seconds.

    The first Ray Data job of a cluster starts Ray Data's bookkeeping actors (stats,
    autoscaling coordinator, usage, actor locations). They are detached: once per
    cluster, like the head, so they are timed here and not in the runs.
    """
    code = (
        f"import ray, ray.data; ray.init(address={address!r}, log_to_driver=False); "
        "ray.data.DataContext.get_current().enable_progress_bars = False; "
        "ray.data.range(4).map_batches(lambda b: b).materialize()"
    )
    t = time.perf_counter()
    subprocess.run([sys.executable, "-c", code], check=True, env=ray_env(), capture_output=True)
    return time.perf_counter() - t


def stop_head(head: subprocess.Popen[bytes]) -> None:
    """Stop this benchmark's head (and only it): ``ray start --block`` ends its processes."""
    head.send_signal(signal.SIGTERM)
    try:
        head.wait(timeout=60)
    except subprocess.TimeoutExpired:
        head.kill()
        head.wait()


@dataclass
class Run:
    """One indexing command's timings."""

    name: str
    photos: int
    indexer_s: float  # the indexer's own "in X s"
    wall_s: float  # the whole command
    first_s: float  # command start -> first photo stored
    last_s: float  # command start -> last photo stored

    @property
    def rate(self) -> float:
        """Return photos/s over the indexer's own time."""
        return self.photos / self.indexer_s

    @property
    def steady(self) -> float:
        """Return photos/s after the first photo was stored."""
        return (self.photos - 1) / (self.last_s - self.first_s) if self.photos > 1 else 0.0


def index(name: str, folder: Path, location: str, common: list[str], extra: list[str]) -> Run:
    """Run ``annotator index`` into ``location``; time it from its per-photo lines."""
    cmd = [sys.executable, "-m", "annotator", "index", *extra, "--library", location, *common]
    t = time.perf_counter()
    proc = subprocess.Popen(
        [*cmd, str(folder)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=ray_env()
    )
    assert proc.stdout is not None and proc.stderr is not None
    stamps = [time.perf_counter() - t for line in proc.stdout if b"\t" in line]
    err = proc.stderr.read().decode(errors="replace")
    rc = proc.wait()
    wall = time.perf_counter() - t
    summary = [ln for ln in err.splitlines() if ln.startswith("captioned ")]
    if rc != 0 or not summary or not stamps:
        raise RuntimeError(f"{name}: exit {rc}\n{err[-3000:]}")
    words = summary[-1].split()
    captioned = int(words[1].rstrip(","))
    indexer_s = float(words[words.index("in") + 1])
    return Run(name, captioned, indexer_s, wall, stamps[0], stamps[-1])


def main() -> None:
    """Run the comparison and print photos/s, start-up and ratios."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--photos", type=int, default=600)
    ap.add_argument("--size", default="640x480")
    ap.add_argument("--model", default="")
    ap.add_argument("--beam-size", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--pg", default=None, help="PostgreSQL server URL (default: SQLite)")
    ap.add_argument("--cpus", type=int, default=2, help="CPUs of the Ray head")
    ap.add_argument("--rounds", type=int, default=2, help="alternating rounds of all engines")
    ap.add_argument("--actors", default="1,2", help="Ray actor counts to run (comma-separated)")
    args = ap.parse_args()

    w, h = (int(x) for x in args.size.split("x"))
    work = Path(tempfile.mkdtemp(prefix="annotator-cluster-bench-"))
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths
    head = None
    try:
        folder = work / "photos"
        make_photos(folder, args.photos, (w, h), exif=False)
        common = ["--device", "cpu", "--metadata", "none", "--beam-size", str(args.beam_size),
                  "--batch-size", str(args.batch_size)]  # fmt: skip
        common += ["--model", args.model] if args.model else []
        head, address, head_s = start_head(args.cpus, temp)
        data_s = first_data_job(address)
        print(f"Ray head ({args.cpus} CPUs) started in {head_s:.1f} s, its first Ray Data job "
              f"took {data_s:.1f} s: paid once per cluster, not per job, so not in the runs "
              "below", flush=True)  # fmt: skip
        engines: list[tuple[str, list[str]]] = [("local", [])]
        for n in (int(a) for a in args.actors.split(",")):
            label = f"ray, {n} actor{'s' if n > 1 else ''}"
            engines.append((label, ["--engine", "ray", "--address", address, "--actors", str(n)]))
        runs: list[Run] = []
        for r in range(args.rounds):
            for name, extra in engines:
                run = index(name, folder, new_location(args.pg, work), common, extra)
                runs.append(run)
                print(f"  round {r + 1} {name:14s} {run.rate:6.2f} photos/s  "
                      f"(indexer {run.indexer_s:6.1f} s, command {run.wall_s:6.1f} s, "
                      f"first photo after {run.first_s:5.1f} s, then {run.steady:6.2f} "
                      "photos/s)", flush=True)  # fmt: skip
        db = "PostgreSQL" if args.pg else "SQLite"
        print(f"\n{args.photos} photos at {w}x{h}, beam {args.beam_size}, batch "
              f"{args.batch_size}, {db}, Ray head with {args.cpus} CPUs, {args.rounds} "
              "round(s); medians:")  # fmt: skip
        local = [x for x in runs if x.name == "local"]
        for name, _ in engines:
            mine = [x for x in runs if x.name == name]
            ratios = [x.rate / lo.rate for x, lo in zip(mine, local, strict=True)]
            extra_start = [x.first_s - lo.first_s for x, lo in zip(mine, local, strict=True)]
            print(f"  {name:14s} {statistics.median(x.rate for x in mine):6.2f} photos/s  "
                  f"{statistics.median(ratios):.2f}x local (per round: "
                  f"{', '.join(f'{q:.2f}' for q in ratios)}); first photo after "
                  f"{statistics.median(x.first_s for x in mine):5.1f} s "
                  f"(+{statistics.median(extra_start):.1f} s on local); then "
                  f"{statistics.median(x.steady for x in mine):6.2f} photos/s")  # fmt: skip
        ray1 = [x for x in runs if x.name == "ray, 1 actor"]
        if ray1:
            target = statistics.median(x.rate / lo.rate for x, lo in zip(ray1, local, strict=True))
            verdict = "met" if target >= 0.8 else "NOT met"
            print(f"Ray 1 actor / local = {target:.2f} (target >= 0.8: {verdict})")
    finally:
        if head is not None:
            stop_head(head)
        shutil.rmtree(temp, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
