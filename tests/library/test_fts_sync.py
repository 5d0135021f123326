"""Keep the full-text index in sync with current captions, through triggers alone."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import delete, text, update

from annotator.core.errors import LibraryError
from annotator.library import Library
from annotator.library.schema import Caption


def found(lib: Library, query: str) -> set[int]:
    return {hit.photo_id for hit in lib.search(query)}


def test_new_model_caption_is_indexed(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    assert found(library, "bicycle") == set()
    caption_photo(library, pid, "a man rides a bicycle down the hill")
    assert found(library, "bicycle") == {pid}
    assert found(library, "bicycles") == {pid}  # porter stemming
    library.check_index()


def test_human_revision_replaces_the_indexed_text(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    caption_photo(library, pid, "a dog runs on the grass")
    library.add_human_revision(pid, "a fox runs on the grass")
    assert found(library, "dog") == set()
    assert found(library, "fox") == {pid}
    library.add_human_revision(pid, "a red fox in the meadow")
    assert found(library, "grass") == set()
    assert found(library, "meadow") == {pid}
    library.check_index()


def test_new_model_caption_does_not_displace_a_human_one(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    caption_photo(library, pid, "a dog runs on the grass", version="v1")
    library.add_human_revision(pid, "my neighbour's collie")
    caption_photo(library, pid, "a brown dog on a lawn", version="v2")
    assert found(library, "collie") == {pid}
    assert found(library, "lawn") == set()
    library.check_index()


def test_recaption_replaces_the_older_model_caption(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    caption_photo(library, pid, "a dog runs on the grass", version="v1")
    caption_photo(library, pid, "a puppy plays in a park", version="v2")
    assert found(library, "grass") == set()
    assert found(library, "puppy") == {pid}
    library.check_index()


def test_direct_sql_update_and_delete_are_followed(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    cid = caption_photo(library, pid, "two kids play football in the park")
    other = add_photo(library)
    caption_photo(library, other, "a kite over the beach")
    with library._write() as s:  # bypass the repository: only triggers can keep up
        s.execute(update(Caption).where(Caption.id == cid).values(text="two kids play chess"))
    assert found(library, "football") == set()
    assert found(library, "chess") == {pid}
    with library._write() as s:
        s.execute(update(Caption).where(Caption.id == cid).values(reviewed=True))
    assert found(library, "chess") == {pid}
    with library._write() as s:
        s.execute(delete(Caption).where(Caption.id == cid))
    assert found(library, "chess") == set()
    assert found(library, "kite") == {other}
    library.check_index()


def test_purging_a_missing_photo_removes_it_from_the_index(
    library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    pid = add_photo(library)
    caption_photo(library, pid, "a sailing boat at sunset")
    library.add_human_revision(pid, "our boat at sunset")
    path = library.photo(pid).path
    path.unlink()
    assert library.mark_missing([path]) == 1
    assert found(library, "boat") == set()  # missing photos are hidden...
    assert {h.photo_id for h in library.search("boat", include_missing=True)} == {pid}
    assert library.purge_missing() == 1  # ...and purged ones are gone (cascade + trigger)
    assert library.search("boat", include_missing=True) == []
    assert library.caption_history(pid) == []
    library.check_index()


def test_check_index_detects_a_bypassed_index(
    sqlite_library: Library, add_photo: Callable[..., int], caption_photo: Callable[..., int]
) -> None:
    lib = sqlite_library
    pid = add_photo(lib)
    cid = caption_photo(lib, pid, "a cat on a sofa")
    with lib._write() as s:
        s.execute(text("DROP TRIGGER captions_au"))
        s.execute(update(Caption).where(Caption.id == cid).values(text="a dog on a sofa"))
    with pytest.raises(LibraryError, match="out of sync"):
        lib.check_index()
    lib.rebuild_index()
    lib.check_index()
    assert found(lib, "dog") == {pid}
