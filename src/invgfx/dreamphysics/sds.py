"""Score distillation sampling (the paper's Eq. 3-4), independent of any network.

For DDPM noising x_t = sqrt(a_t) x + sqrt(1 - a_t) eps (a_t = alpha_bar_t) a denoiser predicts
eps_hat(x_t, t), and SDS moves x along -w(t) (eps_hat - eps) with w(t) = 1 - a_t. The network's
Jacobian is skipped: the gradient reaches x through a stop-gradient target (`sds_loss`).

`AnalyticSDSPrior` is SDS with a denoiser known in closed form, one that predicts the noise as
if the clean video were a given ground truth; its gradient is sqrt(a_t (1 - a_t)) (x - x_gt), so it
tests the SDS plumbing (and the whole physics loop) with a known answer.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.prior import Condition, VideoPrior, check_video


def linear_alphas_cumprod(n_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> Tensor:
    """(n_steps,) alpha_bar_t of the linear beta schedule of DDPM (and diffusers' "linear")."""
    return torch.cumprod(1.0 - torch.linspace(beta_start, beta_end, n_steps, dtype=torch.float64), 0).float()


def sample_timestep(n_steps: int, t_range: tuple[float, float], generator: torch.Generator | None) -> int:
    """t ~ U{round(t_min n), ..., round(t_max n)} (e.g. U[20, 980] for n = 1000 and (0.02, 0.98))."""
    lo, hi = round(t_range[0] * n_steps), round(t_range[1] * n_steps)
    if not 0 <= lo <= hi < n_steps:
        raise DreamPhysicsError(f"t_range={t_range}: need 0 <= t_min <= t_max < 1 (fractions of the {n_steps} noise steps)")
    return int(torch.randint(lo, hi + 1, (1,), generator=generator))


def randn_like(x: Tensor, generator: torch.Generator | None) -> Tensor:
    """Standard normal noise shaped like x, drawn on the generator's device (CPU by default), so
    a seed gives the same noise whatever device the model runs on."""
    device = generator.device if generator is not None else "cpu"
    return torch.randn(x.shape, generator=generator, device=device, dtype=torch.float32).to(x.device, x.dtype)


def sds_loss(latents: Tensor, eps_hat: Tensor, eps: Tensor, weight: Tensor | float) -> Tensor:
    """0.5 * sum((z - stopgrad(z - g))^2) with g = weight (eps_hat - eps): its value is 0.5 |g|^2
    and its gradient w.r.t. `latents` z is exactly g, whatever the network behind eps_hat."""
    grad = (weight * (eps_hat - eps)).detach().to(latents.dtype)
    target = (latents - grad).detach()
    return 0.5 * ((latents - target) ** 2).sum()


def noise_from_output(output: Tensor, x_t: Tensor, a: Tensor, prediction_type: str) -> Tensor:
    """eps_hat from a DDPM model's raw output at x_t = sqrt(a) x0 + sqrt(1 - a) eps (a = alpha_bar_t):
    the output itself for "epsilon"; eps = sqrt(a) v + sqrt(1 - a) x_t for "v_prediction" (v = sqrt(a) eps
    - sqrt(1 - a) x0, which stays learnable at the top noise levels, where a -> 0)."""
    if prediction_type == "epsilon":
        return output
    if prediction_type == "v_prediction":
        return a.sqrt() * output + (1 - a).sqrt() * x_t
    raise DreamPhysicsError(f"prediction type {prediction_type!r} is not one of epsilon, v_prediction")


def ddpm_sds(latents: Tensor, predict_noise: Callable[[Tensor, int], Tensor], alphas_cumprod: Tensor,
             t_range: tuple[float, float], generator: torch.Generator | None) -> Tensor:
    """One SDS sample for DDPM-parameterised models: t ~ U[t_range], eps ~ N(0, I),
    x_t = sqrt(a_t) z + sqrt(1 - a_t) eps, g = (1 - a_t)(predict_noise(x_t, t) - eps).
    latents: the differentiable clean sample z (any shape); predict_noise runs without grad."""
    t = sample_timestep(len(alphas_cumprod), t_range, generator)
    a = alphas_cumprod[t].to(latents.device, latents.dtype)
    eps = randn_like(latents, generator)
    x_t = a.sqrt() * latents.detach() + (1 - a).sqrt() * eps
    with torch.no_grad():
        eps_hat = predict_noise(x_t, t)
    return sds_loss(latents, eps_hat, eps, 1 - a)


class AnalyticSDSPrior(VideoPrior):
    """SDS in pixel space (x = 2 video - 1) with the exact denoiser of a known ground truth:
    eps_hat = (x_t - sqrt(a_t) x_gt) / sqrt(1 - a_t). Hence g = sqrt(a_t (1 - a_t)) (x - x_gt), and the
    gradient w.r.t. the video is 2 scale g. target: (F, 3, H, W) in [0, 1], frame k = simulated
    frame k; `condition.frames` picks the ground-truth frames (all when None)."""

    def __init__(self, target: Tensor, alphas_cumprod: Tensor | None = None, t_range: tuple[float, float] = (0.02, 0.98),
                 scale: float = 1.0):
        check_video(target, "AnalyticSDSPrior")
        self.target = target.detach().float()
        self.alphas_cumprod = linear_alphas_cumprod() if alphas_cumprod is None else alphas_cumprod
        self.t_range = t_range
        self.scale = scale

    def loss(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        check_video(video, "AnalyticSDSPrior.loss")
        frames = torch.arange(len(self.target)) if condition.frames is None else condition.frames.cpu()
        x_gt = 2 * self.target[frames].to(video.device, video.dtype) - 1
        if x_gt.shape != video.shape:
            raise DreamPhysicsError(f"AnalyticSDSPrior: ground truth frames {tuple(x_gt.shape)} do not match the video {tuple(video.shape)}")
        alphas = self.alphas_cumprod

        def exact_noise(x_t: Tensor, t: int) -> Tensor:
            a = alphas[t].to(x_t.device, x_t.dtype)
            return (x_t - a.sqrt() * x_gt) / (1 - a).sqrt()

        return self.scale * ddpm_sds(2 * video - 1, exact_noise, alphas, self.t_range, generator)
