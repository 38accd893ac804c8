"""Outputs in the examples' style, at every size: style statistics and success / speed of the
rule solver on examples with large structures.

Examples: `invgfx.procedural.examples.castle()` (walls round a courtyard, towers, a keep) and
`city()` (5-storey blocks along streets), both in Merrell's label-number convention with
shared object names, and 20 procedural buildings. Adjacency rules; for each choice rule
(context: weighted by the decided neighbours, the default; frequency: WFC's global
frequencies), cell order and balance (the histogram feedback; 0.5 is the default), the style distance of 40 x 40 outputs to their example
(`invgfx.procedural.style`), and success / cells per second at 40x40x10, 80x80x20 and
160x160x20 (CPU time, one process).

Large grids: synthesis in blocks (`solver._block_search`) on 1 and 2 threads against one search
of the whole grid, wall seconds interleaved, and the CPU seconds each worker thread spent.

    python benchmarks/bench_procedural_style.py [--seeds 10] [--big-seeds 3] [--only style,speed,threads]
    python benchmarks/bench_procedural_style.py --only success --success-seeds 100 --big-seeds 10
    python benchmarks/bench_procedural_style.py --only figure --figure docs/images/rules_style.png
    python benchmarks/bench_procedural_style.py --only style2d [--fastwfc PATH/TO/wfc_demo]
    python benchmarks/bench_procedural_style.py --only merrell --merrell PATH/TO/model_synthesis --merrell-samples DIR

2D: `examples.garden()` (flowers on a soil row, with a ground) and `examples.rooms()` (a floor
plan), overlapping rules (n = 3), 48 x 48 outputs; with --fastwfc, the same samples through
fast-wfc's demo program (math-fehr/fast-wfc, built from its sources; one try per seed, the seed
from FASTWFC_SEED where the build reads it), interleaved seed by seed.

Merrell's own examples (`.txt` files in --merrell-samples) through his model-synthesis program
(merrell42/model-synthesis built with g++; it reads ./samples.xml, the seed from MS_SEED where
the build calls srand with it; seed k runs as MS_SEED k + 1, since glibc's srand(0) is srand(1)) and through `invgfx`, interleaved seed by seed: success, rule
violations by label number (his output read by its numbers against the example's pairs), CPU
seconds per output and the style distance to the example.
"""

from __future__ import annotations

import argparse
import platform
import time

import numpy as np

from invgfx.procedural import generate_building, learn_adjacency, random_params, solve
from invgfx.procedural.examples import castle, city, garden, rooms
from invgfx.procedural.modules import NAMES
from invgfx.procedural.style import style_distance, style_stats

# (choice, cell order, balance); the first is the default for adjacency rules
RULES = [("context", "scanline", 0.5), ("context", "scanline", 0.0), ("context", "entropy", 0.5), ("context", "entropy", 0.0),
         ("frequency", "entropy", 0.0), ("frequency", "scanline", 0.0)]


def buildings():
    grids = [generate_building(random_params(np.random.default_rng(s)), seed=s) for s in range(20)]
    X, Y, Z = (max(g.shape[a] for g in grids) for a in range(3))
    row = np.zeros((X * len(grids), Y, Z), np.int64)  # side by side, for the style statistics
    for i, g in enumerate(grids):
        row[i * X:i * X + g.shape[0], :g.shape[1], :g.shape[2]] = g
    return grids, row, list(NAMES)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, default=10, help="outputs per row at 40x40 and 80x80")
    parser.add_argument("--big-seeds", type=int, default=3, help="outputs per row at 160x160x20 (speed, threads) and 320x320x20 (success)")
    parser.add_argument("--only", default="style,speed,threads", help="tables to print (comma-separated; success, figure)")
    parser.add_argument("--success-seeds", type=int, default=100, help="with --only success: grids per size")
    parser.add_argument("--figure", default="rules_style.png", help="with --only figure: where to write the picture")
    parser.add_argument("--fastwfc", default=None, help="with --only style2d: fast-wfc's demo program, run beside ours")
    parser.add_argument("--merrell", default=None, help="with --only merrell: Merrell's model_synthesis program, run beside ours")
    parser.add_argument("--merrell-samples", default=None, help="with --only merrell: a folder of Merrell .txt examples")
    args = parser.parse_args()
    only = set(args.only.split(","))
    examples = {}
    for make in (castle, city):
        grid, names, _ = make()
        examples[make.__name__] = ([grid], grid, names)
    examples["buildings"] = buildings()
    print(f"{platform.machine()}, numba search, CPU seconds of one process")
    if "style" in only:
        style_table(examples, args)
    if "speed" in only:
        speed_table(examples, args)
    if "threads" in only:
        threads_table(examples, args)
    if "success" in only:
        success_table(examples, args)
    if "figure" in only:
        figure(examples, args.figure)
    if "style2d" in only:
        style2d_table(args)
    if "merrell" in only:
        merrell_table(args)


def success_table(examples, args) -> None:
    """The default solver (context, scanline, two threads) over many seeds: solved grids, rule
    violations among them (adjacent pairs the examples never show), wall-clock throughput."""
    print("\n| example | size | solved | rule violations | cells / wall s | backtracks / repairs per grid |")
    print("|---|---|---:|---:|---:|---:|")
    n = args.success_seeds
    for name, (grids, whole, names) in examples.items():
        rules = learn_adjacency(grids, names)
        solve(rules, (8, 8, 4))
        for size, seeds in (((40, 40, 10), n), ((80, 80, 20), n), ((160, 160, 20), n), ((320, 320, 20), args.big_seeds)):
            ok, violations, wall, bt, rs = _runs(rules, size, seeds, time.perf_counter)
            print(f"| {name} | {'x'.join(map(str, size))} | {ok}/{seeds} | {violations} | {seeds * np.prod(size) / wall:,.0f} | "
                  f"{bt / seeds:.1f} / {rs / seeds:.2f} |", flush=True)


def figure(examples, path) -> None:
    """Per example (castle, city): the example and 40 x 40 outputs drawn by context with the
    balance (the default), by context alone, and by global frequency (WFC's rule), side by side."""
    from PIL import Image

    from invgfx.procedural.render import render_voxels

    rows = []
    for name in ("castle", "city"):
        grids, whole, names = examples[name]
        rules = learn_adjacency(grids, names)
        pictures = [render_voxels(whole, names, scale=5)]
        for choice, balance in (("context", None), ("context", 0.0), ("frequency", 0.0)):
            grid = solve(rules, (40, 40, whole.shape[2]), seed=1, choice=choice, balance=balance).grid
            pictures.append(render_voxels(grid, names, scale=5))
        h = max(p.shape[0] for p in pictures)
        rows.append(np.concatenate([np.pad(p, ((h - p.shape[0], 0), (0, 8), (0, 0)), constant_values=255) for p in pictures], 1))
    w = max(r.shape[1] for r in rows)
    Image.fromarray(np.concatenate([np.pad(r, ((0, 8), (0, w - r.shape[1]), (0, 0)), constant_values=255) for r in rows])).save(path)
    print(f"wrote {path}: example | default | by context alone | by frequency, for castle and city")


def style_table(examples, args) -> None:
    print("\n| example | choice | order | balance | label KL | non-empty (output - example) | column height W1 (voxels) | "
          "height ratio | structure size ratio |")
    print("|---|---|---|---:|---:|---:|---:|---:|---:|")
    for name, (grids, whole, names) in examples.items():
        rules = learn_adjacency(grids, names)
        target = style_stats(whole, names)
        solve(rules, (8, 8, 4))  # load the compiled search
        for choice, order, balance in RULES:
            ds = [style_distance(target, style_stats(solve(rules, (40, 40, whole.shape[2]), seed=s, choice=choice,
                                                           heuristic=order, balance=balance).grid, names)) for s in range(args.seeds)]
            m = {k: float(np.mean([d[k] for d in ds])) for k in ds[0]}
            print(f"| {name} | {choice} | {order} | {balance:g} | {m['label_kl']:.3f} | {m['non_empty']:+.3f} | {m['height_w1']:.2f} | "
                  f"{m['height_ratio']:.2f} | {m['structure_ratio']:.2f} |", flush=True)


def speed_table(examples, args) -> None:
    print("\n| example | choice | order | balance | size | solved | cells / s | backtracks / repairs per grid |")
    print("|---|---|---|---:|---|---:|---:|---:|")
    for name, (grids, whole, names) in examples.items():
        rules = learn_adjacency(grids, names)
        solve(rules, (8, 8, 4))  # load the compiled search before timing
        for choice, order, balance in RULES[:3]:
            for size in ((40, 40, 10), (80, 80, 20), (160, 160, 20)):
                n = args.big_seeds if size[0] == 160 else args.seeds
                ok, _, seconds, bt, rs = _runs(rules, size, n, time.process_time, choice=choice, heuristic=order, balance=balance)
                print(f"| {name} | {choice} | {order} | {balance:g} | {'x'.join(map(str, size))} | {ok}/{n} | "
                      f"{n * np.prod(size) / seconds:,.0f} | {bt / n:.1f} / {rs / n:.2f} |", flush=True)


def _runs(rules, size, n, clock, **options):
    """(solved, rule violations among them, seconds on `clock`, backtracks, repairs) over seeds 0..n-1."""
    from invgfx.procedural import pair_violations

    ok = violations = bt = rs = 0
    seconds = 0.0
    for s in range(n):
        t = clock()
        r = solve(rules, size, seed=s, **options)
        seconds += clock() - t
        ok, bt, rs = ok + r.ok, bt + r.stats["backtracks"], rs + r.stats["resets"]
        violations += pair_violations(r.grid, rules)[0] if r.ok else 0
    return ok, violations, seconds, bt, rs


def threads_table(examples, args) -> None:
    """Large grids: synthesis in blocks on 1 and 2 threads against one search of the whole grid,
    interleaved seed by seed so that all three see the same load."""
    from invgfx.procedural import pair_violations

    print("\n| example | size | one search: wall s | blocks, 1 thread: wall s | blocks, 2 threads: wall s | "
          "cells / wall s (blocks, 2 threads) | CPU s of each worker (2 threads) | solved, violations (blocks) | retries |")
    print("|---|---|---:|---:|---:|---:|---|---|---:|")
    for name, (grids, whole, names) in examples.items():
        rules = learn_adjacency(grids, names)
        solve(rules, (8, 8, 4))
        for size in ((160, 160, 20), (320, 320, 20)):
            wall = {"whole": [], 1: [], 2: []}
            workers, ok, bad, retries = [], 0, 0, 0
            for s in range(args.big_seeds):
                for run in ("whole", 1, 2):
                    r = solve(rules, size, seed=s, threads=1 if run == "whole" else run, blocks=run != "whole")
                    wall[run].append(r.stats["seconds"])
                    if run == 2:
                        ok += r.ok
                        bad += pair_violations(r.grid, rules)[0] if r.ok else 0
                        retries += r.stats.get("retries", 0)
                        workers.append(sorted(r.stats.get("thread_seconds", [np.nan] * 3)[:-1], reverse=True))
            w = {k: np.mean(v) for k, v in wall.items()}
            cpu = " + ".join(f"{c:.2f}" for c in np.mean(workers, 0))
            print(f"| {name} | {'x'.join(map(str, size))} | {w['whole']:.2f} | {w[1]:.2f} | {w[2]:.2f} | "
                  f"{np.prod(size) / w[2]:,.0f} | {cpu} | {ok}/{args.big_seeds}, {bad} | {retries} |", flush=True)


SAMPLES_2D = {  # name: (make, symmetries, periodic output, ground role)
    "garden": (garden, 2, False, "soil"),
    "rooms": (rooms, 8, True, None),
}


def _fastwfc(binary, sample_png, name, n, size, symmetries, periodic, ground, seed):
    """One fast-wfc synthesis in a scratch folder: -> (grid or None, names, CPU seconds of the child)."""
    import os
    import resource
    import shutil
    import subprocess
    import tempfile

    from invgfx.procedural.formats import read_png_example

    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(f"{tmp}/samples"), os.makedirs(f"{tmp}/results")
        shutil.copy(sample_png, f"{tmp}/samples/{name}.png")
        with open(f"{tmp}/samples.xml", "w") as fh:
            fh.write(f'<samples><overlapping name="{name}" N="{n}" width="{size}" height="{size}" '
                     f'periodic="{periodic}" periodicInput="True" symmetry="{symmetries}" '
                     f'ground="{-1 if ground else 0}" screenshots="1"/></samples>\n')
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([binary], cwd=tmp, env={**os.environ, "FASTWFC_SEED": str(seed), "FASTWFC_TRIES": "1"},
                       capture_output=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out = f"{tmp}/results/{name}0.png"
        if not os.path.exists(out):
            return None, None, cpu
        grid, names = read_png_example(out)
        return grid, names, cpu


def style2d_table(args) -> None:
    """2D samples with large shapes: success, CPU seconds and style of 48 x 48 outputs against
    their sample, ours (learning included) and fast-wfc's (one process per output: reading the
    sample, its patterns, the synthesis), seed by seed."""
    import tempfile

    from invgfx.procedural import learn_overlapping
    from invgfx.procedural.formats import save_grid

    size, n = 48, 3
    print("\n| sample | program | solved | CPU s per output | label KL | non-empty (output - sample) | "
          "height W1 (cells) | height ratio | structure size ratio |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (make, symmetries, periodic, ground_role) in SAMPLES_2D.items():
        grid, names, roles = make()
        background = (roles["sky"],) if "sky" in roles else (roles["floor"],)
        target = style_stats(grid, names, empty=background)
        ground = roles[ground_role] if ground_role else None
        png = f"{tempfile.mkdtemp()}/{name}.png"
        save_grid(png, grid, names)
        ours, theirs = {"ok": 0, "cpu": 0.0, "d": []}, {"ok": 0, "cpu": 0.0, "d": []}
        for seed in range(args.seeds):
            t = time.process_time()
            rules = learn_overlapping([grid], names, n=n, symmetries=symmetries, periodic_input=True)
            r = solve(rules, (size, size, 1), periodic=(periodic, periodic, False), ground=ground, seed=seed)
            ours["cpu"] += time.process_time() - t
            if r.ok:
                ours["ok"] += 1
                ours["d"].append(style_distance(target, style_stats(r.grid, names, empty=background)))
            if args.fastwfc:
                g2, names2, cpu = _fastwfc(args.fastwfc, png, name, n, size, symmetries, periodic, ground, seed)
                theirs["cpu"] += cpu
                if g2 is not None:
                    theirs["ok"] += 1
                    theirs["d"].append(style_distance(target, style_stats(g2, names2, empty=background)))
        for program, res in (("invgfx", ours), ("fast-wfc", theirs)):
            if program == "fast-wfc" and not args.fastwfc:
                continue
            m = {k: float(np.mean([d[k] for d in res["d"]])) if res["d"] else float("nan")
                 for k in ("label_kl", "non_empty", "height_w1", "height_ratio", "structure_ratio")}
            print(f"| {name} | {program} | {res['ok']}/{args.seeds} | {res['cpu'] / args.seeds:.3f} | {m['label_kl']:.3f} | "
                  f"{m['non_empty']:+.3f} | {m['height_w1']:.2f} | {m['height_ratio']:.2f} | {m['structure_ratio']:.2f} |",
                  flush=True)


# his samples.xml solves escheresque and parliament in 10 x 10 blocks; built here, his program failed
# escheresque that way on 10 of 10 seeds ("Failed. Max Attempts."), and solves it whole
MERRELL_BLOCKS = {"parliament": 10}
MERRELL_SIZES = ((40, 40, 10), (160, 160, 20))


def _merrell(binary, sample, size, block, seed):
    """One synthesis by Merrell's program in a scratch folder: -> (label numbers (X, Y, Z) or
    None, CPU seconds of the child)."""
    import os
    import resource
    import shutil
    import subprocess
    import tempfile

    from invgfx.procedural.formats import _read_merrell

    name = os.path.basename(sample)
    with tempfile.TemporaryDirectory() as tmp:
        os.makedirs(f"{tmp}/samples"), os.makedirs(f"{tmp}/outputs")
        shutil.copy(sample, f"{tmp}/samples/{name}")
        blocks = f' blockWidth="{block}" blockLength="{block}"' if block else ""
        with open(f"{tmp}/samples.xml", "w") as fh:
            fh.write(f'<samples><tiledmodel name="{name}" width="{size[0]}" length="{size[1]}" height="{size[2]}"{blocks}/></samples>\n')
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        run = subprocess.run([os.path.abspath(binary)], cwd=tmp, env={**os.environ, "MS_SEED": str(seed + 1), "MS_ITERATIONS": "1"},
                             capture_output=True, text=True, check=False)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        out = f"{tmp}/outputs/1 0 {name}"
        if run.returncode or "Failed. Max Attempts." in run.stdout or not os.path.exists(out):
            return None, cpu
        grid, numbers, *_ = _read_merrell(out)
        return numbers[grid], cpu


def merrell_table(args) -> None:
    """Merrell's examples, his program beside ours, seed by seed at his size (40x40x10) and at
    160x160x20 (his program in 40 x 40 blocks there, ours in its own blocks on 2 threads)."""
    import glob
    import os

    from invgfx.procedural import pair_violations
    from invgfx.procedural.formats import _read_merrell

    if not (args.merrell and args.merrell_samples):
        raise SystemExit("--only merrell needs --merrell PROGRAM and --merrell-samples DIR")
    print("\n| example | labels | size | program | solved | violations (by number) | CPU s per output | cells / CPU s | "
          "label KL | non-empty (output - example) | height ratio | structure size ratio |")
    print("|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for sample in sorted(glob.glob(f"{args.merrell_samples}/*.txt")):
        name = os.path.basename(sample)[:-4]
        grid, numbers, names, _, _ = _read_merrell(sample)
        rules = learn_adjacency([grid], names)
        target = style_stats(grid, names)
        solve(rules, (8, 8, 4))  # load the compiled search
        for size in MERRELL_SIZES:
            n = args.big_seeds if size[0] > 40 else args.seeds
            if n == 0:  # --big-seeds 0: his size only
                continue
            block = MERRELL_BLOCKS.get(name) or (40 if size[0] > 40 else None)
            res = {p: {"ok": 0, "bad": 0, "cpu": 0.0, "d": []} for p in ("Merrell C++", "invgfx")}
            for seed in range(n):
                t = time.process_time()
                r = solve(learn_adjacency([grid], names), size, seed=seed, threads=2)
                ours, ours_cpu = (r.grid if r.ok else None), time.process_time() - t
                theirs, cpu = _merrell(args.merrell, sample, size, block, seed)
                if theirs is not None:  # his numbers -> the example's labels; a number it never had is a violation
                    known = np.isin(theirs, numbers)
                    theirs = np.where(known, np.searchsorted(numbers, theirs), -1)
                for program, out, seconds in (("invgfx", ours, ours_cpu), ("Merrell C++", theirs, cpu)):
                    res[program]["cpu"] += seconds
                    if out is None:
                        continue
                    res[program]["ok"] += 1
                    unknown = int((out < 0).sum())
                    res[program]["bad"] += unknown + pair_violations(np.maximum(out, 0), rules)[0]
                    res[program]["d"].append(style_distance(target, style_stats(np.maximum(out, 0), names)))
            for program in ("Merrell C++", "invgfx"):
                m = res[program]
                d = {k: float(np.mean([x[k] for x in m["d"]])) if m["d"] else float("nan")
                     for k in ("label_kl", "non_empty", "height_ratio", "structure_ratio")}
                where = f"{'x'.join(map(str, size))}" + (f" ({block}x{block} blocks)" if program == "Merrell C++" and block else "")
                print(f"| {name} | {len(names)} | {where} | {program} | {m['ok']}/{n} | {m['bad']} | {m['cpu'] / n:.3f} | "
                      f"{n * np.prod(size) / m['cpu']:,.0f} | {d['label_kl']:.3f} | {d['non_empty']:+.3f} | "
                      f"{d['height_ratio']:.2f} | {d['structure_ratio']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
