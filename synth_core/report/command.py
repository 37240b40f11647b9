"""``python -m synth_core report``: one self-contained HTML report of the workspace for clinicians.

    python -m synth_core report --out FILE.html [--sets a,b] [--dataset NAME] [--samples 6] [--seed 0]
                                [--real-images]

The file embeds its pictures and styles (no scripts, no URLs), so it opens offline. It pictures
synthetic samples only (and says so) unless ``--real-images`` asks for real test-split slices too. The folder of ``--out`` must exist; the file is written atomically.
"""

from __future__ import annotations

import argparse

from synth_core.errors import ConfigError
from synth_core.workspace import Workspace


def add_report_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--out", required=True, metavar="FILE.html", help="the HTML file to write (its folder must exist)")
    p.add_argument("--sets", metavar="A,B", help="synthetic sets to cover (default: every set, or every set of "
                                                 "--dataset)")
    p.add_argument("--dataset", metavar="NAME", help="cover only this real dataset and the sets made from it")
    p.add_argument("--samples", type=int, default=6, help="pictures per sample grid (default 6)")
    p.add_argument("--seed", type=int, default=0, help="which slices and samples are pictured (default 0)")
    p.add_argument("--real-images", action="store_true", help="also picture real test-split slices (patient images: "
                                                              "share such a file only where those may go)")


def _split(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    items = [x.strip() for x in raw.split(",") if x.strip()]
    if not items:
        raise ConfigError("--sets is empty; give set names separated by commas, or leave it out for every set")
    return items


def run_report_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.report.build import write_report

    out = write_report(ws, args.out, sets=_split(args.sets), dataset=args.dataset or None, samples=args.samples,
                       seed=args.seed, real_images=args.real_images)
    what = "with real scans" if args.real_images else "synthetic samples only, no real scans"
    print(f"report -> {out} ({out.stat().st_size / 1e6:.1f} MB; {what})")
    return 0
