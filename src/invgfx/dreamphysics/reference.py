"""Reference-video supervision (PhysDreamer style): loss = L2 + w (1 - SSIM) to a target video
rendered from the same camera."""

from __future__ import annotations

import warnings

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.prior import Condition, VideoPrior, check_video

SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_C1 = 0.01**2  # (K1 L)^2 with data range L = 1
SSIM_C2 = 0.03**2


def ssim(x: Tensor, y: Tensor) -> Tensor:
    """Mean structural similarity of two image batches (B, C, H, W) in [0, 1] (Wang et al. 2004:
    11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03), over 'valid' window positions only,
    so that no padding biases the borders. H and W must be at least 11."""
    if x.shape[-1] < SSIM_WINDOW or x.shape[-2] < SSIM_WINDOW:
        raise DreamPhysicsError(f"ssim: images are {x.shape[-2]}x{x.shape[-1]}, need at least {SSIM_WINDOW}x{SSIM_WINDOW}")
    c = x.shape[1]
    r = torch.arange(SSIM_WINDOW, dtype=x.dtype, device=x.device) - SSIM_WINDOW // 2
    g = torch.exp(-(r**2) / (2 * SSIM_SIGMA**2))
    g = g / g.sum()
    window = (g[:, None] * g[None, :]).expand(c, 1, -1, -1)

    def blur(img: Tensor) -> Tensor:
        return F.conv2d(img, window, groups=c)

    mu_x, mu_y = blur(x), blur(y)
    var_x = blur(x * x) - mu_x**2
    var_y = blur(y * y) - mu_y**2
    cov = blur(x * y) - mu_x * mu_y
    num = (2 * mu_x * mu_y + SSIM_C1) * (2 * cov + SSIM_C2)
    den = (mu_x**2 + mu_y**2 + SSIM_C1) * (var_x + var_y + SSIM_C2)
    return (num / den).mean()


def video_loss(video: Tensor, target: Tensor, ssim_weight: float = 1.0) -> Tensor:
    """mean((video - target)^2) + ssim_weight * (1 - SSIM(video, target)); both (T, 3, H, W)."""
    return F.mse_loss(video, target) + ssim_weight * (1.0 - ssim(video, target))


class ReferenceVideoPrior(VideoPrior):
    """Supervision by a target video of the whole simulated sequence (frame k of the target is
    simulated frame k). `target`: (F, 3, H, W) in [0, 1], or a video file (.mp4, .gif) read with
    `invgfx.splat.read_video`. The loss compares the rendered frames `condition.frames` (all F
    frames when None) with the same target frames."""

    def __init__(self, target: Tensor | str | Path, ssim_weight: float = 1.0):
        if isinstance(target, (str, Path)):
            from invgfx.splat import read_video
            from invgfx.splat.io_image import LOSSY_VIDEO

            self.source = str(target)
            if Path(target).suffix.lower() in LOSSY_VIDEO:
                # the review of issue 36 measured on the ball: a GIF's palette moves pixels by up to 0.029
                # and floors the loss at 0.0033, while the ball's signal of E is 0.002-0.008
                warnings.warn(f"{target}: a {Path(target).suffix} video is lossy (GIF: a 256-colour palette; MP4: H.264 "
                              "4:2:0), and its errors can be larger than what E changes in the video; give a folder of "
                              "PNG frames (a path without a suffix, as --true-E and write_video write it)", stacklevel=2)
            target = read_video(target)
        else:
            self.source = "reference tensor"
        check_video(target, f"ReferenceVideoPrior({self.source})")
        self.target = target.detach().float()
        self.ssim_weight = ssim_weight

    def loss(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        check_video(video, "ReferenceVideoPrior.loss")
        n = self.target.shape[0]
        frames = torch.arange(n) if condition.frames is None else condition.frames.cpu()
        if len(frames) and int(frames.max()) >= n:
            raise DreamPhysicsError(
                f"{self.source}: has {n} frames, but frame {int(frames.max())} is asked for; the reference video must "
                f"cover every simulated frame (groups x frames per group)")
        target = self.target[frames].to(video.device, video.dtype)
        if target.shape != video.shape:
            raise DreamPhysicsError(
                f"{self.source}: frames {tuple(target.shape[1:])} do not match the rendered {tuple(video.shape[1:])} "
                f"(and {target.shape[0]} vs {video.shape[0]} frames); render the reference at the same resolution")
        return video_loss(video, target, self.ssim_weight)
