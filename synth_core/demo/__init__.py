"""The embedded demo dataset: brain MRI with tumours simulated offline from the MNI152 template.

Real: the MNI152 anatomy (:mod:`~synth_core.demo.templates`). Simulated: subject-to-subject
deformations (:mod:`~synth_core.demo.anatomy`), the T1c/T2/FLAIR contrasts, bias field and noise
(:mod:`~synth_core.demo.contrasts`) and the tumours (:mod:`~synth_core.demo.tumours`).
:func:`build_demo` (:mod:`~synth_core.demo.build`) writes the dataset; :func:`describe_demo`
says all this in plain words.

Attributes are imported on first use, so ``import synth_core.demo`` stays cheap.
"""

from __future__ import annotations

from typing import Any

__all__ = ["DemoParams", "DemoGenerator", "GENERATOR_VERSION", "MODALITIES", "build_demo", "describe_demo"]


def __getattr__(name: str) -> Any:
    if name in ("DemoParams", "DemoGenerator", "GENERATOR_VERSION", "build_demo", "describe_demo"):
        from synth_core.demo import build

        return getattr(build, name)
    if name == "MODALITIES":
        from synth_core.demo.contrasts import MODALITIES

        return MODALITIES
    raise AttributeError(f"module 'synth_core.demo' has no attribute {name!r}")
