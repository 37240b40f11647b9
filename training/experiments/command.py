"""Command lines of the experiments (wired into ``python -m training`` by ``training/cli.py``)::

    python -m training usability --dataset NAME --set SET [--real-fractions 1,0.5,0.2,0.1]
        [--synthetic-multipliers 0,0.2,0.5,0.8,1,2,3] [--modes random,real-first,synthetic-first]
        [--augmentation-control] [--seeds 3] [--steps N] [--filter EXPR] [--name EXP]
        [--cap-synthetic] [--preset usability-paper] [--device cpu] [--set key=value ...] [--no-progress]
    python -m training usability-table NAME [--per-seed]

``--set`` is shared, as in the stage commands: ``--set key=value`` overrides a setting and a value
without ``=`` names the synthetic set (set names cannot contain ``=``); ``--synthetic-set SET`` is
the explicit spelling. Rerunning the same command continues an interrupted experiment.

This module does not import torch until an experiment runs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from synth_core.errors import ConfigError
from synth_core.workspace import Workspace

_MODES_HELP = "random, real-first, synthetic-first"


def add_usability_arguments(p: argparse.ArgumentParser) -> None:
    from training.experiments.config import list_presets

    p.add_argument("--dataset", help="real dataset (default: the preset's, else 'demo')")
    p.add_argument("--set", dest="set_items", action="append", default=[], metavar="SET|KEY=VALUE",
                   help="the synthetic set (a name), or override one setting as key=value (repeatable; "
                        "`python -m training usability --list-settings` lists them)")
    p.add_argument("--synthetic-set", metavar="SET", help="the synthetic set (same as --set SET)")
    p.add_argument("--real-fractions", metavar="F,F,...", help="fractions of the real train slices (default 1,0.5,0.2,0.1)")
    p.add_argument("--synthetic-multipliers", metavar="K,K,...",
                   help="synthetic amounts as multiples of the real slices used (default 0,0.2,0.5,0.8,1,2,3; 0 = baseline)")
    p.add_argument("--modes", metavar="M,M,...", help=f"mixing modes (default all: {_MODES_HELP})")
    p.add_argument("--augmentation-control", action="store_true",
                   help="add a classic-augmentation row (real only: flips, 90° rotations, intensity scaling) per fraction")
    p.add_argument("--seeds", type=int, help="repetitions, seeds 0..N-1 (default 3)")
    p.add_argument("--steps", type=int, help="most optimisation steps of each training phase (early stopping may "
                                             "end one sooner; with --set patience=0 exactly this many)")
    p.add_argument("--generators", choices=("per-fraction", "given-set"),
                   help="per-fraction (default): below 100 %% real, synthetic data from a generator trained on that "
                        "fraction only; given-set: --set for every row (the thesis's setting, leaks)")
    p.add_argument("--filter", metavar="EXPR", help="filter on the set's catalog, e.g. 'contour_outside == 0'")
    p.add_argument("--name", metavar="EXP", help="experiment folder name (default usability-<set>)")
    p.add_argument("--cap-synthetic", action="store_true",
                   help="when the set is too small, use all it has (rows noted) instead of refusing")
    p.add_argument("--preset", help=f"settings preset: {', '.join(list_presets()) or 'none'}")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="shorthand for --set device=...")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--list-settings", action="store_true", help="list every setting with its default and help, then exit")


def add_usability_table_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("name", metavar="NAME", help="experiment name (workspace/experiments/NAME)")
    p.add_argument("--per-seed", action="store_true", help="also print the per-seed rows")


def _split_list(raw: str | None, what: str) -> list[str] | None:
    if raw is None:
        return None
    items = [x.strip() for x in raw.split(",") if x.strip()]
    if not items:
        raise ConfigError(f"{what} is empty")
    return items


def config_from_args(args: argparse.Namespace):
    """The :class:`UsabilityConfig` the arguments describe (one-line errors for bad values)."""
    from synth_core.runs.config import parse_overrides
    from training.experiments.config import build_usability_config

    names = [s for s in args.set_items if "=" not in s]
    overrides = parse_overrides([s for s in args.set_items if "=" in s])
    if args.synthetic_set:
        names.append(args.synthetic_set)
    if len(set(names)) > 1:
        raise ConfigError(f"more than one synthetic set given: {', '.join(names)}")
    if names:
        overrides["synthetic_set"] = names[0]
    if args.dataset:
        overrides["dataset"] = args.dataset
    for flag, key in (("real_fractions", "real_fractions"), ("synthetic_multipliers", "synthetic_multipliers"),
                      ("modes", "modes")):
        items = _split_list(getattr(args, flag), "--" + flag.replace("_", "-"))
        if items is not None:
            overrides[key] = items
    if args.augmentation_control:
        overrides["augmentation_control"] = True
    if args.cap_synthetic:
        overrides["cap_synthetic"] = True
    for flag in ("seeds", "steps", "filter", "name", "device", "generators"):
        if getattr(args, flag) is not None:
            overrides[flag] = getattr(args, flag)
    return build_usability_config(args.preset, overrides)


def run_usability_command(args: argparse.Namespace, ws: Workspace) -> int:
    if args.list_settings:
        from training.experiments.config import build_usability_config, usability_fields

        cfg = build_usability_config(args.preset, {})
        for f in usability_fields():
            print(f"{f['name']:<22} {f['type']:<6} {getattr(cfg, f['name'])!s:<24} {f['help']}")
        return 0
    cfg = config_from_args(args)
    from synth_core.experiments.results import format_table, summarise
    from training.experiments.usability import run_usability

    try:
        store = run_usability(ws, cfg, progress=not args.no_progress)
    except KeyboardInterrupt:
        print("error: interrupted; rerun the same command to continue (finished configurations are kept)",
              file=sys.stderr)
        return 130
    print(f"usability: {cfg.experiment_name} -> {store.path}")
    print(format_table(summarise(store.read_results())))
    return 0


def run_usability_table_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.workspace import validate_name
    from synth_core.experiments.results import format_table, load_experiment, order_columns

    validate_name(args.name, "experiment name")
    config, summary, per_seed = load_experiment(ws, args.name)
    c = config.get("config", {})
    n_done, n_all = len(per_seed), len(config.get("grid", [])) * len(config.get("seeds", []))
    stop = (f"early stopping on {config.get('n_val_slices', '?')} real validation slices (patience {c.get('patience')}, "
            f"every {c.get('val_every')} steps, at most {c.get('steps')} per phase)" if c.get("patience")
            else f"{c.get('steps')} steps per configuration")
    print(f"experiment {args.name}: dataset {config.get('dataset')}, set {config.get('set')}, {stop}, "
          f"{n_done}/{n_all} trainings finished")
    for f, g in sorted((config.get("generators") or {}).items(), key=lambda kv: -float(kv[0])):
        print(f"  generator of {float(f) * 100:g}% real: trained on {g.get('n_real')} slices of {len(g.get('cases', []))} "
              f"cases only ({g.get('preset')} x{g.get('scale'):g}), set {g.get('set')}")
    print(format_table(summary))
    print("Dice: mean foreground-class Dice; MSE: softmax probability vs one-hot label, mean over pixels and classes; "
          "HD95 in pixels (one empty mask = image diagonal). Test data: real test slices with a lesion. "
          "mean ± sample sd over seeds.")
    if args.per_seed and not per_seed.empty:
        print()
        cols = ["config", "seed", "n_real", "n_synthetic", "steps_real", "steps_synthetic", "steps_mixed",
                "steps_run", "best_step", "val_dice", "dice", "dice_lesion", "mse", "hd95", "seconds"]
        print(order_columns(per_seed)[[x for x in cols if x in per_seed]].to_string(index=False))
    return 0


def build_parser() -> argparse.ArgumentParser:
    """A stand-alone parser with the two commands (``python -m training.experiments``; tests)."""
    parser = argparse.ArgumentParser(prog="python -m training.experiments", description="Downstream experiments.")
    parser.add_argument("--workspace", help="workspace folder (default: $MEDSYNTH_WORKSPACE or ./workspace)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    add_usability_arguments(sub.add_parser("usability", help="train segmenters on real/synthetic mixes (Table 5)"))
    add_usability_table_arguments(sub.add_parser("usability-table", help="print a usability experiment's table"))
    return parser


def dispatch(args: argparse.Namespace, ws: Workspace) -> int | None:
    """Run ``args.command`` if it is an experiment command; ``None`` otherwise."""
    if args.command == "usability":
        return run_usability_command(args, ws)
    if args.command == "usability-table":
        return run_usability_table_command(args, ws)
    return None


def main(argv: Sequence[str] | None = None) -> int:
    from synth_core.cli_edge import run_at_edge

    args = build_parser().parse_args(argv)
    return run_at_edge(lambda: dispatch(args, Workspace.open(args.workspace)), debug=args.debug,
                       interrupted="interrupted; rerun the same command to continue", catch_bugs=False)
