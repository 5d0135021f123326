"""Batched beam search over many photos at once, calling only ``Decoder.step``.

One implementation serves three searches:

- **Plain** beam search. Semantics follow the reference tutorial's per-image search,
  so results match it exactly: each photo starts with ``k`` live beams; at every
  step the ``live`` best continuations over all live beams are taken; those that
  produce ``<end>`` become finished hypotheses and reduce ``live``; a photo is done
  when ``live`` reaches 0. After ``max_len`` words the remaining beams finish
  unterminated. With ``k = 1`` this is greedy decoding.
- **Constrained** beam search (Anderson et al., EMNLP 2017): each photo may have up
  to ``MAX_CONSTRAINTS`` constraints, each a set of token ids (word forms such as
  {cat, cats, kitten}); a word satisfies a constraint when it is in the set. A
  finite-state machine whose states are the subsets of satisfied constraints gets
  one beam of ``k`` per state, filled at every step from the continuations of all
  states that lead to it; the caption comes from the accepting state (every
  constraint met). Plain search is the one-state case, so the two agree by
  construction. A photo is done when its accepting beam is done; if that beam never
  finished a caption (constraints unreachable within ``max_len``), the state with
  the most constraints met that did finish one gives the result.
- **Restricted words** (novel-word transfer, ``annotator.model.novel``): words in
  ``restricted`` are produced only by photos whose constraints ask for them, and
  ``photo_banned`` bans words per photo (a novel word's donor). Both are applied to
  the scores before the softmax, so a photo that may produce none of the restricted
  words gets exactly the distribution of the vocabulary without them.
- **Repetition control** (``Repetition``): never repeat a bigram that contains a
  content word (function words such as "a", "in", "the", "of", "and" may repeat:
  "a man in a red shirt" is fine, "blue shirt and blue shirt" is not), and never
  end a caption on a function word ("a man in a" is not a caption).

Photos are decoded together (B photos x S states x k beams rows) and rows of photos
that are done are dropped, so a photo's result does not depend on the rest of the
batch. Photos with different numbers of constraints are searched in separate groups,
so a batch pays for the FSM states only on the photos that have constraints.
"""

from __future__ import annotations

import itertools
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import torch

from annotator.model.decoder import Decoder

MAX_CONSTRAINTS = 2  # 4 FSM states; more would multiply decoding cost by 2**n

# Words that may repeat within a caption and that a caption never ends on.
FUNCTION_WORDS = frozenset(
    [
        "a",
        "an",
        "the",
        "and",
        "or",
        "but",
        "of",
        "in",
        "on",
        "at",
        "to",
        "by",
        "for",
        "from",
        "with",
        "into",
        "onto",
        "through",
        "under",
        "near",
        "toward",
        "towards",
        "while",
        "as",
        "is",
        "are",
        "was",
        "were",
        "be",
        "been",
        "being",
        "has",
        "have",
        "his",
        "her",
        "their",
        "its",
        "my",
        "your",
        "our",
        "that",
        "this",
        "these",
        "those",
        "who",
        "which",
        "whose",
        "some",
        "another",
        "other",
        "each",
        "s",
    ]
)


@dataclass(frozen=True)
class Hypothesis:
    """One finished caption candidate for one photo."""

    tokens: tuple[int, ...]  # generated ids, without <start>; ends with <end> if finished
    logprobs: tuple[float, ...]  # one per token
    alphas: torch.Tensor  # (len(tokens), P) attention weights, on the CPU
    score: float  # sum of logprobs
    finished: bool  # True when the caption ended with <end>
    satisfied: int = 0  # how many of the photo's constraints the caption meets

    def ranked_score(self, length_penalty: float) -> float:
        """Return the score used for ranking: ``score / len**length_penalty``."""
        if length_penalty == 0.0:
            return self.score
        return self.score / float(max(1, len(self.tokens)) ** length_penalty)


@dataclass(frozen=True)
class Repetition:
    """Switch repetition control on or off; ``function_ids`` are the function words' ids."""

    function_ids: tuple[int, ...]
    no_repeat_bigrams: bool = True
    no_function_word_end: bool = True

    @classmethod
    def for_words(
        cls,
        itos: Sequence[str],
        *,
        no_repeat_bigrams: bool = True,
        no_function_word_end: bool = True,
    ) -> Repetition:
        """Build the control for a vocabulary (index -> word) with ``FUNCTION_WORDS``."""
        ids = tuple(i for i, w in enumerate(itos) if w in FUNCTION_WORDS)
        return cls(ids, no_repeat_bigrams, no_function_word_end)

    @property
    def active(self) -> bool:
        """Return True when at least one of the two rules is on."""
        return self.no_repeat_bigrams or self.no_function_word_end


def repeated_content_bigram(words: Sequence[str]) -> bool:
    """Return True when a bigram with a content word occurs twice in ``words``."""
    seen: set[tuple[str, str]] = set()
    for pair in itertools.pairwise(words):
        if pair[0] in FUNCTION_WORDS and pair[1] in FUNCTION_WORDS:
            continue
        if pair in seen:
            return True
        seen.add(pair)
    return False


def ends_on_function_word(words: Sequence[str]) -> bool:
    """Return True when the last word of a non-empty caption is a function word."""
    return bool(words) and words[-1] in FUNCTION_WORDS


def _constraint_bits(
    constraints: Sequence[Sequence[Collection[int]]], b: int, v: int, dev: torch.device
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return per-photo token -> satisfied-constraint bits (B, V) and accepting states (B,)."""
    bits = torch.zeros((b, v), dtype=torch.long)  # (B, V)
    accept = torch.zeros((b,), dtype=torch.long)  # (B,)
    for i, cons in enumerate(constraints):
        if len(cons) > MAX_CONSTRAINTS:
            raise ValueError(f"at most {MAX_CONSTRAINTS} constraints per photo, got {len(cons)}")
        for j, words in enumerate(cons):
            ids = sorted({int(w) for w in words})
            if not ids:
                raise ValueError("a constraint needs at least one token id")
            if ids[0] < 0 or ids[-1] >= v:
                raise ValueError(f"constraint token ids must be in 0..{v - 1}, got {ids}")
            bits[i, ids] |= 1 << j
            accept[i] |= 1 << j
    return bits.to(dev), accept.to(dev)


def _photo_mask(
    v: int,
    b: int,
    constraints: Sequence[Sequence[Collection[int]]] | None,
    restricted: Collection[int],
    photo_banned: Sequence[Collection[int]] | None,
) -> torch.Tensor | None:
    """Return (B, V) True where a photo may not produce a word, or None if nowhere."""
    if not restricted and not photo_banned:
        return None
    if photo_banned is not None and len(photo_banned) != b:
        raise ValueError(f"{len(photo_banned)} banned-word lists for {b} photos")
    mask = torch.zeros((b, v), dtype=torch.bool)  # (B, V)
    if restricted:
        mask[:, sorted({int(i) for i in restricted})] = True
    for i in range(b):
        for words in constraints[i] if constraints else ():
            mask[i, sorted({int(w) for w in words})] = False
        if photo_banned is not None and photo_banned[i]:
            mask[i, sorted({int(w) for w in photo_banned[i]})] = True
    return mask


def _repeated_next(
    seqs: torch.Tensor, words: torch.Tensor, is_function: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Return (rows, tokens): each row's next words that would repeat a content bigram.

    ``seqs`` (N, t) are the words so far (the last one is ``words``), ``is_function``
    (V,) flags function words. Sparse: O(N * t) work, never a dense (N, V) mask.
    """
    if seqs.size(1) < 2:
        empty = torch.empty(0, dtype=torch.long, device=seqs.device)
        return empty, empty
    seen = seqs[:, :-1] == words.unsqueeze(1)  # (N, t-1) earlier positions of the last word
    nxt = seqs[:, 1:]  # (N, t-1) the word that followed each of them
    content = ~(is_function[nxt] & is_function[words].unsqueeze(1))  # (N, t-1)
    rows, cols = (seen & content).nonzero(as_tuple=True)  # (M,), (M,)
    return rows, nxt[rows, cols]


@torch.inference_mode()
def beam_search(
    decoder: Decoder,
    encoder_out: torch.Tensor,
    *,
    beam_size: int,
    start: int,
    end: int,
    max_len: int = 50,
    min_len: int = 0,
    length_penalty: float = 0.0,
    banned: Sequence[int] = (),
    constraints: Sequence[Sequence[Collection[int]]] | None = None,
    repetition: Repetition | None = None,
    restricted: Collection[int] = (),
    photo_banned: Sequence[Collection[int]] | None = None,
) -> list[list[Hypothesis]]:
    """Decode features (B, P, E) and return each photo's hypotheses, best first.

    ``length_penalty`` (alpha) ranks finished hypotheses by ``score / len**alpha``;
    0 ranks by total log-probability, as the reference does. ``min_len`` forbids
    ``<end>`` before that many words (1 avoids empty captions). ``banned`` token
    ids are never produced (the captioner bans ``<unk>``, ``<pad>`` and ``<start>``).
    ``constraints`` gives each photo 0 to ``MAX_CONSTRAINTS`` sets of token ids the
    caption must contain (one word of each set); None or empty lists is plain beam
    search. ``repetition`` applies repetition control (None: off). ``restricted``
    token ids are produced only by photos whose constraints contain them;
    ``photo_banned`` gives each photo token ids it never produces.
    """
    if beam_size < 1:
        raise ValueError("beam_size must be >= 1")
    b_total, p, _ = encoder_out.shape
    k, dev = beam_size, encoder_out.device
    results: list[list[Hypothesis]] = [[] for _ in range(b_total)]
    if b_total == 0:
        return results
    if constraints is not None and len(constraints) != b_total:
        raise ValueError(f"{len(constraints)} constraint lists for {b_total} photos")
    if photo_banned is not None and len(photo_banned) != b_total:
        raise ValueError(f"{len(photo_banned)} banned-word lists for {b_total} photos")
    counts = sorted({len(c) for c in constraints or [()]})
    if len(counts) > 1:  # one search per constraint count: no dead FSM rows for the others
        for n in counts:
            idx = [i for i, c in enumerate(constraints or ()) if len(c) == n]
            sub = beam_search(
                decoder,
                encoder_out[idx],
                beam_size=beam_size,
                start=start,
                end=end,
                max_len=max_len,
                min_len=min_len,
                length_penalty=length_penalty,
                banned=banned,
                constraints=[(constraints or ())[i] for i in idx],
                repetition=repetition,
                restricted=restricted,
                photo_banned=[photo_banned[i] for i in idx] if photo_banned else None,
            )
            for i, hyps in zip(idx, sub, strict=True):
                results[i] = hyps
        return results
    v_size = decoder.fc.out_features
    tok_bits, accept = _constraint_bits(constraints or [[]] * b_total, b_total, v_size, dev)
    photo_mask = _photo_mask(v_size, b_total, constraints, restricted, photo_banned)
    if photo_mask is not None:
        photo_mask = photo_mask.to(dev).unsqueeze(1)  # (B, 1, V): shared by a photo's rows
    s_n = 1 << max((len(c) for c in constraints or ()), default=0)  # FSM states
    popcount = torch.tensor([bin(s).count("1") for s in range(s_n)], device=dev)  # (S,)
    sk = s_n * k  # rows per photo
    rep = repetition if repetition is not None and repetition.active else None
    is_function = torch.zeros(v_size, dtype=torch.bool, device=dev)  # (V,)
    if rep is not None and rep.function_ids:
        is_function[torch.tensor(rep.function_ids, device=dev)] = True

    image_ids = torch.arange(b_total, device=dev)  # (B,) photo index of each active row-group
    enc = encoder_out.repeat_interleave(sk, dim=0)  # (B*S*k, P, E)
    proj = decoder.attention.project(encoder_out).repeat_interleave(sk, dim=0)  # (B*S*k, P, A)
    st0 = decoder.init_state(encoder_out)
    state = type(st0)(st0.h.repeat_interleave(sk, 0), st0.c.repeat_interleave(sk, 0))
    words = torch.full((b_total * sk,), start, dtype=torch.long, device=dev)  # (B*S*k,)
    scores = torch.full((b_total, s_n, k), float("-inf"), device=dev)  # (B, S, k)
    scores[:, 0, 0] = 0.0  # one live beam in the start state: no duplicate continuations
    live = torch.full((b_total, s_n), k, dtype=torch.long, device=dev)  # (B, S) beams running
    seqs = torch.empty((b_total * sk, 0), dtype=torch.long, device=dev)  # (B*S*k, t)
    seq_lp = torch.empty((b_total * sk, 0), device=dev)  # (B*S*k, t)
    seq_alpha = torch.empty((b_total * sk, 0, p), device=dev)  # (B*S*k, t, P)
    ranks = torch.arange(k, device=dev)  # (k,)
    states = torch.arange(s_n, device=dev)  # (S,)
    banned_t = torch.tensor(sorted(set(banned)), dtype=torch.long, device=dev)  # (n_banned,)
    finished_state: list[list[int]] = [[] for _ in range(b_total)]

    for t in range(max_len):
        b = image_ids.numel()
        logits, alpha, state = decoder.step(words, state, enc, proj)  # (N, V), (N, P)
        if photo_mask is not None:
            logits = logits.view(b, sk, -1).masked_fill(photo_mask, float("-inf"))  # (B, S*k, V)
            logits = logits.view(b * sk, -1)  # (N, V)
        logp = torch.log_softmax(logits, dim=1)  # (N, V)
        if banned_t.numel():
            logp[:, banned_t] = float("-inf")
        if t < min_len:
            logp[:, end] = float("-inf")
        if rep is not None and t > 0:
            if rep.no_repeat_bigrams:
                rows, toks = _repeated_next(seqs, words, is_function)  # (M,), (M,)
                logp[rows, toks] = float("-inf")
            if rep.no_function_word_end:
                logp[:, end] = logp[:, end].masked_fill(is_function[words], float("-inf"))
        if rep is not None and rep.no_function_word_end and t == max_len - 1:
            # the last word allowed: a caption cut at max_len must not end on "a" either
            logp = logp.masked_fill(is_function.view(1, -1), float("-inf"))
        v = logp.size(1)
        cand = scores.view(b, s_n, k, 1) + logp.view(b, s_n, k, v)  # (B, S, k, V)
        if s_n == 1:
            top_s, top_i = cand.view(b, 1, k * v).topk(k, dim=2)  # (B, 1, k)
        else:
            # The state each candidate leads to: its source state plus its word's bits.
            bits = tok_bits[image_ids].view(b, 1, 1, v)  # (B, 1, 1, V)
            target = states.view(1, s_n, 1, 1) | bits  # (B, S, 1, V)
            per_state = [
                cand.masked_fill(target != s, float("-inf")).view(b, s_n * k * v).topk(k, dim=1)
                for s in range(s_n)
            ]
            top_s = torch.stack([ps.values for ps in per_state], 1)  # (B, S, k)
            top_i = torch.stack([ps.indices for ps in per_state], 1)  # (B, S, k)
        src_state = torch.div(top_i, k * v, rounding_mode="floor")  # (B, S, k)
        slot = torch.div(top_i, v, rounding_mode="floor") % k  # (B, S, k)
        word = top_i % v  # (B, S, k)
        photo_row = (torch.arange(b, device=dev) * sk).view(b, 1, 1)  # (B, 1, 1)
        src = photo_row + src_state * k + slot  # (B, S, k) row of origin
        word_lp = logp.view(b, sk * v).gather(1, top_i.view(b, -1)).view(b, s_n, k)  # (B, S, k)
        valid = (ranks.view(1, 1, k) < live.unsqueeze(2)) & torch.isfinite(top_s)  # (B, S, k)
        ends = valid & ((word == end) | (t == max_len - 1))  # (B, S, k) finishing now

        if bool(ends.any()):
            rows_b, rows_s, rows_r = ends.nonzero(as_tuple=True)
            s_rows = src[rows_b, rows_s, rows_r]  # (F,)
            f_word = word[rows_b, rows_s, rows_r]  # (F,)
            f_tok = torch.cat([seqs[s_rows], f_word.unsqueeze(1)], 1)  # (F, t+1)
            f_lp = torch.cat([seq_lp[s_rows], word_lp[rows_b, rows_s, rows_r].unsqueeze(1)], 1)
            f_al = torch.cat([seq_alpha[s_rows], alpha[s_rows].unsqueeze(1)], 1)  # (F, t+1, P)
            f_img = image_ids[rows_b].tolist()
            f_state = rows_s.tolist()
            f_end = (f_word == end).tolist()
            f_tok_l, f_lp_l, f_al_c = f_tok.tolist(), f_lp.tolist(), f_al.float().cpu()
            f_sat = popcount[rows_s].tolist()
            for j, img in enumerate(f_img):
                results[img].append(
                    Hypothesis(
                        tokens=tuple(f_tok_l[j]),
                        logprobs=tuple(f_lp_l[j]),
                        alphas=f_al_c[j],
                        score=float(sum(f_lp_l[j])),
                        finished=bool(f_end[j]),
                        satisfied=int(f_sat[j]),
                    )
                )
                finished_state[img].append(f_state[j])

        cont = valid & ~ends  # (B, S, k) candidates that keep running
        n_cont = cont.sum(2)  # (B, S)
        live = live - ends.sum(2)  # (B, S)
        acc = accept[image_ids]  # (B,)
        keep = live.gather(1, acc.view(b, 1)).view(b) > 0  # (B,) accepting beam still running
        if not bool(keep.any()):
            break
        # Running candidates move to the first slots of their state, in rank order.
        order = torch.where(cont, ranks, ranks + k).argsort(dim=2, stable=True)  # (B, S, k)
        rows = src.gather(2, order)  # (B, S, k)
        new_words = word.gather(2, order)  # (B, S, k)
        new_scores = top_s.gather(2, order)  # (B, S, k)
        new_wlp = word_lp.gather(2, order)  # (B, S, k)
        new_scores = new_scores.masked_fill(
            ranks.view(1, 1, k) >= n_cont.unsqueeze(2), float("-inf")
        )

        # Drop photos that are done, then gather the surviving rows.
        rows, new_words, new_scores, new_wlp = (
            rows[keep],
            new_words[keep],
            new_scores[keep],
            new_wlp[keep],
        )
        flat = rows.reshape(-1)  # (B'*S*k,)
        if not bool(keep.all()):  # beams of one photo share its features: gather per photo
            per_photo = torch.arange(sk, device=dev)  # (S*k,)
            kept_rows = (keep.nonzero().view(-1, 1) * sk + per_photo).reshape(-1)  # (B'*S*k,)
            enc, proj = enc.index_select(0, kept_rows), proj.index_select(0, kept_rows)
        image_ids, live = image_ids[keep], live[keep]
        if photo_mask is not None:
            photo_mask = photo_mask[keep]  # (B', 1, V)
        state = state.select(flat)
        seqs = torch.cat([seqs.index_select(0, flat), new_words.reshape(-1, 1)], 1)
        seq_lp = torch.cat([seq_lp.index_select(0, flat), new_wlp.reshape(-1, 1)], 1)
        seq_alpha = torch.cat(
            [seq_alpha.index_select(0, flat), alpha.index_select(0, flat).unsqueeze(1)], 1
        )
        words, scores = new_words.reshape(-1), new_scores

    accept_l = accept.tolist()
    for img, hyps in enumerate(results):
        if s_n > 1 and hyps:
            in_state = [finished_state[img][j] for j in range(len(hyps))]
            # The accepting state's captions; else those of the state meeting the most.
            best = max(
                (st for st in set(in_state)),
                key=lambda st: (st == accept_l[img], bin(st).count("1"), -st),
            )
            hyps[:] = [h for h, st in zip(hyps, in_state, strict=True) if st == best]
        hyps.sort(key=lambda h: h.ranked_score(length_penalty), reverse=True)
    return results


@torch.inference_mode()
def greedy_decode(
    decoder: Decoder, encoder_out: torch.Tensor, *, start: int, end: int, max_len: int = 50
) -> list[list[int]]:
    """Decode by arg-max one photo row at a time (a reference for tests)."""
    out: list[list[int]] = []
    for i in range(encoder_out.size(0)):
        enc = encoder_out[i : i + 1]  # (1, P, E)
        state = decoder.init_state(enc)
        word = torch.tensor([start], device=enc.device)
        tokens: list[int] = []
        for _ in range(max_len):
            logits, _, state = decoder.step(word, state, enc)  # (1, V)
            word = logits.argmax(dim=1)  # (1,)
            tokens.append(int(word))
            if tokens[-1] == end:
                break
        out.append(tokens)
    return out
