"""PNG, MP4 and GIF writers and readers; image grids."""

import pytest
import torch

from invgfx.splat.errors import SplatError
from invgfx.splat.io_image import image_grid, read_image, read_video, write_png, write_video


def test_png_round_trip(tmp_path):
    img = torch.rand(3, 10, 14, generator=torch.Generator().manual_seed(0))
    write_png(tmp_path / "a.png", img)
    back = read_image(tmp_path / "a.png")
    assert back.shape == (3, 10, 14) and (back - img).abs().max() <= 0.5 / 255 + 1e-6


@pytest.mark.parametrize("suffix,tol", [(".mp4", 0.06), (".gif", 0.02)])
def test_video_round_trip(tmp_path, suffix, tol):
    # Flat colours survive the codecs nearly unchanged; odd sizes are padded for H.264.
    colors = torch.tensor([[0.9, 0.1, 0.1], [0.1, 0.8, 0.2], [0.2, 0.3, 0.9], [0.5, 0.5, 0.5]])
    frames = colors[:, :, None, None].expand(4, 3, 33, 31).contiguous()
    write_video(tmp_path / f"v{suffix}", frames, fps=10)
    back = read_video(tmp_path / f"v{suffix}")
    assert back.shape[0] == 4 and back.shape[1] == 3
    means = back[:, :, 4:-4, 4:-4].mean(dim=(2, 3))
    assert (means - colors).abs().max() < tol


def test_png_frame_folder_is_lossless_where_gif_and_mp4_are_not(tmp_path):
    """Smooth noisy frames, as a render is: the PNG folder gives back the 8-bit values exactly (so a
    shorter video written over a longer one leaves no old frames); GIF and MP4 move them."""
    gen = torch.Generator().manual_seed(0)
    frames = (torch.linspace(0, 1, 24)[None, None, None, :] * torch.rand(5, 3, 1, 1, generator=gen)
              + 0.05 * torch.rand(5, 3, 20, 24, generator=gen)).clamp(0, 1)
    write_video(tmp_path / "long", torch.cat([frames, frames]))
    write_video(tmp_path / "long", frames)
    back = read_video(tmp_path / "long")
    assert back.shape == frames.shape and (back - frames).abs().max() <= 0.5 / 255 + 1e-6
    for suffix in (".gif", ".mp4"):
        write_video(tmp_path / f"v{suffix}", frames)
        assert (read_video(tmp_path / f"v{suffix}")[:, :, :20, :24] - frames).abs().max() > 4 / 255
    with pytest.raises(SplatError, match="without PNG frames"):
        read_video(tmp_path / "long" / "..")
    (tmp_path / "mixed").mkdir()
    (tmp_path / "mixed" / "notes.txt").write_text("mine")
    with pytest.raises(SplatError, match="holds files other than frame_"):
        write_video(tmp_path / "mixed", frames)  # never replaces a folder with the user's files
    assert (tmp_path / "mixed" / "notes.txt").exists() and not list(tmp_path.glob("*.partial"))


def test_a_jpg_path_gets_jpeg_bytes(tmp_path):
    img = torch.rand(3, 10, 14, generator=torch.Generator().manual_seed(0))
    write_png(tmp_path / "a.jpg", img)
    assert (tmp_path / "a.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # JPEG's magic, not PNG's
    assert read_image(tmp_path / "a.jpg").shape == (3, 10, 14)


def test_grid_layout():
    imgs = torch.stack([torch.full((3, 4, 5), float(i) / 5) for i in range(5)])
    grid = image_grid(imgs, nrow=3, padding=1)
    assert grid.shape == (3, 2 * 5 + 1, 3 * 6 + 1)
    assert float(grid[0, 1 + 5, 1 + 6]) == pytest.approx(4 / 5)  # 5th image: second row, second column


def test_errors(tmp_path):
    with pytest.raises(SplatError, match="unknown video suffix"):
        write_video(tmp_path / "v.avi", torch.zeros(2, 3, 4, 4))
    (tmp_path / "x.png").write_text("not an image")
    with pytest.raises(SplatError, match="not an image file"):
        read_image(tmp_path / "x.png")
    assert not list(tmp_path.glob(".v*"))  # no temporary files left behind
