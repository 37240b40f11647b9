"""The export manifest: one row per written file, plus one row per synthetic sample left out.

Written twice with the same content: ``manifest.parquet`` (typed, for code) and ``manifest.csv``
(for people and spreadsheets). Columns:

    path          file path relative to the export root ("" for a sample left out)
    case          case name (no patient identifiers; see synth_core.export.naming)
    kind          image | label ("" for a sample left out)
    channel       modality of a single-channel image file, "+"-joined for a 4-D one, "" for labels
    source        real | synthetic
    split         train | test (where the file went; "" for a sample left out)
    dataset_split train | val | test of a real slice in the dataset ("" for synthetic)
    sample_id     the synthetic set's sample id ("" for real)
    provenance    JSON: set name, the set's runs, the sample's provenance columns ("" for real)
    decision      "exported", "filtered out", "blocked: memorisation (...)", "not drawn: ..."
    sha256        of the file's bytes ("" for a sample left out)
    <figures>     the set catalog's per-sample figures (has_lesion, dice_<m>, nn_dist, ..., and the
                  review decision: review, review_reason), empty for real files; never the
                  reviewer's free-text tags

A synthetic case can be regenerated from its provenance (runs + seeds + lesion parameters).
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core.synthesis.setstore import PROVENANCE_COLUMNS

PARQUET = "manifest.parquet"
CSV = "manifest.csv"
CORE_COLUMNS = ("path", "case", "kind", "channel", "source", "split", "dataset_split", "sample_id", "provenance",
                "decision", "sha256")
EXPORTED = "exported"
_SAMPLE = "_sample_index"  # internal join key, dropped before writing


def json_safe(value: Any) -> Any:
    """numpy scalars -> Python, NaN/inf -> None, so ``json.dumps(..., allow_nan=False)`` works."""
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return value


def provenance_json(set_name: str, runs: dict[str, Any], row: dict[str, Any]) -> str:
    """One sample's provenance as a JSON string: the set, its runs, the row's provenance columns."""
    prov = {"set": set_name, "runs": runs}
    prov.update({k: row[k] for k in PROVENANCE_COLUMNS if k in row})
    return json.dumps(json_safe(prov), sort_keys=True, allow_nan=False)


#: catalog columns an export never carries: free text a reviewer typed stays in the workspace
#: (the review decision and its reason, ``review`` and ``review_reason``, do go into the manifest)
NOT_EXPORTED = ("review_tags",)


def figure_columns(catalog: pd.DataFrame) -> list[str]:
    """Catalog columns that are per-sample figures (everything but the provenance columns and
    :data:`NOT_EXPORTED`)."""
    return [c for c in catalog.columns if c not in PROVENANCE_COLUMNS and c not in NOT_EXPORTED]


def row(*, path: str, case: str, kind: str, channel: str, source: str, split: str, dataset_split: str = "",
        sample_id: str = "", provenance: str = "", decision: str = EXPORTED, sha256: str = "",
        sample_index: int = -1) -> dict[str, Any]:
    """One manifest row (figures are joined from the catalog by ``sample_index`` in :func:`build`)."""
    return {"path": path, "case": case, "kind": kind, "channel": channel, "source": source, "split": split,
            "dataset_split": dataset_split, "sample_id": sample_id, "provenance": provenance, "decision": decision,
            "sha256": sha256, _SAMPLE: int(sample_index)}


def _nullable(series: pd.Series, like: pd.Series) -> pd.Series:
    """Cast joined figures to a type that holds 'missing' for real rows without turning ints into floats."""
    if pd.api.types.is_bool_dtype(like.dtype):
        return series.astype("boolean")
    if pd.api.types.is_integer_dtype(like.dtype):
        return series.astype("Int64")
    if pd.api.types.is_float_dtype(like.dtype):
        return series.astype("float64")
    return series.astype("string")


def build(rows: list[dict[str, Any]], catalog: pd.DataFrame | None) -> pd.DataFrame:
    """The manifest table: the rows, plus the catalog's figure columns joined by sample index."""
    table = pd.DataFrame(rows, columns=[*CORE_COLUMNS, _SAMPLE])
    if catalog is not None:
        figs = figure_columns(catalog)
        by_index = catalog.set_index("index")[figs]
        joined = by_index.reindex(table[_SAMPLE].to_numpy(dtype=np.int64))
        for c in figs:
            name = c if c not in CORE_COLUMNS else f"figure_{c}"
            table[name] = _nullable(pd.Series(joined[c].to_numpy(), index=table.index), catalog[c])
    return table.drop(columns=[_SAMPLE])


def write(table: pd.DataFrame, folder: Path) -> None:
    table.to_parquet(folder / PARQUET, index=False)
    table.to_csv(folder / CSV, index=False)


def read(folder: str | Path) -> pd.DataFrame:
    """The manifest of an export folder (Parquet), with "" for missing text."""
    table = pd.read_parquet(Path(folder) / PARQUET)
    for c in CORE_COLUMNS:
        if c in table.columns:
            table[c] = table[c].fillna("").astype(str)
    return table
