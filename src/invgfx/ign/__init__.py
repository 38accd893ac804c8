"""DC-IGN (Kulkarni et al. 2015): a convolutional VAE whose first latents are azimuth, elevation and
light azimuth, trained on single-factor mini-batches with clamping, so that changing one latent
re-renders the object under a new pose or light.

Modules:
    model     configuration, encoder/decoder, clamping with the invariance gradient, SGVB loss
    shapes    faces-like heads and chairs-like objects as Lambertian-shaded Gaussian surfels
    data      procedural datasets with known factors, cache, single-factor sampler, folder layout
    train     clamped training (DC-IGN) and the entangled baseline, checkpoints, CSV logs
    metrics   beta-VAE, FactorVAE, MIG, DCI, SAP on a factor grid
    evaluate  R^2 per extrinsic latent, novel-view re-rendering error, reconstruction error, sweeps
"""

from invgfx import InvgfxError


class IGNError(InvgfxError):
    """Bad DC-IGN datasets, checkpoints, images or arguments."""


FACTORS = ("azimuth", "elevation", "light", "identity")
"""The generating factors, in latent order: z_1 azimuth, z_2 elevation, z_3 light azimuth, rest identity."""

CLAMPS = ("mean", "swap")
"""How a single-factor batch's inactive latents reach the decoder: the paper's batch mean, or a sibling's."""

LR_SCHEDULES = ("constant", "cosine", "drop")
"""Learning rate over a run: the original code's constant, a cosine decay to 0, or a late drop (see
train.TrainConfig.lr_at)."""

SPREAD_SHAPES = ("std", "uniform")
"""What the spread consistency asks of a single-factor batch's varied latent: the prior's scale, or the
uniform distribution its factor is drawn from (see model.spread_consistency)."""

__all__ = ["CLAMPS", "FACTORS", "IGNError", "LR_SCHEDULES", "SPREAD_SHAPES"]
