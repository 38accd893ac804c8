"""The gsplat CUDA kernels behind `render_gaussians(..., backend="gsplat")`.

Same arguments and result as the torch path. View-dependent colour (including the
per-Gaussian `sh_rotations` gsplat does not know) is evaluated here in torch and handed to
gsplat as RGB, so both backends colour Gaussians identically.
"""

from __future__ import annotations

from torch import Tensor

from invgfx.splat.errors import SplatError
from invgfx.splat.render import RenderResult, view_colors


def render_gsplat(means: Tensor, opacities: Tensor, colors: Tensor, covars: Tensor, viewmat: Tensor, K: Tensor,
                  width: int, height: int, sh_rotations: Tensor | None, background: Tensor, eps2d: float,
                  near: float) -> RenderResult:
    if means.device.type != "cuda":
        raise SplatError("backend='gsplat' runs on CUDA only; use --device cuda, or backend='torch' on the CPU")
    try:
        from gsplat import rasterization
    except ImportError:
        raise SplatError("backend='gsplat' needs the gsplat package: pip install 'invgfx[gpu]'") from None
    rgb = view_colors(colors, means, viewmat, sh_rotations)
    image, alpha, _ = rasterization(
        means, None, None, opacities, rgb, viewmat[None], K[None], width, height,
        near_plane=near, eps2d=eps2d, backgrounds=background[None], render_mode="RGB+ED",
        rasterize_mode="classic", covars=covars, packed=False,
    )
    image, alpha = image[0], alpha[0, ..., 0]
    return RenderResult(image[..., :3].permute(2, 0, 1), alpha, image[..., 3] * (alpha > 0))
