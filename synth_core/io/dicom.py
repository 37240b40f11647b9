"""DICOM reading: find image files in a folder tree, group them into series, read a series as a volume.

Two passes, so memory holds one series at a time:

1. :func:`find_series` reads only the headers (``stop_before_pixels=True``) of every file under a
   folder, groups the images by *SeriesInstanceUID* and orders each series' slices;
2. :func:`read_series` decodes the pixel data of one series into a ``(Z, H, W)`` float32 volume of
   raw values: the modality LUT (*RescaleSlope*/*RescaleIntercept*, pydicom's
   :func:`~pydicom.pixels.apply_modality_lut`) is applied, so CT is in Hounsfield units.

Files
    Any file name, with or without ``.dcm``. A file counts as DICOM when it has the ``DICM`` marker
    at byte 128, or (no preamble) starts with a group 0002/0008 data element. Other files are
    skipped silently, except ones named ``.dcm``/``.dicom``, which must be DICOM: a truncated or
    foreign ``.dcm`` file is an :class:`~synth_core.errors.InputError` naming it. Hidden files and
    folders (``.DS_Store``, macOS ``._x.dcm`` forks, ``.git``) and DICOMDIR index files are skipped.
    DICOM objects that are not images for this tool are skipped with an info log: no pixel data
    (structured reports, RT structure sets and plans, presentation states, key objects), or
    modality SEG / RTSTRUCT / RTDOSE / ... (segmentations and RT objects are out of scope), and
    localizer (scout) images (*ImageType* contains ``LOCALIZER``).

Slices
    Single-frame files are one slice each; each frame of a multi-frame file (*NumberOfFrames* > 1,
    e.g. Enhanced CT/MR) is one slice, with its position, orientation, pixel spacing and rescale
    taken from the per-frame functional groups when present, the shared groups otherwise, then the
    top-level attributes. A 2-D image (CR, DX, ...) is a series of one slice. Slices are ordered by
    *ImagePositionPatient* projected on the slice normal (row x column direction of
    *ImageOrientationPatient*, so axial slices run inferior -> superior); when any slice lacks a
    position, by *InstanceNumber* (then frame number, then file name). The slice spacing is the
    median gap between distinct positions, else *SpacingBetweenSlices*, else *SliceThickness*,
    else 1 mm; the pixel spacing is *PixelSpacing* (rows, columns), else *ImagerPixelSpacing*,
    else 1 mm (a missing or non-positive value is logged).

Pixels
    Rows and columns are kept as stored, which is how a DICOM viewer displays them (for a standard
    axial slice: anterior up, patient left on the image right). MONOCHROME1 images (high value =
    dark) are inverted within the series' own value range (``min + max - value``) so that high
    means bright as in MONOCHROME2 -- except CT, whose values are Hounsfield units whatever the
    display convention. Colour images (RGB, YBR_*, PALETTE COLOR) become grey luminance
    (ITU-R BT.601). Compressed pixel data is decoded by pydicom's installed plug-ins; a transfer
    syntax nothing installed can decode, or data that fails to decode, is an InputError naming the
    file and the syntax (name and UID), never a raw pydicom message.

No patient identifiers leave this module: case ids come from the modality, the *SeriesNumber* and
a hash of the *SeriesInstanceUID*; names, dates and descriptions are never read into results. The
*PatientID* is read only to keep one patient's series in one split: the dataset stores a keyed
hash of it (HMAC with the workspace's secret, :mod:`synth_core.pseudonym`), never the ID.
Size limits (rows, columns, slices) are checked by the caller from :class:`DicomSeries` before
:func:`read_series` decodes anything.
"""

from __future__ import annotations

import hashlib
import logging
import math
import os
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import UID, ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

from synth_core.errors import InputError

log = logging.getLogger(__name__)

#: DICOM Modality -> data kind of the project (``synth_core.structure.KINDS``); others are "other".
KIND_BY_MODALITY: dict[str, str] = {
    "CT": "ct",
    "MR": "mri",
    "CR": "xray",
    "DX": "xray",
    "DR": "xray",
    "MG": "xray",
    "XA": "xray",
    "RF": "xray",
    "PX": "xray",
    "IO": "xray",
}

#: Modalities skipped without error: segmentations, RT objects, reports and other non-images.
SKIPPED_MODALITIES = frozenset(
    {"SEG", "RTSTRUCT", "RTPLAN", "RTDOSE", "RTRECORD", "SR", "PR", "KO", "REG", "DOC", "FID", "RWV", "PLAN"}
)

#: File name endings that promise DICOM content (an unreadable one is an error, not skipped).
DICOM_SUFFIXES = (".dcm", ".dicom")

_DICOMDIR_SOP_CLASS = "1.2.840.10008.1.3.10"  # Media Storage Directory Storage
_ORIENTATION_TOLERANCE = 1e-3  # direction cosines that differ by less are the same orientation


def kind_of(modality: str) -> str:
    """Data kind for a DICOM *Modality*: ``"CT"`` -> ``"ct"``, ``"MR"`` -> ``"mri"``,
    ``"CR"``/``"DX"``/... -> ``"xray"``, anything else ``"other"``."""
    return KIND_BY_MODALITY.get(modality.strip().upper(), "other")


@dataclass(frozen=True)
class DicomSlice:
    """Where one slice of a series lives: a file, and the frame in it (None: single-frame file)."""

    path: Path  # absolute path of the file
    rel: str  # path relative to the scanned folder (POSIX), used in messages
    frame: int | None


@dataclass(frozen=True)
class DicomSeries:
    """One series (one case) found by :func:`find_series`: headers only, slices in volume order."""

    uid: str  # SeriesInstanceUID (kept out of case ids and outputs; only its hash is used)
    modality: str  # upper-case DICOM Modality, e.g. "CT"
    number: int | None  # SeriesNumber
    rows: int
    columns: int
    slices: tuple[DicomSlice, ...]
    spacing: tuple[float, float, float]  # (row, col, slice) in mm
    #: PatientID of the series ("" when absent), only for grouping a patient's series into one split
    #: (the ingest pipeline keeps a keyed hash of it, :mod:`synth_core.pseudonym`); never in outputs
    patient: str = ""

    @property
    def kind(self) -> str:
        return kind_of(self.modality)

    @property
    def n_slices(self) -> int:
        return len(self.slices)

    @property
    def first_path(self) -> str:
        """Relative path of the file of the first slice."""
        return self.slices[0].rel

    @property
    def case_id(self) -> str:
        """``<modality>-s<SeriesNumber>-<8 hex of sha1(SeriesInstanceUID)>``, e.g. ``ct-s3-1a2b3c4d``:
        readable, unique per series, and free of patient identifiers."""
        digest = hashlib.sha1(self.uid.encode()).hexdigest()[:8]
        mod = "".join(c for c in self.modality.lower() if c.isalnum()) or "dicom"
        return f"{mod}-s{self.number}-{digest}" if self.number is not None else f"{mod}-{digest}"


# -- pass 1: headers ----------------------------------------------------------------------------


@dataclass
class _Header:
    """What pass 1 keeps of one image file (the dataset itself is dropped)."""

    path: Path
    rel: str
    series_uid: str
    modality: str
    number: int | None
    rows: int
    columns: int
    frames: int
    instance: int | None
    positions: list[np.ndarray | None]  # per frame
    orientations: list[np.ndarray | None]  # per frame, 6 direction cosines
    pixel_spacing: tuple[float, float] | None
    between: float | None  # SpacingBetweenSlices
    thickness: float | None  # SliceThickness
    patient: str = ""  # PatientID ("" when absent): grouping only, never written anywhere


def iter_headers(src: Path) -> Iterator[_Header]:
    """Headers of the DICOM image files under ``src`` in sorted path order (skipped files left out)."""
    for path in _walk(src):
        rel = path.relative_to(src).as_posix()
        with _quiet_pydicom():
            ds = _read_header(path, rel)
            header = None if ds is None else _image_header(ds, path, rel)
        if header is not None:
            yield header


def count_files(src: Path) -> int:
    """Number of (non-hidden) files under ``src``, for messages."""
    return sum(1 for _ in _walk(src))


def find_series(src: Path) -> list[DicomSeries]:
    """Every image series under ``src``, ordered by the path of its first file; headers only.

    Raises :class:`InputError` for a folder without DICOM images, an unreadable ``.dcm`` file, a
    file without *SeriesInstanceUID*, or a series that mixes image sizes or slice orientations.
    """
    groups: dict[str, list[_Header]] = {}
    for header in iter_headers(src):
        groups.setdefault(header.series_uid, []).append(header)
    if not groups:
        raise InputError(src, f"no DICOM image files found (looked at {count_files(src)} files)")
    return [_build_series(uid, headers) for uid, headers in groups.items()]


def _walk(src: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(src):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith("."):
                yield Path(dirpath, name)


def _read_header(path: Path, rel: str) -> Dataset | None:
    """The header of ``path``, or None for a file skipped silently (not DICOM, DICOMDIR)."""
    if path.name.upper() == "DICOMDIR":
        return None
    promised = path.suffix.lower() in DICOM_SUFFIXES
    try:
        with open(path, "rb") as fh:
            head = fh.read(132)
    except OSError as err:
        raise InputError(rel, f"cannot read the file ({err.strerror or err})") from None
    if head[128:132] == b"DICM":
        force = False
    elif _looks_like_bare_dataset(head):
        force = True
    elif promised:
        if len(head) < 132:
            raise InputError(rel, f"not a DICOM file (only {len(head)} bytes; truncated?)")
        raise InputError(rel, "not a DICOM file (no 'DICM' marker at byte 128 and no DICOM data elements at the start)")
    else:
        return None
    try:
        ds = pydicom.dcmread(path, stop_before_pixels=True, force=force)
    except Exception as err:  # pydicom raises many types for corrupt bytes; none is for the user
        log.debug("pydicom could not read %s: %r", rel, err)
        if force and not promised:
            return None
        raise InputError(rel, "not a readable DICOM file (the header is truncated or corrupt)") from None
    if str(ds.file_meta.get("MediaStorageSOPClassUID", "")) == _DICOMDIR_SOP_CLASS:
        return None
    if force and not promised and not any(k in ds for k in ("SOPClassUID", "Modality", "SeriesInstanceUID", "Rows")):
        return None  # bytes that only happened to start like a DICOM element
    if len(ds) == 0:
        raise InputError(rel, "truncated DICOM file: it ends inside the header, before any data element")
    return ds


def _looks_like_bare_dataset(head: bytes) -> bool:
    """A DICOM dataset written without preamble: little-endian tag (0002|0008, xxxx) then an
    explicit VR (two upper-case letters) or a plausible implicit length."""
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    vr = head[4:6]
    return (vr.isalpha() and vr.isupper()) or int.from_bytes(head[4:8], "little") < 1024


def _image_header(ds: Dataset, path: Path, rel: str) -> _Header | None:
    """The image facts of ``ds``; None (logged) for objects this tool does not read."""
    modality = str(ds.get("Modality", "") or "").strip().upper()
    if modality in SKIPPED_MODALITIES:
        log.info("skipping %s: modality %s is not an image this tool reads", rel, modality)
        return None
    if "Rows" not in ds or "Columns" not in ds:
        sop = ds.get("SOPClassUID") or ds.file_meta.get("MediaStorageSOPClassUID")
        name = UID(str(sop)).name if sop else ""
        if sop and name != str(sop) and "Image" not in name:
            log.info("skipping %s: %s has no image", rel, name)
            return None
        raise InputError(rel, "truncated or incomplete DICOM image: the header has no Rows/Columns (0028,0010/0011)")
    image_type = [str(v).upper() for v in _as_list(ds.get("ImageType"))]
    if "LOCALIZER" in image_type:
        log.info("skipping %s: localizer (scout) image", rel)
        return None
    uid = str(ds.get("SeriesInstanceUID", "") or "").strip()
    if not uid:
        raise InputError(rel, "no SeriesInstanceUID (0020,000E): cannot tell which series the image belongs to")
    rows, columns = _int(ds.get("Rows")), _int(ds.get("Columns"))
    frames = _int(ds.get("NumberOfFrames")) or 1
    if rows is None or columns is None:
        raise InputError(rel, "invalid Rows/Columns (0028,0010/0011) in the header")
    per_frame = _as_list(ds.get("PerFrameFunctionalGroupsSequence"))
    shared = _first(ds.get("SharedFunctionalGroupsSequence"))
    positions: list[np.ndarray | None] = []
    orientations: list[np.ndarray | None] = []
    for f in range(frames):
        item = per_frame[f] if f < len(per_frame) else None
        pos = _group_value(item, shared, "PlanePositionSequence", "ImagePositionPatient")
        ori = _group_value(item, shared, "PlaneOrientationSequence", "ImageOrientationPatient")
        if pos is None and frames == 1:
            pos = ds.get("ImagePositionPatient")
        if ori is None:
            ori = ds.get("ImageOrientationPatient")
        positions.append(_vector(pos, 3))
        orientations.append(_vector(ori, 6))
    first_item = per_frame[0] if per_frame else None
    candidates = (
        _group_value(first_item, shared, "PixelMeasuresSequence", "PixelSpacing"),
        ds.get("PixelSpacing"),
        ds.get("ImagerPixelSpacing"),
    )
    pixel_spacing = None  # the first candidate with two positive values
    for candidate in candidates:
        v = _vector(candidate, 2)
        if v is not None and v.min() > 0:
            pixel_spacing = (float(v[0]), float(v[1]))
            break
    thickness = _group_value(first_item, shared, "PixelMeasuresSequence", "SliceThickness")
    between = _group_value(first_item, shared, "PixelMeasuresSequence", "SpacingBetweenSlices")
    return _Header(
        path=path,
        rel=rel,
        series_uid=uid,
        modality=modality,
        number=_int(ds.get("SeriesNumber")),
        rows=rows,
        columns=columns,
        frames=frames,
        instance=_int(ds.get("InstanceNumber")),
        positions=positions,
        orientations=orientations,
        pixel_spacing=pixel_spacing,
        between=_positive(between if between is not None else ds.get("SpacingBetweenSlices")),
        thickness=_positive(thickness if thickness is not None else ds.get("SliceThickness")),
        patient=str(ds.get("PatientID", "") or "").strip(),
    )


class _Entry(NamedTuple):
    """One slice while a series is being ordered."""

    position: np.ndarray | None
    orientation: np.ndarray | None
    instance: int | None
    frame: int
    header: _Header


def _build_series(uid: str, headers: list[_Header]) -> DicomSeries:
    first = headers[0]
    for h in headers[1:]:
        if (h.rows, h.columns) != (first.rows, first.columns):
            raise InputError(
                h.rel,
                f"image size {h.rows} x {h.columns} differs from {first.rows} x {first.columns} of {first.rel} "
                "in the same series (SeriesInstanceUID); a series must have one image size",
            )
    entries = [_Entry(h.positions[f], h.orientations[f], h.instance, f, h) for h in headers for f in range(h.frames)]
    normal = _slice_normal(entries)
    slice_gap: float | None = None
    if normal is not None:
        proj = {id(e): float(np.dot(e.position, normal)) for e in entries}
        entries.sort(key=lambda e: (proj[id(e)], e.instance or 0, e.header.rel, e.frame))
        slice_gap = _gap_from_positions([proj[id(e)] for e in entries], first.rel)
    else:
        entries.sort(key=lambda e: (e.instance is None, e.instance or 0, e.frame, e.header.rel))
    slices = tuple(
        DicomSlice(path=e.header.path, rel=e.header.rel, frame=e.frame if e.header.frames > 1 else None) for e in entries
    )
    if slice_gap is None:
        slice_gap = first.between or first.thickness
        if slice_gap is None:
            if len(slices) > 1:
                log.info("%s: no slice positions, SpacingBetweenSlices or SliceThickness; slice spacing set to 1 mm", first.rel)
            slice_gap = 1.0
    if first.pixel_spacing is None:
        log.info("%s: no valid PixelSpacing/ImagerPixelSpacing; pixel spacing set to 1 mm", first.rel)
    row_sp, col_sp = first.pixel_spacing or (1.0, 1.0)
    return DicomSeries(
        uid=uid,
        modality=first.modality,
        number=first.number,
        rows=first.rows,
        columns=first.columns,
        slices=slices,
        spacing=(float(row_sp), float(col_sp), float(slice_gap)),
        patient=first.patient,
    )


def _slice_normal(entries: list[_Entry]) -> np.ndarray | None:
    """The common slice normal (row x column direction) when every slice has a position and the
    orientation is known; None means "order by InstanceNumber". Mixed orientations are an error."""
    ref = entries[0].orientation
    if ref is None or any(e.position is None for e in entries):
        return None
    for e in entries:
        if e.orientation is not None and np.max(np.abs(e.orientation - ref)) > _ORIENTATION_TOLERANCE:
            raise InputError(
                e.header.rel,
                f"slice orientation differs from that of {entries[0].header.rel} in the same series; "
                "a series must be one stack of parallel slices",
            )
    normal = np.cross(ref[:3], ref[3:])
    return normal if np.linalg.norm(normal) > 0.5 else None  # degenerate cosines: no usable normal


def _gap_from_positions(proj: list[float], rel: str) -> float | None:
    """Median gap between distinct sorted slice positions (None for a single position)."""
    gaps = np.diff(np.asarray(proj, dtype=np.float64))
    distinct = gaps[gaps > 1e-4]
    if len(distinct) < len(gaps):
        log.warning(
            "%s: %d slices of the series share a position (multi-echo or time series?); kept as consecutive slices",
            rel,
            len(gaps) - len(distinct) + 1,
        )
    if len(distinct) == 0:
        return None
    gap = float(np.median(distinct))
    if np.max(np.abs(distinct - gap)) > 0.1 * gap:
        log.warning("%s: slice gaps vary from %.3g to %.3g mm; using the median %.3g mm", rel, distinct.min(), distinct.max(), gap)
    return gap


# -- pass 2: pixels -----------------------------------------------------------------------------


def read_series(series: DicomSeries) -> np.ndarray:
    """Decode ``series`` into a ``(Z, H, W)`` float32 volume of raw values (HU for CT).

    Each file is read once, in slice order; the modality LUT is applied per frame (functional
    groups first), MONOCHROME1 is inverted (not for CT), colour becomes luminance. Raises
    :class:`InputError` naming the file for undecodable, truncated or inconsistent pixel data.
    Check ``series.rows``/``columns``/``n_slices`` against size limits before calling this.
    """
    volume = np.empty((series.n_slices, series.rows, series.columns), dtype=np.float32)
    inverted = np.zeros(series.n_slices, dtype=bool)
    by_file: dict[Path, list[tuple[int, DicomSlice]]] = {}
    for z, s in enumerate(series.slices):
        by_file.setdefault(s.path, []).append((z, s))
    for path, members in by_file.items():
        rel = members[0][1].rel
        with _quiet_pydicom():
            _read_file_into(volume, inverted, series, path, rel, members)
    if inverted.any():
        part = volume[inverted]
        volume[inverted] = float(part.min()) + float(part.max()) - part
    if not np.isfinite(volume).all():
        raise InputError(series.first_path, "pixel values are not all finite (NaN or infinity after rescaling)")
    return volume


def _read_file_into(
    volume: np.ndarray, inverted: np.ndarray, series: DicomSeries, path: Path, rel: str, members: list[tuple[int, DicomSlice]]
) -> None:
    """Decode one file and write its frames into ``volume`` at their slice indices."""
    ds = _read_full(path, rel)
    frames = _decode(ds, rel)
    if frames.shape[1:3] != (series.rows, series.columns):
        got = f"{frames.shape[1]} x {frames.shape[2]}"
        raise InputError(rel, f"pixel data of {got} does not match the series' {series.rows} x {series.columns}")
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).strip().upper()
    per_frame = _as_list(ds.get("PerFrameFunctionalGroupsSequence"))
    shared = _first(ds.get("SharedFunctionalGroupsSequence"))
    for z, s in members:
        f = s.frame or 0
        if f >= frames.shape[0]:
            raise InputError(rel, f"frame {f + 1} missing: the pixel data holds {frames.shape[0]} frames")
        volume[z] = _grey(frames[f], ds, photometric, per_frame[f] if f < len(per_frame) else None, shared, rel)
        inverted[z] = photometric == "MONOCHROME1" and series.kind != "ct"


def _read_full(path: Path, rel: str) -> Dataset:
    force = False
    try:
        with open(path, "rb") as fh:
            force = fh.read(132)[128:132] != b"DICM"
        ds = pydicom.dcmread(path, force=force)
    except Exception as err:
        log.debug("pydicom could not read %s: %r", rel, err)
        raise InputError(rel, "not a readable DICOM file (truncated or corrupt)") from None
    if "TransferSyntaxUID" not in ds.file_meta:  # a bare dataset: the syntax it was read with
        implicit, little = ds.original_encoding
        ds.file_meta.TransferSyntaxUID = (
            ImplicitVRLittleEndian if implicit else ExplicitVRLittleEndian if little else ExplicitVRBigEndian
        )
    return ds


def transfer_syntax_text(uid: str) -> str:
    """``"JPEG-LS Lossless Image Compression (1.2.840.10008.1.2.4.80)"``; unknown UIDs say so."""
    name = UID(uid).name
    return f"{name} ({uid})" if name and name != uid else f"an unknown transfer syntax ({uid})"


def decoder_problem(uid: str) -> str | None:
    """Why pixel data in transfer syntax ``uid`` cannot be decoded here, or None if it can."""
    from pydicom.pixels import get_decoder

    try:
        decoder = get_decoder(uid)
    except NotImplementedError:
        return (
            "pydicom has no decoder for this transfer syntax "
            "(convert the files to an uncompressed syntax, e.g. with dcmdjpeg or gdcmconv --raw)"
        )
    if decoder.is_available:
        return None
    plugins = sorted({m.split(" - ")[0].strip() for m in decoder.missing_dependencies})
    hint = f" (install one of: {', '.join(plugins)})" if plugins else ""
    return f"no installed decoder handles it{hint}"


def _is_compressed(uid: str) -> bool:
    """True for an encapsulated (compressed) syntax, and for an unknown one (nothing can read it)."""
    if not uid:
        return False
    try:
        return bool(UID(uid).is_compressed)
    except ValueError:
        return True


def _decode(ds: Dataset, rel: str) -> np.ndarray:
    """Stored pixel values as ``(frames, H, W)`` or ``(frames, H, W, 3)``."""
    if not any(t in ds for t in ("PixelData", "FloatPixelData", "DoubleFloatPixelData")):
        raise InputError(rel, "no pixel data in the file (truncated?)")
    uid = str(ds.file_meta.get("TransferSyntaxUID", "") or "")
    compressed = _is_compressed(uid)
    if compressed:
        problem = decoder_problem(uid)
        if problem is not None:
            raise InputError(rel, f"cannot decode pixel data compressed with {transfer_syntax_text(uid)}: {problem}")
    try:
        arr = ds.pixel_array
    except Exception as err:  # decoders raise many types; the user gets one line naming the file
        log.debug("pixel decoding failed for %s: %r", rel, err)
        if compressed:
            what = transfer_syntax_text(uid)
            raise InputError(rel, f"cannot decode pixel data compressed with {what}: the compressed data is corrupt or truncated") from None
        raise InputError(rel, "pixel data is truncated or does not match the image size in the header") from None
    frames = _int(ds.get("NumberOfFrames")) or 1
    samples = _int(ds.get("SamplesPerPixel")) or 1
    if frames == 1 and arr.ndim == (2 if samples == 1 else 3):
        arr = arr[np.newaxis]
    return arr


def _grey(
    frame: np.ndarray, ds: Dataset, photometric: str, item: Dataset | None, shared: Dataset | None, rel: str
) -> np.ndarray:
    """One frame as float32 grey values: modality LUT for monochrome, luminance for colour."""
    from pydicom.pixels import apply_color_lut, apply_modality_lut

    if photometric.startswith("MONOCHROME"):
        source = _first_item(item, shared, "PixelValueTransformationSequence") or ds
        try:
            out = apply_modality_lut(frame, source)
        except Exception as err:
            log.debug("modality LUT failed for %s: %r", rel, err)
            raise InputError(rel, "invalid modality LUT / rescale values in the header") from None
        return np.asarray(out, dtype=np.float32)
    if photometric == "PALETTE COLOR":
        try:
            frame = apply_color_lut(frame, ds)
        except Exception as err:
            log.debug("palette failed for %s: %r", rel, err)
            raise InputError(rel, "invalid palette colour lookup table") from None
    if frame.ndim != 3 or frame.shape[-1] != 3:
        raise InputError(rel, f"unsupported photometric interpretation {photometric!r}")
    rgb = frame.astype(np.float32)
    return rgb[..., 0] * 0.299 + rgb[..., 1] * 0.587 + rgb[..., 2] * 0.114


# -- small helpers ------------------------------------------------------------------------------


@contextmanager
def _quiet_pydicom() -> Iterator[None]:
    """Keep pydicom's own warnings and logged tracebacks (e.g. a decoder failure) away from the
    user: our InputError says what went wrong in one line; ``--debug`` logs the original."""
    pd_log = logging.getLogger("pydicom")  # its child loggers inherit the level
    level = pd_log.level
    pd_log.setLevel(logging.CRITICAL + 1)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        pd_log.setLevel(level)


def _as_list(value: object) -> list:
    if value is None:
        return []
    if isinstance(value, (list, tuple)) or hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        return list(value)  # type: ignore[call-overload]
    return [value]


def _first(seq: object) -> Dataset | None:
    items = _as_list(seq)
    return items[0] if items else None


def _first_item(item: Dataset | None, shared: Dataset | None, seq_name: str) -> Dataset | None:
    for group in (item, shared):
        if group is not None:
            sub = _first(group.get(seq_name))
            if sub is not None:
                return sub
    return None


def _group_value(item: Dataset | None, shared: Dataset | None, seq_name: str, attr: str) -> object:
    """``attr`` of the first ``seq_name`` item in the per-frame group, else the shared group."""
    for group in (item, shared):
        sub = _first(group.get(seq_name)) if group is not None else None
        if sub is not None and sub.get(attr) is not None:
            return sub.get(attr)
    return None


def _vector(value: object, n: int) -> np.ndarray | None:
    """``n`` finite floats from a multi-valued DS, else None."""
    try:
        arr = np.asarray([float(v) for v in _as_list(value)], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return arr if arr.shape == (n,) and np.isfinite(arr).all() else None


def _int(value: object) -> int | None:
    try:
        return int(float(value))  # type: ignore[arg-type]
    except (TypeError, ValueError, OverflowError):
        return None


def _positive(value: object) -> float | None:
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) and v > 0 else None


__all__ = [
    "DICOM_SUFFIXES",
    "KIND_BY_MODALITY",
    "SKIPPED_MODALITIES",
    "DicomSeries",
    "DicomSlice",
    "count_files",
    "decoder_problem",
    "find_series",
    "iter_headers",
    "kind_of",
    "read_series",
    "transfer_syntax_text",
]
