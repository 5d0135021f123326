"""Fuzz the metadata parsers and the safe writer for a long time (the CI runs a few dozen).

Mutates the real photos of ``tests/metadata/data`` plus a PNG and a WebP (bit flips,
truncation, length fields set to 0 or max, duplicated and reordered segments, huge
XMP, invalid UTF-8) and checks, for every mutated file: the parsers raise only
annotator's own errors; ``write_caption`` raises only ``MetadataWriteError``, leaves
a file it refuses byte-identical, and a photo it writes keeps its image data and
decodes as before. Prints how many files were tried and what the writer did.

Usage: python benchmarks/fuzz.py [--examples N] [--seed S]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import warnings
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from hypothesis import HealthCheck, given, seed, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from annotator.metadata.fuzzing import (  # noqa: E402
    check_parsers,
    check_write,
    mutate,
    mutation_strategy,
    seed_photos,
)


def main() -> int:
    """Run the fuzzer and print the figures."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--examples", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=None, help="Hypothesis seed (default: random)")
    args = ap.parse_args()
    warnings.simplefilter("ignore", UserWarning)  # Pillow complains about broken EXIF
    seeds = seed_photos(REPO / "tests" / "metadata" / "data")
    outcomes: Counter[str] = Counter()
    work = Path(tempfile.mkdtemp(prefix="annotator-fuzz-"))

    @settings(
        max_examples=args.examples,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(
        name=st.sampled_from(sorted(seeds)),
        mutations=mutation_strategy(),
        mode=st.sampled_from(["embed", "sidecar"]),
    )
    def run(name: str, mutations: list, mode: str) -> None:
        data = mutate(name, seeds[name], mutations)
        check_parsers(name, data)
        folder = Path(tempfile.mkdtemp(dir=work))
        photo = folder / name
        photo.write_bytes(data)
        verdict = check_write(photo, mode=mode)
        outcomes[
            f"{mode}: {verdict.outcome}{' (photo changed)' if verdict.photo_changed else ''}"
        ] += 1

    if args.seed is not None:
        run = seed(args.seed)(run)
    t0 = time.monotonic()
    run()
    elapsed = time.monotonic() - t0
    total = sum(outcomes.values())
    print(
        f"fuzzed {total} mutated files in {elapsed:.0f} s ({total / elapsed:.1f}/s); "
        "no invariant broken"
    )
    for key, n in sorted(outcomes.items()):
        print(f"  {key}: {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
