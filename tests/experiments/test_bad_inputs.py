"""Everything wrong is refused before any training, with one line `error: ...` and exit 2."""

from __future__ import annotations

import pytest

from synth_core.workspace import Workspace
from tests.experiments.conftest import SMALL_ARGS, make_lesionless_dataset, small
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset
from training.experiments import usability
from training.experiments.command import main
from training.experiments.usability import prepare


@pytest.fixture
def no_training(monkeypatch):
    def boom(*a, **k):
        raise AssertionError("trained although the input is bad")

    monkeypatch.setattr(usability, "train_configuration", boom)


def _fails(capsys, ws, *args) -> str:
    rc = main(["--workspace", str(ws), "usability", *args, *SMALL_ARGS, "--steps", "2"])
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("error: ") and "\n" not in err and "Traceback" not in err
    return err


@pytest.mark.parametrize("args, message", [
    (["--dataset", "nope", "--set", "fake"], "datasets 'nope' not found"),
    (["--dataset", "tiny", "--set", "nope"], "synthetic 'nope' not found"),
    (["--dataset", "tiny"], "no synthetic set given"),
    (["--dataset", "tiny", "--set", "fake", "--real-fractions", "1,1.5"], "real fraction 1.5 is outside (0, 1]"),
    (["--dataset", "tiny", "--set", "fake", "--real-fractions", "0"], "real fraction 0 is outside (0, 1]"),
    (["--dataset", "tiny", "--set", "fake", "--synthetic-multipliers", "0,-0.5"], "synthetic multiplier -0.5 is negative"),
    (["--dataset", "tiny", "--set", "fake", "--modes", "random,shuffled"], "unknown mode 'shuffled'"),
    (["--dataset", "tiny", "--set", "fake", "--set", "fake2"], "more than one synthetic set"),
    (["--dataset", "tiny", "--set", "fake", "--set", "colour=red"], "unknown setting(s) colour"),
    (["--dataset", "tiny", "--set", "fake", "--real-fractions", "1", "--synthetic-multipliers", "0,3"],
     "set 'fake' has 24 samples in all but the grid needs up to 36 (x3 of 12 real slices at fraction 1)"),
    (["--dataset", "tiny", "--set", "fake", "--synthetic-multipliers", "1", "--filter", "lesion_area > 1e9"],
     "the filter 'lesion_area > 1e9' leaves no sample"),
    (["--dataset", "tiny", "--set", "fake", "--filter", "nosuchcolumn > 1"], "unknown column 'nosuchcolumn'"),
])
def test_refused_before_training(usab_ws, capsys, no_training, args, message):
    assert message in _fails(capsys, usab_ws, *args)


def test_set_from_another_dataset_is_refused(usab_ws, capsys, no_training):
    make_tiny_dataset(usab_ws, name="other", seed=1)
    make_fake_set(usab_ws, dataset="other", name="otherset")
    err = _fails(capsys, usab_ws, "--dataset", "tiny", "--set", "otherset")
    assert "was made from dataset 'other'" in err and "not from 'tiny'" in err


def test_dataset_without_lesions_is_refused(usab_ws, capsys, no_training):
    make_lesionless_dataset(usab_ws)
    make_fake_set(usab_ws, dataset="clean", name="cleanset", n=4)
    assert "has no lesion labels" in _fails(capsys, usab_ws, "--dataset", "clean", "--set", "cleanset")


def test_cap_synthetic_uses_what_the_set_has(usab_ws):
    cfg = small(real_fractions=(1.0,), synthetic_multipliers=(0, 3), modes=("random",), cap_synthetic=True)
    prep = prepare(Workspace.open(usab_ws), cfg)
    assert [prep.sizes(c, True) for c in prep.grid] == [(12, 0, 0), (12, 24, 36)]
