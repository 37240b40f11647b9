"""``python -m synth_core evaluate``: score a synthetic set against its real dataset and print the table.

    python -m synth_core evaluate --set SET --real NAME [--features own|PATH] [--split test]
                                  [--n-frd 64] [--n-pairs 256] [--n-max 500] [--seed 0]
                                  [--segmenter-run RUN] [--pix2pix-run RUN] [--translator-run RUN]
                                  [--judge-segmenter RUN] [--judge-translator RUN] [--no-frd]
                                  [--frd-workers 1] [--no-realism] [--device cpu] [--no-progress]

Lesion validity and registration are scored by the set's generator's training helpers (labelled
"scored by the training helper (circular)") unless other runs are given; ``--judge-segmenter`` and
``--judge-translator`` add rows scored by runs trained separately (labelled "scored by the
independent judge"; a judge that is one of the training helpers is refused).

The rows are also merged into ``workspace/synthetic/SET/evaluation.parquet``; the per-sample realness
goes to ``workspace/synthetic/SET/realness.parquet`` (joined into the catalog).
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from synth_core.workspace import Workspace, validate_name

if TYPE_CHECKING:  # pandas is imported when a table is printed, not when the CLI parser is built
    import pandas as pd


def add_evaluate_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--set", required=True, dest="set_name", metavar="SET", help="synthetic set to evaluate")
    parser.add_argument("--real", required=True, metavar="NAME", help="the real dataset the set was made from")
    parser.add_argument("--features", default="own", metavar="own|PATH",
                        help="FID/KID feature space: 'own' (the segmenter run's encoder, default, offline) or the path "
                             "of a local FID Inception weight file (pytorch-fid's pt_inception-2015-12-05-6726825d.pth)")
    parser.add_argument("--split", default="test", help="real split to compare with (default test)")
    parser.add_argument("--n-frd", type=int, default=64, help="slices per side for FRD (radiomics is slow; default 64)")
    parser.add_argument("--n-pairs", type=int, default=256, help="random pairs for diversity MS-SSIM (default 256)")
    parser.add_argument("--n-max", type=int, default=500, help="at most this many real and synthetic slices for the "
                                                               "other metrics (default 500)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every sample, pair and noise draw (default 0)")
    parser.add_argument("--segmenter-run", default=None, metavar="RUN",
                        help="segmenter run for own features and lesion validity (default: the set's, else the "
                             "multimodal run's helper, else the newest on the dataset)")
    parser.add_argument("--pix2pix-run", default=None, metavar="RUN",
                        help="pix2pix run for the lesion-fill metrics (default: the set's, else the newest on the dataset)")
    parser.add_argument("--translator-run", default=None, metavar="RUN",
                        help="translator run for the registration error (default: the multimodal run's helper)")
    parser.add_argument("--judge-segmenter", default=None, metavar="RUN",
                        help="an independent segmenter run (not one the generator trained against) that also scores "
                             "lesion validity")
    parser.add_argument("--judge-translator", default=None, metavar="RUN",
                        help="an independent translator run that also scores the registration error")
    parser.add_argument("--no-frd", action="store_true", help="skip FRD (the slowest metric)")
    parser.add_argument("--frd-workers", type=int, default=1, help="processes for radiomics extraction (default 1)")
    parser.add_argument("--no-realism", action="store_true",
                        help="skip the classifier two-sample test (c2st_auc), precision/recall/density/coverage "
                             "(prd_*) and the per-sample realness column")
    parser.add_argument("--device", default="cpu", help="torch device for the networks (default cpu)")
    parser.add_argument("--no-progress", action="store_true", help="no progress lines on stderr")


def format_table(df: "pd.DataFrame") -> str:
    """The rows as an aligned text table (modality, metric, region, value, n, extractor, note)."""
    import pandas as pd

    if df.empty:
        return "(no rows)"
    show = df[["modality", "metric", "region", "value", "n", "extractor", "note"]].copy()
    show["value"] = [("nan" if pd.isna(v) else f"{v:.6g}") for v in show["value"]]
    return show.to_string(index=False)


def run_evaluate_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.evaluation.evaluate import evaluate_set

    validate_name(args.set_name, "set name")
    validate_name(args.real, "dataset name")

    def progress(fraction: float, message: str) -> None:
        print(f"[{fraction * 100:5.1f} %] {message}", file=sys.stderr, flush=True)

    df = evaluate_set(ws, args.set_name, args.real, features=args.features, split=args.split, n_frd=args.n_frd,
                      n_pairs=args.n_pairs, n_max=args.n_max, seed=args.seed, segmenter_run=args.segmenter_run,
                      pix2pix_run=args.pix2pix_run, translator_run=args.translator_run,
                      judge_segmenter=args.judge_segmenter, judge_translator=args.judge_translator, frd=not args.no_frd, frd_workers=args.frd_workers,
                      realism=not args.no_realism, device=args.device, progress=None if args.no_progress else progress)
    print(f"set {args.set_name}  vs  dataset {args.real} ({args.split})  ->  "
          f"{ws.synthetic / args.set_name / 'evaluation.parquet'}")
    print(format_table(df))
    return 0
