"""pix2pix lesion inpainting as a way to make a synthetic set (METHOD.md §10, the liver paper).

A sample is a REAL slice of the training split with one NEW lesion: a bank lesion, transformed
by the lesion-augmentation ranges and accepted inside the slice's organ mask by the same
placement code as multimodal synthesis and training (:meth:`LesionSource.choose
<synth_core.synthesis.lesions.LesionSource.choose>`), is whitened
(:func:`synth_core.whitening.whiten`) and filled in by a trained pix2pix generator
(:func:`synth_core.whitening.fill_lesions`). Its label is exact: the placed lesion, plus the
slice's own real lesions when it had any (the new one never overlaps them).

A sample is fully described by an :class:`InpaintSpec` — the source slice's dataset row, the bank
lesion's index (or a shape a person drew, :class:`~synth_core.lesions.drawn.DrawnLesion`) and its
transform parameters — which the catalog records. Seeded sets choose the
specs from one random stream per sample (``(seed, index)``, :func:`choose_specs`: the source
slice is drawn uniformly from the candidate rows, then the placement; when no placement is
accepted on that slice another slice is drawn, up to ``source_tries`` slices); the Inpainting
page makes specs by hand. Either way :func:`fill_batch` turns specs into images, and
``regenerate`` recomputes a sample's batch from the catalog rows (bit-exact on the machine that
made the set).

Choices:

- One run per modality: a pix2pix run fills the one modality it was trained on (its config's
  ``modality``). A set is made from one or several runs of one dataset (:mod:`.inpaint_models`),
  each filling its modality of the same placed lesion on the same source slice; the set holds
  exactly the filled modalities (``set.json`` ``modalities``, dataset order) and names the others
  in ``left_out_modalities``. A modality without a run is left out rather than kept as the real
  slice's pixels: there the label would mark a lesion the image does not show. Readers that
  compare with the dataset (evaluation, export, reader study) use the dataset's channels of the
  same names; an export of such a set holds those modalities only.
- ``composite=True`` (default): pixels outside the new lesion are the real slice's exactly, so
  the rest of the slice and its label stay true (:func:`~synth_core.whitening.fill_lesions`);
  ``composite=False`` keeps the generator's raw output everywhere.
- Masks and structure maps of a sample are the source slice's (the organ did not change).
- ``source_row`` is a dataset row number, not a case id: no patient identifier enters the set.
  Lesion ids (which carry case ids) stay in the set's ``bank`` folder; the catalog holds indices.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from synth_core.errors import ConfigError
from synth_core.lesions.augment import AugmentParams, apply_transform
from synth_core.lesions.drawn import DrawnLesion
from synth_core.synthesis.figures import RealReference, sample_figures
from synth_core.synthesis.inpaint_models import GENERATOR, InpaintModels, ModalityFill, load_inpaint_models
from synth_core.synthesis.lesions import LesionSource, label_from_record
from synth_core.synthesis.pipeline import STREAM_LESION, batch_indices, stream_seed
from synth_core.synthesis.setstore import SetWriter, pix2pix_records
from synth_core.whitening import fill_lesions, whiten

__all__ = ["GENERATOR", "InpaintModels", "InpaintSpec", "ModalityFill", "choose_specs", "fill_batch", "inpaint_set",
           "load_inpaint_models", "place_at_random", "place_by_hand", "place_drawn", "regenerate_inpaint",
           "save_chosen", "source_rows", "spec_from_params"]
DRAWN = "drawn"  # catalog lesion_source of a sample whose lesion a person drew
SLICES = ("healthy", "lesion", "any")  # which real slices lesions are painted into
SOURCE_TRIES = 20  # source slices drawn per sample before giving up (each with LesionSource.tries placements)
COLUMN_HELP = {
    "source_row": "dataset row of the real slice the lesion was painted into (no case id is stored)",
    "source_tries": "source slices drawn before one accepted the lesion",
    "source_lesion": "the source slice already had a real lesion (the new one does not overlap it)",
    "lesion_drawn": "the lesion shape a person drew (JSON: ellipse radii and classes); empty for bank lesions",
    "new_lesion_area": "pixels of the painted-in lesion",
    "fill_mean_": "mean intensity the generator painted into the new lesion",
    "fill_contrast_": "fill_mean minus the mean of the organ around the lesion (within 3 px of it)",
}


@dataclass(frozen=True)
class InpaintSpec:
    """One sample: the real slice (dataset row), the lesion — a bank lesion (``lesion_index``) or a
    drawn shape (``drawn``: :meth:`DrawnLesion.to_json`, ``lesion_index`` -1) — and its transform
    (:class:`~synth_core.lesions.augment.AugmentParams` as JSON)."""

    source_row: int
    lesion_index: int
    lesion_params: str
    source_tries: int = 1
    drawn: str = ""

    def __post_init__(self) -> None:
        if self.source_row < 0 or not self.lesion_params or (self.lesion_index < 0) != bool(self.drawn):
            raise ConfigError(f"an inpainting sample needs a source slice and one lesion (from the bank or drawn), "
                              f"not {self!r}")
        if self.drawn:
            DrawnLesion.from_json(self.drawn)  # validates

    def label(self, bank: Any, shape: tuple[int, int]) -> np.ndarray:
        """The placed lesion's label ``(H, W)`` uint8, replayed from the record."""
        if self.drawn:
            params = AugmentParams.from_dict(json.loads(self.lesion_params))
            return apply_transform(DrawnLesion.from_json(self.drawn).patch(), params, shape).astype(np.uint8)
        return label_from_record(bank, self.lesion_index, self.lesion_params, shape)


def source_rows(ds: Any, slices: str, split: str = "train") -> np.ndarray:
    """Dataset rows of ``split`` that lesions may be painted into: slices with organ pixels, and
    ``healthy`` = without a lesion, ``lesion`` = with one, ``any`` = both. Sorted."""
    if slices not in SLICES:
        raise ConfigError(f"slices must be one of {', '.join(SLICES)}, not {slices!r}")
    rows = np.asarray(ds.split_indices(split), dtype=np.int64)
    organ = ds.index["organ_pixels"].to_numpy()[rows] > 0
    lesion = ds.index["lesion_pixels"].to_numpy()[rows] > 0
    keep = organ & {"healthy": ~lesion, "lesion": lesion, "any": np.ones_like(lesion)}[slices]
    return np.sort(rows[keep])


def choose_spec(ds: Any, rows: np.ndarray, lesions: LesionSource, rng: np.random.Generator, *,
                source_tries: int = SOURCE_TRIES) -> InpaintSpec | None:
    """Draw a source slice from ``rows`` and place a lesion in its organ (not on its own lesions);
    another slice when placement fails, up to ``source_tries`` slices. None when all failed."""
    if len(rows) == 0:
        raise ConfigError("no candidate slices to paint lesions into")
    for t in range(1, source_tries + 1):
        row = int(rows[int(rng.integers(len(rows)))])
        _, index, params = lesions.choose(np.asarray(ds.masks[row]), rng, existing=np.asarray(ds.labels[row]))
        if index >= 0:
            return InpaintSpec(row, index, params, t)
    return None


def choose_specs(ds: Any, rows: np.ndarray, lesions: LesionSource, seed: int, indices: Sequence[int], *,
                 source_tries: int = SOURCE_TRIES) -> list[InpaintSpec]:
    """The specs of samples ``indices`` of a set with ``seed``; sample ``i`` depends only on
    ``(seed, i)``. Raises ConfigError naming the sample when no slice accepted a lesion."""
    if lesions.mode == "none":
        raise ConfigError("pix2pix inpainting paints lesions; --lesions none makes nothing to fill")
    out = []
    for i in indices:
        rng = np.random.default_rng(stream_seed(seed, int(i), STREAM_LESION))
        spec = choose_spec(ds, rows, lesions, rng, source_tries=source_tries)
        if spec is None:
            raise ConfigError(f"sample {int(i)}: no lesion fitted inside the organ of {source_tries} source slices "
                              f"({lesions.tries} placements each); use smaller lesions (scale) or other slices")
        out.append(spec)
    return out


@dataclass
class InpaintBatch:
    """One batch of inpainted samples; ``images (B, M, H, W)`` float32 (the set's modalities), the
    label arrays ``(B, H, W)`` uint8."""

    specs: list[InpaintSpec]
    images: np.ndarray
    whitened: np.ndarray  # (B, M, H, W) the generators' inputs
    original: np.ndarray  # (B, M, H, W) the real slice
    new_labels: np.ndarray  # (B, H, W) the painted-in lesion alone
    masks: np.ndarray
    labels: np.ndarray
    structure: np.ndarray


@torch.no_grad()
def fill_batch(models: InpaintModels, ds: Any, bank: Any, specs: Sequence[InpaintSpec], *,
               composite: bool = True) -> InpaintBatch:
    """Make the samples ``specs``: each modality's generator fills the same placed lesion in its
    channel of the source slice, in one call per 16 slices; a pure function of the specs, the
    dataset's slices and the generators."""
    if not specs:
        raise ConfigError("no samples to make")
    rows = np.array([s.source_row for s in specs], dtype=np.int64)
    if rows.max() >= len(ds):
        raise ConfigError(f"source row {int(rows.max())} is not in dataset {ds.name!r} ({len(ds)} slices)")
    size = ds.spec.size
    original = np.stack([np.asarray(ds.images[r], dtype=np.float32)[models.channels] for r in rows])
    masks = np.stack([np.asarray(ds.masks[r]) for r in rows]).astype(np.uint8)
    existing = np.stack([np.asarray(ds.labels[r]) for r in rows]).astype(np.uint8)
    structure = np.stack([np.asarray(ds.structure[r]) for r in rows]).astype(np.uint8)
    new = np.stack([s.label(bank, (size, size)) for s in specs])
    lab = torch.from_numpy(new.astype(np.int64))
    filled = np.stack([fill_lesions(f.G, torch.from_numpy(np.ascontiguousarray(original[:, k:k + 1])), lab,
                                    composite=composite).float().clamp(0, 1)[:, 0].numpy()
                       for k, f in enumerate(models.fills)], axis=1)
    labels = np.where(new > 0, new, existing).astype(np.uint8)
    whitened = np.concatenate([whiten(original[:, k:k + 1], new[:, None]) for k in range(len(models.fills))], axis=1)
    return InpaintBatch(list(specs), filled.astype(np.float32), whitened, original, new,
                        masks, labels, structure)


def _ring(lesion: np.ndarray, organ: np.ndarray, width: int = 3) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_dilation(lesion, iterations=width) & ~lesion & organ


def inpaint_figures(batch: InpaintBatch, models: InpaintModels, real: RealReference | None) -> list[dict[str, Any]]:
    """The usual per-sample figures (:func:`~synth_core.synthesis.figures.sample_figures`) plus
    the inpainting ones of :data:`COLUMN_HELP`."""
    rows = sample_figures(batch.images, batch.masks, batch.labels, batch.structure, models.modalities,
                          segmenters=models.segmenters or None, real=real)
    for r, new in enumerate(batch.new_labels):
        lesion = new > 0
        ring = _ring(lesion, batch.masks[r] > 0)
        rows[r]["new_lesion_area"] = int(lesion.sum())
        for k, m in enumerate(models.modalities):
            img = batch.images[r, k]
            mean = float(img[lesion].mean())
            rows[r].update({f"fill_mean_{m}": mean,
                            f"fill_contrast_{m}": mean - float(img[ring].mean()) if ring.any() else float("nan")})
    return rows


def catalog_rows(batch: InpaintBatch, *, start: int, batch_size: int, seed: int, mode: str,
                 figures: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``seed`` -1 = specs chosen by hand (the Inpainting page); ``lesion_source`` is ``drawn`` for
    a drawn lesion, else ``mode``."""
    out = []
    for r, spec in enumerate(batch.specs):
        out.append({"generator": GENERATOR, "seed": int(seed), "source_row": spec.source_row,
                    "source_tries": spec.source_tries, "source_lesion": bool((batch.labels[r] != batch.new_labels[r]).any()),
                    "batch_start": int(start), "batch_size": int(batch_size),
                    "lesion_source": DRAWN if spec.drawn else mode, "lesion_index": spec.lesion_index,
                    "lesion_params": spec.lesion_params, "lesion_drawn": spec.drawn, **figures[r]})
    return out


def set_meta(models: InpaintModels, ds: Any, lesions: LesionSource, *, n: int, seed: int, batch_size: int,
             slices: str, composite: bool, extra: dict[str, Any] | None = None,
             dataset_content: dict[str, Any] | None = None) -> dict[str, Any]:
    from synth_core.environment import describe
    from synth_core.synthesis.figures import COLUMN_HELP as FIGURE_HELP
    from synth_core.synthesis.figures import MEMORISATION_SPACE

    param = next(iter(models.fills[0].G.parameters()), None)
    return {"generator": GENERATOR, "dataset": ds.name, "fingerprint": ds.fingerprint,
            "dataset_content": dataset_content, "made_on": describe(param.device if param is not None else "cpu"),
            "modalities": list(models.modalities), "dataset_modalities": list(ds.modalities),
            "left_out_modalities": [m for m in ds.modalities if m not in models.modalities],
            "label_names": {str(k): v for k, v in ds.label_names.items()}, "size": ds.spec.size, "runs": models.runs,
            "options": {"n": n, "seed": seed, "batch": batch_size, "slices": slices, "composite": bool(composite),
                        "lesions": lesions.describe(), **(extra or {})},
            "memorisation_space": MEMORISATION_SPACE, "columns": {**FIGURE_HELP, **COLUMN_HELP}}


def write_set(models: InpaintModels, ds: Any, lesions: LesionSource, specs_of: Callable[[np.ndarray], list[InpaintSpec]],
              dest: str | Path, *, n: int, seed: int, batch_size: int, slices: str, composite: bool = True,
              real: RealReference | None = None, figures: bool = True, progress: Callable[[int], None] | None = None,
              extra_meta: dict[str, Any] | None = None, dataset_content: dict[str, Any] | None = None) -> Path:
    """Write a set of ``n`` samples at ``dest`` atomically; ``specs_of(indices)`` gives the specs
    of a batch (seeded: :func:`choose_specs`; by hand: a slice of a list)."""
    if models.size != ds.spec.size:
        raise ConfigError(f"the pix2pix generator works at {models.size} px but dataset {ds.name!r} has "
                          f"{ds.spec.size} px slices")
    meta = set_meta(models, ds, lesions, n=n, seed=seed, batch_size=batch_size, slices=slices, composite=composite,
                    extra=extra_meta, dataset_content=dataset_content)
    with SetWriter(dest, meta) as w:
        lesions.bank.save(w.tmp / "bank")
        for idx in batch_indices(n, batch_size):
            batch = fill_batch(models, ds, lesions.bank, specs_of(idx), composite=composite)
            figs = inpaint_figures(batch, models, real) if figures else [
                {"new_lesion_area": int((b > 0).sum())} for b in batch.new_labels]
            w.add(batch.images, batch.masks, batch.labels, batch.structure,
                  catalog_rows(batch, start=int(idx[0]), batch_size=batch_size, seed=seed, mode=lesions.mode,
                               figures=figs))
            if progress:
                progress(len(idx))
    return Path(dest)


def inpaint_set(models: InpaintModels, ds: Any, lesions: LesionSource, dest: str | Path, *, n: int, seed: int = 0,
                batch_size: int = 16, slices: str = "healthy", composite: bool = True, figures: bool = True,
                source_tries: int = SOURCE_TRIES, progress: Callable[[int], None] | None = None,
                extra_meta: dict[str, Any] | None = None, dataset_content: dict[str, Any] | None = None) -> Path:
    """A seeded set of ``n`` inpainted samples on the ``slices`` of the training split."""
    if n < 1 or batch_size < 1:
        raise ConfigError(f"n and batch must be >= 1, not {n} and {batch_size}")
    rows = source_rows(ds, slices)
    if len(rows) == 0:
        raise ConfigError(f"dataset {ds.name!r} has no {slices} slices with an organ in its train split")
    real = RealReference.from_dataset(ds, "train", channels=models.channels) if figures else None
    return write_set(models, ds, lesions, lambda idx: choose_specs(ds, rows, lesions, seed, idx,
                                                                   source_tries=source_tries),
                     dest, n=n, seed=seed, batch_size=batch_size, slices=slices, composite=composite, real=real,
                     figures=figures, progress=progress, dataset_content=dataset_content,
                     extra_meta={"source_tries": source_tries, **(extra_meta or {})})


def save_chosen(models: InpaintModels, ds: Any, lesions: LesionSource, specs: Sequence[InpaintSpec],
                dest: str | Path, *, composite: bool = True, batch_size: int = 16, figures: bool = True,
                dataset_content: dict[str, Any] | None = None) -> Path:
    """A set of samples chosen by hand (the Inpainting page), in the given order (``seed`` -1)."""
    specs = list(specs)
    if not specs:
        raise ConfigError("keep at least one sample before saving a set")
    real = RealReference.from_dataset(ds, "train", channels=models.channels) if figures else None
    return write_set(models, ds, lesions, lambda idx: [specs[int(i)] for i in idx], dest, n=len(specs), seed=-1,
                     batch_size=batch_size, slices="chosen", composite=composite, real=real, figures=figures,
                     dataset_content=dataset_content)


def specs_from_catalog(rows: Any) -> list[InpaintSpec]:
    """The specs recorded in catalog rows (a DataFrame)."""
    drawn = rows["lesion_drawn"] if "lesion_drawn" in rows else [""] * len(rows)  # sets made before drawing
    return [InpaintSpec(int(r.source_row), int(r.lesion_index), str(r.lesion_params), int(r.source_tries),
                        str(d or "")) for r, d in zip(rows.itertuples(), drawn)]


def spec_from_params(source_row: int, lesion_index: int, params: dict[str, Any]) -> InpaintSpec:
    """A hand-made spec from an :class:`~synth_core.lesions.augment.AugmentParams` dict."""
    return InpaintSpec(int(source_row), int(lesion_index), json.dumps(params, sort_keys=True))


def regenerate_inpaint(ws: Any, s: Any, i: int, *, device: str = "cpu") -> Any:
    """Recompute sample ``i`` of pix2pix set ``s`` in its original batch from the catalog's specs and
    compare it with the stored one (:class:`synth_core.synthesis.regenerate.Regenerated`). Refuses
    when a pix2pix checkpoint changed since the set was made."""
    from synth_core.datalink import find_dataset, set_content
    from synth_core.lesions.augment import AugmentRanges
    from synth_core.lesions.bank import LesionBank
    from synth_core.runs.folder import checkpoint_file
    from synth_core.synthesis.regenerate import compare_with_stored

    records = pix2pix_records(s.meta)
    if list(records) != list(s.modalities):
        raise ConfigError(f"set {s.name!r} records pix2pix runs for {list(records)} but holds {list(s.modalities)}")
    thens = list(records.values())
    models = load_inpaint_models(ws, [t["run_id"] for t in thens], figures=False, device=device,
                                 which=["best" if t["checkpoint"] == checkpoint_file("best") else "last" for t in thens])
    for f in models.fills:
        then, now = records[f.modality], f.run
        if now["sha256"] != then["sha256"] or now["checkpoint"] != then["checkpoint"]:
            raise ConfigError(f"pix2pix run {then['run_id']!r}: checkpoint {then['checkpoint']} changed since set "
                              f"{s.name!r} was made (sha256 {then['sha256'][:12]} -> {now['sha256'][:12]}); "
                              "the sample cannot be regenerated bit-exactly")
    ds, _ = find_dataset(ws, fingerprint=s.fingerprint, content=set_content(s.meta), what=f"set {s.name!r}",
                         verb="was made from", name=s.dataset)
    opts = s.meta["options"]
    cat = s.catalog
    row = cat.iloc[i]
    start, size = int(row["batch_start"]), int(row["batch_size"])
    idx = np.arange(start, min(start + size, len(s)))
    bank = LesionBank.load(s.path / "bank")
    LesionSource(opts["lesions"]["mode"], bank, AugmentRanges.from_dict(opts["lesions"]["ranges"]))  # validates
    batch = fill_batch(models, ds, bank, specs_from_catalog(cat.iloc[idx]), composite=bool(opts["composite"]))
    return compare_with_stored(s, i, batch, i - start, device)


def place_by_hand(ds: Any, bank: Any, row: int, lesion_index: int, params: Any) -> tuple[Any, InpaintSpec | None]:
    """Put bank lesion ``lesion_index``, transformed by ``params`` (:class:`AugmentParams`), into
    slice ``row`` under the placement checks (inside the organ, not on the slice's own lesions):
    ``(Placement, spec or None when rejected)`` (:func:`synth_core.lesions.place_lesion`)."""
    from synth_core.lesions.placement import place_lesion

    if not 0 <= int(lesion_index) < len(bank):
        raise ConfigError(f"lesion {lesion_index} is not in the bank (0 .. {len(bank) - 1})")
    p = place_lesion(bank.entries[int(lesion_index)], np.asarray(ds.masks[int(row)]), params,
                     existing=np.asarray(ds.labels[int(row)]))
    return p, (spec_from_params(int(row), int(lesion_index), params.to_dict()) if p.accepted else None)


def place_drawn(ds: Any, row: int, drawn: DrawnLesion, params: Any) -> tuple[Any, InpaintSpec | None]:
    """Put a drawn lesion, centred and rotated by ``params`` (:class:`AugmentParams`), into slice
    ``row`` under the same placement checks as a bank lesion (:func:`place_by_hand`); its classes
    must be lesion classes of the dataset."""
    from synth_core.lesions.placement import place_lesion

    bad = [c for c in drawn.classes if c not in ds.label_names or c == 0]
    if bad:
        names = ", ".join(f"{k} {v}" for k, v in sorted(ds.label_names.items()) if k)
        raise ConfigError(f"dataset {ds.name!r} has no lesion class {bad[0]} (its classes: {names})")
    p = place_lesion(drawn.patch(), np.asarray(ds.masks[int(row)]), params, existing=np.asarray(ds.labels[int(row)]))
    spec = InpaintSpec(int(row), -1, json.dumps(params.to_dict(), sort_keys=True), drawn=drawn.to_json())
    return p, (spec if p.accepted else None)


def place_at_random(ds: Any, bank: Any, row: int, ranges: Any, seed: int) -> InpaintSpec | None:
    """A lesion drawn by the shared placement (:class:`LesionSource`, ``ranges``) into slice ``row``."""
    lesions = LesionSource("augmented", bank, ranges)
    _, index, params = lesions.choose(np.asarray(ds.masks[int(row)]), np.random.default_rng(int(seed)),
                                      existing=np.asarray(ds.labels[int(row)]))
    return InpaintSpec(int(row), index, params) if index >= 0 else None
