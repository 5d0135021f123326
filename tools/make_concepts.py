"""Generate ``annotator/library/concepts.tsv``: general words -> the specific words under them.

Run at development time, never at run time (annotator needs no WordNet)::

    apt-get install -y wordnet-base
    python tools/make_concepts.py            # --wordnet /usr/share/wordnet --model ...

The vocabulary is every word of the shipped model's caption vocabulary plus the
lemmas of the 1,000 ImageNet classes the encoder's head names (its WordNet noun
synsets, ``--imagenet-wnids``) and the everyday keyword words of
``annotator/keywords`` when that table is present. For each vocabulary word,
its common noun senses (WordNet's tagged-sense counts decide which: a sense
with at least a quarter of the top sense's count; a word with few tagged uses
keeps its first three) are followed up the hypernym tree; every single-word
lemma met on the way (bar the abstract top of the tree, ``_TOO_GENERAL``) gets
the vocabulary word, and its irregular plural as it appears in captions ("men",
"children"), as an expansion. ``_EXTRA`` adds the few reviewed links WordNet
does not make ("people" is a group, not a person, in WordNet).
"""

from __future__ import annotations

import argparse
import json
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "annotator" / "library" / "concepts.tsv"
MAX_EXPANSIONS = 120  # most frequent first: a query stays a short OR list

# The abstract top of WordNet's noun tree: expanding these finds everything.
_TOO_GENERAL = {
    "entity", "physical entity", "abstraction", "abstract entity", "object", "whole",
    "thing", "unit", "matter", "causal agent", "cause", "causal agency", "part", "portion",
    "group", "grouping", "attribute", "relation", "measure", "psychological feature",
    "physical object", "living thing", "animate thing", "being", "organism", "artifact",
    "artefact", "instrumentality", "instrumentation", "substance", "content", "state",
    "event", "act", "human activity", "human action", "deed", "location", "region",
    "communication", "cognition", "knowledge", "noesis", "process", "physical process",
    "structure", "construction", "device", "container", "covering", "commodity",
    "trade good", "good", "equipment", "material", "stuff", "solid", "fluid", "liquid",
    "implement", "system", "way", "means", "article", "creation", "activity",
}  # fmt: skip
# Reviewed links WordNet lacks: {general word: [specific words]}.
_EXTRA = {
    "person": ["people", "persons", "crowd", "family", "couple", "team"],
    "animal": ["pet", "pets"],
    "food": ["meal", "dinner", "lunch", "breakfast", "snack", "cake", "cakes", "pie"],
    "vehicle": ["motorcycle", "motorbike", "bike", "truck", "train", "tram"],
}
# Reviewed replacements of what WordNet gives ("people" is mostly groups there).
_OVERRIDE = {
    "people": [
        "man",
        "men",
        "woman",
        "women",
        "boy",
        "boys",
        "girl",
        "girls",
        "child",
        "children",
        "kid",
        "kids",
        "person",
        "persons",
        "crowd",
        "family",
        "couple",
        "team",
    ],
}
_SUFFIXES = [("s", ""), ("ses", "s"), ("xes", "x"), ("zes", "z"), ("ches", "ch")]
_SUFFIXES += [("shes", "sh"), ("men", "man"), ("ies", "y")]


def read_data(wordnet: Path) -> dict[str, tuple[list[str], list[str]]]:
    """Return {offset: (lemmas, hypernym offsets)} from data.noun."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    for line in (wordnet / "data.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split(" | ", 1)[0].split()
        offset, n_words = fields[0], int(fields[3], 16)
        lemmas = [fields[4 + 2 * i] for i in range(n_words)]
        pos = 4 + 2 * n_words
        n_ptrs = int(fields[pos])
        hypernyms = [
            fields[pos + 2 + 4 * i]
            for i in range(n_ptrs)
            if fields[pos + 1 + 4 * i] == "@" and fields[pos + 3 + 4 * i] == "n"
        ]
        out[offset] = ([_lemma(w) for w in lemmas], hypernyms)
    return out


def _lemma(word: str) -> str:
    return re.sub(r"\(.*\)$", "", word).replace("_", " ").lower()


def _read_index(wordnet: Path) -> dict[str, list[str]]:
    """Return {lemma: synset offsets in sense order} from index.noun."""
    out: dict[str, list[str]] = {}
    for line in (wordnet / "index.noun").read_text(encoding="latin-1").splitlines():
        if line.startswith("  "):
            continue
        fields = line.split()
        n_senses, n_ptrs = int(fields[2]), int(fields[3])
        out[fields[0].replace("_", " ")] = fields[4 + n_ptrs + 2 :][:n_senses]
    return out


def _read_counts(wordnet: Path) -> tuple[dict[tuple[str, int], int], dict[str, int]]:
    """Return {(lemma, sense number): tagged count} for nouns, and {lemma: count} for the rest.

    From cntlist.rev: the second tells words mostly used as verbs or adjectives.
    """
    nouns: dict[tuple[str, int], int] = {}
    other: dict[str, int] = defaultdict(int)
    for line in (wordnet / "cntlist.rev").read_text(encoding="latin-1").splitlines():
        key, sense, count = line.split()
        lemma, rest = key.split("%", 1)
        lemma = lemma.replace("_", " ").lower()
        if rest.startswith("1:"):
            nouns[(lemma, int(sense))] = int(count)
        else:
            other[lemma] += int(count)
    return nouns, other


def _read_exceptions(wordnet: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in (wordnet / "noun.exc").read_text(encoding="latin-1").splitlines():
        parts = line.split()
        if len(parts) >= 2:
            out[parts[0].replace("_", " ")] = parts[1].replace("_", " ")
    return out


def _base(word: str, index: dict[str, list[str]], exceptions: dict[str, str]) -> str | None:
    """Return the WordNet noun lemma of ``word`` (a tiny morphy), or None."""
    if word in exceptions:
        return exceptions[word]
    if word in index:
        return word
    for suffix, ending in _SUFFIXES:
        if word.endswith(suffix) and word[: -len(suffix)] + ending in index:
            return word[: -len(suffix)] + ending
    return None


def _senses(
    lemma: str,
    index: dict[str, list[str]],
    counts: dict[tuple[str, int], int],
    other: dict[str, int],
) -> list[str]:
    """Return the common noun senses of ``lemma``; none for a word mostly used otherwise."""
    offsets = index.get(lemma, [])
    tagged = [counts.get((lemma, i + 1), 0) for i in range(len(offsets))]
    # "white", "down", "catch", "eats": words captions use as adjectives or verbs
    verbish = max(other.get(lemma, 0), other.get(lemma[:-1], 0) if lemma.endswith("s") else 0)
    if sum(tagged) < verbish:
        return []
    top = max(tagged, default=0)
    if top < 5:
        return offsets[:1]
    return [o for o, c in zip(offsets, tagged, strict=True) if c * 4 >= top]


def _ancestors(offset: str, data: dict[str, tuple[list[str], list[str]]]) -> set[str]:
    seen: set[str] = set()
    stack = list(data[offset][1])
    while stack:
        o = stack.pop()
        if o not in seen:
            seen.add(o)
            stack.extend(data[o][1])
    return seen


def _vocabulary(model: Path) -> list[str]:
    from safetensors import safe_open

    with safe_open(str(model), "pt") as f:
        vocab = json.loads(f.metadata()["vocab"])
    return [w for w in vocab if w.isalpha()]


def build(wordnet: Path, model: Path, wnids: Path | None, keywords: Path | None) -> list[str]:
    """Return the table's lines: ``general<TAB>specific specific ...``."""
    data = read_data(wordnet)
    index = _read_index(wordnet)
    counts, other = _read_counts(wordnet)
    exceptions = _read_exceptions(wordnet)
    rank: dict[str, int] = {}
    for word in _vocabulary(model):  # caption words, most frequent first
        rank.setdefault(word, len(rank))
    extra_words: list[tuple[str, list[str]]] = []  # (word, its known synsets)
    if wnids is not None:
        for entry in json.loads(wnids.read_text()):
            offset = entry["wnid"][1:]
            for lemma in data[offset][0]:
                # A caption word keeps its everyday senses ("kite" the toy, not the bird).
                if " " not in lemma and lemma not in rank:
                    extra_words.append((lemma, [offset]))
    if keywords is not None and keywords.exists():  # annotator/keywords' table: keyword, synonyms
        for line in keywords.read_text(encoding="utf-8").splitlines()[1:]:
            cols = line.split("\t")
            if len(cols) >= 6:
                for word in [cols[3], *cols[5].split(",")]:
                    if word.isalpha() and word.islower():
                        extra_words.append((word, []))
    expansions: dict[str, set[str]] = defaultdict(set)

    def add(word: str, offsets: list[str], forms: set[str]) -> None:
        for offset in offsets:
            for ancestor in _ancestors(offset, data):
                for lemma in data[ancestor][0]:
                    if " " in lemma or lemma in _TOO_GENERAL or lemma in forms:
                        continue
                    expansions[lemma].update(forms)

    for word in list(rank):
        base = _base(word, index, exceptions) if len(word) > 2 else None
        if base is not None:
            add(word, _senses(base, index, counts, other), {word, base})
    for word, offsets in extra_words:
        base = _base(word, index, exceptions)
        if base is None:
            continue
        rank.setdefault(word, len(rank))
        add(word, offsets or _senses(base, index, counts, other), {word, base})
    for general, words in _EXTRA.items():
        expansions[general].update(words)
    for general, words in _OVERRIDE.items():
        expansions[general] = set(words)
    lines = []
    for general in sorted(expansions):
        words = sorted(expansions[general] - {general}, key=lambda w: (rank.get(w, 10**6), w))
        if words:
            lines.append(general + "\t" + " ".join(words[:MAX_EXPANSIONS]))
    return lines


def main() -> None:
    """Write the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--wordnet", type=Path, default=Path("/usr/share/wordnet"))
    parser.add_argument("--model", type=Path, default=ROOT / "models" / "default.safetensors")
    parser.add_argument(
        "--imagenet-wnids",
        type=Path,
        default=Path("/work/shared/datasets/imagenet-samples/labels.json"),
        help="a JSON list of {wnid} in class order (only the ids are read)",
    )
    parser.add_argument(
        "--keywords",
        type=Path,
        default=ROOT / "annotator" / "keywords" / "imagenet_keywords.tsv",
        help="the keyword table of annotator/keywords, for its everyday words",
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    wnids = args.imagenet_wnids if args.imagenet_wnids.exists() else None
    lines = build(args.wordnet, args.model, wnids, args.keywords)
    header = [
        "# Concept expansion for search: general word <TAB> specific words under it.",
        "# Generated by tools/make_concepts.py from WordNet 3.0 (see concepts-WORDNET-LICENSE.txt)",
        "# and the shipped model's caption vocabulary. Do not edit: change the generator.",
    ]
    args.out.write_text("\n".join(header + lines) + "\n", encoding="utf-8")
    print(f"{args.out}: {len(lines)} general words")


if __name__ == "__main__":
    main()
