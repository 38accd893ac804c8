"""A solver that fills a grid with tiles so that every adjacent pair obeys a `RuleSet`.

It is WaveFunctionCollapse / model synthesis with what plain WFC lacks:

* domains are Python integers used as bitsets (bit t = tile t still possible), and
  propagation is AC-3 over the 6-neighbourhood with the support of each domain memoised,
  so one collapse costs a few dictionary look-ups per touched cell;
* the next cell is the one of least entropy (frequency-weighted, tiny random tie-break) or
  the next in scanline order; its tile is drawn with the learned frequencies;
* on a contradiction it backtracks chronologically (undo the last choice, forbid it,
  propagate); when that has not helped after `backtrack_limit` steps, it clears the
  choices in a block around the contradiction and rebuilds the domains from the remaining
  choices (Merrell's modification in blocks, used as repair); the block grows when the
  contradiction comes back to the same place;
* pins restrict cells to label sets, bounded edges restrict the border cells to tiles seen
  on the same face of the examples, periodic edges wrap around.

Contradictions never raise: the result says whether it succeeded, and if not, which pin or
cell made it impossible.
"""

from __future__ import annotations

import heapq
import math
import random
import time
from bisect import bisect
from dataclasses import dataclass, field

import numpy as np

from .errors import ProceduralError
from .formats import DIRECTIONS
from .rules import RuleSet


@dataclass
class Pin:
    """A user constraint: the voxels in `mask` (X, Y, Z) bool may only hold `labels`."""

    mask: np.ndarray
    labels: tuple[int, ...]
    text: str

    @classmethod
    def parse(cls, spec: str, shape: tuple[int, int, int], names: list[str]) -> "Pin":
        """`x,y,z=name[|name...]`; each coordinate may be a range `a:b` (b excluded, either
        side may be left out) or negative (from the far end). Examples: `5,0,1=door-y`,
        `0:10,0:10,:=empty`, `:,:,0=ground`."""
        where, sep, what = spec.partition("=")
        parts = where.split(",")
        if not sep or len(parts) != 3:
            raise ProceduralError(f"--pin {spec!r}: write x,y,z=label (ranges a:b allowed, labels joined by '|'), e.g. 5,0,1=door-y")
        index = []
        for axis, (p, n) in enumerate(zip(parts, shape)):
            try:
                if ":" in p:
                    a, b = p.split(":")
                    index.append(slice(int(a) if a else None, int(b) if b else None))
                else:
                    k = int(p)
                    if not -n <= k < n:
                        raise ValueError(f"{'xyz'[axis]}={k} outside 0..{n - 1}")
                    index.append(slice(k % n, k % n + 1))
            except ValueError as err:
                raise ProceduralError(f"--pin {spec!r}: bad coordinate {p!r} ({err}); use integers or ranges a:b within the size {shape}") from err
        labels = []
        for name in what.split("|"):
            if name not in names:
                raise ProceduralError(f"--pin {spec!r}: unknown label {name!r}; the rules know: {', '.join(names)}")
            labels.append(names.index(name))
        mask = np.zeros(shape, bool)
        mask[tuple(index)] = True
        if not mask.any():
            raise ProceduralError(f"--pin {spec!r}: the region is empty inside the size {shape}")
        return cls(mask, tuple(labels), spec)


def massing_pins(occupied: np.ndarray, names: list[str], outside=("empty", "ground")) -> list[Pin]:
    """Pins that make a building fill exactly the massing `occupied` (X, Y, Z) bool: voxels
    outside may only hold the `outside` labels, voxels inside any other label."""
    out = tuple(i for i, n in enumerate(names) if n in outside)
    inside = tuple(i for i in range(len(names)) if i not in out)
    return [Pin(~occupied, out, "outside the massing"), Pin(occupied.copy(), inside, "inside the massing")]


@dataclass
class SolveResult:
    """grid: labels (X, Y, Z); when ok is False, the labels of the decided tiles (tile-grid
    shape), -1 where undecided. tiles: the tile grid. message: what happened, in words.
    conflict: the tile cell where it got stuck, if any. stats: seconds, cells_per_second,
    decisions, backtracks, resets."""

    grid: np.ndarray
    tiles: np.ndarray
    ok: bool
    message: str
    conflict: tuple[int, int, int] | None = None
    stats: dict = field(default_factory=dict)


def _bits(m: int) -> list[int]:
    out = []
    while m:
        low = m & -m
        out.append(low.bit_length() - 1)
        m ^= low
    return out


def _pack(mask: np.ndarray) -> list[int]:
    """(n, T) bool -> n Python ints, bit t set where mask[:, t]."""
    packed = np.packbits(mask, axis=1, bitorder="little")
    return [int.from_bytes(row.tobytes(), "little") for row in packed]


class _Search:
    """State of one solve: flat cell arrays in C order of the tile grid (Tx, Ty, Tz)."""

    def __init__(self, rules: RuleSet, shape, periodic, heuristic: str, rng: random.Random):
        self.shape = shape
        self.rng = rng
        self.heuristic = heuristic
        T = rules.n_tiles
        compat = rules.compat
        self.compat = [[int.from_bytes(np.packbits(compat[d, t], bitorder="little").tobytes(), "little") for t in range(T)] for d in range(6)]
        self.weights = rules.weights.astype(float)
        self.support: dict[int, tuple[int, ...]] = {}
        self.entropy_memo: dict[int, float] = {}
        self.choice_memo: dict[int, tuple[list[int], list[float]]] = {}
        idx = np.arange(int(np.prod(shape))).reshape(shape)
        self.nbr = []
        for dx, dy, dz in DIRECTIONS:
            j = np.roll(idx, (-dx, -dy, -dz), axis=(0, 1, 2))
            for axis, o in enumerate((dx, dy, dz)):
                if o and not periodic[axis]:
                    edge = [slice(None)] * 3
                    edge[axis] = -1 if o > 0 else 0
                    j[tuple(edge)] = -1
            self.nbr.append(j.ravel().tolist())

    def _supports(self, dom: int) -> tuple[int, ...]:
        """For each direction d, the tiles allowed at cell + d when the cell holds `dom`."""
        tiles = _bits(dom)
        out = []
        for d in range(6):
            s = 0
            for t in tiles:
                s |= self.compat[d][t]
            out.append(s)
        self.support[dom] = out = tuple(out)
        return out

    def key(self, i: int, dom: int) -> float:
        if self.heuristic == "scanline":
            return i
        h = self.entropy_memo.get(dom)
        if h is None:
            w = self.weights[_bits(dom)]
            total = w.sum()
            h = math.log(total) - float((w * np.log(w)).sum()) / total
            self.entropy_memo[dom] = h
        return h + 1e-6 * self.rng.random()

    def propagate(self, stack: list[int]) -> int:
        """AC-3 from the cells in `stack`; returns a cell whose domain became empty, or -1."""
        dom, trail, heap, support, key = self.dom, self.trail, self.heap, self.support, self.key
        nbrs = tuple(zip(range(6), self.nbr))
        while stack:
            i = stack.pop()
            di = dom[i]
            sup = support.get(di) or self._supports(di)
            for d, nbr in nbrs:
                j = nbr[i]
                if j < 0:
                    continue
                dj = dom[j]
                nd = dj & sup[d]
                if nd != dj:
                    if not nd:
                        return j
                    trail.append((j, dj))
                    dom[j] = nd
                    stack.append(j)
                    if nd & (nd - 1):
                        heapq.heappush(heap, (key(j, nd), j, nd))
        return -1

    def start(self, base: list[int], assigned: dict[int, int]) -> int:
        """Domains = `base` with the `assigned` tiles fixed, made arc consistent."""
        self.dom = list(base)
        self.trail: list[tuple[int, int]] = []
        self.heap: list = []
        self.decisions: list[tuple[int, int, int]] = []
        for i, t in assigned.items():
            self.dom[i] = 1 << t
        bad = self.propagate(list(assigned) if assigned else list(range(len(base))))
        self.heap = [(self.key(i, d), i, d) for i, d in enumerate(self.dom) if d & (d - 1)]
        heapq.heapify(self.heap)
        return bad

    def next_cell(self) -> int:
        heap, dom = self.heap, self.dom
        while heap:
            _, i, d = heapq.heappop(heap)
            if dom[i] == d and d & (d - 1):
                return i
        return -1

    def choose(self, dom: int) -> int:
        memo = self.choice_memo.get(dom)
        if memo is None:
            tiles = _bits(dom)
            memo = (tiles, np.cumsum(self.weights[tiles]).tolist())
            self.choice_memo[dom] = memo
        tiles, cum = memo
        return tiles[min(bisect(cum, self.rng.random() * cum[-1]), len(tiles) - 1)]

    def undo(self, mark: int) -> None:
        dom, trail, heap = self.dom, self.trail, self.heap
        while len(trail) > mark:
            j, old = trail.pop()
            dom[j] = old
            if old & (old - 1):
                heapq.heappush(heap, (self.key(j, old), j, old))


def _tile_domains(rules: RuleSet, tshape, out_shape, periodic, bounded: bool, pins: list[Pin]) -> np.ndarray:
    """(Tx, Ty, Tz, T) bool: tiles allowed per cell by edges and pins."""
    T = rules.n_tiles
    allowed = np.broadcast_to(rules.weights > 0, (*tshape, T)).copy()  # never seen: never placed
    if bounded:
        for d in range(6):
            axis, far = d // 2, d % 2 == 0
            if periodic[axis]:
                continue
            edge = [slice(None)] * 3
            edge[axis] = -1 if far else 0
            allowed[tuple(edge)] &= rules.boundary[d]
    if not pins:
        return allowed
    labels_ok = np.ones((*out_shape, len(rules.names)), bool)
    for pin in pins:
        keep = np.zeros(len(rules.names), bool)
        keep[list(pin.labels)] = True
        labels_ok[pin.mask] &= keep
    n = rules.pattern_size
    pats = rules.patterns if rules.patterns is not None else np.arange(T).reshape(T, 1, 1, 1)
    for o in np.ndindex(*n):
        sl = []
        for axis in range(3):
            if periodic[axis]:
                sl.append(np.roll(np.arange(out_shape[axis]), -o[axis]))
            else:
                sl.append(np.arange(o[axis], o[axis] + tshape[axis]))
        sub = labels_ok[np.ix_(*sl)]  # (Tx, Ty, Tz, L): labels allowed at cell + o
        allowed &= sub[..., pats[:, o[0], o[1], o[2]]]
    return allowed


def solve(
    rules: RuleSet,
    size: tuple[int, int, int],
    *,
    pins: list[Pin] | None = None,
    periodic: tuple[bool, bool, bool] = (False, False, False),
    bounded: bool = True,
    ground: str | None = None,
    seed: int = 0,
    heuristic: str = "entropy",
    backtracking: bool = True,
    backtrack_limit: int = 64,
    max_resets: int | None = None,
    progress: bool = False,
) -> SolveResult:
    """Fill a label grid of `size` (X, Y, Z) that satisfies `rules` exactly.

    pins: user constraints (see `Pin.parse`, `massing_pins`). periodic: wrap per axis.
    bounded: restrict border cells of non-periodic axes to tiles the examples showed on the
    same face (else borders are free). ground: a label to put on every voxel of z = 0 and
    nowhere else. heuristic: "entropy" (least entropy first) or "scanline".
    backtracking=False gives plain WFC: stop at the first contradiction.
    max_resets: block repairs allowed before giving up (default grows with the size)."""
    if heuristic not in ("entropy", "scanline"):
        raise ProceduralError(f"heuristic={heuristic!r}; use 'entropy' or 'scanline'")
    size = tuple(int(s) for s in size)
    periodic = tuple(bool(p) for p in periodic)
    n = rules.pattern_size
    tshape = tuple(s if p else s - k + 1 for s, k, p in zip(size, n, periodic))
    if len(size) != 3 or min(tshape) < 1:
        raise ProceduralError(f"size {size} is too small for patterns of {n}; use at least {n} per axis")
    pins = list(pins or [])
    for pin in pins:
        if pin.mask.shape != size:
            raise ProceduralError(f"pin {pin.text!r} has shape {pin.mask.shape}; it must match the size {size}")
    if ground is not None:
        if ground not in rules.names:
            raise ProceduralError(f"ground={ground!r} is not a label of the rules; they know: {', '.join(rules.names)}")
        g = rules.names.index(ground)
        layer = np.zeros(size, bool)
        layer[:, :, 0] = True
        pins += [Pin(layer, (g,), f"ground layer {ground}"), Pin(~layer, tuple(i for i in range(len(rules.names)) if i != g), f"no {ground} above z=0")]
    t0 = time.perf_counter()
    rng = random.Random(seed)
    search = _Search(rules, tshape, periodic, heuristic, rng)
    cells = int(np.prod(tshape))

    def fail(msg, cell=None):
        tiles = np.array([d.bit_length() - 1 if d and not d & (d - 1) else -1 for d in search.dom]).reshape(tshape)
        grid = np.where(tiles >= 0, rules.tile_labels()[tiles], -1) if rules.patterns is not None else tiles
        where = tuple(int(c) for c in np.unravel_index(cell, tshape)) if cell is not None else None
        return SolveResult(grid, tiles, False, msg, where, _stats(t0, cells, search))

    base_mask = _tile_domains(rules, tshape, size, periodic, bounded, pins)
    bad = search.start(_pack(base_mask.reshape(cells, -1)), {})
    if bad >= 0:
        return fail(_explain(rules, tshape, size, periodic, bounded, pins), bad)
    base = list(search.dom)
    resets_left = max_resets if max_resets is not None else 20 + cells // 500
    assigned: dict[int, int] = {}
    since_reset = 0
    radius, last_conflict = 2, None
    search.n_decisions = search.n_backtracks = search.n_resets = 0
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cells, desc="solve", unit="cell", leave=False)
    while True:
        i = search.next_cell()
        if i < 0:
            break
        t = search.choose(search.dom[i])
        search.decisions.append((i, t, len(search.trail)))
        assigned[i] = t
        search.trail.append((i, search.dom[i]))
        search.dom[i] = 1 << t
        search.n_decisions += 1
        if bar is not None and search.n_decisions % 512 == 0:
            bar.update(512)
        j = search.propagate([i])
        if j < 0:
            continue
        if not backtracking:
            x, y, z = np.unravel_index(j, tshape)
            return fail(f"plain WFC stopped at a contradiction at tile cell ({x}, {y}, {z}) after {search.n_decisions} choices", j)
        # chronological backtracking first
        while j >= 0 and search.decisions and since_reset < backtrack_limit:
            since_reset += 1
            search.n_backtracks += 1
            ci, ct, mark = search.decisions.pop()
            del assigned[ci]
            search.undo(mark)
            rest = search.dom[ci] & ~(1 << ct)
            if rest:
                search.trail.append((ci, search.dom[ci]))
                search.dom[ci] = rest
                if rest & (rest - 1):
                    heapq.heappush(search.heap, (search.key(ci, rest), ci, rest))
                j = search.propagate([ci])
        if j < 0:
            continue
        # block repair: forget the choices near the contradiction and rebuild
        if resets_left == 0:
            x, y, z = np.unravel_index(j, tshape)
            return fail(f"gave up after {search.n_resets} block repairs and {search.n_backtracks} backtracks; "
                        f"the last contradiction was at tile cell ({x}, {y}, {z}); the rules may not allow this size, these edges or pins", j)
        resets_left -= 1
        search.n_resets += 1
        if search.decisions:  # the newest choice caused the contradiction: drop it
            ci, _, _ = search.decisions[-1]
            del assigned[ci]
        c = np.array(np.unravel_index(j, tshape))
        if last_conflict is not None and np.abs(c - last_conflict).max() <= radius:
            radius = min(2 * radius, max(tshape))
        else:
            radius = 2
        last_conflict = c
        for ci in list(assigned):
            if np.abs(np.array(np.unravel_index(ci, tshape)) - c).max() <= radius:
                del assigned[ci]
        since_reset = 0
        if search.start(base, assigned) >= 0:  # cannot happen: a subset of consistent choices
            return fail("internal error: rebuilding from consistent choices contradicted", j)
    if bar is not None:
        bar.close()
    tiles = np.array([d.bit_length() - 1 for d in search.dom]).reshape(tshape)
    grid = rules.decode(tiles, periodic)
    return SolveResult(grid, tiles, True, "solved", None, _stats(t0, cells, search))


def _stats(t0: float, cells: int, search: _Search) -> dict:
    seconds = time.perf_counter() - t0
    return {
        "seconds": seconds,
        "cells": cells,
        "cells_per_second": cells / max(seconds, 1e-9),
        "decisions": getattr(search, "n_decisions", 0),
        "backtracks": getattr(search, "n_backtracks", 0),
        "resets": getattr(search, "n_resets", 0),
    }


def _explain(rules, tshape, size, periodic, bounded, pins) -> str:
    """Which constraint makes the problem impossible: add edges, then pins one at a time,
    and name the first that leaves a cell without any tile."""
    cells = int(np.prod(tshape))

    def contradicts(ps, b):
        s = _Search(rules, tshape, periodic, "scanline", random.Random(0))
        return s.start(_pack(_tile_domains(rules, tshape, size, periodic, b, ps).reshape(cells, -1)), {})

    if contradicts([], False) >= 0:
        return f"the rules cannot fill any grid of size {size} (periodic={periodic}): some direction has no allowed neighbour for any tile"
    bad = contradicts([], bounded)
    if bad >= 0:
        return (f"the rules cannot fill size {size} with bounded edges: the examples' border tiles do not fit together at "
                f"{tuple(int(v) for v in np.unravel_index(bad, tshape))}; use a larger size, periodic edges or --free-edges")
    for k in range(len(pins)):
        bad = contradicts(pins[: k + 1], bounded)
        if bad >= 0:
            where = tuple(int(v) for v in np.unravel_index(bad, tshape))
            before = "" if k == 0 else f" together with the pins before it ({', '.join(p.text for p in pins[:k])})"
            return f"pin {pins[k].text!r}{before} is impossible under the rules: no tile fits at {where}"
    return "the constraints contradict each other"
