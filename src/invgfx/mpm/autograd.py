"""Gradients through the simulation: a torch.autograd.Function over a window of substeps.

Forward runs the window without a tape and keeps its input (a checkpoint at the window
boundary, typically a frame) and, where they fit in KEEP_BYTES, the states entering each
differentiated substep; otherwise backward re-simulates the window to find them. Backward then
walks them in reverse: each substep is re-run on a fresh `wp.Tape` and back-propagated,
carrying the state adjoint to the previous substep and summing the gradients of E, nu and
density. Memory: one state per substep of the window (100 bytes per particle), one grid.

`grad_substeps=K` truncates: only the last K substeps are differentiated, the window's earlier
substeps (and its input state) are treated as constants (DreamPhysics back-propagates 1
substep per frame this way); `None` is full backpropagation through time.
"""

from __future__ import annotations

import torch
import warp as wp

from invgfx.mpm.errors import MPMError
from invgfx.mpm.solver import MaterialParams, ParticleState, Simulator, WarpState, _f32


STATE_BYTES = 4 * (3 + 3 + 9 + 9 + 1)  # x, v, F, C, plastic of one particle, float32
KEEP_BYTES = 32 * 2**20  # the most the forward pass keeps per window (a video of F frames: F times that)


class _SimulateWindow(torch.autograd.Function):
    @staticmethod
    def forward(ctx, sim: Simulator, n: int, grad_substeps: int | None, t0: float, *tensors):
        state = ParticleState(*tensors[:5], t=t0)
        params = MaterialParams(*tensors[5:])
        ctx.sim, ctx.n, ctx.t0, ctx.dt = sim, n, t0, sim.config.substep_dt
        ctx.k = n if grad_substeps is None else min(grad_substeps, n)
        ctx.save_for_backward(*tensors)
        # the states entering the differentiated substeps, kept where they fit KEEP_BYTES, so that the
        # backward pass need not simulate the window again to find them
        ctx.kept = [] if ctx.k * state.x.shape[0] * STATE_BYTES <= KEEP_BYTES else None
        out = sim.run(state, params, n, keep=ctx.kept, keep_last=ctx.k)
        return out.tensors()

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *out_grads):
        sim, n, k = ctx.sim, ctx.n, ctx.k
        if sim.config.substep_dt != ctx.dt:  # the backward pass re-simulates the window: same substep
            raise MPMError(f"the substep changed from {ctx.dt:g} s to {sim.config.substep_dt:g} s between forward and "
                           "backward; call Simulator.set_substep only before a simulation whose gradients are done")
        saved = ctx.saved_tensors
        params = MaterialParams(*saved[5:])
        sim.enable_grad()
        checkpoints = ctx.kept
        if checkpoints is None:
            state = sim.run(ParticleState(*saved[:5], t=ctx.t0), params, n - k) if n > k else ParticleState(*saved[:5], t=ctx.t0)
            checkpoints = [state]
            for _ in range(k - 1):
                checkpoints.append(sim.run(checkpoints[-1], params, 1))
        adj = [torch.zeros_like(t) if g is None else _f32(g) for g, t in zip(out_grads, checkpoints[0].tensors())]
        wp_params = [wp.from_torch(_f32(p).clone(), requires_grad=True) for p in params.tensors()]
        param_grads = [torch.zeros_like(p, dtype=torch.float32) for p in params.tensors()]
        # One set of input / output arrays for every substep, filled through torch views: allocating
        # and wrapping ten arrays per substep cost about a tenth of the backward on the demo ball.
        s_in = WarpState.from_torch(checkpoints[0].clone(), requires_grad=True)
        # s_out is reused too: g2p and plasticity write every element of it and never read it
        s_out = WarpState(*(wp.zeros_like(a, requires_grad=True) for a in s_in.arrays()))
        values_in = [wp.to_torch(a) for a in s_in.arrays()]
        grads_in = [wp.to_torch(a.grad) for a in s_in.arrays()]
        grads_out = [wp.to_torch(a.grad) for a in s_out.arrays()]
        param_grad_views = [wp.to_torch(p.grad) for p in wp_params]
        for s in reversed(checkpoints):
            for view, t in zip(values_in, s.tensors()):
                view.copy_(t)
            for view, g in zip(grads_out, adj):
                view.copy_(g)
            tape = wp.Tape()
            with tape:
                sim.step(s_in, s_out, *wp_params, s.t)
            tape.backward()  # from the output gradients just written
            adj = [g.clone() for g in grads_in]
            for acc, g in zip(param_grads, param_grad_views):
                acc += g
            tape.zero()
        sim.diagnostics.zero_()
        state_grads = adj if k == n else [None] * 5
        return (None, None, None, None, *state_grads, *param_grads)


def simulate(sim: Simulator, state: ParticleState, params: MaterialParams, n_substeps: int,
             grad_substeps: int | None = None) -> ParticleState:
    """Advance `state` by n_substeps with torch autograd support.

    Gradients of any loss on the returned state (x, v, F, C, plastic) reach `params.E`, `params.nu`,
    `params.density` (each (N,), e.g. a scalar expanded to N) and the input state tensors
    (e.g. the initial velocity). Call once per frame and chain: each call is a checkpoint.
    grad_substeps: None for full BPTT over the window, K to differentiate only its last K substeps.
    """
    if grad_substeps is not None and grad_substeps < 1:
        raise MPMError(f"grad_substeps={grad_substeps}: use None (full window) or a positive number of substeps")
    if n_substeps < 1:
        raise MPMError(f"n_substeps={n_substeps}: must be at least 1")
    out = _SimulateWindow.apply(sim, n_substeps, grad_substeps, state.t, *state.tensors(), *params.tensors())
    return ParticleState(*out, t=state.t + n_substeps * sim.config.substep_dt)
