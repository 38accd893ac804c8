"""The search behind `solver.solve`, as a plain-Python reference; `search_numba` is the same
search compiled. Both take the same steps and draw the same random numbers (SplitMix64), so
for one problem and seed they return the same tiles, decision for decision (the tests check
it). This file is the one to read; the compiled one follows it step by step.

State: a domain per cell (here a Python int used as a bitset: bit t = tile t still possible),
a trail of (cell, old domain) to undo, a heap of candidate cells (key, cell, stamp), the
decisions (cell, tile, trail length before it) and the tile assigned to each cell (-1: none).

* Every change of a cell's domain gives the cell a new stamp; heap entries with an older
  stamp are stale and skipped. A cell with 2+ tiles left is pushed with key = its
  frequency-weighted entropy + 1e-6 x random (ties broken at random), or the cell index
  for scanline order: once per propagation (with its final domain), per undone trail
  entry, and for every cell when the domains are rebuilt.
* Propagation is AC-3: cells wait on a LIFO stack (each at most once); a popped cell narrows
  each neighbour to the union of what its tiles allow in that direction.
* Choice: pop the least key, draw a tile with the learned frequencies, propagate. With a
  `context` table (the adjacency model) a tile's weight is its frequency times, for every
  neighbour already down to one tile a, how often a sits on that side of it in the examples
  per occurrence of the tile: context[d, t, a] = counts[d, t, a] / w_t. Those conditional
  frequencies are what keeps a courtyard's floor a floor and a wall a wall: drawn with the
  global frequencies alone, every cell is an independent draw and large structures dissolve
  into noise. Products only (no exp/log), so both engines round alike.
* Balance (`Settings.balance` = b > 0): the weight is also multiplied by
  ((n + K) f_t / (c_t + K f_t))^b, where f_t = w_t / sum(w) is the tile's frequency in the
  examples, c_t how many cells now hold tile t alone and n how many cells hold one tile
  (K = BALANCE_PRIOR cells of the examples' mix count as already placed). A tile the output
  has too few of is drawn more, one it has too many of less, so the label histogram follows
  the examples'. Without it, a scanline that starts on a tile that continues itself (the
  castle's outer ground) lays it far beyond its share. The power is C's pow in both engines.
* Contradiction: chronological backtracking (undo the last decision, forbid its tile,
  propagate); after `backtrack_limit` backtracks since the last repair, block repair: drop
  the newest decision and every decision within a Chebyshev radius of the contradiction,
  and rebuild the domains from the base and the remaining decisions (Merrell's
  modification in blocks); the radius doubles when the contradiction returns near the
  previous one.
"""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

import numpy as np

SOLVED, RUNNING, CONTRADICTION, GAVE_UP, INTERNAL = 0, 1, 2, 3, 4
MASK64 = (1 << 64) - 1


class SplitMix64:
    """A tiny 64-bit generator (Steele et al. 2014) that both searches implement bit for bit."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def random(self) -> float:
        """Uniform in [0, 1) with 53 random bits."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return ((z ^ (z >> 31)) >> 11) * 2.0**-53


@dataclass
class Problem:
    """A tile grid to fill. shape: (Tx, Ty, Tz), cells in C order. nbr: (6, N) int64, the
    neighbour of each cell in direction d ([+x,-x,+y,-y,+z,-z]), -1 past a bounded edge.
    compat: (6, T, T) bool, tile b allowed at cell + d when tile a is at the cell.
    weights: (T,) tile frequencies (> 0 for every tile a domain may hold).
    context: (6, T, T) float, the conditional frequencies of the choice (module docstring), or
    None: draw with `weights` alone (WFC's rule)."""

    shape: tuple[int, int, int]
    nbr: np.ndarray
    compat: np.ndarray
    weights: np.ndarray
    context: np.ndarray | None = None

    @property
    def wlogw(self) -> np.ndarray:
        w = self.weights.astype(float)
        return np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0)


@dataclass
class Settings:
    seed: int = 0
    heuristic: str = "entropy"  # or "scanline"
    backtracking: bool = True
    backtrack_limit: int = 64
    max_resets: int = 20
    balance: float = 0.0  # exponent of the histogram feedback of the choice (module docstring)


BALANCE_PRIOR = 50.0  # K: cells of the examples' mix that the balance counts before any is placed


@dataclass
class Outcome:
    """status: SOLVED, CONTRADICTION (plain WFC stopped), GAVE_UP (out of block repairs) or
    INTERNAL. conflict: the cell where it stopped, -1 if solved. tiles: (N,) the tile of
    every decided cell (one tile left), -1 elsewhere."""

    status: int
    conflict: int
    tiles: np.ndarray
    decisions: int
    backtracks: int
    resets: int


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


def _unpack(dom: list[int], T: int) -> np.ndarray:
    """n Python ints -> (n, T) bool (inverse of `_pack`)."""
    nbytes = (T + 7) // 8
    raw = np.frombuffer(b"".join(d.to_bytes(nbytes, "little") for d in dom), np.uint8).reshape(len(dom), nbytes)
    return np.unpackbits(raw, axis=1, bitorder="little")[:, :T].astype(bool)


def _tiles(dom: list[int]) -> np.ndarray:
    return np.array([d.bit_length() - 1 if d and not d & (d - 1) else -1 for d in dom], np.int64)


class _Search:
    def __init__(self, problem: Problem, settings: Settings):
        self.shape = problem.shape
        self.nbr = problem.nbr.tolist()
        self.compat = [_pack(problem.compat[d]) for d in range(6)]
        self.w, self.wlogw = problem.weights.astype(float).tolist(), problem.wlogw.tolist()
        self.context = None if problem.context is None else problem.context.tolist()
        self.settings = settings
        self.rng = SplitMix64(settings.seed)
        self.support: dict[int, tuple[int, ...]] = {}  # memo: domain -> allowed per direction
        self.entropy: dict[int, float] = {}
        self.clock = 0
        self.searching = False  # while False (rebuilding), no trail and no heap entries
        self.dom: list[int] = []
        self.stamp = [0] * len(self.nbr[0])
        self.trail: list[tuple[int, int]] = []
        self.heap: list[tuple[float, int, int]] = []
        total = 0.0
        for x in self.w:
            total += x
        self.freq = [x / total for x in self.w]
        self.tally = [0] * len(self.w)  # cells holding tile t alone (for the balance)
        self.singles = 0  # cells holding one tile

    def _count(self, d: int, k: int) -> None:
        """Add k to the tally if the domain d is one tile."""
        if d and not d & (d - 1):
            self.tally[d.bit_length() - 1] += k
            self.singles += k

    def _supports(self, dom: int) -> tuple[int, ...]:
        out = self.support.get(dom)
        if out is None:
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
        if self.settings.heuristic == "scanline":
            return float(i)
        h = self.entropy.get(dom)
        if h is None:
            total = s = 0.0
            for t in _bits(dom):
                total += self.w[t]
                s += self.wlogw[t]
            self.entropy[dom] = h = math.log(total) - s / total
        return h + 1e-6 * self.rng.random()

    def set(self, i: int, d: int) -> None:
        """New domain d for cell i: trailed (while searching), and a new stamp."""
        if self.searching:
            self.trail.append((i, self.dom[i]))
        self._count(self.dom[i], -1)
        self._count(d, 1)
        self.dom[i] = d
        self.clock += 1
        self.stamp[i] = self.clock

    def push(self, i: int) -> None:
        """A heap entry for cell i at its current stamp, if it still has a choice."""
        d = self.dom[i]
        if d & (d - 1):
            heapq.heappush(self.heap, (self.key(i, d), i, self.stamp[i]))

    def propagate(self, stack: list[int]) -> int:
        """AC-3 from the cells in `stack`; returns a cell whose domain became empty, or -1."""
        dom, nbr = self.dom, self.nbr
        waiting = set(stack)
        changed: dict[int, None] = {}  # narrowed here, in order of first change
        while stack:
            i = stack.pop()
            waiting.discard(i)
            sup = self._supports(dom[i])
            for d in range(6):
                j = nbr[d][i]
                if j < 0:
                    continue
                dj = dom[j]
                nd = dj & sup[d]
                if nd != dj:
                    if not nd:
                        return j
                    self.set(j, nd)
                    changed[j] = None
                    if j not in waiting:
                        waiting.add(j)
                        stack.append(j)
        if self.searching:  # one heap entry per narrowed cell, with its final domain
            for j in changed:
                self.push(j)
        return -1

    def start(self, base: list[int], assigned: list[int]) -> int:
        """Domains = `base` with the assigned tiles fixed, made arc consistent; fresh trail,
        decisions and heap. Returns a contradicting cell or -1."""
        self.dom = list(base)
        self.trail, self.heap, self.decisions = [], [], []
        self.searching = False
        stack = [i for i, t in enumerate(assigned) if t >= 0]
        for i in stack:
            self.dom[i] = 1 << assigned[i]
        bad = self.propagate(stack)
        self.searching = True
        self.tally, self.singles = [0] * len(self.w), 0
        for i in range(len(base)):
            self._count(self.dom[i], 1)
            self.push(i)
        return bad

    def next_cell(self) -> int:
        heap, stamp = self.heap, self.stamp
        while heap:
            _, i, s = heapq.heappop(heap)
            if stamp[i] == s:
                return i
        return -1

    def choose(self, i: int) -> int:
        """A tile of cell i's domain, drawn with the learned frequencies (times the context of
        its decided neighbours, see the module docstring)."""
        tiles = _bits(self.dom[i])
        p = [self.w[t] for t in tiles]
        if self.context is not None:
            for d in range(6):
                j = self.nbr[d][i]
                if j >= 0 and self.dom[j] and not self.dom[j] & (self.dom[j] - 1):
                    a = self.dom[j].bit_length() - 1
                    for k, t in enumerate(tiles):
                        p[k] *= self.context[d][t][a]
        b = self.settings.balance
        if b > 0:
            n = self.singles + BALANCE_PRIOR
            for k, t in enumerate(tiles):
                f = self.freq[t]
                p[k] *= (n * f / (self.tally[t] + BALANCE_PRIOR * f)) ** b
        total = 0.0
        for q in p:
            total += q
        r = self.rng.random() * total
        cum = 0.0
        for t, q in zip(tiles, p):
            cum += q
            if cum > r:
                return t
        return tiles[-1]

    def undo(self, mark: int) -> None:
        while len(self.trail) > mark:
            j, old = self.trail.pop()
            self._count(self.dom[j], -1)
            self._count(old, 1)
            self.dom[j] = old
            self.clock += 1
            self.stamp[j] = self.clock
            self.push(j)

    def near(self, a: int, b: int, radius: int) -> bool:
        """Chebyshev distance between cells a and b (C order of the tile grid) <= radius."""
        _, ny, nz = self.shape
        return max(abs(a // (ny * nz) - b // (ny * nz)), abs(a // nz % ny - b // nz % ny), abs(a % nz - b % nz)) <= radius


def consistent(problem: Problem, allowed: np.ndarray, changed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Arc-consistent domains within `allowed` (N, T) bool: ((N, T) bool, -1), or
    (partial domains, a cell left without any tile). changed: the cells whose domains may not be
    consistent with their neighbours' (ascending; default: every cell), the rest already are."""
    s = _Search(problem, Settings())
    s.dom = _pack(allowed)
    bad = s.propagate(list(range(len(s.dom))) if changed is None else [int(i) for i in changed])
    return _unpack(s.dom, allowed.shape[1]), bad


def search(problem: Problem, base: np.ndarray, settings: Settings, progress=None) -> Outcome:
    """Fill the tile grid from the arc-consistent `base` (N, T) bool domains.
    progress: optional callable(decisions made so far)."""
    s = _Search(problem, settings)
    base_dom = _pack(base)
    N = len(base_dom)
    assigned = [-1] * N
    s.start(base_dom, assigned)
    since_reset, radius, last = 0, 2, -1
    resets_left = settings.max_resets
    n_dec = n_bt = n_res = 0

    def done(status, j=-1):
        return Outcome(status, j, _tiles(s.dom), n_dec, n_bt, n_res)

    while True:
        i = s.next_cell()
        if i < 0:
            return done(SOLVED)
        t = s.choose(i)
        s.decisions.append((i, t, len(s.trail)))
        assigned[i] = t
        s.set(i, 1 << t)
        n_dec += 1
        if progress is not None and n_dec % 4096 == 0:
            progress(n_dec)
        j = s.propagate([i])
        if j < 0:
            continue
        if not settings.backtracking:
            return done(CONTRADICTION, j)
        while j >= 0 and s.decisions and since_reset < settings.backtrack_limit:
            since_reset += 1
            n_bt += 1
            ci, ct, mark = s.decisions.pop()
            assigned[ci] = -1
            s.undo(mark)
            rest = s.dom[ci] & ~(1 << ct)
            if rest:
                s.set(ci, rest)
                s.push(ci)
                j = s.propagate([ci])
        if j < 0:
            continue
        if resets_left == 0:
            return done(GAVE_UP, j)
        resets_left -= 1
        n_res += 1
        if s.decisions:  # the newest choice led here: drop it too
            assigned[s.decisions[-1][0]] = -1
        radius = min(2 * radius, max(s.shape)) if last >= 0 and s.near(j, last, radius) else 2
        last = j
        for ci in range(N):
            if assigned[ci] >= 0 and s.near(ci, j, radius):
                assigned[ci] = -1
        since_reset = 0
        if s.start(base_dom, assigned) >= 0:  # cannot happen: a subset of consistent choices
            return done(INTERNAL, j)
