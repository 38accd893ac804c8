"""Neural translator vs classical solver on the same held-out massings.

Both get the massing of a held-out procedural building and must label it; the rules the
solver uses are learned (adjacency model) from the very buildings the network was trained
on. Metrics per method:
  success     share of massings labelled at all (the solver may report an impossible case);
  violations  share of adjacent label pairs touching the massing that never occur in the
              training buildings (0 for an exact solver);
  accuracy    share of massing voxels whose module equals the procedural ground truth;
  diversity   share of massing voxels that differ between two runs on the same massing
              (solver: two seeds; the translator is deterministic);
  ms          wall time per building.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np

from .errors import ProceduralError
from .modules import NAMES
from .rules import learn_adjacency, pair_violations
from .solver import massing_pins, solve


def compare(model_dir, count: int = 20, seed: int = 0, device: str = "cpu") -> list[dict]:
    """Rows {method, success, violations, accuracy, diversity, ms} for the translator in
    `model_dir` and the solver, over `count` held-out massings."""
    from .neural import building_pairs, load_translator, translate

    cfg_path = Path(model_dir) / "config.json"
    if not cfg_path.exists():
        raise ProceduralError(f"{model_dir}: no config.json; train a model with `invgfx rules train-neural --out {model_dir}`")
    cfg = json.loads(cfg_path.read_text())
    shape = tuple(cfg["shape"])
    _, train_labels = building_pairs(cfg["n_train"], shape, cfg["seed"])
    rules = learn_adjacency(list(train_labels), list(NAMES))
    massings, truths = building_pairs(count, shape, cfg["seed"] + 10_000 + seed)  # held out: other seeds
    gen = load_translator(model_dir, device)
    acc = {"neural": [], "solver": []}
    for occ, truth in zip(massings, truths):
        t0 = time.perf_counter()
        pred = translate(gen, occ, device)
        acc["neural"].append((True, pred, pred, time.perf_counter() - t0, occ, truth))
        t0 = time.perf_counter()
        runs = [solve(rules, shape, pins=massing_pins(occ, list(NAMES)), seed=s) for s in (seed, seed + 1)]
        dt = (time.perf_counter() - t0) / 2
        ok = all(r.ok for r in runs)
        acc["solver"].append((ok, runs[0].grid, runs[1].grid, dt, occ, truth))
    rows = []
    for method, items in acc.items():
        done = [it for it in items if it[0]]
        bad = sum(pair_violations(a, rules, occ)[0] for _, a, _, _, occ, _ in done)
        total = sum(pair_violations(a, rules, occ)[1] for _, a, _, _, occ, _ in done)
        rows.append({
            "method": "neural translator (U-Net + PatchGAN)" if method == "neural" else "classical solver (learned adjacency)",
            "success": len(done) / len(items),
            "violations": bad / max(total, 1),
            "accuracy": float(np.mean([(a[occ] == t[occ]).mean() for _, a, _, _, occ, t in done])) if done else float("nan"),
            "diversity": float(np.mean([(a[occ] != b[occ]).mean() for _, a, b, _, occ, _ in done])) if done else float("nan"),
            "ms": 1000 * float(np.mean([it[3] for it in items])),
        })
    return rows


def format_table(rows: list[dict]) -> str:
    head = "| method | success | rule violations | module accuracy | diversity | ms / building |\n|---|---|---|---|---|---|"
    body = [f"| {r['method']} | {100 * r['success']:.0f}% | {100 * r['violations']:.2f}% | {100 * r['accuracy']:.1f}% | {100 * r['diversity']:.1f}% | {r['ms']:.0f} |" for r in rows]
    return "\n".join([head, *body])
