"""The review log under real concurrency: two processes appending at once lose nothing and tear
nothing, and a writer killed with SIGKILL in the middle of its loop leaves a log that still reads
(and a lock the next writer gets at once)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from synth_core.review import ReviewLog
from tests.conftest import ROOT

N = 60

WRITER = """
import sys, time
from pathlib import Path
from synth_core.review import ReviewLog

set_path, who, n, go = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), Path(sys.argv[4])
while not go.exists():
    time.sleep(0.005)
log = ReviewLog(set_path)
for i in range(n):
    sample = f"syn-{i % 12:06d}"
    if i % 2:
        log.decide([sample], "reject", reason="artefact", note=f"{who}-{i}")
    else:
        log.decide([sample], "keep", note=f"{who}-{i}")
print("done")
"""

LOOP = """
import sys
from pathlib import Path
from synth_core.review import ReviewLog

log = ReviewLog(Path(sys.argv[1]))
i = 0
while True:  # until killed
    log.decide([f"syn-{i % 12:06d}" for i in range(i, i + 5)], "reject", reason="other", note=f"loop-{i} " + "x" * 400)
    i += 1
"""


def _env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=str(ROOT))


def test_two_processes_appending_at_once_lose_no_line(set_path: Path, tmp_path: Path):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(set_path), who, str(N), str(go)], env=_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for who in ("a", "b")]
    time.sleep(0.5)
    go.touch()  # both start appending together
    for p in procs:
        out, err = p.communicate(timeout=300)
        assert p.returncode == 0 and out.strip() == "done", err[-2000:]
    raw = (set_path / "review.jsonl").read_bytes()
    assert raw.endswith(b"\n")
    lines = raw.decode().splitlines()
    assert len(lines) == 2 * N
    recs = [json.loads(x) for x in lines]  # every line whole and parseable
    entries = ReviewLog(set_path).read()
    assert len(entries) == 2 * N
    for who in ("a", "b"):  # each writer's lines in its own order, none missing
        notes = [e.note for e in entries if e.note.startswith(f"{who}-")]
        assert notes == [f"{who}-{i}" for i in range(N)]
    assert {r["decision"] for r in recs} == {"keep", "reject"}


def test_a_writer_killed_mid_loop_leaves_a_readable_log(set_path: Path):
    log_file = set_path / "review.jsonl"
    p = subprocess.Popen([sys.executable, "-c", LOOP, str(set_path)], env=_env(), stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 240
        while time.time() < deadline and (not log_file.exists() or log_file.read_bytes().count(b"\n") < 100):
            assert p.poll() is None, p.stderr.read().decode()[-2000:]
            time.sleep(0.02)
        os.kill(p.pid, signal.SIGKILL)
    finally:
        p.wait(30)
    assert p.returncode == -signal.SIGKILL
    raw = log_file.read_bytes()
    whole = raw.split(b"\n")[:-1]
    assert len(whole) >= 100
    entries = ReviewLog(set_path).read()  # no exception, whatever the last bytes are
    assert len(entries) == len(whole)  # every whole line is a valid entry (a torn tail is not counted)
    assert all(e.decision == "reject" and e.reason == "other" for e in entries)
    # the kernel released the dead writer's lock: the next decision goes through at once
    t0 = time.time()
    ReviewLog(set_path).decide(["syn-000011"], "keep", note="after the crash")
    assert time.time() - t0 < 10
    last = ReviewLog(set_path).read()[-1]
    assert (last.sample_id, last.decision, last.note) == ("syn-000011", "keep", "after the crash")
    assert ReviewLog(set_path).state()["syn-000011"].status == "kept"
