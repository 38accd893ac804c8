"""A tiny analytic simulator for the optimisation loop: a Gaussian blob on a damped spring.

It stands in for MPM wherever the physics itself is not the point (tests, examples): the
blob's displacement x(t) = A exp(-z t) (cos(w t) + z / w sin(w t)), w = sqrt(k / m - z^2),
is differentiable in the stiffness k, and `render_gaussians` turns it into a video.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from invgfx.dreamphysics.params import ParameterSet
from invgfx.splat import orbit_camera, render_gaussians


@dataclass
class SpringBlob:
    """A blob of std `radius` m released from x = `amplitude` m at rest on a spring of stiffness
    k = params["stiffness"] (N/m), mass `mass` kg, damping rate `damping` 1/s (underdamped for
    k > mass damping^2); frame k is at t = k frame_dt s; seen from 2 m at size x size pixels."""

    amplitude: float = 0.3
    damping: float = 0.5
    mass: float = 1.0
    radius: float = 0.12
    frame_dt: float = 0.025
    size: int = 32

    def displacement(self, stiffness: Tensor, frames: Tensor) -> Tensor:
        """(T,) x in m at the given frames, differentiable w.r.t. the stiffness (1,)."""
        t = frames.to(torch.float32) * self.frame_dt
        w = (stiffness / self.mass - self.damping**2).clamp_min(1e-6).sqrt()
        return self.amplitude * torch.exp(-self.damping * t) * (torch.cos(w * t) + self.damping / w * torch.sin(w * t))

    def __call__(self, params: ParameterSet, frames: Tensor) -> Tensor:
        """(T, 3, size, size) video of the frames in [0, 1]."""
        x = self.displacement(params["stiffness"].value, frames)
        means = torch.stack([x, torch.zeros_like(x), torch.zeros_like(x)], 1)  # (T, 3): moving along world x
        camera = orbit_camera(-math.pi / 2, 0.0, 2.0, width=self.size, height=self.size)
        covars = torch.eye(3)[None] * self.radius**2
        color = torch.tensor([[1.0, 0.6, 0.2]])
        return torch.stack([
            render_gaussians(m[None], torch.tensor([0.95]), color, camera.viewmat.float(), camera.K.float(),
                             self.size, self.size, covars=covars, background=torch.tensor([0.1, 0.1, 0.3])).rgb
            for m in means
        ])
