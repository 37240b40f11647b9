"""AppTest of the Quality page's human-review section: counts, reasons, and whether the automatic
figures would have caught the rejections (a table and a kept-vs-rejected plot)."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from synth_core.review.setreview import SetReview
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset

PAGE = str(ROOT / "pages" / "quality.py")


def test_review_section(workspace):
    make_tiny_dataset(workspace, cases=6)
    path = make_fake_set(workspace, n=12)
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception, at.exception
    assert any("No sample has been reviewed yet" in i.value for i in at.info)

    cat = SyntheticSet(path).catalog.sort_values("nn_dist")
    ids = cat.sample_id.tolist()
    rv = SetReview.open(Workspace.open(workspace), "fake")
    rv.reject(ids[:3], reason="copy")  # the three closest to a real slice: nn_dist should have caught them
    rv.reject(ids[3:4], reason="artefact")
    rv.keep(ids[4:])
    at.run()  # the cached catalog follows the review log
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric if m.label in ("Reviewed", "Kept", "Rejected", "Not reviewed")}
    assert metrics == {"Reviewed": "12 / 12", "Kept": "8", "Rejected": "4", "Not reviewed": "0"}
    frames = [d.value for d in at.dataframe]  # (dataframes carry no key in AppTest: found by their columns)
    reasons = next(f for f in frames if "reason" in f.columns)
    assert reasons[["reason", "rejected"]].values.tolist() == [["copy", 3], ["artefact", 1]]
    signals = next(f for f in frames if "caught" in f.columns).set_index("figure")
    nn = signals.loc["nn_dist"]
    assert nn["auc"] == 1.0 and nn["rejected_are"] == "lower" and nn["caught"] == 1.0
    assert nn["filter"].startswith("nn_dist >= ")
    assert signals.index[0] == "nn_dist" or signals["auc"].iloc[0] == 1.0  # strongest first
    at.selectbox(key="quality_review_figure").set_value("nn_dist").run()
    assert not at.exception
    fig = at.get("plotly_chart")[-1]
    assert "nn_dist" in fig.proto.spec
    assert np.isfinite(signals["auc"]).all()
