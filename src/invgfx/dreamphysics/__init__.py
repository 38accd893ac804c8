"""DreamPhysics: learn physical parameters of Gaussian objects by distilling a video prior's
judgement of their simulated, rendered motion (Huang et al. 2024), with a reference-video
mode (PhysDreamer style) and an analytic prior that gives a known answer.

    params = ParameterSet([scalar("E", 1e4, lo=1e3, hi=1e8)])
    prior = ReferenceVideoPrior("target.mp4")          # or TextToVideoSDS / ImageToVideoSDS
    history = learn(simulate, params, prior, LearnConfig(groups=4, frames_per_group=8))

`simulate(params, frames) -> (T, 3, H, W)` is any differentiable simulator + renderer that
starts from the initial state on each call (see loop.py).
"""

from invgfx import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "ImageToVideoModel": "diffusion",
    "ImageToVideoSDS": "diffusion",
    "TextToVideoModel": "diffusion",
    "TextToVideoSDS": "diffusion",
    "load_image_to_video": "diffusion",
    "load_text_to_video": "diffusion",
    "save_components": "diffusion",
    "DreamPhysicsError": "errors",
    "group_frames": "frames",
    "group_of_epoch": "frames",
    "LearnConfig": "loop",
    "learn": "loop",
    "ParameterSet": "params",
    "PhysicalParameter": "params",
    "field": "params",
    "regions": "params",
    "scalar": "params",
    "Condition": "prior",
    "VideoPrior": "prior",
    "view_suffix": "prior",
    "ReferenceVideoPrior": "reference",
    "ssim": "reference",
    "video_loss": "reference",
    "AnalyticSDSPrior": "sds",
    "sds_loss": "sds",
    "LogUpdate": "updates",
})

__all__ = [
    "AnalyticSDSPrior", "Condition", "DreamPhysicsError", "ImageToVideoModel", "ImageToVideoSDS", "LearnConfig",
    "LogUpdate", "ParameterSet", "PhysicalParameter", "ReferenceVideoPrior", "TextToVideoModel", "TextToVideoSDS",
    "VideoPrior", "field", "group_frames", "group_of_epoch", "learn", "load_image_to_video", "load_text_to_video",
    "regions", "save_components", "scalar", "sds_loss", "ssim", "video_loss", "view_suffix",
]
