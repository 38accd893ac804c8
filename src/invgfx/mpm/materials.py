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
    "metal": METAL,  # von Mises plasticity on Hencky strain, optional linear hardening
    "sand": SAND,  # Drucker-Prager plasticity on Hencky strain (Klar et al. 2016)
    "foam": FOAM,  # viscoplastic von Mises (Perzyna)
    "snow": SNOW,  # Stomakhin et al. 2013: clamped singular values + exponential hardening
    "plasticine": PLASTICINE,  # fixed-corotated elasticity, von Mises with softening to damage
    "fluid": FLUID,  # weakly compressible Tait fluid
    "neo_hookean": NEO_HOOKEAN,  # compressible neo-Hookean elasticity
}

TAIT_GAMMA = 7.0
SQRT_2_3 = wp.constant(math.sqrt(2.0 / 3.0))


@wp.struct
class PlasticityParams:
    """Material constants shared by all particles (SI units).

    PhysGaussian's meanings (mpm_utils.py), so their configs behave as there:
    yield_stress:         Pa, bound on the Frobenius norm of the deviatoric Kirchhoff stress
                          (foam: sqrt(2/3) yield_stress).
    hardening:            metal, plasticine: 1 switches on linear hardening, the yield stress
                          growing by 2 mu xi per unit plastic strain; any other value: none.
    softening:            plasticine: Pa per unit plastic strain the yield stress loses; once it
                          reaches zero the particle is damaged (no stress, no plastic flow).
    plastic_viscosity:    foam: Pa s, viscosity eta of the viscoplastic return.
    friction_alpha:       sand: Drucker-Prager alpha = sqrt(2/3) 2 sin(phi) / (3 - sin(phi)).
    xi:                   metal, plasticine: the hardening coefficient above; snow (not in
                          PhysGaussian): mu, lam scale by exp(xi (1 - J_p)).
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


# ---- isotropic matrix functions with a stable gradient ----------------------------------------
# The elastoplastic models are isotropic functions of F = U diag(s) V^T: G = U diag(g) V^T (elastic
# F after a return mapping, polar rotation) or G = U diag(g) U^T (Hencky stress), with g_i = phi(s_i)
# for one scalar function phi (whose parameters may depend on symmetric functions of s). Warp's SVD
# adjoint differentiates U and V separately, with 1 / (s_i^2 - s_j^2) factors that blow up where
# singular values coincide (F = I at rest). Differentiating G as a whole gives, with
# Y = U^T dL/dG (V or U) and P = U^T dF V, only bounded coefficients per pair i < j:
#   d_ij = (g_j - g_i) / (s_j - s_i)   multiplies the symmetric part of P_ij; its limit phi'(s_i) at
#                                      s_i = s_j is passed in by the caller (`dd`, pairs 01, 02, 12);
#   (g_i + g_j) / (s_i + s_j) (U..V^T) or (g_j - g_i) / (s_i + s_j) (U..U^T) the antisymmetric part.
# The diagonal of Y is the gradient of g, through which autodiff reaches s, mu, lam and the plastic
# state; the gradient of s is U diag(ds) V^T (`singular_values`).
@wp.func
def singular_values(F: wp.mat33):
    """Singular values s of F = U diag(s) V^T (U, V rotations, as wp.svd3; s[2] < 0 when det F < 0)."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    return s


@wp.func_grad(singular_values)
def adj_singular_values(F: wp.mat33, adj_ret: wp.vec3):
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    wp.adjoint[F] += U @ wp.diag(adj_ret) @ wp.transpose(V)


@wp.func
def safe_sum(a: float, b: float):
    """a + b kept away from 0 (inverted elements), for the antisymmetric coefficients."""
    return wp.max(a + b, 1.0e-6)


@wp.func
def spectral_uv(F: wp.mat33, g: wp.vec3, dd: wp.vec3):
    """U diag(g) V^T for F = U diag(s) V^T; dd: (g_j - g_i) / (s_j - s_i) for the pairs (0, 1),
    (0, 2), (1, 2) (their limit phi'(s_i) where s_i = s_j). Gradients reach F and g, not dd."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    return U @ wp.diag(g) @ wp.transpose(V)


@wp.func_grad(spectral_uv)
def adj_spectral_uv(F: wp.mat33, g: wp.vec3, dd: wp.vec3, adj_ret: wp.mat33):
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    Y = wp.transpose(U) @ adj_ret @ V
    M = wp.mat33(0.0)
    for i in range(3):
        for j in range(i + 1, 3):
            sym = 0.5 * (Y[i, j] + Y[j, i]) * dd[i + j - 1]
            skew = 0.5 * (Y[i, j] - Y[j, i]) * (g[i] + g[j]) / safe_sum(s[i], s[j])
            M[i, j] = sym + skew
            M[j, i] = sym - skew
    wp.adjoint[F] += U @ M @ wp.transpose(V)
    wp.adjoint[g] += wp.vec3(Y[0, 0], Y[1, 1], Y[2, 2])


@wp.func
def spectral_uu(F: wp.mat33, g: wp.vec3, dd: wp.vec3):
    """U diag(g) U^T for F = U diag(s) V^T (a symmetric function of F F^T); dd as in spectral_uv."""
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    return U @ wp.diag(g) @ wp.transpose(U)


@wp.func_grad(spectral_uu)
def adj_spectral_uu(F: wp.mat33, g: wp.vec3, dd: wp.vec3, adj_ret: wp.mat33):
    U = wp.mat33()
    s = wp.vec3()
    V = wp.mat33()
    wp.svd3(F, U, s, V)
    Y = wp.transpose(U) @ adj_ret @ U
    M = wp.mat33(0.0)
    for i in range(3):
        for j in range(i + 1, 3):
            sym = 0.5 * (Y[i, j] + Y[j, i])
            skew = (g[j] - g[i]) / safe_sum(s[i], s[j])
            M[i, j] = sym * (dd[i + j - 1] + skew)
            M[j, i] = sym * (dd[i + j - 1] - skew)
    wp.adjoint[F] += U @ M @ wp.transpose(V)
    wp.adjoint[g] += wp.vec3(Y[0, 0], Y[1, 1], Y[2, 2])


@wp.func
def expm1_ratio(c: float, x: float):
    """(e^(c x) - 1) / (e^x - 1), continued by its limit c at x = 0 (series where float32 cancels)."""
    if wp.abs(x) < 1.0e-3:
        return c * (1.0 + 0.5 * (c - 1.0) * x)
    return (wp.exp(c * x) - 1.0) / (wp.exp(x) - 1.0)


@wp.func
def log_ratio(x: float):
    """x / (e^x - 1), continued by 1 at x = 0."""
    if wp.abs(x) < 1.0e-3:
        return 1.0 - 0.5 * x
    return x / (wp.exp(x) - 1.0)


@wp.func
def log_strain(s: wp.vec3):
    """Hencky strain eps_i = log s_i (s clamped to 1e-6 so inverted elements stay finite)."""
    return wp.vec3(wp.log(wp.max(s[0], 1.0e-6)), wp.log(wp.max(s[1], 1.0e-6)), wp.log(wp.max(s[2], 1.0e-6)))


@wp.func
def from_log_strain(F: wp.mat33, eps: wp.vec3, c: float, eps_new: wp.vec3):
    """U diag(exp(eps_new)) V^T where eps_new = a + c eps (a the same for all i), so that
    phi(s) = e^a s^c and (g_j - g_i) / (s_j - s_i) = g_i / s_i (e^(c x) - 1) / (e^x - 1), x = eps_j - eps_i."""
    g = wp.vec3(wp.exp(eps_new[0]), wp.exp(eps_new[1]), wp.exp(eps_new[2]))
    dd = wp.vec3(
        g[0] * wp.exp(-eps[0]) * expm1_ratio(c, eps[1] - eps[0]),
        g[0] * wp.exp(-eps[0]) * expm1_ratio(c, eps[2] - eps[0]),
        g[1] * wp.exp(-eps[1]) * expm1_ratio(c, eps[2] - eps[1]),
    )
    return spectral_uv(F, g, dd)


@wp.func
def polar_rotation(F: wp.mat33):
    """Rotation R of F = R S (S symmetric): U V^T, i.e. g = 1 (phi constant, dd = 0)."""
    return spectral_uv(F, wp.vec3(1.0), wp.vec3(0.0))


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
    """St. Venant-Kirchhoff on Hencky strain: tau = U (2 mu eps + lam tr(eps) I) U^T, eps = log Sigma
    (phi(s) = 2 mu log s + const, so (t_j - t_i) / (s_j - s_i) = 2 mu / s_i x / (e^x - 1))."""
    eps = log_strain(singular_values(F))
    t = 2.0 * mu * eps + wp.vec3(lam * (eps[0] + eps[1] + eps[2]))
    dd = 2.0 * mu * wp.vec3(
        wp.exp(-eps[0]) * log_ratio(eps[1] - eps[0]),
        wp.exp(-eps[0]) * log_ratio(eps[2] - eps[0]),
        wp.exp(-eps[1]) * log_ratio(eps[2] - eps[1]),
    )
    return spectral_uu(F, t, dd)


@wp.func
def tait_pressure(F: wp.mat33, mu: float, lam: float):
    """Weakly compressible fluid: p = K / gamma (J^-gamma - 1), K = lam + 2 mu / 3; tau = -J p I."""
    J = wp.max(wp.determinant(F), 1.0e-6)
    K = lam + 2.0 * mu / 3.0
    p = K / TAIT_GAMMA * (wp.pow(J, -TAIT_GAMMA) - 1.0)
    return wp.identity(n=3, dtype=float) * (-J * p)


@wp.func
def plastic_yield(plastic: float, mu: float, pp: PlasticityParams):
    """Yield stress (Pa) of metal and plasticine after `plastic` accumulated plastic strain:
    linear hardening 2 mu xi when pp.hardening == 1, minus the softening (PhysGaussian's rules)."""
    slope = -pp.softening
    if pp.hardening == 1.0:
        slope += 2.0 * mu * pp.xi
    return pp.yield_stress + slope * plastic


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
    if material == PLASTICINE:  # PhysGaussian's plasticine: fixed-corotated stress until damaged
        if plastic_yield(plastic, mu, pp) <= 0.0:
            return wp.mat33(0.0)
        return fixed_corotated(F, mu, lam)
    return hencky(F, mu, lam)


# ---- plastic return mappings: trial F -> (elastic F, plastic state) ---------------------------
@wp.func
def von_mises_return(F: wp.mat33, plastic: float, mu: float, yield_stress: float, damping: float):
    """Project the Hencky strain onto ||2 mu dev(eps)|| <= yield_stress; `damping` in (0, 1]
    scales the plastic step (1: perfect plasticity, < 1: viscoplastic). Returns (F_e, plastic)."""
    eps = log_strain(singular_values(F))
    dev = eps - wp.vec3((eps[0] + eps[1] + eps[2]) / 3.0)
    dev_norm = wp.length(dev)
    dgamma = dev_norm - yield_stress / (2.0 * mu)
    if dgamma <= 0.0:
        return F, plastic
    dgamma = dgamma * damping
    shrink = dgamma / dev_norm
    return from_log_strain(F, eps, 1.0 - shrink, eps - shrink * dev), plastic + dgamma


@wp.func
def drucker_prager_return(F: wp.mat33, mu: float, lam: float, alpha: float):
    """Sand (Klar et al. 2016, cohesionless): tension -> stress free; shear beyond the friction cone
    is projected back onto it. Returns the elastic F."""
    eps = log_strain(singular_values(F))
    tr = eps[0] + eps[1] + eps[2]
    if tr >= 0.0:
        return polar_rotation(F)
    dev = eps - wp.vec3(tr / 3.0)
    dev_norm = wp.length(dev)
    dgamma = dev_norm + (3.0 * lam + 2.0 * mu) / (2.0 * mu) * tr * alpha
    if dgamma <= 0.0:
        return F
    shrink = dgamma / wp.max(dev_norm, 1.0e-12)
    return from_log_strain(F, eps, 1.0 - shrink, eps - shrink * dev)


@wp.func
def clamp_slope(a: float, b: float, ca: float, cb: float, lo: float, hi: float):
    """(clamp(b) - clamp(a)) / (b - a), continued by the slope of clamp (1 inside, 0 outside) at a = b."""
    if wp.abs(b - a) > 1.0e-6:
        return (cb - ca) / (b - a)
    if a > lo and a < hi:
        return 1.0
    return 0.0


@wp.func
def snow_return(F: wp.mat33, Jp: float, theta_c: float, theta_s: float):
    """Stomakhin et al. 2013: clamp singular values to [1 - theta_c, 1 + theta_s]; the clamped part
    moves into the plastic volume ratio J_p. Returns (F_e, J_p)."""
    s = singular_values(F)
    lo, hi = 1.0 - theta_c, 1.0 + theta_s
    c = wp.vec3(wp.clamp(s[0], lo, hi), wp.clamp(s[1], lo, hi), wp.clamp(s[2], lo, hi))
    Jp_new = Jp * (s[0] * s[1] * s[2]) / (c[0] * c[1] * c[2])
    dd = wp.vec3(clamp_slope(s[0], s[1], c[0], c[1], lo, hi), clamp_slope(s[0], s[2], c[0], c[2], lo, hi),
                 clamp_slope(s[1], s[2], c[1], c[2], lo, hi))
    return spectral_uv(F, c, dd), Jp_new


@wp.func
def return_mapping(material: int, F: wp.mat33, plastic: float, mu: float, lam: float, pp: PlasticityParams):
    """Trial F -> (elastic F, plastic state) for particle material id `material`."""
    if material == METAL:
        y = pp.yield_stress
        if pp.hardening == 1.0:
            y += 2.0 * mu * pp.xi * plastic
        return von_mises_return(F, plastic, mu, y, 1.0)
    if material == PLASTICINE:
        y = plastic_yield(plastic, mu, pp)
        if y <= 0.0:  # damaged: flows freely, as PhysGaussian's zero mu and lam
            return F, plastic
        return von_mises_return(F, plastic, mu, y, 1.0)
    if material == FOAM:  # PhysGaussian's viscoplastic return (with mu for their mu tr(b) / 3)
        return von_mises_return(F, plastic, mu, SQRT_2_3 * pp.yield_stress,
                                1.0 / (1.0 + pp.plastic_viscosity / (2.0 * mu * pp.dt)))
    if material == SAND:
        return drucker_prager_return(F, mu, lam, pp.friction_alpha), plastic
    if material == SNOW:
        return snow_return(F, plastic, pp.critical_compression, pp.critical_stretch)
    if material == FLUID:
        J = wp.determinant(F)
        return wp.identity(n=3, dtype=float) * wp.sign(J) * wp.pow(wp.abs(J), 1.0 / 3.0), plastic
    return F, plastic
