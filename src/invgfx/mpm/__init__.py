"""Differentiable MPM (MLS-MPM/APIC in NVIDIA Warp) for Gaussian scenes, reading PhysGaussian configs.

    cfg = load_config("configs/mpm/ball_jelly.json")           # or our native YAML
    sim = Simulator(cfg, positions, volumes)                    # (N, 3) m, (N,) m^3
    state = sim.run(sim.initial_state(), sim.default_params(), cfg.substeps_per_frame)
    state = simulate(sim, state, params, n_substeps)            # torch autograd through the physics
    dt, n = stable_substep(E, nu, density, cfg.dx, cfg.frame_dt)  # a substep that follows E (CFL)
"""

from invgfx.mpm.autograd import simulate
from invgfx.mpm.config import SceneConfig, estimate_memory, from_native, from_physgaussian, load_config
from invgfx.mpm.errors import MPMError
from invgfx.mpm.materials import MATERIALS
from invgfx.mpm.solver import MaterialParams, ParticleState, Simulator
from invgfx.mpm.timestep import retime, stable_substep, wave_speed

__all__ = ["MATERIALS", "MPMError", "MaterialParams", "ParticleState", "SceneConfig", "Simulator",
           "estimate_memory", "from_native", "from_physgaussian", "load_config", "retime", "simulate", "stable_substep",
           "wave_speed"]
