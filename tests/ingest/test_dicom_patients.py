"""DICOM: the series of one patient (PatientID) always land in one split; the dataset keeps only a
keyed hash of the ID (HMAC with the workspace's secret), never the ID."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom

from synth_core.cli import main
from synth_core.dataset import Dataset, assign_splits
from synth_core.pseudonym import KEY_FILE, pseudonym, workspace_secret
from tests.ingest import dicom_fixtures as F


def _patient(folder: Path, patient_id: str | None) -> None:
    for f in sorted(folder.iterdir()):
        ds = pydicom.dcmread(f)
        if patient_id is None:
            del ds.PatientID
        else:
            ds.PatientID = patient_id
        ds.save_as(f)


def _source(root: Path) -> Path:
    """Seven CT series: patient A has two (two studies), B..E one each, one series has no PatientID."""
    for name, pid in (("a1", "PAT-A"), ("a2", "PAT-A"), ("b", "PAT-B"), ("c", "PAT-C"), ("d", "PAT-D"),
                      ("e", "PAT-E"), ("anon", None)):
        F.ct_series(root / name, series_number=1 if name != "a2" else 2)
        _patient(root / name, pid)
    return root


def test_a_patient_with_two_series_is_never_split(tmp_path, workspace, capsys):
    src = _source(tmp_path / "export")
    for seed in range(8):
        name = f"d{seed}"
        rc = main(["ingest", "--layout", "dicom", str(src), "--name", name, "--size", "16", "--min-foreground", "0",
                   "--seed", str(seed), "--no-progress"])
        assert rc == 0, capsys.readouterr().err
        idx = Dataset(workspace / "datasets" / name).index
        per_case = idx.groupby("case_id").agg(subject=("subject", "first"), split=("split", "first"),
                                             source=("source_path", "first"))
        a = per_case[per_case["source"].str.startswith(("a1/", "a2/"))]
        assert len(a) == 2 and a["subject"].nunique() == 1 and a["split"].nunique() == 1, (seed, per_case)
        assert per_case["subject"].nunique() == 6  # A, B, C, D, E and the series without PatientID
        assert len(set(per_case["split"])) == 3  # the split still has train, val and test
    # the subject is the keyed hash of the PatientID (a known answer for this workspace's secret)
    secret = workspace_secret(workspace)
    assert a["subject"].iloc[0] == "subj-" + pseudonym(secret, "subject", "PAT-A", n=16)
    assert oct((workspace / KEY_FILE).stat().st_mode & 0o777) == "0o600"
    for path in (workspace / "datasets").rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            for raw in (b"PAT-A", b"PAT-B", F.PATIENT_NAME.encode(), secret.hex().encode()):
                assert raw not in data, f"{raw!r} found in {path}"


def test_split_by_subject_known_answers():
    cases = [f"c{i}" for i in range(6)]
    # one case per subject: exactly the per-case split (existing datasets keep their fingerprints)
    assert assign_splits(cases, (0.5, 0.25, 0.25), 3, {c: f"s{c}" for c in cases}) == \
        assign_splits(cases, (0.5, 0.25, 0.25), 3)
    groups = {"c0": "x", "c1": "x", "c2": "x", "c3": "y", "c4": "z", "c5": "w"}
    for seed in range(20):
        out = assign_splits(cases, (0.5, 0.25, 0.25), seed, groups)
        assert out["c0"] == out["c1"] == out["c2"]
        assert sorted(set(out.values())) == ["test", "train", "val"]
    # subjects are ordered by their smallest case, so renaming them does not change the split
    renamed = {c: g.upper() + "-other-key" for c, g in groups.items()}
    assert assign_splits(cases, (0.5, 0.25, 0.25), 5, groups) == assign_splits(cases, (0.5, 0.25, 0.25), 5, renamed)
    assert np.array_equal(sorted(assign_splits(cases[:2], (0.5, 0.25, 0.25), 0, groups).values()), ["train", "train"])
