"""``python -m synth_core demo-data``: build the embedded demo dataset into the workspace."""

from __future__ import annotations

import argparse
import logging
import time

from synth_core.errors import ExistsError
from synth_core.workspace import Workspace

log = logging.getLogger(__name__)


def add_demo_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of ``demo-data`` (defaults are :class:`synth_core.demo.build.DemoParams`')."""
    parser.add_argument("--name", default="demo", help="dataset name in the workspace (default: demo)")
    parser.add_argument("--subjects", type=int, default=40, help="number of simulated subjects (default: 40)")
    parser.add_argument("--seed", type=int, default=0, help="random seed; the same seed gives the same dataset (default: 0)")
    parser.add_argument("--size", type=int, default=128, help="slice size in pixels (default: 128)")
    parser.add_argument("--slices", type=int, default=24, dest="slices_per_subject", help="at most this many axial slices per subject (default: 24)")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--if-missing", action="store_true", help="do nothing (exit 0) if the dataset already exists")
    group.add_argument("--overwrite", action="store_true", help="replace an existing dataset of the same name")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def run_demo_command(args: argparse.Namespace, ws: Workspace) -> int:
    """Build the demo dataset ``args.name``; 0 on success (or when it exists and ``--if-missing``)."""
    from synth_core.demo.build import DemoParams, build_demo

    dest = ws.path("datasets", args.name)
    if dest.exists():
        if args.if_missing:
            print(f"dataset {args.name!r} already exists in {ws.datasets}; nothing to do")
            return 0
        if not args.overwrite:
            raise ExistsError(f"{dest}: dataset {args.name!r} already exists; use --overwrite to replace it or --name to pick another")
    params = DemoParams(subjects=args.subjects, seed=args.seed, size=args.size, slices_per_subject=args.slices_per_subject)
    start = time.perf_counter()
    build_demo(dest, params=params, progress=not args.no_progress, overwrite=args.overwrite)
    elapsed = time.perf_counter() - start

    from synth_core.dataset import Dataset

    ds = Dataset(dest)
    print(f"built demo dataset {args.name!r}: {ds.info['n_cases']} subjects, {len(ds)} slices of {params.size} px in {elapsed:.1f} s -> {dest}")
    return 0
