"""Test content shaped like real 3DGS captures, which differ from our procedural objects: a solid
object is a closed surface of flat Gaussians tangent to it (the inside is empty), it sits in a
world frame of its capture's choosing (COLMAP: -y up), at its own scale, often on a floor."""

from __future__ import annotations

import torch

from invgfx.splat.cloud import GaussianCloud
from invgfx.splat.geometry import rotmat_to_quat


def surface_capture(center=(0.0, 0.0, 0.0), size: float = 1.0, n: int = 6000, rotation=None, floor: int = 0,
                    floor_z: float | None = None, seed: int = 0) -> GaussianCloud:
    """A closed object as a trained 3DGS capture has it: n flat Gaussians (2.5 % x 2.5 % x 0.3 %
    of `size`) tangent to an ellipsoid with longest side `size` (m) centred at `center`, opacities
    0.5-1, and optionally `floor` Gaussians of a ground slab (3 size wide) at height `floor_z`
    (default: 0.2 size below the object); then `rotation` (3, 3) maps the whole capture into its
    world frame (x_world = rotation @ x), so a config undoing it sees the object upright.
    -> GaussianCloud (world space)."""
    g = torch.Generator().manual_seed(seed)
    axes = size * torch.tensor([0.5, 0.35, 0.3])
    d = torch.randn(n, 3, generator=g)
    unit = d / d.norm(dim=1, keepdim=True)
    points = unit * axes
    normal = points / axes**2
    normal = normal / normal.norm(dim=1, keepdim=True)
    helper = torch.where(normal[:, :1].abs() < 0.9, torch.tensor([1.0, 0.0, 0.0]), torch.tensor([0.0, 1.0, 0.0]))
    t1 = torch.linalg.cross(normal, helper)
    t1 = t1 / t1.norm(dim=1, keepdim=True)
    frames = torch.stack([t1, torch.linalg.cross(normal, t1), normal], -1)  # columns: tangent, tangent, normal
    scales = torch.tensor([0.025, 0.025, 0.003]) * size
    colors = 0.5 + 0.4 * unit
    means = points + torch.as_tensor(center, dtype=torch.float32)
    quats = rotmat_to_quat(frames)
    if floor:
        lo = means.amin(0)
        slab = torch.rand(floor, 3, generator=g) * torch.tensor([3.0, 3.0, 0.05]) * size - torch.tensor([1.5, 1.5, 0.0]) * size
        z = float(lo[2]) - 0.2 * size if floor_z is None else floor_z
        slab = slab + torch.tensor([float(center[0]), float(center[1]), z])
        means = torch.cat([means, slab])
        quats = torch.cat([quats, rotmat_to_quat(torch.eye(3).expand(floor, 3, 3))])
        colors = torch.cat([colors, torch.full((floor, 3), 0.3)])
    opacities = 0.5 + 0.49 * torch.rand(len(means), generator=g)
    cloud = GaussianCloud.from_activated(means, scales.expand(len(means), 3).clone(), colors.clamp(0, 1), opacities,
                                         quats=quats)
    if rotation is not None:
        cloud = cloud.transformed(rotation=torch.as_tensor(rotation, dtype=torch.float32))
    return cloud


def capture_in_area(rotation: torch.Tensor, sim_area=None, n: int = 15000, seed: int = 0) -> GaussianCloud:
    """A capture laid out for a PhysGaussian-style config: authored upright (z up) inside `sim_area`
    ([xmin, xmax, ymin, ymax, zmin, zmax], the config's rotated world frame; its object 0.8 of the
    box's smallest side, a floor below the box, not selected) or, without one, off-centre at
    another scale (2.5 m at (3, -1, 2)); then turned by rotation^T, so that the config's
    `rotation` (3, 3) makes it upright again."""
    if sim_area is not None:
        box = torch.tensor(sim_area, dtype=torch.float32).reshape(3, 2)
        center, extent = box.mean(1), box[:, 1] - box[:, 0]
        floor_z = float(box[2, 0]) - 0.1 * float(extent[2])
        return surface_capture(center.tolist(), 0.8 * float(extent.min()), n, rotation=rotation.T, floor=n // 10,
                               floor_z=floor_z, seed=seed)
    return surface_capture((3.0, -1.0, 2.0), 2.5, n, rotation=rotation.T, seed=seed)
