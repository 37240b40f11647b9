"""AppTest of the Reader study page: empty states, set up a study, rate with keyed buttons (also in
presentation mode), and see the results with the right accuracy."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from synth_core.readerstudy import open_study, progress, read_responses
from tests.conftest import ROOT
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset

PAGE = str(ROOT / "pages" / "reader_study.py")


def test_empty_states_say_what_to_run(workspace):
    at = AppTest.from_file(PAGE, default_timeout=30).run()
    assert not at.exception
    assert any("demo-data" in i.value for i in at.info)  # no dataset
    make_tiny_dataset(workspace, cases=6)
    at.run()
    assert not at.exception
    assert any("python -m synth_core synthesize" in i.value and "Latent space" in i.value for i in at.info)
    at.radio(key="part").set_value("Rate images").run()
    assert any("reader-study create" in i.value for i in at.info)  # no study yet


def test_create_rate_and_score(workspace):
    make_tiny_dataset(workspace, cases=6)
    make_fake_set(workspace, n=6)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    # (a) set up: a bad name is refused at the edge, then a good one
    at.number_input(key="study_n_real").set_value(5)  # the test split has 4 slices
    at.number_input(key="study_n_synthetic").set_value(3)
    at.text_input(key="study_name").set_value("s1")
    at.button(key="study_create").click().run()
    assert not at.exception and any("ask for at most 4" in e.value for e in at.error)
    at.number_input(key="study_n_real").set_value(3)
    at.text_input(key="study_name").set_value("../escape")
    at.button(key="study_create").click().run()
    assert not at.exception and any("not allowed" in e.value for e in at.error)
    at.text_input(key="study_name").set_value("s1")
    at.button(key="study_create").click().run()
    assert not at.exception and any("Created study s1" in s.value for s in at.success)
    key = open_study(workspace, "s1").key().set_index("item")["source"]

    # (b) rate: no key on screen; answers saved per click; 3 right, then 1 wrong
    at.radio(key="part").set_value("Rate images").run()
    at.text_input(key="rater_id").input("Dr Who").run()
    assert any("not allowed" in e.value for e in at.error)
    at.text_input(key="rater_id").input("r1").run()
    assert at.get("progress")[0].proto.text == "0 of 6"
    for k in range(4):
        item = progress(workspace, "s1", "r1")[2]
        truth = key[item]
        answer = truth if k < 3 else ("real" if truth == "synthetic" else "synthetic")
        at.slider(key="confidence").set_value(5).run()
        at.button(key=f"answer_{answer}").click().run()
        assert not at.exception
        assert at.slider(key="confidence").value == 3  # reset for the next image
        if k == 1:  # presentation mode: plain question, no title, still rating
            at.toggle(key="presentation").set_value(True).run()
            assert not at.exception and not at.title
            assert any("is it real or synthetic" in m.value for m in at.markdown)
    assert at.get("progress")[0].proto.text == "4 of 6"
    assert "synthetic" not in " ".join(c.value for c in at.caption).replace("real or synthetic", "")
    resp = read_responses(open_study(workspace, "s1"))
    assert list(resp["confidence"]) == [5, 5, 5, 5] and set(resp["rater"]) == {"r1"}
    at.toggle(key="presentation").set_value(False).run()
    assert at.title[0].value == "Reader study" and at.text_input(key="rater_id").value == "r1"

    # (c) results: hidden until revealed, then accuracy 3/4
    at.radio(key="part").set_value("Results").run()
    assert not at.dataframe and any("reveal which images" in i.value for i in at.info)
    at.toggle(key="reveal_key").set_value(True).run()
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Accuracy"] == "0.75" and metrics["Readers"] == "1"
    agreement = at.dataframe[-1].value  # per-image table (dataframes carry no key in AppTest)
    assert len(agreement) == 6 and agreement["image"].str.startswith("data:image/png;base64,").all()
    assert int(agreement["n_answers"].sum()) == 4
