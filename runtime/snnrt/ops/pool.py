"""MaxPool, AveragePool, GlobalAveragePool, GlobalMaxPool."""

import math

import torch
import torch.nn.functional as F

from ..registry import register
from .common import Op, resolve_pads, symmetric, torch_pad

_MAX = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}
_AVG = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}


def _geometry(node):
    kernel = list(node.attr("kernel_shape"))
    n = len(kernel)
    if n not in _MAX:
        raise NotImplementedError(f"{n}-D pooling")
    return kernel, list(node.attr("strides", [1] * n)), list(node.attr("dilations", [1] * n))


def _fast_path(pads, kernel):
    """Whether torch's own padding can do it: symmetric pads of at most half the kernel."""
    n = len(kernel)
    return symmetric(pads) and all(p <= k // 2 for p, k in zip(pads[:n], kernel))


def _ceil_pads(x, pads, kernel, strides, dilations, ceil_mode):
    """End padding (F.pad form), added after the node's pads, that makes a floor-mode pool give ceil_mode's windows.

    out = ceil((n + b + e - (k-1)d - 1) / s) + 1, less one if that last window would start in the end
    padding; this padding (with what never counts: -inf, or zero weight) covers the last window's overhang.
    """
    n = len(kernel)
    extension = [0] * n
    if ceil_mode:
        for axis, (size, k, s, d) in enumerate(zip(x.shape[2:], kernel, strides, dilations)):
            span, begin, end = (k - 1) * d + 1, pads[axis], pads[axis + n]
            out = -(-(size + begin + end - span) // s) + 1
            if (out - 1) * s >= size + begin:
                out -= 1
            extension[axis] = max((out - 1) * s + span - (size + begin + end), 0)
    return torch_pad([0] * n + extension)


def _tiles(x, kernel, strides, pads):
    """Whether the pooling windows tile x exactly, on the CPU, x contiguous: windows of more than one element,
    strides equal to the kernel, no padding, sizes divisible. Then :func:`_tile_reduce` computes the pool, faster
    on CPU than torch's pooling of a contiguous x (`benchmarks/speed.py` times the CNNs whose 2x2 pools take this
    path); torch's pooling of a channels-last x is faster still."""
    return (x.device.type == "cpu" and x.is_contiguous() and math.prod(kernel) > 1 and list(strides) == list(kernel)
            and not any(pads) and all(size % k == 0 for size, k in zip(x.shape[2:], kernel)))


def _tile_reduce(x, kernel, combine):
    """``combine`` (torch.add, torch.maximum) over each tile, as strided slices combined axis by axis."""
    for axis, k in enumerate(kernel, start=2):
        slices = [x[(slice(None),) * axis + (slice(i, None, k),)] for i in range(k)]
        x = slices[0]
        for part in slices[1:]:
            x = combine(x, part)
    return x


def max_pool_fn(node):
    """The MaxPool computation of a node as a function of x (shared with SpikeMaxPool)."""
    if len(node.outputs) > 1 and node.outputs[1]:
        raise NotImplementedError("MaxPool with an Indices output")
    kernel, strides, dilations = _geometry(node)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    pool = _MAX[len(kernel)]
    n = len(kernel)

    def run(x):
        pads = resolve_pads(node, x, kernel, strides, dilations)
        if all(d == 1 for d in dilations) and _tiles(x, kernel, strides, pads):
            return _tile_reduce(x, kernel, torch.maximum)
        if _fast_path(pads, kernel):
            return pool(x, kernel, strides, pads[:n], dilations, ceil_mode)
        extend = _ceil_pads(x, pads, kernel, strides, dilations, ceil_mode)
        x = F.pad(F.pad(x, torch_pad(pads), value=float("-inf")), extend, value=float("-inf"))
        return pool(x, kernel, strides, 0, dilations)

    return run


@register("MaxPool", 1)
def convert_max_pool(node):
    return Op("MaxPool", max_pool_fn(node))


@register("AveragePool", 1)
def convert_average_pool(node):
    """Average over each window; with count_include_pad=0 the divisor counts only real elements."""
    kernel, strides, dilations = _geometry(node)
    if any(d != 1 for d in dilations):
        raise NotImplementedError("AveragePool with dilations")
    n = len(kernel)
    ceil_mode = bool(node.attr("ceil_mode", 0))
    include_pad = bool(node.attr("count_include_pad", 0))
    pool = _AVG[n]

    def run(x):
        pads = resolve_pads(node, x, kernel, strides, dilations)
        if _tiles(x, kernel, strides, pads):
            return _tile_reduce(x, kernel, torch.add) / math.prod(kernel)
        if _fast_path(pads, kernel):
            return pool(x, kernel, strides, pads[:n], ceil_mode, include_pad)
        # sum / count of real (or, with count_include_pad, real and padded) elements; torch's own
        # divisor is the same for both pools and cancels; the ceil-mode extension never counts
        extend = _ceil_pads(x, pads, kernel, strides, dilations, ceil_mode)
        ones = torch.ones((1, 1) + tuple(x.shape[2:]), dtype=x.dtype, device=x.device)
        total = pool(F.pad(F.pad(x, torch_pad(pads)), extend), kernel, strides, 0)
        count = pool(F.pad(F.pad(ones, torch_pad(pads), value=float(include_pad)), extend), kernel, strides, 0)
        return total / count

    return Op("AveragePool", run)


@register("GlobalAveragePool", 1)
def convert_global_average_pool(node):
    return Op("GlobalAveragePool", lambda x: x.mean(dim=tuple(range(2, x.dim())), keepdim=True))


@register("GlobalMaxPool", 1)
def convert_global_max_pool(node):
    return Op("GlobalMaxPool", lambda x: x.amax(dim=tuple(range(2, x.dim())), keepdim=True))
