"""Pipeline pieces: padding, resizing, slice selection, streaming, the library entry point."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from synth_core.dataset import Dataset
from synth_core.errors import ConfigError, InputError
from synth_core.ingest import layouts
from synth_core.ingest.case import CaseVolume
from synth_core.ingest.layouts import LayoutInfo, get_layout
from synth_core.ingest.options import IngestOptions
from synth_core.ingest.pipeline import ingest, pad_square, resize_image, resize_labels, select_slices
from tests.ingest import fixtures as F


def test_pad_square_centres_with_zeros():
    a = np.ones((2, 3, 5))
    p = pad_square(a)
    assert p.shape == (2, 5, 5)
    assert p[:, 1:4].all() and not p[:, 0].any() and not p[:, 4].any()


@settings(max_examples=25, deadline=None)
@given(
    h=st.integers(3, 40),
    w=st.integers(3, 40),
    size=st.sampled_from([8, 16, 33]),
    seed=st.integers(0, 2**16),
)
def test_label_resize_keeps_integer_classes(h, w, size, seed):
    lab = np.random.default_rng(seed).choice(np.array([0, 1, 3, 7], np.uint8), size=(h, w))
    out = resize_labels(pad_square(lab), size)
    assert out.shape == (size, size) and out.dtype == np.uint8
    assert set(np.unique(out).tolist()) <= set(np.unique(lab).tolist()) | {0}


def test_image_resize_stays_in_range_and_antialiases():
    rng = np.random.default_rng(0)
    img = rng.uniform(0, 1, (1, 64, 64)).astype(np.float32)
    small = resize_image(img, 16)
    assert small.shape == (1, 16, 16) and small.dtype == np.float32
    assert 0 <= small.min() and small.max() <= 1
    assert small.std() < img.std() / 2  # averaged, not sampled
    checker = (np.indices((64, 64)).sum(0) % 2).astype(np.float32)[None]
    assert abs(float(resize_image(checker, 16).mean()) - 0.5) < 0.05


def test_select_slices():
    organ = np.zeros((6, 10, 10), bool)
    organ[1, :1] = True  # 10 %
    organ[2, 0, :4] = True  # 4 %
    organ[4] = True
    assert select_slices(organ, 0.05).tolist() == [1, 4]
    assert select_slices(organ, 0.05, (2, 100)).tolist() == [4]
    assert select_slices(organ, 0.0).tolist() == list(range(6))
    assert select_slices(organ, 0.05, valid_fraction=0.5).tolist() == [1, 2, 4]  # 4 % of half a slice


def test_library_entry_point(tmp_path):
    src = F.write_lits(tmp_path / "lits")
    dest = ingest("lits", src, tmp_path / "out" / "lits1", IngestOptions(size=16), progress=False)
    assert dest == tmp_path / "out" / "lits1" and len(Dataset(dest)) > 0
    with pytest.raises(Exception, match="already exists"):
        ingest("lits", src, dest, IngestOptions(size=16), progress=False)
    ingest("lits", src, dest, IngestOptions(size=16, seed=1), progress=False, overwrite=True)
    assert Dataset(dest).spec.seed == 1


def test_registry_is_lazy_and_complete():
    assert set(layouts.LAYOUTS) == {"brats", "lits", "msd", "nifti", "dicom", "png"}
    for name in ("brats", "lits", "msd", "nifti", "png"):
        mod = get_layout(name)
        assert callable(mod.describe) and callable(mod.iter_cases)
        import inspect

        assert inspect.isgeneratorfunction(mod.iter_cases)  # cases stream one at a time
    with pytest.raises(ConfigError, match="unknown layout 'nope'"):
        get_layout("nope")


def test_window_on_non_ct_is_refused(tmp_path):
    src = F.write_nifti_folder(tmp_path / "n", n=1)
    with pytest.raises(ConfigError, match="CT data only"):
        ingest("nifti", src, tmp_path / "o", IngestOptions(size=16, window="liver"), progress=False)


def test_cases_are_streamed_and_an_error_midway_leaves_nothing(tmp_path, monkeypatch):
    """A fake layout checks that case 1 is already on disk before case 2 is asked for, then fails:
    the dataset folder and its temporary folder are gone."""
    from synth_core.dataset import DatasetWriter

    out = tmp_path / "ds"
    events: list[str] = []
    add_case = DatasetWriter.add_case

    def recording_add_case(self, case_id, *args, **kwargs):
        events.append(f"write {case_id}")
        return add_case(self, case_id, *args, **kwargs)

    monkeypatch.setattr(DatasetWriter, "add_case", recording_add_case)

    def case(i: int) -> CaseVolume:
        img = np.zeros((1, 2, 20, 20), np.float32)
        img[:, :, 5:15, 5:15] = 100 + i
        return CaseVolume(f"c{i}", img, None, img[0] > 0, (1.0, 1.0, 1.0), f"c{i}.nii")

    def iter_cases(src, options):
        for i in range(2):
            events.append(f"read c{i}")
            yield case(i)
        assert len([p for p in out.parent.iterdir() if p.name.startswith(".tmp-ds")]) == 1
        raise InputError(Path(src) / "c2.nii", "broken on purpose")

    fake = types.ModuleType("fake_layout")
    fake.describe = lambda src, options: LayoutInfo("mri", ("mr",), {0: "background"})
    fake.iter_cases = iter_cases
    monkeypatch.setitem(sys.modules, "fake_layout", fake)
    monkeypatch.setitem(layouts.LAYOUTS, "fake", "fake_layout")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "x").write_text("x")
    with pytest.raises(InputError, match="broken on purpose"):
        ingest("fake", tmp_path / "src", out, IngestOptions(size=16), progress=False)
    assert events == ["read c0", "write c0", "read c1", "write c1"]  # one case at a time
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]
