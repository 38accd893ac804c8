"""Gaussians <-> particles: exact inverse, Sigma_t = F Sigma_0 F^T, polar rotation, interior filling."""

import math

import torch

from invgfx.mpm import SceneConfig
from invgfx.mpm.config import FillingConfig
from invgfx.mpm.gaussians import deformed_gaussians, polar_rotation, prepare_particles
from invgfx.splat.geometry import covariance_from_quat_scale, random_rotations


def random_gaussians(n, seed=0):
    g = torch.Generator().manual_seed(seed)
    means = torch.randn(n, 3, generator=g) * torch.tensor([3.0, 1.0, 2.0]) + 5.0
    quats = torch.randn(n, 4, generator=g)
    scales = torch.rand(n, 3, generator=g) * 0.1 + 0.01
    opac = torch.rand(n, generator=g)
    return means, covariance_from_quat_scale(quats, scales), opac


def test_preprocessing_normalises_and_inverts_exactly():
    means, cov, opac = random_gaussians(500)
    cfg = SceneConfig(rotations=[(0, 90.0), (2, 30.0)], opacity_threshold=0.3)
    p = prepare_particles(means, cov, opac, cfg)
    kept = opac > 0.3  # PhysGaussian keeps opacity > threshold
    assert torch.equal(p.gaussian_index, torch.nonzero(kept).squeeze(1))
    extent = p.positions.amax(0) - p.positions.amin(0)
    assert abs(extent.max().item() - 1.0) < 1e-5  # longest side: half of grid_lim 2
    assert torch.allclose((p.positions.amax(0) + p.positions.amin(0)) / 2, torch.ones(3), atol=1e-5)
    m, c, R = deformed_gaussians(p, p.positions, torch.eye(3).expand(len(p.positions), 3, 3))
    assert torch.allclose(m, means[kept], atol=1e-4)
    assert torch.allclose(c, cov[kept], atol=1e-6)
    assert torch.allclose(R, torch.eye(3).expand_as(R), atol=1e-5)


def test_deformation_maps_covariance_and_rotation():
    means, cov, opac = random_gaussians(50, seed=1)
    p = prepare_particles(means, cov, torch.ones(50), SceneConfig(rotations=[(1, 45.0)]))
    rot = random_rotations(50, torch.Generator().manual_seed(2))
    stretch = torch.diag(torch.tensor([1.3, 0.8, 1.0]))
    F = rot @ stretch  # a rotated stretch: polar rotation is rot
    _, c, R = deformed_gaussians(p, p.positions, F)
    S = p.space
    expected = S.cov_to_world(F @ p.covariances @ F.transpose(1, 2))
    assert torch.allclose(c, expected, atol=1e-6)
    assert torch.allclose(polar_rotation(F), rot, atol=1e-5)
    assert torch.allclose(R, S.rotation.T @ rot @ S.rotation, atol=1e-5)
    # covariance volume grows with det(F)^2
    assert torch.allclose(torch.det(c), torch.det(cov) * torch.det(F) ** 2, rtol=1e-3)


def sphere_shell(n=4000, radius=1.0, scale=0.05):
    g = torch.Generator().manual_seed(0)
    d = torch.randn(n, 3, generator=g)
    means = radius * d / d.norm(dim=1, keepdim=True)
    cov = (scale**2) * torch.eye(3).expand(n, 3, 3).clone()
    return means, cov


def test_filling_fills_the_inside_of_a_closed_shell_and_nothing_outside():
    means, cov = sphere_shell()
    cov[:100] = 0.0  # degenerate Gaussians must neither hang nor produce NaN
    fc = FillingConfig(n_grid=32, density_threshold=0.5, search_threshold=0.5)  # PhysGaussian's defaults otherwise
    cfg = SceneConfig(n_grid=16, particle_filling=fc)
    p = prepare_particles(means, cov, torch.ones(len(means)), cfg, generator=torch.Generator().manual_seed(0))
    filled = p.positions[~p.rendered]
    h = cfg.grid_lim / fc.n_grid
    r = (filled - torch.ones(3)).norm(dim=1)  # shell diameter 2 -> 1 m in simulation space, centred at (1, 1, 1)
    assert r.max() < 0.5 + 2 * h  # on the shell (its dense cells are filled too, as PhysGaussian does) or inside
    centres = (torch.stack(torch.meshgrid(*[torch.arange(32)] * 3, indexing="ij"), -1).reshape(-1, 3) + 0.5) * h
    deep = (centres - 1.0).norm(dim=1) < 0.5 - 2 * h  # cells well inside the shell: every one gets a particle
    cells = torch.floor(filled / h).long().tolist()
    deep_cells = set(map(tuple, torch.floor(centres[deep] / h).long().tolist()))
    assert deep_cells <= set(map(tuple, cells))
    assert sum(tuple(c) in deep_cells for c in cells) == len(deep_cells)  # one each (max_particles_per_cell 1)
    assert torch.isfinite(p.volumes).all() and (p.volumes > 0).all()
    dx = cfg.dx
    assert p.volumes.sum() <= (torch.floor(p.positions / dx).unique(dim=0).shape[0]) * dx**3 + 1e-6


def test_max_particles_carries_the_rest_with_their_nearest_particle():
    means, cov, opac = random_gaussians(2000, seed=3)
    cfg = SceneConfig()
    full = prepare_particles(means, cov, torch.ones(2000), cfg)
    sub = prepare_particles(means, cov, torch.ones(2000), cfg, generator=torch.Generator().manual_seed(0),
                            max_particles=300)
    assert len(sub.positions) == 300 and len(sub.carried.gaussian_index) == 1700
    assert torch.equal(sub.render_index.sort().values, torch.arange(2000))  # every Gaussian is still rendered
    # each carrier is the nearest simulated particle
    d = torch.cdist(sub.carried.positions, sub.positions)
    assert torch.equal(d.argmin(1), sub.carried.carrier)
    # a uniform affine motion x -> A x + b (F = A) moves carried Gaussians exactly as simulated ones
    A = torch.eye(3) + 0.2 * torch.randn(3, 3, generator=torch.Generator().manual_seed(4))
    b = torch.tensor([0.1, -0.2, 0.05])
    moved = lambda p: deformed_gaussians(p, p.positions @ A.T + b, A.expand(len(p.positions), 3, 3))
    m_sub, c_sub, R_sub = moved(sub)
    m_full, c_full, R_full = moved(full)
    order = full.render_index.argsort()
    assert torch.allclose(m_sub[sub.render_index.argsort()], m_full[order], atol=1e-4)
    assert torch.allclose(c_sub[sub.render_index.argsort()], c_full[order], atol=1e-6)
    assert torch.allclose(R_sub[sub.render_index.argsort()], R_full[order], atol=1e-5)


def test_render_state_of_a_rigidly_turned_state_renders_the_turned_cloud():
    """render_state (shared by `invgfx simulate` and DreamPhysics) at x = c + R (X - c), F = R equals
    rendering the cloud turned by R in simulation space (means, covariances and SH directions)."""
    import pytest

    from invgfx.mpm.gaussians import render_state, scene_camera
    from invgfx.scenes import make_scene
    from invgfx.splat.geometry import axis_angle_to_rotmat
    from invgfx.splat.render import render_cloud

    cloud = make_scene("ball", seed=0, n_gaussians=200).cloud
    cfg = SceneConfig(opacity_threshold=0.0, rotations=[(0, 90.0)], camera={"init_radius": 3.0})
    p = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, cfg, max_particles=120)  # 80 carried
    camera, background = scene_camera(cfg, 0, 40, 40), torch.tensor([0.2, 0.3, 0.4])
    S, centre = p.space, torch.ones(3)
    for R in (torch.eye(3), axis_angle_to_rotmat(torch.tensor([0.0, 0.0, 1.0]), 0.7)):
        image = render_state(cloud, p, centre + (p.positions - centre) @ R.T, R.expand(len(p.positions), 3, 3),
                             camera, background)
        turned = render_cloud(cloud, camera, means=centre + (S.to_sim(cloud.means) - centre) @ R.T,
                              covars=R @ S.cov_to_sim(cloud.covariances()) @ R.T,
                              sh_rotations=(R @ S.rotation).expand(len(cloud.means), 3, 3), background=background).rgb
        assert image.shape == (3, 40, 40) and image.std() > 0.05  # the object is in view
        assert (image - turned.clamp(0, 1)).abs().max().item() == pytest.approx(0.0, abs=2e-4)


def test_polar_rotation_is_differentiable_at_rest_and_matches_the_svd():
    """Newton's polar factor equals U V^T of the SVD on stretched, rotated F, and its gradient
    matches finite differences, at F = I too, where the SVD's backward is NaN."""
    gen = torch.Generator().manual_seed(3)
    rot = random_rotations(20, gen)
    stretch = torch.diag_embed(torch.exp(torch.randn(20, 3, generator=gen)))  # up to ~10x
    F = rot @ stretch @ random_rotations(20, gen)
    U, _, Vh = torch.linalg.svd(F)
    assert torch.allclose(polar_rotation(F), U @ Vh, atol=1e-5)
    inverted = F.clone()
    inverted[0, :, 0] *= -1  # det < 0: the SVD's rotation with a flip, det +1
    inverted[1] = torch.diag(torch.tensor([1.0, 1.0, 0.0]))  # singular
    R = polar_rotation(inverted.requires_grad_(True))
    assert torch.allclose(torch.det(R), torch.ones(20), atol=1e-5) and torch.isfinite(R).all()
    U, _, Vh = torch.linalg.svd(inverted[0].detach())
    assert torch.allclose(R[0], U @ torch.diag(torch.tensor([1.0, 1.0, -1.0])) @ Vh, atol=1e-5)
    assert torch.allclose(R[2:], polar_rotation(F[2:]), atol=1e-6)  # the other rows are unchanged
    R.sum().backward()
    assert torch.isfinite(inverted.grad).all()
    for start in (torch.eye(3, dtype=torch.float64)[None], (rot[:3] @ stretch[:3]).double()):
        assert torch.autograd.gradcheck(polar_rotation, (start.clone().requires_grad_(True),), eps=1e-6, atol=1e-5)
    at_rest = torch.eye(3)[None].repeat(2, 1, 1).requires_grad_(True)
    (polar_rotation(at_rest) * torch.randn(2, 3, 3, generator=gen)).sum().backward()
    assert torch.isfinite(at_rest.grad).all()
    means, cov, _ = random_gaussians(10, seed=4)
    p = prepare_particles(means, cov, torch.ones(10), SceneConfig())
    F = torch.eye(3).repeat(len(p.positions), 1, 1).requires_grad_(True)
    _, _, sh_rot = deformed_gaussians(p, p.positions, F)
    (sh_rot * torch.randn(sh_rot.shape, generator=gen)).sum().backward()  # the SH colours' rotation reaches F
    assert F.grad.abs().sum() > 0 and torch.isfinite(F.grad).all()
