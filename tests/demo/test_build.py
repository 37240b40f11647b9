"""End to end: ``python -m synth_core demo-data`` builds a tiny demo dataset into the workspace."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import ndimage

from synth_core.cli import main
from synth_core.dataset import Dataset
from synth_core.demo import describe_demo
from synth_core.demo.build import GENERATOR_VERSION, DemoGenerator, DemoParams
from synth_core.demo.contrasts import MODALITIES

TINY = ["--subjects", "3", "--size", "48", "--slices", "8", "--no-progress"]
SQUARE = np.ones((3, 3), bool)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Dataset:
    ws = tmp_path_factory.mktemp("demo-ws")
    assert main(["--workspace", str(ws), "demo-data", *TINY]) == 0
    return Dataset(ws / "datasets" / "demo")


def test_tiny_dataset_contents(tiny: Dataset) -> None:
    spec = tiny.spec
    assert (spec.layout, spec.kind, spec.size) == ("demo", "mri", 48)
    assert spec.modalities == MODALITIES == ("t1", "t1ce", "t2", "flair")
    assert spec.structure_modality == 3 and spec.erase_lesion_contours
    assert spec.label_names == {0: "background", 1: "necrotic/non-enhancing core", 2: "edema", 3: "enhancing tumour"}
    assert spec.params["generator_version"] == GENERATOR_VERSION and spec.params["seed"] == 0
    assert spec.params["subjects"] == 3 and "tumour" in spec.params and "contrast" in spec.params
    n = len(tiny)
    assert 3 <= n <= 24
    assert tiny.images.shape == (n, 4, 48, 48) and tiny.images.dtype == np.float32
    assert tiny.images.min() >= 0 and tiny.images.max() <= 1
    labels, masks = np.asarray(tiny.labels), np.asarray(tiny.masks)
    assert set(np.unique(labels).tolist()) <= {0, 1, 2, 3}
    assert not np.any((labels > 0) & (masks == 0))  # every lesion pixel inside the organ mask
    assert (masks.reshape(n, -1).sum(axis=1) > 0).all()  # only slices with brain
    with_tumour = (labels.reshape(n, -1) > 0).any(axis=1)
    assert with_tumour.mean() > 0.5  # most slices show the tumour
    outside = np.broadcast_to(masks[:, None] == 0, tiny.images.shape)
    assert not np.asarray(tiny.images)[outside].any()  # skull-stripped: zero outside the brain
    idx = tiny.index
    assert sorted(idx["case_id"].unique()) == ["demo-000", "demo-001", "demo-002"]
    assert (idx.groupby("case_id")["split"].nunique() == 1).all()  # split by case
    assert set(idx["split"]) == {"train", "val", "test"}


def test_tiny_dataset_labels_are_nested(tiny: Dataset) -> None:
    labels, masks = np.asarray(tiny.labels), np.asarray(tiny.masks)
    for lab, m in zip(labels, masks):
        core = (lab == 1) | (lab == 3)
        assert not np.any(ndimage.binary_dilation(lab == 1, SQUARE) & ~core)  # enhancing rim surrounds the core
        assert not np.any(ndimage.binary_dilation(core, SQUARE) & (lab == 0))  # oedema surrounds both
        assert not np.any((lab > 0) & (m == 0))


def test_same_seed_same_fingerprint_and_if_missing(workspace: Path, tiny: Dataset, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", *TINY]) == 0
    path = workspace / "datasets" / "demo"
    again = Dataset(path)
    assert again.fingerprint == tiny.fingerprint
    np.testing.assert_array_equal(np.asarray(again.images), np.asarray(tiny.images))
    before = {p.name: p.stat().st_mtime_ns for p in path.iterdir()}

    assert main(["demo-data", "--if-missing", *TINY]) == 0
    assert "already exists" in capsys.readouterr().out
    assert {p.name: p.stat().st_mtime_ns for p in path.iterdir()} == before  # untouched

    assert main(["demo-data", *TINY]) == 2  # exists, no --overwrite: ExistsError
    assert "already exists" in capsys.readouterr().err

    assert main(["demo-data", "--name", "other", "--seed", "1", *TINY]) == 0
    other = Dataset(workspace / "datasets" / "other")
    assert other.fingerprint != tiny.fingerprint
    m = min(len(other), len(tiny))
    assert not np.array_equal(np.asarray(other.images[:m]), np.asarray(tiny.images[:m]))


def test_overwrite_replaces(workspace: Path) -> None:
    target = workspace / "datasets" / "demo"
    target.mkdir(parents=True)
    (target / "marker").write_text("not a dataset")
    assert main(["demo-data", "--if-missing", *TINY]) == 0
    assert (target / "marker").exists() and not (target / "dataset.json").exists()  # did nothing
    small = ["--subjects", "1", "--size", "32", "--slices", "3", "--no-progress"]
    assert main(["demo-data", "--overwrite", *small]) == 0
    ds = Dataset(target)
    assert not (target / "marker").exists() and ds.images.shape[1:] == (4, 32, 32)


@pytest.mark.parametrize("args, message", [(["--subjects", "0"], "subjects"), (["--size", "8"], "size"), (["--name", "../x"], "not allowed")])
def test_bad_arguments(workspace: Path, args: list[str], message: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["demo-data", "--no-progress", *args]) == 2
    assert message in capsys.readouterr().err
    assert not (workspace / "datasets" / "demo").exists()


def test_tissue_contrast_ordering() -> None:
    """Before noise the intensity models hold on the simulated anatomy; after it, on average."""
    gen = DemoGenerator(DemoParams(subjects=1, size=64))
    s = gen.subject(0, keep_clean=True)
    assert s.clean is not None and s.tissues is not None
    pure = {t: s.tissues[t] > 0.8 for t in ("wm", "gm", "csf", "oedema", "enhancing")}
    assert all(m.sum() > 5 for m in pure.values()), {t: int(m.sum()) for t, m in pure.items()}
    for name, vol in (("clean", s.clean), ("final", s.images)):
        t1, t1ce, t2, flair = (vol[i] for i in range(4))
        mean = lambda img, t: float(img[pure[t]].mean())  # noqa: E731
        assert mean(t1, "wm") > mean(t1, "gm") > mean(t1, "csf"), name
        assert mean(t2, "csf") > mean(t2, "gm") > mean(t2, "wm"), name
        assert mean(flair, "oedema") > mean(flair, "wm") > mean(flair, "csf"), name
        assert mean(t1ce, "enhancing") > mean(t1ce, "wm"), name
        assert mean(t1, "oedema") < mean(t1, "wm"), name


def test_describe_demo() -> None:
    text = describe_demo()
    assert "MNI152" in text and "Simulated" in text and "Real" in text and "nilearn" in text
