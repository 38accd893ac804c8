"""The substep that follows E: wave speed, CFL substep, retiming, and the instability message."""

import math
import re
from dataclasses import replace

import pytest
import torch

from invgfx.mpm import MPMError, SceneConfig, Simulator, retime, stable_substep, wave_speed
from invgfx.mpm.config import ForcingBC
from test_mpm_solver import block


def test_wave_speed_is_the_p_wave_speed_of_the_stiffest_particle():
    E, nu, rho = 1e6, 0.3, 1000.0
    lam, mu = E * nu / ((1 + nu) * (1 - 2 * nu)), E / (2 * (1 + nu))
    assert wave_speed(E, nu, rho) == pytest.approx(math.sqrt((lam + 2 * mu) / rho), rel=1e-12)  # 36.7 m/s
    per_particle = wave_speed(torch.tensor([E, 100 * E]), torch.tensor([nu, nu]), torch.tensor([rho, 4 * rho]))
    assert per_particle == pytest.approx(5 * math.sqrt((lam + 2 * mu) / rho), rel=1e-6)  # sqrt(100 / 4)


def test_stable_substep_is_the_longest_cfl_substep_dividing_the_frame():
    c, dx, frame = wave_speed(2e5, 0.4, 200.0), 0.125, 0.04
    dt, n = stable_substep(2e5, 0.4, 200.0, dx, frame, cfl=0.4)
    assert dt * n == pytest.approx(frame) and dt <= 0.4 * dx / c < frame / (n - 1)
    assert stable_substep(2e5, 0.4, 200.0, dx, frame, cfl=0.4, max_substep=1e-4) == (pytest.approx(1e-4), 400)
    dt100, _ = stable_substep(2e7, 0.4, 200.0, dx, frame, cfl=0.4)
    assert dt100 == pytest.approx(dt / 10, rel=0.1)  # c grows as sqrt(E)


def test_retime_keeps_the_impulse_and_the_damping_per_second():
    kick = ForcingBC("impulse", (0.5, 0.5, 0.5), (0.2, 0.2, 0.2), vector=(3.0, 0.0, 0.0), start_time=0.0,
                     end_time=1.5e-3)  # 2 substeps of 1e-3 s
    cfg = SceneConfig(n_grid=16, grid_lim=1.0, E=1e4, substep_dt=1e-3, frame_dt=8e-3, gravity=(0.0, 0.0, 0.0),
                      grid_v_damping_scale=0.999, forcings=[kick])
    fine = retime(cfg, 2.5e-4)
    assert fine.grid_v_damping_scale**4 == pytest.approx(0.999) and fine.substeps_per_frame == 32
    x, vol = block((0.4, 0.4, 0.4), (0.6, 0.6, 0.6), 0.025)
    momenta = []
    for c in (replace(cfg, grid_v_damping_scale=1.0), replace(fine, grid_v_damping_scale=1.0)):
        sim = Simulator(c, x, vol)
        s = sim.run(sim.initial_state(), None, c.substeps_per_frame)
        momenta.append((c.density * sim.volumes[:, None] * s.v).sum(0))
    expected = 2 * 1e-3 * 3.0 * len(x)  # k substeps x dt0 x force per particle x particles, N s
    assert momenta[0][0].item() == pytest.approx(expected, rel=1e-3)
    assert momenta[1][0].item() == pytest.approx(expected, rel=1e-3)


def ringing_block(substep_dt):
    """A stiff block (E 1e8 Pa: c = 1.04 km/s, dx / c = 60 us) released with an initial stretch."""
    cfg = SceneConfig(n_grid=16, grid_lim=1.0, substep_dt=substep_dt, frame_dt=2e-3, E=1e8, gravity=(0.0, 0.0, 0.0))
    sim = Simulator(cfg, *block((0.4, 0.4, 0.4), (0.6, 0.6, 0.6), 0.025))
    s0 = sim.initial_state()
    s0.v = 0.5 * (s0.x - 0.5)
    return sim, s0


def test_stable_substep_runs_where_a_long_one_blows_up_with_a_message_naming_it():
    dt, n = stable_substep(1e8, 0.4, 200.0, 1 / 16, 2e-3)  # 2.4e-5 s
    sim, s0 = ringing_block(dt)
    s = sim.run(s0, None, 150)
    assert torch.isfinite(s.x).all() and s.v.abs().max() < 1.0  # rings, stays bounded
    sim, s0 = ringing_block(2.5 * dt)  # ~ dx / c
    with pytest.raises(MPMError) as err:
        sim.run(s0, None, 150)
    message = str(err.value)
    count = int(re.search(r"blew up by t = [\d.e-]+ s: (\d+) particle updates moved more than half a grid cell",
                          message).group(1))
    assert count > 0  # the count is read before the counters are reset
    assert f"c = sqrt((lam + 2 mu) / rho) = {wave_speed(1e8, 0.4, 200.0):.3g} m/s" in message
    assert f"Use substep_dt = {dt:.3g} s ({n} substeps per frame" in message
