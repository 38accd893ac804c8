"""Wiring to invgfx.mpm: the loop's `simulate(params, frames)` for a Gaussian object simulated
with MPM and rendered from its scene config's camera.

Truncated BPTT as in the paper (`grad_substeps=K`, default 1): every frame is simulated from
the initial state without gradients, except the window that ends at a rendered key frame,
whose last K substeps are differentiated (and whose input state is a constant). With
`grad_substeps=None` the windows are chained for full BPTT (one checkpoint per frame; each
window is re-simulated in the backward pass, see invgfx.mpm.autograd).
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
    `Simulator`; camera_keys: PhysGaussian camera keys (simulation space); width, height: pixels;
    background (3,) RGB; grad_substeps: K for truncated BPTT or None for full BPTT."""

    cloud: object
    particles: object
    sim: object
    camera_keys: dict
    width: int
    height: int
    background: Tensor
    grad_substeps: int | None = 1

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
        from invgfx.splat import camera_from_physgaussian, render_cloud

        _, gaussians = _mpm()
        means, covs, rots = gaussians.deformed_gaussians(self.particles, x.cpu(), F.cpu())
        index = self.particles.render_index
        world_means = self.cloud.means.clone().index_put((index,), means)
        world_covs = self.cloud.covariances().index_put((index,), covs)
        sh_rot = torch.eye(3).repeat(len(self.cloud.means), 1, 1).index_put((index,), rots)
        space = self.particles.space
        camera = camera_from_physgaussian(self.camera_keys, frame, width=self.width, height=self.height)
        return render_cloud(self.cloud, camera, means=space.to_sim(world_means), covars=space.cov_to_sim(world_covs),
                            sh_rotations=space.rotation @ sh_rot @ space.rotation.T,
                            background=self.background).rgb.clamp(0, 1)

    def __call__(self, params: ParameterSet, frames: Tensor) -> Tensor:
        """(T, 3, H, W) renders of `frames` ((T,) frame indices), simulated from the initial state."""
        mpm, _ = _mpm()
        material = self.material(params)
        frozen = mpm.MaterialParams(*(t.detach() for t in material.tensors()))
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
              grad_substeps: int | None = 1, max_particles: int | None = None, device: str = "cpu",
              seed: int = 0) -> MPMVideo:
    """An MPMVideo for `cloud` (GaussianCloud, world space) under `config` (invgfx.mpm SceneConfig),
    with PhysGaussian's preprocessing (see invgfx.mpm.gaussians.prepare_particles)."""
    mpm, gaussians = _mpm()
    particles = gaussians.prepare_particles(cloud.means, cloud.covariances(), cloud.opacities, config,
                                            generator=torch.Generator().manual_seed(seed), max_particles=max_particles)
    sim = mpm.Simulator(config, particles.positions, particles.volumes, device=device)
    camera_keys = {"mpm_space_viewpoint_center": [config.grid_lim / 2] * 3, "init_radius": 2.0 * config.grid_lim}
    camera_keys.update(config.camera)
    return MPMVideo(cloud, particles, sim, camera_keys, width, height, torch.as_tensor(background, dtype=torch.float32),
                    grad_substeps)
