"""The shared core: 3D Gaussian scenes, cameras, PLY / cameras.json I/O, the differentiable
renderer, and image/video output. Knows nothing of the applications built on it."""

from invgfx import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "Camera": "camera",
    "camera_from_physgaussian": "camera",
    "intrinsics_from_fov": "camera",
    "load_cameras_json": "camera",
    "look_at": "camera",
    "orbit_camera": "camera",
    "orbit_path": "camera",
    "save_cameras_json": "camera",
    "static_path": "camera",
    "GaussianCloud": "cloud",
    "SplatError": "errors",
    "image_grid": "io_image",
    "read_image": "io_image",
    "read_video": "io_image",
    "write_png": "io_image",
    "write_video": "io_image",
    "read_ply": "io_ply",
    "write_ply": "io_ply",
    "RenderResult": "render",
    "render_cloud": "render",
    "render_gaussians": "render",
})

__all__ = [
    "Camera", "GaussianCloud", "RenderResult", "SplatError", "camera_from_physgaussian", "image_grid",
    "intrinsics_from_fov", "load_cameras_json", "look_at", "orbit_camera", "orbit_path", "read_image", "read_ply",
    "read_video", "render_cloud", "render_gaussians", "save_cameras_json", "static_path", "write_png", "write_ply",
    "write_video",
]
