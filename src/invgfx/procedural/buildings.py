"""Procedural building generator: parameters + seed -> labelled voxel grid (X, Y, Z), z up.

The grid has a one-voxel ground layer at z=0, one voxel per storey above it, a roof, and an
empty margin around the building (so examples teach that buildings stand free). The main
block is `width` x `depth` cells; an optional wing (an L-shaped plan) is attached behind it
(+y side) at x=0 and may be lower. Labels come from `modules.NAMES`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

import numpy as np

from .errors import ProceduralError
from .modules import EMPTY, GROUND, LABEL

_SIDES = {"+x": (1, 0), "-x": (-1, 0), "+y": (0, 1), "-y": (0, -1)}


@dataclass
class BuildingParams:
    """Everything that shapes a building; sizes are in modules (voxels).

    width, depth: main block footprint along x and y (>= 3 each).
    storeys: floors of the main block (>= 1).
    wing_width, wing_depth: footprint of the wing behind the main block (0 = no wing).
    wing_storeys: floors of the wing (1..storeys).
    window_every: a window every k facade cells (1 = all windows); window_phase shifts them.
    door_side: facade of the front door, one of +x -x +y -y; door_offset: its position along
        that facade from the block's first cell (None = the middle).
    roof: "flat" or "gable" (gable ridge runs along the longer side of the main block).
    balcony_prob: chance that an upper-storey window gets a balcony in front of it.
    stairs: put a stair column inside the main block (needs width, depth >= 3).
    margin: empty cells around the building on every side.
    """

    width: int = 8
    depth: int = 6
    storeys: int = 3
    wing_width: int = 0
    wing_depth: int = 0
    wing_storeys: int = 1
    window_every: int = 2
    window_phase: int = 1
    door_side: str = "-y"
    door_offset: int | None = None
    roof: str = "gable"
    balcony_prob: float = 0.3
    stairs: bool = True
    margin: int = 2

    def check(self) -> None:
        def bad(key, valid):
            raise ProceduralError(f"building parameter {key}={getattr(self, key)!r} is invalid; {valid}")

        for key in ("width", "depth"):
            if getattr(self, key) < 3:
                bad(key, "use an integer >= 3")
        if self.storeys < 1:
            bad("storeys", "use an integer >= 1")
        if (self.wing_width > 0) != (self.wing_depth > 0):
            bad("wing_width", "give wing_width and wing_depth both > 0, or both 0 for no wing")
        if self.wing_width and not 2 <= self.wing_width <= self.width:
            bad("wing_width", f"use 2..width={self.width} (a 1-cell wide wing has no room inside)")
        if self.wing_width and not 1 <= self.wing_storeys <= self.storeys:
            bad("wing_storeys", f"use 1..storeys={self.storeys}")
        if self.window_every < 1:
            bad("window_every", "use an integer >= 1")
        if self.door_side not in _SIDES:
            bad("door_side", f"use one of {', '.join(_SIDES)}")
        if self.roof not in ("flat", "gable"):
            bad("roof", "use 'flat' or 'gable'")
        if not 0.0 <= self.balcony_prob <= 1.0:
            bad("balcony_prob", "use a probability in [0, 1]")
        if self.margin < 1:
            bad("margin", "use an integer >= 1 (buildings stand free)")

    @classmethod
    def from_dict(cls, data: dict) -> "BuildingParams":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ProceduralError(f"unknown building parameter(s) {sorted(unknown)}; valid keys: {sorted(known)}")
        return cls(**data)

    def to_dict(self) -> dict:
        return asdict(self)


def random_params(rng: np.random.Generator, max_width: int = 10, max_depth: int = 8, max_storeys: int = 4) -> BuildingParams:
    """A random but valid parameter set, for datasets and examples."""
    width = int(rng.integers(3, max_width + 1))
    depth = int(rng.integers(3, max_depth + 1))
    storeys = int(rng.integers(1, max_storeys + 1))
    wing = rng.random() < 0.4
    return BuildingParams(
        width=width,
        depth=depth,
        storeys=storeys,
        wing_width=int(rng.integers(2, width + 1)) if wing else 0,
        wing_depth=int(rng.integers(1, 4)) if wing else 0,
        wing_storeys=int(rng.integers(1, storeys + 1)) if wing else 1,
        window_every=int(rng.integers(1, 4)),
        window_phase=int(rng.integers(0, 3)),
        door_side=str(rng.choice(list(_SIDES))),
        door_offset=None,
        roof=str(rng.choice(["flat", "gable"])),
        balcony_prob=float(rng.choice([0.0, 0.3, 0.6])),
        stairs=bool(rng.random() < 0.7),
        margin=int(rng.integers(1, 3)),
    )


def _shift(mask: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """out[x, y] = mask[x + dx, y + dy], False outside the grid (|dx|, |dy| <= 1)."""
    X, Y = mask.shape
    return np.pad(mask, 1)[1 + dx : 1 + dx + X, 1 + dy : 1 + dy + Y]


def _label_storey(fp: np.ndarray, p: BuildingParams, origin: tuple[int, int], ground_floor: bool) -> np.ndarray:
    """Facade and interior labels (X, Y) of one storey with footprint `fp` (X, Y) bool."""
    out = np.full(fp.shape, EMPTY, np.int64)
    exposed = {side: fp & ~_shift(fp, dx, dy) for side, (dx, dy) in _SIDES.items()}
    n_exposed = sum(e.astype(int) for e in exposed.values())
    out[fp] = LABEL["floor"]
    xs, ys = np.indices(fp.shape)
    for side, mask in exposed.items():
        facade = mask & (n_exposed == 1)
        along = (ys - origin[1]) if side in ("+x", "-x") else (xs - origin[0])
        window = (along - p.window_phase) % p.window_every == 0
        out[facade] = LABEL[f"wall{side}"]
        out[facade & window] = LABEL[f"window{side}"]
    for fx, dx in (("+x", 1), ("-x", -1)):
        for fy, dy in (("+y", 1), ("-y", -1)):
            out[exposed[fx] & exposed[fy]] = LABEL[f"corner{fx}{fy}"]
            out[fp & (n_exposed == 0) & ~_shift(fp, dx, dy)] = LABEL[f"inner{fx}{fy}"]
    if ground_floor:
        _place_door(out, exposed[p.door_side] & (n_exposed == 1), p, origin)
    return out


def _place_door(out: np.ndarray, facade: np.ndarray, p: BuildingParams, origin: tuple[int, int]) -> None:
    """Door on the requested facade at the facade cell nearest to the requested position."""
    cells = np.argwhere(facade)
    if len(cells) == 0:
        return
    axis = 1 if p.door_side in ("+x", "-x") else 0
    size = p.depth if axis == 1 else p.width
    want = origin[axis] + (size // 2 if p.door_offset is None else p.door_offset)
    x, y = cells[np.argmin(np.abs(cells[:, axis] - want))]
    out[x, y] = LABEL[f"door{p.door_side}"]


def generate_building(params: BuildingParams | None = None, seed: int = 0) -> np.ndarray:
    """A labelled building grid (X, Y, Z) int64, z up, `grid[:, :, 0]` the ground layer.

    Deterministic for a given (params, seed); the seed draws balconies only, everything
    else follows the parameters."""
    p = params or BuildingParams()
    p.check()
    rng = np.random.default_rng(seed)
    m = p.margin
    roof_h = 0 if p.roof == "flat" else (min(p.width, p.depth) + 1) // 2
    X = p.width + 2 * m
    Y = p.depth + p.wing_depth + 2 * m
    Z = 1 + p.storeys + max(1, roof_h) + 1
    grid = np.full((X, Y, Z), EMPTY, np.int64)
    grid[:, :, 0] = GROUND

    main = np.zeros((X, Y), bool)
    main[m : m + p.width, m : m + p.depth] = True
    wing = np.zeros((X, Y), bool)
    wing[m : m + p.wing_width, m + p.depth : m + p.depth + p.wing_depth] = True
    origin = (m, m)
    for s in range(p.storeys):
        fp = main | (wing if s < p.wing_storeys else False)
        grid[:, :, 1 + s] = _label_storey(fp, p, origin, ground_floor=s == 0)
    if p.stairs:
        grid[m + 1, m + 1, 1 : 1 + p.storeys] = LABEL["stairs"]
    _add_balconies(grid, p, rng)
    _add_roofs(grid, p, main, wing)
    return grid


def _add_balconies(grid: np.ndarray, p: BuildingParams, rng: np.random.Generator) -> None:
    """A balcony in the empty cell in front of some upper-storey windows."""
    for side, (dx, dy) in _SIDES.items():
        for x, y, z in np.argwhere(grid == LABEL[f"window{side}"]):
            if z < 2 or rng.random() >= p.balcony_prob:
                continue
            bx, by = x + dx, y + dy
            if grid[bx, by, z] == EMPTY and grid[bx, by, z - 1] == EMPTY:
                grid[bx, by, z] = LABEL[f"balcony{side}"]


def _add_roofs(grid: np.ndarray, p: BuildingParams, main: np.ndarray, wing: np.ndarray) -> None:
    """Flat roofs on every storey top not covered by a higher storey (the wing, a flat main
    block), and a gable roof on the main block."""
    if p.wing_width and p.wing_storeys < p.storeys:
        grid[wing & ~main, 1 + p.wing_storeys] = LABEL["roof"]
    top = 1 + p.storeys
    if p.roof == "flat":
        covered = main | (wing if p.wing_storeys == p.storeys else False)
        grid[covered, top] = LABEL["roof"]
        return
    if p.wing_width and p.wing_storeys == p.storeys:
        grid[wing & ~main, top] = LABEL["roof"]
    m = p.margin
    x0, x1, y0, y1 = m, m + p.width, m, m + p.depth
    along_x = p.width >= p.depth  # ridge along the longer side; slopes face the short axis
    n = p.depth if along_x else p.width
    lo, hi = ("-y", "+y") if along_x else ("-x", "+x")
    end_lo, end_hi = ("-x", "+x") if along_x else ("-y", "+y")
    for k in range((n + 1) // 2):
        z = top + k
        a, b = k, n - 1 - k  # slope rows at offsets a and b across the short axis
        for off in range(a, b + 1):
            if off == a == b:
                name = "ridge"
            elif off == a:
                name = f"slope{lo}"
            elif off == b:
                name = f"slope{hi}"
            else:
                name = None  # attic: gable walls at the ends, floor inside
            if along_x:
                cells = [(x, y0 + off) for x in range(x0, x1)]
            else:
                cells = [(x0 + off, y) for y in range(y0, y1)]
            for i, (x, y) in enumerate(cells):
                if name is not None:
                    grid[x, y, z] = LABEL[name]
                elif i == 0:
                    grid[x, y, z] = LABEL[f"wall{end_lo}"]
                elif i == len(cells) - 1:
                    grid[x, y, z] = LABEL[f"wall{end_hi}"]
                else:
                    grid[x, y, z] = LABEL["floor"]
