"""synth_core.io.dicom: finding, grouping, ordering and decoding DICOM series (tiny pydicom fixtures
plus the real files shipped with pydicom / pydicom-data)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import FileMetaDataset
from pydicom.uid import generate_uid

from synth_core.errors import InputError
from synth_core.io.dicom import decoder_problem, find_series, kind_of, read_series, transfer_syntax_text
from tests.ingest import dicom_fixtures as F

JPEG_LS = "1.2.840.10008.1.2.4.80"
MPEG2 = "1.2.840.10008.1.2.4.100"  # pydicom has no decoder for video syntaxes


def one_line(err: pytest.ExceptionInfo) -> str:
    msg = str(err.value)
    assert "\n" not in msg and "Traceback" not in msg
    return msg


# -- ordering, rescale, spacing -------------------------------------------------------------------


def test_ct_series_is_ordered_by_position_and_in_hu(tmp_path: Path) -> None:
    info = F.ct_series(tmp_path)
    [series] = find_series(tmp_path)
    assert series.modality == "CT" and series.kind == "ct" and series.n_slices == 4
    vol = read_series(series)
    assert vol.shape == (4, 6, 5) and vol.dtype == np.float32
    assert vol[:, 0, 0].tolist() == info["hu"]  # z order, not file order nor InstanceNumber order
    assert np.all(vol[:, 1:, :] == info["background_hu"])  # 600 * 2 - 1024 = 176 HU
    assert series.spacing == pytest.approx((0.7, 0.8, 2.5))  # PixelSpacing (row, col); gap from positions
    assert series.first_path == "d.dcm"  # the file of the first slice


def test_slices_ordered_along_the_normal_of_a_sagittal_stack(tmp_path: Path) -> None:
    uid = generate_uid()
    sagittal = (0.0, 1.0, 0.0, 0.0, 0.0, -1.0)  # normal = row x col = (-1, 0, 0)
    for k, x in enumerate([10.0, 30.0, 20.0]):
        px = np.full((3, 3), k, np.uint16)
        F.write(F.image(px, series_uid=uid, instance=k + 1, position=(x, 0, 0), orientation=sagittal), tmp_path / f"s{k}")
    [series] = find_series(tmp_path)
    vol = read_series(series)
    assert vol[:, 0, 0].tolist() == [1, 2, 0]  # x = 30, 20, 10: ascending along (-1, 0, 0)
    assert series.spacing[2] == pytest.approx(10.0)


def test_mr_without_positions_falls_back_to_instance_number(tmp_path: Path) -> None:
    F.mr_series_without_positions(tmp_path)
    [series] = find_series(tmp_path)
    assert series.kind == "mri" and series.case_id.startswith("mr-s7-")
    vol = read_series(series)
    assert vol[:, 0, 0].tolist() == [100, 200, 300]
    assert series.spacing == pytest.approx((1.5, 1.5, 4.0))  # SpacingBetweenSlices before SliceThickness


def test_enhanced_multiframe_uses_per_frame_position_and_rescale(tmp_path: Path) -> None:
    frames = np.stack([np.full((4, 4), v, np.uint16) for v in (30, 20, 10)])
    ds = F.enhanced_ct(frames, series_uid=generate_uid(), z=[9.0, 6.0, 3.0], intercepts=[-1000, -900, -800])
    F.write(ds, tmp_path / "enhanced.dcm")
    [series] = find_series(tmp_path)
    assert [s.frame for s in series.slices] == [2, 1, 0]
    vol = read_series(series)
    assert vol[:, 0, 0].tolist() == [10 - 800, 20 - 900, 30 - 1000]
    assert series.spacing == pytest.approx((0.5, 0.6, 3.0))  # shared PixelMeasuresSequence


def test_multiframe_without_functional_groups_keeps_stored_order(tmp_path: Path) -> None:
    frames = np.stack([np.full((2, 3), v, np.uint16) for v in (5, 6, 7, 8)])
    F.write(F.image(frames, modality="MR", series_uid=generate_uid(), instance=1, position=(0, 0, 0), thickness=2.0), tmp_path / "mf")
    [series] = find_series(tmp_path)
    vol = read_series(series)
    assert vol.shape == (4, 2, 3) and vol[:, 0, 0].tolist() == [5, 6, 7, 8]
    assert series.spacing[2] == 2.0


def test_monochrome1_dx_is_a_2d_case_and_inverted(tmp_path: Path) -> None:
    px = F.dx_monochrome1(tmp_path / "chest.dcm")
    [series] = find_series(tmp_path)
    assert series.kind == "xray" and series.n_slices == 1
    vol = read_series(series)
    assert vol.shape == (1, 2, 3)
    np.testing.assert_array_equal(vol[0], px.max() + px.min() - px.astype(np.float32))  # high stored = dark
    assert series.spacing == pytest.approx((0.15, 0.15, 1.0))  # ImagerPixelSpacing


def test_zero_pixel_spacing_falls_back_to_imager_pixel_spacing(tmp_path: Path) -> None:
    ds = F.image(np.zeros((2, 2), np.uint16), modality="CR", series_uid=generate_uid(), pixel_spacing=(0.0, 0.0))
    ds.ImagerPixelSpacing = [0.2, 0.25]
    F.write(ds, tmp_path / "cr")
    assert find_series(tmp_path)[0].spacing == pytest.approx((0.2, 0.25, 1.0))


def test_slices_sharing_a_position_are_kept_with_a_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    uid = generate_uid()
    for k, z in enumerate([0.0, 3.0, 3.0, 6.0]):
        F.write(F.image(np.full((2, 2), k, np.uint16), series_uid=uid, instance=k + 1, position=(0, 0, z)), tmp_path / f"e{k}")
    with caplog.at_level(logging.WARNING, logger="synth_core.io.dicom"):
        [series] = find_series(tmp_path)
    assert series.n_slices == 4 and series.spacing[2] == pytest.approx(3.0)
    assert "share a position" in caplog.text


def test_monochrome1_ct_stays_in_hu(tmp_path: Path) -> None:
    px = np.array([[0, 1024, 2048]], np.uint16)
    F.write(F.image(px, series_uid=generate_uid(), instance=1, position=(0, 0, 0), photometric="MONOCHROME1",
                    slope=1.0, intercept=-1024.0), tmp_path / "ct")
    vol = read_series(find_series(tmp_path)[0])
    assert vol[0, 0].tolist() == [-1024, 0, 1024]


def test_two_series_in_one_folder_are_two_cases_without_identifiers(tmp_path: Path) -> None:
    F.ct_series(tmp_path / "one", series_number=3)
    F.ct_series(tmp_path / "two", series_number=4)
    series = find_series(tmp_path)
    assert len(series) == 2
    ids = [s.case_id for s in series]
    assert len(set(ids)) == 2 and ids[0].startswith("ct-s3-") and ids[1].startswith("ct-s4-")
    assert [s.first_path.split("/")[0] for s in series] == ["one", "two"]
    for s in series:
        for ident in (F.PATIENT_NAME, F.PATIENT_ID, "Doe", "4711", s.uid):
            assert ident.lower() not in F.without_hashes(s.case_id).lower()


def test_non_dicom_and_non_image_files_are_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    F.ct_series(tmp_path / "ct")
    (tmp_path / "README.txt").write_text("exported by PACS\n")
    (tmp_path / "ct" / "thumbs.db").write_bytes(b"\x00\x01binary")
    (tmp_path / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    (tmp_path / "ct" / "._a.DCM").write_bytes(b"\x00\x05\x16\x07")  # macOS resource fork
    (tmp_path / "DICOMDIR").write_bytes(b"\0" * 128 + b"DICM")
    F.write(F.non_image("SR", generate_uid()), tmp_path / "report.dcm")
    F.write(F.image(np.ones((4, 4), np.uint8).astype(np.uint16), modality="SEG", series_uid=generate_uid()), tmp_path / "seg.dcm")
    F.write(F.image(np.ones((4, 4), np.uint16), series_uid=generate_uid(), image_type=("ORIGINAL", "PRIMARY", "LOCALIZER")), tmp_path / "scout.dcm")
    with caplog.at_level(logging.INFO, logger="synth_core.io.dicom"):
        series = find_series(tmp_path)
    assert [s.n_slices for s in series] == [4]
    assert "SEG" in caplog.text and "localizer" in caplog.text


def test_file_without_preamble_is_read(tmp_path: Path) -> None:
    path = F.write(F.image(np.full((2, 2), 7, np.uint16), series_uid=generate_uid(), instance=1), tmp_path / "raw")
    ds = pydicom.dcmread(path)
    ds.preamble, ds.file_meta = None, FileMetaDataset()
    ds.save_as(path, enforce_file_format=False, implicit_vr=True, little_endian=True)  # a bare dataset
    assert path.read_bytes()[128:132] != b"DICM"
    vol = read_series(find_series(tmp_path)[0])
    assert vol[0, 0, 0] == 7


def test_kind_of_modalities() -> None:
    assert [kind_of(m) for m in ("CT", "MR", "CR", "DX", "DR", "MG", "XA", "US", "pt")] == [
        "ct", "mri", "xray", "xray", "xray", "xray", "xray", "other", "other"
    ]


# -- bad input: one-line InputError naming the file -----------------------------------------------


def test_no_dicom_in_folder(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(InputError) as err:
        find_series(tmp_path)
    assert one_line(err).startswith(f"{tmp_path}: no DICOM image files found")


def test_text_file_named_dcm(tmp_path: Path) -> None:
    F.ct_series(tmp_path)
    (tmp_path / "notes.dcm").write_text("this is not a DICOM file at all, but long enough " * 5)
    with pytest.raises(InputError) as err:
        find_series(tmp_path)
    assert one_line(err).startswith("notes.dcm: not a DICOM file")


def test_truncated_header(tmp_path: Path) -> None:
    path = F.write(F.image(np.zeros((4, 4), np.uint16), series_uid=generate_uid()), tmp_path / "cut.dcm")
    data = path.read_bytes()
    for n in (60, 140, 400):  # before the marker, inside the file meta, inside the dataset
        path.write_bytes(data[:n])
        with pytest.raises(InputError) as err:
            find_series(tmp_path)
        assert one_line(err).startswith("cut.dcm: "), n


def test_truncated_pixel_data(tmp_path: Path) -> None:
    path = F.write(F.image(np.zeros((16, 16), np.uint16), series_uid=generate_uid(), instance=1), tmp_path / "img")
    path.write_bytes(path.read_bytes()[:-100])
    [series] = find_series(tmp_path)  # the header is intact
    with pytest.raises(InputError) as err:
        read_series(series)
    assert one_line(err) == "img: pixel data is truncated or does not match the image size in the header"


def test_undecodable_transfer_syntax_names_file_and_syntax(tmp_path: Path) -> None:
    syntax = JPEG_LS if decoder_problem(JPEG_LS) is not None else MPEG2
    (tmp_path / "case").mkdir()
    F.compressed(tmp_path / "case" / "img.dcm", transfer_syntax=syntax, series_uid=generate_uid())
    [series] = find_series(tmp_path)
    with pytest.raises(InputError) as err:
        read_series(series)
    msg = one_line(err)
    assert msg.startswith(f"case/img.dcm: cannot decode pixel data compressed with {transfer_syntax_text(syntax)}: ")
    assert syntax in msg and ("JPEG-LS" in msg or "MPEG2" in msg)


def test_missing_decoder_plugin_is_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    from pydicom.pixels import get_decoder

    decoder = get_decoder(JPEG_LS)
    monkeypatch.setattr(type(decoder), "is_available", property(lambda self: False))
    monkeypatch.setattr(type(decoder), "missing_dependencies", property(lambda self: ["pyjpegls - requires pyjpegls>=1.2", "pylibjpeg - requires pylibjpeg-libjpeg"]))
    assert decoder_problem(JPEG_LS) == "no installed decoder handles it (install one of: pyjpegls, pylibjpeg)"
    assert transfer_syntax_text(JPEG_LS) == f"JPEG-LS Lossless Image Compression ({JPEG_LS})"
    assert transfer_syntax_text("1.2.3.4") == "an unknown transfer syntax (1.2.3.4)"


def test_corrupt_compressed_data_is_one_line_without_pydicom_log(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    if decoder_problem(JPEG_LS) is not None:
        pytest.skip("no JPEG-LS decoder installed")
    F.compressed(tmp_path / "bad.dcm", transfer_syntax=JPEG_LS, series_uid=generate_uid())
    logging.getLogger("pydicom").addHandler(handler := logging.StreamHandler())
    try:
        with pytest.raises(InputError) as err:
            read_series(find_series(tmp_path)[0])
    finally:
        logging.getLogger("pydicom").removeHandler(handler)
    assert one_line(err) == f"bad.dcm: cannot decode pixel data compressed with {transfer_syntax_text(JPEG_LS)}: the compressed data is corrupt or truncated"
    assert "libjpeg" not in capsys.readouterr().err


def test_mismatched_rows_in_a_series(tmp_path: Path) -> None:
    uid = generate_uid()
    F.write(F.image(np.zeros((4, 4), np.uint16), series_uid=uid, instance=1, position=(0, 0, 0)), tmp_path / "a.dcm")
    F.write(F.image(np.zeros((5, 4), np.uint16), series_uid=uid, instance=2, position=(0, 0, 1)), tmp_path / "b.dcm")
    with pytest.raises(InputError) as err:
        find_series(tmp_path)
    assert one_line(err).startswith("b.dcm: image size 5 x 4 differs from 4 x 4 of a.dcm in the same series")


def test_mixed_orientations_in_a_series(tmp_path: Path) -> None:
    uid = generate_uid()
    F.write(F.image(np.zeros((4, 4), np.uint16), series_uid=uid, instance=1, position=(0, 0, 0)), tmp_path / "a")
    F.write(F.image(np.zeros((4, 4), np.uint16), series_uid=uid, instance=2, position=(0, 0, 1),
                    orientation=(0, 1, 0, 0, 0, -1)), tmp_path / "b")
    with pytest.raises(InputError) as err:
        find_series(tmp_path)
    assert one_line(err).startswith("b: slice orientation differs")


def test_missing_series_uid(tmp_path: Path) -> None:
    ds = F.image(np.zeros((2, 2), np.uint16), series_uid=generate_uid())
    del ds.SeriesInstanceUID
    F.write(ds, tmp_path / "x.dcm")
    with pytest.raises(InputError) as err:
        find_series(tmp_path)
    assert one_line(err).startswith("x.dcm: no SeriesInstanceUID")


# -- real files shipped with pydicom / pydicom-data -----------------------------------------------


def real_file(name: str) -> Path:
    from pydicom.data import get_testdata_file

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom-data warns that it cannot download (offline)
        path = get_testdata_file(name)
    if path is None:
        pytest.skip(f"{name} is not installed")
    return Path(path)


def series_of(tmp_path: Path, *names: str):
    for name in names:
        (tmp_path / name).symlink_to(real_file(name))
    return find_series(tmp_path)


def test_real_ct_small_is_in_hu(tmp_path: Path) -> None:
    [s] = series_of(tmp_path, "CT_small.dcm")
    vol = read_series(s)
    assert vol.shape == (1, 128, 128) and s.kind == "ct"
    assert s.spacing[:2] == pytest.approx((0.661468, 0.661468))
    assert -1100 < vol.min() < -800 and 800 < vol.max() < 3100  # air-ish to bone, intercept -1024 applied
    raw = pydicom.dcmread(real_file("CT_small.dcm")).pixel_array
    np.testing.assert_array_equal(vol[0], raw.astype(np.float32) - 1024)


def test_real_mr_small_and_its_jpeg_ls_twin(tmp_path: Path) -> None:
    [s] = series_of(tmp_path, "MR_small.dcm")
    vol = read_series(s)
    assert vol.shape == (1, 64, 64) and s.kind == "mri" and vol.min() >= 0 and vol.max() > 1000
    if decoder_problem(JPEG_LS) is None:
        (tmp_path / "MR_small.dcm").unlink()
        [c] = series_of(tmp_path, "MR_small_jpeg_ls_lossless.dcm")
        np.testing.assert_array_equal(read_series(c), vol)  # lossless


def test_real_cr_is_monochrome1_and_inverted(tmp_path: Path) -> None:
    [s] = series_of(tmp_path, "RG3_UNCR.dcm")  # CR, MONOCHROME1, 1760 x 1760
    vol = read_series(s)
    assert s.kind == "xray" and vol.shape == (1, 1760, 1760)
    raw = pydicom.dcmread(real_file("RG3_UNCR.dcm")).pixel_array.astype(np.float32)
    np.testing.assert_array_equal(vol[0], raw.max() + raw.min() - raw)


def test_real_enhanced_ct(tmp_path: Path) -> None:
    [s] = series_of(tmp_path, "eCT_Supplemental.dcm")  # 2 frames, shared rescale -1024
    vol = read_series(s)
    assert vol.shape == (2, 512, 512) and s.spacing == pytest.approx((0.388672, 0.388672, 10.0))
    assert vol.min() == -1024
