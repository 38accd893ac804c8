"""The search of `search.py`, compiled with numba: same steps, same random numbers, same
result; only the data layout differs.

* A domain is W = ceil(T / 64) int64 words per cell (`dom` (N, W)); tile t is bit t % 64 of
  word t // 64. `compat` is (T, 6 W): per tile, the words allowed in each direction, so a
  popped cell's supports (recomputed, no memo) cost popcount x 6 W contiguous ORs. (A table
  of unions per byte of the domain measured no faster: the heap and the trail cost as much.)
* The trail holds (cell, old row of W words) and grows by doubling; the heap is `hkey` and
  `hent` (cell, stamp) ordered by (key, cell, stamp), and when full it drops its stale
  entries (at most one entry per cell is live).
* The balance's tally (cells holding tile t alone; its last slot: cells holding one tile) is
  `tally` (T + 1), kept up to date wherever a domain changes.
* Per-cell integers live in `cells` (rows below), counters in `ints`; the whole state is in
  arrays, so `_run` can stop after a budget of decisions (progress bar, Ctrl-C) and resume.
* The small helpers of the hot path are inlined (`inline="always"`): a call between compiled
  functions reference-counts every array argument, which cost a third of the run time.

Compiled functions are cached on disk (`cache=True`): the first call in a fresh checkout
compiles (about 20 s on the shared 2-core machine), later processes load the cache (under
a second). They release the GIL (`nogil=True`), so that `solver.solve` can run the two
halves of a large grid on two threads at once.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from .search import BALANCE_PRIOR, CONTRADICTION, GAVE_UP, INTERNAL, RUNNING, SOLVED, Outcome, Problem, Settings

# rows of `cells` (N columns)
STAMP, ASSIGNED, WAITING, STACK, DCELL, DTILE, DMARK, NARROWED, SEEN = range(9)
# slots of `ints`
TLEN, HLEN, DLEN, CLOCK, NDEC, NBT, NRES, SINCE, RADIUS, LAST, RLEFT = range(11)
# slots of `cfg`
ENTROPY, BACKTRACKING, LIMIT, SX, SY, SZ, CONTEXT = range(7)

_GOLDEN, _MIX1, _MIX2 = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_S11, _S27, _S30, _S31, _S58 = (np.uint64(k) for k in (11, 27, 30, 31, 58))
_DEBRUIJN_MUL = np.uint64(0x03F79D71B4CB0A89)
_DEBRUIJN = np.zeros(64, np.int64)  # index of the lowest set bit from the top 6 bits of low * magic
for _k in range(64):
    _DEBRUIJN[((1 << _k) * 0x03F79D71B4CB0A89 & (2**64 - 1)) >> 58] = _k


@njit(cache=True, nogil=True, inline="always")
def _random(rng):
    """SplitMix64 (rng: uint64[1] state), as `search.SplitMix64.random`."""
    s = rng[0] + _GOLDEN
    rng[0] = s
    z = (s ^ (s >> _S30)) * _MIX1
    z = (z ^ (z >> _S27)) * _MIX2
    return ((z ^ (z >> _S31)) >> _S11) * (1.0 / 9007199254740992.0)


@njit(cache=True, nogil=True, inline="always")
def _low_bit(x):
    """Index of the lowest set bit of the nonzero int64 x."""
    low = np.uint64(x & -x)
    return _DEBRUIJN[(low * _DEBRUIJN_MUL) >> _S58]


@njit(cache=True, nogil=True, inline="always")
def _single(row):
    """True if the domain row holds exactly one tile."""
    seen = False
    for x in row:
        if x != 0:
            if seen or x & (x - 1) != 0:
                return False
            seen = True
    return seen


@njit(cache=True, nogil=True, inline="always")
def _count(row, tally, k):
    """Add k to the tally if the domain row is one tile (as `search._Search._count`)."""
    if _single(row):
        for q in range(row.shape[0]):
            if row[q] != 0:
                tally[64 * q + _low_bit(row[q])] += k
        tally[tally.shape[0] - 1] += k


@njit(cache=True, nogil=True, inline="always")
def _before(key, cell, st, hkey, hent, b):
    """(key, cell, st) orders before heap entry b."""
    if key != hkey[b]:
        return key < hkey[b]
    if cell != hent[b, 0]:
        return cell < hent[b, 0]
    return st < hent[b, 1]


@njit(cache=True, nogil=True, inline="always")
def _place(hkey, hent, k, key, cell, st):
    hkey[k], hent[k, 0], hent[k, 1] = key, cell, st


@njit(cache=True, nogil=True)
def _sift_down(hkey, hent, n, k):
    """Move entry k down to its place among the first n (children move up into the hole)."""
    key, cell, st = hkey[k], hent[k, 0], hent[k, 1]
    while True:
        c = 2 * k + 1
        if c >= n:
            break
        if c + 1 < n and _before(hkey[c + 1], hent[c + 1, 0], hent[c + 1, 1], hkey, hent, c):
            c += 1
        if _before(key, cell, st, hkey, hent, c):
            break
        _place(hkey, hent, k, hkey[c], hent[c, 0], hent[c, 1])
        k = c
    _place(hkey, hent, k, key, cell, st)


@njit(cache=True, nogil=True, inline="always")
def _heap_push(hkey, hent, ints, stamp, key, cell, st):
    n = ints[HLEN]
    if n == hkey.shape[0]:  # full: keep the live entries only (<= one per cell)
        m = 0
        for k in range(n):
            if stamp[hent[k, 0]] == hent[k, 1]:
                _place(hkey, hent, m, hkey[k], hent[k, 0], hent[k, 1])
                m += 1
        for k in range(m // 2 - 1, -1, -1):
            _sift_down(hkey, hent, m, k)
        n = m
    k = n
    while k > 0 and _before(key, cell, st, hkey, hent, (k - 1) // 2):  # parents move down into the hole
        p = (k - 1) // 2
        _place(hkey, hent, k, hkey[p], hent[p, 0], hent[p, 1])
        k = p
    _place(hkey, hent, k, key, cell, st)
    ints[HLEN] = n + 1


@njit(cache=True, nogil=True)
def _next_cell(hkey, hent, ints, stamp):
    """Pop entries until a live one: its cell, or -1 when the heap is empty."""
    while ints[HLEN] > 0:
        cell, st = hent[0, 0], hent[0, 1]
        n = ints[HLEN] - 1
        ints[HLEN] = n
        if n > 0:
            _place(hkey, hent, 0, hkey[n], hent[n, 0], hent[n, 1])
            _sift_down(hkey, hent, n, 0)
        if stamp[cell] == st:
            return cell
    return -1


@njit(cache=True, nogil=True, inline="always")
def _key(row, i, w, wlogw, cfg, rng):
    if cfg[ENTROPY] == 0:
        return float(i)
    total = 0.0
    s = 0.0
    for q in range(row.shape[0]):
        x = row[q]
        while x != 0:
            t = 64 * q + _low_bit(x)
            total += w[t]
            s += wlogw[t]
            x &= x - 1
    return math.log(total) - s / total + 1e-6 * _random(rng)


@njit(cache=True, nogil=True, inline="always")
def _restamp(cells, ints, i):
    """Cell i's domain changed: a new stamp makes its heap entries stale."""
    ints[CLOCK] += 1
    cells[STAMP, i] = ints[CLOCK]


@njit(cache=True, nogil=True, inline="always")
def _push(dom, i, cells, ints, hkey, hent, w, wlogw, cfg, rng):
    """A heap entry for cell i at its current stamp, if it still has a choice."""
    if not _single(dom[i]):
        _heap_push(hkey, hent, ints, cells[STAMP], _key(dom[i], i, w, wlogw, cfg, rng), i, cells[STAMP, i])


@njit(cache=True, nogil=True, inline="always")
def _trail_push(tcell, trow, ints, i, row):
    """Append (i, copy of row), growing the trail by doubling; returns the trail arrays."""
    n = ints[TLEN]
    if n == tcell.shape[0]:
        bigger_cell = np.empty(2 * n, np.int64)
        bigger_row = np.empty((2 * n, trow.shape[1]), np.int64)
        bigger_cell[:n] = tcell
        bigger_row[:n] = trow
        tcell, trow = bigger_cell, bigger_row
    tcell[n] = i
    for r in range(row.shape[0]):  # explicit loops: slice assignment costs more in numba
        trow[n, r] = row[r]
    ints[TLEN] = n + 1
    return tcell, trow


@njit(cache=True, nogil=True)
def _propagate(dom, nbr, compat, cells, ints, sp, tcell, trow, hkey, hent, w, wlogw, cfg, rng, searching, sup, tally):
    """AC-3 from the `sp` cells on the stack (cells[STACK]); returns (a cell whose domain
    became empty or -1, trail arrays)."""
    W = dom.shape[1]
    stack, waiting, narrowed, seen = cells[STACK], cells[WAITING], cells[NARROWED], cells[SEEN]
    nc = 0
    while sp > 0:
        sp -= 1
        i = stack[sp]
        waiting[i] = 0
        for k in range(6 * W):
            sup[k] = 0
        for q in range(W):
            x = dom[i, q]
            while x != 0:
                allowed = compat[64 * q + _low_bit(x)]
                for k in range(6 * W):
                    sup[k] |= allowed[k]
                x &= x - 1
        for d in range(6):
            j = nbr[d, i]
            if j < 0:
                continue
            changed, empty = False, True
            for r in range(W):
                nd = dom[j, r] & sup[d * W + r]
                if nd != dom[j, r]:
                    changed = True
                if nd != 0:
                    empty = False
            if not changed:
                continue
            if empty:
                for k in range(sp):
                    waiting[stack[k]] = 0
                for k in range(nc):
                    seen[narrowed[k]] = 0
                return j, tcell, trow
            if searching:
                tcell, trow = _trail_push(tcell, trow, ints, j, dom[j])
            for r in range(W):
                dom[j, r] &= sup[d * W + r]
            _count(dom[j], tally, 1)  # it held more than one tile: one that narrows to none stopped above
            _restamp(cells, ints, j)
            if seen[j] == 0:
                seen[j] = 1
                narrowed[nc] = j
                nc += 1
            if waiting[j] == 0:
                waiting[j] = 1
                stack[sp] = j
                sp += 1
    for k in range(nc):  # one heap entry per narrowed cell, with its final domain
        seen[narrowed[k]] = 0
        if searching:
            _push(dom, narrowed[k], cells, ints, hkey, hent, w, wlogw, cfg, rng)
    return -1, tcell, trow


@njit(cache=True, nogil=True)
def _start(dom, base, nbr, compat, cells, ints, tcell, trow, hkey, hent, w, wlogw, cfg, rng, sup, tally):
    """Domains = base with the assigned tiles fixed, made arc consistent; fresh trail,
    decisions and heap. Returns (a contradicting cell or -1, trail arrays)."""
    dom[:] = base
    ints[TLEN] = ints[HLEN] = ints[DLEN] = 0
    sp = 0
    for i in range(dom.shape[0]):
        t = cells[ASSIGNED, i]
        if t >= 0:
            dom[i] = 0
            dom[i, t // 64] = np.int64(1) << (t % 64)
            cells[WAITING, i] = 1
            cells[STACK, sp] = i
            sp += 1
    bad, tcell, trow = _propagate(dom, nbr, compat, cells, ints, sp, tcell, trow, hkey, hent, w, wlogw, cfg, rng, False, sup, tally)
    tally[:] = 0
    for i in range(dom.shape[0]):
        _count(dom[i], tally, 1)
        _push(dom, i, cells, ints, hkey, hent, w, wlogw, cfg, rng)
    return bad, tcell, trow


@njit(cache=True, nogil=True)
def _tile_weight(t, i, dom, nbr, ctx, w, cfg, tally, freq, balance):
    """Tile t's weight at cell i: its frequency, times ctx[d, t, a] for every neighbour down to
    one tile a (in direction order, as search.py multiplies), times the balance's factor."""
    p = w[t]
    if cfg[CONTEXT] != 0:
        for d in range(6):
            j = nbr[d, i]
            if j >= 0 and _single(dom[j]):
                for q in range(dom.shape[1]):
                    if dom[j, q] != 0:
                        p *= ctx[d, t, 64 * q + _low_bit(dom[j, q])]
                        break
    if balance > 0:
        f = freq[t]
        p *= ((tally[tally.shape[0] - 1] + BALANCE_PRIOR) * f / (tally[t] + BALANCE_PRIOR * f)) ** balance
    return p


@njit(cache=True, nogil=True)
def _choose(dom, i, nbr, ctx, w, rng, cfg, tally, freq, balance, wbuf, tbuf):
    """A tile of cell i's domain, drawn with the learned frequencies (and the context of its
    decided neighbours, see search.py); each weight is computed once, into wbuf (tiles in tbuf)."""
    row = dom[i]
    total = 0.0
    n = 0
    for q in range(row.shape[0]):
        x = row[q]
        while x != 0:
            t = 64 * q + _low_bit(x)
            tbuf[n] = t
            wbuf[n] = _tile_weight(t, i, dom, nbr, ctx, w, cfg, tally, freq, balance)
            total += wbuf[n]
            n += 1
            x &= x - 1
    r = _random(rng) * total
    cum = 0.0
    for k in range(n):
        cum += wbuf[k]
        if cum > r:
            return tbuf[k]
    return tbuf[n - 1]


@njit(cache=True, nogil=True)
def _undo(dom, mark, cells, ints, tcell, trow, hkey, hent, w, wlogw, cfg, rng, tally):
    while ints[TLEN] > mark:
        n = ints[TLEN] - 1
        ints[TLEN] = n
        _count(dom[tcell[n]], tally, -1)
        for r in range(dom.shape[1]):
            dom[tcell[n], r] = trow[n, r]
        _count(dom[tcell[n]], tally, 1)
        _restamp(cells, ints, tcell[n])
        _push(dom, tcell[n], cells, ints, hkey, hent, w, wlogw, cfg, rng)


@njit(cache=True, nogil=True)
def _near(a, b, radius, cfg):
    ny, nz = cfg[SY], cfg[SZ]
    return max(abs(a // (ny * nz) - b // (ny * nz)), abs(a // nz % ny - b // nz % ny), abs(a % nz - b % nz)) <= radius


@njit(cache=True, nogil=True)
def _run(dom, base, nbr, compat, ctx, w, wlogw, cells, ints, cfg, rng, tcell, trow, hkey, hent, sup, budget, tally, freq, balance,
         wbuf, tbuf):
    """Decide up to `budget` cells. Returns (status, conflict cell or -1, trail arrays);
    status RUNNING means: call again."""
    N, W = dom.shape
    assigned, stack, waiting = cells[ASSIGNED], cells[STACK], cells[WAITING]
    for _ in range(budget):
        i = _next_cell(hkey, hent, ints, cells[STAMP])
        if i < 0:
            return SOLVED, -1, tcell, trow
        t = _choose(dom, i, nbr, ctx, w, rng, cfg, tally, freq, balance, wbuf, tbuf)
        n = ints[DLEN]
        cells[DCELL, n], cells[DTILE, n], cells[DMARK, n] = i, t, ints[TLEN]
        ints[DLEN] = n + 1
        assigned[i] = t
        tcell, trow = _trail_push(tcell, trow, ints, i, dom[i])
        dom[i] = 0
        dom[i, t // 64] = np.int64(1) << (t % 64)
        tally[t] += 1  # the cell had a choice, so it held more than one tile
        tally[tally.shape[0] - 1] += 1
        _restamp(cells, ints, i)
        ints[NDEC] += 1
        stack[0], waiting[i] = i, 1
        j, tcell, trow = _propagate(dom, nbr, compat, cells, ints, 1, tcell, trow, hkey, hent, w, wlogw, cfg, rng, True, sup, tally)
        if j < 0:
            continue
        if cfg[BACKTRACKING] == 0:
            return CONTRADICTION, j, tcell, trow
        while j >= 0 and ints[DLEN] > 0 and ints[SINCE] < cfg[LIMIT]:
            ints[SINCE] += 1
            ints[NBT] += 1
            n = ints[DLEN] - 1
            ints[DLEN] = n
            ci, ct = cells[DCELL, n], cells[DTILE, n]
            assigned[ci] = -1
            _undo(dom, cells[DMARK, n], cells, ints, tcell, trow, hkey, hent, w, wlogw, cfg, rng, tally)
            rest = dom[ci].copy()
            rest[ct // 64] &= ~(np.int64(1) << (ct % 64))
            if rest.any():
                tcell, trow = _trail_push(tcell, trow, ints, ci, dom[ci])
                dom[ci] = rest
                _count(rest, tally, 1)  # after the undo the cell holds more than one tile again
                _restamp(cells, ints, ci)
                _push(dom, ci, cells, ints, hkey, hent, w, wlogw, cfg, rng)
                stack[0], waiting[ci] = ci, 1
                j, tcell, trow = _propagate(dom, nbr, compat, cells, ints, 1, tcell, trow, hkey, hent, w, wlogw, cfg, rng, True, sup, tally)
        if j < 0:
            continue
        if ints[RLEFT] == 0:
            return GAVE_UP, j, tcell, trow
        ints[RLEFT] -= 1
        ints[NRES] += 1
        if ints[DLEN] > 0:  # the newest choice led here: drop it too
            assigned[cells[DCELL, ints[DLEN] - 1]] = -1
        if ints[LAST] >= 0 and _near(j, ints[LAST], ints[RADIUS], cfg):
            ints[RADIUS] = min(2 * ints[RADIUS], max(cfg[SX], cfg[SY], cfg[SZ]))
        else:
            ints[RADIUS] = 2
        ints[LAST] = j
        for ci in range(N):
            if assigned[ci] >= 0 and _near(ci, j, ints[RADIUS], cfg):
                assigned[ci] = -1
        ints[SINCE] = 0
        bad, tcell, trow = _start(dom, base, nbr, compat, cells, ints, tcell, trow, hkey, hent, w, wlogw, cfg, rng, sup, tally)
        if bad >= 0:  # cannot happen: a subset of consistent choices
            return INTERNAL, j, tcell, trow
    return RUNNING, -1, tcell, trow


def _words(mask: np.ndarray) -> np.ndarray:
    """(..., T) bool -> (..., W) int64 words, bit t % 64 of word t // 64."""
    W = (mask.shape[-1] + 63) // 64
    packed = np.packbits(mask, axis=-1, bitorder="little")
    out = np.zeros((*mask.shape[:-1], 8 * W), np.uint8)
    out[..., : packed.shape[-1]] = packed
    return np.ascontiguousarray(out).view("<i8")


def _unwords(dom: np.ndarray, T: int) -> np.ndarray:
    """(..., W) int64 words -> (..., T) bool (inverse of `_words`)."""
    return np.unpackbits(np.ascontiguousarray(dom).view(np.uint8), axis=-1, bitorder="little")[..., :T].astype(bool)


class _State:
    """All arrays of one search."""

    def __init__(self, problem: Problem, allowed: np.ndarray, settings: Settings):
        N = allowed.shape[0]
        self.base = _words(allowed)
        self.dom = self.base.copy()
        self.nbr = np.ascontiguousarray(problem.nbr, np.int64)
        self.compat = np.ascontiguousarray(_words(problem.compat).transpose(1, 0, 2)).reshape(len(problem.weights), -1)
        self.w = problem.weights.astype(np.float64)
        self.wlogw = problem.wlogw
        self.cells = np.zeros((9, N), np.int64)
        self.cells[ASSIGNED] = -1
        self.ints = np.zeros(11, np.int64)
        self.ints[RADIUS], self.ints[LAST], self.ints[RLEFT] = 2, -1, settings.max_resets
        self.cfg = np.array([settings.heuristic == "entropy", settings.backtracking, settings.backtrack_limit, *problem.shape,
                             problem.context is not None], np.int64)
        self.ctx = (np.zeros((6, 1, 1)) if problem.context is None else np.ascontiguousarray(problem.context, np.float64))
        self.rng = np.array([settings.seed & (2**64 - 1)], np.uint64)
        self.tcell = np.empty(4 * N + 64, np.int64)
        self.trow = np.empty((4 * N + 64, self.base.shape[1]), np.int64)
        self.hkey = np.empty(2 * N + 64, np.float64)
        self.hent = np.empty((2 * N + 64, 2), np.int64)
        self.sup = np.empty(6 * self.base.shape[1], np.int64)
        total = 0.0
        for x in self.w.tolist():  # summed in order, as search.py sums
            total += x
        self.freq = np.array([x / total for x in self.w.tolist()], np.float64)
        self.tally = np.zeros(len(self.w) + 1, np.int64)
        self.balance = float(settings.balance)
        self.wbuf, self.tbuf = np.empty(len(self.w), np.float64), np.empty(len(self.w), np.int64)  # `_choose`'s scratch

    def propagate_from(self, changed: np.ndarray) -> int:
        n = len(changed)
        self.cells[STACK, :n] = changed
        self.cells[WAITING, changed] = 1
        bad, self.tcell, self.trow = _propagate(self.dom, self.nbr, self.compat, self.cells, self.ints, n, self.tcell, self.trow,
                                                self.hkey, self.hent, self.w, self.wlogw, self.cfg, self.rng, False, self.sup, self.tally)
        return bad

    def tiles(self) -> np.ndarray:
        bits = _unwords(self.dom, len(self.w))
        return np.where(bits.sum(1) == 1, bits.argmax(1), -1)


def consistent(problem: Problem, allowed: np.ndarray, changed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """As `search.consistent`."""
    s = _State(problem, allowed, Settings())
    bad = s.propagate_from(np.arange(allowed.shape[0]) if changed is None else np.asarray(changed, np.int64))
    return _unwords(s.dom, allowed.shape[1]), bad


def search(problem: Problem, base: np.ndarray, settings: Settings, progress=None, chunk: int = 4096) -> Outcome:
    """As `search.search`; `progress` is called every `chunk` decisions."""
    s = _State(problem, base, settings)
    _, s.tcell, s.trow = _start(s.dom, s.base, s.nbr, s.compat, s.cells, s.ints, s.tcell, s.trow, s.hkey, s.hent,
                                s.w, s.wlogw, s.cfg, s.rng, s.sup, s.tally)
    budget = chunk if progress is not None else 2**62
    while True:
        status, conflict, s.tcell, s.trow = _run(s.dom, s.base, s.nbr, s.compat, s.ctx, s.w, s.wlogw, s.cells, s.ints, s.cfg, s.rng,
                                                 s.tcell, s.trow, s.hkey, s.hent, s.sup, budget, s.tally, s.freq, s.balance,
                                                 s.wbuf, s.tbuf)
        if status != RUNNING:
            break
        progress(int(s.ints[NDEC]))
    return Outcome(int(status), int(conflict), s.tiles(), int(s.ints[NDEC]), int(s.ints[NBT]), int(s.ints[NRES]))
