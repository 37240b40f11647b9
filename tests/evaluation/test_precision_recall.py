"""Precision, recall, density and coverage (the prdc package) on known cases."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.errors import SynthCoreError
from synth_core.evaluation.precision_recall import prdc


def test_a_set_against_itself_is_perfect():
    x = np.random.default_rng(0).normal(size=(120, 16))
    out = prdc(x, x, k=5)
    assert out["precision"] == pytest.approx(1.0) and out["recall"] == pytest.approx(1.0)
    assert out["coverage"] == pytest.approx(1.0)
    assert out["density"] == pytest.approx(1.0, abs=0.25)


def test_same_distribution_is_high_and_far_apart_is_zero():
    rng = np.random.default_rng(1)
    real, same, far = rng.normal(size=(200, 8)), rng.normal(size=(200, 8)), rng.normal(size=(200, 8)) + 20.0
    near = prdc(real, same)
    assert near["precision"] > 0.8 and near["recall"] > 0.8 and near["coverage"] > 0.8
    assert prdc(real, far) == {"precision": 0.0, "recall": 0.0, "density": 0.0, "coverage": 0.0}


def test_too_few_samples_and_bad_shapes(capsys):
    rng = np.random.default_rng(2)
    with pytest.raises(SynthCoreError, match="more than 6 samples per side, got 6 real"):
        prdc(rng.random((6, 3)), rng.random((20, 3)), k=5)
    with pytest.raises(ValueError, match="same D"):
        prdc(rng.random((20, 3)), rng.random((20, 4)))
    prdc(rng.random((20, 3)), rng.random((20, 3)))
    assert capsys.readouterr().out == ""  # the package's progress line is silenced
