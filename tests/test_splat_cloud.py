"""GaussianCloud: activations, subsets, concatenation, transforms (covariances and SH), bounds."""

import math

import pytest
import torch

from invgfx.splat.camera import look_at
from invgfx.splat.cloud import GaussianCloud
from invgfx.splat.errors import SplatError
from invgfx.splat.geometry import axis_angle_to_rotmat, quat_to_rotmat, random_rotations, rotmat_to_quat
from invgfx.splat.render import render_cloud
from invgfx.splat.sh import eval_sh, rotate_sh


def _cloud(n=300, degree=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    sh = torch.randn(n, (degree + 1) ** 2, 3, generator=g) * 0.3
    sh[:, 0] += 0.8
    return GaussianCloud(torch.randn(n, 3, generator=g) * 0.3, torch.randn(n, 4, generator=g),
                         torch.rand(n, 3, generator=g).log() * 0.5 - 3.0, torch.randn(n, generator=g) + 1, sh)


def test_quaternion_matrix_round_trip():
    R = random_rotations(500, torch.Generator().manual_seed(0))
    assert torch.allclose(quat_to_rotmat(rotmat_to_quat(R)), R, atol=1e-5)
    assert torch.allclose(R @ R.transpose(1, 2), torch.eye(3).expand(500, 3, 3), atol=1e-5)


def test_rotate_sh_turns_the_colour_function():
    coeffs = torch.randn(20, 16, 3, generator=torch.Generator().manual_seed(1))
    R = axis_angle_to_rotmat([1.0, 2.0, 0.5], 1.1)
    dirs = torch.randn(20, 3, generator=torch.Generator().manual_seed(2))
    assert torch.allclose(eval_sh(rotate_sh(coeffs, R), dirs @ R.T), eval_sh(coeffs, dirs), atol=1e-4)


def test_transformed_scene_renders_like_the_original_from_the_transformed_camera():
    cloud = _cloud()
    cam = look_at([0.4, -2.0, 0.6], [0, 0, 0], width=48, height=40)
    R = axis_angle_to_rotmat([0.3, -1.0, 2.0], 0.9)
    s, t = 1.7, torch.tensor([0.5, -1.0, 2.0])
    moved = cloud.transformed(rotation=R, scale=s, translation=t)
    # The camera sees x' = s R x + t as it saw x: viewmat' = [Rc R^T | s tc - Rc R^T t].
    Rc, tc = cam.viewmat[:3, :3], cam.viewmat[:3, 3]
    viewmat = torch.eye(4)
    viewmat[:3, :3] = Rc @ R.T
    viewmat[:3, 3] = s * tc - Rc @ R.T @ t
    cam2 = type(cam)(viewmat, cam.K, cam.width, cam.height)
    a = render_cloud(cloud, cam)
    b = render_cloud(moved, cam2)
    assert a.alpha.max() > 0.5
    assert (a.rgb - b.rgb).abs().max() < 2e-3  # view-dependent SH colour included
    assert (a.alpha - b.alpha).abs().max() < 2e-3
    assert torch.allclose(moved.covariances(), s**2 * R @ cloud.covariances() @ R.T, atol=1e-6)


def test_subset_cat_device_and_bounds():
    a, b = _cloud(10, degree=0), _cloud(5, degree=2, seed=1)
    both = GaussianCloud.cat([a, b])
    assert len(both) == 15 and both.sh_degree == 2
    assert torch.equal(both.sh[:10, 1:], torch.zeros(10, 8, 3))  # degree-0 part padded with zeros
    assert torch.equal(both[10:].means, b.means)
    mask = both.means[:, 0] > 0
    assert len(both[mask]) == int(mask.sum())
    assert both.to(dtype=torch.float64).means.dtype == torch.float64
    lo, hi = a.bounding_box()
    assert torch.equal(lo, a.means.amin(0)) and torch.equal(hi, a.means.amax(0))
    lo3, hi3 = a.bounding_box(n_sigma=3)
    assert (lo3 < lo).all() and (hi3 > hi).all()


def test_from_activated_and_validation():
    means = torch.zeros(4, 3)
    c = GaussianCloud.from_activated(means, torch.full((4,), 0.1), torch.full((4, 3), 0.25), 0.6)
    assert torch.allclose(c.scales, torch.full((4, 3), 0.1)) and torch.allclose(c.opacities, torch.full((4,), 0.6))
    assert torch.allclose(c.colors(), torch.full((4, 3), 0.25), atol=1e-6)
    with pytest.raises(SplatError, match="quats has shape"):
        GaussianCloud(means, torch.zeros(3, 4), torch.zeros(4, 3), torch.zeros(4), torch.zeros(4, 1, 3))
    with pytest.raises(SplatError, match="SH"):
        GaussianCloud(means, torch.zeros(4, 4), torch.zeros(4, 3), torch.zeros(4), torch.zeros(4, 5, 3))
    with pytest.raises(SplatError, match="scale must be a positive"):
        c.transformed(scale=-1.0)
    with pytest.raises(SplatError, match="rotation matrix"):
        c.transformed(rotation=torch.diag(torch.tensor([1.0, 1.0, -1.0])))
