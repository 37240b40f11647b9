"""Exceptions that carry a one-line, user-facing message.

The CLI prints ``error: <message>`` and exits non-zero; pages show the message with ``st.error``.
Raise the most specific class; always name the file (or object) and the problem. Remarks that do
not stop the work go through :func:`warn_user` (``warning: ...`` on stderr, ``st.warning`` on pages).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path


class SynthCoreError(Exception):
    """Base class of every error meant for the user (not a bug)."""


class InputError(SynthCoreError):
    """Bad input data: a file that cannot be read, has the wrong shape, wrong values, ...

    ``InputError(path, "not a DICOM file")`` renders as ``"<path>: not a DICOM file"``.
    """

    def __init__(self, path: str | Path | None, problem: str):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class NotFoundError(SynthCoreError):
    """A named thing (dataset, run, set, export) does not exist in the workspace."""


class ConfigError(SynthCoreError):
    """A bad parameter or configuration value (unknown key, out-of-range value)."""


class ExistsError(SynthCoreError):
    """Refusing to overwrite something that already exists."""


# ---- warnings -----------------------------------------------------------------------------------
# Some checks pass with a remark the user should see once ("this dataset was built on another
# machine; its last bits differ"). The edge decides where it goes: the command lines print
# ``warning: ...`` on stderr, pages show ``st.warning``. The destination is a context variable, so
# the dashboard's sessions (one thread each) never see each other's remarks.

class DatasetContentWarning(UserWarning):
    """A run or set belongs to a dataset whose content differs slightly from what it recorded."""


_SINK: ContextVar[Callable[[str, object], None] | None] = ContextVar("synth_core_warning_sink", default=None)


def warn_user(message: str, key: object = None) -> None:
    """Say ``message`` (one line) to the user once per ``key`` (default: the message) within the
    current :func:`warnings_to` block; outside one, a Python :class:`DatasetContentWarning`."""
    sink = _SINK.get()
    if sink is None:
        warnings.warn(DatasetContentWarning(message), stacklevel=3)
    else:
        sink(message, message if key is None else key)


@contextmanager
def warnings_to(show: Callable[[str], None]) -> Iterator[list[str]]:
    """Within the block, :func:`warn_user` calls ``show(message)``, once per key; yields the list of
    messages shown."""
    seen: set[object] = set()
    shown: list[str] = []

    def once(message: str, key: object) -> None:
        if key in seen:
            return
        seen.add(key)
        shown.append(message)
        show(message)

    token = _SINK.set(once)
    try:
        yield shown
    finally:
        _SINK.reset(token)
