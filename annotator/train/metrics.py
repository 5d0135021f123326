"""Score captions like the papers: BLEU-1..4, METEOR, ROUGE-L and CIDEr-D (coco-caption).

Uses ``pycocoevalcap``. Its PTB tokeniser and METEOR need Java; without Java the
tokeniser falls back to annotator's own (lowercase, punctuation stripped, which is
what the PTB tokeniser plus coco-caption's punctuation filter yields on these
captions) and METEOR is skipped with a note. Scores are reported x100.
"""

from __future__ import annotations

import logging
import shutil
from collections.abc import Mapping, Sequence

from annotator.model.vocab import tokenize

log = logging.getLogger(__name__)

Refs = Mapping[str, Sequence[str]]


def java_available() -> bool:
    """Return True when a ``java`` executable is on PATH."""
    return shutil.which("java") is not None


def _tokenize(
    hyps: Mapping[str, str], refs: Refs, ptb: bool
) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
    if ptb:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer

        tok = PTBTokenizer()
        gts = tok.tokenize({k: [{"caption": c} for c in v] for k, v in refs.items()})
        res = tok.tokenize({k: [{"caption": hyps[k]}] for k in refs})
        return res, gts
    res = {k: [" ".join(tokenize(hyps[k]))] for k in refs}
    gts = {k: [" ".join(tokenize(c)) for c in v] for k, v in refs.items()}
    return res, gts


def bleu4(hyps: Mapping[str, str], refs: Refs) -> float:
    """Return corpus BLEU-4 x100 with annotator's tokeniser (fast, no Java): for validation."""
    from pycocoevalcap.bleu.bleu import Bleu

    res, gts = _tokenize(hyps, refs, ptb=False)
    score, _ = Bleu(4).compute_score(gts, res, verbose=0)
    return 100.0 * float(score[3])


def score_captions(
    hyps: Mapping[str, str], refs: Refs, *, meteor: bool = True, ptb: bool | None = None
) -> dict[str, float | str]:
    """Return every metric x100 for hypotheses ``{id: caption}`` against ``{id: [refs]}``.

    ``ptb=None`` uses the PTB tokeniser when Java is available. A ``note`` key
    explains any metric that was skipped.
    """
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.rouge.rouge import Rouge

    missing = [k for k in refs if k not in hyps]
    if missing:
        raise ValueError(f"{len(missing)} photos have no hypothesis, e.g. {missing[0]}")
    java = java_available()
    use_ptb = java if ptb is None else ptb
    res, gts = _tokenize(hyps, refs, use_ptb)
    out: dict[str, float | str] = {}
    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    for n in range(4):
        out[f"BLEU-{n + 1}"] = 100.0 * bleu[n]
    notes = []
    if meteor and java:
        from pycocoevalcap.meteor.meteor import Meteor

        try:
            m = Meteor()
            out["METEOR"] = 100.0 * m.compute_score(gts, res)[0]
        except Exception as exc:  # noqa: BLE001 - the Java subprocess fails in many ways
            notes.append(f"METEOR skipped: {exc}")
    elif meteor:
        notes.append("METEOR skipped: Java is not installed")
    out["ROUGE-L"] = 100.0 * Rouge().compute_score(gts, res)[0]
    out["CIDEr-D"] = 100.0 * Cider().compute_score(gts, res)[0]
    if not use_ptb:
        notes.append("tokenised with annotator's tokeniser (PTB tokeniser needs Java)")
    if notes:
        out["note"] = "; ".join(notes)
    return out
