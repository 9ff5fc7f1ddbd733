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
    return IFState(v=params.v_init.to(x.dtype).expand_as(x).clone())


def if_step(x, state, params):
    """One step: v += x; s = theta * [v >= theta]; v -= s (or v = 0 where it fired). Returns (s, state)."""
    v = state.v + x  # a fresh tensor: the in-place updates below leave the caller's state untouched
    fired = v >= params.v_threshold
    spikes = fired.to(x.dtype).mul_(params.v_threshold)
    if params.reset == RESET_SUBTRACT:
        v.sub_(spikes)
    else:
        v.masked_fill_(fired, 0.0)
    return spikes, IFState(v=v)
