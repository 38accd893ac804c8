"""PLY files: exact round trips, the 3DGS layout's activations, point clouds, clear errors."""

import numpy as np
import pytest
import torch

from invgfx.splat.cloud import GaussianCloud
from invgfx.splat.errors import SplatError
from invgfx.splat.io_ply import read_ply, write_ply


def _cloud(n=50, degree=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return GaussianCloud(torch.randn(n, 3, generator=g), torch.randn(n, 4, generator=g), torch.randn(n, 3, generator=g) - 3,
                         torch.randn(n, generator=g), torch.randn(n, (degree + 1) ** 2, 3, generator=g))


@pytest.mark.parametrize("degree", [0, 1, 2, 3])
@pytest.mark.parametrize("ascii", [False, True])
def test_round_trip_is_exact(tmp_path, degree, ascii):
    cloud = _cloud(degree=degree)
    write_ply(cloud, tmp_path / "c.ply", ascii=ascii)
    back = read_ply(tmp_path / "c.ply")
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        assert torch.equal(getattr(back, name), getattr(cloud, name)), name


def _write_3dgs_layout(path, n, degree, fmt="binary_little_endian"):
    """A file laid out exactly as the 3DGS trainer saves it (x y z nx ny nz f_dc f_rest opacity scale rot)."""
    k_rest = 3 * ((degree + 1) ** 2 - 1)
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"] + [f"f_rest_{i}" for i in range(k_rest)]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    rng = np.random.default_rng(0)
    table = rng.normal(size=(n, len(names))).astype(np.float32)
    header = "ply\nformat %s 1.0\nelement vertex %d\n%send_header\n" % (fmt, n, "".join(f"property float {k}\n" for k in names))
    if fmt == "ascii":
        body = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in table).encode()
    else:
        body = table.astype("<f4" if fmt == "binary_little_endian" else ">f4").tobytes()
    path.write_bytes(header.encode() + body)
    return {k: table[:, i] for i, k in enumerate(names)}


@pytest.mark.parametrize("fmt", ["binary_little_endian", "binary_big_endian", "ascii"])
def test_3dgs_layout_activations(tmp_path, fmt):
    cols = _write_3dgs_layout(tmp_path / "p.ply", 20, degree=2, fmt=fmt)
    c = read_ply(tmp_path / "p.ply")
    assert c.sh_degree == 2
    assert torch.allclose(c.opacities, torch.sigmoid(torch.from_numpy(cols["opacity"])))
    assert torch.allclose(c.scales[:, 1], torch.from_numpy(cols["scale_1"]).exp())
    q = np.stack([cols[f"rot_{i}"] for i in range(4)], 1)
    assert torch.allclose(c.rotations, torch.from_numpy(q / np.linalg.norm(q, axis=1, keepdims=True)), atol=1e-6)
    assert torch.allclose(c.rotations.norm(dim=1), torch.ones(20))
    # f_rest is channel-major: the 8 R coefficients first, then G, then B.
    assert float(c.sh[4, 1, 0]) == float(cols["f_rest_0"][4])
    assert float(c.sh[4, 1, 1]) == float(cols["f_rest_8"][4])
    assert float(c.sh[4, 8, 2]) == float(cols["f_rest_23"][4])
    assert float(c.sh[4, 0, 2]) == float(cols["f_dc_2"][4])


def test_point_cloud_ply_loads_as_small_isotropic_gaussians(tmp_path):
    n = 400
    rng = np.random.default_rng(1)
    xyz = rng.uniform(-1, 1, size=(n, 3)).astype(np.float32)
    rgb = rng.integers(0, 256, size=(n, 3)).astype(np.uint8)
    dtype = [("x", "<f4"), ("y", "<f4"), ("z", "<f4"), ("red", "u1"), ("green", "u1"), ("blue", "u1")]
    table = np.empty(n, dtype=dtype)
    for i, k in enumerate("xyz"):
        table[k] = xyz[:, i]
    for i, k in enumerate(("red", "green", "blue")):
        table[k] = rgb[:, i]
    header = "ply\nformat binary_little_endian 1.0\nelement vertex %d\n" % n
    header += "".join(f"property {'float' if t == '<f4' else 'uchar'} {k}\n" for k, t in dtype) + "end_header\n"
    (tmp_path / "pc.ply").write_bytes(header.encode() + table.tobytes())
    c = read_ply(tmp_path / "pc.ply")
    assert torch.allclose(c.means, torch.from_numpy(xyz))
    assert torch.allclose(c.colors(), torch.from_numpy(rgb / 255.0).float(), atol=1e-5)
    s = c.scales
    assert torch.allclose(s, s[:1].expand_as(s)) and 0.005 < float(s[0, 0]) < 0.2  # isotropic, small vs the 2 m cube


def _good_file(tmp_path):
    cloud = _cloud(n=10, degree=1)
    write_ply(cloud, tmp_path / "g.ply")
    return (tmp_path / "g.ply").read_bytes()


def test_truncated_file(tmp_path):
    data = _good_file(tmp_path)
    (tmp_path / "t.ply").write_bytes(data[:-17])
    with pytest.raises(SplatError, match=r"t\.ply: truncated: the header says 10 vertices"):
        read_ply(tmp_path / "t.ply")


def test_wrong_vertex_count_in_ascii(tmp_path):
    write_ply(_cloud(n=5, degree=0), tmp_path / "a.ply", ascii=True)
    text = (tmp_path / "a.ply").read_text().replace("element vertex 5", "element vertex 7")
    (tmp_path / "a.ply").write_text(text)
    with pytest.raises(SplatError, match=r"a\.ply: the header says 7 vertices"):
        read_ply(tmp_path / "a.ply")


def test_missing_property(tmp_path):
    data = _good_file(tmp_path).replace(b"property float opacity\n", b"property float opacitx\n")
    (tmp_path / "m.ply").write_bytes(data)
    with pytest.raises(SplatError, match="missing: opacity"):
        read_ply(tmp_path / "m.ply")


def test_nan_values(tmp_path):
    cloud = _cloud(n=10, degree=0)
    cloud.log_scales[3, 1] = float("nan")
    write_ply(cloud, tmp_path / "n.ply")
    with pytest.raises(SplatError, match=r"1 Gaussian\(s\) have NaN or infinite log_scales \(first at vertex 3\)"):
        read_ply(tmp_path / "n.ply")


@pytest.mark.parametrize("content,message", [
    (b"hello", "not a PLY file"),
    (b"ply\nformat binary_little_endian 1.0\nelement face 3\nproperty list uchar int vertex_indices\nend_header\n", "list property"),
    (b"ply\nformat binary_middle_endian 1.0\nend_header\n", "unknown format"),
])
def test_not_a_gaussian_ply(tmp_path, content, message):
    (tmp_path / "x.ply").write_bytes(content)
    with pytest.raises(SplatError, match=message):
        read_ply(tmp_path / "x.ply")


def test_missing_file(tmp_path):
    with pytest.raises(SplatError, match="no such file"):
        read_ply(tmp_path / "nope.ply")
