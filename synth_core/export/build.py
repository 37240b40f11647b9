"""Write an export: real slices plus selected synthetic ones, in a layout a segmentation pipeline reads.

``workspace/exports/<out>/`` holds ``imagesTr``/``labelsTr`` (real train + val slices and the
selected synthetic samples), ``imagesTs``/``labelsTs`` (the real test split only: synthetic
samples never enter it, so test scores stay scores on real patients), ``dataset.json``, the
manifest (:mod:`synth_core.export.manifest`) and ``splits_final.json`` (nnU-Net folds grouped by
subject, synthetic cases only in training folds, a sample painted into a real slice never in the
fold that validates that slice's subject: :mod:`synth_core.export.folds`). Each 2-D slice
is one case (nnU-Net 2-D); real case names are keyed hashes (:mod:`synth_core.export.naming`).
The channels are the dataset's modalities, or the set's when it holds only some of them (a pix2pix
set holds the modalities its runs filled): then the real slices are exported in those modalities
too, ``dataset.json`` names them, and a note says which were left out.

The folder is written under a temporary name and renamed when complete
(:func:`synth_core.atomic.atomic_dir`): an interrupted export leaves nothing, and an existing
export is never overwritten. Cases are streamed one by one from the memory-mapped dataset and
set arrays, so memory does not grow with the number of images (only the small manifest does).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from synth_core import __version__
from synth_core.atomic import atomic_dir
from synth_core.datalink import check_set
from synth_core.dataset import ContentMatch, Dataset
from synth_core.errors import ConfigError, ExistsError, InputError
from synth_core.export import manifest
from synth_core.export.formats import PARTS, case_files, dataset_json
from synth_core.export.folds import FILE as FOLDS_FILE
from synth_core.export.folds import subject_folds
from synth_core.export.naming import is_synthetic_case, real_case_name, synthetic_case_name
from synth_core.export.options import FORMAT_VERSION, ExportFormat, ExportOptions, ExportResult
from synth_core.export.selection import Selection, select_synthetic
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.pseudonym import workspace_secret
from synth_core.workspace import Workspace

Progress = Callable[[int, int], None]


def export(ws: Workspace, dataset: str, set_name: str | None, out: str, *, filter: str | None = None,
           fmt: ExportFormat = "nnunet", synthetic_ratio: float | None = None, min_nn_dist: float | None = None,
           seed: int = 0, progress: Progress | None = None) -> ExportResult:
    """Export ``dataset`` (+ samples of ``set_name``) to ``workspace/exports/<out>``; see the module docstring.

    ``progress(done, total)`` is called after each case. Raises ``ConfigError`` for bad options, a
    set made from another dataset, or a filter selecting nothing; ``NotFoundError`` for an unknown
    dataset or set; ``ExistsError`` when the export exists.
    """
    options = ExportOptions(dataset=dataset, out=out, set_name=set_name, filter=filter, fmt=fmt,
                            synthetic_ratio=synthetic_ratio, min_nn_dist=min_nn_dist, seed=seed)
    return run_export(ws, options, progress=progress)


def _check_set_matches(syn: SyntheticSet, ds: Dataset) -> ContentMatch:
    """The set was made from ``ds`` at its size and holds all of its modalities or some of them in
    the dataset's order (a pix2pix set holds the modalities its runs filled)."""
    match = check_set(ds, syn.meta, f"set {syn.name!r}")  # one line if made from another dataset
    order = [m for m in ds.modalities if m in syn.modalities]
    if not syn.modalities or list(syn.modalities) != order or syn.size != ds.spec.size:
        raise ConfigError(f"set {syn.name!r} has modalities {list(syn.modalities)} at {syn.size} px but dataset "
                          f"{ds.name!r} has {list(ds.modalities)} at {ds.spec.size} px")
    return match


def _left_out_note(syn: SyntheticSet, ds: Dataset) -> str:
    """The note of an export restricted to the set's modalities ("" when it holds them all)."""
    left = [m for m in ds.modalities if m not in syn.modalities]
    if not left:
        return ""
    return (f"set {syn.name!r} holds {', '.join(syn.modalities)} only (no generator filled "
            f"{', '.join(left)}), so the export holds those modalities of the real slices too, not "
            f"{', '.join(left)}")


def run_export(ws: Workspace, options: ExportOptions, *, progress: Progress | None = None) -> ExportResult:
    """:func:`export` with the options as one record (the CLI and pages build it)."""
    dest = ws.path("exports", options.out)
    if dest.exists():
        raise ExistsError(f"export {options.out!r} already exists in {ws.exports}; choose another name or delete it first")
    ds = Dataset(ws.existing("datasets", options.dataset))
    syn = SyntheticSet(ws.existing("synthetic", options.set_name)) if options.set_name else None

    idx = ds.index
    split = idx["split"].astype(str).to_numpy()
    train_rows = np.flatnonzero((split == "train") | (split == "val"))
    test_rows = np.flatnonzero(split == "test")
    sel = Selection(chosen=())
    match = None
    catalog = None  # one snapshot: review decisions may be appended while the export runs
    mods = tuple(ds.modalities)
    notes: list[str] = []
    if syn is not None:
        match = _check_set_matches(syn, ds)
        mods = tuple(syn.modalities)
        notes = [n for n in (_left_out_note(syn, ds),) if n]
        catalog = syn.catalog
        sel = select_synthetic(syn, filter=options.filter, min_nn_dist=options.min_nn_dist,
                               synthetic_ratio=options.synthetic_ratio, n_real_train=len(train_rows), seed=options.seed,
                               catalog=catalog)

    # synthetic samples carry no spacing of their own: use the median of the real training slices
    spacing_cols = ["spacing_row", "spacing_col", "spacing_slice"]
    ref = idx.iloc[train_rows] if len(train_rows) else idx
    syn_spacing = tuple(float(v) for v in ref[spacing_cols].median().to_numpy())

    secret = workspace_secret(ws.root)  # never written into the export
    real_names = [real_case_name(secret, ds.fingerprint, str(c), int(k)) for c, k in zip(idx["case_id"], idx["slice_index"])]
    if len(set(real_names)) != len(real_names):
        raise ConfigError(f"dataset {ds.name!r} has two slices with the same case id and slice index; "
                          "cannot name the export's cases uniquely")

    total = len(train_rows) + len(sel.chosen) + len(test_rows)
    runs = syn.meta.get("runs", {}) if syn is not None else {}
    cat = catalog.set_index("index", drop=False) if catalog is not None else None
    syn_subjects = _source_subjects(syn, cat, sel.chosen, ds.subjects().to_numpy(), train_rows)
    with atomic_dir(dest) as tmp:
        for part in PARTS.values():
            for folder in part:
                (tmp / folder).mkdir()
        writer = _CaseWriter(tmp, options.fmt, mods, total, progress)
        chans = [ds.modalities.index(m) for m in mods]
        every = chans == list(range(len(ds.modalities)))
        for part, rows in (("train", train_rows), ("test", test_rows)):
            for i in rows:
                r = idx.iloc[int(i)]
                spacing = (float(r.spacing_row), float(r.spacing_col), float(r.spacing_slice))
                image = ds.images[i] if every else np.asarray(ds.images[i])[chans]
                writer.write(real_names[i], part, image, ds.labels[i], spacing, source="real",
                             dataset_split=str(r.split))
            if part == "train" and syn is not None:
                for j in sel.chosen:
                    rec = cat.loc[j].to_dict()
                    writer.write(synthetic_case_name(syn.name, j), "train", syn.images[j], syn.labels[j], syn_spacing,
                                 source="synthetic", sample_id=str(rec["sample_id"]), sample_index=j,
                                 provenance=manifest.provenance_json(syn.name, runs, rec))
        if syn is not None:
            for j, decision in sorted(sel.excluded.items()):
                rec = cat.loc[j].to_dict()
                writer.rows.append(manifest.row(path="", case="", kind="", channel="", source="synthetic", split="",
                                                sample_id=str(rec["sample_id"]), sample_index=j, decision=decision,
                                                provenance=manifest.provenance_json(syn.name, runs, rec)))
        manifest.write(manifest.build(writer.rows, catalog), tmp)
        subjects = ds.subjects().to_numpy()
        syn_cases = [c for c in writer.cases["train"] if is_synthetic_case(c)]
        folds = subject_folds([real_names[i] for i in train_rows], [subjects[i] for i in train_rows], syn_cases,
                              seed=options.seed, synthetic_subjects=syn_subjects)
        result = ExportResult(
            path=dest, fmt=options.fmt, dataset=ds.name, set_name=options.set_name,
            n_real_train=len(train_rows), n_real_test=len(test_rows), n_synthetic=len(sel.chosen),
            n_blocked=sel.n_blocked, n_filtered_out=sel.n_filtered_out, n_not_drawn=sel.n_not_drawn,
            n_wanted=sel.n_wanted, n_rejected=sel.n_rejected, n_files=writer.n_files,
            notes=(*notes, *sel.notes), n_folds=len(folds), modalities=mods,
        )
        if folds:
            (tmp / FOLDS_FILE).write_text(json.dumps(folds, indent=1) + "\n")
        medsynth = _medsynth_block(options, ds, syn, result, match)
        medsynth["splits_final"] = {"file": FOLDS_FILE if folds else None, "folds": len(folds),
                                    "grouped_by": "subject", "copy_to": "nnUNet_preprocessed/DatasetXXX_Name/"}
        info = dataset_json(options.fmt, name=options.out, modalities=mods, label_names=ds.label_names,
                            train_cases=writer.cases["train"], test_cases=writer.cases["test"], medsynth=medsynth)
        # not sort_keys: label and channel order is meaningful to readers ("10" must not precede "2")
        (tmp / "dataset.json").write_text(json.dumps(info, indent=2) + "\n")
    return result


def _source_subjects(syn: SyntheticSet | None, cat: pd.DataFrame | None, chosen: Sequence[int], subjects: np.ndarray,
                     train_rows: np.ndarray) -> list[str | None] | None:
    """Per chosen sample of a set painted on real slices, the subject of its source slice (for the
    folds); None for other sets. A source row outside the dataset's train + val slices is refused:
    the sample would put a picture of a test (or unknown) slice into training."""
    if syn is None or cat is None or not syn.on_real_slices:
        return None
    if "source_row" not in cat.columns:
        raise InputError(syn.path / "catalog.parquet", "a pix2pix set without the source_row column")
    allowed = set(int(i) for i in train_rows)
    out: list[str | None] = []
    for j in chosen:
        row = int(cat.loc[j, "source_row"])
        if row not in allowed:
            raise InputError(syn.path / "catalog.parquet",
                             f"sample {j} was painted into dataset row {row}, which is not a train or val slice")
        out.append(str(subjects[row]))
    return out


def _medsynth_block(options: ExportOptions, ds: Dataset, syn: SyntheticSet | None, result: ExportResult,
                    match: ContentMatch | None = None) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "synth_core_version": __version__,
        "format": options.fmt,
        "dataset": {"name": ds.name, "fingerprint": ds.fingerprint, "content_sha256": ds.content_sha256,
                    "modalities": list(ds.modalities)},
        "modalities": list(result.modalities),
        "set": None if syn is None else {"name": syn.name, "n": len(syn), "runs": syn.meta.get("runs", {}),
                                        "dataset_match": match.kind if match else None},
        "filter": options.filter,
        "min_nn_dist": options.min_nn_dist,
        "synthetic_ratio": options.synthetic_ratio,
        "seed": options.seed,
        "counts": result.counts(),
        "notes": list(result.notes),
        "manifest": [manifest.PARQUET, manifest.CSV],
    }


class _CaseWriter:
    """Writes one case's files, hashes them, and keeps the manifest rows and case lists."""

    def __init__(self, root: Path, fmt: str, modalities: tuple[str, ...], total: int, progress: Progress | None):
        self.root, self.fmt, self.modalities = root, fmt, tuple(modalities)
        self.total, self.progress = total, progress
        self.done = 0
        self.n_files = 0
        self.rows: list[dict[str, Any]] = []
        self.cases: dict[str, list[str]] = {"train": [], "test": []}

    def write(self, case: str, part: str, image: np.ndarray, label: np.ndarray, spacing: tuple[float, float, float],
              *, source: str, dataset_split: str = "", sample_id: str = "", sample_index: int = -1,
              provenance: str = "") -> None:
        image = np.asarray(image, dtype=np.float32)  # one slice out of the memmap
        label = np.asarray(label, dtype=np.uint8)
        for f in case_files(self.fmt, case, part, image, label, spacing, self.modalities):
            (self.root / f.path).write_bytes(f.data)
            self.n_files += 1
            self.rows.append(manifest.row(path=f.path, case=case, kind=f.kind, channel=f.channel, source=source,
                                          split=part, dataset_split=dataset_split, sample_id=sample_id,
                                          provenance=provenance, sha256=hashlib.sha256(f.data).hexdigest(),
                                          sample_index=sample_index))
        self.cases[part].append(case)
        self.done += 1
        if self.progress is not None:
            self.progress(self.done, self.total)
