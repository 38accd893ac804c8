"""Differentiable rendering of 3D Gaussians: EWA projection + tiled front-to-back alpha compositing.

The rules are those of 3D Gaussian Splatting (and gsplat), so results match theirs:
- a Gaussian's 2D covariance is J W Sigma W^T J^T + eps2d I (eps2d = 0.3 px^2 low-pass);
- alpha = min(0.99, opacity * exp(-d^2 / 2)) with d the Mahalanobis distance of the pixel
  centre, and contributions with alpha < 1/255 are skipped;
- compositing stops at a pixel once the transmittance would fall below 1e-4.
`invgfx.splat.reference.render_reference` evaluates the same rules densely, pixel by pixel,
and the tests hold this renderer to it.

The torch path (any device) is pure PyTorch: Gaussians are binned into square tiles; each
(tile, Gaussian) pair evaluates only the tile's pixels, and the front-to-back product of
(1 - alpha) is a segmented cumulative sum of log(1 - alpha) along the depth-sorted pairs of each
tile.
`backend="numba"` (the default on the CPU) runs the same rules as compiled, multi-threaded
kernels (`invgfx.splat.numba_backend`); on CUDA, `backend="gsplat"` uses gsplat's kernels with
the same arguments.
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
CHUNK_ENTRIES = 1 << 20  # dense (pixel, pair) entries worth evaluating in one step of the tile walk


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


def tile_ranges(means2d: Tensor, extents: Tensor, width: int, height: int, tile: int) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """First and last tile column and row (N,) int64 of the tiles each Gaussian's pixel box
    touches (an empty range where last < first). means2d, extents (N, 2) in px."""
    # First and last pixel whose centre (j + 0.5) lies within the box.
    col0 = torch.ceil(means2d[:, 0] - extents[:, 0] - 0.5).clamp(0, width - 1)
    col1 = torch.floor(means2d[:, 0] + extents[:, 0] - 0.5).clamp(0, width - 1)
    row0 = torch.ceil(means2d[:, 1] - extents[:, 1] - 0.5).clamp(0, height - 1)
    row1 = torch.floor(means2d[:, 1] + extents[:, 1] - 0.5).clamp(0, height - 1)
    return (col0 // tile).long(), (col1 // tile).long(), (row0 // tile).long(), (row1 // tile).long()


def _tile_pairs(means2d: Tensor, extents: Tensor, width: int, height: int, tile: int) -> tuple[Tensor, Tensor]:
    """(pair Gaussian index, pair tile id) for every tile each Gaussian's pixel box touches.
    Gaussians are assumed depth-sorted; pairs come back sorted by tile, then depth."""
    n_tx = (width + tile - 1) // tile
    tx0, tx1, ty0, ty1 = tile_ranges(means2d, extents, width, height, tile)
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


class _Composite(torch.autograd.Function):
    """Front-to-back compositing of (pixel, Gaussian) entries, with an analytic backward.

    Entries come grouped by pixel, nearest first: gauss (M,) indexes the rows of params
    (N, 6 + C) = (mean x, mean y, conic a, b, c, opacity, C features); pix (M,) are pixel ids;
    alpha, dx, dy (M,) are each entry's alpha = min(0.99, o exp(-power)) and its pixel centre
    minus the mean, with power = a dx^2 / 2 + c dy^2 / 2 + b dx dy (computed by the selection,
    from the same params). Forward:
      w_i = alpha_i T_i with T_i = prod_{j<i} (1 - alpha_j) (w_i = 0 once T < 1e-4),
      out_p = sum_i w_i f_i, acc_p = sum_i w_i.
    Backward, with s_i = g_p . f_i (+ the acc gradient):
      dL/df_i = w_i g_p,  dL/dalpha_i = T_i s_i - (sum_{j>i} w_j s_j) / (1 - alpha_i),
    then through alpha to the conic, mean and opacity by the chain rule. Products are segmented
    cumulative sums of logs in float64 (a global sum minus its value where each pixel starts),
    so no per-pixel padding is needed and autograd keeps no per-entry intermediates.
    """

    @staticmethod
    def forward(ctx, params: Tensor, gauss: Tensor, pix: Tensor, alpha: Tensor, dx: Tensor, dy: Tensor, n_pixels: int):
        first = _segment_starts(pix)
        seg_id = torch.cumsum(first, 0) - 1
        first = first.nonzero().squeeze(1)
        log_keep = torch.log1p(-alpha).double()
        inclusive = torch.cumsum(log_keep, 0)
        exclusive = inclusive - log_keep
        base = exclusive[first][seg_id]  # running sum before each pixel's first entry
        kept = torch.exp(inclusive - base) >= T_MIN
        t_before = (torch.exp(exclusive - base) * kept).to(alpha.dtype)  # zero once the pixel is saturated
        weight = alpha * t_before
        feat = params[:, 6:].index_select(0, gauss)
        out = torch.zeros(n_pixels, feat.shape[1], dtype=feat.dtype, device=feat.device)
        out.index_add_(0, pix, weight[:, None] * feat)
        acc = torch.zeros(n_pixels, dtype=alpha.dtype, device=alpha.device).index_add_(0, pix, weight)
        last = torch.cat([first[1:] - 1, first.new_tensor([len(pix) - 1])])
        ctx.save_for_backward(params, gauss, pix, alpha, dx, dy, t_before, seg_id, last)
        return out, acc

    @staticmethod
    def backward(ctx, grad_out: Tensor, grad_acc: Tensor):
        params, gauss, pix, alpha, dx, dy, t_before, seg_id, last = ctx.saved_tensors
        per = params.index_select(0, gauss)
        feat = per[:, 6:]
        weight = alpha * t_before
        g = grad_out[pix]  # (M, C)
        s = (g * feat).sum(1) + grad_acc[pix]
        inclusive = torch.cumsum((weight * s).double(), 0)
        behind = inclusive[last][seg_id] - inclusive  # sum_{j>i} w_j s_j within the pixel
        grad_alpha = t_before * s - (behind / (1 - alpha.double())).to(alpha.dtype) * (t_before > 0)
        grad_alpha = grad_alpha * (alpha < ALPHA_MAX)  # the 0.99 clamp passes no gradient
        grad_power = -grad_alpha * alpha
        qa, qb, qc = per[:, 2], per[:, 3], per[:, 4]
        grad_per = torch.stack([
            -(qa * dx + qb * dy) * grad_power,  # d power / d mean x = -(a dx + b dy)
            -(qc * dy + qb * dx) * grad_power,
            0.5 * dx * dx * grad_power,
            dx * dy * grad_power,
            0.5 * dy * dy * grad_power,
            grad_alpha * alpha / per[:, 5],  # d alpha / d o = exp(-power)
        ], 1)
        grad_per = torch.cat([grad_per, weight[:, None] * g], 1)
        grad_params = torch.zeros_like(params).index_add_(0, gauss, grad_per)
        return grad_params, None, None, None, None, None, None


@dataclass
class Entries:
    """The (pixel, Gaussian) pairs that reach the image, grouped by pixel, nearest first:
    pix (M,) tile-major pixel ids, gauss (M,) Gaussian indices, alpha (M,) their alpha,
    dx, dy (M,) pixel centre minus projected mean, in pixels."""

    pix: Tensor
    gauss: Tensor
    alpha: Tensor
    dx: Tensor
    dy: Tensor


def _pixel_xy(ids: Tensor, n_tiles: int, n_tx: int, tile: int) -> tuple[Tensor, Tensor]:
    """Pixel column and row of tile-major pixel ids (id = slot * n_tiles + tile, slot = pixel in tile)."""
    slot, t = ids // n_tiles, ids % n_tiles
    return t % n_tx * tile + slot % tile, t // n_tx * tile + slot // tile


@torch.no_grad()
def _contributing_entries(means2d: Tensor, conics: Tensor, opacities: Tensor, gauss: Tensor, tile_id: Tensor,
                          width: int, height: int, tile: int, first_chunk: int = 32) -> Entries:
    """The (pixel, Gaussian) entries that contribute to the image, grouped by pixel, nearest first.

    gauss/tile_id: (P,) pairs sorted by tile, then depth. Like a GPU tile rasteriser, each tile
    walks its depth-sorted list in chunks (32, 64, 128, ... pairs, or more while that keeps a
    chunk under about CHUNK_ENTRIES) and stops once all its pixels
    are saturated (transmittance below 1e-4), so a solid object costs what its front layers
    cost, not its volume. Per-pixel state is laid out (pixel in tile, tile), and pixels are
    identified by id = slot * n_tiles + tile (see `_pixel_xy`).
    """
    device, dtype = means2d.device, means2d.dtype
    n_tx, n_ty = (width + tile - 1) // tile, (height + tile - 1) // tile
    n_tiles, per_tile = n_tx * n_ty, tile * tile
    counts = torch.bincount(tile_id, minlength=n_tiles)
    starts = torch.cumsum(counts, 0) - counts
    slots = torch.arange(per_tile, device=device)
    lx = (slots % tile).to(dtype)[:, None]
    ly = (slots // tile).to(dtype)[:, None]
    # Running log-transmittance per pixel (float32 is enough: it only decides where a pixel
    # saturates; the compositing itself runs in float64); -inf once a pixel has stopped, and
    # from the start for the padding pixels of edge tiles.
    px_all, py_all = _pixel_xy(torch.arange(per_tile * n_tiles, device=device), n_tiles, n_tx, tile)
    log_t = torch.where((px_all < width) & (py_all < height), 0.0, -math.inf).to(dtype).reshape(per_tile, n_tiles)
    log_t_min = math.log(T_MIN)
    n_found = torch.zeros(per_tile * n_tiles, dtype=torch.long, device=device)  # entries found per pixel
    found_ids, found_gauss, found_rank, found_alpha, found_dx, found_dy = [], [], [], [], [], []
    begin, chunk = 0, first_chunk
    active = counts > 0
    while bool(active.any()):
        # The pairs of rank [begin, begin + chunk) in every active tile, still tile-major, depth-minor.
        # Small problems take all their pairs at once: a chunk at least fills ~1M dense entries.
        chunk = max(chunk, CHUNK_ENTRIES // (int(active.sum()) * per_tile))
        take = (counts - begin).clamp(0, chunk) * active
        tiles = torch.repeat_interleave(torch.arange(n_tiles, device=device), take)
        rank = torch.arange(len(tiles), device=device) - (torch.cumsum(take, 0) - take)[tiles]
        g = gauss[starts[tiles] + begin + rank]
        # Dense (pixel in tile, pair) layout: along a row, the pairs of one tile are contiguous.
        dx = lx + ((tiles % n_tx * tile).to(dtype) + 0.5 - means2d[g, 0])[None]
        dy = ly + ((tiles // n_tx * tile).to(dtype) + 0.5 - means2d[g, 1])[None]
        q = conics[g].T
        power = dx * (0.5 * q[0] * dx + q[1] * dy) + 0.5 * q[2] * dy * dy
        alpha = torch.exp(-power).mul_(opacities[g])
        live = alpha >= ALPHA_MIN
        alpha = alpha.clamp_max_(ALPHA_MAX).mul_(live)
        # Transmittance after each entry: the pixel's running value + a cumulative sum within the
        # tile's run of pairs (a run = the pairs of one tile in this chunk).
        log_keep = torch.log1p(-alpha)
        inclusive = torch.cumsum(log_keep, 1)
        run = _segment_starts(tiles)
        run_id = torch.cumsum(run, 0) - 1
        firsts = run.nonzero().squeeze(1)
        start = log_t.index_select(1, tiles[firsts]) - (inclusive - log_keep).index_select(1, firsts)
        keep = live & (inclusive + start.index_select(1, run_id) >= log_t_min)
        kept = keep.view(-1).nonzero().squeeze(1)
        ids = kept // len(tiles) * n_tiles + tiles[kept % len(tiles)]
        log_t.view(-1).index_add_(0, ids, log_keep.view(-1)[kept])
        failed = (live & ~keep).view(-1).nonzero().squeeze(1)
        log_t.view(-1)[failed // len(tiles) * n_tiles + tiles[failed % len(tiles)]] = -math.inf
        # Kept entries of one pixel are contiguous here; their rank continues the earlier chunks'.
        new_pixel = _segment_starts(ids)
        first_of_pixel = new_pixel.nonzero().squeeze(1)[torch.cumsum(new_pixel, 0) - 1]
        found_rank.append(torch.arange(len(ids), device=device) - first_of_pixel + n_found[ids])
        n_found.index_add_(0, ids, torch.ones_like(ids))
        found_ids.append(ids)
        found_gauss.append(g[kept % len(tiles)])
        found_alpha.append(alpha.view(-1)[kept])
        found_dx.append(dx.view(-1)[kept])
        found_dy.append(dy.view(-1)[kept])
        begin += chunk
        chunk *= 2
        active = (counts > begin) & (log_t > -math.inf).any(0)
    if not found_ids:
        return Entries(*(torch.zeros(0, dtype=t, device=device) for t in (torch.long, torch.long, dtype, dtype, dtype)))
    ids = torch.cat(found_ids)
    # Counting sort: pixel-major, and within a pixel in the order found, which is depth order.
    slot = (torch.cumsum(n_found, 0) - n_found)[ids] + torch.cat(found_rank)
    return Entries(*(torch.empty_like(x).index_copy_(0, slot, x) for x in
                     (ids, torch.cat(found_gauss), torch.cat(found_alpha), torch.cat(found_dx), torch.cat(found_dy))))


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
    e = _contributing_entries(means2d.detach(), conics.detach(), opacities.detach(), gauss, tile_id, width, height,
                              tile_size)
    n_tx, n_ty = (width + tile_size - 1) // tile_size, (height + tile_size - 1) // tile_size
    params = torch.cat([means2d, conics, opacities[:, None], features], 1)
    out, acc = _Composite.apply(params, e.gauss, e.pix, e.alpha, e.dx, e.dy, n_tx * n_ty * tile_size**2)
    # (slot, tile) -> image rows and columns
    out = torch.cat([out, acc[:, None]], 1).reshape(tile_size, tile_size, n_ty, n_tx, -1).permute(2, 0, 3, 1, 4)
    out = out.reshape(n_ty * tile_size, n_tx * tile_size, -1)[:height, :width]
    return out[..., :-1], out[..., -1]


def render_gaussians(means: Tensor, opacities: Tensor, colors: Tensor, viewmat: Tensor, K: Tensor,
                     width: int, height: int, *, quats: Tensor | None = None, scales: Tensor | None = None,
                     covars: Tensor | None = None, sh_rotations: Tensor | None = None,
                     background: Tensor | None = None, eps2d: float = 0.3, near: float = 0.01,
                     tile_size: int = 8, backend: str | None = None) -> RenderResult:
    """Render N Gaussians seen by one pinhole camera; differentiable w.r.t. every tensor input.

    means (N, 3) m; opacities (N,) in [0, 1]; colors (N, 3) RGB or (N, K, 3) SH coefficients
    (K = (degree+1)^2); either quats (N, 4) + scales (N, 3) (std. dev., m) or covars (N, 3, 3) m^2;
    sh_rotations (N, 3, 3): rotation of each Gaussian since its SH were fitted (the physics'
    polar rotation), so view directions are turned back into the Gaussian's frame;
    viewmat (4, 4) world -> camera (x right, y down, z forward); K (3, 3);
    background (3,) RGB, black if None; backend "numba" (compiled, CPU float32/float64), "torch"
    (any device) or "gsplat" (CUDA); None is numba for float32/float64 CPU tensors, else torch.
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
    if backend is None:
        cpu_float = all(t.device.type == "cpu" and t.dtype in (torch.float32, torch.float64) for t in (means, colors))
        backend = "numba" if cpu_float else "torch"
    if backend == "numba":
        from invgfx.splat.numba_backend import rasterize_numba as rasterize_fn
    elif backend == "torch":
        rasterize_fn = rasterize
    else:
        raise SplatError(f"render_gaussians: backend {backend!r} is not one of 'numba', 'torch', 'gsplat'")

    proj = project_gaussians(means, covars, opacities, viewmat, K, width, height, eps2d, near)
    rgb = view_colors(colors, means, viewmat, sh_rotations)
    vis = proj.visible.nonzero().squeeze(1)
    features = torch.cat([rgb[vis], proj.depths[vis, None]], 1)
    blended, alpha = rasterize_fn(proj.means2d[vis], proj.conics[vis], opacities[vis], features,
                                  proj.depths[vis].detach(), proj.extents[vis], width, height, tile_size)
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
                 backend: str | None = None, **kw) -> RenderResult:
    """Render a `GaussianCloud` with a `Camera`; `means`/`covars` override the cloud's
    (e.g. simulated positions and F Sigma F^T)."""
    return render_gaussians(
        cloud.means if means is None else means, cloud.opacities, cloud.sh, camera.viewmat, camera.K,
        camera.width, camera.height, covars=cloud.covariances() if covars is None else covars,
        sh_rotations=sh_rotations, background=background, backend=backend, **kw,
    )
