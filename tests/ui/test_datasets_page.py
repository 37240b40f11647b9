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


def test_datasets_page_names_the_cases_ingested_without_a_label(workspace, tmp_path):
    from synth_core.cli import main
    from tests.ingest import fixtures as F

    src = F.write_lits(tmp_path / "lits", n=3)
    (src / "segmentation-1.nii").unlink()
    assert main(["--workspace", str(workspace), "ingest", "--layout", "lits", str(src), "--name", "l", "--size", "32",
                 "--no-progress", "--allow-unlabelled"]) == 0
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="dataset_select").value == "l"
    assert any("1 case(s) had no segmentation file" in w.value and "volume-1" in w.value and "volume-2" not in w.value
               for w in at.warning), [w.value for w in at.warning]
    at.checkbox(key="only_lesions").uncheck().run()  # volume-1 has no lesion slice: show every slice
    seen = set()
    for pos in range(int(at.slider(key="slice_slider").max) + 1):
        at.slider(key="slice_slider").set_value(pos).run()
        line = at.markdown[0].value
        seen.add((line.split("**")[1], "no segmentation file: no lesion label" in line))
    assert seen == {("volume-0", False), ("volume-1", True), ("volume-2", False)}  # said on each of its slices
    _tiny_dataset(workspace, "tiny")  # a dataset with every label: no such warning
    at.run()
    at.selectbox(key="dataset_select").set_value("tiny").run()
    assert not any("no segmentation file" in w.value for w in at.warning)
