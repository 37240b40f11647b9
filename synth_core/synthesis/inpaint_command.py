"""``python -m synth_core synthesize --generator pix2pix``: paint bank lesions into real slices and
let pix2pix runs fill them in, one run per modality (``--run`` once per run;
:mod:`synth_core.synthesis.inpaint`)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import numpy as np

from synth_core.errors import ConfigError
from synth_core.workspace import Workspace


def inpaint_lesion_source(ws: Workspace, ds: Any, mode: str, label_set: str, min_area: int = 10) -> Any:
    """The lesion bank of the dataset's training split (connected lesions of at least ``min_area``
    pixels, as the Lesion augmentation page's default; smaller pieces are scattered fragments) or of
    a saved label set, with the augmentation ranges of
    :class:`~synth_core.lesions.augment.AugmentRanges` (or the label set's)."""
    from synth_core.lesions.augment import AugmentRanges
    from synth_core.lesions.bank import LesionBank
    from synth_core.lesions.labelset import LabelSet
    from synth_core.synthesis.lesions import LesionSource

    if mode == "none":
        raise ConfigError("--generator pix2pix paints lesions into real slices; --lesions none makes nothing to fill")
    if label_set:
        from synth_core.datalink import check_set

        ls = LabelSet.load(ws.existing("lesions", label_set))
        check_set(ds, ls.meta, f"label set {label_set!r}")
        bank, ranges = ls.bank, AugmentRanges.from_dict(ls.meta["ranges"])
    else:
        if not ds.has_lesions:
            raise ConfigError(f"dataset {ds.name!r} has no lesion labels, so there is no lesion bank to paint from")
        bank, ranges = LesionBank.from_dataset(ds, ("train",), min_area=min_area), AugmentRanges()
        if len(bank) == 0:
            raise ConfigError(f"dataset {ds.name!r} has no lesion of at least {min_area} px in its training split; "
                              "lower --min-lesion-area")
    return LesionSource(mode, bank, ranges)


def run_inpaint_command(args: argparse.Namespace, ws: Workspace) -> int:
    from tqdm import tqdm

    from synth_core.datalink import find_dataset, provenance
    from synth_core.runs.loading import resolve_run
    from synth_core.synthesis.inpaint import inpaint_set, load_inpaint_models
    from synth_core.synthesis.setstore import SyntheticSet

    from synth_core.synthesis.command import new_set_destination

    name, dest = new_set_destination(args, ws)
    if int(os.environ.get("WORLD_SIZE", "1")) > 1:
        raise ConfigError("--generator pix2pix runs in one process; start it without torchrun")
    run_ids = [resolve_run(ws, "pix2pix", r, args.dataset or None) for r in (args.run or [""])]
    models = load_inpaint_models(ws, run_ids, which=args.checkpoint, segmenter_run=args.segmenter_run,
                                 figures=not args.no_figures, device=args.device)
    ds, match = find_dataset(ws, fingerprint=models.fingerprint, content=models.dataset_content,
                             what=f"run {run_ids[0]!r}", name=models.dataset)
    lesions = inpaint_lesion_source(ws, ds, args.lesions, args.label_set, args.min_lesion_area)
    with tqdm(total=args.n, desc=f"synthesize {name}", unit="sample", file=sys.stderr) as bar:
        inpaint_set(models, ds, lesions, dest, n=args.n, seed=args.seed, batch_size=args.batch, slices=args.slices,
                    composite=not args.raw_fill, figures=not args.no_figures, progress=bar.update,
                    extra_meta={"label_set": args.label_set, "checkpoint": args.checkpoint,
                                "min_lesion_area": args.min_lesion_area, "runs": run_ids},
                    dataset_content=provenance(ds, match, models.dataset_content))
    s = SyntheticSet(dest)
    cat = s.catalog
    print(f"wrote {len(s)} samples to {dest}")
    print(f"  filled: {models.describe()}; lesions painted into {args.slices} {ds.name} training slices, "
          f"{'composited' if not args.raw_fill else 'raw generator output'}")
    left_out = s.meta.get("left_out_modalities") or []
    if left_out:
        print(f"  left out (no pix2pix run): {', '.join(left_out)}; the set holds {', '.join(s.modalities)} only "
              "and exports as a dataset of those modalities")
    for col in [c for c in cat.columns if c.startswith(("dice_", "fill_contrast_"))] + ["nn_dist", "new_lesion_area"]:
        vals = cat[col].to_numpy(float) if col in cat else np.zeros(0)
        if np.isfinite(vals).any():
            print(f"  {col:<22} mean {np.nanmean(vals):.4f}")
    return 0
