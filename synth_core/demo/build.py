"""Build the embedded demo dataset: multi-modal brain MRI with tumours, made offline from MNI152.

One subject at a time (memory stays bounded):

1. draw a smooth random deformation and a tumour position in deformed white matter (a coarse
   look at the anatomy), then resample the MNI152 T1, GM, WM and brain mask, with the tumour's
   mass effect, onto a working grid of about ``size`` voxels across — only the slab of axial
   slices the tumour can reach, which is the subject's volume from then on
   (:mod:`synth_core.demo.anatomy`, :mod:`synth_core.demo.tumours`);
2. label the tumour (necrotic core, enhancing rim, oedema along white matter);
3. simulate T1 (the deformed template), T1c, T2 and FLAIR from the tissue maps, then bias field,
   Rician noise and per-volume percentile normalisation (:mod:`synth_core.demo.contrasts`);
4. keep up to ``slices_per_subject`` axial slices spread over the tumour's extent (plus a small
   margin), pad each to a square and resize it to ``size`` (nearest neighbour for labels and
   masks), nest the labels BraTS-style and hand the case to
   :class:`~synth_core.dataset.DatasetWriter` (which computes the structure maps).

Subject ``i`` is drawn from ``numpy.random.default_rng([seed, i])``, so the same seed gives the
same dataset (and fingerprint), and a subject does not depend on how many others are built. No
large array goes through BLAS (a multi-threaded BLAS may round differently with another thread
count; only 3x3 matrices do), so the bits do not depend on the thread settings either.

Cost: about 1 s of CPU per subject at 128 px (40 subjects in about 45 s of CPU on the 2-core
development machine; wall time grows when the machine is shared).
"""

from __future__ import annotations

import logging
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from synth_core.demo.anatomy import (
    Deformation,
    DeformationParams,
    IntensityParams,
    prepare_source,
    sample_deformation,
    sample_volume,
    vary_intensity,
    work_grid,
)
from synth_core.demo.contrasts import MODALITIES, ContrastParams, acquire, clean_contrasts, jitter_intensities
from synth_core.demo.templates import TEMPLATE_NAME, Templates, load_templates
from synth_core.demo.tumours import (
    Tumour,
    TumourParams,
    TumourShape,
    lesion_fractions,
    mass_effect_displacement,
    nest_labels,
    sample_tumour,
    tumour_labels,
    tumour_shape,
)
from synth_core.errors import ConfigError, ExistsError

log = logging.getLogger(__name__)

#: Bumped whenever the generator's output changes for the same parameters.
GENERATOR_VERSION = "1"
LABEL_NAMES: dict[int, str] = {0: "background", 1: "necrotic/non-enhancing core", 2: "edema", 3: "enhancing tumour"}
STRUCTURE_MODALITY = MODALITIES.index("flair")


@dataclass(frozen=True)
class DemoParams:
    """Everything the demo generator depends on (recorded in the dataset's ``params``)."""

    subjects: int = 40  # number of simulated subjects (cases)
    seed: int = 0  # seeds every subject and the train/val/test split
    size: int = 128  # output slices are size x size pixels
    slices_per_subject: int = 24  # at most this many axial slices per subject, over the tumour
    slice_margin: float = 0.15  # fraction of the tumour's axial extent added below and above
    min_brain_fraction: float = 0.1  # a kept slice has at least this fraction of brain pixels
    deformation: DeformationParams = field(default_factory=DeformationParams)
    intensity: IntensityParams = field(default_factory=IntensityParams)
    tumour: TumourParams = field(default_factory=TumourParams)
    contrast: ContrastParams = field(default_factory=ContrastParams)

    def __post_init__(self) -> None:
        if not (1 <= self.subjects <= 10000):
            raise ConfigError(f"subjects must be between 1 and 10000, not {self.subjects}")
        if not (16 <= self.size <= 1024):
            raise ConfigError(f"size must be between 16 and 1024 pixels, not {self.size}")
        if not (1 <= self.slices_per_subject <= 500):
            raise ConfigError(f"slices_per_subject must be between 1 and 500, not {self.slices_per_subject}")
        if self.seed < 0:
            raise ConfigError(f"seed must be >= 0, not {self.seed}")
        if not (0 <= self.slice_margin <= 1):
            raise ConfigError(f"slice_margin must be in [0, 1], not {self.slice_margin}")
        if not (0 <= self.min_brain_fraction < 1):
            raise ConfigError(f"min_brain_fraction must be in [0, 1), not {self.min_brain_fraction}")

    def to_dict(self) -> dict[str, Any]:
        return {
            "generator": "synth_core.demo",
            "generator_version": GENERATOR_VERSION,
            "template": TEMPLATE_NAME,
            "subjects": self.subjects,
            "seed": self.seed,
            "size": self.size,
            "slices_per_subject": self.slices_per_subject,
            "slice_margin": self.slice_margin,
            "min_brain_fraction": self.min_brain_fraction,
            "deformation": self.deformation.to_dict(),
            "intensity": self.intensity.to_dict(),
            "tumour": self.tumour.to_dict(),
            "contrast": self.contrast.to_dict(),
        }


@dataclass
class Subject:
    """One simulated subject on the working grid.

    ``images`` ``(4, Z, H, W)`` float32 in [0, 1] (:data:`MODALITIES` order); ``clean`` the same
    before bias field, noise and normalisation (only when asked for); ``labels`` ``(Z, H, W)``
    uint8; ``brain`` ``(Z, H, W)`` uint8 {0, 1}; ``tissues`` the fractions the contrasts were
    computed from (only with ``clean``).
    """

    case_id: str
    first_slice: int  # the subject's volume is slices first_slice... of the full working grid
    images: np.ndarray
    labels: np.ndarray
    brain: np.ndarray
    tumour: Tumour
    deformation: Deformation
    clean: np.ndarray | None = None
    tissues: dict[str, np.ndarray] | None = None


@dataclass
class CaseSlices:
    """The kept, resized slices of one subject, ready for :meth:`DatasetWriter.add_case`."""

    images: np.ndarray  # (S, 4, size, size) float32 in [0, 1]
    masks: np.ndarray  # (S, size, size) uint8
    labels: np.ndarray  # (S, size, size) uint8
    slice_indices: np.ndarray  # working-grid slice numbers
    spacing: tuple[float, float, float]  # (row, col, slice) mm


def case_id(index: int) -> str:
    return f"demo-{index:03d}"


class DemoGenerator:
    """Simulates subjects from the MNI152 template; :meth:`subject` then :meth:`slices`."""

    def __init__(self, params: DemoParams, templates: Templates | None = None):
        self.params = params
        templates = templates if templates is not None else load_templates()
        self.grid = work_grid(templates, params.size)
        self.source = prepare_source(templates, self.grid)
        self._coarse = self.grid.offsets(step=2)

    def subject(self, index: int, *, keep_clean: bool = False) -> Subject:
        """Simulate subject ``index`` (deterministic in ``(params.seed, index)``).

        Only the slab of axial slices the tumour can reach (plus the slice margin) is simulated;
        that slab is the subject's volume (normalisation, slice choice).
        """
        p, full, src = self.params, self.grid, self.source
        rng = np.random.default_rng([p.seed, index])
        deformation = sample_deformation(rng, full, p.deformation)

        # where to put the tumour: a coarse look at the deformed anatomy
        pts = deformation.on_grid(full, step=2)
        coarse = {k: sample_volume(getattr(src, k), pts, full, src) for k in ("wm", "gm", "brain")}
        template_slice = pts[0] + np.float32(full.centre[0])
        tumour = sample_tumour(rng, coarse["wm"], coarse["gm"], coarse["brain"], template_slice, self._coarse, 2 * full.spacing_mm, p.tumour)
        outline = tumour_shape(tumour, full, p.tumour)
        z0, z1 = self._slab(outline)
        grid = full.slab(z0, z1)

        # the anatomy, with mass effect, on the slab
        offsets = grid.offsets()
        pts = deformation.on_grid(grid, displacement=mass_effect_displacement(tumour, offsets))
        del offsets
        brain_soft = sample_volume(src.brain, pts, grid, src)
        near = brain_soft > 1e-3  # the blurred template is zero elsewhere
        t1, gm, wm = (sample_volume(getattr(src, k), pts, grid, src, where=near) for k in ("t1", "gm", "wm"))
        del pts, near
        brain = brain_soft > 0.5
        gm = np.clip(gm, 0.0, 1.0) * brain
        wm = np.clip(wm, 0.0, 1.0) * brain
        csf = np.clip(brain_soft - gm - wm, 0.0, 1.0) * brain
        t1 = vary_intensity(t1, gm, rng, p.intensity) * brain

        labels, texture = tumour_labels(outline, grid, wm, csf, brain)
        lesions = lesion_fractions(labels)
        keep = np.clip(1.0 - sum(lesions.values()), 0.0, 1.0)
        tissues = {"csf": csf * keep, "gm": gm * keep, "wm": wm * keep, **lesions}
        table = jitter_intensities(rng, p.contrast.intensity_jitter)
        clean = clean_contrasts(t1, tissues, table, texture=texture, params=p.contrast)
        images = acquire(clean, brain, rng, p.contrast)
        return Subject(
            case_id=case_id(index),
            first_slice=z0,
            images=images,
            labels=labels,
            brain=brain.astype(np.uint8),
            tumour=tumour,
            deformation=deformation,
            clean=clean if keep_clean else None,
            tissues=tissues if keep_clean else None,
        )

    def _slab(self, outline: TumourShape) -> tuple[int, int]:
        """Slices ``z0:z1`` of the full grid holding the tumour's possible extent plus the margin."""
        full = self.grid
        zs = np.flatnonzero(outline.extent().any(axis=(1, 2)))
        if zs.size == 0:  # cannot happen (a tumour keeps at least one voxel); take the middle
            mid = full.shape[0] // 2
            return mid - 8, mid + 8
        start = int(round(full.index_of(outline.first_mm)[0]))
        lo, hi = start + int(zs.min()), start + int(zs.max())
        margin = int(np.ceil(self.params.slice_margin * (hi - lo + 1))) + 1
        return max(0, lo - margin), min(full.shape[0], hi + margin + 1)

    def select_slices(self, subject: Subject) -> np.ndarray:
        """Working-grid slice numbers to keep: up to ``slices_per_subject``, evenly spread over
        the tumour's axial extent widened by ``slice_margin``, only slices with enough brain."""
        p = self.params
        area = subject.brain.reshape(subject.brain.shape[0], -1).mean(axis=1)
        has_brain = np.flatnonzero(area >= p.min_brain_fraction)
        with_tumour = np.flatnonzero(subject.labels.reshape(subject.labels.shape[0], -1).any(axis=1))
        if with_tumour.size == 0:  # cannot happen with a placed tumour; keep the central slices
            mid = int(has_brain[len(has_brain) // 2])
            with_tumour = np.array([mid])
        lo, hi = int(with_tumour.min()), int(with_tumour.max())
        margin = int(round(p.slice_margin * (hi - lo + 1)))
        candidates = has_brain[(has_brain >= lo - margin) & (has_brain <= hi + margin)]
        if candidates.size <= p.slices_per_subject:
            return candidates
        pick = np.round(np.linspace(0, candidates.size - 1, p.slices_per_subject)).astype(int)
        return candidates[np.unique(pick)]

    def slices(self, subject: Subject) -> CaseSlices:
        """Cut the kept axial slices, pad them to squares, resize to ``size`` and nest labels."""
        zs = self.select_slices(subject)
        images = np.ascontiguousarray(subject.images[:, zs].transpose(1, 0, 2, 3))
        masks = subject.brain[zs]
        labels = subject.labels[zs]
        images, masks, labels, side = _square_and_resize(images, masks, labels, self.params.size)
        labels = nest_labels(labels, masks)
        s = self.grid.spacing_mm
        pix = s * side / self.params.size
        return CaseSlices(images=images, masks=masks, labels=labels, slice_indices=zs + subject.first_slice, spacing=(pix, pix, s))


def _pad_square(a: np.ndarray, side: int) -> np.ndarray:
    h, w = a.shape[-2:]
    top, left = (side - h) // 2, (side - w) // 2
    pad = [(0, 0)] * (a.ndim - 2) + [(top, side - h - top), (left, side - w - left)]
    return np.pad(a, pad)


def _square_and_resize(images: np.ndarray, masks: np.ndarray, labels: np.ndarray, size: int):
    """Zero-pad ``(S, C, H, W)`` images and ``(S, H, W)`` masks/labels to squares, then resize
    to ``size`` (bilinear with anti-aliasing for images, nearest neighbour for masks/labels)."""
    from skimage.transform import resize

    side = max(images.shape[-2:])
    images, masks, labels = _pad_square(images, side), _pad_square(masks, side), _pad_square(labels, side)
    if side != size:
        n, c = images.shape[:2]
        images = resize(images, (n, c, size, size), order=1, anti_aliasing=side > size, preserve_range=True)
        images = np.clip(images, 0.0, 1.0).astype(np.float32)
        masks = resize(masks, (n, size, size), order=0, anti_aliasing=False, preserve_range=True).astype(np.uint8)
        labels = resize(labels, (n, size, size), order=0, anti_aliasing=False, preserve_range=True).astype(np.uint8)
    return images.astype(np.float32), masks.astype(np.uint8), labels.astype(np.uint8), side


def build_demo(
    dest: str | Path,
    *,
    subjects: int = 40,
    seed: int = 0,
    size: int = 128,
    slices_per_subject: int = 24,
    progress: bool = True,
    overwrite: bool = False,
    params: DemoParams | None = None,
) -> Path:
    """Build the demo dataset into the folder ``dest`` (its name is the dataset name) and return it.

    ``params`` overrides the keyword arguments when given. Writes atomically through
    :class:`~synth_core.dataset.DatasetWriter`; raises :class:`~synth_core.errors.ExistsError`
    if ``dest`` exists and not ``overwrite``. A tqdm bar on stderr when ``progress``.
    """
    from tqdm import tqdm

    from synth_core.dataset import DatasetSpec, DatasetWriter
    from synth_core.structure import structure_preset
    from synth_core.workspace import validate_name

    dest = Path(dest)
    if params is None:
        params = DemoParams(subjects=subjects, seed=seed, size=size, slices_per_subject=slices_per_subject)
    spec = DatasetSpec(
        name=validate_name(dest.name, "dataset name"),
        layout="demo",
        kind="mri",
        modalities=MODALITIES,
        label_names=dict(LABEL_NAMES),
        size=params.size,
        structure=structure_preset("mri"),
        structure_modality=STRUCTURE_MODALITY,
        erase_lesion_contours=True,
        seed=params.seed,
        params=params.to_dict(),
    )
    if dest.exists() and not overwrite:  # fail before the template work, not after
        raise ExistsError(f"{dest}: already exists; choose another name or overwrite it")
    generator = DemoGenerator(params)
    log.info("demo: %d subjects on a %s grid of %.2f mm", params.subjects, generator.grid.shape, generator.grid.spacing_mm)
    with DatasetWriter(dest, spec, overwrite=overwrite) as writer:
        with tqdm(total=params.subjects, desc=f"demo {dest.name}", unit="subject", file=sys.stderr, disable=not progress) as bar:
            for i in range(params.subjects):
                subject = generator.subject(i)
                case = generator.slices(subject)
                writer.add_case(
                    subject.case_id, case.images, case.masks, case.labels, case.slice_indices, case.spacing, f"mni152/{subject.case_id}"
                )
                bar.update(1)
    return dest


def describe_demo() -> str:
    """What the demo dataset is, in plain words (for the README and the dashboard)."""
    return (
        "The demo dataset is built offline from the MNI152 brain template that ships with nilearn "
        "(ICBM 2009a nonlinear symmetric, 1 mm): a real, skull-stripped T1-weighted average of 152 "
        "adult brains, with its grey- and white-matter probability maps.\n\n"
        "Real: the anatomy. The T1 images are the template itself, and the T2, FLAIR and T1c images "
        "are built from its tissue maps.\n\n"
        "Simulated: everything that makes subjects differ and look like scans. Each subject is the "
        "template under a smooth random deformation (a small random scale, rotation and shift plus "
        "a smooth displacement field) with a random T1 contrast. T2, FLAIR and contrast-enhanced T1 "
        "come from textbook relative tissue intensities (T1: white > grey > CSF; T2: CSF > grey > "
        "white; FLAIR: CSF suppressed; T1c: an enhancing tumour rim). Every image gets a smooth bias "
        "field and Rician noise. Each subject has one procedural tumour, a noisy deformed ellipsoid "
        "placed mostly in white matter, with a necrotic core (label 1), an enhancing rim (label 3) "
        "and oedema around them (label 2), BraTS-style, and sometimes mass effect.\n\n"
        "Use it to try the tool end to end. It is not patient data, so results on it say nothing "
        "about real scans."
    )
