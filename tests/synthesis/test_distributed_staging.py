"""Distributed synthesis stages its ranks' parts in a temporary folder named after rank 0: a run
killed with -9 before the merge leaves no set and no name clash, and the next workspace open removes
the parts (never while the run is alive). One process with a one-rank DistInfo runs the same code."""

from __future__ import annotations

from pathlib import Path

from synth_core.atomic import stale_maker
from synth_core.workspace import Workspace
from tests.safety.procs import spawn

SYNTH = """
    from synth_core.dataset import Dataset
    from synth_core.distributed import DistInfo
    from synth_core.lesions.bank import LesionBank
    from synth_core.synthesis.distributed import synthesize_distributed
    from synth_core.synthesis.lesions import LesionSource
    from synth_core.synthesis.loading import load_models
    from synth_core.workspace import Workspace
    ws = Workspace.open({root!r})
    ds = Dataset(ws.existing("datasets", "tiny"))
    models = load_models(ws, "mm", which="best", figures=False)
    lesions = LesionSource("augmented", LesionBank.from_dataset(ds), mask_filter=False)
    synthesize_distributed(models, lesions, ws.path("synthetic", {name!r}), info=DistInfo(), dataset=ds.name,
                           fingerprint=ds.fingerprint, n=3, seed=1, batch_size=2)
"""


def _staging(ws: Workspace, name: str) -> list[Path]:
    return [p for p in ws.synthetic.iterdir() if p.name.startswith(f".tmp-{name}")]


def test_kill9_before_the_merge_leaves_parts_that_only_the_next_open_removes(synth_ws, tmp_path):
    ws = Workspace.open(synth_ws)
    p = spawn(SYNTH.format(root=str(ws.root), name="ddp-kill"), tmp_path, pause_at="synthesize_distributed:parts-written")
    p.wait_paused()
    [staging] = _staging(ws, "ddp-kill")
    assert stale_maker(staging.name).pid == p.proc.pid  # named after the process that removes it
    assert (staging / "rank-0" / "set.json").is_file()
    Workspace.open(ws.root)  # the writer is alive: its parts stay
    assert _staging(ws, "ddp-kill") == [staging]
    p.kill9()
    assert not ws.path("synthetic", "ddp-kill").exists() and "ddp-kill" not in ws.list("synthetic")
    Workspace.open(ws.root)
    assert _staging(ws, "ddp-kill") == []


def test_a_finished_run_leaves_the_set_and_no_parts(synth_ws, tmp_path):
    ws = Workspace.open(synth_ws)
    p = spawn(SYNTH.format(root=str(ws.root), name="ddp-done"), tmp_path)
    out, err = p.proc.communicate(timeout=300)
    assert p.proc.returncode == 0, err
    assert "ddp-done" in ws.list("synthetic") and _staging(ws, "ddp-done") == []
