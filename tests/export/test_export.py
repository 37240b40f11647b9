"""export(): layouts, case names, the synthetic selection, the manifest."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest

from synth_core.dataset import Dataset
from synth_core.export import check_export, export
from synth_core.export.encode import read_array
from synth_core.export.naming import real_case_name, synthetic_case_name
from synth_core.pseudonym import workspace_secret
from synth_core.ingest.options import IngestOptions
from synth_core.io.nifti import read_nifti
from synth_core.synthesis.setstore import SyntheticSet


def _files(root, folder):
    return sorted(p.name for p in (root / folder).iterdir())


def test_nnunet_layout_round_trips_real_and_synthetic_slices(ws):
    r = export(ws, "tiny", "fake", "nn")
    ds, st = Dataset(ws.datasets / "tiny"), SyntheticSet(ws.synthetic / "fake")
    assert (r.n_real_train, r.n_real_test, r.n_synthetic) == (16, 4, 12)
    info = json.loads((r.path / "dataset.json").read_text())
    assert info["channel_names"] == {"0": "t1", "1": "t2"}
    assert info["labels"] == {"background": 0, "core": 1, "edema": 2}
    assert info["numTraining"] == 28 and info["file_ending"] == ".nii.gz"
    assert info["medsynth"]["dataset"] == {"name": "tiny", "fingerprint": ds.fingerprint,
                                           "content_sha256": ds.content_sha256, "modalities": ["t1", "t2"]}
    assert info["medsynth"]["modalities"] == ["t1", "t2"] and r.modalities == ("t1", "t2") and not r.notes
    assert info["medsynth"]["set"]["dataset_match"] == "unknown"  # the fixture's set records no content
    assert info["medsynth"]["counts"]["synthetic"] == 12 and info["medsynth"]["set"]["name"] == "fake"
    assert len(_files(r.path, "imagesTr")) == 2 * 28 and len(_files(r.path, "labelsTr")) == 28
    assert len(_files(r.path, "imagesTs")) == 2 * 4 and len(_files(r.path, "labelsTs")) == 4

    # a real slice: shape (H, W, 1), float32, the dataset's spacing; the project's reader gives it back
    i = int(ds.split_indices("train")[0])
    row = ds.index.iloc[i]
    case = real_case_name(workspace_secret(ws.root), ds.fingerprint, row.case_id, row.slice_index)
    f = r.path / "imagesTr" / f"{case}_0001.nii.gz"
    arr = read_array(f)
    assert arr.shape == (32, 32, 1) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr[:, :, 0], ds.images[i, 1])
    back = read_nifti(f, IngestOptions())
    np.testing.assert_array_equal(back.data[0], ds.images[i, 1])
    assert back.spacing == pytest.approx((row.spacing_row, row.spacing_col, row.spacing_slice))
    lab = read_array(r.path / "labelsTr" / f"{case}.nii.gz")
    assert lab.dtype == np.uint8 and np.array_equal(lab[:, :, 0], ds.labels[i])
    # a synthetic sample
    syn = synthetic_case_name("fake", 3)
    np.testing.assert_array_equal(read_array(r.path / "imagesTr" / f"{syn}_0000.nii.gz")[:, :, 0], st.images[3, 0])
    np.testing.assert_array_equal(read_array(r.path / "labelsTr" / f"{syn}.nii.gz")[:, :, 0], st.labels[3])
    assert check_export(r.path) == []


def test_msd_and_png_layouts(ws):
    ds = Dataset(ws.datasets / "tiny")
    r = export(ws, "tiny", "fake", "m", fmt="msd", synthetic_ratio=0.25)
    info = json.loads((r.path / "dataset.json").read_text())
    assert info["modality"] == {"0": "t1", "1": "t2"} and info["labels"] == {"0": "background", "1": "core", "2": "edema"}
    assert info["numTraining"] == 16 + 4 == len(info["training"]) and info["numTest"] == 4 == len(info["test"])
    first = info["training"][0]
    vol = read_array(r.path / first["image"])
    assert vol.shape == (32, 32, 1, 2) and vol.dtype == np.float32
    assert read_array(r.path / first["label"]).shape == (32, 32, 1)
    assert check_export(r.path) == []

    r = export(ws, "tiny", None, "p", fmt="png")
    info = json.loads((r.path / "dataset.json").read_text())
    assert info["file_ending"] == ".png" and info["numTraining"] == 16
    i = int(ds.split_indices("test")[0])
    row = ds.index.iloc[i]
    case = real_case_name(workspace_secret(ws.root), ds.fingerprint, row.case_id, row.slice_index)
    img = read_array(r.path / "imagesTs" / f"{case}_0000.png")
    assert img.dtype == np.uint16 and img.shape == (32, 32)
    np.testing.assert_allclose(img / 65535.0, ds.images[i, 0], atol=1 / 65535)
    np.testing.assert_array_equal(read_array(r.path / "labelsTs" / f"{case}.png"), ds.labels[i])
    assert check_export(r.path) == []


def test_no_patient_identifiers_anywhere(ws):
    r = export(ws, "tiny", "fake", "anon", fmt="nnunet")
    ids = [f"case{c}".encode() for c in range(5)]
    for p in r.path.rglob("*"):
        if p.is_file():
            data = p.read_bytes()
            if p.name.endswith(".gz"):
                data = gzip.decompress(data)
            assert not any(i in data or i.decode() in p.name for i in ids), p
    names = _files(r.path, "imagesTr") + _files(r.path, "imagesTs")
    assert all(n.startswith(("real_", "syn_")) for n in names)


def test_synthetic_only_in_training_and_ratio_is_seeded(ws):
    a = export(ws, "tiny", "fake", "a", synthetic_ratio=0.5, seed=1)  # round(0.5 x 16) = 8 of 12
    b = export(ws, "tiny", "fake", "b", synthetic_ratio=0.5, seed=1)
    c = export(ws, "tiny", "fake", "c", synthetic_ratio=0.5, seed=2)
    assert a.n_synthetic == 8 and a.n_not_drawn == 4 and a.n_wanted == 8
    ma, mb, mc = (pd.read_parquet(x.path / "manifest.parquet") for x in (a, b, c))
    syn = ma[ma.source == "synthetic"]
    assert set(syn[syn.path != ""].split) == {"train"}
    assert not any(n.startswith("syn_") for n in _files(a.path, "imagesTs") + _files(a.path, "labelsTs"))
    assert ma.sha256.tolist() == mb.sha256.tolist()  # same seed: same samples, same bytes
    assert set(ma[ma.path != ""].sample_id) != set(mc[mc.path != ""].sample_id)
    assert (ma.decision.str.startswith("not drawn")).sum() == 4


def test_ratio_wanting_more_than_pass_exports_what_passes_and_says_so(ws):
    r = export(ws, "tiny", "fake", "more", synthetic_ratio=2.0, filter="has_lesion == True")
    n_pass = int(SyntheticSet(ws.synthetic / "fake").select("has_lesion == True").shape[0])
    assert r.n_synthetic == n_pass and r.n_wanted == 32
    assert len(r.notes) == 1 and "wants 32" in r.notes[0] and f"exported {n_pass}" in r.notes[0]
    info = json.loads((r.path / "dataset.json").read_text())
    assert info["medsynth"]["notes"] == list(r.notes)


def test_manifest_records_decisions_provenance_and_figures(ws):
    st = SyntheticSet(ws.synthetic / "fake")
    cat = st.catalog
    cut = float(np.sort(cat.nn_dist)[3])  # 3 samples lie below it
    r = export(ws, "tiny", "fake", "man", filter="lesion_area > 0", min_nn_dist=cut)
    m = pd.read_parquet(r.path / "manifest.parquet")
    csv = pd.read_csv(r.path / "manifest.csv", keep_default_na=False, dtype=str)
    assert len(m) == len(csv) and list(m.columns) == list(csv.columns)
    assert m.sha256.tolist() == csv.sha256.tolist() and m.path.tolist() == csv.path.tolist()

    left = m[m.path == ""]
    blocked = left[left.decision.str.startswith("blocked")]
    filtered = left[left.decision == "filtered out"]
    assert len(filtered) == int((cat.lesion_area == 0).sum()) == r.n_filtered_out
    assert len(blocked) == r.n_blocked == int(((cat.lesion_area > 0) & (cat.nn_dist < cut)).sum())
    one = blocked.iloc[0]
    assert one.decision == f"blocked: memorisation (nn_dist {one.nn_dist:.3g} < {cut:g})"
    assert r.n_synthetic + r.n_blocked + r.n_filtered_out == len(st)

    syn = m[(m.source == "synthetic") & (m.path != "")]
    assert set(syn.decision) == {"exported"} and (syn.nn_dist >= cut).all()
    row = syn[syn.kind == "label"].iloc[0]
    prov = json.loads(row.provenance)
    k = int(prov["index"])
    assert prov["set"] == "fake" and prov["runs"] == st.meta["runs"] and prov["noise_seed"] == int(cat.noise_seed[k])
    assert row.sample_id == cat.sample_id[k] and row.dice_t1 == pytest.approx(cat.dice_t1[k])
    real = m[m.source == "real"]
    assert real.nn_dist.isna().all() and (real.provenance == "").all() and (real.sample_id == "").all()
    assert set(real.split) == {"train", "test"} and set(real.dataset_split) == {"train", "val", "test"}
    assert set(m[m.kind == "image"].channel) == {"t1", "t2"}


def test_real_only_export(ws):
    r = export(ws, "tiny", None, "real", fmt="nnunet")
    m = pd.read_parquet(r.path / "manifest.parquet")
    assert r.n_synthetic == 0 and set(m.source) == {"real"} and "nn_dist" not in m.columns
    assert json.loads((r.path / "dataset.json").read_text())["medsynth"]["set"] is None


def test_progress_reports_every_case(ws):
    seen = []
    export(ws, "tiny", "fake", "prog", progress=lambda d, t: seen.append((d, t)))
    assert seen == [(i, 32) for i in range(1, 33)]


def test_fast_nifti_bytes_equal_nibabel_output():
    import nibabel as nib

    from synth_core.export.encode import display_affine, nifti_bytes

    rng = np.random.default_rng(0)
    for arr in (rng.random((5, 7, 1), dtype=np.float32), rng.integers(0, 3, (5, 7, 1)).astype(np.uint8),
                rng.random((5, 7, 1, 3), dtype=np.float32)):
        img = nib.Nifti1Image(arr, display_affine((0.5, 0.7, 3.0)))
        img.header.set_data_dtype(arr.dtype)
        img.header.set_xyzt_units("mm")
        img.set_qform(img.affine, code=1)
        img.set_sform(img.affine, code=1)
        assert gzip.decompress(nifti_bytes(arr, (0.5, 0.7, 3.0))) == img.to_bytes()
