"""AppTest of the Latent space page on tiny trained runs: sliders change the maps, a latent renders
every modality, chosen latents become a synthetic set."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from synth_core.synthesis.setstore import SyntheticSet
from tests.conftest import ROOT
from tests.synthesis.conftest import train_synthesis_runs
from tests.training.conftest import make_tiny_dataset

PAGE = str(ROOT / "pages" / "latent.py")


def _images(at) -> list[bytes]:
    return [img.url for e in at.get("image") for img in e.proto.imgs]


def test_latent_page_without_runs_says_what_to_run(workspace):
    make_tiny_dataset(workspace)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("python -m training structure" in i.value for i in at.info)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("latentpage") / "ws"
    make_tiny_dataset(root, cases=6)
    train_synthesis_runs(root)
    return root


def test_latent_controls_render_and_save(trained, monkeypatch):
    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(trained))
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    assert not at.exception, at.exception
    assert at.selectbox(key="latent_structure_run").value == "st"
    assert at.selectbox(key="latent_mm_run").value == "mm"
    before = _images(at)
    assert len(before) == 1 + 4 + 2  # the open tab's grid only; map, mask, fused input, lesion; two modalities
    at.number_input(key="latent_seed").set_value(7).run()
    assert not at.exception
    assert _images(at)[0] != before[0], "a new seed shows new maps"
    first = at.get("image")[0].proto.imgs[0].caption
    assert "seed 7" in first and first.endswith("cyan: organ mask"), "the masks replace the maps-only grid"
    at.session_state["latent_tab"] = "Traversal"  # open the traversal tab: only it runs now
    at.run()
    assert not at.exception, at.exception
    assert at.get("image")[0].proto.imgs[0].caption.startswith("z = a·e0 + b·e1")
    assert "latent_seed" in at.session_state and at.session_state["latent_seed"] == 7  # the hidden tab keeps it
    at.slider(key="trav_span").set_value(3.5).run()
    assert not at.exception
    at.radio(key="render_source").set_value("traversal").run()
    assert not at.exception
    captions = [img.caption for e in at.get("image") for img in e.proto.imgs]
    assert "t1" in captions and "t2" in captions and any("fused input" in c for c in captions)
    at.text_input(key="latent_set_name").set_value("from-page")
    at.button(key="latent_add_all").click().run()
    assert not at.exception
    assert any("Saved 25 sample(s)" in s.value for s in at.success), [s.value for s in at.success]
    assert len(SyntheticSet(trained / "synthetic" / "from-page")) == 25
    at.text_input(key="latent_set_name").set_value("../bad")
    at.button(key="latent_add_one").click().run()
    assert not at.exception and any("set name" in e.value for e in at.error)


def test_whole_sample_follows_the_chosen_latent(trained, monkeypatch):
    monkeypatch.setenv("MEDSYNTH_WORKSPACE", str(trained))
    at = AppTest.from_file(PAGE, default_timeout=90).run()
    modality = lambda: [img.url for e in at.get("image") for img in e.proto.imgs if img.caption == "t1"]  # noqa: E731
    before = modality()
    at.number_input(key="latent_pick_random").set_value(3).run()
    assert not at.exception
    assert modality() != before, "the whole-sample view shows the newly picked latent"
