"""`invgfx demo`: the whole system on built-in procedural content, offline."""
