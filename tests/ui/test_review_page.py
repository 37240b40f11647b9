"""AppTest of the Review page: keyed keep / reject / tag / page-through interactions write the set's
review log, move through the gallery and show up in the catalog; bulk actions on the view."""

from __future__ import annotations

from streamlit.testing.v1 import AppTest

from synth_core.review import ReviewLog
from synth_core.review.view import ViewSpec, default_sort, select_view
from synth_core.synthesis.setstore import SyntheticSet
from tests.conftest import ROOT
from tests.training.conftest import make_tiny_dataset

PAGE = str(ROOT / "pages" / "review.py")


def _metrics(at) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def test_review_page_empty_state(workspace):
    make_tiny_dataset(workspace)
    at = AppTest.from_file(PAGE, default_timeout=60).run()
    assert not at.exception
    assert any("synthesize" in i.value for i in at.info)


def test_keep_reject_tag_and_page_through(fake_set):
    path = fake_set(n=30)
    sset = SyntheticSet(path)
    order = select_view(sset.catalog, ViewSpec(default_sort(sset.catalog), True)).sample_id.tolist()
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    assert not at.exception, at.exception
    assert _metrics(at)["Reviewed"] == "0 / 30"
    assert at.selectbox(key="review_sort").value == default_sort(sset.catalog) == "dice_t1"  # worst lesion Dice first
    assert at.session_state["review_current"] == order[0]
    assert len([b for b in at.button if b.key and b.key.startswith("review_open_")]) == 24  # one page of tiles

    # keep: recorded, and the next sample opens
    at.button(key="review_keep").click().run()
    assert not at.exception, at.exception
    assert ReviewLog(path).state()[order[0]].status == "kept"
    assert at.session_state["review_current"] == order[1]
    # reject with a chosen reason and a note
    at.selectbox(key="review_reason").set_value("anatomy")
    at.text_input(key="review_note").set_value("outline broken at the top")
    at.button(key="review_reject").click().run()
    st1 = ReviewLog(path).state()[order[1]]
    assert (st1.status, st1.reason, st1.note) == ("rejected", "anatomy", "outline broken at the top")
    assert at.session_state["review_current"] == order[2] and at.text_input(key="review_note").value == ""
    assert _metrics(at)["Kept"] == "1" and _metrics(at)["Rejected"] == "1"
    assert any(c.value.startswith(f"{order[1]} · dice_t1") and "✗ anatomy" in c.value for c in at.caption)
    # next / previous, and opening a tile
    at.button(key="review_next").click().run()
    assert at.session_state["review_current"] == order[3]
    at.button(key="review_prev").click().run()
    at.button(key="review_prev").click().run()
    assert at.session_state["review_current"] == order[1]
    at.button(key=f"review_open_{order[5]}").click().run()
    assert at.session_state["review_current"] == order[5]
    # tags: add two, remove one
    at.text_input(key="review_tag_input").set_value("bright rim, check again")
    at.button(key="review_tag_add").click().run()
    assert not at.exception, at.exception
    assert ReviewLog(path).state()[order[5]].tags == ("bright rim", "check again")
    assert any("`bright rim`" in c.value for c in at.caption)
    at.button(key="review_untag_0").click().run()
    assert ReviewLog(path).state()[order[5]].tags == ("check again",)
    at.text_input(key="review_tag_input").set_value("bad,tag!")
    at.button(key="review_tag_add").click().run()
    assert any("is not allowed" in e.value for e in at.error)
    # page through: 30 samples at 24 per page
    at.button(key="review_next_page").click().run()
    assert at.session_state["review_page"] == 1 and at.session_state["review_current"] == order[24]
    assert len([b for b in at.button if b.key and b.key.startswith("review_open_")]) == 6
    assert any("Page **2** of 2" in m.value for m in at.markdown)
    at.button(key="review_prev").click().run()  # previous sample crosses back to page 1
    assert at.session_state["review_current"] == order[23] and at.session_state["review_page"] == 0
    # the catalog (what filters and export read) says the same
    cat = SyntheticSet(path).catalog.set_index("sample_id")
    assert cat.loc[order[0], "review"] == "kept" and cat.loc[order[1], "review_reason"] == "anatomy"
    assert cat.loc[order[5], "review_tags"] == "check again"
    # only the rejected ones; clear the decision
    at.selectbox(key="review_show").set_value("rejected").run()
    assert at.session_state["review_order"] == [order[1]] and at.session_state["review_current"] == order[1]
    at.button(key="review_clear").click().run()
    assert ReviewLog(path).state()[order[1]].status == ""
    assert any("No sample in this view" in i.value for i in at.info)


def test_bulk_actions_on_the_view_and_sorting(fake_set):
    path = fake_set()
    cat = SyntheticSet(path).catalog
    at = AppTest.from_file(PAGE, default_timeout=120).run()
    at.selectbox(key="review_sort").set_value("nn_dist")
    at.radio(key="review_order_dir").set_value("highest first").run()
    assert at.session_state["review_order"] == cat.sort_values("nn_dist", ascending=False).sample_id.tolist()
    at.text_input(key="review_filter").set_value("nosuch > 1").run()
    assert any("unknown column 'nosuch'" in e.value for e in at.error)
    at.text_input(key="review_filter").set_value("nn_dist < 0.2").run()
    close = cat[cat.nn_dist < 0.2].sample_id.tolist()
    assert sorted(at.session_state["review_order"]) == sorted(close) and 0 < len(close) < 12
    at.button(key="review_bulk_reject").click().run()  # not confirmed: nothing happens
    assert any("I mean all" in e.value for e in at.error) and not ReviewLog(path).read()
    at.selectbox(key="review_reason").set_value("copy")
    at.checkbox(key="review_bulk_confirm").check()
    at.button(key="review_bulk_reject").click().run()
    assert not at.exception, at.exception
    state = ReviewLog(path).state()
    assert sorted(state) == sorted(close) and {(s.status, s.reason) for s in state.values()} == {("rejected", "copy")}
    assert at.checkbox(key="review_bulk_confirm").value is False  # one confirmation per bulk action
    assert _metrics(at)["Rejected"] == str(len(close))
    at.checkbox(key="review_bulk_confirm").check()
    at.text_input(key="review_bulk_tag").set_value("near copy")
    at.button(key="review_bulk_tag_go").click().run()
    assert all(s.tags == ("near copy",) for s in ReviewLog(path).state().values())
    assert SyntheticSet(path).select("review != 'rejected'").shape[0] == 12 - len(close)


def test_export_page_leaves_rejected_samples_out(workspace, fake_set):
    from synth_core.export.manifest import read as read_manifest
    from synth_core.review.setreview import SetReview
    from synth_core.workspace import Workspace

    fake_set()
    SetReview.open(Workspace.open(workspace), "fake").reject(["syn-000002", "syn-000007"], reason="artefact")
    at = AppTest.from_file(str(ROOT / "pages" / "export.py"), default_timeout=90).run()
    assert not at.exception, at.exception
    assert at.metric[0].value == "10 / 12"
    assert any("2 sample(s) rejected on the Review page" in c.value for c in at.caption)
    at.text_input(key="export_out").set_value("ex-reviewed")
    at.button(key="export_go").click().run()
    assert not at.exception, at.exception
    assert any("10 synthetic" in s.value for s in at.success), [s.value for s in at.success]
    m = read_manifest(workspace / "exports" / "ex-reviewed")
    gone = m[m["sample_id"].isin(["syn-000002", "syn-000007"])]
    assert (gone["decision"] == "rejected in review (artefact)").all() and (gone["path"] == "").all()
