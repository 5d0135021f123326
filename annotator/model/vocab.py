"""Map words to indices with the special tokens; tokenise like Karpathy's preprocessing."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

PAD, START, END, UNK = "<pad>", "<start>", "<end>", "<unk>"
SPECIALS = (PAD, START, END, UNK)
_WORD = re.compile(r"[^\W_]+")  # runs of letters/digits in any script


def tokenize(text: str) -> list[str]:
    """Lowercase ``text`` and split it into words, dropping punctuation.

    Matches the tokens of Karpathy's split files: "t-shirt" -> ["t", "shirt"],
    "child 's" -> ["child", "s"].
    """
    return _WORD.findall(text.lower())


class Vocab:
    """Hold the word list of a captioner, index order included."""

    def __init__(self, words: Sequence[str]) -> None:
        missing = [s for s in SPECIALS if s not in words]
        if missing:
            raise ValueError(f"vocabulary lacks special tokens {missing}")
        if len(set(words)) != len(words):
            raise ValueError("vocabulary has duplicate words")
        self.itos: list[str] = list(words)
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}
        self.pad, self.start, self.end, self.unk = (self.stoi[s] for s in SPECIALS)

    @classmethod
    def build(cls, captions: Iterable[Sequence[str]], min_freq: int = 5) -> Vocab:
        """Build a vocabulary of the words seen at least ``min_freq`` times.

        Words are ordered by descending frequency, then alphabetically, so the
        result does not depend on the order of ``captions``.
        """
        counts = Counter(w for tokens in captions for w in tokens)
        kept = sorted(
            (w for w, n in counts.items() if n >= min_freq and w not in SPECIALS),
            key=lambda w: (-counts[w], w),
        )
        return cls([*SPECIALS, *kept])

    def __len__(self) -> int:
        return len(self.itos)

    def __contains__(self, word: object) -> bool:
        return word in self.stoi

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Vocab) and self.itos == other.itos

    def __hash__(self) -> int:
        return hash(tuple(self.itos))

    def encode(self, tokens: Sequence[str], max_len: int | None = None) -> list[int]:
        """Return ``<start> tokens... <end>`` as indices, unknown words as ``<unk>``."""
        tokens = list(tokens)[:max_len] if max_len is not None else list(tokens)
        return [self.start, *(self.stoi.get(w, self.unk) for w in tokens), self.end]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Return the words of ``ids``, stopping at ``<end>`` and skipping ``<start>``/``<pad>``."""
        words: list[str] = []
        for i in ids:
            i = int(i)
            if i == self.end:
                break
            if i in (self.start, self.pad):
                continue
            words.append(self.itos[i])
        return words

    def never_generated(self) -> tuple[int, ...]:
        """Return the ids a caption must never contain: ``<unk>``, ``<pad>``, ``<start>``."""
        return (self.unk, self.pad, self.start)

    def oov(self, tokens: Iterable[str]) -> list[str]:
        """Return the tokens this vocabulary does not know, in first-seen order."""
        seen: dict[str, None] = {}
        for w in tokens:
            if w not in self.stoi:
                seen.setdefault(w, None)
        return list(seen)
