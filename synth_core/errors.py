"""Exceptions that carry a one-line, user-facing message.

The CLI prints ``error: <message>`` and exits non-zero; pages show the message with ``st.error``.
Raise the most specific class; always name the file (or object) and the problem.
"""

from __future__ import annotations

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
