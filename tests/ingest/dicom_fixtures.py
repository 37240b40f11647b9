"""Tiny DICOM files written with pydicom for the DICOM reader and layout tests.

Every file carries the same fake patient (``PATIENT_NAME``, ``PATIENT_ID``) so tests can check
that no identifier reaches a dataset. Pixel values are chosen so that the order of slices and the
rescale to HU can be read back from the volume: slice ``k`` of a series holds ``base + k`` in its
top-left pixel.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

PATIENT_NAME = "Doe^Janeexample"
PATIENT_ID = "PID-4711-SECRET"


def without_hashes(text: str | bytes) -> str | bytes:
    """``text`` with runs of 8 or more hex digits (keyed pseudonyms, sha256 fingerprints) cut out:
    those are random per workspace, so any short secret such as the ID's "4711" turns up in them
    now and then (a fingerprint did: "...5218471128..."). A leaked identifier is not such a run."""
    import re

    if isinstance(text, bytes):
        return re.sub(rb"[0-9a-fA-F]{8,}", b"#", text)
    return re.sub(r"[0-9a-fA-F]{8,}", "#", text)

SOP_CLASS = {
    "CT": "1.2.840.10008.5.1.4.1.1.2",  # CT Image Storage
    "MR": "1.2.840.10008.5.1.4.1.1.4",  # MR Image Storage
    "DX": "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "ECT": "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "SR": "1.2.840.10008.5.1.4.1.1.88.11",  # Basic Text SR Storage
    "SEG": "1.2.840.10008.5.1.4.1.1.66.4",  # Segmentation Storage
}
AXIAL = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def image(
    pixels: np.ndarray,
    *,
    modality: str = "CT",
    series_uid: str,
    series_number: int | None = 1,
    instance: int | None = None,
    position: tuple[float, float, float] | None = None,
    orientation: tuple[float, ...] | None = AXIAL,
    slope: float | None = None,
    intercept: float | None = None,
    photometric: str = "MONOCHROME2",
    pixel_spacing: tuple[float, float] | None = (0.7, 0.8),
    spacing_key: str = "PixelSpacing",
    thickness: float | None = None,
    between: float | None = None,
    sop_class: str | None = None,
    image_type: tuple[str, ...] = ("ORIGINAL", "PRIMARY", "AXIAL"),
) -> FileDataset:
    """A single- or multi-frame image: ``pixels`` (H, W) or (F, H, W), uint16 or int16."""
    pixels = np.asarray(pixels)
    ds = _base(sop_class or SOP_CLASS.get(modality, SOP_CLASS["CT"]), modality, series_uid, series_number)
    ds.ImageType = list(image_type)
    if instance is not None:
        ds.InstanceNumber = instance
    if position is not None:
        ds.ImagePositionPatient = [float(v) for v in position]
    if orientation is not None:
        ds.ImageOrientationPatient = [float(v) for v in orientation]
    if pixel_spacing is not None:
        setattr(ds, spacing_key, [float(v) for v in pixel_spacing])
    if thickness is not None:
        ds.SliceThickness = thickness
    if between is not None:
        ds.SpacingBetweenSlices = between
    if slope is not None:
        ds.RescaleSlope = slope
    if intercept is not None:
        ds.RescaleIntercept = intercept
    _pixels(ds, pixels, photometric)
    return ds


def enhanced_ct(
    frames: np.ndarray,
    *,
    series_uid: str,
    z: list[float],
    intercepts: list[float],
    slope: float = 1.0,
) -> FileDataset:
    """Enhanced CT: one file, per-frame position and rescale, shared orientation and spacing."""
    ds = _base(SOP_CLASS["ECT"], "CT", series_uid, 5)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL", "NONE"]
    ds.InstanceNumber = 1
    shared = Dataset()
    ori = Dataset()
    ori.ImageOrientationPatient = list(AXIAL)
    shared.PlaneOrientationSequence = [ori]
    meas = Dataset()
    meas.PixelSpacing = [0.5, 0.6]
    meas.SliceThickness = 3.0
    shared.PixelMeasuresSequence = [meas]
    ds.SharedFunctionalGroupsSequence = [shared]
    per_frame = []
    for zz, icpt in zip(z, intercepts):
        item = Dataset()
        pos = Dataset()
        pos.ImagePositionPatient = [0.0, 0.0, float(zz)]
        item.PlanePositionSequence = [pos]
        pvt = Dataset()
        pvt.RescaleIntercept = icpt
        pvt.RescaleSlope = slope
        pvt.RescaleType = "HU"
        item.PixelValueTransformationSequence = [pvt]
        per_frame.append(item)
    ds.PerFrameFunctionalGroupsSequence = per_frame
    _pixels(ds, np.asarray(frames), "MONOCHROME2")
    return ds


def non_image(modality: str, series_uid: str) -> FileDataset:
    """A DICOM object without pixel data (e.g. a structured report)."""
    ds = _base(SOP_CLASS.get(modality, SOP_CLASS["SR"]), modality, series_uid, 99)
    ds.ContentLabel = "REPORT"
    return ds


def compressed(path: Path, *, transfer_syntax: str, series_uid: str) -> Path:
    """An image whose pixel data is encapsulated in ``transfer_syntax`` with fake (undecodable) bytes."""
    ds = image(np.zeros((8, 8), np.uint16), series_uid=series_uid, instance=1, position=(0, 0, 0))
    ds.file_meta.TransferSyntaxUID = UID(transfer_syntax)
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51not-really-compressed-data\xff\xd9"])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    ds.save_as(path, enforce_file_format=True)
    return path


def write(ds: FileDataset, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def ct_series(folder: Path, *, series_uid: str | None = None, series_number: int = 1) -> dict[str, object]:
    """Four axial CT slices at z = 10, 12.5, 15, 17.5 written in shuffled file order, with file
    names and InstanceNumbers that disagree with the positions. Slice k (in z order) stores
    ``1000 + k`` at [0, 0] and 600 elsewhere; slope 2, intercept -1024 -> HU ``2 * v - 1024``."""
    uid = series_uid or generate_uid()
    z = [10.0, 12.5, 15.0, 17.5]
    file_order = [2, 0, 3, 1]  # which slice each file holds
    names = ["b", "d.dcm", "a.DCM", "c"]  # no order in the names; some without extension
    instances = [4, 3, 2, 1]  # reversed: positions must win
    for name, k in zip(names, file_order):
        px = np.full((6, 5), 600, np.uint16)
        px[0, 0] = 1000 + k
        ds = image(px, series_uid=uid, series_number=series_number, instance=instances[k],
                   position=(-20.0, -30.0, z[k]), slope=2.0, intercept=-1024.0, thickness=2.5)
        write(ds, folder / name)
    return {"uid": uid, "z": z, "hu": [2 * (1000 + k) - 1024 for k in range(4)], "background_hu": 2 * 600 - 1024}


def mr_series_without_positions(folder: Path, *, series_uid: str | None = None) -> str:
    """Three MR slices without ImagePositionPatient; InstanceNumber k+1 holds ``100 * (k + 1)``."""
    uid = series_uid or generate_uid()
    for k, name in zip([2, 0, 1], ["x1", "x2", "x3"]):
        px = np.full((4, 4), 100 * (k + 1), np.uint16)
        ds = image(px, modality="MR", series_uid=uid, series_number=7, instance=k + 1, position=None,
                   orientation=None, pixel_spacing=(1.5, 1.5), between=4.0, thickness=3.0)
        write(ds, folder / name)
    return uid


def dx_monochrome1(path: Path) -> np.ndarray:
    """A 2-D DX image in MONOCHROME1 with ImagerPixelSpacing; returns its stored pixels."""
    px = np.array([[0, 100, 200], [300, 400, 1000]], np.uint16)
    ds = image(px, modality="DX", series_uid=generate_uid(), instance=1, position=None, orientation=None,
               photometric="MONOCHROME1", pixel_spacing=(0.15, 0.15), spacing_key="ImagerPixelSpacing",
               image_type=("ORIGINAL", "PRIMARY"))
    write(ds, path)
    return px


def _base(sop_class: str, modality: str, series_uid: str, series_number: int | None) -> FileDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = FileDataset("fixture", {}, file_meta=meta, preamble=b"\0" * 128)
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.PatientName = PATIENT_NAME
    ds.PatientID = PATIENT_ID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = series_uid
    if series_number is not None:
        ds.SeriesNumber = series_number
    ds.SeriesDescription = f"series of {PATIENT_NAME}"  # a careless description must not leak either
    ds.Modality = modality
    return ds


def _pixels(ds: FileDataset, pixels: np.ndarray, photometric: str) -> None:
    if pixels.ndim == 3:
        ds.NumberOfFrames = pixels.shape[0]
    ds.Rows, ds.Columns = int(pixels.shape[-2]), int(pixels.shape[-1])
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    signed = pixels.dtype == np.int16
    ds.PixelRepresentation = 1 if signed else 0
    ds.PixelData = pixels.astype(np.int16 if signed else np.uint16).tobytes()
