"""Drawn lesions (synth_core.lesions.drawn): the ellipse patch as a known answer, validation in one
line, a JSON round trip, and placement through the shared checks (synth_core.synthesis.inpaint.place_drawn)."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth_core.errors import ConfigError
from synth_core.lesions import AugmentParams
from synth_core.lesions.drawn import DrawnLesion


def test_ellipse_patch_known_answer():
    p = DrawnLesion(radii=(2, 1), label=2).patch()
    assert p.shape == (5, 3) and p.dtype == np.uint8
    expected = np.array([[0, 2, 0], [0, 2, 0], [2, 2, 2], [0, 2, 0], [0, 2, 0]], np.uint8)
    np.testing.assert_array_equal(p, expected)
    core = DrawnLesion(radii=(4, 4), label=2, core_label=1, core_fraction=0.5).patch()
    assert core[4, 4] == 1 and core[4, 6] == 1 and core[4, 7] == 2 and core[0, 0] == 0
    assert (core == 1).sum() == 13 and (core > 0).sum() == 49  # pixels with d <= 0.25, d <= 1 on the 9x9 grid


def test_json_round_trip_and_classes():
    d = DrawnLesion(radii=(3.5, 2.0), label=2, core_label=1, core_fraction=0.4)
    assert DrawnLesion.from_json(d.to_json()) == d and d.classes == (2, 1)
    assert DrawnLesion(radii=(3, 3), label=1).classes == (1,)


@pytest.mark.parametrize("kwargs, message", [
    ({"radii": (0.2, 3), "label": 1}, "radii must be between 0.5 and 512 pixels"),
    ({"radii": (3,), "label": 1}, "radii must be two numbers"),
    ({"radii": (3, 3), "label": 0}, "label must be a lesion class"),
    ({"radii": (3, 3), "label": True}, "label must be a class number 0-255"),
    ({"radii": (3, 3), "label": 1, "core_fraction": 1.0}, r"core_fraction must be in \[0, 1\)"),
    ({"radii": (3, 3), "label": 1, "core_fraction": 0.5}, "a core needs a core_label"),
    ({"radii": (3, 3), "label": 1, "shape": "star"}, "shape must be one of ellipse"),
])
def test_bad_drawn_lesions_are_refused_in_one_line(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        DrawnLesion(**kwargs)


def test_bad_records_are_refused():
    with pytest.raises(ConfigError, match="not JSON"):
        DrawnLesion.from_json("{")
    with pytest.raises(ConfigError, match="unknown keys"):
        DrawnLesion.from_json(json.dumps({"radii": [1, 1], "label": 1, "colour": "red"}))


def test_place_drawn_uses_the_shared_checks(tmp_path):
    from synth_core.lesions.bank import LesionBank
    from synth_core.synthesis.inpaint import fill_batch, place_drawn, source_rows
    from tests.synthesis.test_inpaint import _models, make_inpaint_dataset

    ds = make_inpaint_dataset(tmp_path / "ws")
    row = int(source_rows(ds, "healthy")[0])
    drawn = DrawnLesion(radii=(3, 2), label=2, core_label=1, core_fraction=0.5)
    p, spec = place_drawn(ds, row, drawn, AugmentParams(rotation_deg=30.0, center=(16.0, 18.0)))
    assert p.accepted and spec is not None and spec.lesion_index == -1 and spec.drawn == drawn.to_json()
    b = fill_batch(_models(ds), ds, LesionBank([]), [spec])
    np.testing.assert_array_equal(b.new_labels[0], p.label)  # the replayed label is the placed one
    assert b.new_labels[0][16, 18] == 1
    outside, none = place_drawn(ds, row, drawn, AugmentParams(center=(5.0, 5.0)))
    assert none is None and outside.reason == "outside_organ"
    with pytest.raises(ConfigError, match="dataset 'paint' has no lesion class 7 \\(its classes: 1 core, 2 edema\\)"):
        place_drawn(ds, row, DrawnLesion(radii=(2, 2), label=7), AugmentParams(center=(16.0, 16.0)))
