"""``python -m synth_core synthesize`` and ``regenerate``."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.errors import ConfigError
from synth_core.workspace import Workspace, validate_name


def add_synthesize_arguments(p: argparse.ArgumentParser) -> None:
    # long aliases: torchrun's own parser claims abbreviations such as --run and --n (use these under torchrun)
    p.add_argument("--generator", choices=("multimodal", "pix2pix"), default="multimodal",
                   help="multimodal: new slices from the structure -> image generators; pix2pix: bank lesions "
                        "painted into real training slices, whitened and filled in by a pix2pix run")
    p.add_argument("--run", "--multimodal-run", dest="run", action="append", default=[],
                   help="run id of the generator (default: the newest finished one on --dataset); with "
                        "--generator pix2pix give it once per modality to fill several modalities of the same "
                        "painted lesion (one run each; modalities without a run are left out of the set)")
    p.add_argument("--dataset", default="", help="dataset the run was trained on (used to find the newest run)")
    p.add_argument("--n", "--samples", dest="n", type=int, required=True, help="number of samples")
    p.add_argument("--seed", type=int, default=0, help="set seed; sample i depends only on (seed, i)")
    p.add_argument("--name", required=True, help="name of the new set (workspace/synthetic/NAME)")
    p.add_argument("--lesions", choices=("augmented", "bank", "none"), default="augmented",
                   help="augmented: bank lesions scaled/rotated/flipped inside the generated organ; bank: real "
                        "lesion shapes unchanged; none: no lesions")
    p.add_argument("--label-set", default="", help="take the lesion bank and augmentation ranges from this saved "
                                                   "label set (workspace/lesions/NAME) instead of the run's")
    p.add_argument("--batch", type=int, default=16, help="samples per network call")
    p.add_argument("--checkpoint", choices=("best", "last"), default="best",
                   help="checkpoint of the generator run(s) to use")
    p.add_argument("--no-figures", action="store_true", help="skip the segmenter/translator figures (faster)")
    p.add_argument("--device", default="cpu", help="cpu | cuda | cuda:N")
    p.add_argument("--slices", choices=("healthy", "lesion", "any"), default="healthy",
                   help="pix2pix: which real training slices lesions are painted into")
    p.add_argument("--raw-fill", action="store_true",
                   help="pix2pix: keep the generator's whole output (default: only the lesion pixels are new)")
    p.add_argument("--min-lesion-area", type=int, default=10,
                   help="pix2pix: bank lesions smaller than this many pixels are left out (scattered fragments)")
    p.add_argument("--segmenter-run", default="",
                   help="pix2pix: segmenter run for the Dice figure (default: the newest on the dataset)")


def _lesion_source(ws: Workspace, models: Any, ds: Any, mode: str, label_set: str) -> Any:
    from synth_core.lesions.augment import AugmentRanges
    from synth_core.lesions.bank import LesionBank
    from synth_core.lesions.labelset import LabelSet
    from synth_core.synthesis.lesions import LesionSource

    if label_set:
        from synth_core.datalink import check_set

        ls = LabelSet.load(ws.existing("lesions", label_set))
        check_set(ds, ls.meta, f"label set {label_set!r}")
        bank, ranges = ls.bank, AugmentRanges.from_dict(ls.meta["ranges"])
    else:
        bank = LesionBank.from_dataset(ds, ("train",)) if ds.has_lesions else LesionBank([])
        ranges = AugmentRanges.from_dict(models.lesion_ranges) if models.lesion_ranges else AugmentRanges()
    return LesionSource(mode, bank, ranges, tries=models.settings.lesion_tries, mask_filter=models.settings.mask_filter)


def run_synthesize_command(args: argparse.Namespace, ws: Workspace) -> int:
    if getattr(args, "generator", "multimodal") == "pix2pix":
        from synth_core.synthesis.inpaint_command import run_inpaint_command

        return run_inpaint_command(args, ws)
    from synth_core.synthesis.figures import RealReference
    from synth_core.synthesis.loading import load_models
    from synth_core.synthesis.pipeline import synthesize

    name, dest = new_set_destination(args, ws)
    if len(args.run) > 1:
        raise ConfigError(f"--generator multimodal takes one --run, not {len(args.run)} "
                          "(several runs, one per modality, are for --generator pix2pix)")
    run_id = (args.run[0] if args.run else "") or _newest_run(ws, args.dataset)
    info = None
    device = args.device
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:  # launched by torchrun: split the batches across ranks
        from synth_core.distributed import setup

        info = setup("cuda" if args.device.startswith("cuda") else "cpu")
        device = info.device
    models = load_models(ws, run_id, which=args.checkpoint, figures=not args.no_figures, device=device)
    ds, link = _dataset_of(ws, models)
    lesions = _lesion_source(ws, models, ds, args.lesions, args.label_set)
    real = RealReference.from_dataset(ds, "train")
    from tqdm import tqdm

    common = dict(dataset=ds.name, fingerprint=ds.fingerprint, n=args.n, seed=args.seed, batch_size=args.batch,
                  real=real, extra_meta={"label_set": args.label_set, "checkpoint": args.checkpoint},
                  dataset_content=link)
    main = info is None or info.is_main
    with tqdm(total=args.n, desc=f"synthesize {name}", unit="sample", file=sys.stderr, disable=not main) as bar:
        if info is None:
            synthesize(models, lesions, dest, progress=bar.update, **common)
        else:
            from synth_core.synthesis.distributed import synthesize_distributed

            from synth_core.distributed import cleanup

            finished = False
            try:
                # rank 0's bar counts its own samples times the world size (an estimate of the whole)
                synthesize_distributed(models, lesions, dest, info=info,
                                       progress=lambda k: bar.update(k * info.world), **common)
                finished = True
            finally:
                cleanup(info, finished=finished)
            if not main:
                return 0
    from synth_core.synthesis.setstore import SyntheticSet

    s = SyntheticSet(dest)
    cat = s.catalog
    print(f"wrote {len(s)} samples to {dest}")
    print(f"  run {run_id} ({models.runs['multimodal']['checkpoint']}), lesions {args.lesions}: "
          f"{int(cat['has_lesion'].sum())} with a lesion")
    for col in [c for c in cat.columns if c.startswith(("dice_", "reg_err_"))] + ["nn_dist", "contour_outside"]:
        vals = cat[col].to_numpy(float) if col in cat else np.zeros(0)
        if np.isfinite(vals).any():
            print(f"  {col:<18} mean {np.nanmean(vals):.4f}")
    return 0


def new_set_destination(args: argparse.Namespace, ws: Workspace) -> tuple[str, Path]:
    """(``--name``, its folder under ``synthetic/``) after the checks every synthesize command makes:
    a valid name that is not taken yet, and ``--n`` and ``--batch`` of at least 1."""
    name = validate_name(args.name, "set name")
    dest = ws.path("synthetic", name)
    if dest.exists():
        raise ConfigError(f"{dest}: already exists; choose another --name or delete it first")
    if args.n < 1 or args.batch < 1:
        raise ConfigError(f"--n and --batch must be >= 1, not {args.n} and {args.batch}")
    return name, dest


def _newest_run(ws: Workspace, dataset: str) -> str:
    from synth_core.runs.loading import resolve_run

    return resolve_run(ws, "multimodal", "", dataset or None)


def _dataset_of(ws: Workspace, models: Any) -> tuple[Any, dict[str, Any]]:
    """The dataset the multimodal run was trained on (by its stable fingerprint; content compared,
    a slight difference warned about once) and the provenance record for the set."""
    from synth_core.datalink import find_dataset, provenance

    mm = models.runs["multimodal"]
    ds, match = find_dataset(ws, fingerprint=mm["fingerprint"], content=models.dataset_content,
                             what=f"run {mm['run_id']!r}", name=models.dataset)
    return ds, provenance(ds, match, models.dataset_content)


# ---- regenerate --------------------------------------------------------------------------------
def add_regenerate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--set", required=True, help="synthetic set name")
    p.add_argument("--sample", required=True, help="sample id (syn-000123) or index")
    p.add_argument("--out", default="", help="also write the regenerated sample to this .npz file")
    p.add_argument("--device", default="cpu")


def run_regenerate_command(args: argparse.Namespace, ws: Workspace) -> int:
    from synth_core.synthesis.regenerate import regenerate

    res = regenerate(ws, args.set, args.sample, device=args.device)
    if args.out:
        from synth_core.atomic import atomic_write_bytes
        import io

        buf = io.BytesIO()
        np.savez(buf, images=res.images, mask=res.mask, label=res.label, structure=res.structure)
        atomic_write_bytes(Path(args.out), buf.getvalue())
    print(json.dumps({"set": args.set, "sample": res.sample_id, "identical": res.identical,
                      "max_abs_diff": res.max_abs_diff, "within_tolerance": res.within_tolerance, "note": res.note},
                     indent=2))
    # 0: bit-exact, or (the set was made on another machine) last-bit differences within FLOAT_TOLERANCE
    return 0 if res.ok else 1
