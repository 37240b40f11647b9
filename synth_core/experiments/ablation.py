"""The ablation's results as the library reads them (thesis Table 1; no torch): the summary table
written by ``python -m training ablation`` (``workspace/experiments/NAME/summary.parquet``), its
columns and their directions, mean ± sd over seeds, and the printed table.

The rows are :data:`synth_core.runs.stage_configs.ABLATIONS` (which switch each row turns off).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from synth_core.errors import ConfigError, InputError
from synth_core.experiments.results import PAIRED_COLUMNS, ExperimentStore, mean_sd, pair_seeds
from synth_core.runs.stage_configs import ABLATIONS
from synth_core.workspace import Workspace, validate_name

KIND = "ablation"
#: thesis Table 1 rows, A..F
ROWS = tuple(ABLATIONS)
#: what each row switches off, in words
ROW_OFF = {
    "A": "structure map (G sees noise only)",
    "B": "mask filtering (lesions placed anywhere in the frame)",
    "C": "noise fusion (eq. 12)",
    "D": "registration loss (eq. 16)",
    "E": "lesion guidance (eq. 15)",
    "F": "nothing (full model)",
}

#: summary columns: (name, help, direction) with direction "lower", "higher" or "" (information)
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("row", "thesis Table 1 row", ""),
    ("switched_off", "what this configuration switches off", ""),
    ("seed", "training seed of the run and of its set", ""),
    ("run", "the multimodal run trained for this row", ""),
    ("set", "the synthetic set made from it", ""),
    ("n", "samples in the set", ""),
    ("lesion_dice", "the judge segmenter's lesion Dice on the synthetic slices with a lesion against the placed "
                    "label (seg_dice_synthetic, mean over modalities); the judge was trained separately and took no "
                    "part in training any row (see scored_by)", "higher"),
    ("lesion_dice_helper", "the same scored by the training-time helper segmenter that rows A-D and F trained "
                           "against (circular: partly the loss they optimised)", "higher"),
    ("registration_error", "the judge translator's registration error (reg_err: MSE between a modality and its "
                           "rendering from the others), mean over samples and modalities", "lower"),
    ("registration_error_helper", "the same scored by the training-time helper translator that rows A-C, E and F "
                                  "trained against (circular)", "lower"),
    ("scored_by", "who scored this row: 'judge' (lesion_dice, registration_error and seg_dice_real are the "
                  "experiment's judge runs' scores) or 'helper' (made before judges existed: only the training "
                  "helpers scored it, their scores are in the _helper columns and the judge columns are empty)", ""),
    ("with_lesion", "share of samples that received a lesion", ""),
    ("lesion_outside_organ", "share of lesion pixels outside the generated organ mask", "lower"),
    ("nn_dist", "mean distance to the nearest real training slice (small = possible copy)", ""),
    ("fid", "FID in the segmenter encoder's feature space, mean over modalities", "lower"),
    ("kid", "KID in the same feature space, mean over modalities", "lower"),
    ("frd", "Fréchet Radiomics Distance of whole slices, mean over modalities", "lower"),
    ("frd_lesion", "Fréchet Radiomics Distance inside the lesion, mean over modalities", "lower"),
    ("diversity_ms_ssim", "mean MS-SSIM of random pairs of synthetic images (lower = more diverse)", "lower"),
    ("diversity_ms_ssim_real", "the same for real test slices (the reference)", ""),
    ("seg_dice_real", "the judge segmenter's lesion Dice on real test slices (the reference: how good the judge is)",
     ""),
    ("seg_dice_real_helper", "the same scored by the training-time helper segmenter (the reference for "
                             "lesion_dice_helper)", ""),
    ("rec_psnr", "PSNR (dB) of G rebuilding real test slices from their own structure map and label", "higher"),
    ("train_seconds", "wall-clock seconds of the training (all sessions)", ""),
    ("synthesis_seconds", "wall-clock seconds of the synthesis", ""),
    ("evaluation_seconds", "wall-clock seconds of the evaluation", ""),
)
SUMMARY_NAMES = tuple(c[0] for c in SUMMARY_COLUMNS)


def summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    """Summary rows as a table with columns :data:`SUMMARY_NAMES`, in Table 1 order, then by seed."""
    df = upgrade_summary(pd.DataFrame(rows)).reindex(columns=list(SUMMARY_NAMES))
    if not df.empty:
        df = df.assign(_o=df["row"].map(ROWS.index)).sort_values(["_o", "seed"], kind="stable")
        df = df.drop(columns="_o").reset_index(drop=True)
    return df


#: summary columns that are measurements (averaged over seeds by :func:`aggregate_ablation`)
MEASURES = tuple(n for n in SUMMARY_NAMES if n not in ("row", "switched_off", "seed", "run", "set", "n", "scored_by"))


def aggregate_ablation(summary: pd.DataFrame) -> pd.DataFrame:
    """One line per Table 1 row: ``row, switched_off, seeds`` (how many finished), ``n`` and, for
    every measurement, its mean over seeds (column named as in the summary) and sample standard
    deviation (``<name>_sd``; NaN with one seed). Seeds where a measurement is NaN are left out of
    that measurement only."""
    cols = ["row", "switched_off", "seeds", "n", "scored_by"] + [c for m in MEASURES for c in (m, f"{m}_sd")]
    if summary is None or summary.empty:
        return pd.DataFrame(columns=cols)
    out = []
    for row in [r for r in ROWS if r in set(summary["row"])]:
        part = summary[summary["row"] == row]
        line: dict[str, Any] = {"row": row, "switched_off": part["switched_off"].iloc[0], "seeds": len(part),
                                "n": int(part["n"].iloc[0]),
                                "scored_by": "/".join(sorted(set(part["scored_by"].fillna("").astype(str))))
                                if "scored_by" in part else ""}
        for m in MEASURES:
            v = part[m].to_numpy(dtype=float) if m in part else np.array([])
            v = v[np.isfinite(v)]
            line[m] = float(v.mean()) if len(v) else math.nan
            line[f"{m}_sd"] = float(v.std(ddof=1)) if len(v) > 1 else math.nan
        out.append(line)
    return pd.DataFrame(out, columns=cols)


#: measurements with a direction: the ones :func:`paired_ablation` compares with row F
COMPARED = tuple(n for n, _, d in SUMMARY_COLUMNS if d)
#: the row every other row is compared with
REFERENCE_ROW = "F"


def paired_ablation(summary: pd.DataFrame, measures: tuple[str, ...] = COMPARED) -> pd.DataFrame:
    """Each row against the full model F, paired by seed (:func:`~synth_core.experiments.results.paired_test`):
    one line per (row, measure) with at least 2 seeds finished for both; columns ``row,
    switched_off, metric`` (the measure) and :data:`~synth_core.experiments.results.PAIRED_COLUMNS`
    (difference = row - F), in Table 1 order."""
    cols = ["row", "switched_off", "metric", *PAIRED_COLUMNS]
    if summary is None or summary.empty or REFERENCE_ROW not in set(summary["row"]):
        return pd.DataFrame(columns=cols)
    ref = summary[summary["row"] == REFERENCE_ROW]
    lines = []
    for row in [r for r in ROWS if r != REFERENCE_ROW and r in set(summary["row"])]:
        part = summary[summary["row"] == row]
        for m in measures:
            test = pair_seeds(part, ref, m)
            if test is not None:
                lines.append({"row": row, "switched_off": part["switched_off"].iloc[0], "metric": m, **test})
    return pd.DataFrame(lines, columns=cols)


def load_ablation(ws: Workspace, name: str) -> tuple[dict[str, Any], pd.DataFrame]:
    """``(config, summary)`` of ablation experiment ``name`` (no torch).

    ``config`` is the saved ``config.json`` (``config["config"]`` the settings, ``config["columns"]``
    each summary column's help and direction ``better`` = higher | lower | ""); ``summary`` has
    one row per finished configuration and seed (columns :data:`SUMMARY_NAMES`; empty while none is
    done; :func:`aggregate_ablation` gives mean and sd over seeds).
    """
    store = ExperimentStore.open(ws, validate_name(name, "experiment name"))
    config = store.read_config()
    if config.get("kind", "usability") != KIND:
        raise ConfigError(f"experiment {name!r} is a {config.get('kind', 'usability')} experiment, not an ablation")
    path = store.path / "summary.parquet"
    if not path.is_file():
        return config, summary_frame([])
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        raise InputError(path, f"unreadable ablation summary ({err})") from None
    df = upgrade_summary(df)
    missing = sorted(set(SUMMARY_NAMES) - set(df.columns) - {"seed"})
    if missing or "row" not in df:
        raise InputError(path, f"ablation summary lacks column(s) {missing or ['row']}")
    if "seed" not in df:  # written before seeds were recorded: every row is the first seed's
        df["seed"] = int(config.get("config", {}).get("seed", 0))
    return config, df[list(SUMMARY_NAMES)]


#: the judge columns and their helper twins: summaries written before judges hold helper scores in both
#: ``lesion_fidelity`` and the first names, which :func:`upgrade_summary` moves to the second
HELPER_TWINS = {"lesion_dice": "lesion_dice_helper", "registration_error": "registration_error_helper",
                "seg_dice_real": "seg_dice_real_helper"}


def upgrade_summary(df: pd.DataFrame) -> pd.DataFrame:
    """A summary written by an earlier version, in today's columns, each under the name of who scored
    it. Before judges (``lesion_fidelity``, no ``scored_by``) the training helpers scored lesion Dice,
    registration error and ``seg_dice_real``: those values move to the ``_helper`` columns, the judge
    columns are left empty (NaN) and ``scored_by`` says "helper". A judge-era summary without
    ``seg_dice_real_helper`` gets it empty. Today's summaries pass unchanged."""
    if "scored_by" not in df and "lesion_fidelity" in df:
        df = df.assign(lesion_dice=df["lesion_fidelity"], scored_by="helper")
        df = df.assign(**{twin: df[col] if col in df else math.nan for col, twin in HELPER_TWINS.items()})
        df = df.assign(**{col: math.nan for col in HELPER_TWINS})
        df = df.drop(columns=[c for c in ("lesion_fidelity", "seg_dice_synthetic") if c in df])
    missing = {twin: math.nan for twin in HELPER_TWINS.values() if twin not in df and "scored_by" in df}
    return df.assign(**missing) if missing else df


def scored_column(aggregate: pd.DataFrame, column: str) -> str:
    """``column`` when it holds a value, else its helper twin when that does (an experiment scored by
    the helpers only), else ``column``: the column a page or report speaks about, named as scored."""
    twin = HELPER_TWINS.get(column, "")
    if (column in aggregate and aggregate[column].notna().any()) or twin not in aggregate:
        return column
    return twin if aggregate[twin].notna().any() else column


#: the columns of the printed table: (summary column, label, digits)
TABLE_COLUMNS = (("lesion_dice", "lesion Dice ↑", 3), ("lesion_dice_helper", "Dice (helper) ↑", 3),
                 ("registration_error", "reg err ↓", 4), ("registration_error_helper", "reg err (helper) ↓", 4),
                 ("lesion_outside_organ", "outside ↓", 3), ("fid", "FID ↓", 2), ("kid", "KID ↓", 4),
                 ("frd", "FRD ↓", 2), ("diversity_ms_ssim", "MS-SSIM ↓", 3), ("rec_psnr", "rec PSNR ↑", 2))


def format_ablation(summary: pd.DataFrame) -> str:
    """The summary as a text table like thesis Table 1: one line per row, ``mean ± sd`` over seeds
    when a row has more than one (the ``seeds`` column says how many)."""
    if summary is None or summary.empty:
        return "(no finished rows yet)"
    agg = aggregate_ablation(summary)
    show = pd.DataFrame({"row": agg["row"], "switched off": agg["switched_off"], "scored by": agg["scored_by"]})
    if (agg["seeds"] > 1).any():
        show["seeds"] = agg["seeds"]
    for col, label, digits in TABLE_COLUMNS:
        show[label] = [mean_sd(m, sd, digits, no_sd="")
                       for m, sd in zip(agg[col].astype(float), agg[f"{col}_sd"].astype(float))]
    return show.to_string(index=False)
