"""`invgfx models`: the weights shipped with the package, by the names checkpoint options take."""

from __future__ import annotations

import argparse


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("models", help="list the model weights shipped with invgfx and their names",
                       description="List the weights that ship inside the package: the name a checkpoint option "
                       "takes instead of a path (--checkpoint faces), what they are, their file and size.",
                       epilog="examples:\n  invgfx models\n"
                              "  invgfx ign rerender face.png --checkpoint faces --azimuth 45 --out turned.png")
    p.set_defaults(func=run_models)


def run_models(args) -> int:
    from invgfx.models import SHIPPED, shipped_path

    width = max(map(len, SHIPPED)) + 2
    for name, s in SHIPPED.items():
        path = shipped_path(name)
        size = f"{path.stat().st_size / 1e6:.1f} MB" if path.exists() else "missing from this installation"
        print(f"{name:<{width}}{s.what}\n{'':<{width}}{s.use}\n{'':<{width}}{path} ({size})")
    return 0
