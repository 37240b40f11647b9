"""AppTest of the Export page: filters give live counts, the export runs and passes its check."""

from __future__ import annotations

import json

import numpy as np
from streamlit.testing.v1 import AppTest

from synth_core.export import check_export
from synth_core.synthesis.setstore import SyntheticSet
from tests.conftest import ROOT
from tests.training.conftest import make_tiny_dataset

PAGE = str(ROOT / "pages" / "export.py")


def _passing(at) -> tuple[int, int]:
    a, n = at.metric[0].value.split(" / ")
    return int(a), int(n)


def test_export_page_empty_state(workspace):
    make_tiny_dataset(workspace)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("synthesize" in i.value for i in at.info)


def test_export_page_filters_and_exports(workspace, fake_set):
    fake_set()
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception, at.exception
    assert _passing(at) == (12, 12)
    cat = SyntheticSet(workspace / "synthetic" / "fake").catalog
    lo, hi = at.slider(key="export_range_nn_dist").value
    cut = float(np.median(cat["nn_dist"]))
    at.slider(key="export_range_nn_dist").set_value((cut, hi)).run()
    assert not at.exception
    expected = int((cat["nn_dist"] >= float(f"{cut:.6g}")).sum())
    assert _passing(at)[0] == expected < 12
    at.text_input(key="export_extra").set_value("nosuch > 1").run()
    assert any("unknown column 'nosuch'" in e.value for e in at.error)
    at.text_input(key="export_extra").set_value("").run()
    at.text_input(key="export_out").set_value("ex1")
    at.button(key="export_go").click().run()
    assert not at.exception, at.exception
    assert any("Exported to" in s.value and f"{expected} synthetic" in s.value for s in at.success), \
        [s.value for s in at.success] + [e.value for e in at.error]
    assert check_export(workspace / "exports" / "ex1") == []
    n_folds = len(json.loads((workspace / "exports" / "ex1" / "splits_final.json").read_text()))
    assert any(i.value.startswith(f"nnU-Net folds: splits_final.json: {n_folds} folds grouped by subject") and
               "nnUNet_preprocessed/DatasetXXX_Name/" in i.value for i in at.info), [i.value for i in at.info]
    # the same name again is refused with a one-line error, the first export is untouched
    at.button(key="export_go").click().run()
    assert any("already exists" in e.value for e in at.error)


def test_export_page_offers_realness_as_a_filter(workspace, fake_set):
    import pandas as pd

    from synth_core.synthesis.realness import write_realness

    fake_set()
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert any("No `realness` column yet" in c.value for c in at.caption)
    sset = SyntheticSet(workspace / "synthetic" / "fake")
    values = np.linspace(0.05, 0.6, 12)
    write_realness(sset.path, pd.DataFrame({"sample_id": sset.catalog.sample_id, "realness": values}), {"seed": 0})
    at = AppTest.from_file(PAGE, default_timeout=90).run()  # a new side table is picked up (cache key)
    assert not at.exception, at.exception
    assert "realness" in at.multiselect(key="export_filter_columns").value
    slider = at.slider(key="export_range_realness")
    assert "0.5 = cannot be told from real" in slider.help
    slider.set_value((0.2, slider.value[1])).run()
    assert not at.exception
    assert _passing(at)[0] == int((values >= 0.2).sum())
    assert any("realness >= 0.2" in c.value for c in at.code)
