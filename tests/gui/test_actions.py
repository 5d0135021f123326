"""Accepting a caption stores it and writes it into the photo as the settings say."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from annotator.library.repository import AttentionInfo
from annotator.library.schema import CaptionSource
from annotator.metadata import read_metadata, sidecar_path
from annotator.pipeline.review import accept_caption, attention_map, load_details
from annotator.pipeline.runner import IndexSettings
from tests.gui.test_models import fill_library


def test_accept_writes_metadata_per_settings(gui_library, gui_env):
    ids = fill_library(gui_library, gui_env / "m", 3)
    prefs = IndexSettings(metadata="embed")
    photo = gui_library.photo(ids[0])
    done = accept_caption(gui_library, ids[0], "  a dog  on the beach ", prefs)
    assert done.stored == "revision" and done.metadata.startswith("written")
    assert done.caption.text == "a dog on the beach" and done.caption.reviewed
    assert done.caption.source is CaptionSource.HUMAN
    meta = read_metadata(photo.path)
    assert meta.description == "a dog on the beach"
    assert meta.provenance.source == "human" and meta.provenance.reviewed
    # accepting the model's caption as it is only marks it reviewed
    model_text = gui_library.current_caption(ids[1]).text
    done = accept_caption(gui_library, ids[1], model_text, replace(prefs, metadata="sidecar"))
    assert done.stored == "reviewed" and done.caption.source is CaptionSource.MODEL
    assert sidecar_path(gui_library.photo(ids[1]).path, "ext-append").exists()
    # "none" keeps it in the library only
    done = accept_caption(gui_library, ids[2], "a cat", replace(prefs, metadata="none"))
    assert "library only" in done.metadata
    assert read_metadata(gui_library.photo(ids[2]).path).description is None


def test_details_and_attention_matching(gui_library, gui_env):
    ids = fill_library(gui_library, gui_env / "d", 1)
    details = load_details(gui_library, ids[0])
    assert details.model_text == details.caption.text
    words = details.caption.text.split()
    att = AttentionInfo(
        0,
        tuple(words),
        np.stack([np.eye(3) * (i + 1) for i in range(len(words))]).astype(np.float16),
    )
    assert np.allclose(attention_map(att, words, 1), np.eye(3) * 2)  # by position
    edited = ["the", "dogs", "ran"]
    dog = words.index("dog") if "dog" in words else None
    if dog is not None:  # "dogs" extends "dog": the model's map for "dog"
        assert np.allclose(attention_map(att, edited, 1), np.eye(3) * (dog + 1))
    assert attention_map(att, edited, 2) is None
