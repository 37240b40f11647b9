"""NIfTI reading: orientation, spacing and strict checks."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.errors import InputError
from synth_core.ingest.options import IngestOptions
from synth_core.io.nifti import read_header_shape, read_nifti
from tests.ingest import fixtures as F

OPT = IngestOptions()


def marker_volume(flip_xy: bool) -> np.ndarray:
    """A volume with one marker voxel at the patient's right (x = 20 of 24), anterior (y = 17 of
    20), slice z = 6 (in RAS+ voxel terms), stored either as RAS+ or flipped (LPS-like)."""
    v = np.zeros(F.SHAPE, np.float32)
    v[20, 17, 6] = 1.0
    return v[::-1, ::-1, :].copy() if flip_xy else v


@pytest.mark.parametrize("flip_xy", [False, True])
def test_marker_lands_top_left_in_radiological_display(tmp_path, flip_xy):
    path = F.save(tmp_path / "m.nii.gz", marker_volume(flip_xy), F.affine(flip_xy=flip_xy))
    vol = read_nifti(path, OPT)
    assert vol.data.shape == (10, 20, 24)  # (Z, H = Y, W = X)
    z, r, c = np.argwhere(vol.data == 1.0)[0]
    # anterior is up: y = 17 of 20 -> row 2; patient's right on the viewer's left: x = 20 -> col 3
    assert (z, r, c) == (6, 2, 3)
    assert vol.spacing == pytest.approx((0.9, 0.8, 2.5))


def test_slices_count_from_the_inferior_end(tmp_path):
    v = np.zeros(F.SHAPE, np.float32)
    v[5, 5, 0] = 1.0  # most inferior plane in RAS+
    aff = F.affine()
    aff[2, 2] = -2.5  # stored superior -> inferior
    v_stored = v[:, :, ::-1].copy()
    vol = read_nifti(F.save(tmp_path / "s.nii", v_stored, aff), OPT)
    assert np.argwhere(vol.data == 1.0)[0][0] == 0


def test_trailing_singleton_and_label_as_float(tmp_path):
    v = np.zeros(F.SHAPE + (1,), np.float32)
    v[..., 0] = 2.0
    vol = read_nifti(F.save(tmp_path / "t.nii.gz", v), OPT, label=True)
    assert vol.data.shape == (10, 20, 24) and vol.data.dtype == np.int32 and vol.data.max() == 2


@pytest.mark.parametrize(
    "how, message",
    [
        ("text", "not a readable NIfTI file"),
        ("truncate", "truncated"),
        ("nan", "NaN or infinite"),
        ("4d", "4-D image"),
    ],
)
def test_strict_errors_name_the_file(tmp_path, how, message):
    noise = np.random.default_rng(0).normal(size=F.SHAPE).astype(np.float32)  # compresses badly
    path = F.save(tmp_path / "bad.nii.gz", noise)
    F.break_file(path, how)
    with pytest.raises(InputError, match=message) as info:
        read_nifti(path, OPT)
    assert str(info.value).startswith(f"{path}: ") and "\n" not in str(info.value)


def test_non_integer_label_is_refused(tmp_path):
    path = F.save(tmp_path / "l.nii.gz", np.full(F.SHAPE, 0.5, np.float32))
    with pytest.raises(InputError, match="non-integer"):
        read_nifti(path, OPT, label=True)


def test_size_guard_reads_only_the_header(tmp_path):
    path = F.write_big_header(tmp_path / "big.nii")  # claims 5000 x 5000 px, holds 64 bytes
    with pytest.raises(InputError, match="5000 x 5000 pixels is larger than the 4096 px limit"):
        read_header_shape(path, OPT)
    with pytest.raises(InputError, match="larger than"):
        read_nifti(path, OPT)
    F.write_big_header(path, shape=(8, 8, 3000))
    with pytest.raises(InputError, match="3000 slices"):
        read_nifti(path, OPT)
