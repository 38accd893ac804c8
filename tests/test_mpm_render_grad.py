"""End to end, the path DreamPhysics learns through: simulate -> Sigma_t = F Sigma_0 F^T -> render -> image
loss, back-propagated to E and the initial velocity and held to finite differences of the same pipeline."""

import math

import pytest
import torch

from invgfx.mpm import MaterialParams, SceneConfig, Simulator, simulate
from invgfx.mpm.gaussians import polar_rotation
from invgfx.splat.camera import orbit_camera
from invgfx.splat.render import render_gaussians

SPACING = 1 / 30  # m: 6 x 6 x 6 = 216 particles in a 0.2 m cube on a 32^3 grid of 1 m
AX = torch.arange(0.4 + SPACING / 2, 0.6, SPACING)
X0 = torch.stack(torch.meshgrid(AX, AX, AX, indexing="ij"), -1).reshape(-1, 3)
N = len(X0)
SIM = Simulator(SceneConfig(n_grid=32, grid_lim=1.0, substep_dt=2e-4, E=2e4, nu=0.3, density=500.0), X0, SPACING**3)
GEN = torch.Generator().manual_seed(0)
COLORS = torch.rand(N, 3, generator=GEN)
SIGMA0 = torch.diag(torch.tensor([0.7, 0.5, 0.4]) * SPACING) ** 2  # anisotropic, so F's rotation shows
OPACITY = torch.full((N,), 0.8)
CAMERA = orbit_camera(math.radians(-60), math.radians(20), 0.55, (0.5, 0.5, 0.45), width=20, height=20)
STRETCH = 3.0 * (X0 - 0.5)  # m/s: the block is released expanding, so its shape over time depends on E


def frames(E, v0, n_frames=3, substeps=10):
    """Rendered (n_frames, 3, H, W) images of the block launched with velocity v0 (3,) m/s + STRETCH."""
    state = SIM.initial_state()
    state.v = STRETCH + v0
    params = MaterialParams(E.expand(N), torch.full((N,), 0.3), torch.full((N,), 500.0))
    images = []
    for _ in range(n_frames):
        state = simulate(SIM, state, params, substeps)
        F = state.F
        image = render_gaussians(state.x, OPACITY, COLORS, CAMERA.viewmat.float(), CAMERA.K.float(), CAMERA.width,
                                 CAMERA.height, covars=F @ SIGMA0 @ F.transpose(1, 2),
                                 sh_rotations=polar_rotation(F.detach()), background=torch.ones(3))
        images.append(image.rgb)
    return torch.stack(images)


def test_image_loss_gradients_reach_E_and_initial_velocity():
    with torch.no_grad():
        target = frames(torch.tensor(3e4), torch.tensor([0.0, 0.0, 0.3]))
    loss = lambda E, v0: ((frames(E, v0) - target) ** 2).sum()
    E = torch.tensor(2e4, requires_grad=True)
    v0 = torch.tensor([0.2, -0.1, 0.0], requires_grad=True)
    loss(E, v0).backward()
    direction = torch.tensor([0.3, 0.5, 0.8])  # a directional derivative checks all of v0's gradient at once
    with torch.no_grad():
        fd_E = (loss(E + 500, v0) - loss(E - 500, v0)).item() / 1000
        fd_v = (loss(E, v0 + 0.01 * direction) - loss(E, v0 - 0.01 * direction)).item() / 0.02
    assert abs(fd_E) > 0 and abs(fd_v) > 0
    assert E.grad.item() == pytest.approx(fd_E, rel=0.05)
    assert (v0.grad @ direction).item() == pytest.approx(fd_v, rel=0.05)
