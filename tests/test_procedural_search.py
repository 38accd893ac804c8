"""The compiled search (search_numba) against the plain-Python reference (search): same
steps and random numbers, so the same tiles, counts and messages in every situation."""

import sys

import numpy as np
import pytest

from invgfx.procedural import NAMES, Pin, generate_building, learn_adjacency, learn_overlapping, massing_pins, pair_violations, random_params, solve
from invgfx.procedural import search, search_numba
from invgfx.procedural.modules import occupancy
from invgfx.procedural.solver import _problem, _tile_domains


@pytest.fixture(scope="module")
def rules():
    rng = np.random.default_rng(0)
    return learn_adjacency([generate_building(random_params(rng), i) for i in range(6)], list(NAMES))


def _same(size, rules, **kw):
    fast, ref = solve(rules, size, engine="fast", **kw), solve(rules, size, engine="reference", **kw)
    assert fast.stats["engine"] == "search_numba" and ref.stats["engine"] == "search"
    assert (fast.ok, fast.message, fast.conflict) == (ref.ok, ref.message, ref.conflict)
    assert (fast.tiles == ref.tiles).all() and (fast.grid == ref.grid).all()
    for k in ("decisions", "backtracks", "resets"):
        assert fast.stats[k] == ref.stats[k], k
    return fast


def test_splitmix64_matches_the_published_sequence():
    # SplitMix64 from state 0 starts 0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4 (Vigna's splitmix64.c)
    rng = search.SplitMix64(0)
    assert [rng.random() for _ in range(2)] == [(v >> 11) * 2.0**-53 for v in (0xE220A8397B1DCDAF, 0x6E789E6AA1B965F4)]
    state = np.zeros(1, np.uint64)
    assert [search_numba._random(state) for _ in range(2)] == [search.SplitMix64(0).random(), (0x6E789E6AA1B965F4 >> 11) * 2.0**-53]


def test_same_grids_for_adjacency_rules(rules):
    a = _same((16, 14, 6), rules, seed=1)
    assert a.ok and a.stats["decisions"] > 100
    assert _same((16, 14, 6), rules, seed=2, heuristic="entropy").ok
    assert _same((16, 14, 6), rules, seed=3, choice="frequency", heuristic="entropy").ok  # WFC's rule
    assert _same((12, 12, 5), rules, seed=0, ground="ground", bounded=False, periodic=(True, False, False)).ok
    pins = [Pin.parse("8,3,1=door-y", (16, 16, 6), rules.names), Pin.parse("0:6,:,1:=empty", (16, 16, 6), rules.names)]
    assert _same((16, 16, 6), rules, seed=0, pins=pins).ok
    truth = generate_building(random_params(np.random.default_rng(7)), seed=7)
    assert _same(truth.shape, rules, seed=0, pins=massing_pins(occupancy(truth), list(NAMES))).ok


def test_same_backtracks_repairs_and_failures(rules):
    assert not _same((24, 24, 8), rules, seed=0, backtracking=False).ok  # plain WFC stops
    assert _same((24, 24, 8), rules, seed=0).stats["backtracks"] >= 1
    assert _same((24, 24, 8), rules, seed=0, backtrack_limit=0).stats["resets"] >= 1
    pins = [Pin.parse("6,5,2=window+x", (10, 10, 6), rules.names), Pin.parse("3,3,4=door-y", (10, 10, 6), rules.names)]
    assert "3,3,4=door-y" in _same((10, 10, 6), rules, pins=pins).message  # impossible pin, same report


def test_a_search_that_keeps_repairing_starts_again_with_another_seed(rules, monkeypatch):
    """Randomised restarts (solver._restarting): after RESTART_RESETS block repairs, then twice as
    many, a search begins again from its first cell; both engines restart alike. A user's own
    max_resets means exactly that many repairs and no restart."""
    from invgfx.procedural import solver

    monkeypatch.setattr(solver, "RESTART_RESETS", 1)
    res = _same((24, 24, 8), rules, seed=0, backtrack_limit=0)
    assert res.ok and res.stats["restarts"] >= 1 and pair_violations(res.grid, rules)[0] == 0
    assert res.stats["resets"] >= res.stats["restarts"]  # every attempt but the last used up its allowance
    assert _same((24, 24, 8), rules, seed=0, backtrack_limit=0, max_resets=50).stats["restarts"] == 0


def test_same_grids_with_more_than_64_tiles():
    """Two 64-bit words per domain (81 patterns), with backtracking, and a give-up."""
    r = learn_overlapping([np.random.default_rng(1).integers(0, 2, (9, 9, 1))], ["a", "b"], n=3, periodic_input=True)
    assert r.n_tiles > 64
    assert _same((10, 10, 1), r, periodic=(True, True, False), seed=2).stats["backtracks"] >= 1
    assert _same((10, 10, 1), r, periodic=(True, True, False), seed=2, balance=0.5).ok  # the tally's second word
    r8 = learn_overlapping([np.random.default_rng(2).integers(0, 2, (8, 8, 1))], ["a", "b"], n=3, periodic_input=True)
    gave_up = _same((10, 10, 1), r8, periodic=(True, True, False), seed=0, max_resets=2)
    assert not gave_up.ok and "gave up after 2 block repairs" in gave_up.message


def test_fast_search_resumes_between_chunks(rules):
    """A progress callback splits the compiled run into chunks of decisions; same result."""
    size = (20, 20, 6)
    problem = _problem(rules, size, (False,) * 3)
    base, bad = search_numba.consistent(problem, _tile_domains(rules, size, size, (False,) * 3, True, []).reshape(-1, rules.n_tiles))
    assert bad < 0
    ref_base, _ = search.consistent(problem, _tile_domains(rules, size, size, (False,) * 3, True, []).reshape(-1, rules.n_tiles))
    assert (base == ref_base).all()
    settings = search.Settings(seed=4, backtrack_limit=2, balance=0.5)
    seen = []
    chunked = search_numba.search(problem, base, settings, progress=seen.append, chunk=64)
    whole = search_numba.search(problem, base, settings)
    assert chunked.status == whole.status == search.SOLVED and (chunked.tiles == whole.tiles).all()
    assert len(seen) == whole.decisions // 64 and seen == sorted(seen)


def test_unknown_engine_is_a_procedural_error(rules):
    from invgfx.procedural import ProceduralError

    with pytest.raises(ProceduralError, match="engine"):
        solve(rules, (5, 5, 5), engine="gpu")


def test_without_numba_solve_warns_and_uses_the_reference(rules, monkeypatch):
    fast = solve(rules, (10, 10, 5), seed=3)
    monkeypatch.setitem(sys.modules, "invgfx.procedural.search_numba", None)  # import now fails
    monkeypatch.delattr(sys.modules["invgfx.procedural"], "search_numba")
    with pytest.warns(UserWarning, match="numba is not installed"):
        slow = solve(rules, (10, 10, 5), seed=3)
    assert slow.stats["engine"] == "search" and (slow.grid == fast.grid).all()


@pytest.fixture
def small_blocks(monkeypatch):
    """Block synthesis on grids small enough for the reference engine: 8 x 8 blocks, margin 2."""
    from invgfx.procedural import solver

    monkeypatch.setattr(solver, "BLOCK_CELLS", 2000)
    monkeypatch.setattr(solver, "BLOCK", 8)
    monkeypatch.setattr(solver, "MARGIN", 2)
    return solver


@pytest.mark.parametrize("example", ["castle", "city"])
def test_large_grids_solved_in_blocks_give_one_valid_grid_for_any_thread_count(small_blocks, example):
    from invgfx.procedural import examples

    grid, names, _ = getattr(examples, example)()
    rules = learn_adjacency([grid], names)
    size = (36, 20, grid.shape[2])  # 5 x 3 blocks, the last ones cut short
    one = solve(rules, size, seed=4, threads=1)
    two = solve(rules, size, seed=4, threads=2)
    ref = solve(rules, size, seed=4, threads=2, engine="reference")
    assert one.ok and np.array_equal(one.grid, two.grid) and np.array_equal(one.grid, ref.grid)
    assert pair_violations(two.grid, rules)[0] == 0 and two.stats["retries"] == 0
    assert len(two.stats["thread_seconds"]) >= 2  # the workers, then the retries


def test_waves_hold_blocks_that_never_touch():
    from invgfx.procedural.solver import _waves

    waves = _waves(5, 4)
    assert sorted(ij for w in waves for ij in w) == sorted((i, j) for i in range(5) for j in range(4))
    wave_of = {ij: t for t, w in enumerate(waves) for ij in w}
    for (i, j), t in wave_of.items():  # what a block's box reaches was done in an earlier wave
        for nb in ((i - 1, j), (i, j - 1), (i + 1, j - 1)):
            assert nb not in wave_of or wave_of[nb] < t
        for other in waves[t]:  # and no other block of its wave is next to it, not even at a corner
            assert other == (i, j) or max(abs(other[0] - i), abs(other[1] - j)) > 1


def _failing(small_blocks, monkeypatch, fails):
    """Make the compiled search give up on the boxes for which `fails(shape, seed)` is true."""
    from invgfx.procedural import search_numba
    from invgfx.procedural.search import GAVE_UP, Outcome

    real = search_numba.search
    calls = []

    def search(problem, base, settings, progress=None, chunk=4096):
        calls.append(settings.seed)
        if fails(problem.shape, settings.seed, calls):
            return Outcome(GAVE_UP, 0, np.full(len(base), -1), 0, 0, 0)
        return real(problem, base, settings, progress, chunk)

    monkeypatch.setattr(search_numba, "search", search)


def test_a_block_that_does_not_fit_is_solved_again_with_its_neighbours(small_blocks, monkeypatch):
    from invgfx.procedural import examples

    grid, names, _ = examples.castle()
    rules = learn_adjacency([grid], names)
    size = (36, 20, grid.shape[2])
    block = 4 * 1_000_003 + 1 + 2 + 5 * 1  # block (2, 1)'s first try: seed 4, part 1 + i + nbx j
    monkeypatch.setattr(small_blocks, "RESTART_RESETS", 10**9)  # its search gives up at once, not restarting
    _failing(small_blocks, monkeypatch, lambda shape, seed, calls: seed == block)
    res = solve(rules, size, seed=4)
    assert res.ok and res.stats["retries"] == 1 and pair_violations(res.grid, rules)[0] == 0


def test_when_no_block_fits_the_whole_grid_is_searched(small_blocks, monkeypatch):
    from invgfx.procedural import examples

    grid, names, _ = examples.castle()
    rules = learn_adjacency([grid], names)
    size = (36, 20, grid.shape[2])
    _failing(small_blocks, monkeypatch, lambda shape, seed, calls: shape != (36, 20, grid.shape[2]) and shape[0] > 1)
    res = solve(rules, size, seed=4)
    assert res.ok and "retries" not in res.stats and pair_violations(res.grid, rules)[0] == 0


def test_blocks_leave_nothing_on_their_open_faces_that_the_undone_grid_cannot_close(small_blocks, monkeypatch):
    """Procedural buildings (balconies, roofs) crossing a block's open face must be closable, as at
    the grid's border: with that rule no block needs a second try here (without it, seed 2 did)."""
    monkeypatch.setattr(small_blocks, "BLOCK", 16)
    grids = [generate_building(random_params(np.random.default_rng(s)), seed=s) for s in range(20)]
    rules = learn_adjacency(grids, list(NAMES))
    for seed in range(6):
        res = solve(rules, (48, 40, 12), seed=seed)
        assert res.ok and res.stats["retries"] == 0 and pair_violations(res.grid, rules)[0] == 0


def test_an_example_framed_by_its_own_border_tiles_is_synthesised_in_blocks(small_blocks):
    """Merrell's city lights has a border of its own tiles, as this frame has: edge tiles on each face
    and a tile of its own at each corner. The whole grid's arc-consistent domains keep no corner
    tile off the corners, so a box whose open +y face meets the grid's -x border had no tile
    there; and a later box took an earlier box's open-face tiles as fixed. Both made every box of
    the first row fail and the whole grid fall back to one search."""
    frame = np.full((6, 6, 1), 8)  # 8: inside
    frame[0, :], frame[-1, :], frame[:, 0], frame[:, -1] = 0, 1, 2, 3  # faces -x, +x, -y, +y
    frame[0, 0], frame[0, -1], frame[-1, 0], frame[-1, -1] = 4, 5, 6, 7  # the corners
    names = ["edge-x", "edge+x", "edge-y", "edge+y", "corner--", "corner-+", "corner+-", "corner++", "inside"]
    rules = learn_adjacency([frame], names)
    res = solve(rules, (36, 20, 1), seed=0, threads=1, blocks=True)
    assert res.ok and "thread_seconds" in res.stats and res.stats["retries"] == 0  # in blocks, first try
    expected = np.full((36, 20, 1), 8)
    expected[0, :], expected[-1, :], expected[:, 0], expected[:, -1] = 0, 1, 2, 3
    expected[0, 0], expected[0, -1], expected[-1, 0], expected[-1, -1] = 4, 5, 6, 7
    assert np.array_equal(res.grid, expected)
