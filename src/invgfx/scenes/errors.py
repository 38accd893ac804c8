from invgfx import InvgfxError


class SceneError(InvgfxError):
    """Unknown procedural object, or a parameter it does not take."""
