"""``python -m synth_core review``: decisions, tags and the table; one-line errors with exit 2."""

from __future__ import annotations

import pytest

from synth_core.review import ReviewLog
from synth_core.synthesis.setstore import SyntheticSet


def test_reject_keep_tag_and_list(ws, cli, set_path):
    r = cli("review", "fake", "--reject", "syn-000012", "--reason", "artefact")  # 12 samples: ids end at 11
    assert r.rc == 2 and r.err_lines == ["error: set 'fake' has no sample 'syn-000012' (its ids run syn-000000 .. "
                                         "syn-000011)"]
    r = cli("review", "fake", "--reject", "syn-000007", "syn-000008", "--reason", "artefact", "--note", "stripes")
    assert r.rc == 0 and r.out.strip() == "rejected 2 samples of set fake (artefact): syn-000007 syn-000008"
    r = cli("--workspace", str(ws.root), "review", "fake", "--keep", "syn-000001")
    assert r.rc == 0 and "kept 1 sample of set fake" in r.out
    r = cli("review", "fake", "--tag", "syn-000001", "bright rim", "--tag", "syn-000007", "bright rim")
    assert r.rc == 0 and r.out.count("tagged") == 2
    r = cli("review", "fake", "--untag", "syn-000007", "bright rim")
    assert r.rc == 0
    cat = SyntheticSet(set_path).catalog.set_index("sample_id")
    assert cat.loc["syn-000007", ["review", "review_reason", "review_tags"]].tolist() == ["rejected", "artefact", ""]
    assert cat.loc["syn-000001", ["review", "review_tags"]].tolist() == ["kept", "bright rim"]
    r = cli("review", "fake", "--list")
    assert r.rc == 0
    lines = r.out.strip().splitlines()
    assert lines[0].split() == ["sample_id", "review", "reason", "tags", "note", "time"]
    assert lines[1].startswith("syn-000001  kept") and "bright rim" in lines[1]
    assert lines[2].split()[:4] == ["syn-000007", "rejected", "artefact", "stripes"]
    assert lines[-1] == "set fake: 12 samples; 1 kept, 2 rejected (artefact 2), 9 not reviewed"
    r = cli("review", "fake", "--clear", "syn-000008")
    assert r.rc == 0 and cli("review", "fake", "--list").out.strip().splitlines()[-1] == \
        "set fake: 12 samples; 1 kept, 1 rejected (artefact 1), 10 not reviewed"
    r = cli("review", "fake", "--history")
    assert r.rc == 0 and len(r.out.strip().splitlines()) == 1 + len(ReviewLog(set_path).read())


def test_list_of_an_unreviewed_set(ws, cli):
    r = cli("review", "fake", "--list")
    assert r.rc == 0 and r.out.strip() == "set fake: 12 samples; 0 kept, 0 rejected, 12 not reviewed"


@pytest.mark.parametrize("argv, message", [
    (["review", "nosuch", "--list"], "'nosuch' not found"),
    (["review", "fake", "--reject", "syn-000001"], "a rejection needs a reason: one of artefact, anatomy"),
    (["review", "fake", "--reject", "syn-000001", "--reason", "ugly"], "unknown reason 'ugly'; expected one of artefact"),
    (["review", "fake", "--keep", "syn-000001", "--reason", "artefact"], "--reason goes with --reject only"),
    (["review", "fake", "--keep", "nope-1", "syn-000999"], "set 'fake' has no sample 'nope-1', 'syn-000999'"),
    (["review", "fake", "--tag", "syn-000001", "a,b"], "tag 'a,b' is not allowed"),
    (["review", "fake", "--tag", "syn-000001", "ok", "--tag", "syn-000555", "ok"], "no sample 'syn-000555'"),
    (["review", "fake", "--clear", "syn-000001", "--note", "x"], "--note goes with --keep or --reject only"),
])
def test_bad_requests_are_one_line_and_write_nothing(ws, cli, set_path, argv, message):
    r = cli(*argv)
    assert r.rc == 2 and len(r.err_lines) == 1 and r.err_lines[0].startswith("error: ") and message in r.err, r.err
    assert not (set_path / "review.jsonl").exists()
