"""Gaussians <-> particles: PhysGaussian's preprocessing, its exact inverse, and interior filling.

World space is the Gaussian scene's space; simulation space is the cube [0, grid_lim]^3 (m)
the solver runs in. The map is x_sim = scale * R x_world + shift, so covariances map as
Sigma_sim = scale^2 R Sigma_world R^T. During simulation a particle's Gaussian deforms as
Sigma_t = F Sigma_0 F^T, and its view-dependent colour turns with the rotation of F = R_F S.
"""

from __future__ import annotations

import math
import warnings
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
    index of the Gaussian in the cloud that is rendered (`rendering_cloud`), -1 for filled interior
    particles that are simulated, not rendered; space: the world <-> simulation map; carried:
    Gaussians rendered but not simulated; shown_fill: (K,) int64, for `particle_filling.visualize`,
    the input Gaussian whose look the k-th shown filled particle takes (gaussian_index N + k).
    """

    positions: Tensor
    covariances: Tensor
    volumes: Tensor
    gaussian_index: Tensor
    space: SimSpace
    carried: CarriedGaussians | None = None
    shown_fill: Tensor | None = None

    @property
    def rendered(self) -> Tensor:
        """(M,) bool: which particles are Gaussians of the rendering cloud."""
        return self.gaussian_index >= 0

    @property
    def render_index(self) -> Tensor:
        """(R,) int64: the rendering-cloud index of each Gaussian `deformed_gaussians` returns."""
        index = self.gaussian_index[self.rendered]
        return index if self.carried is None else torch.cat([index, self.carried.gaussian_index])


def rendering_cloud(cloud, particles: GaussianParticles):
    """The cloud that `world_gaussians` / `render_state` draw: `cloud` itself, plus with
    `particle_filling.visualize` one copy of the nearest input Gaussian per filled particle
    (PhysGaussian's `init_filled_particles`: its SH, opacity and covariance)."""
    if particles.shown_fill is None:
        return cloud
    from invgfx.splat.cloud import GaussianCloud

    return GaussianCloud.cat([cloud, cloud[particles.shown_fill]])


def scene_rotation(rotations: list) -> Tensor:
    """PhysGaussian's `rotation_axis` / `rotation_degree` pairs, applied in order -> (3, 3)."""
    R = torch.eye(3)
    for axis, degrees in rotations:
        R = axis_angle_to_rotmat(torch.eye(3)[axis], math.radians(degrees)) @ R
    return R


def sim_area_mask(rotated_means: Tensor, sim_area: tuple | None) -> Tensor:
    """(N,) bool: Gaussians strictly inside `sim_area` [xmin, xmax, ymin, ymax, zmin, zmax],
    compared with their world positions after the config's rotations (N, 3), as PhysGaussian does."""
    if sim_area is None:
        return torch.ones(len(rotated_means), dtype=torch.bool)
    a = torch.tensor(sim_area, dtype=rotated_means.dtype).reshape(3, 2)
    return ((rotated_means > a[:, 0]) & (rotated_means < a[:, 1])).all(1)


def normalisation(rotated_means: Tensor, rotation: Tensor, config: SceneConfig) -> SimSpace:
    """The world -> simulation map of PhysGaussian's `transform2origin` + `shift2center111`: the
    bounding box of the rotated means (N, 3) gets longest side `object_size` (PhysGaussian's
    `scale`, default 1 m; native configs: half of grid_lim) and its centre at `object_center`
    ((1, 1, 1) m; native configs: the cube's centre)."""
    lo, hi = rotated_means.amin(0), rotated_means.amax(0)
    extent = float((hi - lo).max().clamp_min(1e-9))
    size = config.object_size if config.object_size is not None else 0.5 * config.grid_lim
    center = torch.tensor(config.object_center if config.object_center is not None else [config.grid_lim / 2] * 3)
    scale = size / extent
    return SimSpace(rotation, scale, center - scale * (lo + hi) / 2)


def prepare_particles(means: Tensor, covariances: Tensor, opacities: Tensor, config: SceneConfig,
                      generator: torch.Generator | None = None,
                      max_particles: int | None = None) -> GaussianParticles:
    """PhysGaussian's preprocessing (gs_simulation.py) of N Gaussians, in its order: world space
    means (N, 3), covariances (N, 3, 3), opacities (N,) ->
    1. keep opacity > opacity_threshold;  2. rotate by rotation_axis / rotation_degree;
    3. keep those strictly inside `sim_area` (world space, after the rotations);
    4. normalise the kept ones into the simulation cube (`normalisation`);
    5. fill the interior if `particle_filling` is set (`fill_interior`);
    6. (ours) keep a random `max_particles` of them, the other Gaussians carried (`CarriedGaussians`);
    7. give every particle the volume of its grid cell divided by the particles in it (sand: the
       mean of those volumes, as PhysGaussian). Unselected Gaussians are rendered at rest."""
    keep = torch.nonzero(opacities > config.opacity_threshold).squeeze(1)
    if keep.numel() == 0:
        raise MPMError(f"{config.source}: no Gaussian has opacity > opacity_threshold {config.opacity_threshold}; "
                       "lower `opacity_threshold`")
    R = scene_rotation(config.rotations)
    rotated = means[keep].float() @ R.T
    inside = sim_area_mask(rotated, config.sim_area)
    if not inside.any():
        lo, hi = rotated.amin(0).tolist(), rotated.amax(0).tolist()
        raise MPMError(f"{config.source}: `sim_area` {list(config.sim_area)} contains no Gaussian; it is compared with "
                       "world positions after the rotations, which span "
                       + ", ".join(f"{n} [{a:.3g}, {b:.3g}]" for n, a, b in zip("xyz", lo, hi)))
    keep, rotated = keep[inside], rotated[inside]
    space = normalisation(rotated, R, config)
    pos = space.to_sim(means[keep].float())
    cov = space.cov_to_sim(covariances[keep].float())
    index, shown_fill = keep, None
    fc = config.particle_filling
    if fc is not None:
        fill = fill_interior(pos, cov, opacities[keep].float(), fc, config.grid_lim, generator)
        if len(fill) > fc.max_particles_num:
            warnings.warn(f"{config.source}: filling found {len(fill)} interior particles, more than "
                          f"particle_filling.max_particles_num = {fc.max_particles_num}; a random subset is kept")
            fill = fill[torch.randperm(len(fill), generator=generator)[: fc.max_particles_num]]
        fill_index = torch.full((len(fill),), -1, dtype=torch.long)
        fill_cov = torch.zeros(len(fill), 3, 3)
        if fc.visualize and len(fill):
            _, nearest = cKDTree(pos.numpy()).query(fill.numpy())
            nearest = torch.from_numpy(nearest).long()
            shown_fill, fill_cov = keep[nearest], cov[nearest]
            fill_index = len(means) + torch.arange(len(fill))
        pos, cov, index = torch.cat([pos, fill]), torch.cat([cov, fill_cov]), torch.cat([index, fill_index])
    carried = None
    if max_particles is not None and len(pos) > max_particles:
        if max_particles < 1:
            raise MPMError(f"max_particles is {max_particles}; it must be at least 1")
        order = torch.randperm(len(pos), generator=generator)
        sim, rest = order[:max_particles], order[max_particles:]
        rest = rest[index[rest] >= 0]  # left-out hidden filling particles are simply dropped
        _, nearest = cKDTree(pos[sim].numpy()).query(pos[rest].numpy())
        carried = CarriedGaussians(pos[rest], cov[rest], index[rest], torch.from_numpy(nearest).long())
        pos, cov, index = pos[sim], cov[sim], index[sim]
    volumes = cell_volumes(pos, config.dx)
    if config.material == "sand":
        volumes = volumes.mean().expand(len(pos)).clone()
    return GaussianParticles(pos, cov, volumes, index, space, carried, shown_fill)


def cell_volumes(positions: Tensor, dx: float) -> Tensor:
    """(M,) m^3: dx^3 shared equally by the particles in each grid cell."""
    cells = torch.floor(positions / dx).long()
    _, inverse, counts = torch.unique(cells, dim=0, return_inverse=True, return_counts=True)
    return dx**3 / counts[inverse].float()


DIRECTIONS = ((0, 1), (0, -1), (1, 1), (1, -1), (2, 1), (2, -1))  # PhysGaussian's 0 +x, 1 -x, ... 5 -z


def filling_density(means: Tensor, covariances: Tensor, opacities: Tensor, n: int, h: float,
                    chunk: int = 1 << 22) -> Tensor:
    """(n, n, n) opacity-weighted density of Gaussians (means (N, 3) relative to the grid's corner,
    m; covariances (N, 3, 3); opacities (N,)) on cells of side h, as PhysGaussian's
    `densify_grids`: each Gaussian adds to every cell within ceil(largest std / h) cells of its own,
    opacity times the mean of exp(-d^T Sigma^-1 d / 2) over the cell's 8 corners (eigenvalues
    clamped at 1e-8, so flat Gaussians cannot divide by zero)."""
    evals, evecs = torch.linalg.eigh(covariances.double())
    evals = evals.clamp_min(1e-8)
    prec = (evecs / evals[:, None, :]) @ evecs.transpose(1, 2)
    reach = torch.ceil(evals.max(1).values.sqrt() / h).long()
    home = torch.floor(means.double() / h).long()
    density = torch.zeros(n**3, dtype=torch.float64)
    corners = torch.stack(torch.meshgrid(*[torch.arange(2)] * 3, indexing="ij"), -1).reshape(8, 3)
    for r in torch.unique(reach).tolist():  # Gaussians of one reach share one stencil of offsets
        group = torch.nonzero(reach == r).squeeze(1)
        offs = torch.stack(torch.meshgrid(*[torch.arange(-r, r + 1)] * 3, indexing="ij"), -1).reshape(-1, 3)
        per = max(1, chunk // (8 * len(offs)))
        for s in range(0, len(group), per):
            g = group[s:s + per]
            cells = home[g, None, :] + offs  # (B, O, 3)
            d = means[g, None, None, :].double() - (cells[:, :, None, :] + corners) * h  # (B, O, 8, 3)
            w = torch.exp(-0.5 * torch.einsum("boci,bij,bocj->boc", d, prec[g], d)).mean(-1)
            w = opacities[g, None].double() * w
            ok = ((cells >= 0) & (cells < n)).all(-1)
            flat = (cells[..., 0] * n + cells[..., 1]) * n + cells[..., 2]
            density.index_add_(0, flat[ok], w[ok])
    return density.reshape(n, n, n)


def _beyond(mask: Tensor, axis: int, sign: int) -> tuple[Tensor, Tensor]:
    """For every cell, along the ray from it (itself excluded) towards `sign` on `axis`: whether
    any cell of `mask` lies on it, and how many times the ray enters `mask` when it starts outside
    (PhysGaussian's `collision_search` and `collision_times` for a cell holding no Gaussian)."""
    m = mask.movedim(axis, -1)
    if sign < 0:
        m = m.flip(-1)
    starts = m & ~torch.nn.functional.pad(m, (1, 0))[..., :-1]
    ahead = lambda x: torch.flip(torch.cumsum(torch.flip(x.int(), [-1]), -1), [-1]) - x.int()  # strictly beyond
    nxt = torch.nn.functional.pad(m, (0, 1))[..., 1:]
    entries = ahead(starts) + (nxt & m).int()  # the next cell counts as an entry even when this one is in mask
    hit = ahead(m) > 0
    if sign < 0:
        hit, entries = hit.flip(-1), entries.flip(-1)
    return hit.movedim(-1, axis), entries.movedim(-1, axis)


def fill_interior(means: Tensor, covariances: Tensor, opacities: Tensor, fc: FillingConfig, grid_lim: float,
                  generator: torch.Generator | None = None) -> Tensor:
    """PhysGaussian's `fill_particles`: new particles (K, 3) inside the Gaussian shell given in
    simulation space (means (N, 3), covariances (N, 3, 3), opacities (N,)).

    The grid is fc.n_grid^3 cells over the simulation cube (side grid_lim / n), or, with
    `boundary`, over its longest side from its low corner, counting only the Gaussians inside it.
    1. count the Gaussian centres per cell; `filling_density`;
    2. cells denser than `density_threshold` get `max_particles_per_cell` minus their count;
    3. with `smooth`, the density is replaced by PyMCubes' constrained smoothing of density > 0;
    4. a cell still without particles is interior when the rays from it along all six directions
       but `search_exclude_direction` meet a cell denser than `search_threshold`, and the ray
       along `ray_cast_direction` enters such cells an odd number of times (a direction outside
       0-5: no parity test); it gets `max_particles_per_cell` particles.
    Particles are uniform in their cell. The cost is bounded by the Gaussians' stencils and n^3."""
    n = fc.n_grid
    origin = torch.zeros(3)
    if fc.boundary is not None:
        b = torch.tensor(fc.boundary).reshape(3, 2)
        inside = ((means > b[:, 0]) & (means < b[:, 1])).all(1)
        means, covariances, opacities = means[inside], covariances[inside], opacities[inside]
        h, origin = float((b[:, 1] - b[:, 0]).max()) / n, b[:, 0]
    else:
        h = grid_lim / n
    rel = means - origin
    home = torch.floor(rel / h).long()
    ok = ((home >= 0) & (home < n)).all(1)
    count = torch.zeros(n**3, dtype=torch.long)
    count.index_add_(0, (home[ok, 0] * n + home[ok, 1]) * n + home[ok, 2], torch.ones(int(ok.sum()), dtype=torch.long))
    count = count.reshape(n, n, n)
    density = filling_density(rel, covariances, opacities, n, h)
    ppc = fc.max_particles_per_cell
    dense = (density > fc.density_threshold) & (count < ppc)
    new_counts = [torch.where(dense, ppc - count, 0)]
    count = torch.where(dense, ppc, count)
    if fc.smooth:
        import mcubes  # PyMCubes: the smoothing PhysGaussian calls

        density = torch.from_numpy(mcubes.smooth(density.numpy(), method="constrained", max_iters=500))
    solid = density > fc.search_threshold
    empty = count == 0
    hit = empty.clone()
    for d, (axis, sign) in enumerate(DIRECTIONS):
        if d != fc.search_exclude_direction:
            hit &= _beyond(solid, axis, sign)[0]
    if 0 <= fc.ray_cast_direction < 6:
        hit &= _beyond(solid, *DIRECTIONS[fc.ray_cast_direction])[1] % 2 == 1
    new_counts.append(torch.where(hit, ppc, 0))
    cells = torch.cat([torch.nonzero(c).repeat_interleave(c[c > 0], 0) for c in new_counts])
    return origin + (cells.float() + torch.rand(cells.shape, generator=generator)) * h


POLAR_ITERATIONS = 12  # scaled Newton: quadratic once close; stretches of 10x reach float32 precision in 8


def _newton_polar(F: Tensor) -> Tensor:
    """Newton's iteration X <- (z X + X^-T / z) / 2 from X = F, z = sqrt(|X^-1|_F / |X|_F)."""
    X = F
    for _ in range(POLAR_ITERATIONS):
        inv_t = torch.linalg.inv(X).transpose(-1, -2)
        z = (torch.linalg.matrix_norm(inv_t) / torch.linalg.matrix_norm(X)).sqrt()[..., None, None]
        X = 0.5 * (z * X + inv_t / z)
    return X


def polar_rotation(F: Tensor) -> Tensor:
    """(N, 3, 3) -> rotation R of F = R S (det R = +1), differentiable.

    Where F is well inside det F > 0, R comes from Newton's iteration (`_newton_polar`, Higham
    1986), whose steps autograd follows; they are recomputed in the backward pass rather than
    kept (torch.utils.checkpoint), so a frame of many Gaussians keeps only F. The SVD's backward
    divides by differences of singular values, which are equal at rest (F = I): a gradient
    through it is NaN exactly where a simulation starts. An inverted, singular or nearly singular
    F takes U diag(1, 1, -1) V^T from the SVD instead, without a gradient."""
    from torch.utils.checkpoint import checkpoint

    scale = torch.linalg.matrix_norm(F.detach()) / math.sqrt(3.0)
    ok = torch.det(F.detach()) > 1e-6 * scale**3
    safe = torch.where(ok[:, None, None], F, torch.eye(3, device=F.device, dtype=F.dtype))
    X = checkpoint(_newton_polar, safe, use_reentrant=False) if F.requires_grad else _newton_polar(safe)
    if bool(ok.all()):
        return X
    with torch.no_grad():
        U, _, Vh = torch.linalg.svd(F)
        flip = torch.det(U @ Vh) < 0
        U = torch.where(flip[:, None, None], U * torch.tensor([1.0, 1.0, -1.0], device=F.device, dtype=F.dtype), U)
    return torch.where(ok[:, None, None], X, U @ Vh)


def deformed_gaussians(particles: GaussianParticles, x: Tensor, F: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """World-space kinematics of the rendered Gaussians from a simulated state.

    x (M, 3), F (M, 3, 3) in simulation space -> (means (R, 3), covariances (R, 3, 3),
    sh_rotations (R, 3, 3)) for the R rendered Gaussians, in `particles.render_index` order:
    Sigma_t = F Sigma_0 F^T mapped back to world space, and the world-space rotation of F's polar
    decomposition, by which view directions turn for SH evaluation (evaluate at R^T d).
    Carried Gaussians follow their carrier's affine motion. Differentiable in x and F (the
    rotation too).
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
    return space.to_world(xs), cov, space.rot_to_world(polar_rotation(Fs))


def world_gaussians(cloud, particles: GaussianParticles, x: Tensor, F: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """The whole `rendering_cloud` (N Gaussians, world space) in a simulated state: x (M, 3), F (M, 3, 3)
    in simulation space -> (means (N, 3) m, covariances (N, 3, 3) m^2, sh_rotations (N, 3, 3)).
    Gaussians that are not simulated (dropped, outside `sim_area`) keep their rest pose and an
    identity SH rotation. Differentiable in x and F (out-of-place index_put)."""
    cloud = rendering_cloud(cloud, particles)
    means, covs, rots = deformed_gaussians(particles, x.cpu(), F.cpu())
    index = (particles.render_index,)
    world_means = cloud.means.index_put(index, means)
    world_covs = cloud.covariances().index_put(index, covs)
    sh_rot = torch.eye(3).expand(len(cloud.means), 3, 3).index_put(index, rots)
    return world_means, world_covs, sh_rot


def scene_camera(config: SceneConfig, frame: int, width: int, height: int, space: SimSpace | None = None,
                 cameras: list | None = None):
    """The config's camera at `frame`, in simulation space (what `render_state` takes).

    space: the world <-> simulation map of the object (`GaussianParticles.space`). For a config with
    `camera_space` "world" (PhysGaussian/DreamPhysics files) the orbit keys mean what
    PhysGaussian's `get_camera_view` makes of them: an orbit in world space, radius in world units.
    cameras: the capture's `cameras.json` (world space, `invgfx.splat.camera.load_cameras_json`):
    `default_camera_index` >= 0 picks one of them, as PhysGaussian does, and the orbit takes the
    first one's intrinsics (scaled to width x height). Without camera keys the camera looks at the
    cube's centre from 2 grid_lim away."""
    from invgfx.splat.camera import camera_from_physgaussian, camera_to_space

    keys = {"mpm_space_viewpoint_center": [config.grid_lim / 2] * 3, "init_radius": 2.0 * config.grid_lim}
    keys.update(config.camera)
    if cameras and space is None:
        raise MPMError("scene_camera: the capture's cameras are in world space; pass the object's `space` too")
    index = keys.get("default_camera_index")
    index = -1 if index is None else int(index)
    if cameras and index >= 0:
        if index >= len(cameras):
            raise MPMError(f"{config.source}: `default_camera_index` is {index} but the capture's cameras.json has "
                           f"{len(cameras)} cameras (0 to {len(cameras) - 1}); -1 uses the orbit keys")
        return camera_to_space(cameras[index].resized(width, height), space.rotation, space.scale, space.shift)
    world = (space.rotation, space.scale) if space is not None and config.camera_space == "world" else None
    K = cameras[0].resized(width, height).K if cameras else None
    return camera_from_physgaussian(keys, frame, width=width, height=height, world_to_sim=world, K=K)


def render_state(cloud, particles: GaussianParticles, x: Tensor, F: Tensor, camera, background: Tensor | None = None) -> Tensor:
    """(3, H, W) RGB in [0, 1] of `cloud` (GaussianCloud, world space) in the simulated state x (M, 3),
    F (M, 3, 3) (simulation space), seen by `camera` (simulation space, e.g. `scene_camera`):
    Sigma_t = F Sigma_0 F^T, SH colours turned by polar(F), mapped to simulation space and rendered.
    background: (3,) RGB (None: the renderer's default). Differentiable in x and F, the SH rotation
    included (`polar_rotation`)."""
    from invgfx.splat.render import render_cloud

    means, covs, sh_rot = world_gaussians(cloud, particles, x, F)
    space = particles.space
    return render_cloud(rendering_cloud(cloud, particles), camera, means=space.to_sim(means), covars=space.cov_to_sim(covs),
                        sh_rotations=space.rotation @ sh_rot @ space.rotation.T, background=background).rgb.clamp(0, 1)
