"""Demo section (c) rules: learn adjacency rules from one generated building, build larger content.

The procedural generator makes an example building; `learn_adjacency` reads its rules (which
module may sit next to which, in each of the 6 directions, with the 4 turns about z); the solver
then fills (1) the massing of a building twice as wide and half again as tall, and (2) a free
grid three times the example's footprint, both obeying every learned rule. Solved with the
plain-Python reference engine: the compiled one gives the same grids but compiles for 15-30 s on
its first run after a fresh checkout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from invgfx.demo.common import TITLES, DemoOptions, Figure, Section, fmt, rel

ABOUT = ("Proceduralism meets learning: the procedural generator builds one example building; the rules are "
         "read off it (which of the 34 modules may sit next to which, in each direction, and which appear on "
         "each face of the grid, with the example turned four ways); a constraint solver (propagation, "
         "least-entropy choice, backtracking, block repair) then builds new content of any size that obeys every "
         "rule: a building twice as wide and taller than the example, from its massing, and a whole town.")

EXAMPLE = dict(width=10, depth=7, storeys=4, wing_width=5, wing_depth=3, wing_storeys=2)
LARGER = dict(width=20, depth=7, storeys=6)  # the massing of the larger building


@dataclass
class Solved:
    """One solved grid: its shape, seconds, cells per second, backtracks, rule violations / pairs."""

    name: str
    shape: tuple[int, int, int]
    seconds: float
    cells_per_second: float
    backtracks: int
    violations: int
    pairs: int


@dataclass
class RulesResult:
    """example_shape: (X, Y, Z) of the example; labels_used: modules it contains; allowed: (direction,
    a, b) triples the rules allow; solved: the generated grids; files: name -> path."""

    example_shape: tuple[int, int, int]
    labels_used: int
    labels: int
    allowed: int
    learn_seconds: float
    engine: str
    solved: list[Solved]
    files: dict[str, Path] = field(default_factory=dict)

    def section(self, root: Path) -> Section:
        s = Section("rules", TITLES["rules"], ABOUT)
        x = "x".join(map(str, self.example_shape))
        s.numbers += [("example building (voxels, z up)", x),
                      ("modules in the example / in the catalogue", f"{self.labels_used} / {self.labels}"),
                      ("allowed neighbour pairs learned (direction, a, b)", f"{self.allowed:,}"),
                      ("learning time (s)", f"{self.learn_seconds:.3f}"), ("solver engine", self.engine)]
        for g in self.solved:
            s.numbers += [(f"{g.name}: size", "x".join(map(str, g.shape))),
                          (f"{g.name}: rule violations / adjacent pairs", f"{g.violations} / {g.pairs:,}"),
                          (f"{g.name}: solve time (s)", f"{g.seconds:.2f}"),
                          (f"{g.name}: cells per second", fmt(g.cells_per_second)),
                          (f"{g.name}: backtracks", str(g.backtracks))]
        captions = {"example": ("the example building (procedural generator)", "image"),
                    "building": ("a larger building generated from the learned rules (its massing pinned)", "image"),
                    "town": ("a town on 3x the example's footprint generated from the learned rules", "image"),
                    "rules": ("rules.json: the learned rule set", "file"),
                    "example_vox": ("example.vox (MagicaVoxel)", "file"),
                    "town_vox": ("town.vox (MagicaVoxel)", "file")}
        for key, (caption, kind) in captions.items():
            if key in self.files:
                s.figures.append(Figure(rel(self.files[key], root), caption, kind))
        return s


def run(folder: Path, opts: DemoOptions) -> RulesResult:
    import time

    import numpy as np

    from invgfx.procedural import (NAMES, BuildingParams, ProceduralError, generate_building, learn_adjacency,
                                   massing_pins, pair_violations, save_grid, solve)
    from invgfx.procedural.render import write_png

    folder.mkdir(parents=True, exist_ok=True)
    files: dict[str, Path] = {}
    example = generate_building(BuildingParams(**EXAMPLE), seed=opts.seed)
    write_png(folder / "example.png", example, NAMES, scale=10)
    files["example"] = folder / "example.png"
    save_grid(folder / "example.vox", example, NAMES)
    files["example_vox"] = folder / "example.vox"
    start = time.perf_counter()
    rules = learn_adjacency([example], NAMES, symmetries=4)
    learn_seconds = time.perf_counter() - start
    rules.save(folder / "rules.json")
    files["rules"] = folder / "rules.json"

    engine = "reference"
    solved = []
    larger = generate_building(BuildingParams(**LARGER), seed=opts.seed + 1)
    occupied = ~np.isin(np.array(NAMES)[larger], ["empty", "ground"])
    X, Y, Z = example.shape
    town_size = (X * 2, Y * 2, Z) if opts.quick else (X * 3, Y * 3, Z)
    jobs = [("larger building", "building", larger.shape, massing_pins(occupied, rules.names)),
            ("town", "town", town_size, [])]
    for name, key, size, pins in jobs:
        result = solve(rules, size, pins=pins, seed=opts.seed, engine=engine, progress=True)
        if not result.ok:
            raise ProceduralError(f"{name} {size}: {result.message}")
        bad, total = pair_violations(result.grid, rules)
        st = result.stats
        solved.append(Solved(name, tuple(size), st["seconds"], st["cells_per_second"], st["backtracks"], bad, total))
        write_png(folder / f"{key}.png", result.grid, rules.names, scale=10 if key == "building" else 6)
        files[key] = folder / f"{key}.png"
        if key == "town":
            save_grid(folder / "town.vox", result.grid, rules.names)
            files["town_vox"] = folder / "town.vox"
    used = len(np.unique(example))
    allowed = int((rules.counts > 0).sum())
    return RulesResult(example.shape, used, len(NAMES), allowed, learn_seconds, f"{engine} (plain Python)", solved, files)
