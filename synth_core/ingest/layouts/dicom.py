"""DICOM: a folder tree of DICOM files, one series (*SeriesInstanceUID*) per case.

Reading, grouping and slice ordering are :mod:`synth_core.io.dicom`'s (see its docstring for which
files are read or skipped). This layout adds the dataset view:

- one channel named after the *Modality* of the first series in lower case (``"ct"``, ``"mr"``,
  ``"cr"``); the kind comes from that modality (CT -> ct, MR -> mri, CR/DX/DR/MG/XA -> xray, else
  other) and every other series must be of the same kind (one kind of scan per dataset);
- raw values: CT in Hounsfield units (windowed later by the pipeline), MR / X-ray as stored after
  the modality LUT (percentile-scaled later);
- no lesion labels: DICOM SEG and RTSTRUCT objects are out of scope and skipped, so every case
  has ``label=None`` and ``organ=None`` (the pipeline computes the Algorithm 2 mask), there are no
  lesion contours to erase, and ``label_names`` options are refused (ConfigError);
- case ids from the modality, *SeriesNumber* and a hash of the *SeriesInstanceUID*, never from
  patient names or IDs, so the dataset carries no patient identifiers;
- series of one *PatientID* are one subject: they always land in the same split (train, val or
  test), so no patient is both trained on and tested on. The dataset keeps only a keyed hash of
  the ID (column ``subject`` of the index); a series without PatientID is a subject of its own (``source_path`` is the
  path of the series' first file relative to the ingested folder, as the user named it).

:func:`describe` reads every header once (no pixels), so a bad file, a series with mixed image
sizes, an oversized image or a second kind of scan is reported before anything is written;
:func:`iter_cases` reads the headers again and then the pixels of one series at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from synth_core.errors import ConfigError, InputError
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, check_source, select_modalities
from synth_core.ingest.options import IngestOptions
from synth_core.io.dicom import DicomSeries, find_series, read_series


def find_cases(src: Path, options: IngestOptions) -> list[DicomSeries]:
    """The series under ``src`` (headers only), checked: same kind as the first, within the size limits."""
    series = find_series(src)
    first = series[0]
    for s in series:
        options.check_dimensions(s.first_path, rows=s.rows, cols=s.columns, slices=s.n_slices)
        if s.kind != first.kind:
            raise InputError(
                s.first_path,
                f"series of modality {s.modality} ({s.kind}) in a dataset of {first.modality} ({first.kind}, "
                f"from {first.first_path}); ingest one kind of scan per dataset",
            )
    return series


def describe(src: Path, options: IngestOptions) -> LayoutInfo:
    if options.label_names:
        raise ConfigError(
            "the dicom layout reads no lesion labels (DICOM SEG / RTSTRUCT are not supported), so --label-names does not apply"
        )
    src = check_source(src)
    series = find_cases(src, options)
    first = series[0]
    modalities = select_modalities((first.modality.lower(),), options)
    return LayoutInfo(
        kind=options.kind or first.kind,
        modalities=modalities,
        label_names={0: "background"},
        structure_modality=0,
        erase_lesion_contours=False,
        params={
            "n_cases": len(series),
            "n_slices": sum(s.n_slices for s in series),
            "dicom_modalities": sorted({s.modality for s in series}),
        },
    )


def iter_cases(src: Path, options: IngestOptions) -> Iterator[CaseVolume]:
    src = check_source(src)
    for series in find_cases(src, options):
        volume = read_series(series)
        yield CaseVolume(
            case_id=series.case_id,
            images=volume[None],
            label=None,
            organ=None,
            spacing=series.spacing,
            source_path=series.first_path,
            subject=series.patient or None,  # no PatientID: the series is its own subject
        )
