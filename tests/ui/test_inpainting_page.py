"""AppTest of the Lesion inpainting page on tiny trained pix2pix runs: empty states, a lesion placed
by hand (accepted or refused), a drawn lesion (refused outside the organ, kept inside it), whitened
input beside the fill of one or two runs (one per modality), keeping samples and saving a set."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from tests.synthesis.test_inpaint import TINY, make_inpaint_dataset

PAGE = str(ROOT / "pages" / "inpainting.py")


def test_inpainting_page_without_a_pix2pix_run_says_what_to_run(workspace):
    make_inpaint_dataset(workspace)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("python -m training pix2pix --dataset paint" in i.value for i in at.info)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from training.cli import main as training_main

    root = tmp_path_factory.mktemp("inpaintpage") / "ws"
    make_inpaint_dataset(root)
    assert training_main(["--workspace", str(root), "pix2pix", "--dataset", "paint", "--steps", "2",
                          "--run-name", "p2p-t2", *TINY, "--set", "modality=t2"]) == 0
    assert training_main(["--workspace", str(root), "pix2pix", "--dataset", "paint", "--steps", "2",
                          "--run-name", "p2p", *TINY]) == 0
    return root


def test_place_by_hand_see_the_fill_keep_and_save(trained, monkeypatch):
    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(trained))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    assert at.multiselect(key="inpaint_runs").value == ["p2p"]
    assert len(at.image) == 4  # real slice, whitened input, fill, label
    # far outside the organ: refused with the reason, nothing to keep
    at.slider(key="inpaint_cy").set_value(1).run()
    at.slider(key="inpaint_cx").set_value(1).run()
    assert not at.exception and any("does not fit here" in w.value for w in at.warning)
    assert len(at.image) == 0
    at.slider(key="inpaint_cy").set_value(18).run()
    at.slider(key="inpaint_cx").set_value(18).run()
    assert not at.warning and len(at.image) == 4
    at.button(key="inpaint_keep").click().run()
    at.radio(key="inpaint_how").set_value("random").run()
    assert not at.exception and len(at.image) == 4
    at.button(key="inpaint_keep").click().run()
    assert "2 kept samples" in at.markdown[-1].value or any("2 kept samples" in m.value for m in at.markdown)
    at.text_input(key="inpaint_set_name").set_value("kept-paint").run()
    at.button(key="inpaint_save").click().run()
    assert not at.exception and any("Saved 2 samples" in s.value for s in at.success)
    s = SyntheticSet(Workspace.open(trained).existing("synthetic", "kept-paint"))
    assert len(s) == 2 and s.modalities == ("t1",) and s.meta["generator"] == "pix2pix"
    assert (s.catalog["seed"] == -1).all() and np.asarray(s.labels).reshape(2, -1).max(1).min() > 0
    # the same name again is refused in one line
    for _ in range(2):
        at.button(key="inpaint_keep").click().run()
    at.button(key="inpaint_save").click().run()
    assert any("already exists" in e.value for e in at.error)


def test_draw_a_lesion_inside_the_organ_fill_two_modalities_and_save(trained, monkeypatch):
    from synth_core.lesions.drawn import DrawnLesion
    from synth_core.synthesis.regenerate import regenerate

    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(trained))
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.multiselect(key="inpaint_runs").set_value(["p2p", "p2p-t2"]).run()
    assert not at.exception, at.exception
    assert any("Filled: t1 by run 'p2p'" in c.value and "t2 by run 'p2p-t2'" in c.value for c in at.caption)
    at.radio(key="inpaint_how").set_value("draw").run()
    assert not at.exception, at.exception
    assert len(at.image) == 7  # per modality: real, whitened, fill; plus the label
    # centred in the corner: outside the organ, refused with the reason and nothing to keep
    at.slider(key="draw_cy").set_value(5).run()
    at.slider(key="draw_cx").set_value(5).run()
    warn = " ".join(w.value for w in at.warning)
    assert "The drawn lesion does not fit here (outside organ" in warn and "lies outside the organ" in warn
    assert len(at.image) == 0 and not any(b.key == "inpaint_keep" for b in at.button)
    at.slider(key="draw_cy").set_value(20).run()
    at.slider(key="draw_cx").set_value(20).run()
    at.slider(key="draw_core").set_value(0.5).run()
    at.selectbox(key="draw_label").set_value(2).run()
    at.selectbox(key="draw_core_label").set_value(1).run()
    assert not at.warning and len(at.image) == 7
    at.button(key="inpaint_keep").click().run()
    assert any("1 kept samples" in m.value and "1 drawn" in m.value for m in at.markdown)
    at.text_input(key="inpaint_set_name").set_value("drawn-paint").run()
    at.button(key="inpaint_save").click().run()
    assert not at.exception and any("Saved 1 samples" in s.value for s in at.success)
    ws = Workspace.open(trained)
    s = SyntheticSet(ws.existing("synthetic", "drawn-paint"))
    assert s.modalities == ("t1", "t2") and set(s.meta["runs"]) >= {"pix2pix:t1", "pix2pix:t2"}
    row = s.catalog.iloc[0]
    assert row["lesion_source"] == "drawn" and row["lesion_index"] == -1
    drawn = DrawnLesion.from_json(row["lesion_drawn"])
    assert drawn.radii == (4.0, 3.0) and drawn.label == 2 and drawn.core_label == 1 and drawn.core_fraction == 0.5
    labels = np.asarray(s.labels[0])
    assert set(np.unique(labels)) >= {1, 2} and labels[20, 20] == 1  # the core at the centre
    res = regenerate(ws, "drawn-paint", 0)
    assert res.identical and res.note == "bit-exact", res.note
