from invgfx import InvgfxError


class DreamPhysicsError(InvgfxError):
    """Bad priors, conditions, parameters, model folders or learning configs."""
