"""Adversarial attacks, one file each. All take images ``(B, C, H, W)`` in [0, 1] and return clipped ones."""

from genprior.robust.attacks.autoencoder import autoencoder_attack, reconstruct
from genprior.robust.attacks.fgsm import fgsm, fgsm_targeted
from genprior.robust.attacks.fooling import fooling_images
from genprior.robust.attacks.pgd import pgd
from genprior.robust.attacks.transfer import (
           query_labels,
           train_substitute,
           transfer_attack,
)

__all__ = ["autoencoder_attack", "fgsm", "fgsm_targeted", "fooling_images", "pgd", "query_labels", "reconstruct",
           "train_substitute", "transfer_attack"]
