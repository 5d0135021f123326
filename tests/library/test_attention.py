"""Store attention maps compactly: float16, byte-shuffled, zlib; the 4 KB budget."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
from sqlalchemy import func, select

from annotator.library import Library
from annotator.library import attention as codec
from annotator.library.schema import AttentionMap
from annotator.library.testing import attention_maps, caption_result

BUDGET = 4096  # bytes per photo, on average, for a ~12-word caption


@pytest.mark.parametrize("grid", [7, 8, 9, 14])
def test_attention_fits_the_budget(grid: int) -> None:
    rng = np.random.default_rng(grid)
    sizes = [len(codec.pack(attention_maps(rng, 12, grid, grid))) for _ in range(200)]
    assert np.mean(sizes) <= BUDGET, f"{grid}x{grid}: {np.mean(sizes):.0f} bytes per photo"


def test_round_trip_keeps_float16_precision() -> None:
    maps = attention_maps(np.random.default_rng(1), 12, 14, 14)
    back = codec.unpack(codec.pack(maps), 12, 14, 14)
    assert back.dtype == np.float16
    assert back.shape == maps.shape
    normal = maps >= 6.2e-5  # float16's normal range
    rel = np.abs(back.astype(np.float32) - maps)[normal] / maps[normal]
    assert rel.max() <= 2.0 ** -(codec.MANTISSA_BITS + 1) + 1e-3
    assert np.abs(back.astype(np.float32) - maps)[~normal].max(initial=0) < 5e-7
    np.testing.assert_allclose(back.astype(np.float32).sum(axis=(1, 2)), 1.0, atol=5e-3)


def test_rounding_never_overflows_to_infinity() -> None:
    extreme = np.array([[[65504.0, -65504.0], [1e-8, 0.0]]], dtype=np.float32)
    back = codec.unpack(codec.pack(extreme), 1, 2, 2)
    assert np.all(np.isfinite(back))


@pytest.mark.parametrize("bad", [np.ones((3, 3)), np.full((1, 2, 2), np.nan)])
def test_encode_rejects_bad_arrays(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        codec.pack(bad)


def test_decode_rejects_a_wrong_shape() -> None:
    data = codec.pack(np.ones((2, 3, 3), dtype=np.float32) / 9)
    with pytest.raises(ValueError, match="expected"):
        codec.unpack(data, 2, 4, 4)


def test_stored_attention_within_budget_and_per_word(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    words = "a black dog and a brown dog run across the snowy field"
    photo_ids = [add_photo(library) for _ in range(5)]
    for pid in photo_ids:
        caption_photo(library, pid, words, grid=9)
    with library._read() as s:
        mean = s.scalar(select(func.avg(func.length(AttentionMap.data))))
    assert mean is not None and float(mean) <= BUDGET

    info = library.attention(photo_ids[0])
    assert info is not None and info.words == tuple(words.split())
    expected = caption_result(words, rng=np.random.default_rng(photo_ids[0])).attention
    np.testing.assert_allclose(info.maps.astype(np.float32), expected, rtol=5e-3, atol=1e-6)
    # "dog" appears twice: its map is the mean of both; "dogs" and "DOG," find it too.
    dog = library.attention_for_word(photo_ids[0], "dog")
    assert dog is not None and dog.shape == (9, 9) and dog.dtype == np.float32
    np.testing.assert_allclose(dog, expected[[2, 6]].mean(axis=0), rtol=5e-3, atol=1e-6)
    np.testing.assert_array_equal(library.attention_for_word(photo_ids[0], "dogs"), dog)
    np.testing.assert_array_equal(library.attention_for_word(photo_ids[0], "DOG,"), dog)
    snowy = library.attention_for_word(photo_ids[0], "snow")
    assert snowy is not None
    np.testing.assert_allclose(snowy, expected[10], rtol=5e-3, atol=1e-6)
    assert library.attention_for_word(photo_ids[0], "cat") is None
    assert library.attention_for_word(photo_ids[0], "") is None
    assert library.attention_for_word(999_999, "dog") is None


def test_attention_survives_a_human_revision(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    caption_photo(library, pid, "a dog on a beach")
    library.add_human_revision(pid, "my dog Rex at the seaside")
    # the model's caption and its maps are still there for highlighting "beach"
    assert library.attention_for_word(pid, "beach") is not None
