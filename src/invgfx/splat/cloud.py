"""`GaussianCloud`: a set of 3D Gaussians stored the way 3D Gaussian Splatting trains them."""

from __future__ import annotations

from dataclasses import dataclass, fields, replace

import torch
from torch import Tensor

from invgfx.splat.errors import SplatError
from invgfx.splat.geometry import covariance_from_quat_scale, normalize_quats, quat_multiply, rotmat_to_quat
from invgfx.splat.sh import C0, eval_sh, num_sh_bases, rgb_to_sh_dc, rotate_sh, sh_degree_from_bases


@dataclass
class GaussianCloud:
    """N Gaussians in world space (metres), in their unconstrained (pre-activation) form.

    means:          (N, 3) centres.
    quats:          (N, 4) rotations (w, x, y, z); need not be unit, `rotations` normalises.
    log_scales:     (N, 3) log standard deviations along the rotated axes (log m).
    opacity_logits: (N,)   logit of the peak opacity.
    sh:             (N, K, 3) spherical-harmonic colour coefficients, K = (degree + 1)^2, degree 0-3.
    """

    means: Tensor
    quats: Tensor
    log_scales: Tensor
    opacity_logits: Tensor
    sh: Tensor

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expected = {"means": (n, 3), "quats": (n, 4), "log_scales": (n, 3), "opacity_logits": (n,)}
        for name, shape in expected.items():
            if tuple(getattr(self, name).shape) != shape:
                raise SplatError(f"GaussianCloud.{name} has shape {tuple(getattr(self, name).shape)}, expected {shape}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3:
            raise SplatError(f"GaussianCloud.sh has shape {tuple(self.sh.shape)}, expected ({n}, K, 3)")
        try:
            sh_degree_from_bases(self.sh.shape[1])
        except ValueError as err:
            raise SplatError(f"GaussianCloud.sh: {err}") from None

    # ---- construction -------------------------------------------------------------
    @classmethod
    def from_activated(cls, means: Tensor, scales: Tensor, colors: Tensor, opacities: Tensor | float = 1.0,
                       quats: Tensor | None = None, sh_degree: int = 0) -> "GaussianCloud":
        """Build from plain values: (N, 3) means, (N, 3) or (N,) scales in m, (N, 3) RGB in [0, 1],
        opacities in (0, 1) (scalar or (N,)), optional (N, 4) quaternions (identity by default)."""
        n = means.shape[0]
        if scales.ndim == 1:
            scales = scales[:, None].expand(n, 3)
        opac = torch.as_tensor(opacities, dtype=means.dtype, device=means.device).expand(n).clamp(1e-6, 1 - 1e-6)
        if quats is None:
            quats = torch.zeros(n, 4, dtype=means.dtype, device=means.device)
            quats[:, 0] = 1
        sh = torch.zeros(n, num_sh_bases(sh_degree), 3, dtype=means.dtype, device=means.device)
        sh[:, 0] = rgb_to_sh_dc(colors)
        return cls(means.clone(), quats.clone(), scales.log(), torch.logit(opac), sh)

    # ---- activated views ----------------------------------------------------------
    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def sh_degree(self) -> int:
        return sh_degree_from_bases(self.sh.shape[1])

    @property
    def rotations(self) -> Tensor:
        """(N, 4) unit quaternions."""
        return normalize_quats(self.quats)

    @property
    def scales(self) -> Tensor:
        """(N, 3) standard deviations in m."""
        return self.log_scales.exp()

    @property
    def opacities(self) -> Tensor:
        """(N,) peak opacities in (0, 1)."""
        return torch.sigmoid(self.opacity_logits)

    def covariances(self) -> Tensor:
        """(N, 3, 3) world-space covariances R S^2 R^T in m^2."""
        return covariance_from_quat_scale(self.quats, self.scales)

    def colors(self, camera_position: Tensor | None = None) -> Tensor:
        """(N, 3) RGB seen from `camera_position` (3,); the view-independent colour if None."""
        if camera_position is None or self.sh_degree == 0:
            return (self.sh[:, 0] * C0 + 0.5).clamp_min(0)
        return eval_sh(self.sh, self.means - camera_position)

    def bounding_box(self, n_sigma: float = 0.0) -> tuple[Tensor, Tensor]:
        """(3,) min and max corners of the means, widened by `n_sigma` standard deviations of each Gaussian."""
        if len(self) == 0:
            raise SplatError("bounding_box of an empty GaussianCloud")
        reach = n_sigma * self.covariances().diagonal(dim1=-2, dim2=-1).sqrt() if n_sigma else 0.0
        return (self.means - reach).amin(0), (self.means + reach).amax(0)

    # ---- tensor plumbing ----------------------------------------------------------
    def _map(self, fn) -> "GaussianCloud":
        return GaussianCloud(**{f.name: fn(getattr(self, f.name)) for f in fields(self)})

    def to(self, device=None, dtype=None) -> "GaussianCloud":
        return self._map(lambda t: t.to(device=device, dtype=dtype))

    def detach(self) -> "GaussianCloud":
        return self._map(Tensor.detach)

    def clone(self) -> "GaussianCloud":
        return self._map(Tensor.clone)

    @property
    def device(self) -> torch.device:
        return self.means.device

    def __getitem__(self, index) -> "GaussianCloud":
        """Subset by a boolean mask, index tensor or slice."""
        return self._map(lambda t: t[index])

    @staticmethod
    def cat(clouds: list["GaussianCloud"]) -> "GaussianCloud":
        """Concatenate clouds; SH of lower degree are zero-padded to the highest degree."""
        if not clouds:
            raise SplatError("GaussianCloud.cat needs at least one cloud")
        k = max(c.sh.shape[1] for c in clouds)
        padded = [replace(c, sh=torch.nn.functional.pad(c.sh, (0, 0, 0, k - c.sh.shape[1]))) for c in clouds]
        return GaussianCloud(**{f.name: torch.cat([getattr(c, f.name) for c in padded]) for f in fields(GaussianCloud)})

    # ---- rigid + uniform-scale transforms ----------------------------------------
    def transformed(self, rotation: Tensor | None = None, scale: float = 1.0,
                    translation: Tensor | None = None) -> "GaussianCloud":
        """x -> scale * R x + t, applied to means, covariances (rotations and scales) and SH.

        rotation: (3, 3) proper rotation; scale: positive scalar (anisotropic scaling is not a
        rotation + scale of each Gaussian, so it is refused); translation: (3,) in m.
        """
        if not float(scale) > 0:
            raise SplatError(f"transformed(scale={scale}): scale must be a positive number")
        means, quats, sh = self.means, self.quats, self.sh
        if rotation is not None:
            R = torch.as_tensor(rotation, dtype=means.dtype, device=means.device)
            if R.shape != (3, 3) or abs(float(torch.det(R)) - 1) > 1e-4:
                raise SplatError("transformed(rotation=...): expected a (3, 3) rotation matrix with det +1")
            means = means @ R.T
            quats = quat_multiply(rotmat_to_quat(R).expand_as(quats), quats)
            sh = rotate_sh(sh, R)
        means = means * scale
        if translation is not None:
            means = means + torch.as_tensor(translation, dtype=means.dtype, device=means.device)
        log_scales = self.log_scales + torch.log(torch.tensor(float(scale), dtype=means.dtype))
        return GaussianCloud(means, quats, log_scales, self.opacity_logits, sh)
