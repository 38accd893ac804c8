"""Benchmark of invgfx.procedural: prints the tables quoted in docs/procedural.md.

1. Solver success rate and speed vs output size: plain WFC (least entropy, no backtracking,
   one attempt per seed) against ours (backtracking + block repair), on rules learned from
   procedural buildings and from the same buildings read back from Merrell-format files.
   The compiled search (engine "fast", numba) against the plain-Python reference engine.
2. First call in a new process: numba compiling (empty cache) and loading its cache; peak
   memory of one 40 x 40 x 10 solve (tracemalloc, and the growth of the process's peak RSS).
3. Neural translator vs classical solver on held-out massings (trains the translator first,
   resumably, into --work).

    .venv/bin/python benchmarks/bench_procedural.py            # full (a few minutes on 2 cores)
    .venv/bin/python benchmarks/bench_procedural.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import torch

from invgfx.procedural import NAMES, generate_building, learn_adjacency, load_grid, pair_violations, random_params, save_grid, solve
from invgfx.procedural.compare import compare, format_table
from invgfx.procedural.neural import TrainConfig, train
from invgfx.procedural.rules import merge_vocabularies


def example_buildings(count: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [generate_building(random_params(rng), seed=i) for i in range(count)]


FIRST_CALL = """
import resource, time
t0 = time.perf_counter()
import numpy as np
from invgfx.procedural import NAMES, generate_building, learn_adjacency, random_params, solve
rng = np.random.default_rng(0)
rules = learn_adjacency([generate_building(random_params(rng), i) for i in range(20)], list(NAMES))
t1 = time.perf_counter()
solve(rules, (40, 40, 10), seed=0)
t2 = time.perf_counter()
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
res = solve(rules, (80, 80, 10), seed=1)
print(f"{t1 - t0:.2f} {t2 - t1:.2f} {res.stats['seconds']:.3f} {(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss) / 1024:.1f}")
"""


def first_calls() -> list[str]:
    """Import + first 40x40x10 solve in fresh processes: with an empty numba cache (compile)
    and again with the cache it left (load)."""
    rows = []
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        for what in ("empty cache (numba compiles)", "cache present (numba loads)"):
            out = subprocess.run([sys.executable, "-c", FIRST_CALL], env=env, capture_output=True, text=True, check=True).stdout.split()
            imp, first, warm80, rss = map(float, out)
            rows.append(f"| {what} | {imp:.2f} | {first:.2f} | {warm80:.2f} | {rss:.0f} |")
            print(rows[-1], flush=True)
    return rows


def solver_table(rules, sizes_seeds, label: str) -> list[str]:
    """sizes_seeds: [(size, seeds for plain WFC, seeds for ours[, seeds for ours on the reference engine])]."""
    rows = []
    for size, plain_seeds, our_seeds, *ref_seeds in sizes_seeds:
        runs = [("plain WFC (no backtracking)", False, plain_seeds, "fast"), ("ours (backtracking + block repair)", True, our_seeds, "fast")]
        runs += [("ours, plain-Python reference engine", True, n, "reference") for n in ref_seeds]
        for name, backtracking, seeds, engine in runs:
            ok, secs, viol, bt, resets = 0, [], 0, 0, 0
            for s in range(seeds):
                res = solve(rules, size, seed=s, backtracking=backtracking, engine=engine)
                secs.append(res.stats["seconds"])
                if res.ok:
                    ok += 1
                    viol += pair_violations(res.grid, rules)[0]
                bt += res.stats["backtracks"]
                resets += res.stats["resets"]
            cells = int(np.prod(size))
            rows.append(f"| {label} | {'x'.join(map(str, size))} | {name} | {ok}/{seeds} ({100 * ok / seeds:.0f}%) | {viol} | "
                        f"{np.mean(secs):.2f} | {cells / np.mean(secs):,.0f} | {bt / seeds:.1f} / {resets / seeds:.2f} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="few seeds, short training")
    ap.add_argument("--seeds", type=int, default=100, help="seeds at the 40x40x10 target size (default 100)")
    ap.add_argument("--steps", type=int, default=300, help="translator training steps (default 300)")
    ap.add_argument("--work", default="out/bench_procedural", help="where the translator and example files go")
    ap.add_argument("--images", help="also write the pictures used by the docs into this folder")
    args = ap.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(2)
    print(f"machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
          f"python {platform.python_version()}, torch {torch.__version__}, CUDA {'yes' if torch.cuda.is_available() else 'no'}\n")

    examples = example_buildings(20, seed=0)
    rules = learn_adjacency(examples, list(NAMES))
    # the same buildings through Merrell's text format (a learner that only sees his files)
    for i, g in enumerate(examples):
        save_grid(work / f"example{i}.txt", g, NAMES)
    grids, names = merge_vocabularies([load_grid(work / f"example{i}.txt") for i in range(len(examples))])
    merrell_rules = learn_adjacency(grids, names)
    print(f"rules: {rules.n_tiles} labels, {int(rules.compat.sum())} allowed (direction, a, b) triples from {len(examples)} buildings\n")

    q = args.quick
    seeds = 5 if q else args.seeds
    head = ["| examples | size | solver | success | rule violations | s / grid | cells / s | backtracks / repairs per grid |", "|---|---|---|---|---|---|---|---|"]
    few = 5 if q else 20
    print("| first call in a new process | import + learn s | first 40x40x10 solve s | then 80x80x10 solve s | peak RSS growth of the 80x80x10 solve MiB |\n|---|---|---|---|---|")
    first_calls()
    solve(rules, (8, 8, 4))  # load the compiled search before timing
    rows = solver_table(rules, [((20, 20, 8), few, few), ((40, 40, 10), few, seeds, 2 if q else 10), ((80, 80, 10), 2 if q else 5, 2 if q else 20)], "procedural buildings")
    rows += solver_table(merrell_rules, [((40, 40, 10), few, few)], "Merrell .txt files")
    print("\n" + "\n".join(head + rows) + "\n")

    tracemalloc.start()
    res = solve(rules, (40, 40, 10), seed=0)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(f"peak Python memory of one 40x40x10 solve (tracemalloc; arrays numba grows inside the search are not seen): {peak / 2**20:.1f} MiB (ok={res.ok})\n")
    if args.images:
        out = Path(args.images)
        save_grid(out / "procedural_example.png", examples[3], NAMES, scale=10)
        town = solve(learn_adjacency(examples, list(NAMES), symmetries=4), (40, 40, 10), seed=1)
        save_grid(out / "procedural_town.png", town.grid, NAMES, scale=7)

    cfg = TrainConfig(steps=40 if q else args.steps, n_train=64 if q else 256, batch=4, channels=8, lr=1e-3)
    t0 = time.perf_counter()
    info = train(cfg, work / "translator", progress=True)
    print(f"translator: {info['step']} steps, cross-entropy {info['ce']:.3f} ({time.perf_counter() - t0:.0f} s this run)\n")
    print(format_table(compare(work / "translator", count=5 if q else 20)))


if __name__ == "__main__":
    main()
