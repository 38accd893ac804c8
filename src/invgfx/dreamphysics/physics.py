"""Wiring to invgfx.mpm: the loop's `simulate(params, frames)` for a Gaussian object simulated
with MPM and rendered from its scene config's camera.

Truncated BPTT as in the paper (`grad_substeps=K`, default 1): every frame is simulated from
the initial state without gradients, except the window that ends at a rendered key frame,
whose last K substeps are differentiated (and whose input state is a constant). With
`grad_substeps=None` the windows are chained for full BPTT (one checkpoint per frame; each
window is re-simulated in the backward pass, see invgfx.mpm.autograd).

The substep follows the parameters: every call picks the longest stable one for the current
E / nu / density (`invgfx.mpm.stable_substep`, at most the config's `substep_dt`), so a run that
starts 100x too stiff does not blow up, and a soft one does not pay for a stiff substep.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.params import ParameterSet

MATERIAL_NAMES = ("E", "nu", "density")


def _mpm():
    try:
        import invgfx.mpm as mpm
        from invgfx.mpm import gaussians
    except ImportError as err:
        raise DreamPhysicsError(f"learning physics needs the MPM simulator invgfx.mpm, which cannot be imported ({err})") from None
    return mpm, gaussians


@dataclass
class MPMVideo:
    """cloud: the world-space GaussianCloud; particles: its `prepare_particles` result; sim: the
    `Simulator`; width, height: pixels (camera: the config's, see invgfx.mpm.gaussians.scene_camera);
    background (3,) RGB; grad_substeps: K for truncated BPTT or None for full BPTT; cfl: Courant
    number of the substep chosen per call (`invgfx.mpm.stable_substep`; None: the config's fixed
    substep); max_substep: the config's substep_dt in s, the longest one used."""

    cloud: object
    particles: object
    sim: object
    width: int
    height: int
    background: Tensor
    grad_substeps: int | None = 1
    cfl: float | None = 0.4
    max_substep: float | None = None

    def material(self, params: ParameterSet):
        """Per-particle MaterialParams: the learned E / nu / density where `params` has them
        (evaluated at the rest positions, simulation space), the config's values elsewhere."""
        mpm, _ = _mpm()
        unknown = [p.name for p in params if p.name not in MATERIAL_NAMES]
        if unknown:
            raise DreamPhysicsError(f"parameters {unknown} are not MPM material parameters; learnable: {MATERIAL_NAMES}")
        base = self.sim.default_params()
        positions = self.sim.x0
        values = {name: params[name].per_particle(positions) if name in params else getattr(base, name)
                  for name in MATERIAL_NAMES}
        return mpm.MaterialParams(**values)

    def render(self, x: Tensor, F: Tensor, frame: int) -> Tensor:
        """(3, H, W) image of the simulated state x (M, 3), F (M, 3, 3) at `frame`; differentiable."""
        _, gaussians = _mpm()
        camera = gaussians.scene_camera(self.sim.config, frame, self.width, self.height, self.particles.space)
        return gaussians.render_state(self.cloud, self.particles, x, F, camera, self.background)

    def __call__(self, params: ParameterSet, frames: Tensor) -> Tensor:
        """(T, 3, H, W) renders of `frames` ((T,) frame indices), simulated from the initial state."""
        mpm, _ = _mpm()
        material = self.material(params)
        frozen = mpm.MaterialParams(*(t.detach() for t in material.tensors()))
        cfg = self.sim.config
        if self.cfl is not None:
            dt, _ = mpm.stable_substep(*frozen.tensors(), cfg.dx, cfg.frame_dt, self.cfl, self.max_substep)
            if dt != cfg.substep_dt:
                self.sim.set_substep(dt)
        n = self.sim.config.substeps_per_frame
        keys = set(frames.tolist())
        images = {}
        state = self.sim.initial_state()
        for f in range(max(keys) + 1):
            if f:
                if self.grad_substeps is None:
                    state = mpm.simulate(self.sim, state, material, n)
                elif f in keys:
                    state = mpm.simulate(self.sim, state.detach(), material, n, grad_substeps=self.grad_substeps)
                else:
                    with torch.no_grad():
                        state = self.sim.run(state.detach(), frozen, n)
            if f in keys:
                images[f] = self.render(state.x, state.F, f)
        return torch.stack([images[f] for f in frames.tolist()])


def mpm_video(cloud, config, *, width: int = 128, height: int = 128, background=(1.0, 1.0, 1.0),
              grad_substeps: int | None = 1, cfl: float | None = 0.4, max_particles: int | None = None,
              device: str = "cpu", seed: int = 0) -> MPMVideo:
    """An MPMVideo for `cloud` (GaussianCloud, world space) under `config` (invgfx.mpm SceneConfig),
    with PhysGaussian's preprocessing (see invgfx.mpm.gaussians.prepare_particles); the substep
    follows the parameters with Courant number `cfl` (None: the config's fixed substep_dt)."""
    mpm, gaussians = _mpm()
    particles = gaussians.prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, config,
                                            generator=torch.Generator().manual_seed(seed), max_particles=max_particles)
    sim = mpm.Simulator(config, particles.positions, particles.volumes, device=device)
    return MPMVideo(cloud, particles, sim, width, height, torch.as_tensor(background, dtype=torch.float32),
                    grad_substeps, cfl, config.substep_dt)
