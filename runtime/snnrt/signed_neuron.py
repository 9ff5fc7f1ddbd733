"""The signed multi-level IF neuron of snnrt.contract (``SignedIFNeuron``) as a pure function of torch tensors."""

import torch

from .neuron import steps_like


def signed_levels(theta, levels):
    """The spike sizes theta * 2^-k, k = 0..levels-1, largest first (exact: powers of two)."""
    return [theta * 2.0**-k for k in range(levels)]


def signed_fire(x, v, theta, levels, steps, constant_in_time=False):
    """``steps`` steps of the neuron on the membrane v (changed in place): x is (steps * N, ...) with time
    outermost, or (N, ...) when the input is the same at every step; theta broadcasts against v. Returns the
    signed spikes, each worth its level, as (steps * N, ...)."""
    currents = x if constant_in_time else x.reshape(steps, *v.shape)
    spikes = steps_like(v, steps)
    half = theta / 2
    sizes = signed_levels(theta, levels)
    for t in range(steps):
        v.add_(currents if constant_in_time else currents[t])
        distance = v - half
        reach = distance.abs()
        size = torch.zeros_like(v)
        for level in reversed(sizes):  # the largest level whose half the distance reaches wins
            size = torch.where(reach >= level / 2, level, size)
        torch.mul(torch.sign(distance), size, out=spikes[t])
        v.sub_(spikes[t])
    return spikes.flatten(0, 1) if v.dim() else spikes[0]
