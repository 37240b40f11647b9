"""The ingest command: names, overwrite, options parsing, summary."""

from __future__ import annotations

import numpy as np

from synth_core.dataset import Dataset
from tests.ingest import fixtures as F
from tests.ingest.conftest import leftovers


def test_existing_name_is_refused_unless_overwrite(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png")
    assert cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16).rc == 0
    before = Dataset(workspace / "datasets" / "p").fingerprint
    r = cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16, "--seed", 5)
    assert r.rc == 2 and len(r.err_lines) == 1 and "already exists" in r.err and "--overwrite" in r.err
    assert Dataset(workspace / "datasets" / "p").fingerprint == before
    r = cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16, "--seed", 5, "--overwrite")
    assert r.rc == 0, r.err
    assert Dataset(workspace / "datasets" / "p").spec.seed == 5
    assert leftovers(workspace) == ["p"]


def test_bad_name_and_bad_option_values(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png", n=1)
    for argv, named in (
        (["--name", "../escape"], "../escape"),
        (["--name", "ok", "--size", "4"], "4"),
        (["--name", "ok", "--window", "liverish"], "liverish"),
        (["--name", "ok", "--structure", "alpah=1"], "alpah"),
        (["--name", "ok", "--label-names", "x=tumour"], "x"),
        (["--name", "ok", "--split", "0.5,0.5"], "0.5,0.5"),
        (["--name", "ok", "--modalities", "t1", "t2"], "t1"),
    ):
        r = cli("ingest", "--layout", "png", src, *argv)
        assert r.rc == 2 and len(r.err_lines) == 1 and named in r.err, (argv, r.err)
    assert leftovers(workspace) == []


def test_summary_and_split_option(tmp_path, workspace, cli):
    src = F.write_png(tmp_path / "png", n=4)
    r = cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16, "--split", "0.5,0.25,0.25", "--no-progress")
    assert r.rc == 0, r.err
    assert r.err == ""  # no progress bar when asked, nothing else on stderr
    lines = r.out.splitlines()
    assert lines[0].startswith("dataset      p  (png, other)")
    assert any(line.startswith("cases        4 written of 4 read  (train 2, val 1, test 1)") for line in lines)
    assert any("1=lesion" in line for line in lines)
    # 'info' reads what ingest wrote
    r = cli("info", "p")
    assert r.rc == 0 and "cases        4" in r.out


def test_lits_volume_without_segmentation_is_named_and_needs_allow_unlabelled(tmp_path, workspace, cli):
    src = F.write_lits(tmp_path / "lits", n=3)
    (src / "segmentation-1.nii").unlink()
    r = cli("ingest", "--layout", "lits", src, "--name", "l", "--size", 32, "--no-progress")
    assert r.rc == 2 and len(r.err_lines) == 1
    assert "volume-1.nii.gz" in r.err and "no segmentation file" in r.err and "--allow-unlabelled" in r.err
    assert leftovers(workspace) == []
    r = cli("ingest", "--layout", "lits", src, "--name", "l", "--size", 32, "--no-progress", "--allow-unlabelled")
    assert r.rc == 0, r.err
    assert [ln for ln in r.err_lines if ln.startswith("warning:")] == [
        "warning: volume-1.nii.gz: no segmentation file; ingested without a label (organ mask by Algorithm 2, no tumour)"]
    assert ("unlabelled   1 case(s) without a segmentation file, so without lesion labels (--allow-unlabelled): "
            "volume-1") in r.out.splitlines()
    ds = Dataset(workspace / "datasets" / "l")
    assert ds.spec.params["layout"]["unlabelled_cases"] == ["volume-1"]
    assert ds.spec.params["layout"]["n_labelled"] == 2
    assert ds.spec.params["options"]["allow_unlabelled"] is True
    idx = ds.index
    assert idx.loc[idx["case_id"] == "volume-1", "lesion_pixels"].sum() == 0


def test_overwrite_killed_before_the_new_dataset_is_in_place_keeps_the_old_one(tmp_path, workspace, cli):
    from synth_core.workspace import Workspace
    from tests.safety.procs import spawn

    src = F.write_png(tmp_path / "png")
    assert cli("ingest", "--layout", "png", src, "--name", "p", "--size", 16).rc == 0
    before = Dataset(workspace / "datasets" / "p")
    fp, images = before.fingerprint, np.array(before.images)
    p = spawn(f"""
        from synth_core.cli import main
        main(["--workspace", {str(workspace)!r}, "ingest", "--layout", "png", {str(src)!r}, "--name", "p",
              "--size", "16", "--seed", "5", "--overwrite", "--no-progress"])
    """, tmp_path, pause_at="atomic_dir:before-install")
    p.wait_paused()  # the new dataset is complete under its temporary name
    p.kill9()
    after = Dataset(workspace / "datasets" / "p")
    assert after.fingerprint == fp and np.array_equal(np.array(after.images), images)
    Workspace.open(workspace)
    assert leftovers(workspace) == ["p"]
