"""Constitutive models: Kirchhoff stress tau(F) and plastic return mappings, as Warp functions.

Each model reads like its paper. F is the elastic deformation gradient, mu and lam the Lame
parameters (Pa), `plastic` one scalar of plastic state per particle (accumulated plastic
strain for metal / foam / plasticine, the plastic volume ratio J_p for snow, unused otherwise).
Stresses are Kirchhoff stresses tau = J sigma (Pa); the solver multiplies by the rest volume.

Material ids 0-5 follow PhysGaussian's numbering so that their configs map one to one.
"""

from __future__ import annotations

import math

import warp as wp

JELLY, METAL, SAND, FOAM, SNOW, PLASTICINE, FLUID, NEO_HOOKEAN = 0, 1, 2, 3, 4, 5, 6, 7

MATERIALS = {
    "jelly": JELLY,  # fixed-corotated elasticity (Stomakhin et al. 2012)
    "metal": METAL,  # von Mises plasticity on Hencky strain, linear hardening
    "sand": SAND,  # Drucker-Prager plasticity on Hencky strain (Klar et al. 2016)
    "foam": FOAM,  # viscoplastic von Mises (Perzyna)
    "snow": SNOW,  # Stomakhin et al. 2013: clamped singular values + exponential hardening
    "plasticine": PLASTICINE,  # von Mises with softening
    "fluid": FLUID,  # weakly compressible Tait fluid
    "neo_hookean": NEO_HOOKEAN,  # compressible neo-Hookean elasticity
}

TAIT_GAMMA = 7.0


@wp.struct
class PlasticityParams:
    """Material constants shared by all particles (SI units).

    yield_stress:         Pa, bound on the Frobenius norm of the deviatoric Kirchhoff stress.
    hardening:            metal: yield stress grows as yield_stress * (1 + hardening * plastic strain).
    softening:            plasticine: yield stress falls as yield_stress / (1 + softening * plastic strain).
    plastic_viscosity:    foam: Pa s, Perzyna viscosity eta.
    friction_alpha:       sand: Drucker-Prager alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)).
    xi:                   snow: hardening coefficient, mu, lam scale by exp(xi (1 - J_p)).
    critical_compression: snow: theta_c, singular values clamped to >= 1 - theta_c.
    critical_stretch:     snow: theta_s, singular values clamped to <= 1 + theta_s.
    dt:                   s, substep (the viscoplastic update needs it).
    """

    yield_stress: float
    hardening: float
    softening: float
    plastic_viscosity: float
    friction_alpha: float
    xi: float
    critical_compression: float
    critical_stretch: float
    dt: float


def drucker_prager_alpha(friction_angle_degrees: float) -> float:
    s = math.sin(math.radians(friction_angle_degrees))
    return math.sqrt(2.0 / 3.0) * 2.0 * s / (3.0 - s)


@wp.func
def lame(E: float, nu: float):
    """Young's modulus E (Pa), Poisson ratio nu -> (mu, lam) in Pa."""
    mu = E / (2.0 * (1.0 + nu))
    lam = E * nu / ((1.0 + nu) * (1.0 - 2.0 * nu))
    return mu, lam


# ---- polar decomposition with a stable gradient ---------------------------------------------
@wp.func
def polar_rotation(F: wp.mat33):
    """Rotation R of F = R S (S symmetric), from the SVD F = U Sigma V^T: R = U V^T."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    return U @ wp.transpose(V)


@wp.func_grad(polar_rotation)
def adj_polar_rotation(F: wp.mat33, adj_ret: wp.mat33):
    # dL/dF = U [(Y - Y^T)_ij / (s_i + s_j)] V^T with Y = U^T (dL/dR) V: finite for repeated
    # singular values (F = I included), unlike differentiating U and V separately.
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    Y = wp.transpose(U) @ adj_ret @ V
    D = wp.mat33()
    for i in range(3):
        for j in range(3):
            D[i, j] = (Y[i, j] - Y[j, i]) / wp.max(s[i] + s[j], 1.0e-6)
    wp.adjoint[F] += U @ D @ wp.transpose(V)


# ---- elastic Kirchhoff stresses -------------------------------------------------------------
@wp.func
def fixed_corotated(F: wp.mat33, mu: float, lam: float):
    """tau = 2 mu (F - R) F^T + lam (J - 1) J I."""
    R = polar_rotation(F)
    J = wp.determinant(F)
    return 2.0 * mu * (F - R) @ wp.transpose(F) + wp.identity(n=3, dtype=float) * (lam * (J - 1.0) * J)


@wp.func
def neo_hookean(F: wp.mat33, mu: float, lam: float):
    """tau = mu (F F^T - I) + lam log(J) I."""
    J = wp.determinant(F)
    I = wp.identity(n=3, dtype=float)
    return mu * (F @ wp.transpose(F) - I) + I * (lam * wp.log(wp.max(J, 1.0e-6)))


@wp.func
def hencky(F: wp.mat33, mu: float, lam: float):
    """St. Venant-Kirchhoff on Hencky strain: tau = U (2 mu eps + lam tr(eps) I) U^T, eps = log Sigma."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    eps = wp.vec3(wp.log(wp.max(s[0], 1.0e-6)), wp.log(wp.max(s[1], 1.0e-6)), wp.log(wp.max(s[2], 1.0e-6)))
    t = 2.0 * mu * eps + wp.vec3(lam * (eps[0] + eps[1] + eps[2]))
    return U @ wp.diag(t) @ wp.transpose(U)


@wp.func
def tait_pressure(F: wp.mat33, mu: float, lam: float):
    """Weakly compressible fluid: p = K / gamma (J^-gamma - 1), K = lam + 2 mu / 3; tau = -J p I."""
    J = wp.max(wp.determinant(F), 1.0e-6)
    K = lam + 2.0 * mu / 3.0
    p = K / TAIT_GAMMA * (wp.pow(J, -TAIT_GAMMA) - 1.0)
    return wp.identity(n=3, dtype=float) * (-J * p)


@wp.func
def kirchhoff_stress(material: int, F: wp.mat33, plastic: float, mu: float, lam: float, pp: PlasticityParams):
    """tau (3, 3) in Pa for particle material id `material`."""
    if material == NEO_HOOKEAN:
        return neo_hookean(F, mu, lam)
    if material == FLUID:
        return tait_pressure(F, mu, lam)
    if material == SNOW:
        h = wp.exp(pp.xi * (1.0 - plastic))
        return fixed_corotated(F, mu * h, lam * h)
    if material == JELLY:
        return fixed_corotated(F, mu, lam)
    return hencky(F, mu, lam)


# ---- plastic return mappings: trial F -> (elastic F, plastic state) ---------------------------
@wp.func
def von_mises_return(F: wp.mat33, plastic: float, mu: float, yield_stress: float, damping: float):
    """Project the Hencky strain onto ||2 mu dev(eps)|| <= yield_stress; `damping` in (0, 1]
    scales the plastic step (1: perfect plasticity, < 1: viscoplastic). Returns (F_e, plastic)."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    eps = wp.vec3(wp.log(wp.max(s[0], 1.0e-6)), wp.log(wp.max(s[1], 1.0e-6)), wp.log(wp.max(s[2], 1.0e-6)))
    dev = eps - wp.vec3((eps[0] + eps[1] + eps[2]) / 3.0)
    dev_norm = wp.length(dev)
    dgamma = dev_norm - yield_stress / (2.0 * mu)
    if dgamma <= 0.0:
        return F, plastic
    dgamma = dgamma * damping
    eps = eps - (dgamma / dev_norm) * dev
    Fe = U @ wp.diag(wp.vec3(wp.exp(eps[0]), wp.exp(eps[1]), wp.exp(eps[2]))) @ wp.transpose(V)
    return Fe, plastic + dgamma


@wp.func
def drucker_prager_return(F: wp.mat33, mu: float, lam: float, alpha: float):
    """Sand (Klar et al. 2016, cohesionless): tension -> stress free; shear beyond the friction cone
    is projected back onto it. Returns the elastic F."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    eps = wp.vec3(wp.log(wp.max(s[0], 1.0e-6)), wp.log(wp.max(s[1], 1.0e-6)), wp.log(wp.max(s[2], 1.0e-6)))
    tr = eps[0] + eps[1] + eps[2]
    if tr >= 0.0:
        return U @ wp.transpose(V)
    dev = eps - wp.vec3(tr / 3.0)
    dev_norm = wp.length(dev)
    dgamma = dev_norm + (3.0 * lam + 2.0 * mu) / (2.0 * mu) * tr * alpha
    if dgamma <= 0.0:
        return F
    eps = eps - (dgamma / wp.max(dev_norm, 1.0e-12)) * dev
    return U @ wp.diag(wp.vec3(wp.exp(eps[0]), wp.exp(eps[1]), wp.exp(eps[2]))) @ wp.transpose(V)


@wp.func
def snow_return(F: wp.mat33, Jp: float, theta_c: float, theta_s: float):
    """Stomakhin et al. 2013: clamp singular values to [1 - theta_c, 1 + theta_s]; the clamped part
    moves into the plastic volume ratio J_p. Returns (F_e, J_p)."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    c = wp.vec3(
        wp.clamp(s[0], 1.0 - theta_c, 1.0 + theta_s),
        wp.clamp(s[1], 1.0 - theta_c, 1.0 + theta_s),
        wp.clamp(s[2], 1.0 - theta_c, 1.0 + theta_s),
    )
    Jp_new = Jp * (s[0] * s[1] * s[2]) / (c[0] * c[1] * c[2])
    return U @ wp.diag(c) @ wp.transpose(V), Jp_new


@wp.func
def return_mapping(material: int, F: wp.mat33, plastic: float, mu: float, lam: float, pp: PlasticityParams):
    """Trial F -> (elastic F, plastic state) for particle material id `material`."""
    if material == METAL:
        return von_mises_return(F, plastic, mu, pp.yield_stress * (1.0 + pp.hardening * plastic), 1.0)
    if material == PLASTICINE:
        return von_mises_return(F, plastic, mu, pp.yield_stress / (1.0 + pp.softening * plastic), 1.0)
    if material == FOAM:
        return von_mises_return(F, plastic, mu, pp.yield_stress, 1.0 / (1.0 + pp.plastic_viscosity / (2.0 * mu * pp.dt)))
    if material == SAND:
        return drucker_prager_return(F, mu, lam, pp.friction_alpha), plastic
    if material == SNOW:
        return snow_return(F, plastic, pp.critical_compression, pp.critical_stretch)
    if material == FLUID:
        J = wp.determinant(F)
        return wp.identity(n=3, dtype=float) * wp.sign(J) * wp.pow(wp.abs(J), 1.0 / 3.0), plastic
    return F, plastic
