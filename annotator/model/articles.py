"""Choose "a" or "an" from the sound of the next word, in one place for every caption.

A decoder trained on one vocabulary writes "a" before words it never saw next to
"an" ("a elephant", "a owl" once novel words are added), so captions are corrected
after decoding rather than by the model.
"""

from __future__ import annotations

from collections.abc import Sequence

# Vowel letters that sound like a consonant, and silent h: checked as word prefixes.
_CONSONANT_SOUND = ("uni", "use", "usu", "uti", "ure", "eu", "ewe", "one", "once", "ukulele")
_VOWEL_SOUND = ("hour", "honest", "honor", "honour", "heir")


def needs_an(word: str) -> bool:
    """Return True when ``word`` (or a phrase) starts with a vowel sound."""
    w = word.lower()
    if not w or not w[0].isalpha():
        return False
    if w.startswith(_VOWEL_SOUND):
        return True
    if w.startswith(_CONSONANT_SOUND):
        return False
    if len(w) == 1:  # letters: "an x", "a u"
        return w in "aefhilmnorsx"
    return w[0] in "aeiou"


def fix_articles(words: Sequence[str]) -> list[str]:
    """Return ``words`` with each "a"/"an" agreeing with the word after it."""
    out = list(words)
    for i in range(len(out) - 1):
        if out[i] in ("a", "an"):
            out[i] = "an" if needs_an(out[i + 1]) else "a"
    return out
