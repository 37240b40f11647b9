"""Folders replaced atomically survive kill -9 at every moment; temporaries of dead writers are
cleaned on the next open, those of live writers never."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from synth_core.atomic import clean_stale, stale_maker, temp_dir_name, temp_file_name
from synth_core.errors import ConfigError
from synth_core.procs import ProcessId
from synth_core.workspace import Workspace, validate_name
from tests.safety.procs import spawn

REPLACE = """
    from synth_core.atomic import atomic_dir
    with atomic_dir({final!r}, overwrite=True) as tmp:
        (tmp / "content.txt").write_text("new")
"""


def _old_folder(ws: Path) -> Path:
    final = ws / "synthetic" / "myset"
    final.mkdir(parents=True)
    (final / "content.txt").write_text("old")
    return final


def _temps(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.startswith("."))


@pytest.mark.parametrize("point, expect, exchange", [
    ("atomic_dir:before-install", "old", True),
    ("atomic_dir:after-swap", "new", True),
    ("atomic_dir:before-install", "old", False),
])
def test_kill9_while_replacing_leaves_a_complete_folder_and_the_next_open_cleans_up(tmp_path, point, expect, exchange):
    ws = tmp_path / "ws"
    final = _old_folder(ws)
    env = {} if exchange else {"MEDSYNTH_NO_RENAMEAT2": "1"}
    p = spawn(REPLACE.format(final=str(final)), tmp_path, pause_at=point, env=env)
    p.wait_paused()
    p.kill9()
    assert (final / "content.txt").read_text() == expect  # complete and visible right after the kill
    assert len(_temps(final.parent)) == 1  # the dead writer's temporary folder
    Workspace.open(ws)
    assert _temps(final.parent) == []
    assert (final / "content.txt").read_text() == expect


def test_kill9_between_the_fallback_renames_is_repaired_on_the_next_open(tmp_path):
    """Without renameat2 the old folder is moved aside first; a writer killed right then leaves
    it under .old-..., and the next open puts it back under its name."""
    ws = tmp_path / "ws"
    final = _old_folder(ws)
    p = spawn(REPLACE.format(final=str(final)), tmp_path, pause_at="atomic_dir:between-renames",
              env={"MEDSYNTH_NO_RENAMEAT2": "1"})
    p.wait_paused()
    p.kill9()
    assert not final.exists()
    Workspace.open(ws)
    assert (final / "content.txt").read_text() == "old"
    assert _temps(final.parent) == []


def test_a_finished_replacement_leaves_no_temporary(tmp_path):
    ws = tmp_path / "ws"
    final = _old_folder(ws)
    p = spawn(REPLACE.format(final=str(final)), tmp_path)
    out, err = p.proc.communicate(timeout=120)
    assert p.proc.returncode == 0, err
    assert (final / "content.txt").read_text() == "new"
    assert _temps(final.parent) == []


def test_only_temporaries_of_dead_makers_are_removed(tmp_path):
    folder = tmp_path / "runs" / "r1" / "checkpoints"
    folder.mkdir(parents=True)
    # a live writer, paused while it holds a temporary folder beside its target
    live = spawn(REPLACE.format(final=str(folder / "live")), tmp_path, pause_at="atomic_dir:before-install")
    (folder / "live").mkdir()
    live.wait_paused()
    # a finished process's temporaries (file and folder)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_pid = int(done.stdout)
    dead_file = folder / f".last.pt.p{dead_pid}s123.abcd.tmp"
    dead_file.write_bytes(b"x")
    dead_dir = folder / f".tmp-set.p{dead_pid}s123.abcd"
    dead_dir.mkdir()
    # our own pid with another start time: a reused pid, i.e. a dead maker
    me = ProcessId.current()
    reused = folder / f".best.pt.p{me.pid}s{me.start + 1}.ef01.tmp"
    reused.write_bytes(b"x")
    # ours (alive) and names that are not temporaries of this kind stay
    mine = temp_file_name(folder / "status.json")
    mine.write_bytes(b"x")
    other = folder / ".tmp-parts-of-a-distributed-run"
    other.mkdir()
    assert stale_maker(dead_file.name) == ProcessId(dead_pid, 123)
    assert stale_maker(temp_dir_name(folder / "x").name) == me
    removed = clean_stale(folder)
    assert sorted(p.name for p in removed) == sorted([dead_file.name, dead_dir.name, reused.name])
    live_tmp = [n for n in _temps(folder) if n.startswith(".tmp-live")]
    assert len(live_tmp) == 1 and mine.exists() and other.exists()
    live.kill9()
    assert [p.name for p in clean_stale(folder)] == live_tmp
    mine.unlink()


def test_workspace_open_cleans_checkpoint_temporaries_of_a_killed_run(tmp_path):
    ws = Workspace.open(tmp_path / "ws")
    ck = ws.runs / "r1" / "checkpoints"
    ck.mkdir(parents=True)
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    leftover = ck / f".last.pt.p{int(done.stdout)}s99.abcd.tmp"
    leftover.write_bytes(b"half a checkpoint")
    (ck / "last.pt").write_bytes(b"complete")
    Workspace.open(ws.root)
    assert sorted(os.listdir(ck)) == ["last.pt"]


@pytest.mark.parametrize("bad", ["abc\n", "abc\r", "a\nb", "ok\n\n"])
def test_validate_name_needs_a_full_match(bad):
    with pytest.raises(ConfigError):
        validate_name(bad)
    assert validate_name("abc") == "abc"
