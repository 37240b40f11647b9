"""Pages that only read stored results must not load torch (a cold torch import costs the first
render seconds on this CPU): each runs in a fresh process on a workspace with a dataset, a
synthetic set with its evaluation, a training run with metrics, and an ablation experiment."""

from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd

from synth_core.evaluation.table import COLUMNS, save_evaluation
from synth_core.workspace import Workspace
from tests.conftest import ROOT
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset
from synth_core.experiments.ablation import ROW_OFF, summary_frame
from synth_core.experiments.results import ExperimentStore
from synth_core.runs.folder import RunDir

PAGES = ("home", "datasets", "training_runs", "lesions", "quality", "review", "export", "reader_study")

SCRIPT = """
import sys
from streamlit.testing.v1 import AppTest

for page in sys.argv[1:]:
    at = AppTest.from_file(f"pages/{page}.py", default_timeout=120).run()
    assert not at.exception, (page, at.exception)
    if "torch" in sys.modules:
        raise SystemExit(f"pages/{page}.py imported torch")
print("ok")
"""


def test_result_pages_render_without_torch(workspace):
    make_tiny_dataset(workspace, cases=6)
    path = make_fake_set(workspace, n=8, name="fake")
    base = {"set": "fake", "dataset": "tiny", "run": "r", "region": "image", "n": 8, "extractor": "own:sg",
            "metric_version": "fid/1", "created": "2026-11-24T00:00:00Z", "note": ""}
    save_evaluation(path, pd.DataFrame([{**base, "modality": "t1", "metric": "fid", "value": 1.5}], columns=COLUMNS))
    ws = Workspace.open(workspace)
    run = RunDir.create(ws, "multimodal", "mm-run")
    run.write_config({"stage": "multimodal", "dataset": "tiny", "config": {"steps": 4},
                      "loss_names": ["g_total", "d_total"]})
    for step in range(1, 5):
        run.metrics.append({"step": step, "g_total": 1.0 / step, "d_total": 0.5, "images_per_sec": 3.0})
    run.metrics.close()
    run.write_status("finished")
    store = ExperimentStore(ws.experiments / "abl")
    store.write_config({"kind": "ablation", "dataset": "tiny", "rows": ["F"], "config": {"steps": 4}})
    store.write_summary(summary_frame([{"row": "F", "switched_off": ROW_OFF["F"], "seed": 0, "run": "x", "set": "x",
                                        "n": 8, "lesion_fidelity": 0.5}]))
    env = dict(os.environ, MEDSYNTH_WORKSPACE=str(workspace))
    done = subprocess.run([sys.executable, "-c", SCRIPT, *PAGES], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0 and done.stdout.strip().endswith("ok"), done.stdout[-2000:] + done.stderr[-2000:]
