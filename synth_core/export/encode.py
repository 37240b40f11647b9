"""Encode one 2-D slice as the bytes of a NIfTI or PNG file, and read such files back.

Files are built in memory and then written, so the export hashes exactly the bytes it writes,
and the bytes are deterministic (gzip with ``mtime=0``): the same export twice gives the same
checksums.

NIfTI orientation: the array is stored as ``(H, W, 1[, C])`` with an affine saying that rows run
anterior -> posterior and columns the patient's right -> left, i.e. the radiological display
orientation the dataset keeps (see :mod:`synth_core.io.nifti`). So :func:`synth_core.io.nifti.
read_nifti` (and any RAS-aware reader) gives back exactly the exported slice, and the voxel size
is the dataset's pixel spacing.
"""

from __future__ import annotations

import functools
import gzip
import io
from pathlib import Path

import numpy as np

NIFTI_ENDING = ".nii.gz"
PNG_ENDING = ".png"
GZIP_LEVEL = 1  # nibabel's default for .nii.gz: float noise hardly compresses further


def display_affine(spacing: tuple[float, float, float]) -> np.ndarray:
    """Affine of an ``(H, W, Z)`` array in display orientation: axis 0 -> posterior (-y),
    axis 1 -> patient's left (-x in RAS+), axis 2 -> superior (+z)."""
    sr, sc, ss = (float(s) for s in spacing)
    aff = np.zeros((4, 4))
    aff[1, 0] = -sr
    aff[0, 1] = -sc
    aff[2, 2] = ss
    aff[3, 3] = 1.0
    return aff


@functools.lru_cache(maxsize=64)
def _nifti_header(shape: tuple[int, ...], dtype: str, spacing: tuple[float, float, float]) -> bytes:
    """The 352 bytes before the voxels of a single-file NIfTI-1 (header + empty extension flag),
    as nibabel writes them for this shape, dtype and spacing; cached because building a header
    costs nibabel ~1 ms, more than writing a whole 2-D slice."""
    import nibabel as nib

    img = nib.Nifti1Image(np.zeros(shape, dtype=np.dtype(dtype)), display_affine(spacing))
    img.header.set_data_dtype(np.dtype(dtype))
    img.header.set_xyzt_units("mm")
    img.set_qform(img.affine, code=1)
    img.set_sform(img.affine, code=1)
    raw = img.to_bytes()
    offset = len(raw) - int(np.prod(shape)) * np.dtype(dtype).itemsize
    if offset != 352:  # 348-byte NIfTI-1 header + 4-byte extension flag, voxels right after
        raise RuntimeError(f"unexpected NIfTI layout from nibabel (voxels at byte {offset}, expected 352)")
    return raw[:offset]


def nifti_bytes(data: np.ndarray, spacing: tuple[float, float, float]) -> bytes:
    """``.nii.gz`` bytes of ``data`` ``(H, W, 1)`` or ``(H, W, 1, C)`` in its own dtype (float32
    or uint8: no scaling), voxel sizes in mm. Equal to what nibabel writes (a test checks)."""
    data = np.asarray(data)
    if data.dtype not in (np.float32, np.uint8):
        raise ValueError(f"nifti_bytes needs float32 or uint8 voxels, not {data.dtype}")
    header = _nifti_header(tuple(int(s) for s in data.shape), data.dtype.str, tuple(float(s) for s in spacing))
    body = data.tobytes(order="F")  # NIfTI stores voxels in Fortran order
    return gzip.compress(header + body, compresslevel=GZIP_LEVEL, mtime=0)


def png_bytes(data: np.ndarray) -> bytes:
    """PNG bytes of a 2-D ``uint8`` (grey 8-bit) or ``uint16`` (grey 16-bit) array."""
    from PIL import Image

    if data.ndim != 2 or data.dtype not in (np.uint8, np.uint16):
        raise ValueError(f"png_bytes needs a 2-D uint8 or uint16 array, not {data.dtype} {data.shape}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data)).save(buf, format="PNG")
    return buf.getvalue()


def to_uint16(image: np.ndarray) -> np.ndarray:
    """[0, 1] floats -> 0..65535 (rounded; values outside [0, 1] are clipped)."""
    return np.rint(np.clip(image, 0.0, 1.0) * 65535.0).astype(np.uint16)


def read_array(path: str | Path) -> np.ndarray:
    """The voxel/pixel array of an exported ``.nii.gz`` or ``.png`` file (raises on unreadable files)."""
    path = Path(path)
    if path.name.endswith(PNG_ENDING):
        from PIL import Image

        with Image.open(path) as im:
            im.load()
            return np.asarray(im)
    import nibabel as nib

    return np.asanyarray(nib.load(str(path), mmap=False).dataobj)
