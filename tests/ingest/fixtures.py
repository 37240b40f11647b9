"""Tiny seeded fixtures written into ``tmp_path`` with nibabel / Pillow.

Volumes are ``SHAPE = (X, Y, Z) = (24, 20, 10)`` voxels in canonical RAS+ order with voxel sizes
``ZOOMS``; after ingest a slice is ``(H, W) = (Y, X) = (20, 24)``, padded to 24 x 24.
"""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
from PIL import Image

SHAPE = (24, 20, 10)  # X (left->right), Y (posterior->anterior), Z (inferior->superior)
ZOOMS = (0.8, 0.9, 2.5)
CASES = ("case01", "case02", "case03")


def affine(zooms=ZOOMS, flip_xy: bool = False) -> np.ndarray:
    a = np.diag([*zooms, 1.0])
    if flip_xy:  # LPS-like storage: i runs right->left, j anterior->posterior
        a[0, 0], a[1, 1] = -zooms[0], -zooms[1]
        a[0, 3], a[1, 3] = zooms[0] * (SHAPE[0] - 1), zooms[1] * (SHAPE[1] - 1)
    return a


def save(path: Path, data: np.ndarray, aff: np.ndarray | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    nib.save(nib.Nifti1Image(data, affine() if aff is None else aff), str(path))
    return path


def grid(shape=SHAPE):
    return np.meshgrid(*[np.arange(s, dtype=np.float32) for s in shape], indexing="ij")


def ellipsoid(centre, radii, shape=SHAPE) -> np.ndarray:
    x, y, z = grid(shape)
    r2 = sum(((c - m) / r) ** 2 for c, m, r in zip((x, y, z), centre, radii))
    return r2 <= 1.0


def sphere_dist(centre, shape=SHAPE) -> np.ndarray:
    x, y, z = grid(shape)
    return np.sqrt((x - centre[0]) ** 2 + (y - centre[1]) ** 2 + ((z - centre[2]) * 2.0) ** 2)


def brain_phantom(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(brain bool (X,Y,Z), BraTS-2021 seg {0,1,2,4})."""
    rng = np.random.default_rng(seed)
    brain = ellipsoid((11.5, 9.5, 4.5), (10.0, 8.5, 5.0))
    c = (11.5 + rng.integers(-2, 3), 9.5 + rng.integers(-1, 2), 4.5)
    d = sphere_dist(c)
    seg = np.zeros(SHAPE, np.int16)
    seg[d < 4.0] = 2
    seg[d < 2.5] = 4
    seg[d < 1.6] = 1
    seg[~brain] = 0
    return brain, seg


def write_brats(root: Path, n: int = 3, *, naming: str = "2021") -> Path:
    """BraTS case folders. ``naming="2023"`` writes ``-t1n/-t1c/-t2w/-t2f/-seg`` and labels {0,1,2,3}.
    """
    suffixes = ("t1", "t1ce", "t2", "flair", "seg") if naming == "2021" else ("t1n", "t1c", "t2w", "t2f", "seg")
    sep = "_" if naming == "2021" else "-"
    for i in range(n):
        cid = f"BraTS_{i:03d}" if naming == "2021" else f"BraTS-GLI-{i:05d}-000"
        rng = np.random.default_rng(i)
        brain, seg = brain_phantom(i)
        if naming != "2021":
            seg = np.where(seg == 4, 3, seg).astype(np.int16)
        for j, suf in enumerate(suffixes[:4]):
            vol = np.where(brain, 100.0 + 50 * j + rng.normal(0, 5, SHAPE), 0.0).astype(np.float32)
            vol[seg > 0] += 80.0 * (j + 1)
            save(root / cid / f"{cid}{sep}{suf}.nii.gz", vol)
        save(root / cid / f"{cid}{sep}seg.nii.gz", seg)
    return root


def ct_phantom(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(HU volume, LiTS seg {0,1,2}): air -1000, body 0, liver 100, tumour 40."""
    rng = np.random.default_rng(seed)
    hu = np.full(SHAPE, -1000.0, np.float32)
    body = ellipsoid((11.5, 9.5, 4.5), (11.0, 9.0, 20.0))
    hu[body] = 0.0
    liver = ellipsoid((10.0 + rng.integers(-1, 2), 9.5, 4.5), (7.0, 6.0, 4.5))
    tumour = ellipsoid((10.0, 9.5, 4.5), (2.5, 2.5, 1.5)) & liver
    hu[liver] = 100.0
    hu[tumour] = 40.0
    seg = np.zeros(SHAPE, np.uint8)
    seg[liver] = 1
    seg[tumour] = 2
    return hu, seg


def write_lits(root: Path, n: int = 3) -> Path:
    for i in range(n):
        hu, seg = ct_phantom(i)
        save(root / f"volume-{i}.nii.gz", hu.astype(np.int16))
        save(root / f"segmentation-{i}.nii", seg)
    return root


def write_msd(root: Path, n: int = 3, *, style: str = "v2", ending: str = ".nii.gz") -> Path:
    """A liver task: CT with labels background / liver / tumour.

    ``style="v2"``: nnU-Net v2 (``channel_names``, ``labels`` name->value, ``_0000`` files);
    ``"msd"``: Decathlon (``modality``, ``labels`` value->name); ``"mr2"``: two MR channels, v2.
    """
    if style == "mr2":
        meta = {"channel_names": {"0": "T2", "1": "ADC"}, "labels": {"background": 0, "peripheral zone": 1, "transition zone": 2}, "numTraining": n, "file_ending": ending}
    elif style == "msd":
        meta = {"name": "Liver", "modality": {"0": "CT"}, "labels": {"0": "background", "1": "liver", "2": "cancer"}, "numTraining": n}
    else:
        meta = {"channel_names": {"0": "CT"}, "labels": {"background": 0, "liver": 1, "liver tumour": 2}, "numTraining": n, "file_ending": ending}
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for i in range(n):
        cid = f"liver_{i:03d}"
        hu, seg = ct_phantom(i)
        if style == "mr2":
            save(root / "imagesTr" / f"{cid}_0000{ending}", np.where(hu > -500, hu + 200, 0).astype(np.float32))
            save(root / "imagesTr" / f"{cid}_0001{ending}", np.where(hu > -500, 500 - hu, 0).astype(np.float32))
        else:
            save(root / "imagesTr" / f"{cid}_0000{ending}", hu.astype(np.int16))
        save(root / "labelsTr" / f"{cid}{ending}", seg)
    (root / "imagesTr" / "._liver_000_0000.nii.gz").write_bytes(b"\0\5\26\7 mac resource fork")
    return root


def write_msd_4d(root: Path, n: int = 3) -> Path:
    """Original Decathlon brain-tumour style: 4-D images with 2 channels, labels value->name."""
    meta = {"modality": {"0": "FLAIR", "1": "T1w"}, "labels": {"0": "background", "1": "edema", "2": "enhancing tumour"}}
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset.json").write_text(json.dumps(meta))
    for i in range(n):
        brain, seg = brain_phantom(i)
        seg = np.select([seg == 2, seg == 4, seg == 1], [1, 2, 2], 0).astype(np.uint8)
        vol = np.stack([np.where(brain, 100.0 + 20 * c, 0.0) + 60.0 * (seg > 0) for c in range(2)], axis=-1)
        save(root / "imagesTr" / f"BRATS_{i:03d}.nii.gz", vol.astype(np.float32))
        save(root / "labelsTr" / f"BRATS_{i:03d}.nii.gz", seg)
    return root


def write_nifti_folder(root: Path, n: int = 3, *, sibling: bool = False) -> Path:
    """Plain volumes with binary labels, in ``labels/`` (or as ``<name>_seg`` siblings)."""
    for i in range(n):
        brain, seg = brain_phantom(i)
        vol = np.where(brain, 200.0, 0.0).astype(np.float32) + 100.0 * (seg > 0)
        save(root / f"scan{i}.nii.gz", vol)
        lab = (seg > 0).astype(np.uint8)
        save(root / (f"scan{i}_seg.nii.gz" if sibling else f"labels/scan{i}.nii.gz"), lab)
    return root


def write_png(root: Path, n: int = 3, *, rgb: bool = False, label_values=(0, 255), masks: bool = True) -> Path:
    """``images/``, ``masks/``, ``labels/`` of 30 x 40 (H x W) images."""
    for d in ("images", "labels") + (("masks",) if masks else ()):
        (root / d).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[0:30, 0:40]
    for i in range(n):
        organ = ((yy - 15) / 12.0) ** 2 + ((xx - 20) / 16.0) ** 2 <= 1
        lesion = ((yy - 15) ** 2 + (xx - 18 - i) ** 2) <= 9
        grey = np.where(organ, 120, 10).astype(np.uint8)
        grey[lesion] = 220
        img = np.stack([grey, grey, grey], axis=-1) if rgb else grey
        Image.fromarray(img).save(root / "images" / f"img{i}.png")
        lab = np.where(lesion, label_values[1], label_values[0]).astype(np.uint8)
        Image.fromarray(lab).save(root / "labels" / f"img{i}.png")
        if masks:
            Image.fromarray((organ * 255).astype(np.uint8)).save(root / "masks" / f"img{i}.png")
    return root


def write_big_header(path: Path, shape=(5000, 5000, 1)) -> Path:
    """An uncompressed NIfTI whose header claims ``shape`` but holds only a few bytes of data."""
    hdr = nib.Nifti1Header()
    hdr.set_data_shape(shape)
    hdr.set_data_dtype(np.uint8)
    hdr.set_qform(np.eye(4), code=1)
    hdr.set_sform(np.eye(4), code=1)
    hdr["vox_offset"] = 352
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as fh:
        hdr.write_to(fh)
        fh.write(b"\0" * (352 - fh.tell()) + b"\0" * 64)
    return path


def break_file(path: Path, how: str, like: Path | None = None) -> Path:
    """Damage ``path`` in place: ``text`` (a text file under the NIfTI name), ``truncate``,
    ``nan``, ``4d``, ``shape`` (wrong grid), ``labels`` (value 7), ``big`` (header claims 5000 px)."""
    if how == "text":
        path.write_text("this is not an image\n")
    elif how == "truncate":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    elif how == "big":
        write_big_header(path)
    else:
        img = nib.load(str(path), mmap=False)  # no memory map: the file is overwritten below
        data = np.asanyarray(img.dataobj).copy()
        if how == "nan":
            data = data.astype(np.float32)
            data[3, 3, 3] = np.nan
        elif how == "4d":
            data = np.stack([data, data], axis=-1)
        elif how == "shape":
            data = data[:-2]
        elif how == "labels":
            data = data.copy()
            data[0, 0, 0] = 7
        else:
            raise ValueError(how)
        nib.save(nib.Nifti1Image(data, img.affine), str(path))
    return path
