"""The renderer's rules evaluated densely and plainly: every pixel against every Gaussian.

O(H * W * N) time and memory, so only for small scenes: the tests hold the tiled renderer
(`invgfx.splat.render`) to this, and the benchmark quotes it as the tile-free baseline.
"""

from __future__ import annotations

import torch
from torch import Tensor

from invgfx.splat.render import ALPHA_MAX, ALPHA_MIN, T_MIN, RenderResult, project_gaussians, view_colors


def render_reference(means: Tensor, opacities: Tensor, colors: Tensor, covars: Tensor, viewmat: Tensor, K: Tensor,
                     width: int, height: int, background: Tensor | None = None,
                     sh_rotations: Tensor | None = None, eps2d: float = 0.3, near: float = 0.01) -> RenderResult:
    """Same arguments and result as `render_gaussians` (covariances given directly)."""
    proj = project_gaussians(means, covars, opacities, viewmat, K, width, height, eps2d, near)
    rgb = view_colors(colors, means, viewmat, sh_rotations)
    keep = (proj.depths > near) & (opacities >= ALPHA_MIN)
    order = torch.argsort(torch.where(keep, proj.depths, torch.full_like(proj.depths, float("inf"))).detach())
    order = order[keep[order]]
    m, q, o, c, z = proj.means2d[order], proj.conics[order], opacities[order], rgb[order], proj.depths[order]

    rows, cols = torch.meshgrid(torch.arange(height, dtype=means.dtype), torch.arange(width, dtype=means.dtype), indexing="ij")
    pix = torch.stack([cols.reshape(-1) + 0.5, rows.reshape(-1) + 0.5], -1)  # (HW, 2) pixel centres
    d = pix[:, None, :] - m[None]  # (HW, N, 2)
    power = 0.5 * (q[:, 0] * d[..., 0] ** 2 + q[:, 2] * d[..., 1] ** 2) + q[:, 1] * d[..., 0] * d[..., 1]
    alpha = o * torch.exp(-power)
    alpha = torch.where(alpha >= ALPHA_MIN, alpha.clamp_max(ALPHA_MAX), torch.zeros_like(alpha))
    t_after = torch.cumprod(1 - alpha, dim=1)  # transmittance after each Gaussian, front to back
    t_before = torch.cat([torch.ones_like(t_after[:, :1]), t_after[:, :-1]], 1)
    weight = alpha * t_before * (t_after >= T_MIN)
    acc = weight.sum(1)
    if background is None:
        background = torch.zeros(3, dtype=means.dtype)
    image = weight @ c + (1 - acc)[:, None] * background
    depth = (weight @ z) / acc.clamp_min(1e-10)
    return RenderResult(image.T.reshape(3, height, width), acc.reshape(height, width), depth.reshape(height, width))
