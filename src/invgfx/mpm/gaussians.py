"""Gaussians <-> particles: PhysGaussian's preprocessing, its exact inverse, and interior filling.

World space is the Gaussian scene's space; simulation space is the cube [0, grid_lim]^3 (m)
the solver runs in. The map is x_sim = scale * R x_world + shift, so covariances map as
Sigma_sim = scale^2 R Sigma_world R^T. During simulation a particle's Gaussian deforms as
Sigma_t = F Sigma_0 F^T, and its view-dependent colour turns with the rotation of F = R_F S.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from scipy.spatial import cKDTree
from torch import Tensor

from invgfx.mpm.config import FillingConfig, SceneConfig
from invgfx.mpm.errors import MPMError
from invgfx.splat.geometry import axis_angle_to_rotmat


@dataclass
class SimSpace:
    """x_sim = scale * rotation @ x_world + shift. rotation (3, 3), scale > 0, shift (3,) m."""

    rotation: Tensor
    scale: float
    shift: Tensor

    def to_sim(self, x: Tensor) -> Tensor:
        return self.scale * x @ self.rotation.T + self.shift

    def to_world(self, x: Tensor) -> Tensor:
        return ((x - self.shift) / self.scale) @ self.rotation

    def cov_to_sim(self, cov: Tensor) -> Tensor:
        return self.scale**2 * self.rotation @ cov @ self.rotation.T

    def cov_to_world(self, cov: Tensor) -> Tensor:
        return self.rotation.T @ cov @ self.rotation / self.scale**2

    def rot_to_world(self, R: Tensor) -> Tensor:
        """A rotation acting in simulation space, expressed in world space: R_w = rotation^T R rotation."""
        return self.rotation.T @ R @ self.rotation


@dataclass
class CarriedGaussians:
    """Gaussians left out of the simulation (`max_particles`), moved by their nearest simulated
    particle p as x = x_p + F_p (X - X_p), Sigma = F_p Sigma_0 F_p^T.

    positions (K, 3) m and covariances (K, 3, 3) m^2 at rest in simulation space; gaussian_index
    (K,) int64 in the input cloud; carrier (K,) int64: the carrying particle.
    """

    positions: Tensor
    covariances: Tensor
    gaussian_index: Tensor
    carrier: Tensor


@dataclass
class GaussianParticles:
    """Particles for a Gaussian cloud, in simulation space.

    positions (M, 3) m; covariances (M, 3, 3) m^2; volumes (M,) m^3; gaussian_index (M,) int64:
    index of the Gaussian in the input cloud, -1 for filled interior particles (simulated, not
    rendered); space: the world <-> simulation map; carried: Gaussians rendered but not simulated.
    """

    positions: Tensor
    covariances: Tensor
    volumes: Tensor
    gaussian_index: Tensor
    space: SimSpace
    carried: CarriedGaussians | None = None

    @property
    def rendered(self) -> Tensor:
        """(M,) bool: which particles are Gaussians of the input cloud."""
        return self.gaussian_index >= 0

    @property
    def render_index(self) -> Tensor:
        """(R,) int64: the input-cloud index of each Gaussian `deformed_gaussians` returns."""
        index = self.gaussian_index[self.rendered]
        return index if self.carried is None else torch.cat([index, self.carried.gaussian_index])


def scene_rotation(rotations: list) -> Tensor:
    """PhysGaussian's `rotation_axis` / `rotation_degree` pairs, applied in order -> (3, 3)."""
    R = torch.eye(3)
    for axis, degrees in rotations:
        R = axis_angle_to_rotmat(torch.eye(3)[axis], math.radians(degrees)) @ R
    return R


def prepare_particles(means: Tensor, covariances: Tensor, opacities: Tensor, config: SceneConfig,
                      generator: torch.Generator | None = None, fill_extent: float = 0.5,
                      max_particles: int | None = None) -> GaussianParticles:
    """PhysGaussian preprocessing of N Gaussians (world space: means (N, 3), covariances (N, 3, 3),
    opacities (N,)): drop opacity < opacity_threshold, rotate, scale the bounding box's longest
    side to `fill_extent * grid_lim` and centre it in the cube, keep those inside `sim_area`
    (given in simulation space), fill the interior if `particle_filling` is set, keep a random
    `max_particles` of them (the other Gaussians are carried, see `CarriedGaussians`), and give
    every particle the volume of its grid cell divided by the particles sharing it."""
    keep = torch.nonzero(opacities >= config.opacity_threshold).squeeze(1)
    if keep.numel() == 0:
        raise MPMError(f"{config.source}: no Gaussian has opacity >= opacity_threshold {config.opacity_threshold}; "
                       "lower `opacity_threshold`")
    R = scene_rotation(config.rotations)
    x = means[keep].float() @ R.T
    lo, hi = x.amin(0), x.amax(0)
    extent = float((hi - lo).max().clamp_min(1e-9))
    scale = fill_extent * config.grid_lim / extent
    shift = torch.full((3,), config.grid_lim / 2) - scale * (lo + hi) / 2
    space = SimSpace(R, scale, shift)
    pos = space.to_sim(means[keep].float())
    cov = space.cov_to_sim(covariances[keep].float())
    if config.sim_area is not None:
        a = torch.tensor(config.sim_area).reshape(3, 2)
        inside = ((pos >= a[:, 0]) & (pos <= a[:, 1])).all(1)
        keep, pos, cov = keep[inside], pos[inside], cov[inside]
        if keep.numel() == 0:
            raise MPMError(f"{config.source}: `sim_area` {list(config.sim_area)} contains no Gaussian")
    index = keep
    if config.particle_filling is not None:
        fill = fill_interior(pos, cov, opacities[keep].float(), config.particle_filling, config.grid_lim, generator)
        h = config.grid_lim / config.particle_filling.n_grid
        pos = torch.cat([pos, fill])
        cov = torch.cat([cov, (h / 2) ** 2 * torch.eye(3).expand(len(fill), 3, 3)])
        index = torch.cat([index, torch.full((len(fill),), -1, dtype=torch.long)])
    carried = None
    if max_particles is not None and len(pos) > max_particles:
        if max_particles < 1:
            raise MPMError(f"max_particles is {max_particles}; it must be at least 1")
        order = torch.randperm(len(pos), generator=generator)
        sim, rest = order[:max_particles], order[max_particles:]
        rest = rest[index[rest] >= 0]  # left-out filling particles are simply dropped
        _, nearest = cKDTree(pos[sim].numpy()).query(pos[rest].numpy())
        carried = CarriedGaussians(pos[rest], cov[rest], index[rest], torch.from_numpy(nearest).long())
        pos, cov, index = pos[sim], cov[sim], index[sim]
    return GaussianParticles(pos, cov, cell_volumes(pos, config.dx), index, space, carried)


def cell_volumes(positions: Tensor, dx: float) -> Tensor:
    """(M,) m^3: dx^3 shared equally by the particles in each grid cell."""
    cells = torch.floor(positions / dx).long()
    _, inverse, counts = torch.unique(cells, dim=0, return_inverse=True, return_counts=True)
    return dx**3 / counts[inverse].float()


def fill_interior(means: Tensor, covariances: Tensor, opacities: Tensor, fc: FillingConfig, grid_lim: float,
                  generator: torch.Generator | None = None) -> Tensor:
    """Particles inside a closed Gaussian shell (simulation space) -> (K, 3) new positions.

    1. shell: cells where the opacity-weighted Gaussian density (each Gaussian evaluated on the
       cells within `search_threshold` of its centre; covariances regularised by a tenth of a cell,
       so flat or degenerate Gaussians cannot hang or blow up) exceeds `density_threshold`;
    2. interior: non-shell cells whose rays along at least `ray_cast_dir` of the 6 axis
       directions cross the shell an odd number of times (crossings = runs of shell cells);
    3. `max_particles_per_cell` random points in every interior cell, at most `max_particles`.
    All steps are fixed-size tensor operations: the cost is bounded by N (2 r + 1)^3 + n^3.
    """
    n, h = fc.n_grid, grid_lim / fc.n_grid
    r = int(fc.search_threshold)
    offs = torch.stack(torch.meshgrid(*[torch.arange(-r, r + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
    reg = covariances + (0.1 * h) ** 2 * torch.eye(3)
    prec = torch.linalg.inv(reg)
    density = torch.zeros(n**3)
    for s in range(0, len(means), 4096):
        c = torch.floor(means[s:s + 4096] / h).long()[:, None, :] + offs  # (B, O, 3) cells
        d = (c.float() + 0.5) * h - means[s:s + 4096, None, :]
        w = opacities[s:s + 4096, None] * torch.exp(-0.5 * torch.einsum("boi,bij,boj->bo", d, prec[s:s + 4096], d))
        ok = ((c >= 0) & (c < n)).all(-1)
        flat = (c[..., 0] * n + c[..., 1]) * n + c[..., 2]
        density.index_add_(0, flat[ok], w[ok])
    shell = (density > fc.density_threshold).reshape(n, n, n)
    odd_votes = torch.zeros(n, n, n, dtype=torch.int32)
    for axis in range(3):  # rays towards -axis and +axis: count the shell runs they cross
        sh = shell.movedim(axis, 2)
        first = sh & ~torch.nn.functional.pad(sh, (1, 0))[..., :-1]
        last = sh & ~torch.nn.functional.pad(sh, (0, 1))[..., 1:]
        behind = torch.cumsum(last.int(), -1) - last.int()
        ahead = torch.flip(torch.cumsum(torch.flip(first.int(), [-1]), -1), [-1]) - first.int()
        odd_votes += ((behind % 2) + (ahead % 2)).movedim(2, axis)
    interior = (~shell) & (odd_votes >= fc.ray_cast_dir)
    if fc.boundary is not None:
        b = torch.tensor(fc.boundary).reshape(3, 2)
        centres = (torch.stack(torch.meshgrid(*[torch.arange(n)] * 3, indexing="ij"), -1) + 0.5) * h
        interior &= ((centres >= b[:, 0]) & (centres <= b[:, 1])).all(-1)
    cells = torch.nonzero(interior).repeat_interleave(fc.max_particles_per_cell, 0)
    if len(cells) > fc.max_particles:
        cells = cells[torch.randperm(len(cells), generator=generator)[: fc.max_particles]]
    return (cells.float() + torch.rand(cells.shape, generator=generator)) * h


def polar_rotation(F: Tensor) -> Tensor:
    """(N, 3, 3) -> rotation R of F = R S (det R = +1)."""
    U, _, Vh = torch.linalg.svd(F)
    flip = torch.det(U @ Vh) < 0
    U = torch.where(flip[:, None, None], U * torch.tensor([1.0, 1.0, -1.0]), U)
    return U @ Vh


def deformed_gaussians(particles: GaussianParticles, x: Tensor, F: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """World-space kinematics of the rendered Gaussians from a simulated state.

    x (M, 3), F (M, 3, 3) in simulation space -> (means (R, 3), covariances (R, 3, 3),
    sh_rotations (R, 3, 3)) for the R rendered Gaussians, in `particles.render_index` order:
    Sigma_t = F Sigma_0 F^T mapped back to world space, and the world-space rotation of F's polar
    decomposition, by which view directions turn for SH evaluation (evaluate at R^T d).
    Carried Gaussians follow their carrier's affine motion. Differentiable in x and F.
    """
    keep = particles.rendered
    xs, Fs, cov0 = x[keep], F[keep], particles.covariances[keep]
    c = particles.carried
    if c is not None:
        Fc = F[c.carrier]
        offset = c.positions - particles.positions[c.carrier]
        xs = torch.cat([xs, x[c.carrier] + torch.einsum("kij,kj->ki", Fc, offset)])
        Fs, cov0 = torch.cat([Fs, Fc]), torch.cat([cov0, c.covariances])
    space = particles.space
    cov = space.cov_to_world(Fs @ cov0 @ Fs.transpose(1, 2))
    return space.to_world(xs), cov, space.rot_to_world(polar_rotation(Fs.detach()))


def world_gaussians(cloud, particles: GaussianParticles, x: Tensor, F: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The whole cloud (N Gaussians, world space) in a simulated state: x (M, 3), F (M, 3, 3)
    in simulation space -> (means (N, 3) m, covariances (N, 3, 3) m^2, sh_rotations (N, 3, 3)).
    Gaussians that are not simulated (dropped, outside `sim_area`) keep their rest pose and an
    identity SH rotation. Differentiable in x and F (out-of-place index_put)."""
    means, covs, rots = deformed_gaussians(particles, x.cpu(), F.cpu())
    index = (particles.render_index,)
    world_means = cloud.means.index_put(index, means)
    world_covs = cloud.covariances().index_put(index, covs)
    sh_rot = torch.eye(3).expand(len(cloud.means), 3, 3).index_put(index, rots)
    return world_means, world_covs, sh_rot


def scene_camera(config: SceneConfig, frame: int, width: int, height: int):
    """The config's PhysGaussian camera (simulation space) at `frame`; without camera keys it looks at
    the centre of the cube from 2 grid_lim away."""
    from invgfx.splat.camera import camera_from_physgaussian

    keys = {"mpm_space_viewpoint_center": [config.grid_lim / 2] * 3, "init_radius": 2.0 * config.grid_lim}
    keys.update(config.camera)
    return camera_from_physgaussian(keys, frame, width=width, height=height)


def render_state(cloud, particles: GaussianParticles, x: Tensor, F: Tensor, camera, background: Tensor | None = None) -> Tensor:
    """(3, H, W) RGB in [0, 1] of `cloud` (GaussianCloud, world space) in the simulated state x (M, 3),
    F (M, 3, 3) (simulation space), seen by `camera` (simulation space, e.g. `scene_camera`):
    Sigma_t = F Sigma_0 F^T, SH colours turned by polar(F), mapped to simulation space and rendered.
    background: (3,) RGB (None: the renderer's default). Differentiable in x and F (not through the
    SH rotation)."""
    from invgfx.splat.render import render_cloud

    means, covs, sh_rot = world_gaussians(cloud, particles, x, F)
    space = particles.space
    return render_cloud(cloud, camera, means=space.to_sim(means), covars=space.cov_to_sim(covs),
                        sh_rotations=space.rotation @ sh_rot @ space.rotation.T, background=background).rgb.clamp(0, 1)
