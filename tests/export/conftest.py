"""Fixtures of the export tests: a tiny dataset with a fake synthetic set, and a CLI runner."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from synth_core.workspace import Workspace
from tests.synthesis.fixtures import make_fake_set
from tests.training.conftest import make_tiny_dataset


class CliResult:
    def __init__(self, rc: int, out: str, err: str):
        self.rc, self.out, self.err = rc, out, err

    @property
    def err_lines(self) -> list[str]:
        return self.err.strip("\n").splitlines()


@pytest.fixture
def ws(workspace: Path) -> Workspace:
    """Workspace with dataset ``tiny`` (5 cases x 4 slices, 32 px, t1+t2; 12 train, 4 val, 4 test
    slices) and set ``fake`` (12 samples made from it)."""
    make_tiny_dataset(workspace)
    make_fake_set(workspace)
    return Workspace.open(workspace)


def _main():
    """``synth_core.cli.main`` once the export commands are wired in, else the same edge around
    a parser holding only them (so these tests run before and after the wiring)."""
    from synth_core.cli import build_parser, main

    if "export" in build_parser()[1]:
        return main
    from synth_core.cli_edge import run_at_edge
    from synth_core.export.command import (add_check_arguments, add_export_arguments, run_check_command,
                                           run_export_command)

    def local_main(argv: list[str]) -> int:
        parser = argparse.ArgumentParser(prog="python -m synth_core")
        parser.add_argument("--workspace")
        parser.add_argument("--debug", action="store_true")
        sub = parser.add_subparsers(dest="command", required=True)
        add_export_arguments(sub.add_parser("export"))
        add_check_arguments(sub.add_parser("check-export"))
        handlers = {"export": run_export_command, "check-export": run_check_command}
        args = parser.parse_args(argv)
        return run_at_edge(lambda: handlers[args.command](args, Workspace.open(args.workspace)), debug=args.debug,
                           interrupted="interrupted; nothing was left half-written", catch_bugs=True)

    return local_main


@pytest.fixture
def cli(workspace: Path, capsys: pytest.CaptureFixture[str]):
    """``cli("export", ...)`` -> CliResult (rc, stdout, stderr)."""
    main = _main()

    def run(*argv: object) -> CliResult:
        capsys.readouterr()
        rc = main([str(a) for a in argv])
        cap = capsys.readouterr()
        return CliResult(rc, cap.out, cap.err)

    return run


def exports_left(workspace: Path) -> list[str]:
    """Everything under ``workspace/exports``, hidden temporary folders included."""
    d = workspace / "exports"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []
