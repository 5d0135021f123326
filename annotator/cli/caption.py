"""``annotator caption``: caption photos and print the results."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from annotator.cli._common import (
    add_beam_size,
    add_device,
    add_engine,
    add_guidance,
    add_model,
    user_settings,
)
from annotator.core.settings import DEFAULT_LENGTH_PENALTY


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``caption`` subcommand."""
    p = sub.add_parser(
        "caption",
        help="caption photos and print one caption per photo",
        description="Caption photos with the attention captioner. Bad files are "
        "reported one line each; the others still get captions; the "
        "exit status is 1 if any photo failed.",
    )
    p.add_argument("images", nargs="+", metavar="IMAGE")
    add_model(p)
    add_beam_size(p)
    p.add_argument(
        "--length-penalty",
        type=float,
        default=DEFAULT_LENGTH_PENALTY,
        help="rank hypotheses by score / length**alpha "
        f"(default {DEFAULT_LENGTH_PENALTY}, picked on validation; 0: total score)",
    )
    p.add_argument("--batch-size", type=int, default=16)
    add_guidance(p)
    add_device(p)
    add_engine(p)
    p.add_argument("--json", action="store_true", help="print JSON with scores and n-best")
    p.add_argument(
        "--attention-plot",
        metavar="OUT.png",
        help="write the per-word attention visualisation (one file per photo; with "
        "several photos the photo's name is appended)",
    )
    p.set_defaults(func=run)


def _plot_path(base: Path, photo: Path, many: bool) -> Path:
    return base.with_name(f"{base.stem}-{photo.stem}{base.suffix or '.png'}") if many else base


def run(args: argparse.Namespace) -> int:
    """Run ``annotator caption``."""
    from annotator.core.types import CaptionResult
    from annotator.model.captioner import Captioner
    from annotator.model.preprocess import load_rgb

    if args.beam_size is not None and args.beam_size < 1:
        print("annotator: error: --beam-size must be at least 1", file=sys.stderr)
        return 2
    settings = user_settings(args)
    captioner = Captioner.load(
        settings.model or None, settings.device, engine=args.engine, precision=args.precision
    )
    paths = [Path(p) for p in args.images]
    results = captioner.caption_files(
        paths,
        batch_size=args.batch_size,
        beam_size=settings.beam_size,
        length_penalty=args.length_penalty,
        guidance=args.guidance,
    )
    failed = 0
    records: list[dict[str, object]] = []
    for path, res in zip(paths, results, strict=True):
        if not isinstance(res, CaptionResult):
            failed += 1
            print(f"annotator: error: {path}: {res.reason}", file=sys.stderr)
            records.append({"path": str(path), "error": res.reason})
            continue
        if args.attention_plot:
            from annotator.model.plot import attention_figure

            photo, _, _ = load_rgb(path, target=512)
            attention_figure(
                photo, res, _plot_path(Path(args.attention_plot), path, len(paths) > 1)
            )
        if args.json:
            records.append(
                {
                    "path": str(path),
                    "caption": res.text,
                    "score": res.score,
                    "confidence": res.confidence,
                    "words": list(res.words),
                    "word_logprobs": list(res.word_logprobs),
                    "model": res.model_id,
                    "beam_size": res.beam_size,
                    "alternatives": [
                        {"caption": a.text, "score": a.score} for a in res.alternatives
                    ],
                    "keywords": [
                        {
                            "word": k.word,
                            "hierarchy": list(k.hierarchy),
                            "probability": k.probability,
                        }
                        for k in res.keywords
                    ],
                }
            )
        else:
            keywords = f"\t[{', '.join(k.word for k in res.keywords)}]" if res.keywords else ""
            print(f"{path}\t{res.text}{keywords}")
    if args.json:
        print(json.dumps(records, indent=2, ensure_ascii=False))
    return 1 if failed else 0
