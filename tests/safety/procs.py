"""Real second processes for the data-safety tests: start a Python snippet that pauses at a named
point (``synth_core.atomic.pause_point``), wait until it is there, then SIGKILL it or let it go on."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Paused:
    proc: subprocess.Popen
    marker: Path
    resume: Path

    def wait_paused(self, timeout: float = 300.0) -> None:
        """Block until the process has reached its pause point (fails if it ends first)."""
        deadline = time.monotonic() + timeout
        while not self.marker.exists():
            if self.proc.poll() is not None:
                out, err = self.proc.communicate()
                raise AssertionError(f"process ended (rc {self.proc.returncode}) before its pause point:\n{out}\n{err}")
            if time.monotonic() > deadline:
                self.proc.kill()
                raise AssertionError("process never reached its pause point")
            time.sleep(0.05)

    def kill9(self) -> None:
        os.kill(self.proc.pid, signal.SIGKILL)
        self.proc.wait(timeout=60)
        assert self.proc.returncode == -signal.SIGKILL

    def go_on(self, timeout: float = 300.0) -> str:
        self.resume.write_text("go")
        out, err = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, f"rc {self.proc.returncode}:\n{out}\n{err}"
        return out


def spawn(code: str, tmp: Path, *, pause_at: str | None = None, tag: str = "p", env: dict[str, str] | None = None) -> Paused:
    """Run ``code`` (dedented) in a fresh interpreter with the repository on the path."""
    marker, resume = tmp / f"{tag}.paused", tmp / f"{tag}.resume"
    full_env = dict(os.environ, PYTHONPATH=str(ROOT), MEDSYNTH_TEST_PAUSE_FILE=str(marker),
                    MEDSYNTH_TEST_RESUME_FILE=str(resume), **(env or {}))
    full_env.pop("MEDSYNTH_TEST_PAUSE_AT", None)
    if pause_at:
        full_env["MEDSYNTH_TEST_PAUSE_AT"] = pause_at
    proc = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=full_env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    return Paused(proc, marker, resume)


def run(code: str, tmp: Path, *, env: dict[str, str] | None = None, timeout: float = 600.0) -> subprocess.CompletedProcess:
    p = spawn(code, tmp, tag="run", env=env)
    out, err = p.proc.communicate(timeout=timeout)
    return subprocess.CompletedProcess(p.proc.args, p.proc.returncode, out, err)
