"""Images and videos a person looks at: PNG, MP4 (imageio-ffmpeg ships its own ffmpeg), GIF, grids.

Images are float tensors in [0, 1]: (3, H, W) colour or (H, W) grey; videos are (T, 3, H, W).
Every writer is atomic (temporary file + rename). A video is also a folder of PNG frames
(`frame_00000.png`, ...; a path without a suffix): the one lossless form. MP4 (H.264, 4:2:0
chroma) and GIF (a 256-colour palette) change the pixels, which matters where a video is a
target to fit (LOSSY_VIDEO).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from invgfx.atomic import atomic_output
from invgfx.splat.errors import SplatError


def to_uint8(image: Tensor) -> np.ndarray:
    """(3, H, W) or (H, W) float in [0, 1] -> (H, W, 3) or (H, W) uint8."""
    x = image.detach().float().cpu().clamp(0, 1)
    if x.ndim == 3:
        if x.shape[0] not in (1, 3):
            raise SplatError(f"image has shape {tuple(x.shape)}; expected (3, H, W), (1, H, W) or (H, W)")
        x = x.permute(1, 2, 0) if x.shape[0] == 3 else x[0]
    return (x * 255 + 0.5).to(torch.uint8).numpy()


def write_png(path: str | Path, image: Tensor) -> None:
    """(3, H, W) or (H, W) in [0, 1] as a PNG, or as a JPEG (quality 95) where the path ends in
    .jpg / .jpeg, so that the bytes are what the name says."""
    from PIL import Image

    jpeg = Path(path).suffix.lower() in (".jpg", ".jpeg")
    with atomic_output(path) as tmp:
        Image.fromarray(to_uint8(image)).save(tmp, format="JPEG" if jpeg else "PNG", **({"quality": 95} if jpeg else {}))


def read_image(path: str | Path) -> Tensor:
    """An image file -> (3, H, W) float in [0, 1] (grey and RGBA are converted to RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"), dtype=np.float32) / 255.0
    except FileNotFoundError:
        raise SplatError(f"{path}: no such file") from None
    except UnidentifiedImageError:
        raise SplatError(f"{path}: not an image file PIL can read (PNG, JPEG, ...)") from None
    return torch.from_numpy(arr).permute(2, 0, 1).contiguous()


LOSSY_VIDEO = (".mp4", ".gif", ".mov", ".avi", ".webm", ".mkv")


def check_video_path(path: str | Path) -> Path:
    """`path` as write_video takes it, checked before any work: .mp4, .gif, or a folder for PNG
    frames (no suffix) that is new or holds only frame_*.png (it is replaced)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix in (".mp4", ".gif"):
        return path
    if suffix:
        raise SplatError(f"{path}: unknown video suffix {suffix!r}; use .mp4, .gif or no suffix (a folder of PNG frames)")
    if path.is_file():
        raise SplatError(f"{path}: is a file; a folder of PNG frames needs a folder path")
    if path.is_dir() and any(not (f.name.startswith("frame_") and f.suffix == ".png") for f in path.iterdir()):
        raise SplatError(f"{path}: holds files other than frame_*.png; write the PNG frames into a new folder")
    return path


def write_video(path: str | Path, frames: Tensor | list[Tensor], fps: float = 25.0) -> None:
    """Write (T, 3, H, W) frames in [0, 1] as .mp4 (H.264), .gif, or, for a path without a
    suffix, a folder of PNG frames (lossless; `fps` is not stored there)."""
    import imageio.v2 as imageio

    import shutil

    path = check_video_path(path)
    arrays = [to_uint8(f) for f in frames]
    if not arrays:
        raise SplatError(f"{path}: no frames to write")
    suffix = path.suffix.lower()
    if not suffix:  # written beside, then put in place: no mix of old and new frames
        partial = path.with_name(path.name + ".partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        for k, frame in enumerate(frames):
            write_png(partial / f"frame_{k:05d}.png", frame)
        if path.exists():
            shutil.rmtree(path)  # frame_*.png only (check_video_path)
        partial.rename(path)
        return
    with atomic_output(path) as tmp:
        if suffix == ".gif":
            imageio.mimsave(tmp, arrays, format="GIF", duration=1.0 / fps, loop=0)
        elif suffix == ".mp4":
            # H.264 wants even sizes; pad by repeating the last row/column.
            h, w = arrays[0].shape[:2]
            pad = ((0, h % 2), (0, w % 2)) + (((0, 0),) if arrays[0].ndim == 3 else ())
            arrays = [np.pad(a, pad, mode="edge") for a in arrays]
            with imageio.get_writer(tmp, format="FFMPEG", fps=fps, codec="libx264", quality=8,
                                    macro_block_size=1, pixelformat="yuv420p") as writer:
                for a in arrays:
                    writer.append_data(a)


def read_video(path: str | Path) -> Tensor:
    """A video file (.mp4, .gif, ...) or a folder of frames (PNG, read in name order) ->
    (T, 3, H, W) float in [0, 1]."""
    import imageio.v2 as imageio

    if Path(path).is_dir():
        names = sorted(Path(path).glob("frame_*.png")) or sorted(Path(path).glob("*.png"))
        if not names:
            raise SplatError(f"{path}: a folder without PNG frames; a video folder holds frame_00000.png, ...")
        return torch.stack([read_image(n) for n in names])
    try:
        frames = imageio.mimread(path, memtest=False)
    except FileNotFoundError:
        raise SplatError(f"{path}: no such file") from None
    except (OSError, ValueError, RuntimeError) as err:
        raise SplatError(f"{path}: cannot read it as a video ({err})") from None
    out = []
    for f in frames:
        f = np.asarray(f)
        f = np.repeat(f[..., None], 3, -1) if f.ndim == 2 else f[..., :3]
        out.append(torch.from_numpy(f.astype(np.float32) / 255.0).permute(2, 0, 1))
    return torch.stack(out)


def image_grid(images: Tensor | list[Tensor], nrow: int, padding: int = 2, pad_value: float = 1.0) -> Tensor:
    """Tile (B, 3, H, W) images (or a list of (3, H, W) / (H, W)) into rows of `nrow` -> (3, H', W')."""
    imgs = [im if im.ndim == 3 else im[None].expand(3, -1, -1) for im in images]
    imgs = [im.expand(3, -1, -1) if im.shape[0] == 1 else im for im in imgs]
    if not imgs:
        raise SplatError("image_grid: no images")
    h, w = imgs[0].shape[1:]
    ncol = min(nrow, len(imgs))
    nrows = (len(imgs) + nrow - 1) // nrow
    grid = torch.full((3, nrows * (h + padding) + padding, ncol * (w + padding) + padding), pad_value)
    for i, im in enumerate(imgs):
        r, c = divmod(i, nrow)
        grid[:, padding + r * (h + padding):padding + r * (h + padding) + h,
             padding + c * (w + padding):padding + c * (w + padding) + w] = im.detach().float().cpu()
    return grid
