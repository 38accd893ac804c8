"""The catalogue of procedural objects: names -> builders, and `make_scene`."""

from __future__ import annotations

import inspect

from invgfx.scenes.errors import SceneError
from invgfx.scenes.objects import ProceduralObject, ball, box, cable, chair, plant

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
    return builder(seed=seed, **params)


make_ball, make_box, make_plant, make_cable, make_chair = ball, box, plant, cable, chair

__all__ = ["SCENES", "ProceduralObject", "SceneError", "make_scene", "ball", "box", "plant", "cable", "chair",
           "make_ball", "make_box", "make_plant", "make_cable", "make_chair"]
