"""What an MPM video can tell about the parameters: the demo scenes of recover_physics."""

import pytest
import torch

from invgfx.dreamphysics import ParameterSet, scalar
from invgfx.dreamphysics.physics import mpm_video
from invgfx.mpm import load_config
from invgfx.scenes import make_scene


@pytest.mark.parametrize("scene", ["ball", "plant"])
def test_gravity_alone_tells_E_over_density_and_a_force_tells_the_mass(scene):
    """rho a = div sigma(E) + rho g with velocity boundaries: (E, rho) and (2E, 2rho) give the
    same ball, bit for bit (the substep follows the wave speed sqrt(E / rho), the same too), so
    E and density cannot both be learnt from it. The plant's impulse is a force, whose kick
    F dt / m sees the mass: there they differ, and by more than half what doubling E alone does."""
    cfg = load_config(f"configs/dreamphysics/{scene}.json")
    video = mpm_video(make_scene(scene, seed=0, n_gaussians=150).cloud, cfg, width=32, height=32, grad_substeps=None)
    frames = torch.arange(6)

    def at(E, density):
        with torch.no_grad():
            return video(ParameterSet([scalar("E", E, 1.0, 1e9), scalar("density", density, 1e-3, 1e6)]), frames)

    base = at(cfg.E, cfg.density)
    scaled = (at(2 * cfg.E, 2 * cfg.density) - base).abs().mean()
    stiffer = (at(2 * cfg.E, cfg.density) - base).abs().mean()
    assert stiffer > 1e-5  # the video sees E
    if scene == "ball":
        assert scaled == 0
    else:
        assert scaled > 0.5 * stiffer
