"""The DC-IGN network: a convolutional VAE with a graphics code, clamping and the SGVB loss.

Encoder: conv + max-pool + ReLU blocks, then two linear heads (mu, log variance).
Decoder: linear + ReLU, reshape, then blocks of nearest-neighbour upsampling x2 + conv (ReLU
between; the last gives Bernoulli logits, or the Gaussian mean with `likelihood="gaussian"`), as
in the paper. `IGNConfig.paper()` is the original code's 150x150 / 200-latent network (valid
convolutions, ~4.1M parameters); the default is a small 64x64 / 32-latent network ('same'
convolutions) that trains on a CPU in minutes.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from invgfx.ign import CLAMPS, FACTORS, SPREAD_SHAPES, IGNError


@dataclass(frozen=True)
class IGNConfig:
    """Network shape. Latents 0..n_extrinsic-1 are azimuth, elevation, light; the rest are intrinsic.

    image_size:   side of the square grayscale input/output in pixels.
    n_latent:     size of the graphics code (paper 200).
    n_extrinsic:  latents with one named factor each (paper 3).
    enc_channels: output channels of each conv + pool block of the encoder.
    dec_channels: output channels of each upsample + conv block of the decoder; the last is 1.
    padding:      "valid" (original code: sizes shrink by kernel-1 per conv) or "same".
    likelihood:   "bernoulli" (the original code: the decoder outputs logits, the image is their
                  sigmoid) or "gaussian" (the decoder outputs the mean intensity itself, clipped to
                  [0, 1] for display; a sigmoid there would saturate and stop the gradient).
    """

    image_size: int = 64
    n_latent: int = 32
    n_extrinsic: int = 3
    enc_channels: tuple[int, ...] = (32, 32, 64)
    enc_kernel: int = 5
    dec_channels: tuple[int, ...] = (32, 16, 1)
    dec_kernel: int = 5
    padding: str = "same"
    likelihood: str = "bernoulli"

    @classmethod
    def paper(cls) -> "IGNConfig":
        """The original code's network: 1x150x150 -> 200 latents -> 1x150x150."""
        return cls(150, 200, 3, (96, 48, 24), 5, (48, 96, 96, 1), 7, "valid")

    def __post_init__(self) -> None:
        if self.padding not in ("valid", "same"):
            raise IGNError(f"IGNConfig.padding is {self.padding!r}; use 'valid' or 'same'")
        if self.likelihood not in ("bernoulli", "gaussian"):
            raise IGNError(f"IGNConfig.likelihood is {self.likelihood!r}; use 'bernoulli' or 'gaussian'")
        if not 0 < self.n_extrinsic < self.n_latent:
            raise IGNError(f"IGNConfig: need 0 < n_extrinsic ({self.n_extrinsic}) < n_latent ({self.n_latent})")
        if self.padding == "same" and not (self.enc_kernel % 2 and self.dec_kernel % 2):
            raise IGNError(f"IGNConfig: 'same' padding needs odd kernels, got enc_kernel {self.enc_kernel}, "
                           f"dec_kernel {self.dec_kernel}; try 3 or 5")
        if self.dec_channels[-1] != 1:
            raise IGNError(f"IGNConfig.dec_channels must end with 1 (a grayscale image), got {self.dec_channels}")
        self.decoder_start_size()  # raises if the decoder cannot reach image_size

    def decoder_start_size(self) -> int:
        """Side of the decoder's first feature map, so that its blocks end exactly at image_size."""
        size = self.image_size
        for _ in self.dec_channels:
            shrink = self.dec_kernel - 1 if self.padding == "valid" else 0
            if (size + shrink) % 2:
                raise IGNError(
                    f"IGNConfig: image_size {self.image_size} cannot be produced by {len(self.dec_channels)} "
                    f"upsample x2 + conv{self.dec_kernel} ({self.padding}) blocks; try a multiple of "
                    f"{2 ** len(self.dec_channels)} with padding 'same'")
            size = (size + shrink) // 2
        return size

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "IGNConfig":
        try:
            return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in d.items()})
        except TypeError as err:
            raise IGNError(f"model config: {err}; valid keys are {sorted(cls.__dataclass_fields__)}") from None


class DCIGN(nn.Module):
    """Encoder x (B, 1, S, S) in [0, 1] -> (mu, logvar) (B, n_latent); decoder z -> logits (B, 1, S, S)."""

    def __init__(self, config: IGNConfig = IGNConfig()):
        super().__init__()
        self.config = c = config
        pad = c.enc_kernel // 2 if c.padding == "same" else 0
        layers, cin = [], 1
        for cout in c.enc_channels:
            layers += [nn.Conv2d(cin, cout, c.enc_kernel, padding=pad), nn.MaxPool2d(2), nn.ReLU()]
            cin = cout
        self.encoder = nn.Sequential(*layers, nn.Flatten())
        with torch.no_grad():
            n_flat = self.encoder(torch.zeros(1, 1, c.image_size, c.image_size)).shape[1]
        self.to_mu = nn.Linear(n_flat, c.n_latent)
        self.to_logvar = nn.Linear(n_flat, c.n_latent)

        self.start = (c.enc_channels[-1], c.decoder_start_size())
        self.from_z = nn.Linear(c.n_latent, self.start[0] * self.start[1] ** 2)
        pad = c.dec_kernel // 2 if c.padding == "same" else 0
        blocks, cin = [], self.start[0]
        for i, cout in enumerate(c.dec_channels):
            blocks += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, c.dec_kernel, padding=pad)]
            if i < len(c.dec_channels) - 1:
                blocks.append(nn.ReLU())
            cin = cout
        self.decoder = nn.Sequential(*blocks)
        # oneDNN's NHWC convolutions: 1.5x the training steps/s of NCHW weights on a CPU core (measured
        # at 64 px, batch 20); the images themselves have one channel, so their layout is the same.
        self.to(memory_format=torch.channels_last)

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """x (B, 1, S, S) -> mu, logvar (B, n_latent)."""
        h = self.encoder(x)
        return self.to_mu(h), self.to_logvar(h)

    def decode_logits(self, z: Tensor) -> Tensor:
        """z (B, n_latent) -> the decoder's output (B, 1, S, S): Bernoulli logits, or the Gaussian
        mean (see IGNConfig.likelihood); `decode` turns either into the image."""
        h = F.relu(self.from_z(z)).view(-1, self.start[0], self.start[1], self.start[1])
        return self.decoder(h)

    def decode(self, z: Tensor) -> Tensor:
        """z (B, n_latent) -> image (B, 1, S, S) in [0, 1]."""
        out = self.decode_logits(z)
        return torch.sigmoid(out) if self.config.likelihood == "bernoulli" else out.clamp(0, 1)

    def forward(self, x: Tensor, active: Tensor | None = None, strength: float = 0.01,
                generator: torch.Generator | None = None, clamp: str = "mean") -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """Sample z ~ Q(z|x) and decode it; with `active` (n_latent,) bool, the other latents are
        clamped: to their batch mean (clamp "mean", the paper: see `clamp_latents`) or taken from
        another image of the batch (clamp "swap": see `swap_latents`). Returns logits, mu, logvar, z."""
        if clamp not in CLAMPS:
            raise IGNError(f"clamp {clamp!r} is not one of {CLAMPS}")
        mu, logvar = self.encode(x)
        eps = torch.randn(mu.shape, generator=generator, device=mu.device, dtype=mu.dtype)
        z = mu + eps * torch.exp(0.5 * logvar)
        if active is not None and clamp == "mean":
            z = clamp_latents(z, active, strength)
        elif active is not None:
            shift = int(torch.randint(1, max(len(z), 2), (1,), generator=generator, device=z.device))
            z = swap_latents(z, active, shift)
        return self.decode_logits(z), mu, logvar, z


class _Clamp(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z: Tensor, active: Tensor, strength: float) -> Tensor:
        mean = z.mean(0, keepdim=True)
        ctx.save_for_backward(z - mean, active)
        ctx.strength = strength
        return torch.where(active, z, mean.expand_as(z))

    @staticmethod
    def backward(ctx, grad: Tensor):
        deviation, active = ctx.saved_tensors
        # Paper 3.2: clamped latents get no reconstruction signal, only a pull towards the batch mean.
        return torch.where(active, grad, ctx.strength * deviation), None, None


def clamp_latents(z: Tensor, active: Tensor, strength: float = 0.01) -> Tensor:
    """Paper section 3.1-3.2. Forward: every latent where `active` (n_latent,) is False is replaced by
    its mean over the batch z (B, n_latent). Backward: active latents pass the gradient unchanged;
    inactive ones receive strength * (z - batch mean) instead (invariance targeting, paper ~1/100)."""
    return _Clamp.apply(z, active.to(torch.bool), float(strength))


def swap_latents(z: Tensor, active: Tensor, shift: int) -> Tensor:
    """Every latent where `active` (n_latent,) is False is taken from the image `shift` places further
    on in the batch z (B, n_latent) (cyclically; 0 < shift < B, so never from the image itself), with
    its ordinary gradient. In a single-factor batch those latents should be the same for every image,
    so decoding image i from image i+shift's asks exactly that, with the reconstruction's full
    gradient instead of the paper's small pull towards the batch mean (not in the paper)."""
    return torch.where(active.to(torch.bool), z, z.roll(-shift, 0))


def active_mask(kind: str, config: IGNConfig) -> Tensor:
    """(n_latent,) bool: the latents a batch varying `kind` (one of FACTORS) trains.
    An identity batch trains the whole intrinsic block."""
    if kind not in FACTORS:
        raise IGNError(f"batch kind {kind!r} is not one of {FACTORS}")
    mask = torch.zeros(config.n_latent, dtype=torch.bool)
    k = FACTORS.index(kind)
    if kind == "identity":
        mask[config.n_extrinsic:] = True
    elif k < config.n_extrinsic:
        mask[k] = True
    else:
        raise IGNError(f"batch kind {kind!r} has no latent: the model has only {config.n_extrinsic} extrinsic latents")
    return mask


def sgvb_loss(logits: Tensor, x: Tensor, mu: Tensor, logvar: Tensor, likelihood: str = "bernoulli",
              gaussian_std: float = 0.1, kl_weight: float = 1.0) -> tuple[Tensor, Tensor, Tensor]:
    """Negative ELBO summed over the batch (as the original code): reconstruction + kl_weight *
    KL(Q(z|x) || N(0, I)); kl_weight 1 is the bound itself (see train.paper_kl_weight for other sizes).

    logits, x: (B, 1, S, S), x in [0, 1]; mu, logvar: (B, n_latent). likelihood "bernoulli" (BCE
    on logits) or "gaussian" (logits are the mean itself; fixed std `gaussian_std`, constant
    dropped). Returns (total, reconstruction, kl).
    """
    if likelihood == "bernoulli":
        recon = F.binary_cross_entropy_with_logits(logits, x, reduction="sum")
    elif likelihood == "gaussian":
        recon = 0.5 * ((logits - x) ** 2).sum() / gaussian_std**2
    else:
        raise IGNError(f"likelihood {likelihood!r} is not one of 'bernoulli', 'gaussian'")
    kl = 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum()
    return recon + kl_weight * kl, recon, kl


# A left-right flip of an image shows the mirrored object at (-azimuth, elevation, -light).
MIRROR_SIGNS = (-1.0, 1.0, -1.0)


def mirror_consistency(mu: Tensor, mu_flipped: Tensor, n_extrinsic: int) -> Tensor:
    """Sum over the batch of ||mu_flipped[:, :n] - MIRROR_SIGNS * mu[:, :n]||^2, n = n_extrinsic: how far
    the extrinsic code of the flipped images is from the original's with azimuth and light negated.
    Holds for any object (a flipped render is a render of the mirrored object), so it constrains only
    the named latents, never the intrinsic block. mu, mu_flipped: (B, n_latent) posterior means."""
    signs = torch.tensor(MIRROR_SIGNS[:n_extrinsic], dtype=mu.dtype, device=mu.device)
    return (mu_flipped[:, :n_extrinsic] - signs * mu[:, :n_extrinsic]).pow(2).sum()


def invariance_consistency(mu: Tensor, active: Tensor, n_extrinsic: int) -> Tensor:
    """Sum over the batch and over the pose/light latents a single-factor batch holds fixed of
    (mu - batch mean)^2. mu (B, n_latent): posterior means; active (n_latent,) bool: the latents the
    batch varies (`active_mask`). An azimuth batch holds elevation, light and identity fixed, so its
    light latent should be the same for every image: what this term measures is that latent's
    dependence on azimuth. The paper asks the same of clamped latents through its small
    strength * (z - mean) gradient, which the swap clamping replaces by the reconstruction's; this
    keeps the pull, at a weight of its own, on the named latents only (not in the paper)."""
    held = ~active.to(torch.bool)[:n_extrinsic]
    named = mu[:, :n_extrinsic][:, held]
    return (named - named.mean(0, keepdim=True)).pow(2).sum()


def uniform_order_statistics(n: int) -> Tensor:
    """(n,) expected order statistics of n draws from the uniform distribution of unit variance
    (on [-sqrt 3, sqrt 3]): sqrt(3) * (2 i / (n + 1) - 1), i = 1..n."""
    return math.sqrt(3) * (2 * torch.arange(1, n + 1, dtype=torch.float64) / (n + 1) - 1)


def spread_consistency(mu_k: Tensor, shape: str = "std") -> Tensor:
    """How far the varied latent's spread over one single-factor batch is from the factor's.
    mu_k (B,): the posterior means of the latent that the batch varies.

    shape "std": B * (std over the batch - 1)^2. Every batch of a kind draws its factor from the same
    range, so that latent should spread as far in each of them whatever the pose, light and identity
    held fixed; 1 is the prior's scale. It targets the faces' elevation latent, which under a side
    light moved half as far per radian as under a frontal one (docs/ign-experiments.md).
    shape "uniform": sum_i (sorted(mu_k - mean)_i - q_i)^2, q = uniform_order_statistics(B): the
    batch's latent should be distributed like its factor, which the generator draws uniformly (the
    1-D Wasserstein distance to it). The code that minimises its expectation is linear in the
    factor (given a factor value, its expected rank among B draws is linear in it), so it also
    unbends a latent that saturates at the ends of the range; either sign fits, as sorting ignores it.
    Neither is in the paper."""
    if len(mu_k) < 2:
        raise IGNError(f"spread consistency needs batches of at least 2 images, got {len(mu_k)}")
    if shape == "std":
        return len(mu_k) * (mu_k.std() - 1).pow(2)
    if shape == "uniform":
        q = uniform_order_statistics(len(mu_k)).to(mu_k)
        return (torch.sort(mu_k - mu_k.mean()).values - q).pow(2).sum()
    raise IGNError(f"spread shape {shape!r} (--spread-shape): use one of {', '.join(SPREAD_SHAPES)}")


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())
