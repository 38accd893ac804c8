"""Example grids with large structures, in the manner of Merrell's model-synthesis examples:
a castle (walls enclosing a courtyard, corner towers, a gate, a keep) and a city block (five
storey buildings along streets). Several label numbers share an object name, as in his files
(two floors are `$ground`, the walls along x and y are both `$wall`): a label is its number.

2D examples in the manner of WFC's samples: `garden()` (flowers on a soil row, which WFC's
"ground" keeps at the bottom) and `rooms()` (a floor plan), with labels named by their colours.

`castle()` and `city()` return (grid, names, merrell): a labelled grid (X, Y, Z), z up, its
names (`object#N` where numbers share an object) and the Merrell labels for `save_grid(...,
merrell=...)`, so the .txt written is the example with its own numbers and objects.
"""

from __future__ import annotations

import numpy as np

CASTLE_OBJECTS = {1: "ground", 2: "ground", 3: "wall", 4: "wall", 5: "battlement", 6: "battlement", 7: "tower",
                  8: "tower_top", 9: "keep", 10: "keep", 11: "roof", 12: "gate"}
CITY_OBJECTS = {1: "road", 2: "road", 3: "crossing", 4: "pavement", 5: "facade", 6: "facade", 7: "window", 8: "window",
                9: "building", 10: "roof", 11: "parapet"}


def _labelled(numbers: np.ndarray, objects: dict[int, str], title: str):
    """(grid, names, merrell) of a grid of Merrell label numbers (0: empty)."""
    present = np.union1d(np.unique(numbers), [0])
    shared = {o for o in objects.values() if list(objects.values()).count(o) > 1}
    names = ["empty" if k == 0 else f"{objects[k]}#{k}" if objects[k] in shared else objects[k] for k in present.tolist()]
    labels = {n: {"number": int(k), "objects": f"${objects[k]}\n"} for n, k in zip(names, present.tolist()) if k}
    return np.searchsorted(present, numbers), names, {"title": title, "labels": labels}


def castle(size: int = 26, height: int = 8):
    """A walled courtyard (size x size voxels, `height` layers): ground outside, a courtyard
    floor inside, walls three voxels high with battlements, 2 x 2 corner towers, a gate, and a
    five-storey keep with windows in the middle."""
    X = Y = size
    g = np.zeros((X, Y, height), np.int64)
    g[:, :, 0] = 1
    lo, hi = 3, size - 4
    g[lo:hi + 1, lo:hi + 1, 0] = 2
    for z in range(1, 4):
        g[lo:hi + 1, [lo, hi], z] = 3
        g[[lo, hi], lo:hi + 1, z] = 4
    g[lo:hi + 1, [lo, hi], 4] = 5
    g[[lo, hi], lo:hi + 1, 4] = 6
    g[lo:hi + 1:2, lo, 4] = g[lo:hi + 1:2, hi, 4] = 0  # crenels
    for cx in (lo, hi - 1):
        for cy in (lo, hi - 1):
            g[cx:cx + 2, cy:cy + 2, 1:6] = 7
            g[cx:cx + 2, cy:cy + 2, 6] = 8
    mid = size // 2
    g[mid - 1:mid + 1, lo, 1:3] = 12
    k0, k1 = mid - 3, mid + 3
    g[k0:k1, k0:k1, 1:6] = 9
    for z in (2, 4):
        g[k0 + 1:k1 - 1:2, [k0, k1 - 1], z] = 10
        g[[k0, k1 - 1], k0 + 1:k1 - 1:2, z] = 10
    g[k0:k1, k0:k1, 6] = 11
    return _labelled(g, CASTLE_OBJECTS, "invgfx castle example")


def city(blocks: int = 2, block: int = 10, storeys: int = 5):
    """`blocks` x `blocks` city blocks of `block` voxels between two-voxel streets: roads along
    x and y (both `$road`), crossings, pavements, and on each block a building of `storeys`
    storeys with facades and windows on its four sides, a flat roof and a parapet."""
    street = 2
    X = Y = blocks * (block + street) + street
    Z = storeys + 3
    g = np.zeros((X, Y, Z), np.int64)
    road_x = np.zeros((X, Y), bool)  # streets running along x: rows of constant y
    road_y = np.zeros((X, Y), bool)
    for b in range(blocks + 1):
        s = b * (block + street)
        road_x[:, s:s + street] = True
        road_y[s:s + street, :] = True
    g[:, :, 0] = 4
    g[road_x & ~road_y, 0] = 1
    g[road_y & ~road_x, 0] = 2
    g[road_x & road_y, 0] = 3
    for bx in range(blocks):
        for by in range(blocks):
            x0, y0 = street + bx * (block + street) + 1, street + by * (block + street) + 1
            x1, y1 = x0 + block - 2, y0 + block - 2  # one voxel of pavement round the building
            g[x0:x1, y0:y1, 1:storeys + 1] = 9
            g[x0:x1, [y0, y1 - 1], 1:storeys + 1] = 5
            g[[x0, x1 - 1], y0:y1, 1:storeys + 1] = 6
            for z in range(2, storeys + 1):
                g[x0 + 1:x1 - 1:2, [y0, y1 - 1], z] = 7
                g[[x0, x1 - 1], y0 + 1:y1 - 1:2, z] = 8
            g[x0:x1, y0:y1, storeys + 1] = 10
            g[x0:x1, [y0, y1 - 1], storeys + 1] = 11
            g[[x0, x1 - 1], y0:y1, storeys + 1] = 11
    return _labelled(g, CITY_OBJECTS, "invgfx city example")


GARDEN_COLOURS = {"sky": "#a8d4ff", "soil": "#70462a", "stem": "#2a8c2e", "leaf": "#6cc84e", "petal": "#e03048",
                  "heart": "#ffd800"}


def garden(width: int = 24, height: int = 16, plants: int = 4, seed: int = 0):
    """A 2D example (width, height, 1) in the manner of WFC's Flowers: a soil row at the bottom
    (y = 0), sky above, and `plants` flowers on stems of random heights with leaves on either
    side and a petal cross round a heart on top. Labels are named by their colours (`#rrggbb`,
    as `read_png_example` names them), so the PNG written is exactly the grid.
    -> (grid, names, roles): roles maps "sky", "soil", ... to their names."""
    rng = np.random.default_rng(seed)
    roles = dict(GARDEN_COLOURS)
    names = list(roles.values())
    code = {role: names.index(c) for role, c in roles.items()}
    g = np.full((width, height, 1), code["sky"], np.int64)
    g[:, 0] = code["soil"]
    slots = rng.choice(np.arange(1, width // 3 - 1), size=min(plants, width // 3 - 2), replace=False) * 3 + 1
    for x in slots:
        top = int(rng.integers(5, height - 2))
        g[x, 1:top] = code["stem"]
        for y in range(2, top - 1, 2):
            side = x + (1 if rng.random() < 0.5 else -1)
            if rng.random() < 0.6:
                g[side, y] = code["leaf"]
        g[x, top] = code["heart"]
        for dx, dy in ((1, 0), (-1, 0), (0, 1), (0, -1)):
            if 0 <= x + dx < width and top + dy < height:
                if g[x + dx, top + dy, 0] == code["sky"]:
                    g[x + dx, top + dy] = code["petal"]
    return g, names, roles


ROOMS_COLOURS = {"floor": "#ffffff", "wall": "#202020", "door": "#c08040"}


def rooms(size: int = 24, seed: int = 0, smallest: int = 3):
    """A 2D example (size, size, 1): a floor plan cut by recursive division into rooms of at
    least `smallest` cells a side, with walls one cell thick and one door in each cut, and the
    outer wall around. Labels are named by their colours. -> (grid, names, roles)."""
    rng = np.random.default_rng(seed)
    roles = dict(ROOMS_COLOURS)
    names = list(roles.values())
    floor, wall, door = (names.index(roles[k]) for k in ("floor", "wall", "door"))
    g = np.full((size, size, 1), floor, np.int64)
    g[[0, -1], :] = wall
    g[:, [0, -1]] = wall

    def divide(x0, x1, y0, y1):  # the open room is x0..x1-1, y0..y1-1
        w, h = x1 - x0, y1 - y0
        axis = 0 if (w > h or (w == h and rng.random() < 0.5)) else 1
        lo, hi = (x0, x1) if axis == 0 else (y0, y1)
        if hi - lo < 2 * smallest + 1:
            return
        cut = int(rng.integers(lo + smallest, hi - smallest))
        other = (y0, y1) if axis == 0 else (x0, x1)
        gap = int(rng.integers(*other))
        if axis == 0:
            g[cut, y0:y1] = wall
            g[cut, gap] = door
            divide(x0, cut, y0, y1), divide(cut + 1, x1, y0, y1)
        else:
            g[x0:x1, cut] = wall
            g[gap, cut] = door
            divide(x0, x1, y0, cut), divide(x0, x1, cut + 1, y1)

    divide(1, size - 1, 1, size - 1)
    return g, names, roles
