"""Pieces shared by the converters: a module that wraps a function, and ONNX -> torch argument forms."""

import math

import numpy as np
import torch


class Op(torch.nn.Module):
    """A stateless node: ``forward(*inputs) = fn(*inputs)``."""

    def __init__(self, op_type, fn):
        super().__init__()
        self.op_type = op_type
        self.fn = fn

    def forward(self, *inputs):
        return self.fn(*inputs)

    def extra_repr(self):
        return self.op_type


def to_ints(value):
    """A shape-like tensor or array as a list of Python ints."""
    if isinstance(value, torch.Tensor):
        return [int(v) for v in value.reshape(-1).tolist()]
    return [int(v) for v in np.asarray(value).reshape(-1)]


def torch_pad(onnx_pads):
    """ONNX pads [b1, b2, ..., e1, e2, ...] as F.pad's (b_last, e_last, ..., b1, e1)."""
    n = len(onnx_pads) // 2
    out = []
    for axis in reversed(range(n)):
        out += [onnx_pads[axis], onnx_pads[axis + n]]
    return out


def same_pads(in_sizes, kernel, strides, dilations, upper):
    """Explicit ONNX pads for auto_pad SAME_UPPER (upper=True) or SAME_LOWER."""
    begins, ends = [], []
    for size, k, s, d in zip(in_sizes, kernel, strides, dilations):
        out = math.ceil(size / s)
        total = max((out - 1) * s + (k - 1) * d + 1 - size, 0)
        small, big = total // 2, total - total // 2
        begins.append(small if upper else big)
        ends.append(big if upper else small)
    return begins + ends


def resolve_pads(node, x, kernel, strides, dilations):
    """Explicit pads for a conv/pool node on input x, honouring auto_pad."""
    spatial = len(kernel)
    auto_pad = node.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        return same_pads(x.shape[2:], kernel, strides, dilations, auto_pad == "SAME_UPPER")
    if auto_pad == "VALID":
        return [0] * (2 * spatial)
    return list(node.attr("pads", [0] * (2 * spatial)))


def symmetric(pads):
    n = len(pads) // 2
    return pads[:n] == pads[n:]
