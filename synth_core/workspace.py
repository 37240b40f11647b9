"""The workspace: one folder holding datasets, runs, synthetic sets, exports, lesion-label sets and
reader studies.

Default ``./workspace``; overridden by ``--workspace`` or the ``MEDSYNTH_WORKSPACE`` variable.
"""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

from synth_core.atomic import clean_stale
from synth_core.errors import ConfigError, NotFoundError

ENV_VAR = "MEDSYNTH_WORKSPACE"
KINDS = ("datasets", "runs", "synthetic", "exports", "lesions", "studies", "experiments")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")  # used with fullmatch: no trailing newline


def validate_name(name: str, what: str = "name") -> str:
    """Return ``name`` if it is a safe single path component, else raise ``ConfigError``.

    Allowed: letters, digits, ``.``, ``_``, ``-``; must start with a letter or digit; at most 100
    characters; no path separators and no ``..``.
    """
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{what} must not be empty")
    if "/" in name or "\\" in name or ".." in name or not _NAME_RE.fullmatch(name):
        raise ConfigError(
            f"{what} {name!r} is not allowed: use letters, digits, '.', '_' or '-' "
            "(no path separators, no '..', at most 100 characters)"
        )
    return name


def resolve_root(arg: str | Path | None = None) -> Path:
    """The workspace root: the argument, else ``$MEDSYNTH_WORKSPACE``, else ``./workspace``."""
    if arg:
        return Path(arg).expanduser().resolve()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser().resolve()
    return Path("workspace").resolve()


def workspace_problem(arg: str | Path) -> str | None:
    """Why ``arg`` cannot be a workspace (one phrase), or None: it must be a folder you can write to,
    or not exist yet below one. Tried for real (a temporary file is created and removed), so
    read-only file systems and permissions are caught whoever runs it."""
    p = resolve_root(arg)
    if p.exists() and not p.is_dir():
        return "is a file, not a folder"
    probe = p
    while not probe.exists():
        probe = probe.parent
    if not probe.is_dir():
        return f"cannot be created: {probe} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as err:
        return ("is not a folder you can write to" if probe == p else f"cannot be created in {probe}") + \
            f" ({err.strerror or err})"
    return None


def missing_folders(arg: str | Path) -> list[str]:
    """The workspace folders (of :data:`KINDS`) that opening ``arg`` would create."""
    p = resolve_root(arg)
    return [k for k in KINDS if not (p / k).is_dir()]


@dataclass(frozen=True)
class Workspace:
    root: Path

    @classmethod
    def open(cls, arg: str | Path | None = None, *, create: bool = True) -> "Workspace":
        """The workspace at ``arg`` (see :func:`resolve_root`); ``create`` makes its folders.
        Temporaries left by writers that died (``kill -9``) are removed on every open
        (:meth:`clean_stale`)."""
        ws = cls(resolve_root(arg))
        if create:
            for kind in KINDS:
                (ws.root / kind).mkdir(parents=True, exist_ok=True)
        ws.clean_stale()
        return ws

    def clean_stale(self) -> list[Path]:
        """Remove temporaries whose writing process is gone (``synth_core.atomic.clean_stale``) at
        the places writers put them: the root, each kind's folder, each item's folder, and a run's
        ``checkpoints/`` and ``samples/``. Returns what was removed."""
        from synth_core.runs.folder import CHECKPOINTS, SAMPLES  # the run folder imports this module

        removed = clean_stale(self.root)
        for kind in KINDS:
            folder = self.root / kind
            if not folder.is_dir():
                continue
            removed += clean_stale(folder)
            for item in folder.iterdir():
                if item.name.startswith(".") or not item.is_dir():
                    continue
                removed += clean_stale(item)
                if kind == "runs":
                    for sub in (CHECKPOINTS, SAMPLES):
                        removed += clean_stale(item / sub)
        return removed

    @property
    def datasets(self) -> Path:
        return self.root / "datasets"

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def synthetic(self) -> Path:
        return self.root / "synthetic"

    @property
    def exports(self) -> Path:
        return self.root / "exports"

    @property
    def lesions(self) -> Path:
        """Augmented lesion-label sets (``synth_core.lesions.labelset``)."""
        return self.root / "lesions"

    @property
    def studies(self) -> Path:
        """Blinded real-vs-synthetic reader studies (``synth_core.readerstudy``)."""
        return self.root / "studies"

    @property
    def experiments(self) -> Path:
        """Downstream experiments such as the usability study (``training.experiments``)."""
        return self.root / "experiments"

    def path(self, kind: str, name: str) -> Path:
        """Path of ``name`` under ``kind`` (validated; it need not exist)."""
        if kind not in KINDS:
            raise ConfigError(f"unknown workspace kind {kind!r}; expected one of {', '.join(KINDS)}")
        what = {"synthetic": "set", "lesions": "label set", "studies": "study"}.get(kind, kind[:-1])
        return self.root / kind / validate_name(name, f"{what} name")

    def existing(self, kind: str, name: str) -> Path:
        p = self.path(kind, name)
        if not p.exists():
            have = ", ".join(self.list(kind)) or "none"
            raise NotFoundError(f"{kind} {name!r} not found in {self.root / kind} (available: {have})")
        return p

    def list(self, kind: str) -> list[str]:
        """Names under ``kind``, sorted, skipping hidden and temporary folders."""
        folder = self.root / kind
        if not folder.is_dir():
            return []
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
