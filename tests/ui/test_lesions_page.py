"""AppTest of the Lesion augmentation page: bank, ranges, preview verdicts, saving a label set."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from synth_core.lesions.labelset import LabelSet
from tests.conftest import ROOT
from tests.training.conftest import make_tiny_dataset
from tests.ui.test_home_page import _tiny_dataset

PAGE = str(ROOT / "pages" / "lesions.py")


def _accepted(at) -> tuple[int, int]:
    a, n = at.metric[0].value.split(" / ")
    return int(a), int(n)


def test_lesions_page_without_labels_says_so(workspace):
    _tiny_dataset(workspace, "nolabels")
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("no lesion labels" in i.value for i in at.info)


def test_lesions_page_preview_ranges_and_save(workspace):
    make_tiny_dataset(workspace, cases=6)
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception
    assert "Lesion bank" in at.subheader[0].value
    a, n = _accepted(at)
    assert n == 16 and 0 <= a <= n
    # a huge scale pushes lesions out of the organ: the preview rejects more
    at.slider(key="scale_range").set_value((1.9, 2.0)).run()
    assert not at.exception
    big, _ = _accepted(at)
    at.slider(key="scale_range").set_value((0.5, 0.6)).run()
    small, _ = _accepted(at)
    assert small >= big
    assert any("rejected" in (img.caption or "") for e in at.get("image") for img in e.proto.imgs) or big == 16
    at.slider(key="containment").set_value(0.5).run()
    assert not at.exception
    at.text_input(key="labelset_name").set_value("aug1")
    at.number_input(key="labelset_n").set_value(12)
    at.button(key="labelset_save").click().run()
    assert not at.exception
    assert any("Saved aug1" in s.value for s in at.success)
    ls = LabelSet.load(workspace / "lesions" / "aug1")
    assert ls.labels.shape[0] == 12 and ls.meta["ranges"]["containment"] == 0.5
    assert all(np.array_equal(ls.replay(i), ls.labels[i]) for i in range(12))


def test_lesions_page_rejects_a_bad_set_name(workspace):
    make_tiny_dataset(workspace)
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    at.text_input(key="labelset_name").set_value("../escape")
    at.button(key="labelset_save").click().run()
    assert not at.exception
    assert any("not allowed" in e.value for e in at.error)
    assert not (workspace.parent / "escape").exists()
