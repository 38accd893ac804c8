"""Real spherical harmonics of degree 0-3 in the convention of 3D Gaussian Splatting.

Colour = clamp(sum_k c_k Y_k(d) + 0.5, min=0), with d the unit direction from the camera to the
Gaussian, expressed in the Gaussian's own frame when the Gaussian has been rotated (see
`sh_rotations` in the renderer). Coefficients are stored as (N, K, 3) with K = (degree + 1)^2.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

# Normalisation constants of the real SH basis (Y_l^m up to sign conventions used by 3DGS).
C0 = 0.28209479177387814
C1 = 0.4886025119029199
C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
C3 = (
    -0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
    -0.4570457994644658, 1.445305721320277, -0.5900435899266435,
)


def num_sh_bases(degree: int) -> int:
    """Number of coefficients K of an SH expansion of `degree` (0-3)."""
    return (degree + 1) ** 2


def sh_degree_from_bases(k: int) -> int:
    """Inverse of `num_sh_bases`; raises ValueError for a K that is not a square of 1..4."""
    degree = int(round(math.sqrt(k))) - 1
    if degree not in (0, 1, 2, 3) or num_sh_bases(degree) != k:
        raise ValueError(f"{k} SH coefficients per channel is not (degree+1)^2 for a degree 0-3")
    return degree


def sh_basis(degree: int, dirs: Tensor) -> Tensor:
    """(..., 3) unit directions -> (..., K) basis values Y_k(d), K = (degree + 1)^2."""
    out = [torch.full_like(dirs[..., 0], C0)]
    if degree >= 1:
        x, y, z = dirs.unbind(-1)
        out += [-C1 * y, C1 * z, -C1 * x]
        if degree >= 2:
            xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
            out += [C2[0] * xy, C2[1] * yz, C2[2] * (2 * zz - xx - yy), C2[3] * xz, C2[4] * (xx - yy)]
            if degree >= 3:
                out += [
                    C3[0] * y * (3 * xx - yy),
                    C3[1] * xy * z,
                    C3[2] * y * (4 * zz - xx - yy),
                    C3[3] * z * (2 * zz - 3 * xx - 3 * yy),
                    C3[4] * x * (4 * zz - xx - yy),
                    C3[5] * z * (xx - yy),
                    C3[6] * x * (xx - 3 * yy),
                ]
    return torch.stack(out, dim=-1)


def eval_sh(coeffs: Tensor, dirs: Tensor) -> Tensor:
    """RGB of (N, K, 3) SH coefficients seen along (N, 3) directions (any length) -> (N, 3), >= 0."""
    degree = sh_degree_from_bases(coeffs.shape[-2])
    d = dirs / dirs.norm(dim=-1, keepdim=True).clamp_min(1e-12)
    basis = sh_basis(degree, d)  # (N, K)
    return ((basis[..., :, None] * coeffs).sum(-2) + 0.5).clamp_min(0.0)


def rgb_to_sh_dc(rgb: Tensor) -> Tensor:
    """(..., 3) colour in [0, 1] -> the degree-0 coefficient that renders it."""
    return (rgb - 0.5) / C0


def sh_dc_to_rgb(dc: Tensor) -> Tensor:
    return dc * C0 + 0.5


_FIT_DIRS: dict[int, Tensor] = {}


def _fit_directions() -> Tensor:
    """A fixed, well-spread set of 64 unit directions (Fibonacci sphere) for the SH rotation fit."""
    if 64 not in _FIT_DIRS:
        i = torch.arange(64, dtype=torch.float64) + 0.5
        z = 1 - 2 * i / 64
        phi = i * math.pi * (3 - math.sqrt(5))
        r = (1 - z * z).sqrt()
        _FIT_DIRS[64] = torch.stack([r * phi.cos(), r * phi.sin(), z], -1)
    return _FIT_DIRS[64]


def rotate_sh(coeffs: Tensor, rotation: Tensor) -> Tensor:
    """Rotate SH coefficients so the coloured function turns with the object.

    coeffs: (N, K, 3); rotation: (3, 3) or (N, 3, 3). Returns c' with f'(d) = f(R^T d).
    Each band transforms by a (2l+1)^2 Wigner matrix; here the whole (K, K) block-diagonal
    matrix is solved exactly by least squares on 64 fixed directions (K <= 16 unknowns per row).
    """
    K = coeffs.shape[-2]
    degree = sh_degree_from_bases(K)
    if degree == 0:
        return coeffs.clone()
    dirs = _fit_directions()  # (D, 3)
    R = rotation.to(torch.float64)
    Y = sh_basis(degree, dirs)  # (D, K)
    # Y(R^T d) for every direction: rotated directions are d @ R (row vectors).
    Y_rot = sh_basis(degree, dirs @ R)  # (D, K) or (N, D, K)
    # Solve Y c' = Y_rot c for the linear map D: c' = pinv(Y) Y_rot c
    M = torch.linalg.pinv(Y) @ Y_rot  # (K, K) or (N, K, K)
    return (M.to(coeffs.dtype) @ coeffs)
