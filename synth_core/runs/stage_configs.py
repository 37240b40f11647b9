"""The settings of each training stage, as frozen dataclasses (no torch).

Each stage module (``training/stages/<stage>.py``) trains with one of these; they live here so
that building the settings form on the Training page, validating ``--set`` values and reading a
run's saved settings need no torch. ``CONFIGS`` maps a stage name to its class.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from synth_core.errors import ConfigError
from synth_core.runs.config import CommonConfig, param
from synth_core.structure import MASK_MIN_AREA

#: normalisation layers every network accepts
NORMS = ("instance", "batch", "group", "none")
MAX_UNET_DEPTH = 10  # synth_core.nets.UNet's limit (1024 px down to 1×1)


# ---- structure ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StructureConfig(CommonConfig):
    steps: int = param(1500, "optimisation steps of the VAE+GAN phase (after the mask phase)")
    mask_steps: int = param(200, "steps that train the mask generator G_m alone before the VAE+GAN phase")
    lr: float = param(2e-4, "Adam learning rate of E_s+G_s, D_z and D_s (thesis: 1e-5 over 200 epochs)")
    mask_lr: float = param(0.0, "Adam learning rate of G_m (0 = the same as lr)")
    latent_dim: int = param(128, "length of the latent vector f / z (thesis: 4096 at 512 px)")
    base_channels: int = param(16, "width of the first E_s stage and of the last G_s stage (thesis: 64)")
    n_down: int = param(4, "stride-2 stages of E_s and up-sampling stages of G_s (image size / 2**n_down at the dense layer)")
    max_channels: int = param(256, "width cap of E_s and G_s")
    d_channels: int = param(16, "width of the first D_s stage (thesis: 64)")
    d_n_down: int = param(4, "down-sampling stages of D_s (VGG11 plan, at most 5)")
    dz_hidden: int = param(256, "hidden width of the latent discriminator D_z")
    dz_layers: int = param(3, "linear layers of D_z")
    mask_channels: int = param(16, "width of the first G_m U-Net level (thesis: 32)")
    mask_depth: int = param(3, "down-sampling steps of the G_m U-Net")
    norm: str = param("instance", "normalisation in E_s, G_s, D_s and G_m: instance | batch | group | none")
    w_mask: float = param(15.0, "weight of MSE(m, G_m(s)), eq. 6 (mask phase)")
    w_rec_mse: float = param(25.0, "weight of MSE(s, s_r), eq. 7")
    w_rec_l1: float = param(10.0, "weight of L1(s, s_r) (thesis code)")
    w_rec_dice: float = param(0.0, "weight of the soft Dice loss of s_r against s (not in the thesis: keeps thin "
                                   "contours, which MSE and L1 blur below the binarisation threshold)")
    w_rec_bce: float = param(0.0, "weight of the binary cross-entropy of s_r against s (not in the thesis)")
    w_outside_rec: float = param(1.0, "weight of MSE(0, (1-m)*s_r): reconstructed contours outside the organ, eq. 7")
    w_outside_gen: float = param(1.0, "weight of MSE(0, (1-G_m(s_g))*s_g): generated contours outside their mask, eq. 11")
    w_g_dz: float = param(0.001, "weight of (D_z(f)-1)^2, encoder adversarial term, eq. 9")
    w_mean_reg: float = param(0.001, "weight of mean(f_mean)^2 (thesis code)")
    w_std_reg: float = param(0.001, "weight of (mean(exp(logvar/2))-1)^2 (thesis code)")
    w_g_ds: float = param(0.1, "weight of (D_s(s_g)-1)^2, decoder adversarial term, eq. 11")
    w_kl: float = param(0.0, "weight of the VAE KL term (mean per latent dimension); the thesis has none (0), "
                             "short CPU runs need it so that maps decoded from N(0, I) look like real ones")
    w_d_z: float = param(10.0, "weight of the D_z loss (D_z(z)-1)^2 + D_z(f)^2, eq. 8")
    w_d_s: float = param(25.0, "weight of the D_s loss (D_s(s)-1)^2 + D_s(s_g)^2, eq. 10")
    d_spectral_norm: bool = param(False, "spectral normalisation (Miyato et al.) of every D_s convolution and of its "
                                         "head: on short runs D_s separates real from generated maps completely "
                                         "(d_s ~ 0.005 at the end of the shipped demo run), so eq. 11 gives G_s "
                                         "little to follow; bounding D_s keeps that gradient informative (off = "
                                         "thesis)")
    ds_hard: bool = param(False, "D_s sees generated maps binarised at `threshold`, as real maps are and as "
                                 "synthesis screens them, with the straight-through gradient (forward the binary "
                                 "map, backward the sigmoid's): a soft map's grey values alone tell it from a real "
                                 "one, which lets D_s win without looking at anatomy (off = thesis: the sigmoid map)")
    threshold: float = param(0.5, "binarisation threshold of generated maps and masks (samples and validation)")
    val_slices: int = param(64, "validation slices scored at each checkpoint (0 = all)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mask_steps < 0:
            raise ConfigError(f"mask_steps must be >= 0, not {self.mask_steps}")
        if self.mask_lr < 0:
            raise ConfigError(f"mask_lr must be >= 0 (0 = same as lr), not {self.mask_lr}")
        for name in ("latent_dim", "base_channels", "n_down", "max_channels", "d_channels", "d_n_down",
                     "dz_hidden", "dz_layers", "mask_channels", "mask_depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.d_n_down > 5:
            raise ConfigError(f"d_n_down must be at most 5 (the VGG11 plan), not {self.d_n_down}")
        if self.norm not in ("instance", "batch", "group", "none"):
            raise ConfigError(f'norm must be "instance", "batch", "group" or "none", not "{self.norm}"')
        for name in ("w_mask", "w_rec_mse", "w_rec_l1", "w_outside_rec", "w_outside_gen", "w_g_dz",
                     "w_mean_reg", "w_std_reg", "w_g_ds", "w_kl", "w_d_z", "w_d_s", "w_rec_dice", "w_rec_bce"):
            if not (getattr(self, name) >= 0):
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")
        if not (0.0 < self.threshold < 1.0):
            raise ConfigError(f"threshold must be in (0, 1), not {self.threshold}")
        if self.val_slices < 0:
            raise ConfigError(f"val_slices must be >= 0, not {self.val_slices}")


# ---- segmenter ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class SegmenterConfig(CommonConfig):
    steps: int = param(600, "optimisation steps")
    lr: float = param(1e-3, "Adam learning rate (segmenters train fast)")
    beta1: float = param(0.9, "Adam beta1 (not a GAN: the usual 0.9)")
    base_channels: int = param(16, "U-Net width of the first level (thesis: 64)")
    depth: int = param(3, "U-Net down-sampling steps")
    norm: str = param("instance", "normalisation: instance | batch | group | none")
    dice_weight: float = param(1.0, "weight of the soft Dice loss")
    ce_weight: float = param(1.0, "weight of the cross-entropy loss")
    val_slices: int = param(64, "validation slices scored at each checkpoint (0 = all)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("base_channels", "depth"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.depth > MAX_UNET_DEPTH:
            raise ConfigError(f"depth must be at most {MAX_UNET_DEPTH}, not {self.depth}")
        if self.norm not in NORMS:
            raise ConfigError(f'norm must be one of {", ".join(NORMS)}, not "{self.norm}"')
        for name in ("dice_weight", "ce_weight", "val_slices"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.dice_weight == 0 and self.ce_weight == 0:
            raise ConfigError("dice_weight and ce_weight are both 0: the segmenter would have no loss")


# ---- translator -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class TranslatorConfig(CommonConfig):
    steps: int = param(2000, "optimisation steps")
    batch_size: int = param(4, "slices per step; each gets one (source, target) pair (thesis code: 4)")
    lr: float = param(2e-4, "Adam learning rate of G_t and D_t (thesis: 1e-5 over 200 epochs)")
    base_channels: int = param(16, "G_t U-Net width of the first level (thesis: 64)")
    depth: int = param(3, "G_t U-Net down-sampling steps (thesis: 3, bottleneck at /8)")
    norm: str = param("instance", "normalisation of G_t and D_t: instance | batch | group | none")
    condition_at: str = param("decoder", "where G_t sees the target one-hot: bottleneck (thesis) | decoder "
                                         "(every decoder level; skips otherwise let G_t ignore it at small scale)")
    d_base_channels: int = param(0, "D_t width of the first stage (0 = same as base_channels)")
    d_n_down: int = param(4, "D_t down-sampling stages (thesis: 4, heads on /16 features)")
    cycle_weight: float = param(20.0, "weight of the cycle loss ||x_i - G_t(G_t(x_i, j), i)||^2 (eq. 19; thesis code 20)")
    cross_weight: float = param(5.0, "weight of the paired loss ||x_j - G_t(x_i, j)||^2 (thesis code 5)")
    g_adv_weight: float = param(3.0, "weight of G_t's adversarial term (eq. 21; thesis code 3)")
    g_cls_weight: float = param(5.0, "weight of G_t's modality-class term (eq. 21; thesis code 5)")
    d_real_weight: float = param(5.0, "weight of D_t's real term (eq. 20; thesis code 5)")
    d_fake_weight: float = param(3.0, "weight of D_t's fake term (eq. 20; thesis code 3)")
    d_cls_weight: float = param(5.0, "weight of D_t's modality-class term (eq. 20; thesis code 5)")
    val_slices: int = param(64, "validation slices scored at each checkpoint (0 = all)")

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("base_channels", "depth", "d_n_down"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.d_base_channels < 0:
            raise ConfigError(f"d_base_channels must be >= 0, not {self.d_base_channels}")
        if self.d_n_down > 5:
            raise ConfigError(f"d_n_down must be at most 5 (VGG11 has 5 stages), not {self.d_n_down}")
        if self.norm not in ("instance", "batch", "group", "none"):
            raise ConfigError(f'norm must be "instance", "batch", "group" or "none", not "{self.norm}"')
        for name in ("cycle_weight", "cross_weight", "g_adv_weight", "g_cls_weight", "d_real_weight",
                     "d_fake_weight", "d_cls_weight", "val_slices"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")

    @property
    def size_factor(self) -> int:
        """Image sides must be divisible by this (U-Net pooling and D_t stages)."""
        return max(2**self.depth, 2**self.d_n_down)


# ---- multimodal -----------------------------------------------------------------------------------
SWITCHES = ("use_structure", "mask_filter", "noise_fusion", "registration", "lesion_guidance")
#: thesis Table 1: which switch each ablation row turns off (F = the full model)
ABLATIONS = {"A": "use_structure", "B": "mask_filter", "C": "noise_fusion", "D": "registration",
             "E": "lesion_guidance", "F": None}


@dataclass(frozen=True)
class MultimodalConfig(CommonConfig):
    steps: int = param(1000, "adversarial steps (eqs. 13-17), after the pre-training steps")
    pretrain_steps: int = param(200, "self-supervised pre-training steps on real slices first (eq. 18; 0 = none)")
    batch_size: int = param(4, "structure maps per step; G makes every modality of each (thesis: 1)")
    lr: float = param(1e-4, "Adam learning rate of G and D in the adversarial phase (thesis code: 2e-5)")
    pretrain_lr: float = param(5e-4, "learning rate of G in the pre-training phase (0 = the same as lr); a fast "
                                     "pre-training and a gentle adversarial phase keep the structure on short CPU runs")
    base_channels: int = param(32, "G U-Net width of the first level (thesis code: 64)")
    depth: int = param(3, "G U-Net down-sampling steps (thesis code: 3, bottleneck at /8)")
    norm: str = param("instance", "normalisation of G: instance | batch | group | none")
    condition_at: str = param("decoder", "where G sees the modality one-hot: decoder (FiLM in every decoder block) | "
                                         "bottleneck (thesis code); see the module docstring")
    d_norm: str = param("instance", "normalisation of D: instance | batch | group | none. With instance norm every "
                                    "channel of every image is normalised alone, so D's pooled class logits and the "
                                    "mean of its real/fake map barely depend on the image: measured on the demo data "
                                    "(120 steps, real vs blurred real), D's modality accuracy 0.42 with instance, 0.76 "
                                    "with batch norm")
    d_base_channels: int = param(0, "D width of the first stage (0 = same as base_channels)")
    d_n_down: int = param(4, "D down-sampling stages (thesis code: 4, heads on /16 features)")
    g_adv_weight: float = param(3.0, "weight of G's adversarial term (eq. 14; thesis code 3)")
    g_cls_weight: float = param(5.0, "weight of G's modality-class term (eq. 14; thesis code 5)")
    reg_weight: float = param(20.0, "weight of the registration loss (eq. 16; thesis code 20)")
    reg_cross_weight: float = param(5.0, "weight of the agreement of translations into one target (thesis code 5)")
    reg_pairs: int = param(0, "ordered modality pairs translated per step for eq. 16 (0 = all M(M-1), as the "
                              "thesis; fewer = a random subset each step, scaled up to estimate the full sum)")
    reg_blur: float = param(0.0, "Gaussian blur (sigma, pixels) applied to both sides of eq. 16 (0 = thesis: "
                                 "none). The frozen translator's output is smooth while real modalities carry "
                                 "independent acquisition noise, so a pixel-exact registration term penalises "
                                 "realistic texture; blurred, it still aligns the anatomy")
    les_weight: float = param(5.0, "weight of the lesion-guidance loss (eq. 15; thesis code 5)")
    les_class_weights: tuple[float, ...] = param(
        (0.5, 5.0, 25.0, 25.0, 25.0),
        "per-class weights of the lesion-guidance error, background first (thesis code; the last one repeats "
        "for more classes)")
    adv_rec_weight: float = param(0.0, "adversarial phase: weight of eq. 18's reconstruction of real slices from their "
                                       "own structure map, mask and label, kept beside the adversarial terms (0 = "
                                       "thesis: none). On short runs the adversarial terms alone drift G away from "
                                       "its input structure; this anchors it, as pix2pix's L1 term does")
    adv_rec_blur: float = param(0.0, "adversarial phase: Gaussian blur (sigma, pixels) applied to both sides of the "
                                     "reconstruction anchor (0 = none). The anchor then holds G to the real slice's "
                                     "anatomy at coarse scale only and leaves fine texture (acquisition noise, "
                                     "grey/white detail that the structure map does not carry) to the adversarial "
                                     "terms; a pixel-exact anchor rewards the smooth average of that texture")
    tissue_weight: float = param(0.0, "adversarial phase: weight of a tissue-intensity term (0 = thesis: none): per "
                                      "modality, the 1-D Wasserstein distance between the intensities of the generated "
                                      "images inside their organ masks and of the batch's real images inside theirs "
                                      "(64 quantiles). The pixel anchor and eq. 18's pre-training teach G the mean "
                                      "intensity, which squeezes grey/white matter and CSF towards it; this term "
                                      "asks for the real spread")
    patch_weight: float = param(0.0, "adversarial phase: weight of a local texture term (0 = thesis: none). A "
                                     "second, PatchGAN discriminator D_p (Isola et al.) with a small receptive field "
                                     "(patch_layers) judges local patches of real and generated images, each with its "
                                     "modality as constant planes; G gets g_patch = ||d_p(x_g,i) - 1||^2 summed over "
                                     "modalities. D's /16 map and pooled class head do not see acquisition noise and "
                                     "fine grey/white detail; D_p does, and G draws that texture from eq. 12's noise")
    fm_weight: float = param(0.0, "adversarial phase: weight of a feature-matching term (0 = none; needs "
                                  "patch_weight > 0 and adv_rec_weight > 0): the L1 distance between D_p's hidden "
                                  "activations on each real slice and on its reconstruction from its own structure "
                                  "map (the anchor's pair), averaged over D_p's layers and summed over modalities "
                                  "(pix2pixHD, Wang et al. 2018). The blurred anchor holds G to the slice's anatomy "
                                  "at coarse scale only; this compares the fine grey/white detail where the real "
                                  "slice says what it is, in the features D_p has learned to look at")
    patch_layers: int = param(2, "D_p's stride-2 layers: 1, 2, 3 give receptive fields of 16, 34, 70 pixels")
    patch_base_channels: int = param(0, "D_p width of the first layer (0 = same as D)")
    patch_norm: str = param("instance", "normalisation of D_p's inner layers: instance | batch | group | none. "
                                        "Instance norm rescales every feature map of every image to the same "
                                        "mean and spread, so D_p cannot see that a generated image's tissue "
                                        "intensities are squeezed towards their mean; with none (or batch) it can")
    d_minibatch_std: bool = param(False, "D's real/fake head also sees the standard deviation of its features "
                                         "across the batch's images of one modality (ProGAN's minibatch standard "
                                         "deviation), so it can tell when generated images vary less than real "
                                         "ones (on the demo every generated sample has the same contrast; real "
                                         "scans vary 3-5x more). Measured on the demo: no gain, as G has no "
                                         "per-sample random input to vary with (docs/TRAINING_RECIPES.md; "
                                         "style_quantiles gives it one). "
                                         "false = thesis")
    patch_spectral_norm: bool = param(False, "spectral normalisation (Miyato et al.) of every D_p layer: bounds how "
                                             "sharply D_p can react to a pattern, a common cure for the periodic "
                                             "texture a local discriminator can teach G (off = as before)")
    output_noise: int = param(0, "G adds learned acquisition noise to its output: per modality a k x k filter "
                                 "(k = this, odd) of fresh Gaussian noise, inside the organ, starting at 0 and "
                                 "set by the adversarial terms (StyleGAN's noise inputs; synth_core.nets.noise). "
                                 "0 = none (thesis). Without it G's only randomness is eq. 12's fused noise, which "
                                 "it turns into smooth, oriented patterns instead of the scans' pixel noise")
    style_quantiles: tuple[float, ...] = param((), "a per-sample style code for G (() = thesis: none): per modality "
                                                  "these quantiles of the intensities inside the organ mask "
                                                  "and outside the lesion, "
                                                  "standardised. G learns from each real slice with its own code and "
                                                  "a generated sample draws one from their Gaussian law "
                                                  "(synth_core.nets.style). Without it every generated sample gets "
                                                  "the same average contrast (measured on the demo: the per-image "
                                                  "median brightness varies 3-5x less than across real slices)")
    style_rec_weight: float = param(0.0, "adversarial phase: weight of a style-reconstruction term (0 = none; needs "
                                         "style_quantiles): the L1 distance between each generated sample's drawn "
                                         "code and the code read back from its images (the same quantiles inside its "
                                         "generated organ mask and outside its lesion, standardised), as StarGAN v2's style reconstruction. "
                                         "Without it only real slices (the anchor) hold G to its code, and the "
                                         "adversarial terms let generated samples drift back towards the average "
                                         "contrast (measured on the demo: half of the contrast spread is lost)")
    pre_mse_weight: float = param(5.0, "pre-training weight of ||x_g - x||^2 (eq. 18; thesis code 5)")
    pre_masked_weight: float = param(5.0, "pre-training weight of ||x_g*m - x*m||^2 (eq. 18; thesis code 5)")
    d_real_weight: float = param(5.0, "weight of D's real term (eq. 13; thesis code 5)")
    d_fake_weight: float = param(3.0, "weight of D's fake term (eq. 13; thesis code 3)")
    d_cls_weight: float = param(5.0, "weight of D's modality-class term (eq. 13; thesis code 5)")
    noise_low: float = param(0.5, "noise fusion z' ~ U(noise_low, noise_high) inside the organ (eq. 12)")
    noise_high: float = param(0.6, "upper end of the noise fusion range (eq. 12)")
    noise_blur: float = param(0.0, "spatial smoothness of eq. 12's noise (pixels): every pixel stays "
                                   "U(noise_low, noise_high) but neighbours within about this many pixels are "
                                   "correlated (blurred Gaussian noise through the normal CDF). 0 = independent "
                                   "per-pixel noise (thesis). Measured on the demo: 1.5 changed no C2ST AUC and "
                                   "the streaky ripple came back (docs/TRAINING_RECIPES.md)")
    structure_threshold: float = param(0.5, "binarisation threshold of G_s's maps and G_m's masks")
    lesion_fraction: float = param(1.0, "fraction of generated maps that get a lesion (thesis: every one)")
    lesion_scale: tuple[float, ...] = param((0.7, 1.3), "lesion augmentation: linear zoom range (low, high)")
    lesion_tries: int = param(50, "placement tries per generated map before it gets an empty label (thesis: 50)")
    structure_min_realness: float = param(0.0, "synthesis keeps a generated structure map only when the structure "
                                               "discriminator D_s scores it at least this (thesis code: 0.55; 0 = "
                                               "every map); otherwise the best of structure_tries latents")
    structure_tries: int = param(50, "latents tried per synthetic sample for structure_min_realness (thesis: 50)")
    mask_min_area: float = param(MASK_MIN_AREA, "generated organ masks (synthesis, the Latent page and this "
                                                "stage's adversarial phase) drop regions smaller than this fraction "
                                                "of the frame (0.005 = 82 px at 128 px): G_m leaves specks where a "
                                                "map has stray contour bits, while real masks are one region, or two "
                                                "of hundreds of pixels. 0 = thesis: G_m(s) > threshold as it is")
    zero_background: str = param("auto", "synthesis sets every pixel outside the generated organ mask to 0: "
                                         "'auto' = when the training dataset's real images are 0 outside their "
                                         "organ masks (skull-stripped MRI), 'on', 'off' (thesis: no such step)")
    structure_run: str = param("", "structure run giving G_s and G_m ('' = newest finished one on this dataset)")
    segmenter_run: str = param("", "segmenter run for lesion guidance ('' = newest finished one on this dataset)")
    translator_run: str = param("", "translator run for the registration loss ('' = newest finished one on this "
                                     "dataset)")
    use_structure: bool = param(True, "feed the fused structure map (false = ablation A: noise only)")
    mask_filter: bool = param(True, "place lesions only inside the generated organ mask (false = ablation B)")
    noise_fusion: bool = param(True, "fuse noise into the structure map, eq. 12 (false = ablation C: s' = s)")
    registration: bool = param(True, "registration loss with the frozen translator, eq. 16 (false = ablation D; "
                                     "off automatically for one modality)")
    lesion_guidance: bool = param(True, "lesion-guidance loss with frozen segmenters, eq. 15 (false = ablation E)")
    ablation: str = param("", "thesis ablation row A-F: sets the five switches above (one off; F = all on); "
                              "'' = use the switches as given")
    val_slices: int = param(32, "validation slices scored at each checkpoint (0 = all)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ablation not in ("", *ABLATIONS):
            raise ConfigError(f'ablation must be "" or one of {", ".join(ABLATIONS)}, not "{self.ablation}"')
        if self.ablation:
            off = ABLATIONS[self.ablation]
            for name in SWITCHES:
                object.__setattr__(self, name, name != off)
        for name in ("base_channels", "depth", "d_n_down", "lesion_tries", "structure_tries", "patch_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        if self.d_n_down > 5:
            raise ConfigError(f"d_n_down must be at most 5 (VGG11 has 5 stages), not {self.d_n_down}")
        if self.patch_layers > 4:
            raise ConfigError(f"patch_layers must be at most 4 (receptive field 142 px), not {self.patch_layers}")
        if self.output_noise not in (0, *range(1, 16, 2)):
            raise ConfigError(f"output_noise must be 0 (none) or an odd filter size from 1 to 15, "
                              f"not {self.output_noise}")
        for name in ("d_base_channels", "patch_base_channels", "pretrain_steps", "val_slices", "reg_pairs", "pretrain_lr"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.condition_at not in ("bottleneck", "decoder"):
            raise ConfigError(f'condition_at must be "bottleneck" or "decoder", not "{self.condition_at}"')
        for name in ("adv_rec_blur", "reg_blur", "noise_blur"):
            if not (0.0 <= getattr(self, name) <= 8.0):
                raise ConfigError(f"{name} must be in [0, 8] pixels, not {getattr(self, name)}")
        if self.d_minibatch_std and self.batch_size < 2:
            raise ConfigError(f"d_minibatch_std needs batch_size >= 2 (a standard deviation across images), "
                              f"not {self.batch_size}")
        q = self.style_quantiles
        if len(q) > 8 or any(not 0.0 < v < 1.0 for v in q) or any(b <= a for a, b in zip(q, q[1:])):
            raise ConfigError(f"style_quantiles must be at most 8 strictly increasing levels in (0, 1), not {list(q)}")
        if self.fm_weight > 0 and not (self.patch_weight > 0 and self.adv_rec_weight > 0):
            raise ConfigError("fm_weight > 0 needs D_p and the anchor's pairs: set patch_weight > 0 and adv_rec_weight > 0")
        if self.style_rec_weight > 0 and not q:
            raise ConfigError("style_rec_weight > 0 needs a style code: set style_quantiles (e.g. 0.1,0.5,0.9)")
        if not 0 <= self.mask_min_area <= 0.5:
            raise ConfigError(f"mask_min_area must be a fraction of the frame in [0, 0.5], not {self.mask_min_area}")
        if self.zero_background not in ("auto", "on", "off"):
            raise ConfigError(f"zero_background must be auto, on or off, not {self.zero_background!r}")
        if not (0.0 <= self.structure_min_realness < 1.5):
            raise ConfigError(f"structure_min_realness must be in [0, 1.5), not {self.structure_min_realness}")
        for name in ("norm", "d_norm", "patch_norm"):
            if getattr(self, name) not in ("instance", "batch", "group", "none"):
                raise ConfigError(f'{name} must be "instance", "batch", "group" or "none", not "{getattr(self, name)}"')
        for name in ("g_adv_weight", "g_cls_weight", "reg_weight", "reg_cross_weight", "les_weight", "adv_rec_weight", "patch_weight", "tissue_weight",
                     "style_rec_weight", "fm_weight", "pre_mse_weight", "pre_masked_weight", "d_real_weight", "d_fake_weight", "d_cls_weight"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")
        if not self.les_class_weights or any(not w >= 0 for w in self.les_class_weights):
            raise ConfigError(f"les_class_weights must be one or more numbers >= 0, not {self.les_class_weights}")
        if not (0.0 <= self.noise_low <= self.noise_high <= 1.0):
            raise ConfigError(f"noise range must satisfy 0 <= noise_low <= noise_high <= 1, "
                              f"not ({self.noise_low}, {self.noise_high})")
        if not (0.0 < self.structure_threshold < 1.0):
            raise ConfigError(f"structure_threshold must be in (0, 1), not {self.structure_threshold}")
        if not (0.0 <= self.lesion_fraction <= 1.0):
            raise ConfigError(f"lesion_fraction must be in [0, 1], not {self.lesion_fraction}")
        if len(self.lesion_scale) != 2 or not (0 < self.lesion_scale[0] <= self.lesion_scale[1]):
            raise ConfigError(f"lesion_scale must be (low, high) with 0 < low <= high, not {self.lesion_scale}")

    @property
    def size_factor(self) -> int:
        """Image sides must be divisible by this (U-Net pooling and D stages)."""
        return max(2**self.depth, 2**self.d_n_down)


# ---- pix2pix --------------------------------------------------------------------------------------
GAN_MODES = ("vanilla", "lsgan")


@dataclass(frozen=True)
class Pix2PixConfig(CommonConfig):
    steps: int = param(2000, "optimisation steps (paper: 10 epochs of its lesion slices at batch 1)")
    batch_size: int = param(1, "lesion slices per step (paper and pix2pix: 1)")
    lr: float = param(2e-4, "Adam learning rate of G and D (paper: 0.0002)")
    beta1: float = param(0.5, "Adam beta1 (paper: 0.5)")
    modality: str = param("", "modality to whiten and fill (name; empty = the dataset's first)")
    base_channels: int = param(32, "U-Net G width of the first level (pix2pix: 64)")
    depth: int = param(0, "U-Net G down-samplings; 0 = as deep as the size allows (1×1, as the paper)")
    max_channels: int = param(512, "widest U-Net G level (pix2pix 512; the paper's figure shows 1024 at 1×1)")
    dropout: float = param(0.5, "dropout in the three deepest G decoder blocks (paper: 0.5)")
    norm: str = param("instance", "G/D normalisation: instance | batch | group | none")
    d_channels: int = param(64, "PatchGAN D width of the first layer (pix2pix: 64)")
    n_layers: int = param(3, "PatchGAN stride-2 layers: 3 → 30×30 output at 256 px, 4 → 30×30 at 512 (paper)")
    gan_mode: str = param("vanilla", "adversarial loss: vanilla (BCE with logits, pix2pix) | lsgan (least squares)")
    lambda_adv: float = param(1.0, "weight of the adversarial term in G's loss (paper: 1)")
    lambda_l1: float = param(100.0, "weight of the L1 term in G's loss (paper: 100)")
    lambda_l1_lesion: float = param(0.0, "weight of an L1 term over the lesion pixels alone (0 = paper: none). "
                                         "Lesions cover ~1 % of a slice, so the whole-image L1 is nearly all "
                                         "'copy the input outside the lesion'; a generator can score well on it "
                                         "while painting the white region flat. This term is the mean error over "
                                         "the lesion pixels, the part G has to invent")
    label_input: bool = param(False, "also give G and D the lesion's classes, one channel per class (off = paper: "
                                     "the whitened slice alone). A white region says where the lesion is but not "
                                     "which part is enhancing rim, necrotic core or oedema, so G can only paint their "
                                     "average; with the classes it paints each where the label says")
    val_slices: int = param(32, "validation lesion slices scored at each checkpoint (0 = all)")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(f'gan_mode must be one of {", ".join(GAN_MODES)}, not "{self.gan_mode}"')
        if self.norm not in NORMS:
            raise ConfigError(f'norm must be one of {", ".join(NORMS)}, not "{self.norm}"')
        if not 0 <= self.depth <= MAX_UNET_DEPTH:
            raise ConfigError(f"depth must be between 0 (automatic) and {MAX_UNET_DEPTH}, not {self.depth}")
        for name in ("base_channels", "max_channels", "d_channels", "n_layers"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, not {getattr(self, name)}")
        if not 0 <= self.dropout < 1:
            raise ConfigError(f"dropout must be in [0, 1), not {self.dropout}")
        for name in ("lambda_adv", "lambda_l1", "lambda_l1_lesion"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must be >= 0, not {getattr(self, name)}")
        if self.val_slices < 0:
            raise ConfigError(f"val_slices must be >= 0, not {self.val_slices}")


#: multimodal fields added after runs and experiments were made whose default is exactly what those
#: runs did, so a saved config without the field reads as this value. ``zero_background`` and
#: ``mask_min_area`` are not here: they act at synthesis, so an older run's new sets get their
#: defaults, and each set records the values it was made with (``synthesis.loading.as_set_made``).
MULTIMODAL_ADDED_AS_BEFORE: dict[str, Any] = {"patch_norm": "instance", "patch_spectral_norm": False, "output_noise": 0,
                                                "noise_blur": 0.0, "tissue_weight": 0.0, "d_minibatch_std": False,
                                                "style_quantiles": (), "style_rec_weight": 0.0,
                                                "fm_weight": 0.0}

#: stage name -> its settings class
CONFIGS: dict[str, type[CommonConfig]] = {
    "structure": StructureConfig,
    "segmenter": SegmenterConfig,
    "translator": TranslatorConfig,
    "multimodal": MultimodalConfig,
    "pix2pix": Pix2PixConfig,
}
