"""Index on a local Ray instance into a real PostgreSQL library, against the local engine."""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from annotator.library import Library, open_library
from annotator.pipeline.runner import Indexer, IndexSettings

pytestmark = [pytest.mark.slow, pytest.mark.postgres, pytest.mark.ray]


@pytest.fixture(scope="module")
def ray_local() -> Iterator[None]:
    """Start a local Ray instance with 2 CPUs for this module, or skip with the reason."""
    try:
        import ray
    except ImportError:
        pytest.skip("Ray is not installed (pip install 'annotator[cluster]')")
    try:
        ray.init(
            num_cpus=2,
            object_store_memory=128 * 1024 * 1024,
            include_dashboard=False,
            log_to_driver=False,
        )
    except Exception as exc:  # noqa: BLE001 - any failure to start is a reason to skip
        pytest.skip(f"cannot start a local Ray instance: {exc}")
    try:
        yield
    finally:
        ray.shutdown()


@pytest.fixture
def album(tmp_path: Path, make_photos: Callable[..., list[Path]]) -> Path:
    """Return a folder of small photos, a copy of one, and two bad files."""
    folder = tmp_path / "album"
    photos = make_photos(folder, 6)
    (folder / "copy-of-first.jpg").write_bytes(photos[0].read_bytes())  # same content hash
    (folder / "truncated.jpg").write_bytes(photos[1].read_bytes()[:200])
    (folder / "not-a-photo.jpg").write_bytes(b"this is text, not a JPEG\n" * 20)
    return folder


def _settings(model: Path) -> IndexSettings:
    return IndexSettings(
        model=str(model), device="cpu", metadata="none", batch_size=3, beam_size=3, workers=1
    )


def _results(lib: Library, folder: Path) -> dict[str, tuple[str, float, float, np.ndarray, int]]:
    out = {}
    for p in sorted(folder.iterdir()):
        info = lib.photo_by_path(p)
        if info is None:
            continue
        cap = lib.current_caption(info.id)
        if cap is None:
            continue
        att = lib.attention(info.id)
        assert att is not None
        out[p.name] = (
            cap.text,
            cap.score,
            cap.confidence,
            att.maps.astype(np.float32),
            len(lib.caption_history(info.id)),
        )
    return out


def _failures(lib: Library) -> set[tuple[str, str]]:
    return {(f.path.name, f.reason) for f in lib.failures(limit=None)}


def test_ray_matches_the_local_engine(
    ray_local: None, pg_server, album: Path, tiny_model: Path
) -> None:
    from annotator.pipeline.cluster import ClusterOptions, RayIndexer

    settings = _settings(tiny_model)
    with open_library(pg_server.create_database()) as local_lib:
        local = Indexer(local_lib, settings).run([album])
        expected = _results(local_lib, album)
        expected_failures = _failures(local_lib)
    with open_library(pg_server.create_database()) as ray_lib:
        summary = RayIndexer(ray_lib, settings, options=ClusterOptions(actors=1)).run([album])
        got = _results(ray_lib, album)
        got_failures = _failures(ray_lib)
        counts = ray_lib.queue_counts()

    assert local.captioned == 7  # a copy is a photo of its own
    assert summary.captioned == local.captioned
    assert summary.failed == local.failed == 2
    assert got.keys() == expected.keys()
    for name, (text, score, conf, att, n) in expected.items():
        g_text, g_score, g_conf, g_att, g_n = got[name]
        assert g_text == text, name
        assert g_score == pytest.approx(score, abs=1e-4), name
        assert g_conf == pytest.approx(conf, abs=1e-4), name
        assert g_att.shape == att.shape, name
        np.testing.assert_allclose(g_att, att, atol=2e-3)
        assert n == g_n == 1, f"{name}: captioned {g_n} times"
    assert got_failures == expected_failures
    assert {name for name, _ in got_failures} == {"truncated.jpg", "not-a-photo.jpg"}
    assert all(reason for _, reason in got_failures)
    assert sum(v for k, v in counts.items() if k.value in ("pending", "running")) == 0


def _caption_workers() -> list[int]:
    """Return the pids of this test's caption actor processes (descendants named ray::MapWorker)."""
    parent: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(stat.parent.name)] = int(fields[1])

    def mine(pid: int) -> bool:
        while pid > 1:
            if pid == os.getpid():
                return True
            pid = parent.get(pid, 0)
        return False

    found = []
    for pid in parent:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if cmd.startswith(b"ray::MapWorker") and mine(pid):
            found.append(pid)
    return found


def test_a_killed_worker_loses_nothing_and_repeats_nothing(
    ray_local: None,
    pg_url: str,
    tmp_path: Path,
    make_photos: Callable[..., list[Path]],
    tiny_model: Path,
) -> None:
    from annotator.pipeline.cluster import ClusterOptions, RayIndexer
    from annotator.pipeline.runner import PhotoCaptioned

    folder = tmp_path / "many"
    photos = make_photos(folder, 12, seed=3)
    settings = replace(_settings(tiny_model), batch_size=2)
    killed: list[int] = []

    def listener(event: object) -> None:
        if isinstance(event, PhotoCaptioned) and not killed:
            killed.extend(_caption_workers())
            for pid in killed:
                os.kill(pid, signal.SIGKILL)

    with open_library(pg_url) as lib:
        summary = RayIndexer(lib, settings, listener, ClusterOptions(actors=1)).run([folder])
        got = _results(lib, folder)
        counts = lib.queue_counts()
        failures = lib.failures(limit=None)

    assert killed, "no caption worker was found to kill"
    assert summary.failed == 0 and not failures
    assert sorted(got) == sorted(p.name for p in photos)
    assert all(n == 1 for *_, n in got.values()), {k: v[-1] for k, v in got.items()}
    assert sum(counts.values()) == 0  # no job left pending, running or failed


def test_a_stopped_run_returns_every_photo_it_did_not_store_to_the_queue(
    ray_local: None,
    pg_url: str,
    tmp_path: Path,
    make_photos: Callable[..., list[Path]],
    tiny_model: Path,
) -> None:
    from annotator.library import JobState
    from annotator.pipeline.cluster import ClusterOptions, RayIndexer
    from annotator.pipeline.runner import PhotoCaptioned

    folder = tmp_path / "stop"
    make_photos(folder, 12, seed=4)
    settings = replace(_settings(tiny_model), batch_size=2)
    running: list[RayIndexer] = []

    def listener(event: object) -> None:
        if isinstance(event, PhotoCaptioned):
            running[0].stop()  # Ctrl-C after the first stored photo

    with open_library(pg_url) as lib:
        running.append(RayIndexer(lib, settings, listener, ClusterOptions(actors=1)))
        summary = running[0].run([folder])
        counts = lib.queue_counts()
        got = _results(lib, folder)

    assert summary.stopped
    assert 1 <= summary.captioned < 12
    assert counts.get(JobState.RUNNING, 0) == 0  # nothing left claimed
    assert len(got) + counts.get(JobState.PENDING, 0) == 12  # nothing lost
    assert all(n == 1 for *_, n in got.values())


def test_the_index_command_runs_on_ray_and_writes_metadata_on_workers(
    ray_local: None,
    pg_url: str,
    tmp_path: Path,
    make_photos: Callable[..., list[Path]],
    tiny_model: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from annotator.cli import main
    from annotator.metadata import read_metadata

    folder = tmp_path / "cli"
    photos = make_photos(folder, 3, seed=5)
    common = ["--library", pg_url, "--model", str(tiny_model), "--device", "cpu"]
    rc = main(["index", "--engine", "ray", *common, "--metadata", "embed", "--quiet", str(folder)])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "captioned 3," in err
    with open_library(pg_url) as lib:  # written into each photo by a worker, as stored
        for p in photos:
            cap = lib.current_caption(lib.photo_by_path(p).id)
            meta = read_metadata(p)
            assert cap is not None and meta.description == cap.text, p
            assert meta.provenance is not None
            assert meta.provenance.model_version == cap.model_version

    assert main(["index", "--engine", "ray", "--watch", *common, str(folder)]) == 2
    assert "--watch runs locally" in capsys.readouterr().err
    assert main(["index", "--address", "auto", *common, str(folder)]) == 2
    assert "--address and --actors need --engine ray" in capsys.readouterr().err


def _free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    for sock in socks:
        sock.bind(("127.0.0.1", 0))
    ports = [sock.getsockname()[1] for sock in socks]
    for sock in socks:
        sock.close()
    return ports


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def ray_head() -> Iterator[tuple[str, dict[str, str]]]:
    """Start a Ray head with a Ray Client server on loopback; yield its ray:// address
    and the environment that reaches it (its own token); stop this head only."""
    ray_cli = Path(sys.executable).with_name("ray")
    if not ray_cli.exists():
        pytest.skip("the ray command is not installed (pip install 'annotator[cluster]')")
    gcs, client, agent = _free_ports(3)
    temp = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # short: Ray's socket paths
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
    log = temp / "head.log"
    out = log.open("wb")
    head = subprocess.Popen(
        [str(ray_cli), "start", "--head", "--block", "--node-ip-address=127.0.0.1",
         f"--port={gcs}", f"--ray-client-server-port={client}", "--num-cpus=2",
         "--num-gpus=0", "--object-store-memory=150000000", f"--temp-dir={temp}",
         "--include-dashboard=false", "--disable-usage-stats",
         f"--dashboard-agent-listen-port={agent}"],
        stdout=out, stderr=subprocess.STDOUT, env=env,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 180
        while not _listening(client):
            if head.poll() is not None or time.monotonic() > deadline:
                said = log.read_text(errors="replace")[-2000:]
                pytest.skip(f"the Ray head did not start on loopback: {said or 'timed out'}")
            time.sleep(0.5)  # polling a port: there is no event to wait for
        yield f"ray://127.0.0.1:{client}", env
    finally:
        head.send_signal(signal.SIGTERM)  # ray start --block stops what it started
        try:
            head.wait(timeout=90)
        except subprocess.TimeoutExpired:
            head.kill()
            head.wait()
        out.close()
        shutil.rmtree(temp, ignore_errors=True)


def test_the_index_command_reaches_a_cluster_through_ray_client(
    ray_head: tuple[str, dict[str, str]],
    pg_server,
    tmp_path: Path,
    make_photos: Callable[..., list[Path]],
    tiny_model: Path,
) -> None:
    address, env = ray_head
    folder = tmp_path / "client"
    photos = make_photos(folder, 4, seed=9)
    (folder / "truncated.jpg").write_bytes(photos[0].read_bytes()[:200])
    with open_library(pg_server.create_database()) as local_lib:
        Indexer(local_lib, _settings(tiny_model)).run([folder])
        expected = _results(local_lib, folder)
        expected_failures = _failures(local_lib)

    url = pg_server.create_database()
    command = [sys.executable, "-m", "annotator", "index", "--engine", "ray",
               "--address", address, "--library", url, "--model", str(tiny_model),
               "--device", "cpu", "--metadata", "none", "--batch-size", "3",
               "--beam-size", "3", "--quiet", str(folder)]  # fmt: skip
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=900)

    assert done.returncode == 1, done.stderr  # 1: a photo failed, as it does locally
    assert "captioned 4, skipped 0, failed 1" in done.stderr, done.stderr
    with open_library(url) as lib:
        got = _results(lib, folder)
        got_failures = _failures(lib)
        counts = lib.queue_counts()
    assert got.keys() == expected.keys() == {p.name for p in photos}
    for name, (text, score, conf, att, n) in expected.items():
        g_text, g_score, g_conf, g_att, g_n = got[name]
        assert g_text == text, name
        assert g_score == pytest.approx(score, abs=1e-4), name
        assert g_conf == pytest.approx(conf, abs=1e-4), name
        np.testing.assert_allclose(g_att, att, atol=2e-3)
        assert n == g_n == 1, f"{name}: captioned {g_n} times"
    assert got_failures == expected_failures
    assert {name for name, _ in got_failures} == {"truncated.jpg"}
    assert sum(v for k, v in counts.items() if k.value in ("pending", "running")) == 0
