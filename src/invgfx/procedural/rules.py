"""Learning rules from example grids: the adjacency (simple tiled / model synthesis) model and
the overlapping N x N (x N) pattern model of WaveFunctionCollapse, in one `RuleSet`.

Tiles are what the solver places: for the adjacency model a tile is a label; for the
overlapping model a tile is a pattern (nx, ny, nz) of labels, and a solved tile grid is
decoded to labels by taking each pattern's corner voxel (plus the far slabs of the last
patterns on bounded axes).

Directions are always ordered [+x, -x, +y, -y, +z, -z] (formats.DIRECTION_NAMES);
`counts[d, a, b]` counts how often tile b sits next to tile a in direction d, so
`counts[d ^ 1] == counts[d].T`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ProceduralError
from .formats import DIRECTION_NAMES, neighbour_labels, write_atomic
from .modules import transform_grid

SYMMETRIES = {1: [(0, False)], 2: [(0, False), (0, True)], 4: [(k, False) for k in range(4)], 8: [(k, m) for m in (False, True) for k in range(4)]}


@dataclass
class RuleSet:
    """Learned rules. T tiles, L labels.

    names: (L,) label names. weights: (T,) how often each tile occurs in the examples.
    counts: (6, T, T) int, see module docstring (the overlapping model stores 1 where two
        patterns agree on their overlap, WFC's rule). boundary: (6, T) bool, tile seen
        touching the example face in direction d (used for bounded output edges).
    patterns: (T, nx, ny, nz) labels of each pattern, None for the adjacency model.
    merrell: the Merrell label numbers and object lines of the examples' labels
        (`formats.read_merrell_labels`), so that written .txt outputs keep them; None otherwise.
    """

    names: list[str]
    weights: np.ndarray
    counts: np.ndarray
    boundary: np.ndarray
    patterns: np.ndarray | None = None
    symmetries: int = 1
    n_examples: int = 1
    merrell: dict | None = None

    @property
    def model(self) -> str:
        return "adjacency" if self.patterns is None else "overlapping"

    @property
    def n_tiles(self) -> int:
        return len(self.weights)

    @property
    def pattern_size(self) -> tuple[int, int, int]:
        return (1, 1, 1) if self.patterns is None else tuple(int(s) for s in self.patterns.shape[1:])

    @property
    def compat(self) -> np.ndarray:
        """(6, T, T) bool: tile b may sit at cell + d when tile a is at the cell."""
        return self.counts > 0

    def tile_labels(self) -> np.ndarray:
        """(T,) label at each tile's corner voxel (the tile itself for the adjacency model)."""
        return np.arange(self.n_tiles) if self.patterns is None else self.patterns[:, 0, 0, 0]

    def decode(self, tiles: np.ndarray, periodic=(False, False, False)) -> np.ndarray:
        """Tile grid (Tx, Ty, Tz) -> label grid; a bounded axis grows by (n - 1) because its
        last patterns contribute their whole extent."""
        if self.patterns is None:
            return tiles.copy()
        n = self.pattern_size
        shape = [t + (0 if p else k - 1) for t, k, p in zip(tiles.shape, n, periodic)]
        out = self.patterns[tiles, 0, 0, 0]
        out = np.pad(out, [(0, s - t) for s, t in zip(shape, tiles.shape)])
        for axis in range(3):  # fill the far slabs of bounded axes from the last tiles
            if periodic[axis] or n[axis] == 1:
                continue
            for k in range(1, n[axis]):
                idx = [slice(None)] * 3
                idx[axis] = tiles.shape[axis] - 1
                last = tiles[tuple(idx)]
                offs = [0, 0, 0]
                offs[axis] = k
                tgt = [slice(0, s) for s in tiles.shape]
                tgt[axis] = tiles.shape[axis] - 1 + k
                out[tuple(tgt)] = self.patterns[last, offs[0], offs[1], offs[2]]
        if sum(n[a] > 1 and not periodic[a] for a in range(3)) > 1:
            _fill_far_corners(out, tiles, self.patterns, periodic)
        return out

    def describe(self, top: int = 6) -> str:
        """A readable summary: tiles by frequency and, per tile, its most common neighbours."""
        lines = [f"{self.model} rules: {self.n_tiles} tiles over {len(self.names)} labels, "
                 f"pattern size {self.pattern_size}, {self.n_examples} example(s), symmetries {self.symmetries}"]
        total = self.weights.sum()
        for t in np.argsort(-self.weights)[: max(top * 4, 1)]:
            name = self._tile_name(t)
            lines.append(f"  {name:<16} {100 * self.weights[t] / total:5.1f}%")
            for d, dn in enumerate(DIRECTION_NAMES):
                nb = np.nonzero(self.counts[d, t])[0]
                nb = nb[np.argsort(-self.counts[d, t, nb])][:top]
                more = "" if (self.counts[d, t] > 0).sum() <= top else f" (+{(self.counts[d, t] > 0).sum() - top})"
                lines.append(f"      {dn}: " + ", ".join(f"{self._tile_name(b)}x{self.counts[d, t, b]}" for b in nb) + more)
        return "\n".join(lines)

    def _tile_name(self, t: int) -> str:
        return self.names[t] if self.patterns is None else f"p{t}({self.names[self.patterns[t, 0, 0, 0]]})"

    # ---------------------------------------------------------------- JSON
    def to_json(self) -> dict:
        adjacency = {}
        for d in (0, 2, 4):
            a, b = np.nonzero(self.counts[d])
            adjacency[DIRECTION_NAMES[d]] = [[int(i), int(j), int(self.counts[d, i, j])] for i, j in zip(a, b)]
        return {
            "format": "invgfx.rules",
            "version": 1,
            "model": self.model,
            "names": list(self.names),
            "symmetries": self.symmetries,
            "examples": self.n_examples,
            "weights": [float(w) for w in self.weights],
            "pattern_size": list(self.pattern_size),
            "patterns": None if self.patterns is None else self.patterns.reshape(self.n_tiles, -1).tolist(),
            "adjacency": adjacency,
            "boundary": {dn: np.nonzero(self.boundary[d])[0].tolist() for d, dn in enumerate(DIRECTION_NAMES)},
            "merrell": self.merrell,
        }

    @classmethod
    def from_json(cls, data: dict, source: str = "rules") -> "RuleSet":
        try:
            if data.get("format") != "invgfx.rules":
                raise ProceduralError(f"{source}: not an invgfx rule set (key 'format' must be 'invgfx.rules'); make one with `invgfx rules learn`")
            names = list(data["names"])
            weights = np.asarray(data["weights"], float)
            T = len(weights)
            counts = np.zeros((6, T, T), np.int64)
            for d in (0, 2, 4):
                for a, b, c in data["adjacency"][DIRECTION_NAMES[d]]:
                    counts[d, a, b] = c
                counts[d + 1] = counts[d].T
            boundary = np.zeros((6, T), bool)
            for d, dn in enumerate(DIRECTION_NAMES):
                boundary[d, data["boundary"][dn]] = True
            patterns = None
            if data["patterns"] is not None:
                patterns = np.asarray(data["patterns"], np.int64).reshape(T, *data["pattern_size"])
        except (KeyError, IndexError, TypeError, ValueError) as err:
            raise ProceduralError(f"{source}: malformed rule set ({type(err).__name__}: {err}); expected the JSON written by `invgfx rules learn`") from err
        return cls(names, weights, counts, boundary, patterns, int(data.get("symmetries", 1)), int(data.get("examples", 1)),
                   data.get("merrell"))

    def save(self, path) -> None:
        write_atomic(path, json.dumps(self.to_json(), indent=1).encode())

    @classmethod
    def load(cls, path) -> "RuleSet":
        try:
            data = json.loads(Path(path).read_text())
        except FileNotFoundError as err:
            raise ProceduralError(f"{path}: no such rule file") from err
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ProceduralError(f"{path}: not a rules file (the JSON `invgfx rules learn --out` writes): {err}") from None
        except IsADirectoryError:
            raise ProceduralError(f"{path}: is a folder; give the rules file `invgfx rules learn --out` wrote") from None
        return cls.from_json(data, str(path))


def _fill_far_corners(out, tiles, patterns, periodic) -> None:
    """Where two or three bounded axes meet, the far corner voxels come from the last tile."""
    n = patterns.shape[1:]
    T = tiles.shape
    for ox in range(n[0] if not periodic[0] else 1):
        for oy in range(n[1] if not periodic[1] else 1):
            for oz in range(n[2] if not periodic[2] else 1):
                o = (ox, oy, oz)
                if sum(k > 0 for k in o) < 2:
                    continue
                sl_t = tuple(slice(T[a] - 1, T[a]) if o[a] else slice(None) for a in range(3))
                sl_o = tuple(slice(T[a] - 1 + o[a], T[a] + o[a]) if o[a] else slice(0, T[a]) for a in range(3))
                out[sl_o] = patterns[tiles[sl_t], ox, oy, oz]


def merge_vocabularies(examples: list[tuple[np.ndarray, list[str]]]) -> tuple[list[np.ndarray], list[str]]:
    """Examples with their own name lists -> grids relabelled into one shared name list
    (names in order of first appearance, the first example's order first)."""
    names: list[str] = []
    index: dict[str, int] = {}
    grids = []
    for grid, ex_names in examples:
        for n in ex_names:
            if n not in index:
                index[n] = len(names)
                names.append(n)
        grids.append(np.array([index[n] for n in ex_names], np.int64)[grid])
    return grids, names


def _variants(grids, names, symmetries: int) -> list[np.ndarray]:
    if symmetries not in SYMMETRIES:
        raise ProceduralError(f"symmetries={symmetries} is not supported; use one of {sorted(SYMMETRIES)} (1 none, 2 mirror x, 4 turns about z, 8 both)")
    return [transform_grid(g, names, k, m) for g in grids for k, m in SYMMETRIES[symmetries]]


def learn_adjacency(grids: list[np.ndarray], names: list[str], symmetries: int = 1) -> RuleSet:
    """The adjacency model: for each direction, which label may follow which, with counts.

    grids: example label grids (X, Y, Z) over `names` (2D examples have Z = 1)."""
    L = len(names)
    counts = np.zeros((6, L, L), np.int64)
    boundary = np.zeros((6, L), bool)
    weights = np.zeros(L)
    for g in _variants(grids, names, symmetries):
        weights += np.bincount(g.ravel(), minlength=L)
        nb = neighbour_labels(g)
        for d in range(6):
            inside = nb[d] >= 0
            np.add.at(counts[d], (g[inside], nb[d][inside]), 1)
            boundary[d, np.unique(g[~inside])] = True
    return RuleSet(list(names), weights, counts, boundary, None, symmetries, len(grids))


def learn_overlapping(grids: list[np.ndarray], names: list[str], n: int = 2, symmetries: int = 1, periodic_input: bool = False) -> RuleSet:
    """The overlapping model: every n x n x n window of the examples is a pattern (n x n x 1
    for 2D examples); two patterns may be neighbours in direction d when they agree where
    they overlap. `periodic_input` also takes windows that wrap around the example, which then
    has no border: every pattern may sit at a bounded output's edge."""
    if n < 2:
        raise ProceduralError(f"pattern size n={n} is too small; use n >= 2 (n = 1 is the adjacency model)")
    variants = _variants(grids, names, symmetries)
    if any(g.shape[2] == 1 for g in variants) and any(g.shape[2] > 1 for g in variants):
        raise ProceduralError("examples mix 2D (Z = 1) and 3D grids; learn overlapping rules from one kind at a time")
    size = tuple(min(n, s) if a < 2 else (1 if variants[0].shape[2] == 1 else n) for a, s in enumerate((n, n, n)))
    windows, faces = [], []
    for g in variants:
        if any(s < k for s, k in zip(g.shape, size)):
            raise ProceduralError(f"example of shape {g.shape} is smaller than the pattern size {size}")
        src = np.pad(g, [(0, k - 1) for k in size], mode="wrap") if periodic_input else g
        w = np.lib.stride_tricks.sliding_window_view(src, size)[: (g.shape[0] if periodic_input else None), : (g.shape[1] if periodic_input else None), : (g.shape[2] if periodic_input else None)]
        P = w.shape[:3]
        windows.append(w.reshape(-1, int(np.prod(size))))
        pos = np.indices(P).reshape(3, -1).T
        faces.append(np.stack([pos[:, a // 2] == (P[a // 2] - 1 if a % 2 == 0 else 0) for a in range(6)]))
    flat = np.concatenate(windows)
    patterns, inverse, weights = np.unique(flat, axis=0, return_inverse=True, return_counts=True)
    inverse = inverse.ravel()
    T = len(patterns)
    boundary = np.zeros((6, T), bool)
    face = np.concatenate(faces, axis=1)
    for d in range(6):
        boundary[d, np.unique(inverse[face[d]])] = True
    if periodic_input:  # an example that wraps has no border: any pattern may end a bounded output
        boundary[:] = True
    patterns = patterns.reshape(T, *size)
    counts = np.zeros((6, T, T), np.int64)
    for axis in range(3):
        if size[axis] == 1:
            continue  # 2D: no neighbours along z
        a = np.moveaxis(patterns, axis + 1, 1)[:, 1:].reshape(T, -1)  # far part of p
        b = np.moveaxis(patterns, axis + 1, 1)[:, :-1].reshape(T, -1)  # near part of q
        groups: dict[bytes, list[int]] = {}
        for q in range(T):
            groups.setdefault(b[q].tobytes(), []).append(q)
        for p in range(T):
            qs = groups.get(a[p].tobytes(), [])
            counts[2 * axis, p, qs] = 1
        counts[2 * axis + 1] = counts[2 * axis].T
    if size[2] == 1:  # 2D patterns stack on themselves only, so 2D outputs stay 2D
        counts[4] = counts[5] = np.eye(T, dtype=np.int64)
    return RuleSet(list(names), weights.astype(float), counts, boundary, patterns, symmetries, len(grids))


def pair_violations(grid: np.ndarray, rules: RuleSet, mask: np.ndarray | None = None) -> tuple[int, int]:
    """(violating, total) adjacent label pairs of `grid` under label-level adjacency `rules`:
    a pair (a at p, b at p + d) violates when the examples never showed b next to a in
    direction d. `mask` (X, Y, Z) bool restricts the count to pairs touching a masked voxel."""
    if rules.patterns is not None:
        raise ProceduralError("pair_violations needs adjacency rules (labels), not overlapping patterns; learn them with model='adjacency'")
    nb = neighbour_labels(grid)
    bad = total = 0
    for d in (0, 2, 4):
        ok = nb[d] >= 0
        if mask is not None:
            ok &= mask | np.pad(mask, 1)[tuple(slice(1 + o, 1 + o + s) for o, s in zip(((1, 0, 0), (0, 1, 0), (0, 0, 1))[d // 2], grid.shape))]
        seen = rules.counts[d][grid[ok], nb[d][ok]] > 0
        bad += int((~seen).sum())
        total += int(ok.sum())
    return bad, total
