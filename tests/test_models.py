"""Shipped weights by name (issue 38): `invgfx models` lists every file under invgfx/**/weights/,
and each checkpoint option takes the name wherever it takes a path."""

from pathlib import Path

import pytest

import invgfx
from invgfx import InvgfxError
from invgfx.cli import main
from invgfx.models import SHIPPED, resolve_weights, shipped_path


def test_every_shipped_file_has_a_name_and_invgfx_models_lists_it(capsys):
    files = sorted(Path(invgfx.__file__).parent.glob("**/weights/*.safetensors"))
    assert files and sorted(shipped_path(name) for name in SHIPPED) == files
    assert main(["models"]) == 0
    out = capsys.readouterr().out
    for name in SHIPPED:
        assert f"{name} " in out and str(shipped_path(name)) in out


def test_a_name_resolves_to_the_shipped_file_a_path_to_itself(tmp_path):
    assert resolve_weights("faces", "--checkpoint", "dcign") == str(shipped_path("faces"))
    assert resolve_weights("denoiser", "--weights", "video-prior") == str(shipped_path("denoiser"))
    mine = tmp_path / "faces"  # a file of the user's called like a shipped name wins
    mine.write_text("")
    assert resolve_weights(str(mine), "--checkpoint", "dcign") == str(mine)
    with pytest.raises(InvgfxError, match=r"--checkpoint denoiser: no such file.*\(faces;"):
        resolve_weights("denoiser", "--checkpoint", "dcign")  # another kind's name is not offered
    assert resolve_weights("org/some-model", "--model", "video-prior", strict=False) == "org/some-model"  # a hub id


def test_ign_rerender_takes_the_shipped_faces_by_name(tmp_path, capsys):
    import numpy as np
    from PIL import Image

    Image.fromarray(np.full((64, 64), 128, np.uint8)).save(tmp_path / "face.png")
    out = tmp_path / "turned.png"
    assert main(["ign", "rerender", str(tmp_path / "face.png"), "--checkpoint", "faces", "--azimuth", "30",
                 "--out", str(out)]) == 0
    assert out.stat().st_size > 0
