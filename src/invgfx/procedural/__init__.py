"""Example-based procedural generation of buildings ("I give examples, you figure out the rules").

    buildings   procedural generator: BuildingParams + seed -> labelled grid (X, Y, Z), z up
    modules     the module catalogue (labels, colours, orientations) and grid symmetries
    formats     CSV (the talk's neighbour table), Merrell text, MagicaVoxel .vox, meshes, PNG
    rules       learning: adjacency model and overlapping patterns -> RuleSet (JSON)
    solver      rules + size + edges + pins -> a search problem; results and contradiction reports
    search      the search (AC-3, entropy choice, backtracking, block repair) in plain Python: the reference
    search_numba  the same search compiled with numba (the default engine; same grids)
    render      isometric voxel pictures
    neural      pix2pix-style 3D massing -> building translator (torch)
    compare     translator vs solver on held-out massings
"""

from .buildings import BuildingParams, generate_building, random_params
from .errors import ProceduralError
from .formats import load_grid, save_grid
from .modules import NAMES
from .rules import RuleSet, learn_adjacency, learn_overlapping, pair_violations
from .solver import Pin, SolveResult, massing_pins, solve

__all__ = [
    "BuildingParams", "NAMES", "Pin", "ProceduralError", "RuleSet", "SolveResult", "generate_building",
    "learn_adjacency", "learn_overlapping", "load_grid", "massing_pins", "pair_violations", "random_params",
    "save_grid", "solve",
]
