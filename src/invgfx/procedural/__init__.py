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

from invgfx import lazy_exports

__getattr__, __dir__ = lazy_exports(__name__, {
    "BuildingParams": "buildings",
    "generate_building": "buildings",
    "random_params": "buildings",
    "ProceduralError": "errors",
    "load_grid": "formats",
    "save_grid": "formats",
    "NAMES": "modules",
    "RuleSet": "rules",
    "learn_adjacency": "rules",
    "learn_overlapping": "rules",
    "pair_violations": "rules",
    "Pin": "solver",
    "SolveResult": "solver",
    "massing_pins": "solver",
    "solve": "solver",
})

__all__ = [
    "BuildingParams", "NAMES", "Pin", "ProceduralError", "RuleSet", "SolveResult", "generate_building",
    "learn_adjacency", "learn_overlapping", "load_grid", "massing_pins", "pair_violations", "random_params",
    "save_grid", "solve",
]
