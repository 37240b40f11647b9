"""AppTest of the workspace overview page."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from synth_core.dataset import DatasetSpec, DatasetWriter
from synth_core.workspace import Workspace

from tests.conftest import ROOT

APP = str(ROOT / "app.py")


def _tiny_dataset(ws_root, name="tiny"):
    ws = Workspace.open(ws_root)
    spec = DatasetSpec(name=name, layout="png", kind="other", modalities=("grey",),
                       label_names={0: "background", 1: "lesion"}, size=16)
    with DatasetWriter(ws.path("datasets", name), spec) as w:
        img = np.random.default_rng(0).random((2, 1, 16, 16)).astype(np.float32)
        w.add_case("c0", img, np.ones((2, 16, 16)), np.zeros((2, 16, 16)), [0, 1], (1, 1, 1), "c0.png")


def test_home_empty_workspace_says_what_to_run(workspace):
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert any("demo-data" in i.value for i in at.info)
    assert [m.value for m in at.metric][:1] == ["0"]


def test_home_lists_datasets(workspace):
    _tiny_dataset(workspace)
    at = AppTest.from_file(APP, default_timeout=30).run()
    assert not at.exception
    assert at.metric[0].value == "1"
    df = at.dataframe[0].value
    assert list(df["name"]) == ["tiny"] and int(df["slices"].iloc[0]) == 2
