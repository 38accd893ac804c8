"""The compiled numba rasteriser against the torch backend, the dense reference and finite differences."""

import pytest
import torch

from invgfx.splat import numba_backend
from invgfx.splat.camera import look_at
from invgfx.splat.geometry import covariance_from_quat_scale, random_rotations
from invgfx.splat.reference import render_reference
from invgfx.splat.render import render_gaussians

TOL = 1e-4  # float32 images: numba vs torch vs reference


def _render(scene, cam, backend, **kw):
    return render_gaussians(scene["means"], scene["opacities"], scene["colors"], cam.viewmat, cam.K, cam.width,
                            cam.height, covars=scene["covars"], backend=backend, **kw)


def _reference(scene, cam, **kw):
    return render_reference(scene["means"], scene["opacities"], scene["colors"], scene["covars"], cam.viewmat, cam.K,
                            cam.width, cam.height, **kw)


def _assert_close(a, b, tol=TOL):
    for name in ("rgb", "alpha", "depth"):
        err = float((getattr(a, name) - getattr(b, name)).abs().max())
        assert err < tol, f"{name} differs by {err}"


def _edge_scene(seed=0, dtype=torch.float32):
    """Anisotropic and degenerate (one or two axes ~0) Gaussians, some behind the camera, some off
    screen, some opaque enough that alpha is clamped to 0.99, some too faint to count."""
    g = torch.Generator().manual_seed(seed)
    n = 200
    means = torch.randn(n, 3, generator=g, dtype=torch.float64) * 0.5
    means[:20, 1] -= 3.0  # behind the camera at y = -2.5
    means[20:40, 0] += torch.where(torch.rand(20, generator=g) < 0.5, -1.5, 1.5).double()  # off the sides
    scales = torch.rand(n, 3, generator=g, dtype=torch.float64) * 0.15 + 0.01
    scales[40:60, 0] = 1e-7  # flat discs
    scales[60:70, :2] = 1e-7  # needles
    scales[70:75] = 1e-7  # points: only the 0.3 px^2 low-pass is left
    scales[75:100, 1] *= 20  # long streaks
    opacities = torch.rand(n, generator=g, dtype=torch.float64) * 0.9 + 0.1
    opacities[100:130] = 1.0  # alpha clamped at 0.99 near their centres
    opacities[130:135] = 0.5 / 255  # below the 1/255 cut
    quats = torch.randn(n, 4, generator=g, dtype=torch.float64)
    scene = dict(means=means, opacities=opacities, colors=torch.rand(n, 3, generator=g, dtype=torch.float64))
    scene["covars"] = covariance_from_quat_scale(quats, scales)
    return {k: v.to(dtype) for k, v in scene.items()}


@pytest.mark.parametrize("tile_size", [4, 8, 16])
@pytest.mark.parametrize("size", [(32, 24), (37, 29)])  # multiples of the tile and not
def test_matches_torch_and_reference(random_gaussians, tile_size, size):
    scene = random_gaussians(150, seed=tile_size)
    cam = look_at([0.3, -2.5, 0.8], [0, 0, 0], width=size[0], height=size[1])
    kw = dict(background=torch.tensor([0.2, 0.5, 0.9]))
    fast = _render(scene, cam, "numba", tile_size=tile_size, **kw)
    assert fast.alpha.max() > 0.9 and fast.alpha.min() < 0.1
    _assert_close(fast, _render(scene, cam, "torch", tile_size=tile_size, **kw))
    _assert_close(fast, _reference(scene, cam, **kw))


def test_sh3_rotations_and_points_behind(random_gaussians):
    scene = random_gaussians(120, seed=3, sh_degree=3, spread=1.5)
    cam = look_at([0.0, -1.0, 0.2], [0, 0, 0], width=40, height=30)
    rots = random_rotations(120, torch.Generator().manual_seed(1))
    fast = _render(scene, cam, "numba", sh_rotations=rots)
    _assert_close(fast, _render(scene, cam, "torch", sh_rotations=rots))
    _assert_close(fast, _reference(scene, cam, sh_rotations=rots))


def test_degenerate_offscreen_clamped_and_saturated():
    scene = _edge_scene()
    cam = look_at([0.0, -2.5, 0.0], [0, 0, 0], width=48, height=40)
    fast = _render(scene, cam, "numba")
    _assert_close(fast, _render(scene, cam, "torch"))
    _assert_close(fast, _reference(scene, cam))
    # Without the 0.3 px^2 low-pass, the degenerate ones have a singular 2D covariance: the tiled
    # renderers drop them (det <= 0), the dense reference does not check det, so only torch here.
    _assert_close(_render(scene, cam, "numba", eps2d=0.0), _render(scene, cam, "torch", eps2d=0.0))
    # 60 opaque layers: most of the frame saturates (transmittance below 1e-4 stops compositing).
    n = 60
    g = torch.Generator().manual_seed(2)
    stack = dict(means=torch.randn(n, 3, generator=g) * torch.tensor([0.3, 0.3, 0.3]), opacities=torch.full((n,), 0.95),
                 colors=torch.rand(n, 3, generator=g))
    stack["covars"] = torch.eye(3).expand(n, 3, 3) * 0.4**2
    fast = _render(stack, cam, "numba")
    assert float(fast.alpha.max()) > 1 - 2e-4
    _assert_close(fast, _render(stack, cam, "torch"))
    _assert_close(fast, _reference(stack, cam))


def _loss(backend, cam, weights, tile_size=4):
    def loss(means, quats, scales, opacities, colors):
        r = render_gaussians(means, opacities, colors, cam.viewmat, cam.K, cam.width, cam.height, quats=quats,
                             scales=scales, background=torch.full((3,), 0.3, dtype=means.dtype), tile_size=tile_size,
                             backend=backend)
        return (r.rgb * weights[0]).sum() + (r.alpha * weights[1]).sum() + 0.1 * (r.depth * weights[2]).sum()

    return loss


def _weights(cam, dtype):
    return [torch.rand(s, generator=torch.Generator().manual_seed(i), dtype=dtype)
            for i, s in enumerate([(3, cam.height, cam.width), (cam.height, cam.width), (cam.height, cam.width)])]


def test_gradients_match_finite_differences(random_gaussians):
    scene = random_gaussians(10, seed=5, dtype=torch.float64)
    cam = look_at([0.2, -2.0, 0.5], [0, 0, 0], width=14, height=11).to(dtype=torch.float64)
    inputs = tuple(scene[k].clone().requires_grad_() for k in ("means", "quats", "scales", "opacities", "colors"))
    assert torch.autograd.gradcheck(_loss("numba", cam, _weights(cam, torch.float64)), inputs, eps=1e-6, atol=1e-5,
                                    rtol=1e-4)


@pytest.mark.parametrize("dtype,tol", [(torch.float64, 1e-9), (torch.float32, 1e-5)])
def test_gradients_match_torch_backend(random_gaussians, dtype, tol):
    """Max |numba - torch| / max |torch| per input, on a scene with SH 3, points behind the camera
    and saturated pixels (float32: the backends sum in different orders)."""
    scene = random_gaussians(150, seed=11, dtype=dtype, sh_degree=3, spread=0.3)
    scene["means"][:5, 1] -= 2.5  # behind the camera
    scene["opacities"] = scene["opacities"].clamp_min(0.9)
    scene["scales"] = scene["scales"] * 3
    cam = look_at([0.2, -2.0, 0.5], [0, 0, 0], width=30, height=26).to(dtype=dtype)
    weights = _weights(cam, dtype)
    grads = {}
    for backend in ("numba", "torch"):
        inputs = tuple(scene[k].clone().requires_grad_() for k in ("means", "quats", "scales", "opacities", "colors"))
        _loss(backend, cam, weights, tile_size=8)(*inputs).backward()
        grads[backend] = [x.grad for x in inputs]
    alpha = render_gaussians(scene["means"], scene["opacities"], scene["colors"], cam.viewmat, cam.K, 30, 26,
                             quats=scene["quats"], scales=scene["scales"], backend="numba").alpha
    assert int((alpha > 1 - 1.01e-4).sum()) > 10  # pixels that stopped compositing at T < 1e-4
    for name, a, b in zip(("means", "quats", "scales", "opacities", "colors"), grads["numba"], grads["torch"]):
        err = float((a - b).abs().max() / b.abs().max())
        assert err < tol, f"d/d{name}: relative difference {err}"


def test_same_result_for_any_thread_count(random_gaussians):
    """The backward has no atomics (one gradient row per tile-Gaussian pair, summed in a fixed
    order), so 1 and 2 threads give bitwise the same images and gradients."""
    scene = random_gaussians(400, seed=4, spread=0.6)
    cam = look_at([0.3, -2.5, 0.8], [0, 0, 0], width=64, height=48)
    weights = _weights(cam, torch.float32)
    results = []
    before = torch.get_num_threads()
    try:
        for threads in (1, 2):
            torch.set_num_threads(threads)  # numba takes torch's thread count
            inputs = tuple(scene[k].clone().requires_grad_() for k in ("means", "quats", "scales", "opacities", "colors"))
            loss = _loss("numba", cam, weights, tile_size=8)(*inputs)
            loss.backward()
            results.append([loss.detach()] + [x.grad for x in inputs])
    finally:
        torch.set_num_threads(before)
    for a, b in zip(*results):
        assert torch.equal(a, b)


def test_default_cpu_backend_is_numba(random_gaussians, monkeypatch):
    calls = []
    compiled = numba_backend.rasterize_numba
    monkeypatch.setattr(numba_backend, "rasterize_numba", lambda *a, **kw: calls.append(1) or compiled(*a, **kw))
    scene = random_gaussians(50, seed=1)
    cam = look_at([0.3, -2.5, 0.8], [0, 0, 0], width=16, height=12)
    _render(scene, cam, None)
    assert calls
    _render(scene, cam, "torch")
    assert len(calls) == 1
