"""A synthetic set on disk (``workspace/synthetic/SET``): the arrays plus a catalog table.

Layout::

    set.json          what the set is: dataset, modalities, label names, size, sample count,
                      the runs and checkpoints that made it, the synthesis options, column notes
    catalog.parquet   one row per sample: provenance + per-sample quality figures
    images.npy        (N, M, H, W) float32 in [0, 1], modalities in the dataset's order
    masks.npy         (N, H, W) uint8, 1 = inside the organ (G_m's mask; a pix2pix set: the source slice's)
    labels.npy        (N, H, W) uint8 lesion classes (the placed label, plus a pix2pix source slice's own)
    structure.npy     (N, H, W) uint8 {0, 1} structure map (G_s's map; a pix2pix set: the source slice's)

A set made by pix2pix inpainting (``set.json`` ``generator: "pix2pix"``, :mod:`.inpaint`) holds
the modalities its runs fill (one run per modality; the dataset's other modalities are left out);
its catalog records ``source_row`` (a dataset row, not a case id).
    realness.parquet  optional side table written by ``evaluate``: sample_id + realness columns,
                      joined into :attr:`SyntheticSet.catalog` (:mod:`synth_core.synthesis.realness`)
    review.jsonl      optional append-only review log (keep / reject / tags per sample), its latest
                      decision per sample joined into the catalog as ``review``, ``review_reason``,
                      ``review_tags`` (:mod:`synth_core.review`)

Why Parquet for the catalog: it is typed and columnar (filters read a few columns of many rows),
pandas, pyarrow and DuckDB read it with no server, and a writer appends row groups chunk by chunk
so memory stays flat however many samples there are. The whole folder is written under a
temporary name and renamed when complete (``synth_core.atomic.atomic_dir``), so a set is either
all there or absent. The arrays are ``.npy`` files opened memory-mapped.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from synth_core.atomic import atomic_dir
from synth_core.errors import ConfigError, InputError, NotFoundError
from synth_core.npyfile import NpyAppender
from synth_core.records import Sample, SliceMeta
from synth_core.review.columns import COLUMN_HELP as REVIEW_HELP
from synth_core.review.columns import join_reviews
from synth_core.review.log import ReviewLog
from synth_core.synthesis.query import apply_filter
from synth_core.synthesis.realness import REALNESS_FILE, column_help, read_realness

FORMAT = "medsynth-synthetic-set/1"
ARRAYS = ("images", "masks", "labels", "structure")
REQUIRED_COLUMNS = ("sample_id", "index")


#: ``set.json`` ``generator`` of sets whose samples are real slices with a painted lesion (:mod:`.inpaint`)
PAINTED_ON_REAL = "pix2pix"


def on_real_slices(meta: dict[str, Any]) -> bool:
    """True for a set (its ``set.json``) whose samples are real training slices with one painted
    lesion (pix2pix inpainting): outside the lesion they are a patient's scan, so they are treated
    as real images (the report pictures them only on request; nnU-Net folds keep each one out of
    the fold that validates its source subject)."""
    return meta.get("generator") == PAINTED_ON_REAL


def pix2pix_records(meta: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The pix2pix runs of a painted set (its ``set.json``), modality -> provenance record: one run
    is stored under ``runs["pix2pix"]`` (its modality is the record's ``modality``, or the set's one
    modality for sets made before it was recorded), several under ``runs["pix2pix:<modality>"]``.
    Empty for other sets."""
    runs = meta.get("runs") or {}
    out: dict[str, dict[str, Any]] = {}
    for key, rec in runs.items():
        if not isinstance(rec, dict) or not (key == PAINTED_ON_REAL or key.startswith(PAINTED_ON_REAL + ":")):
            continue
        mods = list(meta.get("modalities") or [])
        modality = key.partition(":")[2] or str(rec.get("modality") or (mods[0] if mods else ""))
        out[modality] = rec
    return out


def pix2pix_key(modality: str, n_runs: int) -> str:
    """The ``runs`` key of the pix2pix run filling ``modality`` in a set made with ``n_runs`` runs."""
    return PAINTED_ON_REAL if n_runs == 1 else f"{PAINTED_ON_REAL}:{modality}"


def sample_id(index: int) -> str:
    """The id of sample ``index`` of a set (stable, sortable, no patient information)."""
    return f"syn-{int(index):06d}"


class SetWriter:
    """Stream samples into a new set folder; the set appears only when the ``with`` block ends.

    ``meta`` must hold ``dataset``, ``fingerprint``, ``modalities``, ``label_names`` and ``size``;
    ``n``, ``format`` and ``name`` are filled in. Rows given to :meth:`add` become catalog rows;
    every chunk must carry the same columns (the first chunk fixes the schema).
    """

    def __init__(self, path: str | Path, meta: dict[str, Any], *, overwrite: bool = False):
        self.path = Path(path)
        for key in ("dataset", "fingerprint", "modalities", "label_names", "size"):
            if key not in meta:
                raise ConfigError(f"synthetic set metadata needs {key!r}")
        self.meta = dict(meta)
        self.overwrite = overwrite
        self.n = 0
        self._stack: ExitStack | None = None
        self._schema: pa.Schema | None = None

    def __enter__(self) -> "SetWriter":
        stack = ExitStack()
        self.tmp = stack.enter_context(atomic_dir(self.path, overwrite=self.overwrite))
        size, m = int(self.meta["size"]), len(self.meta["modalities"])
        self._arrays = {
            "images": stack.enter_context(NpyAppender(self.tmp / "images.npy", np.float32, (m, size, size))),
            "masks": stack.enter_context(NpyAppender(self.tmp / "masks.npy", np.uint8, (size, size))),
            "labels": stack.enter_context(NpyAppender(self.tmp / "labels.npy", np.uint8, (size, size))),
            "structure": stack.enter_context(NpyAppender(self.tmp / "structure.npy", np.uint8, (size, size))),
        }
        self._pq: pq.ParquetWriter | None = None
        self._stack = stack
        return self

    def add(self, images: np.ndarray, masks: np.ndarray, labels: np.ndarray, structure: np.ndarray,
            rows: list[dict[str, Any]]) -> None:
        """Append ``B`` samples: ``images (B, M, H, W)`` in [0, 1], the others ``(B, H, W)``."""
        b = len(rows)
        for name, arr in (("images", images), ("masks", masks), ("labels", labels), ("structure", structure)):
            if len(arr) != b:
                raise ValueError(f"{name} has {len(arr)} samples but {b} catalog rows were given")
        frame = pd.DataFrame(rows)
        frame.insert(0, "index", np.arange(self.n, self.n + b, dtype=np.int64))
        frame.insert(0, "sample_id", [sample_id(i) for i in frame["index"]])
        table = pa.Table.from_pandas(frame, preserve_index=False)
        if self._schema is None:
            self._schema = table.schema
            self._pq = pq.ParquetWriter(self.tmp / "catalog.parquet", self._schema)
        else:
            if table.schema.names != self._schema.names:
                raise ValueError(f"catalog columns changed between chunks: {table.schema.names} != {self._schema.names}")
            table = table.cast(self._schema)
        self._pq.write_table(table)
        self._arrays["images"].append(np.clip(images, 0.0, 1.0))
        self._arrays["masks"].append(masks)
        self._arrays["labels"].append(labels)
        self._arrays["structure"].append(structure)
        self.n += b

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        assert self._stack is not None
        if exc_type is not None:
            if self._pq is not None:
                self._pq.close()
            return self._stack.__exit__(exc_type, exc, tb)  # removes the temporary folder
        try:
            self._finalise()
        except BaseException as err:
            self._stack.__exit__(type(err), err, err.__traceback__)
            raise
        return self._stack.__exit__(None, None, None)  # renames the folder into place

    def _finalise(self) -> None:
        if self.n == 0:
            raise ConfigError(f"{self.path.name}: no samples were produced; the set was not created")
        for a in self._arrays.values():
            a.close()
        self._pq.close()
        meta = {"format": FORMAT, "name": self.path.name, **self.meta, "n": self.n}
        (self.tmp / "set.json").write_text(json.dumps(meta, indent=2, default=str) + "\n")


class SyntheticSet:
    """A set opened from disk; arrays are memory-mapped read-only, the catalog read on demand."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta_path = self.path / "set.json"
        if not meta_path.is_file():
            raise NotFoundError(f"{self.path}: not a synthetic set (no set.json)")
        try:
            self.meta: dict[str, Any] = json.loads(meta_path.read_text())
        except ValueError as err:
            raise InputError(meta_path, f"unreadable set description ({err})") from None
        if self.meta.get("format") != FORMAT:
            raise InputError(meta_path, f"unknown format {self.meta.get('format')!r} (expected {FORMAT})")
        arrays = {}
        for name in ARRAYS:
            f = self.path / f"{name}.npy"
            try:
                arrays[name] = np.load(f, mmap_mode="r", allow_pickle=False)
            except (OSError, ValueError) as err:
                raise InputError(f, f"unreadable array ({err})") from None
        self.images, self.masks, self.labels, self.structure = (arrays[k] for k in ARRAYS)
        n = int(self.meta.get("n", -1))
        if not all(len(a) == n for a in arrays.values()):
            raise InputError(self.path, f"set.json says {n} samples but the arrays hold "
                                        f"{[len(a) for a in arrays.values()]}")
        if not (self.path / "catalog.parquet").is_file():
            raise InputError(self.path / "catalog.parquet", "missing catalog")
        self._stored: pd.DataFrame | None = None
        self._catalog: pd.DataFrame | None = None
        self._reviewed: tuple[tuple[int, int], pd.DataFrame] | None = None

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def dataset(self) -> str:
        return str(self.meta["dataset"])

    @property
    def fingerprint(self) -> str:
        return str(self.meta["fingerprint"])

    @property
    def modalities(self) -> tuple[str, ...]:
        return tuple(self.meta["modalities"])

    @property
    def on_real_slices(self) -> bool:
        """Samples are real slices with a painted lesion (:func:`on_real_slices`)."""
        return on_real_slices(self.meta)

    @property
    def label_names(self) -> dict[int, str]:
        return {int(k): str(v) for k, v in self.meta["label_names"].items()}

    @property
    def size(self) -> int:
        return int(self.meta["size"])

    def __len__(self) -> int:
        return int(self.meta["n"])

    @property
    def stored_catalog(self) -> pd.DataFrame:
        """``catalog.parquet`` as written at synthesis (no side-table columns)."""
        if self._stored is None:
            try:
                cat = pd.read_parquet(self.path / "catalog.parquet")
            except Exception as err:  # pyarrow raises several types for a damaged file
                raise InputError(self.path / "catalog.parquet", f"unreadable catalog ({err})") from None
            if len(cat) != len(self) or any(c not in cat.columns for c in REQUIRED_COLUMNS):
                raise InputError(self.path / "catalog.parquet", f"catalog has {len(cat)} rows for {len(self)} samples "
                                                                "or lacks sample_id/index")
            self._stored = cat
        return self._stored

    @property
    def catalog(self) -> pd.DataFrame:
        """The stored catalog with the realness side table (if any) joined on ``sample_id`` (samples
        it lacks get NaN) and the review columns of the review log (``""`` when unreviewed): one row
        per sample, in sample order. The review part is re-read whenever the log has grown, so a
        set object kept open (a page's cache) sees new decisions."""
        stamp = ReviewLog(self.path).stamp()
        if self._reviewed is None or self._reviewed[0] != stamp:
            self._reviewed = (stamp, join_reviews(self._side_joined(), self.path))
        return self._reviewed[1]

    def _side_joined(self) -> pd.DataFrame:
        if self._catalog is None:
            cat = self.stored_catalog
            side = read_realness(self.path)
            if side is not None:
                if not side["sample_id"].isin(cat["sample_id"]).all() or side["sample_id"].duplicated().any():
                    raise InputError(self.path / REALNESS_FILE, "realness table names samples this set does not "
                                                                "hold; delete it and evaluate the set again")
                side = side.drop(columns=[c for c in side.columns if c != "sample_id" and c in cat.columns])
                cat = cat.merge(side, on="sample_id", how="left", validate="one_to_one")
            self._catalog = cat
        return self._catalog

    @property
    def column_help(self) -> dict[str, str]:
        """Explanation per catalog column (prefix keys such as ``dice_``): ``set.json``'s notes plus
        those of the realness side table and the review columns."""
        return {**REVIEW_HELP, **column_help(self.path), **dict(self.meta.get("columns", {}))}

    def select(self, expr: str | None = None) -> pd.DataFrame:
        """Catalog rows passing the filter ``expr`` (see :mod:`synth_core.synthesis.query`)."""
        cat = self.catalog
        return cat[apply_filter(cat, expr)]

    def provenance(self, i: int) -> dict[str, Any]:
        """Everything needed to regenerate sample ``i``: the set-level runs plus the row's seeds."""
        row = self.catalog.iloc[int(i)].to_dict()
        keys = [k for k in row if k in PROVENANCE_COLUMNS]
        out = {k: (v.item() if hasattr(v, "item") else v) for k, v in row.items() if k in keys}
        out["runs"] = self.meta.get("runs", {})
        return out

    def sample(self, i: int) -> Sample:
        i = int(i)
        return Sample(
            image=np.array(self.images[i]),
            mask=np.array(self.masks[i]),
            label=np.array(self.labels[i]),
            structure=np.array(self.structure[i]),
            meta=SliceMeta(case_id=sample_id(i), slice_index=0, source="synthetic", split="train",
                           provenance=self.provenance(i)),
        )


PROVENANCE_COLUMNS = ("sample_id", "index", "seed", "latent_index", "latent_source", "latent", "noise_seed", "batch_start", "batch_size",
                      "lesion_source", "lesion_index", "lesion_params",
                      "generator", "source_row", "source_tries", "lesion_drawn")  # the last four: pix2pix sets (.inpaint)


def open_set(workspace_root: str | Path, name: str) -> SyntheticSet:
    from synth_core.workspace import Workspace

    ws = Workspace.open(workspace_root, create=False)
    return SyntheticSet(ws.existing("synthetic", name))
