"""Bad input -> exit code 2, exactly one line on stderr naming the file, nothing left behind."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.ingest import fixtures as F
from tests.ingest.conftest import leftovers


def assert_refused(r, workspace: Path, named: str | Path, message: str | None = None) -> None:
    assert r.rc == 2, (r.rc, r.err)
    assert len(r.err_lines) == 1, r.err
    line = r.err_lines[0]
    assert line.startswith("error: ") and str(named) in line, line
    if message:
        assert message in line, line
    assert leftovers(workspace) == []  # no dataset, no .tmp-* folder


LAST = "BraTS_002"  # the last case: the error comes after two cases were written


@pytest.mark.parametrize(
    "file, how, message",
    [
        ("flair", "text", "not a readable NIfTI file"),
        ("t2", "truncate", "truncated"),
        ("t1", "nan", "NaN or infinite"),
        ("seg", "4d", "4-D image"),
        ("seg", "shape", "does not match"),
        ("seg", "labels", "label values [7] outside the BraTS convention"),
        ("t1ce", "big", "larger than the 4096 px limit"),
    ],
)
def test_brats_broken_file_in_the_last_case(tmp_path, workspace, cli, file, how, message):
    src = F.write_brats(tmp_path / "brats")
    bad = src / LAST / f"{LAST}_{file}.nii.gz"
    if how == "big":  # an uncompressed header that claims 5000 x 5000 px
        bad.unlink()
        bad = F.write_big_header(src / LAST / f"{LAST}_{file}.nii")
    else:
        F.break_file(bad, how)
    r = cli("ingest", "--layout", "brats", src, "--name", "b", "--size", 16)
    assert_refused(r, workspace, bad, message)


def test_brats_missing_modality(tmp_path, workspace, cli):
    src = F.write_brats(tmp_path / "brats")
    (src / LAST / f"{LAST}_t2.nii.gz").unlink()
    assert_refused(cli("ingest", "--layout", "brats", src, "--name", "b", "--size", 16), workspace, src / LAST, "no t2 file")


def test_lits_label_outside_convention(tmp_path, workspace, cli):
    src = F.write_lits(tmp_path / "lits")
    bad = F.break_file(src / "segmentation-2.nii", "labels")
    r = cli("ingest", "--layout", "lits", src, "--name", "l", "--size", 16)
    assert_refused(r, workspace, bad, "label values [7] outside the LiTS convention")


def test_lits_image_label_shape_mismatch(tmp_path, workspace, cli):
    src = F.write_lits(tmp_path / "lits")
    bad = F.break_file(src / "segmentation-1.nii", "shape")
    assert_refused(cli("ingest", "--layout", "lits", src, "--name", "l", "--size", 16), workspace, bad, "does not match volume-1.nii.gz")


def test_nifti_four_d_volume(tmp_path, workspace, cli):
    src = F.write_nifti_folder(tmp_path / "n")
    bad = F.break_file(src / "scan0.nii.gz", "4d")
    assert_refused(cli("ingest", "--layout", "nifti", src, "--name", "n", "--size", 16), workspace, bad, "4-D image of shape (24, 20, 10, 2)")


def test_nifti_non_binary_label_without_names(tmp_path, workspace, cli):
    src = F.write_nifti_folder(tmp_path / "n")
    bad = F.break_file(src / "labels" / "scan1.nii.gz", "labels")
    assert_refused(cli("ingest", "--layout", "nifti", src, "--name", "n", "--size", 16), workspace, bad, "--label-names")


def test_msd_label_value_not_in_dataset_json(tmp_path, workspace, cli):
    src = F.write_msd(tmp_path / "msd")
    bad = F.break_file(src / "labelsTr" / "liver_002.nii.gz", "labels")
    assert_refused(cli("ingest", "--layout", "msd", src, "--name", "m", "--size", 16), workspace, bad, "not in dataset.json labels")


@pytest.mark.parametrize("how", ["missing", "broken"])
def test_msd_dataset_json(tmp_path, workspace, cli, how):
    src = F.write_msd(tmp_path / "msd")
    if how == "missing":
        (src / "dataset.json").unlink()
    else:
        (src / "dataset.json").write_text("{not json")
    assert_refused(cli("ingest", "--layout", "msd", src, "--name", "m", "--size", 16), workspace, src / "dataset.json")


def test_msd_missing_label(tmp_path, workspace, cli):
    src = F.write_msd(tmp_path / "msd")
    (src / "labelsTr" / "liver_001.nii.gz").unlink()
    r = cli("ingest", "--layout", "msd", src, "--name", "m", "--size", 16)
    assert_refused(r, workspace, src / "labelsTr" / "liver_001.nii.gz", "needs a label")


def test_png_truncated(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png")
    bad = src / "images" / "img2.png"
    bad.write_bytes(bad.read_bytes()[:60])
    assert_refused(cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16), workspace, bad)


def test_png_label_size_mismatch(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png")
    bad = src / "labels" / "img1.png"
    Image.fromarray(np.zeros((10, 10), np.uint8)).save(bad)
    assert_refused(cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16), workspace, bad, "does not match the image")


def test_png_image_too_large(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png")
    r = cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16, "--max-pixels", 35)
    assert_refused(r, workspace, src / "images" / "img0.png", "larger than the 35 px limit")


@pytest.mark.parametrize("layout", ["brats", "lits", "msd", "nifti", "png"])
def test_empty_and_missing_folder(tmp_path, workspace, cli, layout):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert_refused(cli("ingest", "--layout", layout, empty, "--name", "x"), workspace, empty, "empty")
    missing = tmp_path / "missing"
    assert_refused(cli("ingest", "--layout", layout, missing, "--name", "x"), workspace, missing, "no such folder")


@pytest.mark.parametrize("layout", ["brats", "lits", "nifti"])
def test_no_cases_found(tmp_path, workspace, cli, layout):
    src = tmp_path / "src"
    src.mkdir()
    (src / "README.txt").write_text("nothing here")
    assert_refused(cli("ingest", "--layout", layout, src, "--name", "x"), workspace, src)


def test_text_file_named_nii_gz_in_nifti_folder(tmp_path, workspace, cli):
    src = tmp_path / "n"
    src.mkdir()
    (src / "a.nii.gz").write_text("hello")
    assert_refused(cli("ingest", "--layout", "nifti", src, "--name", "x"), workspace, src / "a.nii.gz", "not a readable NIfTI")


def test_unknown_layout_is_one_line(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png", n=1)
    r = cli("ingest", "--layout", "analyze", src, "--name", "x")
    assert_refused(r, workspace, "analyze", "unknown layout")


def test_no_slice_kept(tmp_path, workspace, cli):
    src = F.write_lits(tmp_path / "lits", n=1)
    r = cli("ingest", "--layout", "lits", src, "--name", "l", "--slice-range", 50, 60)
    assert_refused(r, workspace, src, "no slice")
