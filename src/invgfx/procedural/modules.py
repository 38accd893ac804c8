"""The module catalogue of the building generator: one integer label per (kind, facing).

A grid is a numpy integer array `grid[x, y, z]` of labels, shape (X, Y, Z), z up, one voxel
per module (one storey is one voxel high). Oriented modules carry the side their outside
faces: `wall+y` is a wall cell whose +y neighbour is outside the building; `slope+x` is a
roof slope that descends towards +x; `balcony+y` stands in front of a +y facade;
`corner+x-y` is an outer corner open to +x and -y, `inner+x-y` an inner (concave) corner
whose open diagonal neighbour is at (+x, -y). Orientation is what lets adjacency rules close
a building: an outer corner needs walls on its two inner sides. Label 0 is always `empty`.

Grids read from other sources (PNG colours, foreign .vox files) use their own label names;
everything below that is not the building catalogue works on any list of names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FACINGS = ("+x", "-x", "+y", "-y")


@dataclass(frozen=True)
class Module:
    name: str
    kind: str
    facing: str | None
    rgb: tuple[int, int, int]


def _catalogue() -> tuple[Module, ...]:
    plain = [
        ("empty", (0, 0, 0)),
        ("ground", (96, 112, 80)),
        ("floor", (196, 170, 130)),
        ("stairs", (150, 110, 70)),
        ("roof", (90, 90, 100)),
        ("ridge", (110, 50, 40)),
    ]
    oriented = [
        ("wall", (200, 160, 120)),
        ("window", (110, 170, 220)),
        ("door", (120, 70, 40)),
        ("slope", (170, 70, 55)),
        ("balcony", (200, 200, 190)),
    ]
    mods = [Module(name, name, None, rgb) for name, rgb in plain]
    for kind, rgb in oriented:
        mods += [Module(f"{kind}{f}", kind, f, rgb) for f in FACINGS]
    for prefix in ("corner", "inner"):
        mods += [Module(f"{prefix}{fx}{fy}", "corner", fx + fy, (120, 110, 100)) for fx in ("+x", "-x") for fy in ("+y", "-y")]
    return tuple(mods)


MODULES: tuple[Module, ...] = _catalogue()
NAMES: tuple[str, ...] = tuple(m.name for m in MODULES)
LABEL: dict[str, int] = {name: i for i, name in enumerate(NAMES)}
KINDS: tuple[str, ...] = tuple(dict.fromkeys(m.kind for m in MODULES))
EMPTY, GROUND = LABEL["empty"], LABEL["ground"]


def palette(names: list[str] | tuple[str, ...]) -> np.ndarray:
    """RGB colours (L, 3) uint8 for label names: catalogue colours, `#rrggbb` names as
    written, anything else a fixed colour derived from its index."""
    out = np.zeros((len(names), 3), np.uint8)
    for i, name in enumerate(names):
        if name in LABEL:
            out[i] = MODULES[LABEL[name]].rgb
        elif name.startswith("#") and len(name) == 7:
            out[i] = [int(name[k : k + 2], 16) for k in (1, 3, 5)]
        else:  # golden-ratio hue walk: distinct, stable colours for foreign labels
            h = (i * 0.618034) % 1.0
            out[i] = [int(255 * (0.5 + 0.5 * np.cos(2 * np.pi * (h + s)))) for s in (0, 1 / 3, 2 / 3)]
    return out


# Quarter turn about z, counter-clockwise seen from above (+x -> +y), as np.rot90(axes=(0, 1)).
_ROT = {"+x": "+y", "+y": "-x", "-x": "-y", "-y": "+x"}
_MIRROR_X = {"+x": "-x", "-x": "+x", "+y": "+y", "-y": "-y"}


def _map_name(name: str, table: dict[str, str]) -> str:
    """Map the trailing facings of a name (`wall+x`, `corner+x-y`); x facing first."""
    facings = []
    while len(name) > 2 and name[-2:] in FACINGS:
        facings.append(table[name[-2:]])
        name = name[:-2]
    return name + "".join(sorted(facings, key=lambda f: f[1]))


def label_permutation(names: list[str] | tuple[str, ...], quarter_turns: int, mirror_x: bool) -> np.ndarray:
    """(L,) int: where each label goes when a grid is mirrored in x (first) and then turned by
    `quarter_turns` counter-clockwise about z. Names ending in a facing (+x, -x, +y, -y) turn
    with the grid; a name whose turned twin is not in `names` keeps its label."""
    index = {n: i for i, n in enumerate(names)}
    perm = np.arange(len(names))
    for i, name in enumerate(names):
        new = _map_name(name, _MIRROR_X) if mirror_x else name
        for _ in range(quarter_turns % 4):
            new = _map_name(new, _ROT)
        perm[i] = index.get(new, i)
    return perm


def transform_grid(grid: np.ndarray, names, quarter_turns: int, mirror_x: bool) -> np.ndarray:
    """`grid` (X, Y, Z) mirrored in x, then turned about z, with oriented labels turned too."""
    out = grid[::-1] if mirror_x else grid
    out = np.rot90(out, quarter_turns % 4, axes=(0, 1))
    return label_permutation(names, quarter_turns, mirror_x)[out]


def occupancy(grid: np.ndarray) -> np.ndarray:
    """The massing (X, Y, Z) bool of a catalogue grid: every module except empty and ground."""
    return (grid != EMPTY) & (grid != GROUND)
