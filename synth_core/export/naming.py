"""Case names of an export: stable, unique, and free of patient identifiers.

Dataset case ids are often folder names chosen by whoever collected the scans (patient names,
hospital numbers), so an export never writes them. A real slice is named by a keyed hash
(HMAC-SHA256, :mod:`synth_core.pseudonym`) of the dataset fingerprint and the case id, with the
workspace's secret, plus its slice index: the same case gets the same name in every export of that
dataset from that workspace, different datasets do not collide, and nobody without the secret
(which never leaves the workspace) can test a guessed case id against a name, although the
fingerprint is published in the export's dataset.json. A synthetic sample is named by a short
hash of its set name plus its index in the set.
"""

from __future__ import annotations

import hashlib
import re

from synth_core.pseudonym import pseudonym

REAL_PREFIX = "real_"
SYNTHETIC_PREFIX = "syn_"
CASE_RE = re.compile(r"^(real_[0-9a-f]{10}_\d{3,}|syn_[0-9a-f]{6}_\d{6,})$")


def _hex(text: str, n: int) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:n]


def real_case_name(secret: bytes, fingerprint: str, case_id: str, slice_index: int) -> str:
    """``real_<10 hex of HMAC-SHA256(secret, fingerprint, case_id)>_<slice:03d>``."""
    return f"{REAL_PREFIX}{pseudonym(secret, 'case', str(fingerprint), str(case_id), n=10)}_{int(slice_index):03d}"


def set_tag(set_name: str) -> str:
    """6 hex of sha256(set name): tells sets apart inside one export without naming them."""
    return _hex(set_name, 6)


def synthetic_case_name(set_name: str, index: int) -> str:
    """``syn_<set tag>_<index:06d>``."""
    return f"{SYNTHETIC_PREFIX}{set_tag(set_name)}_{int(index):06d}"


def is_synthetic_case(case: str) -> bool:
    return case.startswith(SYNTHETIC_PREFIX)
