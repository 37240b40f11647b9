"""Export privacy and nnU-Net folds: real case names are keyed hashes that nothing published in the
export reproduces; splits_final.json holds 5 folds grouped by subject with synthetic cases only in
training folds; an export killed with -9 leaves the other exports intact and nothing half-written."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import shutil
from pathlib import Path

import numpy as np

from synth_core.dataset import Dataset, DatasetSpec, DatasetWriter
from synth_core.export import export
from synth_core.export.check import check_export
from synth_core.export.command import summary_lines
from synth_core.export.naming import is_synthetic_case, real_case_name
from synth_core.pseudonym import KEY_FILE, workspace_secret
from synth_core.structure import StructureParams
from synth_core.workspace import Workspace
from tests.export.conftest import exports_left
from tests.safety.procs import spawn
from tests.synthesis.fixtures import make_fake_set


def _grouped_dataset(root: Path, name: str = "grp", cases: int = 9) -> Dataset:
    """``cases`` cases x 3 slices; case0, case1 and case2 are one subject (one patient's three series)."""
    ws = Workspace.open(root)
    size = 16
    spec = DatasetSpec(name=name, layout="demo", kind="mri", modalities=("t1",), label_names={0: "background", 1: "x"},
                       size=size, structure=StructureParams(median=1))
    yy, xx = np.mgrid[:size, :size]
    organ = np.hypot(yy - 8, xx - 8) < 6
    with DatasetWriter(ws.path("datasets", name), spec) as w:
        for c in range(cases):
            img = np.repeat((organ * (0.3 + 0.05 * c))[None, None], 3, axis=0).astype(np.float32)
            lab = np.zeros((3, size, size), np.uint8)
            lab[:, 7:9, 7:9] = 1
            w.add_case(f"case{c}", img, np.repeat(organ[None], 3, axis=0), lab, [0, 1, 2], (1.0, 1.0, 1.0),
                       f"case{c}", subject="subj-A" if c < 3 else None)
    return Dataset(ws.path("datasets", name))


def _names_by_case(ws: Workspace, ds: Dataset) -> dict[str, str]:
    secret = workspace_secret(ws.root)
    return {real_case_name(secret, ds.fingerprint, r.case_id, r.slice_index): r.case_id for r in ds.index.itertuples()}


def test_splits_final_has_five_folds_grouped_by_subject_synthetic_only_in_training(workspace):
    ds = _grouped_dataset(workspace)
    make_fake_set(workspace, dataset="grp", n=6)
    ws = Workspace.open(workspace)
    r = export(ws, "grp", "fake", "e", fmt="nnunet")
    folds = json.loads((r.path / "splits_final.json").read_text())
    info = json.loads((r.path / "dataset.json").read_text())
    assert info["medsynth"]["splits_final"]["folds"] == 5
    train_cases = sorted(p.name[: -len("_0000.nii.gz")] for p in (r.path / "imagesTr").glob("*_0000.nii.gz"))
    synthetic = {c for c in train_cases if is_synthetic_case(c)}
    assert len(synthetic) == 6 and len(folds) == 5
    case_of = _names_by_case(ws, ds)
    subject_of = dict(zip(ds.index["case_id"], ds.subjects()))
    seen_in_val: list[str] = []
    for f in folds:
        assert set(f) == {"train", "val"} and f["val"]
        assert not set(f["train"]) & set(f["val"])
        assert sorted(f["train"] + f["val"]) == train_cases  # every training case, once per fold
        assert synthetic <= set(f["train"]) and not synthetic & set(f["val"])
        val_subjects = {subject_of[case_of[c]] for c in f["val"]}
        train_subjects = {subject_of[case_of[c]] for c in f["train"] if c not in synthetic}
        assert not val_subjects & train_subjects  # no subject on both sides of a fold
        seen_in_val += f["val"]
    assert sorted(seen_in_val) == sorted(set(train_cases) - synthetic)  # each real case validated exactly once
    # the three cases of subj-A (9 slices) sit together in one validation fold
    a_folds = [k for k, f in enumerate(folds) if any(subject_of[case_of[c]] == "subj-A" for c in f["val"])]
    in_train = ds.index[ds.index["split"].isin(["train", "val"]) & (ds.index["subject"] == "subj-A")]
    assert len(a_folds) == 1 and sum(subject_of[case_of[c]] == "subj-A" for c in folds[a_folds[0]]["val"]) == len(in_train)
    assert check_export(r.path) == []


def _published_strings(root: Path) -> set[str]:
    out: set[str] = set()
    for p in root.rglob("*"):
        if p.is_file() and p.suffix in (".json", ".csv"):
            text = p.read_text()
            out.update(re.findall(r"[A-Za-z0-9_.:+/=-]{6,}", text))
    return out


def test_real_names_are_keyed_and_not_reproducible_from_the_export(workspace):
    ws = Workspace.open(workspace)
    ds = _grouped_dataset(workspace)
    r = export(ws, "grp", None, "e", fmt="nnunet")
    secret = workspace_secret(ws.root)
    assert oct((ws.root / KEY_FILE).stat().st_mode & 0o777) == "0o600"
    names = {p.name.split("_0000")[0] for d in ("imagesTr", "imagesTs") for p in (r.path / d).iterdir()}
    case_of = _names_by_case(ws, ds)
    assert names == set(case_of)  # known answer: HMAC(secret, fingerprint, case id), then the slice
    published = _published_strings(r.path)
    assert ds.fingerprint in published  # the fingerprint is published (dataset.json) ...
    for name, case in case_of.items():
        slice_ = name.rsplit("_", 1)[1]
        digest = name.split("_")[1]
        # ... but the old recipe, or any published string used as a key, does not give the name
        assert hashlib.sha256((ds.fingerprint + case).encode()).hexdigest()[:10] != digest
        for key in published:
            for k in (key.encode(), bytes.fromhex(key) if re.fullmatch(r"(?:[0-9a-f]{2})+", key) else b""):
                msg = "\x1f".join(("case", ds.fingerprint, case)).encode()
                assert hmac.new(k, msg, hashlib.sha256).hexdigest()[:10] != digest, (name, key)
        assert slice_.isdigit()
    for p in r.path.rglob("*"):  # the secret never leaves the workspace
        if p.is_file():
            data = p.read_bytes()
            assert secret not in data and secret.hex().encode() not in data, p
    assert not list(r.path.rglob(KEY_FILE))
    # another workspace (another secret) names the same cases differently
    other = Workspace.open(workspace.parent / "other")
    shutil.copytree(ds.path, other.datasets / "grp")
    r2 = export(other, "grp", None, "e", fmt="nnunet")
    names2 = {p.name.split("_0000")[0] for p in (r2.path / "imagesTr").iterdir()}
    assert not names2 & names


EXPORT = """
    from synth_core.export import export
    from synth_core.workspace import Workspace
    export(Workspace.open({root!r}), "grp", None, {out!r}, fmt="nnunet")
"""


def test_export_killed_before_it_is_in_place_leaves_other_exports_and_nothing_half_written(workspace, tmp_path):
    ws = Workspace.open(workspace)
    _grouped_dataset(workspace)
    first = export(ws, "grp", None, "first", fmt="nnunet")
    before = {p.relative_to(first.path): p.read_bytes() for p in first.path.rglob("*") if p.is_file()}
    p = spawn(EXPORT.format(root=str(workspace), out="second"), tmp_path, pause_at="atomic_dir:before-install")
    p.wait_paused()
    p.kill9()
    assert exports_left(workspace)[-1] == "first" and not (ws.exports / "second").exists()
    assert {p.relative_to(first.path): p.read_bytes() for p in first.path.rglob("*") if p.is_file()} == before
    Workspace.open(workspace)
    assert [n for n in exports_left(workspace) if not n.endswith(".lock")] == ["first"]
    assert check_export(first.path) == []


def test_two_exports_to_one_name_one_wins_the_other_is_refused(workspace, tmp_path):
    ws = Workspace.open(workspace)
    _grouped_dataset(workspace)
    p = spawn(EXPORT.format(root=str(workspace), out="same"), tmp_path, pause_at="atomic_dir:before-install")
    p.wait_paused()  # the other process has its export complete, not yet in place
    won = export(ws, "grp", None, "same", fmt="nnunet")
    p.resume.write_text("go")
    out, err = p.proc.communicate(timeout=120)
    assert p.proc.returncode != 0 and "appeared while writing" in err
    assert check_export(won.path) == []
    Workspace.open(workspace)
    assert exports_left(workspace) == ["same"]


def test_one_subject_gives_no_folds_file(workspace):
    ws = Workspace.open(workspace)
    _grouped_dataset(workspace, cases=1)
    r = export(ws, "grp", None, "e", fmt="png")
    assert not (r.path / "splits_final.json").exists()
    assert json.loads((r.path / "dataset.json").read_text())["medsynth"]["splits_final"]["folds"] == 0
    assert r.n_folds == 0 and any(line.startswith("folds        none: fewer than 2 training subjects")
                                  for line in summary_lines(r))
