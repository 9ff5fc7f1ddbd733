"""A fused IF update for the CPU: a numba kernel runs a block of time steps over each tile of neurons.

The eager update (snnrt.neuron.if_fire) passes over memory about eleven times per step: add the current,
compare, reset, then count and scale the spikes. Here each tile of ``TILE`` neurons keeps its membrane in
cache across the steps, each input current is read once and each spike (already scaled by theta) is written
once, and spikes are counted on the way. The arithmetic is the eager one, float32 operation for operation
(v + x, then v - theta where it fired or 0 for the zero reset, then the spread's shift after the first step),
so spikes and membranes are bit-identical (tests/runtime/test_cpu_fused.py). Where the caller will not read
the input current again, the spikes overwrite it: no output to allocate, and no memory to touch but the current's.

The default IF update on the CPU where numba is installed (snnrt.simulate.pick_kernel), once a process has
spent enough time in eager IF updates to repay loading it (:func:`pays`): importing numba takes 0.3 to 0.4 s
with the SciPy it loads, and loading the kernel from numba's disk cache about 0.6 s more (the first load in a new
environment compiles it, about 2 s). A process that fires IF layers on the CPU only briefly (a run of a few
hundred images of a small CNN) is faster on the eager update and never imports numba; nor does one that fires
none there (inspect, export, a run on CUDA).
"""

import contextlib
import functools
import importlib.util
import time

import numpy as np
import torch

from .contract import RESET_SUBTRACT
from .neuron import IFState, in_memory_order, layout

# Seconds of eager IF updates after which a process loads a kernel: loading takes about 1 s, and the kernel saves
# a fraction of the eager update's time, so a process stops paying the eager update's extra time once it could
# have paid the load with it (docs/runtime.md, "IF updates").
LOAD_AFTER = 1.0
# A tile's membrane and thresholds (4 bytes each a neuron) stay in the 32 KiB L1 cache while its currents stream
# past (tile sizes measured: benchmarks/README.md, "Chunk sizes").
TILE = 512


def _fire_row(membrane, thresholds, currents, spikes, subtract):
    """One step of one tile: returns its number of spikes. ``spikes`` may be ``currents`` itself."""
    fired_now = np.int32(0)  # at most TILE a step; int32 and arithmetic selects let LLVM vectorize
    for k in range(len(membrane)):
        potential = membrane[k] + currents[k]
        fired = potential >= thresholds[k]
        spike = np.float32(fired) * thresholds[k]
        if subtract:
            membrane[k] = potential - spike
        else:
            membrane[k] = np.float32(0.0) if fired else potential
        spikes[k] = spike
        fired_now += np.int32(fired)
    return fired_now


def _fire_tiles(x, v, theta, shift, out, counts, steps, constant, subtract, shifted, into_input):
    samples, neurons = v.shape
    per_sample = (neurons + TILE - 1) // TILE
    for tile in _prange(samples * per_sample):
        j = tile // per_sample
        first = (tile % per_sample) * TILE
        last = min(first + TILE, neurons)
        membrane, thresholds = v[j, first:last], theta[first:last]
        fired_here = 0
        for t in range(steps):
            currents = x[0 if constant else t, j, first:last]
            # two calls, so that each inlined loop knows whether it writes where it reads: LLVM vectorizes a loop
            # whose input and output may overlap only after a run-time check, and overlapping ones not at all
            if into_input:
                fired_here += _fire_row(membrane, thresholds, currents, currents, subtract)
            else:
                fired_here += _fire_row(membrane, thresholds, currents, out[t, j, first:last], subtract)
            if shifted and t == 0:
                for k in range(last - first):
                    membrane[k] = membrane[k] + shift[first + k]
        counts[tile] = fired_here


_prange = range  # numba.prange once _kernel() has compiled the kernel


@functools.cache
def _kernel():
    """The compiled kernel (from numba's disk cache where it is there) and numba itself."""
    import numba

    global _fire_row, _prange  # the compiled kernel resolves both globals when numba compiles it
    _fire_row = numba.njit(inline="always")(_fire_row)
    _prange = numba.prange
    return numba.njit(parallel=True, cache=True)(_fire_tiles), numba


def load():
    """Import numba and load the kernel now, so that every later call that the kernel accepts runs it."""
    _kernel()


_eager_seconds = 0.0  # time this process spent in eager IF updates that a numba kernel could have run


def pays(kernel=_kernel):
    """Whether to run ``kernel`` (a cached loader, as _kernel) where it accepts the input: yes once it is loaded;
    before that, once this process has spent LOAD_AFTER seconds in eager IF updates that it could have run
    (:func:`timed_eager`). So a short process never loads it, and a long one loses about one load's time at most."""
    return bool(kernel.cache_info().currsize) or _eager_seconds >= LOAD_AFTER


@contextlib.contextmanager
def timed_eager(counted):
    """Add the time of the block, an eager IF update, to what :func:`pays` weighs where ``counted`` (a kernel
    could have run it)."""
    global _eager_seconds
    start = time.perf_counter()
    yield
    if counted:
        _eager_seconds += time.perf_counter() - start


@functools.cache
def available():
    """Whether numba is installed, so that the fused CPU update can run (found without importing it)."""
    return importlib.util.find_spec("numba") is not None


def accepts(x, state):
    """Whether this kernel can take the input x and the membrane: float32 on the CPU, the membrane dense in its
    memory format (it is updated through a flat view)."""
    return (available() and x.device.type == "cpu" and x.dtype == torch.float32
            and state.v.dtype == torch.float32 and state.v.is_contiguous(memory_format=layout(state.v)))


def fire_in_place(x, state, params, steps, constant_in_time=False, shift=None, into_input=False):
    """``steps`` IF steps as :func:`snnrt.neuron.if_sequence` (spikes worth theta, time outermost), updating
    ``state.v`` in place. Returns (spikes, state, number of spikes). ``into_input``: the caller does not read x
    again, so the spikes may overwrite it (they do unless the current is the same at every step)."""
    v = state.v
    samples = v.shape[0]
    neurons = v[0].numel() if samples else 0
    fmt = layout(v)
    currents = x.contiguous(memory_format=fmt)
    into_input = into_input and not constant_in_time
    spikes = currents if into_input else torch.empty((steps * samples, *v.shape[1:]), dtype=v.dtype,
                                                     memory_format=fmt)
    if not samples or not neurons:
        return spikes, state, 0
    per_neuron = in_memory_order(params.v_threshold.expand(1, *v.shape[1:]), fmt).reshape(neurons).contiguous()
    offsets = (in_memory_order(shift.expand(1, *v.shape[1:]), fmt).reshape(neurons).contiguous() if shift is not None
               else per_neuron)  # unread without a shift: any float32 array of the right size
    counts = np.zeros(samples * -(-neurons // TILE), np.int64)
    kernel, numba = _kernel()
    numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
    kernel(in_memory_order(currents, fmt).view(1 if constant_in_time else steps, samples, neurons).numpy(),
            in_memory_order(v, fmt).view(samples, neurons).numpy(), per_neuron.numpy(), offsets.numpy(),
            in_memory_order(spikes, fmt).view(steps, samples, neurons).numpy(), counts, steps, constant_in_time,
            params.reset == RESET_SUBTRACT, shift is not None, into_input)
    return spikes, IFState(v=v), int(counts.sum())
