"""Who scores a synthetic set's lesion fidelity and registration: an independent judge or a training helper.

A multimodal generator trains against frozen helper networks (a segmenter for lesion guidance,
eq. 15, and a translator for the registration loss, eq. 16; their runs and checkpoint sha256s are
in the generator's checkpoint, ``meta["helpers"]``). Scoring its images with those same networks
partly measures the loss it optimised, so such scores are labelled circular. A *judge* is a
segmenter or translator run trained separately (another seed, possibly another width) that took no
part in training the generator; :func:`check_judge` refuses a run that is one of the set's training
helpers (the same run, or a checkpoint with the same sha256).

Every lesion-validity and registration row of an evaluation names its network in ``extractor``
(``segmenter:<run>``, ``translator:<run>``) and starts its ``note`` with :func:`role_note`.
"""

from __future__ import annotations

from typing import Any

from synth_core.errors import ConfigError

#: the two roles a scoring network can have for a set
JUDGE = "independent judge"
HELPER = "training helper (circular)"
#: the stages whose networks score lesion fidelity and registration
JUDGED_STAGES = ("segmenter", "translator")


def training_helpers(multimodal_meta: dict[str, Any] | None) -> dict[str, dict[str, str]]:
    """``stage -> {"run_id", "sha256"}`` of the helpers a multimodal run trained against (its
    checkpoint's ``meta["helpers"]``; empty for a run without one, e.g. ablation row E has no segmenter)."""
    helpers = (multimodal_meta or {}).get("helpers") or {}
    return {stage: {"run_id": str(h.get("run_id") or ""), "sha256": str(h.get("sha256") or "")}
            for stage, h in helpers.items() if stage in JUDGED_STAGES and isinstance(h, dict)}


def is_helper(run_id: str, sha256: str, helpers: dict[str, dict[str, str]]) -> bool:
    """True when the run (or a checkpoint with its sha256) is one of ``helpers``."""
    return any(run_id == h["run_id"] or (sha256 and sha256 == h["sha256"]) for h in helpers.values())


def role(run_id: str, sha256: str, helpers: dict[str, dict[str, str]]) -> str:
    """:data:`HELPER` for a training helper of the set, else :data:`JUDGE`."""
    return HELPER if is_helper(run_id, sha256, helpers) else JUDGE


def role_note(who: str, note: str = "") -> str:
    """The note of a scored row: ``"scored by the <role>"`` then the row's own note."""
    head = f"scored by the {who}"
    return f"{head}; {note}" if note else head


def scored_by(note: Any) -> str:
    """The role a stored row's note names (:data:`JUDGE`, :data:`HELPER`), else ``""``."""
    text = str(note or "")
    for who in (JUDGE, HELPER):
        if text.startswith(f"scored by the {who}"):
            return who
    return ""


def check_judge(stage: str, run_id: str, sha256: str, helpers: dict[str, dict[str, str]], set_name: str) -> None:
    """Refuse (one line) a judge that is one of the set's training helpers."""
    for helper_stage, h in helpers.items():
        if run_id == h["run_id"] or (sha256 and sha256 == h["sha256"]):
            same = "it is that run" if run_id == h["run_id"] else f"same checkpoint sha256 {sha256[:12]}"
            raise ConfigError(f"judge {stage} run {run_id!r} is set {set_name!r}'s training helper ({helper_stage} run "
                              f"{h['run_id']!r}; {same}); choose a {stage} run trained separately")
