"""Robustness: adversarial attacks (``robust.attacks``), defenses (``robust.defenses``) and saliency (``robust.saliency``)."""
