"""Strict 2-D image reading (PNG and other lossless formats Pillow reads).

Grey images come back as float32 on a 0..255 scale whatever the bit depth (16-bit values are
divided by 257), so one fixed range maps every image to [0, 1]. RGB(A) and palette images are
converted to grey with the ITU-R 601 luma weights. Label and mask images come back as integers;
the size guard reads only the header.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from synth_core.errors import InputError
from synth_core.ingest.options import IngestOptions

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")
LABEL_SUFFIXES = (".png", ".tif", ".tiff", ".bmp")  # lossless only: JPEG would corrupt labels
_LUMA = np.array([0.299, 0.587, 0.114], dtype=np.float32)


def image_files(folder: Path, suffixes: tuple[str, ...] = IMAGE_SUFFIXES) -> list[Path]:
    """Visible files in ``folder`` with one of ``suffixes``, sorted by name."""
    return sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )


def _open(path: Path, options: IngestOptions):
    from PIL import Image, UnidentifiedImageError

    if not path.is_file():
        raise InputError(path, "file not found")
    try:
        im = Image.open(path)
    except UnidentifiedImageError:
        raise InputError(path, "not an image file Pillow can read") from None
    except Exception as err:  # OSError, DecompressionBombError, ...
        raise InputError(path, f"cannot open the image ({err})") from None
    cols, rows = im.size
    options.check_dimensions(path, rows=rows, cols=cols, slices=getattr(im, "n_frames", 1) or 1)
    if getattr(im, "n_frames", 1) > 1:
        raise InputError(path, f"multi-frame image ({im.n_frames} frames); expected one 2-D image")
    try:
        im.load()
    except Exception as err:  # truncated file, decompression bomb, bad chunk
        raise InputError(path, f"cannot read the pixel data; the file may be truncated ({err})") from None
    return im


def read_grey(path: str | Path, options: IngestOptions) -> np.ndarray:
    """``(H, W)`` float32 on a 0..255 scale."""
    path = Path(path)
    im = _open(path, options)
    mode = im.mode
    if mode in ("1", "L", "P", "PA", "LA", "RGB", "RGBA", "CMYK", "YCbCr", "RGBX", "La"):
        if mode in ("1", "P", "PA", "CMYK", "YCbCr", "RGBX"):
            im = im.convert("RGBA" if mode in ("P", "PA") else "RGB")
        arr = np.asarray(im, dtype=np.float32)
        if arr.ndim == 3:
            arr = arr[..., :2][..., 0] if arr.shape[2] == 2 else arr[..., :3] @ _LUMA
    elif mode.startswith("I;16") or mode == "I":
        arr = np.asarray(im).astype(np.float32)
        if arr.size and (arr.min() < 0 or arr.max() > 65535):
            raise InputError(path, f"pixel values outside 0..65535 in a {mode} image")
        arr = arr / 257.0
    elif mode == "F":
        arr = np.asarray(im, dtype=np.float32)
        if not np.all(np.isfinite(arr)):
            raise InputError(path, "image has NaN or infinite pixels")
        if arr.size and (arr.min() < 0 or arr.max() > 255):
            raise InputError(path, "floating-point image with values outside 0..255; convert it to 8 or 16-bit")
    else:
        raise InputError(path, f"unsupported image mode {mode!r}")
    return np.ascontiguousarray(arr, dtype=np.float32)


def read_label(path: str | Path, options: IngestOptions) -> np.ndarray:
    """``(H, W)`` int32 values of a label or mask image (grey; an RGB image must have equal channels)."""
    path = Path(path)
    im = _open(path, options)
    if im.mode == "P":
        im = im.convert("RGB")
    arr = np.asarray(im)
    if arr.ndim == 3:
        rgb = arr[..., :3] if arr.shape[2] >= 3 else arr[..., :1]
        if not np.all(rgb == rgb[..., :1]):
            raise InputError(path, "colour label image; expected grey integer classes (R = G = B)")
        arr = rgb[..., 0]
    if arr.dtype == bool:
        arr = arr.astype(np.uint8)
    if not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.isfinite(arr)) or np.any(arr != np.rint(arr)):
            raise InputError(path, "label has non-integer values")
    return np.ascontiguousarray(arr, dtype=np.int32)
