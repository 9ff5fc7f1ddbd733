"""ReduceMean, ReduceSum, ReduceMax, ReduceMin (axes as attribute or, in newer opsets, as input)."""

import torch

from ..registry import register
from .common import Op, to_ints

_FNS = {"ReduceMean": torch.mean, "ReduceSum": torch.sum, "ReduceMax": torch.amax, "ReduceMin": torch.amin}
# opset from which each op takes its axes as an input
_AXES_INPUT_SINCE = {"ReduceMean": 18, "ReduceSum": 13, "ReduceMax": 18, "ReduceMin": 18}


def _reduce(fn, x, axes, keepdims, noop_with_empty_axes):
    if not axes:
        if noop_with_empty_axes:
            return x
        axes = list(range(x.dim()))
    return fn(x, dim=tuple(axes), keepdim=bool(keepdims))


def _converter(op_type, axes_as_input):
    fn = _FNS[op_type]

    def convert(node):
        keepdims = node.attr("keepdims", 1)
        noop = node.attr("noop_with_empty_axes", 0)
        if axes_as_input:
            return Op(op_type, lambda x, axes=None: _reduce(fn, x, None if axes is None else to_ints(axes),
                                                            keepdims, noop))
        axes = node.attr("axes")
        return Op(op_type, lambda x: _reduce(fn, x, axes, keepdims, noop))

    convert.__name__ = f"convert_{op_type.lower()}"
    return convert


for _op, _since in _AXES_INPUT_SINCE.items():
    register(_op, 1)(_converter(_op, False))
    register(_op, _since)(_converter(_op, True))
