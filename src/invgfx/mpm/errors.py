from invgfx import InvgfxError


class MPMError(InvgfxError):
    """Bad scene configs, particle sets or arguments, and unstable simulations.

    The message names the file, key or argument and says what would be valid.
    """
