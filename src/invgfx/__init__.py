"""invgfx: learn the hidden parameters behind 3D content from examples and priors.

Packages:
    invgfx.splat      3D Gaussian scenes, cameras, PLY I/O, differentiable renderer, image/video output
    invgfx.scenes     procedural Gaussian objects with known geometry
Applications (each adds `invgfx` subcommands): mpm, dreamphysics, ign, procedural.
"""

__version__ = "0.1.0"


class InvgfxError(Exception):
    """Base of every error meant for a user: the message names the file, key or argument
    and what would be valid. The CLI prints it without a traceback (unless --debug)."""


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    import os

    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def lazy_exports(package: str, exports: dict[str, str]):
    """(__getattr__, __dir__) for a package whose names live in submodules: `exports` maps a
    name to its submodule, imported on first use, so `invgfx --help` and light commands do not
    pay for torch and Warp (PEP 562)."""
    import importlib

    def __getattr__(name: str):
        if name not in exports:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f"{package}.{exports[name]}"), name)

    def __dir__():
        return sorted(exports)

    return __getattr__, __dir__


__all__ = ["InvgfxError", "__version__", "lazy_exports"]
