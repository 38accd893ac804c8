"""One MLS-MPM substep as six Warp kernels (Hu et al. 2018; APIC, Jiang et al. 2015).

    particle_forcing : v_p += boundary forcing (only launched when a scene has any)
    stress_affine    : A_p = m_p C_p - dt V_p 4/dx^2 tau(F_p)
    p2g              : m_i += w m_p;  (m v)_i += w (m_p v_p + A_p (x_i - x_p))
    grid_update      : v_i = (m v)_i / m_i + dt g, damped, then the grid boundary conditions
    g2p              : v_p = sum w v_i;  C_p = 4/dx^2 sum w v_i (x_i - x_p)^T;  x_p += dt v_p;
                       F_trial = (I + dt C_p) F_p
    plasticity       : F_p, plastic_p = return_mapping(F_trial)

Quadratic B-spline weights over a 3x3x3 stencil. Node (i, j, k) sits at (i, j, k) * dx. No kernel
writes an array it reads, so every launch can be replayed backwards on a `wp.Tape`.
"""

from __future__ import annotations

import warp as wp

from invgfx.mpm.boundary import Cuboid, ParticleForcing, SurfaceCollider, bounding_box, cuboid_dirichlet, particle_force, surface_collide
from invgfx.mpm.materials import PlasticityParams, kirchhoff_stress, lame, return_mapping

OUT_OF_DOMAIN, NON_FINITE, CFL = 0, 1, 2  # slots of the diagnostics counter array


@wp.struct
class Grid:
    """n nodes per axis, spacing dx (m), substep dt (s); particles are kept in [lo, hi]^3 (m)."""

    n: int
    dx: float
    inv_dx: float
    dt: float
    lo: float
    hi: float


@wp.func
def stencil_base(x: wp.vec3, g: Grid):
    """Lowest stencil node of a particle, clamped into the grid so that no index can leave it
    (even for NaN positions, which the diagnostics report)."""
    b = x * g.inv_dx - wp.vec3(0.5)
    return wp.vec3i(wp.clamp(int(b[0]), 0, g.n - 3), wp.clamp(int(b[1]), 0, g.n - 3), wp.clamp(int(b[2]), 0, g.n - 3))


@wp.func
def bspline_weights(fx: wp.vec3):
    """Quadratic B-spline weights; row r holds the weights of stencil offset r on each axis."""
    w0 = 0.5 * wp.cw_mul(wp.vec3(1.5) - fx, wp.vec3(1.5) - fx)
    w1 = wp.vec3(0.75) - wp.cw_mul(fx - wp.vec3(1.0), fx - wp.vec3(1.0))
    w2 = 0.5 * wp.cw_mul(fx - wp.vec3(0.5), fx - wp.vec3(0.5))
    return wp.matrix_from_rows(w0, w1, w2)


@wp.kernel
def particle_forcing(
    x: wp.array(dtype=wp.vec3), v: wp.array(dtype=wp.vec3), x0: wp.array(dtype=wp.vec3),
    vol: wp.array(dtype=float), density: wp.array(dtype=float),
    forcings: wp.array(dtype=ParticleForcing), t: float, dt: float, v_out: wp.array(dtype=wp.vec3),
):
    p = wp.tid()
    vp = v[p]
    for f in range(forcings.shape[0]):
        vp = particle_force(forcings[f], x[p], x0[p], vp, density[p] * vol[p], t, dt)
    v_out[p] = vp


@wp.kernel
def stress_affine(
    C: wp.array(dtype=wp.mat33), F: wp.array(dtype=wp.mat33), plastic: wp.array(dtype=float),
    vol: wp.array(dtype=float), E: wp.array(dtype=float), nu: wp.array(dtype=float),
    density: wp.array(dtype=float), material: wp.array(dtype=int), pp: PlasticityParams, g: Grid,
    affine: wp.array(dtype=wp.mat33),
):
    """MLS-MPM affine momentum of a particle: m_p C_p - dt V_p 4/dx^2 tau_p (tau: Kirchhoff stress)."""
    p = wp.tid()
    mu, lam = lame(E[p], nu[p])
    tau = kirchhoff_stress(material[p], F[p], plastic[p], mu, lam, pp)
    affine[p] = density[p] * vol[p] * C[p] - (g.dt * vol[p] * 4.0 * g.inv_dx * g.inv_dx) * tau


@wp.kernel
def p2g(
    x: wp.array(dtype=wp.vec3), v: wp.array(dtype=wp.vec3), affine: wp.array(dtype=wp.mat33),
    vol: wp.array(dtype=float), density: wp.array(dtype=float), g: Grid,
    grid_mv: wp.array3d(dtype=wp.vec3), grid_m: wp.array3d(dtype=float),
):
    p = wp.tid()
    m = density[p] * vol[p]
    mv = m * v[p]
    A = affine[p]
    base = stencil_base(x[p], g)
    fx = x[p] * g.inv_dx - wp.vec3(float(base[0]), float(base[1]), float(base[2]))
    w = bspline_weights(fx)
    for i in range(3):
        for j in range(3):
            for k in range(3):
                dpos = (wp.vec3(float(i), float(j), float(k)) - fx) * g.dx
                weight = w[i, 0] * w[j, 1] * w[k, 2]
                wp.atomic_add(grid_mv, base[0] + i, base[1] + j, base[2] + k, weight * (mv + A @ dpos))
                wp.atomic_add(grid_m, base[0] + i, base[1] + j, base[2] + k, weight * m)


@wp.kernel
def grid_update(
    grid_mv: wp.array3d(dtype=wp.vec3), grid_m: wp.array3d(dtype=float), g: Grid,
    gravity: wp.vec3, damping: float, t: float, padding: int,
    colliders: wp.array(dtype=SurfaceCollider), cuboids: wp.array(dtype=Cuboid),
    grid_v: wp.array3d(dtype=wp.vec3),
):
    i, j, k = wp.tid()
    m = grid_m[i, j, k]
    v = wp.vec3(0.0)
    if m > 1.0e-15:
        v = (grid_mv[i, j, k] / m + g.dt * gravity) * damping
    x = wp.vec3(float(i), float(j), float(k)) * g.dx
    for c in range(colliders.shape[0]):
        v = surface_collide(colliders[c], x, v, t)
    for c in range(cuboids.shape[0]):
        v = cuboid_dirichlet(cuboids[c], x, v, t, g.dt)
    grid_v[i, j, k] = bounding_box(i, j, k, g.n, padding, v)


@wp.kernel
def g2p(
    grid_v: wp.array3d(dtype=wp.vec3), x: wp.array(dtype=wp.vec3), F: wp.array(dtype=wp.mat33),
    g: Grid, rpic_damping: float,
    x_out: wp.array(dtype=wp.vec3), v_out: wp.array(dtype=wp.vec3), C_out: wp.array(dtype=wp.mat33),
    F_trial: wp.array(dtype=wp.mat33), escaped: wp.array(dtype=int), diagnostics: wp.array(dtype=int),
):
    p = wp.tid()
    base = stencil_base(x[p], g)
    fx = x[p] * g.inv_dx - wp.vec3(float(base[0]), float(base[1]), float(base[2]))
    w = bspline_weights(fx)
    vp = wp.vec3(0.0)
    B = wp.mat33(0.0)
    for i in range(3):
        for j in range(3):
            for k in range(3):
                dpos = (wp.vec3(float(i), float(j), float(k)) - fx) * g.dx
                weight = w[i, 0] * w[j, 1] * w[k, 2]
                vi = grid_v[base[0] + i, base[1] + j, base[2] + k]
                vp += weight * vi
                B += weight * wp.outer(vi, dpos)
    grad_v = 4.0 * g.inv_dx * g.inv_dx * B
    F_trial[p] = (wp.identity(n=3, dtype=float) + g.dt * grad_v) @ F[p]
    xp = x[p] + g.dt * vp
    for a in range(3):  # a particle leaving the domain is held on its edge, moving along it
        if xp[a] < g.lo or xp[a] > g.hi:
            xp[a] = wp.clamp(xp[a], g.lo, g.hi)
            vp[a] = 0.0
            escaped[p] = 1
    if not (wp.isfinite(xp) and wp.isfinite(vp)):
        wp.atomic_add(diagnostics, NON_FINITE, 1)
    if wp.length(vp) * g.dt > 0.5 * g.dx:
        wp.atomic_add(diagnostics, CFL, 1)
    x_out[p] = xp
    v_out[p] = vp
    if rpic_damping < 0.0:  # PIC
        C_out[p] = wp.mat33(0.0)
    else:  # APIC, blended towards RPIC (skew part only) by rpic_damping in [0, 1]
        C_out[p] = grad_v - rpic_damping * 0.5 * (grad_v + wp.transpose(grad_v))


@wp.kernel
def plasticity(
    F_trial: wp.array(dtype=wp.mat33), plastic: wp.array(dtype=float), E: wp.array(dtype=float),
    nu: wp.array(dtype=float), material: wp.array(dtype=int), pp: PlasticityParams,
    F_out: wp.array(dtype=wp.mat33), plastic_out: wp.array(dtype=float),
):
    p = wp.tid()
    mu, lam = lame(E[p], nu[p])
    Fe, pl = return_mapping(material[p], F_trial[p], plastic[p], mu, lam, pp)
    F_out[p] = Fe
    plastic_out[p] = pl
