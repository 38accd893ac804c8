import pytest
import torch

from invgfx.splat.geometry import covariance_from_quat_scale


@pytest.fixture
def random_gaussians():
    """A factory of small random Gaussian scenes in front of a camera at the origin region."""

    def make(n: int, seed: int = 0, dtype=torch.float32, sh_degree: int | None = None, spread: float = 0.4):
        g = torch.Generator().manual_seed(seed)
        means = torch.randn(n, 3, generator=g, dtype=torch.float64) * spread
        quats = torch.randn(n, 4, generator=g, dtype=torch.float64)
        scales = torch.rand(n, 3, generator=g, dtype=torch.float64) * 0.12 + 0.02
        opacities = torch.rand(n, generator=g, dtype=torch.float64) * 0.85 + 0.1
        if sh_degree is None:
            colors = torch.rand(n, 3, generator=g, dtype=torch.float64)
        else:
            colors = torch.randn(n, (sh_degree + 1) ** 2, 3, generator=g, dtype=torch.float64) * 0.3
            colors[:, 0] += 0.8
        out = dict(means=means, quats=quats, scales=scales, opacities=opacities, colors=colors)
        out = {k: v.to(dtype) for k, v in out.items()}
        out["covars"] = covariance_from_quat_scale(out["quats"], out["scales"])
        return out

    return make


def surface_capture(center=(0.0, 0.0, 0.0), size: float = 1.0, n: int = 6000, rotation=None, floor: int = 0,
                    floor_z: float | None = None, seed: int = 0):
    """A closed object as a real 3DGS capture has it: flat Gaussians tangent to a surface (an
    ellipsoid with longest side `size`, m, centred at `center`), opacities 0.5-1, and optionally
    `floor` Gaussians of a ground slab (3 size wide) at height `floor_z` (default: 0.2 size below
    the object); then `rotation` (3, 3) maps the whole capture
    into its world frame (x_world = rotation @ x), so a config undoing it sees the object upright.
    -> GaussianCloud (world space)."""
    from invgfx.splat.cloud import GaussianCloud
    from invgfx.splat.geometry import rotmat_to_quat

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
