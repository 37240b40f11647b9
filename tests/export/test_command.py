"""The export and check-export commands: summary, progress bar, exit codes, one-line errors."""

from __future__ import annotations

import argparse

from synth_core.export.command import add_export_arguments, run_export_command
from tests.export.conftest import exports_left


def test_export_command_summary_and_check(ws, workspace, cli):
    r = cli("export", "--dataset", "tiny", "--set", "fake", "--out", "e", "--format", "msd",
            "--synthetic-ratio", "0.5", "--min-nn-dist", "0.1", "--seed", "3")
    assert r.rc == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].startswith("export       e  (msd) -> ") and lines[0].endswith("exports/e")
    assert "real         train 16 (dataset train + val), test 4" in lines
    assert any(line.startswith("synthetic    ") and "(ratio wants 8)" in line and "blocked" in line and
               "filtered out 0" in line for line in lines)
    assert any(line.startswith("folds        splits_final.json: 4 folds grouped by subject") and
               "nnUNet_preprocessed/DatasetXXX_Name/" in line for line in lines)  # 4 training cases, 4 subjects
    assert "it/s" not in r.out and "case/s" not in r.out  # a bar (when stderr is a terminal) never goes to stdout

    r = cli("check-export", "e")
    assert r.rc == 0 and "no problems" in r.out
    next((workspace / "exports" / "e" / "labelsTr").iterdir()).unlink()
    r = cli("check-export", "e")
    assert r.rc == 1 and r.out.startswith("problem: labelsTr/") and "1 problem(s)" in r.out


def test_command_errors_are_one_line(ws, workspace, cli):
    for argv, named in (
        (["--set", "nope"], "nope"),
        (["--filter", "nn_dist > 99"], "selects none"),
        (["--filter", "dice_t3 > 0"], "dice_t3"),
        (["--out", "../up"], "../up"),
        (["--format", "tiff"], "tiff"),
    ):
        args = {"--dataset": "tiny", "--set": "fake", "--out": "e"}
        args.update(dict(zip(argv[::2], argv[1::2])))
        r = cli("export", "--no-progress", *[x for kv in args.items() for x in kv])
        assert r.rc == 2 and len(r.err_lines) == 1 and named in r.err, (argv, r.err)
    assert exports_left(workspace) == []
    r = cli("check-export", "missing")
    assert r.rc == 2 and len(r.err_lines) == 1 and "'missing' not found" in r.err


def test_run_export_command_with_a_namespace(ws, capsys):
    p = argparse.ArgumentParser()
    add_export_arguments(p)
    args = p.parse_args(["--dataset", "tiny", "--out", "real-only", "--no-progress"])
    assert run_export_command(args, ws) == 0
    out, err = capsys.readouterr()
    assert "synthetic    none (no --set)" in out and err == ""
