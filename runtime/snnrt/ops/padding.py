"""Pad (constant, reflect, edge, wrap) on any axes."""

import torch
import torch.nn.functional as F

from ..registry import register
from .common import Op, to_ints, torch_pad

_MODES = ("constant", "reflect", "edge", "wrap")


def _source_index(size, before, after, mode, device):
    """Input position read by each output position i in [-before, size + after) along one axis.

    edge: clamp(i, 0, n-1); wrap: i mod n; reflect: j = i mod 2(n-1), min(j, 2(n-1) - j).
    """
    i = torch.arange(-before, size + after, device=device)
    if mode == "edge":
        return i.clamp(0, size - 1)
    if mode == "wrap":
        return i % size
    period = max(2 * (size - 1), 1)
    i = i % period
    return torch.minimum(i, period - i)


def _pad(x, pads, mode, value, axes=None):
    """Pad x by ONNX pads [b1, ..., bk, e1, ..., ek] on axes (all axes when None)."""
    axes = [a % x.dim() for a in axes] if axes is not None else list(range(x.dim()))
    n = len(axes)
    if mode == "constant":
        full = [0] * (2 * x.dim())
        for i, axis in enumerate(axes):
            full[axis], full[axis + x.dim()] = pads[i], pads[i + n]
        return F.pad(x, torch_pad(full), value=value)
    for i, axis in enumerate(axes):
        before, after = pads[i], pads[i + n]
        if before < 0 or after < 0:  # negative pads crop first, as onnxruntime does
            crop_before, crop_after = max(-before, 0), max(-after, 0)
            x = x.narrow(axis, crop_before, x.shape[axis] - crop_before - crop_after)
            before, after = max(before, 0), max(after, 0)
        if before or after:
            x = x.index_select(axis, _source_index(x.shape[axis], before, after, mode, x.device))
    return x


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
