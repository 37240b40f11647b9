"""record_answer / progress: the append-only answer log and its validation."""

from __future__ import annotations

import json
import os

import pytest

from synth_core.errors import ConfigError
from synth_core.readerstudy import create_study, latest_answers, open_study, progress, read_responses, record_answer
from synth_core.readerstudy import responses as responses_mod


@pytest.fixture
def s1(study_ws):
    create_study(study_ws, "s1", dataset="tiny", set_name="fake", n_real=2, n_synthetic=2, modality="t1")
    return study_ws


def test_answers_are_appended_and_progress_follows(s1, monkeypatch):
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(responses_mod.os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd)))
    assert progress(s1, "s1", "reader-1") == (0, 4, "0001")
    rec = record_answer(s1, "s1", "reader-1", "0001", "synthetic", 4)
    assert rec["item"] == "0001" and rec["answer"] == "synthetic" and rec["confidence"] == 4
    record_answer(s1, "s1", "reader-1", 3, "Real", 2)  # int item, answer case-insensitive
    assert progress(s1, "s1", "reader-1") == (2, 4, "0002")
    assert progress(s1, "s1", "reader_2") == (0, 4, "0001")  # per rater
    lines = (s1 / "studies" / "s1" / "responses.jsonl").read_text().splitlines()
    assert [json.loads(x)["item"] for x in lines] == ["0001", "0003"] and len(synced) == 2
    for item in ("0002", "0004"):
        record_answer(s1, "s1", "reader-1", item, "real", 1)
    assert progress(s1, "s1", "reader-1") == (4, 4, None)


def test_a_repeated_answer_replaces_the_earlier_one(s1):
    record_answer(s1, "s1", "r1", "0001", "real", 5)
    record_answer(s1, "s1", "r1", "0001", "synthetic", 2)
    st = open_study(s1, "s1")
    assert len(read_responses(st)) == 2  # nothing is rewritten
    latest = latest_answers(st)
    assert len(latest) == 1 and latest.iloc[0]["answer"] == "synthetic" and latest.iloc[0]["confidence"] == 2
    assert progress(s1, "s1", "r1")[0] == 1


@pytest.mark.parametrize(
    ("rater", "item", "answer", "confidence", "words"),
    [
        ("", "0001", "real", 3, "must not be empty"),
        ("Dr. Smith", "0001", "real", 3, "not allowed"),
        ("../x", "0001", "real", 3, "not allowed"),
        ("r1", "0009", "real", 3, "no item"),
        ("r1", "abc", "real", 3, "no item"),
        ("r1", "0001", "maybe", 3, "'real' or 'synthetic'"),
        ("r1", "0001", "real", 0, "from 1"),
        ("r1", "0001", "real", 6, "from 1"),
        ("r1", "0001", "real", 2.5, "whole number"),
        ("r1", "0001", "real", True, "whole number"),
    ],
)
def test_bad_answers_are_refused(s1, rater, item, answer, confidence, words):
    with pytest.raises(ConfigError, match=words):
        record_answer(s1, "s1", rater, item, answer, confidence)
    assert not (s1 / "studies" / "s1" / "responses.jsonl").exists()


def test_a_torn_line_is_skipped_and_closed(s1):
    record_answer(s1, "s1", "r1", "0001", "real", 5)
    f = s1 / "studies" / "s1" / "responses.jsonl"
    with open(f, "a") as fh:
        fh.write('{"rater": "r1", "item": "0002", "ans')  # crash mid-write
    record_answer(s1, "s1", "r1", "0003", "real", 5)
    assert list(read_responses(open_study(s1, "s1"))["item"]) == ["0001", "0003"]
    assert progress(s1, "s1", "r1") == (2, 4, "0002")
