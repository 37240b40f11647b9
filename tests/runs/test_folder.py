"""The run folder (synth_core.runs.folder): the one module that knows its file names."""

from __future__ import annotations

import re

import pytest

from synth_core.errors import ConfigError
from synth_core.runs.folder import CONFIG, LOG, METRICS, STATUS, VALIDATION, RunDir, checkpoint_file
from synth_core.runs.summary import runs_table, validation_frame
from synth_core.workspace import Workspace
from tests.conftest import ROOT


def test_a_run_folder_round_trips_its_records(workspace):
    ws = Workspace.open(workspace)
    run = RunDir.create(ws, "segmenter", "r1")
    assert not run.has_config() and run.read_status() == {} and run.read_validation() == []
    run.write_config({"stage": "segmenter", "dataset": "d"})
    run.metrics.append({"step": 1, "loss": 0.5})
    run.metrics.close()
    run.append_validation(1, {"score": 0.25})
    run.write_status("running", step=1)
    assert run.has_config() and run.read_config()["stage"] == "segmenter"
    assert run.read_metrics() == [{"step": 1, "loss": 0.5}]
    assert validation_frame(run).to_dict("records") == [{"step": 1, "score": 0.25}]
    assert [p.name for p in run.record_files()] == [CONFIG, STATUS, METRICS, VALIDATION]
    assert run.checkpoint_path("best").name == "best.pt" and run.log_path.name == LOG
    assert runs_table(ws).iloc[0][["run", "stage", "state", "step"]].tolist() == ["r1", "segmenter", "running", 1]


def test_an_incomplete_last_validation_line_is_skipped(workspace):
    run = RunDir.create(Workspace.open(workspace), "segmenter", "r2")
    run.append_validation(1, {"score": 0.5})
    with open(run.path / VALIDATION, "a") as fh:
        fh.write('{"step": 2, "sc')
    assert run.read_validation() == [{"step": 1, "score": 0.5}]


def test_unknown_checkpoint_kind_is_refused_by_name():
    with pytest.raises(ConfigError, match='checkpoint must be "last" or "best", not "final"'):
        checkpoint_file("final")


def test_no_other_module_spells_the_run_folder_file_names():
    names = [CONFIG, STATUS, METRICS, VALIDATION, LOG, "last.pt", "best.pt"]
    literal = re.compile("[\"'](" + "|".join(re.escape(n) for n in names) + ")[\"']")
    # config.json is also the name of other folders' descriptions (experiments, studies)
    run_only = re.compile(r"(runs?|run\.path|run_dir)\b.{0,40}[\"']config\.json[\"']")
    found = []
    for path in sorted([*ROOT.glob("synth_core/**/*.py"), *ROOT.glob("training/**/*.py"), *ROOT.glob("pages/*.py"),
                        *ROOT.glob("ui/*.py"), ROOT / "app.py"]):
        if path == ROOT / "synth_core" / "runs" / "folder.py":
            continue
        for i, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            m = literal.search(line)
            if m and (m.group(1) != CONFIG or run_only.search(line)):
                found.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert not found, "\n".join(found)
