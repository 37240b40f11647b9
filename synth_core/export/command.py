"""``python -m synth_core export`` and ``check-export``: arguments -> library call -> summary.

``export`` prints a progress bar on stderr and a summary on stdout; ``check-export NAME`` prints
each problem and exits 1 when there are any, 0 when the export is clean. User errors are raised
as :class:`~synth_core.errors.SynthCoreError` and printed as one line by the CLI edge.
"""

from __future__ import annotations

import argparse
import sys

from synth_core.export.folds import describe as describe_folds
from synth_core.export.options import FORMATS, ExportOptions, ExportResult
from synth_core.workspace import Workspace


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``export`` (defaults are :class:`ExportOptions`')."""
    d = ExportOptions(dataset="x", out="x")
    parser.add_argument("--dataset", required=True, metavar="NAME", help="real dataset to export")
    parser.add_argument("--set", dest="set_name", metavar="SET", help="synthetic set to add to the training part (default: real data only)")
    parser.add_argument("--filter", metavar="EXPR", help="keep synthetic samples passing this catalog filter, e.g. 'dice_t1 > 0.5 and nn_dist >= 0.1'")
    parser.add_argument("--out", required=True, metavar="NAME", help="export name: workspace/exports/NAME (letters, digits, . _ -)")
    # no argparse choices: an unknown format is reported as one line like every other error
    parser.add_argument("--format", dest="fmt", default=d.fmt, metavar="FORMAT", help=f"layout: {', '.join(FORMATS)} (default {d.fmt})")
    parser.add_argument("--synthetic-ratio", type=float, metavar="R", help="synthetic cases = round(R x real training cases), drawn with --seed (default: every sample that passes)")
    parser.add_argument("--min-nn-dist", type=float, metavar="D", help="block samples closer than D to their nearest real training slice (catalog nn_dist): memorisation screen")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of the synthetic draw with --synthetic-ratio (default {d.seed})")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def options_from_args(args: argparse.Namespace) -> ExportOptions:
    return ExportOptions(dataset=args.dataset, out=args.out, set_name=args.set_name, filter=args.filter, fmt=args.fmt,
                         synthetic_ratio=args.synthetic_ratio, min_nn_dist=args.min_nn_dist, seed=args.seed)


def summary_lines(r: ExportResult) -> list[str]:
    """The summary ``export`` prints (also handy for pages)."""
    lines = [
        f"export       {r.path.name}  ({r.fmt}) -> {r.path}",
        f"real         train {r.n_real_train} (dataset train + val), test {r.n_real_test}",
    ]
    if r.set_name is None:
        lines.append("synthetic    none (no --set)")
    else:
        wanted = "" if r.n_wanted is None else f" (ratio wants {r.n_wanted})"
        lines.append(f"synthetic    {r.n_synthetic} from set {r.set_name}{wanted}; blocked {r.n_blocked} "
                     f"(memorisation), filtered out {r.n_filtered_out}, not drawn {r.n_not_drawn}, "
                     f"rejected in review {r.n_rejected}")
    lines.append(f"files        {r.n_files} images and labels + dataset.json, manifest.parquet, manifest.csv")
    lines.append(f"folds        {describe_folds(r.n_folds)}")
    lines.extend(f"note         {n}" for n in r.notes)
    return lines


def run_export_command(args: argparse.Namespace, ws: Workspace) -> int:
    from tqdm import tqdm

    from synth_core.export.build import run_export

    options = options_from_args(args)
    with tqdm(total=0, desc=f"export {options.out}", unit="case", file=sys.stderr,
              disable=True if args.no_progress else None) as bar:
        def progress(done: int, total: int) -> None:
            if bar.total != total:
                bar.total = total
            bar.update(done - bar.n)

        result = run_export(ws, options, progress=progress)
    for line in summary_lines(result):
        print(line)
    return 0


def add_check_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("name", metavar="NAME", help="export in workspace/exports")


def run_check_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.export.check import check_export

    path = ws.existing("exports", args.name)
    problems = check_export(path)
    for p in problems:
        print(f"problem: {p}")
    if problems:
        print(f"export {args.name!r}: {len(problems)} problem(s)")
        return 1
    print(f"export {args.name!r}: no problems ({path})")
    return 0
