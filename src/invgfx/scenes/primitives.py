"""Solids filled with Gaussians: jittered-grid samples inside simple shapes.

Every sampler takes a target spacing h (m) between neighbouring Gaussians and returns (M, 3)
points; `solid_cloud` turns points into Gaussians of standard deviation ~ h/2 so that the
splats overlap into an opaque solid when rendered.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from invgfx.splat.cloud import GaussianCloud


def jittered_grid(lo: Tensor, hi: Tensor, h: float, generator: torch.Generator) -> Tensor:
    """Points on a grid of spacing h covering the box [lo, hi] (3,), each jittered by up to h/2 -> (M, 3)."""
    axes = [torch.arange(float(a) + h / 2, float(b), h) for a, b in zip(lo, hi)]
    axes = [ax if len(ax) else torch.tensor([(float(a) + float(b)) / 2]) for ax, a, b in zip(axes, lo, hi)]
    grid = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return grid + (torch.rand(grid.shape, generator=generator) - 0.5) * h * 0.5


def sample_box(size, h: float, generator: torch.Generator) -> Tensor:
    """Points filling an axis-aligned box of `size` (3,) m centred at the origin -> (M, 3)."""
    half = torch.as_tensor(size, dtype=torch.float32) / 2
    pts = jittered_grid(-half, half, h, generator)
    return pts.clamp(-half, half)


def sample_ellipsoid(radii, h: float, generator: torch.Generator) -> Tensor:
    """Points filling an axis-aligned ellipsoid with semi-axes `radii` (3,) m centred at the origin -> (M, 3)."""
    r = torch.as_tensor(radii, dtype=torch.float32)
    pts = jittered_grid(-r, r, h, generator)
    return pts[((pts / r) ** 2).sum(1) <= 1.0]


def sample_cylinder(radius: float, length: float, h: float, generator: torch.Generator) -> Tensor:
    """Points filling a cylinder along +z from z = 0 to z = length -> (M, 3)."""
    lo = torch.tensor([-radius, -radius, 0.0])
    hi = torch.tensor([radius, radius, length])
    pts = jittered_grid(lo, hi, h, generator)
    pts[:, 2] = pts[:, 2].clamp(0.0, length)
    return pts[pts[:, :2].norm(dim=1) <= radius]


def sample_tube(path: Tensor, radius: float, h: float, generator: torch.Generator) -> Tensor:
    """Points filling a tube of `radius` around the polyline `path` (K, 3) -> (M, 3)."""
    lo = path.amin(0) - radius
    hi = path.amax(0) + radius
    pts = jittered_grid(lo, hi, h, generator)
    a, b = path[:-1], path[1:]  # (K-1, 3) segments
    ab = b - a
    t = (((pts[:, None] - a[None]) * ab[None]).sum(-1) / (ab * ab).sum(-1).clamp_min(1e-12)).clamp(0, 1)
    dist = (pts[:, None] - (a[None] + t[..., None] * ab[None])).norm(dim=-1).amin(1)
    return pts[dist <= radius]


def solid_cloud(points: Tensor, colors: Tensor, h: float, opacity: float = 0.95) -> GaussianCloud:
    """Isotropic Gaussians of standard deviation 0.5 h at `points` (M, 3) with RGB `colors` (M, 3)."""
    scales = torch.full((points.shape[0],), 0.5 * h)
    return GaussianCloud.from_activated(points, scales, colors.clamp(0, 1), opacity)


def spacing_for(volume: float, n: int) -> float:
    """Grid spacing (m) that puts about n samples in `volume` (m^3)."""
    return (volume / max(n, 1)) ** (1.0 / 3.0)


def rotation_z(angle: float) -> Tensor:
    c, s = math.cos(angle), math.sin(angle)
    return torch.tensor([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
