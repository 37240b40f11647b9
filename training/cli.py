"""``python -m training <stage> ...`` — train one stage, resume a run, or train the whole demo.

Also under torchrun: ``torchrun --nproc_per_node=2 -m training segmenter --dataset demo``.
User errors print one line ``error: ...`` and exit 2.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from synth_core.cli_edge import run_at_edge
from synth_core.errors import ConfigError
from synth_core.workspace import Workspace
from synth_core.runs.config import build_config, describe_fields, list_presets, make_config, parse_overrides
from training.stages import STAGES, get_config_class, get_stage

DEMO_RUNS = Path(__file__).resolve().parents[1] / "demo_assets" / "runs"
#: settings that ``--resume`` may change: how long, where and how often it writes, never what it learns
RESUME_SETTINGS = ("steps", "device", "threads", "sample_every", "checkpoint_every", "val_every")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--dataset", help="dataset name in the workspace (default: the preset's, else 'demo')")
    p.add_argument("--preset", default=None, help=f"configuration preset: {', '.join(list_presets())}")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[],
                   help="override one setting (repeatable); `python -m training config STAGE` lists them")
    p.add_argument("--steps", type=int, help="shorthand for --set steps=N")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="shorthand for --set device=...")
    p.add_argument("--run-name", help="name of the run folder (default: <stage>-<date>-<time>-<random>)")
    p.add_argument("--resume", metavar="RUN", help="continue RUN from its last checkpoint with its saved settings; "
                   f"only {', '.join(RESUME_SETTINGS)} may change (--steps N: train on to step N)")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description="Train the MedSynth synthesis pipeline.")
    parser.add_argument("--workspace", help="workspace folder (default: $MEDSYNTH_WORKSPACE or ./workspace)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in STAGES:
        _common(sub.add_parser(name, help=f"train the {name} stage"))
    p = sub.add_parser("demo", help="train every stage on the demo dataset with the cpu-demo preset")
    p.add_argument("--dataset", default="demo")
    p.add_argument("--preset", default="cpu-demo")
    p.add_argument("--set", dest="overrides", action="append", metavar="KEY=VALUE", default=[])
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--copy-to", help="also copy the small demo checkpoints into this folder")
    p.add_argument("--jobs", type=int, metavar="N",
                   help="train the four stages that need no other run (structure, pix2pix, segmenter, translator) "
                        "in N processes at once, then the image generator on every core (default: one per CPU "
                        "core, at most 4; 1 = one stage after another)")
    p = sub.add_parser("slim-copy", help="write float16 weights-only copies of finished runs (what demo --copy-to "
                                         "writes), e.g. to ship them in demo_assets/runs")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--to", required=True, help="destination folder (each run goes to DEST/RUN, replaced)")
    p = sub.add_parser("install-demo-runs", help="copy the shipped demo runs (demo_assets/runs) into the workspace")
    p.add_argument("--source", default=str(DEMO_RUNS), help="folder of shipped runs")
    p = sub.add_parser("config", help="list the settings of a stage with defaults and help")
    p.add_argument("stage", choices=list(STAGES))
    p.add_argument("--preset", default=None)
    from training.experiments.command import add_usability_arguments, add_usability_table_arguments

    add_usability_arguments(sub.add_parser("usability", help="train segmenters on real/synthetic mixes, test on "
                                                             "real data only (thesis Table 5)"))
    add_usability_table_arguments(sub.add_parser("usability-table", help="print a usability experiment's table"))
    from training.experiments.ablation_command import add_ablation_arguments, add_ablation_table_arguments

    add_ablation_arguments(sub.add_parser("ablation", help="thesis Table 1: train, synthesise and score the "
                                                           "multimodal stage with one part switched off per row"))
    add_ablation_table_arguments(sub.add_parser("ablation-table", help="print an ablation experiment's table"))
    return parser


def run_stage(name: str, args: argparse.Namespace, ws: Workspace) -> int:
    from training.loop import Trainer
    from synth_core.runs.folder import RunDir

    stage_cls = get_stage(name)
    overrides = parse_overrides(args.overrides)
    if args.steps is not None:
        overrides["steps"] = args.steps
    if args.device:
        overrides["device"] = args.device
    if args.resume:
        saved = RunDir.open(ws, args.resume).read_config()
        cfg = resume_config(stage_cls.config_cls, saved["config"], overrides,
                            given=[f"--{o}" for o in ("dataset", "preset", "run_name") if getattr(args, o)])
    else:
        if args.dataset:
            overrides["dataset"] = args.dataset
        cfg = build_config(stage_cls.config_cls, name, args.preset, overrides)
    run = Trainer(stage_cls, cfg, ws, run_id=args.run_name, resume=args.resume, progress=not args.no_progress).run()
    if run is not None and int(__import__("os").environ.get("RANK", "0")) == 0:
        status = run.read_status()
        print(f"{name}: run {run.run_id} {status.get('state')} at step {status.get('step')} -> {run.path}")
    return 0


def resume_config(cls: type, saved: dict[str, Any], overrides: dict[str, Any], *, given: list[str]) -> Any:
    """The saved settings of a run to resume with ``overrides`` applied; only :data:`RESUME_SETTINGS`
    may change (a ConfigError names the others and what to do instead)."""
    refused = [g.replace("_", "-") for g in given] + [f"--set {k}" for k in sorted(set(overrides) - set(RESUME_SETTINGS))]
    if refused:
        raise ConfigError(f"--resume continues a run with its saved settings; {', '.join(refused)} cannot change "
                          f"(only {', '.join(RESUME_SETTINGS)} can): start a new run for other settings")
    return make_config(cls, {**saved, **overrides})


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return run_at_edge(lambda: _dispatch(args), debug=args.debug, interrupted="interrupted; resume with --resume RUN",
                       catch_bugs=False)


def _dispatch(args: argparse.Namespace) -> int:
    ws = Workspace.open(args.workspace)
    if args.command == "config":
        cls = get_config_class(args.stage)
        cfg = build_config(cls, args.stage, args.preset, {})
        for f in describe_fields(cls):
            print(f"{f['name']:<24} {f['type']:<6} {getattr(cfg, f['name'])!s:<14} {f['help']}")
        return 0
    if args.command == "slim-copy":
        from training.demo import slim_copy
        from synth_core.runs.folder import RunDir

        runs = [RunDir.open(ws, rid) for rid in args.runs]
        for run in runs:  # check every run first: nothing is written when one is not finished
            if run.read_status().get("state") != "finished":
                raise ConfigError(f"run {run.run_id!r} is {run.read_status().get('state')!r}, not finished; "
                                  "only finished runs are copied")
        for run in runs:
            slim_copy(run, Path(args.to) / run.run_id)
        print(f"slim copies of {', '.join(args.runs)} written to {args.to}")
        return 0
    if args.command == "install-demo-runs":
        from training.demo import install_demo_runs

        copied = install_demo_runs(ws, Path(args.source))
        print(f"installed demo runs: {', '.join(copied)}" if copied else "demo runs: nothing to install")
        return 0
    if args.command in ("ablation", "ablation-table"):
        from training.experiments.ablation_command import dispatch as ablation_dispatch

        return ablation_dispatch(args, ws)
    if args.command in ("usability", "usability-table"):
        from training.experiments.command import dispatch

        return dispatch(args, ws)
    if args.command == "demo":
        from training.demo import default_jobs, run_demo

        return run_demo(ws, dataset=args.dataset, preset=args.preset, overrides=parse_overrides(args.overrides),
                        progress=not args.no_progress, copy_to=args.copy_to,
                        jobs=default_jobs() if args.jobs is None else args.jobs)
    return run_stage(args.command, args, ws)
