"""``python -m training demo``: every stage in its own run, the four that need no other run trained at
once in worker processes (``--jobs``), the image generator pointed at the helpers just trained."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.training.conftest import make_tiny_dataset
from training.cli import main
from training.demo import INDEPENDENT, ORDER, default_jobs

TINY = ["--dataset", "tiny", "--no-progress",
        *[a for kv in ("steps=1", "pretrain_steps=1", "mask_steps=1", "batch_size=2", "base_channels=4", "depth=2",
                       "d_n_down=2", "latent_dim=8", "n_down=2", "d_channels=4", "mask_channels=4", "mask_depth=2",
                       "dz_hidden=8", "max_channels=8", "sample_every=0", "val_slices=4", "modality=t2")
          for a in ("--set", kv)]]


def _cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def _run(ws: Path, run_id: str) -> tuple[dict, dict]:
    folder = ws / "runs" / run_id
    return json.loads((folder / "config.json").read_text())["config"], json.loads((folder / "status.json").read_text())


@pytest.fixture(scope="module")
def ws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "ws"
    make_tiny_dataset(root)
    return root


def test_default_jobs_is_one_per_core_up_to_the_independent_stages():
    assert default_jobs() == max(1, min(4, _cores()))
    assert set(INDEPENDENT) == set(ORDER) - {"multimodal"}


def test_two_jobs_train_the_independent_stages_in_workers_then_the_generator_on_the_helpers(ws, capsys):
    assert main(["--workspace", str(ws), "demo", *TINY, "--jobs", "2"]) == 0
    out = capsys.readouterr().out
    assert "training structure, pix2pix, segmenter, translator at once in 2 processes" in out
    pids = set()
    for stage in INDEPENDENT:
        cfg, status = _run(ws, f"demo-{stage}")
        assert status["state"] == "finished" and status["step"] == status["total_steps"]
        assert cfg["threads"] == max(1, _cores() // 2)  # the cores shared between the two workers
        assert status["pid"] != os.getpid()  # trained in a worker process
        pids.add(status["pid"])
    assert len(pids) == 4  # a fresh process per stage
    cfg, status = _run(ws, "demo-multimodal")
    assert status["state"] == "finished" and status["pid"] == os.getpid()
    assert (cfg["structure_run"], cfg["segmenter_run"], cfg["translator_run"]) == \
        ("demo-structure", "demo-segmenter", "demo-translator")
    assert cfg["threads"] == 0  # the generator gets every core
    assert "all stages trained" in out


def test_one_job_trains_one_stage_after_another_in_this_process_beside_earlier_runs(ws, capsys):
    assert main(["--workspace", str(ws), "demo", *TINY, "--jobs", "1"]) == 0
    for stage in ORDER:
        cfg, status = _run(ws, f"demo-{stage}-2")  # the earlier demo's runs are kept
        assert status["state"] == "finished" and status["pid"] == os.getpid() and cfg["threads"] == 0
    cfg, _ = _run(ws, "demo-multimodal-2")
    assert cfg["structure_run"] == "demo-structure-2"
    out = capsys.readouterr().out
    assert out.index("demo: structure") < out.index("demo: segmenter") < out.index("demo: multimodal") \
        < out.index("demo: pix2pix")


def test_a_bad_setting_fails_before_anything_trains(tmp_path, capsys):
    root = tmp_path / "ws"
    make_tiny_dataset(root)
    assert main(["--workspace", str(root), "demo", *TINY, "--set", "lr_decay=sometimes"]) == 2
    assert "lr_decay" in capsys.readouterr().err
    assert not (root / "runs").exists() or not any((root / "runs").iterdir())
    assert main(["--workspace", str(root), "demo", *TINY, "--jobs", "0"]) == 2
    assert "jobs must be >= 1" in capsys.readouterr().err


def test_a_stage_that_fails_in_a_worker_stops_the_demo_with_its_error(tmp_path, capfd):
    root = tmp_path / "ws"
    make_tiny_dataset(root)
    rc = main(["--workspace", str(root), "demo", *TINY, "--set", "modality=flair", "--jobs", "2"])
    assert rc == 1
    out, err = capfd.readouterr()
    # the worker's own one-line error (no traceback), then the demo's line naming the stage
    assert "error: dataset 'tiny' has no modality 'flair'" in err and "Traceback" not in err
    assert "demo: pix2pix run demo-pix2pix" in out and "not training the remaining stages" in out
    assert not (root / "runs" / "demo-multimodal").exists()


def test_the_worker_refuses_bad_input_with_one_line(tmp_path, capsys, monkeypatch):
    import io

    from training.demo_worker import main as worker

    make_tiny_dataset(tmp_path / "ws")
    assert worker(["only-two", "args"]) == 2
    assert "usage: python -m training.demo_worker" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO("{not json"))
    assert worker([str(tmp_path / "ws"), "segmenter", "r"]) == 2
    assert "not JSON" in capsys.readouterr().err
    monkeypatch.setattr("sys.stdin", io.StringIO('{"dataset": "tiny", "stepz": 1}'))
    assert worker([str(tmp_path / "ws"), "segmenter", "r"]) == 2
    assert "unknown setting(s) stepz" in capsys.readouterr().err
