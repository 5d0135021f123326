"""Read and update XMP packets: description, keywords, annotator provenance, sidecar files.

A packet is parsed with DTDs forbidden (defusedxml), so no entity is ever
expanded. Updating changes only ``dc:description``, ``xmp:MetadataDate``, the
keyword bags ``dc:subject`` and ``lr:hierarchicalSubject`` (annotator's own
entries only) and the annotator namespace; every other element, attribute,
namespace prefix, comment and whitespace run of the packet is written back as it
was read.

Keywords: annotator records the flat words and hierarchy paths it wrote in
``annotator:Keywords`` and ``annotator:HierarchicalKeywords`` (bags), so that a
later write replaces its own entries and never removes or renames one it did
not write. A keyword bag of the wrong XMP type (a Seq, an Alt, a plain string)
is read item by item and updated in the type it has.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import DefusedXMLParser

from annotator import __version__
from annotator.core.types import Keyword
from annotator.metadata.types import Provenance

NS_X = "adobe:ns:meta/"
NS_RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
NS_DC = "http://purl.org/dc/elements/1.1/"
NS_XMP = "http://ns.adobe.com/xap/1.0/"
NS_XML = "http://www.w3.org/XML/1998/namespace"
NS_ANNOTATOR = "http://ns.annotator.dev/xmp/1.0/"
NS_LR = "http://ns.adobe.com/lightroom/1.0/"
NS_DIGIKAM = "http://www.digikam.org/ns/1.0/"
PREFERRED_PREFIXES = {
    NS_X: "x",
    NS_RDF: "rdf",
    NS_DC: "dc",
    NS_XMP: "xmp",
    NS_LR: "lr",
    NS_DIGIKAM: "digiKam",
    NS_ANNOTATOR: "annotator",
}

PACKET_ID = "W5M0MpCehiHzreSzNTczkc9d"
PACKET_BEGIN = f'<?xpacket begin="\ufeff" id="{PACKET_ID}"?>'
PACKET_END = '<?xpacket end="w"?>'
DEFAULT_PADDING = 2048  # the XMP specification suggests 2 to 4 KB for in-place edits

_RDF_DESCRIPTION = f"{{{NS_RDF}}}Description"
_DC_DESCRIPTION = f"{{{NS_DC}}}description"
_RDF_ALT, _RDF_LI = f"{{{NS_RDF}}}Alt", f"{{{NS_RDF}}}li"
_XML_LANG = f"{{{NS_XML}}}lang"
_METADATA_DATE = f"{{{NS_XMP}}}MetadataDate"
_PROVENANCE_FIELDS = ("ModelVersion", "Score", "Reviewed", "Source", "TextDigest")
_DC_SUBJECT = f"{{{NS_DC}}}subject"
_LR_HIERARCHICAL = f"{{{NS_LR}}}hierarchicalSubject"
_DIGIKAM_TAGS = f"{{{NS_DIGIKAM}}}TagsList"
_OWN_KEYWORDS = f"{{{NS_ANNOTATOR}}}Keywords"
_OWN_PATHS = f"{{{NS_ANNOTATOR}}}HierarchicalKeywords"
_RDF_BAG, _RDF_SEQ = f"{{{NS_RDF}}}Bag", f"{{{NS_RDF}}}Seq"
_CONTAINERS = (_RDF_BAG, _RDF_SEQ, f"{{{NS_RDF}}}Alt")
MAX_KEYWORD_ITEMS = 10_000  # read no more items than this from one bag
_INVALID_XML_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


class XmpError(ValueError):
    """Report an XMP packet that cannot be parsed or updated safely."""


def text_digest(text: str) -> str:
    """Return the digest recorded with a caption, to spot later edits by someone else."""
    normal = unicodedata.normalize("NFC", text.strip())
    return hashlib.sha256(normal.encode("utf-8")).hexdigest()


def clean_text(text: str) -> str:
    """Return ``text`` stripped, without characters XML 1.0 and EXIF cannot carry."""
    return _INVALID_XML_CHARS.sub("", text).strip()


class _Builder(ET.TreeBuilder):
    """Build a tree keeping comments and processing instructions and noting prefixes."""

    def __init__(self) -> None:
        super().__init__(insert_comments=True, insert_pis=True)
        self.prefixes: list[tuple[str, str]] = []

    def start_ns(self, prefix: str, uri: str) -> None:
        """Remember one namespace declaration."""
        self.prefixes.append((prefix, uri))


@dataclass
class XmpDocument:
    """A parsed XMP packet that can be read, updated and written back."""

    root: ET.Element
    prefixes: list[tuple[str, str]] = field(default_factory=list)

    # --- reading -----------------------------------------------------------------

    def _descriptions(self) -> list[ET.Element]:
        """Return every ``rdf:Description`` of the packet."""
        return list(self.root.iter(_RDF_DESCRIPTION))

    def _simple(self, name: str) -> str | None:
        """Return a simple property in element or attribute form."""
        for desc in self._descriptions():
            if name in desc.attrib:
                return desc.attrib[name]
            el = desc.find(name)
            if el is not None:
                return (el.text or "").strip()
        return None

    def description_languages(self) -> dict[str, str]:
        """Return ``dc:description`` as {language: text} ("x-default" for the default)."""
        out: dict[str, str] = {}
        for desc in self._descriptions():
            if _DC_DESCRIPTION in desc.attrib:
                out.setdefault("x-default", desc.attrib[_DC_DESCRIPTION])
            el = desc.find(_DC_DESCRIPTION)
            if el is None:
                continue
            items = list(el.iter(_RDF_LI))
            if not items and el.text and el.text.strip():
                out.setdefault("x-default", el.text)
            for li in items:
                lang = li.get(_XML_LANG, "x-default")
                out.setdefault("x-default" if lang.lower() == "x-default" else lang, li.text or "")
        return out

    def description(self) -> str | None:
        """Return the x-default ``dc:description`` (else the first language found)."""
        langs = self.description_languages()
        if not langs:
            return None
        return langs.get("x-default", next(iter(langs.values())))

    def provenance(self) -> Provenance | None:
        """Return annotator's provenance record, or None if the packet has none."""
        values = {f: self._simple(f"{{{NS_ANNOTATOR}}}{f}") for f in _PROVENANCE_FIELDS}
        if all(v is None for v in values.values()):
            return None
        score: float | None
        try:
            score = float(values["Score"]) if values["Score"] else None
        except ValueError:
            score = None
        return Provenance(
            model_version=values["ModelVersion"] or "",
            score=score,
            reviewed=(values["Reviewed"] or "").lower() == "true",
            source=values["Source"] or "",
            text_digest=values["TextDigest"] or None,
        )

    def items(self, name: str) -> list[str]:
        """Return the items of an array property (or a plain value, as one item), in order.

        A property of the wrong type is read as far as it goes: a Seq or Alt like
        a Bag, a plain string as one item; empty items are skipped.
        """
        out: list[str] = []
        for desc in self._descriptions():
            if name in desc.attrib and desc.attrib[name].strip():
                out.append(desc.attrib[name].strip())
            for el in desc.findall(name):
                container = next((c for c in el if c.tag in _CONTAINERS), None)
                if container is None:
                    if el.text and el.text.strip():
                        out.append(el.text.strip())
                    continue
                for li in container:
                    if li.tag == _RDF_LI:
                        value = "".join(li.itertext()).strip()
                        if value:
                            out.append(value)
                    if len(out) >= MAX_KEYWORD_ITEMS:
                        return out
        return out[:MAX_KEYWORD_ITEMS]

    def keyword_fields(self) -> dict[str, list[str]]:
        """Return the keyword properties: subject, hierarchical, digikam, own, own_paths."""
        return {
            "subject": self.items(_DC_SUBJECT),
            "hierarchical": self.items(_LR_HIERARCHICAL),
            "digikam": self.items(_DIGIKAM_TAGS),
            "own": self.items(_OWN_KEYWORDS),
            "own_paths": self.items(_OWN_PATHS),
        }

    # --- updating ----------------------------------------------------------------

    def _rdf(self) -> ET.Element:
        """Return the ``rdf:RDF`` element."""
        rdf = (
            self.root
            if self.root.tag == f"{{{NS_RDF}}}RDF"
            else self.root.find(f".//{{{NS_RDF}}}RDF")
        )
        if rdf is None:
            raise XmpError("the packet has no rdf:RDF element")
        return rdf

    def set_caption(
        self, text: str, provenance: Provenance, *, now: datetime | None = None
    ) -> None:
        """Set ``dc:description`` (x-default), ``xmp:MetadataDate`` and annotator provenance."""
        descs = self._descriptions()
        if not descs:
            rdf = self._rdf()
            desc = ET.Element(_RDF_DESCRIPTION, {f"{{{NS_RDF}}}about": ""})
            _append(rdf, desc)
            descs = [desc]
        holder = next((d for d in descs if d.find(_DC_DESCRIPTION) is not None), None)
        for d in descs:  # the attribute form is not legal for a Lang Alt: fold it in
            if _DC_DESCRIPTION in d.attrib:
                old = d.attrib.pop(_DC_DESCRIPTION)
                if holder is None:
                    holder = d
                    _append(d, _lang_alt({"x-default": old}))
        if holder is None:
            holder = descs[0]
            _append(holder, _lang_alt({"x-default": text}))
        self._set_x_default(holder.find(_DC_DESCRIPTION), text)

        stamp = (now or datetime.now(UTC)).astimezone().isoformat(timespec="seconds")
        dated = next((d for d in descs if _METADATA_DATE in d.attrib), None)
        if dated is not None:
            dated.set(_METADATA_DATE, stamp)
        else:
            el = next(
                (d.find(_METADATA_DATE) for d in descs if d.find(_METADATA_DATE) is not None), None
            )
            if el is None:
                el = ET.Element(_METADATA_DATE)
                _append(holder, el)
            el.text = stamp

        record = {f"{{{NS_ANNOTATOR}}}{f}" for f in _PROVENANCE_FIELDS}
        for d in descs:  # drop the old record in either form
            for name in [k for k in d.attrib if k in record]:
                del d.attrib[name]
            for child in [c for c in d if c.tag in record]:
                _remove(d, child)
        values = {
            "ModelVersion": provenance.model_version,
            "Score": "" if provenance.score is None else f"{provenance.score:.6g}",
            "Reviewed": "True" if provenance.reviewed else "False",
            "Source": provenance.source,
            "TextDigest": text_digest(text),
        }
        for name, value in values.items():
            if value:
                el = ET.Element(f"{{{NS_ANNOTATOR}}}{name}")
                el.text = value
                _append(holder, el)

    def set_keywords(self, flat: list[str], paths: list[str]) -> None:
        """Make annotator's keywords ``flat`` (dc:subject) and ``paths`` (lr:hierarchicalSubject).

        Entries annotator wrote before (its own record) and no longer wants are
        removed; every other entry stays, in place and in the bag's own type.
        Matching ignores case. A wanted entry that someone else had put there
        already stays theirs: the new record lists only what annotator added.
        """
        fields = self.keyword_fields()
        for name, wanted, own_name, present, own in (
            (_DC_SUBJECT, flat, _OWN_KEYWORDS, fields["subject"], fields["own"]),
            (_LR_HIERARCHICAL, paths, _OWN_PATHS, fields["hierarchical"], fields["own_paths"]),
        ):
            own_set = {w.casefold() for w in own}
            foreign = {w.casefold() for w in present} - own_set
            mine = [w for w in wanted if w.casefold() not in foreign]
            self._update_bag(name, wanted, own_set - {w.casefold() for w in wanted})
            self._replace_bag(own_name, mine)

    def _holder(self) -> ET.Element:
        descs = self._descriptions()
        if not descs:
            desc = ET.Element(_RDF_DESCRIPTION, {f"{{{NS_RDF}}}about": ""})
            _append(self._rdf(), desc)
            return desc
        return descs[0]

    def _update_bag(self, name: str, add: list[str], remove: set[str]) -> None:
        """Add ``add`` (missing ones, ignoring case) to an array property; drop ``remove``."""
        prop: ET.Element | None = None
        for desc in self._descriptions():
            if name in desc.attrib:  # a plain string where a bag belongs: make it a bag
                old = desc.attrib.pop(name)
                prop = _bag(name, [old] if old.strip() else [])
                _append(desc, prop)
                break
            prop = desc.find(name)
            if prop is not None:
                break
        if prop is None:
            if not add:
                return
            prop = _bag(name, [])
            _append(self._holder(), prop)
        container = next((c for c in prop if c.tag in _CONTAINERS), None)
        if container is None:  # a plain value: keep it as the bag's first item
            old = (prop.text or "").strip()
            prop.text = None
            fresh = _bag(name, [old] if old else [])
            container = fresh[0]
            fresh.remove(container)
            _append(prop, container)
        present: set[str] = set()
        for li in [c for c in container if c.tag == _RDF_LI]:
            value = "".join(li.itertext()).strip()
            if value.casefold() in remove:
                _remove(container, li)
            else:
                present.add(value.casefold())
        for item in add:
            if item.casefold() not in present:
                present.add(item.casefold())
                li = ET.Element(_RDF_LI)
                li.text = item
                _append(container, li)
        if not any(c.tag == _RDF_LI for c in container):
            for desc in self._descriptions():
                if prop in list(desc):
                    _remove(desc, prop)

    def _replace_bag(self, name: str, items: list[str]) -> None:
        """Set annotator's own record ``name`` to exactly ``items`` (removed when empty)."""
        for desc in self._descriptions():
            desc.attrib.pop(name, None)
            for el in desc.findall(name):
                _remove(desc, el)
        if items:
            _append(self._holder(), _bag(name, items))

    @staticmethod
    def _set_x_default(prop: ET.Element | None, text: str) -> None:
        """Set the x-default item of a Lang Alt, and any item that repeated the old default."""
        assert prop is not None
        alt = prop.find(_RDF_ALT)
        if alt is None:  # a malformed simple value or another array type: make it a Lang Alt
            old = [li.text or "" for li in prop.iter(_RDF_LI)] or [prop.text or ""]
            for child in list(prop):
                prop.remove(child)
            prop.text = None
            prop.attrib.clear()
            fresh = _lang_alt({"x-default": old[0]} if old[0].strip() else {})
            alt = fresh.find(_RDF_ALT)
            assert alt is not None
            _append(prop, alt)
        items = [li for li in alt if li.tag == _RDF_LI]
        default = next((li for li in items if li.get(_XML_LANG, "").lower() == "x-default"), None)
        if default is None:
            default = ET.Element(_RDF_LI, {_XML_LANG: "x-default"})
            _append(alt, default)
            if len(alt) > 1:  # x-default comes first
                alt.remove(default)
                default.tail, alt[-1].tail = alt[-1].tail, default.tail
                alt.insert(0, default)
            items.insert(0, default)
        old_text = default.text
        for li in items:
            if li is default or (old_text and li.text == old_text):
                li.text = text

    # --- writing -----------------------------------------------------------------

    def serialize(self, *, padding: int = 0) -> bytes:
        """Return the packet in UTF-8 inside an xpacket wrapper, with ``padding`` spaces."""
        prefixes = self._prefix_map()
        body = _serialize(self.root, prefixes, root=True)
        return (PACKET_BEGIN + "\n" + body + "\n" + _padding(padding) + PACKET_END).encode("utf-8")

    def _prefix_map(self) -> dict[str, str]:
        """Return {uri: prefix} for every namespace the tree uses, keeping the file's prefixes."""
        used: set[str] = set()
        for el in self.root.iter():
            if isinstance(el.tag, str):
                used.update(_uri(n) for n in (el.tag, *el.attrib) if n.startswith("{"))
        used.discard(NS_XML)
        mapping: dict[str, str] = {}
        taken: set[str] = {"xml", "xmlns"}
        candidates = [(u, p) for p, u in self.prefixes] + list(PREFERRED_PREFIXES.items())
        for uri, prefix in candidates:
            if uri in used and uri not in mapping and prefix and prefix not in taken:
                mapping[uri] = prefix
                taken.add(prefix)
        n = 0
        for uri in sorted(used - set(mapping)):
            while f"ns{n}" in taken:
                n += 1
            mapping[uri] = f"ns{n}"
            taken.add(f"ns{n}")
        return mapping


def parse(packet: bytes) -> XmpDocument:
    """Parse an XMP packet or sidecar; raise ``XmpError`` on malformed XML or any DTD."""
    data = packet.rstrip(b"\x00 \t\r\n")
    if not data.strip():
        raise XmpError("the XMP packet is empty")
    builder = _Builder()
    parser = DefusedXMLParser(target=builder, forbid_dtd=True, forbid_entities=True)
    try:
        parser.feed(data)
        root = parser.close()
    except DefusedXmlException as exc:
        raise XmpError(f"the XMP packet declares a DTD or entities ({exc!r})") from exc
    except ET.ParseError as exc:
        raise XmpError(f"the XMP packet is not well-formed XML ({exc})") from exc
    if root.tag not in (f"{{{NS_X}}}xmpmeta", f"{{{NS_RDF}}}RDF", "{adobe:ns:meta/}xapmeta"):
        raise XmpError(f"unexpected XMP root element {root.tag!r}")
    return XmpDocument(root, builder.prefixes)


def new_document() -> XmpDocument:
    """Return an empty packet with one ``rdf:Description``."""
    return parse(
        (
            f'<x:xmpmeta xmlns:x="{NS_X}" x:xmptk="annotator {__version__}">\n'
            f' <rdf:RDF xmlns:rdf="{NS_RDF}">\n'
            '  <rdf:Description rdf:about="">\n'
            "  </rdf:Description>\n"
            " </rdf:RDF>\n"
            "</x:xmpmeta>"
        ).encode()
    )


def keyword_lists(keywords: Iterable[Keyword]) -> tuple[list[str], list[str]]:
    """Return what annotator writes for ``keywords``: flat words and hierarchy paths.

    Like Lightroom, ``dc:subject`` gets every level of a hierarchy (the leaf and
    its ancestors) and the keyword's word; ``lr:hierarchicalSubject`` gets the
    path ``Animals|Mammals|Cat``. Duplicates (ignoring case) are dropped.
    """
    flat: list[str] = []
    paths: list[str] = []
    seen: set[str] = set()
    seen_paths: set[str] = set()
    for k in keywords:
        levels = [clean_text(level).replace("|", " ") for level in k.hierarchy]
        levels = [level for level in levels if level]
        for word in [*levels, clean_text(k.word)]:
            if word and word.casefold() not in seen:
                seen.add(word.casefold())
                flat.append(word)
        path = "|".join(levels)
        if path and path.casefold() not in seen_paths:
            seen_paths.add(path.casefold())
            paths.append(path)
    return flat, paths


def packet_with_caption(
    packet: bytes | None,
    text: str,
    provenance: Provenance,
    *,
    keywords: tuple[list[str], list[str]] | None = None,
    padding: int = 0,
    limit: int | None = None,
    exact: int | None = None,
) -> bytes:
    """Return ``packet`` (or a new one) updated with the caption.

    ``keywords`` (flat words, paths; see :func:`keyword_lists`) become annotator's
    keywords; None leaves every keyword as it is.
    With ``exact``, the result is padded to exactly that many bytes when it fits
    (XMP padding exists for such in-place edits). Otherwise it gets ``padding``
    bytes of padding, less if it would exceed ``limit``; if even the unpadded
    packet exceeds ``limit``, ``XmpError`` says so.
    """
    doc = parse(packet) if packet is not None and packet.strip(b"\x00 \t\r\n") else new_document()
    doc.set_caption(text, provenance)
    if keywords is not None:
        doc.set_keywords(*keywords)
    bare = len(doc.serialize(padding=0))
    if exact is not None and bare <= exact:
        return doc.serialize(padding=exact - bare)
    if limit is not None and bare > limit:
        raise XmpError(f"the XMP packet needs {bare} bytes, over the {limit}-byte limit")
    return doc.serialize(padding=padding if limit is None else min(padding, limit - bare))


# --- sidecars ----------------------------------------------------------------------


def sidecar_path(photo: Path, style: str = "ext-append") -> Path:
    """Return the sidecar name: ``photo.jpg.xmp`` (digiKam, darktable) or ``photo.xmp`` (Adobe)."""
    if style == "ext-append":
        return photo.with_name(photo.name + ".xmp")
    if style == "replace":
        return photo.with_suffix(".xmp")
    raise ValueError(f"unknown sidecar style {style!r}")


def _is_file(path: Path) -> bool:
    """Return whether ``path`` is a file (False for a name the file system cannot hold)."""
    try:
        return path.is_file()
    except OSError:
        return False


def existing_sidecars(photo: Path) -> list[Path]:
    """Return the sidecars present for ``photo``: ext-append names first, either case."""
    found: list[Path] = []
    for candidate in (
        photo.with_name(photo.name + ".xmp"),
        photo.with_name(photo.name + ".XMP"),
        photo.with_suffix(".xmp"),
        photo.with_suffix(".XMP"),
    ):
        if (
            candidate != photo
            and _is_file(candidate)
            and not any(_same(candidate, f) for f in found)
        ):
            found.append(candidate)
    return found


def _same(a: Path, b: Path) -> bool:
    """Return whether two existing paths are the same file (case-insensitive file systems)."""
    try:
        return a.samefile(b)
    except OSError:
        return False


# --- tree helpers ------------------------------------------------------------------


def _uri(name: str) -> str:
    """Return the namespace URI of a ``{uri}local`` name."""
    return name[1:].split("}", 1)[0]


def _lang_alt(items: dict[str, str]) -> ET.Element:
    """Return a ``dc:description`` element holding an ``rdf:Alt``."""
    prop = ET.Element(_DC_DESCRIPTION)
    alt = ET.SubElement(prop, _RDF_ALT)
    for lang, text in items.items():
        li = ET.SubElement(alt, _RDF_LI, {_XML_LANG: lang})
        li.text = text
    return prop


def _bag(name: str, items: list[str]) -> ET.Element:
    """Return an array property ``name`` holding an ``rdf:Bag`` of ``items``."""
    prop = ET.Element(name)
    bag = ET.SubElement(prop, _RDF_BAG)
    for item in items:
        li = ET.SubElement(bag, _RDF_LI)
        li.text = item
    return prop


def _depth_indent(parent: ET.Element) -> tuple[str, str]:
    """Return (indent for a child, indent for the parent's closing tag) guessed from the tree."""
    if len(parent):
        child = parent.text if parent.text and not parent.text.strip() else "\n  "
        closing = parent[-1].tail if parent[-1].tail and not parent[-1].tail.strip() else "\n"
        return child, closing
    closing = parent.text if parent.text and not parent.text.strip() else "\n"
    return closing + " ", closing


def _append(parent: ET.Element, child: ET.Element) -> None:
    """Append ``child`` with indentation that matches its new siblings."""
    inner, closing = _depth_indent(parent)
    if len(parent):
        parent[-1].tail = inner
    else:
        parent.text = inner
    child.tail = closing
    parent.append(child)
    _indent_new(child, inner)


def _indent_new(el: ET.Element, indent: str) -> None:
    """Indent the children of a freshly built element one step deeper than ``indent``."""
    if len(el):
        el.text = indent + " "
        for i, child in enumerate(el):
            child.tail = indent + " " if i < len(el) - 1 else indent
            _indent_new(child, indent + " ")


def _remove(parent: ET.Element, child: ET.Element) -> None:
    """Remove ``child`` and the whitespace that introduced it."""
    index = list(parent).index(child)
    if index == len(parent) - 1 and index > 0:
        parent[index - 1].tail = child.tail
    parent.remove(child)


def _escape(text: str, *, attribute: bool) -> str:
    """Escape text for XML content or a double-quoted attribute."""
    text = (
        text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace("\r", "&#xD;")
    )
    if attribute:
        text = text.replace('"', "&quot;").replace("\n", "&#xA;").replace("\t", "&#x9;")
    return text


def _serialize(el: ET.Element, prefixes: dict[str, str], *, root: bool = False) -> str:
    """Serialize one element (namespaces all declared on the root) with its children."""

    def qname(name: str) -> str:
        if not name.startswith("{"):
            return name
        uri, local = name[1:].split("}", 1)
        return f"xml:{local}" if uri == NS_XML else f"{prefixes[uri]}:{local}"

    tag: object = el.tag  # ElementTree marks comments and PIs with these factories
    if tag is ET.Comment:
        return f"<!--{el.text or ''}-->"
    if tag is ET.ProcessingInstruction:
        return f"<?{el.text or ''}?>"
    parts = [f"<{qname(el.tag)}"]
    if root:
        parts += [f' xmlns:{p}="{_escape(u, attribute=True)}"' for u, p in prefixes.items()]
    parts += [f' {qname(k)}="{_escape(v, attribute=True)}"' for k, v in el.attrib.items()]
    if not len(el) and not el.text:
        return "".join(parts) + "/>"
    parts.append(">")
    parts.append(_escape(el.text or "", attribute=False))
    for child in el:
        parts.append(_serialize(child, prefixes))
        parts.append(_escape(child.tail or "", attribute=False))
    parts.append(f"</{qname(el.tag)}>")
    return "".join(parts)


def _padding(size: int) -> str:
    """Return ``size`` bytes of XMP padding: lines of spaces, each ending in a newline."""
    lines, rest = divmod(size, 100)
    return (" " * 99 + "\n") * lines + (" " * (rest - 1) + "\n" if rest else "")
