"""The evaluation table: its columns, the plain-words help and version of each metric, and its storage.

One long table per synthetic set, ``workspace/synthetic/<SET>/evaluation.parquet``, one row per
``(modality, metric, region)`` (see :mod:`synth_core.evaluation.evaluate` for how rows are
computed). Each row records ``set_n``, the number of samples the set held when the row was
computed: a set that has grown since (samples added on the Latent space page) keeps its table, and
:func:`stale_notes` says which rows describe the smaller set and must be evaluated again. This module reads, merges and writes those tables and imports no torch, so the Quality
page and the report can show evaluations without loading any network.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd

from synth_core.atomic import atomic_write_bytes, pause_point
from synth_core.errors import InputError
from synth_core.evaluation.c2st import FEW_SAMPLES as C2ST_FEW_SAMPLES  # numpy only
from synth_core.locks import item_lock
from synth_core.workspace import Workspace

__all__ = ["C2ST_FEW_SAMPLES", "CLOSER_TO_REAL", "COLUMNS", "EVALUATION_FILE", "KEY", "METRIC_HELP", "METRIC_VERSIONS",
           "REALISM_METRICS", "few_c2st_samples", "load_evaluations", "merge_evaluations", "realism_table", "save_evaluation", "stale_notes", "stale_rows", "stamp_set_size"]

EVALUATION_FILE = "evaluation.parquet"
COLUMNS = ["set", "dataset", "run", "modality", "metric", "region", "value", "n", "set_n", "extractor",
           "metric_version", "created", "note"]
#: dtypes of the numeric columns (``set_n`` is missing, <NA>, in rows saved before it was recorded)
_DTYPES = {"value": "float64", "n": "int64", "set_n": "Int64"}
KEY = ["dataset", "extractor", "metric", "modality", "region"]

#: plain-words explanation of each metric, with its direction (shown by the Quality page)
METRIC_HELP: dict[str, str] = {
    "frd": "Fréchet Radiomics Distance: how far the synthetic images' radiomics features (intensity and texture "
           "statistics, as radiologists' software measures them) are from the real ones, as a distance between two "
           "Gaussian fits. Lower is better; 0 = same statistics. Region 'lesion' measures inside the lesion only.",
    "fid": "Fréchet distance between Gaussian fits of network features of real and synthetic images (FID). Lower is "
           "better; 0 = same statistics. Only comparable between sets scored with the same extractor and similar "
           "sample counts (it is biased upwards for few samples).",
    "kid": "Kernel distance (KID): like FID but unbiased for small samples (can be slightly below 0 when the sets "
           "match). Lower is better.",
    "kid_std": "Spread of the KID estimate over random subsets: how much to trust the KID value. Smaller = steadier.",
    "diversity_ms_ssim": "Average MS-SSIM between random pairs of synthetic images: how alike the samples are to "
                         "each other. Lower = more diverse; much higher than the real data's value means the "
                         "generator repeats itself.",
    "diversity_ms_ssim_real": "The same pairwise MS-SSIM for the real images, the reference for diversity.",
    "texture": "Fine texture: how much pixel-scale detail (acquisition noise, grey/white-matter edges) the synthetic "
               "images carry, as the median spread of the Laplacian over the head. Closer to texture_real is "
               "better; well below it = images smoother than scans.",
    "texture_real": "The same fine texture for the real images, the reference for texture.",
    "grain": "Grain: what kind of fine detail it is, the median over the head of the detail's orientation "
             "coherence: 0 = no preferred direction (scanner noise, fine tissue), 1 = running in lines. Closer to "
             "grain_real is better; clearly above it = detail that is not the real kind (sharp edges on smooth "
             "tissue, or a streaky ripple that no scanner makes, which the texture row alone would take for "
             "realism); look at the pictures to see which.",
    "grain_real": "The same grain for the real images, the reference for grain.",
    "seg_dice_real": "Dice of the frozen lesion segmenter on real test slices (trained on real data). Higher is "
                     "better; the reference for seg_dice_synthetic.",
    "seg_dice_synthetic": "Dice of the same segmenter on synthetic images against their placed labels: do the "
                          "generated lesions sit where the labels say? Higher is better; close to seg_dice_real = "
                          "realistic lesions (thesis Table 4).",
    "seg_mse_real": "Mean squared error between the segmenter's lesion probability and the real label on real "
                    "slices. Lower is better; the reference for seg_mse_synthetic.",
    "seg_mse_synthetic": "The same probability error on synthetic images against their placed labels. Lower is "
                         "better; close to seg_mse_real = realistic lesions.",
    "reg_err": "Registration error: a translator renders each modality of a synthetic sample from the others, and "
               "this is the mean squared difference to the generated modality (intensities in [0, 1]). Lower is "
               "better: the modalities show one anatomy. The note says whether an independent judge or the "
               "generator's own training helper (circular) scored it.",
    "rec_psnr": "PSNR (dB) of the multi-modal generator rebuilding real held-out slices from their own structure map, "
                "mask and label. Higher is better.",
    "rec_ssim": "SSIM of that reconstruction (structure, contrast, brightness; 1 = identical). Higher is better.",
    "rec_ms_ssim": "MS-SSIM (SSIM over several scales) of that reconstruction. Higher is better.",
    "rec_mse": "Mean squared error of that reconstruction (intensities in [0, 1]). Lower is better.",
    "fill_psnr": "PSNR (dB) of the pix2pix generator filling in the whitened lesion of real slices. Higher is better.",
    "fill_ssim": "SSIM of the pix2pix lesion fill against the original slice. Higher is better.",
    "fill_ms_ssim": "MS-SSIM of the pix2pix lesion fill. Higher is better.",
    "fill_mse": "Mean squared error of the pix2pix lesion fill. Lower is better.",
    "fill_psnr_paper": "fill_psnr as the liver paper reports it (its 64.72 dB): peak 255 on images in [0, 1], "
                       "i.e. fill_psnr + 48.13 dB. Compare only with the paper's number. Higher is better.",
    "fill_ssim_paper": "fill_ssim as the liver paper reports it (its 0.9973): SSIM with a 255 range on images in "
                       "[0, 1], which pushes every value towards 1. Compare only with the paper's number.",
    "c2st_auc": "Can a computer tell the synthetic images from real scans? A classifier is trained to separate real "
                "slices of patients the models never saw from synthetic samples, and tested on images it did not train "
                "on (never splitting one patient's slices). The value is its ROC AUC: 0.5 = it cannot tell them apart "
                "(guessing), 1.0 = it always tells them apart. Closer to 0.5 is better; compare it with "
                "c2st_auc_control. 'handmade' = downsampled pixels, intensity and edge-strength histograms; the other "
                "view is the FID feature network. Modality 'structure' tests the generated structure maps.",
    "c2st_auc_control": "The same test between two groups of real scans (patients used for training vs patients held "
                        "out): what 'indistinguishable' looks like with these sample sizes and this view. Near 0.5 "
                        "is expected (with a dozen patients per side it scatters by up to about 0.15, more often "
                        "below 0.5 than above, as cross-validated AUCs do); clearly above 0.5 means the view itself "
                        "recognises the training patients.",
    "c2st_auc_sd": "How much c2st_auc moves when the samples are dealt into the classifier's training and test "
                   "folds differently: the standard deviation over the fold splits it averages (the note lists "
                   "each split's value). Smaller = steadier. With few samples it is large and the AUC is a rough "
                   "figure: evaluate at least 100 samples to compare models.",
    "c2st_auc_sd_control": "The same spread for the real-vs-real control.",
    "prd_precision": "Precision (Naeem et al. 2020): fraction of synthetic images that fall where real images lie "
                     "(in the FID feature space). Higher = more realistic; compare with prd_precision_control.",
    "prd_recall": "Recall: fraction of real images that the synthetic ones reach, i.e. how much of the real variety "
                  "they cover. Higher is better; compare with prd_recall_control.",
    "prd_density": "Density: how crowded the real neighbourhoods are with synthetic images. About 1 = like real data; "
                   "much below 1 = synthetic images off the real ones; above 1 = crowded on typical images.",
    "prd_coverage": "Coverage: fraction of real images with a synthetic image close by (a recall that a few outliers "
                    "cannot inflate). Higher is better; compare with prd_coverage_control.",
    **{f"prd_{k}_control": f"The same {k} between two groups of real scans (patients used for training vs held-out "
                           "patients): the value real data reach with these sample sizes." for k in
       ("precision", "recall", "density", "coverage")},
}

#: how each metric is computed; bump when the computation changes
METRIC_VERSIONS: dict[str, str] = {
    "frd": "frd/1 frd-score v1 radiomics, joint z-score, d^2 (package reports ln d^2)",
    "fid": "fid/1 Frechet d^2, scipy sqrtm",
    "kid": "kid/1 unbiased MMD^2, cubic kernel, 100 subsets",
    "kid_std": "kid/1 unbiased MMD^2, cubic kernel, 100 subsets",
    "diversity_ms_ssim": "diversity/1 mean MS-SSIM of random pairs",
    "diversity_ms_ssim_real": "diversity/1 mean MS-SSIM of random pairs",
    **{k: "texture/1 median std of scipy laplace over the head (> 0.02) eroded 2 px" for k in
       ("texture", "texture_real")},
    **{k: "grain/1 median structure-tensor coherence (window 4 px) of image minus 2-px blur normalised in the head, "
          "head eroded 4 px" for k in ("grain", "grain_real")},
    **{f"seg_{k}_{s}": f"seg/1 lesion slices; dice argmax>0; mse (1-p_bg) vs label>0"
       for k in ("dice", "mse") for s in ("real", "synthetic")},
    "reg_err": "reg/1 mean over synthetic slices of MSE(modality, translator(other modality)), averaged over sources",
    **{f"rec_{k}": "paired/1 G(real s, m, l) eq.18 input, seeded noise; lesion = box crop" for k in
       ("psnr", "ssim", "ms_ssim", "mse")},
    **{f"fill_{k}": "paired/1 pix2pix raw fill of whitened real lesions; lesion = box crop" for k in
       ("psnr", "ssim", "ms_ssim", "mse")},
    **{f"fill_{k}_paper": "paired/1 pix2pix raw fill of whitened real lesions; skimage, data_range 255 on [0, 1] "
                          "images (liver paper convention)" for k in ("psnr", "ssim")},
    **{f"c2st_auc{s}": "c2st/3 logistic regression C=0.01 balanced, standardised with a scale floor of 0.1 x the "
                       "feature group's RMS sd; 5-fold subject-grouped; pooled "
                       "out-of-fold ROC AUC, mean over 5 fold splits; held-out = val+test subjects"
       for s in ("", "_control")},
    **{f"c2st_auc_sd{s}": "c2st/3 sd (ddof 1) over 5 subject-grouped fold splits of the pooled out-of-fold ROC AUC"
       for s in ("", "_control")},
    **{f"prd_{k}{s}": "prdc/1 prdc 0.2 compute_prdc, k=5; held-out = val+test subjects" for k in
       ("precision", "recall", "density", "coverage") for s in ("", "_control")},
}


#: metrics where a lower value is better; every other metric is better higher, except the references
#: and the C2ST AUC (:func:`better`)
LOWER_BETTER = frozenset({"frd", "fid", "kid", "kid_std", "diversity_ms_ssim", "seg_mse_real", "seg_mse_synthetic",
                          "rec_mse", "fill_mse", "reg_err", "c2st_auc_sd"})


#: metrics that are best at their real data's value, the ``<metric>_real`` row beside them
CLOSER_TO_REAL = frozenset({"texture", "grain"})


def better(metric: str) -> str:
    """Which way ``metric`` is better: ``"reference (real data)"`` for real data's own value
    (``*_real``, ``*_control``), ``"closer to 0.5"`` for the C2ST AUC, ``"closer to real"`` for
    :data:`CLOSER_TO_REAL`, ``"lower"`` for :data:`LOWER_BETTER`, else ``"higher"``. The Quality page
    and the report both show this."""
    if metric.endswith(("_real", "_control")):
        return "reference (real data)"
    if metric.startswith("c2st_auc") and metric not in LOWER_BETTER:
        return "closer to 0.5"
    if metric in CLOSER_TO_REAL:
        return "closer to real"
    return "lower" if metric in LOWER_BETTER else "higher"


#: the realism metrics (C2ST and PRDC), each with a ``<metric>_control`` real-vs-real twin
REALISM_METRICS = ("c2st_auc", "prd_precision", "prd_recall", "prd_density", "prd_coverage")


def few_c2st_samples(realism: pd.DataFrame) -> dict[str, int]:
    """Sets of a :func:`realism_table` whose C2ST rests on fewer than
    :data:`~synth_core.evaluation.c2st.FEW_SAMPLES` synthetic samples, each with its smallest count
    (the Quality page and the report call those AUCs rough figures)."""
    few = realism[(realism["measure"] == "c2st_auc") & (realism["n"] < C2ST_FEW_SAMPLES)]
    return {str(k): int(v) for k, v in few.groupby("set")["n"].min().items()}


def realism_table(ev: pd.DataFrame) -> pd.DataFrame:
    """The realism rows of an evaluation table side by side with their controls: one row per
    ``(set, modality, view, measure)`` with ``synthetic vs real``, ``real vs real (control)``, their
    spreads over fold splits ``sd`` and ``control sd`` (the C2ST's ``c2st_auc_sd[_control]`` rows;
    NaN for other measures and for tables evaluated before), and the synthetic sample count ``n``;
    measures in :data:`REALISM_METRICS` order, modalities as stored (``structure`` last). Empty when
    there are none."""
    cols = ["set", "modality", "view", "measure", "synthetic vs real", "sd", "real vs real (control)", "control sd",
            "n"]
    if ev.empty:
        return pd.DataFrame(columns=cols)
    name = ev["metric"].astype(str)
    base = name.str.removesuffix("_control")
    spread = base.str.endswith("_sd")
    base = base.where(~spread, base.str.removesuffix("_sd"))
    sel = ev[base.isin(REALISM_METRICS)].assign(measure=base, control=name.str.endswith("_control"), spread=spread)
    sel = sel[sel["value"].notna()]
    if sel.empty:
        return pd.DataFrame(columns=cols)
    keys = ["set", "modality", "extractor", "measure"]

    def part(control: bool, sd: bool) -> pd.DataFrame:
        return sel[(sel["control"] == control) & (sel["spread"] == sd)].drop_duplicates(keys, keep="last").set_index(keys)

    syn, ctl = part(False, False), part(True, False)
    out = pd.DataFrame(index=syn.index.union(ctl.index))
    out["synthetic vs real"] = syn["value"]
    out["sd"] = part(False, True)["value"]
    out["real vs real (control)"] = ctl["value"]
    out["control sd"] = part(True, True)["value"]
    out["n"] = syn["n"]
    out = out.reset_index().rename(columns={"extractor": "view"})
    order = {m: i for i, m in enumerate(REALISM_METRICS)}
    out["_m"] = out["measure"].map(order)
    out["_s"] = (out["modality"] == "structure").astype(int)
    out = out.sort_values(["set", "_m", "_s", "modality", "view"]).drop(columns=["_m", "_s"])
    return out[cols].reset_index(drop=True).astype({"n": "Int64"})


# ---- storage --------------------------------------------------------------------------------------
def _typed(df: pd.DataFrame) -> pd.DataFrame:
    """``df`` with :data:`COLUMNS` in order and the numeric columns typed (:data:`_DTYPES`)."""
    df = df[COLUMNS].copy()
    df["set_n"] = pd.to_numeric(df["set_n"], errors="coerce")
    return df.astype(_DTYPES)


def _read(path: Path) -> pd.DataFrame:
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise InputError(path, f"unreadable evaluation table ({str(err).splitlines()[0] if str(err) else type(err).__name__})") from None
    if "set_n" not in df.columns:  # saved before the set's size was recorded: unknown
        df = df.assign(set_n=pd.NA)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise InputError(path, f"evaluation table lacks column(s) {missing}")
    return _typed(df)


def _write(path: Path, table: pd.DataFrame) -> None:
    buf = io.BytesIO()
    table.to_parquet(buf, index=False)
    atomic_write_bytes(path, buf.getvalue())


def merge_evaluations(old: pd.DataFrame, new: pd.DataFrame) -> pd.DataFrame:
    """The stored table after an evaluation: ``old`` rows not superseded by ``new``, then ``new``.

    A computed new row (a value, not NaN) replaces every old row with its :data:`KEY` and every
    skipped old row (NaN) of the same ``(dataset, metric, modality, region)``. A skipped new row
    replaces only skipped old rows of its key; where an old value exists under its key, the old
    value is kept and the skip is not stored (switching FRD off, say, does not erase earlier FRDs).
    """
    if old.empty:
        return new.reset_index(drop=True)
    what = ["dataset", "metric", "modality", "region"]
    new_ok = new["value"].notna()
    old_ok = old["value"].notna()
    keys = lambda df, cols: list(df[cols].itertuples(index=False, name=None))  # noqa: E731
    computed_keys = set(keys(new[new_ok], KEY))
    computed_what = set(keys(new[new_ok], what))
    skipped_keys = set(keys(new[~new_ok], KEY))
    old_keys, old_what = keys(old, KEY), keys(old, what)
    drop = np.array([k in computed_keys or (not ok and (w in computed_what or k in skipped_keys))
                     for k, w, ok in zip(old_keys, old_what, old_ok)], dtype=bool)
    kept_values = {k for k, ok in zip(old_keys, old_ok) if ok and k not in computed_keys}
    new_keep = np.array([ok or k not in kept_values for k, ok in zip(keys(new, KEY), new_ok)], dtype=bool)
    return pd.concat([old[~drop], new[new_keep]], ignore_index=True)


def save_evaluation(set_path: str | Path, rows: pd.DataFrame) -> pd.DataFrame:
    """Merge ``rows`` into ``set_path/evaluation.parquet`` (atomic write); returns the saved table.

    Read, merge and write happen under the set's lock (``synth_core.locks``), so two evaluations
    finishing at once both land, and nothing is written into a set while it is being replaced."""
    path = Path(set_path) / EVALUATION_FILE
    new = _typed(rows if "set_n" in rows.columns else rows.assign(set_n=pd.NA))
    with item_lock(set_path, what=f"set {Path(set_path).name!r}"):
        old = _read(path) if path.is_file() else _typed(pd.DataFrame(columns=COLUMNS))
        pause_point("save_evaluation:read")
        merged = _typed(merge_evaluations(old, new))
        _write(path, merged)
    return merged


def stamp_set_size(set_folder: str | Path, n: int) -> bool:
    """Record ``set_n = n`` in the rows of ``set_folder/evaluation.parquet`` that lack it; True if
    there was such a table. For a set folder being written (not yet visible, so not locked): an
    addition copies the old set's table and stamps the old set's size on rows saved before
    ``set_n`` was recorded, so they too show up as stale (:func:`stale_notes`)."""
    path = Path(set_folder) / EVALUATION_FILE
    if not path.is_file():
        return False
    table = _read(path)
    if table["set_n"].isna().any():
        table["set_n"] = table["set_n"].fillna(int(n))
        _write(path, table)
    return True


def stale_rows(ev: pd.DataFrame, sizes: dict[str, int]) -> pd.Series:
    """True for the rows of ``ev`` computed when their set held another number of samples than
    ``sizes[set]`` (its size now); rows of sets not in ``sizes`` and rows without ``set_n`` are
    not judged (False)."""
    if ev.empty:
        return pd.Series(False, index=ev.index, dtype=bool)
    now = ev["set"].map(sizes)
    then = pd.to_numeric(ev["set_n"], errors="coerce")
    return (now.notna() & then.notna() & (then != now)).astype(bool)


def stale_notes(ev: pd.DataFrame, sizes: dict[str, int]) -> dict[str, str]:
    """One line per set with stale rows (:func:`stale_rows`): how many metrics, computed on how
    many samples, how many the set holds now, and that it must be evaluated again."""
    stale = ev[stale_rows(ev, sizes)]
    notes = {}
    for name, rows in stale.groupby("set", sort=True):
        then = ", ".join(str(int(v)) for v in sorted(rows["set_n"].unique()))
        notes[str(name)] = (f"set {name!r}: {len(rows)} of its metric rows were computed when it held {then} samples; "
                            f"it holds {sizes[name]} now (samples were added since): evaluate it again")
    return notes


def load_evaluations(ws: Workspace | str | Path) -> pd.DataFrame:
    """Every set's saved evaluation rows in one table (columns :data:`COLUMNS`; empty when none)."""
    ws = ws if isinstance(ws, Workspace) else Workspace.open(ws, create=False)
    frames = [_read(ws.synthetic / name / EVALUATION_FILE) for name in ws.list("synthetic")
              if (ws.synthetic / name / EVALUATION_FILE).is_file()]
    if not frames:
        return _typed(pd.DataFrame(columns=COLUMNS))
    return _typed(pd.concat(frames, ignore_index=True))
