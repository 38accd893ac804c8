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


__all__ = ["InvgfxError", "__version__"]
