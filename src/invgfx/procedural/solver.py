"""A solver that fills a grid with tiles so that every adjacent pair obeys a `RuleSet`.

It is WaveFunctionCollapse / model synthesis with what plain WFC lacks:

* propagation is AC-3 over the 6-neighbourhood on bitset domains;
* the next cell is the one of least entropy (frequency-weighted, tiny random tie-break) or
  the next in scanline order; its tile is drawn with the learned frequencies;
* on a contradiction it backtracks chronologically (undo the last choice, forbid it,
  propagate); when that has not helped after `backtrack_limit` steps, it clears the
  choices in a block around the contradiction and rebuilds the domains from the remaining
  choices (Merrell's modification in blocks, used as repair); the block grows when the
  contradiction comes back to the same place;
* pins restrict cells to label sets, bounded edges restrict the border cells to tiles seen
  on the same face of the examples, periodic edges wrap around.
* a large grid (BLOCK_CELLS tile cells or more) is synthesised in blocks, as Merrell's model
  synthesis: columns of BLOCK x BLOCK cells, each solved with its done neighbours fixed, two at a
  time where they are independent, so the cost per cell stays flat as the grid grows.

This module turns rules, size, edges and pins into a `search.Problem` and its starting
domains; the search itself runs compiled (`search_numba`, engine "fast") or in plain Python
(`search`, engine "reference"): the same steps and random numbers, so the same grids.

Contradictions never raise: the result says whether it succeeded, and if not, which pin or
cell made it impossible.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from . import search as reference
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
    conflict: the tile cell where it got stuck, if any. stats: seconds (the solve's own, wall),
        thread_seconds (a large grid, solved in blocks: CPU seconds of each worker thread, then of
        the retries), retries (blocks solved again),
        load_seconds (loading the compiled search, the first solve of a process), cells_per_second,
    decisions, backtracks, resets (block repairs), restarts (searches begun again, `_restarting`),
    engine (the search module that ran)."""

    grid: np.ndarray
    tiles: np.ndarray
    ok: bool
    message: str
    conflict: tuple[int, int, int] | None = None
    stats: dict = field(default_factory=dict)


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


def _engine(name: str):
    """The search module for `name`: "fast" (numba; falls back to the reference, with a
    warning, where numba is missing) or "reference"."""
    if name == "reference":
        return reference
    if name != "fast":
        raise ProceduralError(f"engine={name!r}; use 'fast' or 'reference'")
    try:
        from . import search_numba
    except ImportError:
        warnings.warn("numba is not installed: solving with the pure-Python reference search (same grids, about 10x slower)", stacklevel=3)
        return reference
    return search_numba


_LOADED: set = set()
# chosen on the castle, city and buildings examples (docs/procedural.md) before Merrell's were measured
BALANCE = 0.5  # the default exponent of the histogram feedback for adjacency rules
# measured on castle, city and buildings examples, 80^2 to 320^2 x 20 (docs/procedural.md): below
# BLOCK_CELLS one search is faster; 64 / 4 kept the style of one search at the least extra work
BLOCK_CELLS = 200_000  # tile grids this large are solved in blocks (`_block_search`)
BLOCK = 64  # tile cells per block side, in x and y; a block takes the whole height
MARGIN = 4  # cells solved past a block's high x and y sides, kept until a later box solves them again
RETRIES = ((BLOCK // 2, True), (BLOCK, True), (BLOCK // 2, False))
"""How a block that does not fit is solved again (`_block_search`): (cells of its done neighbours
cleared around it, whether the undone grid's faces hold ends), in turn."""


RESTART_RESETS = 8
"""A search left to its default allowance of block repairs starts again from its first cell, with
another seed, after this many, and with twice the allowance each time, until the allowance is the
default (`_restarting`)."""


def max_repairs(cells: int) -> int:
    """The default allowance of block repairs for a search over `cells` tile cells."""
    return 20 + cells // 500


def _restarting(search, problem, base, settings, restarts: bool, progress=None):
    """search.search, with randomised restarts when `restarts`: a backtracking search's time over
    seeds has a heavy tail (Merrell's gadgets example at 80x80x20: 175 to 9,235 backtracks and 3 to
    144 block repairs per seed), and a search that is still repairing after RESTART_RESETS repairs
    is more likely to finish sooner from a fresh start than where it is. Restart k draws from
    (settings.seed, k). Counts in the outcome are summed over the attempts; .restarts says how many
    there were. Without `restarts` (a user's own max_resets), one search."""
    limit, k, counts = (RESTART_RESETS if restarts else settings.max_resets), 0, {}
    while True:
        final = limit >= settings.max_resets
        seed = settings.seed if k == 0 else int(np.random.SeedSequence([settings.seed, k]).generate_state(1)[0])
        out = search.search(problem, base, replace(settings, seed=seed, max_resets=min(limit, settings.max_resets)),
                            progress=progress)
        for key in ("decisions", "backtracks", "resets"):
            counts[key] = counts.get(key, 0) + getattr(out, key)
        if out.status != reference.GAVE_UP or final:
            break
        limit, k = 2 * limit, k + 1
    out.decisions, out.backtracks, out.resets = counts["decisions"], counts["backtracks"], counts["resets"]
    out.restarts = k
    return out


def _waves(nbx: int, nby: int) -> list[list[tuple[int, int]]]:
    """Blocks (i, j) grouped by i + 2 j. Block (i, j) with its margin and ring reaches the blocks
    (i - 1, j), (i, j - 1), (i + 1, j - 1) (all of lower waves) and undone ones; the boxes of one
    wave's blocks are disjoint (MARGIN < BLOCK - 1), so they can be solved at once."""
    waves: dict[int, list] = {}
    for j in range(nby):
        for i in range(nbx):
            waves.setdefault(i + 2 * j, []).append((i, j))
    return [waves[t] for t in sorted(waves)]


def _block_search(search, rules, tshape, periodic, bounded, choice, allowed, settings, threads: int, advance=None,
                  restarts: bool = True):
    """Model synthesis in blocks (Merrell 2007/2011) for a large grid: the grid is cut into
    BLOCK x BLOCK columns of the whole height, solved in order, so that the cost per cell does not
    grow with the grid. Each block is solved in a box: the block, a MARGIN past its high x and y
    sides (so that what crosses them can be continued) and a ring of one cell around. Every cell
    of the box that an earlier box set is held fixed in the ring and solved anew inside; the
    whole solution is kept (the block for good, the margin until a later box solves it again).
    As in Merrell's method the model is kept consistent at all times: with bounded edges, an
    unset ring cell must hold a tile the examples show on that face of their border, as if the
    grid ended there, so that nothing crosses into undone cells that could not be closed. A box
    starts from `allowed` (Tx, Ty, Tz, T), the grid's edge and pin domains, not from the whole
    grid's arc-consistent ones: those have dropped the tiles that only end a grid from every
    cell inside it, and a ring cell that stands for the undone grid needs them (on Merrell's
    city lights, the first box of a 160 x 160 grid had no tile left where the grid's -x border
    meets the box's +y ring).

    The blocks of one wave (`_waves`) do not touch and run on `threads` threads (the compiled
    search releases the GIL). A block that does not fit is solved again after its wave with
    BLOCK / 2, then BLOCK cells of its done neighbours cleared around it (modification in blocks); if none
    of those fits either, -> None and the caller searches the whole grid. Each block draws from
    its own seed (settings.seed, block), so the grid does not depend on `threads`.
    -> search.Outcome over the whole tile grid, with .thread_seconds (CPU seconds of each worker
    thread, then of the retries) and .retries (boxes solved again)."""
    import threading
    from concurrent.futures import ThreadPoolExecutor

    X, Y, _ = tshape
    T = rules.n_tiles
    one_tile = np.eye(T, dtype=bool)
    tiles = np.full(tshape, -1, np.int64)  # the model so far; -1: not set
    sub_periodic = (False, False, periodic[2])
    problems: dict = {}
    seconds: dict = {}  # thread -> CPU seconds
    counts = {"decisions": 0, "backtracks": 0, "resets": 0, "restarts": 0}
    lock = threading.Lock()

    def fit(free, part, ends=True) -> bool:
        """Solve the cells of the box `free` (x0, x1, y0, y1) anew, with the set cells of the
        ring around it fixed, and write the box's cells into `tiles` (not the ring's: an unset
        ring cell stays the undone grid, which a later box would otherwise take as fixed).
        -> False, with `tiles` unchanged, if it cannot be done."""
        t0 = time.thread_time()
        x0, x1, y0, y1 = free
        bx0, bx1, by0, by1 = max(0, x0 - 1), min(X, x1 + 1), max(0, y0 - 1), min(Y, y1 + 1)
        ring = tiles[bx0:bx1, by0:by1].copy()
        ring[x0 - bx0:x1 - bx0, y0 - by0:y1 - by0] = -1
        set_ = ring >= 0
        shape = ring.shape
        with lock:
            if shape not in problems:
                problems[shape] = _problem(rules, shape, sub_periodic, choice)
        problem, out = problems[shape], None
        # With bounded edges, the undone grid's cells in the ring must hold tiles the examples show
        # on that face of their border, as if the grid ended there, so that nothing leaves the box
        # that could not be closed; where that leaves no tile (an example framed by border tiles of
        # its own: an earlier box ended its solution towards another face, and no tile ends both
        # ways), only on the faces no earlier box has touched.
        for faces in (("all", "untouched") if bounded and ends else (None,)):
            domains = allowed[bx0:bx1, by0:by1].copy()
            domains[set_] = one_tile[ring[set_]]
            for face, d, there in ((np.s_[0], 1, bx0 < x0), (np.s_[-1], 0, bx1 > x1),
                                   (np.s_[:, 0], 3, by0 < y0), (np.s_[:, -1], 2, by1 > y1)):
                if there and (faces == "all" or faces == "untouched" and not set_[face].any()):
                    domains[face][~set_[face]] &= rules.boundary[d]
            start, bad = _consistent(search, problem, domains.reshape(-1, T))
            if bad < 0:
                break
        if bad < 0:
            cells = int(np.prod(shape))
            out = _restarting(search, problem, start, replace(settings, seed=settings.seed * 1_000_003 + part,
                                                              max_resets=max_repairs(cells)), restarts)
        with lock:
            key = threading.get_ident()
            seconds[key] = seconds.get(key, 0.0) + time.thread_time() - t0
            if out is not None:
                for k in counts:
                    counts[k] += getattr(out, k)
        if out is None or out.status != reference.SOLVED:
            return False
        inside = (slice(x0 - bx0, x1 - bx0), slice(y0 - by0, y1 - by0))
        tiles[x0:x1, y0:y1] = out.tiles.reshape(shape)[inside]
        return True

    def block(i, j):
        return i * BLOCK, min(X, (i + 1) * BLOCK), j * BLOCK, min(Y, (j + 1) * BLOCK)

    def box(ij, reach=0):
        x0, x1, y0, y1 = block(*ij)
        return max(0, x0 - reach), min(X, x1 + MARGIN), max(0, y0 - reach), min(Y, y1 + MARGIN)

    nbx, nby = -(-X // BLOCK), -(-Y // BLOCK)
    n_blocks, retries = nbx * nby, 0
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        for wave in _waves(nbx, nby):
            fitted = list(pool.map(lambda ij: fit(box(ij), 1 + ij[0] + nbx * ij[1]), wave))
            for ij, ok in zip(wave, fitted):  # the misfits, one at a time, in block order
                for k, (reach, ends) in enumerate(RETRIES):
                    if ok:
                        break
                    retries += 1
                    ok = fit(box(ij, reach), 1 + ij[0] + nbx * ij[1] + (k + 1) * n_blocks, ends)
                if not ok:
                    return None
            if advance is not None:
                advance(sum((x1 - x0) * (y1 - y0) for x0, x1, y0, y1 in (block(*ij) for ij in wave)) * tshape[2])
    out = reference.Outcome(reference.SOLVED, -1, tiles.ravel(), counts["decisions"], counts["backtracks"], counts["resets"])
    out.restarts = counts["restarts"]
    main = threading.get_ident()
    out.thread_seconds = [v for k, v in seconds.items() if k != main] + [seconds.get(main, 0.0)]
    out.retries = retries
    return out


def _check_memory(size, cells: int, n_tiles: int, in_blocks: bool) -> None:
    """Refuse, with the figure, a grid whose search would not fit in this machine's memory: per
    tile cell a bool per tile (the domains), and about 26 int64 of search state per domain word
    for one search of the whole grid (neighbours, trail, heap, bookkeeping: the arrays
    `search_numba` allocates), or 3 int64 in blocks (the model; each box has its own search)."""
    import os

    need = cells * (n_tiles + (24 if in_blocks else 26 * 8 * max(1, -(-n_tiles // 64))))
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):  # not a POSIX system: no figure to compare with
        return
    if need > have:
        raise ProceduralError(f"size {'x'.join(map(str, size))}: solving it needs about {need / 2**30:,.0f} GiB "
                              f"({n_tiles} tiles, {cells:,} cells), this machine has {have / 2**30:,.0f} GiB; "
                              "choose a smaller size")


def _consistent(search, problem, domains: np.ndarray, changed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """(arc-consistent domains, the first cell left without a tile or -1): a cell that starts
    with no tile (a pin of a label the rules never place there) counts, not only one that
    propagation empties. changed: as `search.consistent`."""
    empty = np.flatnonzero(~domains.any(1))
    if len(empty):
        return domains, int(empty[0])
    return search.consistent(problem, domains, changed)


def _load(search, rules: RuleSet) -> float:
    """Seconds spent loading the compiled search from numba's cache (or compiling it), done once
    per process on a one-cell problem so that the solve time that is reported is the solve's."""
    if search is reference or search in _LOADED:
        return 0.0
    t0 = time.perf_counter()
    problem = _problem(rules, (1, 1, 1), (False, False, False))
    base, _ = search.consistent(problem, np.ones((1, rules.n_tiles), bool))
    search.search(problem, base, reference.Settings(0, "entropy", True, 1, 1))
    _LOADED.add(search)
    return time.perf_counter() - t0


def _problem(rules: RuleSet, tshape, periodic, choice: str = "frequency") -> reference.Problem:
    """The search problem: the neighbour table (6, N) of the tile grid (-1 past a bounded edge,
    wrapped on periodic axes), compatibilities, weights and, for choice "context", the
    conditional frequencies of the adjacency model (see search.py)."""
    idx = np.arange(int(np.prod(tshape))).reshape(tshape)
    nbr = np.empty((6, idx.size), np.int64)
    for d, (dx, dy, dz) in enumerate(DIRECTIONS):
        j = np.roll(idx, (-dx, -dy, -dz), axis=(0, 1, 2))
        for axis, o in enumerate((dx, dy, dz)):
            if o and not periodic[axis]:
                edge = [slice(None)] * 3
                edge[axis] = -1 if o > 0 else 0
                j[tuple(edge)] = -1
        nbr[d] = j.ravel()
    # a tile the examples never showed has weight 0 and is never in a domain (`_tile_domains`);
    # a tiny weight keeps the context table's division finite for it
    w = rules.weights.astype(float)
    w = np.where(w > 0, w, 1e-12 * max(float(w.max()), 1.0))
    context = None
    if choice == "context" and rules.patterns is None:  # overlapping patterns carry their context already
        context = rules.counts.astype(float) / w[None, :, None]
    return reference.Problem(tuple(tshape), nbr, rules.compat, w, context)


def solve(
    rules: RuleSet,
    size: tuple[int, int, int],
    *,
    pins: list[Pin] | None = None,
    periodic: tuple[bool, bool, bool] = (False, False, False),
    bounded: bool = True,
    ground: str | None = None,
    seed: int = 0,
    heuristic: str | None = None,
    choice: str = "context",
    balance: float | None = None,
    backtracking: bool = True,
    backtrack_limit: int = 64,
    max_resets: int | None = None,
    progress: bool = False,
    engine: str = "fast",
    threads: int = 2,
    blocks: bool | None = None,
) -> SolveResult:
    """Fill a label grid of `size` (X, Y, Z) that satisfies `rules` exactly.

    pins: user constraints (see `Pin.parse`, `massing_pins`). periodic: wrap per axis.
    bounded: restrict border cells of non-periodic axes to tiles the examples showed on the
    same face (else borders are free). ground: a label to put on every voxel of z = 0 and
    nowhere else (2D grids, Z = 1: the bottom row y = 0, as WFC's ground).
    heuristic: "entropy" (least entropy first), "scanline" (cells in x, y, z order, z fastest:
    column by column, bottom up) or None: scanline for the adjacency model with choice
    "context" (measured closest to the examples, docs/procedural.md), else entropy.
    choice: "context" (a tile's frequency times how often its decided neighbours sit beside it
    in the examples: the adjacency model keeps the examples' large structures) or
    "frequency" (WFC's global frequencies).
    balance: how strongly the draw steers the output's label counts to the examples' frequencies
    (0: not at all; see `search`); None: BALANCE for the adjacency model, 0 for the overlapping
    model, whose patterns match the sample's histogram already (docs/procedural.md).
    backtracking=False gives plain WFC: stop at the first contradiction.
    max_resets: block repairs allowed before giving up (default grows with the size).
    engine: "fast" (compiled) or "reference" (plain Python); both give the same grid.
    threads: how many blocks of a large grid are solved at once (`_block_search`); the grid is
    the same for any value, only the wall time changes.
    blocks: synthesise in blocks (True) or search the whole grid at once (False); None: in blocks
    from BLOCK_CELLS tile cells up, where x and y are not periodic (docs/procedural.md)."""
    if heuristic is None:
        heuristic = "scanline" if rules.patterns is None and choice == "context" else "entropy"
    if heuristic not in ("entropy", "scanline"):
        raise ProceduralError(f"heuristic={heuristic!r}; use 'entropy' or 'scanline'")
    if choice not in ("context", "frequency"):
        raise ProceduralError(f"choice={choice!r}; use 'context' or 'frequency'")
    if balance is None:
        balance = BALANCE if rules.patterns is None else 0.0
    if not 0 <= balance <= 4:
        raise ProceduralError(f"balance={balance!r}; use a number from 0 (off) to 4 (the default is {BALANCE})")
    search = _engine(engine)
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
        axis = 1 if size[2] == 1 else 2  # 2D grids (Z = 1) stand on their bottom row, y = 0
        layer[(slice(None),) * axis + (0,)] = True
        where = "row y=0" if axis == 1 else "layer z=0"
        pins += [Pin(layer, (g,), f"ground {where} {ground}"),
                 Pin(~layer, tuple(i for i in range(len(rules.names)) if i != g), f"no {ground} off the {where}")]
    cells = int(np.prod(tshape))
    in_blocks = ((cells >= BLOCK_CELLS) if blocks is None else blocks) and not (periodic[0] or periodic[1]) \
        and max(tshape[:2]) > BLOCK
    _check_memory(size, cells, rules.n_tiles, in_blocks)
    load_seconds = _load(search, rules)
    t0 = time.perf_counter()
    problem = _problem(rules, tshape, periodic, choice)

    def result(tiles, ok, msg, cell=None, outcome=None):
        tiles = tiles.reshape(tshape)
        if ok:
            grid = rules.decode(tiles, periodic)
        else:
            grid = np.where(tiles >= 0, rules.tile_labels()[tiles], -1) if rules.patterns is not None else tiles
        where = tuple(int(c) for c in np.unravel_index(cell, tshape)) if cell is not None else None
        seconds = time.perf_counter() - t0
        stats = {"seconds": seconds, "cells": cells, "cells_per_second": cells / max(seconds, 1e-9),
                 "engine": search.__name__.rsplit(".", 1)[-1], "load_seconds": load_seconds}
        stats |= {k: getattr(outcome, k, 0) for k in ("decisions", "backtracks", "resets", "restarts")}
        if getattr(outcome, "thread_seconds", None):  # solved in blocks
            stats["thread_seconds"], stats["retries"] = outcome.thread_seconds, outcome.retries
        return SolveResult(grid, tiles, ok, msg, where, stats)

    allowed = _tile_domains(rules, tshape, size, periodic, bounded, pins)
    base, bad = _consistent(search, problem, allowed.reshape(cells, -1))
    if bad >= 0:
        decided = np.where(base.sum(1) == 1, base.argmax(1), -1)
        return result(decided, False, _explain(search, rules, tshape, size, periodic, bounded, pins), bad)
    settings = reference.Settings(seed, heuristic, backtracking, backtrack_limit,
                                  max_resets if max_resets is not None else max_repairs(cells), float(balance))
    restarts = max_resets is None and backtracking
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=cells, desc="solve", unit="cell", leave=False)
    out = None
    if in_blocks:
        out = _block_search(search, rules, tshape, periodic, bounded, choice, allowed, settings, threads,
                            None if bar is None else bar.update, restarts)
    if out is None:  # small, periodic in x or y, or a block that would not fit: one search
        if bar is not None:
            bar.reset()
        out = _restarting(search, problem, base, settings, restarts,
                          progress=None if bar is None else lambda k: bar.update(k - bar.n))
    if bar is not None:
        bar.close()
    j = out.conflict
    where = tuple(int(c) for c in np.unravel_index(j, tshape)) if j >= 0 else None
    if out.status == reference.SOLVED:
        return result(out.tiles, True, "solved", outcome=out)
    if out.status == reference.CONTRADICTION:
        msg = f"plain WFC stopped at a contradiction at tile cell {where} after {out.decisions} choices"
    elif out.status == reference.GAVE_UP:
        msg = (f"gave up after {out.resets} block repairs and {out.backtracks} backtracks; the last contradiction was at "
               f"tile cell {where}; the rules may not allow this size, these edges or pins")
    else:
        msg = "internal error: rebuilding from consistent choices contradicted"
    return result(out.tiles, False, msg, j, out)


def _explain(search, rules, tshape, size, periodic, bounded, pins) -> str:
    """Which constraint makes the problem impossible: add edges, then pins one at a time,
    and name the first that leaves a cell without any tile."""
    cells = int(np.prod(tshape))
    problem = _problem(rules, tshape, periodic)

    def contradicts(ps, b):
        return _consistent(search, problem, _tile_domains(rules, tshape, size, periodic, b, ps).reshape(cells, -1))[1]

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
            # the first pinned cell (in x, y, z order) that makes it impossible: a binary search over
            # the pin cut to its first m cells
            cells_k = np.argwhere(pins[k].mask)
            lo, hi = 1, len(cells_k)
            while lo < hi:
                m = (lo + hi) // 2
                part = np.zeros_like(pins[k].mask)
                part[tuple(cells_k[:m].T)] = True
                if contradicts(pins[:k] + [Pin(part, pins[k].labels, pins[k].text)], bounded) >= 0:
                    hi = m
                else:
                    lo = m + 1
            cell = tuple(int(v) for v in cells_k[lo - 1])
            labels = "|".join(rules.names[i] for i in pins[k].labels)
            then = "" if cell == where else f", and then no tile fits at {where}"
            return (f"pin {pins[k].text!r}{before} is impossible under the rules: {labels} cannot be at {cell}"
                    + (" given the pinned cells before it" if lo > 1 else "") + then)
    return "the constraints contradict each other"
