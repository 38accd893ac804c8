"""Differentiable rendering of 3D Gaussians: EWA projection + tiled front-to-back alpha compositing.

The rules are those of 3D Gaussian Splatting (and gsplat), so results match theirs:
- a Gaussian's 2D covariance is J W Sigma W^T J^T + eps2d I (eps2d = 0.3 px^2 low-pass);
- alpha = min(0.99, opacity * exp(-d^2 / 2)) with d the Mahalanobis distance of the pixel
  centre, and contributions with alpha < 1/255 are skipped;
- compositing stops at a pixel once the transmittance would fall below 1e-4.
`invgfx.splat.reference.render_reference` evaluates the same rules densely, pixel by pixel,
and the tests hold this renderer to it.

The CPU path is pure PyTorch: Gaussians are binned into square tiles; each (tile, Gaussian)
pair evaluates only the tile's pixels, and the front-to-back product of (1 - alpha) is a
segmented cumulative sum of log(1 - alpha) along the depth-sorted pairs of each tile.
On CUDA, `backend="gsplat"` uses gsplat's kernels with the same arguments.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from invgfx.splat.errors import SplatError
from invgfx.splat.geometry import covariance_from_quat_scale
from invgfx.splat.sh import eval_sh

ALPHA_MIN = 1.0 / 255.0
ALPHA_MAX = 0.99
T_MIN = 1e-4


@dataclass
class RenderResult:
    """rgb: (3, H, W) in [0, 1] over the background; alpha: (H, W) coverage;
    depth: (H, W) expected camera-space z in m of the covered part (0 where alpha = 0)."""

    rgb: Tensor
    alpha: Tensor
    depth: Tensor


@dataclass
class Projection:
    """Screen-space Gaussians. means2d (N, 2) pixels; conics (N, 3) = upper triangle (a, b, c) of
    the inverse 2D covariance; depths (N,) camera z in m; extents (N, 2) half-width/height in px of
    the box outside which alpha < 1/255; visible (N,) bool."""

    means2d: Tensor
    conics: Tensor
    depths: Tensor
    extents: Tensor
    visible: Tensor


def project_gaussians(means: Tensor, covars: Tensor, opacities: Tensor, viewmat: Tensor, K: Tensor,
                      width: int, height: int, eps2d: float = 0.3, near: float = 0.01) -> Projection:
    """EWA splatting: the local affine approximation of the pinhole projection.

    means (N, 3) world m; covars (N, 3, 3) world m^2; opacities (N,); viewmat (4, 4); K (3, 3).
    """
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    p = means @ R.T + t  # (N, 3) camera space
    fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
    z = p[:, 2]
    z_safe = torch.where(z > near, z, torch.ones_like(z))
    # As 3DGS: clamp the Jacobian's view ray to 1.3x the field of view so that Gaussians far
    # outside the frustum do not get huge, unstable screen footprints.
    lim_x = 1.3 * 0.5 * width / fx
    lim_y = 1.3 * 0.5 * height / fy
    u = (p[:, 0] / z_safe).clamp(-lim_x - (cx - 0.5 * width) / fx, lim_x + (0.5 * width - cx) / fx)
    v = (p[:, 1] / z_safe).clamp(-lim_y - (cy - 0.5 * height) / fy, lim_y + (0.5 * height - cy) / fy)
    zeros = torch.zeros_like(z)
    J = torch.stack(
        [fx / z_safe, zeros, -fx * u / z_safe, zeros, fy / z_safe, -fy * v / z_safe], dim=-1
    ).reshape(-1, 2, 3)
    M = J @ R  # (N, 2, 3)
    cov2d = M @ covars @ M.transpose(1, 2)
    a = cov2d[:, 0, 0] + eps2d
    b = cov2d[:, 0, 1]
    c = cov2d[:, 1, 1] + eps2d
    det = a * c - b * b
    det_safe = torch.where(det > 0, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)
    means2d = torch.stack([fx * p[:, 0] / z_safe + cx, fy * p[:, 1] / z_safe + cy], dim=-1)

    with torch.no_grad():
        # Mahalanobis radius at which opacity * exp(-d^2/2) drops to 1/255.
        d2 = 2.0 * torch.log((opacities * 255.0).clamp_min(1.0))
        extents = torch.stack([(d2 * a).sqrt(), (d2 * c).sqrt()], dim=-1)
        lo = means2d - extents
        hi = means2d + extents
        visible = (
            (z > near) & (det > 0) & (opacities >= ALPHA_MIN)
            & (hi[:, 0] >= 0) & (lo[:, 0] <= width) & (hi[:, 1] >= 0) & (lo[:, 1] <= height)
            & torch.isfinite(means2d).all(-1) & torch.isfinite(conics).all(-1)
        )
    return Projection(means2d, conics, z, extents, visible)


def _tile_pairs(means2d: Tensor, extents: Tensor, width: int, height: int, tile: int) -> tuple[Tensor, Tensor]:
    """(pair Gaussian index, pair tile id) for every tile each Gaussian's pixel box touches.
    Gaussians are assumed depth-sorted; pairs come back sorted by tile, then depth."""
    n_tx = (width + tile - 1) // tile
    n_ty = (height + tile - 1) // tile
    # First and last pixel whose centre (j + 0.5) lies within the box.
    col0 = torch.ceil(means2d[:, 0] - extents[:, 0] - 0.5).clamp(0, width - 1)
    col1 = torch.floor(means2d[:, 0] + extents[:, 0] - 0.5).clamp(0, width - 1)
    row0 = torch.ceil(means2d[:, 1] - extents[:, 1] - 0.5).clamp(0, height - 1)
    row1 = torch.floor(means2d[:, 1] + extents[:, 1] - 0.5).clamp(0, height - 1)
    tx0, tx1 = (col0 // tile).long(), (col1 // tile).long()
    ty0, ty1 = (row0 // tile).long(), (row1 // tile).long()
    nx = (tx1 - tx0 + 1).clamp_min(0)
    ny = (ty1 - ty0 + 1).clamp_min(0)
    counts = nx * ny
    gauss = torch.repeat_interleave(torch.arange(len(counts), device=counts.device), counts)
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(len(gauss), device=counts.device) - starts[gauss]
    tile_x = tx0[gauss] + local % nx[gauss]
    tile_y = ty0[gauss] + local // nx[gauss]
    tile_id = tile_y * n_tx + tile_x
    # int32 keys: torch sorts them several times faster than int64 on the CPU.
    tile_id, order = torch.sort(tile_id.int(), stable=True)
    return gauss[order], tile_id.long()


def _segment_starts(keys: Tensor) -> Tensor:
    """(M,) bool: True where a run of equal consecutive keys begins."""
    first = torch.ones_like(keys, dtype=torch.bool)
    first[1:] = keys[1:] != keys[:-1]
    return first


def _segment_ends(keys: Tensor) -> Tensor:
    """(M,) bool: True where a run of equal consecutive keys ends."""
    last = torch.ones_like(keys, dtype=torch.bool)
    last[:-1] = keys[1:] != keys[:-1]
    return last


class _Composite(torch.autograd.Function):
    """Front-to-back compositing of (pixel, Gaussian) entries grouped by pixel, nearest first.

    Forward: w_i = alpha_i T_i (T_i = prod_{j<i} (1 - alpha_j) within the pixel, w_i = 0 once T
    would drop below 1e-4); out_p = sum_i w_i f_i, acc_p = sum_i w_i.
    Backward (analytic, so that no per-entry intermediates are kept for autograd):
    d out_p / d f_i = w_i, and with s_i = g_p . f_i (+ the acc gradient),
    dL/d alpha_i = T_i s_i - (sum_{j>i} w_j s_j) / (1 - alpha_i).
    The products run as segmented cumulative sums of logs in float64 (a global sum minus its
    value where each pixel's segment starts), so no padding to the longest list is needed.
    """

    @staticmethod
    def forward(ctx, alpha: Tensor, feat: Tensor, pix: Tensor, n_pixels: int):
        first = _segment_starts(pix)
        seg_id = torch.cumsum(first, 0) - 1
        log_keep = torch.log1p(-alpha).double()
        inclusive = torch.cumsum(log_keep, 0)
        exclusive = inclusive - log_keep
        base = exclusive[first][seg_id]  # running sum before each pixel's first entry
        t_before = torch.exp(exclusive - base)
        kept = torch.exp(inclusive - base) >= T_MIN
        t_before = (t_before * kept).to(alpha.dtype)  # zero once the pixel is saturated
        weight = alpha * t_before
        out = torch.zeros(n_pixels, feat.shape[1], dtype=feat.dtype, device=feat.device)
        out.index_add_(0, pix, weight[:, None] * feat)
        acc = torch.zeros(n_pixels, dtype=alpha.dtype, device=alpha.device).index_add_(0, pix, weight)
        ctx.save_for_backward(alpha, feat, pix, t_before, seg_id)
        return out, acc

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_acc: Tensor):
        alpha, feat, pix, t_before, seg_id = ctx.saved_tensors
        weight = alpha * t_before
        g = grad_out[pix]  # (M, C)
        s = (g * feat).sum(1) + grad_acc[pix]
        grad_feat = weight[:, None] * g
        contrib = (weight * s).double()
        inclusive = torch.cumsum(contrib, 0)
        first = _segment_starts(seg_id)
        seg_base = (inclusive - contrib)[first]
        seg_total = inclusive[_segment_ends(seg_id)] - seg_base
        behind = seg_total[seg_id] - (inclusive - seg_base[seg_id])  # sum_{j>i} w_j s_j
        grad_alpha = t_before * s - (behind / (1 - alpha.double())).to(alpha.dtype) * (t_before > 0)
        return grad_alpha, grad_feat, None, None


@torch.no_grad()
def _contributing_entries(means2d: Tensor, conics: Tensor, opacities: Tensor, gauss: Tensor, tile_id: Tensor,
                          width: int, height: int, tile: int, first_chunk: int = 32) -> tuple[Tensor, Tensor]:
    """The (pixel, Gaussian) entries that contribute to the image, grouped by pixel, nearest first.

    gauss/tile_id: (P,) pairs sorted by tile, then depth. Pixels are indexed in the image padded
    to whole tiles (width n_tx * tile). Like a GPU tile rasteriser, each tile walks its depth-
    sorted list in chunks (32, 64, 128, ... pairs) and stops once all its pixels are saturated
    (transmittance below 1e-4), so a solid object costs what its front layers cost, not its volume.
    Returns (pixel index (M,), Gaussian index (M,)).
    """
    device = means2d.device
    n_tx, n_ty = (width + tile - 1) // tile, (height + tile - 1) // tile
    n_tiles, wp = n_tx * n_ty, n_tx * tile
    counts = torch.bincount(tile_id, minlength=n_tiles)
    starts = torch.cumsum(counts, 0) - counts
    ly, lx = torch.meshgrid(torch.arange(tile, device=device), torch.arange(tile, device=device), indexing="ij")
    lx, ly = lx.reshape(-1, 1), ly.reshape(-1, 1)
    px_all, py_all = torch.meshgrid(torch.arange(wp, device=device), torch.arange(n_ty * tile, device=device), indexing="xy")
    # Running log-transmittance per padded pixel; padding pixels count as saturated from the start.
    log_t = torch.zeros(n_ty * tile * wp, dtype=torch.float64, device=device)
    done = ((px_all >= width) | (py_all >= height)).reshape(-1)
    log_t_min = math.log(T_MIN)
    threshold = torch.log(opacities * 255.0)  # alpha >= 1/255  <=>  power <= ln(255 o)
    n_found = torch.zeros_like(log_t, dtype=torch.long)  # entries found so far per pixel
    found_pix, found_pair, found_rank = [], [], []
    begin, chunk = 0, first_chunk
    active = counts > 0
    while bool(active.any()):
        # The pairs of rank [begin, begin + chunk) in every active tile, still tile-major, depth-minor.
        take = (counts - begin).clamp(0, chunk) * active
        tiles = torch.repeat_interleave(torch.arange(n_tiles, device=device), take)
        rank = torch.arange(len(tiles), device=device) - (torch.cumsum(take, 0) - take)[tiles]
        pair = starts[tiles] + begin + rank
        g = gauss[pair]
        # Dense (pixel-in-tile, pair) layout: along a row, pixels of one tile are contiguous.
        px = lx + (tiles % n_tx * tile)[None]
        py = ly + (tiles // n_tx * tile)[None]
        pix = py * wp + px
        m, q = means2d[g].T, conics[g].T
        dx = px + 0.5 - m[0]
        dy = py + 0.5 - m[1]
        power = 0.5 * (q[0] * dx * dx + q[2] * dy * dy) + q[1] * dx * dy
        live = (power <= threshold[g]) & ~done[pix]
        alpha = torch.where(live, (opacities[g] * torch.exp(-power)).clamp_max(ALPHA_MAX), 0.0)
        # Transmittance after each entry: running value + a cumulative sum within the tile's run
        # (float32 is enough here: it only decides where a pixel saturates; the compositing
        # itself runs in float64).
        log_keep = torch.log1p(-alpha)
        inclusive = torch.cumsum(log_keep, 1)
        first_col = _segment_starts(tiles).nonzero().squeeze(1)
        run_start = torch.cumsum(_segment_starts(tiles), 0) - 1
        after = log_t[pix] + (inclusive - (inclusive - log_keep).index_select(1, first_col[run_start]))
        keep = live & (after >= log_t_min)
        kept = keep.view(-1).nonzero().squeeze(1)
        kept_pix = pix.view(-1)[kept]
        log_t.index_add_(0, kept_pix, log_keep.view(-1)[kept].double())
        done[pix[live & ~keep]] = True
        # Kept entries of one pixel are contiguous here; their rank continues the earlier chunks'.
        run = _segment_starts(kept_pix)
        run_first = run.nonzero().squeeze(1)
        rank = torch.arange(len(kept_pix), device=device) - run_first[torch.cumsum(run, 0) - 1]
        found_rank.append(rank + n_found[kept_pix])
        n_found.index_add_(0, kept_pix, torch.ones_like(kept_pix))
        found_pix.append(kept_pix)
        found_pair.append(pair[kept % pix.shape[1]])
        begin += chunk
        chunk *= 2
        active = (counts > begin) & ~done.reshape(n_ty, tile, n_tx, tile).all(3).all(1).reshape(-1)
    if not found_pix:
        return torch.zeros(0, dtype=torch.long, device=device), torch.zeros(0, dtype=torch.long, device=device)
    pix = torch.cat(found_pix)
    # Counting sort: pixel-major, and within a pixel in the order found, which is depth order.
    slot = (torch.cumsum(n_found, 0) - n_found)[pix] + torch.cat(found_rank)
    out_pix = torch.empty_like(pix).index_copy_(0, slot, pix)
    out_gauss = torch.empty_like(pix).index_copy_(0, slot, gauss[torch.cat(found_pair)])
    return out_pix, out_gauss


def rasterize(means2d: Tensor, conics: Tensor, opacities: Tensor, features: Tensor, depths: Tensor,
              extents: Tensor, width: int, height: int, tile_size: int = 8) -> tuple[Tensor, Tensor]:
    """Front-to-back compositing of screen-space Gaussians.

    means2d (N, 2); conics (N, 3); opacities (N,); features (N, C) to blend (colour, depth...);
    depths (N,) only used to sort; extents (N, 2). Returns (H, W, C) blended features and
    (H, W) alpha = 1 - final transmittance.
    """
    order = torch.argsort(depths)
    gauss, tile_id = _tile_pairs(means2d.detach()[order], extents[order], width, height, tile_size)
    gauss = order[gauss]  # pairs sorted by tile, then depth, indexing the caller's Gaussians
    pix, g = _contributing_entries(means2d.detach(), conics.detach(), opacities.detach(), gauss, tile_id, width, height,
                                   tile_size)
    n_tx, n_ty = (width + tile_size - 1) // tile_size, (height + tile_size - 1) // tile_size
    wp = n_tx * tile_size
    # One gather of everything per entry, so the backward is one index_add.
    per = torch.cat([means2d, conics, opacities[:, None], features], 1).index_select(0, g)
    geometry, feat = torch.split(per, [6, features.shape[1]], 1)
    mx, my, qa, qb, qc, opac = geometry.unbind(1)  # unbind: one backward op, not six zero-filled copies
    dx = (pix % wp).to(mx.dtype) + 0.5 - mx
    dy = (pix // wp).to(my.dtype) + 0.5 - my
    power = 0.5 * (qa * dx * dx + qc * dy * dy) + qb * dx * dy
    alpha = (opac * torch.exp(-power)).clamp_max(ALPHA_MAX)
    out, acc = _Composite.apply(alpha, feat, pix, wp * n_ty * tile_size)
    out = out.reshape(n_ty * tile_size, wp, -1)[:height, :width]
    return out, acc.reshape(n_ty * tile_size, wp)[:height, :width]


def render_gaussians(means: Tensor, opacities: Tensor, colors: Tensor, viewmat: Tensor, K: Tensor,
                     width: int, height: int, *, quats: Tensor | None = None, scales: Tensor | None = None,
                     covars: Tensor | None = None, sh_rotations: Tensor | None = None,
                     background: Tensor | None = None, eps2d: float = 0.3, near: float = 0.01,
                     tile_size: int = 8, backend: str = "torch") -> RenderResult:
    """Render N Gaussians seen by one pinhole camera; differentiable w.r.t. every tensor input.

    means (N, 3) m; opacities (N,) in [0, 1]; colors (N, 3) RGB or (N, K, 3) SH coefficients
    (K = (degree+1)^2); either quats (N, 4) + scales (N, 3) (std. dev., m) or covars (N, 3, 3) m^2;
    sh_rotations (N, 3, 3): rotation of each Gaussian since its SH were fitted (the physics'
    polar rotation), so view directions are turned back into the Gaussian's frame;
    viewmat (4, 4) world -> camera (x right, y down, z forward); K (3, 3);
    background (3,) RGB, black if None; backend "torch" (any device) or "gsplat" (CUDA).
    """
    n = means.shape[0]
    if covars is None:
        if quats is None or scales is None:
            raise SplatError("render_gaussians: give either covars (N, 3, 3) or both quats (N, 4) and scales (N, 3)")
        covars = covariance_from_quat_scale(quats, scales)
    for name, tensor, shape in (("means", means, (n, 3)), ("opacities", opacities, (n,)), ("covars", covars, (n, 3, 3))):
        if tuple(tensor.shape) != shape:
            raise SplatError(f"render_gaussians: {name} has shape {tuple(tensor.shape)}, expected {shape}")
    if colors.shape[0] != n or colors.shape[-1] != 3 or colors.ndim not in (2, 3):
        raise SplatError(f"render_gaussians: colors has shape {tuple(colors.shape)}, expected ({n}, 3) or ({n}, K, 3)")
    if width <= 0 or height <= 0:
        raise SplatError(f"render_gaussians: width and height must be positive (got {width}x{height})")
    if background is None:
        background = torch.zeros(3, dtype=means.dtype, device=means.device)
    background = torch.as_tensor(background, dtype=means.dtype, device=means.device)
    if backend == "gsplat":
        from invgfx.splat.gsplat_backend import render_gsplat

        return render_gsplat(means, opacities, colors, covars, viewmat, K, width, height, sh_rotations, background, eps2d, near)
    if backend != "torch":
        raise SplatError(f"render_gaussians: backend {backend!r} is not one of 'torch', 'gsplat'")

    proj = project_gaussians(means, covars, opacities, viewmat, K, width, height, eps2d, near)
    rgb = view_colors(colors, means, viewmat, sh_rotations)
    vis = proj.visible.nonzero().squeeze(1)
    features = torch.cat([rgb[vis], proj.depths[vis, None]], 1)
    blended, alpha = rasterize(proj.means2d[vis], proj.conics[vis], opacities[vis], features, proj.depths[vis].detach(),
                               proj.extents[vis], width, height, tile_size)
    image = blended[..., :3] + (1 - alpha)[..., None] * background
    depth = blended[..., 3] / alpha.clamp_min(1e-10)
    return RenderResult(image.permute(2, 0, 1), alpha, depth)


def view_colors(colors: Tensor, means: Tensor, viewmat: Tensor, sh_rotations: Tensor | None = None) -> Tensor:
    """(N, 3) RGB: `colors` itself if it is RGB, else its SH evaluated along camera -> Gaussian."""
    if colors.ndim == 2:
        return colors
    R, t = viewmat[:3, :3], viewmat[:3, 3]
    dirs = means + R.T @ t  # means - camera position
    if sh_rotations is not None:
        dirs = torch.einsum("nji,nj->ni", sh_rotations, dirs)  # R_i^T d
    return eval_sh(colors, dirs)


def render_cloud(cloud, camera, *, means: Tensor | None = None, covars: Tensor | None = None,
                 sh_rotations: Tensor | None = None, background: Tensor | None = None,
                 backend: str = "torch", **kw) -> RenderResult:
    """Render a `GaussianCloud` with a `Camera`; `means`/`covars` override the cloud's
    (e.g. simulated positions and F Sigma F^T)."""
    return render_gaussians(
        cloud.means if means is None else means, cloud.opacities, cloud.sh, camera.viewmat, camera.K,
        camera.width, camera.height, covars=cloud.covariances() if covars is None else covars,
        sh_rotations=sh_rotations, background=background, backend=backend, **kw,
    )
