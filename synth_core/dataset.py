"""A dataset on disk: normalised 2-D slices with organ masks, lesion labels and structure maps.

Layout of ``workspace/datasets/NAME/``::

    dataset.json     what the dataset is (modalities, label names, kind, size, parameters,
                     counts, fingerprint, content_sha256, content_summary)
    index.parquet    one row per slice: slice_id, case_id, slice_index, spacing_row/col/slice,
                     source_path (relative to the ingested folder), subject (the case id, or
                     for DICOM a keyed hash of the PatientID: one patient's cases share a split),
                     split, organ_pixels, lesion_pixels, n_lesions
    images.npy       (N, C, H, W) float32 in [0, 1]
    masks.npy        (N, H, W) uint8 {0,1}, 1 = inside the organ
    labels.npy       (N, H, W) uint8 lesion classes (0 = no lesion)
    structure.npy    (N, H, W) uint8 {0,1}, Algorithm 1 from the structure modality

:class:`DatasetWriter` streams case by case into a temporary folder renamed into place when it
closes without error; an interrupted write leaves nothing under the final name.

Identity (format 2). ``fingerprint`` hashes what is stable on every machine: the spec and each
case id with its split. The arrays themselves come out of float arithmetic (resampling, filters,
percentiles) whose last bits differ from one CPU to another, so they are recorded twice beside it:
``content_sha256``, the exact bytes (informative: equal means bit-identical inputs), and
``content_summary``, per-case statistics (slices, mean of each modality, organ, lesion and contour
fractions) that runs and sets carry so a reader can tell "the same data, last bits differ" from
"other data under the same cases" (:func:`compare_content`). Datasets written before format 2
have only the byte hash, used as both fingerprint and content hash.
:class:`Dataset` opens the arrays memory-mapped, so any size opens instantly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from synth_core import __version__
from synth_core.atomic import atomic_dir
from synth_core.errors import InputError, NotFoundError
from synth_core.npyfile import NpyAppender
from synth_core.records import Sample, SliceMeta
from synth_core.structure import KINDS, StructureParams, structure_map

FORMAT_VERSION = 2
SPLITS = ("train", "val", "test")
ARRAYS = ("images", "masks", "labels", "structure")


@dataclass(frozen=True)
class DatasetSpec:
    """What a dataset holds and how it was made (everything but the arrays)."""

    name: str
    layout: str  # brats | lits | msd | nifti | dicom | png | demo
    kind: str  # mri | ct | xray | other: selects structure-map defaults and display windows
    modalities: tuple[str, ...]
    label_names: dict[int, str]  # lesion classes, 0 must be "background"
    size: int  # working size: slices are size x size
    structure: StructureParams = field(default_factory=StructureParams)
    structure_modality: int = 0  # index of the modality Algorithm 1 runs on
    erase_lesion_contours: bool = True  # remove the lesion's own contours from the structure map
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)  # train / val / test, by case
    seed: int = 0  # seeds the case split
    params: dict[str, Any] = field(default_factory=dict)  # layout-specific ingest parameters

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        if not self.modalities:
            raise ValueError("a dataset needs at least one modality")
        if len(set(self.modalities)) != len(self.modalities):
            raise ValueError(f"modality names must be unique: {self.modalities}")
        if not (0 <= self.structure_modality < len(self.modalities)):
            raise ValueError(f"structure_modality {self.structure_modality} out of range for {self.modalities}")
        if self.label_names.get(0) != "background":
            raise ValueError("label_names must map 0 to 'background'")
        if any(not (0 <= int(k) < 256) for k in self.label_names):
            raise ValueError(f"label values must be in 0..255: {sorted(self.label_names)}")
        if not (8 <= self.size <= 2048):
            raise ValueError(f"size must be between 8 and 2048 pixels, not {self.size}")
        fr = self.split_fractions
        if len(fr) != 3 or any(f < 0 for f in fr) or abs(sum(fr) - 1.0) > 1e-6:
            raise ValueError(f"split_fractions must be 3 non-negative numbers summing to 1, not {fr}")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["modalities"] = list(self.modalities)
        d["label_names"] = {str(k): v for k, v in sorted(self.label_names.items())}
        d["structure"] = self.structure.to_dict()
        d["split_fractions"] = list(self.split_fractions)
        return d

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> "DatasetSpec":
        d = dict(d)
        d["modalities"] = tuple(d["modalities"])
        d["label_names"] = {int(k): v for k, v in d["label_names"].items()}
        d["structure"] = StructureParams(**d["structure"])
        d["split_fractions"] = tuple(d["split_fractions"])
        return cls(**d)


def assign_splits(case_ids: list[str], fractions: tuple[float, float, float], seed: int,
                  subjects: dict[str, str] | None = None) -> dict[str, str]:
    """Seeded split of cases into train/val/test. With >= 3 cases each non-zero fraction gets at
    least one case; with fewer, all cases go to train.

    ``subjects`` (case -> subject, e.g. a keyed hash of the DICOM PatientID): the cases of one
    subject always share a split, and the fractions count subjects. Subjects are ordered by their
    smallest case id, so the split does not depend on how the subject names were made; with one
    case per subject (or no ``subjects``) the split is exactly the per-case one."""
    cases = sorted(case_ids)
    members: dict[str, list[str]] = {}
    for c in cases:
        members.setdefault((subjects or {}).get(c) or f"case:{c}", []).append(c)
    units = sorted(members.values(), key=lambda m: m[0])  # by smallest case id (cases are sorted)
    rng = np.random.default_rng(seed)
    order = [units[i] for i in rng.permutation(len(units))]
    n = len(order)
    if len(cases) < 3 or n < 3:
        return {c: "train" for c in cases}
    n_val = max(1, int(round(fractions[1] * n))) if fractions[1] > 0 else 0
    n_test = max(1, int(round(fractions[2] * n))) if fractions[2] > 0 else 0
    n_train = n - n_val - n_test
    out = {}
    for i, unit in enumerate(order):
        for c in unit:
            out[c] = "train" if i < n_train else ("val" if i < n_train + n_val else "test")
    return out


def summary_columns(modalities: tuple[str, ...] | list[str]) -> list[str]:
    """Columns of ``content_summary``: one row per case."""
    return ["slices", *[f"mean_{m}" for m in modalities], "organ", "lesion", "contour"]


def _case_summary(images: np.ndarray, masks: np.ndarray, labels: np.ndarray, struct: np.ndarray) -> list[float]:
    """One case's row of ``content_summary`` (float64 sums, rounded to 8 decimals)."""
    means = images.astype(np.float64).mean(axis=(0, 2, 3))
    fr = [float(np.asarray(a, dtype=np.float64).mean()) for a in (masks, labels > 0, struct)]
    return [float(images.shape[0]), *[round(float(v), 8) for v in means], *[round(v, 8) for v in fr]]


#: largest per-case summary difference :func:`compare_content` still calls "close". Summary values
#: are means of images in [0, 1] and of 0/1 maps; last-bit differences between CPUs move them by
#: ~1e-7, a genuinely different build by 1e-2 and more.
CONTENT_TOLERANCE = 1e-3
MATCH_KINDS = ("identical", "close", "different", "unknown")


@dataclass(frozen=True)
class ContentMatch:
    """How a dataset's content compares with what a run or a set recorded of it.

    ``kind``: ``identical`` (same byte hash), ``close`` (same cases; slice counts within 1 per case;
    every other summary value within :data:`CONTENT_TOLERANCE`, widened by ``1/slices`` for a case
    whose slice count differs by one, since one slice more or less moves a mean of values in [0, 1]
    by at most that), ``different`` (anything else), ``unknown`` (no summary on one side: a run, set
    or dataset from before format 2). ``max_abs_diff``: largest summary difference (0 when
    identical, ``inf`` when the case lists differ, ``nan`` when unknown). ``detail``: one line."""

    kind: str
    max_abs_diff: float
    detail: str

    def __post_init__(self) -> None:
        if self.kind not in MATCH_KINDS:
            raise ValueError(f"kind must be one of {MATCH_KINDS}, not {self.kind!r}")


def compare_content(ds: "Dataset", recorded: dict[str, Any] | None,
                    tolerance: float = CONTENT_TOLERANCE) -> ContentMatch:
    """Compare ``ds`` with a content record ``{"sha256", "summary"}`` (:meth:`Dataset.content_record`)."""
    rec = recorded or {}
    here = ds.content_record()
    if rec.get("sha256") and rec.get("sha256") == here["sha256"]:
        return ContentMatch("identical", 0.0, f"same bytes (sha256 {here['sha256'][:12]})")
    hashes = f"byte hashes {str(rec.get('sha256') or '?')[:12]} (recorded) and {here['sha256'][:12]} (here)"
    a, b = rec.get("summary"), here["summary"]
    if not a or not b:
        which = "the record" if not a else "this dataset"
        return ContentMatch("unknown", float("nan"), f"{which} has no per-case summary (made before dataset format 2); "
                                                     f"{hashes} differ")
    if list(a["columns"]) != list(b["columns"]):
        return ContentMatch("different", float("inf"), f"other summary columns ({', '.join(a['columns'])} recorded, "
                                                       f"{', '.join(b['columns'])} here)")
    rows_a = dict(zip(a["cases"], a["values"]))
    rows_b = dict(zip(b["cases"], b["values"]))
    if set(rows_a) != set(rows_b):
        only_a, only_b = sorted(set(rows_a) - set(rows_b)), sorted(set(rows_b) - set(rows_a))
        return ContentMatch("different", float("inf"), f"other cases ({len(only_a)} only in the record, e.g. "
                                                       f"{(only_a or ['-'])[0]!r}; {len(only_b)} only here, e.g. "
                                                       f"{(only_b or ['-'])[0]!r})")
    cols = list(a["columns"])
    worst, worst_at, shifted = 0.0, "", 0
    for case, va in rows_a.items():
        va, vb = np.asarray(va, np.float64), np.asarray(rows_b[case], np.float64)
        ds_n = abs(va[0] - vb[0])
        if ds_n > 1:
            return ContentMatch("different", float(np.abs(va[1:] - vb[1:]).max(initial=0.0)),
                                f"case {case!r} has {int(vb[0])} slices here and {int(va[0])} in the record")
        shifted += ds_n > 0
        allowed = tolerance + ds_n / max(va[0], vb[0], 1.0)
        d = np.abs(va[1:] - vb[1:])
        if not np.all(np.isfinite(d)):
            return ContentMatch("different", float("inf"), f"case {case!r} has non-finite summary values")
        if d.size and d.max() > worst:
            worst, worst_at = float(d.max()), f"{cols[1 + int(d.argmax())]} of case {case!r}"
        if d.size and d.max() > allowed:
            return ContentMatch("different", worst, f"{cols[1 + int(d.argmax())]} of case {case!r} differs by "
                                                    f"{float(d.max()):.3g} (tolerance {allowed:.3g})")
    moved = f"; {shifted} case(s) with one slice more or less" if shifted else ""
    at = f" ({worst_at})" if worst_at else ""
    return ContentMatch("close", worst, f"same {len(rows_a)} cases, summaries differ by at most {worst:.2g}{at}, "
                                        f"within {tolerance:g}{moved}; {hashes} differ")


def identity_fingerprint(spec: DatasetSpec, splits: dict[str, str]) -> str:
    """sha256 of what makes a dataset *this* dataset on any machine: the spec and every case id
    with its split (no array bytes: those differ in the last bits between CPUs)."""
    ident = {"identity": 2, "spec": spec.to_json(), "splits": dict(sorted(splits.items()))}
    return hashlib.sha256(json.dumps(ident, sort_keys=True).encode()).hexdigest()


class DatasetWriter:
    """Write a dataset case by case; use as a context manager.

    >>> with DatasetWriter(ws.path("datasets", "mine"), spec) as w:   # doctest: +SKIP
    ...     w.add_case("case1", images, masks, labels, slice_indices, spacing, "case1/t1.nii.gz")
    """

    def __init__(self, path: str | Path, spec: DatasetSpec, *, overwrite: bool = False,
                 splits: dict[str, str] | None = None, derived_from: dict[str, Any] | None = None):
        """``splits`` (case id -> train | val | test): use these splits instead of drawing them
        (:func:`assign_splits`); every case written must be in it. ``derived_from``: recorded as is
        in ``dataset.json`` (a subset records its parent and its rows, :mod:`synth_core.dataset_subset`)."""
        self.final = Path(path)
        self.spec = spec
        self._overwrite = overwrite
        if splits is not None and set(splits.values()) - set(SPLITS):
            raise ValueError(f"splits must map cases to {SPLITS}, not {sorted(set(splits.values()) - set(SPLITS))}")
        self._fixed_splits = dict(splits) if splits is not None else None
        self._derived_from = derived_from
        self._ctx = None
        self._rows: list[dict[str, Any]] = []
        self._hash = hashlib.sha256()
        self._cases: list[str] = []
        self._summary: list[list[float]] = []
        self._subjects: dict[str, str] = {}

    def __enter__(self) -> "DatasetWriter":
        self._ctx = atomic_dir(self.final, overwrite=self._overwrite)
        self.tmp = self._ctx.__enter__()
        c, s = len(self.spec.modalities), self.spec.size
        self._files = {
            "images": NpyAppender(self.tmp / "images.npy", np.float32, (c, s, s)),
            "masks": NpyAppender(self.tmp / "masks.npy", np.uint8, (s, s)),
            "labels": NpyAppender(self.tmp / "labels.npy", np.uint8, (s, s)),
            "structure": NpyAppender(self.tmp / "structure.npy", np.uint8, (s, s)),
        }
        return self

    def add_case(
        self,
        case_id: str,
        images: np.ndarray,
        masks: np.ndarray,
        labels: np.ndarray,
        slice_indices: np.ndarray | list[int],
        spacing: tuple[float, float, float],
        source_path: str,
        subject: str | None = None,
        structure: np.ndarray | None = None,
    ) -> int:
        """Append the kept slices of one case; returns the number of slices written.

        ``subject``: the (already pseudonymised) subject the case belongs to; cases of one subject
        share a split (:func:`assign_splits`). None: the case is its own subject.

        ``images (S,C,H,W)`` float in [0,1]; ``masks (S,H,W)`` {0,1}; ``labels (S,H,W)`` integer
        classes present in ``spec.label_names``. The structure map is computed here (Algorithm 1 on
        ``spec.structure_modality``, restricted to the mask, lesion contours optionally erased)
        unless ``structure (S,H,W)`` {0,1} is given (a subset copies its parent's maps).
        """
        sp = self.spec
        if case_id in self._cases:
            raise InputError(source_path, f"duplicate case id {case_id!r}")
        if self._fixed_splits is not None and case_id not in self._fixed_splits:
            raise InputError(source_path, f"case {case_id!r} has no split in the splits given")
        images = np.asarray(images, dtype=np.float32)
        n = images.shape[0]
        exp = (n, len(sp.modalities), sp.size, sp.size)
        if images.shape != exp:
            raise InputError(source_path, f"images have shape {images.shape}, expected {exp}")
        if n == 0:
            return 0
        if not np.all(np.isfinite(images)) or images.min() < 0 or images.max() > 1:
            raise InputError(source_path, "images must be finite and normalised to [0, 1]")
        masks = (np.asarray(masks) > 0).astype(np.uint8)
        labels_arr = np.asarray(labels)
        if masks.shape != exp[:1] + exp[2:] or labels_arr.shape != masks.shape:
            raise InputError(source_path, f"mask {masks.shape} / label {labels_arr.shape} do not match images {images.shape}")
        bad = set(np.unique(labels_arr).tolist()) - set(sp.label_names)
        if bad:
            raise InputError(source_path, f"label values {sorted(bad)} not in the label classes {sorted(sp.label_names)}")
        labels_arr = labels_arr.astype(np.uint8)
        masks = masks | (labels_arr > 0).astype(np.uint8)  # a lesion is always inside the organ
        if structure is not None:
            struct = (np.asarray(structure) > 0).astype(np.uint8)
            if struct.shape != masks.shape:
                raise InputError(source_path, f"structure maps {struct.shape} do not match images {images.shape}")
        else:
            struct = structure_map(
                images[:, sp.structure_modality],
                sp.structure,
                mask=masks,
                lesion=labels_arr if sp.erase_lesion_contours else None,
            )
        for key, arr in (("images", images), ("masks", masks), ("labels", labels_arr), ("structure", struct)):
            self._files[key].append(arr)
            self._hash.update(key.encode())
            self._hash.update(np.ascontiguousarray(arr).tobytes())
        self._summary.append(_case_summary(images, masks, labels_arr, struct))
        base = len(self._rows)
        for j in range(n):
            lesion = labels_arr[j] > 0
            self._rows.append(
                {
                    "slice_id": base + j,
                    "case_id": str(case_id),
                    "slice_index": int(slice_indices[j]),
                    "spacing_row": float(spacing[0]),
                    "spacing_col": float(spacing[1]),
                    "spacing_slice": float(spacing[2]),
                    "source_path": str(source_path),
                    "subject": str(subject) if subject else str(case_id),
                    "organ_pixels": int(masks[j].sum()),
                    "lesion_pixels": int(lesion.sum()),
                    "n_lesions": int(ndimage.label(lesion)[1]) if lesion.any() else 0,
                }
            )
        self._cases.append(case_id)
        if subject:
            self._subjects[case_id] = str(subject)
        return n

    def __exit__(self, exc_type, exc, tb) -> bool | None:
        assert self._ctx is not None
        try:
            for f in self._files.values():
                f.close()
            if exc_type is None:
                if not self._rows:
                    raise InputError(None, f"dataset {self.spec.name!r}: no slices were kept; nothing written")
                self._finalise()
        except BaseException as err:
            self._ctx.__exit__(type(err), err, err.__traceback__)
            raise
        return self._ctx.__exit__(exc_type, exc, tb)

    def _finalise(self) -> None:
        sp = self.spec
        if self._fixed_splits is not None:
            splits = {c: self._fixed_splits[c] for c in self._cases}
        else:
            splits = assign_splits(self._cases, sp.split_fractions, sp.seed, self._subjects)
        index = pd.DataFrame(self._rows)
        index["split"] = index["case_id"].map(splits)
        self._hash.update(json.dumps(sp.to_json(), sort_keys=True).encode())
        self._hash.update(json.dumps(splits, sort_keys=True).encode())
        content_sha256 = self._hash.hexdigest()
        fingerprint = identity_fingerprint(sp, splits)
        index.to_parquet(self.tmp / "index.parquet", index=False)
        info = {
            "format_version": FORMAT_VERSION,
            "synth_core_version": __version__,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "spec": sp.to_json(),
            "fingerprint": fingerprint,
            "content_sha256": content_sha256,
            "content_summary": {"columns": summary_columns(sp.modalities), "cases": list(self._cases),
                                "values": self._summary},
            "n_cases": len(self._cases),
            "n_slices": len(index),
            "split_cases": {s: sum(1 for v in splits.values() if v == s) for s in SPLITS},
        }
        if self._derived_from is not None:
            info["derived_from"] = self._derived_from
        (self.tmp / "dataset.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")


class Dataset:
    """A dataset opened from disk; arrays are memory-mapped read-only."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        meta = self.path / "dataset.json"
        if not meta.is_file():
            raise NotFoundError(f"{self.path}: not a dataset (no dataset.json)")
        try:
            self.info: dict[str, Any] = json.loads(meta.read_text())
            self.spec = DatasetSpec.from_json(self.info["spec"])
        except (ValueError, KeyError, TypeError) as err:
            raise InputError(meta, f"unreadable dataset description ({err})") from err
        self.index = pd.read_parquet(self.path / "index.parquet")
        self.images = np.load(self.path / "images.npy", mmap_mode="r")
        self.masks = np.load(self.path / "masks.npy", mmap_mode="r")
        self.labels = np.load(self.path / "labels.npy", mmap_mode="r")
        self.structure = np.load(self.path / "structure.npy", mmap_mode="r")
        if not (len(self.index) == len(self.images) == len(self.masks) == len(self.labels) == len(self.structure)):
            raise InputError(self.path, "index and arrays disagree on the number of slices")

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def fingerprint(self) -> str:
        """Stable identity (spec + cases + splits); see the module docstring."""
        return str(self.info["fingerprint"])

    @property
    def content_sha256(self) -> str:
        """Exact hash of the arrays (format 1 datasets: their only fingerprint)."""
        return str(self.info.get("content_sha256", self.info["fingerprint"]))

    def content_record(self) -> dict[str, Any]:
        """What a run or a set records of this dataset's content: the byte hash and the per-case summary."""
        return {"sha256": self.content_sha256, "summary": self.info.get("content_summary")}

    @property
    def modalities(self) -> tuple[str, ...]:
        return self.spec.modalities

    @property
    def label_names(self) -> dict[int, str]:
        return self.spec.label_names

    @property
    def has_lesions(self) -> bool:
        return bool((self.index["lesion_pixels"] > 0).any())

    def __len__(self) -> int:
        return len(self.index)

    def subjects(self) -> pd.Series:
        """Subject of each slice (index order): the ``subject`` column (cases of one patient share
        it), or the case id for datasets written before it existed."""
        if "subject" in self.index.columns:
            return self.index["subject"].astype(str)
        return self.index["case_id"].astype(str)

    def zero_outside_masks(self, n: int = 64) -> bool:
        """Whether the real images are exactly 0 outside their organ masks (skull-stripped MRI is;
        CT with a liver mask is not), judged on ``n`` evenly spaced slices so that it stays cheap at
        any dataset size. Synthesis uses it for ``zero_background = "auto"``."""
        if len(self) == 0:
            return False
        rows = np.unique(np.linspace(0, len(self) - 1, min(int(n), len(self))).round().astype(np.int64))
        outside = np.asarray(self.masks[rows]) == 0  # (k, H, W)
        images = np.asarray(self.images[rows])  # (k, M, H, W)
        return bool(outside.any()) and not np.where(outside[:, None], images, 0).any()

    def split_indices(self, split: str) -> np.ndarray:
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, not {split!r}")
        return self.index.index[self.index["split"] == split].to_numpy()

    def sample(self, i: int) -> Sample:
        row = self.index.iloc[int(i)]
        return Sample(
            image=np.array(self.images[i]),
            mask=np.array(self.masks[i]),
            label=np.array(self.labels[i]),
            structure=np.array(self.structure[i]),
            meta=SliceMeta(
                case_id=str(row.case_id),
                slice_index=int(row.slice_index),
                spacing=(float(row.spacing_row), float(row.spacing_col), float(row.spacing_slice)),
                source="real",
                source_path=str(row.source_path),
                split=str(row.split),
            ),
        )

    def summary(self) -> dict[str, Any]:
        """Counts for ``info``: cases, slices per split, label classes with pixel and lesion counts."""
        idx = self.index
        labels = np.asarray(self.labels)
        per_class = {}
        for value, name in sorted(self.label_names.items()):
            if value == 0:
                continue
            sel = labels == value
            slices_with = int(sel.reshape(len(labels), -1).any(axis=1).sum())
            per_class[name] = {"value": value, "pixels": int(sel.sum()), "slices": slices_with}
        return {
            "name": self.name,
            "layout": self.spec.layout,
            "kind": self.spec.kind,
            "cases": int(idx["case_id"].nunique()),
            "slices": int(len(idx)),
            "slices_per_split": {s: int((idx["split"] == s).sum()) for s in SPLITS},
            "cases_per_split": {s: int(idx.loc[idx["split"] == s, "case_id"].nunique()) for s in SPLITS},
            "modalities": list(self.modalities),
            "size": self.spec.size,
            "label_classes": per_class,
            "slices_with_lesion": int((idx["lesion_pixels"] > 0).sum()),
            "lesions": int(idx["n_lesions"].sum()),
            "fingerprint": self.fingerprint,
            "content_sha256": self.content_sha256,
        }


def open_dataset(workspace_root: str | Path, name: str) -> Dataset:
    from synth_core.workspace import Workspace

    ws = Workspace.open(workspace_root, create=False)
    return Dataset(ws.existing("datasets", name))
