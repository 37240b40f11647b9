"""Synthesis warns when a helper run's checkpoint is not the one the multimodal run trained with."""

from __future__ import annotations

from types import SimpleNamespace

from synth_core.errors import warnings_to
from synth_core.synthesis.loading import check_helper


def _loaded(sha: str, step: int, slim: bool = False) -> SimpleNamespace:
    return SimpleNamespace(run_id="st", step=step, meta={"slim": True} if slim else {}, sha256=lambda: sha)


def test_the_recorded_checkpoint_passes_silently():
    with warnings_to(lambda line: None) as said:
        assert check_helper("mm", "structure", {"sha256": "a" * 64, "step": 10}, _loaded("a" * 64, 10))
        # a slim copy of the same step has other bytes but the same weights (float16)
        assert check_helper("mm", "structure", {"sha256": "a" * 64, "step": 10}, _loaded("b" * 64, 10, slim=True))
        assert check_helper("mm", "structure", {}, _loaded("c" * 64, 3))  # recorded before sha256s were kept
    assert said == []


def test_a_changed_helper_is_named_in_one_warning():
    with warnings_to(lambda line: None) as said:
        assert not check_helper("mm", "structure", {"sha256": "a" * 64, "step": 10}, _loaded("b" * 64, 30))
        assert not check_helper("mm", "structure", {"sha256": "a" * 64, "step": 10}, _loaded("b" * 64, 30))
        assert not check_helper("mm", "segmenter", {"sha256": "a" * 64, "step": 10}, _loaded("b" * 64, 10))
    assert len(said) == 2
    assert said[0].startswith("structure run 'st' has changed since multimodal run 'mm' was trained with it")
    assert "then step 10, sha256 aaaaaaaaaaaa; now step 30, sha256 bbbbbbbbbbbb" in said[0]
