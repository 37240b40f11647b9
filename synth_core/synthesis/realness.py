"""The realness side table of a synthetic set: ``SET/realness.parquet``.

Per-sample columns that an *evaluation* computes (not synthesis) live beside the catalog instead
of in it, so they can be (re)computed without rewriting the set's arrays or its catalog:

    realness.parquet   sample_id, realness, realness_<modality>..., realness_structure

written atomically (:func:`synth_core.atomic.atomic_write_bytes`) by ``evaluate``
(:mod:`synth_core.evaluation.realism`); :attr:`SyntheticSet.catalog
<synth_core.synthesis.setstore.SyntheticSet.catalog>` joins it on ``sample_id``, so filters
(``export --filter "realness >= 0.2"``), the Export page and the export manifest see the columns like
any other. The file's Parquet metadata (key ``medsynth``) holds the column explanations and how the
values were made (view, classifier, seed, sample counts); :func:`column_help` gives the
explanations, which :attr:`SyntheticSet.column_help` merges with the catalog's own from ``set.json``.
Samples appended to a set on the Latent space page keep the file (it is copied into the rewritten
set); the added samples have no realness until the set is evaluated again.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from synth_core.atomic import atomic_write_bytes
from synth_core.errors import InputError
from synth_core.locks import item_lock

__all__ = ["COLUMN_HELP", "REALNESS_FILE", "column_help", "read_realness", "realness_info", "write_realness"]

REALNESS_FILE = "realness.parquet"
_META_KEY = b"medsynth"

#: explanation of each column (prefix keys, as ``synth_core.synthesis.figures.COLUMN_HELP``)
COLUMN_HELP = {
    "realness_": "how real this sample's image of that modality (or its structure map: realness_structure) looks to "
                 "a classifier trained to tell real slices of held-out subjects from synthetic samples: its "
                 "out-of-fold probability of 'real'. About 0.5 = the classifier cannot tell; near 0 = clearly "
                 "synthetic; higher = more real-looking",
    "realness": "the lowest realness of the sample's modalities and its structure map (its least real-looking part; "
                "0.5 = cannot be told from real, near 0 = clearly synthetic)",
}


def write_realness(set_path: str | Path, frame: pd.DataFrame, info: dict[str, Any]) -> Path:
    """Write ``frame`` (``sample_id`` plus ``realness*`` float columns) as the set's side table,
    atomically; ``info`` (JSON-safe: view, seeds, counts) is stored with the column help."""
    if "sample_id" not in frame.columns or frame["sample_id"].duplicated().any():
        raise ValueError("the realness table needs unique sample_id values")
    bad = [c for c in frame.columns if c != "sample_id" and not c.startswith("realness")]
    if bad:
        raise ValueError(f"the realness table holds only realness columns, not {bad}")
    table = pa.Table.from_pandas(frame.reset_index(drop=True), preserve_index=False)
    meta = dict(table.schema.metadata or {})
    meta[_META_KEY] = json.dumps({"columns": COLUMN_HELP, **info}, default=str).encode()
    buf = io.BytesIO()
    pq.write_table(table.replace_schema_metadata(meta), buf)
    path = Path(set_path) / REALNESS_FILE
    with item_lock(set_path, what=f"set {Path(set_path).name!r}"):  # not while the set is being replaced
        atomic_write_bytes(path, buf.getvalue())
    return path


def read_realness(set_path: str | Path) -> pd.DataFrame | None:
    """The side table, or ``None`` when the set has none; an unreadable one is an :class:`InputError`."""
    path = Path(set_path) / REALNESS_FILE
    if not path.is_file():
        return None
    try:
        df = pd.read_parquet(path)
    except Exception as err:  # pyarrow raises several types for a damaged file
        why = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise InputError(path, f"unreadable realness table ({why}); delete it and evaluate the set again") from None
    if "sample_id" not in df.columns:
        raise InputError(path, "realness table lacks sample_id; delete it and evaluate the set again")
    return df


def realness_info(set_path: str | Path) -> dict[str, Any]:
    """What the side table records about itself (``columns`` help, view, seeds, counts); ``{}`` if none."""
    path = Path(set_path) / REALNESS_FILE
    if not path.is_file():
        return {}
    try:
        raw = (pq.read_schema(path).metadata or {}).get(_META_KEY)
        return json.loads(raw) if raw else {}
    except Exception:  # a damaged file is reported by read_realness; help text is optional
        return {}


def column_help(set_path: str | Path) -> dict[str, str]:
    """Column explanations of the side table (``{}`` when the set has none)."""
    return dict(realness_info(set_path).get("columns", {})) if (Path(set_path) / REALNESS_FILE).is_file() else {}
