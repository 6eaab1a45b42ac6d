"""Models: generators (VAE, ...), the model registry, checkpoints and the pretrained zoo."""

from genprior.models.checkpoint import load_model, save_model
from genprior.models.vae import VAE

__all__ = ["VAE", "load_model", "save_model"]
