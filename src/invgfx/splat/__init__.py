"""The shared core: 3D Gaussian scenes, cameras, PLY / cameras.json I/O, the differentiable
renderer, and image/video output. Knows nothing of the applications built on it."""

from invgfx.splat.camera import (
    Camera, camera_from_physgaussian, intrinsics_from_fov, load_cameras_json, look_at, orbit_camera, orbit_path,
    save_cameras_json, static_path,
)
from invgfx.splat.cloud import GaussianCloud
from invgfx.splat.errors import SplatError
from invgfx.splat.io_image import image_grid, read_image, read_video, write_png, write_video
from invgfx.splat.io_ply import read_ply, write_ply
from invgfx.splat.render import RenderResult, render_cloud, render_gaussians

__all__ = [
    "Camera", "GaussianCloud", "RenderResult", "SplatError", "camera_from_physgaussian", "image_grid",
    "intrinsics_from_fov", "load_cameras_json", "look_at", "orbit_camera", "orbit_path", "read_image", "read_ply",
    "read_video", "render_cloud", "render_gaussians", "save_cameras_json", "static_path", "write_png", "write_ply",
    "write_video",
]
