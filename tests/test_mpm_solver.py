"""Physics of the MPM solver, with numbers: free fall, momentum, elastic sag, contact, robustness."""

import math

import pytest
import torch

from invgfx.mpm import MPMError, SceneConfig, Simulator
from invgfx.mpm.config import SurfaceColliderBC


def block(lo, hi, spacing):
    """Particles on a regular lattice filling the box [lo, hi] (3,), one per spacing^3 (m^3)."""
    axes = [torch.arange(a + spacing / 2, b, spacing) for a, b in zip(lo, hi)]
    x = torch.stack(torch.meshgrid(*axes, indexing="ij"), -1).reshape(-1, 3)
    return x, spacing**3


def total_momentum(sim, state, params):
    m = params.density * sim.volumes
    return (m[:, None] * state.v).sum(0)


def test_free_fall_follows_half_g_t_squared():
    cfg = SceneConfig(n_grid=24, grid_lim=1.0, substep_dt=5e-4, gravity=(0.0, 0.0, -9.8), bounding_box_padding=None)
    x, vol = block((0.4, 0.4, 0.6), (0.55, 0.55, 0.75), 0.02)
    sim = Simulator(cfg, x, vol)
    s0 = sim.initial_state()
    s = sim.run(s0, None, 400)  # t = 0.2 s
    drop = (s0.x[:, 2].mean() - s.x[:, 2].mean()).item()
    assert drop == pytest.approx(0.5 * 9.8 * 0.2**2, rel=0.02)
    assert s.x[:, :2].mean(0).tolist() == pytest.approx(s0.x[:, :2].mean(0).tolist(), abs=1e-5)


def test_momentum_conserved_without_gravity_and_walls():
    cfg = SceneConfig(n_grid=24, grid_lim=1.0, substep_dt=2e-4, E=2e4, gravity=(0.0, 0.0, 0.0),
                      bounding_box_padding=None)
    x, vol = block((0.4, 0.4, 0.4), (0.6, 0.6, 0.6), 0.02)
    sim = Simulator(cfg, x, vol)
    s0 = sim.initial_state()
    g = torch.Generator().manual_seed(0)
    s0.v = torch.tensor([0.3, -0.2, 0.1]) + 0.5 * torch.randn(sim.n, 3, generator=g)  # spinning, straining, drifting
    params = sim.default_params()
    p0 = total_momentum(sim, s0, params)
    s = sim.run(s0, params, 300)
    assert torch.allclose(total_momentum(sim, s, params), p0, atol=2e-4 * p0.norm().item())
    assert (s.F - torch.eye(3)).abs().max() > 1e-3  # it did deform


def settle_column(E, n_steps=2500):
    """A free-standing column (0.1 x 0.1 x 0.3 m, nu = 0) on a slip floor under gravity, damped to rest."""
    cfg = SceneConfig(n_grid=32, grid_lim=1.0, substep_dt=2e-4, E=E, nu=0.0, density=200.0,
                      grid_v_damping_scale=0.995, bounding_box_padding=None,
                      surface_colliders=[SurfaceColliderBC((0.5, 0.5, 0.2), (0.0, 0.0, 1.0), "slip")])
    x, vol = block((0.45, 0.45, 0.2), (0.55, 0.55, 0.5), 0.0125)
    sim = Simulator(cfg, x, vol)
    s0 = sim.initial_state()
    s = sim.run(s0, None, n_steps)
    height = lambda st: st.x[x[:, 2] > 0.49, 2].mean() - st.x[x[:, 2] < 0.21, 2].mean()
    return (height(s0) - height(s)).item(), s


def test_static_sag_matches_linear_elasticity_and_shrinks_with_E():
    rho, g, H = 200.0, 9.8, 0.3 - 0.0125  # lattice height between the top and bottom particle layers
    sag_soft, s = settle_column(2e4)
    sag_stiff, _ = settle_column(4e4)
    # uniaxial stress sigma(z) = rho g (H - z): the column shortens by rho g H^2 / (2 E)
    assert sag_soft == pytest.approx(rho * g * H**2 / (2 * 2e4), rel=0.15)
    assert sag_stiff == pytest.approx(sag_soft / 2, rel=0.15)
    assert s.v.abs().max() < 0.05  # at rest


@pytest.mark.parametrize("surface, expected", [("sticky", (-0.05, 0.15)), ("slip", (0.98, 1.01)),
                                               ("friction", (1 - 0.3 * 9.8 * 0.1 - 0.04, 1 - 0.3 * 9.8 * 0.1 + 0.04))])
def test_surface_collider_modes_differ(surface, expected):
    """A block sliding at 1 m/s on a floor for 0.1 s: sticky holds its bottom layer, slip keeps
    its speed, Coulomb friction mu = 0.3 slows it by mu g t = 0.29 m/s."""
    cfg = SceneConfig(n_grid=32, grid_lim=1.0, substep_dt=2e-4, E=5e4, nu=0.3, bounding_box_padding=None,
                      surface_colliders=[SurfaceColliderBC((0.5, 0.5, 0.2), (0.0, 0.0, 1.0), surface, 0.3)])
    x, vol = block((0.3, 0.45, 0.2), (0.4, 0.55, 0.3), 0.0125)
    sim = Simulator(cfg, x, vol)
    s = sim.run(sim.initial_state(velocity=(1.0, 0.0, 0.0)), None, 500)
    vx = s.v[x[:, 2] < 0.21, 0].mean().item()  # bottom layer
    assert expected[0] <= vx <= expected[1]
    assert s.x[:, 2].min() > 0.2 - 1.5 * cfg.dx  # nobody fell through


def test_particles_leaving_the_domain_are_held_and_counted():
    cfg = SceneConfig(n_grid=16, grid_lim=1.0, substep_dt=1e-3, gravity=(0.0, 0.0, 0.0), bounding_box_padding=None)
    x, vol = block((0.7, 0.45, 0.45), (0.8, 0.55, 0.55), 0.025)
    sim = Simulator(cfg, x, vol)
    with pytest.warns(RuntimeWarning, match=r"\d+ particles reached the edge") as record:
        s = sim.run(sim.initial_state(velocity=(8.0, 0.0, 0.0)), None, 100)
    assert sim.n_escaped >= sim.n // 4  # the leading layers hit the edge; the rest pile up behind them
    assert f"{sim.n_escaped} particles" in str(record[-1].message)
    assert torch.isfinite(s.x).all() and s.x.max() <= sim.grid.hi + 1e-6


def test_particles_outside_the_grid_are_refused_before_allocating():
    cfg = SceneConfig(n_grid=16, grid_lim=1.0)
    with pytest.raises(MPMError, match="must lie inside"):
        Simulator(cfg, torch.tensor([[0.5, 0.5, 1.5]]), 1e-6)
    with pytest.raises(MPMError, match="GiB"):
        Simulator(SceneConfig(n_grid=4000), torch.full((1, 3), 1.0), 1e-6)
