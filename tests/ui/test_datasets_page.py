"""AppTest of the dataset browser page."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT
from tests.ui.test_home_page import _tiny_dataset

PAGE = str(ROOT / "pages" / "datasets.py")


def test_datasets_page_empty_state(workspace):
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert any("demo-data" in i.value for i in at.info)


def test_datasets_page_browses_slices_and_windows(workspace):
    _tiny_dataset(workspace, "tiny")
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert at.selectbox(key="dataset_select").value == "tiny"
    at.checkbox(key="only_lesions").uncheck().run()
    assert not at.exception
    assert at.slider(key="slice_slider").value == 0
    at.slider(key="slice_slider").set_value(1).run()
    assert not at.exception
    assert "slice 1" in at.markdown[0].value
    at.radio(key="window_mode").set_value("Level / width").run()
    at.slider(key="window_level").set_value(0.3).run()
    assert not at.exception
    assert len(at.get("image")) == 2  # one modality + the structure map
