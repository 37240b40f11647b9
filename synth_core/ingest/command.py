"""``python -m synth_core ingest``: CLI arguments -> :class:`IngestOptions` -> pipeline -> summary."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from synth_core.errors import ConfigError, ExistsError
from synth_core.ingest.layouts import LAYOUTS
from synth_core.ingest.options import IngestOptions
from synth_core.structure import KINDS
from synth_core.workspace import Workspace, validate_name


def _names(values: list[str] | None) -> tuple[str, ...] | None:
    """``["t1,t2", "flair"]`` -> ``("t1", "t2", "flair")``."""
    if values is None:
        return None
    return tuple(n.strip() for v in values for n in v.split(",") if n.strip())


def _key_values(items: list[str] | None, what: str) -> dict[str, Any]:
    """``["alpha=0.02", "median=5"]`` -> ``{"alpha": 0.02, "median": 5}``."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--{what} {item!r} must be KEY=VALUE")
        v = value.strip()
        if v.lower() in ("true", "false"):
            out[key.strip()] = v.lower() == "true"
            continue
        try:
            out[key.strip()] = int(v)
        except ValueError:
            try:
                out[key.strip()] = float(v)
            except ValueError:
                raise ConfigError(f"--{what} {item!r}: value {v!r} is not a number") from None
    return out


def _label_names(text: str | None) -> dict[int, str] | None:
    """``"1=tumour,2=cyst"`` -> ``{1: "tumour", 2: "cyst"}``."""
    if text is None:
        return None
    out: dict[int, str] = {}
    for part in text.split(","):
        key, sep, name = part.partition("=")
        if not sep:
            raise ConfigError(f"--label-names {text!r}: each entry must be VALUE=NAME, e.g. 1=tumour,2=cyst")
        try:
            out[int(key)] = name.strip()
        except ValueError:
            raise ConfigError(f"--label-names {text!r}: {key!r} is not an integer label value") from None
    return out


def _split(text: str | None) -> tuple[float, float, float] | None:
    if text is None:
        return None
    try:
        parts = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ConfigError(f"--split {text!r} must be three fractions TRAIN,VAL,TEST, e.g. 0.7,0.15,0.15") from None
    if len(parts) != 3:
        raise ConfigError(f"--split {text!r} must be three fractions TRAIN,VAL,TEST, e.g. 0.7,0.15,0.15")
    return parts  # type: ignore[return-value]


def add_ingest_arguments(parser: argparse.ArgumentParser) -> None:
    d = IngestOptions()
    parser.add_argument("src", metavar="SRC", help="folder holding the scans")
    # no argparse choices: an unknown layout is reported as one line like every other error
    parser.add_argument("--layout", required=True, metavar="LAYOUT", help=f"folder convention: {', '.join(LAYOUTS)}")
    parser.add_argument("--name", required=True, help="dataset name in the workspace (letters, digits, . _ -)")
    parser.add_argument("--size", type=int, default=d.size, help=f"working size in pixels (default {d.size})")
    parser.add_argument("--modalities", nargs="+", metavar="NAME", help="channels to keep, in this order, space or comma separated (e.g. t1 t1ce t2 flair)")
    parser.add_argument("--window", help="CT window: liver, abdomen, lung, brain, bone, mediastinum or LOW,HIGH in HU, written --window=-100,200 when LOW is negative (default per layout; LiTS: liver)")
    parser.add_argument("--percentiles", nargs=2, type=float, metavar=("LOW", "HIGH"), default=d.percentiles, help=f"MR/X-ray per-volume percentile scaling (default {d.percentiles[0]} {d.percentiles[1]})")
    parser.add_argument("--slice-range", nargs=2, type=int, metavar=("START", "STOP"), help="keep raw slice indices START <= z < STOP (inferior end = 0)")
    parser.add_argument("--min-foreground", type=float, default=d.min_foreground, help=f"keep a slice when this fraction of it is organ (default {d.min_foreground})")
    parser.add_argument("--kind", metavar="KIND", help=f"data kind override: {', '.join(KINDS)} (nifti default mri, png default other)")
    parser.add_argument("--organ-labels", nargs="+", metavar="NAME", help="msd: label names that form the organ mask (default: auto-detect organ names)")
    parser.add_argument("--label-names", metavar="V=NAME,...", help="nifti/png: integer lesion classes, e.g. 1=tumour,2=cyst (default: binary {0,1} or {0,255})")
    parser.add_argument("--structure", action="append", metavar="KEY=VALUE", help="override an Algorithm 1 parameter (alpha, sigma1, sigma2, beta, gamma, median); repeatable")
    parser.add_argument("--mask", action="append", metavar="KEY=VALUE", help="override an Algorithm 2 parameter (threshold, grow, median, fill_holes); repeatable")
    contours = parser.add_mutually_exclusive_group()
    contours.add_argument("--erase-lesion-contours", dest="erase_lesion_contours", action="store_true", default=None, help="remove lesion contours from the structure maps (default for brats, lits, msd, nifti, png)")
    contours.add_argument("--keep-lesion-contours", dest="erase_lesion_contours", action="store_false", help="keep lesion contours in the structure maps")
    parser.add_argument("--seed", type=int, default=d.seed, help=f"seed of the train/val/test split by case (default {d.seed})")
    parser.add_argument("--split", metavar="TRAIN,VAL,TEST", help="case fractions (default 0.7,0.15,0.15)")
    parser.add_argument("--max-pixels", type=int, default=d.max_pixels, help=f"refuse images with more rows or columns (default {d.max_pixels})")
    parser.add_argument("--max-slices", type=int, default=d.max_slices, help=f"refuse volumes with more slices (default {d.max_slices})")
    parser.add_argument("--allow-unlabelled", action="store_true", help="lits: ingest volumes that have no segmentation file (without tumour labels; each is named in a warning); without it they are refused")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing dataset of the same name (it stays in place, complete, until the new one is ready)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def options_from_args(args: argparse.Namespace) -> IngestOptions:
    """The :class:`IngestOptions` the parsed arguments describe (validated)."""
    kwargs: dict[str, Any] = dict(
        size=args.size,
        modalities=_names(args.modalities),
        window=args.window,
        percentiles=tuple(args.percentiles),
        slice_range=tuple(args.slice_range) if args.slice_range else None,
        min_foreground=args.min_foreground,
        kind=args.kind,
        organ_labels=_names(args.organ_labels),
        label_names=_label_names(args.label_names),
        structure=_key_values(args.structure, "structure"),
        mask=_key_values(args.mask, "mask"),
        erase_lesion_contours=args.erase_lesion_contours,
        seed=args.seed,
        max_pixels=args.max_pixels,
        max_slices=args.max_slices,
        allow_unlabelled=args.allow_unlabelled,
    )
    split = _split(args.split)
    if split is not None:
        kwargs["split_fractions"] = split
    return IngestOptions(**kwargs)


def run_ingest_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.dataset import Dataset
    from synth_core.ingest.pipeline import run_ingest

    name = validate_name(args.name, "dataset name")
    options = options_from_args(args)
    dest = ws.path("datasets", name)
    if dest.exists() and not args.overwrite:
        raise ExistsError(f"dataset {name!r} already exists in {ws.datasets}; choose another --name or add --overwrite")
    result = run_ingest(args.layout, Path(args.src), dest, options, progress=not args.no_progress, overwrite=args.overwrite)
    s = Dataset(result.path).summary()
    spec = result.spec
    norm = spec.params["normalisation"]
    how = f"window {norm['low_high'][0]:g}..{norm['low_high'][1]:g} HU" if norm["mode"] == "window" else (
        f"percentiles {norm['percentiles'][0]:g}..{norm['percentiles'][1]:g}" if norm["mode"] == "percentile" else f"range {norm['low_high'][0]:g}..{norm['low_high'][1]:g}"
    )
    print(f"dataset      {s['name']}  ({spec.layout}, {spec.kind}) -> {result.path}")
    print(f"cases        {s['cases']} written of {result.cases_read} read  (train {s['cases_per_split']['train']}, val {s['cases_per_split']['val']}, test {s['cases_per_split']['test']})")
    if result.cases_without_slices:
        shown = ", ".join(result.cases_without_slices[:5]) + (" ..." if len(result.cases_without_slices) > 5 else "")
        print(f"skipped      {len(result.cases_without_slices)} case(s) with no slice passing the selection: {shown}")
    print(f"slices       {s['slices']}  (train {s['slices_per_split']['train']}, val {s['slices_per_split']['val']}, test {s['slices_per_split']['test']})")
    print(f"modalities   {', '.join(s['modalities'])}  ({how}), {s['size']} x {s['size']} px")
    classes = ", ".join(f"{c['value']}={n} ({c['slices']} slices)" for n, c in s["label_classes"].items()) or "none"
    print(f"labels       {classes}")
    unlabelled = spec.params.get("layout", {}).get("unlabelled_cases", [])
    if unlabelled:
        print(f"unlabelled   {len(unlabelled)} case(s) without a segmentation file, so without lesion labels "
              f"(--allow-unlabelled): {', '.join(unlabelled)}")
    return 0
