"""Reading and writing labelled grids: the talk's CSV, Merrell's example text, MagicaVoxel
.vox, meshes (OBJ/GLB/PLY/STL through trimesh) and PNG.

A labelled grid is a pair `(grid, names)`: `grid` an integer array (X, Y, Z), z up, and
`names` the label names, `names[grid[x, y, z]]` the module at (x, y, z). `load_grid` and
`save_grid` pick the format from the file extension. CSV, Merrell text and .vox read back
exactly what was written; PNG reads back exactly for 2D grids (Z = 1) whose names are
`#rrggbb` colours (that is how images become examples); 3D grids are written to PNG as an
isometric picture only.
"""

from __future__ import annotations

import csv
import io
import os
import re
import struct
import tempfile
from pathlib import Path

import numpy as np

from .errors import ProceduralError
from .modules import NAMES, palette

DIRECTION_NAMES = ("+x", "-x", "+y", "-y", "+z", "-z")
DIRECTIONS = np.array([(1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1)])
_UMASK = os.umask(0o022)
os.umask(_UMASK)
READABLE = (".csv", ".txt", ".vox", ".png")
WRITABLE = (".csv", ".txt", ".vox", ".png", ".obj", ".glb", ".ply", ".stl")


def write_atomic(path: str | Path, data: bytes) -> None:
    """Write `data` to a temporary file beside `path`, then rename it over `path`, so that
    a reader never sees a half-written file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _check_grid(grid: np.ndarray, names) -> np.ndarray:
    grid = np.asarray(grid)
    if grid.ndim != 3 or not np.issubdtype(grid.dtype, np.integer):
        raise ProceduralError(f"grid must be an integer array (X, Y, Z); got {grid.dtype} {grid.shape}")
    if grid.size and (grid.min() < 0 or grid.max() >= len(names)):
        raise ProceduralError(f"grid labels must lie in 0..{len(names) - 1} (one per name); got {grid.min()}..{grid.max()}")
    return grid


def neighbour_labels(grid: np.ndarray) -> np.ndarray:
    """(6, X, Y, Z) int: the label of each voxel's neighbour in the directions
    [+x, -x, +y, -y, +z, -z], -1 where the neighbour lies outside the grid."""
    padded = np.pad(grid, 1, constant_values=-1)
    X, Y, Z = grid.shape
    return np.stack([padded[1 + dx : 1 + dx + X, 1 + dy : 1 + dy + Y, 1 + dz : 1 + dz + Z] for dx, dy, dz in DIRECTIONS])


# ---------------------------------------------------------------- CSV (the talk's table)
def write_csv(path, grid, names) -> None:
    """One row per voxel, in the C order of `grid` (z fastest, then y, then x).

    Header: `x,y,z,module,` then for each direction d in +x,-x,+y,-y,+z,-z and each module
    name t a column `d:t`, 1 when the neighbour in direction d is module t. A voxel on the
    grid border has all zeros for the directions that leave the grid."""
    grid = _check_grid(grid, names)
    L = len(names)
    nb = neighbour_labels(grid).reshape(6, -1).T  # (V, 6)
    onehot = np.zeros((nb.shape[0], 6, L), np.uint8)
    v, d = np.nonzero(nb >= 0)
    onehot[v, d, nb[v, d]] = 1
    coords = np.indices(grid.shape).reshape(3, -1).T
    buf = io.StringIO()
    buf.write(",".join(["x", "y", "z", "module"] + [f"{dn}:{n}" for dn in DIRECTION_NAMES for n in names]) + "\n")
    flat = grid.ravel()
    for i in range(len(flat)):
        x, y, z = coords[i]
        buf.write(f"{x},{y},{z},{names[flat[i]]}," + ",".join("01"[b] for b in onehot[i].ravel()) + "\n")
    write_atomic(path, buf.getvalue().encode())


def read_csv(path) -> tuple[np.ndarray, list[str]]:
    """Inverse of `write_csv`; checks that every one-hot neighbour column agrees with the grid."""
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:4] != ["x", "y", "z", "module"]:
        raise ProceduralError(f"{path}: the first row must be the header 'x,y,z,module,+x:<name>,...' (see invgfx.procedural.formats.write_csv)")
    head = rows[0][4:]
    L = len(head) // 6
    names = [c.split(":", 1)[1] for c in head[:L]]
    if len(head) != 6 * L or head != [f"{dn}:{n}" for dn in DIRECTION_NAMES for n in names]:
        raise ProceduralError(f"{path}: header must list 6 blocks ({', '.join(DIRECTION_NAMES)}) of the same module names")
    index = {n: i for i, n in enumerate(names)}
    body = rows[1:]
    try:
        xyz = np.array([[int(r[0]), int(r[1]), int(r[2])] for r in body], np.int64).reshape(-1, 3)
        labels = np.array([index[r[3]] for r in body], np.int64)
    except (KeyError, ValueError, IndexError) as err:
        raise ProceduralError(f"{path}: bad row ({err}); rows are x,y,z (integers), a module name from the header, then 0/1 columns") from err
    shape = tuple(int(s) for s in xyz.max(0) + 1) if len(xyz) else (0, 0, 0)
    grid = np.full(shape, -1, np.int64)
    grid[xyz[:, 0], xyz[:, 1], xyz[:, 2]] = labels
    if (grid < 0).any() or len(body) != grid.size:
        raise ProceduralError(f"{path}: needs exactly one row per voxel of the {shape} grid; got {len(body)} rows")
    onehot = np.array([r[4:] for r in body], dtype=np.uint8).reshape(-1, 6, L)
    expect = np.zeros_like(onehot)
    nb = neighbour_labels(grid)[:, xyz[:, 0], xyz[:, 1], xyz[:, 2]].T
    v, d = np.nonzero(nb >= 0)
    expect[v, d, nb[v, d]] = 1
    bad = np.nonzero((onehot != expect).any(axis=(1, 2)))[0]
    if len(bad):
        raise ProceduralError(f"{path}: line {bad[0] + 2}: neighbour columns disagree with the modules of the neighbouring rows")
    return grid, names


# ---------------------------------------------------------------- Merrell model synthesis
_MERRELL_HEAD = "Example Model.  Do not insert or delete lines from this file.\n\nx, y, and z extents\n"


def write_merrell(path, grid, names, merrell: dict | None = None) -> None:
    """Merrell's example format: three header lines, `X Y Z`, then the labels as one block
    per z (bottom first), one line per x, y varying along the line; then an `<Objects>`
    section with one group per label number 1, 2, ... up to the largest, in order, as his loader
    reads them (a header line with the number, the `$object` lines, `#`).

    In Merrell's files a label *is* its number. `merrell` (from `read_merrell_labels`, kept in
    learned rules) gives each name the number and the object lines it had in the examples, so
    an output keeps the example's numbers and his viewer shows the example's objects; a name
    `object#N` keeps number N; other names get free numbers (`empty` is 0) and `$name`."""
    grid = _check_grid(grid, names)
    numbers = merrell_numbers(names, merrell)
    known = (merrell or {}).get("labels", {})
    X, Y, Z = grid.shape
    out_labels = np.asarray(numbers, np.int64)[grid]
    width = max(2, len(str(int(out_labels.max())))) if out_labels.size else 2
    out = [_MERRELL_HEAD, f"{X} {Y} {Z}\n\n"]
    for z in range(Z):
        for x in range(X):
            out.append(" " + " ".join(f"{v:{width}d}" for v in out_labels[x, :, z]) + " \n")
        out.append("\n")
    out.append(f"<Objects>\n{(merrell or {}).get('title', 'invgfx')}\n")
    by_number = dict(zip(numbers, names))
    for number in range(1, max(numbers, default=0) + 1):  # group k is label k's, as his loader reads them
        name = by_number.get(number)
        objects = "" if name is None else known.get(name, {}).get("objects") or f"${_MERRELL_NUMBER.sub('', name)}\n"
        out.append(f"{number}\n{objects}#\n")
    write_atomic(path, "".join(out).encode())


_MERRELL_NUMBER = re.compile(r"(?<=.)#(\d+)$")  # `wall#12`; a colour name `#806040` is not a number


def merrell_numbers(names, merrell: dict | None = None) -> list[int]:
    """The Merrell label number of each name: from `merrell` labels, else an `object#N`
    suffix, `empty` 0, and the lowest free numbers for the rest (in name order)."""
    known = (merrell or {}).get("labels", {})
    numbers: list[int | None] = []
    for name in names:
        m = _MERRELL_NUMBER.search(name)
        numbers.append(int(known[name]["number"]) if name in known else int(m.group(1)) if m else 0 if name == "empty" else None)
    used = {n for n in numbers if n is not None}
    if len(used) < sum(n is not None for n in numbers):
        raise ProceduralError("two label names map to the same Merrell label number; names: " + ", ".join(names))
    free = (n for n in range(1, len(names) + len(used) + 1) if n not in used)
    return [n if n is not None else next(free) for n in numbers]


def _merrell_groups(path, objects: str) -> tuple[str, dict[int, str]]:
    """(title line, {label number: its object lines, each ending in a newline}) of an
    `<Objects>` section, read as Merrell's own loader (load_synth.py) reads it: after the title
    (the scene file), groups end with `#`, and the k-th group holds label k's objects (label 0 has
    none). A group's first line is its header: his files have a number there, or a placeholder
    such as `somethin'`; his loader ignores it, and so does this one (with a warning where the
    number is not the group's place). The `$object` lines after it are the objects."""
    lines = objects.splitlines()
    title = lines[1].strip() if len(lines) > 1 else "invgfx"
    groups: dict[int, str] = {}
    group: list[str] = []
    misplaced = []
    for line in lines[2:]:
        if line.strip() == "#":
            if group:
                k = len(groups) + 1
                head = group[0].split()
                if head and head[0].isdigit() and int(head[0]) != k:
                    misplaced.append((k, int(head[0])))
                groups[k] = "".join(g + "\n" for g in group[1:] if g.startswith("$"))
            group = []
        elif line.strip():
            group.append(line.strip())
    if misplaced:
        import warnings

        k, n = misplaced[0]
        warnings.warn(f"{path}: <Objects>: group {k} is headed {n} ({len(misplaced)} such groups); Merrell's loader takes "
                      f"groups in order, so it shows label {k} with them, and so does this reader", stacklevel=4)
    return title, groups


def read_merrell(path) -> tuple[np.ndarray, list[str]]:
    """Read Merrell's example text (also his own samples). A label is its number: the grid's
    labels are the numbers that occur in it or in <Objects>, in increasing order (so huge or
    sparse numbers cost nothing), each named by the first object of its group (`label<N>` without one, `empty`
    for 0), `object#N` where several numbers share that object. `read_merrell_labels` gives
    the numbers and object lines back, for writing."""
    grid, numbers, names, _, _ = _read_merrell(path)
    return grid, names


def read_merrell_labels(path) -> dict:
    """{"title": the <Objects> title line, "labels": {name: {"number": N, "objects": text}}} of a
    Merrell example, for `write_merrell` (and kept in learned rules)."""
    _, numbers, names, title, groups = _read_merrell(path)
    return {"title": title, "labels": {n: {"number": int(k), "objects": groups.get(int(k), "")} for n, k in zip(names, numbers)}}


def _read_merrell(path):
    text = Path(path).read_text()
    body, _, objects = text.partition("<Objects>")
    lines = body.splitlines()
    if len(lines) < 4:
        raise ProceduralError(f"{path}: expected 3 header lines, then 'X Y Z' extents, then labels (Merrell's model-synthesis format)")
    try:
        values = [int(t) for t in " ".join(lines[3:]).split()]
    except ValueError as err:
        raise ProceduralError(f"{path}: everything after the 3 header lines and before <Objects> must be integers ({err})") from err
    if len(values) < 3 or min(values[:3]) < 1:
        raise ProceduralError(f"{path}: line 4 must hold the x y z extents (positive integers)")
    X, Y, Z = values[:3]
    labels = np.array(values[3:], np.int64)
    if len(labels) != X * Y * Z:
        raise ProceduralError(f"{path}: extents {X} {Y} {Z} need {X * Y * Z} labels; found {len(labels)}")
    if labels.min() < 0:
        raise ProceduralError(f"{path}: labels must be non-negative integers")
    title, groups = _merrell_groups(path, objects) if objects else ("invgfx", {})
    numbers = np.union1d(labels, np.array(sorted(k for k, v in groups.items() if v), np.int64))  # in the grid or given objects
    grid = np.searchsorted(numbers, labels).reshape(Z, X, Y).transpose(1, 2, 0).astype(np.int64)
    base = [groups[k].splitlines()[0].lstrip("$") if groups.get(k) else "empty" if k == 0 else f"label{k}"
            for k in numbers.tolist()]
    shared = {b for b in base if base.count(b) > 1}
    names = [f"{b}#{k}" if b in shared else b for b, k in zip(base, numbers.tolist())]
    return grid, numbers, names, title, groups


# ---------------------------------------------------------------- MagicaVoxel .vox
def _chunk(tag: bytes, content: bytes, children: bytes = b"") -> bytes:
    return tag + struct.pack("<ii", len(content), len(children)) + content + children


def write_vox(path, grid, names) -> None:
    """MagicaVoxel .vox (version 150): a SIZE and an XYZI chunk, colour index = label, and an
    RGBA palette with the module colours. Empty (label 0) voxels are not stored; sizes up to
    256 per axis and labels up to 255."""
    grid = _check_grid(grid, names)
    check_output(path, grid.shape, len(names))
    xyz = np.argwhere(grid > 0)
    voxels = np.concatenate([xyz, grid[tuple(xyz.T)][:, None]], axis=1).astype(np.uint8)
    rgba = np.full((256, 4), 255, np.uint8)
    rgba[: len(names) - 1, :3] = palette(names)[1:]  # colour index i is rgba[i - 1]
    children = (
        _chunk(b"SIZE", struct.pack("<iii", *grid.shape))
        + _chunk(b"XYZI", struct.pack("<i", len(voxels)) + voxels.tobytes())
        + _chunk(b"RGBA", rgba.tobytes())
    )
    write_atomic(path, b"VOX " + struct.pack("<i", 150) + _chunk(b"MAIN", b"", children))


def read_vox(path) -> tuple[np.ndarray, list[str]]:
    """The first model of a .vox file; label = colour index. Names are the module catalogue's
    when the palette holds its colours, else `#rrggbb` of each colour (with `/i` added to
    tell apart indices of equal colour); label 0 is `empty`."""
    data = Path(path).read_bytes()
    if data[:4] != b"VOX " or len(data) < 20 or data[8:12] != b"MAIN":
        raise ProceduralError(f"{path}: not a MagicaVoxel file (must start with 'VOX ' and a MAIN chunk)")
    pos, size, voxels, rgba = 20, None, None, None
    end = 20 + struct.unpack("<i", data[16:20])[0] + struct.unpack("<i", data[12:16])[0]
    while pos + 12 <= min(end, len(data)):
        tag = data[pos : pos + 4]
        n_content, n_children = struct.unpack("<ii", data[pos + 4 : pos + 12])
        content = data[pos + 12 : pos + 12 + n_content]
        if tag == b"SIZE" and size is None:
            size = struct.unpack("<iii", content[:12])
        elif tag == b"XYZI" and voxels is None:
            n = struct.unpack("<i", content[:4])[0]
            voxels = np.frombuffer(content[4 : 4 + 4 * n], np.uint8).reshape(n, 4)
        elif tag == b"RGBA":
            rgba = np.frombuffer(content[:1024], np.uint8).reshape(256, 4)
        pos += 12 + n_content + n_children
    if size is None or voxels is None:
        raise ProceduralError(f"{path}: no SIZE/XYZI chunk pair; the file holds no voxel model")
    grid = np.zeros(size, np.int64)
    grid[voxels[:, 0], voxels[:, 1], voxels[:, 2]] = voxels[:, 3]
    top = int(grid.max())
    catalogue = list(NAMES[: top + 1])
    if rgba is not None and len(catalogue) == top + 1 and (rgba[:top, :3] == palette(catalogue)[1:]).all():
        return grid, catalogue
    names = ["empty"]
    for i in range(1, top + 1):
        name = "#%02x%02x%02x" % tuple(rgba[i - 1, :3]) if rgba is not None else f"vox{i}"
        names.append(name if name not in names else f"{name}/{i}")
    return grid, names


# ---------------------------------------------------------------- meshes and pictures
_BOX_V = np.array([[x, y, z] for x in (0, 1) for y in (0, 1) for z in (0, 1)], np.float64)
_BOX_F = np.array(
    [[0, 1, 3], [0, 3, 2], [4, 6, 7], [4, 7, 5], [0, 4, 5], [0, 5, 1],
     [2, 3, 7], [2, 7, 6], [0, 2, 6], [0, 6, 4], [1, 5, 7], [1, 7, 3]]
)


def grid_mesh(grid, names, skip=("empty",)):
    """A trimesh.Trimesh of one unit box per voxel (corner at (x, y, z), 1 unit = 1 module),
    coloured by module, leaving out the labels named in `skip`."""
    import trimesh

    grid = _check_grid(grid, names)
    keep = ~np.isin(grid, [i for i, n in enumerate(names) if n in skip])
    xyz = np.argwhere(keep).astype(np.float64)
    if len(xyz) == 0:
        raise ProceduralError("grid has no voxels to turn into a mesh (all are empty)")
    verts = (xyz[:, None, :] + _BOX_V[None]).reshape(-1, 3)
    faces = (_BOX_F[None] + 8 * np.arange(len(xyz))[:, None, None]).reshape(-1, 3)
    rgb = palette(names)[grid[keep]]
    colors = np.concatenate([np.repeat(rgb, 12, axis=0), np.full((12 * len(xyz), 1), 255, np.uint8)], axis=1)
    return trimesh.Trimesh(vertices=verts, faces=faces, face_colors=colors, process=False)


def read_png_example(path) -> tuple[np.ndarray, list[str]]:
    """A 2D example image as a grid (W, H, 1): one label per distinct colour (names
    `#rrggbb`, in order of first appearance), x to the right, y up (image row 0 is the top)."""
    from PIL import Image

    try:
        with Image.open(path) as opened:
            rgba = np.asarray(opened.convert("RGBA"))
    except OSError as err:
        raise ProceduralError(f"{path}: cannot read as an image ({err})") from err
    if (rgba[..., 3] < 255).any():
        import warnings

        warnings.warn(f"{path}: its alpha channel is ignored: labels are the RGB colours "
                      f"({int((rgba[..., 3] < 255).sum())} pixels are not opaque)", stacklevel=2)
    img = rgba[..., :3]
    flat = img.reshape(-1, 3)
    colours, first, inverse = np.unique(flat, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    labels = rank[inverse.ravel()].reshape(img.shape[:2])
    names = ["#%02x%02x%02x" % tuple(colours[i]) for i in order]
    return labels[::-1].T[:, :, None].astype(np.int64), names


def load_grid(path) -> tuple[np.ndarray, list[str]]:
    """Read a labelled grid; the format follows the extension (.csv .txt .vox .png)."""
    path = Path(path)
    if not path.is_file():
        raise ProceduralError(f"{path}: no such file")
    readers = {".csv": read_csv, ".txt": read_merrell, ".vox": read_vox, ".png": read_png_example}
    reader = readers.get(path.suffix.lower())
    if reader is None:
        raise ProceduralError(f"{path}: cannot read '{path.suffix}' examples; use one of {', '.join(READABLE)}")
    return reader(path)


def check_output(path, shape, n_labels: int) -> None:
    """Raise ProceduralError now if a grid of `shape` with `n_labels` labels cannot be written to
    `path` (its extension, or .vox's limits), so that a long solve does not end in a refusal."""
    ext = Path(path).suffix.lower()
    if ext not in WRITABLE:
        raise ProceduralError(f"{path}: cannot write '{ext}'; use one of {', '.join(WRITABLE)}")
    if ext == ".vox" and (max(shape) > 256 or n_labels > 256):
        raise ProceduralError(f"{path}: .vox holds at most 256 voxels per axis and 255 labels; the grid is "
                              f"{'x'.join(map(str, shape))} with {n_labels} labels: write .txt, .csv or a mesh instead")


def save_grid(path, grid, names, merrell: dict | None = None, **render_options) -> None:
    """Write a labelled grid; the format follows the extension (see WRITABLE). `merrell`:
    label numbers and objects for .txt (`read_merrell_labels`). PNG: a 2D grid as an image of
    its colours, a 3D grid as an isometric picture (`render_options` go to
    `render.render_voxels`)."""
    path = Path(path)
    ext = path.suffix.lower()
    if ext == ".csv":
        write_csv(path, grid, names)
    elif ext == ".txt":
        write_merrell(path, grid, names, merrell)
    elif ext == ".vox":
        write_vox(path, grid, names)
    elif ext == ".png":
        from .render import write_png

        write_png(path, grid, names, **render_options)
    elif ext in (".obj", ".glb", ".ply", ".stl"):
        data = grid_mesh(grid, names).export(file_type=ext[1:])
        write_atomic(path, data.encode() if isinstance(data, str) else data)
    else:
        raise ProceduralError(f"{path}: cannot write '{ext}'; use one of {', '.join(WRITABLE)}")
