"""Networks of the synthesis pipeline (METHOD.md §4–7, §10).

Every constructor takes explicit typed keyword arguments and validates them; docstrings give
shapes. Sizes are free: the same classes build the narrow 64–128 px CPU demo and the 256–512 px
paper configuration.
"""

from synth_core.nets.discriminators import LatentDiscriminator, PatchGANDiscriminator, VGGDiscriminator, spectral_normed
from synth_core.nets.noise import NoisyGenerator, OutputNoise
from synth_core.nets.style import StylePrior
from synth_core.nets.unet import UNet
from synth_core.nets.vae import StructureDecoder, StructureEncoder, reparameterize

__all__ = [
    "LatentDiscriminator",
    "NoisyGenerator",
    "OutputNoise",
    "PatchGANDiscriminator",
    "StructureDecoder",
    "StructureEncoder",
    "StylePrior",
    "UNet",
    "VGGDiscriminator",
    "reparameterize",
    "spectral_normed",
]
