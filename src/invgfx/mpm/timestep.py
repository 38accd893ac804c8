"""A substep that follows the material: explicit MPM is stable while an elastic (P-)wave crosses
less than a grid cell per substep, dt <= CFL dx / c with c = sqrt((lam + 2 mu) / rho).

A fixed `substep_dt` that suits one E blows up at 100x that E (c grows as sqrt(E)); learning E
therefore picks the substep from the current parameters (`stable_substep`) and moves the
simulator to it (`Simulator.set_substep`, which uses `retime` so that per-substep quantities
keep their meaning per second).
"""

from __future__ import annotations

import math
from dataclasses import replace

import torch

from invgfx.mpm.config import SceneConfig
from invgfx.mpm.errors import MPMError

# Courant number: 0.4 dx / c is stable for every jelly scene we tried (the plant at 1e8 Pa blew up
# at 0.84 dx / c); the margin also covers particle speeds, which add to the wave speed.
CFL = 0.4


def wave_speed(E, nu, density) -> float:
    """Fastest P-wave speed in m/s over particles: c = sqrt((lam + 2 mu) / rho) with the Lame
    parameters lam = E nu / ((1 + nu)(1 - 2 nu)), mu = E / (2 (1 + nu)). E (Pa), nu, density
    (kg/m^3): floats or (N,) tensors (per-particle values, taken where c is largest)."""
    E, nu, rho = (torch.as_tensor(v, dtype=torch.float64).detach().cpu() for v in (E, nu, density))
    lam_2mu = E * (1 - nu) / ((1 + nu) * (1 - 2 * nu))  # = lam + 2 mu
    return float(torch.sqrt(lam_2mu / rho).max())


def stable_substep(E, nu, density, dx: float, frame_dt: float, cfl: float = CFL,
                   max_substep: float | None = None) -> tuple[float, int]:
    """(substep dt in s, substeps per frame n) with dt = frame_dt / n <= cfl dx / c and
    <= max_substep (e.g. the config's substep, kept where it is already stable); c: `wave_speed`
    of E (Pa), nu, density (kg/m^3), floats or (N,) tensors; dx: grid spacing in m."""
    if not 0 < cfl < 1:
        raise MPMError(f"cfl={cfl}: the Courant number must lie in (0, 1)")
    limit = cfl * dx / wave_speed(E, nu, density)
    if max_substep is not None:
        limit = min(limit, max_substep)
    n = max(1, math.ceil(frame_dt / limit * (1 - 1e-9)))  # (1 - 1e-9): an exact fit is not rounded up
    return frame_dt / n, n


def retime(config: SceneConfig, substep_dt: float) -> SceneConfig:
    """`config` with another substep and the same physics per second: grid damping
    (a factor per substep) becomes scale^(dt / dt0), and a `particle_impulse` of k substeps keeps
    its k substeps and its total impulse (force scaled by dt0 / dt)."""
    ratio = substep_dt / config.substep_dt
    forcings = []
    for f in config.forcings:
        if f.kind == "impulse":
            k = round((f.end_time - f.start_time) / config.substep_dt + 0.5)  # end = start + (k - 0.5) dt0
            f = replace(f, vector=tuple(v / ratio for v in f.vector), end_time=f.start_time + (k - 0.5) * substep_dt)
        forcings.append(f)
    return replace(config, substep_dt=substep_dt, grid_v_damping_scale=config.grid_damping**ratio,
                   forcings=forcings)
