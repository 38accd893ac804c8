from invgfx import InvgfxError


class ProceduralError(InvgfxError):
    """Bad building parameters, example files, rule sets, pins or solver/translator arguments.

    The message names the file, key or argument and says what would be valid."""
