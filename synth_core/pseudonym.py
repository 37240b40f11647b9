"""Keyed pseudonyms: names derived from identifiers with HMAC-SHA256 and a secret kept in the
workspace, so nobody without that secret can go from a pseudonym back to the identifier by
trying candidate identifiers (record numbers, patient IDs), even knowing every published file.

The secret is 32 random bytes, created once per workspace in ``WORKSPACE/.pseudonym-key``
(permissions 0600; written complete under a temporary name and hard-linked into place, so two
processes creating it at once agree on one) and
never copied into exports, reports or any other output. Deleting it makes new pseudonyms
different from the old ones (exports made before keep theirs).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import stat
from pathlib import Path

from synth_core.atomic import temp_file_name
from synth_core.errors import InputError

KEY_FILE = ".pseudonym-key"
_KEY_BYTES = 32


def workspace_secret(root: str | Path) -> bytes:
    """The workspace's secret, created on first use (0600)."""
    path = Path(root) / KEY_FILE
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = temp_file_name(path)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_bytes(_KEY_BYTES).hex().encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:  # appears complete or not at all; a second process creating it at once uses the first's
            with contextlib.suppress(FileExistsError):
                os.link(tmp, path)
        finally:
            os.unlink(tmp)
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        os.chmod(path, 0o600)  # readable by others (e.g. copied around): close it again
    try:
        key = bytes.fromhex(path.read_text().strip())
    except ValueError:
        key = b""
    if len(key) != _KEY_BYTES:
        raise InputError(path, "damaged pseudonym key (expected 64 hex digits); restore it from a backup, or delete "
                               "it to start new pseudonyms (exports made before keep their old names)")
    return key


def pseudonym(secret: bytes, *parts: str, n: int = 10) -> str:
    """``n`` hex digits of HMAC-SHA256(secret, parts joined by the unit separator)."""
    msg = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return hmac.new(secret, msg, hashlib.sha256).hexdigest()[:n]
