"""Review: accepting a caption stores it and writes it into the photo as the settings say."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from annotator.library import AttentionInfo, CaptionSource
from annotator.metadata import read_metadata, sidecar_path
from annotator.pipeline.review import accept_caption, attention_map, load_details
from annotator.pipeline.runner import IndexSettings


def test_accept_writes_metadata_per_settings(library, tmp_path, fill_library):
    ids = fill_library(library, tmp_path / "m", 3)
    prefs = IndexSettings(metadata="embed")
    photo = library.photo(ids[0])
    done = accept_caption(library, ids[0], "  a dog  on the beach ", prefs)
    assert done.stored == "revision" and done.metadata.startswith("written")
    assert done.caption.text == "a dog on the beach" and done.caption.reviewed
    assert done.caption.source is CaptionSource.HUMAN
    meta = read_metadata(photo.path)
    assert meta.description == "a dog on the beach"
    assert meta.provenance.source == "human" and meta.provenance.reviewed
    # accepting the model's caption as it is only marks it reviewed
    model_text = library.current_caption(ids[1]).text
    done = accept_caption(library, ids[1], model_text, replace(prefs, metadata="sidecar"))
    assert done.stored == "reviewed" and done.caption.source is CaptionSource.MODEL
    assert sidecar_path(library.photo(ids[1]).path, "ext-append").exists()
    # "none" keeps it in the library only
    done = accept_caption(library, ids[2], "a cat", replace(prefs, metadata="none"))
    assert "library only" in done.metadata
    assert read_metadata(library.photo(ids[2]).path).description is None


def test_details_and_attention_matching(library, tmp_path, fill_library):
    ids = fill_library(library, tmp_path / "d", 1)
    details = load_details(library, ids[0])
    assert details.model_text == details.caption.text == "a dog on the grass"
    words = details.caption.text.split()
    att = AttentionInfo(
        0,
        tuple(words),
        np.stack([np.eye(3) * (i + 1) for i in range(len(words))]).astype(np.float16),
    )
    assert np.allclose(attention_map(att, words, 1), np.eye(3) * 2)  # by position
    edited = ["the", "dogs", "ran"]  # "dogs" extends "dog" (word 1): the model's map for "dog"
    assert np.allclose(attention_map(att, edited, 1), np.eye(3) * 2)
    assert attention_map(att, edited, 2) is None  # "ran" matches nothing
    assert np.allclose(attention_map(att, ["a", "grassy"], 1), np.eye(3) * 5)  # "grass" + 1
    # a word found twice: the mean of its maps
    twice = AttentionInfo(0, ("a", "dog", "a"), np.stack([np.eye(3) * k for k in (1, 2, 3)]))
    assert np.allclose(attention_map(twice, ["one", "a"], 1), np.eye(3) * 2)


def test_accept_does_not_write_through_a_link_out_of_the_roots(
    library, tmp_path, fill_library, make_photos
):
    ids = fill_library(library, tmp_path / "m", 1)
    (foreign,) = make_photos(tmp_path / "outside", 1, prefix="foreign")
    before = foreign.read_bytes()
    photo = library.photo(ids[0])
    photo.path.unlink()
    photo.path.symlink_to(foreign)  # the library's photo now leads out of its root
    done = accept_caption(library, ids[0], "a dog", IndexSettings(metadata="embed"))
    assert "outside the watched folders" in done.metadata
    assert foreign.read_bytes() == before and photo.path.is_symlink()
