"""The shared ingest pipeline: layout reader -> normalise -> select slices -> resize -> write.

For each :class:`~synth_core.ingest.case.CaseVolume` a layout yields (METHOD.md §1):

1. **Normalise** each channel to [0, 1]: a fixed input range when the layout gives one (8-bit
   PNG: 0..255); CT: clip to the Hounsfield window, scale to [0, 1]; MR / X-ray / other:
   per-volume, per-channel percentile scaling (``options.percentiles``).
2. **Organ mask**: the layout's own (LiTS liver label, BraTS brain) or Algorithm 2
   (:func:`~synth_core.structure.organ_mask` with ``mask_preset(kind)``) on the structure
   modality, slice by slice at the working size; lesion pixels always count as organ.
3. **Select slices**: raw slice indices inside ``options.slice_range`` whose organ mask covers at
   least ``options.min_foreground`` of the slice (padding excluded).
4. **Resize**: pad to square with background 0 (centred), then resize to ``size x size`` —
   images bilinear with anti-aliasing, masks and labels nearest neighbour (integer classes stay
   integer). The recorded spacing is that of the resized slice: ``spacing * side / size``.
5. **Write** with :class:`~synth_core.dataset.DatasetWriter`, one case at a time; an error from
   the layout propagates through the writer, which then leaves no dataset (nor temp folder).

Only one case is in memory at a time: layouts are generators and nothing here collects cases.
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from skimage.transform import resize

from synth_core.dataset import DatasetSpec, DatasetWriter
from synth_core.errors import ConfigError, InputError
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, check_source, get_layout
from synth_core.ingest.options import IngestOptions
from synth_core.io.windows import DEFAULT_CT_WINDOW, parse_window, percentile_scale
from synth_core.structure import mask_preset, organ_mask, structure_preset
from synth_core.pseudonym import pseudonym, workspace_secret

log = logging.getLogger(__name__)

_MASK_CHUNK = 16  # slices per Algorithm 2 call


@dataclass
class IngestResult:
    """What one ingest run did."""

    path: Path
    spec: DatasetSpec
    cases_read: int = 0
    cases_written: int = 0
    slices_written: int = 0
    cases_without_slices: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Normalisation:
    """How raw intensities become [0, 1] for one dataset."""

    mode: str  # "range" | "window" | "percentile"
    low_high: tuple[float, float] | None = None  # fixed input range or HU window
    percentiles: tuple[float, float] = (0.5, 99.5)

    def apply(self, images: np.ndarray) -> np.ndarray:
        """``(C, Z, H, W)`` raw -> float32 [0, 1]; percentiles are per channel over the whole volume.

        Works in place on a writeable float32 array (the raw case is not needed afterwards), so a
        large CT volume is not held twice.
        """
        x = images if images.dtype == np.float32 and images.flags.writeable else images.astype(np.float32)
        if self.mode in ("window", "range"):
            assert self.low_high is not None
            lo, hi = self.low_high
            x -= np.float32(lo)
            x /= np.float32(hi - lo)
            return np.clip(x, 0.0, 1.0, out=x)
        for c in range(x.shape[0]):
            x[c] = percentile_scale(x[c], self.percentiles)
        return x

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "low_high": None if self.low_high is None else list(self.low_high),
            "percentiles": list(self.percentiles) if self.mode == "percentile" else None,
        }


def normalisation_for(info: LayoutInfo, kind: str, options: IngestOptions) -> Normalisation:
    """The normalisation a dataset of ``kind`` gets (see the module docstring)."""
    if options.window is not None and kind != "ct":
        raise ConfigError(f"--window {options.window!r} applies to CT data only; this data is {kind!r}")
    if info.value_range is not None:
        if options.window is not None:
            raise ConfigError(f"--window {options.window!r} does not apply: these images are already scaled to {info.value_range[0]:g}..{info.value_range[1]:g}")
        return Normalisation("range", tuple(float(v) for v in info.value_range))  # type: ignore[arg-type]
    if kind == "ct":
        default = info.window if info.window is not None else parse_window(DEFAULT_CT_WINDOW)
        return Normalisation("window", options.window_hu(default))
    return Normalisation("percentile", percentiles=options.percentiles)


def build_spec(name: str, layout: str, info: LayoutInfo, options: IngestOptions, norm: Normalisation) -> DatasetSpec:
    kind = options.kind or info.kind
    erase = info.erase_lesion_contours if options.erase_lesion_contours is None else options.erase_lesion_contours
    params = {
        "layout": dict(info.params),
        "normalisation": norm.to_json(),
        "options": options.to_json(),
    }
    try:
        structure = structure_preset(kind, **options.structure)
        return DatasetSpec(
            name=name,
            layout=layout,
            kind=kind,
            modalities=tuple(info.modalities),
            label_names=dict(info.label_names),
            size=options.size,
            structure=structure,
            structure_modality=info.structure_modality,
            erase_lesion_contours=erase,
            split_fractions=options.split_fractions,
            seed=int(options.seed),
            params=params,
        )
    except (TypeError, ValueError) as err:
        raise ConfigError(f"cannot describe the dataset: {err}") from None


def pad_square(arr: np.ndarray) -> np.ndarray:
    """Pad the last two axes to a square with zeros, centred (extra pixel at the bottom/right)."""
    h, w = arr.shape[-2:]
    side = max(h, w)
    if h == w:
        return arr
    top, left = (side - h) // 2, (side - w) // 2
    pad = [(0, 0)] * (arr.ndim - 2) + [(top, side - h - top), (left, side - w - left)]
    return np.pad(arr, pad, mode="constant", constant_values=0)


def resize_image(img: np.ndarray, size: int) -> np.ndarray:
    """``(..., H, W)`` float in [0, 1], square -> ``(..., size, size)`` bilinear, anti-aliased when shrinking."""
    out_shape = img.shape[:-2] + (size, size)
    if img.shape == out_shape:
        return img.astype(np.float32, copy=False)
    shrink = img.shape[-1] > size
    sigma = None
    if shrink and img.ndim > 2:  # blur only the two spatial axes
        s = max(0.0, (img.shape[-1] / size - 1) / 2)
        sigma = (0,) * (img.ndim - 2) + (s, s)
    out = resize(img, out_shape, order=1, mode="edge", anti_aliasing=shrink, anti_aliasing_sigma=sigma, preserve_range=True)
    return np.clip(out, 0.0, 1.0).astype(np.float32)


def resize_labels(lab: np.ndarray, size: int) -> np.ndarray:
    """``(..., H, W)`` integer, square -> ``(..., size, size)`` nearest neighbour; values are kept."""
    out_shape = lab.shape[:-2] + (size, size)
    if lab.shape == out_shape:
        return lab
    out = resize(lab, out_shape, order=0, mode="edge", anti_aliasing=False, preserve_range=True)
    return np.rint(out).astype(lab.dtype)


def slice_candidates(z: int, slice_range: tuple[int, int] | None) -> np.ndarray:
    """Raw slice indices of a ``z``-slice volume inside ``slice_range`` (all when None)."""
    start, stop = slice_range if slice_range is not None else (0, z)
    return np.arange(min(start, z), min(stop, z))


def select_slices(
    organ: np.ndarray,
    min_foreground: float,
    slice_range: tuple[int, int] | None = None,
    valid_fraction: float = 1.0,
) -> np.ndarray:
    """Indices of the slices of ``organ (Z, H, W)`` inside ``slice_range`` whose organ fraction
    is at least ``min_foreground`` (0 keeps every slice in range).

    ``valid_fraction``: the part of each slice that is image rather than padding; the organ
    fraction is relative to that part.
    """
    idx = slice_candidates(organ.shape[0], slice_range)
    frac = organ[idx].reshape(len(idx), -1).mean(axis=1) / valid_fraction if len(idx) else np.zeros(0)
    return idx[frac >= min_foreground - 1e-9]


def prepare_case(
    case: CaseVolume, spec: DatasetSpec, norm: Normalisation, options: IngestOptions
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[float, float, float]]:
    """One case -> ``(images (S,C,size,size), masks (S,size,size), labels (S,size,size),
    slice_indices (S,), spacing)`` ready for :meth:`DatasetWriter.add_case`.

    The raw ``case.images`` are normalised in place. With a layout's organ mask, slices are
    selected on the raw grid and only the kept ones are resized. Without one, the slices in range
    are resized first and Algorithm 2 runs at the working size (as in the thesis, which computes
    masks on training-size images; at 512 px it would cost ~20x more), then slices are selected.
    """
    c, z, h, w = case.images.shape
    if c != len(spec.modalities):
        raise InputError(case.source_path, f"{c} channels, expected {len(spec.modalities)} ({', '.join(spec.modalities)})")
    if not np.all(np.isfinite(case.images)):
        raise InputError(case.source_path, "image has NaN or infinite values")
    images = norm.apply(case.images)
    label = np.zeros((z, h, w), np.uint8) if case.label is None else np.asarray(case.label)
    if label.size and (label.min() < 0 or label.max() > 255):
        raise InputError(case.source_path, f"label values must be 0..255 after mapping, found {int(label.min())}..{int(label.max())}")
    label = label.astype(np.uint8, copy=False)
    size = spec.size
    side = max(h, w)

    def resized(idx: np.ndarray, organ: np.ndarray | None):
        out_img = np.empty((len(idx), c, size, size), np.float32)
        out_mask = np.zeros((len(idx), size, size), np.uint8)
        out_lab = np.empty((len(idx), size, size), np.uint8)
        for j, k in enumerate(idx):
            out_img[j] = resize_image(pad_square(images[:, k]), size)
            out_lab[j] = resize_labels(pad_square(label[k]), size)
            if organ is not None:
                out_mask[j] = resize_labels(pad_square(organ[k].astype(np.uint8)), size)
        return out_img, out_mask, out_lab

    if case.organ is not None:
        organ = np.asarray(case.organ, dtype=bool) | (label > 0)
        keep = select_slices(organ, options.min_foreground, options.slice_range)
        out_img, out_mask, out_lab = resized(keep, organ)
    else:
        cand = slice_candidates(z, options.slice_range)
        out_img, out_mask, out_lab = resized(cand, None)
        params = mask_preset(spec.kind, **options.mask)
        for s0 in range(0, len(cand), _MASK_CHUNK):  # Algorithm 2 is per slice; chunks bound its temporaries
            out_mask[s0 : s0 + _MASK_CHUNK] = organ_mask(out_img[s0 : s0 + _MASK_CHUNK, spec.structure_modality], params)
        out_mask |= (out_lab > 0).astype(np.uint8)
        valid = (h * w) / float(side * side)
        sel = select_slices(out_mask.astype(bool), options.min_foreground, None, valid)
        keep = cand[sel]
        out_img, out_mask, out_lab = out_img[sel], out_mask[sel], out_lab[sel]
    scale = side / size
    spacing = (float(case.spacing[0]) * scale, float(case.spacing[1]) * scale, float(case.spacing[2]))
    return out_img, out_mask, out_lab, keep, spacing


def _progress(cases, info: LayoutInfo, progress: bool):
    from tqdm import tqdm

    total = info.params.get("n_cases")
    # disable=None: the bar shows on a terminal and stays out of logs and captured output
    return tqdm(cases, total=total, unit="case", desc="ingest", file=sys.stderr, disable=None if progress else True)


def workspace_root_of(dest: Path) -> Path:
    """The workspace holding the dataset folder ``dest`` (``ROOT/datasets/NAME``; elsewhere its parent)."""
    dest = Path(dest).resolve()
    return dest.parent.parent if dest.parent.name == "datasets" else dest.parent


def run_ingest(
    layout: str,
    src: str | Path,
    dest: str | Path,
    options: IngestOptions,
    *,
    progress: bool = True,
    overwrite: bool = False,
) -> IngestResult:
    """Ingest ``src`` with ``layout`` into the dataset folder ``dest``; returns what was done."""
    module = get_layout(layout)
    src = check_source(src)
    dest = Path(dest)
    info = module.describe(src, options)
    kind = options.kind or info.kind
    norm = normalisation_for(info, kind, options)
    spec = build_spec(dest.name, layout, info, options, norm)
    result = IngestResult(path=dest, spec=spec)
    log.info("ingest %s (%s) -> %s: %s", src, layout, dest, spec.modalities)
    secret: bytes | None = None
    with DatasetWriter(dest, spec, overwrite=overwrite) as writer:
        for case in _progress(module.iter_cases(src, options), info, progress):
            result.cases_read += 1
            case_id, source_path = str(case.case_id), str(case.source_path)
            subject = None
            if case.subject:  # e.g. a DICOM PatientID: only its keyed hash is kept
                secret = secret or workspace_secret(workspace_root_of(dest))
                subject = "subj-" + pseudonym(secret, "subject", case.subject, n=16)
            images, masks, labels, keep, spacing = prepare_case(case, spec, norm, options)
            del case  # at most one raw case alive at a time
            n = writer.add_case(case_id, images, masks, labels, keep, spacing, source_path, subject=subject)
            if n:
                result.cases_written += 1
                result.slices_written += n
            else:
                result.cases_without_slices.append(case_id)
                log.info("%s: no slice passed the selection; case skipped", source_path)
        if result.cases_read == 0:
            raise InputError(src, f"no {layout} cases found")
        if result.slices_written == 0:
            raise InputError(
                src,
                f"no slice of the {result.cases_read} case(s) passed the selection "
                f"(min_foreground {options.min_foreground}, slice_range {options.slice_range}); nothing written",
            )
    return result


def ingest(
    layout: str,
    src: str | Path,
    dest: str | Path,
    options: IngestOptions | None = None,
    progress: bool = True,
    *,
    overwrite: bool = False,
) -> Path:
    """Ingest the folder ``src`` (a ``layout`` convention) into the dataset folder ``dest``.

    Library entry point for pages and tests; the CLI's ``ingest`` command calls the same code.
    Raises :class:`InputError` / :class:`ConfigError` / :class:`ExistsError`; on any error no
    dataset is left at ``dest``.
    """
    return run_ingest(layout, src, dest, options or IngestOptions(), progress=progress, overwrite=overwrite).path
