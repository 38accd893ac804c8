"""The bounding box's adjoint: a velocity component the wall zeroes carries no gradient.

Warp's adjoint of an in-place component assignment (`out[a] = 0.0`) let the gradient through
the zeroed component, which made every gradient after a contact wrong; `bounding_box` is built
from scalars for that reason."""

import numpy as np
import pytest

wp = pytest.importorskip("warp")

from invgfx.mpm.boundary import bounding_box  # noqa: E402


@wp.kernel
def _apply(idx: wp.array(dtype=wp.vec3i), v: wp.array(dtype=wp.vec3), out: wp.array(dtype=wp.vec3)):
    t = wp.tid()
    c = idx[t]
    out[t] = bounding_box(c[0], c[1], c[2], 16, 3, v[t])


def test_zeroed_components_pass_no_gradient_and_free_ones_pass_all():
    idx = wp.array([wp.vec3i(8, 8, 1), wp.vec3i(8, 8, 8), wp.vec3i(15, 8, 8)], dtype=wp.vec3i)
    v = wp.array(np.array([[0.5, -0.2, -1.0], [0.5, -0.2, -1.0], [2.0, 0.3, 0.1]], dtype=np.float32),
                 dtype=wp.vec3, requires_grad=True)
    out = wp.zeros(3, dtype=wp.vec3, requires_grad=True)
    tape = wp.Tape()
    with tape:
        wp.launch(_apply, 3, inputs=[idx, v], outputs=[out])
    np.testing.assert_allclose(out.numpy(), [[0.5, -0.2, 0.0], [0.5, -0.2, -1.0], [0.0, 0.3, 0.1]])
    out.grad = wp.array(np.ones((3, 3), dtype=np.float32), dtype=wp.vec3)
    tape.backward()
    # d sum(out) / d v: 0 where the wall removed the (outward) component, 1 elsewhere
    np.testing.assert_allclose(v.grad.numpy(), [[1, 1, 0], [1, 1, 1], [0, 1, 1]])
