"""Read what a photo and its sidecars say about it, and tell human text from camera filler."""

from __future__ import annotations

import re
from pathlib import Path

from annotator.core.errors import MetadataReadError
from annotator.core.types import Keyword
from annotator.metadata import exif, xmp
from annotator.metadata.container import FORMAT_ERRORS, Embedded, detect, read_embedded
from annotator.metadata.types import (
    DescriptionEntry,
    FoundKeyword,
    Origin,
    PhotoMetadata,
    Provenance,
)

_BRANDS = (
    "olympus|sony|konica minolta|minolta|konica|nikon|canon|pentax|asahi|samsung|kodak"
    "|eastman kodak|casio|fujifilm|fuji|panasonic|sanyo|ricoh|hp|hewlett-packard|leica"
    "|sigma|lg|huawei|xiaomi"
    "|sharp|toshiba|vivitar|polaroid|benq|premier|agfa|agfaphoto|aiptek|genius|praktica|rollei|zte"
)
_BOILERPLATE = [
    re.compile(
        rf"^(?:{_BRANDS})?[\s_-]*(?:digital[\s_-]+)?(?:still[\s_-]+)?(?:camera|dsc|dc)(?:[\s_-]+pictures?)?$"
    ),
    re.compile(rf"^(?:{_BRANDS})[\s_-]*(?:digital[\s_-]+)?(?:image|photo|picture)s?$"),
    re.compile(r"^exif[\s_-]*jpeg(?:[\s_-]*(?:picture|\d+))?$"),
    re.compile(
        r"^(?:default|image|picture|photo|untitled|description|image description|no description"
        r"|digital image|jpeg image|unknown|none|null|n/?a|dcim|scanned image)$"
    ),
    re.compile(r"^[\W_]*$"),  # blanks, dots, question marks, other punctuation only
    re.compile(r"^(?:img|dsc|dscn|dscf|p|pict|sam|imag|_mg|_dsc)[\s_-]?\d+(?:\.jpe?g)?$"),
]


def is_boilerplate(text: str, make: str = "", model: str = "") -> bool:
    """Return whether a description is camera filler rather than something a person wrote.

    Blank text, strings like "OLYMPUS DIGITAL CAMERA", "SONY DSC",
    "KONICA MINOLTA DIGITAL CAMERA", "EXIF_JPEG_PICTURE", a bare file name,
    or the camera's own make or model all count as filler.
    """
    norm = " ".join(text.replace("\x00", " ").split()).lower()
    if not norm:
        return True
    camera = {m.strip().lower() for m in (make, model, f"{make} {model}") if m.strip()}
    if norm in camera:
        return True
    return any(p.match(norm) for p in _BOILERPLATE)


def read_metadata(path: str | Path) -> PhotoMetadata:
    """Read a photo's descriptions (XMP, EXIF, IPTC, PNG text, sidecars) and annotator provenance.

    Raise ``MetadataReadError`` if the file cannot be read at all; unparsable
    metadata blocks only add a note.
    """
    path = Path(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise MetadataReadError(path, f"cannot read the file ({exc.strerror or exc})") from exc
    fmt = detect(data, path)
    notes: list[str] = []
    try:
        embedded = read_embedded(fmt, data)
    except FORMAT_ERRORS as exc:
        notes.append(f"embedded metadata unreadable: {exc}")
        embedded = Embedded()
    facts = [("Format", fmt), *embedded.facts]
    make = _fact(facts, "Make")
    model = _fact(facts, "Model")
    found: list[tuple[str, str, Path]] = []
    provenances: list[Provenance] = []
    keyword_fields: list[dict[str, list[str]]] = []

    if embedded.xmp is not None:
        _read_packet(
            embedded.xmp, "XMP-dc:Description", path, found, provenances, notes, keyword_fields
        )
    if embedded.exif is not None:
        try:
            text = exif.read_description(embedded.exif)
        except exif.ExifError as exc:
            notes.append(f"EXIF unreadable: {exc}")
        else:
            if text is not None:
                found.append(("EXIF:ImageDescription", text, path))
    if embedded.iptc_caption is not None:
        found.append(("IPTC:Caption-Abstract", embedded.iptc_caption, path))
    if "Description" in embedded.text:  # PNG's own keyword ("Comment" is usually tool filler)
        found.append(("PNG:Description", embedded.text["Description"], path))
    sidecars = tuple(xmp.existing_sidecars(path))
    for sidecar in sidecars:
        try:
            packet = sidecar.read_bytes()
        except OSError as exc:
            notes.append(f"sidecar {sidecar.name} unreadable: {exc.strerror or exc}")
            continue
        _read_packet(
            packet,
            f"XMP-dc:Description ({sidecar.name})",
            sidecar,
            found,
            provenances,
            notes,
            keyword_fields,
        )
    own = [w for f in keyword_fields for w in f["own"]]
    own_paths = [p for f in keyword_fields for p in f["own_paths"]]

    entries = tuple(
        DescriptionEntry(source, text, where, is_boilerplate(text, make, model))
        for source, text, where in found
    )
    digests = {p.text_digest for p in provenances if p.text_digest}
    real = [e for e in entries if not e.boilerplate]
    human = [e for e in real if xmp.text_digest(e.text) not in digests]
    if human:
        origin, chosen = Origin.HUMAN, human[0]
    elif real:
        origin, chosen = Origin.ANNOTATOR, real[0]
    else:
        origin, chosen = (Origin.BOILERPLATE if entries else Origin.NONE), None
    return PhotoMetadata(
        path=path,
        format=fmt,
        origin=origin,
        description=chosen.text.strip() if chosen else None,
        description_source=chosen.source if chosen else None,
        descriptions=entries,
        provenance=provenances[0] if provenances else None,
        sidecars=sidecars,
        facts=tuple(facts),
        notes=tuple(notes),
        keywords=_human_keywords(keyword_fields, embedded.iptc_keywords, own, own_paths),
        annotator_keywords=tuple(dict.fromkeys(own)),
        annotator_paths=tuple(dict.fromkeys(own_paths)),
    )


def _read_packet(
    packet: bytes,
    source: str,
    where: Path,
    found: list[tuple[str, str, Path]],
    provenances: list[Provenance],
    notes: list[str],
    keyword_fields: list[dict[str, list[str]]],
) -> None:
    """Add one XMP packet's description, provenance and keywords to the running lists."""
    try:
        doc = xmp.parse(packet)
    except xmp.XmpError as exc:
        notes.append(f"{source.split(' ', 1)[-1] if '(' in source else 'XMP'} unreadable: {exc}")
        return
    text = doc.description()
    if text is not None:
        found.append((source, text, where))
    prov = doc.provenance()
    if prov is not None:
        provenances.append(prov)
    keyword_fields.append(doc.keyword_fields())


def _human_keywords(
    fields: list[dict[str, list[str]]],
    iptc_keywords: list[str],
    own: list[str],
    own_paths: list[str],
) -> tuple[FoundKeyword, ...]:
    """Return the keywords annotator did not write, merged case-insensitively.

    Hierarchies (``lr:hierarchicalSubject`` ``A|B|C``, ``digiKam:TagsList`` ``A/B/C``)
    become keywords with their leaf as the word; a flat word (``dc:subject``, IPTC
    Keywords) that is a level of one of them is not repeated on its own.
    """
    own_set = {w.casefold() for w in own}
    own_path_set = {p.casefold() for p in own_paths}
    out: list[FoundKeyword] = []
    seen: set[str] = set()
    levels: set[str] = set()
    hierarchies = [
        (p, "|", "XMP-lr:HierarchicalSubject") for f in fields for p in f["hierarchical"]
    ]
    hierarchies += [(p, "/", "XMP-digiKam:TagsList") for f in fields for p in f["digikam"]]
    for path, sep, source in hierarchies:
        parts = tuple(x.strip() for x in path.split(sep) if x.strip())
        if not parts or "|".join(parts).casefold() in own_path_set:
            continue
        levels.update(x.casefold() for x in parts)
        if parts[-1].casefold() not in seen:
            seen.add(parts[-1].casefold())
            keyword = Keyword(parts[-1], parts if len(parts) > 1 else (), None, "human")
            out.append(FoundKeyword(keyword, source))
    flat = [(w, "XMP-dc:Subject") for f in fields for w in f["subject"]]
    flat += [(w, "IPTC:Keywords") for w in iptc_keywords]
    for word, source in flat:
        key = word.casefold()
        if key in own_set or key in levels or key in seen:
            continue
        seen.add(key)
        out.append(FoundKeyword(Keyword(word, (), None, "human"), source))
    return tuple(out)


def _fact(facts: list[tuple[str, str]], name: str) -> str:
    """Return the first fact called ``name``, or ""."""
    return next((v for k, v in facts if k == name), "")
