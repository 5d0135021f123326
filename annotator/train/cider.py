"""Vectorised CIDEr-D: the coco-caption metric, fast enough to be a training reward.

Same definition as ``pycocoevalcap``'s ``CiderScorer`` (Vedantam et al., 2015, with the
"-D" changes): 1- to 4-gram tf-idf vectors, idf ``log(photos) - log(max(1, df))``,
hypothesis weights clipped at the reference's, a Gaussian length penalty
(sigma 6, lengths counted as that code counts them: in bigrams), the mean over n of
the cosine similarities, averaged over references and multiplied by 10.

What makes it fast: n-grams are numbered once, every caption becomes a sparse vector of
(n-gram id, weight) entries in flat NumPy arrays, the references' vectors and norms are
computed once and cached, and a batch of hypotheses is scored against all references of
its photo with one sorted join (``searchsorted``) and ``bincount`` sums, no Python loop
over pairs. Document frequencies come from the reference corpus given at construction:
the training split for a reward, the scored photos themselves to reproduce coco-caption.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

import numpy as np

Tokens = Sequence[str] | Sequence[int]
NGram = tuple[object, ...]


def ngram_counts(tokens: Tokens, n: int = 4) -> Counter[NGram]:
    """Return the counts of every 1..n-gram of ``tokens``."""
    toks = tuple(tokens)
    counts: Counter[NGram] = Counter()
    for k in range(1, n + 1):
        counts.update(toks[i : i + k] for i in range(len(toks) - k + 1))
    return counts


def _split(caption: str | Tokens) -> Tokens:
    return caption.split() if isinstance(caption, str) else caption


class CiderD:
    """Score captions with CIDEr-D against a fixed set of photos' references.

    ``refs`` maps each photo to its reference captions (whitespace-tokenised strings
    or token sequences). Document frequencies and reference vectors are computed once
    here; :meth:`score` then scores any number of hypotheses, each against the
    references of the photo it names.
    """

    def __init__(
        self,
        refs: Mapping[str, Sequence[str | Tokens]] | Sequence[Sequence[str | Tokens]],
        *,
        n: int = 4,
        sigma: float = 6.0,
    ) -> None:
        if isinstance(refs, Mapping):
            self.photo_ids = [str(k) for k in refs]
            ref_lists = list(refs.values())
        else:
            self.photo_ids = [str(i) for i in range(len(refs))]
            ref_lists = list(refs)
        if not ref_lists:
            raise ValueError("CIDEr-D needs at least one photo with references")
        self.n, self.sigma = n, sigma
        self.row_of = {p: i for i, p in enumerate(self.photo_ids)}
        self.col: dict[NGram, int] = {}
        col = self.col
        rows: list[int] = []
        cols: list[int] = []
        orders: list[int] = []
        tfs: list[int] = []
        df_ids: list[int] = []  # each photo's distinct n-gram ids, for document frequencies
        starts, sizes = [], []
        r = 0
        for i, caps in enumerate(ref_lists):
            if not caps:
                raise ValueError(f"photo {self.photo_ids[i]!r} has no reference captions")
            starts.append(r)
            sizes.append(len(caps))
            seen: set[int] = set()
            for c in caps:
                cnt = ngram_counts(_split(c), n)
                ids = [col.setdefault(g, len(col)) for g in cnt]
                cols.extend(ids)
                seen.update(ids)
                orders.extend(len(g) - 1 for g in cnt)
                tfs.extend(cnt.values())
                rows.extend([r] * len(cnt))
                r += 1
            df_ids.extend(seen)
        g_total = len(col)
        df = np.bincount(np.asarray(df_ids, dtype=np.int64), minlength=g_total)  # (G,)
        self.ref_len = float(np.log(float(len(ref_lists))))
        # idf per n-gram id; the extra last id stands for n-grams no reference has (df 0).
        self.idf = np.empty(g_total + 1)  # (G+1,)
        self.idf[:g_total] = self.ref_len - np.log(np.maximum(1.0, df.astype(float)))
        self.idf[g_total] = self.ref_len
        self.unseen = g_total
        self.ref_start = np.asarray(starts, dtype=np.int64)  # (photos,)
        self.ref_size = np.asarray(sizes, dtype=np.int64)  # (photos,)
        r_rows = np.asarray(rows, dtype=np.int64)
        r_cols = np.asarray(cols, dtype=np.int64)
        r_ord = np.asarray(orders, dtype=np.int64)
        r_tf = np.asarray(tfs, dtype=np.float64)
        # coco-caption counts a caption's length in bigrams
        self.ref_length = np.bincount(r_rows, weights=r_tf * (r_ord == 1), minlength=r)  # (R,)
        w = r_tf * self.idf[r_cols]  # (entries,) tf-idf weights
        self.ref_norm = self._norms(r_rows, r_ord, w, r)  # (R, n)
        self._stride = g_total + 1
        key = r_rows * self._stride + r_cols  # (entries,) unique per (reference, n-gram)
        sort = np.argsort(key, kind="stable")
        self._ref_key, self._ref_w = key[sort], w[sort]

    def _flatten(
        self, counts: Sequence[Counter[NGram]]
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Return flat (row, n-gram id, order, tf) entries and each caption's bigram count.

        N-grams no reference has share the id ``unseen``; their order is kept apart.
        """
        rows: list[int] = []
        cols: list[int] = []
        orders: list[int] = []
        tfs: list[int] = []
        get, unseen = self.col.get, self.unseen
        for i, cnt in enumerate(counts):
            rows.extend([i] * len(cnt))
            cols.extend(get(g, unseen) for g in cnt)
            orders.extend(len(g) - 1 for g in cnt)
            tfs.extend(cnt.values())
        r = np.asarray(rows, dtype=np.int64)
        o = np.asarray(orders, dtype=np.int64)
        tf = np.asarray(tfs, dtype=np.float64)
        # coco-caption counts a caption's length in bigrams
        length = np.bincount(r, weights=tf * (o == 1), minlength=len(counts))
        return r, np.asarray(cols, dtype=np.int64), o, tf, length

    def _norms(self, rows: np.ndarray, orders: np.ndarray, w: np.ndarray, m: int) -> np.ndarray:
        """Return the Euclidean norm of each caption's vector per n-gram order: (m, n)."""
        sq = np.bincount(rows * self.n + orders, weights=w * w, minlength=m * self.n)
        return np.sqrt(sq).reshape(m, self.n)  # (m, n)

    def photo_rows(self, photos: Sequence[str | int]) -> np.ndarray:
        """Return the internal row of each photo id (ints are positions)."""
        try:
            return np.asarray(
                [p if isinstance(p, int | np.integer) else self.row_of[p] for p in photos],
                dtype=np.int64,
            )
        except KeyError as exc:
            raise KeyError(f"photo {exc.args[0]!r} has no references in this scorer") from exc

    def score(self, hyps: Sequence[str | Tokens], photos: Sequence[str | int]) -> np.ndarray:
        """Return the CIDEr-D of each hypothesis against its photo's references: (M,)."""
        if len(hyps) != len(photos):
            raise ValueError(f"{len(hyps)} hypotheses but {len(photos)} photo ids")
        m = len(hyps)
        if m == 0:
            return np.zeros(0)
        prow = self.photo_rows(photos)  # (M,)
        counts = [ngram_counts(_split(h), self.n) for h in hyps]
        h_rows, h_cols, h_ord, h_tf, h_len = self._flatten(counts)
        h_w = h_tf * self.idf[h_cols]  # (E,)
        h_norm = self._norms(h_rows, h_ord, h_w, m)  # (M, n)

        # Every (hypothesis, reference of its photo) pair; pairs of one hypothesis are contiguous.
        n_refs = self.ref_size[prow]  # (M,)
        pair_h = np.repeat(np.arange(m), n_refs)  # (K,)
        first = np.cumsum(n_refs) - n_refs  # (M,) first pair of each hypothesis
        pair_r = self.ref_start[prow][pair_h] + (np.arange(pair_h.size) - first[pair_h])  # (K,)

        # Each hypothesis entry joined with each reference of its photo: look the key up.
        e_pair_first = first[h_rows]  # (E,) first pair of the entry's hypothesis
        e_reps = n_refs[h_rows]  # (E,)
        e_idx = np.repeat(np.arange(h_rows.size), e_reps)  # (J,) entry of each join row
        offs = np.arange(e_idx.size) - np.repeat(np.cumsum(e_reps) - e_reps, e_reps)  # (J,)
        j_pair = e_pair_first[e_idx] + offs  # (J,)
        j_key = pair_r[j_pair] * self._stride + h_cols[e_idx]  # (J,)
        ref_key = self._ref_key if self._ref_key.size else np.full(1, -1, dtype=np.int64)
        ref_w = self._ref_w if self._ref_w.size else np.zeros(1)
        pos = np.minimum(np.searchsorted(ref_key, j_key), ref_key.size - 1)  # (J,)
        r_w = np.where(ref_key[pos] == j_key, ref_w[pos], 0.0)  # (J,) reference weight or 0
        contrib = np.minimum(h_w[e_idx], r_w) * r_w  # (J,) clipped dot-product terms
        k = pair_h.size
        dot = np.bincount(
            j_pair * self.n + h_ord[e_idx], weights=contrib, minlength=k * self.n
        ).reshape(k, self.n)  # (K, n)

        denom = h_norm[pair_h] * self.ref_norm[pair_r]  # (K, n)
        sim = np.divide(dot, denom, out=np.zeros_like(dot), where=denom != 0)  # (K, n)
        delta = h_len[pair_h] - self.ref_length[pair_r]  # (K,)
        sim *= np.exp(-(delta**2) / (2 * self.sigma**2))[:, None]
        per_pair = sim.mean(axis=1)  # (K,)
        total = np.bincount(pair_h, weights=per_pair, minlength=m)  # (M,)
        scores: np.ndarray = total / n_refs * 10.0  # (M,)
        return scores


def cider_d(
    hyps: Mapping[str, str | Tokens], refs: Mapping[str, Sequence[str | Tokens]]
) -> tuple[float, np.ndarray]:
    """Return corpus CIDEr-D and per-photo scores, document frequencies from ``refs``.

    The drop-in equivalent of ``pycocoevalcap``'s ``Cider().compute_score`` on the same
    tokenised inputs (one hypothesis per photo).
    """
    missing = [k for k in refs if k not in hyps]
    if missing:
        raise ValueError(f"{len(missing)} photos have no hypothesis, e.g. {missing[0]}")
    scorer = CiderD(refs)
    scores = scorer.score([hyps[k] for k in refs], list(refs))
    return float(scores.mean()), scores
