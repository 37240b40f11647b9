"""Linking runs and sets to their dataset: a stable identity, and content compared with a tolerance.

A dataset rebuilt on another CPU differs in the last bits of its arrays (so its byte hash differs)
but keeps its fingerprint; other cases, splits, spec, modalities or size change the fingerprint;
other data under the same cases is caught by the per-case summary.
"""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as hs

from synth_core.datalink import check_link, check_set, find_dataset, provenance, same_dataset, set_content
from synth_core.dataset import CONTENT_TOLERANCE, ContentMatch, Dataset, DatasetSpec, DatasetWriter, compare_content
from synth_core.errors import ConfigError, DatasetContentWarning, NotFoundError, warnings_to
from synth_core.workspace import Workspace


def build(path: Path, *, noise: float = 0.0, noise_seed: int = 0, image_seed: int = 0, n_cases: int = 4,
          modalities: tuple[str, ...] = ("t1", "t2"), size: int = 16, split_seed: int = 0,
          drop_slices: dict[int, int] | None = None) -> Dataset:
    """A tiny seeded dataset; ``noise`` multiplies the images by ``1 + noise * U(-1, 1)`` (what another
    CPU's last bits look like); ``drop_slices`` {case: k} keeps k slices fewer of that case."""
    spec = DatasetSpec(name=path.name, layout="png", kind="mri", modalities=modalities,
                       label_names={0: "background", 1: "lesion"}, size=size, seed=split_seed)
    rng = np.random.default_rng(image_seed)
    jitter = np.random.default_rng(noise_seed)
    with DatasetWriter(path, spec) as w:
        for c in range(n_cases):
            img = rng.random((6, len(modalities), size, size)).astype(np.float32)
            mask = np.zeros((6, size, size), np.uint8)
            mask[:, 2:-2, 2:-2] = 1
            img *= mask[:, None]
            lab = np.zeros((6, size, size), np.uint8)
            lab[:, 5:8, 5:8] = 1
            if noise:
                img = np.clip(img * (1 + noise * jitter.uniform(-1, 1, img.shape)), 0, 1).astype(np.float32)
            keep = 6 - (drop_slices or {}).get(c, 0)
            w.add_case(f"case{c}", img[:keep], mask[:keep], lab[:keep], list(range(keep)), (1.0, 1.0, 1.0),
                       f"case{c}.png")
    return Dataset(path)


@pytest.fixture(scope="module")
def base(tmp_path_factory) -> Dataset:
    return build(tmp_path_factory.mktemp("base") / "d")


def test_identical_build_is_identical(base, tmp_path):
    again = build(tmp_path / "d")
    assert again.fingerprint == base.fingerprint and again.content_sha256 == base.content_sha256
    m = compare_content(again, base.content_record())
    assert m == ContentMatch("identical", 0.0, m.detail) and base.content_sha256[:12] in m.detail
    assert check_link(again, fingerprint=base.fingerprint, content=base.content_record(), what="run 'r'").kind == "identical"


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scale=hs.floats(min_value=1e-7, max_value=1e-5), seed=hs.integers(0, 2**16))
def test_last_bit_noise_is_close(base, scale, seed):
    with tempfile.TemporaryDirectory() as tmp:
        other = build(Path(tmp) / "d", noise=scale, noise_seed=seed)
        assert other.fingerprint == base.fingerprint  # the identity does not see the bits
        assert other.content_sha256 != base.content_sha256  # the byte hash does: the old fingerprint refused it
        m = compare_content(other, base.content_record())
        assert m.kind == "close", m.detail
        assert 0 <= m.max_abs_diff <= scale and "\n" not in m.detail


def test_close_warns_once_and_goes_on(base, tmp_path):
    other = build(tmp_path / "d", noise=1e-6)
    with warnings_to(lambda line: None) as said:
        for _ in range(2):
            m = check_link(other, fingerprint=base.fingerprint, content=base.content_record(), what="run 'demo-mm'")
            assert m.kind == "close"
    assert len(said) == 1 and "run 'demo-mm' was trained on dataset 'd' as built on another machine" in said[0]
    assert "\n" not in said[0]
    # outside a warnings_to block the remark is a Python warning
    with pytest.warns(DatasetContentWarning, match="another machine"):
        check_link(other, fingerprint=base.fingerprint, content=base.content_record(), what="run 'x'")
    # and with warn=False it is only recorded
    with warnings_to(lambda line: None) as said:
        check_link(other, fingerprint=base.fingerprint, content=base.content_record(), what="run 'x'", warn=False)
    assert said == []
    rec = provenance(other, m, base.content_record())
    assert rec["match"] == "close" and rec["dataset_sha256"] == other.content_sha256
    assert rec["trained_on_sha256"] == base.content_sha256 and 0 <= rec["max_abs_diff"] <= 1e-6
    assert set_content({"dataset_content": rec}) == other.content_record()


def test_other_content_under_the_same_cases_is_different(base, tmp_path):
    other = build(tmp_path / "d", image_seed=1)
    assert other.fingerprint == base.fingerprint
    m = compare_content(other, base.content_record())
    assert m.kind == "different" and m.max_abs_diff > CONTENT_TOLERANCE
    with pytest.raises(ConfigError) as err:
        check_link(other, fingerprint=base.fingerprint, content=base.content_record(), what="run 'r'")
    assert "run 'r' was trained on other data than dataset 'd' holds under the same cases" in str(err.value)
    assert "\n" not in str(err.value)


def test_one_slice_more_or_less_is_close_two_are_different(base, tmp_path):
    one = build(tmp_path / "one", drop_slices={1: 1})
    two = build(tmp_path / "two", drop_slices={1: 2})
    m1 = compare_content(one, base.content_record())
    assert m1.kind == "close" and "one slice more or less" in m1.detail
    m2 = compare_content(two, base.content_record())
    assert m2.kind == "different" and "case 'case1' has 4 slices here and 6 in the record" in m2.detail


@pytest.mark.parametrize("change", [dict(n_cases=5), dict(split_seed=3), dict(size=24), dict(modalities=("t1",)),
                                    dict(modalities=("t1", "flair"))])
def test_another_dataset_has_another_fingerprint_and_is_refused(base, tmp_path, change):
    other = build(tmp_path / "d", **change)
    assert other.fingerprint != base.fingerprint
    if "split_seed" not in change:  # the same pixels under another split: only the identity differs
        assert compare_content(other, base.content_record()).kind == "different"
    with pytest.raises(ConfigError) as err:
        check_link(other, fingerprint=base.fingerprint, content=base.content_record(), what="run 'r'", dataset="d")
    msg = str(err.value)
    assert msg.startswith(f"run 'r' was trained on another dataset called 'd' (fingerprint {base.fingerprint[:12]}) "
                          f"than the one here (fingerprint {other.fingerprint[:12]})")
    assert "\n" not in msg
    with pytest.raises(ConfigError, match=r"^set 's' was made from dataset 'first' \(fingerprint [0-9a-f]{12}\), not from 'd'"):
        check_set(other, {"dataset": "first", "fingerprint": base.fingerprint,
                          "dataset_content": provenance(base, ContentMatch("identical", 0.0, ""), None)}, "set 's'")


def test_records_from_before_format_2(base, tmp_path):
    # a legacy run names its dataset by the byte hash: accepted when the bytes are the same
    assert check_link(base, fingerprint=base.content_sha256, content=None, what="run 'old'").kind == "identical"
    other = build(tmp_path / "d", noise=1e-6)
    with pytest.raises(ConfigError, match=r"^run 'old' predates dataset format 2: .*retrain it on 'd'"):
        check_link(other, fingerprint=base.content_sha256, content=None, what="run 'old'")
    # a record without a summary (or a dataset without one) cannot be compared: unknown, accepted
    m = compare_content(other, {"sha256": base.content_sha256, "summary": None})
    assert m.kind == "unknown" and math.isnan(m.max_abs_diff)
    assert check_link(other, fingerprint=other.fingerprint, content=None, what="set 's'").kind == "unknown"
    legacy_set = {"dataset": "d", "fingerprint": base.content_sha256}
    assert check_set(base, legacy_set, "set 's'").kind == "identical"


def test_same_dataset_of_two_runs():
    a = {"sha256": "a" * 64, "summary": None}
    assert same_dataset("f" * 64, a, "f" * 64, {"sha256": "b" * 64})
    assert same_dataset("a" * 64, None, "f" * 64, a)  # a legacy run on the same bytes
    assert not same_dataset("c" * 64, None, "f" * 64, a)
    assert not same_dataset("e" * 64, a, "f" * 64, a)


def test_find_dataset_by_identity_and_the_precise_refusal(base, tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    build(ws.path("datasets", "d"), noise=1e-6)
    build(ws.path("datasets", "zz"), n_cases=3)
    with warnings_to(lambda line: None) as said:
        ds, m = find_dataset(ws, fingerprint=base.fingerprint, content=base.content_record(), what="run 'mm'", name="d")
    assert ds.name == "d" and m.kind == "close" and len(said) == 1
    with pytest.raises(ConfigError, match=r"^run 'old' predates dataset format 2"):
        find_dataset(ws, fingerprint="0" * 64, content=None, what="run 'old'", name="d")
    with pytest.raises(NotFoundError, match=r"^the dataset run 'mm' was trained on \('gone', fingerprint 000000000000\)"):
        find_dataset(ws, fingerprint="0" * 64, content=base.content_record(), what="run 'mm'", name="gone")
