"""check_export(): a clean export passes; tampering, missing files, bad labels, leaks are caught."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from synth_core.export import check_export, export
from synth_core.export.encode import nifti_bytes, png_bytes, read_array


@pytest.fixture
def nn(ws):
    return export(ws, "tiny", "fake", "nn", synthetic_ratio=0.25).path


def _first(root, folder, prefix=""):
    return sorted(p for p in (root / folder).iterdir() if p.name.startswith(prefix))[0]


def test_tampered_file_is_caught(nn):
    f = _first(nn, "imagesTr", "syn_")
    arr = read_array(f)
    arr[0, 0, 0] += 0.5
    f.write_bytes(nifti_bytes(arr, (1.0, 1.0, 1.0)))
    problems = check_export(nn)
    assert problems == [f"imagesTr/{f.name}: checksum differs from the manifest (the file changed after export)"]


def test_missing_file_is_caught(nn):
    f = _first(nn, "labelsTr")
    f.unlink()
    problems = check_export(nn)
    assert len(problems) == 1 and problems[0].startswith(f"labelsTr/{f.name}: missing")


def test_wrong_label_value_is_caught_in_nifti_and_png(ws, nn):
    f = _first(nn, "labelsTs")
    lab = read_array(f)
    lab[0, 0, 0] = 7
    f.write_bytes(nifti_bytes(lab, (1.0, 1.0, 1.0)))
    problems = check_export(nn)
    assert f"labelsTs/{f.name}: label values [7] not among dataset.json labels [0, 1, 2]" in problems

    png = export(ws, "tiny", None, "png", fmt="png").path
    f = _first(png, "labelsTr")
    lab = read_array(f).copy()
    lab[1, 1] = 9
    f.write_bytes(png_bytes(lab))
    assert any(p.startswith(f"labelsTr/{f.name}: label values [9]") for p in check_export(png))


def test_shape_count_and_test_leak_problems(nn):
    info = json.loads((nn / "dataset.json").read_text())
    info["numTraining"] += 1
    (nn / "dataset.json").write_text(json.dumps(info))
    f = _first(nn, "imagesTr", "real_")
    f.write_bytes(nifti_bytes(np.zeros((16, 16, 1), np.float32), (1.0, 1.0, 1.0)))
    syn = _first(nn, "imagesTr", "syn_")
    shutil.copy(syn, nn / "imagesTs" / syn.name)
    problems = check_export(nn)
    text = "\n".join(problems)
    assert "numTraining is" in text
    assert "files disagree on the shape" in text
    assert f"imagesTs/{syn.name}: not in the manifest" in problems
    assert any("synthetic case in the test split" in p for p in problems)


def test_msd_missing_and_unlisted(ws):
    root = export(ws, "tiny", None, "msd", fmt="msd").path
    assert check_export(root) == []
    f = _first(root, "imagesTr")
    f.rename(root / "imagesTr" / ("x" + f.name))
    problems = check_export(root)
    assert f"imagesTr/{f.name}: missing (listed in dataset.json training)" in problems
    assert f"imagesTr/x{f.name}: not listed in dataset.json training" in problems
