"""`Simulator`: a scene's constants (grid, boundaries, per-particle rest data) plus the substep.

State and parameters are plain torch tensors (`ParticleState`, `MaterialParams`); the Warp
arrays inside the step are zero-copy views of them. `Simulator.run` advances without gradients;
`invgfx.mpm.autograd.simulate` advances with them.
"""

from __future__ import annotations

import contextlib
import math
import os
import warnings
from dataclasses import dataclass, fields, replace

import numpy as np
import torch
import warp as wp

from invgfx.mpm import boundary as bc
from invgfx.mpm import kernels as K
from invgfx.mpm.config import SceneConfig, check_memory
from invgfx.mpm.errors import MPMError
from invgfx.mpm.materials import MATERIALS, SNOW, PlasticityParams, drucker_prager_alpha
from invgfx.mpm.timestep import CFL, retime, stable_substep, wave_speed



def init_warp() -> None:
    """Initialise Warp once and quietly, before the first kernel: its greeting and its module-load
    lines are INFO logs, below the level set here; and on a machine without a CUDA driver, Warp's
    native 'Could not find or load the NVIDIA CUDA driver' line (printed from C onto file
    descriptor 2) is kept off the terminal of a CPU run. With a driver, Warp's messages stay."""
    import sys

    wp.config.quiet = True  # Warp < 1.10
    if hasattr(wp, "LOG_WARNING"):
        wp.config.log_level = wp.LOG_WARNING
    silence = contextlib.nullcontext() if _cuda_driver_present() else _native_stderr_to(os.devnull)
    sys.stderr.flush()
    with silence:
        wp.init()


def _cuda_driver_present() -> bool:
    """Whether the CUDA driver library Warp loads (libcuda / nvcuda) can be loaded here."""
    import ctypes
    import sys

    names = ["nvcuda.dll"] if sys.platform == "win32" else ["libcuda.so", "libcuda.so.1"]
    for name in names:
        try:
            ctypes.CDLL(name)
            return True
        except OSError:
            continue
    return False


@contextlib.contextmanager
def _native_stderr_to(path: str):
    """File descriptor 2 (what C code writes to) pointed at `path` for the block."""
    saved, target = os.dup(2), os.open(path, os.O_WRONLY)
    try:
        os.dup2(target, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(target)


init_warp()


@dataclass
class ParticleState:
    """x (N, 3) m; v (N, 3) m/s; F (N, 3, 3) elastic deformation gradient; C (N, 3, 3) affine
    velocity (1/s); plastic (N,) plastic state (see materials.py); t: simulated time in s."""

    x: torch.Tensor
    v: torch.Tensor
    F: torch.Tensor
    C: torch.Tensor
    plastic: torch.Tensor
    t: float = 0.0

    TENSORS = ("x", "v", "F", "C", "plastic")

    def tensors(self) -> tuple:
        return tuple(getattr(self, n) for n in self.TENSORS)

    def detach(self) -> "ParticleState":
        return ParticleState(*(t.detach() for t in self.tensors()), t=self.t)

    def clone(self) -> "ParticleState":
        return ParticleState(*(t.detach().clone() for t in self.tensors()), t=self.t)


@dataclass
class MaterialParams:
    """Per-particle E (N,) Pa, nu (N,), density (N,) kg/m^3; may require grad."""

    E: torch.Tensor
    nu: torch.Tensor
    density: torch.Tensor

    def tensors(self) -> tuple:
        return self.E, self.nu, self.density


class WarpState:
    """Warp views (or owners) of the five state arrays."""

    def __init__(self, x, v, F, C, plastic):
        self.x, self.v, self.F, self.C, self.plastic = x, v, F, C, plastic

    @staticmethod
    def from_torch(s: ParticleState, requires_grad: bool = False) -> "WarpState":
        dtypes = (wp.vec3, wp.vec3, wp.mat33, wp.mat33, wp.float32)
        return WarpState(*(wp.from_torch(_f32(t), dtype=d, requires_grad=requires_grad)
                           for t, d in zip(s.tensors(), dtypes)))

    def arrays(self) -> tuple:
        return self.x, self.v, self.F, self.C, self.plastic

    def to_torch(self, t: float) -> ParticleState:
        return ParticleState(*(wp.to_torch(a) for a in self.arrays()), t=t)


def _f32(t: torch.Tensor) -> torch.Tensor:
    return t.detach().to(torch.float32).contiguous()


def _wp_device(device: torch.device | str) -> str:
    d = torch.device(device)
    return "cpu" if d.type == "cpu" else f"cuda:{d.index or 0}"


class Simulator:
    """MLS-MPM for one scene.

    config:    SceneConfig (grid, time step, boundaries, plasticity constants, material regions).
    positions: (N, 3) rest positions in m inside the simulation cube [0, grid_lim]^3.
    volumes:   (N,) rest volumes in m^3 (a float gives every particle the same volume).
    """

    def __init__(self, config: SceneConfig, positions: torch.Tensor, volumes: torch.Tensor | float,
                 device: str | torch.device = "cpu", requires_grad: bool = False, check_every: int = 10):
        self.config = cfg = config
        self.device = torch.device(device)
        self.wp_device = _wp_device(device)
        n = positions.shape[0]
        if positions.ndim != 2 or positions.shape[1] != 3 or n == 0:
            raise MPMError(f"positions has shape {tuple(positions.shape)}; expected (N, 3) with N >= 1")
        check_memory(n, cfg.n_grid, self.wp_device, requires_grad, cfg.source)
        self.n = n
        self.x0 = _f32(positions).to(self.device)
        if not torch.isfinite(self.x0).all():
            raise MPMError("positions contain NaN or Inf")
        self.grid = K.Grid()
        self.grid.n, self.grid.dx, self.grid.inv_dx, self.grid.dt = cfg.n_grid, cfg.dx, 1.0 / cfg.dx, cfg.substep_dt
        self.grid.lo, self.grid.hi = 1.0 * cfg.dx, (cfg.n_grid - 2) * cfg.dx
        lo, hi = self.x0.amin(0), self.x0.amax(0)
        if lo.min() < self.grid.lo or hi.max() > self.grid.hi:
            raise MPMError(f"{cfg.source}: particles span [{lo.min():.3f}, {hi.max():.3f}] m but must lie inside "
                           f"[{self.grid.lo:.3f}, {self.grid.hi:.3f}] (grid_lim {cfg.grid_lim}, n_grid {cfg.n_grid}); "
                           "normalise them into the simulation cube (invgfx.mpm.gaussians) or enlarge grid_lim")
        self.volumes = _f32(torch.as_tensor(volumes, dtype=torch.float32).expand(n)).to(self.device)
        self.check_every = check_every
        self.material_ids, self._default_params = self._material_fields()
        self.pp = self._plasticity_params()
        self._build_boundaries()
        self._alloc(requires_grad)
        self.escaped_total = 0

    # ---- setup --------------------------------------------------------------------------
    def _material_fields(self):
        cfg, n = self.config, self.n
        mat = torch.full((n,), MATERIALS[cfg.material], dtype=torch.int32)
        E, nu, rho = torch.full((n,), cfg.E), torch.full((n,), cfg.nu), torch.full((n,), cfg.density)
        x0 = self.x0.cpu()
        for r in cfg.material_regions:
            inside = ((x0 - torch.tensor(r.point)).abs() < torch.tensor(r.size)).all(1)
            for value, arr in ((r.E, E), (r.nu, nu), (r.density, rho)):
                if value is not None:
                    arr[inside] = value
            if r.material is not None:
                mat[inside] = MATERIALS[r.material]
        dev = self.device
        return mat.to(dev), MaterialParams(E.to(dev), nu.to(dev), rho.to(dev))

    def _plasticity_params(self) -> PlasticityParams:
        cfg, pp = self.config, PlasticityParams()
        for f in ("yield_stress", "hardening", "softening", "plastic_viscosity", "xi", "critical_compression",
                  "critical_stretch"):
            setattr(pp, f, float(getattr(cfg, f)))
        pp.friction_alpha = drucker_prager_alpha(cfg.friction_angle)
        pp.dt = cfg.substep_dt
        return pp

    def _build_boundaries(self) -> None:
        cfg, dev = self.config, self.wp_device

        def struct_array(items, cls, fill):
            out = []
            for item in items:
                s = cls()
                fill(s, item)
                out.append(s)
            return wp.array(out, dtype=cls, device=dev) if out else wp.zeros(0, dtype=cls, device=dev)

        def collider(s, c):
            nrm = np.asarray(c.normal, dtype=np.float64)
            s.point, s.normal = wp.vec3(*c.point), wp.vec3(*(nrm / np.linalg.norm(nrm)))
            s.surface, s.friction = bc.SURFACES[c.surface], float(c.friction)
            s.start_time, s.end_time = float(c.start_time), float(c.end_time)

        def cuboid(s, c):
            s.point, s.size, s.velocity = wp.vec3(*c.point), wp.vec3(*c.size), wp.vec3(*c.velocity)
            s.start_time, s.end_time, s.reset = float(c.start_time), float(c.end_time), int(c.reset)

        kinds = {"impulse": bc.IMPULSE, "translation": bc.TRANSLATION, "rotation": bc.ROTATION,
                 "sequential_release": bc.SEQUENTIAL_RELEASE}

        def forcing(s, f):
            s.kind, s.point, s.size = kinds[f.kind], wp.vec3(*f.point), wp.vec3(*f.size)
            s.vector, s.axis, s.rate, s.speed = wp.vec3(*f.vector), wp.vec3(*f.axis), float(f.rate), float(f.speed)
            s.start_time, s.end_time = float(f.start_time), float(f.end_time)
            s.half_height, s.radius, s.layers = float(f.half_height), float(f.radius), int(f.layers)

        self.colliders = struct_array(cfg.surface_colliders, bc.SurfaceCollider, collider)
        self.cuboids = struct_array(cfg.cuboids, bc.Cuboid, cuboid)
        self.forcings = struct_array(cfg.forcings, bc.ParticleForcing, forcing)
        self.padding = -1 if cfg.bounding_box_padding is None else int(cfg.bounding_box_padding)

    def _alloc(self, requires_grad: bool) -> None:
        n, g, dev = self.n, self.config.n_grid, self.wp_device
        rg = requires_grad
        self.grid_mv = wp.zeros((g, g, g), dtype=wp.vec3, device=dev, requires_grad=rg)
        self.grid_m = wp.zeros((g, g, g), dtype=float, device=dev, requires_grad=rg)
        self.grid_v = wp.zeros((g, g, g), dtype=wp.vec3, device=dev, requires_grad=rg)
        self.v_forced = wp.zeros(n, dtype=wp.vec3, device=dev, requires_grad=rg)
        self.F_trial = wp.zeros(n, dtype=wp.mat33, device=dev, requires_grad=rg)
        self.affine = wp.zeros(n, dtype=wp.mat33, device=dev, requires_grad=rg)
        self.escaped = wp.zeros(n, dtype=int, device=dev)
        self.diagnostics = wp.zeros(3, dtype=int, device=dev)
        self.wp_x0 = wp.from_torch(self.x0, dtype=wp.vec3)
        self.wp_vol = wp.from_torch(self.volumes)
        self.wp_material = wp.from_torch(self.material_ids)

    def enable_grad(self) -> None:
        """Give the grid and scratch arrays gradient buffers (done once, on the first backward)."""
        for a in (self.grid_mv, self.grid_m, self.grid_v, self.v_forced, self.F_trial, self.affine):
            a.requires_grad = True

    def set_substep(self, substep_dt: float) -> None:
        """Simulate from now on with substeps of `substep_dt` s (e.g. from `stable_substep` when E
        changes); damping and impulses keep their per-second meaning (`retime`)."""
        self.config = retime(self.config, substep_dt)
        self.grid.dt = self.pp.dt = substep_dt
        self._build_boundaries()

    # ---- user-facing constructors --------------------------------------------------------
    def default_params(self) -> MaterialParams:
        """Per-particle E, nu, density from the config, material regions applied (fresh tensors)."""
        return MaterialParams(*(t.clone() for t in self._default_params.tensors()))

    def initial_state(self, velocity: torch.Tensor | tuple | None = None) -> ParticleState:
        """Rest state: x = rest positions, F = I, C = 0, plastic = 1 for snow (J_p) else 0.
        velocity: (3,) or (N, 3) m/s, default zero."""
        n, dev = self.n, self.device
        v = torch.zeros(n, 3, device=dev)
        if velocity is not None:
            v = v + torch.as_tensor(velocity, dtype=torch.float32, device=dev)
        F = torch.eye(3, device=dev).repeat(n, 1, 1)
        plastic = (self.material_ids == SNOW).float()
        return ParticleState(self.x0.clone(), v, F, torch.zeros(n, 3, 3, device=dev), plastic, 0.0)

    # ---- the substep ---------------------------------------------------------------------
    def step(self, s_in: WarpState, s_out: WarpState, E: wp.array, nu: wp.array, density: wp.array, t: float) -> None:
        """Advance s_in (time t) by one substep into s_out. Records on an active wp.Tape."""
        cfg, g, n, dev = self.config, self.grid, self.n, self.wp_device
        self.grid_mv.zero_()
        self.grid_m.zero_()
        v = s_in.v
        if self.forcings.shape[0]:
            wp.launch(K.particle_forcing, n, inputs=[s_in.x, s_in.v, self.wp_x0, self.wp_vol, density, self.forcings,
                                                      t, g.dt], outputs=[self.v_forced], device=dev)
            v = self.v_forced
        wp.launch(K.stress_affine, n, inputs=[s_in.C, s_in.F, s_in.plastic, self.wp_vol, E, nu, density,
                                              self.wp_material, self.pp, g], outputs=[self.affine], device=dev)
        wp.launch(K.p2g, n, inputs=[s_in.x, v, self.affine, self.wp_vol, density, g],
                  outputs=[self.grid_mv, self.grid_m], device=dev)
        damping = cfg.grid_damping
        wp.launch(K.grid_update, (g.n, g.n, g.n), inputs=[self.grid_mv, self.grid_m, g, wp.vec3(*cfg.gravity), damping,
                                                          t, self.padding, self.colliders, self.cuboids],
                  outputs=[self.grid_v], device=dev)
        wp.launch(K.g2p, n, inputs=[self.grid_v, s_in.x, s_in.F, g, cfg.rpic_damping],
                  outputs=[s_out.x, s_out.v, s_out.C, self.F_trial, self.escaped, self.diagnostics], device=dev)
        wp.launch(K.plasticity, n, inputs=[self.F_trial, s_in.plastic, E, nu, self.wp_material, self.pp],
                  outputs=[s_out.F, s_out.plastic], device=dev)

    def check(self, t: float, params: MaterialParams | None = None, v: wp.array | None = None) -> None:
        """Raise MPMError on NaN/Inf or a CFL violation since the last check, saying which substep
        would be stable for `params` (default: the config's material) and for the particle
        velocities `v` (N,) vec3 m/s; warn once per simulator when particles first reach the
        domain edge (`n_escaped` counts them all)."""
        diag = self.diagnostics.numpy().copy()  # numpy() is a view on CPU: copy before zeroing
        if diag[K.NON_FINITE] or diag[K.CFL]:
            self.diagnostics.zero_()
            speed = 0.0
            # the particles' speeds, and those the particle conditions set before the transfer
            for arr in ([v] if v is not None else []) + ([self.v_forced] if self.forcings.shape[0] else []):
                speeds = np.linalg.norm(arr.numpy(), axis=1)
                speed = max(speed, float(speeds[np.isfinite(speeds)].max(initial=0.0)))
            raise MPMError(self._instability_message(t, diag, params or self._default_params, speed))
        if not self.escaped_total:
            escaped = self.n_escaped
            if escaped:
                warnings.warn(f"{escaped} particles reached the edge of the simulation domain by t = {t:.4g} s and are "
                              "held there (later ones are counted, not reported); add a bounding_box or enlarge "
                              "grid_lim", RuntimeWarning, stacklevel=3)
                self.escaped_total = escaped

    def _instability_message(self, t: float, diag, params: MaterialParams, speed: float) -> str:
        """Why the run blew up and the substep that avoids it: dt <= CFL dx / c for the elastic
        waves (c: `wave_speed`) and dt <= CFL dx / speed for the fastest particle."""
        cfg, dt = self.config, self.config.substep_dt
        what = [f"{diag[K.CFL]} particle updates moved more than half a grid cell in one substep "
                f"(|v| dt > dx/2 = {cfg.dx / 2:.3g} m)"] if diag[K.CFL] else []
        what += [f"{diag[K.NON_FINITE]} particle updates produced NaN/Inf"] if diag[K.NON_FINITE] else []
        c = wave_speed(*params.tensors())
        wave_dt, _ = stable_substep(*params.tensors(), cfg.dx, cfg.frame_dt)
        speed_dt = CFL * cfg.dx / speed if speed > 0 else math.inf
        if wave_dt < dt and wave_dt <= speed_dt:
            why = (f"substep_dt = {dt:.3g} s is too long for this material: its elastic wave speed "
                   f"c = sqrt((lam + 2 mu) / rho) = {c:.3g} m/s needs dt <= {CFL} dx / c = {CFL * cfg.dx / c:.3g} s")
        elif speed_dt < math.inf:
            why = (f"the fastest particle moves at {speed:.3g} m/s, which needs dt <= {CFL} dx / v = {speed_dt:.3g} s "
                   f"(dx = {cfg.dx:.3g} m)")
        else:
            speed_dt = dt / 2
            why = f"the particles move too fast for substep_dt = {dt:.3g} s"
        n = max(1, math.ceil(cfg.frame_dt / min(wave_dt, speed_dt) * (1 - 1e-9)))
        return (f"{cfg.source}: simulation blew up by t = {t:.4g} s: {'; '.join(what)}. Explicit MPM went unstable "
                f"because {why}. Use substep_dt = {cfg.frame_dt / n:.3g} s ({n} substeps per frame of {cfg.frame_dt:g} s; "
                "invgfx.mpm.stable_substep picks it from E, nu, density), slow the motion, or soften the material (lower E).")

    def run(self, state: ParticleState, params: MaterialParams | None = None, n_substeps: int = 1,
            keep: list | None = None, keep_last: int = 0) -> ParticleState:
        """Advance `state` by n_substeps without gradients; returns a new ParticleState. keep: a
        list to which copies of the states entering the last `keep_last` substeps are appended."""
        params = params or self._default_params
        E, nu, rho = (wp.from_torch(_f32(p)) for p in params.tensors())
        a = WarpState.from_torch(state.clone())
        b = WarpState(*(wp.empty_like(arr) for arr in a.arrays()))
        t = state.t
        for i in range(n_substeps):
            if keep is not None and i >= n_substeps - keep_last:
                keep.append(a.to_torch(t).clone())
            self.step(a, b, E, nu, rho, t)
            t += self.config.substep_dt
            a, b = b, a
            if (i + 1) % self.check_every == 0 or i + 1 == n_substeps:
                self.check(t, params, a.v)
        return a.to_torch(t)

    @property
    def n_escaped(self) -> int:
        """Particles that have reached the domain edge at least once."""
        return int(self.escaped.numpy().sum())
