"""Differentiable MPM (MLS-MPM/APIC in NVIDIA Warp) for Gaussian scenes, reading PhysGaussian configs.

    cfg = load_config("configs/mpm/ball_jelly.json")           # or our native YAML
    sim = Simulator(cfg, positions, volumes)                    # (N, 3) m, (N,) m^3
    state = sim.run(sim.initial_state(), sim.default_params(), cfg.substeps_per_frame)
    state = simulate(sim, state, params, n_substeps)            # torch autograd through the physics
    dt, n = stable_substep(E, nu, density, cfg.dx, cfg.frame_dt)  # a substep that follows E (CFL)
"""

from invgfx import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "simulate": "autograd",
    "SceneConfig": "config",
    "estimate_memory": "config",
    "from_native": "config",
    "from_physgaussian": "config",
    "load_config": "config",
    "MPMError": "errors",
    "MATERIALS": "materials",
    "MaterialParams": "solver",
    "ParticleState": "solver",
    "Simulator": "solver",
    "retime": "timestep",
    "stable_substep": "timestep",
    "wave_speed": "timestep",
})

__all__ = ["MATERIALS", "MPMError", "MaterialParams", "ParticleState", "SceneConfig", "Simulator",
           "estimate_memory", "from_native", "from_physgaussian", "load_config", "retime", "simulate", "stable_substep",
           "wave_speed"]
