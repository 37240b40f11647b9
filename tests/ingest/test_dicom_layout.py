"""The ``dicom`` ingest layout: describe / iter_cases, option checks, and the CLI end to end."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import generate_uid

from synth_core.errors import ConfigError, InputError
from synth_core.ingest.layouts import dicom as layout
from synth_core.ingest.layouts import get_layout
from synth_core.ingest.options import IngestOptions
from tests.ingest import dicom_fixtures as F


def test_is_registered() -> None:
    assert get_layout("dicom") is layout


def test_describe_ct_folder(tmp_path: Path) -> None:
    F.ct_series(tmp_path / "a")
    F.ct_series(tmp_path / "b")
    info = layout.describe(tmp_path, IngestOptions())
    assert info.kind == "ct" and info.modalities == ("ct",)
    assert info.label_names == {0: "background"}
    assert info.structure_modality == 0 and info.erase_lesion_contours is False
    assert info.params["n_cases"] == 2 and info.params["n_slices"] == 8


def test_describe_kinds_and_options(tmp_path: Path) -> None:
    F.mr_series_without_positions(tmp_path / "mr")
    info = layout.describe(tmp_path / "mr", IngestOptions())
    assert (info.kind, info.modalities) == ("mri", ("mr",))
    assert layout.describe(tmp_path / "mr", IngestOptions(kind="other")).kind == "other"
    assert layout.describe(tmp_path / "mr", IngestOptions(modalities=("MR",))).modalities == ("mr",)
    with pytest.raises(ConfigError):
        layout.describe(tmp_path / "mr", IngestOptions(modalities=("t1",)))
    with pytest.raises(ConfigError, match="no lesion labels"):
        layout.describe(tmp_path / "mr", IngestOptions(label_names={1: "tumour"}))
    F.dx_monochrome1(tmp_path / "dx" / "img.dcm")
    info = layout.describe(tmp_path / "dx", IngestOptions())
    assert (info.kind, info.modalities) == ("xray", ("dx",))


def test_iter_cases_yields_raw_case_volumes(tmp_path: Path) -> None:
    info = F.ct_series(tmp_path / "study" / "ct")
    F.dx_monochrome1(tmp_path / "other" / "x.dcm")  # a second kind: only checked when both are ingested
    [case] = list(layout.iter_cases(tmp_path / "study", IngestOptions()))
    assert case.images.shape == (1, 4, 6, 5) and case.images.dtype == np.float32
    assert case.images[0, :, 0, 0].tolist() == info["hu"]
    assert case.label is None and case.organ is None
    assert case.spacing == pytest.approx((0.7, 0.8, 2.5))
    assert case.source_path == "ct/d.dcm"
    assert case.case_id.startswith("ct-s1-") and "doe" not in case.case_id.lower()


def test_one_kind_of_scan_per_dataset(tmp_path: Path) -> None:
    F.ct_series(tmp_path / "a_ct")
    F.mr_series_without_positions(tmp_path / "b_mr")
    with pytest.raises(InputError) as err:
        layout.describe(tmp_path, IngestOptions())
    assert str(err.value).startswith("b_mr/x2: series of modality MR (mri) in a dataset of CT (ct")


def test_size_limits_are_checked_from_headers(tmp_path: Path) -> None:
    F.ct_series(tmp_path)
    with pytest.raises(InputError, match="larger than the 5 px limit"):
        layout.describe(tmp_path, IngestOptions(max_pixels=5))
    with pytest.raises(InputError, match="more than the 3 slice limit"):
        next(layout.iter_cases(tmp_path, IngestOptions(max_slices=3)))


def test_frames_count_against_the_slice_limit(tmp_path: Path) -> None:
    frames = np.zeros((5, 2, 2), np.uint16)
    F.write(F.image(frames, series_uid=generate_uid(), instance=1), tmp_path / "mf.dcm")
    with pytest.raises(InputError) as err:
        layout.describe(tmp_path, IngestOptions(max_slices=4))
    assert str(err.value) == "mf.dcm: volume of 5 slices is more than the 4 slice limit (max_slices)"


def test_empty_and_dicom_free_folders(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError) as err:
        layout.describe(tmp_path / "empty", IngestOptions())
    assert str(err.value).startswith(str(tmp_path / "empty"))
    (tmp_path / "txt").mkdir()
    (tmp_path / "txt" / "a.txt").write_text("no scans here")
    with pytest.raises(InputError) as err:
        list(layout.iter_cases(tmp_path / "txt", IngestOptions()))
    assert str(err.value) == f"{tmp_path / 'txt'}: no DICOM image files found (looked at 1 files)"


def test_cli_ingest_end_to_end_without_patient_identifiers(tmp_path: Path, workspace: Path, capsys) -> None:
    pytest.importorskip("synth_core.ingest.pipeline")
    from synth_core.cli import main
    from synth_core.dataset import Dataset

    src = tmp_path / "export"
    F.ct_series(src / "series1", series_number=1)
    F.ct_series(src / "series2", series_number=2)
    rc = main(["ingest", "--layout", "dicom", str(src), "--name", "d", "--size", "32", "--min-foreground", "0"])
    assert rc == 0, capsys.readouterr().err
    ds = Dataset(workspace / "datasets" / "d")
    images = np.load(workspace / "datasets" / "d" / "images.npy", mmap_mode="r")
    assert images.shape[1:] == (1, 32, 32) and 1 <= images.shape[0] <= 8
    summary = ds.summary()
    assert summary["cases"] == 2 and summary["modalities"] == ["ct"] and summary["kind"] == "ct"
    secrets = [s.encode() for s in (F.PATIENT_NAME, F.PATIENT_ID, "Doe^", "4711")]
    for path in (workspace / "datasets" / "d").rglob("*"):
        if path.is_file():
            data = F.without_hashes(path.read_bytes())
            for secret in secrets:
                assert secret not in data, f"{secret!r} found in {path.name}"


def test_cli_reports_bad_dicom_in_one_line(tmp_path: Path, workspace: Path, capsys) -> None:
    from synth_core.cli import main

    F.ct_series(tmp_path)
    (tmp_path / "broken.dcm").write_bytes(b"\0" * 128 + b"DICM" + b"\x02\x00")
    rc = main(["ingest", "--layout", "dicom", str(tmp_path), "--name", "bad", "--size", "32"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and err.startswith("error: broken.dcm: ")
    assert not (workspace / "datasets" / "bad").exists()
