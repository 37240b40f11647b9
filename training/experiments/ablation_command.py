"""Command lines of the ablation study (thesis Table 1; wired into ``python -m training`` by
``training/cli.py``)::

    python -m training ablation --dataset NAME [--rows A,B,C,D,E,F] [--steps N] [--pretrain-steps N]
        [--n N] [--seeds K] [--name EXP] [--preset cpu-demo] [--set key=value ...] [--no-frd] [--device cpu]
        [--no-progress] [--list-settings]
    python -m training ablation-table NAME

``--set key=value``: a key of the experiment's own settings (``--list-settings``: ``n_frd``,
``checkpoint``, ``threads``, ...) sets it; any other key is a multimodal-stage setting applied to
every row (``python -m training config multimodal`` lists them), e.g. ``--set base_channels=16`` or
``--set segmenter_run=RUN`` to pick a helper run; ``--set judge_steps=N`` / ``judge_width`` /
``judge_seed`` and ``--set judge.KEY=VALUE`` set the two judge runs that score every row. Rerunning the same command continues an
interrupted experiment; adding rows or seeds (``--seeds 3``) extends it.

This module does not import torch until an experiment runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from synth_core.workspace import Workspace


def add_ablation_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help="real dataset with lesion labels (default 'demo')")
    p.add_argument("--rows", metavar="A,B,...", help="thesis Table 1 rows (default all: A,B,C,D,E,F)")
    p.add_argument("--steps", type=int, help="adversarial steps of every row (default 120)")
    p.add_argument("--pretrain-steps", type=int, help="pre-training steps of every row (default 100)")
    p.add_argument("--n", type=int, help="samples per set, the same seed for every row (default 64)")
    p.add_argument("--seeds", type=int, metavar="K",
                   help="train every row K times (seeds S..S+K-1, S from --set seed=S, default 0) and report mean ± sd "
                        "(default 1; rerun with a larger K to add seeds)")
    p.add_argument("--name", metavar="EXP", help="experiment folder name (default ablation-<dataset>)")
    p.add_argument("--preset", help="training preset whose multimodal section every row uses (default cpu-demo)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                   help="an experiment setting (see --list-settings) or a multimodal setting for every row "
                        "(repeatable)")
    p.add_argument("--no-frd", action="store_true", help="skip FRD (the slowest metric)")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="shorthand for --set device=...")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--list-settings", action="store_true", help="list the experiment's settings, then exit")


def add_ablation_table_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="experiment name (workspace/experiments/NAME)")


def config_from_args(args: argparse.Namespace):
    """The :class:`AblationConfig` the arguments describe (one-line errors for bad values)."""
    from training.experiments.ablation_config import build_ablation_config, split_settings

    values, multimodal = split_settings(args.overrides)
    for flag, key in (("dataset", "dataset"), ("rows", "rows"), ("steps", "steps"),
                      ("pretrain_steps", "pretrain_steps"), ("n", "n"), ("seeds", "seeds"), ("name", "name"),
                      ("preset", "preset"), ("device", "device")):
        if getattr(args, flag, None) is not None:
            values[key] = getattr(args, flag)
    if args.no_frd:
        values["frd"] = False
    values["multimodal"] = tuple(multimodal)
    return build_ablation_config(values)


def run_ablation_command(args: argparse.Namespace, ws: Workspace) -> int:
    if args.list_settings:
        from training.experiments.ablation_config import ablation_fields, build_ablation_config

        cfg = build_ablation_config({})
        for f in ablation_fields():
            print(f"{f['name']:<16} {f['type']:<6} {getattr(cfg, f['name'])!s:<28} {f['help']}")
        return 0
    cfg = config_from_args(args)
    from synth_core.experiments.ablation import format_ablation, load_ablation
    from training.experiments.ablation import run_ablation

    try:
        store = run_ablation(ws, cfg, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to continue (finished rows are kept)", file=sys.stderr)
        return 130
    print(f"ablation: {cfg.experiment_name} -> {store.path}")
    print(format_ablation(load_ablation(ws, cfg.experiment_name)[1]))
    return 0


def run_ablation_table_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.experiments.ablation import ROWS, format_ablation, load_ablation

    config, summary = load_ablation(ws, args.name)
    c = config.get("config", {})
    rows, seeds = config.get("rows", ROWS), config.get("seeds", [c.get("seed", 0)])
    done = summary["row"].nunique()
    print(f"ablation {args.name}: dataset {config.get('dataset')}, {c.get('pretrain_steps')} + {c.get('steps')} "
          f"steps per row, {c.get('n')} samples per set, {done}/{len(rows)} rows finished"
          + (f" ({len(summary)}/{len(rows) * len(seeds)} trainings over {len(seeds)} seeds; mean ± sd over seeds)"
             if len(seeds) > 1 else ""))
    print(format_ablation(summary))
    judges = config.get("judges") or {}
    print("lesion Dice and reg err: scored by " + (f"the judge runs {', '.join(j['run_id'] for j in judges.values())} "
                                                   "(trained separately; the '(helper)' columns: the training helpers, "
                                                   "circular)" if judges else "the training helpers (circular: the "
                                                   "experiment predates judges)"))
    print("lesion Dice: segmenter on the synthetic images vs the placed labels (mean over modalities); reg err: "
          "translator consistency; outside: lesion pixels outside the generated organ; FID/KID in the segmenter "
          "encoder's features; FRD: radiomics; MS-SSIM: pairwise similarity (lower = more diverse); rec PSNR: G "
          "rebuilding real test slices from their own structure map and label.")
    return 0


def dispatch(args: argparse.Namespace, ws: Workspace) -> int | None:
    """Run ``args.command`` if it is an ablation command; ``None`` otherwise."""
    if args.command == "ablation":
        return run_ablation_command(args, ws)
    if args.command == "ablation-table":
        return run_ablation_table_command(args, ws)
    return None


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser with the two commands (tests; ``python -m training`` has the same)."""
    parser = argparse.ArgumentParser(prog="python -m training", description="The ablation study (thesis Table 1).")
    parser.add_argument("--workspace", help="workspace folder (default: $MEDSYNTH_WORKSPACE or ./workspace)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_ablation_arguments(sub.add_parser("ablation", help="train, synthesise and score thesis Table 1's rows"))
    add_ablation_table_arguments(sub.add_parser("ablation-table", help="print an ablation experiment's table"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    from synth_core.cli_edge import run_at_edge

    args = build_parser().parse_args(argv)
    return run_at_edge(lambda: dispatch(args, Workspace.open(args.workspace)), debug=args.debug,
                       interrupted="interrupted; rerun the same command to continue", catch_bugs=False)


if __name__ == "__main__":
    sys.exit(main())
