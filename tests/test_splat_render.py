"""The tiled renderer against the dense per-pixel reference, finite differences and analytic projection."""

import math

import pytest
import torch

from invgfx.scenes import ball
from invgfx.splat.camera import look_at
from invgfx.splat.errors import SplatError
from invgfx.splat.geometry import covariance_from_quat_scale, random_rotations
from invgfx.splat.reference import render_reference
from invgfx.splat.render import render_gaussians


def _both(scene, cam, **kw):
    args = (scene["means"], scene["opacities"], scene["colors"], cam.viewmat, cam.K, cam.width, cam.height)
    fast = render_gaussians(*args, covars=scene["covars"], **kw)
    kw.pop("tile_size", None)
    ref = render_reference(scene["means"], scene["opacities"], scene["colors"], scene["covars"], cam.viewmat, cam.K,
                           cam.width, cam.height, **kw)
    return fast, ref


@pytest.mark.parametrize("tile_size", [4, 8, 16])
@pytest.mark.parametrize("size", [(32, 24), (37, 29)])  # multiples of the tile and not
def test_matches_reference(random_gaussians, tile_size, size):
    scene = random_gaussians(150, seed=tile_size)
    cam = look_at([0.3, -2.5, 0.8], [0, 0, 0], width=size[0], height=size[1])
    fast, ref = _both(scene, cam, tile_size=tile_size, background=torch.tensor([0.2, 0.5, 0.9]))
    assert fast.alpha.max() > 0.9 and fast.alpha.min() < 0.1  # the scene covers part of the frame
    for a, b in ((fast.rgb, ref.rgb), (fast.alpha, ref.alpha), (fast.depth, ref.depth)):
        assert (a - b).abs().max() < 1e-4


def test_matches_reference_with_sh_rotations_and_points_behind(random_gaussians):
    scene = random_gaussians(120, seed=3, sh_degree=3, spread=1.5)  # some Gaussians behind the camera
    cam = look_at([0.0, -1.0, 0.2], [0, 0, 0], width=40, height=30)
    rots = random_rotations(120, torch.Generator().manual_seed(1))
    fast, ref = _both(scene, cam, sh_rotations=rots)
    assert (fast.rgb - ref.rgb).abs().max() < 1e-4
    plain, _ = _both(scene, cam)
    assert (plain.rgb - fast.rgb).abs().max() > 1e-2  # the rotations do change view-dependent colour


def test_saturated_pixels_stop_compositing():
    # 40 opaque layers on the axis: transmittance falls below 1e-4 long before the last.
    n = 40
    means = torch.stack([torch.zeros(n), torch.zeros(n), torch.linspace(0, 1, n)], 1)
    covars = torch.eye(3).expand(n, 3, 3) * 0.05**2
    colors = torch.rand(n, 3, generator=torch.Generator().manual_seed(0))
    opac = torch.full((n,), 0.9)
    cam = look_at([0, 0, -2.0], [0, 0, 0], up=[0, 1, 0], width=9, height=9)
    args = (means, opac, colors, cam.viewmat, cam.K, 9, 9)
    fast = render_gaussians(*args, covars=covars)
    ref = render_reference(means, opac, colors, covars, cam.viewmat, cam.K, 9, 9)
    assert (fast.rgb - ref.rgb).abs().max() < 1e-5
    # centre pixel: 3 layers give 1 - 0.1^3 coverage, the 4th would push T below 1e-4, so stops there.
    assert abs(float(fast.alpha[4, 4]) - (1 - 0.1**4)) < 1e-4


def test_gradients_match_finite_differences(random_gaussians):
    scene = random_gaussians(10, seed=5, dtype=torch.float64)
    cam = look_at([0.2, -2.0, 0.5], [0, 0, 0], width=14, height=11).to(dtype=torch.float64)
    weights = [torch.rand(s, generator=torch.Generator().manual_seed(i), dtype=torch.float64)
               for i, s in enumerate([(3, 11, 14), (11, 14), (11, 14)])]

    def loss_quat_scale(means, quats, scales, opacities, colors):
        r = render_gaussians(means, opacities, colors, cam.viewmat, cam.K, 14, 11, quats=quats, scales=scales,
                             background=torch.tensor([0.3, 0.3, 0.3], dtype=torch.float64), tile_size=4)
        return (r.rgb * weights[0]).sum() + (r.alpha * weights[1]).sum() + 0.1 * (r.depth * weights[2]).sum()

    def loss_covars(covars):
        r = render_gaussians(scene["means"], scene["opacities"], scene["colors"], cam.viewmat, cam.K, 14, 11,
                             covars=(covars + covars.transpose(1, 2)) / 2, tile_size=4)
        return (r.rgb * weights[0]).sum() + (r.alpha * weights[1]).sum()

    inputs = tuple(scene[k].clone().requires_grad_() for k in ("means", "quats", "scales", "opacities", "colors"))
    assert torch.autograd.gradcheck(loss_quat_scale, inputs, eps=1e-6, atol=1e-5, rtol=1e-4)
    assert torch.autograd.gradcheck(loss_covars, (scene["covars"].clone().requires_grad_(),), eps=1e-7, atol=1e-5, rtol=1e-4)


def test_sphere_renders_as_disc_of_analytic_size():
    radius, dist, f = 0.5, 3.0, 200.0
    cloud = ball(seed=0, radius=radius, n_gaussians=30000).cloud
    # Half-size splats: the interior stays opaque (rays cross many), and the rim is only
    # blurred by a fraction of a pixel (no 0.3 px^2 low-pass), so the alpha = 0.5 contour is the
    # true silhouette.
    cloud.log_scales = cloud.log_scales - math.log(2)
    W = H = 128
    cam = look_at([0.0, -dist, 0.0], [0, 0, 0], width=W, height=H)
    cam.K[0, 0] = cam.K[1, 1] = f
    r = render_gaussians(cloud.means, cloud.opacities, cloud.sh, cam.viewmat, cam.K, W, H, covars=cloud.covariances(), eps2d=0.0)
    mask = r.alpha > 0.5
    expected_radius = f * radius / math.sqrt(dist**2 - radius**2)  # silhouette of a sphere on the axis
    measured_radius = math.sqrt(float(mask.sum()) / math.pi)
    assert abs(measured_radius - expected_radius) / expected_radius < 0.02
    rows, cols = torch.nonzero(mask, as_tuple=True)
    assert abs(float(cols.float().mean()) + 0.5 - W / 2) < 0.5
    assert abs(float(rows.float().mean()) + 0.5 - H / 2) < 0.5

    # Off the axis: the silhouette's extreme rays make angles theta_c +- asin(r / d) with the axis.
    shift = 0.3
    moved = render_gaussians(cloud.means + torch.tensor([shift, 0.0, 0.0]), cloud.opacities, cloud.sh, cam.viewmat,
                                 cam.K, W, H, covars=cloud.covariances(), eps2d=0.0)
    cols = torch.nonzero(moved.alpha > 0.5, as_tuple=True)[1].float() + 0.5
    theta_c = math.atan2(shift, dist)
    half = math.asin(radius / math.hypot(shift, dist))
    left, right = W / 2 + f * math.tan(theta_c - half), W / 2 + f * math.tan(theta_c + half)
    assert abs(float(cols.min()) - left) < 1.5 and abs(float(cols.max()) - right) < 1.5
    assert right < W - 2  # the whole disc is in view


def test_depth_is_expected_camera_depth():
    means = torch.tensor([[0.0, 0.0, 0.0]])
    cam = look_at([0.0, -2.0, 0.0], [0, 0, 0], width=16, height=16)
    r = render_gaussians(means, torch.tensor([0.9]), torch.ones(1, 3), cam.viewmat, cam.K, 16, 16,
                         covars=torch.eye(3)[None] * 0.1**2)
    assert abs(float(r.depth[8, 8]) - 2.0) < 1e-5
    assert float(r.depth[0, 0]) == 0.0 and float(r.alpha[0, 0]) == 0.0


def test_bad_arguments_name_the_problem():
    cam = look_at([0.0, -2.0, 0.0], [0, 0, 0], width=8, height=8)
    with pytest.raises(SplatError, match="covars"):
        render_gaussians(torch.zeros(2, 3), torch.ones(2), torch.ones(2, 3), cam.viewmat, cam.K, 8, 8)
    with pytest.raises(SplatError, match="colors"):
        render_gaussians(torch.zeros(2, 3), torch.ones(2), torch.ones(3, 3), cam.viewmat, cam.K, 8, 8,
                         covars=torch.eye(3).expand(2, 3, 3))
    with pytest.raises(SplatError, match="backend"):
        render_gaussians(torch.zeros(2, 3), torch.ones(2), torch.ones(2, 3), cam.viewmat, cam.K, 8, 8,
                         covars=torch.eye(3).expand(2, 3, 3), backend="vulkan")


def test_empty_view_renders_background():
    cam = look_at([0.0, -2.0, 0.0], [0, 0, 0], width=8, height=6)
    means = torch.tensor([[0.0, -5.0, 0.0]])  # behind the camera
    r = render_gaussians(means, torch.ones(1), torch.ones(1, 3), cam.viewmat, cam.K, 8, 6,
                         covars=covariance_from_quat_scale(torch.tensor([[1.0, 0, 0, 0]]), torch.full((1, 3), 0.1)),
                         background=torch.tensor([0.1, 0.2, 0.3]))
    assert torch.allclose(r.rgb, torch.tensor([0.1, 0.2, 0.3])[:, None, None].expand(3, 6, 8))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the gsplat backend needs CUDA")
def test_gsplat_backend_matches_torch(random_gaussians):
    pytest.importorskip("gsplat")
    scene = {k: v.cuda() for k, v in random_gaussians(300, seed=7).items()}
    cam = look_at([0.3, -2.5, 0.8], [0, 0, 0], width=64, height=48).to("cuda")
    args = (scene["means"], scene["opacities"], scene["colors"], cam.viewmat, cam.K, 64, 48)
    ours = render_gaussians(*args, covars=scene["covars"])
    theirs = render_gaussians(*args, covars=scene["covars"], backend="gsplat")
    assert (ours.rgb - theirs.rgb).abs().max() < 1e-3
    assert (ours.alpha - theirs.alpha).abs().max() < 1e-3
