"""Pad (constant, reflect, edge, wrap)."""

import torch.nn.functional as F

from ..registry import register
from .common import Op, to_ints, torch_pad

_MODES = {"constant": "constant", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}


def _pad(x, pads, mode, value, axes=None):
    if axes is not None:
        full = [0] * (2 * x.dim())
        for i, axis in enumerate(axes):
            full[axis % x.dim()] = pads[i]
            full[axis % x.dim() + x.dim()] = pads[i + len(axes)]
        pads = full
    widths = torch_pad(pads)
    while len(widths) > 2 and widths[-1] == 0 and widths[-2] == 0:
        widths = widths[:-2]
    if mode == "constant":
        return F.pad(x, widths, value=value)
    return F.pad(x, widths, mode=_MODES[mode])


def _mode(node):
    mode = node.attr("mode", "constant")
    if mode not in _MODES:
        raise NotImplementedError(f"Pad mode {mode!r}")
    return mode


@register("Pad", 1)
def convert_pad_attrs(node):
    mode, value = _mode(node), node.attr("value", 0.0)
    pads = list(node.attr("pads", node.attr("paddings", [])))
    return Op("Pad", lambda x: _pad(x, pads, mode, value))


@register("Pad", 11)
def convert_pad(node):
    mode = _mode(node)

    def run(x, pads, value=None, axes=None):
        fill = 0.0 if value is None else value.item()
        return _pad(x, to_ints(pads), mode, fill, None if axes is None else to_ints(axes))

    return Op("Pad", run)
