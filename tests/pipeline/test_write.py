"""The one caption-to-photo writer: provenance, keywords from the library, imports."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from annotator.core.types import Keyword
from annotator.library import Library
from annotator.library.testing import caption_result, complete_job, upsert_photo
from annotator.metadata import Outcome, jpeg, read_metadata, xmp
from annotator.pipeline.write import WriteOptions, from_result, provenance, write_metadata

CAT = Keyword("cat", ("Animals", "Mammals", "Cat"), 0.9)
PERSONS = (
    f'<x:xmpmeta xmlns:x="{xmp.NS_X}"><rdf:RDF xmlns:rdf="{xmp.NS_RDF}">'
    f'<rdf:Description rdf:about="" xmlns:dc="{xmp.NS_DC}">'
    "<dc:subject><rdf:Bag><rdf:li>Holiday</rdf:li></rdf:Bag></dc:subject>"
    "</rdf:Description></rdf:RDF></x:xmpmeta>"
).encode()


def subject(path: Path) -> set[str]:
    packet = jpeg.read_xmp(jpeg.split(path.read_bytes()))
    return set(xmp.parse(packet).items(f"{{{xmp.NS_DC}}}subject"))


def test_keywords_go_into_the_photo_and_a_persons_come_into_the_library(
    library: Library, tmp_path: Path, make_photos
) -> None:
    (photo,) = make_photos(tmp_path / "p", 1)
    photo.write_bytes(jpeg.rebuild(photo.read_bytes(), exif=None, xmp=PERSONS))
    root = library.add_root(tmp_path / "p")
    pid = upsert_photo(library, root.id, photo, "h", 1, 1.0, 96, 72).photo_id
    result = caption_result("a cat on a sofa", rng=np.random.default_rng(1), keywords=(CAT,))

    # The indexer writes before it stores: the caption and its keywords come from the result.
    item = from_result(pid, photo, result, "v1")
    assert provenance(item).score == result.confidence  # mean per-word log-probability
    report = write_metadata(library, item, WriteOptions())
    assert report.outcome is Outcome.WRITTEN
    assert subject(photo) == {"Holiday", "Animals", "Mammals", "Cat"}
    holiday = {k.word: k for k in library.keywords(pid)}["Holiday"]
    assert (holiday.source, holiday.origin) == ("human", "XMP-dc:Subject")
    library.enqueue([pid])
    (job,) = library.claim_jobs(10)
    complete_job(library, job.job_id, result, "v1")

    # In the review panel a person removes "cat" and adds "Rex": accepted, written.
    assert library.remove_keyword(pid, "cat")
    library.add_keywords(pid, [Keyword("Rex", ("Pets", "Rex"), None, "human")])
    current = library.current_for_write(pid)
    assert current is not None
    assert [k.word for k in current.keywords] == ["Rex"]  # not the person's "Holiday"
    (again,) = write_metadata(library, [current], WriteOptions())
    assert again.outcome is Outcome.WRITTEN
    assert subject(photo) == {"Holiday", "Pets", "Rex"}
    meta = read_metadata(photo)
    assert set(meta.annotator_keywords) == {"Pets", "Rex"}
    assert [k.keyword.word for k in meta.keywords] == ["Holiday"]
    # Nothing changed: nothing written; dry runs and mode none touch nothing.
    assert write_metadata(library, current, WriteOptions()).outcome is Outcome.UNCHANGED
    none = write_metadata(library, current, WriteOptions(mode="none"))
    assert none.outcome is Outcome.DATABASE_ONLY


def test_a_failed_write_is_reported_not_raised(
    library: Library, tmp_path: Path, make_photos
) -> None:
    (photo,) = make_photos(tmp_path / "p", 1)
    root = library.add_root(tmp_path / "p")
    pid = upsert_photo(library, root.id, photo, "h", 1, 1.0, 96, 72).photo_id
    photo.unlink()
    item = from_result(pid, photo, caption_result("a dog"), "v1")
    report = write_metadata(library, item, WriteOptions())
    assert report.outcome is Outcome.FAILED and "p" in report.notes[0]
