"""`invgfx scenes`: list the procedural objects and write them as 3DGS PLY files."""

from __future__ import annotations

import argparse

from invgfx.outputs import replaced


def register(sub: argparse._SubParsersAction) -> None:
    raw = argparse.RawDescriptionHelpFormatter
    p = sub.add_parser("scenes", help="procedural Gaussian objects (list, make)",
                       description="Procedural Gaussian objects with known geometry (a ball, a box, a plant, a cable, "
                       "a chair), built from a seed and a few parameters: the scenes every other command can take by "
                       "name (`invgfx render plant`, `invgfx simulate ... --scene ball`).",
                       epilog="examples:\n  invgfx scenes list\n  invgfx scenes make plant --out plant.ply",
                       formatter_class=raw)
    ss = p.add_subparsers(dest="scenes_command", metavar="ACTION")
    ls = ss.add_parser("list", help="the objects and their parameters",
                       description="Print every procedural object: what it is, its parts, and each parameter with "
                       "its default and unit (lengths in metres; a chair's unset proportions are drawn from the seed).",
                       epilog="example:\n  invgfx scenes list", formatter_class=raw)
    ls.set_defaults(func=run_list)
    mk = ss.add_parser("make", help="write an object as a 3DGS PLY",
                       description="Build a procedural object from --seed and its parameters and write it as a 3DGS "
                       "PLY (the format of the 3D Gaussian splatting trainers), readable by `invgfx render`.",
                       epilog="examples:\n  invgfx scenes make plant --out plant.ply\n"
                              "  invgfx --seed 3 scenes make chair --set arms=true --set seat_height=0.45 --out chair.ply",
                       formatter_class=raw)
    mk.add_argument("name", help="ball, box, plant, cable or chair")
    mk.add_argument("--out", required=True, help=replaced("output .ply"))
    mk.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a shape parameter (see `invgfx scenes list`); repeatable")
    mk.add_argument("--ascii", action="store_true", help="write an ASCII PLY instead of binary")
    mk.set_defaults(func=run_make)
    p.set_defaults(func=lambda args: p.print_help())


def run_list(args) -> int:
    import shutil
    import textwrap

    from invgfx.scenes.catalogue import SCENES, parameters

    width = min(100, shutil.get_terminal_size().columns)
    print("Each object, then its parameters (set with --set KEY=VALUE): the default and its unit.")
    for name, builder in SCENES.items():
        print("\n" + textwrap.fill(f"{name}: {' '.join((builder.__doc__ or '').split())}", width,
                                   subsequent_indent="    "))
        for key, text in parameters(name):
            print(textwrap.fill(f"{key:<14} {text}", width, initial_indent="    ", subsequent_indent=" " * 19,
                                break_on_hyphens=False))
    return 0


def parse_settings(settings: list[str]) -> dict:
    """['k=v', ...] -> {k: parsed v}; values are read as YAML scalars/lists (1.5, true, [0.4, 0.5, 0.6])."""
    import yaml

    from invgfx.scenes.errors import SceneError

    out = {}
    for item in settings:
        if "=" not in item:
            raise SceneError(f"--set {item!r}: expected KEY=VALUE, e.g. --set radius=0.4")
        key, value = item.split("=", 1)
        out[key.strip()] = yaml.safe_load(value)
    return out


def run_make(args) -> int:
    from invgfx.scenes import make_scene
    from invgfx.splat.io_ply import write_ply

    obj = make_scene(args.name, seed=args.seed, **parse_settings(args.set))
    write_ply(obj.cloud, args.out, ascii=args.ascii)
    print(f"wrote {args.out}: {args.name} with {len(obj.cloud)} Gaussians, parts {', '.join(obj.part_names)}")
    return 0
