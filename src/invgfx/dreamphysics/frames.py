"""Frame interpolation (paper section 3.3): simulate M x T frames at the simulation frame rate,
and feed the video model M interleaved T-frame videos in turn."""

from __future__ import annotations

import torch
from torch import Tensor

from invgfx.dreamphysics.errors import DreamPhysicsError


def group_frames(group: int, groups: int, frames_per_group: int) -> Tensor:
    """(T,) long: the simulated frames of group i, i.e. i, i + M, ..., i + M (T - 1), of the M T
    frames 0 .. M T - 1 (frame 0 is the initial state)."""
    if groups < 1 or frames_per_group < 1:
        raise DreamPhysicsError(f"groups={groups}, frames_per_group={frames_per_group}: both must be at least 1")
    if not 0 <= group < groups:
        raise DreamPhysicsError(f"group={group}: must be in [0, {groups})")
    return group + groups * torch.arange(frames_per_group)


def group_of_epoch(epoch: int, groups: int) -> int:
    """The group fed at `epoch` (groups alternate: epoch mod M)."""
    return epoch % groups
