"""`invgfx scenes`: list the procedural objects and write them as 3DGS PLY files."""

from __future__ import annotations

import argparse
import inspect


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("scenes", help="procedural Gaussian objects (list, make)",
                       description="Procedural Gaussian objects with known geometry, built from a seed.")
    ss = p.add_subparsers(dest="scenes_command", metavar="ACTION")
    ls = ss.add_parser("list", help="the objects and their parameters")
    ls.set_defaults(func=run_list)
    mk = ss.add_parser("make", help="write an object as a 3DGS PLY",
                       epilog="examples:\n  invgfx scenes make plant --out plant.ply\n"
                              "  invgfx --seed 3 scenes make chair --set arms=true --set seat_height=0.45 --out chair.ply",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    mk.add_argument("name", help="ball, box, plant, cable or chair")
    mk.add_argument("--out", required=True, help="output .ply")
    mk.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a shape parameter (see `invgfx scenes list`); repeatable")
    mk.add_argument("--ascii", action="store_true", help="write an ASCII PLY instead of binary")
    mk.set_defaults(func=run_make)
    p.set_defaults(func=lambda args: p.print_help())


def run_list(args) -> int:
    from invgfx.scenes import SCENES

    for name, builder in SCENES.items():
        params = [f"{k}={v.default}" for k, v in inspect.signature(builder).parameters.items() if k != "seed"]
        doc = (builder.__doc__ or "").strip().split("\n")[0]
        print(f"{name}: {doc}\n    " + ", ".join(params))
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
