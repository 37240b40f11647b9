"""Adding latents to an existing set (the Latent space page): kill -9 at the worst moment leaves
the old set complete and visible, its evaluation survives an addition (marked stale: it describes
the smaller set), and two sessions adding at once both land (two real processes, the set's lock)."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

from synth_core.dataset import Dataset
from synth_core.evaluation.table import COLUMNS, load_evaluations, save_evaluation, stale_notes
from synth_core.lesions.bank import LesionBank
from synth_core.synthesis.explorer import LatentExplorer
from synth_core.synthesis.lesions import LesionSource
from synth_core.synthesis.setstore import SyntheticSet
from synth_core.workspace import Workspace
from tests.safety.procs import spawn

ADD = """
    from synth_core.dataset import Dataset
    from synth_core.lesions.bank import LesionBank
    from synth_core.synthesis.explorer import LatentExplorer
    from synth_core.synthesis.lesions import LesionSource
    from synth_core.workspace import Workspace
    ws = Workspace.open({root!r})
    ex = LatentExplorer.open(ws, "st", "mm")
    ds = Dataset(ws.existing("datasets", "tiny"))
    lesions = LesionSource("augmented", LesionBank.from_dataset(ds), mask_filter=False)
    z = ex.traversal((0, 1), steps=2)
    ex.save_set(ws, {name!r}, z[{k}:{k} + 1], lesions, dataset=ds, seed=4)
"""


@pytest.fixture(scope="module")
def made(synth_ws):
    ws = Workspace.open(synth_ws)
    ex = LatentExplorer.open(ws, "st", "mm")
    ds = Dataset(ws.existing("datasets", "tiny"))
    lesions = LesionSource("augmented", LesionBank.from_dataset(ds), mask_filter=False)
    return ws, ex, ds, lesions, ex.traversal((0, 1), steps=2)


def _evaluated_set(made, name: str) -> SyntheticSet:
    ws, ex, ds, lesions, z = made
    path = ex.save_set(ws, name, z[:2], lesions, dataset=ds, seed=4)
    row = dict.fromkeys(COLUMNS, "")
    row.update(set=name, dataset="tiny", run="mm", modality="t1", metric="fid", region="whole", value=2.5, n=2,
               extractor="hand")
    save_evaluation(path, pd.DataFrame([row]))
    return SyntheticSet(path)


def _latents(st: SyntheticSet) -> np.ndarray:
    return np.stack([np.asarray(json.loads(v), np.float32) for v in st.stored_catalog["latent"]])


def test_kill9_while_adding_keeps_the_old_set_and_an_addition_keeps_its_evaluation(made, tmp_path):
    ws, ex, ds, lesions, z = made
    before = _evaluated_set(made, "kill-add")
    images = np.array(before.images)
    p = spawn(ADD.format(root=str(ws.root), name="kill-add", k=2), tmp_path, pause_at="atomic_dir:before-install")
    p.wait_paused()  # the new set is complete under its temporary name; the old one still in place
    p.kill9()
    after = SyntheticSet(ws.path("synthetic", "kill-add"))
    assert len(after) == 2 and np.array_equal(np.array(after.images), images)
    assert pd.read_parquet(after.path / "evaluation.parquet")["value"].tolist() == [2.5]
    assert any(n.startswith(".tmp-kill-add") for n in (e.name for e in ws.synthetic.iterdir()))
    Workspace.open(ws.root)  # the next start removes the dead writer's temporary folder
    assert not any(n.startswith(".tmp-kill-add") for n in (e.name for e in ws.synthetic.iterdir()))
    ex.save_set(ws, "kill-add", z[2:3], lesions, dataset=ds, seed=4)  # an addition that completes
    grown = SyntheticSet(ws.path("synthetic", "kill-add"))
    assert len(grown) == 3 and np.array_equal(np.array(grown.images[:2]), images)
    assert pd.read_parquet(grown.path / "evaluation.parquet")["value"].tolist() == [2.5]
    assert grown.meta["additions"] == [{"start": 2, "n": 1}]
    # kept, but not passed off as an evaluation of the grown set: the Quality page says it is stale
    assert stale_notes(load_evaluations(ws), {"kill-add": len(grown)})["kill-add"] == (
        "set 'kill-add': 1 of its metric rows were computed when it held 2 samples; it holds 3 now "
        "(samples were added since): evaluate it again")


def test_two_sessions_adding_at_once_both_land(made, tmp_path):
    ws, ex, ds, lesions, z = made
    _evaluated_set(made, "both-add")
    a = spawn(ADD.format(root=str(ws.root), name="both-add", k=2), tmp_path, pause_at="save_set:read", tag="a")
    a.wait_paused()  # a holds the set's lock and has read the 2-sample set
    b = spawn(ADD.format(root=str(ws.root), name="both-add", k=3), tmp_path, tag="b")
    time.sleep(20)  # b is loading its models, then waits for the lock
    assert b.proc.poll() is None
    a.go_on()
    b.go_on()
    st = SyntheticSet(ws.path("synthetic", "both-add"))
    assert len(st) == 4
    assert np.allclose(_latents(st)[2:], z[2:4], atol=1e-6)
    assert st.stored_catalog["index"].tolist() == [0, 1, 2, 3]
