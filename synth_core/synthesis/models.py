"""The trained networks a synthetic set is made with, and the settings they were trained under.

:class:`SynthesisModels` is a plain bundle of torch modules (frozen, eval mode) plus the
multimodal run's generation settings, so the pipeline is a pure function of it and a seed; how
the bundle is rebuilt from run folders is :mod:`synth_core.synthesis.loading`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from torch import nn

from synth_core.errors import ConfigError


@dataclass(frozen=True)
class GenerationSettings:
    """How ``G``'s input is built (the multimodal run's config; METHOD.md §5, §9 and the ablation switches)."""

    noise_low: float = 0.5  # eq. 12: z' ~ U(noise_low, noise_high) inside the organ
    noise_high: float = 0.6
    noise_blur: float = 0.0  # smoothness of z' in pixels (0 = independent per pixel, thesis)
    structure_threshold: float = 0.5  # binarisation of G_s's maps and G_m's masks
    use_structure: bool = True  # False = ablation A: G sees uniform noise instead of s'
    noise_fusion: bool = True  # False = ablation C: s' = s
    mask_filter: bool = True  # False = ablation B: lesions placed anywhere in the frame
    lesion_tries: int = 50  # placement tries per sample before it gets an empty label (thesis: 50)
    structure_min_realness: float = 0.0  # keep a generated map when D_s scores it >= this (0 = every map)
    structure_tries: int = 50  # latents tried per sample before the best-scoring one is kept (thesis: 50)
    zero_background: bool = False  # set every pixel outside the generated organ mask to 0 (skull-stripped data)
    mask_min_area: float = 0.0  # generated masks drop regions below this fraction of the frame (0 = thesis)

    def __post_init__(self) -> None:
        if not 0 <= self.noise_low <= self.noise_high <= 1:
            raise ConfigError(f"noise range must satisfy 0 <= low <= high <= 1, not ({self.noise_low}, {self.noise_high})")
        if not 0 <= self.noise_blur <= 8:
            raise ConfigError(f"noise_blur must be in [0, 8] pixels, not {self.noise_blur}")
        if not 0 < self.structure_threshold < 1:
            raise ConfigError(f"structure_threshold must be in (0, 1), not {self.structure_threshold}")
        if not 0 <= self.mask_min_area < 1:
            raise ConfigError(f"mask_min_area must be a fraction of the frame in [0, 1), not {self.mask_min_area}")
        if self.lesion_tries < 1:
            raise ConfigError(f"lesion_tries must be >= 1, not {self.lesion_tries}")
        if self.structure_tries < 1:
            raise ConfigError(f"structure_tries must be >= 1, not {self.structure_tries}")
        if not self.structure_min_realness < 1.5:
            raise ConfigError(f"structure_min_realness must be below 1.5 (D_s targets 1 for real maps), "
                              f"not {self.structure_min_realness}")


@dataclass
class SynthesisModels:
    """``G_s``, ``G_m`` (structure run), ``G`` (multimodal run) and optional frozen helpers for the
    per-sample figures: ``segmenters`` (modality -> ``seg_<m>``) and ``translator`` (``G_t``).
    ``runs`` is the provenance: stage -> {run_id, checkpoint, sha256, step}."""

    G_s: nn.Module
    G_m: nn.Module
    G: nn.Module
    modalities: tuple[str, ...]
    label_names: dict[int, str]
    size: int
    settings: GenerationSettings = field(default_factory=GenerationSettings)
    segmenters: dict[str, nn.Module] = field(default_factory=dict)
    translator: nn.Module | None = None
    D_s: nn.Module | None = None  # structure discriminator, loaded when settings accept maps by it
    runs: dict[str, dict[str, Any]] = field(default_factory=dict)
    lesion_ranges: dict[str, Any] | None = None  # the AugmentRanges dict G was trained with, if recorded
    dataset: str = ""  # the name of the dataset G was trained on, as its run recorded it
    dataset_content: dict[str, Any] | None = None  # G's run's content record of it (synth_core.datalink)

    def __post_init__(self) -> None:
        if not self.modalities:
            raise ConfigError("a synthesis model needs at least one modality")
        if int(getattr(self.G_s, "image_size", self.size)) != self.size:
            raise ConfigError(f"G_s makes {self.G_s.image_size} px maps but G was trained at {self.size} px")
        extra = set(self.segmenters) - set(self.modalities)
        if extra:
            raise ConfigError(f"segmenters for unknown modalities {sorted(extra)}; modalities are {list(self.modalities)}")

    @property
    def n_classes(self) -> int:
        return max(self.label_names) + 1 if self.label_names else 1

    @property
    def latent_dim(self) -> int:
        return int(self.G_s.latent_dim)
