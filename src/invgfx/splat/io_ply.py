"""PLY files: the 3D Gaussian Splatting layout (INRIA/graphdeco) and plain point clouds.

3DGS layout, one `vertex` element with float properties:
  x y z, nx ny nz (unused, written as 0), f_dc_0..2 (SH degree 0, per colour channel),
  f_rest_0..(3*(K-1)-1) (higher SH, stored channel-major: all R coefficients, then G, then B),
  opacity (logit), scale_0..2 (log standard deviation), rot_0..3 (quaternion w x y z, unnormalised).
Binary little/big endian and ASCII are read; binary little endian (or ASCII) is written.
A PLY without those properties but with x y z (and optionally red green blue / r g b) is a point
cloud and loads as small isotropic Gaussians.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from invgfx.atomic import write_atomic
from invgfx.splat.cloud import GaussianCloud
from invgfx.splat.errors import SplatError
from invgfx.splat.sh import num_sh_bases

_PLY_TYPES = {
    "char": "i1", "int8": "i1", "uchar": "u1", "uint8": "u1", "short": "i2", "int16": "i2",
    "ushort": "u2", "uint16": "u2", "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4",
    "float": "f4", "float32": "f4", "double": "f8", "float64": "f8",
}
_GAUSSIAN_KEYS = ["x", "y", "z", "f_dc_0", "f_dc_1", "f_dc_2", "opacity", "scale_0", "scale_1", "scale_2",
                  "rot_0", "rot_1", "rot_2", "rot_3"]


def _parse_header(path: Path, data: bytes) -> tuple[str, int, list[tuple[str, int, list[tuple[str, str]]]]]:
    """-> (format, byte offset of the body, elements [(name, count, [(property, numpy type)])])."""
    end = data.find(b"end_header")
    if not data.startswith(b"ply") or end < 0:
        raise SplatError(f"{path}: not a PLY file (it must start with 'ply' and have an 'end_header' line)")
    newline = data.find(b"\n", end)
    body_start = newline + 1 if newline >= 0 else len(data)
    fmt, elements = None, []
    for line_no, raw in enumerate(data[:end].decode("ascii", errors="replace").splitlines()[1:], start=2):
        words = raw.split()
        if not words or words[0] in ("comment", "obj_info"):
            continue
        if words[0] == "format":
            fmt = words[1] if len(words) > 1 else ""
            if fmt not in ("ascii", "binary_little_endian", "binary_big_endian"):
                raise SplatError(f"{path}: header line {line_no}: unknown format {fmt!r}")
        elif words[0] == "element" and len(words) == 3 and words[2].isdigit():
            elements.append((words[1], int(words[2]), []))
        elif words[0] == "property" and elements:
            if words[1] == "list":
                raise SplatError(f"{path}: element {elements[-1][0]!r} has a list property ({raw.strip()}); "
                                 "Gaussian and point-cloud PLYs have only scalar properties")
            if len(words) != 3 or words[1] not in _PLY_TYPES:
                raise SplatError(f"{path}: header line {line_no}: cannot read property {raw.strip()!r}")
            elements[-1][2].append((words[2], _PLY_TYPES[words[1]]))
        else:
            raise SplatError(f"{path}: header line {line_no}: unexpected {raw.strip()!r}")
    if fmt is None:
        raise SplatError(f"{path}: the header has no 'format' line")
    return fmt, body_start, elements


def read_ply_vertices(path: str | Path) -> dict[str, np.ndarray]:
    """The `vertex` element of a PLY file as {property name: (N,) array}."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SplatError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise SplatError(f"{path}: is a folder; give the .ply file (3DGS trainers write point_cloud/iteration_*/point_cloud.ply)") from None
    fmt, offset, elements = _parse_header(path, data)
    names = [e[0] for e in elements]
    if "vertex" not in names:
        raise SplatError(f"{path}: no 'vertex' element (found: {', '.join(names) or 'none'})")
    if names[0] != "vertex":
        raise SplatError(f"{path}: the 'vertex' element must come first (found {', '.join(names)})")
    _, count, props = elements[0]
    if fmt == "ascii":
        lines = data[offset:].decode("ascii", errors="replace").split("\n")
        rows = [ln.split() for ln in lines[:count]]
        if len(rows) < count or any(len(r) != len(props) for r in rows):
            bad = next((i for i, r in enumerate(rows) if len(r) != len(props)), len(rows))
            raise SplatError(f"{path}: the header says {count} vertices with {len(props)} values each, "
                             f"but vertex {bad} is missing or has another number of values (file truncated?)")
        try:
            table = np.array(rows, dtype=np.float64).reshape(len(rows), len(props))
        except ValueError as err:
            raise SplatError(f"{path}: a vertex value is not a number ({err})") from None
        columns = {name: table[:, i].astype(np.dtype(t)) for i, (name, t) in enumerate(props)}
    else:
        endian = "<" if fmt == "binary_little_endian" else ">"
        dtype = np.dtype([(name, endian + t) for name, t in props])
        needed = count * dtype.itemsize
        if len(data) - offset < needed:
            raise SplatError(f"{path}: truncated: the header says {count} vertices of {dtype.itemsize} bytes "
                             f"({needed} bytes), but only {len(data) - offset} bytes follow the header")
        table = np.frombuffer(data, dtype=dtype, count=count, offset=offset)
        columns = {name: table[name].astype(table[name].dtype.newbyteorder("=")) for name, _ in props}
    return columns


def read_ply(path: str | Path, point_scale: float | None = None) -> GaussianCloud:
    """Load a 3DGS PLY, or a point-cloud PLY as isotropic Gaussians of std `point_scale` m
    (default: half the mean nearest-neighbour distance estimated from the bounding box)."""
    path = Path(path)
    cols = read_ply_vertices(path)
    if not all(k in cols for k in "xyz"):
        raise SplatError(f"{path}: the vertex element lacks x, y or z")
    is_gaussian = any(k.startswith(("f_dc_", "scale_", "rot_")) or k == "opacity" for k in cols)
    cloud = _gaussians_from_columns(path, cols) if is_gaussian else _points_from_columns(path, cols, point_scale)
    for name in ("means", "quats", "log_scales", "opacity_logits", "sh"):
        t = getattr(cloud, name)
        bad = ~torch.isfinite(t.reshape(len(cloud), -1)).all(1)
        if bad.any():
            raise SplatError(f"{path}: {int(bad.sum())} Gaussian(s) have NaN or infinite {name} "
                             f"(first at vertex {int(bad.nonzero()[0])})")
    if len(cloud) == 0:
        raise SplatError(f"{path}: has no vertices; there is nothing to render or simulate")
    _warn_oversized(path, cloud)
    return cloud


def _warn_oversized(path: Path, cloud: GaussianCloud) -> None:
    """Warn about Gaussians larger than the whole scene: scale_* that are not log standard
    deviations (a file from another convention) blanket the image in one colour."""
    extent = float((cloud.means.amax(0) - cloud.means.amin(0)).max()) or 1.0
    big = (cloud.log_scales.amax(1) > np.log(100 * extent)).nonzero()
    if len(big):
        import warnings

        warnings.warn(f"{path}: {len(big)} Gaussian(s) are over 100x the scene's {extent:.3g} extent (log scale up to "
                      f"{float(cloud.log_scales.max()):.3g}, first at vertex {int(big[0])}); scale_0..2 are read as log "
                      "standard deviations, as 3DGS writes them: check the file's convention", stacklevel=3)


def _gaussians_from_columns(path: Path, cols: dict[str, np.ndarray]) -> GaussianCloud:
    missing = [k for k in _GAUSSIAN_KEYS if k not in cols]
    if missing:
        raise SplatError(f"{path}: a 3D Gaussian Splatting PLY needs the properties {', '.join(_GAUSSIAN_KEYS)}; "
                         f"missing: {', '.join(missing)}")
    rest = sorted((k for k in cols if k.startswith("f_rest_")), key=lambda k: int(k.split("_")[-1]))
    if [int(k.split("_")[-1]) for k in rest] != list(range(len(rest))):
        raise SplatError(f"{path}: the f_rest_* properties must be numbered 0..{len(rest) - 1} without gaps")
    k_rest = len(rest) // 3
    if len(rest) % 3 or k_rest + 1 not in (num_sh_bases(d) for d in range(4)):
        raise SplatError(f"{path}: {len(rest)} f_rest_* properties; expected 0, 9, 24 or 45 (SH degree 0-3)")

    def stack(keys):
        return torch.from_numpy(np.stack([cols[k].astype(np.float32) for k in keys], 1))

    means = stack(["x", "y", "z"])
    dc = stack(["f_dc_0", "f_dc_1", "f_dc_2"])[:, None, :]  # (N, 1, 3)
    sh = dc
    if k_rest:
        sh_rest = stack(rest).reshape(-1, 3, k_rest).transpose(1, 2)  # channel-major on disk
        sh = torch.cat([dc, sh_rest], 1)
    quats = stack(["rot_0", "rot_1", "rot_2", "rot_3"])
    zero = (quats.norm(dim=1) == 0).nonzero()
    if len(zero):
        raise SplatError(f"{path}: vertex {int(zero[0])} has the zero quaternion rot_0..3 = 0 (no rotation is defined)")
    return GaussianCloud(means, quats, stack(["scale_0", "scale_1", "scale_2"]), torch.from_numpy(cols["opacity"].astype(np.float32)), sh.contiguous())


def _points_from_columns(path: Path, cols: dict[str, np.ndarray], point_scale: float | None) -> GaussianCloud:
    means = torch.from_numpy(np.stack([cols[k].astype(np.float32) for k in "xyz"], 1))
    n = len(means)
    if n == 0:
        raise SplatError(f"{path}: the point cloud has no points")
    for names in (("red", "green", "blue"), ("r", "g", "b"), ("diffuse_red", "diffuse_green", "diffuse_blue")):
        if all(k in cols for k in names):
            raw = np.stack([cols[k] for k in names], 1)
            scale = 255.0 if np.issubdtype(raw.dtype, np.integer) or raw.max() > 1.0 else 1.0
            colors = torch.from_numpy((raw / scale).astype(np.float32))
            break
    else:
        colors = torch.full((n, 3), 0.7)
    if point_scale is None:
        extent = (means.amax(0) - means.amin(0)).clamp_min(1e-6)
        # Points spread over a surface: spacing ~ sqrt(area / n), area ~ that of the box's largest face.
        area = float(extent.sort().values[1:].prod())
        point_scale = 0.5 * (area / n) ** 0.5
    return GaussianCloud.from_activated(means, torch.full((n,), float(point_scale)), colors, 0.9)


def write_ply(cloud: GaussianCloud, path: str | Path, ascii: bool = False) -> None:
    """Write the 3DGS layout (opens in 3DGS viewers and trainers); written atomically."""
    path = Path(path)
    c = cloud.detach().to("cpu", torch.float32)
    n, k = len(c), c.sh.shape[1]
    columns = {"x": c.means[:, 0], "y": c.means[:, 1], "z": c.means[:, 2]}
    for name in ("nx", "ny", "nz"):
        columns[name] = torch.zeros(n)
    for i in range(3):
        columns[f"f_dc_{i}"] = c.sh[:, 0, i]
    rest = c.sh[:, 1:].transpose(1, 2).reshape(n, -1)  # channel-major, as 3DGS stores it
    for i in range(3 * (k - 1)):
        columns[f"f_rest_{i}"] = rest[:, i]
    columns["opacity"] = c.opacity_logits
    for i in range(3):
        columns[f"scale_{i}"] = c.log_scales[:, i]
    for i in range(4):
        columns[f"rot_{i}"] = c.quats[:, i]
    table = np.stack([v.numpy() for v in columns.values()], 1).astype(np.float32)
    header = ["ply", f"format {'ascii' if ascii else 'binary_little_endian'} 1.0", f"element vertex {n}"]
    header += [f"property float {name}" for name in columns] + ["end_header"]
    head = ("\n".join(header) + "\n").encode("ascii")
    if ascii:
        body = "".join(" ".join(repr(float(v)) for v in row) + "\n" for row in table).encode("ascii")
    else:
        body = table.astype("<f4").tobytes()
    write_atomic(path, head + body)

