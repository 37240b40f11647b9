"""A person's review in exports: a rejected sample never appears (with or without a filter), the
manifest records every sample's review decision (never the free-text tags), and `review` is a column
filters can use."""

from __future__ import annotations

import json

import pandas as pd

from synth_core.export import check_export, export
from synth_core.export.manifest import read as read_manifest
from synth_core.export.naming import synthetic_case_name
from synth_core.review.setreview import SetReview


def _synthetic_cases(path) -> set[str]:
    """Synthetic case names that have files in the export (images ``<case>_<channel>``, labels ``<case>``)."""
    images = {p.name.removesuffix(".nii.gz").rsplit("_", 1)[0] for p in (path / "imagesTr").iterdir()}
    labels = {p.name.removesuffix(".nii.gz") for p in (path / "labelsTr").iterdir()}
    assert images == labels
    return {c for c in labels if c.startswith("syn_")}


def test_a_rejected_sample_never_appears(ws):
    rv = SetReview.open(ws, "fake")
    rv.reject(["syn-000003", "syn-000005"], reason="artefact", note="stripes")
    rv.keep(["syn-000001", "syn-000002"])
    rv.tag(["syn-000001"], ["bright rim"])
    for out, filt in (("plain", None), ("filtered", "review != 'rejected'"), ("lenient", "nn_dist >= 0")):
        r = export(ws, "tiny", "fake", out, filter=filt)
        assert r.n_synthetic == 10 and r.n_rejected == 2 and r.n_filtered_out == 0, out
        cases = _synthetic_cases(r.path)
        assert len(cases) == 10
        assert synthetic_case_name("fake", 3) not in cases and synthetic_case_name("fake", 5) not in cases
        m = read_manifest(r.path)
        syn = m[m["source"] == "synthetic"]
        assert set(syn.loc[syn["decision"] == "exported", "sample_id"]) == \
            {f"syn-{i:06d}" for i in range(12)} - {"syn-000003", "syn-000005"}
        left = syn[syn["sample_id"].isin(["syn-000003", "syn-000005"])]
        assert len(left) == 2 and (left["path"] == "").all()
        assert left["decision"].tolist() == ["rejected in review (artefact)"] * 2
        assert left["review"].tolist() == ["rejected"] * 2 and left["review_reason"].tolist() == ["artefact"] * 2
        # the manifest records each sample's review ('' for samples nobody looked at), never the free-text tags
        by_id = syn.drop_duplicates("sample_id").set_index("sample_id")
        assert by_id.loc["syn-000001", "review"] == "kept" and by_id.loc["syn-000000", "review"] == ""
        assert "review_tags" not in m.columns
        info = json.loads((r.path / "dataset.json").read_text())
        assert info["medsynth"]["counts"]["rejected_in_review"] == 2
        assert check_export(r.path) == []
    csv = pd.read_csv(ws.exports / "plain" / "manifest.csv", keep_default_na=False)
    assert "review" in csv.columns and "rejected" in set(csv["review"])


def test_only_kept_samples_with_a_filter_on_review(ws, cli):
    SetReview.open(ws, "fake").keep(["syn-000004", "syn-000009"])
    SetReview.open(ws, "fake").reject(["syn-000009"], reason="copy")  # changed their mind: the latest wins
    r = cli("export", "--dataset", "tiny", "--set", "fake", "--out", "kept", "--filter", "review == 'kept'",
            "--no-progress")
    assert r.rc == 0, r.err
    assert any(line.startswith("synthetic    1 from set fake") and "filtered out 10" in line
               and "rejected in review 1" in line for line in r.out.splitlines()), r.out
    m = read_manifest(ws.exports / "kept")
    exported = m[(m["source"] == "synthetic") & (m["decision"] == "exported")]
    assert set(exported["sample_id"]) == {"syn-000004"}
    r = cli("export", "--dataset", "tiny", "--set", "fake", "--out", "none", "--filter", "review == 'nonsense'",
            "--no-progress")
    assert r.rc == 2 and "selects none" in r.err
