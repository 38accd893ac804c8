from invgfx import InvgfxError


class SplatError(InvgfxError):
    """Bad Gaussian scenes, cameras, files or render arguments."""
