"""A bank of real lesions: every connected lesion of a dataset's label maps, cropped and described.

A lesion is one 8-connected component of ``label > 0`` in one slice (METHOD.md §8). Its patch is
the integer label inside the component's bounding box, with pixels of *other* lesions in the box
set to 0; classes are kept, so a BraTS tumour with core, edema and enhancing parts stays one
lesion with three classes.

On disk (:meth:`LesionBank.save`) a bank is a folder written atomically::

    bank.json         format version, label names, where the lesions came from
    lesions.parquet   one row per lesion (the statistics of :meth:`LesionBank.to_frame`)
    patches.npz       ``data`` (all patches, flattened and concatenated, uint8) and ``shapes`` (n, 2)

No pickle is involved: the npz is read with ``allow_pickle=False``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import ndimage

from synth_core.atomic import atomic_dir
from synth_core.errors import ConfigError, InputError, NotFoundError

FORMAT_VERSION = 1
_EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity
_CHUNK_BYTES = 16 << 20  # slices of labels read per chunk: about 16 MiB at a time


@dataclass(frozen=True, eq=False)
class LesionEntry:
    """One lesion of the bank.

    ``bbox`` is ``(r0, c0, r1, c1)``, half-open, in the source slice; ``patch (r1-r0, c1-c0)``
    uint8 (read-only) holds this lesion's classes and 0 elsewhere; ``classes`` maps class value ->
    pixels; ``centroid`` is ``(row, col)`` as fractions of the source image height and width;
    ``row`` is the slice's position in the dataset (-1 when built from bare arrays).
    """

    id: str
    case_id: str
    slice_index: int
    split: str
    row: int
    bbox: tuple[int, int, int, int]
    patch: np.ndarray = field(repr=False)
    classes: dict[int, int]
    area: int
    centroid: tuple[float, float]
    image_shape: tuple[int, int]

    @property
    def height(self) -> int:
        return self.bbox[2] - self.bbox[0]

    @property
    def width(self) -> int:
        return self.bbox[3] - self.bbox[1]

    @property
    def center(self) -> tuple[float, float]:
        """Centre of the bounding box in source pixels ``(row, col)`` (the patch's own centre)."""
        r0, c0, r1, c1 = self.bbox
        return ((r0 + r1 - 1) / 2.0, (c0 + c1 - 1) / 2.0)


def extract_lesions(
    label: np.ndarray,
    *,
    case_id: str,
    slice_index: int,
    split: str = "",
    row: int = -1,
    min_area: int = 1,
) -> list[LesionEntry]:
    """The lesions (8-connected components of ``label > 0``) of one ``(H, W)`` integer label map,
    in scipy's raster order; components smaller than ``min_area`` pixels are skipped. Ids are
    ``f"{case_id}:{slice_index}:{k}"`` with ``k`` the component number (1-based, stable)."""
    label = np.asarray(label)
    if label.ndim != 2:
        raise ValueError(f"label must be (H, W), got shape {label.shape}")
    if not np.issubdtype(label.dtype, np.integer) and label.dtype != bool:
        raise ValueError(f"label must hold integer classes, not {label.dtype}")
    if label.size and (label.min() < 0 or label.max() > 255):
        raise ValueError("label classes must be in 0..255")
    comps, n = ndimage.label(label > 0, structure=_EIGHT)
    if n == 0:
        return []
    h, w = label.shape
    out = []
    for k, sl in enumerate(ndimage.find_objects(comps), start=1):
        own = comps[sl] == k
        area = int(own.sum())
        if area < min_area:
            continue
        patch = np.where(own, label[sl], 0).astype(np.uint8)
        patch.setflags(write=False)
        counts = np.bincount(patch[own], minlength=1)
        rr, cc = np.nonzero(own)
        r0, c0 = sl[0].start, sl[1].start
        out.append(
            LesionEntry(
                id=f"{case_id}:{slice_index}:{k}",
                case_id=str(case_id),
                slice_index=int(slice_index),
                split=str(split),
                row=int(row),
                bbox=(int(r0), int(c0), int(sl[0].stop), int(sl[1].stop)),
                patch=patch,
                classes={int(v): int(c) for v, c in enumerate(counts) if c and v},
                area=area,
                centroid=(float((rr.mean() + r0) / h), float((cc.mean() + c0) / w)),
                image_shape=(int(h), int(w)),
            )
        )
    return out


class LesionBank:
    """An ordered collection of :class:`LesionEntry`; index by position or by lesion id."""

    def __init__(
        self,
        entries: Iterable[LesionEntry],
        label_names: dict[int, str] | None = None,
        source: dict[str, Any] | None = None,
    ):
        self.entries: list[LesionEntry] = list(entries)
        self.label_names: dict[int, str] = dict(label_names or {0: "background"})
        self.source: dict[str, Any] = dict(source or {})
        self._by_id = {e.id: i for i, e in enumerate(self.entries)}
        if len(self._by_id) != len(self.entries):
            raise ValueError("lesion ids must be unique")

    # -- building ---------------------------------------------------------------------------

    @classmethod
    def from_dataset(cls, ds: Any, splits: Sequence[str] = ("train",), min_area: int = 1) -> "LesionBank":
        """Every lesion of the slices of ``ds`` (a :class:`synth_core.dataset.Dataset`) in
        ``splits``. Labels are read in chunks of about 16 MiB, so memory stays bounded."""
        splits = (splits,) if isinstance(splits, str) else tuple(splits)
        bad = [s for s in splits if s not in ("train", "val", "test")]
        if bad or not splits:
            raise ConfigError(f"splits must be a non-empty subset of ('train', 'val', 'test'), not {splits!r}")
        if min_area < 1:
            raise ConfigError(f"min_area must be >= 1 pixel, not {min_area!r}")
        idx = ds.index
        keep = idx["split"].isin(splits).to_numpy().copy()
        if "lesion_pixels" in idx:
            keep &= idx["lesion_pixels"].to_numpy() > 0
        rows = np.flatnonzero(keep)
        labels = ds.labels
        per_chunk = max(1, _CHUNK_BYTES // max(1, int(np.prod(labels.shape[1:]))))
        case_ids = idx["case_id"].astype(str).to_numpy()
        slice_ids = idx["slice_index"].to_numpy()
        split_col = idx["split"].astype(str).to_numpy()
        entries: list[LesionEntry] = []
        for start in range(0, len(idx), per_chunk):  # windows of at most per_chunk slices
            chunk = rows[(rows >= start) & (rows < start + per_chunk)]
            if not len(chunk):
                continue
            block = np.asarray(labels[chunk[0] : chunk[-1] + 1])  # one contiguous read
            for i in chunk:
                entries.extend(
                    extract_lesions(
                        block[i - chunk[0]],
                        case_id=case_ids[i],
                        slice_index=int(slice_ids[i]),
                        split=split_col[i],
                        row=int(i),
                        min_area=min_area,
                    )
                )
        source = {"dataset": ds.name, "fingerprint": ds.fingerprint, "splits": list(splits), "min_area": int(min_area)}
        return cls(entries, label_names=ds.label_names, source=source)

    @classmethod
    def from_arrays(
        cls,
        labels: np.ndarray,
        *,
        case_ids: Sequence[str] | None = None,
        slice_indices: Sequence[int] | None = None,
        splits: Sequence[str] | None = None,
        label_names: dict[int, str] | None = None,
        min_area: int = 1,
    ) -> "LesionBank":
        """A bank from label maps ``(N, H, W)`` held in memory (no dataset); by default slice ``i``
        is case ``"i"``, slice index 0, split ``"train"``."""
        labels = np.asarray(labels)
        if labels.ndim != 3:
            raise ValueError(f"labels must be (N, H, W), got shape {labels.shape}")
        n = len(labels)
        case_ids = [str(i) for i in range(n)] if case_ids is None else list(case_ids)
        slice_indices = [0] * n if slice_indices is None else list(slice_indices)
        splits = ["train"] * n if splits is None else list(splits)
        if not (len(case_ids) == len(slice_indices) == len(splits) == n):
            raise ValueError("case_ids, slice_indices and splits must have one value per label map")
        entries: list[LesionEntry] = []
        for i in range(n):
            entries.extend(
                extract_lesions(labels[i], case_id=case_ids[i], slice_index=int(slice_indices[i]),
                                split=splits[i], row=i, min_area=min_area)
            )
        return cls(entries, label_names=label_names, source={"arrays": n, "min_area": int(min_area)})

    # -- access -----------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[LesionEntry]:
        return iter(self.entries)

    def __getitem__(self, key: int | str) -> LesionEntry:
        if isinstance(key, str):
            try:
                return self.entries[self._by_id[key]]
            except KeyError:
                raise NotFoundError(f"lesion {key!r} is not in the bank ({len(self)} lesions)") from None
        return self.entries[int(key)]

    def __contains__(self, lesion_id: object) -> bool:
        return lesion_id in self._by_id

    @property
    def ids(self) -> list[str]:
        return [e.id for e in self.entries]

    def filter(
        self,
        classes: Iterable[int] | None = None,
        min_area: int | None = None,
        max_area: int | None = None,
        splits: Iterable[str] | None = None,
    ) -> "LesionBank":
        """A new bank with the lesions that contain at least one of ``classes`` (any class if
        None), have ``min_area <= area <= max_area`` and come from one of ``splits``."""
        want = None if classes is None else {int(c) for c in classes}
        split_set = None if splits is None else {str(s) for s in splits}
        kept = [
            e for e in self.entries
            if (want is None or want & e.classes.keys())
            and (min_area is None or e.area >= min_area)
            and (max_area is None or e.area <= max_area)
            and (split_set is None or e.split in split_set)
        ]
        source = dict(self.source)
        source["filter"] = {"classes": None if want is None else sorted(want), "min_area": min_area,
                            "max_area": max_area, "splits": None if split_set is None else sorted(split_set)}
        return LesionBank(kept, self.label_names, source)

    # -- statistics ---------------------------------------------------------------------------

    def class_values(self) -> list[int]:
        """Lesion class values: those named in ``label_names`` plus any found in the bank."""
        found = {v for e in self.entries for v in e.classes}
        return sorted((set(self.label_names) | found) - {0})

    def to_frame(self) -> pd.DataFrame:
        """One row per lesion: id, case_id, slice_index, split, row, bbox_r0/c0/r1/c1, height, width,
        area, centroid_r/c (fractions of the image), image_h/w, n_classes, dominant class (value
        and name) and ``px_<value>`` pixels per class. ``frame.attrs["label_names"]`` names them."""
        values = self.class_values()
        recs = []
        for e in self.entries:
            dom = max(e.classes.items(), key=lambda kv: (kv[1], -kv[0]))[0] if e.classes else 0
            rec = {
                "id": e.id, "case_id": e.case_id, "slice_index": e.slice_index, "split": e.split,
                "row": e.row, "bbox_r0": e.bbox[0], "bbox_c0": e.bbox[1], "bbox_r1": e.bbox[2],
                "bbox_c1": e.bbox[3], "height": e.height, "width": e.width, "area": e.area,
                "centroid_r": e.centroid[0], "centroid_c": e.centroid[1],
                "image_h": e.image_shape[0], "image_w": e.image_shape[1],
                "n_classes": len(e.classes), "dominant_class": dom,
                "dominant_name": self.label_names.get(dom, str(dom)),
            }
            for v in values:
                rec[f"px_{v}"] = e.classes.get(v, 0)
            recs.append(rec)
        cols = ["id", "case_id", "slice_index", "split", "row", "bbox_r0", "bbox_c0", "bbox_r1", "bbox_c1",
                "height", "width", "area", "centroid_r", "centroid_c", "image_h", "image_w", "n_classes",
                "dominant_class", "dominant_name"] + [f"px_{v}" for v in values]
        frame = pd.DataFrame.from_records(recs, columns=cols)
        int_cols = [c for c in cols if c not in ("id", "case_id", "split", "dominant_name", "centroid_r", "centroid_c")]
        frame[int_cols] = frame[int_cols].astype(np.int64)
        frame[["centroid_r", "centroid_c"]] = frame[["centroid_r", "centroid_c"]].astype(np.float64)
        frame.attrs["label_names"] = {int(k): v for k, v in self.label_names.items()}
        return frame

    # -- persistence --------------------------------------------------------------------------

    def save(self, path: str | Path, *, overwrite: bool = False) -> Path:
        """Write the bank to the folder ``path`` (atomically; see the module docstring)."""
        path = Path(path)
        shapes = np.array([e.patch.shape for e in self.entries], dtype=np.int64).reshape(-1, 2)
        data = (np.concatenate([e.patch.ravel() for e in self.entries]) if self.entries
                else np.zeros(0, np.uint8)).astype(np.uint8)
        info = {
            "format_version": FORMAT_VERSION,
            "label_names": {str(k): v for k, v in sorted(self.label_names.items())},
            "source": self.source,
            "n_lesions": len(self),
        }
        with atomic_dir(path, overwrite=overwrite) as tmp:
            with open(tmp / "patches.npz", "wb") as fh:
                np.savez(fh, data=data, shapes=shapes)
            self.to_frame().to_parquet(tmp / "lesions.parquet", index=False)
            (tmp / "bank.json").write_text(json.dumps(info, indent=2, sort_keys=True, default=str) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> "LesionBank":
        """Read a bank written by :meth:`save`; checks patches and table agree."""
        path = Path(path)
        meta = path / "bank.json"
        if not meta.is_file():
            raise NotFoundError(f"{path}: not a lesion bank (no bank.json)")
        try:
            info = json.loads(meta.read_text())
            version = info["format_version"]
            label_names = {int(k): str(v) for k, v in info["label_names"].items()}
        except (ValueError, KeyError, TypeError, AttributeError) as err:
            raise InputError(meta, f"unreadable lesion bank description ({err})") from err
        if version != FORMAT_VERSION:
            raise InputError(meta, f"lesion bank format {version!r} is not supported (expected {FORMAT_VERSION})")
        try:
            with np.load(path / "patches.npz", allow_pickle=False) as npz:
                data = np.asarray(npz["data"], dtype=np.uint8)
                shapes = np.asarray(npz["shapes"], dtype=np.int64).reshape(-1, 2)
            table = pd.read_parquet(path / "lesions.parquet")
        except (OSError, ValueError, KeyError) as err:
            raise InputError(path, f"unreadable lesion bank ({err})") from err
        sizes = shapes.prod(axis=1)
        if len(table) != len(shapes) or int(sizes.sum()) != data.size:
            raise InputError(path, "lesions.parquet and patches.npz disagree on the lesions")
        offsets = np.concatenate([[0], np.cumsum(sizes)])
        entries = []
        for i, rec in enumerate(table.itertuples(index=False)):
            patch = data[offsets[i] : offsets[i + 1]].reshape(shapes[i]).copy()
            patch.setflags(write=False)
            counts = np.bincount(patch.ravel(), minlength=1)
            classes = {int(v): int(c) for v, c in enumerate(counts) if c and v}
            area = int(sum(classes.values()))
            bbox = (int(rec.bbox_r0), int(rec.bbox_c0), int(rec.bbox_r1), int(rec.bbox_c1))
            if area != int(rec.area) or (bbox[2] - bbox[0], bbox[3] - bbox[1]) != tuple(shapes[i]):
                raise InputError(path, f"lesion {rec.id!r}: patch does not match its table row")
            entries.append(
                LesionEntry(
                    id=str(rec.id), case_id=str(rec.case_id), slice_index=int(rec.slice_index),
                    split=str(rec.split), row=int(rec.row), bbox=bbox, patch=patch, classes=classes,
                    area=area, centroid=(float(rec.centroid_r), float(rec.centroid_c)),
                    image_shape=(int(rec.image_h), int(rec.image_w)),
                )
            )
        return cls(entries, label_names=label_names, source=info.get("source") or {})

    def __repr__(self) -> str:
        return f"LesionBank({len(self)} lesions, classes={self.class_values()})"
