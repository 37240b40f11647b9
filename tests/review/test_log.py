"""The review log: known answers, the rules of a line, a torn last line, and the property that the
latest decision per sample wins (also in the catalog)."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.errors import ConfigError
from synth_core.review import REVIEW_COLUMNS, ReviewEntry, ReviewLog, ReviewState, latest
from synth_core.synthesis.setstore import SyntheticSet


def test_decisions_and_tags_known_answers(set_path: Path):
    log = ReviewLog(set_path)
    assert log.read() == [] and log.state() == {} and log.stamp() == (0, 0)
    log.decide(["syn-000003"], "reject", reason="artefact", note="stripes at the top")
    log.retag(["syn-000003", "syn-000004"], add=["rim", "bright"])
    log.decide(["syn-000004", "syn-000005"], "keep")
    log.retag(["syn-000004"], remove=["rim"])
    log.decide(["syn-000005"], "clear")
    state = log.state()
    assert state["syn-000003"] == ReviewState("rejected", "artefact", "stripes at the top", state["syn-000003"].time,
                                              ("bright", "rim"))
    assert state["syn-000004"].status == "kept" and state["syn-000004"].tags == ("bright",)
    assert state["syn-000005"] == ReviewState("", "", "", state["syn-000005"].time, ())
    lines = (set_path / "review.jsonl").read_text().splitlines()
    assert len(lines) == 1 + 2 + 2 + 1 + 1
    first = json.loads(lines[0])
    assert set(first) == {"time", "sample_id", "decision", "reason", "note", "tags"}
    assert (first["sample_id"], first["decision"], first["reason"], first["note"], first["tags"]) == \
        ("syn-000003", "reject", "artefact", "stripes at the top", [])
    # a keep line carries the sample's tags at that moment; a tag line leaves the decision alone
    assert json.loads(lines[3])["tags"] == ["bright", "rim"] and json.loads(lines[3])["decision"] == "keep"
    assert [json.loads(x)["decision"] for x in lines] == ["reject", "tag", "tag", "keep", "keep", "tag", "clear"]
    # retagging with nothing new writes nothing
    size = log.stamp()[0]
    assert log.retag(["syn-000004"], add=["bright"]) == [] and log.stamp()[0] == size


def test_catalog_columns_follow_the_log(set_path: Path):
    before = {p.name: p.read_bytes() for p in set_path.iterdir() if p.is_file()}
    sset = SyntheticSet(set_path)
    cat = sset.catalog
    assert list(cat.columns[-3:]) == list(REVIEW_COLUMNS)
    assert (cat["review"] == "").all() and (cat["review_tags"] == "").all()
    assert list(cat.columns[:-3]) == list(sset.stored_catalog.columns)
    log = ReviewLog(set_path)
    log.decide(["syn-000001"], "reject", reason="copy")
    log.retag(["syn-000001"], add=["b", "a"])
    log.decide(["syn-000002"], "keep")
    cat = sset.catalog  # the same object sees the new lines (a page keeps sets open)
    assert cat.loc[1, ["review", "review_reason", "review_tags"]].tolist() == ["rejected", "copy", "a,b"]
    assert cat.loc[2, "review"] == "kept" and cat.loc[0, "review"] == ""
    assert len(sset.select("review != 'rejected'")) == 11
    assert sset.select("review == 'kept'")["sample_id"].tolist() == ["syn-000002"]
    assert "Rejected samples are never exported" in sset.column_help["review"]
    # never a rewrite of the set: its files are byte for byte what they were, plus the log
    after = {p.name: p.read_bytes() for p in set_path.iterdir() if p.is_file()}
    assert set(after) == set(before) | {"review.jsonl"}
    assert all(after[k] == v for k, v in before.items())


@pytest.mark.parametrize("kwargs, message", [
    (dict(sample_id="syn-1", decision="reject"), "a rejection needs a reason"),
    (dict(sample_id="syn-1", decision="reject", reason="ugly"), "unknown reason 'ugly'"),
    (dict(sample_id="syn-1", decision="keep", reason="artefact"), "a reason goes with a rejection only"),
    (dict(sample_id="syn-1", decision="maybe"), "unknown review decision 'maybe'"),
    (dict(sample_id="syn-1", decision="keep", note="two\nlines"), "one line"),
    (dict(sample_id="syn-1", decision="tag", tags=("a,b",)), "tag 'a,b' is not allowed"),
    (dict(sample_id="../x", decision="keep"), "sample id '../x' is not allowed"),
])
def test_bad_lines_are_refused_with_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        ReviewEntry(**kwargs)


def test_a_torn_last_line_is_ignored_and_closed_by_the_next_writer(set_path: Path, caplog):
    log = ReviewLog(set_path)
    log.decide(["syn-000001"], "keep")
    log.decide(["syn-000002"], "reject", reason="anatomy")
    whole = (set_path / "review.jsonl").read_bytes()
    torn = json.dumps(ReviewEntry("syn-000001", "reject", reason="label").to_json()).encode()[:37]
    (set_path / "review.jsonl").write_bytes(whole + torn)  # a kill -9 in the middle of a write
    with caplog.at_level(logging.WARNING):
        assert [e.sample_id for e in log.read()] == ["syn-000001", "syn-000002"]
    assert not caplog.records  # an incomplete last line is expected after a crash: no warning
    assert log.state()["syn-000001"].status == "kept"
    log.decide(["syn-000003"], "keep")  # ends the torn line first, so this line stays whole
    raw = (set_path / "review.jsonl").read_bytes()
    assert raw.startswith(whole + torn + b"\n") and raw.endswith(b"\n")
    with caplog.at_level(logging.WARNING):
        assert [e.sample_id for e in log.read()] == ["syn-000001", "syn-000002", "syn-000003"]
    assert any("unreadable review line" in r.message for r in caplog.records)


def test_unreadable_lines_in_the_middle_are_skipped(set_path: Path):
    good = [ReviewEntry("syn-000001", "keep"), ReviewEntry("syn-000002", "reject", reason="other")]
    text = (json.dumps(good[0].to_json()) + "\n" + "{not json}\n" + json.dumps({"sample_id": "syn-000002"}) + "\n"
            + json.dumps({**good[1].to_json(), "reason": "nonsense"}) + "\n" + json.dumps(good[1].to_json()) + "\n")
    (set_path / "review.jsonl").write_text(text)
    assert ReviewLog(set_path).read() == good


# ---- property: the latest decision wins ------------------------------------------------------------
IDS = ("syn-000000", "syn-000001", "syn-000002")
_entry = st.one_of(
    st.builds(lambda s, d: ("decide", s, d, ""), st.sampled_from(IDS), st.sampled_from(["keep", "clear"])),
    st.builds(lambda s, r: ("decide", s, "reject", r), st.sampled_from(IDS), st.sampled_from(["artefact", "copy"])),
    st.builds(lambda s, t, add: ("tag", s, t, add), st.sampled_from(IDS), st.sampled_from(["a", "b", "c"]), st.booleans()),
)


@pytest.fixture(scope="module")
def small_set(tmp_path_factory) -> Path:
    from tests.synthesis.fixtures import make_fake_set
    from tests.training.conftest import make_tiny_dataset

    root = tmp_path_factory.mktemp("property-ws")
    make_tiny_dataset(root, cases=3, slices=2)
    return make_fake_set(root, n=3, chunk=3)


@settings(max_examples=40, deadline=None)
@given(ops=st.lists(_entry, max_size=25), batch=st.integers(1, 4))
def test_the_latest_decision_per_sample_wins(small_set, ops, batch):
    """Whatever the order and however lines are batched into writes, each sample's review is its
    latest keep / reject / clear, and its tags those of its latest line; the catalog says the same."""
    status, reason, tags = {}, {}, {}
    log = ReviewLog(small_set)
    log.path.unlink(missing_ok=True)
    for k in range(0, len(ops), batch):  # several lines per write
        entries = []
        for op in ops[k:k + batch]:
            s = op[1]
            if op[0] == "decide":
                status[s] = {"keep": "kept", "reject": "rejected", "clear": ""}[op[2]]
                reason[s] = op[3]
                entries.append(ReviewEntry(s, op[2], reason=op[3], tags=tuple(sorted(tags.get(s, ())))))
            else:
                cur = set(tags.get(s, ()))
                tags[s] = cur | {op[2]} if op[3] else cur - {op[2]}
                entries.append(ReviewEntry(s, "tag", tags=tuple(sorted(tags[s]))))
        log.append(entries)
    got = log.state()
    assert got == latest(log.read())
    for s in IDS:
        g = got.get(s, ReviewState())
        assert (g.status, g.reason, g.tags) == (status.get(s, ""), reason.get(s, ""), tuple(sorted(tags.get(s, ()))))
    cat = SyntheticSet(small_set).catalog.set_index("sample_id")
    for s in IDS:
        assert cat.loc[s, "review"] == status.get(s, "")
        assert cat.loc[s, "review_tags"] == ",".join(sorted(tags.get(s, ())))
