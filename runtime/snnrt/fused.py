"""A fused IF update: torch.compile turns a block of time steps into one kernel (Triton on CUDA, C++ on CPU).

Used automatically on CUDA, on request elsewhere. Time is processed in blocks of ``BLOCK`` steps, carrying
the membrane between blocks; the last T mod BLOCK steps (and a step followed by a shift) run eagerly
(snnrt.neuron.if_fire). So every compiled kernel has the same number of steps: one kernel per input
layout serves any T, compilation stays short, and torch's recompile limit is not reached.
"""

import functools

import torch

from .contract import RESET_SUBTRACT
from .neuron import IFState, if_fire

BLOCK = 8


def _if_block(currents, v, theta, steps: int, subtract: bool, constant: bool):
    out = []
    for t in range(steps):
        v = v + (currents if constant else currents[t])
        fired = v >= theta
        s = fired.to(v.dtype)
        v = v - s * theta if subtract else v.masked_fill(fired, 0.0)
        out.append(s)
    return torch.stack(out), v


@functools.cache
def _compiled():
    return torch.compile(_if_block, dynamic=True, fullgraph=True)


def fused_if_fire(x, state, params, steps, constant_in_time=False, shift=None):
    """Same contract and results as :func:`snnrt.neuron.if_fire` (0/1 spikes), computed by compiled kernels.
    With a ``shift`` the first step runs eagerly (a one-step kernel would be one more variant to compile)."""
    if shift is not None:
        batch = state.v.shape[0]
        first, state = if_fire(x if constant_in_time else x[:batch], state, params, 1, constant_in_time, shift)
        if steps == 1:
            return first, state
        rest, state = fused_if_fire(x if constant_in_time else x[batch:], state, params, steps - 1, constant_in_time)
        return torch.cat([first, rest]), state
    currents = x if constant_in_time else x.reshape(steps, *state.v.shape)
    subtract = params.reset == RESET_SUBTRACT
    v, blocks = state.v, []
    whole = steps - steps % BLOCK
    for start in range(0, whole, BLOCK):
        block_currents = currents if constant_in_time else currents[start : start + BLOCK]
        fired, v = _compiled()(block_currents, v, params.v_threshold, BLOCK, subtract, constant_in_time)
        blocks.append(fired)
    if whole < steps:
        rest = currents if constant_in_time else currents[whole:].flatten(0, 1)
        fired, last = if_fire(rest, IFState(v=v), params, steps - whole, constant_in_time)
        v = last.v
        blocks.append(fired.reshape(steps - whole, *v.shape))
    fired = blocks[0] if len(blocks) == 1 else torch.cat(blocks)
    return fired.flatten(0, 1), IFState(v=v)
