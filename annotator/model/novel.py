"""Add keyword words the decoder never saw, by copying a donor word's rows (load time).

Novel-word transfer ("direct transfer", Hendricks et al., CVPR 2016, "Deep
Compositional Captioning"): a word missing from the caption vocabulary ("lion") gets
the embedding row and the output-layer row (weights and bias) of a semantically close
word the decoder knows ("cat"), chosen at development time from WordNet's hypernyms
(``annotator/keywords/novel_words.tsv``). The checkpoint file is not changed: the
extension is computed from it and the shipped table every time it is loaded.

A novel word behaves exactly like its donor, so the decoder would otherwise emit it
wherever it emits the donor. The beam search therefore only lets a photo produce a
novel word that one of its constraints asks for (``beam_search(restricted=...)``),
and then bans that word's donor for the photo (``donor_bans``): "lion" replaces
"cat" in that photo's captions, with the same probabilities. Photos without such a
constraint get the same captions as without the extension.

A novel word is kept only where it fits (``fitting``): the caption that holds it
must rank (log-probability over length**penalty, as beam search ranks) at most
``max_drop`` below the photo's caption without it. The donor's rows make that drop
the decoder's own view of whether the photo has a place for the word: "two girls
wearing cowboy hats are standing on a beach" against "two girls are on a beach"
drops 0.9 and is kept; "a little boy is playing in a pile of mushroom in the woods"
against "... a pile of leaves" drops 2.7 and gives way at the default 2.5
(``annotator.keywords.guidance.NOVEL_MAX_DROP``).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from annotator.keywords.novel import NovelWord
from annotator.model.beam import Hypothesis
from annotator.model.decoder import Decoder
from annotator.model.vocab import Vocab


@dataclass(frozen=True)
class NovelVocabulary:
    """A vocabulary extended with novel words and where their rows came from."""

    vocab: Vocab  # the checkpoint's words, then the novel ones
    base_size: int  # how many words the checkpoint has; novel ids are >= this
    donor_of: Mapping[int, int]  # novel id -> donor id
    keyword_of: Mapping[int, str]  # novel id -> the keyword it names

    def names(self, token: int, keyword: str) -> bool:
        """Return whether ``token`` may stand for ``keyword`` in a constraint."""
        return token < self.base_size or self.keyword_of.get(token) == keyword

    def is_novel(self, token: int) -> bool:
        """Return whether ``token`` is an added word."""
        return token >= self.base_size

    def asks_novel(self, constraints: Sequence[Collection[int]]) -> bool:
        """Return whether one of a photo's constraints is met only by added words."""
        return any(c and all(self.is_novel(i) for i in c) for c in constraints)

    @property
    def novel_ids(self) -> tuple[int, ...]:
        """Return the ids of the added words."""
        return tuple(range(self.base_size, len(self.vocab)))


def plan_novel(vocab: Vocab, rows: Sequence[NovelWord]) -> NovelVocabulary:
    """Return the extension of ``vocab`` by the rows it lacks and has a donor for.

    Each row uses its first donor that ``vocab`` knows; rows whose word ``vocab``
    already has, or with no known donor, are skipped.
    """
    words = list(vocab.itos)
    donor_of: dict[int, int] = {}
    keyword_of: dict[int, str] = {}
    for row in rows:
        if row.word in vocab.stoi or row.word in words[len(vocab) :]:
            continue
        donor = next((vocab.stoi[d] for d in row.donors if d in vocab.stoi), None)
        if donor is None:
            continue
        donor_of[len(words)] = donor
        keyword_of[len(words)] = row.keyword
        words.append(row.word)
    return NovelVocabulary(Vocab(words), len(vocab), donor_of, keyword_of)


@torch.no_grad()
def extend_decoder(decoder: Decoder, novel: NovelVocabulary) -> Decoder:
    """Return a decoder for ``novel.vocab``: ``decoder``'s modules, grown embedding and output.

    Each novel word's embedding and output rows (weights and bias) are copies of its
    donor's. The attention and LSTM modules are shared with ``decoder``, which is left
    unchanged (training and evaluation code keep using it with the checkpoint's
    vocabulary); the checkpoint's words keep their rows, so they score the same.
    """
    if decoder.fc.out_features != novel.base_size:
        raise ValueError(
            f"decoder has {decoder.fc.out_features} words, the vocabulary {novel.base_size}"
        )
    if not novel.donor_of:
        return decoder
    donors = torch.tensor(
        [novel.donor_of[i] for i in novel.novel_ids], device=decoder.fc.weight.device
    )  # (n,)
    old_emb, old_fc = decoder.embedding, decoder.fc
    emb = nn.Embedding(len(novel.vocab), old_emb.embedding_dim).to(old_emb.weight)
    emb.weight.copy_(torch.cat([old_emb.weight, old_emb.weight[donors]], 0))  # (V+n, M)
    fc = nn.Linear(old_fc.in_features, len(novel.vocab)).to(old_fc.weight)
    fc.weight.copy_(torch.cat([old_fc.weight, old_fc.weight[donors]], 0))  # (V+n, D)
    fc.bias.copy_(torch.cat([old_fc.bias, old_fc.bias[donors]], 0))  # (V+n,)
    grown = Decoder.__new__(Decoder)
    nn.Module.__init__(grown)
    grown.config = decoder.config
    for name, child in decoder.named_children():
        setattr(grown, name, child)
    grown.embedding, grown.fc = emb, fc
    grown.train(decoder.training)
    return grown


def donor_bans(constraints: Sequence[Collection[int]], donor_of: Mapping[int, int]) -> set[int]:
    """Return the donors a photo must not produce: those of its constrained novel words.

    A donor that a constraint itself asks for is kept.
    """
    wanted = {i for c in constraints for i in c}
    return {donor_of[i] for i in wanted if i in donor_of} - wanted


def without_novel(constraints: Sequence[Collection[int]], novel: NovelVocabulary) -> list[set[int]]:
    """Return a photo's constraints less those that only novel words meet."""
    return [set(c) for c in constraints if not (c and all(novel.is_novel(i) for i in c))]


def fitting(
    guided: Sequence[Hypothesis],
    fallback: Sequence[Hypothesis],
    length_penalty: float,
    max_drop: float,
) -> bool:
    """Return whether a photo's novel-word captions fit: the best of ``guided`` ranks at
    most ``max_drop`` below the best of ``fallback`` (the captions without the word).
    """
    if not guided:
        return False
    if not fallback:
        return True
    drop = fallback[0].ranked_score(length_penalty) - guided[0].ranked_score(length_penalty)
    return drop <= max_drop
