"""End-to-end ingest of each layout through ``python -m synth_core ingest`` on tiny fixtures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from synth_core.dataset import Dataset
from tests.ingest import fixtures as F
from tests.ingest.conftest import leftovers

SIZE = 32


def common_checks(ds: Dataset, n_channels: int, size: int = SIZE) -> None:
    n = len(ds)
    assert n > 0
    assert ds.images.shape == (n, n_channels, size, size) and ds.images.dtype == np.float32
    assert float(ds.images.min()) >= 0.0 and float(ds.images.max()) <= 1.0
    assert ds.masks.shape == ds.labels.shape == (n, size, size) and ds.labels.dtype == np.uint8
    assert set(np.unique(ds.masks).tolist()) <= {0, 1}
    assert set(np.unique(ds.labels).tolist()) <= set(ds.label_names)
    # a lesion always lies inside the organ mask
    assert not np.any((ds.labels > 0) & (ds.masks == 0))
    # splits by case: no case in two splits
    assert (ds.index.groupby("case_id")["split"].nunique() == 1).all()
    for p in ds.index["source_path"]:
        assert not Path(p).is_absolute() and ".." not in Path(p).parts


def expected_kept(organ_xyz: np.ndarray, min_foreground: float = 0.05) -> int:
    """Number of axial slices whose organ fraction reaches ``min_foreground``."""
    frac = organ_xyz.reshape(-1, organ_xyz.shape[2]).mean(axis=0)
    return int((frac >= min_foreground).sum())


def test_brats(tmp_path, workspace, cli):
    src = F.write_brats(tmp_path / "brats")
    r = cli("ingest", "--layout", "brats", src, "--name", "b", "--size", SIZE)
    assert r.rc == 0, r.err
    assert "dataset      b" in r.out and "slices" in r.out
    ds = Dataset(workspace / "datasets" / "b")
    common_checks(ds, 4)
    assert ds.modalities == ("t1", "t1ce", "t2", "flair")
    assert ds.spec.kind == "mri" and ds.spec.structure_modality == 3 and ds.spec.erase_lesion_contours
    assert ds.label_names == {0: "background", 1: "necrotic / non-enhancing core", 2: "edema", 3: "enhancing tumour"}
    # BraTS 4 -> 3; every class present
    assert set(np.unique(ds.labels).tolist()) == {0, 1, 2, 3}
    # slices kept: brain fraction >= 5 % of the 20 x 24 slice
    want = sum(expected_kept(F.brain_phantom(i)[0]) for i in range(3))
    assert len(ds) == want
    # every split gets one of the 3 cases
    assert sorted(ds.index.groupby("split")["case_id"].nunique().to_dict().items()) == [("test", 1), ("train", 1), ("val", 1)]
    row = ds.index.iloc[0]
    assert row.source_path == f"{row.case_id}/{row.case_id}_t1.nii.gz"
    np.testing.assert_allclose([row.spacing_row, row.spacing_col, row.spacing_slice], [0.9 * 24 / SIZE, 0.8 * 24 / SIZE, 2.5], rtol=1e-5)


def test_brats_label_mapping_per_slice(tmp_path, workspace, cli):
    """Known answer at the tumour centre slice at the working size of the raw grid (no resize)."""
    src = F.write_brats(tmp_path / "brats", n=1)
    r = cli("ingest", "--layout", "brats", src, "--name", "b", "--size", 24, "--min-foreground", 0)
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "b")
    _, seg = F.brain_phantom(0)
    mapped = np.select([seg == 4, seg == 1, seg == 2], [3, 1, 2], 0)
    for j, k in enumerate(ds.index["slice_index"]):
        disp = mapped[:, :, k].T[::-1, ::-1]  # (Y, X) display, rows padded 2 + 2
        np.testing.assert_array_equal(ds.labels[j, 2:22, :], disp)


def test_brats_2023_names_and_modality_selection(tmp_path, workspace, cli):
    src = F.write_brats(tmp_path / "gli", naming="2023")
    r = cli("ingest", "--layout", "brats", src, "--name", "g", "--size", SIZE, "--modalities", "t2f", "t1c")
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "g")
    common_checks(ds, 2)
    assert ds.modalities == ("flair", "t1ce") and ds.spec.structure_modality == 0
    assert set(np.unique(ds.labels).tolist()) == {0, 1, 2, 3}
    assert ds.index["source_path"].str.endswith("-t2f.nii.gz").all()


def test_lits(tmp_path, workspace, cli):
    src = F.write_lits(tmp_path / "lits")
    r = cli("ingest", "--layout", "lits", src, "--name", "l", "--size", SIZE)
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "l")
    common_checks(ds, 1)
    assert ds.spec.kind == "ct" and ds.modalities == ("ct",)
    assert ds.label_names == {0: "background", 1: "tumour"}
    assert ds.spec.params["normalisation"] == {"mode": "window", "low_high": [-100.0, 200.0], "percentiles": None}
    want = sum(expected_kept(F.ct_phantom(i)[1] >= 1) for i in range(3))
    assert len(ds) == want
    assert ds.has_lesions
    assert set(ds.index["source_path"]) == {f"volume-{i}.nii.gz" for i in range(3)}


def test_lits_window_known_values(tmp_path, workspace, cli):
    """At the raw grid size: liver (100 HU) -> 2/3, tumour (40 HU) -> 0.47, air -> 0; a custom
    window changes the mapping."""
    src = F.write_lits(tmp_path / "lits", n=1)
    hu, seg = F.ct_phantom(0)
    for name, window, lo, hi in (("w1", None, -100, 200), ("w2", "-160,240", -160, 240)):
        args = ["ingest", "--layout", "lits", src, "--name", name, "--size", 24]
        if window:
            args += [f"--window={window}"]  # '=' because the value starts with '-'

        assert cli(*args).rc == 0
        ds = Dataset(workspace / "datasets" / name)
        k = int(ds.index["slice_index"].iloc[0])
        disp = np.clip((hu[:, :, k].T[::-1, ::-1] - lo) / (hi - lo), 0, 1)
        np.testing.assert_allclose(ds.images[0, 0, 2:22, :], disp, atol=1e-6)
        assert ds.images[0, 0, 0, 0] == 0.0  # padding is background


def test_msd_nnunet_v2(tmp_path, workspace, cli):
    src = F.write_msd(tmp_path / "Dataset003_Liver")
    r = cli("ingest", "--layout", "msd", src, "--name", "m", "--size", SIZE)
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "m")
    common_checks(ds, 1)
    assert ds.spec.kind == "ct" and ds.modalities == ("CT",)
    assert ds.label_names == {0: "background", 1: "liver tumour"}  # liver -> organ, tumour renumbered 2 -> 1
    assert ds.spec.params["layout"]["organ_labels"] == ["liver"]
    assert ds.spec.params["normalisation"]["low_high"] == [-100.0, 200.0]  # liver task -> liver window
    assert len(ds) == sum(expected_kept(F.ct_phantom(i)[1] >= 1) for i in range(3))
    assert ds.index["source_path"].str.startswith("imagesTr/").all()


def test_msd_decathlon_json_and_file_ending(tmp_path, workspace, cli):
    src = F.write_msd(tmp_path / "Task03_Liver", style="msd", ending=".nii.gz")
    assert cli("ingest", "--layout", "msd", src, "--name", "m1", "--size", SIZE).rc == 0
    assert Dataset(workspace / "datasets" / "m1").label_names == {0: "background", 1: "cancer"}
    src = F.write_msd(tmp_path / "Dataset004", ending=".nii")
    r = cli("ingest", "--layout", "msd", src, "--name", "m2", "--size", SIZE)
    assert r.rc == 0, r.err
    assert Dataset(workspace / "datasets" / "m2").index["source_path"].str.endswith("_0000.nii").all()


def test_msd_mr_two_channels_and_organ_labels(tmp_path, workspace, cli):
    src = F.write_msd(tmp_path / "Dataset005_Prostate", style="mr2")
    r = cli("ingest", "--layout", "msd", src, "--name", "p", "--size", SIZE, "--organ-labels", "peripheral zone")
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "p")
    common_checks(ds, 2)
    assert ds.spec.kind == "mri" and ds.modalities == ("T2", "ADC")
    assert ds.label_names == {0: "background", 1: "transition zone"}
    assert ds.spec.params["normalisation"]["mode"] == "percentile"


def test_msd_original_4d_images(tmp_path, workspace, cli):
    src = F.write_msd_4d(tmp_path / "Task01_BrainTumour")
    r = cli("ingest", "--layout", "msd", src, "--name", "t", "--size", SIZE, "--modalities", "T1w")
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "t")
    common_checks(ds, 1)
    assert ds.modalities == ("T1w",) and ds.label_names == {0: "background", 1: "edema", 2: "enhancing tumour"}
    assert set(np.unique(ds.labels).tolist()) == {0, 1, 2}


@pytest.mark.parametrize("sibling", [False, True])
def test_nifti_folder(tmp_path, workspace, cli, sibling):
    src = F.write_nifti_folder(tmp_path / "vols", sibling=sibling)
    r = cli("ingest", "--layout", "nifti", src, "--name", "n", "--size", SIZE)
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "n")
    common_checks(ds, 1)
    assert ds.spec.kind == "mri" and ds.modalities == ("mr",)
    assert sorted(ds.index["case_id"].unique()) == ["scan0", "scan1", "scan2"]
    assert ds.has_lesions


def test_nifti_kind_ct_uses_a_window(tmp_path, workspace, cli):
    src = tmp_path / "ct"
    for i in range(3):
        F.save(src / f"ct{i}.nii.gz", F.ct_phantom(i)[0])
    r = cli("ingest", "--layout", "nifti", src, "--name", "c", "--size", SIZE, "--kind", "ct", "--window", "lung")
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "c")
    assert ds.spec.kind == "ct" and ds.spec.params["normalisation"]["low_high"] == [-1000.0, 400.0]
    assert ds.label_names == {0: "background", 1: "lesion"} and not ds.has_lesions


@pytest.mark.parametrize("rgb", [False, True])
def test_png(tmp_path, workspace, cli, rgb):
    src = F.write_png(tmp_path / "png", rgb=rgb)
    r = cli("ingest", "--layout", "png", src, "--name", "p", "--size", SIZE)
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "p")
    common_checks(ds, 1)
    assert len(ds) == 3 and (ds.index["slice_index"] == 0).all()
    assert ds.spec.kind == "other" and ds.modalities == ("image",)
    assert set(np.unique(ds.labels).tolist()) == {0, 1}  # {0,255} -> binary
    # 8-bit grey 220 in the lesion -> 220/255 near the lesion centre (row 15 of 30 -> padded +5 -> 20 of 40)
    lesion_px = ds.images[0, 0][ds.labels[0] == 1]
    assert abs(float(np.median(lesion_px)) - 220 / 255) < 0.02
    np.testing.assert_allclose([ds.index.spacing_row[0], ds.index.spacing_col[0]], [40 / SIZE] * 2)


def test_png_without_masks_uses_algorithm2_and_named_classes(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png", masks=False, label_values=(0, 2))
    r = cli("ingest", "--layout", "png", src, "--name", "p", "--size", SIZE, "--kind", "xray", "--label-names", "2=nodule")
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "p")
    assert ds.label_names == {0: "background", 2: "nodule"} and ds.spec.kind == "xray"
    assert set(np.unique(ds.labels).tolist()) == {0, 2}


def test_slice_range_and_min_foreground(tmp_path, workspace, cli):
    src = F.write_brats(tmp_path / "brats", n=1)
    assert cli("ingest", "--layout", "brats", src, "--name", "a", "--size", 16, "--min-foreground", 0).rc == 0
    assert list(Dataset(workspace / "datasets" / "a").index["slice_index"]) == list(range(10))
    assert cli("ingest", "--layout", "brats", src, "--name", "r", "--size", 16, "--slice-range", 3, 6).rc == 0
    assert list(Dataset(workspace / "datasets" / "r").index["slice_index"]) == [3, 4, 5]


def test_dataset_json_records_parameters(tmp_path, workspace, cli):
    src = F.write_lits(tmp_path / "lits")
    r = cli("ingest", "--layout", "lits", src, "--name", "l", "--size", SIZE, "--seed", 3, "--structure", "alpha=0.02", "--keep-lesion-contours")
    assert r.rc == 0, r.err
    info = json.loads((workspace / "datasets" / "l" / "dataset.json").read_text())
    spec = info["spec"]
    assert spec["seed"] == 3 and spec["structure"]["alpha"] == 0.02 and spec["erase_lesion_contours"] is False
    assert spec["params"]["options"]["size"] == SIZE and spec["params"]["layout"]["n_cases"] == 3
    assert str(tmp_path) not in json.dumps(info)  # no absolute source paths
    assert leftovers(workspace) == ["l"]


@pytest.mark.parametrize("flip_xy", [False, True])
def test_marker_voxel_lands_where_expected(tmp_path, workspace, cli, flip_xy):
    """A voxel at the patient's right-anterior (RAS+ voxel x=20, y=17, z=6) ends up in the
    top-left of slice 6 whatever the storage orientation: row 2 (+2 rows of padding), column 3."""
    v = np.zeros(F.SHAPE, np.float32)
    v[20, 17, 6] = 500.0
    stored = v[::-1, ::-1, :].copy() if flip_xy else v
    F.save(tmp_path / "m" / "marker.nii.gz", stored, F.affine(flip_xy=flip_xy))
    r = cli("ingest", "--layout", "nifti", tmp_path / "m", "--name", "m", "--size", 24, "--min-foreground", 0)
    assert r.rc == 0, r.err
    ds = Dataset(workspace / "datasets" / "m")
    j = int(np.flatnonzero(ds.index["slice_index"] == 6)[0])
    assert np.argwhere(ds.images[:, 0] == ds.images.max()).tolist() == [[j, 4, 3]]
