"""Batched beam search over many photos at once, calling only ``Decoder.step``.

Semantics follow the reference tutorial's per-image search, so results match it
exactly: each photo starts with ``k`` live beams; at every step the ``live`` best
continuations over all live beams are taken; those that produce ``<end>`` become
finished hypotheses and reduce ``live``; a photo is done when ``live`` reaches 0.
After ``max_len`` words the remaining beams finish unterminated. With ``k = 1``
this is greedy decoding. Photos are decoded together (B photos x k beams rows)
and rows of photos that are done are dropped, so a photo's result does not
depend on the rest of the batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from annotator.model.decoder import Decoder


@dataclass(frozen=True)
class Hypothesis:
    """One finished caption candidate for one photo."""

    tokens: tuple[int, ...]  # generated ids, without <start>; ends with <end> if finished
    logprobs: tuple[float, ...]  # one per token
    alphas: torch.Tensor  # (len(tokens), P) attention weights, on the CPU
    score: float  # sum of logprobs
    finished: bool  # True when the caption ended with <end>

    def ranked_score(self, length_penalty: float) -> float:
        """Return the score used for ranking: ``score / len**length_penalty``."""
        if length_penalty == 0.0:
            return self.score
        return self.score / float(max(1, len(self.tokens)) ** length_penalty)


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
) -> list[list[Hypothesis]]:
    """Decode features (B, P, E) and return each photo's hypotheses, best first.

    ``length_penalty`` (alpha) ranks finished hypotheses by ``score / len**alpha``;
    0 ranks by total log-probability, as the reference does. ``min_len`` forbids
    ``<end>`` before that many words (1 avoids empty captions). ``banned`` token
    ids are never produced (the captioner bans ``<unk>``, ``<pad>`` and ``<start>``).
    """
    if beam_size < 1:
        raise ValueError("beam_size must be >= 1")
    b_total, p, _ = encoder_out.shape
    k, dev = beam_size, encoder_out.device
    results: list[list[Hypothesis]] = [[] for _ in range(b_total)]
    if b_total == 0:
        return results

    image_ids = torch.arange(b_total, device=dev)  # (B,) photo index of each active row-group
    enc = encoder_out.repeat_interleave(k, dim=0)  # (B*k, P, E)
    proj = decoder.attention.project(encoder_out).repeat_interleave(k, dim=0)  # (B*k, P, A)
    st0 = decoder.init_state(encoder_out)
    state = type(st0)(st0.h.repeat_interleave(k, 0), st0.c.repeat_interleave(k, 0))  # (B*k, D)
    words = torch.full((b_total * k,), start, dtype=torch.long, device=dev)  # (B*k,)
    scores = torch.full((b_total, k), float("-inf"), device=dev)  # (B, k)
    scores[:, 0] = 0.0  # only one live beam at the start: no duplicate continuations
    live = torch.full((b_total,), k, dtype=torch.long, device=dev)  # (B,) beams still running
    seqs = torch.empty((b_total * k, 0), dtype=torch.long, device=dev)  # (B*k, t)
    seq_lp = torch.empty((b_total * k, 0), device=dev)  # (B*k, t)
    seq_alpha = torch.empty((b_total * k, 0, p), device=dev)  # (B*k, t, P)
    ranks = torch.arange(k, device=dev)  # (k,)
    banned_t = torch.tensor(sorted(set(banned)), dtype=torch.long, device=dev)  # (n_banned,)

    for t in range(max_len):
        b = image_ids.numel()
        logits, alpha, state = decoder.step(words, state, enc, proj)  # (N, V), (N, P)
        logp = torch.log_softmax(logits, dim=1)  # (N, V)
        if banned_t.numel():
            logp[:, banned_t] = float("-inf")
        if t < min_len:
            logp[:, end] = float("-inf")
        v = logp.size(1)
        cand = (scores.view(-1, 1) + logp).view(b, k * v)  # (B, k*V)
        top_s, top_i = cand.topk(k, dim=1)  # (B, k) best candidates, ranked
        prev = torch.div(top_i, v, rounding_mode="floor")  # (B, k) slot of origin
        word = top_i % v  # (B, k)
        valid = ranks.unsqueeze(0) < live.unsqueeze(1)  # (B, k) within this photo's live count
        src = prev + (torch.arange(b, device=dev) * k).unsqueeze(1)  # (B, k) row of origin
        word_lp = logp.view(b, k * v).gather(1, top_i)  # (B, k) log-prob of the new word
        ends = valid & ((word == end) | (t == max_len - 1))  # (B, k) hypotheses finishing now

        if bool(ends.any()):
            rows_b, rows_r = ends.nonzero(as_tuple=True)
            s_rows = src[rows_b, rows_r]  # (F,)
            f_tok = torch.cat([seqs[s_rows], word[rows_b, rows_r].unsqueeze(1)], 1)  # (F, t+1)
            f_lp = torch.cat([seq_lp[s_rows], word_lp[rows_b, rows_r].unsqueeze(1)], 1)
            f_al = torch.cat([seq_alpha[s_rows], alpha[s_rows].unsqueeze(1)], 1)  # (F, t+1, P)
            f_img = image_ids[rows_b].tolist()
            f_end = (word[rows_b, rows_r] == end).tolist()
            f_tok_l, f_lp_l, f_al_c = f_tok.tolist(), f_lp.tolist(), f_al.float().cpu()
            for j, img in enumerate(f_img):
                results[img].append(
                    Hypothesis(
                        tokens=tuple(f_tok_l[j]),
                        logprobs=tuple(f_lp_l[j]),
                        alphas=f_al_c[j],
                        score=float(sum(f_lp_l[j])),
                        finished=bool(f_end[j]),
                    )
                )

        cont = valid & ~ends  # (B, k) candidates that keep running
        new_live = cont.sum(1)  # (B,)
        keep = new_live > 0  # (B,) photos with beams left
        if not bool(keep.any()):
            break
        # Running candidates move to the first slots, in rank order.
        order = torch.where(cont, ranks, ranks + k).argsort(dim=1, stable=True)  # (B, k)
        rows = src.gather(1, order)  # (B, k)
        new_words = word.gather(1, order)  # (B, k)
        new_scores = top_s.gather(1, order)  # (B, k)
        new_wlp = word_lp.gather(1, order)  # (B, k)
        new_scores = new_scores.masked_fill(
            ranks.unsqueeze(0) >= new_live.unsqueeze(1), float("-inf")
        )

        # Drop photos that are done, then gather the surviving rows.
        rows, new_words, new_scores, new_wlp = (
            rows[keep],
            new_words[keep],
            new_scores[keep],
            new_wlp[keep],
        )
        flat = rows.reshape(-1)  # (B'*k,)
        if not bool(keep.all()):  # beams of one photo share its features: gather per photo
            kept_rows = (keep.nonzero().view(-1, 1) * k + ranks).reshape(-1)  # (B'*k,)
            enc, proj = enc.index_select(0, kept_rows), proj.index_select(0, kept_rows)
        image_ids, live = image_ids[keep], new_live[keep]
        state = state.select(flat)
        seqs = torch.cat([seqs.index_select(0, flat), new_words.reshape(-1, 1)], 1)
        seq_lp = torch.cat([seq_lp.index_select(0, flat), new_wlp.reshape(-1, 1)], 1)
        seq_alpha = torch.cat(
            [seq_alpha.index_select(0, flat), alpha.index_select(0, flat).unsqueeze(1)], 1
        )
        words, scores = new_words.reshape(-1), new_scores

    for hyps in results:
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
