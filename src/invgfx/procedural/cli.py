"""`invgfx buildings ...` (the procedural generator) and `invgfx rules ...` (learn rules from
examples, generate with the solver, train and use the neural translator)."""

from __future__ import annotations

import argparse
from pathlib import Path

from invgfx.outputs import add_restart, replaced, resumed

from .errors import ProceduralError

_RAW = argparse.RawDescriptionHelpFormatter
FORMATS = ".csv (the talk's neighbour table), .txt (Merrell), .vox (MagicaVoxel), .obj/.glb/.ply/.stl (boxes), .png (picture)"

BUILDINGS_EPILOG = """examples:
  invgfx buildings generate --out house.vox --out house.png
  invgfx buildings generate --width 12 --depth 8 --storeys 5 --roof flat --out tower.csv
  invgfx --seed 3 buildings generate --random --count 10 --out examples/b{i}.vox
formats (from the extension): """ + FORMATS

RULES_EPILOG = """examples (`invgfx rules COMMAND --help` shows each command's):
  invgfx buildings generate --out house.vox
  invgfx rules learn house.vox --out rules.json --show
  invgfx rules generate rules.json --size 40 40 10 --out town.vox --out town.png
  invgfx rules train-neural --out translator --steps 1500
  invgfx rules compare --model translator --count 20"""


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


LEARN_EPILOG = _examples("invgfx rules learn house.vox --out rules.json --show",
                         "invgfx rules learn flowers.png --model overlapping -n 3 --symmetries 8 --out flowers.json")
SHOW_EPILOG = _examples("invgfx rules show rules.json --top 3")
GENERATE_EPILOG = _examples(
    "invgfx rules generate rules.json --size 40 40 10 --out town.vox --out town.png",
    "invgfx rules generate rules.json --size 20 20 8 --pin 10,2,1=door-y --pin '0:5,:,:=empty|ground' --out lot.csv",
    "invgfx rules generate flowers.json --size 48 48 1 --periodic xy --out more_flowers.png") + "\nformats: " + FORMATS
CONVERT_EPILOG = _examples("invgfx rules convert house.vox house.csv house.png") + "\nformats: " + FORMATS
TRAIN_EPILOG = _examples("invgfx rules train-neural --out translator --steps 1500      (Ctrl-C and rerun to resume)")
TRANSLATE_EPILOG = _examples("invgfx rules translate massing.vox --model translator --out building.vox --out building.png")
COMPARE_EPILOG = _examples("invgfx rules compare --model translator --count 20")


def register(sub) -> None:
    b = sub.add_parser("buildings", help="procedural buildings: labelled voxel grids from parameters and a seed",
                       description="The procedural building generator that supplies examples and training data.",
                       epilog=BUILDINGS_EPILOG, formatter_class=_RAW)
    bsub = b.add_subparsers(dest="buildings_command", metavar="COMMAND", required=True)
    g = bsub.add_parser("generate", help="write one or more procedural buildings",
                        description="Write procedural buildings (one voxel per module, z up, ground at z=0). "
                        "The global --seed draws balconies, and with --random also the parameters.",
                        epilog=BUILDINGS_EPILOG, formatter_class=_RAW)
    g.add_argument("--out", action="append", required=True, help=replaced("output file (repeatable); its extension picks the format; with --count use {i} in the name"))
    g.add_argument("--params", help="YAML/JSON file with building parameters (keys as the flags below, with underscores)")
    g.add_argument("--random", action="store_true", help="draw random parameters from the seed")
    g.add_argument("--count", type=int, default=1, help="number of buildings (seeds seed, seed+1, ...; default 1)")
    for name, typ, hlp in [
        ("width", int, "main block size along x, >= 3 (default 8)"),
        ("depth", int, "main block size along y, >= 3 (default 6)"),
        ("storeys", int, "floors, >= 1 (default 3)"),
        ("wing-width", int, "wing (L-shaped plan) size along x, 0 = none"),
        ("wing-depth", int, "wing size along y"),
        ("wing-storeys", int, "wing floors"),
        ("window-every", int, "a window every k facade cells (default 2)"),
        ("door-side", str, "facade with the door: +x -x +y -y (default -y)"),
        ("roof", str, "flat or gable (default gable)"),
        ("balcony-prob", float, "chance of a balcony in front of an upper window (default 0.3)"),
    ]:
        g.add_argument(f"--{name}", type=typ, help=hlp)
    g.set_defaults(func=_buildings_generate)

    r = sub.add_parser("rules", help="learn rules from example grids; generate, translate and compare",
                       description="I give examples, you figure out the rules: learn adjacency or overlapping-pattern "
                       "rules from example grids, generate new grids of any size that obey them exactly, and compare "
                       "with a neural translator trained on procedural buildings.",
                       epilog=RULES_EPILOG, formatter_class=_RAW)
    rsub = r.add_subparsers(dest="rules_command", metavar="COMMAND", required=True)

    p = rsub.add_parser("learn", help="learn a rule set (JSON) from example grids",
                        description="Learn which module may sit next to which, per direction and with frequencies "
                        "(adjacency model), or every n x n x n window (overlapping model). Examples: " + ".csv .txt .vox .png (2D).",
                        epilog=LEARN_EPILOG, formatter_class=_RAW)
    p.add_argument("examples", nargs="+", help="example grids")
    p.add_argument("--out", required=True, help=replaced("rule set to write (.json)"))
    p.add_argument("--model", choices=["adjacency", "overlapping"], default="adjacency", help="default adjacency")
    p.add_argument("-n", type=int, default=2, help="pattern size of the overlapping model (default 2)")
    p.add_argument("--symmetries", type=int, default=1, choices=[1, 2, 4, 8], help="also learn from mirrored (2), turned (4) or both (8) examples; oriented modules turn along")
    p.add_argument("--periodic-input", action="store_true", help="overlapping model: windows wrap around the examples")
    p.add_argument("--show", action="store_true", help="print the learned rules")
    p.set_defaults(func=_rules_learn)

    p = rsub.add_parser("show", help="print a rule set",
                        description="Print a rule set's tiles with their frequencies in the examples and, per "
                        "direction, the neighbours each may have (most frequent first).",
                        epilog=SHOW_EPILOG, formatter_class=_RAW)
    p.add_argument("rules", help="rule set (.json) from `invgfx rules learn`")
    p.add_argument("--top", type=int, default=6, help="neighbours listed per direction (default 6)")
    p.set_defaults(func=_rules_show)

    p = rsub.add_parser("generate", help="generate a grid that obeys a rule set",
                        description="Constraint propagation + least-entropy choice + backtracking and block repair. "
                        "Contradictions are repaired; an impossible request is reported with the pin or cell at fault.",
                        epilog=GENERATE_EPILOG, formatter_class=_RAW)
    p.add_argument("rules", help="rule set from `invgfx rules learn`")
    p.add_argument("--size", type=int, nargs=3, required=True, metavar=("X", "Y", "Z"), help="output size in voxels")
    p.add_argument("--out", action="append", required=True, help=replaced("output file (repeatable); formats: " + FORMATS))
    p.add_argument("--pin", action="append", default=[], help="x,y,z=label[|label...], ranges a:b allowed (repeatable)")
    p.add_argument("--massing", help="a grid file whose occupied voxels the building must fill exactly")
    p.add_argument("--periodic", default="", help="axes that wrap, e.g. xy (default none)")
    p.add_argument("--free-edges", action="store_true", help="do not restrict border cells to the examples' border modules")
    p.add_argument("--ground", help="label for the bottom and nowhere else: the z=0 layer, or in 2D (Z = 1) the "
                   "bottom row y=0, as WFC's ground")
    p.add_argument("--scale", type=int, default=None,
                   help="PNG pixels per cell (2D, default 1: the image reads back as the grid) or per voxel edge (3D, default 8)")
    p.add_argument("--heuristic", choices=["entropy", "scanline"], default=None,
                   help="which cell to decide next: least entropy first, or in x, y, z order (z fastest: column by "
                        "column, bottom up); default scanline for adjacency rules with --choice context, else entropy")
    p.add_argument("--choice", choices=["context", "frequency"], default="context",
                   help="how to draw its tile: context (default; weighted by how often the decided neighbours sit "
                        "beside it in the examples, which keeps their walls and floors) or frequency (WFC's global "
                        "frequencies)")
    p.add_argument("--balance", type=float, default=None,
                   help="how strongly the draw keeps the output's tile counts at the examples' frequencies (labels "
                        "for adjacency rules, patterns for overlapping ones): a tile that is short is drawn more, one in "
                        "excess less (0 = off; default 0.5 for adjacency rules, 0 for overlapping ones)")
    p.add_argument("--no-backtracking", action="store_true", help="plain WFC: stop at the first contradiction")
    p.add_argument("--threads", type=int, default=2,
                   help="grids of 200,000+ cells are synthesised in blocks of 64 x 64 cells (Merrell's model "
                        "synthesis); this many independent blocks at once (default 2; the grid is the same for any value)")
    p.set_defaults(func=_rules_generate)

    p = rsub.add_parser("convert", help="convert a grid between formats",
                        description="Read a labelled grid and write it in other formats (each picked by its "
                        "extension); label names and Merrell label numbers are kept.",
                        epilog=CONVERT_EPILOG, formatter_class=_RAW)
    p.add_argument("source", help="grid to read: .csv, .txt (Merrell), .vox or .png")
    p.add_argument("out", nargs="+", help=replaced("files to write (one or more); formats: " + FORMATS))
    p.set_defaults(func=_rules_convert)

    p = rsub.add_parser("train-neural", help="train the massing -> building translator (pix2pix-style, resumable)",
                        description="Train a 3D U-Net generator with a 3D PatchGAN discriminator on procedural "
                        "(massing, building) pairs. Checkpoints go to OUT/checkpoint.pt; rerunning continues from it.",
                        epilog=TRAIN_EPILOG, formatter_class=_RAW)
    p.add_argument("--out", required=True, help=resumed("model directory"))
    p.add_argument("--steps", type=int, default=1500, help="total optimisation steps (default 1500)")
    p.add_argument("--count", type=int, default=256, help="procedural training buildings (default 256)")
    p.add_argument("--batch", type=int, default=8, help="(massing, building) pairs per step (default 8)")
    p.add_argument("--channels", type=int, default=16, help="U-Net base width (default 16)")
    p.add_argument("--adv-weight", type=float, default=0.05, help="weight of the adversarial loss beside cross-entropy (default 0.05)")
    add_restart(p, "--fresh")
    p.set_defaults(func=_rules_train)

    p = rsub.add_parser("translate", help="massing -> labelled building with a trained translator",
                        description="Read a grid, take its occupied voxels (all but empty/ground) as the massing and "
                        "let the translator label them.", epilog=TRANSLATE_EPILOG, formatter_class=_RAW)
    p.add_argument("massing", help="grid file; every voxel not empty/ground is occupied")
    p.add_argument("--model", required=True, help="model directory from train-neural")
    p.add_argument("--out", action="append", required=True, help=replaced("output file (repeatable)"))
    p.set_defaults(func=_rules_translate)

    p = rsub.add_parser("compare", help="neural translator vs classical solver on held-out massings",
                        description="On held-out procedural buildings: rule-violation rate, module accuracy, diversity and time.",
                        epilog=COMPARE_EPILOG, formatter_class=_RAW)
    p.add_argument("--model", required=True, help="model directory from train-neural")
    p.add_argument("--count", type=int, default=20, help="held-out massings (default 20)")
    p.set_defaults(func=_rules_compare)


def _buildings_generate(args) -> None:
    from .buildings import BuildingParams, generate_building, random_params
    from .formats import save_grid
    from .modules import NAMES

    import numpy as np

    base = _building_params(args.params) if args.params else {}
    flags = {k: getattr(args, k) for k in ("width", "depth", "storeys", "wing_width", "wing_depth", "wing_storeys", "window_every", "door_side", "roof", "balcony_prob")}
    if args.count > 1 and any("{i}" not in out for out in args.out):
        raise ProceduralError(f"--out {args.out}: with --count {args.count} put {{i}} in every name, e.g. b{{i}}.vox")
    rng = np.random.default_rng(args.seed)
    for i in range(args.count):
        params = random_params(rng) if args.random else BuildingParams.from_dict(dict(base))
        for k, v in flags.items():
            if v is not None:
                setattr(params, k, v)
        grid = generate_building(params, seed=args.seed + i)
        for out in args.out:
            save_grid(out.format(i=i), grid, NAMES)
            print(f"{out.format(i=i)}: {grid.shape[0]}x{grid.shape[1]}x{grid.shape[2]} voxels")


def _building_params(path) -> dict:
    """The parameters of a --params file, each of its field's kind (`width: eight` is refused here,
    naming the file and key, not by a TypeError while the building is checked)."""
    from dataclasses import fields

    import yaml

    from invgfx.values import kind_problem

    from .buildings import BuildingParams

    try:
        data = yaml.safe_load(Path(path).read_text()) or {}
    except (OSError, yaml.YAMLError) as err:
        raise ProceduralError(f"--params {path}: cannot read ({err})") from err
    if not isinstance(data, dict):
        raise ProceduralError(f"--params {path}: expected keys and values (width: 8), got {type(data).__name__}")
    defaults = BuildingParams()
    for field in fields(BuildingParams):
        if field.name in data:
            problem = kind_problem(data[field.name], getattr(defaults, field.name), str(field.type))
            if problem:
                raise ProceduralError(f"--params {path}: {field.name}: {data[field.name]!r}: {problem} "
                                      f"(default {getattr(defaults, field.name)!r})")
    return data


def _load_grid(path):
    """`formats.load_grid`, with a file its reader chokes on (a truncated or damaged .vox, a PNG
    that is not one) reported in one line naming it."""
    import struct

    from .formats import load_grid

    try:
        return load_grid(path)
    except (ValueError, IndexError, struct.error) as err:
        raise ProceduralError(f"{path}: cannot read it as a '{Path(path).suffix}' grid; the file may be truncated "
                              f"or damaged ({err})") from err


def _at_least_1(args, *options) -> None:
    """Refuse a count or size option below 1 (`--steps 0` would train nothing and say nothing)."""
    for option in options:
        value = getattr(args, option.lstrip("-").replace("-", "_"))
        if value < 1:
            raise ProceduralError(f"{option} {value}: use at least 1")


def _load_examples(paths):
    """(grids, names, Merrell labels of the .txt examples or None): one vocabulary for all."""
    from .rules import merge_vocabularies

    grids, names = merge_vocabularies([_load_grid(p) for p in paths])
    return grids, names, _merrell_labels(paths)


def _merrell_labels(paths) -> dict | None:
    """The label numbers and objects of the Merrell (.txt) files among `paths` (the first file
    that has a name decides its number), None when there are none."""
    from .formats import read_merrell_labels

    merged = None
    for path in paths:
        if Path(path).suffix.lower() == ".txt":
            found = read_merrell_labels(path)
            merged = merged or {"title": found["title"], "labels": {}}
            for name, label in found["labels"].items():
                merged["labels"].setdefault(name, label)
    return merged


def _rules_learn(args) -> None:
    from .rules import learn_adjacency, learn_overlapping

    grids, names, merrell = _load_examples(args.examples)
    cells = sum(g.size for g in grids)
    if len(names) > 256 or len(names) > 0.25 * cells:  # a photo: every colour its own label
        import warnings

        warnings.warn(f"{', '.join(args.examples)}: {len(names)} labels over {cells} cells, so little repeats and the "
                      "rules will allow little more than the example itself (learning may be slow); rules learn wants "
                      "examples made of few labels: pixel art with a small palette, or a voxel model", stacklevel=2)
    if args.model == "adjacency":
        rules = learn_adjacency(grids, names, args.symmetries)
    else:
        rules = learn_overlapping(grids, names, args.n, args.symmetries, args.periodic_input)
    rules.merrell = merrell
    rules.save(args.out)
    if args.show:
        print(rules.describe())
    print(f"{args.out}: {rules.model} rules, {rules.n_tiles} tiles over {len(names)} labels from {len(grids)} example(s)")


def _rules_show(args) -> None:
    from .rules import RuleSet

    print(RuleSet.load(args.rules).describe(args.top))


def _rules_generate(args) -> int:
    from .formats import check_output, save_grid
    from .rules import RuleSet
    from .solver import Pin, massing_pins, solve

    import numpy as np

    rules = RuleSet.load(args.rules)
    size = tuple(args.size)
    if min(size) < 1:
        raise ProceduralError(f"--size {size}: every size must be >= 1")
    bad_axes = set(args.periodic) - set("xyz")
    if bad_axes:
        raise ProceduralError(f"--periodic {args.periodic!r}: use letters from x, y, z (e.g. xy)")
    for out in args.out:  # refuse an output we cannot write before solving, not after
        check_output(out, size, len(rules.names))
    pins = [Pin.parse(s, size, rules.names) for s in args.pin]
    if args.massing:
        grid, names = _load_grid(args.massing)
        if grid.shape != size:
            raise ProceduralError(f"--massing {args.massing}: shape {grid.shape} differs from --size {size}")
        occupied = ~np.isin(np.array(names)[grid], ["empty", "ground"])
        pins += massing_pins(occupied, rules.names)
    result = solve(rules, size, pins=pins, periodic=tuple(a in args.periodic for a in "xyz"), bounded=not args.free_edges,
                   ground=args.ground, seed=args.seed, heuristic=args.heuristic, choice=args.choice,
                   balance=args.balance, backtracking=not args.no_backtracking, progress=True, threads=args.threads)
    s = result.stats
    if not result.ok:
        raise ProceduralError(f"{args.rules}: no grid of size {size}: {result.message}")
    for out in args.out:
        save_grid(out, result.grid, rules.names, merrell=rules.merrell, **({"scale": args.scale} if args.scale else {}))
    print(f"{', '.join(args.out)}: {result.message} in {s['seconds']:.2f} s ({s['cells_per_second']:.0f} cells/s, "
          f"{s['backtracks']} backtracks, {s['resets']} block repairs; {s['load_seconds']:.2f} s loading the compiled search)")
    return 0


def _rules_convert(args) -> None:
    from .formats import save_grid

    grid, names = _load_grid(args.source)
    merrell = _merrell_labels([args.source])
    for out in args.out:
        save_grid(out, grid, names, merrell=merrell)
        print(f"{out}: {grid.shape[0]}x{grid.shape[1]}x{grid.shape[2]} voxels, {len(names)} labels")


def _rules_train(args) -> None:
    from .neural import TrainConfig, train

    _at_least_1(args, "--steps", "--count", "--batch", "--channels")
    cfg = TrainConfig(n_train=args.count, steps=args.steps, batch=args.batch, channels=args.channels, adv_weight=args.adv_weight, seed=args.seed)
    out = train(cfg, args.out, device=args.device, resume=not args.restart)
    print(f"{args.out}: step {out['step']}, cross-entropy {out['ce']:.3f}, adversarial {out['adv']:.3f}")


def _rules_translate(args) -> None:
    from .formats import save_grid
    from .modules import NAMES
    from .neural import load_translator, translate

    import numpy as np

    grid, names = _load_grid(args.massing)
    occupied = ~np.isin(np.array(names)[grid], ["empty", "ground"])
    labels = translate(load_translator(args.model, args.device), occupied, args.device)
    for out in args.out:
        save_grid(out, labels, NAMES)
        print(f"{out}: {int(occupied.sum())} occupied voxels labelled")


def _rules_compare(args) -> None:
    from .compare import compare, format_table

    _at_least_1(args, "--count")
    print(format_table(compare(args.model, count=args.count, seed=args.seed, device=args.device)))
