"""The MNI152 templates the demo is built from, read from the files packaged inside nilearn.

nilearn ships the ICBM 2009a nonlinear symmetric MNI152 template at 1 mm (skull-stripped T1, grey
and white matter probability maps) in ``nilearn/datasets/data/``. Its own loaders
(``nilearn.datasets.load_mni152_template``, ``load_mni152_gm_template``,
``load_mni152_wm_template``, ``load_mni152_brain_mask``) read exactly these files without touching
the network; we read the same files with nibabel directly, which is the same data, guaranteed
offline, and avoids importing ``nilearn.datasets`` (several seconds, scikit-learn).

Arrays are returned in *display orientation*: ``(Z, H, W)`` = axial slices from inferior to
superior, row 0 anterior (the top of the image as a radiologist sees it), column 0 the patient's
right (radiological convention). Voxels are 1 mm isotropic.
"""

from __future__ import annotations

import functools
import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core.errors import InputError, NotFoundError

#: The packaged template files (the ones nilearn's MNI152 loaders read), by role.
TEMPLATE_FILES: dict[str, str] = {
    "t1": "mni_icbm152_t1_tal_nlin_sym_09a_converted.nii.gz",
    "gm": "mni_icbm152_gm_tal_nlin_sym_09a_converted.nii.gz",
    "wm": "mni_icbm152_wm_tal_nlin_sym_09a_converted.nii.gz",
}
TEMPLATE_NAME = "MNI152 ICBM 2009a nonlinear symmetric, 1 mm (packaged with nilearn)"
#: ``nilearn.datasets.load_mni152_brain_mask`` default: T1 (scaled to max 1) above this is brain.
BRAIN_THRESHOLD = 0.2


@dataclass(frozen=True)
class Templates:
    """The MNI152 template volumes, ``(Z, H, W)`` float32, display orientation, 1 mm voxels.

    ``t1``: skull-stripped T1 scaled to [0, 1]; ``gm``, ``wm``: tissue probabilities in [0, 1]
    (zero outside the brain mask); ``brain``: {0, 1} brain mask (T1 > 0.2, holes filled).
    """

    t1: np.ndarray
    gm: np.ndarray
    wm: np.ndarray
    brain: np.ndarray
    spacing_mm: float = 1.0

    @property
    def csf(self) -> np.ndarray:
        """Cerebrospinal fluid probability: brain mask minus grey minus white matter, in [0, 1]."""
        return np.clip(self.brain - self.gm - self.wm, 0.0, 1.0)


def nilearn_data_dir() -> Path:
    """The folder inside the installed nilearn package that holds the MNI152 files.

    Found with ``importlib`` without importing nilearn. Raises :class:`NotFoundError` when nilearn
    is not installed or the files are missing.
    """
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        raise NotFoundError("nilearn is not installed; it ships the MNI152 templates the demo is built from (pip install nilearn)")
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    missing = [f for f in TEMPLATE_FILES.values() if not (folder / f).is_file()]
    if missing:
        raise NotFoundError(f"{folder}: the nilearn package lacks the MNI152 template files {', '.join(missing)}")
    return folder


def _to_display(volume: np.ndarray) -> np.ndarray:
    """RAS ``(X, Y, Z)`` array -> ``(Z, H, W)``: rows anterior->posterior, columns right->left."""
    return np.ascontiguousarray(np.transpose(volume, (2, 1, 0))[:, ::-1, ::-1])


def _read(path: Path) -> np.ndarray:
    import nibabel as nib

    try:
        img = nib.load(str(path))
        codes = nib.aff2axcodes(img.affine)
        data = np.asarray(img.dataobj, dtype=np.float32)
    except Exception as err:  # a damaged installation; name the file
        raise InputError(path, f"cannot read the MNI152 template ({err})") from err
    if codes != ("R", "A", "S"):
        img = nib.as_closest_canonical(img)
        data = np.asarray(img.dataobj, dtype=np.float32)
    top = float(data.max())
    if data.ndim != 3 or top <= 0:
        raise InputError(path, f"unexpected template contents (shape {data.shape}, max {top})")
    return _to_display(data / top)


@functools.lru_cache(maxsize=1)
def load_templates() -> Templates:
    """Read the packaged MNI152 T1, GM and WM templates and derive the brain mask (no network).

    The brain mask is nilearn's definition (T1 scaled to max 1, above :data:`BRAIN_THRESHOLD`)
    with enclosed holes filled; GM and WM are set to zero outside it. About 1 s the first time;
    the result is kept (read-only arrays, about 140 MB) for the next call in the same process.
    """
    from scipy import ndimage

    folder = nilearn_data_dir()
    t1, gm, wm = (_read(folder / TEMPLATE_FILES[k]) for k in ("t1", "gm", "wm"))
    if not (t1.shape == gm.shape == wm.shape):
        raise InputError(folder, f"template shapes differ: t1 {t1.shape}, gm {gm.shape}, wm {wm.shape}")
    brain = ndimage.binary_fill_holes(t1 > BRAIN_THRESHOLD).astype(np.float32)
    arrays = {"t1": t1 * brain, "gm": gm * brain, "wm": wm * brain, "brain": brain}
    for a in arrays.values():
        a.flags.writeable = False
    return Templates(**arrays)
