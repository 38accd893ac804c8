"""The interface every video prior implements, and what a prior is conditioned on.

A prior judges a rendered video: `prior.loss(video, condition, generator)` returns a scalar
whose gradient w.r.t. the video is the prior's guidance (for SDS, w(t)(eps_hat - eps) pushed
back through the encoder; for a reference video, the gradient of an image loss).
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass

import torch
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError


@dataclass(frozen=True)
class Condition:
    """What a prior judges a video against; each prior reads the fields it needs.

    frames: (T,) long, indices of the rendered frames in the simulated sequence (a reference
        video supplies the same frames of its target);
    text: the prompt of a text-to-video prior;
    image: (3, H, W) in [0, 1], the conditioning image of an image-to-video prior (the first
        frame of the simulation, as in the paper);
    azimuth, elevation: camera direction relative to the object's front, radians, for
        view-dependent prompts.
    """

    frames: Tensor | None = None
    text: str | None = None
    image: Tensor | None = None
    azimuth: float | None = None
    elevation: float | None = None


class VideoPrior(abc.ABC):
    """A differentiable judgement of a video. Subclasses implement `loss`."""

    @abc.abstractmethod
    def loss(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        """video (T, 3, H, W) in [0, 1], differentiable -> scalar loss; `generator` drives any
        randomness (noise level, noise) so that a run is reproducible and resumable."""

    def judge(self, video: Tensor, condition: Condition, generator: torch.Generator | None = None) -> Tensor:
        """A scalar, lower for a more plausible video, compared across parameter values (the start
        search of `learn`): the loss itself unless a prior's loss value is no judgement (SDS's is a
        denoising residual)."""
        return self.loss(video, condition, generator)


def check_video(video: Tensor, who: str) -> None:
    if video.ndim != 4 or video.shape[1] != 3:
        raise DreamPhysicsError(f"{who}: video has shape {tuple(video.shape)}, expected (T, 3, H, W) in [0, 1]")


def view_suffix(azimuth: float, elevation: float = 0.0) -> str:
    """DreamFusion's view-dependent prompt suffix for a camera at `azimuth`, `elevation`
    (radians, azimuth 0 = in front of the object)."""
    if elevation > math.radians(60):
        return "overhead view"
    a = abs(math.remainder(azimuth, 2 * math.pi))
    if a < math.radians(45):
        return "front view"
    if a > math.radians(135):
        return "back view"
    return "side view"


def prompt_for(condition: Condition, who: str, view_dependent: bool) -> str:
    """The prompt of `condition`, with the view suffix when asked and a camera direction is known."""
    if not condition.text:
        raise DreamPhysicsError(f"{who}: condition.text is empty; a text prompt such as 'a ball bouncing on the floor' is needed")
    if view_dependent and condition.azimuth is not None:
        return f"{condition.text}, {view_suffix(condition.azimuth, condition.elevation or 0.0)}"
    return condition.text
