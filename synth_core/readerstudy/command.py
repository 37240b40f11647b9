"""``python -m synth_core reader-study``: create a blinded study, or score it.

    reader-study create NAME --dataset D --set S --n-real R --n-synthetic K --modality M
                             [--window LOW,HIGH | --window percentile[:LO,HI]] [--seed N] [--split test|val]
    reader-study results NAME [--json]

Readers answer in the dashboard (Reader study page); the answers land in the study's
``responses.jsonl``, which ``results`` scores.
"""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from synth_core.errors import ConfigError
from synth_core.workspace import Workspace

WINDOW_HELP = ("display window for every image: LOW,HIGH in stored [0, 1] units (default 0,1: as stored), "
               "or 'percentile' (each image's own 1-99 %% window; 'percentile:LO,HI' for other percentiles)")


def parse_window(text: str | None) -> dict[str, Any] | None:
    """``"0.1,0.9"`` -> ``{"low": 0.1, "high": 0.9}``; ``"percentile"`` / ``"percentile:2,98"`` ->
    ``{"percentile": [lo, hi]}``; ``None`` -> ``None`` (as stored)."""
    if text is None:
        return None
    t = text.strip().lower()
    try:
        if t.startswith("percentile"):
            rest = t[len("percentile"):].lstrip(":")
            lo, hi = (float(v) for v in rest.split(",")) if rest else (1.0, 99.0)
            return {"percentile": [lo, hi]}
        low, high = (float(v) for v in t.split(","))
        return {"low": low, "high": high}
    except ValueError:
        raise ConfigError(f"--window {text!r} must be LOW,HIGH (e.g. 0.1,0.9), 'percentile' or 'percentile:LO,HI'") from None


def add_reader_study_arguments(parser: argparse.ArgumentParser) -> None:
    """Sub-commands ``create`` and ``results`` of ``reader-study``."""
    sub = parser.add_subparsers(dest="study_command", required=True, metavar="ACTION")
    p = sub.add_parser("create", help="make a blinded, shuffled set of real (test-split) and synthetic images")
    p.add_argument("name", metavar="NAME", help="study name in the workspace (letters, digits, . _ -)")
    p.add_argument("--dataset", required=True, help="dataset the real images come from")
    p.add_argument("--set", required=True, dest="set_name", metavar="SET", help="synthetic set made from that dataset")
    p.add_argument("--n-real", required=True, type=int, help="number of real images (from the test split)")
    p.add_argument("--n-synthetic", required=True, type=int, help="number of synthetic images")
    p.add_argument("--modality", required=True, help="modality shown to the readers (e.g. t1)")
    p.add_argument("--window", help=WINDOW_HELP)
    p.add_argument("--seed", type=int, default=0, help="seeds which images are drawn and their order (default 0)")
    p.add_argument("--split", default="test", metavar="SPLIT",
                   help="split of the real images: test (default) or val; never train, which the generator saw")
    p = sub.add_parser("results", help="score the readers' answers against the key")
    p.add_argument("name", metavar="NAME", help="study name")
    p.add_argument("--json", action="store_true", help="print JSON (all tables)")


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if math.isnan(v) else f"{v:.3f}"
    return str(v)


def run_reader_study_command(args: argparse.Namespace, ws: Workspace) -> int:
    """Run ``reader-study create`` or ``reader-study results``; 0 on success."""
    from synth_core.readerstudy import create_study, open_study, results

    if args.study_command == "create":
        path = create_study(ws, args.name, dataset=args.dataset, set_name=args.set_name, n_real=args.n_real,
                            n_synthetic=args.n_synthetic, modality=args.modality, window=parse_window(args.window),
                            seed=args.seed, split=args.split)
        meta = open_study(ws, args.name).meta
        print(f"created reader study {args.name!r}: {meta['counts']['real']} real ({meta['split']} split) + "
              f"{meta['counts']['synthetic']} synthetic images from set {args.set_name!r}, modality "
              f"{args.modality}, shuffled with seed {args.seed} -> {path}")
        print("readers answer on the dashboard's Reader study page; then run "
              f"`python -m synth_core reader-study results {args.name}`")
        return 0

    res = results(ws, args.name)
    if args.json:
        print(json.dumps(res.to_json(), indent=2))
        return 0
    o = res.overall
    print(f"study        {args.name}  ({res.study['dataset']} / set {res.study['set']}, {res.study['modality']}, "
          f"{res.study['counts']['real']} real + {res.study['counts']['synthetic']} synthetic)")
    if o["n_answers"] == 0:
        print("answers      none yet (readers answer on the dashboard's Reader study page)")
        return 0
    print(f"answers      {o['n_answers']} from {o['n_raters']} rater(s)")
    print(f"overall      accuracy {_fmt(o['accuracy'])}  sensitivity {_fmt(o['sensitivity'])}  "
          f"specificity {_fmt(o['specificity'])}  AUC {_fmt(o['auc'])}  mean kappa {_fmt(o['mean_kappa'])}")
    print("per rater")
    for r in res.raters.itertuples():
        print(f"  {r.rater:<20} {r.n_answered:>4} answered  accuracy {_fmt(r.accuracy)}  sensitivity "
              f"{_fmt(r.sensitivity)}  specificity {_fmt(r.specificity)}  AUC {_fmt(r.auc)}")
    if len(res.kappa):
        print("Cohen's kappa")
        for k in res.kappa.itertuples():
            print(f"  {k.rater_a} / {k.rater_b}: {_fmt(k.kappa)} on {k.n_common} common items")
    return 0
