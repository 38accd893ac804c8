"""Values a user typed (a `--set key=value`, a key of a parameter file) checked against the kind
of the parameter they set, so that a wrong kind is one line instead of a TypeError deep inside."""

from __future__ import annotations


def kind_problem(value, default, annotation: str = "") -> str | None:
    """What is wrong with `value` for a parameter whose default is `default` (annotation: its type
    as text, for a default of None): "use true or false" for a flag, "use an integer", "use a
    number", "use a list shaped like the default"; None when it is of the parameter's kind."""
    if isinstance(default, bool) or "bool" in annotation:
        return None if isinstance(value, bool) else "use true or false"
    if isinstance(default, (int, float)) or annotation.startswith(("int", "float")):
        integer = isinstance(default, int) or annotation.startswith("int")
        if not is_number(value) or (integer and not isinstance(value, int)):
            return "use an integer" if integer else "use a number"
        return None
    if isinstance(default, (tuple, list)) and shape_of(value) != shape_of(default):
        return "use a list shaped like the default"
    if isinstance(default, str) and not isinstance(value, str):
        return "use a word"
    return None


def is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def shape_of(value):
    """Nested lengths of a list of numbers ((2, 3) for two RGB colours), None for anything else."""
    if isinstance(value, (tuple, list)):
        inner = {shape_of(v) for v in value}
        return None if len(inner) > 1 or None in inner else (len(value), *(inner.pop() if inner else ()))
    return () if is_number(value) else None
