"""Integrate-and-fire neuron as a pure step function, norse style: ``if_step(x, state, params)``."""

from typing import NamedTuple

import torch

from .contract import RESET_SUBTRACT


class IFParameters(NamedTuple):
    """v_threshold and v_init are tensors that broadcast against the input; reset is "subtract" or "zero"."""

    v_threshold: torch.Tensor
    v_init: torch.Tensor
    reset: str = RESET_SUBTRACT


class IFState(NamedTuple):
    v: torch.Tensor


def if_initial_state(x, params):
    """State at t = 0: the membrane at v_init, shaped like the input current x."""
    return IFState(v=torch.empty_like(x).copy_(params.v_init.to(x.dtype).expand_as(x)))


def if_step(x, state, params):
    """One step: v += x; s = theta * [v >= theta]; v -= s (or v = 0 where it fired). Returns (s, state);
    the caller's state is left untouched."""
    return if_sequence(x, state, params, 1)


def if_sequence(x, state, params, steps, constant_in_time=False):
    """``steps`` IF steps at once: x is (steps * N, ...) with time outermost, or (N, ...) when the input
    current is the same at every step. Returns (spikes of shape (steps * N, ...), state after the last step);
    the spikes equal those of ``steps`` calls of :func:`if_step`."""
    fired, state = if_fire(x, state, params, steps, constant_in_time)
    return fired.mul_(params.v_threshold), state


def if_fire(x, state, params, steps, constant_in_time=False, shift=None, into_input=False):
    """As :func:`if_sequence`, but the spikes are returned as 0/1 (multiply by theta for their value).
    ``shift`` (broadcasting against v) is added to v after the first of these steps (snnrt.contract,
    v_spread). ``into_input``: the caller does not read x again, so the spikes may overwrite it (they do where x
    is laid out as they are and has their dtype)."""
    v = state.v.clone()
    currents = x if constant_in_time else x.reshape(steps, *v.shape)
    reuse = (into_input and not constant_in_time and currents.dtype == v.dtype and currents[0].stride() == v.stride()
             and currents.stride(0) == v.numel())
    fired = currents if reuse else steps_like(v, steps)
    theta = params.v_threshold
    for t in range(steps):
        v.add_(currents if constant_in_time else currents[t])
        torch.ge(v, theta, out=fired[t])
        if params.reset == RESET_SUBTRACT:
            v.addcmul_(fired[t], theta, value=-1.0)
        else:
            v.masked_fill_(fired[t].bool(), 0.0)
        if t == 0 and shift is not None:
            v.add_(shift)
    return (fired.flatten(0, 1) if v.dim() else fired[0]), IFState(v=v)


def layout(x):
    """The memory format of x: channels_last for a 4-D tensor laid out so (the CPU's convolutions return them:
    snnrt.ops.conv), else contiguous."""
    if x.dim() == 4 and not x.is_contiguous() and x.is_contiguous(memory_format=torch.channels_last):
        return torch.channels_last
    return torch.contiguous_format


def in_memory_order(x, fmt):
    """A view of x (dense in the memory format ``fmt``) with its dimensions in the order of its memory, so that a
    kernel reads it as a flat array: (N, H, W, C) for channels_last."""
    return x.permute(0, 2, 3, 1) if fmt is torch.channels_last else x


def steps_like(v, steps):
    """An empty (steps, *v.shape) tensor whose every step is laid out as v."""
    if layout(v) is torch.contiguous_format:
        return torch.empty((steps, *v.shape), dtype=v.dtype, device=v.device)
    out = torch.empty((steps * v.shape[0], *v.shape[1:]), dtype=v.dtype, device=v.device, memory_format=layout(v))
    return out.view(steps, *v.shape)


def sum_ones(ones, dim=-1):
    """Exact sums of a 0/1 tensor along ``dim``: in float32 where fewer than 2**24 values are summed (every
    partial sum is then an integer that float32 holds exactly), else in float64."""
    return ones.sum(dim, dtype=torch.float32 if ones.shape[dim] < 2**24 else torch.float64)


def count_ones(fired):
    """Exact number of ones in a 0/1 tensor, as a 0-d int64 tensor (no device sync): exact float sums per
    sample (sum_ones), then int64."""
    if fired.dim() < 2:
        return sum_ones(fired.reshape(1, -1), 1).to(torch.int64).sum()
    per_sample = fired[0].numel()  # summed over every dimension but the first, in any memory layout
    dtype = torch.float32 if per_sample < 2**24 else torch.float64
    return fired.sum(tuple(range(1, fired.dim())), dtype=dtype).to(torch.int64).sum()
