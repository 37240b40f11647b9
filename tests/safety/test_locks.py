"""Two real processes writing the same item: the second waits for the first's lock (or is refused),
so no write is lost. The first process is paused inside its read-modify-write (test hook) while
the second starts; without the lock the second would read the same old table and one of the
two additions would be lost."""

from __future__ import annotations

import time
from pathlib import Path

import pandas as pd
import pytest

from synth_core.errors import ExistsError
from synth_core.locks import BusyError, is_locked, item_lock
from synth_core.workspace import Workspace
from tests.safety.procs import spawn

SAVE_EVAL = """
    import pandas as pd
    from synth_core.evaluation.table import COLUMNS, save_evaluation
    row = dict.fromkeys(COLUMNS, "")
    row.update(set="s", dataset="d", run="r", modality="t1", metric={metric!r}, region="whole", value={value},
               n=4, extractor="hand")
    save_evaluation({path!r}, pd.DataFrame([row]))
"""

APPEND = """
    from synth_core.workspace import Workspace
    from synth_core.experiments.results import ExperimentStore
    store = ExperimentStore.open(Workspace.open({ws!r}), "exp", must_exist=False)
    store.append_result({{"config": "f=1 k=0 mode=real-only aug=0", "real_fraction": 1.0, "synthetic_multiplier": 0.0,
                          "mode": "real-only", "augmentation": False, "n_real": 10, "n_synthetic": 0,
                          "n_synthetic_wanted": 0, "capped": False, "seed": {seed}, "dice": 0.5, "dice_lesion": 0.5,
                          "mse": 1.0, "hd95": 2.0}})
"""


def _second_waits_then_both_land(first, second) -> None:
    first.wait_paused()
    time.sleep(1.5)  # the second has started and reached the lock by now
    assert second.proc.poll() is None, "the second writer did not wait for the first one's lock"
    first.go_on()
    second.go_on()


def test_two_evaluations_saved_at_once_both_land(tmp_path):
    set_path = tmp_path / "ws" / "synthetic" / "s"
    set_path.mkdir(parents=True)
    a = spawn(SAVE_EVAL.format(metric="fid", value=1.5, path=str(set_path)), tmp_path, pause_at="save_evaluation:read",
              tag="a")
    a.wait_paused()
    b = spawn(SAVE_EVAL.format(metric="kid", value=0.25, path=str(set_path)), tmp_path, tag="b")
    _second_waits_then_both_land(a, b)
    saved = pd.read_parquet(set_path / "evaluation.parquet").set_index("metric")["value"].to_dict()
    assert saved == {"fid": 1.5, "kid": 0.25}


def test_two_experiment_results_appended_at_once_both_land(tmp_path):
    ws = tmp_path / "ws"
    a = spawn(APPEND.format(ws=str(ws), seed=0), tmp_path, pause_at="append_result:read", tag="a")
    a.wait_paused()
    b = spawn(APPEND.format(ws=str(ws), seed=1), tmp_path, tag="b")
    _second_waits_then_both_land(a, b)
    results = pd.read_parquet(ws / "experiments" / "exp" / "results.parquet")
    assert sorted(results["seed"].tolist()) == [0, 1]


HOLD_RUN = """
    from synth_core.atomic import pause_point
    from synth_core.workspace import Workspace
    from synth_core.runs.folder import RunDir
    run = RunDir.create(Workspace.open({ws!r}), "structure", "r1", hold=True)
    pause_point("test:holding")
    run.release()
"""


def test_a_run_held_by_a_trainer_cannot_be_created_resumed_or_deleted_by_another_process(tmp_path):
    from training.experiments.ablation import train_row
    from synth_core.runs.folder import RunDir

    ws = Workspace.open(tmp_path / "ws")
    holder = spawn(HOLD_RUN.format(ws=str(ws.root)), tmp_path, pause_at="test:holding")
    holder.wait_paused()
    path = ws.runs / "r1"
    assert is_locked(path)
    with pytest.raises(BusyError):
        RunDir.create(ws, "structure", "r1")
    with pytest.raises(BusyError):  # what --resume does first
        RunDir(path).hold()
    # the ablation removes a run folder without checkpoint only when nobody is training it
    (path / "config.json").write_text('{"stage": "multimodal", "config": {"ablation": "A"}}')

    class Row:  # the two fields train_row reads before it would train
        ablation = "A"

    with pytest.raises(BusyError):
        train_row(ws, Row(), "r1", progress=False)
    assert path.is_dir()
    holder.kill9()  # the kernel releases the lock of a killed holder
    assert not is_locked(path)
    with pytest.raises(ExistsError):
        RunDir.create(ws, "structure", "r1")
    RunDir(path).hold().release()


def test_item_lock_times_out_with_a_one_line_error(tmp_path):
    holder = spawn(f"""
        from synth_core.atomic import pause_point
        from synth_core.locks import item_lock
        with item_lock({str(tmp_path / 'x')!r}):
            pause_point("test:holding")
    """, tmp_path, pause_at="test:holding")
    holder.wait_paused()
    with pytest.raises(BusyError, match="still being written"):
        with item_lock(tmp_path / "x", timeout=0.2):
            pass
    holder.go_on()
    with item_lock(tmp_path / "x", timeout=5):
        assert Path(tmp_path / ".x.lock").exists()
