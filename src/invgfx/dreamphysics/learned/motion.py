"""Motion statistics of a simulated scenario, to check what the paper claims qualitatively:
too low an E deforms (squashes, droops) too much, too high an E barely moves.

- ball, box, chair: peak compression, 1 - min_t h(t) / h(0), h the height of the particles
  (5th to 95th percentile of z, robust to stray particles);
- plant, cable: sway amplitude, the largest displacement (m) of the centroid of the top 20 %
  (plant) / middle third (cable) of the particles from where it started.
"""

from __future__ import annotations

import torch


def trajectory(cloud, config, E: float, frames: int) -> list[torch.Tensor]:
    """Particle positions (M, 3) m at frames 0..frames-1 of `config` simulated with E (Pa), with
    the stable substep for E (as learn-physics runs it)."""
    from invgfx.mpm import Simulator, stable_substep
    from invgfx.mpm.gaussians import prepare_particles

    p = prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, config)
    sim = Simulator(config, p.positions, p.volumes)
    params = sim.default_params()
    params.E.fill_(E)
    dt, n = stable_substep(params.E, params.nu, params.density, config.dx, config.frame_dt, max_substep=config.substep_dt)
    if dt != config.substep_dt:
        sim.set_substep(dt)
    state, xs = sim.initial_state(), []
    for f in range(frames):
        if f:
            state = sim.run(state, params, n)
        xs.append(state.x.detach().cpu().clone())
    return xs


def peak_compression(xs: list[torch.Tensor]) -> float:
    """1 - min_t h(t) / h(0) for positions xs[t] (M, 3); h: 5th-95th percentile range of z."""
    def height(x):
        q = torch.quantile(x[:, 2], torch.tensor([0.05, 0.95]))
        return float(q[1] - q[0])

    h0 = height(xs[0])
    return 1.0 - min(height(x) for x in xs) / h0


def sway_amplitude(xs: list[torch.Tensor], region: str = "top") -> float:
    """Largest horizontal displacement (m) of the centroid of the top 20 % ('top') or the middle
    third along x ('middle') of the particles, chosen at frame 0."""
    x0 = xs[0]
    if region == "top":
        pick = x0[:, 2] >= torch.quantile(x0[:, 2], 0.8)
    else:
        lo, hi = torch.quantile(x0[:, 0], torch.tensor([1 / 3, 2 / 3]))
        pick = (x0[:, 0] >= lo) & (x0[:, 0] <= hi)
    c0 = x0[pick].mean(0)
    if region == "top":
        return max(float((x[pick].mean(0) - c0)[:2].norm()) for x in xs)
    return max(float((x[pick].mean(0) - c0).norm()) for x in xs)


STATISTIC = {"ball": ("peak compression", peak_compression), "box": ("peak compression", peak_compression),
             "chair": ("peak compression", peak_compression),
             "plant": ("sway amplitude (m)", lambda xs: sway_amplitude(xs, "top")),
             "cable": ("sway amplitude (m)", lambda xs: sway_amplitude(xs, "middle"))}


def motion_statistic(name: str, cloud, config, E: float, frames: int = 16) -> tuple[str, float]:
    """(what, value) of class `name`'s statistic for the scenario simulated with E (Pa)."""
    what, fn = STATISTIC[name]
    return what, fn(trajectory(cloud, config, E, frames))
