"""Benchmark batched beam search against decoding photos one at a time.

Prints, from one run on the same model and photos:
- captions/s of annotator's batched beam search (32 photos, k = 5) and of a
  straightforward unbatched beam search written like the reference tutorial's
  ``caption_image_beam_search`` (one photo at a time, attention projection
  recomputed every step), their ratio, and whether the captions are identical;
- captions/s of the batched search with repetition control (no repeated content-word
  bigram, no function word at the end: the captioner's default) on versus off, their
  ratio (issue 12's target: within 10 %), and how many captions each rule changed;
- encoder-only photos/s of EfficientNet-Lite0/1/2 at batch 16.

Usage: python benchmarks/beam.py [--model PATH] [--photos N] [--beam-size K] [--repeats R]
Without a trained model (``--random``) a randomly initialised decoder of the default
size is used; its captions are long and random, so the ratio is pessimistic.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from PIL import Image, ImageOps

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from annotator.core.settings import default_model_path  # noqa: E402
from annotator.model.beam import (  # noqa: E402
    Repetition,
    beam_search,
    ends_on_function_word,
    repeated_content_bigram,
)
from annotator.model.captioner import Captioner  # noqa: E402
from annotator.model.checkpoint import Checkpoint  # noqa: E402
from annotator.model.config import ModelConfig  # noqa: E402
from annotator.model.decoder import Decoder  # noqa: E402
from annotator.model.encoder import Encoder  # noqa: E402
from annotator.model.preprocess import Preprocess, image_to_tensor, load_rgb  # noqa: E402
from annotator.model.vocab import SPECIALS, Vocab  # noqa: E402


@torch.inference_mode()
def reference_beam_search(
    decoder: Decoder, encoder_out: torch.Tensor, k: int, start: int, end: int, max_len: int
) -> list[int]:
    """Decode ONE photo (1, P, E) the way the reference tutorial does."""
    enc = encoder_out.expand(k, *encoder_out.shape[1:])  # (k, P, E)
    prev = torch.full((k,), start, dtype=torch.long)  # (k,)
    seqs = prev.unsqueeze(1)  # (k, 1)
    top_scores = torch.zeros(k, 1)  # (k, 1)
    done_seqs: list[list[int]] = []
    done_scores: list[float] = []
    state = decoder.init_state(enc)
    for step in range(max_len):
        logits, _, state = decoder.step(prev, state, enc)  # (k, V)
        scores = top_scores.expand_as(logits) + torch.log_softmax(logits, dim=1)  # (k, V)
        v = scores.size(1)
        flat = scores[0] if step == 0 else scores.view(-1)
        top, idx = flat.topk(k)  # (k,)
        prev_inds, next_words = idx // v, idx % v  # (k,)
        seqs = torch.cat([seqs[prev_inds], next_words.unsqueeze(1)], dim=1)  # (k, t+2)
        last = step == max_len - 1
        complete = [i for i, w in enumerate(next_words.tolist()) if w == end or last]
        incomplete = [i for i in range(len(next_words)) if i not in complete]
        for i in complete:
            done_seqs.append(seqs[i, 1:].tolist())
            done_scores.append(float(top[i]))
        k -= len(complete)
        if k == 0:
            break
        keep = prev_inds[incomplete]
        seqs, enc = seqs[incomplete], enc[keep]
        state = state.select(keep)
        top_scores = top[incomplete].unsqueeze(1)
        prev = next_words[incomplete]
    return done_seqs[max(range(len(done_scores)), key=done_scores.__getitem__)]


def photos(n: int, preset: Preprocess) -> torch.Tensor:
    """Return n distinct photo tensors made from the sample photos (flips, crops, tints)."""
    samples = sorted((REPO / "resources" / "samples").glob("*.jpg"))
    out = []
    for i in range(n):
        rgb, _, _ = load_rgb(samples[i % len(samples)])
        variant = i // len(samples)
        if variant % 2:
            rgb = ImageOps.mirror(rgb)
        w, h = rgb.size
        c = variant * 7 % 40
        rgb = rgb.crop((c, c, w - c, h - c))
        if variant % 3 == 2:
            rgb = Image.blend(rgb, Image.new("RGB", rgb.size, (255, 200, 150)), 0.15)
        out.append(image_to_tensor(rgb, preset))
    return torch.stack(out)  # (n, 3, S, S)


def timed(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--random", action="store_true", help="use a random default-size decoder")
    ap.add_argument("--photos", type=int, default=32)
    ap.add_argument("--beam-size", type=int, default=5)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=torch.get_num_threads())
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    path = args.model or default_model_path()
    if args.random or not path.exists():
        torch.manual_seed(0)
        vocab = Vocab([*SPECIALS, *(f"w{i}" for i in range(2537))])
        cfg = ModelConfig.for_encoder(len(vocab), "efficientnet-lite2", max_caption_len=20)
        ckpt = Checkpoint(
            cfg,
            vocab,
            Preprocess.for_encoder(cfg.encoder),
            Decoder(cfg).state_dict(),
            name="random",
        )
        cap = Captioner(ckpt, "cpu")
        print("model: random default-size decoder (no trained model found)")
    else:
        cap = Captioner.load(path, "cpu")
        print(f"model: {cap.model_id} ({path})")
    max_len = cap.ckpt.config.max_caption_len
    k = args.beam_size
    images = photos(args.photos, cap.preprocess)
    feats = cap.encode(images)  # (n, P, E)
    v = cap.vocab
    print(
        f"photos: {len(images)}, beam size {k}, max length {max_len}, "
        f"torch threads {torch.get_num_threads()}"
    )

    t_batch, batched = timed(
        lambda: beam_search(
            cap.decoder, feats, beam_size=k, start=v.start, end=v.end, max_len=max_len
        ),
        args.repeats,
    )
    t_single, single = timed(
        lambda: [
            reference_beam_search(cap.decoder, feats[i : i + 1], k, v.start, v.end, max_len)
            for i in range(len(feats))
        ],
        args.repeats,
    )
    same = [list(b[0].tokens) for b in batched] == single
    print(f"batched beam search:   {len(feats) / t_batch:8.1f} captions/s")
    print(f"one photo at a time:   {len(feats) / t_single:8.1f} captions/s")
    print(f"speed-up (batched / one at a time): {t_single / t_batch:.1f}x (target >= 5x)")
    print(f"captions identical: {same}")
    if not same:
        diff = [(b, s) for b, s in zip(batched, single, strict=True) if list(b[0].tokens) != s]
        ties = sum(
            any(list(h.tokens) == s and abs(h.score - b[0].score) < 1e-4 for h in b)
            for b, s in diff
        )
        print(
            f"  {len(diff)} of {len(feats)} captions differ; {ties} of them are float "
            "near-ties (the reference's caption is in the n-best within 1e-4 log-prob)"
        )

    rep = Repetition.for_words(v.itos)

    def controlled(control: Repetition | None) -> list:
        return beam_search(
            cap.decoder,
            feats,
            beam_size=k,
            start=v.start,
            end=v.end,
            max_len=max_len,
            min_len=1,
            banned=v.never_generated(),
            repetition=control,
        )

    rounds: dict[str, list[float]] = {"on": [], "off": []}
    outs: dict[str, list] = {}
    for _ in range(args.repeats):  # alternate, so load changes hit both alike
        for key, control in (("off", None), ("on", rep)):
            t, outs[key] = timed(lambda c=control: controlled(c), 1)
            rounds[key].append(t)
    t_on, t_off = statistics.median(rounds["on"]), statistics.median(rounds["off"])
    words = {key: [v.decode(h[0].tokens) for h in out] for key, out in outs.items()}
    print(f"repetition control on:  {len(feats) / t_on:8.1f} captions/s")
    print(f"repetition control off: {len(feats) / t_off:8.1f} captions/s")
    print(f"on / off: {t_off / t_on:.2f} of the speed (target >= 0.90)")
    for key in ("off", "on"):
        ws = words[key]
        print(
            f"  control {key:3s}: {sum(map(repeated_content_bigram, ws))} captions with a "
            f"repeated content bigram, {sum(map(ends_on_function_word, ws))} ending on a "
            f"function word, {sum(a != b for a, b in zip(ws, words['off'], strict=True))} "
            "changed"
        )

    print("encoder only, batch 16, CPU:")
    for name in ("efficientnet-lite0", "efficientnet-lite1", "efficientnet-lite2"):
        enc = Encoder(name).eval()
        s = enc.spec.image_size
        x = torch.randn(16, 3, s, s)
        with torch.inference_mode():
            enc(x)  # warm-up
            t, _ = timed(lambda enc=enc, x=x: enc(x), args.repeats)
        print(f"  {name}: {16 / t:6.1f} photos/s  (input {s}x{s}, grid {enc.grid})")


if __name__ == "__main__":
    main()
