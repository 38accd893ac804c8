"""The model weights shipped inside the package, by name: `--checkpoint faces` instead of a path
into site-packages. `invgfx models` lists them; `resolve_weights` is the one place every command
turns a checkpoint option into a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from invgfx import InvgfxError

_PACKAGE = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Shipped:
    """file: relative to the package; kind: the options that take it ("dcign": a DC-IGN checkpoint,
    "video-prior": a learned video prior file); what it is, and how a command names it."""

    file: str
    kind: str
    what: str
    use: str


SHIPPED = {
    "faces": Shipped("ign/weights/faces_dcign_64.safetensors", "dcign",
                     "DC-IGN trained on the procedural faces (64 px, 32 latents)",
                     "invgfx ign rerender | sweep | evaluate --checkpoint faces"),
    "denoiser": Shipped("dreamphysics/learned/weights/denoiser.safetensors", "video-prior",
                        "the learned video prior's diffusion model (a small UNet3D)",
                        "invgfx video-prior sample --weights denoiser; invgfx learn-physics --model denoiser"),
    "classifier": Shipped("dreamphysics/learned/weights/classifier.safetensors", "video-prior",
                          "the learned video prior's plausibility classifier",
                          "invgfx learn-physics --model classifier"),
}


def shipped_path(name: str) -> Path:
    """The file of the shipped weights `name` (a key of SHIPPED)."""
    return _PACKAGE / SHIPPED[name].file


def resolve_weights(value: str | None, option: str, kind: str, strict: bool = True) -> str | None:
    """The file a checkpoint option means: `value` itself when it is an existing path, else the
    shipped weights of that name (of `kind`); otherwise, when `strict`, one line naming the valid
    names (not strict: `value` unchanged, for options that also take, e.g., a model id)."""
    if value is None or Path(value).expanduser().exists():
        return value
    names = [name for name, s in SHIPPED.items() if s.kind == kind]
    if value in names:
        path = shipped_path(value)
        if not path.exists():
            raise InvgfxError(f"{option} {value}: the shipped weights {path} are missing from this installation; "
                              "reinstall invgfx (package data *.safetensors) or give a file of your own")
        return str(path)
    if not strict:
        return value
    raise InvgfxError(f"{option} {value}: no such file, and not the name of shipped weights ({', '.join(names)}; "
                      "`invgfx models` lists them)")
