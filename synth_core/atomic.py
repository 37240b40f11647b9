"""Atomic writes: a file or folder appears complete under its final name, or not at all, and a
replaced folder is never missing, not even after ``kill -9`` at the worst moment.

Temporaries are named after the process that makes them (:class:`synth_core.procs.ProcessId`):
files ``.NAME.p<pid>s<start>.<random>.tmp``, folders ``.tmp-NAME.p<pid>s<start>.<random>``. A
writer killed with ``kill -9`` cannot remove its temporaries; :func:`clean_stale` (called whenever
a workspace is opened) removes those whose maker is gone, and only those: a temporary of a live
process (same pid *and* start time) is never touched.

Replacing a folder (``atomic_dir(..., overwrite=True)``) swaps the new folder and the old one in
one ``renameat2(RENAME_EXCHANGE)`` system call, then deletes the old one (now under the temporary
name). Where the kernel or file system cannot exchange, the old folder is first renamed to
``.old-NAME.p<pid>s<start>.<random>`` and the new one renamed into place; if the writer dies
between the two renames, :func:`clean_stale` renames the old folder back.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import json
import os
import re
import secrets
import shutil
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from synth_core.errors import ExistsError
from synth_core.procs import ProcessId

#: test hook: ``MEDSYNTH_TEST_PAUSE_AT=<point>`` makes a writer reaching ``<point>`` write the file
#: ``$MEDSYNTH_TEST_PAUSE_FILE`` and wait, so a test can ``kill -9`` it exactly there, or start a
#: second writer meanwhile; it goes on once ``$MEDSYNTH_TEST_RESUME_FILE`` exists (never if unset)
PAUSE_ENV = "MEDSYNTH_TEST_PAUSE_AT"
PAUSE_FILE_ENV = "MEDSYNTH_TEST_PAUSE_FILE"
RESUME_FILE_ENV = "MEDSYNTH_TEST_RESUME_FILE"

_TOKEN_RE = re.compile(r"\.p(?P<pid>\d+)s(?P<start>\d+)\.[0-9a-f]+")
_FILE_RE = re.compile(r"^\.(?P<name>.+)" + _TOKEN_RE.pattern + r"\.tmp$")
_DIR_RE = re.compile(r"^\.(?P<kind>tmp|old)-(?P<name>.+)" + _TOKEN_RE.pattern + r"$")


def pause_point(point: str) -> None:
    """The test hook (see :data:`PAUSE_ENV`); does nothing unless the variable names ``point``."""
    if os.environ.get(PAUSE_ENV) != point:
        return
    marker = os.environ.get(PAUSE_FILE_ENV)
    if marker:
        Path(marker).write_text(str(os.getpid()))
    resume = os.environ.get(RESUME_FILE_ENV)
    deadline = time.monotonic() + 3600
    while time.monotonic() < deadline:
        if resume and Path(resume).exists():
            return
        time.sleep(0.05)


def _suffix() -> str:
    return f".{ProcessId.current().token()}.{secrets.token_hex(4)}"


def temp_file_name(final: str | Path) -> Path:
    final = Path(final)
    return final.parent / f".{final.name}{_suffix()}.tmp"


def temp_dir_name(final: str | Path, kind: str = "tmp") -> Path:
    final = Path(final)
    return final.parent / f".{kind}-{final.name}{_suffix()}"


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same folder and ``os.replace``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_file_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


# ---- renameat2 --------------------------------------------------------------------------------
_RENAME_NOREPLACE = 1
_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_renameat2: Any = None
if sys.platform.startswith("linux"):
    with contextlib.suppress(OSError, AttributeError):
        _libc = ctypes.CDLL(None, use_errno=True)
        _renameat2 = _libc.renameat2
        _renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
        _renameat2.restype = ctypes.c_int


def _rename2(src: Path, dst: Path, flags: int) -> bool:
    """``renameat2(src, dst, flags)``; False when the system cannot do it (then use the fallback)."""
    if _renameat2 is None or os.environ.get("MEDSYNTH_NO_RENAMEAT2"):
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EOPNOTSUPP):
        return False
    raise OSError(err, os.strerror(err), str(dst))


def _install(tmp: Path, final: Path, overwrite: bool) -> None:
    """Put the complete folder ``tmp`` under ``final``; an old ``final`` is visible until then."""
    pause_point("atomic_dir:before-install")
    if overwrite and final.exists():
        try:
            if _rename2(tmp, final, _RENAME_EXCHANGE):  # one step: old <-> new
                pause_point("atomic_dir:after-swap")
                shutil.rmtree(tmp, ignore_errors=True)  # now holds the old folder
                return
        except FileNotFoundError:
            pass  # final vanished meanwhile: a plain rename below
        else:
            if final.exists():  # no exchange here: move the old one aside, recoverable by clean_stale
                old = temp_dir_name(final, "old")
                os.rename(final, old)
                pause_point("atomic_dir:between-renames")
                os.rename(tmp, final)
                shutil.rmtree(old, ignore_errors=True)
                return
    try:
        if _rename2(tmp, final, _RENAME_NOREPLACE):
            return
    except FileExistsError:
        raise ExistsError(f"{final}: appeared while writing; refusing to overwrite") from None
    if final.exists():
        raise ExistsError(f"{final}: appeared while writing; refusing to overwrite")
    os.rename(tmp, final)


@contextlib.contextmanager
def atomic_dir(final: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; put it under ``final`` when the block succeeds.

    On any exception (including KeyboardInterrupt) the temporary folder is removed, so an
    interrupted writer leaves nothing under the final name. With ``overwrite`` an existing
    ``final`` stays complete and visible until the new one replaces it in one step. Temporary
    folders start with ``.tmp-`` so listings of the workspace skip them.
    """
    final = Path(final)
    if final.exists() and not overwrite:
        raise ExistsError(f"{final}: already exists; choose another name or delete it first")
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_dir_name(final)
    tmp.mkdir()
    try:
        yield tmp
        _install(tmp, final, overwrite)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


# ---- stale temporaries ------------------------------------------------------------------------
def stale_maker(name: str) -> ProcessId | None:
    """The process recorded in a temporary's name, or None when ``name`` is not a temporary."""
    m = _FILE_RE.match(name) or _DIR_RE.match(name)
    return ProcessId(int(m["pid"]), int(m["start"])) if m else None


def clean_stale(folder: str | Path) -> list[Path]:
    """Remove the temporaries in ``folder`` whose maker is gone; returns what was removed.

    A ``.old-NAME...`` folder (the fallback replacement interrupted between its two renames) is
    renamed back to ``NAME`` when nothing is there, else removed."""
    folder = Path(folder)
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for e in entries:
        if not e.name.startswith("."):
            continue
        maker = stale_maker(e.name)
        if maker is None or maker.alive():
            continue
        p = Path(e.path)
        m = _DIR_RE.match(e.name)
        try:
            if m and m["kind"] == "old" and not (folder / m["name"]).exists():
                os.rename(p, folder / m["name"])
                continue
            if e.is_dir(follow_symlinks=False):
                shutil.rmtree(p)
            else:
                p.unlink()
            removed.append(p)
        except FileNotFoundError:
            continue
    return removed
