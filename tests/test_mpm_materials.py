"""Constitutive models: rest state, return mappings on the yield surface, material behaviour."""

import math

import numpy as np
import pytest
import torch
import warp as wp

from invgfx.mpm import MATERIALS, SceneConfig, Simulator
from invgfx.mpm.config import SurfaceColliderBC
from invgfx.mpm.materials import PlasticityParams, drucker_prager_alpha, kirchhoff_stress, lame, return_mapping

E, NU = 1e5, 0.3


@wp.kernel
def evaluate(F: wp.array(dtype=wp.mat33), plastic: wp.array(dtype=float), material: int, pp: PlasticityParams,
             F_out: wp.array(dtype=wp.mat33), plastic_out: wp.array(dtype=float), tau: wp.array(dtype=wp.mat33)):
    """Return mapping, then the stress of the projected F."""
    p = wp.tid()
    mu, lam = lame(E, NU)
    Fe, pl = return_mapping(material, F[p], plastic[p], mu, lam, pp)
    F_out[p] = Fe
    plastic_out[p] = pl
    tau[p] = kirchhoff_stress(material, Fe, pl, mu, lam, pp)


def params(**kw):
    pp = PlasticityParams()
    values = dict(yield_stress=2e3, hardening=0.0, softening=0.0, plastic_viscosity=0.0,
                  friction_alpha=drucker_prager_alpha(30.0), xi=10.0, critical_compression=2.5e-2,
                  critical_stretch=7.5e-3, dt=1e-4)
    values.update(kw)
    for k, v in values.items():
        setattr(pp, k, v)
    return pp


def run(material, F, plastic=None, **kw):
    F = np.asarray(F, dtype=np.float32).reshape(-1, 3, 3)
    n = len(F)
    plastic = np.zeros(n, np.float32) if plastic is None else np.asarray(plastic, np.float32)
    outs = [wp.zeros(n, dtype=wp.mat33), wp.zeros(n, dtype=float), wp.zeros(n, dtype=wp.mat33)]
    wp.launch(evaluate, n, inputs=[wp.array(F, dtype=wp.mat33), wp.array(plastic, dtype=float), MATERIALS[material],
                                   params(**kw)], outputs=outs)
    return [o.numpy() for o in outs]


@pytest.mark.parametrize("material", sorted(MATERIALS))
def test_zero_stress_at_rest(material):
    plastic = 1.0 if material == "snow" else 0.0  # J_p starts at 1
    F, pl, tau = run(material, np.eye(3), [plastic])
    assert np.abs(tau).max() < 1e-5 * E  # float32 rounding of the SVD
    assert np.allclose(F[0], np.eye(3), atol=1e-6) and pl[0] == pytest.approx(plastic)


def shear(gamma):
    return np.array([[1.0, gamma, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]])


def dev_norm(tau):
    return np.linalg.norm(tau - np.trace(tau) / 3 * np.eye(3))


def test_elastic_stress_matches_linear_elasticity_for_small_strain():
    eps = 1e-3
    for material in ("jelly", "neo_hookean", "metal"):
        _, _, tau = run(material, np.diag([1 + eps, 1, 1]))
        mu, lam = E / (2 * (1 + NU)), E * NU / ((1 + NU) * (1 - 2 * NU))
        assert tau[0][0, 0] == pytest.approx((2 * mu + lam) * eps, rel=5e-3), material
        assert tau[0][1, 1] == pytest.approx(lam * eps, rel=5e-3), material


@pytest.mark.parametrize("material, surface", [("metal", 2e3), ("foam", math.sqrt(2 / 3) * 2e3)])
def test_von_mises_return_lands_on_the_yield_surface(material, surface):
    F, pl, tau = run(material, shear(0.5), plastic_viscosity=0.0)
    assert dev_norm(tau[0]) == pytest.approx(surface, rel=1e-3)  # foam: PhysGaussian's sqrt(2/3) yield_stress
    assert pl[0] > 0
    assert abs(np.linalg.det(F[0]) - 1.0) < 1e-4  # plastic flow is isochoric
    _, _, tau_small = run(material, shear(1e-3))  # inside the surface: untouched
    assert dev_norm(tau_small[0]) < surface


def hencky_dev_norm(F, mu):
    s = np.linalg.svd(F, compute_uv=False)
    eps = np.log(s)
    return 2 * mu * np.linalg.norm(eps - eps.mean())


def test_hardening_softening_damage_and_viscosity_follow_physgaussian():
    mu = E / (2 * (1 + NU))
    _, pl, _ = run("metal", shear(0.5))
    _, _, hard = run("metal", shear(0.5), plastic=pl, hardening=1.0, xi=0.05)  # 1: on, with coefficient xi
    _, _, off = run("metal", shear(0.5), plastic=pl, hardening=2.0, xi=0.05)  # anything else: off
    assert dev_norm(hard[0]) == pytest.approx(2e3 + 2 * mu * 0.05 * pl[0], rel=1e-3)
    assert dev_norm(off[0]) == pytest.approx(2e3, rel=1e-3)
    # plasticine: the return works on Hencky strain, the stress is fixed corotated (PhysGaussian's pairing)
    Fp, _, soft = run("plasticine", shear(0.5), plastic=pl, softening=1e3)  # Pa lost per unit plastic strain
    assert hencky_dev_norm(Fp[0], mu) == pytest.approx(2e3 - 1e3 * pl[0], rel=1e-3)
    assert np.abs(soft[0]).max() > 0
    Fd, pl_d, damaged = run("plasticine", shear(0.5), plastic=pl, softening=2e3 / pl[0] * 1.01)  # yield below zero
    assert np.abs(damaged[0]).max() == 0 and pl_d[0] == pl[0] and np.allclose(Fd[0], shear(0.5), atol=1e-6)
    _, _, visc = run("foam", shear(0.5), plastic_viscosity=1e4)
    assert dev_norm(visc[0]) > 2e3 * 1.5  # viscoplastic: only part of the excess relaxes in one substep


def test_drucker_prager_sand_is_on_its_cone_and_free_in_tension():
    _, _, tau_t = run("sand", np.diag([1.1, 1.05, 1.0]))
    assert np.abs(tau_t).max() < 1e-5 * E  # cohesionless: no tension (float32 rounding aside)
    F, _, tau = run("sand", np.diag([0.9, 0.95, 1.0]) @ shear(0.3))
    mu, lam = E / (2 * (1 + NU)), E * NU / ((1 + NU) * (1 - 2 * NU))
    s = np.linalg.svd(F[0], compute_uv=False)
    eps = np.log(s)
    yield_fn = np.linalg.norm(eps - eps.mean()) + (3 * lam + 2 * mu) / (2 * mu) * eps.sum() * drucker_prager_alpha(30.0)
    assert abs(yield_fn) < 1e-4
    assert np.trace(tau[0]) < 0  # compressive


def test_snow_clamps_stretch_and_hardens_under_compression():
    F, Jp, _ = run("snow", np.diag([1.2, 1.0, 1.0]), [1.0])
    s = np.linalg.svd(F[0], compute_uv=False)
    assert s.max() == pytest.approx(1 + 7.5e-3, rel=1e-5)  # fractured: stretch beyond theta_s is plastic
    assert Jp[0] * np.linalg.det(F[0]) == pytest.approx(1.2, rel=1e-5)  # J = J_e J_p is kept
    F, Jp, tau = run("snow", np.diag([0.9, 0.9, 0.9]), [1.0])
    assert Jp[0] < 1  # compacted
    _, _, tau_fresh = run("snow", F, [1.0])
    assert np.abs(tau[0]).max() > math.exp(10 * (1 - Jp[0])) * 0.99 * np.abs(tau_fresh[0]).max()  # harder


def drop(material, E=2e4, n_steps=1500, **kw):
    """A 0.1 m cube dropped from 0.1 m onto a frictional floor; returns (states over time, simulator)."""
    cfg = SceneConfig(material=material, n_grid=32, grid_lim=1.0, substep_dt=2e-4, E=E, nu=0.3, density=500.0,
                      friction_angle=35.0, surface_colliders=[SurfaceColliderBC((0.5, 0.5, 0.2), (0, 0, 1.0), "friction", 0.5)],
                      **kw)
    ax = torch.arange(0.45 + 0.00625, 0.55, 0.0125)
    x = torch.stack(torch.meshgrid(ax, ax, ax - 0.15, indexing="ij"), -1).reshape(-1, 3)  # bottom at z = 0.3
    sim = Simulator(cfg, x, 0.0125**3)
    states = [sim.initial_state()]
    for _ in range(n_steps // 100):
        states.append(sim.run(states[-1], None, 100))
    return states, sim


def test_jelly_bounces_sand_piles():
    jelly, _ = drop("jelly")
    sand, _ = drop("sand")
    vz = lambda states: [s.v[:, 2].mean().item() for s in states]
    assert max(vz(jelly)[5:]) > 0.3  # rebounds after the impact at ~0.14 s
    assert max(vz(sand)[5:]) < 0.05  # no rebound
    spread = lambda s: (s.x[:, 0].max() - s.x[:, 0].min()).item()
    assert spread(sand[-1]) > 1.5 * spread(sand[0])  # it flows out into a pile
    assert sand[-1].x[:, 2].max() < 0.2 + 0.07


def test_stiffer_jelly_compresses_less():
    def peak_compression(E):
        states, _ = drop("jelly", E=E, n_steps=1000)
        height = lambda s: (s.x[:, 2].max() - s.x[:, 2].min()).item()
        return height(states[0]) - min(height(s) for s in states)

    soft, stiff = peak_compression(1e4), peak_compression(4e4)
    assert stiff < 0.7 * soft


@wp.kernel
def response(F: wp.array(dtype=wp.mat33), plastic: wp.array(dtype=float), material: int, pp: PlasticityParams,
             W: wp.array(dtype=wp.mat33), out: wp.array(dtype=float)):
    """A scalar of the return mapping and the stress of its result: <W, F_e> + <W, tau> / E + plastic."""
    p = wp.tid()
    mu, lam = lame(E, NU)
    Fe, pl = return_mapping(material, F[p], plastic[p], mu, lam, pp)
    tau = kirchhoff_stress(material, Fe, pl, mu, lam, pp)
    out[p] = wp.ddot(W[p], Fe) + wp.ddot(W[p], tau) / E + pl


def response_and_gradient(material, F, plastic):
    F = wp.array(np.asarray(F, np.float32), dtype=wp.mat33, requires_grad=True)
    W = wp.array(np.random.default_rng(1).normal(size=(F.shape[0], 3, 3)).astype(np.float32), dtype=wp.mat33)
    out = wp.zeros(F.shape[0], dtype=float, requires_grad=True)
    args = [wp.array(np.asarray(plastic, np.float32), dtype=float), MATERIALS[material], params(plastic_viscosity=1.0)]
    tape = wp.Tape()
    with tape:
        wp.launch(response, F.shape[0], inputs=[F, *args, W], outputs=[out])
    tape.backward(grads={out: wp.ones_like(out)})
    return lambda G: (wp.launch(response, G.shape[0], inputs=[wp.array(G, dtype=wp.mat33), *args, W], outputs=[out])
                      or out.numpy().astype(np.float64)), F.grad.numpy()


def rotation(seed):
    q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    return q * np.sign(np.linalg.det(q))


# Singular values: distinct; two equal (up to float32); all equal (F = I, the rest state where
# Warp's SVD adjoint divides by zero); per material chosen to be past its yield surface.
SPECTRA = {
    "metal": [(1.06, 0.99, 0.95), (1.05, 1.05, 0.93), (1.0, 1.0, 1.0)],
    "plasticine": [(1.06, 0.99, 0.95), (1.05, 1.05, 0.93), (1.0, 1.0, 1.0)],
    "foam": [(1.06, 0.99, 0.95), (1.05, 1.05, 0.93), (1.0, 1.0, 1.0)],
    "sand": [(0.97, 0.9, 0.86), (0.95, 0.88, 0.88), (1.06, 1.02, 0.99)],  # on the cone, on it, in tension
    "snow": [(1.02, 0.995, 0.96), (1.003, 1.003, 0.96), (1.0, 1.0, 1.0)],  # stretched/compressed past the clamp, inside
}


@pytest.mark.parametrize("material", sorted(SPECTRA))
def test_plastic_gradients_are_finite_and_match_finite_differences(material):
    F = np.stack([rotation(i) @ np.diag(s) @ rotation(10 + i) for i, s in enumerate(SPECTRA[material])])
    F[-1] = np.diag(SPECTRA[material][-1])  # exactly diagonal: exactly repeated singular values
    plastic = np.full(len(F), 1.0 if material == "snow" else 0.1)
    f, grad = response_and_gradient(material, F, plastic)
    assert np.isfinite(grad).all()
    h = 1e-3
    fd = np.zeros_like(grad)
    for a in range(3):
        for b in range(3):
            dF = np.zeros((3, 3))
            dF[a, b] = h
            fd[:, a, b] = (f(F + dF) - f(F - dF)) / (2 * h)
    error = np.abs(grad - fd).max(axis=(1, 2)) / np.abs(fd).max(axis=(1, 2))
    assert (error < 0.01).all(), error
