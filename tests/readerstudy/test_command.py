"""``reader-study create`` / ``results`` through a parser built like synth_core/cli.py's."""

from __future__ import annotations

import argparse
import json

import pytest

from synth_core.cli_edge import run_at_edge
from synth_core.errors import ConfigError
from synth_core.readerstudy import open_study, record_answer
from synth_core.readerstudy.command import add_reader_study_arguments, parse_window, run_reader_study_command
from synth_core.workspace import Workspace


def _main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m synth_core")
    parser.add_argument("--workspace")
    sub = parser.add_subparsers(dest="command", required=True)
    add_reader_study_arguments(sub.add_parser("reader-study"))
    args = parser.parse_args(argv)
    return run_at_edge(lambda: run_reader_study_command(args, Workspace.open(args.workspace)), debug=False,
                       interrupted="interrupted", catch_bugs=True)


def test_create_and_results(study_ws, capsys):
    ws = str(study_ws)
    assert _main(["--workspace", ws, "reader-study", "create", "s1", "--dataset", "tiny", "--set", "fake",
                  "--n-real", "2", "--n-synthetic", "2", "--modality", "t1", "--window", "percentile", "--seed", "5"]) == 0
    assert "created reader study 's1'" in capsys.readouterr().out
    st = open_study(study_ws, "s1")
    assert st.meta["window"] == {"percentile": [1.0, 99.0]} and st.meta["seed"] == 5
    assert _main(["--workspace", ws, "reader-study", "results", "s1"]) == 0
    assert "none yet" in capsys.readouterr().out
    for item, source in st.key()[["item", "source"]].itertuples(index=False):
        record_answer(study_ws, "s1", "r1", item, source, 5)
    assert _main(["--workspace", ws, "reader-study", "results", "s1"]) == 0
    out = capsys.readouterr().out
    assert "accuracy 1.000" in out and "AUC 1.000" in out
    assert _main(["--workspace", ws, "reader-study", "results", "s1", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["overall"]["accuracy"] == 1.0 and len(data["agreement"]) == 4


def test_user_errors_are_one_line(study_ws, capsys):
    ws = str(study_ws)
    code = _main(["--workspace", ws, "reader-study", "create", "s1", "--dataset", "tiny", "--set", "fake",
                  "--n-real", "50", "--n-synthetic", "2", "--modality", "t1"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "Traceback" not in err and "at most 4" in err
    assert _main(["--workspace", ws, "reader-study", "results", "missing"]) == 2
    assert "not found" in capsys.readouterr().err


def test_parse_window():
    assert parse_window(None) is None
    assert parse_window("0.1,0.9") == {"low": 0.1, "high": 0.9}
    assert parse_window("percentile:2,98") == {"percentile": [2.0, 98.0]}
    with pytest.raises(ConfigError, match="--window"):
        parse_window("wide")
