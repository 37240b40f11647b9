"""Bad inputs: one-line errors, and nothing (not even a temporary folder) left in workspace/exports."""

from __future__ import annotations

import pytest

from synth_core.errors import ConfigError, ExistsError, NotFoundError
from synth_core.export import export
from tests.export.conftest import exports_left
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(set_name="nope"), NotFoundError, ["'nope'", "not found"]),
    (dict(dataset="nope"), NotFoundError, ["'nope'", "not found"]),
    (dict(filter="nn_dist > 99"), ConfigError, ["filter 'nn_dist > 99' selects none of the 12 samples of set 'fake'"]),
    (dict(filter="nn_dist >"), ConfigError, ["not a valid filter"]),
    (dict(filter="bogus > 1"), ConfigError, ["unknown column 'bogus'"]),
    (dict(filter="__import__('os')"), ConfigError, ["not a valid filter"]),
    (dict(out="a/b"), ConfigError, ["'a/b'", "no path separators"]),
    (dict(out=".."), ConfigError, ["'..'"]),
    (dict(out="x..y"), ConfigError, ["'x..y'"]),
    (dict(fmt="nifti"), ConfigError, ["unknown export format 'nifti'"]),
    (dict(synthetic_ratio=-1.0), ConfigError, ["synthetic ratio"]),
    (dict(set_name=None, filter="nn_dist > 0"), ConfigError, ["no set was given"]),
])
def test_bad_input_is_one_line_and_leaves_nothing(ws, workspace, kwargs, error, words):
    args = dict(dataset="tiny", set_name="fake", out="e")
    args.update(kwargs)
    with pytest.raises(error) as exc:
        export(ws, args.pop("dataset"), args.pop("set_name"), args.pop("out"), **args)
    msg = str(exc.value)
    assert "\n" not in msg and all(w in msg for w in words), msg
    assert exports_left(workspace) == []


def test_existing_export_is_refused(ws, workspace):
    first = export(ws, "tiny", None, "e")
    before = sorted(p.name for p in (first.path / "imagesTr").iterdir())
    with pytest.raises(ExistsError, match="export 'e' already exists"):
        export(ws, "tiny", "fake", "e")
    assert exports_left(workspace) == ["e"]
    assert sorted(p.name for p in (first.path / "imagesTr").iterdir()) == before


def test_set_from_another_dataset_is_refused(ws, workspace):
    make_tiny_dataset(workspace, name="other", seed=1)
    with pytest.raises(ConfigError, match=r"set 'fake' was made from dataset 'tiny' \(fingerprint [0-9a-f]{12}\), not from 'other'"):
        export(ws, "other", "fake", "e")
    make_fake_set(workspace, dataset="other", name="fake2")
    export(ws, "other", "fake2", "ok")  # the matching pair works
    assert exports_left(workspace) == ["ok"]


def test_interrupted_export_leaves_nothing(ws, workspace):
    def stop(done, total):
        if done == 20:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        export(ws, "tiny", "fake", "e", progress=stop)
    assert exports_left(workspace) == []
