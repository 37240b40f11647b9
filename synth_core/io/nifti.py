"""Strict NIfTI reading: one volume -> display-oriented slices ``(Z, H, W)`` plus spacing.

Every volume is reoriented to the closest canonical orientation (RAS+) and cut along its last
(axial, inferior -> superior) axis. Each slice is put in radiological display orientation:
anterior at the top (row 0) and the patient's right on the left of the image (column 0), as a
radiologist reads an axial slice and as DICOM stores one. (That is ``np.rot90`` of the RAS
slice, which puts anterior up, followed by a left-right flip.) Slice ``k`` of the result is
canonical voxel plane ``k``, so slice indices count from the inferior end of the volume.

Problems become one-line :class:`~synth_core.errors.InputError` messages naming the file: not
a NIfTI file, truncated data, NaN/inf voxels, a 4-D volume where 3-D is expected (a trailing
singleton dimension is fine), non-integer labels, an implausibly large image (checked from the
header, before any voxel is read).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from synth_core.errors import InputError
from synth_core.ingest.options import IngestOptions

log = logging.getLogger(__name__)

NIFTI_SUFFIXES = (".nii.gz", ".nii")


@dataclass
class NiftiVolume:
    """``data (Z, H, W)`` in display orientation; ``spacing (row, col, slice)`` in mm."""

    data: np.ndarray
    spacing: tuple[float, float, float]
    affine: np.ndarray  # of the canonical (RAS+) volume, for consistency checks between files


def is_nifti(path: str | Path) -> bool:
    """True for a visible file named ``*.nii`` or ``*.nii.gz`` (macOS ``._*`` files are skipped)."""
    name = Path(path).name
    return not name.startswith(".") and name.lower().endswith(NIFTI_SUFFIXES)


def strip_nifti_suffix(name: str) -> str:
    """``"case_t1.nii.gz"`` -> ``"case_t1"``."""
    low = name.lower()
    for suffix in NIFTI_SUFFIXES:
        if low.endswith(suffix):
            return name[: -len(suffix)]
    return name


def nifti_files(folder: Path) -> list[Path]:
    """The NIfTI files directly in ``folder``, sorted by name."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_nifti(p))


def _short(err: BaseException) -> str:
    text = " ".join(str(err).split()) or type(err).__name__
    return text if len(text) <= 160 else text[:157] + "..."


def _load_header(path: Path):
    import nibabel as nib

    if not path.is_file():
        raise InputError(path, "file not found")
    if path.stat().st_size == 0:
        raise InputError(path, "empty file; not a NIfTI image")
    try:
        img = nib.load(str(path), mmap=False)  # read into memory: no SIGBUS if the file changes under us
    except Exception as err:  # nibabel raises many types (ImageFileError, OSError, gzip errors, ...)
        why = _short(err).replace(f'"{path}"', path.name).replace(str(path), path.name)
        raise InputError(path, f"not a readable NIfTI file, or its header is damaged ({why})") from None
    if not isinstance(img, (nib.Nifti1Image, nib.Nifti2Image)):
        raise InputError(path, f"not a NIfTI file (nibabel read it as {type(img).__name__})")
    return img


def _spatial_shape(path: Path, shape: tuple[int, ...], channels: int | None) -> tuple[tuple[int, ...], int]:
    """(spatial shape (X, Y, Z), number of channels in the 4th dimension)."""
    if len(shape) < 2:
        raise InputError(path, f"{len(shape)}-D image of shape {shape}; expected a 3-D volume")
    if len(shape) == 2:
        return (shape[0], shape[1], 1), 1
    spatial, extra = tuple(shape[:3]), tuple(shape[3:])
    extra_n = int(np.prod(extra)) if extra else 1
    if extra_n == 1:
        return spatial, 1
    if channels is not None and len(extra) == 1 and extra[0] == channels:
        return spatial, channels
    want = "a 3-D volume" if not channels or channels == 1 else f"a 3-D volume or 4-D with {channels} channels"
    raise InputError(path, f"{len(shape)}-D image of shape {shape}; expected {want}")


def read_header_shape(path: str | Path, options: IngestOptions, *, channels: int | None = None) -> tuple[int, int, int]:
    """Display shape ``(Z, H, W)`` from the header only, after the size guard."""
    path = Path(path)
    img = _load_header(path)
    return _display_shape(path, img, options, channels)[0]


def _display_shape(path: Path, img, options: IngestOptions, channels: int | None):
    import nibabel as nib

    spatial, n_ch = _spatial_shape(path, tuple(int(s) for s in img.shape), channels)
    try:
        ornt = nib.orientations.io_orientation(img.affine)
        if not np.all(np.isfinite(ornt)):
            raise ValueError("degenerate affine")
    except Exception as err:
        raise InputError(path, f"invalid orientation in the header ({_short(err)})") from None
    canon = [0, 0, 0]
    for axis in range(3):
        canon[int(ornt[axis, 0])] = spatial[axis]
    x, y, z = canon
    options.check_dimensions(path, rows=y, cols=x, slices=z)
    return (z, y, x), n_ch, ornt


def read_nifti(
    path: str | Path,
    options: IngestOptions,
    *,
    label: bool = False,
    channels: int | None = None,
) -> NiftiVolume:
    """Read one NIfTI volume strictly.

    ``label=False``: float32 intensities, ``data (Z, H, W)`` — or ``(C, Z, H, W)`` when
    ``channels`` > 1 and the file is 4-D with that many channels (original MSD files).
    ``label=True``: int32 classes; values must be integers (stored as float is fine).
    """
    import nibabel as nib

    path = Path(path)
    img = _load_header(path)
    _, n_ch, ornt = _display_shape(path, img, options, channels)
    try:
        raw = np.asanyarray(img.dataobj)
    except Exception as err:  # truncated gzip / short file / bad data type
        raise InputError(path, f"cannot read the voxel data; the file may be truncated ({_short(err)})") from None
    if raw.ndim == 2:
        raw = raw[:, :, None]
    if n_ch > 1:
        raw = raw.reshape(raw.shape[:3] + (n_ch,))
    else:
        raw = raw.reshape(raw.shape[:3])
    if label:
        data = _as_integer_label(path, raw)
    else:
        if not np.issubdtype(raw.dtype, np.number) or np.issubdtype(raw.dtype, np.complexfloating):
            raise InputError(path, f"unsupported voxel type {raw.dtype}; expected real numbers")
        data = raw.astype(np.float32, copy=False)
        bad = int(data.size - np.count_nonzero(np.isfinite(data)))
        if bad:
            raise InputError(path, f"{bad} voxels are NaN or infinite")
    data = nib.orientations.apply_orientation(data, ornt)  # canonical RAS+ (X, Y, Z[, C])
    zooms = [float(z) for z in img.header.get_zooms()[:3]] + [1.0] * (3 - len(img.header.get_zooms()[:3]))
    canon_zooms = [1.0, 1.0, 1.0]
    for axis in range(3):
        canon_zooms[int(ornt[axis, 0])] = zooms[axis]
    if not all(np.isfinite(z) and z > 0 for z in canon_zooms):
        log.warning("%s: voxel sizes %s are not positive; using 1 mm", path, canon_zooms)
        canon_zooms = [z if np.isfinite(z) and z > 0 else 1.0 for z in canon_zooms]
    out = to_display(data)
    affine = img.affine @ nib.orientations.inv_ornt_aff(ornt, img.shape[:3] if len(img.shape) >= 3 else img.shape + (1,))
    return NiftiVolume(data=out, spacing=(canon_zooms[1], canon_zooms[0], canon_zooms[2]), affine=affine)


def to_display(vol: np.ndarray) -> np.ndarray:
    """Canonical RAS+ ``(X, Y, Z)`` -> ``(Z, H, W)`` (or ``(X, Y, Z, C)`` -> ``(C, Z, H, W)``):
    row 0 = anterior, column 0 = the patient's right (radiological display)."""
    if vol.ndim == 4:
        vol = np.moveaxis(vol, 3, 0)  # (C, X, Y, Z)
        return np.ascontiguousarray(np.transpose(vol, (0, 3, 2, 1))[:, :, ::-1, ::-1])
    return np.ascontiguousarray(np.transpose(vol, (2, 1, 0))[:, ::-1, ::-1])


def _as_integer_label(path: Path, raw: np.ndarray) -> np.ndarray:
    if np.issubdtype(raw.dtype, np.integer) or raw.dtype == bool:
        return raw.astype(np.int32, copy=False)
    if not np.issubdtype(raw.dtype, np.floating):
        raise InputError(path, f"unsupported label voxel type {raw.dtype}; expected integers")
    if not np.all(np.isfinite(raw)):
        raise InputError(path, "label has NaN or infinite voxels")
    rounded = np.rint(raw)
    if np.max(np.abs(raw - rounded), initial=0.0) > 1e-3:
        raise InputError(path, "label has non-integer values; expected integer classes")
    if rounded.size and (rounded.min() < np.iinfo(np.int32).min or rounded.max() > np.iinfo(np.int32).max):
        raise InputError(path, "label values are out of the integer range")
    return rounded.astype(np.int32)


def check_same_grid(ref_path: Path, ref: NiftiVolume, path: Path, other: NiftiVolume) -> None:
    """Refuse a file whose (display) shape differs from the reference file of the same case; warn
    when the two are not on the same physical grid (affines differ by more than half a voxel)."""
    a, b = ref.data.shape[-3:], other.data.shape[-3:]
    if a != b:
        raise InputError(path, f"shape {b} (slices, rows, cols) does not match {ref_path.name} {a}")
    if not np.allclose(ref.affine, other.affine, atol=0.5 * min(ref.spacing)):
        log.warning("%s: orientation/position differs from %s; using voxel correspondence", path, ref_path.name)
