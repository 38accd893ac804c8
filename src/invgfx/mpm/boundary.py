"""Boundary conditions and forcing, as Warp structs plus one Warp function each.

Grid conditions act on node velocities after the grid update (x: node position in m, v: m/s,
t: s); particle forcing acts on particle velocities before the transfer to the grid and
selects particles by their rest position x0, as PhysGaussian does. Boxes are given by a centre
`point` and half extents `size`, and hold what lies strictly inside (PhysGaussian's conventions).
"""

from __future__ import annotations

import warp as wp

STICKY, SLIP, FRICTION = 0, 1, 2
SURFACES = {"sticky": STICKY, "slip": SLIP, "friction": FRICTION}

IMPULSE, TRANSLATION, ROTATION, SEQUENTIAL_RELEASE = 0, 1, 2, 3


@wp.struct
class SurfaceCollider:
    """Half-space {dot(x - point, normal) < 0} is solid from start_time to end_time (s).

    surface: STICKY (v = 0), SLIP (normal velocity removed, tangential kept, no separation) or
    FRICTION (only approaching velocity removed; Coulomb friction `friction` on the tangential part).
    """

    point: wp.vec3
    normal: wp.vec3
    surface: int
    friction: float
    start_time: float
    end_time: float


@wp.struct
class Cuboid:
    """Nodes inside the box (centre point + velocity * (t - start_time), half extents size) move
    with `velocity` (m/s) from start_time to end_time; outside that window the cuboid does nothing,
    except that with reset = 1 it stops the whole grid (v = 0 on every node) until 15 substeps
    after end_time, as PhysGaussian's `set_velocity_on_cuboid` does."""

    point: wp.vec3
    size: wp.vec3
    velocity: wp.vec3
    start_time: float
    end_time: float
    reset: int


@wp.struct
class ParticleForcing:
    """One particle-level condition on the particles whose rest position lies in the box.

    kind IMPULSE:     v += dt * vector / m for t in [start_time, end_time) (vector: force, N).
    kind TRANSLATION: v = vector (m/s) for t in [start_time, end_time).
    kind ROTATION:    v = rate * (x - point) x axis + speed * axis for t in [start_time, end_time)
                      (rate: rad/s, speed: m/s along axis) on the particles in the cylinder
                      |(x0 - point) . axis| < half_height, distance from the axis < radius
                      (PhysGaussian's `enforce_particle_velocity_rotation`, its sense of turning).
    kind SEQUENTIAL_RELEASE: particles in the box are held (v = 0) from start_time until
                      end_time * k / layers, k = ceil(layers (1 - d / size_a)): d is the distance
                      from `point` along the unit `axis` a, so the far layer goes first.
    """

    kind: int
    point: wp.vec3
    size: wp.vec3
    vector: wp.vec3
    axis: wp.vec3
    rate: float
    speed: float
    start_time: float
    end_time: float
    half_height: float
    radius: float
    layers: int


@wp.func
def in_box(x: wp.vec3, point: wp.vec3, size: wp.vec3):
    d = x - point
    return wp.abs(d[0]) < size[0] and wp.abs(d[1]) < size[1] and wp.abs(d[2]) < size[2]


@wp.func
def in_cylinder(x: wp.vec3, point: wp.vec3, axis: wp.vec3, half_height: float, radius: float):
    d = x - point
    along = wp.dot(d, axis)
    return wp.abs(along) < half_height and wp.length(d - along * axis) < radius


@wp.func
def surface_collide(c: SurfaceCollider, x: wp.vec3, v: wp.vec3, t: float):
    if t < c.start_time or t >= c.end_time or wp.dot(x - c.point, c.normal) >= 0.0:
        return v
    if c.surface == STICKY:
        return wp.vec3(0.0)
    vn = wp.dot(v, c.normal)
    if c.surface == SLIP:
        return v - vn * c.normal
    if vn >= 0.0:  # FRICTION: separating, free
        return v
    vt = v - vn * c.normal
    vt_norm = wp.length(vt)
    if vt_norm <= -c.friction * vn:
        return wp.vec3(0.0)
    return vt * (1.0 + c.friction * vn / vt_norm)


@wp.func
def cuboid_dirichlet(c: Cuboid, x: wp.vec3, v: wp.vec3, t: float, dt: float):
    if t >= c.start_time and t < c.end_time:
        if in_box(x, c.point + c.velocity * (t - c.start_time), c.size):
            return c.velocity
        return v
    if c.reset == 1 and t < c.end_time + 15.0 * dt:
        return wp.vec3(0.0)
    return v


@wp.func
def bounding_box(i: int, j: int, k: int, n: int, padding: int, v: wp.vec3):
    """Walls `padding` nodes deep on every face of the grid: outward velocity is removed.
    Built from scalars: Warp's adjoint of an in-place component assignment (out[a] = 0.0) lets
    the gradient through the zeroed component, which made every gradient after a contact wrong."""
    x = v[0]
    y = v[1]
    z = v[2]
    if (i < padding and x < 0.0) or (i >= n - padding and x > 0.0):
        x = 0.0
    if (j < padding and y < 0.0) or (j >= n - padding and y > 0.0):
        y = 0.0
    if (k < padding and z < 0.0) or (k >= n - padding and z > 0.0):
        z = 0.0
    return wp.vec3(x, y, z)


@wp.func
def particle_force(f: ParticleForcing, x: wp.vec3, x0: wp.vec3, v: wp.vec3, m: float, t: float, dt: float):
    if f.kind == ROTATION:
        if t < f.start_time or t >= f.end_time or not in_cylinder(x0, f.point, f.axis, f.half_height, f.radius):
            return v
        return f.rate * wp.cross(x - f.point, f.axis) + f.speed * f.axis
    if not in_box(x0, f.point, f.size):
        return v
    if f.kind == SEQUENTIAL_RELEASE:
        reach = wp.dot(f.size, f.axis)
        layers = float(f.layers)
        k = wp.ceil(layers * (1.0 - wp.abs(wp.dot(x0 - f.point, f.axis)) / reach))
        if t >= f.start_time and t < f.end_time * k / layers:
            return wp.vec3(0.0)
        return v
    if t < f.start_time or t >= f.end_time:
        return v
    if f.kind == IMPULSE:
        return v + dt / m * f.vector
    return f.vector
