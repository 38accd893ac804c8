"""Gradients through the simulation match finite differences; windows chain and truncate exactly."""

import pytest
import torch

from invgfx.mpm import MaterialParams, SceneConfig, Simulator, simulate
from invgfx.mpm.config import CuboidBC, ForcingBC
from invgfx.mpm.materials import drucker_prager_alpha


def make_sim(**kw):
    cfg = SceneConfig(n_grid=16, grid_lim=1.0, substep_dt=2e-4, E=2e4, nu=0.3, density=500.0, **kw)
    ax = torch.arange(0.4 + 1 / 60, 0.6, 1 / 30)
    x = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
    return Simulator(cfg, x, (1 / 30) ** 3)


SIM = make_sim()
W = torch.randn(SIM.n, 3, generator=torch.Generator().manual_seed(0))


def loss(E, nu, rho, stretch, n=30, **kw):
    """Weighted final positions after n substeps of a block released with a stretching velocity."""
    s = SIM.initial_state()
    s.v = stretch * (s.x - 0.5)
    out = simulate(SIM, s, MaterialParams(E.expand(SIM.n), nu.expand(SIM.n), rho.expand(SIM.n)), n, **kw)
    return (out.x * W).sum() + 0.1 * (out.F.diagonal(dim1=1, dim2=2) * W).sum()


def test_gradients_match_finite_differences():
    values = {"E": 2e4, "nu": 0.3, "rho": 500.0, "stretch": 3.0}
    steps = {"E": 400.0, "nu": 0.01, "rho": 10.0, "stretch": 0.05}
    p = {k: torch.tensor(v, requires_grad=True) for k, v in values.items()}
    loss(**p).backward()
    for name, h in steps.items():
        with torch.no_grad():
            up = loss(**{k: (t + h if k == name else t) for k, t in p.items()})
            down = loss(**{k: (t - h if k == name else t) for k, t in p.items()})
        fd = (up - down).item() / (2 * h)
        assert p[name].grad.item() == pytest.approx(fd, rel=0.08), name
        assert abs(fd) > 0  # the loss does depend on it


def test_per_particle_field_gradient_sums_to_the_scalar_gradient():
    E = torch.full((SIM.n,), 2e4, requires_grad=True)
    E_scalar = torch.tensor(2e4, requires_grad=True)
    args = dict(nu=torch.tensor(0.3), rho=torch.tensor(500.0), stretch=torch.tensor(3.0))
    loss(E, **args).backward()
    loss(E_scalar, **args).backward()
    assert E.grad.abs().max() > 0
    assert E.grad.sum().item() == pytest.approx(E_scalar.grad.item(), rel=1e-4)


def test_windows_chain_like_one_window_and_truncation_is_exact():
    params = SIM.default_params()
    params.E.requires_grad_(True)
    s0 = SIM.initial_state()
    s0.v = 3.0 * (s0.x - 0.5)
    s0.v.requires_grad_(True)

    def grads(states_fn):
        params.E.grad = None
        s0.v.grad = None
        out = states_fn()
        (out.x * W).sum().backward()
        return params.E.grad.clone(), None if s0.v.grad is None else s0.v.grad.clone()

    g_one, v_one = grads(lambda: simulate(SIM, s0, params, 20))
    g_two, v_two = grads(lambda: simulate(SIM, simulate(SIM, s0, params, 10), params, 10))
    assert torch.allclose(g_one, g_two, rtol=1e-4, atol=1e-6 * g_one.abs().max().item())
    assert torch.allclose(v_one, v_two, rtol=1e-4, atol=1e-6 * v_one.abs().max().item())
    # truncated: the last 5 substeps only == a 5-substep window from a detached state
    g_trunc, v_trunc = grads(lambda: simulate(SIM, s0, params, 20, grad_substeps=5))
    mid = SIM.run(s0.detach(), params, 15)
    g_ref, _ = grads(lambda: simulate(SIM, mid, params, 5))
    assert v_trunc is None
    assert torch.allclose(g_trunc, g_ref, rtol=1e-4, atol=1e-6 * g_ref.abs().max().item())
    assert (g_trunc - g_one).norm() > 0.1 * g_one.norm()  # truncation does change the gradient


def test_gradients_through_boundaries_and_forcing():
    sim = make_sim(cuboids=[CuboidBC((0.5, 0.5, 0.4), (0.2, 0.2, 0.03))],
                   forcings=[ForcingBC("impulse", (0.5, 0.5, 0.55), (0.1, 0.1, 0.06), (0.0, 0.0, 2e-3),
                                       start_time=0.0, end_time=1e-3)])
    params = sim.default_params()
    E = torch.tensor(2e4, requires_grad=True)
    run = lambda E: (simulate(sim, sim.initial_state(), MaterialParams(E.expand(sim.n), params.nu, params.density),
                              30).x[:, 2]).sum()
    run(E).backward()
    with torch.no_grad():
        fd = (run(E + 400) - run(E - 400)).item() / 800
    assert E.grad.item() == pytest.approx(fd, rel=0.1)
    assert abs(fd) > 0


def drucker_prager_yield(F, nu=0.3, friction_angle=30.0):
    """(N,) Drucker-Prager yield function of elastic F (0 on the cone, < 0 inside) and tr(log strain)."""
    eps = torch.linalg.svdvals(F).clamp_min(1e-6).log()
    tr = eps.sum(1)
    lam_over_mu = 2 * nu / (1 - 2 * nu)
    return (eps - eps.mean(1, keepdim=True)).norm(dim=1) + (1.5 * lam_over_mu + 1) * tr * drucker_prager_alpha(friction_angle), tr


@pytest.mark.parametrize("material, constants, rate", [
    ("metal", dict(yield_stress=100.0), [[-1.0, 6.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, -1.0]]),
    ("sand", dict(friction_angle=30.0), [[-3.0, 15.0, 0.0], [0.0, -3.0, 0.0], [0.0, 0.0, -3.0]]),
])
def test_plastic_gradients_match_finite_differences(material, constants, rate):
    """From rest (F = I: repeated singular values) into plastic flow under compression + shear
    (`rate`, 1/s); gradients of E and of the initial velocity's scale."""
    sim = make_sim(material=material, **constants)
    params = sim.default_params()

    def run(E, speed):
        s = sim.initial_state()
        s.v = speed * (s.x - 0.5) @ torch.tensor(rate).T
        out = simulate(sim, s, MaterialParams(E.expand(sim.n), params.nu, params.density), 20)
        # displacements and strains, not positions: float32 rounding of the sum stays below the E effect
        return ((out.x - sim.x0) * W).sum() + ((out.F - torch.eye(3)).reshape(-1, 9)[:, :3] * W).sum(), out

    p = {"E": torch.tensor(2e4, requires_grad=True), "speed": torch.tensor(1.0, requires_grad=True)}
    value, out = run(**p)
    value.backward()
    if material == "metal":
        assert (out.plastic > 0).float().mean() > 0.5  # most particles flowed plastically
    else:
        f, tr = drucker_prager_yield(out.F)
        assert ((f.abs() < 1e-4) & (tr < 0)).float().mean() > 0.5  # most particles sit on the cone
    for name, h in {"E": 1000.0, "speed": 0.01}.items():
        with torch.no_grad():
            up, _ = run(**{k: (t + h if k == name else t) for k, t in p.items()})
            down, _ = run(**{k: (t - h if k == name else t) for k, t in p.items()})
        fd = (up - down).item() / (2 * h)
        assert torch.isfinite(p[name].grad)
        assert p[name].grad.item() == pytest.approx(fd, rel=0.05), name
        assert abs(fd) > 0


@pytest.mark.parametrize("grad_substeps", [None, 4])
def test_kept_states_and_a_resimulated_window_give_the_same_gradients(monkeypatch, grad_substeps):
    """The forward pass keeps the states entering the differentiated substeps where they fit;
    a window too large for KEEP_BYTES simulates them again in the backward pass. Same numbers."""
    from invgfx.mpm import autograd

    p = {k: torch.tensor(v, requires_grad=True) for k, v in {"E": 2e4, "nu": 0.3, "rho": 500.0, "stretch": 3.0}.items()}
    material = ("E", "nu", "rho")  # (the stretch of the input state has no gradient when truncated)
    loss(**p, n=12, grad_substeps=grad_substeps).backward()
    kept = [p[k].grad.clone() for k in material]
    monkeypatch.setattr(autograd, "KEEP_BYTES", -1)
    for t in p.values():
        t.grad = None
    loss(**p, n=12, grad_substeps=grad_substeps).backward()
    assert all(torch.equal(a, p[k].grad) for a, k in zip(kept, material))
    assert all(float(a.abs()) > 0 for a in kept)
