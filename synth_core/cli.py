"""``python -m synth_core``: ingest, demo data, dataset info, synthesis, regeneration (and more below).

Every command resolves the workspace from ``--workspace`` / ``$MEDSYNTH_WORKSPACE``. User errors
(:class:`~synth_core.errors.SynthCoreError`) print one line ``error: ...`` and exit with 2; no
traceback unless ``--debug``.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Sequence

from synth_core.cli_edge import run_at_edge
from synth_core.workspace import Workspace

Handler = Callable[[argparse.Namespace, Workspace], int]


def _cmd_info(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.dataset import Dataset

    ds = Dataset(ws.existing("datasets", args.name))
    s = ds.summary()
    if args.json:
        print(json.dumps(s, indent=2))
        return 0
    print(f"dataset      {s['name']}  ({s['layout']}, {s['kind']})")
    print(f"cases        {s['cases']}  (train {s['cases_per_split']['train']}, val {s['cases_per_split']['val']}, test {s['cases_per_split']['test']})")
    print(f"slices       {s['slices']}  (train {s['slices_per_split']['train']}, val {s['slices_per_split']['val']}, test {s['slices_per_split']['test']})")
    print(f"modalities   {', '.join(s['modalities'])}")
    print(f"size         {s['size']} x {s['size']} px")
    if s["label_classes"]:
        print("label classes")
        for name, c in s["label_classes"].items():
            print(f"  {c['value']:>3}  {name:<28} {c['pixels']:>10} px in {c['slices']} slices")
    else:
        print("label classes none (no lesion labels)")
    print(f"lesions      {s['lesions']} connected lesions in {s['slices_with_lesion']} slices")
    print(f"fingerprint  {s['fingerprint']}  (identity: spec, case ids, splits; the same on every machine)")
    print(f"content      {s['content_sha256']}  (exact bytes of the arrays; last bits may differ between CPUs)")
    return 0


def _cmd_list(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.overview import workspace_overview

    ov = workspace_overview(ws)
    for kind, items in ov.items():
        print(f"{kind}: {', '.join(i['name'] for i in items) if items else '(none)'}")
    return 0


# command -> (module, its add-arguments function, its run function, help); modules load lazily
COMMANDS: dict[str, tuple[str, str, str, str]] = {
    "ingest": ("synth_core.ingest.command", "add_ingest_arguments", "run_ingest_command",
               "turn a folder of scans into a dataset"),
    "demo-data": ("synth_core.demo.command", "add_demo_arguments", "run_demo_command",
                  "build the embedded demo dataset (MNI152-based, offline)"),
    "synthesize": ("synth_core.synthesis.command", "add_synthesize_arguments", "run_synthesize_command",
                   "make a synthetic set with a trained multimodal run, or pix2pix lesion inpainting"),
    "regenerate": ("synth_core.synthesis.command", "add_regenerate_arguments", "run_regenerate_command",
                   "recreate one sample of a set from its record and compare"),
    "evaluate": ("synth_core.evaluation.command", "add_evaluate_arguments", "run_evaluate_command",
                 "set-level quality: FRD, FID/KID, realism (C2ST, PRDC), diversity, lesion validity, reconstructions"),
    "export": ("synth_core.export.command", "add_export_arguments", "run_export_command",
               "export real + selected synthetic slices (nnU-Net / MSD / PNG) with a manifest"),
    "check-export": ("synth_core.export.command", "add_check_arguments", "run_check_command",
                     "check an export: files, shapes, label values, checksums, no synthetic test cases"),
    "report": ("synth_core.report.command", "add_report_arguments", "run_report_command",
               "one self-contained HTML report for clinicians (pictures, quality, experiments)"),
    "reader-study": ("synth_core.readerstudy.command", "add_reader_study_arguments", "run_reader_study_command",
                     "blinded real-vs-synthetic reader study: create one, score the answers"),
    "review": ("synth_core.review.command", "add_review_arguments", "run_review_command",
               "keep / reject / tag samples of a synthetic set by hand, or list the decisions"),
}


def build_parser() -> tuple[argparse.ArgumentParser, dict[str, Handler]]:
    import importlib

    parser = argparse.ArgumentParser(prog="python -m synth_core", description="MedSynth Studio data and synthesis tools.")
    parser.add_argument("--workspace", help="workspace folder (default: $MEDSYNTH_WORKSPACE or ./workspace)")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    handlers: dict[str, Handler] = {}
    for name, (module, add, run, help_text) in COMMANDS.items():
        mod = importlib.import_module(module)
        getattr(mod, add)(sub.add_parser(name, help=help_text))
        handlers[name] = getattr(mod, run)

    p = sub.add_parser("info", help="describe a dataset")
    p.add_argument("name")
    p.add_argument("--json", action="store_true", help="print JSON")
    handlers["info"] = _cmd_info

    p = sub.add_parser("list", help="list what the workspace holds")
    handlers["list"] = _cmd_list
    return parser, handlers


def main(argv: Sequence[str] | None = None) -> int:
    parser, handlers = build_parser()
    args = parser.parse_args(argv)
    return run_at_edge(lambda: handlers[args.command](args, Workspace.open(args.workspace)), debug=args.debug,
                       interrupted="interrupted; nothing was left half-written", catch_bugs=True)
