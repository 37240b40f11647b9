"""IngestOptions validation and the CT windows."""

from __future__ import annotations

import numpy as np
import pytest

from synth_core.errors import ConfigError, InputError
from synth_core.ingest.options import IngestOptions
from synth_core.io.windows import WINDOW_PRESETS, apply_window, parse_window, percentile_scale


def test_defaults_are_the_documented_ones():
    o = IngestOptions()
    assert (o.size, o.percentiles, o.min_foreground, o.seed) == (128, (0.5, 99.5), 0.05, 0)
    assert o.window is None and o.modalities is None and o.slice_range is None


@pytest.mark.parametrize(
    "kwargs, named",
    [
        (dict(size=4), "4"),
        (dict(size=True), "True"),
        (dict(window="livr"), "livr"),
        (dict(window="200,-100"), "200,-100"),
        (dict(percentiles=(99, 1)), "(99, 1)"),
        (dict(slice_range=(5, 5)), "(5, 5)"),
        (dict(min_foreground=1.5), "1.5"),
        (dict(kind="pet"), "pet"),
        (dict(modalities=("t1", "T1")), "T1"),
        (dict(structure={"alpah": 0.1}), "alpah"),
        (dict(structure={"alpha": -1}), "-1"),
        (dict(mask={"threshold": 2.0}), "2.0"),
        (dict(label_names={0: "x"}), "0"),
        (dict(seed=-1), "-1"),
        (dict(split_fractions=(0.5, 0.5, 0.5)), "0.5"),
        (dict(max_pixels=0), "0"),
    ],
)
def test_bad_values_are_named(kwargs, named):
    with pytest.raises(ConfigError, match=None) as info:
        IngestOptions(**kwargs)
    assert named in str(info.value)


def test_values_are_normalised_and_serialisable():
    import json

    o = IngestOptions(modalities=["flair"], slice_range=[2, 8], label_names={"1": "tumour"}, window="-100,200")
    assert o.modalities == ("flair",) and o.slice_range == (2, 8) and o.label_names == {1: "tumour"}
    assert json.loads(json.dumps(o.to_json()))["label_names"] == {"1": "tumour"}
    assert o.window_hu("lung") == (-100.0, 200.0)
    assert IngestOptions().window_hu("lung") == WINDOW_PRESETS["lung"]


def test_check_dimensions_names_the_file():
    with pytest.raises(InputError, match=r"^big\.nii: image of 5000 x 10"):
        IngestOptions().check_dimensions("big.nii", 5000, 10, 1)
    with pytest.raises(InputError, match="2001 slices"):
        IngestOptions().check_dimensions("v.nii", 10, 10, 2001)


def test_liver_window_known_values():
    hu = np.array([-1000, -100, 50, 200, 3000], np.float32)
    assert parse_window("liver") == (-100.0, 200.0)
    np.testing.assert_allclose(apply_window(hu, parse_window("liver")), [0, 0, 0.5, 1, 1])
    assert parse_window(" -1000 , 400 ") == (-1000.0, 400.0)


def test_percentile_scale_keeps_zero_background_and_constant_volume():
    rng = np.random.default_rng(0)
    x = np.zeros((4, 10, 10), np.float32)
    x[:, 2:8, 2:8] = rng.uniform(100, 200, (4, 6, 6))
    y = percentile_scale(x)
    assert y.dtype == np.float32 and y.min() == 0 and y.max() == 1
    assert np.all(y[x == 0] == 0) and np.all(y[x > 0] > 0.3)
    assert np.all(percentile_scale(np.full((2, 3, 3), 7.0)) == 0)
