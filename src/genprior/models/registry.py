"""Build a model from the ``architecture`` dict stored in its JSON config.

Every model family is listed once, in :data:`FAMILIES`; this module sits above the model modules and imports them,
none of them imports it.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from genprior.errors import CheckpointError
from genprior.models.autoencoder import Autoencoder, EncoderClassifier
from genprior.models.began import (
    BEGANBottleneckDiscriminator,
    BEGANDiscriminator,
    BEGANGenerator,
)
from genprior.models.causal import CausalController, LabelCritic
from genprior.models.causal_image import (
    AttributeClassifier,
    CausalGAN,
    CausalImageGenerator,
)
from genprior.models.classifier import Classifier
from genprior.models.conditional import ConditionalDiscriminator, ConditionalGenerator
from genprior.models.cyclegan import CycleGAN, CycleGenerator, PatchDiscriminator
from genprior.models.dcgan import DCGANDiscriminator, DCGANGenerator
from genprior.models.diffusion import Diffusion
from genprior.models.infogan import CRHead, InfoGANDiscriminator, InfoGANGenerator
from genprior.models.mlp import MLPDiscriminator, MLPGenerator
from genprior.models.pack import PackedDiscriminator
from genprior.models.pca import PCAGenerator
from genprior.models.vae import VAE


def _causal_gan(*, controller: dict, generator: dict) -> CausalGAN:
    """A CausalGAN: its controller and image generator rebuilt from their own configs, then joined."""
    return CausalGAN(build_model(controller), build_model(generator))


def _packed(*, packing: int, discriminator: dict) -> PackedDiscriminator:
    """A packed discriminator: its inner discriminator rebuilt from its own config, then wrapped."""
    return PackedDiscriminator(build_model(discriminator), packing)


# family name (the config's "architecture.family") -> builder taking the config's other keys
FAMILIES: dict[str, Callable[..., nn.Module]] = {
    "vae": VAE,
    "mlp-generator": MLPGenerator,
    "mlp-discriminator": MLPDiscriminator,
    "dcgan-generator": DCGANGenerator,
    "dcgan-discriminator": DCGANDiscriminator,
    "conditional-generator": ConditionalGenerator,
    "conditional-discriminator": ConditionalDiscriminator,
    "packed": _packed,
    "classifier": Classifier,
    "began-generator": BEGANGenerator,
    "began-discriminator": BEGANDiscriminator,
    "began-bottleneck-discriminator": BEGANBottleneckDiscriminator,
    "pca": PCAGenerator,
    "autoencoder": Autoencoder,
    "encoder-classifier": EncoderClassifier,
    "causal-controller": CausalController,
    "label-critic": LabelCritic,
    "infogan-generator": InfoGANGenerator,
    "infogan-discriminator": InfoGANDiscriminator,
    "infogan-cr-head": CRHead,
    "causal-image-generator": CausalImageGenerator,
    "attribute-classifier": AttributeClassifier,
    "causal-gan": _causal_gan,
    "diffusion": Diffusion,
    "cyclegan": CycleGAN,
    "cyclegan-generator": CycleGenerator,
    "patch-discriminator": PatchDiscriminator,
}


def build_model(architecture: dict) -> nn.Module:
    """Instantiate ``architecture['family']`` with the remaining keys as keyword arguments."""
    if not isinstance(architecture, dict):
        raise CheckpointError(f"a config's 'architecture' must be a JSON object, not {type(architecture).__name__}")
    arch = dict(architecture)
    family = arch.pop("family", None)
    if not isinstance(family, str) or family not in FAMILIES:
        raise CheckpointError(f"config names unknown model family {family!r}; known: {', '.join(sorted(FAMILIES))}")
    try:
        return FAMILIES[family](**arch)
    except (TypeError, ValueError, OverflowError, RuntimeError) as e:
        # wrong names, types or sizes (a string for a width, a size too large to allocate)
        message = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise CheckpointError(f"config for model family {family!r} has bad arguments ({message})") from None

