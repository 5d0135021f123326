"""Fuzz the hand-written parsers and the safe writer with mutated real photos (bounded).

``benchmarks/fuzz.py`` runs the same properties for as long as you like.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from annotator.metadata.fuzzing import (  # noqa: E402
    check_parsers,
    check_write,
    mutate,
    mutation_strategy,
    seed_photos,
)

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:PIL")  # Pillow on broken EXIF
SEEDS = seed_photos(Path(__file__).parent / "data")
EXAMPLES = int(os.environ.get("ANNOTATOR_FUZZ_EXAMPLES", "40"))
BOUNDED = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize=True,  # the same examples on every CI run
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@BOUNDED
@given(name=st.sampled_from(sorted(SEEDS)), mutations=mutation_strategy())
def test_parsers_raise_only_their_own_errors(name: str, mutations: list) -> None:
    check_parsers(name, mutate(name, SEEDS[name], mutations))


@BOUNDED
@given(
    name=st.sampled_from(sorted(SEEDS)),
    mutations=mutation_strategy(),
    mode=st.sampled_from(["embed", "sidecar"]),
)
def test_writes_are_refused_untouched_or_keep_the_image(
    tmp_path_factory: pytest.TempPathFactory, name: str, mutations: list, mode: str
) -> None:
    folder = tmp_path_factory.mktemp("fuzz")
    photo = folder / name
    photo.write_bytes(mutate(name, SEEDS[name], mutations))
    check_write(photo, mode=mode)


@pytest.mark.parametrize("name", sorted(SEEDS))
def test_unmutated_seeds_are_written(tmp_path: Path, name: str) -> None:
    photo = tmp_path / name
    photo.write_bytes(SEEDS[name])
    verdict = check_write(photo)
    assert verdict.outcome == "written" and verdict.photo_changed
