"""A fused update of the signed multi-level IF neuron (snnrt.signed_neuron) for the CPU: a numba kernel runs the
time steps of each neuron with its membrane in a register, instead of about fifteen passes over memory a step.
The arithmetic is the eager one in float32 (v + x, d = v - theta / 2, the level compared with |d|, v - s), so
the spikes are bit-identical (tests/runtime/test_signed.py). numba is imported on the first call, once the
process's eager IF updates have taken long enough to repay loading it (:func:`pays`)."""

import functools

import numpy as np
import torch

from . import cpu_fused
from .neuron import in_memory_order, layout


def _fire_signed(x, v, theta, out, steps, constant, levels):
    samples, neurons = v.shape
    for j in _prange(samples):
        for k in range(neurons):
            membrane, size = v[j, k], theta[k]
            half = size / np.float32(2.0)
            for t in range(steps):
                membrane = membrane + x[0 if constant else t, j, k]
                distance = membrane - half
                reach = abs(distance)
                spike = np.float32(0.0)
                level = size
                for _ in range(levels):  # the largest level whose half the distance reaches
                    if reach >= level / np.float32(2.0):
                        spike = level if distance > 0 else -level
                        break
                    level = level / np.float32(2.0)
                membrane = membrane - spike
                out[t, j, k] = spike
            v[j, k] = membrane


_prange = range  # numba.prange once _kernel() has compiled the kernel


@functools.cache
def _kernel():
    """The compiled kernel (from numba's disk cache where it is there) and numba itself."""
    import numba

    global _prange  # the compiled kernel resolves it when numba compiles it
    _prange = numba.prange
    return numba.njit(parallel=True, cache=True)(_fire_signed), numba


def accepts(x, v):
    """Whether the kernel takes the input x and the membrane v: float32 on the CPU, v dense in its memory format."""
    return (cpu_fused.available() and x.device.type == "cpu" and x.dtype == torch.float32
            and v.dtype == torch.float32 and v.is_contiguous(memory_format=layout(v)))


def pays():
    """Whether to run the kernel where it accepts the input (cpu_fused.pays, on the same eager time)."""
    return cpu_fused.pays(_kernel)


def signed_fire_fused(x, v, theta, levels, steps, constant_in_time=False):
    """As :func:`snnrt.signed_neuron.signed_fire` (v updated in place), by the numba kernel."""
    samples = v.shape[0] if v.dim() else 1
    neurons = v.numel() // samples if samples else 0
    fmt = layout(v)
    spikes = torch.empty((steps * samples, *v.shape[1:]), dtype=v.dtype, memory_format=fmt)
    if not samples or not neurons:
        return spikes
    per_neuron = in_memory_order(theta.expand(1, *v.shape[1:]), fmt).reshape(neurons).contiguous()
    kernel, numba = _kernel()
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    currents = in_memory_order(x.contiguous(memory_format=fmt), fmt)
    kernel(currents.view(1 if constant_in_time else steps, samples, neurons).numpy(),
           in_memory_order(v, fmt).view(samples, neurons).numpy(), per_neuron.numpy(),
           in_memory_order(spikes, fmt).view(steps, samples, neurons).numpy(), steps, constant_in_time, levels)
    return spikes
