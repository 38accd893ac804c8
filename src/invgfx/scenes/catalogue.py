"""The catalogue of procedural objects: names -> builders, and `make_scene`."""

from __future__ import annotations

import inspect
import json

from invgfx.scenes.errors import SceneError
from invgfx.scenes.objects import (
    CHAIR_ARMS_CHANCE, CHAIR_RANGES, UNITS, ProceduralObject, ball, box, cable, chair, plant,
)
from invgfx.values import kind_problem

SCENES = {"ball": ball, "box": box, "plant": plant, "cable": cable, "chair": chair}


def make_scene(name: str, seed: int = 0, **params) -> ProceduralObject:
    """Build the procedural object `name` (one of SCENES) from a seed and keyword parameters."""
    if name not in SCENES:
        raise SceneError(f"unknown scene {name!r}; choose one of {', '.join(SCENES)}")
    builder = SCENES[name]
    accepted = set(inspect.signature(builder).parameters) - {"seed"}
    unknown = sorted(set(params) - accepted)
    if unknown:
        raise SceneError(f"scene {name!r} has no parameter {', '.join(unknown)}; it takes {', '.join(sorted(accepted))}")
    signature = inspect.signature(builder).parameters
    for key, value in params.items():
        _check_param(name, key, value, signature[key].default, str(signature[key].annotation))
    return builder(seed=seed, **params)


def parameters(name: str) -> list[tuple[str, str]]:
    """(key, its default with its unit) of every parameter of scene `name`, as `invgfx scenes list`
    shows them; a default of None says what is drawn from the seed instead."""
    rows = []
    for key, p in inspect.signature(SCENES[name]).parameters.items():
        if key == "seed":
            continue
        unit = UNITS.get(key, "")
        if p.default is not None:  # written as --set takes it (YAML): [0.6, 0.6, 0.6], true
            default = json.dumps(p.default)
            text = default if isinstance(p.default, bool) else f"{default} {unit}".strip()
        elif key in CHAIR_RANGES:
            lo, hi = CHAIR_RANGES[key]
            text = f"{lo} to {hi} {unit}, drawn from the seed"
        elif key == "arms":
            text = f"true or false, drawn from the seed (true {CHAIR_ARMS_CHANCE:.0%} of the time)"
        else:
            text = "drawn from the seed"
        rows.append((key, text))
    return rows


def _check_param(scene: str, key: str, value, default, annotation: str) -> None:
    """A value of the parameter's kind (its annotation, else its default's): true/false for a
    flag, an integer, a number, or a list shaped like the default; positive where the default is
    positive or unset (counts and sizes)."""
    def fail(what):
        raise SceneError(f"scene {scene!r}: {key}={value!r}: {what} (default {default!r}; see `invgfx scenes list`)")

    problem = kind_problem(value, default, annotation)
    if problem:
        fail(problem)
    numeric = isinstance(default, (int, float)) or annotation.startswith(("int", "float"))
    if numeric and not isinstance(default, bool) and (default is None or default > 0) and not value > 0:
        fail("use a positive value")


make_ball, make_box, make_plant, make_cable, make_chair = ball, box, plant, cable, chair

__all__ = ["SCENES", "ProceduralObject", "SceneError", "make_scene", "ball", "box", "plant", "cable", "chair",
           "make_ball", "make_box", "make_plant", "make_cable", "make_chair"]
