"""Share fixtures and factories: tiny captioners, small photos, filled libraries, offscreen Qt.

The throwaway PostgreSQL server (``pg_server``, ``pg_url``) lives here so that
library and pipeline tests share it. Factories are session fixtures returning a
function (``make_photos``, ``make_tiny_checkpoint``, ``fill_library``), so test
modules never import each other.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
from PIL import Image

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import torch

torch.set_num_threads(1)  # small models: one thread is faster and deterministic

if TYPE_CHECKING:
    from annotator.library import Library

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "resources" / "samples"
WORDS = (
    "a",
    "dog",
    "cat",
    "man",
    "woman",
    "sitting",
    "running",
    "on",
    "in",
    "the",
    "grass",
    "street",
    "table",
    "cup",
    "of",
    "coffee",
    "rocket",
    "sky",
    "water",
    "red",
    "black",
    "white",
    "with",
    "is",
    "are",
    "two",
)


def _make_tiny_checkpoint(
    path: Path, *, encoder: str = "efficientnet-lite0", seed: int = 0, max_len: int = 12
) -> Path:
    """Write a randomly initialised captioner (real encoder weights, small decoder)."""
    from annotator.model.checkpoint import Checkpoint, save_checkpoint
    from annotator.model.config import ModelConfig
    from annotator.model.decoder import Decoder
    from annotator.model.preprocess import Preprocess
    from annotator.model.vocab import SPECIALS, Vocab

    torch.manual_seed(seed)
    vocab = Vocab([*SPECIALS, *WORDS])
    cfg = ModelConfig.for_encoder(
        len(vocab), encoder, embed_dim=24, attention_dim=24, decoder_dim=32, max_caption_len=max_len
    )
    dec = Decoder(cfg)
    with torch.no_grad():  # make <end> likely enough that captions finish
        dec.fc.bias[vocab.end] = 2.5
    ckpt = Checkpoint(
        config=cfg,
        vocab=vocab,
        preprocess=Preprocess.for_encoder(encoder),
        decoder_state=dec.state_dict(),
        name="tiny-random",
        metrics={"note": "random weights, for tests"},
    )
    save_checkpoint(ckpt, path)
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return the path of a small random checkpoint built once per test session."""
    return _make_tiny_checkpoint(tmp_path_factory.mktemp("model") / "tiny.safetensors")


@pytest.fixture(scope="session")
def captioner(tiny_model: Path):
    """Return a Captioner loaded from the tiny checkpoint on the CPU."""
    from annotator.model.captioner import Captioner

    return Captioner.load(tiny_model, "cpu")


@pytest.fixture
def samples() -> list[Path]:
    """Return the bundled sample photos."""
    photos = sorted(SAMPLES.glob("*.jpg"))
    assert photos, "resources/samples has no photos"
    return photos


@pytest.fixture(scope="session")
def make_tiny_checkpoint() -> Callable[..., Path]:
    """Return the factory of small random checkpoints: ``(path, *, encoder, seed, max_len)``."""
    return _make_tiny_checkpoint


@pytest.fixture(scope="session")
def tiny_words() -> tuple[str, ...]:
    """Return the words of the tiny checkpoints' vocabulary, in order."""
    return WORDS


def _make_photos(
    folder: Path, n: int, *, size: tuple[int, int] = (96, 72), seed: int = 0, prefix: str = "photo"
) -> list[Path]:
    """Write n distinct small JPEGs (random colour blocks) into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        arr = np.kron(
            rng.integers(0, 255, (6, 8, 3), dtype=np.uint8),
            np.ones((size[1] // 6, size[0] // 8, 1), dtype=np.uint8),
        )
        p = folder / f"{prefix}{i:03d}.jpg"
        Image.fromarray(arr).save(p, quality=90)
        out.append(p)
    return out


@pytest.fixture(scope="session")
def make_photos() -> Callable[..., list[Path]]:
    """Return the photo factory: ``(folder, n, *, size, seed, prefix) -> paths``."""
    return _make_photos


def _fill_library(
    library: Library, folder: Path, n: int, *, captioned: int | None = None
) -> list[int]:
    """Register ``n`` photos and store a fake model caption for ``captioned`` of them."""
    from annotator.library import PhotoFile
    from annotator.library.testing import caption_result

    paths = _make_photos(folder, n, size=(32, 24))
    root = library.add_root(folder)
    files = [
        PhotoFile(p, f"hash{i}", p.stat().st_size, p.stat().st_mtime, 32, 24)
        for i, p in enumerate(paths)
    ]
    ids = [r.photo_id for r in library.upsert_photos(root.id, files)]
    library.enqueue(ids)
    jobs = library.claim_jobs(captioned if captioned is not None else n)
    for k, job in enumerate(jobs):
        text = "a dog on the grass" if k % 2 == 0 else "a cat on the table"
        result = caption_result(text, confidence=-0.1 * (k + 1), grid=3, model_id="test")
        library.complete_jobs([(job.job_id, result, "v1")])
    return ids


@pytest.fixture(scope="session")
def fill_library() -> Callable[..., list[int]]:
    """Return ``(library, folder, n, *, captioned) -> photo ids``: photos with fake captions."""
    return _fill_library


# ---------------------------------------------------------------- PostgreSQL
# A throwaway cluster (``initdb`` + ``pg_ctl`` from the Debian ``postgresql`` package)
# on 127.0.0.1 with trust authentication, started once per session; each test gets
# its own database. As root, the server runs as the ``postgres`` user. Tests that
# need it are skipped with the reason when this is not possible.


def _pg_bindir() -> Path | None:
    def version(bindir: Path) -> list[int]:
        return [int(x) for x in re.findall(r"\d+", bindir.parent.name)]

    debian = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=version, reverse=True)
    for d in [*debian, Path("/usr/local/pgsql/bin")]:
        if (d / "initdb").exists() and (d / "pg_ctl").exists():
            return d
    found = shutil.which("initdb")
    return Path(found).parent if found and shutil.which("pg_ctl") else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class _Server:
    """A throwaway PostgreSQL cluster."""

    def __init__(self) -> None:
        bindir = _pg_bindir()
        if bindir is None:
            raise RuntimeError("initdb/pg_ctl not found (Debian: apt-get install postgresql)")
        self.bindir = bindir
        self.prefix: list[str] = []
        self.base = Path(tempfile.mkdtemp(prefix="annotator-pg-"))
        if os.geteuid() == 0:
            try:
                user = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root and there is no 'postgres' user") from exc
            runuser = shutil.which("runuser")
            if runuser is None:
                raise RuntimeError("running as root and runuser is not available")
            os.chown(self.base, user.pw_uid, user.pw_gid)
            self.base.chmod(0o700)
            self.prefix = [runuser, "-u", "postgres", "--"]
        self.port = _free_port()
        self.data = self.base / "data"
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "annotator",
            "--auth=trust",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
            "--no-sync",
        )
        options = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 "
            "-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        )
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-o",
            options,
            "-l",
            str(self.base / "server.log"),
            "-w",
            "-t",
            "30",
            "start",
        )

    def _run(self, tool: str, *args: str) -> None:
        cmd = [*self.prefix, str(self.bindir / tool), *args]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed: {proc.stderr.strip() or proc.stdout.strip()}")

    def url(self, database: str) -> str:
        return f"postgresql+psycopg://annotator@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        import psycopg

        name = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="annotator", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[_Server]:
    """Start a PostgreSQL server for the session, or skip with the reason."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("psycopg is not installed (pip install 'psycopg[binary]')")
    try:
        server = _Server()
    except (RuntimeError, OSError, subprocess.SubprocessError) as exc:
        pytest.skip(f"cannot start a PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: _Server) -> str:
    """Return the URL of a new, empty PostgreSQL database."""
    return pg_server.create_database()
