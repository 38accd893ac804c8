"""Procedural Gaussian objects: every scene in invgfx is generated, from a seed and parameters."""

from invgfx import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "SCENES": "catalogue",
    "ProceduralObject": "objects",
    "SceneError": "errors",
    "make_scene": "catalogue",
    "ball": "objects",
    "box": "objects",
    "plant": "objects",
    "cable": "objects",
    "chair": "objects",
    "make_ball": "catalogue",
    "make_box": "catalogue",
    "make_plant": "catalogue",
    "make_cable": "catalogue",
    "make_chair": "catalogue",
})

__all__ = ["SCENES", "ProceduralObject", "SceneError", "make_scene", "ball", "box", "plant", "cable", "chair", "make_ball", "make_box", "make_plant", "make_cable", "make_chair"]
