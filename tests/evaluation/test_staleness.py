"""Evaluation rows record the set size they were computed on (``set_n``): rows of a set that has
grown since are stale and named so; tables saved before ``set_n`` existed still read, and an
addition stamps them with the old size."""

from __future__ import annotations

import numpy as np
import pandas as pd

from synth_core.evaluation.table import (COLUMNS, EVALUATION_FILE, load_evaluations, save_evaluation, stale_notes,
                                         stale_rows, stamp_set_size)
from synth_core.workspace import Workspace


def _rows(set_name: str, set_n: object, metrics: tuple[str, ...] = ("fid", "kid")) -> pd.DataFrame:
    base = dict(set=set_name, dataset="d", run="r", modality="t1", region="image", n=4, extractor="own:sg",
                metric_version="v", created="2026-12-01T00:00:00+00:00", note="")
    return pd.DataFrame([{**base, "metric": m, "value": 1.0 + k, "set_n": set_n} for k, m in enumerate(metrics)])


def test_rows_of_a_grown_set_are_stale_and_named_in_one_line_per_set():
    ev = pd.concat([_rows("a", 8), _rows("b", 8), _rows("c", pd.NA), _rows("d", 5), _rows("a", 10, ("frd",))],
                   ignore_index=True)
    sizes = {"a": 10, "b": 8, "c": 10}  # d: no longer a set
    assert stale_rows(ev, sizes).tolist() == [True, True, False, False, False, False, False, False, False]
    notes = stale_notes(ev, sizes)
    assert list(notes) == ["a"]
    assert notes["a"] == ("set 'a': 2 of its metric rows were computed when it held 8 samples; it holds 10 now "
                          "(samples were added since): evaluate it again")
    assert stale_notes(ev.iloc[0:0], sizes) == {}


def test_saving_keeps_set_n_and_a_table_without_it_still_reads(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    for name in ("new", "old"):
        (ws.synthetic / name).mkdir()
    saved = save_evaluation(ws.synthetic / "new", _rows("new", 6))
    assert list(saved.columns) == COLUMNS and saved["set_n"].tolist() == [6, 6]
    legacy = _rows("old", 0).drop(columns=["set_n"])  # as written before set_n was recorded
    legacy.to_parquet(ws.synthetic / "old" / EVALUATION_FILE, index=False)
    ev = load_evaluations(ws)
    assert ev.set_index("set")["set_n"].isna().to_dict() == {"new": False, "old": True}
    assert not stale_rows(ev, {"new": 6, "old": 9}).any()  # unknown size: not judged
    # an addition copies the old table and stamps the old set's size on rows that lack it
    assert stamp_set_size(ws.synthetic / "old", 7) and not stamp_set_size(tmp_path, 7)
    stamped = pd.read_parquet(ws.synthetic / "old" / EVALUATION_FILE)
    assert stamped["set_n"].tolist() == [7, 7] and np.allclose(stamped["value"], [1.0, 2.0])
    assert list(stale_notes(load_evaluations(ws), {"new": 6, "old": 9})) == ["old"]
    # a new evaluation of the grown set replaces the stale rows it recomputes; the rest stay stale
    save_evaluation(ws.synthetic / "old", _rows("old", 9, ("fid",)))
    ev = load_evaluations(ws)
    assert stale_notes(ev, {"new": 6, "old": 9})["old"].startswith("set 'old': 1 of its metric rows")
