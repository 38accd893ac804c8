"""DreamPhysics: learn physical parameters of Gaussian objects by distilling a video prior's
judgement of their simulated, rendered motion (Huang et al. 2024), with a reference-video
mode (PhysDreamer style) and an analytic prior that gives a known answer.

    params = ParameterSet([scalar("E", 1e4, lo=1e3, hi=1e8)])
    prior = ReferenceVideoPrior("target.mp4")          # or TextToVideoSDS / ImageToVideoSDS
    history = learn(simulate, params, prior, LearnConfig(groups=4, frames_per_group=8))

`simulate(params, frames) -> (T, 3, H, W)` is any differentiable simulator + renderer that
starts from the initial state on each call (see loop.py).
"""

from invgfx.dreamphysics.diffusion import (
    ImageToVideoModel, ImageToVideoSDS, TextToVideoModel, TextToVideoSDS, load_image_to_video, load_text_to_video,
    save_components,
)
from invgfx.dreamphysics.errors import DreamPhysicsError
from invgfx.dreamphysics.frames import group_frames, group_of_epoch
from invgfx.dreamphysics.loop import LearnConfig, learn
from invgfx.dreamphysics.params import ParameterSet, PhysicalParameter, field, regions, scalar
from invgfx.dreamphysics.prior import Condition, VideoPrior, view_suffix
from invgfx.dreamphysics.reference import ReferenceVideoPrior, ssim, video_loss
from invgfx.dreamphysics.sds import AnalyticSDSPrior, sds_loss
from invgfx.dreamphysics.updates import LogUpdate

__all__ = [
    "AnalyticSDSPrior", "Condition", "DreamPhysicsError", "ImageToVideoModel", "ImageToVideoSDS", "LearnConfig",
    "LogUpdate", "ParameterSet", "PhysicalParameter", "ReferenceVideoPrior", "TextToVideoModel", "TextToVideoSDS",
    "VideoPrior", "field", "group_frames", "group_of_epoch", "learn", "load_image_to_video", "load_text_to_video",
    "regions", "save_components", "scalar", "sds_loss", "ssim", "video_loss", "view_suffix",
]
