"""The compiled CPU rasteriser behind `render_gaussians(..., backend="numba")`.

Same rules and results as `invgfx.splat.render.rasterize` (its constants are imported, its
tile ranges shared), in the structure of the 3DGS CUDA rasteriser:
* binning is a counting sort: Gaussians are visited in depth order and appended to the list
  of every tile their box touches, so each tile's list comes out nearest first;
* the forward pass walks each tile's list front to back over the tile's pixels and stops once
  every pixel is saturated; per pixel it keeps only the final transmittance and the position of
  the last contributor in the tile's list;
* the backward pass walks the same list back to front from each pixel's last contributor,
  rebuilding the transmittance before each entry as T / (1 - alpha).
Tiles run in parallel over numba's threads (`prange`), as many as torch uses. The backward
writes each (tile, Gaussian) pair's gradient to its own row, and each Gaussian's rows are summed
in the order of its tiles, so there are no atomics and the result does not depend on the
number of threads or on scheduling: it is bitwise the same for any thread count.

Projection, view-dependent colour and the covariances stay in torch (differentiable, about a
quarter of the time of a render on one thread). Kernels compile on first use and are cached on disk (`cache=True`).
Arrays keep the caller's dtype (float32 or float64); sums run in float64.

Like torch's own OpenMP ops (they share its libgomp), the kernels cannot run in a process forked
from one that already ran them: numba terminates such a child at its first launch. Start worker
processes with "spawn", as the project's pools do.
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from numba import njit, prange
from torch import Tensor

from invgfx.splat.errors import SplatError
from invgfx.splat.render import ALPHA_MAX, ALPHA_MIN, T_MIN, tile_ranges

N_PARAMS = 6  # gradient columns before the features: mean x, mean y, conic a, b, c, opacity
# Iterations a thread takes at a time: tiles cost unevenly (a solid object's saturate early,
# its edges' do not), Gaussians about evenly.
TILES_PER_CHUNK = 4
GAUSSIANS_PER_CHUNK = 4096
# Only pixels on the chords of a Gaussian's alpha >= 1/255 ellipse are evaluated; these margins
# keep the chords a superset of it, and the alpha test itself decides.
POWER_SLACK = 1e-6
SPAN_SLACK = 1e-2  # px
_pool_started = False


@njit(cache=True)
def _bin(order, ranges, n_tx, n_tiles):
    """Counting sort of the (tile, Gaussian) pairs.

    order (N,) Gaussian indices nearest first; ranges (N, 4) int first/last tile column and row.
    Returns tile_start (n_tiles + 1,) int64 offsets into pair_gauss (P,) int32 (tile-major,
    nearest first within a tile), and, for the per-Gaussian sum of the backward, gauss_start
    (N + 1,) int64 offsets (by Gaussian index) into pair_slot (P,) int32, the pairs' positions.
    """
    n = order.shape[0]
    tile_start = np.zeros(n_tiles + 1, np.int64)
    gauss_start = np.zeros(n + 1, np.int64)
    for g in range(n):
        for ty in range(ranges[g, 2], ranges[g, 3] + 1):
            for tx in range(ranges[g, 0], ranges[g, 1] + 1):
                tile_start[ty * n_tx + tx + 1] += 1
        gauss_start[g + 1] = gauss_start[g] + (max(ranges[g, 1] - ranges[g, 0] + 1, 0)
                                               * max(ranges[g, 3] - ranges[g, 2] + 1, 0))
    for t in range(n_tiles):
        tile_start[t + 1] += tile_start[t]
    cursor = tile_start[:-1].copy()
    pair_gauss = np.empty(tile_start[-1], np.int32)
    pair_slot = np.empty(tile_start[-1], np.int32)
    for i in range(n):  # nearest first, so each tile's list is depth-sorted
        g = order[i]
        k = gauss_start[g]
        for ty in range(ranges[g, 2], ranges[g, 3] + 1):
            for tx in range(ranges[g, 0], ranges[g, 1] + 1):
                t = ty * n_tx + tx
                pair_gauss[cursor[t]] = g
                pair_slot[k] = cursor[t]
                cursor[t] += 1
                k += 1
    return tile_start, pair_gauss, pair_slot, gauss_start


@njit(cache=True, inline="always")
def _row_start(a, b, c, opacity, dx, dy):
    """Along a row, o exp(-power) is a geometric sequence with a geometric ratio: from the pixel
    at (dx, dy) (its centre minus the mean), the next pixel's value is value * ratio, and the
    ratio is multiplied by exp(-a) each step. Returns (value, ratio) at the row's first pixel:
    two exps per row instead of one per pixel. (a, b, c) is the conic."""
    power = dx * (0.5 * a * dx + b * dy) + 0.5 * c * dy * dy
    return opacity * math.exp(-power), math.exp(-(a * dx + b * dy + 0.5 * a))


@njit(cache=True, inline="always")
def _row_span(a, b, c, cutoff, dx0, dy, n):
    """The pixels [lo, hi) of a row of n pixels that can have power <= cutoff: the row's chord
    of the ellipse, widened by SPAN_SLACK px. dx0 is the row's first pixel centre minus the
    mean, dy its centre minus the mean; a > 0 (the conic is positive definite)."""
    # a/2 dx^2 + b dy dx + c/2 dy^2 = cutoff at dx = (-b dy +- sqrt(disc)) / a
    disc = (b * dy) ** 2 - a * (c * dy * dy - 2.0 * cutoff)
    if disc < 0.0:
        return 0, 0
    root = math.sqrt(disc)
    lo = max(math.ceil((-b * dy - root) / a - dx0 - SPAN_SLACK), 0.0)
    hi = min(math.floor((-b * dy + root) / a - dx0 + SPAN_SLACK) + 1.0, float(n))
    return int(lo), int(hi)


@njit(cache=True, parallel=True)
def _forward(means2d, conics, opacities, features, tile_start, pair_gauss, width, height, tile, out, t_final, last):
    """Front-to-back compositing, one tile per task.

    means2d (N, 2), conics (N, 3), opacities (N,), features (N, C); tile_start, pair_gauss from
    `_bin`. Writes out (H, W, C) = sum_i w_i f_i with w_i = alpha_i T_i, t_final (H, W) the
    transmittance after the last contributor and last (H, W) int32 its position in pair_gauss
    (the tile's first position - 1 where nothing contributes).
    """
    n_tx = (width + tile - 1) // tile
    n_ch = features.shape[1]
    for t in prange(tile_start.shape[0] - 1):
        x0, y0 = t % n_tx * tile, t // n_tx * tile
        nx, ny = min(tile, width - x0), min(tile, height - y0)
        trans = np.ones(nx * ny)  # 0 once saturated
        blend = np.zeros((nx * ny, n_ch))
        last_t = np.full(nx * ny, tile_start[t] - 1, np.int64)
        running = nx * ny  # pixels not yet saturated
        for k in range(tile_start[t], tile_start[t + 1]):
            g = pair_gauss[k]
            a, b, c, opacity = conics[g, 0], conics[g, 1], conics[g, 2], opacities[g]
            cutoff = math.log(opacity / ALPHA_MIN) + POWER_SLACK
            step = math.exp(-a)
            dx0 = x0 + 0.5 - means2d[g, 0]
            for row in range(ny):
                dy = y0 + row + 0.5 - means2d[g, 1]
                lo, hi = _row_span(a, b, c, cutoff, dx0, dy, nx)
                if lo >= hi:
                    continue
                value, ratio = _row_start(a, b, c, opacity, dx0 + lo, dy)
                for p in range(row * nx + lo, row * nx + hi):
                    alpha = value  # o exp(-power) at this pixel
                    value *= ratio
                    ratio *= step
                    if trans[p] == 0.0 or not alpha >= ALPHA_MIN:  # (also drops NaN)
                        continue
                    alpha = min(alpha, ALPHA_MAX)
                    after = trans[p] * (1.0 - alpha)
                    if after < T_MIN:  # as 3DGS: the entry that would saturate the pixel ends it, unused
                        t_final[y0 + row, x0 + p - row * nx] = trans[p]
                        trans[p] = 0.0
                        running -= 1
                        continue
                    w = alpha * trans[p]
                    for ch in range(n_ch):
                        blend[p, ch] += w * features[g, ch]
                    trans[p] = after
                    last_t[p] = k
            if running == 0:
                break
        for p in range(nx * ny):
            y, x = y0 + p // nx, x0 + p % nx
            if trans[p] > 0.0:
                t_final[y, x] = trans[p]
            last[y, x] = last_t[p]
            for ch in range(n_ch):
                out[y, x, ch] = blend[p, ch]


@njit(cache=True, parallel=True)
def _backward(means2d, conics, opacities, features, tile_start, pair_gauss, width, height, tile, t_final, last,
              grad_out, grad_acc, grads, tile_last):
    """Gradients of each (tile, Gaussian) pair, walking each tile's list back to front.

    Inputs as `_forward` plus its t_final, last and the output gradients grad_out (H, W, C),
    grad_acc (H, W) (acc = 1 - t_final). Writes grads (P, 6 + C): d/d(mean x, mean y, conic a,
    b, c, opacity, features) of each pair, summed over its tile's pixels, for the pairs up to
    tile_last (n_tiles,), the last one any pixel of the tile reached (the rows after it, never
    composited, are left unwritten). With s = g . f_i + g_acc per pixel:
    dL/df_i = w_i g, dL/dalpha_i = T_i s_i - (sum_{j>i} w_j s_j) / (1 - alpha_i), and nothing
    through alpha where the 0.99 clamp holds.
    """
    n_tx = (width + tile - 1) // tile
    n_ch = features.shape[1]
    for t in prange(tile_start.shape[0] - 1):
        x0, y0 = t % n_tx * tile, t // n_tx * tile
        nx, ny = min(tile, width - x0), min(tile, height - y0)
        trans = np.empty(nx * ny)
        behind = np.zeros(nx * ny)  # sum_{j>i} w_j s_j
        g_out = np.empty((nx * ny, n_ch))
        g_acc = np.empty(nx * ny)
        last_t = np.empty(nx * ny, np.int64)
        for p in range(nx * ny):
            y, x = y0 + p // nx, x0 + p % nx
            trans[p] = t_final[y, x]
            last_t[p] = last[y, x]
            g_acc[p] = grad_acc[y, x]
            for ch in range(n_ch):
                g_out[p, ch] = grad_out[y, x, ch]
        acc = np.empty(N_PARAMS + n_ch)
        tile_last[t] = last_t.max()
        for k in range(tile_last[t], tile_start[t] - 1, -1):
            g = pair_gauss[k]
            a, b, c, opacity = conics[g, 0], conics[g, 1], conics[g, 2], opacities[g]
            cutoff = math.log(opacity / ALPHA_MIN) + POWER_SLACK
            step = math.exp(-a)
            dx0 = x0 + 0.5 - means2d[g, 0]
            acc[:] = 0.0
            for row in range(ny):
                dy = y0 + row + 0.5 - means2d[g, 1]
                lo, hi = _row_span(a, b, c, cutoff, dx0, dy, nx)
                if lo >= hi:
                    continue
                value, ratio = _row_start(a, b, c, opacity, dx0 + lo, dy)  # as the forward, bit for bit
                for p in range(row * nx + lo, row * nx + hi):
                    alpha = value
                    value *= ratio
                    ratio *= step
                    if last_t[p] < k or not alpha >= ALPHA_MIN:
                        continue
                    dx = dx0 + p - row * nx
                    clamped = min(alpha, ALPHA_MAX)
                    before = trans[p] / (1.0 - clamped)
                    w = clamped * before
                    s = g_acc[p]
                    for ch in range(n_ch):
                        s += g_out[p, ch] * features[g, ch]
                        acc[N_PARAMS + ch] += w * g_out[p, ch]
                    grad_alpha = before * s - behind[p] / (1.0 - clamped)
                    behind[p] += w * s
                    trans[p] = before
                    if alpha < ALPHA_MAX:
                        grad_power = -grad_alpha * alpha  # alpha = o exp(-power)
                        acc[0] -= (a * dx + b * dy) * grad_power
                        acc[1] -= (c * dy + b * dx) * grad_power
                        acc[2] += 0.5 * dx * dx * grad_power
                        acc[3] += dx * dy * grad_power
                        acc[4] += 0.5 * dy * dy * grad_power
                        acc[5] += grad_alpha * alpha / opacity
            for j in range(N_PARAMS + n_ch):
                grads[k, j] = acc[j]


@njit(cache=True, parallel=True)
def _sum_pairs(pair_grads, tile_last, ranges, n_tx, gauss_start, pair_slot, grads):
    """Writes grads (N, 6 + C), zeros on entry: the sum of each Gaussian's pair rows of pair_grads
    (P, 6 + C) in a fixed order (its tiles', row-major), skipping pairs past their tile's
    tile_last; ranges, gauss_start and pair_slot as `_bin`'s."""
    for g in prange(grads.shape[0]):
        k = gauss_start[g]
        for ty in range(ranges[g, 2], ranges[g, 3] + 1):
            for tx in range(ranges[g, 0], ranges[g, 1] + 1):
                slot = pair_slot[k]
                k += 1
                if slot <= tile_last[ty * n_tx + tx]:
                    for j in range(pair_grads.shape[1]):
                        grads[g, j] += pair_grads[slot, j]


def _launch(kernel, chunk: int, *args):
    """Run a parallel kernel on as many threads as torch uses (`torch.set_num_threads` governs
    both), handing out `chunk` iterations at a time."""
    global _pool_started
    if not _pool_started:
        # numba's thread pool shares torch's libgomp, and starting it resets the OpenMP thread
        # count that torch reads: start it here and put torch's count back.
        threads = torch.get_num_threads()
        numba.get_num_threads()
        torch.set_num_threads(threads)
        _pool_started = True
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    with numba.parallel_chunksize(chunk):
        kernel(*args)


def _arrays(*tensors: Tensor) -> list[np.ndarray]:
    """Contiguous numpy views of detached tensors."""
    return [t.detach().contiguous().numpy() for t in tensors]


class _Rasterize(torch.autograd.Function):
    """The compiled forward and backward as one autograd node (see `rasterize_numba`); bins is
    `_bin`'s result for the tile ranges (N, 4)."""

    @staticmethod
    def forward(ctx, means2d, conics, opacities, features, bins, ranges, width, height, tile):
        arrays = _arrays(means2d, conics, opacities, features)
        out = np.empty((height, width, features.shape[1]), arrays[3].dtype)
        t_final = np.empty((height, width), arrays[3].dtype)
        last = np.empty((height, width), np.int32)
        _launch(_forward, TILES_PER_CHUNK, *arrays, bins[0], bins[1], width, height, tile, out, t_final, last)
        ctx.save_for_backward(means2d, conics, opacities, features)
        ctx.state = (bins, ranges, width, height, tile, t_final, last)
        return torch.from_numpy(out), torch.from_numpy(1.0 - t_final)

    @staticmethod
    def backward(ctx, grad_out, grad_acc):
        bins, ranges, width, height, tile, t_final, last = ctx.state
        arrays = _arrays(*ctx.saved_tensors)
        grad_out, grad_acc = _arrays(grad_out.to(ctx.saved_tensors[3].dtype), grad_acc.to(ctx.saved_tensors[3].dtype))
        pair_grads = np.empty((len(bins[1]), N_PARAMS + arrays[3].shape[1]), arrays[3].dtype)
        tile_last = np.empty(len(bins[0]) - 1, np.int64)
        _launch(_backward, TILES_PER_CHUNK, *arrays, bins[0], bins[1], width, height, tile, t_final, last, grad_out,
                grad_acc, pair_grads, tile_last)
        # zeroed here, not in the kernel: a parallel np.zeros there is handed out a few elements a chunk
        grads = np.zeros((len(bins[3]) - 1, pair_grads.shape[1]), pair_grads.dtype)
        _launch(_sum_pairs, GAUSSIANS_PER_CHUNK, pair_grads, tile_last, ranges, (width + tile - 1) // tile, bins[3],
                bins[2], grads)
        grads = torch.from_numpy(grads)
        return grads[:, :2], grads[:, 2:5], grads[:, 5], grads[:, N_PARAMS:], None, None, None, None, None


def rasterize_numba(means2d: Tensor, conics: Tensor, opacities: Tensor, features: Tensor, depths: Tensor,
                    extents: Tensor, width: int, height: int, tile_size: int = 8) -> tuple[Tensor, Tensor]:
    """`invgfx.splat.render.rasterize` compiled: same arguments, same (H, W, C) blended features
    and (H, W) alpha, differentiable w.r.t. means2d (N, 2), conics (N, 3), opacities (N,) and
    features (N, C). CPU float32 or float64 tensors."""
    tensors = (means2d, conics, opacities, features)
    if any(t.device.type != "cpu" or t.dtype not in (torch.float32, torch.float64) for t in tensors):
        raise SplatError("backend='numba' renders float32 or float64 CPU tensors; use backend='torch' elsewhere")
    order = torch.argsort(depths)  # as `rasterize`, so that equal depths keep the same order
    ranges = torch.stack(tile_ranges(means2d.detach(), extents, width, height, tile_size), 1).int()
    n_tx, n_ty = (width + tile_size - 1) // tile_size, (height + tile_size - 1) // tile_size
    ranges = ranges.numpy()
    bins = _bin(order.numpy(), ranges, n_tx, n_tx * n_ty)
    dtype = torch.promote_types(means2d.dtype, features.dtype)
    return _Rasterize.apply(means2d.to(dtype), conics.to(dtype), opacities.to(dtype), features.to(dtype), bins,
                            ranges, width, height, tile_size)
